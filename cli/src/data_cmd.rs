//! `gradlab data list [--root DIR]` and `gradlab data download NAME [--root DIR] [--quiet]
//! [--allow-http]`.
//!
//! The data folder is `--root` when given; otherwise the bundled datasets are in
//! `$GRADLAB_DATA`, else the workspace's `datasets/`, and downloads go to `<folder>/<name>/`
//! under `$GRADLAB_DATA`, else the user's data folder (`data::download_root`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum What {
    /// List the bundled and downloadable datasets, where they are and whether they are present.
    List {
        /// Data folder for both kinds (default: $GRADLAB_DATA; else the workspace's datasets/
        /// for bundled ones and ~/.local/share/gradlab for downloads).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Download a dataset from its usual mirrors into ROOT/NAME (checksums verified; files
    /// already present and valid are kept).
    Download {
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(data::DATASETS_REMOTE))]
        name: String,
        /// Data folder (default: $GRADLAB_DATA, else $XDG_DATA_HOME/gradlab, else
        /// ~/.local/share/gradlab).
        #[arg(long)]
        root: Option<PathBuf>,
        /// No progress bar and no per-file lines.
        #[arg(long, short)]
        quiet: bool,
        /// Also use mirrors over plain http (checksums are verified either way).
        #[arg(long)]
        allow_http: bool,
    },
}

/// One-line descriptions of the bundled datasets.
const BUNDLED_ABOUT: [(&str, &str); 3] = [
    (
        "mnist-10k",
        "10,000 MNIST digits, 8,000 + 2,000, 28x28 grey",
    ),
    ("mnist1d", "MNIST-1D, 4,000 + 1,000, 40 values"),
    ("digits", "UCI hand-written digits, 1,437 + 360, 8x8"),
];

pub fn run(what: What) -> Result<()> {
    match what {
        What::List { root } => {
            let (bundled, downloads) = match root {
                Some(r) => (r.clone(), r),
                None => (data::data_root(), data::download_root()?),
            };
            for line in list(&bundled, &downloads) {
                println!("{line}");
            }
            Ok(())
        }
        What::Download {
            name,
            root,
            quiet,
            allow_http,
        } => {
            let opts = data::download::Options {
                progress: !quiet,
                allow_http,
            };
            let dir = data::download::download_opts(&name, root.as_deref(), opts)?;
            println!(
                "{name}: ready in {}",
                data::root::normalised(&dir).display()
            );
            Ok(())
        }
    }
}

/// The lines of `gradlab data list` for the bundled datasets in `bundled` and the downloads in
/// `downloads`.
pub fn list(bundled: &Path, downloads: &Path) -> Vec<String> {
    let mut rows: Vec<[String; 4]> = vec![[
        "name".into(),
        "kind".into(),
        "status".into(),
        "content".into(),
    ]];
    for name in data::DATASETS {
        let about = BUNDLED_ABOUT
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, a)| a);
        let status = match data::download::location(name, bundled) {
            Some((_, true)) => "present".to_string(),
            _ => "missing (set GRADLAB_DATA or --root to the datasets folder)".to_string(),
        };
        rows.push([name.into(), "bundled".into(), status, about.into()]);
    }
    for spec in &data::download::REMOTE {
        let status = match data::download::location(spec.name, downloads) {
            Some((_, true)) => "present".to_string(),
            _ => format!("not downloaded (gradlab data download {})", spec.name),
        };
        rows.push([
            spec.name.into(),
            "download".into(),
            status,
            spec.about.into(),
        ]);
    }
    let width = |c: usize| rows.iter().map(|r| r[c].len()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut lines = vec![
        format!(
            "bundled datasets: {}",
            data::root::normalised(bundled).display()
        ),
        format!("downloads: {}", data::root::normalised(downloads).display()),
    ];
    lines.extend(
        rows.iter()
            .map(|r| format!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3])),
    );
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        what: What,
    }

    #[test]
    fn parses_names_and_rejects_unknown_ones() {
        let c =
            Cli::try_parse_from(["data", "download", "cifar10", "--root", "/tmp/x", "-q"]).unwrap();
        match c.what {
            What::Download {
                name,
                root,
                quiet,
                allow_http,
            } => {
                assert!(!allow_http);
                assert_eq!(name, "cifar10");
                assert_eq!(root, Some(PathBuf::from("/tmp/x")));
                assert!(quiet);
            }
            w => panic!("{w:?}"),
        }
        let e = Cli::try_parse_from(["data", "download", "cifar100"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("mnist") && e.contains("fashion-mnist") && e.contains("cifar10"),
            "{e}"
        );
    }

    #[test]
    fn list_shows_every_dataset_and_its_status() {
        let dir = tempfile::tempdir().unwrap();
        let lines = list(&data::data_root(), dir.path());
        assert_eq!(lines.len(), 2 + 1 + 3 + 3);
        let row = |name: &str| {
            lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{name} not in {lines:#?}"))
                .clone()
        };
        for name in data::DATASETS {
            let r = row(name);
            let words: Vec<&str> = r.split_whitespace().take(3).collect();
            assert_eq!(words, [name, "bundled", "present"], "{r}");
        }
        // An empty folder: nothing present, and the command to get each downloadable set.
        let lines = list(dir.path(), dir.path());
        let shown = data::root::normalised(dir.path()).display().to_string();
        assert!(lines[0].ends_with(&shown) && lines[1].ends_with(&shown));
        for name in data::DATASETS_REMOTE {
            let l = lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(name))
                .unwrap();
            assert!(
                l.contains(&format!("not downloaded (gradlab data download {name})")),
                "{l}"
            );
        }
        assert!(lines.iter().filter(|l| l.contains("missing")).count() == 3);
    }

    /// Regression: `gradlab data list` printed `…/data/../datasets`; paths given with `..` are
    /// shown normalised too.
    #[test]
    fn list_prints_normalised_paths() {
        let lines = list(&data::data_root(), Path::new("/tmp/../tmp/./gradlab-none"));
        assert!(!lines[0].contains(".."), "{}", lines[0]);
        assert!(lines[0].ends_with("datasets"), "{}", lines[0]);
        assert_eq!(lines[1], "downloads: /tmp/gradlab-none");
        let c = Cli::try_parse_from(["data", "download", "fashion-mnist", "--allow-http"]).unwrap();
        assert!(matches!(
            c.what,
            What::Download {
                allow_http: true,
                ..
            }
        ));
    }
}

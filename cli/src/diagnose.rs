//! `gradlab diagnose FILE.toml [--json OUT.json] [--preset economy|full] [--plots DIR]
//! [--verify [K]] [--set k=v ...] [--quiet]`: trains with the doctor's instruments on and prints
//! its report (with `--verify`, after training its top K remedies: `diagnose::verify`); and the
//! `--doctor` part of `gradlab train`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args as ClapArgs;
use diagnose::{Doctor, Preset, Report, Subject};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Run config (the same TOML as `gradlab train`).
    pub config: PathBuf,
    /// Write the report (findings and every reading) as JSON.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// How much to measure: `economy` (cheap, sparse) or `full` (everything, often).
    #[arg(long, default_value = "economy", value_parser = parse_preset)]
    pub preset: Preset,
    /// Folder for the SVG plots (default: next to the JSON; none without --json).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Then train the top K remedies (default 3), each alone with the same seed and budget, in
    /// parallel, and report whether each removes its finding and what the tuning metric did.
    /// Their run folders are LOG_DIR/verify/1, 2, …
    #[arg(long, value_name = "K", num_args = 0..=1, default_missing_value = "3")]
    pub verify: Option<usize>,
    #[command(flatten)]
    pub flags: crate::run_flags::RunFlags,
    /// No progress bar and no per-epoch lines while training.
    #[arg(long, short)]
    pub quiet: bool,
}
/// A training error, said once: with `training FILE: ` in front unless it already names the
/// config (a config error names the file, the field and the value).
pub fn training_error(e: train::TrainError, config: &Path) -> anyhow::Error {
    let name = config.display().to_string();
    if e.to_string().starts_with(&name) {
        anyhow::Error::new(e)
    } else {
        anyhow::Error::new(e).context(format!("training {name}"))
    }
}

pub fn parse_preset(s: &str) -> std::result::Result<Preset, String> {
    s.parse()
}

/// Trains `cfg` (read from `subject`) with a doctor of `preset` and returns its report.
pub fn observe(
    subject: &Subject,
    cfg: &train::RunConfig,
    opts: &train::Options,
    preset: Preset,
) -> Result<Report> {
    diagnose::run::diagnose(subject, cfg, opts, preset).map_err(|e| match e {
        diagnose::DiagnoseError::Train(e) => training_error(e, &subject.path),
        e => e.into(),
    })
}

/// Writes the report's JSON to `json` (when given) and its plots into `plots` (when given);
/// returns the files written.
pub fn write(report: &Report, json: Option<&Path>, plots: Option<&Path>) -> Result<Vec<PathBuf>> {
    let mut wrote = Vec::new();
    if let Some(p) = json {
        report.write_json(p)?;
        wrote.push(p.to_path_buf());
    }
    if let Some(dir) = plots {
        wrote.extend(diagnose::plots::write_all(report, dir)?);
    }
    Ok(wrote)
}

/// `wrote a, b, c` (nothing when nothing was written).
fn wrote_line(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!("wrote {}", names.join(", "))
}

pub fn run(args: Args) -> Result<()> {
    if args.verify == Some(0) {
        anyhow::bail!("--verify 0: expected at least 1 remedy to try");
    }
    let sets = args.flags.overrides(&args.config)?;
    let subject = Subject::new(&args.config, sets);
    let cfg = subject.config(&[])?;
    let opts = train::Options {
        resume: false,
        quiet: args.quiet,
        stop_after_steps: None,
    };
    // The files are written after the training: a path that cannot take them fails now.
    if let Some(j) = &args.json {
        crate::outputs::check_writable(j, "--json")?;
    }
    if let Some(d) = &args.plots {
        crate::outputs::check_writable(&d.join("plot.svg"), "--plots")?;
    }
    let mut report = observe(&subject, &cfg, &opts, args.preset)?;
    let interrupted = matches!(report.summary.stop, train::Stop::Interrupted { .. });
    if let (Some(_), true) = (args.verify, interrupted) {
        eprintln!("not verifying the remedies: the run was interrupted");
    } else if let Some(k) = args.verify {
        if !args.quiet {
            eprintln!("verifying up to {k} remedies (training each alone, in parallel)…");
        }
        report.verification = Some(diagnose::verify::verify(
            &subject,
            &cfg,
            &report,
            args.preset,
            k,
        ));
    }
    print!("{}", report.to_text());
    let plots = args.plots.clone().or_else(|| {
        args.json
            .as_ref()
            .map(|j| j.parent().unwrap_or(Path::new("")).to_path_buf())
    });
    let line = wrote_line(&write(&report, args.json.as_deref(), plots.as_deref())?);
    if !line.is_empty() {
        println!("{line}");
    }
    Ok(())
}

/// `gradlab train --doctor`: the report of the run when a doctor watched it.
pub fn train_report(
    doctor: Option<Doctor>,
    summary: &train::Summary,
    preset: Option<Preset>,
    subject: &Subject,
) -> Option<Report> {
    Some(diagnose::run::report(
        doctor?,
        summary.clone(),
        preset?,
        &subject.path,
        Some(subject),
    ))
}

/// `gradlab train --doctor`: prints the report and writes `doctor.json` and the plots into the
/// run folder (entered in its manifest, so a fresh run there removes them).
pub fn after_train(report: Option<Report>, run_dir: &Path) -> Result<()> {
    if let Some(r) = report {
        print!("{}", r.to_text());
        train::run_folder::record(run_dir, &["doctor.json"])?;
        let paths = write(&r, Some(&run_dir.join("doctor.json")), Some(run_dir))?;
        // Which plots there are depends on the readings: they are entered once written.
        let names: Vec<String> = paths
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        train::run_folder::record(run_dir, &names)?;
        let line = wrote_line(&paths);
        println!("{line}");
    }
    Ok(())
}

/// What to try for a diverged run: the doctor's remedies for `diverged`, most fitting first,
/// each with the `--set` flags that apply it to this config.
pub fn diverged_remedies(cfg: &train::RunConfig) -> String {
    let lr = cfg
        .optimizer
        .get("lr")
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
    let mut out =
        String::from("What to try (the doctor's remedies for a diverged run, most fitting first):");
    for (k, r) in diagnose::remedies::for_run(diagnose::Kind::Diverged, lr)
        .iter()
        .enumerate()
    {
        out += &format!("\n  {}. {}: {}", k + 1, r.action, r.why);
        if let Some(c) = &r.config {
            out += &format!("\n     {}", diagnose::remedies::set_flags(c));
        }
    }
    out
}

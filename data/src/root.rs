//! Where datasets are found by name.
//!
//! - The bundled datasets ([`DATASETS`], read by [`crate::bundled`]) are in [`data_root`]:
//!   `$GRADLAB_DATA` when set, otherwise the `datasets/` folder of the workspace.
//! - Downloaded ones ([`crate::download()`]) go to `<root>/<name>/` under [`download_root`]:
//!   `$GRADLAB_DATA` when set, otherwise the user's data folder — `$XDG_DATA_HOME/gradlab`,
//!   else `~/.local/share/gradlab` (Windows: `%LOCALAPPDATA%\gradlab`) — never the source tree.
//!
//! So `GRADLAB_DATA` names one folder for everything; without it the bundled files stay where
//! the workspace has them and downloads go to the user's folder. An explicit root (a `--root`
//! flag, the `root` argument of [`crate::load`]) is used for both.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::error::{DataError, Result};

/// Names of the datasets bundled in the data folder (accepted by [`crate::load`]).
pub const DATASETS: [&str; 3] = ["mnist-10k", "mnist1d", "digits"];

/// The folder of the bundled datasets: `$GRADLAB_DATA`, else `<workspace>/datasets`.
pub fn data_root() -> PathBuf {
    root_from(std::env::var_os("GRADLAB_DATA"))
}

fn root_from(var: Option<OsString>) -> PathBuf {
    match var {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        // The manifest folder is absolute: its parent is the workspace (no `data/..` in paths
        // shown to people).
        _ => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("datasets")
        }
    }
}

/// The folder downloads go to: `$GRADLAB_DATA`, else `$XDG_DATA_HOME/gradlab`, else
/// `~/.local/share/gradlab` (Windows: `%LOCALAPPDATA%\gradlab`); an error when none of these
/// variables is set.
pub fn download_root() -> Result<PathBuf> {
    download_root_from(|k| std::env::var_os(k), cfg!(windows))
}

/// [`download_root`] from the environment `var` gives (a pure function, for tests).
fn download_root_from(var: impl Fn(&str) -> Option<OsString>, windows: bool) -> Result<PathBuf> {
    // Empty variables count as unset; XDG requires an absolute XDG_DATA_HOME.
    let set = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set("GRADLAB_DATA") {
        return Ok(p);
    }
    if windows {
        return set("LOCALAPPDATA")
            .map(|p| p.join("gradlab"))
            .ok_or_else(|| DataError::NoDataFolder {
                why: "LOCALAPPDATA is not set".into(),
            });
    }
    if let Some(p) = set("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(p.join("gradlab"));
    }
    set("HOME")
        .map(|h| h.join(".local").join("share").join("gradlab"))
        .ok_or_else(|| DataError::NoDataFolder {
            why: "neither XDG_DATA_HOME nor HOME is set".into(),
        })
}

/// `path` as people should see it: absolute, with symbolic links resolved when it exists, and
/// without `.` or `..` components either way.
pub fn normalised(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_override() {
        assert_eq!(root_from(Some("/data/x".into())), PathBuf::from("/data/x"));
        let default = root_from(None);
        assert_eq!(root_from(Some("".into())), default);
        assert!(default.join("README.md").is_file(), "{}", default.display());
    }

    /// Regression: `gradlab data list` printed `…/data/../datasets`.
    #[test]
    fn data_root_has_no_parent_components() {
        let default = root_from(None);
        assert!(
            default.components().all(|c| c != Component::ParentDir),
            "{}",
            default.display()
        );
        assert_eq!(
            normalised(&default),
            std::fs::canonicalize(&default).unwrap()
        );
        let missing = default.join("no-such").join("..").join("x").join(".");
        assert_eq!(normalised(&missing), normalised(&default).join("x"));
    }

    /// Regression: downloads defaulted into the source tree.
    #[test]
    fn default_data_folder_is_gradlab_data_then_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = env(&[
            ("GRADLAB_DATA", "/big/disk"),
            ("XDG_DATA_HOME", "/home/u/.xdg"),
            ("HOME", "/home/u"),
            ("LOCALAPPDATA", r"C:\Users\u\AppData\Local"),
        ]);
        assert_eq!(
            download_root_from(all, false).unwrap(),
            Path::new("/big/disk")
        );
        assert_eq!(
            download_root_from(all, true).unwrap(),
            Path::new("/big/disk")
        );
        let xdg = env(&[
            ("GRADLAB_DATA", ""),
            ("XDG_DATA_HOME", "/home/u/.xdg"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            download_root_from(xdg, false).unwrap(),
            Path::new("/home/u/.xdg/gradlab")
        );
        // A relative XDG_DATA_HOME is ignored, as the XDG specification says.
        let home = env(&[("XDG_DATA_HOME", "rel"), ("HOME", "/home/u")]);
        assert_eq!(
            download_root_from(home, false).unwrap(),
            Path::new("/home/u/.local/share/gradlab")
        );
        let win = env(&[
            ("LOCALAPPDATA", r"C:\Users\u\AppData\Local"),
            ("HOME", "/x"),
        ]);
        assert_eq!(
            download_root_from(win, true).unwrap(),
            Path::new(r"C:\Users\u\AppData\Local").join("gradlab")
        );
        let e = download_root_from(env(&[]), false).unwrap_err();
        assert!(e.to_string().contains("set GRADLAB_DATA"), "{e}");
    }
}

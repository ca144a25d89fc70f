//! The data folder, where datasets are found by name: `$GRADLAB_DATA` when set, otherwise the
//! `datasets/` folder beside this crate in the workspace. It holds the bundled datasets
//! ([`DATASETS`], read by [`crate::bundled`]); a downloaded one goes to `<root>/<name>/`
//! ([`crate::download`]).

use std::path::{Path, PathBuf};

/// Names of the datasets bundled in the data folder (accepted by [`crate::load`]).
pub const DATASETS: [&str; 3] = ["mnist-10k", "mnist1d", "digits"];

/// The datasets folder: `$GRADLAB_DATA`, else `<workspace>/datasets`.
pub fn data_root() -> PathBuf {
    root_from(std::env::var_os("GRADLAB_DATA"))
}

fn root_from(var: Option<std::ffi::OsString>) -> PathBuf {
    match var {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("datasets"),
    }
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
}

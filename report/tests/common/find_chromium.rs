//! Where Chromium is: the one rule, used by the browser tests and by the build script that
//! marks them ignored when there is none.

use std::path::PathBuf;

/// `$GRADLAB_CHROMIUM`, then `chromium`, `chromium-browser`, `google-chrome` on PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GRADLAB_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

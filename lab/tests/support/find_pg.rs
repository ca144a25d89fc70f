//! Where the PostgreSQL binaries are: the one rule, used by the tests' private server and by
//! the build script that marks the PostgreSQL tests ignored when there are none.

use std::path::PathBuf;

/// `GRADLAB_PG_BIN` (a folder with initdb and pg_ctl), else PATH, else the newest
/// /usr/lib/postgresql/*/bin.
pub fn find_pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GRADLAB_PG_BIN") {
        let dir = PathBuf::from(dir);
        return (dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()).then_some(dir);
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        dirs.sort_by_key(|d| {
            d.parent()
                .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        dirs.pop()
    })
}

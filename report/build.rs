//! Marks the browser tests ignored (cfg `no_chromium`) when this machine has no Chromium, so
//! `cargo test` lists them as ignored with the reason and how to run them, rather than passing
//! them silently. `GRADLAB_REQUIRE_CHROMIUM=1` (CI) never ignores them: they fail without it.

#[path = "tests/common/find_chromium.rs"]
mod find_chromium;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_chromium)");
    for var in ["GRADLAB_CHROMIUM", "GRADLAB_REQUIRE_CHROMIUM", "PATH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    // Installing Chromium adds it here (or elsewhere on PATH, which is watched above).
    if std::path::Path::new("/usr/bin").exists() {
        println!("cargo::rerun-if-changed=/usr/bin");
    }
    let required = std::env::var("GRADLAB_REQUIRE_CHROMIUM").as_deref() == Ok("1");
    if find_chromium::chromium().is_none() && !required {
        println!("cargo::rustc-cfg=no_chromium");
    }
}

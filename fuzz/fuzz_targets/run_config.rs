//! Run configs: TOML text, then `--set` overrides, then the whole config checked. An input's
//! lines after a line `%%` are the overrides, one per line.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml_text, sets) = text.split_once("\n%%\n").unwrap_or((text, ""));
    let Ok(mut table) = toml_text.parse::<toml::Table>() else {
        return;
    };
    let overrides: Vec<String> = sets.lines().map(str::to_string).collect();
    if train::apply_overrides(&mut table, &overrides).is_err() {
        return;
    }
    let base = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/train"));
    let r = train::RunConfig::from_table("fuzz.toml", table, base, "fuzz");
    gradlab_fuzz::show("run config", &r);
});

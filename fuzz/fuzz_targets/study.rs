//! Study files: TOML text read as a study, its problems' run configs (referenced ones resolve
//! against `lab/studies`, as the default study's do) checked and its first runs laid out.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let base = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../lab/studies"));
    let r = lab::Study::from_text(text, "fuzz.toml", base);
    gradlab_fuzz::show("study", &r);
    if let Ok(study) = r {
        gradlab_fuzz::show("initial runs", &study.initial_runs());
    }
});

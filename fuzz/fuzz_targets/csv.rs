//! CSV text, read both ways a run may: a class label column, and regression target columns.
//! The first byte picks the columns.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let label = (pick & 0x0f) as usize;
    let _ = data::csv::parse_classes(text, "fuzz.csv", label);
    let targets: Vec<usize> = (0..8).filter(|b| pick & (1 << b) != 0).collect();
    let _ = data::csv::parse_values(text, "fuzz.csv", &targets);
});

//! `.npy` bytes: the header, dtype, shape and data; an accepted array converts to f32 and labels.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = data::npy::parse(data, "fuzz.npy") {
        assert_eq!(a.to_f32().len(), a.len());
        let _ = a.to_labels("fuzz.npy", 10);
    }
});

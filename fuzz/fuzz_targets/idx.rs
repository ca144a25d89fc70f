//! IDX bytes (the MNIST format): magic, element type, dimensions and elements.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = data::idx::parse(data, "fuzz.idx") {
        assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
    }
});

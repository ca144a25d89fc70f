//! IDX files as a run reads them from disk: gunzipped when they start with the gzip magic or
//! their name ends in `.gz`, then parsed; an image file and a label file made of the same input
//! make a dataset. Each input goes through a scratch file, named `….gz` for inputs of even length
//! (a plain file named so is refused), and through the in-memory reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = if data.len().is_multiple_of(2) {
        "in.gz"
    } else {
        "in"
    };
    let scratch = gradlab_fuzz::Scratch::new(name, data);
    let path = scratch.path();
    let _ = data::idx::read_bytes(data, "fuzz");
    if let Ok(a) = data::idx::read(path) {
        assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
        let _ = data::idx::read_idx_pair(path, path, "fuzz", 10);
    }
});

//! `.npz` archives (a zip of `.npy` members), read as every loader of a run reads them: the
//! arrays by name, then a split from `x`, `y`, `x_test`, `y_test`. The split is read from a path,
//! so each input goes through a scratch file (and through the in-memory reader too).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scratch = gradlab_fuzz::Scratch::new("in.npz", data);
    let path = scratch.path();
    let from_bytes = data::npz::read_from(std::io::Cursor::new(data), "fuzz.npz");
    let r = data::npz::read(path);
    assert_eq!(from_bytes.is_ok(), r.is_ok(), "the two readers disagree");
    gradlab_fuzz::show("npz", &r);
    if r.is_ok() {
        gradlab_fuzz::show("split", &data::npz::npz_split(path, "fuzz", None));
        let _ = data::npz::npz_split(path, "fuzz", Some(&[1, 4, 10]));
    }
});

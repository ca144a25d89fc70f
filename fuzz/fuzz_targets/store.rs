//! The results store's reader: a SQLite file made of the input, opened with the lab's store and
//! read back (every study, its runs and counts), as `gradlab compare` and the report do.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = gradlab_fuzz::scratch_with("results.db", data);
    let Ok(store) = lab::open_store(&format!("sqlite:{}", path.display())) else {
        return;
    };
    let Ok(studies) = store.studies() else {
        return;
    };
    for (name, _definition) in studies {
        let _ = store.runs(&name);
        let _ = store.counts(&name);
    }
});

//! The results store's reader: a SQLite file made of the input, opened with the lab's store and
//! read back (every study, its runs and counts), as `gradlab compare` and the report do.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let scratch = gradlab_fuzz::Scratch::new("results.db", data);
    let path = scratch.path();
    let store = lab::open_store(&format!("sqlite:{}", path.display()));
    gradlab_fuzz::show("open", &store);
    let Ok(store) = store else {
        return;
    };
    let studies = store.studies();
    gradlab_fuzz::show("studies", &studies);
    for (name, _definition) in studies.unwrap_or_default() {
        gradlab_fuzz::show("runs", &store.runs(&name));
        gradlab_fuzz::show("counts", &store.counts(&name));
    }
});

//! Checkpoint metadata: `checkpoint.json` (the pointer to the latest checkpoint) and
//! `trainer.json` (the loop's state); a parsed state's generator words go into the tiny run's
//! model (which has a dropout layer), as a resumed run does.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let r = train::checkpoint::parse_pointer(text, Path::new("checkpoint.json"));
    gradlab_fuzz::show("pointer", &r);
    let r = train::checkpoint::parse_state(text, Path::new("trainer.json"));
    gradlab_fuzz::show("trainer state", &r);
    if let Ok(state) = r {
        thread_local! {
            static MODEL: std::cell::RefCell<nn::Sequential> =
                std::cell::RefCell::new(gradlab_fuzz::tiny_model());
        }
        MODEL.with(|m| {
            let _ = m.borrow_mut().set_rng_state(&state.rng_state);
        });
    }
});

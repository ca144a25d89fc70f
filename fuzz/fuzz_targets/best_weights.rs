//! Early stopping's best weights (`best.safetensors`): accepted ones must restore into the tiny
//! run's model.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static MODEL: std::cell::RefCell<nn::Sequential> =
            std::cell::RefCell::new(gradlab_fuzz::tiny_model());
    }
    MODEL.with(|m| {
        let mut m = m.borrow_mut();
        let r = train::checkpoint::parse_best(data, &m, Path::new("best.safetensors"));
        gradlab_fuzz::show("best weights", &r);
        if let Ok(best) = r {
            m.restore(&best).expect("accepted best weights restore");
        }
    });
});

//! Safetensors weights (`model.safetensors`, `model.init`) loaded into the tiny run's model
//! (linear, batch norm with its buffers, dropout); a failed load leaves the model unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static MODEL: std::cell::RefCell<nn::Sequential> =
            std::cell::RefCell::new(gradlab_fuzz::tiny_model());
    }
    MODEL.with(|m| {
        let mut m = m.borrow_mut();
        let before = m.snapshot();
        if m.load_bytes(data, "fuzz.safetensors").is_err() {
            assert!(m.snapshot() == before, "a failed load changed the model");
        }
    });
});

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
        // Bits, not values: an earlier input may have loaded NaNs.
        let bits = |m: &nn::Sequential| -> Vec<Vec<u32>> {
            let snap = m.snapshot();
            snap.iter()
                .map(|t| t.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        let before = bits(&m);
        let r = m.load_bytes(data, "fuzz.safetensors");
        gradlab_fuzz::show("weights", &r);
        if r.is_err() {
            assert!(bits(&m) == before, "a failed load changed the model");
        }
    });
});

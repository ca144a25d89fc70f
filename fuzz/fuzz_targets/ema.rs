//! EMA state (`ema.safetensors`) restored, then checked against the tiny run's model by the
//! next update and copy, as a resumed run does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static MODEL: std::cell::RefCell<nn::Sequential> =
            std::cell::RefCell::new(gradlab_fuzz::tiny_model());
    }
    let mut ema = optim::Ema::<f32>::new(0.9).unwrap().with_warmup(true);
    let r = ema.from_bytes(data);
    gradlab_fuzz::show("ema", &r);
    if r.is_ok() {
        MODEL.with(|m| {
            let mut m = m.borrow_mut();
            let _ = ema.update(&*m);
            let _ = ema.copy_into(&mut *m);
        });
    }
});

//! Optimizer checkpoints (`optimizer.safetensors`) loaded into the tiny run's optimizer and
//! schedule, of the kinds the file names (so every optimizer's and schedule's state is read);
//! a loaded state then takes a step and the schedule advances.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Which optimizer and schedule to build: the ones the file says it was saved from.
    let (mut optimizer, mut schedule) = ("adamw".to_string(), None);
    if let Ok((_, header)) = safetensors::SafeTensors::read_metadata(data) {
        if let Some(meta) = header.metadata() {
            if let Some(name) = meta.get("optimizer") {
                optimizer = name.clone();
            }
            schedule = meta
                .get("schedule")
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|v| v.get("name")?.as_str().map(str::to_string));
        }
    }
    if !optim::optimizers::NAMES.contains(&optimizer.as_str()) {
        optimizer = "adamw".into();
    }
    let Some((mut model, mut opt, mut sched)) =
        gradlab_fuzz::tiny_optimizer(&optimizer, schedule.as_deref())
            .or_else(|| gradlab_fuzz::tiny_optimizer(&optimizer, None))
    else {
        return;
    };
    let loaded = optim::checkpoint::from_bytes(
        &mut opt,
        sched.as_mut().map(|s| &mut **s as &mut dyn optim::LrSchedule),
        data,
    );
    if loaded.is_ok() {
        if let Some(s) = &mut sched {
            optim::schedule::apply(&**s, &mut opt);
            let _ = s.step(Some(0.5));
        }
        let _ = opt.step(&mut model);
    }
});

//! Optimizer checkpoints (`optimizer.safetensors`) loaded into the tiny run's optimizer and
//! schedule, of the kinds the file names (so every optimizer's and schedule's state is read);
//! a loaded state then takes a step and the schedule advances.
#![no_main]
use std::cell::RefCell;
use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;

/// The tiny run by optimizer and schedule name (`None` where that pair does not build).
type Runs = HashMap<(String, Option<String>), Option<gradlab_fuzz::Run>>;

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
    schedule.take_if(|s| !gradlab_fuzz::SCHEDULES.iter().any(|(n, _)| n == s));
    // Building a run takes far longer than reading a file: one per pair, reused, since a load
    // restores all of the optimizer's and schedule's state.
    thread_local! {
        static RUNS: RefCell<Runs> =
            RefCell::new(HashMap::new());
    }
    RUNS.with(|runs| {
        let mut runs = runs.borrow_mut();
        let run = runs
            .entry((optimizer.clone(), schedule.clone()))
            .or_insert_with(|| gradlab_fuzz::tiny_optimizer(&optimizer, schedule.as_deref()));
        if let Some((model, opt, sched)) = run {
            load_and_step(data, model, opt, sched);
        }
    });
});

fn load_and_step(
    data: &[u8],
    model: &mut nn::Sequential,
    opt: &mut optim::Optimizer<f32>,
    sched: &mut Option<Box<dyn optim::LrSchedule>>,
) {
    let loaded = optim::checkpoint::from_bytes(
        opt,
        sched
            .as_mut()
            .map(|s| &mut **s as &mut dyn optim::LrSchedule),
        data,
    );
    gradlab_fuzz::show("optimizer state", &loaded);
    if loaded.is_ok() {
        if let Some(s) = sched {
            optim::schedule::apply(&**s, opt);
            let _ = s.step(Some(0.5));
        }
        let _ = opt.step(model);
    }
}

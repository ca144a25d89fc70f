//! The doctor observes a real run.

use std::path::Path;

use diagnose::{Doctor, Preset};

#[test]
fn doctor_records_every_step_and_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t: toml::Table = r#"
seed = 0
[data]
dataset = "moons"
n = 200
batch_size = 50
[[model.layers]]
type = "linear"
out_features = 8
[[model.layers]]
type = "relu"
[[model.layers]]
type = "linear"
out_features = 2
[optimizer]
name = "sgd"
lr = 0.1
[train]
epochs = 3
[log]
tensorboard = false
"#
    .parse()
    .unwrap();
    train::apply_overrides(&mut t, &[format!("log.dir=\"{}\"", tmp.path().display())]).unwrap();
    let cfg = train::RunConfig::from_table("t.toml", t, Path::new("."), "t").unwrap();
    let mut doc = Doctor::new(Preset::Economy);
    let s = train::run_observed(
        &cfg,
        &train::Options {
            quiet: true,
            ..Default::default()
        },
        &mut doc,
    )
    .unwrap();
    let loss = doc.timeline.get("loss");
    assert_eq!(loss.len(), 12);
    assert_eq!(
        loss.iter().map(|p| p.1 as f32).collect::<Vec<_>>(),
        s.losses
    );
    assert_eq!(doc.timeline.epochs.len(), 3);
    assert!(doc.timeline.get("grad_norm").iter().all(|p| p.1 > 0.0));
}

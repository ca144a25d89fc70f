//! Wording follows the numbers: evidence states the direction of what it measured, and every
//! finding says what its confidence rests on.

use super::*;
use train::Stop;

/// The step losses of `examples/problems/lr_too_high.toml` after its first remedy
/// (`--set optimizer.lr=2`, economy preset, seed 0; two decimals): the loss falls to ~0.3 and
/// climbs back over the last quarter (its mean +68%). The doctor called this `underfitting`
/// with "the training loss has flattened".
const LR2: [f64; 92] = [
    2.31, 2.14, 1.99, 1.60, 1.40, 1.92, 2.24, 1.60, 1.80, 2.67, 2.59, 2.06, 2.37, 1.93, 1.16, 1.66,
    1.17, 2.67, 5.00, 3.16, 2.89, 2.43, 2.08, 1.84, 1.75, 1.69, 1.55, 1.60, 1.12, 1.08, 1.29, 1.81,
    1.82, 2.13, 1.80, 1.58, 1.19, 1.19, 0.95, 1.06, 0.87, 0.75, 0.74, 0.53, 0.61, 0.21, 0.29, 0.40,
    0.32, 0.59, 0.57, 0.19, 0.27, 0.41, 0.13, 0.27, 0.35, 0.41, 0.18, 0.46, 0.13, 0.23, 0.22, 0.20,
    0.31, 0.35, 0.21, 0.09, 0.53, 0.33, 0.26, 0.12, 0.10, 0.36, 1.32, 0.57, 0.50, 0.48, 0.42, 0.53,
    0.66, 0.28, 0.33, 0.13, 0.23, 0.27, 0.27, 0.80, 1.99, 0.71, 0.64, 0.64,
];

fn timeline(loss: &[f64], train_accuracy: f64) -> (Timeline, Summary) {
    let mut t = Timeline::default();
    for (i, l) in loss.iter().enumerate() {
        let s = i as u64 + 1;
        t.push("loss", None, s, *l);
        t.push("lr", None, s, 2.0);
        t.push("grad_norm", None, s, 1.0);
    }
    let n = loss.len() as u64;
    t.epochs.push(train::EpochRecord {
        epoch: 1,
        step: n,
        train_loss: Some(loss[loss.len() - 23..].iter().sum::<f64>() / 23.0),
        train_accuracy: Some(train_accuracy),
        val_loss: None,
        val_accuracy: None,
        test_loss: None,
        test_accuracy: None,
        lr: 2.0,
        time_s: 0.0,
        examples_per_s: 0.0,
    });
    let s = Summary {
        stop: Stop::Completed,
        steps: n,
        epochs: 1,
        last: t.epochs.last().cloned(),
        best: None,
        losses: Vec::new(),
        wall_s: 0.0,
        run_dir: ".".into(),
        checkpoint: None,
    };
    (t, s)
}

/// Regression: a loss that rose 68% over the last quarter was reported as `underfitting`
/// because "the training loss has flattened".
#[test]
fn a_rising_loss_is_never_flattened_underfitting() {
    let (t, s) = timeline(&LR2, 0.8685);
    let f = detect(&t, &s);
    let kinds: Vec<Kind> = f.iter().map(|f| f.kind).collect();
    assert!(!kinds.contains(&Kind::Underfitting), "{kinds:?}");
    let high = f
        .iter()
        .find(|f| f.kind == Kind::LrTooHigh)
        .expect("lr_too_high");
    let e = high
        .evidence
        .iter()
        .find(|e| e.value < 0.0 || e.value > 1.0)
        .expect("evidence of the climb");
    assert!(
        e.note.contains("rose") || e.note.contains("climbs"),
        "{}",
        e.note
    );
    for f in &f {
        for e in &f.evidence {
            assert!(!e.note.contains("flattened"), "{}: {}", f.kind, e.note);
        }
    }
}

#[test]
fn evidence_of_the_late_loss_states_its_direction() {
    // Falls, then stays flat at a high level (a model too small): flat, stated as such.
    let n = 200;
    let loss: Vec<f64> = (1..=n)
        .map(|s| 1.2 + 1.1 * (-(s as f64) / 15.0).exp() * if s % 2 == 0 { 1.02 } else { 0.98 })
        .collect();
    let (t, s) = timeline(&loss, 0.4);
    let f = detect(&t, &s);
    let under = f
        .iter()
        .find(|f| f.kind == Kind::Underfitting)
        .expect("underfitting");
    let late = &under.evidence[0];
    assert!(late.value.abs() < FLAT_LATE);
    assert!(
        late.note.contains("changed by less than") || late.note.contains("fell"),
        "{}",
        late.note
    );
    // A late rise of 30% is not flat: no underfitting, whatever the level.
    let rising: Vec<f64> = loss
        .iter()
        .enumerate()
        .map(|(i, l)| if i >= 150 { l * 1.3 } else { *l })
        .collect();
    let (t, s) = timeline(&rising, 0.4);
    let f = detect(&t, &s);
    assert!(
        f.iter().all(|f| f.kind != Kind::Underfitting),
        "{:?}",
        f.iter().map(|f| f.kind).collect::<Vec<_>>()
    );
}

#[test]
fn every_finding_says_what_its_confidence_rests_on() {
    let (t, s) = timeline(&LR2, 0.8685);
    let n = 200;
    let flat: Vec<f64> = (1..=n)
        .map(|s| 1.2 + 1.1 * (-(s as f64) / 15.0).exp())
        .collect();
    let (t2, s2) = timeline(&flat, 0.4);
    for f in detect(&t, &s).into_iter().chain(detect(&t2, &s2)) {
        assert!(!f.basis.is_empty(), "{} has no basis", f.kind);
        assert!(
            f.basis.contains(&format!("{:.2}", f.confidence))
                || f.basis.contains(&format!("{:.1}", f.confidence)),
            "{}: {} does not state {}",
            f.kind,
            f.basis,
            f.confidence
        );
    }
}

//! Every remedy does what it says on the user's run: for each config of `examples/problems/`, the
//! doctor (as `gradlab diagnose` runs it: `diagnose::run::diagnose`, economy preset) names a
//! problem; the first remedy of that finding, its config change applied alone on top of the
//! config, trains with the same seed and budget; and the doctor no longer names the problem.

use std::path::Path;

use diagnose::run::{diagnose, overrides};
use diagnose::{Kind, Preset, Report, Subject};

/// Diagnoses `file` (relative to the workspace root) with `sets` on top, in a temporary folder.
fn doctor(file: &str, sets: &[String], dir: &Path) -> Report {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut o = sets.to_vec();
    o.push(format!(
        "log.dir={}",
        toml::Value::String(dir.display().to_string())
    ));
    o.push("log.tensorboard=false".into());
    let subject = Subject::new(root.join(file), o);
    let cfg = subject.config(&[]).unwrap();
    let opts = train::Options {
        quiet: true,
        ..Default::default()
    };
    diagnose(&subject, &cfg, &opts, Preset::Economy).unwrap()
}

fn kinds(r: &Report) -> Vec<Kind> {
    r.problems().map(|f| f.kind).collect()
}

/// Runs the problem `name`, applies its first finding's first remedy alone and checks that the
/// finding is gone; returns the kinds before and after for the caller's own checks.
fn first_remedy_removes_the_finding(name: &str) -> (Vec<Kind>, Vec<Kind>) {
    let tmp = tempfile::tempdir().unwrap();
    let file = format!("examples/problems/{name}.toml");
    let before = doctor(&file, &[], &tmp.path().join("before"));
    let finding = before
        .problems()
        .next()
        .unwrap_or_else(|| panic!("{file}: the doctor names no problem\n{}", before.to_text()));
    let remedy = &finding.remedies[0];
    let change = remedy.config.clone().unwrap_or_else(|| {
        panic!(
            "{file}: the first remedy of `{}` ({}) has no config change",
            finding.kind, remedy.action
        )
    });
    let after = doctor(&file, &overrides(&change), &tmp.path().join("after"));
    println!(
        "{name}: {:?} -> [{}] {} -> {:?} (test_accuracy {:?} -> {:?})",
        kinds(&before),
        finding.kind,
        diagnose::remedies::set_flags(&change),
        kinds(&after),
        before.summary.last.as_ref().and_then(|r| r.test_accuracy),
        after.summary.last.as_ref().and_then(|r| r.test_accuracy),
    );
    assert!(
        !kinds(&after).contains(&finding.kind),
        "{file}: `{}` is still there after its first remedy ({})\n{}",
        finding.kind,
        diagnose::remedies::set_flags(&change),
        after.to_text()
    );
    (kinds(&before), kinds(&after))
}

macro_rules! problem {
    ($name:ident, $kind:expr) => {
        #[test]
        fn $name() {
            let (before, _) = first_remedy_removes_the_finding(stringify!($name));
            // The problem the config provokes is the one whose remedy was tried.
            assert_eq!(before.first(), Some(&$kind), "{before:?}");
        }
    };
}

problem!(vanishing_gradients, Kind::VanishingGradients);
problem!(exploding_gradients, Kind::ExplodingGradients);
// Diverged comes first (it explains the rest); its first remedy lowers the learning rate.
problem!(lr_too_high, Kind::Diverged);
problem!(lr_too_low, Kind::LrTooLow);
problem!(symmetry_not_broken, Kind::SymmetryNotBroken);
problem!(dead_units, Kind::DeadUnits);
problem!(underfitting, Kind::Underfitting);
problem!(overfitting, Kind::Overfitting);
problem!(saddle_or_plateau, Kind::SaddleOrPlateau);

/// Every config of `examples/problems/` has a test above.
#[test]
fn every_problem_config_is_covered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/problems");
    let this = std::fs::read_to_string(file!())
        .or_else(|_| {
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/remedies.rs"))
        })
        .unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".toml") else {
            continue;
        };
        if stem.ends_with("_fix") {
            continue;
        }
        assert!(
            this.contains(&format!("problem!({stem},")),
            "examples/problems/{name} has no remedy test"
        );
    }
}

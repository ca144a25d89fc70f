//! The simulation loop on configs parsed as `gradlab landscape` reads them: steps against hand
//! computations, schedules, clipping and divergence.

use landscape::Config;

fn cfg(text: &str) -> Config {
    Config::parse(text).unwrap()
}

#[test]
fn sgd_run_matches_hand_computed_steps() {
    // f = x² − y² from (1, 0.5), lr 0.1: g = (2x, −2y), so each step x ← 0.8x, y ← 1.2y.
    let c = cfg("steps = 3\n[problem]\nfunction = \"saddle\"\nstart = [1.0, 0.5]\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n");
    let r = c.simulate(&c.runs[0]).unwrap();
    assert_eq!(r.params.len(), 3);
    let expect = [[0.8, 0.6], [0.64, 0.72], [0.512, 0.864]];
    for (p, e) in r.params.iter().zip(expect) {
        assert!(
            (p[0] - e[0]).abs() < 1e-15 && (p[1] - e[1]).abs() < 1e-15,
            "{p:?} vs {e:?}"
        );
    }
    // losses at the points where the gradients were taken: 1 − 0.25, 0.64 − 0.36, ...
    assert!((r.losses[0] - 0.75).abs() < 1e-15 && (r.losses[1] - 0.28).abs() < 1e-15);
    assert_eq!(r.lr, vec![0.1; 3]);
    assert!(!r.diverged && r.first_nonfinite_step.is_none());
}

#[test]
fn momentum_matches_pytorch_rule() {
    // 1-D rastrigin is awkward; use a quadratic ½·2w² − 0·w: g = 2w. momentum 0.9, lr 0.1:
    // b1 = g0 = 2, w1 = 1 − 0.2 = 0.8; g1 = 1.6, b2 = 1.8 + 1.6 = 3.4, w2 = 0.8 − 0.34 = 0.46
    let c = cfg("steps = 2\n[problem]\nfunction = \"quadratic\"\nmatrix = [[2.0]]\nvector = [0.0]\nstart = [1.0]\n[optimizer]\nname = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n");
    let r = c.simulate(&c.runs[0]).unwrap();
    assert!((r.params[0][0] - 0.8).abs() < 1e-15);
    assert!((r.params[1][0] - 0.46).abs() < 1e-15, "{:?}", r.params);
}

#[test]
fn cosine_schedule_and_clipping_are_applied() {
    let c = cfg("steps = 4\n[problem]\nfunction = \"saddle\"\nstart = [10.0, 0.0]\n[optimizer]\nname = \"sgd\"\nlr = 0.1\n[clip]\nmax_norm = 1.0\n[schedule]\nname = \"cosine\"\nt_max = 4\neta_min = 0.0\n");
    let r = c.simulate(&c.runs[0]).unwrap();
    // lr_t = 0.05 (1 + cos(π t / 4))
    for (t, lr) in r.lr.iter().enumerate() {
        let e = 0.05 * (1.0 + (std::f64::consts::PI * t as f64 / 4.0).cos());
        assert!((lr - e).abs() < 1e-15, "step {t}: {lr} vs {e}");
    }
    // gradient (20, 0) is clipped to norm 1/(20 + 1e-6)·20 ≈ 1, so x moves by ≈ lr.
    assert!((r.params[0][0] - (10.0 - 0.1 * 20.0 / (20.0 + 1e-6))).abs() < 1e-12);
}

#[test]
fn divergence_stops_the_run() {
    let c = cfg(
        "steps = 10\n[problem]\nfunction = \"rosenbrock\"\n[optimizer]\nname = \"sgd\"\nlr = 1.0\n",
    );
    let r = c.simulate(&c.runs[0]).unwrap();
    assert!(r.diverged && r.params.len() < 10, "{r:?}");
    assert_eq!(r.params.len(), r.losses.len());
    assert_eq!(r.params.len(), r.lr.len());
}

use super::*;
use std::f64::consts::PI;

fn table(s: &str) -> toml::Table {
    s.parse().unwrap()
}

fn build(s: &str, lrs: &[f64]) -> Box<dyn LrSchedule> {
    from_table("test", &table(s), lrs, Some(0.9)).unwrap()
}

fn build_err(s: &str, lrs: &[f64], momentum: Option<f64>) -> String {
    match from_table("test", &table(s), lrs, momentum) {
        Ok(_) => panic!("expected an error for {s}"),
        Err(e) => e.to_string(),
    }
}

/// Lrs for steps 0..n: before any step, then after each `step()`.
fn run(s: &mut dyn LrSchedule, n: usize) -> Vec<Vec<f64>> {
    let mut out = vec![s.lrs().to_vec()];
    for _ in 1..n {
        s.step(None).unwrap();
        out.push(s.lrs().to_vec());
    }
    out
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300)
}

#[test]
fn constant_multiplies_then_restores() {
    let base = [0.1, 0.02];
    let mut s = build("name = 'constant'\nfactor = 0.5\ntotal_iters = 4", &base);
    let seq = run(s.as_mut(), 30);
    for (t, lrs) in seq.iter().enumerate() {
        for (g, &b) in base.iter().enumerate() {
            // PyTorch: lr·factor at t = 0, then lr·(1/factor) at t = total_iters.
            let want = if t < 4 {
                b * 0.5
            } else {
                b * 0.5 * (1.0 / 0.5)
            };
            assert_eq!(lrs[g], want, "t={t} g={g}");
        }
    }
    // Default factor 1/3 does not come back to exactly η₀ (recursive rounding), as in PyTorch.
    let mut s = build("name = 'constant'", &[0.1]);
    let seq = run(s.as_mut(), 7);
    assert_eq!(seq[4][0], 0.1 * (1.0 / 3.0));
    assert_eq!(seq[5][0], 0.1 * (1.0 / 3.0) * (1.0 / (1.0 / 3.0)));
    assert!(close(seq[6][0], 0.1, 1e-15));
}

#[test]
fn step_decays_at_multiples() {
    let mut s = build("name = 'step'\nstep_size = 3", &[0.5, 2.0]);
    let seq = run(s.as_mut(), 30);
    let mut want = [0.5, 2.0];
    for (t, lrs) in seq.iter().enumerate() {
        if t > 0 && t % 3 == 0 {
            want = [want[0] * 0.1, want[1] * 0.1];
        }
        assert_eq!(lrs, &want, "t={t}");
        assert!(close(lrs[0], 0.5 * 0.1f64.powi(t as i32 / 3), 1e-13));
    }
}

#[test]
fn multistep_counts_repeated_milestones() {
    let mut s = build(
        "name = 'multistep'\nmilestones = [9, 2, 5, 5]\ngamma = 0.5",
        &[1.0],
    );
    let seq = run(s.as_mut(), 30);
    for (t, lrs) in seq.iter().enumerate() {
        let k = [2, 5, 5, 9].iter().filter(|&&m| m <= t).count();
        assert_eq!(lrs[0], 0.5f64.powi(k as i32), "t={t}");
    }
}

#[test]
fn exponential_multiplies_each_step() {
    let mut s = build("name = 'exponential'\ngamma = 0.9", &[0.1, 0.3]);
    let seq = run(s.as_mut(), 30);
    let mut want = vec![0.1, 0.3];
    for (t, lrs) in seq.iter().enumerate() {
        if t > 0 {
            want.iter_mut().for_each(|w| *w *= 0.9);
        }
        assert_eq!(lrs, &want, "t={t}");
        assert!(close(lrs[1], 0.3 * 0.9f64.powi(t as i32), 1e-13));
    }
}

#[test]
fn cosine_follows_closed_form() {
    let base = [0.1, 0.05];
    let (e, tm) = (0.001, 10.0);
    let mut s = build("name = 'cosine'\nt_max = 10\neta_min = 0.001", &base);
    let seq = run(s.as_mut(), 35);
    for (t, lrs) in seq.iter().enumerate() {
        for (g, &b) in base.iter().enumerate() {
            let want = e + (b - e) * (1.0 + (PI * t as f64 / tm).cos()) / 2.0;
            assert!(
                (lrs[g] - want).abs() <= 1e-12,
                "t={t} g={g}: {} vs {want}",
                lrs[g]
            );
        }
    }
    assert_eq!(seq[0], base);
    assert!((seq[10][0] - e).abs() < 1e-15);
    // Past T_max the recursive form climbs back (the `(t−1−T) % 2T = 0` branch at t = 11).
    assert!(seq[11][0] > seq[10][0] && (seq[20][0] - 0.1).abs() < 1e-12);
    // The step at t = 11 is PyTorch's additive branch, exactly.
    let want11 = seq[10][0] + (0.1 - e) * (1.0 - (PI / tm).cos()) / 2.0;
    assert_eq!(seq[11][0], want11);
    // and t = 3 the ratio branch, exactly.
    let want3 = (1.0 + (PI * 3.0 / tm).cos()) / (1.0 + (PI * 2.0 / tm).cos()) * (seq[2][1] - e) + e;
    assert_eq!(seq[3][1], want3);
}

#[test]
fn warm_restarts_restart_and_lengthen() {
    let base = [0.1, 0.2];
    let mut s = build(
        "name = 'cosine_warm_restarts'\nt_0 = 3\nt_mult = 2\neta_min = 0.01",
        &base,
    );
    let seq = run(s.as_mut(), 30);
    // Cycles of 3, 6, 12, 24 steps.
    let (mut start, mut len) = (0usize, 3usize);
    for (t, lrs) in seq.iter().enumerate() {
        if t >= start + len {
            start += len;
            len *= 2;
        }
        let tc = (t - start) as f64;
        for (g, &b) in base.iter().enumerate() {
            let want = 0.01 + (b - 0.01) * (1.0 + (PI * tc / len as f64).cos()) / 2.0;
            assert!((lrs[g] - want).abs() <= 1e-15, "t={t}");
        }
    }
    assert!(close(seq[3][0], 0.1, 1e-15) && close(seq[9][1], 0.2, 1e-15));
    // T_mult = 1: period t_0.
    let mut s = build("name = 'cosine_warm_restarts'\nt_0 = 4", &[1.0]);
    let seq = run(s.as_mut(), 12);
    for (a, b) in seq.iter().zip(&seq[4..]) {
        assert_eq!(a[0], b[0]);
    }
    assert_eq!(seq[2][0], (1.0 + (PI * 2.0 / 4.0).cos()) / 2.0);
}

#[test]
fn linear_warmup_and_decay() {
    let base = [0.1, 1.0];
    let mut s = build(
        "name = 'linear'\nstart_factor = 0.25\ntotal_iters = 4",
        &base,
    );
    let seq = run(s.as_mut(), 30);
    for (t, lrs) in seq.iter().enumerate() {
        for (g, &b) in base.iter().enumerate() {
            let want = b * (0.25 + 0.75 * t.min(4) as f64 / 4.0);
            assert!(close(lrs[g], want, 1e-14), "t={t}");
        }
    }
    // Recursive factor, exactly as PyTorch: t = 2 multiplies by 1 + 0.75/(4·0.25 + 1·0.75).
    assert_eq!(
        seq[2][0],
        seq[1][0] * (1.0 + 0.75 / (4.0 * 0.25 + 1.0 * 0.75))
    );
    assert_eq!(seq[29], seq[4]);
    // Decay to end_factor.
    let mut s = build(
        "name = 'linear'\nstart_factor = 1.0\nend_factor = 0.1\ntotal_iters = 9",
        &[2.0],
    );
    let seq = run(s.as_mut(), 15);
    for (t, lrs) in seq.iter().enumerate() {
        assert!(
            close(lrs[0], 2.0 * (1.0 - 0.9 * t.min(9) as f64 / 9.0), 1e-14),
            "t={t}"
        );
    }
}

#[test]
fn polynomial_reaches_zero() {
    let base = [0.1, 0.4];
    let mut s = build("name = 'polynomial'\ntotal_iters = 5\npower = 2.0", &base);
    let seq = run(s.as_mut(), 30);
    for (t, lrs) in seq.iter().enumerate() {
        for (g, &b) in base.iter().enumerate() {
            let want = b * (1.0 - t.min(5) as f64 / 5.0).powi(2);
            assert!(
                (lrs[g] - want).abs() <= 1e-15 * b,
                "t={t}: {} vs {want}",
                lrs[g]
            );
        }
        if t >= 5 {
            assert_eq!(lrs, &vec![0.0, 0.0]);
        }
    }
    assert_eq!(
        seq[1][0],
        0.1 * ((1.0f64 - 1.0 / 5.0) / (1.0 - 0.0 / 5.0)).powf(2.0)
    );
}

#[test]
fn one_cycle_cos_two_phase() {
    // max_lr per group; the optimizer's lrs are replaced by max_lr/div_factor at construction.
    let mut s = build(
        "name = 'one_cycle'\nmax_lr = [1.0, 0.5]\ntotal_steps = 10",
        &[123.0, 7.0],
    );
    assert_eq!(s.momentums().unwrap(), &[0.95, 0.95]);
    let mut lrs = vec![s.lrs().to_vec()];
    let mut moms = vec![s.momentums().unwrap().to_vec()];
    for _ in 0..10 {
        s.step(None).unwrap();
        lrs.push(s.lrs().to_vec());
        moms.push(s.momentums().unwrap().to_vec());
    }
    // Start: initial_lr = max_lr/25, momentum max.
    assert!(close(lrs[0][0], 0.04, 1e-15) && close(lrs[0][1], 0.02, 1e-15));
    // Phase 1 ends at pct_start·T − 1 = 2: peak.
    assert!(close(lrs[2][0], 1.0, 1e-15) && close(lrs[2][1], 0.5, 1e-15));
    assert!(close(moms[2][0], 0.85, 1e-15));
    // Half-way up: pct = 0.5.
    let half = 1.0 + (0.04 - 1.0) / 2.0 * ((PI * 0.5).cos() + 1.0);
    assert_eq!(lrs[1][0], half);
    assert!(close(moms[1][0], 0.9, 1e-14));
    // End at T − 1 = 9: min_lr = initial_lr/1e4, momentum max again.
    assert!(close(lrs[9][0], 0.04 / 1e4, 1e-12) && close(lrs[9][1], 0.02 / 1e4, 1e-12));
    assert!(close(moms[9][1], 0.95, 1e-15));
    // Phase 2 in between: pct = (t − 2)/7.
    for t in 3..=10 {
        let pct = (t as f64 - 2.0) / 7.0;
        let want = 0.04 / 1e4 + (1.0 - 0.04 / 1e4) / 2.0 * ((PI * pct).cos() + 1.0);
        assert_eq!(lrs[t][0], want, "t={t}");
        let m = 0.95 + (0.85 - 0.95) / 2.0 * ((PI * pct).cos() + 1.0);
        assert_eq!(moms[t][0], m, "t={t}");
        // Inverse cycle: lr falls while momentum rises (step T extrapolates back up).
        if t <= 9 {
            assert!(lrs[t][0] < lrs[t - 1][0] && moms[t][0] > moms[t - 1][0]);
        }
    }
    // Stepping past total_steps is an error, and leaves the schedule where it was.
    let e = s.step(None).unwrap_err().to_string();
    assert!(
        e.contains("one_cycle") && e.contains("11") && e.contains("10"),
        "{e}"
    );
    assert_eq!(s.lrs(), &lrs[10][..]);
}

#[test]
fn one_cycle_linear_three_phase() {
    let mut s = build(
        "name = 'one_cycle'\nmax_lr = 0.5\ntotal_steps = 20\npct_start = 0.25\nanneal_strategy = 'linear'\nthree_phase = true\ndiv_factor = 10.0\nfinal_div_factor = 100.0\nbase_momentum = 0.8\nmax_momentum = 0.9",
        &[0.1],
    );
    let mut lrs = vec![s.lrs()[0]];
    let mut moms = vec![s.momentums().unwrap()[0]];
    for _ in 0..19 {
        s.step(None).unwrap();
        lrs.push(s.lrs()[0]);
        moms.push(s.momentums().unwrap()[0]);
    }
    // Phases end at 4, 8, 19.
    let (i, m, lo) = (0.05, 0.5, 0.05 / 100.0);
    for (t, &lr) in lrs.iter().enumerate() {
        let (want, mom) = if t <= 4 {
            let p = t as f64 / 4.0;
            ((m - i) * p + i, (0.8 - 0.9) * p + 0.9)
        } else if t <= 8 {
            let p = (t as f64 - 4.0) / 4.0;
            ((i - m) * p + m, (0.9 - 0.8) * p + 0.8)
        } else {
            let p = (t as f64 - 8.0) / 11.0;
            ((lo - i) * p + i, (0.9 - 0.9) * p + 0.9)
        };
        assert_eq!(lr, want, "t={t}");
        assert_eq!(moms[t], mom, "t={t}");
    }
    assert!(close(lrs[19], lo, 1e-14));
}

#[test]
fn one_cycle_without_momentum() {
    let mut s = from_table(
        "t",
        &table("name = 'one_cycle'\nmax_lr = 1.0\ntotal_steps = 5\ncycle_momentum = false"),
        &[0.1],
        None,
    )
    .unwrap();
    assert!(s.momentums().is_none());
    s.step(None).unwrap();
    assert!(s.momentums().is_none());
    let e = build_err(
        "name = 'one_cycle'\nmax_lr = 1.0\ntotal_steps = 5",
        &[0.1],
        None,
    );
    assert!(e.contains("cycle_momentum"), "{e}");
}

fn plateau_run(cfg: &str, lrs: &[f64], metrics: &[f64]) -> Vec<Vec<f64>> {
    let mut s = build(cfg, lrs);
    metrics
        .iter()
        .map(|&m| {
            s.step(Some(m)).unwrap();
            s.lrs().to_vec()
        })
        .collect()
}

#[test]
fn plateau_patience_and_min_lr() {
    // patience 2: the third bad epoch in a row reduces.
    let out = plateau_run(
        "name = 'reduce_on_plateau'\npatience = 2\nfactor = 0.5\nmin_lr = [0.0, 0.04]",
        &[1.0, 0.1],
        &[10.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 8.0, 9.0, 9.0, 9.0],
    );
    let want = [
        [1.0, 0.1],   // best 10
        [1.0, 0.1],   // best 9
        [1.0, 0.1],   // bad 1
        [1.0, 0.1],   // bad 2
        [0.5, 0.05],  // bad 3 > 2: reduce
        [0.5, 0.05],  // bad 1
        [0.5, 0.05],  // bad 2
        [0.25, 0.04], // reduce; group 1 clipped at min_lr
        [0.25, 0.04], // better
        [0.25, 0.04],
        [0.25, 0.04],
        [0.125, 0.04], // group 1 at min_lr: no change
    ];
    for (t, w) in want.iter().enumerate() {
        assert_eq!(out[t], w, "step {t}");
    }
}

#[test]
fn plateau_cooldown_threshold_modes() {
    // patience 0, cooldown 2: reduce, then two steps that ignore bad epochs.
    let out = plateau_run(
        "name = 'reduce_on_plateau'\npatience = 0\ncooldown = 2",
        &[1.0],
        &[5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0],
    );
    let got: Vec<f64> = out.iter().map(|v| v[0]).collect();
    let r = |k: i32| (0..k).fold(1.0, |lr, _| lr * 0.1);
    assert_eq!(got, vec![1.0, r(1), r(1), r(1), r(2), r(2), r(2)]);
    // rel threshold (min): 0.95 is not below 1·(1 − 0.1), so it is bad.
    let out = plateau_run(
        "name = 'reduce_on_plateau'\npatience = 0\nthreshold = 0.1",
        &[1.0],
        &[1.0, 0.95, 0.85, 0.8],
    );
    let got: Vec<f64> = out.iter().map(|v| v[0]).collect();
    assert_eq!(got, vec![1.0, 0.1, 0.1, r(2)]);
    // abs threshold (min): 0.95 < 1 − 0.01 is better; 0.945 is not below 0.95 − 0.01.
    let out = plateau_run(
        "name = 'reduce_on_plateau'\npatience = 0\nthreshold = 0.01\nthreshold_mode = 'abs'",
        &[1.0],
        &[1.0, 0.95, 0.945],
    );
    assert_eq!(
        out.iter().map(|v| v[0]).collect::<Vec<_>>(),
        vec![1.0, 1.0, 0.1]
    );
    // max mode, rel: 1.2 > 1·1.1 is better, 1.25 > 1.32 is not.
    let out = plateau_run(
        "name = 'reduce_on_plateau'\nmode = 'max'\npatience = 0\nthreshold = 0.1\nfactor = 0.5",
        &[1.0],
        &[1.0, 1.2, 1.25, 1.5],
    );
    assert_eq!(
        out.iter().map(|v| v[0]).collect::<Vec<_>>(),
        vec![1.0, 1.0, 0.5, 0.5]
    );
    // max mode, abs.
    let out = plateau_run(
        "name = 'reduce_on_plateau'\nmode = 'max'\npatience = 1\nthreshold = 0.5\nthreshold_mode = 'abs'\nfactor = 0.5",
        &[1.0],
        &[1.0, 1.4, 1.45, 2.0, 2.1],
    );
    assert_eq!(
        out.iter().map(|v| v[0]).collect::<Vec<_>>(),
        vec![1.0, 1.0, 0.5, 0.5, 0.5]
    );
    // eps: a reduction smaller than eps is ignored.
    let out = plateau_run(
        "name = 'reduce_on_plateau'\npatience = 0\neps = 0.5",
        &[1.0, 0.1],
        &[1.0, 2.0],
    );
    assert_eq!(out[1], vec![0.1, 0.1]);
    // A missing metric is an error naming the schedule.
    let mut s = build("name = 'reduce_on_plateau'", &[1.0]);
    let e = s.step(None).unwrap_err().to_string();
    assert!(
        e.contains("reduce_on_plateau") && e.contains("metric"),
        "{e}"
    );
}

#[test]
fn sequential_warmup_then_exponential() {
    let mut s = build(
        "name = 'sequential'\nmilestones = [3]\nschedulers = [{ name = 'linear', start_factor = 0.5, total_iters = 2 }, { name = 'exponential', gamma = 0.5 }]",
        &[0.1, 0.2],
    );
    let seq = run(s.as_mut(), 8);
    let l1 = 0.05 * (1.0 + 0.5 / (2.0 * 0.5 + 0.0 * 0.5));
    let l2 = l1 * (1.0 + 0.5 / (2.0 * 0.5 + 1.0 * 0.5));
    assert_eq!(seq[0][0], 0.05);
    assert_eq!(seq[1][0], l1);
    assert_eq!(seq[2][0], l2);
    // Milestone: exponential restarts with step(0) = closed form base·γ⁰ (not l2·γ).
    assert_eq!(seq[3], vec![0.1 * 0.5f64.powf(0.0), 0.2]);
    assert_eq!(seq[4][0], 0.1 * 0.5);
    assert_eq!(seq[7][1], 0.2 * 0.5 * 0.5 * 0.5 * 0.5);
}

#[test]
fn sequential_constant_then_cosine() {
    let mut s = build(
        "name = 'sequential'\nmilestones = [3]\nschedulers = [{ name = 'constant', factor = 0.1, total_iters = 10 }, { name = 'cosine', t_max = 4, eta_min = 0.0 }]",
        &[1.0],
    );
    let seq = run(s.as_mut(), 12);
    for (t, lrs) in seq.iter().enumerate() {
        let want = if t < 3 {
            0.1
        } else {
            (1.0 + (PI * (t - 3) as f64 / 4.0).cos()) / 2.0
        };
        assert!((lrs[0] - want).abs() < 1e-12, "t={t}");
    }
    assert_eq!(seq[2][0], 0.1);
}

#[test]
fn sequential_one_cycle_rewrites_initial_lr() {
    // PyTorch quirk: OneCycleLR's constructor overwrites initial_lr, and SequentialLR resets
    // the lrs to initial_lr before redoing the first scheduler's initial step.
    let mut s = build(
        "name = 'sequential'\nmilestones = [2]\nschedulers = [{ name = 'linear', start_factor = 0.5, total_iters = 2 }, { name = 'one_cycle', max_lr = 1.0, total_steps = 10, cycle_momentum = false }]",
        &[0.1],
    );
    let seq = run(s.as_mut(), 4);
    assert_eq!(seq[0][0], 0.04 * 0.5);
    assert_eq!(seq[1][0], 0.02 * (1.0 + 0.5 / (2.0 * 0.5)));
    assert!(close(seq[2][0], 0.04, 1e-15)); // one_cycle step 0
    assert!(seq[3][0] > seq[2][0]);
    assert!(s.momentums().is_none());
}

const ALL: &[&str] = &[
    "name = 'constant'",
    "name = 'step'\nstep_size = 4\ngamma = 0.7",
    "name = 'multistep'\nmilestones = [3, 12, 15]",
    "name = 'exponential'\ngamma = 0.95",
    "name = 'cosine'\nt_max = 7\neta_min = 0.01",
    "name = 'cosine_warm_restarts'\nt_0 = 4\nt_mult = 2",
    "name = 'linear'\ntotal_iters = 15",
    "name = 'polynomial'\ntotal_iters = 25\npower = 0.5",
    "name = 'one_cycle'\nmax_lr = [0.5, 2.0]\ntotal_steps = 40\nthree_phase = true",
    "name = 'sequential'\nmilestones = [5, 12]\nschedulers = [{ name = 'linear', total_iters = 5 }, { name = 'one_cycle', max_lr = 1.0, total_steps = 6 }, { name = 'cosine', t_max = 10 }]",
    "name = 'reduce_on_plateau'\npatience = 1\ncooldown = 1",
];

#[test]
fn names_are_all_covered() {
    let mut names: Vec<String> = ALL
        .iter()
        .map(|c| table(c)["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut want: Vec<&str> = NAMES.to_vec();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn state_round_trips() {
    let metric = |t: usize| 10.0 - (t % 4) as f64 * 0.1 + (t / 8) as f64 * 0.0;
    for cfg in ALL {
        let lrs = [0.1, 0.3];
        let mut a = build(cfg, &lrs);
        for t in 0..10 {
            a.step(Some(metric(t))).unwrap();
        }
        let st = a.state();
        assert!(st.iter().all(|x| x.is_finite()), "{cfg}");
        let mut b = build(cfg, &lrs);
        assert_eq!(b.name(), a.name());
        b.load_state(&st).unwrap();
        assert_eq!(b.state(), st, "{cfg}");
        for t in 10..30 {
            a.step(Some(metric(t))).unwrap();
            b.step(Some(metric(t))).unwrap();
            assert_eq!(a.lrs(), b.lrs(), "{cfg} t={t}");
            assert_eq!(a.momentums(), b.momentums(), "{cfg} t={t}");
        }
        // A state that does not fit is refused, and leaves the schedule unchanged.
        let before = b.state();
        assert!(b.load_state(&st[..st.len() - 1]).is_err(), "{cfg}");
        let mut longer = st.clone();
        longer.push(0.0);
        assert!(b.load_state(&longer).is_err(), "{cfg}");
        assert_eq!(b.state(), before, "{cfg}");
        if let Ok(mut one) = from_table("t", &table(cfg), &[0.1], Some(0.9)) {
            assert!(one.load_state(&st).is_err(), "{cfg}");
        }
    }
}

#[test]
fn plateau_state_keeps_counters() {
    let cfg = "name = 'reduce_on_plateau'\npatience = 2\ncooldown = 1";
    let mut a = build(cfg, &[1.0]);
    for m in [3.0, 2.0, 2.5, 2.5] {
        a.step(Some(m)).unwrap();
    }
    let mut b = build(cfg, &[1.0]);
    b.load_state(&a.state()).unwrap();
    // Both are two bad epochs in: the next bad one reduces.
    a.step(Some(9.0)).unwrap();
    b.step(Some(9.0)).unwrap();
    assert_eq!(a.lrs(), &[0.1]);
    assert_eq!(b.lrs(), &[0.1]);
}

#[test]
fn bad_configs_are_errors() {
    let cases: &[(&str, &[&str])] = &[
        ("name = 'cosin'", &["unknown schedule `cosin`", "cosine_warm_restarts", "reduce_on_plateau"]),
        ("name = 'cosine'\nt_max = 5\ngama = 0.1", &["unknown hyperparameter `gama`", "t_max, eta_min"]),
        ("name = 'exponential'\ngamma = 0.0", &["`gamma` = 0", "> 0"]),
        ("name = 'exponential'\ngamma = -0.5", &["`gamma` = -0.5"]),
        ("name = 'exponential'", &["missing", "gamma"]),
        ("name = 'step'\nstep_size = 3\ngamma = 0", &["gamma"]),
        ("name = 'step'\nstep_size = 0", &["`step_size` = 0", ">= 1"]),
        ("name = 'cosine'\nt_max = 0", &["`t_max` = 0", ">= 1"]),
        ("name = 'cosine'\nt_max = 2.5", &["t_max", "integer"]),
        ("name = 'cosine_warm_restarts'\nt_0 = 2\nt_mult = 0", &["t_mult"]),
        ("name = 'constant'\nfactor = 1.5", &["`factor` = 1.5"]),
        ("name = 'linear'\nstart_factor = 0.0", &["start_factor"]),
        ("name = 'multistep'\nmilestones = [1, -2]", &["milestones"]),
        ("name = 'reduce_on_plateau'\nfactor = 1.0", &["`factor` = 1", "[0, 1)"]),
        ("name = 'reduce_on_plateau'\nmode = 'maximum'", &["mode", "min, max"]),
        ("name = 'reduce_on_plateau'\nmin_lr = [0.1]", &["min_lr", "one value per parameter group (2)"]),
        ("name = 'one_cycle'\ntotal_steps = 10", &["missing", "max_lr"]),
        ("name = 'one_cycle'\nmax_lr = 1.0\ntotal_steps = 10\npct_start = 1.5", &["pct_start"]),
        ("name = 'one_cycle'\nmax_lr = 1.0\ntotal_steps = 10\nanneal_strategy = 'exp'", &["anneal_strategy"]),
        ("name = 'sequential'\nmilestones = [3, 4]\nschedulers = [{ name = 'linear' }, { name = 'constant' }]", &["milestones", "one fewer"]),
        ("name = 'sequential'\nmilestones = [3]\nschedulers = [{ name = 'linear' }, { name = 'reduce_on_plateau' }]", &["schedulers[1]", "not allowed"]),
        ("name = 'sequential'\nmilestones = [3]\nschedulers = [{ name = 'linear' }, { name = 'cosine', t_max = 0 }]", &["schedulers[1]", "t_max"]),
        ("name = 'sequential'\nmilestones = [3]\nschedulers = [{ name = 'linear', typo = 1 }, { name = 'cosine', t_max = 3 }]", &["schedulers[0]", "`typo`"]),
        ("name = 'sequential'\nmilestones = [3, 3]\nschedulers = [{ name = 'linear' }, { name = 'linear' }, { name = 'linear' }]", &["strictly increasing"]),
        ("name = 'none'", &["none"]),
        ("gamma = 0.5", &["missing", "name"]),
    ];
    for (cfg, needles) in cases {
        let e = build_err(cfg, &[0.1, 0.2], Some(0.9));
        for n in *needles {
            assert!(e.contains(n), "{cfg}: `{e}` lacks `{n}`");
        }
    }
    assert!(build_err("name = 'step'\nstep_size = 2", &[], None).contains("at least one"));
    // total_steps too small for pct_start: a zero-length phase, as PyTorch's ZeroDivisionError.
    let e = build_err(
        "name = 'one_cycle'\nmax_lr = 1.0\ntotal_steps = 10\npct_start = 0.1",
        &[0.1],
        Some(0.9),
    );
    assert!(e.contains("zero length"), "{e}");
}

#[test]
fn apply_sets_lrs_and_momentum() {
    use crate::optimizers::sgd::SgdConfig;
    use crate::{Optimizer, ParamStore};
    let params = ParamStore::single("w", vec![1.0f64, -2.0]);
    let recipe = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        ..Default::default()
    }
    .recipe()
    .unwrap();
    let mut opt = Optimizer::new(recipe, &params).unwrap();
    let mut s = from_table(
        "t",
        &table("name = 'one_cycle'\nmax_lr = 1.0\ntotal_steps = 10"),
        &opt.initial_lrs(),
        Some(0.9),
    )
    .unwrap();
    s.step(None).unwrap();
    apply(s.as_ref(), &mut opt);
    assert_eq!(opt.lrs(), s.lrs());
    assert_eq!(opt.groups()[0].momentum, Some(s.momentums().unwrap()[0]));
    let c = from_table("t", &table("name = 'cosine'\nt_max = 3"), &[0.5], Some(0.9)).unwrap();
    apply(c.as_ref(), &mut opt);
    assert_eq!(opt.lrs(), vec![0.5]);
    // A schedule that does not drive momentum leaves the group's momentum as it was.
    assert_eq!(opt.groups()[0].momentum, Some(s.momentums().unwrap()[0]));
}

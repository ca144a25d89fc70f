//! One problem's section: accuracy and loss curves with seed bands, learning-rate sensitivity,
//! tuneability and its table.

use std::fmt::Write;

use super::{anchor, conf_class, params_text, pct, pm, pm_sig, Ctx};
use crate::esc;
use crate::svg::{Marker, Plot, Scale};

/// The dashed line of a problem's target.
const TARGET_COLOR: &str = "#222222";

pub(super) fn problem(c: &mut Ctx, p: &str) {
    let a = c.a;
    let groups = c.problem_groups(p);
    let _ = write!(
        c.out,
        r#"<section class="problem" id="problem-{}"><h2>Problem: {}</h2>"#,
        esc(&anchor(p)),
        esc(p)
    );
    if let Some(v) = a.verdicts.iter().find(|v| v.problem == p) {
        let t =
            v.t.map(|t| format!(", Welch t = {t:.2}"))
                .unwrap_or_default();
        let _ = write!(
            c.out,
            r#"<p class="verdict-line"><b>Verdict:</b> {} <span class="conf {}">{}{}</span></p>"#,
            esc(&v.text),
            conf_class(&v.confidence),
            esc(&v.confidence),
            esc(&t)
        );
    }
    let _ = write!(c.out, r#"<div class="plots">"#);

    // Test accuracy curves.
    let mut pl = Plot::new(
        &format!("{p}: test accuracy over epochs (mean, min–max band over seeds)"),
        "epoch",
        "test accuracy (%)",
    )
    .x_integer();
    let mut any = false;
    for g in &groups {
        let b = &g.test_accuracy_curve;
        if b.x.is_empty() {
            continue;
        }
        any = true;
        let col = c.color(&g.optimizer);
        let k = |v: &[f64]| v.iter().map(|x| x * 100.0).collect::<Vec<_>>();
        pl.band(&b.x, &k(&b.min), &k(&b.max), col);
        pl.line(
            b.x.iter()
                .zip(&b.mean)
                .map(|(&x, &y)| (x, y * 100.0))
                .collect(),
            col,
            2.0,
            false,
        );
        pl.legend(&g.optimizer, col, None);
    }
    if !any {
        pl.note("no test-accuracy curves recorded");
    }
    // The problem's target, when it is on this plot's metric.
    let target = a
        .targets
        .iter()
        .find(|t| t.problem == p && t.metric == lab::Metric::TestAccuracy);
    let xs: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.test_accuracy_curve.x.iter().copied())
        .collect();
    if let (Some(t), true) = (target, any) {
        let (x0, x1) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        pl.line(
            vec![(x0, t.value * 100.0), (x1, t.value * 100.0)],
            TARGET_COLOR,
            1.5,
            true,
        );
        pl.legend(
            &format!("target ≥ {:.1}%", t.value * 100.0),
            TARGET_COLOR,
            None,
        );
    }
    c.plot(&pl);

    // Train loss curves (log y).
    let mut pl = Plot::new(
        &format!("{p}: training loss over epochs (log scale, min–max band)"),
        "epoch",
        "train loss (cross-entropy, log scale)",
    )
    .x_integer()
    .y_scale(Scale::Log);
    let mut any = false;
    for g in &groups {
        let b = &g.train_loss_curve;
        if b.x.is_empty() {
            continue;
        }
        any = true;
        let col = c.color(&g.optimizer);
        pl.band(&b.x, &b.min, &b.max, col);
        pl.line(
            b.x.iter().zip(&b.mean).map(|(&x, &y)| (x, y)).collect(),
            col,
            2.0,
            false,
        );
        pl.legend(&g.optimizer, col, None);
    }
    if !any {
        pl.note("no training-loss curves recorded");
    }
    c.plot(&pl);

    // LR sensitivity.
    let mut pl = Plot::new(
        &format!("{p}: learning-rate sensitivity (every tuning trial)"),
        "learning rate (log scale)",
        "tuning score (final validation metric)",
    )
    .x_scale(Scale::Log);
    let scores: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.trials.iter().filter_map(|t| t.score))
        .filter(|s| s.is_finite())
        .collect();
    let (smin, smax) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &s| {
            (l.min(s), h.max(s))
        });
    let floor = if smin.is_finite() {
        smin - 0.08 * (smax - smin).max(1e-3)
    } else {
        0.0
    };
    let mut any = false;
    let mut any_div = false;
    let mut any_pruned = false;
    for g in &groups {
        let col = c.color(&g.optimizer);
        let mut pts: Vec<(f64, f64)> = g
            .trials
            .iter()
            .filter_map(|t| Some((t.lr?, t.score?)))
            .filter(|(l, s)| l.is_finite() && s.is_finite())
            .collect();
        pts.sort_by(|x, y| x.0.total_cmp(&y.0));
        let has = g.trials.iter().any(|t| t.lr.is_some());
        if !has {
            continue;
        }
        any = true;
        pl.line(pts.clone(), col, 1.0, true);
        for t in &g.trials {
            let Some(lr) = t.lr else { continue };
            match t.score {
                _ if t.pruned => {
                    any_pruned = true;
                    pl.marker(lr, floor, col, Marker::Triangle, 4.5)
                }
                Some(s) if !t.diverged && s.is_finite() => {
                    pl.marker(lr, s, col, Marker::Circle, 4.0)
                }
                _ => {
                    any_div = true;
                    pl.marker(lr, floor, col, Marker::Cross, 4.5)
                }
            }
        }
        let chosen = g.best_params.get("lr").and_then(|v| v.as_f64());
        if let Some(lr) = chosen {
            if let Some(t) = g
                .trials
                .iter()
                .find(|t| t.lr.is_some_and(|l| (l - lr).abs() <= 1e-12 * lr.abs()))
            {
                if let Some(s) = t.score.filter(|s| s.is_finite()) {
                    pl.marker(lr, s, col, Marker::Ring, 7.5);
                }
            }
        }
        pl.legend(&g.optimizer, col, Some(Marker::Circle));
    }
    if any_div {
        pl.legend(
            "diverged (drawn at the bottom)",
            "#333333",
            Some(Marker::Cross),
        );
    }
    if any_pruned {
        pl.legend(
            "pruned (median rule; at the bottom)",
            "#333333",
            Some(Marker::Triangle),
        );
    }
    if any {
        pl.legend("chosen setting", "#333333", Some(Marker::Ring));
    } else {
        pl.note("no tuning trials (one-shot defaults protocol)");
    }
    c.plot(&pl.legend_width(205.0));

    // Tuneability.
    let mut pl = Plot::new(
        &format!("{p}: tuneability (expected best score after k random trials)"),
        "number of trials k",
        "expected best tuning score",
    )
    .x_integer();
    let mut any = false;
    for g in &groups {
        if g.tuneability.is_empty() {
            continue;
        }
        any = true;
        let col = c.color(&g.optimizer);
        let pts: Vec<(f64, f64)> = g
            .tuneability
            .iter()
            .enumerate()
            .map(|(i, &y)| ((i + 1) as f64, y))
            .collect();
        pl.line(pts.clone(), col, 2.0, false);
        for (x, y) in pts {
            pl.marker(x, y, col, Marker::Circle, 2.8);
        }
        pl.legend(&g.optimizer, col, None);
    }
    if !any {
        pl.note("no tuning trials (one-shot defaults protocol)");
    }
    c.plot(&pl);
    let _ = write!(c.out, "</div>");

    // Table.
    let acc = a.metric.is_accuracy();
    let best = a
        .verdicts
        .iter()
        .find(|v| v.problem == p)
        .map(|v| v.winner.clone());
    let _ = write!(
        c.out,
        r#"<table class="groups"><thead><tr><th>Optimizer</th><th>Chosen setting</th><th class="n">Test accuracy (%)<br/>mean ± std</th><th class="n">Test loss</th><th class="n">Steps to target<br/>(reached k/n)</th><th class="n">Seconds to target</th><th class="n">Divergence rate<br/>(diverged/runs)</th><th class="n">Generalisation gap<br/>(test − train loss)</th><th>Doctor findings<br/>(runs of the chosen setting)</th></tr></thead><tbody>"#
    );
    for g in &groups {
        let steps = format!(
            "{} ({}/{})",
            pm(&g.steps_to_target, 1.0, 0),
            g.reached_target,
            g.seeds
        );
        let findings = if g.findings.is_empty() {
            "none".to_string()
        } else {
            g.findings
                .iter()
                .map(|(k, n)| format!("{} ×{n}", k.replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            c.out,
            r#"<tr{}><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{} ({}/{})</td><td class="n">{}</td><td>{}</td></tr>"#,
            if best.as_deref() == Some(&g.optimizer) {
                r#" class="best""#
            } else {
                ""
            },
            c.swatch(&g.optimizer),
            esc(&params_text(&g.best_params)),
            pm(&g.test_accuracy, 100.0, 2),
            pm(&g.test_loss, 1.0, 4),
            esc(&steps),
            pm_sig(&g.seconds_to_target),
            pct(g.divergence_rate),
            g.diverged,
            g.runs,
            pm(&g.generalisation_gap, 1.0, 4),
            esc(&findings)
        );
    }
    let _ = write!(c.out, "</tbody></table>");
    if !acc {
        let _ = write!(
            c.out,
            r#"<p class="muted">The study compares by {}.</p>"#,
            esc(a.metric.label())
        );
    }
    let _ = write!(c.out, "</section>");
}

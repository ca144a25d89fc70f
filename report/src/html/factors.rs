//! Factor studies: per factor, each level's effect table and plain verdicts; per pair of
//! factors (factorial designs), the two-way table and its interaction test. The rules are in
//! `lab::analysis` (module `factors`).

use std::fmt::Write;

use lab::analysis::{FactorEffect, Interaction, LevelEffect, Stat};

use super::{anchor, conf_class, pct, Ctx, OPTIMIZER_COLORS};
use crate::esc;
use crate::svg::Plot;

fn value(acc: bool, s: &Option<Stat>) -> String {
    match s {
        Some(s) if acc => format!("{:.2} ± {:.2} (n={})", 100.0 * s.mean, 100.0 * s.std, s.n),
        Some(s) => format!(
            "{} ± {} (n={})",
            present::sig(s.mean, 3),
            present::sig(s.std, 2),
            s.n
        ),
        None => "—".into(),
    }
}

fn effect(acc: bool, e: &LevelEffect) -> String {
    match e.effect {
        Some(d) if acc => format!("{:+.2} points", 100.0 * d),
        Some(d) => format!("{:+}", present::sig(d, 3)),
        None => "—".into(),
    }
}

pub(super) fn factors(c: &mut Ctx) {
    let a = c.a;
    if a.factors.is_empty() {
        return;
    }
    let acc = a.metric.is_accuracy();
    let unit = if acc { " (%)" } else { "" };
    let _ = write!(
        c.out,
        r#"<section id="factors"><h2>Factors</h2><p class="muted">Each arm is an optimizer at one level of every factor, tuned on its own. A level's effect is the mean difference of final {metric} between its arms and the same arms at the reference level (the factor's first level), per problem and optimizer; its confidence applies the verdict rule to the pooled final seeds of both sides ("not enough seeds" with fewer than 3 a side or no spread). Divergence counts every run of the level's arms (trials and seeds); findings count final seeds.</p>"#,
        metric = esc(a.metric.label())
    );
    let mut names: Vec<&str> = Vec::new();
    for f in &a.factors {
        if !names.contains(&f.factor.as_str()) {
            names.push(&f.factor);
        }
    }
    for name in names {
        let _ = write!(
            c.out,
            r#"<h3 id="factor-{}">Factor {}</h3>"#,
            esc(&anchor(name)),
            esc(name)
        );
        let mut verdicts = Vec::new();
        for fe in a.factors.iter().filter(|f| f.factor == name) {
            let _ = write!(
                c.out,
                r#"<h4>{} · {}</h4>"#,
                esc(&fe.problem),
                esc(&fe.optimizer)
            );
            level_curves(c, acc, fe);
            let _ = write!(
                c.out,
                r#"<table class="factor"><thead><tr><th>Level</th><th class="n">Final {}{unit}<br/>mean ± std (seeds)</th><th class="n">Effect vs {}</th><th>Confidence</th><th class="n">Steps to target<br/>(reached k/n)</th><th class="n">Divergence<br/>(diverged/runs)</th><th class="n">Generalisation gap<br/>(test − train loss)</th><th>Doctor findings<br/>(final seeds)</th></tr></thead><tbody>"#,
                esc(a.metric.label()),
                esc(&fe.reference)
            );
            for e in &fe.levels {
                let findings = if e.findings.is_empty() {
                    "none".to_string()
                } else {
                    e.findings
                        .iter()
                        .map(|(k, n)| format!("{} {n} of {}", k.replace('_', " "), e.seeds))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let gap = match &e.gap {
                    Some(s) => format!("{} ± {}", present::sig(s.mean, 3), present::sig(s.std, 2)),
                    None => "—".into(),
                };
                let _ = write!(
                    c.out,
                    r#"<tr><td><span class="nm">{}</span></td><td class="n">{}</td><td class="n">{}</td><td><span class="conf {}">{}</span></td><td class="n">{} ({}/{})</td><td class="n">{} ({}/{})</td><td class="n">{}</td><td>{}</td></tr>"#,
                    esc(&e.level),
                    value(acc, &e.metric),
                    effect(acc, e),
                    conf_class(&e.confidence),
                    esc(&e.confidence),
                    e.steps_to_target.map_or("—".to_string(), |s| format!(
                        "{:.0} ± {:.0}",
                        s.mean, s.std
                    )),
                    e.reached_target,
                    e.seeds,
                    pct(e.divergence_rate),
                    e.diverged,
                    e.runs,
                    esc(&gap),
                    esc(&findings)
                );
            }
            let _ = write!(c.out, "</tbody></table>");
            verdicts.extend(fe.verdicts.iter().cloned());
        }
        if !verdicts.is_empty() {
            let _ = write!(c.out, r#"<ul class="verdicts">"#);
            for v in verdicts {
                let _ = write!(c.out, "<li>{}</li>", esc(&v));
            }
            let _ = write!(c.out, "</ul>");
        }
    }
    if !a.interactions.is_empty() {
        let _ = write!(
            c.out,
            r#"<h3 id="interactions">Interactions</h3><p class="muted">Final {} per pair of levels (pooled over any other factor). The test is the two-way ANOVA interaction F: the least-squares additive model (level effects that add up) against the cell means, over the within-cell seed spread; "interact" when p &lt; 0.05.</p>"#,
            esc(a.metric.label())
        );
        for i in &a.interactions {
            interaction(c, acc, i);
        }
    }
    let _ = write!(c.out, "</section>");
}

/// One curve per level of `fe`: the final metric over epochs, mean over the level's pooled final
/// seeds with their min–max band; level colours by position (the reference first).
fn level_curves(c: &mut Ctx, acc: bool, fe: &FactorEffect) {
    let label = c.a.metric.label();
    let scale = if acc { 100.0 } else { 1.0 };
    // In a factorial design a level's seeds span the other factors' levels too, which widens
    // its band; the caption says so.
    let pooled = fe.levels.iter().any(|e| e.arms.len() > 1);
    let mut pl = Plot::new(
        &format!("{label} per level of {}", fe.factor),
        "epoch",
        &if acc {
            format!("{label} (%)")
        } else {
            label.to_string()
        },
    )
    .x_integer();
    let mut any = false;
    for (i, e) in fe.levels.iter().enumerate() {
        let b = &e.curve;
        if b.x.is_empty() {
            continue;
        }
        any = true;
        let col = OPTIMIZER_COLORS[i % OPTIMIZER_COLORS.len()];
        let k = |v: &[f64]| v.iter().map(|x| x * scale).collect::<Vec<_>>();
        pl.band(&b.x, &k(&b.min), &k(&b.max), col);
        pl.line(
            b.x.iter()
                .zip(&b.mean)
                .map(|(&x, &y)| (x, y * scale))
                .collect(),
            col,
            2.0,
            false,
        );
        pl.legend(&e.level, col, None);
    }
    if !any {
        pl.note("no curves recorded for these levels' final seeds");
    }
    let _ = write!(
        c.out,
        r#"<div class="plots level-curves"><p class="muted">Each level's mean over its final seeds, with their min–max band{}.</p>"#,
        if pooled {
            " (pooled over the other factors' levels, which widens the band)"
        } else {
            ""
        }
    );
    c.plot(&pl);
    let _ = write!(c.out, "</div>");
}

fn interaction(c: &mut Ctx, acc: bool, i: &Interaction) {
    let _ = write!(
        c.out,
        r#"<h4>{} · {}: {} × {}</h4><table class="interaction"><thead><tr><th>{} \ {}</th>"#,
        esc(&i.problem),
        esc(&i.optimizer),
        esc(&i.factors.0),
        esc(&i.factors.1),
        esc(&i.factors.0),
        esc(&i.factors.1)
    );
    for l in &i.levels.1 {
        let _ = write!(c.out, r#"<th class="n">{}</th>"#, esc(l));
    }
    let _ = write!(c.out, "</tr></thead><tbody>");
    for (la, row) in i.levels.0.iter().zip(&i.cells) {
        let _ = write!(c.out, "<tr><td>{}</td>", esc(la));
        for cell in row {
            let _ = write!(c.out, r#"<td class="n">{}</td>"#, value(acc, cell));
        }
        let _ = write!(c.out, "</tr>");
    }
    let _ = write!(
        c.out,
        r#"</tbody></table><p class="verdict-line">{} <span class="conf {}">{}</span></p>"#,
        esc(&i.text),
        conf_class(match i.label.as_str() {
            "interact" => "clear",
            other => other,
        }),
        esc(&i.label)
    );
}

//! The summary: overall ranking, one verdict per problem, each optimizer's character.

use std::fmt::Write;

use super::{anchor, conf_class, pct, Ctx};
use crate::esc;

pub(super) fn summary(c: &mut Ctx) {
    let a = c.a;
    recommendation(c);
    let _ = write!(
        c.out,
        r#"<section id="summary"><h2>Summary</h2><h3>Overall ranking</h3><p class="muted" id="ranking-metric">Ranked by the mean over problems of each optimizer's rank by final {} (mean over seeds; ties share the average rank); then by problems won and the profile score.</p><table id="ranking"><thead><tr><th class="n">Rank</th><th>Optimizer</th><th class="n">Mean rank by final {}</th><th class="n">Problems won</th><th class="n">Profile score (steps to target, 0–1)</th><th class="n">Divergence rate</th></tr></thead><tbody>"#,
        esc(a.metric.label()),
        esc(a.metric.label())
    );
    for r in &a.ranking {
        let _ = write!(
            c.out,
            r#"<tr{}><td class="n">{}</td><td>{}</td><td class="n">{:.2}</td><td class="n">{}</td><td class="n">{:.3}</td><td class="n">{}</td></tr>"#,
            if r.rank == 1 { r#" class="best""# } else { "" },
            r.rank,
            c.swatch(&r.optimizer),
            r.mean_rank,
            r.wins,
            r.profile_score,
            pct(r.divergence_rate)
        );
    }
    let _ = write!(c.out, "</tbody></table>");
    let _ = write!(
        c.out,
        r#"<h3>Verdicts per problem</h3><ul class="verdicts" id="verdicts">"#
    );
    for v in &a.verdicts {
        let _ = write!(
            c.out,
            r##"<li><a href="#problem-{}"><b>{}</b></a>: {} <span class="conf {}">{}</span></li>"##,
            esc(&anchor(&v.problem)),
            esc(&v.problem),
            esc(&v.text),
            conf_class(&v.confidence),
            esc(&v.confidence)
        );
    }
    if a.verdicts.is_empty() {
        let _ = write!(
            c.out,
            r#"<li class="muted">No verdicts (no completed runs).</li>"#
        );
    }
    let _ = write!(
        c.out,
        r#"</ul><h3>Optimizer characters</h3><div class="cards" id="characters">"#
    );
    for ch in &a.characters {
        let _ = write!(
            c.out,
            r#"<div class="card" style="border-top-color:{}"><h4>{}</h4>"#,
            c.color(&ch.optimizer),
            c.swatch(&ch.optimizer)
        );
        for (k, items) in [
            ("Strengths", &ch.strengths),
            ("Weaknesses", &ch.weaknesses),
            ("Fits", &ch.fits),
        ] {
            let _ = write!(c.out, r#"<div class="k">{k}</div>"#);
            if items.is_empty() {
                let _ = write!(
                    c.out,
                    r#"<ul><li class="muted">{}</li></ul>"#,
                    esc(&nothing_stood_out(a, &ch.optimizer))
                );
            } else {
                let _ = write!(c.out, "<ul>");
                for s in items {
                    let _ = write!(c.out, "<li>{}</li>", esc(s));
                }
                let _ = write!(c.out, "</ul>");
            }
        }
        let _ = write!(c.out, "</div>");
    }
    let _ = write!(c.out, "</div></section>");
}

/// One line per problem at the top: what to use there, by how much it beats the next best, and
/// how sure that is (the verdict's numbers).
fn recommendation(c: &mut Ctx) {
    let a = c.a;
    if a.verdicts.is_empty() {
        return;
    }
    let _ = write!(
        c.out,
        r#"<section id="recommendation"><h2>Recommendation</h2><ul class="verdicts">"#
    );
    for v in &a.verdicts {
        let beats = match &v.runner_up {
            Some(r) if a.metric.is_accuracy() => format!(
                "; it beats {r} by {:.1} points of final {}",
                100.0 * v.margin,
                a.metric.label()
            ),
            Some(r) => format!(
                "; it beats {r} by {} in final {}",
                present::sig(v.margin, 3),
                a.metric.label()
            ),
            None => " (the only one with a result)".into(),
        };
        let _ = write!(
            c.out,
            r#"<li>On <b>{}</b> use <b>{}</b>{} <span class="conf {}">{}</span></li>"#,
            esc(&v.problem),
            esc(&v.winner),
            esc(&beats),
            conf_class(&v.confidence),
            esc(&v.confidence)
        );
    }
    let _ = write!(c.out, "</ul></section>");
}

/// What was measured when no sentence of a kind applies: the optimizer's standing in numbers.
fn nothing_stood_out(a: &lab::analysis::Analysis, opt: &str) -> String {
    let Some(r) = a.ranking.iter().find(|r| r.optimizer == opt) else {
        return "no result measured".into();
    };
    let problems = a
        .groups
        .iter()
        .filter(|g| g.optimizer == opt && g.seeds > 0)
        .count();
    if problems == 0 {
        return "no finished run of its chosen settings".into();
    }
    format!(
        "nothing stood out: rank {} of {} (mean rank {:.2} over {problems} problem{}), {} won, divergence rate {}",
        r.rank,
        a.ranking.len(),
        r.mean_rank,
        if problems == 1 { "" } else { "s" },
        r.wins,
        pct(r.divergence_rate)
    )
}

//! The summary: overall ranking, one verdict per problem, each optimizer's character.

use std::fmt::Write;

use super::{anchor, conf_class, pct, Ctx};
use crate::esc;

pub(super) fn summary(c: &mut Ctx) {
    let a = c.a;
    let _ = write!(
        c.out,
        r#"<section id="summary"><h2>Summary</h2><h3>Overall ranking</h3><table id="ranking"><thead><tr><th class="n">Rank</th><th>Optimizer</th><th class="n">Mean rank over problems</th><th class="n">Problems won</th><th class="n">Profile score (steps to target, 0–1)</th><th class="n">Divergence rate</th></tr></thead><tbody>"#
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
                let _ = write!(c.out, r#"<ul><li class="muted">none measured</li></ul>"#);
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

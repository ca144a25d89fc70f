//! The doctor's findings across runs, and the failed runs with their errors.

use std::fmt::Write;

use lab::{RunRecord, RunState};

use super::{finding_meaning, Ctx};
use crate::esc;

pub(super) fn findings(c: &mut Ctx) {
    let a = c.a;
    let _ = write!(
        c.out,
        r#"<section id="findings"><h2>Doctor findings</h2><p class="muted">What the convergence doctor saw in the runs of each chosen setting: the kind of finding, in how many of the seeds' runs it fired, and what it means.</p><table class="findings"><thead><tr><th>Problem</th><th>Optimizer</th><th>Finding</th><th class="n">Runs</th><th>What it means</th><th>Example</th></tr></thead><tbody>"#
    );
    let mut rows = 0;
    for p in &a.problems {
        for g in c.problem_groups(p) {
            for (kind, n) in &g.findings {
                rows += 1;
                let example = c
                    .runs
                    .iter()
                    .filter(|r| r.spec.problem == *p && r.spec.optimizer == g.optimizer)
                    .filter_map(|r| r.result.as_ref())
                    .flat_map(|res| res.findings.iter())
                    .find(|f| &f.kind == kind)
                    .map(|f| f.summary.clone())
                    .unwrap_or_default();
                let _ = write!(
                    c.out,
                    r#"<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td class="n">{}/{}</td><td>{}</td><td class="muted">{}</td></tr>"#,
                    esc(p),
                    c.swatch(&g.optimizer),
                    esc(kind),
                    n,
                    g.seeds,
                    esc(finding_meaning(kind)),
                    esc(&example)
                );
            }
        }
    }
    if rows == 0 {
        let _ = write!(
            c.out,
            r#"<tr><td colspan="6" class="muted">The doctor reported nothing.</td></tr>"#
        );
    }
    let _ = write!(c.out, "</tbody></table></section>");
}

pub(super) fn failed(c: &mut Ctx) {
    let failed: Vec<&RunRecord> = c
        .runs
        .iter()
        .filter(|r| r.state == RunState::Failed)
        .collect();
    if failed.is_empty() && c.a.failed == 0 {
        return;
    }
    let _ = write!(
        c.out,
        r#"<section id="failed"><h2>Failed runs</h2><p class="muted">{} run(s) failed; they are recorded with their error and left out of the statistics.</p><table><thead><tr><th>Problem</th><th>Optimizer</th><th>Phase</th><th class="n">Trial</th><th class="n">Seed</th><th>Error</th></tr></thead><tbody>"#,
        c.a.failed.max(failed.len())
    );
    for r in failed {
        let _ = write!(
            c.out,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td><code>{}</code></td></tr>"#,
            esc(&r.spec.problem),
            c.swatch(&r.spec.optimizer),
            r.spec.phase.as_str(),
            r.spec.trial,
            r.spec.seed,
            esc(r.error.as_deref().unwrap_or("unknown error"))
        );
    }
    let _ = write!(c.out, "</tbody></table></section>");
}

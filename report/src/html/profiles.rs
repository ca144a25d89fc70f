//! Dolan–Moré performance profiles over the study's problems.

use std::fmt::Write;

use super::Ctx;
use crate::svg::{Plot, Scale};

pub(super) fn profiles(c: &mut Ctx) {
    let a = c.a;
    let _ = write!(
        c.out,
        r#"<section id="profiles"><h2>Performance profiles</h2><p class="muted">Dolan–Moré profiles: for each optimizer, ρ(τ) is the fraction of problems on which its cost is within a factor τ of the best optimizer's cost on that problem. Higher and further left is better; ρ(1) is the share of problems won.</p><div class="plots">"#
    );
    for pr in &a.profiles {
        let mut pl = Plot::new(
            &format!("Performance profile: {}", pr.measure),
            "τ (cost ÷ best cost, log scale)",
            "ρ(τ) (fraction of problems)",
        )
        .x_scale(Scale::Log)
        .y_range(-0.02, 1.04);
        let mut opts: Vec<&String> = a
            .optimizers
            .iter()
            .filter(|o| pr.rho.contains_key(*o))
            .collect();
        opts.extend(pr.rho.keys().filter(|k| !a.optimizers.contains(k)));
        for o in opts {
            let rho = &pr.rho[o];
            let pts: Vec<(f64, f64)> = pr
                .tau
                .iter()
                .zip(rho)
                .map(|(&t, &r)| (t, r))
                .filter(|(t, r)| t.is_finite() && *t > 0.0 && r.is_finite())
                .collect();
            let col = c.color(o);
            pl.step_line(&pts, col, 2.0);
            pl.legend(o, col, None);
        }
        if pr.tau.is_empty() {
            pl.note("no data");
        }
        c.plot(&pl);
    }
    if a.profiles.is_empty() {
        let _ = write!(c.out, r#"<p class="muted">No profiles.</p>"#);
    }
    let _ = write!(c.out, "</div></section>");
}

//! AdaBelief's direction: Adam-like moments whose second moment tracks the gradient's deviation
//! from its running mean (the "belief" in the gradient), optionally rectified as RAdam.

use crate::transform::{Coef, Ctx, Transform};
use crate::Float;

/// AdaBelief's direction (Zhuang et al. 2020), with adabelief-pytorch 0.2's operations:
/// ```text
/// m ← β₁·m + (1 − β₁)·g
/// s ← β₂·s + (1 − β₂)·(g − m)² + ε       (ε is added to the stored state, in place)
/// u ← (m / (√s / √bc₂ + ε)) / bc₁                      (rectify = false)
/// ```
/// With `rectify` (RAdam's rectification, `degenerated_to_sgd = true`), with
/// `ρ∞ = 2/(1−β₂) − 1`, `ρₜ = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ)`:
/// `u ← r·m / (√s + ε)` when `ρₜ ≥ 5`, with
/// `r = √((1−β₂ᵗ)(ρₜ−4)(ρₜ−2)ρ∞ / ((ρ∞−4)ρₜ(ρ∞−2))) / bc₁`, else `u ← m / bc₁` (SGD with momentum).
/// A scheduled momentum in [`Ctx::momentum`] replaces `β₁`.
#[derive(Clone, Debug)]
pub struct ScaleByBelief {
    pub b1: f64,
    pub b2: f64,
    pub eps: f64,
    pub rectify: bool,
}

pub fn scale_by_belief(b1: f64, b2: f64, eps: f64, rectify: bool) -> ScaleByBelief {
    ScaleByBelief {
        b1,
        b2,
        eps,
        rectify,
    }
}

impl<F: Float> Transform<F> for ScaleByBelief {
    fn name(&self) -> &'static str {
        "scale_by_belief"
    }
    fn buffers(&self) -> &'static [&'static str] {
        &["exp_avg", "exp_avg_var"]
    }
    fn scalars(&self) -> usize {
        1
    }
    fn begin(&self, ctx: &Ctx, s: &mut [f64]) -> Coef {
        s[0] += 1.0;
        let t = s[0];
        let b1 = ctx.momentum.unwrap_or(self.b1);
        let b2 = self.b2;
        let bc1 = 1.0 - b1.powi(t as i32);
        let b2t = b2.powi(t as i32);
        let bc2 = 1.0 - b2t;
        // c[4]: scale of the direction; c[5]: √bc₂ dividing √s; c[6]: 1 = adaptive, 0 = SGD.
        let (scale, sbc2, adaptive) = if !self.rectify {
            (1.0 / bc1, bc2.sqrt(), 1.0)
        } else {
            let rho_inf = 2.0 / (1.0 - b2) - 1.0;
            let rho = rho_inf - 2.0 * t * b2t / bc2;
            if rho >= 5.0 {
                let r = ((1.0 - b2t) * (rho - 4.0) / (rho_inf - 4.0) * (rho - 2.0) / rho * rho_inf
                    / (rho_inf - 2.0))
                    .sqrt()
                    / bc1;
                (r, 1.0, 1.0)
            } else {
                (1.0 / bc1, 1.0, 0.0)
            }
        };
        [b1, 1.0 - b1, b2, 1.0 - b2, scale, sbc2, adaptive, self.eps]
    }
    fn chunk(&self, c: &Coef, bufs: &mut [&mut [F]], upd: &mut [F], _: &[F]) {
        let (b1, k1, b2, k2) = (F::of(c[0]), F::of(c[1]), F::of(c[2]), F::of(c[3]));
        let (scale, sbc2, eps) = (F::of(c[4]), F::of(c[5]), F::of(c[7]));
        let [m, s] = bufs else { unreachable!() };
        if c[6] == 1.0 {
            m.iter_mut()
                .zip(s.iter_mut())
                .zip(upd.iter_mut())
                .for_each(|((m, s), u)| {
                    let g = *u;
                    *m = *m * b1 + g * k1;
                    let r = g - *m;
                    *s = *s * b2 + r * r * k2 + eps;
                    *u = *m / (s.sqrt() / sbc2 + eps) * scale;
                });
        } else {
            m.iter_mut()
                .zip(s.iter_mut())
                .zip(upd.iter_mut())
                .for_each(|((m, s), u)| {
                    let g = *u;
                    *m = *m * b1 + g * k1;
                    let r = g - *m;
                    *s = *s * b2 + r * r * k2 + eps;
                    *u = *m * scale;
                });
        }
    }
}

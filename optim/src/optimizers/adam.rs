//! Adam and AdamW, with AMSGrad: one config, where AdamW is Adam with decoupled weight decay.
//!
//! Update rule (PyTorch's `torch.optim.Adam` / `torch.optim.AdamW`, single-tensor path), with
//! gradient `g`, parameter `p`, step `t` (1-based):
//! ```text
//! g ← −g                                 if maximize
//! g ← g + λ·p                            Adam: coupled L2, λ = weight_decay
//! p ← p·(1 − lr·λ)                       AdamW: decoupled weight decay
//! m ← lerp(m, g, 1 − β₁)                 = m + (1 − β₁)(g − m)
//! v ← β₂·v + (1 − β₂)·g²
//! bc₁ = 1 − β₁ᵗ,  bc₂ = 1 − β₂ᵗ
//! v_max ← max(v_max, v);  d = √v_max / √bc₂ + ε     if amsgrad
//! d = √v / √bc₂ + ε                                  otherwise
//! p ← p − (lr / bc₁)·m / d
//! ```
//! Papers: Kingma & Ba (2015), *Adam: A Method for Stochastic Optimization*; Loshchilov & Hutter
//! (2019), *Decoupled Weight Decay Regularization* (AdamW); Reddi, Kale & Kumar (2018), *On the
//! Convergence of Adam and Beyond* (AMSGrad).
//!
//! Conventions, and how other libraries differ:
//! - **ε outside the square root, after bias correction**: `√v/√bc₂ + ε` (PyTorch, optax's
//!   `eps`). optax additionally has `eps_root` (ε inside the root, `√(v̂ + ε_root)`), 0 by default
//!   and not offered here. Keras and TF1 use the paper's "ε-hat" form, folding the bias
//!   correction into the step size, `lr·√bc₂/bc₁ · m/(√v + ε̂)`, which equals ours with
//!   `ε = ε̂/√bc₂` — the same ε number means a larger effective ε early in training there.
//! - **Bias correction** of both moments, with `βᵗ` computed as `powf` in `f64` as Python does.
//! - **Coupled vs decoupled decay**: Adam's `weight_decay` is L2 added to the gradient, so it is
//!   rescaled by the adaptive denominator; AdamW's shrinks the weights directly by `lr·λ`
//!   (PyTorch multiplies by `lr`, unlike the paper's schedule multiplier alone). In the chain
//!   this is only where `add_decayed_weights` sits: before `scale_by_adam` (coupled) or after it
//!   (decoupled), giving `p − lr·(u + λ·p)`.
//! - **AMSGrad keeps the maximum of `v`**, not of the bias-corrected `v̂` (as PyTorch does; the
//!   paper has no bias correction, and some implementations take the max of `v̂`).
//! - A scheduled momentum (one-cycle's `cycle_momentum`) replaces `β₁`, bias correction included.
//!
//! Defaults are PyTorch's; no differences are intended: Adam `lr = 1e-3`, `betas = (0.9, 0.999)`,
//! `eps = 1e-8`, `weight_decay = 0`, `amsgrad = false`, `maximize = false`; AdamW the same but
//! `weight_decay = 1e-2`. `adam` also accepts PyTorch's `decoupled_weight_decay = true` (which
//! makes it AdamW).
//!
//! Recipe: `[scale(-1)] > [add_decayed_weights] > scale_by_adam > [add_decayed_weights] >
//! scale_by_learning_rate` (the decay on the side its coupling asks for).

use crate::hyper::{Check, Hyper};
use crate::optimizers::torch_chain;
use crate::transforms::{scale_by_adam, scale_by_learning_rate};
use crate::{Chain, Float, Recipe, Result, Transform};

#[derive(Clone, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// Decoupled (AdamW) rather than coupled (L2) weight decay.
    pub decoupled_weight_decay: bool,
    pub amsgrad: bool,
    pub maximize: bool,
}

impl Default for AdamConfig {
    /// `torch.optim.Adam`'s defaults.
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            amsgrad: false,
            maximize: false,
        }
    }
}

impl AdamConfig {
    /// `torch.optim.AdamW`'s defaults.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..AdamConfig::default()
        }
    }

    /// Reads the hyperparameters of `adam` or `adamw` (which decides the defaults).
    pub fn from_hyper(name: &str, h: &mut Hyper<'_>) -> Result<Self> {
        let adamw = name == "adamw";
        let d = if adamw {
            AdamConfig::adamw()
        } else {
            AdamConfig::default()
        };
        Ok(AdamConfig {
            lr: h.f64("lr", d.lr, Check::NonNeg)?,
            betas: h.pair("betas", d.betas, Check::Unit)?,
            eps: h.f64("eps", d.eps, Check::NonNeg)?,
            weight_decay: h.f64("weight_decay", d.weight_decay, Check::NonNeg)?,
            decoupled_weight_decay: if adamw {
                true
            } else {
                h.bool("decoupled_weight_decay", d.decoupled_weight_decay)?
            },
            amsgrad: h.bool("amsgrad", d.amsgrad)?,
            maximize: h.bool("maximize", d.maximize)?,
        })
    }

    pub fn recipe<F: Float>(&self) -> Result<Recipe<F>> {
        let (b1, b2) = self.betas;
        let core = scale_by_adam(b1, b2, self.eps, self.amsgrad);
        Ok(Recipe {
            name: if self.decoupled_weight_decay {
                "adamw"
            } else {
                "adam"
            }
            .into(),
            chain: family_chain(core, self.maximize, self.decoupled_weight_decay)?,
            lr: self.lr,
            weight_decay: self.weight_decay,
        })
    }
}

/// The chain of every Adam-family optimizer: [`torch_chain`] around its core scaling, then
/// `scale_by_learning_rate`.
pub(crate) fn family_chain<F: Float>(
    core: impl Transform<F> + 'static,
    maximize: bool,
    decoupled: bool,
) -> Result<Chain<F>> {
    torch_chain(maximize, decoupled, Some(core))?.then(scale_by_learning_rate())
}

pub fn build<F: Float>(name: &str, h: &mut Hyper<'_>) -> Result<Recipe<F>> {
    AdamConfig::from_hyper(name, h)?.recipe()
}

/// Helpers shared by the Adam-family tests.
#[cfg(test)]
pub(crate) mod testutil {
    pub use crate::testutil::{assert_traj, close_rel, run, run_fn, GradBox, GradFn};
    use crate::Recipe;

    /// Gradient of the ill-conditioned quadratic `½(x² + 10·y²)` plus a linear term, with
    /// minimum at (1, −2).
    pub fn quad(p: &[f64]) -> Vec<f64> {
        vec![p[0] - 1.0, 10.0 * (p[1] + 2.0)]
    }

    /// Asserts that `a` (with `maximize`) steps exactly as `b` does on the negated [`quad`]
    /// gradient: 15 steps from (0.4, 1.5), bit for bit.
    pub fn assert_maximize_negates(a: Recipe<f64>, b: Recipe<f64>) {
        let p0 = [0.4, 1.5];
        let neg = |p: &[f64]| quad(p).into_iter().map(|g| -g).collect::<Vec<_>>();
        assert_eq!(run_fn(a, &p0, 15, &quad), run_fn(b, &p0, 15, &neg));
    }

    /// Asserts that 100 steps on [`quad`] from (0.3, −0.7) in f32 and f64 agree to relative 1e-4.
    pub fn assert_f32_tracks_f64(a: Recipe<f32>, b: Recipe<f64>) {
        let p0 = [0.3, -0.7];
        let a = run_fn(a, &p0, 100, &quad);
        let b = run_fn(b, &p0, 100, &quad);
        assert_traj(&a, &b, 1e-4);
    }

    /// Asserts that `steps` steps on [`quad`] from (−3, 3) end within 1e-3 of its minimum (1, −2).
    pub fn assert_converges(r: Recipe<f64>, steps: usize, label: &str) {
        let out = run_fn(r, &[-3.0, 3.0], steps, &quad);
        let p = out.last().unwrap();
        assert!(
            (p[0] - 1.0).abs() < 1e-3 && (p[1] + 2.0).abs() < 1e-3,
            "{label}: {p:?}"
        );
    }

    /// The gradient the PyTorch references below were generated with (a non-linear function of
    /// the parameter, so that any error compounds over the trajectory).
    pub fn torch_grad(p: &[f64]) -> Vec<f64> {
        vec![
            p[0] * p[0] - 0.3,
            (3.0 * p[1]).sin() + 0.1 * p[0],
            p[2].abs().sqrt() - 0.2,
        ]
    }

    /// Runs `recipe` from `[0.5, -1.2, 2.0]` with [`torch_grad`] and checks the parameter after
    /// each listed step against PyTorch's (relative 1e-12: rounding, compounded over 30 steps).
    pub fn assert_torch(recipe: Recipe<f64>, want: &[(usize, [f64; 3])]) {
        let n = want.last().unwrap().0;
        let got = run_fn(recipe, &[0.5, -1.2, 2.0], n, &torch_grad);
        for (step, w) in want {
            for (i, (&g, &w)) in got[step - 1].iter().zip(w).enumerate() {
                assert!(
                    close_rel(g, w, 1e-12),
                    "step {step} element {i}: {g} vs PyTorch {w}"
                );
            }
        }
    }

    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.8, 0.95), 'eps': 1e-06, 'weight_decay': 0.05, 'amsgrad': True}
    pub const TORCH_ADAM: &[(usize, [f64; 3])] = &[
        (
            1,
            [0.5499980000799968, -1.249999884398795, 1.950000038045538],
        ),
        (
            2,
            [0.5399638563110406, -1.3001303510315316, 1.9000348394465254],
        ),
        (
            3,
            [0.518076788809311, -1.3505710908965203, 1.850128436190875],
        ),
        (
            6,
            [0.5234146593254092, -1.504599530193431, 1.7010064649811794],
        ),
        (
            7,
            [0.5336711477994329, -1.5568512324458712, 1.651579652792786],
        ),
        (
            30,
            [0.5225435879792959, -2.1063203441519716, 0.6151050691020314],
        ),
    ];
    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.8, 0.95), 'eps': 1e-06, 'weight_decay': 0.3, 'maximize': True}
    pub const TORCH_ADAMW: &[(usize, [f64; 3])] = &[
        (
            1,
            [0.44250099998000036, -1.1320001015184225, 2.0199999588211166],
        ),
        (
            2,
            [0.3872390625253803, -1.0675632793765775, 2.0397120844982304],
        ),
        (
            3,
            [0.3323916937155772, -1.0111728603750023, 2.059148219343583],
        ),
        (
            6,
            [0.1678674590809123, -0.9398565672217216, 2.115908003948125],
        ),
        (
            7,
            [0.11303666975313928, -0.9451090324617559, 2.1343434997822435],
        ),
        (
            30,
            [-0.5552411681843078, -1.0596384862211075, 2.503263075531925],
        ),
    ];
    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.8, 0.95), 'eps': 1e-06, 'weight_decay': 0.05}
    pub const TORCH_ADAMAX: &[(usize, [f64; 3])] = &[
        (
            1,
            [0.5499980000799968, -1.249999884398795, 1.950000038045538],
        ),
        (
            2,
            [0.5407404692314347, -1.294817527219562, 1.8996516185354015],
        ),
        (
            3,
            [0.5210132421421844, -1.33771969040362, 1.8489638037511738],
        ),
        (
            6,
            [0.5175662188941271, -1.463718273564992, 1.6949530621555788],
        ),
        (
            7,
            [0.5277967038083248, -1.5062048674126443, 1.6429943693878049],
        ),
        (
            30,
            [0.5231277709015805, -2.0932825977318172, 0.3514527006840745],
        ),
    ];
    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.3, 0.95), 'eps': 0.001, 'maximize': True}
    pub const TORCH_ADAMAX_MAX: &[(usize, [f64; 3])] = &[
        (
            1,
            [0.45098039215686275, -1.1501013129256938, 2.0499588549687493],
        ),
        (
            2,
            [0.40700277277583813, -1.1093558572326203, 2.0997539922276864],
        ),
        (
            3,
            [0.36239810874985473, -1.0790621685394683, 2.1494745494483793],
        ),
        (
            6,
            [0.22334034935073363, -1.0403932239317364, 2.29854266287658],
        ),
        (
            7,
            [0.17565566930754034, -1.0382721314193688, 2.3482363275225757],
        ),
        (
            30,
            [-0.5479313283335635, -1.0654743796078476, 3.4925598907329465],
        ),
    ];
    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.8, 0.95), 'eps': 1e-06, 'weight_decay': 0.05, 'momentum_decay': 0.1}
    pub const TORCH_NADAM: &[(usize, [f64; 3])] = &[
        (
            1,
            [0.5548096489711619, -1.2548117146308226, 1.9451882003497991],
        ),
        (
            2,
            [0.5116169161293314, -1.3027494435392126, 1.9020890709148035],
        ),
        (
            3,
            [0.5271786924531137, -1.3506121185328932, 1.860532283752305],
        ),
        (
            6,
            [0.5213724711225852, -1.5039644663961425, 1.7319121296621742],
        ),
        (
            7,
            [0.5252790506779665, -1.5572664245313323, 1.687466842589664],
        ),
        (
            30,
            [0.4996925039385143, -2.0884592132952844, 0.6926331515356388],
        ),
    ];
    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.8, 0.95), 'eps': 1e-06, 'weight_decay': 0.3, 'momentum_decay': 0.004, 'decoupled_weight_decay': True, 'maximize': True}
    pub const TORCH_NADAMW: &[(usize, [f64; 3])] = &[
        (
            1,
            [0.43773719112909587, -1.1272362070638215, 2.024763859024753],
        ),
        (
            2,
            [0.37823600214318587, -1.077849125712766, 2.0379254763359382],
        ),
        (
            3,
            [0.3192151213397605, -1.0407648217213097, 2.0495796717904535],
        ),
        (
            6,
            [0.14002673497232745, -0.9992936572164739, 2.088939002361809],
        ),
        (
            7,
            [0.08051740261085186, -1.0017748828574027, 2.103828239611322],
        ),
        (
            30,
            [-0.5347087650013875, -1.0563727732654165, 2.4769262435630606],
        ),
    ];
    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.8, 0.9), 'eps': 1e-06, 'weight_decay': 0.05}
    pub const TORCH_RADAM: &[(usize, [f64; 3])] = &[
        (1, [0.50125, -1.2216260221647426, 1.9342893218813453]),
        (
            2,
            [0.5024634982638888, -1.2448145957461192, 1.869320638023484],
        ),
        (
            3,
            [0.5036388262966597, -1.2697032109202653, 1.8051445081419073],
        ),
        (
            6,
            [0.518329054973404, -1.3380856766558633, 1.6667059131278867],
        ),
        (
            7,
            [0.5327795930322434, -1.3549703103324733, 1.6503547485818124],
        ),
        (
            30,
            [0.5253567721823957, -2.114546818052316, 0.8572539885483437],
        ),
    ];
    /// `torch.optim` (PyTorch 2.15, float64, foreach=False): {'lr': 0.05, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0.3, 'decoupled_weight_decay': True, 'maximize': True}
    pub const TORCH_RADAMW: &[(usize, [f64; 3])] = &[
        (1, [0.49, -1.1573739778352574, 2.0307106781186546]),
        (
            2,
            [0.4798894736842105, -1.1185183128213945, 2.0612453407973077],
        ),
        (
            3,
            [0.4696631593825065, -1.0833742405157472, 2.0916134470396295],
        ),
        (
            6,
            [0.4408010601629106, -1.0075641467436725, 2.120902285701206],
        ),
        (
            7,
            [0.4325185573154614, -0.9915934003316573, 2.0907299069379945],
        ),
        (
            30,
            [0.21528973088823244, -0.7693998078913296, 1.5546601638111621],
        ),
    ];
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    /// PyTorch's `_single_tensor_adam`, transcribed for one tensor in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        p0: &[f64],
        n: usize,
        grad: GradFn,
        lr: f64,
        (b1, b2): (f64, f64),
        eps: f64,
        wd: f64,
        decoupled: bool,
        amsgrad: bool,
        maximize: bool,
    ) -> Vec<Vec<f64>> {
        let mut p = p0.to_vec();
        let k = p.len();
        let (mut m, mut v, mut vmax) = (vec![0.0; k], vec![0.0; k], vec![0.0f64; k]);
        let mut out = Vec::new();
        for t in 1..=n {
            let t = t as f64;
            let mut g = grad(&p);
            for i in 0..k {
                if maximize {
                    g[i] = -g[i];
                }
                if wd != 0.0 {
                    if decoupled {
                        p[i] *= 1.0 - lr * wd;
                    } else {
                        g[i] += wd * p[i];
                    }
                }
                m[i] += (1.0 - b1) * (g[i] - m[i]);
                v[i] = v[i] * b2 + (1.0 - b2) * g[i] * g[i];
                let bc1 = 1.0 - b1.powf(t);
                let bc2 = 1.0 - b2.powf(t);
                let denom = if amsgrad {
                    vmax[i] = vmax[i].max(v[i]);
                    vmax[i].sqrt() / bc2.sqrt() + eps
                } else {
                    v[i].sqrt() / bc2.sqrt() + eps
                };
                p[i] += -(lr / bc1) * m[i] / denom;
            }
            out.push(p.clone());
        }
        out
    }

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    fn recipe<F: Float>(name: &str, s: &str) -> Recipe<F> {
        let t = table(s);
        let mut h = Hyper::new(name, &t);
        let r = build::<F>(name, &mut h).unwrap();
        h.finish().unwrap();
        r
    }

    #[test]
    fn defaults_are_pytorchs() {
        let t = table("");
        let a = AdamConfig::from_hyper("adam", &mut Hyper::new("adam", &t)).unwrap();
        assert_eq!(a, AdamConfig::default());
        assert_eq!(
            (a.lr, a.betas, a.eps, a.weight_decay),
            (1e-3, (0.9, 0.999), 1e-8, 0.0)
        );
        assert!(!a.amsgrad && !a.maximize && !a.decoupled_weight_decay);
        let w = AdamConfig::from_hyper("adamw", &mut Hyper::new("adamw", &t)).unwrap();
        assert_eq!(w, AdamConfig::adamw());
        assert_eq!(
            (w.lr, w.weight_decay, w.decoupled_weight_decay),
            (1e-3, 1e-2, true)
        );
        let r = w.recipe::<f32>().unwrap();
        assert_eq!(r.name, "adamw");
        assert_eq!(
            r.chain.describe(),
            "scale_by_adam > add_decayed_weights > scale_by_learning_rate"
        );
        let r = recipe::<f32>("adam", "maximize = true\namsgrad = true");
        assert_eq!(
            r.chain.describe(),
            "scale > add_decayed_weights > scale_by_adam > scale_by_learning_rate"
        );
    }

    #[test]
    fn invalid_hyperparameters_are_named() {
        let t = table("betas = [0.9, 1.0]");
        let e =
            AdamConfig::from_hyper("adam", &mut Hyper::new("optimizer `adam`", &t)).unwrap_err();
        assert!(e.to_string().contains("betas"), "{e}");
        let t = table("eps = -1e-8");
        let e =
            AdamConfig::from_hyper("adam", &mut Hyper::new("optimizer `adam`", &t)).unwrap_err();
        assert!(
            e.to_string().contains("`eps` = -0.00000001") || e.to_string().contains("eps"),
            "{e}"
        );
        // AdamW's decay is always decoupled: the key is not one of its hyperparameters.
        let t = table("decoupled_weight_decay = false");
        let mut h = Hyper::new("optimizer `adamw`", &t);
        AdamConfig::from_hyper("adamw", &mut h).unwrap();
        let e = h.finish().unwrap_err().to_string();
        assert!(
            e.contains("unknown hyperparameter `decoupled_weight_decay`"),
            "{e}"
        );
    }

    #[test]
    fn hand_computed_adam_two_steps() {
        // lr 0.1, β = (0.5, 0.75), ε = 0.1, coupled weight decay 0.5, p₀ = 2, g = 1 then −3
        // (before decay).
        let r = recipe::<f64>(
            "adam",
            "lr = 0.1\nbetas = [0.5, 0.75]\neps = 0.1\nweight_decay = 0.5",
        );
        let gs: [GradFn; 2] = [&|_| vec![1.0], &|_| vec![-3.0]];
        let out = run(r, &[2.0], &gs);
        // Step 1: g = 1 + 0.5·2 = 2; m = 1; v = 1; bc₁ = 0.5; bc₂ = 0.25;
        // d = 1/0.5 + 0.1 = 2.1; p = 2 − 0.1·(1/0.5)/2.1 = 2 − 0.2/2.1.
        let p1 = 2.0 - 0.2 / 2.1;
        assert!(close_rel(out[0][0], p1, 1e-15), "{} vs {p1}", out[0][0]);
        // Step 2: g = −3 + 0.5·p₁; m = 1 + 0.5(g − 1); v = 0.75 + 0.25 g²;
        // bc₁ = 0.75; bc₂ = 1 − 0.5625 = 0.4375.
        let g = -3.0 + 0.5 * p1;
        let m = 1.0 + 0.5 * (g - 1.0);
        let v = 0.75 + 0.25 * g * g;
        let p2 = p1 - 0.1 / 0.75 * m / (v.sqrt() / 0.4375f64.sqrt() + 0.1);
        assert!(close_rel(out[1][0], p2, 1e-14), "{} vs {p2}", out[1][0]);
        assert!(close_rel(p2, 1.937_592_111_599_511_6, 1e-15), "{p2}");
    }

    #[test]
    fn hand_computed_adamw_amsgrad_three_steps() {
        // AdamW with AMSGrad: lr 0.5, β = (0.9, 0.5), ε = 1e-3, decoupled decay 0.2.
        let r = recipe::<f64>(
            "adamw",
            "lr = 0.5\nbetas = [0.9, 0.5]\neps = 1e-3\nweight_decay = 0.2\namsgrad = true",
        );
        let gs: [GradFn; 3] = [&|_| vec![4.0], &|_| vec![0.0], &|_| vec![1.0]];
        let out = run(r, &[1.0], &gs);
        // Step 1: p ← 1·(1 − 0.1) = 0.9; m = 0.4; v = 8; bc₁ = 0.1; bc₂ = 0.5;
        // d = √8/√0.5 + 1e-3 = 4.001; p = 0.9 − 0.5·4/4.001.
        let p1 = 0.9 - 2.0 / 4.001;
        assert!(close_rel(out[0][0], p1, 1e-15), "{} vs {p1}", out[0][0]);
        // Step 2: g = 0: m = 0.36, v = 4 (v_max stays 8); bc₁ = 0.19; bc₂ = 0.75.
        let p2 = p1 * 0.9 - 0.5 / 0.19 * 0.36 / (8f64.sqrt() / 0.75f64.sqrt() + 1e-3);
        assert!(close_rel(out[1][0], p2, 1e-14), "{} vs {p2}", out[1][0]);
        // Step 3: g = 1: m = 0.424, v = 2.5, v_max = 8; bc₁ = 0.271; bc₂ = 0.875.
        let p3 = p2 * 0.9 - 0.5 / 0.271 * 0.424 / (8f64.sqrt() / 0.875f64.sqrt() + 1e-3);
        assert!(close_rel(out[2][0], p3, 1e-13), "{} vs {p3}", out[2][0]);
    }

    #[test]
    fn matches_pytorch_transcription_over_many_steps() {
        let grad = |p: &[f64]| {
            vec![
                p[0] * p[0] - 0.3,
                (3.0 * p[1]).sin() + 0.1 * p[0],
                p[2].abs().sqrt() - 0.2,
            ]
        };
        let p0 = [0.5, -1.2, 2.0];
        for (name, wd, dec, ams, max) in [
            ("adam", 0.0, false, false, false),
            ("adam", 0.05, false, true, false),
            ("adamw", 0.05, true, false, true),
            ("adamw", 0.3, true, true, false),
        ] {
            let s = format!("lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6\nweight_decay = {wd}\namsgrad = {ams}\nmaximize = {max}");
            let got = run_fn(recipe::<f64>(name, &s), &p0, 50, &grad);
            let want = reference(&p0, 50, &grad, 0.05, (0.8, 0.95), 1e-6, wd, dec, ams, max);
            assert_traj(&got, &want, 1e-12);
        }
    }

    #[test]
    fn matches_pytorch() {
        let s = "lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6\nweight_decay = 0.05\namsgrad = true";
        assert_torch(recipe("adam", s), TORCH_ADAM);
        let s = "lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6\nweight_decay = 0.3\nmaximize = true";
        assert_torch(recipe("adamw", s), TORCH_ADAMW);
        // `adam` with PyTorch's `decoupled_weight_decay = true` is AdamW.
        let s = "lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6\nweight_decay = 0.3\nmaximize = true\ndecoupled_weight_decay = true";
        assert_torch(recipe("adam", s), TORCH_ADAMW);
    }

    /// PyTorch 2.15 in float32 (`torch.set_default_dtype(torch.float32)`, foreach=False), step 30
    /// of the same runs as the float64 references, for every member of the family.
    #[test]
    fn f32_matches_pytorch_float32() {
        let base = "lr = 0.05\nbetas = [0.8, 0.95]\neps = 1e-6";
        let cases: [(&str, String, [f64; 3]); 8] = [
            (
                "adam",
                format!("{base}\nweight_decay = 0.05\namsgrad = true"),
                [0.5225436091423035, -2.1063201427459717, 0.6151052117347717],
            ),
            (
                "adamw",
                format!("{base}\nweight_decay = 0.3\nmaximize = true"),
                [-0.5552412271499634, -1.059638500213623, 2.503265142440796],
            ),
            (
                "adamax",
                format!("{base}\nweight_decay = 0.05"),
                [0.5231277942657471, -2.093282699584961, 0.35145315527915955],
            ),
            (
                "adamax",
                "lr = 0.05\nbetas = [0.3, 0.95]\neps = 1e-3\nmaximize = true".into(),
                [-0.5479313135147095, -1.0654743909835815, 3.4925594329833984],
            ),
            (
                "nadam",
                format!("{base}\nweight_decay = 0.05\nmomentum_decay = 0.1"),
                [0.4996925890445709, -2.088459014892578, 0.6926331520080566],
            ),
            (
                "nadam",
                format!(
                    "{base}\nweight_decay = 0.3\ndecoupled_weight_decay = true\nmaximize = true"
                ),
                [-0.5347087383270264, -1.0563727617263794, 2.476926565170288],
            ),
            (
                "radam",
                "lr = 0.05\nbetas = [0.8, 0.9]\neps = 1e-6\nweight_decay = 0.05".into(),
                [0.5253568291664124, -2.11454701423645, 0.8572539687156677],
            ),
            (
                "radam",
                "lr = 0.05\nweight_decay = 0.3\ndecoupled_weight_decay = true\nmaximize = true"
                    .into(),
                [0.21528984606266022, -0.7694000601768494, 1.5546607971191406],
            ),
        ];
        for (name, s, want) in cases {
            let t = table(&s);
            let mut h = Hyper::new(name, &t);
            let r = crate::optimizers::build::<f32>(name, &mut h).unwrap();
            h.finish().unwrap();
            let got = run_fn(r, &[0.5, -1.2, 2.0], 30, &torch_grad);
            for (i, (&g, &w)) in got[29].iter().zip(&want).enumerate() {
                assert!(
                    close_rel(g, w, 2e-6),
                    "{name} ({s}) element {i}: {g} vs PyTorch {w}"
                );
            }
        }
    }

    #[test]
    fn adamw_without_decay_is_adam_bit_for_bit() {
        let a = recipe::<f64>("adam", "lr = 0.01");
        let w = recipe::<f64>("adamw", "lr = 0.01\nweight_decay = 0.0");
        let p0 = [0.3, -0.7];
        assert_eq!(run_fn(a, &p0, 20, &quad), run_fn(w, &p0, 20, &quad));
        let a = recipe::<f32>("adam", "lr = 0.01\namsgrad = true");
        let w = recipe::<f32>("adamw", "lr = 0.01\nweight_decay = 0.0\namsgrad = true");
        assert_eq!(run_fn(a, &p0, 20, &quad), run_fn(w, &p0, 20, &quad));
    }

    #[test]
    fn amsgrad_differs_once_v_decreases() {
        // Large gradients then small ones: v decays after step 2, so v_max > v from then on.
        let g = |k: usize| if k < 2 { 5.0 } else { 0.1 };
        let grads: Vec<Box<GradBox>> = (0..6)
            .map(|k| Box::new(move |_: &[f64]| vec![g(k)]) as _)
            .collect();
        let grads: Vec<GradFn> = grads.iter().map(|b| b.as_ref()).collect();
        let plain = run(
            recipe::<f64>("adam", "lr = 0.1\nbetas = [0.9, 0.5]"),
            &[0.0],
            &grads,
        );
        let ams = run(
            recipe::<f64>("adam", "lr = 0.1\nbetas = [0.9, 0.5]\namsgrad = true"),
            &[0.0],
            &grads,
        );
        // While v grows (steps 1–2) they are identical ...
        assert_eq!(plain[..2], ams[..2]);
        // ... afterwards AMSGrad divides by the larger v_max, so it moves less.
        for k in 2..6 {
            let dp = plain[k][0] - plain[k - 1][0];
            let da = ams[k][0] - ams[k - 1][0];
            assert!(da.abs() < dp.abs(), "step {}: {da} vs {dp}", k + 1);
        }
    }

    #[test]
    fn maximize_equals_negated_gradient() {
        for name in ["adam", "adamw"] {
            let a = recipe::<f64>(name, "lr = 0.02\nweight_decay = 0.1\nmaximize = true");
            let b = recipe::<f64>(name, "lr = 0.02\nweight_decay = 0.1");
            assert_maximize_negates(a, b);
        }
    }

    #[test]
    fn f32_tracks_f64() {
        for (name, s) in [
            ("adam", "lr = 0.01\namsgrad = true"),
            ("adamw", "lr = 0.01\nweight_decay = 0.1"),
        ] {
            assert_f32_tracks_f64(recipe::<f32>(name, s), recipe::<f64>(name, s));
        }
    }

    #[test]
    fn converges_on_a_quadratic() {
        for name in ["adam", "adamw"] {
            let s = "lr = 0.05\nweight_decay = 0.0";
            assert_converges(recipe::<f64>(name, s), 2000, name);
        }
        let r = recipe::<f64>("adam", "lr = 0.05\namsgrad = true");
        assert_converges(r, 3000, "amsgrad");
    }

    #[test]
    fn scheduled_momentum_replaces_beta1() {
        let mk = |b1: f64| {
            AdamConfig {
                lr: 0.1,
                betas: (b1, 0.999),
                ..Default::default()
            }
            .recipe::<f64>()
            .unwrap()
        };
        let p0 = [1.0, 1.0];
        let mut params = crate::ParamStore::single("w", p0.to_vec());
        let mut opt = crate::Optimizer::new(mk(0.9), &params).unwrap();
        opt.set_momentum(0, Some(0.6));
        for _ in 0..5 {
            let g = quad(&params.params[0].value);
            params.set_grad(0, &g);
            opt.step(&mut params).unwrap();
        }
        let want = run_fn(mk(0.6), &p0, 5, &quad);
        assert_eq!(params.params[0].value, want[4]);
    }
}

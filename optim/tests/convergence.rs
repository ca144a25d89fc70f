//! Table-driven convergence suite: every named optimizer on an ill-conditioned quadratic, on
//! Rosenbrock, and on a quadratic with noisy gradients; plus identity tests between recipes.

use optim::transforms::{scale, scale_by_learning_rate, trace};
use optim::{optimizers, Chain, Hyper, Optimizer, Param, ParamStore, Recipe};

/// A small deterministic generator for gradient noise (xorshift64*, Box–Muller).
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[derive(Clone, Copy, Debug)]
enum Problem {
    /// ½ Σ λᵢ (xᵢ − 1)², λ from 1 to 30 (condition number 30), start at 0.
    Quadratic,
    /// (1 − x)² + 100 (y − x²)² from (−1.5, 2).
    Rosenbrock,
    /// The quadratic with N(0, 0.5²) noise on every gradient element.
    Noisy,
}

impl Problem {
    fn start(self) -> Vec<f64> {
        match self {
            Problem::Rosenbrock => vec![-1.5, 2.0],
            _ => vec![0.0; 8],
        }
    }
    fn lambdas(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 30f64.powf(i as f64 / (n - 1) as f64))
            .collect()
    }
    fn loss(self, x: &[f64]) -> f64 {
        match self {
            Problem::Rosenbrock => (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2),
            _ => Self::lambdas(x.len())
                .iter()
                .zip(x)
                .map(|(l, x)| 0.5 * l * (x - 1.0).powi(2))
                .sum(),
        }
    }
    fn grad(self, x: &[f64], g: &mut [f64], rng: &mut Rng) {
        match self {
            Problem::Rosenbrock => {
                g[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * (x[1] - x[0] * x[0]);
                g[1] = 200.0 * (x[1] - x[0] * x[0]);
            }
            _ => {
                for ((g, x), l) in g.iter_mut().zip(x).zip(Self::lambdas(x.len())) {
                    *g = l * (x - 1.0);
                    if let Problem::Noisy = self {
                        *g += 0.5 * rng.normal();
                    }
                }
            }
        }
    }
}

/// The quadratics' 8 unknowns form a 2×4 matrix, so that matrix optimizers (Muon) see a matrix.
fn store(problem: Problem) -> ParamStore<f64> {
    let x = problem.start();
    let shape = if x.len() == 8 {
        vec![2, 4]
    } else {
        vec![x.len()]
    };
    ParamStore::new(vec![optim::Param::new("x", &shape, x)])
}

/// Runs `steps` steps and returns (initial loss, final loss) where, for the noisy problem, the
/// final loss is the mean over the last 20% of steps.
fn run(recipe: Recipe<f64>, problem: Problem, steps: usize) -> (f64, f64) {
    let mut params = store(problem);
    let mut opt = Optimizer::new(recipe, &params).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let initial = problem.loss(&params.params[0].value);
    let tail = steps / 5;
    let mut tail_sum = 0.0;
    let mut g = vec![0.0; params.params[0].value.len()];
    for t in 0..steps {
        problem.grad(&params.params[0].value, &mut g, &mut rng);
        params.set_grad(0, &g);
        opt.step(&mut params).unwrap();
        if t >= steps - tail {
            tail_sum += problem.loss(&params.params[0].value);
        }
    }
    let last = problem.loss(&params.params[0].value);
    let fin = match problem {
        Problem::Noisy => tail_sum / tail as f64,
        _ => last,
    };
    (initial, fin)
}

fn recipe(toml_text: &str) -> Recipe<f64> {
    let t: toml::Table = toml_text.parse().unwrap();
    optimizers::from_table("convergence table", &t, &[])
        .unwrap_or_else(|e| panic!("{toml_text}: {e}"))
}

/// (optimizer config, quadratic/noisy steps, rosenbrock config, rosenbrock steps)
const TABLE: &[(&str, &str)] = &[
    ("name='sgd'\nlr=0.03", "name='sgd'\nlr=1e-3"),
    (
        "name='sgd'\nlr=0.02\nmomentum=0.9",
        "name='sgd'\nlr=5e-4\nmomentum=0.9",
    ),
    (
        "name='sgd'\nlr=0.02\nmomentum=0.9\nnesterov=true",
        "name='sgd'\nlr=5e-4\nmomentum=0.9\nnesterov=true",
    ),
    ("name='adagrad'\nlr=0.5", "name='adagrad'\nlr=0.5"),
    ("name='rmsprop'\nlr=0.01", "name='rmsprop'\nlr=3e-3"),
    (
        "name='rmsprop'\nlr=0.01\ncentered=true\nmomentum=0.5",
        "name='rmsprop'\nlr=1e-3\ncentered=true\nmomentum=0.5",
    ),
    ("name='adadelta'\nlr=5.0", "name='adadelta'\nlr=1.0"),
    ("name='adam'\nlr=0.05", "name='adam'\nlr=0.02"),
    (
        "name='adam'\nlr=0.05\namsgrad=true",
        "name='adam'\nlr=0.02\namsgrad=true",
    ),
    (
        "name='adamw'\nlr=0.05\nweight_decay=1e-4",
        "name='adamw'\nlr=0.02\nweight_decay=1e-4",
    ),
    ("name='adamax'\nlr=0.1", "name='adamax'\nlr=0.02"),
    ("name='nadam'\nlr=0.05", "name='nadam'\nlr=0.02"),
    ("name='radam'\nlr=0.05", "name='radam'\nlr=5e-3"),
    ("name='lion'\nlr=0.005", "name='lion'\nlr=2e-3"),
    ("name='lamb'\nlr=0.05", "name='lamb'\nlr=0.02"),
    (
        "name='lars'\nlr=1.0\ntrust_coefficient=0.02",
        "name='lars'\nlr=0.2\ntrust_coefficient=0.02",
    ),
    ("name='adabelief'\nlr=0.05", "name='adabelief'\nlr=0.02"),
    (
        "name='sgd_schedule_free'\nlr=0.02",
        "name='sgd_schedule_free'\nlr=2e-3",
    ),
    (
        "name='adamw_schedule_free'\nlr=0.05",
        "name='adamw_schedule_free'\nlr=0.02",
    ),
    ("name='muon'\nlr=0.01", "name='muon'\nlr=0.02\nadam_lr=0.02"),
    (
        "name='signsgd'\nlr=0.005\nmomentum=0.9",
        "name='signsgd'\nlr=1e-3\nmomentum=0.9",
    ),
];

#[test]
fn table_covers_every_optimizer() {
    for name in optimizers::NAMES {
        assert!(
            TABLE
                .iter()
                .any(|(q, _)| q.contains(&format!("name='{name}'"))),
            "{name} is missing from the convergence table"
        );
    }
}

#[test]
fn every_optimizer_converges_on_every_problem() {
    let mut failures = vec![];
    for (quad, rosen) in TABLE {
        for (problem, cfg, steps, factor) in [
            (Problem::Quadratic, quad, 2000, 1e-3),
            (Problem::Noisy, quad, 2000, 0.1),
            (Problem::Rosenbrock, rosen, 5000, 0.05),
        ] {
            let (initial, fin) = run(recipe(cfg), problem, steps);
            if fin.is_nan() || fin > factor * initial {
                failures.push(format!(
                    "{:?} with {}: loss {initial:.4} -> {fin:.3e} (needed <= {:.3e})",
                    problem,
                    cfg.replace('\n', " "),
                    factor * initial
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "did not converge:\n{}",
        failures.join("\n")
    );
}

/// Two recipes give bit-identical trajectories for 50 steps on the noisy problem.
fn assert_identical(a: Recipe<f64>, b: Recipe<f64>) {
    let run_traj = |r: Recipe<f64>| {
        let mut params = ParamStore::single("x", Problem::Noisy.start());
        let mut opt = Optimizer::new(r, &params).unwrap();
        let mut rng = Rng(7);
        let mut g = vec![0.0; 8];
        let mut out = vec![];
        for _ in 0..50 {
            Problem::Noisy.grad(&params.params[0].value, &mut g, &mut rng);
            params.set_grad(0, &g);
            opt.step(&mut params).unwrap();
            out.extend_from_slice(&params.params[0].value);
        }
        out
    };
    assert_eq!(run_traj(a), run_traj(b));
}

#[test]
fn momentum_zero_is_plain_sgd() {
    let plain = recipe("name='sgd'\nlr=0.01");
    let chain = Chain::new(vec![])
        .unwrap()
        .then(trace(0.0, 0.0, false))
        .unwrap()
        .then(scale_by_learning_rate())
        .unwrap();
    let with_trace = Recipe {
        name: "sgd+trace(0)".into(),
        chain,
        lr: 0.01,
        weight_decay: 0.0,
    };
    assert_identical(plain, with_trace);
}

#[test]
fn adamw_without_decay_is_adam() {
    assert_identical(
        recipe("name='adam'\nlr=0.01\nbetas=[0.8,0.99]"),
        recipe("name='adamw'\nlr=0.01\nbetas=[0.8,0.99]\nweight_decay=0.0"),
    );
}

#[test]
fn chain_with_identity_is_unchanged() {
    let mut with_identity = recipe("name='adam'\nlr=0.01");
    with_identity.chain = with_identity.chain.prepend(scale(1.0)).unwrap();
    assert_identical(recipe("name='adam'\nlr=0.01"), with_identity);
}

#[test]
fn nesterov_differs_from_heavy_ball() {
    let traj = |cfg: &str| run(recipe(cfg), Problem::Quadratic, 20).1;
    assert_ne!(
        traj("name='sgd'\nlr=0.01\nmomentum=0.9"),
        traj("name='sgd'\nlr=0.01\nmomentum=0.9\nnesterov=true")
    );
}

/// Every optimizer beyond `torch.optim` builds from an empty config (its defaults), in f32 and f64,
/// and moves a matrix and a bias against their gradient in one step.
#[test]
fn all_build_with_defaults_and_descend() {
    fn run<F: optim::Float>(name: &str) {
        let t = toml::Table::new();
        let mut h = Hyper::new(format!("optimizer `{name}`"), &t);
        let recipe = optimizers::build::<F>(name, &mut h).unwrap();
        h.finish().unwrap();
        let mut params = ParamStore::new(vec![
            Param::new(
                "w",
                &[2, 3],
                (0..6).map(|i| F::of(0.1 * i as f64)).collect(),
            ),
            Param::new("b", &[3], vec![F::of(0.5); 3]),
        ]);
        let mut opt = Optimizer::new(recipe, &params).unwrap();
        let before: Vec<Vec<F>> = params.params.iter().map(|p| p.value.clone()).collect();
        params.set_grad(0, &[F::of(1.0); 6]);
        params.set_grad(1, &[F::of(-1.0); 3]);
        opt.step(&mut params).unwrap();
        for (i, sign) in [(0, -1.0), (1, 1.0)] {
            for (a, b) in params.params[i].value.iter().zip(&before[i]) {
                let d = (a.f64() - b.f64()) * sign;
                assert!(d > 0.0 && d.is_finite(), "{name}: param {i} moved by {d}");
            }
        }
    }
    for name in [
        "lion",
        "lamb",
        "lars",
        "adabelief",
        "sgd_schedule_free",
        "adamw_schedule_free",
        "muon",
        "signsgd",
    ] {
        run::<f32>(name);
        run::<f64>(name);
    }
}

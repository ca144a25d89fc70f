//! `gradlab landscape FILE.toml --json OUT.json [--plot OUT.svg]`: runs optimizers on analytic
//! test functions and records their trajectories. `gradlab landscape --run DIR` draws a trained
//! network's loss along its path instead (`crate::landscape_run`).
//!
//! The config file ([`landscape::config`]) names a problem and one `[optimizer]` or several
//! `[[optimizers]]`; the JSON ([`landscape::json`]) holds every run's points, losses and
//! learning rates; the plot is the report's ([`report::landscape_plot`]).
//!
//! A run diverges when a loss or parameter is not finite or some |parameter| exceeds 1e12; it
//! then stops after that step, a note goes to stderr, and the command still succeeds. Nothing
//! is written on error: outputs go to temporary files next to their targets and are renamed at
//! the end.

use std::path::PathBuf;

use anyhow::{Context, Result};

#[derive(clap::Args)]
#[command(after_help = "\
The config (TOML) names a function, a start and the optimizers, e.g.:

  steps = 500
  [problem]
  function = \"rosenbrock\"  # beale, himmelblau, rastrigin, saddle (x²−y²), quartic_saddle,
  start = [-1.5, 2.0]       # monkey_saddle, or quadratic with `matrix` and `vector`
  [[optimizers]]            # or one [optimizer]; also [clip] and [schedule] as in training
  name = \"adam\"
  lr = 0.05

Ready configs: examples/landscape/ (Rosenbrock, a saddle, an ill-conditioned quadratic).")]
pub struct Args {
    /// The problem and optimizers (TOML; the format is below, examples in examples/landscape).
    #[arg(required_unless_present = "run", conflicts_with = "run")]
    pub config: Option<PathBuf>,
    /// Where to write the trajectories (JSON); with --run, the line (default DIR/landscape.json).
    #[arg(long, required_unless_present = "run")]
    pub json: Option<PathBuf>,
    /// Where to write a plot (SVG): paths over a heat map for 2-D problems, loss curves otherwise;
    /// with --run, the loss along the line (default DIR/landscape.svg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// A run folder of `gradlab train`: the train and test loss along the straight line from its
    /// initial to its final weights, α from −0.5 to 1.5.
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// Points along the line (with --run).
    #[arg(long, default_value_t = 41, value_name = "N", requires = "run")]
    pub points: usize,
    /// Also a 2-D slice of N × N points around the final weights in filter-normalised random
    /// directions (with --run; writes landscape_slice.json and .svg into the run folder).
    #[arg(long, value_name = "N", requires = "run")]
    pub slice: Option<usize>,
    /// Half-width of the slice, in filter-normalised units.
    #[arg(long, default_value_t = 1.0, value_name = "S", requires = "slice")]
    pub span: f64,
    /// Seed of the slice's random directions.
    #[arg(long, default_value_t = 0, value_name = "N", requires = "slice")]
    pub slice_seed: u64,
    /// Also retrain the run (in a scratch folder, the same numbers) saving its weights about 40
    /// times, and draw the path on its top two PCA directions over an N × N grid of the loss
    /// (with --run; writes landscape_trajectory.json and .svg into the run folder).
    #[arg(long, value_name = "N", requires = "run")]
    pub trajectory: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    if let Some(dir) = &args.run {
        // Every flag is checked before the line's evaluations start.
        if let Some(n) = args.slice {
            diagnose::surface::Slice::check(n, args.span)?;
        }
        if let Some(n) = args.trajectory {
            diagnose::surface::Trajectory::check(crate::landscape_run::TRAJECTORY_SAVES, n)?;
        }
        for (path, flag) in [(&args.json, "--json"), (&args.plot, "--plot")] {
            if let Some(p) = path {
                crate::outputs::check_writable(p, flag)?;
            }
        }
        crate::landscape_run::run(dir, args.points, args.json.clone(), args.plot.clone())?;
        if let Some(n) = args.slice {
            crate::landscape_run::slice(dir, n, args.span, args.slice_seed)?;
        }
        if let Some(n) = args.trajectory {
            crate::landscape_run::trajectory(dir, n)?;
        }
        return Ok(());
    }
    let (Some(path), Some(json_path)) = (args.config.as_ref(), args.json.as_ref()) else {
        anyhow::bail!("give a landscape config FILE and --json OUT.json, or --run DIR");
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg = landscape::Config::parse(&text).with_context(|| format!("{}", path.display()))?;
    let mut runs = Vec::with_capacity(cfg.runs.len());
    for spec in &cfg.runs {
        let r = cfg
            .simulate(spec)
            .with_context(|| format!("{}", path.display()))?;
        if r.diverged {
            eprintln!(
                "warning: run `{}` diverged at step {} ({}); it stopped there",
                r.label,
                r.params.len(),
                r.stop_reason.as_deref().unwrap_or("diverged")
            );
        }
        runs.push(r);
    }
    let json = landscape::to_json(&cfg, &runs);
    let json = serde_json::to_string_pretty(&json)? + "\n";
    let mut outputs = vec![(json_path.clone(), json)];
    if let Some(p) = &args.plot {
        let svg = report::landscape_plot::render(&cfg.function, &cfg.start, &runs)
            .with_context(|| format!("cannot draw the plot for {}", path.display()))?;
        outputs.push((p.clone(), svg));
    }
    crate::outputs::write_all_or_nothing(&outputs)?;
    for r in &runs {
        let end = match r.first_nonfinite_step {
            Some(s) => format!("diverged at step {s}"),
            None if r.diverged => format!("diverged after {} steps", r.params.len()),
            None => format!(
                "f = {} after {} steps",
                present::fmt_num(r.final_loss),
                r.params.len()
            ),
        };
        println!("{}: {end}", r.label);
    }
    let written: Vec<String> = outputs
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    println!("wrote {}", written.join(", "));
    Ok(())
}

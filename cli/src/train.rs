//! `gradlab train FILE.toml [--set key=value ...] [--epochs N] [--lr X] … [--resume] [--quiet]`.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args as ClapArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Run config (TOML: seed and the data, model, optimizer, clip, schedule, train, log sections).
    pub config: PathBuf,
    #[command(flatten)]
    pub flags: crate::run_flags::RunFlags,
    /// Continue the run in the log directory from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// No progress bar and no per-epoch lines (the summary line is still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Also run the doctor's instruments (`economy` when no preset is given, or `full`): prints
    /// its report after the summary line and writes doctor.json and plots into the run folder.
    /// Put it after FILE (`train run.toml --doctor`), or give the preset (`--doctor economy`).
    #[arg(long, value_name = "PRESET", num_args = 0..=1, default_missing_value = "economy",
          value_parser = crate::diagnose::parse_preset)]
    pub doctor: Option<::diagnose::Preset>,
}

pub fn run(args: Args) -> Result<()> {
    let sets = args.flags.overrides(&args.config)?;
    let cfg = train::RunConfig::from_file(&args.config, &sets)?;
    let opts = train::Options {
        resume: args.resume,
        quiet: args.quiet,
        stop_after_steps: None,
    };
    let mut doctor = args.doctor.map(::diagnose::Doctor::new);
    let summary = match doctor.as_mut() {
        Some(d) => train::run_observed(&cfg, &opts, d),
        None => train::run(&cfg, &opts),
    }
    .map_err(|e| crate::diagnose::training_error(e, &args.config))?;
    let subject = ::diagnose::Subject::new(&args.config, sets);
    let mut report = crate::diagnose::train_report(doctor, &summary, args.doctor, &subject);
    if let Some(msg) = summary.explain() {
        crate::diagnose::after_train(report.take(), &summary.run_dir)?;
        bail!("{msg}\n{}", crate::diagnose::diverged_remedies(&cfg));
    }
    let mut line = format!(
        "{}: {} steps, {} epochs in {:.1}s",
        cfg.log.dir.display(),
        summary.steps,
        summary.epochs,
        summary.wall_s
    );
    if let train::Stop::EarlyStopped {
        epoch,
        best_epoch,
        best,
    } = &summary.stop
    {
        line += &format!(
            "; early stop at epoch {epoch}, best epoch {best_epoch} ({best:.4}), weights restored"
        );
    }
    if let Some(r) = &summary.last {
        for (name, v) in [
            ("val_accuracy", r.val_accuracy),
            ("test_loss", r.test_loss),
            ("test_accuracy", r.test_accuracy),
        ] {
            if let Some(v) = v {
                line += &format!("; {name} {v:.4}");
            }
        }
    }
    println!("{line}");
    crate::diagnose::after_train(report, &summary.run_dir)?;
    Ok(())
}

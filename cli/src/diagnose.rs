//! `gradlab diagnose FILE.toml [--json OUT.json] [--preset economy|full] [--plots DIR]
//! [--set k=v ...] [--quiet]`: trains with the doctor's instruments on and prints its report;
//! and the `--doctor` part of `gradlab train`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args as ClapArgs;
use diagnose::{Doctor, Preset, Report};

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Run config (the same TOML as `gradlab train`).
    pub config: PathBuf,
    /// Write the report (findings and every reading) as JSON.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// How much to measure: `economy` (cheap, sparse) or `full` (everything, often).
    #[arg(long, default_value = "economy", value_parser = parse_preset)]
    pub preset: Preset,
    /// Folder for the SVG plots (default: next to the JSON; none without --json).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    #[command(flatten)]
    pub flags: crate::run_flags::RunFlags,
    /// No progress bar and no per-epoch lines while training.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn parse_preset(s: &str) -> std::result::Result<Preset, String> {
    s.parse()
}

pub fn preset_name(p: Preset) -> &'static str {
    match p {
        Preset::Economy => "economy",
        Preset::Full => "full",
    }
}

/// Trains `cfg` with a doctor of `preset` and returns its report.
pub fn observe(
    cfg: &train::RunConfig,
    opts: &train::Options,
    preset: Preset,
    config: &Path,
) -> Result<Report> {
    let mut doctor = Doctor::new(preset);
    let summary = train::run_observed(cfg, opts, &mut doctor)?;
    Ok(report(doctor, summary, preset, config))
}

/// The report of a finished run.
pub fn report(
    mut doctor: Doctor,
    summary: train::Summary,
    preset: Preset,
    config: &Path,
) -> Report {
    diagnose::progress::record(&mut doctor.timeline);
    let findings = diagnose::detect(&doctor.timeline, &summary);
    Report {
        config: config.display().to_string(),
        preset: preset_name(preset).into(),
        instruments: doctor.instruments().iter().map(|s| s.to_string()).collect(),
        summary,
        findings,
        timeline: doctor.timeline,
        instrument_error: doctor.error,
    }
}

/// Writes the report's JSON to `json` (when given) and its plots into `plots` (when given);
/// returns a line naming what was written.
pub fn write(report: &Report, json: Option<&Path>, plots: Option<&Path>) -> Result<String> {
    let mut wrote = Vec::new();
    if let Some(p) = json {
        report.write_json(p)?;
        wrote.push(p.display().to_string());
    }
    if let Some(dir) = plots {
        for p in diagnose::plots::write_all(report, dir)? {
            wrote.push(p.display().to_string());
        }
    }
    Ok(if wrote.is_empty() {
        String::new()
    } else {
        format!("wrote {}", wrote.join(", "))
    })
}

pub fn run(args: Args) -> Result<()> {
    let sets = args.flags.overrides(&args.config)?;
    let cfg = train::RunConfig::from_file(&args.config, &sets)?;
    let opts = train::Options {
        resume: false,
        quiet: args.quiet,
        stop_after_steps: None,
    };
    let report = observe(&cfg, &opts, args.preset, &args.config)?;
    print!("{}", report.to_text());
    let plots = args.plots.clone().or_else(|| {
        args.json
            .as_ref()
            .map(|j| j.parent().unwrap_or(Path::new("")).to_path_buf())
    });
    let line = write(&report, args.json.as_deref(), plots.as_deref())?;
    if !line.is_empty() {
        println!("{line}");
    }
    Ok(())
}

/// `gradlab train --doctor`: the report of the run when a doctor watched it.
pub fn train_report(
    doctor: Option<Doctor>,
    summary: &train::Summary,
    preset: Option<Preset>,
    config: &Path,
) -> Option<Report> {
    Some(report(doctor?, summary.clone(), preset?, config))
}

/// `gradlab train --doctor`: prints the report and writes `doctor.json` and the plots into the
/// run folder.
pub fn after_train(report: Option<Report>, run_dir: &Path) -> Result<()> {
    if let Some(r) = report {
        print!("{}", r.to_text());
        let line = write(&r, Some(&run_dir.join("doctor.json")), Some(run_dir))?;
        println!("{line}");
    }
    Ok(())
}

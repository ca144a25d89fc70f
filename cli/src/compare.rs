//! `gradlab compare [STUDY.toml] [--store URL] [--out DIR] [--workers N] [--threads-per-run N]
//! [--no-doctor] [--quiet] [--no-report]`: runs a study (problems × optimizers × seeds) in
//! parallel into a results store, then analyses it and writes `report.html` and the tables;
//! and `gradlab report [--store URL] [--study NAME] [--out FILE] [--export DIR]`, which does the
//! analysis and report again from the store.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;
use lab::Study;

#[derive(ClapArgs, Debug)]
pub struct CompareArgs {
    /// Study file (TOML: problems, optimizers with search spaces, seeds, tuning, factors).
    /// Without one, the default study on the bundled datasets runs; `remedies` runs the bundled
    /// studies of the seed articles' remedies and prints each claim's measured verdict.
    pub study: Option<PathBuf>,
    /// Results store: a SQLite file (or `sqlite:PATH`; several processes of one machine may
    /// share it), or `postgres://user@host/db` to share the study between workers on many
    /// machines (add `?sslmode=verify-full&sslrootcert=CA.pem` for TLS checked against your CA).
    /// Default: OUT/results.db.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Output folder for the run logs, the report and the tables. Default: runs/compare/NAME.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Runs trained at once (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Threads inside each run.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub threads_per_run: usize,
    /// Do not run the doctor's instruments (no findings are stored).
    #[arg(long)]
    pub no_doctor: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Do not analyse the study or write the report when it finishes.
    #[arg(long)]
    pub no_report: bool,
}

#[derive(ClapArgs, Debug)]
pub struct ReportArgs {
    /// The study file, when its stored text cannot be read back alone (it names run config
    /// files by relative path). Default: the study's definition as stored.
    #[arg(value_name = "STUDY.toml")]
    pub file: Option<PathBuf>,
    /// Results store: a SQLite file (or `sqlite:PATH`) or a `postgres://` URL. Default:
    /// runs/compare/NAME/results.db.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The study to report (default: the only study in the store, or `default`).
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// The HTML file to write. Default: report.html beside a SQLite store, else
    /// runs/compare/NAME/report.html.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write every table as CSV and JSON into this folder.
    #[arg(long, value_name = "DIR")]
    pub export: Option<PathBuf>,
}

fn default_out(name: &str) -> PathBuf {
    Path::new("runs").join("compare").join(name)
}

pub fn run_compare(args: CompareArgs) -> Result<()> {
    if args.study.as_deref() == Some(Path::new("remedies")) && !Path::new("remedies").exists() {
        return run_remedies(&args);
    }
    let study = match &args.study {
        Some(p) => Study::from_file(p).with_context(|| format!("reading study {}", p.display()))?,
        None => Study::default_study(),
    };
    let out = args.out.clone().unwrap_or_else(|| default_out(&study.name));
    run_one(&study, &args, &out).map(|_| ())
}

/// `gradlab compare remedies`: the bundled remedies studies one after the other (each into
/// OUT/NAME, default runs/compare/remedies/NAME), then every claim with its measured verdict.
fn run_remedies(args: &CompareArgs) -> Result<()> {
    let base = args.out.clone().unwrap_or_else(|| default_out("remedies"));
    let mut analyses = Vec::new();
    for study in Study::remedies() {
        let out = base.join(&study.name);
        if let Some(a) = run_one(&study, args, &out)? {
            analyses.push(a);
        }
    }
    if !analyses.is_empty() {
        println!("\n{}", claims_table(&analyses));
    }
    Ok(())
}

/// The claims of factor levels and what the studies measured, as a Markdown table.
pub fn claims_table(analyses: &[lab::Analysis]) -> String {
    let mut out = String::from(
        "| claim | problem | measured (level vs reference, final test metric over seeds) | verdict |\n|---|---|---|---|\n",
    );
    for a in analyses {
        let acc = a.metric.is_accuracy();
        let show = |e: Option<&lab::analysis::LevelEffect>| match e.and_then(|e| e.metric) {
            Some(s) if acc => format!("{:.1} ± {:.1}%", 100.0 * s.mean, 100.0 * s.std),
            Some(s) => format!("{} ± {}", present::sig(s.mean, 3), present::sig(s.std, 2)),
            None => match e {
                Some(e) if e.seeds_diverged > 0 => {
                    format!("diverged in {} of {} seeds", e.seeds_diverged, e.seeds)
                }
                _ => "no result".into(),
            },
        };
        for f in &a.factors {
            let reference = f.levels.first();
            for e in &f.levels[1..] {
                let (Some(claim), Some(verdict)) = (&e.claim, &e.claim_verdict) else {
                    continue;
                };
                let effect = match e.effect {
                    Some(d) if acc => format!("{:+.1} points", 100.0 * d),
                    Some(d) => format!("{:+}", present::sig(d, 3)),
                    None => "no metric to subtract".into(),
                };
                let t = e.t.map(|t| format!(", t = {t:.1}")).unwrap_or_default();
                out.push_str(&format!(
                    "| {claim} | {} ({}) | {} {} vs {} {}: {effect} ({}{t}) | **{verdict}** |\n",
                    f.problem,
                    f.optimizer,
                    e.level,
                    show(Some(e)),
                    f.reference,
                    show(reference),
                    e.confidence,
                ));
            }
        }
    }
    out
}

/// Runs one study into `out` (and the store), then writes its report unless `--no-report`.
fn run_one(study: &Study, args: &CompareArgs, out: &Path) -> Result<Option<lab::Analysis>> {
    let study = study.clone();
    let mut opts = lab::RunnerOptions::new(out);
    if let Some(w) = args.workers {
        opts.workers = w;
    }
    opts.threads_per_run = args.threads_per_run;
    opts.doctor = !args.no_doctor;
    opts.quiet = args.quiet;
    // Before the store or any folder is touched: the options the workers start with.
    opts.check().context("--workers / --threads-per-run")?;
    let url = args
        .store
        .clone()
        .unwrap_or_else(|| out.join("results.db").display().to_string());
    let store = lab::open_store(&url)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the output folder {}", out.display()))?;
    // The `lr_find` ranges (swept now, or taken from the store): the report reads them too.
    let study = lab::lr_range::resolve(&study, store.as_ref(), out, |m| {
        if !args.quiet {
            eprintln!("{m}");
        }
    })?;
    if !args.quiet {
        let arms = if study.factors.is_empty() {
            format!("{} optimizers", study.optimizers.len())
        } else {
            let names: Vec<&str> = study.factors.iter().map(|f| f.name.as_str()).collect();
            format!(
                "{} arms (optimizers x levels of {})",
                study.optimizers.len(),
                names.join(", ")
            )
        };
        eprintln!(
            "study {} ({}): {} problems x {arms}, {} workers, results in {}",
            study.name,
            study.source,
            study.problems.len(),
            opts.workers,
            store.describe()
        );
    }
    let done = lab::run_study(&study, store.as_ref(), &opts)
        .with_context(|| format!("running study {} in {}", study.name, store.describe()))?;
    println!("{}: {}", study.name, done.line());
    if args.no_report {
        return Ok(None);
    }
    write_report(
        &study,
        store.as_ref(),
        &out.join("report.html"),
        Some(&out.join("tables")),
    )
    .map(Some)
}

/// Analyses the stored study, writes the HTML (and the tables), prints the path and verdicts.
fn write_report(
    study: &Study,
    store: &dyn lab::Store,
    html: &Path,
    export: Option<&Path>,
) -> Result<lab::Analysis> {
    let runs = store
        .runs(&study.name)
        .with_context(|| format!("reading the runs of study {}", study.name))?;
    if runs.is_empty() {
        bail!(
            "{}: study {:?} has no runs (run `gradlab compare` first)",
            store.describe(),
            study.name
        );
    }
    let analysis = lab::analyze(study, &runs);
    if let Some(dir) = html.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    // The landscapes run the study's optimizers here; the report only draws them.
    let opts = report::Options {
        landscapes: Some(landscape::study::landscapes(&report::landscape_optimizers(
            &analysis, &runs,
        ))),
        ..Default::default()
    };
    report::write_html_with(&analysis, &runs, html, &opts)
        .with_context(|| format!("writing the report {}", html.display()))?;
    if let Some(dir) = export {
        let files = report::export(&analysis, dir)
            .with_context(|| format!("exporting the tables into {}", dir.display()))?;
        println!("tables: {} files in {}", files.len(), dir.display());
    }
    println!("report: {}", html.display());
    for v in &analysis.verdicts {
        println!("  {}: {}", v.problem, v.text);
    }
    if let Some(p) = &analysis.pruning {
        println!("  pruning: {}", p.line());
    }
    if analysis.failed > 0 {
        println!(
            "  {} of {} runs failed; their errors are in the report",
            analysis.failed, analysis.runs
        );
    }
    Ok(analysis)
}

pub fn run_report(args: ReportArgs) -> Result<()> {
    let file = match &args.file {
        Some(p) => {
            Some(Study::from_file(p).with_context(|| format!("reading study {}", p.display()))?)
        }
        None => None,
    };
    let default_name = args
        .study
        .clone()
        .or_else(|| file.as_ref().map(|s| s.name.clone()))
        .unwrap_or_else(|| Study::default_study().name);
    let url = args.store.clone().unwrap_or_else(|| {
        default_out(&default_name)
            .join("results.db")
            .display()
            .to_string()
    });
    let sqlite = lab::store::sqlite_path(&url);
    if let Some(p) = sqlite {
        if !p.is_file() {
            bail!(
                "results store {}: no such file (run `gradlab compare` first, or pass --store)",
                p.display()
            );
        }
    }
    let store = lab::open_store(&url)?;
    let shown = store.describe();
    let studies = store.studies()?;
    let wanted = args
        .study
        .clone()
        .or_else(|| file.as_ref().map(|s| s.name.clone()));
    let (name, definition) = match &wanted {
        Some(n) => studies
            .into_iter()
            .find(|(s, _)| s == n)
            .ok_or_else(|| anyhow::anyhow!("{shown}: no study named {n:?} (see `--study`)"))?,
        None => match studies.len() {
            0 => bail!("{shown}: no study stored (run `gradlab compare` first)"),
            1 => studies.into_iter().next().expect("one study"),
            _ => {
                let names: Vec<&str> = studies.iter().map(|(n, _)| n.as_str()).collect();
                bail!(
                    "{shown}: holds several studies ({}); choose one with --study",
                    names.join(", ")
                )
            }
        },
    };
    let study = match file {
        // A study with `lr_find` ranges: they are in the stored definition only.
        Some(s) if !s.uses_lr_find() => s,
        _ => study_from_definition(&name, &definition).with_context(|| {
            format!("{shown}: reading the stored definition of study {name:?} (pass its file: `gradlab report STUDY.toml`)")
        })?,
    };
    let html = args.out.clone().unwrap_or_else(|| match &sqlite {
        Some(p) => p.parent().unwrap_or(Path::new(".")).join("report.html"),
        None => default_out(&name).join("report.html"),
    });
    write_report(&study, store.as_ref(), &html, args.export.as_deref()).map(|_| ())
}

/// The study a stored definition describes: the default study, the resolved study as JSON
/// ([`Study::definition`]), or a study file's text.
fn study_from_definition(name: &str, definition: &str) -> Result<Study> {
    let default = Study::default_study();
    if default.name == name && (definition == default.definition() || definition == default.text) {
        return Ok(default);
    }
    let source = format!("<stored study {name}>");
    if let Ok(serde_json::Value::Object(mut m)) = serde_json::from_str(definition) {
        m.insert("source".into(), source.clone().into());
        m.insert("text".into(), definition.into());
        return Ok(serde_json::from_value(serde_json::Value::Object(m))?);
    }
    Ok(Study::from_text(definition, &source, Path::new("."))?)
}

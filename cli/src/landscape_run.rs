//! `gradlab landscape --run DIR [--points N] [--json OUT] [--plot OUT]`: the train and test loss
//! along the line from a run's initial to its final weights ([`diagnose::surface`]), as JSON
//! and SVG ([`report::line_plot`]), written into the run folder by default and entered in its
//! manifest, so a fresh run in that folder removes them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use diagnose::surface::line::{grid, MAX_POINTS};
use diagnose::surface::Line;

pub fn run(dir: &Path, points: usize, json: Option<PathBuf>, plot: Option<PathBuf>) -> Result<()> {
    // Checked before the grid is allocated.
    if !(2..=MAX_POINTS).contains(&points) {
        bail!("--points {points}: expected 2 to {MAX_POINTS} points");
    }
    // The ends of the run (α = 0 and 1) are always among the points.
    let mut alphas = grid(-0.5, 1.5, points);
    for end in [0.0, 1.0] {
        if !alphas.iter().any(|&a| (a - end).abs() < 1e-12) {
            alphas.push(end);
        }
    }
    alphas.sort_by(f64::total_cmp);
    let line = Line::of_run(dir, &alphas)?;
    let json_path = json.unwrap_or_else(|| dir.join("landscape.json"));
    let plot_path = plot.unwrap_or_else(|| dir.join("landscape.svg"));
    let text = serde_json::to_string_pretty(&line).context("encoding the line as JSON")? + "\n";
    let outputs = vec![
        (json_path.clone(), text),
        (plot_path.clone(), report::line_plot::render(&line)),
    ];
    // Outputs inside the run folder go into its manifest first (entered before created).
    let inside: Vec<String> = [&json_path, &plot_path]
        .iter()
        .filter(|p| p.parent() == Some(dir))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if !inside.is_empty() {
        let names: Vec<&str> = inside.iter().map(String::as_str).collect();
        train::run_folder::record(dir, &names)?;
    }
    crate::outputs::write_all_or_nothing(&outputs)?;
    let at = |a: f64| line.points.iter().find(|p| (p.alpha - a).abs() < 1e-9);
    let fmt = |v: Option<f64>| v.map(present::fmt_num).unwrap_or_else(|| "-".into());
    println!(
        "{}: ‖θ₁ − θ₀‖ = {}; train loss {} at the initial weights, {} at the final ones; barrier on [0, 1]: {}; lowest train loss at α = {}; test loss at α = 1: {}",
        dir.display(),
        present::fmt_num(line.distance),
        fmt(at(0.0).map(|p| p.train_loss)),
        fmt(at(1.0).map(|p| p.train_loss)),
        present::fmt_num(line.barrier),
        present::fmt_num(line.min_alpha),
        fmt(at(1.0).and_then(|p| p.test_loss)),
    );
    println!("wrote {}, {}", json_path.display(), plot_path.display());
    Ok(())
}

/// `--slice N`: the 2-D filter-normalised slice, written as landscape_slice.json and .svg into
/// the run folder (and its manifest).
pub fn slice(dir: &Path, n: usize, span: f64, seed: u64) -> Result<()> {
    let mut s = diagnose::surface::Slice::of_run(dir, n, span, seed)?;
    // The sharpness reading trains one step from the final weights in a scratch folder.
    let scratch = std::env::temp_dir().join(format!("gradlab-sharpness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let sharp = diagnose::surface::Sharpness::of_run(dir, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    s.sharpness = Some(sharp?);
    let json = dir.join("landscape_slice.json");
    let svg = dir.join("landscape_slice.svg");
    let text = serde_json::to_string_pretty(&s).context("encoding the slice as JSON")? + "\n";
    train::run_folder::record(dir, &["landscape_slice.json", "landscape_slice.svg"])?;
    crate::outputs::write_all_or_nothing(&[
        (json.clone(), text),
        (svg.clone(), report::slice_plot::render(&s)),
    ])?;
    println!(
        "{}: slice {n}×{n} over ±{span}: train loss {} at the final weights, mean rise {} at radius 0.5 ({} evaluations in {:.1}s)",
        dir.display(),
        present::fmt_num(s.center),
        present::fmt_num(s.rise_at_half),
        n * n,
        s.seconds
    );
    if let Some(h) = &s.sharpness {
        println!("  {}", sharpness_line(h));
    }
    println!("wrote {}, {}", json.display(), svg.display());
    Ok(())
}

/// The sharpness reading and, beside it, the doctor's last `λmax` of the run.
pub fn sharpness_line(h: &diagnose::surface::Sharpness) -> String {
    let f = present::fmt_num;
    let mut line = format!(
        "sharpness at the final weights: λmax {} (median of {} training batches of {}; {} to {}), λmin {} (the doctor's Lanczos on exact Hessian-vector products)",
        f(h.lambda_max),
        h.batches.len(),
        h.batch_size,
        f(h.lambda_max_range.0),
        f(h.lambda_max_range.1),
        f(h.lambda_min),
    );
    match &h.doctor {
        Some(d) => {
            line += &format!(
                "; the doctor's last λmax during the run: {}{} at step {} of {}",
                f(d.lambda_max),
                d.lambda_max_err
                    .map_or(String::new(), |e| format!(" ± {}", f(e))),
                d.step,
                d.steps
            );
        }
        None => line += "; no doctor's λmax to compare (train with --doctor for one)",
    }
    line
}

/// `--trajectory N`: the run retrained in a scratch folder (removed afterwards) with its
/// weights saved about 40 times, the path on its top two PCA directions over an `N × N` grid,
/// written as landscape_trajectory.json and .svg into the run folder (and its manifest).
/// Saves along the retrained run that the trajectory plot projects.
pub const TRAJECTORY_SAVES: usize = 40;

pub fn trajectory(dir: &Path, n: usize) -> Result<()> {
    let scratch = std::env::temp_dir().join(format!("gradlab-trajectory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let t = diagnose::surface::Trajectory::of_run(dir, &scratch, TRAJECTORY_SAVES, n);
    let _ = std::fs::remove_dir_all(&scratch);
    let t = t?;
    let json = dir.join("landscape_trajectory.json");
    let svg = dir.join("landscape_trajectory.svg");
    let text = serde_json::to_string_pretty(&t).context("encoding the trajectory as JSON")? + "\n";
    train::run_folder::record(
        dir,
        &["landscape_trajectory.json", "landscape_trajectory.svg"],
    )?;
    crate::outputs::write_all_or_nothing(&[
        (json.clone(), text),
        (svg.clone(), report::slice_plot::render_trajectory(&t)),
    ])?;
    println!(
        "{}: trajectory of {} saves; PC 1 and 2 explain {:.1}% and {:.1}% of its variance; the retrained run's final weights differ from the saved ones by at most {}",
        dir.display(),
        t.steps.len(),
        100.0 * t.pca.explained.0,
        100.0 * t.pca.explained.1,
        present::fmt_num(t.reproduced)
    );
    if !t.lambda_max.is_empty() {
        let readings: Vec<String> = t
            .lambda_max
            .iter()
            .map(|(s, l)| format!("{} at step {s}", present::fmt_num(*l)))
            .collect();
        println!(
            "  λmax (the doctor's, on the step's batch): {}",
            readings.join(", ")
        );
    }
    println!("wrote {}, {}", json.display(), svg.display());
    Ok(())
}

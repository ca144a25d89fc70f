//! The HTML page: header, summary (ranking, verdicts, characters), one section per problem,
//! performance profiles, landscape trajectories, doctor findings and failed runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use lab::analysis::{Analysis, Group, Stat};
use lab::{Phase, RunRecord, RunState};
use present::{fmt_num, hex, viridis};

use crate::svg::{Marker, Plot, Scale};
use crate::{esc, Options};
use landscape::study::{Landscape, LR_GRID};

/// One colour per optimizer (by its position in [`Analysis::optimizers`]), the same in every
/// plot and table of the report.
pub const OPTIMIZER_COLORS: [&str; 12] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939",
];

/// What a doctor finding kind (its JSON name) means, in plain words.
pub fn finding_meaning(kind: &str) -> &'static str {
    diagnose::Kind::from_name(kind).map_or(
        "A finding of the convergence doctor (see `gradlab diagnose`).",
        diagnose::Kind::meaning,
    )
}

struct Ctx<'a> {
    a: &'a Analysis,
    runs: &'a [RunRecord],
    colors: BTreeMap<String, &'static str>,
    plot_id: usize,
    out: String,
}

impl<'a> Ctx<'a> {
    fn color(&self, opt: &str) -> &'static str {
        self.colors.get(opt).copied().unwrap_or("#444444")
    }

    fn next_id(&mut self) -> String {
        self.plot_id += 1;
        format!("p{}", self.plot_id)
    }

    fn plot(&mut self, p: &Plot) {
        let id = self.next_id();
        let svg = p.render(&id);
        let _ = write!(self.out, r#"<figure class="fig">{svg}</figure>"#);
    }

    fn swatch(&self, opt: &str) -> String {
        format!(
            r#"<span class="sw" style="background:{}"></span>{}"#,
            self.color(opt),
            esc(opt)
        )
    }

    fn group(&self, problem: &str, opt: &str) -> Option<&'a Group> {
        let a: &'a Analysis = self.a;
        a.groups
            .iter()
            .find(|g| g.problem == problem && g.optimizer == opt)
    }

    /// Optimizers of a problem in the analysis's order, then any others its groups name.
    fn problem_groups(&self, problem: &str) -> Vec<&'a Group> {
        let a: &'a Analysis = self.a;
        let mut out: Vec<&'a Group> = a
            .optimizers
            .iter()
            .filter_map(|o| self.group(problem, o))
            .collect();
        for g in &a.groups {
            if g.problem == problem && !a.optimizers.contains(&g.optimizer) {
                out.push(g);
            }
        }
        out
    }
}

fn duration(s: f64) -> String {
    if !s.is_finite() {
        return "—".into();
    }
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!(
            "{:.0} h {:02.0} min",
            (s / 3600.0).floor(),
            (s % 3600.0) / 60.0
        )
    }
}

/// `mean ± std` with `d` decimals, scaled by `k` (100 for percentages).
fn pm(s: &Option<Stat>, k: f64, d: usize) -> String {
    match s {
        Some(s) if s.mean.is_finite() => {
            if s.n >= 2 {
                format!("{:.d$} ± {:.d$}", s.mean * k, s.std * k)
            } else {
                format!("{:.d$}", s.mean * k)
            }
        }
        _ => "—".into(),
    }
}

fn params_text(p: &BTreeMap<String, serde_json::Value>) -> String {
    if p.is_empty() {
        return "defaults".into();
    }
    p.iter()
        .map(|(k, v)| match v.as_f64() {
            Some(x) if !v.is_boolean() => format!("{k}={}", fmt_num(x)),
            _ => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.0}%", x * 100.0)
    } else {
        "—".into()
    }
}

/// The protocol in words, from the runs (or the groups when no runs are given).
fn protocol_text(a: &Analysis, runs: &[RunRecord]) -> String {
    let mut trials: BTreeMap<(&str, &str), BTreeSet<u32>> = BTreeMap::new();
    let mut tune_seeds = BTreeSet::new();
    let mut seeds = BTreeSet::new();
    let mut defaults = false;
    for r in runs {
        match r.spec.phase {
            Phase::Tune => {
                trials
                    .entry((&r.spec.problem, &r.spec.optimizer))
                    .or_default()
                    .insert(r.spec.trial);
                tune_seeds.insert(r.spec.seed);
            }
            Phase::Final => {
                seeds.insert(r.spec.seed);
            }
            Phase::Defaults => {
                defaults = true;
                seeds.insert(r.spec.seed);
            }
        }
    }
    let list = |s: &BTreeSet<u64>| {
        s.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !trials.is_empty() {
        let k = trials.values().map(BTreeSet::len).max().unwrap_or(0);
        let mut all = seeds.clone();
        all.extend(tune_seeds.iter().copied());
        format!(
            "tuning budget: {k} trials per optimizer and problem at seed {}, the best setting (by the tuning metric) re-run at seeds {}; compared by final {}.",
            list(&tune_seeds),
            list(&all),
            a.metric.label()
        )
    } else if defaults {
        format!(
            "one-shot defaults: each optimizer's default setting at seeds {}; compared by final {}.",
            list(&seeds),
            a.metric.label()
        )
    } else {
        let k = a.groups.iter().map(|g| g.trials.len()).max().unwrap_or(0);
        let n = a.groups.iter().map(|g| g.seeds).max().unwrap_or(0);
        if k > 0 {
            format!(
                "tuning budget: {k} trials per optimizer and problem, the best setting re-run over {n} seeds; compared by final {}.",
                a.metric.label()
            )
        } else {
            format!(
                "one-shot defaults over {n} seeds; compared by final {}.",
                a.metric.label()
            )
        }
    }
}

const CSS: &str = r#"
:root{--fg:#1b1f24;--muted:#5b6470;--line:#d8dde3;--bg:#ffffff;--soft:#f4f6f8}
*{box-sizing:border-box}
body{margin:0;background:var(--soft);color:var(--fg);font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:18px 22px 40px}
header.top{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:14px 20px;margin-bottom:16px}
h1{font-size:24px;margin:4px 0 6px}
h2{font-size:20px;margin:0 0 10px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:16px;margin:16px 0 8px}
section{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:14px 20px;margin:0 0 16px}
.counts{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.counts span{background:var(--soft);border:1px solid var(--line);border-radius:14px;padding:2px 12px}
.muted{color:var(--muted)}
nav a{margin-right:14px;color:#1f5fa8;text-decoration:none}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.best td{background:#eef7ee}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.verdicts{margin:4px 0 8px;padding-left:20px}
.verdicts li{margin:4px 0}
.conf{display:inline-block;font-size:12px;border-radius:10px;padding:0 8px;margin-left:6px;border:1px solid var(--line)}
.conf-clear{background:#e3f4e3}.conf-likely{background:#fff4d6}.conf-noise{background:#f1f1f1}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;border-top-width:4px}
.card h4{margin:2px 0 6px;font-size:15px}
.card ul{margin:2px 0 6px;padding-left:18px}
.card .k{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:10px}
figure.fig{margin:0}
svg.plot{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:4px}
svg.plot text{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
.verdict-line{margin:4px 0 10px}
code{background:var(--soft);padding:0 4px;border-radius:3px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:10px}
"#;

/// Renders the whole page.
pub fn render_html(a: &Analysis, runs: &[RunRecord], opts: &Options) -> String {
    let mut colors = BTreeMap::new();
    let mut order: Vec<String> = a.optimizers.clone();
    for g in &a.groups {
        if !order.contains(&g.optimizer) {
            order.push(g.optimizer.clone());
        }
    }
    for (i, o) in order.iter().enumerate() {
        colors.insert(o.clone(), OPTIMIZER_COLORS[i % OPTIMIZER_COLORS.len()]);
    }
    let mut c = Ctx {
        a,
        runs,
        colors,
        plot_id: 0,
        out: String::with_capacity(1 << 20),
    };
    let title = format!("gradlab study: {}", a.study);
    let _ = write!(
        c.out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/><title>{}</title><style>{CSS}</style></head><body><main>",
        esc(&title)
    );
    header(&mut c, opts);
    summary(&mut c);
    for p in &a.problems {
        problem(&mut c, p);
    }
    profiles(&mut c);
    if let Some(l) = &opts.landscapes {
        landscapes(&mut c, l);
    }
    findings(&mut c);
    failed(&mut c);
    c.out.push_str(
        "<footer>Written by gradlab's report. One self-contained file: inline CSS and SVG, no scripts, nothing loaded from the network.</footer></main></body></html>\n",
    );
    c.out
}

fn header(c: &mut Ctx, opts: &Options) {
    let a = c.a;
    let protocol = opts
        .protocol
        .clone()
        .unwrap_or_else(|| protocol_text(a, c.runs));
    let _ = write!(
        c.out,
        r##"<header class="top" id="header"><div class="muted">gradlab optimizer comparison</div><h1>Study <code>{}</code></h1><div class="counts"><span>{} runs</span><span>{} failed</span><span>{} total compute time</span><span>{} problems × {} optimizers</span></div><p><b>Protocol:</b> {}</p><nav><a href="#summary">Summary</a>"##,
        esc(&a.study),
        a.runs,
        a.failed,
        esc(&duration(a.total_wall_s)),
        a.problems.len(),
        a.optimizers.len(),
        esc(&protocol)
    );
    for p in &a.problems {
        let _ = write!(
            c.out,
            r##"<a href="#problem-{}">{}</a>"##,
            esc(&anchor(p)),
            esc(p)
        );
    }
    let _ = write!(
        c.out,
        r##"<a href="#profiles">Profiles</a><a href="#landscape">Landscapes</a><a href="#findings">Doctor findings</a></nav></header>"##
    );
}

/// An id-safe form of a name.
fn anchor(s: &str) -> String {
    s.chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                ch
            } else {
                '-'
            }
        })
        .collect()
}

fn conf_class(conf: &str) -> &'static str {
    match conf {
        "clear" => "conf-clear",
        "likely" => "conf-likely",
        _ => "conf-noise",
    }
}

fn summary(c: &mut Ctx) {
    let a = c.a;
    let _ = write!(
        c.out,
        r#"<section id="summary"><h2>Summary</h2><h3>Overall ranking</h3><table id="ranking"><thead><tr><th class="n">Rank</th><th>Optimizer</th><th class="n">Mean rank over problems</th><th class="n">Problems won</th><th class="n">Profile score (steps to target, 0–1)</th><th class="n">Divergence rate</th></tr></thead><tbody>"#
    );
    for r in &a.ranking {
        let _ = write!(
            c.out,
            r#"<tr{}><td class="n">{}</td><td>{}</td><td class="n">{:.2}</td><td class="n">{}</td><td class="n">{:.3}</td><td class="n">{}</td></tr>"#,
            if r.rank == 1 { r#" class="best""# } else { "" },
            r.rank,
            c.swatch(&r.optimizer),
            r.mean_rank,
            r.wins,
            r.profile_score,
            pct(r.divergence_rate)
        );
    }
    let _ = write!(c.out, "</tbody></table>");
    let _ = write!(
        c.out,
        r#"<h3>Verdicts per problem</h3><ul class="verdicts" id="verdicts">"#
    );
    for v in &a.verdicts {
        let _ = write!(
            c.out,
            r##"<li><a href="#problem-{}"><b>{}</b></a>: {} <span class="conf {}">{}</span></li>"##,
            esc(&anchor(&v.problem)),
            esc(&v.problem),
            esc(&v.text),
            conf_class(&v.confidence),
            esc(&v.confidence)
        );
    }
    if a.verdicts.is_empty() {
        let _ = write!(
            c.out,
            r#"<li class="muted">No verdicts (no completed runs).</li>"#
        );
    }
    let _ = write!(
        c.out,
        r#"</ul><h3>Optimizer characters</h3><div class="cards" id="characters">"#
    );
    for ch in &a.characters {
        let _ = write!(
            c.out,
            r#"<div class="card" style="border-top-color:{}"><h4>{}</h4>"#,
            c.color(&ch.optimizer),
            c.swatch(&ch.optimizer)
        );
        for (k, items) in [
            ("Strengths", &ch.strengths),
            ("Weaknesses", &ch.weaknesses),
            ("Fits", &ch.fits),
        ] {
            let _ = write!(c.out, r#"<div class="k">{k}</div>"#);
            if items.is_empty() {
                let _ = write!(c.out, r#"<ul><li class="muted">none measured</li></ul>"#);
            } else {
                let _ = write!(c.out, "<ul>");
                for s in items {
                    let _ = write!(c.out, "<li>{}</li>", esc(s));
                }
                let _ = write!(c.out, "</ul>");
            }
        }
        let _ = write!(c.out, "</div>");
    }
    let _ = write!(c.out, "</div></section>");
}

fn problem(c: &mut Ctx, p: &str) {
    let a = c.a;
    let groups = c.problem_groups(p);
    let _ = write!(
        c.out,
        r#"<section class="problem" id="problem-{}"><h2>Problem: {}</h2>"#,
        esc(&anchor(p)),
        esc(p)
    );
    if let Some(v) = a.verdicts.iter().find(|v| v.problem == p) {
        let t =
            v.t.map(|t| format!(", Welch t = {t:.2}"))
                .unwrap_or_default();
        let _ = write!(
            c.out,
            r#"<p class="verdict-line"><b>Verdict:</b> {} <span class="conf {}">{}{}</span></p>"#,
            esc(&v.text),
            conf_class(&v.confidence),
            esc(&v.confidence),
            esc(&t)
        );
    }
    let _ = write!(c.out, r#"<div class="plots">"#);

    // Test accuracy curves.
    let mut pl = Plot::new(
        &format!("{p}: test accuracy over epochs (mean, min–max band over seeds)"),
        "epoch",
        "test accuracy (%)",
    )
    .x_integer();
    let mut any = false;
    for g in &groups {
        let b = &g.test_accuracy_curve;
        if b.x.is_empty() {
            continue;
        }
        any = true;
        let col = c.color(&g.optimizer);
        let k = |v: &[f64]| v.iter().map(|x| x * 100.0).collect::<Vec<_>>();
        pl.band(&b.x, &k(&b.min), &k(&b.max), col);
        pl.line(
            b.x.iter()
                .zip(&b.mean)
                .map(|(&x, &y)| (x, y * 100.0))
                .collect(),
            col,
            2.0,
            false,
        );
        pl.legend(&g.optimizer, col, None);
    }
    if !any {
        pl.note("no test-accuracy curves recorded");
    }
    c.plot(&pl);

    // Train loss curves (log y).
    let mut pl = Plot::new(
        &format!("{p}: training loss over epochs (log scale, min–max band)"),
        "epoch",
        "train loss (cross-entropy, log scale)",
    )
    .x_integer()
    .y_scale(Scale::Log);
    let mut any = false;
    for g in &groups {
        let b = &g.train_loss_curve;
        if b.x.is_empty() {
            continue;
        }
        any = true;
        let col = c.color(&g.optimizer);
        pl.band(&b.x, &b.min, &b.max, col);
        pl.line(
            b.x.iter().zip(&b.mean).map(|(&x, &y)| (x, y)).collect(),
            col,
            2.0,
            false,
        );
        pl.legend(&g.optimizer, col, None);
    }
    if !any {
        pl.note("no training-loss curves recorded");
    }
    c.plot(&pl);

    // LR sensitivity.
    let mut pl = Plot::new(
        &format!("{p}: learning-rate sensitivity (every tuning trial)"),
        "learning rate (log scale)",
        "tuning score (final validation metric)",
    )
    .x_scale(Scale::Log);
    let scores: Vec<f64> = groups
        .iter()
        .flat_map(|g| g.trials.iter().filter_map(|t| t.score))
        .filter(|s| s.is_finite())
        .collect();
    let (smin, smax) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &s| {
            (l.min(s), h.max(s))
        });
    let floor = if smin.is_finite() {
        smin - 0.08 * (smax - smin).max(1e-3)
    } else {
        0.0
    };
    let mut any = false;
    let mut any_div = false;
    for g in &groups {
        let col = c.color(&g.optimizer);
        let mut pts: Vec<(f64, f64)> = g
            .trials
            .iter()
            .filter_map(|t| Some((t.lr?, t.score?)))
            .filter(|(l, s)| l.is_finite() && s.is_finite())
            .collect();
        pts.sort_by(|x, y| x.0.total_cmp(&y.0));
        let has = g.trials.iter().any(|t| t.lr.is_some());
        if !has {
            continue;
        }
        any = true;
        pl.line(pts.clone(), col, 1.0, true);
        for t in &g.trials {
            let Some(lr) = t.lr else { continue };
            match t.score {
                Some(s) if !t.diverged && s.is_finite() => {
                    pl.marker(lr, s, col, Marker::Circle, 4.0)
                }
                _ => {
                    any_div = true;
                    pl.marker(lr, floor, col, Marker::Cross, 4.5)
                }
            }
        }
        let chosen = g.best_params.get("lr").and_then(|v| v.as_f64());
        if let Some(lr) = chosen {
            if let Some(t) = g
                .trials
                .iter()
                .find(|t| t.lr.is_some_and(|l| (l - lr).abs() <= 1e-12 * lr.abs()))
            {
                if let Some(s) = t.score.filter(|s| s.is_finite()) {
                    pl.marker(lr, s, col, Marker::Ring, 7.5);
                }
            }
        }
        pl.legend(&g.optimizer, col, Some(Marker::Circle));
    }
    if any_div {
        pl.legend(
            "diverged (drawn at the bottom)",
            "#333333",
            Some(Marker::Cross),
        );
    }
    if any {
        pl.legend("chosen setting", "#333333", Some(Marker::Ring));
    } else {
        pl.note("no tuning trials (one-shot defaults protocol)");
    }
    c.plot(&pl.legend_width(205.0));

    // Tuneability.
    let mut pl = Plot::new(
        &format!("{p}: tuneability (expected best score after k random trials)"),
        "number of trials k",
        "expected best tuning score",
    )
    .x_integer();
    let mut any = false;
    for g in &groups {
        if g.tuneability.is_empty() {
            continue;
        }
        any = true;
        let col = c.color(&g.optimizer);
        let pts: Vec<(f64, f64)> = g
            .tuneability
            .iter()
            .enumerate()
            .map(|(i, &y)| ((i + 1) as f64, y))
            .collect();
        pl.line(pts.clone(), col, 2.0, false);
        for (x, y) in pts {
            pl.marker(x, y, col, Marker::Circle, 2.8);
        }
        pl.legend(&g.optimizer, col, None);
    }
    if !any {
        pl.note("no tuning trials (one-shot defaults protocol)");
    }
    c.plot(&pl);
    let _ = write!(c.out, "</div>");

    // Table.
    let acc = a.metric.is_accuracy();
    let best = a
        .verdicts
        .iter()
        .find(|v| v.problem == p)
        .map(|v| v.winner.clone());
    let _ = write!(
        c.out,
        r#"<table class="groups"><thead><tr><th>Optimizer</th><th>Chosen setting</th><th class="n">Test accuracy (%)<br/>mean ± std</th><th class="n">Test loss</th><th class="n">Steps to target<br/>(reached k/n)</th><th class="n">Seconds to target</th><th class="n">Divergence rate<br/>(diverged/runs)</th><th class="n">Generalisation gap<br/>(test − train loss)</th><th>Doctor findings<br/>(runs of the chosen setting)</th></tr></thead><tbody>"#
    );
    for g in &groups {
        let steps = format!(
            "{} ({}/{})",
            pm(&g.steps_to_target, 1.0, 0),
            g.reached_target,
            g.seeds
        );
        let findings = if g.findings.is_empty() {
            "none".to_string()
        } else {
            g.findings
                .iter()
                .map(|(k, n)| format!("{} ×{n}", k.replace('_', " ")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            c.out,
            r#"<tr{}><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{} ({}/{})</td><td class="n">{}</td><td>{}</td></tr>"#,
            if best.as_deref() == Some(&g.optimizer) {
                r#" class="best""#
            } else {
                ""
            },
            c.swatch(&g.optimizer),
            esc(&params_text(&g.best_params)),
            pm(&g.test_accuracy, 100.0, 2),
            pm(&g.test_loss, 1.0, 4),
            esc(&steps),
            pm(&g.seconds_to_target, 1.0, 1),
            pct(g.divergence_rate),
            g.diverged,
            g.runs,
            pm(&g.generalisation_gap, 1.0, 4),
            esc(&findings)
        );
    }
    let _ = write!(c.out, "</tbody></table>");
    if !acc {
        let _ = write!(
            c.out,
            r#"<p class="muted">The study compares by {}.</p>"#,
            esc(a.metric.label())
        );
    }
    let _ = write!(c.out, "</section>");
}

fn profiles(c: &mut Ctx) {
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

fn landscapes(c: &mut Ctx, lands: &[Landscape]) {
    let _ = write!(
        c.out,
        r#"<section id="landscape"><h2>Landscape trajectories</h2><p class="muted">Each study optimizer (built by gradlab's <code>optim</code> with the study's chosen setting where it applies to a 2-D function; weight decay left out) runs from the same start on two analytic functions. The learning rate is picked per function and optimizer from the grid {} as the one with the lowest final value (the smallest such rate when several end within 0.01% of the start's distance to the minimum). The heat map shows log(f − min + 0.01), dark = low; ○ marks the start, ◎ the minima, ▲ each end point (× where a run diverged).</p><div class="plots">"#,
        esc(&LR_GRID
            .iter()
            .map(|x| fmt_num(*x))
            .collect::<Vec<_>>()
            .join(", "))
    );
    let mut errors = Vec::new();
    for land in lands {
        let (f, trajs) = (&land.problem.function, &land.trajectories);
        let title = land.problem.title;
        errors.extend(
            land.errors
                .iter()
                .map(|(o, e)| (title, o.clone(), e.clone())),
        );
        let s = f.default_start();
        let mut pl = Plot::new(
            &format!("{title} from ({}, {})", fmt_num(s[0]), fmt_num(s[1])),
            "x",
            "y",
        )
        .size(640.0, 470.0)
        .legend_width(200.0);
        let [(x0, x1), (y0, y1)] = f.plot_box();
        pl = pl.x_range(x0, x1).y_range(y0, y1);
        let n = 64;
        let (fmin, minimisers) = f.minimum(2).unwrap_or_default();
        let vals: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k % n, k / n);
                let x = x0 + (i as f64 + 0.5) / n as f64 * (x1 - x0);
                let y = y0 + (j as f64 + 0.5) / n as f64 * (y1 - y0);
                (f.value(&[x, y]) - fmin + 1e-2).log10()
            })
            .collect();
        let (lo, hi) = vals
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                (l.min(v), h.max(v))
            });
        // Colours quantised to 40 levels; runs of equal colour along a row are one rectangle.
        let level = |v: f64| (((v - lo) / (hi - lo).max(1e-12)) * 39.0).round() as usize;
        let (dx, dy) = ((x1 - x0) / n as f64, (y1 - y0) / n as f64);
        for j in 0..n {
            let mut i = 0;
            while i < n {
                let q = level(vals[j * n + i]);
                let mut e = i + 1;
                while e < n && level(vals[j * n + e]) == q {
                    e += 1;
                }
                pl.cell(
                    x0 + i as f64 * dx,
                    x0 + e as f64 * dx,
                    y0 + j as f64 * dy,
                    y0 + (j + 1) as f64 * dy,
                    &hex(viridis(q as f64 / 39.0)),
                );
                i = e;
            }
        }
        for m in minimisers {
            pl.marker(m[0], m[1], "#ffffff", Marker::Ring, 6.0);
            pl.marker(m[0], m[1], "#ffffff", Marker::Circle, 2.0);
        }
        pl.marker(s[0], s[1], "#ffffff", Marker::Ring, 5.0);
        for t in trajs {
            let col = c.color(&t.label);
            let pts: Vec<(f64, f64)> = t.points.iter().map(|p| (p[0], p[1])).collect();
            // A white outline under the path keeps it visible on the heat map.
            pl.line(pts.clone(), "#ffffff", 3.6, false);
            pl.line(pts, col, 1.8, false);
            let end = t.points.last().copied().unwrap_or([s[0], s[1]]);
            let shape = if t.diverged {
                Marker::Cross
            } else {
                Marker::Triangle
            };
            pl.marker(end[0], end[1], col, shape, 5.0);
            let fv = if t.diverged {
                "diverged".to_string()
            } else {
                format!("f={}", fmt_num(t.final_value))
            };
            pl.legend(
                &format!(
                    "{}\nlr {} · {} steps · {fv}",
                    t.label,
                    fmt_num(t.lr),
                    t.steps
                ),
                col,
                None,
            );
        }
        c.plot(&pl);
    }
    let _ = write!(c.out, "</div>");
    if !errors.is_empty() {
        let _ = write!(c.out, r#"<p class="muted">Not drawn:</p><ul>"#);
        for (f, o, e) in errors {
            let _ = write!(c.out, "<li>{} on {}: {}</li>", esc(&o), esc(f), esc(&e));
        }
        let _ = write!(c.out, "</ul>");
    }
    let _ = write!(c.out, "</section>");
}

fn findings(c: &mut Ctx) {
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

fn failed(c: &mut Ctx) {
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

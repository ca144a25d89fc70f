//! The HTML page: header, summary (ranking, verdicts, characters), one section per problem,
//! performance profiles, landscape trajectories, doctor findings and failed runs. This module
//! holds the page's frame (style, header, shared cells); each section has its own module.

mod factors;
mod findings;
mod landscapes;
mod problem;
mod profiles;
mod summary;

use factors::factors;
use findings::{failed, findings};
use landscapes::landscapes;
use problem::problem;
use profiles::profiles;
use summary::summary;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use lab::analysis::{Analysis, Group, Stat};
use lab::{Phase, RunRecord};
use present::{duration_spaced, fmt_num};

use crate::svg::Plot;
use crate::{esc, Options};

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
            r#"<span class="nm"><span class="sw" style="background:{}"></span>{}</span>"#,
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

/// `mean ± std` with 2 significant digits of the mean (both printed to its decimals), so that
/// a fast run's 0.031 s does not print as 0.0.
fn pm_sig(s: &Option<Stat>) -> String {
    match s {
        Some(s) if s.mean.is_finite() => {
            let m = present::sig(s.mean, 2);
            let d = m.split_once('.').map_or(0, |(_, f)| f.len());
            if s.n >= 2 {
                format!("{m} ± {:.d$}", s.std)
            } else {
                m
            }
        }
        _ => "—".into(),
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
        let finals: BTreeSet<u64> = seeds.difference(&tune_seeds).copied().collect();
        let biased = a.groups.iter().filter(|g| g.selection_biased).count();
        let caveat = if biased > 0 {
            format!(
                " {biased} group{} had no other seed finished, so {} final numbers are the selected trial's own, biased upwards by the selection.",
                if biased == 1 { "" } else { "s" },
                if biased == 1 { "its" } else { "their" }
            )
        } else {
            String::new()
        };
        format!(
            "tuning budget: {k} trials per optimizer and problem at seed {}, the best setting (by the tuning metric) re-run at seeds {}; final statistics over those seeds only (the selected trial is left out: it won on its seed's noise); compared by final {}.{caveat}",
            list(&tune_seeds),
            if finals.is_empty() { "(none)".to_string() } else { list(&finals) },
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
.nm{white-space:nowrap}
.card h4 .nm{white-space:normal;overflow-wrap:anywhere}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.verdicts{margin:4px 0 8px;padding-left:20px}
.verdicts li{margin:4px 0}
.conf{display:inline-block;font-size:12px;border-radius:10px;padding:0 8px;margin-left:6px;border:1px solid var(--line)}
.conf-clear{background:#e3f4e3}.conf-likely{background:#fff4d6}.conf-noise{background:#f1f1f1}.conf-few{background:#fde8e8}
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
    factors(&mut c);
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
        r##"<header class="top" id="header"><div class="muted">gradlab optimizer comparison</div><h1>Study <code>{}</code></h1><div class="counts"><span>{} runs</span><span>{} failed</span><span>{} total compute time</span><span>{} problem{} × {} {}</span></div><p><b>Protocol:</b> {}</p><nav><a href="#summary">Summary</a>"##,
        esc(&a.study),
        a.runs,
        a.failed,
        esc(&duration_spaced(a.total_wall_s)),
        a.problems.len(),
        if a.problems.len() == 1 { "" } else { "s" },
        a.optimizers.len(),
        match (a.factors.is_empty(), a.optimizers.len()) {
            (false, _) => "arms (optimizer × factor levels)",
            (true, 1) => "optimizer",
            (true, _) => "optimizers",
        },
        esc(&protocol)
    );
    if let Some(p) = &a.pruning {
        let _ = write!(
            c.out,
            r#"<p id="pruning"><b>Pruning:</b> {}.</p>"#,
            esc(&p.line())
        );
    }
    if !a.factors.is_empty() {
        let _ = write!(c.out, r##"<a href="#factors">Factors</a>"##);
    }
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
        "not enough seeds" => "conf-few",
        _ => "conf-noise",
    }
}

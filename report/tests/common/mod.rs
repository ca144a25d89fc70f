//! A realistic hand-built analysis (3 problems × 9 optimizers, 3 seeds, 6 tuning trials each,
//! some diverged, curves over 15 epochs, profiles, verdicts, characters) and the runs behind it,
//! plus a small XML well-formedness checker and a PNG decoder for the tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use lab::analysis::{Analysis, Band, Character, Group, Profile, RankRow, Stat, Trial, Verdict};
use lab::{FindingRow, Phase, RunRecord, RunResult, RunSpec, RunState};
use serde_json::json;

pub const PROBLEMS: [&str; 3] = ["mnist1d_mlp", "digits_mlp", "mnist10k_mlp"];
pub const OPTIMIZERS: [&str; 9] = [
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "nadam", "lion",
];
/// The study name, with characters that must be escaped.
pub const STUDY: &str = "default <study> & \"friends\"";
/// A failed run's error, with markup that must be escaped.
pub const FAILED_ERROR: &str = "out of memory <script>alert('x')</script> & more";

/// A deterministic pseudo-random stream in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn stat(vals: &[f64]) -> Stat {
    let n = vals.len();
    let mean = vals.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    Stat {
        mean,
        std: var.sqrt(),
        n,
        min: vals.iter().cloned().fold(f64::INFINITY, f64::min),
        max: vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
    }
}

fn band(curves: &[Vec<f64>]) -> Band {
    let len = curves[0].len();
    let mut b = Band::default();
    for e in 0..len {
        let col: Vec<f64> = curves.iter().map(|c| c[e]).collect();
        let s = stat(&col);
        b.x.push((e + 1) as f64);
        b.mean.push(s.mean);
        b.std.push(s.std);
        b.min.push(s.min);
        b.max.push(s.max);
    }
    b
}

/// Per optimizer: (base lr of its space, quality 0..1, speed 0..1).
fn traits(opt: &str) -> (f64, f64, f64) {
    match opt {
        "sgd" => (0.1, 0.55, 0.3),
        "momentum" => (0.03, 0.8, 0.6),
        "nesterov" => (0.03, 0.82, 0.62),
        "adagrad" => (0.03, 0.6, 0.45),
        "rmsprop" => (1e-3, 0.75, 0.7),
        "adam" => (1e-3, 0.9, 0.85),
        "adamw" => (1e-3, 0.92, 0.85),
        "nadam" => (1e-3, 0.88, 0.9),
        "lion" => (1e-4, 0.7, 0.8),
        _ => (0.01, 0.5, 0.5),
    }
}

fn optimizer_table(opt: &str, lr: f64) -> String {
    let body = match opt {
        "momentum" => "name = \"sgd\"\nmomentum = 0.9\n".to_string(),
        "nesterov" => "name = \"sgd\"\nmomentum = 0.9\nnesterov = true\n".to_string(),
        "adamw" => "name = \"adamw\"\nweight_decay = 0.01\n".to_string(),
        o => format!("name = \"{o}\"\n"),
    };
    format!("[train]\nepochs = 15\n\n[optimizer]\n{body}lr = {lr:e}\n")
}

/// The options `gradlab report` passes: the study optimizers' landscapes, computed by the
/// `landscape` crate.
pub fn options(a: &Analysis, runs: &[RunRecord]) -> report::Options {
    report::Options {
        landscapes: Some(landscape::study::landscapes(&report::landscape_optimizers(
            a, runs,
        ))),
        ..Default::default()
    }
}

pub fn fixture() -> (Analysis, Vec<RunRecord>) {
    let mut rng = Lcg(42);
    let mut groups = Vec::new();
    let mut runs = Vec::new();
    for (pi, &p) in PROBLEMS.iter().enumerate() {
        let ceiling = [0.72, 0.975, 0.965][pi];
        for &o in &OPTIMIZERS {
            let (base_lr, quality, speed) = traits(o);
            // Six trials, log-spaced around the base lr; the largest diverge for sgd-like ones.
            let mut trials = Vec::new();
            for t in 0..6u32 {
                let lr = base_lr * 10f64.powf(-1.5 + 0.6 * t as f64 + 0.1 * rng.next());
                let diverged = t == 5 && matches!(o, "sgd" | "momentum" | "nesterov" | "lion")
                    || (t == 4 && o == "lion");
                let dist = (lr / base_lr).log10().abs();
                let score = if diverged {
                    None
                } else {
                    Some(ceiling * (quality * 0.15 + 0.85) - 0.04 * dist * dist - 0.01 * rng.next())
                };
                let mut params = BTreeMap::new();
                params.insert("lr".to_string(), json!(lr));
                if o == "adamw" {
                    params.insert("weight_decay".to_string(), json!(1e-4 * (t + 1) as f64));
                }
                trials.push(Trial {
                    trial: t,
                    params,
                    lr: Some(lr),
                    score,
                    diverged,
                    ..Default::default()
                });
            }
            let best = trials
                .iter()
                .filter(|t| t.score.is_some())
                .max_by(|a, b| a.score.unwrap().total_cmp(&b.score.unwrap()))
                .unwrap()
                .clone();
            let best_lr = best.lr.unwrap();
            // Curves over 15 epochs for 3 seeds.
            let mut accs = Vec::new();
            let mut losses = Vec::new();
            let mut vlosses = Vec::new();
            for _ in 0..3 {
                let final_acc = ceiling * (quality * 0.15 + 0.85) - 0.005 * rng.next();
                let rate = 0.15 + 0.5 * speed;
                let acc: Vec<f64> = (1..=15)
                    .map(|e| {
                        let f = 1.0 - (-(e as f64) * rate).exp();
                        0.1 + (final_acc - 0.1) * f + 0.004 * (rng.next() - 0.5)
                    })
                    .collect();
                let loss: Vec<f64> = (1..=15)
                    .map(|e| 2.3 * (-(e as f64) * rate * 0.6).exp() + 0.02 + 0.02 * rng.next())
                    .collect();
                let vloss: Vec<f64> = loss.iter().map(|l| l * 1.2 + 0.05).collect();
                accs.push(acc);
                losses.push(loss);
                vlosses.push(vloss);
            }
            let final_accs: Vec<f64> = accs.iter().map(|a| a[14]).collect();
            let final_train: Vec<f64> = losses.iter().map(|l| l[14]).collect();
            let final_test: Vec<f64> = vlosses.iter().map(|l| l[14] + 0.01).collect();
            let gaps: Vec<f64> = final_test
                .iter()
                .zip(&final_train)
                .map(|(a, b)| a - b)
                .collect();
            let target = [0.55, 0.95, 0.95][pi];
            let reach: Vec<f64> = accs
                .iter()
                .filter_map(|a| a.iter().position(|&v| v >= target))
                .map(|e| ((e + 1) * 100) as f64)
                .collect();
            let diverged = trials.iter().filter(|t| t.diverged).count();
            let runs_n = trials.len() + 2;
            let mut findings = BTreeMap::new();
            if o == "sgd" {
                findings.insert("lr_too_low".to_string(), 2);
            }
            if o == "lion" {
                findings.insert("lr_too_high".to_string(), 1);
            }
            if pi == 1 && (o == "adam" || o == "nadam") {
                findings.insert("overfitting".to_string(), 3);
            }
            let mut best_params = best.params.clone();
            if o == "momentum" || o == "nesterov" {
                best_params.insert("momentum".to_string(), json!(0.9));
            }
            let tuneability: Vec<f64> = (1..=6)
                .map(|k| best.score.unwrap() - 0.05 / k as f64)
                .collect();
            groups.push(Group {
                problem: p.to_string(),
                optimizer: o.to_string(),
                best_params: best_params.clone(),
                seeds: 3,
                test_accuracy: Some(stat(&final_accs)),
                test_loss: Some(stat(&final_test)),
                val_accuracy: Some(stat(
                    &final_accs.iter().map(|a| a + 0.003).collect::<Vec<_>>(),
                )),
                train_loss: Some(stat(&final_train)),
                generalisation_gap: Some(stat(&gaps)),
                steps_to_target: (!reach.is_empty()).then(|| stat(&reach)),
                seconds_to_target: (!reach.is_empty())
                    .then(|| stat(&reach.iter().map(|s| s * 0.004).collect::<Vec<_>>())),
                reached_target: reach.len(),
                runs: runs_n,
                diverged,
                failed: usize::from(pi == 2 && o == "adagrad"),
                divergence_rate: diverged as f64 / runs_n as f64,
                trials: trials.clone(),
                tuneability,
                findings: findings.clone(),
                test_accuracy_curve: band(&accs),
                val_loss_curve: band(&vlosses),
                train_loss_curve: band(&losses),
                wall_s: stat(&[4.0 + rng.next(), 4.2, 4.4]),
                ..Default::default()
            });
            // Runs: trials at seed 0, finals at seeds 1 and 2.
            for t in &trials {
                let lr = t.lr.unwrap();
                runs.push(record(
                    p,
                    o,
                    Phase::Tune,
                    t.trial,
                    0,
                    &t.params,
                    lr,
                    t.diverged,
                    &findings,
                ));
            }
            for seed in 1..=2u64 {
                runs.push(record(
                    p,
                    o,
                    Phase::Final,
                    best.trial,
                    seed,
                    &best.params,
                    best_lr,
                    false,
                    &findings,
                ));
            }
        }
    }
    // One failed run.
    let mut failed = record(
        "mnist10k_mlp",
        "adagrad",
        Phase::Final,
        3,
        2,
        &BTreeMap::new(),
        0.01,
        false,
        &BTreeMap::new(),
    );
    failed.state = RunState::Failed;
    failed.result = None;
    failed.error = Some(FAILED_ERROR.to_string());
    failed.spec.key = "ffffffffffffffff".into();
    runs.push(failed);

    // Profiles: two measures over the 9 optimizers.
    let tau: Vec<f64> = (0..25).map(|i| 10f64.powf(i as f64 * 0.05)).collect();
    let mut profiles = Vec::new();
    for (m, measure) in ["steps to target", "final test loss"].iter().enumerate() {
        let mut rho = BTreeMap::new();
        for (k, &o) in OPTIMIZERS.iter().enumerate() {
            let (_, q, s) = traits(o);
            let r0 = if m == 0 { s } else { q };
            let first = ((r0 * 3.0).floor() / 3.0).min(1.0);
            let v: Vec<f64> = tau
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    let extra = (i / (6 + k)) as f64 / 3.0;
                    (first + extra).min(1.0)
                })
                .collect();
            rho.insert(o.to_string(), v);
        }
        profiles.push(Profile {
            measure: measure.to_string(),
            tau: tau.clone(),
            rho,
            ..Default::default()
        });
    }
    // Ranking by mean quality.
    let mut order: Vec<&str> = OPTIMIZERS.to_vec();
    order.sort_by(|a, b| traits(b).1.total_cmp(&traits(a).1));
    let ranking: Vec<RankRow> = order
        .iter()
        .enumerate()
        .map(|(i, &o)| RankRow {
            rank: i + 1,
            optimizer: o.to_string(),
            mean_rank: 1.0 + i as f64 + 0.3333333 * (i % 3) as f64,
            wins: if i == 0 { 2 } else { usize::from(i == 1) },
            profile_score: traits(o).2,
            divergence_rate: groups
                .iter()
                .filter(|g| g.optimizer == o)
                .map(|g| g.divergence_rate)
                .sum::<f64>()
                / 3.0,
        })
        .collect();
    let verdicts = PROBLEMS
        .iter()
        .enumerate()
        .map(|(i, &p)| Verdict {
            problem: p.to_string(),
            winner: ["adamw", "adamw", "adam"][i].to_string(),
            runner_up: Some(["adam", "nadam", "adamw"][i].to_string()),
            margin: [0.012, 0.004, 0.0008][i],
            t: Some([5.1, 2.3, 0.4][i]),
            confidence: ["clear", "likely", "within noise"][i].to_string(),
            text: format!(
                "On {p}, {} wins by {:.1} points of test accuracy over {} (3 seeds) — {}.",
                ["adamw", "adamw", "adam"][i],
                [1.2, 0.4, 0.08][i],
                ["adam", "nadam", "adamw"][i],
                ["a clear win", "likely real", "within noise"][i]
            ),
            ..Default::default()
        })
        .collect();
    let characters = OPTIMIZERS
        .iter()
        .map(|&o| Character {
            optimizer: o.to_string(),
            strengths: if traits(o).2 > 0.7 {
                vec![format!("{o} reaches the target fastest on 2 of 3 problems")]
            } else {
                vec![]
            },
            weaknesses: if matches!(o, "sgd" | "lion") {
                vec![format!(
                    "{o} diverged in 1 of 6 trials at lr > 0.1 <unstable>"
                )]
            } else {
                vec![]
            },
            fits: vec![format!("{o}: small MLPs & well-scaled inputs")],
        })
        .collect();
    let total_wall_s = groups.iter().map(|g| g.wall_s.mean * g.runs as f64).sum();
    let analysis = Analysis {
        study: STUDY.to_string(),
        metric: lab::Metric::TestAccuracy,
        higher_is_better: true,
        problems: PROBLEMS.iter().map(|s| s.to_string()).collect(),
        optimizers: OPTIMIZERS.iter().map(|s| s.to_string()).collect(),
        groups,
        profiles,
        ranking,
        verdicts,
        characters,
        runs: runs.len(),
        failed: 1,
        total_wall_s,
        ..Analysis::default()
    };
    (analysis, runs)
}

#[allow(clippy::too_many_arguments)]
fn record(
    problem: &str,
    opt: &str,
    phase: Phase,
    trial: u32,
    seed: u64,
    params: &BTreeMap<String, serde_json::Value>,
    lr: f64,
    diverged: bool,
    findings: &BTreeMap<String, usize>,
) -> RunRecord {
    RunRecord {
        spec: RunSpec {
            key: format!(
                "{:016x}",
                (problem.len() as u64) << 40
                    | (opt.len() as u64) << 20
                    | (trial as u64) << 8
                    | seed
            ),
            problem: problem.to_string(),
            optimizer: opt.to_string(),
            phase,
            trial,
            seed,
            params: params.clone(),
            config: optimizer_table(opt, lr),
        },
        state: RunState::Done,
        worker: Some("host:1:0".into()),
        error: None,
        result: Some(RunResult {
            stop: if diverged { "non_finite" } else { "completed" }.into(),
            diverged,
            steps: 1500,
            epochs: 15,
            wall_s: 4.2,
            step_losses: vec![(10, 2.2), (20, 1.9)],
            epochs_log: Vec::new(),
            findings: findings
                .keys()
                .map(|k| FindingRow {
                    kind: k.clone(),
                    first_step: 100,
                    last_step: 900,
                    confidence: 0.8,
                    summary: format!("{k} seen in {opt} on {problem} between steps 100 and 900"),
                })
                .collect(),
        }),
    }
}

/// Checks that `doc` is well-formed XML-ish HTML: every element closed in order (void elements
/// must be self-closed), attributes quoted, `&` only in entities, no stray `<`. `<style>` and
/// `<script>` content is raw text. Returns the number of elements per tag name.
pub fn check_well_formed(doc: &str) -> Result<BTreeMap<String, usize>, String> {
    let b = doc.as_bytes();
    let mut i = 0;
    let mut stack: Vec<String> = Vec::new();
    let mut counts = BTreeMap::new();
    let line = |pos: usize| doc[..pos].matches('\n').count() + 1;
    while i < b.len() {
        if b[i] == b'<' {
            if doc[i..].starts_with("<!--") {
                let end = doc[i..].find("-->").ok_or("unclosed comment")?;
                i += end + 3;
                continue;
            }
            if doc[i..].starts_with("<!DOCTYPE") || doc[i..].starts_with("<!doctype") {
                let end = doc[i..].find('>').ok_or("unclosed doctype")?;
                i += end + 1;
                continue;
            }
            let closing = b.get(i + 1) == Some(&b'/');
            let start = if closing { i + 2 } else { i + 1 };
            let mut j = start;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b':') {
                j += 1;
            }
            let name = doc[start..j].to_ascii_lowercase();
            if name.is_empty() {
                return Err(format!("line {}: stray '<'", line(i)));
            }
            // Attributes until '>' (respecting quotes).
            let mut k = j;
            let mut self_closing = false;
            loop {
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k >= b.len() {
                    return Err(format!("line {}: unterminated tag <{name}", line(i)));
                }
                if b[k] == b'>' {
                    k += 1;
                    break;
                }
                if b[k] == b'/' && b.get(k + 1) == Some(&b'>') {
                    self_closing = true;
                    k += 2;
                    break;
                }
                if closing {
                    return Err(format!("line {}: junk in </{name}>", line(i)));
                }
                let a0 = k;
                while k < b.len() && !b"= \t\n>/".contains(&b[k]) {
                    k += 1;
                }
                if k == a0 {
                    return Err(format!("line {}: bad attribute in <{name}>", line(i)));
                }
                if b.get(k) != Some(&b'=') {
                    return Err(format!(
                        "line {}: attribute {} of <{name}> has no quoted value",
                        line(i),
                        &doc[a0..k]
                    ));
                }
                k += 1;
                let q = b[k];
                if q != b'"' && q != b'\'' {
                    return Err(format!("line {}: unquoted attribute in <{name}>", line(i)));
                }
                let end = doc[k + 1..]
                    .find(q as char)
                    .ok_or("unterminated attribute")?;
                check_text(&doc[k + 1..k + 1 + end])
                    .map_err(|e| format!("line {}: {e}", line(i)))?;
                if doc[k + 1..k + 1 + end].contains('<') {
                    return Err(format!("line {}: '<' in an attribute of <{name}>", line(i)));
                }
                k = k + 1 + end + 1;
            }
            if closing {
                match stack.pop() {
                    Some(open) if open == name => {}
                    Some(open) => {
                        return Err(format!("line {}: </{name}> closes <{open}>", line(i)))
                    }
                    None => return Err(format!("line {}: </{name}> without an open tag", line(i))),
                }
            } else {
                *counts.entry(name.clone()).or_insert(0) += 1;
                if !self_closing {
                    if matches!(
                        name.as_str(),
                        "meta" | "br" | "img" | "link" | "input" | "hr"
                    ) {
                        return Err(format!("line {}: void <{name}> not self-closed", line(i)));
                    }
                    if name == "style" || name == "script" {
                        let end = doc[k..]
                            .find(&format!("</{name}>"))
                            .ok_or(format!("unclosed <{name}>"))?;
                        k += end + name.len() + 3;
                    } else {
                        stack.push(name);
                    }
                }
            }
            i = k;
        } else {
            let next = doc[i..].find('<').map(|n| i + n).unwrap_or(b.len());
            check_text(&doc[i..next]).map_err(|e| format!("line {}: {e}", line(i)))?;
            if doc[i..next].contains('>') {
                return Err(format!("line {}: raw '>' in text", line(i)));
            }
            i = next;
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> is never closed"));
    }
    Ok(counts)
}

/// `&` must start an entity (`&amp;`, `&#39;`, ...).
fn check_text(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(p) = rest.find('&') {
        let after = &rest[p + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| format!("bare '&' in {:?}", &rest[p..rest.len().min(p + 20)]))?;
        let ent = &after[..end];
        let ok = matches!(ent, "amp" | "lt" | "gt" | "quot" | "apos")
            || (ent.starts_with('#')
                && ent[1..].chars().all(|c| c.is_ascii_digit())
                && ent.len() > 1);
        if !ok {
            return Err(format!("bad entity &{ent};"));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// A parsed CSV (RFC 4180 quoting).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else {
            match c {
                '"' => quoted = true,
                ',' => row.push(std::mem::take(&mut field)),
                '\n' => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                c => field.push(c),
            }
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// A decoded 8-bit RGB/RGBA PNG: (width, height, RGB pixels).
pub fn decode_png(bytes: &[u8]) -> Result<(usize, usize, Vec<[u8; 3]>), String> {
    use std::io::Read;
    if bytes.len() < 8 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" {
        return Err("not a PNG".into());
    }
    let mut pos = 8;
    let (mut w, mut h, mut ctype, mut depth, mut interlace) = (0, 0, 0, 0, 0);
    let mut idat = Vec::new();
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = bytes.get(pos + 8..pos + 8 + len).ok_or("truncated chunk")?;
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                depth = data[8];
                ctype = data[9];
                interlace = data[12];
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    if depth != 8 || interlace != 0 {
        return Err(format!(
            "unsupported PNG: depth {depth}, interlace {interlace}"
        ));
    }
    let bpp = match ctype {
        2 => 3,
        6 => 4,
        _ => return Err(format!("unsupported PNG colour type {ctype}")),
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    let stride = w * bpp;
    if raw.len() < h * (stride + 1) {
        return Err("short image data".into());
    }
    let mut img = vec![0u8; h * stride];
    for y in 0..h {
        let f = raw[y * (stride + 1)];
        let src = &raw[y * (stride + 1) + 1..(y + 1) * (stride + 1)];
        for x in 0..stride {
            let a = if x >= bpp {
                img[y * stride + x - bpp] as i32
            } else {
                0
            };
            let up = if y > 0 {
                img[(y - 1) * stride + x] as i32
            } else {
                0
            };
            let c = if y > 0 && x >= bpp {
                img[(y - 1) * stride + x - bpp] as i32
            } else {
                0
            };
            let pred = match f {
                0 => 0,
                1 => a,
                2 => up,
                3 => (a + up) / 2,
                4 => {
                    let p = a + up - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - up).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        up
                    } else {
                        c
                    }
                }
                _ => return Err(format!("bad filter {f}")),
            };
            img[y * stride + x] = (src[x] as i32 + pred) as u8;
        }
    }
    let px = img.chunks_exact(bpp).map(|p| [p[0], p[1], p[2]]).collect();
    Ok((w, h, px))
}

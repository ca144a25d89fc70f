//! The HTML report and the exports, from a hand-built analysis of 3 problems × 9 optimizers.

mod common;

use common::{check_well_formed, fixture, options, parse_csv, FAILED_ERROR, OPTIMIZERS, PROBLEMS};
use lab::analysis::{Group, Profile, RankRow, Verdict};

fn html() -> String {
    let (a, runs) = fixture();
    report::render_html(&a, &runs, &options(&a, &runs))
}

/// The text of the `<section id="...">` with this id.
fn section<'a>(doc: &'a str, id: &str) -> &'a str {
    let start = doc
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = doc[start..].find("</section>").expect("section end") + start;
    &doc[start..end]
}

#[test]
fn has_every_section_and_every_optimizer() {
    let doc = html();
    for id in [
        "header",
        "recommendation",
        "summary",
        "ranking",
        "verdicts",
        "characters",
        "profiles",
        "landscape",
        "findings",
        "failed",
    ] {
        assert!(doc.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    for p in PROBLEMS {
        let s = section(&doc, &format!("problem-{p}"));
        // four plots: accuracy curves, loss curves, lr sensitivity, tuneability
        assert_eq!(s.matches("<svg").count(), 4, "{p}");
        for t in [
            "test accuracy over epochs",
            "training loss",
            "learning-rate sensitivity",
            "tuneability",
        ] {
            assert!(s.contains(t), "{p}: {t}");
        }
        for o in OPTIMIZERS {
            // in the legend of every plot and in the table
            assert!(
                s.matches(&format!(">{o}</text>")).count() >= 4,
                "{p}/{o} legends"
            );
            assert!(
                s.contains(&format!("</span>{o}</span></td>")),
                "{p}/{o} table row"
            );
        }
    }
    let summary = section(&doc, "summary");
    for o in OPTIMIZERS {
        assert!(
            summary.contains(&format!("</span>{o}</span></td>")),
            "ranking row {o}"
        );
        assert!(
            summary.contains(&format!("</span>{o}</span></h4>")),
            "character card {o}"
        );
    }
    // the profiles: one plot per measure, each with every optimizer
    let prof = section(&doc, "profiles");
    assert_eq!(prof.matches("<svg").count(), 2);
    assert!(prof.contains("steps to target") && prof.contains("final test loss"));
    for o in OPTIMIZERS {
        assert_eq!(prof.matches(&format!(">{o}</text>")).count(), 2, "{o}");
    }
    // the landscapes: every optimizer ran on both functions, with its lr, steps and final value
    let land = section(&doc, "landscape");
    assert_eq!(land.matches("<svg").count(), 2);
    assert!(land.contains("Rosenbrock") && land.contains("saddle"));
    for o in OPTIMIZERS {
        let n = land.matches(&format!(">{o}</text>")).count();
        assert_eq!(n, 2, "{o} on both landscapes");
    }
    assert!(
        !land.contains("Not drawn"),
        "every optimizer could be built"
    );
    assert_eq!(land.matches(" · 500 steps · ").count(), OPTIMIZERS.len());
    assert_eq!(land.matches(" · 100 steps · ").count(), OPTIMIZERS.len());
}

#[test]
fn self_contained_and_escaped() {
    let doc = html();
    let lower = doc.to_ascii_lowercase();
    // nothing is loaded: no scripts, links, images, imports, fonts or url() but local clips
    for bad in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "src=",
        "@import",
        "@font-face",
        "href=\"http",
        "href='http",
    ] {
        assert!(!lower.contains(bad), "found {bad}");
    }
    assert_eq!(
        lower.matches("url(").count(),
        lower.matches("url(#").count(),
        "url() other than local references"
    );
    // the only absolute URL is the SVG namespace name (not fetched)
    let urls = lower.matches("http://").count() + lower.matches("https://").count();
    let ns = lower
        .matches("xmlns=\"http://www.w3.org/2000/svg\"")
        .count();
    assert_eq!(urls, ns);
    // the study name, the failed run's error and the characters are escaped
    assert!(doc.contains("default &lt;study&gt; &amp; &quot;friends&quot;"));
    assert!(doc.contains(&report::esc(FAILED_ERROR)));
    assert!(doc.contains("lr &gt; 0.1 &lt;unstable&gt;"));
    assert!(!doc.contains("<unstable>") && !doc.contains("<study>"));
}

#[test]
fn is_well_formed() {
    let doc = html();
    let counts = check_well_formed(&doc).unwrap_or_else(|e| panic!("{e}"));
    // 3 × 4 problem plots + 2 profiles + 2 landscapes
    assert_eq!(counts["svg"], 16);
    assert_eq!(counts["section"], 3 + 6);
    assert_eq!(counts["html"], 1);
    // the checker does catch mistakes
    assert!(check_well_formed("<div><svg></div></svg>").is_err());
    assert!(check_well_formed("<p>a & b</p>").is_err());
    assert!(check_well_formed("<p a=b>x</p>").is_err());
    assert!(check_well_formed("<p>1 < 2</p>").is_err());
    assert!(check_well_formed("<div><p>x</p>").is_err());
}

#[test]
fn table_numbers_match_the_fixture() {
    let (a, _) = fixture();
    let doc = html();
    for p in PROBLEMS {
        let s = section(&doc, &format!("problem-{p}"));
        for g in a.groups.iter().filter(|g| g.problem == p) {
            let row_start = s
                .find(&format!("</span>{}</span></td>", g.optimizer))
                .unwrap();
            let row = &s[row_start..row_start + s[row_start..].find("</tr>").unwrap()];
            let acc = g.test_accuracy.unwrap();
            let loss = g.test_loss.unwrap();
            let gap = g.generalisation_gap.unwrap();
            let want = [
                format!("{:.2} ± {:.2}", acc.mean * 100.0, acc.std * 100.0),
                format!("{:.4} ± {:.4}", loss.mean, loss.std),
                format!("{:.4} ± {:.4}", gap.mean, gap.std),
                format!("({}/{})", g.reached_target, g.seeds),
                format!(
                    "{:.0}% ({}/{})",
                    g.divergence_rate * 100.0,
                    g.diverged,
                    g.runs
                ),
                format!(
                    "lr={}",
                    report::svg::fmt_num(g.best_params["lr"].as_f64().unwrap())
                ),
            ];
            for w in &want {
                assert!(
                    row.contains(w.as_str()),
                    "{p}/{}: {w} not in {row}",
                    g.optimizer
                );
            }
            if let Some(st) = g.steps_to_target {
                assert!(row.contains(&format!("{:.0} ± {:.0}", st.mean, st.std)));
            } else {
                assert!(row.contains(&format!("— (0/{})", g.seeds)));
            }
            for (k, n) in &g.findings {
                assert!(
                    row.contains(&format!("{} ×{n}", k.replace('_', " "))),
                    "{row}"
                );
            }
        }
    }
    let rank = section(&doc, "summary");
    for r in &a.ranking {
        let i = rank
            .find(&format!("</span>{}</span></td>", r.optimizer))
            .unwrap();
        let row = &rank[i..i + rank[i..].find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("<td class=\"n\">{:.2}</td>", r.mean_rank)),
            "{row}"
        );
        assert!(
            row.contains(&format!("<td class=\"n\">{:.3}</td>", r.profile_score)),
            "{row}"
        );
        assert!(
            row.contains(&format!("<td class=\"n\">{}</td>", r.wins)),
            "{row}"
        );
    }
    for v in &a.verdicts {
        assert!(rank.contains(&report::esc(&v.text)));
        assert!(rank.contains(&format!("\">{}</span>", v.confidence)));
    }
    for ch in &a.characters {
        for s in ch.strengths.iter().chain(&ch.weaknesses).chain(&ch.fits) {
            assert!(rank.contains(&report::esc(s)), "{s}");
        }
    }
    // header counts
    let head = section(&doc, "header");
    assert!(head.contains(&format!("{} runs", a.runs)) && head.contains("1 failed"));
    assert!(
        head.contains("6 trials per optimizer"),
        "protocol from the runs"
    );
    // The finals are the seeds not used for selection.
    assert!(head.contains("at seed 0, the best setting"), "{head}");
    assert!(head.contains("re-run at seeds 1, 2; final statistics over those seeds only"));
    assert!(!head.contains("biased upwards"), "{head}");
}

/// The report names the metric the ranking uses, keeps optimizer names on one line, says what
/// was measured where no character sentence applies, prints fast seconds to target with
/// significant digits, and discloses finals that rest on the selected trial.
#[test]
fn ranking_metric_names_fast_times_and_empty_characters() {
    let (mut a, runs) = fixture();
    let doc = report::render_html(&a, &runs, &options(&a, &runs));
    let summary = section(&doc, "summary");
    assert!(summary.contains("rank by final test accuracy"), "{summary}");
    assert!(summary.contains("Mean rank by final test accuracy"));
    // The recommendation at the top: one line per verdict, with its margin and confidence.
    let rec = section(&doc, "recommendation");
    for v in &a.verdicts {
        let r = v.runner_up.as_deref().unwrap();
        let line = format!(
            "On <b>{}</b> use <b>{}</b>; it beats {r} by {:.1} points of final test accuracy",
            v.problem,
            v.winner,
            100.0 * v.margin
        );
        assert!(rec.contains(&line), "{line} not in {rec}");
    }
    assert!(doc.find("id=\"recommendation\"") < doc.find("id=\"summary\""));
    assert!(doc.contains(".nm{white-space:nowrap}"));
    assert!(!doc.contains("none measured"));

    // A character with nothing to say, a run reaching the target in 31 ms, a biased group.
    a.characters[0].fits.clear();
    let opt = a.characters[0].optimizer.clone();
    let g = a.groups.iter_mut().find(|g| g.optimizer == opt).unwrap();
    g.seconds_to_target = Some(lab::analysis::Stat {
        mean: 0.0312,
        std: 0.0041,
        n: 3,
        min: 0.027,
        max: 0.035,
    });
    g.selection_biased = true;
    let doc = report::render_html(&a, &runs, &options(&a, &runs));
    let r = a.ranking.iter().find(|r| r.optimizer == opt).unwrap();
    let want = format!(
        "nothing stood out: rank {} of 9 (mean rank {:.2} over 3 problems), {} won",
        r.rank, r.mean_rank, r.wins
    );
    assert!(doc.contains(&want), "{want}");
    assert!(doc.contains("<td class=\"n\">0.031 ± 0.004</td>"));
    assert!(!doc.contains("<td class=\"n\">0.0 ± 0.0</td>"));
    assert!(section(&doc, "header").contains("1 group had no other seed finished"));
}

#[test]
fn findings_are_listed_with_their_meaning() {
    let (a, _) = fixture();
    let doc = html();
    let s = section(&doc, "findings");
    let rows: usize = a.groups.iter().map(|g| g.findings.len()).sum();
    assert_eq!(s.matches("<tr><td>").count(), rows);
    for g in &a.groups {
        for (k, n) in &g.findings {
            assert!(s.contains(&format!(
                "<code>{k}</code></td><td class=\"n\">{n}/{}</td>",
                g.seeds
            )));
            assert!(s.contains(&report::esc(report::finding_meaning(k))));
        }
    }
    assert!(s.contains("lr_too_low seen in sgd on mnist1d_mlp"));
}

#[test]
fn colours_are_consistent_across_the_report() {
    let doc = html();
    for (i, o) in OPTIMIZERS.iter().enumerate() {
        let col = report::OPTIMIZER_COLORS[i];
        // the table swatch and every legend line sample use the optimizer's colour
        assert!(doc.contains(&format!("background:{col}\"></span>{o}<")));
        // (plotters writes colours in upper case; the entry's text follows its sample)
        let legend = format!(
            "stroke=\"{}\" stroke-width=\"3\" points=",
            col.to_ascii_uppercase()
        );
        let samples = doc
            .match_indices(&legend)
            .filter(|(i, _)| {
                let rest = &doc[*i..];
                let text = &rest[rest.find("<text").unwrap()..];
                text[..text.find("</text>").unwrap()].ends_with(&format!(">{o}"))
            })
            .count();
        assert!(samples >= 3 * 3 + 2 + 2, "{o}: {samples}");
    }
}

#[test]
fn write_html_is_atomic_and_deterministic() {
    let (a, runs) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/report.html");
    report::write_html_with(&a, &runs, &path, &options(&a, &runs)).unwrap();
    let first = std::fs::read_to_string(&path).unwrap();
    report::write_html_with(&a, &runs, &path, &options(&a, &runs)).unwrap();
    assert_eq!(first, std::fs::read_to_string(&path).unwrap());
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["report.html"], "no temporary files left");
    let bad = path.join("nested.html"); // under a file
    let e = report::write_html(&a, &runs, &bad).unwrap_err().to_string();
    assert!(e.contains("report.html"), "{e}");
}

#[test]
fn empty_analysis_still_renders() {
    let (mut a, _) = fixture();
    a.groups.clear();
    a.profiles.clear();
    a.ranking.clear();
    a.verdicts.clear();
    a.characters.clear();
    a.failed = 0;
    let doc = report::render_html(
        &a,
        &[],
        &report::Options {
            protocol: Some("given".into()),
            landscapes: None,
        },
    );
    check_well_formed(&doc).unwrap();
    assert!(doc.contains("No verdicts") && doc.contains("Protocol:</b> given"));
    assert!(!doc.contains("id=\"landscape\"") && !doc.contains("id=\"failed\""));
}

fn close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-14 * x.abs().max(y.abs()),
                "{at}: {x} vs {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                close(p, q, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, p) in x {
                close(p, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn exports_round_trip() {
    let (a, _) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let files = report::export(&a, dir.path()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for t in [
        "ranking",
        "groups",
        "trials",
        "verdicts",
        "profiles",
        "characters",
    ] {
        assert!(
            names.contains(&format!("{t}.csv")) && names.contains(&format!("{t}.json")),
            "{t}"
        );
    }
    assert!(names.contains(&"analysis.json".to_string()));
    let n_entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(n_entries, files.len(), "no temporary files left");
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();

    // groups.csv: one row per group, every row as wide as the header, numbers exact
    let rows = parse_csv(&read("groups.csv"));
    assert_eq!(rows.len() - 1, a.groups.len());
    let h = &rows[0];
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    for (r, g) in rows[1..].iter().zip(&a.groups) {
        assert_eq!(r.len(), h.len());
        assert_eq!(r[col("problem")], g.problem);
        assert_eq!(r[col("optimizer")], g.optimizer);
        let acc = g.test_accuracy.unwrap();
        assert_eq!(
            r[col("test_accuracy_mean")].parse::<f64>().unwrap(),
            acc.mean
        );
        assert_eq!(r[col("test_accuracy_std")].parse::<f64>().unwrap(), acc.std);
        assert_eq!(
            r[col("divergence_rate")].parse::<f64>().unwrap(),
            g.divergence_rate
        );
        assert_eq!(r[col("reached_target")], g.reached_target.to_string());
        let params: serde_json::Value = serde_json::from_str(&r[col("best_params")]).unwrap();
        close(
            &params,
            &serde_json::to_value(&g.best_params).unwrap(),
            "best_params",
        );
    }
    // trials.csv: one row per trial, lr and divergence intact
    let rows = parse_csv(&read("trials.csv"));
    let trials: Vec<_> = a.groups.iter().flat_map(|g| &g.trials).collect();
    assert_eq!(rows.len() - 1, trials.len());
    for (r, t) in rows[1..].iter().zip(&trials) {
        assert_eq!(r[3].parse::<f64>().unwrap(), t.lr.unwrap());
        assert_eq!(r[5], t.diverged.to_string());
        assert_eq!(r[4].is_empty(), t.score.is_none());
    }
    // ranking, verdicts (texts with commas and quotes), profiles (long format), characters
    let rows = parse_csv(&read("ranking.csv"));
    assert_eq!(rows.len() - 1, a.ranking.len());
    let rows = parse_csv(&read("verdicts.csv"));
    assert_eq!(rows.len() - 1, a.verdicts.len());
    for (r, v) in rows[1..].iter().zip(&a.verdicts) {
        assert_eq!(r[6], v.text);
        assert_eq!(r[5], v.confidence);
    }
    let rows = parse_csv(&read("profiles.csv"));
    let n: usize = a.profiles.iter().map(|p| p.tau.len() * p.rho.len()).sum();
    assert_eq!(rows.len() - 1, n);
    assert_eq!(
        parse_csv(&read("characters.csv")).len() - 1,
        a.characters.len()
    );

    // JSON parses back into the analysis types, equal up to float parsing
    let groups: Vec<Group> = serde_json::from_str(&read("groups.json")).unwrap();
    assert_eq!(groups.len(), a.groups.len());
    close(
        &serde_json::to_value(&groups).unwrap(),
        &serde_json::to_value(&a.groups).unwrap(),
        "groups",
    );
    let ranking: Vec<RankRow> = serde_json::from_str(&read("ranking.json")).unwrap();
    close(
        &serde_json::to_value(&ranking).unwrap(),
        &serde_json::to_value(&a.ranking).unwrap(),
        "ranking",
    );
    let verdicts: Vec<Verdict> = serde_json::from_str(&read("verdicts.json")).unwrap();
    assert_eq!(verdicts.len(), a.verdicts.len());
    let profiles: Vec<Profile> = serde_json::from_str(&read("profiles.json")).unwrap();
    close(
        &serde_json::to_value(&profiles).unwrap(),
        &serde_json::to_value(&a.profiles).unwrap(),
        "profiles",
    );
    let trials_json: Vec<serde_json::Value> = serde_json::from_str(&read("trials.json")).unwrap();
    assert_eq!(trials_json.len(), trials.len());
    assert_eq!(trials_json[0]["problem"], PROBLEMS[0]);
    assert!(trials_json[0]["lr"].is_number());
    let whole: lab::Analysis = serde_json::from_str(&read("analysis.json")).unwrap();
    close(
        &serde_json::to_value(&whole).unwrap(),
        &serde_json::to_value(&a).unwrap(),
        "analysis",
    );

    // exporting into a path under a file fails with a message naming it
    let bad = dir.path().join("groups.csv").join("sub");
    let e = report::export(&a, &bad).unwrap_err().to_string();
    assert!(e.contains("groups.csv"), "{e}");
}

#[test]
fn landscape_uses_stored_configs_and_reports_what_it_cannot_build() {
    let (a, mut runs) = fixture();
    // lion's stored config names an optimizer optim does not know: it is listed as not drawn,
    // with optim's message, and every other optimizer is still drawn.
    for r in runs.iter_mut().filter(|r| r.spec.optimizer == "lion") {
        r.spec.config = "[optimizer]\nname = \"lionn\"\nlr = 1e-4\n".into();
    }
    let doc = report::render_html(&a, &runs, &options(&a, &runs));
    let land = section(&doc, "landscape");
    assert!(land.contains("Not drawn"));
    assert_eq!(land.matches("<li>lion on ").count(), 2, "both functions");
    assert!(land.contains("lionn"), "optim's message names the bad name");
    assert!(!land.contains(">lion</text>"));
    for o in OPTIMIZERS.iter().filter(|o| **o != "lion") {
        assert_eq!(land.matches(&format!(">{o}</text>")).count(), 2, "{o}");
    }
    check_well_formed(&doc).unwrap();
}

/// A factor study's section: each factor's effect table with its verdicts, and the interaction
/// table with its test; the exports hold the same rows.
#[test]
fn factor_section_and_exports() {
    use lab::analysis::{FactorEffect, Interaction, LevelEffect, Stat};
    let st = |mean: f64, std: f64, n: usize| Stat {
        mean,
        std,
        n,
        min: mean - std,
        max: mean + std,
    };
    let (mut a, runs) = fixture();
    let level = |name: &str, mean: f64, effect: f64, conf: &str| LevelEffect {
        level: name.into(),
        arms: vec![format!("adam+norm={name}")],
        metric: Some(st(mean, 0.01, 5)),
        effect: Some(effect),
        t: (effect != 0.0).then_some(4.2),
        confidence: conf.into(),
        diverged: 1,
        runs: 15,
        divergence_rate: 1.0 / 15.0,
        gap: Some(st(0.12, 0.01, 5)),
        findings: [(
            "vanishing_gradients".to_string(),
            if effect == 0.0 { 5 } else { 0 },
        )]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect(),
        seeds: 5,
        curve: lab::analysis::Band {
            x: vec![1.0, 2.0, 3.0, 4.0],
            mean: vec![0.5, 0.6, 0.7, mean],
            std: vec![0.01; 4],
            min: vec![0.49, 0.59, 0.69, mean - 0.01],
            max: vec![0.51, 0.61, 0.71, mean + 0.01],
        },
        ..LevelEffect::default()
    };
    a.factors = vec![FactorEffect {
        factor: "norm".into(),
        problem: PROBLEMS[0].into(),
        optimizer: "adam".into(),
        reference: "none".into(),
        levels: vec![
            level("none", 0.80, 0.0, "reference"),
            level("bn", 0.85, 0.05, "clear"),
        ],
        verdicts: vec![
            "On p with adam, norm=bn raises final test accuracy by 5.0 points vs none.".into(),
        ],
    }];
    a.interactions = vec![Interaction {
        problem: PROBLEMS[0].into(),
        optimizer: "adam".into(),
        factors: ("norm".into(), "init".into()),
        levels: (
            vec!["none".into(), "bn".into()],
            vec!["default".into(), "he".into()],
        ),
        cells: vec![
            vec![Some(st(0.8, 0.01, 3)), Some(st(0.82, 0.01, 3))],
            vec![Some(st(0.85, 0.01, 3)), None],
        ],
        test: Some((75.0, 1, 8, 2.5e-5)),
        label: "interact".into(),
        text: "On p with adam, the effect of norm depends on init (interaction F(1, 8) = 75.00, p = 0.000025).".into(),
    }];
    let doc = report::render_html(&a, &runs, &options(&a, &runs));
    check_well_formed(&doc).unwrap();
    let s = section(&doc, "factors");
    assert!(s.contains("Factor norm"), "{s}");
    assert!(s.contains("85.00 ± 1.00 (n=5)"));
    assert!(s.contains("+5.00 points"));
    assert!(s.contains("vanishing gradients 5 of 5"));
    assert!(s.contains("7% (1/15)"));
    assert!(s.contains("— (0/5)"), "steps to target");
    assert!(s.contains("norm=bn raises final test accuracy by 5.0 points"));
    assert!(s.contains("80.00 ± 1.00 (n=3)") && s.contains("<td class=\"n\">—</td>"));
    assert!(s.contains("the effect of norm depends on init"));
    // One curve per level (4 epochs each), in the level's colour, named in the legend.
    let curves = &s[s.find("level-curves").expect("the level curves")..];
    let curves = &curves[..curves.find("</figure>").unwrap()];
    for (i, name) in ["none", "bn"].iter().enumerate() {
        let col = report::OPTIMIZER_COLORS[i].to_ascii_uppercase();
        let lines = curves
            .split("<polyline")
            .skip(1)
            .filter(|t| {
                t.to_ascii_uppercase()
                    .contains(&format!("STROKE=\"{col}\""))
            })
            .filter(|t| {
                let pts = t
                    .split("points=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                pts.split_whitespace().count() == 4
            })
            .count();
        assert_eq!(lines, 1, "level {name}: {curves}");
        assert!(curves.contains(&format!(">{name}<")), "legend {name}");
    }
    assert!(curves.contains("test accuracy per level of norm<"));
    assert!(curves.contains("mean over its final seeds, with their min–max band."));
    let head = section(&doc, "header");
    assert!(
        head.contains("3 problems × 9 arms (optimizer × factor levels)"),
        "{head}"
    );
    assert!(head.contains("href=\"#factors\""));
    assert!(section(&html(), "header").contains("3 problems × 9 optimizers"));
    // An optimizer study has no such section.
    assert!(!html().contains("id=\"factors\""));

    let dir = tempfile::tempdir().unwrap();
    let files = report::export(&a, dir.path()).unwrap();
    assert!(files.iter().any(|f| f.ends_with("factors.csv")));
    let rows = parse_csv(&std::fs::read_to_string(dir.path().join("factors.csv")).unwrap());
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2][3], "bn");
    assert_eq!(rows[2][8], "0.05");
}

/// A problem's test-accuracy target is drawn on its accuracy curves (dashed, in the legend).
#[test]
fn the_target_is_drawn_on_the_accuracy_curves() {
    let (mut a, runs) = fixture();
    a.targets = vec![lab::analysis::Target {
        problem: PROBLEMS[0].into(),
        metric: lab::Metric::TestAccuracy,
        value: 0.6,
    }];
    let doc = report::render_html(&a, &runs, &options(&a, &runs));
    check_well_formed(&doc).unwrap();
    assert!(section(&doc, &format!("problem-{}", PROBLEMS[0])).contains("target ≥ 60.0%"));
    assert!(!section(&doc, &format!("problem-{}", PROBLEMS[1])).contains("target ≥"));
}

/// A study that pruned trials says so in the header, with the epochs and seconds saved.
#[test]
fn the_header_discloses_pruning_and_its_saving() {
    let (mut a, runs) = fixture();
    assert!(!html().contains("id=\"pruning\""), "no pruning, no line");
    assert!(!html().contains("pruned (median rule"));
    // A pruned trial is marked as such on the sensitivity plot, not as diverged.
    let g = a
        .groups
        .iter_mut()
        .find(|g| g.problem == PROBLEMS[0])
        .unwrap();
    let t = g.trials.iter_mut().find(|t| t.score.is_some()).unwrap();
    t.score = None;
    t.pruned = true;
    a.pruning = Some(lab::analysis::Pruning {
        rule: "median rule, warm-up 2 epochs, 3 completed trials".into(),
        trials: 6,
        pruned: 2,
        epochs_budgeted: 60,
        epochs_saved: 14,
        tuning_s: 46.0,
        seconds_saved: 14.0,
    });
    let doc = report::render_html(&a, &runs, &options(&a, &runs));
    check_well_formed(&doc).unwrap();
    let head = section(&doc, "header");
    assert!(
        head.contains("2 of 6 tuning trials pruned (median rule, warm-up 2 epochs, 3 completed trials): 14 of 60 budgeted epochs not run (23%), about 14.0s saved"),
        "{head}"
    );
    let p = section(&doc, &format!("problem-{}", PROBLEMS[0]));
    assert!(p.contains("pruned (median rule; at the bottom)"), "{p}");
    assert!(!section(&doc, &format!("problem-{}", PROBLEMS[1])).contains("pruned (median"));
}

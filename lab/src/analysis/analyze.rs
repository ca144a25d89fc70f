//! The analysis of a study's stored runs, from groups to characters (the rules are in
//! [`crate::analysis`]).

use train::Metric;

use super::characters::characters;
use super::factors::factor_effects;
use super::groups::{build_group, final_stat};
use super::model::{Analysis, Group, RankRow};
use super::profiles::{performance_profile, profile_scores, shift_positive, steps_cost};
use super::stats::{average_ranks, ratio, tuneability_with_worst};
use super::verdicts::verdict;
use crate::{RunRecord, RunState, Study};

/// Analyses `runs` (as stored) of `study`: one [`Group`] per (problem, optimizer) of the study in
/// its order (runs of other problems or optimizers are ignored; pending and running runs only
/// count in `runs`), the profiles `steps to target` and `final test loss` (in that order), the
/// ranking, a verdict per problem with any final result, and a character per optimizer. Never
/// panics: missing data gives `None` stats, empty curves and no sentence.
pub fn analyze(study: &Study, runs: &[RunRecord]) -> Analysis {
    // The store keeps one record per key; be robust to duplicates anyway (first one wins).
    let mut seen = std::collections::BTreeSet::new();
    let runs: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| seen.insert(r.spec.key.clone()))
        .collect();
    let problems: Vec<String> = study.problems.iter().map(|p| p.name.clone()).collect();
    let optimizers: Vec<String> = study.optimizers.iter().map(|o| o.label.clone()).collect();

    let mut groups = Vec::new();
    for problem in &study.problems {
        for label in &optimizers {
            let recs: Vec<&RunRecord> = runs
                .iter()
                .copied()
                .filter(|r| r.spec.problem == problem.name && &r.spec.optimizer == label)
                .collect();
            groups.push(build_group(study, problem, label, &recs));
        }
    }
    let no = optimizers.len();
    // Tuneability: a diverged or failed trial counts as the worst finite tuning score seen on
    // the problem (any optimizer), so one lucky trial does not hide the others' divergence.
    let thigher = study.tuning.higher_is_better;
    for chunk in groups.chunks_mut(no.max(1)) {
        let worst = chunk
            .iter()
            .flat_map(|g| g.trials.iter().filter_map(|t| t.score))
            .filter(|x| x.is_finite())
            .reduce(|a, b| if (b < a) == thigher { b } else { a });
        for g in chunk.iter_mut() {
            let scores: Vec<Option<f64>> = g.trials.iter().map(|t| t.score).collect();
            g.tuneability = tuneability_with_worst(&scores, thigher, worst);
        }
    }
    let group = |pi: usize, oi: usize| &groups[pi * no + oi];

    // The compared final metric.
    let candidates = [
        Metric::TestAccuracy,
        Metric::TestLoss,
        Metric::ValAccuracy,
        Metric::TrainLoss,
    ];
    let with_data: Vec<usize> = (0..problems.len())
        .filter(|&pi| {
            (0..no).any(|oi| {
                candidates
                    .iter()
                    .any(|&m| final_stat(group(pi, oi), m).is_some())
            })
        })
        .collect();
    let has = |m: Metric, pi: usize| (0..no).any(|oi| final_stat(group(pi, oi), m).is_some());
    let metric = candidates
        .iter()
        .find(|&&m| !with_data.is_empty() && with_data.iter().all(|&pi| has(m, pi)))
        .or_else(|| {
            candidates
                .iter()
                .find(|&&m| (0..problems.len()).any(|pi| has(m, pi)))
        })
        .copied()
        .unwrap_or(Metric::TestAccuracy);
    let higher = metric.higher_is_better();

    // Profiles.
    let steps_costs: Vec<Vec<f64>> = (0..problems.len())
        .map(|pi| {
            (0..no)
                .map(|oi| steps_cost(&study.problems[pi], group(pi, oi)))
                .collect()
        })
        .collect();
    let mut loss_costs: Vec<Vec<f64>> = (0..problems.len())
        .map(|pi| {
            (0..no)
                .map(|oi| {
                    group(pi, oi)
                        .test_loss
                        .map(|s| s.mean)
                        .unwrap_or(f64::INFINITY)
                })
                .collect()
        })
        .collect();
    shift_positive(&mut loss_costs);
    let steps_profile =
        performance_profile("steps to target", &problems, &optimizers, &steps_costs);
    let loss_profile = performance_profile("final test loss", &problems, &optimizers, &loss_costs);

    // Verdicts.
    let mut verdicts = Vec::new();
    for (pi, problem) in study.problems.iter().enumerate() {
        let gs: Vec<&Group> = (0..no).map(|oi| group(pi, oi)).collect();
        if let Some(v) = verdict(problem, &gs, metric, &steps_costs[pi], &optimizers) {
            verdicts.push(v);
        }
    }

    // Ranking.
    let mut rank_sums = vec![0.0; no];
    let mut ranked_problems = 0usize;
    for pi in 0..problems.len() {
        let values: Vec<Option<f64>> = (0..no)
            .map(|oi| final_stat(group(pi, oi), metric).map(|s| s.mean))
            .collect();
        if values.iter().all(|v| v.is_none()) {
            continue;
        }
        ranked_problems += 1;
        for (sum, r) in rank_sums.iter_mut().zip(average_ranks(&values, higher)) {
            *sum += r;
        }
    }
    let steps_scores = profile_scores(&steps_profile);
    let mut ranking: Vec<RankRow> = optimizers
        .iter()
        .enumerate()
        .map(|(oi, o)| {
            let (done, diverged) = (0..problems.len()).fold((0, 0), |(d, v), pi| {
                let g = group(pi, oi);
                (d + g.runs - g.failed, v + g.diverged)
            });
            RankRow {
                rank: 0,
                optimizer: o.clone(),
                mean_rank: if ranked_problems > 0 {
                    rank_sums[oi] / ranked_problems as f64
                } else {
                    (no as f64 + 1.0) / 2.0
                },
                wins: verdicts.iter().filter(|v| &v.winner == o).count(),
                profile_score: steps_scores.get(o).copied().unwrap_or(0.0),
                divergence_rate: ratio(diverged, done),
            }
        })
        .collect();
    // Stable sort keeps the study order for complete ties.
    ranking.sort_by(|a, b| {
        a.mean_rank
            .total_cmp(&b.mean_rank)
            .then(b.wins.cmp(&a.wins))
            .then(b.profile_score.total_cmp(&a.profile_score))
    });
    for (i, row) in ranking.iter_mut().enumerate() {
        row.rank = i + 1;
    }

    let characters = characters(
        study,
        &groups,
        metric,
        &verdicts,
        &ranking,
        &steps_costs,
        ranked_problems,
    );

    let failed = runs.iter().filter(|r| r.state == RunState::Failed).count();
    let total_wall_s = runs
        .iter()
        .filter_map(|r| r.result.as_ref())
        .map(|r| r.wall_s)
        .filter(|w| w.is_finite())
        .sum();
    let (factors, interactions) = factor_effects(study, &groups, metric, &runs);
    let targets = study
        .problems
        .iter()
        .filter_map(|p| {
            Some(super::model::Target {
                problem: p.name.clone(),
                metric: p.target_metric,
                value: p.target?,
            })
        })
        .collect();
    Analysis {
        pruning: super::pruning(study, &runs),
        targets,
        factors,
        interactions,
        study: study.name.clone(),
        metric,
        higher_is_better: higher,
        problems,
        optimizers,
        groups,
        profiles: vec![steps_profile, loss_profile],
        ranking,
        verdicts,
        characters,
        runs: runs.len(),
        failed,
        total_wall_s,
    }
}

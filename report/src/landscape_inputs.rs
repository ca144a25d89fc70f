//! What the report's landscape section shows the study optimizers as: one `[optimizer]` table
//! each, from its stored run config overlaid with its chosen setting on the first problem that
//! has one ([`landscape::study::optimizer_table`]). The caller runs them
//! (`landscape::study::landscapes(&landscape_optimizers(..))`, a fraction of a second) and hands
//! the trajectories to the report in [`crate::Options`]; the report itself runs no optimizer.

use lab::analysis::Analysis;
use lab::RunRecord;
use landscape::study::{config_optimizer, optimizer_table};

/// `(label, [optimizer] table)` of every study optimizer, in the analysis' order.
pub fn landscape_optimizers(a: &Analysis, runs: &[RunRecord]) -> Vec<(String, toml::Table)> {
    a.optimizers
        .iter()
        .map(|o| {
            let best = a
                .groups
                .iter()
                .find(|g| &g.optimizer == o)
                .map(|g| g.best_params.clone())
                .unwrap_or_default();
            let cfg = runs
                .iter()
                .filter(|r| &r.spec.optimizer == o)
                .find_map(|r| config_optimizer(&r.spec.config));
            (o.clone(), optimizer_table(o, cfg.as_ref(), &best))
        })
        .collect()
}

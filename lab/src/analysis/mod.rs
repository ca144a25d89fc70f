//! From stored runs to what a person wants to know: per problem and optimizer, final metrics over
//! seeds, speed to a target, divergence, generalisation gap, learning-rate sensitivity,
//! tuneability, doctor findings; Dolan–Moré performance profiles across problems, an overall
//! ranking and plain-language conclusions.
//!
//! How the numbers are made (every choice is here, so the report can cite it):
//! - **Chosen setting** of a (problem, optimizer): the tuning trial with the best tuning metric
//!   (`study.tuning.metric`, last epoch, in its direction); finished trials without the metric
//!   rank after every finite score, diverged ones after those and failed ones last; ties go to
//!   the lower trial index. The runner re-runs the same trial at every seed: both use
//!   [`crate::study::best_trial`].
//!   Without tuning trials, the defaults runs' setting. Its **seeds** are the done runs with
//!   exactly those params; for a tuned setting, **only the seeds not used for selection**
//!   ([`crate::Study::final_seeds`]): the trial itself (the run at the tuning seed) won the
//!   selection on that seed's noise, so including it would bias the mean towards the winner.
//!   When no other seed has finished (a single-seed study) the trial is used and the group is
//!   flagged `selection_biased`.
//! - **Final metrics** (mean, sample std, n, min, max) are over the seeds that did not diverge
//!   (a diverged run's last logged epoch is not a final result); `seeds_diverged` counts the rest.
//!   Generalisation gap = test_loss − train_loss of the last epoch.
//! - **Steps / seconds to target**: the `step` and `time_s` of the first epoch whose target metric
//!   reaches the problem's target (≥ for accuracies, ≤ for losses), over the seeds that reached it.
//! - **Divergence** over every finished run of the group (trials and seeds): `runs` = done +
//!   failed, rate = diverged / done runs.
//! - **Tuneability**: the expected best tuning score after k trials drawn without replacement
//!   from the K finished trials, E = Σᵢ v₍ᵢ₎ · C(i−1, k−1) / C(K, k) with v sorted worst to best;
//!   a diverged or failed trial counts as the worst finite tuning score seen on the problem (any
//!   optimizer).
//! - **Compared metric**: test_accuracy when every problem with results has it, else test_loss
//!   (then val_accuracy, train_loss).
//! - **Profiles** (Dolan–Moré): `steps to target` costs the mean steps to target when *every*
//!   seed reached it, else ∞; `final test loss` costs the mean final test loss (shifted so the
//!   smallest cost is positive when some is ≤ 0). r = cost / best cost on the problem;
//!   ρ(τ) = |{p : r ≤ τ}| / |P| over the problems where some optimizer has a finite cost, on 50
//!   log-spaced τ from 1 to max(4, 1.1 × the largest finite ratio).
//! - **Ranking**: per problem, rank by the compared metric's mean (ties share the average rank,
//!   optimizers without a result share the last places); mean rank over the problems with any
//!   result; wins = verdicts won; profile score = normalised area under the steps-to-target ρ on
//!   a log τ axis, exactly (1/|P|) Σ_p max(0, ln τ_max − ln r_p) / ln τ_max.
//! - **Verdicts**: winner and runner-up by mean (ties: lower std, then study order); Welch's
//!   t = margin / √(s₁²/n₁ + s₂²/n₂) (None with fewer than 2 seeds or no spread);
//!   `not enough seeds` when either side has fewer than 3 seeds or neither has any spread (the
//!   seed noise cannot be estimated: two seeds with identical accuracy prove nothing), and when
//!   only one optimizer has a result; else `clear` when t ≥ 3, or every winner seed beats every
//!   runner-up seed and that separation has chance probability 1/C(n₁+n₂, n₁) ≤ 0.05; `likely`
//!   when t ≥ 1.5; else `within noise`.
//! - **Characters**: sentences built only from the numbers above, each citing them; a
//!   superlative (best, fastest, smallest, …) needs at least two optimizers with a number, a
//!   "worst/largest" needs at least three.
//!
//! - **Factors** (studies with `[[factors]]`): the rules are in `factors` (effects of each
//!   level against the reference level, the interaction test of two factors).
//!
//! Modules: `model` (the output types), `factors` (factor effects and interactions), `analyze` (the pipeline), `groups` (one optimizer on one
//! problem), `stats`, `profiles`, `verdicts`, `characters`, and `format` (a metric's numbers in
//! sentences).

mod analyze;
mod characters;
mod factors;
mod format;
mod groups;
mod model;
mod profiles;
mod pruning;
mod stats;
mod verdicts;

pub use analyze::analyze;
pub use factors::{FactorEffect, Interaction, LevelEffect};
pub use groups::{best_trial, final_stat, first_reach, seed_values};
pub use model::{
    Analysis, Band, Character, Group, Profile, RankRow, SeedRun, Stat, Target, Trial, Verdict,
};
pub use profiles::{performance_profile, profile_scores};
pub use pruning::{pruning, Pruning};
pub use stats::{
    average_ranks, f_survival, interaction_f, stat, tuneability, tuneability_with_worst, welch_t,
};
pub use verdicts::{confidence, MIN_SEEDS, NOT_ENOUGH_SEEDS};

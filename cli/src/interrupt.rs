//! Ctrl-C on a long command: say how to continue, then stop as a kill would. Every durable
//! state (checkpoints, the results store) is written so that a killed process resumes exactly,
//! so stopping at once loses at most the work since the last checkpoint or the runs in flight.

use std::path::Path;

/// Exit status of a process ended by SIGINT (128 + 2), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// On Ctrl-C, prints `hint` and exits with [`EXIT_INTERRUPTED`]. A second handler (or a
/// platform without signals) is not an error: the command simply runs without the hint.
pub fn on_ctrl_c(hint: String) {
    let _ = ctrlc::set_handler(move || {
        eprintln!("\ninterrupted: {hint}");
        std::process::exit(EXIT_INTERRUPTED);
    });
}

/// The hint for `gradlab train`/`diagnose` of `config`.
pub fn train_hint(command: &str, config: &Path) -> String {
    format!(
        "continue with `gradlab {command} {} --resume` (from the last checkpoint, written at the end of every epoch; the same flags as this run)",
        config.display()
    )
}

/// The hint for `gradlab compare`.
pub fn compare_hint() -> String {
    "run the same `gradlab compare` command again to continue: finished runs are kept, the ones in flight are redone".into()
}

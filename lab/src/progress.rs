//! The runner's progress: a bar with ETA on a terminal; on anything else (CI logs, `nohup`, a
//! pipe) plain lines, one every [`LINE_EVERY`] or every tenth of the study, so a long study is
//! never silent.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The longest a non-terminal run goes without a progress line.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct Progress {
    mode: Mode,
}

enum Mode {
    Hidden,
    Bar(ProgressBar),
    Lines(Mutex<Lines>),
}

struct Lines {
    name: String,
    total: u64,
    done: u64,
    /// Done when this call started (resumed runs), not counted in the rate.
    resumed: u64,
    started: Instant,
    last: Instant,
    last_done: u64,
}

impl Progress {
    /// Progress over `total` runs of which `done` are already finished; `name` heads each
    /// line; nothing at all when `quiet`.
    pub(crate) fn new(total: u64, done: u64, name: &str, describe: &str, quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Hidden
        } else if std::io::stderr().is_terminal() {
            let b =
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
            b.set_style(
                ProgressStyle::with_template(
                    "{bar:32.cyan/blue} {pos:>4}/{len:4} runs  [{elapsed_precise} < {eta_precise}]  {msg}",
                )
                .expect("valid template"),
            );
            b.set_position(done);
            b.set_message(format!("{name} ({describe})"));
            b.enable_steady_tick(Duration::from_millis(500));
            // indicatif's ETA over this call's runs only (resumed ones were not timed here).
            b.reset_eta();
            Mode::Bar(b)
        } else {
            eprintln!("{name} ({describe}): {done}/{total} runs done, starting");
            let now = Instant::now();
            Mode::Lines(Mutex::new(Lines {
                name: name.to_string(),
                total,
                done,
                resumed: done,
                started: now,
                last: now,
                last_done: done,
            }))
        };
        Progress { mode }
    }

    /// The latest run's outcome (shown beside the bar).
    pub(crate) fn set_message(&self, msg: String) {
        if let Mode::Bar(b) = &self.mode {
            b.set_message(msg);
        }
    }

    /// A line that stays (a failed run), above the bar or in the log.
    pub(crate) fn println(&self, line: String) {
        match &self.mode {
            Mode::Hidden => {}
            Mode::Bar(b) => b.println(line),
            Mode::Lines(_) => eprintln!("{line}"),
        }
    }

    /// One more run finished.
    pub(crate) fn inc(&self) {
        match &self.mode {
            Mode::Hidden => {}
            Mode::Bar(b) => b.inc(1),
            Mode::Lines(l) => {
                let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
                l.done += 1;
                let now = Instant::now();
                let step = (l.total / 10).max(1);
                if now - l.last >= LINE_EVERY || l.done - l.last_done >= step || l.done == l.total {
                    l.last = now;
                    l.last_done = l.done;
                    eprintln!("{}", l.line(now));
                }
            }
        }
    }

    /// The study grew (its final runs became known).
    pub(crate) fn set_length(&self, total: u64) {
        match &self.mode {
            Mode::Hidden => {}
            Mode::Bar(b) => b.set_length(total),
            Mode::Lines(l) => l.lock().unwrap_or_else(|p| p.into_inner()).total = total,
        }
    }

    pub(crate) fn finish(&self) {
        if let Mode::Bar(b) = &self.mode {
            b.finish_and_clear();
        }
    }
}

impl Lines {
    /// `default: 120/378 runs (32%), 21s elapsed, about 45s left`.
    fn line(&self, now: Instant) -> String {
        let elapsed = (now - self.started).as_secs_f64();
        let here = self.done.saturating_sub(self.resumed);
        let left = self.total.saturating_sub(self.done);
        let eta = if here > 0 && left > 0 {
            format!(
                ", about {} left",
                present::duration(elapsed / here as f64 * left as f64)
            )
        } else {
            String::new()
        };
        format!(
            "{}: {}/{} runs ({:.0}%), {} elapsed{eta}",
            self.name,
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64,
            present::duration(elapsed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_how_far_and_how_long() {
        let t0 = Instant::now();
        let l = Lines {
            name: "default".into(),
            total: 378,
            done: 130,
            resumed: 10,
            started: t0,
            last: t0,
            last_done: 10,
        };
        assert_eq!(
            l.line(t0 + Duration::from_secs(24)),
            "default: 130/378 runs (34%), 24.0s elapsed, about 49.6s left"
        );
    }
}

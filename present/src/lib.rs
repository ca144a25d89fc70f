//! How gradlab presents numbers and colours to people: the one home of these conventions for
//! the doctor's report and plots, the lab's verdicts, the study report and the landscape plots.
//!
//! - [`number`]: numbers for people (significant digits, compact scientific notation),
//!   percentages and durations;
//! - [`color`]: the viridis colour map;
//! - [`choices`]: names picked from a fixed set — forgiving matching and "did you mean".
//!
//! Exact machine formats (JSON, CSV, checkpoints) are not presentation and live with their
//! writers: they print the shortest decimal that reads back to the same `f64`.

pub mod choices;
pub mod color;
pub mod number;

pub use color::{hex, viridis};
pub use number::{duration, duration_spaced, fmt_bytes, fmt_num, fmt_precise, sig};

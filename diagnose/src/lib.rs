//! The convergence doctor. Instruments measure, while a run trains, the traces that the classic
//! convergence problems leave (per-layer gradient and weight statistics, activations, per-example
//! gradient noise, curvature, step quality, progress); detectors turn those readings into
//! findings that name the problem, the evidence and the remedies to try.
//!
//! ```text
//! Doctor (a train::Observer) ──▶ instruments ──▶ Timeline (named series per step/layer)
//!                                                    │
//!                              detectors ◀───────────┘ ──▶ findings ──▶ report (text, JSON, SVG)
//!                                                                  │
//!                                   verify: each remedy trained ◀──┘ (same seed and budget)
//! ```
//!
//! [`run`] is the whole of `gradlab diagnose` as a library call; [`verify`] trains the top
//! remedies of a report and says which of them remove their finding. [`lr_find`] is the
//! learning-rate range test (`gradlab lr-find`); [`surface`] the loss along a run's path
//! (`gradlab landscape --run`); [`next`] what a report says to run or read after it.

pub mod detect;
pub mod doctor;
pub mod error;
pub mod finding;
pub mod instruments;
pub mod lr_find;
pub mod next;
pub mod plots;
pub mod progress;
pub mod remedies;
pub mod report;
pub mod run;
pub mod surface;
pub mod timeline;
pub mod verify;

pub use detect::detect;
pub use doctor::{Doctor, Preset};
pub use error::{DiagnoseError, Result};
pub use finding::{Evidence, Finding, Kind, Remedy};
pub use report::Report;
pub use run::Subject;
pub use timeline::{Histogram, Timeline};
pub use verify::{Trial, Verification};

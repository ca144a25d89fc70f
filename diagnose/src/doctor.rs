//! The [`Doctor`]: a [`train::Observer`] that runs the instruments of a preset and keeps their
//! readings.

use train::{EpochRecord, Observer, Probe};

use crate::instruments::{basic::Basic, Instrument};
use crate::Timeline;

/// How much to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Preset {
    /// Cheap readings on a sparse schedule (goal: ≤ 10% overhead).
    #[default]
    Economy,
    /// Everything, more often (goal: ≤ 2× the training time).
    Full,
}

impl Preset {
    /// The preset's name (`economy`, `full`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Economy => "economy",
            Preset::Full => "full",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        const NAMES: &[&str] = &["economy", "full"];
        match present::choices::resolve(s, NAMES, &[]) {
            Some("economy") => Ok(Preset::Economy),
            Some(_) => Ok(Preset::Full),
            None => Err(format!(
                "unknown preset `{s}` ({})",
                present::choices::hint(s, NAMES)
            )),
        }
    }
}

/// Runs instruments during training and keeps what they read.
pub struct Doctor {
    instruments: Vec<Box<dyn Instrument>>,
    pub timeline: Timeline,
    /// The first error an instrument returned (training goes on; the report shows it).
    pub error: Option<String>,
}

impl Doctor {
    /// The instruments of `preset`.
    pub fn new(preset: Preset) -> Doctor {
        let mut instruments: Vec<Box<dyn Instrument>> = vec![Box::new(Basic::for_preset(preset))];
        instruments.extend(crate::instruments::preset(preset));
        Doctor::with(instruments)
    }

    /// A doctor with exactly these instruments.
    pub fn with(instruments: Vec<Box<dyn Instrument>>) -> Doctor {
        Doctor {
            instruments,
            timeline: Timeline::default(),
            error: None,
        }
    }

    /// The instruments' names.
    pub fn instruments(&self) -> Vec<&'static str> {
        self.instruments.iter().map(|i| i.name()).collect()
    }
}

impl Observer for Doctor {
    fn wants_per_example(&self, step: u64) -> bool {
        self.instruments.iter().any(|i| i.wants_per_example(step))
    }

    fn wants_grad_norm(&self, step: u64) -> bool {
        self.instruments.iter().any(|i| i.wants_grad_norm(step))
    }

    fn after_backward(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        for i in &mut self.instruments {
            i.after_backward(p, &mut self.timeline).map_err(|e| {
                train::TrainError::Config(format!("doctor instrument `{}`: {e}", i.name()))
            })?;
        }
        Ok(())
    }

    fn after_update(&mut self, p: &mut Probe<'_>) -> train::Result<()> {
        for i in &mut self.instruments {
            i.after_update(p, &mut self.timeline).map_err(|e| {
                train::TrainError::Config(format!("doctor instrument `{}`: {e}", i.name()))
            })?;
        }
        Ok(())
    }

    fn after_epoch(&mut self, r: &EpochRecord) -> train::Result<()> {
        for i in &mut self.instruments {
            i.after_epoch(r, &mut self.timeline).map_err(|e| {
                train::TrainError::Config(format!("doctor instrument `{}`: {e}", i.name()))
            })?;
        }
        Ok(())
    }
}

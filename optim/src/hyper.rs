//! Reading hyperparameters from a config table with PyTorch's names, defaults and validation.
//!
//! Every getter records the key it was asked for, so [`Hyper::finish`] can reject unknown keys
//! with the list of valid ones — a typo like `beta` for `betas` must not be silently ignored.

use crate::{OptimError, Result};

/// What a numeric hyperparameter must satisfy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    Any,
    /// `x ≥ 0`
    NonNeg,
    /// `x > 0`
    Positive,
    /// `0 ≤ x < 1` (betas, momentum-like decays)
    Unit,
    /// `0 ≤ x ≤ 1`
    UnitClosed,
}

impl Check {
    fn test(self, x: f64) -> Option<&'static str> {
        let ok = x.is_finite()
            && match self {
                Check::Any => true,
                Check::NonNeg => x >= 0.0,
                Check::Positive => x > 0.0,
                Check::Unit => (0.0..1.0).contains(&x),
                Check::UnitClosed => (0.0..=1.0).contains(&x),
            };
        if ok {
            return None;
        }
        Some(match self {
            Check::Any => "must be a finite number",
            Check::NonNeg => "must be >= 0",
            Check::Positive => "must be > 0",
            Check::Unit => "must be in [0, 1)",
            Check::UnitClosed => "must be in [0, 1]",
        })
    }
}

/// A view of a config table being read, e.g. the `[optimizer]` section.
pub struct Hyper<'a> {
    context: String,
    table: &'a toml::Table,
    asked: Vec<&'static str>,
    ignored: Vec<String>,
}

impl<'a> Hyper<'a> {
    /// `context` prefixes every error (`"optimizer `adam`"`, `"config.toml: [optimizer]"`).
    pub fn new(context: impl Into<String>, table: &'a toml::Table) -> Self {
        Hyper {
            context: context.into(),
            table,
            asked: Vec::new(),
            ignored: Vec::new(),
        }
    }

    /// Keys that belong to an enclosing reader (such as `name` or `groups`) and are not errors.
    pub fn ignoring(mut self, keys: &[&str]) -> Self {
        self.ignored.extend(keys.iter().map(|k| k.to_string()));
        self
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    fn get(&mut self, key: &'static str) -> Option<&'a toml::Value> {
        if !self.asked.contains(&key) {
            self.asked.push(key);
        }
        self.table.get(key)
    }

    /// A missing required key; the keys the table does have are listed, so that a misspelling
    /// (`tmax` for `t_max`) is visible in the message.
    fn missing(&self, key: &str) -> OptimError {
        let present: Vec<&str> = self
            .table
            .keys()
            .map(String::as_str)
            .filter(|k| !self.ignored.iter().any(|i| i == k))
            .collect();
        if present.is_empty() {
            return OptimError::Missing {
                context: self.context.clone(),
                field: key.to_string(),
            };
        }
        OptimError::Invalid(format!(
            "{}: missing required field `{key}` (given: {})",
            self.context,
            present.join(", ")
        ))
    }

    fn bad(&self, key: &str, v: &toml::Value, reason: &str) -> OptimError {
        OptimError::invalid(&self.context, key, v, reason)
    }

    fn number(&self, key: &str, v: &toml::Value) -> Result<f64> {
        match v {
            toml::Value::Float(x) => Ok(*x),
            toml::Value::Integer(i) => Ok(*i as f64),
            _ => Err(self.bad(key, v, "expected a number")),
        }
    }

    fn checked(&self, key: &str, v: &toml::Value, x: f64, check: Check) -> Result<f64> {
        match check.test(x) {
            None => Ok(x),
            Some(reason) => Err(self.bad(key, v, reason)),
        }
    }

    /// A number with a default.
    pub fn f64(&mut self, key: &'static str, default: f64, check: Check) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                let x = self.number(key, v)?;
                self.checked(key, v, x, check)
            }
        }
    }

    /// A number that must be given.
    pub fn required_f64(&mut self, key: &'static str, check: Check) -> Result<f64> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(v) => {
                let x = self.number(key, v)?;
                self.checked(key, v, x, check)
            }
        }
    }

    /// An optional number (no default).
    pub fn opt_f64(&mut self, key: &'static str, check: Check) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                let x = self.number(key, v)?;
                self.checked(key, v, x, check).map(Some)
            }
        }
    }

    /// A pair like `betas = [0.9, 0.999]`; both elements pass `check`.
    pub fn pair(
        &mut self,
        key: &'static str,
        default: (f64, f64),
        check: Check,
    ) -> Result<(f64, f64)> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => {
                let xs = self.list_of(key, v)?;
                if xs.len() != 2 {
                    return Err(self.bad(key, v, "expected a list of two numbers"));
                }
                for &x in &xs {
                    self.checked(key, v, x, check)?;
                }
                Ok((xs[0], xs[1]))
            }
        }
    }

    fn list_of(&self, key: &str, v: &toml::Value) -> Result<Vec<f64>> {
        match v {
            toml::Value::Array(a) => a
                .iter()
                .map(|x| {
                    self.number(key, x)
                        .map_err(|_| self.bad(key, v, "expected a list of numbers"))
                })
                .collect(),
            _ => Err(self.bad(key, v, "expected a list of numbers")),
        }
    }

    /// A list of numbers.
    pub fn list(&mut self, key: &'static str, default: &[f64], check: Check) -> Result<Vec<f64>> {
        match self.get(key) {
            None => Ok(default.to_vec()),
            Some(v) => {
                let xs = self.list_of(key, v)?;
                for &x in &xs {
                    self.checked(key, v, x, check)?;
                }
                Ok(xs)
            }
        }
    }

    /// A non-negative integer.
    pub fn usize(&mut self, key: &'static str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v {
                toml::Value::Integer(i) if *i >= 0 => Ok(*i as usize),
                _ => Err(self.bad(key, v, "expected a non-negative integer")),
            },
        }
    }

    /// A non-negative integer that must be given.
    pub fn required_usize(&mut self, key: &'static str) -> Result<usize> {
        if self.table.get(key).is_none() {
            self.get(key);
            return Err(self.missing(key));
        }
        self.usize(key, 0)
    }

    pub fn bool(&mut self, key: &'static str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(v) => Err(self.bad(key, v, "expected true or false")),
        }
    }

    /// A string restricted to `choices`.
    pub fn choice(
        &mut self,
        key: &'static str,
        default: &'static str,
        choices: &[&'static str],
    ) -> Result<String> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(toml::Value::String(s)) if choices.contains(&s.as_str()) => Ok(s.clone()),
            Some(toml::Value::String(s)) => match present::choices::resolve(s, choices, &[]) {
                Some(c) => Ok(c.to_string()),
                None => Err(self.bad(
                    key,
                    &toml::Value::String(s.clone()),
                    &present::choices::hint(s, choices),
                )),
            },
            Some(v) => Err(self.bad(key, v, &format!("expected one of {}", choices.join(", ")))),
        }
    }

    /// A nested table or list of tables, returned raw (for composite schedules).
    pub fn raw(&mut self, key: &'static str) -> Option<&'a toml::Value> {
        self.get(key)
    }

    /// Errors on any key that no getter asked for, listing the valid ones.
    pub fn finish(self) -> Result<()> {
        for key in self.table.keys() {
            if !self.asked.contains(&key.as_str()) && !self.ignored.contains(key) {
                let mut valid: Vec<String> = self.asked.iter().map(|s| s.to_string()).collect();
                valid.extend(self.ignored.iter().cloned());
                return Err(OptimError::Unknown {
                    context: self.context,
                    what: "hyperparameter",
                    name: key.clone(),
                    valid,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        s.parse().unwrap()
    }

    #[test]
    fn unknown_key_lists_valid_ones() {
        let t = table("lr = 0.1\nbeta = 0.9");
        let mut h = Hyper::new("optimizer `adam`", &t);
        assert_eq!(h.f64("lr", 1e-3, Check::NonNeg).unwrap(), 0.1);
        h.pair("betas", (0.9, 0.999), Check::Unit).unwrap();
        let e = h.finish().unwrap_err().to_string();
        assert!(e.contains("unknown hyperparameter `beta`"), "{e}");
        assert!(e.contains("lr, betas"), "{e}");
    }

    #[test]
    fn invalid_value_names_field_and_value() {
        let t = table("lr = -0.5\nbetas = [0.9, 1.0]");
        let mut h = Hyper::new("optimizer `adam`", &t);
        let e = h.f64("lr", 1e-3, Check::NonNeg).unwrap_err().to_string();
        assert!(e.contains("`lr` = -0.5") && e.contains(">= 0"), "{e}");
        let e = h
            .pair("betas", (0.9, 0.999), Check::Unit)
            .unwrap_err()
            .to_string();
        assert!(e.contains("betas") && e.contains("[0, 1)"), "{e}");
    }
}

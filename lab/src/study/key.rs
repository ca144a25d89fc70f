//! The stable key of a run, and the canonical JSON it is the hash of (also the form a resolved
//! study is stored in).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The stable key of a run: the first 16 hex digits of the SHA-256 of the canonical JSON (keys
/// sorted, no spaces) of `{"optimizer", "params", "problem", "seed"}`.
pub fn run_key(
    problem: &str,
    optimizer: &str,
    params: &BTreeMap<String, serde_json::Value>,
    seed: u64,
) -> String {
    let v = serde_json::json!({
        "problem": problem,
        "optimizer": optimizer,
        "params": params,
        "seed": seed,
    });
    let mut s = String::new();
    canonical_json(&v, &mut s);
    let digest = Sha256::digest(s.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push(':');
                canonical_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A TOML value as JSON (datetimes as strings; non-finite floats as null).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(x) => serde_json::Number::from_f64(*x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

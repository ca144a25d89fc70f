//! Is the study being opened the one stored? Its file's text must be the same, and so must
//! what it resolves to (the run configs it references, read in); a mismatch is explained by the
//! first differing line, or by the problems and fields whose resolution changed.

/// Checks a study being opened against the stored one: `Err` with the message when the texts
/// differ (the first differing line) or, with equal texts, when the stored resolution is known
/// and differs from `resolved` as JSON (the problems that differ, what differs in them and the
/// config file the study file names for them).
pub(crate) fn check_study(
    study: &str,
    stored_text: &str,
    stored_resolved: Option<&str>,
    text: &str,
    resolved: &str,
) -> std::result::Result<(), String> {
    if stored_text != text {
        return Err(definition_mismatch(study, stored_text, text));
    }
    match stored_resolved {
        Some(stored) if stored != resolved => {
            match resolved_mismatch(study, text, stored, resolved) {
                Some(m) => Err(m),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The message for an unchanged study `text` whose resolution changed, or `None` when both
/// resolutions are the same JSON value (written differently).
fn resolved_mismatch(study: &str, text: &str, stored: &str, given: &str) -> Option<String> {
    use serde_json::Value;
    let advice = "the runs already stored were trained with the old settings and would be \
                  mixed with new ones; restore the file(s) as they were to resume this study, or \
                  run the changed study under another name or into another store (another \
                  `--out` or `--store`)";
    let head = format!(
        "study {study:?} is already stored and its file is unchanged, but what it resolves to \
         changed after it started"
    );
    let (Ok(old), Ok(new)) = (
        serde_json::from_str::<Value>(stored),
        serde_json::from_str::<Value>(given),
    ) else {
        return Some(format!(
            "{head} (the stored resolution is not readable JSON); {advice}"
        ));
    };
    if old == new {
        return None;
    }
    let files = config_files(text);
    let problems = |v: &Value| -> Vec<(String, Value)> {
        v.get("problems")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|p| {
                        let name = p.get("name").and_then(Value::as_str).unwrap_or("?");
                        (name.to_string(), p.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_p, new_p) = (problems(&old), problems(&new));
    let mut parts = Vec::new();
    let mut names: Vec<&String> = old_p.iter().map(|(n, _)| n).collect();
    for (n, _) in &new_p {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    for name in names {
        let a = old_p.iter().find(|(n, _)| n == name).map(|(_, p)| p);
        let b = new_p.iter().find(|(n, _)| n == name).map(|(_, p)| p);
        if a == b {
            continue;
        }
        let file = match files.get(name.as_str()) {
            Some(f) => format!(" (config = {f:?})"),
            None => String::new(),
        };
        let what = match (a, b) {
            (Some(a), Some(b)) => first_difference(a, b, ""),
            (None, _) => "not in the store".to_string(),
            (_, None) => "in the store but gone now".to_string(),
        };
        parts.push(format!("problem {name:?}{file}: {what}"));
    }
    if let (Value::Object(a), Value::Object(b)) = (&old, &new) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys.into_iter().filter(|k| k.as_str() != "problems") {
            let (x, y) = (a.get(k.as_str()), b.get(k.as_str()));
            if x != y {
                let null = Value::Null;
                parts.push(first_difference(x.unwrap_or(&null), y.unwrap_or(&null), k));
            }
        }
    }
    Some(format!("{head}: {}; {advice}", parts.join("; ")))
}

/// `problem name → config path` of the `[[problems]]` of a study file that name a run config.
fn config_files(text: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let Ok(t) = text.parse::<toml::Table>() else {
        return out;
    };
    let Some(toml::Value::Array(ps)) = t.get("problems") else {
        return out;
    };
    for p in ps {
        if let (Some(n), Some(c)) = (
            p.get("name").and_then(toml::Value::as_str),
            p.get("config").and_then(toml::Value::as_str),
        ) {
            out.insert(n.to_string(), c.to_string());
        }
    }
    out
}

/// "`path` is A in the store but B now" for the first place where `a` and `b` differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> String {
    use serde_json::Value;
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                match (x.get(k.as_str()), y.get(k.as_str())) {
                    (Some(p), Some(q)) if p == q => {}
                    (Some(p), Some(q)) => return first_difference(p, q, &join(k)),
                    (Some(p), None) => {
                        return format!("{} is {} in the store but absent now", join(k), short(p))
                    }
                    (None, Some(q)) => {
                        return format!("{} is absent in the store but {} now", join(k), short(q))
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            if let Some(i) = (0..x.len()).find(|&i| x[i] != y[i]) {
                return first_difference(&x[i], &y[i], &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
    let path = if path.is_empty() { "it" } else { path };
    format!("{path} is {} in the store but {} now", short(a), short(b))
}

/// A JSON value for a message, cut to about 100 characters.
fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(100) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// "study X is stored with a different definition": names the first differing line of both.
fn definition_mismatch(study: &str, stored: &str, given: &str) -> String {
    let (mut s, mut g) = (stored.lines(), given.lines());
    let mut line = 1;
    loop {
        match (s.next(), g.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            (a, b) => {
                return format!(
                    "study {study:?} is already stored with a different definition (changed \
                     after it started?): line {line} is {:?} in the store but {:?} now; use \
                     another study name or another store",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>")
                )
            }
        }
    }
}

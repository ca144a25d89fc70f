//! Names chosen from a fixed set (layer types, optimizers, schedules, keys of a section): how a
//! name a person typed is matched to the canonical one, and what an unknown name is told.
//!
//! Matching forgives spelling habits, not mistakes: case, `_`, `-` and spaces are ignored
//! (`LeakyReLU` is `leaky_relu`, `SGD` is `sgd`), and each caller may add aliases (PyTorch's
//! `StepLR` for `step`). Anything else is unknown, and the message suggests the nearest valid
//! name when one is close (Jaro–Winkler similarity ≥ 0.85 on the normalised names, or an edit
//! distance of at most a third of the name), then lists every valid one.

/// `name` without case, `_`, `-` or spaces: the form in which names are compared.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The canonical name `name` stands for: itself when it is in `valid`, else the valid name or
/// alias target it equals once normalised. `aliases` map other spellings (`StepLR`) to a
/// canonical name.
pub fn resolve<'a>(name: &str, valid: &[&'a str], aliases: &[(&str, &'a str)]) -> Option<&'a str> {
    if let Some(v) = valid.iter().find(|v| **v == name) {
        return Some(v);
    }
    let n = normalize(name);
    valid
        .iter()
        .copied()
        .find(|v| normalize(v) == n)
        .or_else(|| {
            aliases
                .iter()
                .find(|(a, _)| normalize(a) == n)
                .map(|(_, target)| *target)
        })
}

/// The valid name closest to `name`, when one is close enough to be a likely typo.
pub fn nearest<'a, S: AsRef<str>>(name: &str, valid: &'a [S]) -> Option<&'a str> {
    let n = normalize(name);
    if n.is_empty() {
        return None;
    }
    valid
        .iter()
        .map(|v| {
            let v = v.as_ref();
            let m = normalize(v);
            let jw = strsim::jaro_winkler(&n, &m);
            let edits = strsim::damerau_levenshtein(&n, &m);
            (v, jw, edits, m.chars().count().max(n.chars().count()))
        })
        .filter(|&(_, jw, edits, len)| jw >= 0.85 || edits * 3 <= len)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)))
        .map(|(v, ..)| v)
}

/// What to tell someone who typed the unknown `name`: `did you mean `x`? valid: a, b, c` (or
/// just `valid: a, b, c` when nothing is close).
pub fn hint<S: AsRef<str>>(name: &str, valid: &[S]) -> String {
    let list = valid.iter().map(S::as_ref).collect::<Vec<_>>().join(", ");
    match nearest(name, valid) {
        Some(s) => format!("did you mean `{s}`? valid: {list}"),
        None => format!("valid: {list}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYERS: &[&str] = &[
        "linear",
        "conv2d",
        "leaky_relu",
        "batchnorm1d",
        "global_avg_pool",
    ];

    #[test]
    fn spelling_habits_resolve() {
        assert_eq!(resolve("linear", LAYERS, &[]), Some("linear"));
        assert_eq!(resolve("Linear", LAYERS, &[]), Some("linear"));
        assert_eq!(resolve("LeakyReLU", LAYERS, &[]), Some("leaky_relu"));
        assert_eq!(resolve("BatchNorm1d", LAYERS, &[]), Some("batchnorm1d"));
        assert_eq!(
            resolve("GlobalAvgPool", LAYERS, &[]),
            Some("global_avg_pool")
        );
        let aliases = [("AdaptiveAvgPool2d", "global_avg_pool")];
        assert_eq!(
            resolve("adaptive_avg_pool2d", LAYERS, &aliases),
            Some("global_avg_pool")
        );
        assert_eq!(resolve("dense", LAYERS, &aliases), None);
        assert_eq!(resolve("", LAYERS, &aliases), None);
    }

    #[test]
    fn typos_get_a_suggestion_and_the_list() {
        assert_eq!(nearest("lineer", LAYERS), Some("linear"));
        assert_eq!(nearest("conv_2d", LAYERS), Some("conv2d"));
        assert_eq!(nearest("batchnorm", LAYERS), Some("batchnorm1d"));
        assert_eq!(nearest("dense", LAYERS), None);
        assert_eq!(
            hint("lineer", LAYERS),
            "did you mean `linear`? valid: linear, conv2d, leaky_relu, batchnorm1d, global_avg_pool"
        );
        assert!(hint("zzz", LAYERS).starts_with("valid: linear"));
        assert_eq!(nearest("beta", &["lr", "betas", "eps"]), Some("betas"));
        assert_eq!(
            nearest("momentm", &["lr", "momentum", "dampening"]),
            Some("momentum")
        );
    }
}

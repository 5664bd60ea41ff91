//! Masks secret values in everything kopsform prints.
//!
//! The secrets are the values of sensitive Terraform outputs, the values a Terraform state or plan
//! marks sensitive, the values of well-known credential variables ([`SECRET_ENV`]) and of the
//! variables `secret-env` in tasks.toml names, whether they come from kopsform's environment or
//! from an `env` table. Very short values (under 4 characters) are not masked: masking `1` or
//! `true` would garble every line while protecting nothing.
//!
//! Every secret any redactor learns is also kept in one process-wide list, which masks the final
//! error message ([`mask_all`]): an error can be built far from the runner that learned the secret.

use std::sync::RwLock;

pub(crate) const MASK: &str = "***";
/// Shorter values are not treated as secrets anywhere (masking, plan review).
pub(crate) const MIN_SECRET_LEN: usize = 4;

/// Environment variables whose values are always secret.
pub(crate) const SECRET_ENV: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "S3_SECRET_ACCESS_KEY",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
];

/// The string values `terraform show -json` (of a state or a plan) marks sensitive: sensitive
/// outputs, and resource attributes under `sensitive_values`, in every module. Terraform itself
/// masks them in its plan text only where its schema says so (a `terraform_data` output derived
/// from a sensitive input is shown in clear), so kopsform masks them everywhere it relays.
pub(crate) fn sensitive_strings(show: &serde_json::Value) -> Vec<String> {
    fn module(m: &serde_json::Value, add: &mut dyn FnMut(&str)) {
        for r in m["resources"].as_array().into_iter().flatten() {
            marked_strings(&r["values"], &r["sensitive_values"], add);
        }
        for child in m["child_modules"].as_array().into_iter().flatten() {
            module(child, add);
        }
    }
    let mut out = Vec::new();
    let mut add = |s: &str| out.push(s.to_string());
    for values in [
        &show["values"],
        &show["prior_state"]["values"],
        &show["planned_values"],
    ] {
        if let Some(outputs) = values["outputs"].as_object() {
            for o in outputs.values().filter(|o| o["sensitive"] == true) {
                string_leaves(&o["value"], &mut add);
            }
        }
        module(&values["root_module"], &mut add);
    }
    out.retain(|s| s.chars().count() >= MIN_SECRET_LEN);
    out.sort();
    out.dedup();
    out
}

/// Calls `f` with every string in `value`.
pub(crate) fn string_leaves(value: &serde_json::Value, f: &mut dyn FnMut(&str)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| string_leaves(v, f)),
        serde_json::Value::Object(map) => map.values().for_each(|v| string_leaves(v, f)),
        _ => {}
    }
}

/// Calls `f` with every string of `value` under `true` in Terraform's marker tree `mask`
/// (`sensitive_values`, `before_sensitive`, `after_sensitive`).
pub(crate) fn marked_strings(
    value: &serde_json::Value,
    mask: &serde_json::Value,
    f: &mut dyn FnMut(&str),
) {
    match mask {
        serde_json::Value::Bool(true) => string_leaves(value, f),
        serde_json::Value::Object(keys) => {
            for (k, m) in keys {
                if let Some(v) = value.get(k) {
                    marked_strings(v, m, f);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, m) in items.iter().enumerate() {
                if let Some(v) = value.get(i) {
                    marked_strings(v, m, f);
                }
            }
        }
        _ => {}
    }
}

/// Every secret learned by any [`Redactor`] of this process.
static ALL: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// `text` with every secret this process has learned masked.
pub(crate) fn mask_all(text: &str) -> String {
    let Ok(secrets) = ALL.read() else {
        return text.to_string();
    };
    mask_with(&secrets, text)
}

fn mask_with(secrets: &[String], text: &str) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// Adds `secret` to `list`, keeping it longest first (a secret containing another is masked whole).
fn insert(list: &RwLock<Vec<String>>, secret: &str) {
    if let Ok(mut secrets) = list.write()
        && !secrets.iter().any(|s| s == secret)
    {
        secrets.push(secret.to_string());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Which environment variables hold secrets: [`SECRET_ENV`], and the names or globs (`*_TOKEN`)
/// of `secret-env` in tasks.toml, compiled once (the loader has checked them).
#[derive(Debug, Default, Clone)]
pub(crate) struct SecretEnv(Vec<glob::Pattern>);

impl SecretEnv {
    pub(crate) fn new(patterns: &[String]) -> Self {
        SecretEnv(
            patterns
                .iter()
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect(),
        )
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        SECRET_ENV.contains(&name) || self.0.iter().any(|g| g.matches(name))
    }
}

#[derive(Debug, Default)]
pub(crate) struct Redactor {
    secrets: RwLock<Vec<String>>,
    secret_env: SecretEnv,
}

impl Redactor {
    /// A redactor that knows the secret variables of kopsform's environment: [`SECRET_ENV`] and
    /// those matching `patterns` (`secret-env` of tasks.toml).
    pub(crate) fn new(patterns: &[String]) -> Self {
        let redactor = Redactor {
            secret_env: SecretEnv::new(patterns),
            ..Redactor::default()
        };
        for (name, value) in std::env::vars_os() {
            if let (Some(name), Some(value)) = (name.to_str(), value.to_str())
                && redactor.secret_env.matches(name)
            {
                redactor.add(value.to_string());
            }
        }
        redactor
    }

    /// Whether the environment variable `name` holds a secret ([`SecretEnv`]).
    pub(crate) fn is_secret_var(&self, name: &str) -> bool {
        self.secret_env.matches(name)
    }

    pub(crate) fn add(&self, secret: String) {
        if secret.chars().count() < MIN_SECRET_LEN {
            return;
        }
        insert(&self.secrets, &secret);
        insert(&ALL, &secret);
    }

    pub(crate) fn mask(&self, text: &str) -> String {
        let Ok(secrets) = self.secrets.read() else {
            return text.to_string();
        };
        mask_with(&secrets, text)
    }

    pub(crate) fn contains_secret(&self, text: &str) -> bool {
        self.secrets
            .read()
            .map(|s| s.iter().any(|secret| text.contains(secret.as_str())))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_of_a_state_are_found_in_every_module() {
        let show: serde_json::Value = serde_json::from_str(
            r#"{"values":{"outputs":{"o":{"sensitive":true,"value":"out-secret"},"p":{"sensitive":false,"value":"public"}},
                "root_module":{"resources":[{"values":{"input":"attr-secret","output":"attr-secret","id":"x1234"},"sensitive_values":{"input":true}}],
                "child_modules":[{"resources":[{"values":{"tags":{"a":"tag-secret","b":"plain"},"list":["l0-public","l1-secret"]},"sensitive_values":{"tags":{"a":true},"list":[false,true]}}]}]}}}"#,
        )
        .unwrap();
        assert_eq!(
            sensitive_strings(&show),
            ["attr-secret", "l1-secret", "out-secret", "tag-secret"]
        );
    }

    #[test]
    fn secret_variables_are_the_usual_ones_and_those_named_or_globbed() {
        let none = SecretEnv::new(&[]);
        let named = SecretEnv::new(&["DB_PASSWORD".to_string(), "*_TOKEN".to_string()]);
        assert!(none.matches("AWS_SECRET_ACCESS_KEY"));
        assert!(none.matches("AWS_SESSION_TOKEN"));
        assert!(named.matches("DB_PASSWORD"));
        assert!(named.matches("VAULT_TOKEN"));
        assert!(!named.matches("AWS_REGION"));
        assert!(!named.matches("DB_PASSWORD_FILE"));
    }

    #[test]
    fn every_learned_secret_masks_error_messages() {
        let r = Redactor::default();
        r.add("global-secret-7f3a".into());
        assert_eq!(mask_all("failed: global-secret-7f3a"), "failed: ***");
    }

    #[test]
    fn masks_longest_first_and_skips_short_values() {
        let r = Redactor::default();
        r.add("abcd".into());
        r.add("abcdef".into());
        r.add("x".into());
        assert_eq!(r.mask("key=abcdef, x, abcd"), "key=***, x, ***");
        assert!(r.contains_secret("..abcd.."));
        assert!(!r.contains_secret("x"));
    }
}

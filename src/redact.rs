//! Masks secret values in everything kopsform prints.
//!
//! The secrets are the values of sensitive Terraform outputs and of well-known credential
//! variables. Very short values (under 4 characters) are not masked: masking `1` or `true` would
//! garble every line while protecting nothing.

use std::sync::RwLock;

pub const MASK: &str = "***";
/// Shorter values are not treated as secrets anywhere (masking, plan review).
pub const MIN_SECRET_LEN: usize = 4;

/// Environment variables whose values are always secret.
pub const SECRET_ENV: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "S3_SECRET_ACCESS_KEY",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
];

#[derive(Debug, Default)]
pub struct Redactor {
    secrets: RwLock<Vec<String>>,
}

impl Redactor {
    pub fn new() -> Self {
        let redactor = Redactor::default();
        for name in SECRET_ENV {
            if let Ok(value) = std::env::var(name) {
                redactor.add(value);
            }
        }
        redactor
    }

    pub fn add(&self, secret: String) {
        if secret.chars().count() < MIN_SECRET_LEN {
            return;
        }
        if let Ok(mut secrets) = self.secrets.write() {
            if !secrets.contains(&secret) {
                secrets.push(secret);
                // Longest first, so a secret containing another is masked whole.
                secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
            }
        }
    }

    pub fn mask(&self, text: &str) -> String {
        let Ok(secrets) = self.secrets.read() else {
            return text.to_string();
        };
        let mut out = text.to_string();
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }

    pub fn contains_secret(&self, text: &str) -> bool {
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

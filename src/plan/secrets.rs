//! Sensitive values: the plan's secrets ([`Secrets`]) and how a JSON value is shown without them
//! (`(sensitive)`, a blob's hash and size). Values in, [`Shown`] out.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

// Sensitive values shorter than this are not looked for elsewhere: hiding every `1` or `true` of a
// plan would protect nothing.
use super::json_ref::JsonRef;
use super::summary::Shown;
use crate::redact::{MIN_SECRET_LEN, Masks};

/// Strings longer than this (in characters) are shown as a hash and a size.
pub(crate) const BLOB_CHARS: usize = 200;
/// Attributes whose values are shown as a hash and a size whatever their length.
pub(crate) const BLOB_ATTRIBUTES: &[&str] = &[
    "user_data",
    "user_data_base64",
    "policy",
    "assume_role_policy",
    "inline_policy",
    "content",
    "content_base64",
];
/// Characters of the sha256 hex digest shown for a blob.
const HASH_PREFIX: usize = 12;

/// The plan's sensitive strings: any value equal to one is hidden; any value containing one of a
/// variable or output is hidden too (those are few, so the substring search stays cheap). So is
/// any value holding a secret kopsform learned elsewhere (`known`: sensitive outputs, secret
/// variables, in any of their forms), which Terraform need not mark sensitive at all.
#[derive(Default)]
pub(super) struct Secrets {
    exact: HashSet<String>,
    substrings: Vec<String>,
    known: Arc<Masks>,
}

impl Secrets {
    /// No secret yet but those `known` from outside the plan.
    pub(super) fn knowing(known: Arc<Masks>) -> Secrets {
        Secrets {
            known,
            ..Secrets::default()
        }
    }

    fn add(&mut self, s: &str, substring: bool) {
        if s.chars().count() < MIN_SECRET_LEN {
            return;
        }
        if substring && !self.substrings.iter().any(|x| x == s) {
            self.substrings.push(s.to_string());
        }
        if !self.exact.contains(s) {
            self.exact.insert(s.to_string());
        }
    }

    /// Every string in `value`.
    pub(super) fn add_all(&mut self, value: &Value, substring: bool) {
        crate::redact::string_leaves(value, &mut |s| self.add(s, substring));
    }

    /// The strings of `value` under `true` in the marker tree.
    pub(super) fn add_marked(&mut self, value: &Value, marker: Option<&Value>, substring: bool) {
        if let Some(marker) = marker {
            crate::redact::marked_strings(value, marker, &mut |s| self.add(s, substring));
        }
    }

    /// No secret at all, from the plan or outside it: [`hides`](Self::hides) answers `false`
    /// for every string.
    pub(super) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.substrings.is_empty() && self.known.is_empty()
    }

    pub(super) fn hides(&self, s: &str) -> bool {
        // Bytes are at least as many as characters: most strings are decided without counting.
        s.len() >= MIN_SECRET_LEN
            && s.chars().count() >= MIN_SECRET_LEN
            && ((!self.exact.is_empty() && self.exact.contains(s))
                || self.substrings.iter().any(|x| s.contains(x.as_str()))
                || self.known.is_match(s))
    }

    /// The display form of a value that Terraform did not mark sensitive. `attribute` is the name
    /// of the attribute holding it, for the blob names.
    pub(super) fn show(&self, value: &JsonRef, attribute: Option<&str>) -> Shown {
        match value {
            JsonRef::String(s) => {
                if self.hides(s) {
                    Shown::Sensitive
                } else if !s.is_empty()
                    && (attribute.is_some_and(|a| BLOB_ATTRIBUTES.contains(&a))
                        || memchr::memchr(b'\n', s.as_bytes()).is_some()
                        || (s.len() > BLOB_CHARS && s.chars().count() > BLOB_CHARS))
                {
                    blob(s)
                } else {
                    Shown::Value(value.to_json())
                }
            }
            JsonRef::Array(_) | JsonRef::Object(_) => {
                let text = value.to_json();
                if self.contains_hidden(value) {
                    Shown::Sensitive
                } else if text.chars().count() > BLOB_CHARS {
                    blob(&text)
                } else {
                    Shown::Value(text)
                }
            }
            other => Shown::Value(other.to_json()),
        }
    }

    /// [`show`](Self::show) for a value read as a `Value`.
    pub(super) fn show_value(&self, value: &Value, attribute: Option<&str>) -> Shown {
        self.show(&JsonRef::from_value(value), attribute)
    }

    /// The plan's own sensitive strings in all their forms, as a matcher for the text the review
    /// decodes (`filediff`; built on each call: a review with a decoded file asks once).
    pub(super) fn plan_masks(&self) -> Masks {
        Masks::of(self.exact.iter().map(String::as_str))
    }

    /// `s` is one of the plan's sensitive values as a whole.
    pub(super) fn is_secret(&self, s: &str) -> bool {
        self.exact.contains(s)
    }

    /// The secrets learned outside the plan.
    pub(super) fn known(&self) -> &Masks {
        &self.known
    }

    fn contains_hidden(&self, value: &JsonRef) -> bool {
        match value {
            JsonRef::String(s) => self.hides(s),
            JsonRef::Array(items) => items.iter().any(|v| self.contains_hidden(v)),
            JsonRef::Object(members) => members.iter().any(|(_, v)| self.contains_hidden(v)),
            _ => false,
        }
    }
}

fn blob(text: &str) -> Shown {
    let digest = Sha256::digest(text.as_bytes());
    let hex = crate::text::hex(&digest[..HASH_PREFIX / 2]);
    Shown::Blob {
        sha256: hex,
        bytes: text.len(),
    }
}

pub(super) fn is_true(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

/// A marker tree with no `true` anywhere.
pub(super) fn is_unmarked(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Array(items) => items.iter().all(is_unmarked),
        Value::Object(map) => map.values().all(is_unmarked),
        _ => true,
    }
}

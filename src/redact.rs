//! Masks secret values in everything kopsform prints.
//!
//! The secrets are the values of sensitive Terraform outputs, the values a Terraform state or plan
//! marks sensitive, the values of well-known credential variables ([`SECRET_ENV`]) and of the
//! variables `secret-env` in tasks.toml names, whether they come from kopsform's environment or
//! from an `env` table. Very short values (under 4 characters) are not masked: masking `1` or
//! `true` would garble every line while protecting nothing.
//!
//! A secret is masked in every form it takes on its way out ([`forms`]): as it is, each line of a
//! multi-line secret (a child's output is relayed line by line), JSON- and HCL-escaped, base64 and
//! URL-encoded. The forms are built once, when the secret is learned, and searched for all at once
//! (Aho-Corasick, leftmost-longest: a form containing another is masked whole).
//!
//! Every secret any redactor learns is also kept in one process-wide list, which masks the final
//! error message and every line kopsform writes ([`mask_all`]): an error or a message can be
//! built far from the runner that learned the secret.

mod forms;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

pub(crate) use forms::{Form, MIN_SECRET_LEN, UNRESERVED, percent_encoded};

pub(crate) const MASK: &str = "***";

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
static ALL: Learned = Learned::new();

/// `text` with every secret this process has learned masked, in every form.
pub(crate) fn mask_all(text: &str) -> String {
    ALL.masks().mask(text)
}

/// The forms of a set of secrets and one matcher over all of them; immutable once built.
#[derive(Debug, Default)]
pub(crate) struct Masks {
    /// The matcher over `texts`, built on the first text [`Masks::may_match`] does not settle
    /// by itself; `None` inside when there are no patterns (or it cannot be built).
    matcher: OnceLock<Option<AhoCorasick>>,
    /// The form of each pattern of `matcher`, by pattern index.
    forms: Vec<Form>,
    /// The patterns of `matcher`, for [`Masks::holds_split`].
    texts: Vec<String>,
    /// The patterns without their whitespace, made on the first [`Masks::holds_split`].
    compact: OnceLock<Option<AhoCorasick>>,
    /// How many more short texts may be searched pattern by pattern before the matcher is built.
    plain_left: AtomicUsize,
}

/// While the matcher is not built, a text is searched pattern by pattern when its length times
/// the number of patterns is at most this, [`PLAIN_TEXTS`] texts at most: the few lines of a run
/// that learned a secret but prints little (a no-op `cluster-update`: building the matcher for
/// its first line was 0.74 M instructions, and the CPU feature probe of its prefilter a trap to
/// the hypervisor on a virtual machine; issue 19). A long output, or many secrets, build the
/// matcher at once or after the first lines.
const PLAIN_WORK: usize = 32 * 1024;
const PLAIN_TEXTS: usize = 64;

impl Masks {
    fn build(patterns: &BTreeMap<String, Form>) -> Masks {
        if patterns.is_empty() {
            return Masks::default();
        }
        Masks {
            matcher: OnceLock::new(),
            forms: patterns.values().copied().collect(),
            texts: patterns.keys().cloned().collect(),
            compact: OnceLock::new(),
            plain_left: AtomicUsize::new(PLAIN_TEXTS),
        }
    }

    /// The matcher over all the patterns, built on first use.
    fn matcher(&self) -> Option<&AhoCorasick> {
        self.matcher
            .get_or_init(|| {
                if self.texts.is_empty() {
                    return None;
                }
                // A contiguous NFA, not the DFA the builder picks for few patterns: the DFA's
                // tables took 4.9 M instructions and ~270 page faults to build for the forms of
                // one secret, most of a no-op `cluster-update` (issue 19), while the lines it
                // masks are short.
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .build(&self.texts)
                    .ok()
            })
            .as_ref()
    }

    /// `false` when `text` provably holds no pattern; `true` when the matcher must look. While
    /// the matcher is not built, a short text is searched for each pattern in turn (a pattern
    /// found is found by the matcher too, and none found means none is there), for the first
    /// [`PLAIN_TEXTS`] texts.
    #[inline]
    fn may_match(&self, text: &str) -> bool {
        if self.texts.is_empty() {
            return false;
        }
        self.may_match_some(text)
    }

    /// [`Masks::may_match`] when there are patterns.
    fn may_match_some(&self, text: &str) -> bool {
        if self.matcher.get().is_none()
            && text.len().saturating_mul(self.texts.len()) <= PLAIN_WORK
            && self
                .plain_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        {
            return self
                .texts
                .iter()
                .any(|p| holds(text.as_bytes(), p.as_bytes()));
        }
        true
    }

    /// A matcher over `secrets` in all their forms, learned by no redactor: the plan's own
    /// secrets, looked for in the text the review decodes (docs/security.md).
    pub(crate) fn of<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Masks {
        let mut patterns: BTreeMap<String, Form> = BTreeMap::new();
        for secret in secrets {
            for (text, form) in forms::forms(secret) {
                let entry = patterns.entry(text).or_insert(form);
                *entry = (*entry).min(form);
            }
        }
        Masks::build(&patterns)
    }

    /// Whether `text` with its whitespace taken out holds a form of a secret with its whitespace
    /// taken out: a secret split across lines (or re-wrapped base64 of one) that [`Masks::mask`]
    /// cannot find. Masking cannot cut such a secret out line by line, so a caller that finds
    /// one after masking withholds the text.
    pub(crate) fn holds_split(&self, text: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        let compact = self.compact.get_or_init(|| {
            let mut patterns: Vec<String> = self
                .texts
                .iter()
                .map(|t| without_whitespace(t))
                .filter(|t| t.chars().count() >= MIN_SECRET_LEN)
                .collect();
            patterns.sort();
            patterns.dedup();
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&patterns)
                .ok()
        });
        compact
            .as_ref()
            .is_some_and(|m| m.is_match(&without_whitespace(text)))
    }

    /// `text` with every form of every secret replaced by [`MASK`].
    pub(crate) fn mask(&self, text: &str) -> String {
        if !self.may_match(text) {
            return text.to_string();
        }
        match self.matcher() {
            Some(m) if m.is_match(text) => {
                let mut out = String::with_capacity(text.len());
                m.replace_all_with(text, &mut out, |_, _, out| {
                    out.push_str(MASK);
                    true
                });
                out
            }
            _ => text.to_string(),
        }
    }

    /// No secrets: masking changes nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Whether `text` holds a secret in any form.
    #[inline]
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.may_match(text) && self.matcher().is_some_and(|m| m.is_match(text))
    }

    /// The form of the first secret in `text`, if any.
    pub(crate) fn find(&self, text: &str) -> Option<Form> {
        if !self.may_match(text) {
            return None;
        }
        let found = self.matcher()?.find(text)?;
        self.forms.get(found.pattern().as_usize()).copied()
    }

    /// `value` with every string in it (keys too) masked: JSON written after masking stays JSON,
    /// which masking its text might not (a mask could end inside an escape sequence).
    pub(crate) fn mask_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) if self.is_match(s) => *s = self.mask(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json(v)),
            serde_json::Value::Object(map) => {
                if map.keys().any(|k| self.is_match(k)) {
                    let old = std::mem::take(map);
                    for (k, v) in old {
                        map.insert(self.mask(&k), v);
                    }
                }
                map.values_mut().for_each(|v| self.mask_json(v));
            }
            _ => {}
        }
    }
}

/// Whether `needle` occurs in `hay`: each place that starts with its first byte compared, which
/// for a short line is cheaper than preparing a searcher per pattern.
fn holds(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    (0..=last).any(|i| hay[i] == first && hay[i + 1..i + needle.len()] == *rest)
}

/// `text` without ASCII whitespace (spaces, tabs, line ends) and without a backslash that ends
/// a line (a shell or C line continuation).
fn without_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_whitespace() || (c == '\\' && matches!(chars.peek(), Some('\n' | '\r'))) {
            continue;
        }
        out.push(c);
    }
    out
}

/// A writer that masks each line ([`Masks::mask`]) before passing it on to `inner`: a long text
/// (a review) is masked as it is streamed. Call [`MaskLines::finish`] to pass on a last line
/// without a newline.
pub(crate) struct MaskLines<'a> {
    inner: &'a mut dyn std::io::Write,
    masks: &'a Masks,
    line: Vec<u8>,
}

impl<'a> MaskLines<'a> {
    pub(crate) fn new(inner: &'a mut dyn std::io::Write, masks: &'a Masks) -> Self {
        MaskLines {
            inner,
            masks,
            line: Vec::new(),
        }
    }

    fn pass_line(&mut self) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.line);
        if self.masks.is_match(&text) {
            self.inner.write_all(self.masks.mask(&text).as_bytes())?;
        } else {
            self.inner.write_all(&self.line)?;
        }
        self.line.clear();
        Ok(())
    }

    /// Passes on what is left (a last line without a newline) and flushes.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.pass_line()?;
        self.inner.flush()
    }
}

impl std::io::Write for MaskLines<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.masks.is_empty() {
            // Nothing to mask (the usual case): no line to gather or check (issue 19).
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut rest = buf;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.line.extend_from_slice(&rest[..=end]);
            self.pass_line()?;
            rest = &rest[end + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // A partial line stays until its end (or `finish`): a secret may continue in it.
        self.inner.flush()
    }
}

/// A set of learned secrets: their forms, and the matcher over them, built again on the first
/// use after a secret was added.
#[derive(Debug)]
struct Learned {
    /// Every form of every secret, each with the first form it was learned as.
    patterns: RwLock<BTreeMap<String, Form>>,
    /// The matcher over `patterns`; `None` after a change.
    built: Mutex<Option<Arc<Masks>>>,
}

impl Default for Learned {
    fn default() -> Self {
        Learned::new()
    }
}

impl Learned {
    const fn new() -> Learned {
        Learned {
            patterns: RwLock::new(BTreeMap::new()),
            built: Mutex::new(None),
        }
    }

    fn add(&self, forms: &[(String, Form)]) {
        {
            let Ok(mut patterns) = self.patterns.write() else {
                return;
            };
            let mut changed = false;
            for (text, form) in forms {
                // The plainest form wins: a line that is also the whole secret is the secret.
                match patterns.get_mut(text) {
                    Some(entry) if *entry <= *form => {}
                    Some(entry) => {
                        *entry = *form;
                        changed = true;
                    }
                    None => {
                        patterns.insert(text.clone(), *form);
                        changed = true;
                    }
                }
            }
            // A secret learned again (every cluster of a fleet reads the same sensitive
            // outputs) keeps the matcher: rebuilding it was 40% of a cluster's cost (issue 19).
            if !changed {
                return;
            }
        }
        // Taken after `patterns` is released: `masks` takes the two the other way round. A
        // matcher built meanwhile from the old patterns is dropped here.
        if let Ok(mut built) = self.built.lock() {
            *built = None;
        }
    }

    fn masks(&self) -> Arc<Masks> {
        let Ok(mut built) = self.built.lock() else {
            return Arc::default();
        };
        if let Some(masks) = built.as_ref() {
            return Arc::clone(masks);
        }
        let masks = match self.patterns.read() {
            Ok(patterns) => Arc::new(Masks::build(&patterns)),
            Err(_) => Arc::default(),
        };
        *built = Some(Arc::clone(&masks));
        masks
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
    learned: Learned,
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

    /// Learns `secret`: from now on it is masked in all its forms, by this redactor and by
    /// [`mask_all`]. Values shorter than [`MIN_SECRET_LEN`] are not secrets.
    pub(crate) fn add(&self, secret: String) {
        let forms = forms::forms(&secret);
        if forms.is_empty() {
            return;
        }
        self.learned.add(&forms);
        ALL.add(&forms);
    }

    /// What this redactor knows, as a matcher to hand to code that has no redactor (the review).
    pub(crate) fn masks(&self) -> Arc<Masks> {
        self.learned.masks()
    }

    pub(crate) fn mask(&self, text: &str) -> String {
        self.masks().mask(text)
    }

    pub(crate) fn contains_secret(&self, text: &str) -> bool {
        self.masks().is_match(text)
    }

    /// The form of the first secret in `text`, if it holds one.
    pub(crate) fn find_secret(&self, text: &str) -> Option<Form> {
        self.masks().find(text)
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

    /// A PEM-like key with the characters that escapings change: `<`, `>`, `&`, `"`, `\\`, `$`.
    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1L7VLPHCgc<d&e>\nq\"uo\\te${x}-9f3a2b\nQk9HVVMtbGluZS10aHJlZQ==\n-----END RSA PRIVATE KEY-----\n";

    fn key_redactor() -> Redactor {
        let r = Redactor::default();
        r.add(KEY.to_string());
        r
    }

    #[test]
    fn every_line_of_a_multi_line_secret_is_masked_when_relayed_line_by_line() {
        let r = key_redactor();
        let relayed: Vec<String> = format!("before\n{KEY}after")
            .lines()
            .map(|l| r.mask(l))
            .collect();
        assert_eq!(
            relayed,
            [
                "before",
                "-----BEGIN RSA PRIVATE KEY-----",
                "***",
                "***",
                "***",
                "-----END RSA PRIVATE KEY-----",
                "after"
            ]
        );
        // Indented, or inside a longer line, a line is masked too; the whole key in one text is
        // masked whole.
        assert_eq!(
            r.mask("  key: Qk9HVVMtbGluZS10aHJlZQ== (3)"),
            "  key: *** (3)"
        );
        assert_eq!(r.mask(&format!("error: {KEY}end")), "error: ***end");
        assert_eq!(mask_all(&format!("x{KEY}")), "x***");
    }

    #[test]
    fn json_escaped_forms_are_masked_as_serde_and_terraform_write_them() {
        let r = key_redactor();
        // serde_json's escaping.
        let serde = serde_json::json!({ "value": KEY }).to_string();
        assert_eq!(r.mask(&serde), r#"{"value":"***"}"#);
        // `terraform output -json`: Go escapes <, > and & as well.
        let terraform = r#"{"key":{"sensitive":true,"type":"string","value":"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1L7VLPHCgc\u003cd\u0026e\u003e\nq\"uo\\te${x}-9f3a2b\nQk9HVVMtbGluZS10aHJlZQ==\n-----END RSA PRIVATE KEY-----\n"}}"#;
        assert_eq!(
            r.mask(terraform),
            r#"{"key":{"sensitive":true,"type":"string","value":"***"}}"#
        );
        // One line of the key, escaped on its own.
        assert_eq!(r.mask(r#"["q\"uo\\te${x}-9f3a2b"]"#), r#"["***"]"#);
        assert_eq!(r.find_secret(terraform), Some(Form::Json));
    }

    #[test]
    fn hcl_escaped_forms_are_masked() {
        let r = key_redactor();
        // As `terraform plan` or a .tfvars file writes the key and its third line.
        let hcl = r#"  + input = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1L7VLPHCgc<d&e>\nq\"uo\\te$${x}-9f3a2b\nQk9HVVMtbGluZS10aHJlZQ==\n-----END RSA PRIVATE KEY-----\n""#;
        assert_eq!(r.mask(hcl), r#"  + input = "***""#);
        assert_eq!(
            r.mask(r#"line = "q\"uo\\te$${x}-9f3a2b""#),
            r#"line = "***""#
        );
        assert_eq!(r.find_secret(hcl), Some(Form::Hcl));
    }

    #[test]
    fn base64_forms_are_masked_standard_url_safe_padded_or_not_and_inside_longer_text() {
        use base64::Engine;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let r = Redactor::default();
        // Bytes that base64 turns into `+` and `/` (`-` and `_` URL-safe), and a length that pads.
        let secret = "t0ken>>>???~~~-c1";
        r.add(secret.into());
        for engine in [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            let encoded = engine.encode(secret);
            assert_eq!(
                r.mask(&format!("data: {encoded}\n")),
                "data: ***\n",
                "{encoded}"
            );
        }
        assert_ne!(STANDARD.encode(secret), URL_SAFE.encode(secret));
        assert!(STANDARD.encode(secret).ends_with('='));
        // user_data: a script holding the secret, base64-encoded as a whole, at every offset.
        for before in [
            "#!/bin/sh\nexport TOKEN=",
            "#!/bin/sh\nexport TOKEN=x",
            "TOKEN=xy",
        ] {
            let after = "\nrun\n";
            let script = STANDARD.encode(format!("{before}{secret}{after}"));
            let masked = r.mask(&script);
            // What is left in clear on each side encodes the neighbours and at most one group
            // shared with the secret: none of the secret's bytes can be decoded from it.
            let (left, right) = masked.split_once(MASK).expect(&script);
            assert!(
                left.len() <= (before.len() / 3 + 1) * 4,
                "{before:?}: {masked}"
            );
            assert!(
                right.len() <= (after.len() / 3 + 2) * 4,
                "{before:?}: {masked}"
            );
            assert_eq!(left, &script[..left.len()]);
        }
        // Each line of a multi-line secret, encoded on its own, and the key wrapped at 76.
        let k = key_redactor();
        assert_eq!(
            k.mask(&STANDARD.encode("MIIEpAIBAAKCAQEAu1SU1L7VLPHCgc<d&e>")),
            "***"
        );
        let wrapped = STANDARD.encode(KEY);
        let lines: Vec<String> = wrapped
            .as_bytes()
            .chunks(76)
            .map(|c| k.mask(std::str::from_utf8(c).unwrap()))
            .collect();
        assert!(lines.iter().all(|l| l == "***"), "{lines:?}");
        assert_eq!(r.find_secret(&STANDARD.encode(secret)), Some(Form::Base64));
    }

    #[test]
    fn url_encoded_forms_are_masked() {
        let r = Redactor::default();
        let secret = "p@ss w/rd&x=1+2";
        r.add(secret.into());
        for (url, masked) in [
            (
                "https://h/?token=p%40ss%20w%2Frd%26x%3D1%2B2&next=1",
                "https://h/?token=***&next=1",
            ),
            (
                "https://h/?token=p%40ss+w%2Frd%26x%3D1%2B2&next=1",
                "https://h/?token=***&next=1",
            ),
            ("https://h/p@ss%20w/rd&x=1+2?next=1", "https://h/***?next=1"),
        ] {
            assert_eq!(r.mask(url), masked);
        }
        assert_eq!(
            r.find_secret("?t=p%40ss%20w%2Frd%26x%3D1%2B2"),
            Some(Form::Url)
        );
    }

    #[test]
    fn short_values_and_short_lines_are_not_masked_in_any_form() {
        let r = Redactor::default();
        r.add("abc".into());
        r.add("true".into());
        r.add("-----BEGIN X-----\nab\n\n}}}}\nlong-enough-line\n-----END X-----".into());
        assert_eq!(
            r.mask("abc YWJj ab }}}} true -----BEGIN X----- long-enough-line"),
            "abc YWJj ab }}}} *** -----BEGIN X----- ***"
        );
        assert!(!r.contains_secret("YWJj"));
    }

    #[test]
    fn masked_json_stays_json() {
        let r = Redactor::default();
        r.add("nabcd\\".into());
        let mut value =
            serde_json::json!({"a": ["xnabcd\\y", "x\nabcd\\y", {"nabcd\\": 1}], "b": 2});
        // Masking the JSON text would cut the escape `\n` in two: `"x\***y"` is not JSON.
        assert!(r.mask(&value.to_string()).contains(r#""x\***"#));
        r.masks().mask_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": ["x***y", "x\nabcd\\y", {"***": 1}], "b": 2})
        );
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

    /// Issue 19: the first short texts are searched pattern by pattern, without building the
    /// matcher; the answers are the matcher's, text by text, and a long text builds it.
    #[test]
    fn issue_19_short_texts_searched_without_the_matcher_answer_as_it_does() {
        let secrets = ["s3cr3t-value", "another-s3cr3t", "p@ss w/ord+="];
        let mut texts: Vec<String> = vec![
            String::new(),
            "nothing here".into(),
            "[cluster-update] up to date".into(),
        ];
        for (text, _) in secrets.iter().flat_map(|s| forms::forms(s)) {
            texts.push(text.clone());
            texts.push(format!("key={text}, again {text}."));
            texts.push(format!("{}{text}", "x".repeat(PLAIN_WORK)));
            texts.push(text[..text.len() - 1].to_string());
        }
        let plain = Masks::of(secrets);
        let matcher = Masks::of(secrets);
        matcher.plain_left.store(0, Ordering::Relaxed);
        for text in &texts {
            assert_eq!(plain.is_match(text), matcher.is_match(text), "{text}");
            assert_eq!(plain.mask(text), matcher.mask(text), "{text}");
            assert_eq!(plain.find(text), matcher.find(text), "{text}");
        }
        assert!(matcher.matcher.get().is_some());
        // Nothing but short texts without a secret: never built.
        let fresh = Masks::of(secrets);
        assert_eq!(
            fresh.mask("[cluster-template] up to date"),
            "[cluster-template] up to date"
        );
        assert!(fresh.matcher.get().is_none());
        assert!(!Masks::of([""; 0]).is_match("anything"));
        for (hay, needle, found) in [
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("xxabcxx", "abc", true),
            ("aab", "ab", true),
            ("abab", "bab", true),
            ("ab", "", true),
            ("", "a", false),
            ("é-s3cr3t", "s3cr3t", true),
        ] {
            assert_eq!(
                holds(hay.as_bytes(), needle.as_bytes()),
                found,
                "{hay} {needle}"
            );
            assert_eq!(hay.contains(needle), found, "{hay} {needle}");
        }
    }

    /// Issue 19: every cluster of a fleet learns the same sensitive outputs; learning a secret
    /// again must not throw the matcher away (building it was 40% of a cluster's cost).
    #[test]
    fn issue_19_a_secret_learned_again_keeps_the_matcher() {
        let r = Redactor::default();
        r.add("s3cr3t-value".into());
        let first = r.masks();
        r.add("s3cr3t-value".into());
        assert!(Arc::ptr_eq(&first, &r.masks()));
        r.add("another-s3cr3t".into());
        let second = r.masks();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(r.mask("s3cr3t-value another-s3cr3t"), "*** ***");
    }

    /// Issue 21: the review's decoded files hold a secret in forms a line-by-line mask cannot
    /// cut out; `holds_split` finds them, and finds nothing once the text is masked.
    #[test]
    fn a_secret_split_across_lines_or_rewrapped_is_found_without_whitespace() {
        use base64::Engine as _;
        let masks = Masks::of(["split-secret-4e1d", "no"]);
        assert!(masks.is_match("x split-secret-4e1d y"));
        for text in [
            "token: split-\n  secret-4e1d\n",
            "token: split-sec\\\n ret-4e1d\n",
            "a\tsplit-secret-4e1d",
        ] {
            assert!(masks.holds_split(text), "{text:?}");
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode("key=split-secret-4e1d;");
        let wrapped: String = encoded
            .as_bytes()
            .chunks(7)
            .map(|c| format!("  {}\n", String::from_utf8_lossy(c)))
            .collect();
        assert!(!masks.is_match(&wrapped), "{wrapped}");
        assert!(masks.holds_split(&wrapped), "{wrapped}");
        assert!(!masks.holds_split(&masks.mask("x split-secret-4e1d y")));
        // Too short to be a secret: not looked for.
        assert!(!masks.holds_split("n o"));
        assert!(!Masks::default().holds_split("anything"));
    }
}

//! Whether values changed the structure of a rendered YAML file.
//!
//! The real render and the shape render ([`super::shape`]) are parsed, document by document, and
//! walked together. Outside the tokens the two trees must be equal; where a token was, the real
//! tree must hold exactly the token's text, as a string, unless the slot is unquoted and the value
//! was a Terraform number or boolean, which must land as that same number or boolean.
//!
//! kops reads manifests with a YAML 1.1 parser (`sigs.k8s.io/yaml`, on go-yaml v2), which reads
//! more plain words as non-strings than the YAML 1.2 parser used here (`yes`, `on`, `0x1F` is
//! 31 in both, `010` is 8, `1_000` ...). A string that lands unquoted must therefore read as a
//! string under both; see [`yaml11_reads_as`].

use serde_yaml::Value as Yaml;

use super::shape::{JsonKind, Shape, TokenKind};

/// Why the check failed, and which token (if one is to blame).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mismatch {
    pub(crate) token: Option<usize>,
    /// 1-based document and the key path inside it (`spec.kubernetesVersion`).
    pub(crate) document: usize,
    pub(crate) path: String,
    pub(crate) why: String,
}

fn parse_all(text: &str) -> Result<Vec<Yaml>, String> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        docs.push(Yaml::deserialize(doc).map_err(|e| e.to_string())?);
    }
    Ok(docs)
}

/// The shape text parsed, kept for the next render whose shape text is the same (a fleet's
/// clusters, whose values differ but not their structure: one parse instead of one per cluster).
/// Renders of the same shape text at the same moment (a fleet's first `--jobs` clusters) wait for
/// one parse rather than each making its own.
fn parse_shape(text: &str) -> Result<std::sync::Arc<Vec<Yaml>>, String> {
    use std::sync::{Arc, Mutex, OnceLock};
    type Slot = Arc<OnceLock<Result<Arc<Vec<Yaml>>, String>>>;
    static LAST: Mutex<Option<(String, Slot)>> = Mutex::new(None);
    let slot: Option<Slot> = LAST.lock().ok().map(|mut last| match last.as_ref() {
        Some((kept, slot)) if kept == text => Arc::clone(slot),
        _ => {
            let slot = Slot::default();
            *last = Some((text.to_string(), Arc::clone(&slot)));
            slot
        }
    });
    match slot {
        Some(slot) => slot.get_or_init(|| parse_all(text).map(Arc::new)).clone(),
        None => parse_all(text).map(Arc::new),
    }
}

struct Tokens<'s> {
    shape: &'s Shape,
    prefix: String,
    /// Per token: whether its first occurrence in the shape text stands right after a quote
    /// (worked out in one pass over the text, not by searching it for each scalar).
    quoted: Vec<bool>,
}

impl Tokens<'_> {
    /// The tokens in `s`, with their byte ranges.
    fn find(&self, s: &str) -> Vec<(usize, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = s[from..].find(&self.prefix) {
            let start = from + at;
            let digits = &s[start + self.prefix.len()..];
            let len = digits.bytes().take_while(u8::is_ascii_digit).count();
            if len > 0
                && digits.as_bytes().get(len) == Some(&b'k')
                && let Ok(index) = digits[..len].parse::<usize>()
                && index < self.shape.tokens.len()
            {
                let end = start + self.prefix.len() + len + 1;
                out.push((index, start..end));
                from = end;
            } else {
                from = start + self.prefix.len();
            }
        }
        out
    }

    fn substitute(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        for (index, range) in self.find(s) {
            out.push_str(&s[last..range.start]);
            out.push_str(&self.shape.tokens[index].text);
            last = range.end;
        }
        out.push_str(&s[last..]);
        out
    }

    /// Whether the token stands in the shape text right after a quote (a quoted scalar).
    fn quoted(&self, index: usize) -> bool {
        self.quoted.get(index).copied().unwrap_or(false)
    }

    /// [`Tokens::quoted`] of every token of `text`, the shape text: a token's first occurrence
    /// decides (as a search for its name would find it).
    fn quoted_in(&self, text: &str) -> Vec<bool> {
        let mut quoted = vec![false; self.shape.tokens.len()];
        let mut seen = vec![false; self.shape.tokens.len()];
        for (index, range) in self.find(text) {
            // `find` reads `s07k` as token 7; the token's name is `s7k`.
            let digits = &text[range.start + self.prefix.len()..range.end - 1];
            if digits.len() > 1 && digits.starts_with('0') {
                continue;
            }
            if !std::mem::replace(&mut seen[index], true) {
                quoted[index] = text[..range.start]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c == '"' || c == '\'');
            }
        }
        quoted
    }
}

/// What a YAML 1.1 parser (go-yaml v2, which kops uses; PyYAML) reads a plain scalar `text` as,
/// when not a string: `bool`, `null`, `int`, `float`, `timestamp` or `merge key`.
pub(crate) fn yaml11_reads_as(text: &str) -> Option<&'static str> {
    const BOOLS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    const NULLS: &[&str] = &["", "~", "null", "Null", "NULL"];
    const FLOATS: &[&str] = &[
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    if BOOLS.contains(&text) {
        return Some("a boolean");
    }
    if NULLS.contains(&text) {
        return Some("null");
    }
    if FLOATS.contains(&text) {
        return Some("a float");
    }
    if text == "<<" {
        return Some("a merge key");
    }
    let t = text.replace('_', "");
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(&t);
    let radix = |p: &str, r: u32| {
        unsigned
            .strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && u64::from_str_radix(d, r).is_ok())
    };
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit())
        || radix("0x", 16)
        || radix("0X", 16)
        || radix("0o", 8)
        || radix("0b", 2)
    {
        return Some("an integer");
    }
    // Sexagesimal (YAML 1.1): 1:30, 190:20:30.
    if unsigned.contains(':')
        && unsigned
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        && unsigned.as_bytes()[0].is_ascii_digit()
    {
        return Some("a sexagesimal number");
    }
    let floaty = unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && unsigned.bytes().any(|b| b.is_ascii_digit());
    if floaty && t.parse::<f64>().is_ok() {
        return Some("a float");
    }
    // 2001-12-14, 2001-12-14t21:59:43.10-05:00
    let b = text.as_bytes();
    if b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && text[5..]
            .split(['-', 't', 'T', ' '])
            .next()
            .is_some_and(|m| !m.is_empty() && m.len() <= 2 && m.bytes().all(|c| c.is_ascii_digit()))
    {
        return Some("a timestamp");
    }
    None
}

fn type_name(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(n) if n.is_f64() => "a float",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a map",
        Yaml::Tagged(_) => "a tagged value",
    }
}

fn shown(v: &Yaml) -> String {
    match v {
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Null => "null".into(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        other => type_name(other).to_string(),
    }
}

struct Walk<'a> {
    tokens: &'a Tokens<'a>,
    document: usize,
}

impl Walk<'_> {
    fn fail(&self, token: Option<usize>, path: &[String], why: String) -> Mismatch {
        Mismatch {
            token,
            document: self.document,
            path: if path.is_empty() {
                "(top)".into()
            } else {
                path.join(".")
            },
            why,
        }
    }

    /// The first token in the shape subtree `v` (who to blame for a change there).
    fn first_token(&self, v: &Yaml) -> Option<usize> {
        match v {
            Yaml::String(s) => self.tokens.find(s).first().map(|(i, _)| *i),
            Yaml::Sequence(items) => items.iter().find_map(|i| self.first_token(i)),
            Yaml::Mapping(m) => m
                .iter()
                .find_map(|(k, v)| self.first_token(k).or_else(|| self.first_token(v))),
            Yaml::Tagged(t) => self.first_token(&t.value),
            _ => None,
        }
    }

    /// A map or list of the result must have as many entries as the template's.
    fn same_size(
        &self,
        shape: &Yaml,
        path: &[String],
        what: &str,
        entries: &str,
        want: usize,
        got: usize,
    ) -> Result<(), Mismatch> {
        if want == got {
            return Ok(());
        }
        Err(self.fail(
            self.first_token(shape),
            path,
            format!("the {what} {got} {entries} where the template has {want}"),
        ))
    }

    fn node(&self, shape: &Yaml, real: &Yaml, path: &mut Vec<String>) -> Result<(), Mismatch> {
        match (shape, real) {
            (Yaml::Mapping(s), Yaml::Mapping(r)) => {
                self.same_size(shape, path, "map has", "keys", s.len(), r.len())?;
                for ((sk, sv), (rk, rv)) in s.iter().zip(r.iter()) {
                    self.node(sk, rk, path)?;
                    path.push(match rk {
                        Yaml::String(k) => k.clone(),
                        other => shown(other),
                    });
                    self.node(sv, rv, path)?;
                    path.pop();
                }
                Ok(())
            }
            (Yaml::Sequence(s), Yaml::Sequence(r)) => {
                self.same_size(shape, path, "list has", "items", s.len(), r.len())?;
                for (i, (sv, rv)) in s.iter().zip(r.iter()).enumerate() {
                    path.push(i.to_string());
                    self.node(sv, rv, path)?;
                    path.pop();
                }
                Ok(())
            }
            (Yaml::Tagged(s), Yaml::Tagged(r)) if s.tag == r.tag => {
                self.node(&s.value, &r.value, path)
            }
            (Yaml::String(s), real) => self.scalar(s, real, path),
            (shape, real) if shape == real => Ok(()),
            (shape, real) => {
                let blame = self.first_token(shape);
                Err(self.fail(
                    blame,
                    path,
                    format!(
                        "{} where the template has {}",
                        type_name(real),
                        type_name(shape)
                    ),
                ))
            }
        }
    }

    fn scalar(&self, s: &str, real: &Yaml, path: &[String]) -> Result<(), Mismatch> {
        let found = self.tokens.find(s);
        let Some((first, _)) = found.first().cloned() else {
            return if matches!(real, Yaml::String(r) if r == s) {
                Ok(())
            } else {
                Err(self.fail(
                    None,
                    path,
                    format!("{} where the template has {s:?}", shown(real)),
                ))
            };
        };
        let whole = found.len() == 1 && found[0].1 == (0..s.len());
        let token = &self.tokens.shape.tokens[first];
        if whole && !self.tokens.quoted(first) {
            match &token.kind {
                TokenKind::Slot { json, .. } if *json != JsonKind::String => {
                    let ok = match (json, real) {
                        (JsonKind::Number, Yaml::Number(n)) => {
                            n.to_string() == token.text
                                && token
                                    .text
                                    .bytes()
                                    .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
                        }
                        (JsonKind::Bool, Yaml::Bool(b)) => b.to_string() == token.text,
                        (JsonKind::Null, Yaml::Null) => true,
                        _ => false,
                    };
                    return if ok {
                        Ok(())
                    } else {
                        Err(self.fail(
                            Some(first),
                            path,
                            format!("it reads as {} {}", type_name(real), shown(real)),
                        ))
                    };
                }
                TokenKind::Slot { .. } | TokenKind::Line { .. } => {
                    if let Yaml::String(r) = real
                        && r == &token.text
                    {
                        if let Some(c) = r.chars().find(|c| c.is_control()) {
                            return Err(self.fail(
                                Some(first),
                                path,
                                format!(
                                    "unquoted, it holds the control character {c:?}, which YAML 1.1 parsers refuse or read differently there"
                                ),
                            ));
                        }
                        return match yaml11_reads_as(r) {
                            Some(what) => Err(self.fail(
                                Some(first),
                                path,
                                format!(
                                    "unquoted, kops's YAML 1.1 parser reads the string {r:?} as {what}"
                                ),
                            )),
                            None => Ok(()),
                        };
                    }
                }
                TokenKind::Leaf { .. } => {}
            }
        }
        let want = self.tokens.substitute(s);
        match real {
            Yaml::String(r) if *r == want => Ok(()),
            Yaml::String(r) => Err(self.fail(
                Some(first),
                path,
                format!("the text reads back as {r:?}, not {want:?}"),
            )),
            other => {
                let hint = if matches!(other, Yaml::Number(_)) && whole {
                    " (for a number, write `{{int x}}` or `{{float x}}`; for a string, quote the slot)"
                } else {
                    ""
                };
                Err(self.fail(
                    Some(first),
                    path,
                    format!(
                        "it reads as {} {}, not the string {want:?}{hint}",
                        type_name(other),
                        shown(other)
                    ),
                ))
            }
        }
    }
}

/// Compares the shape render `shape_text` with the real render `real_text`.
pub(crate) fn compare(shape: &Shape, shape_text: &str, real_text: &str) -> Result<(), Mismatch> {
    let mut tokens = Tokens {
        shape,
        prefix: format!("kfv{}s", shape.nonce),
        quoted: Vec::new(),
    };
    tokens.quoted = tokens.quoted_in(shape_text);
    let Ok(shape_docs) = parse_shape(shape_text) else {
        // The template does not render YAML even without the values: the manifest check reports
        // that on the real text, with its line.
        return Ok(());
    };
    let real_docs = parse_all(real_text).map_err(|e| Mismatch {
        token: None,
        document: 0,
        path: String::new(),
        why: format!("the result is not valid YAML: {e}"),
    })?;
    if shape_docs.len() != real_docs.len() {
        return Err(Mismatch {
            token: None,
            document: 0,
            path: String::new(),
            why: format!(
                "the file has {} YAML documents where the template has {}",
                real_docs.len(),
                shape_docs.len()
            ),
        });
    }
    for (i, (s, r)) in shape_docs.iter().zip(real_docs.iter()).enumerate() {
        let walk = Walk {
            tokens: &tokens,
            document: i + 1,
        };
        walk.node(s, r, &mut Vec::new())?;
    }
    Ok(())
}

/// What [`blame`] found: a token (a slot's value, or a line `indent` wrote), or a piece of
/// structure a slot wrote through `yaml`/`json`/`indent` (an index into [`Shape::passed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blamed {
    Token(usize),
    Emission(usize),
}

/// The first slot whose value alone changes the structure: the shape text with only that value
/// in place of its token (or only that structure in place of its tokens), compared with the
/// shape. `None` when no single slot does.
pub(crate) fn blame(shape: &Shape, shape_text: &str) -> Option<(Blamed, Mismatch)> {
    for (index, token) in shape.tokens.iter().enumerate() {
        if matches!(token.kind, TokenKind::Leaf { .. }) {
            continue;
        }
        let alone = shape_text.replacen(&shape.token_name(index), &token.text, 1);
        if let Err(m) = compare_with(shape, shape_text, &alone, |i| i == index) {
            return Some((Blamed::Token(index), m));
        }
    }
    for (e, (_, shaped, real)) in shape.passed.iter().enumerate() {
        let alone = shape_text.replacen(shaped.as_str(), real, 1);
        let inside = |i: usize| shaped.contains(&shape.token_name(i));
        if let Err(m) = compare_with(shape, shape_text, &alone, inside) {
            return Some((Blamed::Emission(e), m));
        }
    }
    None
}

/// [`compare`] where only the tokens `replaced` picks were replaced by their texts in `alone`.
fn compare_with(
    shape: &Shape,
    shape_text: &str,
    alone: &str,
    replaced: impl Fn(usize) -> bool,
) -> Result<(), Mismatch> {
    // The other tokens stand for themselves: a shape whose texts are the token names.
    let tokens = shape
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| super::shape::Token {
            text: if replaced(i) {
                t.text.clone()
            } else {
                shape.token_name(i)
            },
            kind: if replaced(i) {
                t.kind.clone()
            } else {
                TokenKind::Leaf { site: None }
            },
        })
        .collect();
    let partial = Shape::with_tokens(shape.nonce.clone(), tokens);
    compare(&partial, shape_text, alone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_tokens_are_found_in_one_pass_as_a_search_for_each_finds_them() {
        let tokens = (0..14)
            .map(|i| super::super::shape::Token {
                text: format!("v{i}"),
                kind: TokenKind::Leaf { site: None },
            })
            .collect();
        let shape = Shape::with_tokens("ab12".into(), tokens);
        let texts = [
            "a: \"kfvab12s0k\"\nb: kfvab12s1k\nc: 'kfvab12s2k'\nd: \"kfvab12s1k\"\n",
            "kfvab12s3k: 'x kfvab12s11kkfvab12s1k' \"kfvab12s13k\"kfvab12s10k kfvab12s99k 'kfvab12s4",
            "'kfvab12s012k \"kfvab12s5kkfvab12s6k\" kfvab12s kfvab12s7x 'kfvab12s7k",
            "",
        ];
        for text in texts {
            let mut t = Tokens {
                shape: &shape,
                prefix: "kfvab12s".into(),
                quoted: Vec::new(),
            };
            t.quoted = t.quoted_in(text);
            for i in 0..shape.tokens.len() + 2 {
                let searched = text
                    .find(&shape.token_name(i))
                    .and_then(|at| text[..at].chars().next_back())
                    .is_some_and(|c| c == '"' || c == '\'');
                assert_eq!(t.quoted(i), searched, "token {i} in {text:?}");
            }
        }
    }

    #[test]
    fn yaml11_words_that_are_not_strings() {
        for (text, what) in [
            ("yes", "a boolean"),
            ("Off", "a boolean"),
            ("y", "a boolean"),
            ("~", "null"),
            ("", "null"),
            ("NULL", "null"),
            ("0x1F", "an integer"),
            ("010", "an integer"),
            ("1_000", "an integer"),
            ("-0b101", "an integer"),
            ("12:30", "a sexagesimal number"),
            ("1e3", "a float"),
            ("1.5", "a float"),
            (".inf", "a float"),
            (".NaN", "a float"),
            ("2001-12-14", "a timestamp"),
            ("<<", "a merge key"),
        ] {
            assert_eq!(yaml11_reads_as(text), Some(what), "{text}");
        }
        for text in [
            "ami-0abc",
            "1.30.2",
            "v1.30",
            "yess",
            "t3.medium",
            "10.0.0.0/16",
            "eu-west-1a",
            "e",
            ".",
            "-",
            "1a",
            "0x",
            "a:b",
        ] {
            assert_eq!(yaml11_reads_as(text), None, "{text}");
        }
    }
}

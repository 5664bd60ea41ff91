//! `format-yaml = true`: each document rewritten as `kops toolbox template --format-yaml` does
//! (kops 1.36.2, cmd/kops/toolbox_template.go `RunToolBoxTemplate`, with sigs.k8s.io/yaml v1.6.0).
//!
//! What kops does to a document, restated: it reads it into a map through JSON, so every number
//! becomes a 64-bit float and an empty document (or `null`) is left out; it writes the map as
//! JSON, reads that JSON with go-yaml v2 (a whole number becomes an integer again, any other
//! number a float) and writes it with go-yaml v2: map keys in go-yaml's order (letters by code
//! point, digit runs by value, see [`key_order`]), two spaces per level, a list under a key not
//! indented, a string with a newline as a `|` block, a string that would read as another type
//! (`"true"`, `"1.5"`, `""`) double-quoted, a string that cannot be plain single-quoted, long plain
//! lines folded at 80 columns, a float in Go's shortest `%g` form (`1.5`, `1e+21`).
//!
//! Not reproduced (docs/templates.md says so): YAML 1.1 booleans read from the document (kops
//! reads an unquoted `yes`, `on`, `off`... as a bool, kopsform as a string), long double-quoted
//! strings (go-yaml folds them, kopsform writes them on one line), and map keys longer than 128
//! characters (go-yaml writes them as `? key`).

use std::cmp::Ordering;

use serde_json::Value;

use scalar::{key_scalar, string_at};

mod scalar;

/// The document `piece` as kops writes it with `--format-yaml`; `None` when kops leaves it out
/// (empty, only comments, `null`, an empty map).
pub(crate) fn format_document(piece: &str) -> Result<Option<String>, String> {
    let parsed: serde_yaml::Value = serde_yaml::from_str(piece)
        .map_err(|e| format!("a document is not valid YAML: {e}; kops refuses it too"))?;
    let value = to_json(parsed)?;
    match value {
        Value::Null => Ok(None),
        Value::Object(map) if map.is_empty() => Ok(None),
        Value::Object(_) => {
            let mut out = String::new();
            write_value(&mut out, &value, 0, Context::Document);
            Ok(Some(out))
        }
        other => Err(format!(
            "a document is {}, not a mapping; kops reads every document of `--format-yaml` into a map and fails on it",
            kind(&other)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a bool",
        _ => "a value",
    }
}

/// YAML -> JSON as sigs.k8s.io/yaml converts it: keys become strings, numbers 64-bit floats.
fn to_json(value: serde_yaml::Value) -> Result<Value, String> {
    Ok(match value {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if !f.is_finite() {
                return Err(format!(
                    "the number {n} has no JSON form; kops refuses it too"
                ));
            }
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        serde_yaml::Value::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    other => {
                        return Err(format!(
                            "a map key {other:?} is not a string, number or bool; kops refuses it too"
                        ));
                    }
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(tagged) => to_json(tagged.value)?,
    })
}

/// Where a value is written: the document itself, after `key:`, or after `- `.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    Document,
    MapValue,
    SeqItem,
}

/// What goes before the `i`-th key or `-` of a collection written at `at`, whose entries sit at
/// column `child`: the first entry of a map value starts a new line, the first one of a list item
/// follows its `-`, the others are indented.
fn lead(out: &mut String, at: Context, i: usize, child: usize) {
    match (at, i) {
        (Context::MapValue, 0) => {
            out.push('\n');
            out.push_str(&" ".repeat(child));
        }
        (Context::SeqItem, 0) => out.push(' '),
        (Context::Document, 0) => {}
        _ => out.push_str(&" ".repeat(child)),
    }
}

/// Writes `value` whose block starts at column `indent`; in a map value or a list item the
/// cursor is right after `key:` or `-`.
fn write_value(out: &mut String, value: &Value, indent: usize, at: Context) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| key_order(a, b));
            let child = match at {
                Context::Document => 0,
                Context::MapValue => indent + 2,
                Context::SeqItem => indent + 2,
            };
            for (i, key) in keys.into_iter().enumerate() {
                lead(out, at, i, child);
                out.push_str(&key_scalar(key));
                out.push(':');
                write_value(out, &map[key.as_str()], child, Context::MapValue);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            // go-yaml v2 does not indent a list under its key; a list in a list is.
            let child = match at {
                Context::SeqItem => indent + 2,
                _ => indent,
            };
            for (i, item) in items.iter().enumerate() {
                lead(out, at, i, child);
                out.push('-');
                write_value(out, item, child, Context::SeqItem);
            }
        }
        scalar_value => {
            if at != Context::Document {
                out.push(' ');
            }
            let text = match scalar_value {
                Value::Object(_) => "{}".to_string(),
                Value::Array(_) => "[]".to_string(),
                Value::Null => "null".to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => number(n.as_f64().unwrap_or(0.0)),
                Value::String(s) => {
                    // The column the text starts at, for folding.
                    let column = out.len() - out.rfind('\n').map_or(0, |i| i + 1);
                    string_at(s, indent + 2, column)
                }
            };
            out.push_str(&text);
            out.push('\n');
        }
    }
}

/// A number as the JSON -> go-yaml round trip writes it: a whole number within 64 bits as an
/// integer, anything else in Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        let (i64_end, u64_end) = (2f64.powi(63), 2f64.powi(64));
        if (-i64_end..i64_end).contains(&f) {
            return format!("{}", f as i64);
        }
        if (0.0..u64_end).contains(&f) {
            return format!("{}", f as u64);
        }
    }
    go_g(f)
}

/// Go's shortest `%g` (strconv/ftoa.go): `%e` when the decimal exponent is below -4 or at least
/// 6, `%f` otherwise; the exponent has a sign and at least two digits (`1e+06`).
pub(crate) fn go_g(f: f64) -> String {
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let rest = &digits[1..];
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{dot}e{esign}{:02}", &digits[..1], exp.abs());
    }
    let point = exp + 1;
    if point <= 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-point) as usize));
    }
    let point = point as usize;
    if digits.len() <= point {
        format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// go-yaml v2's order of string map keys (sorter.go `keyList.Less`): equal characters are
/// skipped; two letters compare by code point; a non-letter sorts before a letter; two
/// non-letters compare the runs of digits there by value (a run after a non-zero digit counts a
/// leading zero), then the shorter run, then by code point; a prefix sorts first.
pub(crate) fn key_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0_i64, 0_i64);
        if (ar[i] == '0' || br[i] == '0')
            && ar[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .any(|c| *c != '0')
        {
            (an, bn) = (1, 1);
        }
        let run = |s: &[char], mut n: i64| {
            let mut j = i;
            while let Some(d) = s.get(j).and_then(|c| c.to_digit(10)) {
                n = n.wrapping_mul(10).wrapping_add(i64::from(d));
                j += 1;
            }
            (n, j)
        };
        let ((an, ai), (bn, bi)) = (run(&ar, an), run(&br, bn));
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests;

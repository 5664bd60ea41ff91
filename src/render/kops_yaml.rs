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

/// go-yaml v2's line width.
const WIDTH: usize = 80;

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
                match (at, i) {
                    (Context::MapValue, 0) => {
                        out.push('\n');
                        out.push_str(&" ".repeat(child));
                    }
                    (Context::SeqItem, 0) => out.push(' '),
                    (Context::Document, 0) => {}
                    _ => out.push_str(&" ".repeat(child)),
                }
                out.push_str(&scalar(key, child, true));
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
                match (at, i) {
                    (Context::MapValue, 0) => {
                        out.push('\n');
                        out.push_str(&" ".repeat(child));
                    }
                    (Context::SeqItem, 0) => out.push(' '),
                    (Context::Document, 0) => {}
                    _ => out.push_str(&" ".repeat(child)),
                }
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
        if f >= -9.223_372_036_854_775_808e18 && f < 9.223_372_036_854_775_808e18 {
            return format!("{}", f as i64);
        }
        if f >= 0.0 && f < 1.844_674_407_370_955_2e19 {
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
    if exp < -4 || exp >= 6 {
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

/// Whether go-yaml v2 would read `s`, written plain, as something other than a string (its
/// `resolve`, and the encoder's base-60 float check).
fn reads_as_other(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || first == '+' || first == '-' || first == '.') {
        return false;
    }
    let plain = s.replace('_', "");
    let unsigned = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let int =
        |digits: &str, radix: u32| !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    let lower = unsigned.to_ascii_lowercase();
    let is_int = if let Some(hex) = lower.strip_prefix("0x") {
        int(hex, 16)
    } else if let Some(oct) = lower.strip_prefix("0o") {
        int(oct, 8)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        int(bin, 2)
    } else if unsigned.starts_with('0') && unsigned.len() > 1 {
        int(&unsigned[1..], 8)
    } else {
        int(unsigned, 10)
    };
    is_int || yaml_float(&plain) || base60(s) || timestamp(s)
}

/// go-yaml v2's float pattern `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((whole, frac)) => digits(whole) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)))
}

/// go-yaml v2's base-60 float pattern (`1:20`), which its encoder quotes.
fn base60(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    head.starts_with(|c: char| c.is_ascii_digit())
        && head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !rest.is_empty()
        && rest.iter().all(|p| {
            matches!(p.len(), 1 | 2)
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || p.as_bytes()[0] <= b'5')
        })
        && frac.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// go-yaml v2 reads a plain `2006-01-02` (and the same with a time) as a timestamp.
fn timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let date_end = s.find(['T', 't', ' ']).unwrap_or(s.len());
    let parts: Vec<&str> = s[5..date_end].split('-').collect();
    parts.len() == 2
        && parts
            .iter()
            .all(|p| matches!(p.len(), 1 | 2) && p.bytes().all(|c| c.is_ascii_digit()))
}

/// Go's yaml `is_printable` (tab and other control characters are not).
fn printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// A scalar string as a key (`key`: never a block) or value, continuing lines at `indent`.
fn scalar(s: &str, indent: usize, key: bool) -> String {
    if key {
        return match style(s) {
            Style::Plain => s.to_string(),
            Style::Single => single(s, indent, usize::MAX),
            _ => double(s),
        };
    }
    string_at(s, indent, 0)
}

enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// The style go-yaml v2 writes a string in (encode.go `stringv`, emitterc.go
/// `yaml_emitter_analyze_scalar` and `yaml_emitter_select_scalar_style`).
fn style(s: &str) -> Style {
    let chars: Vec<char> = s.chars().collect();
    let special = chars.iter().any(|c| !printable(*c));
    let blank = |i: usize| {
        chars
            .get(i)
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
    };
    let (mut flow, mut block, mut space_break, mut trailing_space) = (false, false, false, false);
    if s.starts_with("---") || s.starts_with("...") {
        flow = true;
        block = true;
    }
    for (i, c) in chars.iter().enumerate() {
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow = true;
                    block = true;
                }
                '?' | ':' => {
                    flow = true;
                    block |= blank(1);
                }
                '-' if blank(1) => {
                    flow = true;
                    block = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow = true,
                ':' => {
                    flow = true;
                    block |= blank(i + 1);
                }
                '#' if chars[i - 1] == ' ' => {
                    flow = true;
                    block = true;
                }
                _ => {}
            }
        }
        if *c == ' ' && chars.get(i + 1) == Some(&'\n') {
            space_break = true;
        }
    }
    if chars.last() == Some(&' ') {
        trailing_space = true;
    }
    let _ = flow;
    let edges =
        matches!(chars.first(), Some(' ' | '\n')) || matches!(chars.last(), Some(' ' | '\n'));
    let break_space = s.contains("\n ");
    if s.contains('\n') {
        return if special || space_break || trailing_space {
            Style::Double
        } else {
            Style::Literal
        };
    }
    if reads_as_other(s) || special {
        return Style::Double;
    }
    if block || edges {
        return if break_space || space_break {
            Style::Double
        } else {
            Style::Single
        };
    }
    Style::Plain
}

/// A string value starting at `column`, folded lines continuing at `indent`.
fn string_at(s: &str, indent: usize, column: usize) -> String {
    match style(s) {
        Style::Plain => fold(s, indent, column, false),
        Style::Single => single(s, indent, column),
        Style::Double => double(s),
        Style::Literal => literal(s, indent),
    }
}

/// Plain text, folded at a space once past [`WIDTH`] (emitterc.go `write_plain_scalar`).
fn fold(s: &str, indent: usize, mut column: usize, quoted: bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut spaces = false;
    for (i, c) in chars.iter().enumerate() {
        if *c == ' ' {
            let inside = !quoted || (i > 0 && i + 1 < chars.len());
            if !spaces && column > WIDTH && inside && chars.get(i + 1) != Some(&' ') {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                column = indent;
            } else {
                out.push(' ');
                column += 1;
            }
            spaces = true;
        } else {
            out.push(*c);
            if quoted && *c == '\'' {
                out.push('\'');
                column += 1;
            }
            column += 1;
            spaces = false;
        }
    }
    out
}

fn single(s: &str, indent: usize, column: usize) -> String {
    let body = if column == usize::MAX {
        s.replace('\'', "''")
    } else {
        fold(s, indent, column + 1, true)
    };
    format!("'{body}'")
}

fn double(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !printable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `|` block: an indentation hint when it starts with a space or newline, `-` without a final
/// newline, `+` with more than one (emitterc.go `write_block_scalar_hints`).
fn literal(s: &str, indent: usize) -> String {
    let mut out = String::from("|");
    if s.starts_with([' ', '\n']) {
        out.push('2');
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s.len() == 1 || s.ends_with("\n\n") {
        out.push('+');
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests;

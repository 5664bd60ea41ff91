//! How go-yaml v2 writes a string (kops 1.36.2's `--format-yaml` through sigs.k8s.io/yaml
//! v1.6.0): plain, single-quoted, double-quoted or a `|` block, and where it folds long lines.

/// go-yaml v2's line width.
const WIDTH: usize = 80;

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

/// A map key: never a block, never folded (go-yaml writes keys as simple keys).
pub(super) fn key_scalar(s: &str) -> String {
    match style(s) {
        Style::Plain => s.to_string(),
        Style::Single => format!("'{}'", s.replace('\'', "''")),
        _ => double(s),
    }
}

enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// The style go-yaml v2 writes a string in (encode.go `stringv`, emitterc.go
/// `yaml_emitter_analyze_scalar` and `yaml_emitter_select_scalar_style`), in block context: the
/// flow indicators (`,`, `[`...) do not stop a plain scalar there.
fn style(s: &str) -> Style {
    let chars: Vec<char> = s.chars().collect();
    let special = chars.iter().any(|c| !printable(*c));
    let blank = |i: usize| {
        chars
            .get(i)
            .is_none_or(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
    };
    let (mut block, mut space_break, mut trailing_space) = (false, false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block = true;
    }
    for (i, c) in chars.iter().enumerate() {
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block = true,
                '?' | ':' => block |= blank(1),
                '-' if blank(1) => block = true,
                _ => {}
            }
        } else {
            match c {
                ':' => block |= blank(i + 1),
                '#' if chars[i - 1] == ' ' => block = true,
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
pub(super) fn string_at(s: &str, indent: usize, column: usize) -> String {
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
    format!("'{}'", fold(s, indent, column + 1, true))
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

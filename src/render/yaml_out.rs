//! JSON values written as block YAML that every YAML parser reads back as the same value.
//!
//! serde_yaml writes `yes`, `on`, `1_000`, `<<` and `12:30` unquoted, which YAML 1.2 reads as
//! strings but kops's YAML 1.1 parser does not. Here a string is plain only when it is a string
//! under both (and has no character YAML treats specially); multi-line text is a literal block
//! when that reads back exactly, and double-quoted (JSON escapes) otherwise.

use serde_json::Value;

use super::structure::yaml11_reads_as;

/// `value` as block YAML, without a trailing newline.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(l) if !l.is_empty() => list(&mut out, l, 0),
        other => out.push_str(&scalar(other, 0)),
    }
    out.trim_end_matches('\n').to_string()
}

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphanumeric() || matches!(first, '/' | '.' | '_'))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,~%$^ ".contains(c))
        && yaml11_reads_as(s).is_none()
}

fn quoted(s: &str) -> String {
    let json = Value::String(s.to_string()).to_string();
    json.replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A literal block (`|`, `|-`, `|+`) for `s`, when it reads back exactly.
fn block(s: &str, indent: usize) -> Option<String> {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let printable = |c: char| {
        c == '\t' || !(c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}'))
    };
    if body.is_empty()
        || !s.contains('\n')
        || body.starts_with([' ', '\t'])
        || !s.chars().all(|c| c == '\n' || printable(c))
        || body
            .split('\n')
            .any(|l| !l.is_empty() && l.trim().is_empty())
    {
        return None;
    }
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => return None,
    };
    let pad = " ".repeat(indent + 2);
    let mut out = format!("|{chomp}\n");
    let lines: Vec<&str> = s.trim_end_matches('\n').split('\n').collect();
    for line in lines {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    Some(out.trim_end_matches('\n').to_string())
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::String(s) if plain_ok(s) => s.clone(),
        Value::String(s) => block(s, indent).unwrap_or_else(|| quoted(s)),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

fn key(k: &str) -> String {
    if plain_ok(k) {
        k.to_string()
    } else {
        quoted(k)
    }
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    for (k, v) in m {
        out.push_str(&pad);
        out.push_str(&key(k));
        out.push(':');
        nested(out, v, indent, false);
    }
}

fn list(out: &mut String, l: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    for v in l {
        out.push_str(&pad);
        out.push('-');
        nested(out, v, indent, true);
    }
}

/// Writes `v` after `key:` or `-` at `indent`.
fn nested(out: &mut String, v: &Value, indent: usize, in_list: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            if in_list {
                // `- k: v` with the rest of the map under the first key.
                let mut inner = String::new();
                map(&mut inner, m, indent + 2);
                out.push(' ');
                out.push_str(inner.trim_start_matches(' '));
            } else {
                out.push('\n');
                map(out, m, indent + 2);
            }
        }
        Value::Array(l) if !l.is_empty() => {
            out.push('\n');
            list(out, l, if in_list { indent + 2 } else { indent });
        }
        other => {
            let text = scalar(other, indent);
            // A block's lines are indented from the key's column.
            let text = if in_list && text.starts_with('|') {
                scalar_block_in_list(other, indent)
            } else {
                text
            };
            out.push(' ');
            out.push_str(&text);
            out.push('\n');
        }
    }
}

fn scalar_block_in_list(v: &Value, indent: usize) -> String {
    scalar(v, indent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_back_as_the_same_value() {
        let cases = [
            json!({"a": "yes", "b: c": "x\ny", "n": 2, "t": true, "z": null}),
            json!([
                "0x1F",
                "010",
                "1_000",
                "~",
                "<<",
                "on",
                "12:30",
                "2001-12-14",
                "y",
                "\u{2028}",
                "a\u{85}b",
                "",
                " x",
                "x ",
                "- a",
                "#c",
                "&a",
                "*a",
                "!t",
                "|",
                ">",
                "%x",
                "@x",
                "`x",
                "a #b",
                "a: b",
                "[a]",
                "{a}"
            ]),
            json!({"script": "#!/bin/sh\necho hi\n", "two": "a\n\n", "none": "a\nb", "lead": "  a\nb", "ws": "a\n  \nb"}),
            json!([{"a": 1, "b": [1, 2]}, [1, [2]], {}, [], {"x": {"y": {"z": "w"}}}]),
            json!({"list": [{"k": "v\nw", "j": "x"}], "deep": [[{"a": "b"}]]}),
            json!("x\ny"),
            json!("3"),
        ];
        for v in cases {
            let text = to_yaml(&v);
            let back: serde_yaml::Value =
                serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
            assert_eq!(serde_json::to_value(back).unwrap(), v, "\n{text}");
            // Every plain word is a string under YAML 1.1 too.
            for line in text.lines() {
                let word = line
                    .trim_start_matches([' ', '-'])
                    .rsplit(": ")
                    .next()
                    .unwrap_or("");
                if !word.starts_with(['"', '|'])
                    && !word.is_empty()
                    && v.to_string().contains(&format!("\"{word}\""))
                {
                    assert_eq!(yaml11_reads_as(word), None, "{word} in\n{text}");
                }
            }
        }
        assert_eq!(to_yaml(&json!({"x": 1, "z": [1, 2]})), "x: 1\nz:\n- 1\n- 2");
    }
}

//! The forms a secret takes on its way out: its lines, and the escapings and encodings that the
//! programs kopsform relays apply to it (Terraform's JSON, HCL strings, base64, URL encoding).
//!
//! A secret is masked in each of these forms, built once when it is learned ([`forms`]). A form
//! is a fixed string to look for, so masking stays a multi-pattern search and never a guess; a
//! secret put through any other transformation (hashed, compressed, split by a program) is not
//! recognised, and docs/security.md says so.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Shorter values are not treated as secrets anywhere (masking, plan review).
pub(crate) const MIN_SECRET_LEN: usize = 4;

/// How a masked pattern relates to the secret it came from (said in the argv guard's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Form {
    /// The secret as it is.
    Clear,
    /// One line of a multi-line secret.
    Line,
    /// Escaped as in a JSON string (serde's escaping, and Go's as `terraform output -json`
    /// prints it: `\u003c` for `<`, `\u0026` for `&`...).
    Json,
    /// Escaped as in an HCL string (`\"`, `\n`, `$${`, `%%{`).
    Hcl,
    /// Base64, standard or URL-safe, with or without padding, whole or inside a longer text.
    Base64,
    /// Percent-encoded (URL query or path).
    Url,
}

impl Form {
    /// "base64-encoded", for messages ("holds a secret value, base64-encoded").
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Form::Clear => "as it is",
            Form::Line => "one of its lines",
            Form::Json => "JSON-escaped",
            Form::Hcl => "HCL-escaped",
            Form::Base64 => "base64-encoded",
            Form::Url => "URL-encoded",
        }
    }
}

/// Base64 found inside a longer encoded text is shorter than the secret (its first and last
/// characters depend on the neighbouring bytes): below this many characters such a fragment is
/// too likely to turn up by chance, and is not looked for.
const MIN_FRAGMENT_LEN: usize = 8;

/// The width at which `base64` (GNU coreutils) and MIME wrap their output.
const BASE64_WRAP: usize = 76;

/// Every form of `secret` that is masked, each with how it relates to the secret. A secret shorter
/// than [`MIN_SECRET_LEN`] has none.
///
/// The secret's forms are built for the secret as a whole and for each of its lines that is worth
/// masking on its own ([`lines`]): a child's output is relayed line by line, so a multi-line
/// secret reaches the masker one line at a time.
pub(crate) fn forms(secret: &str) -> Vec<(String, Form)> {
    if secret.chars().count() < MIN_SECRET_LEN {
        return Vec::new();
    }
    let mut out = Vec::new();
    encodings(secret, Form::Clear, &mut out);
    let standard = STANDARD.encode(secret);
    if standard.len() > BASE64_WRAP {
        for chunk in standard.as_bytes().chunks(BASE64_WRAP) {
            out.push((String::from_utf8_lossy(chunk).into_owned(), Form::Base64));
        }
    }
    for line in lines(secret) {
        encodings(line, Form::Line, &mut out);
    }
    out.retain(|(text, _)| text.chars().count() >= MIN_SECRET_LEN);
    out
}

/// The lines of a multi-line secret that are masked on their own: trimmed, at least
/// [`MIN_SECRET_LEN`] characters, holding a letter or digit, and not PEM armour
/// (`-----BEGIN RSA PRIVATE KEY-----`). The lines left out tell a reader nothing about the secret
/// and would mask the same text in every key of that kind, or every blank or `}` line.
pub(crate) fn lines(secret: &str) -> Vec<&str> {
    if !secret.contains('\n') {
        return Vec::new();
    }
    secret
        .split('\n')
        .map(str::trim)
        .filter(|l| l.chars().count() >= MIN_SECRET_LEN)
        .filter(|l| l.chars().any(char::is_alphanumeric))
        .filter(|l| !is_pem_armour(l))
        .collect()
}

fn is_pem_armour(line: &str) -> bool {
    line.ends_with("-----") && (line.starts_with("-----BEGIN ") || line.starts_with("-----END "))
}

/// `text` as it is (as `form`) and escaped and encoded.
fn encodings(text: &str, form: Form, out: &mut Vec<(String, Form)>) {
    out.push((text.to_string(), form));
    let json = json_escaped(text);
    out.push((go_json_escaped(&json), Form::Json));
    out.push((json, Form::Json));
    out.push((hcl_escaped(text), Form::Hcl));
    for engine in [STANDARD, URL_SAFE] {
        out.push((engine.encode(text), Form::Base64));
    }
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        out.push((engine.encode(text), Form::Base64));
        for fragment in base64_fragments(text.as_bytes(), &engine) {
            out.push((fragment, Form::Base64));
        }
    }
    out.push((percent_encoded(text, UNRESERVED, false), Form::Url));
    out.push((percent_encoded(text, UNRESERVED, true), Form::Url));
    out.push((percent_encoded(text, PATH_SAFE, false), Form::Url));
}

/// The inside of a JSON string holding `text`, as serde_json writes it.
pub(crate) fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// serde's escaping turned into Go's (`encoding/json`, which Terraform uses): `<`, `>` and `&`
/// as `\u003c`, `\u003e`, `\u0026`, and U+2028, U+2029 escaped.
fn go_json_escaped(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The inside of an HCL string holding `text` (Terraform's plan text, `terraform console`, a
/// `.tf` or `.tfvars` file): `\\`, `\"`, `\n`, `\r`, `\t`, other control characters as `\uXXXX`,
/// and the template sequences `${` and `%{` doubled.
pub(crate) fn hcl_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// What the base64 encoding of a longer text holds of `bytes` when they start 0, 1 or 2 bytes
/// into a group of three: the characters that depend on `bytes` alone (the first and the last
/// may mix in the neighbours' bits, and are left out).
fn base64_fragments(bytes: &[u8], engine: &base64::engine::GeneralPurpose) -> Vec<String> {
    let mut out = Vec::new();
    for offset in 0..3usize {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(bytes);
        let encoded = engine.encode(&padded);
        // Characters of the first group made of filler bits only or of filler and secret bits.
        let skip = match offset {
            0 => 0,
            1 => 2,
            _ => 3,
        };
        // The last, partial group's final character mixes in the bits of what follows.
        let keep_end = if padded.len() % 3 == 0 {
            encoded.len()
        } else {
            encoded.len() - 1
        };
        if keep_end > skip && keep_end - skip >= MIN_FRAGMENT_LEN {
            out.push(encoded[skip..keep_end].to_string());
        }
    }
    out
}

/// Bytes left as they are by the strict percent-encoding (RFC 3986 unreserved).
pub(crate) const UNRESERVED: &[u8] = b"-._~";
/// Bytes also left as they are in a URL path (sub-delimiters, `:`, `@`, `/`).
const PATH_SAFE: &[u8] = b"-._~!$&'()*+,;=:@/";

/// `text` percent-encoded, ASCII letters, digits and `keep` left as they are; a space as `+`
/// with `plus` (HTML forms, Go's `url.QueryEscape`).
pub(crate) fn percent_encoded(text: &str, keep: &[u8], plus: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b as char);
        } else if b == b' ' && plus {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_fragments_are_found_inside_the_encoding_of_a_longer_text() {
        let secret = "s3cr3t-inside-a-script";
        for before in ["", "x", "xy", "#!/bin/sh\nTOKEN="] {
            for after in ["", "\n", "\nexit 0\n", "ab"] {
                let text = format!("{before}{secret}{after}");
                for (encoding, alphabet) in
                    [(STANDARD, STANDARD_NO_PAD), (URL_SAFE, URL_SAFE_NO_PAD)]
                {
                    let whole = encoding.encode(&text);
                    assert!(
                        base64_fragments(secret.as_bytes(), &alphabet)
                            .iter()
                            .any(|f| whole.contains(f.as_str())),
                        "{text:?} -> {whole}"
                    );
                }
            }
        }
    }

    #[test]
    fn hcl_and_json_escaping() {
        assert_eq!(
            hcl_escaped("a\"b\\c\nd${e}%{f}$g"),
            "a\\\"b\\\\c\\nd$${e}%%{f}$g"
        );
        assert_eq!(json_escaped("a\"b\\c\nd<e>&"), "a\\\"b\\\\c\\nd<e>&");
        assert_eq!(
            go_json_escaped(&json_escaped("<a&b>")),
            "\\u003ca\\u0026b\\u003e"
        );
        assert_eq!(percent_encoded("a b/c+", UNRESERVED, false), "a%20b%2Fc%2B");
        assert_eq!(percent_encoded("a b/c+", UNRESERVED, true), "a+b%2Fc%2B");
        assert_eq!(percent_encoded("a b/c+", PATH_SAFE, false), "a%20b/c+");
    }

    #[test]
    fn the_lines_worth_masking_leave_out_armour_blanks_and_punctuation() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\r\nMIIEpAIBAAKCAQEA7\n\n  }}}}\nab\nQk9HVVM=\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(lines(key), ["MIIEpAIBAAKCAQEA7", "Qk9HVVM="]);
        assert!(lines("one line only").is_empty());
    }
}

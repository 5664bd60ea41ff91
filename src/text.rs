//! Small text helpers every layer uses: "did you mean" suggestions, line and column of an offset,
//! UTF-8 decoding with the position of a bad byte, and lowercase hex. Nothing here knows about
//! kops, Terraform or the project.

use crate::error::UserError;

/// Names longer than this get no suggestion: comparing them costs time and helps nobody.
const SUGGEST_MAX_LEN: usize = 128;

/// `; did you mean ...?` with up to three candidates close to `name`, or an empty string. `name`
/// itself is never suggested: where a name exists but is not reachable (a top-level value inside
/// a `#each`), "did you mean `x`" for `x` says nothing (issue 18).
pub(crate) fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> String {
    if name.len() > SUGGEST_MAX_LEN {
        return String::new();
    }
    let mut close: Vec<(f64, &String)> = candidates
        .filter(|c| c.len() <= SUGGEST_MAX_LEN && c.as_str() != name)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| *score >= 0.8 || strsim::levenshtein(name, c) <= 2 || c.contains(name))
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    let close: Vec<String> = close
        .into_iter()
        .take(3)
        .map(|(_, c)| format!("`{c}`"))
        .collect();
    match close.len() {
        0 => String::new(),
        1 => format!("; did you mean {}?", close[0]),
        _ => format!("; did you mean one of {}?", close.join(", ")),
    }
}

/// `(line, column)`, both 1-based, of byte `offset` in `text`; columns count characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

/// The lines of a text, for many `line_col` questions about it: each answer costs a binary search
/// and the length of its own line, where [`line_col`] reads the text up to the offset.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// What [`line_col`] says of `offset`.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

/// `line:column` (1-based) of the first bad byte of a text that is not UTF-8, valid up to `offset`.
pub(crate) fn utf8_error_position(bytes: &[u8], offset: usize) -> String {
    let valid = std::str::from_utf8(&bytes[..offset.min(bytes.len())]).unwrap_or_default();
    let (line, col) = line_col(valid, valid.len());
    format!("{line}:{col}")
}

/// `bytes` read from `shown` as UTF-8 text, or an error naming the line and column of the first
/// bad byte and asking to save `what` (e.g. "the template") as UTF-8.
pub(crate) fn decode_utf8(shown: &str, bytes: Vec<u8>, what: &str) -> Result<String, UserError> {
    // A byte-order mark is not text: editors on Windows write one, and YAML would read it as the
    // start of a second document.
    let bytes = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        UserError::new(format!(
            "{shown}:{}: not UTF-8 text (bad byte at offset {offset}); save {what} as UTF-8",
            utf8_error_position(e.as_bytes(), offset),
        ))
    })
}

/// `value` quoted for a message, escaped (newlines, quotes, control characters visible) and cut
/// to 120 characters.
pub(crate) fn shown_value(value: &str) -> String {
    const MAX: usize = 120;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}... ({} bytes)", &value[..cut], value.len()),
        None => format!("{value:?}"),
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    // Without the formatting machinery: each blob of a review is named by a digest (issue 19).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Where [`json_str`] writes: bytes or a `String` (escapes are ASCII, so the text between them
/// is always whole characters).
pub(crate) trait JsonSink {
    fn text(&mut self, s: &str);
    fn ascii(&mut self, b: u8);
    fn room(&mut self, additional: usize);
}

impl JsonSink for Vec<u8> {
    fn text(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn ascii(&mut self, b: u8) {
        self.push(b);
    }
    fn room(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

impl JsonSink for String {
    fn text(&mut self, s: &str) {
        self.push_str(s);
    }
    fn ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
    fn room(&mut self, additional: usize) {
        self.reserve(additional);
    }
}

/// `s` as a JSON string, escaped as serde_json escapes it: `"`, `\`, and the control characters
/// (`\b \t \n \f \r` short, the others as `\u00xx`); everything else as it is. Eight bytes are
/// checked at a time, as most strings need no escape at all.
pub(crate) fn json_str(out: &mut impl JsonSink, s: &str) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    /// Some byte of `w` is below 0x20, a quote or a backslash.
    fn any_special(w: u64) -> bool {
        let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        (control
            | zero_byte(w ^ (ONES * u64::from(b'"')))
            | zero_byte(w ^ (ONES * u64::from(b'\\'))))
            != 0
    }
    let bytes = s.as_bytes();
    out.room(bytes.len() + 2);
    out.ascii(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() {
            let word = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
            if !any_special(word) {
                i += 8;
                continue;
            }
        } else if bytes.len() >= 8 {
            // Fewer than eight bytes left: the last eight, some of them checked already, at once.
            let last = bytes.len() - 8;
            let word = u64::from_le_bytes(bytes[last..].try_into().unwrap_or([0; 8]));
            if !any_special(word) {
                i = bytes.len();
                continue;
            }
        }
        let b = bytes[i];
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0A => b'n',
            0x0C => b'f',
            0x0D => b'r',
            0x00..=0x1F => b'u',
            _ => {
                i += 1;
                continue;
            }
        };
        out.text(&s[start..i]);
        out.ascii(b'\\');
        out.ascii(short);
        if short == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.ascii(b'0');
            out.ascii(b'0');
            out.ascii(HEX[usize::from(b >> 4)]);
            out.ascii(HEX[usize::from(b & 0xF)]);
        }
        i += 1;
        start = i;
    }
    out.text(&s[start..]);
    out.ascii(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_col("ab\ncéd", 6), (2, 3));
    }

    #[test]
    fn a_line_index_answers_as_line_col() {
        let text = "ab\ncé\n\nxyz\né";
        let index = LineIndex::new(text);
        for offset in (0..=text.len()).filter(|&o| text.is_char_boundary(o)) {
            assert_eq!(index.line_col(offset), line_col(text, offset), "{offset}");
        }
        assert_eq!(index.line_col(100), line_col(text, text.len()));
    }

    #[test]
    fn a_bad_byte_is_named_by_line_and_column() {
        let e =
            decode_utf8("values.yml", b"a: 1\nb: \xff\n".to_vec(), "the values file").unwrap_err();
        assert_eq!(
            e.message,
            "values.yml:2:4: not UTF-8 text (bad byte at offset 8); save the values file as UTF-8"
        );
    }

    #[test]
    fn suggestions_are_close_names_only() {
        let names = [
            "plan".to_string(),
            "apply".to_string(),
            "destroy".to_string(),
        ];
        assert_eq!(suggest("pla", names.iter()), "; did you mean `plan`?");
        assert_eq!(suggest("plan", names.iter()), "", "never the name itself");
        assert_eq!(suggest("zzzzzz", names.iter()), "");
        assert_eq!(suggest(&"x".repeat(200), names.iter()), "");
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}

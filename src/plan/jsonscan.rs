//! Walking a large JSON document from a reader without parsing all of it.
//!
//! serde_json parses a byte slice several times faster than a reader, but a slice of a whole plan
//! means holding the whole plan in memory. The [`Scanner`] finds the boundaries of JSON values in
//! a stream (strings, nesting) so that the caller can copy one value at a time into a small buffer
//! and parse that slice with serde_json, or skip a value without keeping it.
//!
//! It checks structure only: string boundaries and escapes, bracket nesting, commas and colons.
//! A skipped value is not validated further; a copied one is validated by whatever parses it. Any
//! surprise is a [`Malformed`] error without detail: the caller reads the document again with
//! serde_json's own reader to say what and where.

use std::io::Read;

/// The document is not well-formed JSON as far as the scanner can tell.
#[derive(Debug)]
pub(crate) enum Malformed {
    Syntax,
    Io(std::io::Error),
}

impl From<std::io::Error> for Malformed {
    fn from(e: std::io::Error) -> Self {
        Malformed::Io(e)
    }
}

type Result<T> = std::result::Result<T, Malformed>;

pub(crate) struct Scanner<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

const CHUNK: usize = 128 * 1024;

impl<R: Read> Scanner<R> {
    pub(crate) fn new(reader: R) -> Scanner<R> {
        Scanner {
            reader,
            buf: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            len: 0,
        }
    }

    /// Refills the buffer when it is used up; false at the end of the input.
    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.len {
            return Ok(true);
        }
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next byte that is not whitespace, not consumed; `None` at the end.
    pub(crate) fn peek(&mut self) -> Result<Option<u8>> {
        loop {
            if !self.fill()? {
                return Ok(None);
            }
            let b = self.buf[self.pos];
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Ok(Some(b));
            }
        }
    }

    /// Consumes the next non-whitespace byte, which must be `want`.
    pub(crate) fn expect(&mut self, want: u8) -> Result<()> {
        match self.peek()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(Malformed::Syntax),
        }
    }

    /// After a value in a list or object: true when a `,` follows (consumed), false when `close`
    /// does (consumed too).
    pub(crate) fn next_or_end(&mut self, close: u8) -> Result<bool> {
        match self.peek()? {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(Malformed::Syntax),
        }
    }

    /// The end of the input, past trailing whitespace.
    pub(crate) fn at_end(&mut self) -> Result<bool> {
        Ok(self.peek()?.is_none())
    }

    /// Starts an object (`{` consumed): true when it has a first member.
    pub(crate) fn open_object(&mut self) -> Result<bool> {
        self.open(b'{', b'}')
    }

    /// Starts a list (`[` consumed): true when it has a first element.
    pub(crate) fn open_list(&mut self) -> Result<bool> {
        self.open(b'[', b']')
    }

    fn open(&mut self, open: u8, close: u8) -> Result<bool> {
        self.expect(open)?;
        if self.peek()? == Some(close) {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// The next value parsed where it lies in the buffer, without a copy: `parse` gets the
    /// buffered text from the value's first byte on and answers how many bytes the value took,
    /// or `need_more` when the text ends inside it; the buffer then keeps what is unread, takes
    /// in more (growing twofold while one value fills half of it, so a large value is parsed
    /// a few times at most) and `parse` is asked again. A value cut off by the end of the input
    /// is [`Malformed`].
    pub(crate) fn parse_in_place<E: From<Malformed>>(
        &mut self,
        need_more: impl Fn(&E) -> bool,
        mut parse: impl FnMut(&[u8]) -> std::result::Result<usize, E>,
    ) -> std::result::Result<(), E> {
        if self.peek()?.is_none() {
            return Err(Malformed::Syntax.into());
        }
        loop {
            match parse(&self.buf[self.pos..self.len]) {
                Ok(n) => {
                    self.pos += n.min(self.len - self.pos);
                    return Ok(());
                }
                Err(e) if need_more(&e) => {
                    if !self.more()? {
                        return Err(Malformed::Syntax.into());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the unread bytes to the start of the buffer and reads more after them, the buffer
    /// doubled when they fill half of it or more; false when the input has nothing more.
    fn more(&mut self) -> Result<bool> {
        self.buf.copy_within(self.pos..self.len, 0);
        self.len -= self.pos;
        self.pos = 0;
        if self.len * 2 >= self.buf.len() {
            let mut bigger = vec![0; self.buf.len() * 2].into_boxed_slice();
            bigger[..self.len].copy_from_slice(&self.buf[..self.len]);
            self.buf = bigger;
        }
        let mut read_any = false;
        while self.len < self.buf.len() {
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => break,
                Ok(n) => {
                    self.len += n;
                    read_any = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(read_any)
    }

    /// A member's key and the `:` after it; `raw` is reused for the key's JSON text.
    pub(crate) fn key(&mut self, raw: &mut Vec<u8>) -> Result<String> {
        raw.clear();
        if self.peek()? != Some(b'"') {
            return Err(Malformed::Syntax);
        }
        self.value(Some(raw))?;
        self.expect(b':')?;
        serde_json::from_slice(raw).map_err(|_| Malformed::Syntax)
    }

    /// The next value: copied to `out` when given (appended), else skipped.
    pub(crate) fn value(&mut self, mut out: Option<&mut Vec<u8>>) -> Result<()> {
        let first = self.peek()?.ok_or(Malformed::Syntax)?;
        match first {
            b'"' | b'{' | b'[' => {
                let mut depth = 0usize;
                let mut in_string = false;
                let mut escaped = false;
                loop {
                    if !self.fill()? {
                        return Err(Malformed::Syntax);
                    }
                    let chunk = &self.buf[self.pos..self.len];
                    let mut end = None;
                    let mut i = 0;
                    while i < chunk.len() {
                        if in_string {
                            if escaped {
                                escaped = false;
                                i += 1;
                                continue;
                            }
                            // Most of a plan is string text: jump to the next quote or escape.
                            match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                                None => {
                                    // The string goes on in the next chunk.
                                    break;
                                }
                                Some(k) => i += k,
                            }
                            if chunk[i] == b'\\' {
                                escaped = true;
                            } else {
                                in_string = false;
                                if depth == 0 {
                                    end = Some(i + 1);
                                    break;
                                }
                            }
                            i += 1;
                            continue;
                        }
                        match chunk[i] {
                            b'"' => in_string = true,
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth = depth.checked_sub(1).ok_or(Malformed::Syntax)?;
                                if depth == 0 {
                                    end = Some(i + 1);
                                    break;
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    let take = end.unwrap_or(chunk.len());
                    if let Some(out) = out.as_deref_mut() {
                        out.extend_from_slice(&chunk[..take]);
                    }
                    self.pos += take;
                    if end.is_some() {
                        return Ok(());
                    }
                }
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => loop {
                if !self.fill()? {
                    return Ok(());
                }
                let b = self.buf[self.pos];
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(());
                }
                if let Some(out) = out.as_deref_mut() {
                    out.push(b);
                }
                self.pos += 1;
            },
            _ => Err(Malformed::Syntax),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<String> {
        let mut s = Scanner::new(text.as_bytes());
        let mut out = Vec::new();
        if s.open_list().unwrap() {
            loop {
                let mut v = Vec::new();
                s.value(Some(&mut v)).unwrap();
                out.push(String::from_utf8(v).unwrap());
                if !s.next_or_end(b']').unwrap() {
                    break;
                }
            }
        }
        assert!(s.at_end().unwrap());
        out
    }

    #[test]
    fn finds_value_boundaries() {
        assert_eq!(
            values(r#" [ "a\"]}", {"b": [1, {"c": "]"}]}, -1.5e3 , true,null,[] ] "#),
            [
                r#""a\"]}""#,
                r#"{"b": [1, {"c": "]"}]}"#,
                "-1.5e3",
                "true",
                "null",
                "[]"
            ]
        );
        assert!(values("[]").is_empty());
    }

    #[test]
    fn values_across_chunk_boundaries() {
        let long = "x\\\"".repeat(CHUNK);
        let text = format!(r#"[{{"k": "{long}"}}, 7]"#);
        let got = values(&text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), text.len() - 5);
        assert_eq!(got[1], "7");
    }

    /// Each element of a list parsed in place as a `serde_json::Value`.
    fn parsed_in_place(text: &[u8], chunk_reads: usize) -> Vec<serde_json::Value> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.1.min(out.len()).min(self.0.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = Scanner::new(Trickle(text, chunk_reads));
        let mut out = Vec::new();
        if s.open_list().unwrap() {
            loop {
                s.parse_in_place(
                    |e: &Malformed| matches!(e, Malformed::Io(_)),
                    |text| {
                        let mut it = serde_json::Deserializer::from_slice(text)
                            .into_iter::<serde_json::Value>();
                        match it.next() {
                            Some(Ok(v)) => {
                                out.push(v);
                                Ok(it.byte_offset())
                            }
                            Some(Err(e)) if e.is_eof() => {
                                Err(Malformed::Io(std::io::Error::other("more")))
                            }
                            _ => Err(Malformed::Syntax),
                        }
                    },
                )
                .unwrap();
                if !s.next_or_end(b']').unwrap() {
                    break;
                }
            }
        }
        assert!(s.at_end().unwrap());
        out
    }

    #[test]
    fn values_parsed_in_place_across_reads_and_growth() {
        let big = "é\\\"x".repeat(3 * CHUNK);
        let text = format!(r#"[{{"a": 1}}, {{"big": "{big}", "n": [1, 2]}}, {{"b": "ü"}}]"#);
        let expected: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        for reads in [1, 7, 4096, CHUNK, usize::MAX] {
            assert_eq!(parsed_in_place(text.as_bytes(), reads), expected, "{reads}");
        }
    }

    #[test]
    fn keys_and_malformed_input() {
        let mut s = Scanner::new(&br#"{"a\u0062": 1}"#[..]);
        assert!(s.open_object().unwrap());
        assert_eq!(s.key(&mut Vec::new()).unwrap(), "ab");
        for bad in ["[", "[1,", r#"["abc]"#, "[}", "]", "[1 2]", "{1: 2}", "[x]"] {
            let mut s = Scanner::new(bad.as_bytes());
            let result = (|| -> Result<()> {
                if s.open_list()? {
                    loop {
                        s.value(None)?;
                        if !s.next_or_end(b']')? {
                            break;
                        }
                    }
                }
                Ok(())
            })();
            let malformed = result.is_err() || !s.at_end().unwrap_or(false);
            assert!(malformed, "{bad}");
        }
    }
}

//! A resource change read without serde's machinery, for both passes over a plan (issue 19).
//!
//! serde_json reads a change through visitors, one call per value, and a first pass that skips
//! the values still runs its full reader over them: two thirds of a review's time went there.
//! Here one walk over the change's text finds each member of the change (and of its `change`),
//! checking the JSON as serde's own skipping reader would (`IgnoredAny`: strings and escapes,
//! numbers, literals, nesting, commas, colons), strings eight bytes at a time. The text is
//! checked as UTF-8 before the walk, about as far as the change goes (as [`Elements`] does), so
//! plain strings are borrowed from it. `before`/`after` are built as [`JsonRef`] during the walk
//! (second pass) or skipped (first pass); the other fields are taken from their slices: plain
//! strings and the usual markers (`{}`, `false`) directly, anything else by serde_json from the
//! field's own text.
//!
//! The reader only ever answers what serde would: anything it does not know for sure (a key of
//! the change with an escape, a repeated field, a control character in a string, nesting deeper
//! than [`MAX_DEPTH`], a field of an unexpected kind, text that is not UTF-8) is [`Stop::Unsure`],
//! and the caller reads the change with serde instead. The unit tests compare the two on usual,
//! rare and hostile input, cut off and with bytes flipped everywhere.
//!
//! [`Elements`]: super::stream::Elements

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde_json::{Number, Value};

use super::json_ref::{JsonRef, without_repeats};
use super::raw::{RawChange, RawImporting, RawResourceChange};

/// Why the reader gave up.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The text ends inside the change: read more and ask again.
    NeedMore,
    /// Something serde must judge: read the change with serde.
    Unsure,
}

type Result<T> = std::result::Result<T, Stop>;

/// Nesting (the change's own object counted) beyond which serde decides: it refuses values more
/// than 128 levels deep, and this reader does not count its levels the same way.
const MAX_DEPTH: usize = 100;

/// What a pass reads a change's `before` and `after` as.
pub(super) trait Values<'a>: Sized {
    /// The value at the cursor, `depth` levels deep already, checked as serde's skipping reader
    /// checks it; `text` is the cursor's text.
    fn read(c: &mut Cursor<'a>, text: &'a str, depth: usize) -> Result<Self>;
}

impl<'a> Values<'a> for IgnoredAny {
    fn read(c: &mut Cursor<'a>, _: &'a str, depth: usize) -> Result<Self> {
        c.skip(depth)?;
        Ok(IgnoredAny)
    }
}

impl<'a> Values<'a> for Value {
    fn read(c: &mut Cursor<'a>, text: &'a str, depth: usize) -> Result<Self> {
        let Span(start, end) = c.span(depth)?;
        serde_read(&text[start..end])
    }
}

impl<'a> Values<'a> for JsonRef<'a> {
    fn read(c: &mut Cursor<'a>, text: &'a str, depth: usize) -> Result<Self> {
        build(c, text, depth)
    }
}

/// The first pass's view of a change's values (`plan::filediff`): the `content` and `user_data`
/// strings of an object, the last of a repeated member winning and any other value of theirs
/// read as none, as its serde reading does; everything else skipped.
impl<'a> Values<'a> for super::filediff::FileAttributes {
    fn read(c: &mut Cursor<'a>, text: &'a str, depth: usize) -> Result<Self> {
        if c.peek()? != b'{' {
            c.skip(depth)?;
            return Ok(Self::default());
        }
        if depth + 1 > MAX_DEPTH {
            return Err(Stop::Unsure);
        }
        c.i += 1;
        let (mut content, mut user_data) = (None, None);
        if c.peek()? == b'}' {
            c.i += 1;
            return Ok(Self::new(content, user_data));
        }
        loop {
            let key = c.key()?;
            let slot = match key {
                b"content" => Some(&mut content),
                b"user_data" => Some(&mut user_data),
                _ => None,
            };
            match slot {
                Some(slot) if c.peek()? == b'"' => {
                    *slot = Some(build_string(c, text)?.into_owned());
                }
                Some(slot) => {
                    c.skip(depth + 1)?;
                    *slot = None;
                }
                None => c.skip(depth + 1)?,
            }
            match c.peek()? {
                b',' => c.i += 1,
                b'}' => {
                    c.i += 1;
                    return Ok(Self::new(content, user_data));
                }
                _ => return Err(Stop::Unsure),
            }
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `chunk` (little-endian) that ends a run of plain string text: a
/// quote, a backslash, a control character. Exact for the lowest such byte, the only one used.
#[inline]
fn string_stops(chunk: u64) -> u64 {
    let quote = chunk ^ (ONES * u64::from(b'"'));
    let backslash = chunk ^ (ONES * u64::from(b'\\'));
    let control = chunk.wrapping_sub(ONES * 0x20) & !chunk;
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGHS
}

/// A position in a change's text.
pub(super) struct Cursor<'t> {
    b: &'t [u8],
    i: usize,
}

impl<'t> Cursor<'t> {
    fn new(b: &'t [u8]) -> Self {
        Cursor { b, i: 0 }
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Result<u8> {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b' ' | b'\n' | b'\r' | b'\t' => self.i += 1,
                _ => return Ok(c),
            }
        }
        Err(Stop::NeedMore)
    }

    #[inline(always)]
    fn expect(&mut self, want: u8) -> Result<()> {
        if self.peek()? == want {
            self.i += 1;
            Ok(())
        } else {
            Err(Stop::Unsure)
        }
    }

    /// A string, the cursor at its opening quote: whether it holds an escape. Escapes are checked
    /// as serde's skipping reader does (the character a `\u` names is serde's to judge).
    #[inline(always)]
    fn string(&mut self) -> Result<bool> {
        self.i += 1;
        let mut escaped = false;
        loop {
            // Eight bytes at a time: most of a plan is string text.
            loop {
                match self.b.get(self.i..self.i + 8) {
                    Some(chunk) => {
                        let chunk = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
                        let stops = string_stops(chunk);
                        if stops != 0 {
                            self.i += (stops.trailing_zeros() / 8) as usize;
                            break;
                        }
                        self.i += 8;
                    }
                    None => {
                        match self.b[self.i..]
                            .iter()
                            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                        {
                            Some(k) => self.i += k,
                            None => return Err(Stop::NeedMore),
                        }
                        break;
                    }
                }
            }
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match self.b.get(self.i + 1) {
                        None => return Err(Stop::NeedMore),
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 2,
                        Some(b'u') => match self.b.get(self.i + 2..self.i + 6) {
                            Some(h) if h.iter().all(u8::is_ascii_hexdigit) => self.i += 6,
                            Some(_) => return Err(Stop::Unsure),
                            None if self.b[self.i + 2..].iter().all(u8::is_ascii_hexdigit) => {
                                return Err(Stop::NeedMore);
                            }
                            None => return Err(Stop::Unsure),
                        },
                        Some(_) => return Err(Stop::Unsure),
                    }
                }
                _ => return Err(Stop::Unsure),
            }
        }
    }

    /// A member's key of the change and the colon after it: the key's text; one with an escape
    /// is serde's to read.
    #[inline(always)]
    fn key(&mut self) -> Result<&'t [u8]> {
        if self.peek()? != b'"' {
            return Err(Stop::Unsure);
        }
        let start = self.i + 1;
        if self.string()? {
            return Err(Stop::Unsure);
        }
        let key = &self.b[start..self.i - 1];
        self.expect(b':')?;
        Ok(key)
    }

    /// A member's key (escapes allowed) and the colon after it, skipped.
    #[inline(always)]
    fn skip_key(&mut self) -> Result<()> {
        if self.peek()? != b'"' {
            return Err(Stop::Unsure);
        }
        self.string()?;
        self.expect(b':')
    }

    fn digits(&mut self) -> Result<usize> {
        let start = self.i;
        while let Some(c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                return Ok(self.i - start);
            }
            self.i += 1;
        }
        Err(Stop::NeedMore)
    }

    /// A number as serde's skipping reader takes it, the cursor at its first byte: whether it is
    /// a plain integer (no sign, fraction or exponent).
    fn number(&mut self) -> Result<bool> {
        let mut plain = true;
        if self.b[self.i] == b'-' {
            self.i += 1;
            plain = false;
        }
        match self.b.get(self.i) {
            None => return Err(Stop::NeedMore),
            Some(b'0') => {
                self.i += 1;
                match self.b.get(self.i) {
                    None => return Err(Stop::NeedMore),
                    Some(c) if c.is_ascii_digit() => return Err(Stop::Unsure),
                    Some(_) => {}
                }
            }
            Some(b'1'..=b'9') => {
                self.digits()?;
            }
            Some(_) => return Err(Stop::Unsure),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            plain = false;
            if self.digits()? == 0 {
                return Err(Stop::Unsure);
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            plain = false;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits()? == 0 {
                return Err(Stop::Unsure);
            }
        }
        // What follows is the enclosing value's to judge; the text must go on to it.
        if self.i == self.b.len() {
            return Err(Stop::NeedMore);
        }
        Ok(plain)
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        let rest = &self.b[self.i..];
        if rest.len() < word.len() {
            return if word.starts_with(rest) {
                Err(Stop::NeedMore)
            } else {
                Err(Stop::Unsure)
            };
        }
        if &rest[..word.len()] != word {
            return Err(Stop::Unsure);
        }
        self.i += word.len();
        Ok(())
    }

    /// Skips one value, `depth` levels deep already, checking it as serde's skipping reader
    /// would. Iterative: a stack of bits says which containers are open (1: object).
    fn skip(&mut self, depth: usize) -> Result<()> {
        let mut stack: u128 = 0;
        let mut level = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                open @ (b'{' | b'[') => {
                    self.i += 1;
                    level += 1;
                    if depth + level > MAX_DEPTH {
                        return Err(Stop::Unsure);
                    }
                    let object = open == b'{';
                    stack = (stack << 1) | u128::from(object);
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.i += 1;
                        level -= 1;
                        stack >>= 1;
                    } else {
                        if object {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                b'-' | b'0'..=b'9' => {
                    self.number()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return Err(Stop::Unsure),
            }
            // After a value: a comma (and the next key) or the end of enclosing containers.
            loop {
                if level == 0 {
                    return Ok(());
                }
                let object = stack & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        if object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return Err(Stop::Unsure),
                }
                self.i += 1;
                level -= 1;
                stack >>= 1;
            }
        }
    }

    /// Skips one value: where it starts and ends.
    #[inline(always)]
    fn span(&mut self, depth: usize) -> Result<Span> {
        self.peek()?;
        let start = self.i;
        self.skip(depth)?;
        Ok(Span(start, self.i))
    }
}

#[derive(Clone, Copy)]
struct Span(usize, usize);

/// Where the fields of a resource change (other than `change`) lie.
#[derive(Default)]
struct Outer {
    address: Option<Span>,
    previous_address: Option<Span>,
    module_address: Option<Span>,
    mode: Option<Span>,
    resource_type: Option<Span>,
    name: Option<Span>,
    index: Option<Span>,
    deposed: Option<Span>,
    action_reason: Option<Span>,
}

/// Where the fields of a change's `change` lie (but its values, read as they are met).
#[derive(Default)]
struct Inner {
    actions: Option<Span>,
    after_unknown: Option<Span>,
    before_sensitive: Option<Span>,
    after_sensitive: Option<Span>,
    replace_paths: Option<Span>,
    importing: Option<Span>,
}

/// Records where a field is; a field given twice is serde's to refuse.
#[inline(always)]
fn once(field: &mut Option<Span>, c: &mut Cursor, depth: usize) -> Result<()> {
    if field.is_some() {
        return Err(Stop::Unsure);
    }
    *field = Some(c.span(depth)?);
    Ok(())
}

/// The resource change at the start of `text` (the change-list element, maybe more after it),
/// as serde reads it into a [`RawResourceChange`], and how many bytes it took. `window` is how
/// much text is checked as UTF-8 first: a quarter more than the last change's size (kept up to
/// date here), twice as much again while the change goes on past it.
#[cfg(test)]
pub(super) fn read_change<'a, V: Values<'a>>(
    text: &'a [u8],
    window: &mut usize,
) -> Result<(RawResourceChange<V>, usize)> {
    read_change_with(text, window, Fields::All)
}

/// Which of a change's own fields a pass takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fields {
    /// All of them, as serde reads them (the first pass).
    All,
    /// What the rows need (the second pass: address, mode, previous address, index and the
    /// `change`): `type`, `name`, `module_address`, `deposed` and `action_reason` are checked as
    /// serde checks them but left empty (`""`, `None`), so that they are not copied only to be
    /// dropped.
    ForRows,
}

/// [`read_change`] taking only the `fields` a pass needs.
pub(super) fn read_change_with<'a, V: Values<'a>>(
    text: &'a [u8],
    window: &mut usize,
    fields: Fields,
) -> Result<(RawResourceChange<V>, usize)> {
    let mut checked = (*window).min(text.len());
    loop {
        let (valid, invalid_byte) = match std::str::from_utf8(&text[..checked]) {
            Ok(valid) => (valid, false),
            Err(e) => (
                std::str::from_utf8(&text[..e.valid_up_to()]).map_err(|_| Stop::Unsure)?,
                // `None`: only a character cut off by the end of the checked text.
                e.error_len().is_some(),
            ),
        };
        match read_in(valid, fields) {
            Ok((rc, n)) => {
                // A quarter more than this change: most changes of a plan are alike in size, and
                // a larger one costs a second start (issue 19: the check was a tenth of a pass).
                *window = n + n / 4 + 64;
                return Ok((rc, n));
            }
            Err(Stop::NeedMore) if !invalid_byte && checked < text.len() => {
                checked = (checked * 2).max(64).min(text.len());
            }
            Err(Stop::NeedMore) if invalid_byte => return Err(Stop::Unsure),
            Err(e) => return Err(e),
        }
    }
}

/// [`read_change`] in text known to be UTF-8.
fn read_in<'a, V: Values<'a>>(
    text: &'a str,
    fields: Fields,
) -> Result<(RawResourceChange<V>, usize)> {
    let mut c = Cursor::new(text.as_bytes());
    let mut outer = Outer::default();
    let mut inner = Inner::default();
    let mut before = None;
    let mut after = None;
    let mut change_seen = false;
    c.expect(b'{')?;
    if c.peek()? != b'}' {
        loop {
            match c.key()? {
                b"address" => once(&mut outer.address, &mut c, 1)?,
                b"previous_address" => once(&mut outer.previous_address, &mut c, 1)?,
                b"module_address" => once(&mut outer.module_address, &mut c, 1)?,
                b"mode" => once(&mut outer.mode, &mut c, 1)?,
                b"type" => once(&mut outer.resource_type, &mut c, 1)?,
                b"name" => once(&mut outer.name, &mut c, 1)?,
                b"index" => once(&mut outer.index, &mut c, 1)?,
                b"deposed" => once(&mut outer.deposed, &mut c, 1)?,
                b"action_reason" => once(&mut outer.action_reason, &mut c, 1)?,
                b"change" => {
                    if change_seen || c.peek()? != b'{' {
                        return Err(Stop::Unsure);
                    }
                    change_seen = true;
                    c.i += 1;
                    if c.peek()? != b'}' {
                        loop {
                            match c.key()? {
                                b"actions" => once(&mut inner.actions, &mut c, 2)?,
                                b"before" => value(&mut before, &mut c, text)?,
                                b"after" => value(&mut after, &mut c, text)?,
                                b"after_unknown" => once(&mut inner.after_unknown, &mut c, 2)?,
                                b"before_sensitive" => {
                                    once(&mut inner.before_sensitive, &mut c, 2)?
                                }
                                b"after_sensitive" => once(&mut inner.after_sensitive, &mut c, 2)?,
                                b"replace_paths" => once(&mut inner.replace_paths, &mut c, 2)?,
                                b"importing" => once(&mut inner.importing, &mut c, 2)?,
                                _ => c.skip(2)?,
                            }
                            if c.peek()? != b',' {
                                break;
                            }
                            c.i += 1;
                        }
                    }
                    c.expect(b'}')?;
                }
                _ => c.skip(1)?,
            }
            if c.peek()? != b',' {
                break;
            }
            c.i += 1;
        }
    }
    c.expect(b'}')?;
    let end = c.i;
    let at = |span: Option<Span>| span.map(|Span(a, b)| &text[a..b]);

    let change = RawChange {
        actions: match at(inner.actions) {
            Some(t) => actions(t)?,
            None => Vec::new(),
        },
        before: before.flatten(),
        after: after.flatten(),
        after_unknown: optional(at(inner.after_unknown), marker)?,
        before_sensitive: optional(at(inner.before_sensitive), marker)?,
        after_sensitive: optional(at(inner.after_sensitive), marker)?,
        replace_paths: optional(at(inner.replace_paths), serde_read)?,
        importing: optional(at(inner.importing), serde_read::<RawImporting>)?,
    };
    // A field the pass does not take: checked, not copied.
    let unused = |span: Option<Span>| -> Result<Option<String>> {
        optional(at(span), checked_string)?;
        Ok(None)
    };
    let (resource_type, name, module_address, deposed, action_reason) = match fields {
        Fields::All => (
            at(outer.resource_type).map_or(Ok(String::new()), string)?,
            at(outer.name).map_or(Ok(String::new()), string)?,
            optional(at(outer.module_address), string)?,
            optional(at(outer.deposed), string)?,
            optional(at(outer.action_reason), string)?,
        ),
        Fields::ForRows => {
            unused(outer.resource_type)?;
            unused(outer.name)?;
            (
                String::new(),
                String::new(),
                unused(outer.module_address)?,
                unused(outer.deposed)?,
                unused(outer.action_reason)?,
            )
        }
    };
    let rc = RawResourceChange {
        address: at(outer.address).map_or(Ok(String::new()), string)?,
        previous_address: optional(at(outer.previous_address), string)?,
        module_address,
        mode: optional(at(outer.mode), string)?,
        resource_type,
        name,
        index: optional(at(outer.index), serde_read)?,
        deposed,
        change,
        action_reason,
    };
    Ok((rc, end))
}

/// `before` or `after`, read where it lies: `null` is `None`, as serde reads an `Option`.
fn value<'a, V: Values<'a>>(
    field: &mut Option<Option<V>>,
    c: &mut Cursor<'a>,
    text: &'a str,
) -> Result<()> {
    if field.is_some() {
        return Err(Stop::Unsure);
    }
    *field = Some(if c.peek()? == b'n' {
        c.literal(b"null")?;
        None
    } else {
        Some(V::read(c, text, 2)?)
    });
    Ok(())
}

/// An `Option` field: absent or `null` is `None`, as serde reads it.
fn optional<'a, T>(
    text: Option<&'a str>,
    read: impl FnOnce(&'a str) -> Result<T>,
) -> Result<Option<T>> {
    match text {
        None | Some("null") => Ok(None),
        Some(t) => read(t).map(Some),
    }
}

/// A value read by serde_json from its own text.
fn serde_read<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| Stop::Unsure)
}

/// The contents of a string without escapes (`text` is one string value), else `None`.
fn plain(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.bytes().any(|b| b == b'\\')).then_some(inner)
}

fn string(text: &str) -> Result<String> {
    match plain(text) {
        Some(s) => Ok(s.to_owned()),
        None => serde_read(text),
    }
}

/// [`string`] without the copy: whether serde reads `text` as a string.
fn checked_string(text: &str) -> Result<()> {
    match plain(text) {
        Some(_) => Ok(()),
        None => serde_read::<String>(text).map(drop),
    }
}

/// A marker tree (`after_unknown`, `*_sensitive`): most are `{}` or `false`.
fn marker(text: &str) -> Result<Value> {
    match text {
        "{}" => Ok(Value::Object(serde_json::Map::new())),
        "false" => Ok(Value::Bool(false)),
        "true" => Ok(Value::Bool(true)),
        _ => serde_read(text),
    }
}

/// `actions`: a list of plain words, else serde's reading.
fn actions(text: &str) -> Result<Vec<String>> {
    let mut c = Cursor::new(text.as_bytes());
    let mut words = Vec::with_capacity(2);
    let fast = (|| -> Result<()> {
        c.expect(b'[')?;
        if c.peek()? == b']' {
            return Ok(());
        }
        loop {
            if c.peek()? != b'"' {
                return Err(Stop::Unsure);
            }
            let start = c.i + 1;
            if c.string()? {
                return Err(Stop::Unsure);
            }
            words.push(text[start..c.i - 1].to_owned());
            match c.peek()? {
                b',' => c.i += 1,
                b']' => return Ok(()),
                _ => return Err(Stop::Unsure),
            }
        }
    })();
    match fast {
        Ok(()) => Ok(words),
        Err(_) => serde_read(text),
    }
}

/// The [`JsonRef`] at the cursor, `depth` levels deep already, checked as [`Cursor::skip`]
/// checks it and read as serde reads it: strings borrowed unless they hold escapes (those, and
/// numbers other than plain integers, read by serde from their own text).
fn build<'a>(c: &mut Cursor<'a>, text: &'a str, depth: usize) -> Result<JsonRef<'a>> {
    match c.peek()? {
        b'"' => Ok(JsonRef::String(build_string(c, text)?)),
        b'{' => {
            if depth + 1 > MAX_DEPTH {
                return Err(Stop::Unsure);
            }
            c.i += 1;
            if c.peek()? == b'}' {
                c.i += 1;
                return Ok(JsonRef::Object(Vec::new()));
            }
            let mut members = Vec::with_capacity(4);
            loop {
                let key = build_string(c, text)?;
                c.expect(b':')?;
                members.push((key, build(c, text, depth + 1)?));
                match c.peek()? {
                    b',' => c.i += 1,
                    b'}' => {
                        c.i += 1;
                        return Ok(JsonRef::Object(without_repeats(members)));
                    }
                    _ => return Err(Stop::Unsure),
                }
            }
        }
        b'[' => {
            if depth + 1 > MAX_DEPTH {
                return Err(Stop::Unsure);
            }
            c.i += 1;
            if c.peek()? == b']' {
                c.i += 1;
                return Ok(JsonRef::Array(Vec::new()));
            }
            let mut items = Vec::with_capacity(4);
            loop {
                items.push(build(c, text, depth + 1)?);
                match c.peek()? {
                    b',' => c.i += 1,
                    b']' => {
                        c.i += 1;
                        return Ok(JsonRef::Array(items));
                    }
                    _ => return Err(Stop::Unsure),
                }
            }
        }
        b't' => {
            c.literal(b"true")?;
            Ok(JsonRef::Bool(true))
        }
        b'f' => {
            c.literal(b"false")?;
            Ok(JsonRef::Bool(false))
        }
        b'n' => {
            c.literal(b"null")?;
            Ok(JsonRef::Null)
        }
        b'-' | b'0'..=b'9' => {
            let start = c.i;
            let plain = c.number()?;
            let number = &text[start..c.i];
            // Up to 19 digits always fit a u64, read as serde reads it (`visit_u64`).
            if plain && number.len() <= 19 {
                let n: u64 = number.parse().map_err(|_| Stop::Unsure)?;
                return Ok(JsonRef::Number(Number::from(n)));
            }
            serde_read(number)
        }
        _ => Err(Stop::Unsure),
    }
}

/// A string at the cursor, borrowed when it has no escape.
fn build_string<'a>(c: &mut Cursor<'a>, text: &'a str) -> Result<Cow<'a, str>> {
    if c.peek()? != b'"' {
        return Err(Stop::Unsure);
    }
    let start = c.i;
    if c.string()? {
        serde_read::<String>(&text[start..c.i]).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(&text[start + 1..c.i - 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde makes of the element at the start of `text`: the change and the bytes it took,
    /// or `None` when it refuses it (or it is cut off).
    fn by_serde<'a, V: serde::Deserialize<'a>>(
        text: &'a str,
    ) -> Option<(RawResourceChange<V>, usize)> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter();
        match values.next() {
            Some(Ok(rc)) => Some((rc, values.byte_offset())),
            _ => None,
        }
    }

    /// The parts of a change both passes read, comparable.
    fn seen<V>(rc: &RawResourceChange<V>, values: impl Fn(&Option<V>) -> String) -> String {
        let c = &rc.change;
        format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} | {:?} {} {} {:?} {:?} {:?} {:?} {:?}",
            rc.address,
            rc.previous_address,
            rc.module_address,
            rc.mode,
            rc.resource_type,
            rc.name,
            rc.index,
            rc.deposed,
            rc.action_reason,
            c.actions,
            values(&c.before),
            values(&c.after),
            c.after_unknown,
            c.before_sensitive,
            c.after_sensitive,
            c.replace_paths,
            c.importing.as_ref().map(|i| &i.id),
        )
    }

    fn json_ref(v: &Option<JsonRef>) -> String {
        match v {
            None => "-".to_string(),
            // The debug form tells borrowed and owned strings apart only by content.
            Some(v) => format!("{} {v:?}", v.to_json()),
        }
    }

    /// The quick reader agrees with serde on `text` in both passes: the same change and length,
    /// or it leaves the decision to serde (then serde's answer stands, whatever it is).
    fn agree(text: &str) -> &'static str {
        let ignored = |v: &Option<IgnoredAny>| format!("{}", v.is_some());
        // The first pass with a UTF-8 window far too small: it grows as needed.
        let first = match read_change::<IgnoredAny>(text.as_bytes(), &mut 1) {
            Ok((rc, n)) => {
                let (expected, m) = by_serde::<IgnoredAny>(text)
                    .unwrap_or_else(|| panic!("quick read what serde refuses: {text}"));
                assert_eq!(
                    (seen(&rc, ignored), n),
                    (seen(&expected, ignored), m),
                    "{text}"
                );
                "quick"
            }
            Err(Stop::NeedMore) => {
                assert!(by_serde::<IgnoredAny>(text).is_none(), "{text}");
                "need more"
            }
            Err(Stop::Unsure) => "unsure",
        };
        let second = match read_change::<JsonRef>(text.as_bytes(), &mut 4096) {
            Ok((rc, n)) => {
                let (expected, m) = by_serde::<JsonRef>(text)
                    .unwrap_or_else(|| panic!("quick read what serde refuses: {text}"));
                assert_eq!(
                    (seen(&rc, json_ref), n),
                    (seen(&expected, json_ref), m),
                    "{text}"
                );
                "quick"
            }
            Err(Stop::NeedMore) => {
                assert!(by_serde::<JsonRef>(text).is_none(), "{text}");
                "need more"
            }
            Err(Stop::Unsure) => "unsure",
        };
        // The second pass reads more than the first (values), never less.
        if first != "quick" {
            assert_ne!(second, "quick", "{text}");
        }
        // Taking only the rows' fields changes nothing else: the same answer, the same change
        // but for the fields left empty.
        let full = read_change::<JsonRef>(text.as_bytes(), &mut 4096);
        let for_rows = read_change_with::<JsonRef>(text.as_bytes(), &mut 4096, Fields::ForRows);
        match (full, for_rows) {
            (Ok((mut full, n)), Ok((rows, m))) => {
                full.resource_type.clear();
                full.name.clear();
                full.module_address = None;
                full.deposed = None;
                full.action_reason = None;
                assert_eq!(
                    (seen(&rows, json_ref), m),
                    (seen(&full, json_ref), n),
                    "{text}"
                );
            }
            (full, rows) => assert_eq!(full.err(), rows.err(), "{text}"),
        }
        second
    }

    #[test]
    fn the_rows_fields_are_checked_as_serde_checks_them_though_not_taken() {
        for bad in [
            r#"{"address":"a.b","type":5,"change":{}}"#,
            r#"{"address":"a.b","name":["n"],"change":{}}"#,
            r#"{"address":"a.b","module_address":{},"change":{}}"#,
            r#"{"address":"a.b","deposed":true,"change":{}}"#,
            r#"{"address":"a.b","action_reason":"\ud800x","change":{}}"#,
            r#"{"address":"a.b","type":"t","type":"t","change":{}}"#,
        ] {
            assert!(by_serde::<JsonRef>(bad).is_none(), "{bad}");
            assert!(
                read_change_with::<JsonRef>(bad.as_bytes(), &mut 4096, Fields::ForRows).is_err(),
                "{bad}"
            );
            assert_eq!(agree(bad), "unsure", "{bad}");
        }
        let rare = r#"{"address":"a.b","type":"t\u00e9","name":"n\n","module_address":null,"deposed":"d","action_reason":"r","mode":"managed","change":{"actions":["create"],"after":{"a":1}}}"#;
        assert_eq!(agree(rare), "quick");
        let (rc, _) =
            read_change_with::<JsonRef>(rare.as_bytes(), &mut 4096, Fields::ForRows).unwrap();
        assert_eq!(
            (
                rc.address.as_str(),
                rc.resource_type.as_str(),
                rc.name.as_str(),
                rc.mode.as_deref()
            ),
            ("a.b", "", "", Some("managed"))
        );
        assert_eq!(
            (rc.deposed, rc.action_reason, rc.module_address),
            (None, None, None)
        );
    }

    const USUAL: &str = r#"{"address": "aws_launch_template.r0", "mode": "managed", "type": "aws_launch_template", "name": "r0", "provider_name": "registry.terraform.io/hashicorp/aws", "change": {"actions": ["update"], "before": {"instance_type": "t3.medium", "image_id": "ami-1", "n": [1, 20, -3, 0.5, 1e400, -0, 18446744073709551615, 99999999999999999999], "tags": {"Name": "r0", "K": "b\u00e9\n"}}, "after": {"instance_type": "t3.large", "image_id": null, "tags": {"Name": "r0", "K": "x", "K": "y"}}, "after_unknown": {"id": true}, "before_sensitive": {}, "after_sensitive": false}}"#;

    #[test]
    fn a_usual_change_is_read_quickly_and_as_serde_reads_it() {
        // 1e400 is out of range for serde's number reader: the values are serde's to refuse.
        assert_eq!(agree(USUAL), "unsure");
        let usual = USUAL.replace("1e400, ", "");
        assert_eq!(agree(&usual), "quick");
        let with_more = format!("{usual} ,{{\"address\":\"next\"}}");
        assert_eq!(agree(&with_more), "quick");
        for rare in [
            r#"{"address":"a.b[\"k\"]","previous_address":"a.c","module_address":"module.m","index":"k","deposed":"00ab","action_reason":"replace_because_tainted","change":{"actions":["delete","create"],"replace_paths":[["tags","Name"],[0]],"importing":{"id":"i-1"},"before":"x","after":[]}}"#,
            r#"{"change":{}}"#,
            r#"{}"#,
            r#" { "address" : "a" , "change" : { "actions" : [ "create" ] , "after" : { "a" : [ { } , [ ] , true , false , null , 0 , -1.5e-3 ] } } } "#,
            r#"{"address":"a","index":0,"mode":null,"change":{"actions":[],"before":null,"after":"\ud83d\ude00 \u00e9 é ü"}}"#,
        ] {
            assert_eq!(agree(rare), "quick", "{rare}");
        }
    }

    /// The first pass's view of kops's managed files (`filediff::FileAttributes`) is what serde
    /// reads, member for member: strings kept, any other value of theirs none, the last of a
    /// repeated member winning, other members and non-objects skipped.
    #[test]
    fn the_file_attributes_are_read_as_serde_reads_them() {
        use super::super::filediff::FileAttributes;
        for values in [
            r#"{"content":"a\nb","user_data":"dXNlcg=="}"#,
            r#"{"content":"plain","other":{"content":"nested"},"user_data":null}"#,
            r#"{"content":1,"user_data":["x"]}"#,
            r#"{"content":"first","content":"last","user_data":"u","user_data":false}"#,
            r#"{"content":"\u00e9 é \"q\""}"#,
            r#"{}"#,
            r#""a string""#,
            r#"[{"content":"in a list"}]"#,
            r#"null"#,
        ] {
            let text = format!(
                r#"{{"address":"a","change":{{"actions":["update"],"before":{values},"after":{values}}}}}"#
            );
            let (expected, m) = by_serde::<FileAttributes>(&text).expect(&text);
            let (quick, n) = read_change::<FileAttributes>(text.as_bytes(), &mut 4096)
                .unwrap_or_else(|_| panic!("quick read {text}"));
            let shown = |rc: &RawResourceChange<FileAttributes>| {
                format!("{:?} {:?}", rc.change.before, rc.change.after)
            };
            assert_eq!((shown(&quick), n), (shown(&expected), m), "{text}");
        }
    }

    #[test]
    fn what_serde_refuses_is_left_to_serde() {
        for bad in [
            // Repeated fields, keys with escapes (serde reads `addr\u0065ss` as `address`).
            r#"{"address":"a","address":"b","change":{}}"#,
            r#"{"addr\u0065ss":"a","change":{}}"#,
            r#"{"change":{"actions":[],"actions":[]}}"#,
            r#"{"change":{},"change":{}}"#,
            // Kinds serde does not take for the field.
            r#"{"address":null}"#,
            r#"{"address":7}"#,
            r#"{"change":null}"#,
            r#"{"change":[]}"#,
            r#"{"change":{"actions":"create"}}"#,
            r#"{"change":{"actions":[1]}}"#,
            r#"{"change":{"importing":"x"}}"#,
            r#"{"change":{"replace_paths":[1]}}"#,
            // Malformed JSON anywhere, also in values the first pass skips.
            r#"{"x":01}"#,
            r#"{"x":1.}"#,
            r#"{"x":1e}"#,
            r#"{"x":-}"#,
            r#"{"x":+1}"#,
            r#"{"x":[1,]}"#,
            r#"{"x":{"a":1,}}"#,
            r#"{"x":{"a" 1}}"#,
            r#"{"x":{1:1}}"#,
            r#"{"x":[1 2]}"#,
            r#"{"x":"a\qb"}"#,
            r#"{"x":"a\u12g4"}"#,
            "{\"x\":\"a\tb\"}",
            "{\"x\":\"a\u{0}b\"}",
            r#"{"x":tru}"#,
            r#"{"x":nul,"y":1}"#,
            r#"{"x":[}"#,
            r#"{"x":]}"#,
            r#"{"x" :1 ,}"#,
            r#"["address"]"#,
            r#""change""#,
            // A lone surrogate: skipped as serde skips it, refused where read as a string.
            r#"{"address":"\ud800","change":{}}"#,
            r#"{"change":{"after":{"k":"\udc00"}}}"#,
            r#"{"change":{"after":{"\ud800":1}}}"#,
            // Out of range for serde's number reader.
            r#"{"change":{"after":[1e999]}}"#,
            r#"{"change":{"after_unknown":[-1e999]}}"#,
        ] {
            let answer = agree(bad);
            assert!(
                answer != "quick" || by_serde::<JsonRef>(bad).is_some(),
                "{bad}"
            );
        }
        // Not UTF-8: refused by serde (which reads text), left to it here.
        assert_eq!(
            read_change::<IgnoredAny>(b"{\"x\":\"\xff\"}", &mut 4096).err(),
            Some(Stop::Unsure)
        );
        assert_eq!(
            read_change::<JsonRef>(b"{\"x\":\"\xc3\"}", &mut 4096).err(),
            Some(Stop::Unsure)
        );
    }

    #[test]
    fn a_change_cut_off_anywhere_asks_for_more() {
        let usual = USUAL.replace("1e400, ", "");
        for end in 0..usual.len() {
            let Ok(cut) = std::str::from_utf8(&usual.as_bytes()[..end]) else {
                continue;
            };
            assert_eq!(
                read_change::<JsonRef>(cut.as_bytes(), &mut 4096).err(),
                Some(Stop::NeedMore),
                "{cut}"
            );
            assert_eq!(agree(cut), "need more", "{cut}");
        }
    }

    #[test]
    fn the_utf8_window_grows_over_characters_cut_by_it() {
        // Three-byte characters: every window from 1 byte on ends inside one sooner or later.
        let long = format!(
            r#"{{"address":"a","change":{{"actions":["create"],"after":{{"k":"{}"}}}}}}"#,
            "€".repeat(700)
        );
        let text = format!("{long},{{\"address\":\"b\"}}");
        for start in [1, 2, 3, 64, 1000, 2101, 100_000] {
            let mut window = start;
            let (rc, n) = read_change::<JsonRef>(text.as_bytes(), &mut window).unwrap();
            assert_eq!(n, long.len(), "{start}");
            assert_eq!(window, n + n / 4 + 64, "{start}");
            let Some(JsonRef::Object(members)) = rc.change.after else {
                panic!("an object")
            };
            assert!(
                matches!(&members[0].1, JsonRef::String(Cow::Borrowed(s)) if s.chars().count() == 700)
            );
        }
        // A byte that is not UTF-8 after the change is not its concern; inside it, serde's.
        let mut after = long.clone().into_bytes();
        after.extend_from_slice(b",\xff");
        assert_eq!(
            read_change::<IgnoredAny>(&after, &mut 1).unwrap().1,
            long.len()
        );
        // (A control character in a string is serde's to refuse.)
        let inside = long.replacen("€", "\u{1}", 1);
        assert_eq!(
            read_change::<IgnoredAny>(inside.as_bytes(), &mut 1).err(),
            Some(Stop::Unsure)
        );
        let mut bad = long.into_bytes();
        bad[40] = 0xff;
        for window in [1, 41, 4096] {
            assert_eq!(
                read_change::<JsonRef>(&bad, &mut { window }).err(),
                Some(Stop::Unsure)
            );
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde() {
        for depth in [90, 99, 100, 126, 127, 200, 10_000] {
            let text = format!(
                r#"{{"change":{{"after":{}1{}}}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let answer = agree(&text);
            assert_eq!(answer == "quick", depth + 2 <= MAX_DEPTH, "{depth}");
            // Also in a member the reader skips, as objects.
            let text = format!(
                r#"{{"skipped":{}1{},"change":{{}}}}"#,
                "{\"k\":".repeat(depth),
                "}".repeat(depth)
            );
            agree(&text);
        }
    }

    #[test]
    fn strings_with_escapes_are_read_by_serde_and_plain_ones_borrowed() {
        let text = r#"{"change":{"after":{"a":"plain","b":"tab\tand \"quote\" \\ \/ \b\f\n\r \u0041 \ud83d\ude00","c\"":1}}}"#;
        assert_eq!(agree(text), "quick");
        let (rc, _) = read_change::<JsonRef>(text.as_bytes(), &mut 4096).unwrap();
        let Some(JsonRef::Object(members)) = rc.change.after else {
            panic!("an object")
        };
        assert!(matches!(
            &members[0].1,
            JsonRef::String(Cow::Borrowed("plain"))
        ));
        assert!(
            matches!(&members[1].1, JsonRef::String(Cow::Owned(s)) if s == "tab\tand \"quote\" \\ / \u{8}\u{c}\n\r A 😀")
        );
        assert_eq!(members[2].0, "c\"");
    }

    #[test]
    fn every_cut_and_byte_flip_of_a_change_agrees_with_serde() {
        // Each byte of a change replaced by each of a set of troublesome bytes: whatever the
        // reader answers, it is serde's answer (checked by `agree`).
        let usual = r#"{"address":"a.b","mode":"managed","type":"a","name":"b","change":{"actions":["update"],"before":{"x":[1,-2,"s\n"],"y":{"z":null}},"after":{"x":true,"y":false},"after_unknown":{},"before_sensitive":false,"after_sensitive":{}}}"#;
        for i in 0..usual.len() {
            for b in [
                b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b' ', b'0', b'-', b'e', b'.',
                b'n', b'x', 0u8, 0x1f,
            ] {
                let mut bytes = usual.as_bytes().to_vec();
                bytes[i] = b;
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    agree(text);
                }
            }
        }
    }
}

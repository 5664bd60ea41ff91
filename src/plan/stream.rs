//! The plan JSON as Terraform writes it (internal/command/jsonplan), streamed: the top-level
//! object is visited key by key and `resource_changes`/`resource_drift` element by element, each
//! handed to the pass and dropped. Unlisted fields are skipped without building values.

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, Read};
use std::marker::PhantomData;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;

use super::quick::{self, Stop, Values};
use super::raw::{RawChange, RawResourceChange};
use super::secrets::is_unmarked;

/// The plan JSON major version kopsform reads (`format_version` "1.x").
pub(crate) const SUPPORTED_FORMAT_MAJOR: &str = "1";

/// Where the plan JSON is read from, once per pass.
pub(super) enum Source {
    /// A file that is plan JSON (a UTF-8 byte-order mark is skipped).
    File(std::path::PathBuf),
    /// `terraform show -json` output, or text given to [`summarize`](super::read::summarize).
    Bytes(Vec<u8>),
}

fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    // serde quotes a mistyped string (`invalid type: string "...", expected ...`): it could be a
    // secret in the wrong place, so it is left out.
    match (text.find("string \""), text.rfind("\", expected")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}a string{}", &text[..start], &text[end + 1..])
        }
        _ => text.to_string(),
    }
}

pub(super) fn check_format_version(version: Option<&Value>) -> Result<String, String> {
    let version = match version {
        None => {
            return Err(
                "not Terraform plan JSON: it has no `format_version`; pass a saved plan or the output of `terraform show -json PLAN`"
                    .to_string(),
            );
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "not Terraform plan JSON: `format_version` is {other}, not a string like \"1.2\""
            ));
        }
    };
    let major = version.split('.').next().unwrap_or_default();
    if major != SUPPORTED_FORMAT_MAJOR {
        return Err(format!(
            "plan JSON format_version {version:?} is not supported: kopsform reads format 1.x \
             (Terraform 0.12 to 1.x, OpenTofu); upgrade kopsform, or produce the JSON with a \
             Terraform that writes format 1.x"
        ));
    }
    Ok(version)
}

/// The top-level fields other than the change lists.
#[derive(Default)]
pub(super) struct Top {
    pub(super) format_version: Option<String>,
    pub(super) terraform_version: Option<String>,
    pub(super) variables: IndexMap<String, RawVariable>,
    pub(super) output_changes: IndexMap<String, RawChange>,
    pub(super) deferred_changes: usize,
    pub(super) action_invocations: usize,
    pub(super) declared: IndexMap<String, bool>,
    pub(super) applyable: Option<bool>,
    pub(super) errored: Option<bool>,
}

/// One element of a change list.
/// `V` is what a change's `before` and `after` are read as: `IgnoredAny` when a pass does not
/// need them (the first pass), `Value` when it does. Drift entries always have their values.
pub(super) enum Item<V> {
    Change(RawResourceChange<V>),
    Drift(RawResourceChange),
}

type OnItem<'a, V> = dyn FnMut(Item<V>) -> Result<(), String> + 'a;

/// Which change list an element is from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum List {
    Changes,
    Drift,
}

/// What a pass does with one change-list element: it gets the buffered text from the element's
/// first byte on (the element and maybe more), parses the element with [`Elements`] and
/// answers how many bytes it took.
pub(super) type OnElement<'a> = dyn FnMut(List, &[u8]) -> Result<usize, Fast> + 'a;

/// One pass over the plan JSON of `source`: fast, one value at a time ([`fast_scan`]); when that
/// finds the document malformed, serde_json's own reader reads it again to say what and where.
pub(super) fn scan<V: DeserializeOwned + for<'a> Values<'a>>(
    source: &Source,
    on_item: &mut OnItem<V>,
) -> Result<Top, String> {
    let mut elements = Elements::default();
    scan_elements(source, &mut |list, text| {
        let (item, n) = match list {
            List::Drift => {
                let (rc, n) = elements.parse(text)?;
                (Item::Drift(rc), n)
            }
            List::Changes => {
                let (rc, n) = read_change(text, &mut elements)?;
                (Item::Change(rc), n)
            }
        };
        on_item(item).map_err(Fast::Stopped)?;
        Ok(n)
    })
}

/// The resource change at the start of `text` and how many bytes it took: read by
/// [`quick::read_change`], or by serde ([`Elements`]) when that leaves it to serde.
pub(super) fn read_change<'a, V: Deserialize<'a> + Values<'a>>(
    text: &'a [u8],
    elements: &mut Elements,
) -> Result<(RawResourceChange<V>, usize), Fast> {
    read_change_with(text, elements, quick::Fields::All)
}

/// [`read_change`] taking only the `fields` a pass needs from the quick reader (serde, when it
/// reads the change instead, takes all of them).
pub(super) fn read_change_with<'a, V: Deserialize<'a> + Values<'a>>(
    text: &'a [u8],
    elements: &mut Elements,
    fields: quick::Fields,
) -> Result<(RawResourceChange<V>, usize), Fast> {
    match quick::read_change_with(text, &mut elements.window, fields) {
        Ok(read) => Ok(read),
        Err(Stop::NeedMore) => Err(Fast::NeedMore),
        Err(Stop::Unsure) => elements.parse(text),
    }
}

/// A change-list element parsed as `T`, which may borrow from `raw`.
pub(super) fn parse_element<'a, T: Deserialize<'a>>(raw: &'a [u8]) -> Result<T, Fast> {
    // One UTF-8 check of the whole element costs a fraction of serde_json's check of each string
    // (`from_slice`); text that is not UTF-8 is malformed either way.
    let text = std::str::from_utf8(raw).map_err(|_| Fast::Malformed)?;
    serde_json::from_str(text).map_err(|_| Fast::Malformed)
}

/// Parses change-list elements at the start of the scanner's buffered text ([`OnElement`]),
/// checking as UTF-8 only about as much text as the element takes: serde_json then reads the
/// element as a `str` (no check per string) and its strings can be borrowed. How much is
/// checked at first is twice the last element's size; when the element goes on past it, twice
/// as much again (issue 19: checking each string on its own cost a tenth of the review).
pub(super) struct Elements {
    window: usize,
}

impl Default for Elements {
    fn default() -> Self {
        Elements { window: 4096 }
    }
}

impl Elements {
    /// The value at the start of `text` parsed as `T` (which may borrow from `text`), and how
    /// many bytes it took; [`Fast::NeedMore`] when `text` ends inside it.
    pub(super) fn parse<'a, T: Deserialize<'a>>(
        &mut self,
        text: &'a [u8],
    ) -> Result<(T, usize), Fast> {
        let mut checked = self.window.min(text.len());
        loop {
            let (valid, invalid_byte) = match std::str::from_utf8(&text[..checked]) {
                Ok(valid) => (valid, false),
                Err(e) => (
                    std::str::from_utf8(&text[..e.valid_up_to()]).map_err(|_| Fast::Malformed)?,
                    // `None`: only a character cut off by the end of the checked text.
                    e.error_len().is_some(),
                ),
            };
            let mut values = serde_json::Deserializer::from_str(valid).into_iter::<T>();
            match values.next() {
                Some(Ok(value)) => {
                    let n = values.byte_offset();
                    self.window = (2 * n).max(1024);
                    return Ok((value, n));
                }
                Some(Err(e)) if !e.is_eof() => return Err(Fast::Malformed),
                // The element goes on past the checked text.
                _ => {}
            }
            if invalid_byte {
                return Err(Fast::Malformed);
            }
            if checked == text.len() {
                return Err(Fast::NeedMore);
            }
            checked = (checked * 2).min(text.len());
        }
    }
}

/// [`scan`] that hands each change-list element to `on_element` as text, for a pass that parses
/// it into values borrowing from that text (the rows' pass).
pub(super) fn scan_elements(source: &Source, on_element: &mut OnElement) -> Result<Top, String> {
    let fast = match source {
        Source::Bytes(bytes) => fast_scan(skip_bom(bytes), on_element),
        Source::File(path) => fast_scan(open_past_bom(path, 4096)?, on_element),
    };
    match fast {
        Ok(top) => Ok(top),
        Err(Fast::Stopped(message)) => Err(message),
        Err(Fast::Io(e)) => Err(format!("cannot read the plan: {e}")),
        Err(Fast::Malformed | Fast::NeedMore) => match strict_error(source)? {
            Some(message) => Err(message),
            // Well-formed after all: only a value the fast reader copied failed to parse in a way
            // the strict one (which parses the whole document at once) does not see. Say so
            // rather than guess.
            None => Err(
                "not Terraform plan JSON: a resource change or top-level field does not have the \
                 shape Terraform writes, or nests a value more than 128 levels deep (kopsform reads \
                 no deeper); pass a saved plan or the output of `terraform show -json PLAN`"
                    .to_string(),
            ),
        },
    }
}

/// The plan file, buffered, past a UTF-8 byte-order mark.
fn open_past_bom(
    path: &Path,
    capacity: usize,
) -> Result<std::io::BufReader<std::fs::File>, String> {
    let fail = |e: std::io::Error| format!("cannot read the plan: {e}");
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut reader = std::io::BufReader::with_capacity(capacity, file);
    if reader
        .fill_buf()
        .map_err(fail)?
        .starts_with(&[0xEF, 0xBB, 0xBF])
    {
        reader.consume(3);
    }
    Ok(reader)
}

pub(super) fn skip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes)
}

/// How a fast pass ended early.
pub(super) enum Fast {
    /// The pass's own error (or its signal that it has enough), passed on.
    Stopped(String),
    Io(std::io::Error),
    /// Not well-formed, or a value not of the expected shape: read again to say why.
    Malformed,
    /// The buffered text ends inside the value being parsed (the scanner reads more).
    NeedMore,
}

impl From<crate::plan::jsonscan::Malformed> for Fast {
    fn from(e: crate::plan::jsonscan::Malformed) -> Self {
        match e {
            crate::plan::jsonscan::Malformed::Syntax => Fast::Malformed,
            crate::plan::jsonscan::Malformed::Io(e) => Fast::Io(e),
        }
    }
}

/// One pass that copies one top-level field or change-list element at a time into a buffer and
/// parses that slice (serde_json parses slices several times faster than readers); skipped fields
/// (`prior_state`, `planned_values`, ...) are never held. A malformed document is read again
/// by [`strict_error`] for the message.
fn fast_scan(reader: impl Read, on_element: &mut OnElement) -> Result<Top, Fast> {
    fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Fast> {
        parse_element(raw)
    }
    let mut s = crate::plan::jsonscan::Scanner::new(reader);
    let mut top = Top::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut raw = Vec::new();
    let mut more = s.open_object()?;
    while more {
        let key = s.key(&mut raw)?;
        if !seen.insert(key.clone()) {
            return Err(Fast::Malformed);
        }
        raw.clear();
        match key.as_str() {
            "resource_changes" | "resource_drift" => {
                if s.peek()? == Some(b'n') {
                    s.value(Some(&mut raw))?;
                    parse::<()>(&raw)?;
                } else if s.open_list()? {
                    let list = if key == "resource_drift" {
                        List::Drift
                    } else {
                        List::Changes
                    };
                    loop {
                        // Parsed where it lies in the scanner's buffer: no copy, one UTF-8 check
                        // per string (issue 19).
                        s.parse_in_place(
                            |e: &Fast| matches!(e, Fast::NeedMore),
                            |text| on_element(list, text),
                        )?;
                        if !s.next_or_end(b']')? {
                            break;
                        }
                    }
                }
            }
            "configuration" => {
                if s.peek()? == Some(b'{') {
                    top.declared = declared_variables(&mut s, &mut raw)?;
                } else {
                    // Only `null` is not an object and still a configuration.
                    s.value(Some(&mut raw))?;
                    parse::<()>(&raw)?;
                }
            }
            "format_version" | "terraform_version" | "variables" | "output_changes"
            | "deferred_changes" | "action_invocations" | "applyable" | "errored" => {
                s.value(Some(&mut raw))?;
                match key.as_str() {
                    "format_version" => {
                        let v: Value = parse(&raw)?;
                        top.format_version =
                            Some(check_format_version(Some(&v)).map_err(Fast::Stopped)?);
                    }
                    "terraform_version" => top.terraform_version = parse(&raw)?,
                    "variables" => top.variables = parse::<Option<_>>(&raw)?.unwrap_or_default(),
                    "output_changes" => {
                        top.output_changes = parse::<Option<_>>(&raw)?.unwrap_or_default()
                    }
                    "deferred_changes" => {
                        top.deferred_changes =
                            parse::<Option<Vec<IgnoredAny>>>(&raw)?.map_or(0, |v| v.len())
                    }
                    "action_invocations" => {
                        top.action_invocations =
                            parse::<Option<Vec<IgnoredAny>>>(&raw)?.map_or(0, |v| v.len())
                    }
                    "applyable" => top.applyable = parse(&raw)?,
                    _ => top.errored = parse(&raw)?,
                }
            }
            _ => s.value(None)?,
        }
        more = s.next_or_end(b'}')?;
    }
    if !s.at_end()? {
        return Err(Fast::Malformed);
    }
    Ok(top)
}

/// `configuration.root_module.variables[*].sensitive`, without holding the rest of the
/// configuration (a resource block per resource: large).
fn declared_variables<R: Read>(
    s: &mut crate::plan::jsonscan::Scanner<R>,
    raw: &mut Vec<u8>,
) -> Result<IndexMap<String, bool>, Fast> {
    let mut declared = IndexMap::new();
    let mut more = s.open_object()?;
    while more {
        if s.key(raw)? == "root_module" && s.peek()? == Some(b'{') {
            let mut more_module = s.open_object()?;
            while more_module {
                if s.key(raw)? == "variables" {
                    raw.clear();
                    s.value(Some(raw))?;
                    let variables: Option<IndexMap<String, RawVariableDeclaration>> =
                        serde_json::from_slice(raw).map_err(|_| Fast::Malformed)?;
                    declared = variables
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(name, d)| (name, d.sensitive.unwrap_or(false)))
                        .collect();
                } else {
                    s.value(None)?;
                }
                more_module = s.next_or_end(b'}')?;
            }
        } else {
            s.value(None)?;
        }
        more = s.next_or_end(b'}')?;
    }
    Ok(declared)
}

/// Why the plan JSON is malformed, in serde's words with line and column: the whole document read
/// again with serde_json's own reader (slower), in the shapes [`fast_scan`] expects. `None` when
/// it finds nothing wrong.
fn strict_error(source: &Source) -> Result<Option<String>, String> {
    // The plan's fields as the fast reader reads them (read only to check their shape); the
    // change lists are checked and dropped element by element.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Configuration {
        root_module: Option<Module>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Module {
        variables: Option<IndexMap<String, RawVariableDeclaration>>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Strict {
        format_version: Option<Value>,
        terraform_version: Option<String>,
        variables: Option<IndexMap<String, RawVariable>>,
        resource_drift: Option<Checked<RawResourceChange>>,
        resource_changes: Option<Checked<RawResourceChange<IgnoredAny>>>,
        output_changes: Option<IndexMap<String, RawChange>>,
        deferred_changes: Option<Checked<IgnoredAny>>,
        action_invocations: Option<Checked<IgnoredAny>>,
        configuration: Option<Configuration>,
        applyable: Option<bool>,
        errored: Option<bool>,
    }
    let result = match source {
        Source::Bytes(bytes) => serde_json::from_slice::<Strict>(skip_bom(bytes)).map(drop),
        Source::File(path) => {
            serde_json::from_reader::<_, Strict>(open_past_bom(path, 64 * 1024)?).map(drop)
        }
    };
    Ok(result.err().map(|e| {
        if e.is_io() {
            return format!("cannot read the plan: {}", describe_json_error(&e));
        }
        format!(
            "not Terraform plan JSON: {} at line {} column {}; pass a saved plan or the output of `terraform show -json PLAN`",
            describe_json_error(&e),
            e.line(),
            e.column()
        )
    }))
}

/// A list whose elements are checked one by one and dropped.
struct Checked<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Each<T> {
            type Value = Checked<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked<T>, A::Error> {
                while seq.next_element::<T>()?.is_some() {}
                Ok(Checked(PhantomData))
            }
        }
        d.deserialize_seq(Each(PhantomData))
    }
}

#[derive(Deserialize)]
pub(super) struct RawVariable {
    pub(super) value: Option<Value>,
}

#[derive(Deserialize)]
struct RawVariableDeclaration {
    sensitive: Option<bool>,
}

/// A marker tree (`*_sensitive`, `after_unknown`) with a `true` in it. Most are `{}` or `false`.
pub(super) fn marks_something(marker: &Option<Value>) -> bool {
    marker.as_ref().is_some_and(|m| !is_unmarked(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(elements: &mut Elements, text: &[u8]) -> Result<(Value, usize), &'static str> {
        elements.parse::<Value>(text).map_err(|e| match e {
            Fast::NeedMore => "need more",
            Fast::Malformed => "malformed",
            _ => "other",
        })
    }

    #[test]
    fn elements_are_checked_as_utf8_about_as_far_as_they_go() {
        // Three-byte characters: the first checked window ends inside one, then the next.
        let long = format!(r#"{{"a":"{}"}}"#, "€".repeat(5_000));
        let text = format!("{long},{{\"b\":2}}");
        let mut elements = Elements::default();
        let (value, n) = parse(&mut elements, text.as_bytes()).unwrap();
        assert_eq!(n, long.len());
        assert_eq!(value["a"].as_str().unwrap().chars().count(), 5_000);
        // The next element is checked with a window twice the last element's size.
        let (value, n) = parse(&mut elements, &text.as_bytes()[n + 1..]).unwrap();
        assert_eq!((value, n), (serde_json::json!({"b": 2}), 7));

        // Not UTF-8 inside the element: malformed; after it: not this element's concern.
        assert_eq!(
            parse(&mut Elements::default(), b"{\"a\":\"\xff\"}").unwrap_err(),
            "malformed"
        );
        assert_eq!(
            parse(&mut Elements::default(), b"{\"a\":1},\xff")
                .unwrap()
                .1,
            7
        );
        // Cut off inside the element (also inside a character): the scanner reads more.
        assert_eq!(
            parse(&mut Elements::default(), b"{\"a\":").unwrap_err(),
            "need more"
        );
        assert_eq!(
            parse(
                &mut Elements::default(),
                "{\"a\":\"€".as_bytes().split_last().unwrap().1
            )
            .unwrap_err(),
            "need more"
        );
        assert_eq!(
            parse(&mut Elements::default(), b"{\"a\" 1}").unwrap_err(),
            "malformed"
        );
    }
}

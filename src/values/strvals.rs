//! Helm's `--set` syntax, as `kops toolbox template --set` and `--set-string` read it (kops 1.36.2:
//! third_party/forked/helmstrvals/parser.go, called from cmd/kops/toolbox_template.go
//! `newTemplateContext`). Used by the `set` and `set-string` keys of a Go `render` step.
//!
//! What the parser does, restated:
//! * one text holds several assignments separated by commas; a backslash takes the next
//!   character literally (`a=x\,y` is the one value `x,y`), in names and values alike;
//! * a name is a path: `a.b` (a map inside a map, created or merged into), `a[1]` (an item of a
//!   list, the list grown with nulls up to it), `a[1].b`, `a[0][2]`;
//! * a value in braces is a list: `{1,2,3}`;
//! * `set` types each value: `true`/`false`/`null` in any case, `0`, and a decimal integer without
//!   a leading zero (an optional sign; it must fit in 64 bits) become a bool, null or integer;
//!   anything else (`1.5`, `007`, `1e3`) stays a string. `set-string` keeps every value a string;
//! * assignments write into the values as they are, in order: a later one replaces an earlier
//!   value, a map path merges into an existing map;
//! * kops stops at the end of the text without a word in a few odd cases, kept here: `a=` is the
//!   empty string, `a.` and `a[0]` with nothing after them set nothing.
//!
//! Where kops panics and reports "unable to parse key: interface conversion" (a path through a
//! value of the wrong kind, `a.b=1` over `a: 3`), the error here says which name and what it is.

use serde_json::{Map, Value};

/// The most nested names in one path (kops: `MaxNestedNameLevel`).
const MAX_NESTED_NAMES: usize = 30;
/// The largest list index (kops: `MaxIndex`).
const MAX_INDEX: usize = 65536;

/// Applies the assignments of `text` to `values` (`strings`: every value a string, as
/// `--set-string`). On an error, `values` may hold the assignments before the faulty one, as in
/// kops; callers apply to a copy.
pub(crate) fn apply(
    text: &str,
    values: &mut Map<String, Value>,
    strings: bool,
) -> Result<(), String> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        at: 0,
        strings,
    };
    loop {
        match parser.key(values, 0) {
            Ok(()) => {}
            Err(Stop::End) => return Ok(()),
            Err(Stop::Error(e)) => return Err(e),
        }
    }
}

/// Why parsing stopped: the end of the text (kops's `io.EOF`: not an error) or an error.
enum Stop {
    End,
    Error(String),
}

fn fail<T>(message: String) -> Result<T, Stop> {
    Err(Stop::Error(message))
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    strings: bool,
}

/// What [`Parser::until`] read: the text, and the stop character (none at the end).
type Read = (String, Option<char>);

impl Parser {
    /// Reads up to one of `stop` (consumed), a backslash escaping the next character.
    fn until(&mut self, stop: &[char]) -> Read {
        let mut text = String::new();
        while let Some(&c) = self.chars.get(self.at) {
            self.at += 1;
            if stop.contains(&c) {
                return (text, Some(c));
            }
            if c == '\\' {
                match self.chars.get(self.at) {
                    Some(&next) => {
                        self.at += 1;
                        text.push(next);
                    }
                    None => return (text, None),
                }
            } else {
                text.push(c);
            }
        }
        (text, None)
    }

    fn typed(&self, raw: String) -> Value {
        if self.strings {
            return Value::String(raw);
        }
        let lower = raw.to_ascii_lowercase();
        match lower.as_str() {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            "null" => return Value::Null,
            "0" => return Value::from(0),
            _ => {}
        }
        // Go's ParseInt: an optional sign, then decimal digits.
        let digits = raw.strip_prefix(['+', '-']).unwrap_or(&raw);
        if !raw.starts_with('0')
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = raw.trim_start_matches('+').parse::<i64>()
        {
            return Value::from(n);
        }
        Value::String(raw)
    }

    /// A value after `=`: a `{...}` list, or text up to the next comma; [`Stop::End`] when the
    /// text ends right after the `=`. The flag: the text ended with this value.
    fn value(&mut self) -> Result<(Value, bool), Stop> {
        match self.chars.get(self.at) {
            None => Err(Stop::End),
            Some('{') => {
                self.at += 1;
                let mut list = Vec::new();
                loop {
                    match self.until(&[',', '}']) {
                        (_, None) => return fail("a list must end with `}`".into()),
                        (item, Some('}')) => {
                            list.push(self.typed(item));
                            if self.chars.get(self.at) == Some(&',') {
                                self.at += 1;
                            }
                            return Ok((Value::Array(list), false));
                        }
                        (item, _) => list.push(self.typed(item)),
                    }
                }
            }
            Some(_) => {
                let (text, stop) = self.until(&[',']);
                Ok((self.typed(text), stop.is_none()))
            }
        }
    }

    fn key(&mut self, data: &mut Map<String, Value>, nested: usize) -> Result<(), Stop> {
        let (name, stop) = self.until(&['=', '[', ',', '.']);
        match stop {
            None if name.is_empty() => Err(Stop::End),
            None => fail(format!("`{name}` has no value; write {name}=VALUE")),
            Some(',') => fail(format!(
                "`{name}` has no value (a name cannot end with a comma)"
            )),
            Some('=') => {
                let (value, ended) = match self.value() {
                    Err(Stop::End) => (Value::String(String::new()), true),
                    other => other?,
                };
                set(data, &name, value);
                if ended { Err(Stop::End) } else { Ok(()) }
            }
            Some('[') => {
                let index = self.index()?;
                let mut list = match data.get(&name) {
                    None => Vec::new(),
                    Some(Value::Array(items)) => items.clone(),
                    Some(other) => {
                        return fail(format!(
                            "`{name}[{index}]`: `{name}` is {}, not a list",
                            kind(other)
                        ));
                    }
                };
                let result = self.item(&mut list, index, nested, &name);
                set(data, &name, Value::Array(list));
                result
            }
            _ => {
                let nested = nested + 1;
                if nested > MAX_NESTED_NAMES {
                    return fail(format!(
                        "more than {MAX_NESTED_NAMES} nested names in one path"
                    ));
                }
                let mut inner = match data.get(&name) {
                    None => Map::new(),
                    Some(Value::Object(map)) => map.clone(),
                    Some(other) => {
                        return fail(format!("`{name}.`: `{name}` is {}, not a map", kind(other)));
                    }
                };
                let result = self.key(&mut inner, nested);
                if result.is_ok() && inner.is_empty() {
                    return fail(format!("`{name}` has no value"));
                }
                if !inner.is_empty() {
                    set(data, &name, Value::Object(inner));
                }
                result
            }
        }
    }

    /// The digits of `[N]`, the `[` read.
    fn index(&mut self) -> Result<usize, Stop> {
        let (digits, stop) = self.until(&[']']);
        if stop.is_none() {
            return Err(Stop::End);
        }
        match digits.parse::<i64>() {
            Ok(n) if n < 0 => fail(format!("the negative index {n} is not allowed")),
            Ok(n) if n as u64 > MAX_INDEX as u64 => fail(format!(
                "the index {n} is greater than the largest allowed, {MAX_INDEX}"
            )),
            Ok(n) => Ok(n as usize),
            Err(_) => fail(format!("`[{digits}]` is not a list index")),
        }
    }

    /// What follows `name[index]`: `=value`, `[i]` or `.key`.
    fn item(
        &mut self,
        list: &mut Vec<Value>,
        index: usize,
        nested: usize,
        name: &str,
    ) -> Result<(), Stop> {
        let (extra, stop) = self.until(&['[', '.', '=']);
        if !extra.is_empty() {
            return fail(format!(
                "`{name}[{index}]` is followed by `{extra}`; write {name}[{index}]=VALUE"
            ));
        }
        let at = |list: &mut Vec<Value>| {
            if list.len() <= index {
                list.resize(index + 1, Value::Null);
            }
        };
        match stop {
            None => Err(Stop::End),
            Some('=') => {
                // kops sets the item and goes on (the next name it reads is the end).
                let (value, _) = match self.value() {
                    Err(Stop::End) => (Value::String(String::new()), true),
                    other => other?,
                };
                at(list);
                list[index] = value;
                Ok(())
            }
            Some('[') => {
                let next = self.index()?;
                let mut inner = match list.get(index) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items.clone(),
                    Some(other) => {
                        return fail(format!("`{name}[{index}]` is {}, not a list", kind(other)));
                    }
                };
                self.item(&mut inner, next, nested, name)?;
                at(list);
                list[index] = Value::Array(inner);
                Ok(())
            }
            _ => {
                let mut inner = match list.get(index) {
                    Some(Value::Object(map)) => map.clone(),
                    _ => Map::new(),
                };
                let result = self.key(&mut inner, nested);
                // kops writes into an item that exists (a Go map is shared); a new item is added
                // only when the rest of the text follows: `a[0].b=x` as the last assignment of a
                // new list leaves it empty.
                if index < list.len() {
                    list[index] = Value::Object(inner);
                    return result;
                }
                result?;
                at(list);
                list[index] = Value::Object(inner);
                Ok(())
            }
        }
    }
}

/// kops ignores an assignment to an empty name.
fn set(data: &mut Map<String, Value>, name: &str, value: Value) {
    if !name.is_empty() {
        data.insert(name.to_string(), value);
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests;

//! [`JsonRef`]: a JSON value that borrows its strings from the text it was parsed from, for the
//! second pass over a plan (issue 19). A `serde_json::Value` copies every string and hashes every
//! key into an `IndexMap`; a change's `before` and `after` are read once and walked once, so here
//! strings stay slices of the change's text (copied only when they hold escapes) and objects are
//! plain lists of members.
//!
//! It behaves as `Value` does where the rows can tell: numbers are serde_json's own [`Number`], an
//! object keeps its members in document order (a repeated key keeps the first position and the
//! last value, as `Value` with `preserve_order` does), objects compare equal regardless of member
//! order, and it is written as the same compact JSON.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

#[derive(Debug, Clone)]
pub(super) enum JsonRef<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<JsonRef<'a>>),
    Object(Vec<(Cow<'a, str>, JsonRef<'a>)>),
}

/// Objects with more members than this are looked up through a sorted index.
const LINEAR_MEMBERS: usize = 16;

impl<'a> JsonRef<'a> {
    /// A view of `value` (drift and outputs are read as `Value`).
    pub(super) fn from_value(value: &'a Value) -> JsonRef<'a> {
        match value {
            Value::Null => JsonRef::Null,
            Value::Bool(b) => JsonRef::Bool(*b),
            Value::Number(n) => JsonRef::Number(n.clone()),
            Value::String(s) => JsonRef::String(Cow::Borrowed(s)),
            Value::Array(items) => JsonRef::Array(items.iter().map(JsonRef::from_value).collect()),
            Value::Object(map) => JsonRef::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), JsonRef::from_value(v)))
                    .collect(),
            ),
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(self, JsonRef::Null)
    }

    /// The compact JSON text, as `Value`'s `to_string` writes it.
    pub(super) fn to_json(&self) -> String {
        if let JsonRef::String(s) = self {
            // Most shown values are strings: escaped without serde's machinery.
            // The quotes and the text: room enough unless something needs escaping.
            let mut out = String::with_capacity(s.len() + 2);
            crate::text::json_str(&mut out, s);
            return out;
        }
        serde_json::to_string(self).expect("JSON of a parsed value")
    }
}

/// An object's members by key: a scan for small objects, a sorted index for large ones.
pub(super) struct Members<'v, 'a> {
    members: &'v [(Cow<'a, str>, JsonRef<'a>)],
    sorted: Option<Vec<(&'v str, &'v JsonRef<'a>)>>,
}

impl<'v, 'a> Members<'v, 'a> {
    pub(super) fn new(members: &'v [(Cow<'a, str>, JsonRef<'a>)]) -> Self {
        let sorted = (members.len() > LINEAR_MEMBERS).then(|| {
            let mut sorted: Vec<_> = members.iter().map(|(k, v)| (k.as_ref(), v)).collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            sorted
        });
        Members { members, sorted }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'v JsonRef<'a>> {
        match &self.sorted {
            Some(sorted) => sorted
                .binary_search_by(|(k, _)| (*k).cmp(key))
                .ok()
                .map(|i| sorted[i].1),
            None => self
                .members
                .iter()
                .find(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v),
        }
    }
}

impl PartialEq for JsonRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JsonRef::Null, JsonRef::Null) => true,
            (JsonRef::Bool(a), JsonRef::Bool(b)) => a == b,
            (JsonRef::Number(a), JsonRef::Number(b)) => a == b,
            (JsonRef::String(a), JsonRef::String(b)) => a == b,
            (JsonRef::Array(a), JsonRef::Array(b)) => a == b,
            (JsonRef::Object(a), JsonRef::Object(b)) => {
                if a.len() != b.len() {
                    return false;
                }
                let b = Members::new(b);
                a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

impl Serialize for JsonRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonRef::Null => s.serialize_unit(),
            JsonRef::Bool(b) => s.serialize_bool(*b),
            JsonRef::Number(n) => n.serialize(s),
            JsonRef::String(text) => s.serialize_str(text),
            JsonRef::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            JsonRef::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for JsonRef<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonRefVisitor)
    }
}

/// A string, borrowed when the text holds it without escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor)
    }
}

struct JsonRefVisitor;

impl<'de> Visitor<'de> for JsonRefVisitor {
    type Value = JsonRef<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<JsonRef<'de>, E> {
        // As `Value` does: a float that is not finite is null.
        Ok(Number::from_f64(v).map_or(JsonRef::Null, JsonRef::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::String(Cow::Owned(v)))
    }

    fn visit_none<E>(self) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::Null)
    }

    fn visit_unit<E>(self) -> Result<JsonRef<'de>, E> {
        Ok(JsonRef::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JsonRef<'de>, D::Error> {
        JsonRef::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonRef<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(JsonRef::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRef<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, JsonRef<'de>)> = Vec::new();
        while let Some(Text(key)) = map.next_key()? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(JsonRef::Object(without_repeats(members)))
    }
}

/// Members with each key once, at its first position with its last value (as `IndexMap::insert`).
pub(super) fn without_repeats<'a>(
    members: Vec<(Cow<'a, str>, JsonRef<'a>)>,
) -> Vec<(Cow<'a, str>, JsonRef<'a>)> {
    let repeats = if members.len() <= LINEAR_MEMBERS {
        members
            .iter()
            .enumerate()
            .any(|(i, (k, _))| members[..i].iter().any(|(j, _)| j == k))
    } else {
        let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        keys.windows(2).any(|w| w[0] == w[1])
    };
    if !repeats {
        return members;
    }
    let mut first: indexmap::IndexMap<Cow<'a, str>, JsonRef<'a>> = indexmap::IndexMap::new();
    for (k, v) in members {
        first.insert(k, v);
    }
    first.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_compares_as_value_does() {
        for text in [
            r#"{"b":1,"a":[1.5,-2,1e3,"x\"y\u00e9"],"c":{"d":null,"e":true}}"#,
            r#"{"k":1,"j":2,"k":3}"#,
            r#"[18446744073709551615,-9223372036854775808,0.1,1E300]"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let parsed: JsonRef = serde_json::from_str(text).unwrap();
            assert_eq!(parsed.to_json(), value.to_string(), "{text}");
            assert_eq!(JsonRef::from_value(&value).to_json(), value.to_string());
        }
        let a: JsonRef = serde_json::from_str(r#"{"a":1,"b":[2]}"#).unwrap();
        let b: JsonRef = serde_json::from_str(r#"{"b":[2],"a":1}"#).unwrap();
        let c: JsonRef = serde_json::from_str(r#"{"b":[2],"a":1.0}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let parsed: JsonRef = serde_json::from_str(r#"{"plain":"x","escaped":"a\nb"}"#).unwrap();
        let JsonRef::Object(members) = parsed else {
            panic!("an object")
        };
        assert!(matches!(&members[0].1, JsonRef::String(Cow::Borrowed("x"))));
        assert!(matches!(&members[1].1, JsonRef::String(Cow::Owned(s)) if s == "a\nb"));
    }
}

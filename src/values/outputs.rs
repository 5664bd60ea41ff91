//! `terraform output -json` text -> typed outputs.
//!
//! Terraform prints one JSON object mapping each output name to `{sensitive, type, value}`. Outputs
//! whose value is null are left out of that object by Terraform itself. Wrappers and old versions
//! sometimes print text around the object (warnings, a `::debug::` line from a CI action), so the
//! parser looks for the first line that starts a JSON object and reads exactly one value from there.

use indexmap::{IndexMap, IndexSet};
use serde_json::Value;

#[derive(Debug, Default, Clone)]
pub(crate) struct Outputs {
    /// Every output, `.value` unwrapped, in Terraform's order.
    pub(crate) values: IndexMap<String, Value>,
    /// The names of the outputs marked `sensitive`.
    pub(crate) sensitive: IndexSet<String>,
}

impl Outputs {
    /// The outputs the template may see: all but the sensitive ones not listed in `allowed`.
    pub(crate) fn visible(&self, allowed: &[String]) -> serde_json::Map<String, Value> {
        self.values
            .iter()
            .filter(|(k, _)| !self.sensitive.contains(*k) || allowed.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every string inside a sensitive output, for masking.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in &self.sensitive {
            if let Some(v) = self.values.get(name) {
                collect_strings(v, &mut out);
            }
        }
        out
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        Value::Bool(_) | Value::Null => {}
    }
}

/// Parses the text `terraform output -json` printed.
pub(crate) fn parse(text: &str) -> Result<Outputs, String> {
    let mut last_error = None;
    for start in object_starts(text) {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(Value::Object(map))) => return from_map(map),
            Some(Ok(_)) => {}
            Some(Err(e)) => last_error = Some(e.to_string()),
            None => {}
        }
    }
    Err(match last_error {
        Some(e) => format!("not the JSON object `terraform output -json` prints ({e})"),
        None if text.trim().is_empty() => {
            "empty; expected the JSON object `terraform output -json` prints".to_string()
        }
        None => "no JSON object found; expected what `terraform output -json` prints".to_string(),
    })
}

/// Byte offsets of the `{` that begin a line (after blanks), where an object may start.
fn object_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut offset = 0;
    text.split_inclusive('\n').filter_map(move |line| {
        let here = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        trimmed
            .starts_with('{')
            .then(|| here + (line.len() - trimmed.len()))
    })
}

pub(crate) fn from_map(map: serde_json::Map<String, Value>) -> Result<Outputs, String> {
    let mut outputs = Outputs::default();
    for (name, entry) in map {
        let Value::Object(mut entry) = entry else {
            return Err(format!(
                "output `{name}` is not an object with `value`; is this really `terraform output -json`?"
            ));
        };
        let Some(value) = entry.remove("value") else {
            return Err(format!(
                "output `{name}` has no `value`; is this really `terraform output -json`?"
            ));
        };
        if entry.get("sensitive").and_then(Value::as_bool) == Some(true) {
            outputs.sensitive.insert(name.clone());
        }
        outputs.values.insert(name, value);
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{
  "vpc_id": {"sensitive": false, "type": "string", "value": "vpc-1"},
  "key": {"sensitive": true, "type": "string", "value": "s3cr3t"},
  "subnets": {"sensitive": false, "type": ["map", "string"], "value": {"a": "subnet-a"}}
}"#;

    #[test]
    fn values_are_unwrapped_in_order() {
        let o = parse(JSON).unwrap();
        assert_eq!(
            o.values.keys().collect::<Vec<_>>(),
            ["vpc_id", "key", "subnets"]
        );
        assert_eq!(o.values["subnets"]["a"], "subnet-a");
        assert!(o.sensitive.contains("key"));
    }

    #[test]
    fn sensitive_outputs_stay_out_unless_allowed() {
        let o = parse(JSON).unwrap();
        assert!(!o.visible(&[]).contains_key("key"));
        assert!(o.visible(&["key".into()]).contains_key("key"));
        assert_eq!(o.secrets(), ["s3cr3t"]);
    }

    #[test]
    fn text_around_the_object_is_tolerated() {
        let text = format!("Warning: something {{odd}}\n{JSON}\n::debug::done {{x}}\n");
        assert_eq!(parse(&text).unwrap().values.len(), 3);
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("hello").unwrap_err().contains("no JSON object"));
        assert!(parse(&JSON[..40]).is_err());
        assert!(parse("{\"a\": 1}").unwrap_err().contains("output `a`"));
    }
}

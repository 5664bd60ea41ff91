//! The values a run renders with: outputs <- values files <- `--set`, deep-merged in that order.
//!
//! Maps merge key by key, everything else (lists included) is replaced by the later layer, the
//! same rule `kops toolbox template` applies to its values files.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::UserError;

/// Merges `overlay` into `base`: maps merge recursively, anything else is replaced.
pub(crate) fn deep_merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (k, v) in overlay {
                match base.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

/// The most names a `--set` key path may have: as deep as the YAML and JSON parsers nest values.
/// Values are merged and dropped recursively, so a path of thousands of names overflowed the stack.
const MAX_SET_KEYS: usize = 128;

/// Applies one `--set key.path=value`. The value is read as a YAML scalar or flow collection, so
/// `count=3` is a number, `on=true` a boolean, `zones=[a, b]` a list; anything else is a string.
pub(crate) fn apply_set(values: &mut Value, assignment: &str) -> Result<(), UserError> {
    let Some((path, raw)) = assignment.split_once('=') else {
        return Err(UserError::new(format!(
            "--set {assignment}: expected KEY=VALUE, e.g. --set cluster_version=1.30.2"
        )));
    };
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(UserError::new(format!(
            "--set {assignment}: `{path}` is not a key path; use names separated by dots, e.g. a.b"
        )));
    }
    if keys.len() > MAX_SET_KEYS {
        return Err(UserError::new(format!(
            "--set {assignment}: `{path}` has {} names; a key path has at most {MAX_SET_KEYS}",
            keys.len()
        )));
    }
    let value = parse_scalar(raw);
    let mut nested = value;
    for key in keys.iter().rev() {
        let mut map = Map::new();
        map.insert((*key).to_string(), nested);
        nested = Value::Object(map);
    }
    deep_merge(values, nested);
    Ok(())
}

fn parse_scalar(raw: &str) -> Value {
    if raw.is_empty() {
        return Value::String(String::new());
    }
    match serde_yaml::from_str::<Value>(raw) {
        Ok(Value::Null) if raw != "null" && raw != "~" => Value::String(raw.to_string()),
        Ok(Value::Object(_)) if !raw.trim_start().starts_with('{') => {
            Value::String(raw.to_string())
        }
        Ok(v) => v,
        Err(_) => Value::String(raw.to_string()),
    }
}

/// Reads a values file (YAML or JSON; JSON is YAML) that must stay inside the project.
pub(crate) fn load_file(project_dir: &Path, relative: &str) -> Result<Value, UserError> {
    let path = inside_project(project_dir, relative)?;
    let bytes = std::fs::read(&path).map_err(|e| {
        UserError::new(format!(
            "{}: cannot read values file: {e}; fix the path in [cluster] values",
            path.display()
        ))
    })?;
    let text = crate::text::decode_utf8(&path.display().to_string(), bytes, "the values file")?;
    parse_file(&text).map_err(|e| UserError::new(format!("{}{e}", path.display())))
}

/// The values of a values file's text: a mapping (an empty file is an empty one). An error starts
/// with `:line:col` when the parser knows where, else with `: `.
pub(crate) fn parse_file(text: &str) -> Result<Value, String> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        format!("{at}: not valid YAML/JSON: {e}; fix the values file")
    })?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(": a values file must hold a mapping of names to values at the top".to_string()),
    }
}

/// Joins a relative path to the project folder, refusing absolute paths, `..` that escape it and
/// symbolic links that lead out of it (`crate::paths::inside`).
pub(crate) fn inside_project(project_dir: &Path, relative: &str) -> Result<PathBuf, UserError> {
    crate::paths::inside(project_dir, relative).map_err(|why| {
        let why = match why {
            crate::paths::Outside::Link { .. } => why.to_string(),
            _ => format!(
                "this path leaves the project folder {}",
                project_dir.display()
            ),
        };
        UserError::new(format!(
            "{relative}: {why}; keep values files inside the project"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_and_lists_are_replaced() {
        let mut base = json!({"a": {"x": 1, "y": [1, 2]}, "b": 1});
        deep_merge(&mut base, json!({"a": {"y": [3], "z": 2}, "c": 3}));
        assert_eq!(
            base,
            json!({"a": {"x": 1, "y": [3], "z": 2}, "b": 1, "c": 3})
        );
    }

    #[test]
    fn set_parses_scalars_and_paths() {
        let mut v = json!({"a": {"b": 1}});
        apply_set(&mut v, "a.c=3").unwrap();
        apply_set(&mut v, "name=my.cluster").unwrap();
        apply_set(&mut v, "on=true").unwrap();
        apply_set(&mut v, "zones=[a, b]").unwrap();
        apply_set(&mut v, "ver=1.30.2").unwrap();
        apply_set(&mut v, "empty=").unwrap();
        assert_eq!(
            v,
            json!({"a": {"b": 1, "c": 3}, "name": "my.cluster", "on": true, "zones": ["a", "b"], "ver": "1.30.2", "empty": ""})
        );
        assert!(apply_set(&mut v, "novalue").is_err());
        assert!(apply_set(&mut v, "a..b=1").is_err());
    }

    #[test]
    fn set_refuses_key_paths_deeper_than_values_nest() {
        // `--set a.a.a...=1` with 20,000 names overflowed the stack while merging (fuzzing).
        let mut v = json!({});
        let deep = format!("{}a=1", "a.".repeat(20_000));
        let err = apply_set(&mut v, &deep).unwrap_err();
        assert!(
            err.message
                .ends_with("has 20001 names; a key path has at most 128"),
            "{}",
            &err.message[err.message.len() - 60..]
        );
        assert_eq!(v, json!({}));
        let deepest = format!("{}a=1", "a.".repeat(MAX_SET_KEYS - 1));
        apply_set(&mut v, &deepest).unwrap();
        let mut inner = &v;
        for _ in 0..MAX_SET_KEYS {
            inner = &inner["a"];
        }
        assert_eq!(inner, &json!(1));
    }

    #[test]
    fn values_files_stay_inside_the_project() {
        let p = Path::new("/p");
        assert!(inside_project(p, "values/dev.yaml").is_ok());
        assert!(inside_project(p, "a/../b.yaml").is_ok());
        assert!(inside_project(p, "../secrets.yaml").is_err());
        assert!(inside_project(p, "/etc/passwd").is_err());
        assert!(inside_project(p, "a/../../b").is_err());
    }

    #[test]
    fn a_values_file_behind_a_link_out_of_the_project_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("v.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("v.yaml"), project.path().join("v.yaml"))
            .unwrap();
        let err = load_file(project.path(), "v.yaml").unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "v.yaml: is reached through the symbolic link `v.yaml`, which leads outside the project folder (to {}); keep values files inside the project",
                outside
                    .path()
                    .canonicalize()
                    .unwrap()
                    .join("v.yaml")
                    .display()
            )
        );
    }
}

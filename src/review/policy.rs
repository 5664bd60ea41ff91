//! Policy rules evaluated on the rendered manifest (`cluster.yml`): each document a rule selects
//! by kind and name must have `path op value`. Evaluated on the manifest, in kops's own terms
//! (`InstanceGroup/nodes spec.machineType`), not on the plan's resources: the manifest is what a
//! pull request changes and what a reviewer reads. A manifest in, violations out; no I/O but the
//! one read of the file.

use std::path::Path;

use serde_json::Value;

use crate::error::UserError;
use crate::project::policy::{IfMissing, PolicyOp, PolicyRule, Segment, parse_path};

/// One document of the manifest: its kind, its name and its content.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) value: Value,
}

/// A document that does not meet a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) id: String,
    pub(crate) message: String,
    /// `InstanceGroup/nodes-a`.
    pub(crate) document: String,
    /// The path with each `[*]` replaced by the element's index.
    pub(crate) path: String,
    /// The value found, as JSON (cut to [`ACTUAL_MAX`] characters); `None` when there is none.
    pub(crate) actual: Option<String>,
}

/// The longest value a violation quotes, in characters.
const ACTUAL_MAX: usize = 120;

/// The documents of a kops manifest (YAML documents separated by `---`), empty ones skipped.
pub(crate) fn read_manifest(path: &Path) -> Result<Vec<Document>, UserError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!(
            "{}: cannot read the manifest the policy rules are evaluated on: {e}",
            path.display()
        ))
    })?;
    parse_manifest(&text).map_err(|e| UserError::new(format!("{}: {e}", path.display())))
}

pub(crate) fn parse_manifest(text: &str) -> Result<Vec<Document>, String> {
    let mut documents = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = <Value as serde::Deserialize>::deserialize(doc).map_err(|e| {
            format!(
                "document {} is not YAML the policy rules can read: {e}",
                i + 1
            )
        })?;
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or("").to_string();
        let name = value["metadata"]["name"].as_str().unwrap_or("").to_string();
        documents.push(Document { kind, name, value });
    }
    Ok(documents)
}

/// The violations of `rules` in `documents`: rule by rule, document by document, in order. The
/// values quoted are masked with `masks` before they are cut: a cut secret is no longer one the
/// masks can find.
pub(crate) fn evaluate(
    rules: &[PolicyRule],
    documents: &[Document],
    masks: &crate::redact::Masks,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for rule in rules {
        // Checked when the project was loaded; a rule that does not parse selects nothing.
        let Ok(path) = parse_path(&rule.path) else {
            continue;
        };
        let name_glob = rule
            .name
            .as_deref()
            .and_then(|g| glob::Pattern::new(g).ok());
        let expected = rule
            .value
            .as_ref()
            .and_then(|v| serde_json::to_value(v).ok());
        for doc in documents {
            if rule.kind != "*" && doc.kind != rule.kind {
                continue;
            }
            if rule.name.is_some() && !name_glob.as_ref().is_some_and(|g| g.matches(&doc.name)) {
                continue;
            }
            let mut found = Vec::new();
            resolve(&doc.value, &path, String::new(), &mut found);
            for (at, value) in found {
                let ok = match (rule.op, value) {
                    (PolicyOp::Exists, v) => v.is_some(),
                    (PolicyOp::Absent, v) => v.is_none(),
                    (_, None) => rule.if_missing == IfMissing::Pass,
                    (op, Some(v)) => holds(op, v, expected.as_ref()),
                };
                if !ok {
                    out.push(Violation {
                        id: rule.id.clone(),
                        message: rule.message.clone(),
                        document: format!("{}/{}", doc.kind, doc.name),
                        path: at,
                        actual: value.map(|v| shown(v, masks)),
                    });
                }
            }
        }
    }
    out
}

/// Every place `path` reaches in `value`, with the value there (`None`: not there). A list step
/// over a list that is missing or empty is one missing place.
fn resolve<'v>(
    value: &'v Value,
    path: &[Segment],
    at: String,
    out: &mut Vec<(String, Option<&'v Value>)>,
) {
    let Some((first, rest)) = path.split_first() else {
        out.push((at, (!value.is_null()).then_some(value)));
        return;
    };
    match first {
        Segment::Key(key) => {
            let at = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            match value.get(key.as_str()) {
                Some(next) => resolve(next, rest, at, out),
                None => out.push((at + &rest_text(rest), None)),
            }
        }
        Segment::Index(i) => match value.as_array().and_then(|l| l.get(*i)) {
            Some(next) => resolve(next, rest, format!("{at}[{i}]"), out),
            None => out.push((format!("{at}[{i}]{}", rest_text(rest)), None)),
        },
        Segment::Every => match value.as_array() {
            Some(list) if !list.is_empty() => {
                for (i, next) in list.iter().enumerate() {
                    resolve(next, rest, format!("{at}[{i}]"), out);
                }
            }
            _ => out.push((format!("{at}[*]{}", rest_text(rest)), None)),
        },
    }
}

/// The rest of a path as written.
fn rest_text(rest: &[Segment]) -> String {
    rest.iter()
        .map(|s| match s {
            Segment::Key(k) => format!(".{k}"),
            Segment::Every => "[*]".to_string(),
            Segment::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// Whether `actual op expected` holds. Numbers compare as numbers (`3 == 3.0`); anything else
/// only with the same type: the string "3" is not the number 3, "true" is not true.
fn holds(op: PolicyOp, actual: &Value, expected: Option<&Value>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    let equal = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    let order = || actual.as_f64()?.partial_cmp(&expected.as_f64()?);
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        PolicyOp::Eq => equal(actual, expected),
        PolicyOp::Ne => !equal(actual, expected),
        PolicyOp::Lt => order() == Some(Less),
        PolicyOp::Le => matches!(order(), Some(Less | Equal)),
        PolicyOp::Gt => order() == Some(Greater),
        PolicyOp::Ge => matches!(order(), Some(Greater | Equal)),
        PolicyOp::In => expected
            .as_array()
            .is_some_and(|l| l.iter().any(|e| equal(actual, e))),
        PolicyOp::NotIn => expected
            .as_array()
            .is_some_and(|l| !l.iter().any(|e| equal(actual, e))),
        PolicyOp::Matches => match (actual.as_str(), expected.as_str()) {
            (Some(a), Some(g)) => glob::Pattern::new(g).is_ok_and(|g| g.matches(a)),
            _ => false,
        },
        PolicyOp::Exists | PolicyOp::Absent => true,
    }
}

/// A value as one line of JSON, masked, then cut to [`ACTUAL_MAX`] characters.
fn shown(value: &Value, masks: &crate::redact::Masks) -> String {
    let text = masks.mask(&value.to_string());
    if text.chars().count() <= ACTUAL_MAX {
        return text;
    }
    let mut cut: String = text.chars().take(ACTUAL_MAX).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::project::policy::check_rules;

    /// The rules of a `[review]` table in tasks.toml, checked as a project load checks them.
    fn rules(toml_text: &str) -> Vec<PolicyRule> {
        let config = crate::project::schema::parse(toml_text).unwrap();
        check_rules(&config.review.policy).unwrap();
        config.review.policy
    }

    const MANIFEST: &str = "\
apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  name: dev.example.com
spec:
  etcdClusters:
  - name: main
    etcdMembers:
    - name: a
      encryptedVolume: true
    - name: b
  - name: events
    etcdMembers:
    - name: a
      encryptedVolume: \"true\"
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: nodes-a
spec:
  machineType: t3.large
  maxSize: 4
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: nodes-b
spec:
  machineType: m5.24xlarge
  maxSize: 12
  minSize: 2.0
---
";

    fn violations(toml_text: &str) -> Vec<(String, String, Option<String>)> {
        evaluate(
            &rules(toml_text),
            &parse_manifest(MANIFEST).unwrap(),
            &Default::default(),
        )
        .into_iter()
        .map(|v| (v.document, v.path, v.actual))
        .collect()
    }

    fn v(doc: &str, path: &str, actual: Option<&str>) -> (String, String, Option<String>) {
        (doc.into(), path.into(), actual.map(str::to_string))
    }

    #[test]
    fn the_issues_three_examples() {
        let found = evaluate(
            &rules(
                r#"
[[review.policy]]
id = "machine-types"
kind = "InstanceGroup"
path = "spec.machineType"
op = "in"
value = ["t3.medium", "t3.large"]
message = "instance groups run t3.medium or t3.large"

[[review.policy]]
id = "max-size"
kind = "InstanceGroup"
path = "spec.maxSize"
op = "<="
value = 10
message = "at most 10 nodes per group"

[[review.policy]]
id = "etcd-encrypted"
kind = "Cluster"
path = "spec.etcdClusters[*].etcdMembers[*].encryptedVolume"
op = "=="
value = true
message = "etcd volumes are encrypted"
"#,
            ),
            &parse_manifest(MANIFEST).unwrap(),
            &Default::default(),
        );
        let row =
            |id: &str, message: &str, doc: &str, path: &str, actual: Option<&str>| Violation {
                id: id.into(),
                message: message.into(),
                document: doc.into(),
                path: path.into(),
                actual: actual.map(str::to_string),
            };
        assert_eq!(
            found,
            [
                row(
                    "machine-types",
                    "instance groups run t3.medium or t3.large",
                    "InstanceGroup/nodes-b",
                    "spec.machineType",
                    Some("\"m5.24xlarge\"")
                ),
                row(
                    "max-size",
                    "at most 10 nodes per group",
                    "InstanceGroup/nodes-b",
                    "spec.maxSize",
                    Some("12")
                ),
                // Missing is a violation (kops's default is unencrypted), and the string "true"
                // is not the boolean true.
                row(
                    "etcd-encrypted",
                    "etcd volumes are encrypted",
                    "Cluster/dev.example.com",
                    "spec.etcdClusters[0].etcdMembers[1].encryptedVolume",
                    None
                ),
                row(
                    "etcd-encrypted",
                    "etcd volumes are encrypted",
                    "Cluster/dev.example.com",
                    "spec.etcdClusters[1].etcdMembers[0].encryptedVolume",
                    Some("\"true\"")
                ),
            ]
        );
    }

    fn one(op: &str, value: &str, path: &str) -> String {
        format!(
            "[[review.policy]]\nid = \"r\"\nkind = \"InstanceGroup\"\npath = \"{path}\"\nop = \"{op}\"\n{}message = \"m\"\n",
            if value.is_empty() {
                String::new()
            } else {
                format!("value = {value}\n")
            }
        )
    }

    #[test]
    fn each_operator() {
        let a = "InstanceGroup/nodes-a";
        let b = "InstanceGroup/nodes-b";
        let size = |op: &str, n: &str| violations(&one(op, n, "spec.maxSize"));
        assert_eq!(size("<", "12"), [v(b, "spec.maxSize", Some("12"))]);
        assert_eq!(size("<=", "12"), []);
        assert_eq!(size(">", "4"), [v(a, "spec.maxSize", Some("4"))]);
        assert_eq!(size(">=", "4.0"), []);
        assert_eq!(size("==", "4"), [v(b, "spec.maxSize", Some("12"))]);
        assert_eq!(size("!=", "4"), [v(a, "spec.maxSize", Some("4"))]);
        // 2.0 equals 2: numbers compare as numbers; the missing minSize of nodes-a fails.
        assert_eq!(
            violations(&one("==", "2", "spec.minSize")),
            [v(a, "spec.minSize", None)]
        );
        let machine = |op: &str, value: &str| violations(&one(op, value, "spec.machineType"));
        assert_eq!(
            machine("not-in", "[\"m5.24xlarge\"]"),
            [v(b, "spec.machineType", Some("\"m5.24xlarge\""))]
        );
        assert_eq!(
            machine("matches", "\"t3.*\""),
            [v(b, "spec.machineType", Some("\"m5.24xlarge\""))]
        );
        // A number is never in a list of strings, nor matched by a glob.
        assert_eq!(
            violations(&one("matches", "\"1*\"", "spec.maxSize")).len(),
            2
        );
        assert_eq!(
            violations(&one("exists", "", "spec.minSize")),
            [v(a, "spec.minSize", None)]
        );
        assert_eq!(
            violations(&one("absent", "", "spec.minSize")),
            [v(b, "spec.minSize", Some("2.0"))]
        );
        // A string is not a number: `<=` fails rather than guessing.
        assert_eq!(violations(&one("<=", "100", "spec.machineType")).len(), 2);
    }

    #[test]
    fn missing_paths_and_selectors() {
        let a = "InstanceGroup/nodes-a";
        let b = "InstanceGroup/nodes-b";
        assert_eq!(
            violations(&one("==", "1", "spec.rootVolume.size")),
            [
                v(a, "spec.rootVolume.size", None),
                v(b, "spec.rootVolume.size", None)
            ]
        );
        assert_eq!(
            violations(&one("==", "1", "spec.subnets[*].name")),
            [
                v(a, "spec.subnets[*].name", None),
                v(b, "spec.subnets[*].name", None)
            ]
        );
        assert_eq!(
            violations(&one("==", "1", "spec.machineType[3]")),
            [
                v(a, "spec.machineType[3]", None),
                v(b, "spec.machineType[3]", None)
            ]
        );
        let pass = one("==", "1", "spec.rootVolume.size") + "if-missing = \"pass\"\n";
        assert_eq!(violations(&pass), []);
        let named = one("<=", "5", "spec.maxSize") + "name = \"nodes-*\"\n";
        assert_eq!(violations(&named), [v(b, "spec.maxSize", Some("12"))]);
        let other = one("<=", "5", "spec.maxSize") + "name = \"bastions\"\n";
        assert_eq!(violations(&other), []);
        let any = one("exists", "", "metadata.name").replace("InstanceGroup", "*");
        assert_eq!(violations(&any), []);
    }

    #[test]
    fn hostile_values_are_quoted_as_json_masked_and_cut() {
        // A learned secret longer than the cut: masked whole before the cut, so no prefix of it
        // is left to escape the masks of the review's writer.
        let secret = format!("s3cr3t-{}", "k".repeat(300));
        let redactor = crate::redact::Redactor::new(&[]);
        redactor.add(secret.clone());
        let manifest = format!(
            "kind: InstanceGroup\nmetadata:\n  name: \"x\\n\\n# injected\"\nspec:\n  machineType: \"`](http://evil)\\n- [x] approved\"\n  big: \"{}\"\n  token: \"{secret}\"\n",
            "a".repeat(500)
        );
        let docs = parse_manifest(&manifest).unwrap();
        let found = evaluate(
            &rules(
                &(one("==", "\"t3\"", "spec.machineType")
                    + &one("==", "\"b\"", "spec.big").replace("id = \"r\"", "id = \"s\"")
                    + &one("absent", "", "spec.token").replace("id = \"r\"", "id = \"t\"")),
            ),
            &docs,
            &redactor.masks(),
        );
        assert_eq!(
            found[2].actual.as_deref(),
            Some(format!("\"{}\"", crate::redact::MASK).as_str())
        );
        assert!(!found[2].actual.as_deref().unwrap().contains("s3cr3t"));
        assert_eq!(
            found[0].actual.as_deref(),
            Some("\"`](http://evil)\\n- [x] approved\"")
        );
        assert_eq!(found[0].document, "InstanceGroup/x\n\n# injected");
        let big = found[1].actual.as_deref().unwrap();
        assert_eq!(big.chars().count(), ACTUAL_MAX + 1);
        assert!(big.ends_with('…'));
        // Not YAML: a clear error, no panic.
        assert!(
            parse_manifest("kind: [\n")
                .unwrap_err()
                .starts_with("document 1 is not YAML")
        );
    }
}

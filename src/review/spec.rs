//! kops spec changes: the live spec (a copy of the state store taken before `kops replace` wrote
//! into it) against the new manifest, path by path in kops's terms
//! (`Cluster.spec.kubernetesVersion`, `InstanceGroup/nodes.spec.machineType`), with the instance
//! groups added and removed. `kops replace` creates and updates, never deletes: an instance group
//! left out of the manifest stays in the state store and in the cloud, so it is listed as removed.
//!
//! The state store layout is kops's: `<store>/<cluster>/config` holds the Cluster and
//! `<store>/<cluster>/instancegroup/<name>` each InstanceGroup (kops:
//! pkg/client/simple/vfsclientset/cluster.go, instancegroup.go). Values are shown as the plan's
//! are ([`Shown`]): compact JSON, a hash and a size when long, `(sensitive)` when they hold a
//! secret of the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::UserError;
use crate::plan::summary::Shown;
use crate::redact::Masks;
use crate::render::manifest;

/// The metadata kops (or the API machinery) writes itself: never a change a pull request makes.
const SERVER_MANAGED: &[&str] = &[
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "uid",
    "selfLink",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// InstanceGroup fields that only resize its Auto Scaling group: the launch template, and so the
/// running instances, stay as they are (kops: pkg/model/awsmodel/autoscalinggroup.go puts
/// minSize/maxSize on the group, not on the template).
const RESIZE_ONLY: &[&str] = &["spec.minSize", "spec.maxSize"];

/// Strings longer than this (characters) are shown as a hash and a size, as plan values are.
const LONG: usize = 200;

/// The files a spec diff compares: a local copy of the state store (its root, holding
/// `<cluster>/config`) and the manifest `kops replace` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecFiles {
    pub(crate) live: PathBuf,
    pub(crate) manifest: PathBuf,
}

/// Why a change needs (or does not need) a rolling update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// A change of an instance group's own spec rolls that group.
    OwnGroup,
    /// minSize/maxSize only resize the Auto Scaling group.
    Resize,
    /// A Cluster change rolls the groups whose launch template this plan changes.
    LaunchTemplates,
}

impl Rule {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rule::OwnGroup => "instance-group",
            Rule::Resize => "resize-only",
            Rule::LaunchTemplates => "launch-templates",
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SpecChange {
    /// `Cluster` or `InstanceGroup/<name>`.
    pub(crate) object: String,
    /// `spec.kubernetesVersion`, `spec.subnets[name=us-test-1a].cidr`, `spec.subnets[0]`.
    pub(crate) path: String,
    /// `None`: the path is new.
    pub(crate) before: Option<Shown>,
    /// `None`: the path is gone.
    pub(crate) after: Option<Shown>,
    pub(crate) rule: Rule,
    /// The instance groups that need a rolling update for it (filled by the review).
    pub(crate) groups: Vec<String>,
}

/// The live spec against the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpecDiff {
    /// The Cluster's name (the manifest's).
    pub(crate) cluster: String,
    /// The state store holds no Cluster of that name yet.
    pub(crate) cluster_new: bool,
    pub(crate) changes: Vec<SpecChange>,
    /// In the manifest, not in the state store.
    pub(crate) added: Vec<String>,
    /// In the state store, not in the manifest: `kops replace` leaves them.
    pub(crate) removed: Vec<String>,
}

impl SpecDiff {
    /// Nothing differs.
    pub(crate) fn is_empty(&self) -> bool {
        !self.cluster_new
            && self.changes.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
    }

    /// `Cluster.spec.kubernetesVersion`: a change's object and path as one name.
    pub(crate) fn full_path(change: &SpecChange) -> String {
        format!("{}.{}", change.object, change.path)
    }
}

/// Reads both sides and compares them; values holding a secret of `masks` are `(sensitive)`.
pub(crate) fn read(files: &SpecFiles, masks: &Masks) -> Result<SpecDiff, UserError> {
    let text = std::fs::read_to_string(&files.manifest).map_err(|e| {
        UserError::new(format!(
            "{}: cannot read the manifest for the spec changes: {e}",
            files.manifest.display()
        ))
    })?;
    let documents = manifest::parse_loose(&text);
    let clusters: Vec<&manifest::Document> =
        documents.iter().filter(|d| d.kind == "Cluster").collect();
    let [cluster] = clusters.as_slice() else {
        return Err(UserError::new(format!(
            "{}: expected one Cluster document for the spec changes, found {}",
            files.manifest.display(),
            clusters.len()
        )));
    };
    let name = cluster.name.clone();
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(UserError::new(format!(
            "{}: the Cluster's metadata.name {} cannot name a folder of the state store",
            files.manifest.display(),
            crate::text::shown_value(&name)
        )));
    }
    let mut new_groups: BTreeMap<String, Value> = BTreeMap::new();
    for d in documents.iter().filter(|d| d.kind == "InstanceGroup") {
        new_groups.insert(d.name.clone(), to_json(&d.value));
    }
    let folder = files.live.join(&name);
    if !files.live.is_dir() {
        return Err(UserError::new(format!(
            "{}: no copy of the state store here for the spec changes; copy the snapshot before `kops replace` writes into it (docs/review.md, \"kops spec changes\")",
            files.live.display()
        )));
    }
    let live_cluster = read_object(&folder.join("config"))?;
    let mut live_groups: BTreeMap<String, Value> = BTreeMap::new();
    let groups_dir = folder.join("instancegroup");
    match std::fs::read_dir(&groups_dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|e| {
                    UserError::new(format!("{}: cannot read: {e}", groups_dir.display()))
                })?;
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let group = entry.file_name().to_string_lossy().into_owned();
                if let Some(value) = read_object(&entry.path())? {
                    live_groups.insert(group, value);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(UserError::new(format!(
                "{}: cannot read: {e}",
                groups_dir.display()
            )));
        }
    }
    let mut diff = SpecDiff {
        cluster: name,
        cluster_new: live_cluster.is_none(),
        ..SpecDiff::default()
    };
    if let Some(live) = &live_cluster {
        let mut rows = Vec::new();
        let manifest_cluster = to_json(&cluster.value);
        compare_objects(live, &manifest_cluster, &mut rows);
        for (path, before, after) in rows {
            diff.changes.push(SpecChange {
                object: "Cluster".to_string(),
                path,
                before: before.map(|v| show(v, masks)),
                after: after.map(|v| show(v, masks)),
                rule: Rule::LaunchTemplates,
                groups: Vec::new(),
            });
        }
    }
    for (group, after) in &new_groups {
        let Some(before) = live_groups.get(group) else {
            diff.added.push(group.clone());
            continue;
        };
        let mut rows = Vec::new();
        compare_objects(before, after, &mut rows);
        for (path, before, after) in rows {
            let rule = if RESIZE_ONLY.contains(&path.as_str()) {
                Rule::Resize
            } else {
                Rule::OwnGroup
            };
            diff.changes.push(SpecChange {
                object: format!("InstanceGroup/{}", segment(group)),
                path,
                before: before.map(|v| show(v, masks)),
                after: after.map(|v| show(v, masks)),
                rule,
                groups: if rule == Rule::OwnGroup {
                    vec![group.clone()]
                } else {
                    Vec::new()
                },
            });
        }
    }
    diff.removed = live_groups
        .keys()
        .filter(|g| !new_groups.contains_key(*g))
        .cloned()
        .collect();
    Ok(diff)
}

/// A stored object, or `None` when the file does not exist.
fn read_object(path: &Path) -> Result<Option<Value>, UserError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(UserError::new(format!(
                "{}: cannot read: {e}",
                path.display()
            )));
        }
    };
    let value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        UserError::new(format!(
            "{}: not a kops object ({e}); the copy of the state store is damaged",
            path.display()
        ))
    })?;
    Ok(Some(to_json(&value)))
}

/// A YAML value as JSON; keys that are not strings are written as YAML would print them.
fn to_json(value: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim_end()
                            .to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => to_json(&tagged.value),
    }
}

type Row<'a> = (String, Option<&'a Value>, Option<&'a Value>);

/// The changed paths of two kops objects: everything but `apiVersion`, `kind`, `status` and the
/// server-managed metadata.
fn compare_objects<'a>(before: &'a Value, after: &'a Value, rows: &mut Vec<Row<'a>>) {
    for top in ["metadata", "spec"] {
        let (b, a) = (present(before.get(top)), present(after.get(top)));
        if top == "metadata" {
            let keys = union_keys(b, a);
            for key in keys
                .iter()
                .filter(|k| !SERVER_MANAGED.contains(&k.as_str()))
            {
                let mut path = top.to_string();
                push_key(&mut path, key);
                walk(
                    path,
                    b.and_then(|m| present(m.get(key.as_str()))),
                    a.and_then(|m| present(m.get(key.as_str()))),
                    rows,
                );
            }
        } else {
            walk(top.to_string(), b, a, rows);
        }
    }
}

/// `null` is no value: kops omits empty fields.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The keys of two maps: `after`'s in its order, then those only `before` has.
fn union_keys(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for side in [after, before].into_iter().flatten() {
        if let Value::Object(map) = side {
            for k in map.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys
}

fn walk<'a>(
    path: String,
    before: Option<&'a Value>,
    after: Option<&'a Value>,
    rows: &mut Vec<Row<'a>>,
) {
    match (before, after) {
        (None, None) => {}
        (Some(Value::Object(_)), Some(Value::Object(_))) => {
            for key in union_keys(before, after) {
                let mut p = path.clone();
                push_key(&mut p, &key);
                walk(
                    p,
                    before.and_then(|v| present(v.get(key.as_str()))),
                    after.and_then(|v| present(v.get(key.as_str()))),
                    rows,
                );
            }
        }
        (Some(Value::Array(b)), Some(Value::Array(a))) if b != a => {
            if let (Some(bn), Some(an)) = (names(b), names(a)) {
                // kops keys these lists by name (subnets, etcd clusters and members ...).
                let mut order: Vec<&str> = an.iter().map(|(n, _)| *n).collect();
                for (n, _) in &bn {
                    if !order.contains(n) {
                        order.push(n);
                    }
                }
                let find = |list: &[(&'a str, &'a Value)], n: &str| {
                    list.iter().find(|(m, _)| *m == n).map(|(_, v)| *v)
                };
                for n in order {
                    let p = format!("{path}[name={}]", segment(n));
                    walk(p, find(&bn, n), find(&an, n), rows);
                }
            } else if b.iter().chain(a).all(|v| !v.is_object() && !v.is_array()) {
                // A list of plain values is one value.
                rows.push((path, before, after));
            } else {
                for i in 0..b.len().max(a.len()) {
                    walk(
                        format!("{path}[{i}]"),
                        present(b.get(i)),
                        present(a.get(i)),
                        rows,
                    );
                }
            }
        }
        (Some(b), Some(a)) if b == a => {}
        _ => rows.push((path, before, after)),
    }
}

/// The elements of a list by their `name`, when every element is a map with a distinct string
/// `name`.
fn names(list: &[Value]) -> Option<Vec<(&str, &Value)>> {
    let mut out: Vec<(&str, &Value)> = Vec::with_capacity(list.len());
    for v in list {
        let n = v.get("name")?.as_str()?;
        if out.iter().any(|(m, _)| *m == n) {
            return None;
        }
        out.push((n, v));
    }
    (!out.is_empty()).then_some(out)
}

/// `.key`, or `["odd key"]` (JSON-quoted) when it is not a plain name.
fn push_key(path: &mut String, key: &str) {
    if plain(key) && !key.starts_with(|c: char| c.is_ascii_digit()) && !key.contains('.') {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&serde_json::to_string(key).unwrap_or_default());
        path.push(']');
    }
}

/// A name as it stands in a path: as it is when plain, JSON-quoted otherwise (so a newline, a
/// quote or a control character in a name never reaches the review as itself).
fn segment(name: &str) -> String {
    if plain(name) {
        name.to_string()
    } else {
        serde_json::to_string(name).unwrap_or_default()
    }
}

fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// A value as the review shows it: `(sensitive)` when it holds a secret of the run, a hash and a
/// size when long, else compact JSON (a newline is `\n` in it, never a line break).
fn show(value: &Value, masks: &Masks) -> Shown {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut secret = false;
    crate::redact::string_leaves(value, &mut |s| secret |= masks.is_match(s));
    if secret || masks.is_match(&text) {
        return Shown::Sensitive;
    }
    if text.chars().count() > LONG {
        let digest = Sha256::digest(text.as_bytes());
        return Shown::Blob {
            sha256: crate::text::hex(&digest[..6]),
            bytes: text.len(),
        };
    }
    Shown::Value(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(before: &str, after: &str) -> Vec<String> {
        let b: serde_yaml::Value = serde_yaml::from_str(before).unwrap();
        let a: serde_yaml::Value = serde_yaml::from_str(after).unwrap();
        let (b, a) = (to_json(&b), to_json(&a));
        let mut rows = Vec::new();
        compare_objects(&b, &a, &mut rows);
        rows.into_iter()
            .map(|(p, b, a)| {
                let s = |v: Option<&Value>| v.map_or("-".to_string(), |v| v.to_string());
                format!("{p}: {} -> {}", s(b), s(a))
            })
            .collect()
    }

    #[test]
    fn paths_in_kops_terms() {
        let before = "metadata:\n  name: c\n  creationTimestamp: x\n  generation: 3\nspec:\n  kubernetesVersion: 1.30.4\n  subnets:\n  - name: a\n    cidr: 10.0.0.0/24\n  - name: b\n    cidr: 10.0.1.0/24\n  zones: [a, b]\n  old: 1\n  hooks:\n  - before: x\n";
        let after = "metadata:\n  name: c\n  labels:\n    kops.k8s.io/cluster: c\nspec:\n  kubernetesVersion: 1.31.1\n  subnets:\n  - name: b\n    cidr: 10.0.2.0/24\n  - name: c\n    cidr: 10.0.3.0/24\n  zones: [a, b, c]\n  hooks:\n  - before: y\n  new: null\n";
        assert_eq!(
            diff(before, after),
            [
                r#"metadata.labels: - -> {"kops.k8s.io/cluster":"c"}"#,
                r#"spec.kubernetesVersion: "1.30.4" -> "1.31.1""#,
                r#"spec.subnets[name=b].cidr: "10.0.1.0/24" -> "10.0.2.0/24""#,
                r#"spec.subnets[name=c]: - -> {"name":"c","cidr":"10.0.3.0/24"}"#,
                r#"spec.subnets[name=a]: {"name":"a","cidr":"10.0.0.0/24"} -> -"#,
                r#"spec.zones: ["a","b"] -> ["a","b","c"]"#,
                r#"spec.hooks[0].before: "x" -> "y""#,
                r#"spec.old: 1 -> -"#,
            ]
        );
        assert!(diff(before, before).is_empty());
    }

    #[test]
    fn odd_keys_and_names_are_quoted() {
        let rows = diff(
            "spec:\n  nodeLabels:\n    a.b/c: x\n",
            "spec:\n  nodeLabels:\n    a.b/c: y\n    \"x\\ny\": z\n",
        );
        assert_eq!(
            rows,
            [
                r#"spec.nodeLabels["a.b/c"]: "x" -> "y""#,
                r#"spec.nodeLabels["x\ny"]: - -> "z""#
            ]
        );
        assert_eq!(segment("nodes"), "nodes");
        assert_eq!(segment("a`b|\n"), "\"a`b|\\n\"");
    }

    #[test]
    fn values_hide_secrets_and_long_text() {
        let redactor = crate::redact::Redactor::new(&[]);
        redactor.add("canary-s3cr3t-value".into());
        let masks = redactor.masks();
        let value: Value = serde_json::json!({"a": ["x", "p=canary-s3cr3t-value"]});
        assert_eq!(show(&value, &masks), Shown::Sensitive);
        assert_eq!(
            show(&Value::String("a\nb".into()), &masks),
            Shown::Value("\"a\\nb\"".into())
        );
        assert!(matches!(
            show(&Value::String("x".repeat(300)), &masks),
            Shown::Blob { bytes: 302, .. }
        ));
    }
}

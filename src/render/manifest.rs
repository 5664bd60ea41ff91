//! Checks a rendered kops manifest before kops sees it.
//!
//! kops accepts a multi-document YAML file of `Cluster`, `InstanceGroup` and `SSHCredential`
//! objects (`kops replace -f`). A template that renders a wrong cluster name or forgets the
//! `kops.k8s.io/cluster` label on an instance group produces a manifest kops either rejects late or,
//! worse, applies to the wrong cluster; these checks catch that with the document and line.

use serde_yaml::Value;

pub(crate) const API_VERSION: &str = "kops.k8s.io/v1alpha2";
/// The apiVersions kops replace reads a kops object from: kops decodes the group `kops.k8s.io`,
/// and rewrites the legacy group `kops/v1alpha2` to it on `apiVersion:` lines before decoding
/// (kops 1.36: pkg/kopscodecs/codecs.go, `Decode` and `rewriteAPIGroup`; only v1alpha2 is
/// rewritten, so `kops/v1alpha3` stays an unknown group). kopsform checks v1alpha2 objects.
const API_VERSIONS: &[&str] = &[API_VERSION, "kops/v1alpha2"];
pub(crate) const CLUSTER_LABEL: &str = "kops.k8s.io/cluster";
const KINDS: &[&str] = &["Cluster", "InstanceGroup", "SSHCredential"];

/// One document of the manifest, with the line it starts on.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub(crate) line: usize,
    /// The line of its `metadata.name` (the document's line when it cannot be found).
    pub(crate) name_line: usize,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) value: Value,
}

/// The parts kops reads one object from: kops normalises CRLF line ends and then splits the
/// file at `"\n---\n"` only, a line that is exactly `---` after a line break (kops:
/// util/pkg/text/text.go, `SplitContentToSections`, used by cmd/kops/replace.go). So `--- # x` or
/// `--- ` is no separator to kops, nor is a `---` on the first line. Each part is
/// (1-based first line, text).
fn kops_sections(text: &str) -> Vec<(usize, String)> {
    let normalized = text.replace("\r\n", "\n");
    let mut sections = Vec::new();
    let mut start = 1;
    for section in normalized.split("\n---\n") {
        let next = start + section.matches('\n').count() + 2;
        sections.push((start, section.to_string()));
        start = next;
    }
    sections
}

/// A YAML document marker at the start of `line` (`---` or `...`, then a blank or the end).
fn marker<'a>(line: &'a str, mark: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(mark)?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then(|| rest.trim())
}

/// Whether the rest of a marker line (after `---`) holds content, not only a comment.
fn has_content(rest: &str) -> bool {
    !rest.is_empty() && !rest.starts_with('#')
}

/// A line that is blank, a comment, or a bare `---`/`...` marker: no content.
fn is_empty_line(line: &str) -> bool {
    let t = line.trim();
    t.is_empty()
        || t.starts_with('#')
        || marker(line, "---").is_some_and(|rest| !has_content(rest))
        || marker(line, "...").is_some()
}

/// Where a second YAML document starts inside one of kops's parts: (0-based line in the part,
/// the marker line). kops decodes each part with a YAML reader that keeps the first document and
/// drops the rest without a word (kops: pkg/kopscodecs/codecs.go, `Decode`, through
/// sigs.k8s.io/yaml), so content after a `--- # comment` or a `...` line would never reach kops.
/// A marker with nothing after it (up to the part's end) drops nothing and is allowed.
fn second_document(section: &str) -> Option<(usize, &str)> {
    let mut content = false;
    let mut opened = false;
    let mut pending: Option<(usize, &str)> = None;
    for (i, line) in section.split('\n').enumerate() {
        if let Some(rest) = marker(line, "---") {
            if content || opened || pending.is_some() {
                let first = *pending.get_or_insert((i, line));
                if has_content(rest) {
                    return Some(first);
                }
            } else {
                opened = true;
                content = has_content(rest);
            }
        } else if marker(line, "...").is_some() {
            pending.get_or_insert((i, line));
        } else if !is_empty_line(line) {
            if pending.is_some() {
                return pending;
            }
            content = true;
        }
    }
    None
}

/// The first YAML document of a part, as kops reads it (the rest is empty: see
/// [`second_document`]).
fn first_document(chunk: &str) -> Result<Value, serde_yaml::Error> {
    use serde::Deserialize;
    match serde_yaml::Deserializer::from_str(chunk).next() {
        Some(document) => Value::deserialize(document),
        None => Ok(Value::Null),
    }
}

/// Whether a part holds nothing but blank lines, comments and bare markers: kops decodes it to
/// nothing and fails (`Object 'Kind' is missing in 'null'`).
fn is_blank(chunk: &str) -> bool {
    chunk.split('\n').all(is_empty_line)
}

/// The line of a part's first content (its YAML document), after blank lines, comments and a
/// leading `---`.
fn content_line(start: usize, chunk: &str) -> usize {
    start + chunk.split('\n').take_while(|l| is_empty_line(l)).count()
}

/// Parses and checks the manifest for cluster `cluster_name`. Errors name the line.
///
/// A manifest that passed is remembered for the rest of the process (its text and cluster name,
/// compared whole): a run checks the same text again when one task renders the manifest and a
/// later one (`prune-instancegroups`) reads the file back, and parsing it is most of the check
/// (issue 19: 1.4 M instructions for the sandbox's manifest, per cluster and run).
pub(crate) fn check(text: &str, cluster_name: &str) -> Result<Vec<Document>, String> {
    use std::sync::Mutex;
    /// Texts up to this size are remembered, at most [`KEPT`] of them (the oldest is let go):
    /// enough for the clusters `--jobs` runs at once, each checking its manifest twice.
    const KEEP_BELOW: usize = 256 << 10;
    const KEPT: usize = 16;
    type Passed = (String, String, Vec<Document>);
    static PASSED: Mutex<Vec<Passed>> = Mutex::new(Vec::new());
    if let Ok(passed) = PASSED.lock()
        && let Some((_, _, documents)) = passed
            .iter()
            .find(|(t, c, _)| t == text && c == cluster_name)
    {
        return Ok(documents.clone());
    }
    let documents = check_uncached(text, cluster_name)?;
    if text.len() < KEEP_BELOW
        && let Ok(mut passed) = PASSED.lock()
    {
        if passed.len() >= KEPT {
            passed.remove(0);
        }
        passed.push((
            text.to_string(),
            cluster_name.to_string(),
            documents.clone(),
        ));
    }
    Ok(documents)
}

fn check_uncached(text: &str, cluster_name: &str) -> Result<Vec<Document>, String> {
    let mut documents = Vec::new();
    let sections = kops_sections(text);
    for (index, (line, chunk)) in sections.iter().enumerate() {
        let (line, chunk) = (*line, chunk.as_str());
        if let Some((at, marker_line)) = second_document(chunk) {
            return Err(second_document_message(line + at, marker_line));
        }
        if sections.len() == 1 && is_blank(chunk) {
            break; // nothing at all: "no Cluster document" below says what to add
        }
        if index == 0 && is_blank(chunk) {
            let separator = line + chunk.matches('\n').count() + 1;
            return Err(format!(
                "{line}: only comments or blank lines before the `---` on line {separator}; kops replace splits a manifest at every `---` line that follows a line break (kops: util/pkg/text/text.go) and rejects the part above it, which holds no object (Object 'Kind' is missing in 'null'): remove the `---` on line {separator}, or put the comments below it"
            ));
        }
        let value: Value = first_document(chunk).map_err(|e| match e.location() {
            Some(loc) => format!(
                "{}:{}: invalid YAML: {}; fix the template so that it renders valid YAML (docs/templates.md, YAML safety)",
                line + loc.line() - 1,
                loc.column(),
                strip_position(&e.to_string())
            ),
            None => format!(
                "{line}: invalid YAML: {e}; fix the template so that it renders valid YAML (docs/templates.md, YAML safety)"
            ),
        })?;
        if value.is_null() {
            // kops replace fails on an empty document (`Object 'Kind' is missing in 'null'`).
            if is_blank(chunk) {
                return Err(format!(
                    "{line}: an empty document (a stray `---`?); kops replace rejects empty documents, so remove the separator from the template"
                ));
            }
            return Err(format!(
                "{line}: a document must be a mapping, not null; remove it from the template"
            ));
        }
        documents.push(check_document(line, chunk, value)?);
    }
    let clusters: Vec<&Document> = documents.iter().filter(|d| d.kind == "Cluster").collect();
    match clusters.as_slice() {
        [] => {
            return Err(format!(
                "no Cluster document; add exactly one `kind: Cluster` document named `{cluster_name}` to the template"
            ));
        }
        [one] if one.name != cluster_name => {
            return Err(format!(
                "{}: the Cluster is named `{}` but this run acts on cluster `{cluster_name}`; fix metadata.name in the template or [cluster] name",
                one.name_line, one.name
            ));
        }
        [_] => {}
        [_, second, ..] => {
            return Err(format!(
                "{}: a second Cluster document; one manifest describes exactly one cluster: remove this one from the template",
                second.line
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for doc in &documents {
        if !seen.insert((doc.kind.clone(), doc.name.clone())) {
            return Err(format!(
                "{}: {} `{}` appears twice; each object once: remove this one from the template",
                doc.line, doc.kind, doc.name
            ));
        }
        if doc.kind == "InstanceGroup" {
            let label = doc
                .value
                .get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(|l| l.get(CLUSTER_LABEL))
                .and_then(Value::as_str);
            match label {
                Some(l) if l == cluster_name => {}
                Some(l) => {
                    return Err(format!(
                        "{}: InstanceGroup `{}` is labelled {CLUSTER_LABEL}: {l}, not {cluster_name}; kops would attach it to another cluster: set `{CLUSTER_LABEL}: {cluster_name}`",
                        doc.line, doc.name
                    ));
                }
                None => {
                    return Err(format!(
                        "{}: InstanceGroup `{}` has no metadata.labels.\"{CLUSTER_LABEL}\"; add `{CLUSTER_LABEL}: {cluster_name}`",
                        doc.line, doc.name
                    ));
                }
            }
        }
    }
    Ok(documents)
}

/// The `spec` of the manifest's Cluster document, if it has one.
pub(crate) fn cluster_spec(documents: &[Document]) -> Option<&Value> {
    documents
        .iter()
        .find(|d| d.kind == "Cluster")
        .and_then(|d| d.value.get("spec"))
}

/// A Cluster spec's `configBase`, if set.
pub(crate) fn config_base(spec: &Value) -> Option<&str> {
    spec.get("configBase").and_then(Value::as_str)
}

/// A document's `kind`, or `""`.
pub(crate) fn kind(value: &Value) -> String {
    value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A document's `metadata.name`, or `""`.
pub(crate) fn metadata_name(value: &Value) -> String {
    value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Parses a manifest without checking it: every document that is a mapping with a `kind`.
pub(crate) fn parse_loose(text: &str) -> Vec<Document> {
    kops_sections(text)
        .into_iter()
        .filter_map(|(start, chunk)| {
            let line = content_line(start, &chunk);
            let value: Value = first_document(&chunk).ok()?;
            let kind = value.get("kind")?.as_str()?.to_string();
            let name = metadata_name(&value);
            Some(Document {
                line,
                name_line: name_line(start, &chunk).unwrap_or(line),
                kind,
                name,
                value,
            })
        })
        .collect()
}

/// Prepares a manifest for an isolated dry run: the Cluster's `spec.configBase` is set to the live
/// one (kops writes keys and secrets there and bakes it into launch templates, so a snapshot path
/// would both miss the keys and change the plan), and SSHCredential documents are left out
/// (`kops replace` writes them under configBase, i.e. live). Returns the new text when anything
/// changed, and how many documents were left out.
pub(crate) fn isolate(
    documents: &[Document],
    live_config_base: &str,
) -> Result<(Option<String>, usize), String> {
    let current = cluster_spec(documents).and_then(config_base);
    let dropped = documents
        .iter()
        .filter(|d| d.kind == "SSHCredential")
        .count();
    if current.map(|c| c.trim_end_matches('/')) == Some(live_config_base) && dropped == 0 {
        return Ok((None, 0));
    }
    let mut out = String::new();
    for doc in documents.iter().filter(|d| d.kind != "SSHCredential") {
        let mut value = doc.value.clone();
        if doc.kind == "Cluster"
            && let Some(spec) = value.get_mut("spec").and_then(Value::as_mapping_mut)
        {
            spec.insert(
                Value::String("configBase".into()),
                Value::String(live_config_base.to_string()),
            );
        }
        if !out.is_empty() {
            out.push_str("---\n");
        }
        // Written so that kops's YAML 1.1 parser reads every value back as it was (serde_yaml
        // writes `on`, `yes` or `1_000` unquoted, which YAML 1.1 reads as a boolean or a number).
        let json = serde_json::to_value(&value).map_err(|e| {
            format!("the manifest cannot be written again for the isolated run: {e}")
        })?;
        out.push_str(&super::yaml_out::to_yaml(&json));
        out.push('\n');
    }
    Ok((Some(out), dropped))
}

/// `text` with `metadata.creationTimestamp` of each Cluster and InstanceGroup that has none set to
/// the stored object's (`stored`: (kind, name) -> timestamp; the Cluster's name is empty), when
/// any is set. kops gives an object replaced without one the current time
/// (pkg/client/simple/vfsclientset/commonvfs.go, `update`), and `kops update cluster` writes it
/// into cluster-completed.spec, a managed file of kubernetes.tf: without this, every run would plan
/// a change of that file though nothing changed. Only a block `metadata:` line at the start of a
/// line is handled; a timestamp that is not RFC 3339 is ignored.
pub(crate) fn pin_timestamps(
    text: &str,
    documents: &[Document],
    stored: &[((String, String), String)],
) -> Option<String> {
    let rfc3339 = |t: &str| {
        let b = t.as_bytes();
        b.len() >= 20
            && t.is_char_boundary(19)
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && t[..19].bytes().filter(u8::is_ascii_digit).count() == 14
            && t[19..]
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'Z' | b'+' | b'-' | b':'))
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // (line index to insert after, line) in reverse order of position.
    let mut inserts = Vec::new();
    for (i, doc) in documents.iter().enumerate() {
        if doc.value["metadata"].get("creationTimestamp").is_some() {
            continue;
        }
        let name = if doc.kind == "Cluster" {
            String::new()
        } else {
            doc.name.clone()
        };
        let Some((_, ts)) = stored
            .iter()
            .find(|((k, n), t)| *k == doc.kind && *n == name && rfc3339(t))
        else {
            continue;
        };
        let end = documents.get(i + 1).map_or(lines.len(), |d| d.line - 1);
        let start = doc.line.saturating_sub(1);
        let Some(at) = (start..end.min(lines.len())).find(|&l| {
            let line = lines[l].split(" #").next().unwrap_or("").trim_end();
            line == "metadata:"
        }) else {
            continue;
        };
        let indent = lines[at + 1..end.min(lines.len())]
            .iter()
            .find(|l| !l.trim().is_empty())
            .map_or(2, |l| l.len() - l.trim_start().len())
            .max(1);
        inserts.push((
            at,
            format!("{}creationTimestamp: \"{ts}\"", " ".repeat(indent)),
        ));
    }
    if inserts.is_empty() {
        return None;
    }
    inserts.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for (at, line) in inserts {
        lines.insert(at + 1, line);
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

/// The refusal of a `---`/`...` line kops would not split at, with the content after it.
fn second_document_message(line: usize, marker_line: &str) -> String {
    if marker(marker_line, "...").is_some() {
        format!(
            "{line}: `{marker_line}` ends a YAML document and more follows; kops replace reads one document from each part between `---` lines and silently drops the rest (kops: util/pkg/text/text.go, pkg/kopscodecs/codecs.go), so what follows would never reach kops: remove the `...` line"
        )
    } else {
        format!(
            "{line}: `{marker_line}` starts a second YAML document, but kops replace splits a manifest only at lines that are exactly `---` (kops: util/pkg/text/text.go) and reads one document from each part, so it would silently drop everything from here to the next `---` line: write the separator as `---` alone on its line (a comment goes on the line below)"
        )
    }
}

/// Checks one document of the part that starts on line `start`; each error names the line at
/// fault (the `apiVersion:` line for a wrong apiVersion), or the document's first line.
fn check_document(start: usize, chunk: &str, value: Value) -> Result<Document, String> {
    let line = content_line(start, chunk);
    if !value.is_mapping() {
        return Err(format!(
            "{line}: a document must be a mapping with apiVersion, kind, metadata and spec"
        ));
    }
    let at = |key: &str| key_line(start, chunk, key).unwrap_or(line);
    let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
    let api = field("apiVersion");
    if !api.as_deref().is_some_and(|a| API_VERSIONS.contains(&a)) {
        return Err(format!(
            "{}: apiVersion is {}; set `apiVersion: {API_VERSION}`, the version kops replace reads",
            at("apiVersion"),
            api.map_or("missing".to_string(), |a| format!("`{a}`"))
        ));
    }
    let kind = field("kind").unwrap_or_default();
    if !KINDS.contains(&kind.as_str()) {
        return Err(format!(
            "{}: kind `{kind}` is not one kops replace accepts; use Cluster, InstanceGroup or SSHCredential",
            at("kind")
        ));
    }
    let name = metadata_name(&value);
    if name.is_empty() {
        return Err(format!(
            "{}: {kind} has no metadata.name; add one",
            at("metadata")
        ));
    }
    Ok(Document {
        line,
        name_line: name_line(start, chunk).unwrap_or(line),
        kind,
        name,
        value,
    })
}

/// The line of the top-level (block-style) `key:` of the part that starts on line `start`.
fn key_line(start: usize, chunk: &str, key: &str) -> Option<usize> {
    chunk
        .split('\n')
        .position(|l| is_key(l, key))
        .map(|i| start + i)
}

/// Whether `line` is the unindented `key:` (plain or quoted) of a block mapping.
fn is_key(line: &str, key: &str) -> bool {
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            line.strip_prefix(k.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
}

/// The line of `name:` inside the top-level `metadata:` block of the part that starts on `start`.
fn name_line(start: usize, chunk: &str) -> Option<usize> {
    let lines: Vec<&str> = chunk.split('\n').collect();
    let metadata = lines.iter().position(|l| is_key(l, "metadata"))?;
    let block: Vec<&str> = lines[metadata + 1..]
        .iter()
        .copied()
        .take_while(|l| l.starts_with(' ') || is_empty_line(l))
        .collect();
    let indent = block
        .iter()
        .find(|l| !is_empty_line(l))
        .map(|l| l.len() - l.trim_start().len())?;
    block
        .iter()
        .position(|l| l.len() - l.trim_start().len() == indent && is_key(&l[indent..], "name"))
        .map(|i| start + metadata + 1 + i)
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  name: c.example.com
spec: {}
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: nodes
  labels:
    kops.k8s.io/cluster: c.example.com
spec: {}
";

    #[test]
    fn a_manifest_checked_again_gives_the_same_answer_for_its_own_cluster_only() {
        let text = GOOD.replace("nodes", "nodes-again");
        let first = check(&text, "c.example.com").unwrap();
        let again = check(&text, "c.example.com").unwrap();
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        // Remembered for its cluster name: for another cluster the same text still fails.
        let other = check(&text, "d.example.com").unwrap_err();
        assert!(
            other.contains("this run acts on cluster `d.example.com`"),
            "{other}"
        );
        // And a text that differs by one byte is checked anew.
        let changed = text.replace("kind: InstanceGroup", "kind: InstanceGroupX");
        assert!(
            check(&changed, "c.example.com")
                .unwrap_err()
                .contains("InstanceGroupX")
        );
    }

    #[test]
    fn a_good_manifest_passes() {
        let docs = check(GOOD, "c.example.com").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line, 7);
        // A `---` on the first line is no separator to kops: the part is one document.
        let docs = check(&format!("---\n{GOOD}"), "c.example.com").unwrap();
        assert_eq!((docs[0].line, docs[1].line), (2, 8));
        // Nor is a `--- # x` with only comments above it.
        let docs = check(&format!("# header\n--- # x\n{GOOD}"), "c.example.com").unwrap();
        assert_eq!((docs[0].line, docs.len()), (3, 2));
        // CRLF line ends are split as kops splits them, and a bare marker at the very end drops
        // nothing.
        let docs = check(&format!("{GOOD}---").replace('\n', "\r\n"), "c.example.com").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            check(&format!("{GOOD}...\n"), "c.example.com")
                .unwrap()
                .len(),
            2
        );
    }

    /// kops splits only at exact `---` lines (util/pkg/text/text.go) and keeps the first YAML
    /// document of each part: what it would drop or reject is refused, naming the line.
    #[test]
    fn what_kops_would_split_otherwise_is_refused() {
        let commented = GOOD.replace("spec: {}\n---\n", "spec: {}\n--- # the nodes\n");
        assert_eq!(
            check(&commented, "c.example.com").unwrap_err(),
            "6: `--- # the nodes` starts a second YAML document, but kops replace splits a manifest only at lines that are exactly `---` (kops: util/pkg/text/text.go) and reads one document from each part, so it would silently drop everything from here to the next `---` line: write the separator as `---` alone on its line (a comment goes on the line below)"
        );
        let trailing_blank = GOOD.replace("spec: {}\n---\n", "spec: {}\n--- \n");
        assert!(
            check(&trailing_blank, "c.example.com")
                .unwrap_err()
                .starts_with("6: `--- ` starts a second YAML document"),
        );
        let ended = GOOD.replace("spec: {}\n---\n", "spec: {}\n...\n");
        assert!(
            check(&ended, "c.example.com")
                .unwrap_err()
                .starts_with("6: `...` ends a YAML document and more follows"),
        );
        assert_eq!(
            check(&format!("# header\n\n---\n{GOOD}"), "c.example.com").unwrap_err(),
            "1: only comments or blank lines before the `---` on line 3; kops replace splits a manifest at every `---` line that follows a line break (kops: util/pkg/text/text.go) and rejects the part above it, which holds no object (Object 'Kind' is missing in 'null'): remove the `---` on line 3, or put the comments below it"
        );
        assert!(
            check(&format!("\n---\n{GOOD}"), "c.example.com")
                .unwrap_err()
                .starts_with("1: only comments or blank lines before the `---` on line 2;"),
        );
    }

    #[test]
    fn kops_sections_are_numbered_by_their_first_line() {
        assert_eq!(
            kops_sections("a\n---\nb\nc\n---\n--- # d\ne"),
            [
                (1, "a".to_string()),
                (3, "b\nc".to_string()),
                (6, "--- # d\ne".to_string())
            ]
        );
        assert_eq!(second_document("a: 1\n--- # x\n# y\n"), None);
        assert_eq!(
            second_document("a: 1\n--- # x\n# y\nb: 2"),
            Some((1, "--- # x"))
        );
        assert_eq!(second_document("a: 1\n--- b: 2"), Some((1, "--- b: 2")));
        assert_eq!(second_document("---\n---\na: 1"), Some((1, "---")));
        assert_eq!(second_document("  ---\na: |\n  ---\n"), None);
    }

    #[test]
    fn the_real_kops_fixtures_pass() {
        for (dir, name) in [
            ("minimal-aws", "minimal-aws.example.com"),
            ("ha", "ha.example.com"),
            ("complex", "complex.example.com"),
        ] {
            let path = format!(
                "{}/../shared/fixtures/kops/{dir}/in-v1alpha2.yaml",
                env!("CARGO_MANIFEST_DIR")
            );
            if let Ok(text) = std::fs::read_to_string(&path) {
                let docs = check(&text, name).unwrap_or_else(|e| panic!("{dir}: {e}"));
                assert!(docs.len() >= 2, "{dir}");
            }
        }
    }

    #[test]
    fn isolation_keeps_the_live_config_base_and_drops_ssh_credentials() {
        let text = GOOD.replace(
            "spec: {}\n---",
            "spec:\n  configBase: /snap/c.example.com\n---",
        );
        let text = format!(
            "{text}---\napiVersion: kops.k8s.io/v1alpha2\nkind: SSHCredential\nmetadata:\n  name: admin\n  labels:\n    kops.k8s.io/cluster: c.example.com\nspec: {{}}\n"
        );
        let docs = check(&text, "c.example.com").unwrap();
        let (isolated, dropped) = isolate(&docs, "s3://live/c.example.com").unwrap();
        let isolated = isolated.unwrap();
        assert_eq!(dropped, 1);
        assert!(
            isolated.contains("configBase: s3://live/c.example.com"),
            "{isolated}"
        );
        let again = check(&isolated, "c.example.com").unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(
            isolate(&again, "s3://live/c.example.com").unwrap(),
            (None, 0)
        );
    }

    #[test]
    fn an_isolated_manifest_keeps_strings_that_yaml_1_1_would_read_otherwise() {
        let text = GOOD.replace(
            "spec: {}\n---",
            "spec:\n  configBase: /snap/c.example.com\n  cloudLabels:\n    team: \"on\"\n    cost: \"1_000\"\n    y: \"yes\"\n---",
        );
        let docs = check(&text, "c.example.com").unwrap();
        let (isolated, _) = isolate(&docs, "s3://live/c.example.com").unwrap();
        let isolated = isolated.unwrap();
        for quoted in ["team: \"on\"", "cost: \"1_000\"", "\"y\": \"yes\""] {
            assert!(isolated.contains(quoted), "{quoted} in\n{isolated}");
        }
        let again = check(&isolated, "c.example.com").unwrap();
        assert_eq!(
            again[0].value["spec"]["cloudLabels"],
            docs[0].value["spec"]["cloudLabels"]
        );
    }

    #[test]
    fn stored_creation_timestamps_are_kept() {
        let docs = check(GOOD, "c.example.com").unwrap();
        let stored = vec![
            (
                ("Cluster".to_string(), String::new()),
                "2026-01-02T03:04:05Z".to_string(),
            ),
            (
                ("InstanceGroup".to_string(), "nodes".to_string()),
                "2026-01-02T03:04:06Z".to_string(),
            ),
            (
                ("InstanceGroup".to_string(), "other".to_string()),
                "2026-01-02T03:04:07Z".to_string(),
            ),
        ];
        let pinned = pin_timestamps(GOOD, &docs, &stored).unwrap();
        let again = check(&pinned, "c.example.com").unwrap();
        assert_eq!(
            again[0].value["metadata"]["creationTimestamp"],
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            again[1].value["metadata"]["creationTimestamp"],
            "2026-01-02T03:04:06Z"
        );
        assert_eq!(
            again[1].value["metadata"]["labels"],
            docs[1].value["metadata"]["labels"]
        );
        // Already pinned, nothing to do; a timestamp that is not one is ignored.
        assert_eq!(pin_timestamps(&pinned, &again, &stored), None);
        let bad = vec![(
            ("Cluster".to_string(), String::new()),
            "x\n  evil: 1".to_string(),
        )];
        assert_eq!(pin_timestamps(GOOD, &docs, &bad), None);
    }

    #[test]
    fn the_legacy_kops_group_is_accepted_as_kops_rewrites_it() {
        let legacy = GOOD.replace("kops.k8s.io/v1alpha2", "kops/v1alpha2");
        let docs = check(&legacy, "c.example.com").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn every_check_names_its_line() {
        let cases = [
            (
                GOOD.replace("c.example.com\nspec", "other\nspec"),
                "4: the Cluster is named `other`",
            ),
            (
                GOOD.replace("    kops.k8s.io/cluster: c.example.com\n", ""),
                "7: InstanceGroup `nodes` has no",
            ),
            (
                GOOD.replace("cluster: c.example.com", "cluster: x"),
                "7: InstanceGroup `nodes` is labelled",
            ),
            (
                GOOD.replace("kind: InstanceGroup", "kind: Pod"),
                "8: kind `Pod`",
            ),
            (
                GOOD.replacen("kops.k8s.io/v1alpha2", "v1", 1),
                "1: apiVersion is `v1`",
            ),
            // Issue 18: the apiVersion line, not the document's first line.
            (
                GOOD.replace(
                    "---\napiVersion: kops.k8s.io/v1alpha2",
                    "---\n# nodes\napiVersion: kops/v1alpha3",
                ),
                "8: apiVersion is `kops/v1alpha3`",
            ),
            (
                GOOD.replace("\n  name: nodes", "\n  labels2: {}"),
                "9: InstanceGroup has no metadata.name",
            ),
            (
                GOOD.replace("kind: Cluster", "kind: InstanceGroup"),
                "no Cluster document",
            ),
            (format!("{GOOD}---\n{GOOD}"), "second Cluster"),
            (
                GOOD.replace("spec: {}\n---", "spec: {}\nspec: {}\n---"),
                "duplicate",
            ),
            (
                GOOD.replace("  name: nodes", "  name: nodes\n  bad: [1"),
                "invalid YAML",
            ),
        ];
        for (text, want) in cases {
            let err = check(&text, "c.example.com").unwrap_err();
            assert!(err.contains(want), "want {want:?} in {err:?}");
        }
    }
}

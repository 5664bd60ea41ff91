//! JSON: the review for tools (schema in docs/review.md), every row included, written as it is
//! produced: the changes come one at a time from the plan's second pass and each is serialized and
//! dropped, so a plan of any size is never held as one JSON value (issue 19: the whole-document
//! `Value` of a 22 MB plan peaked at 714 MB). Everything else (counts, drift, outputs) is small.

use std::io::Write;

use serde::ser::Serialize;
use serde_json::{Value, json};

use crate::atomic::WriteError;
use crate::error::UserError;
use crate::plan::summary::{AttributeChange, ResourceChange, Shown};
use crate::redact::Masks;
use crate::text::json_str;
use crate::tools::kops::GroupStatus;

use super::filediff;
use super::report::{Review, launch_template_changes};
use super::spec::SpecDiff;
use super::words::{Style, reasons, rolling_verdict};

/// Version of the JSON output's schema (docs/review.md); bumped only for incompatible changes.
pub(crate) const JSON_SCHEMA_VERSION: u32 = 1;

/// The review as JSON text, unmasked (tests and fuzzing; the command streams with [`write_json`]).
pub(crate) fn render_json(review: &Review) -> Result<String, UserError> {
    let mut out = Vec::new();
    match write_json(review, &Masks::default(), &mut out) {
        Ok(()) => Ok(String::from_utf8(out).unwrap_or_default()),
        Err(WriteError::Source(e)) => Err(e),
        Err(WriteError::Io(e)) => Err(UserError::new(e.to_string())),
    }
}

/// Writes the review as JSON (schema in docs/review.md) to `w`, pretty-printed with a final
/// newline, every string with a secret of `masks` masked (keys too: see [`Masks::mask_json`]).
/// Each change is built, masked, written and dropped in turn.
pub(crate) fn write_json(
    review: &Review,
    masks: &Masks,
    w: &mut dyn Write,
) -> Result<(), WriteError> {
    let document = Document { review, masks };
    // Many small pieces are written: a buffer of a known type takes them without a call through
    // `dyn Write` each (issue 19). Twice the size of the review's own stdout buffer: what it
    // hands on at a time is then larger than that buffer, which passes it on without a copy.
    let mut out = std::io::BufWriter::with_capacity(128 * 1024, &mut *w);
    document.write(&mut out)?;
    out.write_all(b"}\n")?;
    out.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

type Out<'w> = std::io::BufWriter<&'w mut dyn Write>;

/// A JSON list of `items`, each made by `make` when the serializer reaches it, so that the list's
/// values never all exist at once. Serialized as the `Vec<Value>` of them is (serde's
/// `collect_seq` of an iterator of known length), and masking a list masks each element on its
/// own, so the text is the same.
struct Each<'a, T, F>(&'a [T], F);

/// [`Each`] of `items` (a function, for the closure's argument type).
fn each<T, F: Fn(&T) -> Value>(items: &[T], make: F) -> Each<'_, T, F> {
    Each(items, make)
}

impl<T, F: Fn(&T) -> Value> Serialize for Each<'_, T, F> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(&self.1))
    }
}

/// The whole document, written field by field in the schema's order.
struct Document<'a> {
    review: &'a Review,
    masks: &'a Masks,
}

impl Document<'_> {
    fn masked(&self, mut value: Value) -> Value {
        self.masks.mask_json(&mut value);
        value
    }

    /// A member of the document (`,` before all but the first) and its value, pretty-printed
    /// one level deep as serde_json's pretty printer would print it inside the document.
    fn entry(
        out: &mut Out,
        first: bool,
        key: &str,
        value: &impl Serialize,
    ) -> Result<(), WriteError> {
        let mut head = Vec::with_capacity(key.len() + 8);
        if !first {
            head.push(b',');
        }
        head.extend_from_slice(b"\n  ");
        json_str(&mut head, key);
        head.extend_from_slice(b": ");
        out.write_all(&head)?;
        pretty_at(out, 1, value)
    }

    /// Everything but the closing brace of the document.
    fn write(&self, out: &mut Out) -> Result<(), WriteError> {
        let review = self.review;
        let s = &review.summary;
        let c = &s.counts;
        out.write_all(b"{")?;
        Self::entry(out, true, "kopsform_review", &JSON_SCHEMA_VERSION)?;
        if let Some(layer) = &review.part {
            Self::entry(out, false, "layer", &self.masked(json!(layer)))?;
        }
        Self::entry(out, false, "cluster", &self.masked(json!(review.cluster)))?;
        Self::entry(
            out,
            false,
            "format_version",
            &self.masked(json!(s.format_version)),
        )?;
        Self::entry(
            out,
            false,
            "terraform_version",
            &self.masked(json!(s.terraform_version)),
        )?;
        Self::entry(out, false, "headline", &self.masked(json!(s.headline())))?;
        Self::entry(
            out,
            false,
            "counts",
            &json!({
                "import": c.import,
                "add": c.add,
                "change": c.change,
                "destroy": c.destroy,
                "forget": c.forget,
                "move": c.moved,
                "read": c.read,
                "invoke": c.invoke,
            }),
        )?;
        Self::entry(out, false, "exit_status", &review.exit_status)?;
        Self::entry(out, false, "errored", &s.errored)?;
        Self::entry(out, false, "deferred", &s.deferred)?;
        // The lists that can be as long as the plan (protected changes, drift) are written an
        // element at a time, each made and masked as its turn comes (issue 19's peak memory).
        let protected = each(&review.protected, |p| {
            self.masked(
                json!({"address": p.address, "action": p.action.as_str(), "reason": p.reason}),
            )
        });
        Self::entry(out, false, "protected", &protected)?;
        Self::entry(out, false, "policy_rules", &review.policy_rules)?;
        let policy = each(&review.violations, |v| {
            self.masked(json!({"id": v.id, "message": v.message, "document": v.document, "path": v.path, "actual": v.actual}))
        });
        Self::entry(out, false, "policy", &policy)?;
        out.write_all(b",\n  \"changes\": ")?;
        self.write_changes(out)?;
        let drift = each(&s.drift, |c| {
            self.masked(change_json(c, &c.attributes, &[]))
        });
        Self::entry(out, false, "drift", &drift)?;
        let outputs = each(&s.outputs, |o| {
            self.masked(json!({
                "name": o.name,
                "actions": o.actions,
                "action": o.action.label(),
                "sensitive": o.sensitive,
                "before": o.before.as_ref().map(Shown::to_string),
                "after": o.after.as_ref().map(Shown::to_string),
            }))
        });
        Self::entry(out, false, "outputs", &outputs)?;
        let variables = each(&s.variables, |v| {
            self.masked(
                json!({"name": v.name, "sensitive": v.sensitive, "value": v.value.to_string()}),
            )
        });
        Self::entry(out, false, "variables", &variables)?;
        let rolling = review.rolling_update.as_ref().map(|groups| {
            json!({
                "needs_update": groups.iter().any(GroupStatus::needs_update),
                "verdict": rolling_verdict(groups, Style::Plain),
                "groups": groups.iter().map(|g| json!({
                    "name": g.name,
                    "status": g.status,
                    "need_update": g.need_update,
                    "ready": g.ready,
                    "min": g.min,
                    "target": g.target,
                    "max": g.max,
                    "nodes": g.nodes,
                    "needs_update": g.needs_update(),
                })).collect::<Vec<_>>(),
            })
        });
        Self::entry(out, false, "rolling_update", &self.masked(json!(rolling)))?;
        // One per launch template a plan changes: made as they are written, as the lists above.
        let launch_templates = launch_template_changes(review);
        let launch_templates = each(&launch_templates, |(group, address)| {
            self.masked(json!({"instance_group": group, "address": address}))
        });
        Self::entry(out, false, "launch_template_changes", &launch_templates)?;
        let spec = review.spec.as_ref().map(spec_json);
        Self::entry(out, false, "spec", &self.masked(json!(spec)))?;
        if let Some(d) = &review.deferred {
            let deferred = json!({"plan": d.plan, "outputs": d.outputs, "reason": d.reason()});
            Self::entry(out, false, "cluster_plan_deferred", &self.masked(deferred))?;
        }
        if let Some(part) = &review.prerequisites {
            // A small layer's plan: written whole, then nested one level deeper.
            let mut text = Vec::new();
            write_json(part, self.masks, &mut text)?;
            let value: Value = serde_json::from_slice(&text).map_err(|e| {
                WriteError::Source(UserError::new(format!(
                    "cannot nest the prerequisites' review: {e}"
                )))
            })?;
            Self::entry(out, false, "prerequisites", &value)?;
        }
        out.write_all(b"\n")?;
        Ok(())
    }

    /// The `changes` list: each change with its attribute rows (from the second pass when the
    /// review has one) and its protection, written as it comes.
    fn write_changes(&self, out: &mut Out) -> Result<(), WriteError> {
        let review = self.review;
        let changes = &review.summary.changes;
        let mut first = true;
        let mut text = Vec::with_capacity(4096);
        let mut scratch = String::new();
        let mut failed: Option<WriteError> = None;
        let mut one = |i: usize, rows: &[AttributeChange]| -> bool {
            let change = &changes[i];
            let protected = review.protection.get(i).and_then(Option::as_ref);
            let decoded: Vec<(&str, Value)> = filediff::files_of(review, i)
                .iter()
                .map(|f| (f.attribute, filediff::decoded_json(review, f)))
                .collect();
            text.clear();
            text.extend_from_slice(if first { b"[\n    " } else { b",\n    " });
            first = false;
            if self.masks.is_empty() {
                // Nothing to mask: written from the change itself, without a `Value` of it.
                write_change(&mut text, &mut scratch, change, rows, &decoded, protected);
            } else {
                let mut v = change_json(change, rows, &decoded);
                if let Value::Object(map) = &mut v {
                    map.insert("protected".into(), json!(protected.is_some()));
                    map.insert("protected_reason".into(), json!(protected));
                }
                if let Err(e) = pretty_at(&mut text, 2, &self.masked(v)) {
                    failed = Some(e);
                    return false;
                }
            }
            match out.write_all(&text) {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e.into());
                    false
                }
            }
        };
        match &review.rows {
            None => {
                for (i, change) in changes.iter().enumerate() {
                    if !one(i, &change.attributes) {
                        break;
                    }
                }
            }
            Some(rows) => rows.each(changes, &mut |i, rows| one(i, rows))?,
        }
        if let Some(e) = failed {
            return Err(e);
        }
        out.write_all(if first { b"[]" } else { b"\n  ]" })?;
        Ok(())
    }
}

/// The kops spec changes (docs/review.md, "The JSON").
fn spec_json(spec: &SpecDiff) -> Value {
    json!({
        "changed": !spec.is_empty(),
        "cluster": spec.cluster,
        "cluster_new": spec.cluster_new,
        "added_instance_groups": spec.added,
        "removed_instance_groups": spec.removed,
        "changes": spec.changes.iter().map(|c| json!({
            "object": c.object,
            "path": c.path,
            "full_path": SpecDiff::full_path(c),
            "before": c.before.as_ref().map(Shown::to_string),
            "after": c.after.as_ref().map(Shown::to_string),
            "rolling_update": c.groups,
            "rolling_rule": c.rule.as_str(),
        })).collect::<Vec<_>>(),
    })
}

/// `value` pretty-printed as serde_json prints it `level` levels deep.
fn pretty_at<W: Write + ?Sized>(
    out: &mut W,
    level: usize,
    value: &impl Serialize,
) -> Result<(), WriteError> {
    let mut ser = serde_json::Serializer::with_formatter(
        out,
        Pretty {
            level,
            has_value: false,
        },
    );
    value
        .serialize(&mut ser)
        .map_err(|e| WriteError::Io(std::io::Error::from(e)))
}

/// A change as [`change_json`] writes it plus its protection, at its depth in the document (an
/// element of `changes`), byte for byte what serde_json's pretty printer makes of that value,
/// without building it (issue 19: serializing through serde was a fifth of the review's time).
fn write_change(
    out: &mut Vec<u8>,
    scratch: &mut String,
    c: &ResourceChange,
    rows: &[AttributeChange],
    decoded: &[(&str, Value)],
    protected: Option<&String>,
) {
    const FIELD: &[u8] = b"\n      ";
    // A field's comma, line break, indent and key in one piece.
    macro_rules! key {
        ($out:expr, $name:literal) => {
            $out.extend_from_slice(concat!(",\n      \"", $name, "\": ").as_bytes())
        };
    }
    out.extend_from_slice(b"{\n      \"address\": ");
    json_str(out, &c.address);
    key!(out, "previous_address");
    json_opt(out, c.previous_address());
    key!(out, "module_address");
    json_opt(out, c.module_address());
    key!(out, "mode");
    json_str(out, &c.mode);
    key!(out, "type");
    json_str(out, &c.resource_type);
    key!(out, "name");
    json_str(out, &c.name);
    key!(out, "index");
    json_opt(out, c.index());
    key!(out, "deposed");
    json_opt(out, c.deposed());
    key!(out, "actions");
    json_list(out, c.actions.iter().map(|a| a.as_ref()));
    key!(out, "action");
    json_str(out, c.action.label());
    key!(out, "action_reason");
    json_opt(out, c.action_reason());
    key!(out, "reasons");
    json_list(out, reasons(c, Style::Plain).iter().map(String::as_str));
    key!(out, "replace_paths");
    json_list(out, c.replace_paths().iter().map(String::as_str));
    key!(out, "importing");
    match c.importing() {
        None => out.extend_from_slice(b"null"),
        Some(import) => {
            out.extend_from_slice(b"{\n        \"id\": ");
            json_shown(out, scratch, import.id.as_ref());
            out.extend_from_slice(FIELD);
            out.push(b'}');
        }
    }
    key!(out, "attributes");
    if rows.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        for (i, a) in rows.iter().enumerate() {
            out.extend_from_slice(if i == 0 {
                b"[\n        {\n          \"path\": "
            } else {
                b",\n        {\n          \"path\": "
            });
            json_str(out, &a.path);
            out.extend_from_slice(b",\n          \"before\": ");
            json_shown(out, scratch, a.before.as_ref());
            out.extend_from_slice(b",\n          \"after\": ");
            json_shown(out, scratch, a.after.as_ref());
            out.extend_from_slice(b",\n          \"forces_replacement\": ");
            out.extend_from_slice(if a.forces_replacement {
                b"true"
            } else {
                b"false"
            });
            if let Some((_, d)) = decoded.iter().find(|(path, _)| *path == a.path) {
                out.extend_from_slice(b",\n          \"decoded\": ");
                // Writing to a Vec cannot fail.
                let _ = pretty_at(out, 5, d);
            }
            out.extend_from_slice(b"\n        }");
        }
        out.extend_from_slice(FIELD);
        out.push(b']');
    }
    key!(out, "protected");
    out.extend_from_slice(if protected.is_some() {
        b"true"
    } else {
        b"false"
    });
    key!(out, "protected_reason");
    json_opt(out, protected.map(String::as_str));
    out.extend_from_slice(b"\n    }");
}

/// A list of strings inside a change (one level deeper than its fields).
fn json_list<'s>(out: &mut Vec<u8>, items: impl Iterator<Item = &'s str>) {
    let mut first = true;
    for item in items {
        out.extend_from_slice(if first {
            b"[\n        "
        } else {
            b",\n        "
        });
        first = false;
        json_str(out, item);
    }
    out.extend_from_slice(if first { b"[]" } else { b"\n      ]" });
}

fn json_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A shown value as its display text (a JSON string), or null.
fn json_shown(out: &mut Vec<u8>, scratch: &mut String, shown: Option<&Shown>) {
    match shown {
        None => out.extend_from_slice(b"null"),
        Some(Shown::Value(v)) => json_str(out, v),
        Some(other) => {
            use std::fmt::Write as _;
            scratch.clear();
            let _ = write!(scratch, "{other}");
            json_str(out, scratch);
        }
    }
}

/// A change as JSON; `decoded` holds the `decoded` field of the rows of its decoded files.
fn change_json(
    c: &ResourceChange,
    attributes: &[AttributeChange],
    decoded: &[(&str, Value)],
) -> Value {
    let mut value = json!({
        "address": c.address,
        "previous_address": c.previous_address(),
        "module_address": c.module_address(),
        "mode": c.mode,
        "type": c.resource_type,
        "name": c.name,
        "index": c.index(),
        "deposed": c.deposed(),
        "actions": c.actions,
        "action": c.action.label(),
        "action_reason": c.action_reason(),
        "reasons": reasons(c, Style::Plain),
        "replace_paths": c.replace_paths(),
        "importing": c.importing().map(|i| json!({"id": i.id.as_ref().map(Shown::to_string)})),
        "attributes": attributes.iter().map(|a| json!({
            "path": a.path,
            "before": a.before.as_ref().map(Shown::to_string),
            "after": a.after.as_ref().map(Shown::to_string),
            "forces_replacement": a.forces_replacement,
        })).collect::<Vec<_>>(),
    });
    if !decoded.is_empty()
        && let Some(rows) = value["attributes"].as_array_mut()
    {
        for row in rows {
            if let Some((_, d)) = decoded.iter().find(|(path, _)| row["path"] == *path)
                && let Value::Object(map) = row
            {
                map.insert("decoded".into(), d.clone());
            }
        }
    }
    value
}

/// serde_json's `PrettyFormatter` (two-space indent), writing each line break and its indent in
/// one piece rather than one write per level (issue 19): the same text.
#[derive(Default)]
struct Pretty {
    level: usize,
    has_value: bool,
}

/// A line break and the deepest indent written in one piece; deeper levels take several.
const NEWLINE_INDENT: &[u8; 65] =
    b"\n                                                                ";

impl Pretty {
    fn newline_indent<W: ?Sized + Write>(&self, w: &mut W) -> std::io::Result<()> {
        let mut spaces = self.level * 2;
        let first = spaces.min(NEWLINE_INDENT.len() - 1);
        w.write_all(&NEWLINE_INDENT[..1 + first])?;
        spaces -= first;
        while spaces > 0 {
            let n = spaces.min(NEWLINE_INDENT.len() - 1);
            w.write_all(&NEWLINE_INDENT[1..1 + n])?;
            spaces -= n;
        }
        Ok(())
    }
}

impl Pretty {
    /// `[` or `{`: one level deeper, nothing in it yet.
    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    /// `]` or `}`: on a line of its own unless the collection is empty.
    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline_indent(w)?;
        }
        w.write_all(bracket)
    }

    /// Before an element or a key: a comma after the first, then a new line.
    fn entry<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline_indent(w)
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.entry(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.entry(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;
    use crate::redact::Redactor;

    fn plan_text() -> String {
        let mut changes: Vec<String> = (0..5)
            .map(|i| {
                format!(
                    r#"{{"address":"aws_instance.i{i}","mode":"managed","type":"aws_instance","name":"i{i}","change":{{"actions":["update"],"before":{{"size":{i},"note":"n-{i}"}},"after":{{"size":{},"note":"tok-s3cr3t-{i}"}},"after_unknown":{{}},"before_sensitive":{{}},"after_sensitive":{{}}}}}}"#,
                    i + 1
                )
            })
            .collect();
        changes.push(r#"{"address":"aws_ebs_volume.etcd-main","mode":"managed","type":"aws_ebs_volume","name":"etcd-main","change":{"actions":["delete"],"before":{"size":20},"after":null}}"#.to_string());
        // Every rare field, and text that needs escaping, for the hand-written layout.
        changes.push(r#"{"address":"module.m.aws_instance.w[\"a\tb\"]","previous_address":"module.m.aws_instance.v[\"a\tb\"]","module_address":"module.m","mode":"managed","type":"aws_instance","name":"w","index":"a\tb","deposed":"00ab","action_reason":"replace_because_cannot_update","change":{"actions":["create","delete"],"before":{"ami":"x\u0001y","tags":{"k\"q":"v\\w"}},"after":{"ami":"z","tags":{}},"replace_paths":[["ami"]],"importing":{"id":"i-\u001f1"}}}"#.to_string());
        format!(
            r#"{{"format_version":"1.2","applyable":true,"resource_drift":[{{"address":"aws_instance.i0","mode":"managed","type":"aws_instance","name":"i0","change":{{"actions":["update"],"before":{{"size":7}},"after":{{"size":0}}}}}}],"resource_changes":[{}],"output_changes":{{"o":{{"actions":["create"],"before":null,"after":"x"}}}}}}"#,
            changes.join(",")
        )
    }

    fn streamed(text: &str, masks: &Masks) -> String {
        let opened = plan::read::from_text(text.to_string()).unwrap();
        let rules = crate::review::protect::effective_rules(&Default::default());
        let review = Review::new(opened.summary, &rules, None, None).with_rows(opened.rows);
        let mut out = Vec::new();
        assert!(write_json(&review, masks, &mut out).is_ok());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_streamed_from_a_second_pass_is_the_whole_document_pretty_printed() {
        // Issue 19: the changes are written one by one; the text must be what serializing the
        // whole document as one value gives (the schema of docs/review.md, byte for byte).
        let text = plan_text();
        let rules = crate::review::protect::effective_rules(&Default::default());
        let in_memory = Review::new(plan::read::summarize(&text).unwrap(), &rules, None, None);
        let whole = render_json(&in_memory).unwrap();
        assert_eq!(streamed(&text, &Masks::default()), whole);
        let value: Value = serde_json::from_str(&whole).unwrap();
        let mut again = serde_json::to_string_pretty(&value).unwrap();
        again.push('\n');
        assert_eq!(again, whole);
        assert_eq!(value["changes"].as_array().unwrap().len(), 7);
        assert_eq!(value["changes"][6]["importing"]["id"], json!("i-\u{1f}1"));
        assert_eq!(
            value["changes"][5]["protected"],
            json!(in_memory.protection[5].is_some())
        );
        assert_eq!(
            value["changes"][1]["attributes"][0]["after"],
            json!("\"tok-s3cr3t-1\"")
        );
    }

    #[test]
    fn a_change_written_by_hand_is_change_json_with_its_protection() {
        // The two must not drift apart: the masked path and drift write `change_json`.
        let summary = plan::read::summarize(&plan_text()).unwrap();
        let reason = "reason \"x\"\n".to_string();
        // A decoded file's field on a row (`note`), as `filediff::decoded_json` makes it.
        let decoded = json!({"shown": "lines", "reason": null, "lines": ["@@ -1 +1 @@", "-a\t", "+b\""],
            "lines_left_out": 0, "instance_groups": ["nodes"], "all_instance_groups": false});
        let withheld = json!({"shown": "withheld", "reason": "why", "lines": [],
            "lines_left_out": 0, "instance_groups": [], "all_instance_groups": true});
        let cases: [Vec<(&str, Value)>; 3] =
            [vec![], vec![("note", decoded)], vec![("size", withheld)]];
        for c in &summary.changes {
            for (protected, decoded) in [None, Some(&reason)]
                .into_iter()
                .flat_map(|p| cases.iter().map(move |d| (p, d)))
            {
                let mut by_hand = Vec::new();
                write_change(
                    &mut by_hand,
                    &mut String::new(),
                    c,
                    &c.attributes,
                    decoded,
                    protected,
                );
                let mut value = change_json(c, &c.attributes, decoded);
                value["protected"] = json!(protected.is_some());
                value["protected_reason"] = json!(protected);
                let mut by_serde = Vec::new();
                assert!(pretty_at(&mut by_serde, 2, &value).is_ok());
                assert_eq!(
                    String::from_utf8(by_hand).unwrap(),
                    String::from_utf8(by_serde).unwrap()
                );
            }
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every: String = (0u32..0x80).filter_map(char::from_u32).collect();
        every.push_str("\u{e9}\u{2028}\u{1F600}\u{7f}");
        let mut cases = vec![
            String::new(),
            "a\"b\\c".into(),
            "no escape here at all".into(),
        ];
        // Each escape at each position of an eight-byte word.
        for k in 0..every.len() {
            if every.is_char_boundary(k) {
                cases.push(every[k..].to_string());
                cases.push(format!("{}{}", "x".repeat(k % 9), &every[k..]));
            }
        }
        for s in cases {
            let mut out = Vec::new();
            json_str(&mut out, &s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&s).unwrap(),
                "{s:?}"
            );
            let mut text = String::new();
            json_str(&mut text, &s);
            assert_eq!(text, serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn a_list_made_element_by_element_is_the_masked_list_of_them_all() {
        let r = Redactor::default();
        r.add("s3cr3t".into());
        let masks = r.masks();
        let items = ["a", "s3cr3t", "x-s3cr3t-y"];
        let make = |s: &&str| json!({"name": s, "nested": [s, {"key": s}], "n": s.len()});
        for n in 0..=items.len() {
            for m in [&masks, &Masks::default()] {
                let mut whole = Value::Array(items[..n].iter().map(make).collect());
                m.mask_json(&mut whole);
                let mut want = Vec::new();
                assert!(pretty_at(&mut want, 1, &whole).is_ok());
                let mut got = Vec::new();
                let list = each(&items[..n], |s| {
                    let mut v = make(s);
                    m.mask_json(&mut v);
                    v
                });
                assert!(pretty_at(&mut got, 1, &list).is_ok());
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                );
            }
        }
    }

    #[test]
    fn json_streamed_masks_learned_secrets_in_every_change() {
        let r = Redactor::default();
        r.add("s3cr3t".into());
        let text = streamed(&plan_text(), &r.masks());
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains(r#""\"tok-***-4\"""#), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }
}

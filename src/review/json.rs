//! JSON: the review for tools (schema in docs/review.md), every row included, written as it is
//! produced: the changes come one at a time from the plan's second pass and each is serialized and
//! dropped, so a plan of any size is never held as one JSON value (issue 19: the whole-document
//! `Value` of a 22 MB plan peaked at 714 MB). Everything else (counts, drift, outputs) is small.

use std::cell::RefCell;
use std::io::Write;

use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};

use crate::atomic::WriteError;
use crate::error::UserError;
use crate::plan::summary::{AttributeChange, ResourceChange, Shown, Word};
use crate::redact::Masks;
use crate::tools::kops::GroupStatus;

use super::report::{Review, launch_template_changes};
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
    let failed = RefCell::new(None);
    let document = Document {
        review,
        masks,
        failed: &failed,
    };
    // The serializer writes many small pieces: a buffer of a known type takes them without a
    // call through `dyn Write` each (issue 19).
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, &mut *w);
    let mut ser = serde_json::Serializer::with_formatter(&mut buffered, Pretty::default());
    if let Err(e) = document.serialize(&mut ser) {
        if let Some(e) = failed.into_inner() {
            return Err(WriteError::Source(e));
        }
        return Err(WriteError::Io(std::io::Error::from(e)));
    }
    buffered.write_all(b"\n")?;
    buffered.into_inner().map_err(|e| e.into_error())?;
    Ok(())
}

/// The whole document, serialized field by field in the schema's order.
struct Document<'a> {
    review: &'a Review,
    masks: &'a Masks,
    /// Why the changes' second pass failed, for [`write_json`] to return.
    failed: &'a RefCell<Option<UserError>>,
}

impl Document<'_> {
    fn masked(&self, mut value: Value) -> Value {
        self.masks.mask_json(&mut value);
        value
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let review = self.review;
        let s = &review.summary;
        let c = &s.counts;
        let mut map = ser.serialize_map(Some(16))?;
        map.serialize_entry("kopsform_review", &JSON_SCHEMA_VERSION)?;
        map.serialize_entry("cluster", &self.masked(json!(review.cluster)))?;
        map.serialize_entry("format_version", &self.masked(json!(s.format_version)))?;
        map.serialize_entry(
            "terraform_version",
            &self.masked(json!(s.terraform_version)),
        )?;
        map.serialize_entry("headline", &self.masked(json!(s.headline())))?;
        map.serialize_entry(
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
        map.serialize_entry("exit_status", &review.exit_status)?;
        map.serialize_entry("errored", &s.errored)?;
        map.serialize_entry("deferred", &s.deferred)?;
        let protected: Vec<Value> = review
            .protected
            .iter()
            .map(|p| json!({"address": p.address, "action": p.action.as_str(), "reason": p.reason}))
            .collect();
        map.serialize_entry("protected", &self.masked(Value::Array(protected)))?;
        map.serialize_entry("changes", &Changes(self))?;
        let drift: Vec<Value> = s
            .drift
            .iter()
            .map(|c| change_json(c, &c.attributes))
            .collect();
        map.serialize_entry("drift", &self.masked(Value::Array(drift)))?;
        let outputs: Vec<Value> = s
            .outputs
            .iter()
            .map(|o| {
                json!({
                    "name": o.name,
                    "actions": o.actions,
                    "action": o.action.label(),
                    "sensitive": o.sensitive,
                    "before": o.before.as_ref().map(Shown::to_string),
                    "after": o.after.as_ref().map(Shown::to_string),
                })
            })
            .collect();
        map.serialize_entry("outputs", &self.masked(Value::Array(outputs)))?;
        let variables: Vec<Value> = s
            .variables
            .iter()
            .map(
                |v| json!({"name": v.name, "sensitive": v.sensitive, "value": v.value.to_string()}),
            )
            .collect();
        map.serialize_entry("variables", &self.masked(Value::Array(variables)))?;
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
        map.serialize_entry("rolling_update", &self.masked(json!(rolling)))?;
        let launch_templates: Vec<Value> = launch_template_changes(review)
            .into_iter()
            .map(|(group, address)| json!({"instance_group": group, "address": address}))
            .collect();
        map.serialize_entry(
            "launch_template_changes",
            &self.masked(Value::Array(launch_templates)),
        )?;
        map.end()
    }
}

/// The `changes` list: each change with its attribute rows (from the second pass when the review
/// has one) and its protection, serialized as it comes.
struct Changes<'a, 'b>(&'a Document<'b>);

impl Serialize for Changes<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let document = self.0;
        let review = document.review;
        let changes = &review.summary.changes;
        let mut seq = ser.serialize_seq(Some(changes.len()))?;
        let mut written: Result<(), S::Error> = Ok(());
        let mut one = |i: usize, rows: &[AttributeChange]| -> bool {
            let change = &changes[i];
            let protected = review.protection.get(i).and_then(Option::as_ref);
            if document.masks.is_empty() {
                // Nothing to mask: written from the change itself, without a `Value` of it.
                written = seq.serialize_element(&ChangeOut::of(change, rows, protected));
                return written.is_ok();
            }
            let mut v = change_json(change, rows);
            if let Value::Object(map) = &mut v {
                map.insert("protected".into(), json!(protected.is_some()));
                map.insert("protected_reason".into(), json!(protected));
            }
            written = seq.serialize_element(&document.masked(v));
            written.is_ok()
        };
        match &review.rows {
            None => {
                for (i, change) in changes.iter().enumerate() {
                    if !one(i, &change.attributes) {
                        break;
                    }
                }
            }
            Some(rows) => {
                if let Err(e) = rows.each(changes, &mut |i, rows| one(i, &rows)) {
                    let message = e.to_string();
                    *document.failed.borrow_mut() = Some(e);
                    return Err(S::Error::custom(message));
                }
            }
        }
        written?;
        seq.end()
    }
}

/// A change as [`change_json`] writes it plus its protection, borrowed from the summary: the same
/// fields in the same order, so the same text.
#[derive(serde::Serialize)]
struct ChangeOut<'a> {
    address: &'a str,
    previous_address: Option<&'a str>,
    module_address: Option<&'a str>,
    mode: &'a str,
    #[serde(rename = "type")]
    resource_type: &'a str,
    name: &'a str,
    index: Option<&'a str>,
    deposed: Option<&'a str>,
    actions: &'a [Word],
    action: &'static str,
    action_reason: Option<&'a str>,
    reasons: Vec<String>,
    replace_paths: &'a [String],
    importing: Option<ImportOut<'a>>,
    attributes: Vec<AttributeOut<'a>>,
    protected: bool,
    protected_reason: Option<&'a String>,
}

#[derive(serde::Serialize)]
struct ImportOut<'a> {
    #[serde(serialize_with = "shown_text")]
    id: Option<&'a Shown>,
}

#[derive(serde::Serialize)]
struct AttributeOut<'a> {
    path: &'a str,
    #[serde(serialize_with = "shown_text")]
    before: Option<&'a Shown>,
    #[serde(serialize_with = "shown_text")]
    after: Option<&'a Shown>,
    forces_replacement: bool,
}

/// A shown value as its display text (a JSON string), or null.
fn shown_text<S: Serializer>(shown: &Option<&Shown>, ser: S) -> Result<S::Ok, S::Error> {
    match shown {
        Some(shown) => ser.collect_str(shown),
        None => ser.serialize_none(),
    }
}

impl<'a> ChangeOut<'a> {
    fn of(
        c: &'a ResourceChange,
        attributes: &'a [AttributeChange],
        protected: Option<&'a String>,
    ) -> ChangeOut<'a> {
        ChangeOut {
            address: &c.address,
            previous_address: c.previous_address(),
            module_address: c.module_address(),
            mode: &c.mode,
            resource_type: &c.resource_type,
            name: &c.name,
            index: c.index(),
            deposed: c.deposed(),
            actions: &c.actions,
            action: c.action.label(),
            action_reason: c.action_reason(),
            reasons: reasons(c, Style::Plain),
            replace_paths: c.replace_paths(),
            importing: c
                .importing()
                .map(|i| ImportOut { id: i.id.as_ref() }),
            attributes: attributes
                .iter()
                .map(|a| AttributeOut {
                    path: &a.path,
                    before: a.before.as_ref(),
                    after: a.after.as_ref(),
                    forces_replacement: a.forces_replacement,
                })
                .collect(),
            protected: protected.is_some(),
            protected_reason: protected,
        }
    }
}

fn change_json(c: &ResourceChange, attributes: &[AttributeChange]) -> Value {
    json!({
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
    })
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
        assert_eq!(value["changes"].as_array().unwrap().len(), 6);
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
    fn json_streamed_masks_learned_secrets_in_every_change() {
        let r = Redactor::default();
        r.add("s3cr3t".into());
        let text = streamed(&plan_text(), &r.masks());
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains(r#""\"tok-***-4\"""#), "{text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok());
    }
}

//! Reading a plan: [`open`]/[`from_text`] run the first pass and give a [`Plan`] (the summary
//! without attribute rows) and its [`Rows`], the second pass that yields rows change by change.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde::de::IgnoredAny;
use serde_json::Value;

use crate::error::UserError;
use crate::redact::Masks;

use super::build::{FirstPass, shown};
use super::filediff::{self, FileAttributes};
use super::json_ref::JsonRef;
use super::kept::Kept;
use super::quick::Fields;
use super::raw::{RawChange, RawResourceChange};
use super::rows::{rows, rows_in};
use super::secrets::Secrets;
use super::stream::{
    Elements, Fast, Item, List, Source, check_format_version, read_change_with, scan,
    scan_elements, skip_bom,
};
use super::summary::{Action, AttributeChange, PlanSummary, ResourceChange};

/// A plan read in one streaming pass: its summary without attribute rows, and what a second
/// pass needs to produce the rows change by change ([`Rows::each`]). Neither the plan's text
/// nor all rows are ever held at once, so a review of a large plan needs little memory.
pub(crate) struct Plan {
    pub(crate) summary: PlanSummary,
    pub(crate) rows: Rows,
}

/// The second pass over a plan: its source and every secret the first pass found; and the
/// values of the managed files and user data that change, for [`Plan::with_files`].
pub(crate) struct Rows {
    source: Source,
    secrets: Secrets,
    pending: Vec<filediff::Pending>,
    /// Every change's rows, made by the first pass ([`open_keeping_rows`]): then the plan is
    /// not read again.
    kept: Option<Kept>,
}

/// Reads PLAN: plan JSON as it is (content starting with `{`), or a saved plan through
/// `TOOL show -json` run in the plan's folder; without the attribute rows ([`Rows::each`] gives
/// them). Values holding a secret of `known` are hidden as if Terraform had marked them.
pub(crate) fn open(
    plan: &Path,
    tool: &str,
    env: &[(String, String)],
    known: Arc<Masks>,
) -> Result<Plan, UserError> {
    open_in(plan, None, tool, env, known)
}

/// [`open`] for a review that writes every change's rows: the first pass makes them too when it
/// can (no secret learned from outside the plan nor found in it, which would hide values of
/// changes read before it was found), and [`Rows::each`] gives them without reading the plan
/// again. Whatever it answers is what [`open`] and [`Rows::each`] answer.
pub(crate) fn open_keeping_rows(
    plan: &Path,
    tool: &str,
    env: &[(String, String)],
    known: Arc<Masks>,
) -> Result<Plan, UserError> {
    open_with(plan, None, tool, env, known, true)
}

/// [`open`], a saved plan shown in `folder` when given (the Terraform folder it was made in).
pub(crate) fn open_in(
    plan: &Path,
    folder: Option<&Path>,
    tool: &str,
    env: &[(String, String)],
    known: Arc<Masks>,
) -> Result<Plan, UserError> {
    open_with(plan, folder, tool, env, known, false)
}

fn open_with(
    plan: &Path,
    folder: Option<&Path>,
    tool: &str,
    env: &[(String, String)],
    known: Arc<Masks>,
    keep_rows: bool,
) -> Result<Plan, UserError> {
    let mut file = std::fs::File::open(plan)
        .map_err(|e| UserError::new(format!("{}: cannot read the plan: {e}", plan.display())))?;
    let mut head = Vec::with_capacity(512);
    (&mut file)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| UserError::new(format!("{}: cannot read the plan: {e}", plan.display())))?;
    let blank_file = head.len() < 512;
    let head = skip_bom(&head);
    let is_json = match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b) => *b == b'{',
        // All blank so far: JSON if the file is all blank (then it fails as JSON).
        None => blank_file,
    };
    let source = if is_json {
        Source::File(plan.to_path_buf())
    } else {
        drop(file);
        Source::Bytes(crate::tools::terraform::show_json_in(
            plan, folder, tool, env,
        )?)
    };
    if keep_rows
        && known.is_empty()
        && let Some(read) = Plan::read_keeping_rows(&source)
    {
        return Ok(read.with(source));
    }
    Plan::read(source, known).map_err(|e| UserError::new(format!("{}: {e}", plan.display())))
}

/// What [`Plan::read_keeping_rows`] read.
struct ReadOnce {
    summary: PlanSummary,
    secrets: Secrets,
    pending: Vec<filediff::Pending>,
    kept: Kept,
}

impl ReadOnce {
    fn with(self, source: Source) -> Plan {
        Plan {
            summary: self.summary,
            rows: Rows {
                source,
                secrets: self.secrets,
                pending: self.pending,
                kept: Some(self.kept),
            },
        }
    }
}

/// The plan's JSON text: the file itself when it is JSON, else `terraform show -json` of it.
/// A saved plan is read with `env` (the task's environment: `TF_DATA_DIR`, credentials).
pub(crate) fn read_json(
    plan: &Path,
    tool: &str,
    env: &[(String, String)],
) -> Result<String, UserError> {
    read_json_in(plan, None, tool, env)
}

/// [`read_json`], a saved plan shown in `folder` when given (the Terraform folder it was made in).
pub(crate) fn read_json_in(
    plan: &Path,
    folder: Option<&Path>,
    tool: &str,
    env: &[(String, String)],
) -> Result<String, UserError> {
    let bytes = std::fs::read(plan)
        .map_err(|e| UserError::new(format!("{}: cannot read the plan: {e}", plan.display())))?;
    let is_json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let json = if is_json {
        drop_utf8_bom(bytes)
    } else {
        drop(bytes);
        crate::tools::terraform::show_json_in(plan, folder, tool, env)?
    };
    String::from_utf8(json).map_err(|e| {
        UserError::new(format!(
            "{}: the plan JSON is not UTF-8 (bad byte at offset {})",
            plan.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

fn drop_utf8_bom(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    bytes
}

/// Parses plan JSON into a summary with every attribute row. The error says what is wrong,
/// without repeating the input.
pub(crate) fn summarize(json_text: &str) -> Result<PlanSummary, String> {
    from_text(json_text.to_string())?
        .into_summary()
        .map_err(|e| e.to_string())
}

/// Reads plan JSON text like [`open`]: the summary without rows, and the rows' second pass.
pub(crate) fn from_text(json_text: String) -> Result<Plan, String> {
    Plan::read(Source::Bytes(json_text.into_bytes()), Arc::default())
}

impl Plan {
    /// The first pass: everything but the resource changes' attribute rows. Their values are
    /// skipped, unless Terraform marks some as sensitive: then one more pass reads those secrets.
    fn read(source: Source, known: Arc<Masks>) -> Result<Plan, String> {
        let mut first = FirstPass::knowing(known);
        let top = scan::<FileAttributes>(&source, &mut |item| {
            first.item(item);
            Ok(())
        })?;
        let format_version = match top.format_version.clone() {
            Some(v) => v,
            None => check_format_version(None)?,
        };
        if first.marked_values {
            scan::<Value>(&source, &mut |item| {
                if let Item::Change(rc) = item {
                    first.learn(&rc.change, false);
                }
                Ok(())
            })?;
        }
        let pending = std::mem::take(&mut first.pending);
        let (summary, secrets) = first.finish(top, format_version)?;
        Ok(Plan {
            summary,
            rows: Rows {
                source,
                secrets,
                pending,
                kept: None,
            },
        })
    }

    /// [`Plan::read`] that also makes every change's rows, for a plan without secrets: each
    /// change is read once, its values as [`JsonRef`], for the summary (which takes only their
    /// file attributes, [`FileAttributes::of`]) and for its rows. `None` for anything else (an
    /// error, a secret found, values marked sensitive, rows that cannot be kept): then the plan
    /// is read as [`Plan::read`] and [`Rows::each`] read it, so that their answer, errors
    /// included, stands.
    fn read_keeping_rows(source: &Source) -> Option<ReadOnce> {
        let mut first = FirstPass::knowing(Arc::default());
        let mut kept = Some(Kept::default());
        let mut elements = Elements::default();
        let mut made = Vec::new();
        let top = scan_elements(source, &mut |list, text| {
            if list == List::Drift {
                let (rc, n) = elements.parse(text)?;
                first.item(Item::Drift(rc));
                return Ok(n);
            }
            let (rc, n): (RawResourceChange<JsonRef>, usize) =
                read_change_with(text, &mut elements, Fields::All)?;
            let action = Action::from_actions(&rc.change.actions);
            if first.secrets().is_empty() {
                if let (true, Some(k)) = (shown(&rc, action), &mut kept) {
                    let c = &rc.change;
                    made = rows_in(
                        c,
                        c.before.as_ref(),
                        c.after.as_ref(),
                        action,
                        first.secrets(),
                        std::mem::take(&mut made),
                    );
                    if !k.push(&made) {
                        kept = None;
                    }
                }
            } else {
                kept = None;
            }
            first.item(Item::Change(file_attributes(rc)));
            if kept.is_none() || first.marked_values {
                // The plan is to be read as before: no need to read the rest of it here.
                return Err(Fast::Stopped(String::new()));
            }
            Ok(n)
        })
        .ok()?;
        let format_version = match top.format_version.clone() {
            Some(v) => v,
            None => check_format_version(None).ok()?,
        };
        if first.marked_values {
            return None;
        }
        let pending = std::mem::take(&mut first.pending);
        let (summary, secrets) = first.finish(top, format_version).ok()?;
        let kept = kept?.finish()?;
        if !secrets.is_empty() || kept.len() != summary.changes.len() {
            return None;
        }
        Some(ReadOnce {
            summary,
            secrets,
            pending,
            kept,
        })
    }

    /// The plan with its managed files and user data decoded into the summary's `files` (the
    /// first pass kept the few values that hold one: the plan is not read again).
    pub(crate) fn with_files(mut self) -> Plan {
        self.summary.files = filediff::file_changes(&self.rows.pending, &self.rows.secrets);
        self
    }

    /// The summary with every change's attribute rows and its decoded files.
    pub(crate) fn into_summary(mut self) -> Result<PlanSummary, UserError> {
        self.summary.files = filediff::file_changes(&self.rows.pending, &self.rows.secrets);
        let mut all: Vec<Vec<AttributeChange>> = Vec::with_capacity(self.summary.changes.len());
        self.rows.each(&self.summary.changes, &mut |_, rows| {
            all.push(rows.to_vec());
            true
        })?;
        for (change, rows) in self.summary.changes.iter_mut().zip(all) {
            change.attributes = rows;
        }
        Ok(self.summary)
    }
}

impl Rows {
    /// The second pass: calls `f` with each change's index in `changes` (the summary's) and its
    /// attribute rows, in plan order, until `f` answers `false`.
    pub(crate) fn each(
        &self,
        changes: &[ResourceChange],
        f: &mut dyn FnMut(usize, &[AttributeChange]) -> bool,
    ) -> Result<(), UserError> {
        if let Some(kept) = &self.kept {
            return kept.each(f).map_err(|e| {
                UserError::new(format!(
                    "cannot read back the plan's rows from a temporary file: {e}"
                ))
            });
        }
        let mut next = 0;
        // `f` had enough.
        let mut ended = false;
        let mut elements = Elements::default();
        let result = scan_elements(&self.source, &mut |list, text| {
            if list == List::Drift {
                return Ok(elements.parse::<IgnoredAny>(text)?.1);
            }
            // Values borrow from `text`: strings are not copied, objects not hashed.
            let (rc, n): (RawResourceChange<JsonRef>, usize) =
                read_change_with(text, &mut elements, Fields::ForRows)?;
            let action = Action::from_actions(&rc.change.actions);
            if !shown(&rc, action) {
                return Ok(n);
            }
            let i = next;
            next += 1;
            if changes.get(i).is_none_or(|c| c.address != rc.address) {
                return Err(Fast::Stopped(CHANGED.to_string()));
            }
            let c = &rc.change;
            if f(
                i,
                &rows(
                    c,
                    c.before.as_ref(),
                    c.after.as_ref(),
                    action,
                    &self.secrets,
                ),
            ) {
                return Ok(n);
            }
            ended = true;
            Err(Fast::Stopped(ENOUGH.to_string()))
        });
        match (result, ended) {
            (_, true) => Ok(()),
            (Ok(_), false) if next == changes.len() => Ok(()),
            (Err(e), false) if e.contains("recursion limit") || e.contains("nested") => {
                Err(UserError::new(format!(
                    "the plan nests a value more than 128 levels deep, which kopsform does not read ({e}); \
                 Terraform does not write such plans: check the file is the plan `terraform show -json` printed"
                )))
            }
            (Err(e), false) if e != CHANGED => Err(UserError::new(format!(
                "the plan cannot be read: {e}; check the file is the plan `terraform show -json` printed"
            ))),
            // The first pass read the same source without error: it was rewritten since.
            (Ok(_), false) | (Err(_), false) => Err(UserError::new(
                "the plan changed while it was read (it was rewritten between two reads of it); \
                 run the review again once the plan is written",
            )),
        }
    }
}

/// A change read by [`Plan::read_keeping_rows`], as the first pass takes it.
fn file_attributes(rc: RawResourceChange<JsonRef>) -> RawResourceChange<FileAttributes> {
    let RawResourceChange {
        address,
        previous_address,
        module_address,
        mode,
        resource_type,
        name,
        index,
        deposed,
        change,
        action_reason,
    } = rc;
    let RawChange {
        actions,
        before,
        after,
        after_unknown,
        before_sensitive,
        after_sensitive,
        replace_paths,
        importing,
    } = change;
    RawResourceChange {
        address,
        previous_address,
        module_address,
        mode,
        resource_type,
        name,
        index,
        deposed,
        change: RawChange {
            actions,
            before: before.as_ref().map(FileAttributes::of),
            after: after.as_ref().map(FileAttributes::of),
            after_unknown,
            before_sensitive,
            after_sensitive,
            replace_paths,
            importing,
        },
        action_reason,
    }
}

/// The error of a second pass that no longer finds the changes of the first.
const CHANGED: &str = "plan changed";
/// The error that ends a second pass early.
const ENOUGH: &str = "enough";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rows::{Step, path_text};
    use crate::plan::summary::Shown;

    fn plan(changes: &str) -> String {
        format!(
            r#"{{"format_version":"1.2","terraform_version":"1.11.4","applyable":true,"complete":true,"errored":false,
            "resource_changes":[{changes}]}}"#
        )
    }

    fn rc(address: &str, actions: &str, extra: &str) -> String {
        let (ty, name) = address.split_once('.').unwrap();
        format!(
            r#"{{"address":"{address}","mode":"managed","type":"{ty}","name":"{name}","change":{{"actions":{actions}{extra}}}}}"#
        )
    }

    #[test]
    fn changes_across_the_read_buffer_and_larger_than_it_read_alike() {
        // Changes parsed where they lie in the scanner's buffer: some straddle its refills, one is
        // larger than the buffer (it grows), strings hold escapes and multi-byte characters.
        let big = "é\\n\\\"".repeat(60_000);
        let changes: Vec<String> = (0..2_000)
            .map(|i| {
                let note = if i == 777 {
                    big.clone()
                } else {
                    format!("ü-{i}\\t")
                };
                rc(
                    &format!("aws_instance.i{i}"),
                    r#"["update"]"#,
                    &format!(r#","before":{{"note":"a"}},"after":{{"note":"{note}"}}"#),
                )
            })
            .collect();
        let text = plan(&changes.join(","));
        assert!(text.len() > 3 * 128 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, &text).unwrap();
        let from_file = open(&path, "terraform", &[], Arc::default())
            .unwrap()
            .into_summary()
            .unwrap();
        let whole: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(from_file.changes.len(), 2_000);
        for (i, change) in from_file.changes.iter().enumerate() {
            let after = whole["resource_changes"][i]["change"]["after"]["note"]
                .as_str()
                .unwrap();
            let shown = &change.attributes[0].after;
            if i == 777 {
                assert!(matches!(shown, Some(Shown::Blob { bytes, .. }) if *bytes == after.len()));
            } else {
                assert_eq!(
                    *shown,
                    Some(Shown::Value(serde_json::to_string(after).unwrap()))
                );
            }
        }
        assert_eq!(from_file, from_text(text).unwrap().into_summary().unwrap());
    }

    #[test]
    fn a_plan_rewritten_between_the_two_passes_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let one = plan(&rc("aws_instance.a", r#"["create"]"#, ""));
        std::fs::write(&path, &one).unwrap();
        let opened = open(&path, "terraform", &[], Arc::default()).unwrap();
        assert_eq!(opened.summary.changes.len(), 1);
        let other = plan(&rc("aws_instance.b", r#"["create"]"#, ""));
        std::fs::write(&path, &other).unwrap();
        let err = opened.into_summary().unwrap_err().to_string();
        assert!(err.contains("the plan changed while it was read"), "{err}");
    }

    #[test]
    fn a_plan_nested_too_deep_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let one = plan(&rc(
            "aws_instance.a",
            r#"["create"]"#,
            &format!(r#", "after": {deep}"#),
        ));
        std::fs::write(&path, &one).unwrap();
        let err = match open(&path, "terraform", &[], Arc::default()) {
            Ok(opened) => opened.into_summary().unwrap_err().to_string(),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("more than 128 levels deep"), "{err}");
        assert!(
            err.starts_with("not Terraform plan JSON") || err.starts_with("the plan"),
            "{err}"
        );
        assert!(!err.contains("changed while it was read"), "{err}");
    }

    #[test]
    fn the_fast_reader_agrees_with_serde_on_what_is_malformed() {
        let good = plan(&rc(
            "aws_instance.a",
            r#"["create"]"#,
            r#", "before": null"#,
        ));
        assert!(summarize(&good).is_ok());
        // Truncated, a trailing comma, garbage after the document, a change of the wrong shape:
        // each is refused with serde's message and position.
        for bad in [
            &good[..good.len() - 3],
            &good.replace("]}", "],}"),
            &format!("{good} x"),
            &good.replace(r#""actions":["create"]"#, r#""actions":"create""#),
        ] {
            let err = summarize(bad).unwrap_err();
            assert!(err.starts_with("not Terraform plan JSON: "), "{err}");
            assert!(
                err.contains(" at line ") && err.contains(" column "),
                "{err}"
            );
        }
    }

    #[test]
    fn headline_counts_like_terraform() {
        let json = plan(
            &[
                rc("a.create", r#"["create"]"#, r#","after":{"x":1}"#),
                rc(
                    "a.update",
                    r#"["update"]"#,
                    r#","before":{"x":1},"after":{"x":2}"#,
                ),
                rc("a.replace", r#"["delete","create"]"#, ""),
                rc("a.cbd", r#"["create","delete"]"#, ""),
                rc("a.delete", r#"["delete"]"#, ""),
                rc("a.noop", r#"["no-op"]"#, ""),
                rc("a.imported", r#"["no-op"]"#, r#","importing":{"id":"i-1"}"#),
                rc("a.forget", r#"["forget"]"#, ""),
            ]
            .join(","),
        );
        let s = summarize(&json).unwrap();
        assert_eq!(
            s.headline(),
            "Plan: 1 to import, 3 to add, 1 to change, 3 to destroy."
        );
        assert_eq!(s.counts.forget, 1);
        assert_eq!(s.changes.len(), 7);
        assert!(s.has_changes());
    }

    #[test]
    fn opentofu_plans_count_forgets_in_the_headline() {
        let json = plan(&rc("a.forget", r#"["forget"]"#, "")).replace(r#""applyable":true,"#, "");
        let s = summarize(&json).unwrap();
        assert_eq!(
            s.headline(),
            "Plan: 0 to add, 0 to change, 0 to destroy, 1 to forget."
        );
    }

    #[test]
    fn moves_reads_and_data_deletes() {
        let json = plan(
            &[
                r#"{"address":"a.new","previous_address":"a.old","mode":"managed","type":"a","name":"new","change":{"actions":["no-op"]}}"#.to_string(),
                r#"{"address":"data.a.b","mode":"data","type":"a","name":"b","change":{"actions":["delete"]}}"#.to_string(),
                r#"{"address":"data.a.c","mode":"data","type":"a","name":"c","change":{"actions":["read"]},"action_reason":"read_because_config_unknown"}"#.to_string(),
            ]
            .join(","),
        );
        let s = summarize(&json).unwrap();
        assert_eq!(s.headline(), "Plan: 0 to add, 0 to change, 0 to destroy.");
        assert_eq!(s.counts.moved, 1);
        assert_eq!(s.counts.read, 1);
        assert_eq!(s.changes.len(), 2);
        assert_eq!(s.changes[0].previous_address(), Some("a.old"));
    }

    #[test]
    fn no_changes_and_output_only_plans() {
        let s = summarize(&plan(&rc("a.b", r#"["no-op"]"#, ""))).unwrap();
        assert_eq!(s.headline(), "No changes.");
        assert!(!s.has_changes());
        let json = r#"{"format_version":"1.2","applyable":true,"output_changes":{
            "o":{"actions":["update"],"before":"a","after":"b","after_unknown":false,"before_sensitive":false,"after_sensitive":false},
            "same":{"actions":["no-op"],"before":"a","after":"a"}}}"#;
        let s = summarize(json).unwrap();
        assert_eq!(s.headline(), "No resource changes; 1 output value changes.");
        assert!(s.has_changes());
        assert_eq!(s.outputs[0].after, Some(Shown::Value("\"b\"".into())));
    }

    #[test]
    fn action_invocations_follow_the_counts() {
        let json = plan("").replace(
            r#""resource_changes":[]"#,
            r#""action_invocations":[{"address":"action.a.b"}]"#,
        );
        let s = summarize(&json).unwrap();
        assert_eq!(
            s.headline(),
            "Plan: 0 to add, 0 to change, 0 to destroy. Actions: 1 to invoke."
        );
    }

    #[test]
    fn format_versions() {
        assert!(summarize(r#"{"format_version":"1.0"}"#).is_ok());
        let err = summarize(r#"{"format_version":"2.0","resource_changes":7}"#).unwrap_err();
        assert!(
            err.contains("format_version \"2.0\" is not supported"),
            "{err}"
        );
        let err = summarize(r#"{"resource_changes":[]}"#).unwrap_err();
        assert!(err.contains("no `format_version`"), "{err}");
        let err = summarize("{ nope").unwrap_err();
        assert!(err.starts_with("not Terraform plan JSON"), "{err}");
        assert!(err.contains("line 1 column 3"), "{err}");
    }

    #[test]
    fn attribute_rows_hide_secrets_and_blobs() {
        let long = "x".repeat(201);
        let json = plan(&rc(
            "a.b",
            r#"["delete","create"]"#,
            &format!(
                r#","before":{{"pw":"hunter22","copy":"hunter22","size":1,"user_data":"abc","tags":{{"Name":"n"}},"long":"{long}"}},
                "after":{{"pw":"hunter23","copy":"hunter23","size":2,"user_data":"abd","tags":{{"Name":"n","k.x":"v"}},"long":"{long}"}},
                "after_unknown":{{"id":true,"tags":{{}}}},
                "before_sensitive":{{"pw":true}},"after_sensitive":{{"pw":true}},
                "replace_paths":[["size"]]"#
            ),
        ));
        let s = summarize(&json).unwrap();
        let rows = &s.changes[0].attributes;
        let find = |p: &str| rows.iter().find(|r| r.path == p).unwrap();
        assert_eq!(find("pw").after, Some(Shown::Sensitive));
        assert_eq!(find("copy").before, Some(Shown::Sensitive));
        assert_eq!(find("copy").after, Some(Shown::Sensitive));
        assert!(find("size").forces_replacement);
        assert!(!find("pw").forces_replacement);
        assert!(matches!(
            find("user_data").after,
            Some(Shown::Blob { bytes: 3, .. })
        ));
        assert_eq!(
            find("tags[\"k.x\"]").after,
            Some(Shown::Value("\"v\"".into()))
        );
        assert_eq!(find("id").after, Some(Shown::Unknown));
        assert!(
            rows.iter()
                .all(|r| r.path != "long" && r.path != "tags.Name")
        );
        assert_eq!(s.changes[0].replace_paths(), ["size"]);
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn sensitive_outputs_and_variables_are_hidden_everywhere() {
        let json = r#"{"format_version":"1.2","applyable":true,
          "variables":{"token":{"value":"s3cr3t-token"},"plain":{"value":"p"},"undeclared":{"value":"u"}},
          "configuration":{"root_module":{"variables":{"token":{"sensitive":true},"plain":{}}}},
          "resource_changes":[{"address":"a.b","mode":"managed","type":"a","name":"b","change":{"actions":["create"],
             "after":{"url":"https://x/?t=s3cr3t-token","n":"ok"},"after_unknown":{},"after_sensitive":{}}}],
          "output_changes":{"o":{"actions":["create"],"before":null,"after":"other-secret","after_unknown":false,
             "before_sensitive":false,"after_sensitive":true}}}"#;
        let s = summarize(json).unwrap();
        let text = format!("{s:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains("other-secret"), "{text}");
        assert_eq!(s.variables[0].name, "plain");
        assert_eq!(s.variables[0].value, Shown::Value("\"p\"".into()));
        assert!(s.variables[2].sensitive);
        assert_eq!(s.outputs[0].before, None);
        assert_eq!(s.outputs[0].after, Some(Shown::Sensitive));
    }

    #[test]
    fn paths_are_written_as_terraform_does() {
        let steps: [Step; 3] = [
            Step::Key("tag".into()),
            Step::Index(3),
            Step::Key("key".into()),
        ];
        assert_eq!(path_text(&steps), "tag[3].key");
        assert_eq!(
            path_text(&[Step::Key("tags"), Step::Key("a/b"), Step::Key("x\"\n")]),
            "tags[\"a/b\"][\"x\\\"\\n\"]"
        );
    }
}

//! Terraform plan JSON (`terraform show -json`) -> a [`PlanSummary`] that holds no secrets.
//!
//! The JSON is read as a stream ([`crate::plan::jsonscan`]): one top-level field or change at a time is
//! copied into a small buffer and parsed with serde into typed structs; the parts a review never
//! needs (`prior_state`, `planned_values`, most of `configuration`) are skipped without being
//! held. A first pass gathers the counts, the list of changes and the sensitive values (a change's
//! `before`/`after` are skipped unless Terraform marks something in them sensitive, which costs one
//! more pass); a second pass ([`Rows::each`]) turns each change into attribute rows, which the
//! review writes and drops one change at a time. So a plan of tens of thousands of resources
//! never sits in memory, and neither do its rows.
//!
//! Secrets are removed here, not when printing: every value in a [`PlanSummary`] is already a
//! display form ([`Shown`]), so nothing downstream can print a secret by mistake. A value is
//! `(sensitive)` when Terraform marks it (`before_sensitive`/`after_sensitive`, sensitive outputs,
//! variables declared `sensitive`), and also when it equals a sensitive value found anywhere in the
//! plan or contains the value of a sensitive variable or output: Terraform does not mark every copy
//! (`terraform_data`'s `output` echoes a sensitive `input` unmarked). Large blobs (user data,
//! policies, object contents, any multi-line string or one over 200 characters) are shown as a
//! sha256 prefix and a size.
//!
//! The counts follow Terraform's own renderer (hashicorp/terraform
//! internal/command/jsonformat/plan.go `renderHuman`): a replacement counts in add and destroy,
//! imports get a `N to import, ` prefix, moves and reads are shown but not counted, deleted data
//! sources are skipped. Terraform never counts forgets (`removed` with `destroy = false`) in its
//! `Plan:` line; OpenTofu (opentofu/opentofu, same file) appends `, N to forget.`. The two are told
//! apart by the `applyable` field, which Terraform writes since 1.8 and OpenTofu never does.

pub(crate) mod jsonscan;
pub(crate) mod seal;

use std::collections::HashSet;
use std::fmt;
use std::io::{BufRead, Read};
use std::marker::PhantomData;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::UserError;
// Sensitive values shorter than this are not looked for elsewhere: hiding every `1` or `true` of a
// plan would protect nothing.
use crate::redact::MIN_SECRET_LEN;

/// The plan JSON major version kopsform reads (`format_version` "1.x").
pub(crate) const SUPPORTED_FORMAT_MAJOR: &str = "1";
/// Strings longer than this (in characters) are shown as a hash and a size.
pub(crate) const BLOB_CHARS: usize = 200;
/// Attributes whose values are shown as a hash and a size whatever their length.
pub(crate) const BLOB_ATTRIBUTES: &[&str] = &[
    "user_data",
    "user_data_base64",
    "policy",
    "assume_role_policy",
    "inline_policy",
    "content",
    "content_base64",
];
/// Characters of the sha256 hex digest shown for a blob.
const HASH_PREFIX: usize = 12;

// ---------------------------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------------------------

/// What a plan does, with every value already in display form (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanSummary {
    pub(crate) format_version: String,
    pub(crate) terraform_version: Option<String>,
    /// The changes Terraform shows, in plan order: every change that is not a no-op, plus moves and
    /// imports without other changes. Plain no-ops and deleted data sources are left out.
    pub(crate) changes: Vec<ResourceChange>,
    /// `resource_drift`: objects changed outside Terraform since the last apply.
    pub(crate) drift: Vec<ResourceChange>,
    /// Output values that change, by name.
    pub(crate) outputs: Vec<OutputChange>,
    /// The root module's input variables, by name.
    pub(crate) variables: Vec<Variable>,
    pub(crate) counts: Counts,
    /// Terraform could not finish the plan (`errored`); it cannot be applied.
    pub(crate) errored: bool,
    /// `deferred_changes`: changes that need another plan and apply first.
    pub(crate) deferred: usize,
    /// The plan was written by OpenTofu, whose `Plan:` line counts forgets.
    pub(crate) forget_in_headline: bool,
}

/// The counts of the `Plan:` line and the notes around it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) import: usize,
    /// Creates and the create half of replacements.
    pub(crate) add: usize,
    pub(crate) change: usize,
    /// Deletes and the delete half of replacements.
    pub(crate) destroy: usize,
    /// Objects Terraform stops managing without destroying them.
    pub(crate) forget: usize,
    pub(crate) read: usize,
    /// Objects whose address changes (`moved` blocks).
    pub(crate) moved: usize,
    /// Action invocations (Terraform 1.14+).
    pub(crate) invoke: usize,
}

/// What Terraform will do to one object, from its `actions` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Action {
    NoOp,
    Create,
    Read,
    Update,
    /// Replace, destroying the old object first (`["delete", "create"]`).
    DeleteThenCreate,
    /// Replace with `create_before_destroy` (`["create", "delete"]`).
    CreateThenDelete,
    Delete,
    /// Stop managing without destroying (`["forget"]`, `removed { lifecycle { destroy = false } }`).
    Forget,
    /// Replace, leaving the old object in place (`["create", "forget"]`, Terraform 1.16+).
    CreateThenForget,
    /// OpenTofu's replace that forgets the old object (`["forget", "create"]`).
    ForgetThenCreate,
    /// An action list this version of kopsform does not know.
    Unknown,
}

impl Action {
    pub(crate) fn from_actions(actions: &[String]) -> Action {
        let words: Vec<&str> = actions.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["no-op"] => Action::NoOp,
            ["create"] => Action::Create,
            ["read"] => Action::Read,
            ["update"] => Action::Update,
            ["delete", "create"] => Action::DeleteThenCreate,
            ["create", "delete"] => Action::CreateThenDelete,
            ["delete"] => Action::Delete,
            ["forget"] => Action::Forget,
            ["create", "forget"] => Action::CreateThenForget,
            ["forget", "create"] => Action::ForgetThenCreate,
            _ => Action::Unknown,
        }
    }

    /// A real object is destroyed: deletes and both destroying replacements.
    pub(crate) fn destroys(self) -> bool {
        matches!(
            self,
            Action::Delete | Action::DeleteThenCreate | Action::CreateThenDelete
        )
    }

    pub(crate) fn is_replace(self) -> bool {
        matches!(
            self,
            Action::DeleteThenCreate
                | Action::CreateThenDelete
                | Action::CreateThenForget
                | Action::ForgetThenCreate
        )
    }

    /// One word for tables: create, update, replace, delete, read, forget, no-op, unknown.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Read => "read",
            Action::Update => "update",
            Action::DeleteThenCreate | Action::CreateThenDelete => "replace",
            Action::CreateThenForget | Action::ForgetThenCreate => "replace",
            Action::Delete => "delete",
            Action::Forget => "forget",
            Action::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One resource instance change (or drift entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceChange {
    pub(crate) address: String,
    /// The address before a `moved` block, when it differs.
    pub(crate) previous_address: Option<String>,
    pub(crate) module_address: Option<String>,
    /// `managed` or `data`.
    pub(crate) mode: String,
    pub(crate) resource_type: String,
    pub(crate) name: String,
    /// The instance key as Terraform prints it after the name (`[0]`, `["a"]`), when there is one.
    pub(crate) index: Option<String>,
    /// The key of a deposed object (left over from a failed create-before-destroy).
    pub(crate) deposed: Option<String>,
    /// Terraform's action list, verbatim.
    pub(crate) actions: Vec<String>,
    pub(crate) action: Action,
    /// Terraform's `action_reason` keyword.
    pub(crate) action_reason: Option<String>,
    /// The attributes whose change forces the replacement, as paths (`tags["Name"]`).
    pub(crate) replace_paths: Vec<String>,
    /// Present when the object is imported.
    pub(crate) importing: Option<Import>,
    /// Attribute rows: what changes (update, replace), is set (create) or goes (delete).
    pub(crate) attributes: Vec<AttributeChange>,
}

impl ResourceChange {
    pub(crate) fn is_moved(&self) -> bool {
        self.previous_address.is_some()
    }

    /// The address with the deposed key, as Terraform displays it.
    pub(crate) fn display_address(&self) -> String {
        match &self.deposed {
            Some(key) => format!("{} (deposed object {key})", self.address),
            None => self.address.clone(),
        }
    }
}

/// Import metadata of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Import {
    /// The import ID (hidden when it holds a secret); `None` when imported by identity or unknown.
    pub(crate) id: Option<Shown>,
}

/// One attribute row of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttributeChange {
    /// `size`, `tags["Name"]`, `launch_template[0].id`.
    pub(crate) path: String,
    /// `None` when the object does not exist on that side (create, delete).
    pub(crate) before: Option<Shown>,
    pub(crate) after: Option<Shown>,
    /// The path is (within) one of the change's `replace_paths`.
    pub(crate) forces_replacement: bool,
}

/// A value in display form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shown {
    /// The value as compact JSON (`"gp3"`, `20`, `true`, `null`, `[]`).
    Value(String),
    /// Known only after apply.
    Unknown,
    Sensitive,
    /// A large value: the first characters of its sha256 (hex) and its size in bytes.
    Blob {
        sha256: String,
        bytes: usize,
    },
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Shown::Value(v) => f.write_str(v),
            Shown::Unknown => f.write_str("(known after apply)"),
            Shown::Sensitive => f.write_str("(sensitive)"),
            Shown::Blob { sha256, bytes } => write!(f, "(sha256:{sha256}, {bytes} bytes)"),
        }
    }
}

/// A changing output value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputChange {
    pub(crate) name: String,
    pub(crate) actions: Vec<String>,
    pub(crate) action: Action,
    pub(crate) sensitive: bool,
    pub(crate) before: Option<Shown>,
    pub(crate) after: Option<Shown>,
}

/// A root module input variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    pub(crate) name: String,
    /// Declared `sensitive`, or not declared in the plan's configuration (then kopsform cannot tell,
    /// and hides it).
    pub(crate) sensitive: bool,
    pub(crate) value: Shown,
}

impl PlanSummary {
    /// The line Terraform prints after the changes: `Plan: 1 to import, 2 to add, 0 to change,
    /// 1 to destroy.`, or `No changes.`
    pub(crate) fn headline(&self) -> String {
        let c = &self.counts;
        if self.changes.is_empty() && c.invoke == 0 {
            return match self.outputs.len() {
                0 => "No changes.".to_string(),
                1 => "No resource changes; 1 output value changes.".to_string(),
                n => format!("No resource changes; {n} output values change."),
            };
        }
        let mut line = String::from("Plan: ");
        if c.import > 0 {
            line.push_str(&format!("{} to import, ", c.import));
        }
        line.push_str(&format!(
            "{} to add, {} to change, {} to destroy",
            c.add, c.change, c.destroy
        ));
        if self.forget_in_headline && c.forget > 0 {
            line.push_str(&format!(", {} to forget", c.forget));
        }
        line.push('.');
        if c.invoke > 0 {
            line.push_str(&format!(" Actions: {} to invoke.", c.invoke));
        }
        line
    }

    /// Applying the plan would change something: resources, outputs or actions.
    pub(crate) fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.outputs.is_empty() || self.counts.invoke > 0
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a plan
// ---------------------------------------------------------------------------------------------

/// A plan read in one streaming pass: its summary without attribute rows, and what a second
/// pass needs to produce the rows change by change ([`Rows::each`]). Neither the plan's text
/// nor all rows are ever held at once, so a review of a large plan needs little memory.
pub(crate) struct Plan {
    pub(crate) summary: PlanSummary,
    pub(crate) rows: Rows,
}

/// The second pass over a plan: its source and every secret the first pass found.
pub(crate) struct Rows {
    source: Source,
    secrets: Secrets,
}

/// Where the plan JSON is read from, once per pass.
enum Source {
    /// A file that is plan JSON (a UTF-8 byte-order mark is skipped).
    File(std::path::PathBuf),
    /// `terraform show -json` output, or text given to [`summarize`].
    Bytes(Vec<u8>),
}

/// Reads PLAN: plan JSON as it is (content starting with `{`), or a saved plan through
/// `TOOL show -json` run in the plan's folder; without the attribute rows ([`Rows::each`] gives
/// them).
pub(crate) fn open(plan: &Path, tool: &str, env: &[(String, String)]) -> Result<Plan, UserError> {
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
        Source::Bytes(crate::tools::terraform::show_json(plan, tool, env)?)
    };
    Plan::read(source).map_err(|e| UserError::new(format!("{}: {e}", plan.display())))
}

/// The plan's JSON text: the file itself when it is JSON, else `terraform show -json` of it.
/// A saved plan is read with `env` (the task's environment: `TF_DATA_DIR`, credentials).
pub(crate) fn read_json(
    plan: &Path,
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
        crate::tools::terraform::show_json(plan, tool, env)?
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
    Plan::read(Source::Bytes(json_text.into_bytes()))
}

impl Plan {
    /// The first pass: everything but the resource changes' attribute rows. Their values are
    /// skipped, unless Terraform marks some as sensitive: then one more pass reads those secrets.
    fn read(source: Source) -> Result<Plan, String> {
        let mut first = First::default();
        let top = scan::<IgnoredAny>(&source, &mut |item| {
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
        let (summary, secrets) = first.finish(top, format_version)?;
        Ok(Plan {
            summary,
            rows: Rows { source, secrets },
        })
    }

    /// The summary with every change's attribute rows.
    pub(crate) fn into_summary(mut self) -> Result<PlanSummary, UserError> {
        let mut all: Vec<Vec<AttributeChange>> = Vec::with_capacity(self.summary.changes.len());
        self.rows.each(&self.summary.changes, &mut |_, rows| {
            all.push(rows);
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
        f: &mut dyn FnMut(usize, Vec<AttributeChange>) -> bool,
    ) -> Result<(), UserError> {
        let mut next = 0;
        // `f` had enough.
        let mut ended = false;
        let result = scan::<Value>(&self.source, &mut |item| {
            let Item::Change(rc) = item else {
                return Ok(());
            };
            let action = Action::from_actions(&rc.change.actions);
            if !shown(&rc, action) {
                return Ok(());
            }
            let i = next;
            next += 1;
            if changes.get(i).is_none_or(|c| c.address != rc.address) {
                return Err(CHANGED.to_string());
            }
            if f(i, rows(&rc, action, &self.secrets)) {
                return Ok(());
            }
            ended = true;
            Err(ENOUGH.to_string())
        });
        match (result, ended) {
            (_, true) => Ok(()),
            (Ok(_), false) if next == changes.len() => Ok(()),
            // The first pass read the same source without error: it was rewritten since.
            (Ok(_), false) | (Err(_), false) => Err(UserError::new(
                "the plan changed while it was read (it was rewritten between two reads of it); \
                 run the review again once the plan is written",
            )),
        }
    }
}

/// The error of a second pass that no longer finds the changes of the first.
const CHANGED: &str = "plan changed";
/// The error that ends a second pass early.
const ENOUGH: &str = "enough";

fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    // serde quotes a mistyped string (`invalid type: string "...", expected ...`): it could be a
    // secret in the wrong place, so it is left out.
    match (text.find("string \""), text.rfind("\", expected")) {
        (Some(start), Some(end)) if start < end => {
            format!("{}a string{}", &text[..start], &text[end + 1..])
        }
        _ => text.to_string(),
    }
}

fn check_format_version(version: Option<&Value>) -> Result<String, String> {
    let version = match version {
        None => {
            return Err(
                "not Terraform plan JSON: it has no `format_version`; pass a saved plan or the output of `terraform show -json PLAN`"
                    .to_string(),
            );
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "not Terraform plan JSON: `format_version` is {other}, not a string like \"1.2\""
            ));
        }
    };
    let major = version.split('.').next().unwrap_or_default();
    if major != SUPPORTED_FORMAT_MAJOR {
        return Err(format!(
            "plan JSON format_version {version:?} is not supported: kopsform reads format 1.x \
             (Terraform 0.12 to 1.x, OpenTofu); upgrade kopsform, or produce the JSON with a \
             Terraform that writes format 1.x"
        ));
    }
    Ok(version)
}

// ---------------------------------------------------------------------------------------------
// The plan JSON as Terraform writes it (internal/command/jsonplan), streamed: the top-level
// object is visited key by key and `resource_changes`/`resource_drift` element by element, each
// handed to the pass and dropped. Unlisted fields are skipped without building values.
// ---------------------------------------------------------------------------------------------

/// The top-level fields other than the change lists.
#[derive(Default)]
struct Top {
    format_version: Option<String>,
    terraform_version: Option<String>,
    variables: IndexMap<String, RawVariable>,
    output_changes: IndexMap<String, RawChange>,
    deferred_changes: usize,
    action_invocations: usize,
    declared: IndexMap<String, bool>,
    applyable: Option<bool>,
    errored: Option<bool>,
}

/// One element of a change list.
/// `V` is what a change's `before` and `after` are read as: `IgnoredAny` when a pass does not
/// need them (the first pass), `Value` when it does. Drift entries always have their values.
enum Item<V> {
    Change(RawResourceChange<V>),
    Drift(RawResourceChange),
}

type OnItem<'a, V> = dyn FnMut(Item<V>) -> Result<(), String> + 'a;

/// One pass over the plan JSON of `source`: fast, one value at a time ([`fast_scan`]); when that
/// finds the document malformed, serde_json's own reader reads it again to say what and where.
fn scan<V: DeserializeOwned>(source: &Source, on_item: &mut OnItem<V>) -> Result<Top, String> {
    let fast = match source {
        Source::Bytes(bytes) => fast_scan(skip_bom(bytes), on_item),
        Source::File(path) => fast_scan(open_past_bom(path, 4096)?, on_item),
    };
    match fast {
        Ok(top) => Ok(top),
        Err(Fast::Stopped(message)) => Err(message),
        Err(Fast::Io(e)) => Err(format!("cannot read the plan: {e}")),
        Err(Fast::Malformed) => match strict_error(source)? {
            Some(message) => Err(message),
            // Well-formed after all: only a value the fast reader copied failed to parse in a way
            // the strict one (which parses the whole document at once) does not see. Say so
            // rather than guess.
            None => Err(
                "not Terraform plan JSON: a resource change or top-level field does not have the \
                 shape Terraform writes; pass a saved plan or the output of `terraform show -json PLAN`"
                    .to_string(),
            ),
        },
    }
}

/// The plan file, buffered, past a UTF-8 byte-order mark.
fn open_past_bom(
    path: &Path,
    capacity: usize,
) -> Result<std::io::BufReader<std::fs::File>, String> {
    let fail = |e: std::io::Error| format!("cannot read the plan: {e}");
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut reader = std::io::BufReader::with_capacity(capacity, file);
    if reader
        .fill_buf()
        .map_err(fail)?
        .starts_with(&[0xEF, 0xBB, 0xBF])
    {
        reader.consume(3);
    }
    Ok(reader)
}

fn skip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes)
}

/// How a fast pass ended early.
enum Fast {
    /// The pass's own error (or its signal that it has enough), passed on.
    Stopped(String),
    Io(std::io::Error),
    /// Not well-formed, or a value not of the expected shape: read again to say why.
    Malformed,
}

impl From<crate::plan::jsonscan::Malformed> for Fast {
    fn from(e: crate::plan::jsonscan::Malformed) -> Self {
        match e {
            crate::plan::jsonscan::Malformed::Syntax => Fast::Malformed,
            crate::plan::jsonscan::Malformed::Io(e) => Fast::Io(e),
        }
    }
}

/// One pass that copies one top-level field or change-list element at a time into a buffer and
/// parses that slice (serde_json parses slices several times faster than readers); skipped fields
/// (`prior_state`, `planned_values`, ...) are never held. A malformed document is read again
/// by [`strict_error`] for the message.
fn fast_scan<V: DeserializeOwned>(reader: impl Read, on_item: &mut OnItem<V>) -> Result<Top, Fast> {
    fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Fast> {
        serde_json::from_slice(raw).map_err(|_| Fast::Malformed)
    }
    let mut s = crate::plan::jsonscan::Scanner::new(reader);
    let mut top = Top::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut raw = Vec::new();
    let mut more = s.open_object()?;
    while more {
        let key = s.key(&mut raw)?;
        if !seen.insert(key.clone()) {
            return Err(Fast::Malformed);
        }
        raw.clear();
        match key.as_str() {
            "resource_changes" | "resource_drift" => {
                if s.peek()? == Some(b'n') {
                    s.value(Some(&mut raw))?;
                    parse::<()>(&raw)?;
                } else if s.open_list()? {
                    loop {
                        raw.clear();
                        s.value(Some(&mut raw))?;
                        let item = if key == "resource_drift" {
                            Item::Drift(parse(&raw)?)
                        } else {
                            Item::Change(parse(&raw)?)
                        };
                        on_item(item).map_err(Fast::Stopped)?;
                        if !s.next_or_end(b']')? {
                            break;
                        }
                    }
                }
            }
            "configuration" => {
                if s.peek()? == Some(b'{') {
                    top.declared = declared_variables(&mut s, &mut raw)?;
                } else {
                    // Only `null` is not an object and still a configuration.
                    s.value(Some(&mut raw))?;
                    parse::<()>(&raw)?;
                }
            }
            "format_version" | "terraform_version" | "variables" | "output_changes"
            | "deferred_changes" | "action_invocations" | "applyable" | "errored" => {
                s.value(Some(&mut raw))?;
                match key.as_str() {
                    "format_version" => {
                        let v: Value = parse(&raw)?;
                        top.format_version =
                            Some(check_format_version(Some(&v)).map_err(Fast::Stopped)?);
                    }
                    "terraform_version" => top.terraform_version = parse(&raw)?,
                    "variables" => top.variables = parse::<Option<_>>(&raw)?.unwrap_or_default(),
                    "output_changes" => {
                        top.output_changes = parse::<Option<_>>(&raw)?.unwrap_or_default()
                    }
                    "deferred_changes" => {
                        top.deferred_changes =
                            parse::<Option<Vec<IgnoredAny>>>(&raw)?.map_or(0, |v| v.len())
                    }
                    "action_invocations" => {
                        top.action_invocations =
                            parse::<Option<Vec<IgnoredAny>>>(&raw)?.map_or(0, |v| v.len())
                    }
                    "applyable" => top.applyable = parse(&raw)?,
                    _ => top.errored = parse(&raw)?,
                }
            }
            _ => s.value(None)?,
        }
        more = s.next_or_end(b'}')?;
    }
    if !s.at_end()? {
        return Err(Fast::Malformed);
    }
    Ok(top)
}

/// `configuration.root_module.variables[*].sensitive`, without holding the rest of the
/// configuration (a resource block per resource: large).
fn declared_variables<R: Read>(
    s: &mut crate::plan::jsonscan::Scanner<R>,
    raw: &mut Vec<u8>,
) -> Result<IndexMap<String, bool>, Fast> {
    let mut declared = IndexMap::new();
    let mut more = s.open_object()?;
    while more {
        if s.key(raw)? == "root_module" && s.peek()? == Some(b'{') {
            let mut more_module = s.open_object()?;
            while more_module {
                if s.key(raw)? == "variables" {
                    raw.clear();
                    s.value(Some(raw))?;
                    let variables: Option<IndexMap<String, RawVariableDeclaration>> =
                        serde_json::from_slice(raw).map_err(|_| Fast::Malformed)?;
                    declared = variables
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(name, d)| (name, d.sensitive.unwrap_or(false)))
                        .collect();
                } else {
                    s.value(None)?;
                }
                more_module = s.next_or_end(b'}')?;
            }
        } else {
            s.value(None)?;
        }
        more = s.next_or_end(b'}')?;
    }
    Ok(declared)
}

/// Why the plan JSON is malformed, in serde's words with line and column: the whole document read
/// again with serde_json's own reader (slower), in the shapes [`fast_scan`] expects. `None` when
/// it finds nothing wrong.
fn strict_error(source: &Source) -> Result<Option<String>, String> {
    // The plan's fields as the fast reader reads them (read only to check their shape); the
    // change lists are checked and dropped element by element.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Configuration {
        root_module: Option<Module>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Module {
        variables: Option<IndexMap<String, RawVariableDeclaration>>,
    }
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Strict {
        format_version: Option<Value>,
        terraform_version: Option<String>,
        variables: Option<IndexMap<String, RawVariable>>,
        resource_drift: Option<Checked<RawResourceChange>>,
        resource_changes: Option<Checked<RawResourceChange<IgnoredAny>>>,
        output_changes: Option<IndexMap<String, RawChange>>,
        deferred_changes: Option<Checked<IgnoredAny>>,
        action_invocations: Option<Checked<IgnoredAny>>,
        configuration: Option<Configuration>,
        applyable: Option<bool>,
        errored: Option<bool>,
    }
    let result = match source {
        Source::Bytes(bytes) => serde_json::from_slice::<Strict>(skip_bom(bytes)).map(drop),
        Source::File(path) => {
            serde_json::from_reader::<_, Strict>(open_past_bom(path, 64 * 1024)?).map(drop)
        }
    };
    Ok(result.err().map(|e| {
        if e.is_io() {
            return format!("cannot read the plan: {}", describe_json_error(&e));
        }
        format!(
            "not Terraform plan JSON: {} at line {} column {}; pass a saved plan or the output of `terraform show -json PLAN`",
            describe_json_error(&e),
            e.line(),
            e.column()
        )
    }))
}

/// A list whose elements are checked one by one and dropped.
struct Checked<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Each<T> {
            type Value = Checked<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked<T>, A::Error> {
                while seq.next_element::<T>()?.is_some() {}
                Ok(Checked(PhantomData))
            }
        }
        d.deserialize_seq(Each(PhantomData))
    }
}

#[derive(Deserialize)]
struct RawVariable {
    value: Option<Value>,
}

#[derive(Deserialize)]
struct RawVariableDeclaration {
    sensitive: Option<bool>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
struct RawResourceChange<V = Value> {
    #[serde(default)]
    address: String,
    previous_address: Option<String>,
    module_address: Option<String>,
    mode: Option<String>,
    #[serde(rename = "type", default)]
    resource_type: String,
    #[serde(default)]
    name: String,
    index: Option<Value>,
    deposed: Option<String>,
    #[serde(default)]
    change: RawChange<V>,
    action_reason: Option<String>,
}

/// A change; its marker trees are small and always read, its values as `V` (see [`Item`]).
#[derive(Deserialize)]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
struct RawChange<V = Value> {
    #[serde(default)]
    actions: Vec<String>,
    before: Option<V>,
    after: Option<V>,
    after_unknown: Option<Value>,
    before_sensitive: Option<Value>,
    after_sensitive: Option<Value>,
    replace_paths: Option<Vec<Vec<Value>>>,
    importing: Option<RawImporting>,
}

impl<V> Default for RawChange<V> {
    fn default() -> Self {
        RawChange {
            actions: Vec::new(),
            before: None,
            after: None,
            after_unknown: None,
            before_sensitive: None,
            after_sensitive: None,
            replace_paths: None,
            importing: None,
        }
    }
}

#[derive(Deserialize)]
struct RawImporting {
    id: Option<String>,
}

/// A marker tree (`*_sensitive`, `after_unknown`) with a `true` in it. Most are `{}` or `false`.
fn marks_something(marker: &Option<Value>) -> bool {
    marker.as_ref().is_some_and(|m| !is_unmarked(m))
}

// ---------------------------------------------------------------------------------------------
// Building the summary
// ---------------------------------------------------------------------------------------------

/// What the first pass gathers.
#[derive(Default)]
struct First {
    secrets: Secrets,
    counts: Counts,
    changes: Vec<ResourceChange>,
    /// The import IDs of `changes`, shown once every secret is known.
    import_ids: Vec<(usize, String)>,
    /// Drift entries, kept whole: they are few, and their rows need every secret.
    drift: Vec<RawResourceChange>,
    /// Some resource change has values marked sensitive (read by another pass).
    marked_values: bool,
}

impl First {
    fn item(&mut self, item: Item<IgnoredAny>) {
        let rc = match item {
            Item::Drift(rc) => {
                self.learn(&rc.change, false);
                self.drift.push(rc);
                return;
            }
            Item::Change(rc) => rc,
        };
        let c = &rc.change;
        if marks_something(&c.before_sensitive) || marks_something(&c.after_sensitive) {
            self.marked_values = true;
        }
        let action = Action::from_actions(&c.actions);
        if !shown(&rc, action) {
            return;
        }
        let moved = is_moved(&rc);
        count(
            &mut self.counts,
            action,
            rc.change.importing.is_some(),
            moved,
        );
        let (change, import_id) = light(rc, action);
        if let Some(id) = import_id {
            self.import_ids.push((self.changes.len(), id));
        }
        self.changes.push(change);
    }

    /// The marked values of a change, as secrets.
    fn learn(&mut self, c: &RawChange, substring: bool) {
        for (value, marker) in [
            (&c.before, &c.before_sensitive),
            (&c.after, &c.after_sensitive),
        ] {
            if let Some(value) = value {
                self.secrets.add_marked(value, marker.as_ref(), substring);
            }
        }
    }

    fn finish(
        mut self,
        top: Top,
        format_version: String,
    ) -> Result<(PlanSummary, Secrets), String> {
        for (name, var) in &top.variables {
            if variable_is_sensitive(&top.declared, name)
                && let Some(value) = &var.value
            {
                self.secrets.add_all(value, true);
            }
        }
        for change in top.output_changes.values() {
            self.learn(change, true);
        }
        let secrets = self.secrets;
        let mut changes = self.changes;
        for (i, id) in self.import_ids {
            if let Some(import) = &mut changes[i].importing {
                import.id = Some(if secrets.hides(&id) {
                    Shown::Sensitive
                } else {
                    Shown::Value(id)
                });
            }
        }
        let mut drift = Vec::new();
        for rc in self.drift {
            let action = Action::from_actions(&rc.change.actions);
            let rows = rows(&rc, action, &secrets);
            let (mut entry, import_id) = light(rc, action);
            entry.attributes = rows;
            if let (Some(import), Some(id)) = (&mut entry.importing, import_id) {
                import.id = Some(if secrets.hides(&id) {
                    Shown::Sensitive
                } else {
                    Shown::Value(id)
                });
            }
            if entry.action != Action::NoOp || entry.is_moved() {
                drift.push(entry);
            }
        }

        let mut outputs = Vec::new();
        for (name, change) in top.output_changes {
            let action = Action::from_actions(&change.actions);
            if action != Action::NoOp {
                outputs.push(output_change(name, action, change, &secrets));
            }
        }
        outputs.sort_by(|a, b| a.name.cmp(&b.name));

        let mut variables: Vec<Variable> = top
            .variables
            .into_iter()
            .map(|(name, var)| {
                let sensitive = variable_is_sensitive(&top.declared, &name);
                let value = if sensitive {
                    Shown::Sensitive
                } else {
                    secrets.show(var.value.as_ref().unwrap_or(&Value::Null), None)
                };
                Variable {
                    name,
                    sensitive,
                    value,
                }
            })
            .collect();
        variables.sort_by(|a, b| a.name.cmp(&b.name));

        let counts = Counts {
            invoke: top.action_invocations,
            ..self.counts
        };
        let summary = PlanSummary {
            format_version,
            terraform_version: top.terraform_version,
            changes,
            drift,
            outputs,
            variables,
            counts,
            errored: top.errored.unwrap_or(false),
            deferred: top.deferred_changes,
            forget_in_headline: top.applyable.is_none(),
        };
        Ok((summary, secrets))
    }
}

fn is_moved<V>(rc: &RawResourceChange<V>) -> bool {
    rc.previous_address
        .as_ref()
        .is_some_and(|p| !p.is_empty() && *p != rc.address)
}

/// The changes Terraform shows: not ephemeral, not a plain no-op, not a deleted data source.
fn shown<V>(rc: &RawResourceChange<V>, action: Action) -> bool {
    let mode = rc.mode.as_deref().unwrap_or("managed");
    if mode == "ephemeral" {
        return false;
    }
    if action == Action::NoOp && !is_moved(rc) && rc.change.importing.is_none() {
        return false;
    }
    !(action == Action::Delete && mode != "managed")
}

/// Undeclared variables count as sensitive: without the declaration kopsform cannot tell.
fn variable_is_sensitive(declared: &IndexMap<String, bool>, name: &str) -> bool {
    declared.get(name).copied().unwrap_or(true)
}

/// Counts as Terraform's renderer does (see the module comment).
fn count(counts: &mut Counts, action: Action, importing: bool, moved: bool) {
    if importing {
        counts.import += 1;
    }
    if moved {
        counts.moved += 1;
    }
    match action {
        Action::Create => counts.add += 1,
        Action::Update => counts.change += 1,
        Action::Delete => counts.destroy += 1,
        Action::DeleteThenCreate | Action::CreateThenDelete => {
            counts.add += 1;
            counts.destroy += 1;
        }
        Action::CreateThenForget | Action::ForgetThenCreate => {
            counts.add += 1;
            counts.forget += 1;
        }
        Action::Forget => counts.forget += 1,
        Action::Read => counts.read += 1,
        Action::NoOp | Action::Unknown => {}
    }
}

fn replace_steps<V>(c: &RawChange<V>) -> Vec<Vec<Step>> {
    c.replace_paths
        .iter()
        .flatten()
        .map(|path| path.iter().filter_map(Step::from_json).collect())
        .collect()
}

/// A change without its attribute rows, and its import ID (shown once the secrets are known).
fn light<V>(rc: RawResourceChange<V>, action: Action) -> (ResourceChange, Option<String>) {
    let c = rc.change;
    let replace_paths = replace_steps(&c).iter().map(|p| path_text(p)).collect();
    let previous_address = rc
        .previous_address
        .filter(|p| !p.is_empty() && *p != rc.address);
    let (importing, import_id) = match c.importing {
        Some(i) => (Some(Import { id: None }), i.id),
        None => (None, None),
    };
    let change = ResourceChange {
        previous_address,
        module_address: rc.module_address.filter(|m| !m.is_empty()),
        mode: rc.mode.unwrap_or_else(|| "managed".to_string()),
        resource_type: rc.resource_type,
        name: rc.name,
        index: rc.index.as_ref().map(|i| format!("[{i}]")),
        deposed: rc.deposed.filter(|d| !d.is_empty()),
        actions: c.actions,
        action,
        action_reason: rc.action_reason.filter(|r| !r.is_empty()),
        replace_paths,
        importing,
        attributes: Vec::new(),
        address: rc.address,
    };
    (change, import_id)
}

/// A change's attribute rows: what changes (update, replace), is set (create) or goes (delete).
fn rows(rc: &RawResourceChange, action: Action, secrets: &Secrets) -> Vec<AttributeChange> {
    let c = &rc.change;
    let replace = replace_steps(c);
    let after_absent = c.after.is_none() && !c.after_unknown.as_ref().is_some_and(is_true);
    let side = match action {
        Action::Delete | Action::Forget => Side::Before,
        _ if c.before.is_none() => Side::After,
        _ if after_absent => Side::Before,
        _ => Side::Both,
    };
    let mut walk = Walk {
        secrets,
        replace: &replace,
        side,
        steps: Vec::new(),
        rows: Vec::new(),
    };
    walk.walk(
        c.before.as_ref(),
        c.after.as_ref(),
        Marks {
            before_sensitive: c.before_sensitive.as_ref(),
            after_sensitive: c.after_sensitive.as_ref(),
            after_unknown: c.after_unknown.as_ref(),
        },
    );
    walk.rows
}

fn output_change(name: String, action: Action, c: RawChange, secrets: &Secrets) -> OutputChange {
    let sensitive = marks_something(&c.before_sensitive) || marks_something(&c.after_sensitive);
    let before = (!matches!(action, Action::Create)).then(|| {
        if sensitive {
            Shown::Sensitive
        } else {
            secrets.show(c.before.as_ref().unwrap_or(&Value::Null), None)
        }
    });
    let after = (!matches!(action, Action::Delete)).then(|| {
        if marks_something(&c.after_unknown) {
            Shown::Unknown
        } else if sensitive {
            Shown::Sensitive
        } else {
            secrets.show(c.after.as_ref().unwrap_or(&Value::Null), None)
        }
    });
    OutputChange {
        name,
        actions: c.actions,
        action,
        sensitive,
        before,
        after,
    }
}

// ---------------------------------------------------------------------------------------------
// Sensitive values
// ---------------------------------------------------------------------------------------------

/// The plan's sensitive strings: any value equal to one is hidden; any value containing one of a
/// variable or output is hidden too (those are few, so the substring search stays cheap).
#[derive(Default)]
struct Secrets {
    exact: HashSet<String>,
    substrings: Vec<String>,
}

impl Secrets {
    fn add(&mut self, s: &str, substring: bool) {
        if s.chars().count() < MIN_SECRET_LEN {
            return;
        }
        if substring && !self.substrings.iter().any(|x| x == s) {
            self.substrings.push(s.to_string());
        }
        if !self.exact.contains(s) {
            self.exact.insert(s.to_string());
        }
    }

    /// Every string in `value`.
    fn add_all(&mut self, value: &Value, substring: bool) {
        crate::redact::string_leaves(value, &mut |s| self.add(s, substring));
    }

    /// The strings of `value` under `true` in the marker tree.
    fn add_marked(&mut self, value: &Value, marker: Option<&Value>, substring: bool) {
        if let Some(marker) = marker {
            crate::redact::marked_strings(value, marker, &mut |s| self.add(s, substring));
        }
    }

    fn hides(&self, s: &str) -> bool {
        s.chars().count() >= MIN_SECRET_LEN
            && (self.exact.contains(s) || self.substrings.iter().any(|x| s.contains(x.as_str())))
    }

    /// The display form of a value that Terraform did not mark sensitive. `attribute` is the name
    /// of the attribute holding it, for the blob names.
    fn show(&self, value: &Value, attribute: Option<&str>) -> Shown {
        match value {
            Value::String(s) => {
                if self.hides(s) {
                    Shown::Sensitive
                } else if !s.is_empty()
                    && (attribute.is_some_and(|a| BLOB_ATTRIBUTES.contains(&a))
                        || s.contains('\n')
                        || s.chars().count() > BLOB_CHARS)
                {
                    blob(s)
                } else {
                    Shown::Value(Value::String(s.clone()).to_string())
                }
            }
            Value::Array(_) | Value::Object(_) => {
                let text = value.to_string();
                if self.contains_hidden(value) {
                    Shown::Sensitive
                } else if text.chars().count() > BLOB_CHARS {
                    blob(&text)
                } else {
                    Shown::Value(text)
                }
            }
            other => Shown::Value(other.to_string()),
        }
    }

    fn contains_hidden(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.hides(s),
            Value::Array(items) => items.iter().any(|v| self.contains_hidden(v)),
            Value::Object(map) => map.values().any(|v| self.contains_hidden(v)),
            _ => false,
        }
    }
}

fn blob(text: &str) -> Shown {
    let digest = Sha256::digest(text.as_bytes());
    let hex = crate::text::hex(&digest[..HASH_PREFIX / 2]);
    Shown::Blob {
        sha256: hex,
        bytes: text.len(),
    }
}

fn is_true(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

/// A marker tree with no `true` anywhere.
fn is_unmarked(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Array(items) => items.iter().all(is_unmarked),
        Value::Object(map) => map.values().all(is_unmarked),
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Attribute rows: a walk over before and after together
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Step {
    fn from_json(v: &Value) -> Option<Step> {
        match v {
            Value::String(s) => Some(Step::Key(s.clone())),
            Value::Number(n) => n.as_u64().map(|i| Step::Index(i as usize)),
            _ => None,
        }
    }
}

/// `size`, `tags["kubernetes.io/cluster/x"]`, `launch_template[0].id`.
fn path_text(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(k) if is_identifier(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Key(k) => {
                out.push('[');
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(']');
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Which sides of a change exist.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Create (and reads of data sources): only after.
    After,
    /// Delete and forget: only before.
    Before,
    Both,
}

#[derive(Clone, Copy)]
struct Marks<'a> {
    before_sensitive: Option<&'a Value>,
    after_sensitive: Option<&'a Value>,
    after_unknown: Option<&'a Value>,
}

impl<'a> Marks<'a> {
    fn key(self, k: &str) -> Marks<'a> {
        let child = |m: Option<&'a Value>| match m {
            Some(Value::Bool(true)) => m,
            Some(Value::Object(map)) => map.get(k),
            _ => None,
        };
        Marks {
            before_sensitive: child(self.before_sensitive),
            after_sensitive: child(self.after_sensitive),
            after_unknown: child(self.after_unknown),
        }
    }

    fn index(self, i: usize) -> Marks<'a> {
        let child = |m: Option<&'a Value>| match m {
            Some(Value::Bool(true)) => m,
            Some(Value::Array(items)) => items.get(i),
            _ => None,
        };
        Marks {
            before_sensitive: child(self.before_sensitive),
            after_sensitive: child(self.after_sensitive),
            after_unknown: child(self.after_unknown),
        }
    }
}

struct Walk<'a> {
    secrets: &'a Secrets,
    replace: &'a [Vec<Step>],
    side: Side,
    steps: Vec<Step>,
    rows: Vec<AttributeChange>,
}

fn non_empty_container(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    }
}

fn index(v: Option<&Value>, i: usize) -> Option<&Value> {
    match v {
        Some(Value::Array(a)) => a.get(i),
        _ => None,
    }
}

fn member<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    match v {
        Some(Value::Object(m)) => m.get(key),
        _ => None,
    }
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

impl Walk<'_> {
    fn walk(&mut self, before: Option<&Value>, after: Option<&Value>, marks: Marks) {
        let before = if self.side == Side::After {
            None
        } else {
            present(before)
        };
        let after = if self.side == Side::Before {
            None
        } else {
            present(after)
        };
        let unknown = self.side != Side::Before && marks.after_unknown.is_some_and(is_true);
        let sensitive = marks.before_sensitive.is_some_and(is_true)
            || marks.after_sensitive.is_some_and(is_true);
        let scalar_vs_container = before.is_some()
            && after.is_some()
            && non_empty_container(before) != non_empty_container(after);
        let descend = !unknown
            && !sensitive
            && !scalar_vs_container
            && (non_empty_container(before)
                || non_empty_container(after)
                || marks.after_unknown.is_some_and(non_empty_unknown));
        if descend {
            self.descend(before, after, marks);
        } else {
            self.leaf(before, after, marks, unknown);
        }
    }

    fn descend(&mut self, before: Option<&Value>, after: Option<&Value>, marks: Marks) {
        let as_array = matches!(before, Some(Value::Array(_)))
            || matches!(after, Some(Value::Array(_)))
            || matches!(marks.after_unknown, Some(Value::Array(_)));
        if as_array {
            let len = |v: Option<&Value>| match v {
                Some(Value::Array(a)) => a.len(),
                _ => 0,
            };
            let n = len(before).max(len(after)).max(len(marks.after_unknown));
            for i in 0..n {
                self.steps.push(Step::Index(i));
                self.walk(index(before, i), index(after, i), marks.index(i));
                self.steps.pop();
            }
            return;
        }
        let mut keys: Vec<&str> = Vec::new();
        let unknown = (self.side != Side::Before)
            .then_some(marks.after_unknown)
            .flatten();
        for v in [before, after, unknown] {
            if let Some(Value::Object(map)) = v {
                keys.extend(map.keys().map(String::as_str));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.steps.push(Step::Key(key.to_string()));
            self.walk(member(before, key), member(after, key), marks.key(key));
            self.steps.pop();
        }
    }

    fn leaf(&mut self, before: Option<&Value>, after: Option<&Value>, marks: Marks, unknown: bool) {
        let changed = match self.side {
            Side::After => after.is_some() || unknown,
            Side::Before => before.is_some(),
            Side::Both => unknown || before != after,
        };
        if !changed {
            return;
        }
        let attribute = self.steps.iter().rev().find_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        });
        let show = |v: Option<&Value>, marker: Option<&Value>| {
            let v = v.unwrap_or(&Value::Null);
            if marker.is_some_and(is_true) && !v.is_null() {
                Shown::Sensitive
            } else {
                self.secrets.show(v, attribute)
            }
        };
        let before_shown = (self.side != Side::After).then(|| show(before, marks.before_sensitive));
        let after_shown = (self.side != Side::Before).then(|| {
            if unknown {
                Shown::Unknown
            } else {
                show(after, marks.after_sensitive)
            }
        });
        let forces_replacement = self.replace.iter().any(|p| {
            let n = p.len().min(self.steps.len());
            p[..n] == self.steps[..n]
        });
        self.rows.push(AttributeChange {
            path: path_text(&self.steps),
            before: before_shown,
            after: after_shown,
            forces_replacement,
        });
    }
}

/// An `after_unknown` tree with some `true` in it.
fn non_empty_unknown(v: &Value) -> bool {
    !is_unmarked(v)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_plan_rewritten_between_the_two_passes_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        let one = plan(&rc("aws_instance.a", r#"["create"]"#, ""));
        std::fs::write(&path, &one).unwrap();
        let opened = open(&path, "terraform", &[]).unwrap();
        assert_eq!(opened.summary.changes.len(), 1);
        let other = plan(&rc("aws_instance.b", r#"["create"]"#, ""));
        std::fs::write(&path, &other).unwrap();
        let err = opened.into_summary().unwrap_err().to_string();
        assert!(err.contains("the plan changed while it was read"), "{err}");
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
        assert_eq!(s.changes[0].previous_address.as_deref(), Some("a.old"));
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
        assert_eq!(s.changes[0].replace_paths, ["size"]);
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
        let steps = [
            Step::Key("tag".into()),
            Step::Index(3),
            Step::Key("key".into()),
        ];
        assert_eq!(path_text(&steps), "tag[3].key");
        assert_eq!(
            path_text(&[Step::Key("tags".into()), Step::Key("a/b".into())]),
            "tags[\"a/b\"]"
        );
    }
}

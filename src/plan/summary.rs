//! The summary: what a plan does ([`PlanSummary`], its changes, outputs, variables and counts),
//! every value already in display form ([`Shown`]). Built by `build`, read by the review.

use std::borrow::Cow;
use std::fmt;

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
    /// The managed files and user data that change, decoded (`filediff`), by change index;
    /// filled by [`Plan::with_files`](super::read::Plan::with_files).
    pub(crate) files: Vec<FileChange>,
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
///
/// A review keeps one per change of the plan for the whole run, so the common fields are inline
/// and the rarely set ones (moves, modules, instance keys, deposed objects, reasons, replace paths,
/// imports) share one box that most changes never allocate; `mode` and `actions` borrow Terraform's
/// usual words instead of copying them (docs/performance.md, peak memory of the review).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceChange {
    pub(crate) address: String,
    /// `managed` or `data`.
    pub(crate) mode: Word,
    pub(crate) resource_type: String,
    pub(crate) name: String,
    /// Terraform's action list, verbatim.
    pub(crate) actions: Actions,
    pub(crate) action: Action,
    /// Attribute rows: what changes (update, replace), is set (create) or goes (delete).
    pub(crate) attributes: Vec<AttributeChange>,
    pub(crate) rare: Option<Box<Rare>>,
}

/// A word of Terraform's (`managed`, `create`): borrowed when it is one of the usual ones.
pub(crate) type Word = Cow<'static, str>;

/// Terraform's action list: one of the usual lists, borrowed, or a copy of another.
pub(crate) type Actions = Cow<'static, [Word]>;

/// The fields of a change that most changes do not have.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rare {
    /// The address before a `moved` block, when it differs.
    pub(crate) previous_address: Option<String>,
    pub(crate) module_address: Option<String>,
    /// The instance key as Terraform prints it after the name (`[0]`, `["a"]`), when there is one.
    pub(crate) index: Option<String>,
    /// The key of a deposed object (left over from a failed create-before-destroy).
    pub(crate) deposed: Option<String>,
    /// Terraform's `action_reason` keyword.
    pub(crate) action_reason: Option<String>,
    /// The attributes whose change forces the replacement, as paths (`tags["Name"]`).
    pub(crate) replace_paths: Vec<String>,
    /// Present when the object is imported.
    pub(crate) importing: Option<Import>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        *self == Rare::default()
    }
}

/// `mode` as a [`Word`].
pub(crate) fn word(text: String) -> Word {
    match text.as_str() {
        "managed" => Cow::Borrowed("managed"),
        "data" => Cow::Borrowed("data"),
        _ => Cow::Owned(text),
    }
}

/// An action list as [`Actions`].
pub(crate) fn actions(list: Vec<String>) -> Actions {
    const fn one(w: &'static str) -> Word {
        Cow::Borrowed(w)
    }
    const USUAL: &[&[Word]] = &[
        &[one("create")],
        &[one("update")],
        &[one("delete")],
        &[one("read")],
        &[one("no-op")],
        &[one("forget")],
        &[one("delete"), one("create")],
        &[one("create"), one("delete")],
        &[one("create"), one("forget")],
        &[one("forget"), one("create")],
    ];
    match USUAL.iter().find(|u| {
        u.len() == list.len() && u.iter().zip(&list).all(|(a, b)| a.as_ref() == b.as_str())
    }) {
        Some(u) => Cow::Borrowed(u),
        None => Cow::Owned(list.into_iter().map(Cow::Owned).collect()),
    }
}

impl ResourceChange {
    /// A change with no rare fields set (give them with [`ResourceChange::with_rare`]).
    pub(crate) fn new(
        address: String,
        mode: Word,
        resource_type: String,
        name: String,
        actions: Actions,
        action: Action,
    ) -> ResourceChange {
        ResourceChange {
            address,
            mode,
            resource_type,
            name,
            actions,
            action,
            attributes: Vec::new(),
            rare: None,
        }
    }

    /// The change with `rare`, boxed only when some field is set.
    pub(crate) fn with_rare(mut self, rare: Rare) -> ResourceChange {
        self.rare = (!rare.is_empty()).then(|| Box::new(rare));
        self
    }

    fn rare_str(&self, field: impl Fn(&Rare) -> &Option<String>) -> Option<&str> {
        self.rare.as_deref().and_then(|r| field(r).as_deref())
    }

    /// The address before a `moved` block, when it differs.
    pub(crate) fn previous_address(&self) -> Option<&str> {
        self.rare_str(|r| &r.previous_address)
    }

    pub(crate) fn module_address(&self) -> Option<&str> {
        self.rare_str(|r| &r.module_address)
    }

    /// The instance key as Terraform prints it after the name (`[0]`, `["a"]`).
    pub(crate) fn index(&self) -> Option<&str> {
        self.rare_str(|r| &r.index)
    }

    /// The key of a deposed object.
    pub(crate) fn deposed(&self) -> Option<&str> {
        self.rare_str(|r| &r.deposed)
    }

    /// Terraform's `action_reason` keyword.
    pub(crate) fn action_reason(&self) -> Option<&str> {
        self.rare_str(|r| &r.action_reason)
    }

    /// The attributes whose change forces the replacement, as paths (`tags["Name"]`).
    pub(crate) fn replace_paths(&self) -> &[String] {
        self.rare.as_deref().map_or(&[], |r| &r.replace_paths)
    }

    /// Present when the object is imported.
    pub(crate) fn importing(&self) -> Option<&Import> {
        self.rare.as_deref().and_then(|r| r.importing.as_ref())
    }

    pub(crate) fn importing_mut(&mut self) -> Option<&mut Import> {
        self.rare.as_deref_mut().and_then(|r| r.importing.as_mut())
    }

    pub(crate) fn is_moved(&self) -> bool {
        self.previous_address().is_some()
    }

    /// The address with the deposed key, as Terraform displays it.
    pub(crate) fn display_address(&self) -> String {
        match self.deposed() {
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

/// A file or user-data change of the plan, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileChange {
    /// Its change's index in the summary's `changes`.
    pub(crate) change: usize,
    /// `content` or `user_data`.
    pub(crate) attribute: &'static str,
    /// The attribute's row as the rest of the review shows it (the hash line).
    pub(crate) before: Shown,
    pub(crate) after: Shown,
    pub(crate) diff: FileDiff,
}

/// What the review shows of a file change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileDiff {
    /// A unified diff of the decoded, masked text: `@@ -a,b +c,d @@` headers and lines starting
    /// with ` `, `-` or `+`, at most `filediff::MAX_DIFF_LINES`; `left_out` lines more were not kept.
    Lines { lines: Vec<String>, left_out: usize },
    /// Not text kopsform decodes (why, in a few words): the hash line stands.
    NotText(&'static str),
    /// Holds a secret that masking cannot cut out line by line: not shown.
    Withheld,
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

//! Building the summary: the first pass ([`FirstPass`]) turns the streamed raw changes, outputs and
//! variables into a [`PlanSummary`] and the plan's [`Secrets`]; `rows` makes a change's rows.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use super::filediff::{self, FileAttributes};
use super::json_ref::JsonRef;
use super::raw::{RawChange, RawResourceChange};
use super::rows::{path_text, replace_steps, rows};
use super::secrets::Secrets;
use super::stream::{Item, Top, marks_something};
use super::summary::{
    self, Action, Counts, Import, OutputChange, PlanSummary, Rare, ResourceChange, Shown, Variable,
};
use crate::redact::Masks;

/// What the first pass gathers.
#[derive(Default)]
pub(super) struct FirstPass {
    secrets: Secrets,
    counts: Counts,
    changes: Vec<ResourceChange>,
    /// The import IDs of `changes`, shown once every secret is known.
    import_ids: Vec<(usize, String)>,
    /// Drift entries, kept whole: they are few, and their rows need every secret.
    drift: Vec<RawResourceChange>,
    /// Some resource change has values marked sensitive (read by another pass).
    pub(super) marked_values: bool,
    /// The managed files and user data that change, decoded once every secret is known.
    pub(super) pending: Vec<filediff::Pending>,
}

impl FirstPass {
    /// A first pass that hides the secrets `known` from outside the plan too.
    pub(super) fn knowing(known: Arc<Masks>) -> FirstPass {
        FirstPass {
            secrets: Secrets::knowing(known),
            ..FirstPass::default()
        }
    }

    pub(super) fn item(&mut self, item: Item<FileAttributes>) {
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
        self.pending
            .extend(filediff::pending(self.changes.len(), &rc, action));
        let (change, import_id) = light(rc, action);
        if let Some(id) = import_id {
            self.import_ids.push((self.changes.len(), id));
        }
        self.changes.push(change);
    }

    /// The secrets learned so far: a change's rows made with them are its final rows only if
    /// they are still empty at the end of the pass (secrets only grow).
    pub(super) fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// The marked values of a change, as secrets.
    pub(super) fn learn(&mut self, c: &RawChange, substring: bool) {
        for (value, marker) in [
            (&c.before, &c.before_sensitive),
            (&c.after, &c.after_sensitive),
        ] {
            if let Some(value) = value {
                self.secrets.add_marked(value, marker.as_ref(), substring);
            }
        }
    }

    pub(super) fn finish(
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
            if let Some(import) = changes[i].importing_mut() {
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
            let c = &rc.change;
            let before = c.before.as_ref().map(JsonRef::from_value);
            let after = c.after.as_ref().map(JsonRef::from_value);
            let rows = rows(c, before.as_ref(), after.as_ref(), action, &secrets);
            let (mut entry, import_id) = light(rc, action);
            entry.attributes = rows;
            if let (Some(import), Some(id)) = (entry.importing_mut(), import_id) {
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
                    secrets.show_value(var.value.as_ref().unwrap_or(&Value::Null), None)
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
            files: Vec::new(),
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
pub(super) fn shown<V>(rc: &RawResourceChange<V>, action: Action) -> bool {
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
    let change = ResourceChange::new(
        rc.address,
        summary::word(rc.mode.unwrap_or_else(|| "managed".to_string())),
        rc.resource_type,
        rc.name,
        summary::actions(c.actions),
        action,
    )
    .with_rare(Rare {
        previous_address,
        module_address: rc.module_address.filter(|m| !m.is_empty()),
        index: rc.index.as_ref().map(|i| format!("[{i}]")),
        deposed: rc.deposed.filter(|d| !d.is_empty()),
        action_reason: rc.action_reason.filter(|r| !r.is_empty()),
        replace_paths,
        importing,
    });
    (change, import_id)
}

fn output_change(name: String, action: Action, c: RawChange, secrets: &Secrets) -> OutputChange {
    let sensitive = marks_something(&c.before_sensitive) || marks_something(&c.after_sensitive);
    let before = (!matches!(action, Action::Create)).then(|| {
        if sensitive {
            Shown::Sensitive
        } else {
            secrets.show_value(c.before.as_ref().unwrap_or(&Value::Null), None)
        }
    });
    let after = (!matches!(action, Action::Delete)).then(|| {
        if marks_something(&c.after_unknown) {
            Shown::Unknown
        } else if sensitive {
            Shown::Sensitive
        } else {
            secrets.show_value(c.after.as_ref().unwrap_or(&Value::Null), None)
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

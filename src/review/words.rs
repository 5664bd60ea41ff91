//! Words: how a change is said in a sentence (its action, Terraform's reasons) and how code is
//! quoted in Markdown or plain text. A resource change in, phrases out.

use crate::plan::summary::{Action, ResourceChange};
use crate::tools::kops::{self, GroupStatus};

/// How code is quoted in a sentence.
#[derive(Clone, Copy)]
pub(super) enum Style {
    Markdown,
    Plain,
}

impl Style {
    fn code(self, s: &str) -> String {
        match self {
            Style::Markdown => code(s),
            Style::Plain => s.to_string(),
        }
    }
}

/// Terraform's `action_reason` and the other circumstances of a change, in words
/// (after Terraform's own renderer, internal/command/jsonformat/plan.go `resourceChangeComment`).
pub(super) fn reasons(change: &ResourceChange, style: Style) -> Vec<String> {
    let q = |s: &str| style.code(s);
    let mut out = Vec::new();
    if let Some(reason) = change.action_reason() {
        let words = match reason {
            "replace_because_cannot_update" => {
                "the provider cannot make this change in place, so the object is replaced"
                    .to_string()
            }
            "replace_because_tainted" => {
                "it is tainted (an earlier apply did not finish creating it), so it is replaced"
                    .to_string()
            }
            "replace_by_request" => format!("replacement was requested ({})", q("-replace")),
            "replace_by_triggers" => {
                format!("an entry of its {} changed", q("replace_triggered_by"))
            }
            "delete_because_no_resource_config" => format!(
                "{} is not in the configuration",
                q(&format!("{}.{}", change.resource_type, change.name))
            ),
            "delete_because_no_module" => format!(
                "{} is not in the configuration",
                q(change.module_address().unwrap_or("its module"))
            ),
            "delete_because_wrong_repetition" => match change.index() {
                None => "the resource now uses count or for_each".to_string(),
                Some(i) if i.starts_with("[\"") => {
                    "the resource no longer uses for_each".to_string()
                }
                Some(_) => "the resource no longer uses count".to_string(),
            },
            "delete_because_count_index" => format!(
                "index {} is out of range for count",
                change.index().unwrap_or("[?]")
            ),
            "delete_because_each_key" => format!(
                "key {} is not in the for_each map",
                change.index().unwrap_or("[?]")
            ),
            "delete_because_no_move_target" => format!(
                "{} was moved to {}, which is not in the configuration",
                q(change.previous_address().unwrap_or("it")),
                q(&change.address)
            ),
            "read_because_config_unknown" => {
                "its configuration refers to values not yet known".to_string()
            }
            "read_because_dependency_pending" => {
                "it depends on a resource or module with changes pending".to_string()
            }
            "read_because_check_nested" => "a check block reloads it".to_string(),
            other => format!("Terraform's reason: {}", q(other)),
        };
        let known = !words.starts_with("Terraform's reason");
        out.push(if known {
            format!("{words} ({})", q(reason))
        } else {
            words
        });
    }
    if let Some(key) = change.deposed() {
        out.push(format!(
            "left over from a partially failed replacement (deposed object {})",
            q(key)
        ));
    }
    match change.action {
        Action::Forget | Action::ForgetThenCreate | Action::CreateThenForget => out.push(format!(
            "{} is set: Terraform stops managing the object but does not destroy it",
            q("destroy = false")
        )),
        Action::Unknown => out.push(format!(
            "Terraform's actions {} are unknown to this kopsform; read the plan itself",
            q(&change.actions.join(", "))
        )),
        _ => {}
    }
    out
}

/// `replace (destroy, then create)`, `update`, `move` ...
pub(super) fn action_words(change: &ResourceChange) -> String {
    let base = match change.action {
        Action::DeleteThenCreate => "replace (destroy, then create)",
        Action::CreateThenDelete => "replace (create, then destroy)",
        Action::CreateThenForget | Action::ForgetThenCreate => "replace (old object kept)",
        Action::NoOp if change.is_moved() => "move",
        Action::NoOp if change.importing().is_some() => "import",
        other => other.label(),
    };
    if change.importing().is_some() && change.action != Action::NoOp {
        format!("import, {base}")
    } else {
        base.to_string()
    }
}

pub(super) fn rolling_verdict(groups: &[GroupStatus], style: Style) -> String {
    let needing = kops::needing_update(groups, |name| style.code(name));
    let bold = |s: &str| match style {
        Style::Markdown => format!("**{s}**"),
        Style::Plain => s.to_string(),
    };
    if needing.is_empty() {
        format!(
            "{} ({} checked).",
            bold("No instance group needs a rolling update"),
            groups.len()
        )
    } else {
        format!(
            "{} {}.",
            bold(&format!(
                "{} of {} instance groups need a rolling update:",
                needing.len(),
                groups.len()
            )),
            needing.join(", ")
        )
    }
}

/// An inline code span that survives any content: the fence is longer than any backtick run.
pub(super) fn code(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_code(&mut out, s, false);
    out
}

/// [`code`] appended to `out`, without a string of its own; with `in_cell`, each `|` of `s` is
/// escaped as a table cell needs (the fence and padding hold none).
pub(super) fn push_code(out: &mut String, s: &str, in_cell: bool) {
    // Most values hold neither a backtick nor a bar: one fence, no padding, nothing to escape.
    // (A plain loop: most values are short, too short for memchr to pay its way.)
    if !s.bytes().any(|b| b == b'`' || b == b'|') {
        out.reserve(s.len() + 2);
        out.push('`');
        out.push_str(s);
        out.push('`');
        return;
    }
    let mut longest = 0;
    if s.contains('`') {
        let mut run = 0;
        for c in s.chars() {
            if c == '`' {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
    }
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    for _ in 0..=longest {
        out.push('`');
    }
    out.push_str(pad);
    if in_cell {
        push_cell(out, s);
    } else {
        out.push_str(s);
    }
    out.push_str(pad);
    for _ in 0..=longest {
        out.push('`');
    }
}

/// `s` appended to `out` as table-cell text: a `|` would end the cell, even inside a code span.
pub(super) fn push_cell(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find('|') {
        out.push_str(&rest[..i]);
        out.push_str("\\|");
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

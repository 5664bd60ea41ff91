//! JSON: the review for tools (schema in docs/review.md), every row included. A [`Review`] in,
//! pretty-printed text out.

use serde_json::{Value, json};

use crate::plan::summary::{ResourceChange, Shown};
use crate::tools::kops::GroupStatus;

use super::report::{Review, launch_template_changes};
use super::words::{Style, reasons, rolling_verdict};

/// Version of the JSON output's schema (docs/review.md); bumped only for incompatible changes.
pub(crate) const JSON_SCHEMA_VERSION: u32 = 1;

/// The review as JSON (schema in docs/review.md), pretty-printed with a final newline.
pub(crate) fn render_json(review: &Review) -> String {
    let s = &review.summary;
    let c = &s.counts;
    let changes: Vec<Value> = s
        .changes
        .iter()
        .zip(&review.protection)
        .map(|(change, protected)| {
            let mut v = change_json(change);
            if let Value::Object(map) = &mut v {
                map.insert("protected".into(), json!(protected.is_some()));
                map.insert("protected_reason".into(), json!(protected));
            }
            v
        })
        .collect();
    let drift: Vec<Value> = s.drift.iter().map(change_json).collect();
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
    let variables: Vec<Value> = s
        .variables
        .iter()
        .map(|v| json!({"name": v.name, "sensitive": v.sensitive, "value": v.value.to_string()}))
        .collect();
    let launch_templates: Vec<Value> = launch_template_changes(review)
        .into_iter()
        .map(|(group, address)| json!({"instance_group": group, "address": address}))
        .collect();
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
    let protected: Vec<Value> = review
        .protected
        .iter()
        .map(|p| json!({"address": p.address, "action": p.action.as_str(), "reason": p.reason}))
        .collect();
    let value = json!({
        "kopsform_review": JSON_SCHEMA_VERSION,
        "cluster": review.cluster,
        "format_version": s.format_version,
        "terraform_version": s.terraform_version,
        "headline": s.headline(),
        "counts": {
            "import": c.import,
            "add": c.add,
            "change": c.change,
            "destroy": c.destroy,
            "forget": c.forget,
            "move": c.moved,
            "read": c.read,
            "invoke": c.invoke,
        },
        "exit_status": review.exit_status,
        "errored": s.errored,
        "deferred": s.deferred,
        "protected": protected,
        "changes": changes,
        "drift": drift,
        "outputs": outputs,
        "variables": variables,
        "rolling_update": rolling,
        "launch_template_changes": launch_templates,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

fn change_json(c: &ResourceChange) -> Value {
    json!({
        "address": c.address,
        "previous_address": c.previous_address,
        "module_address": c.module_address,
        "mode": c.mode,
        "type": c.resource_type,
        "name": c.name,
        "index": c.index,
        "deposed": c.deposed,
        "actions": c.actions,
        "action": c.action.label(),
        "action_reason": c.action_reason,
        "reasons": reasons(c, Style::Plain),
        "replace_paths": c.replace_paths,
        "importing": c.importing.as_ref().map(|i| json!({"id": i.id.as_ref().map(Shown::to_string)})),
        "attributes": c.attributes.iter().map(|a| json!({
            "path": a.path,
            "before": a.before.as_ref().map(Shown::to_string),
            "after": a.after.as_ref().map(Shown::to_string),
            "forces_replacement": a.forces_replacement,
        })).collect::<Vec<_>>(),
    })
}

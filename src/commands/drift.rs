//! `kopsform drift [--cluster ID | --stage NAME | --all] [--json]`: per cluster, what changed
//! behind kopsform's back (Terraform drift, the state store's spec against the template, instance
//! groups on an old launch template, stale locks), as a text report or one JSON document
//! (docs/drift.md, docs/json.md). The checks are `run::drift`'s; this file picks the clusters,
//! prints and sets the exit status: 0 all clean, 2 drift in some cluster, 1 a cluster that could
//! not be checked.

use serde_json::{Value, json};

use crate::error::{UserError, exit};
use crate::project::Project;
use crate::project::cluster::Selection;
use crate::run::drift::{Changed, ClusterDrift};
use crate::run::scope::{RunOptions, RunShared, Runner};

pub(crate) fn command(
    project: &Project,
    selection: &Selection,
    options: RunOptions,
    json: bool,
) -> Result<(), UserError> {
    let clusters = project.select_clusters(selection)?;
    if clusters.is_empty() {
        return Err(UserError::new(format!(
            "{}: no [cluster] or [clusters.<id>] table: there is no cluster to check for drift",
            project.file.display()
        )));
    }
    // The pinned tools ([tools]) are the versions a run would use, or nothing runs.
    for def in &clusters {
        let env = crate::values::context::own_env_pairs(project, Some(def));
        project.check_pins(
            &["terraform", "kops", "aws"],
            Some(def),
            &env,
            "nothing was checked",
        )?;
    }
    let shared = RunShared::default();
    let mut found = Vec::with_capacity(clusters.len());
    for def in clusters {
        let id = def.id.clone();
        crate::progress!(
            "[{id}/drift] checking terraform, the kops spec, rolling update and locks"
        );
        let mut runner = Runner::for_cluster(project, &shared, options.clone(), Some(def), None);
        found.push(runner.drift());
    }
    let code = exit_status(&found);
    if json {
        out(&format!("{:#}", document(&found, code)));
    } else {
        for cluster in &found {
            out(&text(cluster));
        }
    }
    match code {
        exit::OK => Ok(()),
        exit::CHANGES => Err(UserError::with_code(String::new(), exit::CHANGES)),
        _ => {
            let failed: Vec<&str> = found
                .iter()
                .filter(|c| c.failed())
                .map(|c| c.id.as_str())
                .collect();
            Err(UserError::new(format!(
                "drift could not check every part of cluster(s) {}: see the report above",
                failed.join(", ")
            )))
        }
    }
}

/// 1 when some cluster could not be checked, else 2 when some drifted, else 0.
fn exit_status(found: &[ClusterDrift]) -> i32 {
    if found.iter().any(ClusterDrift::failed) {
        exit::FAILURE
    } else if found.iter().any(ClusterDrift::drifted) {
        exit::CHANGES
    } else {
        exit::OK
    }
}

fn out(text: &str) {
    crate::ui::write_line(false, &format!("{text}\n"));
}

/// `clean`, `drift` or `error`.
fn status(c: &ClusterDrift) -> &'static str {
    if c.failed() {
        "error"
    } else if c.drifted() {
        "drift"
    } else {
        "clean"
    }
}

fn changed_json(c: &Changed) -> Value {
    json!({"path": c.path, "old": c.old, "new": c.new})
}

/// A check's part of the JSON: `{"error": null, ...findings}` or `{"error": "why"}`.
fn part<T>(check: &Option<Result<T, String>>, findings: impl Fn(&T) -> Value) -> Value {
    match check {
        None => json!({"checked": false, "error": null}),
        Some(Err(e)) => json!({"checked": false, "error": e}),
        Some(Ok(t)) => {
            let mut v = findings(t);
            if let Value::Object(map) = &mut v {
                map.insert("checked".into(), Value::Bool(true));
                map.insert("error".into(), Value::Null);
            }
            v
        }
    }
}

fn document(found: &[ClusterDrift], code: i32) -> Value {
    let clusters: Vec<Value> = found
        .iter()
        .map(|c| {
            json!({
                "cluster": c.id,
                "name": c.name,
                "status": status(c),
                "error": c.error,
                "terraform": part(&c.terraform, |d| json!({
                    "drift": d.iter().map(|r| json!({
                        "address": r.address,
                        "action": r.action,
                        "changes": r.changes.iter().map(changed_json).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                })),
                "spec": part(&c.spec, |s| json!({
                    "changes": s.changes.iter().map(changed_json).collect::<Vec<_>>(),
                    "only_in_template": s.only_in_template,
                    "only_in_state_store": s.only_in_state_store,
                })),
                "rolling_update": part(&c.rolling_update, |g| json!({
                    "needs_update": g.iter().map(|g| json!({
                        "name": g.name,
                        "status": g.status,
                        "need_update": g.need_update,
                        "target": g.target,
                    })).collect::<Vec<_>>(),
                })),
                "lock": part(&c.lock, |l| json!({
                    "held": l.as_ref().map(|l| json!({
                        "holder": l.holder,
                        "place": l.place,
                        "since": l.since,
                        "stale": l.stale,
                        "why": l.why,
                    })),
                })),
            })
        })
        .collect();
    json!({"exit_status": code, "clusters": clusters})
}

fn value(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("(absent)")
}

/// The text report of one cluster.
fn text(c: &ClusterDrift) -> String {
    let name = c
        .name
        .as_ref()
        .map_or_else(String::new, |n| format!(" ({n})"));
    let mut lines = vec![format!("cluster {}{name}: {}", c.id, status(c))];
    if let Some(e) = &c.error {
        lines.push(format!("  error: {e}"));
        return lines.join("\n");
    }
    let push_error = |what: &str, e: &str, lines: &mut Vec<String>| {
        lines.push(format!("  {what}: could not check: {e}"));
    };
    match &c.terraform {
        Some(Ok(d)) if d.is_empty() => {
            lines.push("  terraform: no resource changed outside Terraform".into());
        }
        Some(Ok(d)) => {
            lines.push(format!(
                "  terraform: {} resource(s) changed outside Terraform",
                d.len()
            ));
            for r in d {
                let verb = if r.action == "delete" {
                    " (deleted)"
                } else {
                    ""
                };
                lines.push(format!("    {}{verb}", r.address));
                for ch in &r.changes {
                    lines.push(format!(
                        "      {}: {} -> {}",
                        ch.path,
                        value(&ch.old),
                        value(&ch.new)
                    ));
                }
            }
        }
        Some(Err(e)) => push_error("terraform", e, &mut lines),
        None => {}
    }
    match &c.spec {
        Some(Ok(s)) if s.is_empty() => {
            lines.push("  spec: the state store holds what the template renders".into());
        }
        Some(Ok(s)) => {
            lines.push("  spec: the state store differs from the rendered template (old: template, new: state store)".into());
            for ch in &s.changes {
                lines.push(format!(
                    "    {}: {} -> {}",
                    ch.path,
                    value(&ch.old),
                    value(&ch.new)
                ));
            }
            for g in &s.only_in_state_store {
                lines.push(format!("    InstanceGroup/{g}: only in the state store"));
            }
            for g in &s.only_in_template {
                lines.push(format!("    InstanceGroup/{g}: only in the template"));
            }
        }
        Some(Err(e)) => push_error("spec", e, &mut lines),
        None => {}
    }
    match &c.rolling_update {
        Some(Ok(g)) if g.is_empty() => {
            lines.push("  rolling update: no instance group needs an update".into());
        }
        Some(Ok(g)) => {
            let names: Vec<String> = g
                .iter()
                .map(|g| format!("{} ({} of {} nodes)", g.name, g.need_update, g.target))
                .collect();
            lines.push(format!(
                "  rolling update: instance groups on an old launch template: {}",
                names.join(", ")
            ));
        }
        Some(Err(e)) => push_error("rolling update", e, &mut lines),
        None => {}
    }
    match &c.lock {
        Some(Ok(None)) => lines.push("  lock: not locked".into()),
        Some(Ok(Some(l))) => {
            let what = if l.stale { "stale lock" } else { "locked" };
            lines.push(format!(
                "  lock: {what}, held by {} ({}): {}",
                l.holder, l.place, l.why
            ));
        }
        Some(Err(e)) => push_error("lock", e, &mut lines),
        None => {}
    }
    lines.join("\n")
}

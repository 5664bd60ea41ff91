//! How tasks ended: each task's [`Status`] and [`TaskResult`], and the summary table (or JSON)
//! printed at the end of a run. The bottom of `run/`: it knows nothing of how tasks run.

use std::time::Duration;

use crate::error::UserError;

/// How one task ended, and how long it took.
pub(super) struct Outcome {
    pub(super) result: Result<bool, UserError>,
    pub(super) took: Duration,
    /// The saved plan the task sealed or checked (SHA-256).
    pub(super) plan: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    DryRun,
    UpToDate,
    Failed,
    Interrupted,
    NotRun,
    /// A later stage's cluster that did not start because an earlier stage failed.
    HeldBack,
}

impl Status {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::DryRun => "dry run",
            Status::UpToDate => "up to date",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::NotRun => "not run",
            Status::HeldBack => "held back",
        }
    }
}

/// One task of one cluster, as the summary shows it.
#[derive(Debug, Clone)]
pub(crate) struct TaskResult {
    /// The cluster id; empty in a project without clusters.
    pub(crate) cluster: String,
    pub(crate) task: String,
    pub(crate) status: Status,
    pub(crate) took: Duration,
    /// Why it did not run, for `not run` and `held back`.
    pub(crate) note: String,
    /// The SHA-256 of the saved plan the task sealed or checked.
    pub(crate) plan: Option<String>,
    /// The task changes its cluster: the run held the cluster's lock for it.
    pub(crate) locks: bool,
}

impl TaskResult {
    pub(crate) fn new(
        cluster: &str,
        task: &str,
        status: Status,
        took: Duration,
        note: &str,
    ) -> Self {
        TaskResult {
            cluster: cluster.to_string(),
            task: task.to_string(),
            status,
            took,
            note: note.to_string(),
            plan: None,
            locks: false,
        }
    }
}

/// The summary table: one row per task (and cluster, when there are clusters).
/// The run's summary: a table on stderr (left out with `--quiet` when nothing failed), or with
/// `--json` one JSON document on stdout (docs/tasks-toml.md, "JSON output").
pub(crate) fn print_summary(results: &[TaskResult], failure: Option<i32>) {
    if crate::ui::json() {
        let tasks: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "cluster": r.cluster,
                    "task": r.task,
                    "status": r.status.label(),
                    "duration_ms": u64::try_from(r.took.as_millis()).unwrap_or(u64::MAX),
                    "note": r.note,
                    "plan_sha256": r.plan,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "exit_status": failure.unwrap_or(crate::error::exit::OK),
            "tasks": tasks,
        });
        println!("{doc}");
        return;
    }
    if results.is_empty() || (crate::ui::quiet() && failure.is_none()) {
        return;
    }
    let with_cluster = results.iter().any(|r| !r.cluster.is_empty());
    let task_width = results
        .iter()
        .map(|r| r.task.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let cluster_width = results
        .iter()
        .map(|r| r.cluster.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut text = String::from("\n");
    if with_cluster {
        push_padded(&mut text, "CLUSTER", cluster_width);
        text.push_str("  ");
    }
    push_padded(&mut text, "TASK", task_width);
    text.push_str("  STATUS       DURATION\n");
    // Written piece by piece into one buffer (a row per task: `format!` was most of its cost).
    let mut line = String::new();
    let mut status = String::with_capacity(11);
    for r in results {
        line.clear();
        if with_cluster {
            push_padded(&mut line, &r.cluster, cluster_width);
            line.push_str("  ");
        }
        let tone = match r.status {
            Status::Ok | Status::UpToDate | Status::DryRun => crate::ui::Tone::Good,
            Status::Failed | Status::Interrupted => crate::ui::Tone::Bad,
            Status::NotRun | Status::HeldBack => crate::ui::Tone::Warn,
        };
        status.clear();
        push_padded(&mut status, r.status.label(), 11);
        push_padded(&mut line, &r.task, task_width);
        line.push_str("  ");
        line.push_str(&crate::ui::paint(&status, tone));
        line.push_str("  ");
        if matches!(r.status, Status::NotRun | Status::HeldBack) {
            line.push('-');
        } else {
            use std::fmt::Write as _;
            let _ = write!(line, "{:.1}s", r.took.as_secs_f64());
        }
        if !r.note.is_empty() {
            line.push_str("  (");
            line.push_str(&r.note);
            line.push(')');
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    crate::ui::write_line(true, &text);
}

/// `text` left-aligned in `width` characters, as `format!("{text:width$}")` writes it.
fn push_padded(out: &mut String, text: &str, width: usize) {
    out.push_str(text);
    for _ in text.chars().count()..width {
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::push_padded;

    #[test]
    fn padding_is_what_format_writes() {
        for (text, width) in [
            ("TASK", 4),
            ("ab", 7),
            ("é-ü", 5),
            ("long-name", 2),
            ("", 0),
            ("", 3),
        ] {
            let mut out = String::from(">");
            push_padded(&mut out, text, width);
            assert_eq!(out, format!(">{text:width$}"));
        }
    }
}

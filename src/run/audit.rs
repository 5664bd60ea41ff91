//! The audit trail: every run appends one JSON line per task to `.kopsform/audit.jsonl` (the
//! `[audit]` table of tasks.toml moves it or turns it off), and `kopsform audit` shows it.
//!
//! A dry run appends nothing: it changes nothing a trail should answer for, and its records cost
//! it a `git status` and a line per task (issue 19: most of a 100-task dry run's time). Records of
//! older dry runs (`dry_run: true`) still read.
//!
//! A line says who ran what, where, from which commit, with what result: time, user, host, git
//! commit/branch/dirty, cluster, task, status, exit status, duration, kopsform's argv (secrets
//! masked) and the SHA-256 of the saved plan the task sealed or applied. The lines of one run are
//! appended in one write under an exclusive `flock`, so runs that end together never interleave
//! and a reader never sees half a line.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{UserError, exit};
use crate::project::Project;
use crate::run::outcome::{Status, TaskResult};
use crate::tools::git::Git;

/// The default place of the trail, relative to the project.
pub(crate) const DEFAULT_PATH: &str = ".kopsform/audit.jsonl";

/// One task of one run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Record {
    /// When the run started (RFC 3339, UTC).
    pub(crate) time: String,
    pub(crate) user: String,
    pub(crate) host: String,
    pub(crate) git: Option<Git>,
    /// The cluster id of `[clusters.<id>]`; empty with one `[cluster]` or none, as in the summary.
    pub(crate) cluster: String,
    pub(crate) task: String,
    /// The summary's status: `ok`, `dry run`, `up to date`, `failed`, `interrupted`, `not run`,
    /// `held back`.
    pub(crate) status: String,
    /// 0 for ok, dry run and up to date; the run's status for a failed or interrupted task; null
    /// for a task that did not run.
    pub(crate) exit_status: Option<i32>,
    pub(crate) duration_ms: u64,
    pub(crate) dry_run: bool,
    /// kopsform's command line, secrets masked.
    pub(crate) argv: Vec<String>,
    /// SHA-256 of the saved plan the task sealed (`plan`) or checked before applying (`apply`).
    pub(crate) plan_sha256: Option<String>,
}

/// Where the project's trail is, or `None` when `[audit] enabled = false`.
pub(crate) fn path(project: &Project) -> Option<PathBuf> {
    let audit = &project.config.audit;
    audit
        .enabled
        .then(|| project.path(audit.path.as_deref().unwrap_or(DEFAULT_PATH)))
}

/// Appends the records of a finished run. A failure to write is a warning: the run's own outcome
/// stands.
pub(crate) fn append(
    project: &Project,
    started: SystemTime,
    results: &[TaskResult],
    failure: Option<i32>,
    dry_run: bool,
) {
    let Some(path) = path(project) else {
        return;
    };
    // A dry run, and a run in which every task was up to date, changed nothing the trail
    // answers for: no record, and so no `git status` (a no-op `cluster-update` starts no process
    // but Terraform's, if that).
    if results.is_empty() || dry_run || results.iter().all(|r| r.status == Status::UpToDate) {
        return;
    }
    let time = humantime::format_rfc3339_seconds(started).to_string();
    let user = user();
    let host = crate::statestore::lock::hostname().unwrap_or_default();
    let git = crate::tools::git::repository(&project.dir).map(|(git, _)| git);
    let argv: Vec<String> = std::env::args_os()
        .map(|a| crate::redact::mask_all(&a.to_string_lossy()))
        .collect();
    let mut text = String::new();
    for r in results {
        let exit_status = match r.status {
            Status::Ok | Status::DryRun | Status::UpToDate => Some(exit::OK),
            Status::Failed | Status::Interrupted => Some(failure.unwrap_or(exit::FAILURE)),
            Status::NotRun | Status::HeldBack => None,
        };
        let record = Record {
            time: time.clone(),
            user: user.clone(),
            host: host.clone(),
            git: git.clone(),
            cluster: r.cluster.clone(),
            task: r.task.clone(),
            status: r.status.label().to_string(),
            exit_status,
            duration_ms: u64::try_from(r.took.as_millis()).unwrap_or(u64::MAX),
            dry_run,
            argv: argv.clone(),
            plan_sha256: r.plan.clone(),
        };
        if let Ok(line) = serde_json::to_string(&record) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    // The trail is kopsform's own file: a symbolic link on the way out of the project (say,
    // `.kopsform` itself), or as the file itself, is not followed.
    let configured = project.config.audit.path.as_deref().unwrap_or(DEFAULT_PATH);
    if !Path::new(configured).is_absolute()
        && let Err(why) = crate::paths::inside(&project.dir, configured)
    {
        eprintln!(
            "kopsform: warning: not appending to the audit trail {configured}: it {why}; remove the link, or set [audit] path"
        );
        return;
    }
    if let Err(e) = write_lines(&path, &text) {
        eprintln!(
            "kopsform: warning: cannot append to the audit trail {}: {e}",
            path.display()
        );
    }
}

fn write_lines(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    // A trail an earlier version created readable by all becomes private too (when it is ours
    // to change: another user's trail is still appended to).
    let _ = file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600));
    // SAFETY: flock(2) on a file descriptor this function owns; released when it is closed.
    unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX) };
    file.write_all(text.as_bytes())?;
    file.flush()
}

fn user() -> String {
    crate::statestore::lock::user_name()
        // SAFETY: getuid(2) cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }))
}

/// `kopsform audit`: the last `last` records as a table, or as JSON lines.
pub(crate) fn show(project: &Project, last: usize, json: bool) -> Result<(), UserError> {
    let Some(path) = path(project) else {
        return Err(UserError::new(format!(
            "{}: [audit] enabled = false: there is no audit trail",
            project.file.display()
        )));
    };
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "kopsform: no audit trail yet at {}: runs of tasks write it",
                path.display()
            );
            return Ok(());
        }
        Err(e) => {
            return Err(UserError::new(format!(
                "{}: cannot read: {e}",
                path.display()
            )));
        }
    };
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => records.push((line, r)),
            Err(e) => eprintln!(
                "kopsform: warning: {}:{}: not an audit record ({e}); skipped",
                path.display(),
                i + 1
            ),
        }
    }
    let records = &records[records.len().saturating_sub(last)..];
    if json {
        let mut out = String::new();
        for (line, _) in records {
            out.push_str(line);
            out.push('\n');
        }
        print!("{out}");
        return Ok(());
    }
    print!("{}", table(records.iter().map(|(_, r)| r)));
    Ok(())
}

fn table<'a>(records: impl Iterator<Item = &'a Record>) -> String {
    let header = [
        "TIME", "USER", "CLUSTER", "TASK", "STATUS", "EXIT", "DURATION", "COMMIT", "PLAN",
    ];
    let mut rows: Vec<[String; 9]> = vec![header.map(str::to_string)];
    for r in records {
        let commit = r.git.as_ref().map_or("-".to_string(), |g| {
            format!(
                "{}{}",
                first_chars(&g.commit, 8),
                if g.dirty { "+dirty" } else { "" }
            )
        });
        let status = if r.dry_run && r.status != "dry run" {
            format!("{} (dry run)", r.status)
        } else {
            r.status.clone()
        };
        rows.push([
            r.time.clone(),
            r.user.clone(),
            if r.cluster.is_empty() {
                "-".into()
            } else {
                r.cluster.clone()
            },
            r.task.clone(),
            status,
            r.exit_status.map_or("-".into(), |c| c.to_string()),
            format!("{:.1}s", r.duration_ms as f64 / 1000.0),
            commit,
            r.plan_sha256
                .as_deref()
                .map_or("-".into(), |p| first_chars(p, 12)),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(&format!("{cell:width$}  ", width = widths[c]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first `n` characters of `text` (the trail is a file people may edit: not byte slicing).
fn first_chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_edited_record_with_wide_characters_still_shows() {
        let record: Record = serde_json::from_str(
            r#"{"time":"t","user":"u","host":"h","git":{"commit":"aéééééééé","branch":null,"dirty":false},"cluster":"","task":"t","status":"ok","exit_status":0,"duration_ms":1,"dry_run":false,"argv":[],"plan_sha256":"aääääääääääääää"}"#,
        )
        .unwrap();
        let text = table(std::iter::once(&record));
        assert!(
            text.contains("aééééééé ") && text.contains("aäääääääääää"),
            "{text}"
        );
    }
}

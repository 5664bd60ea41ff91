//! The audit trail: every run appends one JSON line per task to `.kopsform/audit.jsonl` (the
//! `[audit]` table of tasks.toml moves it or turns it off), and the lines of each cluster also to
//! the cluster's state store, so the trail outlives a CI runner; `kopsform audit` shows it.
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
//!
//! In the state store S3 has no append: each run writes one new object per cluster,
//! `<state>/.kopsform-audit/<cluster name>/<start>-<id>.jsonl`, with `If-None-Match: *`, so it
//! never replaces another's; concurrent runs write different objects and none is lost. Readers
//! list the prefix (in key order: start time first) and merge.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{UserError, exit};
use crate::project::Project;
use crate::project::cluster::{ClusterDef, Selection};
use crate::run::outcome::{Status, TaskResult};
use crate::run::scope::{RunOptions, RunShared, Runner};
use crate::statestore::store::{self, Aws, PutNew, Store};
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
    /// The run's id, the same in every record of one run (16 hex digits); absent in records of
    /// earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) run: Option<String>,
}

/// Where the project's trail is, or `None` when `[audit] enabled = false`.
pub(crate) fn path(project: &Project) -> Option<PathBuf> {
    let audit = &project.config.audit;
    audit
        .enabled
        .then(|| project.path(audit.path.as_deref().unwrap_or(DEFAULT_PATH)))
}

/// What the trail needs of a finished run besides its results.
pub(crate) struct Run<'a> {
    pub(crate) started: SystemTime,
    /// To find the clusters' state stores as the run's tasks did (outputs read once).
    pub(crate) shared: &'a RunShared,
    pub(crate) options: &'a RunOptions,
}

/// Appends the records of a finished run, to the local file and to each cluster's state store. A
/// failure to write either is a warning naming what was not written: the run's own outcome stands,
/// and the local file is written first, so a state store that cannot be reached loses nothing
/// there.
pub(crate) fn append(
    project: &Project,
    run: Run,
    results: &[TaskResult],
    failure: Option<i32>,
    dry_run: bool,
) {
    let started = run.started;
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
    let run_id = unique_id(0);
    let mut text = String::new();
    // The lines of each cluster, for its state store, and whether the run changed the cluster.
    let mut by_cluster: Vec<(String, String, bool)> = Vec::new();
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
            run: Some(run_id.clone()),
        };
        if let Ok(line) = serde_json::to_string(&record) {
            text.push_str(&line);
            text.push('\n');
            let ran = !matches!(
                r.status,
                Status::UpToDate | Status::NotRun | Status::HeldBack
            );
            let at = match by_cluster.iter().position(|(c, ..)| *c == r.cluster) {
                Some(at) => at,
                None => {
                    by_cluster.push((r.cluster.clone(), String::new(), false));
                    by_cluster.len() - 1
                }
            };
            let (_, lines, changed) = &mut by_cluster[at];
            lines.push_str(&line);
            lines.push('\n');
            *changed |= ran && r.locks;
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
    if !project.config.audit.state_store {
        return;
    }
    // Only a run that changed the cluster (ran a task that locks it: docs/clusters.md#locks)
    // goes to its state store; that run has already written there.
    for (id, lines, _) in by_cluster.into_iter().filter(|(.., changed)| *changed) {
        let Some(def) = cluster_def(project, &id) else {
            continue;
        };
        let locked = run.shared.locked.lock().ok().and_then(|locked| {
            locked
                .iter()
                .find(|(i, _)| *i == def.id)
                .map(|(_, c)| c.clone())
        });
        let remote = match locked {
            Some(cluster) => Remote::at(project, &cluster, &def),
            None => {
                let mut runner = Runner::for_cluster(
                    project,
                    run.shared,
                    run.options.clone(),
                    Some(def.clone()),
                    None,
                );
                Remote::of(project, &mut runner, &def)
            }
        };
        let written = remote.and_then(|remote| remote.write(started, &run_id, &lines));
        if let Err(e) = written {
            eprintln!(
                "kopsform: warning: the audit records of cluster {} were not written to its state store: {}; they are in {} only",
                def.id,
                e.message,
                path.display()
            );
        }
    }
}

/// The cluster of a record's `cluster` (empty: the project's one `[cluster]`).
fn cluster_def(project: &Project, id: &str) -> Option<ClusterDef> {
    if id.is_empty() {
        return match project.clusters.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
    }
    project.clusters.iter().find(|c| c.id == id).cloned()
}

/// Where a cluster's records are in its state store: one object (file) per run.
enum Place {
    S3 { bucket: String, prefix: String },
    Local(PathBuf),
}

struct Remote {
    place: Place,
    aws: Aws,
}

impl Remote {
    /// The state store and name of `def` as its tasks see them (rendered from the values).
    fn of(project: &Project, runner: &mut Runner, def: &ClusterDef) -> Result<Remote, UserError> {
        Remote::at(project, &runner.require_cluster()?, def)
    }

    /// The state store and name of `cluster` (as rendered for `def`).
    fn at(
        project: &Project,
        cluster: &crate::values::context::Cluster,
        def: &ClusterDef,
    ) -> Result<Remote, UserError> {
        let place = match Store::parse(&cluster.state, &project.dir)? {
            Store::S3 { bucket, prefix } => Place::S3 {
                prefix: Store::key(&prefix, &format!(".kopsform-audit/{}/", cluster.name)),
                bucket,
            },
            Store::Local(dir) => Place::Local(dir.join(".kopsform-audit").join(&cluster.name)),
        };
        Ok(Remote {
            place,
            aws: Aws::of(project, Some(def)),
        })
    }

    fn display(&self) -> String {
        match &self.place {
            Place::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            Place::Local(dir) => format!("{}/", dir.display()),
        }
    }

    /// Writes `lines` as a new object `<start>-<run>.jsonl`, never over another (a name taken is
    /// tried again with another id); returns where.
    fn write(&self, started: SystemTime, run: &str, lines: &str) -> Result<String, UserError> {
        let stamp: String = humantime::format_rfc3339_seconds(started)
            .to_string()
            .chars()
            .filter(|c| !matches!(c, '-' | ':'))
            .collect();
        let fail =
            |why: String| UserError::new(format!("cannot write to {}: {why}", self.display()));
        for attempt in 0..3 {
            let id = if attempt == 0 {
                run.to_string()
            } else {
                unique_id(attempt)
            };
            let name = format!("{stamp}-{id}.jsonl");
            match &self.place {
                Place::S3 { bucket, prefix } => {
                    let key = format!("{prefix}{name}");
                    match store::put_new(&self.aws, bucket, &key, lines, "application/x-ndjson")? {
                        PutNew::Created => return Ok(format!("s3://{bucket}/{key}")),
                        PutNew::Taken => continue,
                        PutNew::Failed { code, stderr } => {
                            return Err(fail(format!(
                                "`{} s3api put-object` failed with status {code}: {}",
                                self.aws,
                                stderr.trim()
                            )));
                        }
                    }
                }
                Place::Local(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
                    let mut temp =
                        tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(e.to_string()))?;
                    temp.write_all(lines.as_bytes())
                        .and_then(|()| temp.flush())
                        .map_err(|e| fail(e.to_string()))?;
                    let target = dir.join(&name);
                    match temp.persist_noclobber(&target) {
                        Ok(_) => return Ok(target.display().to_string()),
                        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(fail(e.error.to_string())),
                    }
                }
            }
        }
        Err(fail("three new names were all taken".into()))
    }

    /// Every record line of the cluster, in key (start time) order.
    fn read(&self) -> Result<Vec<String>, UserError> {
        let download;
        let dir = match &self.place {
            Place::Local(dir) => dir.clone(),
            Place::S3 { bucket, prefix } => {
                // One `aws s3 sync` downloads them all (the objects never change).
                download = tempfile::tempdir().map_err(|e| {
                    UserError::new(format!("cannot create a temporary folder: {e}"))
                })?;
                let from = format!("s3://{bucket}/{prefix}");
                let to = download.path().to_string_lossy().into_owned();
                let args = [
                    "s3",
                    "sync",
                    &from,
                    &to,
                    "--only-show-errors",
                    "--exclude",
                    "*",
                    "--include",
                    "*.jsonl",
                ];
                let out = crate::statestore::store::aws(&self.aws, &args)?;
                if out.code != 0 {
                    return Err(UserError::new(format!(
                        "cannot read the audit records in {from}: `{} s3 sync` failed with status {}: {}",
                        self.aws,
                        out.code,
                        out.stderr.trim()
                    )));
                }
                download.path().to_path_buf()
            }
        };
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(UserError::new(format!(
                    "{}: cannot read: {e}",
                    dir.display()
                )));
            }
        };
        names.sort();
        let mut lines = Vec::new();
        for name in names {
            let text = std::fs::read(&name)
                .map_err(|e| UserError::new(format!("{}: cannot read: {e}", name.display())))?;
            lines.extend(
                String::from_utf8_lossy(&text)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string),
            );
        }
        Ok(lines)
    }
}

/// 16 hex digits no other run writing at the same second picks: a hash of the host, the process,
/// the clock's nanoseconds and `attempt`.
fn unique_id(attempt: u32) -> String {
    use sha2::Digest;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!(
        "{}-{}-{nanos}-{attempt}",
        crate::statestore::lock::hostname().unwrap_or_default(),
        std::process::id()
    );
    let digest = sha2::Sha256::digest(seed.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
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

/// `kopsform audit`: the last `last` records as a table, or as JSON lines. With a selection of
/// clusters, theirs only: the local file's and their state stores', merged without duplicates.
pub(crate) fn show(
    project: &Project,
    selection: &Selection,
    options: RunOptions,
    last: usize,
    json: bool,
) -> Result<(), UserError> {
    let Some(path) = path(project) else {
        return Err(UserError::new(format!(
            "{}: [audit] enabled = false: there is no audit trail",
            project.file.display()
        )));
    };
    let clusters = if selection.is_empty() {
        None
    } else {
        Some(project.select_clusters(selection)?)
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    match std::fs::read(&path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            lines.extend(
                text.lines()
                    .enumerate()
                    .map(|(i, l)| (format!("{}:{}", path.display(), i + 1), l.to_string())),
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if clusters.is_none() {
                eprintln!(
                    "kopsform: no audit trail yet at {}: runs of tasks write it",
                    path.display()
                );
                return Ok(());
            }
        }
        Err(e) => {
            return Err(UserError::new(format!(
                "{}: cannot read: {e}",
                path.display()
            )));
        }
    };
    let shared = RunShared::default();
    let local_lines = lines.len();
    for def in clusters.iter().flatten() {
        let mut runner =
            Runner::for_cluster(project, &shared, options.clone(), Some(def.clone()), None);
        let read = Remote::of(project, &mut runner, def)
            .and_then(|remote| Ok((remote.display(), remote.read()?)));
        let (source, remote) = read.map_err(|mut e| {
            e.message.push_str(&format!(
                "\n(cluster {}'s state store holds its audit records; `kopsform audit` without --cluster shows the local trail only)",
                def.id
            ));
            e
        })?;
        lines.extend(remote.into_iter().map(|l| (source.clone(), l)));
    }
    let mut records: Vec<(String, Record)> = Vec::new();
    // A record of the local file that is also in the state store shows once: each local record
    // hides one equal record of the store (records of different runs differ in `run`; older
    // records without it may be alike, and each of them is kept).
    let mut local: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, (source, line)) in lines.into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(&line) {
            Ok(r) => {
                if let Some(clusters) = &clusters {
                    let single = project.clusters.len() == 1;
                    if !clusters
                        .iter()
                        .any(|c| c.id == r.cluster || (single && r.cluster.is_empty()))
                    {
                        continue;
                    }
                }
                let key = serde_json::to_string(&r).unwrap_or_default();
                if i < local_lines {
                    *local.entry(key).or_default() += 1;
                } else if let Some(n) = local.get_mut(&key).filter(|n| **n > 0) {
                    *n -= 1;
                    continue;
                }
                records.push((line, r));
            }
            Err(e) => eprintln!("kopsform: warning: {source}: not an audit record ({e}); skipped"),
        }
    }
    // Merged: oldest first; a run's records keep their order (the sort is stable). The local
    // file alone keeps its own order.
    if clusters.is_some() {
        records.sort_by(|a, b| a.1.time.cmp(&b.1.time));
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
    fn runs_that_write_a_local_store_at_once_each_get_their_own_file_read_in_start_order() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote {
            place: Place::Local(dir.path().join("audit")),
            aws: Aws::new("aws".into(), crate::tools::retry::Policy::defaults()),
        };
        let started = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let later = started + std::time::Duration::from_secs(60);
        // The same start and the same run id (a clash): the second gets another name.
        std::thread::scope(|s| {
            s.spawn(|| {
                remote
                    .write(later, "aaaaaaaaaaaaaaaa", "{\"n\":3}\n")
                    .unwrap()
            });
            s.spawn(|| {
                remote
                    .write(started, "aaaaaaaaaaaaaaaa", "{\"n\":1}\n")
                    .unwrap()
            });
        });
        remote
            .write(started, "aaaaaaaaaaaaaaaa", "{\"n\":2}\n")
            .unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("audit"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names[..2].contains(&"20270115T080000Z-aaaaaaaaaaaaaaaa.jsonl".to_string()));
        assert!(
            names[..2]
                .iter()
                .all(|n| n.starts_with("20270115T080000Z-"))
        );
        assert_eq!(names[2], "20270115T080100Z-aaaaaaaaaaaaaaaa.jsonl");
        let lines = remote.read().unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], "{\"n\":3}");
    }

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

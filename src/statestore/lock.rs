//! Per-cluster locks, held in the cluster's state store so they work across machines: two people
//! or two CI runners never change the same cluster at once.
//!
//! `s3://` stores: the object `<store>/.kopsform-locks/<cluster>.json`, created with a conditional
//! put (`If-None-Match: *`) that fails when it exists, and deleted on release. A run that dies
//! without releasing leaves it; `kopsform unlock` removes it, saying whose it was. Local stores: an
//! OS lock (`flock`) on `<store>/.kopsform-locks/<cluster>.lock`, released by the OS when the
//! holder dies. Either way the lock says who holds it: user, host, pid (with the process's start
//! time, so that a reused pid is not taken for the holder), task, since when. `unlock` refuses a
//! lock whose holder still runs on this host unless forced.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::UserError;
use crate::statestore::store::{self, Aws, PutNew, Store};
use crate::tools::process;
use crate::tools::process::Output;

/// Who holds a lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) user: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) task: String,
    pub(crate) cluster: String,
    pub(crate) since: String,
    /// Tells this holder from another run of the same user and host.
    pub(crate) run: String,
    /// When the holder's process started, in clock ticks after boot (field 22 of
    /// `/proc/PID/stat`): with `pid`, which process holds the lock, even after the pid is reused.
    /// Missing from the records of kopsform before it (read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pid_start: Option<u64>,
}

/// Whether a lock's holder still runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Its process runs on this host (same pid, same start time, or no start time recorded).
    Alive,
    /// No process of this host has its pid and start time.
    Gone,
    /// It ran on another host: kopsform cannot tell.
    Elsewhere,
}

/// When the process `pid` started, in clock ticks after boot: field 22 of `/proc/PID/stat`
/// (proc(5)); `None` when there is no such process (or no /proc).
pub(crate) fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2 is the command name in parentheses, which may itself hold spaces and `)`: the
    // fields after it start after the last `)`, with field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

impl Holder {
    pub(crate) fn new(cluster: &str, task: &str) -> Holder {
        let now = SystemTime::now();
        let nanos = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let host = hostname().unwrap_or_else(|| "unknown".into());
        let pid = std::process::id();
        Holder {
            user: user_name().unwrap_or_else(|| "unknown".into()),
            run: format!("{host}-{pid}-{nanos}"),
            host,
            pid,
            task: task.to_string(),
            cluster: cluster.to_string(),
            since: humantime::format_rfc3339_seconds(now).to_string(),
            pid_start: process_start(pid),
        }
    }

    /// Whether this holder still runs: on this host, its pid with the same start time.
    pub(crate) fn liveness(&self) -> Liveness {
        if hostname().as_deref() != Some(self.host.as_str()) {
            return Liveness::Elsewhere;
        }
        match (process_start(self.pid), self.pid_start) {
            (None, _) => Liveness::Gone,
            (Some(now), Some(then)) if now != then => Liveness::Gone,
            // Same start time; or a record without one, whose pid runs: taken to be the holder.
            (Some(_), _) => Liveness::Alive,
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "{}@{} (pid {}, task `{}`, since {})",
            self.user, self.host, self.pid, self.task, self.since
        )
    }
}

/// The user running kopsform: `$USER`, else `$LOGNAME` (lock records, the audit trail).
pub(crate) fn user_name() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

/// This machine's host name (lock records, the audit trail).
pub(crate) fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Where a cluster's lock lives.
#[derive(Debug, Clone)]
pub(crate) enum Place {
    S3 { bucket: String, key: String },
    Local(PathBuf),
}

impl Place {
    pub(crate) fn of(state: &str, cluster: &str, project_dir: &Path) -> Result<Place, UserError> {
        Ok(match Store::parse(state, project_dir)? {
            Store::S3 { bucket, prefix } => Place::S3 {
                key: Store::key(&prefix, &format!(".kopsform-locks/{cluster}.json")),
                bucket,
            },
            Store::Local(dir) => {
                Place::Local(dir.join(".kopsform-locks").join(format!("{cluster}.lock")))
            }
        })
    }

    pub(crate) fn display(&self) -> String {
        match self {
            Place::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            Place::Local(p) => p.display().to_string(),
        }
    }
}

/// A lock this run holds; released when dropped.
pub(crate) struct Held {
    place: Place,
    /// The holder's `run`, to tell our lock from another run's.
    run: String,
    aws: Aws,
    /// The open, `flock`ed file of a local lock.
    file: Option<std::fs::File>,
    /// Released (or tried) by [`Held::release`]; dropping it then does nothing more.
    released: bool,
}

impl Held {
    pub(crate) fn place(&self) -> &Place {
        &self.place
    }

    /// Releases the lock; an error when it could not be (the store unreachable), which leaves
    /// the lock in place for `kopsform unlock`.
    pub(crate) fn release(mut self) -> Result<(), UserError> {
        self.released = true;
        self.release_now()
    }

    fn release_now(&mut self) -> Result<(), UserError> {
        match &self.place {
            Place::Local(_) => {
                if let Some(file) = &mut self.file {
                    let _ = file.set_len(0);
                }
                // Closing the file releases the flock.
                self.file = None;
                Ok(())
            }
            Place::S3 { bucket, key } => {
                // Only our own lock is removed (another run's after an `unlock` stays).
                match read(&self.place, &self.aws)? {
                    Some(current) if current.run == self.run => delete(bucket, key, &self.aws),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl Drop for Held {
    /// A lock not released by [`Held::release`] (an error or a panic on the way) is released as
    /// well as can be.
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_now();
        }
    }
}

enum Attempt {
    Got(Held),
    HeldBy(Option<Holder>),
}

fn try_acquire(place: &Place, holder: &Holder, aws: &Aws) -> Result<Attempt, UserError> {
    let body = serde_json::to_string_pretty(holder).unwrap_or_default();
    match place {
        Place::Local(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    UserError::new(format!("{}: cannot create: {e}", dir.display()))
                })?;
            }
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| {
                    UserError::new(format!("{}: cannot open the lock: {e}", path.display()))
                })?;
            if !try_flock(&file) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Attempt::HeldBy(serde_json::from_str(&text).ok()));
            }
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(body.as_bytes()))
                .map_err(|e| {
                    UserError::new(format!("{}: cannot write the lock: {e}", path.display()))
                })?;
            Ok(Attempt::Got(Held {
                place: place.clone(),
                run: holder.run.clone(),
                aws: aws.clone(),
                file: Some(file),
                released: false,
            }))
        }
        Place::S3 { bucket, key } => {
            match store::put_new(aws, bucket, key, &body, "application/json")? {
                PutNew::Created => Ok(Attempt::Got(Held {
                    place: place.clone(),
                    run: holder.run.clone(),
                    aws: aws.clone(),
                    file: None,
                    released: false,
                })),
                // Who holds it is read by `acquire` only when it says so.
                PutNew::Taken => Ok(Attempt::HeldBy(None)),
                PutNew::Failed { code, stderr } => Err(UserError::new(format!(
                    "cannot take the lock {}: `{aws} s3api put-object --if-none-match` failed with status {code}: {}; check that the state store is reachable (S3_ENDPOINT, AWS_ENDPOINT_URL_S3) and the credentials may write to it",
                    place.display(),
                    stderr.trim()
                ))),
            }
        }
    }
}

/// Takes the lock, waiting up to `timeout` for another holder to release it.
pub(crate) fn acquire(
    place: &Place,
    holder: &Holder,
    timeout: Duration,
    aws: &Aws,
    prefix: &str,
) -> Result<Held, UserError> {
    let started = Instant::now();
    let mut said = false;
    loop {
        match try_acquire(place, holder, aws)? {
            Attempt::Got(held) => return Ok(held),
            Attempt::HeldBy(other) => {
                let waited = started.elapsed();
                let give_up = waited >= timeout || process::interrupted().is_some();
                if said && !give_up {
                    std::thread::sleep(Duration::from_millis(500).min(timeout - waited));
                    continue;
                }
                let other = match (other, place) {
                    (None, Place::S3 { .. }) => read(place, aws)?,
                    (other, _) => other,
                };
                let who = other
                    .as_ref()
                    .map_or_else(|| "another run".to_string(), Holder::describe);
                if let Some(signal) = process::interrupted() {
                    return Err(UserError::with_code(
                        format!(
                            "interrupted by {} while waiting for the lock of cluster `{}`",
                            process::signal_name(signal),
                            holder.cluster
                        ),
                        crate::error::exit::interrupted(signal),
                    ));
                }
                if give_up {
                    return Err(UserError::with_code(
                        format!(
                            "cluster `{}` is locked by {who}: {}{}. If that run is gone, release the lock with `kopsform unlock --cluster ID`; to wait for it, pass --lock-timeout (e.g. 10m)",
                            holder.cluster,
                            place.display(),
                            if waited.as_secs() > 0 {
                                format!(
                                    "; waited {}",
                                    humantime::format_duration(Duration::from_secs(
                                        waited.as_secs()
                                    ))
                                )
                            } else {
                                String::new()
                            }
                        ),
                        crate::error::exit::LOCKED,
                    ));
                }
                crate::progress!(
                    "{prefix}waiting for the lock of cluster `{}`, held by {who} (up to {})",
                    holder.cluster,
                    humantime::format_duration(timeout)
                );
                said = true;
                std::thread::sleep(Duration::from_millis(500).min(timeout - waited));
            }
        }
    }
}

/// The current holder, if the lock is taken.
pub(crate) fn read(place: &Place, aws: &Aws) -> Result<Option<Holder>, UserError> {
    match place {
        Place::Local(path) => {
            let Ok(file) = std::fs::OpenOptions::new().read(true).open(path) else {
                return Ok(None);
            };
            if try_flock(&file) {
                return Ok(None);
            }
            let mut text = String::new();
            let _ = (&file).read_to_string(&mut text);
            Ok(serde_json::from_str(&text).ok())
        }
        Place::S3 { bucket, key } => {
            let url = format!("s3://{bucket}/{key}");
            let args = vec!["s3", "cp", &url, "-", "--only-show-errors"];
            let Output {
                code,
                stdout,
                stderr,
            } = store::aws(aws, &args)?;
            if code != 0 {
                if stderr.contains("404")
                    || stderr.contains("Not Found")
                    || stderr.contains("NoSuchKey")
                {
                    return Ok(None);
                }
                return Err(UserError::new(format!(
                    "cannot read the lock {url}: {}",
                    stderr.trim()
                )));
            }
            Ok(Some(serde_json::from_slice(&stdout).unwrap_or(Holder {
                user: "unknown".into(),
                host: "unknown".into(),
                pid: 0,
                task: "unknown".into(),
                cluster: String::new(),
                since: "unknown".into(),
                run: String::new(),
                pid_start: None,
            })))
        }
    }
}

fn delete(bucket: &str, key: &str, aws: &Aws) -> Result<(), UserError> {
    let args = ["s3api", "delete-object", "--bucket", bucket, "--key", key];
    let Output { code, stderr, .. } = store::aws(aws, &args)?;
    if code != 0 {
        return Err(UserError::new(format!(
            "cannot remove the lock s3://{bucket}/{key}: {}",
            stderr.trim()
        )));
    }
    Ok(())
}

/// Takes an exclusive `flock` on `file` without waiting; false when another process holds it.
fn try_flock(file: &std::fs::File) -> bool {
    // SAFETY: flock(2) on a descriptor the File owns for the duration of the call.
    unsafe {
        libc::flock(
            std::os::unix::io::AsRawFd::as_raw_fd(file),
            libc::LOCK_EX | libc::LOCK_NB,
        ) == 0
    }
}

/// What `kopsform unlock` found and did.
#[derive(Debug)]
pub(crate) enum Unlocked {
    /// Nothing held the lock.
    NotLocked,
    /// The lock was removed; it was held by this holder, who was gone (or ran elsewhere, or
    /// `--force` was given).
    Released(Holder, Liveness),
    /// Left in place: its holder still runs on this host, and `--force` was not given.
    Alive(Holder),
}

/// `kopsform unlock`: removes a lock left by a run that is gone, saying whose it was. A holder
/// that still runs on this host (its pid with the same start time) keeps its lock unless `force`.
/// A local lock still held is refused whatever `force` says: its process holds an OS lock,
/// released when it ends.
pub(crate) fn unlock(place: &Place, aws: &Aws, force: bool) -> Result<Unlocked, UserError> {
    let Some(holder) = read(place, aws)? else {
        return Ok(Unlocked::NotLocked);
    };
    match place {
        Place::Local(_) => Err(UserError::new(format!(
            "{} is held by a running process, {}; local locks are released when their process ends",
            place.display(),
            holder.describe()
        ))),
        Place::S3 { bucket, key } => {
            let liveness = holder.liveness();
            if liveness == Liveness::Alive && !force {
                return Ok(Unlocked::Alive(holder));
            }
            delete(bucket, key, aws)?;
            Ok(Unlocked::Released(holder, liveness))
        }
    }
}

/// Parses `--lock-timeout`: `0`, `30s`, `5m`, `1h`.
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}`: {e} (e.g. 30s, 5m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> Aws {
        Aws::new("aws".into(), crate::tools::retry::Policy::defaults())
    }

    #[test]
    fn a_local_lock_is_exclusive_names_its_holder_and_frees_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let place = Place::of(&dir.path().to_string_lossy(), "c.example.com", dir.path()).unwrap();
        let a = Holder::new("c.example.com", "apply");
        let held = acquire(&place, &a, Duration::ZERO, &aws(), "").unwrap();
        assert_eq!(read(&place, &aws()).unwrap(), Some(a.clone()));
        let b = Holder::new("c.example.com", "cluster-update");
        let err = acquire(&place, &b, Duration::from_millis(600), &aws(), "")
            .err()
            .unwrap();
        assert!(err.message.contains("is locked by"), "{}", err.message);
        assert!(err.message.contains("task `apply`"), "{}", err.message);
        assert!(unlock(&place, &aws(), true).is_err());
        drop(held);
        assert_eq!(read(&place, &aws()).unwrap(), None);
        let again = acquire(&place, &b, Duration::ZERO, &aws(), "");
        assert!(again.is_ok());
    }

    #[test]
    fn a_holder_is_alive_while_its_pid_runs_with_the_same_start_time() {
        let me = Holder::new("c.example.com", "apply");
        assert!(me.pid_start.is_some());
        assert_eq!(me.liveness(), Liveness::Alive);
        let reused = Holder {
            pid_start: me.pid_start.map(|t| t + 1),
            ..me.clone()
        };
        assert_eq!(reused.liveness(), Liveness::Gone);
        let elsewhere = Holder {
            host: format!("not-{}", me.host),
            ..me.clone()
        };
        assert_eq!(elsewhere.liveness(), Liveness::Elsewhere);
        // A record of an older kopsform: no start time; its pid runs, so it is taken as alive.
        let old = r#"{"user":"u","host":"HOST","pid":PID,"task":"t","cluster":"c","since":"s","run":"r"}"#
            .replace("HOST", &me.host)
            .replace("PID", &me.pid.to_string());
        let old: Holder = serde_json::from_str(&old).unwrap();
        assert_eq!(old.pid_start, None);
        assert_eq!(old.liveness(), Liveness::Alive);
        let text = serde_json::to_string(&me).unwrap();
        assert!(text.contains(&format!("\"pid_start\":{}", me.pid_start.unwrap())));
    }

    #[test]
    fn timeouts_parse() {
        assert_eq!(parse_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_timeout("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_timeout("soon").is_err());
    }
}

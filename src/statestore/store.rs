//! Where a state store lives (`s3://bucket/prefix`, `file://`, a path) and how kopsform reads it:
//! the one `aws` runner (kops's `S3_ENDPOINT` passed on, reads retried on transient errors), S3
//! listings, and which of a cluster's objects are its spec (the registry kops reads through
//! `--state`).

use std::path::{Path, PathBuf};

use std::fmt;

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::tools::process;
use crate::tools::retry::Policy;

/// Where a state store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Store {
    S3 { bucket: String, prefix: String },
    Local(PathBuf),
}

impl Store {
    /// The key of `rel` (`""` for the store itself) in an S3 store's bucket.
    pub(crate) fn key(prefix: &str, rel: &str) -> String {
        match (prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => format!("{prefix}/"),
            (false, false) => format!("{prefix}/{rel}"),
        }
    }

    pub(crate) fn parse(state: &str, project_dir: &Path) -> Result<Store, UserError> {
        if let Some(rest) = state.strip_prefix("s3://") {
            let rest = rest.trim_end_matches('/');
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(UserError::new(format!(
                    "state store `{state}` names no bucket; fix the cluster's `state` in tasks.toml, e.g. s3://my-bucket"
                )));
            }
            return Ok(Store::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        let state = state.trim_end_matches('/');
        if let Some(path) = state.strip_prefix("file://") {
            return Ok(Store::Local(PathBuf::from(path)));
        }
        if state.contains("://") {
            return Err(UserError::new(format!(
                "state store `{state}`: kopsform works with s3:// stores, local paths and file:// only; fix the cluster's `state` in tasks.toml"
            )));
        }
        Ok(Store::Local(project_dir.join(state)))
    }
}

/// What kops reads through `--state`, as `aws s3 sync --include` patterns.
pub(super) const REGISTRY: &[&str] = &["config", "instancegroup/*", "clusteraddons/*"];

/// Whether `rel` (relative to the cluster's prefix) is one of the objects of the cluster's spec:
/// `config` or an instance group.
pub(crate) fn is_spec(rel: &str) -> bool {
    rel == "config"
        || rel
            .strip_prefix("instancegroup/")
            .is_some_and(|ig| !ig.contains('/'))
}

pub(super) fn in_registry(rel: &Path) -> bool {
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    match parts.next().as_deref() {
        Some("config") => parts.next().is_none(),
        Some("instancegroup") | Some("clusteraddons") => true,
        _ => false,
    }
}

/// The aws CLI as kopsform runs it against a state store: the program (`[tools] aws`), the retry
/// policy of its reads (the project's `[retry]`), and the environment tasks.toml gives the
/// cluster (`[env]`, the cluster's `env`: credentials files, profiles, endpoints), handed to
/// whatever reads or locks a store. It runs in the project folder, where relative paths of that
/// environment point, as for the steps.
#[derive(Debug, Clone)]
pub(crate) struct Aws {
    pub(crate) program: String,
    reads: Policy,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Aws {
    pub(crate) fn new(program: String, reads: Policy) -> Aws {
        Aws {
            program,
            reads,
            env: Vec::new(),
            cwd: PathBuf::from("."),
        }
    }

    /// The project's aws CLI and retry policy, with the environment of `cluster` (none: `[env]`).
    pub(crate) fn of(project: &Project, cluster: Option<&ClusterDef>) -> Aws {
        Aws {
            env: crate::values::context::own_env_pairs(project, cluster),
            cwd: project.dir.clone(),
            ..Aws::new(
                project.tool_or_default("aws"),
                project.retry_policy(None).clone(),
            )
        }
    }

    /// A variable as the aws CLI sees it: tasks.toml's, else kopsform's own.
    fn var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    }
}

/// Messages name the program, as the user configured it.
impl fmt::Display for Aws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&process::shown_program(&self.program))
    }
}

/// Runs the aws CLI with `args` and, when only `S3_ENDPOINT` names the endpoint, `--endpoint-url`:
/// status, stdout, stderr.
pub(crate) fn aws(aws: &Aws, args: &[&str]) -> Result<process::Output, UserError> {
    let endpoint = endpoint_args(aws);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(endpoint.iter().map(String::as_str));
    let words: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if crate::tools::retry::classify(crate::tools::retry::Tool::Aws, &words)
        == crate::tools::retry::Safety::Repeatable
    {
        // A read (a listing, a download): again after a transient error. Writes (the lock's
        // conditional put, its delete) are never repeated.
        crate::tools::retry::run_captured(&aws.reads, &aws.program, &all, &aws.cwd, &aws.env)
    } else {
        process::run_captured(&aws.program, &all, &aws.cwd, &aws.env)
    }
}

/// What a create-only put ([`put_new`]) did.
pub(crate) enum PutNew {
    Created,
    /// An object is already at the key (S3 refused the conditional put).
    Taken,
    /// Any other failure of the aws CLI: its status and stderr.
    Failed {
        code: i32,
        stderr: String,
    },
}

/// Puts `body` at `key` of `bucket` only when no object is there (`--if-none-match *`): the one
/// write that two writers can race on safely (the lock, the audit records). Never repeated.
pub(crate) fn put_new(
    aws: &Aws,
    bucket: &str,
    key: &str,
    body: &str,
    content_type: &str,
) -> Result<PutNew, UserError> {
    use std::io::Write as _;
    let temp = tempfile::NamedTempFile::new()
        .and_then(|mut t| {
            t.write_all(body.as_bytes())
                .and_then(|()| t.flush())
                .map(|()| t)
        })
        .map_err(|e| UserError::new(format!("cannot write a temporary file: {e}")))?;
    let body_path = temp.path().to_string_lossy().into_owned();
    let args = [
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        key,
        "--body",
        &body_path,
        "--if-none-match",
        "*",
        "--content-type",
        content_type,
    ];
    let process::Output { code, stderr, .. } = self::aws(aws, &args)?;
    Ok(if code == 0 {
        PutNew::Created
    } else if stderr.contains("PreconditionFailed") || stderr.contains("ConditionalRequestConflict")
    {
        PutNew::Taken
    } else {
        PutNew::Failed { code, stderr }
    })
}

/// Every object under `key_prefix` of `bucket`: key and ETag (the aws CLI pages through them).
pub(crate) fn list_objects(
    aws: &Aws,
    bucket: &str,
    key_prefix: &str,
) -> Result<Vec<(String, String)>, UserError> {
    let args = [
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--prefix",
        key_prefix,
        "--query",
        "Contents[].[Key,ETag]",
        "--output",
        "json",
    ];
    let process::Output {
        code,
        stdout,
        stderr,
    } = self::aws(aws, &args)?;
    if code != 0 {
        return Err(UserError::new(format!(
            "cannot list s3://{bucket}/{key_prefix}: `{aws} s3api list-objects-v2` failed with status {code}: {}",
            stderr.trim()
        )));
    }
    let rows: Option<Vec<(String, String)>> = serde_json::from_slice(&stdout).map_err(|e| {
        UserError::new(format!(
            "cannot list s3://{bucket}/{key_prefix}: `{aws} s3api list-objects-v2` printed no key list ({e})"
        ))
    })?;
    Ok(rows.unwrap_or_default())
}

/// The names of the instance groups `cluster` has in `store` (its `instancegroup/<name>` objects,
/// kops: pkg/client/simple/vfsclientset/instancegroup.go), sorted.
pub(crate) fn instance_groups(
    store: &Store,
    cluster: &str,
    aws: &Aws,
) -> Result<Vec<String>, UserError> {
    let mut names: Vec<String> = match store {
        Store::S3 { bucket, prefix } => {
            let key_prefix = Store::key(prefix, &format!("{cluster}/instancegroup/"));
            list_objects(aws, bucket, &key_prefix)?
                .into_iter()
                .filter_map(|(key, _)| key.strip_prefix(&key_prefix).map(str::to_string))
                .collect()
        }
        Store::Local(path) => {
            let dir = path.join(cluster).join("instancegroup");
            match std::fs::read_dir(&dir) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => {
                    return Err(UserError::new(format!(
                        "{}: cannot read: {e}",
                        dir.display()
                    )));
                }
            }
        }
    };
    names.retain(|n| !n.is_empty() && !n.contains('/'));
    names.sort();
    Ok(names)
}

/// `--endpoint-url` for the aws CLI when only kops's `S3_ENDPOINT` names the S3 endpoint (the aws
/// CLI reads `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL` itself).
fn endpoint_args(aws: &Aws) -> Vec<String> {
    match aws.var("S3_ENDPOINT") {
        Some(endpoint) if !endpoint.is_empty() && aws.var("AWS_ENDPOINT_URL_S3").is_none() => {
            vec!["--endpoint-url".into(), endpoint]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws() -> Aws {
        Aws::new("aws".into(), Policy::defaults())
    }
    use crate::statestore::snapshot::snapshot;

    #[test]
    fn stores_are_parsed() {
        let p = Path::new("/p");
        assert_eq!(
            Store::parse("s3://b/pre/", p).unwrap(),
            Store::S3 {
                bucket: "b".into(),
                prefix: "pre".into()
            }
        );
        assert_eq!(
            Store::parse("file:///x/y", p).unwrap(),
            Store::Local("/x/y".into())
        );
        assert_eq!(
            Store::parse("state", p).unwrap(),
            Store::Local("/p/state".into())
        );
        assert!(Store::parse("gs://b", p).is_err());
        assert!(Store::parse("s3://", p).is_err());
    }

    #[test]
    fn local_snapshots_hold_only_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live/c");
        std::fs::create_dir_all(live.join("backups/etcd")).unwrap();
        std::fs::create_dir_all(live.join("pki")).unwrap();
        std::fs::write(live.join("config"), "x").unwrap();
        std::fs::write(live.join("pki/k"), "y").unwrap();
        std::fs::write(live.join("backups/etcd/b"), "z").unwrap();
        std::fs::create_dir_all(live.join("instancegroup")).unwrap();
        std::fs::write(live.join("instancegroup/nodes"), "ig").unwrap();
        let dest = dir.path().join("snap");
        let store = Store::Local(dir.path().join("live"));
        assert_eq!(snapshot(&store, "c", &dest, &aws()).unwrap(), 2);
        assert!(dest.join("c/instancegroup/nodes").is_file());
        assert!(!dest.join("c/backups").exists());
        assert!(!dest.join("c/pki").exists());
        assert!(snapshot(&store, "other", &dest, &aws()).is_err());
    }
}

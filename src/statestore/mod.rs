//! Snapshots of a kops state store, for dry runs that must not touch the live one.
//!
//! Only what kops reads through `--state` is copied: the cluster's `config`, its `instancegroup/`
//! and `clusteraddons/` (kops: pkg/client/simple/vfsclientset/cluster.go, instancegroup.go,
//! addons.go). Keys, secrets, managed files and etcd backups stay where they are: kops reads them
//! from `spec.configBase`, which an isolated run keeps live, so copying them would only put CA
//! private keys on the runner's disk. `s3://` stores are copied with `aws s3 sync`, honouring the
//! endpoint variables kops honours (`S3_ENDPOINT`) as well as the aws CLI's own
//! (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`); local paths and `file://` by a plain copy.

pub(crate) mod lock;
pub(crate) mod preflight;

use std::path::{Path, PathBuf};

use crate::error::UserError;
use crate::tools::process;

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

/// Copies the objects of `cluster` in `store` into `dest/<cluster>/` (replacing an earlier
/// snapshot). Returns how many files the snapshot holds.
pub(crate) fn snapshot(
    store: &Store,
    cluster: &str,
    dest: &Path,
    aws: &str,
) -> Result<usize, UserError> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| {
            UserError::new(format!(
                "{}: cannot remove the previous snapshot: {e}",
                dest.display()
            ))
        })?;
    }
    let target = dest.join(cluster);
    std::fs::create_dir_all(&target)
        .map_err(|e| UserError::new(format!("{}: cannot create: {e}", target.display())))?;
    private_dir(dest)?;
    match store {
        Store::S3 { bucket, prefix } => {
            let source = format!(
                "s3://{bucket}/{}",
                Store::key(prefix, &format!("{cluster}/"))
            );
            let target_str = target.to_string_lossy().into_owned();
            let mut args = vec!["s3", "sync", &source, &target_str, "--exclude", "*"];
            for include in REGISTRY {
                args.extend(["--include", include]);
            }
            args.push("--only-show-errors");
            let process::Output { code, stderr, .. } = self::aws(aws, &args)?;
            if code != 0 {
                return Err(UserError::new(format!(
                    "`{aws} s3 sync {source}` failed with status {code}: {}; check the credentials can read the state bucket (docs/dryrun-isolation.md lists the read-only permissions)",
                    stderr.trim()
                )));
            }
        }
        Store::Local(path) => {
            let source = path.join(cluster);
            if !source.is_dir() {
                return Err(UserError::new(format!(
                    "{}: the state store holds no cluster `{cluster}`",
                    source.display()
                )));
            }
            copy_tree(&source, &target, &|rel| !in_registry(rel))?;
        }
    }
    let count = count_files(&target);
    if count == 0 {
        return Err(UserError::new(format!(
            "the state store holds no object of cluster `{cluster}`: is the cluster created (task cluster-update) and the name right?"
        )));
    }
    Ok(count)
}

/// What kops reads through `--state`, as `aws s3 sync --include` patterns.
const REGISTRY: &[&str] = &["config", "instancegroup/*", "clusteraddons/*"];

/// Whether `rel` (relative to the cluster's prefix) is one of the objects of the cluster's spec:
/// `config` or an instance group.
pub(crate) fn is_spec(rel: &str) -> bool {
    rel == "config"
        || rel
            .strip_prefix("instancegroup/")
            .is_some_and(|ig| !ig.contains('/'))
}

fn in_registry(rel: &Path) -> bool {
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    match parts.next().as_deref() {
        Some("config") => parts.next().is_none(),
        Some("instancegroup") | Some("clusteraddons") => true,
        _ => false,
    }
}

/// Runs the aws CLI with `args` and, when only `S3_ENDPOINT` names the endpoint, `--endpoint-url`:
/// status, stdout, stderr.
pub(crate) fn aws(aws: &str, args: &[&str]) -> Result<process::Output, UserError> {
    let endpoint = endpoint_args();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(endpoint.iter().map(String::as_str));
    let words: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if crate::tools::retry::classify(crate::tools::retry::Tool::Aws, &words)
        == crate::tools::retry::Safety::Repeatable
    {
        // A read (a listing, a download): again after a transient error. Writes (the lock's
        // conditional put, its delete) are never repeated.
        crate::tools::retry::run_captured(
            &crate::tools::retry::own_reads(),
            aws,
            &all,
            Path::new("."),
            &[],
        )
    } else {
        process::run_captured(aws, &all, Path::new("."), &[])
    }
}

/// Every object under `key_prefix` of `bucket`: key and ETag (the aws CLI pages through them).
pub(crate) fn list_objects(
    aws: &str,
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

/// `--endpoint-url` for the aws CLI when only kops's `S3_ENDPOINT` names the S3 endpoint (the aws
/// CLI reads `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL` itself).
fn endpoint_args() -> Vec<String> {
    match std::env::var("S3_ENDPOINT") {
        Ok(endpoint)
            if !endpoint.is_empty() && std::env::var_os("AWS_ENDPOINT_URL_S3").is_none() =>
        {
            vec!["--endpoint-url".into(), endpoint]
        }
        _ => Vec::new(),
    }
}

fn private_dir(path: &Path) -> Result<(), UserError> {
    use std::os::unix::fs::PermissionsExt;
    // The snapshot holds the cluster's keys and secrets.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| UserError::new(format!("{}: cannot set mode 0700: {e}", path.display())))
}

fn count_files(path: &Path) -> usize {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { count_files(&p) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Copies `from` to `to`, skipping entries for which `skip(relative path)` is true.
pub(crate) fn copy_tree(
    from: &Path,
    to: &Path,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<(), UserError> {
    copy_inner(from, from, to, skip)
}

fn copy_inner(
    root: &Path,
    from: &Path,
    to: &Path,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<(), UserError> {
    let fail = |p: &Path, e: std::io::Error| UserError::new(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(to).map_err(|e| fail(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| fail(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| fail(from, e))?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path);
        if skip(rel) {
            continue;
        }
        let dest = to.join(entry.file_name());
        let file_type = entry.file_type().map_err(|e| fail(&path, e))?;
        if file_type.is_dir() {
            copy_inner(root, &path, &dest, skip)?;
        } else if file_type.is_file() {
            std::fs::copy(&path, &dest).map_err(|e| fail(&path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(snapshot(&store, "c", &dest, "aws").unwrap(), 2);
        assert!(dest.join("c/instancegroup/nodes").is_file());
        assert!(!dest.join("c/backups").exists());
        assert!(!dest.join("c/pki").exists());
        assert!(snapshot(&store, "other", &dest, "aws").is_err());
    }
}

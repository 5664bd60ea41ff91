//! Snapshots of a kops state store, for dry runs that must not touch the live one.
//!
//! Only what kops reads through `--state` is copied: the cluster's `config`, its `instancegroup/`
//! and `clusteraddons/` (kops: pkg/client/simple/vfsclientset/cluster.go, instancegroup.go,
//! addons.go). Keys, secrets, managed files and etcd backups stay where they are: kops reads them
//! from `spec.configBase`, which an isolated run keeps live, so copying them would only put CA
//! private keys on the runner's disk. `s3://` stores are copied with `aws s3 sync`, honouring the
//! endpoint variables kops honours (`S3_ENDPOINT`) as well as the aws CLI's own
//! (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`); local paths and `file://` by a plain copy.

use std::path::Path;

use crate::error::UserError;
use crate::statestore::store::{self, Aws, REGISTRY, Store, in_registry};

/// Copies the objects of `cluster` in `store` into `dest/<cluster>/` (replacing an earlier
/// snapshot). Returns how many files the snapshot holds.
pub(crate) fn snapshot(
    store: &Store,
    cluster: &str,
    dest: &Path,
    aws: &Aws,
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
            let crate::tools::process::Output { code, stderr, .. } = store::aws(aws, &args)?;
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

/// The `metadata.creationTimestamp` of the objects in a cluster's folder of a local store (or a
/// copy of one), by (kind, name): the Cluster (`config`, named "") and each InstanceGroup
/// (`instancegroup/<name>`). None when the folder holds no cluster.
pub(crate) fn creation_timestamps(dir: &Path) -> Vec<((String, String), String)> {
    let stamp = |path: &Path| -> Option<String> {
        let text = std::fs::read_to_string(path).ok()?;
        let value: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
        value["metadata"]["creationTimestamp"]
            .as_str()
            .map(str::to_string)
    };
    let mut out = Vec::new();
    if let Some(ts) = stamp(&dir.join("config")) {
        out.push((("Cluster".to_string(), String::new()), ts));
    }
    for entry in std::fs::read_dir(dir.join("instancegroup"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(ts) = stamp(&entry.path()) {
            out.push((("InstanceGroup".to_string(), name), ts));
        }
    }
    out
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

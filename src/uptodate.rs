//! Up-to-date checks: a task with `sources` is skipped when its fingerprint and its generated
//! files are what they were after its last successful run.
//!
//! The fingerprint covers the content of the sources, the task's resolved steps (arguments,
//! folders, environment, built-in settings), the values it renders with, and the versions of the
//! tools it runs. For a task that runs kops it also records, after the run, the cluster's spec in
//! the state store (`config`, `instancegroup/*`), so a `kops edit` by someone else makes it run
//! again. The record is written only after the task succeeded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::UserError;
use crate::process;
use crate::seal::hex;
use crate::statestore::{self, Store};

/// What a task's last successful run left behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Record {
    /// SHA-256 of everything the task reads.
    pub inputs: String,
    /// SHA-256 of the cluster's spec in the state store after the run (kops tasks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Each generated file with its SHA-256.
    pub generates: BTreeMap<String, String>,
}

/// Collects the parts of a fingerprint, each under a label.
#[derive(Default)]
pub struct Fingerprint {
    hasher: Sha256,
}

impl Fingerprint {
    pub fn add(&mut self, label: &str, value: &[u8]) {
        self.hasher.update((label.len() as u64).to_le_bytes());
        self.hasher.update(label.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
    }

    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

fn sha256_file(path: &Path) -> Result<String, UserError> {
    let bytes = std::fs::read(path)
        .map_err(|e| UserError::new(format!("{}: cannot read: {e}", path.display())))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// The files matching `patterns` (relative to `dir`), sorted, each with its SHA-256. A pattern that
/// matches nothing is reported in `missing`.
pub fn expand(
    dir: &Path,
    patterns: &[String],
) -> Result<(BTreeMap<String, String>, Vec<String>), UserError> {
    let mut files = BTreeMap::new();
    let mut missing = Vec::new();
    for pattern in patterns {
        let full = dir.join(pattern).to_string_lossy().into_owned();
        let paths = glob::glob(&full)
            .map_err(|e| UserError::new(format!("`{pattern}` is not a glob: {e}")))?;
        let mut any = false;
        for path in paths.flatten() {
            if path.is_file() {
                any = true;
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, sha256_file(&path)?);
            }
        }
        if !any {
            missing.push(pattern.clone());
        }
    }
    Ok((files, missing))
}

/// Where a task's record lives.
pub fn record_path(work: &Path, task: &str) -> PathBuf {
    work.join("up-to-date").join(format!("{task}.json"))
}

pub fn read_record(path: &Path) -> Option<Record> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

pub fn write_record(path: &Path, record: &Record) -> Result<(), UserError> {
    let text = serde_json::to_string_pretty(record)
        .map_err(|e| UserError::new(format!("cannot write the up-to-date record: {e}")))?;
    crate::atomic::write(path, format!("{text}\n").as_bytes(), 0o644)
}

/// The version a tool reports (`TOOL version`, else `TOOL --version`), for the fingerprint. Asked
/// once per process: every cluster of a run shares the answer.
pub fn tool_version(program: &str, cwd: &Path) -> String {
    static SEEN: std::sync::Mutex<BTreeMap<String, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    if let Some(v) = SEEN.lock().ok().and_then(|seen| seen.get(program).cloned()) {
        return v;
    }
    let env = [("CHECKPOINT_DISABLE".to_string(), "1".to_string())];
    let version = [["version"].as_slice(), ["--version"].as_slice()]
        .into_iter()
        .find_map(
            |args| match process::run_captured(program, args, cwd, &env) {
                Ok((0, stdout, _)) => Some(String::from_utf8_lossy(&stdout).trim().to_string()),
                _ => None,
            },
        )
        .unwrap_or_else(|| format!("{program}: no version"));
    if let Ok(mut seen) = SEEN.lock() {
        seen.insert(program.to_string(), version.clone());
    }
    version
}

/// SHA-256 over the cluster's spec objects in the state store: `<name>/config` and
/// `<name>/instancegroup/*` (key and ETag for S3, content for local stores).
pub fn registry_hash(store: &Store, cluster: &str, aws: &str) -> Result<String, UserError> {
    let mut fp = Fingerprint::default();
    match store {
        Store::Local(dir) => {
            let base = dir.join(cluster);
            let (files, _) = expand(&base, &["config".into(), "instancegroup/*".into()])?;
            for (rel, sha) in files.iter().filter(|(rel, _)| statestore::is_spec(rel)) {
                fp.add(rel, sha.as_bytes());
            }
        }
        Store::S3 { bucket, prefix } => {
            let key_prefix = Store::key(prefix, &format!("{cluster}/"));
            for (key, etag) in statestore::list_objects(aws, bucket, &key_prefix)? {
                if let Some(rel) = key.strip_prefix(&key_prefix)
                    && statestore::is_spec(rel)
                {
                    fp.add(rel, etag.as_bytes());
                }
            }
        }
    }
    Ok(fp.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_expand_to_hashed_files_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("d/data")).unwrap();
        std::fs::write(dir.path().join("d/kubernetes.tf"), "a").unwrap();
        std::fs::write(dir.path().join("d/data/x"), "b").unwrap();
        let (files, missing) = expand(
            dir.path(),
            &[
                "d/kubernetes.tf".into(),
                "d/data/*".into(),
                "d/none.tf".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["d/data/x", "d/kubernetes.tf"]
        );
        assert_eq!(missing, ["d/none.tf"]);
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        let mut a = Fingerprint::default();
        a.add("ab", b"c");
        let mut b = Fingerprint::default();
        b.add("a", b"bc");
        assert_ne!(a.finish(), b.finish());
    }
}

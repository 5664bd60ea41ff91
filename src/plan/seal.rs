//! "Apply exactly what was reviewed": a small manifest sealed next to a saved plan.
//!
//! `seal-plan` records the SHA-256 of the saved plan and of the files it was made from
//! (`cluster.yml`, `kubernetes.tf`, `data/`), the Terraform version, the git commit and the cluster.
//! `check-plan` recomputes them before `apply` and refuses when anything differs, so a plan that was
//! replaced, or whose inputs were edited after the review, is never applied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::UserError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Seal {
    /// The saved plan, relative to the project.
    pub(crate) plan: String,
    pub(crate) plan_sha256: String,
    /// Input path (relative to the project) -> SHA-256 (of the file, or of a folder's files).
    pub(crate) inputs: BTreeMap<String, String>,
    pub(crate) terraform_version: String,
    pub(crate) git_commit: Option<String>,
    pub(crate) git_dirty: Option<bool>,
    pub(crate) cluster: Option<String>,
}

/// Where the seal of `plan` lives: `<plan>.kopsform.json`.
pub(crate) fn seal_path(plan: &Path) -> PathBuf {
    let mut name = plan.file_name().unwrap_or_default().to_os_string();
    name.push(".kopsform.json");
    plan.with_file_name(name)
}

/// SHA-256 of a file, or of every file below a folder (names and contents, in name order).
/// A missing path hashes as `missing`, so its later appearance is a change too.
pub(crate) fn hash_path(path: &Path) -> Result<String, UserError> {
    if !path.exists() {
        return Ok("missing".to_string());
    }
    let mut hasher = Sha256::new();
    hash_into(path, path, &mut hasher)?;
    Ok(crate::text::hex(&hasher.finalize()))
}

fn hash_into(root: &Path, path: &Path, hasher: &mut Sha256) -> Result<(), UserError> {
    let fail = |e: std::io::Error| UserError::new(format!("{}: cannot read: {e}", path.display()));
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(fail)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(fail)?;
        entries.sort();
        for entry in entries {
            hash_into(root, &entry, hasher)?;
        }
    } else {
        let relative = path.strip_prefix(root).unwrap_or(path);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(path).map_err(fail)?);
        hasher.update([0]);
    }
    Ok(())
}

/// The differences between the sealed state and now, in words; empty when nothing changed.
pub(crate) fn differences(sealed: &Seal, now: &Seal) -> Vec<String> {
    let mut out = Vec::new();
    if sealed.plan_sha256 != now.plan_sha256 {
        out.push(format!(
            "the plan file {} was replaced since it was sealed",
            sealed.plan
        ));
    }
    for (path, hash) in &sealed.inputs {
        match now.inputs.get(path) {
            Some(h) if h == hash => {}
            _ => out.push(format!("{path} changed since the plan was made")),
        }
    }
    if sealed.terraform_version != now.terraform_version {
        out.push(format!(
            "Terraform is {} now, the plan was made with {}",
            now.terraform_version, sealed.terraform_version
        ));
    }
    if sealed.cluster.is_some() && now.cluster.is_some() && sealed.cluster != now.cluster {
        out.push(format!(
            "the plan is for cluster {}, this run acts on {}",
            sealed.cluster.as_deref().unwrap_or_default(),
            now.cluster.as_deref().unwrap_or_default()
        ));
    }
    out
}

pub(crate) fn read(path: &Path) -> Result<Seal, UserError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!(
            "{}: no seal for this plan ({e}); run the plan task first, review it, then apply",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        UserError::new(format!(
            "{}: not a kopsform plan seal ({e}); re-run the plan task",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_hashes_see_names_and_contents() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        let first = hash_path(dir.path()).unwrap();
        std::fs::write(dir.path().join("a"), "2").unwrap();
        let second = hash_path(dir.path()).unwrap();
        std::fs::rename(dir.path().join("a"), dir.path().join("b")).unwrap();
        let third = hash_path(dir.path()).unwrap();
        assert_ne!(first, second);
        assert_ne!(second, third);
        assert_eq!(hash_path(&dir.path().join("nope")).unwrap(), "missing");
    }

    #[test]
    fn differences_are_said_in_words() {
        let seal = Seal {
            plan: "p".into(),
            plan_sha256: "1".into(),
            inputs: [("k.tf".to_string(), "a".to_string())].into(),
            terraform_version: "1.11.4".into(),
            git_commit: None,
            git_dirty: None,
            cluster: Some("c".into()),
        };
        assert!(differences(&seal, &seal).is_empty());
        let mut now = seal.clone();
        now.plan_sha256 = "2".into();
        now.inputs.insert("k.tf".into(), "b".into());
        now.terraform_version = "1.12.0".into();
        let diff = differences(&seal, &now);
        assert_eq!(diff.len(), 3, "{diff:?}");
        assert!(diff[1].contains("k.tf changed"));
    }
}

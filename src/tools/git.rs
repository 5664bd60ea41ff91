//! What kopsform asks git: the commit, branch and state of the working tree a run starts from,
//! for audit records and plan seals.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Git {
    pub(crate) commit: String,
    /// Null on a detached HEAD.
    pub(crate) branch: Option<String>,
    /// Uncommitted changes to tracked files.
    pub(crate) dirty: bool,
}

/// The commit, branch and uncommitted changes to tracked files of the repository `dir` is in, and
/// whether it has untracked files, from one `git status`; `None` outside a repository or before
/// its first commit. For audit records and plan seals.
/// Asked once per process and folder: a run's plan seals and audit records share the answer (the
/// repository as the run found it).
pub(crate) fn repository(dir: &Path) -> Option<(Git, bool)> {
    type Seen = std::collections::BTreeMap<std::path::PathBuf, Option<(Git, bool)>>;
    static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Seen::new());
    // Held while git runs: clusters finishing at once wait for one answer instead of each asking.
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(answer) = seen.get(dir) {
        return answer.clone();
    }
    let answer = crate::tools::process::run_captured(
        "git",
        &["status", "--porcelain=v2", "--branch"],
        dir,
        &[],
    )
    .ok()
    .filter(|out| out.code == 0)
    .and_then(|out| parse_git_status(&String::from_utf8_lossy(&out.stdout)));
    seen.insert(dir.to_path_buf(), answer.clone());
    answer
}

fn parse_git_status(text: &str) -> Option<(Git, bool)> {
    let mut commit = None;
    let mut branch = None;
    let mut dirty = false;
    let mut untracked = false;
    for line in text.lines() {
        if let Some(oid) = line.strip_prefix("# branch.oid ") {
            commit = (oid != "(initial)").then(|| oid.to_string());
        } else if let Some(head) = line.strip_prefix("# branch.head ") {
            branch = (head != "(detached)").then(|| head.to_string());
        } else if line.starts_with("? ") {
            untracked = true;
        } else if !line.starts_with('#') && !line.is_empty() {
            dirty = true;
        }
    }
    Some((
        Git {
            commit: commit?,
            branch,
            dirty,
        },
        untracked,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_status_gives_commit_branch_and_dirtiness() {
        let clean = "# branch.oid 0123456789abcdef\n# branch.head main\n";
        assert_eq!(
            parse_git_status(clean),
            Some((
                Git {
                    commit: "0123456789abcdef".into(),
                    branch: Some("main".into()),
                    dirty: false
                },
                false
            ))
        );
        let dirty = "# branch.oid abc\n# branch.head (detached)\n1 .M N... 100644 100644 100644 a b tasks.toml\n";
        let (g, untracked) = parse_git_status(dirty).unwrap();
        assert_eq!((g.branch, g.dirty, untracked), (None, true, false));
        let (g, untracked) = parse_git_status("# branch.oid abc\n? new.txt\n").unwrap();
        assert_eq!((g.dirty, untracked), (false, true));
        assert_eq!(
            parse_git_status("# branch.oid (initial)\n# branch.head main\n"),
            None
        );
    }
}

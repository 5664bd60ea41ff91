//! What kopsform asks git: the commit, branch and state of the working tree a run starts from,
//! for audit records and plan seals; and the files a change touches since a base, for
//! `kopsform affected`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::UserError;

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

/// The files a change touches: every path that differs between the merge base of `base` and HEAD
/// and the working tree (commits, staged and unstaged changes), and the untracked files git does
/// not ignore, as absolute paths under the repository's top folder.
#[derive(Debug)]
pub(crate) struct Changes {
    /// The merge base's commit id.
    pub(crate) merge_base: String,
    /// The changed paths with git's status letter (`M`, `A`, `D`, `T`, ... and `?` for
    /// untracked), each path once, in git's order.
    pub(crate) paths: Vec<(char, PathBuf)>,
}

/// What changed in the repository `dir` is in since the merge base of `base` and HEAD (as a pull
/// request's diff shows it), with the working tree's own changes. `base` is a commit, branch or tag
/// (`origin/main`); one that git does not know, a repository without one, or history too shallow
/// to hold the merge base is an error that says so.
pub(crate) fn changes_since(dir: &Path, base: &str) -> Result<Changes, UserError> {
    if base.is_empty() || base.starts_with('-') || base.contains('\0') {
        return Err(UserError::new(format!(
            "--base `{}` is not a commit, branch or tag; name one such as origin/main",
            base.escape_debug()
        )));
    }
    let git = |args: &[&str], what: &str| -> Result<Vec<u8>, UserError> {
        let out = crate::tools::process::run_captured("git", args, dir, &[])?;
        if out.code != 0 {
            let said = match out.stderr.trim() {
                "" => String::new(),
                text => format!(": {text}"),
            };
            return Err(UserError::new(format!(
                "{what} (`git {}` exited with status {}{said})",
                args.join(" "),
                out.code,
            )));
        }
        Ok(out.stdout)
    };
    let line = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_string();
    let top = line(git(
        &["rev-parse", "--show-toplevel"],
        &format!("{} is not in a git repository", dir.display()),
    )?);
    let spec = format!("{base}^{{commit}}");
    let base_id = line(git(
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ],
        &format!(
            "--base `{}` is no commit of this repository (fetch it first, e.g. `git fetch origin main`; a CI checkout needs the base branch's history)",
            base.escape_debug()
        ),
    )?);
    let merge_base = line(git(
        &["merge-base", &base_id, "HEAD"],
        &format!(
            "no merge base of `{}` and HEAD (a shallow clone lacks it: fetch the whole history, e.g. `git fetch --unshallow` or `fetch-depth: 0`)",
            base.escape_debug()
        ),
    )?);
    // Every option a user's git configuration could turn the other way is given: renames (both
    // sides must count), `diff.relative` (paths outside the project must show, from the top),
    // external diff drivers, ignored submodules.
    let diff = git(
        &[
            "diff",
            "--name-status",
            "-z",
            "--no-renames",
            "--no-relative",
            "--no-ext-diff",
            "--ignore-submodules=none",
            &merge_base,
            "--",
        ],
        "cannot list the changes",
    )?;
    let untracked = git(
        &[
            "ls-files",
            "--others",
            "--exclude-standard",
            "-z",
            "--full-name",
            "--",
            ":/",
        ],
        "cannot list the untracked files",
    )?;
    let top = PathBuf::from(top);
    let mut paths: Vec<(char, PathBuf)> = parse_name_status(&diff)
        .into_iter()
        .chain(
            untracked
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| ('?', p.to_vec())),
        )
        .map(|(status, p)| (status, top.join(bytes_path(&p))))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    paths.retain(|(_, p)| seen.insert(p.clone()));
    Ok(Changes { merge_base, paths })
}

fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// `git diff --name-status -z` output: a status, then one path (two for a rename or copy, each
/// side counted), every field ended by NUL.
fn parse_name_status(bytes: &[u8]) -> Vec<(char, Vec<u8>)> {
    let mut fields = bytes.split(|b| *b == 0);
    let mut out = Vec::new();
    while let Some(status) = fields.next() {
        let Some(&letter) = status.first() else {
            continue;
        };
        let sides = if matches!(letter, b'R' | b'C') { 2 } else { 1 };
        for _ in 0..sides {
            if let Some(path) = fields.next() {
                out.push((char::from(letter), path.to_vec()));
            }
        }
    }
    out
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
    fn name_status_counts_both_sides_of_a_rename_and_odd_names() {
        let out = b"M\0a b.yml\0D\0line\nbreak\0R100\0old\0new\0A\0\xc3\xa9t\xc3\xa9\0";
        let got: Vec<(char, String)> = parse_name_status(out)
            .into_iter()
            .map(|(c, p)| (c, String::from_utf8(p).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ('M', "a b.yml".to_string()),
                ('D', "line\nbreak".to_string()),
                ('R', "old".to_string()),
                ('R', "new".to_string()),
                ('A', "été".to_string()),
            ]
        );
        assert!(parse_name_status(b"").is_empty());
    }

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

//! What a step may write or delete: only paths of its own inside the project.
//!
//! Every step that writes or deletes a path (`copy`, `remove`, `snapshot-state`,
//! `provider-override`, a render's `out`, `review`, `seal-plan`, a command's `save =` and
//! `private =`) names it in `tasks.toml`, often through a template (`{{cluster.work}}/dryrun`).
//! One guard judges them all, twice: when `tasks.toml` is read, for the paths that are written out
//! ([`check_static`], by their text alone), and right before the step runs, for the path as rendered
//! ([`check`], which also follows the symbolic links that exist on the way). A target is refused
//! when it is absolute, leaves the project with `..`, is the project folder itself, is one of the
//! step's sources, lies inside one, holds one, lies outside `.kopsform/` for a step whose rule is
//! that, or is reached through a symbolic link that leads out of the project.
//!
//! The symbolic links are followed component by component from the project folder, so that a link
//! anywhere on the way (`.kopsform` itself, a folder inside it, the last name) is judged by where
//! it really leads; a link that points nowhere is judged by the path it names.

use std::path::{Component, Path, PathBuf};

/// kopsform's own scratch folder in a project.
pub(crate) const WORK_DIR: &str = ".kopsform";

/// Where a step's target must stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Within {
    /// Anywhere inside the project folder, but not the folder itself.
    Project,
    /// Inside kopsform's scratch folder `.kopsform/` (a step that empties its target first and
    /// whose target only kopsform reads).
    Work,
}

/// A path a step writes or deletes, and what it must keep clear of.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    /// The step as `tasks.toml` names it: `copy`, `remove`, `render`, `run` ...
    pub(crate) step: &'static str,
    /// The key that names the path: `out`, `paths`, `save` ...
    pub(crate) key: &'static str,
    pub(crate) path: &'a str,
    pub(crate) within: Within,
    /// The step's sources (key, path): the target may not be one, be inside one or hold one.
    pub(crate) sources: Vec<(&'static str, &'a str)>,
}

impl Target<'_> {
    fn refuse(&self, why: impl std::fmt::Display) -> String {
        format!(
            "the `{}` step's {} = \"{}\" {why}; nothing was deleted or written: give the step a path of its own inside the project",
            self.step, self.key, self.path
        )
    }
}

/// Why a project-relative path is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outside {
    /// An absolute path.
    Absolute,
    /// `..` takes it out of the project folder.
    Leaves,
    /// It is reached through the symbolic link `link` (relative to the project), which leads to
    /// `to`, outside the project folder.
    Link { link: PathBuf, to: PathBuf },
}

impl std::fmt::Display for Outside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outside::Absolute => f.write_str("is an absolute path, outside the project folder"),
            Outside::Leaves => f.write_str("leaves the project folder with `..`"),
            Outside::Link { link, to } => write!(
                f,
                "is reached through the symbolic link `{}`, which leads outside the project folder (to {})",
                link.display(),
                to.display()
            ),
        }
    }
}

/// `relative` with `.` and `..` worked out, as a path relative to the project folder (empty for
/// the folder itself); an error for an absolute path or one that `..` takes out of the project.
pub(crate) fn normalize(relative: &str) -> Result<PathBuf, Outside> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in Path::new(relative).components() {
        match c {
            Component::Normal(name) => parts.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(Outside::Leaves);
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(Outside::Absolute),
        }
    }
    Ok(parts.iter().collect())
}

/// The path `link` names, seen from the folder `base`, with `.` and `..` worked out by their text.
fn join_lexically(base: &Path, link: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.join(link).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The project folder as the filesystem knows it (symbolic links above it resolved).
fn real_root(root: &Path) -> PathBuf {
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// Where `relative` (already [`normalize`]d) really is under `real_root`: every symbolic link on
/// the way followed, refused when one leads out of the project folder.
fn real(real_root: &Path, relative: &Path) -> Result<PathBuf, Outside> {
    let mut real = real_root.to_path_buf();
    let mut shown = PathBuf::new();
    for c in relative.components() {
        shown.push(c);
        let next = real.join(c);
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = std::fs::canonicalize(&next).unwrap_or_else(|_| {
                    // A link to nothing (yet): where it would lead once its target exists.
                    let link = std::fs::read_link(&next).unwrap_or_default();
                    join_lexically(&real, &link)
                });
                if !to.starts_with(real_root) {
                    return Err(Outside::Link { link: shown, to });
                }
                real = to;
            }
            _ => real = next,
        }
    }
    Ok(real)
}

/// `relative` inside the project folder `root`, by its text and by where its symbolic links lead:
/// the path to use (under `root`) or why it is not inside. The folder itself is inside.
pub(crate) fn inside(root: &Path, relative: &str) -> Result<PathBuf, Outside> {
    let normal = normalize(relative)?;
    real(&real_root(root), &normal)?;
    Ok(root.join(normal))
}

/// How the target `t` and a source `s` (both relative, normalized) overlap, if they do.
fn overlap(t: &Path, key: &str, s: &Path) -> Option<String> {
    let shown = s.display();
    if t == s {
        Some(format!("is the step's `{key}` itself"))
    } else if t.starts_with(s) {
        Some(format!("is inside the step's `{key}` ({shown})"))
    } else if s.starts_with(t) {
        Some(format!("holds the step's `{key}` ({shown})"))
    } else {
        None
    }
}

/// The checks that need only the text of the paths; paths still holding a template (`{{`) are
/// left to [`check`] at run time.
pub(crate) fn check_static(target: &Target) -> Result<(), String> {
    if target.path.contains("{{") {
        return Ok(());
    }
    lexical(target).map(|_| ())
}

fn lexical(target: &Target) -> Result<PathBuf, String> {
    let normal = normalize(target.path).map_err(|why| target.refuse(why))?;
    if normal.as_os_str().is_empty() {
        return Err(target.refuse("is the project folder itself"));
    }
    if target.within == Within::Work
        && (!normal.starts_with(WORK_DIR) || normal == Path::new(WORK_DIR))
    {
        return Err(target.refuse(format!(
            "is outside {WORK_DIR}/, and this step empties its target: keep it under {WORK_DIR}/"
        )));
    }
    for (key, source) in &target.sources {
        if source.contains("{{") {
            continue;
        }
        // A source outside the project cannot overlap the target, which is inside.
        if let Ok(s) = normalize(source)
            && let Some(why) = overlap(&normal, key, &s)
        {
            return Err(target.refuse(why));
        }
    }
    Ok(normal)
}

/// The whole check, right before the step runs, on rendered paths: the text as in
/// [`check_static`], then where the symbolic links on the way really lead. The target's path
/// under `root` when it may be written or deleted.
pub(crate) fn check(root: &Path, target: &Target) -> Result<PathBuf, String> {
    let normal = lexical(target)?;
    let real_root = real_root(root);
    let real_target = real(&real_root, &normal).map_err(|why| target.refuse(why))?;
    if real_target == real_root {
        return Err(
            target.refuse("is the project folder itself (through a symbolic link)".to_string())
        );
    }
    if target.within == Within::Work {
        let work = real_root.join(WORK_DIR);
        if !real_target.starts_with(&work) || real_target == work {
            return Err(target.refuse(format!(
                "leads outside {WORK_DIR}/ through a symbolic link (to {}), and this step empties its target: keep it under {WORK_DIR}/",
                real_target.display()
            )));
        }
    }
    for (key, source) in &target.sources {
        // A source outside the project cannot be the target (which is inside); whether it may be
        // read is another question, asked where it is read.
        let Ok(real_source) = normalize(source).and_then(|s| real(&real_root, &s)) else {
            continue;
        };
        if let (Ok(t), Ok(s)) = (
            real_target.strip_prefix(&real_root),
            real_source.strip_prefix(&real_root),
        ) && let Some(why) = overlap(t, key, s)
        {
            return Err(target.refuse(format!("{why}, through a symbolic link")));
        }
    }
    Ok(root.join(normal))
}

/// What [`walk`] could not do, with the path as shown.
pub(crate) enum WalkError {
    /// A file or folder could not be read (it may not exist): its path, as shown too.
    Read(PathBuf, String, std::io::Error),
    /// A folder could not be listed.
    List(String, std::io::Error),
    /// More than the limit of files were found.
    TooMany,
}

/// Appends to `files` the file `path`, or every file below the folder `path` in the order Go's
/// `filepath.Walk` gives (names sorted, depth first), each with its path as shown (`shown`, then
/// `/name` per level); links are followed. Stops once `files` holds more than `limit`.
pub(crate) fn walk(
    path: PathBuf,
    shown: String,
    limit: usize,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(), WalkError> {
    let mut stack = vec![(path, shown)];
    while let Some((path, shown)) = stack.pop() {
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => return Err(WalkError::Read(path, shown, e)),
        };
        if meta.is_dir() {
            let listed = std::fs::read_dir(&path).and_then(|d| d.collect::<Result<Vec<_>, _>>());
            let mut children: Vec<String> = match listed {
                Ok(entries) => entries
                    .into_iter()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(e) => return Err(WalkError::List(shown, e)),
            };
            children.sort();
            for child in children.into_iter().rev() {
                stack.push((path.join(&child), format!("{shown}/{child}")));
            }
        } else {
            files.push((path, shown));
        }
        if files.len() > limit {
            return Err(WalkError::TooMany);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy<'a>(from: &'a str, out: &'a str) -> Target<'a> {
        Target {
            step: "copy",
            key: "out",
            path: out,
            within: Within::Project,
            sources: vec![("from", from)],
        }
    }

    #[test]
    fn paths_are_normalized_inside_the_project_or_refused() {
        assert_eq!(normalize("a/./b/../c").unwrap(), PathBuf::from("a/c"));
        assert_eq!(normalize("a/..").unwrap(), PathBuf::new());
        assert_eq!(normalize("../x"), Err(Outside::Leaves));
        assert_eq!(normalize("a/../../x"), Err(Outside::Leaves));
        assert_eq!(normalize("/etc/passwd"), Err(Outside::Absolute));
    }

    #[test]
    fn copy_targets_that_are_not_their_own_are_refused_by_their_text() {
        let refused = |from: &str, out: &str| check_static(&copy(from, out)).unwrap_err();
        assert_eq!(
            refused("2-kops", "."),
            "the `copy` step's out = \".\" is the project folder itself; nothing was deleted or written: give the step a path of its own inside the project"
        );
        assert!(refused("2-kops", "2-kops/").contains("is the step's `from` itself"));
        assert!(refused("2-kops", "2-kops/x").contains("is inside the step's `from` (2-kops)"));
        assert!(refused("2-kops/x", "2-kops").contains("holds the step's `from` (2-kops/x)"));
        assert!(refused("2-kops", "../x").contains("leaves the project folder with `..`"));
        assert!(refused("2-kops", "/tmp/x").contains("is an absolute path"));
        assert!(check_static(&copy("2-kops", ".kopsform/dryrun/2-kops")).is_ok());
        // Rendered later: judged at run time.
        assert!(check_static(&copy("{{cluster.dir}}", "{{cluster.dir}}")).is_ok());
    }

    #[test]
    fn work_targets_stay_under_the_work_folder() {
        let snap = |out| Target {
            step: "snapshot-state",
            key: "out",
            path: out,
            within: Within::Work,
            sources: vec![],
        };
        assert!(check_static(&snap(".kopsform/dryrun/state")).is_ok());
        assert!(check_static(&snap(".kopsform")).is_err());
        assert!(check_static(&snap("2-kops/state")).is_err());
    }

    #[test]
    fn symbolic_links_are_judged_by_where_they_lead() {
        let outside = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        std::fs::create_dir_all(root.join("2-kops")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(root.join("2-kops"), root.join("alias")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/place", root.join("dangling")).unwrap();
        let err = check(root, &copy("2-kops", "elsewhere/x")).unwrap_err();
        assert!(
            err.contains("is reached through the symbolic link `elsewhere`, which leads outside the project folder"),
            "{err}"
        );
        let err = check(root, &copy("2-kops", "alias")).unwrap_err();
        assert!(
            err.contains("is the step's `from` itself, through a symbolic link"),
            "{err}"
        );
        let err = check(root, &copy("2-kops", "dangling/x")).unwrap_err();
        assert!(err.contains("to /nonexistent/place"), "{err}");
        assert_eq!(
            check(root, &copy("2-kops", "copy/2-kops")).unwrap(),
            root.join("copy/2-kops")
        );
        assert!(inside(root, "elsewhere/values.yaml").is_err());
        assert!(inside(root, "2-kops/values.yaml").is_ok());
    }
}

//! `kopsform affected --base REF`: the clusters whose inputs a change touches, so that a merge or
//! pull request dry-runs only those (docs/clusters.md, "Which clusters a change affects").
//!
//! The change is what git says differs between the merge base of REF and HEAD and the working tree
//! (`tools::git::changes_since`). A cluster's inputs are every path its dry run can read, worked out
//! from the checked `Project` alone (no output read, nothing run): tasks.toml, the `[tools]` that
//! are files, the cluster's folder, prerequisites layer, values, backend and variable files, and
//! every path a task names (templates, snippets, `sources`, `generates`, folders, builtin paths,
//! command arguments), each rendered with the cluster's own fields. Where a path depends on a value
//! known only from the outputs, its literal folder counts instead, up to the whole project: when in
//! doubt a cluster is affected, never missed.

use std::path::{Component, Path, PathBuf};

use serde_json::json;

use crate::cli::{AffectedArgs, AffectedFormat};
use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::project::task::{Builtin, Step};

/// One input of a cluster: a file or folder (everything under it counts), or a glob.
enum Matcher {
    Path(PathBuf),
    Glob(glob::Pattern),
}

struct Input {
    matcher: Matcher,
    /// What it is, as the reason says it: `values file`, `template of task `x``.
    kind: String,
}

impl Input {
    fn matches(&self, changed: &Path) -> bool {
        match &self.matcher {
            // A changed folder-turned-file (or submodule) above an input counts too.
            Matcher::Path(p) => changed.starts_with(p) || p.starts_with(changed),
            Matcher::Glob(g) => g.matches_path(changed),
        }
    }
}

/// One cluster's verdict.
struct Verdict<'a> {
    id: &'a str,
    reasons: Vec<String>,
}

pub(crate) fn command(project: &Project, args: &AffectedArgs, json: bool) -> Result<(), UserError> {
    if project.clusters.is_empty() {
        return Err(UserError::new(format!(
            "{}: no [cluster] or [clusters.<id>] table: there is no cluster to be affected",
            project.file.display()
        )));
    }
    let changes = crate::tools::git::changes_since(&project.dir, &args.base)?;
    let root = canonical(&project.dir);
    let verdicts: Vec<Verdict> = project
        .clusters
        .iter()
        .map(|def| {
            let inputs = inputs(project, def, &root);
            let mut reasons: Vec<String> = Vec::new();
            for (status, path) in &changes.paths {
                if let Some(input) = inputs.iter().find(|i| i.matches(path)) {
                    reasons.push(format!(
                        "{} {} ({})",
                        shown(&relative(&root, path)),
                        status_word(*status),
                        input.kind
                    ));
                }
            }
            Verdict {
                id: &def.id,
                reasons,
            }
        })
        .collect();
    let affected: Vec<&Verdict> = verdicts.iter().filter(|v| !v.reasons.is_empty()).collect();
    let not_affected: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.reasons.is_empty())
        .map(|v| v.id)
        .collect();
    let format = if json {
        AffectedFormat::Json
    } else {
        args.format
    };
    let ids = |list: &mut dyn Iterator<Item = &str>| list.collect::<Vec<_>>().join(",");
    match format {
        AffectedFormat::Text => {
            for v in &affected {
                let shown = v.reasons.len().min(TEXT_REASONS);
                let more = match v.reasons.len() - shown {
                    0 => String::new(),
                    n => format!("; and {n} more (--json lists them)"),
                };
                out(format!("{}: {}{more}", v.id, v.reasons[..shown].join("; ")));
            }
            if affected.is_empty() {
                crate::ui::line_to_stderr(&format!(
                    "No cluster is affected by the changes since {} (merge base of {} and HEAD)",
                    short(&changes.merge_base),
                    shown(Path::new(&args.base))
                ));
            } else if !not_affected.is_empty() {
                crate::ui::line_to_stderr(&format!(
                    "Not affected by this change: {}",
                    not_affected.join(", ")
                ));
            }
        }
        AffectedFormat::Json => {
            let doc = json!({
                "base": args.base,
                "merge_base": changes.merge_base,
                "affected": affected
                    .iter()
                    .map(|v| json!({"cluster": v.id, "reasons": v.reasons}))
                    .collect::<Vec<_>>(),
                "not_affected": not_affected,
            });
            out(format!("{doc:#}"));
        }
        AffectedFormat::GithubMatrix => {
            let include: Vec<_> = affected.iter().map(|v| json!({"cluster": v.id})).collect();
            out(json!({ "include": include }).to_string());
        }
        AffectedFormat::Env => {
            out(format!(
                "KOPSFORM_AFFECTED={}",
                ids(&mut affected.iter().map(|v| v.id))
            ));
            out(format!(
                "KOPSFORM_NOT_AFFECTED={}",
                ids(&mut not_affected.iter().copied())
            ));
        }
    }
    Ok(())
}

/// One line on stdout (through the one writer: a closed pipe ends nothing badly).
fn out(line: String) {
    crate::ui::write_line(false, &format!("{line}\n"));
}

/// The most reasons a line of the text form shows.
const TEXT_REASONS: usize = 5;

/// Git's status letter in words.
fn status_word(status: char) -> &'static str {
    match status {
        'M' => "modified",
        'A' => "added",
        'D' => "deleted",
        'T' => "changed type",
        '?' => "untracked",
        'U' => "unmerged",
        _ => "changed",
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// A path as a line shows it: control characters (a newline in a file name) escaped, so one
/// cluster stays one line.
fn shown(path: &Path) -> String {
    path.to_string_lossy()
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// The real path of `path` when it exists (a link resolved), else `path` made plain.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| normal(path))
}

/// `path` with `.` and `..` resolved by its text (a deleted file has no real path to ask for).
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to `base`, with `..` where it lies outside.
fn relative(base: &Path, path: &Path) -> PathBuf {
    let base: Vec<Component> = base.components().collect();
    let target: Vec<Component> = path.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for part in &target[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Every path cluster `def`'s dry run can read, with what it is for the reason.
fn inputs(project: &Project, def: &ClusterDef, root: &Path) -> Vec<Input> {
    let fields = crate::values::context::static_fields(def);
    let mut found = Inputs {
        root,
        fields: &fields,
        list: Vec::new(),
    };
    found.add(&project.file.to_string_lossy(), root, "project file", true);
    for (name, entry) in &project.config.tools {
        let words = entry.words(name);
        if let Some(program) = words.first().filter(|w| w.contains('/')) {
            found.add(program, root, &format!("tool `{name}`"), false);
        }
    }
    // Issue 22: the binary of a version the cluster or its stage wants (`bin/kops-1.32.0`).
    for tool in crate::project::pins::PINNABLE {
        if project
            .wanted_version(tool.name, Some(def))
            .is_none_or(|w| !w.own)
        {
            continue;
        }
        let program = project.tool_binary(tool.name, Some(def)).program;
        let (exe, _) = crate::tools::process::split_program(&program);
        if Path::new(exe).starts_with(&project.dir) {
            found.add(
                exe,
                root,
                &format!("tool `{}` of the cluster", tool.name),
                false,
            );
        }
    }
    found.add(&def.dir, root, "cluster folder", true);
    found.add(&def.prerequisites, root, "prerequisites layer", true);
    for file in &def.config.values {
        found.add(file, root, "values file", true);
    }
    for setting in def
        .config
        .backend_config
        .iter()
        .filter(|s| !s.contains('='))
    {
        found.add(setting, root, "backend config", true);
    }
    for file in &def.config.var_files {
        found.add(file, root, "variable file", true);
    }
    for (name, task) in &project.config.tasks {
        let task_cwd = task
            .cwd
            .as_deref()
            .map(|c| found.add_folder(c, &format!("folder of task `{name}`")));
        for step in &task.steps {
            match step {
                Step::Command(command) => {
                    let cwd = match command.cwd.as_deref() {
                        Some(c) => found.add_folder(c, &format!("folder of task `{name}`")),
                        None => task_cwd.clone().flatten(),
                    };
                    let what = format!("path in a command of task `{name}`");
                    if let Some(program) = command.argv.first().filter(|w| w.contains('/')) {
                        found.add(program, root, &what, false);
                    }
                    let base = cwd.unwrap_or_else(|| root.to_path_buf());
                    for word in command.argv.iter().skip(1) {
                        let word = match word.strip_prefix('-') {
                            Some(flag) => match flag.split_once('=') {
                                Some((_, value)) => value,
                                None => continue,
                            },
                            None => word.as_str(),
                        };
                        found.add(word, &base, &what, false);
                    }
                }
                Step::Render(render) => {
                    for template in &render.templates {
                        found.add(template, root, &format!("template of task `{name}`"), true);
                    }
                    for snippets in &render.snippets {
                        found.add(snippets, root, &format!("snippets of task `{name}`"), true);
                    }
                    found.add(
                        &render.out,
                        root,
                        &format!("output of task `{name}`"),
                        false,
                    );
                }
                Step::Builtin(builtin) => {
                    let what = format!("path of task `{name}`");
                    for (path, read) in builtin_paths(builtin) {
                        found.add(path, root, &what, read);
                    }
                }
            }
        }
        for glob in &task.sources {
            found.add(glob, root, &format!("file of task `{name}`"), true);
        }
        for glob in &task.generates {
            found.add(glob, root, &format!("file of task `{name}`"), false);
        }
    }
    found.list
}

/// The paths a builtin step reads or writes, each with whether the step reads it (a value-dependent
/// path it only writes need not make every change count).
fn builtin_paths(builtin: &Builtin) -> Vec<(&String, bool)> {
    match builtin {
        Builtin::ShowOutputs => Vec::new(),
        Builtin::ProviderOverride { out } | Builtin::SnapshotState { out } => vec![(out, false)],
        Builtin::Copy { from, out } => vec![(from, true), (out, false)],
        Builtin::SealPlan { plan, inputs } => std::iter::once((plan, false))
            .chain(inputs.iter().map(|i| (i, true)))
            .collect(),
        Builtin::CheckPlan { plan }
        | Builtin::CheckProtected { plan }
        | Builtin::PlannedOutputs { plan } => vec![(plan, false)],
        Builtin::Review {
            plan,
            out,
            rolling_update,
            json,
            ..
        } => [
            Some(plan),
            Some(out),
            rolling_update.as_ref(),
            json.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|p| (p, false))
        .collect(),
        Builtin::Remove { paths } => paths.iter().map(|p| (p, false)).collect(),
        // The rendered cluster.yml, made by its `cluster-template` dependency.
        Builtin::PruneInstanceGroups { manifest } => vec![(manifest, false)],
    }
}

struct Inputs<'a> {
    root: &'a Path,
    fields: &'a serde_json::Map<String, serde_json::Value>,
    list: Vec<Input>,
}

impl Inputs<'_> {
    /// Adds the path `text` (a template over the cluster's fields) from `base`. A path that needs
    /// a value the fields do not give counts by its literal folder when `unsure_counts` (a
    /// template, a values file: up to the whole project), and is left out otherwise (a command
    /// argument such as `{{cluster.name}}`, which is no path). Returns the path added.
    fn add(&mut self, text: &str, base: &Path, kind: &str, unsure_counts: bool) -> Option<PathBuf> {
        let (text, sure) =
            match crate::render::template::substitute_fields(text, "cluster", self.fields) {
                Some(rendered) => (rendered, true),
                None if unsure_counts => {
                    let before = &text[..text.find("{{").unwrap_or(text.len())];
                    let folder = before.rfind('/').map_or("", |i| &before[..i]);
                    (folder.to_string(), false)
                }
                None => return None,
            };
        if sure && text.is_empty() {
            return None;
        }
        let path = normal(&base.join(&text));
        // A command run in the project folder (`.`) does not make every file an input: name
        // what it reads in `sources`. A value-dependent path does (above).
        if sure && path == self.root && !unsure_counts {
            return None;
        }
        let wild = |c: &Component| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
        let path = if sure && path.components().any(|c| wild(&c)) {
            match glob_of(self.root, &path) {
                // The glob, and the path as written: `[old].yml` may be a file's own name.
                Some(glob) => {
                    self.list.push(Input {
                        matcher: Matcher::Glob(glob),
                        kind: kind.to_string(),
                    });
                    path
                }
                // Not a valid glob: the folder above its first wildcard.
                None => path.components().take_while(|c| !wild(c)).collect(),
            }
        } else {
            path
        };
        let real = canonical(&path);
        if real != path {
            self.list.push(Input {
                matcher: Matcher::Path(real),
                kind: kind.to_string(),
            });
        }
        self.list.push(Input {
            matcher: Matcher::Path(path.clone()),
            kind: kind.to_string(),
        });
        Some(path)
    }

    /// Adds a task's or step's folder and returns it, for its command's relative paths; `None`
    /// for the project folder itself or a folder that depends on a value (whose literal part
    /// counts, up to the whole project).
    fn add_folder(&mut self, text: &str, kind: &str) -> Option<PathBuf> {
        let root = self.root.to_path_buf();
        let known =
            crate::render::template::substitute_fields(text, "cluster", self.fields).is_some();
        let added = self.add(text, &root, kind, !known);
        if known { added } else { None }
    }
}

/// A glob over the absolute `path`: the project folder's part escaped (it may live in a folder
/// named `[x]`), and outside it the components without a wildcard.
fn glob_of(root: &Path, path: &Path) -> Option<glob::Pattern> {
    let (fixed, rest) = match path.strip_prefix(root) {
        Ok(rest) => (root, rest),
        Err(_) => (Path::new(""), path),
    };
    let mut text = glob::Pattern::escape(&fixed.to_string_lossy());
    for part in rest.components() {
        let part = part.as_os_str().to_string_lossy();
        if part == "/" {
            text.push('/');
            continue;
        }
        if !text.is_empty() && !text.ends_with('/') {
            text.push('/');
        }
        if part.contains(['*', '?', '[']) {
            text.push_str(&part);
        } else {
            text.push_str(&glob::Pattern::escape(&part));
        }
    }
    glob::Pattern::new(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_plain_and_relative_by_their_text() {
        assert_eq!(normal(Path::new("/p/a/../../b/./c")), PathBuf::from("/b/c"));
        assert_eq!(
            relative(Path::new("/r/p/q"), Path::new("/r/s/t.yml")),
            PathBuf::from("../../s/t.yml")
        );
        assert_eq!(
            relative(Path::new("/r/p"), Path::new("/r/p/v.yml")),
            PathBuf::from("v.yml")
        );
        assert_eq!(shown(Path::new("a\nb")), "a\\nb");
        let root = Path::new("/p/[x]");
        let glob = glob_of(root, Path::new("/p/[x]/clusters/*/data/*")).unwrap();
        assert!(glob.matches_path(Path::new("/p/[x]/clusters/dev/data/a b")));
        assert!(!glob.matches_path(Path::new("/p/x/clusters/dev/data/a")));
        let outside = glob_of(root, Path::new("/p/shared/*.tf")).unwrap();
        assert!(outside.matches_path(Path::new("/p/shared/a.tf")));
        assert!(glob_of(root, Path::new("/p/[x]/a[")).is_none());
    }
}

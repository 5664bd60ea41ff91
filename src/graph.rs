//! The task graph: dependency order, cycles and unknown names.
//!
//! The whole graph is checked when `tasks.toml` loads, so a typo in a dependency or a cycle is
//! reported even by `kopsform list`, before anything runs.

use indexmap::IndexSet;

use crate::config::Project;
use crate::error::UserError;

/// Checks that every dependency names a task and that there is no cycle.
pub fn check(project: &Project) -> Result<(), UserError> {
    let tasks = &project.config.tasks;
    for (name, task) in tasks {
        for dep in &task.deps {
            if !tasks.contains_key(dep) {
                // A task depending on itself would be a cycle: never suggested.
                let hint = suggest(dep, tasks.keys().filter(|k| *k != name));
                let hint = if hint.is_empty() {
                    format!("; add a [tasks.{dep}] table or remove `{dep}` from its `deps`")
                } else {
                    hint
                };
                return Err(UserError::new(format!(
                    "{}: task `{name}` depends on unknown task `{dep}`{hint}",
                    project.file.display()
                )));
            }
        }
    }
    let names: Vec<String> = tasks.keys().cloned().collect();
    order(project, &names).map(|_| ())
}

/// The tasks to run for `requested`, dependencies first, each once.
pub fn order(project: &Project, requested: &[String]) -> Result<Vec<String>, UserError> {
    Ok(plan(project, requested)?.tasks)
}

/// A run's tasks in order, with what each must wait for when tasks run in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Dependencies first, each task once; running them in this order is always right.
    pub tasks: Vec<String>,
    /// For each task, the positions in `tasks` of its own dependencies.
    pub deps: Vec<Vec<usize>>,
    /// For each task, how many tasks before it must have finished first: the tasks named on the
    /// command line run in the order named, so everything an earlier named task brought in.
    pub barrier: Vec<usize>,
}

/// The plan for `requested`: [`order`] with the dependencies of each task.
pub fn plan(project: &Project, requested: &[String]) -> Result<Plan, UserError> {
    let tasks = &project.config.tasks;
    let mut done: IndexSet<String> = IndexSet::new();
    let mut barrier = Vec::new();
    for name in requested {
        if !tasks.contains_key(name) {
            return Err(unknown_task(project, name));
        }
        let start = done.len();
        let mut path: Vec<String> = Vec::new();
        visit(project, name, &mut path, &mut done)?;
        barrier.resize(done.len(), start);
    }
    let deps = done
        .iter()
        .map(|name| {
            tasks[name]
                .deps
                .iter()
                .filter_map(|d| done.get_index_of(d))
                .collect()
        })
        .collect();
    Ok(Plan {
        tasks: done.into_iter().collect(),
        deps,
        barrier,
    })
}

pub fn unknown_task(project: &Project, name: &str) -> UserError {
    let tasks = &project.config.tasks;
    let hint = suggest(name, tasks.keys());
    let hint = if tasks.is_empty() {
        format!("; the file defines no tasks: add a [tasks.{name}] table (docs/tasks-toml.md)")
    } else if hint.is_empty() {
        "; `kopsform list` shows the tasks".to_string()
    } else {
        hint
    };
    UserError::new(format!(
        "unknown task `{name}` in {}{hint}",
        project.file.display()
    ))
}

fn visit(
    project: &Project,
    name: &str,
    path: &mut Vec<String>,
    done: &mut IndexSet<String>,
) -> Result<(), UserError> {
    if done.contains(name) {
        return Ok(());
    }
    if let Some(start) = path.iter().position(|p| p == name) {
        let mut cycle: Vec<&str> = path[start..].iter().map(String::as_str).collect();
        cycle.push(name);
        return Err(UserError::new(format!(
            "{}: dependency cycle: {}; remove one of these dependencies",
            project.file.display(),
            cycle.join(" -> ")
        )));
    }
    path.push(name.to_string());
    // Every name was checked in `check`, so a missing task here is a bug, reported not panicked.
    let task = project
        .config
        .tasks
        .get(name)
        .ok_or_else(|| unknown_task(project, name))?;
    for dep in &task.deps {
        visit(project, dep, path, done)?;
    }
    path.pop();
    done.insert(name.to_string());
    Ok(())
}

/// `; did you mean `x`?` for the closest names, or nothing when none is close.
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> String {
    let mut close: Vec<(f64, &String)> = candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| *score >= 0.8 || strsim::levenshtein(name, c) <= 2 || c.contains(name))
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    let close: Vec<String> = close
        .into_iter()
        .take(3)
        .map(|(_, c)| format!("`{c}`"))
        .collect();
    match close.len() {
        0 => String::new(),
        1 => format!("; did you mean {}?", close[0]),
        _ => format!("; did you mean one of {}?", close.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::PathBuf;

    fn project(toml: &str) -> Project {
        Project {
            dir: PathBuf::from("/p"),
            file: PathBuf::from("/p/tasks.toml"),
            config: parse(toml).unwrap(),
            clusters: Vec::new(),
        }
    }

    #[test]
    fn dependencies_run_first_and_once() {
        let p = project(
            "[tasks.a]\ndeps=[\"b\",\"c\"]\n[tasks.b]\ndeps=[\"c\"]\n[tasks.c]\n[tasks.d]\ndeps=[\"c\"]\n",
        );
        assert_eq!(
            order(&p, &["a".into(), "d".into()]).unwrap(),
            ["c", "b", "a", "d"]
        );
    }

    #[test]
    fn the_plan_knows_each_tasks_dependencies_and_the_named_order() {
        let p = project(
            "[tasks.a]\ndeps=[\"b\",\"c\"]\n[tasks.b]\n[tasks.c]\n[tasks.d]\ndeps=[\"e\"]\n[tasks.e]\n",
        );
        let plan = plan(&p, &["a".into(), "d".into()]).unwrap();
        assert_eq!(plan.tasks, ["b", "c", "a", "e", "d"]);
        assert_eq!(plan.deps, [vec![], vec![], vec![0, 1], vec![], vec![3]]);
        // `e` is d's dependency, but d was named after a: it waits for a and what a needs.
        assert_eq!(plan.barrier, [0, 0, 0, 3, 3]);
    }

    #[test]
    fn a_cycle_is_printed() {
        let p =
            project("[tasks.a]\ndeps=[\"b\"]\n[tasks.b]\ndeps=[\"c\"]\n[tasks.c]\ndeps=[\"a\"]\n");
        let err = check(&p).unwrap_err();
        assert!(err.message.contains("a -> b -> c -> a"), "{}", err.message);
    }

    #[test]
    fn unknown_names_get_suggestions() {
        let p = project("[tasks.plan]\n[tasks.apply]\n[tasks.cluster-update]\n");
        let err = order(&p, &["plna".into()]).unwrap_err();
        assert!(
            err.message.contains("did you mean `plan`?"),
            "{}",
            err.message
        );
        let err = order(&p, &["cluster-updat".into()]).unwrap_err();
        assert!(
            err.message.contains("did you mean `cluster-update`?"),
            "{}",
            err.message
        );
        let err = order(&p, &["zzzzzzzzz".into()]).unwrap_err();
        assert!(!err.message.contains("did you mean"), "{}", err.message);
    }
}

//! The order of a run's tasks: dependencies first, cycles and unknown names reported.
//!
//! The whole graph is checked when `tasks.toml` loads, so a typo in a dependency or a cycle is
//! reported even by `kopsform list`, before anything runs. It works on a [`TaskGraph`], the two
//! things ordering needs of a project, not on the whole project.

use std::path::Path;

use indexmap::IndexMap;

use crate::error::UserError;
use crate::project::task::Task;
use crate::text::suggest;

/// What ordering needs of a project: its tasks, and the file that defines them for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskGraph<'a> {
    pub(crate) tasks: &'a IndexMap<String, Task>,
    pub(crate) file: &'a Path,
}

/// Checks that every dependency names a task and that there is no cycle.
pub(crate) fn check(graph: TaskGraph<'_>) -> Result<(), UserError> {
    let tasks = graph.tasks;
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
                    graph.file.display()
                )));
            }
        }
    }
    let names: Vec<String> = tasks.keys().cloned().collect();
    TaskOrder::new(graph, &names).map(|_| ())
}

/// A run's tasks in order, with what each must wait for when tasks run in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskOrder {
    /// Dependencies first, each task once; running them in this order is always right.
    pub(crate) tasks: Vec<String>,
    /// For each task, the positions in `tasks` of its own dependencies.
    pub(crate) deps: Vec<Vec<usize>>,
    /// For each task, how many tasks before it must have finished first: the tasks named on the
    /// command line run in the order named, so everything an earlier named task brought in.
    pub(crate) barrier: Vec<usize>,
}

impl TaskOrder {
    /// The tasks to run for `requested`, dependencies first, each once, with the dependencies of each.
    pub(crate) fn new(graph: TaskGraph<'_>, requested: &[String]) -> Result<TaskOrder, UserError> {
        let tasks = graph.tasks;
        // Tasks by their position in the file: each name is looked up once per dependency, not
        // hashed again at every step of the walk (issue 19).
        let mut walk = Walk {
            placed: vec![None; tasks.len()],
            order: Vec::new(),
            on_path: vec![false; tasks.len()],
        };
        let mut barrier = Vec::new();
        for name in requested {
            let Some(i) = tasks.get_index_of(name.as_str()) else {
                return Err(unknown_task(graph, name));
            };
            let start = walk.order.len();
            visit(graph, i, &mut walk)?;
            barrier.resize(walk.order.len(), start);
        }
        let deps = walk
            .order
            .iter()
            .map(|&i| {
                tasks[i]
                    .deps
                    .iter()
                    .filter_map(|d| tasks.get_index_of(d.as_str()).and_then(|j| walk.placed[j]))
                    .collect()
            })
            .collect();
        Ok(TaskOrder {
            tasks: walk
                .order
                .iter()
                .map(|&i| {
                    tasks
                        .get_index(i)
                        .map(|(k, _)| k.clone())
                        .unwrap_or_default()
                })
                .collect(),
            deps,
            barrier,
        })
    }
}

/// The walk's result so far: the tasks in order (positions in the file), and where each placed
/// task is in that order.
struct Walk {
    placed: Vec<Option<usize>>,
    order: Vec<usize>,
    /// The tasks on the path of the current visit (none between visits).
    on_path: Vec<bool>,
}

pub(crate) fn unknown_task(graph: TaskGraph<'_>, name: &str) -> UserError {
    let tasks = graph.tasks;
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
        graph.file.display()
    ))
}

/// Adds task `start` to the walk after its dependencies (depth first, in `deps` order), each
/// once. The walk keeps its own stack instead of recursing, so that no chain of dependencies,
/// however long, can overflow the thread's stack.
fn visit(graph: TaskGraph<'_>, start: usize, walk: &mut Walk) -> Result<(), UserError> {
    let tasks = graph.tasks;
    if walk.placed[start].is_some() {
        return Ok(());
    }
    // The tasks from `start` to the one being visited (meeting one of them again is a cycle), and
    // how many of each one's dependencies were visited so far.
    let mut path: Vec<usize> = vec![start];
    walk.on_path[start] = true;
    let mut visited: Vec<usize> = vec![0];
    while let (Some(&current), Some(next)) = (path.last(), visited.last_mut()) {
        let Some(dep) = tasks[current].deps.get(*next) else {
            walk.placed[current] = Some(walk.order.len());
            walk.order.push(current);
            walk.on_path[current] = false;
            path.pop();
            visited.pop();
            continue;
        };
        *next += 1;
        // Every name was checked in `check`, so a missing task here is a bug, reported not
        // panicked.
        let Some(d) = tasks.get_index_of(dep.as_str()) else {
            return Err(unknown_task(graph, dep));
        };
        if walk.placed[d].is_some() {
            continue;
        }
        if walk.on_path[d] {
            let from = path.iter().position(|&p| p == d).unwrap_or(0);
            let mut cycle: Vec<&str> = path[from..]
                .iter()
                .map(|&p| tasks.get_index(p).map_or("", |(k, _)| k.as_str()))
                .collect();
            cycle.push(dep);
            return Err(UserError::new(format!(
                "{}: dependency cycle: {}; remove one of these dependencies",
                graph.file.display(),
                cycle.join(" -> ")
            )));
        }
        walk.on_path[d] = true;
        path.push(d);
        visited.push(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Project;
    use crate::project::schema::parse;
    use std::path::PathBuf;

    fn order(p: &Project, requested: &[String]) -> Result<Vec<String>, UserError> {
        Ok(TaskOrder::new(p.task_graph(), requested)?.tasks)
    }

    fn plan(p: &Project, requested: &[String]) -> Result<TaskOrder, UserError> {
        TaskOrder::new(p.task_graph(), requested)
    }

    fn project(toml: &str) -> Project {
        Project {
            dir: PathBuf::from("/p"),
            file: PathBuf::from("/p/tasks.toml"),
            config: parse(toml).unwrap(),
            clusters: Vec::new(),
            retry: Default::default(),
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
        let err = check(p.task_graph()).unwrap_err();
        assert!(err.message.contains("a -> b -> c -> a"), "{}", err.message);
    }

    #[test]
    fn a_long_chain_of_dependencies_is_walked_without_recursion() {
        // Each task depends on the next: one stack frame per task overflowed the stack (fuzzing).
        let n = 20_000;
        let mut toml = String::new();
        for i in 0..n {
            toml.push_str(&format!("[tasks.t{i}]\ndeps = [\"t{}\"]\n", i + 1));
        }
        toml.push_str(&format!("[tasks.t{n}]\n"));
        let p = project(&toml);
        check(p.task_graph()).unwrap();
        let order = order(&p, &["t0".into()]).unwrap();
        assert_eq!(order.len(), n + 1);
        assert_eq!(order[0], format!("t{n}"));
        assert_eq!(order[n], "t0");
        // The same chain closed into a cycle is reported, from the task named.
        let p = project(&toml.replace(
            &format!("[tasks.t{n}]\n"),
            &format!("[tasks.t{n}]\ndeps = [\"t0\"]\n"),
        ));
        let err = check(p.task_graph()).unwrap_err();
        assert!(
            err.message.contains("dependency cycle: t0 -> t1 -> t2 -> "),
            "{}",
            &err.message[..200]
        );
        assert!(
            err.message
                .ends_with(&format!(" -> t{n} -> t0; remove one of these dependencies"))
        );
    }

    #[test]
    fn a_task_depending_on_itself_is_a_cycle() {
        let p = project("[tasks.a]\ndeps=[\"b\"]\n[tasks.b]\ndeps=[\"b\"]\n");
        let err = check(p.task_graph()).unwrap_err();
        assert!(
            err.message.contains("dependency cycle: b -> b;"),
            "{}",
            err.message
        );
    }

    #[test]
    fn very_long_names_get_no_suggestions_quickly() {
        // Comparing two names of 20,000 characters took seconds (fuzzing).
        let long = "a".repeat(20_000);
        let p = project(&format!(
            "[tasks.{long}]\n[tasks.b]\ndeps = [\"{}\"]\n",
            "c".repeat(20_000)
        ));
        let started = std::time::Instant::now();
        let err = check(p.task_graph()).unwrap_err();
        assert!(
            err.message.contains("depends on unknown task `ccc"),
            "{}",
            &err.message[..100]
        );
        assert!(!err.message.contains("did you mean"));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(suggest(&long, [long.clone()].iter()), "");
        assert_eq!(
            suggest("plan", ["plan-".to_string()].iter()),
            "; did you mean `plan-`?"
        );
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

//! Runs tasks on several clusters: the selection (`--cluster`, `--stage`, `--all`), stage by stage
//! in promotion order, the clusters of a stage in parallel (`--jobs`), later stages held back when
//! one fails (unless `--keep-going`), and one summary table at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::{ClusterDef, Selection};
use crate::project::order::TaskOrder;
use crate::run::audit::Run;
use crate::run::outcome::{Status, TaskResult, print_summary};
use crate::run::runner;
use crate::run::scope::{RunOptions, RunShared, Runner};
use crate::tools::process;

#[derive(Debug, Clone, Copy)]
pub(crate) struct FleetOptions {
    /// How many clusters of one stage run at once.
    pub(crate) jobs: usize,
    /// Start later stages even when a cluster of an earlier one failed.
    pub(crate) keep_going: bool,
}

/// Runs `requested` (and their dependencies) on the selected clusters.
pub(crate) fn run(
    project: &Project,
    mut options: RunOptions,
    selection: &Selection,
    fleet: FleetOptions,
    requested: &[String],
) -> Result<(), UserError> {
    let started = std::time::SystemTime::now();
    private_work_folder(project);
    let shared = RunShared::default();
    let order = crate::project::order::TaskOrder::new(project.task_graph(), requested)?;
    options.params = project.params(&order.tasks, &options.params)?;
    let selected = project.select_clusters(selection)?;
    runner::check_confirmations(project, &options, &order.tasks)?;
    check_pins(project, &order.tasks, &selected)?;
    refuse_passed_secrets(project, &shared, &options, &order.tasks, &selected)?;
    if project.clusters.len() <= 1 {
        // One cluster (or none): its tasks ask their confirmations as they come, and lines carry
        // the task only.
        process::install_signal_handlers();
        let dry_run = options.dry_run;
        let mut runner = Runner::for_cluster(
            project,
            &shared,
            options.clone(),
            selected.into_iter().next(),
            None,
        );
        let (results, outcome) = runner.run_tasks(&order);
        // Its holds (folders, the lock) are let go before the audit trail looks at the cluster.
        drop(runner);
        let end = Run {
            started,
            shared: &shared,
            options: &options,
        };
        return finish(project, end, &results, outcome.err(), dry_run);
    }
    if !options.yes && !options.dry_run {
        // Several clusters may run at once: every confirmation is asked before anything starts.
        let ids: Vec<&str> = selected.iter().map(|c| c.id.as_str()).collect();
        for name in &order.tasks {
            if let Some(question) = project.config.tasks[name].confirmation(name) {
                let question = format!("{question} (clusters: {})", ids.join(", "));
                if !process::confirm_on_terminal(&question)? {
                    return Err(UserError::new("not confirmed; nothing was run"));
                }
            }
        }
        options.yes = true;
    }
    process::install_signal_handlers();

    let mut stages: BTreeMap<usize, Vec<ClusterDef>> = BTreeMap::new();
    for c in selected {
        stages.entry(c.rank).or_default().push(c);
    }
    let mut results: Vec<TaskResult> = Vec::new();
    let mut failures: Vec<UserError> = Vec::new();
    let mut held: Vec<&str> = Vec::new();
    let mut stopped: Option<String> = None;
    for clusters in stages.values() {
        if let Some(reason) = &stopped {
            for c in clusters {
                results.extend(not_started(c, &order.tasks, Status::HeldBack, reason));
                held.push(&c.id);
            }
            continue;
        }
        let mut failed_here = Vec::new();
        for (c, (rows, outcome)) in
            run_stage(project, &shared, &options, clusters, &order, fleet.jobs)
        {
            results.extend(rows);
            if let Err(e) = outcome {
                // A lock left behind is reported, but the cluster's tasks did their work: later
                // stages are not held back for it.
                if e.code != crate::error::exit::LOCK_LEFT {
                    failed_here.push(c.id.clone());
                }
                failures.push(e);
            }
        }
        if process::interrupted().is_some() {
            stopped = Some("the run was interrupted".into());
        } else if !failed_here.is_empty() && !fleet.keep_going {
            stopped = Some(format!(
                "stage {} failed: {}; --keep-going runs later stages anyway",
                stage_name(&clusters[0]),
                failed_here.join(", ")
            ));
        }
    }
    let failure = UserError::combine(failures).map(|mut e| {
        if !held.is_empty() {
            e.message
                .push_str(&format!("\nheld back (not started): {}", held.join(", ")));
        }
        e
    });
    let end = Run {
        started,
        shared: &shared,
        options: &options,
    };
    finish(project, end, &results, failure, options.dry_run)
}

/// Refuses the run before anything runs when a tool its tasks use is pinned in `[tools]` and the
/// binary found is another version (for each selected cluster, with its own environment, as its
/// steps will run the tool).
fn check_pins(
    project: &Project,
    tasks: &[String],
    clusters: &[ClusterDef],
) -> Result<(), UserError> {
    use crate::project::task::{Builtin, Step};
    use crate::tools::retry::Tool;
    if !project.pins_any() {
        return Ok(());
    }
    let mut used: Vec<&str> = Vec::new();
    let mut add = |name: &'static str| {
        if !used.contains(&name) {
            used.push(name);
        }
    };
    if clusters
        .iter()
        .any(|c| c.config.name.contains("{{") || c.config.state.contains("{{"))
    {
        add("terraform");
    }
    if clusters
        .iter()
        .any(|c| c.config.state.trim_start().starts_with("s3://"))
    {
        add("aws");
    }
    for step in tasks.iter().flat_map(|t| &project.config.tasks[t].steps) {
        match step {
            Step::Command(c) => {
                match project.tool_kind(&c.argv[0]) {
                    Tool::Terraform => add("terraform"),
                    Tool::Kops => add("kops"),
                    Tool::Aws => add("aws"),
                    Tool::Other => {}
                }
                // A template may read the prerequisites' outputs.
                if c.argv.iter().any(|a| a.contains("{{")) {
                    add("terraform");
                }
            }
            Step::Builtin(Builtin::SnapshotState { .. }) => add("aws"),
            Step::Builtin(Builtin::PruneInstanceGroups { .. }) => {
                add("aws");
                add("kops");
                add("terraform");
            }
            Step::Render(_)
            | Step::Builtin(
                Builtin::ShowOutputs
                | Builtin::SealPlan { .. }
                | Builtin::CheckPlan { .. }
                | Builtin::CheckProtected { .. }
                | Builtin::PlannedOutputs { .. }
                | Builtin::Review { .. },
            ) => add("terraform"),
            Step::Builtin(_) => {}
        }
    }
    let defs: Vec<Option<&ClusterDef>> = if clusters.is_empty() {
        vec![None]
    } else {
        clusters.iter().map(Some).collect()
    };
    for def in defs {
        let env = crate::values::context::own_env_pairs(project, def);
        project.check_pins(&used, def, &env, "nothing was run")?;
    }
    Ok(())
}

/// Refuses the run before anything runs when an argument passed after `--` holds a secret one of
/// the selected clusters knows (its sensitive outputs, its environment's secret variables).
fn refuse_passed_secrets(
    project: &Project,
    shared: &RunShared,
    options: &RunOptions,
    tasks: &[String],
    clusters: &[ClusterDef],
) -> Result<(), UserError> {
    use crate::project::task::Step;
    let passes = tasks.iter().any(|t| {
        project.config.tasks[t]
            .steps
            .iter()
            .any(|s| matches!(s, Step::Command(c) if !c.extra.is_empty()))
    });
    if !passes {
        return Ok(());
    }
    let several = project.clusters.len() > 1;
    let defs: Vec<Option<ClusterDef>> = if clusters.is_empty() {
        vec![None]
    } else {
        clusters.iter().cloned().map(Some).collect()
    };
    for def in defs {
        let label = def.as_ref().filter(|_| several).map(|d| d.id.clone());
        Runner::for_cluster(project, shared, options.clone(), def, label)
            .refuse_passed_secrets(tasks)?;
    }
    Ok(())
}

/// The end of every run: the summary, the audit records, the run's outcome.
fn finish(
    project: &Project,
    end: Run,
    results: &[TaskResult],
    failure: Option<UserError>,
    dry_run: bool,
) -> Result<(), UserError> {
    let code = failure.as_ref().map(|e| e.code);
    print_summary(results, code);
    crate::run::audit::append(project, end, results, code, dry_run);
    failure.map_or(Ok(()), Err)
}

/// kopsform's own folder (`.kopsform/`) is made private (0700) before a run writes into it: it
/// holds captured output, reviews, the audit trail, copies of the state store and of 2-kops and
/// a dry run's saved plan, some written by other programs with their own modes. A symlink or a
/// file of that name is left as it is.
fn private_work_folder(project: &Project) {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = project.path(".kopsform");
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() && m.permissions().mode() & 0o077 != 0 => {
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(_) => {}
        Err(_) => {
            let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        }
    }
}

fn stage_name(c: &ClusterDef) -> String {
    c.config
        .stage
        .as_ref()
        .map_or_else(|| "(none)".to_string(), |s| format!("`{s}`"))
}

fn not_started(c: &ClusterDef, tasks: &[String], status: Status, note: &str) -> Vec<TaskResult> {
    tasks
        .iter()
        .map(|task| TaskResult::new(&c.id, task, status, Duration::ZERO, note))
        .collect()
}

type Outcome = (Vec<TaskResult>, Result<(), UserError>);

/// Runs the clusters of one stage, at most `jobs` at a time; outcomes in the clusters' order.
fn run_stage<'c>(
    project: &Project,
    shared: &RunShared,
    options: &RunOptions,
    clusters: &'c [ClusterDef],
    order: &TaskOrder,
    jobs: usize,
) -> Vec<(&'c ClusterDef, Outcome)> {
    let next = AtomicUsize::new(0);
    let workers = jobs.min(clusters.len()).max(1);
    let mut done: Vec<(usize, Outcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(c) = clusters.get(i) else { break };
                        let outcome = if process::interrupted().is_some() {
                            (
                                not_started(
                                    c,
                                    &order.tasks,
                                    Status::NotRun,
                                    "the run was interrupted",
                                ),
                                Err(UserError::new(format!(
                                    "cluster `{}` not started: interrupted",
                                    c.id
                                ))),
                            )
                        } else {
                            Runner::for_cluster(
                                project,
                                shared,
                                options.clone(),
                                Some(c.clone()),
                                Some(c.id.clone()),
                            )
                            .run_tasks(order)
                        };
                        mine.push((i, outcome));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(i, o)| (&clusters[i], o)).collect()
}

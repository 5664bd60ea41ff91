//! Runs tasks on several clusters: the selection (`--cluster`, `--stage`, `--all`), stage by stage
//! in promotion order, the clusters of a stage in parallel (`--jobs`), later stages held back when
//! one fails (unless `--keep-going`), and one summary table at the end.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::{ClusterDef, Project};
use crate::error::UserError;
use crate::process;
use crate::runner::{self, RunOptions, Runner, Status, TaskResult};

/// Which clusters a run acts on.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub clusters: Vec<String>,
    pub stages: Vec<String>,
    pub all: bool,
}

impl Selection {
    fn is_empty(&self) -> bool {
        self.clusters.is_empty() && self.stages.is_empty() && !self.all
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FleetOptions {
    /// How many clusters of one stage run at once.
    pub jobs: usize,
    /// Start later stages even when a cluster of an earlier one failed.
    pub keep_going: bool,
}

/// The selected clusters, in `tasks.toml` order.
pub fn select(project: &Project, selection: &Selection) -> Result<Vec<ClusterDef>, UserError> {
    let all = &project.clusters;
    if all.is_empty() {
        if !selection.is_empty() {
            return Err(UserError::new(format!(
                "{}: there are no clusters to select; add [cluster] or [clusters.<id>] tables",
                project.file.display()
            )));
        }
        return Ok(Vec::new());
    }
    if selection.is_empty() {
        if all.len() == 1 {
            return Ok(all.clone());
        }
        let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
        return Err(UserError::new(format!(
            "this project has {} clusters ({}); choose with --cluster ID, --stage NAME or --all",
            all.len(),
            ids.join(", ")
        )));
    }
    for id in &selection.clusters {
        if !all.iter().any(|c| &c.id == id) {
            let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
            let hint = crate::graph::suggest(id, all.iter().map(|c| &c.id));
            return Err(UserError::new(format!(
                "no cluster `{id}` in {} (clusters: {}){hint}",
                project.file.display(),
                ids.join(", ")
            )));
        }
    }
    for stage in &selection.stages {
        if !all
            .iter()
            .any(|c| c.stage.as_ref().is_some_and(|s| &s.to_string() == stage))
        {
            let mut stages: Vec<String> = all
                .iter()
                .filter_map(|c| c.stage.as_ref().map(|s| s.to_string()))
                .collect();
            stages.dedup();
            return Err(UserError::new(format!(
                "no cluster is in stage `{stage}` (stages: {})",
                if stages.is_empty() {
                    "none set".to_string()
                } else {
                    stages.join(", ")
                }
            )));
        }
    }
    Ok(all
        .iter()
        .filter(|c| {
            selection.all
                || selection.clusters.contains(&c.id)
                || c.stage
                    .as_ref()
                    .is_some_and(|s| selection.stages.contains(&s.to_string()))
        })
        .cloned()
        .collect())
}

/// Runs `requested` (and their dependencies) on the selected clusters.
pub fn run(
    project: &Project,
    mut options: RunOptions,
    selection: &Selection,
    fleet: FleetOptions,
    requested: &[String],
) -> Result<(), UserError> {
    let plan = crate::graph::order(project, requested)?;
    let selected = select(project, selection)?;
    if project.clusters.len() <= 1 {
        return Runner::for_cluster(project, options, selected.first().cloned(), None)
            .run(requested);
    }
    runner::check_confirmations(project, &options, &plan)?;
    if !options.yes && !options.dry_run {
        // Several clusters may run at once: every confirmation is asked before anything starts.
        let ids: Vec<&str> = selected.iter().map(|c| c.id.as_str()).collect();
        for name in &plan {
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
    let mut failures: Vec<(String, UserError)> = Vec::new();
    let mut stopped: Option<String> = None;
    for clusters in stages.values() {
        let stage = stage_name(&clusters[0]);
        if let Some(reason) = &stopped {
            for c in clusters {
                results.extend(not_started(c, &plan, Status::HeldBack, reason));
            }
            continue;
        }
        let outcomes = run_stage(project, &options, clusters, &plan, fleet.jobs);
        let mut failed_here = Vec::new();
        for (c, (rows, outcome)) in clusters.iter().zip(outcomes) {
            results.extend(rows);
            if let Err(e) = outcome {
                failed_here.push(c.id.clone());
                failures.push((c.id.clone(), e));
            }
        }
        if process::interrupted().is_some() {
            stopped = Some("the run was interrupted".into());
        } else if !failed_here.is_empty() && !fleet.keep_going {
            stopped = Some(format!(
                "stage {stage} failed: {}; --keep-going runs later stages anyway",
                failed_here.join(", ")
            ));
        }
    }
    runner::print_summary(&results);
    if failures.is_empty() {
        return Ok(());
    }
    let code = failures[0].1.code;
    let held = results
        .iter()
        .filter(|r| r.status == Status::HeldBack)
        .map(|r| r.cluster.clone())
        .fold(Vec::<String>::new(), |mut v, c| {
            if !v.contains(&c) {
                v.push(c);
            }
            v
        });
    let mut message = failures
        .iter()
        .map(|(_, e)| e.message.clone())
        .collect::<Vec<_>>()
        .join("\n");
    if !held.is_empty() {
        message.push_str(&format!("\nheld back (not started): {}", held.join(", ")));
    }
    Err(UserError::with_code(message, code))
}

fn stage_name(c: &ClusterDef) -> String {
    c.stage
        .as_ref()
        .map_or_else(|| "(none)".to_string(), |s| format!("`{s}`"))
}

fn not_started(c: &ClusterDef, plan: &[String], status: Status, note: &str) -> Vec<TaskResult> {
    plan.iter()
        .map(|task| TaskResult {
            cluster: c.id.clone(),
            task: task.clone(),
            status,
            took: Duration::ZERO,
            note: note.to_string(),
        })
        .collect()
}

type Outcome = (Vec<TaskResult>, Result<(), UserError>);

/// Runs the clusters of one stage, at most `jobs` at a time; outcomes in the clusters' order.
fn run_stage(
    project: &Project,
    options: &RunOptions,
    clusters: &[ClusterDef],
    plan: &[String],
    jobs: usize,
) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; clusters.len()]);
    let workers = jobs.clamp(1, clusters.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(c) = clusters.get(i) else { break };
                    let outcome = if process::interrupted().is_some() {
                        (
                            not_started(c, plan, Status::NotRun, "the run was interrupted"),
                            Err(UserError::new(format!(
                                "cluster `{}` not started: interrupted",
                                c.id
                            ))),
                        )
                    } else {
                        let mut runner = Runner::for_cluster(
                            project,
                            options.clone(),
                            Some(c.clone()),
                            Some(c.id.clone()),
                        );
                        runner.run_plan(plan)
                    };
                    if let Ok(mut all) = outcomes.lock() {
                        all[i] = Some(outcome);
                    }
                }
            });
        }
    });
    outcomes
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .zip(clusters)
        .map(|(o, c)| {
            o.unwrap_or_else(|| {
                (
                    not_started(c, plan, Status::NotRun, "not started"),
                    Err(UserError::new(format!("cluster `{}` did not run", c.id))),
                )
            })
        })
        .collect()
}

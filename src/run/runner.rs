//! Task and step dispatch: confirmations checked before anything runs, then each task in order
//! (`run_tasks` -> `run_task` -> `run_steps`), with its up-to-date check, its lock and holds
//! around it, and each step handed to `command` or `builtins`. `parallel` takes over when
//! `--jobs` lets tasks run side by side.

use std::time::{Duration, Instant};

use crate::error::UserError;
use crate::progress;
use crate::project::Project;
use crate::project::order::TaskOrder;
use crate::project::task::{Builtin, Step};
use crate::tools::process;

use super::command::interrupted;
use super::outcome::{Outcome, Status, TaskResult};
use super::scope::{Holds, RunOptions, Runner, Sharing};

/// Fails before anything runs when a task needs a confirmation nobody can give.
pub(crate) fn check_confirmations(
    project: &Project,
    options: &RunOptions,
    tasks: &[String],
) -> Result<(), UserError> {
    if options.yes || options.dry_run || process::stdin_is_terminal() {
        return Ok(());
    }
    let needing: Vec<&String> = tasks
        .iter()
        .filter(|name| project.config.tasks[*name].confirmation(name).is_some())
        .collect();
    if needing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = needing.iter().map(|n| format!("`{n}`")).collect();
    Err(UserError::new(format!(
        "{} {} confirmation and there is no terminal to ask on; nothing was run. Pass --yes to confirm, or --dry-run to see what would run",
        names.join(", "),
        if names.len() == 1 { "needs" } else { "need" }
    )))
}

impl<'p> Runner<'p> {
    /// Runs the tasks of `order`, stopping at the first failure; the rest are `not run`. With
    /// `jobs` above one, tasks whose dependencies are done and that touch no cluster state run
    /// beside the others (docs/clusters.md, "Parallel tasks"); results are in task order.
    pub(crate) fn run_tasks(
        &mut self,
        order: &TaskOrder,
    ) -> (Vec<TaskResult>, Result<(), UserError>) {
        let tasks = &order.tasks;
        // The cluster's lock is held from the first task that changes the cluster to the last, and
        // the prerequisites layer from the first task that runs there to the last: another cluster
        // sharing the layer cannot plan or apply in between.
        let layer = self.project.path(&self.values.prerequisites_dir());
        let locking: Vec<bool> = tasks.iter().map(|t| self.task_locks(t, &layer)).collect();
        let touches: Vec<bool> = tasks
            .iter()
            .map(|t| self.touches_prerequisites(t, &layer))
            .collect();
        let until = |held: &[bool]| held.iter().rposition(|&h| h).map_or(0, |last| last + 1);
        self.holds = Holds {
            locking_until: until(&locking),
            touching_until: until(&touches),
            locking,
            touches,
            lock: None,
            layer: None,
            left: None,
        };
        // Only a parallel run asks which tasks may run side by side.
        let parallel = self.options.jobs > 1 && !self.options.dry_run;
        let sharing: Vec<Sharing> = if parallel {
            (0..tasks.len()).map(|i| self.sharing(tasks, i)).collect()
        } else {
            Vec::new()
        };
        let outcomes = if parallel && sharing.iter().any(|s| matches!(s, Sharing::Free { .. })) {
            self.run_parallel(order, &sharing)
        } else {
            let mut outcomes = Vec::new();
            for i in 0..tasks.len() {
                if process::interrupted().is_some() {
                    break;
                }
                let started = Instant::now();
                let result = self.run_held(tasks, i);
                let failed = result.is_err();
                outcomes.push(Some(Outcome {
                    result,
                    took: started.elapsed(),
                    plan: self.task_plan.take(),
                }));
                if failed {
                    break;
                }
            }
            outcomes.resize_with(tasks.len(), || None);
            outcomes
        };
        self.release_lock();
        let left = self.holds.left.take();
        let locking = std::mem::take(&mut self.holds.locking);
        self.holds = Holds::default();
        let cluster = self.label.clone().unwrap_or_default();
        let mut results = Vec::new();
        let mut errors: Vec<UserError> = Vec::new();
        for ((name, outcome), locks) in tasks.iter().zip(outcomes).zip(locking) {
            let Some(Outcome { result, took, plan }) = outcome else {
                let why = if errors.is_empty() {
                    "the run was interrupted"
                } else {
                    "an earlier task failed"
                };
                results.push(TaskResult::new(
                    &cluster,
                    name,
                    Status::NotRun,
                    Duration::ZERO,
                    why,
                ));
                continue;
            };
            let status = match &result {
                Ok(true) => Status::UpToDate,
                Ok(false) if self.options.dry_run => Status::DryRun,
                Ok(false) => Status::Ok,
                Err(_) if process::interrupted().is_some() => Status::Interrupted,
                Err(_) => Status::Failed,
            };
            let mut row = TaskResult::new(&cluster, name, status, took, "");
            row.plan = plan;
            row.locks = locks;
            results.push(row);
            if let Err(e) = result {
                errors.push(e.context(self.task_label(name)));
            }
        }
        let outcome = match (UserError::combine(errors), left) {
            (Some(e), _) => Err(e),
            // Every task did its work, but the lock stays: a status of its own.
            (None, Some(left)) => Err(UserError::with_code(left, crate::error::exit::LOCK_LEFT)),
            (None, None) => Ok(()),
        };
        (results, outcome)
    }

    /// Refuses arguments passed after `--` that hold a secret the run knows: the values of the
    /// prerequisites' sensitive outputs (read now, when they can be) and of the secret variables
    /// of the task's environment, in every form the redactor knows. `fleet` asks it of every
    /// selected cluster before any task runs; the step checks its whole command line again when it
    /// runs.
    pub(crate) fn refuse_passed_secrets(&mut self, tasks: &[String]) -> Result<(), UserError> {
        for name in tasks {
            let task = self.task(name);
            for step in &task.steps {
                let Step::Command(cmd) = step else { continue };
                if cmd.extra.is_empty() {
                    continue;
                }
                // A layer not applied yet has nothing to learn: the step's own check stays.
                let _ = self.values.get(&self.renderer);
                let _ = self.env_layers(name, task, &cmd.env);
                let mut argv = cmd.argv.clone();
                argv.extend(cmd.extra.iter().cloned());
                // The command line is at fault: a usage error, as the other refusals of `--`.
                self.refuse_secret_arguments(&argv).map_err(|e| {
                    UserError::with_code(
                        format!("{}; nothing was run", e.message),
                        crate::error::exit::USAGE,
                    )
                    .context(self.task_label(name))
                })?;
            }
        }
        Ok(())
    }

    /// Runs one task; `Ok(true)` when it was up to date and skipped.
    pub(super) fn run_task(&mut self, name: &str) -> Result<bool, UserError> {
        let task = self.task(name);
        let mut inputs = None;
        // Arguments passed after `--` are not part of the task's fingerprint: it always runs.
        let passed = task
            .steps
            .iter()
            .any(|s| matches!(s, Step::Command(c) if !c.extra.is_empty()));
        if !task.sources.is_empty() && !self.options.dry_run && !passed {
            let fingerprint = self.task_inputs(name)?;
            match self.stale_because(name, &fingerprint)? {
                None if !self.options.force => {
                    progress!(
                        "{}up to date: sources, arguments, values, tool versions and generated files unchanged since its last run (--force runs it anyway)",
                        self.prefix(name)
                    );
                    return Ok(true);
                }
                None => {}
                Some(reason) => progress!("{}runs: {reason}", self.prefix(name)),
            }
            inputs = Some(fingerprint);
        }
        self.run_steps(name)?;
        if let Some(fingerprint) = inputs {
            self.record_run(name, fingerprint)?;
        }
        Ok(false)
    }

    pub(super) fn run_steps(&mut self, name: &str) -> Result<(), UserError> {
        let task = self.task(name);
        if !self.options.dry_run
            && !self.options.yes
            && let Some(question) = task.confirmation(name)
            && !process::confirm_on_terminal(&question)?
        {
            return Err(UserError::new("not confirmed; nothing was run"));
        }
        if task.steps.is_empty() {
            return Ok(());
        }
        let prefix = self.prefix(name);
        self.deferred = None;
        for step in &task.steps {
            if let Some(signal) = process::interrupted() {
                return Err(interrupted(signal));
            }
            // Deferred: what needs the cluster's planned values waits for the prerequisites'
            // apply; the review (which says so) and the clean-up still run.
            if self.deferred.is_some()
                && !matches!(
                    step,
                    Step::Builtin(Builtin::Review { .. } | Builtin::Remove { .. })
                )
            {
                continue;
            }
            // A command step renders its own texts (`run_command`): not copied first.
            let resolved;
            let step = if matches!(step, Step::Command(_)) {
                step
            } else {
                resolved = self.resolve_paths(name, step)?;
                &resolved
            };
            // A command's `save` and `private` are rendered and checked by `run_command`.
            if !matches!(step, Step::Command(_)) {
                self.guard_targets(step)?;
            }
            match step {
                Step::Command(cmd) => self.run_command(name, task, cmd, &prefix)?,
                Step::Render(render) => self.render(&prefix, render)?,
                Step::Builtin(Builtin::ShowOutputs) => self.show_outputs(&prefix)?,
                Step::Builtin(Builtin::ProviderOverride { out }) => {
                    self.provider_override(&prefix, out)?
                }
                Step::Builtin(Builtin::SnapshotState { out }) => {
                    self.snapshot_state(&prefix, out)?
                }
                Step::Builtin(Builtin::Copy { from, out }) => {
                    self.copy_folder(&prefix, from, out)?
                }
                Step::Builtin(Builtin::SealPlan { plan, inputs }) => {
                    self.seal_plan(&prefix, plan, inputs)?
                }
                Step::Builtin(Builtin::CheckPlan { plan }) => {
                    self.check_plan(name, task, &prefix, plan)?
                }
                Step::Builtin(Builtin::CheckProtected { plan }) => {
                    if !self.options.dry_run {
                        let env = self.env_layers(name, task, &Default::default())?;
                        let folder = self.show_folder(name, task)?;
                        self.check_protected(&prefix, plan, &env, folder.as_deref())?
                    }
                }
                Step::Builtin(Builtin::PlannedOutputs { plan }) => {
                    self.planned_outputs(name, task, &prefix, plan)?
                }
                Step::Builtin(review @ Builtin::Review { .. }) => {
                    let env = self.env_layers(name, task, &Default::default())?;
                    self.review(&prefix, review, &env)?
                }
                Step::Builtin(Builtin::Remove { paths }) => self.remove(&prefix, paths)?,
                Step::Builtin(Builtin::PruneInstanceGroups { manifest }) => {
                    self.prune_instance_groups(name, task, &prefix, manifest)?
                }
            }
        }
        Ok(())
    }
}

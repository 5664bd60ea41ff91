//! Runs a plan of tasks: confirmations up front, steps in order, a summary at the end.
//!
//! The runner decides *what* happens (dry run, confirmation, which values a step sees, which
//! environment a child gets); `process` decides *how* a child runs; the built-in steps call
//! `template`, `manifest`, `kops` and `provider_override` for their logic.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::atomic;
use crate::error::UserError;
use crate::plan::seal;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::project::order::TaskOrder;
use crate::project::task::{Builtin, CommandStep, RenderStep, Report, Step, Task};
use crate::redact::Redactor;
use crate::render::manifest;
use crate::render::provider_override;
use crate::render::template::{Renderer, substitute_fields};
use crate::statestore;
use crate::statestore::preflight;
use crate::tools::kops;
use crate::tools::process::{self, shell_word};
use crate::tools::retry;
use crate::values::context::RunValues;
use crate::{say, tell};

/// Exit status of a rolling-update dry run that found work with `--fail-on-update`.

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub dry_run: bool,
    pub yes: bool,
    pub sets: Vec<String>,
    pub fail_on_update: bool,
    /// Protected addresses the user allows a plan to delete or replace.
    pub allow_destroy: Vec<String>,
    /// How long to wait for another run's cluster lock.
    pub lock_timeout: Duration,
    /// Run tasks even when they are up to date.
    pub force: bool,
    /// How many tasks of one cluster may run at once (`--jobs`); 0 or 1 runs them one by one.
    pub jobs: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    DryRun,
    UpToDate,
    Failed,
    Interrupted,
    NotRun,
    /// A later stage's cluster that did not start because an earlier stage failed.
    HeldBack,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::DryRun => "dry run",
            Status::UpToDate => "up to date",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::NotRun => "not run",
            Status::HeldBack => "held back",
        }
    }
}

/// One task of one cluster, as the summary shows it.
#[derive(Debug, Clone)]
pub struct TaskResult {
    /// The cluster id; empty in a project without clusters.
    pub cluster: String,
    pub task: String,
    pub status: Status,
    pub took: Duration,
    /// Why it did not run, for `not run` and `held back`.
    pub note: String,
    /// The SHA-256 of the saved plan the task sealed or checked.
    pub plan: Option<String>,
}

impl TaskResult {
    pub fn new(cluster: &str, task: &str, status: Status, took: Duration, note: &str) -> Self {
        TaskResult {
            cluster: cluster.to_string(),
            task: task.to_string(),
            status,
            took,
            note: note.to_string(),
            plan: None,
        }
    }
}

pub struct Runner<'p> {
    project: &'p Project,
    options: RunOptions,
    renderer: Renderer,
    redactor: Arc<Redactor>,
    values: RunValues<'p>,
    /// The state-store snapshot this run switched to (`snapshot-state`), if any.
    snapshot: Option<Snapshot>,
    /// The pre-flight's read-only view of the live key and secret stores (isolated runs).
    inspector: Option<preflight::Inspector>,
    /// The Terraform states and plans whose sensitive values are known to the redactor.
    learned: std::collections::BTreeSet<PathBuf>,
    /// The SHA-256 of the saved plan the running task sealed or checked, for the audit trail.
    task_plan: Option<String>,
    /// The cluster this runner acts on, if the project has any.
    cluster: Option<ClusterDef>,
    /// Shown before the task name in every line when several clusters run (`[dev/plan] `).
    label: Option<String>,
    /// Tells this runner's folder holds from other runners'.
    id: u64,
    /// The cluster's lock and the prerequisites layer, as `run_plan` holds them.
    holds: Holds,
}

/// What a run holds across its tasks, and which tasks need it.
#[derive(Default)]
struct Holds {
    locking: Vec<bool>,
    touches: Vec<bool>,
    lock: Option<crate::statestore::lock::Held>,
    layer: Option<FolderHold>,
}

/// How a task may share time with the other tasks of its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sharing {
    /// Touches no cluster state; `reads_outputs` when its commands use the prerequisites' outputs.
    Free { reads_outputs: bool },
    /// Touches the cluster's state: one such task at a time, in plan order.
    State,
    /// Runs with no other task of the cluster beside it (`parallel = false`, confirmations).
    Alone,
}

/// Which task of a parallel run may start next (docs/clusters.md, "Parallel tasks").
struct Schedule<'a> {
    order: &'a TaskOrder,
    sharing: &'a [Sharing],
    /// The tasks that run in the prerequisites layer.
    touches: &'a [bool],
    started: Vec<bool>,
    /// The tasks that finished, as they ended.
    outcomes: Vec<Option<Outcome>>,
    running: Vec<usize>,
}

impl Schedule<'_> {
    /// The first task that may start now; `stateful` says whether the cluster's runner is free.
    fn next(&self, stateful: bool) -> Option<usize> {
        let running = |what: &dyn Fn(usize) -> bool| self.running.iter().any(|&r| what(r));
        if running(&|r| self.sharing[r] == Sharing::Alone) {
            return None;
        }
        // Tasks that touch the state start in plan order, one at a time.
        let first_stateful = (0..self.started.len())
            .find(|&k| !self.started[k] && !matches!(self.sharing[k], Sharing::Free { .. }));
        let reading = Sharing::Free {
            reads_outputs: true,
        };
        (0..self.started.len()).find(|&i| {
            self.ready(i)
                && match self.sharing[i] {
                    Sharing::Alone => self.running.is_empty() && first_stateful == Some(i),
                    Sharing::State => {
                        stateful
                            && first_stateful == Some(i)
                            && !(self.touches[i] && running(&|r| self.sharing[r] == reading))
                    }
                    Sharing::Free { reads_outputs } => {
                        !(reads_outputs && running(&|r| self.touches[r]))
                    }
                }
        })
    }

    /// Not started, and everything it waits for has finished.
    fn ready(&self, i: usize) -> bool {
        let done = |d: usize| self.outcomes[d].is_some();
        !self.started[i]
            && (0..self.order.barrier[i]).all(done)
            && self.order.deps[i].iter().all(|&d| done(d))
    }
}

/// How one task ended, and how long it took.
struct Outcome {
    result: Result<bool, UserError>,
    took: Duration,
    /// The saved plan the task sealed or checked (SHA-256).
    plan: Option<String>,
}

impl<'p> Runner<'p> {
    /// A runner for one cluster; `label` prefixes its lines when several clusters run.
    pub fn for_cluster(
        project: &'p Project,
        options: RunOptions,
        cluster: Option<ClusterDef>,
        label: Option<String>,
    ) -> Self {
        Self::sharing_redactor(
            project,
            options,
            cluster,
            label,
            Arc::new(Redactor::new(&project.config.secret_env)),
        )
    }

    /// A runner that masks what `redactor` knows (and teaches it what it learns).
    fn sharing_redactor(
        project: &'p Project,
        options: RunOptions,
        cluster: Option<ClusterDef>,
        label: Option<String>,
        redactor: Arc<Redactor>,
    ) -> Self {
        let values = RunValues::new(
            project,
            cluster.clone(),
            options.sets.clone(),
            Arc::clone(&redactor),
        );
        Runner {
            project,
            options,
            renderer: Renderer::new(),
            redactor,
            values,
            snapshot: None,
            inspector: None,
            learned: Default::default(),
            task_plan: None,
            cluster,
            label,
            id: next_runner_id(),
            holds: Holds::default(),
        }
    }

    /// Runs the tasks of `plan`, stopping at the first failure; the rest are `not run`. With
    /// `jobs` above one, tasks whose dependencies are done and that touch no cluster state run
    /// beside the others (docs/clusters.md, "Parallel tasks"); results are in plan order.
    pub fn run_tasks(&mut self, order: &TaskOrder) -> (Vec<TaskResult>, Result<(), UserError>) {
        let tasks = &order.tasks;
        // The cluster's lock is held from the first task that changes the cluster to the last, and
        // the prerequisites layer from the first task that runs there to the last: another cluster
        // sharing the layer cannot plan or apply in between.
        self.holds = Holds {
            locking: tasks.iter().map(|t| self.task_locks(t)).collect(),
            touches: tasks
                .iter()
                .map(|t| self.touches_prerequisites(t))
                .collect(),
            lock: None,
            layer: None,
        };
        let sharing: Vec<Sharing> = (0..tasks.len()).map(|i| self.sharing(tasks, i)).collect();
        let outcomes = if self.options.jobs > 1
            && !self.options.dry_run
            && sharing.iter().any(|s| matches!(s, Sharing::Free { .. }))
        {
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
        self.holds = Holds::default();
        let cluster = self.label.clone().unwrap_or_default();
        let mut results = Vec::new();
        let mut errors: Vec<UserError> = Vec::new();
        for (name, outcome) in tasks.iter().zip(outcomes) {
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
            results.push(row);
            if let Err(e) = result {
                errors.push(e.context(self.task_label(name)));
            }
        }
        let outcome = UserError::combine(errors).map_or(Ok(()), Err);
        (results, outcome)
    }

    /// Runs task `i` of `tasks` with the cluster's lock and the prerequisites layer held as the
    /// plan needs them.
    fn run_held(&mut self, tasks: &[String], i: usize) -> Result<bool, UserError> {
        let name = &tasks[i];
        if !self.holds.locking[i..].contains(&true) {
            self.holds.lock = None;
        }
        if !self.holds.touches[i..].contains(&true) {
            self.holds.layer = None;
        }
        if self.holds.locking[i] && self.holds.lock.is_none() {
            self.holds.lock = Some(self.take_lock(name)?);
        }
        if self.holds.touches[i] && self.holds.layer.is_none() {
            let dir = self.project.path(&self.values.prerequisites_dir());
            let workspace = self.values.workspace().unwrap_or_default();
            self.holds.layer = Some(hold_folder(&dir, &workspace, self.id));
        }
        self.run_task(name)
    }

    /// Whether a task may run beside the other tasks of its cluster. A task touches the cluster's
    /// state when it runs kops, Terraform or the aws CLI, renders a file, runs a built-in step or
    /// takes the lock: such tasks run one at a time, in plan order. Other commands (linters,
    /// scripts) are free, unless the task says `parallel = false` or asks a confirmation.
    /// (`run_plan` has worked out which tasks lock and which touch the prerequisites layer.)
    fn sharing(&self, tasks: &[String], i: usize) -> Sharing {
        let name = &tasks[i];
        let task = self.task(name);
        if task.parallel == Some(false) || task.confirmation(name).is_some() {
            return Sharing::Alone;
        }
        let tools = ["kops", "terraform", "aws"];
        let stateful = task.lock == Some(true)
            || self.holds.locking[i]
            || self.holds.touches[i]
            || task.steps.iter().any(|step| match step {
                Step::Command(c) => tools.iter().any(|t| self.project.is_tool(&c.argv[0], t)),
                _ => true,
            });
        if stateful {
            return Sharing::State;
        }
        // A command whose text needs more than the cluster's own fields reads the prerequisites'
        // outputs: it does not run while the prerequisites layer changes.
        let mut texts = task.env.values().chain(task.cwd.iter()).collect::<Vec<_>>();
        for step in &task.steps {
            if let Step::Command(c) = step {
                texts.extend(c.argv.iter().chain(c.env.values()).chain(c.cwd.iter()));
                texts.extend(c.save.iter().chain(c.private.iter()));
            }
        }
        let reads_outputs = texts.iter().any(|t| self.render_static(t).is_none());
        Sharing::Free { reads_outputs }
    }

    /// Runs the tasks of `plan` as their dependencies allow, at most `jobs` at a time: tasks
    /// that touch the cluster's state on this runner in plan order, free tasks each on a runner of
    /// their own. Once a task failed or the run was interrupted, nothing more starts.
    fn run_parallel(&mut self, order: &TaskOrder, sharing: &[Sharing]) -> Vec<Option<Outcome>> {
        let n = order.tasks.len();
        let jobs = self.options.jobs;
        let touches = self.holds.touches.clone();
        let project = self.project;
        let options = self.options.clone();
        let redactor = Arc::clone(&self.redactor);
        let cluster = self.cluster.clone();
        let label = self.label.clone();
        let mut schedule = Schedule {
            order,
            sharing,
            touches: &touches,
            started: vec![false; n],
            outcomes: (0..n).map(|_| None).collect(),
            running: Vec::new(),
        };
        let mut stopped = false;
        // The state store the run uses: a `snapshot-state` step on the cluster's runner points the
        // rest of the run at its snapshot, free tasks included.
        let mut snapshot = self.snapshot.clone();
        let mut main: Option<&mut Runner<'p>> = Some(self);
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel::<(usize, Outcome, Option<&mut Runner<'p>>)>();
            loop {
                stopped = stopped || process::interrupted().is_some();
                while !stopped && schedule.running.len() < jobs {
                    let Some(i) = schedule.next(main.is_some()) else {
                        break;
                    };
                    schedule.started[i] = true;
                    schedule.running.push(i);
                    let tx = tx.clone();
                    let tasks = &order.tasks;
                    // Free tasks get a runner of their own; the others need the cluster's runner,
                    // which `next` only picks when it is here.
                    let runner = match (sharing[i], main.take()) {
                        (Sharing::Free { .. }, back) => {
                            main = back;
                            None
                        }
                        (_, runner) => runner,
                    };
                    match runner {
                        Some(runner) => scope.spawn(move || {
                            let began = Instant::now();
                            let result = runner.run_held(tasks, i);
                            let took = began.elapsed();
                            let plan = runner.task_plan.take();
                            let _ = tx.send((i, Outcome { result, took, plan }, Some(runner)));
                        }),
                        None => {
                            let mut own = Runner::sharing_redactor(
                                project,
                                options.clone(),
                                cluster.clone(),
                                label.clone(),
                                Arc::clone(&redactor),
                            );
                            if let Some(snapshot) = &snapshot {
                                own.values.override_state(snapshot.path.clone());
                                own.snapshot = Some(snapshot.clone());
                            }
                            scope.spawn(move || {
                                let began = Instant::now();
                                let result = own.run_task(&tasks[i]);
                                let took = began.elapsed();
                                let plan = own.task_plan.take();
                                let _ = tx.send((i, Outcome { result, took, plan }, None));
                            })
                        }
                    };
                }
                if schedule.running.is_empty() {
                    break;
                }
                // Every started task sends its outcome before its thread ends.
                let Ok((i, outcome, runner)) = rx.recv() else {
                    break;
                };
                schedule.running.retain(|&r| r != i);
                if let Some(runner) = runner {
                    snapshot.clone_from(&runner.snapshot);
                    main = Some(runner);
                }
                stopped = stopped || outcome.result.is_err();
                schedule.outcomes[i] = Some(outcome);
            }
        });
        schedule.outcomes
    }

    /// The run's cluster, for steps that cannot go on without it.
    fn require_cluster(&mut self) -> Result<crate::values::context::Cluster, UserError> {
        self.values
            .get(&self.renderer)?
            .require_cluster(self.project)
    }

    /// The run's cluster when its values can be read, for steps that only mention it.
    fn known_cluster(&mut self) -> Option<crate::values::context::Cluster> {
        self.values
            .get(&self.renderer)
            .ok()
            .and_then(|v| v.cluster().cloned())
    }

    /// How errors name a task: ``task `plan` `` or ``cluster `dev`, task `plan` ``.
    fn task_label(&self, task: &str) -> String {
        match &self.label {
            Some(id) => format!("cluster `{id}`, task `{task}`"),
            None => format!("task `{task}`"),
        }
    }

    fn work_dir(&self) -> PathBuf {
        self.project.path(
            self.cluster
                .as_ref()
                .map_or(".kopsform", |c| c.work.as_str()),
        )
    }

    fn runs_kops(&self, name: &str) -> bool {
        self.task(name)
            .steps
            .iter()
            .any(|s| matches!(s, Step::Command(c) if self.project.is_tool(&c.argv[0], "kops")))
    }

    /// The fingerprint of what a task reads: its sources, its resolved steps, its values and the
    /// versions of its tools.
    fn task_inputs(&mut self, name: &str) -> Result<String, UserError> {
        let task = self.task(name);
        let mut fp = crate::run::uptodate::Fingerprint::default();
        let mut patterns = Vec::new();
        for source in &task.sources {
            patterns.push(self.render_text(&format!("task `{name}` sources"), source)?);
        }
        let (files, missing) = crate::run::uptodate::expand(&self.project.dir, &patterns)?;
        for (path, sha) in &files {
            fp.add(&format!("source {path}"), sha.as_bytes());
        }
        for pattern in missing {
            fp.add("source matches nothing", pattern.as_bytes());
        }
        let mut programs = Vec::new();
        for (i, step) in task.steps.iter().enumerate() {
            let resolved = self.resolve_paths(name, step)?;
            let text = match &resolved {
                Step::Command(c) => {
                    let mut argv = Vec::new();
                    for a in &c.argv {
                        argv.push(self.render_text(&format!("task `{name}` argument"), a)?);
                    }
                    let cwd = match c.cwd.as_ref().or(task.cwd.as_ref()) {
                        Some(cwd) => self.render_text(&format!("task `{name}` cwd"), cwd)?,
                        None => String::new(),
                    };
                    programs.push(self.project.tool_or_default(&argv[0]));
                    format!(
                        "{argv:?} {cwd:?} {:?} {:?} {:?} {:?}",
                        c.env, c.report, c.save, c.private
                    )
                }
                Step::Render(r) => {
                    let template =
                        std::fs::read(self.project.path(&r.template)).unwrap_or_default();
                    format!(
                        "{r:?} {}",
                        crate::text::hex(&sha2::Sha256::digest(&template))
                    )
                }
                Step::Builtin(Builtin::ProviderOverride { out }) => {
                    format!("{out} {:?}", self.project.config.provider_override)
                }
                Step::Builtin(b) => format!("{b:?}"),
            };
            fp.add(&format!("step {i}"), text.as_bytes());
        }
        fp.add(
            "task env",
            format!("{:?} {:?}", task.env, self.project.config.env).as_bytes(),
        );
        let values = self.values.get(&self.renderer)?;
        let mut context = values.context.clone();
        if let Some(map) = context.as_object_mut() {
            map.remove("env");
        }
        fp.add("values", &serde_json::to_vec(&context).unwrap_or_default());
        programs.sort();
        programs.dedup();
        for program in programs {
            let cache = self.project.path(".kopsform/tool-versions.json");
            let version = crate::run::uptodate::tool_version(&program, &self.project.dir, &cache);
            fp.add(&format!("tool {program}"), version.as_bytes());
        }
        Ok(fp.finish())
    }

    fn generated(
        &mut self,
        name: &str,
    ) -> Result<(std::collections::BTreeMap<String, String>, Vec<String>), UserError> {
        let task = self.task(name);
        let mut patterns = Vec::new();
        for g in &task.generates {
            patterns.push(self.render_text(&format!("task `{name}` generates"), g)?);
        }
        crate::run::uptodate::expand(&self.project.dir, &patterns)
    }

    fn registry_hash(&mut self) -> Result<String, UserError> {
        let cluster = self.require_cluster()?;
        let store = statestore::Store::parse(&cluster.state, &self.project.dir)?;
        crate::run::uptodate::registry_hash(
            &store,
            &cluster.name,
            &self.project.tool_or_default("aws"),
        )
    }

    /// Why the task must run, or `None` when it is up to date.
    fn stale_because(&mut self, name: &str, inputs: &str) -> Result<Option<String>, UserError> {
        let path = crate::run::uptodate::record_path(&self.work_dir(), name);
        let Some(record) = crate::run::uptodate::read_record(&path) else {
            return Ok(Some("no record of an earlier successful run".into()));
        };
        if record.inputs != inputs {
            return Ok(Some(
                "its sources, arguments, values or tool versions changed".into(),
            ));
        }
        let (files, missing) = self.generated(name)?;
        if !missing.is_empty() {
            return Ok(Some(format!("{} is missing", missing.join(", "))));
        }
        if files != record.generates {
            return Ok(Some("a generated file changed or is gone".into()));
        }
        if self.runs_kops(name) && record.state != Some(self.registry_hash()?) {
            return Ok(Some(
                "the cluster's spec in the state store changed since".into(),
            ));
        }
        Ok(None)
    }

    fn record_run(&mut self, name: &str, inputs: String) -> Result<(), UserError> {
        let (generates, _) = self.generated(name)?;
        let state = if self.runs_kops(name) {
            Some(self.registry_hash()?)
        } else {
            None
        };
        let record = crate::run::uptodate::Record {
            inputs,
            state,
            generates,
        };
        crate::run::uptodate::write_record(
            &crate::run::uptodate::record_path(&self.work_dir(), name),
            &record,
        )
    }

    /// Whether a task takes the cluster's lock: its `lock` key, else whether it changes the
    /// cluster: kops commands that write the state store or the cloud, Terraform commands that
    /// write a state outside the prerequisites layer (whose own Terraform lock protects it).
    /// Isolated runs (`snapshot-state`) and `--dry-run` never lock.
    fn task_locks(&mut self, name: &str) -> bool {
        let task = self.task(name);
        if self.options.dry_run
            || task
                .steps
                .iter()
                .any(|s| matches!(s, Step::Builtin(Builtin::SnapshotState { .. })))
        {
            return false;
        }
        if let Some(explicit) = task.lock {
            return explicit;
        }
        let layer = self.project.path(&self.values.prerequisites_dir());
        task.steps.iter().any(|step| {
            let Step::Command(c) = step else { return false };
            let words: Vec<&str> = c.argv[1..]
                .iter()
                .map(String::as_str)
                .filter(|a| !a.starts_with('-'))
                .collect();
            let yes = c.argv.iter().any(|a| a == "--yes" || a == "-y");
            if self.project.is_tool(&c.argv[0], "kops") {
                match words.first().copied() {
                    Some(
                        "replace" | "create" | "update" | "edit" | "upgrade" | "promote"
                        | "distrust" | "rotate" | "set" | "unset",
                    ) => true,
                    Some("delete" | "rolling-update") => yes,
                    Some("toolbox") => words.get(1) == Some(&"enroll"),
                    _ => false,
                }
            } else if self.project.is_tool(&c.argv[0], "terraform") {
                let writes = matches!(
                    words.first().copied(),
                    Some(
                        "apply"
                            | "destroy"
                            | "import"
                            | "state"
                            | "taint"
                            | "untaint"
                            | "refresh"
                            | "force-unlock"
                    )
                );
                let cwd = c.cwd.clone().or_else(|| task.cwd.clone());
                let in_layer = cwd
                    .and_then(|f| self.render_static(&f))
                    .is_some_and(|f| same_dir(&self.project.path(&f), &layer));
                writes && !in_layer
            } else {
                false
            }
        })
    }

    /// Takes the cluster's lock in its state store (docs/clusters.md, "Locks").
    fn take_lock(&mut self, task: &str) -> Result<crate::statestore::lock::Held, UserError> {
        let cluster = self.require_cluster()?;
        let place =
            crate::statestore::lock::Place::of(&cluster.state, &cluster.name, &self.project.dir)?;
        let holder = crate::statestore::lock::Holder::new(&cluster.name, task);
        let aws = self.project.tool_or_default("aws");
        let prefix = self.prefix(task);
        let held = crate::statestore::lock::acquire(
            &place,
            &holder,
            self.options.lock_timeout,
            &aws,
            &prefix,
        )?;
        say!(
            "{prefix}locked cluster {} ({})",
            cluster.name,
            held.place().display()
        );
        Ok(held)
    }

    /// `kopsform unlock`: removes the cluster's lock left by a run that is gone.
    pub fn unlock(&mut self) -> Result<(), UserError> {
        let cluster = self.require_cluster()?;
        let place =
            crate::statestore::lock::Place::of(&cluster.state, &cluster.name, &self.project.dir)?;
        let aws = self.project.tool_or_default("aws");
        match crate::statestore::lock::unlock(&place, &aws)? {
            Some(holder) => tell!(
                "released the lock of cluster {}, held by {} ({})",
                cluster.name,
                holder.describe(),
                place.display()
            ),
            None => tell!(
                "cluster {} is not locked ({})",
                cluster.name,
                place.display()
            ),
        }
        Ok(())
    }

    /// Whether a task runs a command in the prerequisites layer (judged from the folders it names
    /// without reading any output).
    fn touches_prerequisites(&mut self, name: &str) -> bool {
        let task = self.task(name);
        let layer = self.project.path(&self.values.prerequisites_dir());
        let mut folders: Vec<String> = task
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Command(c) => c.cwd.clone().or_else(|| task.cwd.clone()),
                _ => None,
            })
            .collect();
        folders.dedup();
        folders.into_iter().any(|f| {
            self.render_static(&f)
                .is_some_and(|f| same_dir(&self.project.path(&f), &layer))
        })
    }

    fn prefix(&self, task: &str) -> String {
        match &self.label {
            Some(id) => format!("[{id}/{task}] "),
            None => format!("[{task}] "),
        }
    }

    fn task(&self, name: &str) -> &'p Task {
        &self.project.config.tasks[name]
    }

    /// Runs one task; `Ok(true)` when it was up to date and skipped.
    fn run_task(&mut self, name: &str) -> Result<bool, UserError> {
        let task = self.task(name);
        let mut inputs = None;
        if !task.sources.is_empty() && !self.options.dry_run {
            let fingerprint = self.task_inputs(name)?;
            match self.stale_because(name, &fingerprint)? {
                None if !self.options.force => {
                    say!(
                        "{}up to date: sources, arguments, values, tool versions and generated files unchanged since its last run (--force runs it anyway)",
                        self.prefix(name)
                    );
                    return Ok(true);
                }
                None => {}
                Some(reason) => say!("{}runs: {reason}", self.prefix(name)),
            }
            inputs = Some(fingerprint);
        }
        self.run_steps(name)?;
        if let Some(fingerprint) = inputs {
            self.record_run(name, fingerprint)?;
        }
        Ok(false)
    }

    fn run_steps(&mut self, name: &str) -> Result<(), UserError> {
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
        for step in &task.steps {
            if let Some(signal) = process::interrupted() {
                return Err(interrupted(signal));
            }
            let step = &self.resolve_paths(name, step)?;
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
                        self.check_protected(&prefix, plan, &env)?
                    }
                }
                Step::Builtin(review @ Builtin::Review { .. }) => {
                    let env = self.env_layers(name, task, &Default::default())?;
                    self.review(&prefix, review, &env)?
                }
                Step::Builtin(Builtin::Remove { paths }) => self.remove(&prefix, paths)?,
            }
        }
        Ok(())
    }

    /// The step with the paths of `render` and built-in steps rendered (`{{cluster.dir}}/plan`).
    fn resolve_paths(&mut self, task: &str, step: &Step) -> Result<Step, UserError> {
        let what = format!("task `{task}` path");
        let mut one = |s: &String| self.render_text(&what, s);
        Ok(match step {
            Step::Command(_) => step.clone(),
            Step::Render(r) => Step::Render(RenderStep {
                template: one(&r.template)?,
                out: one(&r.out)?,
                check: r.check,
            }),
            Step::Builtin(b) => Step::Builtin(match b {
                Builtin::ShowOutputs => Builtin::ShowOutputs,
                Builtin::ProviderOverride { out } => Builtin::ProviderOverride { out: one(out)? },
                Builtin::SnapshotState { out } => Builtin::SnapshotState { out: one(out)? },
                Builtin::Copy { from, out } => Builtin::Copy {
                    from: one(from)?,
                    out: one(out)?,
                },
                Builtin::SealPlan { plan, inputs } => Builtin::SealPlan {
                    plan: one(plan)?,
                    inputs: inputs.iter().map(&mut one).collect::<Result<_, _>>()?,
                },
                Builtin::CheckPlan { plan } => Builtin::CheckPlan { plan: one(plan)? },
                Builtin::CheckProtected { plan } => Builtin::CheckProtected { plan: one(plan)? },
                Builtin::Review {
                    plan,
                    out,
                    rolling_update,
                    target,
                    json,
                } => Builtin::Review {
                    plan: one(plan)?,
                    out: one(out)?,
                    rolling_update: rolling_update.as_ref().map(&mut one).transpose()?,
                    target: *target,
                    json: json.as_ref().map(&mut one).transpose()?,
                },
                Builtin::Remove { paths } => Builtin::Remove {
                    paths: paths.iter().map(&mut one).collect::<Result<_, _>>()?,
                },
            }),
        })
    }

    /// `text` rendered with what needs no output (`{{cluster.dir}}`, `{{cluster.id}}`...), when
    /// that is all it uses: a task that only names its folders (prerequisites-apply before
    /// anything exists) must not read the outputs.
    fn render_static(&self, text: &str) -> Option<String> {
        let def = self.cluster.as_ref()?;
        let mut fields = crate::values::context::static_fields(def);
        if let Some(state) = self.snapshot.as_ref().map(|s| s.path.clone()) {
            fields.insert("state".into(), serde_json::Value::String(state));
        }
        substitute_fields(text, "cluster", &fields)
    }

    fn render_text(&mut self, what: &str, text: &str) -> Result<String, UserError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        if let Some(text) = self.render_static(text) {
            return Ok(text);
        }
        let values = self.values.get(&self.renderer)?;
        self.renderer.render_inline(what, text, &values.context)
    }

    /// The environment a task's children get from tasks.toml: `[env]`, the cluster's, the
    /// task's, then `step_env`, rendered; secret ones are added to the redactor.
    fn env_layers(
        &mut self,
        task_name: &str,
        task: &Task,
        step_env: &indexmap::IndexMap<String, String>,
    ) -> Result<Vec<(String, String)>, UserError> {
        let mut env = Vec::new();
        let cluster_env = self
            .cluster
            .as_ref()
            .map(|c| c.config.env.clone())
            .unwrap_or_default();
        let cluster_id = self
            .cluster
            .as_ref()
            .map_or("", |c| c.id.as_str())
            .to_string();
        let layers = [
            (&self.project.config.env, "[env]".to_string()),
            (&cluster_env, format!("cluster `{cluster_id}` env")),
            (&task.env, format!("task `{task_name}` env")),
            (step_env, format!("task `{task_name}` step env")),
        ];
        for (vars, what) in layers {
            for (k, v) in vars {
                let value = self.render_text(&format!("{what} {k}"), v)?;
                if self.redactor.is_secret_var(k) {
                    self.redactor.add(value.clone());
                }
                env.push((k.clone(), value));
            }
        }
        Ok(env)
    }

    /// The environment added for a child: [`Self::env_layers`] with the step's own, and what
    /// kopsform adds (the cluster for kops, the snapshot's kubeconfig, Terraform's automation
    /// settings off a terminal).
    fn child_env(
        &mut self,
        task_name: &str,
        task: &Task,
        cmd: &CommandStep,
        is_kops: bool,
        in_prerequisites: bool,
    ) -> Result<Vec<(String, String)>, UserError> {
        let mut env = self.env_layers(task_name, task, &cmd.env)?;
        // kops always learns its cluster; other tools do when the values are at hand.
        let cluster = if is_kops {
            Some(self.require_cluster()?)
        } else if !in_prerequisites {
            self.known_cluster()
        } else {
            None
        };
        if let Some(cluster) = cluster {
            env.push(("KOPS_CLUSTER_NAME".into(), cluster.name));
            env.push(("KOPS_STATE_STORE".into(), cluster.state));
        }
        if let Some(snapshot) = &self.snapshot {
            // An isolated run never reads or writes the user's kubeconfig (kops would use it to
            // reach the live API server).
            let kubeconfig = Path::new(&snapshot.path).with_file_name("kubeconfig");
            env.push((
                "KUBECONFIG".into(),
                kubeconfig.to_string_lossy().into_owned(),
            ));
        }
        if !process::stdin_is_terminal() {
            // terraform: behave as with -input=false on every subcommand, and say it is automated.
            env.push(("TF_INPUT".into(), "0".into()));
            env.push(("TF_IN_AUTOMATION".into(), "1".into()));
        }
        Ok(env)
    }

    /// A secret never goes on a command line, where every user of the machine can read it
    /// (`ps`, /proc/PID/cmdline): the step is refused, in a dry run too, before anything runs.
    fn refuse_secret_arguments(
        &mut self,
        task_name: &str,
        argv: &[String],
    ) -> Result<(), UserError> {
        // The environment of the step is rendered first, so the secrets it names are known.
        let Some(i) = argv.iter().position(|a| self.redactor.contains_secret(a)) else {
            return Ok(());
        };
        let what = if i == 0 {
            "its program".to_string()
        } else {
            format!("argument {i}")
        };
        Err(UserError::new(format!(
            "task `{task_name}`: {what} of `{}` holds a secret value (a sensitive output, or a variable of `secret-env`), and a command line is visible to every user of the machine (ps); pass it in the environment instead (e.g. env = {{ TF_VAR_name = \"{{{{output}}}}\" }} in the task, read by the program), or in a file rendered with mode 0600",
            self.redactor.mask(&argv[0])
        )))
    }

    fn run_command(
        &mut self,
        task_name: &str,
        task: &Task,
        cmd: &CommandStep,
        prefix: &str,
    ) -> Result<(), UserError> {
        let mut argv = Vec::with_capacity(cmd.argv.len());
        for (i, arg) in cmd.argv.iter().enumerate() {
            argv.push(self.render_text(&format!("task `{task_name}` argument {}", i + 1), arg)?);
        }
        let tool_name = argv[0].clone();
        let program = self.project.tool_or_default(&tool_name);
        let kind = self.project.tool_kind(&tool_name);
        let is_kops = kind == retry::Tool::Kops;
        let is_terraform = kind == retry::Tool::Terraform;
        let cwd_rel = match cmd.cwd.as_deref().or(task.cwd.as_deref()) {
            Some(rel) => Some(self.render_text(&format!("task `{task_name}` cwd"), rel)?),
            None => None,
        };
        let cwd_rel = cwd_rel.as_deref();
        let cwd = match cwd_rel {
            Some(rel) => self.project.path(rel),
            None => self.project.dir.clone(),
        };
        let prerequisites = self.project.path(&self.values.prerequisites_dir());
        let in_prerequisites = same_dir(&cwd, &prerequisites);
        let mut env = self.child_env(task_name, task, cmd, is_kops, in_prerequisites)?;
        self.refuse_secret_arguments(task_name, &argv)?;
        if in_prerequisites {
            env.extend(self.values.workspace_env());
        }
        let shown = display_command(&tool_name, &argv[1..], cwd_rel);
        let shown = self.redactor.mask(&shown);
        if self.options.dry_run {
            tell!("{prefix}would run: {shown}");
            return Ok(());
        }
        if is_kops && let Some(snapshot) = self.snapshot.clone() {
            self.preflight_kops(&snapshot, &argv[1..], &cwd, &env)?;
        }
        say!("{prefix}$ {shown}");
        crate::detail!(
            "{prefix}  in {}; environment set: {}",
            cwd.display(),
            if env.is_empty() {
                "nothing".to_string()
            } else {
                env.iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        let step_started = Instant::now();
        if !cwd.is_dir() {
            return Err(UserError::new(format!(
                "{}: the step's folder does not exist; fix `cwd` in {}",
                cwd.display(),
                self.project.file.display()
            )));
        }
        let private: Vec<PathBuf> = cmd
            .private
            .iter()
            .map(|p| {
                self.render_text(&format!("task `{task_name}` private"), p)
                    .map(|p| self.project.path(&p))
            })
            .collect::<Result<_, _>>()?;
        // Clusters of one stage run in parallel; two Terraform commands never run at once in the
        // same folder and workspace (a shared prerequisites layer), whatever their cluster.
        let _folder = is_terraform.then(|| {
            let workspace = env_value(&env, "TF_WORKSPACE").unwrap_or_default();
            hold_folder(&cwd, &workspace, self.id)
        });
        if is_terraform {
            self.learn_terraform_secrets(&program, &argv[1..], &cwd, &env);
        }
        let policy = self.project.retry_policy(Some(task));
        let safety = match retry::classify(kind, &argv[1..]) {
            retry::Safety::Unknown if policy.declared_repeatable(&tool_name) => {
                retry::Safety::Repeatable
            }
            safety => safety,
        };
        let mut attempt = 1;
        let finished = loop {
            let finished = process::run_streaming(
                &process::Command {
                    program: &program,
                    args: &argv[1..],
                    cwd: &cwd,
                    env: &env,
                    prefix,
                    capture_stdout: cmd.report.is_some() || cmd.save.is_some(),
                    transient: &policy,
                },
                &self.redactor,
            )?;
            if let Some(signal) = process::interrupted() {
                if in_prerequisites {
                    self.values.invalidate();
                }
                return Err(interrupted(signal));
            }
            match &finished.transient {
                Some(matched)
                    if finished.code != 0
                        && safety == retry::Safety::Repeatable
                        && attempt < policy.attempts =>
                {
                    attempt += 1;
                    let wait = policy.backoff(attempt);
                    tell!(
                        "{prefix}transient error ({matched}); `{}` is safe to repeat, so it runs again in {} (attempt {attempt} of {})",
                        command_words(&tool_name, &argv[1..]),
                        retry::show(wait),
                        policy.attempts
                    );
                    if !retry::sleep(wait) {
                        let signal = process::interrupted().unwrap_or(libc::SIGINT);
                        return Err(interrupted(signal));
                    }
                }
                _ => break finished,
            }
        };
        if in_prerequisites {
            self.values.invalidate();
        }
        crate::detail!(
            "{prefix}  exited with status {} after {:.1}s{}",
            finished.code,
            step_started.elapsed().as_secs_f64(),
            if attempt > 1 {
                format!(" ({attempt} attempts)")
            } else {
                String::new()
            }
        );
        if finished.code != 0
            && finished
                .stderr_tail
                .iter()
                .any(|l| l.contains("Saved plan is stale"))
        {
            return Err(UserError::new(
                "the saved plan is stale: the Terraform state changed since it was planned; re-run plan, review it, then apply",
            ));
        }
        if finished.code != 0 {
            let tail = if finished.stderr_tail.is_empty() {
                String::new()
            } else {
                format!(":\n  {}", finished.stderr_tail.join("\n  "))
            };
            let words = command_words(&tool_name, &argv[1..]);
            let next = match (&finished.transient, safety) {
                (None, _) => format!(
                    "\nfix what `{tool_name}` reports (its whole output is above), then run the task again"
                ),
                (Some(m), retry::Safety::Repeatable) if attempt > 1 => format!(
                    "\nthe error looked transient ({m}) and `{words}` failed {attempt} times; wait, then run the task again, or raise `attempts` in [retry]"
                ),
                (Some(m), retry::Safety::Repeatable) => format!(
                    "\nthe error looked transient ({m}); retries are off (attempts = 1): run the task again"
                ),
                (Some(m), retry::Safety::Mutating) => format!(
                    "\nthe error looked transient ({m}), but `{words}` changes things, so kopsform did not run it again: check what it did, then run the task again"
                ),
                (Some(m), retry::Safety::Unknown) => format!(
                    "\nthe error looked transient ({m}); kopsform does not know whether `{tool_name}` is safe to repeat: run the task again, or list it in `repeatable` of the task's retry table"
                ),
            };
            return Err(UserError::new(format!(
                "`{tool_name}` exited with status {}{tail}{next}",
                finished.code
            )));
        }
        for path in &private {
            make_private(path)?;
        }
        if let Some(save) = &cmd.save {
            let rel = self.render_text(&format!("task `{task_name}` save"), save)?;
            let text = self.redactor.mask(&finished.stdout);
            atomic::write(&self.project.path(&rel), text.as_bytes(), 0o644)?;
            say!("{prefix}saved the output to {rel}");
        }
        let dry_run = !argv.iter().any(|a| a == "--yes" || a == "-y");
        match cmd.report {
            Some(Report::RollingUpdate) => {
                let fail = cmd.fail_on_update || (self.options.fail_on_update && dry_run);
                report_rolling_update(prefix, &finished.stdout, dry_run, fail)
            }
            Some(Report::DeleteCluster) => {
                let state = self.known_cluster().map(|c| c.state);
                report_delete_cluster(prefix, &finished.stdout, dry_run, state.as_deref())
            }
            None => Ok(()),
        }
    }

    fn render(&mut self, prefix: &str, step: &RenderStep) -> Result<(), UserError> {
        let values = self.values.get(&self.renderer)?;
        let template_path = self.project.path(&step.template);
        let bytes = std::fs::read(&template_path).map_err(|e| {
            UserError::new(format!(
                "{}: cannot read the template: {e}; fix the `render` path in {}",
                template_path.display(),
                self.project.file.display()
            ))
        })?;
        let source = crate::text::decode_utf8(&step.template, bytes, "the template")?;
        let mut rendered = self
            .renderer
            .render(&step.template, &source, &values.context)?;
        let mut summary = String::new();
        if step.check == crate::project::task::ManifestCheck::Kops {
            let cluster = values.require_cluster(self.project)?;
            let documents = manifest::check(&rendered, &cluster.name).map_err(|e| {
                // `out:8: ...` when the check names a line, `out: ...` when not.
                let sep = if e.starts_with(|c: char| c.is_ascii_digit()) {
                    ":"
                } else {
                    ": "
                };
                UserError::new(format!(
                    "{} (rendered from {}){sep}{e}; nothing was written",
                    step.out, step.template
                ))
            })?;
            let names: Vec<String> = documents
                .iter()
                .map(|d| format!("{} {}", d.kind, d.name))
                .collect();
            summary = format!(" ({})", names.join(", "));
            if let Some(snapshot) = self.snapshot.clone() {
                // kops writes keys, secrets and SSH keys under spec.configBase, not under --state,
                // and bakes configBase into the launch templates: the dry run must keep the live
                // configBase (docs/dryrun-isolation.md), while --state is the snapshot.
                let live = live_config_base(&snapshot, &cluster.name);
                if !self.options.dry_run {
                    self.preflight_manifest(&step.out, &documents, &live)?;
                }
                let (text, dropped) = manifest::isolate(&documents, &live)
                    .map_err(|e| UserError::new(format!("{}: {e}", step.out)))?;
                if dropped > 0 {
                    say!(
                        "{prefix}isolated run: left out {dropped} SSHCredential document(s) whose keys the live key store already holds (kops replace would write them again)"
                    );
                }
                if let Some(text) = text {
                    say!(
                        "{prefix}isolated run: spec.configBase set to the live {live}, as kops reads it"
                    );
                    rendered = text;
                }
            }
        }
        let out = self.project.path(&step.out);
        let secret = self.redactor.contains_secret(&rendered);
        if self.options.dry_run {
            tell!(
                "{prefix}would write {} from {}{summary}",
                step.out,
                step.template
            );
            return Ok(());
        }
        let mode = if secret { 0o600 } else { 0o644 };
        atomic::write(&out, rendered.as_bytes(), mode)?;
        say!(
            "{prefix}rendered {} -> {}{summary}",
            step.template,
            step.out
        );
        if secret {
            tell!(
                "{prefix}warning: {} contains a secret value; written with mode 0600, do not commit it",
                step.out
            );
        }
        Ok(())
    }

    fn show_outputs(&mut self, prefix: &str) -> Result<(), UserError> {
        let values = self.values.get(&self.renderer)?;
        let outputs = &values.outputs;
        if outputs.values.is_empty() {
            tell!(
                "{prefix}{} has no outputs; has it been applied (task prerequisites-apply)?",
                self.values.prerequisites_dir()
            );
            return Ok(());
        }
        let width = outputs.values.keys().map(String::len).max().unwrap_or(0);
        let mut text = String::new();
        for (name, value) in &outputs.values {
            let shown = if outputs.sensitive.contains(name) {
                "<sensitive>".to_string()
            } else {
                self.redactor.mask(&value.to_string())
            };
            text.push_str(&format!("{name:width$} = {shown}\n"));
        }
        crate::ui::write_task_output(&text);
        Ok(())
    }

    fn provider_override(&mut self, prefix: &str, out: &str) -> Result<(), UserError> {
        let path = self.project.path(out);
        let config = self
            .project
            .config
            .provider_override
            .clone()
            .unwrap_or_default();
        match provider_override::render(&config) {
            Some(text) => {
                if self.options.dry_run {
                    tell!("{prefix}would write {out}");
                } else {
                    atomic::write(&path, text.as_bytes(), 0o644)?;
                    say!("{prefix}wrote {out}");
                }
            }
            None => {
                // Only a file kopsform wrote is removed, never a team's own override.
                let ours = std::fs::read_to_string(&path)
                    .map(|t| t.starts_with(provider_override::HEADER))
                    .unwrap_or(false);
                if ours && !self.options.dry_run {
                    std::fs::remove_file(&path).map_err(|e| {
                        UserError::new(format!("{}: cannot remove: {e}", path.display()))
                    })?;
                    say!("{prefix}removed {out} ([provider-override] is empty)");
                }
            }
        }
        Ok(())
    }

    fn snapshot_state(&mut self, prefix: &str, out: &str) -> Result<(), UserError> {
        let values = self.values.get(&self.renderer)?;
        let cluster = values.require_cluster(self.project)?;
        let store = statestore::Store::parse(&cluster.state, &self.project.dir)?;
        let dest = self.project.path(out);
        if self.options.dry_run {
            tell!(
                "{prefix}would copy {} of {} into {out}",
                cluster.name,
                cluster.state
            );
            return Ok(());
        }
        let aws = self.project.tool_or_default("aws");
        let count = statestore::snapshot(&store, &cluster.name, &dest, &aws)?;
        let dest = dest.canonicalize().unwrap_or(dest);
        // A stored Cluster without spec.configBase gets `<--state>/<name>` from kops, which would
        // be the snapshot: pin it to the live one, so kops reads keys and secrets where they are.
        let live = default_config_base(&cluster.state, &cluster.name);
        if pin_config_base(&dest.join(&cluster.name).join("config"), &live)? {
            say!(
                "{prefix}the stored Cluster has no spec.configBase; the snapshot's copy names the live {live}, as kops derives it"
            );
        }
        let snapshot = dest.to_string_lossy().into_owned();
        say!(
            "{prefix}snapshot of {}/{} ({count} objects: config, instance groups, addons) in {out}; the rest of this run uses --state {snapshot}",
            cluster.state,
            cluster.name
        );
        self.values.override_state(snapshot.clone());
        self.snapshot = Some(Snapshot {
            path: snapshot,
            live_state: cluster.state.clone(),
        });
        Ok(())
    }

    /// Before a Terraform command that prints resource values (plan, apply, destroy, refresh), the
    /// values its state (or the saved plan it applies) marks sensitive are added to the redactor:
    /// Terraform's own text shows some of them in clear. Read once per state or plan per run (once it succeeded, retried on transient errors); a
    /// folder without state (or not initialised yet) has nothing to learn.
    fn learn_terraform_secrets(
        &mut self,
        program: &str,
        args: &[String],
        cwd: &Path,
        env: &[(String, String)],
    ) {
        let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let Some(command) = words.first().map(|w| w.as_str()) else {
            return;
        };
        if !matches!(command, "plan" | "apply" | "destroy" | "refresh") {
            return;
        }
        let saved_plan = (command == "apply")
            .then(|| words.get(1))
            .flatten()
            .map(|p| cwd.join(p))
            .filter(|p| p.is_file());
        let key = saved_plan
            .clone()
            .unwrap_or_else(|| cwd.join(".terraform-state"));
        let key = key.canonicalize().unwrap_or(key);
        if self.learned.contains(&key) {
            return;
        }
        let mut show = vec!["show".to_string(), "-json".to_string()];
        if let Some(plan) = &saved_plan {
            show.push(plan.to_string_lossy().into_owned());
        }
        let show: Vec<&str> = show.iter().map(String::as_str).collect();
        // A read like any other: again after a transient error; learned only once it succeeded,
        // so a failed read is tried again before the next command in this folder.
        let policy = self.project.retry_policy(None);
        if let Ok((0, stdout, _)) = retry::run_captured(&policy, program, &show, cwd, env) {
            self.learned.insert(key);
            self.learn_from_show(&stdout);
        }
    }

    /// Adds the values `terraform show -json` output marks sensitive to the redactor.
    fn learn_from_show(&self, json: &[u8]) {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(json) {
            for secret in crate::redact::sensitive_strings(&json) {
                self.redactor.add(secret);
            }
        }
    }

    fn inspector(&mut self) -> &mut preflight::Inspector {
        let aws = self.project.tool_or_default("aws");
        let dir = self.project.dir.clone();
        self.inspector
            .get_or_insert_with(|| preflight::Inspector::new(&aws, &dir))
    }

    /// Refuses a Cluster spec for which `kops update cluster` would create or rewrite keysets or
    /// tokens in the live stores (the inspector reads each store once per run).
    fn preflight_cluster(
        &mut self,
        command: &str,
        spec: &serde_yaml::Value,
        config_base: &str,
    ) -> Result<(), UserError> {
        let writes = self.inspector().cluster_writes(spec, config_base)?;
        if writes.is_empty() {
            Ok(())
        } else {
            Err(preflight::refusal(command, &writes))
        }
    }

    /// The pre-flight of a manifest rendered for an isolated run: its SSH keys must already be in
    /// the live key store (then the documents are left out), and kops must find every keyset and
    /// token it needs.
    fn preflight_manifest(
        &mut self,
        out: &str,
        documents: &[manifest::Document],
        config_base: &str,
    ) -> Result<(), UserError> {
        let empty = serde_yaml::Value::Mapping(Default::default());
        let spec = manifest::cluster_spec(documents);
        let keys: Vec<String> = documents
            .iter()
            .filter(|d| d.kind == "SSHCredential")
            .filter_map(|d| {
                d.value
                    .get("spec")
                    .and_then(|s| s.get("publicKey"))
                    .and_then(serde_yaml::Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        if !keys.is_empty() {
            let writes =
                self.inspector()
                    .new_ssh_keys(spec.unwrap_or(&empty), config_base, &keys)?;
            if !writes.is_empty() {
                return Err(preflight::refusal(
                    &format!("`kops replace -f {out}`"),
                    &writes,
                ));
            }
        }
        if documents.iter().any(|d| d.kind == "Cluster") {
            self.preflight_cluster("`kops update cluster`", spec.unwrap_or(&empty), config_base)?;
        }
        Ok(())
    }

    /// The pre-flight of a kops command in an isolated run: only commands that cannot write live,
    /// and, for `replace`/`create -f` and `update`, the stores kops would write to checked first.
    fn preflight_kops(
        &mut self,
        snapshot: &Snapshot,
        args: &[String],
        cwd: &Path,
        env: &[(String, String)],
    ) -> Result<(), UserError> {
        let parsed = preflight::KopsArgs::parse(args);
        let flags = env_value(env, "KOPS_FEATURE_FLAGS");
        preflight::check_command(&parsed, &snapshot.path, flags.as_deref())?;
        let verb = parsed.verbs.first().map(String::as_str);
        if !matches!(verb, Some("replace" | "create" | "update")) {
            return Ok(());
        }
        let cluster = self.require_cluster()?;
        let stored = stored_spec(snapshot, &cluster.name);
        let live = stored.as_ref().and_then(manifest::config_base).map_or_else(
            || default_config_base(&snapshot.live_state, &cluster.name),
            str::to_string,
        );
        if verb == Some("update") {
            if let Some(spec) = &stored {
                self.preflight_cluster("`kops update cluster`", spec, &live)?;
            }
            return Ok(());
        }
        for file in &parsed.files {
            let Ok(text) = std::fs::read_to_string(cwd.join(file)) else {
                continue; // kops reports the missing file itself
            };
            let documents = manifest::parse_loose(&text);
            if documents.iter().any(|d| d.kind == "SSHCredential") {
                return Err(UserError::new(format!(
                    "refusing the isolated dry run: {file} has SSHCredential documents, which kops replace writes to the live key store even when unchanged; render it with a `render` step of this run, which leaves out the keys the store already holds"
                )));
            }
            let config_base = manifest::cluster_spec(&documents)
                .and_then(manifest::config_base)
                .unwrap_or(&live)
                .to_string();
            self.preflight_manifest(file, &documents, &config_base)?;
        }
        Ok(())
    }

    fn copy_folder(&mut self, prefix: &str, from: &str, out: &str) -> Result<(), UserError> {
        let source = self.project.path(from);
        let dest = self.project.path(out);
        if self.options.dry_run {
            tell!("{prefix}would copy {from} to {out}");
            return Ok(());
        }
        if !source.is_dir() {
            return Err(UserError::new(format!(
                "{}: the folder to copy does not exist",
                source.display()
            )));
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| UserError::new(format!("{}: cannot remove: {e}", dest.display())))?;
        }
        // What kops, kopsform and terraform generate is made again in the copy, never carried over.
        statestore::copy_tree(&source, &dest, &|rel| {
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let top = rel.components().count() == 1;
            name == ".terraform"
                || name.ends_with(".tfplan")
                || name.ends_with(".kopsform.json")
                || (top
                    && ["kubernetes.tf", "data", "cluster.yml", "kubeconfig"]
                        .contains(&name.as_str()))
        })?;
        say!("{prefix}copied {from} to {out} (without generated files)");
        Ok(())
    }

    /// The Terraform version a seal records: asked once per process (every cluster of a run
    /// shares the binary), without Terraform's update check.
    fn terraform_version(&self) -> Result<String, UserError> {
        static SEEN: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
        let terraform = self.project.tool_or_default("terraform");
        // Held while Terraform answers: parallel clusters wait for one answer.
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, version)) = seen.iter().find(|(program, _)| *program == terraform) {
            return Ok(version.clone());
        }
        let env = [("CHECKPOINT_DISABLE".to_string(), "1".to_string())];
        let (code, stdout, stderr) =
            process::run_captured(&terraform, &["version", "-json"], &self.project.dir, &env)?;
        if code != 0 {
            return Err(UserError::new(format!(
                "`{terraform} version -json` failed with status {code}: {}",
                stderr.trim()
            )));
        }
        let version = serde_json::from_slice::<serde_json::Value>(&stdout)
            .ok()
            .and_then(|v| v["terraform_version"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
        seen.push((terraform, version.clone()));
        Ok(version)
    }

    fn current_seal(&mut self, plan: &str, inputs: &[String]) -> Result<seal::Seal, UserError> {
        let plan_path = self.project.path(plan);
        if !plan_path.is_file() {
            return Err(UserError::new(format!(
                "{}: no saved plan; run the plan task first",
                plan_path.display()
            )));
        }
        let mut hashes = std::collections::BTreeMap::new();
        for input in inputs {
            hashes.insert(input.clone(), seal::hash_path(&self.project.path(input))?);
        }
        let cluster = self.known_cluster().map(|c| c.name);
        Ok(seal::Seal {
            plan: plan.to_string(),
            plan_sha256: seal::hash_path(&plan_path)?,
            inputs: hashes,
            terraform_version: self.terraform_version()?,
            // Recorded for the reader by `seal-plan`; `check-plan` does not compare them.
            git_commit: None,
            git_dirty: None,
            cluster,
        })
    }

    fn seal_plan(&mut self, prefix: &str, plan: &str, inputs: &[String]) -> Result<(), UserError> {
        if self.options.dry_run {
            tell!("{prefix}would seal {plan}");
            return Ok(());
        }
        let mut sealed = self.current_seal(plan, inputs)?;
        // Dirty: any change `git status` lists, untracked files included.
        if let Some((git, untracked)) = crate::tools::git::repository(&self.project.dir) {
            sealed.git_commit = Some(git.commit);
            sealed.git_dirty = Some(git.dirty || untracked);
        }
        self.task_plan = Some(sealed.plan_sha256.clone());
        let path = seal::seal_path(&self.project.path(plan));
        let text = serde_json::to_string_pretty(&sealed)
            .map_err(|e| UserError::new(format!("cannot write the seal: {e}")))?;
        atomic::write(&path, format!("{text}\n").as_bytes(), 0o644)?;
        say!(
            "{prefix}sealed {plan} (sha256 {}) and {} inputs",
            &sealed.plan_sha256[..12.min(sealed.plan_sha256.len())],
            sealed.inputs.len()
        );
        Ok(())
    }

    fn check_plan(
        &mut self,
        task_name: &str,
        task: &Task,
        prefix: &str,
        plan: &str,
    ) -> Result<(), UserError> {
        if self.options.dry_run {
            tell!("{prefix}would check {plan} against its seal");
            return Ok(());
        }
        let sealed = seal::read(&seal::seal_path(&self.project.path(plan)))?;
        self.task_plan = Some(sealed.plan_sha256.clone());
        let inputs: Vec<String> = sealed.inputs.keys().cloned().collect();
        let now = self.current_seal(plan, &inputs)?;
        let differences = seal::differences(&sealed, &now);
        if !differences.is_empty() {
            return Err(UserError::new(format!(
                "refusing to apply {plan}: {}; re-run plan, review it, then apply",
                differences.join("; ")
            )));
        }
        say!("{prefix}{plan} is the plan that was sealed, and its inputs are unchanged");
        let env = self.env_layers(task_name, task, &Default::default())?;
        self.check_protected(prefix, plan, &env)
    }
}

/// In-process holds on Terraform folders (with their workspace): clusters of one stage run in
/// parallel, and two of them must never run Terraform in the same folder at once, nor one plan
/// between another's plan and apply of a shared prerequisites layer. A runner may hold a folder
/// several times over (a task hold around its command holds).
struct Folders {
    held: std::sync::Mutex<Vec<(PathBuf, String, u64, usize)>>,
    freed: std::sync::Condvar,
}

static FOLDERS: Folders = Folders {
    held: std::sync::Mutex::new(Vec::new()),
    freed: std::sync::Condvar::new(),
};

/// A hold on a folder, released when dropped.
struct FolderHold {
    dir: PathBuf,
    workspace: String,
}

fn hold_folder(cwd: &Path, workspace: &str, owner: u64) -> FolderHold {
    let dir = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
    let mut held = FOLDERS.held.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        match held
            .iter_mut()
            .find(|(d, w, _, _)| *d == dir && w == workspace)
        {
            None => {
                held.push((dir.clone(), workspace.to_string(), owner, 1));
                break;
            }
            Some((_, _, o, count)) if *o == owner => {
                *count += 1;
                break;
            }
            Some(_) => {
                held = FOLDERS.freed.wait(held).unwrap_or_else(|e| e.into_inner());
            }
        }
    }
    FolderHold {
        dir,
        workspace: workspace.to_string(),
    }
}

impl Drop for FolderHold {
    fn drop(&mut self) {
        let mut held = FOLDERS.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held
            .iter()
            .position(|(d, w, _, _)| *d == self.dir && *w == self.workspace)
        {
            held[i].3 -= 1;
            if held[i].3 == 0 {
                held.remove(i);
            }
        }
        FOLDERS.freed.notify_all();
    }
}

fn next_runner_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// The state-store snapshot of an isolated run.
#[derive(Debug, Clone)]
struct Snapshot {
    path: String,
    live_state: String,
}

/// The live cluster's configBase: the one in the snapshot's copy of its `config`, else kops's
/// default `<state>/<name>`.
fn live_config_base(snapshot: &Snapshot, cluster: &str) -> String {
    stored_spec(snapshot, cluster)
        .as_ref()
        .and_then(manifest::config_base)
        .map_or_else(
            || default_config_base(&snapshot.live_state, cluster),
            str::to_string,
        )
}

/// The spec of the Cluster as the snapshot holds it.
fn stored_spec(snapshot: &Snapshot, cluster: &str) -> Option<serde_yaml::Value> {
    let text =
        std::fs::read_to_string(Path::new(&snapshot.path).join(cluster).join("config")).ok()?;
    serde_yaml::from_str::<serde_yaml::Value>(&text)
        .ok()?
        .get("spec")
        .cloned()
}

/// kops's configBase for a Cluster stored without one: `<state>/<name>`.
fn default_config_base(state: &str, cluster: &str) -> String {
    format!("{}/{cluster}", state.trim_end_matches('/'))
}

/// The last value of `key` in a child's added environment, else kopsform's own.
fn env_value(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(key).ok())
}

/// Sets `spec.configBase` in a snapshot's copy of the Cluster when it has none. Returns whether it
/// did.
fn pin_config_base(config: &Path, live: &str) -> Result<bool, UserError> {
    let Ok(text) = std::fs::read_to_string(config) else {
        return Ok(false);
    };
    let mut value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        UserError::new(format!(
            "{}: the stored Cluster is not YAML: {e}",
            config.display()
        ))
    })?;
    let Some(spec) = value
        .get_mut("spec")
        .and_then(serde_yaml::Value::as_mapping_mut)
    else {
        return Ok(false);
    };
    if spec.contains_key("configBase") {
        return Ok(false);
    }
    spec.insert("configBase".into(), live.into());
    let text = serde_yaml::to_string(&value).map_err(|e| UserError::new(e.to_string()))?;
    atomic::write(config, text.as_bytes(), 0o600)?;
    Ok(true)
}

/// The program and its subcommand words, for messages: `terraform plan`, `kops get cluster`.
fn command_words(tool: &str, args: &[String]) -> String {
    let mut words = vec![tool];
    words.extend(
        args.iter()
            .map(String::as_str)
            .take_while(|a| !a.starts_with('-') && !a.contains('/') && !a.contains('.'))
            .take(2),
    );
    words.join(" ")
}

fn interrupted(signal: i32) -> UserError {
    UserError::with_code(
        format!(
            "interrupted by {}; the running child was waited for and no further step ran",
            process::signal_name(signal)
        ),
        crate::error::exit::interrupted(signal),
    )
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn make_private(path: &Path) -> Result<(), UserError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        UserError::new(format!(
            "{}: expected the step to write this private file, but: {e}",
            path.display()
        ))
    })
}

/// `kops replace -f x` as a user would type it; arguments with blanks or quotes are quoted.
fn display_command(program: &str, args: &[String], cwd: Option<&str>) -> String {
    let mut words = vec![shell_word(program)];
    words.extend(args.iter().map(|a| shell_word(a)));
    let line = words.join(" ");
    match cwd {
        Some(dir) => format!("(cd {} && {line})", shell_word(dir)),
        None => line,
    }
}

fn report_rolling_update(
    prefix: &str,
    stdout: &str,
    dry_run: bool,
    fail_on_update: bool,
) -> Result<(), UserError> {
    let groups = match kops::parse_rolling_update(stdout) {
        Some(Ok(groups)) => groups,
        Some(Err(e)) => return Err(UserError::new(format!("cannot read kops's output: {e}"))),
        None => {
            if fail_on_update {
                return Err(UserError::new(
                    "kops printed no rolling-update table (NAME STATUS NEEDUPDATE ...), so kopsform cannot tell whether an update is needed",
                ));
            }
            say!("{prefix}kops printed no rolling-update table; nothing to report");
            return Ok(());
        }
    };
    let needing = kops::needing_update(&groups, str::to_string);
    if needing.is_empty() {
        tell!(
            "{prefix}no instance group needs an update ({} checked)",
            groups.len()
        );
        return Ok(());
    }
    let verb = if dry_run { "need" } else { "needed" };
    tell!(
        "{prefix}{} of {} instance groups {verb} an update: {}",
        needing.len(),
        groups.len(),
        needing.join(", ")
    );
    if dry_run && fail_on_update {
        return Err(UserError::with_code(
            "instance groups need a rolling update (--fail-on-update); run the rolling update with --yes",
            crate::error::exit::CHANGES,
        ));
    }
    Ok(())
}

fn report_delete_cluster(
    prefix: &str,
    stdout: &str,
    dry_run: bool,
    state: Option<&str>,
) -> Result<(), UserError> {
    let resources = kops::parse_delete_listing(stdout)
        .map_err(|e| UserError::new(format!("cannot read kops's output: {e}")))?;
    let state = state.unwrap_or("the state store");
    if !dry_run {
        tell!(
            "{prefix}kops deleted {} cloud resources and the cluster's objects in {state}",
            resources.len()
        );
        return Ok(());
    }
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for r in &resources {
        match kinds.iter_mut().find(|(k, _)| *k == r.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((r.kind.clone(), 1)),
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    if resources.is_empty() {
        tell!(
            "{prefix}kops lists no cloud resources left for this cluster; --yes removes its objects from {state}"
        );
    } else {
        tell!(
            "{prefix}--yes would delete {} cloud resources ({}) and the cluster's objects in {state}",
            resources.len(),
            kinds.join(", ")
        );
        tell!(
            "{prefix}--unregister would remove only the objects in {state}: the {} resources above would keep running (and costing) with no kops state left to manage or delete them",
            resources.len()
        );
    }
    Ok(())
}

/// Fails before anything runs when a task needs a confirmation nobody can give.
pub fn check_confirmations(
    project: &Project,
    options: &RunOptions,
    plan: &[String],
) -> Result<(), UserError> {
    if options.yes || options.dry_run || process::stdin_is_terminal() {
        return Ok(());
    }
    let needing: Vec<&String> = plan
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

/// The summary table: one row per task (and cluster, when there are clusters).
/// The run's summary: a table on stderr (left out with `--quiet` when nothing failed), or with
/// `--json` one JSON document on stdout (docs/tasks-toml.md, "JSON output").
pub fn print_summary(results: &[TaskResult], failure: Option<i32>) {
    if crate::ui::json() {
        let tasks: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "cluster": r.cluster,
                    "task": r.task,
                    "status": r.status.label(),
                    "duration_ms": u64::try_from(r.took.as_millis()).unwrap_or(u64::MAX),
                    "note": r.note,
                    "plan_sha256": r.plan,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "exit_status": failure.unwrap_or(crate::error::exit::OK),
            "tasks": tasks,
        });
        println!("{doc}");
        return;
    }
    if results.is_empty() || (crate::ui::quiet() && failure.is_none()) {
        return;
    }
    let with_cluster = results.iter().any(|r| !r.cluster.is_empty());
    let task_width = results
        .iter()
        .map(|r| r.task.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let cluster_width = results
        .iter()
        .map(|r| r.cluster.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut text = String::from("\n");
    if with_cluster {
        text.push_str(&format!("{:cluster_width$}  ", "CLUSTER"));
    }
    text.push_str(&format!(
        "{:task_width$}  {:11}  DURATION\n",
        "TASK", "STATUS"
    ));
    for r in results {
        let took = if matches!(r.status, Status::NotRun | Status::HeldBack) {
            "-".to_string()
        } else {
            format!("{:.1}s", r.took.as_secs_f64())
        };
        let mut line = String::new();
        if with_cluster {
            line.push_str(&format!("{:cluster_width$}  ", r.cluster));
        }
        let tone = match r.status {
            Status::Ok | Status::UpToDate | Status::DryRun => crate::ui::Tone::Good,
            Status::Failed | Status::Interrupted => crate::ui::Tone::Bad,
            Status::NotRun | Status::HeldBack => crate::ui::Tone::Warn,
        };
        let label = crate::ui::paint(&format!("{:11}", r.status.label()), tone);
        line.push_str(&format!("{:task_width$}  {label}  {took}", r.task));
        if !r.note.is_empty() {
            line.push_str(&format!("  ({})", r.note));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    crate::ui::write_line(true, &text);
}

impl Runner<'_> {
    /// Refuses a plan that deletes or replaces a protected resource not named by --allow-destroy.
    fn check_protected(
        &mut self,
        prefix: &str,
        plan: &str,
        env: &[(String, String)],
    ) -> Result<(), UserError> {
        let plan_path = self.project.path(plan);
        let terraform = self.project.tool_or_default("terraform");
        let text = crate::plan::read_json(&plan_path, &terraform, env)?;
        // The `terraform apply` of this plan that follows needs its secrets: learn them now
        // rather than ask Terraform for the same JSON again.
        let key = plan_path.canonicalize().unwrap_or(plan_path.clone());
        if self.learned.insert(key) {
            self.learn_from_show(text.as_bytes());
        }
        // Which changes are protected needs the list of changes, not their attribute rows.
        let summary = crate::plan::from_text(text)
            .map_err(|e| UserError::new(format!("{}: {e}", plan_path.display())))?
            .summary;
        let rules = crate::review::effective_rules(&self.project.config.review);
        let protected = crate::review::protected_changes(&summary, &rules);
        let refused: Vec<String> = protected
            .iter()
            .filter(|c| !self.options.allow_destroy.contains(&c.address))
            .map(|c| format!("  {} ({}): {}", c.address, c.action, c.reason))
            .collect();
        if !refused.is_empty() {
            return Err(UserError::new(format!(
                "refusing to apply {plan}: it deletes or replaces protected resources:\n{}\nIf that is intended, name each one: --allow-destroy ADDRESS",
                refused.join("\n")
            )));
        }
        for c in &protected {
            tell!(
                "{prefix}allowed by --allow-destroy: {} ({})",
                c.address,
                c.action
            );
        }
        Ok(())
    }

    /// The `review` builtin (`step`), reading the plan with the task's environment `env`.
    fn review(
        &mut self,
        prefix: &str,
        step: &Builtin,
        env: &[(String, String)],
    ) -> Result<(), UserError> {
        let Builtin::Review {
            plan,
            out,
            rolling_update,
            target,
            json,
        } = step
        else {
            return Ok(());
        };
        let (rolling_update, target, json) = (rolling_update.as_deref(), *target, json.as_deref());
        if self.options.dry_run {
            tell!("{prefix}would review {plan} into {out}");
            return Ok(());
        }
        let cluster = self.known_cluster().map(|c| c.name);
        let args = crate::cli::ReviewArgs {
            plan: self.project.path(plan),
            format: crate::cli::ReviewFormat::Markdown,
            out: Some(self.project.path(out)),
            max_chars: None,
            target,
            // Named relative to the project: the Markdown is posted where machine paths mean nothing.
            full_report: target.map(|_| {
                crate::review::full_report_path(Path::new(out))
                    .display()
                    .to_string()
            }),
            cluster,
            rolling_update: rolling_update.map(|r| self.project.path(r)),
        };
        let json = json.map(|j| self.project.path(j));
        let code = crate::review::run(Some(self.project), &args, json.as_deref(), env)?;
        let verdict = match code {
            crate::review::EXIT_NO_CHANGES => "no changes",
            crate::review::EXIT_PROTECTED => "changes, some to PROTECTED resources",
            _ => "changes",
        };
        say!("{prefix}review of {plan} written to {out}: {verdict}");
        Ok(())
    }

    fn remove(&mut self, prefix: &str, paths: &[String]) -> Result<(), UserError> {
        for rel in paths {
            let rel = self.render_text("`remove` path", rel)?;
            let inside = crate::values::merge::inside_project(&self.project.dir, &rel)
                .ok()
                .filter(|p| p.canonicalize().ok() != self.project.dir.canonicalize().ok());
            let Some(path) = inside else {
                return Err(UserError::new(format!(
                    "{rel}: `remove` only removes files and folders inside the project folder; fix its `paths` in {}",
                    self.project.file.display()
                )));
            };
            if self.options.dry_run {
                tell!("{prefix}would remove {rel}");
                continue;
            }
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).map(|()| true),
                Ok(_) => std::fs::remove_file(&path).map(|()| true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
            .map_err(|e| UserError::new(format!("{}: cannot remove: {e}", path.display())))?;
            if removed {
                say!("{prefix}removed {rel}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_cluster_fields_render_without_the_values() {
        let fields = crate::values::context::static_fields(&ClusterDef {
            id: "dev".into(),
            config: crate::project::schema::parse("[cluster]\nname = \"n\"\nstate = \"s\"\n")
                .unwrap()
                .cluster
                .unwrap(),
            dir: "clusters/dev".into(),
            prerequisites: "1-prerequisites".into(),
            work: ".kopsform/dev".into(),
            rank: 0,
        });
        let sub = |t: &str| substitute_fields(t, "cluster", &fields);
        assert_eq!(sub("plain").as_deref(), Some("plain"));
        assert_eq!(
            sub("{{cluster.dir}}/x-{{ cluster.id }}.tfplan").as_deref(),
            Some("clusters/dev/x-dev.tfplan")
        );
        // Anything else needs the values: a helper, a block, an output, a null field.
        for t in [
            "{{cluster.name}}",
            "{{default \"x\" cluster.dir}}",
            "{{#if vpc}}a{{/if}}",
            "{{cluster.stage}}",
            "{{cluster.dir",
        ] {
            assert_eq!(sub(t), None, "{t}");
        }
    }

    #[test]
    fn commands_are_shown_quoted() {
        assert_eq!(
            display_command(
                "kops",
                &["replace".into(), "-f".into(), "a b".into()],
                Some("2-kops")
            ),
            "(cd 2-kops && kops replace -f 'a b')"
        );
    }
}

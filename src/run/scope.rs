//! One cluster's run scope: the [`Runner`] (project, options, values, redactor, snapshot, holds)
//! and the small questions every other part asks of it (which cluster, which folder, which
//! task). The files above this one add the runner's behaviour, each an `impl Runner` of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::project::task::{Step, Task};
use crate::redact::Redactor;
use crate::render::template::Renderer;
use crate::statestore::preflight;
use crate::values::context::{RunValues, SharedOutputs};

use super::folder_hold::{FolderHold, Folders};

#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    pub(crate) dry_run: bool,
    pub(crate) yes: bool,
    pub(crate) sets: Vec<String>,
    pub(crate) fail_on_update: bool,
    /// Protected addresses the user allows a plan to delete or replace.
    pub(crate) allow_destroy: Vec<String>,
    /// `--approval`: the sha256 of the only plan this run may apply (or check for protection).
    pub(crate) approved_plan: Option<String>,
    /// How long to wait for another run's cluster lock.
    pub(crate) lock_timeout: Duration,
    /// Run tasks even when they are up to date.
    pub(crate) force: bool,
    /// How many tasks of one cluster may run at once (`--jobs`); 0 or 1 runs them one by one.
    pub(crate) jobs: usize,
    /// The task parameters: as `--param` gave them until the run resolves them
    /// (`project::invocation::resolve_params`), then every declared one with its value.
    pub(crate) params: indexmap::IndexMap<String, String>,
}

pub(crate) struct Runner<'p> {
    pub(super) project: &'p Project,
    /// What the runners of this run share.
    pub(super) shared: &'p RunShared,
    pub(super) options: RunOptions,
    pub(super) renderer: Renderer,
    pub(super) redactor: Arc<Redactor>,
    pub(super) values: RunValues<'p>,
    /// The state-store snapshot this run switched to (`snapshot-state`), if any.
    pub(super) snapshot: Option<Snapshot>,
    /// The pre-flight's read-only view of the live key and secret stores (isolated runs).
    pub(super) inspector: Option<preflight::Inspector>,
    /// The Terraform states and plans whose sensitive values are known to the redactor.
    pub(super) learned: std::collections::BTreeSet<PathBuf>,
    /// The SHA-256 of the saved plan the running task sealed or checked, for the audit trail.
    pub(super) task_plan: Option<String>,
    /// Set by a `planned-outputs` step whose outputs are unknown until the prerequisites'
    /// apply: the running task's other steps are skipped, its `review` says why.
    pub(super) deferred: Option<crate::values::planned::Deferral>,
    /// The cluster this runner acts on, if the project has any.
    pub(super) cluster: Option<ClusterDef>,
    /// Shown before the task name in every line when several clusters run (`[dev/plan] `).
    pub(super) label: Option<String>,
    /// Tells this runner's folder holds from other runners'.
    pub(super) id: u64,
    /// The cluster's lock and the prerequisites layer, as `run_tasks` holds them.
    pub(super) holds: Holds<'p>,
    /// The kubeconfig the project writes for the cluster, once found (see `project_kubeconfig`).
    pub(super) kubeconfig: Option<PathBuf>,
    /// A dry run's folders by device and inode (`None`: not there), asked once each: nothing
    /// runs to change them (see [`Runner::same_dir`]).
    pub(super) dir_ids: Vec<(PathBuf, Option<(u64, u64)>)>,
}

/// What a run holds across its tasks, and which tasks need it.
#[derive(Default)]
pub(super) struct Holds<'p> {
    pub(super) locking: Vec<bool>,
    pub(super) touches: Vec<bool>,
    /// One past the last task that takes the lock, and the last that touches the prerequisites
    /// layer (0: none): from there on the hold is let go. Worked out once per run, not per task
    /// (issue 19: a scan of the rest of the list per task was quadratic).
    pub(super) locking_until: usize,
    pub(super) touching_until: usize,
    pub(super) lock: Option<crate::statestore::lock::Held>,
    pub(super) layer: Option<FolderHold<'p>>,
    /// Why the cluster's lock is left behind, when it could not be released.
    pub(super) left: Option<String>,
}

/// How a task may share time with the other tasks of its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sharing {
    /// Touches no cluster state; `reads_outputs` when its commands use the prerequisites' outputs.
    Free { reads_outputs: bool },
    /// Touches the cluster's state: one such task at a time, in task order.
    State,
    /// Runs with no other task of the cluster beside it (`parallel = false`, confirmations).
    Alone,
}

/// The state-store snapshot of an isolated run.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub(super) path: String,
    pub(super) live_state: String,
}

/// What the runners of one run share, made where the run starts: the prerequisites' outputs
/// (read once per layer and workspace, whichever cluster asks first), the holds on Terraform
/// folders, the runner ids, and the clusters locked.
#[derive(Default)]
pub(crate) struct RunShared {
    pub(super) outputs: SharedOutputs,
    pub(super) folders: Folders,
    /// Per cluster id, the cluster name and state store its run locked, as rendered then: the
    /// audit trail writes the run's records next to that lock without rendering the values of
    /// every cluster once more after the run (issue 19).
    pub(super) locked: std::sync::Mutex<Vec<(String, crate::values::context::Cluster)>>,
}

impl<'p> Runner<'p> {
    /// A runner for one cluster; `label` prefixes its lines when several clusters run.
    pub(crate) fn for_cluster(
        project: &'p Project,
        shared: &'p RunShared,
        options: RunOptions,
        cluster: Option<ClusterDef>,
        label: Option<String>,
    ) -> Self {
        Self::sharing_redactor(
            project,
            shared,
            options,
            cluster,
            label,
            Arc::new(Redactor::new(&project.config.secret_env)),
        )
    }

    /// A runner that masks what `redactor` knows (and teaches it what it learns).
    pub(super) fn sharing_redactor(
        project: &'p Project,
        shared: &'p RunShared,
        options: RunOptions,
        cluster: Option<ClusterDef>,
        label: Option<String>,
        redactor: Arc<Redactor>,
    ) -> Self {
        let mut values = RunValues::new(
            project,
            &shared.outputs,
            cluster.clone(),
            options.sets.clone(),
            Arc::clone(&redactor),
        );
        values.set_params(&options.params);
        Runner {
            project,
            shared,
            options,
            renderer: Renderer::new(),
            redactor,
            values,
            snapshot: None,
            inspector: None,
            learned: Default::default(),
            task_plan: None,
            deferred: None,
            cluster,
            label,
            id: shared.folders.next_runner_id(),
            holds: Holds::default(),
            kubeconfig: None,
            dir_ids: Vec::new(),
        }
    }

    /// The run's cluster, for steps that cannot go on without it.
    pub(super) fn require_cluster(&mut self) -> Result<crate::values::context::Cluster, UserError> {
        self.values
            .get(&self.renderer)?
            .require_cluster(self.project)
    }

    /// The run's cluster when its values can be read, for steps that only mention it.
    pub(super) fn known_cluster(&mut self) -> Option<crate::values::context::Cluster> {
        self.values
            .get(&self.renderer)
            .ok()
            .and_then(|v| v.cluster().cloned())
    }

    /// How errors name a task: ``task `plan` `` or ``cluster `dev`, task `plan` ``.
    pub(super) fn task_label(&self, task: &str) -> String {
        match &self.label {
            Some(id) => format!("cluster `{id}`, task `{task}`"),
            None => format!("task `{task}`"),
        }
    }

    pub(super) fn work_dir(&self) -> PathBuf {
        self.project.path(
            self.cluster
                .as_ref()
                .map_or(".kopsform", |c| c.work.as_str()),
        )
    }

    pub(super) fn runs_kops(&self, name: &str) -> bool {
        self.task(name)
            .steps
            .iter()
            .any(|s| matches!(s, Step::Command(c) if self.project.is_tool(&c.argv[0], "kops")))
    }

    pub(super) fn prefix(&self, task: &str) -> String {
        match &self.label {
            Some(id) => format!("[{id}/{task}] "),
            None => format!("[{task}] "),
        }
    }

    pub(super) fn task(&self, name: &str) -> &'p Task {
        &self.project.config.tasks[name]
    }

    /// [`same_dir`], each folder asked once per dry run (in which nothing runs that could make,
    /// remove or move one): a dry run of 100 tasks asked 600 times for the same two folders
    /// (issue 19). A real run asks every time.
    pub(super) fn same_dir(&mut self, a: &Path, b: &Path) -> bool {
        if !self.options.dry_run {
            return same_dir(a, b);
        }
        if a.as_os_str() == b.as_os_str() || a == b {
            return true;
        }
        // A handful of folders: a list beats hashing paths.
        let mut id = |p: &Path| {
            if let Some((_, id)) = self
                .dir_ids
                .iter()
                .find(|(q, _)| q.as_os_str() == p.as_os_str())
            {
                return *id;
            }
            use std::os::unix::fs::MetadataExt;
            let id = std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
            self.dir_ids.push((p.to_path_buf(), id));
            id
        };
        match (id(a), id(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }
}

/// The last value of `key` in a child's added environment, else kopsform's own.
pub(super) fn env_value(env: &[(String, String)], key: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(key).ok())
}

/// Whether two paths name the same folder (compared as written when either does not exist).
///
/// Asked for every command step: two `stat`s (same device and inode) rather than two
/// `canonicalize`s, which read every component of both paths as a link (issue 19: 2,705 failed
/// `readlink`s in a dry run of 100 tasks). Paths equal as written need no system call at all.
pub(super) fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if a == b {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

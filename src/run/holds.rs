//! What a run holds while tasks run: the cluster's lock in its state store (taken by the tasks
//! that change the cluster, released by `kopsform unlock`), and the prerequisites layer's folder.

use crate::error::UserError;
use crate::project::task::{Builtin, Step};
use crate::tools::kops::KopsArgs;
use crate::{notice, progress};

use super::scope::{Runner, Sharing, same_dir};

impl<'p> Runner<'p> {
    /// Whether a task takes the cluster's lock: its `lock` key, else whether it changes the
    /// cluster: kops commands that write the state store or the cloud, Terraform commands that
    /// write a state outside the prerequisites layer (whose own Terraform lock protects it).
    /// Isolated runs (`snapshot-state`) and `--dry-run` never lock.
    pub(super) fn task_locks(&mut self, name: &str) -> bool {
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
            if self.project.is_tool(&c.argv[0], "kops") {
                KopsArgs::parse(&c.argv[1..]).changes_cluster()
            } else if self.project.is_tool(&c.argv[0], "terraform") {
                let first = c.argv[1..].iter().find(|a| !a.starts_with('-'));
                let writes = first.is_some_and(|w| crate::tools::terraform::writes_state(w));
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
    pub(super) fn take_lock(
        &mut self,
        task: &str,
    ) -> Result<crate::statestore::lock::Held, UserError> {
        let cluster = self.require_cluster()?;
        let place =
            crate::statestore::lock::Place::of(&cluster.state, &cluster.name, &self.project.dir)?;
        let holder = crate::statestore::lock::Holder::new(&cluster.name, task);
        let aws = crate::statestore::store::Aws::of(self.project);
        let prefix = self.prefix(task);
        let held = crate::statestore::lock::acquire(
            &place,
            &holder,
            self.options.lock_timeout,
            &aws,
            &prefix,
        )?;
        progress!(
            "{prefix}locked cluster {} ({})",
            cluster.name,
            held.place().display()
        );
        Ok(held)
    }

    /// `kopsform unlock`: removes the cluster's lock left by a run that is gone.
    pub(crate) fn unlock(&mut self) -> Result<(), UserError> {
        let cluster = self.require_cluster()?;
        let place =
            crate::statestore::lock::Place::of(&cluster.state, &cluster.name, &self.project.dir)?;
        let aws = crate::statestore::store::Aws::of(self.project);
        match crate::statestore::lock::unlock(&place, &aws)? {
            Some(holder) => notice!(
                "released the lock of cluster {}, held by {} ({})",
                cluster.name,
                holder.describe(),
                place.display()
            ),
            None => notice!(
                "cluster {} is not locked ({})",
                cluster.name,
                place.display()
            ),
        }
        Ok(())
    }

    /// Whether a task runs a command in the prerequisites layer (judged from the folders it names
    /// without reading any output).
    pub(super) fn touches_prerequisites(&mut self, name: &str) -> bool {
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

    /// Whether a task may run beside the other tasks of its cluster. A task touches the cluster's
    /// state when it runs kops, Terraform or the aws CLI, renders a file, runs a built-in step or
    /// takes the lock: such tasks run one at a time, in task order. Other commands (linters,
    /// scripts) are free, unless the task says `parallel = false` or asks a confirmation.
    /// (`run_tasks` has worked out which tasks lock and which touch the prerequisites layer.)
    pub(super) fn sharing(&self, tasks: &[String], i: usize) -> Sharing {
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

    /// Runs task `i` of `tasks` with the cluster's lock and the prerequisites layer held as the
    /// plan needs them.
    pub(super) fn run_held(&mut self, tasks: &[String], i: usize) -> Result<bool, UserError> {
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
            self.holds.layer = Some(self.shared.folders.hold(&dir, &workspace, self.id));
        }
        self.run_task(name)
    }
}

//! What a run holds while tasks run: the cluster's lock in its state store (taken by the tasks
//! that change the cluster, released by `kopsform unlock`), and the prerequisites layer's folder.

use std::path::Path;

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
    pub(super) fn task_locks(&mut self, name: &str, layer: &Path) -> bool {
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
        task.steps.iter().any(|step| {
            if matches!(step, Step::Builtin(Builtin::PruneInstanceGroups { .. })) {
                return true;
            }
            let Step::Command(c) = step else { return false };
            if self.project.is_tool(&c.argv[0], "kops") {
                KopsArgs::parse(&c.argv[1..]).changes_cluster()
            } else if self.project.is_tool(&c.argv[0], "terraform") {
                let first = c.argv[1..].iter().find(|a| !a.starts_with('-'));
                let writes = first.is_some_and(|w| crate::tools::terraform::writes_state(w));
                let cwd = c.cwd.clone().or_else(|| task.cwd.clone());
                let in_layer = cwd
                    .and_then(|f| self.render_static(&f))
                    .is_some_and(|f| same_dir(&self.project.path(&f), layer));
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
        let aws = crate::statestore::store::Aws::of(self.project, self.cluster.as_ref());
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
        if let Some(id) = self.cluster.as_ref().map(|c| c.id.clone())
            && let Ok(mut locked) = self.shared.locked.lock()
        {
            locked.retain(|(i, _)| *i != id);
            locked.push((id, cluster));
        }
        Ok(held)
    }

    /// `kopsform unlock`: removes the cluster's lock left by a run that is gone; a holder that still
    /// runs on this host keeps it unless `force`.
    pub(crate) fn unlock(&mut self, force: bool) -> Result<(), UserError> {
        use crate::statestore::lock::{Liveness, Unlocked};
        let cluster = self.require_cluster()?;
        let place =
            crate::statestore::lock::Place::of(&cluster.state, &cluster.name, &self.project.dir)?;
        let aws = crate::statestore::store::Aws::of(self.project, self.cluster.as_ref());
        let id = self.cluster_id();
        match crate::statestore::lock::unlock(&place, &aws, force)? {
            Unlocked::Alive(holder) => {
                return Err(UserError::new(format!(
                    "cluster {} is locked by {}, which is still running on this host: the lock was left in place ({}). That run releases it when it ends; to remove the lock anyway (another run may then change the cluster beside it), pass --force: kopsform unlock --cluster {id} --force",
                    cluster.name,
                    holder.describe(),
                    place.display()
                )));
            }
            Unlocked::Released(holder, liveness) => {
                let why = match liveness {
                    Liveness::Gone => "its process no longer runs on this host",
                    Liveness::Elsewhere => {
                        "a run on another host, which kopsform cannot check is gone"
                    }
                    Liveness::Alive => "still running on this host; removed with --force",
                };
                notice!(
                    "released the lock of cluster {}, held by {} ({why}) ({})",
                    cluster.name,
                    holder.describe(),
                    place.display()
                );
            }
            Unlocked::NotLocked => notice!(
                "cluster {} is not locked ({})",
                cluster.name,
                place.display()
            ),
        }
        Ok(())
    }

    /// The id `--cluster` selects this runner's cluster by (`default` for a lone `[cluster]`).
    fn cluster_id(&self) -> String {
        self.cluster
            .as_ref()
            .map_or_else(|| "ID".to_string(), |c| c.id.clone())
    }

    /// Releases the cluster's lock when this runner holds it. A lock that cannot be released (the
    /// store unreachable) is a warning naming `kopsform unlock`, and is remembered: the run then
    /// ends with `exit::LOCK_LEFT` if nothing else failed.
    pub(super) fn release_lock(&mut self) {
        let Some(held) = self.holds.lock.take() else {
            return;
        };
        let place = held.place().display();
        if let Err(e) = held.release() {
            let name = self
                .known_cluster()
                .map_or_else(|| self.cluster_id(), |c| c.name);
            let left = format!(
                "the lock of cluster {name} could not be released and is left behind ({place}): {}. Once the state store is reachable, release it with `kopsform unlock --cluster {}`",
                e.message,
                self.cluster_id()
            );
            notice!("warning: {left}");
            self.holds.left = Some(left);
        }
    }

    /// Whether a task runs a command in the prerequisites layer (judged from the folders it names
    /// without reading any output).
    pub(super) fn touches_prerequisites(&mut self, name: &str, layer: &Path) -> bool {
        let task = self.task(name);
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
                .is_some_and(|f| same_dir(&self.project.path(&f), layer))
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
        if i >= self.holds.locking_until {
            self.release_lock();
        }
        if i >= self.holds.touching_until {
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

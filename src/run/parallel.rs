//! A cluster's tasks side by side (`--jobs` above one): the tasks that touch the cluster's state
//! stay on the cluster's runner, in order; free tasks get runners of their own on worker threads.

use std::sync::Arc;
use std::time::Instant;

use crate::project::order::TaskOrder;
use crate::tools::process;

use super::outcome::Outcome;
use super::schedule::Schedule;
use super::scope::{Runner, Sharing};

impl<'p> Runner<'p> {
    /// Runs the tasks of `plan` as their dependencies allow, at most `jobs` at a time: tasks
    /// that touch the cluster's state on this runner in task order, free tasks each on a runner of
    /// their own. Once a task failed or the run was interrupted, nothing more starts.
    pub(super) fn run_parallel(
        &mut self,
        order: &TaskOrder,
        sharing: &[Sharing],
    ) -> Vec<Option<Outcome>> {
        let jobs = self.options.jobs;
        let touches = self.holds.touches.clone();
        let project = self.project;
        let shared = self.shared;
        let options = self.options.clone();
        let redactor = Arc::clone(&self.redactor);
        let cluster = self.cluster.clone();
        let label = self.label.clone();
        let mut schedule = Schedule::new(order, sharing, &touches);
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
                    schedule.start(i);
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
                                shared,
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
                if let Some(runner) = runner {
                    snapshot.clone_from(&runner.snapshot);
                    main = Some(runner);
                }
                stopped = stopped || outcome.result.is_err();
                schedule.finish(i, outcome);
            }
        });
        schedule.outcomes
    }
}

//! Which task may start next when a cluster's tasks run in parallel (`--jobs`): pure bookkeeping
//! over the task order, no processes.
//!
//! `next` is asked once per start and once per finish, so it must not scan the task list: a run of
//! n tasks would cost n² (issue 19: 1,000 tasks took 11.5 M instructions here). The schedule keeps
//! indexes instead, each updated when a task starts or finishes: how many dependencies of each task
//! are still open, the tasks that may start by their dependencies (free tasks in two ordered sets),
//! the first stateful task not started, and how long the prefix of finished tasks is (the
//! barriers of the tasks named on the command line). `next` then looks at three candidates.

use std::collections::BTreeSet;

use crate::project::order::TaskOrder;

use super::outcome::Outcome;
use super::scope::Sharing;

/// Which task of a parallel run may start next (docs/clusters.md, "Parallel tasks").
pub(super) struct Schedule<'a> {
    order: &'a TaskOrder,
    sharing: &'a [Sharing],
    /// The tasks that run in the prerequisites layer.
    touches: &'a [bool],
    started: Vec<bool>,
    /// The tasks that finished, as they ended.
    pub(super) outcomes: Vec<Option<Outcome>>,
    pub(super) running: Vec<usize>,
    /// For each task, how many of its dependencies have not finished.
    open_deps: Vec<usize>,
    /// For each task, the tasks that depend on it.
    dependents: Vec<Vec<usize>>,
    /// Free tasks not started whose dependencies have finished, without and with a read of the
    /// prerequisites' outputs.
    free_ready: BTreeSet<usize>,
    reading_ready: BTreeSet<usize>,
    /// The first task that is not free and not started (`order.tasks.len()` when none is left):
    /// such tasks start in task order, so this only moves forward.
    first_stateful: usize,
    /// How many tasks from the first have all finished.
    finished_prefix: usize,
    /// How many candidates `next` has looked at, over the run (a test pins it as linear).
    looked_at: usize,
}

impl<'a> Schedule<'a> {
    pub(super) fn new(
        order: &'a TaskOrder,
        sharing: &'a [Sharing],
        touches: &'a [bool],
    ) -> Schedule<'a> {
        let n = order.tasks.len();
        let mut dependents = vec![Vec::new(); n];
        for (i, deps) in order.deps.iter().enumerate() {
            for &d in deps {
                dependents[d].push(i);
            }
        }
        let mut schedule = Schedule {
            order,
            sharing,
            touches,
            started: vec![false; n],
            outcomes: (0..n).map(|_| None).collect(),
            running: Vec::new(),
            open_deps: order.deps.iter().map(Vec::len).collect(),
            dependents,
            free_ready: BTreeSet::new(),
            reading_ready: BTreeSet::new(),
            first_stateful: 0,
            finished_prefix: 0,
            looked_at: 0,
        };
        for i in 0..n {
            if schedule.open_deps[i] == 0 {
                schedule.deps_done(i);
            }
        }
        schedule.advance_first_stateful();
        schedule
    }

    /// The first task that may start now; `stateful` says whether the cluster's runner is free.
    pub(super) fn next(&mut self, stateful: bool) -> Option<usize> {
        let running = |what: &dyn Fn(usize) -> bool| self.running.iter().any(|&r| what(r));
        if running(&|r| self.sharing[r] == Sharing::Alone) {
            return None;
        }
        let reading = Sharing::Free {
            reads_outputs: true,
        };
        // Tasks that touch the state start in task order, one at a time: only the first one can.
        let s = self.first_stateful;
        let stateful_candidate = (s < self.started.len() && self.ready(s))
            .then_some(s)
            .filter(|&i| match self.sharing[i] {
                Sharing::Alone => self.running.is_empty(),
                Sharing::State => {
                    stateful && !(self.touches[i] && running(&|r| self.sharing[r] == reading))
                }
                Sharing::Free { .. } => false,
            });
        // Free tasks: the first whose barrier allows it (barriers grow along the order, so a
        // later one would not be allowed either).
        let first_free = self.free_ready.first().copied();
        let first_reading = self
            .reading_ready
            .first()
            .copied()
            .filter(|_| !running(&|r| self.touches[r]));
        let candidates = [stateful_candidate, first_free, first_reading];
        self.looked_at += candidates.len();
        candidates
            .into_iter()
            .flatten()
            .filter(|&i| self.order.barrier[i] <= self.finished_prefix)
            .min()
    }

    /// Task `i` starts.
    pub(super) fn start(&mut self, i: usize) {
        self.started[i] = true;
        self.running.push(i);
        self.free_ready.remove(&i);
        self.reading_ready.remove(&i);
        self.advance_first_stateful();
    }

    /// Task `i` ended with `outcome`.
    pub(super) fn finish(&mut self, i: usize, outcome: Outcome) {
        self.running.retain(|&r| r != i);
        self.outcomes[i] = Some(outcome);
        while self.finished_prefix < self.outcomes.len()
            && self.outcomes[self.finished_prefix].is_some()
        {
            self.finished_prefix += 1;
        }
        for k in 0..self.dependents[i].len() {
            let d = self.dependents[i][k];
            self.open_deps[d] -= 1;
            if self.open_deps[d] == 0 {
                self.deps_done(d);
            }
        }
    }

    /// Not started, everything it waits for has finished.
    fn ready(&self, i: usize) -> bool {
        !self.started[i] && self.open_deps[i] == 0 && self.order.barrier[i] <= self.finished_prefix
    }

    /// Task `i`'s dependencies have all finished: a free task joins its ready set.
    fn deps_done(&mut self, i: usize) {
        match self.sharing[i] {
            Sharing::Free {
                reads_outputs: false,
            } => {
                self.free_ready.insert(i);
            }
            Sharing::Free {
                reads_outputs: true,
            } => {
                self.reading_ready.insert(i);
            }
            Sharing::State | Sharing::Alone => {}
        }
    }

    fn advance_first_stateful(&mut self) {
        while self.first_stateful < self.started.len()
            && (self.started[self.first_stateful]
                || matches!(self.sharing[self.first_stateful], Sharing::Free { .. }))
        {
            self.first_stateful += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn order(n: usize, deps: impl Fn(usize) -> Vec<usize>, barrier: Vec<usize>) -> TaskOrder {
        TaskOrder {
            tasks: (0..n).map(|i| format!("t{i}")).collect(),
            deps: (0..n).map(deps).collect(),
            barrier,
        }
    }

    fn done() -> Outcome {
        Outcome {
            result: Ok(false),
            took: Duration::ZERO,
            plan: None,
        }
    }

    /// Runs the schedule to its end with `jobs` at a time, the oldest running task finishing
    /// after each round of starts: the start order, and how many candidates `next` looked
    /// at.
    fn simulate(order: &TaskOrder, sharing: &[Sharing], jobs: usize) -> (Vec<usize>, usize) {
        let touches = vec![false; order.tasks.len()];
        let mut s = Schedule::new(order, sharing, &touches);
        let mut starts = Vec::new();
        loop {
            while s.running.len() < jobs {
                // The cluster's runner is free when no task that needs it runs.
                let runner_free = s
                    .running
                    .iter()
                    .all(|&r| matches!(sharing[r], Sharing::Free { .. }));
                let Some(i) = s.next(runner_free) else { break };
                s.start(i);
                starts.push(i);
            }
            let Some(&first) = s.running.first() else {
                break;
            };
            s.finish(first, done());
        }
        (starts, s.looked_at)
    }

    /// The tasks of bench/fixtures.py: task i needs i-1 and i-10.
    fn chain(n: usize) -> TaskOrder {
        order(
            n,
            |i| [1, 10].iter().filter_map(|&k| i.checked_sub(k)).collect(),
            vec![0; n],
        )
    }

    #[test]
    fn free_tasks_start_in_order_and_the_dependencies_hold() {
        let o = order(4, |i| if i == 3 { vec![0] } else { vec![] }, vec![0; 4]);
        let free = vec![
            Sharing::Free {
                reads_outputs: false
            };
            4
        ];
        let (starts, _) = simulate(&o, &free, 2);
        assert_eq!(starts, [0, 1, 2, 3]);
        // Stateful tasks run one at a time, in task order, free ones beside them.
        let mixed = [
            Sharing::State,
            Sharing::State,
            Sharing::Free {
                reads_outputs: false,
            },
            Sharing::State,
        ];
        let (starts, _) = simulate(&o, &mixed, 3);
        assert_eq!(starts, [0, 2, 1, 3]);
    }

    #[test]
    fn a_barrier_waits_for_every_task_before_it() {
        // `kopsform a b`: b's tasks (2, 3) wait for all of a's (0, 1), though free.
        let o = order(4, |_| vec![], vec![0, 0, 2, 2]);
        let touches = vec![false; 4];
        let free = vec![
            Sharing::Free {
                reads_outputs: false
            };
            4
        ];
        let mut s = Schedule::new(&o, &free, &touches);
        assert_eq!(s.next(true), Some(0));
        s.start(0);
        assert_eq!(s.next(true), Some(1));
        s.start(1);
        assert_eq!(s.next(true), None);
        s.finish(1, done());
        assert_eq!(s.next(true), None);
        s.finish(0, done());
        assert_eq!(s.next(true), Some(2));
    }

    /// Issue 19: `next` scanned the whole task list on every call, n² over a run.
    #[test]
    fn issue_19_the_schedule_looks_at_a_constant_number_of_tasks_per_start() {
        for sharing in [
            Sharing::State,
            Sharing::Free {
                reads_outputs: false,
            },
        ] {
            let (starts_1000, looked_1000) = simulate(&chain(1000), &vec![sharing; 1000], 2);
            let (starts_3000, looked_3000) = simulate(&chain(3000), &vec![sharing; 3000], 2);
            assert_eq!(starts_1000, (0..1000).collect::<Vec<_>>());
            assert_eq!(starts_3000.len(), 3000);
            // Two calls per task (one that starts it, one that finds nothing more), 3 candidates each.
            assert!(looked_1000 <= 6 * 1000 + 6, "{looked_1000}");
            assert!(looked_3000 <= 6 * 3000 + 6, "{looked_3000}");
        }
    }
}

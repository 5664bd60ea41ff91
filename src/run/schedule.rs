//! Which task may start next when a cluster's tasks run in parallel (`--jobs`): pure bookkeeping
//! over the task order, no processes.

use crate::project::order::TaskOrder;

use super::outcome::Outcome;
use super::scope::Sharing;

/// Which task of a parallel run may start next (docs/clusters.md, "Parallel tasks").
pub(super) struct Schedule<'a> {
    pub(super) order: &'a TaskOrder,
    pub(super) sharing: &'a [Sharing],
    /// The tasks that run in the prerequisites layer.
    pub(super) touches: &'a [bool],
    pub(super) started: Vec<bool>,
    /// The tasks that finished, as they ended.
    pub(super) outcomes: Vec<Option<Outcome>>,
    pub(super) running: Vec<usize>,
}

impl Schedule<'_> {
    /// The first task that may start now; `stateful` says whether the cluster's runner is free.
    pub(super) fn next(&self, stateful: bool) -> Option<usize> {
        let running = |what: &dyn Fn(usize) -> bool| self.running.iter().any(|&r| what(r));
        if running(&|r| self.sharing[r] == Sharing::Alone) {
            return None;
        }
        // Tasks that touch the state start in task order, one at a time.
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
    pub(super) fn ready(&self, i: usize) -> bool {
        let done = |d: usize| self.outcomes[d].is_some();
        !self.started[i]
            && (0..self.order.barrier[i]).all(done)
            && self.order.deps[i].iter().all(|&d| done(d))
    }
}

//! One run: which clusters, in which order, each cluster's tasks and steps. In: the project, the
//! task order and the run options. Out: the children started through `tools`, task results, the
//! summary and the audit trail.

pub mod audit;
pub mod fleet;
pub mod runner;
pub mod uptodate;

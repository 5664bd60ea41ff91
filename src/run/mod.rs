//! One run: which clusters, in which order, each cluster's tasks and steps. In: the project, the
//! task order and the run options. Out: the children started through `tools`, task results, the
//! summary and the audit trail.
//!
//! Bottom to top, each file using only those before it in this list: `outcome` (how tasks ended),
//! `folder_hold`, `scope` (the `Runner` and its run scope), then `holds` (locks, layers),
//! `isolation` (snapshot, pre-flight) and `uptodate` (fingerprints), `command` (a command step),
//! `builtins`, `runner` (task and step dispatch), `schedule` (pure), `parallel`, `fleet` (clusters
//! and stages) and `audit`.

pub mod audit;
pub mod builtins;
pub mod command;
pub mod fleet;
pub mod folder_hold;
pub mod holds;
pub mod isolation;
pub mod outcome;
pub mod parallel;
pub mod runner;
pub mod schedule;
pub mod scope;
pub mod uptodate;

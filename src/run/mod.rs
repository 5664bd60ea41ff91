//! One run: which clusters, in which order, each cluster's tasks and steps. In: the project, the
//! task order and the run options. Out: the children started through `tools`, task results, the
//! summary and the audit trail.
//!
//! Bottom to top, each file using only those before it in this list: `outcome` (how tasks ended),
//! `folder_hold`, `scope` (the `Runner` and its run scope), then `holds` (locks, layers),
//! `isolation` (snapshot, pre-flight) and `uptodate` (fingerprints), `environment` (what a step
//! sees: rendered texts, its environment, learnt secrets), `reports` (kops's verdicts),
//! `timestamps` (what `kops replace` keeps), `plugin_cache` (the shared provider cache and
//! its lock), `command` (a command step),
//! `builtins`, `drift` (what changed behind kopsform's back), `runner` (task and step dispatch),
//! `exec` (one command in a cluster's environment), `schedule` (pure), `parallel`, `audit` (the
//! trail) and `fleet` (clusters and stages).

pub(crate) mod audit;
pub(crate) mod builtins;
pub(crate) mod command;
pub(crate) mod drift;
pub(crate) mod environment;
pub(crate) mod exec;
pub(crate) mod fleet;
pub(crate) mod folder_hold;
pub(crate) mod holds;
pub(crate) mod isolation;
pub(crate) mod outcome;
pub(crate) mod parallel;
pub(crate) mod plugin_cache;
pub(crate) mod reports;
pub(crate) mod runner;
pub(crate) mod schedule;
pub(crate) mod scope;
pub(crate) mod timestamps;
pub(crate) mod uptodate;

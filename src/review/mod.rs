//! `kopsform review`: a Terraform plan as a pull-request comment (Markdown) or as JSON for tools.
//!
//! The plan is read and stripped of secrets by `plan`; this module decides what matters and in what
//! order. Risk comes first: the headline Terraform would print, then every object that is destroyed
//! or replaced, with Terraform's reason in words and the attributes that force a replacement, and
//! protected resources (etcd volumes, buckets, DNS zones, control-plane groups, plus the
//! `[review] protect` rules of tasks.toml) flagged loudly. The rest (a table per resource type,
//! drift, outputs, collapsed details, variables) follows and is what a size budget cuts, whole
//! items at a time, saying what was left out and where the full report is.
//!
//! The output is a pure function of the plan and the arguments (no clock, no environment), so CI
//! can compare reviews byte for byte. The format and the JSON schema are documented in
//! docs/review.md. `apply` refuses protected deletions through [`effective_rules`](protect::effective_rules) and
//! [`protected_changes`](protect::protected_changes).

pub(crate) mod filediff;
#[cfg(test)]
pub(crate) mod fixtures;
pub(crate) mod json;
pub(crate) mod markdown;
pub(crate) mod policy;
pub(crate) mod protect;
pub(crate) mod report;
pub(crate) mod request;
pub(crate) mod spec;
pub(crate) mod words;

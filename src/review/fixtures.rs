//! Test plans for the review's unit tests: a summary of resource changes written in one line each.

use crate::plan;
use crate::plan::summary::PlanSummary;

/// The summary of a plan with these resource changes (JSON objects, comma-separated).
pub(crate) fn summary(changes: &str) -> PlanSummary {
    plan::read::summarize(&format!(
        r#"{{"format_version":"1.2","applyable":true,"resource_changes":[{changes}]}}"#
    ))
    .unwrap()
}

/// A managed resource change at `address` with Terraform's `actions` (a JSON array).
pub(crate) fn rc(address: &str, actions: &str) -> String {
    let (ty, name) = address.rsplit_once('.').unwrap();
    let ty = ty.rsplit('.').next().unwrap();
    format!(
        r#"{{"address":"{address}","mode":"managed","type":"{ty}","name":"{name}","change":{{"actions":{actions}}}}}"#
    )
}

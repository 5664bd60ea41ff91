//! What kops printed, as a verdict: the instance groups a rolling update would roll (and
//! `--fail-on-update`), the cloud resources `kops delete cluster` would delete.

use crate::error::UserError;
use crate::tools::kops;
use crate::{notice, progress};

pub(super) fn report_rolling_update(
    prefix: &str,
    stdout: &str,
    dry_run: bool,
    fail_on_update: bool,
) -> Result<(), UserError> {
    let groups = match kops::parse_rolling_update(stdout) {
        Some(Ok(groups)) => groups,
        Some(Err(e)) => return Err(UserError::new(format!("cannot read kops's output: {e}"))),
        None => {
            if fail_on_update {
                return Err(UserError::new(
                    "kops printed no rolling-update table (NAME STATUS NEEDUPDATE ...), so kopsform cannot tell whether an update is needed",
                ));
            }
            progress!("{prefix}kops printed no rolling-update table; nothing to report");
            return Ok(());
        }
    };
    let needing = kops::needing_update(&groups, str::to_string);
    if needing.is_empty() {
        notice!(
            "{prefix}no instance group needs an update ({} checked)",
            groups.len()
        );
        return Ok(());
    }
    let verb = if dry_run { "need" } else { "needed" };
    notice!(
        "{prefix}{} of {} instance groups {verb} an update: {}",
        needing.len(),
        groups.len(),
        needing.join(", ")
    );
    if dry_run && fail_on_update {
        return Err(UserError::with_code(
            "instance groups need a rolling update (--fail-on-update); run the rolling update with --yes",
            crate::error::exit::CHANGES,
        ));
    }
    Ok(())
}

pub(super) fn report_delete_cluster(
    prefix: &str,
    stdout: &str,
    dry_run: bool,
    state: Option<&str>,
) -> Result<(), UserError> {
    let resources = kops::parse_delete_listing(stdout)
        .map_err(|e| UserError::new(format!("cannot read kops's output: {e}")))?;
    let state = state.unwrap_or("the state store");
    if !dry_run {
        notice!(
            "{prefix}kops deleted {} cloud resources and the cluster's objects in {state}",
            resources.len()
        );
        return Ok(());
    }
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for r in &resources {
        match kinds.iter_mut().find(|(k, _)| *k == r.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((r.kind.clone(), 1)),
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    if resources.is_empty() {
        notice!(
            "{prefix}kops lists no cloud resources left for this cluster; --yes removes its objects from {state}"
        );
    } else {
        notice!(
            "{prefix}--yes would delete {} cloud resources ({}) and the cluster's objects in {state}",
            resources.len(),
            kinds.join(", ")
        );
        notice!(
            "{prefix}--unregister would remove only the objects in {state}: the {} resources above would keep running (and costing) with no kops state left to manage or delete them",
            resources.len()
        );
    }
    Ok(())
}

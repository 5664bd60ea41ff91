//! `kopsform doctor`: is this machine ready to run the project's tasks? (docs/doctor.md)
//!
//! One line per check, then a verdict; exit 0 when nothing blocks, 1 when something does. The
//! checks only read: every tool the tasks run is found and, for the tools kopsform knows, its
//! version is in the supported range (each binary asked once per run); each cluster's pinned tool
//! versions, the binaries it runs and the kops version its state store records; the Kubernetes version of
//! each cluster against what its kops supports; which of tasks.toml's env kopsform's own calls
//! get (names only); that AWS credentials are there (which source,
//! never a value); and that each cluster's state store can be listed (S3) or exists / can be
//! created (a local folder); that each cluster's template renders with its values into a manifest
//! kops would take. Nothing is written: no lock, no file, no object.

mod cluster_tools;
mod credentials;
mod kubernetes;
mod report;
mod session;
mod stores;
mod template;
mod tools;
mod versions;

use report::Report;
use session::Doctor;
use versions::Kind;

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::Selection;
use crate::tools::process::locate;

/// `kopsform doctor`: checks the project (the selected clusters, or all of them) and prints the
/// report. Returns an error carrying only exit status 1 when something blocks.
pub(crate) fn run(
    project: &Project,
    selection: &Selection,
    sets: &[String],
    json: bool,
) -> Result<(), UserError> {
    let chosen = !selection.clusters.is_empty() || !selection.stages.is_empty() || selection.all;
    let clusters = if !chosen {
        project.clusters.clone()
    } else {
        project.select_clusters(selection)?
    };
    let mut doctor = Doctor::new(project, clusters, sets.to_vec());
    let report = doctor.report();
    let text = if json {
        let mut text = serde_json::to_string_pretty(&report)
            .map_err(|e| UserError::new(format!("cannot write the report as JSON: {e}")))?;
        text.push('\n');
        text
    } else {
        report.text()
    };
    print!("{text}");
    if report.blocking {
        // An empty message carries only the exit status: the report said it all.
        Err(UserError::with_code(
            String::new(),
            crate::error::exit::FAILURE,
        ))
    } else {
        Ok(())
    }
}

impl Doctor<'_> {
    fn report(&mut self) -> Report {
        let mut checks = Vec::new();
        let tools = self.needed_tools(&mut checks);
        for (program, needed) in &tools {
            checks.push(self.tool_check(program, needed));
        }
        let kops = tools
            .iter()
            .find(|(_, n)| n.kind == Kind::Kops)
            .map(|(p, _)| p.clone());
        // Without a kops binary there is nothing to compare (its own line says so).
        if let Some(kops) = kops.filter(|k| locate(k).is_some()) {
            for def in self.clusters.clone() {
                // A cluster with a kops version of its own is judged by that kops.
                let kops = match self.project.wanted_version("kops", Some(&def)) {
                    Some(_) => self.project.tool_binary("kops", Some(&def)).program,
                    None => kops.clone(),
                };
                checks.push(self.skew_check(&def, &kops));
            }
        }
        for def in self.clusters.clone() {
            checks.extend(self.cluster_tools_check(&def));
        }
        for def in self.clusters.clone() {
            checks.extend(self.template_check(&def));
        }
        for def in self.clusters.clone() {
            checks.extend(self.env_check(&def));
        }
        checks.extend(self.credentials_check(&tools));
        for def in self.clusters.clone() {
            checks.push(self.state_store_check(&def));
        }
        for check in &mut checks {
            check.detail = self.redactor.mask(&check.detail);
        }
        Report::new(checks)
    }
}

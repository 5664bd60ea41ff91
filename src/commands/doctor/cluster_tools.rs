//! Each cluster's tool versions (issue 22): the version each pinned tool must have for the
//! cluster (its own `tools`, its stage's `[stage-tools]`, `[tools]`), the binary the cluster's
//! steps run and the version it reports, and the kops version the cluster's state store records:
//! `kops-version.txt` in the cluster's configBase (`<state>/<name>` by default), the ManagedFile
//! kops writes at each `update cluster` (kops 1.36: upup/pkg/fi/cloudup/apply_cluster.go, its
//! location `registry.PathKopsVersionUpdated` of pkg/apis/kops/registry) and reads for its
//! downgrade check ("The cluster was last updated by kops version X"). In: a cluster. Out: its
//! `tools` check.

use crate::project::cluster::ClusterDef;
use crate::statestore::store::{self, Store};
use crate::tools::version::numbers;

use super::report::{Check, Status};
use super::session::Doctor;

/// The file of the kops version in a cluster's configBase.
const KOPS_VERSION_FILE: &str = "kops-version.txt";

impl Doctor<'_> {
    /// The `tools` check of the cluster `def`, when anything pins a tool version for it.
    pub(super) fn cluster_tools_check(&mut self, def: &ClusterDef) -> Option<Check> {
        let project = self.project;
        let env = crate::values::context::own_env_pairs(project, Some(def));
        let mut parts = Vec::new();
        let mut problems = Vec::new();
        let mut kops_found: Option<String> = None;
        for tool in crate::project::pins::PINNABLE {
            let Some(wanted) = project.wanted_version(tool.name, Some(def)) else {
                continue;
            };
            let binary = project.tool_binary(tool.name, Some(def));
            let shown = crate::project::tool_versions::located(&binary.program);
            match crate::project::pins::found(tool.name, &binary.program, &project.dir, &env) {
                Ok(found) => {
                    parts.push(format!(
                        "{} {} ({}): {shown} is {} {found}",
                        tool.name, wanted.version, wanted.from, tool.name
                    ));
                    if tool.name == "kops" {
                        kops_found = Some(found);
                    }
                }
                Err(_) => parts.push(format!(
                    "{} {} ({}): {shown}",
                    tool.name, wanted.version, wanted.from
                )),
            }
            if let Some(problem) = project.tool_mismatch(tool.name, Some(def), &env) {
                problems.push(problem);
            }
        }
        if parts.is_empty() {
            return None;
        }
        let name = self.check_name("tools", def);
        parts[0] = format!("cluster {}: {}", def.id, parts[0]);
        let (recorded, note) = self.recorded_kops_version(def);
        parts.push(note);
        if !problems.is_empty() {
            return Some(Check {
                name,
                status: Status::Fail,
                detail: format!("{}; {}", problems.join("; "), parts[1..].join("; ")),
            });
        }
        // kops refuses to update a cluster a newer kops updated last, unless told to.
        let newer = match (&recorded, &kops_found) {
            (Some(recorded), Some(found)) => numbers(recorded)
                .zip(numbers(found))
                .is_some_and(|(r, f)| r > f),
            _ => false,
        };
        if newer {
            let (recorded, found) = (recorded.unwrap_or_default(), kops_found.unwrap_or_default());
            parts.push(format!(
                "kops {found} refuses to update a cluster kops {recorded} updated last (its downgrade check; --allow-kops-downgrade overrides it): pin kops {recorded} or later for this cluster"
            ));
            return Some(Check {
                name,
                status: Status::Warn,
                detail: parts.join("; "),
            });
        }
        Some(Check {
            name,
            status: Status::Ok,
            detail: parts.join("; "),
        })
    }

    /// The kops version the cluster's state store records, and the words that say so (or why it
    /// is not known).
    fn recorded_kops_version(&mut self, def: &ClusterDef) -> (Option<String>, String) {
        let (state, name) = if def.config.state.contains("{{") || def.config.name.contains("{{") {
            match self
                .values(def)
                .and_then(|values| values.require_cluster(self.project))
            {
                Ok(cluster) => (cluster.state, cluster.name),
                Err(_) => {
                    return (
                        None,
                        "the state store's kops version: unknown until the prerequisites are applied"
                            .to_string(),
                    );
                }
            }
        } else {
            (
                def.config.state.trim().to_string(),
                def.config.name.trim().to_string(),
            )
        };
        // A Cluster stored with its own `spec.configBase` keeps its files there, not under
        // `<state>/<name>` (kops 1.36: pkg/apis/kops/registry, `ConfigBase`).
        let config = self.read_store_file(def, &state, &format!("{name}/config"));
        let base = config
            .as_deref()
            .and_then(|text| serde_yaml::from_str::<serde_yaml::Value>(text).ok())
            .and_then(|cluster| {
                cluster
                    .get("spec")
                    .and_then(|spec| spec.get("configBase"))
                    .and_then(serde_yaml::Value::as_str)
                    .map(|base| base.trim().to_string())
            })
            .filter(|base| !base.is_empty());
        let (store, rel) = match base {
            Some(base) => (base, KOPS_VERSION_FILE.to_string()),
            None => (state, format!("{name}/{KOPS_VERSION_FILE}")),
        };
        let shown = format!("{}/{rel}", store.trim_end_matches('/'));
        let text = self.read_store_file(def, &store, &rel);
        match text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
            Some(version) => (
                Some(version.clone()),
                format!("the state store records kops {version} ({shown})"),
            ),
            None => (
                None,
                format!(
                    "the state store records no kops version yet ({shown}: written by `kops update cluster`)"
                ),
            ),
        }
    }

    /// The text of the object `rel` in the store `state` (a local folder or `s3://`), if it
    /// can be read.
    fn read_store_file(&mut self, def: &ClusterDef, state: &str, rel: &str) -> Option<String> {
        match Store::parse(state, &self.project.dir) {
            Ok(Store::Local(path)) => std::fs::read_to_string(path.join(rel)).ok(),
            Ok(Store::S3 { bucket, prefix }) => {
                let mut aws = store::Aws::of(self.project, Some(def));
                aws.program = self.program("aws");
                let url = format!("s3://{bucket}/{}", Store::key(&prefix, rel));
                match store::aws(&aws, &["s3", "cp", &url, "-", "--only-show-errors"]) {
                    Ok(out) if out.code == 0 => Some(String::from_utf8_lossy(&out.stdout).into()),
                    _ => None,
                }
            }
            Err(_) => None,
        }
    }
}

//! Each cluster's state store, read only: an S3 bucket that can be listed (with the aws CLI), or
//! a local folder that exists or can be created, with a warning when a task runs
//! `kops update cluster --target terraform`, which real kops cannot do on a local configBase
//! (docs/doctor.md). In: a cluster. Out: its `state-store` check.

use std::path::Path;

use crate::project::cluster::ClusterDef;
use crate::project::task::Step;
use crate::statestore::store::{self, Store};
use crate::tools::kops::{KopsArgs, feature_flag};
use crate::tools::process;

use super::report::{Check, Status};
use super::session::Doctor;

impl Doctor<'_> {
    pub(super) fn state_store_check(&mut self, def: &ClusterDef) -> Check {
        let name = self.check_name("state-store", def);
        let check = |status, detail| Check {
            name: name.clone(),
            status,
            detail,
        };
        let state = if def.config.state.contains("{{") {
            let resolved = self
                .values(def)
                .and_then(|values| values.require_cluster(self.project));
            match resolved {
                Ok(cluster) => cluster.state,
                Err(e) => {
                    let first = e.message.lines().next().unwrap_or_default();
                    let first = first.trim_end_matches(':');
                    return check(
                        Status::Warn,
                        format!(
                            "state store `{}`: unknown until the prerequisites are applied ({first})",
                            def.config.state
                        ),
                    );
                }
            }
        } else {
            def.config.state.trim().to_string()
        };
        let store = match Store::parse(&state, &self.project.dir) {
            Ok(store) => store,
            Err(e) => return check(Status::Fail, e.message),
        };
        match store {
            Store::S3 { bucket, prefix } => {
                // With tasks.toml's env, as kopsform's lock and snapshot run it.
                let mut aws = store::Aws::of(self.project, Some(def));
                aws.program = self.program("aws");
                let key_prefix = Store::key(&prefix, "");
                let mut args = vec!["s3api", "list-objects-v2", "--bucket", &bucket];
                if !key_prefix.is_empty() {
                    args.extend(["--prefix", &key_prefix]);
                }
                args.extend(["--max-items", "1", "--output", "json"]);
                match store::aws(&aws, &args) {
                    Ok(process::Output { code: 0, .. }) => check(
                        Status::Ok,
                        format!("state store {state} can be listed (read-only check)"),
                    ),
                    Ok(process::Output { code, stderr, .. }) => {
                        let tail = process::last_lines(&stderr, 3).join(" / ");
                        check(
                            Status::Fail,
                            format!(
                                "state store {state}: `aws s3api list-objects-v2` failed with status {code}: {tail}; check that the bucket exists (the prerequisites layer creates it), that the credentials may list it (s3:ListBucket), and S3_ENDPOINT or AWS_ENDPOINT_URL_S3 when it is not AWS"
                            ),
                        )
                    }
                    Err(e) => check(Status::Fail, format!("state store {state}: {}", e.message)),
                }
            }
            Store::Local(path) => {
                let found = local_store(&state, &path, check);
                match (found.status, self.terraform_managed_files(def)) {
                    (Status::Ok, Some(task)) => check(
                        Status::Warn,
                        format!(
                            "{}; but real kops cannot use a local state store with `kops update cluster --target terraform` (task `{task}`): its configBase (`<state>/<cluster>` unless spec.configBase names another place) holds the managed files, which kops renders into Terraform only for a path that can render there, s3:// (kops 1.36: upup/pkg/fi/fitasks/managedfile.go, `RenderTerraform`), so kops retries for 10 minutes and fails, after writing keys and secrets; use an s3:// state store (or spec.configBase), or KOPS_FEATURE_FLAGS=-TerraformManagedFiles, with which kops writes the files itself (the kops double of the tests allows it unless KOPS_DOUBLE_STRICT=1)",
                            found.detail
                        ),
                    ),
                    _ => found,
                }
            }
        }
    }

    /// The first task with a `kops update cluster --target terraform` step whose kops renders its
    /// managed files into Terraform: the feature flag `TerraformManagedFiles` (on by default,
    /// kops 1.36: pkg/featureflag/featureflag.go) not turned off by the `KOPS_FEATURE_FLAGS` the
    /// step sees (its env, the task's, the cluster's, `[env]`, then kopsform's own).
    fn terraform_managed_files(&self, def: &ClusterDef) -> Option<String> {
        let process = std::env::var("KOPS_FEATURE_FLAGS").ok();
        self.project.config.tasks.iter().find_map(|(name, task)| {
            task.steps.iter().find_map(|step| {
                let Step::Command(c) = step else { return None };
                if !self.project.is_tool(&c.argv[0], "kops") {
                    return None;
                }
                let args = KopsArgs::parse(&c.argv[1..]);
                if args.verb() != "update" || args.target.as_deref() != Some("terraform") {
                    return None;
                }
                let flags = [&c.env, &task.env, &def.config.env, &self.project.config.env]
                    .into_iter()
                    .find_map(|env| env.get("KOPS_FEATURE_FLAGS").cloned())
                    .or_else(|| process.clone())
                    .unwrap_or_default();
                let on = feature_flag(&flags, "TerraformManagedFiles").unwrap_or(true);
                on.then(|| name.clone())
            })
        })
    }
}

/// The local state store: a folder that exists, or one kops can create.
fn local_store(state: &str, path: &Path, check: impl Fn(Status, String) -> Check) -> Check {
    if path.is_dir() {
        return match std::fs::read_dir(path) {
            Ok(_) => check(Status::Ok, format!("state store {state} exists")),
            Err(e) => check(
                Status::Fail,
                format!(
                    "state store {state}: cannot read {}: {e}; fix its permissions",
                    path.display()
                ),
            ),
        };
    }
    if path.exists() {
        return check(
            Status::Fail,
            format!(
                "state store {state}: {} is not a folder; move it away or fix the cluster's `state`",
                path.display()
            ),
        );
    }
    let mut parent = path.parent();
    while let Some(p) = parent {
        if p.is_dir() {
            return if writable(p) {
                check(
                    Status::Ok,
                    format!(
                        "state store {state} does not exist yet; kops creates it ({} is writable)",
                        p.display()
                    ),
                )
            } else {
                check(
                    Status::Fail,
                    format!(
                        "state store {state} does not exist and {} is not writable; create the folder or fix the permissions",
                        p.display()
                    ),
                )
            };
        }
        parent = p.parent();
    }
    check(
        Status::Fail,
        format!("state store {state}: no folder above it exists; fix the cluster's `state`"),
    )
}

fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: access(2) reads the NUL-terminated path and touches nothing else.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

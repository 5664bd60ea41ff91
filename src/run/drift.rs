//! `kopsform drift`, one cluster: what changed behind kopsform's back, read without writing
//! anything live (docs/drift.md).
//!
//! Four checks, each on its own: Terraform drift (`plan -refresh-only` of the cluster's folder,
//! its `resource_drift`), the kops spec in the state store against the template rendered with the
//! cluster's values (the `render` step's own path, then `review::spec`), the instance groups kops's
//! rolling-update dry run says need an update, and kopsform's own cluster lock left by a run that
//! is gone. A check that cannot run is an error of that check, never a clean verdict. The saved
//! plan, the copy of the state store and the rendered manifest live in a private temporary folder
//! under the cluster's work folder, removed when the check ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::UserError;
use crate::project::task::{RenderStep, Step};
use crate::review::spec::{SpecDiff, SpecFiles};
use crate::statestore::lock::{self, Liveness, Place};
use crate::statestore::{snapshot, store};
use crate::tools::{kops, process, retry};

use super::scope::Runner;

/// A lock held longer than this by a run on another host is reported as stale (a run on this
/// host is stale as soon as its process is gone).
pub(crate) const STALE_LOCK_AGE: Duration = Duration::from_secs(6 * 60 * 60);

/// One changed value: a path with its old and new value as shown (compact JSON, `(sensitive)`, a
/// hash and size); `None` when the path is absent on that side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changed {
    pub(crate) path: String,
    pub(crate) old: Option<String>,
    pub(crate) new: Option<String>,
}

/// A resource changed outside Terraform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceDrift {
    pub(crate) address: String,
    /// `update` or `delete` (the object is gone).
    pub(crate) action: String,
    pub(crate) changes: Vec<Changed>,
}

/// The state store's spec against the rendered template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpecDrift {
    /// `InstanceGroup/nodes.spec.maxSize`: old is the template's, new the state store's.
    pub(crate) changes: Vec<Changed>,
    /// Instance groups the template has and the state store does not.
    pub(crate) only_in_template: Vec<String>,
    /// Instance groups the state store has and the template does not.
    pub(crate) only_in_state_store: Vec<String>,
}

impl SpecDrift {
    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.only_in_template.is_empty()
            && self.only_in_state_store.is_empty()
    }
}

/// An instance group kops's rolling-update dry run says needs an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupUpdate {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) need_update: u64,
    pub(crate) target: u64,
}

/// kopsform's lock on the cluster, when one is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldLock {
    /// `user@host (pid N, task `t`, since T)`.
    pub(crate) holder: String,
    pub(crate) place: String,
    pub(crate) since: String,
    /// Left by a run that is gone (or, on another host, older than [`STALE_LOCK_AGE`]).
    pub(crate) stale: bool,
    pub(crate) why: String,
}

/// What `drift` found for one cluster: each check's findings, or why it could not run.
#[derive(Debug, Clone)]
pub(crate) struct ClusterDrift {
    /// The id of `[clusters.<id>]` (`default` for `[cluster]`).
    pub(crate) id: String,
    /// The kops cluster name, once the values could be read.
    pub(crate) name: Option<String>,
    /// Why the cluster could not be checked at all.
    pub(crate) error: Option<String>,
    pub(crate) terraform: Option<Result<Vec<ResourceDrift>, String>>,
    pub(crate) spec: Option<Result<SpecDrift, String>>,
    pub(crate) rolling_update: Option<Result<Vec<GroupUpdate>, String>>,
    pub(crate) lock: Option<Result<Option<HeldLock>, String>>,
}

impl ClusterDrift {
    /// Some check could not run.
    pub(crate) fn failed(&self) -> bool {
        self.error.is_some()
            || self.terraform.as_ref().is_some_and(Result::is_err)
            || self.spec.as_ref().is_some_and(Result::is_err)
            || self.rolling_update.as_ref().is_some_and(Result::is_err)
            || self.lock.as_ref().is_some_and(Result::is_err)
    }

    /// Some check found drift.
    pub(crate) fn drifted(&self) -> bool {
        matches!(&self.terraform, Some(Ok(d)) if !d.is_empty())
            || matches!(&self.spec, Some(Ok(d)) if !d.is_empty())
            || matches!(&self.rolling_update, Some(Ok(d)) if !d.is_empty())
            || matches!(&self.lock, Some(Ok(Some(l))) if l.stale)
    }
}

/// A check's result with its error masked.
fn mask<T>(r: Result<T, UserError>, redactor: &crate::redact::Redactor) -> Result<T, String> {
    r.map_err(|e| redactor.mask(&e.message))
}

impl<'p> Runner<'p> {
    /// Runs the four checks on this runner's cluster. Never writes to the state store, a
    /// Terraform state or the cloud.
    pub(crate) fn drift(&mut self) -> ClusterDrift {
        let id = self
            .cluster
            .as_ref()
            .map_or_else(|| "default".to_string(), |c| c.id.clone());
        let mut found = ClusterDrift {
            id,
            name: None,
            error: None,
            terraform: None,
            spec: None,
            rolling_update: None,
            lock: None,
        };
        let cluster = match self.require_cluster() {
            Ok(c) => c,
            Err(e) => {
                found.error = Some(self.redactor.mask(&e.message));
                return found;
            }
        };
        found.name = Some(cluster.name.clone());
        let scratch = match self.drift_scratch() {
            Ok(dir) => dir,
            Err(e) => {
                found.error = Some(self.redactor.mask(&e.message));
                return found;
            }
        };
        let env = match self.drift_env(&cluster) {
            Ok(env) => env,
            Err(e) => {
                found.error = Some(self.redactor.mask(&e.message));
                return found;
            }
        };
        let lock = self.stale_lock(&cluster);
        found.lock = Some(mask(lock, &self.redactor));
        let spec = self.spec_drift(&cluster, scratch.path());
        found.spec = Some(mask(spec, &self.redactor));
        let terraform = self.terraform_drift(scratch.path(), &env);
        found.terraform = Some(mask(terraform, &self.redactor));
        let rolling = self.rolling_update_verdict(&cluster, &env);
        found.rolling_update = Some(mask(rolling, &self.redactor));
        // The saved plan holds the state's values in clear: the folder goes now, not at exit.
        drop(scratch);
        found
    }

    /// A private temporary folder (mode 0700) under the cluster's work folder, removed when
    /// dropped.
    fn drift_scratch(&self) -> Result<tempfile::TempDir, UserError> {
        let work = self.work_dir();
        std::fs::create_dir_all(&work)
            .map_err(|e| UserError::new(format!("{}: cannot create: {e}", work.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("drift-")
            .tempdir_in(&work)
            .map_err(|e| {
                UserError::new(format!(
                    "{}: cannot create a temporary folder: {e}",
                    work.display()
                ))
            })?;
        // tempfile makes it 0700 already; said here, as the folder holds the saved plan.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(
            |e| {
                UserError::new(format!(
                    "{}: cannot set mode 0700: {e}",
                    dir.path().display()
                ))
            },
        )?;
        Ok(dir)
    }

    /// The environment the checks' children get: `[env]` and the cluster's `env` as a step gets
    /// them (secret ones learned by the redactor), the cluster for kops, and Terraform's
    /// automation settings.
    fn drift_env(
        &mut self,
        cluster: &crate::values::context::Cluster,
    ) -> Result<Vec<(String, String)>, UserError> {
        let mut env = Vec::new();
        let cluster_env = self
            .cluster
            .as_ref()
            .map(|c| c.config.env.clone())
            .unwrap_or_default();
        let project_env = self.project.config.env.clone();
        for (table, vars) in [("[env]", &project_env), ("cluster env", &cluster_env)] {
            for (k, v) in vars {
                let value = self.render_text(format_args!("{table} {k}"), v)?;
                if self.redactor.is_secret_var(k) {
                    self.redactor.add(value.clone());
                }
                env.push((k.clone(), value));
            }
        }
        env.push(("KOPS_CLUSTER_NAME".into(), cluster.name.clone()));
        env.push(("KOPS_STATE_STORE".into(), cluster.state.clone()));
        env.push(("TF_INPUT".into(), "0".into()));
        env.push(("TF_IN_AUTOMATION".into(), "1".into()));
        Ok(env)
    }

    /// kopsform's lock on the cluster, read (never taken): stale when its run is gone.
    fn stale_lock(
        &mut self,
        cluster: &crate::values::context::Cluster,
    ) -> Result<Option<HeldLock>, UserError> {
        let place = Place::of(&cluster.state, &cluster.name, &self.project.dir)?;
        let aws = store::Aws::of(self.project, self.cluster.as_ref());
        let Some(holder) = lock::read(&place, &aws)? else {
            return Ok(None);
        };
        let age = humantime::parse_rfc3339(&holder.since)
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        let (stale, why) = lock_verdict(&holder.liveness(), age);
        Ok(Some(HeldLock {
            holder: holder.describe(),
            place: place.display(),
            since: holder.since.clone(),
            stale,
            why,
        }))
    }

    /// The render step that writes the cluster's manifest: the first `render` step of tasks.toml
    /// (in file order) with the kops manifest check.
    fn manifest_step(&self) -> Option<(String, RenderStep)> {
        self.project.config.tasks.iter().find_map(|(name, task)| {
            task.steps.iter().find_map(|s| match s {
                Step::Render(r) if r.check == crate::project::task::ManifestCheck::Kops => {
                    Some((name.clone(), r.clone()))
                }
                _ => None,
            })
        })
    }

    /// The state store's spec against the template rendered with the cluster's values.
    fn spec_drift(
        &mut self,
        cluster: &crate::values::context::Cluster,
        scratch: &Path,
    ) -> Result<SpecDrift, UserError> {
        let Some((task, step)) = self.manifest_step() else {
            return Err(UserError::new(format!(
                "{}: no task renders a kops manifest (a `render` step with the kops check), so there is no template to compare the state store with",
                self.project.file.display()
            )));
        };
        let Step::Render(step) = self.resolve_paths(&task, &Step::Render(step))? else {
            unreachable!("resolve_paths keeps the kind of step");
        };
        let (text, _) = self.render_checked(&step)?;
        let manifest = scratch.join("cluster.yml");
        crate::atomic::write(&manifest, text.as_bytes(), 0o600)?;
        let live = scratch.join("state");
        let store = store::Store::parse(&cluster.state, &self.project.dir)?;
        let aws = store::Aws::of(self.project, self.cluster.as_ref());
        snapshot::snapshot(&store, &cluster.name, &live, &aws)?;
        let files = SpecFiles {
            live,
            manifest: manifest.clone(),
        };
        let diff: SpecDiff = crate::review::spec::read(&files, &self.redactor.masks())?;
        if diff.cluster_new {
            return Err(UserError::new(format!(
                "the state store {} holds no Cluster named {}: run cluster-update first",
                cluster.state, diff.cluster
            )));
        }
        let shown = |v: &Option<crate::plan::summary::Shown>| v.as_ref().map(ToString::to_string);
        Ok(SpecDrift {
            // The review's `before` is the state store's, its `after` the manifest's.
            changes: diff
                .changes
                .iter()
                .map(|c| Changed {
                    path: SpecDiff::full_path(c),
                    old: shown(&c.after),
                    new: shown(&c.before),
                })
                .collect(),
            only_in_template: diff.added,
            only_in_state_store: diff.removed,
        })
    }

    /// `terraform plan -refresh-only` of the cluster's folder into a private saved plan, and its
    /// `resource_drift`. Never applies, never takes the state's lock, never writes the state.
    fn terraform_drift(
        &mut self,
        scratch: &Path,
        env: &[(String, String)],
    ) -> Result<Vec<ResourceDrift>, UserError> {
        let dir_rel = self
            .cluster
            .as_ref()
            .map_or_else(|| "2-kops".to_string(), |c| c.dir.clone());
        let dir = self.project.path(&dir_rel);
        if !dir.is_dir() {
            return Err(UserError::new(format!(
                "{dir_rel}: the cluster's Terraform folder does not exist; run cluster-update first"
            )));
        }
        let data_dir_set = env.iter().any(|(k, _)| k == "TF_DATA_DIR")
            || std::env::var_os("TF_DATA_DIR").is_some();
        if !data_dir_set && !dir.join(".terraform").is_dir() {
            return Err(UserError::new(format!(
                "{dir_rel}: not initialised (no .terraform folder); run `kopsform init` (terraform init) first: drift never runs init"
            )));
        }
        let program = self.project.program_for("terraform", self.cluster.as_ref());
        let plan: PathBuf = scratch.join("drift.tfplan");
        let (backend, var_files) = self
            .cluster
            .as_ref()
            .map(|c| {
                (
                    c.config.backend_config.clone(),
                    c.config
                        .var_files
                        .iter()
                        .map(|f| self.project.path(f).to_string_lossy().into_owned())
                        .collect::<Vec<_>>(),
                )
            })
            .unwrap_or_default();
        let argv: Vec<String> = [
            "plan",
            "-refresh-only",
            "-detailed-exitcode",
            "-lock=false",
            "-input=false",
            "-no-color",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("-out={}", plan.display())])
        .collect();
        let mut with_program = vec![program.clone()];
        with_program.extend(argv);
        let argv = crate::tools::terraform::with_cluster_files(&with_program, &backend, &var_files);
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        self.learn_terraform_secrets(&program, &argv[1..], &dir, env);
        let out = retry::run_captured(self.project.retry_policy(None), &program, &args, &dir, env)?;
        match out.code {
            0 => return Ok(Vec::new()),
            2 => {}
            _ => {
                return Err(UserError::new(format!(
                    "{}; drift could not read the cloud for {dir_rel}",
                    self.redactor.mask(&out.failure(&format!(
                        "{} plan -refresh-only",
                        process::shown_program(&program)
                    )))
                )));
            }
        }
        // The plan's JSON once (`show -json` loads every provider): kept beside the saved plan
        // (it holds the same values in clear) for the summary, and read for its configuration.
        let text = crate::plan::read::read_json_in(&plan, Some(&dir), &program, env)?;
        let json_file = scratch.join("drift.json");
        crate::atomic::write(&json_file, text.as_bytes(), 0o600)?;
        let configured = configured_attributes(&text);
        drop(text);
        let summary =
            crate::plan::read::open_in(&json_file, None, &program, env, self.redactor.masks())?
                .into_summary()?;
        let _ = std::fs::remove_file(&plan);
        let _ = std::fs::remove_file(&json_file);
        let shown = |v: &Option<crate::plan::summary::Shown>| v.as_ref().map(ToString::to_string);
        Ok(summary
            .drift
            .iter()
            .filter_map(|d| {
                let action = d.action.label().to_string();
                let set = configured.get(&config_address(&d.address));
                let changes: Vec<Changed> = d
                    .attributes
                    .iter()
                    .map(|a| Changed {
                        path: a.path.clone(),
                        old: shown(&a.before),
                        new: shown(&a.after),
                    })
                    .filter(|c| !(empty(c.old.as_deref()) && empty(c.new.as_deref())))
                    .filter(|c| set.is_none_or(|set| set.contains(&top_attribute(&c.path))))
                    .collect();
                (action != "update" || !changes.is_empty()).then(|| ResourceDrift {
                    address: d.display_address(),
                    action,
                    changes,
                })
            })
            .collect())
    }

    /// `kops rolling-update cluster --cloudonly` without `--yes`: kops's own verdict, from the
    /// cloud (no API server needed), of which instance groups run an old launch template.
    fn rolling_update_verdict(
        &mut self,
        cluster: &crate::values::context::Cluster,
        env: &[(String, String)],
    ) -> Result<Vec<GroupUpdate>, UserError> {
        let program = self.project.program_for("kops", self.cluster.as_ref());
        let args = [
            "rolling-update",
            "cluster",
            "--name",
            cluster.name.as_str(),
            "--state",
            cluster.state.as_str(),
            "--cloudonly",
        ];
        let out = retry::run_captured(
            self.project.retry_policy(None),
            &program,
            &args,
            &self.project.dir,
            env,
        )?;
        let shown = format!(
            "{} rolling-update cluster --cloudonly",
            process::shown_program(&program)
        );
        if out.code != 0 {
            return Err(UserError::new(self.redactor.mask(&out.failure(&shown))));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let groups = match kops::parse_rolling_update(&stdout) {
            Some(Ok(groups)) => groups,
            Some(Err(e)) => return Err(UserError::new(format!("cannot read `{shown}`: {e}"))),
            None => {
                return Err(UserError::new(format!(
                    "`{shown}` printed no table (NAME STATUS NEEDUPDATE ...): kopsform cannot tell which instance groups need an update"
                )));
            }
        };
        Ok(groups
            .into_iter()
            .filter(kops::GroupStatus::needs_update)
            .map(|g| GroupUpdate {
                name: g.name,
                status: g.status,
                need_update: g.need_update,
                target: g.target,
            })
            .collect())
    }
}

/// Whether a held lock is stale, and why, from its holder's liveness and the lock's age.
fn lock_verdict(liveness: &Liveness, age: Option<Duration>) -> (bool, String) {
    match liveness {
        Liveness::Gone => (
            true,
            "its process no longer runs on this host; `kopsform unlock` releases it".to_string(),
        ),
        Liveness::Alive => (false, "its run is still going on this host".to_string()),
        Liveness::Elsewhere => match age {
            Some(age) if age > STALE_LOCK_AGE => (
                true,
                format!(
                    "held by a run on another host for {}, longer than {}; if that run is gone, `kopsform unlock` releases it",
                    humantime::format_duration(Duration::from_secs(age.as_secs())),
                    humantime::format_duration(STALE_LOCK_AGE)
                ),
            ),
            _ => (false, "held by a run on another host, recently".to_string()),
        },
    }
}

/// No value: absent, `null`, or an empty list, map or string. Terraform's providers write either
/// for "nothing" (a refresh reads `[]` where the apply stored `null`): not drift.
fn empty(shown: Option<&str>) -> bool {
    matches!(shown, None | Some("null" | "[]" | "{}" | "\"\""))
}

/// The attribute a path starts with: `tags` of `tags["Name"]`, `network_interfaces` of
/// `network_interfaces[0].ipv4_addresses`.
fn top_attribute(path: &str) -> String {
    path.split(['.', '[']).next().unwrap_or(path).to_string()
}

/// A resource instance's address as its configuration names it: without instance keys
/// (`aws_x.y["a"]` -> `aws_x.y`, `module.m[0].aws_x.y` -> `module.m.aws_x.y`).
fn config_address(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut in_key = false;
    let mut quoted = false;
    let mut escaped = false;
    for c in address.chars() {
        if in_key {
            if quoted {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    quoted = false;
                }
            } else if c == '"' {
                quoted = true;
            } else if c == ']' {
                in_key = false;
            }
            continue;
        }
        if c == '[' {
            in_key = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The attributes each resource of the plan's configuration sets (by its configuration address):
/// the top-level names of its `expressions`. An attribute the configuration leaves to the provider
/// (a security group's inline rules while kops writes them as `aws_security_group_rule`s, an IAM
/// role's `inline_policy`, a target group's `load_balancer_arns`) is filled in by the cloud and is
/// not drift Terraform would undo.
fn configured_attributes(plan: &str) -> std::collections::HashMap<String, Vec<String>> {
    fn module(
        m: &serde_json::Value,
        prefix: &str,
        out: &mut std::collections::HashMap<String, Vec<String>>,
    ) {
        for r in m["resources"].as_array().into_iter().flatten() {
            let Some(address) = r["address"].as_str() else {
                continue;
            };
            let names = r["expressions"]
                .as_object()
                .map(|e| e.keys().cloned().collect())
                .unwrap_or_default();
            out.insert(format!("{prefix}{address}"), names);
        }
        for (name, call) in m["module_calls"].as_object().into_iter().flatten() {
            module(&call["module"], &format!("{prefix}module.{name}."), out);
        }
    }
    let mut out = std::collections::HashMap::new();
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(plan) {
        module(&doc["configuration"]["root_module"], "", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_stale_when_its_run_is_gone_or_old_elsewhere() {
        let hour = Duration::from_secs(3600);
        assert!(lock_verdict(&Liveness::Gone, None).0);
        assert!(!lock_verdict(&Liveness::Alive, Some(100 * hour)).0);
        assert!(!lock_verdict(&Liveness::Elsewhere, Some(5 * hour)).0);
        assert!(!lock_verdict(&Liveness::Elsewhere, None).0);
        assert_eq!(
            lock_verdict(&Liveness::Elsewhere, Some(7 * hour)),
            (
                true,
                "held by a run on another host for 7h, longer than 6h; if that run is gone, `kopsform unlock` releases it".to_string()
            )
        );
    }

    #[test]
    fn addresses_lose_their_instance_keys() {
        assert_eq!(config_address("aws_x.y"), "aws_x.y");
        assert_eq!(config_address("aws_x.y[\"a]b\"]"), "aws_x.y");
        assert_eq!(config_address("module.m[0].aws_x.y[2]"), "module.m.aws_x.y");
    }

    #[test]
    fn empty_values_and_top_attributes() {
        for e in [None, Some("null"), Some("[]"), Some("{}"), Some("\"\"")] {
            assert!(empty(e), "{e:?}");
        }
        assert!(!empty(Some("0")));
        assert_eq!(top_attribute("tags[\"Name\"]"), "tags");
        assert_eq!(
            top_attribute("network_interfaces[0].ipv4_addresses"),
            "network_interfaces"
        );
        assert_eq!(top_attribute("max_size"), "max_size");
    }

    #[test]
    fn the_configuration_says_which_attributes_are_managed() {
        let plan = r#"{"configuration":{"root_module":{"resources":[{"address":"aws_a.b","expressions":{"max_size":{}}}],"module_calls":{"m":{"module":{"resources":[{"address":"aws_c.d","expressions":{"tags":{}}}]}}}}}}"#;
        let found = configured_attributes(plan);
        assert_eq!(found["aws_a.b"], ["max_size"]);
        assert_eq!(found["module.m.aws_c.d"], ["tags"]);
    }
}

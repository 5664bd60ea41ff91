//! The built-in steps, where logic is needed beyond a command line: render (template -> checked
//! manifest), show-outputs, provider-override, snapshot-state, copy, seal-plan, check-plan,
//! check-protected, review and remove.

use std::path::Path;

use crate::error::UserError;
use crate::plan::seal;
use crate::project::task::{Builtin, RenderStep, Step, Task};
use crate::render::go_template::GoRenderer;
use crate::render::{manifest, provider_override};
use crate::statestore::{snapshot, store};
use crate::{atomic, notice, progress};

use super::isolation::{default_config_base, live_config_base, pin_config_base};
use super::scope::{Runner, Snapshot};

/// A checked kops manifest: its cluster and its documents.
pub(super) type Checked = (crate::values::context::Cluster, Vec<manifest::Document>);

impl<'p> Runner<'p> {
    /// Refuses a step whose paths, as rendered, are not its own to write or delete
    /// (`crate::paths`): before the step runs, so nothing is written or deleted.
    /// (The error is put in its task's context by `run_tasks`.)
    pub(super) fn guard_targets(&self, step: &Step) -> Result<(), UserError> {
        for target in step.targets() {
            crate::paths::check(&self.project.dir, &target)
                .map_err(|e| UserError::new(format!("{e} (in {})", self.project.file.display())))?;
        }
        Ok(())
    }

    /// A `render` step's text, rendered with the run's values and, for a kops manifest, checked:
    /// the text, and the manifest's cluster and documents. Nothing is written.
    pub(super) fn render_checked(
        &mut self,
        step: &RenderStep,
    ) -> Result<(String, Option<Checked>), UserError> {
        let run_values = self.values.get(&self.renderer)?;
        let shown = step.shown();
        let values = run_values.for_render(
            &format!("the `render` step of {shown}"),
            &step.set,
            &step.set_string,
        )?;
        let files =
            crate::render::step::template_files(&self.project.dir, step, &self.project.file)?;
        let yaml = step.check == crate::project::task::ManifestCheck::Kops
            || [".yml", ".yaml"]
                .iter()
                .any(|e| step.out.to_ascii_lowercase().ends_with(e));
        let redactor = &self.redactor;
        let describe = |c: &crate::render::template::Culprit| {
            let mut from: Vec<String> = c.paths.iter().map(|p| values.source_of(p)).collect();
            from.dedup();
            let from = if from.is_empty() {
                String::new()
            } else {
                format!(" from {}", from.join(", "))
            };
            if redactor.contains_secret(c.value) {
                format!("its value{from} holds a secret and is not shown")
            } else {
                format!("the value{from} is {}", crate::text::shown_value(c.value))
            }
        };
        let go = self.go_renderer(step)?;
        let engines = crate::render::step::Engines {
            go: go.as_ref(),
            handlebars: &self.renderer,
            yaml,
            describe: &describe,
        };
        let rendered =
            crate::render::step::render_files(&files, &engines, &values.context, step.format_yaml)?;
        if step.check != crate::project::task::ManifestCheck::Kops {
            return Ok((rendered, None));
        }
        let cluster = values.require_cluster(self.project)?;
        let documents = manifest::check(&rendered, &cluster.name).map_err(|e| {
            // `out:8: ...` when the check names a line, `out: ...` when not.
            let sep = if e.starts_with(|c: char| c.is_ascii_digit()) {
                ":"
            } else {
                ": "
            };
            UserError::new(format!(
                "{} (rendered from {}){sep}{e}; nothing was written",
                step.out, shown
            ))
        })?;
        Ok((rendered, Some((cluster, documents))))
    }

    pub(super) fn render(&mut self, prefix: &str, step: &RenderStep) -> Result<(), UserError> {
        let shown = step.shown();
        let (mut rendered, checked) = self.render_checked(step)?;
        let mut summary = String::new();
        if let Some((cluster, documents)) = checked {
            let names: Vec<String> = documents
                .iter()
                .map(|d| format!("{} {}", d.kind, d.name))
                .collect();
            summary = format!(" ({})", names.join(", "));
            if let Some(snapshot) = self.snapshot.clone() {
                // kops writes keys, secrets and SSH keys under spec.configBase, not under --state,
                // and bakes configBase into the launch templates: the dry run must keep the live
                // configBase (docs/dryrun-isolation.md), while --state is the snapshot.
                let live = live_config_base(&snapshot, &cluster.name);
                if !self.options.dry_run {
                    self.preflight_manifest(&step.out, &documents, &live)?;
                }
                let (text, dropped) = manifest::isolate(&documents, &live)
                    .map_err(|e| UserError::new(format!("{}: {e}", step.out)))?;
                if dropped > 0 {
                    progress!(
                        "{prefix}isolated run: left out {dropped} SSHCredential document(s) whose keys the live key store already holds (kops replace would write them again)"
                    );
                }
                if let Some(text) = text {
                    progress!(
                        "{prefix}isolated run: spec.configBase set to the live {live}, as kops reads it"
                    );
                    rendered = text;
                }
            }
        }
        let out = self.project.path(&step.out);
        let secret = self.redactor.contains_secret(&rendered);
        if self.options.dry_run {
            notice!("{prefix}would write {} from {}{summary}", step.out, shown);
            return Ok(());
        }
        let mode = if secret { 0o600 } else { 0o644 };
        atomic::write(&out, rendered.as_bytes(), mode)?;
        progress!("{prefix}rendered {} -> {}{summary}", shown, step.out);
        if secret {
            notice!(
                "{prefix}warning: {} contains a secret value; written with mode 0600, do not commit it",
                step.out
            );
        }
        Ok(())
    }

    /// The Go engine with the step's snippets, for a step with `engine = "go"`.
    fn go_renderer(&self, step: &RenderStep) -> Result<Option<GoRenderer>, UserError> {
        GoRenderer::for_step(&self.project.dir, step)
    }

    pub(super) fn show_outputs(&mut self, prefix: &str) -> Result<(), UserError> {
        let values = self.values.get(&self.renderer)?;
        let outputs = &values.outputs;
        if outputs.values.is_empty() {
            notice!(
                "{prefix}{} has no outputs; has it been applied (task prerequisites-apply)?",
                self.values.prerequisites_dir()
            );
            return Ok(());
        }
        let width = outputs.values.keys().map(String::len).max().unwrap_or(0);
        let mut text = String::new();
        for (name, value) in &outputs.values {
            let shown = if outputs.sensitive.contains(name) {
                "<sensitive>".to_string()
            } else {
                self.redactor.mask(&value.to_string())
            };
            text.push_str(&format!("{name:width$} = {shown}\n"));
        }
        crate::ui::write_task_output(&text);
        Ok(())
    }

    /// The provider settings of the run's cluster: its `provider-override` table over the
    /// project's, key by key, each string rendered with the values (expressions stay as they are).
    pub(super) fn resolved_provider_override(
        &mut self,
    ) -> Result<crate::project::schema::ProviderOverride, UserError> {
        use crate::project::schema::Setting;
        let project = self
            .project
            .config
            .provider_override
            .clone()
            .unwrap_or_default();
        let cluster = self
            .cluster
            .as_ref()
            .and_then(|c| c.config.provider_override.clone());
        let table = match &self.cluster {
            Some(c) if self.project.config.cluster.is_none() => {
                format!("[clusters.{}.provider-override]", c.id)
            }
            _ => "[provider-override]".to_string(),
        };
        let mut config = match &cluster {
            Some(over) => project.overlaid(over),
            None => project,
        };
        for (key, setting) in config.settings_mut() {
            match setting {
                Some(Setting::Text(text)) => {
                    *text = self.render_text(format_args!("{table} {key}"), text)?;
                }
                Some(Setting::Expr { expr }) if expr.trim().is_empty() || expr.contains('\n') => {
                    return Err(UserError::new(format!(
                        "{}: {table} {key}: `expr` must be one HCL expression on one line, e.g. {{ expr = \"var.profile\" }}",
                        self.project.file.display()
                    )));
                }
                Some(Setting::Expr { .. }) | None => {}
            }
        }
        Ok(config)
    }

    pub(super) fn provider_override(&mut self, prefix: &str, out: &str) -> Result<(), UserError> {
        let path = self.project.path(out);
        let config = self.resolved_provider_override()?;
        let dir = path.parent().unwrap_or(&self.project.dir).to_path_buf();
        let files = kops_files_provider(&dir);
        if files == provider_override::FilesProvider::Absent {
            let keys = provider_override::files_keys(&config);
            if !keys.is_empty() {
                notice!(
                    "{prefix}{} not written: no Terraform file of kops's in {} has `provider \"aws\"` with `alias = \"files\"`, which kops writes only when its managed files go to an s3:// configBase through Terraform (the feature flag TerraformManagedFiles, on by default), and Terraform refuses an override of a provider that is not there",
                    keys.join(", "),
                    match std::path::Path::new(out).parent() {
                        Some(d) if !d.as_os_str().is_empty() => d.display().to_string(),
                        _ => ".".to_string(),
                    }
                );
            }
        }
        match provider_override::render(&config, files) {
            Some(text) => {
                if self.options.dry_run {
                    notice!("{prefix}would write {out}");
                } else {
                    atomic::write(&path, text.as_bytes(), 0o644)?;
                    progress!("{prefix}wrote {out}");
                }
            }
            None => {
                // Only a file kopsform wrote is removed, never a team's own override.
                let ours = std::fs::read_to_string(&path)
                    .map(|t| t.starts_with(provider_override::HEADER))
                    .unwrap_or(false);
                if ours && !self.options.dry_run {
                    std::fs::remove_file(&path).map_err(|e| {
                        UserError::new(format!("{}: cannot remove: {e}", path.display()))
                    })?;
                    progress!("{prefix}removed {out} ([provider-override] is empty)");
                }
            }
        }
        Ok(())
    }

    pub(super) fn snapshot_state(&mut self, prefix: &str, out: &str) -> Result<(), UserError> {
        let values = self.values.get(&self.renderer)?;
        let cluster = values.require_cluster(self.project)?;
        let store = store::Store::parse(&cluster.state, &self.project.dir)?;
        let dest = self.project.path(out);
        if self.options.dry_run {
            notice!(
                "{prefix}would copy {} of {} into {out}",
                cluster.name,
                cluster.state
            );
            return Ok(());
        }
        let aws = crate::statestore::store::Aws::of(self.project, self.cluster.as_ref());
        let count = snapshot::snapshot(&store, &cluster.name, &dest, &aws)?;
        let dest = dest.canonicalize().unwrap_or(dest);
        // A stored Cluster without spec.configBase gets `<--state>/<name>` from kops, which would
        // be the snapshot: pin it to the live one, so kops reads keys and secrets where they are.
        let live = default_config_base(&cluster.state, &cluster.name);
        if pin_config_base(&dest.join(&cluster.name).join("config"), &live)? {
            progress!(
                "{prefix}the stored Cluster has no spec.configBase; the snapshot's copy names the live {live}, as kops derives it"
            );
        }
        let snapshot = dest.to_string_lossy().into_owned();
        progress!(
            "{prefix}snapshot of {}/{} ({count} objects: config, instance groups, addons) in {out}; the rest of this run uses --state {snapshot}",
            cluster.state,
            cluster.name
        );
        self.values.override_state(snapshot.clone());
        self.snapshot = Some(Snapshot {
            path: snapshot,
            live_state: cluster.state.clone(),
        });
        Ok(())
    }

    pub(super) fn copy_folder(
        &mut self,
        prefix: &str,
        from: &str,
        out: &str,
    ) -> Result<(), UserError> {
        let source = self.project.path(from);
        let dest = self.project.path(out);
        if self.options.dry_run {
            notice!("{prefix}would copy {from} to {out}");
            return Ok(());
        }
        if !source.is_dir() {
            return Err(UserError::new(format!(
                "{}: the folder to copy does not exist",
                source.display()
            )));
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| UserError::new(format!("{}: cannot remove: {e}", dest.display())))?;
        }
        // What kops, kopsform and terraform generate is made again in the copy, never carried over.
        snapshot::copy_tree(&source, &dest, &|rel| {
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let top = rel.components().count() == 1;
            name == ".terraform"
                || name.ends_with(".tfplan")
                || name.ends_with(".kopsform.json")
                || (top
                    && ["kubernetes.tf", "data", "cluster.yml", "kubeconfig"]
                        .contains(&name.as_str()))
        })?;
        progress!("{prefix}copied {from} to {out} (without generated files)");
        Ok(())
    }

    pub(super) fn current_seal(
        &mut self,
        plan: &str,
        inputs: &[String],
    ) -> Result<seal::Seal, UserError> {
        let plan_path = self.project.path(plan);
        if !plan_path.is_file() {
            return Err(UserError::new(format!(
                "{}: no saved plan; run the plan task first",
                plan_path.display()
            )));
        }
        let mut hashes = std::collections::BTreeMap::new();
        for input in inputs {
            hashes.insert(input.clone(), seal::hash_path(&self.project.path(input))?);
        }
        let cluster = self.known_cluster().map(|c| c.name);
        let env = crate::values::context::own_env_pairs(self.project, self.cluster.as_ref());
        // A pinned Terraform is the pinned version at the seal and at the apply, whatever the
        // job's runner has: the plan and its apply cannot differ in version.
        self.project.check_pins(
            &["terraform"],
            self.cluster.as_ref(),
            &env,
            &format!("refusing to seal or apply {plan}"),
        )?;
        Ok(seal::Seal {
            plan: plan.to_string(),
            plan_sha256: seal::hash_path(&plan_path)?,
            inputs: hashes,
            terraform_version: crate::run::uptodate::seal_terraform_version(
                &self.terraform_program(),
                &self.project.dir,
                &self.project.path(".kopsform/tool-versions.json"),
                &env,
            )?,
            // Recorded for the reader by `seal-plan`; `check-plan` does not compare them.
            git_commit: None,
            git_dirty: None,
            cluster,
        })
    }

    pub(super) fn seal_plan(
        &mut self,
        prefix: &str,
        plan: &str,
        inputs: &[String],
    ) -> Result<(), UserError> {
        if self.options.dry_run {
            notice!("{prefix}would seal {plan}");
            return Ok(());
        }
        let mut sealed = self.current_seal(plan, inputs)?;
        // Dirty: any change `git status` lists, untracked files included.
        if let Some((git, untracked)) = crate::tools::git::repository(&self.project.dir) {
            sealed.git_commit = Some(git.commit);
            sealed.git_dirty = Some(git.dirty || untracked);
        }
        self.task_plan = Some(sealed.plan_sha256.clone());
        let path = seal::seal_path(&self.project.path(plan));
        let text = serde_json::to_string_pretty(&sealed)
            .map_err(|e| UserError::new(format!("cannot write the seal: {e}")))?;
        atomic::write(&path, format!("{text}\n").as_bytes(), 0o644)?;
        progress!(
            "{prefix}sealed {plan} (sha256 {}) and {} inputs",
            &sealed.plan_sha256[..12.min(sealed.plan_sha256.len())],
            sealed.inputs.len()
        );
        Ok(())
    }

    pub(super) fn check_plan(
        &mut self,
        task_name: &str,
        task: &Task,
        prefix: &str,
        plan: &str,
    ) -> Result<(), UserError> {
        if self.options.dry_run {
            notice!("{prefix}would check {plan} against its seal");
            return Ok(());
        }
        let sealed = seal::read(&seal::seal_path(&self.project.path(plan)))?;
        self.task_plan = Some(sealed.plan_sha256.clone());
        let inputs: Vec<String> = sealed.inputs.keys().cloned().collect();
        let now = self.current_seal(plan, &inputs)?;
        let differences = seal::differences(&sealed, &now);
        if !differences.is_empty() {
            return Err(UserError::new(format!(
                "refusing to apply {plan}: {}; re-run plan, review it, then apply",
                differences.join("; ")
            )));
        }
        progress!("{prefix}{plan} is the plan that was sealed, and its inputs are unchanged");
        let env = self.env_layers(task_name, task, &Default::default())?;
        let folder = self.show_folder(task_name, task)?;
        self.check_protected(prefix, plan, &env, folder.as_deref())
    }

    /// Where a task's saved plan is shown: the task's folder (`cwd`), whose `.terraform` has the
    /// providers, when it has one (a plan may be saved elsewhere, such as the prerequisites
    /// layer's in kopsform's folder); else the plan's own folder.
    pub(super) fn show_folder(
        &mut self,
        task_name: &str,
        task: &Task,
    ) -> Result<Option<std::path::PathBuf>, UserError> {
        match task.cwd.as_deref() {
            Some(rel) => {
                let rel = self.render_text(format_args!("task `{task_name}` cwd"), rel)?;
                Ok(Some(self.project.path(&rel)))
            }
            None => Ok(None),
        }
    }

    /// Refuses a plan that deletes or replaces a protected resource not named by --allow-destroy.
    pub(super) fn check_protected(
        &mut self,
        prefix: &str,
        plan: &str,
        env: &[(String, String)],
        folder: Option<&Path>,
    ) -> Result<(), UserError> {
        let plan_path = self.project.path(plan);
        // `--approval`: the addresses it allows hold for the plan it approved, and no other.
        if let Some(approved) = &self.options.approved_plan {
            let now = seal::hash_path(&plan_path)?;
            if *approved != now {
                return Err(UserError::new(format!(
                    "refusing to apply {plan}: the approval is of plan sha256:{approved}, this plan is sha256:{now}; the plan was made again since it was approved: review this one and have it approved"
                )));
            }
            progress!(
                "{prefix}{plan} is the approved plan (sha256 {})",
                &now[..12.min(now.len())]
            );
        }
        let terraform = self.terraform_program();
        let text = crate::plan::read::read_json_in(&plan_path, folder, &terraform, env)?;
        // The `terraform apply` of this plan that follows needs its secrets: learn them now
        // rather than ask Terraform for the same JSON again.
        let key = plan_path.canonicalize().unwrap_or(plan_path.clone());
        if self.learned.insert(key) {
            self.learn_from_show(text.as_bytes());
        }
        // Which changes are protected needs the list of changes, not their attribute rows.
        let summary = crate::plan::read::from_text(text)
            .map_err(|e| UserError::new(format!("{}: {e}", plan_path.display())))?
            .summary;
        let rules = crate::review::protect::effective_rules(&self.project.config.review);
        let protected = crate::review::protect::protected_changes(&summary, &rules);
        let refused: Vec<String> = protected
            .iter()
            .filter(|c| !self.options.allow_destroy.contains(&c.address))
            .map(|c| format!("  {} ({}): {}", c.address, c.action, c.reason))
            .collect();
        if !refused.is_empty() {
            return Err(UserError::new(format!(
                "refusing to apply {plan}: it deletes or replaces protected resources:\n{}\nIf that is intended, name each one: --allow-destroy ADDRESS",
                refused.join("\n")
            )));
        }
        for c in &protected {
            notice!(
                "{prefix}allowed by --allow-destroy: {} ({})",
                c.address,
                c.action
            );
        }
        Ok(())
    }

    /// The `planned-outputs` builtin: the rest of the run renders with the outputs the saved plan
    /// `plan` of the prerequisites layer will give; when one is unknown until apply, the rest of
    /// the task is deferred instead (`values::planned`).
    pub(super) fn planned_outputs(
        &mut self,
        task_name: &str,
        task: &Task,
        prefix: &str,
        plan: &str,
    ) -> Result<(), UserError> {
        if self.options.dry_run {
            notice!("{prefix}would read the planned outputs of {plan}");
            return Ok(());
        }
        let mut env = self.env_layers(task_name, task, &Default::default())?;
        env.extend(self.values.workspace_env());
        let plan_path = self.project.path(plan);
        let terraform = self.terraform_program();
        // Shown where it was made: the layer's folder has the providers `show` needs.
        let layer = self.project.path(&self.values.prerequisites_dir());
        let text = crate::plan::read::read_json_in(&plan_path, Some(&layer), &terraform, &env)?;
        let key = plan_path.canonicalize().unwrap_or(plan_path.clone());
        if self.learned.insert(key) {
            self.learn_from_show(text.as_bytes());
        }
        let planned = crate::values::planned::parse(&text)
            .map_err(|e| UserError::new(format!("{plan}: {e}")))?;
        if !planned.unknown.is_empty() {
            let deferral = crate::values::planned::Deferral {
                plan: plan.to_string(),
                layer: self.values.prerequisites_dir(),
                outputs: planned.unknown,
            };
            progress!(
                "{prefix}deferred: {}; the task's other steps are skipped but its review",
                deferral.reason()
            );
            self.deferred = Some(deferral);
            return Ok(());
        }
        progress!(
            "{prefix}the rest of the run renders with the {} planned outputs of {plan}",
            planned.outputs.values.len()
        );
        self.values.override_outputs(planned.outputs);
        Ok(())
    }

    /// The `review` builtin (`step`), reading the plan with the task's environment `env`.
    pub(super) fn review(
        &mut self,
        prefix: &str,
        step: &Builtin,
        env: &[(String, String)],
    ) -> Result<(), UserError> {
        let Builtin::Review {
            plan,
            out,
            rolling_update,
            target,
            json,
            spec,
            manifest,
            prerequisites,
        } = step
        else {
            return Ok(());
        };
        let (rolling_update, target, json) = (rolling_update.as_deref(), *target, json.as_deref());
        if self.options.dry_run {
            notice!("{prefix}would review {plan} into {out}");
            return Ok(());
        }
        let cluster = self.known_cluster().map(|c| c.name);
        let args = crate::review::request::Request {
            plan: self.project.path(plan),
            format: crate::review::request::Format::Markdown,
            out: Some(self.project.path(out)),
            max_chars: None,
            target,
            // Named relative to the project: the Markdown is posted where machine paths mean nothing.
            full_report: target.map(|_| {
                crate::review::request::full_report_path(Path::new(out))
                    .display()
                    .to_string()
            }),
            cluster,
            rolling_update: rolling_update.map(|r| self.project.path(r)),
            spec: spec.as_ref().map(|s| crate::review::spec::SpecFiles {
                live: self.project.path(&s.live),
                manifest: self.project.path(&s.manifest),
            }),
            manifest: manifest.as_deref().map(|m| self.project.path(m)),
            // What this run learned: sensitive outputs and secret variables reach plan values
            // that Terraform does not mark sensitive.
            secrets: self.redactor.masks(),
            prerequisites: prerequisites
                .as_ref()
                .map(|p| crate::review::request::Part {
                    plan: self.project.path(p),
                    name: self.values.prerequisites_dir(),
                    // Shown where it was made: the layer's folder has its providers.
                    dir: Some(self.project.path(&self.values.prerequisites_dir())),
                }),
            deferred: self.deferred.clone(),
        };
        let json = json.map(|j| self.project.path(j));
        let code = crate::review::request::run(Some(self.project), &args, json.as_deref(), env)?;
        let verdict = match code {
            crate::review::protect::EXIT_NO_CHANGES => "no changes",
            crate::review::protect::EXIT_PROTECTED => "changes, some to PROTECTED resources",
            crate::review::protect::EXIT_POLICY => "a POLICY rule is broken",
            _ => "changes",
        };
        progress!("{prefix}review of {plan} written to {out}: {verdict}");
        Ok(())
    }

    /// `prune-instancegroups`: `kops delete instancegroup NAME --yes` for each instance group the
    /// state store holds and `manifest` does not (`kops replace` never deletes one), each named by
    /// `--allow-destroy instancegroup/NAME`; refused before any is deleted otherwise. A dry run
    /// lists the commands.
    pub(super) fn prune_instance_groups(
        &mut self,
        task_name: &str,
        task: &Task,
        prefix: &str,
        manifest: &str,
    ) -> Result<(), UserError> {
        let values = self.values.get(&self.renderer)?;
        let cluster = values.require_cluster(self.project)?;
        let path = self.project.path(manifest);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            UserError::new(format!(
                "{manifest}: cannot read the manifest: {e}; render it first (task cluster-template)"
            ))
        })?;
        let documents = manifest::check(&text, &cluster.name)
            .map_err(|e| UserError::new(format!("{manifest}: {e}")))?;
        let wanted: Vec<&str> = documents
            .iter()
            .filter(|d| d.kind == "InstanceGroup")
            .map(|d| d.name.as_str())
            .collect();
        let store = store::Store::parse(&cluster.state, &self.project.dir)?;
        let aws = crate::statestore::store::Aws::of(self.project, self.cluster.as_ref());
        let stored = store::instance_groups(&store, &cluster.name, &aws)?;
        let removed: Vec<String> = stored
            .into_iter()
            .filter(|g| !wanted.contains(&g.as_str()))
            .collect();
        if removed.is_empty() {
            progress!(
                "{prefix}no instance group to delete: the state store holds only those of {manifest}"
            );
            return Ok(());
        }
        if let Some(odd) = removed.iter().find(|g| !instance_group_name(g)) {
            return Err(UserError::new(format!(
                "the state store holds an instance group named {}, which kopsform does not put on a command line (lower-case letters, digits, `-` and `.` only); nothing was deleted. Delete it with `kops delete instancegroup` yourself",
                crate::text::shown_value(odd)
            )));
        }
        let refused: Vec<String> = removed
            .iter()
            .map(|g| format!("{PRUNE_ADDRESS}{g}"))
            .filter(|a| !self.options.allow_destroy.contains(a))
            .collect();
        if !refused.is_empty() && !self.options.dry_run {
            return Err(UserError::new(format!(
                "refusing to delete instance groups that are in the state store but not in {manifest}:\n{}\nIf that is intended, name each one: --allow-destroy {PRUNE_ADDRESS}NAME; nothing was deleted",
                refused
                    .iter()
                    .map(|a| format!("  {a}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )));
        }
        for group in &removed {
            let address = format!("{PRUNE_ADDRESS}{group}");
            if self.options.dry_run && refused.contains(&address) {
                notice!(
                    "{prefix}{address} is not named by --allow-destroy: the run would refuse to delete it"
                );
            } else if !self.options.dry_run {
                notice!("{prefix}allowed by --allow-destroy: {address}");
            }
            let cmd = crate::project::task::CommandStep {
                argv: [
                    "kops",
                    "delete",
                    "instancegroup",
                    group,
                    "--name",
                    "{{cluster.name}}",
                    "--state",
                    "{{cluster.state}}",
                    "--yes",
                ]
                .map(str::to_string)
                .to_vec(),
                ..Default::default()
            };
            self.run_command(task_name, task, &cmd, prefix)?;
        }
        Ok(())
    }

    pub(super) fn remove(&mut self, prefix: &str, paths: &[String]) -> Result<(), UserError> {
        // Each path was checked by `guard_targets` before the step started.
        for rel in paths {
            let path = self.project.path(rel);
            if self.options.dry_run {
                notice!("{prefix}would remove {rel}");
                continue;
            }
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path).map(|()| true),
                Ok(_) => std::fs::remove_file(&path).map(|()| true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }
            .map_err(|e| UserError::new(format!("{}: cannot remove: {e}", path.display())))?;
            if removed {
                progress!("{prefix}removed {rel}");
            }
        }
        Ok(())
    }
}

/// How `--allow-destroy` names an instance group for `prune-instancegroups`.
pub(crate) const PRUNE_ADDRESS: &str = "instancegroup/";

/// A name kopsform puts on kops's command line (and into an argument template): a DNS-1123
/// subdomain, as Kubernetes object names are; `{{`, blanks or a leading `-` cannot occur.
fn instance_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Whether the Terraform files beside the override (kops's `kubernetes.tf`; every `*.tf` that is
/// not itself an override file, as Terraform reads them) configure the `aws.files` provider.
fn kops_files_provider(dir: &std::path::Path) -> provider_override::FilesProvider {
    let declared = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let primary =
                name.ends_with(".tf") && name != "override.tf" && !name.ends_with("_override.tf");
            primary
                && std::fs::read_to_string(entry.path())
                    .is_ok_and(|text| crate::tools::kops::declares_files_provider(&text))
        });
    if declared {
        provider_override::FilesProvider::Declared
    } else {
        provider_override::FilesProvider::Absent
    }
}

impl Runner<'_> {
    /// The Terraform the cluster runs: its own version's binary when it pins one
    /// (`crate::project::tool_versions`).
    fn terraform_program(&self) -> String {
        self.project.program_for("terraform", self.cluster.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::instance_group_name;

    #[test]
    fn only_dns_names_reach_the_kops_command_line() {
        for ok in ["nodes", "control-plane-eu-west-1a", "a.b", "0"] {
            assert!(instance_group_name(ok), "{ok}");
        }
        for bad in [
            "",
            "-yes",
            "Nodes",
            "a b",
            "{{env.X}}",
            "a/b",
            "a\nb",
            "nodes-",
            ".a",
            &"a".repeat(254),
        ] {
            assert!(!instance_group_name(bad), "{bad:?}");
        }
    }
}

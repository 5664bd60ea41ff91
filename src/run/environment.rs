//! What a step sees: its texts and paths rendered (with the cluster's plain fields when that is
//! all they use), its environment layered (`[env]`, the cluster's, the task's, the step's, what
//! kopsform adds), secrets kept off its command line, and the sensitive values of a Terraform
//! state learned before Terraform runs.

use std::path::{Path, PathBuf};

use crate::error::UserError;
use crate::project::task::{Builtin, CommandStep, RenderStep, Step, Task};
use crate::render::template::{substitute_field_sets, substitute_fields};
use crate::tools::process;
use crate::tools::retry;

use super::scope::Runner;

impl<'p> Runner<'p> {
    /// `text` rendered with what needs no output (`{{cluster.dir}}`, `{{cluster.id}}`...), when
    /// that is all it uses: a task that only names its folders (prerequisites-apply before
    /// anything exists) must not read the outputs.
    pub(super) fn render_static(&self, text: &str) -> Option<String> {
        let params = self.values.params();
        let def = self.cluster.as_ref();
        if def.is_none() && params.is_none() {
            return None;
        }
        let mut fields = def
            .map(|def| crate::values::context::project_fields(self.project, def))
            .unwrap_or_default();
        if def.is_some()
            && let Some(state) = self.snapshot.as_ref().map(|s| s.path.clone())
        {
            fields.insert("state".into(), serde_json::Value::String(state));
        }
        let Some(params) = params else {
            return substitute_fields(text, "cluster", &fields);
        };
        substitute_field_sets(text, &[("cluster", &fields), ("params", params)])
    }

    pub(super) fn render_text(
        &mut self,
        what: std::fmt::Arguments<'_>,
        text: &str,
    ) -> Result<String, UserError> {
        // `what` names the text in errors: written out only for text that is a template.
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        if let Some(text) = self.render_static(text) {
            return Ok(text);
        }
        let values = self.values.get(&self.renderer)?;
        self.renderer
            .render_inline(&what.to_string(), text, &values.context)
    }

    /// The step with the paths of `render` and built-in steps rendered (`{{cluster.dir}}/plan`).
    pub(super) fn resolve_paths(&mut self, task: &str, step: &Step) -> Result<Step, UserError> {
        let mut one = |s: &String| self.render_text(format_args!("task `{task}` path"), s);
        Ok(match step {
            Step::Command(_) => step.clone(),
            Step::Render(r) => Step::Render(RenderStep {
                templates: r.templates.iter().map(&mut one).collect::<Result<_, _>>()?,
                out: one(&r.out)?,
                check: r.check,
                engine: r.engine,
                snippets: r.snippets.iter().map(&mut one).collect::<Result<_, _>>()?,
                missing: r.missing,
                // Literal, as kops reads them: not paths, not rendered.
                set: r.set.clone(),
                set_string: r.set_string.clone(),
                format_yaml: r.format_yaml,
            }),
            Step::Builtin(b) => Step::Builtin(match b {
                Builtin::ShowOutputs => Builtin::ShowOutputs,
                Builtin::ProviderOverride { out } => Builtin::ProviderOverride { out: one(out)? },
                Builtin::SnapshotState { out } => Builtin::SnapshotState { out: one(out)? },
                Builtin::Copy { from, out } => Builtin::Copy {
                    from: one(from)?,
                    out: one(out)?,
                },
                Builtin::SealPlan { plan, inputs } => Builtin::SealPlan {
                    plan: one(plan)?,
                    inputs: inputs.iter().map(&mut one).collect::<Result<_, _>>()?,
                },
                Builtin::CheckPlan { plan } => Builtin::CheckPlan { plan: one(plan)? },
                Builtin::CheckProtected { plan } => Builtin::CheckProtected { plan: one(plan)? },
                Builtin::PlannedOutputs { plan } => Builtin::PlannedOutputs { plan: one(plan)? },
                Builtin::Review {
                    plan,
                    out,
                    rolling_update,
                    target,
                    json,
                    spec,
                    manifest,
                    prerequisites,
                } => Builtin::Review {
                    plan: one(plan)?,
                    out: one(out)?,
                    rolling_update: rolling_update.as_ref().map(&mut one).transpose()?,
                    target: *target,
                    json: json.as_ref().map(&mut one).transpose()?,
                    spec: match spec {
                        Some(s) => Some(crate::project::task::SpecPaths {
                            live: one(&s.live)?,
                            manifest: one(&s.manifest)?,
                        }),
                        None => None,
                    },
                    manifest: manifest.as_ref().map(&mut one).transpose()?,
                    prerequisites: prerequisites.as_ref().map(&mut one).transpose()?,
                },
                Builtin::PruneInstanceGroups { manifest } => Builtin::PruneInstanceGroups {
                    manifest: one(manifest)?,
                },
                Builtin::Remove { paths } => Builtin::Remove {
                    paths: paths.iter().map(&mut one).collect::<Result<_, _>>()?,
                },
            }),
        })
    }

    /// The environment a task's children get from tasks.toml: `[env]`, the cluster's, the
    /// task's, then `step_env`, rendered; secret ones are added to the redactor.
    pub(super) fn env_layers(
        &mut self,
        task_name: &str,
        task: &Task,
        step_env: &indexmap::IndexMap<String, String>,
    ) -> Result<Vec<(String, String)>, UserError> {
        let mut env = Vec::new();
        // The layers' names are written out only for a value that is a template (in its
        // error): made for every command step, they were most of this function's cost.
        let cluster = self.cluster.as_ref();
        let cluster_env = cluster.map(|c| c.config.env.clone()).unwrap_or_default();
        let cluster_id = cluster.map_or("", |c| c.id.as_str()).to_string();
        let layers: [(&indexmap::IndexMap<String, String>, u8); 4] = [
            (&self.project.config.env, 0),
            (&cluster_env, 1),
            (&task.env, 2),
            (step_env, 3),
        ];
        for (vars, layer) in layers {
            for (k, v) in vars {
                let value = match layer {
                    0 => self.render_text(format_args!("[env] {k}"), v)?,
                    1 => self.render_text(format_args!("cluster `{cluster_id}` env {k}"), v)?,
                    2 => self.render_text(format_args!("task `{task_name}` env {k}"), v)?,
                    _ => self.render_text(format_args!("task `{task_name}` step env {k}"), v)?,
                };
                if self.redactor.is_secret_var(k) {
                    self.redactor.add(value.clone());
                }
                env.push((k.clone(), value));
            }
        }
        Ok(env)
    }

    /// The environment added for a child: [`Self::env_layers`] with the step's own, and what
    /// kopsform adds (the cluster for kops, the snapshot's kubeconfig, Terraform's automation
    /// settings off a terminal).
    pub(super) fn child_env(
        &mut self,
        task_name: &str,
        task: &Task,
        cmd: &CommandStep,
        argv: &[String],
        is_kops: bool,
        in_prerequisites: bool,
    ) -> Result<Vec<(String, String)>, UserError> {
        let mut env = self.env_layers(task_name, task, &cmd.env)?;
        // kops always learns its cluster; other tools do when the values are at hand.
        let cluster = if is_kops {
            Some(self.require_cluster()?)
        } else if !in_prerequisites {
            self.known_cluster()
        } else {
            None
        };
        // kops reads the kubeconfig context named after the cluster (`update cluster` for the
        // control plane's running version, `rolling-update` and `validate` for the API server):
        // the one the project exports, unless tasks.toml sets KUBECONFIG itself. An isolated run
        // gets its own, below.
        if is_kops
            && self.snapshot.is_none()
            && !env.iter().any(|(k, _)| k == "KUBECONFIG")
            && let Some(kubeconfig) = self.project_kubeconfig()
        {
            env.push((
                "KUBECONFIG".into(),
                kubeconfig.to_string_lossy().into_owned(),
            ));
        }
        if let Some(cluster) = cluster {
            // A kops step that names the cluster as its argument gets no KOPS_CLUSTER_NAME: kops
            // would take it for `--name` and refuse both (tools::kops::names_cluster_positionally).
            if !(is_kops
                && crate::tools::kops::names_cluster_positionally(&argv[1..], &cluster.name))
            {
                env.push(("KOPS_CLUSTER_NAME".into(), cluster.name));
            }
            env.push(("KOPS_STATE_STORE".into(), cluster.state));
        }
        if let Some(snapshot) = &self.snapshot {
            // An isolated run never reads or writes the user's kubeconfig (kops would use it to
            // reach the live API server).
            let kubeconfig = Path::new(&snapshot.path).with_file_name("kubeconfig");
            env.push((
                "KUBECONFIG".into(),
                kubeconfig.to_string_lossy().into_owned(),
            ));
        }
        if !process::stdin_is_terminal() {
            // terraform: behave as with -input=false on every subcommand, and say it is automated.
            env.push(("TF_INPUT".into(), "0".into()));
            env.push(("TF_IN_AUTOMATION".into(), "1".into()));
        }
        Ok(env)
    }

    /// The kubeconfig the project writes for the cluster: the `--kubeconfig` of the first
    /// `kops export kubecfg` step of its tasks (in the order of tasks.toml), rendered for the
    /// cluster and taken from that step's folder. `None` when no task exports one, or its path
    /// cannot be rendered yet (asked again then: the values may be read later in the run).
    pub(super) fn project_kubeconfig(&mut self) -> Option<PathBuf> {
        if let Some(found) = &self.kubeconfig {
            return Some(found.clone());
        }
        let project = self.project;
        for (name, task) in &project.config.tasks {
            for step in &task.steps {
                let Step::Command(c) = step else { continue };
                if !project.is_tool(&c.argv[0], "kops") {
                    continue;
                }
                let args = crate::tools::kops::KopsArgs::parse(&c.argv[1..]);
                if !args.exports_kubeconfig() {
                    continue;
                }
                let Some(path) = args.kubeconfig else {
                    continue;
                };
                let path = self
                    .render_text(format_args!("task `{name}` --kubeconfig"), &path)
                    .ok()?;
                let cwd = match c.cwd.as_ref().or(task.cwd.as_ref()) {
                    Some(cwd) => self
                        .render_text(format_args!("task `{name}` cwd"), cwd)
                        .ok()?,
                    None => String::new(),
                };
                let found = project.path(&cwd).join(path);
                self.kubeconfig = Some(found.clone());
                return Some(found);
            }
        }
        None
    }

    /// A secret never goes on a command line, where every user of the machine can read it
    /// (`ps`, /proc/PID/cmdline), in any form the redactor knows (a line of it, escaped, base64
    /// or URL-encoded: `{{b64enc secret}}` is the secret to anyone who reads it): the step is
    /// refused, in a dry run too, before anything runs (the runner names the task).
    pub(super) fn refuse_secret_arguments(&mut self, argv: &[String]) -> Result<(), UserError> {
        // The environment of the step is rendered first, so the secrets it names are known.
        let Some((i, form)) = argv
            .iter()
            .enumerate()
            .find_map(|(i, a)| self.redactor.find_secret(a).map(|form| (i, form)))
        else {
            return Ok(());
        };
        let what = if i == 0 {
            "its program".to_string()
        } else {
            format!("argument {i}")
        };
        let how = match form {
            crate::redact::Form::Clear => String::new(),
            form => format!(", {}", form.describe()),
        };
        Err(UserError::new(format!(
            "{what} of `{}` holds a secret value{how} (a sensitive output, or a variable of `secret-env`), and a command line is visible to every user of the machine (ps); pass it in the environment instead (e.g. env = {{ TF_VAR_name = \"{{{{output}}}}\" }} in the task, read by the program), or in a file rendered with mode 0600",
            self.redactor.mask(&argv[0])
        )))
    }

    /// Before a Terraform command that prints resource or output values (plan, apply, destroy,
    /// refresh, output, show, state, console), the values its state (or the saved plan it applies
    /// or shows) marks sensitive are added to the redactor: Terraform's own text shows some of
    /// them in clear, and a task that never reads the outputs would not know them otherwise.
    /// Read once per state or plan per run (once it succeeded, retried on transient errors); a
    /// folder without state (or not initialised yet) has nothing to learn.
    pub(super) fn learn_terraform_secrets(
        &mut self,
        program: &str,
        args: &[String],
        cwd: &Path,
        env: &[(String, String)],
    ) {
        let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let Some(command) = words.first().map(|w| w.as_str()) else {
            return;
        };
        // The commands that print resource values, and those that print the state's sensitive
        // values in clear (`output -json`, `show -json`, `state pull`, `console`).
        if !matches!(
            command,
            "plan" | "apply" | "destroy" | "refresh" | "output" | "show" | "state" | "console"
        ) {
            return;
        }
        let saved_plan = matches!(command, "apply" | "show")
            .then(|| words.get(1))
            .flatten()
            .map(|p| cwd.join(p))
            .filter(|p| p.is_file());
        let key = saved_plan
            .clone()
            .unwrap_or_else(|| cwd.join(".terraform-state"));
        let key = key.canonicalize().unwrap_or(key);
        if self.learned.contains(&key) {
            return;
        }
        let workspace = self
            .cluster
            .as_ref()
            .and_then(|c| c.config.workspace.clone());
        if saved_plan.is_none()
            && crate::values::local_state::holds_no_state(cwd, program, env, workspace.as_deref())
        {
            // Nothing to learn yet; asked again before the next command here (an apply may
            // have written the state since).
            return;
        }
        let mut show = vec!["show".to_string(), "-json".to_string()];
        if let Some(plan) = &saved_plan {
            show.push(plan.to_string_lossy().into_owned());
        }
        let show: Vec<&str> = show.iter().map(String::as_str).collect();
        // A read like any other: again after a transient error; learned only once it succeeded,
        // so a failed read is tried again before the next command in this folder.
        let policy = self.project.retry_policy(None);
        if let Ok(process::Output {
            code: 0, stdout, ..
        }) = retry::run_captured(policy, program, &show, cwd, env)
        {
            self.learned.insert(key);
            self.learn_from_show(&stdout);
        }
    }

    /// Adds the values `terraform show -json` output marks sensitive to the redactor.
    pub(super) fn learn_from_show(&self, json: &[u8]) {
        let json = crate::tools::terraform::json_document(json);
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(json) {
            for secret in crate::redact::sensitive_strings(&json) {
                self.redactor.add(secret);
            }
        }
    }
}

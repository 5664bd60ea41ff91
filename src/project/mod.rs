//! The `tasks.toml` schema and its loader.
//!
//! The file is deserialized straight into these types with serde; every table rejects unknown keys,
//! so a typo is an error that names the file, line and column (the `toml` crate carries spans for
//! us). Steps come in two shapes, an argv array or an inline table, and are checked into [`Step`]
//! here so that nothing downstream ever looks at raw TOML.

pub mod graph;

use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::UserError;

/// The whole `tasks.toml`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the values come from.
    #[serde(default)]
    pub prerequisites: Prerequisites,
    /// The cluster the tasks act on (the single-cluster form).
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
    /// Several clusters, by id (`[clusters.dev]`); tasks run once per selected cluster.
    #[serde(default)]
    pub clusters: IndexMap<String, ClusterConfig>,
    /// Stage names in promotion order, when clusters name their `stage` (default: the order in
    /// which the clusters first name them).
    #[serde(default)]
    pub stages: Vec<String>,
    /// Tool name -> binary. `terraform`, `kops` and `aws` default to themselves on PATH.
    #[serde(default)]
    pub tools: IndexMap<String, String>,
    /// Environment given to every child (values are templates).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Names (or globs, `*_TOKEN`) of environment variables whose values are secrets, in
    /// addition to the usual credential variables: masked everywhere, never on a command line.
    #[serde(default, rename = "secret-env")]
    pub secret_env: Vec<String>,
    /// The audit trail of runs (docs/audit.md).
    #[serde(default)]
    pub audit: AuditConfig,
    /// Retries of repeatable steps on transient cloud errors, for every task (docs/reliability.md).
    #[serde(default)]
    pub retry: RetryConfig,
    /// Provider settings written into a Terraform override file by the `provider-override` step.
    #[serde(default, rename = "provider-override")]
    pub provider_override: Option<ProviderOverride>,
    /// Plan review settings: which resources are protected.
    #[serde(default)]
    pub review: ReviewConfig,
    /// How `kopsform ci` generates pipelines (docs/ci/).
    #[serde(default)]
    pub ci: CiConfig,
    /// The tasks, in file order.
    #[serde(default)]
    pub tasks: IndexMap<String, Task>,
}

/// `[audit]`: where runs are recorded, one JSON line per task.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// `false`: record nothing.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The file, relative to the project (default `.kopsform/audit.jsonl`).
    #[serde(default)]
    pub path: Option<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            path: None,
        }
    }
}

/// `[retry]` and `[tasks.<name>.retry]`: retries of steps that only read, on transient cloud
/// errors (src/retry.rs has the defaults and the rules).
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetryConfig {
    /// Attempts in all, the first included (default 3; 1 turns retries off).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// The wait before the first retry, doubled for each further one (default `2s`).
    #[serde(default)]
    pub delay: Option<String>,
    /// The longest wait (default `30s`).
    #[serde(default)]
    pub max_delay: Option<String>,
    /// Regular expressions of further transient errors, matched against each output line.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// `false`: only `patterns` count, not kopsform's built-in list.
    #[serde(default)]
    pub default_patterns: Option<bool>,
    /// Programs other than terraform, kops and aws (scripts) that are safe to run again.
    #[serde(default)]
    pub repeatable: Vec<String>,
}

/// `[ci]`: the settings of the generated CI pipelines (docs/ci/gitlab.md lists them).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CiConfig {
    /// The branch whose pipelines plan and apply (default `main`).
    #[serde(default = "default_branch")]
    pub branch: String,
    /// The kopsform version the jobs install (default: the generating kopsform's).
    #[serde(default)]
    pub kopsform_version: Option<String>,
    /// The shell command that installs kopsform in a job (`{version}` is replaced); "" for none.
    #[serde(default)]
    pub install: Option<String>,
    /// The container image the jobs run in.
    #[serde(default)]
    pub image: Option<String>,
    /// Runner tags (GitLab), `runs-on` labels (GitHub), the agent label (Jenkins).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Apply only after a person starts the job (default true).
    #[serde(default = "default_true")]
    pub manual_apply: bool,
    /// Roll the instance groups only after a person starts the job (default true).
    #[serde(default = "default_true")]
    pub manual_rolling_update: bool,
    /// Extra environment of every job (names of secrets belong in the platform's settings).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Which tasks the jobs run.
    #[serde(default)]
    pub tasks: CiTasks,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            branch: default_branch(),
            kopsform_version: None,
            install: None,
            image: None,
            tags: Vec::new(),
            manual_apply: true,
            manual_rolling_update: true,
            env: IndexMap::new(),
            tasks: CiTasks::default(),
        }
    }
}

fn default_branch() -> String {
    "main".into()
}

/// `[ci.tasks]`: the tasks behind each job of the generated pipelines.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct CiTasks {
    pub dryrun: String,
    pub update: Vec<String>,
    pub apply: String,
    pub rolling_update: String,
    pub rolling_update_yes: String,
}

impl Default for CiTasks {
    fn default() -> Self {
        CiTasks {
            dryrun: "dryrun".into(),
            update: vec!["cluster-update".into(), "plan".into()],
            apply: "apply".into(),
            rolling_update: "cluster-rolling-update".into(),
            rolling_update_yes: "cluster-rolling-update-yes".into(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReviewConfig {
    /// Resources whose deletion or replacement is flagged in reviews and refused by `apply`
    /// unless allowed by address.
    #[serde(default)]
    pub protect: Vec<ProtectRule>,
    /// Keep kopsform's built-in list (etcd volumes, S3 buckets, Route53 zones, control-plane
    /// autoscaling groups) in addition to `protect`.
    #[serde(default = "default_true")]
    pub protect_defaults: bool,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            protect: Vec::new(),
            protect_defaults: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// A protected-resource rule: a resource matches when its type equals `type` (if given) and its
/// full address matches the glob `address` (if given).
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProtectRule {
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub address: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prerequisites {
    /// The Terraform layer whose `terraform output -json` feeds the templates.
    #[serde(default = "default_prerequisites_dir")]
    pub dir: String,
}

impl Default for Prerequisites {
    fn default() -> Self {
        Prerequisites {
            dir: default_prerequisites_dir(),
        }
    }
}

fn default_prerequisites_dir() -> String {
    "1-prerequisites".to_string()
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The kops cluster name, a template over the values (e.g. `{{cluster_name}}`).
    pub name: String,
    /// The kops state store, a template over the values (e.g. `s3://{{kops_s3_bucket}}`).
    pub state: String,
    /// Values files (YAML or JSON), deep-merged in order over the outputs.
    #[serde(default)]
    pub values: Vec<String>,
    /// Sensitive outputs that may reach the template context. Others are left out.
    #[serde(default)]
    pub sensitive: Vec<String>,
    /// Promotion stage: a name (ordered by `stages`) or a number.
    #[serde(default)]
    pub stage: Option<Stage>,
    /// The cluster's own prerequisites layer (default: `[prerequisites] dir`).
    #[serde(default)]
    pub prerequisites: Option<String>,
    /// The Terraform workspace of the prerequisites layer (`TF_WORKSPACE` for its commands).
    #[serde(default)]
    pub workspace: Option<String>,
    /// The cluster's Terraform folder for `cluster.yml`, `kubernetes.tf` and plans (default
    /// `2-kops`); `{{cluster.dir}}` in tasks.
    #[serde(default)]
    pub dir: Option<String>,
    /// Environment for every child of this cluster's runs (e.g. its `AWS_PROFILE`), over `[env]`.
    #[serde(default)]
    pub env: IndexMap<String, String>,
}

/// A promotion stage.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(
    untagged,
    expecting = "expected a stage name or number; write e.g. `stage = \"prod\"` or `stage = 2`"
)]
pub enum Stage {
    Number(i64),
    Name(String),
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Number(n) => write!(f, "{n}"),
            Stage::Name(n) => f.write_str(n),
        }
    }
}

/// One cluster of the project, with its defaults filled in.
#[derive(Debug, Clone)]
pub struct ClusterDef {
    /// The id of `[clusters.<id>]`; `default` for the single `[cluster]` form.
    pub id: String,
    pub config: ClusterConfig,
    /// The cluster's Terraform folder.
    pub dir: String,
    /// The prerequisites layer its values come from.
    pub prerequisites: String,
    /// kopsform's scratch folder for the cluster: `.kopsform` (single `[cluster]`) or
    /// `.kopsform/<id>`.
    pub work: String,
    /// The position of its stage in the promotion order (0 first).
    pub rank: usize,
}

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProviderOverride {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub assume_role: Option<String>,
    /// Region of the `aws.files` provider alias kops uses for the state store objects.
    pub files_region: Option<String>,
    /// Profile of the `aws.files` alias; defaults to `profile`.
    pub files_profile: Option<String>,
    /// Role the `aws.files` alias assumes; defaults to `assume_role`.
    pub files_assume_role: Option<String>,
}

/// `confirm = true` or `confirm = "question to ask"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(
    untagged,
    expecting = "expected `true`, `false` or the question to ask; write e.g. `confirm = true` or `confirm = \"Apply to prod?\"`"
)]
pub enum Confirm {
    Flag(bool),
    Prompt(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    #[serde(default)]
    pub desc: String,
    #[serde(default)]
    pub deps: Vec<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: IndexMap<String, String>,
    #[serde(default)]
    pub confirm: Option<Confirm>,
    /// Take the cluster's lock while the task runs (default: when it changes the cluster, see
    /// docs/clusters.md).
    #[serde(default)]
    pub lock: Option<bool>,
    /// `false`: never run beside another task of the cluster (default: independent tasks that
    /// touch no cluster state may run in parallel, see docs/clusters.md).
    #[serde(default)]
    pub parallel: Option<bool>,
    /// Globs of the files the task reads: with them, the task is skipped as "up to date" when
    /// nothing it depends on changed (docs/clusters.md, "Up-to-date checks").
    #[serde(default)]
    pub sources: Vec<String>,
    /// Globs of the files the task writes; a missing or changed one makes it run again.
    #[serde(default)]
    pub generates: Vec<String>,
    /// Retry settings of this task's steps, over the project's `[retry]`.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    #[serde(default)]
    pub steps: Vec<Step>,
}

impl Task {
    /// The question asked before the task runs, if it needs a confirmation.
    pub fn confirmation(&self, name: &str) -> Option<String> {
        match &self.confirm {
            None | Some(Confirm::Flag(false)) => None,
            Some(Confirm::Flag(true)) => Some(format!("Run task `{name}`?")),
            Some(Confirm::Prompt(p)) => Some(p.clone()),
        }
    }
}

/// What a command step's output is read for, after it succeeded.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Report {
    /// `kops rolling-update cluster`: which instance groups need an update.
    RollingUpdate,
    /// `kops delete cluster`: what would be deleted, and what `--unregister` would leave behind.
    DeleteCluster,
}

/// What a `render` step checks before writing.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestCheck {
    /// A kops multi-document manifest (the default).
    #[default]
    Kops,
    /// Any text: written as rendered.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builtin {
    /// Print the prerequisites outputs, sensitive ones masked.
    ShowOutputs,
    /// Write (or remove) the Terraform provider override file `out`.
    ProviderOverride { out: String },
    /// Copy the cluster's objects of the kops state store into the local folder `out`; later steps
    /// of the run see `cluster.state` = that folder.
    SnapshotState { out: String },
    /// Copy the folder `from` to `out` (without generated files and Terraform's working folder).
    Copy { from: String, out: String },
    /// Record the hashes of the saved plan `plan` and of its `inputs` next to it.
    SealPlan { plan: String, inputs: Vec<String> },
    /// Refuse when the saved plan or its inputs changed since `seal-plan`, or when it deletes or
    /// replaces a protected resource that `--allow-destroy` does not name.
    CheckPlan { plan: String },
    /// Only the protected-resource check of `check-plan` (for plans that are not sealed, such as
    /// a destroy plan made right before it is applied).
    CheckProtected { plan: String },
    /// Write the review of the saved plan `plan` to `out` (Markdown), with the saved output of
    /// `kops rolling-update cluster` when `rolling_update` names it, fitted to a platform's
    /// comment limit with `target`, and its JSON form to `json`.
    Review {
        plan: String,
        out: String,
        rolling_update: Option<String>,
        target: Option<crate::cli::ReviewTarget>,
        json: Option<String>,
    },
    /// Remove files or folders of the project (e.g. a saved plan, which holds sensitive values).
    Remove { paths: Vec<String> },
}

impl Builtin {
    pub const NAMES: &'static str = "`show-outputs`, `provider-override`, `snapshot-state`, `copy`, `seal-plan`, `check-plan`, `check-protected`, `review` and `remove`";
}

/// One step of a task.
#[derive(Debug, Clone)]
pub enum Step {
    Command(CommandStep),
    Render(RenderStep),
    Builtin(Builtin),
}

#[derive(Debug, Clone, Default)]
pub struct CommandStep {
    pub argv: Vec<String>,
    pub cwd: Option<String>,
    pub env: IndexMap<String, String>,
    pub report: Option<Report>,
    /// With `report = "rolling-update"`: exit with status 2 when an instance group needs an update.
    pub fail_on_update: bool,
    /// Files the command writes that must be private (mode 0600), e.g. a kubeconfig.
    pub private: Vec<String>,
    /// A file to save the command's standard output to (masked), once it succeeded.
    pub save: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RenderStep {
    pub template: String,
    pub out: String,
    pub check: ManifestCheck,
}

/// The inline-table form of a step, before it is checked into a [`Step`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct StepTable {
    run: Option<Vec<String>>,
    render: Option<String>,
    builtin: Option<String>,
    out: Option<String>,
    from: Option<String>,
    plan: Option<String>,
    #[serde(default)]
    inputs: Vec<String>,
    check: Option<ManifestCheck>,
    cwd: Option<String>,
    #[serde(default)]
    env: IndexMap<String, String>,
    report: Option<Report>,
    #[serde(default)]
    fail_on_update: bool,
    #[serde(default)]
    private: Vec<String>,
    save: Option<String>,
    rolling_update: Option<String>,
    #[serde(rename = "for")]
    target: Option<crate::cli::ReviewTarget>,
    json: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
}

impl StepTable {
    fn into_step(self) -> Result<Step, String> {
        let kinds = [
            self.run.is_some(),
            self.render.is_some(),
            self.builtin.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(
                "a step table needs exactly one of `run` (an argv array), `render` (a template path) or `builtin`"
                    .to_string(),
            );
        }
        let not_for = |what: &str, key: &str, set: bool| {
            if set {
                Err(format!("`{key}` does not apply to a `{what}` step"))
            } else {
                Ok(())
            }
        };
        if let Some(argv) = self.run {
            not_for("run", "out", self.out.is_some())?;
            not_for("run", "check", self.check.is_some())?;
            for (key, set) in [
                ("rolling-update", self.rolling_update.is_some()),
                ("for", self.target.is_some()),
                ("json", self.json.is_some()),
                ("paths", !self.paths.is_empty()),
            ] {
                not_for("run", key, set)?;
            }
            if argv.is_empty() {
                return Err("`run` is empty: give the program and its arguments".to_string());
            }
            if self.fail_on_update && self.report != Some(Report::RollingUpdate) {
                return Err("`fail-on-update` needs `report = \"rolling-update\"`".to_string());
            }
            return Ok(Step::Command(CommandStep {
                argv,
                cwd: self.cwd,
                env: self.env,
                report: self.report,
                fail_on_update: self.fail_on_update,
                private: self.private,
                save: self.save,
            }));
        }
        let what = if self.render.is_some() {
            "render"
        } else {
            "builtin"
        };
        not_for(what, "cwd", self.cwd.is_some())?;
        not_for(what, "env", !self.env.is_empty())?;
        not_for(what, "report", self.report.is_some())?;
        not_for(what, "fail-on-update", self.fail_on_update)?;
        not_for(what, "private", !self.private.is_empty())?;
        not_for(what, "save", self.save.is_some())?;
        if let Some(template) = self.render {
            let out = self
                .out
                .ok_or("a `render` step needs `out`, the file to write")?;
            return Ok(Step::Render(RenderStep {
                template,
                out,
                check: self.check.unwrap_or_default(),
            }));
        }
        not_for("builtin", "check", self.check.is_some())?;
        let name = self.builtin.unwrap_or_default();
        let (out, from, plan, inputs) = (self.out, self.from, self.plan, self.inputs);
        let (rolling_update, target, json, paths) =
            (self.rolling_update, self.target, self.json, self.paths);
        let need = |key: &str, value: Option<String>| {
            value.ok_or_else(|| format!("the `{name}` builtin needs `{key}`"))
        };
        let allowed: &[&str] = match name.as_str() {
            "show-outputs" => &[],
            "provider-override" | "snapshot-state" => &["out"],
            "copy" => &["from", "out"],
            "seal-plan" => &["plan", "inputs"],
            "check-plan" | "check-protected" => &["plan"],
            "review" => &["plan", "out", "rolling-update", "for", "json"],
            "remove" => &["paths"],
            other => {
                let names: Vec<String> = Builtin::NAMES
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect();
                return Err(format!(
                    "unknown builtin `{other}`{}; the builtins are {}",
                    crate::project::graph::suggest(other, names.iter()),
                    Builtin::NAMES
                ));
            }
        };
        for (key, set) in [
            ("out", out.is_some()),
            ("from", from.is_some()),
            ("plan", plan.is_some()),
            ("inputs", !inputs.is_empty()),
            ("rolling-update", rolling_update.is_some()),
            ("for", target.is_some()),
            ("json", json.is_some()),
            ("paths", !paths.is_empty()),
        ] {
            if set && !allowed.contains(&key) {
                return Err(format!("`{key}` does not apply to the `{name}` builtin"));
            }
        }
        let kind = match name.as_str() {
            "show-outputs" => Builtin::ShowOutputs,
            "provider-override" => Builtin::ProviderOverride {
                out: need("out", out)?,
            },
            "snapshot-state" => Builtin::SnapshotState {
                out: need("out", out)?,
            },
            "copy" => Builtin::Copy {
                from: need("from", from)?,
                out: need("out", out)?,
            },
            "seal-plan" => Builtin::SealPlan {
                plan: need("plan", plan)?,
                inputs,
            },
            "check-plan" => Builtin::CheckPlan {
                plan: need("plan", plan)?,
            },
            "check-protected" => Builtin::CheckProtected {
                plan: need("plan", plan)?,
            },
            "remove" if paths.is_empty() => {
                return Err("the `remove` builtin needs `paths`, the files to remove".to_string());
            }
            "remove" => Builtin::Remove { paths },
            _ => Builtin::Review {
                plan: need("plan", plan)?,
                out: need("out", out)?,
                rolling_update,
                target,
                json,
            },
        };
        Ok(Step::Builtin(kind))
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an argv array of strings, or a table with `run`, `render` or `builtin`",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Step, A::Error> {
                let argv: Vec<String> =
                    Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                if argv.is_empty() {
                    return Err(de::Error::custom(
                        "an empty argv array: give the program and its arguments",
                    ));
                }
                Ok(Step::Command(CommandStep {
                    argv,
                    ..CommandStep::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Step, A::Error> {
                let table: StepTable =
                    Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                table.into_step().map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_any(StepVisitor)
    }
}

/// A loaded `tasks.toml` and where it lives.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub file: PathBuf,
    pub config: Config,
    /// `[cluster]` or `[clusters.*]`, with defaults filled in.
    pub clusters: Vec<ClusterDef>,
}

pub const TASKS_FILE: &str = "tasks.toml";

impl Project {
    /// Finds the project: `dir` when given (`-C`), else the nearest ancestor of `start` holding a
    /// `tasks.toml`.
    pub fn locate(dir: Option<&Path>, start: &Path) -> Result<PathBuf, UserError> {
        if let Some(dir) = dir {
            let dir = if dir.is_absolute() {
                dir.to_path_buf()
            } else {
                start.join(dir)
            };
            if !dir.join(TASKS_FILE).is_file() {
                return Err(UserError::new(format!(
                    "{}: no {TASKS_FILE} in this folder; -C must name a kopsform project",
                    dir.display()
                )));
            }
            return Ok(dir);
        }
        let mut here = Some(start);
        while let Some(d) = here {
            if d.join(TASKS_FILE).is_file() {
                return Ok(d.to_path_buf());
            }
            here = d.parent();
        }
        Err(UserError::new(format!(
            "no {TASKS_FILE} in {} or any folder above it; run kopsform inside a project or pass -C DIR",
            start.display()
        )))
    }

    pub fn load(dir: PathBuf) -> Result<Project, UserError> {
        let file = dir.join(TASKS_FILE);
        let bytes = std::fs::read(&file)
            .map_err(|e| UserError::new(format!("{}: cannot read: {e}", file.display())))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            UserError::new(format!(
                "{}:{}: not UTF-8 text (bad byte at offset {}); save the file as UTF-8",
                file.display(),
                utf8_error_position(e.as_bytes(), e.utf8_error().valid_up_to()),
                e.utf8_error().valid_up_to()
            ))
        })?;
        Project::from_text(dir, file, &text)
    }

    /// The project of `tasks.toml` text read from `file` in `dir`: parsed and checked as [`load`]
    /// does, without touching the filesystem.
    ///
    /// [`load`]: Project::load
    pub fn from_text(dir: PathBuf, file: PathBuf, text: &str) -> Result<Project, UserError> {
        let config = parse(text).map_err(|e| UserError::new(format!("{}:{e}", file.display())))?;
        let clusters = cluster_defs(&config)
            .and_then(|c| check_tasks(&config).map(|()| c))
            .map_err(|e| UserError::new(format!("{}: {e}", file.display())))?;
        let project = Project {
            dir,
            file,
            config,
            clusters,
        };
        crate::project::graph::check(&project)?;
        crate::tools::retry::set_own_reads(project.retry_policy(None));
        crate::review::check_rules(&project.config.review.protect)
            .map_err(|e| UserError::new(format!("{}: {e}", project.file.display())))?;
        Ok(project)
    }

    /// A path from `tasks.toml`, relative to the project folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The binary for a tool name: the `[tools]` entry, or the name itself. A value with a `/` is a
    /// path relative to the project.
    pub fn tool(&self, name: &str) -> Option<String> {
        self.config
            .tools
            .get(name)
            .map(|bin| self.program_path(bin))
    }

    /// A program as tasks.toml names it: a relative path (`./scripts/lint.sh`, `bin/kops`) is
    /// relative to the project folder, wherever kopsform runs from; a bare name is looked up on
    /// PATH.
    fn program_path(&self, bin: &str) -> String {
        if bin.contains('/') && !Path::new(bin).is_absolute() {
            self.dir.join(bin).to_string_lossy().into_owned()
        } else {
            bin.to_string()
        }
    }

    /// The retry policy of `task` (the project's `[retry]` alone for kopsform's own reads).
    /// Checked when the project was loaded.
    pub fn retry_policy(&self, task: Option<&Task>) -> crate::tools::retry::Policy {
        crate::tools::retry::Policy::new(&self.config.retry, task.and_then(|t| t.retry.as_ref()))
            .unwrap_or_else(|_| crate::tools::retry::Policy::defaults())
    }

    /// The program a step's first word runs: its `[tools]` entry, else the word itself, a relative
    /// path taken from the project folder in both cases.
    pub fn tool_or_default(&self, name: &str) -> String {
        self.tool(name).unwrap_or_else(|| self.program_path(name))
    }

    /// Which of the tools kopsform knows a step's first word runs (`Other` for the rest).
    pub fn tool_kind(&self, argv0: &str) -> crate::tools::retry::Tool {
        use crate::tools::retry::Tool;
        [
            ("terraform", Tool::Terraform),
            ("kops", Tool::Kops),
            ("aws", Tool::Aws),
        ]
        .into_iter()
        .find_map(|(name, kind)| self.is_tool(argv0, name).then_some(kind))
        .unwrap_or(Tool::Other)
    }

    /// Whether a step's first word runs the tool `name` (by name, or as its `[tools]` binary).
    pub fn is_tool(&self, argv0: &str, name: &str) -> bool {
        if argv0 == name || self.tool_or_default(argv0) == self.tool_or_default(name) {
            return true;
        }
        // OpenTofu is Terraform to kopsform, whatever the step calls it (`tofu`, `/opt/bin/tofu`).
        name == "terraform"
            && Path::new(&self.tool_or_default(argv0))
                .file_name()
                .is_some_and(|n| n == "tofu")
    }
}

/// Checks what one task's keys say together.
fn check_tasks(config: &Config) -> Result<(), String> {
    crate::tools::retry::Policy::new(&config.retry, None).map_err(|e| format!("[retry] {e}"))?;
    // A task without its own `retry` table has the project's policy, checked just above.
    for (name, task) in config.tasks.iter().filter(|(_, t)| t.retry.is_some()) {
        crate::tools::retry::Policy::new(&config.retry, task.retry.as_ref())
            .map_err(|e| format!("task `{name}`: retry: {e}"))?;
    }
    for pattern in &config.secret_env {
        if let Err(e) = glob::Pattern::new(pattern) {
            return Err(format!(
                "secret-env: `{pattern}` is not a variable name or glob ({e}); use names such as DB_PASSWORD or globs such as *_TOKEN"
            ));
        }
    }
    for (name, task) in &config.tasks {
        if !task.generates.is_empty() && task.sources.is_empty() {
            return Err(format!(
                "task `{name}` has `generates` but no `sources`; the up-to-date check needs both: add `sources`, the files the task reads"
            ));
        }
    }
    Ok(())
}

/// The project's clusters in file order, checked: ids are names, stages are all names or all
/// numbers (names listed in `stages` when it is given), and no two clusters share a folder.
pub fn cluster_defs(config: &Config) -> Result<Vec<ClusterDef>, String> {
    if config.cluster.is_some() && !config.clusters.is_empty() {
        return Err(
            "both [cluster] and [clusters.*]: use [clusters.<id>] tables for several clusters, [cluster] for one"
                .into(),
        );
    }
    let listed: Vec<(String, &ClusterConfig)> = match &config.cluster {
        Some(c) => vec![("default".to_string(), c)],
        None => config
            .clusters
            .iter()
            .map(|(id, c)| (id.clone(), c))
            .collect(),
    };
    for (id, _) in &listed {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "[clusters.{id}]: a cluster id uses letters, digits, `-` and `_` only"
            ));
        }
    }
    let names = listed
        .iter()
        .filter(|(_, c)| matches!(c.stage, Some(Stage::Name(_))))
        .count();
    let mut numbers: Vec<i64> = listed
        .iter()
        .filter_map(|(_, c)| match c.stage {
            Some(Stage::Number(n)) => Some(n),
            _ => None,
        })
        .collect();
    if names > 0 && !numbers.is_empty() {
        return Err("cluster stages mix names and numbers; use one kind".into());
    }
    numbers.sort_unstable();
    numbers.dedup();
    let mut order: Vec<String> = config.stages.clone();
    for (id, c) in &listed {
        if let Some(Stage::Name(stage)) = &c.stage
            && !order.contains(stage)
        {
            if !config.stages.is_empty() {
                return Err(format!(
                    "[clusters.{id}] stage `{stage}` is not in `stages = [{}]`",
                    config.stages.join(", ")
                ));
            }
            order.push(stage.clone());
        }
    }
    let mut defs: Vec<ClusterDef> = Vec::new();
    for (id, c) in listed {
        let rank = match &c.stage {
            None => 0,
            Some(Stage::Name(n)) => order.iter().position(|o| o == n).unwrap_or(0),
            Some(Stage::Number(n)) => numbers.iter().position(|o| o == n).unwrap_or(0),
        };
        let dir = c.dir.clone().unwrap_or_else(|| "2-kops".to_string());
        let dir = dir.trim_end_matches('/').to_string();
        if let Some(other) = defs.iter().find(|d| d.dir == dir) {
            return Err(format!(
                "clusters `{}` and `{id}` both use the folder `{dir}` for cluster.yml, kubernetes.tf and plans; give each its own `dir`",
                other.id
            ));
        }
        defs.push(ClusterDef {
            work: if config.cluster.is_some() {
                ".kopsform".to_string()
            } else {
                format!(".kopsform/{id}")
            },
            prerequisites: c
                .prerequisites
                .clone()
                .unwrap_or_else(|| config.prerequisites.dir.clone()),
            dir,
            rank,
            id,
            config: c.clone(),
        });
    }
    Ok(defs)
}

/// Parses `tasks.toml` text. The error starts with `line:column: ` when the position is known.
pub fn parse(text: &str) -> Result<Config, String> {
    toml::from_str::<Config>(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                let key_hint = if message.starts_with("unknown field") {
                    " (check the spelling; docs/tasks-toml.md lists every key)"
                } else if message.starts_with("invalid type") {
                    "; fix the value (docs/tasks-toml.md gives the type of every key)"
                } else if message.starts_with("missing field") {
                    "; add it (docs/tasks-toml.md lists the required keys)"
                } else if message == "duplicate key" {
                    "; a key appears once per table: remove one of them"
                } else {
                    ""
                };
                format!("{line}:{col}: {message}{key_hint}")
            }
            None => format!(" {message}"),
        }
    })
}

/// `line:column` (1-based) of the first bad byte of a text that is not UTF-8, valid up to `offset`.
pub fn utf8_error_position(bytes: &[u8], offset: usize) -> String {
    let valid = std::str::from_utf8(&bytes[..offset.min(bytes.len())]).unwrap_or_default();
    let (line, col) = line_col(valid, valid.len());
    format!("{line}:{col}")
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_come_as_argv_arrays_or_tables() {
        let config = parse(
            r#"
[tasks.a]
steps = [
  ["kops", "version"],
  { run = ["terraform", "plan"], cwd = "2-kops" },
  { render = "t.yml", out = "o.yml" },
  { builtin = "show-outputs" },
]
"#,
        )
        .unwrap();
        let steps = &config.tasks["a"].steps;
        assert!(matches!(&steps[0], Step::Command(c) if c.argv == ["kops", "version"]));
        assert!(matches!(&steps[1], Step::Command(c) if c.cwd.as_deref() == Some("2-kops")));
        assert!(matches!(&steps[2], Step::Render(r) if r.check == ManifestCheck::Kops));
        assert!(matches!(&steps[3], Step::Builtin(Builtin::ShowOutputs)));
    }

    #[test]
    fn unknown_keys_name_line_and_column() {
        let err = parse("[tasks.a]\ndesc = \"x\"\ndeeps = []\n").unwrap_err();
        assert!(err.starts_with("3:1: unknown field `deeps`"), "{err}");
    }

    #[test]
    fn wrong_types_name_line_and_column() {
        let err = parse("[tasks.a]\nsteps = [[\"a\", 1]]\n").unwrap_err();
        assert!(err.starts_with("2:"), "{err}");
        assert!(err.contains("string"), "{err}");
    }

    #[test]
    fn a_step_table_needs_exactly_one_kind() {
        let err = parse("[tasks.a]\nsteps = [{ run = [\"x\"], render = \"t\" }]\n").unwrap_err();
        assert!(err.contains("exactly one of"), "{err}");
        let err = parse("[tasks.a]\nsteps = [{ render = \"t\" }]\n").unwrap_err();
        assert!(err.contains("needs `out`"), "{err}");
    }

    #[test]
    fn save_is_for_commands_and_rolling_update_for_the_review() {
        let config = parse(
            "[tasks.a]\nsteps = [{ run = [\"kops\"], save = \"o.txt\" }, { builtin = \"review\", plan = \"p\", out = \"r.md\", rolling-update = \"o.txt\" }]\n",
        )
        .unwrap();
        let steps = &config.tasks["a"].steps;
        assert!(matches!(&steps[0], Step::Command(c) if c.save.as_deref() == Some("o.txt")));
        assert!(matches!(
            &steps[1],
            Step::Builtin(Builtin::Review { rolling_update: Some(r), .. }) if r == "o.txt"
        ));
        let err = parse("[tasks.a]\nsteps = [{ render = \"t\", out = \"o\", save = \"s\" }]\n")
            .unwrap_err();
        assert!(
            err.contains("`save` does not apply to a `render` step"),
            "{err}"
        );
        let err = parse(
            "[tasks.a]\nsteps = [{ builtin = \"check-plan\", plan = \"p\", rolling-update = \"s\" }]\n",
        )
        .unwrap_err();
        assert!(
            err.contains("`rolling-update` does not apply to the `check-plan` builtin"),
            "{err}"
        );
    }

    #[test]
    fn generates_needs_sources() {
        let config = parse("[tasks.a]\ngenerates = [\"x\"]\n").unwrap();
        let err = check_tasks(&config).unwrap_err();
        assert!(
            err.contains("task `a` has `generates` but no `sources`"),
            "{err}"
        );
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_col("ab\ncéd", 6), (2, 3));
    }
}

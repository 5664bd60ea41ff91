//! The tables of `tasks.toml` other than tasks and clusters (`[prerequisites]`, `[audit]`,
//! `[review]`, `[ci]`, `[provider-override]`), the whole file's [`Config`], and [`parse`], which
//! reads the text into it. Every table rejects unknown keys, so a typo is an error that names the
//! line and column (the `toml` crate carries spans).

use indexmap::IndexMap;
use serde::Deserialize;

use crate::project::cluster::ClusterConfig;
pub(crate) use crate::project::provider::{ProviderOverride, Setting};
use crate::project::task::Task;
use crate::tools::retry::RetryConfig;

/// The whole `tasks.toml`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// Where the values come from.
    #[serde(default)]
    pub(crate) prerequisites: Prerequisites,
    /// The cluster the tasks act on (the single-cluster form).
    #[serde(default)]
    pub(crate) cluster: Option<ClusterConfig>,
    /// Several clusters, by id (`[clusters.dev]`); tasks run once per selected cluster.
    #[serde(default)]
    pub(crate) clusters: IndexMap<String, ClusterConfig>,
    /// Stage names in promotion order, when clusters name their `stage` (default: the order in
    /// which the clusters first name them).
    #[serde(default)]
    pub(crate) stages: Vec<String>,
    /// Tool name -> binary, or a command with arguments (`["leverage", "tf"]`). `terraform`,
    /// `kops` and `aws` default to themselves on PATH.
    #[serde(default)]
    pub(crate) tools: IndexMap<String, ToolCommand>,
    /// Environment given to every child (values are templates).
    #[serde(default)]
    pub(crate) env: IndexMap<String, String>,
    /// Names (or globs, `*_TOKEN`) of environment variables whose values are secrets, in
    /// addition to the usual credential variables: masked everywhere, never on a command line.
    #[serde(default, rename = "secret-env")]
    pub(crate) secret_env: Vec<String>,
    /// The audit trail of runs (docs/audit.md).
    #[serde(default)]
    pub(crate) audit: AuditConfig,
    /// Retries of repeatable steps on transient cloud errors, for every task (docs/reliability.md).
    #[serde(default)]
    pub(crate) retry: RetryConfig,
    /// Provider settings written into a Terraform override file by the `provider-override` step.
    #[serde(default, rename = "provider-override")]
    pub(crate) provider_override: Option<ProviderOverride>,
    /// Plan review settings: which resources are protected.
    #[serde(default)]
    pub(crate) review: ReviewConfig,
    /// How `kopsform ci` generates pipelines (docs/ci/).
    #[serde(default)]
    pub(crate) ci: CiConfig,
    /// The tasks, in file order.
    #[serde(default)]
    pub(crate) tasks: IndexMap<String, Task>,
}

/// `[audit]`: where runs are recorded, one JSON line per task.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditConfig {
    /// `false`: record nothing.
    #[serde(default = "default_true")]
    pub(crate) enabled: bool,
    /// The file, relative to the project (default `.kopsform/audit.jsonl`).
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// `false`: the records stay in the local file only, not also in the cluster's state store.
    #[serde(default = "default_true", rename = "state-store")]
    pub(crate) state_store: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            path: None,
            state_store: true,
        }
    }
}

/// `[ci]`: the settings of the generated CI pipelines (docs/ci/gitlab.md lists them).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct CiConfig {
    /// The branch whose pipelines plan and apply (default `main`).
    #[serde(default = "default_branch")]
    pub(crate) branch: String,
    /// The kopsform version the jobs install (default: the generating kopsform's).
    #[serde(default)]
    pub(crate) kopsform_version: Option<String>,
    /// The shell command that installs kopsform in a job (`{version}` is replaced); "" for none.
    #[serde(default)]
    pub(crate) install: Option<String>,
    /// The container image the jobs run in.
    #[serde(default)]
    pub(crate) image: Option<String>,
    /// Runner tags (GitLab), `runs-on` labels (GitHub), the agent label (Jenkins).
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// Apply only after a person starts the job (default true).
    #[serde(default = "default_true")]
    pub(crate) manual_apply: bool,
    /// Roll the instance groups only after a person starts the job (default true).
    #[serde(default = "default_true")]
    pub(crate) manual_rolling_update: bool,
    /// Extra environment of every job (names of secrets belong in the platform's settings).
    #[serde(default)]
    pub(crate) env: IndexMap<String, String>,
    /// Which tasks the jobs run.
    #[serde(default)]
    pub(crate) tasks: CiTasks,
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
pub(crate) struct CiTasks {
    pub(crate) dryrun: String,
    pub(crate) update: Vec<String>,
    pub(crate) apply: String,
    pub(crate) rolling_update: String,
    pub(crate) rolling_update_yes: String,
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
pub(crate) struct ReviewConfig {
    /// Resources whose deletion or replacement is flagged in reviews and refused by `apply`
    /// unless allowed by address.
    #[serde(default)]
    pub(crate) protect: Vec<ProtectRule>,
    /// Keep kopsform's built-in list (etcd volumes, S3 buckets, Route53 zones, control-plane
    /// autoscaling groups) in addition to `protect`.
    #[serde(default = "default_true")]
    pub(crate) protect_defaults: bool,
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
pub(crate) struct ProtectRule {
    #[serde(rename = "type")]
    pub(crate) resource_type: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Prerequisites {
    /// The Terraform layer whose `terraform output -json` feeds the templates.
    #[serde(default = "default_prerequisites_dir")]
    pub(crate) dir: String,
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

/// A `[tools]` entry: one program (`"tofu"`, a path, which may hold spaces), or a command with
/// the arguments that go before a step's own (`["leverage", "tf"]`).
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(
    untagged,
    expecting = "expected a program (\"tofu\", \"bin/kops-1.30\") or a command with arguments ([\"leverage\", \"tf\"]); fix the value (docs/tasks-toml.md, [tools])"
)]
pub(crate) enum ToolCommand {
    Program(String),
    Command(Vec<String>),
}

impl ToolCommand {
    /// Its words: the program, then the arguments.
    pub(crate) fn words(&self) -> Vec<String> {
        match self {
            ToolCommand::Program(p) => vec![p.clone()],
            ToolCommand::Command(words) => words.clone(),
        }
    }
}

impl std::fmt::Display for ToolCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolCommand::Program(p) => write!(f, "{p:?}"),
            ToolCommand::Command(words) => write!(f, "{words:?}"),
        }
    }
}

/// Checks rules for mistakes the matcher cannot report: no condition at all, or a bad glob.
pub(crate) fn check_protect_rules(rules: &[ProtectRule]) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        let n = i + 1;
        if rule.resource_type.is_none() && rule.address.is_none() {
            return Err(format!(
                "[review] protect rule {n} has neither `type` nor `address`; give one or both, e.g. {{ type = \"aws_ebs_volume\", address = \"*-etcd-*\" }}"
            ));
        }
        if let Some(glob) = &rule.address {
            glob::Pattern::new(glob).map_err(|e| {
                format!(
                    "[review] protect rule {n}: `address = {glob:?}` is not a valid glob ({}); \
                     write a literal `[` as `[[]`",
                    e.msg
                )
            })?;
        }
    }
    Ok(())
}

/// Parses `tasks.toml` text. The error starts with `line:column: ` when the position is known.
pub(crate) fn parse(text: &str) -> Result<Config, String> {
    toml::from_str::<Config>(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        match e.span() {
            Some(span) => {
                let (line, col) = crate::text::line_col(text, span.start);
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

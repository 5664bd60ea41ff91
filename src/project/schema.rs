//! The tables of `tasks.toml` other than tasks and clusters (`[prerequisites]`, `[audit]`,
//! `[review]`, `[ci]`, `[provider-override]`), the whole file's [`Config`], and [`parse`], which
//! reads the text into it. Every table rejects unknown keys, so a typo is an error that names the
//! line and column (the `toml` crate carries spans).

use indexmap::IndexMap;
use serde::Deserialize;

use crate::project::cluster::ClusterConfig;
pub(crate) use crate::project::policy::PolicyRule;
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
    /// Tool name -> binary, or a command with arguments (`["leverage", "tf"]`), or a table with
    /// a version pin. `terraform`, `kops` and `aws` default to themselves on PATH.
    #[serde(default)]
    pub(crate) tools: IndexMap<String, ToolEntry>,
    /// Tool versions per stage (`[stage-tools.prod] kops = "1.31.2"`), over `[tools]`, under a
    /// cluster's own `tools`.
    #[serde(default, rename = "stage-tools")]
    pub(crate) stage_tools: IndexMap<String, IndexMap<String, String>>,
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
    /// How a job gets kopsform: `release` (default), `image`, `cargo` or `source`.
    #[serde(default)]
    pub(crate) install: Option<String>,
    /// A shell command that installs kopsform instead (`{version}` is replaced); "" for none.
    #[serde(default)]
    pub(crate) install_command: Option<String>,
    /// The base URL of the release downloads (`<base>/v<version>/...`).
    #[serde(default)]
    pub(crate) release_url: Option<String>,
    /// The SHA-256 of the release archive, pinned in the pipeline itself.
    #[serde(default)]
    pub(crate) kopsform_sha256: Option<String>,
    /// The git repository `install = "source"` builds from.
    #[serde(default)]
    pub(crate) source_url: Option<String>,
    /// The AWS role (ARN) the main-branch jobs assume through the platform's OIDC token.
    #[serde(default)]
    pub(crate) aws_role: Option<String>,
    /// The read-only AWS role (ARN) the merge/pull-request dry runs assume.
    #[serde(default)]
    pub(crate) aws_role_readonly: Option<String>,
    /// The AWS region of the role assumption (needed with a role).
    #[serde(default)]
    pub(crate) aws_region: Option<String>,
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
    /// Who may approve a plan: logins, `@org/team` (GitHub) or `@group/subgroup` (GitLab). When
    /// set, the apply job applies only a plan one of them approved (docs/security.md).
    #[serde(default)]
    pub(crate) approvers: Vec<String>,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            branch: default_branch(),
            kopsform_version: None,
            install: None,
            install_command: None,
            release_url: None,
            kopsform_sha256: None,
            source_url: None,
            aws_role: None,
            aws_role_readonly: None,
            aws_region: None,
            image: None,
            tags: Vec::new(),
            manual_apply: true,
            manual_rolling_update: true,
            env: IndexMap::new(),
            tasks: CiTasks::default(),
            approvers: Vec::new(),
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
    /// `[[review.policy]]`: conditions the rendered manifest (cluster.yml) must meet; a review
    /// with a violation exits with status 5 (docs/tasks-toml.md, docs/review.md).
    #[serde(default)]
    pub(crate) policy: Vec<PolicyRule>,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            protect: Vec::new(),
            protect_defaults: true,
            policy: Vec::new(),
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

/// The command of a `[tools]` entry: one program (`"tofu"`, a path, which may hold spaces), or a
/// command with the arguments that go before a step's own (`["leverage", "tf"]`).
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

/// A `[tools]` entry: a command (the string and array forms), or the table form, whose
/// `command` defaults to the tool's own name and which may pin the tool's version (docs/tasks-toml.md).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolEntry {
    pub(crate) command: Option<ToolCommand>,
    pub(crate) pin: Option<ToolPin>,
    /// `sha256` or `url` given without `version` (reported when the file is checked).
    pub(crate) stray: Option<&'static str>,
}

/// The version a tool must have, and where generated CI jobs download it from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolPin {
    pub(crate) version: String,
    /// The SHA-256 (hex) of the Linux x86_64 download.
    pub(crate) sha256: Option<String>,
    /// The download, `{version}` replaced; default per tool (`crate::project::pins`).
    pub(crate) url: Option<String>,
}

/// The table form of a `[tools]` entry, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolTable {
    command: Option<ToolCommand>,
    version: Option<String>,
    sha256: Option<String>,
    url: Option<String>,
}

impl<'de> Deserialize<'de> for ToolEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ToolEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a program (\"tofu\", \"bin/kops-1.30\"), a command with arguments ([\"leverage\", \"tf\"]) or a table with a version pin ({ version = \"1.11.4\", sha256 = \"...\" }) ([tools] in docs/tasks-toml.md)",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ToolEntry, E> {
                Ok(ToolEntry::command(ToolCommand::Program(v.to_string())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<ToolEntry, A::Error> {
                let words =
                    Vec::<String>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(ToolEntry::command(ToolCommand::Command(words)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ToolEntry, A::Error> {
                let table =
                    ToolTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let stray = match (&table.version, &table.sha256, &table.url) {
                    (None, Some(_), _) => Some("sha256"),
                    (None, None, Some(_)) => Some("url"),
                    _ => None,
                };
                Ok(ToolEntry {
                    command: table.command,
                    pin: table.version.map(|version| ToolPin {
                        version,
                        sha256: table.sha256,
                        url: table.url,
                    }),
                    stray,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl ToolEntry {
    fn command(command: ToolCommand) -> ToolEntry {
        ToolEntry {
            command: Some(command),
            pin: None,
            stray: None,
        }
    }

    /// Its words: the program, then the arguments; the tool's `name` when the table names no
    /// command.
    pub(crate) fn words(&self, name: &str) -> Vec<String> {
        match &self.command {
            Some(command) => command.words(),
            None => vec![name.to_string()],
        }
    }
}

impl std::fmt::Display for ToolEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.command, &self.pin) {
            (Some(command), None) => write!(f, "{command}"),
            (command, pin) => {
                let mut parts = Vec::new();
                if let Some(command) = command {
                    parts.push(format!("command = {command}"));
                }
                if let Some(pin) = pin {
                    parts.push(format!("version = {:?}", pin.version));
                }
                write!(f, "{{ {} }}", parts.join(", "))
            }
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

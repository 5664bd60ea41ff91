//! The clusters of a project (`[cluster]` or `[clusters.<id>]`), their stages, and which of them
//! a run acts on (`--cluster`, `--stage`, `--all`).

use std::fmt;
use std::path::Path;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::error::UserError;

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterConfig {
    /// The kops cluster name, a template over the values (e.g. `{{cluster_name}}`).
    pub(crate) name: String,
    /// The kops state store, a template over the values (e.g. `s3://{{kops_s3_bucket}}`).
    pub(crate) state: String,
    /// Values files (YAML or JSON), deep-merged in order over the outputs.
    #[serde(default)]
    pub(crate) values: Vec<String>,
    /// Sensitive outputs that may reach the template context. Others are left out.
    #[serde(default)]
    pub(crate) sensitive: Vec<String>,
    /// Promotion stage: a name (ordered by `stages`) or a number.
    #[serde(default)]
    pub(crate) stage: Option<Stage>,
    /// The cluster's own prerequisites layer (default: `[prerequisites] dir`).
    #[serde(default)]
    pub(crate) prerequisites: Option<String>,
    /// The Terraform workspace of the prerequisites layer (`TF_WORKSPACE` for its commands).
    #[serde(default)]
    pub(crate) workspace: Option<String>,
    /// The cluster's Terraform folder for `cluster.yml`, `kubernetes.tf` and plans (default
    /// `2-kops`); `{{cluster.dir}}` in tasks.
    #[serde(default)]
    pub(crate) dir: Option<String>,
    /// Environment for every child of this cluster's runs (e.g. its `AWS_PROFILE`), over `[env]`.
    #[serde(default)]
    pub(crate) env: IndexMap<String, String>,
    /// A partial backend's settings for `terraform init` in the cluster's Terraform layer: files
    /// (relative to the project) or `key=value` pairs, each passed as `-backend-config=...`.
    #[serde(default, rename = "backend-config")]
    pub(crate) backend_config: Vec<String>,
    /// Variable files (relative to the project) for the cluster's Terraform layer, each passed as
    /// `-var-file=...` to `plan`, `destroy`, `import`, `refresh` and an `apply` without a plan.
    #[serde(default, rename = "var-files")]
    pub(crate) var_files: Vec<String>,
    /// The cluster's provider settings, over the project's `[provider-override]`, key by key.
    #[serde(default, rename = "provider-override")]
    pub(crate) provider_override: Option<crate::project::provider::ProviderOverride>,
    /// The cluster's own tool versions (`{ kops = "1.31.2" }`), over its stage's
    /// (`[stage-tools.<stage>]`) and `[tools]`: its steps run the binary of that version
    /// (`crate::project::tool_versions`).
    #[serde(default)]
    pub(crate) tools: IndexMap<String, String>,
}

/// A promotion stage.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(
    untagged,
    expecting = "expected a stage name or number; write e.g. `stage = \"prod\"` or `stage = 2`"
)]
pub(crate) enum Stage {
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
pub(crate) struct ClusterDef {
    /// The id of `[clusters.<id>]`; `default` for the single `[cluster]` form.
    pub(crate) id: String,
    pub(crate) config: ClusterConfig,
    /// The cluster's Terraform folder.
    pub(crate) dir: String,
    /// The prerequisites layer its values come from.
    pub(crate) prerequisites: String,
    /// kopsform's scratch folder for the cluster: `.kopsform` (single `[cluster]`) or
    /// `.kopsform/<id>`.
    pub(crate) work: String,
    /// The position of its stage in the promotion order (0 first).
    pub(crate) rank: usize,
}

/// The longest cluster name kops accepts: a DNS-1123 subdomain, 253 characters.
const MAX_NAME: usize = 253;
/// The longest label (the text between dots) of a DNS name.
const MAX_LABEL: usize = 63;

/// Refuses a rendered cluster name that kops itself would refuse, before it forms any path (the
/// lock, the snapshot) or reaches kops. `what` says where the name comes from (`tasks.toml
/// [cluster] name`).
///
/// kops's rule (kubernetes/kops, pkg/apis/kops/validation/validation.go, `newValidateCluster`):
/// the name must pass `utilvalidation.IsDNS1123Subdomain` from k8s.io/apimachinery, that is at
/// most 253 characters of lowercase letters, digits, `-` and `.`, made of labels that start and
/// end with a letter or digit. DNS limits each label to 63 characters; kopsform holds to that too.
/// (kops also wants a dot, except for clusters it imported; that does not make a path unsafe, so
/// kopsform leaves it to kops.) Such a name cannot be absolute, hold a `/` or be `..`.
pub(crate) fn check_name(name: &str, what: &str) -> Result<(), UserError> {
    let fail = |why: String| {
        let shown: String = name.chars().take(80).collect();
        let more = if name.chars().count() > 80 { "..." } else { "" };
        Err(UserError::new(format!(
            "{what} renders `{}{more}`, which is not a kops cluster name: {why}; a cluster name is a DNS name such as `dev.example.com` (lowercase letters, digits, `-` and `.`); fix the name or the value it comes from",
            shown.escape_debug()
        )))
    };
    if name.len() > MAX_NAME {
        return fail(format!(
            "it is {} characters long, and kops allows {MAX_NAME}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'))
    {
        return fail(format!("it holds `{}`", bad.escape_debug()));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return fail("it has an empty label (a leading, trailing or double `.`)".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return fail(format!("its label `{label}` starts or ends with `-`"));
        }
        if label.len() > MAX_LABEL {
            return fail(format!(
                "its label `{}...` is {} characters long, and a DNS label has at most {MAX_LABEL}",
                &label[..20],
                label.len()
            ));
        }
    }
    Ok(())
}

/// Which clusters a run acts on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    pub(crate) clusters: Vec<String>,
    pub(crate) stages: Vec<String>,
    pub(crate) all: bool,
}

impl Selection {
    pub(crate) fn is_empty(&self) -> bool {
        self.clusters.is_empty() && self.stages.is_empty() && !self.all
    }
}

/// The selected clusters, in `tasks.toml` order.
pub(crate) fn select(
    all: &[ClusterDef],
    file: &Path,
    selection: &Selection,
) -> Result<Vec<ClusterDef>, UserError> {
    if all.is_empty() {
        if !selection.is_empty() {
            return Err(UserError::new(format!(
                "{}: there are no clusters to select; add [cluster] or [clusters.<id>] tables",
                file.display()
            )));
        }
        return Ok(Vec::new());
    }
    if selection.is_empty() {
        if all.len() == 1 {
            return Ok(all.to_vec());
        }
        let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
        return Err(UserError::new(format!(
            "{}: this project has {} clusters ({}); choose with --cluster ID, --stage NAME or --all",
            file.display(),
            all.len(),
            ids.join(", ")
        )));
    }
    for id in &selection.clusters {
        if !all.iter().any(|c| &c.id == id) {
            let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
            let hint = crate::text::suggest(id, all.iter().map(|c| &c.id));
            return Err(UserError::new(format!(
                "no cluster `{id}` in {} (clusters: {}){hint}",
                file.display(),
                ids.join(", ")
            )));
        }
    }
    for stage in &selection.stages {
        if !all.iter().any(|c| {
            c.config
                .stage
                .as_ref()
                .is_some_and(|s| &s.to_string() == stage)
        }) {
            let mut stages: Vec<String> = Vec::new();
            for s in all
                .iter()
                .filter_map(|c| c.config.stage.as_ref().map(|s| s.to_string()))
            {
                if !stages.contains(&s) {
                    stages.push(s);
                }
            }
            return Err(UserError::new(format!(
                "{}: no cluster is in stage `{stage}` (stages: {}){}",
                file.display(),
                if stages.is_empty() {
                    "none set".to_string()
                } else {
                    stages.join(", ")
                },
                match crate::text::suggest(stage, stages.iter()) {
                    hint if hint.is_empty() => "; pass --stage with one of them".to_string(),
                    hint => hint,
                }
            )));
        }
    }
    Ok(all
        .iter()
        .filter(|c| {
            selection.all
                || selection.clusters.contains(&c.id)
                || c.config
                    .stage
                    .as_ref()
                    .is_some_and(|s| selection.stages.contains(&s.to_string()))
        })
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn cluster_names_follow_the_kops_rule() {
        for good in ["dev.example.com", "sandbox.k8s.local", "a", "a-1.b2"] {
            check_name(good, "[cluster] name").unwrap();
        }
        let refused = |name: &str| check_name(name, "[cluster] name").unwrap_err().message;
        assert_eq!(
            refused("/etc/passwd"),
            "[cluster] name renders `/etc/passwd`, which is not a kops cluster name: it holds `/`; a cluster name is a DNS name such as `dev.example.com` (lowercase letters, digits, `-` and `.`); fix the name or the value it comes from"
        );
        assert!(refused("../x").contains(": it holds `/`"));
        assert!(refused("..").contains(": it has an empty label"));
        assert!(refused("Dev.example.com").contains(": it holds `D`"));
        assert!(refused("a/b").contains(": it holds `/`"));
        assert!(refused("a b").contains(": it holds ` `"));
        assert!(refused("a\nb").contains("`a\\nb`"));
        assert!(refused("-a.b").contains("starts or ends with `-`"));
        assert!(refused(&"a".repeat(64)).contains("is 64 characters long, and a DNS label"));
        let long = vec!["a".repeat(60); 5].join(".");
        assert!(refused(&long).contains("it is 304 characters long, and kops allows 253"));
        check_name(&vec!["a".repeat(63); 3].join("."), "n").unwrap();
    }
}

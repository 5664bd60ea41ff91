//! kops against each cluster's Kubernetes version, as kops itself judges the skew; the version is
//! read from the rendered `cluster.yml`, else from the template's `kubernetesVersion`.
//! In: a cluster and the kops binary. Out: the `kubernetes-version` check.

use std::path::{Path, PathBuf};

use crate::project::cluster::ClusterDef;
use crate::project::task::{ManifestCheck, RenderStep, Step};
use crate::render::go_template::{GoRenderer, Missing};
use crate::tools::version::numbers;

use super::report::{Check, Status};
use super::session::Doctor;
use super::versions::{Kind, Probe};

impl Doctor<'_> {
    pub(super) fn skew_check(&mut self, def: &ClusterDef, kops: &str) -> Check {
        let name = self.check_name("kubernetes-version", def);
        let check = |status, detail| Check {
            name: name.clone(),
            status,
            detail,
        };
        let (k8s, source) = match self.kubernetes_version(def) {
            Ok(found) => found,
            Err((status, detail)) => return check(status, detail),
        };
        let Some(k8s_numbers) = numbers(&k8s) else {
            // kops itself only warns (apply_cluster.go: "unable to parse kubernetes version").
            return check(
                Status::Warn,
                format!(
                    "kubernetesVersion `{k8s}` ({source}) is not a version kopsform can compare with kops; write e.g. 1.30.2"
                ),
            );
        };
        let (kops_version, kops_numbers) = match self.version(kops, Kind::Kops, Some(def)) {
            Probe::Version(v, n) => (v, n),
            _ => {
                return check(
                    Status::Note,
                    format!(
                        "kubernetes {k8s} ({source}): not compared, the kops version is unknown (see the kops line)"
                    ),
                );
            }
        };
        let too_new_allowed = self.too_new_allowed(def);
        let (status, detail) = judge_skew(
            &k8s,
            k8s_numbers,
            &kops_version,
            kops_numbers,
            too_new_allowed,
        );
        check(status, format!("{detail} [{source}]"))
    }

    /// Whether kops runs with `KOPS_RUN_TOO_NEW_VERSION` (kopsform's environment, `[env]` or the
    /// cluster's `env`).
    fn too_new_allowed(&self, def: &ClusterDef) -> bool {
        const NAME: &str = "KOPS_RUN_TOO_NEW_VERSION";
        std::env::var_os(NAME).is_some_and(|v| !v.is_empty())
            || self
                .project
                .config
                .env
                .get(NAME)
                .or(def.config.env.get(NAME))
                .is_some_and(|v| !v.is_empty())
    }

    /// The cluster's `kubernetesVersion` and where it was read: the rendered manifest when there
    /// is one, else the template (its expression rendered with the values when they can be read).
    /// `Err` is the check to report instead.
    fn kubernetes_version(
        &mut self,
        def: &ClusterDef,
    ) -> Result<(String, String), (Status, String)> {
        let manifest_rel = format!("{}/cluster.yml", def.dir);
        let manifest = self.project.path(&manifest_rel);
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest).map_err(|e| {
                (
                    Status::Fail,
                    format!("{manifest_rel}: cannot read: {e}; fix its permissions"),
                )
            })?;
            let documents = crate::render::manifest::parse_loose(&text);
            let version = crate::render::manifest::cluster_spec(&documents)
                .and_then(|spec| spec.get("kubernetesVersion"))
                .and_then(yaml_scalar);
            return match version {
                Some(v) => Ok((v, manifest_rel)),
                None => Err((
                    Status::Fail,
                    format!(
                        "{manifest_rel}: the Cluster has no spec.kubernetesVersion (kops: `KubernetesVersion not set`); set it in the template and render again"
                    ),
                )),
            };
        }
        let (template_rel, step) = self.template_of(def);
        let template = self.project.path(&template_rel);
        let Ok(text) = std::fs::read_to_string(&template) else {
            return Err((
                Status::Note,
                format!(
                    "kubernetes version: neither {manifest_rel} nor the template {template_rel} is there; nothing to compare with kops"
                ),
            ));
        };
        let Some(raw) = template_kubernetes_version(&text) else {
            return Err((
                Status::Note,
                format!(
                    "kubernetes version: {template_rel} sets no kubernetesVersion; nothing to compare with kops"
                ),
            ));
        };
        if !raw.contains("{{") {
            return Ok((raw, template_rel));
        }
        let Ok(values) = self.values(def) else {
            return Err((
                Status::Note,
                format!(
                    "kubernetes version: `{raw}` in {template_rel} is unknown until rendered (the values cannot be read yet: apply the prerequisites, then run the task that renders it)"
                ),
            ));
        };
        let what = format!("{template_rel} kubernetesVersion");
        let project_dir = self.project.dir.clone();
        let go = step
            .as_ref()
            .map(|r| GoRenderer::for_step(&project_dir, r))
            .transpose()
            .map(Option::flatten);
        let rendered = go.and_then(|go| match go {
            // A Go template's line, with its snippets, strict whatever the step says (a variable
            // set elsewhere leaves it unknown).
            Some(go) => GoRenderer {
                missing: Missing::Error,
                ..go
            }
            .render(&what, &raw, &values.context),
            None => self.renderer.render_inline(&what, &raw, &values.context),
        });
        match rendered {
            // A Go template may quote in the action (`{{ .v | quote }}`).
            Ok(v) if !v.trim().trim_matches(['"', '\'']).is_empty() => Ok((
                v.trim().trim_matches(['"', '\'']).to_string(),
                format!("{template_rel} with the values"),
            )),
            // The template line says why it does not render.
            _ => Err((
                Status::Note,
                format!(
                    "kubernetes version: `{raw}` in {template_rel} does not render with the values (the template line says why); nothing to compare with kops"
                ),
            )),
        }
    }

    /// The template the tasks render into the cluster's `cluster.yml` (default
    /// `2-kops/cluster-template.yml`): the first of the step's templates, where the Cluster
    /// usually is; the step renders them all.
    pub(super) fn template_of(&self, def: &ClusterDef) -> (String, Option<RenderStep>) {
        let fields = crate::values::context::project_fields(self.project, def);
        let target = format!("{}/cluster.yml", def.dir);
        let resolve =
            |text: &str| crate::render::template::substitute_fields(text, "cluster", &fields);
        for task in self.project.config.tasks.values() {
            for step in &task.steps {
                if let Step::Render(r) = step
                    && r.check == ManifestCheck::Kops
                    && resolve(&r.out).is_some_and(|out| same_path(&out, &target))
                    && let Some(templates) = r
                        .templates
                        .iter()
                        .map(|t| resolve(t))
                        .collect::<Option<Vec<_>>>()
                {
                    let first = templates[0].clone();
                    let mut step = r.clone();
                    step.templates = templates;
                    return (first, Some(step));
                }
            }
        }
        ("2-kops/cluster-template.yml".to_string(), None)
    }
}

/// Whether two project-relative paths name the same file (`./2-kops/x` and `2-kops/x`).
fn same_path(a: &str, b: &str) -> bool {
    let norm = |p: &str| {
        Path::new(p)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect::<PathBuf>()
    };
    norm(a) == norm(b)
}

/// The oldest Kubernetes minor a kops minor release still runs (`OldestSupportedKubernetesVersion`,
/// older ones fail with `kubernetes upgrade is required`) and the oldest it does not call deprecated
/// (`OldestRecommendedKubernetesVersion`). From kubernetes/kops upup/pkg/fi/cloudup/apply_cluster.go
/// at the tags v1.28.0 ... v1.36.0 and master (1.37.0-alpha.1, 268927e2). Other releases: kops
/// minor - 5 and - 3, the usual distance.
fn oldest_kubernetes(kops_minor: u64) -> (u64, u64) {
    match kops_minor {
        28 => (23, 25),
        29 => (24, 26),
        30 => (25, 27),
        31 => (25, 28),
        32 | 33 => (27, 29),
        34 | 35 => (29, 31),
        36 => (31, 33),
        37 => (32, 34),
        m => (m.saturating_sub(5), m.saturating_sub(3)),
    }
}

/// kops against the cluster's Kubernetes version, as kops's `validateKubernetesVersion`
/// (upup/pkg/fi/cloudup/apply_cluster.go, kops 1.36.2) judges it in `update cluster`:
/// * at least kops's own version with the minor raised by one, the patch kept (kops 1.36.2:
///   1.37.2; the Kubernetes pre-release is ignored, `IsKubernetesGTE` in
///   pkg/apis/kops/util/versions.go): `This version of kubernetes is not yet supported; upgrading
///   kops is required`, an error unless `KOPS_RUN_TOO_NEW_VERSION` is set;
/// * newer than kops's minor but below that (1.37.0 and 1.37.1 with kops 1.36.2): kops runs
///   without a word, so doctor only warns;
/// * older than `OldestSupportedKubernetesVersion`: `kubernetes upgrade is required`, an error
///   without a bypass;
/// * older than `OldestRecommendedKubernetesVersion`: a deprecation notice.
///
/// The channel's required versions (the same function, and `validateKopsVersion`, bypassed with
/// `KOPS_RUN_OBSOLETE_VERSION`) refuse nothing more with the stable channel of kops 1.36.2
/// (channels/stable: every Kubernetes minor from 1.11 requires only its own `.0`, no kops
/// version is required), so doctor does not read the channel.
fn judge_skew(
    k8s: &str,
    (k8s_major, k8s_minor, k8s_patch): (u64, u64, u64),
    kops: &str,
    (kops_major, kops_minor, kops_patch): (u64, u64, u64),
    too_new_allowed: bool,
) -> (Status, String) {
    let (oldest, recommended) = oldest_kubernetes(kops_minor);
    let range = format!("{kops_major}.{oldest} to {kops_major}.{kops_minor}");
    let refused_from = (kops_major, kops_minor + 1, kops_patch);
    if (k8s_major, k8s_minor, k8s_patch) >= refused_from {
        return if too_new_allowed {
            (
                Status::Warn,
                format!(
                    "kubernetes {k8s} is newer than kops {kops} supports ({range}); KOPS_RUN_TOO_NEW_VERSION is set, so kops runs anyway: install kops {k8s_major}.{k8s_minor} or later when it is out"
                ),
            )
        } else {
            (
                Status::Fail,
                format!(
                    "kubernetes {k8s} is newer than kops {kops} supports ({range}); install kops {k8s_major}.{k8s_minor} or later, or lower kubernetesVersion (kops refuses {}.{}.{} and later with `kops upgrade is required` unless KOPS_RUN_TOO_NEW_VERSION is set)",
                    refused_from.0, refused_from.1, refused_from.2
                ),
            )
        };
    }
    if (k8s_major, k8s_minor) > (kops_major, kops_minor) {
        return (
            Status::Warn,
            format!(
                "kubernetes {k8s} is newer than kops {kops} supports ({range}), but kops runs it without a word (it refuses {}.{}.{} and later): install kops {k8s_major}.{k8s_minor} or later when it is out",
                refused_from.0, refused_from.1, refused_from.2
            ),
        );
    }
    if (k8s_major, k8s_minor) < (kops_major, oldest) {
        return (
            Status::Fail,
            format!(
                "kubernetes {k8s} is no longer supported by kops {kops} (oldest: {kops_major}.{oldest}); raise kubernetesVersion to {kops_major}.{oldest} or later, one minor version per upgrade, or use an older kops (kops refuses with `kubernetes upgrade is required`)"
            ),
        );
    }
    if (k8s_major, k8s_minor) < (kops_major, recommended) {
        return (
            Status::Warn,
            format!(
                "kubernetes {k8s}: kops {kops} deprecates Kubernetes older than {kops_major}.{recommended}; plan the upgrade"
            ),
        );
    }
    (
        Status::Ok,
        format!("kubernetes {k8s} with kops {kops} (supported: {range})"),
    )
}

/// A YAML scalar as text (`1.30` unquoted is a number to YAML).
fn yaml_scalar(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The value of the first `kubernetesVersion:` line of a template (handlebars, so not YAML yet),
/// without quotes or a trailing comment.
fn template_kubernetes_version(text: &str) -> Option<String> {
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("kubernetesVersion:") else {
            continue;
        };
        let rest = rest.trim();
        let value = if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let inner = &rest[1..];
            inner.find(q).map_or(inner, |end| &inner[..end])
        } else {
            rest.split(" #").next().unwrap_or(rest).trim()
        };
        return Some(value.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_is_judged_as_kops_judges_it() {
        let judge = |k8s: &str, kops: &str, bypass| {
            judge_skew(
                k8s,
                numbers(k8s).unwrap(),
                kops,
                numbers(kops).unwrap(),
                bypass,
            )
            .0
        };
        assert_eq!(judge("1.34.2", "1.34.1", false), Status::Ok);
        // kops 1.34.1 refuses from 1.35.1 (minor + 1, its own patch), not from 1.35.0.
        assert_eq!(judge("1.35.0", "1.34.1", false), Status::Warn);
        assert_eq!(judge("1.35.1", "1.34.1", false), Status::Fail);
        assert_eq!(judge("1.35.1", "1.34.1", true), Status::Warn);
        assert_eq!(judge("1.37.1", "1.36.2", false), Status::Warn);
        assert_eq!(judge("1.37.2", "1.36.2", false), Status::Fail);
        assert_eq!(judge("1.37.0", "1.36.0", false), Status::Fail);
        assert_eq!(judge("1.37.0", "1.37.0-alpha.1", false), Status::Ok);
        assert_eq!(judge("1.38.0", "1.37.0-alpha.1", false), Status::Fail);
        // kops 1.34: OldestSupported 1.29, OldestRecommended 1.31.
        assert_eq!(judge("1.31.0", "1.34.1", false), Status::Ok);
        assert_eq!(judge("1.30.9", "1.34.1", false), Status::Warn);
        assert_eq!(judge("1.28.0", "1.34.1", false), Status::Fail);
        // kops 1.31 still runs 1.25.
        assert_eq!(judge("1.25.0", "1.31.0", false), Status::Warn);
        // Unknown releases: minor - 5 and - 3.
        assert_eq!(oldest_kubernetes(40), (35, 37));
    }

    #[test]
    fn the_template_value_is_read_without_quotes_or_comments() {
        let t = "spec:\n  kubernetesVersion: \"{{cluster_version}}\"\n";
        assert_eq!(
            template_kubernetes_version(t).as_deref(),
            Some("{{cluster_version}}")
        );
        let t = "  kubernetesVersion: 1.30.2 # pinned\n";
        assert_eq!(template_kubernetes_version(t).as_deref(), Some("1.30.2"));
        assert_eq!(template_kubernetes_version("kind: Cluster\n"), None);
    }
}

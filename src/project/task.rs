//! Tasks and their steps. A step comes as an argv array or an inline table (`run`, `render` or
//! `builtin`) and is checked into [`Step`] while `tasks.toml` is read, so nothing downstream looks
//! at raw TOML.

use std::fmt;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::paths::{Target, Within};
use crate::tools::retry::RetryConfig;

/// `confirm = true` or `confirm = "question to ask"`.
#[derive(Debug, Deserialize, Clone)]
#[serde(
    untagged,
    expecting = "expected `true`, `false` or the question to ask; write e.g. `confirm = true` or `confirm = \"Apply to prod?\"`"
)]
pub(crate) enum Confirm {
    Flag(bool),
    Prompt(String),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Task {
    #[serde(default)]
    pub(crate) desc: String,
    #[serde(default)]
    pub(crate) deps: Vec<String>,
    #[serde(default)]
    pub(crate) cwd: Option<String>,
    #[serde(default)]
    pub(crate) env: IndexMap<String, String>,
    #[serde(default)]
    pub(crate) confirm: Option<Confirm>,
    /// Take the cluster's lock while the task runs (default: when it changes the cluster, see
    /// docs/clusters.md).
    #[serde(default)]
    pub(crate) lock: Option<bool>,
    /// `false`: never run beside another task of the cluster (default: independent tasks that
    /// touch no cluster state may run in parallel, see docs/clusters.md).
    #[serde(default)]
    pub(crate) parallel: Option<bool>,
    /// Globs of the files the task reads: with them, the task is skipped as "up to date" when
    /// nothing it depends on changed (docs/clusters.md, "Up-to-date checks").
    #[serde(default)]
    pub(crate) sources: Vec<String>,
    /// Globs of the files the task writes; a missing or changed one makes it run again.
    #[serde(default)]
    pub(crate) generates: Vec<String>,
    /// Retry settings of this task's steps, over the project's `[retry]`.
    #[serde(default)]
    pub(crate) retry: Option<RetryConfig>,
    /// Declared parameters, set with `--param NAME=VALUE` and used in the steps as
    /// `{{params.NAME}}` (docs/tasks-toml.md, "Parameters").
    #[serde(default)]
    pub(crate) params: IndexMap<String, Param>,
    #[serde(default)]
    pub(crate) steps: Vec<Step>,
}

/// One declared task parameter: `ig = { required = true, help = "the instance group" }` or
/// `ig = { default = "nodes" }`.
#[derive(Debug, Deserialize, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Param {
    /// Must be given on the command line (default: when there is no `default`).
    #[serde(default)]
    pub(crate) required: Option<bool>,
    /// The value when the command line gives none.
    #[serde(default)]
    pub(crate) default: Option<String>,
    /// One line for `kopsform list` and the error naming a missing parameter.
    #[serde(default)]
    pub(crate) help: String,
}

impl Param {
    /// Whether the run refuses to start without it.
    pub(crate) fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

impl Task {
    /// The question asked before the task runs, if it needs a confirmation.
    pub(crate) fn confirmation(&self, name: &str) -> Option<String> {
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
pub(crate) enum Report {
    /// `kops rolling-update cluster`: which instance groups need an update.
    RollingUpdate,
    /// `kops delete cluster`: what would be deleted, and what `--unregister` would leave behind.
    DeleteCluster,
}

/// What a `render` step checks before writing.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ManifestCheck {
    /// A kops multi-document manifest (the default).
    #[default]
    Kops,
    /// Any text: written as rendered.
    None,
}

/// The template language of a `render` step.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Engine {
    /// Strict handlebars (the default).
    #[default]
    Handlebars,
    /// Go's text/template with Sprig and kops's functions, as `kops toolbox template` renders.
    Go,
}

/// What a Go template's reference to a missing value does.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum MissingValue {
    /// An error naming the line (kops's `--fail-on-missing`, its default).
    #[default]
    Error,
    /// Go's `<no value>`, with a warning (kops's `--fail-on-missing=false`).
    NoValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Builtin {
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
    /// With `prerequisites`, the saved plan of the prerequisites layer is reviewed in a section of
    /// its own; after a deferring `planned-outputs`, the review is of the prerequisites alone.
    Review {
        plan: String,
        out: String,
        rolling_update: Option<String>,
        target: Option<ReviewTarget>,
        json: Option<String>,
        /// The live spec and the manifest, for the "kops spec changes" section.
        spec: Option<SpecPaths>,
        /// The rendered manifest the `[[review.policy]]` rules are evaluated on.
        manifest: Option<String>,
        prerequisites: Option<String>,
    },
    /// Read the planned outputs of the prerequisites layer's saved plan `plan`: the rest of the
    /// run renders with them instead of the applied ones. When one is unknown until apply, the
    /// rest of the task is deferred (only `review` and `remove` steps still run).
    PlannedOutputs { plan: String },
    /// Delete the instance groups the state store holds and the manifest `manifest` does not
    /// (`kops delete instancegroup NAME --yes` each), every one named by
    /// `--allow-destroy instancegroup/NAME`.
    PruneInstanceGroups { manifest: String },
    /// Remove files or folders of the project (e.g. a saved plan, which holds sensitive values).
    Remove { paths: Vec<String> },
}

impl Builtin {
    pub(crate) const NAMES: &'static str = "`show-outputs`, `provider-override`, `snapshot-state`, `copy`, `seal-plan`, `check-plan`, `check-protected`, `planned-outputs`, `review`, `prune-instancegroups` and `remove`";
}

/// One step of a task.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Command(CommandStep),
    Render(RenderStep),
    Builtin(Builtin),
}

impl Step {
    /// The paths the step writes or deletes, with the rule each keeps to (see `paths`): checked by
    /// their text when `tasks.toml` is read and again, rendered, right before the step runs.
    pub(crate) fn targets(&self) -> Vec<Target<'_>> {
        fn target<'a>(
            step: &'static str,
            key: &'static str,
            path: &'a str,
            within: Within,
            sources: Vec<(&'static str, &'a str)>,
        ) -> Target<'a> {
            Target {
                step,
                key,
                path,
                within,
                sources,
            }
        }
        match self {
            Step::Command(c) => c
                .save
                .iter()
                .map(|s| target("run", "save", s, Within::Project, vec![]))
                .chain(
                    c.private
                        .iter()
                        .map(|p| target("run", "private", p, Within::Project, vec![])),
                )
                .collect(),
            Step::Render(r) => vec![target(
                "render",
                "out",
                &r.out,
                Within::Project,
                r.templates.iter().map(|t| ("render", t.as_str())).collect(),
            )],
            Step::Builtin(b) => match b {
                Builtin::ShowOutputs
                | Builtin::CheckPlan { .. }
                | Builtin::CheckProtected { .. }
                | Builtin::PlannedOutputs { .. }
                | Builtin::PruneInstanceGroups { .. } => {
                    vec![]
                }
                Builtin::ProviderOverride { out } => {
                    vec![target(
                        "provider-override",
                        "out",
                        out,
                        Within::Project,
                        vec![],
                    )]
                }
                Builtin::SnapshotState { out } => {
                    vec![target("snapshot-state", "out", out, Within::Work, vec![])]
                }
                Builtin::Copy { from, out } => vec![
                    target("copy", "from", from, Within::Project, vec![]),
                    target(
                        "copy",
                        "out",
                        out,
                        Within::Project,
                        vec![("from", from.as_str())],
                    ),
                ],
                // The seal is written next to the plan.
                Builtin::SealPlan { plan, .. } => {
                    vec![target("seal-plan", "plan", plan, Within::Project, vec![])]
                }
                Builtin::Review {
                    plan, out, json, ..
                } => std::iter::once(out)
                    .chain(json)
                    .map(|o| {
                        let key = if o == out { "out" } else { "json" };
                        target(
                            "review",
                            key,
                            o,
                            Within::Project,
                            vec![("plan", plan.as_str())],
                        )
                    })
                    .collect(),
                Builtin::Remove { paths } => paths
                    .iter()
                    .map(|p| target("remove", "paths", p, Within::Project, vec![]))
                    .collect(),
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CommandStep {
    pub(crate) argv: Vec<String>,
    pub(crate) cwd: Option<String>,
    pub(crate) env: IndexMap<String, String>,
    pub(crate) report: Option<Report>,
    /// With `report = "rolling-update"`: exit with status 2 when an instance group needs an update.
    pub(crate) fail_on_update: bool,
    /// Files the command writes that must be private (mode 0600), e.g. a kubeconfig.
    pub(crate) private: Vec<String>,
    /// A file to save the command's standard output to (masked), once it succeeded.
    pub(crate) save: Option<String>,
    /// `pass-through = true`: the step that `kopsform TASK -- ARGS` appends to.
    pub(crate) pass_through: bool,
    /// Arguments from `kopsform TASK -- ARGS`, appended after the rendered `argv` as they are
    /// (never rendered as templates); empty for every step of tasks.toml.
    pub(crate) extra: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct RenderStep {
    /// The templates, files or folders (`render = "a"` or `render = ["a", "dir"]`, as kops's
    /// repeated `--template`); never empty.
    pub(crate) templates: Vec<String>,
    pub(crate) out: String,
    pub(crate) check: ManifestCheck,
    pub(crate) engine: Engine,
    /// Go engine: files or folders of snippets (`kops toolbox template --snippets`).
    pub(crate) snippets: Vec<String>,
    /// Go engine: what a missing value does.
    pub(crate) missing: MissingValue,
    /// Go engine: Helm-syntax assignments (kops's `--set`), over the values files.
    pub(crate) set: Vec<String>,
    /// Go engine: the same, every value a string (kops's `--set-string`), after `set`.
    pub(crate) set_string: Vec<String>,
    /// Go engine: each document rewritten as kops's `--format-yaml` does.
    pub(crate) format_yaml: bool,
}

impl RenderStep {
    /// The templates as messages name them: `a.yaml`, or `a.yaml, dir`.
    pub(crate) fn shown(&self) -> String {
        self.templates.join(", ")
    }
}

/// `render = "file"` or `render = ["file", "folder"]`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a template path or a list of them, e.g. `render = \"2-kops/cluster.yaml\"` or `render = [\"2-kops/cluster.yaml\", \"2-kops/instancegroups\"]`"
)]
enum Templates {
    One(String),
    Several(Vec<String>),
}

/// The inline-table form of a step, before it is checked into a [`Step`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct StepTable {
    run: Option<Vec<String>>,
    render: Option<Templates>,
    builtin: Option<String>,
    out: Option<String>,
    from: Option<String>,
    plan: Option<String>,
    #[serde(default)]
    inputs: Vec<String>,
    check: Option<ManifestCheck>,
    engine: Option<Engine>,
    #[serde(default)]
    snippets: Vec<String>,
    missing: Option<MissingValue>,
    #[serde(default)]
    set: Vec<String>,
    #[serde(default)]
    set_string: Vec<String>,
    #[serde(default)]
    format_yaml: bool,
    cwd: Option<String>,
    #[serde(default)]
    env: IndexMap<String, String>,
    report: Option<Report>,
    #[serde(default)]
    fail_on_update: bool,
    #[serde(default)]
    private: Vec<String>,
    save: Option<String>,
    #[serde(default)]
    pass_through: bool,
    rolling_update: Option<String>,
    #[serde(rename = "for")]
    target: Option<ReviewTarget>,
    json: Option<String>,
    spec: Option<SpecPaths>,
    manifest: Option<String>,
    #[serde(default)]
    paths: Vec<String>,
    prerequisites: Option<String>,
}

/// `spec = { live = "...", manifest = "..." }` of a `review` step: a copy of the state store
/// taken before `kops replace` wrote into it, and the manifest it was given.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpecPaths {
    pub(crate) live: String,
    pub(crate) manifest: String,
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
        if self.render.is_none() {
            let what = if self.run.is_some() { "run" } else { "builtin" };
            not_for(what, "engine", self.engine.is_some())?;
            not_for(what, "snippets", !self.snippets.is_empty())?;
            not_for(what, "missing", self.missing.is_some())?;
            not_for(what, "set", !self.set.is_empty())?;
            not_for(what, "set-string", !self.set_string.is_empty())?;
            not_for(what, "format-yaml", self.format_yaml)?;
        } else if self.engine != Some(Engine::Go) {
            for (key, set) in [
                ("snippets", !self.snippets.is_empty()),
                ("missing", self.missing.is_some()),
                ("set", !self.set.is_empty()),
                ("set-string", !self.set_string.is_empty()),
                ("format-yaml", self.format_yaml),
            ] {
                if set {
                    return Err(format!(
                        "`{key}` applies to Go templates only: add `engine = \"go\"` to the `render` step"
                    ));
                }
            }
        }
        if let Some(argv) = self.run {
            not_for("run", "out", self.out.is_some())?;
            not_for("run", "check", self.check.is_some())?;
            for (key, set) in [
                ("rolling-update", self.rolling_update.is_some()),
                ("for", self.target.is_some()),
                ("json", self.json.is_some()),
                ("spec", self.spec.is_some()),
                ("manifest", self.manifest.is_some()),
                ("paths", !self.paths.is_empty()),
                ("prerequisites", self.prerequisites.is_some()),
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
                pass_through: self.pass_through,
                extra: Vec::new(),
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
        not_for(what, "pass-through", self.pass_through)?;
        if let Some(render) = self.render {
            let out = self
                .out
                .ok_or("a `render` step needs `out`, the file to write")?;
            let templates = match render {
                Templates::One(t) => vec![t],
                Templates::Several(list) => list,
            };
            if templates.is_empty() {
                return Err("`render` is an empty list: name the template files or folders".into());
            }
            if templates.len() > 1 && self.engine != Some(Engine::Go) {
                return Err("several templates in `render` apply to Go templates only (as `kops toolbox template --template` joins them): add `engine = \"go\"`, or give handlebars one template".into());
            }
            return Ok(Step::Render(RenderStep {
                templates,
                out,
                check: self.check.unwrap_or_default(),
                engine: self.engine.unwrap_or_default(),
                snippets: self.snippets,
                missing: self.missing.unwrap_or_default(),
                set: self.set,
                set_string: self.set_string,
                format_yaml: self.format_yaml,
            }));
        }
        not_for("builtin", "check", self.check.is_some())?;
        let name = self.builtin.unwrap_or_default();
        let (out, from, plan, inputs) = (self.out, self.from, self.plan, self.inputs);
        let spec = self.spec;
        let (rolling_update, target, json, paths, manifest) = (
            self.rolling_update,
            self.target,
            self.json,
            self.paths,
            self.manifest,
        );
        let prerequisites = self.prerequisites;
        let need = |key: &str, value: Option<String>| {
            value.ok_or_else(|| format!("the `{name}` builtin needs `{key}`"))
        };
        let allowed: &[&str] = match name.as_str() {
            "show-outputs" => &[],
            "provider-override" | "snapshot-state" => &["out"],
            "copy" => &["from", "out"],
            "seal-plan" => &["plan", "inputs"],
            "check-plan" | "check-protected" | "planned-outputs" => &["plan"],
            "review" => &[
                "plan",
                "out",
                "rolling-update",
                "for",
                "json",
                "manifest",
                "prerequisites",
                "spec",
            ],
            "prune-instancegroups" => &["manifest"],
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
                    crate::text::suggest(other, names.iter()),
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
            ("spec", spec.is_some()),
            ("manifest", manifest.is_some()),
            ("paths", !paths.is_empty()),
            ("prerequisites", prerequisites.is_some()),
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
            "planned-outputs" => Builtin::PlannedOutputs {
                plan: need("plan", plan)?,
            },
            "remove" if paths.is_empty() => {
                return Err("the `remove` builtin needs `paths`, the files to remove".to_string());
            }
            "remove" => Builtin::Remove { paths },
            "prune-instancegroups" => Builtin::PruneInstanceGroups {
                manifest: need("manifest", manifest)?,
            },
            _ => Builtin::Review {
                plan: need("plan", plan)?,
                out: need("out", out)?,
                rolling_update,
                target,
                json,
                spec,
                manifest,
                prerequisites,
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

/// The platform whose comment size limit a review is fitted to (`for = "github"`, `--for gitlab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ReviewTarget {
    Github,
    Gitlab,
}

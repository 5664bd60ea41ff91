//! `kopsform doctor`: is this machine ready to run the project's tasks? (docs/doctor.md)
//!
//! One line per check, then a verdict; exit 0 when nothing blocks, 1 when something does. The
//! checks only read: every tool the tasks run is found and, for the tools kopsform knows, its
//! version is in the supported range (each binary asked once per run); the Kubernetes version of
//! each cluster against what its kops supports; that AWS credentials are there (which source,
//! never a value); and that each cluster's state store can be listed (S3) or exists / can be
//! created (a local folder). Nothing is written: no lock, no file, no object.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use regex::Regex;
use serde::Serialize;

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::project::cluster::Selection;
use crate::project::task::{Builtin, ManifestCheck, Step};
use crate::redact::Redactor;
use crate::render::template::Renderer;
use crate::statestore::store::{self, Store};
use crate::tools::process::{self, locate};
use crate::values::context::{RunValues, SharedOutputs, Values};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    /// Nothing to judge yet (e.g. a version known only once the template is rendered).
    Note,
    /// Works, but not as recommended; does not block.
    Warn,
    /// Blocks: the tasks would fail. The detail says what to do.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Note => "note",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// What was checked: a tool (`kops`), `kubernetes-version`, `aws-credentials`,
    /// `state-store` (with `:<cluster id>` when the project has several clusters).
    pub(crate) name: String,
    pub(crate) status: Status,
    /// The line as printed, without the status.
    pub(crate) detail: String,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) checks: Vec<Check>,
    /// The verdict line without `verdict: ` (`ready`, `ready; 1 warning`,
    /// `1 problem blocks (kops); 1 warning`).
    pub(crate) verdict: String,
    /// Whether a check failed (the exit status is then 1).
    pub(crate) blocking: bool,
}

impl Report {
    pub(crate) fn new(checks: Vec<Check>) -> Report {
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name.as_str())
            .collect();
        let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
        let warned = match warnings {
            0 => String::new(),
            1 => "1 warning".to_string(),
            n => format!("{n} warnings"),
        };
        let verdict = if failed.is_empty() {
            if warned.is_empty() {
                "ready".to_string()
            } else {
                format!("ready; {warned}")
            }
        } else {
            let mut names = failed.clone();
            names.dedup();
            let head = if failed.len() == 1 {
                format!("1 problem blocks ({})", names.join(", "))
            } else {
                format!("{} problems block ({})", failed.len(), names.join(", "))
            };
            if warned.is_empty() {
                head
            } else {
                format!("{head}; {warned}")
            }
        };
        Report {
            blocking: !failed.is_empty(),
            checks,
            verdict,
        }
    }

    /// The text form: a line per check, then the verdict.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            out.push_str(&format!("{:<6}{}\n", check.status.label(), check.detail));
        }
        out.push_str(&format!("verdict: {}\n", self.verdict));
        out
    }
}

/// `kopsform doctor`: checks the project (the selected clusters, or all of them) and prints the
/// report. Returns an error carrying only exit status 1 when something blocks.
pub(crate) fn run(
    project: &Project,
    selection: &Selection,
    sets: &[String],
    json: bool,
) -> Result<(), UserError> {
    let chosen = !selection.clusters.is_empty() || !selection.stages.is_empty() || selection.all;
    let clusters = if !chosen {
        project.clusters.clone()
    } else {
        project.select_clusters(selection)?
    };
    let mut doctor = Doctor::new(project, clusters, sets.to_vec());
    let report = doctor.report();
    let text = if json {
        let mut text = serde_json::to_string_pretty(&report)
            .map_err(|e| UserError::new(format!("cannot write the report as JSON: {e}")))?;
        text.push('\n');
        text
    } else {
        report.text()
    };
    print!("{text}");
    if report.blocking {
        // An empty message carries only the exit status: the report said it all.
        Err(UserError::with_code(
            String::new(),
            crate::error::exit::FAILURE,
        ))
    } else {
        Ok(())
    }
}

/// The tools kopsform knows the versions of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Terraform,
    Tofu,
    Kops,
    Aws,
    Kubectl,
    /// Any other program a step runs (a script, a linter): only looked up.
    Other,
}

impl Kind {
    fn display(self) -> &'static str {
        match self {
            Kind::Terraform => "terraform",
            Kind::Tofu => "tofu",
            Kind::Kops => "kops",
            Kind::Aws => "aws-cli",
            Kind::Kubectl => "kubectl",
            Kind::Other => "",
        }
    }

    /// The command that prints the version.
    fn version_args(self) -> &'static [&'static str] {
        match self {
            Kind::Terraform | Kind::Tofu => &["version", "-json"],
            // kops: cmd/kops/version.go (RunVersion) prints `Client version: <kops.Version>` and,
            // when built with one, ` (git-<GitVersion>)`; `--server` is what would read a state
            // store, so it is not passed.
            Kind::Kops => &["version"],
            Kind::Aws => &["--version"],
            Kind::Kubectl => &["version", "--client", "-o", "json"],
            Kind::Other => &[],
        }
    }

    /// The supported range: the oldest (major, minor) and the major it must stay below.
    fn range(self) -> Option<((u64, u64), Option<u64>)> {
        match self {
            Kind::Terraform => Some(((1, 5), Some(2))),
            Kind::Tofu => Some(((1, 6), None)),
            Kind::Kops => Some(((1, 28), Some(2))),
            Kind::Aws => Some(((2, 0), None)),
            Kind::Kubectl => Some(((1, 28), None)),
            Kind::Other => None,
        }
    }
}

/// A program the tasks run.
#[derive(Debug, Clone)]
struct Needed {
    /// The word the tasks use (`kops`), which names the check.
    word: String,
    kind: Kind,
    /// The tasks that run it (or why kopsform itself needs it).
    by: Vec<String>,
}

/// What asking a binary for its version gave.
#[derive(Debug, Clone)]
enum Probe {
    /// The version as printed (`1.30.1`, `1.32.4-dispatcher`) and its numbers.
    Version(String, (u64, u64, u64)),
    /// It ran, but printed nothing that reads as a version: what it printed.
    Unreadable(String),
    /// It did not run or failed: why.
    Failed(String),
}

struct Doctor<'p> {
    project: &'p Project,
    clusters: Vec<ClusterDef>,
    sets: Vec<String>,
    redactor: Arc<Redactor>,
    renderer: Renderer,
    /// Versions by program, each binary asked once per run.
    versions: HashMap<String, Probe>,
    /// The values of each cluster (by id), read once per run.
    values: HashMap<String, Result<Arc<Values>, UserError>>,
    /// The layers' outputs, read once for the clusters that share a layer.
    outputs: SharedOutputs,
}

impl<'p> Doctor<'p> {
    fn new(project: &'p Project, clusters: Vec<ClusterDef>, sets: Vec<String>) -> Self {
        Doctor {
            project,
            clusters,
            sets,
            redactor: Arc::new(Redactor::new(&project.config.secret_env)),
            renderer: Renderer::new(),
            versions: HashMap::new(),
            values: HashMap::new(),
            outputs: SharedOutputs::default(),
        }
    }

    fn report(&mut self) -> Report {
        let mut checks = Vec::new();
        let tools = self.needed_tools(&mut checks);
        for (program, needed) in &tools {
            checks.push(self.tool_check(program, needed));
        }
        let kops = tools
            .iter()
            .find(|(_, n)| n.kind == Kind::Kops)
            .map(|(p, _)| p.clone());
        // Without a kops binary there is nothing to compare (its own line says so).
        if let Some(kops) = kops.filter(|k| locate(k).is_some()) {
            for def in self.clusters.clone() {
                checks.push(self.skew_check(&def, &kops));
            }
        }
        checks.push(self.credentials_check(&tools));
        for def in self.clusters.clone() {
            checks.push(self.state_store_check(&def));
        }
        for check in &mut checks {
            check.detail = self.redactor.mask(&check.detail);
        }
        Report::new(checks)
    }

    /// `name` or `name:<id>` when the project has several clusters.
    fn check_name(&self, name: &str, def: &ClusterDef) -> String {
        if self.project.config.cluster.is_some() || self.project.clusters.len() == 1 {
            name.to_string()
        } else {
            format!("{name}:{}", def.id)
        }
    }

    // ---- 1. tools -------------------------------------------------------------------------------

    /// Every program the tasks run, by resolved program, in the order the tasks first name them;
    /// plus terraform when values are read (renders, templated cluster fields) and the aws CLI
    /// when a state store is in S3 (kopsform's lock and this check list it with the aws CLI).
    fn needed_tools(&self, checks: &mut Vec<Check>) -> IndexMap<String, Needed> {
        let project = self.project;
        let mut tools: IndexMap<String, Needed> = IndexMap::new();
        let mut add = |word: &str, why: &str| {
            let program = self.program(word);
            let entry = tools.entry(program.clone()).or_insert_with(|| Needed {
                word: word.to_string(),
                kind: kind_of(project, word, &program),
                by: Vec::new(),
            });
            if !entry.by.iter().any(|b| b == why) {
                entry.by.push(why.to_string());
            }
        };
        let mut reads_values = self
            .clusters
            .iter()
            .any(|d| d.config.name.contains("{{") || d.config.state.contains("{{"));
        for (name, task) in &project.config.tasks {
            for step in &task.steps {
                match step {
                    Step::Command(c) => {
                        let Some(word) = self.static_word(&c.argv[0]) else {
                            checks.push(Check {
                                name: format!("tool of task {name}"),
                                status: Status::Note,
                                detail: format!(
                                    "task `{name}` runs `{}`, known only once the values are rendered: not checked",
                                    c.argv[0]
                                ),
                            });
                            continue;
                        };
                        add(&word, &format!("task {name}"));
                        reads_values |= c
                            .argv
                            .iter()
                            .chain(c.cwd.iter())
                            .chain(c.env.values())
                            .chain(task.cwd.iter())
                            .any(|t| self.static_word(t).is_none());
                    }
                    Step::Render(_)
                    | Step::Builtin(Builtin::ShowOutputs)
                    | Step::Builtin(Builtin::Review { .. })
                    | Step::Builtin(Builtin::CheckPlan { .. })
                    | Step::Builtin(Builtin::CheckProtected { .. }) => {
                        add("terraform", &format!("task {name}"));
                    }
                    Step::Builtin(Builtin::SnapshotState { .. }) => reads_values = true,
                    Step::Builtin(_) => {}
                }
            }
        }
        if reads_values && !project.config.tasks.is_empty() {
            add("terraform", "the values (terraform output)");
        }
        if self
            .clusters
            .iter()
            .any(|d| d.config.state.trim_start().starts_with("s3://"))
            && !project.config.tasks.is_empty()
        {
            add("aws", "the s3:// state store (lock, listing)");
        }
        tools
    }

    /// The binary a step's first word runs: its `[tools]` entry or itself; a relative path is
    /// relative to the project.
    fn program(&self, word: &str) -> String {
        let program = self.project.tool_or_default(word);
        if !program.contains('/') {
            return program;
        }
        // Relative paths are joined to the project already; `./x` and `x/./y` are shown plainly.
        Path::new(&program)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect::<PathBuf>()
            .to_string_lossy()
            .into_owned()
    }

    /// A step word without templates, or with only the cluster's own fields (`{{cluster.dir}}`),
    /// which are the same before anything is applied.
    fn static_word(&self, text: &str) -> Option<String> {
        if !text.contains("{{") {
            return Some(text.to_string());
        }
        let def = self.clusters.first().or(self.project.clusters.first())?;
        crate::render::template::substitute_fields(
            text,
            "cluster",
            &crate::values::context::static_fields(def),
        )
    }

    fn tool_check(&mut self, program: &str, needed: &Needed) -> Check {
        let name = needed.word.clone();
        let check = |status, detail| Check {
            name: name.clone(),
            status,
            detail,
        };
        let shown = match needed.kind {
            Kind::Other => needed.word.clone(),
            kind => kind.display().to_string(),
        };
        let Some(found) = locate(program) else {
            let configured = match self.project.config.tools.get(&needed.word) {
                Some(bin) => format!(" ([tools] {} = \"{bin}\")", needed.word),
                None => String::new(),
            };
            let install = match needed.kind.range() {
                Some(((major, minor), _)) => {
                    format!("install {shown} {major}.{minor} or later")
                }
                None => format!("install {shown}"),
            };
            return check(
                Status::Fail,
                format!(
                    "{shown}: `{program}` not found on PATH or not executable{configured}, needed by {}; {install}, or set its path in the [tools] table of tasks.toml",
                    list_some(&needed.by)
                ),
            );
        };
        if needed.kind == Kind::Other {
            return check(Status::Ok, format!("{shown} ({})", found.display()));
        }
        match self.version(program, needed.kind) {
            Probe::Version(version, numbers) => {
                let (status, detail) = judge_version(needed.kind, &version, numbers);
                check(status, detail)
            }
            Probe::Unreadable(printed) => check(
                Status::Fail,
                format!(
                    "{shown}: `{} {}` printed no version kopsform can read: \"{printed}\"; check that `{program}` is {shown}",
                    needed.word,
                    needed.kind.version_args().join(" "),
                ),
            ),
            Probe::Failed(why) => check(
                Status::Fail,
                format!("{shown}: {why}; check its installation, or fix [tools] in tasks.toml"),
            ),
        }
    }

    /// The version of `program`, asked once per run.
    fn version(&mut self, program: &str, kind: Kind) -> Probe {
        if let Some(probe) = self.versions.get(program) {
            return probe.clone();
        }
        let probe = probe_version(program, kind, &self.project.dir);
        self.versions.insert(program.to_string(), probe.clone());
        probe
    }

    // ---- 2. kops and Kubernetes versions ------------------------------------------------------

    fn skew_check(&mut self, def: &ClusterDef, kops: &str) -> Check {
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
        let (kops_version, kops_numbers) = match self.version(kops, Kind::Kops) {
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
        let template_rel = self.template_of(def);
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
        let rendered = self.values(def).and_then(|values| {
            self.renderer.render_inline(
                &format!("{template_rel} kubernetesVersion"),
                &raw,
                &values.context,
            )
        });
        match rendered {
            Ok(v) if !v.trim().is_empty() => Ok((
                v.trim().to_string(),
                format!("{template_rel} with the values"),
            )),
            _ => Err((
                Status::Note,
                format!(
                    "kubernetes version: `{raw}` in {template_rel} is unknown until rendered (the values cannot be read yet: apply the prerequisites, then run the task that renders it)"
                ),
            )),
        }
    }

    /// The template the tasks render into the cluster's `cluster.yml` (default
    /// `2-kops/cluster-template.yml`).
    fn template_of(&self, def: &ClusterDef) -> String {
        let fields = crate::values::context::static_fields(def);
        let target = format!("{}/cluster.yml", def.dir);
        let resolve =
            |text: &str| crate::render::template::substitute_fields(text, "cluster", &fields);
        for task in self.project.config.tasks.values() {
            for step in &task.steps {
                if let Step::Render(r) = step
                    && r.check == ManifestCheck::Kops
                    && resolve(&r.out).is_some_and(|out| same_path(&out, &target))
                    && let Some(template) = resolve(&r.template)
                {
                    return template;
                }
            }
        }
        "2-kops/cluster-template.yml".to_string()
    }

    /// The values of the cluster (`terraform output` of its prerequisites layer, values files,
    /// `--set`), read once per run.
    fn values(&mut self, def: &ClusterDef) -> Result<Arc<Values>, UserError> {
        if let Some(values) = self.values.get(&def.id) {
            return values.clone();
        }
        let mut run = RunValues::new(
            self.project,
            &self.outputs,
            Some(def.clone()),
            self.sets.clone(),
            Arc::clone(&self.redactor),
        );
        let values = run.get(&self.renderer);
        self.values.insert(def.id.clone(), values.clone());
        values
    }

    // ---- 3. AWS credentials -------------------------------------------------------------------

    fn credentials_check(&self, tools: &IndexMap<String, Needed>) -> Check {
        let needed = self
            .clusters
            .iter()
            .any(|d| d.config.state.trim_start().starts_with("s3://"))
            && tools.values().any(|n| {
                matches!(
                    n.kind,
                    Kind::Aws | Kind::Kops | Kind::Terraform | Kind::Tofu
                )
            });
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut tables: Vec<(String, &IndexMap<String, String>)> =
            vec![("[env]".to_string(), &self.project.config.env)];
        for def in &self.clusters {
            let table = if self.project.config.cluster.is_some() {
                "[cluster] env".to_string()
            } else {
                format!("[clusters.{}] env", def.id)
            };
            tables.push((table, &def.config.env));
        }
        let found = credential_source(&env, &tables);
        let name = "aws-credentials".to_string();
        match found {
            Ok(source) => Check {
                name,
                status: Status::Ok,
                detail: format!("AWS credentials: {source}"),
            },
            Err(problem) => Check {
                name,
                status: if needed { Status::Fail } else { Status::Warn },
                detail: if needed {
                    format!(
                        "AWS credentials: {problem}; kops, terraform and the aws CLI need them for the s3:// state store: export AWS_PROFILE (a profile of ~/.aws/config) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (an EC2 instance role is not detected: doctor calls no AWS API for it)"
                    )
                } else {
                    format!(
                        "AWS credentials: {problem}; no task needs them for an s3:// state store"
                    )
                },
            },
        }
    }

    // ---- 4. the state store -------------------------------------------------------------------

    fn state_store_check(&mut self, def: &ClusterDef) -> Check {
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
                let aws = self.program("aws");
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
            Store::Local(path) => local_store(&state, &path, check),
        }
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

/// Up to three items, then how many more.
fn list_some(items: &[String]) -> String {
    let mut shown = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        shown.push_str(&format!(" and {} more", items.len() - 3));
    }
    shown
}

fn kind_of(project: &Project, word: &str, program: &str) -> Kind {
    let base = Path::new(program)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base == "tofu" {
        Kind::Tofu
    } else if project.is_tool(word, "terraform") || base == "terraform" {
        Kind::Terraform
    } else if project.is_tool(word, "kops") || base == "kops" {
        Kind::Kops
    } else if project.is_tool(word, "aws") || base == "aws" {
        Kind::Aws
    } else if project.is_tool(word, "kubectl") || base == "kubectl" {
        Kind::Kubectl
    } else {
        Kind::Other
    }
}

/// Runs the version command of `program` once and reads its version.
fn probe_version(program: &str, kind: Kind, cwd: &Path) -> Probe {
    let args = kind.version_args();
    let crate::tools::version::Answer {
        code,
        stdout,
        stderr,
    } = match crate::tools::version::ask(program, args, cwd) {
        Ok(answer) => answer,
        Err(e) => return Probe::Failed(e.message),
    };
    if code != 0 {
        let tail = process::last_lines(&stderr, 3).join(" / ");
        return Probe::Failed(format!(
            "`{program} {}` failed with status {code}: {tail}",
            args.join(" ")
        ));
    }
    // aws-cli 1.x on older Pythons prints its version on stderr.
    let printed = format!("{stdout}{stderr}");
    let version = match kind {
        Kind::Terraform | Kind::Tofu => parse_terraform_version(&stdout),
        Kind::Kops => parse_kops_version(&stdout),
        Kind::Aws => parse_aws_version(&printed),
        Kind::Kubectl => parse_kubectl_version(&stdout),
        Kind::Other => None,
    };
    match version.and_then(|v| numbers(&v).map(|n| (v, n))) {
        Some((v, n)) => Probe::Version(v, n),
        None => Probe::Unreadable(excerpt(&printed)),
    }
}

/// At most three lines and 200 characters of what a tool printed, for a message.
fn excerpt(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.chars().count() > 200 {
        format!("{}...", joined.chars().take(200).collect::<String>())
    } else {
        joined
    }
}

/// A version in text: `v1.30.2`, `1.37.0-alpha.1`, `1.32.4-dispatcher`, `1.30`.
static VERSION: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
    Regex::new(r"v?(\d+)\.(\d+)(?:\.(\d+))?([-+][0-9A-Za-z.+-]*)?").ok()
});

/// The first version in `text` (`v1.30.2-rc.1` -> `1.30.2-rc.1`).
fn first_version(text: &str) -> Option<String> {
    VERSION
        .as_ref()?
        .find(text)
        .map(|m| m.as_str().trim_start_matches('v').to_string())
}

/// (major, minor, patch) of a version text.
fn numbers(version: &str) -> Option<(u64, u64, u64)> {
    let caps = VERSION.as_ref()?.captures(version)?;
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u64>().ok());
    Some((num(1)?, num(2)?, num(3).unwrap_or(0)))
}

/// `terraform version -json` (and `tofu version -json`): `terraform_version`; before Terraform
/// 0.13 there is no `-json` and the text says `Terraform v0.12.31`.
fn parse_terraform_version(stdout: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(stdout.trim())
        && let Some(v) = json["terraform_version"].as_str()
    {
        return Some(v.to_string());
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Terraform v") || l.starts_with("OpenTofu v"))?;
    first_version(line)
}

/// `kops version`: `Client version: 1.30.1 (git-v1.30.1)` (cmd/kops/version.go), or the bare
/// version of `kops version --short`.
fn parse_kops_version(stdout: &str) -> Option<String> {
    for line in stdout.lines() {
        if let Some(rest) = line.trim().strip_prefix("Client version:") {
            let word = rest.split_whitespace().next()?;
            return first_version(word).filter(|v| word.trim_start_matches('v') == v);
        }
    }
    let text = stdout.trim();
    (!text.contains(char::is_whitespace))
        .then(|| first_version(text))
        .flatten()
        .filter(|v| text.trim_start_matches('v') == v)
}

/// `aws --version`: `aws-cli/2.15.0 Python/3.11.6 Linux/... exe/x86_64...`.
fn parse_aws_version(printed: &str) -> Option<String> {
    let at = printed.find("aws-cli/")?;
    let word = printed[at + "aws-cli/".len()..].split_whitespace().next()?;
    first_version(word)
}

/// `kubectl version --client -o json`: `clientVersion.gitVersion` (`v1.30.2`).
fn parse_kubectl_version(stdout: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(stdout.trim())
        && let Some(v) = json["clientVersion"]["gitVersion"].as_str()
    {
        return first_version(v);
    }
    let line = stdout.lines().find(|l| l.starts_with("Client Version:"))?;
    first_version(line)
}

/// A tool's version against its supported range.
fn judge_version(
    kind: Kind,
    version: &str,
    (major, minor, _): (u64, u64, u64),
) -> (Status, String) {
    let name = kind.display();
    if kind == Kind::Aws {
        return match major {
            0 => (
                Status::Fail,
                format!("{name} {version} is too old; install the aws CLI version 2"),
            ),
            1 => (
                Status::Warn,
                format!("{name} {version}: version 1 works, version 2 is recommended"),
            ),
            _ => (Status::Ok, format!("{name} {version} (supported: >= 2.0)")),
        };
    }
    let Some(((min_major, min_minor), below)) = kind.range() else {
        return (Status::Ok, format!("{name} {version}"));
    };
    let range = match below {
        Some(b) => format!(">= {min_major}.{min_minor}, < {b}"),
        None => format!(">= {min_major}.{min_minor}"),
    };
    if (major, minor) < (min_major, min_minor) {
        return (
            Status::Fail,
            format!(
                "{name} {version} is older than {min_major}.{min_minor}; install {name} {min_major}.{min_minor} or later"
            ),
        );
    }
    if let Some(b) = below
        && major >= b
    {
        return (
            Status::Fail,
            format!(
                "{name} {version} is newer than kopsform supports ({range}); install {name} {}.x ({min_major}.{min_minor} or later)",
                b - 1
            ),
        );
    }
    (Status::Ok, format!("{name} {version} (supported: {range})"))
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
/// (upup/pkg/fi/cloudup/apply_cluster.go) judges it in `update cluster`:
/// * newer than kops's own minor: `This version of kubernetes is not yet supported; upgrading kops
///   is required`, an error unless `KOPS_RUN_TOO_NEW_VERSION` is set (kops compares with its own
///   version with the minor raised by one and the patch kept, so kops 1.34.1 would let 1.35.0
///   through; kopsform compares minors, which is what the message means);
/// * older than `OldestSupportedKubernetesVersion`: `kubernetes upgrade is required`, an error
///   without a bypass;
/// * older than `OldestRecommendedKubernetesVersion`: a deprecation notice.
fn judge_skew(
    k8s: &str,
    (k8s_major, k8s_minor, _): (u64, u64, u64),
    kops: &str,
    (kops_major, kops_minor, _): (u64, u64, u64),
    too_new_allowed: bool,
) -> (Status, String) {
    let (oldest, recommended) = oldest_kubernetes(kops_minor);
    let range = format!("{kops_major}.{oldest} to {kops_major}.{kops_minor}");
    if (k8s_major, k8s_minor) > (kops_major, kops_minor) {
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
                    "kubernetes {k8s} is newer than kops {kops} supports ({range}); install kops {k8s_major}.{k8s_minor} or later, or lower kubernetesVersion (kops refuses with `kops upgrade is required` unless KOPS_RUN_TOO_NEW_VERSION is set)"
                ),
            )
        };
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

/// Where the AWS credentials come from, named without any value; `Err` says what is missing.
/// `env` reads kopsform's environment; `tables` are the env tables of tasks.toml (children get
/// them).
fn credential_source(
    env: &dyn Fn(&str) -> Option<String>,
    tables: &[(String, &IndexMap<String, String>)],
) -> Result<String, String> {
    let key_id = env("AWS_ACCESS_KEY_ID").is_some();
    let secret = env("AWS_SECRET_ACCESS_KEY").is_some();
    match (key_id, secret) {
        (true, true) => {
            let session = if env("AWS_SESSION_TOKEN").is_some() {
                " (with AWS_SESSION_TOKEN)"
            } else {
                ""
            };
            return Ok(format!(
                "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY{session}"
            ));
        }
        (true, false) => {
            return Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into());
        }
        (false, true) => {
            return Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into());
        }
        (false, false) => {}
    }
    let home = env("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| -> Option<PathBuf> {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let config = file("AWS_CONFIG_FILE", ".aws/config");
    let shown = |path: &Path| match home.as_ref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rel) => format!("~/{}", rel.display()),
        None => path.display().to_string(),
    };
    let profiles = |path: &Option<PathBuf>, in_config: bool| -> Vec<String> {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| ini_sections(&text, in_config))
            .unwrap_or_default()
    };
    let in_credentials = profiles(&credentials, false);
    let in_config = profiles(&config, true);
    let find_profile = |profile: &str, from: &str| -> Result<String, String> {
        let place = if in_credentials.iter().any(|p| p == profile) {
            credentials.as_deref().map(shown)
        } else if in_config.iter().any(|p| p == profile) {
            config.as_deref().map(shown)
        } else {
            None
        };
        match place {
            Some(place) => Ok(format!("the profile `{profile}` ({from}) in {place}")),
            None => Err(format!(
                "{from} names the profile `{profile}`, which is in neither {} nor {}; add it (aws configure --profile {profile}) or fix the name",
                credentials
                    .as_deref()
                    .map_or("~/.aws/credentials".into(), shown),
                config.as_deref().map_or("~/.aws/config".into(), shown),
            )),
        }
    };
    for var in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"] {
        if let Some(profile) = env(var) {
            return find_profile(&profile, var);
        }
    }
    if let Some(token) = env("AWS_WEB_IDENTITY_TOKEN_FILE") {
        return if Path::new(&token).is_file() {
            Ok("a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, with AWS_ROLE_ARN)".into())
        } else {
            Err("AWS_WEB_IDENTITY_TOKEN_FILE names a file that does not exist".into())
        };
    }
    for var in [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        if env(var).is_some() {
            return Ok(format!("container credentials ({var})"));
        }
    }
    for (table, vars) in tables {
        if let Some(profile) = vars.get("AWS_PROFILE") {
            let from = format!("AWS_PROFILE of {table}");
            return if profile.contains("{{") {
                Ok(format!("a profile from {from} (a template, not checked)"))
            } else {
                find_profile(profile, &from)
            };
        }
        if vars.contains_key("AWS_ACCESS_KEY_ID") && vars.contains_key("AWS_SECRET_ACCESS_KEY") {
            return Ok(format!(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of {table}"
            ));
        }
    }
    if in_credentials.iter().any(|p| p == "default") {
        return Ok(format!(
            "the default profile in {}",
            credentials.as_deref().map_or_else(String::new, shown)
        ));
    }
    if in_config.iter().any(|p| p == "default") {
        return Ok(format!(
            "the default profile in {}",
            config.as_deref().map_or_else(String::new, shown)
        ));
    }
    Err("none found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, a default profile in ~/.aws/credentials or ~/.aws/config)".into())
}

/// The profile names of an AWS credentials file (`[name]`) or config file (`[default]`,
/// `[profile name]`; `sso-session` and `services` sections are not profiles).
fn ini_sections(text: &str, config: bool) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
            if !config {
                return Some(inner.to_string());
            }
            if inner == "default" {
                return Some(inner.to_string());
            }
            inner
                .strip_prefix("profile ")
                .map(|name| name.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_as_each_tool_prints_them() {
        assert_eq!(
            parse_terraform_version(r#"{"terraform_version":"1.9.5","platform":"linux_amd64"}"#)
                .as_deref(),
            Some("1.9.5")
        );
        assert_eq!(
            parse_terraform_version("Terraform v0.12.31\n").as_deref(),
            Some("0.12.31")
        );
        assert_eq!(
            parse_kops_version("Client version: 1.30.1 (git-v1.30.1)\n").as_deref(),
            Some("1.30.1")
        );
        assert_eq!(
            parse_kops_version("Client version: 1.37.0-alpha.1\n").as_deref(),
            Some("1.37.0-alpha.1")
        );
        assert_eq!(parse_kops_version("1.34.1\n").as_deref(), Some("1.34.1"));
        assert_eq!(parse_kops_version("kops is great 1.2\n"), None);
        assert_eq!(parse_kops_version("Client version: banana\n"), None);
        assert_eq!(
            parse_aws_version("aws-cli/1.33.4 Python/3.11.7 Linux/6.1 botocore/1.34.4").as_deref(),
            Some("1.33.4")
        );
        assert_eq!(
            parse_aws_version("aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22")
                .as_deref(),
            Some("2.15.0")
        );
        assert_eq!(
            parse_kubectl_version(
                r#"{"clientVersion":{"major":"1","minor":"32+","gitVersion":"v1.32.4-dispatcher"}}"#
            )
            .as_deref(),
            Some("1.32.4-dispatcher")
        );
        assert_eq!(numbers("1.32.4-dispatcher"), Some((1, 32, 4)));
        assert_eq!(numbers("v1.30"), Some((1, 30, 0)));
        assert_eq!(numbers("latest"), None);
    }

    #[test]
    fn tool_versions_are_judged_against_their_ranges() {
        let judge = |kind, v: &str| judge_version(kind, v, numbers(v).unwrap());
        assert_eq!(
            judge(Kind::Terraform, "1.9.5"),
            (
                Status::Ok,
                "terraform 1.9.5 (supported: >= 1.5, < 2)".to_string()
            )
        );
        assert_eq!(judge(Kind::Terraform, "1.4.7").0, Status::Fail);
        assert_eq!(judge(Kind::Terraform, "2.0.0").0, Status::Fail);
        assert_eq!(judge(Kind::Tofu, "1.6.0").0, Status::Ok);
        assert_eq!(judge(Kind::Tofu, "1.5.9").0, Status::Fail);
        assert_eq!(
            judge(Kind::Kops, "1.25.0"),
            (
                Status::Fail,
                "kops 1.25.0 is older than 1.28; install kops 1.28 or later".to_string()
            )
        );
        assert_eq!(
            judge(Kind::Aws, "1.33.4"),
            (
                Status::Warn,
                "aws-cli 1.33.4: version 1 works, version 2 is recommended".to_string()
            )
        );
        assert_eq!(judge(Kind::Aws, "2.15.0").0, Status::Ok);
        assert_eq!(judge(Kind::Kubectl, "1.27.3").0, Status::Fail);
    }

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
        assert_eq!(judge("1.35.0", "1.34.1", false), Status::Fail);
        assert_eq!(judge("1.35.0", "1.34.1", true), Status::Warn);
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

    #[test]
    fn verdicts_count_blocks_and_warnings() {
        let c = |name: &str, status| Check {
            name: name.into(),
            status,
            detail: String::new(),
        };
        assert_eq!(Report::new(vec![c("a", Status::Ok)]).verdict, "ready");
        assert_eq!(
            Report::new(vec![c("aws", Status::Warn), c("n", Status::Note)]).verdict,
            "ready; 1 warning"
        );
        let r = Report::new(vec![
            c("kops", Status::Fail),
            c("aws", Status::Warn),
            c("ok", Status::Ok),
        ]);
        assert_eq!(r.verdict, "1 problem blocks (kops); 1 warning");
        assert!(r.blocking);
        let r = Report::new(vec![
            c("kops", Status::Fail),
            c("state-store", Status::Fail),
        ]);
        assert_eq!(r.verdict, "2 problems block (kops, state-store)");
        assert!(r.text().starts_with("FAIL  \nFAIL  \nverdict: 2 problems"));
    }

    #[test]
    fn credential_sources_are_named_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_string_lossy().into_owned();
        let vars: HashMap<&str, String> = [
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "canary-secret".to_string()),
        ]
        .into_iter()
        .collect();
        let env = |n: &str| vars.get(n).cloned();
        let found = credential_source(&env, &[]).unwrap();
        assert!(found.contains("AWS_SECRET_ACCESS_KEY"), "{found}");
        assert!(!found.contains("canary") && !found.contains("AKIAEXAMPLE"));

        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(
            dir.path().join(".aws/config"),
            "[profile ops]\nregion = eu-west-1\n[sso-session x]\n",
        )
        .unwrap();
        let vars: HashMap<&str, String> = [("HOME", home.clone()), ("AWS_PROFILE", "ops".into())]
            .into_iter()
            .collect();
        let env = |n: &str| vars.get(n).cloned();
        assert_eq!(
            credential_source(&env, &[]).unwrap(),
            "the profile `ops` (AWS_PROFILE) in ~/.aws/config"
        );
        let vars: HashMap<&str, String> = [("HOME", home.clone()), ("AWS_PROFILE", "x".into())]
            .into_iter()
            .collect();
        let env = |n: &str| vars.get(n).cloned();
        assert!(credential_source(&env, &[]).is_err());
        let vars: HashMap<&str, String> = [("HOME", home)].into_iter().collect();
        let env = |n: &str| vars.get(n).cloned();
        assert!(credential_source(&env, &[]).is_err());
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_secret_access_key = canary\n",
        )
        .unwrap();
        assert_eq!(
            credential_source(&env, &[]).unwrap(),
            "the default profile in ~/.aws/credentials"
        );
    }
}

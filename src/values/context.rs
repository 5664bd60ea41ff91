//! The values of a run, read lazily and once.
//!
//! `terraform output -json` in the prerequisites layer runs the first time a step needs a value and
//! never again in the run (for every cluster that shares the layer), unless a step ran in the
//! prerequisites folder itself (an apply or destroy there changes the outputs). A run whose steps
//! need no value, such as `prerequisites-apply`, never reads them.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::redact::Redactor;
use crate::render::template::Renderer;
use crate::tools::process;
use crate::values::merge;
use crate::values::outputs::{self, Outputs};

/// The cluster the run acts on, resolved from `[cluster]` or its `[clusters.<id>]`.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub(crate) name: String,
    pub(crate) state: String,
}

/// One variable of `[env]` or a cluster's `env` as kopsform's own processes get it.
#[derive(Debug, Clone)]
pub(crate) struct OwnVar {
    pub(crate) name: String,
    pub(crate) value: String,
    /// `[env]`, `[cluster] env` or `[clusters.<id>] env`.
    pub(crate) table: String,
}

/// The environment tasks.toml gives kopsform's own processes for a cluster: its `aws` calls (the
/// lock, the snapshot, listings), `terraform output -json` and doctor's probes, as the steps get
/// it (`[env]`, then the cluster's `env`; the later wins). These run before the outputs are read
/// (or read them), so a value is rendered with the cluster's plain fields only (`{{cluster.id}}`,
/// `{{cluster.dir}}`...); the names of the variables whose value needs an output are returned
/// apart, with their table: they reach the steps only.
pub(crate) fn own_env(project: &Project, def: Option<&ClusterDef>) -> (Vec<OwnVar>, Vec<String>) {
    let fields = def.map(|d| project_fields(project, d)).unwrap_or_default();
    let cluster_table = match def {
        Some(d) if project.config.cluster.is_none() => format!("[clusters.{}] env", d.id),
        _ => "[cluster] env".to_string(),
    };
    let mut tables = vec![("[env]".to_string(), &project.config.env)];
    if let Some(d) = def {
        tables.push((cluster_table, &d.config.env));
    }
    let mut vars: Vec<OwnVar> = Vec::new();
    let mut left_out = Vec::new();
    for (table, env) in tables {
        for (name, raw) in env {
            let value = if raw.contains("{{") {
                crate::render::template::substitute_fields(raw, "cluster", &fields)
            } else {
                Some(raw.clone())
            };
            vars.retain(|v| v.name != *name);
            // The later table wins, whichever of them could be rendered.
            left_out.retain(|n: &String| !n.starts_with(&format!("{name} of ")));
            match value {
                Some(value) => vars.push(OwnVar {
                    name: name.clone(),
                    value,
                    table: table.clone(),
                }),
                None => left_out.push(format!("{name} of {table}")),
            }
        }
    }
    (vars, left_out)
}

#[cfg(test)]
mod own_env_tests {
    #[test]
    fn the_clusters_env_wins_and_values_over_outputs_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tasks.toml"),
            "[env]\nAWS_PROFILE = \"{{account}}\"\nAWS_REGION = \"eu-west-1\"\nS3_REGION = \"{{region}}\"\n\n[clusters.prod]\nname = \"p.example.com\"\nstate = \"s3://b\"\nenv = { AWS_PROFILE = \"acme-{{cluster.id}}\" }\n\n[tasks.t]\nsteps = [[\"true\"]]\n",
        )
        .unwrap();
        let project = crate::project::Project::load(dir.path().to_path_buf()).unwrap();
        let def = project.clusters[0].clone();
        let (vars, left_out) = super::own_env(&project, Some(&def));
        let vars: Vec<(String, String, String)> = vars
            .into_iter()
            .map(|v| (v.name, v.value, v.table))
            .collect();
        assert_eq!(
            vars,
            [
                ("AWS_REGION".into(), "eu-west-1".into(), "[env]".into()),
                (
                    "AWS_PROFILE".into(),
                    "acme-prod".into(),
                    "[clusters.prod] env".into()
                ),
            ]
        );
        assert_eq!(left_out, ["S3_REGION of [env]"]);
    }
}

/// [`own_env`] as the pairs a process gets.
pub(crate) fn own_env_pairs(project: &Project, def: Option<&ClusterDef>) -> Vec<(String, String)> {
    own_env(project, def)
        .0
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect()
}

/// [`static_fields`] with `project_dir`, the project folder as an absolute path: what `[env]`
/// needs to name a file of the project for programs that run in other folders (Terraform in the
/// cluster's folder or the prerequisites layer), as a Makefile's `$(CURDIR)` does.
pub(crate) fn project_fields(project: &Project, def: &ClusterDef) -> Map<String, Value> {
    let mut fields = static_fields(def);
    let dir = std::path::absolute(&project.dir).unwrap_or_else(|_| project.dir.clone());
    fields.insert(
        "project_dir".into(),
        Value::String(dir.to_string_lossy().into_owned()),
    );
    fields
}

/// What the template context says of a cluster without reading any output: id, folders, stage.
pub(crate) fn static_fields(def: &ClusterDef) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("id".into(), Value::String(def.id.clone()));
    fields.insert("dir".into(), Value::String(def.dir.clone()));
    fields.insert("work".into(), Value::String(def.work.clone()));
    fields.insert(
        "prerequisites".into(),
        Value::String(def.prerequisites.clone()),
    );
    fields.insert(
        "stage".into(),
        def.config
            .stage
            .as_ref()
            .map_or(Value::Null, |s| Value::String(s.to_string())),
    );
    fields.insert(
        "workspace".into(),
        def.config
            .workspace
            .clone()
            .map_or(Value::Null, Value::String),
    );
    fields
}

#[derive(Clone)]
pub(crate) struct Values {
    /// The full template context: merged values + `cluster` + `outputs` + `env`.
    pub(crate) context: Value,
    /// `None` without a `[cluster]` table; an error when its name or state cannot be rendered
    /// (e.g. before the prerequisites are applied), reported only to the steps that need it.
    pub(crate) cluster: Option<Result<Cluster, UserError>>,
    pub(crate) outputs: Outputs,
    /// Where the merged values came from, lowest precedence first: (what, its values).
    pub(crate) sources: Vec<(String, Value)>,
    /// The outputs and values files merged, before `--set`: where a render step's own `set`
    /// and `set-string` go.
    pub(crate) before_cli: Value,
    /// The command line's `--set` and `--set-string`, as `merge::apply_set` reads them.
    pub(crate) cli_sets: Vec<String>,
}

impl Values {
    /// Where the value at `path` (as a template writes it: `vpc_id`, `env.HOME`, `zones.0`,
    /// `this`) came from, in words.
    pub(crate) fn source_of(&self, path: &str) -> String {
        let path = path
            .trim_start_matches("@root.")
            .trim_start_matches("this.")
            .trim_start_matches("../");
        let segments: Vec<&str> = path
            .split(['.', '/', '[', ']'])
            .filter(|s| !s.is_empty())
            .collect();
        match segments.first().copied() {
            Some("env") => {
                return format!(
                    "the environment variable `{}`",
                    segments.get(1).copied().unwrap_or("")
                );
            }
            Some("cluster") => return "the cluster's table in tasks.toml".into(),
            Some("params") if self.context.get("params").is_some() => {
                let name = segments.get(1).copied().unwrap_or("");
                return format!("the parameter `{name}` (--param {name}=..., or its default)");
            }
            Some("outputs") => {
                return format!(
                    "the Terraform output `{}`",
                    segments.get(1).copied().unwrap_or("")
                );
            }
            None | Some("this" | "@key" | "@index" | "@first" | "@last") => {
                return "an item of an `#each`".into();
            }
            _ => {}
        }
        for depth in (1..=segments.len()).rev() {
            for (what, values) in self.sources.iter().rev() {
                let mut at = Some(values);
                for seg in &segments[..depth] {
                    at = at.and_then(|v| match v {
                        Value::Object(m) => m.get(*seg),
                        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
                        _ => None,
                    });
                }
                if at.is_some() {
                    return what.replace("{name}", segments[0]);
                }
            }
        }
        "the values".into()
    }

    /// The cluster, for steps that cannot run without one.
    pub(crate) fn require_cluster(&self, project: &Project) -> Result<Cluster, UserError> {
        match &self.cluster {
            Some(Ok(c)) => Ok(c.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(UserError::new(format!(
                "{}: this step needs the cluster, but there is no [cluster] table with its name and state",
                project.file.display()
            ))),
        }
    }

    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref().and_then(|c| c.as_ref().ok())
    }

    /// The values a Go `render` step renders with: its `set` assignments, then its `set-string`
    /// ones (kops's order, cmd/kops/toolbox_template.go `newTemplateContext`), over the outputs and
    /// values files and under the command line's `--set`, which stays last. `step` names the
    /// step in errors. Without assignments, the run's values as they are.
    pub(crate) fn for_render(
        self: &std::sync::Arc<Self>,
        step: &str,
        set: &[String],
        set_string: &[String],
    ) -> Result<std::sync::Arc<Values>, UserError> {
        if set.is_empty() && set_string.is_empty() {
            return Ok(std::sync::Arc::clone(self));
        }
        let Value::Object(mut merged) = self.before_cli.clone() else {
            return Ok(std::sync::Arc::clone(self));
        };
        let mut sources = self.sources.clone();
        let at = sources
            .iter()
            .position(|(what, _)| what.starts_with("--set "))
            .unwrap_or(sources.len());
        let mut layers = Vec::new();
        for (key, list, strings) in [("set", set, false), ("set-string", set_string, true)] {
            for text in list {
                let mut alone = Map::new();
                super::strvals::apply(text, &mut alone, strings)
                    .and_then(|()| super::strvals::apply(text, &mut merged, strings))
                    .map_err(|e| {
                        UserError::new(format!(
                            "{step}: `{key}` assignment `{text}`: {e}; write NAME=VALUE pairs separated by commas, as `kops toolbox template --{key}` reads them (docs/templates.md); nothing was written"
                        ))
                    })?;
                layers.push((
                    format!("`{key} = [\"{text}\"]` of {step}"),
                    Value::Object(alone),
                ));
            }
        }
        sources.splice(at..at, layers);
        let mut merged = Value::Object(merged);
        for assignment in &self.cli_sets {
            merge::apply_set(&mut merged, assignment)?;
        }
        let mut context = match merged {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        if let Value::Object(run) = &self.context {
            for key in ["outputs", "env", "cluster", "params"] {
                if let Some(v) = run.get(key) {
                    context.insert(key.into(), v.clone());
                }
            }
        }
        Ok(std::sync::Arc::new(Values {
            context: Value::Object(context),
            cluster: self.cluster.clone(),
            outputs: self.outputs.clone(),
            sources,
            before_cli: self.before_cli.clone(),
            cli_sets: self.cli_sets.clone(),
        }))
    }
}

/// One layer's outputs once read; its lock is held while they are read, so clusters of a stage
/// that share the layer wait for one `terraform output` instead of each starting their own.
type OutputsSlot = Arc<std::sync::Mutex<Option<Outputs>>>;

/// Outputs by (layer folder, workspace), shared by the clusters of one run (made where the run
/// starts and handed to each cluster's values).
#[derive(Default)]
pub(crate) struct SharedOutputs {
    slots: std::sync::Mutex<Vec<((std::path::PathBuf, String), OutputsSlot)>>,
}

impl SharedOutputs {
    /// The slot of the layer `key` (created empty when new).
    fn slot(&self, key: &(std::path::PathBuf, String)) -> OutputsSlot {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, slot)) = slots.iter().find(|(k, _)| k == key) {
            return Arc::clone(slot);
        }
        let slot = OutputsSlot::default();
        slots.push((key.clone(), Arc::clone(&slot)));
        slot
    }
}

pub(crate) struct RunValues<'p> {
    project: &'p Project,
    shared: &'p SharedOutputs,
    cluster: Option<ClusterDef>,
    sets: Vec<String>,
    redactor: Arc<Redactor>,
    loaded: Option<Result<Arc<Values>, UserError>>,
    /// Set by `snapshot-state`: the cluster's state store for the rest of the run.
    state_override: Option<String>,
    /// Set by `planned-outputs`: the layer's outputs after its planned apply, used instead of
    /// the applied ones for the rest of the run (this cluster's only: the layer is not changed).
    outputs_override: Option<Outputs>,
    /// The run's task parameters, `params` in the context (absent when the run has none, so an
    /// output named `params` keeps its name then).
    params: Option<Map<String, Value>>,
}

impl<'p> RunValues<'p> {
    pub(crate) fn new(
        project: &'p Project,
        shared: &'p SharedOutputs,
        cluster: Option<ClusterDef>,
        sets: Vec<String>,
        redactor: Arc<Redactor>,
    ) -> Self {
        RunValues {
            project,
            shared,
            cluster,
            sets,
            redactor,
            loaded: None,
            state_override: None,
            outputs_override: None,
            params: None,
        }
    }

    /// Sets the run's task parameters (`{{params.NAME}}`); none leaves the context as it was.
    pub(crate) fn set_params(&mut self, params: &indexmap::IndexMap<String, String>) {
        self.params = (!params.is_empty()).then(|| {
            params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        });
    }

    /// The run's task parameters, for texts rendered without the outputs.
    pub(crate) fn params(&self) -> Option<&Map<String, Value>> {
        self.params.as_ref()
    }

    /// Points the cluster at another state store (a snapshot) for the rest of the run.
    pub(crate) fn override_state(&mut self, state: String) {
        self.state_override = Some(state.clone());
        if let Some(Ok(values)) = &self.loaded {
            let mut values = Values::clone(values);
            if let Some(Ok(cluster)) = &mut values.cluster {
                cluster.state = state.clone();
                if let Some(Value::Object(fields)) = values.context.get_mut("cluster") {
                    fields.insert("state".into(), Value::String(state));
                }
            }
            self.loaded = Some(Ok(Arc::new(values)));
        }
    }

    /// Renders the rest of the run with `outputs` (a plan's, see `values::planned`) instead of
    /// the layer's applied outputs. Their secrets are learned at once.
    pub(crate) fn override_outputs(&mut self, outputs: Outputs) {
        for secret in outputs.secrets() {
            self.redactor.add(secret);
        }
        self.outputs_override = Some(outputs);
        self.loaded = None;
    }

    /// Forgets the values: the next use reads the outputs again.
    pub(crate) fn invalidate(&mut self) {
        self.loaded = None;
        let slot = self.shared.slot(&self.layer_key());
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    pub(crate) fn get(&mut self, renderer: &Renderer) -> Result<Arc<Values>, UserError> {
        if self.loaded.is_none() {
            let loaded = self.load(renderer).map(Arc::new);
            self.loaded = Some(loaded);
        }
        match &self.loaded {
            Some(Ok(v)) => Ok(Arc::clone(v)),
            Some(Err(e)) => Err(e.clone()),
            None => Err(UserError::new("values were not loaded")),
        }
    }

    /// The prerequisites layer of the run's cluster.
    pub(crate) fn prerequisites_dir(&self) -> String {
        self.cluster.as_ref().map_or_else(
            || self.project.config.prerequisites.dir.clone(),
            |c| c.prerequisites.clone(),
        )
    }

    /// The Terraform workspace of the prerequisites layer, when the cluster names one.
    pub(crate) fn workspace(&self) -> Option<String> {
        self.cluster
            .as_ref()
            .and_then(|c| c.config.workspace.clone())
    }

    /// `TF_WORKSPACE` for commands in the prerequisites layer, when the cluster names one.
    pub(crate) fn workspace_env(&self) -> Vec<(String, String)> {
        self.workspace()
            .map(|w| vec![("TF_WORKSPACE".to_string(), w)])
            .unwrap_or_default()
    }

    /// Where the outputs come from: the layer's folder and workspace.
    fn layer_key(&self) -> (std::path::PathBuf, String) {
        let dir = self.project.path(&self.prerequisites_dir());
        (
            dir.canonicalize().unwrap_or(dir),
            self.workspace().unwrap_or_default(),
        )
    }

    /// The layer's outputs, read once per process for all the clusters that share the layer (and
    /// workspace), until a step in the layer invalidates them.
    fn read_outputs(&mut self) -> Result<Outputs, UserError> {
        let slot = self.shared.slot(&self.layer_key());
        let mut held = slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outputs = match &*held {
            Some(outputs) => outputs.clone(),
            None => {
                let outputs = self.run_terraform_output()?;
                *held = Some(outputs.clone());
                outputs
            }
        };
        drop(held);
        for secret in outputs.secrets() {
            self.redactor.add(secret);
        }
        Ok(outputs)
    }

    fn run_terraform_output(&self) -> Result<Outputs, UserError> {
        let dir_name = &self.prerequisites_dir();
        let dir = self.project.path(dir_name);
        if !dir.is_dir() {
            return Err(UserError::new(format!(
                "{}: the prerequisites folder does not exist; set [prerequisites] dir in {}",
                dir.display(),
                self.project.file.display()
            )));
        }
        let program = self.project.program_for("terraform", self.cluster.as_ref());
        let terraform = process::shown_program(&program);
        // tasks.toml's env (credentials, profiles) reaches this read as it reaches the steps.
        let mut env = own_env_pairs(self.project, self.cluster.as_ref());
        env.extend(self.workspace_env());
        // A local state is read as `terraform output -json` reads it, without starting Terraform
        // (values::local_state says when that is provably the same).
        if let Some(outputs) =
            super::local_state::read(&dir, &program, &env, self.workspace().as_deref())
        {
            return Ok(outputs);
        }
        let process::Output {
            code,
            stdout,
            stderr,
        } = crate::tools::retry::run_captured(
            self.project.retry_policy(None),
            &program,
            &["output", "-json"],
            &dir,
            &env,
        )?;
        if code != 0 {
            let tail = process::last_lines(&stderr, 5).join("\n  ");
            return Err(UserError::new(format!(
                "`{terraform} output -json` in {dir_name} failed with status {code}:\n  {tail}\nIs the layer initialised and applied (task prerequisites-apply)?"
            )));
        }
        let text = String::from_utf8_lossy(&stdout);
        outputs::parse(&text).map_err(|e| {
            UserError::new(format!(
                "`{terraform} output -json` in {dir_name}: {e}; run it there to see what it prints, and check that [tools] terraform names Terraform"
            ))
        })
    }

    fn load(&mut self, renderer: &Renderer) -> Result<Values, UserError> {
        let outputs = match &self.outputs_override {
            Some(planned) => planned.clone(),
            None => self.read_outputs()?,
        };
        let def = self.cluster.clone();
        let cluster_config = def.as_ref().map(|d| &d.config);
        let table = def
            .as_ref()
            .map_or("[cluster]".to_string(), |d| cluster_table(self.project, d));
        let allowed: &[String] = cluster_config.map_or(&[], |c| c.sensitive.as_slice());
        for name in allowed {
            if !outputs.values.contains_key(name) {
                return Err(UserError::new(format!(
                    "{}: {table} sensitive lists `{name}`, which is not an output of {}",
                    self.project.file.display(),
                    self.prerequisites_dir()
                )));
            }
        }
        let visible = Value::Object(outputs.visible(allowed));
        let mut merged = visible.clone();
        let mut sources = vec![(
            format!(
                "the Terraform output `{{name}}` of {}",
                self.prerequisites_dir()
            ),
            visible.clone(),
        )];
        if let Some(cluster) = cluster_config {
            for file in &cluster.values {
                let layer = merge::load_file(&self.project.dir, file)?;
                sources.push((format!("the values file {file}"), layer.clone()));
                merge::deep_merge(&mut merged, layer);
            }
        }
        let before_cli = merged.clone();
        for assignment in &self.sets {
            let mut alone = Value::Object(Map::new());
            merge::apply_set(&mut alone, assignment)?;
            let key = assignment.split('=').next().unwrap_or_default();
            sources.push((format!("--set {key}=..."), alone));
            merge::apply_set(&mut merged, assignment)?;
        }
        let env: Map<String, Value> = std::env::vars()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let mut context = match merged {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        context.insert("outputs".into(), visible);
        context.insert("env".into(), Value::Object(env));
        if let Some(params) = &self.params {
            context.insert("params".into(), Value::Object(params.clone()));
        }
        let mut context = Value::Object(context);
        if let (Some(def), Value::Object(map)) = (&def, &mut context) {
            // id, dir, stage are there even when name or state cannot be rendered.
            map.insert(
                "cluster".into(),
                Value::Object(project_fields(self.project, def)),
            );
        }
        let cluster = def.as_ref().map(|d| {
            let mut cluster = resolve_cluster(self.project, renderer, &table, &d.config, &context)?;
            if let Some(state) = &self.state_override {
                cluster.state = state.clone();
            }
            if let Value::Object(map) = &mut context {
                let mut fields = project_fields(self.project, d);
                fields.insert("name".into(), Value::String(cluster.name.clone()));
                fields.insert("state".into(), Value::String(cluster.state.clone()));
                map.insert("cluster".into(), Value::Object(fields));
            }
            Ok(cluster)
        });
        Ok(Values {
            context,
            cluster,
            outputs,
            sources,
            before_cli,
            cli_sets: self.sets.clone(),
        })
    }
}

/// How `tasks.toml` names the cluster's table.
fn cluster_table(project: &Project, def: &ClusterDef) -> String {
    if project.config.cluster.is_some() {
        "[cluster]".to_string()
    } else {
        format!("[clusters.{}]", def.id)
    }
}

fn resolve_cluster(
    project: &Project,
    renderer: &Renderer,
    table: &str,
    config: &crate::project::cluster::ClusterConfig,
    context: &Value,
) -> Result<Cluster, UserError> {
    let file = project.file.display();
    let name = renderer
        .render_inline(&format!("{file} {table} name"), &config.name, context)?
        .trim()
        .to_string();
    let state = renderer
        .render_inline(&format!("{file} {table} state"), &config.state, context)?
        .trim()
        .to_string();
    if name.is_empty() || state.is_empty() {
        return Err(UserError::new(format!(
            "{file}: {table} name and state must not render empty (got name `{name}`, state `{state}`)"
        )));
    }
    crate::project::cluster::check_name(&name, &format!("{file} {table} name"))?;
    Ok(Cluster { name, state })
}

//! The values of a run, read lazily and once.
//!
//! `terraform output -json` in the prerequisites layer runs the first time a step needs a value and
//! never again in the run, unless a step ran in the prerequisites folder itself (an apply or destroy
//! there changes the outputs). A run whose steps need no value, such as `prerequisites-apply`,
//! never reads them.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::Project;
use crate::error::UserError;
use crate::outputs::{self, Outputs};
use crate::process;
use crate::redact::Redactor;
use crate::template::Renderer;
use crate::values;

/// The cluster the run acts on, resolved from `[cluster]`.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub state: String,
}

#[derive(Clone)]
pub struct Values {
    /// The full template context: merged values + `cluster` + `outputs` + `env`.
    pub context: Value,
    /// `None` without a `[cluster]` table; an error when its name or state cannot be rendered
    /// (e.g. before the prerequisites are applied), reported only to the steps that need it.
    pub cluster: Option<Result<Cluster, UserError>>,
    pub outputs: Outputs,
}

impl Values {
    /// The cluster, for steps that cannot run without one.
    pub fn require_cluster(&self, project: &Project) -> Result<Cluster, UserError> {
        match &self.cluster {
            Some(Ok(c)) => Ok(c.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(UserError::new(format!(
                "{}: this step needs the cluster, but there is no [cluster] table with its name and state",
                project.file.display()
            ))),
        }
    }

    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref().and_then(|c| c.as_ref().ok())
    }
}

pub struct RunValues<'p> {
    project: &'p Project,
    sets: Vec<String>,
    redactor: Arc<Redactor>,
    loaded: Option<Result<Arc<Values>, UserError>>,
    /// Set by `snapshot-state`: the cluster's state store for the rest of the run.
    state_override: Option<String>,
}

impl<'p> RunValues<'p> {
    pub fn new(project: &'p Project, sets: Vec<String>, redactor: Arc<Redactor>) -> Self {
        RunValues {
            project,
            sets,
            redactor,
            loaded: None,
            state_override: None,
        }
    }

    /// Points the cluster at another state store (a snapshot) for the rest of the run.
    pub fn override_state(&mut self, state: String) {
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

    /// Forgets the values: the next use reads the outputs again.
    pub fn invalidate(&mut self) {
        self.loaded = None;
    }

    pub fn get(&mut self, renderer: &Renderer) -> Result<Arc<Values>, UserError> {
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

    fn read_outputs(&mut self) -> Result<Outputs, UserError> {
        let dir_name = &self.project.config.prerequisites.dir;
        let dir = self.project.path(dir_name);
        if !dir.is_dir() {
            return Err(UserError::new(format!(
                "{}: the prerequisites folder does not exist; set [prerequisites] dir in {}",
                dir.display(),
                self.project.file.display()
            )));
        }
        let terraform = self.project.tool_or_default("terraform");
        let (code, stdout, stderr) =
            process::run_captured(&terraform, &["output", "-json"], &dir, &[])?;
        if code != 0 {
            let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = tail[tail.len().saturating_sub(5)..].join("\n  ");
            return Err(UserError::with_code(
                format!(
                    "`{terraform} output -json` in {dir_name} failed with status {code}:\n  {tail}\nIs the layer initialised and applied (task prerequisites-apply)?"
                ),
                code,
            ));
        }
        let text = String::from_utf8_lossy(&stdout);
        let outputs = outputs::parse(&text).map_err(|e| {
            UserError::new(format!("`{terraform} output -json` in {dir_name}: {e}"))
        })?;
        for secret in outputs.secrets() {
            self.redactor.add(secret);
        }
        Ok(outputs)
    }

    fn load(&mut self, renderer: &Renderer) -> Result<Values, UserError> {
        let outputs = self.read_outputs()?;
        let cluster_config = self.project.config.cluster.as_ref();
        let allowed: &[String] = cluster_config.map_or(&[], |c| c.sensitive.as_slice());
        for name in allowed {
            if !outputs.values.contains_key(name) {
                return Err(UserError::new(format!(
                    "{}: [cluster] sensitive lists `{name}`, which is not an output of {}",
                    self.project.file.display(),
                    self.project.config.prerequisites.dir
                )));
            }
        }
        let visible = Value::Object(outputs.visible(allowed));
        let mut merged = visible.clone();
        if let Some(cluster) = cluster_config {
            for file in &cluster.values {
                let layer = values::load_file(&self.project.dir, file)?;
                values::deep_merge(&mut merged, layer);
            }
        }
        for assignment in &self.sets {
            values::apply_set(&mut merged, assignment)?;
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
        let mut context = Value::Object(context);
        let cluster = cluster_config.map(|c| {
            let mut cluster = resolve_cluster(self.project, renderer, c, &context)?;
            if let Some(state) = &self.state_override {
                cluster.state = state.clone();
            }
            if let Value::Object(map) = &mut context {
                let mut fields = Map::new();
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
        })
    }
}

fn resolve_cluster(
    project: &Project,
    renderer: &Renderer,
    config: &crate::config::ClusterConfig,
    context: &Value,
) -> Result<Cluster, UserError> {
    let file = project.file.display();
    let name = renderer
        .render_inline(&format!("{file} [cluster] name"), &config.name, context)?
        .trim()
        .to_string();
    let state = renderer
        .render_inline(&format!("{file} [cluster] state"), &config.state, context)?
        .trim()
        .to_string();
    if name.is_empty() || state.is_empty() {
        return Err(UserError::new(format!(
            "{file}: [cluster] name and state must not render empty (got name `{name}`, state `{state}`)"
        )));
    }
    Ok(Cluster { name, state })
}

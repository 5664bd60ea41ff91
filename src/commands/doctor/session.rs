//! The `Doctor`: one doctor run's project and clusters, and what it reads once (each binary's
//! version, each cluster's values). The checks add their own `impl Doctor` in the files above.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::redact::Redactor;
use crate::render::template::Renderer;
use crate::values::context::{RunValues, SharedOutputs, Values};

use super::versions::{Kind, Probe, probe_version};

/// One doctor run: what it checks, and what it has read so far.
pub(super) struct Doctor<'p> {
    pub(super) project: &'p Project,
    pub(super) clusters: Vec<ClusterDef>,
    sets: Vec<String>,
    pub(super) redactor: Arc<Redactor>,
    pub(super) renderer: Renderer,
    /// The values of each cluster (by id), read once per run.
    values: HashMap<String, Result<Arc<Values>, UserError>>,
    /// The layers' outputs, read once for the clusters that share a layer.
    outputs: SharedOutputs,
}

impl<'p> Doctor<'p> {
    pub(super) fn new(project: &'p Project, clusters: Vec<ClusterDef>, sets: Vec<String>) -> Self {
        Doctor {
            project,
            clusters,
            sets,
            redactor: Arc::new(Redactor::new(&project.config.secret_env)),
            renderer: Renderer::new(),
            values: HashMap::new(),
            outputs: SharedOutputs::default(),
        }
    }

    /// `name` or `name:<id>` when the project has several clusters.
    pub(super) fn check_name(&self, name: &str, def: &ClusterDef) -> String {
        if self.project.config.cluster.is_some() || self.project.clusters.len() == 1 {
            name.to_string()
        } else {
            format!("{name}:{}", def.id)
        }
    }

    /// The binary a step's first word runs: its `[tools]` entry or itself; a relative path is
    /// relative to the project.
    pub(super) fn program(&self, word: &str) -> String {
        let program = self.project.tool_or_default(word);
        let (exe, lead) = crate::tools::process::split_program(&program);
        if !exe.contains('/') {
            return program;
        }
        // Relative paths are joined to the project already; `./x` and `x/./y` are shown plainly.
        let exe = Path::new(exe)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect::<PathBuf>()
            .to_string_lossy()
            .into_owned();
        let words: Vec<String> = std::iter::once(exe)
            .chain(lead.into_iter().map(String::from))
            .collect();
        crate::tools::process::join_program(&words)
    }

    /// The version of `program` (the tool itself is asked once per process and environment:
    /// tools::version), asked with the environment kopsform's own calls for `def` get (`[env]`
    /// and the cluster's `env`); without a cluster, the project's only cluster's, or `[env]`.
    pub(super) fn version(&self, program: &str, kind: Kind, def: Option<&ClusterDef>) -> Probe {
        let def = def.or(match self.project.clusters.as_slice() {
            [only] => Some(only),
            _ => None,
        });
        let env = crate::values::context::own_env_pairs(self.project, def);
        probe_version(program, kind, &self.project.dir, &env)
    }

    /// The values of the cluster (`terraform output` of its prerequisites layer, values files,
    /// `--set`), read once per run.
    pub(super) fn values(&mut self, def: &ClusterDef) -> Result<Arc<Values>, UserError> {
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
}

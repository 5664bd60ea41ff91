//! Reading the cluster from kops: the environment a kops step would get, `kops get ... -o yaml`
//! (retried as a read), and its YAML documents. In: the cluster's name and state store. Out:
//! kops's documents.

use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::redact::Redactor;
use crate::render::template::Renderer;
use crate::tools::process;

/// The environment of the kops reads: `[env]` and the cluster's `env` (templates), as a kops step
/// of a task gets them.
pub(super) fn child_env(
    project: &Project,
    def: &ClusterDef,
    renderer: &Renderer,
    context: &Json,
    redactor: &Redactor,
) -> Result<Vec<(String, String)>, UserError> {
    let mut env = Vec::new();
    let layers = [
        (&project.config.env, "[env]".to_string()),
        (&def.config.env, format!("cluster `{}` env", def.id)),
    ];
    for (vars, what) in layers {
        for (name, value) in vars {
            let value = renderer.render_inline(&format!("{what} {name}"), value, context)?;
            if redactor.is_secret_var(name) {
                redactor.add(value.clone());
            }
            env.push((name.clone(), value));
        }
    }
    Ok(env)
}

/// Runs a `kops get` (a read, so retried on transient errors) and parses its YAML documents.
pub(super) fn kops_get(
    project: &Project,
    kops: &str,
    args: &[&str],
    env: &[(String, String)],
) -> Result<Vec<Yaml>, UserError> {
    let shown = std::iter::once(kops)
        .chain(args.iter().copied())
        .map(process::shell_word)
        .collect::<Vec<_>>()
        .join(" ");
    let out = crate::tools::retry::run_captured(
        project.retry_policy(None),
        kops,
        args,
        &project.dir,
        env,
    )?;
    if out.code != 0 {
        return Err(UserError::new(format!(
            "{}\nCheck that [cluster] name and state in {} name a cluster that exists in that state store (`kops get clusters --state STATE` lists them); nothing was written",
            out.failure(&shown),
            project.file.display()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_documents(&text).map_err(|e| {
        UserError::new(format!(
            "`{shown}` printed something that is not YAML ({e}); check that [tools] kops names kops; nothing was written"
        ))
    })
}

/// The YAML documents of `text`, empty ones skipped.
pub(crate) fn parse_documents(text: &str) -> Result<Vec<Yaml>, String> {
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Yaml::deserialize(document).map_err(|e| e.to_string())?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

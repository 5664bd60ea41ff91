//! `kopsform import`: a starting cluster template from a cluster that kops already manages.
//!
//! `kops get cluster` and `kops get instancegroups` (`-o yaml`, with the cluster's `--name` and
//! `--state`) give the documents kops keeps. The leftovers kops adds are dropped (timestamps,
//! generation, status, a `spec.configBase` that is kops's default `<state>/<name>`), and every
//! string equal to a prerequisites output becomes a reference to it (`"{{vpc_id}}"`,
//! `"{{private_subnet_ids.[eu-west-1a]}}"`); the cluster name becomes `{{cluster.name}}` (or the
//! output that holds it) and the state store `{{cluster.state}}`. Values of sensitive outputs are
//! never written: referenced when `[cluster] sensitive` lists them, left out with a warning when
//! not. Before anything is written the template is rendered with the same values, and it must give
//! back exactly the documents kops printed (minus what was left out): an import that would not
//! reproduce the cluster fails instead.

mod kops;
mod leftovers;
mod references;
mod summary;
mod template;

#[cfg(test)]
mod fixtures;

use std::path::Path;
use std::sync::Arc;

use kops::{child_env, kops_get, parse_documents};
use leftovers::default_config_bases;
use references::Input;
use summary::next_step;
use template::{build, first_difference};

use crate::atomic;
use crate::cli::{GlobalArgs, ImportArgs};
use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::{ClusterDef, Selection};
use crate::redact::Redactor;
use crate::render::template::Renderer;
use crate::values::context::RunValues;

/// `kopsform import`.
pub(crate) fn command(
    project: &Project,
    selection: &Selection,
    args: &ImportArgs,
    global: &GlobalArgs,
    cwd: &Path,
) -> Result<(), UserError> {
    let def = select_one(project, selection)?;
    let out = match &args.out {
        Some(path) if path.is_absolute() => path.clone(),
        Some(path) => cwd.join(path),
        None => project.path(&format!("{}/cluster-template.yml", def.dir)),
    };
    let shown = shown_path(project, &out);
    if out.exists() && !global.force {
        return Err(UserError::new(format!(
            "{shown} exists; pass --force to overwrite it, or --out FILE to write the template elsewhere; nothing was written"
        )));
    }
    let redactor = Arc::new(Redactor::new(&project.config.secret_env));
    let renderer = Renderer::new();
    let outputs = crate::values::context::SharedOutputs::default();
    let mut run_values = RunValues::new(
        project,
        &outputs,
        Some(def.clone()),
        global.assignments(),
        Arc::clone(&redactor),
    );
    let values = run_values.get(&renderer)?;
    let cluster = values.require_cluster(project)?;
    let env = child_env(project, &def, &renderer, &values.context, &redactor)?;
    let kops = project.tool_or_default("kops");
    let read = |what: &str| {
        kops_get(
            project,
            &kops,
            &[
                "get",
                what,
                "--name",
                &cluster.name,
                "--state",
                &cluster.state,
                "-o",
                "yaml",
            ],
            &env,
        )
    };
    let cluster_docs = read("cluster")?;
    let group_docs = read("instancegroups")?;
    let input = Input {
        cluster: cluster_docs,
        groups: group_docs,
        name: &cluster.name,
        state: &cluster.state,
        config_bases: default_config_bases(project, &cluster.state, &cluster.name),
        outputs: &values.outputs,
        allowed: &def.config.sensitive,
        context: &values.context,
    };
    let imported = build(&input).map_err(|e| {
        UserError::new(format!(
            "cannot import cluster {}: {e}; nothing was written",
            cluster.name
        ))
    })?;
    // The template must give back what kops printed, with the values it was made from.
    let rendered = renderer
        .render(&shown, &imported.template, &values.context)
        .map_err(|e| {
            UserError::new(format!(
                "the imported template does not render ({e}); this is a kopsform bug, please report it; nothing was written"
            ))
        })?;
    let again = parse_documents(&rendered).map_err(|e| {
        UserError::new(format!(
            "the imported template renders invalid YAML ({e}); this is a kopsform bug, please report it; nothing was written"
        ))
    })?;
    if let Some(difference) = first_difference(&imported.expected, &again) {
        return Err(UserError::new(format!(
            "the imported template does not reproduce the cluster ({difference}); this is a kopsform bug, please report it; nothing was written"
        )));
    }
    if redactor.contains_secret(&imported.template) {
        return Err(UserError::new(format!(
            "the template of cluster {} would hold the value of a sensitive output in clear (in a key or inside a longer value); nothing was written: write the template by hand",
            cluster.name
        )));
    }
    for warning in &imported.warnings {
        eprintln!("kopsform: warning: {}", redactor.mask(warning));
    }
    if let Err(e) = crate::render::manifest::check(&rendered, &cluster.name) {
        eprintln!(
            "kopsform: warning: the rendered template fails kopsform's manifest check ({e}); fix the template before rendering it"
        );
    }
    let mut summary = imported.summary(&cluster.name, &cluster.state, &shown);
    summary.push_str(&next_step(
        project,
        &def,
        &renderer,
        &values.context,
        &out,
        &shown,
    ));
    if global.dry_run {
        summary = summary.replacen("imported cluster", "would import cluster", 1);
        print!("{}", redactor.mask(&summary));
        println!("dry run: {shown} was not written");
        return Ok(());
    }
    atomic::write(&out, imported.template.as_bytes(), 0o644)?;
    print!("{}", redactor.mask(&summary));
    Ok(())
}

/// The one cluster an import acts on: the single `[cluster]`, or the `[clusters.<id>]` selected.
fn select_one(project: &Project, selection: &Selection) -> Result<ClusterDef, UserError> {
    let file = project.file.display();
    let ids: Vec<&str> = project.clusters.iter().map(|c| c.id.as_str()).collect();
    if ids.is_empty() {
        return Err(UserError::new(format!(
            "{file}: no [cluster] table: `kopsform import` reads the cluster named by [cluster] name from its state store: add [cluster] with `name` and `state` (docs/import.md)"
        )));
    }
    let none_chosen = selection.clusters.is_empty() && selection.stages.is_empty();
    if none_chosen && !selection.all && ids.len() > 1 {
        return Err(UserError::new(format!(
            "{file}: this project has {} clusters ({}); choose the one to import with --cluster ID",
            ids.len(),
            ids.join(", ")
        )));
    }
    let mut chosen = project.select_clusters(selection)?;
    if chosen.len() != 1 {
        let names: Vec<&str> = chosen.iter().map(|c| c.id.as_str()).collect();
        return Err(UserError::new(format!(
            "`kopsform import` writes the template of one cluster, and this selection has {} ({}); choose one with --cluster ID",
            names.len(),
            names.join(", ")
        )));
    }
    Ok(chosen.remove(0))
}

/// `path` relative to the project folder when it is inside it.
fn shown_path(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

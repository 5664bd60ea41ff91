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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::atomic;
use crate::cli::{GlobalArgs, ImportArgs};
use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::project::task::{ManifestCheck, Step};
use crate::redact::{self, Redactor};
use crate::render::manifest::{kind, metadata_name};
use crate::render::template::Renderer;

use crate::project::cluster::Selection;
use crate::tools::process;
use crate::values::context::RunValues;
use crate::values::outputs::Outputs;

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
        global.set.clone(),
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

/// The environment of the kops reads: `[env]` and the cluster's `env` (templates), as a kops step
/// of a task gets them.
fn child_env(
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
fn kops_get(
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
        &project.retry_policy(None),
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

/// The spellings of kops's default `spec.configBase`, `<state>/<name>`.
fn default_config_bases(project: &Project, state: &str, name: &str) -> Vec<String> {
    let state = state.trim_end_matches('/');
    let mut bases = vec![format!("{state}/{name}")];
    if let Ok(crate::statestore::store::Store::Local(dir)) =
        crate::statestore::store::Store::parse(state, &project.dir)
    {
        let dir = dir.display().to_string();
        bases.push(format!("{dir}/{name}"));
        bases.push(format!("file://{dir}/{name}"));
    }
    bases
}

/// The task that renders the template, for the summary's last line.
fn next_step(
    project: &Project,
    def: &ClusterDef,
    renderer: &Renderer,
    context: &Json,
    out: &Path,
    shown: &str,
) -> String {
    let cluster_flag = if project.config.cluster.is_some() {
        String::new()
    } else {
        format!(" --cluster {}", def.id)
    };
    for (name, task) in &project.config.tasks {
        for step in &task.steps {
            let Step::Render(render) = step else { continue };
            if render.check != ManifestCheck::Kops {
                continue;
            }
            let Ok(template) =
                renderer.render_inline(&format!("task `{name}`"), &render.template, context)
            else {
                continue;
            };
            if same_file(&project.path(&template), out) {
                let target = renderer
                    .render_inline(&format!("task `{name}`"), &render.out, context)
                    .unwrap_or_else(|_| render.out.clone());
                return format!(
                    "next: `kopsform{cluster_flag} {name}` renders it into {target}; compare that with `kops get cluster -o yaml` before `kops replace`\n"
                );
            }
        }
    }
    format!(
        "next: no render step of {} reads {shown}; add one, e.g. {{ render = \"{shown}\", out = \"{{{{cluster.dir}}}}/cluster.yml\" }}\n",
        project.file.display()
    )
}

fn same_file(a: &Path, b: &Path) -> bool {
    let normal = |p: &Path| -> PathBuf {
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => parent
                .canonicalize()
                .map_or_else(|_| p.to_path_buf(), |d| d.join(name)),
            _ => p.to_path_buf(),
        }
    };
    normal(a) == normal(b)
}

/// What an import starts from: the documents kops printed and the values of the run.
pub(crate) struct Input<'a> {
    /// `kops get cluster -o yaml`: the Cluster.
    pub(crate) cluster: Vec<Yaml>,
    /// `kops get instancegroups -o yaml`, in kops's order.
    pub(crate) groups: Vec<Yaml>,
    pub(crate) name: &'a str,
    pub(crate) state: &'a str,
    /// The spellings of the default `spec.configBase` (`<state>/<name>`), which are left out.
    pub(crate) config_bases: Vec<String>,
    pub(crate) outputs: &'a Outputs,
    /// `[cluster] sensitive`: the sensitive outputs the template may reference.
    pub(crate) allowed: &'a [String],
    /// The template context the template will be rendered with.
    pub(crate) context: &'a Json,
}

/// One scalar of the documents, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `Cluster c.example.com spec.networkID`.
    pub(crate) at: String,
    /// The value as kops printed it (`(sensitive)` for the value of a sensitive output).
    pub(crate) value: String,
    /// What the template holds instead (`{{vpc_id}}`), or why it is missing.
    pub(crate) became: String,
}

/// The template, what it must render to, and what the import did.
#[derive(Debug)]
pub(crate) struct Imported {
    pub(crate) template: String,
    /// The documents the template renders to with the values it was made from.
    pub(crate) expected: Vec<Yaml>,
    /// Values that became references.
    pub(crate) references: Vec<Entry>,
    /// Strings left as they were.
    pub(crate) literals: Vec<Entry>,
    /// Values left out because they hold a sensitive output's value.
    pub(crate) sensitive: Vec<Entry>,
    /// kops's leftovers that were dropped (`metadata.generation`, ...), each once.
    pub(crate) dropped: Vec<String>,
    /// Values equal to several outputs: the value and every reference, the chosen one first.
    pub(crate) ambiguous: IndexMap<String, Vec<String>>,
    pub(crate) warnings: Vec<String>,
    /// `Cluster`, `2 InstanceGroups`.
    pub(crate) documents: String,
}

impl Imported {
    /// The summary printed after the import.
    pub(crate) fn summary(&self, name: &str, state: &str, out: &str) -> String {
        let mut text = format!(
            "imported cluster {name} from {state} ({}) into {out}\n",
            self.documents
        );
        let width = self
            .references
            .iter()
            .chain(&self.literals)
            .chain(&self.sensitive)
            .map(|e| e.at.chars().count())
            .max()
            .unwrap_or(0);
        let mut list = |title: String, entries: &[Entry], arrow: bool| {
            if entries.is_empty() {
                return;
            }
            text.push_str(&title);
            for e in entries {
                let line = if arrow {
                    format!("  {:width$}  {} -> {}", e.at, e.value, e.became)
                } else if e.became.is_empty() {
                    format!("  {:width$}  {}", e.at, e.value)
                } else {
                    format!("  {:width$}  {}", e.at, e.became)
                };
                text.push_str(line.trim_end());
                text.push('\n');
            }
        };
        list(
            format!(
                "references ({}): values equal to a prerequisites output, the cluster name or the state store\n",
                self.references.len()
            ),
            &self.references,
            true,
        );
        list(
            format!(
                "left literal ({} strings; numbers and booleans are kept as they are):\n",
                self.literals.len()
            ),
            &self.literals,
            false,
        );
        list(
            format!(
                "left out ({}): values of sensitive outputs\n",
                self.sensitive.len()
            ),
            &self.sensitive,
            false,
        );
        if !self.ambiguous.is_empty() {
            text.push_str(
                "equal to several outputs (the first is used; noted at the top of the template):\n",
            );
            for (value, refs) in &self.ambiguous {
                let _ = writeln!(text, "  {value}: {}", refs.join(", "));
            }
        }
        if !self.dropped.is_empty() {
            let _ = writeln!(
                text,
                "dropped (kops fills them in): {}",
                self.dropped.join(", ")
            );
        }
        text
    }
}

/// A step of a path into a document or an output.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `spec.subnets[0].id`, `metadata.labels."kops.k8s.io/cluster"`.
fn display_path(path: &[Seg]) -> String {
    let mut text = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => {
                let _ = write!(text, "[{i}]");
            }
            Seg::Key(k) => {
                if !text.is_empty() {
                    text.push('.');
                }
                if k.contains('.') || k.is_empty() {
                    let _ = write!(text, "\"{k}\"");
                } else {
                    text.push_str(k);
                }
            }
        }
    }
    text
}

/// A name handlebars reads as a plain path segment.
fn plain_segment(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !["this", "else", "true", "false", "null", "as"].contains(&name)
}

/// The handlebars path of `path` (`private_subnet_ids.[eu-west-1a]`, `azs.[0]`), if it has one.
fn handlebars_path(path: &[Seg]) -> Option<String> {
    let mut text = String::new();
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        match seg {
            Seg::Index(n) => {
                let _ = write!(text, "[{n}]");
            }
            Seg::Key(k) if plain_segment(k) => text.push_str(k),
            Seg::Key(k) if k.is_empty() || k.contains(['[', ']']) => return None,
            Seg::Key(k) => {
                let _ = write!(text, "[{k}]");
            }
        }
    }
    Some(text)
}

fn lookup<'v>(value: &'v Json, path: &[Seg]) -> Option<&'v Json> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(i),
    })
}

/// Every scalar leaf of an output: (path below the output, text, is a string).
fn leaves(value: &Json, path: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, String, bool)>) {
    match value {
        Json::String(s) => out.push((path.clone(), s.clone(), true)),
        Json::Number(n) => out.push((path.clone(), n.to_string(), false)),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                leaves(item, path, out);
                path.pop();
            }
        }
        Json::Object(map) => {
            for (k, item) in map {
                path.push(Seg::Key(k.clone()));
                leaves(item, path, out);
                path.pop();
            }
        }
        Json::Bool(_) | Json::Null => {}
    }
}

/// A reference the template may use for a value.
#[derive(Debug, Clone)]
struct Candidate {
    reference: String,
    sensitive: bool,
}

/// A value of a sensitive output, which must never be written in clear.
#[derive(Debug)]
struct Secret {
    text: String,
    output: String,
}

/// What one string of a document becomes.
enum Replacement {
    /// The whole value is this reference.
    Whole(Candidate),
    /// Literal text and references (the state store prefix, the cluster name inside a value).
    Parts(Vec<Part>),
}

enum Part {
    Text(String),
    Ref(String),
}

struct Walker<'a> {
    input: &'a Input<'a>,
    /// String value -> the references that give it, in output order.
    candidates: HashMap<String, Vec<Candidate>>,
    secrets: Vec<Secret>,
    name_ref: String,
    token_prefix: String,
    /// Placeholder token -> template text.
    tokens: Vec<(String, String)>,
    references: Vec<Entry>,
    literals: Vec<Entry>,
    sensitive: Vec<Entry>,
    ambiguous: IndexMap<String, Vec<String>>,
    warnings: Vec<String>,
}

/// Builds the template from kops's documents.
pub(crate) fn build(input: &Input) -> Result<Imported, String> {
    let clusters: Vec<&Yaml> = input
        .cluster
        .iter()
        .filter(|d| kind(d) == "Cluster")
        .collect();
    match clusters.as_slice() {
        [one] if metadata_name(one) == input.name => {}
        [one] => {
            return Err(format!(
                "kops printed the Cluster `{}`, not `{}`",
                metadata_name(one),
                input.name
            ));
        }
        _ => {
            return Err(format!(
                "kops printed {} Cluster documents for one cluster",
                clusters.len()
            ));
        }
    }
    if let Some(other) = input
        .cluster
        .iter()
        .chain(&input.groups)
        .find(|d| !matches!(kind(d).as_str(), "Cluster" | "InstanceGroup"))
    {
        return Err(format!(
            "kops printed a document of kind `{}`, expected Cluster and InstanceGroup",
            kind(other)
        ));
    }
    let mut walker = Walker::new(input);
    let mut dropped: Vec<String> = Vec::new();
    let mut expected = Vec::new();
    let mut texts = Vec::new();
    let documents: Vec<Yaml> = clusters
        .into_iter()
        .cloned()
        .chain(input.groups.iter().cloned())
        .collect();
    for mut document in documents {
        for leftover in clean(&mut document, &input.config_bases) {
            if !dropped.contains(&leftover) {
                dropped.push(leftover);
            }
        }
        let label = format!("{} {}", kind(&document), metadata_name(&document));
        let Some((kept, templated)) = walker.walk(&label, &mut Vec::new(), &document) else {
            continue;
        };
        let text = serde_yaml::to_string(&templated).map_err(|e| e.to_string())?;
        texts.push(text);
        expected.push(kept);
    }
    let mut template = header(
        input,
        &walker.name_ref,
        &walker.ambiguous,
        &walker.sensitive,
        &dropped,
    );
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            template.push_str("---\n");
        }
        let mut text = escape_mustaches(text);
        for (token, reference) in &walker.tokens {
            text = text.replacen(token.as_str(), reference, 1);
        }
        template.push_str(&text);
    }
    let groups = expected.len().saturating_sub(1);
    let documents = match groups {
        0 => "Cluster, no InstanceGroup".to_string(),
        1 => "Cluster, 1 InstanceGroup".to_string(),
        n => format!("Cluster, {n} InstanceGroups"),
    };
    Ok(Imported {
        template,
        expected,
        references: walker.references,
        literals: walker.literals,
        sensitive: walker.sensitive,
        dropped,
        ambiguous: walker.ambiguous,
        warnings: walker.warnings,
        documents,
    })
}

/// Drops what kops adds to a stored object: `metadata.creationTimestamp`, `generation`, `uid`,
/// `resourceVersion`, `status`, and a Cluster's `spec.configBase` when it is one of
/// `default_config_bases`. Returns what was dropped.
pub(crate) fn clean(document: &mut Yaml, default_config_bases: &[String]) -> Vec<String> {
    let mut dropped = Vec::new();
    let is_cluster = kind(document) == "Cluster";
    let Some(map) = document.as_mapping_mut() else {
        return dropped;
    };
    if map.shift_remove("status").is_some() {
        dropped.push("status".to_string());
    }
    if let Some(metadata) = map.get_mut("metadata").and_then(Yaml::as_mapping_mut) {
        for key in ["creationTimestamp", "generation", "uid", "resourceVersion"] {
            if metadata.shift_remove(key).is_some() {
                dropped.push(format!("metadata.{key}"));
            }
        }
    }
    if is_cluster && let Some(spec) = map.get_mut("spec").and_then(Yaml::as_mapping_mut) {
        let base = spec
            .get("configBase")
            .and_then(Yaml::as_str)
            .map(|b| b.trim_end_matches('/').to_string());
        if let Some(base) = base
            && default_config_bases.contains(&base)
        {
            spec.shift_remove("configBase");
            dropped.push("spec.configBase (kops's default, <state>/<name>)".to_string());
        }
    }
    dropped
}

impl<'a> Walker<'a> {
    fn new(input: &'a Input<'a>) -> Self {
        let mut candidates: HashMap<String, Vec<Candidate>> = HashMap::new();
        let mut secrets = Vec::new();
        for (name, value) in &input.outputs.values {
            let sensitive = input.outputs.sensitive.contains(name);
            let allowed = !sensitive || input.allowed.contains(name);
            let mut found = Vec::new();
            leaves(value, &mut Vec::new(), &mut found);
            for (below, text, is_string) in found {
                if sensitive {
                    secrets.push(Secret {
                        text: text.clone(),
                        output: name.clone(),
                    });
                }
                if !is_string || text.is_empty() || !allowed {
                    continue;
                }
                let mut path = vec![Seg::Key(name.clone())];
                path.extend(below);
                // The top-level name, unless a values file, --set or kopsform's own names hide
                // the output there; then `outputs.`, which holds the outputs alone.
                let mut with_outputs = vec![Seg::Key("outputs".to_string())];
                with_outputs.extend(path.iter().cloned());
                let reference = [path, with_outputs].into_iter().find_map(|p| {
                    (lookup(input.context, &p) == Some(&Json::String(text.clone())))
                        .then(|| handlebars_path(&p))
                        .flatten()
                });
                if let Some(reference) = reference {
                    candidates.entry(text).or_default().push(Candidate {
                        reference,
                        sensitive,
                    });
                }
            }
        }
        let name_ref = candidates
            .get(input.name)
            .and_then(|c| c.first())
            .map_or_else(|| "cluster.name".to_string(), |c| c.reference.clone());
        let all_text = format!("{:?}{:?}", input.cluster, input.groups);
        let token_prefix = (0..)
            .map(|n| format!("kopsformimportref{n}n"))
            .find(|p| !all_text.contains(p.as_str()))
            .unwrap_or_default();
        Walker {
            input,
            candidates,
            secrets,
            name_ref,
            token_prefix,
            tokens: Vec::new(),
            references: Vec::new(),
            literals: Vec::new(),
            sensitive: Vec::new(),
            ambiguous: IndexMap::new(),
            warnings: Vec::new(),
        }
    }

    /// The value as it should render, and the same with placeholder tokens where references go;
    /// `None` when the value is left out (it holds a sensitive output's value).
    fn walk(&mut self, doc: &str, path: &mut Vec<Seg>, value: &Yaml) -> Option<(Yaml, Yaml)> {
        match value {
            Yaml::Mapping(map) => {
                let mut kept = serde_yaml::Mapping::new();
                let mut templated = serde_yaml::Mapping::new();
                for (k, v) in map {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim_end()
                            .to_string(),
                    };
                    // apiVersion and kind say what the document is; they stay as kops wrote them.
                    if path.is_empty() && (key == "apiVersion" || key == "kind") {
                        kept.insert(k.clone(), v.clone());
                        templated.insert(k.clone(), v.clone());
                        continue;
                    }
                    path.push(Seg::Key(key));
                    if let Some((a, b)) = self.walk(doc, path, v) {
                        kept.insert(k.clone(), a);
                        templated.insert(k.clone(), b);
                    }
                    path.pop();
                }
                Some((Yaml::Mapping(kept), Yaml::Mapping(templated)))
            }
            Yaml::Sequence(items) => {
                let mut kept = Vec::new();
                let mut templated = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if let Some((a, b)) = self.walk(doc, path, item) {
                        kept.push(a);
                        templated.push(b);
                    }
                    path.pop();
                }
                Some((Yaml::Sequence(kept), Yaml::Sequence(templated)))
            }
            Yaml::String(s) => self.string(doc, path, s),
            Yaml::Number(n) => {
                let text = n.to_string();
                if let Some(secret) = self
                    .secrets
                    .iter()
                    .find(|x| x.text == text && text.len() >= redact::MIN_SECRET_LEN)
                {
                    let output = secret.output.clone();
                    self.leave_out(doc, path, &output, false);
                    return None;
                }
                Some((value.clone(), value.clone()))
            }
            _ => Some((value.clone(), value.clone())),
        }
    }

    fn string(&mut self, doc: &str, path: &[Seg], s: &str) -> Option<(Yaml, Yaml)> {
        let original = Yaml::String(s.to_string());
        let at = format!("{doc} {}", display_path(path));
        let replacement = match self.candidates.get(s) {
            Some(found) if !s.is_empty() => {
                if found.len() > 1 {
                    // The comment at the top lists the value: never a sensitive one.
                    let shown = if found.iter().any(|c| c.sensitive) {
                        "(the value of a sensitive output)".to_string()
                    } else {
                        brief(s)
                    };
                    self.ambiguous
                        .insert(shown, found.iter().map(|c| c.reference.clone()).collect());
                }
                Some(Replacement::Whole(found[0].clone()))
            }
            _ => None,
        };
        let replacement = match replacement {
            Some(r) => Some(r),
            None => {
                if let Some(secret) = self.secrets.iter().find(|x| {
                    x.text == s
                        || (x.text.chars().count() >= redact::MIN_SECRET_LEN
                            && s.contains(x.text.as_str()))
                }) {
                    let (output, whole) = (secret.output.clone(), secret.text == s);
                    self.leave_out(doc, path, &output, whole);
                    return None;
                }
                self.parts(path, s)
            }
        };
        let Some(replacement) = replacement else {
            self.literals.push(Entry {
                at,
                value: brief(s),
                became: String::new(),
            });
            return Some((original.clone(), original));
        };
        let (text, shown, sensitive) = match &replacement {
            Replacement::Whole(c) => {
                let text = if quote_safe(s) {
                    format!("\"{{{{{}}}}}\"", c.reference)
                } else {
                    format!("{{{{json {}}}}}", c.reference)
                };
                (text, format!("{{{{{}}}}}", c.reference), c.sensitive)
            }
            Replacement::Parts(parts) => {
                let inner: String = parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => t.clone(),
                        Part::Ref(r) => format!("{{{{{r}}}}}"),
                    })
                    .collect();
                (format!("\"{inner}\""), inner, false)
            }
        };
        let token = format!("{}{}x", self.token_prefix, self.tokens.len());
        self.tokens.push((token.clone(), text));
        self.references.push(Entry {
            at,
            value: if sensitive {
                "(sensitive)".to_string()
            } else {
                brief(s)
            },
            became: shown,
        });
        Some((original, Yaml::String(token)))
    }

    /// The state store at the start of `spec.configBase` (`{{cluster.state}}/other`) and the
    /// cluster name inside a value (`api.{{cluster.name}}`), when the rest is plain text.
    ///
    /// The state store only there: an isolated dry run points `cluster.state` at a snapshot and
    /// sets `configBase` back to the live one itself, but a key store or backup store made of
    /// `{{cluster.state}}` would follow the snapshot.
    fn parts(&self, path: &[Seg], s: &str) -> Option<Replacement> {
        let name = self.input.name;
        let in_config_base = path == [Seg::Key("spec".into()), Seg::Key("configBase".into())];
        let state = if in_config_base {
            self.input.state.trim_end_matches('/')
        } else {
            ""
        };
        let mut parts = Vec::new();
        let mut rest = s;
        if s == state && !state.is_empty() {
            return Some(Replacement::Whole(Candidate {
                reference: "cluster.state".to_string(),
                sensitive: false,
            }));
        }
        if s == name {
            return Some(Replacement::Whole(Candidate {
                reference: self.name_ref.clone(),
                sensitive: false,
            }));
        }
        if !state.is_empty()
            && let Some(after) = s.strip_prefix(state)
            && after.starts_with('/')
            && quote_safe(state)
        {
            parts.push(Part::Ref("cluster.state".to_string()));
            rest = after;
        }
        if name.chars().count() >= 4 && quote_safe(name) {
            while let Some(i) = find_word(rest, name) {
                if i > 0 {
                    parts.push(Part::Text(rest[..i].to_string()));
                }
                parts.push(Part::Ref(self.name_ref.clone()));
                rest = &rest[i + name.len()..];
            }
        }
        if parts.is_empty() {
            return None;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        // Text beside a reference must need no escaping: no quotes, backslashes or braces.
        let plain = parts.iter().all(|p| match p {
            Part::Text(t) => quote_safe(t) && !t.contains(['{', '}']),
            Part::Ref(_) => true,
        });
        plain.then_some(Replacement::Parts(parts))
    }

    fn leave_out(&mut self, doc: &str, path: &[Seg], output: &str, whole: bool) {
        let allowed = self.input.allowed.iter().any(|a| a == output);
        let at = format!("{doc} {}", display_path(path));
        let why = if allowed {
            format!("holds the value of the sensitive output `{output}` inside a longer value")
        } else if whole {
            format!(
                "is the value of the sensitive output `{output}`, which [cluster] sensitive does not list"
            )
        } else {
            format!(
                "holds the value of the sensitive output `{output}`, which [cluster] sensitive does not list"
            )
        };
        let advice = if allowed || !whole {
            "add the field to the template by hand, with a reference"
        } else {
            "list it in `sensitive` and import again to get a reference, or add the field by hand"
        };
        self.warnings
            .push(format!("{at} {why}: left out of the template; {advice}"));
        self.sensitive.push(Entry {
            at,
            value: "(sensitive)".to_string(),
            became: format!("(sensitive: {output})"),
        });
    }
}

/// The first occurrence of `word` in `text` that is not part of a longer name (no letter or digit
/// beside it).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word).map(|i| i + from) {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let apart = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if apart(before) && apart(after) {
            return Some(i);
        }
        from = i + word.len();
    }
    None
}

/// A value as the summary shows it: its first line, at most 60 characters.
fn brief(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let short: String = line.chars().take(60).collect();
    if short.len() < s.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// Whether a value can stand between double quotes in YAML as it is (nothing to escape).
fn quote_safe(s: &str) -> bool {
    !s.contains(['"', '\\']) && !s.chars().any(char::is_control)
}

/// `text` with every `{{` made literal for handlebars: `\{{`; where backslashes come right before
/// the braces (which would turn them into a mustache again), the backslashes end at an empty
/// comment first.
fn escape_mustaches(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let before = &rest[..i];
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        out.push_str(&before[..before.len() - backslashes]);
        if backslashes > 0 {
            // `\\{{` is one backslash and a mustache: n + 1 backslashes before `{{!}}` give n.
            out.push_str(&"\\".repeat(backslashes + 1));
            out.push_str("{{!}}");
        }
        out.push_str("\\{{");
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

/// The handlebars comment at the top of the template: where it came from and what to check.
fn header(
    input: &Input,
    name_ref: &str,
    ambiguous: &IndexMap<String, Vec<String>>,
    sensitive: &[Entry],
    dropped: &[String],
) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "  Imported by `kopsform import` from the cluster {} (`kops get cluster` and\n  `kops get instancegroups`). Values equal to a prerequisites output are references to it; the\n  cluster name is {{{{{name_ref}}}}} and the state store {{{{cluster.state}}}}. docs/import.md",
        input.name,
    );
    if !dropped.is_empty() {
        let _ = writeln!(
            body,
            "  Dropped (kops fills them in): {}.",
            dropped.join(", ")
        );
    }
    if !ambiguous.is_empty() {
        body.push_str(
            "  Values equal to several outputs use the first in output order; check each of these:\n",
        );
        for (value, refs) in ambiguous {
            let _ = writeln!(
                body,
                "    {value}: {} (also {})",
                refs[0],
                refs[1..].join(", ")
            );
        }
    }
    if !sensitive.is_empty() {
        body.push_str(
            "  Left out, holding the value of a sensitive output (add them by hand, with a reference):\n",
        );
        for entry in sensitive {
            let _ = writeln!(body, "    {} {}", entry.at, entry.became);
        }
    }
    // Whatever a value holds, the comment ends only where it should.
    format!("{{{{!--\n{}--}}}}\n", body.replace("--}}", "- -}}"))
}

/// Where two lists of documents first differ, for the self-check.
fn first_difference(expected: &[Yaml], got: &[Yaml]) -> Option<String> {
    if expected.len() != got.len() {
        return Some(format!(
            "{} documents instead of {}",
            got.len(),
            expected.len()
        ));
    }
    expected
        .iter()
        .zip(got)
        .find_map(|(a, b)| (a != b).then(|| format!("document {} {}", kind(a), metadata_name(a))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OUTPUTS: &str = r#"{
      "azs": {"sensitive": false, "type": ["list", "string"], "value": ["eu-west-1a", "eu-west-1b"]},
      "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"},
      "master_azs": {"sensitive": false, "type": ["list", "string"], "value": ["eu-west-1a"]},
      "odd": {"sensitive": false, "type": "string", "value": "say \"hi\"\\now"},
      "subnet_ids": {"sensitive": false, "type": ["map", "string"], "value": {"eu-west-1a": "subnet-a", "eu-west-1b": "subnet-b"}},
      "token": {"sensitive": true, "type": "string", "value": "t0ps3cret-value"},
      "vpc_id": {"sensitive": false, "type": "string", "value": "vpc-123"}
    }"#;

    const CLUSTER: &str = r#"apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  creationTimestamp: "2024-01-02T03:04:05Z"
  generation: 3
  name: c.example.com
spec:
  configBase: s3://state/c.example.com
  keyStore: s3://state/keys/c.example.com
  masterPublicName: api.c.example.com
  networkID: vpc-123
  note: "literal {{braces}} and \\{{ escaped }}"
  odd: "say \"hi\"\\now"
  hooks:
  - name: with-token
    manifest: "Environment=TOKEN=t0ps3cret-value"
  subnets:
  - id: subnet-a
    name: eu-west-1a
    zone: eu-west-1a
  - id: subnet-b
    name: eu-west-1b
    zone: eu-west-1b
  token: t0ps3cret-value
status:
  ready: true
"#;

    const GROUP: &str = r#"apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  creationTimestamp: "2024-01-02T03:04:05Z"
  labels:
    kops.k8s.io/cluster: c.example.com
  name: nodes
spec:
  maxSize: 3
  minSize: 1
  role: Node
  subnets:
  - eu-west-1a
"#;

    struct Case {
        outputs: Outputs,
        context: Json,
        allowed: Vec<String>,
    }

    impl Case {
        fn new(allowed: &[&str]) -> Case {
            let outputs = crate::values::outputs::parse(OUTPUTS).unwrap();
            let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
            let mut context = Json::Object(outputs.visible(&allowed));
            context["outputs"] = Json::Object(outputs.visible(&allowed));
            context["cluster"] = json!({"name": "c.example.com", "state": "s3://state"});
            Case {
                outputs,
                context,
                allowed,
            }
        }

        fn import(&self) -> (Imported, String) {
            self.import_with(&["s3://state/c.example.com"])
        }

        fn import_with(&self, config_bases: &[&str]) -> (Imported, String) {
            let input = Input {
                cluster: parse_documents(CLUSTER).unwrap(),
                groups: parse_documents(GROUP).unwrap(),
                name: "c.example.com",
                state: "s3://state",
                config_bases: config_bases.iter().map(|b| b.to_string()).collect(),
                outputs: &self.outputs,
                allowed: &self.allowed,
                context: &self.context,
            };
            let imported = build(&input).unwrap();
            let rendered = Renderer::new()
                .render("t.yml", &imported.template, &self.context)
                .unwrap_or_else(|e| panic!("{e}\n{}", imported.template));
            (imported, rendered)
        }
    }

    #[test]
    fn the_template_renders_back_to_what_kops_printed() {
        let (imported, rendered) = Case::new(&[]).import();
        let again = parse_documents(&rendered).unwrap();
        assert_eq!(first_difference(&imported.expected, &again), None);
        let template = &imported.template;
        for want in [
            "  name: \"{{cluster_name}}\"\n",
            "  networkID: \"{{vpc_id}}\"\n",
            "  - id: \"{{subnet_ids.[eu-west-1a]}}\"\n",
            "    name: \"{{azs.[0]}}\"\n",
            "  masterPublicName: \"api.{{cluster_name}}\"\n",
            // The state store only in configBase (a dry run's snapshot must not move the keys).
            "  keyStore: \"s3://state/keys/{{cluster_name}}\"\n",
            "  odd: {{json odd}}\n",
            "    kops.k8s.io/cluster: \"{{cluster_name}}\"\n",
            "  - \"{{azs.[0]}}\"\n",
        ] {
            assert!(template.contains(want), "{want:?} not in\n{template}");
        }
        // The leftovers are gone from the template and from what it must render to.
        for gone in [
            "creationTimestamp",
            "generation",
            "configBase",
            "status",
            "ready",
        ] {
            assert!(!rendered.contains(gone), "{gone} in\n{rendered}");
        }
        assert!(
            rendered.contains("note: literal {{braces}} and \\{{ escaped }}\n"),
            "{rendered}"
        );
        // Equal to two outputs: the first in output order, and the comment says so.
        assert!(
            template.contains("    eu-west-1a: azs.[0] (also master_azs.[0])\n"),
            "{template}"
        );
        assert_eq!(imported.documents, "Cluster, 1 InstanceGroup");
        assert!(
            imported
                .dropped
                .contains(&"metadata.generation".to_string())
        );
    }

    #[test]
    fn sensitive_values_are_left_out_unless_listed() {
        let (imported, rendered) = Case::new(&[]).import();
        assert!(
            !imported.template.contains("t0ps3cret"),
            "{}",
            imported.template
        );
        assert!(!rendered.contains("t0ps3cret"));
        assert!(!rendered.contains("token:"), "{rendered}");
        assert!(!rendered.contains("manifest:"), "{rendered}");
        let at: Vec<&str> = imported.sensitive.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(
            at,
            [
                "Cluster c.example.com spec.hooks[0].manifest",
                "Cluster c.example.com spec.token"
            ]
        );
        assert!(
            imported.warnings[1].contains("[cluster] sensitive does not list"),
            "{:?}",
            imported.warnings
        );

        // Listed: the whole value becomes a reference; the value inside a longer one stays out.
        let (imported, rendered) = Case::new(&["token"]).import();
        assert!(
            imported.template.contains("  token: \"{{token}}\"\n"),
            "{}",
            imported.template
        );
        assert!(!imported.template.contains("t0ps3cret"));
        assert!(
            rendered.contains("token: \"t0ps3cret-value\""),
            "{rendered}"
        );
        assert_eq!(imported.sensitive.len(), 1);
        let summary = imported.summary("c.example.com", "s3://state", "t.yml");
        assert!(summary.contains("(sensitive) -> {{token}}"), "{summary}");
        assert!(!summary.contains("t0ps3cret"), "{summary}");
    }

    #[test]
    fn an_output_hidden_by_a_value_is_reached_through_outputs() {
        let mut case = Case::new(&[]);
        case.context["vpc_id"] = json!("vpc-from-values-file");
        let (imported, _) = case.import();
        assert!(
            imported
                .template
                .contains("  networkID: \"{{outputs.vpc_id}}\"\n"),
            "{}",
            imported.template
        );
    }

    #[test]
    fn a_config_base_of_its_own_is_kept_and_made_of_the_state_store() {
        let case = Case::new(&[]);
        let (imported, _) = case.import_with(&[]);
        assert!(
            imported
                .template
                .contains("  configBase: \"{{cluster.state}}/{{cluster_name}}\"\n"),
            "{}",
            imported.template
        );
    }

    #[test]
    fn only_the_default_config_base_is_dropped() {
        let mut doc = parse_documents(CLUSTER).unwrap().remove(0);
        let dropped = clean(&mut doc, &["s3://other/c.example.com".to_string()]);
        assert!(doc["spec"]["configBase"].is_string());
        assert!(!dropped.iter().any(|d| d.contains("configBase")));
        assert!(doc.get("status").is_none());
        // Order is kept (kops's sorted keys stay sorted).
        let keys: Vec<&str> = doc["spec"]
            .as_mapping()
            .unwrap()
            .keys()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(keys[..2], ["configBase", "keyStore"]);
    }

    #[test]
    fn literal_braces_and_backslashes_survive_rendering() {
        let renderer = Renderer::new();
        for text in [
            "{{x}}",
            "a {{{x}}} b {{",
            "\\{{x}}",
            "\\\\{{x}}",
            "ends with \\",
            "}} {{{{raw}}}}",
            "{{!-- c --}}",
        ] {
            let rendered = renderer
                .render("t", &escape_mustaches(text), &json!({}))
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(rendered, text);
        }
    }

    #[test]
    fn paths_read_as_handlebars_paths() {
        let key = |k: &str| Seg::Key(k.to_string());
        assert_eq!(handlebars_path(&[key("vpc_id")]).unwrap(), "vpc_id");
        assert_eq!(
            handlebars_path(&[key("ids"), key("eu-west-1a")]).unwrap(),
            "ids.[eu-west-1a]"
        );
        assert_eq!(
            handlebars_path(&[key("odd-name"), Seg::Index(2)]).unwrap(),
            "[odd-name].[2]"
        );
        assert_eq!(handlebars_path(&[key("a"), key("x]")]), None);
        assert_eq!(
            display_path(&[key("metadata"), key("labels"), key("kops.k8s.io/cluster")]),
            "metadata.labels.\"kops.k8s.io/cluster\""
        );
        assert_eq!(find_word("api.c.example.com", "c.example.com"), Some(4));
        assert_eq!(find_word("abc.example.com", "c.example.com"), None);
        assert_eq!(brief("line one\nline two"), "line one...");
        assert_eq!(brief(&"x".repeat(70)), format!("{}...", "x".repeat(60)));
    }
}

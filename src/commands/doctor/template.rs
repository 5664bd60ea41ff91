//! doctor's template check: the cluster's template renders with its values and the result passes
//! the manifest check, as the task that renders it would do. A template that does not render, or
//! renders what kops would refuse, blocks: `ready` would be a promise the first task breaks.
//! Nothing is written.

use crate::project::cluster::ClusterDef;
use crate::project::task::RenderStep;
use crate::render::go_template::GoRenderer;

use super::report::{Check, Status};
use super::session::Doctor;

impl Doctor<'_> {
    /// `None` when the cluster has no template (the kubernetes-version line says so).
    pub(super) fn template_check(&mut self, def: &ClusterDef) -> Option<Check> {
        let name = self.check_name("template", def);
        let check = |status, detail| Check {
            name: name.clone(),
            status,
            detail,
        };
        let (template_rel, step) = self.template_of(def);
        // The step's templates (all of them, folders read), or the default template alone.
        let files = match &step {
            Some(step) => {
                match crate::render::step::template_files(
                    &self.project.dir,
                    step,
                    &self.project.file,
                ) {
                    Ok(files) => files,
                    // The task reports a template it cannot read; doctor has nothing to render.
                    Err(e) if e.message.contains("cannot read the template") => return None,
                    Err(e) => return Some(check(Status::Fail, e.message)),
                }
            }
            None => {
                let bytes = std::fs::read(self.project.path(&template_rel)).ok()?;
                match crate::text::decode_utf8(&template_rel, bytes, "the template") {
                    Ok(source) => vec![crate::render::step::TemplateFile {
                        path: template_rel.clone(),
                        source,
                    }],
                    Err(e) => return Some(check(Status::Fail, e.message)),
                }
            }
        };
        let template_rel = step.as_ref().map_or(template_rel, RenderStep::shown);
        let values = match self.values(def) {
            Ok(values) => values,
            Err(e) => {
                // The values' own error says what to do (apply the prerequisites, fix a values
                // file); the template itself is judged once they can be read.
                let first = e.message.lines().next().unwrap_or_default().to_string();
                return Some(check(
                    Status::Note,
                    format!(
                        "template {template_rel}: not rendered, the values cannot be read: {first}"
                    ),
                ));
            }
        };
        // The step's own `set` and `set-string`, as the task renders with them.
        let values = match &step {
            Some(r) => match values.for_render(
                &format!("the `render` step of {template_rel}"),
                &r.set,
                &r.set_string,
            ) {
                Ok(values) => values,
                Err(e) => return Some(check(Status::Fail, e.message)),
            },
            None => values,
        };
        // Task parameters (`{{params.NAME}}`) render with their defaults; a template that uses
        // one without a default is rendered by its task only, with `--param`.
        let defaults: serde_json::Map<String, serde_json::Value> = self
            .project
            .config
            .tasks
            .values()
            .flat_map(|t| &t.params)
            .filter_map(|(name, p)| {
                p.default
                    .clone()
                    .map(|d| (name.clone(), serde_json::Value::String(d)))
            })
            .collect();
        let declares_params = self
            .project
            .config
            .tasks
            .values()
            .any(|t| !t.params.is_empty());
        let values = if declares_params {
            let mut with = crate::values::context::Values::clone(&values);
            if let serde_json::Value::Object(context) = &mut with.context {
                context.insert("params".into(), serde_json::Value::Object(defaults));
            }
            std::sync::Arc::new(with)
        } else {
            values
        };
        let describe = |c: &crate::render::template::Culprit| {
            let mut from: Vec<String> = c.paths.iter().map(|p| values.source_of(p)).collect();
            from.dedup();
            format!("the value from {} is not shown", from.join(", "))
        };
        // The engine and snippets of the step that renders it, as the task would.
        let go = step
            .as_ref()
            .map(|r| GoRenderer::for_step(&self.project.dir, r))
            .transpose()
            .map(Option::flatten);
        let rendered = go.and_then(|go| {
            let engines = crate::render::step::Engines {
                go: go.as_ref(),
                handlebars: &self.renderer,
                yaml: true,
                describe: &describe,
            };
            let format_yaml = step.as_ref().is_some_and(|r| r.format_yaml);
            crate::render::step::render_files(&files, &engines, &values.context, format_yaml)
        });
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(e) if declares_params && e.message.contains("params.") => {
                return Some(check(
                    Status::Note,
                    format!(
                        "template {template_rel}: not rendered, it uses a task parameter without a default (given with --param when its task runs): {}",
                        e.message.lines().next().unwrap_or_default()
                    ),
                ));
            }
            Err(e) => {
                return Some(check(
                    Status::Fail,
                    format!("template does not render: {}", e.message),
                ));
            }
        };
        let cluster = match values.require_cluster(self.project) {
            Ok(cluster) => cluster,
            Err(e) => return Some(check(Status::Fail, e.message)),
        };
        Some(
            match crate::render::manifest::check(&rendered, &cluster.name) {
                Ok(documents) => {
                    let names: Vec<String> = documents
                        .iter()
                        .map(|d| format!("{} {}", d.kind, d.name))
                        .collect();
                    check(
                        Status::Ok,
                        format!("template {template_rel} renders: {}", names.join(", ")),
                    )
                }
                Err(e) => {
                    let sep = if e.starts_with(|c: char| c.is_ascii_digit()) {
                        ":"
                    } else {
                        ": "
                    };
                    check(
                        Status::Fail,
                        format!(
                            "template renders what kops would refuse: {template_rel} (rendered){sep}{e}"
                        ),
                    )
                }
            },
        )
    }
}

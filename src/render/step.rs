//! A `render` step's text: its templates (files, or folders read whole) rendered one by one and
//! joined, as `kops toolbox template --template A --template DIR` does, then formatted when the
//! step asks for kops's `--format-yaml`. The task and doctor both render through here, so what
//! doctor checks is what the task writes.
//!
//! kops 1.36.2, cmd/kops/toolbox_template.go `RunToolBoxTemplate` and `expandFiles`, restated:
//! * every `--template` is a file or a folder; a folder stands for every file below it in the
//!   order of Go's `filepath.Walk` (names sorted bytewise, a sub-folder's files where its name
//!   sorts);
//! * each file is rendered on its own, with the same values and snippets; an empty result is
//!   left out;
//! * each result is cut at every `---` + newline and all the pieces are joined again with
//!   `---` + newline. For the text this is the results joined with `---` + newline: a template
//!   that does not end with a newline has the separator glued to its last line, as in kops;
//! * with `--format-yaml`, every piece is rewritten instead ([`super::kops_yaml`]).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::go_template::GoRenderer;
use super::template::{Culprit, Renderer};
use crate::error::UserError;
use crate::project::task::RenderStep;

/// Most template files one step may read.
const MAX_TEMPLATES: usize = 1000;

/// A template file of a step: the path shown in messages (project-relative) and its text.
pub(crate) struct TemplateFile {
    pub(crate) path: String,
    pub(crate) source: String,
}

/// The files `entries` stand for: a file itself, a folder every file below it in
/// `filepath.Walk`'s order. A path is relative to `project_dir` and may leave it (`../shared/`: a
/// template several projects share, as the sandbox's); reading a template gives the author of
/// tasks.toml nothing their steps could not do. `what` names the step key in messages
/// (`render`), `file` the `tasks.toml`.
pub(crate) fn expand(
    project_dir: &Path,
    entries: &[String],
    what: &str,
    file: &Path,
) -> Result<Vec<(PathBuf, String)>, UserError> {
    let file = file.display();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for entry in entries {
        let path = project_dir.join(entry);
        let found = files.len();
        let shown = entry.trim_end_matches('/').to_string();
        crate::paths::walk(path, shown, MAX_TEMPLATES, &mut files).map_err(|e| match e {
            crate::paths::WalkError::Read(path, _, e) => UserError::new(format!(
                "{}: cannot read the template: {e}; fix the `{what}` path in {file}",
                path.display()
            )),
            crate::paths::WalkError::List(shown, e) => UserError::new(format!(
                "{shown}: cannot list the folder: {e}; fix the `{what}` path in {file}"
            )),
            crate::paths::WalkError::TooMany => UserError::new(format!(
                "{entry}: more than {MAX_TEMPLATES} files (a step reads at most {MAX_TEMPLATES}); fix the `{what}` path in {file}"
            )),
        })?;
        if files.len() == found {
            return Err(UserError::new(format!(
                "{entry}: the folder holds no file (kops would render nothing from it); fix the `{what}` path in {file}"
            )));
        }
    }
    Ok(files)
}

/// The template files of a step, read.
pub(crate) fn template_files(
    project_dir: &Path,
    step: &RenderStep,
    file: &Path,
) -> Result<Vec<TemplateFile>, UserError> {
    let mut out = Vec::new();
    for (path, shown) in expand(project_dir, &step.templates, "render", file)? {
        let bytes = std::fs::read(&path).map_err(|e| {
            UserError::new(format!(
                "{}: cannot read the template: {e}; fix the `render` path in {}",
                path.display(),
                file.display()
            ))
        })?;
        let source = crate::text::decode_utf8(&shown, bytes, "the template")?;
        out.push(TemplateFile {
            path: shown,
            source,
        });
    }
    Ok(out)
}

/// How to render one template of the step.
pub(crate) struct Engines<'a> {
    pub(crate) go: Option<&'a GoRenderer>,
    pub(crate) handlebars: &'a Renderer,
    /// Check each template's YAML structure (a YAML output).
    pub(crate) yaml: bool,
    pub(crate) describe: &'a dyn Fn(&Culprit) -> String,
}

/// Renders `files` with `context` and joins them as kops does; `format_yaml`: kops's
/// `--format-yaml`.
pub(crate) fn render_files(
    files: &[TemplateFile],
    engines: &Engines<'_>,
    context: &Value,
    format_yaml: bool,
) -> Result<String, UserError> {
    let mut documents: Vec<String> = Vec::new();
    for file in files {
        let (name, source) = (file.path.as_str(), file.source.as_str());
        let rendered = match (engines.go, engines.yaml) {
            (Some(go), true) => go.render_yaml(name, source, context, engines.describe)?,
            (Some(go), false) => go.render(name, source, context)?,
            (None, true) => {
                engines
                    .handlebars
                    .render_yaml(name, source, context, engines.describe)?
            }
            (None, false) => engines.handlebars.render(name, source, context)?,
        };
        if rendered.is_empty() {
            continue;
        }
        if !format_yaml {
            documents.push(rendered);
            continue;
        }
        for piece in rendered.split("---\n") {
            let formatted = super::kops_yaml::format_document(piece)
                .map_err(|e| UserError::new(format!("{name} (rendered), format-yaml: {e}")))?;
            documents.extend(formatted);
        }
    }
    Ok(documents.join("---\n"))
}

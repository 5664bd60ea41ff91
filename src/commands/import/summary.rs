//! What `kopsform import` prints once the template is made: the references, literals and left-out
//! values, what was dropped, and the task that renders the template next. In: `Imported`. Out: text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::project::task::{ManifestCheck, Step};
use crate::render::template::Renderer;

use super::references::Entry;
use super::template::Imported;

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

/// The task that renders the template, for the summary's last line.
pub(super) fn next_step(
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
            let reads_out = render.templates.iter().any(|template| {
                renderer
                    .render_inline(&format!("task `{name}`"), template, context)
                    .is_ok_and(|template| same_file(&project.path(&template), out))
            });
            if reads_out {
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

//! Which programs the tasks run (and kopsform's own reads need), and one check per program: found
//! on PATH, and for the tools kopsform knows, a version in the supported range.
//! In: the project's tasks and `[tools]`. Out: the tools' checks.

use std::path::Path;

use indexmap::IndexMap;

use crate::project::Project;
use crate::project::task::{Builtin, Step};
use crate::tools::process::locate;

use super::report::{Check, Status};
use super::session::Doctor;
use super::versions::{Kind, Probe, judge_version};

/// A program the tasks run.
#[derive(Debug, Clone)]
pub(super) struct Needed {
    /// The word the tasks use (`kops`), which names the check.
    pub(super) word: String,
    pub(super) kind: Kind,
    /// The tasks that run it (or why kopsform itself needs it).
    pub(super) by: Vec<String>,
}

impl Doctor<'_> {
    /// Every program the tasks run, by resolved program, in the order the tasks first name them;
    /// plus terraform when values are read (renders, templated cluster fields) and the aws CLI
    /// when a state store is in S3 (kopsform's lock and this check list it with the aws CLI).
    pub(super) fn needed_tools(&self, checks: &mut Vec<Check>) -> IndexMap<String, Needed> {
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
                    | Step::Builtin(Builtin::CheckProtected { .. })
                    | Step::Builtin(Builtin::PlannedOutputs { .. }) => {
                        add("terraform", &format!("task {name}"));
                    }
                    Step::Builtin(Builtin::SnapshotState { .. }) => reads_values = true,
                    Step::Builtin(Builtin::PruneInstanceGroups { .. }) => {
                        add("kops", &format!("task {name}"));
                        reads_values = true;
                    }
                    Step::Builtin(_) => {}
                }
            }
        }
        // A pin is checked even where no task names the tool: it says what the project runs.
        for pinnable in crate::project::pins::PINNABLE {
            if project
                .config
                .tools
                .get(pinnable.name)
                .is_some_and(|t| t.pin.is_some())
            {
                add(pinnable.name, "the pin in [tools]");
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
            &crate::values::context::project_fields(self.project, def),
        )
    }

    pub(super) fn tool_check(&mut self, program: &str, needed: &Needed) -> Check {
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
        let raw = program;
        let program = crate::tools::process::shown_program(raw);
        let Some(found) = locate(raw) else {
            let configured = match self.project.config.tools.get(&needed.word) {
                Some(bin) => format!(" ([tools] {} = {bin})", needed.word),
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
        match self.version(raw, needed.kind, None) {
            Probe::Version(version, numbers) => {
                let (status, detail) = judge_version(needed.kind, &version, numbers);
                match self.pin_of(&needed.word) {
                    Some((tool, pin)) if pin.version != version => check(
                        Status::Fail,
                        format!(
                            "[tools] {tool} pins version {}, but {} is {shown} {version}; install {tool} {} (or change the pin)",
                            pin.version,
                            found.display(),
                            pin.version
                        ),
                    ),
                    Some((_, pin)) => check(status, format!("{detail}, pinned {}", pin.version)),
                    None => check(status, detail),
                }
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
}

impl Doctor<'_> {
    /// The pin of the tool a step word runs (`terraform`, `kops`, `aws`), if `[tools]` has one.
    fn pin_of(&self, word: &str) -> Option<(&'static str, &crate::project::schema::ToolPin)> {
        crate::project::pins::PINNABLE.iter().find_map(|p| {
            let pin = self.project.config.tools.get(p.name)?.pin.as_ref()?;
            self.project.is_tool(word, p.name).then_some((p.name, pin))
        })
    }
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

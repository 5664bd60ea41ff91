//! `tasks.toml` -> [`Project`]: the file found and read, parsed into the schema ([`schema`],
//! [`task`], [`cluster`]), every cross-table rule checked (task dependencies and cycles in
//! [`order`], retry settings, protect rules, cluster folders and stages), and the defaults filled
//! in. Everything after loading reads a checked `Project`, never raw TOML.

pub(crate) mod cluster;
pub(crate) mod invocation;
pub(crate) mod order;
pub(crate) mod pins;
pub(crate) mod policy;
pub(crate) mod provider;
pub(crate) mod schema;
pub(crate) mod task;
pub(crate) mod tool_versions;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cluster::{ClusterConfig, ClusterDef, Selection, Stage};
use schema::{Config, parse};
use task::Task;

use crate::error::UserError;
use crate::tools::retry::Policy;

/// A loaded `tasks.toml` and where it lives.
#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) dir: PathBuf,
    pub(crate) file: PathBuf,
    pub(crate) config: Config,
    /// `[cluster]` or `[clusters.*]`, with defaults filled in.
    pub(crate) clusters: Vec<ClusterDef>,
    /// The retry policies, made on first use and shared by every step after (their regular
    /// expressions compiled once per run).
    pub(crate) retry: OnceLock<RetryPolicies>,
}

/// The retry policy of `[retry]`, and of each task with a `retry` table of its own.
#[derive(Debug)]
pub(crate) struct RetryPolicies {
    project: Policy,
    tasks: std::collections::HashMap<String, Policy>,
}

impl RetryPolicies {
    /// The policies of `config`; a setting refused when the project was loaded cannot be here,
    /// the defaults stand in for one all the same.
    fn of(config: &Config) -> RetryPolicies {
        let policy = |task: Option<&Task>| {
            Policy::new(&config.retry, task.and_then(|t| t.retry.as_ref()))
                .unwrap_or_else(|_| Policy::defaults())
        };
        RetryPolicies {
            project: policy(None),
            tasks: config
                .tasks
                .iter()
                .filter(|(_, t)| t.retry.is_some())
                .map(|(name, t)| (name.clone(), policy(Some(t))))
                .collect(),
        }
    }
}

pub(crate) const TASKS_FILE: &str = "tasks.toml";

impl Project {
    /// Finds the project: `dir` when given (`-C`), else the nearest ancestor of `start` holding a
    /// `tasks.toml`.
    pub(crate) fn locate(dir: Option<&Path>, start: &Path) -> Result<PathBuf, UserError> {
        if let Some(dir) = dir {
            let dir = if dir.is_absolute() {
                dir.to_path_buf()
            } else {
                start.join(dir)
            };
            if !dir.join(TASKS_FILE).is_file() {
                return Err(UserError::new(format!(
                    "{}: no {TASKS_FILE} in this folder; -C must name a kopsform project",
                    dir.display()
                )));
            }
            return Ok(dir);
        }
        let mut here = Some(start);
        while let Some(d) = here {
            if d.join(TASKS_FILE).is_file() {
                return Ok(d.to_path_buf());
            }
            here = d.parent();
        }
        Err(UserError::new(format!(
            "no {TASKS_FILE} in {} or any folder above it; run kopsform inside a project or pass -C DIR",
            start.display()
        )))
    }

    pub(crate) fn load(dir: PathBuf) -> Result<Project, UserError> {
        let file = dir.join(TASKS_FILE);
        let bytes = std::fs::read(&file)
            .map_err(|e| UserError::new(format!("{}: cannot read: {e}", file.display())))?;
        let text = crate::text::decode_utf8(&file.display().to_string(), bytes, "the file")?;
        Project::from_text(dir, file, &text)
    }

    /// The project of `tasks.toml` text read from `file` in `dir`: parsed and checked as [`load`]
    /// does, without touching the filesystem.
    ///
    /// [`load`]: Project::load
    pub(crate) fn from_text(dir: PathBuf, file: PathBuf, text: &str) -> Result<Project, UserError> {
        let config = parse(text).map_err(|e| UserError::new(format!("{}:{e}", file.display())))?;
        let clusters = cluster_defs(&config)
            .and_then(|c| check_tasks(&config).map(|()| c))
            .map_err(|e| UserError::new(format!("{}: {e}", file.display())))?;
        let project = Project {
            dir,
            file,
            config,
            clusters,
            retry: OnceLock::new(),
        };
        order::check(project.task_graph())?;
        schema::check_protect_rules(&project.config.review.protect)
            .and_then(|()| policy::check_rules(&project.config.review.policy))
            .map_err(|e| UserError::new(format!("{}: {e}", project.file.display())))?;
        Ok(project)
    }

    /// The tasks and the file, as ordering needs them.
    pub(crate) fn task_graph(&self) -> order::TaskGraph<'_> {
        order::TaskGraph {
            tasks: &self.config.tasks,
            file: &self.file,
        }
    }

    /// The selected clusters, in `tasks.toml` order.
    pub(crate) fn select_clusters(
        &self,
        selection: &Selection,
    ) -> Result<Vec<ClusterDef>, UserError> {
        cluster::select(&self.clusters, &self.file, selection)
    }

    /// A path from `tasks.toml`, relative to the project folder.
    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The binary for a tool name: the `[tools]` entry, or the name itself. A value with a `/` is a
    /// path relative to the project.
    pub(crate) fn tool(&self, name: &str) -> Option<String> {
        self.config.tools.get(name).map(|entry| {
            // A command with arguments is one program string for the spawner
            // (tools::process::split_program); only its first word is a path.
            let mut words = entry.words(name);
            words[0] = self.program_path(&words[0]);
            crate::tools::process::join_program(&words)
        })
    }

    /// A program as tasks.toml names it: a relative path (`./scripts/lint.sh`, `bin/kops`) is
    /// relative to the project folder, wherever kopsform runs from; a bare name is looked up on
    /// PATH.
    fn program_path(&self, bin: &str) -> String {
        if bin.contains('/') && !Path::new(bin).is_absolute() {
            self.dir.join(bin).to_string_lossy().into_owned()
        } else {
            bin.to_string()
        }
    }

    /// The retry policy of the task named `task` (the project's `[retry]` alone for kopsform's
    /// own reads). Checked when the project was loaded, made once.
    pub(crate) fn retry_policy(&self, task: Option<&str>) -> &Policy {
        let policies = self.retry.get_or_init(|| RetryPolicies::of(&self.config));
        task.and_then(|t| policies.tasks.get(t))
            .unwrap_or(&policies.project)
    }

    /// The program a step's first word runs: its `[tools]` entry, else the word itself, a relative
    /// path taken from the project folder in both cases.
    pub(crate) fn tool_or_default(&self, name: &str) -> String {
        self.tool(name).unwrap_or_else(|| self.program_path(name))
    }

    /// The version of the tool `name` the cluster `def` runs (its own `tools`, its stage's
    /// `[stage-tools]`, `[tools]`), if anything pins it (`tool_versions::wanted`).
    pub(crate) fn wanted_version(
        &self,
        name: &str,
        def: Option<&ClusterDef>,
    ) -> Option<tool_versions::Wanted> {
        tool_versions::wanted(&self.config, name, def)
    }

    /// The binary the cluster `def` runs for the tool `name` (`tool_versions::binary`).
    pub(crate) fn tool_binary(
        &self,
        name: &str,
        def: Option<&ClusterDef>,
    ) -> tool_versions::ToolBinary {
        let wanted = self.wanted_version(name, def);
        tool_versions::binary(self.tool_or_default(name), name, wanted.as_ref())
    }

    /// The program a step's first word `argv0` runs for the cluster `def`: the binary of the
    /// version the cluster wants when the word runs a pinnable tool, else as
    /// [`Project::tool_or_default`] finds it.
    pub(crate) fn program_for(&self, argv0: &str, def: Option<&ClusterDef>) -> String {
        for tool in pins::PINNABLE {
            if self.wanted_version(tool.name, def).is_none() {
                continue;
            }
            if argv0 == tool.name || self.tool_or_default(argv0) == self.tool_or_default(tool.name)
            {
                return self.tool_binary(tool.name, def).program;
            }
        }
        self.tool_or_default(argv0)
    }

    /// What is wrong with the tool `name` the cluster `def` runs (asked with `env`): `None` when
    /// it reports the version pinned for the cluster, or nothing pins it.
    pub(crate) fn tool_mismatch(
        &self,
        name: &str,
        def: Option<&ClusterDef>,
        env: &[(String, String)],
    ) -> Option<String> {
        let wanted = self.wanted_version(name, def)?;
        let binary = tool_versions::binary(self.tool_or_default(name), name, Some(&wanted));
        tool_versions::mismatch(&self.config, name, def, &wanted, &binary, &self.dir, env)
    }

    /// Refuses when a tool among `names` that the cluster `def` pins (its own `tools`, its
    /// stage's, or `[tools]`) is not its pinned version (asked with `env`, the cluster's own
    /// environment, as the steps run it).
    pub(crate) fn check_pins(
        &self,
        names: &[&str],
        def: Option<&ClusterDef>,
        env: &[(String, String)],
        what: &str,
    ) -> Result<(), UserError> {
        let problems: Vec<String> = names
            .iter()
            .filter_map(|name| self.tool_mismatch(name, def, env))
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(UserError::new(format!("{}; {what}", problems.join("\n"))))
    }

    /// Appends `args` (from `kopsform TASK -- ARGS`) to the pass-through step of the one task of
    /// `requested`, refusing what [`invocation::pass_through_target`] refuses (exit 64).
    pub(crate) fn pass_through(
        &mut self,
        requested: &[String],
        args: Vec<String>,
    ) -> Result<(), UserError> {
        let target = invocation::pass_through_target(
            &self.config.tasks,
            &self.file,
            &|word| self.tool_kind(word),
            &self.config.secret_env,
            requested,
            &args,
        )?;
        if let Some((name, step)) = target
            && let Some(task) = self.config.tasks.get_mut(&name)
        {
            invocation::append(task, &name, step, args);
        }
        Ok(())
    }

    /// The parameters of a run of `tasks` (dependencies included) from `--param`'s `given`
    /// ([`invocation::resolve_params`]).
    pub(crate) fn params(
        &self,
        tasks: &[String],
        given: &indexmap::IndexMap<String, String>,
    ) -> Result<indexmap::IndexMap<String, String>, UserError> {
        invocation::resolve_params(&self.config.tasks, tasks, given)
    }

    /// Whether anything pins a tool version: `[tools]`, `[stage-tools]` or a cluster's `tools`.
    pub(crate) fn pins_any(&self) -> bool {
        self.config.tools.values().any(|t| t.pin.is_some())
            || !self.config.stage_tools.is_empty()
            || self.clusters.iter().any(|c| !c.config.tools.is_empty())
    }

    /// Which of the tools kopsform knows a step's first word runs (`Other` for the rest).
    pub(crate) fn tool_kind(&self, argv0: &str) -> crate::tools::retry::Tool {
        use crate::tools::retry::Tool;
        [
            ("terraform", Tool::Terraform),
            ("kops", Tool::Kops),
            ("aws", Tool::Aws),
        ]
        .into_iter()
        .find_map(|(name, kind)| self.is_tool(argv0, name).then_some(kind))
        .unwrap_or(Tool::Other)
    }

    /// Whether a step's first word runs the tool `name` (by name, or as its `[tools]` binary).
    pub(crate) fn is_tool(&self, argv0: &str, name: &str) -> bool {
        if argv0 == name {
            return true;
        }
        // Two words that are no `[tools]` key and no path each run themselves: without building
        // their programs (every step asks this of three tools; issue 19).
        let itself = |w: &str| !w.contains('/') && !self.config.tools.contains_key(w);
        if itself(argv0) && itself(name) {
            return name == "terraform" && argv0 == "tofu";
        }
        if self.tool_or_default(argv0) == self.tool_or_default(name) {
            return true;
        }
        // OpenTofu is Terraform to kopsform, whatever the step calls it (`tofu`, `/opt/bin/tofu`).
        name == "terraform"
            && Path::new(&self.tool_or_default(argv0))
                .file_name()
                .is_some_and(|n| n == "tofu")
    }
}

/// Checks what one task's keys say together.
fn check_tasks(config: &Config) -> Result<(), String> {
    for (name, command) in &config.tools {
        let words = command.words(name);
        if words.first().is_none_or(|w| w.is_empty()) || words.iter().any(|w| w.contains('\0')) {
            return Err(format!(
                "[tools] {name} = {command}: name a program, e.g. {name} = \"{name}\", or a command with its arguments, e.g. terraform = [\"leverage\", \"tf\"]"
            ));
        }
    }
    pins::check(config)?;
    tool_versions::check(config)?;
    crate::tools::retry::Policy::new(&config.retry, None).map_err(|e| format!("[retry] {e}"))?;
    // A task without its own `retry` table has the project's policy, checked just above.
    for (name, task) in config.tasks.iter().filter(|(_, t)| t.retry.is_some()) {
        crate::tools::retry::Policy::new(&config.retry, task.retry.as_ref())
            .map_err(|e| format!("task `{name}`: retry: {e}"))?;
    }
    for pattern in &config.secret_env {
        if let Err(e) = glob::Pattern::new(pattern) {
            return Err(format!(
                "secret-env: `{pattern}` is not a variable name or glob ({e}); use names such as DB_PASSWORD or globs such as *_TOKEN"
            ));
        }
    }
    for (name, task) in &config.tasks {
        invocation::check_task(name, task)?;
        for target in task.steps.iter().flat_map(task::Step::targets) {
            crate::paths::check_static(&target).map_err(|e| format!("task `{name}`: {e}"))?;
        }
        if !task.generates.is_empty() && task.sources.is_empty() {
            return Err(format!(
                "task `{name}` has `generates` but no `sources`; the up-to-date check needs both: add `sources`, the files the task reads"
            ));
        }
    }
    Ok(())
}

/// The project's clusters in file order, checked: ids are names, stages are all names or all
/// numbers (names listed in `stages` when it is given), and no two clusters share a folder.
pub(crate) fn cluster_defs(config: &Config) -> Result<Vec<ClusterDef>, String> {
    if config.cluster.is_some() && !config.clusters.is_empty() {
        return Err(
            "both [cluster] and [clusters.*]: use [clusters.<id>] tables for several clusters, [cluster] for one"
                .into(),
        );
    }
    let listed: Vec<(String, &ClusterConfig)> = match &config.cluster {
        Some(c) => vec![("default".to_string(), c)],
        None => config
            .clusters
            .iter()
            .map(|(id, c)| (id.clone(), c))
            .collect(),
    };
    for (id, _) in &listed {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "[clusters.{id}]: a cluster id uses letters, digits, `-` and `_` only"
            ));
        }
    }
    let names = listed
        .iter()
        .filter(|(_, c)| matches!(c.stage, Some(Stage::Name(_))))
        .count();
    let mut numbers: Vec<i64> = listed
        .iter()
        .filter_map(|(_, c)| match c.stage {
            Some(Stage::Number(n)) => Some(n),
            _ => None,
        })
        .collect();
    if names > 0 && !numbers.is_empty() {
        return Err("cluster stages mix names and numbers; use one kind".into());
    }
    numbers.sort_unstable();
    numbers.dedup();
    let mut order: Vec<String> = config.stages.clone();
    for (id, c) in &listed {
        if let Some(Stage::Name(stage)) = &c.stage
            && !order.contains(stage)
        {
            if !config.stages.is_empty() {
                return Err(format!(
                    "[clusters.{id}] stage `{stage}` is not in `stages = [{}]`",
                    config.stages.join(", ")
                ));
            }
            order.push(stage.clone());
        }
    }
    let mut defs: Vec<ClusterDef> = Vec::new();
    for (id, c) in listed {
        let rank = match &c.stage {
            None => 0,
            Some(Stage::Name(n)) => order.iter().position(|o| o == n).unwrap_or(0),
            Some(Stage::Number(n)) => numbers.iter().position(|o| o == n).unwrap_or(0),
        };
        let dir = c.dir.clone().unwrap_or_else(|| "2-kops".to_string());
        let dir = dir.trim_end_matches('/').to_string();
        if let Some(other) = defs.iter().find(|d| d.dir == dir) {
            return Err(format!(
                "clusters `{}` and `{id}` both use the folder `{dir}` for cluster.yml, kubernetes.tf and plans; give each its own `dir`",
                other.id
            ));
        }
        defs.push(ClusterDef {
            work: if config.cluster.is_some() {
                ".kopsform".to_string()
            } else {
                format!(".kopsform/{id}")
            },
            prerequisites: c
                .prerequisites
                .clone()
                .unwrap_or_else(|| config.prerequisites.dir.clone()),
            dir,
            rank,
            id,
            config: c.clone(),
        });
    }
    Ok(defs)
}

#[cfg(test)]
mod tests {
    use super::schema::parse;
    use super::task::*;
    use super::*;

    #[test]
    fn steps_come_as_argv_arrays_or_tables() {
        let config = parse(
            r#"
[tasks.a]
steps = [
  ["kops", "version"],
  { run = ["terraform", "plan"], cwd = "2-kops" },
  { render = "t.yml", out = "o.yml" },
  { builtin = "show-outputs" },
]
"#,
        )
        .unwrap();
        let steps = &config.tasks["a"].steps;
        assert!(matches!(&steps[0], Step::Command(c) if c.argv == ["kops", "version"]));
        assert!(matches!(&steps[1], Step::Command(c) if c.cwd.as_deref() == Some("2-kops")));
        assert!(matches!(&steps[2], Step::Render(r) if r.check == ManifestCheck::Kops));
        assert!(matches!(&steps[3], Step::Builtin(Builtin::ShowOutputs)));
    }

    #[test]
    fn a_render_step_picks_its_engine() {
        let config = parse(
            r#"
[tasks.a]
steps = [
  { render = "t.yml", out = "o.yml" },
  { render = "g.yml", out = "o.yml", engine = "go", snippets = ["snippets"], missing = "no-value" },
]
"#,
        )
        .unwrap();
        let steps = &config.tasks["a"].steps;
        assert!(
            matches!(&steps[0], Step::Render(r) if r.engine == Engine::Handlebars && r.templates == ["t.yml"])
        );
        // Issue 18: what a Makefile passes to `kops toolbox template`, on the step.
        let kops = parse(
            r#"
[tasks.a]
steps = [{ render = ["c.yaml", "igs"], out = "o.yml", engine = "go", set = ["a=1,b=2"], set-string = ["c={1,2}"], format-yaml = true }]
"#,
        )
        .unwrap();
        assert!(matches!(&kops.tasks["a"].steps[0], Step::Render(r)
            if r.templates == ["c.yaml", "igs"] && r.set == ["a=1,b=2"] && r.set_string == ["c={1,2}"] && r.format_yaml));
        assert!(
            matches!(&steps[1], Step::Render(r) if r.engine == Engine::Go
            && r.snippets == ["snippets"] && r.missing == MissingValue::NoValue)
        );
        for (step, want) in [
            (
                r#"{ render = "t.yml", out = "o.yml", snippets = ["s"] }"#,
                "`snippets` applies to Go templates only: add `engine = \"go\"`",
            ),
            (
                r#"{ render = "t.yml", out = "o.yml", engine = "handlebars", missing = "error" }"#,
                "`missing` applies to Go templates only",
            ),
            (
                r#"{ run = ["x"], engine = "go" }"#,
                "`engine` does not apply to a `run` step",
            ),
            (
                r#"{ render = "t.yml", out = "o.yml", engine = "jinja" }"#,
                "unknown variant `jinja`",
            ),
            (
                r#"{ render = ["a.yml", "b"], out = "o.yml" }"#,
                "several templates in `render` apply to Go templates only",
            ),
            (
                r#"{ render = [], out = "o.yml", engine = "go" }"#,
                "`render` is an empty list",
            ),
            (
                r#"{ render = "t.yml", out = "o.yml", set = ["a=1"] }"#,
                "`set` applies to Go templates only",
            ),
            (
                r#"{ render = "t.yml", out = "o.yml", format-yaml = true }"#,
                "`format-yaml` applies to Go templates only",
            ),
            (
                r#"{ run = ["x"], set-string = ["a=1"] }"#,
                "`set-string` does not apply to a `run` step",
            ),
            (
                r#"{ render = 3, out = "o.yml" }"#,
                "expected a template path or a list of them",
            ),
        ] {
            let err = parse(&format!("[tasks.a]\nsteps = [{step}]\n")).unwrap_err();
            assert!(err.contains(want), "{step}: {err}");
        }
    }

    #[test]
    fn unknown_keys_name_line_and_column() {
        let err = parse("[tasks.a]\ndesc = \"x\"\ndeeps = []\n").unwrap_err();
        assert!(err.starts_with("3:1: unknown field `deeps`"), "{err}");
    }

    #[test]
    fn wrong_types_name_line_and_column() {
        let err = parse("[tasks.a]\nsteps = [[\"a\", 1]]\n").unwrap_err();
        assert!(err.starts_with("2:"), "{err}");
        assert!(err.contains("string"), "{err}");
    }

    #[test]
    fn a_step_table_needs_exactly_one_kind() {
        let err = parse("[tasks.a]\nsteps = [{ run = [\"x\"], render = \"t\" }]\n").unwrap_err();
        assert!(err.contains("exactly one of"), "{err}");
        let err = parse("[tasks.a]\nsteps = [{ render = \"t\" }]\n").unwrap_err();
        assert!(err.contains("needs `out`"), "{err}");
    }

    #[test]
    fn save_is_for_commands_and_rolling_update_for_the_review() {
        let config = parse(
            "[tasks.a]\nsteps = [{ run = [\"kops\"], save = \"o.txt\" }, { builtin = \"review\", plan = \"p\", out = \"r.md\", rolling-update = \"o.txt\" }]\n",
        )
        .unwrap();
        let steps = &config.tasks["a"].steps;
        assert!(matches!(&steps[0], Step::Command(c) if c.save.as_deref() == Some("o.txt")));
        assert!(matches!(
            &steps[1],
            Step::Builtin(Builtin::Review { rolling_update: Some(r), .. }) if r == "o.txt"
        ));
        let err = parse("[tasks.a]\nsteps = [{ render = \"t\", out = \"o\", save = \"s\" }]\n")
            .unwrap_err();
        assert!(
            err.contains("`save` does not apply to a `render` step"),
            "{err}"
        );
        let err = parse(
            "[tasks.a]\nsteps = [{ builtin = \"check-plan\", plan = \"p\", rolling-update = \"s\" }]\n",
        )
        .unwrap_err();
        assert!(
            err.contains("`rolling-update` does not apply to the `check-plan` builtin"),
            "{err}"
        );
    }

    #[test]
    fn the_review_takes_a_spec_table_and_prune_a_manifest() {
        let config = parse(
            "[tasks.a]\nsteps = [{ builtin = \"review\", plan = \"p\", out = \"r.md\", spec = { live = \"l\", manifest = \"m.yml\" } }, { builtin = \"prune-instancegroups\", manifest = \"c.yml\" }]\n",
        )
        .unwrap();
        let steps = &config.tasks["a"].steps;
        assert!(matches!(
            &steps[0],
            Step::Builtin(Builtin::Review { spec: Some(s), .. }) if s.live == "l" && s.manifest == "m.yml"
        ));
        assert!(matches!(
            &steps[1],
            Step::Builtin(Builtin::PruneInstanceGroups { manifest }) if manifest == "c.yml"
        ));
        for (toml, expected) in [
            (
                "{ builtin = \"review\", plan = \"p\", out = \"r\", spec = { live = \"l\" } }",
                "missing field `manifest`",
            ),
            (
                "{ builtin = \"review\", plan = \"p\", out = \"r\", spec = { live = \"l\", manifest = \"m\", x = 1 } }",
                "unknown field `x`",
            ),
            (
                "{ builtin = \"prune-instancegroups\" }",
                "the `prune-instancegroups` builtin needs `manifest`",
            ),
            (
                "{ builtin = \"remove\", paths = [\"x\"], manifest = \"m\" }",
                "`manifest` does not apply to the `remove` builtin",
            ),
            (
                "{ builtin = \"prune-instancegroups\", manifest = \"m\", spec = { live = \"l\", manifest = \"m\" } }",
                "`spec` does not apply to the `prune-instancegroups` builtin",
            ),
            (
                "{ run = [\"kops\"], manifest = \"m\" }",
                "`manifest` does not apply to a `run` step",
            ),
        ] {
            let err = parse(&format!("[tasks.a]\nsteps = [{toml}]\n")).unwrap_err();
            assert!(err.contains(expected), "{toml}: {err}");
        }
    }

    #[test]
    fn generates_needs_sources() {
        let config = parse("[tasks.a]\ngenerates = [\"x\"]\n").unwrap();
        let err = check_tasks(&config).unwrap_err();
        assert!(
            err.contains("task `a` has `generates` but no `sources`"),
            "{err}"
        );
    }
}

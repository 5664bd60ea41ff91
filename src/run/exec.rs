//! `kopsform exec --cluster ID -- COMMAND ARGS...`: one command, typed by the user, run in the
//! environment a step of that cluster gets (`KOPS_STATE_STORE`, `KOPS_CLUSTER_NAME`, `[env]`, the
//! cluster's `env`, `[tools]` for the program), without a shell, its output masked as a step's.
//!
//! Built from the runner's own parts (the environment, the secret-on-argv refusal, the lock, the
//! spawner and its redactor, the audit trail) so that what `exec` sees is exactly what a step
//! sees. Unlike a task, its exit status is the command's own: `exec` stands in for the command
//! (as `aws-vault exec` or `kubectl exec` do), and a script calling it branches on that status.

use std::time::{Instant, SystemTime};

use crate::error::{UserError, exit};
use crate::project::Project;
use crate::project::cluster::Selection;
use crate::project::task::{CommandStep, Task};
use crate::tools::process;
use crate::tools::retry::Tool;
use crate::{notice, progress};

use super::command::{display_command, interrupted};
use super::outcome::{Status, TaskResult};
use super::scope::{RunOptions, RunShared, Runner};

/// The name `exec` goes by in lines, the lock's holder and the audit trail.
const NAME: &str = "exec";

/// Runs `argv` in the environment of the one selected cluster; the command's exit status becomes
/// kopsform's (an empty message carries it).
pub(crate) fn command(
    project: &Project,
    options: RunOptions,
    selection: &Selection,
    argv: &[String],
) -> Result<(), UserError> {
    let usage = |message: String| UserError::with_code(message, exit::USAGE);
    if selection.all || !selection.stages.is_empty() || selection.clusters.len() > 1 {
        return Err(usage(
            "exec runs a command in one cluster's environment: name that cluster with one --cluster ID (--all and --stage are refused); nothing was run".to_string(),
        ));
    }
    if let Some(name) = options.params.keys().next() {
        return Err(usage(format!(
            "--param {name}: exec runs no task, so it has no parameters; nothing was run"
        )));
    }
    if project.clusters.is_empty() {
        return Err(usage(format!(
            "{}: no [cluster] or [clusters.<id>] table, so there is no cluster environment to run the command in; nothing was run",
            project.file.display()
        )));
    }
    let clusters = project
        .select_clusters(selection)
        .map_err(|e| usage(format!("{}; nothing was run", e.message)))?;
    let Some(cluster) = clusters.into_iter().next() else {
        return Err(usage("no cluster selected; nothing was run".to_string()));
    };
    // A pinned kops, terraform or aws is the cluster's own version, or nothing runs (as for a task).
    let tool = match project.tool_kind(&argv[0]) {
        Tool::Terraform => Some("terraform"),
        Tool::Kops => Some("kops"),
        Tool::Aws => Some("aws"),
        Tool::Other => None,
    };
    if let Some(tool) = tool
        && project.pins_any()
    {
        let env = crate::values::context::own_env_pairs(project, Some(&cluster));
        project.check_pins(&[tool], Some(&cluster), &env, "nothing was run")?;
    }
    let started = SystemTime::now();
    let shared = RunShared::default();
    process::install_signal_handlers();
    let id = cluster.id.clone();
    // No `[cluster] ` prefix: the command's output is its own, to pipe or redirect.
    let mut runner = Runner::for_cluster(project, &shared, options.clone(), Some(cluster), None);
    let took = Instant::now();
    let outcome = runner.exec(argv);
    let locked = runner.holds.lock.is_some();
    runner.release_lock();
    let left = runner.holds.left.take();
    drop(runner);
    let status = match &outcome {
        Ok(Some(0)) => Status::Ok,
        Ok(None) => Status::DryRun,
        Err(_) if process::interrupted().is_some() => Status::Interrupted,
        _ => Status::Failed,
    };
    let code = match &outcome {
        Ok(Some(0) | None) => None,
        Ok(Some(code)) => Some(*code),
        Err(e) => Some(e.code),
    };
    let cluster_column = if project.clusters.len() > 1 {
        id
    } else {
        String::new()
    };
    let mut row = TaskResult::new(&cluster_column, NAME, status, took.elapsed(), "");
    row.locks = locked;
    let end = super::audit::Run {
        started,
        shared: &shared,
        options: &options,
    };
    super::audit::append(project, end, &[row], code, options.dry_run);
    match outcome {
        Err(e) => Err(e),
        Ok(Some(0) | None) => match left {
            Some(left) => Err(UserError::with_code(left, exit::LOCK_LEFT)),
            None => Ok(()),
        },
        // The command has said why on its own stderr.
        Ok(Some(code)) => Err(UserError::with_code(String::new(), code)),
    }
}

impl<'p> Runner<'p> {
    /// Runs `argv` with the cluster's environment; its exit status, or `None` in a dry run.
    /// A command that changes the cluster (a kops command with `--yes`, a Terraform command that
    /// writes a state) is confirmed as a confirming task is, and runs under the cluster's lock
    /// (kept in `holds.lock` for the caller to release).
    fn exec(&mut self, argv: &[String]) -> Result<Option<i32>, UserError> {
        let kind = self.project.tool_kind(&argv[0]);
        let program = self.project.program_for(&argv[0], self.cluster.as_ref());
        let is_kops = kind == Tool::Kops;
        let cluster = self.require_cluster()?;
        let task = Task::default();
        let step = CommandStep {
            argv: argv.to_vec(),
            ..CommandStep::default()
        };
        let env = self.child_env(NAME, &task, &step, argv, is_kops, false)?;
        // The command line is at fault: a usage error.
        self.refuse_secret_arguments(argv).map_err(|e| {
            UserError::with_code(format!("{}; nothing was run", e.message), exit::USAGE)
                .context(NAME)
        })?;
        let shown = self
            .redactor
            .mask(&display_command(&argv[0], &argv[1..], None));
        if self.options.dry_run {
            notice!("would run: {shown}");
            return Ok(None);
        }
        let changes = match kind {
            Tool::Kops => crate::tools::kops::KopsArgs::parse(&argv[1..]).changes_cluster(),
            Tool::Terraform => argv[1..]
                .iter()
                .find(|a| !a.starts_with('-'))
                .is_some_and(|w| crate::tools::terraform::writes_state(w)),
            Tool::Aws | Tool::Other => false,
        };
        if changes && !self.options.yes {
            if !process::stdin_is_terminal() {
                return Err(UserError::new(format!(
                    "`{shown}` changes cluster {} and there is no terminal to ask on; nothing was run. Pass --yes to confirm, or --dry-run to see what would run",
                    cluster.name
                )));
            }
            let question = format!("Run `{shown}` on cluster {}?", cluster.name);
            if !process::confirm_on_terminal(&question)? {
                return Err(UserError::new("not confirmed; nothing was run"));
            }
        }
        if changes {
            self.holds.lock = Some(self.take_lock(NAME)?);
        }
        let cwd = std::env::current_dir()
            .map_err(|e| UserError::new(format!("cannot read the current folder: {e}")))?;
        if kind == Tool::Terraform {
            // The sensitive values of the state the command reads (`-chdir` counted).
            let layer = crate::tools::terraform::chdir(argv).map_or(cwd.clone(), |d| cwd.join(d));
            self.learn_terraform_secrets(&program, &argv[1..], &layer, &env);
        }
        progress!("$ {shown}");
        // Typed by the user: run once, whatever it is (the transient-error patterns only watch).
        let finished = process::run_streaming(
            &process::Command {
                program: &program,
                args: &argv[1..],
                cwd: &cwd,
                env: &env,
                prefix: "",
                capture_stdout: false,
                transient: self.project.retry_policy(None),
            },
            &self.redactor,
        )?;
        if let Some(signal) = process::interrupted() {
            return Err(interrupted(signal));
        }
        Ok(Some(finished.code))
    }
}

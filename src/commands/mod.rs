//! The subcommands other than running tasks, one module each, and the one dispatch over
//! [`Subcommand`]. In: the parsed command line and the loaded project. Out: reports on stdout,
//! generated files, an exit status. Nothing below imports this folder.

pub(crate) mod affected;
pub(crate) mod ci;
pub(crate) mod ci_approval;
pub(crate) mod ci_comment;
pub(crate) mod ci_drift;
pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod drift;
pub(crate) mod graph;
pub(crate) mod import;
pub(crate) mod list;
pub(crate) mod review;

use crate::cli::{self, Cli, Subcommand};
use crate::error::UserError;
use crate::project::Project;
use crate::run::scope::RunOptions;

/// Runs what the command line asks: a subcommand, or tasks (`kopsform TASK...`, `kopsform run`).
pub(crate) fn dispatch(cli: Cli) -> Result<(), UserError> {
    let cwd = std::env::current_dir()
        .map_err(|e| UserError::new(format!("cannot read the current folder: {e}")))?;
    let global = cli.global;
    crate::ui::configure(global.quiet, global.verbose, global.json);
    let load = || Project::load(Project::locate(global.directory.as_deref(), &cwd)?);
    let selection = crate::project::cluster::Selection {
        clusters: global.cluster.clone(),
        stages: global.stage.clone(),
        all: global.all,
    };
    // Only runs need these (the CPU count reads cgroup files): worked out when used, once (a
    // run asks it for the clusters and for the tasks).
    let cpus = std::cell::OnceCell::new();
    let jobs = || {
        global.jobs.map(usize::from).unwrap_or_else(|| {
            *cpus.get_or_init(|| {
                std::thread::available_parallelism().map_or(4, std::num::NonZero::get)
            })
        })
    };
    let approval = match &global.approval {
        Some(path) => Some(ci_approval::read_approval(&cwd.join(path))?),
        None => None,
    };
    let options = || RunOptions {
        dry_run: global.dry_run,
        yes: global.yes,
        sets: global.assignments(),
        fail_on_update: global.fail_on_update,
        allow_destroy: global
            .allow_destroy
            .iter()
            .chain(approval.iter().flat_map(|a| &a.allow_destroy))
            .cloned()
            .collect(),
        approved_plan: approval.as_ref().map(|a| a.plan_sha256.clone()),
        lock_timeout: global.lock_timeout,
        force: global.force,
        jobs: jobs(),
        params: global.params(),
    };
    let tasks: (Vec<String>, Vec<String>) = match cli.command {
        None => {
            return Err(UserError::new(
                "no task given; `kopsform list` shows the tasks, `kopsform TASK` runs one",
            ));
        }
        Some(Subcommand::Review(args)) => return review::command(&global, &cwd, &args),
        Some(Subcommand::Ci(command)) => {
            let (platform, args) = match command {
                cli::CiCommand::Comment(args) => return ci_comment::comment_command(&args, &cwd),
                cli::CiCommand::DriftIssues(args) => {
                    return ci_drift::drift_issues_command(&args, &cwd);
                }
                cli::CiCommand::ApproveText(args) => {
                    // The plan is read with the cluster's environment, as its apply reads it.
                    let project = load()?;
                    let clusters = project.select_clusters(&selection)?;
                    let cluster = match clusters.as_slice() {
                        [one] => Some(one),
                        _ => None,
                    };
                    return ci_approval::approve_text_command(&project, cluster, &args, &cwd);
                }
                cli::CiCommand::Approval(args) => {
                    return ci_approval::approval_command(&load()?, &args, &cwd);
                }
                cli::CiCommand::Gitlab(a) => (cli::CiPlatform::Gitlab, a),
                cli::CiCommand::Github(a) => (cli::CiPlatform::Github, a),
                cli::CiCommand::Jenkins(a) => (cli::CiPlatform::Jenkins, a),
            };
            return ci::generate_command(&load()?, platform, &args, &cwd);
        }
        Some(Subcommand::Audit { last }) => {
            return crate::run::audit::show(&load()?, &selection, options(), last, global.json);
        }
        Some(Subcommand::Affected(args)) => {
            return affected::command(&load()?, &args, global.json);
        }
        Some(Subcommand::Doctor) => {
            return doctor::run(&load()?, &selection, &global.assignments(), global.json);
        }
        Some(Subcommand::Drift) => {
            return drift::command(&load()?, &selection, options(), global.json);
        }
        Some(Subcommand::Graph(args)) => {
            return graph::command(&load()?, &args, &selection);
        }
        Some(Subcommand::Completions(args)) => {
            return completions::completions_command(&args);
        }
        Some(Subcommand::Man(args)) => return completions::man_command(&args, &cwd),
        Some(Subcommand::Import(args)) => {
            return import::command(&load()?, &selection, &args, &global, &cwd);
        }
        Some(Subcommand::List) => {
            list::command(&load()?, global.json);
            return Ok(());
        }
        Some(Subcommand::Unlock { force }) => {
            let project = load()?;
            let clusters = project.select_clusters(&selection)?;
            if clusters.is_empty() {
                return Err(UserError::new(format!(
                    "{}: no [cluster] table: there is no cluster to unlock",
                    project.file.display()
                )));
            }
            let shared = crate::run::scope::RunShared::default();
            for cluster in clusters {
                crate::run::scope::Runner::for_cluster(
                    &project,
                    &shared,
                    options(),
                    Some(cluster),
                    None,
                )
                .unlock(force)?;
            }
            return Ok(());
        }
        Some(Subcommand::Exec { command }) => {
            return crate::run::exec::command(&load()?, options(), &selection, &command);
        }
        Some(Subcommand::Run { tasks, args }) => (tasks, args),
        Some(Subcommand::Tasks(words)) => (
            words
                .into_iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect(),
            Vec::new(),
        ),
    };
    let (tasks, args) = tasks;
    let fleet_options = crate::run::fleet::FleetOptions {
        jobs: jobs(),
        keep_going: global.keep_going,
    };
    let mut project = load()?;
    project.pass_through(&tasks, args)?;
    let outcome = crate::run::fleet::run(&project, options(), &selection, fleet_options, &tasks);
    // The process ends after the run: its project (every task's parsed steps) is left to the exit
    // instead of being freed piece by piece (3% of a dry run of 100 tasks; issue 19). It holds
    // no file, lock or child whose drop does anything.
    std::mem::forget(project);
    outcome
}

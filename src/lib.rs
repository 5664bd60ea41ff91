//! kopsform: a Make-style task runner that bridges a prerequisites Terraform layer and a kops
//! cluster managed with Terraform.
//!
//! The data flow (see docs/architecture.md): `config` loads tasks.toml, `graph` orders the tasks,
//! `runner` runs their steps through `process`; values come from `outputs` (terraform output -json)
//! merged in `values` and `context`, feed `template`, and the rendered manifest is checked by
//! `manifest` before kops sees it; `kops` reads what kops prints.

pub mod atomic;
pub mod cli;
pub mod commands;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod plan;
pub mod project;
pub mod redact;
pub mod render;
pub mod review;
pub mod run;
pub mod statestore;
pub mod text;
pub mod tools;
pub mod ui;
pub mod values;

use std::ffi::OsString;
use std::io::Write;

use cli::{Cli, Command};
use error::UserError;
use project::Project;
use run::scope::RunOptions;

/// Runs kopsform with `args` (program name first) and returns the exit status.
pub fn run(args: Vec<OsString>) -> i32 {
    if let Some(code) = commands::completions::complete_from_env(&args) {
        return code;
    }
    let cli = match Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                error::exit::USAGE
            } else {
                error::exit::OK
            };
        }
    };
    match execute(cli) {
        Ok(()) => 0,
        Err(e) => {
            // An empty message carries only an exit status (e.g. review's "changes" status).
            if !e.message.is_empty() {
                let message = redact::mask_all(&e.message);
                let label = ui::paint("kopsform: error:", ui::Tone::Bad);
                let _ = writeln!(std::io::stderr(), "{label} {message}");
            }
            e.code
        }
    }
}

fn execute(cli: Cli) -> Result<(), UserError> {
    let cwd = std::env::current_dir()
        .map_err(|e| UserError::new(format!("cannot read the current folder: {e}")))?;
    let global = cli.global;
    ui::configure(global.quiet, global.verbose, global.json);
    let load = || Project::load(Project::locate(global.directory.as_deref(), &cwd)?);
    let selection = project::cluster::Selection {
        clusters: global.cluster.clone(),
        stages: global.stage.clone(),
        all: global.all,
    };
    // Only runs need these (the CPU count reads cgroup files): worked out when used.
    let jobs = || {
        global.jobs.map(usize::from).unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(4, std::num::NonZero::get)
        })
    };
    let options = || RunOptions {
        dry_run: global.dry_run,
        yes: global.yes,
        sets: global.set.clone(),
        fail_on_update: global.fail_on_update,
        allow_destroy: global.allow_destroy.clone(),
        lock_timeout: global.lock_timeout,
        force: global.force,
        jobs: jobs(),
    };
    let tasks: Vec<String> = match cli.command {
        None => {
            return Err(UserError::new(
                "no task given; `kopsform list` shows the tasks, `kopsform TASK` runs one",
            ));
        }
        Some(Command::Review(args)) => return review_command(&global, &cwd, &args),
        Some(Command::Ci(command)) => {
            let (platform, args) = match command {
                cli::CiCommand::Comment(args) => return commands::ci::comment_command(&args, &cwd),
                cli::CiCommand::Gitlab(a) => (cli::CiPlatform::Gitlab, a),
                cli::CiCommand::Github(a) => (cli::CiPlatform::Github, a),
                cli::CiCommand::Jenkins(a) => (cli::CiPlatform::Jenkins, a),
            };
            return commands::ci::generate_command(&load()?, platform, &args, &cwd);
        }
        Some(Command::Audit { last }) => {
            return run::audit::show(&load()?, last, global.json);
        }
        Some(Command::Doctor) => {
            return commands::doctor::run(&load()?, &selection, &global.set, global.json);
        }
        Some(Command::Graph(args)) => {
            return commands::graph::command(&load()?, &args, &selection);
        }
        Some(Command::Completions(args)) => {
            return commands::completions::completions_command(&args);
        }
        Some(Command::Man(args)) => return commands::completions::man_command(&args, &cwd),
        Some(Command::Import(args)) => {
            return commands::import::command(&load()?, &selection, &args, &global, &cwd);
        }
        Some(Command::List) => {
            list(&load()?, global.json);
            return Ok(());
        }
        Some(Command::Unlock) => {
            let project = load()?;
            let clusters = project.select_clusters(&selection)?;
            if clusters.is_empty() {
                return Err(UserError::new(format!(
                    "{}: no [cluster] table: there is no cluster to unlock",
                    project.file.display()
                )));
            }
            for cluster in clusters {
                run::scope::Runner::for_cluster(&project, options(), Some(cluster), None)
                    .unlock()?;
            }
            return Ok(());
        }
        Some(Command::Run { tasks }) => tasks,
        Some(Command::Tasks(words)) => words
            .into_iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect(),
    };
    let fleet_options = run::fleet::FleetOptions {
        jobs: jobs(),
        keep_going: global.keep_going,
    };
    run::fleet::run(&load()?, options(), &selection, fleet_options, &tasks)
}

/// `kopsform review`: needs no project, but inside one its [review] and [tools] settings apply.
fn review_command(
    global: &cli::GlobalArgs,
    cwd: &std::path::Path,
    args: &cli::ReviewArgs,
) -> Result<(), UserError> {
    let project = match Project::locate(global.directory.as_deref(), cwd) {
        Ok(dir) => Some(Project::load(dir)?),
        Err(_) if global.directory.is_none() => None,
        Err(e) => return Err(e),
    };
    let mut args = args.clone();
    if global.json {
        args.format = cli::ReviewFormat::Json;
    }
    match review::run(project.as_ref(), &args, None, &[])? {
        review::EXIT_NO_CHANGES => Ok(()),
        // An empty message carries only the exit status ("changes", "protected changes").
        code => Err(UserError::with_code(String::new(), code)),
    }
}

fn list(project: &Project, json: bool) {
    let tasks = &project.config.tasks;
    if json {
        let list: Vec<serde_json::Value> = tasks
            .iter()
            .map(|(name, task)| {
                serde_json::json!({
                    "name": name,
                    "desc": task.desc,
                    "deps": task.deps,
                    "confirm": task.confirmation(name),
                    "sources": task.sources,
                    "generates": task.generates,
                    "steps": task.steps.len(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    let width = tasks.keys().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    for (name, task) in tasks {
        let confirm = if task.confirmation(name).is_some() {
            " [confirm]"
        } else {
            ""
        };
        let line = format!("{name:width$}  {}{confirm}", task.desc);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    print!("{text}");
}

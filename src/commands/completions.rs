//! `kopsform completions` and `kopsform man`: shell completion scripts and man pages generated
//! from the clap definitions of [`crate::cli`], so they never disagree with `--help`.
//!
//! The static scripts (clap_complete) know the subcommands and flags. Task names live in the
//! nearest tasks.toml, so they need kopsform at completion time: the `--dynamic` script calls
//! `COMPLETE=<shell> kopsform -- <words>`, answered by [`complete_from_env`] before the command
//! line is parsed (clap_complete's `CompleteEnv`), with the task names, cluster ids and stages of
//! the project the words name (`-C DIR`, else `KOPSFORM_DIR`, else the nearest tasks.toml).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};

use crate::cli::{Cli, CompletionShell, CompletionsArgs, ManArgs};
use crate::error::UserError;
use crate::project::Project;

/// The variable that turns a run into a completion request, as clap_complete names it.
const COMPLETE_VAR: &str = "COMPLETE";
const BIN: &str = "kopsform";

/// `kopsform completions SHELL [--dynamic]`: prints the script.
pub(crate) fn completions_command(args: &CompletionsArgs) -> Result<(), UserError> {
    let mut script = Vec::new();
    if args.dynamic {
        let completer = completer_path();
        let shell: &dyn EnvCompleter = match args.shell {
            CompletionShell::Bash => &Bash,
            CompletionShell::Zsh => &Zsh,
            CompletionShell::Fish => &Fish,
        };
        shell
            .write_registration(COMPLETE_VAR, BIN, BIN, &completer, &mut script)
            .map_err(|e| UserError::new(format!("cannot write the completion script: {e}")))?;
    } else {
        let shell = match args.shell {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        };
        clap_complete::generate(shell, &mut Cli::command(), BIN, &mut script);
    }
    write_stdout(&script)
}

/// How the dynamic script calls kopsform: as it was called (a bare name is looked up on PATH at
/// each TAB), a relative path made absolute.
fn completer_path() -> String {
    let arg0 = std::env::args_os()
        .next()
        .map_or_else(|| PathBuf::from(BIN), PathBuf::from);
    let arg0 = if arg0.components().count() > 1 && arg0.is_relative() {
        std::env::current_dir().map_or(arg0.clone(), |d| d.join(&arg0))
    } else {
        arg0
    };
    arg0.to_string_lossy().into_owned()
}

fn write_stdout(bytes: &[u8]) -> Result<(), UserError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| UserError::new(format!("cannot write to stdout: {e}")))
}

/// Answers a completion request (`COMPLETE=bash kopsform -- kopsform clu`) and returns the exit
/// status, or `None` when this run is not one. Only a shell's name (or path) makes a run a
/// completion request, so an unrelated `COMPLETE=1` in the environment changes nothing.
pub(crate) fn complete_from_env(args: &[OsString]) -> Option<i32> {
    let shell = std::env::var_os(COMPLETE_VAR)?;
    let name = Path::new(&shell).file_name()?.to_str()?;
    clap_complete::env::Shells::builtins().completer(name)?;
    let cwd = std::env::current_dir().ok();
    let project_dir = project_dir_of(args, cwd.as_deref());
    let factory = move || completion_command(project_dir.clone());
    match clap_complete::CompleteEnv::with_factory(factory)
        .var(COMPLETE_VAR)
        .try_complete(args.to_vec(), cwd.as_deref())
    {
        Ok(true) => Some(crate::error::exit::OK),
        Ok(false) => None,
        Err(e) => {
            let _ = e.print();
            Some(crate::error::exit::USAGE)
        }
    }
}

/// The folder named by `-C DIR` / `--directory DIR` among the words being completed, else
/// `KOPSFORM_DIR`, made absolute against `cwd`.
fn project_dir_of(args: &[OsString], cwd: Option<&Path>) -> Option<PathBuf> {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut named = None;
    for (i, w) in words.iter().enumerate() {
        let value = match w.as_str() {
            "-C" | "--directory" => words.get(i + 1).cloned(),
            w if w.starts_with("--directory=") => Some(w["--directory=".len()..].to_string()),
            w if w.starts_with("-C") && w.len() > 2 => Some(w[2..].to_string()),
            _ => None,
        };
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            named = Some(PathBuf::from(v));
        }
    }
    let dir = named.or_else(|| std::env::var_os("KOPSFORM_DIR").map(PathBuf::from))?;
    Some(match cwd {
        Some(cwd) if dir.is_relative() => cwd.join(dir),
        _ => dir,
    })
}

/// The project the completion is for, or `None` when there is none (or it does not load).
fn load_for_completion(dir: Option<&Path>) -> Option<Project> {
    let cwd = std::env::current_dir().ok()?;
    let dir = Project::locate(dir, &cwd).ok()?;
    Project::load(dir).ok()
}

/// The clap command with the project's names as completion candidates: task names for
/// `kopsform TASK`, `run`, `graph`; cluster ids for `--cluster`; stages for `--stage`.
fn completion_command(dir: Option<PathBuf>) -> clap::Command {
    let tasks = {
        let dir = dir.clone();
        move || -> Vec<CompletionCandidate> {
            load_for_completion(dir.as_deref()).map_or_else(Vec::new, |p| {
                p.config
                    .tasks
                    .iter()
                    .map(|(name, task)| {
                        let mut c = CompletionCandidate::new(name);
                        if !task.desc.is_empty() {
                            c = c.help(Some(task.desc.clone().into()));
                        }
                        c
                    })
                    .collect()
            })
        }
    };
    let clusters = {
        let dir = dir.clone();
        move || -> Vec<CompletionCandidate> {
            load_for_completion(dir.as_deref()).map_or_else(Vec::new, |p| {
                p.clusters
                    .iter()
                    .map(|c| CompletionCandidate::new(&c.id))
                    .collect()
            })
        }
    };
    let stages = move || -> Vec<CompletionCandidate> {
        let mut names: Vec<String> = Vec::new();
        if let Some(p) = load_for_completion(dir.as_deref()) {
            let mut defs = p.clusters.clone();
            defs.sort_by_key(|c| c.rank);
            for s in defs.iter().filter_map(|c| c.config.stage.as_ref()) {
                if !names.contains(&s.to_string()) {
                    names.push(s.to_string());
                }
            }
        }
        names.into_iter().map(CompletionCandidate::new).collect()
    };
    let with_tasks = |arg: clap::Arg| arg.add(ArgValueCandidates::new(tasks.clone()));
    // `kopsform TASK...`: clap parses the first task name as an external subcommand; for the
    // completer alone, a hidden positional takes the task names, the first and every later one
    // (`kopsform plan ap<TAB>`).
    Cli::command()
        .arg(
            clap::Arg::new("more-tasks")
                .value_name("TASK")
                .num_args(0..)
                .hide(true)
                .add(ArgValueCandidates::new(tasks.clone())),
        )
        .mut_arg("cluster", |a| a.add(ArgValueCandidates::new(clusters)))
        .mut_arg("stage", |a| a.add(ArgValueCandidates::new(stages)))
        // `mut_arg` puts the argument last: `args` (after `--`) is put back behind `tasks`.
        .mut_subcommand("run", |s| {
            s.mut_arg("tasks", with_tasks).mut_arg("args", |a| a)
        })
        .mut_subcommand("graph", |s| s.mut_arg("tasks", with_tasks))
}

/// `kopsform man [--out DIR]`: kopsform.1 on stdout, or every command's page written into DIR.
pub(crate) fn man_command(args: &ManArgs, cwd: &Path) -> Result<(), UserError> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let Some(out) = &args.out else {
        return write_stdout(&render_page(&cmd)?);
    };
    let out = if out.is_absolute() {
        out.clone()
    } else {
        cwd.join(out)
    };
    let mut pages = Vec::new();
    collect_pages(&cmd, &mut pages)?;
    for (name, text) in &pages {
        crate::atomic::write(&out.join(name), text, 0o644)?;
    }
    eprintln!("wrote {} man pages to {}", pages.len(), out.display());
    Ok(())
}

/// The page of `cmd` and of each of its visible subcommands, depth first, as (file name, roff).
fn collect_pages(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> Result<(), UserError> {
    let name = format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name()));
    pages.push((name, render_page(cmd)?));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_pages(sub, pages)?;
    }
    Ok(())
}

fn render_page(cmd: &clap::Command) -> Result<Vec<u8>, UserError> {
    let title = cmd
        .get_display_name()
        .unwrap_or(cmd.get_name())
        .to_uppercase();
    let man = clap_mangen::Man::new(cmd.clone())
        .title(title)
        .manual("kopsform manual")
        .source(format!("kopsform {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(|e| UserError::new(format!("cannot render the man page: {e}")))?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_folder_comes_from_the_words_being_completed() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        let cwd = Path::new("/here");
        assert_eq!(
            project_dir_of(
                &words(&["kopsform", "--", "kopsform", "-C", "ex", "pl"]),
                Some(cwd)
            ),
            Some(PathBuf::from("/here/ex"))
        );
        assert_eq!(
            project_dir_of(&words(&["kopsform", "--directory=/abs", "x"]), Some(cwd)),
            Some(PathBuf::from("/abs"))
        );
        assert_eq!(
            project_dir_of(&words(&["kopsform", "-Cex"]), Some(cwd)),
            Some(PathBuf::from("/here/ex"))
        );
    }

    #[test]
    fn the_completion_command_is_a_valid_clap_command() {
        completion_command(None).debug_assert();
    }
}

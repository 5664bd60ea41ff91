//! A command step, from tasks.toml to a finished child: the step's paths and arguments rendered,
//! its environment layered, secrets kept off the command line, the child run through
//! `tools::process` (retried when it only reads), kops's tables read, and a failure turned into
//! a message that says what and what next.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::UserError;
use crate::project::task::{CommandStep, Report, Task};
use crate::tools::process::{self, shell_word};
use crate::tools::retry;
use crate::{atomic, notice, progress};

use super::reports::{report_delete_cluster, report_rolling_update};
use super::scope::{Runner, env_value};

/// The program and its subcommand words, for messages: `terraform plan`, `kops get cluster`.
pub(super) fn command_words(tool: &str, args: &[String]) -> String {
    let mut words = vec![tool];
    words.extend(
        args.iter()
            .map(String::as_str)
            .take_while(|a| !a.starts_with('-') && !a.contains('/') && !a.contains('.'))
            .take(2),
    );
    words.join(" ")
}

pub(super) fn interrupted(signal: i32) -> UserError {
    UserError::with_code(
        format!(
            "interrupted by {}; the running child was waited for and no further step ran",
            process::signal_name(signal)
        ),
        crate::error::exit::interrupted(signal),
    )
}

/// Makes `dir` and its missing parents, readable by the user only.
fn make_folder(dir: &Path) -> Result<(), UserError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            UserError::new(format!(
                "{}: cannot make the folder of a private file: {e}",
                dir.display()
            ))
        })
}

pub(super) fn make_private(path: &Path) -> Result<(), UserError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        UserError::new(format!(
            "{}: expected the step to write this private file, but: {e}",
            path.display()
        ))
    })
}

/// `kops replace -f x` as a user would type it; arguments with blanks or quotes are quoted.
pub(super) fn display_command(program: &str, args: &[String], cwd: Option<&str>) -> String {
    // Written into one buffer: a word that needs no quotes (most) is copied as it is.
    let mut line =
        String::with_capacity(program.len() + args.iter().map(|a| a.len() + 1).sum::<usize>() + 16);
    let push = |line: &mut String, word: &str| {
        if is_plain_word(word) {
            line.push_str(word);
        } else {
            line.push_str(&shell_word(word));
        }
    };
    if let Some(dir) = cwd {
        line.push_str("(cd ");
        push(&mut line, dir);
        line.push_str(" && ");
    }
    push(&mut line, program);
    for a in args {
        line.push(' ');
        push(&mut line, a);
    }
    if cwd.is_some() {
        line.push(')');
    }
    line
}

/// A word [`shell_word`] leaves as it is.
fn is_plain_word(word: &str) -> bool {
    !word.is_empty()
        && word.bytes().all(|c| {
            matches!(c, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
                | b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b',' | b'@' | b'+' | b'%')
        })
}

impl<'p> Runner<'p> {
    pub(super) fn run_command(
        &mut self,
        task_name: &str,
        task: &Task,
        cmd: &CommandStep,
        prefix: &str,
    ) -> Result<(), UserError> {
        let resolved = self.resolve_command(task_name, task, cmd)?;
        // Where it saves its output and which files it makes private, as rendered, are checked
        // before the command runs.
        // (A command's targets are its `save` and `private` files only.)
        if cmd.save.is_some() || !cmd.private.is_empty() {
            let mut targets = CommandStep {
                argv: cmd.argv.clone(),
                ..CommandStep::default()
            };
            if let Some(save) = &cmd.save {
                targets.save =
                    Some(self.render_text(format_args!("task `{task_name}` save"), save)?);
            }
            for p in &cmd.private {
                let rendered = self.render_text(format_args!("task `{task_name}` private"), p)?;
                targets.private.push(rendered);
            }
            self.guard_targets(&crate::project::task::Step::Command(targets))?;
        }
        if self.options.dry_run {
            // `notice!` with the line written into one buffer (300 lines for 100 tasks: issue 19).
            let mut line = String::with_capacity(prefix.len() + resolved.shown.len() + 12);
            line.push_str(prefix);
            line.push_str("would run: ");
            line.push_str(&resolved.shown);
            line.push('\n');
            crate::ui::write_line(true, &line);
            return Ok(());
        }
        let mut resolved = resolved;
        if resolved.kind == retry::Tool::Kops
            && let Some(argv) =
                self.pin_replace(prefix, &resolved.argv, &resolved.cwd, &resolved.env)?
        {
            resolved.shown = self.redactor.mask(&display_command(
                &argv[0],
                &argv[1..],
                resolved.cwd_rel.as_deref(),
            ));
            resolved.argv = argv;
        }
        let executed = self.execute_command(task_name, cmd, prefix, &resolved)?;
        if resolved.kind == retry::Tool::Kops
            && crate::tools::kops::KopsArgs::parse(&resolved.argv[1..]).rolls_instances()
        {
            // Also after a failure: the control plane may be replaced already.
            self.forget_cluster_renders(prefix);
        }
        let finished = &executed.finished;
        if finished.code != 0 {
            return Err(command_failure(
                &resolved.argv,
                finished,
                executed.attempts,
                executed.safety,
            ));
        }
        for path in &executed.private {
            make_private(path)?;
        }
        if let Some(save) = &cmd.save {
            let rel = self.render_text(format_args!("task `{task_name}` save"), save)?;
            // A child's output, masked as the terminal masks it (with every secret the process
            // learned), whole: a multi-line secret is one match here; private all the same, as a
            // secret kopsform does not know may be in it.
            let text = crate::redact::mask_all(&finished.stdout);
            atomic::write(&self.project.path(&rel), text.as_bytes(), 0o600)?;
            progress!("{prefix}saved the output to {rel}");
        }
        let dry_run = !resolved.argv.iter().any(|a| a == "--yes" || a == "-y");
        match cmd.report {
            Some(Report::RollingUpdate) => {
                let fail = cmd.fail_on_update || (self.options.fail_on_update && dry_run);
                report_rolling_update(prefix, &finished.stdout, dry_run, fail)
            }
            Some(Report::DeleteCluster) => {
                let state = self.known_cluster().map(|c| c.state);
                report_delete_cluster(prefix, &finished.stdout, dry_run, state.as_deref())
            }
            None => Ok(()),
        }
    }

    /// A command step resolved: its arguments and folder rendered, its program looked up, its
    /// environment layered, and a secret on its command line refused.
    fn resolve_command(
        &mut self,
        task_name: &str,
        task: &Task,
        cmd: &CommandStep,
    ) -> Result<Resolved, UserError> {
        let mut argv = Vec::with_capacity(cmd.argv.len());
        for (i, arg) in cmd.argv.iter().enumerate() {
            argv.push(
                self.render_text(format_args!("task `{task_name}` argument {}", i + 1), arg)?,
            );
        }
        // `kopsform TASK -- ARGS`: as typed, each one argument, never a template.
        argv.extend(cmd.extra.iter().cloned());
        let tool_name = argv[0].clone();
        let dry_run = self.options.dry_run;
        // Nothing is started in a dry run: its binary is not looked up.
        let program = if dry_run {
            String::new()
        } else {
            self.project.program_for(&tool_name, self.cluster.as_ref())
        };
        let kind = self.project.tool_kind(&tool_name);
        let cwd_rel = match cmd.cwd.as_deref().or(task.cwd.as_deref()) {
            Some(rel) => Some(self.render_text(format_args!("task `{task_name}` cwd"), rel)?),
            None => None,
        };
        let cwd = match cwd_rel.as_deref() {
            Some(rel) => self.project.path(rel),
            None => self.project.dir.clone(),
        };
        // Whether the step runs in the prerequisites layer matters to what a child gets, and to
        // the files a Terraform step is given; a dry run of another tool asks neither.
        let prerequisites = if dry_run && kind != retry::Tool::Terraform {
            None
        } else {
            Some(self.project.path(&self.values.prerequisites_dir()))
        };
        let in_prerequisites = match &prerequisites {
            Some(layer) => self.same_dir(&cwd, layer),
            None => false,
        };
        if let Some(prerequisites) = prerequisites.filter(|_| kind == retry::Tool::Terraform) {
            // The cluster's partial backend and variable files, for its own Terraform layer
            // (any folder but the prerequisites', `-chdir` counted).
            let layer = crate::tools::terraform::chdir(&argv).map_or(cwd.clone(), |d| cwd.join(d));
            if !self.same_dir(&layer, &prerequisites) {
                argv = self.with_cluster_files(&argv)?;
            }
        }
        let is_kops = kind == retry::Tool::Kops;
        let mut env = if self.options.dry_run {
            // Nothing is started: the environment is made for what it does to the line shown
            // (secret values of tasks.toml masked) and its errors (kops needs its cluster), not
            // kept (issue 19: a dry run of 100 tasks spent a fifth of its time on it).
            self.env_layers(task_name, task, &cmd.env)?;
            if is_kops {
                self.require_cluster()?;
            }
            Vec::new()
        } else {
            self.child_env(task_name, task, cmd, &argv, is_kops, in_prerequisites)?
        };
        self.refuse_secret_arguments(&argv)?;
        if in_prerequisites {
            env.extend(self.values.workspace_env());
        }
        // One provider cache for the run (run::plugin_cache), unless the user names one.
        let cache = (kind == retry::Tool::Terraform && !self.options.dry_run).then(|| {
            let cache = super::plugin_cache::for_step(self.project, &env);
            super::plugin_cache::variable(&cache).map(|var| (cache, var))
        });
        let cache = match cache.transpose()? {
            Some((cache, var)) => {
                env.extend(var);
                Some(cache)
            }
            None => None,
        };
        let shown = display_command(&tool_name, &argv[1..], cwd_rel.as_deref());
        let shown = self.redactor.mask(&shown);
        Ok(Resolved {
            argv,
            program,
            kind,
            cwd,
            cwd_rel,
            in_prerequisites,
            env,
            shown,
            cache,
        })
    }

    /// A Terraform argv with the cluster's `backend-config` and `var-files` (rendered with its
    /// plain fields, relative to the project, passed as absolute paths so that they hold in any
    /// folder, the dry run's copy included). A file that does not exist is an error naming it.
    fn with_cluster_files(&mut self, argv: &[String]) -> Result<Vec<String>, UserError> {
        let Some(def) = self.cluster.clone() else {
            return Ok(argv.to_vec());
        };
        let (reads_backend, reads_vars) = crate::tools::terraform::cluster_files_read(argv);
        let adds_backend = reads_backend && !def.config.backend_config.is_empty();
        let adds_vars = reads_vars && !def.config.var_files.is_empty();
        if !adds_backend && !adds_vars {
            return Ok(argv.to_vec());
        }
        let table = if self.project.config.cluster.is_some() {
            "[cluster]".to_string()
        } else {
            format!("[clusters.{}]", def.id)
        };
        let mut resolve = |key: &str, entry: &String, pair_ok: bool| {
            let text = self.render_text(format_args!("{table} {key}"), entry)?;
            let is_pair = text.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if pair_ok && is_pair {
                return Ok(text); // a `key=value` setting of the backend
            }
            let path = self.project.path(&text);
            if !path.is_file() {
                return Err(UserError::new(format!(
                    "{table} {key} names `{text}`, which is not a file ({}); fix the path (relative to the project folder) in {}",
                    path.display(),
                    self.project.file.display()
                )));
            }
            Ok(path.to_string_lossy().into_owned())
        };
        let backend = def
            .config
            .backend_config
            .iter()
            .filter(|_| reads_backend)
            .map(|b| resolve("backend-config", b, true))
            .collect::<Result<Vec<_>, UserError>>()?;
        let vars = def
            .config
            .var_files
            .iter()
            .filter(|_| reads_vars)
            .map(|v| resolve("var-files", v, false))
            .collect::<Result<Vec<_>, UserError>>()?;
        Ok(crate::tools::terraform::with_cluster_files(
            argv, &backend, &vars,
        ))
    }

    /// Runs a resolved command step: the isolated run's pre-flight, the folder hold, the secrets
    /// of the Terraform state learned first, then the child, again after a transient error when it
    /// is safe to repeat.
    fn execute_command(
        &mut self,
        task_name: &str,
        cmd: &CommandStep,
        prefix: &str,
        resolved: &Resolved,
    ) -> Result<Executed, UserError> {
        let Resolved {
            argv,
            program,
            kind,
            cwd,
            in_prerequisites,
            cwd_rel: _,
            env,
            shown,
            cache,
        } = resolved;
        let (kind, in_prerequisites) = (*kind, *in_prerequisites);
        let tool_name = &argv[0];
        if kind == retry::Tool::Kops
            && let Some(snapshot) = self.snapshot.clone()
        {
            self.preflight_kops(&snapshot, &argv[1..], cwd, env)?;
        }
        progress!("{prefix}$ {shown}");
        crate::detail!(
            "{prefix}  in {}; environment set: {}",
            cwd.display(),
            if env.is_empty() {
                "nothing".to_string()
            } else {
                env.iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        let step_started = Instant::now();
        if !cwd.is_dir() {
            return Err(UserError::new(format!(
                "{}: the step's folder does not exist; fix `cwd` in {}",
                cwd.display(),
                self.project.file.display()
            )));
        }
        let private: Vec<PathBuf> = cmd
            .private
            .iter()
            .map(|p| {
                self.render_text(format_args!("task `{task_name}` private"), p)
                    .map(|p| self.project.path(&p))
            })
            .collect::<Result<_, _>>()?;
        // The folder of a private file is made before the command writes it (such as a plan
        // saved into kopsform's own folder, which a fresh clone does not have yet); the paths
        // were checked to be the project's own.
        for path in &private {
            if let Some(parent) = path.parent()
                && !parent.is_dir()
            {
                make_folder(parent)?;
            }
        }
        let is_terraform = kind == retry::Tool::Terraform;
        // Clusters of one stage run in parallel; two Terraform commands never run at once in the
        // same folder and workspace (a shared prerequisites layer), whatever their cluster.
        let _folder = is_terraform.then(|| {
            let workspace = env_value(env, "TF_WORKSPACE").unwrap_or_default();
            self.shared.folders.hold(cwd, &workspace, self.id)
        });
        if is_terraform {
            self.learn_terraform_secrets(program, &argv[1..], cwd, env);
        }
        // `terraform init` fills the shared provider cache: one that may install into it runs
        // alone, ones that provably install nothing run together (run::plugin_cache).
        let _cache_lock = match cache {
            Some(cache) if crate::tools::terraform::subcommand(argv) == Some("init") => {
                super::plugin_cache::lock_for_init(
                    self.project,
                    cache,
                    argv,
                    cwd,
                    prefix,
                    interrupted,
                )?
            }
            _ => None,
        };
        let policy = self.project.retry_policy(Some(task_name));
        let safety = match retry::classify(kind, &argv[1..]) {
            retry::Safety::Unknown if policy.declared_repeatable(tool_name) => {
                retry::Safety::Repeatable
            }
            safety => safety,
        };
        let capture_stdout = cmd.report.is_some() || cmd.save.is_some();
        let words = command_words(tool_name, &argv[1..]);
        let repeated = retry::repeat(
            policy,
            || {
                let finished = process::run_streaming(
                    &process::Command {
                        program,
                        args: &argv[1..],
                        cwd,
                        env,
                        prefix,
                        capture_stdout,
                        transient: policy,
                    },
                    &self.redactor,
                )?;
                if let Some(signal) = process::interrupted() {
                    if in_prerequisites {
                        self.values.invalidate();
                    }
                    return Err(interrupted(signal));
                }
                Ok(finished)
            },
            |finished| {
                finished
                    .transient
                    .clone()
                    .filter(|_| finished.code != 0 && safety == retry::Safety::Repeatable)
            },
            |matched, wait, attempt| {
                notice!(
                    "{prefix}transient error ({matched}); `{words}` is safe to repeat, so it runs again in {} (attempt {attempt} of {})",
                    retry::show(wait),
                    policy.attempts
                );
            },
        )?;
        if repeated.cut_short {
            let signal = process::interrupted().unwrap_or(libc::SIGINT);
            return Err(interrupted(signal));
        }
        if in_prerequisites {
            self.values.invalidate();
        }
        let attempts = repeated.attempts;
        crate::detail!(
            "{prefix}  exited with status {} after {:.1}s{}",
            repeated.last.code,
            step_started.elapsed().as_secs_f64(),
            if attempts > 1 {
                format!(" ({attempts} attempts)")
            } else {
                String::new()
            }
        );
        Ok(Executed {
            finished: repeated.last,
            attempts,
            safety,
            private,
        })
    }
}

/// A command step with everything rendered, ready to start.
struct Resolved {
    /// The arguments as the child gets them; the first is the tool as the step names it.
    argv: Vec<String>,
    /// The binary the first word runs (`[tools]`).
    program: String,
    kind: retry::Tool,
    cwd: PathBuf,
    /// The folder as the step names it, for the command line shown.
    cwd_rel: Option<String>,
    /// The step runs in the prerequisites layer (its outputs are read again after it).
    in_prerequisites: bool,
    env: Vec<(String, String)>,
    /// The command line as shown, masked.
    shown: String,
    /// The provider cache of a Terraform step (`None` for other tools, and in `--dry-run`).
    cache: Option<super::plugin_cache::Cache>,
}

/// How a started command step ended.
struct Executed {
    finished: process::Finished,
    attempts: u32,
    safety: retry::Safety,
    /// Files the step's output must leave readable by its owner only.
    private: Vec<PathBuf>,
}

/// The error of a command step that exited non-zero: its status, the last lines of its stderr,
/// and what to do next, which depends on whether the error looked transient and whether the
/// command was safe to repeat.
fn command_failure(
    argv: &[String],
    finished: &process::Finished,
    attempts: u32,
    safety: retry::Safety,
) -> UserError {
    let tool_name = &argv[0];
    if finished
        .stderr_tail
        .iter()
        .any(|l| l.contains("Saved plan is stale"))
    {
        return UserError::new(
            "the saved plan is stale: the Terraform state changed since it was planned; re-run plan, review it, then apply",
        );
    }
    let words = command_words(tool_name, &argv[1..]);
    let tail = if finished.stderr_tail.is_empty() {
        String::new()
    } else {
        format!(":\n  {}", finished.stderr_tail.join("\n  "))
    };
    let next = match (&finished.transient, safety) {
        (None, _) => format!(
            "\nfix what `{tool_name}` reports (its whole output is above), then run the task again"
        ),
        (Some(m), retry::Safety::Repeatable) if attempts > 1 => format!(
            "\nthe error looked transient ({m}) and `{words}` failed {attempts} times; wait, then run the task again, or raise `attempts` in [retry]"
        ),
        (Some(m), retry::Safety::Repeatable) => format!(
            "\nthe error looked transient ({m}); retries are off (attempts = 1): run the task again"
        ),
        (Some(m), retry::Safety::Mutating) => format!(
            "\nthe error looked transient ({m}), but `{words}` changes things, so kopsform did not run it again: check what it did, then run the task again"
        ),
        (Some(m), retry::Safety::Unknown) => format!(
            "\nthe error looked transient ({m}); kopsform does not know whether `{tool_name}` is safe to repeat: run the task again, or list it in `repeatable` of the task's retry table"
        ),
    };
    UserError::new(format!(
        "`{tool_name}` exited with status {}{tail}{next}",
        finished.code
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(code: i32, tail: &[&str], transient: Option<&str>) -> process::Finished {
        process::Finished {
            code,
            stdout: String::new(),
            stderr_tail: tail.iter().map(|l| l.to_string()).collect(),
            transient: transient.map(str::to_string),
        }
    }

    #[test]
    fn a_failed_step_says_what_to_do_by_whether_it_was_transient_and_safe_to_repeat() {
        let argv: Vec<String> = ["terraform", "plan", "-out", "p"]
            .map(String::from)
            .to_vec();
        let plain = command_failure(
            &argv,
            &finished(1, &["Error: bad"], None),
            1,
            retry::Safety::Repeatable,
        );
        assert_eq!(
            plain.message,
            "`terraform` exited with status 1:\n  Error: bad\nfix what `terraform` reports (its whole output is above), then run the task again"
        );
        let spent = command_failure(
            &argv,
            &finished(1, &[], Some("SlowDown")),
            3,
            retry::Safety::Repeatable,
        );
        assert_eq!(
            spent.message,
            "`terraform` exited with status 1\nthe error looked transient (SlowDown) and `terraform plan` failed 3 times; wait, then run the task again, or raise `attempts` in [retry]"
        );
        let apply: Vec<String> = ["terraform", "apply", "kubernetes.tfplan"]
            .map(String::from)
            .to_vec();
        let mutating = command_failure(
            &apply,
            &finished(1, &[], Some("SlowDown")),
            1,
            retry::Safety::Mutating,
        );
        assert!(mutating.message.ends_with(
            "but `terraform apply` changes things, so kopsform did not run it again: check what it did, then run the task again"
        ));
        let stale = command_failure(
            &apply,
            &finished(1, &["Error: Saved plan is stale"], None),
            1,
            retry::Safety::Mutating,
        );
        assert!(stale.message.starts_with("the saved plan is stale"));
    }

    #[test]
    fn commands_are_shown_quoted() {
        assert_eq!(
            display_command(
                "kops",
                &["replace".into(), "-f".into(), "a b".into()],
                Some("2-kops")
            ),
            "(cd 2-kops && kops replace -f 'a b')"
        );
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    /// The line as it was made before issue 19 (each word quoted, joined), to compare with.
    fn joined(program: &str, args: &[String], cwd: Option<&str>) -> String {
        let mut words = vec![shell_word(program)];
        words.extend(args.iter().map(|a| shell_word(a)));
        let line = words.join(" ");
        match cwd {
            Some(dir) => format!("(cd {} && {line})", shell_word(dir)),
            None => line,
        }
    }

    #[test]
    fn a_command_is_shown_as_a_user_would_type_it() {
        let words = [
            "plan",
            "-out=x.tfplan",
            "a b",
            "it's",
            "",
            "é",
            "$HOME",
            "x;y",
            "--name=a.b",
        ];
        for cwd in [None, Some("2-kops"), Some("my dir"), Some("")] {
            for n in 0..words.len() {
                let args: Vec<String> = words[..n].iter().map(|w| w.to_string()).collect();
                for program in ["terraform", "bin/my tool"] {
                    assert_eq!(
                        display_command(program, &args, cwd),
                        joined(program, &args, cwd)
                    );
                }
            }
        }
        assert_eq!(
            display_command("echo", &["checking layers/00".into()], Some("a b")),
            "(cd 'a b' && echo 'checking layers/00')"
        );
    }
}

//! A command step, from tasks.toml to a finished child: the step's paths and arguments rendered,
//! its environment layered, secrets kept off the command line, the child run through
//! `tools::process` (retried when it only reads), kops's tables read, and a failure turned into
//! a message that says what and what next.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::UserError;
use crate::project::task::{Builtin, CommandStep, RenderStep, Report, Step, Task};
use crate::render::template::substitute_fields;
use crate::tools::process::{self, shell_word};
use crate::tools::{kops, retry};
use crate::{atomic, notice, progress};

use super::scope::{Runner, env_value, same_dir};

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
    let mut words = vec![shell_word(program)];
    words.extend(args.iter().map(|a| shell_word(a)));
    let line = words.join(" ");
    match cwd {
        Some(dir) => format!("(cd {} && {line})", shell_word(dir)),
        None => line,
    }
}

pub(super) fn report_rolling_update(
    prefix: &str,
    stdout: &str,
    dry_run: bool,
    fail_on_update: bool,
) -> Result<(), UserError> {
    let groups = match kops::parse_rolling_update(stdout) {
        Some(Ok(groups)) => groups,
        Some(Err(e)) => return Err(UserError::new(format!("cannot read kops's output: {e}"))),
        None => {
            if fail_on_update {
                return Err(UserError::new(
                    "kops printed no rolling-update table (NAME STATUS NEEDUPDATE ...), so kopsform cannot tell whether an update is needed",
                ));
            }
            progress!("{prefix}kops printed no rolling-update table; nothing to report");
            return Ok(());
        }
    };
    let needing = kops::needing_update(&groups, str::to_string);
    if needing.is_empty() {
        notice!(
            "{prefix}no instance group needs an update ({} checked)",
            groups.len()
        );
        return Ok(());
    }
    let verb = if dry_run { "need" } else { "needed" };
    notice!(
        "{prefix}{} of {} instance groups {verb} an update: {}",
        needing.len(),
        groups.len(),
        needing.join(", ")
    );
    if dry_run && fail_on_update {
        return Err(UserError::with_code(
            "instance groups need a rolling update (--fail-on-update); run the rolling update with --yes",
            crate::error::exit::CHANGES,
        ));
    }
    Ok(())
}

pub(super) fn report_delete_cluster(
    prefix: &str,
    stdout: &str,
    dry_run: bool,
    state: Option<&str>,
) -> Result<(), UserError> {
    let resources = kops::parse_delete_listing(stdout)
        .map_err(|e| UserError::new(format!("cannot read kops's output: {e}")))?;
    let state = state.unwrap_or("the state store");
    if !dry_run {
        notice!(
            "{prefix}kops deleted {} cloud resources and the cluster's objects in {state}",
            resources.len()
        );
        return Ok(());
    }
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for r in &resources {
        match kinds.iter_mut().find(|(k, _)| *k == r.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((r.kind.clone(), 1)),
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    if resources.is_empty() {
        notice!(
            "{prefix}kops lists no cloud resources left for this cluster; --yes removes its objects from {state}"
        );
    } else {
        notice!(
            "{prefix}--yes would delete {} cloud resources ({}) and the cluster's objects in {state}",
            resources.len(),
            kinds.join(", ")
        );
        notice!(
            "{prefix}--unregister would remove only the objects in {state}: the {} resources above would keep running (and costing) with no kops state left to manage or delete them",
            resources.len()
        );
    }
    Ok(())
}

impl<'p> Runner<'p> {
    /// The step with the paths of `render` and built-in steps rendered (`{{cluster.dir}}/plan`).
    pub(super) fn resolve_paths(&mut self, task: &str, step: &Step) -> Result<Step, UserError> {
        let what = format!("task `{task}` path");
        let mut one = |s: &String| self.render_text(&what, s);
        Ok(match step {
            Step::Command(_) => step.clone(),
            Step::Render(r) => Step::Render(RenderStep {
                template: one(&r.template)?,
                out: one(&r.out)?,
                check: r.check,
            }),
            Step::Builtin(b) => Step::Builtin(match b {
                Builtin::ShowOutputs => Builtin::ShowOutputs,
                Builtin::ProviderOverride { out } => Builtin::ProviderOverride { out: one(out)? },
                Builtin::SnapshotState { out } => Builtin::SnapshotState { out: one(out)? },
                Builtin::Copy { from, out } => Builtin::Copy {
                    from: one(from)?,
                    out: one(out)?,
                },
                Builtin::SealPlan { plan, inputs } => Builtin::SealPlan {
                    plan: one(plan)?,
                    inputs: inputs.iter().map(&mut one).collect::<Result<_, _>>()?,
                },
                Builtin::CheckPlan { plan } => Builtin::CheckPlan { plan: one(plan)? },
                Builtin::CheckProtected { plan } => Builtin::CheckProtected { plan: one(plan)? },
                Builtin::Review {
                    plan,
                    out,
                    rolling_update,
                    target,
                    json,
                } => Builtin::Review {
                    plan: one(plan)?,
                    out: one(out)?,
                    rolling_update: rolling_update.as_ref().map(&mut one).transpose()?,
                    target: *target,
                    json: json.as_ref().map(&mut one).transpose()?,
                },
                Builtin::Remove { paths } => Builtin::Remove {
                    paths: paths.iter().map(&mut one).collect::<Result<_, _>>()?,
                },
            }),
        })
    }

    /// `text` rendered with what needs no output (`{{cluster.dir}}`, `{{cluster.id}}`...), when
    /// that is all it uses: a task that only names its folders (prerequisites-apply before
    /// anything exists) must not read the outputs.
    pub(super) fn render_static(&self, text: &str) -> Option<String> {
        let def = self.cluster.as_ref()?;
        let mut fields = crate::values::context::static_fields(def);
        if let Some(state) = self.snapshot.as_ref().map(|s| s.path.clone()) {
            fields.insert("state".into(), serde_json::Value::String(state));
        }
        substitute_fields(text, "cluster", &fields)
    }

    pub(super) fn render_text(&mut self, what: &str, text: &str) -> Result<String, UserError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        if let Some(text) = self.render_static(text) {
            return Ok(text);
        }
        let values = self.values.get(&self.renderer)?;
        self.renderer.render_inline(what, text, &values.context)
    }

    /// The environment a task's children get from tasks.toml: `[env]`, the cluster's, the
    /// task's, then `step_env`, rendered; secret ones are added to the redactor.
    pub(super) fn env_layers(
        &mut self,
        task_name: &str,
        task: &Task,
        step_env: &indexmap::IndexMap<String, String>,
    ) -> Result<Vec<(String, String)>, UserError> {
        let mut env = Vec::new();
        let cluster_env = self
            .cluster
            .as_ref()
            .map(|c| c.config.env.clone())
            .unwrap_or_default();
        let cluster_id = self
            .cluster
            .as_ref()
            .map_or("", |c| c.id.as_str())
            .to_string();
        let layers = [
            (&self.project.config.env, "[env]".to_string()),
            (&cluster_env, format!("cluster `{cluster_id}` env")),
            (&task.env, format!("task `{task_name}` env")),
            (step_env, format!("task `{task_name}` step env")),
        ];
        for (vars, what) in layers {
            for (k, v) in vars {
                let value = self.render_text(&format!("{what} {k}"), v)?;
                if self.redactor.is_secret_var(k) {
                    self.redactor.add(value.clone());
                }
                env.push((k.clone(), value));
            }
        }
        Ok(env)
    }

    /// The environment added for a child: [`Self::env_layers`] with the step's own, and what
    /// kopsform adds (the cluster for kops, the snapshot's kubeconfig, Terraform's automation
    /// settings off a terminal).
    pub(super) fn child_env(
        &mut self,
        task_name: &str,
        task: &Task,
        cmd: &CommandStep,
        is_kops: bool,
        in_prerequisites: bool,
    ) -> Result<Vec<(String, String)>, UserError> {
        let mut env = self.env_layers(task_name, task, &cmd.env)?;
        // kops always learns its cluster; other tools do when the values are at hand.
        let cluster = if is_kops {
            Some(self.require_cluster()?)
        } else if !in_prerequisites {
            self.known_cluster()
        } else {
            None
        };
        if let Some(cluster) = cluster {
            env.push(("KOPS_CLUSTER_NAME".into(), cluster.name));
            env.push(("KOPS_STATE_STORE".into(), cluster.state));
        }
        if let Some(snapshot) = &self.snapshot {
            // An isolated run never reads or writes the user's kubeconfig (kops would use it to
            // reach the live API server).
            let kubeconfig = Path::new(&snapshot.path).with_file_name("kubeconfig");
            env.push((
                "KUBECONFIG".into(),
                kubeconfig.to_string_lossy().into_owned(),
            ));
        }
        if !process::stdin_is_terminal() {
            // terraform: behave as with -input=false on every subcommand, and say it is automated.
            env.push(("TF_INPUT".into(), "0".into()));
            env.push(("TF_IN_AUTOMATION".into(), "1".into()));
        }
        Ok(env)
    }

    /// A secret never goes on a command line, where every user of the machine can read it
    /// (`ps`, /proc/PID/cmdline): the step is refused, in a dry run too, before anything runs.
    pub(super) fn refuse_secret_arguments(
        &mut self,
        task_name: &str,
        argv: &[String],
    ) -> Result<(), UserError> {
        // The environment of the step is rendered first, so the secrets it names are known.
        let Some(i) = argv.iter().position(|a| self.redactor.contains_secret(a)) else {
            return Ok(());
        };
        let what = if i == 0 {
            "its program".to_string()
        } else {
            format!("argument {i}")
        };
        Err(UserError::new(format!(
            "task `{task_name}`: {what} of `{}` holds a secret value (a sensitive output, or a variable of `secret-env`), and a command line is visible to every user of the machine (ps); pass it in the environment instead (e.g. env = {{ TF_VAR_name = \"{{{{output}}}}\" }} in the task, read by the program), or in a file rendered with mode 0600",
            self.redactor.mask(&argv[0])
        )))
    }

    /// Before a Terraform command that prints resource values (plan, apply, destroy, refresh), the
    /// values its state (or the saved plan it applies) marks sensitive are added to the redactor:
    /// Terraform's own text shows some of them in clear. Read once per state or plan per run (once it succeeded, retried on transient errors); a
    /// folder without state (or not initialised yet) has nothing to learn.
    pub(super) fn learn_terraform_secrets(
        &mut self,
        program: &str,
        args: &[String],
        cwd: &Path,
        env: &[(String, String)],
    ) {
        let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let Some(command) = words.first().map(|w| w.as_str()) else {
            return;
        };
        if !matches!(command, "plan" | "apply" | "destroy" | "refresh") {
            return;
        }
        let saved_plan = (command == "apply")
            .then(|| words.get(1))
            .flatten()
            .map(|p| cwd.join(p))
            .filter(|p| p.is_file());
        let key = saved_plan
            .clone()
            .unwrap_or_else(|| cwd.join(".terraform-state"));
        let key = key.canonicalize().unwrap_or(key);
        if self.learned.contains(&key) {
            return;
        }
        let mut show = vec!["show".to_string(), "-json".to_string()];
        if let Some(plan) = &saved_plan {
            show.push(plan.to_string_lossy().into_owned());
        }
        let show: Vec<&str> = show.iter().map(String::as_str).collect();
        // A read like any other: again after a transient error; learned only once it succeeded,
        // so a failed read is tried again before the next command in this folder.
        let policy = self.project.retry_policy(None);
        if let Ok(process::Output {
            code: 0, stdout, ..
        }) = retry::run_captured(&policy, program, &show, cwd, env)
        {
            self.learned.insert(key);
            self.learn_from_show(&stdout);
        }
    }

    /// Adds the values `terraform show -json` output marks sensitive to the redactor.
    pub(super) fn learn_from_show(&self, json: &[u8]) {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(json) {
            for secret in crate::redact::sensitive_strings(&json) {
                self.redactor.add(secret);
            }
        }
    }

    pub(super) fn run_command(
        &mut self,
        task_name: &str,
        task: &Task,
        cmd: &CommandStep,
        prefix: &str,
    ) -> Result<(), UserError> {
        let resolved = self.resolve_command(task_name, task, cmd)?;
        if self.options.dry_run {
            notice!("{prefix}would run: {}", resolved.shown);
            return Ok(());
        }
        let executed = self.execute_command(task_name, task, cmd, prefix, &resolved)?;
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
            let rel = self.render_text(&format!("task `{task_name}` save"), save)?;
            let text = self.redactor.mask(&finished.stdout);
            atomic::write(&self.project.path(&rel), text.as_bytes(), 0o644)?;
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
            argv.push(self.render_text(&format!("task `{task_name}` argument {}", i + 1), arg)?);
        }
        let tool_name = argv[0].clone();
        let program = self.project.tool_or_default(&tool_name);
        let kind = self.project.tool_kind(&tool_name);
        let cwd_rel = match cmd.cwd.as_deref().or(task.cwd.as_deref()) {
            Some(rel) => Some(self.render_text(&format!("task `{task_name}` cwd"), rel)?),
            None => None,
        };
        let cwd = match cwd_rel.as_deref() {
            Some(rel) => self.project.path(rel),
            None => self.project.dir.clone(),
        };
        let prerequisites = self.project.path(&self.values.prerequisites_dir());
        let in_prerequisites = same_dir(&cwd, &prerequisites);
        let is_kops = kind == retry::Tool::Kops;
        let mut env = self.child_env(task_name, task, cmd, is_kops, in_prerequisites)?;
        self.refuse_secret_arguments(task_name, &argv)?;
        if in_prerequisites {
            env.extend(self.values.workspace_env());
        }
        let shown = display_command(&tool_name, &argv[1..], cwd_rel.as_deref());
        let shown = self.redactor.mask(&shown);
        Ok(Resolved {
            argv,
            program,
            kind,
            cwd,
            in_prerequisites,
            env,
            shown,
        })
    }

    /// Runs a resolved command step: the isolated run's pre-flight, the folder hold, the secrets
    /// of the Terraform state learned first, then the child, again after a transient error when it
    /// is safe to repeat.
    fn execute_command(
        &mut self,
        task_name: &str,
        task: &Task,
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
            env,
            shown,
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
                self.render_text(&format!("task `{task_name}` private"), p)
                    .map(|p| self.project.path(&p))
            })
            .collect::<Result<_, _>>()?;
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
        let policy = self.project.retry_policy(Some(task));
        let safety = match retry::classify(kind, &argv[1..]) {
            retry::Safety::Unknown if policy.declared_repeatable(tool_name) => {
                retry::Safety::Repeatable
            }
            safety => safety,
        };
        let capture_stdout = cmd.report.is_some() || cmd.save.is_some();
        let words = command_words(tool_name, &argv[1..]);
        let repeated = retry::repeat(
            &policy,
            || {
                let finished = process::run_streaming(
                    &process::Command {
                        program,
                        args: &argv[1..],
                        cwd,
                        env,
                        prefix,
                        capture_stdout,
                        transient: &policy,
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
    /// The step runs in the prerequisites layer (its outputs are read again after it).
    in_prerequisites: bool,
    env: Vec<(String, String)>,
    /// The command line as shown, masked.
    shown: String,
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

//! What one command line adds to the tasks of tasks.toml: the arguments of `kopsform TASK -- ARGS`
//! (appended to one step of the task) and the values of `--param NAME=VALUE` (the task's declared
//! parameters, `{{params.NAME}}` in its steps).
//!
//! Both are settled here, before anything runs, so that a mistake (an ambiguous step, a missing or
//! undeclared parameter, a credential on the command line) exits 64 with nothing started. The
//! passed arguments are put into the loaded project itself (the step's `extra`, and with an
//! appended `--yes` the task's `confirm`, `lock` and `retry`): every later part of the run (the
//! dry run's lines, the secret-on-argv refusal, confirmations, the lock, retries) then treats them
//! as it treats tasks.toml, with no second path to get wrong. (`Project::pass_through` and
//! `Project::params` hand this module the parts of the project it reads.)

use std::path::Path;

use indexmap::IndexMap;

use super::task::{CommandStep, Confirm, Param, Step, Task};
use crate::error::{UserError, exit};
use crate::tools::retry::Tool;

/// Whether a passed argument asks the tool to act rather than show: kops's `--yes` (`-y`), or
/// Terraform's `-auto-approve`.
pub(crate) fn confirms(arg: &str) -> bool {
    let (flag, value) = match arg.split_once('=') {
        Some((flag, value)) => (flag, Some(value)),
        None => (arg, None),
    };
    matches!(flag, "--yes" | "-y" | "-auto-approve" | "--auto-approve")
        && value.is_none_or(|v| v.eq_ignore_ascii_case("true"))
}

/// Checks a task's `params` and `pass-through` keys when tasks.toml is read.
pub(crate) fn check_task(name: &str, task: &Task) -> Result<(), String> {
    for (param, declared) in &task.params {
        let valid = param
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && param.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "task `{name}`: parameter `{param}`: a parameter name is letters, digits and `_`, starting with a letter or `_` (it is used as {{{{params.{param}}}}} and --param {param}=VALUE)"
            ));
        }
        if declared.required == Some(true) && declared.default.is_some() {
            return Err(format!(
                "task `{name}`: parameter `{param}` is `required = true` and has a `default`; keep one: a default makes it optional"
            ));
        }
    }
    let marked = task
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Command(c) if c.pass_through))
        .count();
    if marked > 1 {
        return Err(format!(
            "task `{name}`: {marked} steps have `pass-through = true`; mark the one step that `kopsform {name} -- ARGS` appends to"
        ));
    }
    Ok(())
}

/// How a step is named in messages: `step 2 (kops update cluster)`.
fn step_name(i: usize, c: &CommandStep) -> String {
    let words: Vec<&str> = c
        .argv
        .iter()
        .map(String::as_str)
        .take_while(|a| !a.starts_with('-') && !a.contains("{{"))
        .take(3)
        .collect();
    format!("step {} ({})", i + 1, words.join(" "))
}

/// The step of task `name` that passed arguments go to: the one marked `pass-through = true`, else
/// its only kops or Terraform command step.
fn pass_through_step(
    kind: &dyn Fn(&str) -> Tool,
    file: &Path,
    name: &str,
    task: &Task,
) -> Result<usize, UserError> {
    let usage = |message: String| UserError::with_code(message, exit::USAGE);
    if let Some(i) = task
        .steps
        .iter()
        .position(|s| matches!(s, Step::Command(c) if c.pass_through))
    {
        return Ok(i);
    }
    let tools: Vec<(usize, &CommandStep)> = task
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Step::Command(c) if matches!(kind(&c.argv[0]), Tool::Kops | Tool::Terraform) => {
                Some((i, c))
            }
            _ => None,
        })
        .collect();
    match tools.as_slice() {
        [(i, _)] => Ok(*i),
        [] => Err(usage(format!(
            "task `{name}` has no kops or terraform step to pass the arguments after `--` to; nothing was run. Pass arguments to a task that runs one, or mark a `run` step of `{name}` with `pass-through = true` in {}",
            file.display()
        ))),
        several => Err(usage(format!(
            "task `{name}` has {} kops and terraform steps ({}), and kopsform does not guess which one the arguments after `--` are for; nothing was run. Mark that step with `pass-through = true` in {}",
            several.len(),
            several
                .iter()
                .map(|(i, c)| step_name(*i, c))
                .collect::<Vec<_>>()
                .join(", "),
            file.display()
        ))),
    }
}

/// The task and step that `args` (from `kopsform TASK -- ARGS`) go to: the one task named on the
/// command line, its pass-through step ([`pass_through_step`]); `None` without arguments, or for
/// a task tasks.toml lacks (the task order names it, with suggestions). A credential among the
/// arguments is refused here.
pub(crate) fn pass_through_target(
    tasks: &IndexMap<String, Task>,
    file: &Path,
    kind: &dyn Fn(&str) -> Tool,
    secret_env: &[String],
    requested: &[String],
    args: &[String],
) -> Result<Option<(String, usize)>, UserError> {
    if args.is_empty() {
        return Ok(None);
    }
    let name = match requested {
        [one] => one.clone(),
        _ => {
            return Err(UserError::with_code(
                format!(
                    "arguments after `--` go to one task, and {} tasks are named ({}); nothing was run. Run the task that takes them on its own (its dependencies still run)",
                    requested.len(),
                    requested.join(", ")
                ),
                exit::USAGE,
            ));
        }
    };
    let Some(task) = tasks.get(&name) else {
        return Ok(None);
    };
    refuse_credentials(secret_env, args)?;
    let step = pass_through_step(kind, file, &name, task)?;
    Ok(Some((name, step)))
}

/// Appends `args` to step `step` of task `name`. With a confirming argument (`--yes`), the task
/// confirms, locks the cluster and is never retried, as a task of tasks.toml that changes the
/// cluster.
pub(crate) fn append(task: &mut Task, name: &str, step: usize, args: Vec<String>) {
    let acts = args.iter().any(|a| confirms(a));
    let Some(Step::Command(command)) = task.steps.get_mut(step) else {
        return;
    };
    command.extra = args;
    let tool = command.argv[0].clone();
    if acts {
        if task.confirmation(name).is_none() {
            task.confirm = Some(Confirm::Prompt(format!(
                "Run task `{name}` with `--yes` passed to `{tool}`?"
            )));
        }
        task.lock = Some(true);
        let mut retry = task.retry.clone().unwrap_or_default();
        retry.attempts = Some(1);
        task.retry = Some(retry);
    }
}

/// Refuses passed arguments that put a credential on the command line, before anything runs: the
/// value of a secret variable of kopsform's environment (in any form the redactor knows), or an
/// assignment to a secret variable (`AWS_SECRET_ACCESS_KEY=...`, `-var db_password=...` where
/// `secret-env` names it). The values the run learns later (sensitive outputs) are checked again
/// by the runner before the first task.
fn refuse_credentials(secret_env: &[String], args: &[String]) -> Result<(), UserError> {
    let redactor = crate::redact::Redactor::new(secret_env);
    for (i, arg) in args.iter().enumerate() {
        let named = arg
            .trim_start_matches('-')
            .strip_prefix("var=")
            .unwrap_or(arg.trim_start_matches('-'))
            .split_once('=')
            .map(|(k, _)| k)
            .filter(|k| {
                redactor.is_secret_var(k)
                    || redactor.is_secret_var(&format!("TF_VAR_{k}"))
                    || redactor.is_secret_var(&k.to_ascii_uppercase())
            });
        let form = redactor.find_secret(arg);
        if named.is_none() && form.is_none() {
            continue;
        }
        let what = match (named, form) {
            (Some(k), _) => format!("sets `{k}`, a secret variable"),
            (None, Some(crate::redact::Form::Clear)) | (None, None) => {
                "holds a secret value".to_string()
            }
            (None, Some(form)) => format!("holds a secret value, {}", form.describe()),
        };
        return Err(UserError::with_code(
            format!(
                "argument {} after `--` {what}, and a command line is visible to every user of the machine (ps); nothing was run. Pass it in the environment instead (an `env` table of the task in tasks.toml, or `secret-env`)",
                i + 1
            ),
            exit::USAGE,
        ));
    }
    Ok(())
}

/// The parameters of a run: each one declared by a task of `tasks` (the tasks that run,
/// dependencies included), from `given` (`--param NAME=VALUE`), else its default. A parameter
/// given but declared by none of them, or required and not given, exits 64 with its name.
pub(crate) fn resolve_params(
    all: &IndexMap<String, Task>,
    tasks: &[String],
    given: &IndexMap<String, String>,
) -> Result<IndexMap<String, String>, UserError> {
    let mut declared: IndexMap<&str, (&str, &Param)> = IndexMap::new();
    for name in tasks {
        for (param, p) in &all[name].params {
            declared.entry(param.as_str()).or_insert((name.as_str(), p));
        }
    }
    for name in given.keys() {
        if !declared.contains_key(name.as_str()) {
            let known = if declared.is_empty() {
                "the tasks of this run declare none".to_string()
            } else {
                format!(
                    "they declare {}",
                    declared
                        .iter()
                        .map(|(p, (t, _))| format!("`{p}` (task `{t}`)"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(UserError::with_code(
                format!(
                    "--param {name}: no task of this run declares a parameter `{name}` ({known}); nothing was run. `kopsform list` shows each task's parameters"
                ),
                exit::USAGE,
            ));
        }
    }
    let mut values = IndexMap::new();
    let mut missing = Vec::new();
    for (param, (task, p)) in &declared {
        match (given.get(*param), &p.default) {
            (Some(value), _) => {
                values.insert(param.to_string(), value.clone());
            }
            (None, Some(default)) => {
                values.insert(param.to_string(), default.clone());
            }
            (None, None) if p.is_required() => {
                let help = if p.help.is_empty() {
                    String::new()
                } else {
                    format!(": {}", p.help)
                };
                missing.push(format!(
                    "task `{task}` needs the parameter `{param}`{help}; pass --param {param}=VALUE"
                ));
            }
            (None, None) => {
                values.insert(param.to_string(), String::new());
            }
        }
    }
    if !missing.is_empty() {
        return Err(UserError::with_code(
            format!("{}\nnothing was run", missing.join("\n")),
            exit::USAGE,
        ));
    }
    Ok(values)
}

/// `NAME=VALUE` of `--param`, split; the value may hold anything, `=` included.
pub(crate) fn parse_param(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!(
            "expected NAME=VALUE, e.g. --param ig=nodes (got `{arg}`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirming_arguments_are_kops_yes_and_terraform_auto_approve() {
        for yes in [
            "--yes",
            "-y",
            "--yes=true",
            "-auto-approve",
            "--auto-approve=TRUE",
        ] {
            assert!(confirms(yes), "{yes}");
        }
        for no in [
            "--yes=false",
            "yes",
            "--yesterday",
            "-target=x",
            "--name=--yes",
        ] {
            assert!(!confirms(no), "{no}");
        }
    }

    fn tasks(text: &str) -> IndexMap<String, Task> {
        crate::project::schema::parse(text)
            .expect("tasks.toml")
            .tasks
    }

    fn kind(word: &str) -> Tool {
        match word {
            "kops" => Tool::Kops,
            "terraform" => Tool::Terraform,
            _ => Tool::Other,
        }
    }

    fn target(
        all: &IndexMap<String, Task>,
        task: &str,
        args: &[&str],
    ) -> Result<Option<(String, usize)>, UserError> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        pass_through_target(
            all,
            Path::new("tasks.toml"),
            &kind,
            &[],
            &[task.to_string()],
            &args,
        )
    }

    #[test]
    fn the_pass_through_step_is_the_marked_one_else_the_only_kops_or_terraform_one() {
        let all = tasks(
            r#"
[tasks.one]
steps = [["echo", "x"], ["kops", "get"], { builtin = "show-outputs" }]
[tasks.two]
steps = [["kops", "get"], ["terraform", "plan"]]
[tasks.marked]
steps = [["kops", "get"], { run = ["./script"], pass-through = true }]
[tasks.none]
steps = [["echo", "x"], { builtin = "show-outputs" }]
"#,
        );
        assert_eq!(
            target(&all, "one", &["-v"]).unwrap(),
            Some(("one".into(), 1))
        );
        assert_eq!(
            target(&all, "marked", &["-v"]).unwrap(),
            Some(("marked".into(), 1))
        );
        assert_eq!(target(&all, "one", &[]).unwrap(), None);
        assert_eq!(target(&all, "unknown", &["-v"]).unwrap(), None);
        for refused in ["two", "none"] {
            let e = target(&all, refused, &["-v"]).unwrap_err();
            assert_eq!(e.code, exit::USAGE, "{}", e.message);
        }
        let e = target(&all, "one", &["--x", "AWS_SECRET_ACCESS_KEY=abc"]).unwrap_err();
        assert!(
            e.message
                .starts_with("argument 2 after `--` sets `AWS_SECRET_ACCESS_KEY`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_appended_yes_makes_the_task_confirm_lock_and_run_once() {
        let mut all = tasks("[tasks.t]\nlock = false\nsteps = [[\"kops\", \"get\"]]\n");
        let task = all.get_mut("t").unwrap();
        append(task, "t", 0, vec!["-o".into(), "yaml".into()]);
        assert!(task.confirmation("t").is_none() && task.lock == Some(false));
        append(task, "t", 0, vec!["--yes".into()]);
        assert_eq!(
            task.confirmation("t").as_deref(),
            Some("Run task `t` with `--yes` passed to `kops`?")
        );
        assert_eq!(task.lock, Some(true));
        assert_eq!(task.retry.as_ref().and_then(|r| r.attempts), Some(1));
        let Step::Command(c) = &task.steps[0] else {
            panic!()
        };
        assert_eq!(c.extra, vec!["--yes".to_string()]);
    }

    #[test]
    fn parameters_come_from_the_command_line_else_their_default_and_are_checked() {
        let all = tasks(
            r#"
[tasks.a]
params = { ig = { required = true, help = "the group" }, n = { default = "3" } }
[tasks.b]
deps = ["a"]
params = { n = { default = "9" }, opt = { required = false } }
"#,
        );
        let order = ["a".to_string(), "b".to_string()];
        let given: IndexMap<String, String> = [("ig".to_string(), "x y".to_string())].into();
        let values = resolve_params(&all, &order, &given).unwrap();
        assert_eq!(
            values.into_iter().collect::<Vec<_>>(),
            [("ig", "x y"), ("n", "3"), ("opt", "")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .to_vec()
        );
        let missing = resolve_params(&all, &order, &IndexMap::new()).unwrap_err();
        assert_eq!(missing.code, exit::USAGE);
        assert_eq!(
            missing.message,
            "task `a` needs the parameter `ig`: the group; pass --param ig=VALUE\nnothing was run"
        );
        let stray: IndexMap<String, String> = [("x".to_string(), "1".to_string())].into();
        let e = resolve_params(&all, &["b".to_string()], &stray).unwrap_err();
        assert_eq!(e.code, exit::USAGE);
        assert!(e.message.starts_with("--param x: no task of this run declares a parameter `x` (they declare `n` (task `b`), `opt` (task `b`))"), "{}", e.message);
    }

    #[test]
    fn a_param_value_keeps_its_equals_signs_and_a_name_is_needed() {
        assert_eq!(
            parse_param("ig=a=b c"),
            Ok(("ig".to_string(), "a=b c".to_string()))
        );
        assert!(parse_param("=x").is_err());
        assert!(parse_param("ig").is_err());
    }
}

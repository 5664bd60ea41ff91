//! What kopsform says: `--quiet`, `--verbose`, `--json` (list, run summary, review, audit), colour
//! from NO_COLOR / FORCE_COLOR / the terminal, and the live indicator of a long step on a terminal
//! only.

use crate::support::Project;

const TASKS: &str = r#"
[tasks.build]
desc = "build it"
steps = [["sh", "-c", "echo built"]]
[tasks.check]
desc = "check it"
deps = ["build"]
confirm = "Really check?"
steps = [["sh", "-c", "echo checked; exit $CHECK_STATUS"]]
"#;

fn project() -> Project {
    let mut p = Project::new();
    p.file("tasks.toml", TASKS);
    p.env("CHECK_STATUS", "0");
    p
}

/// kopsform's raw output (colours kept).
fn raw(p: &Project, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = p.command(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quiet_and_verbose_say_less_and_more() {
    let mut p = project();
    let run = p.kopsform(&["--yes", "--quiet", "check"]);
    run.success()
        .stdout_has("[build] built\n")
        .stdout_has("[check] checked\n");
    assert!(!run.stderr.contains("$ sh"), "{}", run.stderr);
    assert!(!run.stderr.contains("STATUS"), "{}", run.stderr);
    // A failure still shows the summary and the error.
    p.env("CHECK_STATUS", "1");
    p.kopsform(&["--yes", "-q", "check"])
        .failure(1)
        .stderr_has("check  failed")
        .stderr_has("kopsform: error: task `check`");
    p.env("CHECK_STATUS", "0");

    let run = p.kopsform(&["--yes", "--verbose", "build"]);
    run.success()
        .stderr_has("[build] $ sh -c 'echo built'\n")
        .stderr_has(&format!(
            "[build]   in {}; environment set: ",
            p.path().display()
        ))
        .stderr_has("[build]   exited with status 0 after ");
    p.kopsform(&["-q", "-v", "build"]).failure(64);
}

#[test]
fn json_list_run_and_review_put_one_document_on_stdout() {
    let mut p = project();
    let run = p.kopsform(&["--json", "list"]);
    run.success();
    let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(list[0]["name"], "build");
    assert_eq!(list[1]["deps"][0], "build");
    assert_eq!(list[1]["confirm"], "Really check?");
    assert!(list[0]["confirm"].is_null());

    // The run: child stdout goes to stderr, stdout holds the summary alone.
    let run = p.kopsform(&["--yes", "--json", "check"]);
    run.success().stderr_has("[check] checked\n");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["exit_status"], 0);
    assert_eq!(doc["tasks"][0]["task"], "build");
    assert_eq!(doc["tasks"][1]["status"], "ok");
    assert!(doc["tasks"][1]["duration_ms"].is_u64());
    p.env("CHECK_STATUS", "1");
    let run = p.kopsform(&["--yes", "--json", "check"]);
    run.failure(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["exit_status"], 1);
    assert_eq!(doc["tasks"][1]["status"], "failed");

    // review --json is review --format json.
    let plan = crate::support::repo().join("tests/fixtures/plans/minimal-aws-steady.plan.json");
    let plan = plan.display().to_string();
    let a = p.kopsform(&["--json", "review", &plan]);
    let b = p.kopsform(&["review", "--format", "json", &plan]);
    assert_eq!((a.code, &a.stdout), (b.code, &b.stdout));
    let review: serde_json::Value = serde_json::from_str(&a.stdout).unwrap();
    assert!(review["exit_status"].is_i64(), "{review}");
}

#[test]
fn colour_follows_no_color_force_color_and_the_terminal() {
    let p = project();
    let green = "\x1b[32m";
    let (_, _, stderr) = raw(&p, &["build"], &[]);
    assert!(
        !stderr.contains('\x1b'),
        "no colour off a terminal: {stderr:?}"
    );
    let (_, _, stderr) = raw(&p, &["build"], &[("FORCE_COLOR", "1")]);
    assert!(stderr.contains(green), "{stderr:?}");
    let (_, _, stderr) = raw(&p, &["build"], &[("FORCE_COLOR", "1"), ("NO_COLOR", "1")]);
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    let (_, _, stderr) = raw(&p, &["nope"], &[("FORCE_COLOR", "1")]);
    assert!(stderr.contains("\x1b[1;31mkopsform: error:"), "{stderr:?}");
}

#[test]
fn a_long_step_shows_a_live_indicator_on_a_terminal_only() {
    crate::support::require("script", "apt-get install bsdutils (util-linux's script)");
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[tasks.slow]\nsteps = [[\"sh\", \"-c\", \"echo begin; sleep 2.5; echo end\"]]\n",
    );
    // On a terminal (script(1) gives kopsform a pseudo-terminal).
    let command = format!("{} slow", env!("CARGO_BIN_EXE_kopsform"));
    let run = p.tool(".", "script", &["-qec", &command, "/dev/null"]);
    run.success();
    let tty = String::from_utf8_lossy(run.stdout.as_bytes()).into_owned();
    assert!(tty.contains("[slow] sh ... 2s"), "{tty:?}");
    assert!(tty.contains("[slow] end"), "{tty:?}");
    // Off a terminal (a CI log): no indicator.
    let (_, stdout, stderr) = raw(&p, &["slow"], &[]);
    assert!(!format!("{stdout}{stderr}").contains(" ... "), "{stderr:?}");
    // --quiet on a terminal: none either.
    let run = p.tool(
        ".",
        "script",
        &["-qec", &format!("{command} -q"), "/dev/null"],
    );
    assert!(!run.stdout.contains(" ... "), "{:?}", run.stdout);
}

#[test]
fn every_subcommand_has_examples_in_its_help() {
    let p = Project::new();
    for command in [
        &["run"][..],
        &["list"],
        &["audit"],
        &["doctor"],
        &["graph"],
        &["completions"],
        &["man"],
        &["import"],
        &["unlock"],
        &["review"],
        &["affected"],
        &["ci"],
        &["ci", "gitlab"],
        &["ci", "github"],
        &["ci", "jenkins"],
        &["ci", "comment"],
        &["ci", "approve-text"],
        &["ci", "approval"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let run = p.kopsform(&args);
        run.success();
        assert!(
            run.stdout.contains("Example"),
            "{command:?} --help has no examples:\n{}",
            run.stdout
        );
    }
    p.kopsform(&["--help"]).success().stdout_has("Exit status:");
}

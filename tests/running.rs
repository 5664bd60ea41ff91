//! Running tasks: discovery, order, dry run, confirmation, child output and exit statuses.

use crate::support::{Project, require_terraform};

const OUTPUTS: &str = r#"{
  "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"},
  "kops_s3_bucket": {"sensitive": false, "type": "string", "value": "kops-state"},
  "evil": {"sensitive": false, "type": "string", "value": "a b; touch pwned $(touch pwned2)"},
  "ssh_key": {"sensitive": true, "type": "string", "value": "sekrit-ssh-key-123"}
}"#;

/// A project whose prerequisites layer has the outputs above, applied with real terraform.
fn project_with_outputs(tasks: &str) -> Project {
    require_terraform();
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    p.file("tasks.toml", tasks);
    p
}

#[test]
fn a_relative_program_is_found_in_the_project_from_any_folder() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[tasks.hi]\ncwd = \"sub\"\nsteps = [[\"./scripts/hi.sh\"]]\n",
    );
    p.script(
        "scripts/hi.sh",
        "#!/bin/sh\necho \"hi from $(basename \"$PWD\")\"\n",
    );
    p.file("sub/x.txt", "");
    p.kopsform_in(&p.join("sub"), &["hi"])
        .success()
        .stdout_has("[hi] hi from sub\n");
    Project::new()
        .kopsform(&["-C", p.path().to_str().unwrap(), "hi"])
        .success()
        .stdout_has("[hi] hi from sub\n");
}

#[test]
fn list_shows_tasks_in_file_order_from_any_subfolder() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[tasks.zeta]\ndesc = \"last letter\"\n[tasks.alpha]\ndesc = \"first letter\"\nconfirm = true\n",
    );
    p.file("deep/er/x.txt", "");
    let run = p.kopsform_in(&p.join("deep/er"), &["list"]);
    run.success();
    assert_eq!(
        run.stdout,
        "zeta   last letter\nalpha  first letter [confirm]\n"
    );
    let other = Project::new();
    other
        .kopsform(&["-C", p.path().to_str().unwrap(), "list"])
        .success()
        .stdout_has("zeta");
}

#[test]
fn no_tasks_file_is_a_clear_error() {
    let p = Project::new();
    p.kopsform(&["list"])
        .failure(1)
        .stderr_has("no tasks.toml in")
        .stderr_has("pass -C DIR");
    p.kopsform(&["-C", "nowhere", "list"])
        .failure(1)
        .stderr_has("-C must name a kopsform project");
}

#[test]
fn dependencies_run_once_in_order_with_prefixed_output() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        r#"
[tasks.a]
deps = ["b", "c"]
steps = [["echo", "A"]]
[tasks.b]
deps = ["c"]
steps = [["echo", "B"]]
[tasks.c]
steps = [["echo", "C"], ["sh", "-c", "echo to-stderr >&2"]]
"#,
    );
    let run = p.kopsform(&["a", "b"]);
    run.success();
    assert_eq!(run.stdout, "[c] C\n[b] B\n[a] A\n");
    run.stderr_has("[c] to-stderr\n")
        .stderr_has("[c] $ echo C\n")
        .stderr_has("TASK  STATUS       DURATION\nc     ok");
}

#[test]
fn a_failing_child_passes_its_status_through_and_stops_the_run() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        r#"
[tasks.first]
steps = [["sh", "-c", "echo 'Error: something broke' >&2; exit 3"]]
[tasks.second]
deps = ["first"]
steps = [["touch", "second-ran"]]
"#,
    );
    let run = p.kopsform(&["run", "second"]);
    // The child's status is named, but kopsform exits 1: 2, 3, 64, 75 keep their own meaning.
    run.failure(1)
        .stderr_has(
            "kopsform: error: task `first`: `sh` exited with status 3:\n  Error: something broke",
        )
        .stderr_has("second  not run");
    assert!(!p.exists("second-ran"));
}

#[test]
fn a_missing_tool_says_how_to_configure_it() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[tools]\nterraform = \"no-such-terraform-binary\"\n[tasks.t]\nsteps = [[\"terraform\", \"version\"]]\n",
    );
    p.kopsform(&["t"])
        .failure(127)
        .stderr_has("`no-such-terraform-binary` was not found")
        .stderr_has("[tools] table");
}

#[test]
fn tools_table_swaps_the_binary_and_relative_paths_are_from_the_project() {
    let p = Project::new();
    p.script("bin/fake-tf", "#!/bin/sh\necho \"fake terraform $*\"\n");
    p.file(
        "tasks.toml",
        "[tools]\nterraform = \"bin/fake-tf\"\n[tasks.t]\ncwd = \"sub\"\nsteps = [[\"terraform\", \"plan\"]]\n",
    );
    std::fs::create_dir_all(p.join("sub")).unwrap();
    p.kopsform(&["t"])
        .success()
        .stdout_has("[t] fake terraform plan");
}

#[test]
fn confirm_without_terminal_fails_before_anything_runs() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        r#"
[tasks.prepare]
steps = [["touch", "prepared"]]
[tasks.apply]
deps = ["prepare"]
confirm = true
steps = [["touch", "applied"]]
"#,
    );
    p.kopsform(&["apply"])
        .failure(1)
        .stderr_has(
            "`apply` needs confirmation and there is no terminal to ask on; nothing was run",
        )
        .stderr_has("--yes");
    assert!(!p.exists("prepared"));
    p.kopsform(&["--yes", "apply"]).success();
    assert!(p.exists("applied"));
}

#[test]
fn values_reach_argv_as_single_arguments_never_as_shell() {
    let p = project_with_outputs(
        r#"
[cluster]
name = "{{cluster_name}}"
state = "s3://{{kops_s3_bucket}}"
[tasks.t]
steps = [["touch", "{{evil}}"], ["printenv", "KOPS_CLUSTER_NAME", "KOPS_STATE_STORE", "TF_INPUT"]]
"#,
    );
    let run = p.kopsform(&["t"]);
    run.success();
    assert!(p.exists("a b; touch pwned $(touch pwned2)"));
    assert!(!p.exists("pwned") && !p.exists("pwned2"));
    // printenv is no kops, but it runs outside the prerequisites layer, so it learns the cluster.
    run.stdout_has("[t] c.example.com\n[t] s3://kops-state\n");
    // Without a terminal every terraform subcommand behaves as with -input=false.
    run.stdout_has("[t] 0\n");
}

#[test]
fn dry_run_prints_resolved_commands_and_runs_nothing_and_secrets_stay_off_command_lines() {
    let p = project_with_outputs(
        r#"
[cluster]
name = "{{cluster_name}}"
state = "s3://{{kops_s3_bucket}}"
sensitive = ["ssh_key"]
[tasks.apply]
confirm = true
steps = [
  ["touch", "applied"],
  { run = ["kops", "get", "cluster", "--name", "{{cluster.name}}", "--state", "{{cluster.state}}"], env = { SSH_KEY = "{{ssh_key}}" } },
]
[tasks.leak]
lock = false
steps = [["kops", "create", "sshpublickey", "--name", "{{cluster.name}}", "--key", "{{ssh_key}}"]]
"#,
    );
    let run = p.kopsform(&["--dry-run", "apply"]);
    run.success()
        .stderr_has("[apply] would run: touch applied\n")
        .stderr_has(
            "[apply] would run: kops get cluster --name c.example.com --state s3://kops-state\n",
        )
        .stderr_has("apply  dry run")
        .output_lacks("sekrit-ssh-key-123");
    assert!(!p.exists("applied"));
    // A secret in an argument is refused before anything runs, in a dry run too: `ps` shows argv.
    for args in [&["--dry-run", "leak"][..], &["leak"][..]] {
        p.kopsform(args)
            .failure(1)
            .stderr_has("task `leak`: argument 6 of `kops` holds a secret value")
            .stderr_has("pass it in the environment instead")
            .output_lacks("sekrit-ssh-key-123");
    }
}

#[test]
fn outputs_task_masks_sensitive_values() {
    let p = project_with_outputs("[tasks.outputs]\nsteps = [{ builtin = \"show-outputs\" }]\n");
    let run = p.kopsform(&["outputs"]);
    run.success()
        .stdout_has("cluster_name   = \"c.example.com\"\n")
        .stdout_has("ssh_key        = <sensitive>\n")
        .output_lacks("sekrit-ssh-key-123");
}

#[test]
fn with_json_the_outputs_table_goes_to_stderr_and_stdout_holds_the_summary() {
    let p = project_with_outputs("[tasks.outputs]\nsteps = [{ builtin = \"show-outputs\" }]\n");
    let run = p.kopsform(&["--json", "outputs"]);
    run.success()
        .stderr_has("cluster_name   = \"c.example.com\"\n");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["tasks"][0]["task"], "outputs");
}

#[test]
fn sensitive_outputs_stay_out_of_templates_unless_listed() {
    let tasks = |sensitive: &str| {
        format!(
            "[cluster]\nname = \"{{{{cluster_name}}}}\"\nstate = \"x\"\nsensitive = [{sensitive}]\n[tasks.t]\nsteps = [{{ render = \"t.txt\", out = \"out.txt\", check = \"none\" }}]\n"
        )
    };
    let p = project_with_outputs(&tasks(""));
    p.file("t.txt", "key: {{ssh_key}}\n");
    p.kopsform(&["t"])
        .failure(1)
        .stderr_has("t.txt:1:6: missing value `ssh_key`");
    assert!(!p.exists("out.txt"));
    p.file("tasks.toml", &tasks("\"ssh_key\""));
    p.kopsform(&["t"])
        .success()
        .stderr_has("warning: out.txt contains a secret value; written with mode 0600");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.join("out.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn terraform_output_runs_once_per_run() {
    let p = project_with_outputs(
        r#"
[tools]
terraform = "./counting-terraform"
[cluster]
name = "{{cluster_name}}"
state = "s3://{{kops_s3_bucket}}"
[tasks.one]
steps = [["echo", "{{cluster.name}}"]]
[tasks.two]
deps = ["one"]
steps = [["echo", "{{kops_s3_bucket}}"], ["echo", "{{cluster.state}}"]]
"#,
    );
    // A wrapper that records each call, then runs the real terraform.
    p.script(
        "counting-terraform",
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/terraform-calls.log\"\nexec terraform \"$@\"\n",
    );
    p.kopsform(&["two"])
        .success()
        .stdout_has("[two] s3://kops-state");
    assert_eq!(p.read("terraform-calls.log"), "output -json\n");
}

#[test]
fn set_overrides_outputs() {
    let p =
        project_with_outputs("[tasks.t]\nsteps = [[\"echo\", \"{{cluster_name}} {{extra.n}}\"]]\n");
    p.kopsform(&[
        "t",
        "--set",
        "cluster_name=other.example.com",
        "--set",
        "extra.n=3",
    ])
    .success()
    .stdout_has("[t] other.example.com 3\n");
}

#[test]
fn ctrl_c_is_forwarded_to_the_child_which_is_waited_for_then_exit_130() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        r#"
[tasks.slow]
steps = [["sh", "-c", "trap 'sleep 0.3; echo cleaned-up > child-saw-int; exit 1' INT; echo started > started; while :; do sleep 0.1; done"]]
[tasks.after]
deps = ["slow"]
steps = [["touch", "after-ran"]]
"#,
    );
    let child = p
        .command(&["after"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !p.exists("started") {
        assert!(started.elapsed().as_secs() < 20, "the step never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: a plain kill(2) of the kopsform process we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("task `slow`: interrupted by SIGINT"),
        "{stderr}"
    );
    assert!(stderr.contains("slow   interrupted"), "{stderr}");
    assert!(stderr.contains("after  not run"), "{stderr}");
    // The child got the signal and was waited for: its clean-up finished before kopsform exited.
    assert_eq!(p.read("child-saw-int"), "cleaned-up\n");
    assert!(!p.exists("after-ran"));
}

/// Issue 18: kops takes KOPS_CLUSTER_NAME for `--name` and refuses a positional cluster name
/// beside it ("cannot specify cluster via --name and positional argument", kops 1.36
/// cmd/kops/root.go `ProcessArgs`), so a step that names the cluster positionally does not get it.
/// The double fails as kops does on a cluster the store lacks: that error shows the name reached
/// kops as the argument and nothing else.
#[test]
fn a_kops_step_that_names_the_cluster_positionally_gets_no_kops_cluster_name() {
    let p = project_with_outputs(
        r#"
[cluster]
name = "{{cluster_name}}"
state = "kops-state"
[tasks.positional]
steps = [["kops", "validate", "cluster", "--wait=0s", "{{cluster.name}}"]]
[tasks.flag]
steps = [["kops", "validate", "cluster"]]
"#,
    );
    std::fs::create_dir_all(p.join("kops-state")).unwrap();
    for task in ["positional", "flag"] {
        p.kopsform(&[task])
            .failure(1)
            .stderr_has(&format!("[{task}] Error: validation failed: error reading cluster configuration: Cluster.kops.k8s.io \"c.example.com\" not found"))
            .output_lacks("cannot specify cluster");
    }
}

/// Issue 18: a tool may be a command with arguments, as a wrapper CLI runs Terraform
/// (`leverage tf plan`): the steps, kopsform's own `terraform output -json` and doctor's version
/// probe all go through it, and doctor reads the version among the wrapper's own lines. A string
/// with a space stays one program name, and the error says how to write the command.
#[test]
fn a_tool_may_be_a_command_with_arguments() {
    let p = project_with_outputs(
        r#"
[tools]
terraform = ["bin/leverage", "tf"]

[cluster]
name = "{{cluster_name}}"
state = "kops-state"

[tasks.plan]
cwd = "1-prerequisites"
steps = [["terraform", "plan", "-input=false"]]

[tasks.show]
steps = [["echo", "{{cluster.name}}"]]
"#,
    );
    // A wrapper that talks before and after the tool, as such CLIs do, and logs each call.
    p.script(
        "bin/leverage",
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls.log\"\n[ \"$1\" = tf ] || exit 64\nshift\necho '[leverage] running terraform'\nterraform \"$@\"\nstatus=$?\necho '[leverage] done'\nexit $status\n",
    );
    p.kopsform(&["plan", "show"])
        .success()
        .stderr_has("[plan] $ (cd 1-prerequisites && terraform plan -input=false)\n")
        .stdout_has("[plan] [leverage] running terraform\n")
        .stdout_has("[plan] No changes.")
        .stdout_has("[show] c.example.com\n");
    assert_eq!(
        p.read("bin/calls.log"),
        // kopsform's own calls go through the wrapper too: the state's secrets learned before the
        // plan, and the outputs read.
        "tf show -json\ntf plan -input=false\ntf output -json\n"
    );
    let doctor = p.kopsform(&["doctor"]);
    doctor.success();
    let terraform = doctor
        .stdout
        .lines()
        .find(|l| l.contains("terraform 1."))
        .unwrap_or_else(|| panic!("no terraform line\n{}", doctor.show()));
    assert!(
        terraform.starts_with("ok    terraform 1.")
            && terraform.ends_with(" (supported: >= 1.5, < 2)"),
        "{terraform}"
    );
    assert!(p.read("bin/calls.log").ends_with("tf version -json\n"));

    // One string is one program, spaces and all: the message shows the array form.
    p.file(
        "tasks.toml",
        &p.read("tasks.toml")
            .replace("[\"bin/leverage\", \"tf\"]", "\"leverage tf\""),
    );
    p.kopsform(&["plan"]).failure(127).stderr_has(
        "`leverage tf` was not found: install it or set its path in the [tools] table of tasks.toml; a command with arguments is an array: [\"leverage\", \"tf\"]",
    );
}

/// Issue 18 (the worked migration of docs/migration.md): a task's `env` and a step's `env` win
/// over `[env]` for the same name, as tasks-toml.md says; the first value used to win, so a task
/// with a `cwd` could not point a relative AWS_CONFIG_FILE of `[env]` at the right file.
#[test]
fn a_task_env_and_a_step_env_win_over_the_env_table() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        r#"[env]
FROM = "env-table"

[cluster]
name = "c.example.com"
state = "kops-state"

[tasks.show]
env = { FROM = "task" }
steps = [["printenv", "FROM"], { run = ["printenv", "FROM"], env = { FROM = "step" } }]
"#,
    );
    let run = p.kopsform(&["-q", "show"]);
    run.success();
    assert_eq!(run.stdout, "[show] task\n[show] step\n", "{}", run.show());
}

/// A layer with every kind of output Terraform has, null and sensitive ones included.
const EVERY_KIND: &str = r#"
output "s" { value = "x" }
output "big" { value = 12345678901234567890 }
output "f" { value = 1.5 }
output "b" { value = true }
output "nothing" { value = null }
output "l" { value = ["a", "b"] }
output "m" { value = { z = "1", a = "2" } }
output "o" { value = { k = 1, l = ["x"], n = null } }
output "text" { value = "quote\" \u2028 <tag> & é\nline" }
output "sec" {
  value     = "hidden-value"
  sensitive = true
}
"#;

#[test]
fn a_local_state_is_read_without_terraform_as_terraform_prints_it() {
    require_terraform();
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v terraform"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut p = Project::new();
    p.file("1-prerequisites/main.tf", EVERY_KIND);
    p.tool("1-prerequisites", "terraform", &["init", "-input=false"])
        .success();
    p.tool(
        "1-prerequisites",
        "terraform",
        &["apply", "-auto-approve", "-input=false"],
    )
    .success();
    // `terraform` by name, as the read from the state requires, recording each call.
    p.script(
        "bin/terraform",
        &format!(
            "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/../terraform-calls.log\"\nexec {} \"$@\"\n",
            real.trim()
        ),
    );
    let tasks = "[tools]\nterraform = \"./bin/terraform\"\n\n[tasks.outputs]\nsteps = [{ builtin = \"show-outputs\" }]\n\n[tasks.render]\nsteps = [{ render = \"t.txt\", out = \"out.txt\", check = \"none\" }]\n";
    p.file("tasks.toml", tasks);
    p.file(
        "t.txt",
        "{{s}} {{big}} {{f}} {{b}} {{json l}} {{json m}} {{json o}} {{json text}}\n",
    );
    let from_state = p.kopsform(&["outputs", "render"]);
    from_state.success();
    assert!(!p.exists("terraform-calls.log"), "no terraform started");
    let rendered = p.read("out.txt");

    // The same project through `terraform output -json` (any TF_CLI_ARGS* sends it there).
    p.env("TF_CLI_ARGS_output", "");
    let from_terraform = p.kopsform(&["outputs", "render"]);
    from_terraform.success();
    assert_eq!(p.read("terraform-calls.log"), "output -json\n");
    assert_eq!(p.read("out.txt"), rendered);
    assert_eq!(
        rendered,
        "x 12345678901234567890 1.5 true [\"a\",\"b\"] {\"a\":\"2\",\"z\":\"1\"} {\"k\":1,\"l\":[\"x\"],\"n\":null} \"quote\\\" \\u2028 <tag> & é\\nline\"\n"
    );
    assert_eq!(from_state.stdout, from_terraform.stdout);
    assert_eq!(
        from_state.stdout,
        "b    = true\nbig  = 12345678901234567890\nf    = 1.5\nl    = [\"a\",\"b\"]\nm    = {\"a\":\"2\",\"z\":\"1\"}\no    = {\"k\":1,\"l\":[\"x\"],\"n\":null}\ns    = \"x\"\nsec  = <sensitive>\ntext = \"quote\\\" \u{2028} <tag> & é\\nline\"\n"
    );
    from_state.output_lacks("hidden-value");
}

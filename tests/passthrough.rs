//! Issue 22: arguments passed through to a task's kops or terraform step (`kopsform TASK -- ARGS`),
//! `kopsform exec` in a cluster's environment, and declared task parameters (`--param`).
//!
//! kops is a stand-in here (`[tools] kops = "bin/kops"`): a script that prints each argument it
//! got on a line of its own and the cluster variables, so that a test sees exactly the argv the
//! child got. The prerequisites layer is real Terraform with a sensitive output.

use crate::support::{Project, require_terraform};

const OUTPUTS: &str = r#"{
  "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"},
  "db_password": {"sensitive": true, "type": "string", "value": "pass-sekrit-9876"}
}"#;

/// Prints its argv one item a line, the cluster it was given, and counts its runs; fails with a
/// transient error when `FLAKY` is set.
const KOPS: &str = r#"#!/bin/sh
echo run >> kops-runs
for a in "$@"; do printf 'arg:%s\n' "$a"; done
echo "cluster=$KOPS_CLUSTER_NAME state=$KOPS_STATE_STORE"
if [ -n "$FLAKY" ]; then echo "Error: RequestLimitExceeded: slow down" >&2; exit 1; fi
"#;

const TASKS: &str = r#"
secret-env = ["APP_TOKEN"]

[tools]
kops = "bin/kops"

[retry]
delay = "10ms"

[cluster]
name = "{{cluster_name}}"
state = "kops-state"
sensitive = ["db_password"]

[env]
PROJECT_SETTING = "from [env]"
APP_TOKEN = "token-sekrit-1234"

[tasks.prepare]
steps = [["touch", "prepared"]]

[tasks.cluster-validate]
desc = "kops validate cluster"
deps = ["prepare"]
steps = [["echo", "validating"], ["kops", "validate", "cluster"]]

[tasks.two-kops]
steps = [["kops", "get", "cluster"], ["kops", "get", "instancegroups"]]

[tasks.marked]
steps = [["kops", "get", "cluster"], { run = ["kops", "get", "instancegroups"], pass-through = true }]

[tasks.outputs]
steps = [{ builtin = "show-outputs" }]

[tasks.roll]
desc = "roll one instance group"
params = { ig = { required = true, help = "the instance group to roll" }, interval = { default = "30s" } }
steps = [["kops", "rolling-update", "cluster", "--instance-group", "{{params.ig}}", "--node-interval={{params.interval}}"]]

[tasks.ig-file]
params = { ig = { required = true } }
steps = [{ render = "ig-template.yml", out = "ig.yml", check = "none" }]
"#;

fn project() -> Project {
    require_terraform();
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    p.file("tasks.toml", TASKS);
    p.script("bin/kops", KOPS);
    p.file(
        "ig-template.yml",
        "kind: InstanceGroup\nmetadata:\n  name: \"{{params.ig}}\"\nspec:\n  role: Node\n",
    );
    p
}

fn runs(p: &Project) -> usize {
    std::fs::read_to_string(p.join("kops-runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn arguments_after_the_double_dash_reach_the_kops_step_as_separate_items() {
    let p = project();
    let run = p.kopsform(&[
        "cluster-validate",
        "--",
        "--wait",
        "10m",
        "a b; touch pwned",
        "{{db_password}}",
    ]);
    run.success();
    assert_eq!(
        run.stdout,
        "[cluster-validate] validating\n\
         [cluster-validate] arg:validate\n\
         [cluster-validate] arg:cluster\n\
         [cluster-validate] arg:--wait\n\
         [cluster-validate] arg:10m\n\
         [cluster-validate] arg:a b; touch pwned\n\
         [cluster-validate] arg:{{db_password}}\n\
         [cluster-validate] cluster=c.example.com state=kops-state\n"
    );
    // Only the kops step got them; the dependency ran unchanged; no shell saw them.
    assert!(p.exists("prepared") && !p.exists("pwned"));
    run.stderr_has("[cluster-validate] $ echo validating\n");
    // The dry run shows the appended arguments, quoted as a user would type them.
    let dry = p.kopsform(&["--dry-run", "cluster-validate", "--", "--wait", "10m"]);
    dry.success()
        .stderr_has("[cluster-validate] would run: kops validate cluster --wait 10m\n");
    assert_eq!(runs(&p), 1);
    // `kopsform run TASK -- ARGS` is the same.
    p.kopsform(&["run", "cluster-validate", "--", "-o", "yaml"])
        .success()
        .stdout_has("[cluster-validate] arg:cluster\n[cluster-validate] arg:-o\n[cluster-validate] arg:yaml\n");
}

#[test]
fn the_step_that_takes_the_arguments_is_never_guessed() {
    let p = project();
    let run = p.kopsform(&["two-kops", "--", "-o", "yaml"]);
    run.failure(64);
    let file = p.join("tasks.toml").display().to_string();
    assert_eq!(
        run.stderr,
        format!(
            "kopsform: error: task `two-kops` has 2 kops and terraform steps (step 1 (kops get cluster), step 2 (kops get instancegroups)), and kopsform does not guess which one the arguments after `--` are for; nothing was run. Mark that step with `pass-through = true` in {file}\n"
        )
    );
    // The marked step takes them.
    p.kopsform(&["marked", "--", "-o", "yaml"])
        .success()
        .stdout_has("[marked] arg:get\n[marked] arg:cluster\n[marked] cluster=")
        .stdout_has("[marked] arg:instancegroups\n[marked] arg:-o\n[marked] arg:yaml\n");
    // A task without a kops or terraform step refuses them.
    p.kopsform(&["outputs", "--", "-o", "yaml"])
        .failure(64)
        .stderr_has("task `outputs` has no kops or terraform step to pass the arguments after `--` to; nothing was run");
    // Several tasks: which one would take them is not guessed either.
    p.kopsform(&["prepare", "cluster-validate", "--", "-v"])
        .failure(64)
        .stderr_has("arguments after `--` go to one task, and 2 tasks are named (prepare, cluster-validate); nothing was run");
    assert_eq!(runs(&p), 2);
    assert!(!p.exists("prepared"));
    // Two marked steps are refused when tasks.toml is read.
    p.file(
        "tasks.toml",
        "[tasks.t]\nsteps = [{ run = [\"kops\", \"a\"], pass-through = true }, { run = [\"kops\", \"b\"], pass-through = true }]\n",
    );
    p.kopsform(&["list"])
        .failure(1)
        .stderr_has("task `t`: 2 steps have `pass-through = true`; mark the one step that `kopsform t -- ARGS` appends to");
}

#[test]
fn an_appended_yes_makes_the_task_confirm_lock_the_cluster_and_run_once() {
    let mut p = project();
    // Without a terminal and without kopsform's --yes, nothing runs.
    p.kopsform(&["cluster-validate", "--", "--yes"])
        .failure(1)
        .stderr_has("`cluster-validate` needs confirmation and there is no terminal to ask on; nothing was run. Pass --yes to confirm");
    assert_eq!(runs(&p), 0);
    assert!(!p.exists("prepared"));
    // Without `--yes` appended, a transient error is retried (three attempts by default)...
    p.env("FLAKY", "1");
    p.kopsform(&["cluster-validate"]).failure(1);
    assert_eq!(runs(&p), 3);
    // ...with it, the task confirms, takes the cluster's lock and runs its kops step once.
    let run = p.kopsform(&["--yes", "cluster-validate", "--", "--yes"]);
    run.failure(1)
        .stderr_has("[cluster-validate] locked cluster c.example.com (")
        .stderr_has("[cluster-validate] $ kops validate cluster --yes\n")
        .output_lacks("runs again");
    assert_eq!(runs(&p), 4);
    // The lock was taken in the local state store, and released (emptied) at the end.
    assert_eq!(p.read("kops-state/.kopsform-locks/c.example.com.lock"), "");
}

#[test]
fn a_secret_passed_through_is_refused_before_anything_runs() {
    let p = project();
    // A sensitive output, as it is and base64-encoded, and a secret-env variable's value.
    let cases: [(&str, &str); 3] = [
        (
            "pass-sekrit-9876",
            "argument 3 of `kops` holds a secret value (a sensitive output",
        ),
        (
            "cGFzcy1zZWtyaXQtOTg3Ng==",
            "argument 3 of `kops` holds a secret value, base64-encoded",
        ),
        (
            "token-sekrit-1234",
            "argument 3 of `kops` holds a secret value",
        ),
    ];
    for (secret, says) in cases {
        let run = p.kopsform(&["cluster-validate", "--", secret]);
        run.failure(64)
            .stderr_has(&format!("kopsform: error: task `cluster-validate`: {says}"))
            .output_lacks("pass-sekrit-9876")
            .output_lacks("token-sekrit-1234");
        // Refused before the run started: no summary, one message.
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.show());
        assert!(
            run.stderr.ends_with("; nothing was run\n"),
            "{}",
            run.show()
        );
    }
    assert_eq!(
        p.kopsform(&["cluster-validate", "--", "pass-sekrit-9876"])
            .stderr,
        "kopsform: error: task `cluster-validate`: argument 3 of `kops` holds a secret value (a sensitive output, or a variable of `secret-env`), and a command line is visible to every user of the machine (ps); pass it in the environment instead (e.g. env = { TF_VAR_name = \"{{output}}\" } in the task, read by the program), or in a file rendered with mode 0600; nothing was run\n"
    );
    // An assignment to a secret variable is refused by its name alone.
    p.kopsform(&["cluster-validate", "--", "--flag", "AWS_SECRET_ACCESS_KEY=abc123"])
        .failure(64)
        .stderr_has("argument 2 after `--` sets `AWS_SECRET_ACCESS_KEY`, a secret variable, and a command line is visible to every user of the machine (ps); nothing was run");
    // Neither the kops step nor the dependency ran, in a dry run neither.
    p.kopsform(&["--dry-run", "cluster-validate", "--", "pass-sekrit-9876"])
        .failure(64)
        .output_lacks("would run");
    assert_eq!(runs(&p), 0);
    assert!(!p.exists("prepared"));
}

#[test]
fn exec_runs_a_command_in_the_clusters_environment_masked_with_its_own_status() {
    let p = project();
    let run = p.kopsform(&[
        "exec",
        "--",
        "sh",
        "-c",
        "printenv KOPS_CLUSTER_NAME KOPS_STATE_STORE PROJECT_SETTING APP_TOKEN; echo \"$0\"; exit 3",
        "one arg; with spaces",
    ]);
    run.failure(3);
    assert_eq!(
        run.stdout,
        "c.example.com\nkops-state\nfrom [env]\n***\none arg; with spaces\n"
    );
    // kopsform adds nothing of its own for a command that failed: the command said why.
    assert_eq!(
        run.stderr,
        "$ sh -c 'printenv KOPS_CLUSTER_NAME KOPS_STATE_STORE PROJECT_SETTING APP_TOKEN; echo \"$0\"; exit 3' 'one arg; with spaces'\n"
    );
    // kops is the [tools] program, and a sensitive output it prints is masked.
    let run = p.kopsform(&["exec", "--", "kops", "get", "secrets"]);
    run.success();
    assert_eq!(
        run.stdout,
        "arg:get\narg:secrets\ncluster=c.example.com state=kops-state\n"
    );
    p.script(
        "bin/leak",
        "#!/bin/sh\necho \"password is pass-sekrit-9876\"\n",
    );
    p.kopsform(&["exec", "--", "bin/leak"])
        .success()
        .stdout_has("password is ***\n")
        .output_lacks("pass-sekrit-9876");
    // A secret on the command line is refused, as for a step.
    p.kopsform(&["exec", "--", "kops", "get", "pass-sekrit-9876"])
        .failure(64)
        .stderr_has("kopsform: error: exec: argument 2 of `kops` holds a secret value")
        .output_lacks("pass-sekrit-9876");
    // A kops command that changes the cluster needs a confirmation.
    p.kopsform(&["exec", "--", "kops", "update", "cluster", "--yes"])
        .failure(1)
        .stderr_has("`kops update cluster --yes` changes cluster c.example.com and there is no terminal to ask on; nothing was run");
    // The dry run shows the command.
    p.kopsform(&["--dry-run", "exec", "--", "kops", "get", "ig"])
        .success()
        .stderr_has("would run: kops get ig\n");
    assert_eq!(runs(&p), 1);
    // The audit trail has the run.
    let audit = p.read(".kopsform/audit.jsonl");
    assert!(audit.contains("\"task\":\"exec\""), "{audit}");
}

#[test]
fn exec_needs_a_command_after_the_double_dash_and_one_cluster() {
    let p = project();
    let run = p.kopsform(&["exec"]);
    run.failure(64)
        .stderr_has("the following required arguments were not provided:\n  <COMMAND>...");
    p.kopsform(&["exec", "kops", "get"])
        .failure(64)
        .stderr_has("unexpected argument 'kops' found");
    p.kopsform(&["exec", "--all", "--", "kops", "get"])
        .failure(64)
        .stderr_has("exec runs a command in one cluster's environment: name that cluster with one --cluster ID (--all and --stage are refused); nothing was run");
    assert_eq!(runs(&p), 0);
}

#[test]
fn parameters_are_declared_required_or_defaulted_and_land_as_one_argument() {
    let p = project();
    // Missing: exit 64 naming it, before anything runs.
    let run = p.kopsform(&["roll"]);
    run.failure(64);
    assert_eq!(
        run.stderr,
        "kopsform: error: task `roll` needs the parameter `ig`: the instance group to roll; pass --param ig=VALUE\nnothing was run\n"
    );
    // Undeclared: exit 64 naming it and the declared ones.
    p.kopsform(&["roll", "--param", "ig=nodes", "--param", "igg=nodes"])
        .failure(64)
        .stderr_has("kopsform: error: --param igg: no task of this run declares a parameter `igg` (they declare `ig` (task `roll`), `interval` (task `roll`)); nothing was run");
    assert_eq!(runs(&p), 0);
    // Given, with the default of the other; a hostile value stays one argument.
    let hostile = "nodes a\n--yes \"quoted\" 'x' $(touch pwned) {{cluster.name}}";
    let run = p.kopsform(&["roll", "--param", &format!("ig={hostile}")]);
    run.success();
    assert_eq!(
        run.stdout,
        "[roll] arg:rolling-update\n\
         [roll] arg:cluster\n\
         [roll] arg:--instance-group\n\
         [roll] arg:nodes a\n\
         [roll] --yes \"quoted\" 'x' $(touch pwned) {{cluster.name}}\n\
         [roll] arg:--node-interval=30s\n\
         [roll] cluster=c.example.com state=kops-state\n"
    );
    assert!(!p.exists("pwned"));
    p.kopsform(&["--dry-run", "roll", "--param", "ig=nodes-b", "--param", "interval=1m"])
        .success()
        .stderr_has("[roll] would run: kops rolling-update cluster --instance-group nodes-b --node-interval=1m\n");
    // `list` shows them.
    let list = p.kopsform(&["list"]);
    list.success().stdout_has(
        "roll              roll one instance group\n                    --param ig=VALUE        required; the instance group to roll\n                    --param interval=VALUE  default \"30s\"\n",
    );
}

#[test]
fn a_parameter_cannot_change_the_structure_of_a_rendered_file() {
    let p = project();
    p.kopsform(&["ig-file", "--param", "ig=nodes-a"]).success();
    assert_eq!(
        p.read("ig.yml"),
        "kind: InstanceGroup\nmetadata:\n  name: \"nodes-a\"\nspec:\n  role: Node\n"
    );
    for hostile in ["a\"\nspec: {}\nx: \"", "a\nrole: Master"] {
        p.kopsform(&["ig-file", "--param", &format!("ig={hostile}")])
            .failure(1)
            .stderr_has("the value of `{{params.ig}}` would change the YAML structure")
            .stderr_has("the parameter `ig` (--param ig=..., or its default)")
            .stderr_has("Nothing was written");
        assert_eq!(
            p.read("ig.yml"),
            "kind: InstanceGroup\nmetadata:\n  name: \"nodes-a\"\nspec:\n  role: Node\n"
        );
    }
    // Declaration mistakes are refused when tasks.toml is read.
    for (params, says) in [
        (
            "{ ig = { required = true, default = \"x\" } }",
            "task `t`: parameter `ig` is `required = true` and has a `default`; keep one",
        ),
        (
            "{ ig-name = {} }",
            "task `t`: parameter `ig-name`: a parameter name is letters, digits and `_`",
        ),
        ("{ ig = { requird = true } }", "unknown field `requird`"),
    ] {
        let q = Project::new();
        q.file(
            "tasks.toml",
            &format!("[tasks.t]\nparams = {params}\nsteps = [[\"true\"]]\n"),
        );
        q.kopsform(&["list"]).failure(1).stderr_has(says);
    }
}

#[test]
fn arguments_and_parameters_reach_every_selected_cluster_and_exec_takes_one() {
    require_terraform();
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    p.script("bin/kops", KOPS);
    p.file(
        "tasks.toml",
        r#"
[tools]
kops = "bin/kops"

[clusters.dev]
name = "dev.example.com"
state = "state-dev"
dir = "clusters/dev"
stage = "dev"

[clusters.prod]
name = "prod.example.com"
state = "state-prod"
dir = "clusters/prod"
stage = "prod"

[tasks.get-ig]
params = { ig = { default = "nodes" } }
steps = [["kops", "get", "ig", "{{params.ig}}"]]
"#,
    );
    let run = p.kopsform(&[
        "--all",
        "-j",
        "1",
        "get-ig",
        "--param",
        "ig=nodes-a",
        "--",
        "-o",
        "yaml",
    ]);
    run.success();
    for cluster in ["dev", "prod"] {
        run.stdout_has(&format!(
            "[{cluster}/get-ig] arg:get\n[{cluster}/get-ig] arg:ig\n[{cluster}/get-ig] arg:nodes-a\n[{cluster}/get-ig] arg:-o\n[{cluster}/get-ig] arg:yaml\n[{cluster}/get-ig] cluster={cluster}.example.com state=state-{cluster}\n"
        ));
    }
    // exec: the cluster named, and only one.
    let run = p.kopsform(&["exec", "--cluster", "prod", "--", "kops", "get", "ig"]);
    run.success();
    // Its output is the command's own, without a prefix, to pipe or redirect.
    assert_eq!(
        run.stdout,
        "arg:get\narg:ig\ncluster=prod.example.com state=state-prod\n"
    );
    p.kopsform(&["exec", "--", "kops", "get"])
        .failure(64)
        .stderr_has("this project has 2 clusters (dev, prod); choose with --cluster ID");
    p.kopsform(&[
        "exec",
        "--cluster",
        "dev",
        "--cluster",
        "prod",
        "--",
        "kops",
        "get",
    ])
    .failure(64)
    .stderr_has("name that cluster with one --cluster ID");
}

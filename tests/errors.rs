//! Bad input, everywhere: a table of bad inputs, each one row, all run through the real binary by
//! one runner ([`check`]) that asserts the same five things for every row:
//!
//! 1. **The exit status**: 1 for every error, 127 for a tool that cannot be found, 64 for a
//!    command-line usage error. The usage rows are listed in [`USAGE_ROWS`] and run by their own
//!    test, [`usage_errors_exit_64`]: they pass once clap's usage errors exit 64 instead of clap's
//!    own 2.
//! 2. **The message names the file**, with line and column where the input has them (`{dir}` in a
//!    row stands for the project folder, which the message gives in full). A bad command-line
//!    argument has no file: its message names the flag.
//! 3. **The message says what to do**: a "did you mean", "add ...", "remove ...", "set ...",
//!    "run ...", "pass ...", "install ..." (each row's `hint`).
//! 4. **Nothing was written or truncated.** Every file of the project folder is read (path ->
//!    bytes) before the run and again after it, and the two must be the same. A row that renders a
//!    manifest starts with a `2-kops/cluster.yml` of known content (and the review row with a
//!    known `review.md`), so a replaced or truncated output is caught, not only a new one. The
//!    only paths allowed to differ:
//!    * `.terraform/` and `.terraform.lock.hcl`: Terraform's own working data (providers, modules,
//!      the backend it was initialised with). Terraform rewrites them itself whenever it runs; no
//!      person edits them and kops never reads them, so a failed run touching them loses nothing;
//!    * `.kopsform/`: kopsform's own bookkeeping (the dry run's snapshot of the state store,
//!      up-to-date records), a scratch area that neither people nor kops nor Terraform read. (No
//!      row here reaches a step that writes there; up-to-date records are written only after a
//!      task succeeded.)
//!
//!    Everything else must be byte for byte as it was: the inputs (`tasks.toml`, templates, values
//!    files), the prerequisites layer and its Terraform state, and above all the files kopsform
//!    generates for kops and Terraform (`cluster.yml`, override files, plans, reviews, saved
//!    outputs), which a failed run must leave as the last good run wrote them. (`HOME` is the
//!    project folder in this bench, so a tool writing into its home folder would show up too.)
//!    On top of that, no `.kopsform-*.tmp` file (the temporary file of an atomic write) may be
//!    left anywhere in the folder, the allowed folders included.
//! 5. **Nothing panicked**: stderr has neither `panicked` nor `RUST_BACKTRACE`.
//!
//! Every row must also fail within [`ROW_TIME_LIMIT`]: a bad input is reported at once, not after
//! retries. The unreachable state store row sets `AWS_MAX_ATTEMPTS=1` and `AWS_RETRY_MODE=standard`:
//! with the aws CLI's default (legacy) retries, five attempts with back-off, it takes about 9s to
//! give up on a closed port.
//!
//! A file whose text starts with `#!` is written executable (the fake `terraform` scripts that
//! the `[tools]` table points at).

use std::collections::BTreeMap;
use std::net::TcpListener;

use crate::support::{Project, files, require, require_terraform};

const OUTPUTS: &str = r#"{
  "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"},
  "vpc_id": {"sensitive": false, "type": "string", "value": "vpc-123"}
}"#;

const RENDER_TASKS: &str = r#"
[cluster]
name = "{{cluster_name}}"
state = "s3://bucket"
[tasks.cluster-template]
steps = [{ render = "2-kops/cluster-template.yml", out = "2-kops/cluster.yml" }]
"#;

const GOOD_TEMPLATE: &str = "apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  name: {{cluster_name}}
spec:
  networkID: {{vpc_id}}
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: nodes
  labels:
    kops.k8s.io/cluster: {{cluster.name}}
spec:
  role: Node
";

/// The manifest a render row finds in place: a failed render must leave it as it is.
const PREVIOUS_MANIFEST: &str = "# rendered by an earlier, good run\nkind: Cluster\n";

/// The rows that are command-line usage errors: status 64 (sysexits `EX_USAGE`).
const USAGE_ROWS: &[&str] = &["unknown-flag", "bad-lock-timeout", "bad-jobs"];

/// One bad input.
struct Case {
    name: &'static str,
    /// Written into the project before the run (relative path, contents).
    files: Vec<(&'static str, Vec<u8>)>,
    /// The project gets a real prerequisites layer (1-prerequisites) whose outputs are [`OUTPUTS`].
    layer: bool,
    /// Added to the run's environment.
    env: Vec<(&'static str, String)>,
    args: &'static [&'static str],
    status: i32,
    /// What happened, naming the file (and line:column): substrings of stderr; `{dir}` is the
    /// project folder.
    want: &'static [&'static str],
    /// What to do: a substring of stderr.
    hint: &'static str,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            files: Vec::new(),
            layer: false,
            env: Vec::new(),
            args: &[],
            status: 1,
            want: &[],
            hint: "",
        }
    }
}

fn file(path: &'static str, contents: impl Into<Vec<u8>>) -> (&'static str, Vec<u8>) {
    (path, contents.into())
}

fn tasks(text: impl Into<Vec<u8>>) -> Vec<(&'static str, Vec<u8>)> {
    vec![file("tasks.toml", text)]
}

/// A project that renders `template` into `2-kops/cluster.yml`, which holds
/// [`PREVIOUS_MANIFEST`]; `tasks_toml` is its tasks.toml.
fn render_with(tasks_toml: &str, template: impl Into<Vec<u8>>) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        file("tasks.toml", tasks_toml),
        file("2-kops/cluster-template.yml", template),
        file("2-kops/cluster.yml", PREVIOUS_MANIFEST),
    ]
}

fn render(template: impl Into<Vec<u8>>) -> Vec<(&'static str, Vec<u8>)> {
    render_with(RENDER_TASKS, template)
}

/// The good template with `from` replaced by `to` (which must be there).
fn edit(from: &str, to: &str) -> String {
    assert!(GOOD_TEMPLATE.contains(from), "the template lacks {from:?}");
    GOOD_TEMPLATE.replacen(from, to, 1)
}

/// The good template's Cluster document and InstanceGroup document.
fn documents() -> (&'static str, &'static str) {
    GOOD_TEMPLATE.split_once("---\n").unwrap()
}

/// A render project whose cluster reads the values file `path` (which holds `contents`, if any).
fn values(path: &str, contents: Option<&[u8]>) -> Vec<(&'static str, Vec<u8>)> {
    let tasks = RENDER_TASKS.replace(
        "state = \"s3://bucket\"",
        &format!("state = \"s3://bucket\"\nvalues = [\"{path}\"]"),
    );
    let mut files = render_with(&tasks, GOOD_TEMPLATE);
    if let Some(contents) = contents {
        files.push(file("values/dev.yaml", contents));
    }
    files
}

/// A render project whose `terraform` is a script printing what `script` prints.
fn fake_terraform(script: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut files = render_with(
        &format!("[tools]\nterraform = \"./fake-terraform\"\n{RENDER_TASKS}"),
        GOOD_TEMPLATE,
    );
    files.push(file("fake-terraform", format!("#!/bin/sh\n{script}\n")));
    files.push(file(
        "1-prerequisites/main.tf",
        "# the fake terraform reads nothing\n",
    ));
    files
}

/// Two clusters in two stages.
const TWO_CLUSTERS: &str = r#"
[clusters.dev]
name = "dev.example.com"
state = "s3://bucket"
stage = "dev"
dir = "dev"
[clusters.prod]
name = "prod.example.com"
state = "s3://bucket"
stage = "live"
dir = "prod"
[tasks.plan]
steps = [["touch", "planned"]]
"#;

/// A single cluster with its name from the outputs, the state store `state` and `tasks`.
fn cluster(state: &str, tasks: &str) -> String {
    format!("[cluster]\nname = \"{{{{cluster_name}}}}\"\nstate = \"{state}\"\n{tasks}")
}

/// A project with a cluster (static name, local store), a Terraform folder and a template, whose
/// task `t` is the one step `step`.
fn own_paths(step: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        file(
            "tasks.toml",
            format!(
                "[cluster]\nname = \"c.example.com\"\nstate = \".kops-state\"\n[tasks.t]\nsteps = [{step}]\n"
            ),
        ),
        file("2-kops/main.tf", "# the cluster\n"),
        file("2-kops/sub/x.tf", "# deeper\n"),
        file("2-kops/cluster-template.yml", GOOD_TEMPLATE),
        file("2-kops/p.tfplan", "plan"),
    ]
}

/// A loopback port nothing listens on: bound, read, closed.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Every bad input.
fn table() -> Vec<Case> {
    let (cluster_doc, group_doc) = documents();
    let port = closed_port();
    vec![
        // ---------------------------------------------------------------- tasks.toml
        Case {
            name: "malformed-toml",
            files: tasks("[tasks.a\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:1:9: unclosed table"],
            hint: "expected `]`",
            ..Case::default()
        },
        Case {
            name: "unknown-key",
            files: tasks("[tasks.a]\ndesc = \"x\"\ndeeps = [\"b\"]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:3:1: unknown field `deeps`"],
            hint: "check the spelling",
            ..Case::default()
        },
        Case {
            name: "unknown-key-in-cluster",
            files: tasks("[cluster]\nname = \"x\"\nstate = \"y\"\nnmae = \"z\"\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:4:1: unknown field `nmae`, expected one of `name`"],
            hint: "check the spelling",
            ..Case::default()
        },
        Case {
            name: "unknown-table",
            files: tasks("[task.plan]\nsteps = [[\"echo\"]]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:1:2: unknown field `task`"],
            hint: "check the spelling",
            ..Case::default()
        },
        Case {
            name: "wrong-type-deps",
            files: tasks("[tasks.a]\ndeps = \"b\"\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:8: invalid type: string \"b\", expected a sequence"],
            hint: "fix the value",
            ..Case::default()
        },
        Case {
            name: "provider-override-setting-neither-string-nor-expr",
            files: tasks("[provider-override]\nprofile = { expression = \"var.p\" }\n"),
            args: &["list"],
            want: &[
                "{dir}/tasks.toml:2:11: expected a string (a template over the values) or an inline table `{ expr = \"var.name\" }`",
            ],
            hint: "fix the value (docs/tasks-toml.md, [provider-override])",
            ..Case::default()
        },
        Case {
            name: "empty-tool-command",
            files: tasks("[tools]\nterraform = []\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: [tools] terraform = []: name a program"],
            hint: "or a command with its arguments, e.g. terraform = [\"leverage\", \"tf\"]",
            ..Case::default()
        },
        Case {
            name: "wrong-type-tool",
            files: tasks("[tools]\nkops = 3\n"),
            args: &["list"],
            want: &[
                "{dir}/tasks.toml:2:8: invalid type: integer `3`, expected a program (\"tofu\", \"bin/kops-1.30\"), a command with arguments ([\"leverage\", \"tf\"]) or a table with a version pin ({ version = \"1.11.4\", sha256 = \"...\" }) ([tools] in docs/tasks-toml.md)",
            ],
            hint: "fix the value (docs/tasks-toml.md gives the type of every key)",
            ..Case::default()
        },
        Case {
            name: "wrong-type-confirm",
            files: tasks("[tasks.a]\nconfirm = 3\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:11: expected `true`, `false` or the question to ask"],
            hint: "write e.g. `confirm = true`",
            ..Case::default()
        },
        Case {
            name: "wrong-type-stage",
            files: tasks("[clusters.dev]\nname = \"a\"\nstate = \"b\"\nstage = 1.5\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:4:9: expected a stage name or number"],
            hint: "write e.g. `stage = \"prod\"`",
            ..Case::default()
        },
        Case {
            name: "wrong-type-argument",
            files: tasks("[tasks.a]\nsteps = [[\"echo\", 1]]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:19: invalid type: integer `1`, expected a string"],
            hint: "fix the value",
            ..Case::default()
        },
        Case {
            name: "duplicate-key",
            files: tasks("[tasks.a]\ndesc = \"x\"\ndesc = \"y\"\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:3:1: duplicate key"],
            hint: "remove one of them",
            ..Case::default()
        },
        Case {
            name: "missing-key",
            files: tasks("[cluster]\nname = \"x\"\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:1:1: missing field `state`"],
            hint: "add it",
            ..Case::default()
        },
        Case {
            name: "empty-run",
            files: tasks("[tasks.a]\nsteps = [{ run = [] }]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:10: `run` is empty"],
            hint: "give the program and its arguments",
            ..Case::default()
        },
        Case {
            name: "empty-argv",
            files: tasks("[tasks.a]\nsteps = [[]]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:10: an empty argv array"],
            hint: "give the program and its arguments",
            ..Case::default()
        },
        Case {
            name: "unknown-builtin",
            files: tasks("[tasks.a]\nsteps = [{ builtin = \"show-output\" }]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:10: unknown builtin `show-output`"],
            hint: "did you mean `show-outputs`?",
            ..Case::default()
        },
        Case {
            name: "step-of-two-kinds",
            files: tasks("[tasks.a]\nsteps = [{ run = [\"x\"], render = \"t\" }]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:10: a step table needs exactly one of"],
            hint: "`run` (an argv array), `render` (a template path) or `builtin`",
            ..Case::default()
        },
        Case {
            name: "render-without-out",
            files: tasks("[tasks.a]\nsteps = [{ render = \"t.yml\" }]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:10: a `render` step"],
            hint: "needs `out`, the file to write",
            ..Case::default()
        },
        Case {
            name: "unknown-dependency",
            files: tasks("[tasks.a]\ndeps = [\"zzz\"]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: task `a` depends on unknown task `zzz`"],
            hint: "add a [tasks.zzz] table or remove `zzz` from its `deps`",
            ..Case::default()
        },
        Case {
            name: "misspelt-dependency",
            files: tasks("[tasks.plan]\n[tasks.apply]\ndeps = [\"plna\"]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: task `apply` depends on unknown task `plna`"],
            hint: "did you mean `plan`?",
            ..Case::default()
        },
        Case {
            name: "dependency-cycle",
            files: tasks("[tasks.a]\ndeps = [\"b\"]\n[tasks.b]\ndeps = [\"a\"]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: dependency cycle: a -> b -> a"],
            hint: "remove one of these dependencies",
            ..Case::default()
        },
        Case {
            name: "cluster-and-clusters",
            files: tasks(
                "[cluster]\nname = \"a\"\nstate = \"s\"\n[clusters.b]\nname = \"b\"\nstate = \"s\"\n",
            ),
            args: &["list"],
            want: &["{dir}/tasks.toml: both [cluster] and [clusters.*]"],
            hint: "use [clusters.<id>] tables for several clusters",
            ..Case::default()
        },
        Case {
            name: "generates-without-sources",
            files: tasks("[tasks.a]\ngenerates = [\"out.txt\"]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: task `a` has `generates` but no `sources`"],
            hint: "add `sources`",
            ..Case::default()
        },
        Case {
            name: "secret-env-bad-glob",
            files: tasks("secret-env = [\"TOKEN_[\"]\n[tasks.a]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: secret-env: `TOKEN_[` is not a variable name or glob"],
            hint: "use names such as DB_PASSWORD or globs such as *_TOKEN",
            ..Case::default()
        },
        Case {
            name: "retry-bad-attempts",
            files: tasks("[retry]\nattempts = 0\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: [retry] attempts = 0"],
            hint: "give 1 (no retry) to 20",
            ..Case::default()
        },
        Case {
            name: "secret-on-the-command-line",
            files: tasks(
                "secret-env = [\"DEPLOY_*\"]\n[tasks.a]\nsteps = [[\"echo\", \"--token=tok-3e9a7c55\"]]\n",
            ),
            env: vec![("DEPLOY_TOKEN", "tok-3e9a7c55".into())],
            args: &["a"],
            want: &["task `a`: argument 1 of `echo` holds a secret value"],
            hint: "pass it in the environment instead",
            ..Case::default()
        },
        Case {
            // Base64 of a secret is the secret to anyone who reads the command line.
            name: "secret-on-the-command-line-base64",
            files: tasks(
                "secret-env = [\"DEPLOY_*\"]\n[tasks.a]\nsteps = [[\"echo\", \"{{b64enc env.DEPLOY_TOKEN}}\"]]\n",
            ),
            layer: true,
            env: vec![("DEPLOY_TOKEN", "tok-3e9a7c55".into())],
            args: &["a"],
            want: &["task `a`: argument 1 of `echo` holds a secret value, base64-encoded"],
            hint: "pass it in the environment instead",
            ..Case::default()
        },
        // Issue 22: parameters and arguments after `--`, refused before anything runs.
        Case {
            name: "param-missing",
            files: tasks(
                "[tasks.roll]\nparams = { ig = { required = true, help = \"the group\" } }\nsteps = [[\"touch\", \"{{params.ig}}\"]]\n",
            ),
            args: &["roll"],
            status: 64,
            want: &["task `roll` needs the parameter `ig`: the group"],
            hint: "pass --param ig=VALUE",
            ..Case::default()
        },
        Case {
            name: "param-undeclared",
            files: tasks(
                "[tasks.roll]\nparams = { ig = { default = \"nodes\" } }\nsteps = [[\"touch\", \"{{params.ig}}\"]]\n",
            ),
            args: &["roll", "--param", "igg=x"],
            status: 64,
            want: &[
                "--param igg: no task of this run declares a parameter `igg` (they declare `ig` (task `roll`))",
            ],
            hint: "`kopsform list` shows each task's parameters",
            ..Case::default()
        },
        Case {
            name: "pass-through-ambiguous",
            files: tasks(
                "[tasks.t]\nsteps = [[\"kops\", \"get\", \"cluster\"], [\"kops\", \"get\", \"ig\"]]\n",
            ),
            args: &["t", "--", "-o", "yaml"],
            status: 64,
            want: &[
                "task `t` has 2 kops and terraform steps (step 1 (kops get cluster), step 2 (kops get ig))",
                "{dir}/tasks.toml",
            ],
            hint: "Mark that step with `pass-through = true`",
            ..Case::default()
        },
        Case {
            name: "pass-through-secret",
            files: tasks(
                "secret-env = [\"DEPLOY_*\"]\n[tasks.t]\nsteps = [{ run = [\"touch\", \"made\"], pass-through = true }]\n",
            ),
            layer: true,
            env: vec![("DEPLOY_TOKEN", "tok-3e9a7c55".into())],
            args: &["t", "--", "tok-3e9a7c55"],
            status: 64,
            want: &["argument 1 after `--` holds a secret value"],
            hint: "Pass it in the environment instead",
        },
        Case {
            name: "exec-several-clusters",
            files: tasks("[cluster]\nname = \"c.example.com\"\nstate = \"s3://bucket\"\n"),
            args: &["exec", "--all", "--", "touch", "made"],
            status: 64,
            want: &["exec runs a command in one cluster's environment"],
            hint: "name that cluster with one --cluster ID",
            ..Case::default()
        },
        Case {
            name: "protect-rule-without-type-or-address",
            files: tasks("[review]\nprotect = [{ reason = \"precious\" }]\n"),
            args: &["list"],
            want: &["{dir}/tasks.toml: [review] protect rule 1 has neither `type` nor `address`"],
            hint: "give one or both",
            ..Case::default()
        },
        Case {
            name: "protect-rule-bad-glob",
            files: tasks("[review]\nprotect = [{ address = \"aws_eip.[\" }]\n"),
            args: &["list"],
            want: &[
                "{dir}/tasks.toml: [review] protect rule 1: `address = \"aws_eip.[\"` is not a valid glob",
            ],
            hint: "write a literal `[` as `[[]`",
            ..Case::default()
        },
        Case {
            name: "non-utf8-tasks-toml",
            files: tasks(b"[tasks.a]\ndesc = \"\xff\"\n".to_vec()),
            args: &["list"],
            want: &["{dir}/tasks.toml:2:9: not UTF-8 text (bad byte at offset 18)"],
            hint: "save the file as UTF-8",
            ..Case::default()
        },
        Case {
            name: "empty-tasks-toml",
            files: tasks(""),
            args: &["plan"],
            want: &["unknown task `plan` in {dir}/tasks.toml"],
            hint: "add a [tasks.plan] table",
            ..Case::default()
        },
        Case {
            name: "no-tasks-toml",
            files: vec![file("README.md", "not a project yet\n")],
            args: &["list"],
            want: &["no tasks.toml in {dir} or any folder above it"],
            hint: "pass -C DIR",
            ..Case::default()
        },
        Case {
            name: "directory-without-tasks-toml",
            files: tasks("[tasks.a]\n"),
            args: &["-C", "nowhere", "list"],
            want: &["{dir}/nowhere: no tasks.toml in this folder"],
            hint: "-C must name a kopsform project",
            ..Case::default()
        },
        // ---------------------------------------------------------------- the command line
        Case {
            name: "unknown-task",
            files: tasks("[tasks.plan]\n[tasks.apply]\n"),
            args: &["plna"],
            want: &["unknown task `plna` in {dir}/tasks.toml"],
            hint: "did you mean `plan`?",
            ..Case::default()
        },
        Case {
            name: "unknown-cluster",
            files: tasks(TWO_CLUSTERS),
            args: &["--cluster", "prdo", "plan"],
            want: &["no cluster `prdo` in {dir}/tasks.toml (clusters: dev, prod)"],
            hint: "did you mean `prod`?",
            ..Case::default()
        },
        Case {
            name: "unknown-stage",
            files: tasks(TWO_CLUSTERS),
            args: &["--stage", "lve", "plan"],
            want: &["{dir}/tasks.toml: no cluster is in stage `lve` (stages: dev, live)"],
            hint: "did you mean `live`?",
            ..Case::default()
        },
        Case {
            name: "no-cluster-chosen",
            files: tasks(TWO_CLUSTERS),
            args: &["plan"],
            want: &["{dir}/tasks.toml: this project has 2 clusters (dev, prod)"],
            hint: "choose with --cluster ID, --stage NAME or --all",
            ..Case::default()
        },
        Case {
            name: "set-without-value",
            files: render(GOOD_TEMPLATE),
            layer: true,
            args: &["cluster-template", "--set", "novalue"],
            want: &["--set novalue: expected KEY=VALUE"],
            hint: "e.g. --set cluster_version=1.30.2",
            ..Case::default()
        },
        Case {
            name: "set-string-without-value",
            files: render(GOOD_TEMPLATE),
            args: &["cluster-template", "--set-string", "novalue"],
            status: 64,
            want: &["invalid value 'novalue' for '--set-string <KEY=VALUE>'"],
            hint: "e.g. --set-string cluster_version=1.30",
            ..Case::default()
        },
        Case {
            name: "set-bad-key-path",
            files: render(GOOD_TEMPLATE),
            layer: true,
            args: &["cluster-template", "--set", "nodes..max=5"],
            want: &["--set nodes..max=5: `nodes..max` is not a key path"],
            hint: "use names separated by dots",
            ..Case::default()
        },
        Case {
            name: "confirm-without-terminal",
            files: tasks(
                "[tasks.prepare]\nsteps = [[\"touch\", \"prepared\"]]\n[tasks.apply]\ndeps = [\"prepare\"]\nconfirm = true\nsteps = [[\"touch\", \"applied\"]]\n",
            ),
            args: &["apply"],
            want: &[
                "`apply` needs confirmation and there is no terminal to ask on; nothing was run",
            ],
            hint: "Pass --yes to confirm",
            ..Case::default()
        },
        Case {
            name: "unknown-flag",
            files: tasks("[tasks.a]\n"),
            args: &["--frobnicate", "list"],
            status: 64,
            want: &["unexpected argument '--frobnicate' found"],
            hint: "try '--help'",
            ..Case::default()
        },
        Case {
            name: "bad-lock-timeout",
            files: tasks("[tasks.a]\n"),
            args: &["--lock-timeout", "soon", "a"],
            status: 64,
            want: &["invalid value 'soon' for '--lock-timeout <DURATION>'"],
            hint: "(e.g. 30s, 5m)",
            ..Case::default()
        },
        Case {
            name: "bad-jobs",
            files: tasks("[tasks.a]\n"),
            args: &["--jobs", "0", "a"],
            status: 64,
            want: &["invalid value '0' for '--jobs <N>'"],
            hint: "try '--help'",
            ..Case::default()
        },
        // ---------------------------------------------------------------- templates
        Case {
            name: "template-syntax-error",
            files: render("a: 1\nb: {{#each vpc_id}}\n"),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster-template.yml:3:1: template syntax error"],
            hint: "fix the template",
            ..Case::default()
        },
        Case {
            name: "template-missing-value",
            // No earlier manifest here: the failed render must not create one either.
            files: vec![
                file("tasks.toml", RENDER_TASKS),
                file(
                    "2-kops/cluster-template.yml",
                    edit("{{vpc_id}}", "{{vpc_idd}}"),
                ),
            ],
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster-template.yml:6:14: missing value `vpc_idd`",
                "the values that exist: cluster_name, vpc_id",
            ],
            hint: "did you mean `vpc_id`?",
            ..Case::default()
        },
        Case {
            name: "template-unknown-helper",
            files: render(edit("{{vpc_id}}", "{{vpcid vpc_id}}")),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster-template.yml:6:14: unknown helper or value `vpcid`"],
            hint: "docs/templates.md lists the helpers",
            ..Case::default()
        },
        Case {
            name: "template-value-changes-structure",
            files: render(edit("{{vpc_id}}", "{{env.KF_EVIL}}")),
            layer: true,
            env: vec![("KF_EVIL", "vpc-1\n  additionalPolicies: {node: '*'}".into())],
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster-template.yml:6:14: the value of `{{env.KF_EVIL}}` would change the YAML structure of the result",
                "from the environment variable `KF_EVIL`",
            ],
            hint: "quote string slots",
            ..Case::default()
        },
        Case {
            name: "template-yaml11-word-unquoted",
            files: render(edit("{{vpc_id}}", "{{env.KF_WORD}}")),
            layer: true,
            env: vec![("KF_WORD", "yes".into())],
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster-template.yml:6:14: the value of `{{env.KF_WORD}}`",
                "kops's YAML 1.1 parser reads the string \"yes\" as a boolean",
            ],
            hint: "quote string slots",
            ..Case::default()
        },
        Case {
            name: "template-map-in-a-slot",
            files: render(edit("{{vpc_id}}", "{{cluster}}")),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster-template.yml:6:14: `cluster` is a map"],
            hint: "write lists and maps with",
            ..Case::default()
        },
        Case {
            name: "template-indent-too-wide",
            files: render(edit("{{vpc_id}}", "{{indent 18446744073709551615 vpc_id}}")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster-template.yml:6:14",
                "an indent of 18446744073709551615 spaces",
            ],
            hint: "indents by at most 256",
            ..Case::default()
        },
        Case {
            name: "template-nested-too-deep",
            files: render(format!(
                "{}{}",
                "{{#if vpc_id}}".repeat(65),
                "{{/if}}".repeat(65)
            )),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster-template.yml:1: blocks are nested more than 64 deep"],
            hint: "refuses deeper templates",
            ..Case::default()
        },
        Case {
            name: "template-recursive-partial",
            files: render("{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}"),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster-template.yml: the partial `p` includes itself"],
            hint: "refuses recursive partials",
            ..Case::default()
        },
        Case {
            name: "template-required-value",
            files: render(edit(
                "{{vpc_id}}",
                "{{required \"set network_id in values/dev.yaml\" network_id}}",
            )),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster-template.yml:6:14: helper `required`"],
            hint: "set network_id in values/dev.yaml",
            ..Case::default()
        },
        Case {
            name: "template-missing",
            files: vec![
                file("tasks.toml", RENDER_TASKS),
                file("2-kops/cluster.yml", PREVIOUS_MANIFEST),
            ],
            layer: true,
            args: &["cluster-template"],
            want: &["{dir}/2-kops/cluster-template.yml: cannot read the template"],
            hint: "fix the `render` path in {dir}/tasks.toml",
            ..Case::default()
        },
        Case {
            name: "template-not-utf8",
            files: render(b"apiVersion: kops.k8s.io/v1alpha2\nkind: \xffCluster\n".to_vec()),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster-template.yml:2:7: not UTF-8 text (bad byte at offset 39)"],
            hint: "save the template as UTF-8",
            ..Case::default()
        },
        Case {
            name: "template-empty",
            files: render(""),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml): no Cluster document",
                "nothing was written",
            ],
            hint: "add exactly one `kind: Cluster` document named `c.example.com`",
            ..Case::default()
        },
        // ---------------------------------------------------------------- manifest checks
        Case {
            name: "manifest-invalid-yaml",
            files: render(edit("  role: Node\n", "  role: [Node\n  image: x\n")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):16:8: invalid YAML",
            ],
            hint: "fix the template so that it renders valid YAML",
            ..Case::default()
        },
        Case {
            name: "manifest-duplicate-key",
            files: render(edit(
                "  networkID: {{vpc_id}}\n",
                "  networkID: {{vpc_id}}\n  networkID: vpc-other\n",
            )),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):6:3: invalid YAML: spec: duplicate entry with key \"networkID\"",
            ],
            hint: "fix the template so that it renders valid YAML",
            ..Case::default()
        },
        Case {
            name: "manifest-empty-document",
            files: render(format!("{GOOD_TEMPLATE}---\n")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):17: an empty document",
            ],
            hint: "remove the separator from the template",
            ..Case::default()
        },
        // kops splits only at exact `---` lines and keeps the first YAML document of each part
        // (kops: util/pkg/text/text.go, pkg/kopscodecs/codecs.go): issue 17, mismatch 1.
        Case {
            name: "manifest-separator-with-comment",
            files: render(edit("---\n", "--- # the nodes\n")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):7: `--- # the nodes` starts a second YAML document, but kops replace splits a manifest only at lines that are exactly `---` (kops: util/pkg/text/text.go) and reads one document from each part, so it would silently drop everything from here to the next `---` line: write the separator as `---` alone on its line (a comment goes on the line below)",
            ],
            hint: "write the separator as `---` alone on its line",
            ..Case::default()
        },
        Case {
            name: "manifest-comments-before-leading-separator",
            files: render(format!("# cluster manifest\n---\n{GOOD_TEMPLATE}")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):1: only comments or blank lines before the `---` on line 2; kops replace splits a manifest at every `---` line that follows a line break (kops: util/pkg/text/text.go) and rejects the part above it, which holds no object (Object 'Kind' is missing in 'null'): remove the `---` on line 2, or put the comments below it",
            ],
            hint: "remove the `---` on line 2",
            ..Case::default()
        },
        Case {
            name: "manifest-null-document",
            files: render(format!("~\n---\n{GOOD_TEMPLATE}")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):1: a document must be a mapping, not null",
            ],
            hint: "remove it from the template",
            ..Case::default()
        },
        Case {
            name: "manifest-document-not-a-mapping",
            files: render(format!("- a\n- b\n---\n{GOOD_TEMPLATE}")),
            layer: true,
            args: &["cluster-template"],
            want: &["2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):1: a document"],
            hint: "must be a mapping with apiVersion, kind, metadata and spec",
            ..Case::default()
        },
        Case {
            name: "manifest-wrong-api-version",
            // Issue 18: the line at fault is the apiVersion line, not the document's first line.
            files: render(edit(
                "---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup",
                "---\nkind: InstanceGroup\napiVersion: kops/v1alpha3",
            )),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):9: apiVersion is `kops/v1alpha3`",
            ],
            hint: "set `apiVersion: kops.k8s.io/v1alpha2`",
            ..Case::default()
        },
        Case {
            name: "manifest-wrong-kind",
            files: render(edit("kind: InstanceGroup", "kind: InstanceGroups")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):9: kind `InstanceGroups` is not one kops replace accepts",
            ],
            hint: "use Cluster, InstanceGroup or SSHCredential",
            ..Case::default()
        },
        Case {
            name: "manifest-no-name",
            files: render(edit("  name: nodes\n", "")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):10: InstanceGroup has no metadata.name",
            ],
            hint: "add one",
            ..Case::default()
        },
        Case {
            name: "manifest-no-cluster",
            files: render(group_doc),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml): no Cluster document",
            ],
            hint: "add exactly one `kind: Cluster` document named `c.example.com` to the template",
            ..Case::default()
        },
        Case {
            name: "manifest-cluster-named-wrong",
            files: render(edit("name: {{cluster_name}}", "name: other.example.com")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):4: the Cluster is named `other.example.com` but this run acts on cluster `c.example.com`",
            ],
            hint: "fix metadata.name in the template or [cluster] name",
            ..Case::default()
        },
        Case {
            name: "manifest-second-cluster",
            files: render(format!("{GOOD_TEMPLATE}---\n{cluster_doc}")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):17: a second Cluster document",
            ],
            hint: "remove this one from the template",
            ..Case::default()
        },
        Case {
            name: "manifest-object-twice",
            files: render(format!("{GOOD_TEMPLATE}---\n{group_doc}")),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):17: InstanceGroup `nodes` appears twice",
            ],
            hint: "remove this one from the template",
            ..Case::default()
        },
        Case {
            name: "manifest-group-of-another-cluster",
            files: render(edit(
                "kops.k8s.io/cluster: {{cluster.name}}",
                "kops.k8s.io/cluster: other",
            )),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):8: InstanceGroup `nodes` is labelled kops.k8s.io/cluster: other",
                "nothing was written",
            ],
            hint: "set `kops.k8s.io/cluster: c.example.com`",
            ..Case::default()
        },
        Case {
            name: "manifest-group-without-cluster-label",
            files: render(edit(
                "  labels:\n    kops.k8s.io/cluster: {{cluster.name}}\n",
                "",
            )),
            layer: true,
            args: &["cluster-template"],
            want: &[
                "2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):8: InstanceGroup `nodes` has no metadata.labels.\"kops.k8s.io/cluster\"",
            ],
            hint: "add `kops.k8s.io/cluster: c.example.com`",
            ..Case::default()
        },
        // ---------------------------------------------------------------- values files
        Case {
            name: "values-file-above-the-project",
            files: values("../outside.yaml", None),
            layer: true,
            args: &["cluster-template"],
            want: &["../outside.yaml: this path leaves the project folder {dir}"],
            hint: "keep values files inside the project",
            ..Case::default()
        },
        Case {
            name: "values-file-absolute",
            files: values("/etc/passwd", None),
            layer: true,
            args: &["cluster-template"],
            want: &["/etc/passwd: this path leaves the project folder {dir}"],
            hint: "keep values files inside the project",
            ..Case::default()
        },
        Case {
            name: "values-file-missing",
            files: values("values/dev.yaml", None),
            layer: true,
            args: &["cluster-template"],
            want: &["{dir}/values/dev.yaml: cannot read values file"],
            hint: "fix the path in [cluster] values",
            ..Case::default()
        },
        Case {
            name: "values-file-invalid-yaml",
            files: values("values/dev.yaml", Some(b"nodes:\n  max: [1\n  min: 2\n")),
            layer: true,
            args: &["cluster-template"],
            want: &["{dir}/values/dev.yaml:3:6: not valid YAML/JSON"],
            hint: "fix the values file",
            ..Case::default()
        },
        Case {
            name: "values-file-not-utf8",
            files: values("values/dev.yaml", Some(b"nodes:\n  max: \xff\n")),
            layer: true,
            args: &["cluster-template"],
            want: &["{dir}/values/dev.yaml:2:8: not UTF-8 text (bad byte at offset 14)"],
            hint: "save the values file as UTF-8",
            ..Case::default()
        },
        Case {
            name: "values-file-not-a-mapping",
            files: values("values/dev.yaml", Some(b"- nodes\n- max\n")),
            layer: true,
            args: &["cluster-template"],
            want: &["{dir}/values/dev.yaml: a values file"],
            hint: "must hold a mapping of names to values at the top",
            ..Case::default()
        },
        // ---------------------------------------------------------------- terraform output
        Case {
            name: "terraform-output-garbage",
            files: fake_terraform("echo 'Hello'"),
            args: &["cluster-template"],
            want: &["output -json` in 1-prerequisites: no JSON object found"],
            hint: "run it there to see what it prints",
            ..Case::default()
        },
        Case {
            name: "terraform-output-truncated",
            files: fake_terraform("echo '{\"cluster_name\": {\"value\": \"x\"'"),
            args: &["cluster-template"],
            want: &[
                "output -json` in 1-prerequisites: not the JSON object `terraform output -json` prints",
            ],
            hint: "run it there to see what it prints",
            ..Case::default()
        },
        Case {
            name: "terraform-output-empty",
            files: fake_terraform("true"),
            args: &["cluster-template"],
            want: &["output -json` in 1-prerequisites: empty"],
            hint: "run it there to see what it prints",
            ..Case::default()
        },
        Case {
            name: "terraform-output-not-outputs",
            files: fake_terraform("echo '{\"cluster_name\": \"c.example.com\"}'"),
            args: &["cluster-template"],
            want: &[
                "output -json` in 1-prerequisites: output `cluster_name` is not an object with `value`",
            ],
            hint: "run it there to see what it prints",
            ..Case::default()
        },
        Case {
            name: "terraform-output-fails",
            files: fake_terraform("echo 'Error: Backend initialization required' >&2; exit 1"),
            args: &["cluster-template"],
            want: &[
                "output -json` in 1-prerequisites failed with status 1:\n  Error: Backend initialization required",
            ],
            hint: "(task prerequisites-apply)",
            ..Case::default()
        },
        // ---------------------------------------------------------------- plans
        Case {
            name: "plan-json-of-an-unknown-format",
            files: vec![
                file(
                    "plan.json",
                    "{\"format_version\": \"2.0\", \"terraform_version\": \"9.0.0\"}\n",
                ),
                file("review.md", "# the review of an earlier plan\n"),
            ],
            args: &["review", "plan.json", "--out", "review.md"],
            want: &["plan.json: plan JSON format_version \"2.0\" is not supported"],
            hint: "upgrade kopsform",
            ..Case::default()
        },
        // ---------------------------------------------------------------- children
        Case {
            name: "kops-fails",
            files: tasks(cluster(
                "kops-state",
                "[tasks.get]\nsteps = [[\"kops\", \"get\", \"clusters\"]]\n",
            )),
            layer: true,
            args: &["get"],
            want: &[
                "task `get`: `kops` exited with status 1:\n  Error: cluster not found \"c.example.com\"",
            ],
            hint: "fix what `kops` reports",
            ..Case::default()
        },
        Case {
            name: "terraform-fails",
            files: vec![
                file(
                    "tasks.toml",
                    "[tasks.plan]\ncwd = \"2-kops\"\nsteps = [[\"terraform\", \"plan\", \"-input=false\"]]\n",
                ),
                file("2-kops/main.tf", "output \"x\" {\n  value = \n}\n"),
            ],
            args: &["plan"],
            // The message itself (lines indented by two spaces) ends with terraform's stderr.
            want: &[
                "task `plan`: `terraform` exited with status 1:\n",
                "\n  │ Expected the start of an expression, but found an invalid expression token.\n",
            ],
            hint: "fix what `terraform` reports",
            ..Case::default()
        },
        Case {
            name: "missing-tool",
            files: tasks(
                "[tools]\nterraform = \"no-such-terraform-binary\"\n[tasks.t]\nsteps = [[\"terraform\", \"version\"]]\n",
            ),
            args: &["t"],
            status: 127,
            want: &["`no-such-terraform-binary` was not found"],
            hint: "install it or set its path in the [tools] table of tasks.toml",
            ..Case::default()
        },
        // ---------------------------------------------------------------- state stores
        Case {
            name: "unreachable-state-store",
            files: vec![
                file(
                    "tasks.toml",
                    cluster(
                        "s3://kops-state",
                        "[tasks.replace]\nsteps = [[\"kops\", \"replace\", \"-f\", \"2-kops/cluster.yml\"]]\n",
                    ),
                ),
                file("2-kops/cluster.yml", PREVIOUS_MANIFEST),
            ],
            layer: true,
            env: vec![
                ("AWS_ACCESS_KEY_ID", "testing".into()),
                ("AWS_SECRET_ACCESS_KEY", "testing-secret-key".into()),
                ("AWS_DEFAULT_REGION", "us-east-1".into()),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
                ("S3_ENDPOINT", format!("http://127.0.0.1:{port}")),
                // The aws CLI's default retries take ~9s to give up on a closed port.
                ("AWS_MAX_ATTEMPTS", "1".into()),
                ("AWS_RETRY_MODE", "standard".into()),
            ],
            args: &["replace"],
            want: &[
                "cannot take the lock s3://kops-state/.kopsform-locks/c.example.com.json",
                "Could not connect to the endpoint URL",
            ],
            hint: "check that the state store is reachable",
            ..Case::default()
        },
        Case {
            name: "unsupported-state-store",
            files: tasks(cluster(
                "gs://kops-state",
                "[tasks.change]\nlock = true\nsteps = [[\"touch\", \"changed\"]]\n",
            )),
            layer: true,
            args: &["change"],
            want: &[
                "state store `gs://kops-state`: kopsform works with s3:// stores, local paths and file:// only",
            ],
            hint: "fix the cluster's `state` in tasks.toml",
            ..Case::default()
        },
        // ---------------------------------------------------------------- builtins
        Case {
            name: "remove-outside-the-project",
            files: tasks(
                "[tasks.escape]\nsteps = [{ builtin = \"remove\", paths = [\"../outside\"] }]\n",
            ),
            args: &["escape"],
            want: &[
                "{dir}/tasks.toml: task `escape`: the `remove` step's paths = \"../outside\" leaves the project folder with `..`; nothing was deleted or written",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "remove-the-project-itself",
            files: vec![
                file(
                    "tasks.toml",
                    "[tasks.itself]\nsteps = [{ builtin = \"remove\", paths = [\"out/..\"] }]\n",
                ),
                file("out/plan.tfplan", "plan"),
            ],
            args: &["itself"],
            want: &[
                "{dir}/tasks.toml: task `itself`: the `remove` step's paths = \"out/..\" is the project folder itself; nothing was deleted or written",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        // ------------------------------------------- paths a step may write or delete (issue 16)
        Case {
            name: "copy-out-is-the-project",
            files: own_paths(r#"{ builtin = "copy", from = "2-kops", out = "." }"#),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `copy` step's out = \".\" is the project folder itself; nothing was deleted or written",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "copy-out-is-from-rendered",
            files: own_paths(
                r#"{ builtin = "copy", from = "{{cluster.dir}}", out = "{{cluster.dir}}/" }"#,
            ),
            args: &["t"],
            want: &[
                "task `t`: the `copy` step's out = \"2-kops/\" is the step's `from` itself; nothing was deleted or written",
                "(in {dir}/tasks.toml)",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "copy-out-inside-from",
            files: own_paths(r#"{ builtin = "copy", from = "2-kops", out = "2-kops/dryrun" }"#),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `copy` step's out = \"2-kops/dryrun\" is inside the step's `from` (2-kops)",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "copy-from-inside-out",
            files: own_paths(r#"{ builtin = "copy", from = "2-kops/sub", out = "2-kops" }"#),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `copy` step's out = \"2-kops\" holds the step's `from` (2-kops/sub)",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "copy-out-absolute",
            files: own_paths(
                r#"{ builtin = "copy", from = "2-kops", out = "/tmp/kopsform-elsewhere" }"#,
            ),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `copy` step's out = \"/tmp/kopsform-elsewhere\" is an absolute path, outside the project folder",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "copy-out-leaves-rendered",
            files: own_paths(
                r#"{ builtin = "copy", from = "2-kops", out = "{{cluster.dir}}/../../x" }"#,
            ),
            args: &["t"],
            want: &[
                "task `t`: the `copy` step's out = \"2-kops/../../x\" leaves the project folder with `..`",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "snapshot-state-outside-kopsform",
            files: own_paths(r#"{ builtin = "snapshot-state", out = "2-kops/state" }"#),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `snapshot-state` step's out = \"2-kops/state\" is outside .kopsform/, and this step empties its target",
            ],
            hint: "keep it under .kopsform/",
            ..Case::default()
        },
        Case {
            name: "render-over-its-template",
            files: own_paths(
                r#"{ render = "2-kops/cluster-template.yml", out = "2-kops/cluster-template.yml" }"#,
            ),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `render` step's out = \"2-kops/cluster-template.yml\" is the step's `render` itself",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "save-outside-the-project",
            files: own_paths(r#"{ run = ["touch", "ran"], save = "../saved.txt" }"#),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `run` step's save = \"../saved.txt\" leaves the project folder with `..`",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "provider-override-absolute",
            files: own_paths(r#"{ builtin = "provider-override", out = "/etc/override.tf" }"#),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `provider-override` step's out = \"/etc/override.tf\" is an absolute path",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "review-out-is-the-plan",
            files: own_paths(
                r#"{ builtin = "review", plan = "2-kops/p.tfplan", out = "2-kops/p.tfplan" }"#,
            ),
            args: &["t"],
            want: &[
                "{dir}/tasks.toml: task `t`: the `review` step's out = \"2-kops/p.tfplan\" is the step's `plan` itself",
            ],
            hint: "give the step a path of its own inside the project",
            ..Case::default()
        },
        Case {
            name: "cluster-name-not-a-kops-name",
            files: vec![file(
                "tasks.toml",
                cluster(
                    ".kops-state",
                    "[tasks.change]\nlock = true\nsteps = [[\"touch\", \"changed\"]]\n",
                ),
            )],
            layer: true,
            args: &["--set", "cluster_name=/etc/passwd", "change"],
            want: &[
                "{dir}/tasks.toml [cluster] name renders `/etc/passwd`, which is not a kops cluster name: it holds `/`",
            ],
            hint: "fix the name or the value it comes from",
            ..Case::default()
        },
    ]
}

/// Whether a path of the project may change in a failed run (see the module comment).
fn may_change(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    parts.first() == Some(&".kopsform")
        || parts.contains(&".terraform")
        || parts.last() == Some(&".terraform.lock.hcl")
}

fn is_temp_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with(".kopsform-") && name.ends_with(".tmp")
}

/// Runs one row and checks everything the module comment lists; the problems found, if any.
fn check(case: &Case) -> Result<(), String> {
    let mut p = Project::new();
    if case.layer {
        p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    }
    for (path, contents) in &case.files {
        let full = p.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, contents).unwrap();
        if contents.starts_with(b"#!") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    for (key, value) in &case.env {
        p.env(key, value);
    }
    let before: BTreeMap<String, Vec<u8>> = files(p.path());
    let run = p.kopsform(case.args);
    let after = files(p.path());

    let dir = p.path().display().to_string();
    let mut problems = Vec::new();
    if run.code != case.status {
        problems.push(format!("exit {} instead of {}", run.code, case.status));
    }
    for want in case.want.iter().chain([&case.hint]) {
        let want = want.replace("{dir}", &dir);
        if want.is_empty() || !run.stderr.contains(&want) {
            problems.push(format!("stderr lacks {want:?}"));
        }
    }
    for bad in ["panicked", "RUST_BACKTRACE"] {
        if run.stderr.contains(bad) {
            problems.push(format!("stderr has {bad:?}"));
        }
    }
    let mut paths: Vec<&String> = before.keys().chain(after.keys()).collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        if is_temp_file(path) {
            problems.push(format!("left the temporary file {path}"));
        } else if !may_change(path) {
            match (before.get(path), after.get(path)) {
                (Some(a), Some(b)) if a != b => problems.push(format!("changed {path}")),
                (Some(_), None) => problems.push(format!("removed {path}")),
                (None, Some(_)) => problems.push(format!("wrote {path}")),
                _ => {}
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "row `{}`: {}\n{}",
            case.name,
            problems.join("; "),
            run.show()
        ))
    }
}

/// Runs the rows two at a time and fails naming every row that failed.
fn run_rows(rows: Vec<Case>) {
    require_terraform();
    require("aws", "pip install awscli");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(case) = rows.get(i) else { break };
                    if let Err(problem) = check(case) {
                        failures.lock().unwrap().push((i, problem));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    let report: Vec<String> = failures.into_iter().map(|(_, p)| p).collect();
    assert!(
        report.is_empty(),
        "{} of {} rows failed:\n\n{}",
        report.len(),
        rows.len(),
        report.join("\n\n")
    );
}

#[test]
fn bad_input_table() {
    let rows = table();
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let mut names: Vec<&str> = rows.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "two rows share a name");
    for usage in USAGE_ROWS {
        assert!(names.contains(usage), "USAGE_ROWS names no row `{usage}`");
    }
    run_rows(
        rows.into_iter()
            .filter(|c| !USAGE_ROWS.contains(&c.name))
            .collect(),
    );
}

/// The usage rows: status 64 once clap's usage errors exit 64 (until then they exit 2 and this
/// test fails).
#[test]
fn usage_errors_exit_64() {
    run_rows(
        table()
            .into_iter()
            .filter(|c| USAGE_ROWS.contains(&c.name))
            .collect(),
    );
}

#[test]
fn a_good_template_renders_and_reports_its_documents() {
    require_terraform();
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    p.file("tasks.toml", RENDER_TASKS);
    p.file("2-kops/cluster-template.yml", GOOD_TEMPLATE);
    p.kopsform(&["cluster-template"])
        .success()
        .stderr_has("rendered 2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster c.example.com, InstanceGroup nodes)");
    assert!(p.read("2-kops/cluster.yml").contains("networkID: vpc-123"));
}

/// Issue 18: kops reads the legacy group `kops/v1alpha2` (it rewrites it to kops.k8s.io before
/// decoding: kops 1.36 pkg/kopscodecs/codecs.go `rewriteAPIGroup`), so kopsform passes it too.
#[test]
fn the_legacy_kops_api_group_renders_as_kops_accepts_it() {
    require_terraform();
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    p.file("tasks.toml", RENDER_TASKS);
    p.file(
        "2-kops/cluster-template.yml",
        &GOOD_TEMPLATE.replace("kops.k8s.io/v1alpha2", "kops/v1alpha2"),
    );
    p.kopsform(&["cluster-template"])
        .success()
        .stderr_has("rendered 2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster c.example.com, InstanceGroup nodes)");
    assert!(
        p.read("2-kops/cluster.yml")
            .starts_with("apiVersion: kops/v1alpha2\n")
    );
}

/// Issue 18: a top-level value used inside `#each` is missing there; the error does not suggest
/// the very name it could not find.
#[test]
fn a_missing_value_inside_each_suggests_no_name_to_itself() {
    require_terraform();
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    p.file("tasks.toml", RENDER_TASKS);
    p.file(
        "2-kops/cluster-template.yml",
        &edit(
            "  networkID: {{vpc_id}}\n",
            "  networkID: {{vpc_id}}\n  zones:\n{{#each cluster}}  - {{vpc_id}}\n{{/each}}",
        ),
    );
    let run = p.kopsform(&["cluster-template"]);
    run.failure(1);
    // The summary's duration varies; the rest is compared whole.
    let stderr: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.contains(" failed "))
        .collect();
    assert_eq!(
        stderr.join("\n"),
        "\nTASK              STATUS       DURATION\nkopsform: error: task `cluster-template`: 2-kops/cluster-template.yml:8:22: missing value `vpc_id`; the values that exist: cluster_name, vpc_id, outputs, env, cluster. Outputs that are null are left out by `terraform output -json`: use `default` for optional values"
    );
}

#[test]
fn remove_removes_inside_the_project() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[tasks.clean]\nsteps = [{ builtin = \"remove\", paths = [\"out/plan.tfplan\", \"out/gone\", \"work\"] }]\n",
    );
    p.file("out/plan.tfplan", "plan");
    p.file("work/a/b.txt", "b");
    p.kopsform(&["clean"])
        .success()
        .stderr_has("[clean] removed out/plan.tfplan")
        .stderr_has("[clean] removed work");
    assert!(!p.join("out/plan.tfplan").exists());
    assert!(!p.join("work").exists());
    assert!(p.join("tasks.toml").exists());
}

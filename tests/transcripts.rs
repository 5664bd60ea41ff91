//! Exact transcripts: whole stdout, whole stderr and the exit status of a run, compared with what
//! is written here (a safety net for refactors: a reordered, added, removed or reworded line
//! fails). Only what differs from run to run is normalised, by [`normalise`]:
//!
//! * the temporary project folder -> `[PROJECT]`, the repository -> `[REPO]`;
//! * durations: `0.1s` -> `[TIME]`, `45ms` -> `[TIME]`, and `"duration_ms":12` ->
//!   `"duration_ms":"[TIME]"` in JSON.
//!
//! Colour sequences are already removed by the bench ([`crate::support::Run`]). An expected text
//! is written from its first line on: the one newline after the opening `r#"` is not part of it.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::support::{Project, Run, repo, require_terraform};

/// One run of kopsform and everything it must print. Unset parts are expected empty (stdout,
/// stderr) or 0 (the status), as in casey/just's tests.
struct Transcript<'p> {
    project: &'p Project,
    args: Vec<String>,
    stdout: Expected,
    stderr: String,
    status: i32,
}

enum Expected {
    Text(String),
    /// One line of compact JSON (what kopsform prints), written here pretty for the reader: the
    /// output must be exactly this JSON, compact, keys in this order.
    Json(String),
}

/// The expected text as written in the test: without the newline after the opening quote.
fn text(written: &str) -> String {
    written.strip_prefix('\n').unwrap_or(written).to_string()
}

impl<'p> Transcript<'p> {
    /// kopsform with `args` in the project folder; `[REPO]` in an argument stands for the
    /// repository.
    fn new(project: &'p Project, args: &[&str]) -> Self {
        let repo = repo().display().to_string();
        let args = args.iter().map(|a| a.replace("[REPO]", &repo)).collect();
        Transcript {
            project,
            args,
            stdout: Expected::Text(String::new()),
            stderr: String::new(),
            status: 0,
        }
    }

    fn stdout(mut self, expected: &str) -> Self {
        self.stdout = Expected::Text(text(expected));
        self
    }

    fn stdout_json(mut self, expected: &str) -> Self {
        self.stdout = Expected::Json(expected.to_string());
        self
    }

    fn stderr(mut self, expected: &str) -> Self {
        self.stderr = text(expected);
        self
    }

    fn status(mut self, code: i32) -> Self {
        self.status = code;
        self
    }

    /// Runs kopsform and fails the test with a line diff of every part that differs.
    #[track_caller]
    fn run(self) -> Run {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let run = self.project.kopsform(&args);
        let stdout = normalise(&run.stdout, self.project.path());
        let stderr = normalise(&run.stderr, self.project.path());
        let mut problems = Vec::new();
        if run.code != self.status {
            problems.push(format!(
                "exit status: expected {}, got {}",
                self.status, run.code
            ));
        }
        match &self.stdout {
            Expected::Text(expected) => {
                if stdout != *expected {
                    problems.push(mismatch("stdout", expected, &stdout));
                }
            }
            Expected::Json(pretty) => {
                let value: Value = serde_json::from_str(pretty).expect("the expected JSON");
                let compact = format!("{}\n", serde_json::to_string(&value).unwrap());
                if stdout != compact {
                    // Shown pretty on both sides, so that the diff is by line.
                    let expected = serde_json::to_string_pretty(&value).unwrap();
                    let actual = serde_json::from_str::<Value>(&stdout)
                        .map(|v| serde_json::to_string_pretty(&v).unwrap())
                        .unwrap_or_else(|_| stdout.clone());
                    problems.push(format!(
                        "{}\n(stdout must be that JSON on one line, compact, with a newline)",
                        mismatch("stdout (JSON)", &expected, &actual)
                    ));
                }
            }
        }
        if stderr != self.stderr {
            problems.push(mismatch("stderr", &self.stderr, &stderr));
        }
        assert!(
            problems.is_empty(),
            "transcript of `kopsform {}` differs:\n\n{}",
            self.args.join(" "),
            problems.join("\n\n")
        );
        run
    }
}

static DURATION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d+\.\d+s|\d+ms)\b").unwrap());
static DURATION_MS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#""duration_ms":\d+"#).unwrap());

/// Replaces what differs from run to run, and only that.
fn normalise(output: &str, project: &Path) -> String {
    let mut folders = Vec::new();
    for (path, name) in [(project.to_path_buf(), "[PROJECT]"), (repo(), "[REPO]")] {
        if let Ok(real) = path.canonicalize() {
            folders.push((real.display().to_string(), name));
        }
        folders.push((path.display().to_string(), name));
    }
    // The longest first, so that a folder inside another is replaced as itself.
    folders.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    let mut out = output.to_string();
    for (path, name) in folders {
        out = out.replace(&path, name);
    }
    let out = DURATION_MS.replace_all(&out, r#""duration_ms":"[TIME]""#);
    DURATION.replace_all(&out, "[TIME]").into_owned()
}

/// The expected and the actual text, and a line diff of the two (`-` expected, `+` actual).
fn mismatch(what: &str, expected: &str, actual: &str) -> String {
    format!(
        "--- {what}: diff (- expected, + actual)\n{}--- {what}: the whole actual text\n{actual}\n--- end of {what}",
        line_diff(expected, actual)
    )
}

/// A line diff (longest common subsequence) with three lines of context around each change.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.split('\n').collect();
    let b: Vec<&str> = actual.split('\n').collect();
    let (n, m) = (a.len(), b.len());
    let mut common = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || common[i + 1][j] >= common[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut out = String::new();
    let mut last: Option<usize> = None;
    for (k, (sign, line)) in ops.iter().enumerate() {
        if !changed.iter().any(|&c| c.abs_diff(k) <= 3) {
            continue;
        }
        if last.is_some_and(|l| l + 1 != k) {
            out.push_str("  ...\n");
        }
        let trailing = if *sign != ' ' && line.ends_with([' ', '\t']) {
            "  <- trailing whitespace"
        } else {
            ""
        };
        out.push_str(&format!("{sign} {line}{trailing}\n"));
        last = Some(k);
    }
    if changed.is_empty() {
        out.push_str("(no line differs)\n");
    }
    out
}

/// A copy of the offline sandbox (examples/sandbox) with what it refers to by relative path.
fn sandbox() -> Project {
    let p = Project::new();
    p.copy_from_repo("examples/sandbox", "examples/sandbox");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.copy_from_repo("tests/kops-double/kops", "tests/kops-double/kops");
    p
}

/// The sandbox with its prerequisites layer applied, so that its outputs exist.
fn sandbox_with_prerequisites() -> Project {
    require_terraform();
    let p = sandbox();
    p.kopsform(&["-C", "examples/sandbox", "--yes", "prerequisites-apply"])
        .success();
    p
}

#[test]
fn transcript_of_the_sandbox_dry_run_of_cluster_update_plan_apply() {
    let p = sandbox_with_prerequisites();
    Transcript::new(
        &p,
        &[
            "-C",
            "examples/sandbox",
            "--dry-run",
            "cluster-update",
            "plan",
            "apply",
        ],
    )
    .stderr(
        r#"
[cluster-template] would write 2-kops/cluster.yml from ../../2-kops/cluster-template.yml (Cluster sandbox.k8s.local, InstanceGroup control-plane-eu-west-1a, InstanceGroup nodes)
[cluster-update] would run: kops replace --force -f 2-kops/cluster.yml --name sandbox.k8s.local --state [PROJECT]/examples/sandbox/.kops-state
[cluster-update] would run: kops update cluster --name sandbox.k8s.local --state [PROJECT]/examples/sandbox/.kops-state --target terraform --out 2-kops --create-kube-config=false
[init] would run: (cd 2-kops && terraform init)
[plan] would run: (cd 2-kops && terraform plan -out=kubernetes.tfplan)
[plan] would seal 2-kops/kubernetes.tfplan
[apply] would check 2-kops/kubernetes.tfplan against its seal
[apply] would run: (cd 2-kops && terraform apply kubernetes.tfplan)

TASK              STATUS       DURATION
cluster-template  dry run      [TIME]
cluster-update    dry run      [TIME]
init              dry run      [TIME]
plan              dry run      [TIME]
apply             dry run      [TIME]
"#,
    )
    .run();
}

#[test]
fn transcript_of_list_and_list_json_on_the_sandbox() {
    let p = sandbox();
    Transcript::new(&p, &["-C", "examples/sandbox", "list"])
        .stdout(
            r#"
outputs                     Show the prerequisites layer's outputs (sensitive ones masked)
cluster-template            Render 2-kops/cluster-template.yml into the cluster's cluster.yml (checked, written atomically)
cluster-update              Put cluster.yml into the kops state store and emit kubernetes.tf and data/ into the cluster's folder
dryrun                      Pull-request dry run: cluster-update and plan against a snapshot of the state store, then the review; changes nothing live
init                        terraform init in 2-kops
plan                        terraform plan in 2-kops, saved to 2-kops/kubernetes.tfplan
apply                       terraform apply of exactly the reviewed plan 2-kops/kubernetes.tfplan (refuses a changed plan or inputs, and protected deletions without --allow-destroy) [confirm]
cluster-validate            kops validate cluster
kubecfg                     Export an admin kubeconfig to 2-kops/kubeconfig (mode 0600)
cluster-rolling-update      kops rolling-update cluster, dry run: which instance groups need an update
cluster-rolling-update-yes  kops rolling-update cluster --yes: replace the instances that need an update [confirm]
prune-instancegroups        kops delete instancegroup --yes for each instance group in the state store but not in cluster.yml (kops replace never deletes one); each named with --allow-destroy instancegroup/NAME [confirm]
destroy                     terraform destroy in 2-kops (the cluster's cloud resources) [confirm]
cluster-destroy             kops delete cluster, dry run: what --yes would delete
cluster-destroy-yes         kops delete cluster --yes: remaining cloud resources and the cluster's state store objects [confirm]
prerequisites-plan          terraform plan of the prerequisites layer, saved (sealed) to the cluster's .kopsform folder as prerequisites.tfplan
prerequisites-apply         terraform apply of the sealed prerequisites plan (refuses a changed plan, and protected deletions such as the DNS zone or the state bucket without --allow-destroy) [confirm]
prerequisites-destroy       terraform destroy in 1-prerequisites (VPC, DNS zone, state bucket) [confirm]
"#,
        )
        .run();
    Transcript::new(&p, &["-C", "examples/sandbox", "list", "--json"])
        .stdout_json(
            r#"
[
  {
    "name": "outputs",
    "desc": "Show the prerequisites layer's outputs (sensitive ones masked)",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "cluster-template",
    "desc": "Render 2-kops/cluster-template.yml into the cluster's cluster.yml (checked, written atomically)",
    "deps": [],
    "confirm": null,
    "sources": [
      "../../2-kops/cluster-template.yml"
    ],
    "generates": [
      "{{cluster.dir}}/cluster.yml"
    ],
    "steps": 1
  },
  {
    "name": "cluster-update",
    "desc": "Put cluster.yml into the kops state store and emit kubernetes.tf and data/ into the cluster's folder",
    "deps": [
      "cluster-template"
    ],
    "confirm": null,
    "sources": [
      "{{cluster.dir}}/cluster.yml"
    ],
    "generates": [
      "{{cluster.dir}}/kubernetes.tf",
      "{{cluster.dir}}/data/*"
    ],
    "steps": 3
  },
  {
    "name": "dryrun",
    "desc": "Pull-request dry run: cluster-update and plan against a snapshot of the state store, then the review; changes nothing live",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 14
  },
  {
    "name": "init",
    "desc": "terraform init in 2-kops",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "plan",
    "desc": "terraform plan in 2-kops, saved to 2-kops/kubernetes.tfplan",
    "deps": [
      "init"
    ],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 2
  },
  {
    "name": "apply",
    "desc": "terraform apply of exactly the reviewed plan 2-kops/kubernetes.tfplan (refuses a changed plan or inputs, and protected deletions without --allow-destroy)",
    "deps": [
      "init"
    ],
    "confirm": "Apply the saved plan 2-kops/kubernetes.tfplan?",
    "sources": [],
    "generates": [],
    "steps": 2
  },
  {
    "name": "cluster-validate",
    "desc": "kops validate cluster",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "kubecfg",
    "desc": "Export an admin kubeconfig to 2-kops/kubeconfig (mode 0600)",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "cluster-rolling-update",
    "desc": "kops rolling-update cluster, dry run: which instance groups need an update",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "cluster-rolling-update-yes",
    "desc": "kops rolling-update cluster --yes: replace the instances that need an update",
    "deps": [],
    "confirm": "Roll the instance groups that need an update?",
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "prune-instancegroups",
    "desc": "kops delete instancegroup --yes for each instance group in the state store but not in cluster.yml (kops replace never deletes one); each named with --allow-destroy instancegroup/NAME",
    "deps": [
      "cluster-template"
    ],
    "confirm": "Delete the instance groups that are in the state store but not in cluster.yml, with their cloud resources?",
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "destroy",
    "desc": "terraform destroy in 2-kops (the cluster's cloud resources)",
    "deps": [
      "init"
    ],
    "confirm": "Destroy every resource of 2-kops/kubernetes.tf?",
    "sources": [],
    "generates": [],
    "steps": 3
  },
  {
    "name": "cluster-destroy",
    "desc": "kops delete cluster, dry run: what --yes would delete",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "cluster-destroy-yes",
    "desc": "kops delete cluster --yes: remaining cloud resources and the cluster's state store objects",
    "deps": [],
    "confirm": "Delete the cluster and its state store objects?",
    "sources": [],
    "generates": [],
    "steps": 1
  },
  {
    "name": "prerequisites-plan",
    "desc": "terraform plan of the prerequisites layer, saved (sealed) to the cluster's .kopsform folder as prerequisites.tfplan",
    "deps": [],
    "confirm": null,
    "sources": [],
    "generates": [],
    "steps": 3
  },
  {
    "name": "prerequisites-apply",
    "desc": "terraform apply of the sealed prerequisites plan (refuses a changed plan, and protected deletions such as the DNS zone or the state bucket without --allow-destroy)",
    "deps": [
      "prerequisites-plan"
    ],
    "confirm": "Apply the saved plan of the prerequisites layer?",
    "sources": [],
    "generates": [],
    "steps": 2
  },
  {
    "name": "prerequisites-destroy",
    "desc": "terraform destroy in 1-prerequisites (VPC, DNS zone, state bucket)",
    "deps": [],
    "confirm": "Destroy the prerequisites layer (VPC, DNS zone, kops state bucket)?",
    "sources": [],
    "generates": [],
    "steps": 2
  }
]
"#,
        )
        .run();
}

const FAILING_TASKS: &str = r#"
[tasks.build]
desc = "Build"
steps = [["echo", "building"]]

[tasks.check]
desc = "A step that fails"
deps = ["build"]
steps = [
  ["echo", "partial output"],
  ["sh", "-c", "echo something broke >&2; exit 3"],
  ["echo", "never reached"],
]
"#;

#[test]
fn transcript_of_a_failing_step() {
    let p = Project::new();
    p.file("tasks.toml", FAILING_TASKS);
    Transcript::new(&p, &["check"])
        .stdout(
            r#"
[build] building
[check] partial output
"#,
        )
        .stderr(
            r#"
[build] $ echo building
[check] $ echo 'partial output'
[check] $ sh -c 'echo something broke >&2; exit 3'
[check] something broke

TASK   STATUS       DURATION
build  ok           [TIME]
check  failed       [TIME]
kopsform: error: task `check`: `sh` exited with status 3:
  something broke
fix what `sh` reports (its whole output is above), then run the task again
"#,
        )
        .status(1)
        .run();
    // The run summary as JSON on stdout; the children's output goes to stderr.
    Transcript::new(&p, &["--json", "check"])
        .stdout_json(
            r#"
{
  "exit_status": 1,
  "tasks": [
    {
      "cluster": "",
      "task": "build",
      "status": "ok",
      "duration_ms": "[TIME]",
      "note": "",
      "plan_sha256": null
    },
    {
      "cluster": "",
      "task": "check",
      "status": "failed",
      "duration_ms": "[TIME]",
      "note": "",
      "plan_sha256": null
    }
  ]
}
"#,
        )
        .stderr(
            r#"
[build] $ echo building
[build] building
[check] $ echo 'partial output'
[check] partial output
[check] $ sh -c 'echo something broke >&2; exit 3'
[check] something broke
kopsform: error: task `check`: `sh` exited with status 3:
  something broke
fix what `sh` reports (its whole output is above), then run the task again
"#,
        )
        .status(1)
        .run();
}

#[test]
fn transcript_of_unknown_tasks_and_a_dependency_cycle() {
    let p = Project::new();
    p.file("tasks.toml", FAILING_TASKS);
    Transcript::new(&p, &["chek"])
        .stderr(
            r#"
kopsform: error: unknown task `chek` in [PROJECT]/tasks.toml; did you mean `check`?
"#,
        )
        .status(1)
        .run();
    Transcript::new(&p, &["--dry-run", "build", "deploy"])
        .stderr(
            r#"
kopsform: error: unknown task `deploy` in [PROJECT]/tasks.toml; `kopsform list` shows the tasks
"#,
        )
        .status(1)
        .run();
    p.file(
        "tasks.toml",
        "[tasks.a]\ndeps = [\"b\"]\nsteps = [[\"true\"]]\n\n[tasks.b]\ndeps = [\"c\"]\nsteps = [[\"true\"]]\n\n[tasks.c]\ndeps = [\"a\"]\nsteps = [[\"true\"]]\n",
    );
    Transcript::new(&p, &["a"])
        .stderr(
            r#"
kopsform: error: [PROJECT]/tasks.toml: dependency cycle: a -> b -> c -> a; remove one of these dependencies
"#,
        )
        .status(1)
        .run();
}

#[test]
fn transcript_of_cluster_template_rendered_up_to_date_then_a_missing_value() {
    let p = sandbox_with_prerequisites();
    Transcript::new(&p, &["-C", "examples/sandbox", "cluster-template"])
        .stderr(
            r#"
[cluster-template] runs: no record of an earlier successful run
[cluster-template] rendered ../../2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster sandbox.k8s.local, InstanceGroup control-plane-eu-west-1a, InstanceGroup nodes)

TASK              STATUS       DURATION
cluster-template  ok           [TIME]
"#,
        )
        .run();
    Transcript::new(&p, &["-C", "examples/sandbox", "cluster-template"])
        .stderr(
            r#"
[cluster-template] up to date: sources, arguments, values, tool versions and generated files unchanged since its last run (--force runs it anyway)

TASK              STATUS       DURATION
cluster-template  up to date   [TIME]
"#,
        )
        .run();
    let template = p.read("2-kops/cluster-template.yml");
    assert!(template.contains("  name: {{cluster_name}}\n"));
    p.file(
        "2-kops/cluster-template.yml",
        &template.replacen(
            "  name: {{cluster_name}}\n",
            "  name: {{cluster_nmae}}\n",
            1,
        ),
    );
    Transcript::new(&p, &["-C", "examples/sandbox", "cluster-template"])
        .stderr(
            r#"
[cluster-template] runs: its sources, arguments, values or tool versions changed

TASK              STATUS       DURATION
cluster-template  failed       [TIME]
kopsform: error: task `cluster-template`: ../../2-kops/cluster-template.yml:31:9: missing value `cluster_nmae`; did you mean one of `cluster_name`, `cluster`, `cluster_master_azs`?; the values that exist: admin_access_cidrs, availability_zones, cloud_labels, cluster_master_azs, cluster_name, cluster_version, dns_zone, environment, hosted_zone_id, kops_ami_id, kops_master_machine_type, kops_s3_bucket, kops_state_store, kops_worker_machine_max_size, kops_worker_machine_min_size, kops_worker_machine_type, nat_gateway_ids, private_subnet_cidr_blocks, private_subnet_ids, public_subnet_cidr_blocks, public_subnet_ids, region, ssh_key_name, vpc_cidr_block, vpc_id, outputs, env, cluster. Outputs that are null are left out by `terraform output -json`: use `default` for optional values
"#,
        )
        .status(1)
        .run();
}

#[test]
fn transcript_of_the_fleet_dry_run_one_cluster_at_a_time() {
    let p = crate::clusters::fleet();
    p.kopsform(&[
        "-C",
        "examples/fleet",
        "--all",
        "--yes",
        "prerequisites-apply",
    ])
    .success();
    // -j 1: staging and prod (one stage) would otherwise run at once and interleave their lines.
    Transcript::new(
        &p,
        &[
            "-C",
            "examples/fleet",
            "--all",
            "-j",
            "1",
            "--dry-run",
            "cluster-update",
            "plan",
            "apply",
        ],
    )
    .stderr(
        r#"
[dev/cluster-template] would write clusters/dev/cluster.yml from ../../2-kops/cluster-template.yml (Cluster dev.k8s.local, InstanceGroup control-plane-eu-west-1a, InstanceGroup nodes)
[dev/cluster-update] would run: kops replace --force -f clusters/dev/cluster.yml --name dev.k8s.local --state [PROJECT]/examples/sandbox/.kops-state
[dev/cluster-update] would run: kops update cluster --name dev.k8s.local --state [PROJECT]/examples/sandbox/.kops-state --target terraform --out clusters/dev --create-kube-config=false
[dev/init] would run: (cd clusters/dev && terraform init)
[dev/plan] would run: (cd clusters/dev && terraform plan -out=kubernetes.tfplan)
[dev/plan] would seal clusters/dev/kubernetes.tfplan
[dev/apply] would check clusters/dev/kubernetes.tfplan against its seal
[dev/apply] would run: (cd clusters/dev && terraform apply kubernetes.tfplan)
[staging/cluster-template] would write clusters/staging/cluster.yml from ../../2-kops/cluster-template.yml (Cluster staging.k8s.local, InstanceGroup control-plane-eu-west-1a, InstanceGroup nodes)
[staging/cluster-update] would run: kops replace --force -f clusters/staging/cluster.yml --name staging.k8s.local --state [PROJECT]/examples/sandbox/.kops-state
[staging/cluster-update] would run: kops update cluster --name staging.k8s.local --state [PROJECT]/examples/sandbox/.kops-state --target terraform --out clusters/staging --create-kube-config=false
[staging/init] would run: (cd clusters/staging && terraform init)
[staging/plan] would run: (cd clusters/staging && terraform plan -out=kubernetes.tfplan)
[staging/plan] would seal clusters/staging/kubernetes.tfplan
[staging/apply] would check clusters/staging/kubernetes.tfplan against its seal
[staging/apply] would run: (cd clusters/staging && terraform apply kubernetes.tfplan)
[prod/cluster-template] would write clusters/prod/cluster.yml from ../../2-kops/cluster-template.yml (Cluster prod.k8s.local, InstanceGroup control-plane-eu-west-1a, InstanceGroup nodes)
[prod/cluster-update] would run: kops replace --force -f clusters/prod/cluster.yml --name prod.k8s.local --state [PROJECT]/examples/sandbox/.kops-state
[prod/cluster-update] would run: kops update cluster --name prod.k8s.local --state [PROJECT]/examples/sandbox/.kops-state --target terraform --out clusters/prod --create-kube-config=false
[prod/init] would run: (cd clusters/prod && terraform init)
[prod/plan] would run: (cd clusters/prod && terraform plan -out=kubernetes.tfplan)
[prod/plan] would seal clusters/prod/kubernetes.tfplan
[prod/apply] would check clusters/prod/kubernetes.tfplan against its seal
[prod/apply] would run: (cd clusters/prod && terraform apply kubernetes.tfplan)

CLUSTER  TASK              STATUS       DURATION
dev      cluster-template  dry run      [TIME]
dev      cluster-update    dry run      [TIME]
dev      init              dry run      [TIME]
dev      plan              dry run      [TIME]
dev      apply             dry run      [TIME]
staging  cluster-template  dry run      [TIME]
staging  cluster-update    dry run      [TIME]
staging  init              dry run      [TIME]
staging  plan              dry run      [TIME]
staging  apply             dry run      [TIME]
prod     cluster-template  dry run      [TIME]
prod     cluster-update    dry run      [TIME]
prod     init              dry run      [TIME]
prod     plan              dry run      [TIME]
prod     apply             dry run      [TIME]
"#,
    )
    .run();
}

const PLAN: &str = "[REPO]/tests/fixtures/plans/minimal-aws.plan.json";

#[test]
fn transcript_of_the_review_of_a_kops_plan_in_markdown() {
    let p = Project::new();
    Transcript::new(&p, &["review", PLAN])
        .stdout(
            r#"
<!-- kopsform-review cluster=default -->
## Terraform plan review

**Plan: 1 to import, 4 to add, 3 to change, 2 to destroy.**

Also: 1 moved, 1 to forget (no longer managed, not destroyed).

🛑 **2 protected resources would be destroyed or replaced.**

### Destroyed or replaced (2)

- 🛑 **PROTECTED** **replace (destroy, then create)** `aws_ebs_volume.us-test-1a-etcd-main-minimal-aws-example-com` — etcd data volume: the cluster's state (default rule)
  - why: the provider cannot make this change in place, so the object is replaced (`replace_because_cannot_update`)
  - forces replacement: `encrypted`
- 🛑 **PROTECTED** **delete** `aws_s3_bucket.kops_state` — S3 bucket: its objects (such as the kops state store) go with it (default rule)
  - why: `aws_s3_bucket.kops_state` is not in the configuration (`delete_because_no_resource_config`)

### Rolling update

**After apply, instance group `nodes-minimal-aws-example-com` needs a rolling update**: this plan changes its launch template; running instances keep the old template until `kops rolling-update cluster --yes` replaces them.


### Managed files and user data (1)

The files kops manages and the launch templates' user data, decoded from the plan, secrets masked (`***`): 3 lines of context, at most 200 lines per file.

<details><summary><b>update</b> <code>aws_launch_template.nodes-minimal-aws-example-com</code> <code>user_data</code>: instance group <code>nodes-minimal-aws-example-com</code> needs a rolling update</summary>

```diff
@@ -2,4 +2,4 @@
 # for aws_launch_template.nodes-minimal-aws-example-com
 line 0: 3309b9b73b7f3bd38c4a50c3ec7d9214f30aa8bef4e3d0ef30c8ced758defa3f
 line 1: a1c5a68fd8bd34dd2c472bb1c1dd0910048e36d87ac3013d14abc4585d71ee0d
-line 2: 5178ed2a0ce5feb67b815f47b3ff2800cc09439f93ca42bf5a0ea5c7da8e24bb
+line 2 (t3.large): 5178ed2a0ce5feb67b815f47b3ff2800cc09439f93ca42bf5a0ea5c7da8e24bb
```

</details>

### Changes by resource type

| Resource type | Create | Update | Replace | Delete | Other |
|---|--:|--:|--:|--:|---|
| `aws_autoscaling_group` |  | 1 |  |  |  |
| `aws_cloudwatch_event_rule` | 1 |  |  |  |  |
| `aws_cloudwatch_event_target` | 1 |  |  |  |  |
| `aws_ebs_volume` |  |  | 1 |  |  |
| `aws_key_pair` |  |  |  |  | 1 import |
| `aws_launch_template` |  | 1 |  |  |  |
| `aws_route_table_association` |  |  |  |  | 1 forget |
| `aws_s3_bucket` |  |  |  | 1 |  |
| `aws_s3_object` |  | 1 |  |  |  |
| `aws_security_group_rule` |  |  |  |  | 1 move |
| `aws_sqs_queue` | 1 |  |  |  |  |

### Drift: changed outside Terraform (1)

Terraform found these differences when it refreshed the state; the plan above already takes them into account.

- `aws_autoscaling_group.nodes-minimal-aws-example-com` has changed
  - `max_size`: `2` → `5`

### Output changes

| Output | Change | Before | After |
|---|---|---|---|
| `basic_auth_password` | create |  | (sensitive) |
| `node_instance_type` | update | `"t3.medium"` | `"t3.large"` |
| `nth_queue_url` | create |  | (known after apply) |

### Details

<details><summary><b>update</b> <code>aws_autoscaling_group.nodes-minimal-aws-example-com</code></summary>

| Attribute | Before | After |
|---|---|---|
| `max_size` | `2` | `4` |
| `min_size` | `2` | `3` |

</details>

<details><summary><b>create</b> <code>aws_cloudwatch_event_rule.minimal-aws-example-com-ASGLifecycle</code></summary>

| Attribute | Value |
|---|---|
| `arn` | (known after apply) |
| `event_pattern` | `sha256:fb7db6c2be56…` (367 bytes) |
| `id` | (known after apply) |
| `name` | `"minimal-aws.example.com-ASGLifecycle"` |
| `tags.KubernetesCluster` | `"minimal-aws.example.com"` |
| `tags.Name` | `"minimal-aws.example.com-ASGLifecycle"` |
| `tags["kubernetes.io/cluster/minimal-aws.example.com"]` | `"owned"` |

</details>

<details><summary><b>create</b> <code>aws_cloudwatch_event_target.minimal-aws-example-com-ASGLifecycle-Target</code></summary>

| Attribute | Value |
|---|---|
| `arn` | (known after apply) |
| `id` | (known after apply) |
| `rule` | (known after apply) |

</details>

<details><summary><b>replace (destroy, then create)</b> <code>aws_ebs_volume.us-test-1a-etcd-main-minimal-aws-example-com</code></summary>

| Attribute | Before | After |
|---|---|---|
| `encrypted` **forces replacement** | `false` | `true` |
| `id` | `"vol-a036467e886affc81"` | (known after apply) |

</details>

<details><summary><b>import</b> <code>aws_key_pair.kubernetes-minimal-aws-example-com-c4a6ed9aa889b9e2c39cd663eb9c7157</code> (import ID <code>kubernetes.minimal-aws.example.com-c4:a6:ed:9a:a8:89:b9:e2:c3:9c:d6:63:eb:9c:71:57</code>)</summary>

No attribute changes.

</details>

<details><summary><b>update</b> <code>aws_launch_template.nodes-minimal-aws-example-com</code></summary>

| Attribute | Before | After |
|---|---|---|
| `instance_type` | `"t2.medium"` | `"t3.large"` |
| `latest_version` | `1` | (known after apply) |
| `user_data` | `sha256:93a2c4c895a9…` (452 bytes) | `sha256:394c2494d0de…` (464 bytes) |

</details>

<details><summary><b>forget</b> <code>aws_route_table_association.us-test-1a-minimal-aws-example-com</code></summary>

| Attribute | Value before |
|---|---|
| `id` | `"07a419aa8233979b4"` |
| `route_table_id` | `"rtb-d6c73db674d28c0f2"` |
| `subnet_id` | `"subnet-ecd10e8b3dda69b10"` |

</details>

<details><summary><b>delete</b> <code>aws_s3_bucket.kops_state</code></summary>

| Attribute | Value before |
|---|---|
| `arn` | `"arn:aws:s3:::minimal-aws-example-com-kops-state"` |
| `bucket` | `"minimal-aws-example-com-kops-state"` |
| `id` | `"minimal-aws-example-com-kops-state"` |

</details>

<details><summary><b>update</b> <code>aws_s3_object.nodeupconfig-nodes</code></summary>

| Attribute | Before | After |
|---|---|---|
| `content` | (sensitive) | (sensitive) |

</details>

<details><summary><b>move</b> <code>aws_security_group_rule.from-0-0-0-0--0-ingress-tcp-22to22-masters-minimal-aws-example-com</code> (moved from <code>aws_security_group_rule.ssh-external-to-master-0-0-0-0--0</code>)</summary>

No attribute changes.

</details>

<details><summary><b>create</b> <code>aws_sqs_queue.minimal-aws-example-com-nth</code></summary>

| Attribute | Value |
|---|---|
| `arn` | (known after apply) |
| `id` | (known after apply) |
| `message_retention_seconds` | `300` |
| `name` | `"minimal-aws-example-com-nth"` |
| `policy` | `sha256:f3defc56280f…` (318 bytes) |
| `tags.KubernetesCluster` | `"minimal-aws.example.com"` |
| `tags.Name` | `"minimal-aws-example-com-nth"` |
| `tags["kubernetes.io/cluster/minimal-aws.example.com"]` | `"owned"` |
| `url` | (known after apply) |

</details>

### Variables

<details><summary>2 input variables</summary>

| Variable | Value |
|---|---|
| `cluster_name` | `"minimal-aws.example.com"` |
| `kops_token` | (sensitive) |

</details>
"#,
        )
        .status(3)
        .run();
}

#[test]
fn transcript_of_the_review_of_a_kops_plan_in_json() {
    let p = Project::new();
    Transcript::new(&p, &["review", PLAN, "--format", "json"])
        .stdout(
            r#"
{
  "kopsform_review": 1,
  "cluster": "default",
  "format_version": "1.2",
  "terraform_version": "1.11.4",
  "headline": "Plan: 1 to import, 4 to add, 3 to change, 2 to destroy.",
  "counts": {
    "import": 1,
    "add": 4,
    "change": 3,
    "destroy": 2,
    "forget": 1,
    "move": 1,
    "read": 0,
    "invoke": 0
  },
  "exit_status": 3,
  "errored": false,
  "deferred": 0,
  "protected": [
    {
      "address": "aws_ebs_volume.us-test-1a-etcd-main-minimal-aws-example-com",
      "action": "replace",
      "reason": "etcd data volume: the cluster's state (default rule)"
    },
    {
      "address": "aws_s3_bucket.kops_state",
      "action": "delete",
      "reason": "S3 bucket: its objects (such as the kops state store) go with it (default rule)"
    }
  ],
  "policy_rules": 0,
  "policy": [],
  "changes": [
    {
      "address": "aws_autoscaling_group.nodes-minimal-aws-example-com",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_autoscaling_group",
      "name": "nodes-minimal-aws-example-com",
      "index": null,
      "deposed": null,
      "actions": [
        "update"
      ],
      "action": "update",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "max_size",
          "before": "2",
          "after": "4",
          "forces_replacement": false
        },
        {
          "path": "min_size",
          "before": "2",
          "after": "3",
          "forces_replacement": false
        }
      ],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_cloudwatch_event_rule.minimal-aws-example-com-ASGLifecycle",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_cloudwatch_event_rule",
      "name": "minimal-aws-example-com-ASGLifecycle",
      "index": null,
      "deposed": null,
      "actions": [
        "create"
      ],
      "action": "create",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "arn",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        },
        {
          "path": "event_pattern",
          "before": null,
          "after": "(sha256:fb7db6c2be56, 367 bytes)",
          "forces_replacement": false
        },
        {
          "path": "id",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        },
        {
          "path": "name",
          "before": null,
          "after": "\"minimal-aws.example.com-ASGLifecycle\"",
          "forces_replacement": false
        },
        {
          "path": "tags.KubernetesCluster",
          "before": null,
          "after": "\"minimal-aws.example.com\"",
          "forces_replacement": false
        },
        {
          "path": "tags.Name",
          "before": null,
          "after": "\"minimal-aws.example.com-ASGLifecycle\"",
          "forces_replacement": false
        },
        {
          "path": "tags[\"kubernetes.io/cluster/minimal-aws.example.com\"]",
          "before": null,
          "after": "\"owned\"",
          "forces_replacement": false
        }
      ],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_cloudwatch_event_target.minimal-aws-example-com-ASGLifecycle-Target",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_cloudwatch_event_target",
      "name": "minimal-aws-example-com-ASGLifecycle-Target",
      "index": null,
      "deposed": null,
      "actions": [
        "create"
      ],
      "action": "create",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "arn",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        },
        {
          "path": "id",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        },
        {
          "path": "rule",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        }
      ],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_ebs_volume.us-test-1a-etcd-main-minimal-aws-example-com",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_ebs_volume",
      "name": "us-test-1a-etcd-main-minimal-aws-example-com",
      "index": null,
      "deposed": null,
      "actions": [
        "delete",
        "create"
      ],
      "action": "replace",
      "action_reason": "replace_because_cannot_update",
      "reasons": [
        "the provider cannot make this change in place, so the object is replaced (replace_because_cannot_update)"
      ],
      "replace_paths": [
        "encrypted"
      ],
      "importing": null,
      "attributes": [
        {
          "path": "encrypted",
          "before": "false",
          "after": "true",
          "forces_replacement": true
        },
        {
          "path": "id",
          "before": "\"vol-a036467e886affc81\"",
          "after": "(known after apply)",
          "forces_replacement": false
        }
      ],
      "protected": true,
      "protected_reason": "etcd data volume: the cluster's state (default rule)"
    },
    {
      "address": "aws_key_pair.kubernetes-minimal-aws-example-com-c4a6ed9aa889b9e2c39cd663eb9c7157",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_key_pair",
      "name": "kubernetes-minimal-aws-example-com-c4a6ed9aa889b9e2c39cd663eb9c7157",
      "index": null,
      "deposed": null,
      "actions": [
        "no-op"
      ],
      "action": "no-op",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": {
        "id": "kubernetes.minimal-aws.example.com-c4:a6:ed:9a:a8:89:b9:e2:c3:9c:d6:63:eb:9c:71:57"
      },
      "attributes": [],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_launch_template.nodes-minimal-aws-example-com",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_launch_template",
      "name": "nodes-minimal-aws-example-com",
      "index": null,
      "deposed": null,
      "actions": [
        "update"
      ],
      "action": "update",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "instance_type",
          "before": "\"t2.medium\"",
          "after": "\"t3.large\"",
          "forces_replacement": false
        },
        {
          "path": "latest_version",
          "before": "1",
          "after": "(known after apply)",
          "forces_replacement": false
        },
        {
          "path": "user_data",
          "before": "(sha256:93a2c4c895a9, 452 bytes)",
          "after": "(sha256:394c2494d0de, 464 bytes)",
          "forces_replacement": false,
          "decoded": {
            "shown": "lines",
            "reason": null,
            "lines": [
              "@@ -2,4 +2,4 @@",
              " # for aws_launch_template.nodes-minimal-aws-example-com",
              " line 0: 3309b9b73b7f3bd38c4a50c3ec7d9214f30aa8bef4e3d0ef30c8ced758defa3f",
              " line 1: a1c5a68fd8bd34dd2c472bb1c1dd0910048e36d87ac3013d14abc4585d71ee0d",
              "-line 2: 5178ed2a0ce5feb67b815f47b3ff2800cc09439f93ca42bf5a0ea5c7da8e24bb",
              "+line 2 (t3.large): 5178ed2a0ce5feb67b815f47b3ff2800cc09439f93ca42bf5a0ea5c7da8e24bb"
            ],
            "lines_left_out": 0,
            "instance_groups": [
              "nodes-minimal-aws-example-com"
            ],
            "all_instance_groups": false
          }
        }
      ],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_route_table_association.us-test-1a-minimal-aws-example-com",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_route_table_association",
      "name": "us-test-1a-minimal-aws-example-com",
      "index": null,
      "deposed": null,
      "actions": [
        "forget"
      ],
      "action": "forget",
      "action_reason": "delete_because_no_resource_config",
      "reasons": [
        "aws_route_table_association.us-test-1a-minimal-aws-example-com is not in the configuration (delete_because_no_resource_config)",
        "destroy = false is set: Terraform stops managing the object but does not destroy it"
      ],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "id",
          "before": "\"07a419aa8233979b4\"",
          "after": null,
          "forces_replacement": false
        },
        {
          "path": "route_table_id",
          "before": "\"rtb-d6c73db674d28c0f2\"",
          "after": null,
          "forces_replacement": false
        },
        {
          "path": "subnet_id",
          "before": "\"subnet-ecd10e8b3dda69b10\"",
          "after": null,
          "forces_replacement": false
        }
      ],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_s3_bucket.kops_state",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_s3_bucket",
      "name": "kops_state",
      "index": null,
      "deposed": null,
      "actions": [
        "delete"
      ],
      "action": "delete",
      "action_reason": "delete_because_no_resource_config",
      "reasons": [
        "aws_s3_bucket.kops_state is not in the configuration (delete_because_no_resource_config)"
      ],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "arn",
          "before": "\"arn:aws:s3:::minimal-aws-example-com-kops-state\"",
          "after": null,
          "forces_replacement": false
        },
        {
          "path": "bucket",
          "before": "\"minimal-aws-example-com-kops-state\"",
          "after": null,
          "forces_replacement": false
        },
        {
          "path": "id",
          "before": "\"minimal-aws-example-com-kops-state\"",
          "after": null,
          "forces_replacement": false
        }
      ],
      "protected": true,
      "protected_reason": "S3 bucket: its objects (such as the kops state store) go with it (default rule)"
    },
    {
      "address": "aws_s3_object.nodeupconfig-nodes",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_s3_object",
      "name": "nodeupconfig-nodes",
      "index": null,
      "deposed": null,
      "actions": [
        "update"
      ],
      "action": "update",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "content",
          "before": "(sensitive)",
          "after": "(sensitive)",
          "forces_replacement": false
        }
      ],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_security_group_rule.from-0-0-0-0--0-ingress-tcp-22to22-masters-minimal-aws-example-com",
      "previous_address": "aws_security_group_rule.ssh-external-to-master-0-0-0-0--0",
      "module_address": null,
      "mode": "managed",
      "type": "aws_security_group_rule",
      "name": "from-0-0-0-0--0-ingress-tcp-22to22-masters-minimal-aws-example-com",
      "index": null,
      "deposed": null,
      "actions": [
        "no-op"
      ],
      "action": "no-op",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [],
      "protected": false,
      "protected_reason": null
    },
    {
      "address": "aws_sqs_queue.minimal-aws-example-com-nth",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_sqs_queue",
      "name": "minimal-aws-example-com-nth",
      "index": null,
      "deposed": null,
      "actions": [
        "create"
      ],
      "action": "create",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "arn",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        },
        {
          "path": "id",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        },
        {
          "path": "message_retention_seconds",
          "before": null,
          "after": "300",
          "forces_replacement": false
        },
        {
          "path": "name",
          "before": null,
          "after": "\"minimal-aws-example-com-nth\"",
          "forces_replacement": false
        },
        {
          "path": "policy",
          "before": null,
          "after": "(sha256:f3defc56280f, 318 bytes)",
          "forces_replacement": false
        },
        {
          "path": "tags.KubernetesCluster",
          "before": null,
          "after": "\"minimal-aws.example.com\"",
          "forces_replacement": false
        },
        {
          "path": "tags.Name",
          "before": null,
          "after": "\"minimal-aws-example-com-nth\"",
          "forces_replacement": false
        },
        {
          "path": "tags[\"kubernetes.io/cluster/minimal-aws.example.com\"]",
          "before": null,
          "after": "\"owned\"",
          "forces_replacement": false
        },
        {
          "path": "url",
          "before": null,
          "after": "(known after apply)",
          "forces_replacement": false
        }
      ],
      "protected": false,
      "protected_reason": null
    }
  ],
  "drift": [
    {
      "address": "aws_autoscaling_group.nodes-minimal-aws-example-com",
      "previous_address": null,
      "module_address": null,
      "mode": "managed",
      "type": "aws_autoscaling_group",
      "name": "nodes-minimal-aws-example-com",
      "index": null,
      "deposed": null,
      "actions": [
        "update"
      ],
      "action": "update",
      "action_reason": null,
      "reasons": [],
      "replace_paths": [],
      "importing": null,
      "attributes": [
        {
          "path": "max_size",
          "before": "2",
          "after": "5",
          "forces_replacement": false
        }
      ]
    }
  ],
  "outputs": [
    {
      "name": "basic_auth_password",
      "actions": [
        "create"
      ],
      "action": "create",
      "sensitive": true,
      "before": null,
      "after": "(sensitive)"
    },
    {
      "name": "node_instance_type",
      "actions": [
        "update"
      ],
      "action": "update",
      "sensitive": false,
      "before": "\"t3.medium\"",
      "after": "\"t3.large\""
    },
    {
      "name": "nth_queue_url",
      "actions": [
        "create"
      ],
      "action": "create",
      "sensitive": false,
      "before": null,
      "after": "(known after apply)"
    }
  ],
  "variables": [
    {
      "name": "cluster_name",
      "sensitive": false,
      "value": "\"minimal-aws.example.com\""
    },
    {
      "name": "kops_token",
      "sensitive": true,
      "value": "(sensitive)"
    }
  ],
  "rolling_update": null,
  "launch_template_changes": [
    {
      "instance_group": "nodes-minimal-aws-example-com",
      "address": "aws_launch_template.nodes-minimal-aws-example-com"
    }
  ],
  "spec": null
}
"#,
        )
        .status(3)
        .run();
}

#[test]
fn transcript_of_a_review_cut_to_its_budget() {
    let p = Project::new();
    Transcript::new(
        &p,
        &[
            "review",
            PLAN,
            "--cluster",
            "minimal-aws.example.com",
            "--max-chars",
            "3000",
            "--full-report",
            "https://ci.example.com/review.md",
        ],
    )
    .stdout(
        r#"
<!-- kopsform-review cluster=minimal-aws.example.com -->
## Terraform plan review: minimal-aws.example.com

**Plan: 1 to import, 4 to add, 3 to change, 2 to destroy.**

Also: 1 moved, 1 to forget (no longer managed, not destroyed).

🛑 **2 protected resources would be destroyed or replaced.**

> ✂️ **This review was cut to fit 3,000 characters.** Left out: 10 of 11 resource details, the variables, the decoded files (all 1). Full report: https://ci.example.com/review.md

### Destroyed or replaced (2)

- 🛑 **PROTECTED** **replace (destroy, then create)** `aws_ebs_volume.us-test-1a-etcd-main-minimal-aws-example-com` — etcd data volume: the cluster's state (default rule)
  - why: the provider cannot make this change in place, so the object is replaced (`replace_because_cannot_update`)
  - forces replacement: `encrypted`
- 🛑 **PROTECTED** **delete** `aws_s3_bucket.kops_state` — S3 bucket: its objects (such as the kops state store) go with it (default rule)
  - why: `aws_s3_bucket.kops_state` is not in the configuration (`delete_because_no_resource_config`)

### Rolling update

**After apply, instance group `nodes` needs a rolling update**: this plan changes its launch template; running instances keep the old template until `kops rolling-update cluster --yes` replaces them.


### Changes by resource type

| Resource type | Create | Update | Replace | Delete | Other |
|---|--:|--:|--:|--:|---|
| `aws_autoscaling_group` |  | 1 |  |  |  |
| `aws_cloudwatch_event_rule` | 1 |  |  |  |  |
| `aws_cloudwatch_event_target` | 1 |  |  |  |  |
| `aws_ebs_volume` |  |  | 1 |  |  |
| `aws_key_pair` |  |  |  |  | 1 import |
| `aws_launch_template` |  | 1 |  |  |  |
| `aws_route_table_association` |  |  |  |  | 1 forget |
| `aws_s3_bucket` |  |  |  | 1 |  |
| `aws_s3_object` |  | 1 |  |  |  |
| `aws_security_group_rule` |  |  |  |  | 1 move |
| `aws_sqs_queue` | 1 |  |  |  |  |

### Drift: changed outside Terraform (1)

Terraform found these differences when it refreshed the state; the plan above already takes them into account.

- `aws_autoscaling_group.nodes-minimal-aws-example-com` has changed
  - `max_size`: `2` → `5`

### Output changes

| Output | Change | Before | After |
|---|---|---|---|
| `basic_auth_password` | create |  | (sensitive) |
| `node_instance_type` | update | `"t3.medium"` | `"t3.large"` |
| `nth_queue_url` | create |  | (known after apply) |

### Details

<details><summary><b>update</b> <code>aws_autoscaling_group.nodes-minimal-aws-example-com</code></summary>

| Attribute | Before | After |
|---|---|---|
| `max_size` | `2` | `4` |
| `min_size` | `2` | `3` |

</details>
"#,
    )
    .status(3)
    .run();
}

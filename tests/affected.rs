//! `kopsform affected --base REF`: which clusters a change touches, in a real git repository with
//! three clusters (two sharing a prerequisites layer), a handlebars and a Go template with a folder
//! of instance groups and snippets, a tool that is a file and per-cluster values; the outputs
//! compared whole; and the generated merge-request pipeline run by gitlab-ci-local, dry-running
//! only the affected cluster.

use crate::support::{Project, Run};

const TASKS: &str = r#"stages = ["dev", "live"]

[prerequisites]
dir = "1-prerequisites"

[clusters.dev]
name = "dev.example.com"
state = "s3://state"
values = ["values/common.yaml", "values/dev.yaml"]
stage = "dev"
dir = "clusters/dev"

[clusters.prod-eu]
name = "eu.example.com"
state = "s3://state"
values = ["values/common.yaml", "values/prod-eu.yaml"]
stage = "live"
dir = "clusters/prod-eu"
prerequisites = "1-prerequisites-prod"
workspace = "eu"

[clusters.prod-us]
name = "us.example.com"
state = "s3://state"
values = ["values/common.yaml", "values/prod-us.yaml"]
stage = "live"
dir = "clusters/prod-us"
prerequisites = "1-prerequisites-prod"
workspace = "us"

[tools]
kops = "bin/kops"

[tasks.cluster-template]
steps = [{ render = "templates/cluster.yml", out = "{{cluster.dir}}/cluster.yml" }]

[tasks.instance-groups]
steps = [{ render = ["templates/go/cluster.yaml", "templates/go/igs"], snippets = ["templates/snippets"], engine = "go", out = "{{cluster.dir}}/igs.yml" }]

[tasks.dryrun]
sources = ["policies/**/*.rego"]
steps = [["sh", "-c", "mkdir -p {{cluster.work}} && echo dry-run > {{cluster.work}}/ran"]]

[tasks.cluster-update]
steps = [["true"]]

[tasks.plan]
steps = [{ run = ["terraform", "plan", "-var-file=../../shared/common.tfvars"], cwd = "{{cluster.dir}}" }]

[tasks.apply]
steps = [["true"]]

[tasks.cluster-rolling-update]
steps = [["true"]]

[tasks.cluster-rolling-update-yes]
steps = [["true"]]

# A template named by a value known only from the outputs: its folder counts.
[tasks.flavoured]
steps = [{ render = "templates/{{flavour}}.yml", out = "{{cluster.dir}}/{{flavour}}.yml" }]
"#;

/// The fleet in a git repository on `main`, everything committed once: the base.
fn repository() -> Project {
    let p = Project::new();
    p.file("tasks.toml", TASKS);
    p.file("README.md", "# infra\n");
    for file in [
        "values/common.yaml",
        "values/dev.yaml",
        "values/prod-eu.yaml",
        "values/prod-us.yaml",
        "templates/cluster.yml",
        "templates/go/cluster.yaml",
        "templates/go/igs/nodes.yaml",
        "templates/snippets/labels.tpl",
        "shared/common.tfvars",
        "1-prerequisites/main.tf",
        "1-prerequisites-prod/main.tf",
        "clusters/dev/backend.tf",
        "clusters/prod-eu/backend.tf",
        "clusters/prod-us/backend.tf",
    ] {
        p.file(file, &format!("# {file}\n"));
    }
    p.script("bin/kops", "#!/bin/sh\n");
    p.file(".gitignore", ".kopsform/\n.gitlab-ci-local/\n");
    git(&p, &["init", "-q", "-b", "main"]);
    commit(&p, "base");
    p
}

fn git(p: &Project, args: &[&str]) -> String {
    let run = p.tool(".", "git", args);
    run.success();
    run.stdout.trim().to_string()
}

fn commit(p: &Project, message: &str) {
    git(p, &["add", "-A"]);
    git(
        p,
        &[
            "-c",
            "user.name=dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-qm",
            message,
        ],
    );
}

fn affected(p: &Project, args: &[&str]) -> Run {
    let mut all = vec!["affected", "--base", "main"];
    all.extend_from_slice(args);
    p.kopsform(&all)
}

/// The `--json` answer with the merge base written as `[BASE]`.
fn json(p: &Project, base: &str) -> String {
    let run = affected(p, &["--json"]);
    run.success();
    run.stdout.replace(base, "[BASE]")
}

fn expected(affected: &[(&str, &[&str])], not_affected: &[&str]) -> String {
    let affected: Vec<serde_json::Value> = affected
        .iter()
        .map(|(id, reasons)| serde_json::json!({"cluster": id, "reasons": reasons}))
        .collect();
    let doc = serde_json::json!({
        "base": "main",
        "merge_base": "[BASE]",
        "affected": affected,
        "not_affected": not_affected,
    });
    format!("{doc:#}\n")
}

#[test]
fn values_of_one_cluster_affect_that_cluster_only() {
    let p = repository();
    let base = git(&p, &["rev-parse", "HEAD"]);
    p.file("values/dev.yaml", "machine: t3.large\n");
    // Uncommitted, then committed: both count.
    assert_eq!(
        json(&p, &base),
        expected(
            &[("dev", &["values/dev.yaml modified (values file)"])],
            &["prod-eu", "prod-us"]
        )
    );
    git(&p, &["checkout", "-qb", "feature"]);
    commit(&p, "dev machine");
    let run = affected(&p, &[]);
    run.success();
    assert_eq!(run.stdout, "dev: values/dev.yaml modified (values file)\n");
    assert_eq!(
        run.stderr,
        "Not affected by this change: prod-eu, prod-us\n"
    );
    let run = affected(&p, &["--format", "github-matrix"]);
    run.success();
    assert_eq!(run.stdout, "{\"include\":[{\"cluster\":\"dev\"}]}\n");
    let run = affected(&p, &["--format", "env"]);
    run.success();
    assert_eq!(
        run.stdout,
        "KOPSFORM_AFFECTED=dev\nKOPSFORM_NOT_AFFECTED=prod-eu,prod-us\n"
    );
    // `gitlab` is the same form.
    assert_eq!(affected(&p, &["--format", "gitlab"]).stdout, run.stdout);
}

#[test]
fn the_merge_base_leaves_out_what_changed_on_the_base_branch_since() {
    let p = repository();
    git(&p, &["checkout", "-qb", "feature"]);
    p.file("values/prod-us.yaml", "machine: m6i.large\n");
    commit(&p, "prod-us machine");
    let feature_base = git(&p, &["merge-base", "main", "HEAD"]);
    git(&p, &["checkout", "-q", "main"]);
    p.file("values/dev.yaml", "machine: t3.large\n");
    commit(&p, "dev on main");
    git(&p, &["checkout", "-q", "feature"]);
    assert_eq!(
        json(&p, &feature_base),
        expected(
            &[("prod-us", &["values/prod-us.yaml modified (values file)"])],
            &["dev", "prod-eu"]
        )
    );
}

#[test]
fn a_shared_template_tasks_toml_or_tool_affects_every_cluster() {
    let p = repository();
    let base = git(&p, &["rev-parse", "HEAD"]);
    let all = |reason: &str| -> String {
        expected(
            &[
                ("dev", &[reason]),
                ("prod-eu", &[reason]),
                ("prod-us", &[reason]),
            ],
            &[],
        )
    };
    p.file("templates/cluster.yml", "kind: Cluster\n");
    assert_eq!(
        json(&p, &base),
        all("templates/cluster.yml modified (template of task `cluster-template`)")
    );
    git(&p, &["checkout", "-q", "--", "."]);
    // A new instance group in the Go template's folder, and a new snippet, not yet added.
    p.file("templates/go/igs/bastion.yaml", "kind: InstanceGroup\n");
    assert_eq!(
        json(&p, &base),
        all("templates/go/igs/bastion.yaml untracked (template of task `instance-groups`)")
    );
    std::fs::remove_file(p.join("templates/go/igs/bastion.yaml")).unwrap();
    p.file(
        "templates/snippets/labels.tpl",
        "{{ define \"x\" }}{{ end }}\n",
    );
    assert_eq!(
        json(&p, &base),
        all("templates/snippets/labels.tpl modified (snippets of task `instance-groups`)")
    );
    git(&p, &["checkout", "-q", "--", "."]);
    p.file(
        "tasks.toml",
        &format!("{TASKS}\n# a tool pin, a task: anything\n"),
    );
    assert_eq!(json(&p, &base), all("tasks.toml modified (project file)"));
    git(&p, &["checkout", "-q", "--", "."]);
    p.script("bin/kops", "#!/bin/sh\necho 1.36.2\n");
    assert_eq!(json(&p, &base), all("bin/kops modified (tool `kops`)"));
    git(&p, &["checkout", "-q", "--", "."]);
    // A glob of `sources`: a new policy matches it, a README beside them does not.
    p.file("policies/network/egress.rego", "package egress\n");
    p.file("policies/README.md", "policies\n");
    assert_eq!(
        json(&p, &base),
        all("policies/network/egress.rego untracked (file of task `dryrun`)")
    );
    std::fs::remove_dir_all(p.join("policies")).unwrap();
    p.file("templates/arm64.yml", "kind: Cluster\n");
    assert_eq!(
        json(&p, &base),
        all("templates/arm64.yml untracked (template of task `flavoured`)")
    );
    std::fs::remove_file(p.join("templates/arm64.yml")).unwrap();
    // Many reasons: the text form shows five and counts the rest.
    for n in 1..=7 {
        p.file(
            &format!("templates/go/igs/ig{n}.yaml"),
            "kind: InstanceGroup\n",
        );
    }
    let run = affected(&p, &[]);
    run.success();
    let line = (1..=5)
        .map(|n| {
            format!("templates/go/igs/ig{n}.yaml untracked (template of task `instance-groups`)")
        })
        .collect::<Vec<_>>()
        .join("; ");
    assert_eq!(
        run.stdout,
        format!(
            "dev: {line}; and 2 more (--json lists them)\nprod-eu: {line}; and 2 more (--json lists them)\nprod-us: {line}; and 2 more (--json lists them)\n"
        )
    );
    std::fs::remove_dir_all(p.join("templates/go/igs")).unwrap();
    git(&p, &["checkout", "-q", "--", "."]);
    p.file("shared/common.tfvars", "x = 1\n");
    assert_eq!(
        json(&p, &base),
        all("shared/common.tfvars modified (path in a command of task `plan`)")
    );
}

#[test]
fn one_prerequisites_layer_affects_its_clusters() {
    let p = repository();
    let base = git(&p, &["rev-parse", "HEAD"]);
    p.file("1-prerequisites-prod/main.tf", "# nat gateways\n");
    let reason = "1-prerequisites-prod/main.tf modified (prerequisites layer)";
    assert_eq!(
        json(&p, &base),
        expected(&[("prod-eu", &[reason]), ("prod-us", &[reason])], &["dev"])
    );
    git(&p, &["checkout", "-q", "--", "."]);
    p.file("1-prerequisites/main.tf", "# subnets\n");
    assert_eq!(
        json(&p, &base),
        expected(
            &[(
                "dev",
                &["1-prerequisites/main.tf modified (prerequisites layer)"]
            )],
            &["prod-eu", "prod-us"]
        )
    );
}

#[test]
fn files_outside_every_input_affect_no_cluster() {
    let p = repository();
    let base = git(&p, &["rev-parse", "HEAD"]);
    p.file("README.md", "# infra, documented\n");
    p.file("docs/runbook.md", "steps\n");
    assert_eq!(
        json(&p, &base),
        expected(&[], &["dev", "prod-eu", "prod-us"])
    );
    let run = affected(&p, &[]);
    run.success();
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "No cluster is affected by the changes since {} (merge base of main and HEAD)\n",
            &base[..12]
        )
    );
    assert_eq!(
        affected(&p, &["--format", "github-matrix"]).stdout,
        "{\"include\":[]}\n"
    );
    assert_eq!(
        affected(&p, &["--format", "env"]).stdout,
        "KOPSFORM_AFFECTED=\nKOPSFORM_NOT_AFFECTED=dev,prod-eu,prod-us\n"
    );
}

#[test]
fn unusual_file_names_and_a_rename_count_on_both_sides() {
    let p = repository();
    let base = git(&p, &["rev-parse", "HEAD"]);
    // A rename: the old name is prod-eu's values file (deleted), the new one nobody's.
    git(&p, &["mv", "values/prod-eu.yaml", "values/prod eu\n✓.yaml"]);
    // A space in a file of prod-us's folder; a newline and a quote outside every input.
    p.file("clusters/prod-us/with space \"q\".tf", "# x\n");
    p.file("notes/line\nbreak é.md", "x\n");
    assert_eq!(
        json(&p, &base),
        expected(
            &[
                ("prod-eu", &["values/prod-eu.yaml deleted (values file)"]),
                (
                    "prod-us",
                    &["clusters/prod-us/with space \"q\".tf untracked (cluster folder)"]
                ),
            ],
            &["dev"]
        )
    );
    // The text form keeps one cluster on one line: a newline in a name is escaped.
    git(
        &p,
        &["mv", "clusters/dev/backend.tf", "clusters/dev/back\nend.tf"],
    );
    let run = affected(&p, &[]);
    run.success();
    assert_eq!(
        run.stdout,
        "dev: clusters/dev/back\\nend.tf added (cluster folder); clusters/dev/backend.tf deleted (cluster folder)\n\
         prod-eu: values/prod-eu.yaml deleted (values file)\n\
         prod-us: clusters/prod-us/with space \"q\".tf untracked (cluster folder)\n"
    );
}

#[test]
fn a_bad_base_is_a_clear_error() {
    let p = repository();
    let run = p.kopsform(&["affected", "--base", "origin/nope"]);
    run.failure(1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "kopsform: error: --base `origin/nope` is no commit of this repository (fetch it first, e.g. `git fetch origin main`; a CI checkout needs the base branch's history) (`git rev-parse --verify --quiet --end-of-options origin/nope^{commit}` exited with status 1)\n"
    );
    // An option in disguise never reaches git as one.
    let run = p.kopsform(&["affected", "--base=--output=x"]);
    run.failure(1);
    assert_eq!(
        run.stderr,
        "kopsform: error: --base `--output=x` is not a commit, branch or tag; name one such as origin/main\n"
    );
    assert!(!p.exists("x"));
    p.kopsform(&["affected"])
        .failure(64)
        .stderr_has("--base <REF>");
    p.kopsform(&["affected", "--base", "main", "--format", "yaml"])
        .failure(64)
        .stderr_has("invalid value 'yaml' for '--format <FORMAT>'");
    // Unrelated history: no merge base.
    git(&p, &["checkout", "-q", "--orphan", "other"]);
    commit(&p, "other root");
    git(&p, &["checkout", "-q", "main"]);
    p.kopsform(&["affected", "--base", "other"])
        .failure(1)
        .stderr_has("no merge base of `other` and HEAD (a shallow clone lacks it: fetch the whole history, e.g. `git fetch --unshallow` or `fetch-depth: 0`)");
    // Outside a repository.
    let bare = Project::new();
    bare.file("tasks.toml", TASKS);
    bare.kopsform(&["affected", "--base", "main"])
        .failure(1)
        .stderr_has("is not in a git repository");
}

#[test]
fn the_generated_merge_request_pipeline_dry_runs_only_the_affected_clusters() {
    crate::support::require(
        "rsync",
        "apt-get install rsync (gitlab-ci-local copies the project with it)",
    );
    let gcl = crate::ci::ci_tool(".bin/gitlab-ci-local");
    let mut p = repository();
    let base = git(&p, &["rev-parse", "HEAD"]);
    // The job finds kopsform on the runner's PATH: no install line.
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_kopsform"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    p.env("PATH", &path);
    p.kopsform(&[
        "ci",
        "gitlab",
        "--out",
        ".gitlab-ci.yml",
        "--install-command",
        "",
    ])
    .success();
    git(&p, &["checkout", "-qb", "feature"]);
    p.file("values/prod-eu.yaml", "machine: m6i.large\n");
    commit(&p, "prod-eu machine");
    p.env(
        "GCL_IGNORE_PREDEFINED_VARS",
        "CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_IID,CI_PROJECT_ID,CI_MERGE_REQUEST_DIFF_BASE_SHA",
    );
    let variable = format!("CI_MERGE_REQUEST_DIFF_BASE_SHA={base}");
    let gcl = gcl.to_str().unwrap();
    for (job, ran) in [("dryrun:prod-eu", true), ("dryrun:dev", false)] {
        let run = p.tool(
            ".",
            gcl,
            &[
                "--needs",
                job,
                "--variable",
                "CI_PIPELINE_SOURCE=merge_request_event",
                "--variable",
                &variable,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.show());
        let id = job.trim_start_matches("dryrun:");
        assert_eq!(
            p.exists(&format!(".kopsform/{id}/ran")),
            ran,
            "{job}\n{}",
            run.show()
        );
        if !ran {
            assert!(
                run.stdout.contains(&format!(
                    "kopsform: this change does not affect cluster {id} (kopsform affected): no dry run"
                )),
                "{}",
                run.show()
            );
        }
    }
}

/// A Groovy single-quoted string's text.
fn groovy_text(quoted: &str) -> String {
    let mut out = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[test]
fn a_hostile_branch_reaches_the_jenkins_affected_stage_as_one_argument() {
    let mut p = repository();
    let branch = "main}; touch pwned; #'\"$(touch pwned2)";
    let jenkins = p.kopsform(&["ci", "jenkins", "--branch", branch, "--install-command", ""]);
    jenkins.success();
    let line = jenkins
        .stdout
        .lines()
        .find(|l| l.contains("def found = sh(returnStdout: true, script: '"))
        .unwrap_or_else(|| panic!("{}", jenkins.stdout));
    let quoted = line
        .split_once("script: '")
        .and_then(|(_, rest)| rest.rsplit_once("').trim()"))
        .map(|(script, _)| script)
        .unwrap();
    let script = groovy_text(quoted);
    // A stand-in kopsform that prints its arguments, one per line.
    p.script("stub/kopsform", "#!/bin/sh\nprintf '%s\\n' \"$@\"\n");
    let path = format!(
        "{}:{}",
        p.join("stub").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    p.env("PATH", &path);
    for (target, base) in [
        (None, format!("origin/{branch}")),
        (Some("release/1.x"), "origin/release/1.x".to_string()),
    ] {
        let mut args = vec!["-c", script.as_str()];
        let assignment;
        if let Some(target) = target {
            assignment = format!("CHANGE_TARGET={target}");
            args = vec![&assignment, "sh", "-c", script.as_str()];
        }
        let program = if target.is_some() { "env" } else { "sh" };
        let run = p.tool(".", program, &args);
        run.success();
        assert_eq!(
            run.stdout,
            format!("affected\n--base\n{base}\n--format\nenv\n"),
            "{script}"
        );
    }
    assert!(!p.exists("pwned") && !p.exists("pwned2"));
}

#[test]
fn a_project_in_a_subfolder_sees_its_layer_outside_it_whatever_git_is_configured_to_do() {
    let p = Project::new();
    p.file(
        "infra/tasks.toml",
        "[prerequisites]\ndir = \"../network\"\n\n[cluster]\nname = \"dev.example.com\"\nstate = \"s3://state\"\n",
    );
    p.file("network/main.tf", "# vpc\n");
    p.file("docs/readme.md", "x\n");
    git(&p, &["init", "-q", "-b", "main"]);
    commit(&p, "base");
    // Settings that would hide a path outside the project or half a rename.
    for (key, value) in [("diff.relative", "true"), ("diff.renames", "copies")] {
        git(&p, &["config", key, value]);
    }
    git(&p, &["mv", "network/main.tf", "network/vpc.tf"]);
    p.file("docs/readme.md", "y\n");
    let run = p.kopsform(&["-C", "infra", "affected", "--base", "main"]);
    run.success();
    assert_eq!(
        run.stdout,
        "default: ../network/main.tf deleted (prerequisites layer); ../network/vpc.tf added (prerequisites layer)\n"
    );
    assert_eq!(run.stderr, "");
}

/// Issue 22: a cluster's own kops binary (`tools = { kops = "1.32.0" }`, `bin/kops-1.32.0` beside
/// the `[tools]` kops) is an input of that cluster only.
#[test]
fn a_clusters_own_tool_version_affects_that_cluster_only() {
    let p = repository();
    p.file(
        "tasks.toml",
        &TASKS.replacen(
            "stage = \"dev\"\n",
            "stage = \"dev\"\ntools = { kops = \"1.32.0\" }\n",
            1,
        ),
    );
    p.script("bin/kops-1.32.0", "#!/bin/sh\n");
    commit(&p, "dev on kops 1.32.0");
    let base = git(&p, &["rev-parse", "HEAD"]);
    p.script("bin/kops-1.32.0", "#!/bin/sh\necho 1.32.0\n");
    assert_eq!(
        json(&p, &base),
        expected(
            &[(
                "dev",
                &["bin/kops-1.32.0 modified (tool `kops` of the cluster)"]
            )],
            &["prod-eu", "prod-us"]
        )
    );
}

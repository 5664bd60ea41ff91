//! Bad input gets a clear message naming the file (and line), a non-zero exit, and no file written.

use crate::support::{Project, require_terraform};

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

fn render_project() -> Project {
    require_terraform();
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    p.file("tasks.toml", RENDER_TASKS);
    p
}

#[track_caller]
fn config_error(tasks: &str, want: &[&str]) {
    let p = Project::new();
    p.file("tasks.toml", tasks);
    let run = p.kopsform(&["list"]);
    run.failure(1);
    let file = format!("{}", p.join("tasks.toml").display());
    run.stderr_has(&file);
    for w in want {
        run.stderr_has(w);
    }
}

#[test]
fn tasks_toml_errors_name_file_line_and_column() {
    config_error(
        "[tasks.a]\ndesc = \"x\"\ndeeps = [\"b\"]\n",
        &["tasks.toml:3:1: unknown field `deeps`"],
    );
    config_error(
        "[tasks.a]\ndeps = \"b\"\n",
        &["tasks.toml:2:8:", "sequence"],
    );
    config_error("[tasks.a\n", &["tasks.toml:1:"]);
    config_error(
        "[tasks.a]\nsteps = [{ run = [] }]\n",
        &["tasks.toml:2:", "`run` is empty"],
    );
    config_error("[tasks.a]\nsteps = [[]]\n", &["empty argv array"]);
    config_error(
        "[tasks.a]\nsteps = [{ builtin = \"nope\" }]\n",
        &["unknown builtin `nope`"],
    );
    config_error("[cluster]\nname = \"x\"\n", &["missing field `state`"]);
    config_error("[tools]\nkops = 3\n", &["tasks.toml:2:8:", "string"]);
    config_error("[tasks.a]\nconfirm = 3\n", &["tasks.toml:2:11:"]);
    config_error(
        "[tasks.a]\ndeps = [\"b\"]\n",
        &["task `a` depends on unknown task `b`"],
    );
    config_error(
        "[tasks.plan]\n[tasks.apply]\ndeps = [\"plna\"]\n",
        &["unknown task `plna`; did you mean `plan`?"],
    );
    config_error(
        "[tasks.a]\ndeps = [\"b\"]\n[tasks.b]\ndeps = [\"a\"]\n",
        &["dependency cycle: a -> b -> a"],
    );
}

#[test]
fn a_non_utf8_tasks_file_is_rejected_with_the_offset() {
    let p = Project::new();
    std::fs::write(p.join("tasks.toml"), b"[tasks.a]\ndesc = \"\xff\"\n").unwrap();
    p.kopsform(&["list"])
        .failure(1)
        .stderr_has("not UTF-8 text (bad byte at offset 18)");
}

#[test]
fn a_template_syntax_error_names_the_line_and_keeps_the_old_file() {
    let p = render_project();
    p.file("2-kops/cluster.yml", "previous\n");
    p.file("2-kops/cluster-template.yml", "a: 1\nb: {{#each vpc_id}}\n");
    p.kopsform(&["cluster-template"])
        .failure(1)
        .stderr_has("2-kops/cluster-template.yml:")
        .stderr_has("template syntax error");
    assert_eq!(p.read("2-kops/cluster.yml"), "previous\n");
}

#[test]
fn a_missing_value_names_the_line_and_the_values_that_exist() {
    let p = render_project();
    p.file(
        "2-kops/cluster-template.yml",
        &GOOD_TEMPLATE.replace("{{vpc_id}}", "{{vpc_idd}}"),
    );
    p.kopsform(&["cluster-template"])
        .failure(1)
        .stderr_has(
            "2-kops/cluster-template.yml:6:14: missing value `vpc_idd`; did you mean `vpc_id`?",
        )
        .stderr_has("the values that exist: cluster_name, vpc_id");
    assert!(!p.exists("2-kops/cluster.yml"));
}

#[test]
fn a_manifest_failing_its_checks_is_not_written() {
    let p = render_project();
    p.file("2-kops/cluster.yml", "previous\n");
    p.file(
        "2-kops/cluster-template.yml",
        &GOOD_TEMPLATE.replace(
            "kops.k8s.io/cluster: {{cluster.name}}",
            "kops.k8s.io/cluster: other",
        ),
    );
    p.kopsform(&["cluster-template"])
        .failure(1)
        .stderr_has("2-kops/cluster.yml (rendered from 2-kops/cluster-template.yml):8: InstanceGroup `nodes` is labelled kops.k8s.io/cluster: other")
        .stderr_has("nothing was written");
    assert_eq!(p.read("2-kops/cluster.yml"), "previous\n");
    let names: Vec<String> = std::fs::read_dir(p.join("2-kops"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("tmp")), "{names:?}");
}

#[test]
fn a_good_template_renders_and_reports_its_documents() {
    let p = render_project();
    p.file("2-kops/cluster-template.yml", GOOD_TEMPLATE);
    p.kopsform(&["cluster-template"])
        .success()
        .stderr_has("rendered 2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster c.example.com, InstanceGroup nodes)");
    assert!(p.read("2-kops/cluster.yml").contains("networkID: vpc-123"));
}

#[test]
fn garbage_or_failing_terraform_output_is_reported() {
    let p = Project::new();
    std::fs::create_dir_all(p.join("1-prerequisites")).unwrap();
    p.file("2-kops/cluster-template.yml", GOOD_TEMPLATE);
    for (script, want) in [
        (
            "echo '{\"cluster_name\": {\"value\": \"x\"'",
            "not the JSON object `terraform output -json` prints",
        ),
        ("echo 'Hello'", "no JSON object found"),
        (
            "echo 'Error: Backend initialization required' >&2; exit 1",
            "failed with status 1:\n  Error: Backend initialization required",
        ),
    ] {
        p.script("fake-terraform", &format!("#!/bin/sh\n{script}\n"));
        p.file(
            "tasks.toml",
            &format!("[tools]\nterraform = \"./fake-terraform\"\n{RENDER_TASKS}"),
        );
        p.kopsform(&["cluster-template"]).stderr_has(want);
        assert!(!p.exists("2-kops/cluster.yml"));
    }
}

#[test]
fn values_files_must_stay_inside_the_project() {
    let p = render_project();
    p.file("2-kops/cluster-template.yml", GOOD_TEMPLATE);
    p.file(
        "tasks.toml",
        &RENDER_TASKS.replace(
            "state = \"s3://bucket\"",
            "state = \"s3://bucket\"\nvalues = [\"../outside.yaml\"]",
        ),
    );
    p.kopsform(&["cluster-template"])
        .failure(1)
        .stderr_has("../outside.yaml: this path leaves the project folder");
}

#[test]
fn bad_set_is_an_error() {
    let p = render_project();
    p.file("2-kops/cluster-template.yml", GOOD_TEMPLATE);
    p.kopsform(&["cluster-template", "--set", "novalue"])
        .failure(1)
        .stderr_has("--set novalue: expected KEY=VALUE");
}

#[test]
fn remove_stays_inside_the_project() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[tasks.clean]\nsteps = [{ builtin = \"remove\", paths = [\"out/plan.tfplan\", \"out/gone\", \"work\"] }]\n[tasks.escape]\nsteps = [{ builtin = \"remove\", paths = [\"../outside\"] }]\n[tasks.itself]\nsteps = [{ builtin = \"remove\", paths = [\"out/..\"] }]\n",
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
    for task in ["escape", "itself"] {
        p.kopsform(&[task])
            .failure(1)
            .stderr_has("`remove` only removes files and folders inside the project folder");
    }
    assert!(p.join("tasks.toml").exists());
}

//! A `kops toolbox template` project kept as it is: the Go template (outputs read as
//! `.name.value`, `range` over subnets, `if`/`else`, `$.`, Sprig pipes, snippets) renders with
//! `engine = "go"` to exactly the cluster.yml the repository's handlebars template renders from
//! the same outputs, and runs the lifecycle with the kops double; the errors a team meets name
//! the line.

use crate::support::{
    Project, S3, bucket_keys, cluster_project, copy_tree, kops_double_dir, repo, require_terraform,
};

const FIXTURE: &str = "tests/fixtures/go-template";

/// tasks.toml with every render of the cluster template on the Go engine, with its snippets.
fn go_tasks() -> String {
    let tasks = std::fs::read_to_string(repo().join("tasks.toml")).unwrap();
    let go = tasks.replace(
        "render = \"2-kops/cluster-template.yml\",",
        "render = \"2-kops/cluster-template.yml\", engine = \"go\", snippets = [\"2-kops/snippets\"],",
    );
    assert_eq!(go.matches("engine = \"go\"").count(), 2, "{go}");
    go
}

fn use_go_template(p: &Project) {
    p.copy_from_repo(
        &format!("{FIXTURE}/cluster-template.yml"),
        "2-kops/cluster-template.yml",
    );
    copy_tree(
        &repo().join(FIXTURE).join("snippets"),
        &p.join("2-kops/snippets"),
    );
    p.file("tasks.toml", &go_tasks());
}

fn recorded_project() -> Project {
    require_terraform();
    let recorded = std::fs::read_to_string(repo().join("1-prerequisites/outputs.example.json"))
        .expect("1-prerequisites/outputs.example.json");
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", &recorded);
    p
}

#[test]
fn a_kops_toolbox_template_renders_unchanged_to_the_handlebars_cluster_yml() {
    let p = recorded_project();
    p.copy_from_repo("tasks.toml", "tasks.toml");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.kopsform(&["cluster-template"]).success();
    let handlebars = p.read("2-kops/cluster.yml");

    use_go_template(&p);
    assert!(
        p.read("2-kops/cluster-template.yml").lines().count() >= 150,
        "the Go template is a real-sized one"
    );
    p.kopsform(&["cluster-template"]).success().stderr_has(
        "rendered 2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster prod.k8s.example.com, InstanceGroup control-plane-eu-west-1a",
    );
    assert_eq!(p.read("2-kops/cluster.yml"), handlebars);

    // The snippets are part of the template's fingerprint.
    p.kopsform(&["cluster-template"])
        .success()
        .stderr_has("cluster-template  up to date");
    let snippet = p.join("2-kops/snippets/etcd-members");
    let text = std::fs::read_to_string(&snippet).unwrap();
    std::fs::write(
        &snippet,
        text.replace("encryptedVolume: true", "encryptedVolume: false"),
    )
    .unwrap();
    p.kopsform(&["cluster-template"]).success();
    assert!(
        p.read("2-kops/cluster.yml")
            .contains("encryptedVolume: false")
    );
}

#[test]
fn doctor_reads_the_kubernetes_version_of_a_go_template() {
    let mut p = recorded_project();
    use_go_template(&p);
    p.prepend_path(&kops_double_dir());
    let doctor = p.kopsform(&["doctor"]);
    doctor.stdout_has(
        "ok    kubernetes 1.33.4 with kops 1.36.2 (supported: 1.31 to 1.36) [2-kops/cluster-template.yml with the values]",
    );
    // doctor's template check renders it with the Go engine and its snippets, as the task does
    // (as handlebars it would not parse and block the verdict)
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains("template 2-kops/cluster-template.yml"))
        .unwrap_or_else(|| panic!("doctor's template line\n{}", doctor.show()));
    assert!(
        line.starts_with("ok") && line.contains("renders: Cluster "),
        "{line}\n{}",
        doctor.show()
    );
}

#[test]
fn a_go_template_rendered_as_handlebars_says_to_set_engine_go() {
    let p = recorded_project();
    p.copy_from_repo("tasks.toml", "tasks.toml");
    p.copy_from_repo(
        &format!("{FIXTURE}/cluster-template.yml"),
        "2-kops/cluster-template.yml",
    );
    p.kopsform(&["cluster-template"])
        .failure(1)
        .stderr_has("2-kops/cluster-template.yml:")
        .stderr_has("add `engine = \"go\"` to its `render` step in tasks.toml");
}

#[test]
fn go_template_errors_name_the_line() {
    let p = recorded_project();
    use_go_template(&p);
    let template = p.read("2-kops/cluster-template.yml");

    // A missing output: the line, the name, the values that exist.
    let line = template
        .lines()
        .position(|l| l.contains("networkID:"))
        .unwrap()
        + 1;
    p.file(
        "2-kops/cluster-template.yml",
        &template.replace(".vpc_id.value", ".vpc_idd.value"),
    );
    p.kopsform(&["cluster-template"])
        .failure(1)
        .stderr_has(&format!(
            "2-kops/cluster-template.yml:{line}:17: missing value `vpc_idd`; did you mean one of `vpc_id`, "
        ));

    // A value that would change the YAML structure is refused, as with handlebars.
    p.file("2-kops/cluster-template.yml", &template);
    p.kopsform(&["cluster-template", "--set", "vpc_id=vpc-1\n  evil: true"])
        .failure(1)
        .stderr_has(&format!(
            "2-kops/cluster-template.yml:{line}:17: the value of `{{{{.vpc_id.value}}}}` would change the YAML structure of the result"
        ))
        .stderr_has("--set vpc_id=...");
    assert!(!p.exists("2-kops/cluster.yml"));

    // Bad syntax, in a snippet: its file and line.
    p.file(
        "2-kops/snippets/etcd-members",
        "{{- range . }}\n- {{ . | }}\n{{- end -}}\n",
    );
    p.kopsform(&["cluster-template"])
        .failure(1)
        .stderr_has("2-kops/snippets/etcd-members:2:")
        .stderr_has("Go template syntax error");
}

#[test]
fn a_go_template_runs_the_cluster_lifecycle_with_the_kops_double() {
    require_terraform();
    let s3 = S3::start();
    let p: Project = cluster_project(&s3);
    use_go_template(&p);
    p.kopsform(&["--yes", "prerequisites-apply"]).success();
    p.kopsform(&["cluster-update"]).success();
    let keys = bucket_keys(&p, "kops-state-sandbox-k8s-local");
    assert!(
        keys.contains(&"sandbox.k8s.local/instancegroup/nodes".to_string()),
        "{keys:?}"
    );
    p.kopsform(&["plan"]).success().stdout_has("[plan] Plan: ");
    p.kopsform(&["--yes", "apply"])
        .success()
        .stdout_has("[apply] Apply complete!");
    let go = p.read("2-kops/cluster.yml");

    // The handlebars template gives the same manifest from the same outputs: nothing to update.
    p.copy_from_repo("tasks.toml", "tasks.toml");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.kopsform(&["cluster-template"]).success();
    assert_eq!(p.read("2-kops/cluster.yml"), go);

    use_go_template(&p);
    p.kopsform(&["--yes", "destroy"]).success();
}

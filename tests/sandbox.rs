//! The README's main command, on a copy of the sandbox: offline, real terraform, the kops double.

use crate::support::{Project, require_terraform};

#[test]
fn readme_main_command_runs_the_sandbox_offline() {
    require_terraform();
    let p = Project::new();
    // The sandbox refers to the repository's template and kops double by relative path.
    p.copy_from_repo("examples/sandbox", "examples/sandbox");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.copy_from_repo("tests/kops-double/kops", "tests/kops-double/kops");
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    let command = "cargo run -- -C examples/sandbox --yes prerequisites-apply cluster-update plan";
    assert!(
        readme.contains(command),
        "the README's main command changed: update this test"
    );

    let run = p.kopsform(&[
        "-C",
        "examples/sandbox",
        "--yes",
        "prerequisites-apply",
        "cluster-update",
        "plan",
    ]);
    run.success()
        .stderr_has("rendered ../../2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster sandbox.k8s.local")
        .stdout_has("[plan] Plan: ");
    assert!(p.exists("examples/sandbox/2-kops/kubernetes.tf"));
    assert!(p.exists("examples/sandbox/2-kops/kubernetes.tfplan"));
    assert!(p.exists("examples/sandbox/.kops-state/sandbox.k8s.local/config"));
    // The state store is the sandbox's own folder: nothing of it reaches the repository.
    let cluster_yml = p.read("examples/sandbox/2-kops/cluster.yml");
    assert!(cluster_yml.contains("configBase: "), "{cluster_yml}");
    assert!(
        cluster_yml.contains("/.kops-state/sandbox.k8s.local"),
        "{cluster_yml}"
    );

    // The sandbox's dry run: its state store is a local folder, where kops cannot render its
    // managed files for Terraform and the double writes them in place, so the pre-flight refuses
    // before kops runs, and the live store is byte for byte what it was.
    p.kopsform(&["-C", "examples/sandbox", "--yes", "apply"])
        .success();
    let before = crate::support::files(&p.join("examples/sandbox/.kops-state"));
    assert!(
        before
            .keys()
            .any(|k| k.contains("pki/private/kubernetes-ca")),
        "{:?}",
        before.keys()
    );
    let run = p.kopsform(&["-C", "examples/sandbox", "dryrun"]);
    run.failure(1)
        .stderr_has("refusing the isolated dry run: `kops update cluster` would write to the live cluster state")
        .stderr_has("spec.configBase is a local folder");
    assert!(!run.stderr.contains("$ kops"), "{}", run.stderr);
    let after = crate::support::files(&p.join("examples/sandbox/.kops-state"));
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "the dry run changed the live store: {changed:?}"
    );
}

/// The examples run the repository's own tasks: only the template's path differs.
#[test]
fn the_examples_tasks_are_the_repositorys() {
    let tasks = |path: &str| {
        let text = std::fs::read_to_string(crate::support::repo().join(path)).unwrap();
        text[text.find("[tasks.").unwrap()..].replace(
            "\"../../2-kops/cluster-template.yml\"",
            "\"2-kops/cluster-template.yml\"",
        )
    };
    let root = tasks("tasks.toml");
    for example in ["examples/sandbox/tasks.toml", "examples/fleet/tasks.toml"] {
        assert!(
            tasks(example) == root,
            "{example}: its [tasks.*] differ from tasks.toml; copy them over (the template path is ../../2-kops/cluster-template.yml)"
        );
    }
}

#[test]
fn provider_override_is_written_fmt_clean_and_removed_when_unset() {
    require_terraform();
    let p = Project::new();
    let tasks = |table: &str| {
        format!(
            "{table}\n[tasks.o]\nsteps = [{{ builtin = \"provider-override\", out = \"2-kops/kopsform_override.tf\" }}]\n"
        )
    };
    p.file(
        "tasks.toml",
        &tasks("[provider-override]\nprofile = \"platform\"\nassume_role = \"arn:aws:iam::123456789012:role/kops\"\nfiles_region = \"eu-west-1\"\n"),
    );
    p.kopsform(&["o"])
        .success()
        .stderr_has("[o] wrote 2-kops/kopsform_override.tf");
    let text = p.read("2-kops/kopsform_override.tf");
    assert!(text.contains("alias   = \"files\""), "{text}");
    assert!(
        text.contains("role_arn = \"arn:aws:iam::123456789012:role/kops\""),
        "{text}"
    );
    p.tool(
        "2-kops",
        "terraform",
        &["fmt", "-check", "kopsform_override.tf"],
    )
    .success();

    p.file("tasks.toml", &tasks(""));
    p.kopsform(&["o"])
        .success()
        .stderr_has("removed 2-kops/kopsform_override.tf");
    assert!(!p.exists("2-kops/kopsform_override.tf"));
    // A team's own override file is never removed.
    p.file("2-kops/kopsform_override.tf", "# ours\n");
    p.kopsform(&["o"]).success();
    assert_eq!(p.read("2-kops/kopsform_override.tf"), "# ours\n");
}

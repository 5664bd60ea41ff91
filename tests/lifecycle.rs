//! The whole life of one cluster through the repository's own tasks.toml, with the kops state in S3
//! (moto_server), the 2-kops Terraform state in the s3 backend, real Terraform and the kops double.

use crate::support::{Project, S3, bucket_keys, cluster_project, require_terraform};

#[test]
fn cluster_lifecycle_from_prerequisites_to_teardown() {
    require_terraform();
    let s3 = S3::start();
    let p: Project = cluster_project(&s3);
    let bucket = "kops-state-sandbox-k8s-local";
    let cluster = "sandbox.k8s.local";

    // Prerequisites: a saved plan, then exactly that plan applied.
    p.kopsform(&["--yes", "prerequisites-apply"])
        .success()
        .stdout_has("[prerequisites-apply] Apply complete!");

    // cluster-update: render, kops replace into S3, kops update --target terraform.
    p.kopsform(&["cluster-update"])
        .success()
        .stderr_has(&format!(
            "[cluster-update] $ kops replace --force -f 2-kops/cluster.yml --name {cluster} --state s3://{bucket}"
        ));
    assert!(p.exists("2-kops/kubernetes.tf") && p.exists("2-kops/data"));
    let keys = bucket_keys(&p, bucket);
    assert!(keys.contains(&format!("{cluster}/config")), "{keys:?}");
    assert!(
        keys.contains(&format!("{cluster}/instancegroup/nodes")),
        "{keys:?}"
    );

    // plan + apply against the s3 backend.
    p.kopsform(&["plan"]).success().stdout_has("[plan] Plan: ");
    p.kopsform(&["apply"])
        .failure(1)
        .stderr_has("`apply` needs confirmation");
    p.kopsform(&["--yes", "apply"])
        .success()
        .stdout_has("[apply] Apply complete!");
    assert!(bucket_keys(&p, "tf-state").contains(&"2-kops/terraform.tfstate".to_string()));

    // validate, kubeconfig (mode 0600), and nothing to roll.
    p.kopsform(&["cluster-validate"]).success();
    p.kopsform(&["kubecfg"]).success();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.join("2-kops/kubeconfig"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    p.kopsform(&["cluster-rolling-update", "--fail-on-update"])
        .success()
        .stderr_has("no instance group needs an update")
        .stdout_has("NEEDUPDATE");

    // Change the Kubernetes version and the nodes' machine type.
    let change = [
        "--set",
        "cluster_version=1.31.2",
        "--set",
        "kops_worker_machine_type=m6i.xlarge",
    ];
    let mut args = vec!["cluster-update"];
    args.extend(change);
    p.kopsform(&args).success();
    assert!(
        p.read("2-kops/cluster.yml")
            .contains("machineType: m6i.xlarge")
    );
    p.kopsform(&["plan"])
        .success()
        .stdout_has("must be replaced")
        .stdout_has("m6i.xlarge");
    p.kopsform(&["--yes", "apply"]).success();

    // The changed groups need an update; --fail-on-update turns that into exit 2.
    let run = p.kopsform(&["cluster-rolling-update"]);
    run.success()
        .stderr_has("instance groups need an update: ")
        .stderr_has("nodes (");
    p.kopsform(&["cluster-rolling-update", "--fail-on-update"])
        .failure(2)
        .stderr_has("--fail-on-update");
    p.kopsform(&["--yes", "cluster-rolling-update-yes"])
        .success();
    p.kopsform(&["cluster-rolling-update"])
        .success()
        .stderr_has("no instance group needs an update");

    // Teardown, in order: Terraform's resources, then kops's state, then the prerequisites.
    p.kopsform(&["--yes", "destroy"])
        .success()
        .stdout_has("[destroy] Apply complete! Resources: 0 added, 0 changed, ");
    p.kopsform(&["cluster-destroy"]).success();
    p.kopsform(&["--yes", "cluster-destroy-yes"]).success();
    let left: Vec<String> = bucket_keys(&p, bucket)
        .into_iter()
        .filter(|k| k.starts_with(&format!("{cluster}/")))
        .collect();
    assert!(left.is_empty(), "left in the state store: {left:?}");
    let state = p.tool("2-kops", "terraform", &["state", "list"]);
    assert_eq!(state.success().stdout.trim(), "", "2-kops state not empty");
    p.kopsform(&["--yes", "prerequisites-destroy"]).success();
    let state = p.tool("1-prerequisites", "terraform", &["state", "list"]);
    assert_eq!(
        state.success().stdout.trim(),
        "",
        "prerequisites state not empty"
    );
    let buckets = p.tool(".", "aws", &["s3", "ls"]);
    assert!(
        !buckets.success().stdout.contains(bucket),
        "{}",
        buckets.stdout
    );
}

/// The `KubernetesVersion:` of an instance group's nodeup config in the sandbox's state store.
fn nodeup_version(p: &Project, role: &str, group: &str) -> String {
    let text = p.read(&format!(
        "examples/sandbox/.kops-state/sandbox.k8s.local/igconfig/{role}/{group}/nodeupconfig.yaml"
    ));
    text.lines()
        .find_map(|l| l.strip_prefix("KubernetesVersion: "))
        .unwrap_or_else(|| panic!("no KubernetesVersion in\n{text}"))
        .trim_matches(|c| c == '\'' || c == '"')
        .to_string()
}

/// A Kubernetes upgrade takes two passes (issue 17, item 7; kops 1.31+): `kops update cluster`
/// renders the nodes at the control plane's *running* version, which it learns through the
/// kubeconfig context named after the cluster. kops steps get the kubeconfig the project's
/// `kubecfg` task writes (there is no ~/.kube/config here), so the first pass leaves the nodes at
/// the old version; rolling the control plane makes `cluster-update` run again, and the second
/// pass moves the nodes.
#[test]
fn an_upgrade_renders_the_nodes_at_the_running_control_plane_version_until_it_is_rolled() {
    require_terraform();
    let p = Project::new();
    p.copy_from_repo("examples/sandbox", "examples/sandbox");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.copy_from_repo("tests/kops-double/kops", "tests/kops-double/kops");
    let kopsform = |args: &[&str]| {
        let mut all = vec!["-C", "examples/sandbox", "--yes"];
        all.extend(args);
        p.kopsform(&all)
    };
    kopsform(&[
        "prerequisites-apply",
        "cluster-update",
        "plan",
        "apply",
        "kubecfg",
    ])
    .success();
    assert!(p.exists("examples/sandbox/2-kops/kubeconfig"));
    assert!(
        !p.exists(".kube/config"),
        "kops wrote the user's kubeconfig"
    );
    let control_plane = "control-plane-eu-west-1a";
    assert_eq!(nodeup_version(&p, "control-plane", control_plane), "1.33.4");
    assert_eq!(nodeup_version(&p, "node", "nodes"), "1.33.4");

    // First pass: the control plane moves, the nodes stay at the version it runs.
    let upgrade = ["cluster-update", "--set", "cluster_version=1.34.2"];
    kopsform(&upgrade).success();
    assert_eq!(nodeup_version(&p, "control-plane", control_plane), "1.34.2");
    assert_eq!(nodeup_version(&p, "node", "nodes"), "1.33.4");
    // kops says which version it found at -v 2 (cmd/kops/update_cluster.go).
    let preview = std::process::Command::new(p.join("tests/kops-double/kops"))
        .args([
            "update",
            "cluster",
            "--name",
            "sandbox.k8s.local",
            "--state",
            ".kops-state",
        ])
        .args(["--target", "dryrun", "-v", "2"])
        .current_dir(p.join("examples/sandbox"))
        .envs(p.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("KOPS_DOUBLE_CLOUD", ".kops-double-cloud")
        .env("KUBECONFIG", "2-kops/kubeconfig")
        .output()
        .expect("run the kops double");
    let log = String::from_utf8_lossy(&preview.stderr);
    assert!(
        log.contains("update_cluster.go:364] found control plane running version: 1.33.4\n"),
        "{log}"
    );
    kopsform(&["plan", "apply"]).success();
    kopsform(&["cluster-rolling-update"])
        .success()
        .stderr_has(&format!(
            "instance groups need an update: {control_plane} ("
        ))
        .output_lacks("nodes (");
    // Unchanged inputs: up to date, as long as nothing was rolled.
    kopsform(&upgrade)
        .success()
        .stderr_has("[cluster-update] up to date");

    // Rolling the control plane makes the next cluster-update run.
    kopsform(&["cluster-rolling-update-yes"])
        .success()
        .stderr_has("[cluster-rolling-update-yes] `cluster-update` will run again: instances were rolled, and kops renders the nodes at the control plane's running Kubernetes version\n");

    // Second pass: the nodes follow.
    let second = kopsform(&upgrade);
    second.success();
    assert!(
        !second.stderr.contains("[cluster-update] up to date"),
        "{}",
        second.show()
    );
    assert_eq!(nodeup_version(&p, "node", "nodes"), "1.34.2");
    kopsform(&["plan", "apply"]).success();
    kopsform(&["cluster-rolling-update"])
        .success()
        .stderr_has("instance groups need an update: nodes (");
}

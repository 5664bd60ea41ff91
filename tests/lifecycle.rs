//! The whole life of one cluster through the repository's own tasks.toml, with the kops state in S3
//! (moto_server), the 2-kops Terraform state in the s3 backend, real Terraform and the kops double.

use crate::support::{Project, S3, require, require_terraform};

/// Added to the sandbox prerequisites layer: the layer creates the kops state bucket, as the real
/// one does, and removes it on destroy (`aws s3 rb` fails on a bucket that still holds objects).
const STATE_BUCKET_TF: &str = r#"
resource "terraform_data" "kops_state_bucket" {
  input = "kops-state-sandbox-k8s-local"

  provisioner "local-exec" {
    command = "aws s3api create-bucket --bucket ${self.input}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "aws s3 rb s3://${self.input}"
  }
}
"#;

fn backend_tf(endpoint: &str) -> String {
    format!(
        r#"terraform {{
  backend "s3" {{
    bucket                      = "tf-state"
    key                         = "2-kops/terraform.tfstate"
    region                      = "us-east-1"
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    endpoints = {{
      s3 = "{endpoint}"
    }}
  }}
}}
"#
    )
}

fn bucket_keys(p: &Project, bucket: &str) -> Vec<String> {
    let run = p.tool(
        ".",
        "aws",
        &["s3", "ls", &format!("s3://{bucket}"), "--recursive"],
    );
    run.success();
    run.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

#[test]
fn cluster_lifecycle_from_prerequisites_to_teardown() {
    require_terraform();
    require("aws", "pip install awscli");
    let s3 = S3::start();
    let mut p = Project::new();
    s3.attach(&mut p);
    p.copy_from_repo("examples/sandbox/1-prerequisites", "1-prerequisites");
    p.file("1-prerequisites/state_bucket.tf", STATE_BUCKET_TF);
    p.copy_from_repo("tasks.toml", "tasks.toml");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.file("2-kops/backend.tf", &backend_tf(&s3.endpoint));
    p.tool(
        ".",
        "aws",
        &["s3api", "create-bucket", "--bucket", "tf-state"],
    )
    .success();
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
        .stdout_has("Destroy complete!");
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

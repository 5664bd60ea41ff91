//! The pull-request dry run leaves every live thing as it was; `apply` applies exactly what was
//! planned; protected resources need an explicit allowance.

use std::collections::BTreeMap;

use crate::support::{Project, S3, bring_up, cluster_project, require_terraform};

/// Every object of every bucket with its ETag (the MD5 of its bytes for these uploads).
fn all_objects(p: &Project) -> BTreeMap<String, String> {
    let buckets = p.tool(
        ".",
        "aws",
        &[
            "s3api",
            "list-buckets",
            "--query",
            "Buckets[].Name",
            "--output",
            "text",
        ],
    );
    let mut objects = BTreeMap::new();
    for bucket in buckets.success().stdout.split_whitespace() {
        let listing = p.tool(
            ".",
            "aws",
            &[
                "s3api",
                "list-objects-v2",
                "--bucket",
                bucket,
                "--output",
                "json",
            ],
        );
        let json: serde_json::Value =
            serde_json::from_str(&listing.success().stdout).unwrap_or(serde_json::Value::Null);
        for object in json["Contents"].as_array().cloned().unwrap_or_default() {
            objects.insert(
                format!("{bucket}/{}", object["Key"].as_str().unwrap()),
                object["ETag"].as_str().unwrap().to_string(),
            );
        }
    }
    objects
}

fn live_cluster(s3: &S3) -> Project {
    let p = cluster_project(s3);
    bring_up(&p);
    p
}

#[test]
fn dryrun_changes_nothing_live_and_reviews_the_change() {
    require_terraform();
    let s3 = S3::start();
    let p = live_cluster(&s3);
    // The double behaves as strictly as kops: a local configBase with --target terraform fails.
    let mut p = p;
    p.env("KOPS_DOUBLE_STRICT", "1");
    let before = all_objects(&p);
    assert!(
        before
            .keys()
            .any(|k| k.ends_with("sandbox.k8s.local/config")),
        "{before:?}"
    );
    assert!(
        before.contains_key("tf-state/2-kops/terraform.tfstate"),
        "{before:?}"
    );
    let kubernetes_tf = p.read("2-kops/kubernetes.tf");
    let cluster_yml = p.read("2-kops/cluster.yml");

    let run = p.kopsform(&["dryrun", "--set", "kops_worker_machine_type=m6i.2xlarge"]);
    run.success()
        .stderr_has("[dryrun] snapshot of s3://kops-state-sandbox-k8s-local/sandbox.k8s.local (")
        .stderr_has("objects: config, instance groups, addons")
        .stderr_has("isolated run: spec.configBase set to the live s3://kops-state-sandbox-k8s-local/sandbox.k8s.local")
        .stderr_has("[dryrun] review of .kopsform/dryrun/2-kops/dryrun.tfplan written to .kopsform/dryrun/review.md: changes");

    // Byte for byte: every object in S3 (kops state and Terraform state) and the live 2-kops files.
    assert_eq!(
        all_objects(&p),
        before,
        "the dry run changed the live S3 objects"
    );
    assert_eq!(p.read("2-kops/kubernetes.tf"), kubernetes_tf);
    assert_eq!(p.read("2-kops/cluster.yml"), cluster_yml);
    // The snapshot holds only what kops reads through --state: no CA keys, no secrets on disk.
    let snapshot = p.join(".kopsform/dryrun/state/sandbox.k8s.local");
    assert!(snapshot.join("config").is_file());
    assert!(snapshot.join("instancegroup/nodes").is_file());
    for absent in ["pki", "secrets", "backups", "igconfig"] {
        assert!(!snapshot.join(absent).exists(), "{absent} in the snapshot");
    }
    // The change went into the snapshot and the dry-run folder only.
    assert!(
        p.read(".kopsform/dryrun/2-kops/cluster.yml")
            .contains("m6i.2xlarge")
    );
    let review = p.read(".kopsform/dryrun/review.md");
    // Only the nodes changed: keeping the live configBase keeps the control plane's launch
    // templates as they are, so the review shows no replacement of the control plane.
    let headline = review
        .lines()
        .find(|l| l.contains("Plan: "))
        .unwrap_or_default();
    assert!(headline.contains(", 1 to destroy."), "{headline}\n{review}");
    assert!(
        review.contains("to change") || review.contains("to add"),
        "{review}"
    );
    assert!(
        review.contains("m6i.2xlarge") || review.contains("launch_template"),
        "{review}"
    );
    // The rolling-update verdict: kops's, as the instances run now, and the groups this plan rolls.
    assert!(
        review.contains("**After apply, instance group `nodes` needs a rolling update**"),
        "{review}"
    );
    assert!(
        review.contains("kops rolling-update, as the instances run now (before this change): **No instance group needs a rolling update**"),
        "{review}"
    );
    assert!(
        p.read(".kopsform/dryrun/rolling-update.txt")
            .contains("NAME")
    );
}

#[test]
fn apply_refuses_a_plan_whose_inputs_changed_or_that_was_replaced() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    p.kopsform(&["--yes", "prerequisites-apply", "cluster-update", "plan"])
        .success()
        .stderr_has("[plan] sealed 2-kops/kubernetes.tfplan");

    // An input edited after the plan.
    let tf = p.read("2-kops/kubernetes.tf");
    p.file(
        "2-kops/kubernetes.tf",
        &format!("{tf}\n# edited after review\n"),
    );
    p.kopsform(&["--yes", "apply"])
        .failure(1)
        .stderr_has("refusing to apply 2-kops/kubernetes.tfplan: 2-kops/kubernetes.tf changed since the plan was made; re-run plan");
    p.file("2-kops/kubernetes.tf", &tf);

    // The plan file itself replaced.
    let plan = std::fs::read(p.join("2-kops/kubernetes.tfplan")).unwrap();
    std::fs::write(p.join("2-kops/kubernetes.tfplan"), b"not the reviewed plan").unwrap();
    p.kopsform(&["--yes", "apply"])
        .failure(1)
        .stderr_has("the plan file 2-kops/kubernetes.tfplan was replaced since it was sealed");
    std::fs::write(p.join("2-kops/kubernetes.tfplan"), plan).unwrap();

    // Unchanged: applies. A second apply of the same (now stale) plan is Terraform's refusal, said plainly.
    p.kopsform(&["--yes", "apply"])
        .success()
        .stderr_has("is the plan that was sealed");
    p.kopsform(&["--yes", "apply"])
        .failure(1)
        .stderr_has("the saved plan is stale");
}

#[test]
fn protected_resources_need_an_explicit_allowance() {
    require_terraform();
    let s3 = S3::start();
    let p = live_cluster(&s3);
    let tasks = p.read("tasks.toml");
    p.file(
        "tasks.toml",
        &format!(
            "{tasks}\n[review]\nprotect = [{{ address = \"terraform_data.aws_ebs_volume_*-etcd-*\", reason = \"etcd data volume\" }}]\n"
        ),
    );
    // A destroy would delete the etcd volumes: refused, each listed with its reason.
    let run = p.kopsform(&["--yes", "destroy"]);
    run.failure(1)
        .stderr_has(
            "refusing to apply 2-kops/destroy.tfplan: it deletes or replaces protected resources:",
        )
        .stderr_has("terraform_data.aws_ebs_volume_")
        .stderr_has("etcd data volume")
        .stderr_has("--allow-destroy ADDRESS");
    let addresses: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("terraform_data."))
        .map(|l| format!("terraform_data.{}", l.split_whitespace().next().unwrap()))
        .collect();
    assert!(addresses.len() >= 2, "{addresses:?}");
    // Naming only one is not enough.
    p.kopsform(&["--yes", "destroy", "--allow-destroy", &addresses[0]])
        .failure(1);
    let mut args = vec!["--yes", "destroy"];
    for a in &addresses {
        args.extend(["--allow-destroy", a.as_str()]);
    }
    p.kopsform(&args)
        .success()
        .stdout_has("Apply complete! Resources: 0 added, 0 changed, ");
}

const KEY_1: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB one@kopsform";
const KEY_2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC two@kopsform";

fn with_ssh_credential(template: &str, key: &str) -> String {
    format!(
        "{template}\n---\n\napiVersion: kops.k8s.io/v1alpha2\nkind: SSHCredential\nmetadata:\n  name: admin\n  labels:\n    kops.k8s.io/cluster: {{{{cluster_name}}}}\nspec:\n  publicKey: \"{key}\"\n"
    )
}

/// Each way kops would still write to the live store during a dry run (docs/dryrun-isolation.md)
/// is refused before kops runs, and the live objects stay as they were.
#[test]
fn dryrun_refuses_before_kops_would_write_live() {
    require_terraform();
    let s3 = S3::start();
    let mut p = live_cluster(&s3);
    p.env("KOPS_DOUBLE_STRICT", "1");
    let template = p.read("2-kops/cluster-template.yml");
    let before = all_objects(&p);
    let refused = |p: &Project, needle: &str| {
        let run = p.kopsform(&["dryrun"]);
        run.failure(1)
            .stderr_has("refusing the isolated dry run")
            .stderr_has(needle);
        assert!(
            !run.stderr.contains("$ kops update"),
            "kops ran: {}",
            run.stderr
        );
        assert_eq!(all_objects(p), before, "the refused dry run changed S3");
    };

    // A new etcd cluster: kops would issue its CAs into the live key store.
    p.file(
        "2-kops/cluster-template.yml",
        &template.replace(
            "  - name: events\n",
            "  - name: cilium\n    etcdMembers:\n{{#each cluster_master_azs}}\n    - name: {{this}}\n      instanceGroup: control-plane-{{this}}\n{{/each}}\n  - name: events\n",
        ),
    );
    refused(&p, "keyset `etcd-manager-ca-cilium` is missing");
    let run = p.kopsform(&["dryrun"]);
    run.stderr_has("keyset `etcd-clients-ca-cilium` is missing")
        .stderr_has("s3://kops-state-sandbox-k8s-local/sandbox.k8s.local/pki/private/etcd-peers-ca-cilium/keyset.yaml");

    // A new SSH key in an SSHCredential document.
    p.file(
        "2-kops/cluster-template.yml",
        &with_ssh_credential(&template, KEY_1),
    );
    refused(&p, "SSHCredential with the new key `ssh-ed25519 ...");

    // kops writing its managed files itself.
    p.file("2-kops/cluster-template.yml", &template);
    p.env("KOPS_FEATURE_FLAGS", "-TerraformManagedFiles");
    refused(&p, "KOPS_FEATURE_FLAGS has -TerraformManagedFiles");
    p.env("KOPS_FEATURE_FLAGS", "");

    // A legacy token gone from the secret store.
    p.tool(
        ".",
        "aws",
        &[
            "s3",
            "mv",
            "s3://kops-state-sandbox-k8s-local/sandbox.k8s.local/secrets/kube-proxy",
            "s3://kops-state-sandbox-k8s-local/moved-kube-proxy",
        ],
    )
    .success();
    let before_moved = all_objects(&p);
    let run = p.kopsform(&["dryrun"]);
    run.failure(1)
        .stderr_has("legacy token `kube-proxy` is missing");
    assert_eq!(all_objects(&p), before_moved);
    p.tool(
        ".",
        "aws",
        &[
            "s3",
            "mv",
            "s3://kops-state-sandbox-k8s-local/moved-kube-proxy",
            "s3://kops-state-sandbox-k8s-local/sandbox.k8s.local/secrets/kube-proxy",
        ],
    )
    .success();

    // An SSH key the live store already holds: the document is left out and the run goes on.
    p.file(
        "2-kops/cluster-template.yml",
        &with_ssh_credential(&template, KEY_2),
    );
    p.kopsform(&["--yes", "cluster-update"]).success();
    let before = all_objects(&p);
    p.kopsform(&["dryrun"]).success().stderr_has(
        "left out 1 SSHCredential document(s) whose keys the live key store already holds",
    );
    assert_eq!(all_objects(&p), before);

    // No configBase in the manifest: kops would take the snapshot; the live one is set instead,
    // and the strict double (like kops) would fail on a local configBase.
    p.file(
        "2-kops/cluster-template.yml",
        &template.replace("  configBase: {{cluster.state}}/{{cluster.name}}\n", ""),
    );
    p.kopsform(&["dryrun"]).success().stderr_has(
        "spec.configBase set to the live s3://kops-state-sandbox-k8s-local/sandbox.k8s.local",
    );
    assert_eq!(all_objects(&p), before);
}

const CANARY_TF: &str = r#"
variable "kopsform_canary" {
  type      = string
  sensitive = true
}

resource "terraform_data" "canary" {
  input = "${var.kopsform_canary}-attribute"
}

output "canary" {
  value     = "${var.kopsform_canary}-output"
  sensitive = true
}
"#;

/// A secret in a sensitive variable, a sensitive attribute and sensitive outputs (of both layers)
/// appears nowhere a dry run writes: stdout, stderr, the review, or any file under `.kopsform/`.
#[test]
fn dryrun_keeps_secrets_out_of_everything_it_writes() {
    require_terraform();
    let s3 = S3::start();
    let mut p = cluster_project(&s3);
    p.file("2-kops/canary.tf", CANARY_TF);
    p.file(
        "1-prerequisites/canary.tf",
        &CANARY_TF.replace("-output\"", "-prereq-output\""),
    );
    p.env("TF_VAR_kopsform_canary", "c4n4ry-live-5e1d");
    bring_up(&p);
    // The secret is really there, in the live Terraform state: the checks below would catch it.
    let state = p.tool(
        ".",
        "aws",
        &["s3", "cp", "s3://tf-state/2-kops/terraform.tfstate", "-"],
    );
    assert!(
        state
            .success()
            .stdout
            .contains("c4n4ry-live-5e1d-attribute")
    );

    // The pull request changes the secret: the plan updates the attribute and the output.
    p.env("TF_VAR_kopsform_canary", "c4n4ry-next-9a7c");
    let run = p.kopsform(&["dryrun"]);
    run.success();
    let review = p.read(".kopsform/dryrun/review.md");
    assert!(review.contains("terraform_data.canary"), "{review}");
    assert!(review.contains("(sensitive)"), "{review}");
    let json: serde_json::Value =
        serde_json::from_str(&p.read(".kopsform/dryrun/review.json")).unwrap();
    assert_eq!(json["exit_status"], 2, "{json}");
    assert!(
        !p.join(".kopsform/dryrun/2-kops/dryrun.tfplan").exists(),
        "the saved plan, which holds the values in clear, is removed after the review"
    );

    let files = crate::support::files(&p.join(".kopsform"));
    assert!(files.len() > 5, "{:?}", files.keys());
    for canary in ["c4n4ry-live", "c4n4ry-next"] {
        assert!(!run.stdout.contains(canary), "stdout: {}", run.stdout);
        assert!(!run.stderr.contains(canary), "stderr: {}", run.stderr);
        for (file, bytes) in &files {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{canary} in .kopsform/{file}"
            );
        }
    }
}

#[test]
fn a_dry_run_of_an_unchanged_template_after_an_apply_says_no_changes() {
    require_terraform();
    let s3 = S3::start();
    let p = live_cluster(&s3);
    // kops replace gives an object without metadata.creationTimestamp the current time, and kops
    // update writes it into cluster-completed.spec, which kubernetes.tf uploads: unpinned, every
    // run would plan a change of that file although nothing changed.
    let run = p.kopsform(&["dryrun"]);
    run.success().stderr_has(
        "[dryrun] review of .kopsform/dryrun/2-kops/dryrun.tfplan written to .kopsform/dryrun/review.md: no changes",
    );
    let review: serde_json::Value =
        serde_json::from_str(&p.read(".kopsform/dryrun/review.json")).unwrap();
    assert_eq!(review["exit_status"], 0, "{review}");
    // And on main, the next cluster-update (into the S3 store; a CI job's fresh checkout has no
    // up-to-date records, hence --force) plans nothing either.
    p.kopsform(&["--yes", "--force", "cluster-update", "plan"])
        .success()
        .stderr_has("[cluster-update] kept the stored creation timestamps: kops replace reads a copy of the manifest under .kopsform/replace/");
    let plan = p.tool(
        "2-kops",
        "terraform",
        &["show", "-json", "kubernetes.tfplan"],
    );
    plan.success();
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changed: Vec<&str> = plan["resource_changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["change"]["actions"] != serde_json::json!(["no-op"]))
        .map(|c| c["address"].as_str().unwrap_or_default())
        .collect();
    assert!(
        changed.is_empty(),
        "a no-op cluster-update plans {changed:?}"
    );
}

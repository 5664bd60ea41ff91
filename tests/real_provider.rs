//! The real-provider bench, end to end: kops's own `kubernetes.tf` for the minimal-aws and the HA
//! cluster, with their `data/` files, planned, applied, planned again and destroyed by the real
//! Terraform and the real hashicorp/aws provider (installed from the local filesystem mirror)
//! against moto with kops's patches (`tests/moto/launch.py`). What a user relies on is then read
//! back from moto through the aws CLI: the Auto Scaling groups running their launch templates, the
//! managed files in the state bucket, nothing left after destroy, and after a new machine type the
//! launch-template versions a rolling update compares.

use crate::support::real_aws::{self, PatchedMoto, aws_json};
use crate::support::{Project, Run};
use std::sync::MutexGuard;
use std::time::Instant;

/// The bucket kops's fixtures write their managed files to (`aws_s3_object` through `aws.files`).
const FILES_BUCKET: &str = "testingBucket";

/// Runs the real Terraform in `2-kops`, printing how long it took (shown with `--nocapture`).
fn terraform(p: &Project, args: &[&str]) -> Run {
    let started = Instant::now();
    let run = p.tool("2-kops", "terraform", args);
    eprintln!(
        "terraform {}: exit {} after {:.1}s",
        args[0],
        run.code,
        started.elapsed().as_secs_f64()
    );
    run
}

/// A failed step with what moto said: its tracebacks are the HTTP 500s behind most failures.
#[track_caller]
fn expect_code(run: &Run, code: i32, what: &str, moto: &PatchedMoto) {
    assert_eq!(
        run.code,
        code,
        "{what}: expected exit {code}\n{}\n--- moto tracebacks\n{}\n--- moto launcher diagnostics\n{}",
        run.show(),
        moto.tracebacks().join("\n\n"),
        moto.diagnostics().join("\n")
    );
}

/// The Auto Scaling groups of the cluster, by name.
fn cluster_groups(p: &Project, cluster: &str) -> Vec<serde_json::Value> {
    let groups = aws_json(p, &["autoscaling", "describe-auto-scaling-groups"]);
    let mut found: Vec<serde_json::Value> = groups["AutoScalingGroups"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|g| {
            g["AutoScalingGroupName"]
                .as_str()
                .unwrap_or("")
                .ends_with(&format!(".{cluster}"))
        })
        .collect();
    found.sort_by_key(|g| g["AutoScalingGroupName"].as_str().unwrap_or("").to_string());
    found
}

fn launch_template_names(p: &Project) -> Vec<String> {
    let templates = aws_json(p, &["ec2", "describe-launch-templates"]);
    let mut names: Vec<String> = templates["LaunchTemplates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["LaunchTemplateName"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The instances that are not terminated, as (id, state, launch template version tag).
fn live_instances(p: &Project) -> Vec<(String, String, String)> {
    let reservations = aws_json(p, &["ec2", "describe-instances"]);
    let mut found = Vec::new();
    for reservation in reservations["Reservations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for instance in reservation["Instances"].as_array().into_iter().flatten() {
            let state = instance["State"]["Name"].as_str().unwrap_or("").to_string();
            if state == "terminated" || state == "shutting-down" {
                continue;
            }
            let version = instance["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["Key"] == "aws:ec2launchtemplate:version")
                .and_then(|t| t["Value"].as_str())
                .unwrap_or("")
                .to_string();
            let id = instance["InstanceId"].as_str().unwrap_or("").to_string();
            found.push((id, state, version));
        }
    }
    found
}

fn bucket_keys(p: &Project) -> Vec<String> {
    let listing = aws_json(p, &["s3api", "list-objects-v2", "--bucket", FILES_BUCKET]);
    let mut keys: Vec<String> = listing["Contents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["Key"].as_str().map(str::to_string))
        .collect();
    keys.sort();
    keys
}

fn cluster_vpcs(p: &Project, cluster: &str) -> Vec<String> {
    let vpcs = aws_json(
        p,
        &[
            "ec2",
            "describe-vpcs",
            "--filters",
            &format!("Name=tag:KubernetesCluster,Values={cluster}"),
        ],
    );
    vpcs["Vpcs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["VpcId"].as_str().map(str::to_string))
        .collect()
}

/// What one of kops's fixtures creates, as the test reads it back from moto.
struct KopsFixture {
    /// The folder in `../shared/fixtures/kops`.
    name: &'static str,
    cluster: &'static str,
    resources: usize,
    /// Each Auto Scaling group (named as its launch template) with its desired capacity and
    /// `MaxInstanceLifetime` (0: none), by name.
    groups: &'static [(&'static str, u64, u64)],
    /// The `aws_s3_object`s: kops's managed files in the state bucket.
    managed_files: usize,
}

/// A fixture applied on the real provider, with the moto that holds it. One at a time.
struct Applied {
    p: Project,
    moto: PatchedMoto,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// Copies `fixture` into a project's `2-kops`, creates what it expects to exist, then init from
/// the mirror, plan (everything to add) and apply.
fn bring_up(fixture: &KopsFixture) -> Applied {
    let one_at_a_time = real_aws::one_at_a_time();
    let resources = fixture.resources;
    let mut p = Project::new();
    let moto = PatchedMoto::start(&p.join("moto.log"));
    real_aws::kops_layer(&mut p, &moto, fixture.name, "2-kops");
    // What kops's fixture expects to exist already: the state bucket its managed files go to.
    p.tool(
        ".",
        "aws",
        &[
            "s3api",
            "create-bucket",
            "--bucket",
            FILES_BUCKET,
            "--region",
            "us-east-1",
        ],
    )
    .success();

    // Installed from the mirror (the CLI configuration excludes the registry for it).
    let init = terraform(&p, &["init", "-input=false", "-no-color"]);
    expect_code(&init, 0, "terraform init", &moto);
    assert!(
        init.stdout.contains("Installed hashicorp/aws v"),
        "init did not install hashicorp/aws\n{}",
        init.show()
    );

    let plan = terraform(
        &p,
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-out=first.tfplan",
        ],
    );
    expect_code(&plan, 2, "the first plan (everything to add)", &moto);
    plan.stdout_has(&format!(
        "Plan: {resources} to add, 0 to change, 0 to destroy."
    ));

    let apply = terraform(&p, &["apply", "-input=false", "-no-color", "first.tfplan"]);
    expect_code(&apply, 0, "terraform apply", &moto);
    apply.stdout_has(&format!(
        "Apply complete! Resources: {resources} added, 0 changed, 0 destroyed."
    ));
    Applied {
        p,
        moto,
        _one_at_a_time: one_at_a_time,
    }
}

/// Fails the test with moto's tracebacks when moto answered any request with a 500.
#[track_caller]
fn no_http_500(moto: &PatchedMoto) {
    let tracebacks = moto.tracebacks();
    assert!(
        tracebacks.is_empty(),
        "moto failed {} request(s):\n{}",
        tracebacks.len(),
        tracebacks.join("\n\n")
    );
}

/// The fixture's whole life on the real provider: init from the mirror, plan, apply, what moto
/// holds then, a clean re-plan, destroy and nothing left.
fn round_trip(fixture: &KopsFixture) {
    let Applied {
        _one_at_a_time: _lock,
        p,
        moto,
    } = bring_up(fixture);
    let cluster = fixture.cluster;
    let resources = fixture.resources;

    // The groups run on their launch templates, with the sizes and lifetimes kops asked for.
    let groups = cluster_groups(&p, cluster);
    let found: Vec<(String, String, u64, u64, usize)> = groups
        .iter()
        .map(|g| {
            (
                g["AutoScalingGroupName"].as_str().unwrap_or("").to_string(),
                g["LaunchTemplate"]["LaunchTemplateName"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                g["DesiredCapacity"].as_u64().unwrap_or(0),
                g["MaxInstanceLifetime"].as_u64().unwrap_or(0),
                g["Instances"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    let expected: Vec<(String, String, u64, u64, usize)> = fixture
        .groups
        .iter()
        .map(|(name, desired, lifetime)| {
            let name = format!("{name}.{cluster}");
            (name.clone(), name, *desired, *lifetime, *desired as usize)
        })
        .collect();
    assert_eq!(found, expected);
    let template_names: Vec<String> = expected.iter().map(|g| g.1.clone()).collect();
    assert_eq!(launch_template_names(&p), template_names);
    let instances = live_instances(&p);
    let desired: u64 = fixture.groups.iter().map(|g| g.1).sum();
    assert_eq!(instances.len() as u64, desired, "{instances:?}");
    assert!(
        instances.iter().all(|(_, _, version)| version == "1"),
        "every instance runs version 1 of its launch template: {instances:?}"
    );
    // The managed files went to the state bucket through the aws.files provider, byte for byte.
    let keys = bucket_keys(&p);
    assert_eq!(keys.len(), fixture.managed_files, "{keys:#?}");
    let spec_key = keys
        .iter()
        .find(|k| k.ends_with(&format!("/{cluster}/cluster-completed.spec")))
        .unwrap_or_else(|| panic!("no cluster-completed.spec of {cluster}: {keys:#?}"))
        .clone();
    p.tool(
        ".",
        "aws",
        &[
            "s3api",
            "get-object",
            "--bucket",
            FILES_BUCKET,
            "--key",
            &spec_key,
            "downloaded.spec",
        ],
    )
    .success();
    assert_eq!(
        p.read("downloaded.spec"),
        p.read("2-kops/data/aws_s3_object_cluster-completed.spec_content")
    );

    // What moto reports back is what was asked for: the next plan has nothing to do.
    let replan = terraform(
        &p,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    );
    expect_code(&replan, 0, "the plan after apply (no changes)", &moto);
    replan.stdout_has("No changes.");

    let destroy = terraform(
        &p,
        &["destroy", "-auto-approve", "-input=false", "-no-color"],
    );
    expect_code(&destroy, 0, "terraform destroy", &moto);
    destroy.stdout_has(&format!(
        "Destroy complete! Resources: {resources} destroyed."
    ));

    assert_eq!(cluster_groups(&p, cluster), Vec::<serde_json::Value>::new());
    assert_eq!(launch_template_names(&p), Vec::<String>::new());
    assert_eq!(live_instances(&p), Vec::new());
    assert_eq!(bucket_keys(&p), Vec::<String>::new());
    assert_eq!(cluster_vpcs(&p, cluster), Vec::<String>::new());
    let state = terraform(&p, &["state", "list"]);
    expect_code(&state, 0, "terraform state list", &moto);
    assert_eq!(state.stdout.trim(), "", "{}", state.show());

    // Every request was answered as AWS would: no HTTP 500 anywhere in the run.
    no_http_500(&moto);
}

const MINIMAL_AWS: KopsFixture = KopsFixture {
    name: "minimal-aws",
    cluster: "minimal-aws.example.com",
    resources: 68,
    groups: &[("master-us-test-1a.masters", 1, 0), ("nodes", 2, 174000)],
    managed_files: 20,
};

const HA: KopsFixture = KopsFixture {
    name: "ha",
    cluster: "ha.example.com",
    resources: 88,
    groups: &[
        ("master-us-test-1a.masters", 1, 0),
        ("master-us-test-1b.masters", 1, 0),
        ("master-us-test-1c.masters", 1, 0),
        ("nodes", 2, 0),
    ],
    managed_files: 26,
};

#[test]
fn minimal_aws_applies_replans_clean_and_destroys_on_the_real_aws_provider() {
    round_trip(&MINIMAL_AWS);
}

#[test]
fn ha_applies_replans_clean_and_destroys_on_the_real_aws_provider() {
    round_trip(&HA);
}

/// The nodes' group of minimal-aws as (launch template version, [(instance, type, version)]),
/// the instances sorted by id.
fn nodes_group(p: &Project) -> (String, Vec<(String, String, String)>) {
    let name = format!("nodes.{}", MINIMAL_AWS.cluster);
    let answer = aws_json(
        p,
        &[
            "autoscaling",
            "describe-auto-scaling-groups",
            "--auto-scaling-group-names",
            &name,
        ],
    );
    let group = &answer["AutoScalingGroups"][0];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let mut instances: Vec<(String, String, String)> = group["Instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                text(&i["InstanceId"]),
                text(&i["InstanceType"]),
                text(&i["LaunchTemplate"]["Version"]),
            )
        })
        .collect();
    instances.sort();
    (text(&group["LaunchTemplate"]["Version"]), instances)
}

/// What kops's rolling update reads from the cloud: after kops writes a new machine type into the
/// nodes' launch template, Terraform updates the template in place (version 2) and points the group
/// at it; the running instances stay on version 1 (they need an update), and an instance
/// terminated without lowering the desired capacity is replaced at once from version 2.
#[test]
fn a_new_machine_type_updates_the_launch_template_in_place_and_replacements_run_the_new_version() {
    let Applied {
        _one_at_a_time: _lock,
        p,
        moto,
    } = bring_up(&MINIMAL_AWS);
    let tf = p.read("2-kops/kubernetes.tf");
    assert_eq!(tf.matches(r#"instance_type = "t2.medium""#).count(), 1);
    p.file(
        "2-kops/kubernetes.tf",
        &tf.replace(
            r#"instance_type = "t2.medium""#,
            r#"instance_type = "t3.large""#,
        ),
    );

    let plan = terraform(
        &p,
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-out=machine-type.tfplan",
        ],
    );
    expect_code(&plan, 2, "the plan of the new machine type", &moto);
    plan.stdout_has("aws_launch_template.nodes-minimal-aws-example-com will be updated in-place")
        .stdout_has("aws_autoscaling_group.nodes-minimal-aws-example-com will be updated in-place")
        .stdout_has("Plan: 0 to add, 2 to change, 0 to destroy.");
    let apply = terraform(
        &p,
        &["apply", "-input=false", "-no-color", "machine-type.tfplan"],
    );
    expect_code(&apply, 0, "the apply of the new machine type", &moto);

    let (version, instances) = nodes_group(&p);
    assert_eq!(version, "2", "the group runs the template's new version");
    let old: Vec<(String, String)> = instances
        .iter()
        .map(|(_, kind, version)| (kind.clone(), version.clone()))
        .collect();
    assert_eq!(
        old,
        [
            ("t2.medium".into(), "1".into()),
            ("t2.medium".into(), "1".into())
        ],
        "the running instances stay on version 1: {instances:?}"
    );

    let (replaced, kept) = (&instances[0].0, &instances[1].0);
    p.tool(
        ".",
        "aws",
        &[
            "autoscaling",
            "terminate-instance-in-auto-scaling-group",
            "--instance-id",
            replaced,
            "--no-should-decrement-desired-capacity",
        ],
    )
    .success();
    let (_, after) = nodes_group(&p);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|(id, _, _)| id != replaced),
        "{replaced} left the group: {after:?}"
    );
    for (id, kind, version) in &after {
        let expected = if id == kept {
            ("t2.medium", "1")
        } else {
            ("t3.large", "2")
        };
        assert_eq!((kind.as_str(), version.as_str()), expected, "{after:?}");
    }
    // EC2 agrees: the replacement was launched from version 2.
    let replacement = &after.iter().find(|(id, _, _)| id != kept).unwrap().0;
    let described = aws_json(
        &p,
        &["ec2", "describe-instances", "--instance-ids", replacement],
    );
    let instance = &described["Reservations"][0]["Instances"][0];
    assert_eq!(instance["InstanceType"], "t3.large");
    let version_tag = instance["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["Key"] == "aws:ec2launchtemplate:version")
        .map(|t| t["Value"].clone());
    assert_eq!(version_tag, Some("2".into()), "{instance:#}");

    // Replacing instances is no change to Terraform.
    let replan = terraform(
        &p,
        &["plan", "-input=false", "-no-color", "-detailed-exitcode"],
    );
    expect_code(
        &replan,
        0,
        "the plan after the replacement (no changes)",
        &moto,
    );
    no_http_500(&moto);
}

/// The default protection rules on kops's real resource types: a change that replaces an etcd
/// volume (`aws_ebs_volume.*-etcd-*`) is shown as PROTECTED by `kopsform review` (exit 3) and
/// refused by `check-protected` before `terraform apply` runs, unless `--allow-destroy` names it.
#[test]
fn replacing_an_etcd_volume_is_protected_on_the_real_aws_provider() {
    let Applied {
        _one_at_a_time: _lock,
        p,
        moto,
    } = bring_up(&MINIMAL_AWS);
    let volume = "aws_ebs_volume.us-test-1a-etcd-main-minimal-aws-example-com";
    let tf = p.read("2-kops/kubernetes.tf");
    let block = "resource \"aws_ebs_volume\" \"us-test-1a-etcd-main-minimal-aws-example-com\" {\n  availability_zone = \"us-test-1a\"\n  encrypted         = false";
    assert!(tf.contains(block), "the fixture's etcd-main volume changed");
    // `encrypted` forces a new volume: the cluster's etcd data would be gone.
    p.file(
        "2-kops/kubernetes.tf",
        &tf.replace(block, &block.replace("= false", "= true")),
    );
    let plan = terraform(
        &p,
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-out=etcd.tfplan",
        ],
    );
    expect_code(&plan, 2, "the plan replacing the etcd volume", &moto);
    plan.stdout_has(&format!("{volume} must be replaced"));

    p.file(
        "tasks.toml",
        // The values a task reads come from 2-kops's own outputs (kops writes some).
        "[prerequisites]\ndir = \"2-kops\"\n[cluster]\nname = \"minimal-aws.example.com\"\nstate = \"s3://testingBucket\"\n[tasks.apply]\nsteps = [\n  { builtin = \"check-protected\", plan = \"2-kops/etcd.tfplan\" },\n  { run = [\"terraform\", \"apply\", \"-input=false\", \"-no-color\", \"etcd.tfplan\"], cwd = \"2-kops\" },\n]\n",
    );
    let review = p.kopsform(&["review", "2-kops/etcd.tfplan"]);
    review.failure(3).stdout_has(volume).stdout_has("PROTECTED");

    let refused = p.kopsform(&["apply"]);
    refused
        .failure(1)
        .stderr_has(
            "refusing to apply 2-kops/etcd.tfplan: it deletes or replaces protected resources:",
        )
        .stderr_has(&format!("  {volume} (replace): etcd data volume"))
        .stderr_has("--allow-destroy ADDRESS");
    assert!(
        !refused.stderr.contains("$ (cd 2-kops && terraform apply"),
        "{}",
        refused.stderr
    );

    let allowed = p.kopsform(&["--allow-destroy", volume, "apply"]);
    allowed
        .success()
        .stderr_has(&format!("allowed by --allow-destroy: {volume} (replace)"));
    allowed.stdout_has("1 added, 0 changed, 1 destroyed");
    no_http_500(&moto);
}

/// A Kubernetes upgrade as kops writes it (the nodes' nodeup configuration and their user data)
/// planned by the real provider: `kopsform review` of the saved plan shows both as decoded line
/// diffs tied to the `nodes` group, with a secret put in the user data masked (issue 21).
#[test]
fn a_kubernetes_upgrade_of_the_managed_files_is_reviewed_as_decoded_lines_on_the_real_aws_provider()
{
    let Applied {
        _one_at_a_time: _lock,
        mut p,
        moto,
    } = bring_up(&MINIMAL_AWS);
    let canary = "CANARY-5c2e8f40-real-provider-token";
    let nodeup = "2-kops/data/aws_s3_object_nodeupconfig-nodes_content";
    let config = p.read(nodeup);
    assert!(config.contains("KubernetesVersion: 1.34.0\n"));
    p.file(
        nodeup,
        &config.replace("KubernetesVersion: 1.34.0\n", "KubernetesVersion: 1.35.1\n"),
    );
    let user_data = "2-kops/data/aws_launch_template_nodes.minimal-aws.example.com_user_data";
    let script = p.read(user_data);
    let hash = "NodeupConfigHash: oJXYdjC/tVl6EVHGd/0fZ8K0d9Bh0yWCpComcMlAFWE=\n";
    assert!(script.contains(hash) && script.contains("export AWS_REGION=us-test-1\n"));
    p.file(
        user_data,
        &script
            .replace(
                hash,
                "NodeupConfigHash: 2hKq6dKXz5bPp0l3W1v3yq0Wcc3bYkq8f8bq1cXcJ0A=\n",
            )
            .replace(
                "export AWS_REGION=us-test-1\n",
                &format!("export AWS_REGION=us-test-1\nexport BOOTSTRAP_TOKEN={canary}\n"),
            ),
    );
    let plan = terraform(
        &p,
        &[
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-out=upgrade.tfplan",
        ],
    );
    expect_code(&plan, 2, "the plan of the upgrade", &moto);
    // The group follows its template's new version.
    plan.stdout_has("aws_s3_object.nodeupconfig-nodes will be updated in-place")
        .stdout_has("aws_launch_template.nodes-minimal-aws-example-com will be updated in-place")
        .stdout_has("aws_autoscaling_group.nodes-minimal-aws-example-com will be updated in-place")
        .stdout_has("Plan: 0 to add, 3 to change, 0 to destroy.");

    // The review learns the secret from its environment, as in CI.
    p.env("GITHUB_TOKEN", canary);
    let review = p.kopsform(&[
        "review",
        "2-kops/upgrade.tfplan",
        "--cluster",
        "minimal-aws.example.com",
    ]);
    review.failure(2);
    assert!(!review.stdout.contains(canary), "{}", review.stdout);
    let start = review
        .stdout
        .find("### Managed files and user data")
        .unwrap_or_else(|| panic!("no decoded files:\n{}", review.stdout));
    let end = review.stdout.find("### Changes by resource type").unwrap();
    assert_eq!(
        &review.stdout[start..end],
        r#"### Managed files and user data (2)

The files kops manages and the launch templates' user data, decoded from the plan, secrets masked (`***`): 3 lines of context, at most 200 lines per file.

<details><summary><b>update</b> <code>aws_launch_template.nodes-minimal-aws-example-com</code> <code>user_data</code>: instance group <code>nodes</code> needs a rolling update</summary>

```diff
@@ -9,6 +9,7 @@
 NODEUP_HASH_ARM64=64a9a9510538a449e85d05e13e3cd98b80377d68a673447c26821d40f00f0075
 
 export AWS_REGION=us-test-1
+export BOOTSTRAP_TOKEN=***
 
 
 
@@ -143,7 +144,7 @@
   - https://kops-controller.internal.minimal-aws.example.com:3988/
 InstanceGroupName: nodes
 InstanceGroupRole: Node
-NodeupConfigHash: oJXYdjC/tVl6EVHGd/0fZ8K0d9Bh0yWCpComcMlAFWE=
+NodeupConfigHash: 2hKq6dKXz5bPp0l3W1v3yq0Wcc3bYkq8f8bq1cXcJ0A=
 
 __EOF_KUBE_ENV
 
```

</details>

<details><summary><b>update</b> <code>aws_s3_object.nodeupconfig-nodes</code> <code>content</code>: instance group <code>nodes</code> needs a rolling update</summary>

```diff
@@ -42,7 +42,7 @@
   protectKernelDefaults: true
   shutdownGracePeriod: 30s
   shutdownGracePeriodCriticalPods: 10s
-KubernetesVersion: 1.34.0
+KubernetesVersion: 1.35.1
 Networking:
   nonMasqueradeCIDR: 100.64.0.0/10
   serviceClusterIPRange: 100.64.0.0/13
```

</details>

"#
    );
    let json = p.kopsform(&[
        "review",
        "2-kops/upgrade.tfplan",
        "--cluster",
        "minimal-aws.example.com",
        "--format",
        "json",
    ]);
    json.failure(2);
    assert!(!json.stdout.contains(canary), "{}", json.stdout);
    no_http_500(&moto);
}

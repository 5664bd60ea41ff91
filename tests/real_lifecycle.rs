//! The repository's own project, end to end on real parts: its `1-prerequisites` layer (VPC,
//! subnets, NAT, the hosted zone, the state bucket), its `2-kops/cluster-template.yml` and its
//! `tasks.toml`, run by kopsform with the real Terraform and the real hashicorp/aws provider against
//! moto (tests/moto/launch.py), and the kops double writing kops's real `aws_*` Terraform and reading
//! the cloud as kops does. Only the provider endpoints (an override file per layer) and the kops
//! binary (the double) differ from a real account.
//!
//! What a user relies on, read back from moto: the apply creates the Auto Scaling groups and launch
//! templates; a pull-request dry run of an unchanged template says "No changes" and exits 0; a new
//! machine type is reviewed as an in-place launch-template update of that one group, which the
//! rolling update then reports and replaces; destroy is refused on the etcd volumes and the control
//! plane until `--allow-destroy` names them, then `destroy` and `cluster-destroy-yes` leave no
//! cluster resource in moto and no cluster object in the state store.

use crate::support::real_aws::{self, PatchedMoto, aws_json};
use crate::support::{Project, Run};
use std::collections::BTreeMap;

const CLUSTER: &str = "dev.example.com";
const SANITIZED: &str = "dev-example-com";

fn project(moto: &PatchedMoto) -> Project {
    let mut p = Project::new();
    let config = p.join("terraform-cli.tfrc");
    real_aws::write_cli_config(&config, &real_aws::aws_mirror());
    p.env("TF_CLI_CONFIG_FILE", &config.display().to_string());
    p.env("KOPS_DOUBLE_TERRAFORM", "aws");
    moto.attach(&mut p);
    p.copy_from_repo("tasks.toml", "tasks.toml");
    for file in ["main.tf", "outputs.tf", "variables.tf", "versions.tf"] {
        p.copy_from_repo(
            &format!("1-prerequisites/{file}"),
            &format!("1-prerequisites/{file}"),
        );
    }
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    let key = std::fs::read_dir(real_aws::kops_fixtures().join("minimal-aws/data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| {
            f.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("aws_key_pair_")
        })
        .expect("the minimal-aws fixture's public key");
    let key = std::fs::read_to_string(key).unwrap();
    p.file(
        "1-prerequisites/terraform.tfvars",
        &format!(
            r#"cluster_name       = "{CLUSTER}"
region             = "{region}"
availability_zones = ["{region}a", "{region}b"]
master_count       = 1
single_nat_gateway = true
node_min_size      = 2
node_max_size      = 2
kops_ami_id        = "ami-12345678"
ssh_public_key     = "{key}"
"#,
            region = real_aws::REGION,
            key = key.trim()
        ),
    );
    p.file(
        "1-prerequisites/moto_override.tf",
        &real_aws::provider_override_for(&moto.endpoint, &[""]),
    );
    p.file(
        "2-kops/moto_override.tf",
        &real_aws::provider_override(&moto.endpoint),
    );
    p
}

#[track_caller]
fn ok(run: Run, moto: &PatchedMoto) -> Run {
    assert_eq!(
        run.code,
        0,
        "{}\nmoto's tracebacks:\n{}",
        run.show(),
        moto.tracebacks().join("\n\n")
    );
    run
}

/// Per Auto Scaling group of the cluster: its launch template's latest version, the version the
/// group runs, and the launch-template versions of its live instances.
fn groups(p: &Project) -> BTreeMap<String, (String, String, Vec<String>)> {
    let asgs = aws_json(p, &["autoscaling", "describe-auto-scaling-groups"]);
    let mut found = BTreeMap::new();
    for g in asgs["AutoScalingGroups"].as_array().into_iter().flatten() {
        let name = g["AutoScalingGroupName"].as_str().unwrap().to_string();
        if !name.ends_with(&format!(".{CLUSTER}")) {
            continue;
        }
        let lt = &g["LaunchTemplate"];
        let versions = aws_json(
            p,
            &[
                "ec2",
                "describe-launch-templates",
                "--launch-template-ids",
                lt["LaunchTemplateId"].as_str().unwrap(),
            ],
        );
        let latest = versions["LaunchTemplates"][0]["LatestVersionNumber"].to_string();
        let mut instances: Vec<String> = g["Instances"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                i["LaunchTemplate"]["Version"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        instances.sort();
        found.insert(
            name,
            (
                latest,
                lt["Version"].as_str().unwrap_or("").to_string(),
                instances,
            ),
        );
    }
    found
}

/// The review's changes as `address: action`, in order.
fn changes(review: &serde_json::Value) -> Vec<String> {
    review["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{}: {}",
                c["address"].as_str().unwrap(),
                c["action"].as_str().unwrap()
            )
        })
        .collect()
}

/// The rows of kops's rolling-update table in a kopsform run's stdout (the `[task]` prefix and the
/// table's padding dropped): one vector of cells per instance group.
fn rolling_rows(run: &Run) -> Vec<Vec<String>> {
    run.stdout
        .lines()
        .map(|l| match l.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map_or("", |(_, line)| line),
            None => l,
        })
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|cells| {
            cells
                .first()
                .is_some_and(|c| c == "nodes" || c.starts_with("control-plane-"))
        })
        .collect()
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// What moto still holds of the cluster, by kind; empty lists when nothing is left.
fn leftovers(p: &Project, bucket: &str, zone: &str) -> BTreeMap<&'static str, Vec<String>> {
    let mut left = BTreeMap::new();
    let tag = format!("Name=tag:KubernetesCluster,Values={CLUSTER}");
    let strings = |v: &serde_json::Value, list: &str, field: &str| -> Vec<String> {
        v[list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x[field].as_str().unwrap_or("").to_string())
            .collect()
    };
    let reservations = aws_json(p, &["ec2", "describe-instances", "--filters", &tag]);
    let mut instances = Vec::new();
    for r in reservations["Reservations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for i in r["Instances"].as_array().into_iter().flatten() {
            let state = i["State"]["Name"].as_str().unwrap_or("");
            if state != "terminated" && state != "shutting-down" {
                instances.push(i["InstanceId"].as_str().unwrap_or("").to_string());
            }
        }
    }
    left.insert("instances", instances);
    let lts = aws_json(p, &["ec2", "describe-launch-templates"]);
    left.insert(
        "launch templates",
        strings(&lts, "LaunchTemplates", "LaunchTemplateName"),
    );
    let sgs = aws_json(p, &["ec2", "describe-security-groups", "--filters", &tag]);
    left.insert(
        "security groups",
        strings(&sgs, "SecurityGroups", "GroupName"),
    );
    let vols = aws_json(p, &["ec2", "describe-volumes", "--filters", &tag]);
    left.insert("volumes", strings(&vols, "Volumes", "VolumeId"));
    let asgs = aws_json(p, &["autoscaling", "describe-auto-scaling-groups"]);
    left.insert(
        "auto scaling groups",
        strings(&asgs, "AutoScalingGroups", "AutoScalingGroupName"),
    );
    let roles = aws_json(p, &["iam", "list-roles"]);
    let mut roles = strings(&roles, "Roles", "RoleName");
    roles.retain(|r| r.ends_with(CLUSTER));
    left.insert("iam roles", roles);
    let lbs = aws_json(p, &["elbv2", "describe-load-balancers"]);
    left.insert(
        "load balancers",
        strings(&lbs, "LoadBalancers", "LoadBalancerName"),
    );
    let records = aws_json(
        p,
        &[
            "route53",
            "list-resource-record-sets",
            "--hosted-zone-id",
            zone,
        ],
    );
    let mut names: Vec<String> = records["ResourceRecordSets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["Type"] != "NS" && r["Type"] != "SOA")
        .map(|r| {
            format!(
                "{} {}",
                r["Name"].as_str().unwrap_or(""),
                r["Type"].as_str().unwrap_or("")
            )
        })
        .collect();
    names.sort();
    left.insert("dns records", names);
    let objects = aws_json(
        p,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            bucket,
            "--prefix",
            &format!("{CLUSTER}/"),
        ],
    );
    left.insert("state store objects", strings(&objects, "Contents", "Key"));
    left
}

fn review_json(p: &Project) -> serde_json::Value {
    serde_json::from_str(&p.read(".kopsform/dryrun/review.json"))
        .expect("the dry run's review.json")
}

#[test]
fn the_repository_project_runs_its_whole_lifecycle_on_the_real_aws_provider() {
    let _one = real_aws::one_at_a_time();
    let tmp_log = tempfile::NamedTempFile::new().unwrap();
    let moto = PatchedMoto::start(tmp_log.path());
    let p = project(&moto);

    ok(p.kopsform(&["--yes", "prerequisites-apply"]), &moto);
    ok(
        p.kopsform(&["--yes", "cluster-update", "plan", "apply"]),
        &moto,
    );
    let tf = p.read("2-kops/kubernetes.tf");
    assert!(
        tf.contains("resource \"aws_launch_template\" \"nodes-dev-example-com\""),
        "kops's real resources in kubernetes.tf:\n{tf}"
    );

    let cp = format!("control-plane-{}a.masters.{CLUSTER}", real_aws::REGION);
    let nodes = format!("nodes.{CLUSTER}");
    let one = |n: usize| vec!["1".to_string(); n];
    let expected: BTreeMap<String, (String, String, Vec<String>)> = [
        (cp.clone(), ("1".into(), "1".into(), one(1))),
        (nodes.clone(), ("1".into(), "1".into(), one(2))),
    ]
    .into_iter()
    .collect();
    assert_eq!(groups(&p), expected, "after the first apply");

    // A pull request that changes nothing says so.
    let dry = p.kopsform(&["dryrun"]);
    ok(dry, &moto);
    let review = review_json(&p);
    assert_eq!(changes(&review), Vec::<String>::new(), "{review:#}");
    assert_eq!(review["exit_status"], 0, "{review:#}");

    // A new machine type for the nodes: reviewed as an in-place update of their launch template.
    let set = "kops_worker_machine_type=t3.large";
    let dry = p.kopsform(&["--set", set, "dryrun"]);
    assert_eq!(dry.code, 0, "{}", dry.show());
    let review = review_json(&p);
    assert_eq!(
        changes(&review),
        [
            format!("aws_autoscaling_group.nodes-{SANITIZED}: update"),
            format!("aws_launch_template.nodes-{SANITIZED}: update"),
        ],
        "{review:#}"
    );
    assert_eq!(review["exit_status"], 2, "{review:#}");
    assert_eq!(
        review["launch_template_changes"],
        serde_json::json!([{
            "instance_group": "nodes",
            "address": format!("aws_launch_template.nodes-{SANITIZED}")
        }]),
        "the review ties the template change to the group to roll"
    );

    ok(
        p.kopsform(&["--yes", "--set", set, "cluster-update", "plan", "apply"]),
        &moto,
    );
    let mut expected_after = expected.clone();
    expected_after.insert(nodes.clone(), ("2".into(), "2".into(), one(2)));
    assert_eq!(groups(&p), expected_after, "after the machine-type apply");

    // The rolling update reads the groups from the cloud: exactly the nodes need an update.
    let cp_ig = format!("control-plane-{}a", real_aws::REGION);
    let verdict = ok(p.kopsform(&["cluster-rolling-update"]), &moto);
    assert_eq!(
        rolling_rows(&verdict),
        [
            row(&[&cp_ig, "Ready", "0", "1", "1", "1", "1", "1"]),
            row(&["nodes", "NeedsUpdate", "2", "0", "2", "2", "2", "2"]),
        ],
        "{}",
        verdict.show()
    );
    ok(p.kopsform(&["--yes", "cluster-rolling-update-yes"]), &moto);
    expected_after.insert(
        nodes.clone(),
        ("2".into(), "2".into(), vec!["2".to_string(); 2]),
    );
    assert_eq!(groups(&p), expected_after, "after the rolling update");
    let verdict = ok(p.kopsform(&["cluster-rolling-update"]), &moto);
    assert_eq!(
        rolling_rows(&verdict),
        [
            row(&[&cp_ig, "Ready", "0", "1", "1", "1", "1", "1"]),
            row(&["nodes", "Ready", "0", "2", "2", "2", "2", "2"]),
        ],
        "{}",
        verdict.show()
    );
    assert!(
        verdict.stdout.contains("No rolling-update required."),
        "{}",
        verdict.show()
    );

    // destroy: refused on the protected resources until each is named.
    let refused = p.kopsform(&["--yes", "destroy"]);
    assert_ne!(refused.code, 0, "{}", refused.show());
    let allow = [
        format!(
            "aws_autoscaling_group.control-plane-{}a-masters-{SANITIZED}",
            real_aws::REGION
        ),
        format!(
            "aws_ebs_volume.{}a-etcd-events-{SANITIZED}",
            real_aws::REGION
        ),
        format!("aws_ebs_volume.{}a-etcd-main-{SANITIZED}", real_aws::REGION),
    ];
    let mut args = vec!["--yes".to_string(), "destroy".to_string()];
    for a in &allow {
        args.extend(["--allow-destroy".to_string(), a.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(p.kopsform(&args), &moto);
    assert_eq!(groups(&p), BTreeMap::new(), "after destroy");
    ok(p.kopsform(&["--yes", "cluster-destroy-yes"]), &moto);

    let outputs = ok(
        p.tool("1-prerequisites", "terraform", &["output", "-json"]),
        &moto,
    );
    let outputs: serde_json::Value = serde_json::from_str(&outputs.stdout).unwrap();
    let bucket = outputs["kops_s3_bucket"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let zone = outputs["hosted_zone_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let nothing: BTreeMap<&'static str, Vec<String>> = leftovers(&p, &bucket, &zone)
        .into_keys()
        .map(|k| (k, Vec::new()))
        .collect();
    assert_eq!(
        leftovers(&p, &bucket, &zone),
        nothing,
        "what moto still holds of the cluster"
    );
}

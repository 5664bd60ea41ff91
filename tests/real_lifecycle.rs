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

pub(crate) fn project(moto: &PatchedMoto) -> Project {
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
pub(crate) fn ok(run: Run, moto: &PatchedMoto) -> Run {
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

/// The `### Prerequisites layer` part of a review's Markdown: from its heading to the next
/// heading of its level, moto's ids made stable.
fn prerequisites_part(markdown: &str) -> String {
    let start = markdown
        .find("\n### Prerequisites layer")
        .unwrap_or_else(|| panic!("no prerequisites part in:\n{markdown}"));
    let rest = &markdown[start + 1..];
    let end = rest[4..].find("\n### ").map_or(rest.len(), |i| i + 5);
    let ids =
        regex::Regex::new(r"\b(subnet|vpc|rtb|nat|eipalloc|igw|Z)-?[0-9A-Za-z]{8,}\b").unwrap();
    ids.replace_all(&rest[..end], "$1-ID").into_owned()
}

/// Issue 21: a pull request that changes the prerequisites layer is reviewed with it. The dry run
/// plans the layer (without its lock), reviews it in its own part, and renders the cluster from the
/// outputs the layer will have: with both parts when those outputs are known, with the cluster's
/// plan deferred (a status and the outputs it waits for) when a new subnet's id is known only
/// after apply; a replaced hosted zone is protected in the review (exit status 3) and refused by
/// `prerequisites-apply` until `--allow-destroy` names it. Nothing live changes in any of it.
#[test]
fn a_pull_request_changing_the_prerequisites_is_reviewed_with_them_on_the_real_aws_provider() {
    let _one = real_aws::one_at_a_time();
    let tmp_log = tempfile::NamedTempFile::new().unwrap();
    let moto = PatchedMoto::start(tmp_log.path());
    let p = project(&moto);
    ok(p.kopsform(&["--yes", "prerequisites-apply"]), &moto);
    ok(p.kopsform(&["--yes", "cluster-update"]), &moto);
    let live_spec = |p: &Project| {
        let outputs = p.tool("1-prerequisites", "terraform", &["output", "-json"]);
        let outputs: serde_json::Value = serde_json::from_str(&outputs.stdout).unwrap();
        let bucket = outputs["kops_s3_bucket"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        let object = p.join("live-nodes.yaml");
        ok(
            p.tool(
                ".",
                "aws",
                &[
                    "s3api",
                    "get-object",
                    "--bucket",
                    &bucket,
                    "--key",
                    &format!("{CLUSTER}/instancegroup/nodes"),
                    &object.display().to_string(),
                ],
            ),
            &moto,
        );
        std::fs::read_to_string(&object).unwrap()
    };
    let spec_before = live_spec(&p);
    let state_before = p.read("1-prerequisites/terraform.tfstate");

    // 1. A tag on the private subnets (in place) and the nodes' maximum size in the template.
    let main = p.read("1-prerequisites/main.tf");
    let tagged = main.replace(
        "    SubnetType                        = \"Private\"\n",
        "    SubnetType                        = \"Private\"\n    Team                              = \"platform\"\n",
    );
    assert_ne!(
        main, tagged,
        "the private subnets' tags are where the test expects"
    );
    p.file("1-prerequisites/main.tf", &tagged);
    let template = p.read("2-kops/cluster-template.yml");
    let bigger = template.replace("maxSize: {{kops_worker_machine_max_size}}", "maxSize: 3");
    assert_ne!(template, bigger);
    p.file("2-kops/cluster-template.yml", &bigger);
    ok(p.kopsform(&["dryrun"]), &moto);
    let review = review_json(&p);
    let zones: Vec<String> = ["a", "b"]
        .iter()
        .map(|z| format!("{}{z}", real_aws::REGION))
        .collect();
    assert_eq!(
        changes(&review["prerequisites"]),
        zones
            .iter()
            .map(|z| format!("aws_subnet.private[\"{z}\"]: update"))
            .collect::<Vec<_>>(),
        "{review:#}"
    );
    assert_eq!(review["prerequisites"]["layer"], "1-prerequisites");
    assert_eq!(review["prerequisites"]["exit_status"], 2);
    assert!(review.get("cluster_plan_deferred").is_none(), "{review:#}");
    // The cluster (put into the store, never applied) is planned from the template's change.
    let nodes = review["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == format!("aws_autoscaling_group.nodes-{SANITIZED}"))
        .unwrap_or_else(|| panic!("the nodes' group in {review:#}"));
    let max_size: Vec<&serde_json::Value> = nodes["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["path"] == "max_size")
        .map(|a| &a["after"])
        .collect();
    assert_eq!(max_size, [&serde_json::json!("3")], "{nodes:#}");
    assert_eq!(review["exit_status"], 2);
    let markdown = p.read(".kopsform/dryrun/review.md");
    let part = prerequisites_part(&markdown);
    let expected = "### Prerequisites layer `1-prerequisites`\n\n**Plan: 0 to add, 2 to change, 0 to destroy.**\n";
    assert_eq!(
        &part[..expected.len().min(part.len())],
        expected,
        "{markdown}"
    );
    assert!(
        part.contains("#### Details") && part.contains("aws_subnet.private[&quot;"),
        "{part}"
    );
    // Nothing live: the layer's state, the cluster's spec in the store; no plan left behind.
    assert_eq!(p.read("1-prerequisites/terraform.tfstate"), state_before);
    assert_eq!(live_spec(&p), spec_before);
    assert!(!p.join(".kopsform/dryrun/prerequisites.tfplan").exists());
    assert!(
        std::fs::read_dir(p.join("1-prerequisites"))
            .unwrap()
            .all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tfplan")),
        "the dry run writes no plan into the layer"
    );

    // 2. A third zone: its new subnets' ids are known only after apply, so the cluster waits.
    let tfvars = p.read("1-prerequisites/terraform.tfvars");
    let three = tfvars.replace(
        &format!("[\"{r}a\", \"{r}b\"]", r = real_aws::REGION),
        &format!("[\"{r}a\", \"{r}b\", \"{r}c\"]", r = real_aws::REGION),
    );
    assert_ne!(tfvars, three);
    p.file("1-prerequisites/terraform.tfvars", &three);
    let dry = ok(p.kopsform(&["dryrun"]), &moto);
    assert!(
        !dry.stdout.contains("kops replace") && !dry.stderr.contains("kops replace"),
        "kops never runs for a deferred cluster:\n{}",
        dry.show()
    );
    let review = review_json(&p);
    let deferred = &review["cluster_plan_deferred"];
    let waits: Vec<&str> = deferred["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    // The new zone's subnet ids; its CIDR blocks and its (single) NAT gateway are known now.
    assert_eq!(
        waits,
        ["private_subnet_ids", "public_subnet_ids"],
        "{review:#}"
    );
    assert_eq!(deferred["plan"], ".kopsform/dryrun/prerequisites.tfplan");
    assert_eq!(review["changes"], serde_json::json!([]));
    assert_eq!(review["exit_status"], 2);
    let markdown = p.read(".kopsform/dryrun/review.md");
    let top: String = markdown.lines().take(4).collect::<Vec<_>>().join("\n");
    let names: Vec<String> = waits.iter().map(|o| format!("`{o}`")).collect();
    assert_eq!(
        top,
        format!(
            "<!-- kopsform-review cluster={CLUSTER} -->\n## Terraform plan review: {CLUSTER}\n\n⏸️ **The cluster's plan is deferred.** The prerequisites' outputs {} are known only after the layer `1-prerequisites` is applied, so the cluster is planned after that apply (its plan is never made from guessed values).",
            names.join(", ")
        )
    );
    assert!(prerequisites_part(&markdown).contains("to add"));
    assert_eq!(p.read("1-prerequisites/terraform.tfstate"), state_before);
    assert_eq!(live_spec(&p), spec_before);
    p.file("1-prerequisites/terraform.tfvars", &tfvars);
    p.file("1-prerequisites/main.tf", &main);

    // 3. Another hosted zone name: the zone is replaced, which the default rules protect.
    p.file(
        "1-prerequisites/terraform.tfvars",
        &format!("{tfvars}dns_zone = \"other.example.com\"\n"),
    );
    let dry = p.kopsform(&["dryrun"]);
    assert_eq!(dry.code, 0, "{}", dry.show());
    let review = review_json(&p);
    assert_eq!(review["exit_status"], 3, "{review:#}");
    assert_eq!(review["prerequisites"]["exit_status"], 3, "{review:#}");
    assert_eq!(
        review["prerequisites"]["protected"][0]["address"], "aws_route53_zone.cluster[0]",
        "{review:#}"
    );
    let refused = p.kopsform(&["--yes", "prerequisites-apply"]);
    assert_eq!(refused.code, 1, "{}", refused.show());
    assert!(
        refused
            .stderr
            .contains("aws_route53_zone.cluster[0] (replace)")
            && refused.stderr.contains("--allow-destroy"),
        "{}",
        refused.show()
    );
    assert_eq!(
        p.read("1-prerequisites/terraform.tfstate"),
        state_before,
        "the refused apply changed nothing"
    );
}

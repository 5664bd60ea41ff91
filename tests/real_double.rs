//! The kops double's `aws` mode against a real cloud: kops's own `kubernetes.tf` (the minimal-aws and
//! HA fixtures) applied by the real Terraform and hashicorp/aws provider against moto with kops's
//! patches, then the double's `rolling-update cluster`, `validate cluster` and `delete cluster` read
//! and change that cloud through the AWS API, as kops does (see tests/kops-double/README.md,
//! "Cloud reads in aws mode"). Outputs are compared whole, with AWS ids, log timestamps and moto's
//! endpoint normalised.
//!
//! Each test holds `real_aws::one_at_a_time()`: an apply takes 1-1.7 GB and most of a minute of
//! CPU.

use crate::support::real_aws::{self, PatchedMoto, aws_json};
use crate::support::{Project, Run, kops_double_dir};
use regex::Regex;
use std::sync::MutexGuard;

/// The bucket kops's fixtures write their managed files to. A fixture's `configBase` is
/// `memfs://<prefix>/<cluster>` and its `aws_s3_object`s write to this bucket under
/// `<prefix>/<cluster>/`, so the state store is `s3://testingBucket/<prefix>`.
const BUCKET: &str = "testingBucket";

/// A fixture in moto, its cluster registered in the state store, one at a time.
struct Bench {
    p: Project,
    moto: PatchedMoto,
    cluster: &'static str,
    /// The cluster's `configBase` in the bucket, without `s3://testingBucket/`.
    prefix: String,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Bench {
    /// Copies kops's fixture into `2-kops`, creates the state bucket, registers the fixture's
    /// cluster in the state store (`kops replace --force`, with `configBase` in the bucket) with a
    /// CA keyset (what the commands that talk to Kubernetes look for), and runs `terraform init`.
    /// Nothing is applied yet.
    fn new(fixture: &str, cluster: &'static str) -> Bench {
        let one_at_a_time = real_aws::one_at_a_time();
        let mut p = Project::new();
        let moto = PatchedMoto::start(&p.join("moto.log"));
        real_aws::kops_layer(&mut p, &moto, fixture, "2-kops");
        let manifest = std::fs::read_to_string(
            real_aws::kops_fixtures()
                .join(fixture)
                .join("in-v1alpha2.yaml"),
        )
        .expect("the fixture's in-v1alpha2.yaml");
        let memfs = Regex::new(r"configBase: memfs://(\S+)").unwrap();
        let prefix = memfs
            .captures(&manifest)
            .unwrap_or_else(|| panic!("no memfs:// configBase in the {fixture} manifest"))[1]
            .to_string();
        let state = format!(
            "s3://{BUCKET}/{}",
            prefix
                .strip_suffix(&format!("/{cluster}"))
                .expect("the configBase ends with the cluster name")
        );
        let kubeconfig = p.join("kubeconfig").display().to_string();
        p.env("KOPS_DOUBLE_TERRAFORM", "aws")
            .env("KOPS_STATE_STORE", &state)
            .env("KUBECONFIG", &kubeconfig);
        let bench = Bench {
            p,
            moto,
            cluster,
            prefix: prefix.clone(),
            _one_at_a_time: one_at_a_time,
        };
        bench.aws(&[
            "s3api",
            "create-bucket",
            "--bucket",
            BUCKET,
            "--region",
            "us-east-1",
        ]);
        bench.p.file(
            "cluster.yaml",
            &manifest.replace(
                &format!("configBase: memfs://{prefix}"),
                &format!("configBase: s3://{BUCKET}/{prefix}"),
            ),
        );
        bench
            .kops(&["replace", "--force", "-f", "cluster.yaml"])
            .success();
        bench.p.file(
            "keyset.yaml",
            "apiVersion: kops.k8s.io/v1alpha2\nkind: Keyset\nmetadata:\n  name: kubernetes-ca\nspec:\n  type: MachineKeyset\n",
        );
        bench.aws(&[
            "s3",
            "cp",
            "keyset.yaml",
            &format!("s3://{BUCKET}/{prefix}/pki/private/kubernetes-ca/keyset.yaml"),
        ]);
        let init = bench.terraform(&["init", "-input=false", "-no-color"]);
        bench.expect_success(&init, "terraform init");
        bench
    }

    fn terraform(&self, args: &[&str]) -> Run {
        let started = std::time::Instant::now();
        let run = self.p.tool("2-kops", "terraform", args);
        eprintln!(
            "terraform {}: exit {} after {:.1}s",
            args[0],
            run.code,
            started.elapsed().as_secs_f64()
        );
        run
    }

    fn apply(&self) {
        let apply = self.terraform(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        self.expect_success(&apply, "terraform apply");
        self.no_http_500();
    }

    /// The double, with the bench's environment.
    fn kops(&self, args: &[&str]) -> Run {
        let kops = kops_double_dir().join("kops");
        self.p.tool(".", &kops.display().to_string(), args)
    }

    #[track_caller]
    fn aws(&self, args: &[&str]) {
        self.p.tool(".", "aws", args).success();
    }

    #[track_caller]
    fn expect_success(&self, run: &Run, what: &str) {
        assert_eq!(
            run.code,
            0,
            "{what}\n{}\n--- moto tracebacks\n{}\n--- moto launcher diagnostics\n{}",
            run.show(),
            self.moto.tracebacks().join("\n\n"),
            self.moto.diagnostics().join("\n")
        );
    }

    /// Fails the test with moto's tracebacks when moto answered any request with a 500.
    #[track_caller]
    fn no_http_500(&self) {
        let tracebacks = self.moto.tracebacks();
        assert!(
            tracebacks.is_empty(),
            "moto failed {} request(s):\n{}",
            tracebacks.len(),
            tracebacks.join("\n\n")
        );
    }

    /// AWS ids as `<prefix>-*`, klog's time and process id dropped, moto's endpoint as ENDPOINT.
    fn normalise(&self, text: &str) -> String {
        let ids = Regex::new(r"\b(i|lt|sg|vol|vpc|subnet|rtb|igw|dopt|key|eni)-[0-9a-f]{8,17}\b")
            .unwrap();
        let klog = Regex::new(r"(?m)^([IWE])\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ ").unwrap();
        let text = text.replace(&self.moto.endpoint, "ENDPOINT");
        let text = ids.replace_all(&text, "$1-*");
        klog.replace_all(&text, "$1 ").into_owned()
    }

    /// The ids of the instances in the Auto Scaling group `group`, with their launch template
    /// version, sorted.
    fn group_instances(&self, group: &str) -> Vec<(String, String)> {
        let answer = aws_json(
            &self.p,
            &[
                "autoscaling",
                "describe-auto-scaling-groups",
                "--auto-scaling-group-names",
                &format!("{group}.{}", self.cluster),
            ],
        );
        let mut found: Vec<(String, String)> = answer["AutoScalingGroups"][0]["Instances"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["InstanceId"].as_str().unwrap_or("").to_string(),
                    i["LaunchTemplate"]["Version"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect();
        found.sort();
        found
    }

    /// What moto still holds of the cluster, by kind (empty kinds left out): everything
    /// `terraform apply` of kops's `kubernetes.tf` creates, found by the cluster's name and tags.
    fn leftovers(&self) -> Vec<(String, Vec<String>)> {
        let cluster = self.cluster;
        let dashed = cluster.replace('.', "-");
        let tagged = format!("Name=tag:KubernetesCluster,Values={cluster}");
        let list = |args: &[&str], items: &str, field: &str| -> Vec<String> {
            let answer = aws_json(&self.p, args);
            let mut found: Vec<String> = answer[items]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v[field].as_str().map(str::to_string))
                .collect();
            found.sort();
            found
        };
        let named = |all: Vec<String>| -> Vec<String> {
            all.into_iter()
                .filter(|n| n.contains(cluster) || n.contains(&dashed))
                .collect()
        };
        let mut kinds = vec![
            (
                "auto scaling groups",
                named(list(
                    &["autoscaling", "describe-auto-scaling-groups"],
                    "AutoScalingGroups",
                    "AutoScalingGroupName",
                )),
            ),
            (
                "launch templates",
                named(list(
                    &["ec2", "describe-launch-templates"],
                    "LaunchTemplates",
                    "LaunchTemplateName",
                )),
            ),
            (
                "vpcs",
                list(
                    &["ec2", "describe-vpcs", "--filters", &tagged],
                    "Vpcs",
                    "VpcId",
                ),
            ),
            (
                "subnets",
                list(
                    &["ec2", "describe-subnets", "--filters", &tagged],
                    "Subnets",
                    "SubnetId",
                ),
            ),
            (
                "security groups",
                list(
                    &["ec2", "describe-security-groups", "--filters", &tagged],
                    "SecurityGroups",
                    "GroupId",
                ),
            ),
            (
                "volumes",
                list(
                    &["ec2", "describe-volumes", "--filters", &tagged],
                    "Volumes",
                    "VolumeId",
                ),
            ),
            (
                "route tables",
                list(
                    &["ec2", "describe-route-tables", "--filters", &tagged],
                    "RouteTables",
                    "RouteTableId",
                ),
            ),
            (
                "internet gateways",
                list(
                    &["ec2", "describe-internet-gateways", "--filters", &tagged],
                    "InternetGateways",
                    "InternetGatewayId",
                ),
            ),
            (
                "dhcp options",
                list(
                    &["ec2", "describe-dhcp-options", "--filters", &tagged],
                    "DhcpOptions",
                    "DhcpOptionsId",
                ),
            ),
            (
                "key pairs",
                named(list(&["ec2", "describe-key-pairs"], "KeyPairs", "KeyName")),
            ),
            (
                "iam roles",
                named(list(&["iam", "list-roles"], "Roles", "RoleName")),
            ),
            (
                "iam instance profiles",
                named(list(
                    &["iam", "list-instance-profiles"],
                    "InstanceProfiles",
                    "InstanceProfileName",
                )),
            ),
            (
                "event rules",
                named(list(&["events", "list-rules"], "Rules", "Name")),
            ),
            (
                "load balancers",
                named(list(
                    &["elbv2", "describe-load-balancers"],
                    "LoadBalancers",
                    "LoadBalancerName",
                )),
            ),
            (
                "target groups",
                list(
                    &["elbv2", "describe-target-groups"],
                    "TargetGroups",
                    "TargetGroupName",
                ),
            ),
        ];
        // Queues come back as a list of URLs.
        let queues = aws_json(&self.p, &["sqs", "list-queues"]);
        kinds.push((
            "sqs queues",
            named(
                queues["QueueUrls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect(),
            ),
        ));
        // Instances that are not terminated.
        let reservations = aws_json(
            &self.p,
            &[
                "ec2",
                "describe-instances",
                "--filters",
                &tagged,
                "Name=instance-state-name,Values=pending,running,stopping,stopped",
            ],
        );
        kinds.push((
            "instances",
            reservations["Reservations"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["Instances"].as_array().cloned().unwrap_or_default())
                .filter_map(|i| i["InstanceId"].as_str().map(str::to_string))
                .collect(),
        ));
        // Route 53 records of the cluster in any zone.
        let zones = aws_json(&self.p, &["route53", "list-hosted-zones"]);
        let mut records = Vec::new();
        for zone in zones["HostedZones"].as_array().into_iter().flatten() {
            let id = zone["Id"].as_str().unwrap_or("");
            let sets = aws_json(
                &self.p,
                &[
                    "route53",
                    "list-resource-record-sets",
                    "--hosted-zone-id",
                    id,
                ],
            );
            for set in sets["ResourceRecordSets"].as_array().into_iter().flatten() {
                let name = set["Name"].as_str().unwrap_or("");
                if name.trim_end_matches('.').ends_with(cluster) {
                    records.push(name.to_string());
                }
            }
        }
        kinds.push(("route53 records", records));
        // The state store: the managed files and the registry.
        let listing = aws_json(
            &self.p,
            &[
                "s3api",
                "list-objects-v2",
                "--bucket",
                BUCKET,
                "--prefix",
                &format!("{}/", self.prefix),
            ],
        );
        kinds.push((
            "state store objects",
            listing["Contents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["Key"].as_str().map(str::to_string))
                .collect(),
        ));
        kinds
            .into_iter()
            .filter(|(_, items)| !items.is_empty())
            .map(|(kind, items)| (kind.to_string(), items))
            .collect()
    }
}

/// Sorts the lines between the line `after` and the next empty line: table rows whose order
/// depends on ids that were normalised away.
fn sort_rows(text: &str, after: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(start) = lines.iter().position(|l| *l == after) {
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.is_empty())
            .map_or(lines.len(), |e| start + 1 + e);
        lines[start + 2..end].sort();
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

const MINIMAL_READY: &str = "\
NAME\t\t\tSTATUS\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX
master-us-test-1a\tReady\t0\t\t1\t1\t1\t1
nodes\t\t\tReady\t0\t\t2\t2\t2\t2

No rolling-update required.
";

/// minimal-aws on the real provider: the double reads the groups from the cloud, rolls exactly
/// the nodes after a new machine type (an in-place launch template version 2), validates, and
/// `delete cluster --yes` leaves nothing of the cluster in moto.
#[test]
fn minimal_aws_rolling_update_validate_and_delete_read_the_real_cloud() {
    let b = Bench::new("minimal-aws", "minimal-aws.example.com");

    // Nothing applied yet: no control plane, so no Kubernetes API; and no groups in the cloud.
    let unreachable = b.kops(&["rolling-update", "cluster", b.cluster]);
    unreachable.failure(1);
    assert_eq!(
        unreachable.stderr,
        "Unable to reach the kubernetes API.\nUse --cloudonly to do a rolling-update without confirming progress with the k8s API\n\nError: error listing nodes in cluster: Get \"https://api.minimal-aws.example.com/api/v1/nodes\": dial tcp: lookup api.minimal-aws.example.com: no such host\n"
    );
    let empty = b.kops(&["rolling-update", "cluster", b.cluster, "--cloudonly"]);
    empty.success();
    assert_eq!(
        empty.stdout,
        "NAME\tSTATUS\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX\n\nNo rolling-update required.\n"
    );

    b.apply();
    let ready = b.kops(&["rolling-update", "cluster", b.cluster, "--cloudonly"]);
    ready.success();
    assert_eq!(ready.stdout, MINIMAL_READY);
    assert_eq!(ready.stderr, "");
    // With the control plane up, the API "answers" and the nodes count.
    let with_nodes = b.kops(&["rolling-update", "cluster", b.cluster]);
    with_nodes.success();
    assert_eq!(
        with_nodes.stdout,
        "\
NAME\t\t\tSTATUS\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX\tNODES
master-us-test-1a\tReady\t0\t\t1\t1\t1\t1\t1
nodes\t\t\tReady\t0\t\t2\t2\t2\t2\t2

No rolling-update required.
"
    );

    let validate = b.kops(&["validate", "cluster", b.cluster]);
    validate.success();
    assert_eq!(
        sort_rows(&b.normalise(&validate.stdout), "NODE STATUS"),
        "\
Validating cluster minimal-aws.example.com

INSTANCE GROUPS
NAME\t\t\tROLE\t\tMACHINETYPE\tMIN\tMAX\tSUBNETS
master-us-test-1a\tControlPlane\tm3.medium\t1\t1\tus-test-1a
nodes\t\t\tNode\t\tt2.medium\t2\t2\tus-test-1a

NODE STATUS
NAME\t\t\tROLE\t\tREADY
i-*\tcontrol-plane\tTrue
i-*\tnode\t\tTrue
i-*\tnode\t\tTrue

Your cluster minimal-aws.example.com is ready
"
    );

    // kops's new machine type for the nodes: Terraform updates their launch template in place
    // (version 2) and points the group at `latest_version`.
    let tf = b.p.read("2-kops/kubernetes.tf");
    assert_eq!(tf.matches(r#"instance_type = "t2.medium""#).count(), 1);
    b.p.file(
        "2-kops/kubernetes.tf",
        &tf.replace(
            r#"instance_type = "t2.medium""#,
            r#"instance_type = "t3.large""#,
        ),
    );
    b.apply();
    let old_nodes = b.group_instances("nodes");
    let control_plane = b.group_instances("master-us-test-1a.masters");
    assert_eq!(
        old_nodes.iter().map(|n| n.1.as_str()).collect::<Vec<_>>(),
        ["1", "1"]
    );

    let needs = b.kops(&["rolling-update", "cluster", b.cluster, "--cloudonly"]);
    needs.success();
    let needs_table = "\
NAME\t\t\tSTATUS\t\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX
master-us-test-1a\tReady\t\t0\t\t1\t1\t1\t1
nodes\t\t\tNeedsUpdate\t2\t\t0\t2\t2\t2
";
    assert_eq!(
        needs.stdout,
        format!("{needs_table}\nMust specify --yes to rolling-update.\n")
    );

    let rolled = b.kops(&[
        "rolling-update",
        "cluster",
        b.cluster,
        "--cloudonly",
        "--yes",
    ]);
    b.expect_success(&rolled, "rolling-update --yes");
    assert_eq!(rolled.stdout, needs_table);
    let stopping = "I instancegroups.go:656] Stopping instance \"i-*\", in group \"nodes.minimal-aws.example.com\" (this may take a while).\n";
    let one_instance = format!(
        "W instancegroups.go:450] Not draining cluster nodes as 'cloudonly' flag is set.\n{stopping}I instancegroups.go:491] waiting for 15s after terminating instance\nW instancegroups.go:528] Not validating cluster as cloudonly flag is set.\n"
    );
    assert_eq!(
        b.normalise(&rolled.stderr),
        format!(
            "W instancegroups.go:528] Not validating cluster as cloudonly flag is set.\n{one_instance}{one_instance}I rollingupdate.go:236] Completed rolling update for cluster \"minimal-aws.example.com\" instance groups [master-us-test-1a nodes]\n"
        )
    );
    // Exactly the nodes were replaced, by instances of the new version; the control plane kept its.
    let new_nodes = b.group_instances("nodes");
    assert_eq!(new_nodes.len(), 2, "{new_nodes:?}");
    for (id, version) in &new_nodes {
        assert_eq!(version, "2", "{new_nodes:?}");
        assert!(
            old_nodes.iter().all(|(old, _)| old != id),
            "{id} is an old node: {old_nodes:?}"
        );
    }
    assert_eq!(
        b.group_instances("master-us-test-1a.masters"),
        control_plane
    );

    let clean = b.kops(&["rolling-update", "cluster", b.cluster, "--cloudonly"]);
    clean.success();
    assert_eq!(clean.stdout, MINIMAL_READY);

    // delete cluster: kops's listing first, then everything in an order AWS accepts.
    let listing = b.kops(&["delete", "cluster", b.cluster]);
    listing.success();
    let table = "\
TYPE\t\t\tNAME\t\t\t\t\t\t\t\t\t\t\tID
autoscaling-config\tmaster-us-test-1a.masters.minimal-aws.example.com\t\t\t\t\tlt-*
autoscaling-config\tnodes.minimal-aws.example.com\t\t\t\t\t\t\t\tlt-*
autoscaling-group\tmaster-us-test-1a.masters.minimal-aws.example.com\t\t\t\t\tmaster-us-test-1a.masters.minimal-aws.example.com
autoscaling-group\tnodes.minimal-aws.example.com\t\t\t\t\t\t\t\tnodes.minimal-aws.example.com
dhcp-options\t\tminimal-aws.example.com\t\t\t\t\t\t\t\t\tdopt-*
eventbridge-rule\tminimal-aws.example.com-ASGLifecycle\t\t\t\t\t\t\tminimal-aws.example.com-ASGLifecycle
eventbridge-rule\tminimal-aws.example.com-InstanceScheduledChange\t\t\t\t\t\tminimal-aws.example.com-InstanceScheduledChange
eventbridge-rule\tminimal-aws.example.com-InstanceStateChange\t\t\t\t\t\tminimal-aws.example.com-InstanceStateChange
eventbridge-rule\tminimal-aws.example.com-SpotInterruption\t\t\t\t\t\tminimal-aws.example.com-SpotInterruption
iam-instance-profile\tmasters.minimal-aws.example.com\t\t\t\t\t\t\t\tmasters.minimal-aws.example.com
iam-instance-profile\tnodes.minimal-aws.example.com\t\t\t\t\t\t\t\tnodes.minimal-aws.example.com
iam-role\t\tmasters.minimal-aws.example.com\t\t\t\t\t\t\t\tmasters.minimal-aws.example.com
iam-role\t\tnodes.minimal-aws.example.com\t\t\t\t\t\t\t\tnodes.minimal-aws.example.com
instance\t\tmaster-us-test-1a.masters.minimal-aws.example.com\t\t\t\t\ti-*
instance\t\tnodes.minimal-aws.example.com\t\t\t\t\t\t\t\ti-*
instance\t\tnodes.minimal-aws.example.com\t\t\t\t\t\t\t\ti-*
internet-gateway\tminimal-aws.example.com\t\t\t\t\t\t\t\t\tigw-*
keypair\t\t\tkubernetes.minimal-aws.example.com-c4:a6:ed:9a:a8:89:b9:e2:c3:9c:d6:63:eb:9c:71:57\tkey-*
route-table\t\tminimal-aws.example.com\t\t\t\t\t\t\t\t\trtb-*
security-group\t\tmasters.minimal-aws.example.com\t\t\t\t\t\t\t\tsg-*
security-group\t\tnodes.minimal-aws.example.com\t\t\t\t\t\t\t\tsg-*
sqs\t\t\tENDPOINT/123456789012/minimal-aws-example-com-nth\t\t\t\tENDPOINT/123456789012/minimal-aws-example-com-nth
subnet\t\t\tus-test-1a.minimal-aws.example.com\t\t\t\t\t\t\tsubnet-*
volume\t\t\tus-test-1a.etcd-events.minimal-aws.example.com\t\t\t\t\t\tvol-*
volume\t\t\tus-test-1a.etcd-main.minimal-aws.example.com\t\t\t\t\t\tvol-*
vpc\t\t\tminimal-aws.example.com\t\t\t\t\t\t\t\t\tvpc-*
";
    assert_eq!(
        b.normalise(&listing.stdout),
        format!("{table}\nMust specify --yes to delete cluster\n")
    );

    let deleted = b.kops(&["delete", "cluster", b.cluster, "--yes"]);
    b.expect_success(&deleted, "delete cluster --yes");
    assert_eq!(
        b.normalise(&deleted.stdout),
        format!(
            "{table}
autoscaling-group:master-us-test-1a.masters.minimal-aws.example.com\tok
autoscaling-group:nodes.minimal-aws.example.com\tok
instance:i-*\tok
eventbridge-rule:minimal-aws.example.com-ASGLifecycle\tok
eventbridge-rule:minimal-aws.example.com-InstanceScheduledChange\tok
eventbridge-rule:minimal-aws.example.com-InstanceStateChange\tok
eventbridge-rule:minimal-aws.example.com-SpotInterruption\tok
sqs:ENDPOINT/123456789012/minimal-aws-example-com-nth\tok
keypair:key-*\tok
iam-instance-profile:masters.minimal-aws.example.com\tok
iam-instance-profile:nodes.minimal-aws.example.com\tok
autoscaling-config:lt-*\tok
autoscaling-config:lt-*\tok
volume:vol-*\tok
volume:vol-*\tok
security-group:sg-*\tok
security-group:sg-*\tok
internet-gateway:igw-*\tok
iam-role:masters.minimal-aws.example.com\tok
iam-role:nodes.minimal-aws.example.com\tok
subnet:subnet-*\tok
route-table:rtb-*\tok
vpc:vpc-*\tok
dhcp-options:dopt-*\tok

Deleted cluster: \"minimal-aws.example.com\"
"
        )
    );
    assert_eq!(b.leftovers(), Vec::<(String, Vec<String>)>::new());
    b.no_http_500();
}

/// The HA fixture: three control-plane groups in three zones, read back from the cloud, and
/// nothing of the cluster left after `delete cluster --yes`.
#[test]
fn ha_rolling_update_validate_and_delete_read_the_real_cloud() {
    let b = Bench::new("ha", "ha.example.com");
    b.apply();
    let ready = b.kops(&["rolling-update", "cluster", b.cluster, "--cloudonly"]);
    ready.success();
    assert_eq!(
        ready.stdout,
        "\
NAME\t\t\tSTATUS\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX
master-us-test-1a\tReady\t0\t\t1\t1\t1\t1
master-us-test-1b\tReady\t0\t\t1\t1\t1\t1
master-us-test-1c\tReady\t0\t\t1\t1\t1\t1
nodes\t\t\tReady\t0\t\t2\t2\t2\t2

No rolling-update required.
"
    );
    let validate = b.kops(&["validate", "cluster", b.cluster, "-o", "yaml"]);
    validate.success();
    let nodes: Vec<String> = b
        .normalise(&validate.stdout)
        .lines()
        .filter(|l| l.contains("zone:") || l.contains("role:"))
        .map(str::to_string)
        .collect();
    assert_eq!(nodes.len(), 10, "{}", validate.stdout);
    assert!(!validate.stdout.contains("failures"), "{}", validate.stdout);

    // `delete instancegroup --yes` of one control-plane group of three (pkg/instancegroups/delete.go,
    // awsup/aws_cloud.go `deleteGroup`): its Auto Scaling group and launch template leave moto, the
    // other groups stay, and the state store no longer holds it.
    let pruned = b.kops(&[
        "delete",
        "instancegroup",
        "master-us-test-1c",
        "--name",
        b.cluster,
        "--yes",
    ]);
    b.expect_success(&pruned, "delete instancegroup --yes");
    assert_eq!(
        pruned.stdout,
        "InstanceGroup \"master-us-test-1c\" found for deletion\n\nDeleted InstanceGroup: \"master-us-test-1c\"\n"
    );
    let templates = b.p.tool(
        ".",
        "aws",
        &[
            "ec2",
            "describe-launch-templates",
            "--query",
            "LaunchTemplates[].LaunchTemplateName",
            "--output",
            "text",
        ],
    );
    templates.success();
    let mut templates: Vec<&str> = templates.stdout.split_whitespace().collect();
    templates.sort();
    assert_eq!(
        templates,
        [
            "master-us-test-1a.masters.ha.example.com",
            "master-us-test-1b.masters.ha.example.com",
            "nodes.ha.example.com"
        ]
    );
    let rolled = b.kops(&["rolling-update", "cluster", b.cluster, "--cloudonly"]);
    rolled.success();
    assert_eq!(
        rolled.stdout,
        "\
NAME\t\t\tSTATUS\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX
master-us-test-1a\tReady\t0\t\t1\t1\t1\t1
master-us-test-1b\tReady\t0\t\t1\t1\t1\t1
nodes\t\t\tReady\t0\t\t2\t2\t2\t2

No rolling-update required.
"
    );
    let gone = b.kops(&[
        "get",
        "instancegroups",
        "master-us-test-1c",
        "--name",
        b.cluster,
    ]);
    assert_eq!(gone.code, 1, "{}", gone.show());
    gone.stderr_has("Error: instancegroup not found \"master-us-test-1c\"");

    let deleted = b.kops(&["delete", "cluster", b.cluster, "--yes"]);
    b.expect_success(&deleted, "delete cluster --yes");
    deleted.stdout_has("\nDeleted cluster: \"ha.example.com\"\n");
    assert!(!deleted.stdout.contains("will retry"), "{}", deleted.stdout);
    assert_eq!(b.leftovers(), Vec::<(String, Vec<String>)>::new());
    b.no_http_500();
}

/// Without Terraform, what kops's cloud reads do with groups that name `$Latest`, with an Auto
/// Scaling group that matches no instance group, and with a shared VPC: a new template version makes
/// the group's instances outdated, the missing control plane fails validation, and `delete cluster
/// --yes` deletes the group and its owned template but leaves the shared VPC and subnet.
#[test]
fn latest_versions_unmatched_groups_and_shared_vpcs_are_read_as_kops_does() {
    let b = Bench::new("minimal-aws", "minimal-aws.example.com");
    let cluster = b.cluster;
    let json = |args: &[&str]| aws_json(&b.p, args);
    let shared = format!("Key=kubernetes.io/cluster/{cluster},Value=shared");
    let vpc = json(&["ec2", "create-vpc", "--cidr-block", "10.1.0.0/16"])["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    b.aws(&[
        "ec2",
        "create-tags",
        "--resources",
        &vpc,
        "--tags",
        &shared,
        &format!("Key=KubernetesCluster,Value={cluster}"),
    ]);
    let subnet = json(&[
        "ec2",
        "create-subnet",
        "--vpc-id",
        &vpc,
        "--cidr-block",
        "10.1.1.0/24",
        "--availability-zone",
        "us-test-1a",
    ])["Subnet"]["SubnetId"]
        .as_str()
        .unwrap()
        .to_string();
    b.aws(&[
        "ec2",
        "create-tags",
        "--resources",
        &subnet,
        "--tags",
        &shared,
        &format!("Key=KubernetesCluster,Value={cluster}"),
    ]);
    let template = |name: &str, kind: &str| {
        let data = format!(r#"{{"ImageId":"ami-12c6146b","InstanceType":"{kind}"}}"#);
        b.aws(&[
            "ec2",
            "create-launch-template",
            "--launch-template-name",
            name,
            "--launch-template-data",
            &data,
            "--tag-specifications",
            &format!(
                "ResourceType=launch-template,Tags=[{{Key=kubernetes.io/cluster/{cluster},Value=owned}}]"
            ),
        ]);
    };
    let group = |name: &str, ig: &str| {
        template(name, "t2.medium");
        b.aws(&[
            "autoscaling",
            "create-auto-scaling-group",
            "--auto-scaling-group-name",
            name,
            "--launch-template",
            &format!("LaunchTemplateName={name},Version=$Latest"),
            "--min-size",
            "2",
            "--max-size",
            "2",
            "--desired-capacity",
            "2",
            "--vpc-zone-identifier",
            &subnet,
            "--tags",
            &format!("Key=KubernetesCluster,Value={cluster},PropagateAtLaunch=true"),
            &format!("Key=kops.k8s.io/instancegroup,Value={ig},PropagateAtLaunch=true"),
            &format!("Key=Name,Value={name},PropagateAtLaunch=true"),
        ]);
    };
    group(&format!("nodes.{cluster}"), "nodes");
    group(&format!("strays.{cluster}"), "strays");

    let ready = b.kops(&["rolling-update", "cluster", cluster, "--cloudonly"]);
    ready.success();
    assert_eq!(
        ready.stdout,
        "NAME\tSTATUS\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX\nnodes\tReady\t0\t\t2\t2\t2\t2\n\nNo rolling-update required.\n"
    );
    assert_eq!(
        b.normalise(&ready.stderr),
        "W aws_cloud.go:817] Found ASG with no corresponding instance group \"strays.minimal-aws.example.com\"\n"
    );
    // Naming the instance groups: no warning about the others.
    let named = b.kops(&[
        "rolling-update",
        "cluster",
        cluster,
        "--cloudonly",
        "--instance-group",
        "nodes",
    ]);
    named.success();
    assert_eq!(named.stderr, "");

    // `$Latest` is the template's newest version: a new one makes the running instances outdated.
    b.aws(&[
        "ec2",
        "create-launch-template-version",
        "--launch-template-name",
        &format!("nodes.{cluster}"),
        "--source-version",
        "1",
        "--launch-template-data",
        r#"{"InstanceType":"t3.large"}"#,
    ]);
    let needs = b.kops(&[
        "rolling-update",
        "cluster",
        cluster,
        "--cloudonly",
        "--ig",
        "nodes",
    ]);
    needs.success();
    assert_eq!(
        needs.stdout,
        "NAME\tSTATUS\t\tNEEDUPDATE\tREADY\tMIN\tTARGET\tMAX\nnodes\tNeedsUpdate\t2\t\t0\t2\t2\t2\n\nMust specify --yes to rolling-update.\n"
    );

    // The control plane has no group: the API is unreachable, and validation names the group.
    let unreachable = b.kops(&["rolling-update", "cluster", cluster]);
    unreachable
        .failure(1)
        .stderr_has("Unable to reach the kubernetes API.");
    let validate = b.kops(&["validate", "cluster", cluster]);
    validate.failure(1).stderr_has(
        "Error: validation failed: unexpected error during validation: error listing nodes: Get \"https://api.minimal-aws.example.com/api/v1/nodes\"",
    );

    let deleted = b.kops(&["delete", "cluster", cluster, "--yes"]);
    b.expect_success(&deleted, "delete cluster --yes");
    let text = b.normalise(&deleted.stdout);
    assert!(
        text.starts_with(
            "TYPE\t\t\tNAME\t\t\t\tID\nautoscaling-config\tnodes.minimal-aws.example.com\tlt-*\nautoscaling-config\tstrays.minimal-aws.example.com\tlt-*\nautoscaling-group\tnodes.minimal-aws.example.com\tnodes.minimal-aws.example.com\nautoscaling-group\tstrays.minimal-aws.example.com\tstrays.minimal-aws.example.com\ninstance\t\tnodes.minimal-aws.example.com\ti-*\n"
        ),
        "{text}"
    );
    assert!(!text.contains("vpc") && !text.contains("subnet"), "{text}");
    assert!(
        text.ends_with("\nDeleted cluster: \"minimal-aws.example.com\"\n"),
        "{text}"
    );
    // The shared network stays; nothing of the cluster's own is left.
    let vpcs = json(&["ec2", "describe-vpcs", "--vpc-ids", &vpc]);
    assert_eq!(vpcs["Vpcs"][0]["VpcId"], vpc.as_str());
    let subnets = json(&["ec2", "describe-subnets", "--subnet-ids", &subnet]);
    assert_eq!(subnets["Subnets"][0]["SubnetId"], subnet.as_str());
    let left: Vec<(String, Vec<String>)> = b
        .leftovers()
        .into_iter()
        .filter(|(kind, _)| kind != "vpcs" && kind != "subnets")
        .collect();
    assert_eq!(left, Vec::<(String, Vec<String>)>::new());
    b.no_http_500();
}

//! The review speaks kops: the live spec (the state store as it was before `kops replace`) against
//! the new cluster.yml, path by path (`Cluster.spec.kubernetesVersion`,
//! `InstanceGroup/nodes.spec.machineType`), each change tied to the instance groups that roll,
//! instance groups added and removed; and a removed group is deleted by `prune-instancegroups`
//! only when `--allow-destroy instancegroup/NAME` names it.

use serde_json::Value;

use crate::support::{
    Project, S3, bring_up, bucket_keys, cluster_project, repo, require_terraform,
};

const CANARY: &str = "CANARY-spec-9c1d2e-token";

/// The "kops spec changes" part of a Markdown review: from its heading to the next heading.
fn spec_section(review: &str) -> String {
    let start = review
        .find("\n### kops spec changes")
        .unwrap_or_else(|| panic!("no spec section:\n{review}"));
    let rest = &review[start..];
    let end = rest[1..].find("\n### ").map_or(rest.len(), |e| e + 1);
    rest[..end].to_string()
}

/// The cells of a Markdown table row: split at every `|` not escaped by a backslash.
fn cells(row: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut escaped = false;
    for c in row.trim().trim_start_matches('|').chars() {
        match c {
            '|' if !escaped => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
        escaped = c == '\\' && !escaped;
    }
    cells
}

const LIVE_CLUSTER: &str = "apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  creationTimestamp: \"2026-01-01T00:00:00Z\"
  generation: 4
  name: minimal-aws.example.com
spec:
  cloudLabels:
    team: platform
  kubernetesVersion: 1.30.4
  subnets:
  - cidr: 172.20.32.0/19
    name: us-test-1a
    type: Public
    zone: us-test-1a
";

const LIVE_NODES: &str = "apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  creationTimestamp: \"2026-01-01T00:00:00Z\"
  labels:
    kops.k8s.io/cluster: minimal-aws.example.com
  name: nodes
spec:
  machineType: t3.medium
  maxSize: 2
  minSize: 2
  role: Node
  subnets:
  - us-test-1a
";

fn live_group(name: &str, role: &str) -> String {
    format!(
        "apiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  labels:\n    kops.k8s.io/cluster: minimal-aws.example.com\n  name: {name}\nspec:\n  machineType: t3.medium\n  maxSize: 1\n  minSize: 1\n  role: {role}\n  subnets:\n  - us-test-1a\n"
    )
}

/// The new manifest: a newer Kubernetes, a larger machine type and one more node for `nodes`, a
/// hostile label value (a pipe, backticks, HTML, a newline), a label holding the canary secret, a
/// new subnet, `bastions` added and `spot` left out.
const MANIFEST: &str = "apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  name: minimal-aws.example.com
spec:
  cloudLabels:
    team: \"a | b `c` </td><script>alert(1)</script>\\n| x | y |\"
    token: \"t=CANARY-spec-9c1d2e-token\"
  kubernetesVersion: 1.31.1
  subnets:
  - cidr: 172.20.32.0/19
    name: us-test-1a
    type: Public
    zone: us-test-1a
  - cidr: 172.20.64.0/19
    name: us-test-1b
    type: Public
    zone: us-test-1b
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  labels:
    kops.k8s.io/cluster: minimal-aws.example.com
  name: nodes
spec:
  machineType: t3.large
  maxSize: 3
  minSize: 2
  role: Node
  subnets:
  - us-test-1a
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  labels:
    kops.k8s.io/cluster: minimal-aws.example.com
  name: master-us-test-1a
spec:
  machineType: t3.medium
  maxSize: 1
  minSize: 1
  role: Master
  subnets:
  - us-test-1a
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  labels:
    kops.k8s.io/cluster: minimal-aws.example.com
  name: bastions
spec:
  machineType: t3.micro
  maxSize: 1
  minSize: 1
  role: Bastion
  subnets:
  - us-test-1a
";

/// A project-less folder with the live copy and the manifest.
fn spec_files() -> Project {
    let mut p = Project::new();
    p.env("GITHUB_TOKEN", CANARY);
    p.file("live/minimal-aws.example.com/config", LIVE_CLUSTER);
    p.file(
        "live/minimal-aws.example.com/instancegroup/nodes",
        LIVE_NODES,
    );
    p.file(
        "live/minimal-aws.example.com/instancegroup/master-us-test-1a",
        &live_group("master-us-test-1a", "Master"),
    );
    p.file(
        "live/minimal-aws.example.com/instancegroup/spot",
        &live_group("spot", "Node"),
    );
    p.file("cluster.yml", MANIFEST);
    p
}

fn plan_json() -> String {
    repo()
        .join("tests/fixtures/plans/minimal-aws.plan.json")
        .display()
        .to_string()
}

#[test]
fn review_lists_spec_paths_groups_added_and_removed_with_values_kept_in_their_cells() {
    let p = spec_files();
    let plan = plan_json();
    let args = [
        "review",
        plan.as_str(),
        "--cluster",
        "minimal-aws.example.com",
        "--spec-live",
        "live",
        "--spec-manifest",
        "cluster.yml",
    ];
    let run = p.kopsform(&args);
    // The fixture plan replaces a protected etcd volume.
    run.failure(3);
    assert!(!run.stdout.contains(CANARY), "{}", run.stdout);
    let section = spec_section(&run.stdout);
    assert_eq!(section, EXPECTED_SECTION);
    // Every row has its four cells, whatever the values hold.
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        assert_eq!(cells(row).len(), 4, "{row}");
    }

    // The JSON form: the same changes, the same groups, the secret hidden.
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let run = p.kopsform(&json_args);
    run.failure(3);
    assert!(!run.stdout.contains(CANARY), "{}", run.stdout);
    let review: Value = serde_json::from_str(&run.stdout).unwrap();
    let spec = &review["spec"];
    assert_eq!(spec["changed"], true);
    assert_eq!(spec["cluster"], "minimal-aws.example.com");
    assert_eq!(spec["cluster_new"], false);
    assert_eq!(
        spec["added_instance_groups"],
        serde_json::json!(["bastions"])
    );
    assert_eq!(spec["removed_instance_groups"], serde_json::json!(["spot"]));
    let rows: Vec<String> = spec["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} | {} | {} | {} | {}",
                c["full_path"].as_str().unwrap(),
                c["before"],
                c["after"],
                c["rolling_update"],
                c["rolling_rule"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            r#"Cluster.spec.cloudLabels.team | "\"platform\"" | "\"a | b `c` </td><script>alert(1)</script>\\n| x | y |\"" | ["nodes"] | launch-templates"#,
            r#"Cluster.spec.cloudLabels.token | null | "(sensitive)" | ["nodes"] | launch-templates"#,
            r#"Cluster.spec.kubernetesVersion | "\"1.30.4\"" | "\"1.31.1\"" | ["nodes"] | launch-templates"#,
            r#"Cluster.spec.subnets[name=us-test-1b] | null | "{\"cidr\":\"172.20.64.0/19\",\"name\":\"us-test-1b\",\"type\":\"Public\",\"zone\":\"us-test-1b\"}" | ["nodes"] | launch-templates"#,
            r#"InstanceGroup/nodes.spec.machineType | "\"t3.medium\"" | "\"t3.large\"" | ["nodes"] | instance-group"#,
            r#"InstanceGroup/nodes.spec.maxSize | "2" | "3" | [] | resize-only"#,
        ]
    );

    // A budget cuts the table of paths like the other sections; the summary (and the removed
    // group) stays.
    let whole = p.kopsform(&args).stdout.clone();
    let kept = whole[..whole.find("\n| Path |").unwrap()].chars().count();
    let budget = (kept + 700).to_string();
    let mut cut_args = args.to_vec();
    cut_args.extend(["--max-chars", budget.as_str()]);
    let run = p.kopsform(&cut_args);
    run.failure(3);
    assert!(run.stdout.chars().count() <= kept + 700, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Left out: 3 of 6 kops spec paths, the resource-type table"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("removed from the manifest but still in the state store: `spot`"),
        "{}",
        run.stdout
    );
}

const EXPECTED_SECTION: &str = r#"
### kops spec changes

- Instance groups added: `bastions`.
- ⚠️ **Instance group removed from the manifest but still in the state store: `spot`.** `kops replace` never deletes an instance group: it and its instances stay until the `prune-instancegroups` task deletes it (`--allow-destroy instancegroup/spot`).
- 6 paths changed (live state store → manifest); a Cluster change rolls the groups whose launch template this plan changes, an instance group's change rolls that group (minSize and maxSize only resize it).

| Path | Live | Manifest | Rolling update |
|---|---|---|---|
| `Cluster.spec.cloudLabels.team` | `"platform"` | ``"a \| b `c` </td><script>alert(1)</script>\n\| x \| y \|"`` | `nodes` |
| `Cluster.spec.cloudLabels.token` | (none) | (sensitive) | `nodes` |
| `Cluster.spec.kubernetesVersion` | `"1.30.4"` | `"1.31.1"` | `nodes` |
| `Cluster.spec.subnets[name=us-test-1b]` | (none) | `{"cidr":"172.20.64.0/19","name":"us-test-1b","type":"Public","zone":"us-test-1b"}` | `nodes` |
| `InstanceGroup/nodes.spec.machineType` | `"t3.medium"` | `"t3.large"` | `nodes` |
| `InstanceGroup/nodes.spec.maxSize` | `2` | `3` | none (resizes the group) |
"#;

#[test]
fn dryrun_reviews_kubernetes_version_and_machine_type_as_spec_paths() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    bring_up(&p);

    // Unchanged: the live spec is what the template renders.
    p.kopsform(&["dryrun"])
        .success()
        .stderr_has("[dryrun] copied .kopsform/dryrun/state to .kopsform/dryrun/live (without generated files)")
        .stderr_has("written to .kopsform/dryrun/review.md: no changes");
    let review = p.read(".kopsform/dryrun/review.md");
    assert_eq!(
        spec_section(&review),
        "\n### kops spec changes\n\nNo spec changes: the state store holds the Cluster and instance groups this manifest describes.\n"
    );
    let json: Value = serde_json::from_str(&p.read(".kopsform/dryrun/review.json")).unwrap();
    assert_eq!(json["spec"]["changed"], false, "{json}");
    assert_eq!(json["exit_status"], 0, "{json}");

    p.kopsform(&[
        "dryrun",
        "--set",
        "cluster_version=1.34.1",
        "--set",
        "kops_worker_machine_type=t3.large",
    ])
    .success()
    .stderr_has("written to .kopsform/dryrun/review.md: changes");
    let review = p.read(".kopsform/dryrun/review.md");
    // The Cluster's change rolls the groups whose launch templates the plan changes: both.
    assert_eq!(
        spec_section(&review),
        r#"
### kops spec changes

- 2 paths changed (live state store → manifest); a Cluster change rolls the groups whose launch template this plan changes, an instance group's change rolls that group (minSize and maxSize only resize it).

| Path | Live | Manifest | Rolling update |
|---|---|---|---|
| `Cluster.spec.kubernetesVersion` | `"1.33.4"` | `"1.34.1"` | `control-plane-eu-west-1a`, `nodes` |
| `InstanceGroup/nodes.spec.machineType` | `"t3.medium"` | `"t3.large"` | `nodes` |
"#
    );
    let json: Value = serde_json::from_str(&p.read(".kopsform/dryrun/review.json")).unwrap();
    assert_eq!(json["exit_status"], 2, "{json}");
    assert_eq!(
        json["spec"]["changes"][1]["full_path"],
        "InstanceGroup/nodes.spec.machineType"
    );
}

/// One more node group, appended to the repository's template.
const SPARE_GROUP: &str = "
---

apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: spare
  labels:
    kops.k8s.io/cluster: {{cluster_name}}
spec:
  role: Node
  image: {{kops_ami_id}}
  machineType: t3.small
  minSize: 1
  maxSize: 1
  subnets:
{{#each private_subnet_ids}}
  - {{@key}}
{{/each}}
";

const STATE_BUCKET: &str = "kops-state-sandbox-k8s-local";
const SPARE_OBJECT: &str = "sandbox.k8s.local/instancegroup/spare";

#[test]
fn a_group_removed_from_the_template_is_reviewed_then_deleted_only_when_allowed() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    let template = p.read("2-kops/cluster-template.yml");
    p.file(
        "2-kops/cluster-template.yml",
        &format!("{template}{SPARE_GROUP}"),
    );
    bring_up(&p);
    assert!(bucket_keys(&p, STATE_BUCKET).contains(&SPARE_OBJECT.to_string()));
    let spare_cloud = p.join(".kops-double-cloud/sandbox.k8s.local/applied/spare");
    assert!(spare_cloud.is_file());

    // The group leaves the template: `kops replace` keeps it, and the review says so.
    p.file("2-kops/cluster-template.yml", &template);
    p.kopsform(&["dryrun"])
        .success()
        .stderr_has("written to .kopsform/dryrun/review.md: changes");
    let review = p.read(".kopsform/dryrun/review.md");
    assert_eq!(
        spec_section(&review),
        r#"
### kops spec changes

- ⚠️ **Instance group removed from the manifest but still in the state store: `spare`.** `kops replace` never deletes an instance group: it and its instances stay until the `prune-instancegroups` task deletes it (`--allow-destroy instancegroup/spare`).
- No path of a Cluster or instance group kept in the manifest changed.
"#
    );
    let json: Value = serde_json::from_str(&p.read(".kopsform/dryrun/review.json")).unwrap();
    assert_eq!(
        json["spec"]["removed_instance_groups"],
        serde_json::json!(["spare"])
    );
    assert_eq!(json["exit_status"], 2, "{json}");

    // No terminal to confirm on, then no --allow-destroy: refused, nothing deleted.
    p.kopsform(&["prune-instancegroups"])
        .failure(1)
        .stderr_has("`prune-instancegroups` needs confirmation and there is no terminal to ask on");
    let run = p.kopsform(&["--yes", "prune-instancegroups"]);
    run.failure(1);
    let error = &run.stderr[run.stderr.find("kopsform: error:").unwrap()..];
    assert_eq!(
        error,
        "kopsform: error: task `prune-instancegroups`: refusing to delete instance groups that are in the state store but not in 2-kops/cluster.yml:\n  instancegroup/spare\nIf that is intended, name each one: --allow-destroy instancegroup/NAME; nothing was deleted\n"
    );
    assert!(bucket_keys(&p, STATE_BUCKET).contains(&SPARE_OBJECT.to_string()));
    // A dry run shows the command and deletes nothing.
    let run = p.kopsform(&[
        "--dry-run",
        "prune-instancegroups",
        "--allow-destroy",
        "instancegroup/spare",
    ]);
    run.success();
    let shown: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("[prune-instancegroups]"))
        .collect();
    assert_eq!(
        shown,
        [
            "[prune-instancegroups] would run: kops delete instancegroup spare --name sandbox.k8s.local --state s3://kops-state-sandbox-k8s-local --yes"
        ]
    );
    assert!(bucket_keys(&p, STATE_BUCKET).contains(&SPARE_OBJECT.to_string()));
    assert!(spare_cloud.is_file());

    let run = p.kopsform(&[
        "--yes",
        "prune-instancegroups",
        "--allow-destroy",
        "instancegroup/spare",
    ]);
    run.success();
    assert_eq!(
        run.stdout,
        "[prune-instancegroups] InstanceGroup \"spare\" found for deletion\n[prune-instancegroups] \n[prune-instancegroups] Deleted InstanceGroup: \"spare\"\n"
    );
    run.stderr_has("[prune-instancegroups] allowed by --allow-destroy: instancegroup/spare\n[prune-instancegroups] $ kops delete instancegroup spare --name sandbox.k8s.local --state s3://kops-state-sandbox-k8s-local --yes\n");
    assert!(!bucket_keys(&p, STATE_BUCKET).contains(&SPARE_OBJECT.to_string()));
    assert!(!spare_cloud.exists());
    assert!(
        bucket_keys(&p, STATE_BUCKET)
            .contains(&"sandbox.k8s.local/instancegroup/nodes".to_string())
    );

    // Nothing left to prune, and nothing left to review.
    p.kopsform(&["--yes", "prune-instancegroups"])
        .success()
        .stderr_has(
            "no instance group to delete: the state store holds only those of 2-kops/cluster.yml",
        );
    p.kopsform(&["dryrun"]).success();
    assert_eq!(
        spec_section(&p.read(".kopsform/dryrun/review.md")),
        "\n### kops spec changes\n\nNo spec changes: the state store holds the Cluster and instance groups this manifest describes.\n"
    );
}

#[test]
fn bad_spec_inputs_are_named_and_write_no_review() {
    let p = spec_files();
    let plan = plan_json();
    let review = |live: &str, manifest: &str| {
        p.kopsform(&[
            "review",
            plan.as_str(),
            "--out",
            "review.md",
            "--spec-live",
            live,
            "--spec-manifest",
            manifest,
        ])
    };
    review("nowhere", "cluster.yml")
        .failure(1)
        .stderr_has("nowhere: no copy of the state store here for the spec changes; copy the snapshot before `kops replace` writes into it");
    review("live", "missing.yml")
        .failure(1)
        .stderr_has("missing.yml: cannot read the manifest for the spec changes:");
    p.file(
        "groups-only.yml",
        &MANIFEST[MANIFEST.find("---\n").unwrap() + 4..],
    );
    review("live", "groups-only.yml")
        .failure(1)
        .stderr_has("groups-only.yml: expected one Cluster document for the spec changes, found 0");
    p.file(
        "live/minimal-aws.example.com/instancegroup/nodes",
        "spec: [unclosed\n",
    );
    review("live", "cluster.yml")
        .failure(1)
        .stderr_has("live/minimal-aws.example.com/instancegroup/nodes: not a kops object (");
    assert!(!p.exists("review.md"));
    // One flag without the other is a usage error.
    p.kopsform(&["review", plan.as_str(), "--spec-live", "live"])
        .failure(64)
        .stderr_has("--spec-manifest <FILE>");
}

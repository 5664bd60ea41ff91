//! `kopsform review` of a Kubernetes upgrade as kops writes it: the managed files and the launch
//! templates' user data are shown as decoded line diffs, secrets masked, each tied to the
//! instance groups that need a rolling update; what is not text falls back to the hash line.
//!
//! The plan JSON is built here from kops's own `data/` files of the minimal-aws fixture
//! (`../shared/fixtures/kops`), changed as an upgrade changes them, in the shape
//! `terraform show -json` writes (format 1.2). The real provider's plan of such a change is
//! reviewed in `real_provider.rs`
//! (`a_kubernetes_upgrade_of_the_managed_files_is_reviewed_as_decoded_lines_on_the_real_aws_provider`).

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::support::real_aws::kops_fixtures;
use crate::support::{Project, repo};

/// A secret the review learns from its environment (`GITHUB_TOKEN`), put in the user data and
/// the managed files in every form.
const CANARY: &str = "CANARY-3b9d7e11-nodeup-secret";
const CLUSTER: &str = "minimal-aws.example.com";

fn data(name: &str) -> String {
    let path = kops_fixtures().join("minimal-aws/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// `text` with `from` replaced by `to`, which must be there.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} is not in the fixture");
    text.replacen(from, to, 1)
}

/// An update of `address` whose `attribute` goes from `before` to `after`.
fn update(address: &str, attribute: &str, before: &str, after: &str, key: Option<&str>) -> Value {
    let (ty, name) = address.split_once('.').unwrap();
    let object = |value: &str| {
        let mut o = json!({"id": format!("{name}-id"), attribute: value, "tags": {}});
        if let Some(key) = key {
            o["bucket"] = json!("testingBucket");
            o["key"] = json!(key);
        }
        o
    };
    json!({
        "address": address,
        "mode": "managed",
        "type": ty,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {
            "actions": ["update"],
            "before": object(before),
            "after": object(after),
            "after_unknown": {},
            "before_sensitive": {"tags": {}},
            "after_sensitive": {"tags": {}},
        }
    })
}

/// The plan of a Kubernetes upgrade of minimal-aws: kops's files before and after.
fn upgrade_plan() -> String {
    let object = |file: &str, name: &str, key: &str, change: &dyn Fn(&str) -> String| {
        let before = data(&format!("aws_s3_object_{file}_content"));
        let after = change(&before);
        update(
            &format!("aws_s3_object.{name}"),
            "content",
            &before,
            &after,
            Some(&format!("clusters.example.com/{CLUSTER}/{key}")),
        )
    };
    let nodes_script = data("aws_launch_template_nodes.minimal-aws.example.com_user_data");
    let nodes_after = edit(
        &edit(
            &nodes_script,
            "NodeupConfigHash: oJXYdjC/tVl6EVHGd/0fZ8K0d9Bh0yWCpComcMlAFWE=",
            "NodeupConfigHash: 2hKq6dKXz5bPp0l3W1v3yq0Wcc3bYkq8f8bq1cXcJ0A=",
        ),
        "export AWS_REGION=us-test-1\n",
        // The secret plain, and base64 inside a longer line.
        &format!(
            "export AWS_REGION=us-test-1\nexport BOOTSTRAP_TOKEN={CANARY}\necho {} | base64 -d > /etc/kubelet-token\n",
            b64(&format!("token={CANARY}\n"))
        ),
    );
    let master_script =
        data("aws_launch_template_master-us-test-1a.masters.minimal-aws.example.com_user_data");
    let changes = vec![
        object(
            "nodeupconfig-nodes",
            "nodeupconfig-nodes",
            "igconfig/node/nodes/nodeupconfig.yaml",
            &|t| edit(t, "KubernetesVersion: 1.34.0", "KubernetesVersion: 1.35.1"),
        ),
        update(
            "aws_launch_template.nodes-minimal-aws-example-com",
            "user_data",
            &b64(&nodes_script),
            &b64(&nodes_after),
            None,
        ),
        // Gzip-compressed user data: not decoded, the hash line stands.
        update(
            "aws_launch_template.master-us-test-1a-masters-minimal-aws-example-com",
            "user_data",
            &b64(&master_script),
            &STANDARD.encode(gzip(&master_script)),
            None,
        ),
        // The secret split across two lines of a YAML scalar: withheld.
        object(
            "cluster-completed.spec",
            "cluster-completed-spec",
            "cluster-completed.spec",
            &|t| {
                edit(
                    t,
                    "  kubernetesVersion: 1.34.0\n",
                    &format!(
                        "  kubernetesVersion: 1.35.1\n  nodeToken: {}\n    {}\n",
                        &CANARY[..14],
                        &CANARY[14..]
                    ),
                )
            },
        ),
        // Base64 of the secret wrapped at 64 columns in a manifest: withheld.
        object(
            "manifests-etcdmanager-main-master-us-test-1a",
            "manifests-etcdmanager-main-master-us-test-1a",
            "manifests/etcd/main-master-us-test-1a.yaml",
            &|t| {
                let wrapped: String = b64(&format!("# etcd peer token\ntoken: {CANARY}\n"))
                    .as_bytes()
                    .chunks(20)
                    .map(|c| format!("      {}\n", String::from_utf8_lossy(c)))
                    .collect();
                edit(
                    t,
                    "    - --v=6\n",
                    &format!("    - --v=6\n    - --token-file-b64=|\n{wrapped}"),
                )
            },
        ),
        // An addon re-indented: more lines change than a file shows.
        object(
            "minimal-aws.example.com-addons-coredns.addons.k8s.io-k8s-1.12",
            "minimal-aws-example-com-addons-coredns-addons-k8s-io-k8s-1-12",
            "addons/coredns.addons.k8s.io/k8s-1.12.yaml",
            &|t| t.replace("  ", "    "),
        ),
    ];
    json!({
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "applyable": true,
        "complete": true,
        "errored": false,
        "resource_changes": changes,
    })
    .to_string()
}

/// Every form of the canary the review must not show: as it is, each half of its split,
/// base64 (alone, and inside the line of the user data that holds it).
fn leaked(text: &str) -> Vec<String> {
    let mut forms = vec![
        CANARY.to_string(),
        CANARY[..14].to_string(),
        CANARY[14..].to_string(),
        b64(CANARY),
        b64(&format!("token={CANARY}\n")),
    ];
    forms.extend(
        b64(&format!("# etcd peer token\ntoken: {CANARY}\n"))
            .as_bytes()
            .chunks(20)
            .map(|c| String::from_utf8_lossy(c).into_owned()),
    );
    forms.into_iter().filter(|f| text.contains(f)).collect()
}

fn reviewed(p: &Project, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["review", "upgrade.plan.json", "--cluster", CLUSTER];
    all.extend_from_slice(args);
    p.kopsform(&all)
}

fn project() -> Project {
    let mut p = Project::new();
    p.file("upgrade.plan.json", &upgrade_plan());
    p.env("GITHUB_TOKEN", CANARY);
    p
}

#[test]
fn a_kubernetes_upgrade_shows_decoded_file_diffs_tied_to_instance_groups_with_secrets_masked() {
    let p = project();
    let run = reviewed(&p, &[]);
    run.failure(2);
    assert_eq!(run.stderr, "", "{}", run.show());
    assert_eq!(leaked(&run.stdout), Vec::<String>::new(), "{}", run.stdout);
    // The fixture holds the canary in each form: the test would prove nothing otherwise.
    let plan = p.read("upgrade.plan.json");
    assert!(plan.contains(&CANARY[..14]) && plan.contains(&CANARY[14..]));
    let expected_file = repo().join("tests/fixtures/plans/kubernetes-upgrade.review.md");
    if std::env::var_os("KOPSFORM_UPDATE_EXPECTED").is_some() {
        std::fs::write(&expected_file, &run.stdout).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
    assert!(
        run.stdout == expected,
        "the review differs from {} (KOPSFORM_UPDATE_EXPECTED=1 rewrites it):\n{}",
        expected_file.display(),
        run.stdout
    );
}

/// The `decoded` field of the row `attribute` of the change at `address`.
fn decoded<'v>(review: &'v Value, address: &str, attribute: &str) -> &'v Value {
    let change = review["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change {address}"));
    let row = change["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == attribute)
        .unwrap_or_else(|| panic!("no row {attribute} of {address}"));
    &row["decoded"]
}

#[test]
fn the_json_carries_the_masked_lines_and_the_groups_of_each_file() {
    let p = project();
    let run = reviewed(&p, &["--format", "json"]);
    run.failure(2);
    assert_eq!(leaked(&run.stdout), Vec::<String>::new(), "{}", run.stdout);
    let review: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        *decoded(&review, "aws_s3_object.nodeupconfig-nodes", "content"),
        json!({
            "shown": "lines",
            "reason": null,
            "lines": [
                "@@ -42,7 +42,7 @@",
                "   protectKernelDefaults: true",
                "   shutdownGracePeriod: 30s",
                "   shutdownGracePeriodCriticalPods: 10s",
                "-KubernetesVersion: 1.34.0",
                "+KubernetesVersion: 1.35.1",
                " Networking:",
                "   nonMasqueradeCIDR: 100.64.0.0/10",
                "   serviceClusterIPRange: 100.64.0.0/13",
            ],
            "lines_left_out": 0,
            "instance_groups": ["nodes"],
            "all_instance_groups": false,
        })
    );
    let nodes = decoded(
        &review,
        "aws_launch_template.nodes-minimal-aws-example-com",
        "user_data",
    );
    assert_eq!(nodes["instance_groups"], json!(["nodes"]));
    let lines: Vec<&str> = nodes["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines.contains(&"+export BOOTSTRAP_TOKEN=***"), "{lines:#?}");
    assert!(
        lines.contains(&"+NodeupConfigHash: 2hKq6dKXz5bPp0l3W1v3yq0Wcc3bYkq8f8bq1cXcJ0A="),
        "{lines:#?}"
    );
    let master = decoded(
        &review,
        "aws_launch_template.master-us-test-1a-masters-minimal-aws-example-com",
        "user_data",
    );
    assert_eq!(
        (
            &master["shown"],
            &master["reason"],
            &master["instance_groups"]
        ),
        (
            &json!("not_text"),
            &json!("gzip-compressed"),
            &json!(["master-us-test-1a"])
        )
    );
    let spec = decoded(&review, "aws_s3_object.cluster-completed-spec", "content");
    assert_eq!(
        (
            &spec["shown"],
            &spec["lines"],
            &spec["all_instance_groups"],
            &spec["instance_groups"]
        ),
        (
            &json!("withheld"),
            &json!([]),
            &json!(true),
            &json!(["master-us-test-1a", "nodes"])
        )
    );
    let etcd = decoded(
        &review,
        "aws_s3_object.manifests-etcdmanager-main-master-us-test-1a",
        "content",
    );
    assert_eq!(
        (&etcd["shown"], &etcd["instance_groups"]),
        (&json!("withheld"), &json!(["master-us-test-1a"]))
    );
    let addon = decoded(
        &review,
        "aws_s3_object.minimal-aws-example-com-addons-coredns-addons-k8s-io-k8s-1-12",
        "content",
    );
    assert_eq!(addon["lines"].as_array().unwrap().len(), 200);
    assert!(addon["lines_left_out"].as_u64().unwrap() > 0);
    assert_eq!(addon["instance_groups"], json!([]));
    assert_eq!(addon["all_instance_groups"], json!(false));
}

#[test]
fn a_budget_cuts_the_decoded_files_first_and_says_so() {
    let p = project();
    let whole = reviewed(&p, &[]);
    let cut = reviewed(&p, &["--max-chars", "6000"]);
    cut.failure(2);
    assert!(whole.stdout.chars().count() > 6_000);
    assert!(cut.stdout.chars().count() <= 6_000, "{}", cut.stdout);
    let notice = cut
        .stdout
        .lines()
        .find(|l| l.contains("This review was cut"))
        .unwrap_or_else(|| panic!("no cut notice:\n{}", cut.stdout));
    assert_eq!(
        notice,
        "> ✂️ **This review was cut to fit 6,000 characters.** Left out: 1 of 6 decoded files. For the full report run `kopsform review` without `--max-chars` or `--for`."
    );
    // Every change's details are still there: the decoded files went first.
    let review: Value = serde_json::from_str(&reviewed(&p, &["--format", "json"]).stdout).unwrap();
    for change in review["changes"].as_array().unwrap() {
        let address = change["address"].as_str().unwrap();
        let summary = format!("<details><summary><b>update</b> <code>{address}</code></summary>");
        assert!(cut.stdout.contains(&summary), "{summary}\n{}", cut.stdout);
    }
    assert_eq!(leaked(&cut.stdout), Vec::<String>::new());
}

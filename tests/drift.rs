//! Issue 22, drift: `kopsform drift` on the real-provider bench (the repository's project, the
//! real Terraform and hashicorp/aws provider against moto, the kops double). A cluster just
//! applied is clean (exit 0); an instance group changed in the state store behind kopsform's back
//! is named path by path with its old (template) and new (state store) value (exit 2); a change
//! made with the aws CLI in the cloud shows as Terraform drift; nothing live is written by drift.

use crate::real_lifecycle::{ok, project};
use crate::support::real_aws::{self, PatchedMoto};
use crate::support::{Project, Run};
use serde_json::{Value, json};

const CLUSTER: &str = "dev.example.com";

/// The drift report of `run` (its stdout is one JSON document).
fn report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("drift --json printed no JSON ({e})\n{}", run.show()))
}

/// A part of the report that found nothing.
fn clean(field: &str, empty: Value) -> Value {
    let mut part = json!({"checked": true, "error": null});
    part[field] = empty;
    part
}

/// The whole report of one cluster `default` named `dev.example.com`.
fn expected(status: &str, terraform: Value, spec: Value) -> Value {
    let code = if status == "clean" { 0 } else { 2 };
    json!({
        "exit_status": code,
        "clusters": [{
            "cluster": "default",
            "name": CLUSTER,
            "status": status,
            "error": null,
            "terraform": terraform,
            "spec": spec,
            "rolling_update": clean("needs_update", json!([])),
            "lock": clean("held", Value::Null),
        }]
    })
}

fn bucket(p: &Project) -> String {
    let outputs = p.tool("1-prerequisites", "terraform", &["output", "-json"]);
    let outputs: Value = serde_json::from_str(&outputs.stdout).unwrap();
    outputs["kops_s3_bucket"]["value"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The objects of the state store, by key, with their content.
fn store_objects(p: &Project, bucket: &str) -> Vec<(String, String)> {
    let list = real_aws::aws_json(p, &["s3api", "list-objects-v2", "--bucket", bucket]);
    let mut keys: Vec<String> = list["Contents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["Key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let file = p.join("object.tmp");
            p.tool(
                ".",
                "aws",
                &[
                    "s3api",
                    "get-object",
                    "--bucket",
                    bucket,
                    "--key",
                    &k,
                    &file.display().to_string(),
                ],
            )
            .success();
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            (k, text)
        })
        .collect()
}

#[test]
fn drift_names_state_store_and_cloud_changes_on_the_real_aws_provider() {
    let _one = real_aws::one_at_a_time();
    let tmp_log = tempfile::NamedTempFile::new().unwrap();
    let moto = PatchedMoto::start(tmp_log.path());
    let p = project(&moto);
    ok(p.kopsform(&["--yes", "prerequisites-apply"]), &moto);
    ok(
        p.kopsform(&["--yes", "cluster-update", "plan", "apply"]),
        &moto,
    );
    let bucket = bucket(&p);
    let state_before = p.read("2-kops/terraform.tfstate");
    let objects_before = store_objects(&p, &bucket);

    // (a) Just applied: clean, exit 0.
    let run = p.kopsform(&["drift", "--json"]);
    assert_eq!(
        report(&run),
        expected(
            "clean",
            clean("drift", json!([])),
            json!({"checked": true, "error": null, "changes": [], "only_in_template": [], "only_in_state_store": []})
        ),
        "{}",
        run.show()
    );
    assert_eq!(run.code, 0, "{}", run.show());

    // (b) Someone raises the nodes' maxSize in the state store (as `kops edit ig nodes` would).
    let key = format!("{CLUSTER}/instancegroup/nodes");
    let object = objects_before
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| panic!("{key} in the state store"));
    let edited = object.replace("maxSize: 2\n", "maxSize: 5\n");
    assert_ne!(object, edited, "the nodes' maxSize is 2:\n{object}");
    let file = p.join("nodes-edited.yaml");
    std::fs::write(&file, &edited).unwrap();
    let path = file.display().to_string();
    let put = [
        "s3api",
        "put-object",
        "--bucket",
        &bucket,
        "--key",
        &key,
        "--body",
        &path,
    ];
    p.tool(".", "aws", &put).success();
    // (c) and someone raises the nodes' Auto Scaling group's maximum in the cloud.
    let group = format!("nodes.{CLUSTER}");
    p.tool(
        ".",
        "aws",
        &[
            "autoscaling",
            "update-auto-scaling-group",
            "--auto-scaling-group-name",
            &group,
            "--max-size",
            "4",
        ],
    )
    .success();
    let objects_drifted = store_objects(&p, &bucket);

    let run = p.kopsform(&["drift", "--json"]);
    let address = "aws_autoscaling_group.nodes-dev-example-com";
    assert_eq!(
        report(&run),
        expected(
            "drift",
            clean(
                "drift",
                json!([{
                    "address": address,
                    "action": "update",
                    "changes": [{"path": "max_size", "old": "2", "new": "4"}]
                }])
            ),
            json!({
                "checked": true,
                "error": null,
                "changes": [{"path": "InstanceGroup/nodes.spec.maxSize", "old": "2", "new": "5"}],
                "only_in_template": [],
                "only_in_state_store": []
            })
        ),
        "{}",
        run.show()
    );
    assert_eq!(run.code, 2, "{}", run.show());

    // The text report says the same.
    let run = p.kopsform(&["drift"]);
    assert_eq!(run.code, 2, "{}", run.show());
    for line in [
        "cluster default (dev.example.com): drift",
        &format!("    {address}"),
        "      max_size: 2 -> 4",
        "    InstanceGroup/nodes.spec.maxSize: 2 -> 5",
        "  rolling update: no instance group needs an update",
        "  lock: not locked",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "no line {line:?} in:\n{}",
            run.show()
        );
    }

    // drift wrote nothing live: the Terraform state, the state store; no plan left behind.
    assert_eq!(p.read("2-kops/terraform.tfstate"), state_before);
    assert_eq!(store_objects(&p, &bucket), objects_drifted);
    let left: Vec<String> = std::fs::read_dir(p.join(".kopsform"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("drift-"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "drift's temporary folders");
}

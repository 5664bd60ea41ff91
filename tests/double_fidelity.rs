//! The kops double writes what kops writes. For each of kops's own integration fixtures
//! (../shared/fixtures/kops), the double's `update cluster --target terraform` in its default mode
//! (real `aws_*` resources, reading the cloud as kops does) must write kops's `kubernetes.tf`
//! byte for byte, and the same `data/` file names. The manifests name kops's test bucket and a
//! `memfs://` configBase; here the bucket and the `example.com` hosted zone are made in moto and
//! the configBase points into the bucket, which is what kops's tests map `memfs://` to. The only
//! difference allowed is the hosted zone's id, which moto chooses.

use crate::support::Project;
use crate::support::real_aws::{self, PatchedMoto, aws_json};
use std::collections::BTreeSet;

const BUCKET: &str = "testingBucket";

fn data_names(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The cluster name and configBase of a fixture's manifest.
fn cluster_and_base(manifest: &str) -> (String, String) {
    let docs: Vec<serde_yaml::Value> = manifest
        .split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).expect("fixture YAML"))
        .collect();
    let cluster = docs
        .iter()
        .find(|d| d["kind"] == "Cluster")
        .expect("a Cluster document");
    (
        cluster["metadata"]["name"].as_str().unwrap().to_string(),
        cluster["spec"]["configBase"].as_str().unwrap().to_string(),
    )
}

fn kops(p: &Project, args: &[&str]) -> crate::support::Run {
    let double = crate::support::kops_double_dir().join("kops");
    let run = p.tool(".", double.to_str().unwrap(), args);
    assert_eq!(run.code, 0, "kops {args:?}\n{}", run.show());
    run
}

fn writes_what_kops_writes(fixture: &str) {
    let mut p = Project::new();
    let moto = PatchedMoto::start(&p.join("moto.log"));
    moto.attach(&mut p);
    p.env("KOPS_DOUBLE_TERRAFORM", "aws");
    let fixtures = real_aws::kops_fixtures().join(fixture);

    aws_json(
        &p,
        &[
            "s3api",
            "create-bucket",
            "--bucket",
            BUCKET,
            "--create-bucket-configuration",
            "LocationConstraint=us-test-1",
        ],
    );
    let zone = aws_json(
        &p,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            "example.com",
            "--caller-reference",
            fixture,
        ],
    );
    let zone_id = zone["HostedZone"]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("/hostedzone/")
        .to_string();

    let manifest = std::fs::read_to_string(fixtures.join("in-v1alpha2.yaml")).unwrap();
    let manifest = manifest.replace("memfs://", &format!("s3://{BUCKET}/"));
    let (cluster, base) = cluster_and_base(&manifest);
    let state = base.rsplit_once('/').unwrap().0.to_string();
    p.file("cluster.yml", &manifest);
    kops(
        &p,
        &["replace", "--force", "-f", "cluster.yml", "--state", &state],
    );
    let mut update = vec![
        "update",
        "cluster",
        cluster.as_str(),
        "--state",
        state.as_str(),
        "--target",
        "terraform",
        "--out",
        "tf",
    ];
    let key = std::fs::read_dir(fixtures.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("aws_key_pair_")
        });
    let key = key.map(|k| k.display().to_string());
    if let Some(key) = &key {
        update.extend(["--ssh-public-key", key.as_str()]);
    }
    kops(&p, &update);

    let expected = std::fs::read_to_string(fixtures.join("kubernetes.tf")).unwrap();
    let written = p.read("tf/kubernetes.tf").replace(
        &format!("/hostedzone/{zone_id}\""),
        "/hostedzone/Z1AFAKE1ZON3YO\"",
    );
    if written != expected {
        let diff = similar_diff(&expected, &written);
        panic!("the double's kubernetes.tf for {fixture} differs from kops's:\n{diff}");
    }
    assert_eq!(
        data_names(&p.join("tf/data")),
        data_names(&fixtures.join("data")),
        "data/ files of {fixture}"
    );
}

/// A short line diff, enough to see where the double departs from kops.
fn similar_diff(expected: &str, written: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let w: Vec<&str> = written.lines().collect();
    let mut out = String::new();
    for i in 0..e.len().max(w.len()) {
        let (a, b) = (e.get(i), w.get(i));
        if a != b {
            out.push_str(&format!(
                "line {}:\n  kops:   {}\n  double: {}\n",
                i + 1,
                a.unwrap_or(&"<none>"),
                b.unwrap_or(&"<none>")
            ));
            if out.len() > 4000 {
                break;
            }
        }
    }
    out
}

#[test]
fn the_double_writes_kops_kubernetes_tf_for_minimal_aws() {
    writes_what_kops_writes("minimal-aws");
}

#[test]
fn the_double_writes_kops_kubernetes_tf_for_ha() {
    writes_what_kops_writes("ha");
}

#[test]
fn the_double_writes_kops_kubernetes_tf_for_complex() {
    writes_what_kops_writes("complex");
}

//! `kopsform import`: a cluster kops already manages becomes a starting template. The round trip is
//! checked against kops itself: a cluster brought up in the sandbox (S3 on moto) is imported, the
//! template rendered by the project's own `cluster-template` task, and the documents compared with
//! what `kops get` prints. The cheaper cases use a local state store, the kops double and a fake
//! `terraform output`.

use std::collections::BTreeMap;

use crate::support::{Project, S3, cluster_project, files, require_terraform};

/// kops's leftovers, dropped from both sides of a comparison (an independent copy of the rule).
fn without_leftovers(mut doc: serde_yaml::Value, default_base: &str) -> serde_yaml::Value {
    let map = doc.as_mapping_mut().expect("a mapping");
    map.shift_remove("status");
    if let Some(metadata) = map.get_mut("metadata").and_then(|m| m.as_mapping_mut()) {
        for key in ["creationTimestamp", "generation", "uid", "resourceVersion"] {
            metadata.shift_remove(key);
        }
    }
    if let Some(spec) = map.get_mut("spec").and_then(|s| s.as_mapping_mut())
        && spec.get("configBase").and_then(|b| b.as_str()) == Some(default_base)
    {
        spec.shift_remove("configBase");
    }
    doc
}

fn documents(text: &str, default_base: &str) -> Vec<serde_yaml::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).expect("YAML"))
        .filter(|d| !d.is_null())
        .map(|d| without_leftovers(d, default_base))
        .collect()
}

/// What kops holds for the cluster: `kops get cluster` then `kops get instancegroups`.
fn kops_documents(p: &Project, name: &str, state: &str) -> Vec<serde_yaml::Value> {
    let base = format!("{state}/{name}");
    let mut docs = Vec::new();
    for what in ["cluster", "instancegroups"] {
        let run = p.tool(
            ".",
            "kops",
            &["get", what, "--name", name, "--state", state, "-o", "yaml"],
        );
        run.success();
        docs.extend(documents(&run.stdout, &base));
    }
    docs
}

#[test]
fn a_running_sandbox_cluster_is_imported_and_renders_back_to_the_same_spec() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    p.kopsform(&["--yes", "prerequisites-apply", "cluster-update"])
        .success();
    let (name, state) = ("sandbox.k8s.local", "s3://kops-state-sandbox-k8s-local");
    let live = kops_documents(&p, name, state);
    std::fs::remove_file(p.join("2-kops/cluster-template.yml")).unwrap();
    std::fs::remove_file(p.join("2-kops/cluster.yml")).unwrap();

    let run = p.kopsform(&["import"]);
    run.success()
        .stdout_has(
            "imported cluster sandbox.k8s.local from s3://kops-state-sandbox-k8s-local (Cluster, 2 InstanceGroups) into 2-kops/cluster-template.yml",
        )
        .stdout_has("vpc-0")
        .stdout_has("-> {{vpc_id}}")
        .stdout_has("left literal")
        .stdout_has("next: `kopsform cluster-template` renders it into 2-kops/cluster.yml");
    let template = p.read("2-kops/cluster-template.yml");
    for want in [
        "  name: \"{{cluster_name}}\"\n",
        "    kops.k8s.io/cluster: \"{{cluster_name}}\"\n",
        "  networkID: \"{{vpc_id}}\"\n",
        "  networkCIDR: \"{{vpc_cidr_block}}\"\n",
        "  kubernetesVersion: \"{{cluster_version}}\"\n",
        "  masterPublicName: \"api.{{cluster_name}}\"\n",
        "id: \"{{private_subnet_ids.[eu-west-1a]}}\"\n",
        "id: \"{{public_subnet_ids.[eu-west-1c]}}\"\n",
        "egress: \"{{nat_gateway_ids.[eu-west-1b]}}\"\n",
        "  image: \"{{kops_ami_id}}\"\n",
    ] {
        assert!(template.contains(want), "{want:?} not in\n{template}");
    }
    let (_comment, body) = template
        .split_once("--}}\n")
        .expect("the comment at the top");
    for gone in [
        "creationTimestamp",
        "generation:",
        "configBase",
        "vpc-0",
        "subnet-0",
    ] {
        assert!(!body.contains(gone), "{gone} in\n{template}");
    }
    // Equal to two outputs: the first is used and the comment at the top says which.
    assert!(
        template.contains("    sandbox: cloud_labels.Environment (also environment)\n"),
        "{template}"
    );

    // The project's own render step turns it back into the spec kops holds.
    p.kopsform(&["cluster-template"]).success();
    let rendered = documents(&p.read("2-kops/cluster.yml"), &format!("{state}/{name}"));
    assert_eq!(rendered, live, "{}", p.read("2-kops/cluster.yml"));

    // And kops takes it: after replace and update, the stored spec is still the same.
    p.kopsform(&["cluster-update"]).success();
    assert_eq!(kops_documents(&p, name, state), live);
}

const OUTPUTS: &str = r#"{
  "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"},
  "subnet_ids": {"sensitive": false, "type": ["list", "string"], "value": ["subnet-a1", "subnet-b2"]},
  "token": {"sensitive": true, "type": "string", "value": "t0ps3cret-canary"},
  "vpc_id": {"sensitive": false, "type": "string", "value": "vpc-123abc"}
}"#;

const MANIFEST: &str = "apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  name: c.example.com
spec:
  cloudProvider: aws
  cloudLabels:
    Team: platform
    Token: t0ps3cret-canary
  kubernetesVersion: 1.33.4
  networkID: vpc-123abc
  subnets:
  - name: eu-west-1a
    zone: eu-west-1a
    id: subnet-a1
    type: Private
  - name: eu-west-1b
    zone: eu-west-1b
    id: subnet-b2
    type: Private
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: nodes
  labels:
    kops.k8s.io/cluster: c.example.com
spec:
  role: Node
  minSize: 1
  maxSize: 2
  subnets:
  - eu-west-1a
  - eu-west-1b
";

const FAKE_TERRAFORM: &str = "#!/bin/sh\ncat \"$(dirname \"$0\")/outputs.json\"\n";

fn tasks_toml(cluster: &str) -> String {
    format!(
        r#"{cluster}
[tools]
terraform = "./tf"

[tasks.cluster-template]
steps = [{{ render = "{{{{cluster.dir}}}}/cluster-template.yml", out = "{{{{cluster.dir}}}}/cluster.yml" }}]
"#
    )
}

/// A project whose cluster `c.example.com` is in the local state store `store` (put there with
/// the kops double), with `terraform output -json` faked from [`OUTPUTS`].
fn local_project(cluster: &str) -> Project {
    let p = Project::new();
    p.file("tasks.toml", &tasks_toml(cluster));
    p.script("tf", FAKE_TERRAFORM);
    p.file("outputs.json", OUTPUTS);
    p.file("1-prerequisites/README", "outputs faked by ./tf\n");
    p.file("c.yml", MANIFEST);
    p.tool(
        ".",
        "kops",
        &["replace", "--force", "-f", "c.yml", "--state", "store"],
    )
    .success();
    p
}

const ONE_CLUSTER: &str = "[cluster]\nname = \"{{cluster_name}}\"\nstate = \"store\"\n";

#[test]
fn values_become_references_and_the_render_step_reproduces_the_cluster() {
    let p = local_project(ONE_CLUSTER);
    let run = p.kopsform(&["import"]);
    run.success()
        .stdout_has("imported cluster c.example.com from store (Cluster, 1 InstanceGroup) into 2-kops/cluster-template.yml")
        .stdout_has("vpc-123abc -> {{vpc_id}}")
        .stdout_has("subnet-b2 -> {{subnet_ids.[1]}}")
        .stdout_has("c.example.com -> {{cluster_name}}")
        .stdout_has("spec.cloudLabels.Team  ")
        .stdout_has("dropped (kops fills them in): metadata.creationTimestamp, spec.configBase");
    let template = p.read("2-kops/cluster-template.yml");
    assert!(
        template.contains("  - id: \"{{subnet_ids.[0]}}\"\n"),
        "{template}"
    );
    p.kopsform(&["cluster-template"]).success();
    assert_eq!(
        documents(&p.read("2-kops/cluster.yml"), "store/c.example.com"),
        kops_documents(&p, "c.example.com", "store")
            .into_iter()
            .map(|mut d| {
                // The sensitive label is left out of the template (next test).
                if let Some(labels) = d["spec"].get_mut("cloudLabels") {
                    labels.as_mapping_mut().unwrap().shift_remove("Token");
                }
                d
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_sensitive_value_is_never_written_and_referenced_only_when_allowed() {
    let p = local_project(ONE_CLUSTER);
    let run = p.kopsform(&["import"]);
    run.success()
        .stderr_has("warning: Cluster c.example.com spec.cloudLabels.Token is the value of the sensitive output `token`, which [cluster] sensitive does not list: left out of the template")
        .output_lacks("t0ps3cret-canary");
    let template = p.read("2-kops/cluster-template.yml");
    assert!(!template.contains("t0ps3cret"), "{template}");
    assert!(!template.contains("Token:"), "{template}");

    // Listed in `sensitive`: a reference, still no value in clear.
    p.file(
        "tasks.toml",
        &tasks_toml(&format!("{ONE_CLUSTER}sensitive = [\"token\"]\n")),
    );
    let run = p.kopsform(&["import", "--force"]);
    run.success()
        .stdout_has("(sensitive) -> {{token}}")
        .output_lacks("t0ps3cret-canary");
    let template = p.read("2-kops/cluster-template.yml");
    assert!(
        template.contains("    Token: \"{{token}}\"\n"),
        "{template}"
    );
    assert!(!template.contains("t0ps3cret"), "{template}");
    p.kopsform(&["cluster-template"]).success();
    assert_eq!(
        documents(&p.read("2-kops/cluster.yml"), "store/c.example.com"),
        kops_documents(&p, "c.example.com", "store")
    );
}

#[test]
fn out_chooses_the_file_and_a_dry_run_writes_nothing() {
    let p = local_project(ONE_CLUSTER);
    p.kopsform(&["--dry-run", "import"])
        .success()
        .stdout_has("would import cluster c.example.com")
        .stdout_has("dry run: 2-kops/cluster-template.yml was not written");
    assert!(!p.exists("2-kops/cluster-template.yml"));
    p.kopsform(&["import", "--out", "elsewhere/t.yml"])
        .success()
        .stdout_has("into elsewhere/t.yml")
        .stdout_has("next: no render step of");
    assert!(p.read("elsewhere/t.yml").contains("\"{{vpc_id}}\""));
    assert!(!p.exists("2-kops/cluster-template.yml"));
}

#[test]
fn one_cluster_of_several_is_chosen_with_cluster() {
    let clusters = "[clusters.dev]\nname = \"dev.example.com\"\nstate = \"store\"\ndir = \"dev\"\n\
                    [clusters.prod]\nname = \"c.example.com\"\nstate = \"store\"\ndir = \"prod\"\n";
    let p = local_project(clusters);
    // The name is not an output here, so the template says {{cluster.name}}.
    p.file(
        "outputs.json",
        &OUTPUTS.replace(
            "\"cluster_name\": {\"sensitive\": false, \"type\": \"string\", \"value\": \"c.example.com\"},\n",
            "",
        ),
    );
    p.kopsform(&["import"]).failure(1).stderr_has(
        "this project has 2 clusters (dev, prod); choose the one to import with --cluster ID",
    );
    p.kopsform(&["import", "--cluster", "prd"])
        .failure(1)
        .stderr_has("no cluster `prd`")
        .stderr_has("did you mean `prod`?");
    p.kopsform(&["import", "--cluster", "prod"])
        .success()
        .stdout_has("into prod/cluster-template.yml")
        .stdout_has("next: `kopsform --cluster prod cluster-template`");
    let template = p.read("prod/cluster-template.yml");
    assert!(
        template.contains("  name: \"{{cluster.name}}\"\n"),
        "{template}"
    );
    p.kopsform(&["--cluster", "prod", "cluster-template"])
        .success();
    assert!(!p.exists("dev/cluster-template.yml"));
}

/// Each error: exit 1, its message, and not one file of the project written or changed.
#[test]
fn errors_are_clear_and_write_nothing() {
    let missing_cluster = "[cluster]\nname = \"gone.example.com\"\nstate = \"store\"\n";
    let cases: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = vec![
        (
            "kops cannot find the cluster",
            missing_cluster,
            vec!["import"],
            vec![
                "`kops get cluster --name gone.example.com --state store -o yaml` failed with status 1:",
                "cluster not found",
                "Check that [cluster] name and state",
                "nothing was written",
            ],
        ),
        (
            "no [cluster] table",
            "",
            vec!["import"],
            vec![
                "no [cluster] table",
                "add [cluster] with `name` and `state`",
            ],
        ),
        (
            "the template exists",
            ONE_CLUSTER,
            vec!["import"],
            vec![
                "2-kops/cluster-template.yml exists; pass --force to overwrite it, or --out FILE",
                "nothing was written",
            ],
        ),
        (
            "the outputs cannot be read",
            ONE_CLUSTER,
            vec!["import", "--out", "t.yml"],
            vec![
                "output -json` in 1-prerequisites failed with status 1",
                "Error: No outputs found",
            ],
        ),
    ];
    for (what, cluster, args, wants) in cases {
        let p = local_project(cluster);
        if what == "the template exists" {
            p.file("2-kops/cluster-template.yml", "# mine\n");
        }
        if what == "the outputs cannot be read" {
            p.script(
                "tf",
                "#!/bin/sh\necho 'Error: No outputs found' >&2\nexit 1\n",
            );
        }
        let before: BTreeMap<String, Vec<u8>> = files(p.path());
        let run = p.kopsform(&args);
        assert_eq!(run.code, 1, "{what}\n{}", run.show());
        for want in wants {
            assert!(
                run.stderr.contains(want),
                "{what}: stderr lacks {want:?}\n{}",
                run.show()
            );
        }
        assert!(!run.stderr.contains("panicked"), "{what}\n{}", run.show());
        let after = files(p.path());
        let changed: Vec<&String> = after
            .keys()
            .chain(before.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(changed.is_empty(), "{what}: changed {changed:?}");
    }
}

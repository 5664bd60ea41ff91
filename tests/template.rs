//! The repository's own layers and template: the recorded outputs of 1-prerequisites render
//! 2-kops/cluster-template.yml into a manifest that passes the checks, and the Terraform is
//! `terraform fmt` clean.

use crate::support::{Project, repo, require_terraform};

#[test]
fn the_recorded_outputs_render_the_repository_template_into_a_valid_manifest() {
    require_terraform();
    let recorded = std::fs::read_to_string(repo().join("1-prerequisites/outputs.example.json"))
        .expect("1-prerequisites/outputs.example.json");
    let p = Project::new();
    p.layer_from_recorded_outputs("1-prerequisites", &recorded);
    p.copy_from_repo("tasks.toml", "tasks.toml");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");

    let run = p.kopsform(&["cluster-template"]);
    run.success().stderr_has(
        "rendered 2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster prod.k8s.example.com, InstanceGroup control-plane-eu-west-1a",
    );
    let manifest = p.read("2-kops/cluster.yml");
    let outputs: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    // Every subnet id and the VPC of the prerequisites ends up in the manifest.
    for (_, id) in outputs["private_subnet_ids"]["value"].as_object().unwrap() {
        assert!(manifest.contains(id.as_str().unwrap()), "{id} missing");
    }
    assert!(manifest.contains(outputs["vpc_id"]["value"].as_str().unwrap()));
    assert!(manifest.contains(
        "configBase: s3://kops-state-123456789012-prod-k8s-example-com/prod.k8s.example.com"
    ));
    // The sensitive output is not in the context, so it cannot be in the manifest.
    let key = outputs["ssh_public_key"]["value"].as_str().unwrap();
    assert!(!manifest.contains(key));
    // And it is YAML kops can read: documents of the kinds kops replace takes.
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&manifest)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &serde_yaml::Value| !d.is_null())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[0], "Cluster");
    assert!(
        kinds[1..].iter().all(|k| *k == "InstanceGroup"),
        "{kinds:?}"
    );
}

#[test]
fn the_terraform_layers_are_fmt_clean() {
    require_terraform();
    for dir in ["1-prerequisites", "examples/sandbox/1-prerequisites"] {
        let out = std::process::Command::new("terraform")
            .args(["fmt", "-check", "-diff", "-recursive"])
            .current_dir(repo().join(dir))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{dir} is not terraform fmt clean:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

//! `[tools]` version pins: a pinned tool whose binary is another version is refused before anything
//! runs (the task run, the plan seal, the apply), so a plan and its apply cannot run different
//! Terraform versions; bad pins are errors naming the key; doctor lists the pins and blocks on a
//! mismatch. The real terraform, and a stand-in script on PATH that says it is another version.

use crate::support::{Project, require_terraform};

/// The version of the real terraform on PATH.
pub fn real_terraform_version(p: &Project) -> String {
    let run = p.tool(".", "terraform", &["version", "-json"]);
    run.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    json["terraform_version"].as_str().unwrap().to_string()
}

/// A project whose `plan` plans and seals a local layer, and whose `apply` checks the seal and
/// applies that plan; terraform pinned at `version`.
fn planned_project(version: &str) -> Project {
    let p = Project::new();
    p.file(
        "tasks.toml",
        &format!(
            r#"
[prerequisites]
dir = "layer"

[cluster]
name = "pins.example.com"
state = "kops-state"

[tools]
terraform = {{ version = "{version}" }}

[tasks.plan]
steps = [
  ["terraform", "-chdir=layer", "init", "-input=false"],
  ["terraform", "-chdir=layer", "plan", "-input=false", "-out=p.tfplan"],
  {{ builtin = "seal-plan", plan = "layer/p.tfplan", inputs = ["layer/main.tf"] }},
]

[tasks.apply]
steps = [
  {{ builtin = "check-plan", plan = "layer/p.tfplan" }},
  ["terraform", "-chdir=layer", "apply", "-input=false", "p.tfplan"],
]

[tasks.hello]
steps = [["echo", "hello"]]
"#
        ),
    );
    p.file(
        "layer/main.tf",
        "resource \"terraform_data\" \"x\" {\n  input = \"pinned\"\n}\n",
    );
    p
}

/// Puts on PATH a `terraform` that says it is `version` and otherwise runs the real one.
pub fn stand_in(p: &mut Project, version: &str) -> String {
    let real = p.find_on_path("terraform").expect("terraform on PATH");
    p.script(
        "standin/terraform",
        &format!(
            "#!/bin/sh\nif [ \"$1\" = version ]; then\n  echo '{{\"terraform_version\": \"{version}\", \"platform\": \"linux_amd64\"}}'\n  exit 0\nfi\nexec {} \"$@\"\n",
            real.display()
        ),
    );
    let dir = p.join("standin");
    p.prepend_path(&dir);
    dir.join("terraform").display().to_string()
}

#[test]
fn a_terraform_version_differing_between_plan_and_apply_is_refused_before_anything_runs() {
    require_terraform();
    let mut p = planned_project("0.0.0");
    let version = real_terraform_version(&p);
    p = planned_project(&version);
    p.kopsform(&["plan"]).success();
    let plan = std::fs::read(p.join("layer/p.tfplan")).unwrap();
    let seal = p.read("layer/p.tfplan.kopsform.json");

    // The apply job's runner has another terraform: refused before the seal is checked or
    // terraform applies, naming the tool, the pin, the version found and the binary.
    let binary = stand_in(&mut p, "1.9.8");
    let expected = format!(
        "kopsform: error: [tools] terraform pins version {version}, but {binary} is terraform 1.9.8; install terraform {version} (or change the pin); nothing was run\n"
    );
    let apply = p.kopsform(&["--yes", "apply"]);
    apply.failure(1);
    assert_eq!(apply.stderr, expected, "{}", apply.show());
    assert!(!p.exists("layer/terraform.tfstate"), "nothing was applied");

    // Likewise a plan job: no new plan, no new seal.
    let plan_run = p.kopsform(&["plan"]);
    plan_run.failure(1);
    assert_eq!(plan_run.stderr, expected, "{}", plan_run.show());
    assert_eq!(std::fs::read(p.join("layer/p.tfplan")).unwrap(), plan);
    assert_eq!(p.read("layer/p.tfplan.kopsform.json"), seal);

    // A task that runs no terraform is not held up by terraform's pin.
    p.kopsform(&["hello"])
        .success()
        .stdout_has("[hello] hello\n");
}

#[test]
fn the_pinned_terraform_plans_and_applies() {
    require_terraform();
    let p = planned_project("0.0.0");
    let version = real_terraform_version(&p);
    let p = planned_project(&version);
    p.kopsform(&["plan"]).success();
    p.kopsform(&["--yes", "apply"])
        .success()
        .stderr_has("is the plan that was sealed");
    assert!(p.exists("layer/terraform.tfstate"));
}

#[test]
fn bad_pins_are_errors_that_name_the_key() {
    let p = Project::new();
    let cases = [
        (
            r#"terraform = { version = "1.11.4", sha = "ab" }"#,
            "unknown field `sha`, expected one of `command`, `version`, `sha256`, `url`",
        ),
        (
            r#"terraform = { version = "1.11" }"#,
            "[tools] terraform: version = \"1.11\" is not a version; write the exact version the tool prints, e.g. version = \"1.11.4\"",
        ),
        (
            r#"kops = { version = "1.30.0$(touch pwned)" }"#,
            "[tools] kops: version = \"1.30.0$(touch pwned)\" is not a version",
        ),
        (
            r#"aws = { version = "2.15.0", sha256 = "xyz" }"#,
            "[tools] aws: sha256 = \"xyz\" is not a SHA-256",
        ),
        (
            "terraform = { version = \"1.11.4\", url = \"https://mirror.example.com/a b\" }",
            "[tools] terraform: url = \"https://mirror.example.com/a b\" is not an http(s) URL without spaces",
        ),
        (
            r#"kubectl = { version = "1.30.0" }"#,
            "[tools] kubectl: `version` pins only terraform, kops, aws",
        ),
        (
            r#"terraform = { sha256 = "ab" }"#,
            "[tools] terraform: `sha256` without `version`",
        ),
    ];
    for (tools, message) in cases {
        p.file(
            "tasks.toml",
            &format!("[tools]\n{tools}\n\n[tasks.t]\nsteps = [[\"true\"]]\n"),
        );
        p.kopsform(&["t"]).failure(1).stderr_has(message);
        assert!(!p.exists("pwned"));
    }
    // The table form without a version is a command like the others.
    p.file(
        "tasks.toml",
        "[tools]\nhello = { command = [\"echo\", \"hello\"] }\n\n[tasks.t]\nsteps = [[\"hello\", \"world\"]]\n",
    );
    p.kopsform(&["t"]).success().stdout_has("[t] hello world\n");
}

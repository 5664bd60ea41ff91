//! `kopsform review`: a plan becomes a pull-request comment that puts risk first, flags protected
//! resources, never shows a secret, fits a size budget, and exits 0/2/3 (1 on bad input).
//!
//! The plan-JSON fixtures are generated from kops's own kubernetes.tf by
//! tests/fixtures/make_plans.py; the last test plans a real Terraform layer.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Project, Run, repo, require_terraform};

const CANARIES: &[&str] = &["CANARY-7f3e9a1c-kops-admin-token", "CANARY-output-5d2b8e44"];
const HEADLINE: &str = "Plan: 1 to import, 4 to add, 3 to change, 2 to destroy.";

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/plans").join(name)
}

fn plan_json() -> String {
    fixture("minimal-aws.plan.json").display().to_string()
}

/// Runs `kopsform review` with `args` in a fresh folder without tasks.toml.
fn review(args: &[&str]) -> Run {
    let p = Project::new();
    let mut all = vec!["review"];
    all.extend_from_slice(args);
    p.kopsform(&all)
}

#[track_caller]
fn lacks_canaries(text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "a secret leaked:\n{text}");
    }
}

/// A copy of the kops fixture, changed by `edit`, written into `p`.
fn edited_plan(p: &Project, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut plan: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("minimal-aws.plan.json")).unwrap())
            .unwrap();
    edit(&mut plan);
    p.file(name, &plan.to_string());
    p.join(name).display().to_string()
}

#[test]
fn review_of_a_kops_plan_matches_the_expected_markdown() {
    let rolling = fixture("rolling-update.txt").display().to_string();
    let run = review(&[
        &plan_json(),
        "--cluster",
        "minimal-aws.example.com",
        "--rolling-update",
        &rolling,
    ]);
    run.failure(3);
    assert_eq!(run.stderr, "", "{}", run.show());
    let expected_file = fixture("minimal-aws.review.md");
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

#[test]
fn the_review_starts_with_the_marker_and_the_headline_then_risk() {
    let run = review(&[&plan_json(), "--cluster", "minimal-aws.example.com"]);
    run.failure(3);
    let out = &run.stdout;
    assert!(out.starts_with("<!-- kopsform-review cluster=minimal-aws.example.com -->\n"));
    let headline = out.find(&format!("**{HEADLINE}**")).expect("headline");
    let risk = out
        .find("### Destroyed or replaced (2)")
        .expect("risk section");
    let table = out
        .find("### Changes by resource type")
        .expect("type table");
    let details = out.find("### Details").expect("details");
    assert!(headline < risk && risk < table && table < details, "{out}");
    run.stdout_has(
        "🛑 **PROTECTED** **replace (destroy, then create)** `aws_ebs_volume.us-test-1a-etcd-main-minimal-aws-example-com`",
    )
    .stdout_has("  - forces replacement: `encrypted`")
    .stdout_has("(`replace_because_cannot_update`)")
    .stdout_has("🛑 **PROTECTED** **delete** `aws_s3_bucket.kops_state`")
    .stdout_has("`aws_s3_bucket.kops_state` is not in the configuration")
    .stdout_has("Also: 1 moved, 1 to forget (no longer managed, not destroyed).")
    .stdout_has("- `aws_autoscaling_group.nodes-minimal-aws-example-com` has changed\n  - `max_size`: `2` → `5`")
    .stdout_has("| `user_data` | `sha256:");
    let default = review(&[&plan_json()]);
    assert!(
        default
            .stdout
            .starts_with("<!-- kopsform-review cluster=default -->\n## Terraform plan review\n")
    );
}

#[test]
fn secrets_never_appear_in_markdown_json_or_files() {
    let p = Project::new();
    let plan = plan_json();
    for format in ["markdown", "json"] {
        let out = format!("review.{format}");
        let run = p.kopsform(&["review", &plan, "--format", format, "--out", &out]);
        run.failure(3);
        lacks_canaries(&run.stdout);
        lacks_canaries(&run.stderr);
        lacks_canaries(&p.read(&out));
    }
    let md = p.read("review.markdown");
    assert!(
        md.contains("| `content` | (sensitive) | (sensitive) |"),
        "{md}"
    );
    assert!(
        md.contains("| `basic_auth_password` | create |  | (sensitive) |"),
        "{md}"
    );
    assert!(md.contains("| `kops_token` | (sensitive) |"), "{md}");
    // The fixture does hold the canaries: the test would prove nothing otherwise.
    let raw = std::fs::read_to_string(&plan).unwrap();
    assert!(CANARIES.iter().all(|c| raw.contains(c)));
}

#[test]
fn output_is_deterministic_and_out_is_the_same_as_stdout() {
    let p = Project::new();
    let plan = plan_json();
    for format in ["markdown", "json"] {
        let a = p.kopsform(&["review", &plan, "--format", format]);
        let b = p.kopsform(&["review", &plan, "--format", format]);
        assert_eq!(a.stdout, b.stdout);
        p.kopsform(&["review", &plan, "--format", format, "--out", "out/r.txt"])
            .failure(3);
        assert_eq!(p.read("out/r.txt"), a.stdout);
    }
}

#[test]
fn json_output_follows_the_documented_schema() {
    let rolling = fixture("rolling-update.txt").display().to_string();
    let run = review(&[
        &plan_json(),
        "--format",
        "json",
        "--rolling-update",
        &rolling,
    ]);
    run.failure(3);
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["kopsform_review"], 1);
    assert_eq!(v["cluster"], "default");
    assert_eq!(v["format_version"], "1.2");
    assert_eq!(v["headline"], HEADLINE);
    assert_eq!(v["exit_status"], 3);
    let counts = &v["counts"];
    for (key, n) in [
        ("import", 1),
        ("add", 4),
        ("change", 3),
        ("destroy", 2),
        ("forget", 1),
        ("move", 1),
        ("read", 0),
        ("invoke", 0),
    ] {
        assert_eq!(counts[key], n, "counts.{key}");
    }
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 11);
    for c in changes {
        for key in [
            "address",
            "type",
            "name",
            "mode",
            "actions",
            "action",
            "action_reason",
            "reasons",
            "replace_paths",
            "importing",
            "previous_address",
            "protected",
            "protected_reason",
            "attributes",
        ] {
            assert!(c.get(key).is_some(), "change lacks {key}: {c}");
        }
    }
    let etcd = changes
        .iter()
        .find(|c| c["type"] == "aws_ebs_volume")
        .unwrap();
    assert_eq!(etcd["actions"], serde_json::json!(["delete", "create"]));
    assert_eq!(etcd["action"], "replace");
    assert_eq!(etcd["replace_paths"], serde_json::json!(["encrypted"]));
    assert_eq!(etcd["protected"], true);
    assert_eq!(etcd["action_reason"], "replace_because_cannot_update");
    assert!(etcd["reasons"][0].as_str().unwrap().contains("in place"));
    let moved = changes
        .iter()
        .find(|c| !c["previous_address"].is_null())
        .unwrap();
    assert_eq!(moved["action"], "no-op");
    let imported = changes.iter().find(|c| !c["importing"].is_null()).unwrap();
    assert_eq!(imported["type"], "aws_key_pair");
    assert_eq!(v["protected"].as_array().unwrap().len(), 2);
    assert_eq!(v["drift"][0]["attributes"][0]["path"], "max_size");
    let outputs = v["outputs"].as_array().unwrap();
    assert_eq!(outputs[0]["name"], "basic_auth_password");
    assert_eq!(outputs[0]["sensitive"], true);
    assert_eq!(outputs[0]["after"], "(sensitive)");
    assert_eq!(v["rolling_update"]["needs_update"], true);
    assert_eq!(v["rolling_update"]["groups"][1]["name"], "nodes");
    assert_eq!(
        v["rolling_update"]["verdict"],
        "1 of 2 instance groups need a rolling update: nodes (2 of 2 nodes)."
    );
}

#[test]
fn a_small_budget_keeps_headline_and_risk_and_says_what_was_cut() {
    let p = Project::new();
    let full = p.kopsform(&["review", &plan_json()]);
    let risk_start = full.stdout.find("### Destroyed or replaced").unwrap();
    let risk_end = full.stdout.find("### Managed files and user data").unwrap();
    let risk = &full.stdout[risk_start..risk_end];

    let run = p.kopsform(&["review", &plan_json(), "--max-chars", "3000"]);
    run.failure(3);
    assert!(run.stdout.chars().count() <= 3000, "{}", run.stdout);
    run.stdout_has(&format!("**{HEADLINE}**"))
        .stdout_has(risk)
        .stdout_has("This review was cut to fit 3,000 characters.** Left out:")
        .stdout_has(" resource details, the variables, the decoded files (all 1).")
        .stdout_has("the variables")
        .stdout_has("For the full report run `kopsform review` without `--max-chars` or `--for`.");

    // With --out, the uncut review is written next to it and named.
    let run = p.kopsform(&[
        "review",
        &plan_json(),
        "--max-chars",
        "3000",
        "--out",
        "ci/review.md",
    ]);
    run.failure(3);
    assert_eq!(run.stdout, "");
    let cut = p.read("ci/review.md");
    let named = format!("Full report: `{}`", p.join("ci/review.full.md").display());
    assert!(
        cut.contains(&named) || cut.contains("Full report: `ci/review.full.md`"),
        "{cut}"
    );
    assert_eq!(p.read("ci/review.full.md"), full.stdout);

    let run = p.kopsform(&[
        "review",
        &plan_json(),
        "--max-chars",
        "3000",
        "--full-report",
        "https://ci.example.com/job/1/review.md",
    ]);
    run.stdout_has("Full report: https://ci.example.com/job/1/review.md");

    // A review that fits is not cut.
    let run = p.kopsform(&["review", &plan_json(), "--for", "github"]);
    assert_eq!(run.stdout, full.stdout);
}

#[test]
fn exit_statuses_no_changes_changes_protected() {
    review(&[&fixture("minimal-aws-steady.plan.json")
        .display()
        .to_string()])
    .success()
    .stdout_has("\n**No changes.**\n");
    review(&[&plan_json()]).failure(3);
    // Without the default rules nothing is protected: changes only.
    let p = Project::new();
    p.file("tasks.toml", "[review]\nprotect-defaults = false\n");
    let run = p.kopsform(&["review", &plan_json()]);
    run.failure(2);
    assert!(!run.stdout.contains("PROTECTED"), "{}", run.stdout);
    // A configured rule protects by address glob, with its reason.
    p.file(
        "tasks.toml",
        "[review]\nprotect-defaults = false\nprotect = [{ type = \"aws_s3_bucket\", address = \"*.kops_*\", reason = \"the kops state store\" }]\n",
    );
    p.kopsform(&["review", &plan_json()]).failure(3).stdout_has(
        "🛑 **PROTECTED** **delete** `aws_s3_bucket.kops_state` — the kops state store",
    );
}

#[test]
fn opentofu_plans_count_forgets_in_the_headline() {
    let p = Project::new();
    let plan = edited_plan(&p, "tofu.json", |v| {
        let map = v.as_object_mut().unwrap();
        map.remove("applyable");
        map.remove("complete");
    });
    p.kopsform(&["review", &plan])
        .failure(3)
        .stdout_has("**Plan: 1 to import, 4 to add, 3 to change, 2 to destroy, 1 to forget.**");
}

#[test]
fn bad_input_is_an_error_with_status_1() {
    let p = Project::new();
    p.file(
        "garbage.json",
        "{\"format_version\": \"1.2\", \"resource_changes\": [",
    );
    p.kopsform(&["review", "garbage.json"])
        .failure(1)
        .stderr_has("kopsform: error: garbage.json: not Terraform plan JSON:")
        .stderr_has("line 1 column");
    let plan = edited_plan(&p, "future.json", |v| v["format_version"] = "2.0".into());
    p.kopsform(&["review", &plan])
        .failure(1)
        .stderr_has("plan JSON format_version \"2.0\" is not supported: kopsform reads format 1.x");
    p.file("nothing.json", "{\"resource_changes\": []}");
    p.kopsform(&["review", "nothing.json"])
        .failure(1)
        .stderr_has("it has no `format_version`");
    p.kopsform(&["review", "missing.json"])
        .failure(1)
        .stderr_has("missing.json: cannot read the plan");
    p.file("rolling.txt", "No rolling-update required.\n");
    p.kopsform(&["review", &plan_json(), "--rolling-update", "rolling.txt"])
        .failure(1)
        .stderr_has("rolling.txt: no rolling-update table");
    p.file("tasks.toml", "[review]\nprotect = [{ reason = \"x\" }]\n");
    p.kopsform(&["review", &plan_json()])
        .failure(1)
        .stderr_has("tasks.toml: [review] protect rule 1 has neither `type` nor `address`");
    assert!(!p.exists("review.md"));
}

#[test]
fn a_saved_plan_that_terraform_cannot_read_names_terraform_and_its_error() {
    require_terraform();
    let p = Project::new();
    p.file("layer/broken.tfplan", "PK\u{3}\u{4} not really a plan");
    p.kopsform(&["review", "layer/broken.tfplan"])
        .failure(1)
        .stderr_has("layer/broken.tfplan: `terraform show -json broken.tfplan` failed (exit 1)")
        .stderr_has("must be initialised");
}

const LAYER_V1: &str = r#"
variable "admin_token" {
  type      = string
  sensitive = true
  default   = "CANARY-7f3e9a1c-kops-admin-token-v1"
}

resource "terraform_data" "aws_ebs_volume_a-etcd-main-c" {
  triggers_replace = ["gp3"]
  input            = { size = 20 }
}

resource "terraform_data" "nodes" {
  input = "t3.medium"
}

resource "terraform_data" "old_name" {
  input = "moved"
}

resource "terraform_data" "gone" {
  input = "deleted"
}

resource "terraform_data" "kept_outside" {
  input = "forgotten"
}

resource "terraform_data" "token" {
  input = var.admin_token
}

output "admin_token" {
  value     = var.admin_token
  sensitive = true
}
"#;

const LAYER_V2: &str = r#"
variable "admin_token" {
  type      = string
  sensitive = true
  default   = "CANARY-7f3e9a1c-kops-admin-token-v2"
}

resource "terraform_data" "aws_ebs_volume_a-etcd-main-c" {
  triggers_replace = ["io2"]
  input            = { size = 20 }
}

resource "terraform_data" "nodes" {
  input = "t3.large"
}

moved {
  from = terraform_data.old_name
  to   = terraform_data.new_name
}

resource "terraform_data" "new_name" {
  input = "moved"
}

removed {
  from = terraform_data.kept_outside
  lifecycle {
    destroy = false
  }
}

import {
  to = terraform_data.adopted
  id = "adopted-123"
}

resource "terraform_data" "adopted" {
  input = "adopted"
}

resource "terraform_data" "added" {
  input = "new"
}

resource "terraform_data" "token" {
  input = var.admin_token
}

output "admin_token" {
  value     = var.admin_token
  sensitive = true
}
"#;

fn plan_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("Plan: "))
        .unwrap_or_else(|| panic!("no Plan: line in\n{text}"))
        .to_string()
}

#[test]
fn review_of_a_real_saved_plan_matches_terraform_and_hides_the_secret() {
    require_terraform();
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[review]\nprotect = [{ address = \"terraform_data.aws_ebs_volume_*-etcd-*\" }]\n",
    );
    p.file("2-kops/main.tf", LAYER_V1);
    p.tool(
        "2-kops",
        "terraform",
        &["init", "-input=false", "-no-color"],
    )
    .success();
    p.tool(
        "2-kops",
        "terraform",
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    )
    .success();
    p.file("2-kops/main.tf", LAYER_V2);
    let planned = p.tool(
        "2-kops",
        "terraform",
        &["plan", "-input=false", "-no-color", "-out=p.tfplan"],
    );
    planned.success();
    let terraform_says = plan_line(&planned.stdout);
    assert_eq!(
        terraform_says,
        "Plan: 1 to import, 2 to add, 3 to change, 2 to destroy."
    );
    // Terraform's own JSON holds the canary in clear (terraform_data's `output` is not marked).
    let shown = p.tool("2-kops", "terraform", &["show", "-json", "p.tfplan"]);
    assert!(shown.stdout.contains(CANARIES[0]));

    let run = p.kopsform(&["review", "2-kops/p.tfplan", "--out", "review.md"]);
    run.failure(3);
    let md = p.read("review.md");
    assert!(md.contains(&format!("\n**{terraform_says}**\n")), "{md}");
    assert!(
        md.contains("🛑 **PROTECTED** **replace (destroy, then create)** `terraform_data.aws_ebs_volume_a-etcd-main-c` — `[review] protect` rule `{ address = \"terraform_data.aws_ebs_volume_*-etcd-*\" }`"),
        "{md}"
    );
    assert!(
        md.contains("  - forces replacement: `triggers_replace`"),
        "{md}"
    );
    assert!(md.contains("**delete** `terraform_data.gone`"), "{md}");
    assert!(md.contains("Also: 1 moved, 1 to forget"), "{md}");
    lacks_canaries(&md);
    lacks_canaries(&run.stdout);
    lacks_canaries(&run.stderr);

    let json = p.kopsform(&["review", "2-kops/p.tfplan", "--format", "json"]);
    json.failure(3);
    lacks_canaries(&json.stdout);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["headline"], terraform_says.as_str());
    assert_eq!(
        v["protected"][0]["address"],
        "terraform_data.aws_ebs_volume_a-etcd-main-c"
    );
}

#[test]
fn review_works_outside_a_project_with_the_default_rules() {
    // No tasks.toml anywhere above a temp folder is assumed; the defaults still protect.
    let run = review(&[Path::new(&plan_json()).to_str().unwrap()]);
    run.failure(3).stdout_has("(default rule)");
}

/// The review and apply-guard builtins read a saved plan with the task's environment, like the
/// task's own Terraform commands: a layer whose providers live in `TF_DATA_DIR` is readable.
#[test]
fn a_review_step_reads_the_plan_with_the_tasks_environment() {
    require_terraform();
    let p = Project::new();
    // Terraform through a wrapper that logs which data folder each `show` was given.
    p.script(
        "tf.sh",
        "#!/bin/sh\n[ \"$1\" = show ] && echo \"$* TF_DATA_DIR=$TF_DATA_DIR\" >> \"$SHOW_LOG\"\nexec terraform \"$@\"\n",
    );
    p.file(
        "layer/main.tf",
        "resource \"terraform_data\" \"a\" {\n  input = \"x\"\n}\n",
    );
    p.file(
        "tasks.toml",
        &format!(
            r#"
[tools]
terraform = "./tf.sh"
[tasks.plan]
cwd = "layer"
env = {{ TF_DATA_DIR = "../tf-data", SHOW_LOG = "{log}" }}
steps = [
  ["terraform", "init", "-input=false"],
  ["terraform", "plan", "-input=false", "-out=saved.tfplan"],
  {{ builtin = "review", plan = "layer/saved.tfplan", out = "review.md" }},
  {{ builtin = "check-protected", plan = "layer/saved.tfplan" }},
]
"#,
            log = p.join("show.log").display()
        ),
    );
    p.kopsform(&["plan"])
        .success()
        .stderr_has("review of layer/saved.tfplan written to review.md: changes");
    assert!(
        !p.exists("layer/.terraform"),
        "the providers went to TF_DATA_DIR"
    );
    assert!(p.read("review.md").contains("terraform_data.a"));
    // Both builtins read the saved plan with the task's TF_DATA_DIR.
    assert_eq!(
        p.read("show.log")
            .lines()
            .filter(|l| *l == "show -no-color -json saved.tfplan TF_DATA_DIR=../tf-data")
            .count(),
        2,
        "{}",
        p.read("show.log")
    );
}

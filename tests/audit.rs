//! The audit trail: one JSON line per task of every run in `.kopsform/audit.jsonl`, with who, where,
//! which commit, the result and the plan's hash; `kopsform audit` shows it.

use crate::support::{Project, S3, bring_up, cluster_project, require_terraform};

fn records(p: &Project, rel: &str) -> Vec<serde_json::Value> {
    p.read(rel)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn git(p: &Project, args: &[&str]) {
    p.tool(".", "git", args).success();
}

#[test]
fn every_task_of_every_run_is_recorded_with_commit_result_and_masked_argv() {
    let mut p = Project::new();
    p.file(
        "tasks.toml",
        r#"
secret-env = ["AUDIT_*"]
[tasks.build]
steps = [["true"]]
[tasks.check]
deps = ["build"]
steps = [["sh", "-c", "exit 3"]]
[tasks.after]
deps = ["check"]
steps = [["true"]]
"#,
    );
    p.file(".gitignore", ".kopsform/\n");
    p.env("USER", "auditor");
    p.env("AUDIT_TOKEN", "tok-a8d1c3e5");
    p.env("GIT_AUTHOR_NAME", "t");
    p.env("GIT_AUTHOR_EMAIL", "t@example.com");
    p.env("GIT_COMMITTER_NAME", "t");
    p.env("GIT_COMMITTER_EMAIL", "t@example.com");
    git(&p, &["init", "-q", "-b", "main"]);
    git(&p, &["add", "."]);
    git(&p, &["commit", "-q", "-m", "first"]);
    let commit = p
        .tool(".", "git", &["rev-parse", "HEAD"])
        .stdout
        .trim()
        .to_string();

    p.kopsform(&["build"]).success();
    // A failing run, with a secret on kopsform's own command line.
    p.kopsform(&["after", "--set", "token=tok-a8d1c3e5"])
        .failure(1);
    let all = records(&p, ".kopsform/audit.jsonl");
    assert_eq!(all.len(), 4, "{all:?}");
    let first = &all[0];
    assert_eq!(first["task"], "build");
    assert_eq!(first["status"], "ok");
    assert_eq!(first["exit_status"], 0);
    assert_eq!(first["user"], "auditor");
    assert!(
        first["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{first}"
    );
    assert_eq!(first["git"]["commit"], commit.as_str());
    assert_eq!(first["git"]["branch"], "main");
    assert_eq!(first["git"]["dirty"], false);
    assert_eq!(first["dry_run"], false);
    assert!(first["time"].as_str().unwrap().ends_with('Z'), "{first}");
    assert!(first["duration_ms"].is_u64(), "{first}");
    let tasks: Vec<(&str, &str)> = all[1..]
        .iter()
        .map(|r| (r["task"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tasks,
        [("build", "ok"), ("check", "failed"), ("after", "not run")]
    );
    assert_eq!(all[2]["exit_status"], 1);
    assert!(all[3]["exit_status"].is_null());
    let argv = all[3]["argv"].to_string();
    assert!(argv.contains("token=***"), "{argv}");
    assert!(!p.read(".kopsform/audit.jsonl").contains("tok-a8d1c3e5"));

    // A tracked file changed: dirty.
    p.file("tasks.toml", &format!("{}\n", p.read("tasks.toml")));
    p.kopsform(&["build"]).success();
    let last = records(&p, ".kopsform/audit.jsonl").pop().unwrap();
    assert_eq!(last["git"]["dirty"], true);
    assert_eq!(last["dry_run"], false);
    assert_eq!(last["status"], "ok");
    // Issue 19: a dry run records nothing (it changes nothing, and skips the `git status`).
    p.kopsform(&["--dry-run", "after"]).success();
    assert_eq!(records(&p, ".kopsform/audit.jsonl").len(), 5);
    // Nor does a run in which every task is up to date; one that ran a task records them all.
    // (The up-to-date check reads the values: a layer with an applied, empty local state.)
    p.file("1-prerequisites/main.tf", "");
    p.file(
        "1-prerequisites/terraform.tfstate",
        r#"{"version": 4, "terraform_version": "1.10.0", "serial": 1, "lineage": "l", "outputs": {}, "resources": []}"#,
    );
    p.file(
        "tasks.toml",
        &format!(
            "{}[tasks.made]\nsources = [\"tasks.toml\"]\ngenerates = [\"made.txt\"]\nsteps = [[\"touch\", \"made.txt\"]]\n",
            p.read("tasks.toml")
        ),
    );
    p.kopsform(&["made"]).success();
    assert_eq!(records(&p, ".kopsform/audit.jsonl").len(), 6);
    p.kopsform(&["made"])
        .success()
        .stderr_has("made  up to date");
    assert_eq!(records(&p, ".kopsform/audit.jsonl").len(), 6);

    // The table: newest last, --last limits it; --json gives the lines as stored.
    let run = p.kopsform(&["audit", "--last", "2"]);
    run.success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines[0].starts_with("TIME"), "{}", run.stdout);
    assert!(lines[1].contains("build") && lines[1].contains(&format!("{}+dirty", &commit[..8])));
    assert!(lines[2].contains("auditor") && lines[2].contains("made") && lines[2].contains("ok"));
    let json = p.kopsform(&["audit", "--json"]);
    json.success();
    assert_eq!(json.stdout.lines().count(), 6);

    // A damaged line is skipped with a warning naming it; the others still show.
    let text = p.read(".kopsform/audit.jsonl");
    p.file(".kopsform/audit.jsonl", &format!("{text}{{\"truncated\n"));
    p.kopsform(&["audit"])
        .success()
        .stderr_has("audit.jsonl:7: not an audit record")
        .stdout_has("auditor");
}

#[test]
fn the_trail_can_move_or_be_turned_off() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[audit]\npath = \"logs/kopsform.jsonl\"\n[tasks.t]\nsteps = [[\"true\"]]\n",
    );
    p.kopsform(&["t"]).success();
    assert_eq!(records(&p, "logs/kopsform.jsonl").len(), 1);
    assert!(!p.exists(".kopsform/audit.jsonl"));

    p.file(
        "tasks.toml",
        "[audit]\nenabled = false\n[tasks.t]\nsteps = [[\"true\"]]\n",
    );
    p.kopsform(&["t"]).success();
    assert_eq!(records(&p, "logs/kopsform.jsonl").len(), 1);
    p.kopsform(&["audit"])
        .failure(1)
        .stderr_has("[audit] enabled = false");
}

#[test]
fn plan_and_apply_record_the_hash_of_the_plan_they_sealed_and_applied() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    bring_up(&p);
    let seal: serde_json::Value =
        serde_json::from_str(&p.read("2-kops/kubernetes.tfplan.kopsform.json")).unwrap();
    let all = records(&p, ".kopsform/audit.jsonl");
    let hash = |task: &str| {
        all.iter()
            .find(|r| r["task"] == task)
            .map(|r| r["plan_sha256"].clone())
            .unwrap()
    };
    assert!(hash("plan").is_string(), "{all:?}");
    assert_eq!(hash("plan"), hash("apply"));
    assert_eq!(hash("plan"), seal["plan_sha256"]);
    assert!(hash("cluster-update").is_null());
    // One [cluster]: no cluster id, as in the summary.
    assert!(all.iter().all(|r| r["cluster"] == ""), "{all:?}");
}

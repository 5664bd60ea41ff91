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
    applied_without_outputs(&p);
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

/// A project whose one cluster keeps its kops state store in moto's S3 at `state`: `apply` locks
/// the cluster (it changes it), `build` does not. Its prerequisites layer has an applied, empty
/// state (what a clone reads from a remote backend).
/// A prerequisites layer applied with no outputs: its local state is read, no Terraform runs.
fn applied_without_outputs(p: &Project) {
    p.file("1-prerequisites/main.tf", "");
    p.file(
        "1-prerequisites/terraform.tfstate",
        r#"{"version": 4, "terraform_version": "1.10.0", "serial": 1, "lineage": "l", "outputs": {}, "resources": []}"#,
    );
}

fn store_project(s3: &S3, state: &str) -> Project {
    crate::support::require("aws", "pip install awscli");
    let mut p = Project::new();
    applied_without_outputs(&p);
    s3.attach(&mut p);
    p.env("USER", "ci");
    p.env("AUDIT_TOKEN", "tok-c4n4ry-9f3e");
    p.file(
        "tasks.toml",
        &format!(
            "secret-env = [\"AUDIT_*\"]\n[cluster]\nname = \"dev.example.com\"\nstate = \"{state}\"\n[tasks.apply]\nlock = true\nsteps = [[\"true\"]]\n[tasks.build]\nsteps = [[\"true\"]]\n"
        ),
    );
    p
}

/// The objects under the cluster's audit prefix: key and text.
fn store_objects(p: &Project) -> Vec<(String, String)> {
    let prefix = "kops/.kopsform-audit/dev.example.com/";
    crate::support::bucket_keys(p, "audit-store")
        .into_iter()
        .filter(|k| k.starts_with(prefix))
        .map(|k| {
            let run = p.tool(
                ".",
                "aws",
                &["s3", "cp", &format!("s3://audit-store/{k}"), "-"],
            );
            run.success();
            (k.trim_start_matches(prefix).to_string(), run.stdout.clone())
        })
        .collect()
}

#[test]
fn concurrent_runs_all_land_in_the_state_store_and_a_fresh_clone_shows_them() {
    let s3 = S3::start();
    let p = store_project(&s3, "s3://audit-store/kops");
    p.tool(
        ".",
        "aws",
        &["s3api", "create-bucket", "--bucket", "audit-store"],
    )
    .success();
    // Four runs at once (as four CI jobs would), a secret on each command line. Their tasks take
    // turns with the cluster's lock; each writes its records after letting it go, beside the
    // others' runs.
    let mut children: Vec<_> = (0..4)
        .map(|_| {
            p.spawn_kopsform(&[
                "--lock-timeout",
                "5m",
                "apply",
                "--set",
                "token=tok-c4n4ry-9f3e",
            ])
        })
        .collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    let objects = store_objects(&p);
    assert_eq!(objects.len(), 4, "{objects:?}");
    for (key, text) in &objects {
        // `<start>-<16 hex>.jsonl`, one record of this run each.
        let (stamp, id) = key.trim_end_matches(".jsonl").split_once('-').unwrap();
        assert!(stamp.ends_with('Z') && stamp.contains('T'), "{key}");
        assert_eq!(id.len(), 16, "{key}");
        assert_eq!(text.lines().count(), 1, "{text}");
        let record: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(record["task"], "apply");
        assert_eq!(record["user"], "ci");
        assert!(text.contains("token=***"), "{text}");
        assert!(!text.contains("tok-c4n4ry-9f3e"), "{text}");
    }
    assert_eq!(records(&p, ".kopsform/audit.jsonl").len(), 4);
    // Here the local and the state store's records are the same four: shown once each.
    let here = p.kopsform(&["audit", "--cluster", "default", "--json"]);
    here.success();
    let local = p.read(".kopsform/audit.jsonl");
    let mut shown: Vec<&str> = here.stdout.lines().collect();
    let mut stored: Vec<&str> = local.lines().collect();
    shown.sort();
    stored.sort();
    assert_eq!(shown, stored);

    // A fresh clone: tasks.toml only, no .kopsform.
    let clone = store_project(&s3, "s3://audit-store/kops");
    clone
        .kopsform(&["audit"])
        .success()
        .stderr_has("no audit trail yet");
    let there = clone.kopsform(&["audit", "--cluster", "default", "--json"]);
    there.success();
    let mut remote: Vec<&str> = there.stdout.lines().collect();
    remote.sort();
    assert_eq!(remote, stored);
    let table = clone.kopsform(&["audit", "--cluster", "default"]);
    table.success();
    assert_eq!(table.stdout.lines().count(), 5, "{}", table.stdout);
    assert!(
        table
            .stdout
            .lines()
            .skip(1)
            .all(|l| l.contains(" ci ") && l.contains(" apply ")),
        "{}",
        table.stdout
    );
    // A run on the clone adds its own record: five in all, one of them local.
    clone.kopsform(&["apply"]).success();
    let both = clone.kopsform(&["audit", "--cluster", "default", "--json"]);
    both.success();
    assert_eq!(both.stdout.lines().count(), 5, "{}", both.stdout);
    assert_eq!(store_objects(&p).len(), 5);
}

#[test]
fn a_state_store_that_cannot_be_written_keeps_the_local_record_and_says_so() {
    let s3 = S3::start();
    // A local state store whose audit folder cannot be made (a file is in its place); the
    // cluster's lock beside it works.
    let p = store_project(&s3, "store");
    p.file("store/.kopsform-audit", "not a folder\n");
    // A task that does not change the cluster (takes no lock) records locally only.
    p.kopsform(&["build"]).success().output_lacks("state store");
    assert_eq!(records(&p, ".kopsform/audit.jsonl").len(), 1);
    let store = p.join("store/.kopsform-audit/dev.example.com");
    let local = p.join(".kopsform/audit.jsonl");
    p.kopsform(&["apply"]).success().stderr_has(&format!(
        "kopsform: warning: the audit records of cluster default were not written to its state store: cannot write to {}/: ",
        store.display()
    )).stderr_has(&format!("; they are in {} only\n", local.display()));
    let all = records(&p, ".kopsform/audit.jsonl");
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["task"], "apply");
    // Reading it is an error that says the local trail is still there.
    p.kopsform(&["audit", "--cluster", "default"])
        .failure(1)
        .stderr_has(&format!("{}: cannot read: ", store.display()))
        .stderr_has("(cluster default's state store holds its audit records; `kopsform audit` without --cluster shows the local trail only)");
    p.kopsform(&["audit", "--json"]).success();
    // With the folder there, the record lands as a file of its own.
    std::fs::remove_file(p.join("store/.kopsform-audit")).unwrap();
    p.kopsform(&["apply"]).success().output_lacks("state store");
    let files: Vec<_> = std::fs::read_dir(&store).unwrap().collect();
    assert_eq!(files.len(), 1);
    let shown = p.kopsform(&["audit", "--cluster", "default", "--json"]);
    shown.success();
    assert_eq!(shown.stdout, p.read(".kopsform/audit.jsonl"));
    // `[audit] state-store = false`: nothing is tried.
    p.file(
        "tasks.toml",
        &format!("{}[audit]\nstate-store = false\n", p.read("tasks.toml")),
    );
    p.kopsform(&["apply"]).success().output_lacks("state store");
    assert_eq!(records(&p, ".kopsform/audit.jsonl").len(), 4);
    assert_eq!(std::fs::read_dir(&store).unwrap().count(), 1);
}

#[test]
fn each_cluster_of_a_fleet_gets_its_own_records_in_its_own_state_store() {
    let p = Project::new();
    applied_without_outputs(&p);
    p.file(
        "tasks.toml",
        "[clusters.a]\nname = \"a.example.com\"\nstate = \"store-a\"\ndir = \"clusters/a\"\n[clusters.b]\nname = \"b.example.com\"\nstate = \"store-b\"\ndir = \"clusters/b\"\n[tasks.apply]\nlock = true\nsteps = [[\"true\"]]\n",
    );
    p.kopsform(&["--all", "--yes", "--jobs", "2", "apply"])
        .success();
    for (id, name, other) in [("a", "a.example.com", "b"), ("b", "b.example.com", "a")] {
        let dir = p.join(&format!("store-{id}/.kopsform-audit/{name}"));
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|f| f.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&files[0])
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["cluster"], id);
        assert_eq!(lines[0]["task"], "apply");
        assert!(
            !p.join(&format!("store-{id}/.kopsform-audit/{other}.example.com"))
                .exists(),
            "cluster {other}'s records landed in cluster {id}'s store"
        );
    }
}

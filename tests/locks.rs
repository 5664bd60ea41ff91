//! Per-cluster locks in the state store: two runs never change one cluster at once, the second
//! waits or fails naming the holder, and a lock left by a killed run is released with `unlock`.

use std::time::{Duration, Instant};

use crate::support::{Project, S3, cluster_project, require_terraform};

const LOCK_KEY: &str = ".kopsform-locks/sandbox.k8s.local.json";

fn lock_object(p: &Project) -> Option<String> {
    let run = p.tool(
        ".",
        "aws",
        &[
            "s3",
            "cp",
            &format!("s3://kops-state-sandbox-k8s-local/{LOCK_KEY}"),
            "-",
        ],
    );
    (run.code == 0).then(|| run.stdout.clone())
}

fn wait_for_lock(p: &Project) -> String {
    let started = Instant::now();
    loop {
        if let Some(text) = lock_object(p) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the holder never took the lock"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A project whose `hold` task changes the cluster (so it locks) and takes `seconds`.
fn project(s3: &S3) -> Project {
    require_terraform();
    let p = cluster_project(s3);
    let tasks = p.read("tasks.toml");
    p.file(
        "tasks.toml",
        &format!(
            "{tasks}\n[tasks.hold]\ndesc = \"hold the cluster\"\nlock = true\nsteps = [[\"sleep\", \"{{{{env.HOLD_SECONDS}}}}\"]]\n"
        ),
    );
    p.kopsform(&["--yes", "prerequisites-apply", "cluster-update", "plan"])
        .success();
    p
}

#[test]
fn a_second_run_on_a_locked_cluster_fails_naming_the_holder_or_waits() {
    let s3 = S3::start();
    let mut p = project(&s3);
    p.env("HOLD_SECONDS", "4");
    let mut holder = p.spawn_kopsform(&["hold"]);
    let lock = wait_for_lock(&p);
    assert!(lock.contains("\"task\": \"hold\""), "{lock}");
    assert!(
        lock.contains(&format!("\"pid\": {}", holder.id())),
        "{lock}"
    );

    // Without waiting: refused before anything changes, the holder named.
    let run = p.kopsform(&["--yes", "apply"]);
    run.failure(75)
        .stderr_has("cluster `sandbox.k8s.local` is locked by ")
        .stderr_has(&format!("(pid {}, task `hold`, since ", holder.id()))
        .stderr_has("kopsform unlock");
    assert!(!run.stderr.contains("$ terraform apply"), "{}", run.stderr);

    // Waiting: it runs once the holder is done, and releases the lock after.
    let run = p.kopsform(&["--yes", "--lock-timeout", "60s", "apply"]);
    run.success()
        .stderr_has("waiting for the lock of cluster `sandbox.k8s.local`, held by ")
        .stderr_has("locked cluster sandbox.k8s.local");
    assert!(holder.wait().unwrap().success());
    assert_eq!(lock_object(&p), None, "the lock was not released");
}

#[test]
fn a_lock_left_by_a_killed_run_is_released_with_unlock() {
    let s3 = S3::start();
    let mut p = project(&s3);
    p.env("HOLD_SECONDS", "60");
    let mut holder = p.spawn_kopsform(&["hold"]);
    wait_for_lock(&p);
    // SIGKILL: no chance to release anything.
    holder.kill().unwrap();
    holder.wait().unwrap();
    p.kopsform(&["--yes", "cluster-update"])
        .failure(75)
        .stderr_has("is locked by ");
    p.kopsform(&["unlock"])
        .success()
        .stderr_has("released the lock of cluster sandbox.k8s.local, held by ")
        .stderr_has("task `hold`");
    assert_eq!(lock_object(&p), None);
    p.kopsform(&["unlock"])
        .success()
        .stderr_has("cluster sandbox.k8s.local is not locked");
    p.kopsform(&["--yes", "cluster-update"]).success();
    // Read-only tasks take no lock.
    p.env("HOLD_SECONDS", "60");
    let mut holder = p.spawn_kopsform(&["hold"]);
    wait_for_lock(&p);
    p.kopsform(&["outputs"]).success();
    p.kopsform(&["dryrun"]).success();
    holder.kill().unwrap();
    holder.wait().unwrap();
    p.kopsform(&["unlock"]).success();
}

#[test]
fn two_concurrent_applies_never_both_change_the_cluster() {
    let s3 = S3::start();
    let p = project(&s3);
    let out = |name: &str| p.join(name).display().to_string();
    let start = |log: &str| {
        // The project's whole environment (the kops double, no Terraform CLI config) as well as
        // the local S3 server's.
        p.command(&["--yes", "apply"])
            .stdout(std::fs::File::create(out(&format!("{log}.out"))).unwrap())
            .stderr(std::fs::File::create(out(&format!("{log}.err"))).unwrap())
            .spawn()
            .unwrap()
    };
    let mut a = start("a");
    let mut b = start("b");
    let codes = [a.wait().unwrap().code(), b.wait().unwrap().code()];
    let errs = [p.read("a.err"), p.read("b.err")];
    let outs = [p.read("a.out"), p.read("b.out")];
    let applied = outs
        .iter()
        .filter(|o| o.contains("Apply complete!"))
        .count();
    assert_eq!(applied, 1, "{outs:?}");
    // Exactly one applied; the other was refused by the lock (or, when it came after, by the
    // stale-plan check), before changing anything.
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        1,
        "{codes:?}\n{}\n{}",
        errs[0],
        errs[1]
    );
    let loser = if codes[0] == Some(0) {
        &errs[1]
    } else {
        &errs[0]
    };
    assert!(
        loser.contains("is locked by") || loser.contains("the saved plan is stale"),
        "{loser}"
    );
    assert_eq!(lock_object(&p), None);
}

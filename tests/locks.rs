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
    let p = project(&s3);
    // The holder holds until the test creates `release` (at most 120 s).
    let tasks = p.read("tasks.toml");
    p.file(
        "tasks.toml",
        &format!(
            "{tasks}\n[tasks.hold-until-released]\nlock = true\nsteps = [[\"sh\", \"-c\", \"i=0; while [ ! -e release ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done\"]]\n"
        ),
    );
    let mut holder = p.spawn_kopsform(&["hold-until-released"]);
    let lock = wait_for_lock(&p);
    assert!(lock.contains("\"task\": \"hold-until-released\""), "{lock}");
    assert!(
        lock.contains(&format!("\"pid\": {}", holder.id())),
        "{lock}"
    );

    // Without waiting: refused before anything changes, the holder named.
    let run = p.kopsform(&["--yes", "apply"]);
    run.failure(75)
        .stderr_has("cluster `sandbox.k8s.local` is locked by ")
        .stderr_has(&format!(
            "(pid {}, task `hold-until-released`, since ",
            holder.id()
        ))
        .stderr_has("kopsform unlock");
    assert!(!run.stderr.contains("$ terraform apply"), "{}", run.stderr);

    // Waiting: it runs once the holder is done, and releases the lock after. The holder ends only
    // once the waiter says it waits (a loaded machine must not let it finish first).
    let mut waiter = p
        .command(&["--yes", "--lock-timeout", "120s", "apply"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(waiter.stderr.take().unwrap())) {
        let line = line.unwrap();
        if line.contains("waiting for the lock of cluster `sandbox.k8s.local`, held by ") {
            std::fs::write(p.join("release"), "").unwrap();
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    assert!(waiter.wait().unwrap().success(), "{stderr}");
    assert!(
        stderr.contains("waiting for the lock of cluster `sandbox.k8s.local`, held by "),
        "{stderr}"
    );
    assert!(
        stderr.contains("locked cluster sandbox.k8s.local"),
        "{stderr}"
    );
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

/// A project with the prerequisites applied (the state bucket exists, the cluster has its name)
/// and the tasks `hold` (takes the lock, sleeps `HOLD_SECONDS`) and `cut` (takes the lock and
/// stops the S3 server, so that the lock cannot be released).
fn light_project(s3: &S3) -> Project {
    require_terraform();
    let mut p = cluster_project(s3);
    let tasks = p.read("tasks.toml");
    // `kill` returns before the server has gone: `cut` waits until its port refuses connections,
    // or the lock could still be released on a busy machine.
    p.script(
        "wait-closed",
        "#!/usr/bin/env python3\nimport socket, sys, time, urllib.parse\nu = urllib.parse.urlparse(sys.argv[1])\nfor _ in range(400):\n    try:\n        socket.create_connection((u.hostname, u.port), 0.2).close()\n    except OSError:\n        sys.exit(0)\n    time.sleep(0.05)\nsys.exit('the S3 server is still answering')\n",
    );
    p.file(
        "tasks.toml",
        &format!(
            "{tasks}\n[tasks.hold]\nlock = true\nsteps = [[\"sleep\", \"{{{{env.HOLD_SECONDS}}}}\"]]\n[tasks.cut]\nlock = true\nsteps = [[\"kill\", \"-9\", \"{}\"], [\"./wait-closed\", \"{}\"]]\n\n[retry]\nattempts = 1\n",
            s3.pid(),
            s3.endpoint
        ),
    );
    // The aws CLI gives up on a closed port at once, not after five attempts with back-off.
    p.env("AWS_MAX_ATTEMPTS", "1");
    p.env("AWS_RETRY_MODE", "standard");
    p.kopsform(&["--yes", "prerequisites-apply"]).success();
    p
}

/// This host's name, as kopsform records it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// When process `pid` started: field 22 of /proc/PID/stat.
fn start_of(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// Puts a lock record in the store by hand.
fn put_lock(p: &Project, record: &serde_json::Value) {
    p.file("record.json", &record.to_string());
    p.tool(
        ".",
        "aws",
        &[
            "s3",
            "cp",
            "record.json",
            &format!("s3://kops-state-sandbox-k8s-local/{LOCK_KEY}"),
        ],
    )
    .success();
    std::fs::remove_file(p.join("record.json")).unwrap();
}

#[test]
fn unlock_leaves_the_lock_of_a_run_still_running_on_this_host_unless_forced() {
    let s3 = S3::start();
    let mut p = light_project(&s3);
    p.env("HOLD_SECONDS", "120");
    let mut holder = p.spawn_kopsform(&["hold"]);
    let lock = wait_for_lock(&p);
    assert!(
        lock.contains(&format!("\"pid_start\": {}", start_of(holder.id()))),
        "{lock}"
    );
    let run = p.kopsform(&["unlock"]);
    run.failure(1)
        .stderr_has("kopsform: error: cluster sandbox.k8s.local is locked by ")
        .stderr_has(&format!("@{} (pid {}, task `hold`, since ", host(), holder.id()))
        .stderr_has(&format!(
            "), which is still running on this host: the lock was left in place (s3://kops-state-sandbox-k8s-local/{LOCK_KEY}). That run releases it when it ends; to remove the lock anyway (another run may then change the cluster beside it), pass --force: kopsform unlock --cluster default --force\n"
        ));
    assert_eq!(lock_object(&p).as_deref(), Some(lock.as_str()));
    // A second run is still kept out.
    p.kopsform(&["--yes", "hold"])
        .failure(75)
        .stderr_has("is locked by ");
    p.kopsform(&["unlock", "--force"])
        .success()
        .stderr_has("released the lock of cluster sandbox.k8s.local, held by ")
        .stderr_has("task `hold`")
        .stderr_has("(still running on this host; removed with --force)");
    assert_eq!(lock_object(&p), None);
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn unlock_tells_a_live_holder_from_a_reused_pid_by_its_start_time() {
    let s3 = S3::start();
    let p = light_project(&s3);
    // A live process of this host: this test.
    let pid = std::process::id();
    let record = |start: Option<u64>| {
        let mut r = serde_json::json!({
            "user": "someone", "host": host(), "pid": pid, "task": "apply",
            "cluster": "sandbox.k8s.local", "since": "2026-12-01T10:00:00Z", "run": "r1",
        });
        if let Some(start) = start {
            r["pid_start"] = start.into();
        }
        r
    };
    // The same pid and start time: the holder runs.
    put_lock(&p, &record(Some(start_of(pid))));
    p.kopsform(&["unlock"]).failure(1).stderr_has(&format!(
        "kopsform: error: cluster sandbox.k8s.local is locked by someone@{} (pid {pid}, task `apply`, since 2026-12-01T10:00:00Z), which is still running on this host",
        host()
    ));
    assert!(lock_object(&p).is_some());
    // The same pid, another start time: the pid was reused, the holder is gone.
    put_lock(&p, &record(Some(start_of(pid) + 1)));
    let run = p.kopsform(&["unlock"]);
    run.success();
    assert_eq!(
        run.stderr,
        format!(
            "released the lock of cluster sandbox.k8s.local, held by someone@{} (pid {pid}, task `apply`, since 2026-12-01T10:00:00Z) (its process no longer runs on this host) (s3://kops-state-sandbox-k8s-local/{LOCK_KEY})\n",
            host()
        )
    );
    assert_eq!(lock_object(&p), None);
    // A record of an older kopsform (no start time) whose pid runs is taken as alive; one whose
    // pid is gone is released.
    put_lock(&p, &record(None));
    p.kopsform(&["unlock"])
        .failure(1)
        .stderr_has("which is still running on this host");
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let mut old = record(None);
    old["pid"] = gone_pid.into();
    put_lock(&p, &old);
    p.kopsform(&["unlock"])
        .success()
        .stderr_has("(its process no longer runs on this host)");
    // A holder on another host: kopsform cannot look, and releases it saying so.
    let mut elsewhere = record(Some(start_of(pid)));
    elsewhere["host"] = "ci-runner-7".into();
    put_lock(&p, &elsewhere);
    p.kopsform(&["unlock"])
        .success()
        .stderr_has("(a run on another host, which kopsform cannot check is gone)");
    assert_eq!(lock_object(&p), None);
}

#[test]
fn a_lock_that_cannot_be_released_is_a_warning_and_exit_status_4() {
    let s3 = S3::start();
    let p = light_project(&s3);
    // `cut` takes the lock, then stops the S3 server: the lock cannot be removed.
    let run = p.kopsform(&["--yes", "cut"]);
    run.failure(4)
        .stderr_has("[cut] locked cluster sandbox.k8s.local")
        .stderr_has(&format!(
            "warning: the lock of cluster sandbox.k8s.local could not be released and is left behind (s3://kops-state-sandbox-k8s-local/{LOCK_KEY}): cannot read the lock s3://kops-state-sandbox-k8s-local/{LOCK_KEY}: "
        ))
        .stderr_has("cut   ok ");
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("kopsform: warning: the lock of cluster sandbox.k8s.local could not be released and is left behind")
            && last.ends_with(". Once the state store is reachable, release it with `kopsform unlock --cluster default`"),
        "{}",
        run.show()
    );
    assert!(!run.stderr.contains("kopsform: error:"), "{}", run.show());
}

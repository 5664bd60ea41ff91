//! Ctrl-C and SIGTERM while a child runs: the signal reaches the child's process group, the child is
//! waited for, kopsform exits 130 (143), names the interrupted task, starts nothing further and
//! releases its lock. With real Terraform applying to the s3 backend (locking on) on the local S3.

use std::time::{Duration, Instant};

use crate::support::{Project, S3, bring_up, cluster_project, require_terraform};

/// A resource whose creation runs `sleep` after writing `apply-started` to the project folder.
const SLOW_TF: &str = r#"
resource "terraform_data" "slow" {
  input = "slow"

  provisioner "local-exec" {
    command = "touch ../apply-started && sleep 60 && touch ../apply-finished"
  }
}
"#;

fn wait_for(p: &Project, rel: &str, child: &mut std::process::Child) {
    let started = Instant::now();
    while !p.exists(rel) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("kopsform ended ({status}) before {rel} appeared");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{rel} never appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: a plain kill(2) of the kopsform process this test started.
    unsafe { libc::kill(child.id() as i32, signal) };
}

#[test]
fn sigint_during_terraform_apply_stops_it_gracefully_and_releases_every_lock() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    bring_up(&p);
    p.file("2-kops/slow.tf", SLOW_TF);
    p.kopsform(&["plan"]).success();

    let mut child = p
        .command(&["--yes", "apply", "cluster-validate"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p, "apply-started", &mut child);
    // Terraform holds its lock in the s3 backend while it applies.
    assert!(
        tf_lock_objects(&p).iter().any(|k| k.ends_with(".tflock")),
        "{:?}",
        tf_lock_objects(&p)
    );
    signal(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("{stdout}\n{stderr}");

    assert_eq!(output.status.code(), Some(130), "{all}");
    // Terraform itself saw the interrupt and stopped gracefully (one interrupt, not the hard stop).
    assert!(all.contains("Interrupt received"), "{all}");
    assert!(all.contains("Gracefully shutting down"), "{all}");
    assert!(!all.contains("Two interrupts received"), "{all}");
    assert!(
        !p.exists("apply-finished"),
        "the provisioner ran to its end"
    );
    // kopsform names the task, says it waited, and starts nothing further.
    assert!(
        stderr.contains("task `apply`: interrupted by SIGINT; the running child was waited for"),
        "{stderr}"
    );
    assert!(stderr.contains("apply             interrupted"), "{stderr}");
    assert!(stderr.contains("cluster-validate  not run"), "{stderr}");
    assert!(!stderr.contains("$ kops validate"), "{stderr}");

    // Terraform released its lock and wrote its state: the state is readable and the next plan
    // runs without force-unlock.
    assert_eq!(
        tf_lock_objects(&p)
            .iter()
            .filter(|k| k.ends_with(".tflock"))
            .count(),
        0
    );
    let state = p.tool("2-kops", "terraform", &["state", "list"]);
    state.success().stdout_has("terraform_data.slow");
    // kopsform's own lock of the cluster is gone too.
    assert!(
        !crate::support::bucket_keys(&p, "kops-state-sandbox-k8s-local")
            .iter()
            .any(|k| k.starts_with(".kopsform-locks/")),
    );
    p.kopsform(&["plan"])
        .success()
        .output_lacks("Error acquiring the state lock")
        // The interrupted creation left the resource tainted: the plan replaces it.
        .stdout_has("terraform_data.slow");
}

fn tf_lock_objects(p: &Project) -> Vec<String> {
    crate::support::bucket_keys(p, "tf-state")
}

#[test]
fn sigterm_is_forwarded_and_exits_143() {
    let p = Project::new();
    p.file(
        "tasks.toml",
        r#"
[tasks.slow]
steps = [["sh", "-c", "trap 'echo term > child-saw-term; exit 1' TERM; touch started; while :; do sleep 0.1; done"]]
[tasks.after]
deps = ["slow"]
steps = [["touch", "after-ran"]]
"#,
    );
    let mut child = p
        .command(&["after"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p, "started", &mut child);
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("task `slow`: interrupted by SIGTERM"),
        "{stderr}"
    );
    assert_eq!(p.read("child-saw-term"), "term\n");
    assert!(!p.exists("after-ran"));
}

#[test]
fn a_second_ctrl_c_is_forwarded_again() {
    let p = Project::new();
    // The child, like Terraform, stops gracefully on the first interrupt and hard on the second.
    p.file(
        "tasks.toml",
        r#"
[tasks.slow]
steps = [["sh", "-c", "n=0; trap 'n=$((n+1)); echo $n >> interrupts; [ $n -ge 2 ] && exit 1' INT; touch started; while :; do sleep 0.05; done"]]
"#,
    );
    let mut child = p
        .command(&["slow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&p, "started", &mut child);
    signal(&child, libc::SIGINT);
    let started = Instant::now();
    while !p.exists("interrupts") {
        assert!(started.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still running after one: kopsform waits for its child, it does not give up on it.
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none());
    signal(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert_eq!(p.read("interrupts"), "1\n2\n");
}

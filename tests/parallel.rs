//! Parallel tasks within one cluster: independent dependencies that touch no cluster state run
//! side by side under `--jobs`; tasks that touch the cluster's state, `parallel = false` tasks and
//! the tasks named on the command line never overlap.

use crate::support::{Project, require_terraform};

/// `meet ME OTHER SECONDS`: marks ME as running, waits up to SECONDS for OTHER to be running
/// (started and not done), and logs `ME met OTHER` if it was; then it waits for OTHER to have seen
/// it too (or to be done). Two tasks met if and only if they ran at the same time.
const MEET: &str = r#"#!/bin/sh
me=$1 other=$2 tenths=$(($3 * 10))
touch "running-$me"
i=0
while [ "$i" -lt "$tenths" ]; do
  if [ -e "running-$other" ] && [ ! -e "done-$other" ]; then
    echo "$me met $other" >> met.log
    touch "met-$me"
    while [ "$i" -lt "$tenths" ] && [ ! -e "met-$other" ] && [ ! -e "done-$other" ]; do
      sleep 0.1
      i=$((i + 1))
    done
    break
  fi
  sleep 0.1
  i=$((i + 1))
done
touch "done-$me"
"#;

fn project(tasks: &str) -> Project {
    let p = Project::new();
    p.script("meet", MEET);
    p.file("tasks.toml", tasks);
    p
}

fn met(p: &Project) -> Vec<String> {
    let log = if p.exists("met.log") {
        p.read("met.log")
    } else {
        String::new()
    };
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// A check task with two independent linters that wait `seconds` for each other.
fn two_linters(seconds: u32) -> String {
    format!(
        r#"
[tasks.check]
deps = ["lint-a", "lint-b"]
steps = [["sh", "-c", "test -e done-a && test -e done-b && echo both-done"]]
[tasks.lint-a]
steps = [["./meet", "a", "b", "{seconds}"]]
[tasks.lint-b]
steps = [["./meet", "b", "a", "{seconds}"]]
"#
    )
}

#[test]
fn independent_dependencies_run_side_by_side_and_the_task_waits_for_both() {
    let p = project(&two_linters(20));
    let run = p.kopsform(&["--jobs", "2", "check"]);
    run.success()
        .stdout_has("[check] both-done")
        .stderr_has("lint-a  ok")
        .stderr_has("lint-b  ok")
        .stderr_has("check   ok");
    assert_eq!(met(&p), ["a met b", "b met a"], "{}", run.show());
}

#[test]
fn one_job_runs_the_same_tasks_one_after_another() {
    let p = project(&two_linters(1));
    p.kopsform(&["--jobs", "1", "check"])
        .success()
        .stdout_has("[check] both-done");
    assert!(met(&p).is_empty(), "{:?}", met(&p));
}

#[test]
fn tasks_that_touch_the_cluster_state_never_overlap_but_free_tasks_run_beside_them() {
    // Two kops tasks (a stand-in kops that only meets) and a linter, all independent; kops steps
    // get the cluster's name and state store from the prerequisites' outputs.
    require_terraform();
    let p = project(
        r#"
[cluster]
name = "{{cluster_name}}"
state = "s3://{{kops_s3_bucket}}"
[tools]
kops = "./kops-meet"
[tasks.all]
deps = ["k1", "k2", "lint"]
[tasks.k1]
steps = [["kops", "k1", "k2", "3"]]
[tasks.k2]
steps = [["kops", "k2", "k1", "1"]]
[tasks.lint]
steps = [["./meet", "lint", "k1", "20"]]
"#,
    );
    p.script("kops-meet", "#!/bin/sh\nexec ./meet \"$@\"\n");
    p.layer_from_recorded_outputs(
        "1-prerequisites",
        r#"{
  "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"},
  "kops_s3_bucket": {"sensitive": false, "type": "string", "value": "kops-state"}
}"#,
    );
    let run = p.kopsform(&["--jobs", "4", "all"]);
    run.success();
    assert_eq!(met(&p), ["lint met k1"], "{}", run.show());
}

#[test]
fn a_task_marked_parallel_false_runs_alone() {
    let p = project(
        r#"
[tasks.all]
deps = ["x", "y"]
[tasks.x]
parallel = false
steps = [["./meet", "x", "y", "1"]]
[tasks.y]
steps = [["./meet", "y", "x", "1"]]
"#,
    );
    p.kopsform(&["--jobs", "4", "all"]).success();
    assert!(met(&p).is_empty(), "{:?}", met(&p));
}

#[test]
fn tasks_named_on_the_command_line_run_in_the_order_named() {
    let p = project(
        r#"
[tasks.first]
steps = [["./meet", "first", "second", "1"]]
[tasks.second]
steps = [["./meet", "second", "first", "1"]]
"#,
    );
    let run = p.kopsform(&["--jobs", "4", "first", "second"]);
    run.success();
    assert!(met(&p).is_empty(), "{:?}", met(&p));
    assert!(
        run.stderr.find("first   ok") < run.stderr.find("second  ok"),
        "{}",
        run.show()
    );
}

#[test]
fn a_failure_lets_running_tasks_finish_and_starts_nothing_more() {
    let p = project(
        r#"
[tasks.all]
deps = ["bad", "slow", "after-slow"]
[tasks.bad]
steps = [["sh", "-c", "sleep 0.3; echo 'Error: lint failed' >&2; exit 4"]]
[tasks.slow]
steps = [["sh", "-c", "sleep 1; touch slow-finished"]]
[tasks.after-slow]
deps = ["slow"]
steps = [["touch", "after-slow-ran"]]
"#,
    );
    let run = p.kopsform(&["--jobs", "2", "all"]);
    run.failure(1)
        .stderr_has("task `bad`: `sh` exited with status 4:\n  Error: lint failed")
        .stderr_has("bad         failed")
        .stderr_has("slow        ok")
        .stderr_has("after-slow  not run")
        .stderr_has("all         not run");
    assert!(p.exists("slow-finished"), "{}", run.show());
    assert!(!p.exists("after-slow-ran"), "{}", run.show());
}

/// A free task after `snapshot-state` runs on a runner of its own under `--jobs`, and still sees
/// the snapshot as the cluster's state store, as it does one task at a time.
#[test]
fn a_free_task_after_a_snapshot_sees_the_snapshot() {
    require_terraform();
    let p = Project::new();
    p.copy_from_repo("examples/sandbox", "examples/sandbox");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.copy_from_repo("tests/kops-double/kops", "tests/kops-double/kops");
    p.kopsform(&[
        "-C",
        "examples/sandbox",
        "--yes",
        "prerequisites-apply",
        "cluster-update",
    ])
    .success();
    let tasks = p.read("examples/sandbox/tasks.toml");
    p.file(
        "examples/sandbox/tasks.toml",
        &format!(
            "{tasks}\n[tasks.snap]\nsteps = [{{ builtin = \"snapshot-state\", out = \"{{{{cluster.work}}}}/snap\" }}]\n[tasks.where]\ndeps = [\"snap\"]\nsteps = [[\"echo\", \"state: {{{{cluster.state}}}}\"]]\n"
        ),
    );
    let snapshot = format!(
        "[where] state: {}\n",
        p.join("examples/sandbox/.kopsform/snap").display()
    );
    for jobs in ["1", "2"] {
        p.kopsform(&["-C", "examples/sandbox", "--jobs", jobs, "where"])
            .success()
            .stdout_has(&snapshot);
    }
}

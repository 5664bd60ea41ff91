//! Issue 22, per-cluster and per-stage tool versions: each cluster runs the kops its `tools` (or
//! its stage's `[stage-tools]`) names, found as `kops-<version>` beside the `[tools]` kops or on
//! PATH, even when clusters run side by side; a version that is nowhere is refused before anything
//! runs, naming the cluster, the tool, the version and what was found. Two kops doubles that say
//! they are different versions (`KOPS_DOUBLE_VERSION`), each recording that it ran.

use crate::support::{Project, kops_double_dir};

/// A `kops-<version>` wrapper at `rel` that logs its name and arguments to `calls.log` and runs
/// the kops double as that version.
pub fn versioned_double(p: &Project, rel: &str, version: &str) {
    p.script(
        rel,
        &format!(
            "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> \"{log}\"\nKOPS_DOUBLE_VERSION={version} exec \"{double}\" \"$@\"\n",
            log = p.join("calls.log").display(),
            double = kops_double_dir().join("kops").display()
        ),
    );
}

/// Two clusters, dev (stage dev, its own kops 1.32.0) and prod (stage prod, kops 1.31.2 from
/// `[stage-tools.prod]`), and a `[tools]` kops that is the double as itself (1.36.2).
fn two_versions(prod_version: &str) -> Project {
    let mut p = Project::new();
    p.file(
        "tasks.toml",
        &format!(
            r#"
stages = ["dev", "prod"]

[clusters.dev]
name = "dev.example.com"
state = "kops-state"
dir = "dev"
stage = "dev"
tools = {{ kops = "1.32.0" }}

[clusters.prod]
name = "prod.example.com"
state = "kops-state"
dir = "prod"
stage = "prod"

[stage-tools.prod]
kops = "{prod_version}"

[tools]
kops = "bin/kops"

[tasks.which]
steps = [["kops", "version"]]
"#
        ),
    );
    std::fs::create_dir_all(p.join("1-prerequisites")).unwrap();
    p.script(
        "bin/kops",
        &format!(
            "#!/bin/sh\necho \"kops $*\" >> \"{}\"\nexec \"{}\" \"$@\"\n",
            p.join("calls.log").display(),
            kops_double_dir().join("kops").display()
        ),
    );
    // dev's beside the [tools] kops, prod's on PATH.
    versioned_double(&p, "bin/kops-1.32.0", "1.32.0");
    versioned_double(&p, "versions/kops-1.31.2", "1.31.2");
    let dir = p.join("versions");
    p.prepend_path(&dir);
    p
}

fn calls(p: &Project) -> String {
    std::fs::read_to_string(p.join("calls.log")).unwrap_or_default()
}

#[test]
fn two_clusters_pinned_to_different_kops_versions_each_run_their_own_binary() {
    let p = two_versions("1.31.2");
    let run = p.kopsform(&["--all", "--jobs", "3", "which"]);
    run.success()
        .stdout_has("[dev/which] Client version: 1.32.0 (git-v1.32.0)\n")
        .stdout_has("[prod/which] Client version: 1.31.2 (git-v1.31.2)\n");
    let calls = calls(&p);
    // The version checks before the run, then each cluster's step: never the [tools] kops.
    assert!(!calls.contains("kops version"), "{calls}");
    assert_eq!(calls.matches("kops-1.32.0 version").count(), 2, "{calls}");
    assert_eq!(calls.matches("kops-1.31.2 version").count(), 2, "{calls}");

    // One cluster alone runs its own too.
    p.kopsform(&["--cluster", "prod", "which"])
        .success()
        .stdout_has("[prod/which] Client version: 1.31.2");
}

#[test]
fn a_pinned_version_that_is_nowhere_is_refused_before_anything_runs() {
    let p = two_versions("1.33.0");
    let run = p.kopsform(&["--all", "--jobs", "3", "which"]);
    run.failure(1);
    let bin = p.join("bin");
    assert_eq!(
        run.stderr,
        format!(
            "kopsform: error: cluster `prod`: [stage-tools.prod] wants kops 1.33.0, but there is no kops 1.33.0 (looked for {bin}/kops-1.33.0 (beside the [tools] kops), kops-1.33.0 on PATH), and the [tools] kops, {bin}/kops, is kops 1.36.2; install kops 1.33.0 as kops-1.33.0 beside it or on PATH (or change the version); nothing was run\n",
            bin = bin.display()
        ),
        "{}",
        run.show()
    );
    // Only version questions were asked: not even dev's task ran.
    assert!(run.stdout.is_empty(), "{}", run.show());
    assert!(
        calls(&p).lines().all(|l| l.ends_with(" version")),
        "{}",
        calls(&p)
    );
    assert!(!p.exists("kops-state"));
}

#[test]
fn exec_runs_the_clusters_own_kops_and_refuses_a_version_that_is_nowhere() {
    let p = two_versions("1.31.2");
    let dev = p.kopsform(&["exec", "--cluster", "dev", "--", "kops", "version"]);
    dev.success();
    assert_eq!(
        dev.stdout,
        "Client version: 1.32.0 (git-v1.32.0)\n",
        "{}",
        dev.show()
    );
    let prod = p.kopsform(&["exec", "--cluster", "prod", "--", "kops", "version"]);
    prod.success();
    assert_eq!(
        prod.stdout,
        "Client version: 1.31.2 (git-v1.31.2)\n",
        "{}",
        prod.show()
    );
    assert!(!calls(&p).contains("\nkops version"), "{}", calls(&p));

    let p = two_versions("1.33.0");
    let run = p.kopsform(&["exec", "--cluster", "prod", "--", "kops", "version"]);
    run.failure(1).stderr_has(
        "kopsform: error: cluster `prod`: [stage-tools.prod] wants kops 1.33.0, but there is no kops 1.33.0",
    );
    assert!(run.stdout.is_empty(), "{}", run.show());
    assert!(
        calls(&p).lines().all(|l| l.ends_with(" version")),
        "{}",
        calls(&p)
    );
}

#[test]
fn a_versioned_binary_that_says_another_version_is_refused() {
    let p = two_versions("1.31.2");
    // kops-1.31.2 on PATH is in truth 1.30.0.
    versioned_double(&p, "versions/kops-1.31.2", "1.30.0");
    let run = p.kopsform(&["--cluster", "prod", "which"]);
    run.failure(1).stderr_has(&format!(
        "kopsform: error: cluster `prod`: [stage-tools.prod] wants kops 1.31.2, but {} is kops 1.30.0; install kops 1.31.2 there (or change the version); nothing was run\n",
        p.join("versions/kops-1.31.2").display()
    ));
}

#[test]
fn tool_versions_are_checked_when_the_file_is_read() {
    for (table, expected) in [
        (
            "[clusters.a]\nname = \"a.example.com\"\nstate = \"s\"\ntools = { kops = \"1.31\" }\n",
            "[clusters.a] tools: kops = \"1.31\" is not a version",
        ),
        (
            "[clusters.a]\nname = \"a.example.com\"\nstate = \"s\"\ntools = { kubectl = \"1.31.0\" }\n",
            "[clusters.a] tools: kubectl: only terraform, kops, aws can be given a version",
        ),
        (
            "[clusters.a]\nname = \"a.example.com\"\nstate = \"s\"\nstage = \"dev\"\n[stage-tools.prod]\nkops = \"1.31.0\"\n",
            "[stage-tools.prod]: no cluster is in stage `prod`",
        ),
        (
            "[clusters.a]\nname = \"a.example.com\"\nstate = \"s\"\n[tools]\nkops = \"tools/{version}/kops\"\n",
            "[tools] kops: the path holds `{version}` but [tools] pins no version",
        ),
    ] {
        let p = Project::new();
        p.file("tasks.toml", table);
        p.kopsform(&["list"]).failure(1).stderr_has(expected);
    }
}

#[test]
fn a_versions_folder_is_named_by_version_in_the_tools_path() {
    let p = two_versions("1.31.2");
    versioned_double(&p, "tools/kops/1.32.0/kops", "1.32.0");
    versioned_double(&p, "tools/kops/1.31.2/kops", "1.31.2");
    let text = p.read("tasks.toml").replace(
        "kops = \"bin/kops\"",
        "kops = { command = \"tools/kops/{version}/kops\", version = \"1.31.2\" }",
    );
    let text = text.replace("[stage-tools.prod]\nkops = \"1.31.2\"\n", "");
    p.file("tasks.toml", &text);
    p.kopsform(&["--all", "which"])
        .success()
        .stdout_has("[dev/which] Client version: 1.32.0")
        .stdout_has("[prod/which] Client version: 1.31.2");
}

/// The kops version each cluster's state store records (`<state>/<name>/kops-version.txt`, which
/// kops writes at `update cluster`), by cluster name, in the fleet sandbox's local state store.
fn recorded_versions(p: &Project) -> Vec<(String, String)> {
    let store = p.join("examples/sandbox/.kops-state");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&store).unwrap_or_else(|e| panic!("{}: {e}", store.display())) {
        let dir = entry.unwrap().path();
        if let Ok(text) = std::fs::read_to_string(dir.join("kops-version.txt")) {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            found.push((name, text.trim().to_string()));
        }
    }
    found.sort();
    found
}

/// The upgrade path of docs/clusters.md: dev first on the new kops, the live stage after, by the
/// staged promotion. The fleet sandbox (dev in stage dev; staging and prod in stage live), with
/// `[stage-tools.live]` holding the live clusters on kops 1.35.0 while dev's own `tools` moves to
/// 1.36.2; then the live stage's pin moves too, and `--stage live` updates them with it. Doctor
/// shows each cluster's pin, binary and recorded version, and warns before a downgrade.
#[test]
fn dev_moves_to_the_new_kops_first_and_the_live_stage_follows_by_its_pin() {
    let p = crate::clusters::fleet();
    versioned_double(&p, "tests/kops-double/kops-1.35.0", "1.35.0");
    versioned_double(&p, "tests/kops-double/kops-1.36.2", "1.36.2");
    let toml = p.read("examples/fleet/tasks.toml");
    let toml = toml
        .replacen(
            "stage = \"dev\"\n",
            "stage = \"dev\"\ntools = { kops = \"1.36.2\" }\n",
            1,
        )
        .replacen(
            "[tools]\n",
            "[stage-tools.live]\nkops = \"1.35.0\"\n\n[tools]\n",
            1,
        );
    p.file("examples/fleet/tasks.toml", &toml);

    // Everything on its own kops: dev 1.36.2, staging and prod 1.35.0.
    p.kopsform(&[
        "-C",
        "examples/fleet",
        "--all",
        "--yes",
        "prerequisites-apply",
        "cluster-update",
    ])
    .success();
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(
        recorded_versions(&p),
        [
            pair("dev.k8s.local", "1.36.2"),
            pair("prod.k8s.local", "1.35.0"),
            pair("staging.k8s.local", "1.35.0"),
        ]
    );
    let calls = calls(&p);
    assert!(
        calls.contains("kops-1.36.2 replace") && calls.contains("kops-1.35.0 replace"),
        "{calls}"
    );
    let doctor = p.kopsform(&["-C", "examples/fleet", "doctor"]);
    doctor
        .stdout_has(&format!(
            "ok    cluster dev: kops 1.36.2 ([clusters.dev] tools): {} is kops 1.36.2; the state store records kops 1.36.2 (",
            p.join("examples/fleet/../../tests/kops-double/kops-1.36.2").display()
        ))
        .stdout_has("ok    cluster prod: kops 1.35.0 ([stage-tools.live]): ")
        .stdout_has("is kops 1.35.0; the state store records kops 1.35.0 (");

    // Promotion: the live stage's pin moves to the version dev runs; the staged run updates them.
    std::fs::remove_file(p.join("calls.log")).unwrap();
    let promoted = toml.replace(
        "[stage-tools.live]\nkops = \"1.35.0\"",
        "[stage-tools.live]\nkops = \"1.36.2\"",
    );
    p.file("examples/fleet/tasks.toml", &promoted);
    p.kopsform(&[
        "-C",
        "examples/fleet",
        "--stage",
        "live",
        "--yes",
        "cluster-update",
    ])
    .success();
    assert_eq!(
        recorded_versions(&p),
        [
            pair("dev.k8s.local", "1.36.2"),
            pair("prod.k8s.local", "1.36.2"),
            pair("staging.k8s.local", "1.36.2"),
        ]
    );
    let calls = self::calls(&p);
    assert!(!calls.contains("kops-1.35.0"), "{calls}");

    // Back to the old kops for dev: doctor warns that kops would refuse the downgrade.
    let back = promoted.replacen(
        "tools = { kops = \"1.36.2\" }",
        "tools = { kops = \"1.35.0\" }",
        1,
    );
    p.file("examples/fleet/tasks.toml", &back);
    p.kopsform(&["-C", "examples/fleet", "--cluster", "dev", "doctor"])
        .stdout_has("warn  cluster dev: kops 1.35.0 ([clusters.dev] tools): ")
        .stdout_has("kops 1.35.0 refuses to update a cluster kops 1.36.2 updated last");
}

#[test]
fn doctor_blocks_on_a_clusters_version_that_is_nowhere() {
    let p = two_versions("1.33.0");
    let run = p.kopsform(&["doctor"]);
    run.failure(1)
        .stdout_has("ok    cluster dev: kops 1.32.0 ([clusters.dev] tools): ")
        .stdout_has("FAIL  cluster `prod`: [stage-tools.prod] wants kops 1.33.0, but there is no kops 1.33.0 (looked for ")
        .stdout_has("; the state store records no kops version yet (kops-state/prod.example.com/kops-version.txt: written by `kops update cluster`)");
}

/// A Cluster stored with its own `spec.configBase` keeps `kops-version.txt` there, not under
/// `<state>/<name>`: doctor reads the stored Cluster's configBase and the version from it.
#[test]
fn doctor_reads_the_kops_version_from_a_clusters_own_config_base() {
    let p = two_versions("1.31.2");
    let base = p.join("other-base/prod.example.com");
    p.file(
        "kops-state/prod.example.com/config",
        &format!(
            "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: prod.example.com\nspec:\n  configBase: {}\n",
            base.display()
        ),
    );
    // The default place holds an older record kops would not read: doctor must not either.
    p.file("kops-state/prod.example.com/kops-version.txt", "1.30.0\n");
    p.file("other-base/prod.example.com/kops-version.txt", "1.36.2\n");
    p.kopsform(&["--cluster", "prod", "doctor"])
        .stdout_has(&format!(
            "; the state store records kops 1.36.2 ({}/kops-version.txt); kops 1.31.2 refuses to update a cluster kops 1.36.2 updated last",
            base.display()
        ));
}

//! Several clusters from one repository: per-cluster values and folders, stage-by-stage promotion
//! with the clusters of a stage in parallel, held-back stages, selection errors.

use crate::support::{Project, require_terraform};

/// A copy of the fleet sandbox (examples/fleet) with what it refers to by relative path.
pub fn fleet() -> Project {
    require_terraform();
    let p = Project::new();
    p.copy_from_repo("examples/fleet", "examples/fleet");
    p.copy_from_repo("examples/sandbox", "examples/sandbox");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.copy_from_repo("tests/kops-double/kops", "tests/kops-double/kops");
    p
}

/// Where the first and the last line of `cluster` are in the output.
fn span(output: &str, cluster: &str) -> (usize, usize) {
    let tag = format!("[{cluster}/");
    let lines: Vec<usize> = output
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(&tag))
        .map(|(i, _)| i)
        .collect();
    assert!(!lines.is_empty(), "no line of {cluster}:\n{output}");
    (lines[0], *lines.last().unwrap())
}

#[test]
fn every_cluster_gets_its_own_manifest_and_terraform_dev_first() {
    let p = fleet();
    let run = p.kopsform(&[
        "-C",
        "examples/fleet",
        "--all",
        "--yes",
        "prerequisites-apply",
        "cluster-update",
        "plan",
        "apply",
    ]);
    run.success();
    for (id, machine) in [
        ("dev", "t3.medium"),
        ("staging", "m6i.large"),
        ("prod", "m6i.xlarge"),
    ] {
        let manifest = p.read(&format!("examples/fleet/clusters/{id}/cluster.yml"));
        assert!(
            manifest.contains(&format!("name: {id}.k8s.local")),
            "{manifest}"
        );
        assert!(
            manifest.contains(&format!("machineType: {machine}")),
            "{manifest}"
        );
        let tf = p.read(&format!("examples/fleet/clusters/{id}/kubernetes.tf"));
        assert!(tf.contains(&format!("{id}-k8s-local")), "{id}");
        assert!(p.exists(&format!("examples/fleet/clusters/{id}/terraform.tfstate")));
        // One summary row per cluster and task.
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with(id) && l.contains("apply") && l.contains(" ok ")),
            "{}",
            run.stderr
        );
    }
    // dev (stage dev) finished before staging and prod (stage live) started.
    let all = format!("{}\n{}", run.stdout, run.stderr);
    let (_, dev_last) = span(&run.stderr, "dev");
    let (staging_first, _) = span(&run.stderr, "staging");
    let (prod_first, _) = span(&run.stderr, "prod");
    assert!(dev_last < staging_first && dev_last < prod_first, "{all}");
    run.stderr_has("CLUSTER  TASK");

    // --stage selects by stage; each cluster's lines carry its id.
    let run = p.kopsform(&[
        "-C",
        "examples/fleet",
        "--stage",
        "live",
        "cluster-template",
    ]);
    run.success()
        .stderr_has("[staging/cluster-template] up to date")
        .stderr_has("[prod/cluster-template] up to date");
    assert!(!run.stderr.contains("[dev/"), "{}", run.stderr);
}

#[test]
fn a_failure_in_dev_holds_the_later_stage_back_unless_keep_going() {
    let p = fleet();
    p.kopsform(&[
        "-C",
        "examples/fleet",
        "--all",
        "--yes",
        "prerequisites-apply",
    ])
    .success();
    // dev's values are broken: its first task that needs values fails.
    p.file("examples/fleet/values/dev.yaml", "- not a mapping\n");
    let run = p.kopsform(&["-C", "examples/fleet", "--all", "cluster-template"]);
    run.failure(1)
        .stderr_has("a values file must hold a mapping")
        .stderr_has("held back (not started): staging, prod");
    assert!(
        run.stderr.lines().any(|l| l.starts_with("staging")
            && l.contains("held back")
            && l.contains("stage `dev` failed: dev")),
        "{}",
        run.stderr
    );
    assert!(!p.exists("examples/fleet/clusters/staging/cluster.yml"));
    assert!(!p.exists("examples/fleet/clusters/prod/cluster.yml"));

    let run = p.kopsform(&[
        "-C",
        "examples/fleet",
        "--all",
        "--keep-going",
        "cluster-template",
    ]);
    run.failure(1);
    assert!(p.exists("examples/fleet/clusters/staging/cluster.yml"));
    assert!(p.exists("examples/fleet/clusters/prod/cluster.yml"));
    assert!(!run.stderr.contains("held back"), "{}", run.stderr);
}

#[test]
fn a_run_on_several_clusters_needs_a_selection() {
    let p = fleet();
    p.kopsform(&["-C", "examples/fleet", "cluster-template"])
        .failure(1)
        .stderr_has("this project has 3 clusters (dev, staging, prod); choose with --cluster ID, --stage NAME or --all");
    p.kopsform(&[
        "-C",
        "examples/fleet",
        "--cluster",
        "prd",
        "cluster-template",
    ])
    .failure(1)
    .stderr_has("no cluster `prd`")
    .stderr_has("did you mean `prod`?");
    p.kopsform(&["-C", "examples/fleet", "--stage", "qa", "cluster-template"])
        .failure(1)
        .stderr_has("no cluster is in stage `qa` (stages: dev, live)");
    // Two clusters writing the same folder is a configuration error.
    let tasks = p.read("examples/fleet/tasks.toml");
    p.file(
        "examples/fleet/tasks.toml",
        &tasks.replace("dir = \"clusters/prod\"", "dir = \"clusters/staging\""),
    );
    p.kopsform(&["-C", "examples/fleet", "--all", "cluster-template"])
        .failure(1)
        .stderr_has("clusters `staging` and `prod` both use the folder `clusters/staging`");
}

/// The sandbox with a kops that logs each invocation and can claim another version.
fn counting_sandbox() -> Project {
    let p = fleet();
    p.script(
        "bin/kops",
        "#!/bin/sh\necho \"$*\" >> \"$KOPS_LOG\"\nif [ \"$1\" = version ] && [ -n \"$FAKE_KOPS_VERSION\" ]; then echo \"Client version: $FAKE_KOPS_VERSION\"; exit 0; fi\nexec \"$(dirname \"$0\")/../tests/kops-double/kops\" \"$@\"\n",
    );
    let tasks = p.read("examples/sandbox/tasks.toml");
    p.file(
        "examples/sandbox/tasks.toml",
        &tasks
            .replace(
                "kops = \"../../tests/kops-double/kops\"",
                "kops = \"../../bin/kops\"",
            )
            .replace(
                "state = \"{{kops_state_store}}\"\n",
                "state = \"{{kops_state_store}}\"\nvalues = [\"values.yaml\"]\n",
            ),
    );
    p.file("examples/sandbox/values.yaml", "{}\n");
    p
}

fn kops_calls(p: &Project) -> Vec<String> {
    std::fs::read_to_string(p.join("kops.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("version"))
        .map(str::to_string)
        .collect()
}

#[test]
fn an_unchanged_cluster_update_starts_no_kops() {
    let mut p = counting_sandbox();
    let log = p.join("kops.log").display().to_string();
    p.env("KOPS_LOG", &log);
    let update = |p: &Project| {
        let _ = std::fs::remove_file(p.join("kops.log"));
        let run = p.kopsform(&["-C", "examples/sandbox", "--yes", "cluster-update"]);
        run.success();
        (run.stderr.clone(), kops_calls(p))
    };
    p.kopsform(&["-C", "examples/sandbox", "--yes", "prerequisites-apply"])
        .success();
    let (_, calls) = update(&p);
    assert_eq!(calls.len(), 2, "{calls:?}");

    // Nothing changed: both tasks up to date, no kops process, not even `kops version` (the
    // version is kept while the executable is the same file).
    let (stderr, calls) = update(&p);
    assert!(calls.is_empty(), "{calls:?}");
    let log = std::fs::read_to_string(p.join("kops.log")).unwrap_or_default();
    assert_eq!(log, "", "no kops process at all");
    assert!(stderr.contains("[cluster-template] up to date"), "{stderr}");
    assert!(stderr.contains("[cluster-update] up to date"), "{stderr}");
    assert!(stderr.contains("up to date   "), "{stderr}");

    // A value changes: the manifest and the update run again.
    let (stderr, calls) = {
        let _ = std::fs::remove_file(p.join("kops.log"));
        let run = p.kopsform(&[
            "-C",
            "examples/sandbox",
            "--yes",
            "cluster-update",
            "--set",
            "kops_worker_machine_type=m6i.4xlarge",
        ]);
        run.success();
        (run.stderr.clone(), kops_calls(&p))
    };
    assert_eq!(calls.len(), 2, "{calls:?}\n{stderr}");
    // Back to the old value: cluster.yml changes back, so both run again.
    assert_eq!(update(&p).1.len(), 2);
    assert!(update(&p).1.is_empty());

    // A values file changes.
    p.file(
        "examples/sandbox/values.yaml",
        "kops_worker_machine_max_size: 9\n",
    );
    assert_eq!(update(&p).1.len(), 2);
    assert!(update(&p).1.is_empty());

    // The template changes.
    let template = p.read("2-kops/cluster-template.yml");
    p.file(
        "2-kops/cluster-template.yml",
        &template.replace(
            "anonymousAuth: false",
            "anonymousAuth: false\n    maxPods: 100",
        ),
    );
    assert_eq!(update(&p).1.len(), 2);
    assert!(update(&p).1.is_empty());

    // Another kops version: another executable installed in its place (kopsform keeps the
    // version a tool reported while its executable stays the same file).
    p.env("FAKE_KOPS_VERSION", "1.35.0");
    let wrapper = p.join("bin/kops");
    let mut text = std::fs::read_to_string(&wrapper).unwrap();
    text.push_str("# reinstalled\n");
    std::fs::write(&wrapper, text).unwrap();
    let (stderr, calls) = update(&p);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        stderr.contains(
            "[cluster-update] runs: its sources, arguments, values or tool versions changed"
        ),
        "{stderr}"
    );
    assert!(update(&p).1.is_empty());

    // The environment kops reads changes what it writes (issue 17, mismatch 7): a feature flag
    // set after an up-to-date run makes cluster-update run again, and the line says which.
    p.env("KOPS_FEATURE_FLAGS", "-TerraformManagedFiles");
    let (stderr, calls) = update(&p);
    assert_eq!(calls.len(), 2, "kops replace and update: {calls:?}");
    assert!(
        stderr.contains("[cluster-update] runs: the environment kops reads changed: KOPS_FEATURE_FLAGS (pkg/featureflag/featureflag.go)\n"),
        "{stderr}"
    );
    assert!(stderr.contains("[cluster-template] up to date"), "{stderr}");
    assert!(update(&p).1.is_empty());
    p.env("KOPS_FEATURE_FLAGS", "");
    assert_eq!(update(&p).1.len(), 2);
    // KOPS_BASE_URL moves nodeup (kops: pkg/nodemodel/wellknownassets/kopsassets.go): the user
    // data kops writes names it.
    p.env("KOPS_BASE_URL", "https://mirror.example.com/kops/1.34.1/");
    let (stderr, calls) = update(&p);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        stderr
            .contains("[cluster-update] runs: the environment kops reads changed: KOPS_BASE_URL ("),
        "{stderr}"
    );
    let data = p.join("examples/sandbox/2-kops/data");
    let user_data = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_user_data"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(
        user_data
            .contains("NODEUP_URL_AMD64=https://mirror.example.com/kops/1.34.1/linux/amd64/nodeup"),
        "{user_data}"
    );
    p.env("KOPS_BASE_URL", "");
    assert_eq!(update(&p).1.len(), 2);

    // A generated file deleted.
    std::fs::remove_file(p.join("examples/sandbox/2-kops/kubernetes.tf")).unwrap();
    let (stderr, calls) = update(&p);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        stderr.contains("[cluster-update] runs: {{cluster.dir}}/kubernetes.tf is missing")
            || stderr.contains("[cluster-update] runs: 2-kops/kubernetes.tf is missing"),
        "{stderr}"
    );

    // The spec in the state store changed behind kopsform's back; --force always runs.
    let config = p.join("examples/sandbox/.kops-state/sandbox.k8s.local/config");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n")).unwrap();
    let (stderr, calls) = update(&p);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        stderr.contains("the cluster's spec in the state store changed"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(p.join("kops.log"));
    p.kopsform(&[
        "-C",
        "examples/sandbox",
        "--yes",
        "--force",
        "cluster-update",
    ])
    .success();
    assert_eq!(kops_calls(&p).len(), 2);
}

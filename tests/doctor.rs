//! `kopsform doctor`: the real binary with the real terraform, the kops double, the aws CLI and
//! moto_server; fake tools (scripts) for versions out of range, unreadable versions and counting
//! how often a tool is asked its version.

use crate::support::{
    Project, Run, S3, bucket_keys, cluster_project, files, kops_double_dir, require,
    require_terraform,
};

/// Variables of the machine running the tests that would change what doctor finds.
const HOST_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "S3_ENDPOINT",
    "KOPS_RUN_TOO_NEW_VERSION",
    "KOPS_STATE_STORE",
];

/// `kopsform ARGS` in the project, with only the project's own AWS and kops variables.
fn doctor(p: &Project, args: &[&str]) -> Run {
    p.kopsform_without(HOST_VARIABLES, args)
}

/// A project whose one task runs kops on a local state store (no values, so no terraform).
fn kops_project(state: &str, tools: &str) -> Project {
    let p = Project::new();
    p.file(
        "tasks.toml",
        &format!(
            r#"
[cluster]
name = "k.example.com"
state = "{state}"

[tools]
{tools}

[tasks.cluster-update]
steps = [["kops", "update", "cluster", "--name", "k.example.com", "--state", "{state}", "--target", "terraform", "--out", "2-kops"]]
"#
        ),
    );
    p
}

fn manifest(version: &str) -> String {
    format!(
        "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: k.example.com\nspec:\n  kubernetesVersion: {version}\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes\n  labels:\n    kops.k8s.io/cluster: k.example.com\nspec:\n  role: Node\n"
    )
}

/// The line of the report that starts with `start`.
fn line<'a>(run: &'a Run, start: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?}\n{}", run.show()))
}

/// The names of the checks of a `--json` report, in order.
fn check_names(report: &serde_json::Value) -> Vec<&str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

/// Parses `--json` output and checks it says what the text report says.
fn json_matches_text(json: &Run, text: &Run) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_str(&json.stdout)
        .unwrap_or_else(|e| panic!("--json is not JSON: {e}\n{}", json.show()));
    let checks = report["checks"].as_array().expect("checks");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), checks.len() + 1, "{}", text.show());
    for (check, line) in checks.iter().zip(&lines) {
        let status = check["status"].as_str().expect("status");
        assert!(["ok", "note", "warn", "fail"].contains(&status), "{check}");
        let label = if status == "fail" { "FAIL" } else { status };
        assert_eq!(
            format!("{label:<6}{}", check["detail"].as_str().expect("detail")),
            *line
        );
        assert!(check["name"].as_str().is_some_and(|n| !n.is_empty()));
    }
    assert_eq!(
        format!("verdict: {}", report["verdict"].as_str().expect("verdict")),
        *lines.last().expect("a verdict line")
    );
    assert_eq!(report["blocking"], serde_json::json!(text.code == 1));
    assert_eq!(json.code, text.code);
    report
}

#[test]
fn a_ready_project_passes_with_the_real_tools_and_writes_nothing() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    p.kopsform(&["--yes", "prerequisites-apply"]).success();
    let before = files(p.path());
    let state_keys = bucket_keys(&p, "kops-state-sandbox-k8s-local");
    let tf_keys = bucket_keys(&p, "tf-state");

    let run = doctor(&p, &["doctor"]);
    run.success()
        .stdout_has("ok    terraform ")
        .stdout_has("ok    kops 1.36.2 (supported: >= 1.28, < 2)\n")
        .stdout_has("ok    kubernetes 1.33.4 with kops 1.36.2 (supported: 1.31 to 1.36)")
        .stdout_has(
            "ok    AWS credentials: the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n",
        )
        .stdout_has(
            "ok    state store s3://kops-state-sandbox-k8s-local can be listed (read-only check)\n",
        )
        .stdout_has("verdict: ready")
        .output_lacks("testing-secret-key");
    assert!(line(&run, "ok    terraform ").ends_with("(supported: >= 1.5, < 2)"));
    // The aws CLI of the bench may be version 1 (pip's awscli): a warning, never a block.
    let aws = run
        .stdout
        .lines()
        .find(|l| l.contains("aws-cli "))
        .unwrap_or_else(|| panic!("no aws-cli line\n{}", run.show()));
    assert!(
        aws.starts_with("ok    ") || aws.starts_with("warn  "),
        "{aws}"
    );

    let json = doctor(&p, &["doctor", "--json"]);
    json.success();
    let report = json_matches_text(&json, &run);
    let names = check_names(&report);
    assert_eq!(
        names,
        [
            "terraform",
            "kops",
            "aws",
            "kubernetes-version",
            "template",
            "aws-credentials",
            "state-store"
        ]
    );
    assert_eq!(report["blocking"], false);

    // Only reads: no file, no lock, no object.
    assert_eq!(
        files(p.path()),
        before,
        "doctor changed the project's files"
    );
    assert_eq!(bucket_keys(&p, "kops-state-sandbox-k8s-local"), state_keys);
    assert_eq!(bucket_keys(&p, "tf-state"), tf_keys);
}

#[test]
fn a_missing_tool_blocks() {
    let p = kops_project("kops-state", r#"kops = "./no-such-kops""#);
    let before = files(p.path());
    let run = doctor(&p, &["doctor"]);
    run.failure(1)
        .stdout_has("FAIL  kops: `")
        .stdout_has("no-such-kops` not found on PATH or not executable ([tools] kops = \"./no-such-kops\"), needed by task cluster-update; install kops 1.28 or later, or set its path in the [tools] table of tasks.toml")
        .stdout_has("verdict: 1 problem blocks (kops)");
    assert_eq!(run.stderr, "", "{}", run.show());
    // Without a kops version there is no skew to judge.
    assert!(!run.stdout.contains("kubernetes"), "{}", run.show());

    let json = doctor(&p, &["doctor", "--json"]);
    let report = json_matches_text(&json, &run);
    assert_eq!(report["blocking"], true);
    assert_eq!(report["checks"][0]["name"], "kops");
    assert_eq!(report["checks"][0]["status"], "fail");
    assert_eq!(files(p.path()), before);
}

#[test]
fn a_version_out_of_range_or_unreadable_blocks_and_says_what_to_do() {
    let p = kops_project("kops-state", r#"kops = "./old-kops""#);
    p.script(
        "old-kops",
        "#!/bin/sh\necho 'Client version: 1.25.0 (git-v1.25.0)'\n",
    );
    doctor(&p, &["doctor"])
        .failure(1)
        .stdout_has("FAIL  kops 1.25.0 is older than 1.28; install kops 1.28 or later\n")
        .stdout_has("verdict: 1 problem blocks (kops)");

    p.script("old-kops", "#!/bin/sh\necho 'kops, some version'\n");
    doctor(&p, &["doctor"]).failure(1).stdout_has(
        "FAIL  kops: `kops version` printed no version kopsform can read: \"kops, some version\"",
    );

    p.script(
        "old-kops",
        "#!/bin/sh\necho 'Error: broken install' >&2\nexit 3\n",
    );
    doctor(&p, &["doctor"])
        .failure(1)
        .stdout_has("failed with status 3: Error: broken install; check its installation");

    // terraform 2 is outside the range too; an OpenTofu binary is judged as OpenTofu.
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[tools]\nterraform = \"./bin/tofu\"\n\n[tasks.plan]\nsteps = [[\"terraform\", \"plan\"]]\n",
    );
    p.script(
        "bin/tofu",
        "#!/bin/sh\necho '{\"terraform_version\": \"1.5.3\", \"platform\": \"linux_amd64\"}'\n",
    );
    doctor(&p, &["doctor"])
        .failure(1)
        .stdout_has("FAIL  tofu 1.5.3 is older than 1.6; install tofu 1.6 or later\n");
}

#[test]
fn kubernetes_newer_than_kops_blocks_unless_kops_is_told_to_run_anyway() {
    let mut p = kops_project("kops-state", "");
    p.file("2-kops/cluster.yml", &manifest("1.37.2"));
    let run = doctor(&p, &["doctor"]);
    run.failure(1)
        .stdout_has("ok    kops 1.36.2 (supported: >= 1.28, < 2)\n")
        .stdout_has("FAIL  kubernetes 1.37.2 is newer than kops 1.36.2 supports (1.31 to 1.36); install kops 1.37 or later, or lower kubernetesVersion (kops refuses 1.37.2 and later with `kops upgrade is required` unless KOPS_RUN_TOO_NEW_VERSION is set) [2-kops/cluster.yml]\n")
        .stdout_has("[2-kops/cluster.yml]")
        .stdout_has("verdict: 1 problem blocks (kubernetes-version)");

    p.env("KOPS_RUN_TOO_NEW_VERSION", "1");
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("warn  kubernetes 1.37.2 is newer than kops 1.36.2 supports (1.31 to 1.36); KOPS_RUN_TOO_NEW_VERSION is set");
    p.env("KOPS_RUN_TOO_NEW_VERSION", "");

    // Older than kops still runs: a block; older than it recommends: a warning.
    p.file("2-kops/cluster.yml", &manifest("1.30.9"));
    doctor(&p, &["doctor"])
        .failure(1)
        .stdout_has("FAIL  kubernetes 1.30.9 is no longer supported by kops 1.36.2 (oldest: 1.31)");
    p.file("2-kops/cluster.yml", &manifest("\"1.32.4\""));
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("warn  kubernetes 1.32.4: kops 1.36.2 deprecates Kubernetes older than 1.33");

    // Not rendered yet, and the template's version is an expression over outputs that cannot be
    // read (no prerequisites layer): a note, not a block.
    std::fs::remove_file(p.join("2-kops/cluster.yml")).unwrap();
    p.file(
        "2-kops/cluster-template.yml",
        "kind: Cluster\nspec:\n  kubernetesVersion: \"{{kubernetes_version}}\"\n",
    );
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("note  kubernetes version: `{{kubernetes_version}}` in 2-kops/cluster-template.yml is unknown until rendered");
    // A literal version in the template is compared.
    p.file(
        "2-kops/cluster-template.yml",
        "kind: Cluster\nspec:\n  kubernetesVersion: 1.38.1 # next\n",
    );
    doctor(&p, &["doctor"])
        .failure(1)
        .stdout_has("FAIL  kubernetes 1.38.1 is newer than kops 1.36.2")
        .stdout_has("[2-kops/cluster-template.yml]");
}

/// A manifest kops can render: one control-plane group, one node group, a subnet.
fn renderable_manifest(version: &str) -> String {
    format!(
        "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: k.example.com\nspec:\n  cloudProvider: aws\n  kubernetesVersion: {version}\n  networkCIDR: 172.20.0.0/16\n  subnets:\n  - name: us-east-1a\n    zone: us-east-1a\n    cidr: 172.20.32.0/19\n    type: Public\n  etcdClusters:\n  - name: main\n    etcdMembers:\n    - name: a\n      instanceGroup: control-plane-us-east-1a\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: control-plane-us-east-1a\n  labels:\n    kops.k8s.io/cluster: k.example.com\nspec:\n  role: ControlPlane\n  subnets: [us-east-1a]\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes\n  labels:\n    kops.k8s.io/cluster: k.example.com\nspec:\n  role: Node\n  subnets: [us-east-1a]\n"
    )
}

/// Doctor refuses exactly what kops refuses (issue 17, item 5): for Kubernetes versions around
/// each of kops 1.36.2's limits, `kops update cluster` (the double, which answers as kops
/// v1.36.2) fails exactly when doctor's kubernetes-version line is a FAIL; with
/// KOPS_RUN_TOO_NEW_VERSION only the too-old ones fail in both.
#[test]
fn doctor_refuses_exactly_the_kubernetes_versions_kops_refuses() {
    let mut p = kops_project("kops-state", "");
    let cases = [
        // (version, kops's error without KOPS_RUN_TOO_NEW_VERSION, doctor's status)
        ("1.30.9", Some("kubernetes upgrade is required"), "FAIL"),
        ("1.31.0", None, "warn"),
        ("1.32.13", None, "warn"),
        ("1.33.0", None, "ok"),
        ("v1.35.5", None, "ok"),
        ("1.36.9", None, "ok"),
        // newer than kops's minor, below 1.37.2 (minor + 1, kops's own patch): kops says nothing
        ("1.37.0", None, "warn"),
        ("1.37.1", None, "warn"),
        ("1.37.2", Some("kops upgrade is required"), "FAIL"),
        ("1.37.2-rc.1", Some("kops upgrade is required"), "FAIL"),
        ("1.38.0", Some("kops upgrade is required"), "FAIL"),
    ];
    for bypass in [false, true] {
        p.env("KOPS_RUN_TOO_NEW_VERSION", if bypass { "1" } else { "" });
        for (version, refusal, status) in cases {
            let refusal = refusal.filter(|r| !bypass || *r != "kops upgrade is required");
            let status = if bypass && status == "FAIL" && refusal.is_none() {
                "warn"
            } else {
                status
            };
            p.file("2-kops/cluster.yml", &renderable_manifest(version));
            p.tool(
                ".",
                "kops",
                &[
                    "replace",
                    "--force",
                    "-f",
                    "2-kops/cluster.yml",
                    "--state",
                    "kops-state",
                ],
            )
            .success();
            let kops = p.tool(
                ".",
                "kops",
                &[
                    "update",
                    "cluster",
                    "--name",
                    "k.example.com",
                    "--state",
                    "kops-state",
                    "--target",
                    "terraform",
                    "--out",
                    "out",
                    "--create-kube-config=false",
                ],
            );
            match refusal {
                Some(error) => {
                    kops.failure(1).stderr_has(&format!("Error: {error}\n"));
                }
                None => {
                    kops.success();
                }
            }
            let run = doctor(&p, &["doctor"]);
            let line = line(&run, &format!("{status:<6}kubernetes {version}"));
            assert!(line.ends_with("[2-kops/cluster.yml]"), "{}", run.show());
            assert_eq!(
                run.code,
                if status == "FAIL" { 1 } else { 0 },
                "{}",
                run.show()
            );
        }
    }
}

#[test]
fn credentials_are_named_by_source_and_never_printed() {
    const KEY_ID: &str = "AKIAC4N4RYD0CT0R0001";
    const SECRET: &str = "c4n4ry-d0ct0r-secret-7e1f";
    let mut p = kops_project("kops-state", "");
    p.env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    for args in [&["doctor"][..], &["doctor", "--json"]] {
        doctor(&p, args)
            .success()
            .stdout_has("AWS credentials: the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            .output_lacks(SECRET)
            .output_lacks(KEY_ID);
    }

    // A secret key without its key id: named, still not printed.
    let mut p = kops_project("kops-state", "");
    p.env("AWS_SECRET_ACCESS_KEY", SECRET);
    doctor(&p, &["doctor"])
        .success()
        .stdout_has(
            "warn  AWS credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
        )
        .output_lacks(SECRET);

    // The default profile of ~/.aws/credentials (HOME is the project folder).
    let mut p = kops_project("kops-state", "");
    p.file(
        ".aws/credentials",
        &format!("[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
    );
    doctor(&p, &["doctor", "--json"])
        .success()
        .stdout_has("AWS credentials: the default profile in ~/.aws/credentials")
        .output_lacks(SECRET)
        .output_lacks(KEY_ID);
    p.env("AWS_PROFILE", "ops");
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("warn  AWS credentials: AWS_PROFILE names the profile `ops`, which is in neither ~/.aws/credentials nor ~/.aws/config");
    p.file(".aws/config", "[profile ops]\nregion = eu-west-1\n");
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("ok    AWS credentials: the profile `ops` (AWS_PROFILE) in ~/.aws/config\n");

    // None at all: a warning with a local state store...
    let p = kops_project("kops-state", "");
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("warn  AWS credentials: none found");
    // ...a block with an s3:// one (the listing fails fast on a closed loopback port).
    require("aws", "pip install awscli");
    let mut p = kops_project("s3://kops-state-doctor", "");
    p.env("S3_ENDPOINT", &closed_endpoint())
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    doctor(&p, &["doctor"])
        .failure(1)
        .stdout_has("FAIL  AWS credentials: none found")
        .stdout_has("export AWS_PROFILE");
}

/// An endpoint on a loopback port nothing listens on.
fn closed_endpoint() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn an_unreachable_state_store_blocks() {
    require("aws", "pip install awscli");
    let mut p = kops_project("s3://kops-state-doctor/clusters", "");
    p.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_ENDPOINT", &closed_endpoint())
        // One attempt: the aws CLI's own retries would make the test slow.
        .env("AWS_MAX_ATTEMPTS", "1");
    let started = std::time::Instant::now();
    let run = doctor(&p, &["doctor"]);
    run.failure(1)
        .stdout_has("FAIL  state store s3://kops-state-doctor/clusters: `aws s3api list-objects-v2` failed with status ")
        .stdout_has("check that the bucket exists")
        .stdout_has("problem blocks (state-store)")
        .output_lacks("testing-secret-key");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let json = doctor(&p, &["doctor", "--json"]);
    let report = json_matches_text(&json, &run);
    let store = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "state-store")
        .expect("a state-store check");
    assert_eq!(store["status"], "fail");

    // A local store: there, or creatable; but real kops cannot render its managed files into
    // Terraform from one (issue 17, mismatch 4), unless TerraformManagedFiles is off.
    let mut p = kops_project("kops-state", "");
    doctor(&p, &["doctor"])
        .success()
        .stdout_has(&format!("warn  state store kops-state does not exist yet; kops creates it ({} is writable); but real kops cannot use a local state store with `kops update cluster --target terraform` (task `cluster-update`): its configBase (`<state>/<cluster>` unless spec.configBase names another place) holds the managed files, which kops renders into Terraform only for a path that can render there, s3:// (kops 1.36: upup/pkg/fi/fitasks/managedfile.go, `RenderTerraform`), so kops retries for 10 minutes and fails, after writing keys and secrets; use an s3:// state store (or spec.configBase), or KOPS_FEATURE_FLAGS=-TerraformManagedFiles, with which kops writes the files itself (the kops double of the tests allows it unless KOPS_DOUBLE_STRICT=1)\n", p.path().display()));
    std::fs::create_dir(p.join("kops-state")).unwrap();
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("warn  state store kops-state exists; but real kops cannot use a local state store with `kops update cluster --target terraform` (task `cluster-update`)");
    p.env("KOPS_FEATURE_FLAGS", "+Foo,-TerraformManagedFiles");
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("ok    state store kops-state exists\n");
    p.env("KOPS_FEATURE_FLAGS", "");
    p.file(
        "tasks.toml",
        &p.read("tasks.toml")
            .replace("--target\", \"terraform", "--target\", \"direct"),
    );
    doctor(&p, &["doctor"])
        .success()
        .stdout_has("ok    state store kops-state exists\n");
    let p2 = kops_project("not-a-folder", "");
    p2.file("not-a-folder", "x");
    doctor(&p2, &["doctor"])
        .failure(1)
        .stdout_has("is not a folder");
}

#[test]
fn each_tool_is_asked_its_version_once_per_run() {
    require_terraform();
    let p = Project::new();
    // Wrappers that log each call, then run the real tool (the kops double, terraform).
    p.script(
        "counting-kops",
        &format!(
            "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/kops-calls.log\"\nexec {}/kops \"$@\"\n",
            kops_double_dir().display()
        ),
    );
    p.script(
        "counting-terraform",
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/terraform-calls.log\"\nexec terraform \"$@\"\n",
    );
    p.file(
        "tasks.toml",
        r#"
[tools]
kops = "./counting-kops"
terraform = "./counting-terraform"

[clusters.a]
name = "a.example.com"
state = "kops-state"
dir = "a"

[clusters.b]
name = "b.example.com"
state = "kops-state"
dir = "b"

[tasks.cluster-template]
steps = [{ render = "template.yml", out = "{{cluster.dir}}/cluster.yml" }]

[tasks.cluster-update]
steps = [
  ["kops", "replace", "-f", "{{cluster.dir}}/cluster.yml", "--state", "kops-state"],
  ["./counting-kops", "update", "cluster", "--state", "kops-state"],
]

[tasks.validate]
steps = [["kops", "validate", "cluster", "--state", "kops-state"], ["terraform", "validate"]]
"#,
    );
    p.file("a/cluster.yml", &manifest("1.33.0"));
    p.file("b/cluster.yml", &manifest("1.34.1"));
    let run = doctor(&p, &["--all", "doctor"]);
    run.success()
        .stdout_has("ok    kubernetes 1.33.0 with kops 1.36.2")
        .stdout_has("ok    kubernetes 1.34.1 with kops 1.36.2")
        .stdout_has("ok    state store kops-state");
    assert_eq!(p.read("kops-calls.log"), "version\n", "{}", run.show());
    assert_eq!(
        p.read("terraform-calls.log"),
        "version -json\n",
        "{}",
        run.show()
    );
    let json = doctor(&p, &["doctor", "--json"]);
    let report = json_matches_text(&json, &run);
    let names = check_names(&report);
    assert_eq!(
        names,
        [
            "terraform",
            "kops",
            "kubernetes-version:a",
            "kubernetes-version:b",
            "aws-credentials",
            "state-store:a",
            "state-store:b"
        ]
    );
    // One more call per tool for the second run.
    assert_eq!(p.read("kops-calls.log"), "version\nversion\n");

    // --cluster narrows the clusters.
    let one = doctor(&p, &["doctor", "--cluster", "b"]);
    one.success();
    assert!(!one.stdout.contains("kubernetes 1.33.0"), "{}", one.show());
}

/// Issue 18: doctor renders each cluster's template with its values and runs the manifest check,
/// as the task that renders it would; a template that does not parse or render, or renders what
/// kops would refuse, blocks, and doctor never blames the prerequisites for it.
#[test]
fn a_template_that_does_not_render_blocks() {
    require_terraform();
    let p = kops_project("kops-state", "");
    p.layer_from_recorded_outputs(
        "1-prerequisites",
        r#"{"kubernetes_version": {"sensitive": false, "type": "string", "value": "1.33.4"}}"#,
    );
    let good = manifest("\"{{kubernetes_version}}\"");
    p.file("2-kops/cluster-template.yml", &good);
    let run = doctor(&p, &["doctor"]);
    run.success().stdout_has("verdict: ready");
    assert_eq!(
        line(&run, "ok    template"),
        "ok    template 2-kops/cluster-template.yml renders: Cluster k.example.com, InstanceGroup nodes"
    );

    for (template, want) in [
        (
            good.replace(
                "  role: Node\n",
                "  role: Node\n{{#if kubernetes_version}}\n",
            ),
            "FAIL  template does not render: 2-kops/cluster-template.yml:",
        ),
        (
            good.replace("{{kubernetes_version}}", "{{kubernetes_versio}}"),
            "FAIL  template does not render: 2-kops/cluster-template.yml:6:23: missing value `kubernetes_versio`; did you mean `kubernetes_version`?",
        ),
        (
            good.replace("kind: InstanceGroup", "kind: InstanceGroups"),
            "FAIL  template renders what kops would refuse: 2-kops/cluster-template.yml (rendered):9: kind `InstanceGroups` is not one kops replace accepts; use Cluster, InstanceGroup or SSHCredential",
        ),
    ] {
        p.file("2-kops/cluster-template.yml", &template);
        let run = doctor(&p, &["doctor"]);
        run.failure(1)
            .stdout_has("verdict: 1 problem blocks (template)")
            .output_lacks("apply the prerequisites");
        assert!(
            line(&run, "FAIL  template").starts_with(want),
            "{}",
            run.show()
        );
    }
}

#[test]
fn tool_versions_are_asked_with_the_projects_env() {
    // A version manager (tfenv, a team's wrapper) picks the binary from a variable that
    // tasks.toml's [env] sets: doctor asks with it, as the runs do.
    let p = kops_project("kops-state", r#"kops = "./bin/kops""#);
    p.script(
        "bin/kops",
        "#!/bin/sh\nif [ -z \"$KOPS_PIN\" ]; then echo 'kops-wrapper: no KOPS_PIN, no kops chosen' >&2; exit 1; fi\necho \"Client version: $KOPS_PIN\"\n",
    );
    doctor(&p, &["doctor"]).failure(1).stdout_has(&format!(
        "FAIL  kops: `{} version` failed with status 1: kops-wrapper: no KOPS_PIN, no kops chosen; check its installation, or fix [tools] in tasks.toml\n",
        p.join("bin/kops").display()
    ));
    let tasks = p.read("tasks.toml");
    p.file(
        "tasks.toml",
        &format!("[env]\nKOPS_PIN = \"1.25.0\"\n{tasks}"),
    );
    doctor(&p, &["doctor"])
        .failure(1)
        .stdout_has("FAIL  kops 1.25.0 is older than 1.28; install kops 1.28 or later\n");
    // The cluster's own env wins over [env], for its kubernetes-version check as for the tools.
    p.file(
        "tasks.toml",
        &format!(
            "[env]\nKOPS_PIN = \"1.25.0\"\n{}",
            tasks.replace(
                "state = \"kops-state\"\n",
                "state = \"kops-state\"\nenv = { KOPS_PIN = \"1.34.1\" }\n"
            )
        ),
    );
    let run = doctor(&p, &["doctor"]);
    assert_eq!(
        line(&run, "ok    kops "),
        "ok    kops 1.34.1 (supported: >= 1.28, < 2)"
    );
}

/// Issue 20: each `[tools]` pin is checked, also where no task names the tool, and a binary of
/// another version blocks, naming the pin, the version found and the binary.
#[test]
fn doctor_lists_the_pins_and_blocks_on_a_mismatch() {
    require_terraform();
    const NO_CREDENTIALS: &str = "warn  AWS credentials: none found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, a default profile in ~/.aws/credentials or ~/.aws/config); no task needs them for an s3:// state store\n";
    let mut p = Project::new();
    let version = crate::pins::real_terraform_version(&p);
    p.file(
        "tasks.toml",
        &format!(
            "[tools]\nterraform = {{ version = \"{version}\" }}\n\n[tasks.t]\nsteps = [[\"true\"]]\n"
        ),
    );
    let run = doctor(&p, &["doctor"]);
    run.success();
    assert_eq!(
        run.stdout,
        format!(
            "ok    true ({})\nok    terraform {version} (supported: >= 1.5, < 2), pinned {version}\n{NO_CREDENTIALS}verdict: ready; 1 warning\n",
            p.find_on_path("true").unwrap().display()
        ),
        "{}",
        run.show()
    );
    let binary = crate::pins::stand_in(&mut p, "1.9.8");
    let run = doctor(&p, &["doctor"]);
    run.failure(1);
    assert_eq!(
        run.stdout,
        format!(
            "ok    true ({})\nFAIL  [tools] terraform pins version {version}, but {binary} is terraform 1.9.8; install terraform {version} (or change the pin)\n{NO_CREDENTIALS}verdict: 1 problem blocks (terraform); 1 warning\n",
            p.find_on_path("true").unwrap().display()
        ),
        "{}",
        run.show()
    );
}

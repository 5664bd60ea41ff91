//! The README's main command, on a copy of the sandbox: offline, real terraform, the kops double.

use crate::support::{Project, require_terraform};

#[test]
fn readme_main_command_runs_the_sandbox_offline() {
    require_terraform();
    let p = Project::new();
    // The sandbox refers to the repository's template and kops double by relative path.
    p.copy_from_repo("examples/sandbox", "examples/sandbox");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.copy_from_repo("tests/kops-double/kops", "tests/kops-double/kops");
    p.copy_from_repo("scripts/sandbox", "scripts/sandbox");
    let readme = std::fs::read_to_string(crate::support::repo().join("README.md")).unwrap();
    let command = "bash scripts/sandbox --yes prerequisites-apply cluster-update plan";
    assert!(
        readme.contains(&format!("```sh\n{command}\n```")),
        "the README's main command changed: update this test"
    );

    // The script as the README runs it, with the tests' kopsform instead of `cargo run`.
    let mut p = p;
    p.env("KOPSFORM_BIN", env!("CARGO_BIN_EXE_kopsform"));
    let words: Vec<&str> = command.split(' ').collect();
    let run = p.tool(".", words[0], &words[1..]);
    run.success()
        .stderr_has("rendered ../../2-kops/cluster-template.yml -> 2-kops/cluster.yml (Cluster sandbox.k8s.local")
        .stdout_has("[plan] Plan: ");
    assert!(p.exists("examples/sandbox/2-kops/kubernetes.tf"));
    assert!(p.exists("examples/sandbox/2-kops/kubernetes.tfplan"));
    assert!(p.exists("examples/sandbox/.kops-state/sandbox.k8s.local/config"));
    // The state store is the sandbox's own folder: nothing of it reaches the repository.
    let cluster_yml = p.read("examples/sandbox/2-kops/cluster.yml");
    assert!(cluster_yml.contains("configBase: "), "{cluster_yml}");
    assert!(
        cluster_yml.contains("/.kops-state/sandbox.k8s.local"),
        "{cluster_yml}"
    );

    // The sandbox's dry run: its state store is a local folder, where kops cannot render its
    // managed files for Terraform and the double writes them in place, so the pre-flight refuses
    // before kops runs, and the live store is byte for byte what it was.
    p.kopsform(&["-C", "examples/sandbox", "--yes", "apply"])
        .success();
    let before = crate::support::files(&p.join("examples/sandbox/.kops-state"));
    assert!(
        before
            .keys()
            .any(|k| k.contains("pki/private/kubernetes-ca")),
        "{:?}",
        before.keys()
    );
    let run = p.kopsform(&["-C", "examples/sandbox", "dryrun"]);
    run.failure(1)
        .stderr_has("refusing the isolated dry run: `kops update cluster` would write to the live cluster state")
        .stderr_has("spec.configBase is a local folder");
    assert!(!run.stderr.contains("$ kops"), "{}", run.stderr);
    let after = crate::support::files(&p.join("examples/sandbox/.kops-state"));
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "the dry run changed the live store: {changed:?}"
    );
}

/// The examples run the repository's own tasks: only the template's path differs.
#[test]
fn the_examples_tasks_are_the_repositorys() {
    let tasks = |path: &str| {
        let text = std::fs::read_to_string(crate::support::repo().join(path)).unwrap();
        text[text.find("[tasks.").unwrap()..].replace(
            "\"../../2-kops/cluster-template.yml\"",
            "\"2-kops/cluster-template.yml\"",
        )
    };
    let root = tasks("tasks.toml");
    for example in ["examples/sandbox/tasks.toml", "examples/fleet/tasks.toml"] {
        assert!(
            tasks(example) == root,
            "{example}: its [tasks.*] differ from tasks.toml; copy them over (the template path is ../../2-kops/cluster-template.yml)"
        );
    }
}

/// The provider blocks and `terraform` block kops writes into kubernetes.tf, with the `aws.files`
/// provider (an s3:// configBase, managed files in Terraform) or without it
/// (kops: upup/pkg/fi/cloudup/terraform/target_hcl2.go; the shape of
/// ../shared/fixtures/kops/minimal-aws/kubernetes.tf).
fn kops_providers(files: bool) -> String {
    let (block, aliases) = if files {
        (
            "provider \"aws\" {\n  alias  = \"files\"\n  region = \"us-test-1\"\n}\n\n",
            "      \"configuration_aliases\" = [aws.files]\n",
        )
    } else {
        ("", "")
    };
    format!(
        "provider \"aws\" {{\n  region = \"us-test-1\"\n}}\n\n{block}terraform {{\n  required_version = \">= 0.15.0\"\n  required_providers {{\n    aws = {{\n{aliases}      \"source\"  = \"hashicorp/aws\"\n      \"version\" = \">= 5.0.0\"\n    }}\n  }}\n}}\n"
    )
}

/// Issue 17, mismatches 2 and 3: kops writes the `aws.files` provider only when its managed files
/// go to S3 through Terraform, and gives it the state bucket's region. The override adds a `files`
/// block only where kops wrote one (Terraform refuses an override of a provider that is not there:
/// "Missing base provider configuration for override"), and never puts the cluster's `region` into
/// it. `terraform providers` reads the configuration with the override merged, offline.
#[test]
fn the_files_provider_is_overridden_only_where_kops_wrote_it() {
    require_terraform();
    let p = Project::new();
    p.file(
        "tasks.toml",
        "[provider-override]\nregion = \"eu-central-1\"\nprofile = \"platform\"\nfiles_region = \"eu-west-1\"\n\n[tasks.o]\nsteps = [{ builtin = \"provider-override\", out = \"2-kops/kopsform_override.tf\" }]\n",
    );
    let header = "# Generated by kopsform from [provider-override] in tasks.toml; do not edit.\n\n";
    let default = "provider \"aws\" {\n  region  = \"eu-central-1\"\n  profile = \"platform\"\n}\n";

    // Managed files in Terraform: kops wrote `aws.files`; its override keeps the profile and
    // takes the explicit files_region.
    p.file("2-kops/kubernetes.tf", &kops_providers(true));
    p.kopsform(&["o"]).success();
    assert_eq!(
        p.read("2-kops/kopsform_override.tf"),
        format!(
            "{header}{default}\nprovider \"aws\" {{\n  alias   = \"files\"\n  region  = \"eu-west-1\"\n  profile = \"platform\"\n}}\n"
        )
    );
    p.tool("2-kops", "terraform", &["providers"]).success();

    // KOPS_FEATURE_FLAGS=-TerraformManagedFiles (or a configBase that is not s3://): no
    // `aws.files` in kubernetes.tf, so none in the override, and the notice says why.
    p.file("2-kops/kubernetes.tf", &kops_providers(false));
    p.kopsform(&["o"]).success().stderr_has(
        "[o] files_region not written: no Terraform file of kops's in 2-kops has `provider \"aws\"` with `alias = \"files\"`, which kops writes only when its managed files go to an s3:// configBase through Terraform (the feature flag TerraformManagedFiles, on by default), and Terraform refuses an override of a provider that is not there",
    );
    assert_eq!(
        p.read("2-kops/kopsform_override.tf"),
        format!("{header}{default}")
    );
    p.tool("2-kops", "terraform", &["providers"]).success();

    // Without files_region the files provider keeps the bucket's region kops wrote: the
    // cluster's `region` is not copied into it.
    p.file(
        "tasks.toml",
        &p.read("tasks.toml")
            .replace("files_region = \"eu-west-1\"\n", ""),
    );
    p.file("2-kops/kubernetes.tf", &kops_providers(true));
    p.kopsform(&["o"]).success();
    assert_eq!(
        p.read("2-kops/kopsform_override.tf"),
        format!(
            "{header}{default}\nprovider \"aws\" {{\n  alias   = \"files\"\n  profile = \"platform\"\n}}\n"
        )
    );
}

#[test]
fn provider_override_is_written_fmt_clean_and_removed_when_unset() {
    require_terraform();
    let p = Project::new();
    let tasks = |table: &str| {
        format!(
            "{table}\n[tasks.o]\nsteps = [{{ builtin = \"provider-override\", out = \"2-kops/kopsform_override.tf\" }}]\n"
        )
    };
    p.file(
        "tasks.toml",
        &tasks("[provider-override]\nprofile = \"platform\"\nassume_role = \"arn:aws:iam::123456789012:role/kops\"\nfiles_region = \"eu-west-1\"\n"),
    );
    p.file("2-kops/kubernetes.tf", &kops_providers(true));
    p.kopsform(&["o"])
        .success()
        .stderr_has("[o] wrote 2-kops/kopsform_override.tf");
    let text = p.read("2-kops/kopsform_override.tf");
    assert!(text.contains("alias   = \"files\""), "{text}");
    assert!(
        text.contains("role_arn = \"arn:aws:iam::123456789012:role/kops\""),
        "{text}"
    );
    p.tool(
        "2-kops",
        "terraform",
        &["fmt", "-check", "kopsform_override.tf"],
    )
    .success();

    p.file("tasks.toml", &tasks(""));
    p.kopsform(&["o"])
        .success()
        .stderr_has("removed 2-kops/kopsform_override.tf");
    assert!(!p.exists("2-kops/kopsform_override.tf"));
    // A team's own override file is never removed.
    p.file("2-kops/kopsform_override.tf", "# ours\n");
    p.kopsform(&["o"]).success();
    assert_eq!(p.read("2-kops/kopsform_override.tf"), "# ours\n");
}

/// Issue 17, mismatch 1, on the kops double's side: it splits a manifest as kops 1.36 does
/// (util/pkg/text/text.go, pkg/kopscodecs/codecs.go), so it cannot hide what kopsform's manifest
/// check refuses. After a `--- # comment` line kops keeps the Cluster and silently drops the
/// instance group; comments before a leading `---` are a part without a kind.
#[test]
fn the_kops_double_splits_a_manifest_as_kops_does() {
    let p = Project::new();
    let cluster = "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: c.example.com\nspec:\n  cloudProvider: aws\n  kubernetesVersion: 1.33.0\n";
    let group = "apiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes\n  labels:\n    kops.k8s.io/cluster: c.example.com\nspec:\n  role: Node\n";
    let replace = |text: &str| {
        p.file("cluster.yml", text);
        p.tool(
            ".",
            "kops",
            &[
                "replace",
                "--force",
                "-f",
                "cluster.yml",
                "--state",
                "store",
            ],
        )
    };
    replace(&format!("{cluster}--- # the nodes\n{group}")).success();
    assert!(p.exists("store/c.example.com/config"));
    assert!(!p.exists("store/c.example.com/instancegroup/nodes"));
    replace(&format!("{cluster}---\n{group}")).success();
    assert!(p.exists("store/c.example.com/instancegroup/nodes"));
    replace(&format!("# the cluster\n---\n{cluster}---\n{group}"))
        .failure(1)
        .stderr_has(
            "Error: error parsing file \"cluster.yml\": Object 'Kind' is missing in 'null'",
        );
}

/// Issue 17, item 5, on the kops double's side: it answers as kOps v1.36.2 (cmd/kops/version.go,
/// kops-version.go, the release build's GitVersion) and checks versions as that release does
/// (upup/pkg/fi/cloudup/apply_cluster.go with channels/stable of the tag; a `file://` channel for
/// the requirements stable never makes), word for word.
#[test]
fn the_kops_double_answers_and_checks_versions_as_kops_1_36_2() {
    let mut p = Project::new();
    let run = p.tool(".", "kops", &["version"]);
    assert_eq!(
        run.success().stdout,
        "Client version: 1.36.2 (git-v1.36.2)\n"
    );
    assert_eq!(
        p.tool(".", "kops", &["version", "--short"]).stdout,
        "1.36.2\n"
    );

    let star = "*".repeat(81);
    let manifest = |version: &str, channel: &str| {
        format!(
            "apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: c.example.com\nspec:\n  cloudProvider: aws\n  kubernetesVersion: {version}\n  channel: {channel}\n  kubelet:\n    anonymousAuth: false\n  networkCIDR: 172.20.0.0/16\n  subnets:\n  - name: a\n    zone: us-east-1a\n    cidr: 172.20.32.0/19\n    type: Public\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes\n  labels:\n    kops.k8s.io/cluster: c.example.com\nspec:\n  role: Node\n  subnets: [a]\n"
        )
    };
    let update = |p: &Project, version: &str, channel: &str, extra: &[&str]| {
        p.file("cluster.yml", &manifest(version, channel));
        p.tool(
            ".",
            "kops",
            &[
                "replace",
                "--force",
                "-f",
                "cluster.yml",
                "--state",
                "store",
            ],
        )
        .success();
        let mut args = vec![
            "update",
            "cluster",
            "--name",
            "c.example.com",
            "--state",
            "store",
            "--target",
            "terraform",
            "--out",
            "out",
            "--create-kube-config=false",
        ];
        args.extend(extra);
        p.tool(".", "kops", &args)
    };
    let tail = "\nTerraform output has been placed into out\n\nChanges may require instances to restart: kops rolling-update cluster\n\n";

    // The stable channel recommends the newest patch of the minor.
    let run = update(&p, "1.34.2", "stable", &["-v", "2"]);
    assert_eq!(
        run.success().stdout,
        format!(
            "\n{star}\n\nA new kubernetes version is available: 1.34.8\nUpgrading is recommended (try kops upgrade cluster)\n\nMore information: https://github.com/kubernetes/kops/blob/master/permalinks/upgrade_k8s.md#1.34.8\n\n{star}\n\n{tail}"
        )
    );
    // No kubeconfig context named after the cluster: kops renders at the spec's version.
    run.stderr_has("update_cluster.go:362] error checking control plane running version, assuming no k8s upgrade in progress: cannot load kubecfg settings for \"c.example.com\": invalid configuration: [context was not found for specified context: c.example.com, cluster has no server defined]\n");
    let run = update(
        &p,
        "1.34.8",
        "stable",
        &["-v", "2", "--ignore-kubelet-version-skew"],
    );
    assert_eq!(run.success().stdout, tail);
    run.output_lacks("control plane running version");

    // Deprecated, and below the oldest supported.
    assert_eq!(
        update(&p, "1.32.13", "stable", &[]).success().stdout,
        format!(
            "\n{star}\n\nKops support for this Kubernetes version is deprecated and will be removed in a future release.\n\nUpgrading Kubernetes is recommended\nMore information: https://github.com/kubernetes/kops/blob/master/permalinks/upgrade_k8s.md#1.33.0\n\n{star}\n\n{tail}"
        )
    );
    let run = update(&p, "1.30.14", "stable", &[]);
    assert_eq!(
        run.failure(1).stdout,
        format!(
            "This version of Kubernetes is no longer supported; upgrading Kubernetes is required\n\nMore information: https://github.com/kubernetes/kops/blob/master/permalinks/upgrade_k8s.md#1.33.0\n\n{star}\n\n"
        )
    );
    assert!(
        run.stderr
            .ends_with("Error: kubernetes upgrade is required\n"),
        "{}",
        run.show()
    );

    // Too new: from kops's version with the minor raised by one, its patch kept.
    assert_eq!(update(&p, "1.37.1", "stable", &[]).success().stdout, tail);
    let too_new = |bypass: &str| {
        format!(
            "\n{star}\n\nThis version of kubernetes is not yet supported; upgrading kops is required\n({bypass} by exporting KOPS_RUN_TOO_NEW_VERSION)\n\n{star}\n\n"
        )
    };
    let run = update(&p, "1.37.2", "stable", &[]);
    assert_eq!(run.failure(1).stdout, too_new("you can bypass this check"));
    assert!(
        run.stderr.ends_with("Error: kops upgrade is required\n"),
        "{}",
        run.show()
    );
    p.env("KOPS_RUN_TOO_NEW_VERSION", "1");
    assert_eq!(
        update(&p, "1.37.2", "stable", &[]).success().stdout,
        format!("{}{tail}", too_new("this check has been bypassed"))
    );
    p.env("KOPS_RUN_TOO_NEW_VERSION", "");

    // A channel that requires a newer kops; KOPS_RUN_OBSOLETE_VERSION lets it run.
    p.file(
        "channel.yaml",
        "spec:\n  kopsVersions:\n  - range: \">=1.36.0\"\n    recommendedVersion: 1.36.4\n    requiredVersion: 1.36.3\n",
    );
    let channel = format!("file://{}", p.join("channel.yaml").display());
    let obsolete = format!(
        "\n{star}\n\na new kops version is available: 1.36.4\n\nThis version of kops (1.36.2) is no longer supported; upgrading is required\n(you can bypass this check by exporting KOPS_RUN_OBSOLETE_VERSION)\n\nMore information: https://github.com/kubernetes/kops/blob/master/permalinks/upgrade_kops.md#1.36.4\n\n{star}\n\n"
    );
    let run = update(&p, "1.34.8", &channel, &[]);
    assert_eq!(run.failure(1).stdout, obsolete);
    assert!(
        run.stderr.ends_with("Error: kops upgrade is required\n"),
        "{}",
        run.show()
    );
    p.env("KOPS_RUN_OBSOLETE_VERSION", "1");
    // This channel says nothing of Kubernetes versions: kops warns and goes on.
    let run = update(&p, "1.34.8", &channel, &[]);
    assert_eq!(run.success().stdout, format!("{obsolete}{tail}"));
    run.stderr_has("apply_cluster.go:1043] unable to find version information for kubernetes version \"1.34.8\" in channel\n");
}

/// Issue 18: `[provider-override]` per cluster, over the project's key by key, with strings
/// rendered from the cluster's values (`profile = "{{profile}}"`) and written as HCL strings that
/// mean exactly the text (only `${` and `%{` doubled), and `{ expr = "var.profile" }` written as
/// an expression. The real Terraform and the real hashicorp/aws provider (from the local mirror)
/// validate each cluster's layer: kops's providers with the override merged.
#[test]
fn provider_overrides_per_cluster_are_templated_escaped_and_validated_by_terraform() {
    use crate::support::real_aws::{aws_mirror, write_cli_config};
    require_terraform();
    let mut p = Project::new();
    let config = p.join("terraform-cli.tfrc");
    write_cli_config(&config, &aws_mirror());
    p.env("TF_CLI_CONFIG_FILE", &config.display().to_string());
    p.layer_from_recorded_outputs(
        "1-prerequisites",
        r#"{"region": {"sensitive": false, "type": "string", "value": "eu-central-1"}}"#,
    );
    p.file("values/a.yaml", "profile: acct-a\n");
    p.file(
        "values/b.yaml",
        "profile: \"100% ${literal} %{not-a-directive}\"\n",
    );
    p.file(
        "tasks.toml",
        r#"
[provider-override]
region = "{{region}}"
profile = "platform"

[clusters.a]
name = "a.example.com"
state = "kops-state"
dir = "a"
values = ["values/a.yaml"]
provider-override = { profile = "{{profile}}", files_profile = "files-{{cluster.id}}" }

[clusters.b]
name = "b.example.com"
state = "kops-state"
dir = "b"
values = ["values/b.yaml"]
[clusters.b.provider-override]
profile = "{{profile}}"
assume_role = { expr = "var.role_arn" }

[tasks.o]
steps = [{ builtin = "provider-override", out = "{{cluster.dir}}/kopsform_override.tf" }]
"#,
    );
    let header = "# Generated by kopsform from [provider-override] in tasks.toml; do not edit.\n\n";
    // a: kops wrote `aws.files`; b: it did not (-TerraformManagedFiles), and declares the
    // variable its expression names.
    p.file("a/kubernetes.tf", &kops_providers(true));
    p.file("b/kubernetes.tf", &kops_providers(false));
    p.file("b/variables.tf", "variable \"role_arn\" {\n  type    = string\n  default = \"arn:aws:iam::123456789012:role/kops\"\n}\n");
    p.kopsform(&["--all", "o"]).success();
    assert_eq!(
        p.read("a/kopsform_override.tf"),
        format!(
            "{header}provider \"aws\" {{\n  region  = \"eu-central-1\"\n  profile = \"acct-a\"\n}}\n\nprovider \"aws\" {{\n  alias   = \"files\"\n  profile = \"files-a\"\n}}\n"
        )
    );
    assert_eq!(
        p.read("b/kopsform_override.tf"),
        format!(
            "{header}provider \"aws\" {{\n  region  = \"eu-central-1\"\n  profile = \"100% $${{literal}} %%{{not-a-directive}}\"\n\n  assume_role {{\n    role_arn = var.role_arn\n  }}\n}}\n"
        )
    );
    for dir in ["a", "b"] {
        p.tool(
            dir,
            "terraform",
            &["init", "-backend=false", "-input=false"],
        )
        .success();
        p.tool(dir, "terraform", &["validate"]).success();
        p.tool(dir, "terraform", &["fmt", "-check", "kopsform_override.tf"])
            .success();
    }
    // Terraform reads the string back as the text itself: no interpolation, no directive.
    let console = p.tool(
        "b",
        "sh",
        &[
            "-c",
            "echo '\"100% $${literal} %%{not-a-directive}\"' | terraform console",
        ],
    );
    console
        .success()
        .stdout_has("\"100% ${literal} %{not-a-directive}\"");

    // An expression that is not one line is refused, naming the table and key.
    p.file(
        "tasks.toml",
        &p.read("tasks.toml")
            .replace("var.role_arn", "var.role_arn\\n}\\nprovider \\\"x\\\" {"),
    );
    p.kopsform(&["--cluster", "b", "o"]).failure(1).stderr_has(&format!(
        "{}: [clusters.b.provider-override] assume_role: `expr` must be one HCL expression on one line",
        p.join("tasks.toml").display()
    ));
}

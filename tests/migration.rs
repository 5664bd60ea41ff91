//! Issue 18: the worked migration of docs/migration.md, step by step, as a team would run it: a
//! Makefile repository with a `kops toolbox template` Go template, values files, snippets, a
//! partial S3 backend and one AWS profile per account (tests/fixtures/migration/before), changed
//! as the page says (tests/fixtures/migration/after), then doctor, the render, cluster-update and
//! plan, apply, the dry run and the teardown, on moto with real terraform and the kops double.

use crate::support::{
    HOST_CREDENTIALS, Project, Run, S3, copy_tree, repo, require, require_terraform,
};

const FIXTURE: &str = "tests/fixtures/migration";

fn fixture(rel: &str) -> String {
    let path = repo().join(FIXTURE).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced blocks of docs/migration.md that follow a `<!-- fixture: PATH -->` line, by PATH.
fn doc_fixtures() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(repo().join("docs/migration.md")).unwrap();
    let mut found = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .strip_prefix("<!-- fixture: ")
            .and_then(|l| l.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(fence.starts_with("```"), "no block after {line}: {fence}");
        let mut block = String::new();
        for l in lines.by_ref().take_while(|l| *l != "```") {
            block.push_str(l);
            block.push('\n');
        }
        found.push((path.to_string(), block));
    }
    found
}

#[test]
fn the_worked_migration_shows_the_fixture_files_as_they_are() {
    let blocks = doc_fixtures();
    let paths: Vec<&str> = blocks.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tests/fixtures/migration/before/Makefile",
            "tests/fixtures/migration/after/tasks.toml"
        ]
    );
    for (path, block) in &blocks {
        let file = std::fs::read_to_string(repo().join(path)).unwrap();
        assert_eq!(block, &file, "docs/migration.md's copy of {path} drifted");
    }
    // The Makefile's recipes are indented with tabs, as make needs; the doc keeps them.
    assert!(fixture("before/Makefile").contains("\n\tcd $(KOPS) && kops replace"));
}

/// kopsform in the project, with the S3 endpoint and without the machine's credentials.
fn kopsform(p: &Project, args: &[&str]) -> Run {
    p.kopsform_without(HOST_CREDENTIALS, args)
}

/// The repository before the migration, on moto: its Terraform state bucket exists (made once,
/// by hand, with the dev profile); nothing else does.
fn before(s3: &S3) -> Project {
    require_terraform();
    require("aws", "pip install awscli");
    let mut p = Project::new();
    for (k, v) in s3.env() {
        if !k.starts_with("AWS_ACCESS_KEY") && !k.starts_with("AWS_SECRET") {
            p.env(&k, &v);
        }
    }
    copy_tree(&repo().join(FIXTURE).join("before"), p.path());
    let config = p.join("aws/config").display().to_string();
    let credentials = p.join("aws/credentials").display().to_string();
    p.env("AWS_CONFIG_FILE", &config);
    p.env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    p.env("AWS_PROFILE", "dev");
    p.tool(
        ".",
        "aws",
        &["s3api", "create-bucket", "--bucket", "acme-terraform-state"],
    )
    .success();
    p.env.retain(|(k, _)| {
        ![
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_PROFILE",
        ]
        .contains(&k.as_str())
    });
    p
}

/// The page's changes: tasks.toml, each cluster's own folder with the backend block and the
/// variable declaration moved into it, the Makefile retired.
fn migrate(p: &Project) {
    copy_tree(&repo().join(FIXTURE).join("after"), p.path());
    for cluster in ["dev", "prod"] {
        for moved in ["backend.tf", "account.tf"] {
            assert_eq!(
                p.read(&format!("2-kops/{cluster}/{moved}")),
                p.read(&format!("2-kops/{moved}")),
                "2-kops/{moved} moves unchanged"
            );
        }
    }
    for gone in ["2-kops/backend.tf", "2-kops/account.tf", "Makefile"] {
        std::fs::remove_file(p.join(gone)).unwrap();
    }
}

/// The lines of `text` from the first that starts with `from`.
fn from_line<'a>(text: &'a str, from: &str) -> &'a str {
    let at = text
        .find(&format!("\n{from}"))
        .unwrap_or_else(|| panic!("no line `{from}` in\n{text}"));
    &text[at + 1..]
}

#[test]
fn the_worked_migration_runs_each_step_with_the_accounts_profile() {
    let s3 = S3::start();
    let p = before(&s3);
    migrate(&p);

    // `make prerequisites`, with the dev account's profile.
    kopsform(&p, &["--cluster", "dev", "--yes", "prerequisites-apply"]).success();

    // Doctor finds the profile through [env] and renders the Go template with the dev values.
    let doctor = kopsform(&p, &["--cluster", "dev", "doctor"]);
    doctor.success();
    let tail = from_line(&doctor.stdout, "ok    template");
    let verdict = from_line(tail, "verdict: ");
    assert_eq!(
        &tail[..tail.len() - verdict.len()],
        // The profile file is `{{cluster.project_dir}}/aws/credentials`; HOME is the project here.
        "ok    template 2-kops/cluster-template.yaml renders: Cluster dev.acme.k8s.local, InstanceGroup control-plane-eu-west-1a, InstanceGroup nodes\n\
         ok    environment of kopsform's own aws and terraform calls and these checks: AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE of [env]\n\
         ok    AWS credentials: the profile `dev` (AWS_PROFILE of [env]) in ~/aws/credentials\n\
         ok    state store s3://acme-kops-state can be listed (read-only check)\n",
        "{}",
        doctor.show()
    );
    // Only warnings may stand beside it: the aws CLI's major version depends on the machine.
    assert!(verdict.starts_with("verdict: ready"), "{verdict}");

    // `make template ENV=dev` and `ENV=prod`: the cluster.yml `kops toolbox template` renders from
    // the outputs and the merged values files (expected/: kopsform's render, reviewed line by line
    // against Go's and kops's template rules; no kops binary runs here),
    // and no values.json.
    for cluster in ["dev", "prod"] {
        kopsform(&p, &["--cluster", cluster, "cluster-template"])
            .success()
            .stderr_has(&format!(
                "rendered 2-kops/cluster-template.yaml -> 2-kops/{cluster}/cluster.yml (Cluster {cluster}.acme.k8s.local, InstanceGroup control-plane-eu-west-1a"
            ));
        assert_eq!(
            p.read(&format!("2-kops/{cluster}/cluster.yml")),
            fixture(&format!("expected/{cluster}.cluster.yml")),
            "{cluster}"
        );
    }
    assert!(!p.exists("2-kops/values.json"));

    // `make plan`: replace, update --target terraform, init with the dev backend file, plan with
    // the dev account's variables.
    let backend = p.join("2-kops/backend/dev.s3.tfbackend");
    let vars = p.join("2-kops/accounts/dev.tfvars");
    kopsform(&p, &["--cluster", "dev", "cluster-update", "plan"])
        .success()
        .stderr_has("[dev/cluster-update] $ kops replace --force -f 2-kops/dev/cluster.yml --name dev.acme.k8s.local --state s3://acme-kops-state\n")
        .stderr_has(&format!(
            "[dev/init] $ (cd 2-kops/dev && terraform init -backend-config={})\n",
            backend.display()
        ))
        .stderr_has(&format!(
            "[dev/plan] $ (cd 2-kops/dev && terraform plan -var-file={} -out=kubernetes.tfplan)\n",
            vars.display()
        ))
        .stdout_has("[dev/plan] Plan: ");

    // `make apply`: the state lands under the dev key of the partial backend.
    kopsform(&p, &["--cluster", "dev", "--yes", "apply"])
        .success()
        .stdout_has("[dev/apply] Apply complete!");
    let mut reader = Project::new();
    for (k, v) in s3.env() {
        reader.env(&k, &v);
    }
    reader
        .tool(
            ".",
            "aws",
            &[
                "s3",
                "cp",
                "s3://acme-terraform-state/kops/dev/terraform.tfstate",
                "-",
            ],
        )
        .success()
        .stdout_has("\"value\": \"111111111111\"");

    // The dry run of the same tree finds nothing to change.
    kopsform(&p, &["--cluster", "dev", "dryrun"]).success();
    let review: serde_json::Value =
        serde_json::from_str(&p.read(".kopsform/dev/dryrun/review.json")).unwrap();
    assert_eq!(review["exit_status"], 0, "{review}");
    assert_eq!(review["headline"], "No changes.", "{review}");

    // `make destroy`: the cluster's resources, then its objects in the state store.
    kopsform(&p, &["--cluster", "dev", "--yes", "destroy"])
        .success()
        .stdout_has("[dev/destroy] Apply complete! Resources: 0 added, 0 changed, ");
    kopsform(&p, &["--cluster", "dev", "--yes", "cluster-destroy-yes"])
        .success()
        .stdout_has("Deleted cluster: \"dev.acme.k8s.local\"");
    let left = reader.tool(
        ".",
        "aws",
        &["s3", "ls", "s3://acme-kops-state", "--recursive"],
    );
    left.success();
    // kops's objects are gone; kopsform's audit records of the cluster stay (docs/audit.md).
    let keys: Vec<&str> = left
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert!(
        !keys.is_empty()
            && keys
                .iter()
                .all(|k| k.starts_with(".kopsform-audit/dev.acme.k8s.local/")),
        "{}",
        left.show()
    );
}

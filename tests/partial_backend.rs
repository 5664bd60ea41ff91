//! Issue 18: a cluster's partial S3 backend and variable files (`backend-config`, `var-files` of
//! its `[cluster]`/`[clusters.<id>]` table) reach `terraform init`, `plan`, `apply` and the dry
//! run's own init and plan, with the repository's tasks.toml unchanged otherwise; on moto.

use crate::support::{S3, cluster_project, require_terraform};

/// The settings `backend_tf` writes in full, as a partial backend's file.
fn backend_file(endpoint: &str) -> String {
    format!(
        "bucket                      = \"tf-state\"\nkey                         = \"sandbox/2-kops.tfstate\"\nregion                      = \"us-east-1\"\nuse_path_style              = true\nuse_lockfile                = true\nskip_credentials_validation = true\nskip_requesting_account_id  = true\nskip_metadata_api_check     = true\nskip_region_validation      = true\nendpoints = {{\n  s3 = \"{endpoint}\"\n}}\n"
    )
}

#[test]
fn a_partial_backend_and_var_files_per_cluster_reach_init_plan_apply_and_the_dry_run() {
    require_terraform();
    let s3 = S3::start();
    let p = cluster_project(&s3);
    p.file("2-kops/backend.tf", "terraform {\n  backend \"s3\" {}\n}\n");
    // A variable without a default: a plan without the var file fails.
    p.file(
        "2-kops/account.tf",
        "variable \"account\" {\n  type = string\n}\n\noutput \"account\" {\n  value = var.account\n}\n",
    );
    p.file("backends/sandbox.s3.tfbackend", &backend_file(&s3.endpoint));
    p.file("vars/sandbox.tfvars", "account = \"123456789012\"\n");
    let tasks = p.read("tasks.toml");
    let plain = tasks.clone();
    let with_files = tasks.replacen(
        "state = \"s3://{{kops_s3_bucket}}\"\n",
        "state = \"s3://{{kops_s3_bucket}}\"\nbackend-config = [\"backends/sandbox.s3.tfbackend\"]\nvar-files = [\"vars/sandbox.tfvars\"]\n",
        1,
    );
    assert_ne!(with_files, plain, "the repository's [cluster] table moved");
    p.file("tasks.toml", &with_files);

    let backend = p
        .join("backends/sandbox.s3.tfbackend")
        .display()
        .to_string();
    let vars = p.join("vars/sandbox.tfvars").display().to_string();
    p.kopsform(&[
        "--yes",
        "prerequisites-apply",
        "cluster-update",
        "plan",
        "apply",
    ])
    .success()
    .stderr_has(&format!(
        "[init] $ (cd 2-kops && terraform init -backend-config={backend})\n"
    ))
    .stderr_has(&format!(
        "[plan] $ (cd 2-kops && terraform plan -var-file={vars} -out=kubernetes.tfplan)\n"
    ))
    // The saved plan holds the variables: its apply gets none (Terraform would refuse them).
    .stderr_has("[apply] $ (cd 2-kops && terraform apply kubernetes.tfplan)\n");
    let state = p.tool(
        ".",
        "aws",
        &["s3", "cp", "s3://tf-state/sandbox/2-kops.tfstate", "-"],
    );
    state.success().stdout_has("\"account\"");

    // The dry run's own init and plan, in its copy of 2-kops.
    p.kopsform(&["dryrun"])
        .success()
        .stderr_has(&format!("[dryrun] $ (cd .kopsform/dryrun/2-kops && terraform init -backend-config={backend})\n"))
        .stderr_has(&format!("[dryrun] $ (cd .kopsform/dryrun/2-kops && terraform plan -var-file={vars} -lock=false -out=dryrun.tfplan)\n"));

    // A file that is not there is named before Terraform runs.
    p.file(
        "tasks.toml",
        &with_files.replace("vars/sandbox.tfvars", "vars/prod.tfvars"),
    );
    p.kopsform(&["plan"]).failure(1).stderr_has(&format!(
        "kopsform: error: task `plan`: [cluster] var-files names `vars/prod.tfvars`, which is not a file ({}); fix the path (relative to the project folder) in {}",
        p.join("vars/prod.tfvars").display(),
        p.join("tasks.toml").display()
    ));

    // Without the keys, Terraform has no bucket for the backend and no value for the variable.
    p.file("tasks.toml", &plain);
    std::fs::remove_dir_all(p.join("2-kops/.terraform")).unwrap();
    p.kopsform(&["plan"])
        .failure(1)
        .stderr_has("[init] $ (cd 2-kops && terraform init)\n")
        .stderr_has("[init] │ The attribute \"bucket\" is required by the backend.")
        .stderr_has("kopsform: error: task `init`: `terraform` exited with status 1:");
}

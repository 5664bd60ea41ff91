//! Issue 18: tasks.toml's `[env]` reaches every process kopsform starts for the cluster, its own
//! included: the S3 lock, the state snapshot (`aws`), the outputs read (`terraform output -json`
//! of a layer in an S3 backend) and doctor's checks. The credentials live in a file only the
//! project names (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_PROFILE`); without that `[env]` each of them
//! fails with a clear error.

use crate::support::{HOST_CREDENTIALS, Project, Run, S3, backend_tf, require, require_terraform};

const OUTPUTS: &str = r#"{
  "cluster_name": {"sensitive": false, "type": "string", "value": "c.example.com"}
}"#;

/// kopsform in the project with the S3 endpoint but no credentials of the machine's.
fn kopsform(p: &Project, args: &[&str]) -> Run {
    p.kopsform_without(HOST_CREDENTIALS, args)
}

/// tasks.toml with `env` (an `[env]` table or nothing), the outputs read from `layer`.
fn tasks(env: &str, layer: &str) -> String {
    format!(
        r#"{env}
[prerequisites]
dir = "{layer}"

[cluster]
name = "{{{{cluster_name}}}}"
state = "s3://kops-state"

[tasks.hold]
lock = true
steps = [["true"]]

[tasks.snapshot]
steps = [{{ builtin = "snapshot-state", out = ".kopsform/dryrun/state" }}]
"#
    )
}

/// A project on moto whose state bucket and prerequisites layer (state in an S3 backend) can be
/// reached only with the profile `proj` of `secrets/credentials`; returns the `[env]` table that
/// names them.
fn project(s3: &S3) -> (Project, String) {
    require_terraform();
    require("aws", "pip install awscli");
    let mut p = Project::new();
    for (k, v) in s3.env() {
        if !k.starts_with("AWS_ACCESS_KEY") && !k.starts_with("AWS_SECRET") {
            p.env(&k, &v);
        }
    }
    p.file(
        "secrets/credentials",
        "[proj]\naws_access_key_id = testing\naws_secret_access_key = testing-secret-key\n",
    );
    let credentials = p.join("secrets/credentials").display().to_string();
    // The setup has the credentials; kopsform gets them from [env] only.
    p.env("AWS_SHARED_CREDENTIALS_FILE", &credentials);
    p.env("AWS_PROFILE", "proj");
    for bucket in ["kops-state", "tf-state"] {
        p.tool(".", "aws", &["s3api", "create-bucket", "--bucket", bucket])
            .success();
    }
    p.file("config.yaml", "kind: Cluster\n");
    for key in ["config", "instancegroup/nodes"] {
        p.tool(
            ".",
            "aws",
            &[
                "s3",
                "cp",
                "config.yaml",
                &format!("s3://kops-state/c.example.com/{key}"),
            ],
        )
        .success();
    }
    p.file(
        "1-prerequisites/backend.tf",
        &backend_tf(&s3.endpoint).replace(
            "2-kops/terraform.tfstate",
            "1-prerequisites/terraform.tfstate",
        ),
    );
    p.layer_from_recorded_outputs("1-prerequisites", OUTPUTS);
    // The same outputs in a local state: a run that needs no credentials to read them.
    p.layer_from_recorded_outputs("local-layer", OUTPUTS);
    p.env
        .retain(|(k, _)| k != "AWS_SHARED_CREDENTIALS_FILE" && k != "AWS_PROFILE");
    let env =
        format!("[env]\nAWS_SHARED_CREDENTIALS_FILE = \"{credentials}\"\nAWS_PROFILE = \"proj\"\n");
    (p, env)
}

#[test]
fn env_reaches_the_lock_the_snapshot_the_outputs_read_and_doctor() {
    let s3 = S3::start();
    let (p, env) = project(&s3);
    p.file("tasks.toml", &tasks(&env, "1-prerequisites"));

    kopsform(&p, &["hold", "snapshot"]).success().stderr_has(
        "[hold] locked cluster c.example.com (s3://kops-state/.kopsform-locks/c.example.com.json)",
    );
    assert_eq!(
        p.read(".kopsform/dryrun/state/c.example.com/config"),
        "kind: Cluster\n"
    );

    // Doctor names the variables (never their values), lists the bucket and finds the profile
    // with them; the tool lines above depend on the machine.
    let doctor = kopsform(&p, &["doctor"]);
    doctor.success();
    let from_env = doctor
        .stdout
        .find("ok    environment")
        .expect("an env line");
    assert_eq!(
        &doctor.stdout[from_env..],
        "ok    environment of kopsform's own aws and terraform calls and these checks: AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE of [env]\n\
         ok    AWS credentials: the profile `proj` (AWS_PROFILE of [env]) in ~/secrets/credentials\n\
         ok    state store s3://kops-state can be listed (read-only check)\n\
         verdict: ready; 1 warning\n"
    );

    // Without the [env] table nothing kopsform runs finds the credentials, and each says so.
    p.file("tasks.toml", &tasks("", "1-prerequisites"));
    kopsform(&p, &["hold"])
        .failure(1)
        .stderr_has("kopsform: error: task `hold`: `terraform output -json` in 1-prerequisites failed with status 1:\n  │ Error: failed to refresh cached credentials");
    p.file("tasks.toml", &tasks("", "local-layer"));
    kopsform(&p, &["hold"])
        .failure(1)
        .stderr_has("kopsform: error: task `hold`: cannot take the lock s3://kops-state/.kopsform-locks/c.example.com.json: `aws s3api put-object --if-none-match` failed with status 255: Unable to locate credentials.")
        .output_lacks("[hold] locked cluster");
    kopsform(&p, &["snapshot"])
        .failure(1)
        .stderr_has("kopsform: error: task `snapshot`: `aws s3 sync s3://kops-state/c.example.com/` failed with status 1: fatal error: Unable to locate credentials; check the credentials can read the state bucket");
    let doctor = kopsform(&p, &["doctor"]);
    doctor.failure(1);
    let from_credentials = doctor
        .stdout
        .find("FAIL  AWS credentials")
        .expect("a credentials line");
    assert_eq!(
        &doctor.stdout[from_credentials..],
        "FAIL  AWS credentials: none found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, a default profile in ~/.aws/credentials or ~/.aws/config); kops, terraform and the aws CLI need them for the s3:// state store: export AWS_PROFILE (a profile of ~/.aws/config) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or set them in [env] (an EC2 instance role is not detected: doctor calls no AWS API for it)\n\
         FAIL  state store s3://kops-state: `aws s3api list-objects-v2` failed with status 255: Unable to locate credentials. You can configure credentials by running \"aws configure\".; check that the bucket exists (the prerequisites layer creates it), that the credentials may list it (s3:ListBucket), and S3_ENDPOINT or AWS_ENDPOINT_URL_S3 when it is not AWS\n\
         verdict: 2 problems block (aws-credentials, state-store); 1 warning\n"
    );
}

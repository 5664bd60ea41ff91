//! One canary secret in every place a secret comes from (a sensitive prerequisites output, a
//! sensitive plan value, a variable named in `secret-env`, AWS_SECRET_ACCESS_KEY and
//! AWS_SESSION_TOKEN), a whole workflow run, and every byte kopsform produced searched for it:
//! stdout, stderr, error messages, every file under `.kopsform/`, and the command line of every
//! kops, terraform and aws process it started (what `ps` shows).

use crate::support::{Project, S3, bring_up, cluster_project, kops_double_dir, require_terraform};

const OUTPUT: &str = "c4n4ry-0utput-71b2";
const PLAN_LIVE: &str = "c4n4ry-pl4n-93ac";
const PLAN_NEXT: &str = "c4n4ry-pl4n-next-5e0f";
const ENV: &str = "c4n4ry-t0ken-5d1e";
const AWS_KEY: &str = "c4n4ry-aws-key-08f1";
const SESSION: &str = "c4n4ry-sess10n-4c2d";

/// A sensitive variable that reaches a resource attribute and a sensitive output of 2-kops.
const PLAN_TF: &str = r#"
variable "kopsform_canary" {
  type      = string
  sensitive = true
}

resource "terraform_data" "canary" {
  input = var.kopsform_canary
}

output "canary" {
  value     = var.kopsform_canary
  sensitive = true
}
"#;

const EXTRA_TASKS: &str = r#"
[tasks.echo-secrets]
steps = [["printenv", "CANARY_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"], ["sh", "-c", "printenv CANARY_TOKEN >&2"]]

[tasks.fail-with-secret]
steps = [["sh", "-c", "echo \"Error: token $CANARY_TOKEN was rejected\" >&2; exit 1"]]

[tasks.secret-argument]
lock = false
steps = [["printenv", "{{canary_out}}"]]

[tasks.render-secret]
steps = [{ render = "secret.tpl", out = "secret.txt", check = "none" }]

[tasks.save-secret]
steps = [{ run = ["printenv", "CANARY_TOKEN"], save = "{{cluster.work}}/saved.txt" }]

[tasks.env-table-secret]
env = { CANARY_DERIVED = "{{canary_out}}-derived" }
steps = [["printenv", "CANARY_DERIVED"]]
"#;

/// Wrappers for terraform, kops and aws that log their command line, then run the real tool.
fn log_command_lines(p: &mut Project) -> std::path::PathBuf {
    let bin = p.join(".argv-bin");
    let log = p.join(".argv.log");
    for tool in ["terraform", "kops", "aws"] {
        let real = p
            .find_on_path(tool)
            .unwrap_or_else(|| kops_double_dir().join(tool));
        p.script(
            &format!(".argv-bin/{tool}"),
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"{tool} $*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        );
    }
    p.prepend_path(&bin);
    log
}

#[test]
fn a_canary_secret_in_every_place_appears_in_no_byte_kopsform_produces() {
    require_terraform();
    let s3 = S3::start();
    let mut p = cluster_project(&s3);
    let tasks = p
        .read("tasks.toml")
        .replace("[cluster]\n", "[cluster]\nsensitive = [\"canary_out\"]\n");
    p.file(
        "tasks.toml",
        &format!("secret-env = [\"CANARY_*\"]\n{tasks}{EXTRA_TASKS}"),
    );
    p.file(
        "1-prerequisites/canary.tf",
        &format!("output \"canary_out\" {{\n  value     = \"{OUTPUT}\"\n  sensitive = true\n}}\n"),
    );
    p.file("2-kops/canary.tf", PLAN_TF);
    p.file("secret.tpl", "token: {{canary_out}}\n");
    p.env("TF_VAR_kopsform_canary", PLAN_LIVE);
    p.env("CANARY_TOKEN", ENV);
    p.env("AWS_SECRET_ACCESS_KEY", AWS_KEY);
    p.env("AWS_SESSION_TOKEN", SESSION);
    let argv_log = log_command_lines(&mut p);

    let mut produced = String::new();
    let mut keep = |run: &crate::support::Run| {
        produced.push_str(&run.stdout);
        produced.push_str(&run.stderr);
    };
    bring_up(&p);
    let run = p.kopsform(&["outputs"]);
    keep(run.success().stdout_has("canary_out"));

    let run = p.kopsform(&["echo-secrets"]);
    run.success();
    // The children did get the secrets; the relayed lines are masked.
    assert_eq!(
        run.stdout.matches("[echo-secrets] ***\n").count(),
        3,
        "{}",
        run.show()
    );
    assert!(
        run.stderr.contains("[echo-secrets] ***\n"),
        "{}",
        run.show()
    );
    keep(&run);

    let run = p.kopsform(&["fail-with-secret"]);
    run.failure(1)
        .stderr_has("kopsform: error: task `fail-with-secret`: `sh` exited with status 1:\n  Error: token *** was rejected");
    keep(&run);

    let run = p.kopsform(&["secret-argument"]);
    run.failure(1).stderr_has("holds a secret value");
    keep(&run);

    let run = p.kopsform(&["render-secret"]);
    run.success()
        .stderr_has("warning: secret.txt contains a secret value; written with mode 0600");
    keep(&run);
    assert_eq!(p.read("secret.txt"), format!("token: {OUTPUT}\n"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(p.join("secret.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let run = p.kopsform(&["save-secret"]);
    keep(run.success());
    assert_eq!(p.read(".kopsform/saved.txt"), "***\n");

    let run = p.kopsform(&["env-table-secret"]);
    keep(run.success().stdout_has("[env-table-secret] ***\n"));

    let run = p.kopsform(&["--dry-run", "cluster-update", "plan", "apply"]);
    keep(run.success());

    // A pull request changes the secret: the dry run plans and reviews the change.
    p.env("TF_VAR_kopsform_canary", PLAN_NEXT);
    let run = p.kopsform(&["dryrun"]);
    keep(run.success());
    assert!(
        p.read(".kopsform/dryrun/review.md")
            .contains("terraform_data.canary")
    );
    let run = p.kopsform(&["plan"]);
    keep(run.success().stdout_has("terraform_data.canary"));
    let run = p.kopsform(&["--yes", "apply"]);
    keep(run.success());

    // The secrets really are live: the state holds the plan value, the outputs the output.
    let state = p.tool(
        ".",
        "aws",
        &["s3", "cp", "s3://tf-state/2-kops/terraform.tfstate", "-"],
    );
    assert!(state.success().stdout.contains(PLAN_NEXT));

    let command_lines = std::fs::read_to_string(&argv_log).unwrap();
    assert!(command_lines.contains("terraform apply"), "{command_lines}");
    assert!(command_lines.contains("kops replace"), "{command_lines}");
    assert!(command_lines.contains("aws s3"), "{command_lines}");
    let files = crate::support::files(&p.join(".kopsform"));
    assert!(files.len() > 5, "{:?}", files.keys());
    for canary in [OUTPUT, PLAN_LIVE, PLAN_NEXT, ENV, AWS_KEY, SESSION] {
        assert!(
            !produced.contains(canary),
            "{canary} in the output:\n{produced}"
        );
        assert!(
            !command_lines.contains(canary),
            "{canary} on a command line"
        );
        for (file, bytes) in &files {
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{canary} in .kopsform/{file}"
            );
        }
    }
}

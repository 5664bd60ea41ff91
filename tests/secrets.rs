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

/// A PEM-like key as a sensitive output: several lines, with the characters that JSON (Go's
/// `\u003c`, `\u0026`), HCL and URL encoding each change.
const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEAc4n4ry<l1ne>0ne&x9Qf2Lm
c4n4ry\"l1ne\"tw0 %{b7Z8kQ3dVtY} 4f1e
Qk9HVVMtbGluZS10aHJlZQ71c4n4ry+/tail
-----END RSA PRIVATE KEY-----
";
/// A `secret-env` value that reaches a resource attribute Terraform does not mark sensitive, and
/// the value it replaces. The run that replaces it does not know the old value (only the state
/// holds it, unmarked), so the old value is not a canary: docs/security.md, known limits.
const DEPLOY: &str = "c4n4ry-d3pl0y<&>77aa";
const DEPLOY_BEFORE: &str = "deploy-token-v1";

/// The prerequisites output holding [`PEM`] (a heredoc: its lines as they are, template
/// sequences doubled).
fn pem_output_tf() -> String {
    format!(
        "output \"canary_pem\" {{\n  sensitive = true\n  value     = <<-EOT\n{}  EOT\n}}\n",
        PEM.lines()
            .map(|l| format!("    {}\n", l.replace("%{", "%%{").replace("${", "$${")))
            .collect::<String>()
    )
}

/// 2-kops: a variable not marked sensitive, fed from the environment, into a resource.
const DEPLOY_TF: &str = r#"
variable "deploy_token" {
  type    = string
  default = "none"
}

resource "terraform_data" "deploy" {
  input = var.deploy_token
}
"#;

/// Prints each secret of the environment in every form a program might give it.
const FORMS_PY: &str = r#"
import base64, json, os, urllib.parse
def hcl(s):
    return s.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n').replace('${', '$${').replace('%{', '%%{')
def go(s):
    return json.dumps(s)[1:-1].replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')
for name in ['CANARY_PEM', 'TF_VAR_deploy_token']:
    v = os.environ[name]
    b = v.encode()
    print(name, 'json:', json.dumps(v))
    print(name, 'go-json:', '"' + go(v) + '"')
    print(name, 'hcl:', '"' + hcl(v) + '"')
    print(name, 'base64:', base64.b64encode(b).decode())
    print(name, 'base64-url:', base64.urlsafe_b64encode(b).decode())
    print(name, 'base64-nopad:', base64.b64encode(b).decode().rstrip('='))
    print(name, 'base64-url-nopad:', base64.urlsafe_b64encode(b).decode().rstrip('='))
    print(name, 'url:', urllib.parse.quote(v, safe=''))
    print(name, 'url-plus:', urllib.parse.quote_plus(v))
    print(name, 'clear:', v)
"#;

/// A script holding a secret, base64-encoded whole (as `user_data` is), at each offset.
const USER_DATA_PY: &str = r#"
import base64, os
for name in ['CANARY_PEM', 'TF_VAR_deploy_token']:
    for before in ['#!/bin/sh\nK=', '#!/bin/sh\nKEY=', '#!/bin/sh\nKEYS=']:
        script = before + os.environ[name] + '\nexec run\n'
        print(name, 'user_data:', base64.b64encode(script.encode()).decode())
"#;

const FORMS_TASKS: &str = r#"
[tasks.forms]
env = { CANARY_PEM = "{{canary_pem}}" }
steps = [{ run = ["python3", "-c", "FORMS_PY"], save = "{{cluster.work}}/forms.txt" }]

[tasks.user-data]
env = { CANARY_PEM = "{{canary_pem}}" }
steps = [["python3", "-c", "USER_DATA_PY"]]

[tasks.terraform-outputs]
steps = [{ run = ["terraform", "output", "-json"], cwd = "{{cluster.prerequisites}}" }]

[tasks.fail-with-key]
env = { CANARY_PEM = "{{canary_pem}}" }
steps = [["sh", "-c", "printf 'Error: the key was refused:\n%s' \"$CANARY_PEM\" >&2; terraform -chdir=1-prerequisites output -json canary_pem >&2; exit 1"]]

[tasks.key-on-argv]
lock = false
steps = [["echo", "{{b64enc canary_pem}}"]]
"#;

/// The forms of `secret` a reader could take it back from: as it is, each line worth masking (as
/// the library decides; see `redact::forms`), JSON (serde's and Go's), HCL, HTML (the Markdown
/// review's escaping), base64 (four alphabets) and URL-encoded, of the whole and of each line.
fn leaking_forms(secret: &str) -> Vec<(String, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut units = vec![secret.to_string()];
    units.extend(
        secret
            .lines()
            .map(str::trim)
            .filter(|l| l.len() >= 4 && !l.starts_with("-----"))
            .map(str::to_string),
    );
    let mut forms = Vec::new();
    for u in units {
        let json = serde_json::Value::String(u.clone()).to_string();
        let json = json[1..json.len() - 1].to_string();
        let go = json
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        let hcl = u
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .replace("${", "$${")
            .replace("%{", "%%{");
        let html = u
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let url: String = u
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        for (name, form) in [
            ("clear", u.clone()),
            ("json", json),
            ("go-json", go),
            ("hcl", hcl),
            ("html", html),
            ("base64", STANDARD.encode(&u)),
            ("base64-url", URL_SAFE.encode(&u)),
            ("base64-nopad", STANDARD_NO_PAD.encode(&u)),
            ("base64-url-nopad", URL_SAFE_NO_PAD.encode(&u)),
            ("url", url.clone()),
            ("url-plus", url.replace("%20", "+")),
        ] {
            forms.push((format!("{name} of {u:?}"), form));
        }
    }
    forms
}

/// Where a secret can still be read in `text`: a form of it, or base64 that decodes to text
/// holding a line of it (whatever was masked around it).
fn leaks(text: &[u8], secret: &str) -> Vec<String> {
    use base64::Engine;
    let mut found = Vec::new();
    for (name, form) in leaking_forms(secret) {
        if text.windows(form.len()).any(|w| w == form.as_bytes()) {
            found.push(name);
        }
    }
    let lines: Vec<&str> = secret
        .lines()
        .map(str::trim)
        .filter(|l| l.len() >= 4 && !l.starts_with("-----"))
        .collect();
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let text = String::from_utf8_lossy(text);
    for token in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_".contains(c))) {
        let token = token.replace('-', "+").replace('_', "/");
        let token = token.trim_end_matches('=');
        for skip in 0..4.min(token.len()) {
            let rest = &token[skip..];
            let rest = &rest[..rest.len() - rest.len() % 4];
            if let Ok(bytes) = lenient.decode(rest) {
                let decoded = String::from_utf8_lossy(&bytes);
                for line in &lines {
                    // Half a line in clear is a leak already.
                    let half = &line[..line.len().div_ceil(2)];
                    if half.len() >= 8 && decoded.contains(half) {
                        found.push(format!("base64 holding {half:?} in {token}"));
                    }
                }
            }
        }
    }
    found
}

/// The lines of `text` with the secret in the forms [`FORMS_PY`] prints, masked: what the saved
/// output holds (masked whole) and, prefixed, what the terminal shows (masked line by line).
fn masked_forms(prefix: &str) -> String {
    let mut out = String::new();
    for name in ["CANARY_PEM", "TF_VAR_deploy_token"] {
        for form in [
            "json: \"***\"",
            "go-json: \"***\"",
            "hcl: \"***\"",
            "base64: ***",
            "base64-url: ***",
            "base64-nopad: ***",
            "base64-url-nopad: ***",
            "url: ***",
            "url-plus: ***",
        ] {
            out.push_str(&format!("{prefix}{name} {form}\n"));
        }
        if name == "CANARY_PEM" && !prefix.is_empty() {
            // Line by line: the armour stays, the lines of the key are masked.
            out.push_str(&format!(
                "{prefix}{name} clear: -----BEGIN RSA PRIVATE KEY-----\n{prefix}***\n{prefix}***\n{prefix}***\n{prefix}-----END RSA PRIVATE KEY-----\n{prefix}\n"
            ));
        } else if name == "CANARY_PEM" {
            out.push_str(&format!("{name} clear: ***\n"));
        } else {
            out.push_str(&format!("{prefix}{name} clear: ***\n"));
        }
    }
    out
}

#[test]
fn multi_line_and_encoded_secrets_leave_in_no_form_and_files_that_may_hold_them_are_private() {
    require_terraform();
    let s3 = S3::start();
    let mut p = cluster_project(&s3);
    let tasks = p
        .read("tasks.toml")
        .replace("[cluster]\n", "[cluster]\nsensitive = [\"canary_pem\"]\n");
    let extra = FORMS_TASKS
        .replace(
            "FORMS_PY",
            &FORMS_PY
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n"),
        )
        .replace(
            "USER_DATA_PY",
            &USER_DATA_PY
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n"),
        );
    p.file(
        "tasks.toml",
        &format!("secret-env = [\"TF_VAR_deploy_*\"]\n{tasks}{extra}"),
    );
    p.file("1-prerequisites/canary_pem.tf", &pem_output_tf());
    p.file("2-kops/deploy.tf", DEPLOY_TF);
    p.env("TF_VAR_deploy_token", DEPLOY_BEFORE);
    bring_up(&p);
    p.env("TF_VAR_deploy_token", DEPLOY);

    let mut produced = String::new();
    let mut keep = |run: &crate::support::Run| {
        produced.push_str(&run.stdout);
        produced.push_str(&run.stderr);
    };

    // Every form, relayed line by line to the terminal and saved whole to a file.
    let run = p.kopsform(&["forms"]);
    keep(run.success());
    assert_eq!(run.stdout, masked_forms("[forms] "), "{}", run.show());
    assert_eq!(p.read(".kopsform/forms.txt"), masked_forms(""));

    let run = p.kopsform(&["user-data"]);
    keep(run.success());
    assert_eq!(run.stdout.lines().count(), 6, "{}", run.show());
    assert!(
        run.stdout
            .lines()
            .all(|l| l.contains("user_data: ") && l.contains("***")),
        "{}",
        run.show()
    );

    // terraform output -json: Go's escaping of the multi-line key.
    let run = p.kopsform(&["terraform-outputs"]);
    keep(run.success().stdout_has(
        "[terraform-outputs]   \"canary_pem\": {\n[terraform-outputs]     \"sensitive\": true,\n[terraform-outputs]     \"type\": \"string\",\n[terraform-outputs]     \"value\": \"***\"\n[terraform-outputs]   },\n",
    ));

    // A failing step whose stderr holds the key, as it is and as JSON: the error message shows
    // the armour and masks the rest.
    let run = p.kopsform(&["fail-with-key"]);
    keep(run.failure(1).stderr_has(
        "kopsform: error: task `fail-with-key`: `sh` exited with status 1:\n  Error: the key was refused:\n  -----BEGIN RSA PRIVATE KEY-----\n  ***\n  ***\n  ***\n  -----END RSA PRIVATE KEY-----\n  \"***\"\n",
    ));

    // base64 of the key on a command line is the key to anyone who reads /proc/PID/cmdline.
    let run = p.kopsform(&["key-on-argv"]);
    keep(run.failure(1).stderr_has(
        "kopsform: error: task `key-on-argv`: argument 1 of `echo` holds a secret value, base64-encoded (a sensitive output, or a variable of `secret-env`)",
    ));

    // The secret-env value reaches terraform_data.deploy, which Terraform does not mark
    // sensitive: the terminal, the review and its JSON hide it all the same.
    let run = p.kopsform(&["dryrun"]);
    keep(run.success());
    let review = p.read(".kopsform/dryrun/review.md");
    assert!(review.contains("terraform_data.deploy"), "{review}");
    let json: serde_json::Value =
        serde_json::from_str(&p.read(".kopsform/dryrun/review.json")).unwrap();
    let deploy = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "terraform_data.deploy")
        .unwrap_or_else(|| panic!("{json:#}"));
    let input = deploy["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["path"] == "input")
        .unwrap_or_else(|| panic!("{deploy:#}"));
    assert_eq!(input["after"], "(sensitive)", "{deploy:#}");
    let variable = json["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "deploy_token")
        .unwrap_or_else(|| panic!("{json:#}"));
    assert_eq!(variable["value"], "(sensitive)", "{json:#}");

    // `kopsform review` of a saved plan knows the secret variables of its environment too.
    let run = p.kopsform(&["plan"]);
    keep(run.success());
    let run = p.kopsform(&["review", "2-kops/kubernetes.tfplan"]);
    keep(run.failure(2).stdout_has("terraform_data.deploy"));

    use std::os::unix::fs::PermissionsExt;
    let mode = |rel: &str| {
        std::fs::metadata(p.join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(".kopsform"), 0o700);
    let kopsform_files = crate::support::files(&p.join(".kopsform"));
    for private in [
        "forms.txt",
        "audit.jsonl",
        "tool-versions.json",
        "dryrun/review.md",
        "dryrun/review.json",
        "dryrun/rolling-update.txt",
    ] {
        assert!(
            kopsform_files.contains_key(private),
            "{:?}",
            kopsform_files.keys()
        );
        assert_eq!(mode(&format!(".kopsform/{private}")), 0o600, "{private}");
    }
    let records: Vec<&String> = kopsform_files
        .keys()
        .filter(|f| f.starts_with("up-to-date/"))
        .collect();
    assert!(!records.is_empty(), "{:?}", kopsform_files.keys());
    for record in records {
        assert_eq!(mode(&format!(".kopsform/{record}")), 0o600, "{record}");
    }

    // Every byte produced, and every file of the project but Terraform's own (its state and
    // saved plans hold sensitive values by design) and the test's input.
    let files = crate::support::files(p.path());
    let scanned: Vec<(&String, &Vec<u8>)> = files
        .iter()
        .filter(|(f, _)| {
            !f.contains(".terraform/")
                && !f.contains("terraform.tfstate")
                && !f.ends_with(".tfplan")
                && *f != "1-prerequisites/canary_pem.tf"
        })
        .collect();
    assert!(
        scanned
            .iter()
            .any(|(f, _)| *f == ".kopsform/dryrun/review.md"),
        "{:?}",
        files.keys()
    );
    for secret in [PEM, DEPLOY] {
        let found = leaks(produced.as_bytes(), secret);
        assert!(found.is_empty(), "{found:?} in the output:\n{produced}");
        for (file, bytes) in &scanned {
            let found = leaks(bytes, secret);
            assert!(found.is_empty(), "{found:?} in {file}");
        }
    }
}

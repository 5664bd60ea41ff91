//! The real-provider bench: kops's real `kubernetes.tf` planned and applied by the real
//! hashicorp/aws provider, installed offline from a Terraform filesystem mirror, against moto started
//! through `tests/moto/launch.py` (moto with the patches kops's resources need) on a loopback port.
//!
//! Everything here fails the test loudly when a piece is missing (the mirror, the kops fixtures,
//! moto, Python): a bench that skips proves nothing. Nothing reaches beyond loopback.

use super::{Project, Run, repo, require, require_terraform};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// kops's fake region in its integration fixtures (moto learns it from the launcher).
pub const REGION: &str = "us-test-1";

/// The services kops's Terraform (and the prerequisites layer: `aws_caller_identity` asks STS) talks
/// to, each pointed at moto by the override file.
const ENDPOINTS: [&str; 10] = [
    "autoscaling",
    "ec2",
    "elb",
    "elbv2",
    "events",
    "iam",
    "route53",
    "s3",
    "sqs",
    "sts",
];

/// One real-provider test at a time: each Terraform run starts two provider processes of about
/// 0.5 GB each, and an apply takes most of a minute of CPU. Held for the whole test.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static BENCH: Mutex<()> = Mutex::new(());
    BENCH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The root of the filesystem mirror holding hashicorp/aws (the folder with
/// `registry.terraform.io/`), found by the same script `.ci/run` uses:
/// `KOPSFORM_TEST_AWS_MIRROR` when set, else a search of the file system.
pub fn aws_mirror() -> PathBuf {
    require_terraform();
    let script = repo().join("tests/real-provider/find-aws-mirror.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the real-provider tests need the hashicorp/aws provider as a Terraform filesystem mirror, \
         and none was found (these tests never download it):\n{stderr}"
    );
    let root = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        !root.is_empty(),
        "{} printed no mirror root\n{stderr}",
        script.display()
    );
    PathBuf::from(root)
}

/// A Terraform CLI configuration that installs hashicorp/aws from `mirror` only and never asks a
/// registry for it. Written to `path`; point `TF_CLI_CONFIG_FILE` at it.
pub fn write_cli_config(path: &Path, mirror: &Path) {
    let config = format!(
        r#"# Written by the kopsform real-provider tests: hashicorp/aws from the local mirror only.
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["registry.terraform.io/hashicorp/aws"]
  }}
  direct {{
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }}
}}
"#,
        mirror = mirror.display()
    );
    std::fs::write(path, config).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The folder of kops's own fixtures (`kubernetes.tf` and `data/` as kops emits them), outside
/// the repository: `KOPSFORM_TEST_KOPS_FIXTURES`, else `../shared/fixtures/kops` beside it.
pub fn kops_fixtures() -> PathBuf {
    let dir = std::env::var_os("KOPSFORM_TEST_KOPS_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/fixtures/kops"));
    assert!(
        dir.join("minimal-aws/kubernetes.tf").is_file(),
        "the real-provider tests apply kops's own kubernetes.tf fixtures and found none at {} \
         (expected <dir>/minimal-aws/kubernetes.tf and its data/); set KOPSFORM_TEST_KOPS_FIXTURES",
        dir.display()
    );
    dir
}

/// Copies kops's fixture `name` (its `kubernetes.tf` and `data/` files) into the project folder
/// `to`, with kops's fake partition `arn:aws-test:` written as `arn:aws:` (moto refuses the fake
/// one in IAM policies). The copies are writable, whatever the originals are.
pub fn copy_kops_fixture(project: &Project, name: &str, to: &str) {
    let from = kops_fixtures().join(name);
    let dest = project.join(to);
    let mut pending = vec![(from.join("kubernetes.tf"), dest.join("kubernetes.tf"))];
    for entry in std::fs::read_dir(from.join("data")).expect("the fixture's data/ folder") {
        let entry = entry.unwrap();
        pending.push((entry.path(), dest.join("data").join(entry.file_name())));
    }
    for (source, target) in pending {
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, text.replace("arn:aws-test:", "arn:aws:")).unwrap();
    }
}

/// The override file that points every aws provider block of kops's `kubernetes.tf` (the default
/// one and `alias = "files"`) at moto: dummy keys, no account or metadata lookups, path-style S3,
/// and few retries (with the provider's default, one HTTP 500 from moto stalls an apply for many
/// minutes).
pub fn provider_override(endpoint: &str) -> String {
    provider_override_for(endpoint, &["", "files"])
}

/// The override for the provider blocks named by `aliases` (`""` is the default provider): a
/// layer without kops's `aws.files` provider must not get an override for it.
pub fn provider_override_for(endpoint: &str, aliases: &[&str]) -> String {
    let endpoints: String = ENDPOINTS
        .iter()
        .map(|service| format!("    {service:<11} = \"{endpoint}\"\n"))
        .collect();
    aliases
        .iter()
        .map(|alias| {
            let alias_line = if alias.is_empty() {
                String::new()
            } else {
                format!("  alias                       = \"{alias}\"\n")
            };
            format!(
                r#"provider "aws" {{
{alias_line}  region                      = "{REGION}"
  access_key                  = "kopsform-test"
  secret_key                  = "kopsform-test-secret"
  profile                     = null
  skip_region_validation      = true
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  max_retries                 = 2
  endpoints {{
{endpoints}  }}
}}
"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// moto started through `tests/moto/launch.py` on a free loopback port, its log in a file.
/// Stopped when dropped.
pub struct PatchedMoto {
    child: Child,
    pub endpoint: String,
    log: PathBuf,
}

impl PatchedMoto {
    /// Starts the launcher, writing moto's log to `log`.
    pub fn start(log: &Path) -> PatchedMoto {
        require("python3", "install Python 3 (moto runs on it)");
        let importable = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            importable,
            "python3 cannot import moto.server: pip install 'moto[server]' (.ci/run installs it when missing)"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log_file = std::fs::File::create(log).expect("moto's log file");
        let child = Command::new("python3")
            .arg(repo().join("tests/moto/launch.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start tests/moto/launch.py");
        let mut moto = PatchedMoto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!(
                    "tests/moto/launch.py exited ({status}) before listening\n{}",
                    moto.log_text()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "tests/moto/launch.py did not listen on {} within 60s\n{}",
                moto.endpoint,
                moto.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// moto's tracebacks: each is an HTTP 500, a place where moto still falls short.
    pub fn tracebacks(&self) -> Vec<String> {
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.starts_with("Traceback"))
            .map(|(i, _)| {
                // The traceback up to its exception line (the first line not indented).
                let end = lines[i + 1..]
                    .iter()
                    .position(|l| !l.starts_with(' '))
                    .map_or(lines.len(), |p| i + 2 + p);
                lines[i..end].join("\n")
            })
            .collect()
    }

    /// The launcher's diagnostic lines (`kopsform moto launcher: ...`), such as each
    /// `InvalidPermission.Duplicate` with the rules the group had: shown with a failed step.
    pub fn diagnostics(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.starts_with("kopsform moto launcher: ") && !l.contains(": moto "))
            .map(str::to_string)
            .collect()
    }

    /// The environment for the aws CLI talking to this moto in kops's region.
    pub fn attach(&self, project: &mut Project) {
        for (key, value) in [
            ("AWS_ACCESS_KEY_ID", "kopsform-test"),
            ("AWS_SECRET_ACCESS_KEY", "kopsform-test-secret"),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_REGION", REGION),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            project.env(key, value);
        }
    }
}

impl Drop for PatchedMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A project folder `dir` holding kops's fixture `fixture`, ready for the real Terraform against
/// `moto`: the fixture copied, the override file beside it, the CLI configuration of the mirror in
/// use, and the aws CLI pointed at moto.
pub fn kops_layer(project: &mut Project, moto: &PatchedMoto, fixture: &str, dir: &str) {
    require(
        "aws",
        "pip install awscli (.ci/run installs it when missing)",
    );
    let mirror = aws_mirror();
    let config = project.join("terraform-cli.tfrc");
    write_cli_config(&config, &mirror);
    project.env("TF_CLI_CONFIG_FILE", &config.display().to_string());
    moto.attach(project);
    copy_kops_fixture(project, fixture, dir);
    project.file(
        &format!("{dir}/moto_override.tf"),
        &provider_override(&moto.endpoint),
    );
}

/// Runs the aws CLI against moto and parses its JSON answer; fails the test when it fails.
#[track_caller]
pub fn aws_json(project: &Project, args: &[&str]) -> serde_json::Value {
    let mut argv = args.to_vec();
    argv.extend(["--output", "json"]);
    let run: Run = project.tool(".", "aws", &argv);
    run.success();
    if run.stdout.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("aws {args:?} printed no JSON ({e})\n{}", run.show()))
}

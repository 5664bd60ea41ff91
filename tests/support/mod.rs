//! Test bench: a temporary project, the real kopsform binary, real terraform, a real S3 API
//! (moto_server on a loopback port) and the kops double on PATH.

#![allow(dead_code)]

pub mod real_aws;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding the kops double, named `kops`, to put first on PATH.
pub fn kops_double_dir() -> PathBuf {
    repo().join("tests/kops-double")
}

/// Fails the test with a clear message when a real tool the bench needs is missing.
pub fn require(tool: &str, install: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "`{tool}` is not installed, and these tests use the real one: {install}"
    );
}

pub fn require_terraform() {
    require(
        "terraform",
        "install Terraform 1.x on PATH (.ci/run fails early without it)",
    );
}

/// Removes ANSI colour sequences (terraform colours its output even into a pipe): kopsform's
/// own function, which its error messages use.
pub use kopsform::strip_colour as strip_ansi;

/// The result of running kopsform (colour sequences removed).
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\n{}", self.show());
        self
    }

    #[track_caller]
    pub fn failure(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}\n{}", self.show());
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n{}",
            self.show()
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n{}",
            self.show()
        );
        self
    }

    #[track_caller]
    pub fn output_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "output contains {text:?}\n{}",
            self.show()
        );
        self
    }

    pub fn show(&self) -> String {
        format!(
            "--- exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A temporary project folder.
pub struct Project {
    pub tmp: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

/// Runs `command` to the end: its status and its output without colours.
fn run(command: &mut Command, what: &str) -> Run {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: strip_ansi(&String::from_utf8_lossy(&output.stdout)),
        stderr: strip_ansi(&String::from_utf8_lossy(&output.stderr)),
    }
}

/// Every file under `dir` (relative path) with its bytes.
pub fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                found.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("kopsform-test-")
            .tempdir()
            .expect("temp dir");
        let cloud = tmp.path().join(".kops-double-cloud");
        let path = format!(
            "{}:{}",
            kops_double_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Project {
            env: vec![
                ("PATH".into(), path),
                ("KOPS_DOUBLE_CLOUD".into(), cloud.display().to_string()),
                // the fast stand-ins: the tests that need kops's real `aws_*` output
                // (real_lifecycle, real_double, double_fidelity) set `aws` themselves
                ("KOPS_DOUBLE_TERRAFORM".into(), "stand-ins".into()),
                ("TF_CLI_CONFIG_FILE".into(), "/dev/null".into()),
                ("CHECKPOINT_DISABLE".into(), "1".into()),
                ("HOME".into(), tmp.path().display().to_string()),
            ],
            tmp,
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn file(&self, rel: &str, contents: &str) -> &Self {
        let path = self.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.join(rel).exists()
    }

    /// Copies a file or folder of the repository into the project.
    pub fn copy_from_repo(&self, from: &str, to: &str) -> &Self {
        copy_tree(&repo().join(from), &self.join(to));
        self
    }

    /// The PATH the project's commands get.
    pub fn path_var(&self) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Puts `dir` first on the PATH the project's commands get.
    pub fn prepend_path(&mut self, dir: &Path) -> &mut Self {
        let path = format!("{}:{}", dir.display(), self.path_var());
        self.env("PATH", &path)
    }

    /// Where the project's PATH finds `tool`.
    pub fn find_on_path(&self, tool: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path_var())
            .map(|d| d.join(tool))
            .find(|c| c.is_file())
    }

    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs kopsform in the project folder with `args`.
    pub fn kopsform(&self, args: &[&str]) -> Run {
        self.kopsform_in(self.path(), args)
    }

    /// kopsform with `args`, without the variables `host` of the machine running the tests (the
    /// project's own `env` stays): for tests of what kopsform finds, such as credentials.
    pub fn kopsform_without(&self, host: &[&str], args: &[&str]) -> Run {
        let mut command = self.command(args);
        for var in host {
            if !self.env.iter().any(|(k, _)| k == var) {
                command.env_remove(var);
            }
        }
        run(&mut command, "kopsform")
    }

    pub fn kopsform_in(&self, cwd: &Path, args: &[&str]) -> Run {
        run(self.command(args).current_dir(cwd), "kopsform")
    }

    /// kopsform with `args` in the project folder, with the project's environment and no input,
    /// not started yet: for tests that start it in the background or pipe its output.
    pub fn command(&self, args: &[&str]) -> Command {
        self.program(".", env!("CARGO_BIN_EXE_kopsform"), args)
    }

    /// Starts kopsform in the background (its output discarded), for concurrency tests.
    pub fn spawn_kopsform(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kopsform")
    }

    /// Runs another program (terraform, aws, the kops double) with the project's environment.
    pub fn tool(&self, cwd: &str, program: &str, args: &[&str]) -> Run {
        run(&mut self.program(cwd, program, args), program)
    }

    fn program(&self, cwd: &str, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(self.join(cwd))
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        command
    }

    /// Writes an executable script.
    pub fn script(&self, rel: &str, body: &str) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        self.file(rel, body);
        std::fs::set_permissions(self.join(rel), std::fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// Writes a Terraform layer at `dir` whose outputs are those of a recorded
    /// `terraform output -json` file, and applies it for real.
    pub fn layer_from_recorded_outputs(&self, dir: &str, recorded: &str) {
        let json: serde_json::Value = serde_json::from_str(recorded).expect("recorded outputs");
        std::fs::create_dir_all(self.join(dir)).unwrap();
        std::fs::write(self.join(dir).join("recorded.json"), recorded).unwrap();
        let mut tf = String::from(
            "locals {\n  recorded = jsondecode(file(\"${path.module}/recorded.json\"))\n}\n",
        );
        for (name, entry) in json.as_object().expect("an object") {
            let sensitive = entry["sensitive"].as_bool().unwrap_or(false);
            tf.push_str(&format!(
                "output \"{name}\" {{\n  value     = local.recorded[\"{name}\"].value\n  sensitive = {sensitive}\n}}\n"
            ));
        }
        std::fs::write(self.join(dir).join("main.tf"), tf).unwrap();
        self.tool(dir, "terraform", &["init", "-input=false"])
            .success();
        self.tool(
            dir,
            "terraform",
            &["apply", "-auto-approve", "-input=false"],
        )
        .success();
    }
}

/// Variables of the machine running the tests that would give kopsform credentials of its own:
/// a test that gives the project its own (`[env]`, profiles) runs kopsform without these.
pub const HOST_CREDENTIALS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

pub fn copy_tree(from: &Path, to: &Path) {
    let meta = std::fs::metadata(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    if meta.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            // Never copy a developer's local state or generated files into a test project.
            if [
                ".terraform",
                ".kops-state",
                ".kopsform",
                ".kops-double-cloud",
            ]
            .contains(&name_str.as_ref())
                || name_str.starts_with("terraform.tfstate")
                || name_str.ends_with(".tfplan")
                || name_str == ".terraform.lock.hcl"
            {
                continue;
            }
            copy_tree(&entry.path(), &to.join(name));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// A moto_server on a free loopback port: a real S3 API for the aws CLI, Terraform's s3 backend
/// and the kops double. Stopped when dropped.
pub struct S3 {
    child: Child,
    pub endpoint: String,
}

impl S3 {
    /// The server's process id (a test that makes the store unreachable stops it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn start() -> S3 {
        require(
            "moto_server",
            "pip install 'moto[server]' (.ci/run installs it when missing)",
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on {endpoint} within 30s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        S3 { child, endpoint }
    }

    /// The environment that points the aws CLI, Terraform and the kops double at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing-secret-key"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_S3", self.endpoint.as_str()),
            ("S3_ENDPOINT", self.endpoint.as_str()),
            ("S3_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub fn attach(&self, project: &mut Project) {
        for (k, v) in self.env() {
            project.env(&k, &v);
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Added to the sandbox prerequisites layer: the layer creates the kops state bucket, as the real
/// one does, and removes it on destroy (`aws s3 rb` fails on a bucket that still holds objects:
/// anything kops left; kopsform's audit records, which outlive the cluster, are removed first).
pub const STATE_BUCKET_TF: &str = r#"
resource "terraform_data" "kops_state_bucket" {
  input = "kops-state-sandbox-k8s-local"

  provisioner "local-exec" {
    command = "aws s3api create-bucket --bucket ${self.input}"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "aws s3 rm --recursive --only-show-errors s3://${self.input}/.kopsform-audit/ && aws s3 rb s3://${self.input}"
  }
}
"#;

pub fn backend_tf(endpoint: &str) -> String {
    format!(
        r#"terraform {{
  backend "s3" {{
    bucket                      = "tf-state"
    key                         = "2-kops/terraform.tfstate"
    region                      = "us-east-1"
    use_path_style              = true
    use_lockfile                = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    endpoints = {{
      s3 = "{endpoint}"
    }}
  }}
}}
"#
    )
}

pub fn bucket_keys(p: &Project, bucket: &str) -> Vec<String> {
    let run = p.tool(
        ".",
        "aws",
        &["s3", "ls", &format!("s3://{bucket}"), "--recursive"],
    );
    run.success();
    run.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

/// Applies the prerequisites and the cluster: a live cluster to review changes against.
pub fn bring_up(p: &Project) {
    p.kopsform(&[
        "--yes",
        "prerequisites-apply",
        "cluster-update",
        "plan",
        "apply",
    ])
    .success();
}

/// A project with the repository's tasks.toml and template, the sandbox prerequisites layer that
/// also creates the kops state bucket in S3, and 2-kops keeping its Terraform state in the s3
/// backend (bucket `tf-state`). The kops state store is `s3://kops-state-sandbox-k8s-local`.
pub fn cluster_project(s3: &S3) -> Project {
    require("aws", "pip install awscli");
    let mut p = Project::new();
    s3.attach(&mut p);
    p.copy_from_repo("examples/sandbox/1-prerequisites", "1-prerequisites");
    p.file("1-prerequisites/state_bucket.tf", STATE_BUCKET_TF);
    p.copy_from_repo("tasks.toml", "tasks.toml");
    p.copy_from_repo("2-kops/cluster-template.yml", "2-kops/cluster-template.yml");
    p.file("2-kops/backend.tf", &backend_tf(&s3.endpoint));
    p.tool(
        ".",
        "aws",
        &["s3api", "create-bucket", "--bucket", "tf-state"],
    )
    .success();
    p
}

/// Every entry under `dir`, without following symbolic links: a file by the SHA-256 of its
/// bytes, a folder as `folder` (so an emptied folder shows), a link by where it points. Compare two
/// of these to show that a run wrote, deleted or changed nothing.
pub fn tree_hashes(dir: &Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    let mut found = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            let what = if kind.is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if kind.is_dir() {
                stack.push(path);
                "folder".to_string()
            } else {
                let bytes = std::fs::read(&path).unwrap();
                sha2::Sha256::digest(&bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            };
            found.insert(rel, what);
        }
    }
    found
}

/// A folder beside a test project, outside it (a sibling in the temporary folder), holding a few
/// files: what a step must never write to or delete. Removed when dropped.
pub struct Sibling {
    pub dir: tempfile::TempDir,
}

impl Sibling {
    /// In the temporary folder that holds the test projects, so that `../NAME` from a project
    /// reaches it.
    pub fn new() -> Sibling {
        let dir = tempfile::Builder::new()
            .prefix("kopsform-sibling-")
            .tempdir()
            .expect("sibling dir");
        std::fs::create_dir_all(dir.path().join("keep/deeper")).unwrap();
        std::fs::write(dir.path().join("keep/deeper/file.txt"), "precious\n").unwrap();
        std::fs::write(dir.path().join("victim.txt"), "do not truncate\n").unwrap();
        Sibling { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The folder's name, for `../NAME` paths from the project.
    pub fn name(&self) -> String {
        self.dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }
}

/// The hashes of a project (its audit trail left out, which every run appends to) and of a
/// sibling folder, taken together before and after a run.
pub fn snapshot_both(
    project: &Project,
    sibling: &Sibling,
) -> (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, String>,
) {
    let mut mine = tree_hashes(project.path());
    mine.remove(".kopsform/audit.jsonl");
    // The folder the trail is appended in (a link there is kept: it is what some cases test).
    if mine.get(".kopsform").map(String::as_str) == Some("folder") {
        mine.remove(".kopsform");
    }
    (mine, tree_hashes(sibling.path()))
}

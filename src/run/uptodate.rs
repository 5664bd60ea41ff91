//! Up-to-date checks: a task with `sources` is skipped when its fingerprint and its generated
//! files are what they were after its last successful run.
//!
//! The fingerprint covers the content of the sources, the task's resolved steps (arguments,
//! folders, environment, built-in settings), the values it renders with, and the versions of the
//! tools it runs. For a task that runs kops it also records, after the run, the cluster's spec in
//! the state store (`config`, `instancegroup/*`), so a `kops edit` by someone else makes it run
//! again. The record is written only after the task succeeded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::UserError;
use crate::project::task::{Builtin, Step};
use crate::statestore::store::{self, Aws, Store};
use crate::text::hex;
use crate::tools::kops::OUTPUT_ENVIRONMENT;

use super::scope::Runner;

/// What a task reads, as its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Inputs {
    /// SHA-256 of everything the task reads, the kops environment included.
    pub(crate) digest: String,
    /// For a task that runs kops: each variable of [`OUTPUT_ENVIRONMENT`] its kops steps see from
    /// kopsform's own environment, with the SHA-256 of its value (so that a message can name the
    /// one that changed without keeping the value).
    pub(crate) kops_environment: BTreeMap<String, String>,
}

/// What a task's last successful run left behind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub(crate) struct Record {
    /// SHA-256 of everything the task reads.
    pub(crate) inputs: String,
    /// The kops environment of [`Inputs`]; absent in records of kopsform before issue 17.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kops_environment: Option<BTreeMap<String, String>>,
    /// SHA-256 of the cluster's spec in the state store after the run (kops tasks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    /// Each generated file with its SHA-256.
    pub(crate) generates: BTreeMap<String, String>,
}

/// Collects the parts of a fingerprint, each under a label.
#[derive(Default)]
pub(crate) struct Fingerprint {
    hasher: Sha256,
}

impl Fingerprint {
    pub(crate) fn add(&mut self, label: &str, value: &[u8]) {
        self.hasher.update((label.len() as u64).to_le_bytes());
        self.hasher.update(label.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
    }

    pub(crate) fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

fn sha256_file(path: &Path) -> Result<String, UserError> {
    let bytes = std::fs::read(path)
        .map_err(|e| UserError::new(format!("{}: cannot read: {e}", path.display())))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// The files matching `patterns` (relative to `dir`), sorted, each with its SHA-256. A pattern that
/// matches nothing is reported in `missing`.
pub(crate) fn expand(
    dir: &Path,
    patterns: &[String],
) -> Result<(BTreeMap<String, String>, Vec<String>), UserError> {
    let mut files = BTreeMap::new();
    let mut missing = Vec::new();
    for pattern in patterns {
        let full = dir.join(pattern).to_string_lossy().into_owned();
        // A plain path (no wildcard, nothing a glob would spell differently) is that file or
        // nothing: one `stat`, where the glob walked and stat'ed every folder above it, twice
        // (issue 19). The name it is recorded under is the same either way.
        let literal = is_plain_path(pattern).then(|| PathBuf::from(&full));
        // Every entry of a plainly named folder (`2-kops/data/*`) is the folder's listing, as
        // the glob finds it: `*` matches every name that is UTF-8, dot files too, in name order;
        // the glob also stat'ed every folder above it, twice, and matched each name (issue 19).
        let listed = pattern
            .strip_suffix("/*")
            .filter(|folder| is_plain_path(folder))
            .and_then(|_| full.strip_suffix("/*"));
        let paths: Box<dyn Iterator<Item = PathBuf>> = match (literal, listed) {
            (Some(path), _) => Box::new(std::iter::once(path)),
            (None, Some(folder)) => Box::new(listing(Path::new(folder)).into_iter()),
            (None, None) => Box::new(
                glob::glob(&full)
                    .map_err(|e| UserError::new(format!("`{pattern}` is not a glob: {e}")))?
                    .flatten(),
            ),
        };
        let mut any = false;
        for path in paths {
            if path.is_file() {
                any = true;
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, sha256_file(&path)?);
            }
        }
        if !any {
            missing.push(pattern.clone());
        }
    }
    Ok((files, missing))
}

/// The entries of `folder` with UTF-8 names, sorted, as `glob("folder/*")` gives them; none when
/// it cannot be read.
fn listing(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    // The glob reads the whole listing or gives nothing.
    let Ok(names) = entries
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = names
        .into_iter()
        .filter(|name| name.to_str().is_some())
        .map(|name| folder.join(name))
        .collect();
    paths.sort();
    paths
}

/// Whether `pattern` names one path the way a glob of it would: no wildcard or character class,
/// and none of the spellings (`//`, `.` components, a trailing `/`) a glob's match would write
/// otherwise.
fn is_plain_path(pattern: &str) -> bool {
    !pattern.is_empty()
        && !pattern.contains(['*', '?', '[', ']', '\\'])
        && !pattern.ends_with('/')
        && !pattern.contains("//")
        && pattern.split('/').all(|c| c != ".")
}

/// Where a task's record lives.
pub(crate) fn record_path(work: &Path, task: &str) -> PathBuf {
    work.join("up-to-date").join(format!("{task}.json"))
}

pub(crate) fn read_record(path: &Path) -> Option<Record> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

pub(crate) fn write_record(path: &Path, record: &Record) -> Result<(), UserError> {
    let text = serde_json::to_string_pretty(record)
        .map_err(|e| UserError::new(format!("cannot write the up-to-date record: {e}")))?;
    crate::atomic::write(path, format!("{text}\n").as_bytes(), 0o600)
}

/// The version a tool reports (`TOOL version`, else `TOOL --version`), for the fingerprint. Asked
/// once per process: every cluster of a run shares the answer. Across runs the answer is kept in
/// the file `cache` (in `.kopsform/`) under the executable's identity ([`executable_identity`]),
/// so that an up-to-date check starts no tool while the executable stays the same file.
///
/// The tool is asked with `env` (the cluster's `[env]` and `env`, which a version manager or a
/// wrapper may read): answers are kept per program and environment, the environment named in the
/// cache only by a digest, since it may hold credentials.
pub(crate) fn tool_version(
    program: &str,
    cwd: &Path,
    cache: &Path,
    env: &[(String, String)],
) -> String {
    let key = cache_key(program, env);
    remembered::<std::convert::Infallible>(&key, program, cache, || {
        Ok(ask_version(program, cwd, env))
    })
    .unwrap_or_else(|never| match never {})
}

/// The version `terraform version -json` gives the plan seal ([`crate::tools::terraform::version`]),
/// kept like [`tool_version`]'s answer: asked once per process, and across runs in `cache` under
/// the executable's identity, so that a plan starts no `terraform version` of its own while the
/// executable stays the same file (issue 19). A failed answer is not kept: it fails the seal.
pub(crate) fn seal_terraform_version(
    program: &str,
    cwd: &Path,
    cache: &Path,
    env: &[(String, String)],
) -> Result<String, UserError> {
    let key = format!("{} [version -json]", cache_key(program, env));
    remembered(&key, program, cache, || {
        crate::tools::terraform::version(program, cwd, env)
    })
}

/// The name an answer for `program` with `env` is kept under: the program, and a digest of the
/// environment when there is one.
fn cache_key(program: &str, env: &[(String, String)]) -> String {
    if env.is_empty() {
        program.to_string()
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{env:?}").as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{program} (env {hex})")
    }
}

/// The answer kept under `key` for `program`: this process's, else the file `cache`'s while the
/// executable's identity ([`executable_identity`]) is the one it was kept with, else `ask()`'s,
/// then kept in both (the file only when the executable has an identity).
fn remembered<E>(
    key: &str,
    program: &str,
    cache: &Path,
    ask: impl FnOnce() -> Result<String, E>,
) -> Result<String, E> {
    static SEEN: std::sync::Mutex<BTreeMap<String, String>> =
        std::sync::Mutex::new(BTreeMap::new());
    // Held while the tool answers: clusters run in parallel wait for one answer instead of each
    // starting the tool.
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = seen.get(key) {
        return Ok(v.clone());
    }
    let identity = executable_identity(program);
    let mut cached: BTreeMap<String, CachedVersion> = std::fs::read(cache)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let known = identity.as_ref().and_then(|id| {
        cached
            .get(key)
            .filter(|c| &c.identity == id)
            .map(|c| c.version.clone())
    });
    let version = match known {
        Some(version) => version,
        None => {
            let version = ask()?;
            if let Some(identity) = identity {
                cached.insert(
                    key.to_string(),
                    CachedVersion {
                        identity,
                        version: version.clone(),
                    },
                );
                // A cache that cannot be written only costs the next run a question.
                if let Ok(text) = serde_json::to_vec_pretty(&cached) {
                    let _ = crate::atomic::write(cache, &text, 0o600);
                }
            }
            version
        }
    };
    seen.insert(key.to_string(), version.clone());
    Ok(version)
}

fn ask_version(program: &str, cwd: &Path, env: &[(String, String)]) -> String {
    [["version"].as_slice(), ["--version"].as_slice()]
        .into_iter()
        .find_map(
            |args| match crate::tools::version::ask(program, args, cwd, env) {
                Ok(answer) if answer.code == 0 => Some(answer.stdout.trim().to_string()),
                _ => None,
            },
        )
        .unwrap_or_else(|| {
            format!(
                "{}: no version",
                crate::tools::process::shown_program(program)
            )
        })
}

/// A tool's version as the last run asked it, and the executable that answered.
#[derive(Serialize, Deserialize)]
struct CachedVersion {
    identity: String,
    version: String,
}

/// Programs that run another program chosen by configuration (a version manager's shims and
/// proxies): the same file answers with different versions, so their answer is never kept.
const MULTIPLEXERS: &[&str] = &["mise", "rtx", "asdf", "aqua-proxy", "proto", "pkgx"];

/// The executable `program` runs, resolved (symlinks followed), with its size, modification time,
/// inode and device: a new version installed over it, or a symlink pointed elsewhere, changes it.
/// `None` (always ask) when it cannot be found, or it is a version manager's shim (a `shims`
/// folder on its path, or a link to one of [`MULTIPLEXERS`]).
pub(crate) fn executable_identity(program: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let located = crate::tools::process::locate(program)?;
    if located.components().any(|c| c.as_os_str() == "shims") {
        return None;
    }
    let real = std::fs::canonicalize(&located).ok()?;
    let name = real.file_name()?.to_string_lossy();
    if MULTIPLEXERS.contains(&name.as_ref()) || real.components().any(|c| c.as_os_str() == "shims")
    {
        return None;
    }
    let m = std::fs::metadata(&real).ok()?;
    Some(format!(
        "{} {} {}.{} {} {}",
        real.display(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino(),
        m.dev()
    ))
}

/// SHA-256 over the cluster's spec objects in the state store: `<name>/config` and
/// `<name>/instancegroup/*` (key and ETag for S3, content for local stores).
pub(crate) fn registry_hash(store: &Store, cluster: &str, aws: &Aws) -> Result<String, UserError> {
    let mut fp = Fingerprint::default();
    match store {
        Store::Local(dir) => {
            let base = dir.join(cluster);
            let (files, _) = expand(&base, &["config".into(), "instancegroup/*".into()])?;
            for (rel, sha) in files.iter().filter(|(rel, _)| store::is_spec(rel)) {
                fp.add(rel, sha.as_bytes());
            }
        }
        Store::S3 { bucket, prefix } => {
            let key_prefix = Store::key(prefix, &format!("{cluster}/"));
            for (key, etag) in store::list_objects(aws, bucket, &key_prefix)? {
                if let Some(rel) = key.strip_prefix(&key_prefix)
                    && store::is_spec(rel)
                {
                    fp.add(rel, etag.as_bytes());
                }
            }
        }
    }
    Ok(fp.finish())
}

/// The variables of [`OUTPUT_ENVIRONMENT`] set in `lookup` (kopsform's own environment, which a
/// kops step inherits) and not set by a layer of tasks.toml (`layered`: those are fingerprinted
/// as written), each with the SHA-256 of its value.
fn kops_environment(
    layered: &[String],
    lookup: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    OUTPUT_ENVIRONMENT
        .iter()
        .filter(|(name, _)| !layered.iter().any(|l| l == name))
        .filter_map(|(name, _)| {
            // kops reads every one of them as `os.Getenv(x) != ""`: empty is unset.
            let value = lookup(name).filter(|v| !v.is_empty())?;
            Some((name.to_string(), hex(&Sha256::digest(value.as_bytes()))))
        })
        .collect()
}

/// The variables whose value differs between two kops environments, each with the kops file that
/// reads it: `KOPS_FEATURE_FLAGS (pkg/featureflag/featureflag.go)`.
fn changed_variables(
    before: &BTreeMap<String, String>,
    now: &BTreeMap<String, String>,
) -> Vec<String> {
    OUTPUT_ENVIRONMENT
        .iter()
        .filter(|(name, _)| before.get(*name) != now.get(*name))
        .map(|(name, file)| format!("{name} ({file})"))
        .collect()
}

/// The environment variables (name, value) a template reads through `env`: those it names as
/// `env.NAME`, or all of them when it reaches `env` any other way (`lookup env x`, `#each env`).
fn env_read(template: &str) -> Vec<(String, Option<String>)> {
    let mut names = Vec::new();
    let mut whole = false;
    let bytes = template.as_bytes();
    for (at, _) in template.match_indices("env") {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let word_start =
            !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        let inside = template[..at].rfind("{{") > template[..at].rfind("}}");
        if !word_start || !inside {
            continue;
        }
        let rest = &template[at + 3..];
        let name_len = rest
            .strip_prefix('.')
            .map(|r| {
                r.bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count()
            })
            .unwrap_or(0);
        match rest.as_bytes().first() {
            Some(b) if b.is_ascii_alphanumeric() || *b == b'_' => {} // `environment`
            _ if name_len > 0 => names.push(rest[1..=name_len].to_string()),
            _ => whole = true,
        }
    }
    if whole {
        names = std::env::vars().map(|(k, _)| k).collect();
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let v = std::env::var(&n).ok();
            (n, v)
        })
        .collect()
}

impl<'p> Runner<'p> {
    /// The fingerprint of what a task reads: its sources, its resolved steps, its values and the
    /// versions of its tools.
    pub(super) fn task_inputs(
        &mut self,
        name: &str,
    ) -> Result<crate::run::uptodate::Inputs, UserError> {
        let task = self.task(name);
        let mut fp = crate::run::uptodate::Fingerprint::default();
        let mut patterns = Vec::new();
        for source in &task.sources {
            patterns.push(self.render_text(format_args!("task `{name}` sources"), source)?);
        }
        let (files, missing) = crate::run::uptodate::expand(&self.project.dir, &patterns)?;
        for (path, sha) in &files {
            fp.add(&format!("source {path}"), sha.as_bytes());
        }
        for pattern in missing {
            fp.add("source matches nothing", pattern.as_bytes());
        }
        let mut programs = Vec::new();
        // The variables tasks.toml sets for kops steps (project, cluster, task, step): their
        // text is in the fingerprint already, and they hide kopsform's own.
        let mut layered: Vec<String> = Vec::new();
        let mut runs_kops = false;
        for (i, step) in task.steps.iter().enumerate() {
            let resolved = self.resolve_paths(name, step)?;
            let text = match &resolved {
                Step::Command(c) => {
                    let mut argv = Vec::new();
                    for a in &c.argv {
                        argv.push(self.render_text(format_args!("task `{name}` argument"), a)?);
                    }
                    let cwd = match c.cwd.as_ref().or(task.cwd.as_ref()) {
                        Some(cwd) => self.render_text(format_args!("task `{name}` cwd"), cwd)?,
                        None => String::new(),
                    };
                    programs.push(self.project.program_for(&argv[0], self.cluster.as_ref()));
                    if self.project.is_tool(&c.argv[0], "kops") {
                        runs_kops = true;
                        layered.extend(c.env.keys().cloned());
                    }
                    format!(
                        "{argv:?} {cwd:?} {:?} {:?} {:?} {:?}",
                        c.env, c.report, c.save, c.private
                    )
                }
                Step::Render(r) => {
                    // Every template file (a folder's files included), each with its hash; an
                    // unreadable one fails the render.
                    let mut templates = String::new();
                    let mut env = Vec::new();
                    let files = crate::render::step::expand(
                        &self.project.dir,
                        &r.templates,
                        "render",
                        &self.project.file,
                    )
                    .unwrap_or_default();
                    for (path, shown) in files {
                        let template = std::fs::read(&path).unwrap_or_default();
                        // The environment variables the template reads are inputs too.
                        env.extend(env_read(&String::from_utf8_lossy(&template)));
                        templates.push_str(&format!(
                            " {shown}={}",
                            crate::text::hex(&sha2::Sha256::digest(&template))
                        ));
                    }
                    // A Go template's snippets are part of it (unreadable ones fail the render).
                    let mut snippets = String::new();
                    for s in
                        crate::render::go_template::load_snippets(&self.project.dir, &r.snippets)
                            .unwrap_or_default()
                    {
                        snippets.push_str(&format!(
                            " {}={}",
                            s.path,
                            crate::text::hex(&sha2::Sha256::digest(s.source.as_bytes()))
                        ));
                    }
                    format!("{r:?}{templates} {env:?}{snippets}")
                }
                Step::Builtin(Builtin::ProviderOverride { out }) => {
                    // As rendered for the cluster: a changed value changes the file.
                    match self.resolved_provider_override() {
                        Ok(config) => format!("{out} {config:?}"),
                        Err(e) => format!("{out} {}", e.message),
                    }
                }
                Step::Builtin(b) => format!("{b:?}"),
            };
            fp.add(&format!("step {i}"), text.as_bytes());
        }
        fp.add(
            "task env",
            format!("{:?} {:?}", task.env, self.project.config.env).as_bytes(),
        );
        let kops_environment = if runs_kops {
            layered.extend(task.env.keys().cloned());
            layered.extend(self.project.config.env.keys().cloned());
            if let Some(def) = &self.cluster {
                // The cluster's own env (kops sees it) is part of the fingerprint as written.
                fp.add("cluster env", format!("{:?}", def.config.env).as_bytes());
                layered.extend(def.config.env.keys().cloned());
            }
            let environment = kops_environment(&layered, |n| std::env::var(n).ok());
            for (variable, sha) in &environment {
                fp.add(&format!("kops environment {variable}"), sha.as_bytes());
            }
            environment
        } else {
            BTreeMap::new()
        };
        let values = self.values.get(&self.renderer)?;
        let mut context = values.context.clone();
        if let Some(map) = context.as_object_mut() {
            map.remove("env");
        }
        fp.add("values", &serde_json::to_vec(&context).unwrap_or_default());
        programs.sort();
        programs.dedup();
        let cache = self.project.path(".kopsform/tool-versions.json");
        let env = crate::values::context::own_env_pairs(self.project, self.cluster.as_ref());
        for program in programs {
            let version =
                crate::run::uptodate::tool_version(&program, &self.project.dir, &cache, &env);
            fp.add(&format!("tool {program}"), version.as_bytes());
        }
        Ok(crate::run::uptodate::Inputs {
            digest: fp.finish(),
            kops_environment,
        })
    }

    pub(super) fn generated(
        &mut self,
        name: &str,
    ) -> Result<(std::collections::BTreeMap<String, String>, Vec<String>), UserError> {
        let task = self.task(name);
        let mut patterns = Vec::new();
        for g in &task.generates {
            patterns.push(self.render_text(format_args!("task `{name}` generates"), g)?);
        }
        crate::run::uptodate::expand(&self.project.dir, &patterns)
    }

    pub(super) fn registry_hash(&mut self) -> Result<String, UserError> {
        let cluster = self.require_cluster()?;
        let store = store::Store::parse(&cluster.state, &self.project.dir)?;
        crate::run::uptodate::registry_hash(
            &store,
            &cluster.name,
            &Aws::of(self.project, self.cluster.as_ref()),
        )
    }

    /// Why the task must run, or `None` when it is up to date.
    pub(super) fn stale_because(
        &mut self,
        name: &str,
        inputs: &crate::run::uptodate::Inputs,
    ) -> Result<Option<String>, UserError> {
        let path = crate::run::uptodate::record_path(&self.work_dir(), name);
        let Some(record) = crate::run::uptodate::read_record(&path) else {
            return Ok(Some("no record of an earlier successful run".into()));
        };
        let changed = record
            .kops_environment
            .as_ref()
            .map(|before| changed_variables(before, &inputs.kops_environment))
            .unwrap_or_default();
        if !changed.is_empty() {
            return Ok(Some(format!(
                "the environment kops reads changed: {}",
                changed.join(", ")
            )));
        }
        if record.inputs != inputs.digest {
            return Ok(Some(
                "its sources, arguments, values or tool versions changed".into(),
            ));
        }
        let (files, missing) = self.generated(name)?;
        if !missing.is_empty() {
            return Ok(Some(format!("{} is missing", missing.join(", "))));
        }
        if files != record.generates {
            return Ok(Some("a generated file changed or is gone".into()));
        }
        if self.runs_kops(name) && record.state != Some(self.registry_hash()?) {
            return Ok(Some(
                "the cluster's spec in the state store changed since".into(),
            ));
        }
        Ok(None)
    }

    /// After `kops rolling-update --yes`: the records of the tasks that run
    /// `kops update cluster` for this cluster are removed, so those tasks run again. kops renders
    /// the nodes at the control plane's running Kubernetes version (kops 1.31+,
    /// cmd/kops/update_cluster.go `checkControlPlaneRunningVersion`), which no fingerprint sees:
    /// once the control plane is rolled to a new version, the next `update cluster` renders the
    /// nodes at it (the second pass of an upgrade).
    pub(super) fn forget_cluster_renders(&mut self, prefix: &str) {
        let project = self.project;
        for (name, task) in &project.config.tasks {
            let renders = task.steps.iter().any(|s| {
                matches!(s, Step::Command(c) if project.is_tool(&c.argv[0], "kops")
                    && crate::tools::kops::KopsArgs::parse(&c.argv[1..]).updates_cluster())
            });
            let path = crate::run::uptodate::record_path(&self.work_dir(), name);
            if renders && path.is_file() {
                match std::fs::remove_file(&path) {
                    Ok(()) => crate::progress!(
                        "{prefix}`{name}` will run again: instances were rolled, and kops renders the nodes at the control plane's running Kubernetes version"
                    ),
                    Err(e) => crate::notice!(
                        "{prefix}warning: cannot remove the up-to-date record {}: {e}; run `{name}` with --force",
                        path.display()
                    ),
                }
            }
        }
    }

    pub(super) fn record_run(
        &mut self,
        name: &str,
        inputs: crate::run::uptodate::Inputs,
    ) -> Result<(), UserError> {
        let (generates, _) = self.generated(name)?;
        let state = if self.runs_kops(name) {
            Some(self.registry_hash()?)
        } else {
            None
        };
        let record = crate::run::uptodate::Record {
            inputs: inputs.digest,
            kops_environment: self.runs_kops(name).then_some(inputs.kops_environment),
            state,
            generates,
        };
        let path = crate::run::uptodate::record_path(&self.work_dir(), name);
        // The records are kopsform's own: never written through a link out of the project.
        let rel = path.strip_prefix(&self.project.dir).unwrap_or(&path);
        if let Err(e) = crate::paths::inside(&self.project.dir, &rel.to_string_lossy()) {
            crate::notice!(
                "warning: the up-to-date record {} {e}; not written, so the task will run again next time",
                rel.display()
            );
            return Ok(());
        }
        crate::run::uptodate::write_record(&path, &record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_path_is_found_as_its_glob_finds_it() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("project");
        std::fs::create_dir_all(dir.join("2-kops/data")).unwrap();
        std::fs::create_dir_all(root.path().join("shared")).unwrap();
        std::fs::write(dir.join("2-kops/cluster.yml"), "a").unwrap();
        std::fs::write(dir.join("2-kops/data/x"), "b").unwrap();
        std::fs::write(root.path().join("shared/t.yml"), "c").unwrap();
        std::os::unix::fs::symlink(dir.join("2-kops"), dir.join("link")).unwrap();
        let outside = root
            .path()
            .join("shared/t.yml")
            .to_string_lossy()
            .into_owned();
        let by_glob = |pattern: &str| {
            let full = dir.join(pattern).to_string_lossy().into_owned();
            glob::glob(&full)
                .unwrap()
                .flatten()
                .filter(|p| p.is_file())
                .map(|p| {
                    p.strip_prefix(&dir)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect::<Vec<_>>()
        };
        for pattern in [
            "2-kops/cluster.yml",
            "../shared/t.yml",
            "2-kops/../2-kops/cluster.yml",
            "link/cluster.yml",
            "2-kops/data",
            "2-kops/missing.yml",
            "missing/x",
            outside.as_str(),
        ] {
            assert!(is_plain_path(pattern), "{pattern}");
            let (files, missing) = expand(&dir, &[pattern.to_string()]).unwrap();
            assert_eq!(
                files.keys().cloned().collect::<Vec<_>>(),
                by_glob(pattern),
                "{pattern}"
            );
            assert_eq!(missing.is_empty(), !files.is_empty(), "{pattern}");
        }
        // A folder's listing: dot files, sub-folders, links (to a file, to a folder, broken), a
        // name that is not UTF-8, a folder reached through a link or `..`, a missing one.
        use std::os::unix::ffi::OsStrExt;
        let data = dir.join("2-kops/data");
        std::fs::write(data.join(".hidden"), "d").unwrap();
        std::fs::create_dir_all(data.join("sub")).unwrap();
        std::fs::write(data.join("sub/y"), "e").unwrap();
        std::os::unix::fs::symlink(data.join("x"), data.join("to-x")).unwrap();
        std::os::unix::fs::symlink(data.join("sub"), data.join("to-sub")).unwrap();
        std::os::unix::fs::symlink(data.join("gone"), data.join("broken")).unwrap();
        std::fs::write(data.join(std::ffi::OsStr::from_bytes(b"latin1-\xe9")), "f").unwrap();
        for pattern in [
            "2-kops/data/*",
            "link/data/*",
            "2-kops/../2-kops/data/*",
            "2-kops/data/sub/*",
            "2-kops/cluster.yml/*",
            "missing/*",
            "2-kops/*",
        ] {
            let listed = expand(&dir, &[pattern.to_string()]).unwrap();
            assert_eq!(
                listed.0.keys().cloned().collect::<Vec<_>>(),
                by_glob(pattern),
                "{pattern}"
            );
            assert_eq!(listed.1.is_empty(), !listed.0.is_empty(), "{pattern}");
        }
        for pattern in [
            "2-kops/data/*",
            "2-kops//cluster.yml",
            "./2-kops/cluster.yml",
            "2-kops/",
            "2-kops/[c]luster.yml",
        ] {
            assert!(!is_plain_path(pattern), "{pattern}");
        }
    }

    #[test]
    fn globs_expand_to_hashed_files_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("d/data")).unwrap();
        std::fs::write(dir.path().join("d/kubernetes.tf"), "a").unwrap();
        std::fs::write(dir.path().join("d/data/x"), "b").unwrap();
        let (files, missing) = expand(
            dir.path(),
            &[
                "d/kubernetes.tf".into(),
                "d/data/*".into(),
                "d/none.tf".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["d/data/x", "d/kubernetes.tf"]
        );
        assert_eq!(missing, ["d/none.tf"]);
    }

    #[test]
    fn a_tool_version_is_kept_while_the_executable_is_the_same_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool-a");
        let count = dir.path().join("asked");
        let script = |version: &str| {
            format!(
                "#!/bin/sh\necho x >> '{}'\necho 'Version {version}'\n",
                count.display()
            )
        };
        std::fs::write(&tool, script("1.0")).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let program = tool.to_string_lossy().into_owned();
        let cache = dir.path().join(".kopsform/tool-versions.json");
        let asked = || {
            std::fs::read_to_string(&count)
                .unwrap_or_default()
                .lines()
                .count()
        };
        // The first answer is asked and kept; SEEN (per process) is bypassed by reading the cache
        // the way a later run does.
        assert_eq!(
            tool_version(&program, dir.path(), &cache, &[]),
            "Version 1.0"
        );
        assert_eq!(asked(), 1);
        let kept: BTreeMap<String, CachedVersion> =
            serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        assert_eq!(kept[&program].version, "Version 1.0");
        assert_eq!(
            Some(kept[&program].identity.clone()),
            executable_identity(&program)
        );
        // Another executable installed over it has another identity: asked again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&tool, script("2.00")).unwrap();
        assert_ne!(
            Some(kept[&program].identity.clone()),
            executable_identity(&program)
        );
        // A shim is never kept.
        let shims = dir.path().join("shims");
        std::fs::create_dir(&shims).unwrap();
        std::fs::copy(&tool, shims.join("tool-a")).unwrap();
        assert_eq!(
            executable_identity(&shims.join("tool-a").to_string_lossy()),
            None
        );
        assert_eq!(executable_identity("no-such-tool-anywhere"), None);
    }

    #[test]
    fn templates_read_the_environment_variables_they_name() {
        // SAFETY: the test binary's own variables; no other test reads these names.
        unsafe {
            std::env::set_var("KOPSFORM_UPTODATE_A", "1");
        }
        let names = |t: &str| env_read(t).into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(
            names("a: {{env.KOPSFORM_UPTODATE_A}} {{environment}} env.X {{upper env.B_2}}"),
            vec!["B_2".to_string(), "KOPSFORM_UPTODATE_A".to_string()]
        );
        assert_eq!(
            env_read("{{env.KOPSFORM_UPTODATE_A}}")[0].1.as_deref(),
            Some("1")
        );
        assert!(names("{{#each env}}{{/each}}").contains(&"KOPSFORM_UPTODATE_A".to_string()));
        assert!(names("{{lookup env \"X\"}}").len() > 1);
    }

    #[test]
    fn the_kops_environment_names_what_changed() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let before = kops_environment(&[], env(&[("KOPS_FEATURE_FLAGS", "+Foo"), ("HOME", "/h")]));
        assert_eq!(before.keys().collect::<Vec<_>>(), ["KOPS_FEATURE_FLAGS"]);
        assert_ne!(before["KOPS_FEATURE_FLAGS"], "+Foo", "only a hash is kept");
        let now = kops_environment(
            &[],
            env(&[
                ("KOPS_FEATURE_FLAGS", "-TerraformManagedFiles"),
                ("KOPS_BASE_URL", "https://mirror/kops/1.36.2/"),
            ]),
        );
        assert_eq!(
            changed_variables(&before, &now),
            [
                "KOPS_FEATURE_FLAGS (pkg/featureflag/featureflag.go)",
                "KOPS_BASE_URL (pkg/nodemodel/wellknownassets/kopsassets.go, pkg/assets/builder.go, upup/pkg/fi/cloudup/template_functions.go)"
            ]
        );
        assert!(changed_variables(&now, &now).is_empty());
        // A variable tasks.toml sets is fingerprinted as written there, not from kopsform's own
        // environment.
        assert!(
            kops_environment(
                &["KOPS_FEATURE_FLAGS".to_string()],
                env(&[("KOPS_FEATURE_FLAGS", "+Foo")])
            )
            .is_empty()
        );
    }

    #[test]
    fn fingerprints_separate_their_parts() {
        let mut a = Fingerprint::default();
        a.add("ab", b"c");
        let mut b = Fingerprint::default();
        b.add("a", b"bc");
        assert_ne!(a.finish(), b.finish());
    }
}

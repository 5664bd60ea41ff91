//! One provider cache for a whole run (issue 22): Terraform steps get `TF_PLUGIN_CACHE_DIR` set to
//! the project's `.kopsform/plugin-cache` (unless the user names a cache: `TF_PLUGIN_CACHE_DIR` in
//! the environment or tasks.toml, or `plugin_cache_dir` in Terraform's CLI configuration), and
//! every `terraform init` that uses a cache holds a lock on it while it runs: shared when the init
//! provably installs nothing into the cache, else exclusive.
//!
//! Why the lock: Terraform's documentation of the plugin cache (hashicorp/terraform,
//! website/docs/cli/config/config-file.mdx, "Provider Plugin Cache") says the cache directory
//! "is not guaranteed to be concurrency safe" and that the installer's behaviour with several
//! `terraform init` calls at once is undefined; two inits filling the same entry race (checksum
//! mismatches, "text file busy" when one executes a provider the other writes;
//! hashicorp/terraform issue 31964). Clusters of a stage run in parallel (`--jobs`), so kopsform
//! runs the inits that may install one at a time; plans and applies, which only read the cache,
//! stay parallel.
//!
//! Which inits share: the race is between inits that *write* an entry. An init that writes nothing
//! only reads the cache (it links or copies a cached package into its folder), and any number of
//! readers may run together, so such an init takes the lock shared (`flock` LOCK_SH on the same
//! file; an installing init takes LOCK_EX and waits for the readers, and readers wait for it).
//! kopsform gives the shared lock only when it can show the init installs nothing
//! ([`installs_nothing`]): its argv has only options known not to install (no `-upgrade` in any
//! form, no `-plugin-dir`, no `-from-module`, no separate option value or folder argument); the
//! folder it runs in (the step's `cwd`, or `-chdir=`) has a `.terraform.lock.hcl` whose every
//! provider has an `h1:` checksum and a non-empty package folder for this platform in the cache
//! (`<cache>/<host>/<namespace>/<type>/<version>/<os>_<arch>/`); and every provider the folder's
//! `*.tf` files need is in that lock file (`required_providers` sources, `provider` blocks, the
//! type prefixes or `provider = NAME.ALIAS` of `resource`, `data` and `ephemeral` blocks; a local
//! name without a `required_providers` entry is `hashicorp/NAME`). Anything else (a parse error,
//! a `*.tf.json` or `*.tofu` file, a `module` block, a `check` or `import` block, test files, a
//! platform or block it does not know, a user's cache it cannot read) takes the exclusive lock.
//! Terraform then finds every provider locked and cached, links them, and writes nothing to the
//! cache. What this cannot see, and where a shared init could still install: a cached package whose
//! files do not match the lock file's checksums (a tampered or truncated cache; the lock file's
//! `h1:` checksums made for other platforms only), or a provider needed only by the state and
//! missing from the lock file. Terraform then installs from the origin into the cache; two such
//! inits at once can fail as before the lock (a checksum error), and never take an unverified
//! package: Terraform checks what it installs against the lock file either way.
//!
//! Terraform takes a package from the cache only when it matches a checksum of the folder's
//! `.terraform.lock.hcl` (same page, "Allowing the Provider Plugin Cache to break the dependency
//! lock file"); kopsform never sets `TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE`, so the lock
//! file's checksums are verified as without a cache, and a folder without a lock file installs
//! from its origin the first time (docs/tasks-toml.md, "Provider cache").
//! In: a Terraform step's environment. Out: the variable to add, and the held lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::UserError;
use crate::project::Project;
use crate::tools::process;

/// The variable Terraform reads the cache folder from.
pub(crate) const CACHE_VAR: &str = "TF_PLUGIN_CACHE_DIR";

/// kopsform's own cache, relative to the project.
pub(crate) const PROJECT_CACHE: &str = ".kopsform/plugin-cache";

/// The lock file kopsform takes around `terraform init`, in the cache folder.
const LOCK_FILE: &str = ".kopsform-init.lock";

/// The provider cache a Terraform step uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cache {
    /// kopsform's own, `.kopsform/plugin-cache` of the project: kopsform sets the variable.
    Project(PathBuf),
    /// One the user names (the variable, or `plugin_cache_dir` in the CLI configuration).
    User(PathBuf),
    /// The CLI configuration names one kopsform cannot read as a path (`$HOME/...`): the
    /// lock is the project's.
    Unknown,
    /// `TF_PLUGIN_CACHE_DIR` set empty: no cache.
    Off,
}

/// The value of `name` as the step will see it: its own environment `env` (tasks.toml's layers),
/// else kopsform's.
fn value(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(name).ok())
}

/// The cache a Terraform step with the environment `env` uses.
pub(crate) fn for_step(project: &Project, env: &[(String, String)]) -> Cache {
    if let Some(dir) = value(env, CACHE_VAR) {
        if dir.is_empty() {
            return Cache::Off;
        }
        return Cache::User(project.dir.join(dir));
    }
    let config = value(env, "TF_CLI_CONFIG_FILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .or_else(|| value(env, "HOME").map(|h| Path::new(&h).join(".terraformrc")));
    if let Some(dir) = config.and_then(|f| std::fs::read_to_string(f).ok())
        && let Some(dir) = configured_cache(&dir)
    {
        return match dir {
            Some(dir) => Cache::User(PathBuf::from(dir)),
            None => Cache::Unknown,
        };
    }
    let dir = std::path::absolute(project.path(PROJECT_CACHE))
        .unwrap_or_else(|_| project.path(PROJECT_CACHE));
    Cache::Project(dir)
}

/// `plugin_cache_dir` of a CLI configuration: `Some(Some(path))` for a plain absolute path,
/// `Some(None)` for one kopsform cannot resolve (a variable, a relative path), `None` without one.
fn configured_cache(text: &str) -> Option<Option<String>> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("plugin_cache_dir")?;
        let rest = rest.trim_start().strip_prefix('=')?.trim();
        let path = rest.strip_prefix('"')?.split('"').next()?;
        Some((path.starts_with('/') && !path.contains('$')).then(|| path.to_string()))
    })
}

/// The variable kopsform adds to a Terraform step for `cache` (its own cache only, made when
/// missing: Terraform does not create it).
pub(crate) fn variable(cache: &Cache) -> Result<Option<(String, String)>, UserError> {
    let Cache::Project(dir) = cache else {
        return Ok(None);
    };
    // Private, as all of .kopsform (which this may make first).
    private_dirs(dir).map_err(|e| {
        UserError::new(format!(
            "{}: cannot create the provider cache: {e}; check the permissions of the project's .kopsform folder",
            dir.display()
        ))
    })?;
    Ok(Some((
        CACHE_VAR.to_string(),
        dir.to_string_lossy().into_owned(),
    )))
}

/// Makes `dir` and its missing parents, readable by the user only.
fn private_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// A lock on a provider cache, shared or exclusive, released when dropped (closing the file).
pub(crate) struct InitLock {
    _file: File,
}

/// Waits for the lock of `cache` for the `terraform init` of `argv` started in `cwd` (none for
/// [`Cache::Off`]): shared when the init provably installs nothing into the cache
/// ([`installs_nothing`]), else exclusive; says once that it waits; an interrupt stops the wait
/// with the error `on_interrupt` makes.
pub(crate) fn lock_for_init(
    project: &Project,
    cache: &Cache,
    argv: &[String],
    cwd: &Path,
    prefix: &str,
    on_interrupt: impl Fn(i32) -> UserError,
) -> Result<Option<InitLock>, UserError> {
    let mut hold = Hold::Exclusive;
    let path = match cache {
        Cache::Off => return Ok(None),
        Cache::Project(dir) | Cache::User(dir) if dir.is_dir() => {
            if installs_nothing(argv, cwd, dir) {
                hold = Hold::Shared;
            }
            dir.join(LOCK_FILE)
        }
        // A user's cache that is not there: Terraform caches nothing in it; the project's lock
        // keeps the inits of this run apart all the same.
        Cache::Project(_) | Cache::User(_) | Cache::Unknown => {
            project.path(".kopsform/plugin-cache.lock")
        }
    };
    if let Some(parent) = path.parent() {
        let _ = private_dirs(parent);
    }
    let file = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
    }
    .map_err(|e| {
        UserError::new(format!(
            "{}: cannot open the provider cache's lock: {e}; check the folder's permissions",
            path.display()
        ))
    })?;
    let mut said = false;
    loop {
        let taken = match hold {
            Hold::Shared => file.try_lock_shared(),
            Hold::Exclusive => file.try_lock(),
        };
        match taken {
            Ok(()) => {
                if hold == Hold::Shared {
                    crate::detail!(
                        "{prefix}  the provider cache's lock is shared: this init installs nothing into the cache"
                    );
                }
                return Ok(Some(InitLock { _file: file }));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                if let Some(signal) = process::interrupted() {
                    return Err(on_interrupt(signal));
                }
                if !said && hold == Hold::Shared {
                    // Only an init that installs holds the lock exclusively.
                    crate::progress!(
                        "{prefix}waiting for a terraform init that installs into the provider cache to finish ({})",
                        path.parent().unwrap_or(Path::new(".")).display()
                    );
                    said = true;
                } else if !said {
                    crate::progress!(
                        "{prefix}waiting for another terraform init to finish with the provider cache ({})",
                        path.parent().unwrap_or(Path::new(".")).display()
                    );
                    said = true;
                }
                // Asked often: every init of a fleet waits here in turn, and a longer pause left
                // the cache idle for half of it on average after each init (issue 19).
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(UserError::new(format!(
                    "{}: cannot lock the provider cache: {e}",
                    path.display()
                )));
            }
        }
    }
}

/// How a `terraform init` holds the cache's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// It only reads the cache (see [`installs_nothing`]): any number at once.
    Shared,
    /// It may write the cache: alone.
    Exclusive,
}

/// The options of `terraform init` known not to make it install a provider into the cache. Any
/// other (`-upgrade`, `-plugin-dir`, `-from-module`, `-test-directory`, a value given as a
/// separate word, one kopsform does not know) makes the init take the exclusive lock.
const READ_ONLY_INIT_OPTIONS: &[&str] = &[
    "input",
    "no-color",
    "backend",
    "backend-config",
    "reconfigure",
    "migrate-state",
    "force-copy",
    "lock",
    "lock-timeout",
    "get",
    "lockfile",
    "json",
    "var",
    "var-file",
    "compact-warnings",
    "ignore-remote-version",
];

/// The platform folder of a cached package as Terraform names it (`linux_amd64`), if known.
fn platform() -> Option<String> {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os @ ("linux" | "freebsd" | "openbsd" | "windows" | "solaris") => os,
        _ => return None,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        _ => return None,
    };
    Some(format!("{os}_{arch}"))
}

/// Whether the `terraform init` of `argv`, started in `cwd` with the provider cache `cache`,
/// provably installs nothing into the cache, so that it may share the lock with others like it:
/// no option that could (`-upgrade`, `-plugin-dir`, any kopsform does not know), and a folder
/// whose `.terraform.lock.hcl` names every provider its configuration needs, each with its package
/// for this platform in the cache. Anything not understood (a parse error, a `*.tf.json` or
/// `*.tofu` file, a `module` block, test files, a block kopsform does not read) is a no.
pub(crate) fn installs_nothing(argv: &[String], cwd: &Path, cache: &Path) -> bool {
    let Some(platform) = platform() else {
        return false;
    };
    let Some(folder) = init_folder(argv, cwd) else {
        return false;
    };
    installs_nothing_in(&folder, cache, &platform)
}

/// The folder a `terraform init` argv works in, `None` when it has options that could make it
/// install (see [`READ_ONLY_INIT_OPTIONS`]) or a word kopsform does not understand.
fn init_folder(argv: &[String], cwd: &Path) -> Option<PathBuf> {
    let at = (1..argv.len()).find(|&i| !argv[i].starts_with('-'))?;
    if argv[at] != "init" {
        return None;
    }
    let mut folder = cwd.to_path_buf();
    for global in &argv[1..at] {
        folder = cwd.join(global.strip_prefix("-chdir=")?);
    }
    for arg in &argv[at + 1..] {
        // A word that is not an option: a folder (deprecated) or a separate option value.
        let name = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
        let name = name.split_once('=').map_or(name, |(n, _)| n);
        if !READ_ONLY_INIT_OPTIONS.contains(&name) {
            return None;
        }
    }
    Some(folder)
}

/// [`installs_nothing`] for the folder `folder` once the argv is known to be harmless.
fn installs_nothing_in(folder: &Path, cache: &Path, platform: &str) -> bool {
    let Ok(locked) = locked_providers(folder) else {
        return false;
    };
    let cached = |(address, version): (&String, &String)| {
        let dir = address
            .split('/')
            .fold(cache.to_path_buf(), |d, part| d.join(part))
            .join(version)
            .join(platform);
        std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
    };
    if !locked.iter().all(cached) {
        return false;
    }
    needed_providers(folder).is_ok_and(|needed| needed.iter().all(|p| locked.contains_key(p)))
}

/// Why a folder's providers could not be read for certain (the init then takes the exclusive
/// lock); the text is for tests only.
#[derive(Debug)]
struct Unsure(#[allow(dead_code)] String);

fn unsure(why: impl Into<String>) -> Unsure {
    Unsure(why.into())
}

/// The providers of a folder's `.terraform.lock.hcl`: normalised address -> version. Each entry
/// must have a version and an `h1:` checksum (what Terraform checks a cached package against).
fn locked_providers(folder: &Path) -> Result<std::collections::BTreeMap<String, String>, Unsure> {
    let text = std::fs::read_to_string(folder.join(".terraform.lock.hcl"))
        .map_err(|e| unsure(format!("no lock file: {e}")))?;
    let body = hcl::parse(&text).map_err(|e| unsure(format!("lock file: {e}")))?;
    let mut locked = std::collections::BTreeMap::new();
    for structure in body.iter() {
        let hcl::Structure::Block(block) = structure else {
            return Err(unsure("lock file: an attribute at the top"));
        };
        let [label] = block.labels.as_slice() else {
            return Err(unsure("lock file: a block without one label"));
        };
        if block.identifier.as_str() != "provider" {
            return Err(unsure("lock file: not a provider block"));
        }
        let address = normalise(label.as_str()).ok_or_else(|| unsure("lock file: address"))?;
        let mut version = None;
        let mut h1 = false;
        for attribute in block.body.attributes() {
            match (attribute.key.as_str(), &attribute.expr) {
                ("version", hcl::Expression::String(v)) => version = Some(v.clone()),
                ("hashes", hcl::Expression::Array(hashes)) => {
                    h1 = hashes
                        .iter()
                        .any(|h| matches!(h, hcl::Expression::String(h) if h.starts_with("h1:")));
                }
                _ => {}
            }
        }
        let version = version.ok_or_else(|| unsure("lock file: a provider without version"))?;
        if !h1 || version.is_empty() || version.contains(['/', '\\']) || version.starts_with('.') {
            return Err(unsure("lock file: a provider without an h1 checksum"));
        }
        locked.insert(address, version);
    }
    Ok(locked)
}

/// A provider source address as Terraform normalises it: `hashicorp/aws` and `aws` ->
/// `registry.terraform.io/hashicorp/aws`, lower case; `None` when it is not one.
fn normalise(source: &str) -> Option<String> {
    let source = source.to_ascii_lowercase();
    let parts: Vec<&str> = source.split('/').collect();
    let ok = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    };
    if !parts.iter().all(ok) {
        return None;
    }
    match parts.as_slice() {
        [name] => Some(format!("registry.terraform.io/hashicorp/{name}")),
        [namespace, name] => Some(format!("registry.terraform.io/{namespace}/{name}")),
        [host, namespace, name] => Some(format!("{host}/{namespace}/{name}")),
        _ => None,
    }
}

/// The providers a folder's configuration needs (normalised addresses), from its `*.tf` files:
/// `required_providers`, `provider` blocks, and the providers of `resource`, `data` and
/// `ephemeral` blocks (their `provider` meta-argument, else their type's prefix); a local name
/// without a `required_providers` entry means `hashicorp/NAME`. Built-in providers
/// (`terraform.io/builtin/...`) are left out: nothing installs them.
fn needed_providers(folder: &Path) -> Result<Vec<String>, Unsure> {
    let mut sources: std::collections::BTreeMap<String, String> = Default::default();
    let mut names: Vec<String> = Vec::new();
    let entries = std::fs::read_dir(folder).map_err(|e| unsure(format!("folder: {e}")))?;
    let mut files = 0;
    for entry in entries {
        let entry = entry.map_err(|e| unsure(format!("folder: {e}")))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".tf.json")
            || name.ends_with(".tofu")
            || name.ends_with(".tofu.json")
            || name.contains(".tftest.")
            || name.contains(".tfmock.")
            || (name == "tests" || name == "testing") && entry.path().is_dir()
        {
            return Err(unsure(format!("{name}: not read by kopsform")));
        }
        if !name.ends_with(".tf") || name.starts_with('.') {
            continue;
        }
        files += 1;
        let text =
            std::fs::read_to_string(entry.path()).map_err(|e| unsure(format!("{name}: {e}")))?;
        let body = hcl::parse(&text).map_err(|e| unsure(format!("{name}: {e}")))?;
        read_configuration(&body, &mut sources, &mut names)
            .map_err(|Unsure(why)| unsure(format!("{name}: {why}")))?;
    }
    if files == 0 {
        return Err(unsure("no configuration"));
    }
    let mut needed: Vec<String> = sources.values().cloned().collect();
    for name in names {
        let address = match sources.get(&name) {
            Some(address) => address.clone(),
            None if name == "terraform" => continue,
            None => normalise(&name).ok_or_else(|| unsure(format!("provider name {name}")))?,
        };
        needed.push(address);
    }
    needed.retain(|a| !a.starts_with("terraform.io/builtin/"));
    needed.sort();
    needed.dedup();
    Ok(needed)
}

/// Reads one `*.tf` file's top-level blocks into `sources` (local name -> address, from
/// `required_providers`) and `names` (local names used).
fn read_configuration(
    body: &hcl::Body,
    sources: &mut std::collections::BTreeMap<String, String>,
    names: &mut Vec<String>,
) -> Result<(), Unsure> {
    for structure in body.iter() {
        let hcl::Structure::Block(block) = structure else {
            return Err(unsure("an attribute at the top"));
        };
        let labels: Vec<&str> = block.labels.iter().map(|l| l.as_str()).collect();
        match (block.identifier.as_str(), labels.as_slice()) {
            ("terraform", []) => {
                for inner in block.body.blocks() {
                    if inner.identifier.as_str() == "required_providers" {
                        read_required_providers(&inner.body, sources)?;
                    }
                }
            }
            ("provider", [name]) => names.push(name.to_ascii_lowercase()),
            ("resource" | "data" | "ephemeral", [kind, _]) => {
                let meta = block
                    .body
                    .attributes()
                    .find(|a| a.key.as_str() == "provider");
                let name = match meta {
                    Some(meta) => provider_reference(&meta.expr)
                        .ok_or_else(|| unsure(format!("{kind}: provider reference")))?,
                    None => kind.split('_').next().unwrap_or(kind).to_string(),
                };
                names.push(name.to_ascii_lowercase());
                // Nested blocks are the resource's own (lifecycle, provisioner, ...); a
                // provisioner installs nothing.
            }
            ("variable" | "output", [_]) | ("locals" | "moved", []) => {}
            (other, _) => return Err(unsure(format!("a `{other}` block"))),
        }
    }
    Ok(())
}

/// The local name of a `provider = NAME` or `provider = NAME.ALIAS` meta-argument.
fn provider_reference(expr: &hcl::Expression) -> Option<String> {
    match expr {
        hcl::Expression::Variable(v) => Some(v.as_str().to_string()),
        hcl::Expression::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
            (hcl::Expression::Variable(v), [hcl::TraversalOperator::GetAttr(_)]) => {
                Some(v.as_str().to_string())
            }
            _ => None,
        },
        _ => None,
    }
}

/// The entries of a `required_providers` block: `NAME = { source = "...", ... }`, or the older
/// `NAME = "VERSION"` (source `hashicorp/NAME`).
fn read_required_providers(
    body: &hcl::Body,
    sources: &mut std::collections::BTreeMap<String, String>,
) -> Result<(), Unsure> {
    for structure in body.iter() {
        let hcl::Structure::Attribute(attribute) = structure else {
            return Err(unsure("a block in required_providers"));
        };
        let name = attribute.key.as_str().to_ascii_lowercase();
        let source = match &attribute.expr {
            hcl::Expression::String(_) => name.clone(),
            hcl::Expression::Object(object) => {
                let mut source = None;
                for (key, value) in object {
                    let key = match key {
                        hcl::ObjectKey::Identifier(k) => k.as_str(),
                        hcl::ObjectKey::Expression(hcl::Expression::String(k)) => k.as_str(),
                        _ => return Err(unsure(format!("{name}: a key not understood"))),
                    };
                    match (key, value) {
                        ("source", hcl::Expression::String(s)) => source = Some(s.clone()),
                        ("source", _) => return Err(unsure(format!("{name}: source"))),
                        _ => {}
                    }
                }
                source.unwrap_or_else(|| name.clone())
            }
            _ => return Err(unsure(format!("{name}: not understood"))),
        };
        let address = normalise(&source).ok_or_else(|| unsure(format!("{name}: source")))?;
        if sources
            .insert(name.clone(), address.clone())
            .is_some_and(|a| a != address)
        {
            return Err(unsure(format!("{name}: two sources")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_configurations_cache_is_read_when_it_is_a_plain_path() {
        assert_eq!(
            configured_cache("plugin_cache_dir = \"/var/cache/tf\"\n"),
            Some(Some("/var/cache/tf".to_string()))
        );
        assert_eq!(
            configured_cache("  plugin_cache_dir=\"$HOME/.terraform.d/plugin-cache\""),
            Some(None)
        );
        assert_eq!(configured_cache("plugin_cache_dir = \"cache\""), Some(None));
        assert_eq!(
            configured_cache("provider_installation {\n  direct {}\n}\n"),
            None
        );
        assert_eq!(
            configured_cache("plugin_cache_may_break_dependency_lock_file = true"),
            None
        );
    }

    const PLATFORM: &str = "linux_amd64";

    const AWS_LOCK: &str = "provider \"registry.terraform.io/hashicorp/aws\" {\n  version     = \"5.100.0\"\n  constraints = \"5.100.0\"\n  hashes = [\n    \"h1:abc=\",\n    \"zh:0123\",\n  ]\n}\n";

    /// A folder with `files` and a cache holding the packages `cached` (address/version).
    fn setup(files: &[(&str, &str)], cached: &[&str]) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("layer");
        let cache = root.path().join("cache");
        std::fs::create_dir_all(&folder).unwrap();
        for (name, text) in files {
            let path = folder.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        for package in cached {
            let dir = cache.join(package).join(PLATFORM);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("terraform-provider"), "x").unwrap();
        }
        (root, folder, cache)
    }

    fn shares(files: &[(&str, &str)], cached: &[&str]) -> bool {
        let (_root, folder, cache) = setup(files, cached);
        installs_nothing_in(&folder, &cache, PLATFORM)
    }

    const AWS: &str = "registry.terraform.io/hashicorp/aws/5.100.0";
    const REQUIRED: &str = "terraform {\n  required_providers {\n    aws = {\n      source  = \"hashicorp/aws\"\n      version = \"5.100.0\"\n    }\n  }\n}\n";

    #[test]
    fn a_locked_and_cached_provider_installs_nothing() {
        let main = format!("{REQUIRED}resource \"aws_s3_bucket\" \"b\" {{\n  bucket = \"x\"\n}}\n");
        let files = [
            ("main.tf", main.as_str()),
            (".terraform.lock.hcl", AWS_LOCK),
        ];
        assert!(shares(&files, &[AWS]));
        // The lock file's checksums and the cache entry are both needed.
        assert!(!shares(&files[..1], &[AWS]), "no lock file");
        assert!(!shares(&files, &[]), "not in the cache");
        assert!(
            !shares(&files, &["registry.terraform.io/hashicorp/aws/5.99.0"]),
            "another version in the cache"
        );
        // An empty package folder is not a package.
        let (_root, folder, cache) = setup(&files, &[]);
        std::fs::create_dir_all(cache.join(AWS).join(PLATFORM)).unwrap();
        assert!(!installs_nothing_in(&folder, &cache, PLATFORM));
        let no_h1 = AWS_LOCK.replace("\"h1:abc=\",", "");
        assert!(!shares(
            &[("main.tf", REQUIRED), (".terraform.lock.hcl", &no_h1)],
            &[AWS]
        ));
    }

    #[test]
    fn an_implied_provider_missing_from_the_lock_file_may_install() {
        // `random_id` needs hashicorp/random, which the lock file lacks.
        let main = format!("{REQUIRED}resource \"random_id\" \"r\" {{\n  byte_length = 4\n}}\n");
        assert!(!shares(
            &[("main.tf", &main), (".terraform.lock.hcl", AWS_LOCK)],
            &[AWS]
        ));
        // As does a provider block of a name without a required_providers entry.
        let main = format!("{REQUIRED}provider \"google\" {{}}\n");
        assert!(!shares(
            &[("main.tf", &main), (".terraform.lock.hcl", AWS_LOCK)],
            &[AWS]
        ));
        // A name without a required_providers entry is hashicorp's.
        let bare = "provider \"aws\" {\n  region = \"eu-west-1\"\n}\ndata \"aws_caller_identity\" \"me\" {}\n";
        assert!(shares(
            &[("main.tf", bare), (".terraform.lock.hcl", AWS_LOCK)],
            &[AWS]
        ));
        // The built-in provider (terraform_remote_state) installs nothing.
        let remote = format!(
            "{REQUIRED}data \"terraform_remote_state\" \"p\" {{\n  backend = \"local\"\n}}\n"
        );
        assert!(shares(
            &[("main.tf", &remote), (".terraform.lock.hcl", AWS_LOCK)],
            &[AWS]
        ));
    }

    #[test]
    fn aliases_and_local_names_follow_required_providers() {
        // `provider = cloud.west` on a resource means the local name `cloud`, hashicorp/aws here.
        let main = "terraform {\n  required_providers {\n    cloud = { source = \"HashiCorp/AWS\" }\n  }\n}\nprovider \"cloud\" {\n  alias = \"west\"\n}\nresource \"cloud_thing\" \"t\" {\n  provider = cloud.west\n}\nresource \"aws_s3_bucket\" \"b\" {\n  provider = cloud.west\n}\n";
        assert!(shares(
            &[("main.tf", main), (".terraform.lock.hcl", AWS_LOCK)],
            &[AWS]
        ));
        // Without the meta-argument, `aws_s3_bucket` would need hashicorp/aws all the same; with
        // one naming another local name, that one's provider is needed.
        let other = "terraform {\n  required_providers {\n    aws = { source = \"hashicorp/aws\" }\n    other = { source = \"example/other\" }\n  }\n}\nresource \"aws_s3_bucket\" \"b\" {\n  provider = other.x\n}\n";
        assert!(!shares(
            &[("main.tf", other), (".terraform.lock.hcl", AWS_LOCK)],
            &[AWS]
        ));
    }

    #[test]
    fn what_kopsform_does_not_read_takes_the_exclusive_lock() {
        let lock = (".terraform.lock.hcl", AWS_LOCK);
        let module = format!("{REQUIRED}module \"m\" {{\n  source = \"./m\"\n}}\n");
        assert!(!shares(&[("main.tf", &module), lock], &[AWS]), "module");
        assert!(
            !shares(
                &[("main.tf", REQUIRED), ("extra.tf.json", "{}"), lock],
                &[AWS]
            ),
            ".tf.json"
        );
        assert!(
            !shares(
                &[("main.tf", "terraform {\n  required_providers {\n"), lock],
                &[AWS]
            ),
            "parse error"
        );
        assert!(
            !shares(
                &[("main.tf", REQUIRED), (".terraform.lock.hcl", "provider {"),],
                &[AWS]
            ),
            "lock file parse error"
        );
        let check = format!(
            "{REQUIRED}check \"c\" {{\n  assert {{\n    condition = true\n    error_message = \"x\"\n  }}\n}}\n"
        );
        assert!(!shares(&[("main.tf", &check), lock], &[AWS]), "check block");
        assert!(
            !shares(
                &[
                    ("main.tf", REQUIRED),
                    ("tests/a.tftest.hcl", "run \"a\" {}\n"),
                    lock
                ],
                &[AWS]
            ),
            "test files"
        );
        assert!(!shares(&[lock], &[AWS]), "no configuration");
        assert!(shares(&[("main.tf", REQUIRED), lock], &[AWS]));
    }

    #[test]
    fn upgrade_and_unknown_options_take_the_exclusive_lock() {
        let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
        let cwd = Path::new("/p/clusters/a");
        assert_eq!(
            init_folder(
                &argv(&["terraform", "init", "-input=false", "-no-color"]),
                cwd
            ),
            Some(cwd.to_path_buf())
        );
        assert_eq!(
            init_folder(
                &argv(&[
                    "terraform",
                    "-chdir=tf",
                    "init",
                    "-backend-config=/p/b.hcl",
                    "--reconfigure"
                ]),
                cwd
            ),
            Some(cwd.join("tf"))
        );
        for upgrade in ["-upgrade", "-upgrade=true", "--upgrade", "-upgrade=false"] {
            assert_eq!(
                init_folder(&argv(&["terraform", "init", upgrade]), cwd),
                None,
                "{upgrade}"
            );
        }
        for other in [
            &["terraform", "init", "-plugin-dir=/x"][..],
            &["terraform", "init", "-plugin-dir", "/x"],
            &["terraform", "init", "-from-module=x"],
            &["terraform", "init", "-backend-config", "b.hcl"],
            &["terraform", "init", "somewhere"],
            &["terraform", "-help", "init"],
            &["terraform", "plan"],
        ] {
            assert_eq!(init_folder(&argv(other), cwd), None, "{other:?}");
        }
    }

    #[test]
    fn source_addresses_are_normalised() {
        assert_eq!(
            normalise("hashicorp/aws").as_deref(),
            Some("registry.terraform.io/hashicorp/aws")
        );
        assert_eq!(
            normalise("AWS").as_deref(),
            Some("registry.terraform.io/hashicorp/aws")
        );
        assert_eq!(
            normalise("Example.COM/Team/Thing").as_deref(),
            Some("example.com/team/thing")
        );
        assert_eq!(normalise("a/b/c/d"), None);
        assert_eq!(normalise("../x"), None);
        assert_eq!(normalise(""), None);
    }
}

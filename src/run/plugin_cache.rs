//! One provider cache for a whole run (issue 22): Terraform steps get `TF_PLUGIN_CACHE_DIR` set to
//! the project's `.kopsform/plugin-cache` (unless the user names a cache: `TF_PLUGIN_CACHE_DIR` in
//! the environment or tasks.toml, or `plugin_cache_dir` in Terraform's CLI configuration), and
//! every `terraform init` that uses a cache holds an exclusive lock on it while it runs.
//!
//! Why the lock: Terraform's documentation of the plugin cache (hashicorp/terraform,
//! website/docs/cli/config/config-file.mdx, "Provider Plugin Cache") says the cache directory
//! "is not guaranteed to be concurrency safe" and that the installer's behaviour with several
//! `terraform init` calls at once is undefined; two inits filling the same entry race (checksum
//! mismatches, "text file busy" when one executes a provider the other writes;
//! hashicorp/terraform issue 31964). Clusters of a stage run in parallel (`--jobs`), so kopsform
//! runs their inits one at a time; plans and applies, which only read the cache, stay parallel.
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

/// An exclusive lock on a provider cache, released when dropped (closing the file).
pub(crate) struct InitLock {
    _file: File,
}

/// Waits for the exclusive lock of `cache` for a `terraform init` (none for [`Cache::Off`]),
/// saying once that it waits; an interrupt stops the wait with the error `on_interrupt` makes.
pub(crate) fn lock_for_init(
    project: &Project,
    cache: &Cache,
    prefix: &str,
    on_interrupt: impl Fn(i32) -> UserError,
) -> Result<Option<InitLock>, UserError> {
    let path = match cache {
        Cache::Off => return Ok(None),
        Cache::Project(dir) | Cache::User(dir) if dir.is_dir() => dir.join(LOCK_FILE),
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
        match file.try_lock() {
            Ok(()) => return Ok(Some(InitLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => {
                if let Some(signal) = process::interrupted() {
                    return Err(on_interrupt(signal));
                }
                if !said {
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
}

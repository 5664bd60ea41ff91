//! Asking a tool its version, the one probe the up-to-date fingerprints, the plan seal and the
//! doctor share: each program and arguments asked once per process, under a lock so that clusters
//! running in parallel wait for one answer instead of each starting the tool, and without
//! Terraform's update check; and reading a version out of text (`first_version`, `numbers`).

use std::path::Path;
use std::sync::Mutex;

use regex::Regex;

use crate::error::UserError;
use crate::tools::process;

/// What a version command printed.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

type Seen = Vec<((String, Vec<String>, Vec<(String, String)>), Answer)>;

/// The answer of `program args` (run in `cwd` the first time) with the variables `env` added to
/// kopsform's environment (tasks.toml's `[env]` and the cluster's `env`: a version manager such as
/// tfenv or a wrapper may choose the binary from them), as this process first got it.
pub(crate) fn ask(
    program: &str,
    args: &[&str],
    cwd: &Path,
    env: &[(String, String)],
) -> Result<Answer, UserError> {
    static SEEN: Mutex<Seen> = Mutex::new(Vec::new());
    let key = (
        program.to_string(),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        env.to_vec(),
    );
    // Held while the tool answers: the others wait for this answer.
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, answer)) = seen.iter().find(|(k, _)| *k == key) {
        return Ok(answer.clone());
    }
    let mut env = env.to_vec();
    env.push(("CHECKPOINT_DISABLE".to_string(), "1".to_string()));
    let process::Output {
        code,
        stdout,
        stderr,
    } = process::run_captured(program, args, cwd, &env)?;
    let answer = Answer {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr,
    };
    seen.push((key, answer.clone()));
    Ok(answer)
}

/// A version in text: `v1.30.2`, `1.37.0-alpha.1`, `1.32.4-dispatcher`, `1.30`.
static VERSION: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
    Regex::new(r"v?(\d+)\.(\d+)(?:\.(\d+))?([-+][0-9A-Za-z.+-]*)?").ok()
});

/// The first version in `text` (`v1.30.2-rc.1` -> `1.30.2-rc.1`).
pub(crate) fn first_version(text: &str) -> Option<String> {
    VERSION
        .as_ref()?
        .find(text)
        .map(|m| m.as_str().trim_start_matches('v').to_string())
}

/// `aws --version`: `aws-cli/2.15.0 Python/3.11.6 Linux/... exe/x86_64...` (aws-cli 1.x on older
/// Pythons prints it on stderr: pass both).
pub(crate) fn aws_version(printed: &str) -> Option<String> {
    let at = printed.find("aws-cli/")?;
    let word = printed[at + "aws-cli/".len()..].split_whitespace().next()?;
    first_version(word)
}

/// (major, minor, patch) of a version text.
pub(crate) fn numbers(version: &str) -> Option<(u64, u64, u64)> {
    let caps = VERSION.as_ref()?.captures(version)?;
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u64>().ok());
    Some((num(1)?, num(2)?, num(3).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_are_read_from_text() {
        assert_eq!(numbers("1.32.4-dispatcher"), Some((1, 32, 4)));
        assert_eq!(numbers("v1.30"), Some((1, 30, 0)));
        assert_eq!(numbers("latest"), None);
    }
}

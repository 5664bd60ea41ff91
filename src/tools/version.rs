//! Asking a tool its version, the one probe the up-to-date fingerprints, the plan seal and the
//! doctor share: each program and arguments asked once per process, under a lock so that clusters
//! running in parallel wait for one answer instead of each starting the tool, and without
//! Terraform's update check.

use std::path::Path;
use std::sync::Mutex;

use crate::error::UserError;
use crate::tools::process;

/// What a version command printed.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

type Seen = Vec<((String, Vec<String>), Answer)>;

/// The answer of `program args` (run in `cwd` the first time), as this process first got it.
pub(crate) fn ask(program: &str, args: &[&str], cwd: &Path) -> Result<Answer, UserError> {
    static SEEN: Mutex<Seen> = Mutex::new(Vec::new());
    let key = (
        program.to_string(),
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    // Held while the tool answers: the others wait for this answer.
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, answer)) = seen.iter().find(|(k, _)| *k == key) {
        return Ok(answer.clone());
    }
    let env = [("CHECKPOINT_DISABLE".to_string(), "1".to_string())];
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

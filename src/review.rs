//! Plan review for pull requests. (Being written.)

use crate::cli::ReviewArgs;
use crate::config::Project;
use crate::error::UserError;

/// Runs `kopsform review`; returns the exit status (0 no changes, 2 changes, 3 protected).
pub fn run(_project: Option<&Project>, _args: &ReviewArgs) -> Result<i32, UserError> {
    Err(UserError::new("kopsform review is not built yet"))
}

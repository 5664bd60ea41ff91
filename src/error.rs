//! The one error type users see, and the exit status it maps to.
//!
//! Every failure that reaches `main` is a [`UserError`]: a message that says what happened and what
//! to do, plus the process exit status from [`exit`]. A failing child's own status is named in the
//! message, but kopsform exits 1 for it, so that the statuses with a meaning (changes, protected
//! changes, lock held, interrupted) are never produced by accident by a child.

use std::fmt;

/// Every exit status kopsform produces (the table in docs/reliability.md).
pub(crate) mod exit {
    /// Success; for `review`, a plan with no changes.
    pub(crate) const OK: i32 = 0;
    /// An error: bad input, a failed step (whatever the child's own status), a failed write.
    pub(crate) const FAILURE: i32 = 1;
    /// Changes present: `review` of a plan with changes, `--fail-on-update` with groups to roll.
    pub(crate) const CHANGES: i32 = 2;
    /// `review` of a plan that destroys or replaces a protected resource.
    pub(crate) const PROTECTED: i32 = 3;
    /// `review` of a plan whose manifest breaks a `[[review.policy]]` rule (before 3 and 2).
    pub(crate) const POLICY: i32 = 5;
    /// Every task succeeded, but the cluster's lock could not be released (the state store was
    /// unreachable at the end) and is left behind: `kopsform unlock --cluster ID` releases it.
    pub(crate) const LOCK_LEFT: i32 = 4;
    /// The command line is wrong (unknown flag, bad flag value); sysexits.h `EX_USAGE`.
    pub(crate) const USAGE: i32 = 64;
    /// Another run holds the cluster's lock; try again later (sysexits.h `EX_TEMPFAIL`).
    pub(crate) const LOCKED: i32 = 75;
    /// A tool (kops, terraform, aws, a step's program) cannot be found.
    pub(crate) const TOOL_MISSING: i32 = 127;

    /// Interrupted by `signal`: 130 for SIGINT, 143 for SIGTERM.
    pub(crate) fn interrupted(signal: i32) -> i32 {
        128 + signal
    }

    /// The status of several failures (clusters, parallel tasks): theirs when they agree, an
    /// interrupt when one was interrupted, else [`FAILURE`].
    pub(crate) fn combine(codes: impl IntoIterator<Item = i32>) -> i32 {
        let mut codes: Vec<i32> = codes.into_iter().collect();
        // A lock left behind by a cluster whose tasks succeeded yields to any other status.
        if codes.iter().any(|c| *c != LOCK_LEFT) {
            codes.retain(|c| *c != LOCK_LEFT);
        }
        match codes.first() {
            None => OK,
            Some(first) if codes.iter().all(|c| c == first) => *first,
            _ => codes.iter().copied().find(|c| *c > 128).unwrap_or(FAILURE),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserError {
    pub(crate) message: String,
    pub(crate) code: i32,
}

impl UserError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            code: exit::FAILURE,
        }
    }

    pub(crate) fn with_code(message: impl Into<String>, code: i32) -> Self {
        UserError {
            message: message.into(),
            code,
        }
    }

    /// One error for several (clusters of a stage, parallel tasks): their messages one per line,
    /// their statuses combined by [`exit::combine`]; `None` when there is none.
    pub(crate) fn combine(mut errors: Vec<UserError>) -> Option<UserError> {
        if errors.len() <= 1 {
            return errors.pop();
        }
        let message = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        Some(UserError::with_code(
            message,
            exit::combine(errors.iter().map(|e| e.code)),
        ))
    }

    /// Prefixes the message with where it happened (`file: ` or `task `x`: `).
    pub(crate) fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

impl From<anyhow::Error> for UserError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<UserError>() {
            Ok(user) => user,
            Err(e) => UserError::new(format!("{e:#}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::exit;

    #[test]
    fn combined_statuses_agree_or_prefer_the_interrupt() {
        assert_eq!(exit::combine([]), exit::OK);
        assert_eq!(exit::combine([exit::LOCKED, exit::LOCKED]), exit::LOCKED);
        assert_eq!(exit::combine([exit::LOCKED, exit::FAILURE]), exit::FAILURE);
        assert_eq!(exit::combine([exit::FAILURE, 130]), 130);
        assert_eq!(
            exit::combine([exit::LOCK_LEFT, exit::LOCK_LEFT]),
            exit::LOCK_LEFT
        );
        assert_eq!(
            exit::combine([exit::LOCK_LEFT, exit::CHANGES]),
            exit::CHANGES
        );
        assert_eq!(
            exit::combine([exit::FAILURE, exit::LOCK_LEFT]),
            exit::FAILURE
        );
    }
}

//! The one error type users see, and the exit status it maps to.
//!
//! Every failure that reaches `main` is a [`UserError`]: a message that says what happened and what
//! to do, plus the process exit status. A failing child's status passes through unchanged, an
//! interrupt becomes 128 + the signal number, everything else is 1.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    pub code: i32,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            code: 1,
        }
    }

    pub fn with_code(message: impl Into<String>, code: i32) -> Self {
        UserError {
            message: message.into(),
            code,
        }
    }

    /// Prefixes the message with where it happened (`file: ` or `task `x`: `).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
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

pub type Result<T, E = UserError> = std::result::Result<T, E>;

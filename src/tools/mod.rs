//! Every external program and what kopsform asks of it. `process` is the only place that starts a
//! child; the other modules know one tool each (its arguments, its texts, which of its commands are
//! safe to repeat). In: argv, folder, environment. Out: exit status and parsed answers.

pub(crate) mod git;
pub(crate) mod kops;
pub(crate) mod process;
pub(crate) mod retry;
pub(crate) mod terraform;
pub(crate) mod version;

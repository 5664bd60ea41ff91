//! Every external program and what kopsform asks of it. `process` is the only place that starts a
//! child; the other modules know one tool each (its arguments, its texts, which of its commands are
//! safe to repeat). In: argv, folder, environment. Out: exit status and parsed answers.

pub mod git;
pub mod kops;
pub mod process;
pub mod retry;
pub mod terraform;

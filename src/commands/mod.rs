//! The subcommands other than running tasks, one module each, and the one dispatch over
//! [`crate::cli::Subcommand`]. In: the parsed command line and the loaded project. Out: reports on
//! stdout, generated files, an exit status. Nothing below imports this folder.

pub mod ci;
pub mod completions;
pub mod doctor;
pub mod graph;
pub mod import;

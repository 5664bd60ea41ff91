//! kopsform: a Make-style task runner that bridges a prerequisites Terraform layer and a kops
//! cluster managed with Terraform.
//!
//! The modules follow the one data flow (docs/architecture.md), bottom first: `error`, `text`,
//! `ui`, `redact` and `atomic` serve everyone; `tools` starts and understands the external programs
//! (terraform, kops, aws, git); `project` loads tasks.toml into a checked `Project` and orders its
//! tasks; `render` turns values into checked files; `values` reads the prerequisites' outputs once
//! and merges values files and `--set` over them; `statestore` reads, snapshots and locks kops
//! state stores; `plan` and `review` turn a saved plan into a summary without secrets and a
//! pull-request comment; `run` runs tasks cluster by cluster; `cli` is the command line and
//! `commands` the subcommands, dispatched once. The public surface is [`run()`], what `main` calls,
//! and the entry points of the fuzz targets.

mod atomic;
mod cli;
mod commands;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod paths;
mod plan;
mod project;
mod redact;
mod render;
mod review;
mod run;
mod statestore;
mod text;
mod tools;
mod ui;
mod values;

use std::ffi::OsString;
use std::io::Write;

use cli::Cli;

#[doc(hidden)]
pub use tools::process::strip_colour;

/// Runs kopsform with `args` (program name first) and returns the exit status.
pub fn run(args: Vec<OsString>) -> i32 {
    if let Some(code) = commands::completions::complete_from_env(&args) {
        return code;
    }
    let cli = match Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                error::exit::USAGE
            } else {
                error::exit::OK
            };
        }
    };
    match commands::dispatch(cli) {
        Ok(()) => 0,
        Err(e) => {
            // An empty message carries only an exit status (e.g. review's "changes" status).
            if !e.message.is_empty() {
                let message = redact::mask_all(&e.message);
                // A lock left behind after a run whose tasks all succeeded is a warning.
                let label = if e.code == error::exit::LOCK_LEFT {
                    ui::paint("kopsform: warning:", ui::Tone::Warn)
                } else {
                    ui::paint("kopsform: error:", ui::Tone::Bad)
                };
                let _ = writeln!(std::io::stderr(), "{label} {message}");
            }
            e.code
        }
    }
}

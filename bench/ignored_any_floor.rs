//! The floor of issue 19: one serde `IgnoredAny` pass over a plan JSON file, read whole into
//! memory and checked as JSON, building nothing. `kopsform review` is held to within 10x of its
//! instructions (docs/performance.md, section 3).
//!
//!   cargo build --release --example ignored_any_floor
//!   valgrind --tool=callgrind target/release/examples/ignored_any_floor PLAN.json

use serde::de::IgnoredAny;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: ignored_any_floor PLAN.json");
        std::process::exit(64);
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{}: {e}", path.to_string_lossy());
            std::process::exit(1);
        }
    };
    if let Err(e) = serde_json::from_slice::<IgnoredAny>(&bytes) {
        eprintln!("{}: {e}", path.to_string_lossy());
        std::process::exit(1);
    }
}

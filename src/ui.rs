//! What kopsform says besides the children's output: how much (`--quiet`, `--verbose`), in
//! colour or not (`NO_COLOR`, `FORCE_COLOR`, a terminal), as JSON (`--json`), and the live
//! indicator of a long step on a terminal.
//!
//! Colour: `NO_COLOR` set and not empty turns it off; else `FORCE_COLOR` set, not empty and not
//! `0` turns it on; else it is on when stderr is a terminal. The indicator (`[plan] terraform
//! plan ... 12s`) is drawn only on a terminal, never in CI logs or with `--quiet`/`--json`: it is
//! one line at the bottom that every relayed line clears and redraws, so output never tears.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

static QUIET: AtomicBool = AtomicBool::new(false);
static VERBOSE: AtomicBool = AtomicBool::new(false);
static JSON: AtomicBool = AtomicBool::new(false);

/// The indicator's text and when its step started, while one is drawn.
static INDICATOR: Mutex<Option<(String, Instant)>> = Mutex::new(None);

pub(crate) fn configure(quiet: bool, verbose: bool, json: bool) {
    QUIET.store(quiet, Ordering::SeqCst);
    VERBOSE.store(verbose, Ordering::SeqCst);
    JSON.store(json, Ordering::SeqCst);
}

pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::SeqCst)
}

pub(crate) fn verbose() -> bool {
    VERBOSE.load(Ordering::SeqCst)
}

/// `--json`: stdout carries one JSON document; everything else goes to stderr.
pub(crate) fn json() -> bool {
    JSON.load(Ordering::SeqCst)
}

/// Prints a progress line on stderr unless `--quiet`.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => {
        if !$crate::ui::quiet() {
            $crate::ui::line_to_stderr(&format!($($arg)*));
        }
    };
}

/// Prints a line on stderr that matters even with `--quiet` (a warning, a verdict, a dry run's
/// would-run line), through the indicator-aware writer.
#[macro_export]
macro_rules! notice {
    ($($arg:tt)*) => {
        $crate::ui::line_to_stderr(&format!($($arg)*))
    };
}

/// Prints a detail on stderr with `--verbose` only.
#[macro_export]
macro_rules! detail {
    ($($arg:tt)*) => {
        if $crate::ui::verbose() {
            $crate::ui::line_to_stderr(&format!($($arg)*));
        }
    };
}

/// Whether stderr gets colour, from the environment and the terminal: asked once per process
/// (issue 19: a dry run of 100 tasks asked the terminal 300 times).
pub(crate) fn colour() -> bool {
    static COLOUR: OnceLock<bool> = OnceLock::new();
    *COLOUR.get_or_init(|| {
        colour_from(
            std::env::var_os("NO_COLOR"),
            std::env::var_os("FORCE_COLOR"),
            stderr_is_terminal(),
        )
    })
}

/// Whether stderr is a terminal, asked once per process.
fn stderr_is_terminal() -> bool {
    static TERMINAL: OnceLock<bool> = OnceLock::new();
    *TERMINAL.get_or_init(|| std::io::stderr().is_terminal())
}

fn colour_from(
    no_colour: Option<std::ffi::OsString>,
    force: Option<std::ffi::OsString>,
    terminal: bool,
) -> bool {
    if no_colour.is_some_and(|v| !v.is_empty()) {
        return false;
    }
    if let Some(f) = force
        && !f.is_empty()
        && f != "0"
    {
        return true;
    }
    terminal
}

#[derive(Clone, Copy)]
pub(crate) enum Tone {
    Good,
    Bad,
    Warn,
    Dim,
}

/// `text` in the tone's colour when stderr gets colour.
pub(crate) fn paint(text: &str, tone: Tone) -> String {
    if !colour() {
        return text.to_string();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Bad => "1;31",
        Tone::Warn => "33",
        Tone::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Whether the live indicator is drawn: stderr is a terminal, and not `--quiet` or `--json`.
fn indicator_wanted() -> bool {
    !quiet() && !json() && stderr_is_terminal()
}

/// Writes one whole line to stderr (or stdout), clearing and redrawing the indicator around it.
/// Every secret the process has learned is masked in it, in every form: this is the one place all
/// of kopsform's own lines and every relayed line of a child pass.
pub(crate) fn write_line(to_stderr: bool, line: &str) {
    let line = &crate::redact::mask_all(line);
    let indicator = INDICATOR.lock().ok();
    let drawn = indicator.as_ref().and_then(|i| i.as_ref()).cloned();
    if to_stderr {
        let mut err = std::io::stderr().lock();
        if drawn.is_some() {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        let _ = err.write_all(line.as_bytes());
        if let Some((label, since)) = &drawn {
            let _ = err.write_all(indicator_text(label, *since).as_bytes());
        }
    } else {
        if drawn.is_some() {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[2K");
        }
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
        let _ = std::io::stdout().lock().flush();
        if let Some((label, since)) = &drawn {
            let _ = std::io::stderr()
                .lock()
                .write_all(indicator_text(label, *since).as_bytes());
        }
    }
}

/// What a task prints for people (a child's stdout, the `show-outputs` table): on stdout, or on
/// stderr with `--json`, where stdout carries the JSON document alone.
pub(crate) fn write_task_output(text: &str) {
    write_line(json(), text);
}

/// A line of kopsform's own on stderr (a newline is added).
pub(crate) fn line_to_stderr(text: &str) {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    write_line(true, &line);
}

fn indicator_text(label: &str, since: Instant) -> String {
    paint(
        &format!("{label} ... {}s", since.elapsed().as_secs()),
        Tone::Dim,
    )
}

/// The indicator of one running step; cleared when dropped.
pub(crate) struct Indicator {
    stop: Option<Arc<AtomicBool>>,
}

impl Indicator {
    /// Starts drawing `label` with the elapsed time, after a second (short steps never show it).
    pub(crate) fn start(label: &str) -> Indicator {
        if !indicator_wanted() {
            return Indicator { stop: None };
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let label = label.to_string();
        let since = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            while !flag.load(Ordering::SeqCst) {
                if let Ok(mut indicator) = INDICATOR.lock() {
                    // Checked again under the lock: the step may have ended while we waited.
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    *indicator = Some((label.clone(), since));
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(b"\r\x1b[2K");
                    let _ = err.write_all(indicator_text(&label, since).as_bytes());
                    let _ = err.flush();
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        Indicator { stop: Some(stop) }
    }
}

impl Drop for Indicator {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::SeqCst);
            if let Ok(mut indicator) = INDICATOR.lock()
                && indicator.take().is_some()
            {
                let _ = std::io::stderr().lock().write_all(b"\r\x1b[2K");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_colour_wins_then_force_colour_then_the_terminal() {
        let some = |s: &str| Some(std::ffi::OsString::from(s));
        assert!(!colour_from(some("1"), some("1"), true));
        assert!(colour_from(some(""), some("1"), false));
        assert!(!colour_from(None, some("0"), false));
        assert!(colour_from(None, None, true));
        assert!(!colour_from(None, None, false));
    }
}

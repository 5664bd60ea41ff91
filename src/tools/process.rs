//! The only place that starts child processes.
//!
//! Children get an argument vector, never a shell. Their stdout and stderr are read line by line on
//! two threads, masked, prefixed with the task name and written whole, so lines of one child never
//! tear. SIGINT and SIGTERM are caught for the whole run: a child is waited for, not abandoned, so
//! Terraform can release its lock and write its state.
//!
//! Signals: on a terminal, the child stays in kopsform's process group and Ctrl-C reaches it from the
//! terminal directly, so kopsform only records it (forwarding too would be a second Ctrl-C, which
//! makes Terraform stop hard). Off a terminal (CI, `kill -INT`), the child runs in its own process
//! group and kopsform forwards each SIGINT/SIGTERM it receives to that group.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;

use duct::unix::HandleExt;

use crate::error::UserError;
use crate::redact::Redactor;

/// The running children (several when clusters run in parallel). Off a terminal each leads its
/// own process group; on a terminal they share kopsform's.
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// The first signal received (SIGINT or SIGTERM), 0 when none.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
/// Set while kopsform itself waits on the terminal (a confirmation), where a signal ends the run.
static PROMPTING: AtomicBool = AtomicBool::new(false);

/// The caught signals while no thread watches them yet: a signal received meanwhile waits in
/// their pipe until [`interrupted`] reads it or [`watch_signals`] starts the thread.
static UNWATCHED: Mutex<Option<signal_hook::iterator::Signals>> = Mutex::new(None);

/// Catches SIGINT and SIGTERM for the rest of the process (idempotent). The thread that acts on
/// them starts with the first child process or confirmation ([`watch_signals`]): until then there
/// is nothing to forward a signal to, and [`interrupted`] reads the caught ones itself. A run that
/// starts no process (every task up to date) starts no thread either (issue 19: the thread was
/// about a tenth of such a run).
pub(crate) fn install_signal_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(signals) = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ]) else {
            return;
        };
        if let Ok(mut unwatched) = UNWATCHED.lock() {
            *unwatched = Some(signals);
        }
    });
}

/// Starts the thread that acts on caught signals as they come, if the handlers are installed and
/// it has not started: before a child process starts (its pid is then forwarded every signal)
/// and before kopsform waits on the terminal (where a signal ends the run).
fn watch_signals() {
    let Some(mut signals) = UNWATCHED.lock().ok().and_then(|mut u| u.take()) else {
        return;
    };
    thread::spawn(move || {
        for signal in signals.forever() {
            on_signal(signal);
        }
    });
}

/// What a caught signal does: recorded (the first one), the run ended at a confirmation prompt,
/// passed on to the running children.
fn on_signal(signal: i32) {
    let _ = INTERRUPTED.compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    if PROMPTING.load(Ordering::SeqCst) {
        eprintln!();
        eprintln!("kopsform: interrupted at the confirmation prompt; nothing was run");
        std::process::exit(128 + signal);
    }
    let children = CHILDREN.lock().map(|c| c.clone()).unwrap_or_default();
    let own_group = !stdin_is_terminal();
    for child in children {
        if own_group {
            // SAFETY: kill(2) with a negative pid signals a process group; no memory involved.
            unsafe { libc::kill(-child, signal) };
        } else if signal != signal_hook::consts::SIGINT {
            // SAFETY: as above, a plain signal to one pid.
            unsafe { libc::kill(child, signal) };
        }
    }
}

/// The signal that interrupted the run, if any.
pub(crate) fn interrupted() -> Option<i32> {
    if INTERRUPTED.load(Ordering::SeqCst) == 0
        && let Ok(mut unwatched) = UNWATCHED.lock()
        && let Some(signals) = unwatched.as_mut()
    {
        // No thread watches yet (no child, no prompt): the signals caught so far are read here.
        for signal in signals.pending() {
            on_signal(signal);
        }
    }
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Asks a yes/no question on the terminal. `Ok(false)` unless the answer starts with y.
pub(crate) fn confirm_on_terminal(question: &str) -> Result<bool, UserError> {
    watch_signals();
    PROMPTING.store(true, Ordering::SeqCst);
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let read = std::io::stdin().read_line(&mut answer);
    PROMPTING.store(false, Ordering::SeqCst);
    read.map_err(|e| UserError::new(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

pub(crate) fn stdin_is_terminal() -> bool {
    // Asked for every child started: once per process is enough.
    static TERMINAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TERMINAL.get_or_init(|| std::io::stdin().is_terminal())
}

/// What joins the words of a `[tools]` entry that is a command with arguments
/// (`terraform = ["leverage", "tf"]`): it travels through kopsform as one program string and only
/// this spawner splits it. NUL, because no path or argument that reaches exec can hold one, so a
/// program path is never split by mistake.
const WORDS: char = '\0';

/// The program string of a command with arguments (`["leverage", "tf"]`): see [`split_program`].
pub(crate) fn join_program(words: &[String]) -> String {
    words.join(&WORDS.to_string())
}

/// The executable of a program string and the arguments that go before the caller's own.
pub(crate) fn split_program(program: &str) -> (&str, Vec<&str>) {
    let mut words = program.split(WORDS);
    let exe = words.next().unwrap_or_default();
    (exe, words.collect())
}

/// A program string as messages show it: `leverage tf`.
pub(crate) fn shown_program(program: &str) -> String {
    program.replace(WORDS, " ")
}

/// Where `program` (its executable) is: a path (absolute, or relative to kopsform's folder) or a
/// name on PATH.
pub(crate) fn locate(program: &str) -> Option<PathBuf> {
    let (program, _) = split_program(program);
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What tells a transient error (throttling, a reset connection) in a line a child printed: a
/// retry policy. The spawner only watches; whether to run again is the caller's decision.
pub(crate) trait TransientErrors: Sync {
    /// What in `line` matched, when it names a transient error.
    fn transient(&self, line: &str) -> Option<String>;
}

/// A child to start.
pub(crate) struct Command<'a> {
    pub(crate) program: &'a str,
    pub(crate) args: &'a [String],
    pub(crate) cwd: &'a Path,
    pub(crate) env: &'a [(String, String)],
    /// Written before every relayed line, e.g. `[plan] `.
    pub(crate) prefix: &'a str,
    /// Keep the (unmasked) stdout text for a parser.
    pub(crate) capture_stdout: bool,
    /// Watches stderr for transient errors (a retry policy's patterns).
    pub(crate) transient: &'a dyn TransientErrors,
}

/// How a child ended.
pub(crate) struct Finished {
    /// The exit status: the child's code, or 128 + signal.
    pub(crate) code: i32,
    pub(crate) stdout: String,
    /// The last few stderr lines, masked, for error messages.
    pub(crate) stderr_tail: Vec<String>,
    /// What the first stderr line that matched a transient-error pattern matched, masked.
    pub(crate) transient: Option<String>,
}

const TAIL: usize = 5;

fn spawn_error(program: &str, e: &std::io::Error) -> UserError {
    let words = program.contains(WORDS);
    let program = shown_program(program);
    if e.kind() == std::io::ErrorKind::NotFound {
        // `terraform = "leverage tf"` names one program of that name, spaces included.
        let hint = match program.split_once(' ') {
            Some((first, rest)) if !words => format!(
                "; a command with arguments is an array: [\"{first}\", \"{}\"]",
                rest.split(' ').collect::<Vec<_>>().join("\", \"")
            ),
            _ => String::new(),
        };
        UserError::with_code(
            format!(
                "`{program}` was not found: install it or set its path in the [tools] table of tasks.toml{hint}"
            ),
            crate::error::exit::TOOL_MISSING,
        )
    } else {
        UserError::new(format!("cannot start `{program}`: {e}"))
    }
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The variables of `env` with the last value of each name: the layers of tasks.toml come in
/// order (`[env]`, the cluster's, the task's, the step's, kopsform's own), and a later one wins.
/// duct gives the *first* `env` call precedence (the innermost expression), so a name set twice
/// would otherwise keep its first value.
fn last_wins(env: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut kept: Vec<(&str, &str)> = Vec::with_capacity(env.len());
    for (k, v) in env {
        match kept.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v,
            None => kept.push((k, v)),
        }
    }
    kept
}

/// Runs a child to the end, relaying its output live.
pub(crate) fn run_streaming(
    cmd: &Command,
    redactor: &Arc<Redactor>,
) -> Result<Finished, UserError> {
    watch_signals();
    let (out_reader, out_writer) =
        os_pipe::pipe().map_err(|e| UserError::new(format!("cannot create a pipe: {e}")))?;
    let (err_reader, err_writer) =
        os_pipe::pipe().map_err(|e| UserError::new(format!("cannot create a pipe: {e}")))?;
    let own_group = !stdin_is_terminal();
    let (exe, lead) = split_program(cmd.program);
    let args: Vec<OsString> = lead
        .iter()
        .map(OsString::from)
        .chain(cmd.args.iter().map(OsString::from))
        .collect();
    let mut expr = duct::cmd(exe, args)
        .dir(cmd.cwd)
        .stdout_file(out_writer)
        .stderr_file(err_writer)
        .unchecked();
    for (k, v) in last_wins(cmd.env) {
        expr = expr.env(k, v);
    }
    if own_group {
        expr = expr.before_spawn(|c| {
            std::os::unix::process::CommandExt::process_group(c, 0);
            Ok(())
        });
    }
    let handle = expr.start().map_err(|e| spawn_error(cmd.program, &e));
    let words: Vec<&str> = std::iter::once(
        Path::new(exe)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(exe),
    )
    .chain(
        cmd.args
            .iter()
            .map(String::as_str)
            .take_while(|a| !a.starts_with('-'))
            .take(2),
    )
    .collect();
    let _indicator = crate::ui::Indicator::start(&format!("{}{}", cmd.prefix, words.join(" ")));
    // The expression holds our copies of the pipe's write ends: drop it so the readers see EOF.
    drop(expr);
    let handle = handle?;
    let pid = handle.pids().first().map(|p| *p as i32);
    if let Some(pid) = pid {
        if let Ok(mut children) = CHILDREN.lock() {
            children.push(pid);
        }
        // A signal that arrived between spawning and recording the pid is forwarded now.
        if let Some(signal) = interrupted()
            && own_group
        {
            let _ = handle.send_signal(signal);
        }
    }
    let capture = cmd.capture_stdout;
    // Scoped: both readers end before this function returns, so they may borrow the command.
    let (status, (stdout, _), (stderr, transient)) = thread::scope(|scope| {
        let out_thread = scope.spawn(|| {
            relay(
                out_reader,
                cmd.prefix,
                redactor,
                false,
                // Errors are on stderr; a plan's resource text on stdout must not look transient.
                None,
                if capture { Keep::Raw } else { Keep::Nothing },
            )
        });
        let err_thread = scope.spawn(|| {
            relay(
                err_reader,
                cmd.prefix,
                redactor,
                true,
                Some(cmd.transient),
                Keep::Masked,
            )
        });
        let status = handle.wait();
        if let Some(pid) = pid
            && let Ok(mut children) = CHILDREN.lock()
        {
            children.retain(|p| *p != pid);
        }
        (
            status,
            out_thread.join().unwrap_or_default(),
            err_thread.join().unwrap_or_default(),
        )
    });
    let status =
        status.map_err(|e| UserError::new(format!("waiting for `{}`: {e}", cmd.program)))?;
    let stderr_tail = last_lines(&stderr, TAIL);
    Ok(Finished {
        code: exit_code(&status.status),
        stdout,
        stderr_tail,
        transient,
    })
}

/// What [`relay`] keeps of the lines it copies.
#[derive(Clone, Copy)]
enum Keep {
    Nothing,
    /// The text as the child wrote it, for a parser (never printed).
    Raw,
    /// Masked, for error messages.
    Masked,
}

/// Copies lines from `reader` to stdout or stderr, masked and prefixed; returns what `keep` kept
/// and what the first line matching a transient-error pattern of `watch` matched (masked).
fn relay(
    reader: impl Read,
    prefix: &str,
    redactor: &Redactor,
    to_stderr: bool,
    watch: Option<&dyn TransientErrors>,
    keep: Keep,
) -> (String, Option<String>) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut kept = String::new();
    let mut transient = None;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        let masked = redactor.mask(line);
        match keep {
            Keep::Nothing => {}
            Keep::Raw => kept.push_str(line),
            Keep::Masked => kept.push_str(&masked),
        }
        if !matches!(keep, Keep::Nothing) {
            kept.push('\n');
        }
        if transient.is_none()
            && let Some(policy) = watch
        {
            transient = policy.transient(line).map(|m| redactor.mask(&m));
        }
        let out = format!("{prefix}{masked}\n");
        // One write per line under the lock: lines of parallel children never interleave.
        if to_stderr {
            crate::ui::write_line(true, &out);
        } else {
            crate::ui::write_task_output(&out);
        }
    }
    (kept, transient)
}

/// The last `n` non-blank lines of a child's stderr, colour codes removed and trailing blanks
/// trimmed, for messages. When the last `Error:` headline (Terraform's, kops's) is further up, the
/// lines start there instead, up to `n` more, so the message keeps what went wrong.
pub(crate) fn last_lines(stderr: &str, n: usize) -> Vec<String> {
    let lines: Vec<String> = stderr
        .lines()
        .map(|l| strip_colour(l).trim_end().to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut start = lines.len().saturating_sub(n);
    if let Some(headline) = lines
        .iter()
        .rposition(|l| l.trim_start_matches(['│', '╷', ' ']).starts_with("Error:"))
        && headline < start
    {
        start = headline;
    }
    let end = lines.len().min(start + 2 * n);
    lines[start..end].to_vec()
}

/// `text` without ANSI colour sequences (Terraform colours its errors even into a pipe).
pub fn strip_colour(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A word as a POSIX shell reads it: as is when plain, else in single quotes. For commands shown
/// to people and written into CI scripts; children themselves never get a shell.
pub(crate) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs a child and returns its stdout; stderr is kept for the error message. For reads such as
/// `terraform output -json` whose output is data, not progress.
pub(crate) fn run_captured(
    program: &str,
    args: &[&str],
    cwd: &Path,
    env: &[(String, String)],
) -> Result<Output, UserError> {
    watch_signals();
    let (exe, lead) = split_program(program);
    let mut expr = duct::cmd(exe, lead.iter().chain(args).map(OsString::from))
        .dir(cwd)
        .stdout_capture()
        .stderr_capture()
        .stdin_null()
        .unchecked();
    for (k, v) in last_wins(env) {
        expr = expr.env(k, v);
    }
    let output = expr.run().map_err(|e| spawn_error(program, &e))?;
    Ok(Output {
        code: exit_code(&output.status),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// What a captured child left: its exit status, its stdout, and its stderr as text.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Output {
    /// The head of the message for a failed child: `` `shown` failed with status N: `` and the
    /// last lines of its stderr (Terraform's or kops's `Error:` headline kept), one per line. The
    /// caller ends it with what to do.
    pub(crate) fn failure(&self, shown: &str) -> String {
        format!(
            "`{shown}` failed with status {}:\n  {}",
            self.code,
            last_lines(&self.stderr, 5).join("\n  ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_tails_keep_the_headline_and_lose_the_colours() {
        let stderr = "\x1b[31m╷\x1b[0m\n\x1b[31m│\x1b[0m \x1b[1m\x1b[31mError: \x1b[0mUnsupported argument\n│\n│   on main.tf line 3:\n│    3:   bogus = 1\n│\n│ An argument named \"bogus\" is not expected here.\n╵\n";
        let tail = last_lines(stderr, 3);
        assert_eq!(tail[0], "│ Error: Unsupported argument");
        assert!(tail.iter().all(|l| !l.contains('\x1b')), "{tail:?}");
        assert!(
            tail.iter().any(|l| l.contains("on main.tf line 3")),
            "{tail:?}"
        );
        assert_eq!(last_lines("a\nb\nc\nd\n", 2), ["c", "d"]);
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("examples/sandbox"), "examples/sandbox");
        assert_eq!(shell_word("my project"), "'my project'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}

//! The only place that starts child processes.
//!
//! Children get an argument vector, never a shell. Their stdout and stderr are read line by line on
//! the thread that started them (poll(2) on both pipes), masked, prefixed with the task name and written whole, so lines of one child never
//! tear. SIGINT and SIGTERM are caught for the whole run: a child is waited for, not abandoned, so
//! Terraform can release its lock and write its state.
//!
//! Signals: on a terminal, the child stays in kopsform's process group and Ctrl-C reaches it from the
//! terminal directly, so kopsform only records it (forwarding too would be a second Ctrl-C, which
//! makes Terraform stop hard). Off a terminal (CI, `kill -INT`), the child runs in its own process
//! group and kopsform forwards each SIGINT/SIGTERM it receives to that group.

use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
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

/// The child `exe args` in `cwd` with `env` added (the last value of a name wins), its exit status
/// not checked, its stdout and stderr written into two new pipes whose read ends are returned.
/// The expression holds the write ends: the caller drops it once the child started, so that the
/// reads see the end when the child's copies close.
fn piped<'a>(
    exe: &str,
    args: impl IntoIterator<Item = &'a str>,
    cwd: &Path,
    env: &[(String, String)],
) -> Result<(duct::Expression, os_pipe::PipeReader, os_pipe::PipeReader), UserError> {
    let pipe = || os_pipe::pipe().map_err(|e| UserError::new(format!("cannot create a pipe: {e}")));
    let (out_reader, out_writer) = pipe()?;
    let (err_reader, err_writer) = pipe()?;
    let mut expr = duct::cmd(exe, args.into_iter().map(OsString::from))
        .dir(cwd)
        .stdout_file(out_writer)
        .stderr_file(err_writer)
        .unchecked();
    for (k, v) in last_wins(env) {
        expr = expr.env(k, v);
    }
    Ok((expr, out_reader, err_reader))
}

/// Runs a child to the end, relaying its output live.
pub(crate) fn run_streaming(
    cmd: &Command,
    redactor: &Arc<Redactor>,
) -> Result<Finished, UserError> {
    watch_signals();
    let own_group = !stdin_is_terminal();
    let (exe, lead) = split_program(cmd.program);
    let args = lead
        .iter()
        .copied()
        .chain(cmd.args.iter().map(String::as_str));
    let (mut expr, out_reader, err_reader) = piped(exe, args, cmd.cwd, cmd.env)?;
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
    let mut out = Relay::new(
        cmd.prefix,
        redactor,
        false,
        // Errors are on stderr; a plan's resource text on stdout must not look transient.
        None,
        if cmd.capture_stdout {
            Keep::Raw
        } else {
            Keep::Nothing
        },
    );
    let mut err = Relay::new(
        cmd.prefix,
        redactor,
        true,
        Some(cmd.transient),
        Keep::Masked,
    );
    let (mut out_lines, mut err_lines) = (Lines::default(), Lines::default());
    read_both(out_reader, err_reader, |pipe, chunk| match pipe {
        Pipe::Out => out_lines.push(chunk, |l| out.line(l)),
        Pipe::Err => err_lines.push(chunk, |l| err.line(l)),
    });
    out_lines.finish(|l| out.line(l));
    err_lines.finish(|l| err.line(l));
    let status = handle.wait();
    if let Some(pid) = pid
        && let Ok(mut children) = CHILDREN.lock()
    {
        children.retain(|p| *p != pid);
    }
    let (stdout, _) = out.finish();
    let (stderr, transient) = err.finish();
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

/// What a [`Relay`] keeps of the lines it copies.
#[derive(Clone, Copy)]
enum Keep {
    Nothing,
    /// The text as the child wrote it, for a parser (never printed).
    Raw,
    /// Masked, for error messages.
    Masked,
}

/// Copies a child's lines to stdout or stderr, masked and prefixed; keeps what `keep` says and
/// what the first line matching a transient-error pattern of `watch` matched (masked).
struct Relay<'a> {
    prefix: &'a str,
    redactor: &'a Redactor,
    to_stderr: bool,
    watch: Option<&'a dyn TransientErrors>,
    keep: Keep,
    kept: String,
    transient: Option<String>,
}

impl<'a> Relay<'a> {
    fn new(
        prefix: &'a str,
        redactor: &'a Redactor,
        to_stderr: bool,
        watch: Option<&'a dyn TransientErrors>,
        keep: Keep,
    ) -> Self {
        Relay {
            prefix,
            redactor,
            to_stderr,
            watch,
            keep,
            kept: String::new(),
            transient: None,
        }
    }

    /// One line as the child wrote it (its `\n` included, or not for the last one).
    fn line(&mut self, raw: &[u8]) {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches(['\n', '\r']);
        let masked = self.redactor.mask(line);
        match self.keep {
            Keep::Nothing => {}
            Keep::Raw => self.kept.push_str(line),
            Keep::Masked => self.kept.push_str(&masked),
        }
        if !matches!(self.keep, Keep::Nothing) {
            self.kept.push('\n');
        }
        if self.transient.is_none()
            && let Some(policy) = self.watch
        {
            self.transient = policy.transient(line).map(|m| self.redactor.mask(&m));
        }
        let out = format!("{}{masked}\n", self.prefix);
        // One write per line under the lock: lines of parallel children never interleave.
        if self.to_stderr {
            crate::ui::write_line(true, &out);
        } else {
            crate::ui::write_task_output(&out);
        }
    }

    fn finish(self) -> (String, Option<String>) {
        (self.kept, self.transient)
    }
}

/// Which of a child's two output pipes a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pipe {
    Out,
    Err,
}

/// Reads a child's stdout and stderr pipes to their ends on the calling thread, taking from
/// whichever has data (poll(2)), and hands each chunk read to `chunk`. One thread for both,
/// instead of a reader thread per pipe: starting and ending two threads per child was a tenth of
/// what kopsform itself spent per step (issue 19). A pipe that fails to read is closed, as is
/// everything when poll(2) itself fails for good: the child then gets EPIPE instead of blocking on
/// a full pipe that nobody reads.
fn read_both(
    out: os_pipe::PipeReader,
    err: os_pipe::PipeReader,
    mut chunk: impl FnMut(Pipe, &[u8]),
) {
    use std::os::fd::AsRawFd;
    let mut readers = [Some(out), Some(err)];
    // 16 KB: a pipe hands over at most 64 KB at once, but a bigger buffer is a bigger calloc (and
    // fresh pages) per child for output that is mostly a few short lines.
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = [0, 1].map(|i| libc::pollfd {
            fd: readers[i].as_ref().map_or(-1, |r| r.as_raw_fd()),
            events: libc::POLLIN,
            revents: 0,
        });
        if fds.iter().all(|f| f.fd < 0) {
            return;
        }
        // SAFETY: `fds` is a live array of two pollfd structs; poll(2) writes only their revents.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
                Some(libc::ENOMEM) => {
                    thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
                _ => return,
            }
        }
        for (i, pipe) in [(0, Pipe::Out), (1, Pipe::Err)] {
            if fds[i].revents == 0 {
                continue;
            }
            let Some(reader) = readers[i].as_mut() else {
                continue;
            };
            // Readable or hung up: one read does not block, and 0 is the end.
            match reader.read(&mut buf) {
                Ok(0) => readers[i] = None,
                Ok(n) => chunk(pipe, &buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => readers[i] = None,
            }
        }
    }
}

/// Splits a pipe's chunks into lines (each with its `\n`); the last piece without one comes out
/// at [`Lines::finish`], as a line.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    fn push(&mut self, chunk: &[u8], mut line: impl FnMut(&[u8])) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if self.pending.is_empty() {
                line(&chunk[start..=end]);
            } else {
                self.pending.extend_from_slice(&chunk[start..=end]);
                line(&self.pending);
                self.pending.clear();
            }
            start = end + 1;
        }
        self.pending.extend_from_slice(&chunk[start..]);
    }

    fn finish(self, mut line: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            line(&self.pending);
        }
    }
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
    let (mut expr, out_reader, err_reader) =
        piped(exe, lead.iter().chain(args).copied(), cwd, env)?;
    // Assigned, not shadowed: duct's builders borrow, so a shadowed binding would keep the pipes'
    // write ends open and the reads would never see the end.
    expr = expr.stdin_null();
    let handle = expr.start().map_err(|e| spawn_error(program, &e));
    // The expression holds our copies of the pipe's write ends: drop it so the reads see EOF.
    drop(expr);
    let handle = handle?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    read_both(out_reader, err_reader, |pipe, chunk| match pipe {
        Pipe::Out => stdout.extend_from_slice(chunk),
        Pipe::Err => stderr.extend_from_slice(chunk),
    });
    let status = handle
        .wait()
        .map_err(|e| UserError::new(format!("waiting for `{program}`: {e}")))?;
    Ok(Output {
        code: exit_code(&status.status),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
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

    #[test]
    fn lines_stay_whole_across_chunks_and_the_last_one_needs_no_newline() {
        let mut lines = Lines::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for chunk in [&b"ab"[..], b"c\nde", b"\n", b"\n\r\nf", b"g"] {
            lines.push(chunk, |l| seen.push(l.to_vec()));
        }
        lines.finish(|l| seen.push(l.to_vec()));
        let want: Vec<&[u8]> = vec![b"abc\n", b"de\n", b"\n", b"\r\n", b"fg"];
        assert_eq!(seen, want);
        let mut none = 0;
        Lines::default().finish(|_| none += 1);
        assert_eq!(none, 0, "an empty pipe has no last line");
    }

    #[test]
    fn both_pipes_are_read_at_once_so_a_child_filling_either_never_blocks() {
        // 300 KB on stderr before anything on stdout, then 300 KB on stdout: far more than a pipe
        // holds, so reading one pipe to its end before the other would never finish.
        let script = "head -c 300000 /dev/zero | tr '\\0' e >&2; head -c 300000 /dev/zero | tr '\\0' o; echo end >&2";
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(run_captured("sh", &["-c", script], Path::new("."), &[]));
        });
        let output = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the child never finished: a pipe was left unread")
            .expect("sh runs");
        assert_eq!(output.code, 0);
        assert_eq!(output.stdout, vec![b'o'; 300_000]);
        assert_eq!(output.stderr, format!("{}end\n", "e".repeat(300_000)));
    }
}

//! Retries of steps that only read, or are safe to repeat, on transient cloud errors.
//!
//! A step is retried when it failed, a line of its output matched a transient-error pattern
//! (throttling, `RequestLimitExceeded`, a connection reset, a TLS handshake timeout, a 5xx from S3),
//! and kopsform knows the command to be repeatable: `terraform init/plan/output/show/validate`,
//! `kops get/validate/export`, `kops update cluster --target terraform` (whose writes converge:
//! tools::kops), `aws s3 ls`, a download with `aws s3 cp|sync`, or a program the task lists in
//! `repeatable`. A command that changes things (`terraform apply`, `kops replace`,
//! `kops update cluster --yes` to the direct target, an upload) is never retried: its failure says
//! it looked transient and that kopsform did not repeat it. The waits grow exponentially with
//! jitter, up to a cap.

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::error::UserError;

/// `[retry]` and `[tasks.<name>.retry]`: retries of steps that only read, on transient cloud
/// errors (the defaults and the rules are below).
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RetryConfig {
    /// Attempts in all, the first included (default 3; 1 turns retries off).
    #[serde(default)]
    pub(crate) attempts: Option<u32>,
    /// The wait before the first retry, doubled for each further one (default `2s`).
    #[serde(default)]
    pub(crate) delay: Option<String>,
    /// The longest wait (default `30s`).
    #[serde(default)]
    pub(crate) max_delay: Option<String>,
    /// Regular expressions of further transient errors, matched against each output line.
    #[serde(default)]
    pub(crate) patterns: Vec<String>,
    /// `false`: only `patterns` count, not kopsform's built-in list.
    #[serde(default)]
    pub(crate) default_patterns: Option<bool>,
    /// Programs other than terraform, kops and aws (scripts) that are safe to run again.
    #[serde(default)]
    pub(crate) repeatable: Vec<String>,
}

/// Transient errors as AWS, its SDKs, the aws CLI, Terraform and kops print them.
pub(crate) const DEFAULT_PATTERNS: &[&str] = &[
    // Throttling (EC2, IAM, Route 53, Auto Scaling...; S3 says SlowDown).
    r"RequestLimitExceeded",
    r"Throttling(Exception)?\b",
    r"TooManyRequestsException",
    r"\bSlowDown\b",
    r"(?i)rate exceeded",
    // Server-side errors.
    r"\bInternalError\b",
    r"\bServiceUnavailable\b",
    r"(?i)status ?code:? 5\d\d\b",
    r"\b50[0234] (Internal Server Error|Bad Gateway|Service Unavailable|Gateway Time-?out)\b",
    r"\bRequestTimeout\b",
    // The network between here and the cloud.
    r"(?i)connection reset by peer",
    r"(?i)TLS handshake timeout",
    r"(?i)i/o timeout",
    r"(?i)temporary failure in name resolution",
    r"(?i)Connection was closed before we received a valid response",
    r"(?i)Read timeout on endpoint URL",
];

/// [`DEFAULT_PATTERNS`] compiled, once per process. Policies use them by reference, never a
/// copy: a cloned `Regex` starts with an empty match cache of its own, which the first line it
/// checks fills again (callgrind: 16 fresh caches per step that ran a command).
static DEFAULT_REGEXES: std::sync::LazyLock<Vec<Regex>> = std::sync::LazyLock::new(|| {
    DEFAULT_PATTERNS
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .collect()
});

/// Defaults of `[retry]`.
pub(crate) const DEFAULT_ATTEMPTS: u32 = 3;
pub(crate) const DEFAULT_DELAY: Duration = Duration::from_secs(2);
pub(crate) const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
/// The longest `delay` or `max-delay` accepted (a longer one is surely a typo).
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The retry settings of one task: the project's `[retry]` with the task's `retry` over it.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// Attempts in all, the first included (1: no retry).
    pub(crate) attempts: u32,
    pub(crate) delay: Duration,
    pub(crate) max_delay: Duration,
    /// Whether [`DEFAULT_REGEXES`] count (`default-patterns`).
    defaults: bool,
    /// The patterns of `[retry]` and the task's `retry`, compiled when the policy was made and
    /// shared by its clones.
    patterns: Arc<[Regex]>,
    /// Programs besides terraform, kops and aws that the task declares safe to repeat.
    repeatable: Arc<[String]>,
}

impl crate::tools::process::TransientErrors for Policy {
    fn transient(&self, line: &str) -> Option<String> {
        Policy::transient(self, line)
    }
}

impl Policy {
    /// The policy of a task: `task` settings over `project` settings over the defaults. Errors
    /// name the bad setting (the caller adds the file).
    pub(crate) fn new(project: &RetryConfig, task: Option<&RetryConfig>) -> Result<Policy, String> {
        let pick = |f: fn(&RetryConfig) -> Option<&String>| task.and_then(f).or(f(project));
        let attempts = task
            .and_then(|t| t.attempts)
            .or(project.attempts)
            .unwrap_or(DEFAULT_ATTEMPTS);
        if !(1..=20).contains(&attempts) {
            return Err(format!("attempts = {attempts}; give 1 (no retry) to 20"));
        }
        let duration = |name: &str, text: Option<&String>, default: Duration| match text {
            None => Ok(default),
            Some(t) => match humantime::parse_duration(t) {
                Ok(d) if d <= MAX_WAIT => Ok(d),
                Ok(_) => Err(format!(
                    "{name} = \"{t}\" is longer than a retry should wait; give at most \"1h\""
                )),
                Err(e) => Err(format!(
                    "{name} = \"{t}\" is not a duration ({e}); write e.g. \"500ms\", \"2s\", \"1m\""
                )),
            },
        };
        let delay = duration("delay", pick(|r| r.delay.as_ref()), DEFAULT_DELAY)?;
        let max_delay = duration(
            "max-delay",
            pick(|r| r.max_delay.as_ref()),
            DEFAULT_MAX_DELAY,
        )?;
        let defaults = task
            .and_then(|t| t.default_patterns)
            .or(project.default_patterns)
            .unwrap_or(true);
        let mut patterns = Vec::new();
        for p in project
            .patterns
            .iter()
            .chain(task.into_iter().flat_map(|t| &t.patterns))
        {
            patterns.push(
                Regex::new(p)
                    .map_err(|e| format!("pattern `{p}` is not a regular expression: {e}"))?,
            );
        }
        let mut repeatable = project.repeatable.clone();
        if let Some(t) = task {
            repeatable.extend(t.repeatable.iter().cloned());
        }
        if let Some(tool) = repeatable
            .iter()
            .find(|r| matches!(r.as_str(), "terraform" | "tofu" | "kops" | "aws"))
        {
            return Err(format!(
                "repeatable lists `{tool}`; kopsform itself knows which {tool} commands only read (and retries those), and never repeats one that changes things: remove it"
            ));
        }
        Ok(Policy {
            attempts,
            delay,
            max_delay,
            defaults,
            patterns: patterns.into(),
            repeatable: repeatable.into(),
        })
    }

    /// The defaults alone (no `[retry]` settings).
    pub(crate) fn defaults() -> Policy {
        Policy {
            attempts: DEFAULT_ATTEMPTS,
            delay: DEFAULT_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            defaults: true,
            patterns: Arc::new([]),
            repeatable: Arc::new([]),
        }
    }

    /// The first transient-error pattern `line` matches: the text it matched.
    pub(crate) fn transient(&self, line: &str) -> Option<String> {
        let defaults: &[Regex] = if self.defaults { &DEFAULT_REGEXES } else { &[] };
        defaults
            .iter()
            .chain(self.patterns.iter())
            .find_map(|p| p.find(line).map(|m| m.as_str().to_string()))
    }

    /// Whether a program other than terraform, kops and aws was declared safe to repeat.
    pub(crate) fn declared_repeatable(&self, program: &str) -> bool {
        self.repeatable.iter().any(|r| r == program)
    }

    /// The wait before attempt `next` (2 for the first retry): the delay doubled per retry, capped,
    /// less up to a quarter at random so that parallel clusters throttled together spread out.
    pub(crate) fn backoff(&self, next: u32) -> Duration {
        let doubled = self
            .delay
            .saturating_mul(1u32 << (next.saturating_sub(2)).min(16));
        let capped = doubled.min(self.max_delay);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        capped.mul_f64(1.0 - f64::from(nanos % 250) / 1000.0)
    }
}

/// What kind of tool a step runs, as far as retries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Terraform,
    Kops,
    Aws,
    Other,
}

/// Whether a command may be run again after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// It only reads, or its writes converge: files it would write the same way again, objects
    /// it creates only when missing (`kops update cluster --target terraform`'s keys and secrets).
    Repeatable,
    /// It changes the cloud, the state store or the Terraform state.
    Mutating,
    /// A program kopsform does not know (a script): repeated only when the task says so.
    Unknown,
}

/// Classifies `args` (without the program) of `tool`.
pub(crate) fn classify(tool: Tool, args: &[String]) -> Safety {
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-') || *a == "-")
        .collect();
    let first = words.first().copied().unwrap_or("");
    let second = words.get(1).copied().unwrap_or("");
    let repeatable = |yes: bool| {
        if yes {
            Safety::Repeatable
        } else {
            Safety::Mutating
        }
    };
    match tool {
        Tool::Other => Safety::Unknown,
        Tool::Terraform => repeatable(crate::tools::terraform::repeatable(first, second)),
        Tool::Kops => repeatable(crate::tools::kops::KopsArgs::parse(args).repeatable()),
        Tool::Aws => {
            if first == "s3" {
                repeatable(match second {
                    "ls" | "presign" => true,
                    // A copy or sync from S3 to a local place only downloads: the source (the
                    // first path) is in S3 and no later word is.
                    "cp" | "sync" => {
                        words.get(2).is_some_and(|w| w.starts_with("s3://"))
                            && !words.iter().skip(3).any(|w| w.starts_with("s3://"))
                    }
                    _ => false,
                })
            } else {
                // The read calls of every service: describe-*, get-*, list-*, head-*.
                repeatable(
                    ["describe-", "get-", "list-", "head-"]
                        .iter()
                        .any(|p| second.starts_with(p)),
                )
            }
        }
    }
}

/// Sleeps `wait`, waking early when the run is interrupted: `false` then.
pub(crate) fn sleep(wait: Duration) -> bool {
    let until = std::time::Instant::now() + wait;
    loop {
        if crate::tools::process::interrupted().is_some() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// A result got by [`repeat`]: the last attempt's, how many attempts it took, and whether an
/// interrupt cut a wait short (then no further attempt was made).
pub(crate) struct Repeated<T> {
    pub(crate) last: T,
    pub(crate) attempts: u32,
    pub(crate) cut_short: bool,
}

/// The one retry loop: runs `attempt` again while `transient` finds a transient error in its
/// result and `policy` has attempts left, waiting with backoff in between and announcing each
/// retry with `announce(what matched, the wait, the attempt about to start)`. The caller decides
/// beforehand whether the command is safe to repeat (a `policy` of one attempt never repeats).
pub(crate) fn repeat<T>(
    policy: &Policy,
    mut attempt: impl FnMut() -> Result<T, UserError>,
    transient: impl Fn(&T) -> Option<String>,
    announce: impl Fn(&str, Duration, u32),
) -> Result<Repeated<T>, UserError> {
    let mut attempts = 1;
    loop {
        let last = attempt()?;
        match transient(&last) {
            Some(matched) if attempts < policy.attempts => {
                attempts += 1;
                let wait = policy.backoff(attempts);
                announce(&matched, wait, attempts);
                if !sleep(wait) {
                    return Ok(Repeated {
                        last,
                        attempts,
                        cut_short: true,
                    });
                }
            }
            _ => {
                return Ok(Repeated {
                    last,
                    attempts,
                    cut_short: false,
                });
            }
        }
    }
}

/// Runs a read-only child through [`crate::tools::process::run_captured`], again after a
/// transient error, as `policy` says. For kopsform's own reads (`terraform output -json`, `aws s3
/// sync` of the state store to a local folder).
pub(crate) fn run_captured(
    policy: &Policy,
    program: &str,
    args: &[&str],
    cwd: &std::path::Path,
    env: &[(String, String)],
) -> Result<crate::tools::process::Output, UserError> {
    let repeated = repeat(
        policy,
        || crate::tools::process::run_captured(program, args, cwd, env),
        |out| {
            (out.code != 0)
                .then(|| out.stderr.lines().find_map(|l| policy.transient(l)))
                .flatten()
        },
        |matched, wait, attempt| {
            crate::notice!(
                "kopsform: transient error from `{} {}` ({matched}); it only reads, so it runs again in {} (attempt {attempt} of {})",
                crate::tools::process::shown_program(program),
                args.first().copied().unwrap_or(""),
                show(wait),
                policy.attempts
            );
        },
    )?;
    Ok(repeated.last)
}

/// A wait as people read it: `1.5s`, `250ms`.
pub(crate) fn show(wait: Duration) -> String {
    let ms = wait.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", wait.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &str) -> Vec<String> {
        words.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn reads_are_repeatable_and_changes_are_not() {
        use Safety::*;
        use Tool::*;
        let cases = [
            (Terraform, "init -input=false", Repeatable),
            (Terraform, "plan -out=kubernetes.tfplan", Repeatable),
            (Terraform, "output -json", Repeatable),
            (Terraform, "state list", Repeatable),
            (Terraform, "apply kubernetes.tfplan", Mutating),
            (Terraform, "destroy -auto-approve", Mutating),
            (Terraform, "state rm x", Mutating),
            (Terraform, "import a b", Mutating),
            (Kops, "get cluster --name c -o yaml", Repeatable),
            (Kops, "validate cluster --wait 10m", Repeatable),
            (Kops, "export kubecfg --admin", Repeatable),
            (Kops, "toolbox dump", Repeatable),
            (
                Kops,
                "update cluster --target terraform --out .",
                Repeatable,
            ),
            (
                Kops,
                "update cluster --target terraform --out . --yes",
                Repeatable,
            ),
            (Kops, "update cluster --yes", Mutating),
            (Kops, "rolling-update cluster", Repeatable),
            (Kops, "rolling-update cluster --yes", Mutating),
            (Kops, "replace -f cluster.yml --force", Mutating),
            (Kops, "create -f cluster.yml", Mutating),
            (Kops, "delete cluster --yes", Mutating),
            (Aws, "s3 ls s3://b", Repeatable),
            (Aws, "s3 sync s3://b/c local/dir --exclude *", Repeatable),
            (Aws, "s3 cp s3://b/k -", Repeatable),
            (Aws, "s3 cp file s3://b/k", Mutating),
            (Aws, "s3 sync dir s3://b", Mutating),
            (Aws, "s3 rm s3://b/k", Mutating),
            (Aws, "s3api get-object --bucket b --key k out", Repeatable),
            (Aws, "s3api put-object --bucket b --key k", Mutating),
            (Aws, "ec2 describe-instances", Repeatable),
            (Aws, "ec2 terminate-instances --instance-ids i-1", Mutating),
            (Other, "lint.sh", Unknown),
        ];
        for (tool, words, want) in cases {
            assert_eq!(classify(tool, &args(words)), want, "{tool:?} {words}");
        }
    }

    #[test]
    fn every_default_pattern_compiles() {
        assert_eq!(DEFAULT_REGEXES.len(), DEFAULT_PATTERNS.len());
    }

    #[test]
    fn default_patterns_match_what_the_clouds_print() {
        let policy = Policy::new(&RetryConfig::default(), None).unwrap();
        for (line, want) in [
            (
                "Error: error fetching s3://b/c/config: SlowDown: Please reduce your request rate.",
                "SlowDown",
            ),
            (
                "An error occurred (RequestLimitExceeded) when calling the DescribeInstances operation",
                "RequestLimitExceeded",
            ),
            (
                "\tstatus code: 503, request id: 4442587FB7D0A2F9",
                "status code: 503",
            ),
            (
                "https response error StatusCode: 500, RequestID: x",
                "StatusCode: 500",
            ),
            (
                "read tcp 10.0.0.1:52312->52.1.2.3:443: read: connection reset by peer",
                "connection reset by peer",
            ),
            ("net/http: TLS handshake timeout", "TLS handshake timeout"),
            ("ThrottlingException: Rate exceeded", "ThrottlingException"),
        ] {
            assert_eq!(policy.transient(line).as_deref(), Some(want), "{line}");
        }
        for line in [
            "Error: cluster \"c\" not found",
            "AccessDenied: Access Denied\n\tstatus code: 403",
            "Error: Invalid reference",
        ] {
            assert_eq!(policy.transient(line), None, "{line}");
        }
    }

    #[test]
    fn task_settings_override_the_project_and_patterns_add_up() {
        let project = RetryConfig {
            attempts: Some(5),
            delay: Some("1s".into()),
            patterns: vec!["Flaky".into()],
            ..RetryConfig::default()
        };
        let task = RetryConfig {
            attempts: Some(2),
            patterns: vec!["Wobbly".into()],
            default_patterns: Some(false),
            repeatable: vec!["./check.sh".into()],
            ..RetryConfig::default()
        };
        let p = Policy::new(&project, Some(&task)).unwrap();
        assert_eq!(p.attempts, 2);
        assert_eq!(p.delay, Duration::from_secs(1));
        assert!(p.transient("a Flaky thing").is_some());
        assert!(p.transient("a Wobbly thing").is_some());
        assert!(p.transient("SlowDown").is_none());
        assert!(p.declared_repeatable("./check.sh"));
        // Waits double per retry, at most max-delay, less at most a quarter.
        let wait = p.backoff(3);
        assert!(
            wait <= Duration::from_secs(2) && wait >= Duration::from_millis(1500),
            "{wait:?}"
        );
    }

    #[test]
    fn bad_settings_are_refused_with_what_to_write() {
        let bad = |r: RetryConfig| Policy::new(&r, None).unwrap_err();
        assert!(
            bad(RetryConfig {
                attempts: Some(0),
                ..Default::default()
            })
            .contains("give 1")
        );
        assert!(
            bad(RetryConfig {
                delay: Some("soon".into()),
                ..Default::default()
            })
            .contains("\"2s\"")
        );
        assert!(
            bad(RetryConfig {
                max_delay: Some("300000000000y".into()),
                ..Default::default()
            })
            .contains("give at most \"1h\"")
        );
        assert!(
            bad(RetryConfig {
                patterns: vec!["(".into()],
                ..Default::default()
            })
            .contains("not a regular expression")
        );
        assert!(
            bad(RetryConfig {
                repeatable: vec!["terraform".into()],
                ..Default::default()
            })
            .contains("never repeats one that changes")
        );
    }
}

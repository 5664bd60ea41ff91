//! A tool's version: the tools kopsform knows (`Kind`, with their supported ranges), asking a binary
//! once and reading what it printed (`Probe`), and judging the version against the range.
//! In: a program and its kind. Out: a probe, then a status and a line.

use std::path::Path;

use crate::tools::version::{first_version, numbers};
use crate::tools::{kops, process, terraform};

use super::report::Status;

/// The tools kopsform knows the versions of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Terraform,
    Tofu,
    Kops,
    Aws,
    Kubectl,
    /// Any other program a step runs (a script, a linter): only looked up.
    Other,
}

impl Kind {
    pub(super) fn display(self) -> &'static str {
        match self {
            Kind::Terraform => "terraform",
            Kind::Tofu => "tofu",
            Kind::Kops => "kops",
            Kind::Aws => "aws-cli",
            Kind::Kubectl => "kubectl",
            Kind::Other => "",
        }
    }

    /// The command that prints the version.
    pub(super) fn version_args(self) -> &'static [&'static str] {
        match self {
            Kind::Terraform | Kind::Tofu => &["version", "-json"],
            // kops: cmd/kops/version.go (RunVersion) prints `Client version: <kops.Version>` and,
            // when built with one, ` (git-<GitVersion>)`; `--server` is what would read a state
            // store, so it is not passed.
            Kind::Kops => &["version"],
            Kind::Aws => &["--version"],
            Kind::Kubectl => &["version", "--client", "-o", "json"],
            Kind::Other => &[],
        }
    }

    /// The supported range: the oldest (major, minor) and the major it must stay below.
    pub(super) fn range(self) -> Option<((u64, u64), Option<u64>)> {
        match self {
            Kind::Terraform => Some(((1, 5), Some(2))),
            Kind::Tofu => Some(((1, 6), None)),
            Kind::Kops => Some(((1, 28), Some(2))),
            Kind::Aws => Some(((2, 0), None)),
            Kind::Kubectl => Some(((1, 28), None)),
            Kind::Other => None,
        }
    }
}

/// What asking a binary for its version gave.
#[derive(Debug, Clone)]
pub(super) enum Probe {
    /// The version as printed (`1.30.1`, `1.32.4-dispatcher`) and its numbers.
    Version(String, (u64, u64, u64)),
    /// It ran, but printed nothing that reads as a version: what it printed.
    Unreadable(String),
    /// It did not run or failed: why.
    Failed(String),
}

/// Runs the version command of `program` once (with `env` added to kopsform's environment) and
/// reads its version.
pub(super) fn probe_version(
    program: &str,
    kind: Kind,
    cwd: &Path,
    env: &[(String, String)],
) -> Probe {
    let args = kind.version_args();
    let crate::tools::version::Answer {
        code,
        stdout,
        stderr,
    } = match crate::tools::version::ask(program, args, cwd, env) {
        Ok(answer) => answer,
        Err(e) => return Probe::Failed(e.message),
    };
    if code != 0 {
        let tail = process::last_lines(&stderr, 3).join(" / ");
        return Probe::Failed(format!(
            "`{} {}` failed with status {code}: {tail}",
            process::shown_program(program),
            args.join(" ")
        ));
    }
    // aws-cli 1.x on older Pythons prints its version on stderr.
    let printed = format!("{stdout}{stderr}");
    let version = match kind {
        Kind::Terraform | Kind::Tofu => terraform::parse_version(&stdout),
        Kind::Kops => kops::parse_version(&stdout),
        Kind::Aws => crate::tools::version::aws_version(&printed),
        Kind::Kubectl => parse_kubectl_version(&stdout),
        Kind::Other => None,
    };
    match version.and_then(|v| numbers(&v).map(|n| (v, n))) {
        Some((v, n)) => Probe::Version(v, n),
        None => Probe::Unreadable(excerpt(&printed)),
    }
}

/// At most three lines and 200 characters of what a tool printed, for a message.
fn excerpt(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ");
    if joined.chars().count() > 200 {
        format!("{}...", joined.chars().take(200).collect::<String>())
    } else {
        joined
    }
}

/// `kubectl version --client -o json`: `clientVersion.gitVersion` (`v1.30.2`).
fn parse_kubectl_version(stdout: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(stdout.trim())
        && let Some(v) = json["clientVersion"]["gitVersion"].as_str()
    {
        return first_version(v);
    }
    let line = stdout.lines().find(|l| l.starts_with("Client Version:"))?;
    first_version(line)
}

/// A tool's version against its supported range.
pub(super) fn judge_version(
    kind: Kind,
    version: &str,
    (major, minor, _): (u64, u64, u64),
) -> (Status, String) {
    let name = kind.display();
    if kind == Kind::Aws {
        return match major {
            0 => (
                Status::Fail,
                format!("{name} {version} is too old; install the aws CLI version 2"),
            ),
            1 => (
                Status::Warn,
                format!("{name} {version}: version 1 works, version 2 is recommended"),
            ),
            _ => (Status::Ok, format!("{name} {version} (supported: >= 2.0)")),
        };
    }
    let Some(((min_major, min_minor), below)) = kind.range() else {
        return (Status::Ok, format!("{name} {version}"));
    };
    let range = match below {
        Some(b) => format!(">= {min_major}.{min_minor}, < {b}"),
        None => format!(">= {min_major}.{min_minor}"),
    };
    if (major, minor) < (min_major, min_minor) {
        return (
            Status::Fail,
            format!(
                "{name} {version} is older than {min_major}.{min_minor}; install {name} {min_major}.{min_minor} or later"
            ),
        );
    }
    if let Some(b) = below
        && major >= b
    {
        return (
            Status::Fail,
            format!(
                "{name} {version} is newer than kopsform supports ({range}); install {name} {}.x ({min_major}.{min_minor} or later)",
                b - 1
            ),
        );
    }
    (Status::Ok, format!("{name} {version} (supported: {range})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_as_aws_and_kubectl_print_them() {
        assert_eq!(
            crate::tools::version::aws_version(
                "aws-cli/1.33.4 Python/3.11.7 Linux/6.1 botocore/1.34.4"
            )
            .as_deref(),
            Some("1.33.4")
        );
        assert_eq!(
            crate::tools::version::aws_version(
                "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22"
            )
            .as_deref(),
            Some("2.15.0")
        );
        assert_eq!(
            parse_kubectl_version(
                r#"{"clientVersion":{"major":"1","minor":"32+","gitVersion":"v1.32.4-dispatcher"}}"#
            )
            .as_deref(),
            Some("1.32.4-dispatcher")
        );
    }

    #[test]
    fn tool_versions_are_judged_against_their_ranges() {
        let judge = |kind, v: &str| judge_version(kind, v, numbers(v).unwrap());
        assert_eq!(
            judge(Kind::Terraform, "1.9.5"),
            (
                Status::Ok,
                "terraform 1.9.5 (supported: >= 1.5, < 2)".to_string()
            )
        );
        assert_eq!(judge(Kind::Terraform, "1.4.7").0, Status::Fail);
        assert_eq!(judge(Kind::Terraform, "2.0.0").0, Status::Fail);
        assert_eq!(judge(Kind::Tofu, "1.6.0").0, Status::Ok);
        assert_eq!(judge(Kind::Tofu, "1.5.9").0, Status::Fail);
        assert_eq!(
            judge(Kind::Kops, "1.25.0"),
            (
                Status::Fail,
                "kops 1.25.0 is older than 1.28; install kops 1.28 or later".to_string()
            )
        );
        assert_eq!(
            judge(Kind::Aws, "1.33.4"),
            (
                Status::Warn,
                "aws-cli 1.33.4: version 1 works, version 2 is recommended".to_string()
            )
        );
        assert_eq!(judge(Kind::Aws, "2.15.0").0, Status::Ok);
        assert_eq!(judge(Kind::Kubectl, "1.27.3").0, Status::Fail);
    }
}

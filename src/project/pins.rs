//! Version pins of `[tools]` (`terraform = { version = "1.11.4", sha256 = "..." }`): which tools
//! can be pinned, where their Linux x86_64 downloads are by default, the checks of the values when
//! the file is read, and the check that the binary found is the pinned version, which refuses a
//! run, a plan seal and an apply before anything runs (docs/tasks-toml.md, `[tools]`).
//! In: the project's `[tools]`. Out: errors naming the key, the pin, the version found and the
//! binary.

use std::path::Path;

use crate::project::schema::{Config, ToolPin};
use crate::tools::process;

/// How a tool's download is packed, and so how a generated CI job installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    /// A zip with the binary at its root (Terraform's releases).
    Zip,
    /// The binary itself (kops's releases).
    Binary,
    /// The aws CLI v2 zip: `aws/install` installs it.
    AwsInstaller,
}

/// A tool that can be pinned.
pub(crate) struct Pinnable {
    pub(crate) name: &'static str,
    /// The download of the Linux x86_64 build, `{version}` replaced.
    pub(crate) default_url: &'static str,
    pub(crate) packing: Packing,
    /// The arguments that print its version.
    version_args: &'static [&'static str],
}

/// Every tool a pin may name, in the order generated CI installs them.
pub(crate) const PINNABLE: &[Pinnable] = &[
    Pinnable {
        name: "terraform",
        default_url: "https://releases.hashicorp.com/terraform/{version}/terraform_{version}_linux_amd64.zip",
        packing: Packing::Zip,
        version_args: &["version", "-json"],
    },
    Pinnable {
        name: "kops",
        default_url: "https://github.com/kubernetes/kops/releases/download/v{version}/kops-linux-amd64",
        packing: Packing::Binary,
        version_args: &["version"],
    },
    Pinnable {
        name: "aws",
        default_url: "https://awscli.amazonaws.com/awscli-exe-linux-x86_64-{version}.zip",
        packing: Packing::AwsInstaller,
        version_args: &["--version"],
    },
];

pub(crate) fn pinnable(name: &str) -> Option<&'static Pinnable> {
    PINNABLE.iter().find(|p| p.name == name)
}

impl Pinnable {
    /// The download of `pin`: its `url` (a mirror) or the default, `{version}` replaced.
    pub(crate) fn url(&self, pin: &ToolPin) -> String {
        pin.url
            .as_deref()
            .unwrap_or(self.default_url)
            .replace("{version}", &pin.version)
    }
}

/// A version as a pin writes it: `1.11.4`, `1.31.0-beta.1`: numbers and a pre-release of
/// letters, digits, dots and dashes; nothing that could be shell or YAML syntax.
pub(crate) fn is_version(text: &str) -> bool {
    let (numbers, pre) = match text.split_once('-') {
        Some((n, p)) => (n, Some(p)),
        None => (text, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && pre.is_none_or(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
}

/// A SHA-256 as `sha256sum` prints it: 64 lower-case hex digits.
pub(crate) fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

/// An http(s) URL without spaces or control characters.
pub(crate) fn is_url(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The pins' values, checked when the file is read: each error names the key.
pub(crate) fn check(config: &Config) -> Result<(), String> {
    for (name, entry) in &config.tools {
        if let Some(key) = entry.stray {
            return Err(format!(
                "[tools] {name}: `{key}` without `version`; a download is checked only against a pinned version: add version = \"X.Y.Z\" or remove `{key}`"
            ));
        }
        let Some(pin) = &entry.pin else { continue };
        if pinnable(name).is_none() {
            let names: Vec<&str> = PINNABLE.iter().map(|p| p.name).collect();
            return Err(format!(
                "[tools] {name}: `version` pins only {}; remove it, or write {name} = {{ command = ... }} without a version",
                names.join(", ")
            ));
        }
        if !is_version(&pin.version) {
            return Err(format!(
                "[tools] {name}: version = {:?} is not a version; write the exact version the tool prints, e.g. version = \"1.11.4\"",
                pin.version
            ));
        }
        if let Some(sha) = &pin.sha256
            && !is_sha256(sha)
        {
            return Err(format!(
                "[tools] {name}: sha256 = {sha:?} is not a SHA-256; write the 64 lower-case hex digits `sha256sum` prints for the download"
            ));
        }
        if let Some(url) = &pin.url
            && !is_url(url)
        {
            return Err(format!(
                "[tools] {name}: url = {url:?} is not an http(s) URL without spaces; write the download's address, `{{version}}` where the version goes"
            ));
        }
    }
    Ok(())
}

/// The version `program` (the tool `name`) prints, through the one version probe.
fn found_version(
    tool: &Pinnable,
    program: &str,
    cwd: &Path,
    env: &[(String, String)],
) -> Result<String, String> {
    let shown = process::shown_program(program);
    let answer =
        crate::tools::version::ask(program, tool.version_args, cwd, env).map_err(|e| e.message)?;
    if answer.code != 0 {
        return Err(format!(
            "`{shown} {}` failed with status {}: {}",
            tool.version_args.join(" "),
            answer.code,
            process::last_lines(&answer.stderr, 3).join(" / ")
        ));
    }
    let version = match tool.name {
        "terraform" => crate::tools::terraform::parse_version(&answer.stdout),
        "kops" => crate::tools::kops::parse_version(&answer.stdout),
        _ => crate::tools::version::aws_version(&format!("{}{}", answer.stdout, answer.stderr)),
    };
    version.ok_or_else(|| {
        format!(
            "`{shown} {}` printed no version kopsform can read",
            tool.version_args.join(" ")
        )
    })
}

/// The version the binary `program` of the pinnable tool `name` reports, through the one version
/// probe; an error saying why none could be read.
pub(crate) fn found(
    name: &str,
    program: &str,
    cwd: &Path,
    env: &[(String, String)],
) -> Result<String, String> {
    let tool = pinnable(name).ok_or_else(|| format!("{name} has no version kopsform reads"))?;
    found_version(tool, program, cwd, env)
}

/// Where a program is, for a message: its path, else its name.
fn binary(program: &str) -> String {
    process::locate(program)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| process::shown_program(program))
}

/// What is wrong with the pinned tool `name` run as `program`: `None` when it is the pinned
/// version. The message names the tool, the pin, the version found and the binary.
pub(crate) fn mismatch(
    name: &str,
    pin: &ToolPin,
    program: &str,
    cwd: &Path,
    env: &[(String, String)],
) -> Option<String> {
    let tool = pinnable(name)?;
    match found_version(tool, program, cwd, env) {
        Ok(found) if found == pin.version => None,
        Ok(found) => Some(format!(
            "[tools] {name} pins version {}, but {} is {name} {found}; install {name} {} (or change the pin)",
            pin.version,
            binary(program),
            pin.version
        )),
        Err(why) => Some(format!(
            "[tools] {name} pins version {}, but its version could not be read from {}: {why}",
            pin.version,
            binary(program)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_values_are_checked_for_their_shape() {
        assert!(is_version("1.11.4"));
        assert!(is_version("1.31.0-beta.1"));
        for bad in [
            "1.11",
            "v1.11.4",
            "1.11.4 ",
            "1.11.4\n",
            "1.$(id).4",
            "1.11.4-'x'",
            "",
        ] {
            assert!(!is_version(bad), "{bad:?}");
        }
        assert!(is_sha256(&"a1".repeat(32)));
        assert!(!is_sha256(&"A1".repeat(32)));
        assert!(is_url("https://mirror.example.com/tf/{version}.zip"));
        assert!(!is_url("ftp://x"));
        assert!(!is_url("https://x/a b"));
        assert!(!is_url("https://x/a\nb"));
    }
}

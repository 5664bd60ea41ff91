//! Where the AWS credentials come from (the environment, a profile of ~/.aws, tasks.toml's env
//! tables), named without any value. In: the environment and the env tables. Out: the
//! `aws-credentials` check.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::report::{Check, Status};
use super::session::Doctor;
use super::tools::Needed;
use super::versions::Kind;

impl Doctor<'_> {
    pub(super) fn credentials_check(&self, tools: &IndexMap<String, Needed>) -> Check {
        let needed = self
            .clusters
            .iter()
            .any(|d| d.config.state.trim_start().starts_with("s3://"))
            && tools.values().any(|n| {
                matches!(
                    n.kind,
                    Kind::Aws | Kind::Kops | Kind::Terraform | Kind::Tofu
                )
            });
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut tables: Vec<(String, &IndexMap<String, String>)> =
            vec![("[env]".to_string(), &self.project.config.env)];
        for def in &self.clusters {
            let table = if self.project.config.cluster.is_some() {
                "[cluster] env".to_string()
            } else {
                format!("[clusters.{}] env", def.id)
            };
            tables.push((table, &def.config.env));
        }
        let found = credential_source(&env, &tables);
        let name = "aws-credentials".to_string();
        match found {
            Ok(source) => Check {
                name,
                status: Status::Ok,
                detail: format!("AWS credentials: {source}"),
            },
            Err(problem) => Check {
                name,
                status: if needed { Status::Fail } else { Status::Warn },
                detail: if needed {
                    format!(
                        "AWS credentials: {problem}; kops, terraform and the aws CLI need them for the s3:// state store: export AWS_PROFILE (a profile of ~/.aws/config) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (an EC2 instance role is not detected: doctor calls no AWS API for it)"
                    )
                } else {
                    format!(
                        "AWS credentials: {problem}; no task needs them for an s3:// state store"
                    )
                },
            },
        }
    }
}

/// Where the AWS credentials come from, named without any value; `Err` says what is missing.
/// `env` reads kopsform's environment; `tables` are the env tables of tasks.toml (children get
/// them).
fn credential_source(
    env: &dyn Fn(&str) -> Option<String>,
    tables: &[(String, &IndexMap<String, String>)],
) -> Result<String, String> {
    let key_id = env("AWS_ACCESS_KEY_ID").is_some();
    let secret = env("AWS_SECRET_ACCESS_KEY").is_some();
    match (key_id, secret) {
        (true, true) => {
            let session = if env("AWS_SESSION_TOKEN").is_some() {
                " (with AWS_SESSION_TOKEN)"
            } else {
                ""
            };
            return Ok(format!(
                "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY{session}"
            ));
        }
        (true, false) => {
            return Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into());
        }
        (false, true) => {
            return Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into());
        }
        (false, false) => {}
    }
    let home = env("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| -> Option<PathBuf> {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let credentials = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let config = file("AWS_CONFIG_FILE", ".aws/config");
    let shown = |path: &Path| match home.as_ref().and_then(|h| path.strip_prefix(h).ok()) {
        Some(rel) => format!("~/{}", rel.display()),
        None => path.display().to_string(),
    };
    let profiles = |path: &Option<PathBuf>, in_config: bool| -> Vec<String> {
        path.as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| ini_sections(&text, in_config))
            .unwrap_or_default()
    };
    let in_credentials = profiles(&credentials, false);
    let in_config = profiles(&config, true);
    let find_profile = |profile: &str, from: &str| -> Result<String, String> {
        let place = if in_credentials.iter().any(|p| p == profile) {
            credentials.as_deref().map(shown)
        } else if in_config.iter().any(|p| p == profile) {
            config.as_deref().map(shown)
        } else {
            None
        };
        match place {
            Some(place) => Ok(format!("the profile `{profile}` ({from}) in {place}")),
            None => Err(format!(
                "{from} names the profile `{profile}`, which is in neither {} nor {}; add it (aws configure --profile {profile}) or fix the name",
                credentials
                    .as_deref()
                    .map_or("~/.aws/credentials".into(), shown),
                config.as_deref().map_or("~/.aws/config".into(), shown),
            )),
        }
    };
    for var in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"] {
        if let Some(profile) = env(var) {
            return find_profile(&profile, var);
        }
    }
    if let Some(token) = env("AWS_WEB_IDENTITY_TOKEN_FILE") {
        return if Path::new(&token).is_file() {
            Ok("a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, with AWS_ROLE_ARN)".into())
        } else {
            Err("AWS_WEB_IDENTITY_TOKEN_FILE names a file that does not exist".into())
        };
    }
    for var in [
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        if env(var).is_some() {
            return Ok(format!("container credentials ({var})"));
        }
    }
    for (table, vars) in tables {
        if let Some(profile) = vars.get("AWS_PROFILE") {
            let from = format!("AWS_PROFILE of {table}");
            return if profile.contains("{{") {
                Ok(format!("a profile from {from} (a template, not checked)"))
            } else {
                find_profile(profile, &from)
            };
        }
        if vars.contains_key("AWS_ACCESS_KEY_ID") && vars.contains_key("AWS_SECRET_ACCESS_KEY") {
            return Ok(format!(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of {table}"
            ));
        }
    }
    if in_credentials.iter().any(|p| p == "default") {
        return Ok(format!(
            "the default profile in {}",
            credentials.as_deref().map_or_else(String::new, shown)
        ));
    }
    if in_config.iter().any(|p| p == "default") {
        return Ok(format!(
            "the default profile in {}",
            config.as_deref().map_or_else(String::new, shown)
        ));
    }
    Err("none found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, a default profile in ~/.aws/credentials or ~/.aws/config)".into())
}

/// The profile names of an AWS credentials file (`[name]`) or config file (`[default]`,
/// `[profile name]`; `sso-session` and `services` sections are not profiles).
fn ini_sections(text: &str, config: bool) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
            if !config {
                return Some(inner.to_string());
            }
            if inner == "default" {
                return Some(inner.to_string());
            }
            inner
                .strip_prefix("profile ")
                .map(|name| name.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    #[test]
    fn credential_sources_are_named_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_string_lossy().into_owned();
        let vars: HashMap<&str, String> = [
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "canary-secret".to_string()),
        ]
        .into_iter()
        .collect();
        let env = |n: &str| vars.get(n).cloned();
        let found = credential_source(&env, &[]).unwrap();
        assert!(found.contains("AWS_SECRET_ACCESS_KEY"), "{found}");
        assert!(!found.contains("canary") && !found.contains("AKIAEXAMPLE"));

        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(
            dir.path().join(".aws/config"),
            "[profile ops]\nregion = eu-west-1\n[sso-session x]\n",
        )
        .unwrap();
        let vars: HashMap<&str, String> = [("HOME", home.clone()), ("AWS_PROFILE", "ops".into())]
            .into_iter()
            .collect();
        let env = |n: &str| vars.get(n).cloned();
        assert_eq!(
            credential_source(&env, &[]).unwrap(),
            "the profile `ops` (AWS_PROFILE) in ~/.aws/config"
        );
        let vars: HashMap<&str, String> = [("HOME", home.clone()), ("AWS_PROFILE", "x".into())]
            .into_iter()
            .collect();
        let env = |n: &str| vars.get(n).cloned();
        assert!(credential_source(&env, &[]).is_err());
        let vars: HashMap<&str, String> = [("HOME", home)].into_iter().collect();
        let env = |n: &str| vars.get(n).cloned();
        assert!(credential_source(&env, &[]).is_err());
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_secret_access_key = canary\n",
        )
        .unwrap();
        assert_eq!(
            credential_source(&env, &[]).unwrap(),
            "the default profile in ~/.aws/credentials"
        );
    }
}

//! Where the AWS credentials come from (the environment, a profile of ~/.aws, tasks.toml's env
//! tables), named without any value. In: the environment and the env tables. Out: the
//! `aws-credentials` check.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::project::cluster::ClusterDef;
use crate::values::context::own_env;

use super::report::{Check, Status};
use super::session::Doctor;
use super::tools::Needed;
use super::versions::Kind;

impl Doctor<'_> {
    pub(super) fn credentials_check(&self, tools: &IndexMap<String, Needed>) -> Vec<Check> {
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
        // Each cluster's children see kopsform's environment overlaid by tasks.toml's env for
        // that cluster; one line when they all find the same source, else one per cluster.
        let mut found: Vec<(Option<&ClusterDef>, Result<String, String>)> = Vec::new();
        let defs: Vec<Option<&ClusterDef>> = if self.clusters.is_empty() {
            vec![None]
        } else {
            self.clusters.iter().map(Some).collect()
        };
        for def in defs {
            let (vars, left_out) = own_env(self.project, def);
            let env = |name: &str| {
                match vars.iter().rev().find(|v| v.name == name) {
                    Some(v) => Some(v.value.clone()),
                    None => std::env::var(name).ok(),
                }
                .filter(|v| !v.is_empty())
            };
            let from = |name: &str| match vars.iter().rev().find(|v| v.name == name) {
                Some(v) => format!("{name} of {}", v.table),
                None => name.to_string(),
            };
            found.push((def, credential_source(&env, &from, &left_out)));
        }
        let all_same = found.windows(2).all(|w| w[0].1 == w[1].1);
        if all_same {
            found.truncate(1);
        }
        found
            .into_iter()
            .map(|(def, result)| {
                let name = match def {
                    Some(def) if !all_same => self.check_name("aws-credentials", def),
                    _ => "aws-credentials".to_string(),
                };
                credentials_line(name, result, needed)
            })
            .collect()
    }
}

impl Doctor<'_> {
    /// The env tables of tasks.toml that kopsform's own calls for the cluster get (its `aws` calls,
    /// `terraform output -json`, this report's probes), by name only: a value may be a secret.
    /// `None` when tasks.toml sets none.
    pub(super) fn env_check(&self, def: &ClusterDef) -> Option<Check> {
        let (vars, left_out) = own_env(self.project, Some(def));
        if vars.is_empty() && left_out.is_empty() {
            return None;
        }
        let mut by_table: Vec<(String, Vec<String>)> = Vec::new();
        for var in &vars {
            match by_table.iter_mut().find(|(t, _)| *t == var.table) {
                Some((_, names)) => names.push(var.name.clone()),
                None => by_table.push((var.table.clone(), vec![var.name.clone()])),
            }
        }
        let mut detail = format!(
            "environment of kopsform's own aws and terraform calls and these checks: {}",
            if by_table.is_empty() {
                "none".to_string()
            } else {
                by_table
                    .iter()
                    .map(|(table, names)| format!("{} of {table}", names.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        );
        if !left_out.is_empty() {
            detail.push_str(&format!(
                " (not {}: a value over the outputs reaches the steps only)",
                left_out.join(", ")
            ));
        }
        Some(Check {
            name: self.check_name("env", def),
            status: Status::Ok,
            detail,
        })
    }
}

fn credentials_line(name: String, found: Result<String, String>, needed: bool) -> Check {
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
                    "AWS credentials: {problem}; kops, terraform and the aws CLI need them for the s3:// state store: export AWS_PROFILE (a profile of ~/.aws/config) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or set them in [env] (an EC2 instance role is not detected: doctor calls no AWS API for it)"
                )
            } else {
                format!("AWS credentials: {problem}; no task needs them for an s3:// state store")
            },
        },
    }
}

/// Where the AWS credentials come from, named without any value; `Err` says what is missing.
/// `env` reads the environment the children get (kopsform's, overlaid by tasks.toml's env),
/// `from` names a variable with its table (`AWS_PROFILE of [env]`), `templated` lists the
/// variables of tasks.toml whose value needs an output (not checked).
fn credential_source(
    env: &dyn Fn(&str) -> Option<String>,
    from: &dyn Fn(&str) -> String,
    templated: &[String],
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
            let (id, key) = (from("AWS_ACCESS_KEY_ID"), from("AWS_SECRET_ACCESS_KEY"));
            return Ok(
                if id == "AWS_ACCESS_KEY_ID" && key == "AWS_SECRET_ACCESS_KEY" {
                    format!(
                        "the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY{session}"
                    )
                } else {
                    format!("{id} and {key}{session}")
                },
            );
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
            return find_profile(&profile, &from(var));
        }
        if let Some(table) = templated
            .iter()
            .find(|t| t.starts_with(&format!("{var} of ")))
        {
            return Ok(format!(
                "a profile from {table} (a template over the values, not checked)"
            ));
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
        let found = credential_source(&env, &|n: &str| n.to_string(), &[]).unwrap();
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
            credential_source(&env, &|n: &str| n.to_string(), &[]).unwrap(),
            "the profile `ops` (AWS_PROFILE) in ~/.aws/config"
        );
        let vars: HashMap<&str, String> = [("HOME", home.clone()), ("AWS_PROFILE", "x".into())]
            .into_iter()
            .collect();
        let env = |n: &str| vars.get(n).cloned();
        assert!(credential_source(&env, &|n: &str| n.to_string(), &[]).is_err());
        let vars: HashMap<&str, String> = [("HOME", home)].into_iter().collect();
        let env = |n: &str| vars.get(n).cloned();
        assert!(credential_source(&env, &|n: &str| n.to_string(), &[]).is_err());
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_secret_access_key = canary\n",
        )
        .unwrap();
        assert_eq!(
            credential_source(&env, &|n: &str| n.to_string(), &[]).unwrap(),
            "the default profile in ~/.aws/credentials"
        );
    }
}

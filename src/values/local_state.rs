//! The outputs of a prerequisites layer read from its local state file, without starting
//! Terraform, when that provably gives what `terraform output -json` would print.
//!
//! With the local backend and the default workspace, `terraform output -json` reads
//! `terraform.tfstate` in the layer's folder and prints its `outputs` object: the same names (null
//! outputs are absent from both), the same `value` and `type`, `sensitive` written out (the state
//! writes it only when true). It neither refreshes nor locks. Reading the file is therefore the
//! same read, 40 ms of Terraform start-up cheaper, and as fresh: the file is the state.
//!
//! Anything that could make Terraform read another state, or read this one differently, makes
//! [`read`] answer `None`, and the caller runs Terraform as before:
//! * the tool is not plainly `terraform` (a wrapper, OpenTofu with its state encryption);
//! * a `backend` or `cloud` block in the layer's `.tf`/`.tf.json` files other than an empty
//!   `backend "local" {}` (even in a comment: the check is textual, so it errs towards running
//!   Terraform), or an initialised backend other than a plain local one in
//!   `.terraform/terraform.tfstate`;
//! * a workspace other than `default` (`TF_WORKSPACE`, the cluster's `workspace`,
//!   `.terraform/environment`), `TF_DATA_DIR`, or any `TF_CLI_ARGS*` variable;
//! * no state file, one that is not state version 4, or one that does not parse (a write in
//!   progress: Terraform does not replace the file atomically).

use std::path::Path;

use serde_json::{Map, Value};

use super::outputs::{self, Outputs};

/// Variables that change which state Terraform reads or how it runs `output`.
const CHANGES_THE_READ: &[&str] = &["TF_WORKSPACE", "TF_DATA_DIR"];

/// The outputs of the layer in `dir`, read from its local state, or `None` when only Terraform
/// can say (see the module's list). `program` is the `[tools] terraform` entry; `env` the
/// variables kopsform adds for the call; `workspace` the cluster's.
pub(crate) fn read(
    dir: &Path,
    program: &str,
    env: &[(String, String)],
    workspace: Option<&str>,
) -> Option<Outputs> {
    let (exe, lead) = crate::tools::process::split_program(program);
    if !lead.is_empty() || Path::new(exe).file_name()? != "terraform" {
        return None;
    }
    if workspace.is_some_and(|w| w != "default") {
        return None;
    }
    let set = |name: &str| {
        env.iter().any(|(k, _)| k == name) || std::env::var_os(name).is_some_and(|v| !v.is_empty())
    };
    if CHANGES_THE_READ.iter().any(|n| set(n))
        || env.iter().any(|(k, _)| k.starts_with("TF_CLI_ARGS"))
        || std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("TF_CLI_ARGS"))
    {
        return None;
    }
    if !local_backend(dir)? {
        return None;
    }
    let text = std::fs::read(dir.join("terraform.tfstate")).ok()?;
    let state: Value = serde_json::from_slice(&text).ok()?;
    if state.get("version").and_then(Value::as_u64) != Some(4) {
        return None;
    }
    let Value::Object(found) = state.get("outputs")? else {
        return None;
    };
    // The object `terraform output -json` prints: each entry with `sensitive`, `type`, `value`.
    let mut printed = Map::new();
    for (name, entry) in found {
        let Value::Object(entry) = entry else {
            return None;
        };
        let mut shaped = Map::new();
        shaped.insert(
            "sensitive".into(),
            Value::Bool(entry.get("sensitive").and_then(Value::as_bool) == Some(true)),
        );
        shaped.insert("type".into(), entry.get("type")?.clone());
        shaped.insert("value".into(), entry.get("value")?.clone());
        printed.insert(name.clone(), Value::Object(shaped));
    }
    outputs::from_map(printed).ok()
}

/// Whether the layer in `dir` uses the local backend in its default place, and the default
/// workspace: `Some(false)` when it provably does not or may not, `None` when its folder cannot
/// be read.
fn local_backend(dir: &Path) -> Option<bool> {
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.ends_with(".tf") || name.ends_with(".tf.json")) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).ok()?;
        if declares_backend(&text) {
            return Some(false);
        }
    }
    let data = dir.join(".terraform");
    if let Ok(environment) = std::fs::read_to_string(data.join("environment"))
        && environment.trim() != "default"
    {
        return Some(false);
    }
    match std::fs::read(data.join("terraform.tfstate")) {
        // Never initialised with a backend: the local one.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(true),
        Err(_) => Some(false),
        Ok(bytes) => {
            let backend: Value = serde_json::from_slice(&bytes).ok()?;
            let backend = &backend["backend"];
            let plain = backend["type"] == "local"
                && backend["config"]
                    .as_object()
                    .is_none_or(|c| c.values().all(Value::is_null));
            Some(plain)
        }
    }
}

/// A `backend "..."` or `cloud {` block, or their JSON forms, anywhere in the text, other than
/// an empty `backend "local" {}` (the default, written out).
fn declares_backend(text: &str) -> bool {
    static BLOCK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"\bbackend\s*"|\bcloud\s*\{|"backend"\s*:|"cloud"\s*:"#)
            .expect("a valid pattern")
    });
    static DEFAULT_LOCAL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"\bbackend\s*"local"\s*\{\s*\}"#).expect("a valid pattern")
    });
    BLOCK.is_match(&DEFAULT_LOCAL.replace_all(text, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const STATE: &str = r#"{"version": 4, "terraform_version": "1.9.8", "serial": 3, "lineage": "x",
      "outputs": {
        "a_secret": {"value": "s3cr3t", "type": "string", "sensitive": true},
        "subnets": {"value": {"b": "subnet-b", "a": "subnet-a"}, "type": ["map", "string"]},
        "vpc_id": {"value": "vpc-1", "type": "string"}
      }, "resources": []}"#;

    #[test]
    fn a_plain_local_state_is_read_as_terraform_prints_it() {
        let dir = layer(&[
            ("main.tf", "output \"vpc_id\" {\n  value = \"vpc-1\"\n}\n"),
            ("backend.tf", "terraform {\n  backend \"local\" {}\n}\n"),
            ("terraform.tfstate", STATE),
        ]);
        let got = read(dir.path(), "terraform", &[], None).expect("read from the state");
        assert_eq!(
            got.values.keys().collect::<Vec<_>>(),
            ["a_secret", "subnets", "vpc_id"]
        );
        assert_eq!(got.values["subnets"]["a"], "subnet-a");
        assert_eq!(got.sensitive.iter().collect::<Vec<_>>(), ["a_secret"]);
        // An initialised local backend in its default place is the same.
        let init = r#"{"version": 3, "backend": {"type": "local", "config": {"path": null, "workspace_dir": null}}}"#;
        std::fs::create_dir_all(dir.path().join(".terraform")).unwrap();
        std::fs::write(dir.path().join(".terraform/terraform.tfstate"), init).unwrap();
        assert!(read(dir.path(), "/usr/local/bin/terraform", &[], None).is_some());
    }

    #[test]
    fn anything_that_may_read_another_state_runs_terraform() {
        let plain = [
            ("main.tf", "output \"x\" {\n  value = 1\n}\n"),
            ("terraform.tfstate", STATE),
        ];
        let dir = layer(&plain);
        let env = |k: &str| vec![(k.to_string(), "v".to_string())];
        for (program, env, workspace) in [
            ("tofu", vec![], None),
            ("leverage tf", vec![], None),
            ("./terraform-wrapper", vec![], None),
            ("terraform", env("TF_WORKSPACE"), None),
            ("terraform", env("TF_DATA_DIR"), None),
            ("terraform", env("TF_CLI_ARGS_output"), None),
            ("terraform", vec![], Some("staging")),
        ] {
            assert!(
                read(dir.path(), program, &env, workspace).is_none(),
                "{program} {env:?} {workspace:?}"
            );
        }
        for extra in [
            ("backend.tf", "terraform {\n  backend \"s3\" {}\n}\n"),
            (
                "backend.tf",
                "terraform {\n  backend \"local\" {\n    path = \"other.tfstate\"\n  }\n}\n",
            ),
            (
                "cloud.tf",
                "terraform {\n  cloud {\n    organization = \"o\"\n  }\n}\n",
            ),
            ("main.tf.json", r#"{"terraform": {"backend": {"s3": {}}}}"#),
            (".terraform/environment", "staging"),
            (
                ".terraform/terraform.tfstate",
                r#"{"backend": {"type": "s3", "config": {"bucket": "b"}}}"#,
            ),
            (
                ".terraform/terraform.tfstate",
                r#"{"backend": {"type": "local", "config": {"path": "elsewhere.tfstate"}}}"#,
            ),
        ] {
            let dir = layer(&[plain[0], plain[1], extra]);
            assert!(
                read(dir.path(), "terraform", &[], None).is_none(),
                "{extra:?}"
            );
        }
        for state in [
            "",
            "{\"version\": 4, \"outputs\": {\"x\": {\"va",
            r#"{"version": 3, "outputs": {}}"#,
            r#"{"version": 4}"#,
            r#"{"version": 4, "outputs": {"x": {"type": "string"}}}"#,
        ] {
            let dir = layer(&[plain[0], ("terraform.tfstate", state)]);
            assert!(
                read(dir.path(), "terraform", &[], None).is_none(),
                "{state}"
            );
        }
        let dir = layer(&[plain[0]]);
        assert!(
            read(dir.path(), "terraform", &[], None).is_none(),
            "no state"
        );
    }
}

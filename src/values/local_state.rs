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
    if !plain_local_state(dir, program, env, workspace) {
        return None;
    }
    let text = std::fs::read(dir.join("terraform.tfstate")).ok()?;
    let state = StateHead::parse(&text)?;
    if state.version.as_ref().and_then(Value::as_u64) != Some(4) {
        return None;
    }
    let Value::Object(found) = state.outputs? else {
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

/// The two members of a state file the outputs need. The rest (`resources`: most of the file,
/// often hundreds of kilobytes) is checked as JSON and skipped, not built into values: building
/// it was most of the cost of reading the outputs (issue 19, a no-op `cluster-update`).
#[derive(serde::Deserialize)]
struct StateHead {
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    outputs: Option<Value>,
}

impl StateHead {
    /// `None` for what is not one JSON object, and for an object that names `version` or
    /// `outputs` twice (Terraform never writes one; the caller then asks Terraform).
    fn parse(text: &[u8]) -> Option<StateHead> {
        // A struct also reads from a JSON array: only an object is a state.
        if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(text).ok()
    }
}

/// Whether the Terraform layer in `dir` provably has no state: what `terraform show -json` (no
/// plan file) reads there is the same local state file [`read`] would read (the same conditions),
/// and there is no such file. Its `show -json` would then print no value at all, so there is no
/// secret to learn from it before a command runs there (issue 19: a `terraform show` per cluster
/// and plan, 40 ms of Terraform each, for layers never applied).
pub(crate) fn holds_no_state(
    dir: &Path,
    program: &str,
    env: &[(String, String)],
    workspace: Option<&str>,
) -> bool {
    // `read` answers `None` for every condition that could make Terraform read another state,
    // and for a missing file; so: those conditions hold, and the file is not there.
    plain_local_state(dir, program, env, workspace)
        && matches!(
            std::fs::symlink_metadata(dir.join("terraform.tfstate")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound
        )
}

/// The conditions of [`read`] but the state file's own: plain `terraform`, the default workspace,
/// none of [`CHANGES_THE_READ`] or `TF_CLI_ARGS*`, the local backend in its default place.
fn plain_local_state(
    dir: &Path,
    program: &str,
    env: &[(String, String)],
    workspace: Option<&str>,
) -> bool {
    let (exe, lead) = crate::tools::process::split_program(program);
    if !lead.is_empty() || Path::new(exe).file_name().is_none_or(|n| n != "terraform") {
        return false;
    }
    if workspace.is_some_and(|w| w != "default") {
        return false;
    }
    let set = |name: &str| {
        env.iter().any(|(k, _)| k == name) || std::env::var_os(name).is_some_and(|v| !v.is_empty())
    };
    if CHANGES_THE_READ.iter().any(|n| set(n))
        || env.iter().any(|(k, _)| k.starts_with("TF_CLI_ARGS"))
        || std::env::vars_os().any(|(k, _)| k.to_string_lossy().starts_with("TF_CLI_ARGS"))
    {
        return false;
    }
    local_backend(dir) == Some(true)
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
///
/// Scanned by hand, as the regular expressions `\bbackend\s*"|\bcloud\s*\{|"backend"\s*:|"cloud"\s*:`
/// over the text with every `\bbackend\s*"local"\s*\{\s*\}` removed would (a unit test compares
/// the two): compiling those took a million instructions on every run that reads the outputs
/// (issue 19).
fn declares_backend(text: &str) -> bool {
    let without_default = remove_default_local(text);
    let t: &str = &without_default;
    keyword_at_word_start(t, "backend").any(|rest| rest.starts_with('"'))
        || keyword_at_word_start(t, "cloud").any(|rest| rest.starts_with('{'))
        || [r#""backend""#, r#""cloud""#].iter().any(|word| {
            // Overlapping occurrences count: `"cloud"cloud":` holds `"cloud":` at its second quote.
            let mut from = 0;
            while let Some(found) = t[from..].find(word) {
                let end = from + found + word.len();
                if t[end..].trim_start().starts_with(':') {
                    return true;
                }
                from += found + 1;
            }
            false
        })
}

/// For each `word` in `text` not preceded by a word character (`\b`), the text after it with
/// its leading white space skipped (`\s*`).
fn keyword_at_word_start<'t>(text: &'t str, word: &'t str) -> impl Iterator<Item = &'t str> {
    text.match_indices(word).filter_map(move |(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        Some(text[at + word.len()..].trim_start())
    })
}

/// `text` without its empty `backend "local" {}` blocks (`\bbackend\s*"local"\s*\{\s*\}`,
/// leftmost first, as a regular expression's `replace_all`).
fn remove_default_local(text: &str) -> std::borrow::Cow<'_, str> {
    fn default_block_len(rest: &str) -> Option<usize> {
        let after = rest.strip_prefix("backend")?.trim_start();
        let after = after.strip_prefix("\"local\"")?.trim_start();
        let after = after.strip_prefix('{')?.trim_start();
        let after = after.strip_prefix('}')?;
        Some(rest.len() - after.len())
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("backend") {
        let at = from + found;
        let word_start = !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        match default_block_len(&text[at..]).filter(|_| word_start) {
            Some(len) => {
                out.push_str(&text[copied..at]);
                copied = at + len;
                from = copied;
            }
            None => from = at + "backend".len(),
        }
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regular expressions `declares_backend` replaced, kept here to compare with.
    fn declares_backend_by_regex(text: &str) -> bool {
        static BLOCK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"\bbackend\s*"|\bcloud\s*\{|"backend"\s*:|"cloud"\s*:"#).unwrap()
        });
        static DEFAULT_LOCAL: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r#"\bbackend\s*"local"\s*\{\s*\}"#).unwrap()
        });
        BLOCK.is_match(&DEFAULT_LOCAL.replace_all(text, ""))
    }

    #[test]
    fn declares_backend_as_the_regular_expressions_did() {
        let parts = [
            "backend",
            "cloud",
            "\"backend\"",
            "\"cloud\"",
            "\"local\"",
            "\"s3\"",
            " ",
            "\n\t",
            "{",
            "}",
            ":",
            "x",
            "_",
            "é",
            "-",
            "\"",
            "terraform {",
            "backend \"local\" {}",
        ];
        // Every sequence of up to four parts: the scanner and the regular expressions agree.
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let mut longer = Vec::new();
            for t in &texts {
                for p in parts {
                    longer.push(format!("{t}{p}"));
                }
            }
            texts.extend(longer);
            texts.sort();
            texts.dedup();
        }
        for t in &texts {
            assert_eq!(declares_backend(t), declares_backend_by_regex(t), "{t:?}");
        }
        for t in [
            "terraform {\n  backend \"s3\" {\n    bucket = \"b\"\n  }\n}\n",
            "terraform {\n  backend \"local\" {}\n}\n",
            "terraform {\n  backend \"local\" {\n  }\n}\n",
            "terraform {\n  backend \"local\" { path = \"x\" }\n}\n",
            "terraform {\n  cloud {\n    organization = \"o\"\n  }\n}\n",
            "{\"terraform\": {\"backend\": {\"s3\": {}}}}",
            "{\"terraform\": [{\"cloud\" : {}}]}",
            "# mybackend \"x\" and soundcloud {\n",
            "backend \"local\" {}backend \"local\" {}",
            "backendbackend \"local\" {}",
        ] {
            assert_eq!(declares_backend(t), declares_backend_by_regex(t), "{t:?}");
        }
    }

    fn layer(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn a_layer_never_applied_provably_holds_no_state() {
        let main = ("main.tf", "resource \"terraform_data\" \"x\" {}\n");
        let none = layer(&[main]);
        assert!(holds_no_state(none.path(), "terraform", &[], None));
        assert!(holds_no_state(
            none.path(),
            "/usr/bin/terraform",
            &[],
            Some("default")
        ));
        // A state, even an empty file or a link, is read by Terraform: not skipped.
        let applied = layer(&[main, ("terraform.tfstate", "")]);
        assert!(!holds_no_state(applied.path(), "terraform", &[], None));
        let linked = layer(&[main]);
        std::os::unix::fs::symlink("elsewhere", linked.path().join("terraform.tfstate")).unwrap();
        assert!(!holds_no_state(linked.path(), "terraform", &[], None));
        // Anything that could make Terraform read another state.
        let remote = layer(&[
            main,
            ("backend.tf", "terraform {\n  backend \"s3\" {}\n}\n"),
        ]);
        assert!(!holds_no_state(remote.path(), "terraform", &[], None));
        let selected = layer(&[main, (".terraform/environment", "dev")]);
        assert!(!holds_no_state(selected.path(), "terraform", &[], None));
        assert!(!holds_no_state(none.path(), "terraform", &[], Some("dev")));
        assert!(!holds_no_state(none.path(), "tofu", &[], None));
        assert!(!holds_no_state(none.path(), "bin/leverage tf", &[], None));
        for var in ["TF_WORKSPACE", "TF_DATA_DIR", "TF_CLI_ARGS_show"] {
            let env = [(var.to_string(), "x".to_string())];
            assert!(
                !holds_no_state(none.path(), "terraform", &env, None),
                "{var}"
            );
        }
        assert!(!holds_no_state(
            &none.path().join("missing"),
            "terraform",
            &[],
            None
        ));
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
            r#"[4, {"x": {"value": "v", "type": "string"}}]"#,
            r#"{"version": 4, "outputs": {}, "outputs": {"x": {"value": "v", "type": "string"}}}"#,
            r#"{"version": 4.0, "outputs": {}}"#,
            r#"{"version": 4, "outputs": null}"#,
            r#"{"version": 4, "outputs": {}, "resources": [}"#,
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

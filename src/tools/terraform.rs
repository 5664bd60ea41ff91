//! What kopsform knows of Terraform (or OpenTofu) itself, apart from the tasks' own steps: the
//! JSON form of a saved plan, its version (`parse_version` reads what `version -json` prints),
//! and which of its subcommands are repeatable or write a state. (`terraform output -json` is read
//! by `values::context` through the retry loop, which itself asks this module what repeats.)

use std::path::Path;

use crate::error::UserError;

/// `terraform show -json FILE` in the plan's folder (the folder's `.terraform` has the providers
/// whose schemas `show` needs), or in `folder` when given: the Terraform folder the plan was made
/// in, for a plan saved elsewhere (the prerequisites layer's plans go into kopsform's own folder).
pub(crate) fn show_json_in(
    plan: &Path,
    folder: Option<&Path>,
    tool: &str,
    env: &[(String, String)],
) -> Result<Vec<u8>, UserError> {
    // The plan's own folder, when it is the folder given: shown by its name, as before.
    let parent = plan.parent().filter(|p| !p.as_os_str().is_empty());
    let same = |folder: &Path| {
        let parent = parent.unwrap_or(Path::new("."));
        parent
            .canonicalize()
            .ok()
            .is_some_and(|p| folder.canonicalize().ok() == Some(p))
    };
    let (folder, file) = match folder.filter(|f| !same(f)) {
        Some(folder) => (
            folder,
            std::path::absolute(plan)
                .unwrap_or_else(|_| plan.to_path_buf())
                .to_string_lossy()
                .into_owned(),
        ),
        None => (
            plan.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
            plan.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .ok_or_else(|| UserError::new(format!("{}: not a plan file", plan.display())))?,
        ),
    };
    let crate::tools::process::Output {
        code,
        stdout,
        stderr,
    } = crate::tools::process::run_captured(
        tool,
        &["show", "-no-color", "-json", &file],
        folder,
        env,
    )?;
    if code != 0 {
        let tail = crate::tools::process::last_lines(&stderr, 5).join("\n  ");
        let tool = crate::tools::process::shown_program(tool);
        return Err(UserError::new(format!(
            "{}: `{tool} show -json {file}` failed (exit {code}) in {}:\n  {tail}\n\
             A saved plan is read in its folder, which must be initialised (`{tool} init`) with the \
             same providers; or pass plan JSON (`{tool} show -json PLAN > plan.json`).",
            plan.display(),
            folder.display()
        )));
    }
    Ok(json_document(&stdout).to_vec())
}

/// The JSON object a Terraform command printed, without the lines a wrapper
/// (`[tools] terraform = ["leverage", "tf"]`) may print around it: from the first line that opens
/// an object to the end of that object. All of `stdout` when no object parses there.
pub(crate) fn json_document(stdout: &[u8]) -> &[u8] {
    let mut offset = 0;
    for line in stdout.split_inclusive(|b| *b == b'\n') {
        if line.trim_ascii_start().starts_with(b"{") {
            let rest = &stdout[offset..];
            let mut values =
                serde_json::Deserializer::from_slice(rest).into_iter::<serde::de::IgnoredAny>();
            if let Some(Ok(_)) = values.next() {
                return &rest[..values.byte_offset()];
            }
        }
        offset += line.len();
    }
    stdout
}

/// The version a plan seal records ([`parse_version`] of `version -json`, else the first line
/// printed), through the one version probe, with the cluster's own environment `env`.
pub(crate) fn version(
    terraform: &str,
    cwd: &Path,
    env: &[(String, String)],
) -> Result<String, UserError> {
    let answer = crate::tools::version::ask(terraform, &["version", "-json"], cwd, env)?;
    if answer.code != 0 {
        return Err(UserError::new(format!(
            "`{} version -json` failed with status {}: {}",
            crate::tools::process::shown_program(terraform),
            answer.code,
            answer.stderr.trim()
        )));
    }
    Ok(parse_version(&answer.stdout)
        .unwrap_or_else(|| answer.stdout.lines().next().unwrap_or_default().to_string()))
}

/// `terraform version -json` (and `tofu version -json`): `terraform_version`; before Terraform
/// 0.13 there is no `-json` and the text says `Terraform v0.12.31`.
///
/// A wrapper (`[tools] terraform = ["leverage", "tf"]`, a script) may print lines of its own
/// around Terraform's: the JSON object is read from the line that opens it, and the text form from
/// its `Terraform v...` line, wherever they are.
pub(crate) fn parse_version(stdout: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(json_document(stdout.as_bytes()))
        && let Some(v) = json["terraform_version"].as_str()
    {
        return Some(v.to_string());
    }
    let line = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Terraform v") || l.starts_with("OpenTofu v"))?;
    crate::tools::version::first_version(line)
}

/// Whether the Terraform subcommand `first` (with the next word `second`) only reads, or writes
/// nothing but its own files, so it runs again after a transient error: init installs providers
/// and modules, plan writes only its plan file.
pub(crate) fn repeatable(first: &str, second: &str) -> bool {
    match first {
        "init" | "plan" | "output" | "show" | "validate" | "version" | "providers" | "graph"
        | "get" | "fmt" => true,
        "state" => matches!(second, "list" | "show" | "pull"),
        "workspace" => matches!(second, "list" | "show" | "select"),
        _ => false,
    }
}

/// The index of the subcommand in a Terraform argv (`terraform -chdir=x plan`: 2), after the
/// global options.
fn subcommand_at(argv: &[String]) -> Option<usize> {
    (1..argv.len()).find(|&i| !argv[i].starts_with('-'))
}

/// The subcommand of a Terraform argv (`terraform -chdir=x init`: `init`).
pub(crate) fn subcommand(argv: &[String]) -> Option<&str> {
    subcommand_at(argv).map(|i| argv[i].as_str())
}

/// The folder of a `-chdir=DIR` global option, if the argv has one.
pub(crate) fn chdir(argv: &[String]) -> Option<&str> {
    let end = subcommand_at(argv).unwrap_or(argv.len());
    argv[1..end].iter().find_map(|a| a.strip_prefix("-chdir="))
}

/// `argv` (a Terraform command line) with a cluster's partial backend settings and variable
/// files, right after the subcommand: `-backend-config=` for `init`, `-var-file=` for the
/// subcommands that read variables. `apply` of a saved plan gets none: Terraform refuses
/// variables there (the plan holds them). Each entry is already a path or a `key=value` pair.
pub(crate) fn with_cluster_files(
    argv: &[String],
    backend_config: &[String],
    var_files: &[String],
) -> Vec<String> {
    let Some(at) = subcommand_at(argv) else {
        return argv.to_vec();
    };
    let (backend, vars) = cluster_files_read(argv);
    let mut flags: Vec<String> = Vec::new();
    if backend {
        flags.extend(
            backend_config
                .iter()
                .map(|b| format!("-backend-config={b}")),
        );
    }
    if vars {
        flags.extend(var_files.iter().map(|v| format!("-var-file={v}")));
    }
    let mut out = argv[..=at].to_vec();
    out.extend(flags);
    out.extend(argv[at + 1..].iter().cloned());
    out
}

/// Which of a cluster's files a Terraform command line reads: (backend settings, variable files).
pub(crate) fn cluster_files_read(argv: &[String]) -> (bool, bool) {
    let Some(at) = subcommand_at(argv) else {
        return (false, false);
    };
    let positional = argv[at + 1..].iter().any(|a| !a.starts_with('-'));
    match argv[at].as_str() {
        "init" => (true, false),
        "plan" | "destroy" | "import" | "refresh" => (false, true),
        "apply" => (false, !positional),
        _ => (false, false),
    }
}

/// Whether the Terraform subcommand `first` writes a state (so that, outside the prerequisites
/// layer, its task takes the cluster's lock).
pub(crate) fn writes_state(first: &str) -> bool {
    matches!(
        first,
        "apply" | "destroy" | "import" | "state" | "taint" | "untaint" | "refresh" | "force-unlock"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrappers_own_lines_around_the_version_are_skipped() {
        let json = "{\n  \"terraform_version\": \"1.9.5\",\n  \"platform\": \"linux_amd64\"\n}\n";
        assert_eq!(parse_version(json).as_deref(), Some("1.9.5"));
        let wrapped = format!(
            "[INFO] leverage 1.12.0: running terraform in a container\n{json}[INFO] done\n"
        );
        assert_eq!(parse_version(&wrapped).as_deref(), Some("1.9.5"));
        assert_eq!(
            parse_version("leverage 1.12.0\nTerraform v1.9.5\non linux_amd64\n").as_deref(),
            Some("1.9.5")
        );
        assert_eq!(parse_version("leverage 1.12.0\n"), None);
    }

    #[test]
    fn cluster_files_follow_the_subcommand_that_reads_them() {
        let argv = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let b = [
            "/p/backend.tfvars".to_string(),
            "key=prod.tfstate".to_string(),
        ];
        let v = ["/p/prod.tfvars".to_string()];
        let with = |s: &str| with_cluster_files(&argv(s), &b, &v).join(" ");
        assert_eq!(
            with("terraform -chdir=2-kops init -input=false"),
            "terraform -chdir=2-kops init -backend-config=/p/backend.tfvars -backend-config=key=prod.tfstate -input=false"
        );
        assert_eq!(
            with("terraform plan -out=x.tfplan"),
            "terraform plan -var-file=/p/prod.tfvars -out=x.tfplan"
        );
        assert_eq!(with("terraform apply x.tfplan"), "terraform apply x.tfplan");
        assert_eq!(
            with("terraform apply -auto-approve"),
            "terraform apply -var-file=/p/prod.tfvars -auto-approve"
        );
        assert_eq!(with("terraform show -json x"), "terraform show -json x");
        assert_eq!(chdir(&argv("terraform -chdir=a plan")), Some("a"));
        assert_eq!(chdir(&argv("terraform plan -chdir=a")), None);
    }

    #[test]
    fn versions_are_read_as_terraform_prints_them() {
        assert_eq!(
            parse_version(r#"{"terraform_version":"1.9.5","platform":"linux_amd64"}"#).as_deref(),
            Some("1.9.5")
        );
        assert_eq!(
            parse_version("Terraform v0.12.31\n").as_deref(),
            Some("0.12.31")
        );
    }
}

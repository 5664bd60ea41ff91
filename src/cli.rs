//! Command-line definitions (clap) and their translation into what the run needs.
//!
//! `kopsform TASK...` is shorthand for `kopsform run TASK...`: clap hands the unknown first word to
//! us as an external subcommand, and [`Cli::parse_args`] parses the line again with `run` inserted
//! so that the flags after the task names are understood too.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser};

use crate::project::task::ReviewTarget;

const AFTER_HELP: &str = "\
Examples:
  kopsform list                                 the tasks of the nearest tasks.toml
  kopsform cluster-update plan                  render, replace, update --target terraform, plan
  kopsform --dry-run apply                      print every command with its arguments, run nothing
  kopsform -C examples/sandbox --yes apply      act on another project, confirming up front
  kopsform cluster-template --set cluster_version=1.30.2
  kopsform --all --yes cluster-update plan apply every cluster, stage by stage
  kopsform --cluster dev dryrun                 one cluster of [clusters.*]
  kopsform cluster-validate -- --wait 10m       append arguments to the task's kops step
  kopsform TASK --param ig=nodes-a              set a parameter TASK declares ({{params.ig}})
  kopsform exec --cluster dev -- kops get ig    one command in the cluster's environment, masked
  kopsform unlock --cluster prod                release a lock a killed run left
  kopsform ci gitlab --out .gitlab-ci.yml       the CI pipeline for every cluster (also github, jenkins)
  kopsform doctor                               tools, each cluster's versions, credentials, state stores: ready?
  kopsform drift --all --json                   what changed behind kopsform's back, per cluster
  kopsform graph --markdown                     the task graph as a Mermaid block (also --format dot)
  source <(kopsform completions bash)           shell completion (also zsh, fish; `kopsform man`)

Exit status: 0 ok; 1 error or failed step; 2 changes (review, --fail-on-update, drift); 3 protected
changes (review); 5 a policy rule broken (review); 64 bad command line; 75 cluster locked by another run; 127 tool not found;
130/143 interrupted (SIGINT/SIGTERM). Table: docs/reliability.md

Docs: docs/getting-started.md, docs/tasks-toml.md, docs/templates.md, docs/clusters.md, docs/ci/,
docs/reliability.md";

#[derive(Debug, Parser)]
#[command(
    name = "kopsform",
    version,
    about = "A Make-style task runner for kOps clusters managed with Terraform",
    long_about = "kopsform runs the tasks of a tasks.toml: it reads the outputs of the prerequisites \
Terraform layer once, renders the kops cluster template with them, drives kops and terraform with \
explicit argument vectors, and asks before anything that changes a cluster.",
    after_help = AFTER_HELP,
    args_conflicts_with_subcommands = false
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Option<Subcommand>,
}

#[derive(Debug, Args, Clone, Default)]
pub(crate) struct GlobalArgs {
    /// Work on the project in DIR instead of the nearest folder holding a tasks.toml
    #[arg(
        short = 'C',
        long = "directory",
        value_name = "DIR",
        global = true,
        env = "KOPSFORM_DIR"
    )]
    pub(crate) directory: Option<PathBuf>,
    /// Print every step with its resolved arguments and run nothing that changes anything
    /// (terraform output is still read to resolve the arguments)
    #[arg(short = 'n', long, global = true)]
    pub(crate) dry_run: bool,
    /// Answer yes to every confirmation (needed without a terminal)
    #[arg(short = 'y', long, global = true, env = "KOPSFORM_YES", value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) yes: bool,
    /// Override a value: KEY=VALUE, KEY may be a dotted path (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    pub(crate) set: Vec<String>,
    /// Override a value with a string, as written: KEY=VALUE, KEY may be a dotted path
    /// (repeatable; applied after every --set, as kops orders --set-string)
    #[arg(long = "set-string", value_name = "KEY=VALUE", global = true, value_parser = key_value)]
    pub(crate) set_string: Vec<String>,
    /// Set a parameter a task of the run declares (`params` in tasks.toml): NAME=VALUE, used
    /// in its steps as {{params.NAME}} (repeatable)
    #[arg(long = "param", value_name = "NAME=VALUE", global = true, value_parser = param_value)]
    pub(crate) param: Vec<String>,
    /// Exit with status 2 when a rolling-update dry run finds instance groups that need an update
    #[arg(long, global = true)]
    pub(crate) fail_on_update: bool,
    /// Allow the plan to delete or replace this protected resource address (repeatable)
    #[arg(long = "allow-destroy", value_name = "ADDRESS", global = true)]
    pub(crate) allow_destroy: Vec<String>,
    /// Apply only the plan this approval (written by `kopsform ci approval --out`) approved, and
    /// allow the protected resources it names
    #[arg(long = "approval", value_name = "FILE", global = true)]
    pub(crate) approval: Option<PathBuf>,
    /// Act on this cluster of [clusters.<ID>] (repeatable)
    #[arg(long = "cluster", value_name = "ID", global = true)]
    pub(crate) cluster: Vec<String>,
    /// Act on the clusters of this stage (repeatable)
    #[arg(long = "stage", value_name = "NAME", global = true)]
    pub(crate) stage: Vec<String>,
    /// Act on every cluster, stage by stage in promotion order
    #[arg(long, global = true)]
    pub(crate) all: bool,
    /// How many clusters of one stage, and independent tasks of one cluster, run at once (default: the number of CPUs); each cluster runs its own pinned tool versions, and `terraform init`s take turns with the shared provider cache (.kopsform/plugin-cache)
    #[arg(short = 'j', long, value_name = "N", global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) jobs: Option<u16>,
    /// Start later stages even when a cluster of an earlier stage failed
    #[arg(short = 'k', long, global = true)]
    pub(crate) keep_going: bool,
    /// Run tasks even when they are up to date
    #[arg(long, global = true)]
    pub(crate) force: bool,
    /// Say less: no command echo or progress lines, no summary when all went well (child
    /// output, warnings and errors still show)
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Say more: each step's folder, the environment variables it gets (names only), its exit
    /// status and duration
    #[arg(short = 'v', long, global = true)]
    pub(crate) verbose: bool,
    /// Machine-readable output on stdout: the tasks (list), the run summary (TASK...), the review
    /// (review), the audit records (audit), the affected clusters (affected), the drift report
    /// (drift); child output then
    /// goes to stderr. Schemas: docs/json.md
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// How long to wait for another run's lock on a cluster (0, 30s, 10m)
    #[arg(long, value_name = "DURATION", global = true, default_value = "0", value_parser = crate::statestore::lock::parse_timeout)]
    pub(crate) lock_timeout: std::time::Duration,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Subcommand {
    /// Run tasks and their dependencies (also: kopsform TASK...)
    #[command(
        after_help = "Arguments after `--` are appended, as they are, to the one kops or terraform step of the one\ntask named (or its step marked `pass-through = true`); an appended --yes (or -auto-approve) makes\nthe task confirm, lock the cluster and never retry. Parameters a task declares (`params` in\ntasks.toml, shown by `kopsform list`) are set with --param NAME=VALUE.\n\nExamples:\n  kopsform run cluster-update plan\n  kopsform run --yes apply\n  kopsform cluster-validate -- --wait 10m\n  kopsform TASK --param ig=nodes-a\n\nDocs: docs/tasks-toml.md (Parameters, Passing arguments)"
    )]
    Run {
        /// Tasks to run, in order; each dependency runs once
        #[arg(required = true, value_name = "TASK")]
        tasks: Vec<String>,
        /// Arguments appended to the task's kops or terraform step (after `--`)
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Run a command in a cluster's environment (KOPS_STATE_STORE, KOPS_CLUSTER_NAME, [env]), masked
    #[command(
        after_help = "The command runs without a shell, in the current folder, with the environment a step of the\ncluster gets (KOPS_STATE_STORE, KOPS_CLUSTER_NAME, S3_ENDPOINT and the rest of [env] and the\ncluster's env; [tools] names the program for kops and terraform); its output is masked as a\nstep's is, and its exit status is kopsform's. One cluster: --cluster ID when tasks.toml has\nseveral ([cluster] alone needs none); --all and --stage are refused. A kops command with --yes (or a\nterraform command that writes state) asks first, as a confirming task does, and locks the cluster.\n\nExamples:\n  kopsform exec --cluster dev -- kops get secrets\n  kopsform exec -- kops get instancegroups -o yaml\n  kopsform exec --cluster prod -- terraform -chdir=2-kops state list\n\nDocs: docs/exec.md"
    )]
    Exec {
        /// The program and its arguments, after `--`
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Show the audit trail: who ran which task on which cluster, from which commit, with what result
    #[command(
        after_help = "Every run appends one JSON line per task to .kopsform/audit.jsonl ([audit] in tasks.toml\nmoves it or turns it off), and the records of each cluster to its state store\n(<state>/.kopsform-audit/<cluster name>/). With --cluster, --stage or --all, the records of the\nselected clusters from both, merged; without, the local file only. docs/audit.md describes the fields.\n\nExamples:\n  kopsform audit\n  kopsform audit --cluster prod\n  kopsform audit --last 50\n  kopsform audit --json | jq 'select(.status == \"failed\")'"
    )]
    Audit {
        /// How many of the latest records to show (--json prints them as JSON lines, as stored)
        #[arg(long, value_name = "N", default_value_t = 20)]
        last: usize,
    },
    /// List the tasks with their descriptions
    #[command(after_help = "Example:\n  kopsform -C examples/sandbox list")]
    List,
    /// Release the lock a run that is gone left on a cluster (says whose it was)
    #[command(
        after_help = "A run that changes a cluster locks it in the cluster's state store; a run killed before it\nreleased the lock leaves it behind, and later runs fail naming its holder. A lock whose holder\nstill runs on this host (its pid, with the same process start time) is left in place unless\n--force is given.\n\nExamples:\n  kopsform unlock\n  kopsform unlock --cluster prod\n  kopsform unlock --cluster prod --force"
    )]
    Unlock {
        /// Remove the lock even when its holder still runs on this host (that run and the next
        /// may then change the cluster at the same time)
        #[arg(long)]
        force: bool,
    },
    /// Summarise a Terraform plan for a pull request (Markdown or JSON)
    #[command(
        after_help = "Exit status: 0 no changes, 2 changes, 3 changes to protected resources, 1 error, 64 bad command line.\n\nExamples:\n  kopsform review 2-kops/kubernetes.tfplan\n  kopsform review plan.json --format json --out review.json\n  kopsform review 2-kops/kubernetes.tfplan --for github --out review.md"
    )]
    Review(ReviewArgs),
    /// Generate the CI pipeline (GitLab CI, GitHub Actions, Jenkins) from tasks.toml, post a review, check an approval
    #[command(
        subcommand,
        after_help = "Examples:\n  kopsform ci gitlab --out .gitlab-ci.yml\n  kopsform ci github --out .github/workflows/kopsform.yml --check\n  kopsform ci jenkins --out Jenkinsfile --branch master\n  kopsform ci comment gitlab .kopsform/dryrun/review.md\n\nDocs: docs/ci/gitlab.md, docs/ci/github.md, docs/ci/jenkins.md"
    )]
    Ci(CiCommand),
    /// List the clusters whose inputs a change touches since a base (for merge/pull-request dry runs)
    #[command(
        after_help = "The change is everything that differs between the merge base of REF and HEAD (as a pull\nrequest's diff shows it) and the working tree, with untracked files git does not ignore. A cluster\nis affected when a changed file is one of its inputs: tasks.toml (tool pins included), a [tools]\nprogram that is a file, its folder, prerequisites layer, values, backend and variable files, and\nevery path a task names (templates and snippets, sources, generates, folders, command arguments).\nWhere a path depends on an output, its folder counts: a cluster is never missed.\n\nOutput (--format): text, one affected cluster per line with the reasons (the others on stderr);\njson (also --json) with the reasons and the clusters not affected; github-matrix, a matrix for\nfromJSON ({\"include\":[{\"cluster\":\"dev\"}]}); env (alias gitlab), KOPSFORM_AFFECTED=dev,prod and\nKOPSFORM_NOT_AFFECTED=staging lines for a GitLab dotenv report, $GITHUB_OUTPUT or sh.\nExit status: 0 (also when none is affected), 1 a REF git does not know or no merge base (fetch\nmore history), 64 bad command line.\n\nExamples:\n  kopsform affected --base origin/main\n  kopsform -C examples/fleet affected --base origin/main --json\n  kopsform affected --base \"$CI_MERGE_REQUEST_DIFF_BASE_SHA\" --format env > affected.env\n\nDocs: docs/clusters.md (Which clusters a change affects), docs/ci/"
    )]
    Affected(AffectedArgs),
    /// Check the tools, their versions, kops against Kubernetes, AWS credentials and the state stores
    #[command(
        after_help = "Only reads: nothing is written, no lock is taken. Exit status: 0 nothing blocks (warnings\nallowed), 1 something blocks, 64 bad command line.\n\nExamples:\n  kopsform doctor\n  kopsform doctor --cluster prod\n  kopsform -C examples/sandbox doctor --json\n\nDocs: docs/doctor.md"
    )]
    Doctor,
    /// Report drift: Terraform resources changed outside Terraform, the kops spec in the state store
    /// against the template, instance groups on an old launch template, stale locks
    #[command(
        after_help = "Per selected cluster (--cluster, --stage, --all; the one [cluster] without them): `terraform plan\n-refresh-only` of its Terraform folder (drift proper; a plan that is only ahead of the cloud is\nthe plan task's business), the cluster's objects in the state store against the template rendered\nwith its values (someone ran `kops edit ig`), `kops rolling-update cluster --cloudonly` without\n--yes (groups whose instances run an old launch template), and kopsform's lock left by a run that\nis gone. Only reads: nothing is written to the state store, a Terraform state or the cloud; the\nsaved plan goes to a private temporary folder under .kopsform/ and is removed. Secrets are masked.\n\nExit status: 0 every cluster clean, 2 drift in some cluster, 1 a cluster (or a part of it) that\ncould not be checked (the report says why), 64 bad command line.\n\nExamples:\n  kopsform drift\n  kopsform drift --cluster prod\n  kopsform drift --all --json > drift.json\n\nDocs: docs/drift.md, docs/json.md"
    )]
    Drift,
    /// Draw the task graph (Mermaid or Graphviz DOT), with the clusters by stage
    #[command(
        after_help = "Arrows run from a dependency to the task that needs it; tasks that ask for confirmation are\nhexagons. With [clusters.*], the clusters are drawn by stage in promotion order (--cluster,\n--stage narrow them).\n\nExamples:\n  kopsform graph                                  every task, Mermaid (renders in GitHub/GitLab Markdown)\n  kopsform graph --markdown apply >> README.md    apply and its dependencies, in a ```mermaid fence\n  kopsform graph --format dot | dot -Tsvg > tasks.svg\n  kopsform -C examples/fleet graph cluster-update\n\nDocs: docs/graph.md"
    )]
    Graph(GraphArgs),
    /// Print a shell completion script (bash, zsh, fish)
    #[command(
        after_help = "The static script completes subcommands and flags; --dynamic prints a script that asks kopsform\nat each TAB, so task names, cluster ids and stages of the nearest tasks.toml complete too.\n\nExamples:\n  source <(kopsform completions bash)             this bash session\n  kopsform completions bash > ~/.local/share/bash-completion/completions/kopsform\n  kopsform completions zsh > \"${fpath[1]}/_kopsform\"\n  kopsform completions fish > ~/.config/fish/completions/kopsform.fish\n  source <(kopsform completions --dynamic bash)   task names too (same as: source <(COMPLETE=bash kopsform))\n\nDocs: docs/getting-started.md"
    )]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command into DIR
    #[command(
        after_help = "Examples:\n  kopsform man | man -l -\n  kopsform man --out ~/.local/share/man/man1     kopsform.1, kopsform-graph.1, kopsform-ci-gitlab.1, ...\n\nDocs: docs/getting-started.md"
    )]
    Man(ManArgs),
    /// Write a starting cluster template from a cluster kops already manages (kops get -> references)
    #[command(
        after_help = "Reads `kops get cluster` and `kops get instancegroups` for the cluster of tasks.toml and writes\n{cluster.dir}/cluster-template.yml: kops's leftovers dropped, values equal to a prerequisites output\nreplaced by references, rendered again to check that it reproduces the cluster.\n\nExamples:\n  kopsform import\n  kopsform import --cluster prod\n  kopsform import --out 2-kops/imported.yml\n  kopsform import --force                      overwrite an existing template\n\nDocs: docs/import.md"
    )]
    Import(ImportArgs),
    #[command(external_subcommand)]
    Tasks(Vec<OsString>),
}

/// A `--set-string` argument: it must have its `=`, said in the flag's own name (`--set`'s own
/// check, which names `--set`, would see only the quoted form).
fn key_value(arg: &str) -> Result<String, String> {
    match arg.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(arg.to_string()),
        _ => Err(format!(
            "expected KEY=VALUE, e.g. --set-string cluster_version=1.30 (got `{arg}`)"
        )),
    }
}

/// A `--param` argument: checked for its `=` here, split where the run is prepared.
fn param_value(arg: &str) -> Result<String, String> {
    crate::project::invocation::parse_param(arg).map(|_| arg.to_string())
}

impl GlobalArgs {
    /// The `--param` values by name (a later one wins).
    pub(crate) fn params(&self) -> indexmap::IndexMap<String, String> {
        self.param
            .iter()
            .filter_map(|a| crate::project::invocation::parse_param(a).ok())
            .collect()
    }

    /// The value overrides in the order they apply: every `--set`, then every `--set-string`
    /// (kops's order, cmd/kops/toolbox_template.go `newTemplateContext`). A `--set-string` value
    /// becomes a YAML double-quoted string, so `--set` reads it back as exactly the text given.
    pub(crate) fn assignments(&self) -> Vec<String> {
        let strings = self.set_string.iter().map(|a| match a.split_once('=') {
            Some((key, value)) => format!("{key}={}", serde_json::Value::from(value)),
            None => a.clone(),
        });
        self.set.iter().cloned().chain(strings).collect()
    }
}

#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ImportArgs {
    /// Write the template to FILE (default: {cluster.dir}/cluster-template.yml); --force overwrites
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum CiCommand {
    /// .gitlab-ci.yml: merge-request dry runs, then plan, manual apply and rolling update per cluster
    #[command(
        after_help = "Examples:\n  kopsform ci gitlab --out .gitlab-ci.yml\n  kopsform ci gitlab --out .gitlab-ci.yml --check      in CI: fail when the committed file is stale\n  kopsform ci gitlab --branch master --kopsform-version 0.4.0\n\nDocs: docs/ci/gitlab.md"
    )]
    Gitlab(GenerateArgs),
    /// A GitHub Actions workflow: pull-request dry runs, then plan, gated apply and rolling update
    #[command(
        after_help = "Examples:\n  kopsform ci github --out .github/workflows/kopsform.yml\n  kopsform ci github --out .github/workflows/kopsform.yml --check\n\nDocs: docs/ci/github.md"
    )]
    Github(GenerateArgs),
    /// A declarative Jenkinsfile: dry runs off the main branch, then plan, input-gated apply and roll
    #[command(
        after_help = "Examples:\n  kopsform ci jenkins --out Jenkinsfile\n  kopsform ci jenkins --out Jenkinsfile --check --branch master\n\nDocs: docs/ci/jenkins.md"
    )]
    Jenkins(GenerateArgs),
    /// Post a review on the merge/pull request with glab or gh, replacing the cluster's last one
    #[command(
        after_help = "The number comes from --number, else CI_MERGE_REQUEST_IID (GitLab) or PR_NUMBER / GITHUB_REF\n(GitHub). The comment that carries the review's marker line and was written by the same account\nis edited in place; one by anybody else is never touched. --labels, --status and\n--skip-no-changes read the review JSON (FILE with .json for .md, or --review-json). A review made\nagainst a base branch that has moved since gets a visible stale line.\n\nExamples:\n  kopsform ci comment gitlab .kopsform/dryrun/review.md\n  kopsform ci comment github .kopsform/dryrun/review.md --number 42\n  kopsform ci comment github review.md --labels --status --skip-no-changes\n\nDocs: docs/ci/github.md, docs/ci/gitlab.md"
    )]
    Comment(CommentArgs),
    /// Keep one issue per cluster up to date from `kopsform drift --json`: opened or edited on drift, closed when clean
    #[command(
        name = "drift-issues",
        after_help = "FILE is the report of `kopsform drift --all --json`. Each cluster's issue carries the marker line\n<!-- kopsform:drift:ID --> and is written by the same account (--author, KOPSFORM_COMMENT_AUTHOR, else\nthe API's user; github-actions[bot] with a workflow token): a cluster with drift, or one that could\nnot be checked, gets it opened or edited in place; a clean cluster's is edited and closed. An issue\nwith the marker by anybody else is never touched. The repository is GITHUB_REPOSITORY (gh) or\nCI_PROJECT_ID (glab), else the one of the working copy.\n\nExamples:\n  kopsform drift --all --json > drift.json; kopsform ci drift-issues github drift.json\n  kopsform ci drift-issues gitlab drift.json\n\nDocs: docs/drift.md"
    )]
    DriftIssues(DriftIssuesArgs),
    /// Print the exact comment an approver posts to approve a sealed plan (and its protected deletions)
    #[command(
        name = "approve-text",
        after_help = "The plan must be sealed and unchanged (the plan task's seal-plan). The text names the plan's\nsha256 and one `allow-destroy ADDRESS` line per protected resource the plan destroys or replaces;\nan approver in [ci] approvers posts it, exactly, as a comment on the pull or merge request. The plan is read with the cluster's environment:\nname it with --cluster ID in a project of several clusters.\n\nExamples:\n  kopsform ci approve-text --plan 2-kops/kubernetes.tfplan\n  kopsform --cluster prod ci approve-text --plan clusters/prod/kubernetes.tfplan\n\nDocs: docs/ci/github.md#approvals, docs/security.md"
    )]
    ApproveText(ApproveTextArgs),
    /// Check that a [ci] approvers member approved exactly this plan; print the addresses it allows
    #[command(
        after_help = "Reads the comments of the pull or merge request (--number, else PR_NUMBER / CI_MERGE_REQUEST_IID,\nelse the request of the commit --sha / GITHUB_SHA / CI_COMMIT_SHA) with gh or glab. An approval is\na comment in exactly the form `ci approve-text` prints, by an approver, posted after the last push\nand never edited (or the label kopsform-approve:<first 32 hex digits>, which allows no destruction). Exits 1 when there is none for this plan's sha256, naming both hashes when the\napproval is of another plan. --out writes it for `kopsform --approval FILE apply`.\n\nExamples:\n  kopsform ci approval github --plan 2-kops/kubernetes.tfplan --out approval.json\n  kopsform --approval approval.json --yes apply\n\nDocs: docs/ci/github.md#approvals, docs/security.md"
    )]
    Approval(ApprovalArgs),
}

#[derive(Debug, Args, Clone)]
pub(crate) struct DriftIssuesArgs {
    /// Where the issues are
    #[arg(value_enum, value_name = "PLATFORM")]
    pub(crate) platform: ReviewTarget,
    /// The report of `kopsform drift --json`
    #[arg(value_name = "FILE")]
    pub(crate) report: PathBuf,
    /// The account whose issues are edited (default: KOPSFORM_COMMENT_AUTHOR, else the API's user)
    #[arg(long, value_name = "LOGIN")]
    pub(crate) author: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct ApproveTextArgs {
    /// The sealed plan
    #[arg(long, value_name = "FILE")]
    pub(crate) plan: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct ApprovalArgs {
    /// Where the approvals are
    #[arg(value_enum, value_name = "PLATFORM")]
    pub(crate) platform: ReviewTarget,
    /// The sealed plan the apply job applies
    #[arg(long, value_name = "FILE")]
    pub(crate) plan: PathBuf,
    /// The pull or merge request number
    #[arg(long, value_name = "N")]
    pub(crate) number: Option<u64>,
    /// The commit whose request holds the approvals (default: GITHUB_SHA or CI_COMMIT_SHA)
    #[arg(long, value_name = "SHA")]
    pub(crate) sha: Option<String>,
    /// Write the approval (plan sha256, approver, addresses) to FILE for `kopsform --approval FILE`
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub(crate) struct GenerateArgs {
    /// Write the pipeline to FILE (atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Exit 1 when the file (--out, else the platform's usual path) differs from what would be generated
    #[arg(long)]
    pub(crate) check: bool,
    /// The branch that plans and applies (default: [ci] branch, else main)
    #[arg(long, value_name = "NAME")]
    pub(crate) branch: Option<String>,
    /// The kopsform version the jobs install (default: [ci] kopsform-version, else this one)
    #[arg(long, value_name = "VERSION")]
    pub(crate) kopsform_version: Option<String>,
    /// How the jobs get kopsform: release, image, cargo or source (default: [ci] install, else release)
    #[arg(long, value_name = "HOW")]
    pub(crate) install: Option<String>,
    /// A shell command that installs kopsform instead, {version} replaced; "" when the runner has it
    #[arg(long, value_name = "COMMAND")]
    pub(crate) install_command: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct CommentArgs {
    /// Where the review is posted
    #[arg(value_enum, value_name = "PLATFORM")]
    pub(crate) platform: ReviewTarget,
    /// The review Markdown (the review step's `out`)
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// The pull or merge request number
    #[arg(long, value_name = "N")]
    pub(crate) number: Option<u64>,
    /// The review JSON (default: FILE with the extension .json, when it exists)
    #[arg(long, value_name = "FILE")]
    pub(crate) review_json: Option<PathBuf>,
    /// No changes (the review's exit_status 0) and no earlier comment: post nothing (an earlier one is still updated)
    #[arg(long)]
    pub(crate) skip_no_changes: bool,
    /// Set the label kopsform:<cluster>/changes, /no-changes, /destroy, /policy or /deferred and remove the others of the cluster
    #[arg(long)]
    pub(crate) labels: bool,
    /// Set the commit status kopsform/<cluster> on the reviewed commit
    #[arg(long)]
    pub(crate) status: bool,
    /// The account whose comment is edited (default: KOPSFORM_COMMENT_AUTHOR, else the API's user)
    #[arg(long, value_name = "LOGIN")]
    pub(crate) author: Option<String>,
    /// The reviewed commit the status goes on (default: the CI's, see docs/ci/)
    #[arg(long, value_name = "SHA")]
    pub(crate) sha: Option<String>,
    /// The base commit the review was made against (default: the CI's, see docs/ci/)
    #[arg(long, value_name = "SHA")]
    pub(crate) base_sha: Option<String>,
    /// The base branch, whose current commit tells a stale review (default: the CI's)
    #[arg(long, value_name = "BRANCH")]
    pub(crate) base_ref: Option<String>,
    /// Clusters this change does not affect (ids, comma-separated; `kopsform affected`): one line
    /// in the comment names them
    #[arg(long, value_name = "IDS", default_value = "")]
    pub(crate) not_affected: String,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct AffectedArgs {
    /// The branch, tag or commit the change is compared with, from its merge base with HEAD
    #[arg(long, value_name = "REF")]
    pub(crate) base: String,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: AffectedFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum AffectedFormat {
    /// One affected cluster per line, with its reasons
    Text,
    /// The affected clusters with their reasons and the clusters not affected
    Json,
    /// {"include":[{"cluster":"dev"}, ...]}, for a GitHub Actions matrix through fromJSON
    GithubMatrix,
    /// KOPSFORM_AFFECTED=... and KOPSFORM_NOT_AFFECTED=... lines (GitLab dotenv, $GITHUB_OUTPUT, sh)
    #[value(alias = "gitlab")]
    Env,
}

#[derive(Debug, Args, Clone, Default)]
pub(crate) struct GraphArgs {
    /// Only these tasks and their dependencies (default: every task)
    #[arg(value_name = "TASK")]
    pub(crate) tasks: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "mermaid")]
    pub(crate) format: GraphFormat,
    /// Wrap the graph in a fenced code block (```mermaid or ```dot) for a Markdown file
    #[arg(long)]
    pub(crate) markdown: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum GraphFormat {
    /// A Mermaid flowchart (GitHub and GitLab render it in Markdown)
    #[default]
    Mermaid,
    /// A Graphviz digraph (`dot -Tsvg`)
    Dot,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: CompletionShell,
    /// Print a script that asks kopsform at each TAB: task names, cluster ids and stages complete too
    #[arg(long)]
    pub(crate) dynamic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ManArgs {
    /// Write one page per command (kopsform.1, kopsform-graph.1, ...) into DIR instead of printing kopsform.1
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CiPlatform {
    Gitlab,
    Github,
    Jenkins,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct ReviewArgs {
    /// A saved plan (read with `terraform show -json`) or a plan JSON file
    #[arg(value_name = "PLAN")]
    pub(crate) plan: PathBuf,
    /// Output format
    #[arg(long, value_enum, default_value = "markdown")]
    pub(crate) format: ReviewFormat,
    /// Write the review to FILE (atomically) instead of stdout
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Size budget of the Markdown in characters; the headline and the risk section are kept whole
    #[arg(long, value_name = "N", conflicts_with = "target")]
    pub(crate) max_chars: Option<usize>,
    /// Fit the Markdown to a platform's comment limit (github: 65,536; gitlab: 1,000,000)
    #[arg(long = "for", value_name = "PLATFORM", value_enum)]
    pub(crate) target: Option<ReviewTarget>,
    /// Where the full review is, named in the Markdown when it had to be cut
    #[arg(long, value_name = "URL_OR_PATH")]
    pub(crate) full_report: Option<String>,
    /// The cluster named in the title and the hidden marker line (without it: `default` in the marker)
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: Option<String>,
    /// The saved stdout of `kops rolling-update cluster` (dry run), for its verdict
    #[arg(long, value_name = "FILE")]
    pub(crate) rolling_update: Option<PathBuf>,
    /// A copy of the state store taken before `kops replace` (the folder holding
    /// `<cluster>/config`): the live spec for the "kops spec changes" section
    #[arg(long, value_name = "DIR", requires = "spec_manifest")]
    pub(crate) spec_live: Option<PathBuf>,
    /// The manifest `kops replace` was given (cluster.yml), compared with --spec-live
    #[arg(long, value_name = "FILE", requires = "spec_live")]
    pub(crate) spec_manifest: Option<PathBuf>,
    /// The rendered manifest (cluster.yml) the [[review.policy]] rules of tasks.toml are evaluated on
    #[arg(long, value_name = "FILE")]
    pub(crate) manifest: Option<PathBuf>,
    /// The saved plan (or plan JSON) of the prerequisites layer, reviewed in a section of its
    /// own; the exit status is the graver of the two plans'
    #[arg(long, value_name = "PLAN")]
    pub(crate) prerequisites: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReviewFormat {
    Markdown,
    Json,
}

impl ReviewArgs {
    /// The review these arguments ask for.
    pub(crate) fn request(&self) -> crate::review::request::Request {
        crate::review::request::Request {
            plan: self.plan.clone(),
            format: match self.format {
                ReviewFormat::Markdown => crate::review::request::Format::Markdown,
                ReviewFormat::Json => crate::review::request::Format::Json,
            },
            out: self.out.clone(),
            max_chars: self.max_chars,
            target: self.target,
            full_report: self.full_report.clone(),
            cluster: self.cluster.clone(),
            rolling_update: self.rolling_update.clone(),
            spec: match (&self.spec_live, &self.spec_manifest) {
                (Some(live), Some(manifest)) => Some(crate::review::spec::SpecFiles {
                    live: live.clone(),
                    manifest: manifest.clone(),
                }),
                _ => None,
            },
            manifest: self.manifest.clone(),
            // The command learns them (commands::review), the parser knows none.
            secrets: Default::default(),
            prerequisites: self
                .prerequisites
                .as_ref()
                .map(|plan| crate::review::request::Part {
                    plan: plan.clone(),
                    name: plan
                        .parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .map_or_else(|| ".".to_string(), |d| d.display().to_string()),
                    dir: None,
                }),
            deferred: None,
        }
    }
}

impl Cli {
    /// Parses `args` (program name first), treating unknown subcommands as task names.
    pub(crate) fn parse_args(args: Vec<OsString>) -> Result<Cli, clap::Error> {
        // One parser for both parses: building it (every subcommand and argument) was as much
        // as a parse, and a task's line is parsed twice (issue 19). It is not dropped either:
        // that cost a tenth of a parse, and the process parses its line once.
        // `review` is the exception: it reads plans of any size in a process whose peak memory
        // counts (docs/performance.md, section 3), and the parser's ~0.3 MB freed before it
        // starts is heap the review reuses instead of growing past it.
        let mut command = Box::new(<Cli as clap::CommandFactory>::command());
        let cli = match Cli::parse_with(&mut command, &args) {
            Ok(cli) => cli,
            Err(e) => {
                Box::leak(command);
                return Err(e);
            }
        };
        if matches!(cli.command, Some(Subcommand::Review(_))) {
            drop(command);
            return Ok(cli);
        }
        let command = Box::leak(command);
        let Some(Subcommand::Tasks(external)) = &cli.command else {
            return Ok(cli);
        };
        let first = external.first().cloned().unwrap_or_default();
        let mut again = args.clone();
        if let Some(at) = args.iter().skip(1).position(|a| *a == first) {
            again.insert(at + 1, OsString::from("run"));
        }
        Cli::parse_with(command, &again)
    }

    /// `args` parsed by `command` (this program's, [`clap::CommandFactory::command`]).
    fn parse_with(command: &mut clap::Command, args: &[OsString]) -> Result<Cli, clap::Error> {
        let mut matches = command.try_get_matches_from_mut(args)?;
        <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut matches)
            .map_err(|e| e.format(command))
    }
}

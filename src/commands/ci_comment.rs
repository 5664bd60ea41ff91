//! `kopsform ci comment github|gitlab FILE`: posts a review Markdown on the pull or merge request
//! with `gh` or `glab`, editing the comment of the same account that carries the same marker line
//! (one per cluster) instead of adding another; optionally sets the cluster's label and commit
//! status from the review JSON, and marks a review whose base branch has moved since as stale.
//!
//! Everything is read first (who we are, the comments, the base branch's commit, the labels), then
//! written (the comment, the labels, the status), so a failing read changes nothing. Every value
//! reaches `gh`/`glab` as its own argument (`-f name=value`, never `-F`, which would read a file
//! for a value starting with `@`), and the body as a file: nothing in the review or the cluster
//! name can add an argument or a call.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::CommentArgs;
use crate::error::UserError;
use crate::project::task::ReviewTarget;

/// The author of the comments that a GitHub Actions workflow's `GITHUB_TOKEN` writes. That token
/// (an installation token) may not read `/user`.
const ACTIONS_BOT: &str = "github-actions[bot]";

/// The most characters GitHub takes in a status description.
const DESCRIPTION_MAX: usize = 140;

pub(crate) fn comment_command(args: &CommentArgs, cwd: &Path) -> Result<(), UserError> {
    let file = cwd.join(&args.file);
    let body = std::fs::read_to_string(&file)
        .map_err(|e| UserError::new(format!("{}: cannot read the review: {e}", file.display())))?;
    let marker = body
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("<!-- kopsform-review"))
        .ok_or_else(|| {
            UserError::new(format!(
                "{}: no `<!-- kopsform-review ... -->` marker line; post a review written by `kopsform review` or the review step",
                file.display()
            ))
        })?;
    let target = Target::of(args)?;
    let not_affected = not_affected_line(&args.not_affected)?;
    let needs_verdict = args.labels || args.status || args.skip_no_changes;
    let verdict = match review_json(args, &file) {
        Some(path) => Some(Verdict::read(&path)?),
        None if needs_verdict => {
            return Err(UserError::new(format!(
                "--labels, --status and --skip-no-changes need the review JSON: {} does not exist; pass --review-json FILE (the review step's `json`)",
                file.with_extension("json").display()
            )));
        }
        None => None,
    };
    let cluster = if args.labels || args.status {
        Some(marker_cluster(marker, &file)?)
    } else {
        None
    };
    let head = if args.status {
        Some(head_sha(args, &target)?)
    } else {
        None
    };
    let api = Api {
        program: target.program,
        cwd,
    };

    // Reads.
    let me = whoami(args.author.as_deref(), &api, target.github())?;
    let Found {
        ours: existing,
        others,
    } = find_comment(&api, &target, marker, &me)?;
    for (id, author) in &others {
        eprintln!(
            "kopsform: the comment {id} by {author} carries this cluster's marker but is not ours ({me}): left alone"
        );
    }
    let stale = stale_line(args, &api, &target)?;
    let present_labels = match (&cluster, args.labels, target.platform) {
        (Some(_), true, ReviewTarget::Github) => Some(github_labels(&api, &target)?),
        _ => None,
    };

    // Writes.
    let no_changes = verdict.as_ref().is_some_and(|v| v.exit_status == 0);
    let mut text = with_stale_line(&body, marker, stale.as_deref());
    if let Some(line) = &not_affected {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        text.push_str(line);
        text.push('\n');
    }
    match existing {
        Some(id) => {
            let endpoint = format!("{}{id}", target.comment_prefix);
            post_body(&api, target.update_method, &endpoint, &text)?;
            eprintln!("updated the review comment {id} on {}", target.what());
        }
        None if args.skip_no_changes && no_changes => {
            eprintln!(
                "no changes and no earlier review comment on {}: nothing posted (--skip-no-changes)",
                target.what()
            );
        }
        None => {
            post_body(&api, "POST", &target.comments, &text)?;
            eprintln!("posted the review on {}", target.what());
        }
    }
    if let (Some(cluster), Some(verdict)) = (&cluster, &verdict) {
        if args.labels {
            set_labels(&api, &target, cluster, verdict, present_labels.as_deref())?;
        }
        if let Some(head) = &head {
            set_status(&api, &target, cluster, verdict, head)?;
        }
    }
    Ok(())
}

/// Where the comment goes: the platform, its CLI and the request's endpoints.
struct Target {
    platform: ReviewTarget,
    program: &'static str,
    /// `repos/OWNER/NAME` or `projects/ID`.
    base: String,
    /// The pull or merge request number.
    number: String,
    /// The request's comments (notes): listed, and posted to.
    comments: String,
    /// One comment is this followed by its id.
    comment_prefix: String,
    update_method: &'static str,
}

impl Target {
    fn of(args: &CommentArgs) -> Result<Target, UserError> {
        Ok(match args.platform {
            ReviewTarget::Github => {
                let n = number(args, &["PR_NUMBER", "GITHUB_REF"], "pull request")?;
                let base = api_base(args.platform)?;
                Target {
                    platform: args.platform,
                    program: "gh",
                    comments: format!("{base}/issues/{n}/comments"),
                    comment_prefix: format!("{base}/issues/comments/"),
                    update_method: "PATCH",
                    base,
                    number: n,
                }
            }
            ReviewTarget::Gitlab => {
                let n = number(args, &["CI_MERGE_REQUEST_IID"], "merge request")?;
                let base = api_base(args.platform)?;
                let notes = format!("{base}/merge_requests/{n}/notes");
                Target {
                    platform: args.platform,
                    program: "glab",
                    comment_prefix: format!("{notes}/"),
                    comments: notes,
                    update_method: "PUT",
                    base,
                    number: n,
                }
            }
        })
    }

    fn github(&self) -> bool {
        self.platform == ReviewTarget::Github
    }

    fn what(&self) -> String {
        let noun = if self.github() {
            "pull request"
        } else {
            "merge request"
        };
        format!("{noun} {}", self.number)
    }
}

/// A variable of the environment, unless unset or empty.
/// The API path of the repository (`repos/OWNER/NAME`) or project (`projects/ID`) the CI job runs
/// for, from `GITHUB_REPOSITORY` or `CI_PROJECT_ID`; without them, the placeholder `gh` or `glab`
/// fills in with the working copy's. A value of another shape is refused, never put in a path.
pub(super) fn api_base(platform: ReviewTarget) -> Result<String, UserError> {
    match platform {
        ReviewTarget::Github => match env("GITHUB_REPOSITORY") {
            Some(repo) if valid_repo(&repo) => Ok(format!("repos/{repo}")),
            Some(repo) => Err(UserError::new(format!(
                "GITHUB_REPOSITORY is `{repo}`, not OWNER/NAME"
            ))),
            None => Ok("repos/{owner}/{repo}".to_string()),
        },
        ReviewTarget::Gitlab => match env("CI_PROJECT_ID") {
            Some(id) if id.chars().all(|c| c.is_ascii_digit()) => Ok(format!("projects/{id}")),
            Some(id) => Err(UserError::new(format!(
                "CI_PROJECT_ID is `{id}`, not a project number"
            ))),
            None => Ok("projects/:id".to_string()),
        },
    }
}

/// `OWNER/NAME`, each part letters, digits, `.`, `_` or `-`.
fn valid_repo(repo: &str) -> bool {
    repo.split_once('/').is_some_and(|(owner, name)| {
        [owner, name].iter().all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
    })
}

pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number(args: &CommentArgs, vars: &[&str], what: &str) -> Result<String, UserError> {
    if let Some(n) = args.number {
        return Ok(n.to_string());
    }
    for var in vars {
        if let Some(value) = env(var) {
            // GITHUB_REF is refs/pull/<n>/merge on pull requests.
            let value = value
                .strip_prefix("refs/pull/")
                .and_then(|r| r.split('/').next())
                .unwrap_or(&value)
                .to_string();
            if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) {
                return Ok(value);
            }
        }
    }
    Err(UserError::new(format!(
        "no {what} number: pass --number N or set {}",
        vars.join(" or ")
    )))
}

/// `gh api` / `glab api`, run without a shell.
pub(super) struct Api<'a> {
    pub(super) program: &'static str,
    pub(super) cwd: &'a Path,
}

impl Api<'_> {
    pub(super) fn call(&self, extra: &[&str]) -> Result<Vec<u8>, UserError> {
        let mut argv = vec!["api"];
        argv.extend_from_slice(extra);
        let crate::tools::process::Output {
            code,
            stdout,
            stderr,
        } = crate::tools::process::run_captured(self.program, &argv, self.cwd, &[])?;
        if code != 0 {
            let tail = crate::tools::process::last_lines(&stderr, 5).join("\n  ");
            return Err(UserError::new(format!(
                "`{} api {}` exited with status {code}:\n  {tail}",
                self.program,
                extra.join(" ")
            )));
        }
        Ok(stdout)
    }

    /// A GET of `endpoint`, its JSON.
    pub(super) fn get(&self, endpoint: &str) -> Result<Value, UserError> {
        let out = self.call(&[endpoint])?;
        serde_json::from_slice(&out).map_err(|e| {
            UserError::new(format!(
                "`{} api {endpoint}` printed no JSON object: {e}",
                self.program
            ))
        })
    }

    /// Every item of a listing, all pages (`--paginate` prints one JSON array per page).
    pub(super) fn list(&self, endpoint: &str) -> Result<Vec<Value>, UserError> {
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        let paged = format!("{endpoint}{sep}per_page=100");
        let out = self.call(&["--paginate", &paged])?;
        let mut items = Vec::new();
        for page in serde_json::Deserializer::from_slice(&out).into_iter::<Value>() {
            let page = page.map_err(|e| {
                UserError::new(format!(
                    "`{} api {endpoint}` printed no JSON list: {e}",
                    self.program
                ))
            })?;
            match page {
                Value::Array(list) => items.extend(list),
                _ => {
                    return Err(UserError::new(format!(
                        "`{} api {endpoint}` printed no JSON list",
                        self.program
                    )));
                }
            }
        }
        Ok(items)
    }
}

/// The review JSON: `--review-json`, else the review's own path with `.json`, when that exists.
fn review_json(args: &CommentArgs, file: &Path) -> Option<PathBuf> {
    if let Some(json) = &args.review_json {
        return Some(file.parent().unwrap_or(Path::new(".")).join(json));
    }
    let sibling = file.with_extension("json");
    sibling.is_file().then_some(sibling)
}

/// What the review JSON says about the plan.
struct Verdict {
    /// 0 no changes, 2 changes, 3 a protected resource destroyed or replaced, 5 a policy rule
    /// broken.
    exit_status: i64,
    /// Deletes and replacements.
    destroy: u64,
    protected: usize,
    /// The broken policy rules: how many, and the first one's message.
    violations: usize,
    first_violation: String,
    errored: bool,
    headline: String,
    /// The cluster's plan waits for the prerequisites' apply (`cluster_plan_deferred`).
    deferred: bool,
    /// Deletes and replacements in the prerequisites layer's plan, when it was reviewed too.
    prerequisites_destroy: u64,
}

impl Verdict {
    fn read(path: &Path) -> Result<Verdict, UserError> {
        let bad = |why: String| {
            UserError::new(format!(
                "{}: not a review JSON written by `kopsform review --format json` ({why})",
                path.display()
            ))
        };
        let bytes = std::fs::read(path)
            .map_err(|e| UserError::new(format!("{}: cannot read: {e}", path.display())))?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if json["kopsform_review"].as_i64() != Some(1) {
            return Err(bad("no `kopsform_review: 1`".into()));
        }
        let exit_status = json["exit_status"]
            .as_i64()
            .filter(|s| [0, 2, 3, 5].contains(s))
            .ok_or_else(|| bad("`exit_status` is not 0, 2, 3 or 5".into()))?;
        let policy = json["policy"].as_array();
        Ok(Verdict {
            exit_status,
            destroy: json["counts"]["destroy"].as_u64().unwrap_or(0),
            protected: json["protected"].as_array().map_or(0, Vec::len)
                + json["prerequisites"]["protected"]
                    .as_array()
                    .map_or(0, Vec::len),
            violations: policy.map_or(0, Vec::len),
            first_violation: policy
                .and_then(|p| p.first())
                .and_then(|v| v["message"].as_str())
                .unwrap_or("")
                .to_string(),
            errored: json["errored"].as_bool().unwrap_or(false),
            headline: json["headline"].as_str().unwrap_or("").to_string(),
            deferred: json["cluster_plan_deferred"].is_object(),
            prerequisites_destroy: json["prerequisites"]["counts"]["destroy"]
                .as_u64()
                .unwrap_or(0),
        })
    }

    /// `policy` when a policy rule is broken, `destroy` when anything is deleted or replaced
    /// (in the prerequisites layer's plan too), `deferred` when the cluster's plan waits for the
    /// prerequisites' apply, else `changes` or `no-changes`.
    fn label(&self) -> &'static str {
        if self.exit_status == 5 {
            "policy"
        } else if self.destroy > 0 || self.prerequisites_destroy > 0 || self.exit_status == 3 {
            "destroy"
        } else if self.deferred {
            "deferred"
        } else if self.exit_status == 0 && !self.errored {
            "no-changes"
        } else {
            "changes"
        }
    }
}

/// The cluster of the marker line (`cluster=NAME`), as `kopsform review` writes it: letters,
/// digits and `._-:/` only.
fn marker_cluster(marker: &str, file: &Path) -> Result<String, UserError> {
    let name = marker
        .split_whitespace()
        .find_map(|w| w.strip_prefix("cluster="))
        .unwrap_or("");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c))
    {
        return Err(UserError::new(format!(
            "{}: the marker line names no cluster kopsform could have written (`cluster=` with letters, digits and ._-:/ only); labels and statuses are named after it",
            file.display()
        )));
    }
    Ok(name.to_string())
}

/// The account whose comment is ours: `--author`, `KOPSFORM_COMMENT_AUTHOR`, else the API's
/// user. A GitHub Actions token cannot read `/user`: in a workflow that fails, its comments are
/// `github-actions[bot]`'s.
pub(super) fn whoami(author: Option<&str>, api: &Api, github: bool) -> Result<String, UserError> {
    if let Some(author) = author
        .map(str::to_string)
        .or_else(|| env("KOPSFORM_COMMENT_AUTHOR"))
    {
        return Ok(author);
    }
    let field = if github { "login" } else { "username" };
    match api.get("user") {
        Ok(user) => match user[field].as_str() {
            Some(name) if !name.is_empty() => Ok(name.to_string()),
            _ => Err(UserError::new(format!(
                "`{} api user` printed no `{field}`: pass --author LOGIN (or set KOPSFORM_COMMENT_AUTHOR)",
                api.program
            ))),
        },
        Err(_) if github && env("GITHUB_ACTIONS").as_deref() == Some("true") => {
            eprintln!(
                "kopsform: the token may not read `/user` (a workflow's GITHUB_TOKEN): editing only {ACTIONS_BOT}'s comments; --author LOGIN names another account"
            );
            Ok(ACTIONS_BOT.to_string())
        }
        Err(mut e) => {
            e.message.push_str(
                "\ncannot tell which account comments: pass --author LOGIN (or set KOPSFORM_COMMENT_AUTHOR)",
            );
            Err(e)
        }
    }
}

/// Our comment with the marker (its id), and the others' comments with it (id, author).
struct Found {
    ours: Option<u64>,
    others: Vec<(u64, String)>,
}

fn find_comment(api: &Api, target: &Target, marker: &str, me: &str) -> Result<Found, UserError> {
    let author = |c: &Value| -> String {
        let name = if target.github() {
            &c["user"]["login"]
        } else {
            &c["author"]["username"]
        };
        name.as_str().unwrap_or("").to_string()
    };
    let mut ours = None;
    let mut others = Vec::new();
    for c in api.list(&target.comments)? {
        if !c["body"].as_str().is_some_and(|b| b.contains(marker)) {
            continue;
        }
        let Some(id) = c["id"].as_u64() else { continue };
        let by = author(&c);
        if by == me {
            ours = ours.or(Some(id));
        } else {
            others.push((id, by));
        }
    }
    Ok(Found { ours, others })
}

/// A commit id: 7 to 64 hexadecimal digits.
pub(super) fn commit_id(value: String, from: &str) -> Result<String, UserError> {
    if (7..=64).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(UserError::new(format!(
            "{from} is `{value}`, not a commit id"
        )))
    }
}

/// The pull request of a GitHub Actions event (`GITHUB_EVENT_PATH`), if there is one.
fn event_pull_request(field: &str) -> Option<String> {
    let path = env("GITHUB_EVENT_PATH")?;
    let event: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    event["pull_request"][field]["sha"]
        .as_str()
        .map(str::to_string)
}

/// The commit the review is of, for the status: `--sha`, else the pull request's head
/// (`PR_HEAD_SHA`, the event's `pull_request.head.sha`) or the merge request pipeline's commit
/// (`CI_COMMIT_SHA`).
fn head_sha(args: &CommentArgs, target: &Target) -> Result<String, UserError> {
    if let Some(sha) = &args.sha {
        return commit_id(sha.clone(), "--sha");
    }
    let found = if target.github() {
        env("PR_HEAD_SHA").map(|s| (s, "PR_HEAD_SHA")).or_else(|| {
            event_pull_request("head").map(|s| (s, "the event's pull_request.head.sha"))
        })
    } else {
        env("CI_COMMIT_SHA").map(|s| (s, "CI_COMMIT_SHA"))
    };
    match found {
        Some((sha, from)) => commit_id(sha, from),
        None => Err(UserError::new(format!(
            "--status: no commit to set it on: pass --sha SHA or set {}",
            if target.github() {
                "PR_HEAD_SHA"
            } else {
                "CI_COMMIT_SHA"
            }
        ))),
    }
}

/// The visible stale line when the base branch's commit now differs from the one the review was
/// made against; `None` when it does not, or when either is unknown.
fn stale_line(args: &CommentArgs, api: &Api, target: &Target) -> Result<Option<String>, UserError> {
    let recorded = match &args.base_sha {
        Some(sha) => Some((sha.clone(), "--base-sha")),
        None if target.github() => {
            event_pull_request("base").map(|s| (s, "the event's pull_request.base.sha"))
        }
        None => env("CI_MERGE_REQUEST_TARGET_BRANCH_SHA")
            .map(|s| (s, "CI_MERGE_REQUEST_TARGET_BRANCH_SHA"))
            .or_else(|| {
                env("CI_MERGE_REQUEST_DIFF_BASE_SHA").map(|s| (s, "CI_MERGE_REQUEST_DIFF_BASE_SHA"))
            }),
    };
    let branch = args.base_ref.clone().or_else(|| {
        env(if target.github() {
            "GITHUB_BASE_REF"
        } else {
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
        })
    });
    let (Some((recorded, from)), Some(branch)) = (recorded, branch) else {
        return Ok(None);
    };
    let recorded = commit_id(recorded, from)?;
    let (endpoint, field) = if target.github() {
        (
            format!("{}/branches/{}", target.base, encode(&branch)),
            "sha",
        )
    } else {
        (
            format!("{}/repository/branches/{}", target.base, encode(&branch)),
            "id",
        )
    };
    let current = api.get(&endpoint)?["commit"][field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            UserError::new(format!(
                "`{} api {endpoint}` printed no commit.{field}",
                target.program
            ))
        })?;
    let current = commit_id(current, &format!("`{} api {endpoint}`", target.program))?;
    if current.starts_with(&recorded) || recorded.starts_with(&current) {
        return Ok(None);
    }
    let short = |s: &str| s.chars().take(12).collect::<String>();
    eprintln!(
        "kopsform: the base branch moved from {} to {} since the review was made: marked stale",
        short(&recorded),
        short(&current)
    );
    Ok(Some(format!(
        "> ⚠️ **Stale:** the base moved from `{}` to `{}` since this review was made; re-run the dry run for a current one.",
        short(&recorded),
        short(&current)
    )))
}

/// The review with `stale` on the line after its marker line.
/// The comment's line naming the clusters `kopsform affected` left out, from `--not-affected`:
/// cluster ids only (letters, digits, `-`, `_`), so the list cannot add Markdown or mentions.
fn not_affected_line(ids: &str) -> Result<Option<String>, UserError> {
    let ids: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if let Some(bad) = ids.iter().find(|id| {
        !id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }) {
        return Err(UserError::with_code(
            format!(
                "--not-affected: `{}` is not a cluster id (letters, digits, `-` and `_`); pass the ids `kopsform affected` prints, comma-separated",
                bad.escape_debug()
            ),
            crate::error::exit::USAGE,
        ));
    }
    Ok((!ids.is_empty()).then(|| format!("Not affected by this change: {}", ids.join(", "))))
}

fn with_stale_line(body: &str, marker: &str, stale: Option<&str>) -> String {
    let Some(stale) = stale else {
        return body.to_string();
    };
    let mut out = String::with_capacity(body.len() + stale.len() + 2);
    let mut done = false;
    for line in body.split_inclusive('\n') {
        out.push_str(line);
        if !done && line.trim() == marker {
            if !line.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(stale);
            out.push('\n');
            done = true;
        }
    }
    out
}

/// Posts `text` as the `body` of `method endpoint`, from a private temporary file.
pub(super) fn post_body(
    api: &Api,
    method: &str,
    endpoint: &str,
    text: &str,
) -> Result<(), UserError> {
    let mut temp = tempfile::Builder::new()
        .prefix("kopsform-comment")
        .suffix(".md")
        .tempfile()
        .map_err(|e| UserError::new(format!("cannot create a temporary file: {e}")))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.flush())
        .map_err(|e| UserError::new(format!("cannot write a temporary file: {e}")))?;
    let field = format!("body=@{}", temp.path().display());
    api.call(&["--method", method, endpoint, "-F", &field])?;
    Ok(())
}

/// The labels on the pull request.
fn github_labels(api: &Api, target: &Target) -> Result<Vec<String>, UserError> {
    let endpoint = format!("{}/issues/{}/labels", target.base, target.number);
    Ok(api
        .list(&endpoint)?
        .iter()
        .filter_map(|l| l["name"].as_str().map(str::to_string))
        .collect())
}

/// Sets `kopsform:<cluster>/<verdict>` and removes the other three of the cluster.
fn set_labels(
    api: &Api,
    target: &Target,
    cluster: &str,
    verdict: &Verdict,
    present: Option<&[String]>,
) -> Result<(), UserError> {
    let wanted = format!("kopsform:{cluster}/{}", verdict.label());
    let others: Vec<String> = ["changes", "no-changes", "destroy", "policy", "deferred"]
        .iter()
        .map(|kind| format!("kopsform:{cluster}/{kind}"))
        .filter(|l| *l != wanted)
        .collect();
    if target.github() {
        let present = present.unwrap_or(&[]);
        let issue = format!("{}/issues/{}/labels", target.base, target.number);
        for label in others.iter().filter(|l| present.contains(l)) {
            api.call(&["--method", "DELETE", &format!("{issue}/{}", encode(label))])?;
        }
        if !present.contains(&wanted) {
            api.call(&[
                "--method",
                "POST",
                &issue,
                "-f",
                &format!("labels[]={wanted}"),
            ])?;
        }
    } else {
        // GitLab adds and removes in one call, creating a project label that does not exist.
        let request = format!("{}/merge_requests/{}", target.base, target.number);
        api.call(&[
            "--method",
            "PUT",
            &request,
            "-f",
            &format!("add_labels={wanted}"),
            "-f",
            &format!("remove_labels={}", others.join(",")),
        ])?;
    }
    eprintln!("labelled {} {wanted}", target.what());
    Ok(())
}

/// The commit status `kopsform/<cluster>`: success for no changes and for changes, failure when a
/// policy rule is broken, when a protected resource would be destroyed or replaced, and when
/// planning errored; pending while the cluster's plan is deferred until the prerequisites' apply.
fn set_status(
    api: &Api,
    target: &Target,
    cluster: &str,
    verdict: &Verdict,
    head: &str,
) -> Result<(), UserError> {
    let (ok, description) = if verdict.errored {
        (false, "planning failed".to_string())
    } else if verdict.exit_status == 5 {
        let n = verdict.violations;
        let first = verdict
            .first_violation
            .split(['\n', '\r'])
            .next()
            .unwrap_or("");
        (
            false,
            format!(
                "{n} policy violation{}: {first}",
                if n == 1 { "" } else { "s" }
            ),
        )
    } else if verdict.exit_status == 3 {
        let n = verdict.protected;
        (
            false,
            format!(
                "{n} protected resource{} would be destroyed or replaced",
                if n == 1 { "" } else { "s" }
            ),
        )
    } else if verdict.deferred {
        (
            true,
            "cluster plan deferred until the prerequisites are applied".to_string(),
        )
    } else if verdict.headline.is_empty() {
        (true, "reviewed".to_string())
    } else {
        (true, verdict.headline.clone())
    };
    let description: String = description.chars().take(DESCRIPTION_MAX).collect();
    let name = format!("kopsform/{cluster}");
    let state = match (ok, target.github()) {
        (true, _) if verdict.deferred => "pending",
        (true, _) => "success",
        (false, true) => "failure",
        (false, false) => "failed",
    };
    let (endpoint, name_field) = if target.github() {
        (format!("{}/statuses/{head}", target.base), "context")
    } else {
        (format!("{}/statuses/{head}", target.base), "name")
    };
    api.call(&[
        "--method",
        "POST",
        &endpoint,
        "-f",
        &format!("state={state}"),
        "-f",
        &format!("{name_field}={name}"),
        "-f",
        &format!("description={description}"),
    ])?;
    eprintln!(
        "set the commit status {name} to {state} on {}",
        head.chars().take(12).collect::<String>()
    );
    Ok(())
}

/// `text` percent-encoded for one segment of a URL path (RFC 3986 unreserved characters kept).
pub(super) fn encode(text: &str) -> String {
    crate::redact::percent_encoded(text, crate::redact::UNRESERVED, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("kopsform:dev/changes"), "kopsform%3Adev%2Fchanges");
        assert_eq!(encode("release/1.x"), "release%2F1.x");
    }

    #[test]
    fn the_stale_line_follows_the_marker_line() {
        let body = "<!-- kopsform-review cluster=dev -->\n## review\n";
        assert_eq!(
            with_stale_line(
                body,
                "<!-- kopsform-review cluster=dev -->",
                Some("> stale")
            ),
            "<!-- kopsform-review cluster=dev -->\n> stale\n## review\n"
        );
        assert_eq!(with_stale_line(body, "x", None), body);
    }

    /// The verdict of a review JSON with the prerequisites' part: their destroys and protected
    /// resources count, and a deferred cluster has a label of its own.
    #[test]
    fn the_prerequisites_part_and_a_deferral_reach_the_label() {
        let dir = tempfile::tempdir().unwrap();
        let verdict = |json: serde_json::Value| {
            let path = dir.path().join("review.json");
            std::fs::write(&path, json.to_string()).unwrap();
            Verdict::read(&path).unwrap()
        };
        let base = |status: i64| {
            serde_json::json!({"kopsform_review": 1, "exit_status": status, "counts": {"destroy": 0},
                "protected": [], "errored": false, "headline": "h"})
        };
        let mut deferred = base(2);
        deferred["cluster_plan_deferred"] =
            serde_json::json!({"plan": "p", "outputs": ["id"], "reason": "r"});
        let v = verdict(deferred.clone());
        assert!(v.deferred);
        assert_eq!(v.label(), "deferred");
        deferred["prerequisites"] = serde_json::json!({"counts": {"destroy": 1},
            "protected": [{"address": "aws_route53_zone.cluster"}]});
        deferred["exit_status"] = serde_json::json!(3);
        let v = verdict(deferred);
        assert_eq!((v.label(), v.protected), ("destroy", 1));
        assert_eq!(verdict(base(2)).label(), "changes");
        assert_eq!(verdict(base(0)).label(), "no-changes");
    }
}

//! Approvals bound to the plan: `kopsform ci approve-text` prints the exact comment an approver
//! posts for a sealed plan, and `kopsform ci approval github|gitlab` finds, through `gh api` or
//! `glab api`, the approval of exactly this plan by a `[ci] approvers` member on the pull or merge
//! request, and writes what it approved for `kopsform --approval FILE apply`.
//!
//! The comment is read as data in one strict form (below); anything else in it makes it no
//! approval at all, so a comment's text can never add an address, a flag or a second plan. The
//! platform's own fields decide who wrote it (`user.login` / `author.username`), when
//! (`created_at`), and whether it was edited since (`updated_at`); the body is never trusted for
//! any of these.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ci_comment::{Api, api_base, commit_id, encode, env};
use crate::cli::{ApprovalArgs, ApproveTextArgs};
use crate::error::UserError;
use crate::plan::seal;
use crate::project::Project;
use crate::project::task::ReviewTarget;

/// The first line of an approval, followed by the plan's hash.
const APPROVE: &str = "/kopsform approve sha256:";
/// Each further line of an approval, followed by one address.
const ALLOW: &str = "allow-destroy ";
/// The longest address an approval may name.
const ADDRESS_MAX: usize = 512;
/// An approval label: this, then the first [`LABEL_HEX`] hex digits of the plan's hash (a GitHub
/// label has at most 50 characters, too few for the whole hash). It allows no destruction.
pub(crate) const LABEL: &str = "kopsform-approve:";
pub(crate) const LABEL_HEX: usize = 32;

/// What `ci approval` found, written for `kopsform --approval FILE`: the plan's hash and the
/// addresses the approver allowed to be destroyed or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Approval {
    pub(crate) kopsform_approval: u32,
    pub(crate) plan_sha256: String,
    pub(crate) approved_by: String,
    /// Where the approval is: `comment ID` or `label NAME (event ID)`.
    pub(crate) source: String,
    pub(crate) allow_destroy: Vec<String>,
}

/// An approval comment's content: the plan's hash and the allowed addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApprovalText {
    pub(crate) plan_sha256: String,
    pub(crate) allow_destroy: Vec<String>,
}

impl ApprovalText {
    /// The comment, exactly: the approve line, then one `allow-destroy ADDRESS` line each.
    pub(crate) fn render(&self) -> String {
        let mut text = format!("{APPROVE}{}\n", self.plan_sha256);
        for a in &self.allow_destroy {
            text.push_str(ALLOW);
            text.push_str(a);
            text.push('\n');
        }
        text
    }

    /// Reads a comment body in the strict form, or `None`. Line ends may be `\r\n`, and the body
    /// may end in blank space (platforms add it); nothing else may differ from [`render`]: no
    /// other line, no blank line between, no leading space, an address in [`is_address`]'s
    /// characters, each once.
    pub(crate) fn parse(body: &str) -> Option<ApprovalText> {
        let body = body.trim_end_matches([' ', '\t', '\r', '\n']);
        let mut lines = body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let hash = lines.next()?.strip_prefix(APPROVE)?;
        if !is_sha256(hash) {
            return None;
        }
        let mut allow_destroy: Vec<String> = Vec::new();
        for line in lines {
            let address = line.strip_prefix(ALLOW)?;
            if !is_address(address) || allow_destroy.iter().any(|a| a == address) {
                return None;
            }
            allow_destroy.push(address.to_string());
        }
        Some(ApprovalText {
            plan_sha256: hash.to_string(),
            allow_destroy,
        })
    }
}

/// 64 lower-case hexadecimal digits.
fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A Terraform resource address as the review lists it: letters, digits and `_-.[]"/:`, not
/// starting with `-`, at most [`ADDRESS_MAX`] characters. No space, quote-breaking or control
/// character; never a flag.
pub(crate) fn is_address(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= ADDRESS_MAX
        && !text.starts_with('-')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.[]\"/:".contains(c))
}

/// The hash of `plan`, which must be the hash its seal recorded: only a sealed, unchanged plan
/// can be approved.
fn sealed_hash(plan: &Path) -> Result<String, UserError> {
    let sealed = seal::read(&seal::seal_path(plan))?;
    let now = seal::hash_path(plan)?;
    if now == "missing" {
        return Err(UserError::new(format!(
            "{}: no such plan; run the plan task first",
            plan.display()
        )));
    }
    if now != sealed.plan_sha256 {
        return Err(UserError::new(format!(
            "{}: the plan was replaced since it was sealed (sealed sha256:{}, now sha256:{now}); re-run the plan task",
            plan.display(),
            sealed.plan_sha256
        )));
    }
    Ok(now)
}

/// `kopsform ci approve-text --plan FILE`: the exact approval of the sealed plan, naming every
/// protected resource it destroys or replaces (as the review lists them), on stdout. The plan is
/// read with the environment of `cluster` (the one `--cluster` selects) when there is one.
pub(crate) fn approve_text_command(
    project: &Project,
    cluster: Option<&crate::project::cluster::ClusterDef>,
    args: &ApproveTextArgs,
    cwd: &Path,
) -> Result<(), UserError> {
    let plan = cwd.join(&args.plan);
    let plan_sha256 = sealed_hash(&plan)?;
    let env = crate::values::context::own_env_pairs(project, cluster);
    let text = crate::plan::read::read_json(&plan, &project.tool_or_default("terraform"), &env)?;
    let summary = crate::plan::read::from_text(text)
        .map_err(|e| UserError::new(format!("{}: {e}", plan.display())))?
        .summary;
    let rules = crate::review::protect::effective_rules(&project.config.review);
    let mut allow_destroy: Vec<String> = Vec::new();
    for change in crate::review::protect::protected_changes(&summary, &rules) {
        if !is_address(&change.address) {
            return Err(UserError::new(format!(
                "{}: the protected resource `{}` has an address an approval cannot name (letters, digits and _-.[]\"/: only); destroy it outside CI with --allow-destroy",
                plan.display(),
                change.address.escape_debug()
            )));
        }
        if !allow_destroy.contains(&change.address) {
            allow_destroy.push(change.address);
        }
    }
    eprintln!(
        "kopsform: an approver posts this, exactly, as a comment on the pull or merge request (the label {LABEL}{} approves this plan too, allowing no destruction)",
        &plan_sha256[..LABEL_HEX]
    );
    print!(
        "{}",
        ApprovalText {
            plan_sha256,
            allow_destroy,
        }
        .render()
    );
    Ok(())
}

/// The pull or merge request and the API paths of its platform.
struct Request {
    github: bool,
    program: &'static str,
    /// `repos/OWNER/NAME` or `projects/ID`.
    base: String,
    number: String,
}

impl Request {
    fn noun(&self) -> &'static str {
        if self.github {
            "pull request"
        } else {
            "merge request"
        }
    }
}

/// A request's number, from `--number`, the CI's variables, or the request the commit
/// (`--sha`, `GITHUB_SHA`, `CI_COMMIT_SHA`) belongs to, as the platform says.
fn request(args: &ApprovalArgs, api: &Api) -> Result<Request, UserError> {
    let github = args.platform == ReviewTarget::Github;
    let base = api_base(args.platform)?;
    let mut r = Request {
        github,
        program: api.program,
        base,
        number: String::new(),
    };
    let from_env = if github {
        env("PR_NUMBER")
    } else {
        env("CI_MERGE_REQUEST_IID")
    };
    if let Some(n) = args.number.map(|n| n.to_string()).or(from_env) {
        if !n.chars().all(|c| c.is_ascii_digit()) || n.is_empty() {
            return Err(UserError::new(format!(
                "the {} number is `{n}`, not a number",
                r.noun()
            )));
        }
        r.number = n;
        return Ok(r);
    }
    let (sha, from) = match (&args.sha, github) {
        (Some(sha), _) => (sha.clone(), "--sha"),
        (None, true) => (env("GITHUB_SHA").unwrap_or_default(), "GITHUB_SHA"),
        (None, false) => (env("CI_COMMIT_SHA").unwrap_or_default(), "CI_COMMIT_SHA"),
    };
    if sha.is_empty() {
        return Err(UserError::new(format!(
            "no {} to read approvals from: pass --number N or --sha COMMIT (or set {from})",
            r.noun()
        )));
    }
    let sha = commit_id(sha, from)?;
    let (endpoint, field) = if github {
        (format!("{}/commits/{sha}/pulls", r.base), "number")
    } else {
        (
            format!("{}/repository/commits/{sha}/merge_requests", r.base),
            "iid",
        )
    };
    let found = api.get(&endpoint)?;
    let number = found
        .as_array()
        .and_then(|list| list.first())
        .and_then(|first| first[field].as_u64())
        .ok_or_else(|| {
            UserError::new(format!(
                "no {} has the commit {sha} (`{} api {endpoint}`); approvals are comments on the request that brought the commit: pass --number N",
                r.noun(),
                r.program
            ))
        })?;
    r.number = number.to_string();
    Ok(r)
}

/// Checks `[ci] approvers`: logins, `@org/team` or `@group/subgroup`, in the characters the
/// platforms allow.
pub(crate) fn check_approvers(approvers: &[String]) -> Result<(), String> {
    for entry in approvers {
        let ok = match entry.strip_prefix('@') {
            Some(group) => {
                !group.is_empty()
                    && !group.starts_with('/')
                    && !group.ends_with('/')
                    && !group.contains("//")
                    && group.split('/').all(plain_name)
            }
            None => plain_name(entry),
        };
        if !ok {
            return Err(format!(
                "[ci] approvers: `{}` is neither a login (letters, digits, -_.) nor @org/team or @group/subgroup",
                entry.escape_debug()
            ));
        }
    }
    Ok(())
}

/// An RFC 3339 time of the platform (`2026-12-07T09:10:11Z`, fractions allowed).
fn time(value: &Value) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(value.as_str()?.trim_end_matches('Z')).ok()
}

/// When the request last got new commits, by the platform's clock: its merge (`merged_at`), else
/// its newest diff version (GitLab `versions[0].created_at`) or its head commit's committer date
/// (GitHub, which records no push time on a pull request; see docs/security.md).
fn last_push(api: &Api, r: &Request) -> Result<std::time::SystemTime, UserError> {
    let endpoint = if r.github {
        format!("{}/pulls/{}", r.base, r.number)
    } else {
        format!("{}/merge_requests/{}", r.base, r.number)
    };
    let request = api.get(&endpoint)?;
    let no_time = |what: &str| {
        UserError::new(format!(
            "`{} api {what}` gave no time of the last push; cannot tell whether an approval came after it",
            r.program
        ))
    };
    if let Some(merged) = time(&request["merged_at"]) {
        return Ok(merged);
    }
    if r.github {
        let head = request["head"]["sha"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let head = commit_id(head, &format!("`gh api {endpoint}` head.sha"))?;
        let commit = format!("{}/commits/{head}", r.base);
        time(&api.get(&commit)?["commit"]["committer"]["date"]).ok_or_else(|| no_time(&commit))
    } else {
        let versions = format!("{endpoint}/versions");
        time(&api.get(&versions)?[0]["created_at"]).ok_or_else(|| no_time(&versions))
    }
}

/// What a comment or a label says.
enum Approves {
    /// A comment in the strict form.
    Text(ApprovalText),
    /// An approval label on the request: the hash prefix it names.
    Label(String),
    /// A comment that starts like an approval, or a label named like one, but is not one.
    Malformed,
    /// Anything else.
    Nothing,
}

/// A comment, or an approval label's last event, as the platform describes it.
struct Candidate {
    /// `comment ID`, `label NAME (event ID)`.
    what: String,
    author: String,
    /// GitLab's numeric user id (group membership is asked by it).
    author_id: Option<u64>,
    created: Option<std::time::SystemTime>,
    edited: bool,
    approves: Approves,
}

fn comments(api: &Api, r: &Request) -> Result<Vec<Candidate>, UserError> {
    let endpoint = if r.github {
        format!("{}/issues/{}/comments", r.base, r.number)
    } else {
        format!("{}/merge_requests/{}/notes", r.base, r.number)
    };
    Ok(api
        .list(&endpoint)?
        .into_iter()
        // GitLab's system notes (label changes, pushes) are never a person's approval.
        .filter(|c| !c["system"].as_bool().unwrap_or(false))
        .filter_map(|c| {
            let author = if r.github {
                &c["user"]["login"]
            } else {
                &c["author"]["username"]
            };
            let body = c["body"].as_str().unwrap_or("");
            let approves = match ApprovalText::parse(body) {
                Some(text) => Approves::Text(text),
                None if body.trim_start().starts_with("/kopsform approve") => Approves::Malformed,
                None => Approves::Nothing,
            };
            Some(Candidate {
                what: format!("comment {}", c["id"].as_u64()?),
                author: author.as_str().unwrap_or("").to_string(),
                author_id: c["author"]["id"].as_u64(),
                created: time(&c["created_at"]),
                edited: c["created_at"] != c["updated_at"],
                approves,
            })
        })
        .collect())
}

/// The approval labels on the request, each from its last event: who added it and when (GitHub
/// `issues/N/events`, `labeled`/`unlabeled`; GitLab `resource_label_events`, `add`/`remove`). A
/// label removed since is no approval.
fn labels(api: &Api, r: &Request) -> Result<Vec<Candidate>, UserError> {
    let endpoint = if r.github {
        format!("{}/issues/{}/events", r.base, r.number)
    } else {
        format!(
            "{}/merge_requests/{}/resource_label_events",
            r.base, r.number
        )
    };
    let mut last: Vec<(String, Option<Candidate>)> = Vec::new();
    for e in api.list(&endpoint)? {
        let (added, author) = if r.github {
            match e["event"].as_str() {
                Some("labeled") => (true, &e["actor"]["login"]),
                Some("unlabeled") => (false, &e["actor"]["login"]),
                _ => continue,
            }
        } else {
            match e["action"].as_str() {
                Some("add") => (true, &e["user"]["username"]),
                Some("remove") => (false, &e["user"]["username"]),
                _ => continue,
            }
        };
        let Some(name) = e["label"]["name"].as_str() else {
            continue;
        };
        let Some(prefix) = name.strip_prefix(LABEL) else {
            continue;
        };
        let Some(id) = e["id"].as_u64() else { continue };
        let candidate = added.then(|| Candidate {
            what: format!("label {} (event {id})", shown_label(name)),
            author: author.as_str().unwrap_or("").to_string(),
            author_id: e["user"]["id"].as_u64(),
            created: time(&e["created_at"]),
            edited: false,
            approves: if prefix.len() == LABEL_HEX && is_hex(prefix) {
                Approves::Label(prefix.to_string())
            } else {
                Approves::Malformed
            },
        });
        last.retain(|(n, _)| n != name);
        last.push((name.to_string(), candidate));
    }
    Ok(last.into_iter().filter_map(|(_, c)| c).collect())
}

/// Lower-case hexadecimal digits only.
fn is_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A label's name as printed: safe characters only, cut.
fn shown_label(name: &str) -> String {
    name.chars()
        .take(60)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// An account name as the platforms allow them, safe to print and to put in an API path.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Whether `comment`'s author is one of `approvers`: a login (compared without case, as both
/// platforms do), or `@org/team` (GitHub: an active team membership) or `@group/sub` (GitLab: a
/// member of the group or its ancestors, not blocked). A membership the API does not confirm
/// (not a member, or a token that may not ask) is none; the failure is said on stderr.
fn is_approver(api: &Api, r: &Request, approvers: &[String], comment: &Candidate) -> bool {
    if !plain_name(&comment.author) {
        return false;
    }
    for entry in approvers {
        let Some(group) = entry.strip_prefix('@') else {
            if entry.eq_ignore_ascii_case(&comment.author) {
                return true;
            }
            continue;
        };
        // GitLab answers with the member (by the user's id); GitHub with the membership's state.
        let (endpoint, gitlab_id) = if r.github {
            let Some((org, team)) = group.split_once('/') else {
                continue;
            };
            let endpoint = format!(
                "orgs/{}/teams/{}/memberships/{}",
                encode(org),
                encode(team),
                encode(&comment.author)
            );
            (endpoint, None)
        } else {
            let Some(id) = comment.author_id else {
                continue;
            };
            (
                format!("groups/{}/members/all/{id}", encode(group)),
                Some(id),
            )
        };
        let confirms = |m: &Value| match gitlab_id {
            None => m["state"].as_str() == Some("active"),
            Some(id) => m["id"].as_u64() == Some(id) && m["state"].as_str() != Some("blocked"),
        };
        match api.get(&endpoint) {
            Ok(member) if confirms(&member) => return true,
            Ok(_) => {}
            Err(e) => eprintln!(
                "kopsform: {} is not confirmed a member of {entry}: {}",
                comment.author,
                e.message.lines().last().unwrap_or("").trim()
            ),
        }
    }
    false
}

/// `kopsform ci approval github|gitlab --plan FILE`: the newest approval of exactly this plan by
/// an approver, made after the last push and not edited since; its addresses on stdout, and the
/// approval written to `--out`. Fails, naming both hashes, when approvals exist only for another
/// plan.
pub(crate) fn approval_command(
    project: &Project,
    args: &ApprovalArgs,
    cwd: &Path,
) -> Result<(), UserError> {
    let approvers = &project.config.ci.approvers;
    check_approvers(approvers)
        .map_err(|e| UserError::new(format!("{}: {e}", project.file.display())))?;
    if approvers.is_empty() {
        return Err(UserError::new(format!(
            "{}: [ci] approvers is empty: name the logins (or @org/team, @group) whose approval an apply needs",
            project.file.display()
        )));
    }
    let plan = cwd.join(&args.plan);
    let hash = sealed_hash(&plan)?;
    let program = match args.platform {
        ReviewTarget::Github => "gh",
        ReviewTarget::Gitlab => "glab",
    };
    let api = Api { program, cwd };
    let r = request(args, &api)?;
    let pushed = last_push(&api, &r)?;
    let mut chosen: Option<(Candidate, Vec<String>)> = None;
    let mut other_plans: Vec<(String, String, String)> = Vec::new();
    let mut candidates = comments(&api, &r)?;
    candidates.extend(labels(&api, &r)?);
    for c in candidates {
        let what = &c.what;
        let by = if plain_name(&c.author) {
            c.author.as_str()
        } else {
            "an unnamed account"
        };
        let (approved, allow_destroy) = match &c.approves {
            Approves::Nothing => continue,
            Approves::Malformed => {
                eprintln!(
                    "kopsform: {what} is not an approval: not exactly in the form `ci approve-text` prints"
                );
                continue;
            }
            Approves::Text(text) => (text.plan_sha256.clone(), text.allow_destroy.clone()),
            Approves::Label(prefix) => (format!("{prefix}…"), Vec::new()),
        };
        if c.edited {
            eprintln!("kopsform: {what} by {by} was edited after it was posted: not an approval");
            continue;
        }
        if c.created.is_none_or(|t| t < pushed) {
            eprintln!(
                "kopsform: {what} by {by} is older than the last push to the {}: not an approval",
                r.noun()
            );
            continue;
        }
        if !is_approver(&api, &r, approvers, &c) {
            eprintln!(
                "kopsform: {what} by {by} approves, but {by} is not in [ci] approvers: ignored"
            );
            continue;
        }
        let this_plan = match &c.approves {
            Approves::Label(prefix) => hash.starts_with(prefix.as_str()),
            _ => approved == hash,
        };
        if !this_plan {
            other_plans.push((what.clone(), by.to_string(), approved));
            continue;
        }
        // The newest one counts: an approver may narrow what an earlier one allowed.
        if chosen
            .as_ref()
            .is_none_or(|(old, _)| old.created <= c.created)
        {
            chosen = Some((c, allow_destroy));
        }
    }
    let Some((approval_by, allow_destroy)) = chosen else {
        let wanted = ApprovalText {
            plan_sha256: hash.clone(),
            allow_destroy: Vec::new(),
        }
        .render();
        if let Some((what, by, other)) = other_plans.last() {
            return Err(UserError::new(format!(
                "refusing to apply {}: it is plan sha256:{hash}, but the approval ({what} by {by} on {} {}) is of plan sha256:{other}; the plan was made again after it was approved: review this one, then an approver comments `ci approve-text`'s text for sha256:{hash}",
                args.plan.display(),
                r.noun(),
                r.number
            )));
        }
        return Err(UserError::new(format!(
            "refusing to apply {}: no approval of plan sha256:{hash} on {} {} by one of [ci] approvers ({}); an approver comments exactly (with an `allow-destroy ADDRESS` line per protected resource, `kopsform ci approve-text --plan {}` prints them), or adds the label {LABEL}{} (which allows no destruction):\n{wanted}",
            args.plan.display(),
            r.noun(),
            r.number,
            approvers.join(", "),
            args.plan.display(),
            &hash[..LABEL_HEX]
        )));
    };
    let approval = Approval {
        kopsform_approval: 1,
        plan_sha256: hash.clone(),
        approved_by: approval_by.author.clone(),
        source: approval_by.what.clone(),
        allow_destroy,
    };
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(&approval)
            .map_err(|e| UserError::new(format!("cannot write the approval: {e}")))?;
        crate::atomic::write(&cwd.join(out), format!("{json}\n").as_bytes(), 0o600)?;
    }
    eprintln!(
        "plan sha256:{hash} approved by {} ({} on {} {})",
        approval.approved_by,
        approval.source,
        r.noun(),
        r.number
    );
    for a in &approval.allow_destroy {
        println!("{a}");
    }
    Ok(())
}

/// Reads an approval written by `ci approval --out` (for `kopsform --approval FILE`).
pub(crate) fn read_approval(path: &Path) -> Result<Approval, UserError> {
    let bad = |why: String| {
        UserError::new(format!(
            "{}: not an approval written by `kopsform ci approval --out` ({why})",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("{}: cannot read the approval: {e}", path.display()))
    })?;
    let approval: Approval = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if approval.kopsform_approval != 1 || !is_sha256(&approval.plan_sha256) {
        return Err(bad("no version 1 or no plan sha256".into()));
    }
    if let Some(a) = approval.allow_destroy.iter().find(|a| !is_address(a)) {
        return Err(bad(format!("`{}` is not an address", a.escape_debug())));
    }
    Ok(approval)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_strict_form_reads_back_and_nothing_else_is_an_approval() {
        let text = ApprovalText {
            plan_sha256: H.into(),
            allow_destroy: vec![
                "aws_ebs_volume.a-etcd-main".into(),
                "module.m[\"k\"].aws_s3_bucket.b[0]".into(),
            ],
        };
        let body = text.render();
        assert_eq!(
            body,
            format!(
                "/kopsform approve sha256:{H}\nallow-destroy aws_ebs_volume.a-etcd-main\nallow-destroy module.m[\"k\"].aws_s3_bucket.b[0]\n"
            )
        );
        assert_eq!(ApprovalText::parse(&body), Some(text.clone()));
        assert_eq!(ApprovalText::parse(&body.replace('\n', "\r\n")), Some(text));
        let hostile = [
            format!("LGTM\n/kopsform approve sha256:{H}"),
            format!(" /kopsform approve sha256:{H}"),
            format!("/kopsform approve sha256:{}", H.to_uppercase()),
            format!("/kopsform approve sha256:{H}0"),
            format!("/kopsform approve sha256:{H}\n\nallow-destroy a.b"),
            format!("/kopsform approve sha256:{H}\nallow-destroy a.b c.d"),
            format!("/kopsform approve sha256:{H}\nallow-destroy --yes"),
            format!("/kopsform approve sha256:{H}\nallow-destroy a.b;rm -rf /"),
            format!("/kopsform approve sha256:{H}\nallow-destroy a.b\nallow-destroy a.b"),
            format!("/kopsform approve sha256:{H}\nallow-destroy $(id)"),
            format!("/kopsform approve sha256:{H}\nallow-destroy a.b\u{0}"),
            format!("/kopsform approve sha256:{H}\nallow-destroy a.b\rallow-destroy c.d"),
            format!(
                "/kopsform approve sha256:{H}\nallow-destroy {}",
                "a".repeat(513)
            ),
            format!("/kopsform approve sha256:{H} --allow-destroy x"),
            format!("/kopsform approve sha256:{H}\n<!-- hidden -->"),
        ];
        for body in hostile {
            assert_eq!(ApprovalText::parse(&body), None, "{body:?}");
        }
    }
}

//! `kopsform ci drift-issues github|gitlab FILE`: keeps one issue per cluster up to date from the
//! report of `kopsform drift --json` (FILE), with `gh` or `glab`. An issue is ours when its body
//! carries the cluster's marker line (`<!-- kopsform:drift:ID -->`) and our account wrote it: a
//! cluster with drift (or one that could not be checked) gets its issue opened or edited in place;
//! a clean cluster's open issue is edited to say so and closed. Issues by anybody else are never
//! touched.
//!
//! As in `ci comment`: every read first, then the writes; every value is its own argument
//! (`-f name=value`), the body a private temporary file.

use std::io::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::cli::DriftIssuesArgs;
use crate::error::UserError;
use crate::project::task::ReviewTarget;

use super::ci_comment::{Api, api_base, whoami};

/// The marker line of a cluster's drift issue.
fn marker(id: &str) -> String {
    format!("<!-- kopsform:drift:{id} -->")
}

/// One cluster's state, read from the report.
struct Cluster {
    id: String,
    status: String,
    body: String,
}

/// Where the issues live.
struct Place {
    github: bool,
    /// `repos/OWNER/NAME` or `projects/ID`.
    base: String,
}

impl Place {
    fn of(platform: ReviewTarget) -> Result<Place, UserError> {
        Ok(Place {
            github: platform == ReviewTarget::Github,
            base: api_base(platform)?,
        })
    }

    /// The open issues, as (number, author, body).
    fn open_issues(&self, api: &Api) -> Result<Vec<(u64, String, String)>, UserError> {
        let (endpoint, number, author, body) = if self.github {
            // GitHub lists pull requests among the issues: they carry `pull_request`.
            (
                format!("{}/issues?state=open", self.base),
                "number",
                ["user", "login"],
                "body",
            )
        } else {
            (
                format!("{}/issues?state=opened", self.base),
                "iid",
                ["author", "username"],
                "description",
            )
        };
        Ok(api
            .list(&endpoint)?
            .into_iter()
            .filter(|i| i.get("pull_request").is_none())
            .filter_map(|i| {
                Some((
                    i[number].as_u64()?,
                    i[author[0]][author[1]].as_str().unwrap_or("").to_string(),
                    i[body].as_str().unwrap_or("").to_string(),
                ))
            })
            .collect())
    }
}

pub(crate) fn drift_issues_command(args: &DriftIssuesArgs, cwd: &Path) -> Result<(), UserError> {
    let file = cwd.join(&args.report);
    let text = std::fs::read_to_string(&file).map_err(|e| {
        UserError::new(format!(
            "{}: cannot read the drift report: {e}",
            file.display()
        ))
    })?;
    let clusters = read_report(&text).map_err(|e| {
        UserError::new(format!(
            "{}: not a report of `kopsform drift --json`: {e}",
            file.display()
        ))
    })?;
    let place = Place::of(args.platform)?;
    let api = Api {
        program: if place.github { "gh" } else { "glab" },
        cwd,
    };

    // Reads.
    let me = whoami(args.author.as_deref(), &api, place.github)?;
    let issues = place.open_issues(&api)?;

    // Writes.
    for c in &clusters {
        let marker = marker(&c.id);
        let carries = |body: &str| body.lines().any(|l| l.trim() == marker);
        for (n, author, _) in issues.iter().filter(|(_, a, b)| *a != me && carries(b)) {
            eprintln!(
                "kopsform: the issue {n} by {author} carries cluster {}'s drift marker but is not ours ({me}): left alone",
                c.id
            );
        }
        let ours = issues
            .iter()
            .find(|(_, a, b)| *a == me && carries(b))
            .map(|(n, _, _)| *n);
        let body = format!("{marker}\n{}", c.body);
        match (c.status.as_str(), ours) {
            ("clean", None) => eprintln!("cluster {}: clean, no open drift issue", c.id),
            ("clean", Some(n)) => {
                write_issue(&api, &place, Some(n), None, &body, true)?;
                eprintln!("cluster {}: clean: closed the drift issue {n}", c.id);
            }
            (_, Some(n)) => {
                write_issue(&api, &place, Some(n), None, &body, false)?;
                eprintln!(
                    "cluster {}: {}: updated the drift issue {n}",
                    c.id, c.status
                );
            }
            (_, None) => {
                let title = format!("kopsform drift: cluster {}", c.id);
                write_issue(&api, &place, None, Some(&title), &body, false)?;
                eprintln!("cluster {}: {}: opened a drift issue", c.id, c.status);
            }
        }
    }
    Ok(())
}

/// Creates (`number` None, with `title`) or edits issue `number`, closing it when `close`.
fn write_issue(
    api: &Api,
    place: &Place,
    number: Option<u64>,
    title: Option<&str>,
    body: &str,
    close: bool,
) -> Result<(), UserError> {
    let mut temp = tempfile::Builder::new()
        .prefix("kopsform-drift")
        .suffix(".md")
        .tempfile()
        .map_err(|e| UserError::new(format!("cannot create a temporary file: {e}")))?;
    temp.write_all(body.as_bytes())
        .and_then(|()| temp.flush())
        .map_err(|e| UserError::new(format!("cannot write a temporary file: {e}")))?;
    let field = if place.github { "body" } else { "description" };
    let body_arg = format!("{field}=@{}", temp.path().display());
    let (method, endpoint) = match number {
        Some(n) => (
            if place.github { "PATCH" } else { "PUT" },
            format!("{}/issues/{n}", place.base),
        ),
        None => ("POST", format!("{}/issues", place.base)),
    };
    let mut argv: Vec<String> = vec!["--method".into(), method.into(), endpoint];
    if let Some(title) = title {
        argv.extend(["-f".into(), format!("title={title}")]);
    }
    if close {
        argv.extend([
            "-f".into(),
            if place.github {
                "state=closed".into()
            } else {
                "state_event=close".into()
            },
        ]);
    }
    argv.extend(["-F".into(), body_arg]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    api.call(&argv)?;
    Ok(())
}

/// The clusters of a drift report, each with the Markdown of its issue (without the marker).
fn read_report(text: &str) -> Result<Vec<Cluster>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = doc["clusters"]
        .as_array()
        .ok_or_else(|| "no `clusters` list".to_string())?;
    list.iter()
        .map(|c| {
            let id = c["cluster"]
                .as_str()
                .filter(|id| {
                    !id.is_empty()
                        && id
                            .chars()
                            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
                })
                .ok_or_else(|| "a cluster without a plain `cluster` id".to_string())?
                .to_string();
            let status = c["status"]
                .as_str()
                .filter(|s| ["clean", "drift", "error"].contains(s))
                .ok_or_else(|| format!("cluster {id}: no `status` clean, drift or error"))?
                .to_string();
            Ok(Cluster {
                body: markdown(&id, &status, c),
                id,
                status,
            })
        })
        .collect()
}

/// A value of the report as it stands in a list item: in a code span long enough for any
/// backticks in it.
fn code(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in text.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('\n', " "))
}

fn shown(v: &Value) -> String {
    v.as_str().map_or_else(|| "(absent)".to_string(), code)
}

/// The issue's Markdown for one cluster of the report.
fn markdown(id: &str, status: &str, c: &Value) -> String {
    let name = c["name"]
        .as_str()
        .map_or_else(String::new, |n| format!(" ({})", code(n)));
    let headline = match status {
        "clean" => "No drift: the cluster is as kopsform left it.",
        "drift" => "The cluster changed behind kopsform's back.",
        _ => "The cluster could not be checked completely.",
    };
    let mut out = format!("## Drift: cluster {}{name}\n\n**{headline}**\n", code(id));
    if let Some(e) = c["error"].as_str() {
        out.push_str(&format!("\n- could not check: {}\n", code(e)));
    }
    let parts = [
        ("terraform", "Terraform (refresh-only plan)"),
        (
            "spec",
            "kops spec: state store against the rendered template",
        ),
        ("rolling_update", "Rolling update"),
        ("lock", "Lock"),
    ];
    for (key, title) in parts {
        let part = &c[key];
        if part.is_null() {
            continue;
        }
        let mut items: Vec<String> = Vec::new();
        if let Some(e) = part["error"].as_str() {
            items.push(format!("could not check: {}", code(e)));
        }
        for r in part["drift"].as_array().into_iter().flatten() {
            let mut item = format!(
                "{} ({})",
                code(r["address"].as_str().unwrap_or("")),
                r["action"].as_str().unwrap_or("")
            );
            for ch in r["changes"].as_array().into_iter().flatten() {
                item.push_str(&format!(
                    "\n  - {}: {} → {}",
                    code(ch["path"].as_str().unwrap_or("")),
                    shown(&ch["old"]),
                    shown(&ch["new"])
                ));
            }
            items.push(item);
        }
        for ch in part["changes"].as_array().into_iter().flatten() {
            items.push(format!(
                "{}: {} (template) → {} (state store)",
                code(ch["path"].as_str().unwrap_or("")),
                shown(&ch["old"]),
                shown(&ch["new"])
            ));
        }
        for (list, side) in [
            ("only_in_state_store", "only in the state store"),
            ("only_in_template", "only in the template"),
        ] {
            for g in part[list].as_array().into_iter().flatten() {
                items.push(format!(
                    "instance group {}: {side}",
                    code(g.as_str().unwrap_or(""))
                ));
            }
        }
        for g in part["needs_update"].as_array().into_iter().flatten() {
            items.push(format!(
                "{} needs an update ({} of {} instances)",
                code(g["name"].as_str().unwrap_or("")),
                g["need_update"],
                g["target"]
            ));
        }
        if let Some(held) = part["held"].as_object()
            && held.get("stale").and_then(Value::as_bool) == Some(true)
        {
            items.push(format!(
                "stale lock held by {}: {}",
                code(held.get("holder").and_then(Value::as_str).unwrap_or("")),
                held.get("why").and_then(Value::as_str).unwrap_or("")
            ));
        }
        if items.is_empty() {
            continue;
        }
        out.push_str(&format!("\n### {title}\n\n"));
        for item in items {
            out.push_str(&format!("- {item}\n"));
        }
    }
    out.push_str("\n<sub>Kept up to date by `kopsform ci drift-issues` from `kopsform drift --json`; closed when the cluster is clean.</sub>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_hold_any_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
    }

    #[test]
    fn a_report_needs_plain_ids_and_known_statuses() {
        assert!(read_report(r#"{"clusters":[{"cluster":"a b","status":"clean"}]}"#).is_err());
        assert!(read_report(r#"{"clusters":[{"cluster":"dev","status":"odd"}]}"#).is_err());
        let ok = read_report(r#"{"clusters":[{"cluster":"dev","status":"clean"}]}"#).unwrap();
        assert_eq!(ok[0].id, "dev");
    }
}

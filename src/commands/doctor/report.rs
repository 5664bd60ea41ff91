//! The report: how each check came out (`Status`), one line per check (`Check`), and the verdict
//! (`Report`), printed as text or JSON. In: the checks. Out: the lines and the exit decision.

use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    /// Nothing to judge yet (e.g. a version known only once the template is rendered).
    Note,
    /// Works, but not as recommended; does not block.
    Warn,
    /// Blocks: the tasks would fail. The detail says what to do.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Note => "note",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    /// What was checked: a tool (`kops`), `kubernetes-version`, `aws-credentials`,
    /// `state-store` (with `:<cluster id>` when the project has several clusters).
    pub(crate) name: String,
    pub(crate) status: Status,
    /// The line as printed, without the status.
    pub(crate) detail: String,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) checks: Vec<Check>,
    /// The verdict line without `verdict: ` (`ready`, `ready; 1 warning`,
    /// `1 problem blocks (kops); 1 warning`).
    pub(crate) verdict: String,
    /// Whether a check failed (the exit status is then 1).
    pub(crate) blocking: bool,
}

impl Report {
    pub(crate) fn new(checks: Vec<Check>) -> Report {
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name.as_str())
            .collect();
        let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
        let warned = match warnings {
            0 => String::new(),
            1 => "1 warning".to_string(),
            n => format!("{n} warnings"),
        };
        let verdict = if failed.is_empty() {
            if warned.is_empty() {
                "ready".to_string()
            } else {
                format!("ready; {warned}")
            }
        } else {
            let mut names = failed.clone();
            names.dedup();
            let head = if failed.len() == 1 {
                format!("1 problem blocks ({})", names.join(", "))
            } else {
                format!("{} problems block ({})", failed.len(), names.join(", "))
            };
            if warned.is_empty() {
                head
            } else {
                format!("{head}; {warned}")
            }
        };
        Report {
            blocking: !failed.is_empty(),
            checks,
            verdict,
        }
    }

    /// The text form: a line per check, then the verdict.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            out.push_str(&format!("{:<6}{}\n", check.status.label(), check.detail));
        }
        out.push_str(&format!("verdict: {}\n", self.verdict));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_count_blocks_and_warnings() {
        let c = |name: &str, status| Check {
            name: name.into(),
            status,
            detail: String::new(),
        };
        assert_eq!(Report::new(vec![c("a", Status::Ok)]).verdict, "ready");
        assert_eq!(
            Report::new(vec![c("aws", Status::Warn), c("n", Status::Note)]).verdict,
            "ready; 1 warning"
        );
        let r = Report::new(vec![
            c("kops", Status::Fail),
            c("aws", Status::Warn),
            c("ok", Status::Ok),
        ]);
        assert_eq!(r.verdict, "1 problem blocks (kops); 1 warning");
        assert!(r.blocking);
        let r = Report::new(vec![
            c("kops", Status::Fail),
            c("state-store", Status::Fail),
        ]);
        assert_eq!(r.verdict, "2 problems block (kops, state-store)");
        assert!(r.text().starts_with("FAIL  \nFAIL  \nverdict: 2 problems"));
    }
}

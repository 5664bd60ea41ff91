//! `kopsform review`: a Terraform plan as a pull-request comment (Markdown) or as JSON for tools.
//!
//! The plan is read and stripped of secrets by `plan`; this module decides what matters and in what
//! order. Risk comes first: the headline Terraform would print, then every object that is destroyed
//! or replaced, with Terraform's reason in words and the attributes that force a replacement, and
//! protected resources (etcd volumes, buckets, DNS zones, control-plane groups, plus the
//! `[review] protect` rules of tasks.toml) flagged loudly. The rest (a table per resource type,
//! drift, outputs, collapsed details, variables) follows and is what a size budget cuts, whole
//! items at a time, saying what was left out and where the full report is.
//!
//! The output is a pure function of the plan and the arguments (no clock, no environment), so CI
//! can compare reviews byte for byte. The format and the JSON schema are documented in
//! docs/review.md. `apply` refuses protected deletions through [`effective_rules`] and
//! [`protected_changes`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::atomic::WriteError;
use crate::error::UserError;
use crate::plan::{self, Action, AttributeChange, PlanSummary, ResourceChange, Shown};
use crate::project::Project;
use crate::project::schema::{ProtectRule, ReviewConfig};
use crate::project::task::ReviewTarget;
use crate::tools::kops::{self, GroupStatus};

/// Exit status: the plan changes nothing.
pub(crate) const EXIT_NO_CHANGES: i32 = crate::error::exit::OK;
/// Exit status: the plan has changes.
pub(crate) const EXIT_CHANGES: i32 = crate::error::exit::CHANGES;
/// Exit status: the plan destroys or replaces a protected resource.
pub(crate) const EXIT_PROTECTED: i32 = crate::error::exit::PROTECTED;
/// The comment size limits of the platforms (characters).
pub(crate) const GITHUB_MAX_CHARS: usize = 65_536;
pub(crate) const GITLAB_MAX_CHARS: usize = 1_000_000;
/// Version of the JSON output's schema (docs/review.md); bumped only for incompatible changes.
pub(crate) const JSON_SCHEMA_VERSION: u32 = 1;

// ---------------------------------------------------------------------------------------------
// Protected resources
// ---------------------------------------------------------------------------------------------

/// The rules in force: the `[review] protect` rules first (their reasons win), then kopsform's
/// defaults unless `protect-defaults = false`.
pub(crate) fn effective_rules(config: &ReviewConfig) -> Vec<ProtectRule> {
    let mut rules = config.protect.clone();
    if config.protect_defaults {
        rules.extend(default_rules());
    }
    rules
}

/// kopsform's built-in protected resources: what a kops cluster cannot lose by accident.
pub(crate) fn default_rules() -> Vec<ProtectRule> {
    let rule = |ty: &str, address: Option<&str>, reason: &str| ProtectRule {
        resource_type: Some(ty.to_string()),
        address: address.map(str::to_string),
        reason: Some(format!("{reason} (default rule)")),
    };
    vec![
        rule(
            "aws_ebs_volume",
            Some("*-etcd-*"),
            "etcd data volume: the cluster's state",
        ),
        rule(
            "aws_s3_bucket",
            None,
            "S3 bucket: its objects (such as the kops state store) go with it",
        ),
        rule(
            "aws_route53_zone",
            None,
            "Route53 hosted zone: the cluster's DNS",
        ),
        rule(
            "aws_autoscaling_group",
            Some("*master*"),
            "control-plane autoscaling group",
        ),
        rule(
            "aws_autoscaling_group",
            Some("*control-plane*"),
            "control-plane autoscaling group",
        ),
    ]
}

/// What a protected change does to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RiskAction {
    Delete,
    Replace,
}

impl RiskAction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RiskAction::Delete => "delete",
            RiskAction::Replace => "replace",
        }
    }
}

impl std::fmt::Display for RiskAction {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protected resource that the plan destroys or replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtectedChange {
    /// The address, with ` (deposed object KEY)` for a deposed object.
    pub(crate) address: String,
    pub(crate) action: RiskAction,
    /// The rule's reason, or a description of the rule.
    pub(crate) reason: String,
}

/// The changes that destroy or replace a resource matched by `rules`, in plan order.
pub(crate) fn protected_changes(
    summary: &PlanSummary,
    rules: &[ProtectRule],
) -> Vec<ProtectedChange> {
    protected_of(summary, &protection(summary, rules))
}

/// Each change's protection by `rules` (the reason of the first rule it matches), in plan order.
fn protection(summary: &PlanSummary, rules: &[ProtectRule]) -> Vec<Option<String>> {
    let matcher = Matcher::new(rules);
    summary
        .changes
        .iter()
        .map(|c| matcher.protection(c))
        .collect()
}

/// The protected changes, given each change's protection (in plan order).
fn protected_of(summary: &PlanSummary, protection: &[Option<String>]) -> Vec<ProtectedChange> {
    summary
        .changes
        .iter()
        .zip(protection)
        .filter_map(|(c, reason)| {
            let reason = reason.clone()?;
            Some(ProtectedChange {
                address: c.display_address(),
                action: if c.action == Action::Delete {
                    RiskAction::Delete
                } else {
                    RiskAction::Replace
                },
                reason,
            })
        })
        .collect()
}

/// How a rule without a reason is described: `[review] protect rule { type = "x" }`.
const RULE_PREFIX: &str = "[review] protect rule ";

/// A protection reason in Markdown: a rule description as code, a user's reason as text.
fn reason_markdown(reason: &str) -> String {
    match reason.strip_prefix(RULE_PREFIX) {
        Some(rule) => format!("{} rule {}", code("[review] protect"), code(rule)),
        None => escape_text(reason),
    }
}

/// Rules with their globs compiled once.
struct Matcher<'a> {
    rules: Vec<(&'a ProtectRule, Option<glob::Pattern>)>,
}

impl<'a> Matcher<'a> {
    fn new(rules: &'a [ProtectRule]) -> Self {
        Matcher {
            rules: rules
                .iter()
                .map(|r| {
                    (
                        r,
                        r.address
                            .as_deref()
                            .and_then(|g| glob::Pattern::new(g).ok()),
                    )
                })
                .collect(),
        }
    }

    /// Why the change is protected: it destroys a managed object that a rule matches.
    fn protection(&self, change: &ResourceChange) -> Option<String> {
        if !change.action.destroys() || change.mode != "managed" {
            return None;
        }
        let (rule, _) = self.rules.iter().find(|(rule, pattern)| {
            if rule.resource_type.is_none() && rule.address.is_none() {
                return false;
            }
            let type_ok = rule
                .resource_type
                .as_ref()
                .is_none_or(|t| *t == change.resource_type);
            // A glob that does not compile (check_rules reports it) is compared literally.
            let address_ok = match (&rule.address, pattern) {
                (None, _) => true,
                (Some(_), Some(p)) => p.matches(&change.address),
                (Some(g), None) => *g == change.address,
            };
            type_ok && address_ok
        })?;
        Some(rule.reason.clone().unwrap_or_else(|| {
            let mut parts = Vec::new();
            if let Some(t) = &rule.resource_type {
                parts.push(format!("type = {t:?}"));
            }
            if let Some(a) = &rule.address {
                parts.push(format!("address = {a:?}"));
            }
            format!("{RULE_PREFIX}{{ {} }}", parts.join(", "))
        }))
    }
}

/// 3 when a protected resource is destroyed or replaced, 2 when anything changes, else 0.
pub(crate) fn exit_status(summary: &PlanSummary, protected: &[ProtectedChange]) -> i32 {
    if !protected.is_empty() {
        EXIT_PROTECTED
    } else if summary.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_NO_CHANGES
    }
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

/// What to review and how: `kopsform review` and the `review` step each say it in their own terms
/// (clap's arguments, a step of tasks.toml) and hand over this.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// A saved plan (read with `terraform show -json`) or plan JSON.
    pub(crate) plan: PathBuf,
    pub(crate) format: Format,
    /// Where the review goes (atomically); stdout when `None`.
    pub(crate) out: Option<PathBuf>,
    /// Size budget of the Markdown in characters.
    pub(crate) max_chars: Option<usize>,
    /// Fit the Markdown to this platform's comment limit.
    pub(crate) target: Option<ReviewTarget>,
    /// Where the full review is, named when the Markdown had to be cut.
    pub(crate) full_report: Option<String>,
    /// The cluster named in the title and the marker line.
    pub(crate) cluster: Option<String>,
    /// The saved stdout of `kops rolling-update cluster` (dry run).
    pub(crate) rolling_update: Option<PathBuf>,
}

/// The form of a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Markdown,
    Json,
}

/// Runs `kopsform review`; returns the exit status (0 no changes, 2 changes, 3 protected). With
/// `json_out`, the JSON form is written there too (the `review` builtin's `json` key). The
/// project's rules were checked when it was loaded; the built-in ones are constant.
pub(crate) fn run(
    project: Option<&Project>,
    args: &Request,
    json_out: Option<&Path>,
    env: &[(String, String)],
) -> Result<i32, UserError> {
    let config = project.map(|p| p.config.review.clone()).unwrap_or_default();
    let rules = effective_rules(&config);
    let tool = project.map_or_else(
        || "terraform".to_string(),
        |p| p.tool_or_default("terraform"),
    );
    let opened = plan::open(&args.plan, &tool, env)?;
    let rolling_update = match &args.rolling_update {
        Some(path) => Some(read_rolling_update(path)?),
        None => None,
    };
    // The JSON form lists every row: it needs them all at once. The Markdown form is written
    // change by change from a second pass over the plan.
    let json_wanted = json_out.is_some() || matches!(args.format, Format::Json);
    let review = if json_wanted {
        Review::new(
            opened.into_summary()?,
            &rules,
            args.cluster.clone(),
            rolling_update,
        )
    } else {
        Review::new(opened.summary, &rules, args.cluster.clone(), rolling_update)
            .with_rows(opened.rows)
    };
    if let Some(path) = json_out {
        crate::atomic::write(path, render_json(&review).as_bytes(), 0o644)?;
    }
    match args.format {
        Format::Json => {
            let text = render_json(&review);
            emit(args.out.as_deref(), &mut |w| {
                Ok(w.write_all(text.as_bytes())?)
            })?;
        }
        Format::Markdown => {
            let budget = args.max_chars.or(args.target.map(|t| match t {
                ReviewTarget::Github => GITHUB_MAX_CHARS,
                ReviewTarget::Gitlab => GITLAB_MAX_CHARS,
            }));
            let full_copy = args.out.as_deref().map(full_report_path);
            let where_full = match (&args.full_report, &full_copy) {
                (Some(place), _) => FullReport::Named(place.clone()),
                (None, Some(path)) => FullReport::File(path.display().to_string()),
                (None, None) => FullReport::Rerun,
            };
            let layout = Layout::new(&review, budget, &where_full)?;
            if let (true, Some(path)) = (layout.cut(), &full_copy) {
                crate::atomic::write_with(path, 0o644, &mut |w| layout.write(w, true))?;
            }
            emit(args.out.as_deref(), &mut |w| layout.write(w, false))?;
        }
    }
    Ok(review.exit_status)
}

/// Writes the review to `out` (atomically), or to stdout.
fn emit(
    out: Option<&Path>,
    fill: &mut dyn FnMut(&mut dyn std::io::Write) -> Result<(), WriteError>,
) -> Result<(), UserError> {
    let Some(path) = out else {
        let stdout_error =
            |e: std::io::Error| UserError::new(format!("cannot write the review to stdout: {e}"));
        let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        return match fill(&mut stdout) {
            Ok(()) => stdout.flush().map_err(stdout_error),
            Err(WriteError::Io(e)) => Err(stdout_error(e)),
            Err(WriteError::Source(e)) => Err(e),
        };
    };
    crate::atomic::write_with(path, 0o644, fill)
}

/// `review.md` -> `review.full.md`: where the uncut review goes when the budget cut one.
pub(crate) fn full_report_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "review".to_string());
    let name = match out.extension() {
        Some(ext) => format!("{stem}.full.{}", ext.to_string_lossy()),
        None => format!("{stem}.full"),
    };
    out.with_file_name(name)
}

fn read_rolling_update(path: &Path) -> Result<Vec<GroupStatus>, UserError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UserError::new(format!("{}: cannot read: {e}", path.display())))?;
    match kops::parse_rolling_update(&text) {
        Some(Ok(groups)) => Ok(groups),
        Some(Err(e)) => Err(UserError::new(format!("{}: {e}", path.display()))),
        None => Err(UserError::new(format!(
            "{}: no rolling-update table (NAME STATUS NEEDUPDATE ...) in it; pass the saved stdout of `kops rolling-update cluster` (without --yes)",
            path.display()
        ))),
    }
}

/// Everything a rendering needs.
pub(crate) struct Review {
    pub(crate) summary: PlanSummary,
    /// Per change (same order as `summary.changes`): why it is protected, if it is.
    pub(crate) protection: Vec<Option<String>>,
    pub(crate) protected: Vec<ProtectedChange>,
    /// The cluster of the marker line: `--cluster`, or `default`.
    pub(crate) cluster: String,
    /// `--cluster` was given (the title names it).
    pub(crate) cluster_named: bool,
    pub(crate) rolling_update: Option<Vec<GroupStatus>>,
    pub(crate) exit_status: i32,
    /// The plan's second pass, when the changes' attribute rows are not in `summary` (a large
    /// plan's rows are made and written one change at a time).
    rows: Option<plan::Rows>,
}

impl Review {
    pub(crate) fn new(
        summary: PlanSummary,
        rules: &[ProtectRule],
        cluster: Option<String>,
        rolling_update: Option<Vec<GroupStatus>>,
    ) -> Review {
        let protection = protection(&summary, rules);
        let protected = protected_of(&summary, &protection);
        let exit_status = exit_status(&summary, &protected);
        Review {
            summary,
            protection,
            protected,
            cluster_named: cluster.is_some(),
            cluster: cluster.unwrap_or_else(|| "default".to_string()),
            rolling_update,
            exit_status,
            rows: None,
        }
    }

    /// The attribute rows come from `rows`, change by change, not from the summary.
    pub(crate) fn with_rows(mut self, rows: plan::Rows) -> Review {
        self.rows = Some(rows);
        self
    }

    /// The changes that destroy an object, protected ones first, each in plan order.
    fn risky(&self) -> Vec<(&ResourceChange, Option<&str>)> {
        let mut risky: Vec<(&ResourceChange, Option<&str>)> = self
            .summary
            .changes
            .iter()
            .zip(&self.protection)
            .filter(|(c, _)| c.action.destroys())
            .map(|(c, p)| (c, p.as_deref()))
            .collect();
        risky.sort_by_key(|(_, p)| p.is_none());
        risky
    }
}

// ---------------------------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------------------------

/// How code is quoted in a sentence.
#[derive(Clone, Copy)]
enum Style {
    Markdown,
    Plain,
}

impl Style {
    fn code(self, s: &str) -> String {
        match self {
            Style::Markdown => code(s),
            Style::Plain => s.to_string(),
        }
    }
}

/// Terraform's `action_reason` and the other circumstances of a change, in words
/// (after Terraform's own renderer, internal/command/jsonformat/plan.go `resourceChangeComment`).
fn reasons(change: &ResourceChange, style: Style) -> Vec<String> {
    let q = |s: &str| style.code(s);
    let mut out = Vec::new();
    if let Some(reason) = &change.action_reason {
        let words = match reason.as_str() {
            "replace_because_cannot_update" => {
                "the provider cannot make this change in place, so the object is replaced"
                    .to_string()
            }
            "replace_because_tainted" => {
                "it is tainted (an earlier apply did not finish creating it), so it is replaced"
                    .to_string()
            }
            "replace_by_request" => format!("replacement was requested ({})", q("-replace")),
            "replace_by_triggers" => {
                format!("an entry of its {} changed", q("replace_triggered_by"))
            }
            "delete_because_no_resource_config" => format!(
                "{} is not in the configuration",
                q(&format!("{}.{}", change.resource_type, change.name))
            ),
            "delete_because_no_module" => format!(
                "{} is not in the configuration",
                q(change.module_address.as_deref().unwrap_or("its module"))
            ),
            "delete_because_wrong_repetition" => match change.index.as_deref() {
                None => "the resource now uses count or for_each".to_string(),
                Some(i) if i.starts_with("[\"") => {
                    "the resource no longer uses for_each".to_string()
                }
                Some(_) => "the resource no longer uses count".to_string(),
            },
            "delete_because_count_index" => format!(
                "index {} is out of range for count",
                change.index.as_deref().unwrap_or("[?]")
            ),
            "delete_because_each_key" => format!(
                "key {} is not in the for_each map",
                change.index.as_deref().unwrap_or("[?]")
            ),
            "delete_because_no_move_target" => format!(
                "{} was moved to {}, which is not in the configuration",
                q(change.previous_address.as_deref().unwrap_or("it")),
                q(&change.address)
            ),
            "read_because_config_unknown" => {
                "its configuration refers to values not yet known".to_string()
            }
            "read_because_dependency_pending" => {
                "it depends on a resource or module with changes pending".to_string()
            }
            "read_because_check_nested" => "a check block reloads it".to_string(),
            other => format!("Terraform's reason: {}", q(other)),
        };
        let known = !words.starts_with("Terraform's reason");
        out.push(if known {
            format!("{words} ({})", q(reason))
        } else {
            words
        });
    }
    if let Some(key) = &change.deposed {
        out.push(format!(
            "left over from a partially failed replacement (deposed object {})",
            q(key)
        ));
    }
    match change.action {
        Action::Forget | Action::ForgetThenCreate | Action::CreateThenForget => out.push(format!(
            "{} is set: Terraform stops managing the object but does not destroy it",
            q("destroy = false")
        )),
        Action::Unknown => out.push(format!(
            "Terraform's actions {} are unknown to this kopsform; read the plan itself",
            q(&change.actions.join(", "))
        )),
        _ => {}
    }
    out
}

/// `replace (destroy, then create)`, `update`, `move` ...
fn action_words(change: &ResourceChange) -> String {
    let base = match change.action {
        Action::DeleteThenCreate => "replace (destroy, then create)",
        Action::CreateThenDelete => "replace (create, then destroy)",
        Action::CreateThenForget | Action::ForgetThenCreate => "replace (old object kept)",
        Action::NoOp if change.is_moved() => "move",
        Action::NoOp if change.importing.is_some() => "import",
        other => other.label(),
    };
    if change.importing.is_some() && change.action != Action::NoOp {
        format!("import, {base}")
    } else {
        base.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/// Where the full review is, named when the budget cut one.
pub(crate) enum FullReport {
    /// `--full-report URL_OR_PATH`.
    Named(String),
    /// The uncut copy written next to `--out`.
    File(String),
    /// Nowhere yet: say how to get it.
    Rerun,
}

/// A rendered Markdown review.
pub(crate) struct Markdown {
    pub(crate) text: String,
    /// The whole review, when the budget left something out of `text`.
    pub(crate) full: Option<String>,
}

impl Markdown {
    /// The budget left something out.
    pub(crate) fn cut(&self) -> bool {
        self.full.is_some()
    }
}

/// A part of the review: a head, and items that a budget may cut one by one.
struct Section {
    /// How the cut notice names it: "the details".
    name: &'static str,
    /// What its items are, for the cut notice: "resource details" (as in "3 of 9 resource details").
    noun: &'static str,
    head: String,
    items: Items,
}

/// A section's items: texts, or the details of every change, made when written (a large plan's
/// details are far bigger than the rest of the review).
enum Items {
    Text(Vec<String>),
    Details,
}

impl Section {
    fn whole(name: &'static str, text: String) -> Section {
        Section::list(name, "", text, Vec::new())
    }

    fn list(name: &'static str, noun: &'static str, head: String, items: Vec<String>) -> Section {
        Section {
            name,
            noun,
            head,
            items: Items::Text(items),
        }
    }

    fn len(&self, review: &Review) -> usize {
        match &self.items {
            Items::Text(items) => items.len(),
            Items::Details => review.summary.changes.len(),
        }
    }

    /// The sizes in characters of the first items, until their sum passes `limit`. A large
    /// plan's details are rendered only as far as a budget needs.
    fn sizes(&self, review: &Review, limit: usize) -> Result<Vec<usize>, UserError> {
        let mut sizes = Vec::new();
        let mut sum = 0usize;
        match &self.items {
            Items::Text(items) => {
                for item in items {
                    if sum > limit {
                        break;
                    }
                    sizes.push(chars(item));
                    sum += chars(item);
                }
            }
            Items::Details => {
                each_details(review, usize::MAX, &mut |item| {
                    sizes.push(chars(item));
                    sum += chars(item);
                    sum <= limit
                })?;
            }
        }
        Ok(sizes)
    }

    /// Writes the head and the first `items` items.
    fn write_to(
        &self,
        review: &Review,
        out: &mut dyn std::io::Write,
        items: usize,
    ) -> Result<(), WriteError> {
        out.write_all(self.head.as_bytes())?;
        match &self.items {
            Items::Text(texts) => {
                for item in &texts[..items] {
                    out.write_all(item.as_bytes())?;
                }
            }
            Items::Details => {
                let mut failed = None;
                each_details(
                    review,
                    items,
                    &mut |item| match out.write_all(item.as_bytes()) {
                        Ok(()) => true,
                        Err(e) => {
                            failed = Some(e);
                            false
                        }
                    },
                )?;
                if let Some(e) = failed {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}

/// Calls `f` with the details item of each of the first `n` changes until it answers `false`.
fn each_details(
    review: &Review,
    n: usize,
    f: &mut dyn FnMut(&str) -> bool,
) -> Result<(), UserError> {
    let changes = &review.summary.changes;
    let n = n.min(changes.len());
    if n == 0 {
        return Ok(());
    }
    match &review.rows {
        None => {
            for change in &changes[..n] {
                if !f(&details_item(change, &change.attributes)) {
                    break;
                }
            }
            Ok(())
        }
        Some(rows) => rows.each(changes, &mut |i, rows| {
            f(&details_item(&changes[i], &rows)) && i + 1 < n
        }),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// What the budget did to a section.
enum Cut {
    Partly { kept: usize },
    Whole,
}

/// The Markdown review laid out: its sections and what a budget cuts of them.
pub(crate) struct Layout<'r> {
    review: &'r Review,
    kept: Vec<Section>,
    optional: Vec<Section>,
    cuts: Vec<(usize, Cut)>,
    /// The cut notice, after the top, when something was cut.
    notice: Option<String>,
}

impl<'r> Layout<'r> {
    /// Lays the review out within `budget` characters when given (the top, the risk section and
    /// the rolling-update verdict are always kept whole).
    pub(crate) fn new(
        review: &'r Review,
        budget: Option<usize>,
        full: &FullReport,
    ) -> Result<Layout<'r>, UserError> {
        let kept = [top(review), risk_section(review), rolling_section(review)];
        let optional = [
            types_section(review),
            drift_section(review),
            outputs_section(review),
            details_section(review),
            variables_section(review),
        ];
        let optional: Vec<Section> = optional.into_iter().flatten().collect();
        let kept: Vec<Section> = kept.into_iter().flatten().collect();
        let mut layout = Layout {
            review,
            kept,
            optional,
            cuts: Vec::new(),
            notice: None,
        };
        if let Some(budget) = budget {
            layout.cut_to(budget, full)?;
        }
        Ok(layout)
    }

    /// The budget left something out.
    pub(crate) fn cut(&self) -> bool {
        !self.cuts.is_empty()
    }

    fn cut_to(&mut self, budget: usize, full: &FullReport) -> Result<(), UserError> {
        let review = self.review;
        let kept_chars: usize = self
            .kept
            .iter()
            .map(|s| Ok(chars(&s.head) + s.sizes(review, usize::MAX)?.iter().sum::<usize>()))
            .sum::<Result<usize, UserError>>()?;
        // Does everything fit? Sizes are only worked out until the room is used up; the cut
        // below has less room (the notice's), so the sizes found here are all it needs.
        let mut room = budget.saturating_sub(kept_chars);
        let mut fits = kept_chars <= budget;
        let mut sizes: Vec<Vec<usize>> = Vec::new();
        for section in &self.optional {
            if !fits {
                break;
            }
            let head = chars(&section.head);
            let items = section.sizes(review, room.saturating_sub(head))?;
            match room.checked_sub(head + items.iter().sum::<usize>()) {
                Some(left) => room = left,
                None => fits = false,
            }
            sizes.push(items);
        }
        if fits {
            return Ok(());
        }
        // Room for the notice is kept for the worst case: every section named, the longer way.
        let worst: Vec<String> = self
            .optional
            .iter()
            .map(|s| {
                let partly = cut_phrase(s, review, &Cut::Partly { kept: 0 });
                let whole = cut_phrase(s, review, &Cut::Whole);
                if chars(&partly) > chars(&whole) {
                    partly
                } else {
                    whole
                }
            })
            .collect();
        let reserve = chars(&notice(&worst, budget, kept_chars, full));
        let mut room = budget.saturating_sub(kept_chars + reserve);
        let mut stopped = false;
        for (i, section) in self.optional.iter().enumerate() {
            // Past the sections measured above, the cut has stopped already.
            let items = match (stopped, sizes.get(i)) {
                (false, Some(items)) => items,
                _ => {
                    self.cuts.push((i, Cut::Whole));
                    continue;
                }
            };
            let head = chars(&section.head);
            let size = head + items.iter().sum::<usize>();
            if size <= room && items.len() == section.len(review) {
                room -= size;
                continue;
            }
            stopped = true;
            let mut used = head;
            let mut fit = 0;
            for c in items {
                if used + c > room {
                    break;
                }
                used += c;
                fit += 1;
            }
            self.cuts.push((
                i,
                if fit == 0 {
                    Cut::Whole
                } else {
                    Cut::Partly { kept: fit }
                },
            ));
        }
        let left_out: Vec<String> = self
            .cuts
            .iter()
            .filter_map(|(j, cut)| Some(cut_phrase(self.optional.get(*j)?, review, cut)))
            .collect();
        self.notice = Some(notice(&left_out, budget, kept_chars, full));
        Ok(())
    }

    /// Writes the review as cut (`whole`: the uncut review, the full copy next to a cut one).
    pub(crate) fn write(
        &self,
        out: &mut dyn std::io::Write,
        whole: bool,
    ) -> Result<(), WriteError> {
        let review = self.review;
        for (i, section) in self.kept.iter().enumerate() {
            section.write_to(review, out, section.len(review))?;
            if let (0, Some(notice), false) = (i, &self.notice, whole) {
                out.write_all(notice.as_bytes())?;
            }
        }
        for (i, section) in self.optional.iter().enumerate() {
            let cut = self.cuts.iter().find(|(j, _)| *j == i && !whole);
            match cut {
                None => section.write_to(review, out, section.len(review))?,
                Some((_, Cut::Partly { kept })) => section.write_to(review, out, *kept)?,
                Some((_, Cut::Whole)) => {}
            }
        }
        Ok(())
    }
}

/// Renders the Markdown review in memory, within `budget` characters when given; with the
/// uncut review too when the budget cut something.
pub(crate) fn render_markdown(
    review: &Review,
    budget: Option<usize>,
    full: &FullReport,
) -> Result<Markdown, UserError> {
    let layout = Layout::new(review, budget, full)?;
    let text = |whole: bool| -> Result<String, UserError> {
        let mut out = Vec::new();
        match layout.write(&mut out, whole) {
            Ok(()) => Ok(String::from_utf8_lossy(&out).into_owned()),
            Err(WriteError::Source(e)) => Err(e),
            Err(WriteError::Io(e)) => Err(UserError::new(format!("cannot render the review: {e}"))),
        }
    };
    Ok(Markdown {
        text: text(false)?,
        full: if layout.cut() {
            Some(text(true)?)
        } else {
            None
        },
    })
}

/// How the cut notice names what a section lost.
fn cut_phrase(s: &Section, review: &Review, cut: &Cut) -> String {
    let n = s.len(review);
    match cut {
        Cut::Whole if n == 0 => s.name.to_string(),
        Cut::Whole => format!("{} (all {})", s.name, thousands(n)),
        Cut::Partly { kept } => {
            format!("{} of {} {}", thousands(n - kept), thousands(n), s.noun)
        }
    }
}

/// The note that says what the budget left out and where the rest is.
fn notice(left_out: &[String], budget: usize, kept_chars: usize, full: &FullReport) -> String {
    let mut text = format!(
        "\n> ✂️ **This review was cut to fit {} characters.** Left out: {}.",
        thousands(budget),
        left_out.join(", ")
    );
    if kept_chars > budget {
        text.push_str(&format!(
            " The headline and the risk section alone take {} characters; they are kept whole.",
            thousands(kept_chars)
        ));
    }
    match full {
        FullReport::Named(place) => text.push_str(&format!(" Full report: {place}")),
        FullReport::File(path) => text.push_str(&format!(" Full report: {}", code(path))),
        FullReport::Rerun => text.push_str(
            " For the full report run `kopsform review` without `--max-chars` or `--for`.",
        ),
    }
    text.push('\n');
    text
}

fn top(review: &Review) -> Option<Section> {
    let s = &review.summary;
    let mut text = format!(
        "<!-- kopsform-review cluster={} -->\n",
        marker_value(&review.cluster)
    );
    if review.cluster_named {
        let _ = writeln!(
            text,
            "## Terraform plan review: {}",
            escape_text(&review.cluster)
        );
    } else {
        text.push_str("## Terraform plan review\n");
    }
    let _ = writeln!(text, "\n**{}**", s.headline());
    let c = &s.counts;
    let mut notes = Vec::new();
    if c.moved > 0 {
        notes.push(format!("{} moved", c.moved));
    }
    if c.forget > 0 && !s.forget_in_headline {
        notes.push(format!(
            "{} to forget (no longer managed, not destroyed)",
            c.forget
        ));
    }
    if c.read > 0 {
        notes.push(format!("{} to read during apply", c.read));
    }
    if s.deferred > 0 {
        notes.push(format!(
            "{} deferred (they need another plan and apply)",
            s.deferred
        ));
    }
    if !notes.is_empty() {
        let _ = writeln!(text, "\nAlso: {}.", notes.join(", "));
    }
    if s.errored {
        text.push_str(
            "\n⚠️ **Planning failed.** Terraform reported errors while planning; this plan cannot be applied.\n",
        );
    }
    if !review.protected.is_empty() {
        let n = review.protected.len();
        let _ = writeln!(
            text,
            "\n🛑 **{n} protected resource{} would be destroyed or replaced.**",
            if n == 1 { "" } else { "s" }
        );
    }
    Some(Section::whole("the top", text))
}

fn risk_section(review: &Review) -> Option<Section> {
    let s = &review.summary;
    if s.changes.is_empty() {
        return None;
    }
    let risky = review.risky();
    let mut text = format!("\n### Destroyed or replaced ({})\n\n", risky.len());
    if risky.is_empty() {
        text.push_str("Nothing is destroyed or replaced.\n");
    }
    for (change, protected) in risky {
        let flag = if protected.is_some() {
            "🛑 **PROTECTED** "
        } else {
            ""
        };
        let _ = write!(
            text,
            "- {flag}**{}** {}",
            action_words(change),
            code(&change.display_address())
        );
        if let Some(reason) = protected {
            let _ = write!(text, " — {}", reason_markdown(reason));
        }
        text.push('\n');
        for reason in reasons(change, Style::Markdown) {
            let _ = writeln!(text, "  - why: {reason}");
        }
        if !change.replace_paths.is_empty() {
            let paths: Vec<String> = change.replace_paths.iter().map(|p| code(p)).collect();
            let _ = writeln!(text, "  - forces replacement: {}", paths.join(", "));
        }
    }
    Some(Section::whole("the risk section", text))
}

/// The launch templates this plan creates, changes or replaces: `(instance group, address)`.
/// Their instances run the old template until a rolling update replaces them. kops names the
/// launch template after the autoscaling group, `<ig>.<cluster>`, `<ig>.masters.<cluster>` or
/// `<ig>.apiservers.<cluster>` (kops: pkg/model/names.go, AutoscalingGroupName), and the Terraform
/// resource after that with dots as dashes (upup/pkg/fi/cloudup/terraformWriter/writer.go,
/// sanitizeName); the offline sandbox's stand-ins are `terraform_data.aws_launch_template_<name>`.
fn launch_template_changes(review: &Review) -> Vec<(String, String)> {
    let suffix = format!("-{}", review.cluster.replace('.', "-"));
    review
        .summary
        .changes
        .iter()
        .filter(|c| {
            c.mode == "managed"
                && matches!(
                    c.action,
                    Action::Update
                        | Action::DeleteThenCreate
                        | Action::CreateThenDelete
                        | Action::CreateThenForget
                        | Action::ForgetThenCreate
                )
        })
        .filter_map(|c| {
            let name = if c.resource_type == "aws_launch_template" {
                c.name.as_str()
            } else if c.resource_type == "terraform_data" {
                c.name.strip_prefix("aws_launch_template_")?
            } else {
                return None;
            };
            let group = match name.strip_suffix(&suffix).filter(|_| review.cluster_named) {
                Some(rest) => rest
                    .strip_suffix("-masters")
                    .or_else(|| rest.strip_suffix("-apiservers"))
                    .unwrap_or(rest),
                None => name,
            };
            Some((group.to_string(), c.address.clone()))
        })
        .collect()
}

fn rolling_section(review: &Review) -> Option<Section> {
    let templates = launch_template_changes(review);
    if review.rolling_update.is_none() && templates.is_empty() {
        return None;
    }
    let mut text = String::from("\n### Rolling update\n\n");
    if !templates.is_empty() {
        let names: Vec<String> = templates.iter().map(|(g, _)| code(g)).collect();
        let one = templates.len() == 1;
        let _ = writeln!(
            text,
            "**After apply, instance group{} {} need{} a rolling update**: this plan changes {}; running instances keep the old template until `kops rolling-update cluster --yes` replaces them.\n",
            if one { "" } else { "s" },
            names.join(", "),
            if one { "s" } else { "" },
            if one {
                "its launch template"
            } else {
                "their launch templates"
            },
        );
    }
    let Some(groups) = review.rolling_update.as_ref() else {
        return Some(Section::whole("the rolling update", text));
    };
    let _ = writeln!(
        text,
        "kops rolling-update, as the instances run now (before this change): {}",
        rolling_verdict(groups, Style::Markdown)
    );
    if !groups.is_empty() {
        text.push_str("\n| Instance group | Status | Need update | Ready | Min | Target | Max | Nodes |\n|---|---|--:|--:|--:|--:|--:|--:|\n");
        for g in groups {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&code(&g.name)),
                cell(&escape_text(&g.status)),
                g.need_update,
                g.ready,
                g.min,
                g.target,
                g.max,
                g.nodes.map_or_else(String::new, |n| n.to_string())
            );
        }
    }
    Some(Section::whole("the rolling update", text))
}

fn rolling_verdict(groups: &[GroupStatus], style: Style) -> String {
    let needing = kops::needing_update(groups, |name| style.code(name));
    let bold = |s: &str| match style {
        Style::Markdown => format!("**{s}**"),
        Style::Plain => s.to_string(),
    };
    if needing.is_empty() {
        format!(
            "{} ({} checked).",
            bold("No instance group needs a rolling update"),
            groups.len()
        )
    } else {
        format!(
            "{} {}.",
            bold(&format!(
                "{} of {} instance groups need a rolling update:",
                needing.len(),
                groups.len()
            )),
            needing.join(", ")
        )
    }
}

/// Per resource type: create, update, replace, delete, and the rest in words.
#[derive(Default)]
struct TypeCounts {
    create: usize,
    update: usize,
    replace: usize,
    delete: usize,
    import: usize,
    moved: usize,
    read: usize,
    forget: usize,
}

fn types_section(review: &Review) -> Option<Section> {
    let s = &review.summary;
    if s.changes.is_empty() {
        return None;
    }
    let mut by_type: BTreeMap<String, TypeCounts> = BTreeMap::new();
    for c in &s.changes {
        let key = if c.mode == "data" {
            format!("data.{}", c.resource_type)
        } else {
            c.resource_type.clone()
        };
        let t = by_type.entry(key).or_default();
        match c.action {
            Action::Create => t.create += 1,
            Action::Update => t.update += 1,
            Action::Delete => t.delete += 1,
            Action::Read => t.read += 1,
            Action::Forget => t.forget += 1,
            a if a.is_replace() => t.replace += 1,
            _ => {}
        }
        t.import += usize::from(c.importing.is_some());
        t.moved += usize::from(c.is_moved());
    }
    let number = |n: usize| if n == 0 { String::new() } else { n.to_string() };
    let items = by_type
        .iter()
        .map(|(ty, t)| {
            let other: Vec<String> = [
                (t.import, "import"),
                (t.moved, "move"),
                (t.read, "read"),
                (t.forget, "forget"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect();
            format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                cell(&code(ty)),
                number(t.create),
                number(t.update),
                number(t.replace),
                number(t.delete),
                other.join(", ")
            )
        })
        .collect();
    Some(Section::list(
        "the resource-type table",
        "rows of the resource-type table",
        "\n### Changes by resource type\n\n| Resource type | Create | Update | Replace | Delete | Other |\n|---|--:|--:|--:|--:|---|\n".to_string(),
        items,
    ))
}

fn drift_section(review: &Review) -> Option<Section> {
    let drift = &review.summary.drift;
    if drift.is_empty() {
        return None;
    }
    let items = drift
        .iter()
        .map(|d| {
            let what = match d.action {
                Action::Update => "has changed",
                Action::Delete => "has been deleted",
                Action::NoOp if d.is_moved() => "has moved",
                _ => "has drifted",
            };
            let mut item = format!("- {} {what}", code(&d.display_address()));
            if let Some(prev) = &d.previous_address {
                let _ = write!(item, " (from {})", code(prev));
            }
            item.push('\n');
            if d.action == Action::Update {
                for row in &d.attributes {
                    let _ = writeln!(
                        item,
                        "  - {}: {} → {}",
                        code(&row.path),
                        shown_inline(row.before.as_ref()),
                        shown_inline(row.after.as_ref())
                    );
                }
            }
            item
        })
        .collect();
    Some(Section::list(
        "the drift section",
        "drift entries",
        format!(
            "\n### Drift: changed outside Terraform ({})\n\nTerraform found these differences when it refreshed the state; the plan above already takes them into account.\n\n",
            drift.len()
        ),
        items,
    ))
}

fn outputs_section(review: &Review) -> Option<Section> {
    let outputs = &review.summary.outputs;
    if outputs.is_empty() {
        return None;
    }
    let items = outputs
        .iter()
        .map(|o| {
            format!(
                "| {} | {} | {} | {} |\n",
                cell(&code(&o.name)),
                o.action,
                cell(&shown_cell(o.before.as_ref())),
                cell(&shown_cell(o.after.as_ref()))
            )
        })
        .collect();
    Some(Section::list(
        "the output changes",
        "output changes",
        "\n### Output changes\n\n| Output | Change | Before | After |\n|---|---|---|---|\n"
            .to_string(),
        items,
    ))
}

fn details_section(review: &Review) -> Option<Section> {
    let changes = &review.summary.changes;
    if changes.is_empty() {
        return None;
    }
    Some(Section {
        name: "the details",
        noun: "resource details",
        head: "\n### Details\n".to_string(),
        items: Items::Details,
    })
}

fn details_item(change: &ResourceChange, rows: &[AttributeChange]) -> String {
    let mut summary = format!(
        "<b>{}</b> <code>{}</code>",
        html(&action_words(change)),
        html(&change.display_address())
    );
    if let Some(prev) = &change.previous_address {
        let _ = write!(summary, " (moved from <code>{}</code>)", html(prev));
    }
    if let Some(import) = &change.importing {
        match &import.id {
            Some(id) => {
                let _ = write!(
                    summary,
                    " (import ID <code>{}</code>)",
                    html(&id.to_string())
                );
            }
            None => summary.push_str(" (import by identity)"),
        }
    }
    let mut text = format!("\n<details><summary>{summary}</summary>\n\n");
    text.push_str(&attribute_table(rows));
    text.push_str("\n</details>\n");
    text
}

fn attribute_table(rows: &[AttributeChange]) -> String {
    if rows.is_empty() {
        return "No attribute changes.\n".to_string();
    }
    let has_before = rows.iter().any(|r| r.before.is_some());
    let has_after = rows.iter().any(|r| r.after.is_some());
    let mut text = match (has_before, has_after) {
        (true, true) => "| Attribute | Before | After |\n|---|---|---|\n",
        (false, _) => "| Attribute | Value |\n|---|---|\n",
        (true, false) => "| Attribute | Value before |\n|---|---|\n",
    }
    .to_string();
    for row in rows {
        let mut name = code(&row.path);
        if row.forces_replacement {
            name.push_str(" **forces replacement**");
        }
        let _ = write!(text, "| {} ", cell(&name));
        if has_before {
            let _ = write!(text, "| {} ", cell(&shown_cell(row.before.as_ref())));
        }
        if has_after {
            let _ = write!(text, "| {} ", cell(&shown_cell(row.after.as_ref())));
        }
        text.push_str("|\n");
    }
    text
}

fn variables_section(review: &Review) -> Option<Section> {
    let vars = &review.summary.variables;
    if vars.is_empty() {
        return None;
    }
    let mut text = format!(
        "\n### Variables\n\n<details><summary>{} input variable{}</summary>\n\n| Variable | Value |\n|---|---|\n",
        vars.len(),
        if vars.len() == 1 { "" } else { "s" }
    );
    for v in vars {
        let _ = writeln!(
            text,
            "| {} | {} |",
            cell(&code(&v.name)),
            cell(&shown_cell(Some(&v.value)))
        );
    }
    text.push_str("\n</details>\n");
    Some(Section::whole("the variables", text))
}

/// A value in a table cell: values as code, markers as words, nothing for a missing side.
fn shown_cell(shown: Option<&Shown>) -> String {
    match shown {
        None => String::new(),
        Some(Shown::Value(v)) => code(v),
        Some(Shown::Blob { sha256, bytes }) => {
            format!(
                "{} ({} bytes)",
                code(&format!("sha256:{sha256}…")),
                thousands(*bytes)
            )
        }
        Some(other) => other.to_string(),
    }
}

fn shown_inline(shown: Option<&Shown>) -> String {
    match shown {
        None => "(none)".to_string(),
        Some(_) => shown_cell(shown),
    }
}

/// An inline code span that survives any content: the fence is longer than any backtick run.
fn code(s: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// A table cell: a `|` would end the cell, even inside a code span.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Text from the plan or the user outside code: no HTML, no Markdown emphasis surprises.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The cluster name in the marker comment: nothing that could end the comment.
fn marker_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .replace("--", "-_")
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// The review as JSON (schema in docs/review.md), pretty-printed with a final newline.
pub(crate) fn render_json(review: &Review) -> String {
    let s = &review.summary;
    let c = &s.counts;
    let changes: Vec<Value> = s
        .changes
        .iter()
        .zip(&review.protection)
        .map(|(change, protected)| {
            let mut v = change_json(change);
            if let Value::Object(map) = &mut v {
                map.insert("protected".into(), json!(protected.is_some()));
                map.insert("protected_reason".into(), json!(protected));
            }
            v
        })
        .collect();
    let drift: Vec<Value> = s.drift.iter().map(change_json).collect();
    let outputs: Vec<Value> = s
        .outputs
        .iter()
        .map(|o| {
            json!({
                "name": o.name,
                "actions": o.actions,
                "action": o.action.label(),
                "sensitive": o.sensitive,
                "before": o.before.as_ref().map(Shown::to_string),
                "after": o.after.as_ref().map(Shown::to_string),
            })
        })
        .collect();
    let variables: Vec<Value> = s
        .variables
        .iter()
        .map(|v| json!({"name": v.name, "sensitive": v.sensitive, "value": v.value.to_string()}))
        .collect();
    let launch_templates: Vec<Value> = launch_template_changes(review)
        .into_iter()
        .map(|(group, address)| json!({"instance_group": group, "address": address}))
        .collect();
    let rolling = review.rolling_update.as_ref().map(|groups| {
        json!({
            "needs_update": groups.iter().any(GroupStatus::needs_update),
            "verdict": rolling_verdict(groups, Style::Plain),
            "groups": groups.iter().map(|g| json!({
                "name": g.name,
                "status": g.status,
                "need_update": g.need_update,
                "ready": g.ready,
                "min": g.min,
                "target": g.target,
                "max": g.max,
                "nodes": g.nodes,
                "needs_update": g.needs_update(),
            })).collect::<Vec<_>>(),
        })
    });
    let protected: Vec<Value> = review
        .protected
        .iter()
        .map(|p| json!({"address": p.address, "action": p.action.as_str(), "reason": p.reason}))
        .collect();
    let value = json!({
        "kopsform_review": JSON_SCHEMA_VERSION,
        "cluster": review.cluster,
        "format_version": s.format_version,
        "terraform_version": s.terraform_version,
        "headline": s.headline(),
        "counts": {
            "import": c.import,
            "add": c.add,
            "change": c.change,
            "destroy": c.destroy,
            "forget": c.forget,
            "move": c.moved,
            "read": c.read,
            "invoke": c.invoke,
        },
        "exit_status": review.exit_status,
        "errored": s.errored,
        "deferred": s.deferred,
        "protected": protected,
        "changes": changes,
        "drift": drift,
        "outputs": outputs,
        "variables": variables,
        "rolling_update": rolling,
        "launch_template_changes": launch_templates,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

fn change_json(c: &ResourceChange) -> Value {
    json!({
        "address": c.address,
        "previous_address": c.previous_address,
        "module_address": c.module_address,
        "mode": c.mode,
        "type": c.resource_type,
        "name": c.name,
        "index": c.index,
        "deposed": c.deposed,
        "actions": c.actions,
        "action": c.action.label(),
        "action_reason": c.action_reason,
        "reasons": reasons(c, Style::Plain),
        "replace_paths": c.replace_paths,
        "importing": c.importing.as_ref().map(|i| json!({"id": i.id.as_ref().map(Shown::to_string)})),
        "attributes": c.attributes.iter().map(|a| json!({
            "path": a.path,
            "before": a.before.as_ref().map(Shown::to_string),
            "after": a.after.as_ref().map(Shown::to_string),
            "forces_replacement": a.forces_replacement,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(changes: &str) -> PlanSummary {
        plan::summarize(&format!(
            r#"{{"format_version":"1.2","applyable":true,"resource_changes":[{changes}]}}"#
        ))
        .unwrap()
    }

    fn rc(address: &str, actions: &str) -> String {
        let (ty, name) = address.rsplit_once('.').unwrap();
        let ty = ty.rsplit('.').next().unwrap();
        format!(
            r#"{{"address":"{address}","mode":"managed","type":"{ty}","name":"{name}","change":{{"actions":{actions}}}}}"#
        )
    }

    #[test]
    fn changed_launch_templates_name_the_groups_that_will_roll() {
        let s = summary(
            &[
                rc(
                    "aws_launch_template.master-us-test-1a-masters-c-example-com",
                    r#"["update"]"#,
                ),
                rc(
                    "aws_launch_template.nodes-c-example-com",
                    r#"["delete","create"]"#,
                ),
                rc("aws_launch_template.bastion-c-example-com", r#"["create"]"#),
                rc("aws_launch_template.old-c-example-com", r#"["delete"]"#),
                rc(
                    "terraform_data.aws_launch_template_spot-c-example-com",
                    r#"["update"]"#,
                ),
            ]
            .join(","),
        );
        let review = Review::new(s, &[], Some("c.example.com".into()), None);
        let groups: Vec<String> = launch_template_changes(&review)
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        assert_eq!(groups, ["master-us-test-1a", "nodes", "spot"]);
        let section = rolling_section(&review).unwrap().head;
        assert!(
            section.contains(
                "instance groups `master-us-test-1a`, `nodes`, `spot` need a rolling update"
            ),
            "{section}"
        );
        let none = Review::new(
            summary(&rc("aws_s3_object.x", r#"["update"]"#)),
            &[],
            None,
            None,
        );
        assert!(rolling_section(&none).is_none());
    }

    #[test]
    fn default_rules_protect_what_a_cluster_cannot_lose() {
        let s = summary(
            &[
                rc("aws_ebs_volume.a-etcd-main-c", r#"["delete","create"]"#),
                rc("aws_ebs_volume.data", r#"["delete"]"#),
                rc("aws_s3_bucket.state", r#"["delete"]"#),
                rc("aws_s3_bucket.other", r#"["update"]"#),
                rc("aws_route53_zone.z", r#"["create","delete"]"#),
                rc("aws_autoscaling_group.master-a-masters-c", r#"["delete"]"#),
                rc("aws_autoscaling_group.nodes-c", r#"["delete"]"#),
                rc(
                    "module.m.aws_autoscaling_group.control-plane-a",
                    r#"["delete"]"#,
                ),
            ]
            .join(","),
        );
        let rules = effective_rules(&ReviewConfig::default());
        let protected = protected_changes(&s, &rules);
        let addresses: Vec<&str> = protected.iter().map(|p| p.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "aws_ebs_volume.a-etcd-main-c",
                "aws_s3_bucket.state",
                "aws_route53_zone.z",
                "aws_autoscaling_group.master-a-masters-c",
                "module.m.aws_autoscaling_group.control-plane-a",
            ]
        );
        assert_eq!(protected[0].action, RiskAction::Replace);
        assert_eq!(protected[1].action, RiskAction::Delete);
        assert_eq!(exit_status(&s, &protected), EXIT_PROTECTED);
        let off = ReviewConfig {
            protect: Vec::new(),
            protect_defaults: false,
        };
        assert!(protected_changes(&s, &effective_rules(&off)).is_empty());
    }

    #[test]
    fn configured_rules_come_first_and_bad_ones_are_reported() {
        let config = ReviewConfig {
            protect: vec![ProtectRule {
                resource_type: None,
                address: Some("aws_s3_bucket.st*".into()),
                reason: Some("the state".into()),
            }],
            protect_defaults: true,
        };
        let s = summary(&rc("aws_s3_bucket.state", r#"["delete"]"#));
        let protected = protected_changes(&s, &effective_rules(&config));
        assert_eq!(protected[0].reason, "the state");
        let bad = [ProtectRule {
            resource_type: None,
            address: Some("a[".into()),
            reason: None,
        }];
        assert!(
            crate::project::schema::check_protect_rules(&bad)
                .unwrap_err()
                .contains("not a valid glob")
        );
        let empty = [ProtectRule {
            resource_type: None,
            address: None,
            reason: None,
        }];
        assert!(
            crate::project::schema::check_protect_rules(&empty)
                .unwrap_err()
                .contains("neither")
        );
    }

    #[test]
    fn exit_statuses() {
        let none = summary(&rc("a.b", r#"["no-op"]"#));
        assert_eq!(exit_status(&none, &[]), EXIT_NO_CHANGES);
        let some = summary(&rc("a.b", r#"["update"]"#));
        assert_eq!(exit_status(&some, &[]), EXIT_CHANGES);
    }

    #[test]
    fn markdown_helpers() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(cell("`a|b`"), "`a\\|b`");
        assert_eq!(thousands(65536), "65,536");
        assert_eq!(thousands(999), "999");
        assert_eq!(marker_value("a b-->c"), "a_b-__c");
        assert_eq!(
            full_report_path(Path::new("out/review.md")),
            Path::new("out/review.full.md")
        );
    }

    #[test]
    fn rows_streamed_from_a_second_pass_render_like_rows_in_memory() {
        // Values, a secret marked on one resource and copied unmarked onto another, drift and an
        // output: the streamed review must be the in-memory one, whole and cut.
        let mut changes: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"address":"aws_instance.i{i}","mode":"managed","type":"aws_instance","name":"i{i}","change":{{"actions":["update"],"before":{{"size":{i},"tags":{{"a":"b"}}}},"after":{{"size":{},"tags":{{"a":"c"}}}},"after_unknown":{{}},"before_sensitive":{{}},"after_sensitive":{{}}}}}}"#,
                    i + 1
                )
            })
            .collect();
        changes.push(r#"{"address":"aws_db.d","mode":"managed","type":"aws_db","name":"d","change":{"actions":["create"],"before":null,"after":{"password":"hunter2-secret"},"after_sensitive":{"password":true}}}"#.to_string());
        changes.push(r#"{"address":"terraform_data.t","mode":"managed","type":"terraform_data","name":"t","change":{"actions":["create"],"before":null,"after":{"output":"hunter2-secret"},"after_sensitive":{}}}"#.to_string());
        let text = format!(
            r#"{{"format_version":"1.2","applyable":true,"resource_drift":[{{"address":"aws_instance.i0","mode":"managed","type":"aws_instance","name":"i0","change":{{"actions":["update"],"before":{{"size":7}},"after":{{"size":0}}}}}}],"resource_changes":[{}],"output_changes":{{"o":{{"actions":["create"],"before":null,"after":"x"}}}}}}"#,
            changes.join(",")
        );
        let in_memory = Review::new(plan::summarize(&text).unwrap(), &[], None, None);
        let opened = plan::from_text(text.clone()).unwrap();
        assert!(
            opened
                .summary
                .changes
                .iter()
                .all(|c| c.attributes.is_empty())
        );
        let streamed = Review::new(opened.summary, &[], None, None).with_rows(opened.rows);
        let whole = render_markdown(&in_memory, None, &FullReport::Rerun).unwrap();
        assert!(
            whole.text.contains("| `password` | (sensitive) |"),
            "{}",
            whole.text
        );
        assert!(!whole.text.contains("hunter2"));
        assert!(whole.text.contains("`size` | `1` | `2`"), "{}", whole.text);
        for budget in [
            None,
            Some(400),
            Some(3000),
            Some(6000),
            Some(chars(&whole.text) - 1),
        ] {
            let a = render_markdown(&in_memory, budget, &FullReport::Rerun).unwrap();
            let b = render_markdown(&streamed, budget, &FullReport::Rerun).unwrap();
            assert_eq!(a.text, b.text, "budget {budget:?}");
            assert_eq!(a.full, b.full, "budget {budget:?}");
            if let Some(budget) = budget {
                assert!(
                    a.cut() && chars(&a.text) <= budget.max(1200),
                    "budget {budget}"
                );
            }
        }
    }

    #[test]
    fn budget_keeps_the_top_and_the_risk_section() {
        let mut changes: Vec<String> = (0..50)
            .map(|i| rc(&format!("aws_instance.i{i}"), r#"["create"]"#))
            .collect();
        changes.push(rc("aws_s3_bucket.state", r#"["delete"]"#));
        let review = Review::new(
            summary(&changes.join(",")),
            &default_rules(),
            Some("c".into()),
            None,
        );
        let full = render_markdown(&review, None, &FullReport::Rerun).unwrap();
        assert!(!full.cut());
        let cut = render_markdown(&review, Some(1200), &FullReport::Named("URL".into())).unwrap();
        assert!(cut.cut());
        assert_eq!(cut.full.as_deref(), Some(full.text.as_str()));
        assert!(chars(&cut.text) <= 1200, "{}", cut.text);
        assert!(
            cut.text
                .contains("**Plan: 50 to add, 0 to change, 1 to destroy.**")
        );
        assert!(
            cut.text
                .contains("🛑 **PROTECTED** **delete** `aws_s3_bucket.state`")
        );
        assert!(
            cut.text
                .contains("This review was cut to fit 1,200 characters.")
        );
        assert!(cut.text.contains("Full report: URL"));
        let full_len = chars(&full.text);
        for budget in (1200..full_len).step_by(37) {
            let md = render_markdown(&review, Some(budget), &FullReport::Rerun).unwrap();
            assert!(chars(&md.text) <= budget, "budget {budget}:\n{}", md.text);
        }
        let tiny = render_markdown(&review, Some(10), &FullReport::Rerun).unwrap();
        assert!(tiny.text.contains("alone take"));
        assert!(tiny.text.contains("the details (all 51)"));
    }
}

//! The command: what to review and how ([`Request`]), [`run`] which reads the plan and writes the
//! review in the form asked for, to a file (atomically) or stdout.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::atomic::WriteError;
use crate::error::UserError;
use crate::plan;
use crate::project::Project;
use crate::project::task::ReviewTarget;
use crate::redact::{MaskLines, Masks};
use crate::tools::kops::{self, GroupStatus};

use super::json::write_json;
use super::markdown::{FullReport, Layout};
use super::protect::effective_rules;
use super::report::Review;
use super::spec::SpecFiles;

/// The comment size limits of the platforms (characters).
pub(crate) const GITHUB_MAX_CHARS: usize = 65_536;
pub(crate) const GITLAB_MAX_CHARS: usize = 1_000_000;

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
    /// The live spec (a copy of the state store from before `kops replace`) and the manifest,
    /// for the "kops spec changes" section.
    pub(crate) spec: Option<SpecFiles>,
    /// The rendered manifest (cluster.yml) the `[[review.policy]]` rules are evaluated on.
    pub(crate) manifest: Option<PathBuf>,
    /// The secrets kopsform has learned (sensitive outputs, secret variables): a plan value
    /// holding one is hidden even where Terraform does not mark it sensitive, and the review is
    /// masked with them as it is written.
    pub(crate) secrets: Arc<Masks>,
    /// The saved plan of the cluster's prerequisites layer, reviewed in a section of its own.
    pub(crate) prerequisites: Option<Part>,
    /// The cluster's plan was deferred until the prerequisites' apply: `plan` is not read.
    pub(crate) deferred: Option<crate::values::planned::Deferral>,
}

/// Another layer's plan reviewed with the cluster's.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) plan: PathBuf,
    /// The layer's folder, as the review names it.
    pub(crate) name: String,
    /// Where a saved plan is shown (`terraform show` needs the layer's providers); the plan's
    /// own folder when `None`.
    pub(crate) dir: Option<PathBuf>,
}

/// The form of a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Markdown,
    Json,
}

/// Runs `kopsform review`; returns the exit status (0 no changes, 2 changes, 3 protected, 5 a
/// policy rule broken). With
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
    let policy = &config.policy;
    // Read before the plan: a missing manifest fails fast, and a rule is never skipped silently.
    // A deferred cluster has no manifest: nothing was rendered, the rules wait with its plan.
    let violations = match (&args.manifest, policy.is_empty() || args.deferred.is_some()) {
        // No rules: the manifest is not read.
        (_, true) => Vec::new(),
        (Some(path), false) => {
            super::policy::evaluate(policy, &super::policy::read_manifest(path)?, &args.secrets)
        }
        (None, false) => {
            return Err(UserError::new(format!(
                "{}: {} [[review.policy]] rule{} to evaluate on the rendered manifest, and no manifest given: pass --manifest FILE (the review step's `manifest`, its cluster.yml)",
                project.map_or_else(
                    || "tasks.toml".to_string(),
                    |p| p.file.display().to_string()
                ),
                policy.len(),
                if policy.len() == 1 { "" } else { "s" }
            )));
        }
    };
    let prerequisites = match &args.prerequisites {
        Some(part) => {
            let opened = plan::read::open_in(
                &part.plan,
                part.dir.as_deref(),
                &tool,
                env,
                Arc::clone(&args.secrets),
            )?;
            let mut review = Review::new(opened.summary, &rules, args.cluster.clone(), None)
                .with_rows(opened.rows);
            review.part = Some(part.name.clone());
            Some(review)
        }
        None => None,
    };
    // A deferred cluster has no plan (nor a rolling-update verdict) to read.
    let review = match &args.deferred {
        Some(_) => Review::new(
            plan::summary::PlanSummary::none(),
            &rules,
            args.cluster.clone(),
            None,
        ),
        None => {
            // A review that writes every change's rows has the first pass make them, when it
            // can: the plan is then read once. One cut to a budget reads them again, as far as
            // the budget goes.
            let every_row = json_out.is_some()
                || args.format == Format::Json
                || markdown_budget(args).is_none();
            let known = Arc::clone(&args.secrets);
            let opened = if every_row {
                plan::read::open_keeping_rows(&args.plan, &tool, env, known)?
            } else {
                plan::read::open(&args.plan, &tool, env, known)?
            }
            .with_files();
            let rolling_update = match &args.rolling_update {
                Some(path) => Some(read_rolling_update(path)?),
                None => None,
            };
            // Both forms are written change by change from a second pass over the plan: the
            // rows of all changes are never held at once.
            Review::new(opened.summary, &rules, args.cluster.clone(), rolling_update)
                .with_rows(opened.rows)
        }
    }
    .with_prerequisites(prerequisites, args.deferred.clone());
    // A deferred cluster has no manifest to compare either.
    let mut review = review;
    if let (Some(files), None) = (&args.spec, &args.deferred) {
        review = review.with_spec(super::spec::read(files, &args.secrets)?);
    }
    // After the spec: a broken policy rule is status 5 whatever else changes.
    let review = review.with_policy(policy.len(), violations);
    let masks = &args.secrets;
    if let Some(path) = json_out {
        crate::atomic::write_with(path, PRIVATE, &mut |w| write_json(&review, masks, w))?;
    }
    match args.format {
        Format::Json => {
            emit(args.out.as_deref(), &mut |w| write_json(&review, masks, w))?;
        }
        Format::Markdown => {
            let budget = markdown_budget(args);
            let full_copy = args.out.as_deref().map(full_report_path);
            let where_full = match (&args.full_report, &full_copy) {
                (Some(place), _) => FullReport::Named(place.clone()),
                (None, Some(path)) => FullReport::File(path.display().to_string()),
                (None, None) => FullReport::Rerun,
            };
            let layout = Layout::new(&review, budget, &where_full)?;
            if let (true, Some(path)) = (layout.cut(), &full_copy) {
                crate::atomic::write_with(path, PRIVATE, &mut |w| {
                    let mut masked = MaskLines::new(w, masks);
                    layout.write(&mut masked, true)?;
                    Ok(masked.finish()?)
                })?;
            }
            emit(args.out.as_deref(), &mut |w| {
                let mut masked = MaskLines::new(w, masks);
                layout.write(&mut masked, false)?;
                Ok(masked.finish()?)
            })?;
        }
    }
    Ok(review.exit_status)
}

/// The size budget of the Markdown form in characters, if any.
fn markdown_budget(args: &Request) -> Option<usize> {
    args.max_chars.or(args.target.map(|t| match t {
        ReviewTarget::Github => GITHUB_MAX_CHARS,
        ReviewTarget::Gitlab => GITLAB_MAX_CHARS,
    }))
}

/// The mode of review files: a review is meant to be posted, but a plan can hold values no one
/// knew to be secret; it is for the CI job (or the user) to publish it, not for the machine's
/// other users to read.
const PRIVATE: u32 = 0o600;

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
    crate::atomic::write_with(path, PRIVATE, fill)
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

//! Markdown: the review as a pull-request comment, in sections that a size budget cuts whole
//! items at a time, saying what was left out and where the full review is. A [`Review`] in, text out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::atomic::WriteError;
use crate::error::UserError;
use crate::plan::summary::{Action, AttributeChange, ResourceChange, Shown};

use super::filediff;
use super::protect::RULE_PREFIX;
use super::report::{Review, launch_template_changes};
use super::spec::{Rule, SpecDiff};
use super::words::{Style, action_words, code, push_cell, push_code, reasons, rolling_verdict};

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
            let mut text = String::new();
            for change in &changes[..n] {
                details_item(&mut text, change, &change.attributes);
                if !f(&text) {
                    break;
                }
            }
            Ok(())
        }
        Some(rows) => {
            let mut text = String::new();
            rows.each(changes, &mut |i, rows| {
                details_item(&mut text, &changes[i], rows);
                f(&text) && i + 1 < n
            })
        }
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
    /// In the order a budget keeps them: the last is cut first.
    optional: Vec<Section>,
    /// The order `optional` is written in, by index.
    display: Vec<usize>,
    cuts: Vec<(usize, Cut)>,
    /// The cut notice, after the top, when something was cut.
    notice: Option<String>,
    /// The prerequisites layer's part, after the top: laid out on its own, within a third of
    /// the budget, and kept whole in the cluster's layout.
    prerequisites: Option<Markdown>,
}

impl<'r> Layout<'r> {
    /// Lays the review out within `budget` characters when given (the top, the risk section and
    /// the rolling-update verdict are always kept whole).
    pub(crate) fn new(
        review: &'r Review,
        budget: Option<usize>,
        full: &FullReport,
    ) -> Result<Layout<'r>, UserError> {
        let kept = [
            top(review),
            policy_section(review),
            risk_section(review),
            rolling_section(review),
            spec_summary_section(review),
        ];
        // The decoded files are written first but cut first (they are the longest and each
        // has a hash line in the details); the table of spec paths stays right under its
        // summary, before them.
        let spec_table = spec_table_section(review);
        let after_spec_table = usize::from(spec_table.is_some());
        let optional = [
            spec_table,
            types_section(review),
            drift_section(review),
            outputs_section(review),
            details_section(review),
            variables_section(review),
            files_section(review),
        ];
        let optional: Vec<Section> = optional.into_iter().flatten().collect();
        let mut display: Vec<usize> = (0..optional.len()).collect();
        if !review.summary.files.is_empty()
            && let Some(files) = display.pop()
        {
            display.insert(after_spec_table, files);
        }
        let kept: Vec<Section> = kept.into_iter().flatten().collect();
        let prerequisites = match &review.prerequisites {
            Some(part) => Some(render_markdown(part, budget.map(|b| b / 3), full)?),
            None => None,
        };
        let mut layout = Layout {
            review,
            kept,
            optional,
            display,
            cuts: Vec::new(),
            notice: None,
            prerequisites,
        };
        if let Some(budget) = budget {
            layout.cut_to(budget, full)?;
        }
        Ok(layout)
    }

    /// The budget left something out.
    pub(crate) fn cut(&self) -> bool {
        !self.cuts.is_empty() || self.prerequisites.as_ref().is_some_and(Markdown::cut)
    }

    fn cut_to(&mut self, budget: usize, full: &FullReport) -> Result<(), UserError> {
        let review = self.review;
        let kept_chars: usize = self
            .kept
            .iter()
            .map(|s| Ok(chars(&s.head) + s.sizes(review, usize::MAX)?.iter().sum::<usize>()))
            .sum::<Result<usize, UserError>>()?
            + self.prerequisites.as_ref().map_or(0, |p| chars(&p.text));
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
            if let (0, Some(part)) = (i, &self.prerequisites) {
                let text = match (&part.full, whole) {
                    (Some(full), true) => full,
                    _ => &part.text,
                };
                out.write_all(text.as_bytes())?;
            }
        }
        for &i in &self.display {
            let section = &self.optional[i];
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

/// The level of a section's heading: one deeper in the prerequisites' part of a review.
fn h3(review: &Review) -> &'static str {
    if review.part.is_some() { "####" } else { "###" }
}

fn top(review: &Review) -> Option<Section> {
    let s = &review.summary;
    if let Some(layer) = &review.part {
        let mut text = format!(
            "\n### Prerequisites layer {}\n\n**{}**\n",
            code(layer),
            s.headline()
        );
        if !review.protected.is_empty() {
            let n = review.protected.len();
            let _ = writeln!(
                text,
                "\n🛑 **{n} protected resource{} of the prerequisites would be destroyed or replaced.**",
                if n == 1 { "" } else { "s" }
            );
        }
        return Some(Section::whole("the top", text));
    }
    let mut text = format!(
        "<!-- kopsform-review cluster={} -->\n",
        marker_value(&review.cluster)
    );
    if let Some(deferred) = &review.deferred {
        let names: Vec<String> = deferred.outputs.iter().map(|o| code(o)).collect();
        let title = if review.cluster_named {
            format!(": {}", escape_text(&review.cluster))
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "## Terraform plan review{title}\n\n⏸️ **The cluster's plan is deferred.** The prerequisites' output{} {} {} known only after the layer {} is applied, so the cluster is planned after that apply (its plan is never made from guessed values).",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" },
            code(&deferred.layer),
        );
        return Some(Section::whole("the top", text));
    }
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
    if !review.violations.is_empty() {
        let n = review.violations.len();
        let _ = writeln!(
            text,
            "\n⛔ **{n} policy violation{}: this change breaks the project's rules.**",
            if n == 1 { "" } else { "s" }
        );
    }
    Some(Section::whole("the top", text))
}

/// The `[[review.policy]]` verdict: each violation with its rule's message, the document, the
/// path and the value found (all in code spans: the manifest's values are not Markdown).
fn policy_section(review: &Review) -> Option<Section> {
    if review.policy_rules == 0 {
        return None;
    }
    let n = review.policy_rules;
    let rules = format!("{n} rule{}", if n == 1 { "" } else { "s" });
    let mut text = format!(
        "\n### Policy ({} violation{})\n\n",
        review.violations.len(),
        if review.violations.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    if review.violations.is_empty() {
        let _ = writeln!(text, "The manifest meets the project's {rules}.");
    }
    for v in &review.violations {
        let found = match &v.actual {
            Some(value) => format!("is {}", code(value)),
            None => "is missing".to_string(),
        };
        let _ = writeln!(
            text,
            "- ⛔ {} {}: {} {found} — {}",
            code(&v.id),
            code(&one_line(&v.document)),
            code(&v.path),
            escape_text(&one_line(&v.message))
        );
    }
    Some(Section::whole("the policy section", text))
}

/// Text on one line: line breaks become spaces (a message must not start a Markdown block).
fn one_line(s: &str) -> String {
    s.split(['\n', '\r']).collect::<Vec<_>>().join(" ")
}

fn risk_section(review: &Review) -> Option<Section> {
    let s = &review.summary;
    if s.changes.is_empty() {
        return None;
    }
    let risky = review.risky();
    let mut text = format!(
        "\n{} Destroyed or replaced ({})\n\n",
        h3(review),
        risky.len()
    );
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
        if !change.replace_paths().is_empty() {
            let paths: Vec<String> = change.replace_paths().iter().map(|p| code(p)).collect();
            let _ = writeln!(text, "  - forces replacement: {}", paths.join(", "));
        }
    }
    Some(Section::whole("the risk section", text))
}

fn rolling_section(review: &Review) -> Option<Section> {
    let templates = launch_template_changes(review);
    if review.rolling_update.is_none() && templates.is_empty() {
        return None;
    }
    let mut text = format!("\n{} Rolling update\n\n", h3(review));
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

/// The kops spec changes in short, kept whole: how many paths changed, the instance groups added,
/// and loudly the ones removed from the manifest that `kops replace` leaves in place.
fn spec_summary_section(review: &Review) -> Option<Section> {
    let spec = review.spec.as_ref()?;
    let mut text = String::from("\n### kops spec changes\n\n");
    if spec.is_empty() {
        text.push_str(
            "No spec changes: the state store holds the Cluster and instance groups this manifest describes.\n",
        );
        return Some(Section::whole("the kops spec changes", text));
    }
    let names = |groups: &[String]| -> String {
        groups
            .iter()
            .map(|g| code(&spec_name(g)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if spec.cluster_new {
        let _ = writeln!(
            text,
            "- The state store holds no Cluster {} yet: `kops replace` creates it.",
            code(&spec_name(&spec.cluster))
        );
    }
    if !spec.added.is_empty() {
        let _ = writeln!(text, "- Instance groups added: {}.", names(&spec.added));
    }
    if !spec.removed.is_empty() {
        let n = spec.removed.len();
        let allow: Vec<String> = spec
            .removed
            .iter()
            .map(|g| format!("--allow-destroy instancegroup/{}", spec_name(g)))
            .collect();
        let _ = writeln!(
            text,
            "- ⚠️ **Instance group{} removed from the manifest but still in the state store: {}.** `kops replace` never deletes an instance group: {} and {} instances stay until the `prune-instancegroups` task deletes {} ({}).",
            if n == 1 { "" } else { "s" },
            names(&spec.removed),
            if n == 1 { "it" } else { "they" },
            if n == 1 { "its" } else { "their" },
            if n == 1 { "it" } else { "them" },
            code(&allow.join(" "))
        );
    }
    let n = spec.changes.len();
    if n == 0 {
        text.push_str("- No path of a Cluster or instance group kept in the manifest changed.\n");
    } else {
        let _ = writeln!(
            text,
            "- {n} path{} changed (live state store → manifest); a Cluster change rolls the groups whose launch template this plan changes, an instance group's change rolls that group (minSize and maxSize only resize it).",
            if n == 1 { "" } else { "s" }
        );
    }
    Some(Section::whole("the kops spec changes", text))
}

/// The changed paths, one row each: what a budget cuts.
fn spec_table_section(review: &Review) -> Option<Section> {
    let spec = review.spec.as_ref()?;
    if spec.changes.is_empty() {
        return None;
    }
    let items = spec
        .changes
        .iter()
        .map(|c| {
            let mut row = String::from("| ");
            push_code(&mut row, &SpecDiff::full_path(c), true);
            row.push_str(" | ");
            push_spec_value(&mut row, c.before.as_ref());
            row.push_str(" | ");
            push_spec_value(&mut row, c.after.as_ref());
            row.push_str(" | ");
            if c.groups.is_empty() {
                row.push_str(match c.rule {
                    Rule::Resize => "none (resizes the group)",
                    _ => "none in this plan",
                });
            } else {
                let names: Vec<String> = c.groups.iter().map(|g| spec_name(g)).collect();
                for (i, g) in names.iter().enumerate() {
                    if i > 0 {
                        row.push_str(", ");
                    }
                    push_code(&mut row, g, true);
                }
            }
            row.push_str(" |\n");
            row
        })
        .collect();
    Some(Section::list(
        "the kops spec paths",
        "kops spec paths",
        "\n| Path | Live | Manifest | Rolling update |\n|---|---|---|---|\n".to_string(),
        items,
    ))
}

/// A spec value in a cell: `(none)` for a side that does not have the path.
fn push_spec_value(text: &mut String, shown: Option<&Shown>) {
    match shown {
        None => text.push_str("(none)"),
        Some(_) => push_shown_cell(text, shown),
    }
}

/// A cluster or group name as the review shows it: JSON-quoted unless plain.
fn spec_name(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        name.to_string()
    } else {
        serde_json::to_string(name).unwrap_or_default()
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
        t.import += usize::from(c.importing().is_some());
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
        format!(
            "\n{} Changes by resource type\n\n| Resource type | Create | Update | Replace | Delete | Other |\n|---|--:|--:|--:|--:|---|\n",
            h3(review)
        ),
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
            if let Some(prev) = d.previous_address() {
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
            "\n{} Drift: changed outside Terraform ({})\n\nTerraform found these differences when it refreshed the state; the plan above already takes them into account.\n\n",
            h3(review),
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
        format!(
            "\n{} Output changes\n\n| Output | Change | Before | After |\n|---|---|---|---|\n",
            h3(review)
        ),
        items,
    ))
}

fn files_section(review: &Review) -> Option<Section> {
    let files = &review.summary.files;
    if files.is_empty() {
        return None;
    }
    Some(Section::list(
        "the decoded files",
        "decoded files",
        filediff::section_head(files.len()),
        files
            .iter()
            .map(|f| filediff::markdown_item(review, f))
            .collect(),
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
        head: format!("\n{} Details\n", h3(review)),
        items: Items::Details,
    })
}

/// One change's `<details>` block, written into `text` (cleared first): the buffer is reused from
/// change to change, and every cell is appended in place rather than built as its own string.
fn details_item(text: &mut String, change: &ResourceChange, rows: &[AttributeChange]) {
    text.clear();
    text.push_str("\n<details><summary><b>");
    push_html(text, &action_words(change));
    text.push_str("</b> <code>");
    push_html(text, &change.display_address());
    text.push_str("</code>");
    if let Some(prev) = change.previous_address() {
        text.push_str(" (moved from <code>");
        push_html(text, prev);
        text.push_str("</code>)");
    }
    if let Some(import) = change.importing() {
        match &import.id {
            Some(id) => {
                text.push_str(" (import ID <code>");
                push_html(text, &id.to_string());
                text.push_str("</code>)");
            }
            None => text.push_str(" (import by identity)"),
        }
    }
    text.push_str("</summary>\n\n");
    attribute_table(text, rows);
    text.push_str("\n</details>\n");
}

fn attribute_table(text: &mut String, rows: &[AttributeChange]) {
    if rows.is_empty() {
        text.push_str("No attribute changes.\n");
        return;
    }
    let has_before = rows.iter().any(|r| r.before.is_some());
    let has_after = rows.iter().any(|r| r.after.is_some());
    text.push_str(match (has_before, has_after) {
        (true, true) => "| Attribute | Before | After |\n|---|---|---|\n",
        (false, _) => "| Attribute | Value |\n|---|---|\n",
        (true, false) => "| Attribute | Value before |\n|---|---|\n",
    });
    for row in rows {
        text.push_str("| ");
        push_code(text, &row.path, true);
        if row.forces_replacement {
            text.push_str(" **forces replacement**");
        }
        text.push(' ');
        if has_before {
            text.push_str("| ");
            push_shown_cell(text, row.before.as_ref());
            text.push(' ');
        }
        if has_after {
            text.push_str("| ");
            push_shown_cell(text, row.after.as_ref());
            text.push(' ');
        }
        text.push_str("|\n");
    }
}

/// [`shown_cell`] escaped as a table cell ([`cell`]), appended to `text`.
fn push_shown_cell(text: &mut String, shown: Option<&Shown>) {
    match shown {
        None => {}
        Some(Shown::Value(v)) => push_code(text, v, true),
        // A digest's name holds nothing to escape: written as `shown_cell` writes it, without
        // its strings (issue 19).
        Some(Shown::Blob { sha256, bytes }) if sha256.bytes().all(|b| b.is_ascii_hexdigit()) => {
            text.push_str("`sha256:");
            text.push_str(sha256);
            text.push_str("…` (");
            push_thousands(text, *bytes);
            text.push_str(" bytes)");
        }
        Some(_) => push_cell(text, &shown_cell(shown)),
    }
}

fn variables_section(review: &Review) -> Option<Section> {
    let vars = &review.summary.variables;
    if vars.is_empty() {
        return None;
    }
    let mut text = format!(
        "\n{} Variables\n\n<details><summary>{} input variable{}</summary>\n\n| Variable | Value |\n|---|---|\n",
        h3(review),
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

/// A table cell: a `|` would end the cell, even inside a code span.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `s` appended to `text` with HTML's special characters as entities.
fn push_html(text: &mut String, s: &str) {
    if !s.bytes().any(|b| matches!(b, b'&' | b'<' | b'>' | b'"')) {
        text.push_str(s);
        return;
    }
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '"']) {
        text.push_str(&rest[..i]);
        text.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => "&quot;",
        });
        rest = &rest[i + 1..];
    }
    text.push_str(rest);
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
    let mut out = String::new();
    push_thousands(&mut out, n);
    out
}

/// [`thousands`] appended to `out`.
fn push_thousands(out: &mut String, n: usize) {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    let mut rest = n;
    loop {
        start -= 1;
        buf[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let digits = &buf[start..];
    for (i, &d) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(char::from(d));
    }
}

/// A protection reason in Markdown: a rule description as code, a user's reason as text.
fn reason_markdown(reason: &str) -> String {
    match reason.strip_prefix(RULE_PREFIX) {
        Some(rule) => format!("{} rule {}", code("[review] protect"), code(rule)),
        None => escape_text(reason),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::plan;
    use crate::review::protect::default_rules;
    use crate::review::report::launch_template_changes;
    use crate::review::request::full_report_path;
    use crate::review::words::code;

    #[test]
    fn a_digest_cell_is_written_as_its_display_form_escaped() {
        for bytes in [0, 7, 999, 1_000, 65_536, 1_234_567, usize::MAX] {
            for sha256 in ["0a1b2c3d4e5f", "ab|c`d", "é"] {
                let shown = Shown::Blob {
                    sha256: sha256.to_string(),
                    bytes,
                };
                let mut direct = String::from("| ");
                push_shown_cell(&mut direct, Some(&shown));
                let mut escaped = String::from("| ");
                push_cell(&mut escaped, &shown_cell(Some(&shown)));
                assert_eq!(direct, escaped);
            }
        }
        assert_eq!(
            [0, 999, 1_000, 1_234_567].map(thousands),
            ["0", "999", "1,000", "1,234,567"]
        );
        assert_eq!(thousands(usize::MAX), "18,446,744,073,709,551,615");
    }

    use crate::review::fixtures::{rc, summary};

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

    /// A cluster review with the prerequisites layer's part: `zone` replaced there (protected
    /// by the default rules), one change in the cluster.
    fn with_layer(deferred: bool) -> Review {
        let rules = default_rules();
        let mut layer = Review::new(
            summary(
                &[
                    rc("aws_route53_zone.cluster", r#"["delete","create"]"#),
                    rc("aws_subnet.private", r#"["update"]"#),
                ]
                .join(","),
            ),
            &rules,
            Some("c.example.com".into()),
            None,
        );
        layer.part = Some("1-prerequisites".into());
        let (cluster, deferral) = if deferred {
            (
                plan::summary::PlanSummary::none(),
                Some(crate::values::planned::Deferral {
                    plan: ".kopsform/dryrun/prerequisites.tfplan".into(),
                    layer: "1-prerequisites".into(),
                    outputs: vec!["subnet_ids".into(), "zone_id".into()],
                }),
            )
        } else {
            (
                summary(&rc(
                    "aws_autoscaling_group.nodes-c-example-com",
                    r#"["update"]"#,
                )),
                None,
            )
        };
        Review::new(cluster, &rules, Some("c.example.com".into()), None)
            .with_prerequisites(Some(layer), deferral)
    }

    #[test]
    fn the_prerequisites_part_follows_the_headline_one_level_deeper() {
        let review = with_layer(false);
        assert_eq!(review.exit_status, 3, "the graver of the two plans");
        let md = render_markdown(&review, None, &FullReport::Rerun).unwrap();
        assert!(!md.cut());
        let text = md.text;
        let part_at = text.find("\n### Prerequisites layer").unwrap();
        let cluster_details = text.find("\n### Details").unwrap();
        assert!(part_at < cluster_details, "{text}");
        let part = &text[part_at + 1..cluster_details];
        let part = &part[..part.find("\n#### Details").unwrap()];
        assert_eq!(
            part,
            "### Prerequisites layer `1-prerequisites`\n\n**Plan: 1 to add, 1 to change, 1 to destroy.**\n\n🛑 **1 protected resource of the prerequisites would be destroyed or replaced.**\n\n#### Destroyed or replaced (1)\n\n- 🛑 **PROTECTED** **replace (destroy, then create)** `aws_route53_zone.cluster` — Route53 hosted zone: the cluster's DNS (default rule)\n\n#### Changes by resource type\n\n| Resource type | Create | Update | Replace | Delete | Other |\n|---|--:|--:|--:|--:|---|\n| `aws_route53_zone` |  |  | 1 |  |  |\n| `aws_subnet` |  | 1 |  |  |  |\n"
        );
        assert_eq!(
            text.matches("<!-- kopsform-review").count(),
            1,
            "one marker line, the cluster's: {text}"
        );
    }

    #[test]
    fn a_deferred_cluster_says_which_outputs_it_waits_for() {
        let review = with_layer(true);
        let text = render_markdown(&review, None, &FullReport::Rerun)
            .unwrap()
            .text;
        let top = &text[..text.find("\n### Prerequisites layer").unwrap()];
        assert_eq!(
            top,
            "<!-- kopsform-review cluster=c.example.com -->\n## Terraform plan review: c.example.com\n\n⏸️ **The cluster's plan is deferred.** The prerequisites' outputs `subnet_ids`, `zone_id` are known only after the layer `1-prerequisites` is applied, so the cluster is planned after that apply (its plan is never made from guessed values).\n"
        );
        assert!(!text.contains("\n### Details"), "no cluster plan: {text}");
        let json: serde_json::Value =
            serde_json::from_str(&crate::review::json::render_json(&review).unwrap()).unwrap();
        assert_eq!(json["exit_status"], 3);
        assert_eq!(json["changes"], serde_json::json!([]));
        assert_eq!(
            json["cluster_plan_deferred"],
            serde_json::json!({
                "plan": ".kopsform/dryrun/prerequisites.tfplan",
                "outputs": ["subnet_ids", "zone_id"],
                "reason": "the prerequisites' outputs `subnet_ids`, `zone_id` are known only after the layer 1-prerequisites is applied; the cluster is planned after that apply"
            })
        );
        assert_eq!(json["prerequisites"]["layer"], "1-prerequisites");
        assert_eq!(json["prerequisites"]["exit_status"], 3);
        assert_eq!(
            json["prerequisites"]["protected"][0]["address"],
            "aws_route53_zone.cluster"
        );
        // Without the part and the deferral, the document has neither field.
        let plain = Review::new(
            summary(&rc("aws_s3_object.x", r#"["update"]"#)),
            &[],
            None,
            None,
        );
        let json: serde_json::Value =
            serde_json::from_str(&crate::review::json::render_json(&plain).unwrap()).unwrap();
        assert!(json.get("prerequisites").is_none() && json.get("cluster_plan_deferred").is_none());
    }

    #[test]
    fn a_deferral_alone_is_still_a_change_and_a_quiet_layer_does_not_lower_the_status() {
        let deferral = crate::values::planned::Deferral {
            plan: "p".into(),
            layer: "l".into(),
            outputs: vec!["id".into()],
        };
        let none = |s: &str| {
            Review::new(
                if s.is_empty() {
                    plan::summary::PlanSummary::none()
                } else {
                    summary(s)
                },
                &[],
                None,
                None,
            )
        };
        assert_eq!(
            none("")
                .with_prerequisites(None, Some(deferral))
                .exit_status,
            2
        );
        let changed = rc("aws_s3_object.x", r#"["update"]"#);
        assert_eq!(
            none(&changed)
                .with_prerequisites(Some(none("")), None)
                .exit_status,
            2
        );
        assert_eq!(
            none("")
                .with_prerequisites(Some(none("")), None)
                .exit_status,
            0
        );
    }

    #[test]
    fn the_layer_gets_a_third_of_the_budget_and_a_cut_there_writes_the_full_copy() {
        let many: Vec<String> = (0..400)
            .map(|i| rc(&format!("aws_subnet.s{i}"), r#"["update"]"#))
            .collect();
        let mut layer = Review::new(summary(&many.join(",")), &[], None, None);
        layer.part = Some("1-prerequisites".into());
        let review = Review::new(
            summary(&rc("aws_s3_object.x", r#"["update"]"#)),
            &[],
            None,
            None,
        )
        .with_prerequisites(Some(layer), None);
        let md = render_markdown(&review, Some(30_000), &FullReport::Rerun).unwrap();
        assert!(md.cut(), "the layer's details do not fit a third of 30,000");
        assert!(chars(&md.text) <= 30_000, "{}", chars(&md.text));
        let full = md.full.unwrap();
        assert_eq!(
            full.matches("<details><summary><b>").count(),
            401,
            "the full copy has every change"
        );
    }

    #[test]
    fn odd_group_and_cluster_names_stay_on_their_line() {
        use crate::review::spec::{SpecChange, SpecDiff};
        let spec = SpecDiff {
            cluster: "c\n## x".into(),
            cluster_new: true,
            changes: vec![SpecChange {
                object: "InstanceGroup/\"a\\nb\"".into(),
                path: "spec.x".into(),
                before: None,
                after: Some(Shown::Value("1".into())),
                rule: Rule::OwnGroup,
                groups: vec!["a\nb|`".into()],
            }],
            added: vec!["new\n- [x](http://e)".into()],
            removed: vec!["old\n<b>`".into()],
        };
        let review = Review::new(summary(""), &[], None, None).with_spec(spec);
        let text = render_markdown(&review, None, &FullReport::Rerun)
            .unwrap()
            .text;
        let section = &text[text.find("### kops spec changes").unwrap()..];
        let lines: Vec<&str> = section.lines().collect();
        assert_eq!(
            lines,
            [
                "### kops spec changes",
                "",
                "- The state store holds no Cluster `\"c\\n## x\"` yet: `kops replace` creates it.",
                "- Instance groups added: `\"new\\n- [x](http://e)\"`.",
                "- ⚠️ **Instance group removed from the manifest but still in the state store: ``\"old\\n<b>`\"``.** `kops replace` never deletes an instance group: it and its instances stay until the `prune-instancegroups` task deletes it (``--allow-destroy instancegroup/\"old\\n<b>`\"``).",
                "- 1 path changed (live state store → manifest); a Cluster change rolls the groups whose launch template this plan changes, an instance group's change rolls that group (minSize and maxSize only resize it).",
                "",
                "| Path | Live | Manifest | Rolling update |",
                "|---|---|---|---|",
                "| `InstanceGroup/\"a\\nb\".spec.x` | (none) | `1` | ``\"a\\nb\\|`\"`` |",
            ]
        );
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
        let in_memory = Review::new(plan::read::summarize(&text).unwrap(), &[], None, None);
        let opened = plan::read::from_text(text.clone()).unwrap();
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

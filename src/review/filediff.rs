//! The managed files and user data a plan changes, decoded by `plan::filediff`, as the review
//! shows them: each tied to the instance groups whose instances need a rolling update for it,
//! as a Markdown item (a collapsed diff per file) and as the `decoded` field of its attribute
//! row in the JSON.
//!
//! Which groups (docs/review.md, "Managed files and user data"):
//!
//! * an `aws_launch_template` (kops: `<ig>.<cluster>`, `<ig>.masters.<cluster>`): its group, as
//!   the rolling-update section names it;
//! * `aws_s3_object.nodeupconfig-<ig>`: that group (kops: pkg/model/context.go writes each
//!   group's nodeup configuration there);
//! * `aws_s3_object.manifests-etcdmanager-<etcd cluster>-<ig>`: that group (kops names the etcd
//!   clusters `main` and `events`: a name without a dash);
//! * an addon (`<cluster>-addons-...`): none, kops applies addons inside the cluster;
//! * any other managed file (`cluster-completed.spec`, `etcd-cluster-spec-*`,
//!   `kops-version.txt`, `manifests-static-*`, `manifests-channels-*`): all groups, named when
//!   the review knows them (the rolling-update table, and the groups of the plan's launch
//!   templates and nodeup configurations).

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::plan::filediff::{CONTEXT_LINES, MAX_DIFF_LINES};
use crate::plan::summary::{FileChange, FileDiff, ResourceChange, Shown};

use super::report::{Review, launch_template_group};
use super::words::action_words;

/// The instance groups a file change needs rolled.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Groups {
    /// No instance is replaced for it (an addon).
    None,
    These(Vec<String>),
    /// Every group of the cluster; the ones the review knows, sorted.
    All(Vec<String>),
}

/// The file changes of the change at `index` (the summary keeps them by change index).
pub(super) fn files_of(review: &Review, index: usize) -> &[FileChange] {
    let files = &review.summary.files;
    let start = files.partition_point(|f| f.change < index);
    let end = files.partition_point(|f| f.change <= index);
    &files[start..end]
}

/// The groups the change `c` needs rolled (the rules are in the module comment).
pub(super) fn groups(review: &Review, c: &ResourceChange) -> Groups {
    if c.resource_type == "aws_launch_template" {
        return Groups::These(vec![launch_template_group(review, &c.name)]);
    }
    if let Some(group) = object_group(&c.name) {
        return Groups::These(vec![group.to_string()]);
    }
    if c.name.contains("-addons-") {
        return Groups::None;
    }
    Groups::All(known_groups(review))
}

/// The group of a managed file that belongs to one: a nodeup configuration, an etcd manifest.
fn object_group(name: &str) -> Option<&str> {
    if let Some(group) = name.strip_prefix("nodeupconfig-") {
        return Some(group);
    }
    let rest = name.strip_prefix("manifests-etcdmanager-")?;
    rest.split_once('-').map(|(_, group)| group)
}

/// The instance groups the review knows of: the rolling-update table's, and those of the plan's
/// launch templates and nodeup configurations.
fn known_groups(review: &Review) -> Vec<String> {
    let mut out: Vec<String> = review
        .rolling_update
        .iter()
        .flatten()
        .map(|g| g.name.clone())
        .collect();
    for c in &review.summary.changes {
        if c.mode != "managed" {
            continue;
        }
        if c.resource_type == "aws_launch_template" {
            out.push(launch_template_group(review, &c.name));
        } else if c.resource_type == "aws_s3_object"
            && let Some(group) = c.name.strip_prefix("nodeupconfig-")
        {
            out.push(group.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The `decoded` field of a file's attribute row in the JSON (docs/review.md).
pub(super) fn decoded_json(review: &Review, file: &FileChange) -> Value {
    let c = &review.summary.changes[file.change];
    let (groups, all) = match groups(review, c) {
        Groups::None => (Vec::new(), false),
        Groups::These(g) => (g, false),
        Groups::All(g) => (g, true),
    };
    let (shown, reason, lines, left_out) = match &file.diff {
        FileDiff::Lines { lines, left_out } => ("lines", None, lines.as_slice(), *left_out),
        FileDiff::NotText(why) => ("not_text", Some(*why), &[][..], 0),
        FileDiff::Withheld => ("withheld", Some(WITHHELD), &[][..], 0),
    };
    json!({
        "shown": shown,
        "reason": reason,
        "lines": lines,
        "lines_left_out": left_out,
        "instance_groups": groups,
        "all_instance_groups": all,
    })
}

/// Why a file is withheld, in words.
const WITHHELD: &str = "it holds a secret that masking cannot cut out line by line";

/// The head of the Markdown section of `n` file changes.
pub(super) fn section_head(n: usize) -> String {
    format!(
        "\n### Managed files and user data ({n})\n\nThe files kops manages and the launch templates' user data, decoded from the plan, secrets masked (`***`): {CONTEXT_LINES} lines of context, at most {MAX_DIFF_LINES} lines per file.\n"
    )
}

/// One file change as a Markdown item: a collapsed block with its diff.
pub(super) fn markdown_item(review: &Review, file: &FileChange) -> String {
    let c = &review.summary.changes[file.change];
    let mut text = String::from("\n<details><summary><b>");
    push_html(&mut text, &action_words(c));
    text.push_str("</b> <code>");
    push_html(&mut text, &c.display_address());
    text.push_str("</code> <code>");
    text.push_str(file.attribute);
    text.push_str("</code>: ");
    match groups(review, c) {
        Groups::None => text.push_str("no rolling update (kops applies addons in the cluster)"),
        Groups::These(g) => {
            let _ = write!(
                text,
                "instance group{} {} need{} a rolling update",
                if g.len() == 1 { "" } else { "s" },
                code_list(&g),
                if g.len() == 1 { "s" } else { "" }
            );
        }
        Groups::All(g) if g.is_empty() => {
            text.push_str("all instance groups need a rolling update")
        }
        Groups::All(g) => {
            let _ = write!(
                text,
                "all instance groups need a rolling update ({})",
                code_list(&g)
            );
        }
    }
    text.push_str("</summary>\n\n");
    match &file.diff {
        FileDiff::Lines { lines, left_out } => {
            let fence = "`".repeat(longest_backticks(lines).max(2) + 1);
            let _ = writeln!(text, "{fence}diff");
            for line in lines {
                text.push_str(line);
                text.push('\n');
            }
            let _ = writeln!(text, "{fence}");
            if *left_out > 0 {
                let _ = writeln!(
                    text,
                    "\n✂️ {left_out} more line{} of this diff {} not shown (at most {MAX_DIFF_LINES} lines per file).",
                    if *left_out == 1 { "" } else { "s" },
                    if *left_out == 1 { "is" } else { "are" },
                );
            }
        }
        FileDiff::NotText(why) => {
            let _ = writeln!(
                text,
                "Not shown as lines ({why}): {} → {}",
                hash_line(&file.before),
                hash_line(&file.after)
            );
        }
        FileDiff::Withheld => {
            let _ = writeln!(
                text,
                "Not shown as lines ({WITHHELD}): {} → {}",
                hash_line(&file.before),
                hash_line(&file.after)
            );
        }
    }
    text.push_str("\n</details>\n");
    text
}

/// A blob as the attribute tables show it (`sha256:…` and a size); other values as their text.
fn hash_line(shown: &Shown) -> String {
    match shown {
        Shown::Blob { sha256, bytes } => {
            format!(
                "<code>sha256:{sha256}…</code> ({} bytes)",
                thousands(*bytes)
            )
        }
        other => {
            let mut out = String::new();
            push_html(&mut out, &other.to_string());
            out
        }
    }
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

fn code_list(names: &[String]) -> String {
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("<code>");
        push_html(&mut out, name);
        out.push_str("</code>");
    }
    out
}

/// The longest run of backticks in `lines`: the fence around them must be longer.
fn longest_backticks(lines: &[String]) -> usize {
    let mut longest = 0;
    for line in lines {
        let mut run = 0;
        for c in line.chars() {
            if c == '`' {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
    }
    longest
}

/// `s` appended to `text` with HTML's special characters as entities.
fn push_html(text: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => text.push_str("&amp;"),
            '<' => text.push_str("&lt;"),
            '>' => text.push_str("&gt;"),
            '"' => text.push_str("&quot;"),
            c => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::fixtures::{rc, summary};

    fn review_of(addresses: &[&str]) -> Review {
        let changes: Vec<String> = addresses.iter().map(|a| rc(a, r#"["update"]"#)).collect();
        Review::new(
            summary(&changes.join(",")),
            &[],
            Some("c.example.com".into()),
            None,
        )
    }

    #[test]
    fn each_file_is_tied_to_the_groups_that_roll_for_it() {
        let review = review_of(&[
            "aws_launch_template.master-us-test-1a-masters-c-example-com",
            "aws_launch_template.nodes-c-example-com",
            "aws_s3_object.nodeupconfig-spot",
            "aws_s3_object.manifests-etcdmanager-events-master-us-test-1a",
            "aws_s3_object.c-example-com-addons-coredns-addons-k8s-io-k8s-1-12",
            "aws_s3_object.cluster-completed-spec",
        ]);
        let groups: Vec<Groups> = review
            .summary
            .changes
            .iter()
            .map(|c| groups(&review, c))
            .collect();
        let these = |g: &str| Groups::These(vec![g.to_string()]);
        assert_eq!(
            groups,
            [
                these("master-us-test-1a"),
                these("nodes"),
                these("spot"),
                these("master-us-test-1a"),
                Groups::None,
                Groups::All(vec![
                    "master-us-test-1a".into(),
                    "nodes".into(),
                    "spot".into()
                ]),
            ]
        );
    }

    #[test]
    fn a_diff_line_cannot_end_its_code_block_or_its_details() {
        let review = review_of(&["aws_s3_object.kops-version-txt"]);
        let file = FileChange {
            change: 0,
            attribute: "content",
            before: Shown::Blob {
                sha256: "0123456789ab".into(),
                bytes: 1234,
            },
            after: Shown::Sensitive,
            diff: FileDiff::Lines {
                lines: vec![
                    "@@ -1 +1 @@".into(),
                    "-````".into(),
                    "+</details><b>x</b>".into(),
                ],
                left_out: 1,
            },
        };
        assert_eq!(
            markdown_item(&review, &file),
            "\n<details><summary><b>update</b> <code>aws_s3_object.kops-version-txt</code> <code>content</code>: all instance groups need a rolling update</summary>\n\n`````diff\n@@ -1 +1 @@\n-````\n+</details><b>x</b>\n`````\n\n✂️ 1 more line of this diff is not shown (at most 200 lines per file).\n\n</details>\n"
        );
        let withheld = FileChange {
            diff: FileDiff::Withheld,
            ..file
        };
        assert_eq!(
            markdown_item(&review, &withheld),
            "\n<details><summary><b>update</b> <code>aws_s3_object.kops-version-txt</code> <code>content</code>: all instance groups need a rolling update</summary>\n\nNot shown as lines (it holds a secret that masking cannot cut out line by line): <code>sha256:0123456789ab…</code> (1,234 bytes) → (sensitive)\n\n</details>\n"
        );
    }
}

//! Decoded line diffs of the files kops manages through Terraform: an `aws_s3_object`'s `content`
//! (the managed files kops writes to `data/aws_s3_object_*`: the nodeup configs,
//! `cluster-completed.spec`, manifests, addons) and an `aws_launch_template`'s `user_data` (the
//! base64 of `data/aws_launch_template_*_user_data`, kops's nodeup script). Elsewhere in the
//! summary these are blobs (a hash and a size); a Kubernetes upgrade would show only as a changed
//! hash.
//!
//! The first pass reads every change's `before` and `after` as [`FileAttributes`]: only the
//! `content` and `user_data` strings are kept, the rest is skipped as before, and only for an
//! update or replacement of those two types whose file changed ([`pending`]); once the plan's
//! secrets are all known, [`file_changes`] decodes them. No pass is added. The text is decoded
//! as kops writes it: user data is base64 of a shell script, or of a MIME multipart archive of
//! 7-bit text parts when the instance group has `additionalUserData` (kops:
//! pkg/model/resources/nodeup.go, AWSMultipartMIME), and with `compressUserData` the nodeup
//! configuration inside the script is one `echo "<gzip+base64>" | base64 -d | gzip -d > FILE`
//! line, which is shown decoded. Anything else that is not text (gzip or binary user data, a
//! NUL byte) falls back to the hash line.
//!
//! Secrets: a side Terraform marks sensitive, or equal to one of the plan's sensitive values as a
//! whole, is never decoded. The decoded text of both sides is masked before the diff is made,
//! with every secret learned outside the plan and every sensitive string of the plan, in every
//! form [`crate::redact`] knows (a multi-line secret whole, its lines, JSON and HCL escaping,
//! base64 inside a longer text). What masking cannot cut out line by line (a secret split across
//! lines, base64 of one wrapped at another width) is found by [`Masks::holds_split`]: then the
//! file is withheld ([`FileDiff::Withheld`]) rather than shown.

use std::borrow::Cow;
use std::fmt;
use std::io::Read as _;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::json_ref::JsonRef;
use super::raw::RawResourceChange;
use super::secrets::{Secrets, is_unmarked};
use super::summary::{Action, FileChange, FileDiff};
use crate::redact::Masks;

/// Unchanged lines shown around each change.
pub(crate) const CONTEXT_LINES: usize = 3;
/// Lines of a file's diff shown at most (hunk headers included); the rest is counted.
pub(crate) const MAX_DIFF_LINES: usize = 200;
/// Characters of one diff line shown at most.
const MAX_LINE_CHARS: usize = 500;
/// A decoded side larger than this (bytes) is not diffed.
const MAX_DECODED_BYTES: usize = 4 << 20;
/// A side with more lines than this is not diffed (the diff's cost grows with lines times changes).
const MAX_DIFF_INPUT_LINES: usize = 10_000;

/// The attribute of a resource type that holds a file the review decodes.
pub(crate) fn decoded_attribute(resource_type: &str) -> Option<&'static str> {
    match resource_type {
        "aws_s3_object" => Some("content"),
        "aws_launch_template" => Some("user_data"),
        _ => None,
    }
}

/// A change's `before` or `after` as the first pass reads it: the attributes that may hold a
/// file, when they are strings; every other member is skipped as `IgnoredAny` skips it, so the
/// first pass costs what it did (issue 21). Any JSON reads as one: what is not an object holds
/// no file.
#[derive(Debug, Default)]
pub(super) struct FileAttributes {
    content: Option<String>,
    user_data: Option<String>,
}

impl FileAttributes {
    /// What the quick reader (`plan::quick`) found, as serde's reading below would find it.
    pub(super) fn new(content: Option<String>, user_data: Option<String>) -> Self {
        FileAttributes { content, user_data }
    }

    /// What the first pass reads of a value already read as a [`JsonRef`] (whose repeated
    /// members keep their last value, as the reading above does): the `content` and
    /// `user_data` strings of an object; any other value of theirs is none.
    pub(super) fn of(value: &JsonRef) -> Self {
        let JsonRef::Object(members) = value else {
            return Self::default();
        };
        let text = |name: &str| {
            members
                .iter()
                .find(|(key, _)| key == name)
                .and_then(|(_, v)| match v {
                    JsonRef::String(s) => Some(s.to_string()),
                    _ => None,
                })
        };
        FileAttributes::new(text("content"), text("user_data"))
    }

    fn get(&self, attribute: &str) -> Option<&str> {
        match attribute {
            "content" => self.content.as_deref(),
            "user_data" => self.user_data.as_deref(),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for FileAttributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FileAttributesVisitor)
    }
}

struct FileAttributesVisitor;

/// A member's name, told apart without copying it.
enum Key {
    Content,
    UserData,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(match s {
                    "content" => Key::Content,
                    "user_data" => Key::UserData,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// A string, or `None` for any other value (skipped).
struct MaybeString(Option<String>);

impl<'de> Deserialize<'de> for MaybeString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<MaybeString, E> {
                Ok(MaybeString(Some(s)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MaybeString, E> {
                Ok(MaybeString(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MaybeString, A::Error> {
                IgnoredAny.visit_seq(seq).map(|_| MaybeString(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaybeString, A::Error> {
                IgnoredAny.visit_map(map).map(|_| MaybeString(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Visitor<'de> for FileAttributesVisitor {
    type Value = FileAttributes;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileAttributes, A::Error> {
        let mut out = FileAttributes::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Content => out.content = map.next_value::<MaybeString>()?.0,
                Key::UserData => out.user_data = map.next_value::<MaybeString>()?.0,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<FileAttributes, E> {
        Ok(FileAttributes::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<FileAttributes, E> {
        Ok(FileAttributes::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<FileAttributes, E> {
        Ok(FileAttributes::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<FileAttributes, E> {
        Ok(FileAttributes::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<FileAttributes, E> {
        Ok(FileAttributes::default())
    }
    fn visit_unit<E: de::Error>(self) -> Result<FileAttributes, E> {
        Ok(FileAttributes::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<FileAttributes, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| FileAttributes::default())
    }
}

/// A candidate's two sides, kept by the first pass until every secret of the plan is known.
#[derive(Debug)]
pub(super) struct Pending {
    index: usize,
    attribute: &'static str,
    before: String,
    after: String,
}

/// What the first pass keeps of the change that will be `index` in the summary: its file's two
/// sides, when it is a [`candidate`] whose file changed, both sides strings that Terraform
/// neither marks sensitive nor leaves unknown.
pub(super) fn pending(
    index: usize,
    rc: &RawResourceChange<FileAttributes>,
    action: Action,
) -> Option<Pending> {
    if rc.mode.as_deref().is_some_and(|m| m != "managed")
        || !(action == Action::Update || action.is_replace())
    {
        return None;
    }
    let attribute = decoded_attribute(&rc.resource_type)?;
    let c = &rc.change;
    if marked(&c.before_sensitive, attribute)
        || marked(&c.after_sensitive, attribute)
        || marked(&c.after_unknown, attribute)
    {
        return None;
    }
    let (before, after) = (c.before.as_ref()?, c.after.as_ref()?);
    let (before, after) = (before.get(attribute)?, after.get(attribute)?);
    if before == after {
        return None;
    }
    Some(Pending {
        index,
        attribute,
        before: before.to_string(),
        after: after.to_string(),
    })
}

/// The file changes of what the first pass kept, now that `secrets` are all known. A side that
/// is one of the plan's sensitive values as a whole is not decoded.
pub(super) fn file_changes(pending: &[Pending], secrets: &Secrets) -> Vec<FileChange> {
    if pending.is_empty() {
        return Vec::new();
    }
    let plan_masks = secrets.plan_masks();
    pending
        .iter()
        .filter(|p| !secrets.is_secret(&p.before) && !secrets.is_secret(&p.after))
        .map(|p| {
            let shown =
                |s: &str| secrets.show(&JsonRef::String(Cow::Borrowed(s)), Some(p.attribute));
            FileChange {
                change: p.index,
                attribute: p.attribute,
                before: shown(&p.before),
                after: shown(&p.after),
                diff: diff(
                    p.attribute,
                    &p.before,
                    &p.after,
                    &[secrets.known(), &plan_masks],
                ),
            }
        })
        .collect()
}

/// A marker tree (`*_sensitive`, `after_unknown`) that marks `attribute` or the whole object.
fn marked(marker: &Option<Value>, attribute: &str) -> bool {
    match marker {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(members)) => members.get(attribute).is_some_and(|m| !is_unmarked(m)),
        _ => false,
    }
}

/// The diff of the two sides of `attribute`, decoded and masked with `masks`.
pub(super) fn diff(attribute: &str, before: &str, after: &str, masks: &[&Masks]) -> FileDiff {
    let (before, after) = match (decode(attribute, before), decode(attribute, after)) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(why), _) | (_, Err(why)) => return FileDiff::NotText(why),
    };
    let (Some(before), Some(after)) = (masked(&before, masks), masked(&after, masks)) else {
        return FileDiff::Withheld;
    };
    if before.lines().count() > MAX_DIFF_INPUT_LINES || after.lines().count() > MAX_DIFF_INPUT_LINES
    {
        return FileDiff::NotText("too many lines to compare");
    }
    line_diff(&before, &after)
}

/// The text of one side: user data base64-decoded, kops's compressed nodeup configuration
/// expanded, line ends as `\n`; or why it is not text.
fn decode(attribute: &str, value: &str) -> Result<String, &'static str> {
    let bytes: Cow<[u8]> = if attribute == "user_data" {
        Cow::Owned(
            STANDARD
                .decode(value.trim_end())
                .map_err(|_| "not base64")?,
        )
    } else {
        Cow::Borrowed(value.as_bytes())
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Err("gzip-compressed");
    }
    if bytes.len() > MAX_DECODED_BYTES {
        return Err("too large to compare");
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| "binary content")?;
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}' | '\u{1b}'))
    {
        return Err("binary content");
    }
    Ok(expand_compressed(&text.replace("\r\n", "\n")))
}

/// kops's nodeup script with `compressUserData`: `echo "<gzip+base64>" | base64 -d | gzip -d > FILE`
/// (kops: pkg/model/resources/nodeup.go, the `CompressUserData` branch of the template).
static COMPRESSED_LINE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r#"^(\s*echo ")([A-Za-z0-9+/=]+)(" \| base64 -d \| gzip -d > \S+\s*)$"#)
        .expect("a valid pattern")
});

/// `text` with each compressed line's blob replaced by a placeholder and followed by what it
/// decodes to (or by nothing, when it does not decode to text: the compressed bytes could hold a
/// secret in a form masking cannot see).
fn expand_compressed(text: &str) -> String {
    if !text.contains("| gzip -d >") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        let Some(parts) = COMPRESSED_LINE.captures(bare) else {
            out.push_str(line);
            continue;
        };
        let decoded = gunzip_base64(&parts[2]);
        out.push_str(&parts[1]);
        out.push_str(match decoded {
            Some(_) => "[gzip+base64 of the lines below, decoded by kopsform]",
            None => "[gzip+base64 that does not decode to text]",
        });
        out.push_str(&parts[3]);
        out.push('\n');
        if let Some(decoded) = decoded {
            out.push_str(&decoded);
            if !decoded.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("[end of the decoded gzip+base64]\n");
        }
    }
    out
}

fn gunzip_base64(blob: &str) -> Option<String> {
    let compressed = STANDARD.decode(blob).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_DECODED_BYTES as u64)
        .read_to_string(&mut text)
        .ok()?;
    let binary = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'));
    (!binary).then(|| text.replace("\r\n", "\n"))
}

/// `text` masked with each of `masks`; `None` when a secret is left that masking cannot cut out.
fn masked(text: &str, masks: &[&Masks]) -> Option<String> {
    let mut out = text.to_string();
    for m in masks {
        if m.is_match(&out) {
            out = m.mask(&out);
        }
    }
    if masks.iter().any(|m| m.holds_split(&out)) {
        return None;
    }
    Some(out)
}

/// A unified diff of two texts, [`CONTEXT_LINES`] lines of context, at most [`MAX_DIFF_LINES`].
fn line_diff(before: &str, after: &str) -> FileDiff {
    let diff = TextDiff::from_lines(before, after);
    let mut lines = Vec::new();
    let mut left_out = 0;
    let mut push = |line: String| {
        if lines.len() < MAX_DIFF_LINES {
            lines.push(line);
        } else {
            left_out += 1;
        }
    };
    for hunk in diff
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .iter_hunks()
    {
        push(hunk.header().to_string());
        for change in hunk.iter_changes() {
            let sign = match change.tag() {
                ChangeTag::Equal => ' ',
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
            };
            let text = change.value();
            let text = text.strip_suffix('\n').unwrap_or(text);
            let mut line = String::with_capacity(text.len().min(MAX_LINE_CHARS) + 1);
            line.push(sign);
            match text.char_indices().nth(MAX_LINE_CHARS) {
                Some((cut, _)) => {
                    line.push_str(&text[..cut]);
                    line.push_str(&format!(
                        " [{} more characters]",
                        text[cut..].chars().count()
                    ));
                }
                None => line.push_str(text),
            }
            push(line);
        }
    }
    FileDiff::Lines { lines, left_out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::summary::Shown;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    fn lines(d: &FileDiff) -> Vec<&str> {
        match d {
            FileDiff::Lines { lines, .. } => lines.iter().map(String::as_str).collect(),
            other => panic!("not lines: {other:?}"),
        }
    }

    #[test]
    fn object_content_is_diffed_as_it_is_with_three_lines_of_context() {
        let before = "a\nb\nc\nd\nKubernetesVersion: 1.34.0\ne\nf\ng\nh\n";
        let after = before.replace("1.34.0", "1.35.1");
        let d = diff("content", before, &after, &[]);
        assert_eq!(
            lines(&d),
            [
                "@@ -2,7 +2,7 @@",
                " b",
                " c",
                " d",
                "-KubernetesVersion: 1.34.0",
                "+KubernetesVersion: 1.35.1",
                " e",
                " f",
                " g"
            ]
        );
    }

    #[test]
    fn user_data_is_base64_decoded() {
        let before = "#!/bin/bash\nset -o errexit\nNODEUP_HASH=aaa\n";
        let after = "#!/bin/bash\nset -o errexit\nNODEUP_HASH=bbb\n";
        let d = diff("user_data", &b64(before), &b64(after), &[]);
        assert_eq!(
            lines(&d),
            [
                "@@ -1,3 +1,3 @@",
                " #!/bin/bash",
                " set -o errexit",
                "-NODEUP_HASH=aaa",
                "+NODEUP_HASH=bbb"
            ]
        );
    }

    #[test]
    fn mime_multipart_user_data_is_text_with_its_line_ends_made_plain() {
        // As kops writes it with additionalUserData (pkg/model/resources/nodeup.go).
        let mime = |extra: &str| {
            format!(
                "Content-Type: multipart/mixed; boundary=\"MIMEBOUNDARY\"\r\nMIME-Version: 1.0\r\n\r\n--MIMEBOUNDARY\r\nContent-Disposition: attachment; filename=\"nodeup.sh\"\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: text/x-shellscript\r\nMime-Version: 1.0\r\n\r\n#!/bin/bash\necho nodeup\r\n--MIMEBOUNDARY\r\nContent-Disposition: attachment; filename=\"extra.sh\"\r\nContent-Transfer-Encoding: 7bit\r\nContent-Type: text/x-shellscript\r\nMime-Version: 1.0\r\n\r\n#!/bin/sh\necho {extra}\r\n--MIMEBOUNDARY--\r\n"
            )
        };
        let d = diff("user_data", &b64(&mime("one")), &b64(&mime("two")), &[]);
        assert_eq!(
            lines(&d),
            [
                "@@ -16,5 +16,5 @@",
                " Mime-Version: 1.0",
                " ",
                " #!/bin/sh",
                "-echo one",
                "+echo two",
                " --MIMEBOUNDARY--"
            ]
        );
    }

    fn gzip_base64(text: &str) -> String {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        STANDARD.encode(gz.finish().unwrap())
    }

    #[test]
    fn kops_compressed_nodeup_configuration_is_shown_decoded() {
        let script = |version: &str| {
            format!(
                "ensure-install-dir\n\necho \"{}\" | base64 -d | gzip -d > conf/kube_env.yaml\n\ndownload-release\n",
                gzip_base64(&format!(
                    "ClusterName: c\nKubernetesVersion: {version}\nUpdatePolicy: automatic\n"
                ))
            )
        };
        let d = diff(
            "user_data",
            &b64(&script("1.34.0")),
            &b64(&script("1.35.1")),
            &[],
        );
        assert_eq!(
            lines(&d),
            [
                "@@ -2,7 +2,7 @@",
                " ",
                " echo \"[gzip+base64 of the lines below, decoded by kopsform]\" | base64 -d | gzip -d > conf/kube_env.yaml",
                " ClusterName: c",
                "-KubernetesVersion: 1.34.0",
                "+KubernetesVersion: 1.35.1",
                " UpdatePolicy: automatic",
                " [end of the decoded gzip+base64]",
                " "
            ]
        );
    }

    #[test]
    fn binary_gzip_and_undecodable_sides_fall_back_to_the_hash_line() {
        let gz = gzip_base64("#!/bin/bash\necho hi\n");
        let plain = b64("#!/bin/bash\n");
        assert_eq!(
            diff("user_data", &plain, &gz, &[]),
            FileDiff::NotText("gzip-compressed")
        );
        assert_eq!(
            diff("user_data", "not base64!", &plain, &[]),
            FileDiff::NotText("not base64")
        );
        assert_eq!(
            diff(
                "user_data",
                &STANDARD.encode([0xff, 0xfe, 0x00]),
                &plain,
                &[]
            ),
            FileDiff::NotText("binary content")
        );
        assert_eq!(
            diff("content", "a\u{0}b", "a", &[]),
            FileDiff::NotText("binary content")
        );
    }

    #[test]
    fn a_long_diff_is_cut_and_counts_what_it_left_out_and_long_lines_are_cut() {
        let before: String = (0..300).map(|i| format!("line {i}\n")).collect();
        let after: String = (0..300).map(|i| format!("changed {i}\n")).collect();
        match diff("content", &before, &after, &[]) {
            FileDiff::Lines { lines, left_out } => {
                assert_eq!(lines.len(), MAX_DIFF_LINES);
                assert_eq!(lines.len() + left_out, 1 + 600);
            }
            other => panic!("{other:?}"),
        }
        let long = "x".repeat(MAX_LINE_CHARS + 7);
        let d = diff("content", "a\n", &format!("{long}\n"), &[]);
        assert_eq!(
            lines(&d)[2],
            format!("+{} [7 more characters]", &long[..MAX_LINE_CHARS])
        );
    }

    /// A plan of one update of `address` whose values are `before` and `after`, plus `extra`
    /// (fields of the change).
    fn plan(address: &str, before: &str, after: &str, extra: &str) -> String {
        let (ty, name) = address.split_once('.').unwrap();
        format!(
            r#"{{"format_version":"1.2","applyable":true,"resource_changes":[{{"address":"{address}","mode":"managed","type":"{ty}","name":"{name}","change":{{"actions":["update"],"before":{before},"after":{after}{extra}}}}}],"variables":{{"v":{{"value":"whole-secret-9a7c\n"}}}},"configuration":{{"root_module":{{"variables":{{"v":{{"sensitive":true}}}}}}}}}}"#
        )
    }

    fn files(text: &str) -> Vec<FileChange> {
        crate::plan::read::summarize(text).unwrap().files
    }

    #[test]
    fn the_first_pass_keeps_only_changed_files_that_are_not_secret() {
        let changed = files(&plan(
            "aws_s3_object.nodeupconfig-nodes",
            r#"{"content":"a\nb\n","tags":{"x":[1,{"content":2}]},"n":null}"#,
            r#"{"content":"a\nc\n","tags":{"x":[1,{"content":2}]},"n":null}"#,
            "",
        ));
        assert_eq!(
            changed,
            [FileChange {
                change: 0,
                attribute: "content",
                before: Shown::Blob {
                    sha256: "911169ddaaf1".into(),
                    bytes: 4
                },
                after: Shown::Blob {
                    sha256: "b72cf6d79181".into(),
                    bytes: 4
                },
                diff: FileDiff::Lines {
                    lines: vec![
                        "@@ -1,2 +1,2 @@".into(),
                        " a".into(),
                        "-b".into(),
                        "+c".into()
                    ],
                    left_out: 0
                }
            }]
        );
        // Not a file: another type, another attribute, a content that is not a string.
        for (address, before, after) in [
            (
                "aws_instance.x",
                r#"{"user_data":"YQ=="}"#,
                r#"{"user_data":"Yg=="}"#,
            ),
            ("aws_s3_object.x", r#"{"key":"a"}"#, r#"{"key":"b"}"#),
            (
                "aws_s3_object.x",
                r#"{"content":["a"]}"#,
                r#"{"content":["b"]}"#,
            ),
            (
                "aws_s3_object.x",
                r#"{"content":"same"}"#,
                r#"{"content":"same"}"#,
            ),
            ("aws_s3_object.x", "null", r#"{"content":"b"}"#),
        ] {
            assert_eq!(
                files(&plan(address, before, after, "")),
                [],
                "{address} {before}"
            );
        }
        // Marked sensitive or unknown, or a whole sensitive value of the plan: never decoded.
        let (a, b) = (r#"{"content":"a\n"}"#, r#"{"content":"b\n"}"#);
        for extra in [
            r#","after_sensitive":{"content":true}"#,
            r#","before_sensitive":true"#,
            r#","after_unknown":{"content":true}"#,
        ] {
            assert_eq!(files(&plan("aws_s3_object.x", a, b, extra)), [], "{extra}");
        }
        let whole = r#"{"content":"whole-secret-9a7c\n"}"#;
        assert_eq!(files(&plan("aws_s3_object.x", a, whole, "")), []);
        // Holding the plan's secret inside: decoded, the secret masked (with its line end).
        let inside = r#"{"content":"token: whole-secret-9a7c\n\n"}"#;
        let decoded = files(&plan("aws_s3_object.x", a, inside, ""));
        assert_eq!(decoded[0].after, Shown::Sensitive);
        assert_eq!(
            decoded[0].diff,
            FileDiff::Lines {
                lines: vec!["@@ -1 +1 @@".into(), "-a".into(), "+token: ***".into()],
                left_out: 0
            }
        );
    }

    const CANARY: &str = "CANARY-filediff-5e1f0c9a-token";

    #[test]
    fn a_secret_is_masked_plain_json_escaped_and_base64_and_withheld_when_split() {
        let masks = Masks::of([CANARY]);
        let before = "token: old\n";
        let plain = format!("token: {CANARY}\n");
        let d = diff("content", before, &plain, &[&masks]);
        assert_eq!(lines(&d), ["@@ -1 +1 @@", "-token: old", "+token: ***"]);
        // Base64 inside a longer text (a manifest's data), at each offset.
        for prefix in ["", "a", "ab"] {
            let encoded = b64(&format!("{prefix}{CANARY}{prefix}"));
            let after = format!("data: {encoded}\n");
            let d = diff("content", before, &after, &[&masks]);
            let shown = lines(&d).join("\n");
            assert!(!shown.contains(&encoded), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        // JSON-escaped in a JSON file, as Go writes it.
        let quoted = "pa\"ss<&>word-8c1d";
        let escaped = "pa\\\"ss\\u003c\\u0026\\u003eword-8c1d";
        let json = format!("{{\"token\":\"{escaped}\"}}\n");
        let d = diff("content", before, &json, &[&Masks::of([quoted])]);
        assert_eq!(
            lines(&d),
            ["@@ -1 +1 @@", "-token: old", "+{\"token\":\"***\"}"]
        );
        // Split across lines, or its base64 wrapped at 64: withheld.
        for split in [
            format!("token: {}\\\n  {}\n", &CANARY[..10], &CANARY[10..]),
            format!("token: >\n  {}\n  {}\n", &CANARY[..10], &CANARY[10..]),
        ] {
            assert_eq!(
                diff("content", before, &split, &[&masks]),
                FileDiff::Withheld,
                "{split}"
            );
        }
        let wrapped: String = b64(&format!("key={CANARY};"))
            .as_bytes()
            .chunks(16)
            .map(|c| format!("  {}\n", String::from_utf8_lossy(c)))
            .collect();
        assert_eq!(
            diff("content", before, &wrapped, &[&masks]),
            FileDiff::Withheld
        );
        // In user data: decoded, then masked.
        let d = diff("user_data", &b64(before), &b64(&plain), &[&masks]);
        assert_eq!(lines(&d), ["@@ -1 +1 @@", "-token: old", "+token: ***"]);
    }
}

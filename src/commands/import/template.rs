//! The template: kops's documents, cleaned and walked, written as one handlebars file with a
//! comment at the top, and what it must render back to (`Imported`). In: `Input`. Out: the template
//! and the import's record; `first_difference` checks a rendering against it.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde_yaml::Value as Yaml;

use crate::render::manifest::{kind, metadata_name};

use super::leftovers::clean;
use super::references::{Entry, Input, Walker};

/// The template, what it must render to, and what the import did.
#[derive(Debug)]
pub(crate) struct Imported {
    pub(crate) template: String,
    /// The documents the template renders to with the values it was made from.
    pub(crate) expected: Vec<Yaml>,
    /// Values that became references.
    pub(crate) references: Vec<Entry>,
    /// Strings left as they were.
    pub(crate) literals: Vec<Entry>,
    /// Values left out because they hold a sensitive output's value.
    pub(crate) sensitive: Vec<Entry>,
    /// kops's leftovers that were dropped (`metadata.generation`, ...), each once.
    pub(crate) dropped: Vec<String>,
    /// Values equal to several outputs: the value and every reference, the chosen one first.
    pub(crate) ambiguous: IndexMap<String, Vec<String>>,
    pub(crate) warnings: Vec<String>,
    /// `Cluster`, `2 InstanceGroups`.
    pub(crate) documents: String,
}

/// Builds the template from kops's documents.
pub(crate) fn build(input: &Input) -> Result<Imported, String> {
    let clusters: Vec<&Yaml> = input
        .cluster
        .iter()
        .filter(|d| kind(d) == "Cluster")
        .collect();
    match clusters.as_slice() {
        [one] if metadata_name(one) == input.name => {}
        [one] => {
            return Err(format!(
                "kops printed the Cluster `{}`, not `{}`",
                metadata_name(one),
                input.name
            ));
        }
        _ => {
            return Err(format!(
                "kops printed {} Cluster documents for one cluster",
                clusters.len()
            ));
        }
    }
    if let Some(other) = input
        .cluster
        .iter()
        .chain(&input.groups)
        .find(|d| !matches!(kind(d).as_str(), "Cluster" | "InstanceGroup"))
    {
        return Err(format!(
            "kops printed a document of kind `{}`, expected Cluster and InstanceGroup",
            kind(other)
        ));
    }
    let mut walker = Walker::new(input);
    let mut dropped: Vec<String> = Vec::new();
    let mut expected = Vec::new();
    let mut texts = Vec::new();
    let documents: Vec<Yaml> = clusters
        .into_iter()
        .cloned()
        .chain(input.groups.iter().cloned())
        .collect();
    for mut document in documents {
        for leftover in clean(&mut document, &input.config_bases) {
            if !dropped.contains(&leftover) {
                dropped.push(leftover);
            }
        }
        let label = format!("{} {}", kind(&document), metadata_name(&document));
        let Some((kept, templated)) = walker.walk(&label, &mut Vec::new(), &document) else {
            continue;
        };
        let text = serde_yaml::to_string(&templated).map_err(|e| e.to_string())?;
        texts.push(text);
        expected.push(kept);
    }
    let mut template = header(
        input,
        &walker.name_ref,
        &walker.ambiguous,
        &walker.sensitive,
        &dropped,
    );
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            template.push_str("---\n");
        }
        let mut text = escape_mustaches(text);
        for (token, reference) in &walker.tokens {
            text = text.replacen(token.as_str(), reference, 1);
        }
        template.push_str(&text);
    }
    let groups = expected.len().saturating_sub(1);
    let documents = match groups {
        0 => "Cluster, no InstanceGroup".to_string(),
        1 => "Cluster, 1 InstanceGroup".to_string(),
        n => format!("Cluster, {n} InstanceGroups"),
    };
    Ok(Imported {
        template,
        expected,
        references: walker.references,
        literals: walker.literals,
        sensitive: walker.sensitive,
        dropped,
        ambiguous: walker.ambiguous,
        warnings: walker.warnings,
        documents,
    })
}

/// `text` with every `{{` made literal for handlebars: `\{{`; where backslashes come right before
/// the braces (which would turn them into a mustache again), the backslashes end at an empty
/// comment first.
fn escape_mustaches(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let before = &rest[..i];
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        out.push_str(&before[..before.len() - backslashes]);
        if backslashes > 0 {
            // `\\{{` is one backslash and a mustache: n + 1 backslashes before `{{!}}` give n.
            out.push_str(&"\\".repeat(backslashes + 1));
            out.push_str("{{!}}");
        }
        out.push_str("\\{{");
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

/// The handlebars comment at the top of the template: where it came from and what to check.
fn header(
    input: &Input,
    name_ref: &str,
    ambiguous: &IndexMap<String, Vec<String>>,
    sensitive: &[Entry],
    dropped: &[String],
) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "  Imported by `kopsform import` from the cluster {} (`kops get cluster` and\n  `kops get instancegroups`). Values equal to a prerequisites output are references to it; the\n  cluster name is {{{{{name_ref}}}}} and the state store {{{{cluster.state}}}}. docs/import.md",
        input.name,
    );
    if !dropped.is_empty() {
        let _ = writeln!(
            body,
            "  Dropped (kops fills them in): {}.",
            dropped.join(", ")
        );
    }
    if !ambiguous.is_empty() {
        body.push_str(
            "  Values equal to several outputs use the first in output order; check each of these:\n",
        );
        for (value, refs) in ambiguous {
            let _ = writeln!(
                body,
                "    {value}: {} (also {})",
                refs[0],
                refs[1..].join(", ")
            );
        }
    }
    if !sensitive.is_empty() {
        body.push_str(
            "  Left out, holding the value of a sensitive output (add them by hand, with a reference):\n",
        );
        for entry in sensitive {
            let _ = writeln!(body, "    {} {}", entry.at, entry.became);
        }
    }
    // Whatever a value holds, the comment ends only where it should.
    format!("{{{{!--\n{}--}}}}\n", body.replace("--}}", "- -}}"))
}

/// Where two lists of documents first differ, for the self-check.
pub(super) fn first_difference(expected: &[Yaml], got: &[Yaml]) -> Option<String> {
    if expected.len() != got.len() {
        return Some(format!(
            "{} documents instead of {}",
            got.len(),
            expected.len()
        ));
    }
    expected
        .iter()
        .zip(got)
        .find_map(|(a, b)| (a != b).then(|| format!("document {} {}", kind(a), metadata_name(a))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::import::fixtures::Case;
    use crate::commands::import::kops::parse_documents;
    use crate::render::template::Renderer;
    use serde_json::json;

    #[test]
    fn the_template_renders_back_to_what_kops_printed() {
        let (imported, rendered) = Case::new(&[]).import();
        let again = parse_documents(&rendered).unwrap();
        assert_eq!(first_difference(&imported.expected, &again), None);
        let template = &imported.template;
        for want in [
            "  name: \"{{cluster_name}}\"\n",
            "  networkID: \"{{vpc_id}}\"\n",
            "  - id: \"{{subnet_ids.[eu-west-1a]}}\"\n",
            "    name: \"{{azs.[0]}}\"\n",
            "  masterPublicName: \"api.{{cluster_name}}\"\n",
            // The state store only in configBase (a dry run's snapshot must not move the keys).
            "  keyStore: \"s3://state/keys/{{cluster_name}}\"\n",
            "  odd: {{json odd}}\n",
            "    kops.k8s.io/cluster: \"{{cluster_name}}\"\n",
            "  - \"{{azs.[0]}}\"\n",
        ] {
            assert!(template.contains(want), "{want:?} not in\n{template}");
        }
        // The leftovers are gone from the template and from what it must render to.
        for gone in [
            "creationTimestamp",
            "generation",
            "configBase",
            "status",
            "ready",
        ] {
            assert!(!rendered.contains(gone), "{gone} in\n{rendered}");
        }
        assert!(
            rendered.contains("note: literal {{braces}} and \\{{ escaped }}\n"),
            "{rendered}"
        );
        // Equal to two outputs: the first in output order, and the comment says so.
        assert!(
            template.contains("    eu-west-1a: azs.[0] (also master_azs.[0])\n"),
            "{template}"
        );
        assert_eq!(imported.documents, "Cluster, 1 InstanceGroup");
        assert!(
            imported
                .dropped
                .contains(&"metadata.generation".to_string())
        );
    }

    #[test]
    fn literal_braces_and_backslashes_survive_rendering() {
        let renderer = Renderer::new();
        for text in [
            "{{x}}",
            "a {{{x}}} b {{",
            "\\{{x}}",
            "\\\\{{x}}",
            "ends with \\",
            "}} {{{{raw}}}}",
            "{{!-- c --}}",
        ] {
            let rendered = renderer
                .render("t", &escape_mustaches(text), &json!({}))
                .unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(rendered, text);
        }
    }
}

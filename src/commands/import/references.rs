//! Turning values into references: a string equal to a prerequisites output, the cluster name or
//! the state store becomes a handlebars reference; sensitive values are left out. In: `Input` (the
//! documents, the run's values). Out: kept and templated documents, an `Entry` per value.

use std::collections::HashMap;
use std::fmt::Write as _;

use indexmap::IndexMap;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::redact;
use crate::values::outputs::Outputs;

/// What an import starts from: the documents kops printed and the values of the run.
pub(crate) struct Input<'a> {
    /// `kops get cluster -o yaml`: the Cluster.
    pub(crate) cluster: Vec<Yaml>,
    /// `kops get instancegroups -o yaml`, in kops's order.
    pub(crate) groups: Vec<Yaml>,
    pub(crate) name: &'a str,
    pub(crate) state: &'a str,
    /// The spellings of the default `spec.configBase` (`<state>/<name>`), which are left out.
    pub(crate) config_bases: Vec<String>,
    pub(crate) outputs: &'a Outputs,
    /// `[cluster] sensitive`: the sensitive outputs the template may reference.
    pub(crate) allowed: &'a [String],
    /// The template context the template will be rendered with.
    pub(crate) context: &'a Json,
}

/// One scalar of the documents, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `Cluster c.example.com spec.networkID`.
    pub(crate) at: String,
    /// The value as kops printed it (`(sensitive)` for the value of a sensitive output).
    pub(crate) value: String,
    /// What the template holds instead (`{{vpc_id}}`), or why it is missing.
    pub(crate) became: String,
}

/// A step of a path into a document or an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// `spec.subnets[0].id`, `metadata.labels."kops.k8s.io/cluster"`.
fn display_path(path: &[Seg]) -> String {
    let mut text = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => {
                let _ = write!(text, "[{i}]");
            }
            Seg::Key(k) => {
                if !text.is_empty() {
                    text.push('.');
                }
                if k.contains('.') || k.is_empty() {
                    let _ = write!(text, "\"{k}\"");
                } else {
                    text.push_str(k);
                }
            }
        }
    }
    text
}

/// A name handlebars reads as a plain path segment.
fn plain_segment(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !["this", "else", "true", "false", "null", "as"].contains(&name)
}

/// The handlebars path of `path` (`private_subnet_ids.[eu-west-1a]`, `azs.[0]`), if it has one.
fn handlebars_path(path: &[Seg]) -> Option<String> {
    let mut text = String::new();
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        match seg {
            Seg::Index(n) => {
                let _ = write!(text, "[{n}]");
            }
            Seg::Key(k) if plain_segment(k) => text.push_str(k),
            Seg::Key(k) if k.is_empty() || k.contains(['[', ']']) => return None,
            Seg::Key(k) => {
                let _ = write!(text, "[{k}]");
            }
        }
    }
    Some(text)
}

fn lookup<'v>(value: &'v Json, path: &[Seg]) -> Option<&'v Json> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(i),
    })
}

/// Every scalar leaf of an output: (path below the output, text, is a string).
fn leaves(value: &Json, path: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, String, bool)>) {
    match value {
        Json::String(s) => out.push((path.clone(), s.clone(), true)),
        Json::Number(n) => out.push((path.clone(), n.to_string(), false)),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                leaves(item, path, out);
                path.pop();
            }
        }
        Json::Object(map) => {
            for (k, item) in map {
                path.push(Seg::Key(k.clone()));
                leaves(item, path, out);
                path.pop();
            }
        }
        Json::Bool(_) | Json::Null => {}
    }
}

/// A reference the template may use for a value.
#[derive(Debug, Clone)]
struct Candidate {
    reference: String,
    sensitive: bool,
}

/// A value of a sensitive output, which must never be written in clear.
#[derive(Debug)]
struct Secret {
    text: String,
    output: String,
}

/// What one string of a document becomes.
enum Replacement {
    /// The whole value is this reference.
    Whole(Candidate),
    /// Literal text and references (the state store prefix, the cluster name inside a value).
    Parts(Vec<Part>),
}

enum Part {
    Text(String),
    Ref(String),
}

pub(super) struct Walker<'a> {
    input: &'a Input<'a>,
    /// String value -> the references that give it, in output order.
    candidates: HashMap<String, Vec<Candidate>>,
    secrets: Vec<Secret>,
    pub(super) name_ref: String,
    token_prefix: String,
    /// Placeholder token -> template text.
    pub(super) tokens: Vec<(String, String)>,
    pub(super) references: Vec<Entry>,
    pub(super) literals: Vec<Entry>,
    pub(super) sensitive: Vec<Entry>,
    pub(super) ambiguous: IndexMap<String, Vec<String>>,
    pub(super) warnings: Vec<String>,
}

impl<'a> Walker<'a> {
    pub(super) fn new(input: &'a Input<'a>) -> Self {
        let mut candidates: HashMap<String, Vec<Candidate>> = HashMap::new();
        let mut secrets = Vec::new();
        for (name, value) in &input.outputs.values {
            let sensitive = input.outputs.sensitive.contains(name);
            let allowed = !sensitive || input.allowed.contains(name);
            let mut found = Vec::new();
            leaves(value, &mut Vec::new(), &mut found);
            for (below, text, is_string) in found {
                if sensitive {
                    secrets.push(Secret {
                        text: text.clone(),
                        output: name.clone(),
                    });
                }
                if !is_string || text.is_empty() || !allowed {
                    continue;
                }
                let mut path = vec![Seg::Key(name.clone())];
                path.extend(below);
                // The top-level name, unless a values file, --set or kopsform's own names hide
                // the output there; then `outputs.`, which holds the outputs alone.
                let mut with_outputs = vec![Seg::Key("outputs".to_string())];
                with_outputs.extend(path.iter().cloned());
                let reference = [path, with_outputs].into_iter().find_map(|p| {
                    (lookup(input.context, &p) == Some(&Json::String(text.clone())))
                        .then(|| handlebars_path(&p))
                        .flatten()
                });
                if let Some(reference) = reference {
                    candidates.entry(text).or_default().push(Candidate {
                        reference,
                        sensitive,
                    });
                }
            }
        }
        let name_ref = candidates
            .get(input.name)
            .and_then(|c| c.first())
            .map_or_else(|| "cluster.name".to_string(), |c| c.reference.clone());
        let all_text = format!("{:?}{:?}", input.cluster, input.groups);
        let token_prefix = (0..)
            .map(|n| format!("kopsformimportref{n}n"))
            .find(|p| !all_text.contains(p.as_str()))
            .unwrap_or_default();
        Walker {
            input,
            candidates,
            secrets,
            name_ref,
            token_prefix,
            tokens: Vec::new(),
            references: Vec::new(),
            literals: Vec::new(),
            sensitive: Vec::new(),
            ambiguous: IndexMap::new(),
            warnings: Vec::new(),
        }
    }

    /// The value as it should render, and the same with placeholder tokens where references go;
    /// `None` when the value is left out (it holds a sensitive output's value).
    pub(super) fn walk(
        &mut self,
        doc: &str,
        path: &mut Vec<Seg>,
        value: &Yaml,
    ) -> Option<(Yaml, Yaml)> {
        match value {
            Yaml::Mapping(map) => {
                let mut kept = serde_yaml::Mapping::new();
                let mut templated = serde_yaml::Mapping::new();
                for (k, v) in map {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim_end()
                            .to_string(),
                    };
                    // apiVersion and kind say what the document is; they stay as kops wrote them.
                    if path.is_empty() && (key == "apiVersion" || key == "kind") {
                        kept.insert(k.clone(), v.clone());
                        templated.insert(k.clone(), v.clone());
                        continue;
                    }
                    path.push(Seg::Key(key));
                    if let Some((a, b)) = self.walk(doc, path, v) {
                        kept.insert(k.clone(), a);
                        templated.insert(k.clone(), b);
                    }
                    path.pop();
                }
                Some((Yaml::Mapping(kept), Yaml::Mapping(templated)))
            }
            Yaml::Sequence(items) => {
                let mut kept = Vec::new();
                let mut templated = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    if let Some((a, b)) = self.walk(doc, path, item) {
                        kept.push(a);
                        templated.push(b);
                    }
                    path.pop();
                }
                Some((Yaml::Sequence(kept), Yaml::Sequence(templated)))
            }
            Yaml::String(s) => self.string(doc, path, s),
            Yaml::Number(n) => {
                let text = n.to_string();
                if let Some(secret) = self
                    .secrets
                    .iter()
                    .find(|x| x.text == text && text.len() >= redact::MIN_SECRET_LEN)
                {
                    let output = secret.output.clone();
                    self.leave_out(doc, path, &output, false);
                    return None;
                }
                Some((value.clone(), value.clone()))
            }
            _ => Some((value.clone(), value.clone())),
        }
    }

    fn string(&mut self, doc: &str, path: &[Seg], s: &str) -> Option<(Yaml, Yaml)> {
        let original = Yaml::String(s.to_string());
        let at = format!("{doc} {}", display_path(path));
        let replacement = match self.candidates.get(s) {
            Some(found) if !s.is_empty() => {
                if found.len() > 1 {
                    // The comment at the top lists the value: never a sensitive one.
                    let shown = if found.iter().any(|c| c.sensitive) {
                        "(the value of a sensitive output)".to_string()
                    } else {
                        brief(s)
                    };
                    self.ambiguous
                        .insert(shown, found.iter().map(|c| c.reference.clone()).collect());
                }
                Some(Replacement::Whole(found[0].clone()))
            }
            _ => None,
        };
        let replacement = match replacement {
            Some(r) => Some(r),
            None => {
                if let Some(secret) = self.secrets.iter().find(|x| {
                    x.text == s
                        || (x.text.chars().count() >= redact::MIN_SECRET_LEN
                            && s.contains(x.text.as_str()))
                }) {
                    let (output, whole) = (secret.output.clone(), secret.text == s);
                    self.leave_out(doc, path, &output, whole);
                    return None;
                }
                self.parts(path, s)
            }
        };
        let Some(replacement) = replacement else {
            self.literals.push(Entry {
                at,
                value: brief(s),
                became: String::new(),
            });
            return Some((original.clone(), original));
        };
        let (text, shown, sensitive) = match &replacement {
            Replacement::Whole(c) => {
                let text = if quote_safe(s) {
                    format!("\"{{{{{}}}}}\"", c.reference)
                } else {
                    format!("{{{{json {}}}}}", c.reference)
                };
                (text, format!("{{{{{}}}}}", c.reference), c.sensitive)
            }
            Replacement::Parts(parts) => {
                let inner: String = parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => t.clone(),
                        Part::Ref(r) => format!("{{{{{r}}}}}"),
                    })
                    .collect();
                (format!("\"{inner}\""), inner, false)
            }
        };
        let token = format!("{}{}x", self.token_prefix, self.tokens.len());
        self.tokens.push((token.clone(), text));
        self.references.push(Entry {
            at,
            value: if sensitive {
                "(sensitive)".to_string()
            } else {
                brief(s)
            },
            became: shown,
        });
        Some((original, Yaml::String(token)))
    }

    /// The state store at the start of `spec.configBase` (`{{cluster.state}}/other`) and the
    /// cluster name inside a value (`api.{{cluster.name}}`), when the rest is plain text.
    ///
    /// The state store only there: an isolated dry run points `cluster.state` at a snapshot and
    /// sets `configBase` back to the live one itself, but a key store or backup store made of
    /// `{{cluster.state}}` would follow the snapshot.
    fn parts(&self, path: &[Seg], s: &str) -> Option<Replacement> {
        let name = self.input.name;
        let in_config_base = path == [Seg::Key("spec".into()), Seg::Key("configBase".into())];
        let state = if in_config_base {
            self.input.state.trim_end_matches('/')
        } else {
            ""
        };
        let mut parts = Vec::new();
        let mut rest = s;
        if s == state && !state.is_empty() {
            return Some(Replacement::Whole(Candidate {
                reference: "cluster.state".to_string(),
                sensitive: false,
            }));
        }
        if s == name {
            return Some(Replacement::Whole(Candidate {
                reference: self.name_ref.clone(),
                sensitive: false,
            }));
        }
        if !state.is_empty()
            && let Some(after) = s.strip_prefix(state)
            && after.starts_with('/')
            && quote_safe(state)
        {
            parts.push(Part::Ref("cluster.state".to_string()));
            rest = after;
        }
        if name.chars().count() >= 4 && quote_safe(name) {
            while let Some(i) = find_word(rest, name) {
                if i > 0 {
                    parts.push(Part::Text(rest[..i].to_string()));
                }
                parts.push(Part::Ref(self.name_ref.clone()));
                rest = &rest[i + name.len()..];
            }
        }
        if parts.is_empty() {
            return None;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        // Text beside a reference must need no escaping: no quotes, backslashes or braces.
        let plain = parts.iter().all(|p| match p {
            Part::Text(t) => quote_safe(t) && !t.contains(['{', '}']),
            Part::Ref(_) => true,
        });
        plain.then_some(Replacement::Parts(parts))
    }

    fn leave_out(&mut self, doc: &str, path: &[Seg], output: &str, whole: bool) {
        let allowed = self.input.allowed.iter().any(|a| a == output);
        let at = format!("{doc} {}", display_path(path));
        let why = if allowed {
            format!("holds the value of the sensitive output `{output}` inside a longer value")
        } else if whole {
            format!(
                "is the value of the sensitive output `{output}`, which [cluster] sensitive does not list"
            )
        } else {
            format!(
                "holds the value of the sensitive output `{output}`, which [cluster] sensitive does not list"
            )
        };
        let advice = if allowed || !whole {
            "add the field to the template by hand, with a reference"
        } else {
            "list it in `sensitive` and import again to get a reference, or add the field by hand"
        };
        self.warnings
            .push(format!("{at} {why}: left out of the template; {advice}"));
        self.sensitive.push(Entry {
            at,
            value: "(sensitive)".to_string(),
            became: format!("(sensitive: {output})"),
        });
    }
}

/// The first occurrence of `word` in `text` that is not part of a longer name (no letter or digit
/// beside it).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(word).map(|i| i + from) {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let apart = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if apart(before) && apart(after) {
            return Some(i);
        }
        from = i + word.len();
    }
    None
}

/// A value as the summary shows it: its first line, at most 60 characters.
fn brief(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let short: String = line.chars().take(60).collect();
    if short.len() < s.len() {
        format!("{short}...")
    } else {
        short
    }
}

/// Whether a value can stand between double quotes in YAML as it is (nothing to escape).
fn quote_safe(s: &str) -> bool {
    !s.contains(['"', '\\']) && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::import::fixtures::Case;
    use serde_json::json;

    #[test]
    fn sensitive_values_are_left_out_unless_listed() {
        let (imported, rendered) = Case::new(&[]).import();
        assert!(
            !imported.template.contains("t0ps3cret"),
            "{}",
            imported.template
        );
        assert!(!rendered.contains("t0ps3cret"));
        assert!(!rendered.contains("token:"), "{rendered}");
        assert!(!rendered.contains("manifest:"), "{rendered}");
        let at: Vec<&str> = imported.sensitive.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(
            at,
            [
                "Cluster c.example.com spec.hooks[0].manifest",
                "Cluster c.example.com spec.token"
            ]
        );
        assert!(
            imported.warnings[1].contains("[cluster] sensitive does not list"),
            "{:?}",
            imported.warnings
        );

        // Listed: the whole value becomes a reference; the value inside a longer one stays out.
        let (imported, rendered) = Case::new(&["token"]).import();
        assert!(
            imported.template.contains("  token: \"{{token}}\"\n"),
            "{}",
            imported.template
        );
        assert!(!imported.template.contains("t0ps3cret"));
        assert!(
            rendered.contains("token: \"t0ps3cret-value\""),
            "{rendered}"
        );
        assert_eq!(imported.sensitive.len(), 1);
        let summary = imported.summary("c.example.com", "s3://state", "t.yml");
        assert!(summary.contains("(sensitive) -> {{token}}"), "{summary}");
        assert!(!summary.contains("t0ps3cret"), "{summary}");
    }

    #[test]
    fn an_output_hidden_by_a_value_is_reached_through_outputs() {
        let mut case = Case::new(&[]);
        case.context["vpc_id"] = json!("vpc-from-values-file");
        let (imported, _) = case.import();
        assert!(
            imported
                .template
                .contains("  networkID: \"{{outputs.vpc_id}}\"\n"),
            "{}",
            imported.template
        );
    }

    #[test]
    fn a_config_base_of_its_own_is_kept_and_made_of_the_state_store() {
        let case = Case::new(&[]);
        let (imported, _) = case.import_with(&[]);
        assert!(
            imported
                .template
                .contains("  configBase: \"{{cluster.state}}/{{cluster_name}}\"\n"),
            "{}",
            imported.template
        );
    }

    #[test]
    fn paths_read_as_handlebars_paths() {
        let key = |k: &str| Seg::Key(k.to_string());
        assert_eq!(handlebars_path(&[key("vpc_id")]).unwrap(), "vpc_id");
        assert_eq!(
            handlebars_path(&[key("ids"), key("eu-west-1a")]).unwrap(),
            "ids.[eu-west-1a]"
        );
        assert_eq!(
            handlebars_path(&[key("odd-name"), Seg::Index(2)]).unwrap(),
            "[odd-name].[2]"
        );
        assert_eq!(handlebars_path(&[key("a"), key("x]")]), None);
        assert_eq!(
            display_path(&[key("metadata"), key("labels"), key("kops.k8s.io/cluster")]),
            "metadata.labels.\"kops.k8s.io/cluster\""
        );
        assert_eq!(find_word("api.c.example.com", "c.example.com"), Some(4));
        assert_eq!(find_word("abc.example.com", "c.example.com"), None);
        assert_eq!(brief("line one\nline two"), "line one...");
        assert_eq!(brief(&"x".repeat(70)), format!("{}...", "x".repeat(60)));
    }
}

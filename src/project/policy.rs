//! `[[review.policy]]` rules as tasks.toml writes them: the rule, its comparison, its path into a
//! manifest document, and the checks made when the project is loaded (so a review never meets a
//! rule it cannot evaluate). The review evaluates them (`review::policy`).

use serde::Deserialize;

/// A policy rule: every document of the manifest whose `kind` (and `name` glob) it selects must
/// have `path op value`; one that does not is a violation, reported with `message`.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PolicyRule {
    /// Names the rule in the review (letters, digits, `._-`).
    pub(crate) id: String,
    /// The document kind it selects (`Cluster`, `InstanceGroup`, ...), `*` for every kind.
    pub(crate) kind: String,
    /// A glob on the document's `metadata.name` (default: every name).
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Where the value is: `spec.maxSize`, `spec.etcdClusters[*].etcdMembers[*].encryptedVolume`.
    pub(crate) path: String,
    /// The comparison.
    pub(crate) op: PolicyOp,
    /// What the value is compared with (none for `exists` and `absent`; a list for `in`, `not-in`).
    #[serde(default)]
    pub(crate) value: Option<toml::Value>,
    /// Why the rule exists: shown with each violation.
    pub(crate) message: String,
    /// A value that is not there: a violation (`fail`, the default) or not (`pass`).
    #[serde(default)]
    pub(crate) if_missing: IfMissing,
}

/// The comparisons of a policy rule.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicyOp {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "not-in")]
    NotIn,
    #[serde(rename = "matches")]
    Matches,
    #[serde(rename = "exists")]
    Exists,
    #[serde(rename = "absent")]
    Absent,
}

impl PolicyOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PolicyOp::Eq => "==",
            PolicyOp::Ne => "!=",
            PolicyOp::Lt => "<",
            PolicyOp::Le => "<=",
            PolicyOp::Gt => ">",
            PolicyOp::Ge => ">=",
            PolicyOp::In => "in",
            PolicyOp::NotIn => "not-in",
            PolicyOp::Matches => "matches",
            PolicyOp::Exists => "exists",
            PolicyOp::Absent => "absent",
        }
    }
}

/// What a missing value means for a policy rule.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum IfMissing {
    #[default]
    Fail,
    Pass,
}

/// One step of a policy path: a map key, every element of a list (`[*]`), or one (`[N]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Every,
    Index(usize),
}

/// Parses `spec.etcdClusters[*].etcdMembers[0].encryptedVolume`: keys of letters, digits and
/// `_-/`, separated by dots, each followed by any number of `[*]` or `[N]`.
pub(crate) fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let bad = |why: &str| {
        Err(format!(
            "`path = {path:?}` {why}; write keys separated by dots, `[*]` for every element of a list and `[N]` for one, e.g. \"spec.etcdClusters[*].etcdMembers[*].encryptedVolume\""
        ))
    };
    if path.is_empty() {
        return bad("is empty");
    }
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-/".contains(c))
        {
            return bad("has an empty key or a character other than letters, digits and _-/");
        }
        segments.push(Segment::Key(key.to_string()));
        while !rest.is_empty() {
            let Some(close) = rest.find(']').filter(|_| rest.starts_with('[')) else {
                return bad("has an unclosed or stray bracket");
            };
            let inner = &rest[1..close];
            segments.push(match inner {
                "*" => Segment::Every,
                n if !n.is_empty() && n.len() <= 6 && n.chars().all(|c| c.is_ascii_digit()) => {
                    Segment::Index(n.parse().unwrap_or(0))
                }
                _ => return bad("has a bracket that is neither `[*]` nor `[N]`"),
            });
            rest = &rest[close + 1..];
        }
    }
    Ok(segments)
}

/// Checks the rules for what evaluation cannot report: ids, paths, globs and the values the
/// comparisons need.
pub(crate) fn check_rules(rules: &[PolicyRule]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for (i, rule) in rules.iter().enumerate() {
        let n = i + 1;
        let fail = |why: String| {
            Err::<(), _>(format!("[[review.policy]] rule {n} (`{}`): {why}", rule.id))
        };
        if rule.id.is_empty()
            || !rule
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(format!(
                "[[review.policy]] rule {n}: `id = {:?}` must be letters, digits and ._- (it names the rule in the review)",
                rule.id
            ));
        }
        if !seen.insert(rule.id.as_str()) {
            return fail("another rule has the same id; give each rule its own".into());
        }
        if rule.message.trim().is_empty() {
            return fail("`message` is empty; say what the rule requires and why".into());
        }
        if rule.kind.is_empty() {
            return fail(
                "`kind` is empty; name a document kind (\"InstanceGroup\", \"Cluster\") or \"*\""
                    .into(),
            );
        }
        if let Some(glob) = &rule.name
            && let Err(e) = glob::Pattern::new(glob)
        {
            return fail(format!("`name = {glob:?}` is not a valid glob ({})", e.msg));
        }
        if let Err(why) = parse_path(&rule.path) {
            return fail(why);
        }
        let value = rule.value.as_ref();
        let scalar = |v: &toml::Value| {
            matches!(
                v,
                toml::Value::String(_)
                    | toml::Value::Integer(_)
                    | toml::Value::Float(_)
                    | toml::Value::Boolean(_)
            )
        };
        match rule.op {
            PolicyOp::Exists | PolicyOp::Absent => {
                if value.is_some() {
                    return fail(format!(
                        "`op = \"{}\"` takes no `value`; remove it",
                        rule.op.as_str()
                    ));
                }
            }
            PolicyOp::Eq | PolicyOp::Ne => match value {
                Some(v) if scalar(v) => {}
                _ => {
                    return fail(format!(
                        "`op = \"{}\"` needs a `value` that is a string, number or boolean",
                        rule.op.as_str()
                    ));
                }
            },
            PolicyOp::Lt | PolicyOp::Le | PolicyOp::Gt | PolicyOp::Ge => match value {
                Some(toml::Value::Integer(_) | toml::Value::Float(_)) => {}
                _ => {
                    return fail(format!(
                        "`op = \"{}\"` needs a number `value`",
                        rule.op.as_str()
                    ));
                }
            },
            PolicyOp::In | PolicyOp::NotIn => match value {
                Some(toml::Value::Array(list)) if list.iter().all(scalar) => {}
                _ => {
                    return fail(format!(
                        "`op = \"{}\"` needs a `value` that is a list of strings, numbers or booleans, e.g. [\"t3.medium\", \"t3.large\"]",
                        rule.op.as_str()
                    ));
                }
            },
            PolicyOp::Matches => match value {
                Some(toml::Value::String(glob)) => {
                    if let Err(e) = glob::Pattern::new(glob) {
                        return fail(format!(
                            "`value = {glob:?}` is not a valid glob ({})",
                            e.msg
                        ));
                    }
                }
                _ => return fail("`op = \"matches\"` needs a glob string `value`".into()),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_keys_and_list_steps() {
        assert_eq!(
            parse_path("spec.etcdClusters[*].etcdMembers[0].encryptedVolume").unwrap(),
            [
                Segment::Key("spec".into()),
                Segment::Key("etcdClusters".into()),
                Segment::Every,
                Segment::Key("etcdMembers".into()),
                Segment::Index(0),
                Segment::Key("encryptedVolume".into()),
            ]
        );
        for bad in [
            "",
            "a..b",
            "a[",
            "a[x]",
            "a]b",
            ".a",
            "a b",
            "a[*]x",
            "a[1234567]",
        ] {
            assert!(parse_path(bad).is_err(), "{bad:?}");
        }
    }

    fn rule(op: PolicyOp, value: Option<toml::Value>) -> PolicyRule {
        PolicyRule {
            id: "r".into(),
            kind: "InstanceGroup".into(),
            name: None,
            path: "spec.maxSize".into(),
            op,
            value,
            message: "m".into(),
            if_missing: IfMissing::Fail,
        }
    }

    #[test]
    fn each_comparison_needs_its_kind_of_value() {
        use toml::Value as V;
        let ok = [
            rule(PolicyOp::Le, Some(V::Integer(3))),
            rule(PolicyOp::Eq, Some(V::Boolean(true))),
            rule(PolicyOp::In, Some(V::Array(vec![V::String("a".into())]))),
            rule(PolicyOp::Matches, Some(V::String("t3.*".into()))),
            rule(PolicyOp::Exists, None),
        ];
        for r in &ok {
            check_rules(std::slice::from_ref(r)).unwrap();
        }
        let bad = [
            (
                rule(PolicyOp::Le, Some(V::String("3".into()))),
                "needs a number",
            ),
            (rule(PolicyOp::In, Some(V::String("a".into()))), "list"),
            (
                rule(PolicyOp::Exists, Some(V::Integer(1))),
                "takes no `value`",
            ),
            (rule(PolicyOp::Eq, None), "needs a `value`"),
            (
                rule(PolicyOp::Matches, Some(V::String("a[".into()))),
                "not a valid glob",
            ),
        ];
        for (r, why) in bad {
            let e = check_rules(std::slice::from_ref(&r)).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let mut twice = vec![ok[0].clone(), ok[0].clone()];
        assert!(check_rules(&twice).unwrap_err().contains("same id"));
        twice[1].id = "bad id\n".into();
        assert!(check_rules(&twice).unwrap_err().contains("letters, digits"));
    }
}

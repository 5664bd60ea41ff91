//! Attribute rows: a walk over a change's before and after together, with Terraform's markers,
//! yielding one [`AttributeChange`] per leaf that differs; also how paths are written.

use serde_json::Value;

use super::json_ref::{JsonRef, Members};

use super::raw::RawChange;
use super::secrets::{Secrets, is_true, is_unmarked};
use super::summary::{Action, AttributeChange, Shown};

/// One step of a path: a key (owned for a replace path, borrowed from the values during a walk)
/// or an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step<K = String> {
    Key(K),
    Index(usize),
}

impl<K: AsRef<str>> Step<K> {
    /// The same step as `other`, whatever holds their keys.
    fn same<L: AsRef<str>>(&self, other: &Step<L>) -> bool {
        match (self, other) {
            (Step::Key(a), Step::Key(b)) => a.as_ref() == b.as_ref(),
            (Step::Index(a), Step::Index(b)) => a == b,
            _ => false,
        }
    }
}

impl Step {
    fn from_json(v: &Value) -> Option<Step> {
        match v {
            Value::String(s) => Some(Step::Key(s.clone())),
            Value::Number(n) => n.as_u64().map(|i| Step::Index(i as usize)),
            _ => None,
        }
    }
}

/// `size`, `tags["kubernetes.io/cluster/x"]`, `launch_template[0].id`.
pub(super) fn path_text<K: AsRef<str>>(steps: &[Step<K>]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(
        steps
            .iter()
            .map(|s| match s {
                Step::Key(k) => k.as_ref().len() + 1,
                Step::Index(_) => 4,
            })
            .sum(),
    );
    for step in steps {
        match step {
            Step::Key(k) if is_identifier(k.as_ref()) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k.as_ref());
            }
            Step::Key(k) => {
                out.push('[');
                out.push_str(&serde_json::to_string(k.as_ref()).unwrap_or_default());
                out.push(']');
            }
            Step::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

fn is_identifier(k: &str) -> bool {
    // Every byte allowed is ASCII, so bytes say the same as characters.
    let mut bytes = k.bytes();
    bytes
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && bytes.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// Which sides of a change exist.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Create (and reads of data sources): only after.
    After,
    /// Delete and forget: only before.
    Before,
    Both,
}

#[derive(Clone, Copy)]
struct Marks<'a> {
    before_sensitive: Option<&'a Value>,
    after_sensitive: Option<&'a Value>,
    after_unknown: Option<&'a Value>,
}

impl<'a> Marks<'a> {
    fn key(self, k: &str) -> Marks<'a> {
        let child = |m: Option<&'a Value>| match m {
            Some(Value::Bool(true)) => m,
            Some(Value::Object(map)) => map.get(k),
            _ => None,
        };
        Marks {
            before_sensitive: child(self.before_sensitive),
            after_sensitive: child(self.after_sensitive),
            after_unknown: child(self.after_unknown),
        }
    }

    fn index(self, i: usize) -> Marks<'a> {
        let child = |m: Option<&'a Value>| match m {
            Some(Value::Bool(true)) => m,
            Some(Value::Array(items)) => items.get(i),
            _ => None,
        };
        Marks {
            before_sensitive: child(self.before_sensitive),
            after_sensitive: child(self.after_sensitive),
            after_unknown: child(self.after_unknown),
        }
    }
}

struct Walk<'a, 'v> {
    secrets: &'a Secrets,
    replace: &'a [Vec<Step>],
    side: Side,
    /// The path walked so far, its keys borrowed from the values and markers.
    steps: Vec<Step<&'v str>>,
    rows: Vec<AttributeChange>,
    /// Key lists of objects walked before, kept for the next objects (one allocation per
    /// nesting level, not per object).
    spare_keys: Vec<Vec<&'v str>>,
}

fn non_empty_container(v: Option<&JsonRef>) -> bool {
    match v {
        Some(JsonRef::Object(m)) => !m.is_empty(),
        Some(JsonRef::Array(a)) => !a.is_empty(),
        _ => false,
    }
}

fn index<'v, 'a>(v: Option<&'v JsonRef<'a>>, i: usize) -> Option<&'v JsonRef<'a>> {
    match v {
        Some(JsonRef::Array(a)) => a.get(i),
        _ => None,
    }
}

fn members<'v, 'a>(v: Option<&'v JsonRef<'a>>) -> Option<Members<'v, 'a>> {
    match v {
        Some(JsonRef::Object(m)) => Some(Members::new(m)),
        _ => None,
    }
}

fn present<'v, 'a>(v: Option<&'v JsonRef<'a>>) -> Option<&'v JsonRef<'a>> {
    v.filter(|v| !v.is_null())
}

impl<'v> Walk<'_, 'v> {
    fn walk(
        &mut self,
        before: Option<&'v JsonRef<'v>>,
        after: Option<&'v JsonRef<'v>>,
        marks: Marks<'v>,
    ) {
        let before = if self.side == Side::After {
            None
        } else {
            present(before)
        };
        let after = if self.side == Side::Before {
            None
        } else {
            present(after)
        };
        let unknown = self.side != Side::Before && marks.after_unknown.is_some_and(is_true);
        let sensitive = marks.before_sensitive.is_some_and(is_true)
            || marks.after_sensitive.is_some_and(is_true);
        let scalar_vs_container = before.is_some()
            && after.is_some()
            && non_empty_container(before) != non_empty_container(after);
        let descend = !unknown
            && !sensitive
            && !scalar_vs_container
            && (non_empty_container(before)
                || non_empty_container(after)
                || marks.after_unknown.is_some_and(non_empty_unknown));
        if descend {
            self.descend(before, after, marks);
        } else {
            self.leaf(before, after, marks, unknown);
        }
    }

    fn descend(
        &mut self,
        before: Option<&'v JsonRef<'v>>,
        after: Option<&'v JsonRef<'v>>,
        marks: Marks<'v>,
    ) {
        let as_array = matches!(before, Some(JsonRef::Array(_)))
            || matches!(after, Some(JsonRef::Array(_)))
            || matches!(marks.after_unknown, Some(Value::Array(_)));
        if as_array {
            let len = |v: Option<&JsonRef>| match v {
                Some(JsonRef::Array(a)) => a.len(),
                _ => 0,
            };
            let unknown_len = match marks.after_unknown {
                Some(Value::Array(a)) => a.len(),
                _ => 0,
            };
            let n = len(before).max(len(after)).max(unknown_len);
            for i in 0..n {
                self.steps.push(Step::Index(i));
                self.walk(index(before, i), index(after, i), marks.index(i));
                self.steps.pop();
            }
            return;
        }
        // Room for both sides' keys of a usual object: no second allocation for the other side.
        let mut keys = self
            .spare_keys
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(32));
        keys.clear();
        let unknown = (self.side != Side::Before)
            .then_some(marks.after_unknown)
            .flatten();
        for v in [before, after] {
            if let Some(JsonRef::Object(m)) = v {
                keys.extend(m.iter().map(|(k, _)| k.as_ref()));
            }
        }
        if let Some(Value::Object(map)) = unknown {
            keys.extend(map.keys().map(String::as_str));
        }
        keys.sort_unstable();
        keys.dedup();
        let before_members = members(before);
        let after_members = members(after);
        for &key in &keys {
            self.steps.push(Step::Key(key));
            self.walk(
                before_members.as_ref().and_then(|m| m.get(key)),
                after_members.as_ref().and_then(|m| m.get(key)),
                marks.key(key),
            );
            self.steps.pop();
        }
        self.spare_keys.push(keys);
    }

    fn leaf(
        &mut self,
        before: Option<&JsonRef>,
        after: Option<&JsonRef>,
        marks: Marks,
        unknown: bool,
    ) {
        let changed = match self.side {
            Side::After => after.is_some() || unknown,
            Side::Before => before.is_some(),
            Side::Both => unknown || before != after,
        };
        if !changed {
            return;
        }
        let attribute = self.steps.iter().rev().find_map(|s| match s {
            Step::Key(k) => Some(*k),
            Step::Index(_) => None,
        });
        let show = |v: Option<&JsonRef>, marker: Option<&Value>| {
            let v = v.unwrap_or(&JsonRef::Null);
            if marker.is_some_and(is_true) && !v.is_null() {
                Shown::Sensitive
            } else {
                self.secrets.show(v, attribute)
            }
        };
        let before_shown = (self.side != Side::After).then(|| show(before, marks.before_sensitive));
        let after_shown = (self.side != Side::Before).then(|| {
            if unknown {
                Shown::Unknown
            } else {
                show(after, marks.after_sensitive)
            }
        });
        let forces_replacement = self.replace.iter().any(|p| {
            let n = p.len().min(self.steps.len());
            p[..n].iter().zip(&self.steps[..n]).all(|(a, b)| a.same(b))
        });
        self.rows.push(AttributeChange {
            path: path_text(&self.steps),
            before: before_shown,
            after: after_shown,
            forces_replacement,
        });
    }
}

/// An `after_unknown` tree with some `true` in it.
fn non_empty_unknown(v: &Value) -> bool {
    !is_unmarked(v)
}

/// A change's attribute rows: what changes (update, replace), is set (create) or goes (delete).
/// `before` and `after` are the change's values (`c`'s own are not read).
pub(super) fn rows<V>(
    c: &RawChange<V>,
    before: Option<&JsonRef>,
    after: Option<&JsonRef>,
    action: Action,
    secrets: &Secrets,
) -> Vec<AttributeChange> {
    rows_in(c, before, after, action, secrets, Vec::new())
}

/// [`rows`] into `room` (emptied first), a list whose room a pass reuses change after change.
pub(super) fn rows_in<V>(
    c: &RawChange<V>,
    before: Option<&JsonRef>,
    after: Option<&JsonRef>,
    action: Action,
    secrets: &Secrets,
    mut room: Vec<AttributeChange>,
) -> Vec<AttributeChange> {
    room.clear();
    if room.capacity() == 0 {
        room.reserve(8);
    }
    let replace = replace_steps(c);
    let after_absent = after.is_none() && !c.after_unknown.as_ref().is_some_and(is_true);
    let side = match action {
        Action::Delete | Action::Forget => Side::Before,
        _ if before.is_none() => Side::After,
        _ if after_absent => Side::Before,
        _ => Side::Both,
    };
    let mut walk = Walk {
        secrets,
        replace: &replace,
        side,
        steps: Vec::with_capacity(8),
        rows: room,
        spare_keys: Vec::new(),
    };
    walk.walk(
        before,
        after,
        Marks {
            before_sensitive: c.before_sensitive.as_ref(),
            after_sensitive: c.after_sensitive.as_ref(),
            after_unknown: c.after_unknown.as_ref(),
        },
    );
    walk.rows
}

pub(super) fn replace_steps<V>(c: &RawChange<V>) -> Vec<Vec<Step>> {
    c.replace_paths
        .iter()
        .flatten()
        .map(|path| path.iter().filter_map(Step::from_json).collect())
        .collect()
}

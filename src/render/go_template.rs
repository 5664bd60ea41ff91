//! The Go template engine: templates written for `kops toolbox template` render unchanged.
//!
//! kops renders with Go's `text/template`, Sprig's `TxtFuncMap` and a few functions of its own
//! (kops 1.36: `cmd/kops/toolbox_template.go`, `pkg/util/templater/templater.go` and
//! `template_functions.go`). Parsing and execution are the `gotmpl` crate, a port of
//! `text/template` (sorted map iteration, `{{"{{"}}` literals, trim markers, `define`/`template`,
//! variables, `else if`, `break`/`continue`, Go's `printf`, `index`, `len`, `eq` ...). What kops adds
//! on top is here: the Sprig functions real kops templates use ([`FUNCTIONS`], the list in
//! docs/templates.md), kops's `indent` (which leaves the first line alone), `include` of
//! snippets, and Terraform's `output -json` shape (`.x.value`).
//!
//! Every action that prints is rewritten, after parsing, into the same pipeline followed by
//! [`EMIT`]: `{{ .vpc_id | lower }}` runs as `{{ .vpc_id | lower | __kopsform_emit 3 }}`, so each
//! printed value passes [`shape::emit`], the one place the handlebars engine's slots pass too, and
//! the structure guarantee ([`super::template::check_yaml_structure`]) holds for both engines. An
//! empty [`AT`] action before each action records where execution is, since `gotmpl`'s errors
//! carry no position: a missing key is reported at its template line.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};

use base64::Engine as _;
use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Number, PipeNode, Pos};
use gotmpl::{MissingKey, Template, TemplateError, Value as GoValue};
use serde_json::Value;

use super::compile::{MAX_SOURCE, Site};
use super::shape;
use super::template::{Culprit, MAX_INDENT, MAX_OUTPUT, check_yaml_structure};
use crate::error::UserError;
use crate::project::task::{Engine, MissingValue, RenderStep};
use crate::text::suggest;

/// What the structure error advises for Go templates.
const GO_ADVICE: &str = "quote string values (`{{ .x | quote }}`), write lists and maps with `toJson` (one line) or `toYaml | nindent N`, multi-line text as a block scalar with `indent` (docs/templates.md, Go templates)";

/// The name of the function every printing action ends in.
pub(crate) const EMIT: &str = "__kopsform_emit";
/// The name of the function that records the position of the action about to run.
const AT: &str = "__kopsform_at";
/// The main template's name, as kops names it.
const MAIN: &str = "mainTemplate";

/// What a missing key does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Missing {
    /// An error naming the line and the values that exist (`kops toolbox template`'s default,
    /// `--fail-on-missing=true`).
    #[default]
    Error,
    /// Go's `<no value>`, as `--fail-on-missing=false` renders (with a warning).
    NoValue,
}

/// A snippet: its file name (what `include` and `template` call it, as kops does) and text.
#[derive(Debug, Clone)]
pub(crate) struct Snippet {
    pub(crate) name: String,
    /// The path shown in messages.
    pub(crate) path: String,
    pub(crate) source: String,
}

/// Most snippet files a step may read.
const MAX_SNIPPETS: usize = 1000;

/// The snippets of `entries` (files, or folders walked recursively in name order, as kops's
/// `--snippets` reads them): each named by its file name, a later file of the same name
/// replacing an earlier one, as in kops. Paths must stay inside `project_dir`.
pub(crate) fn load_snippets(
    project_dir: &std::path::Path,
    entries: &[String],
) -> Result<Vec<Snippet>, UserError> {
    let mut files: Vec<(std::path::PathBuf, String)> = Vec::new();
    for entry in entries {
        let path = crate::paths::inside(project_dir, entry).map_err(|why| {
            UserError::new(format!(
                "{entry}: {why}; keep snippets inside the project (the `snippets` of the `render` step)"
            ))
        })?;
        let shown = entry.trim_end_matches('/').to_string();
        crate::paths::walk(path, shown, MAX_SNIPPETS, &mut files).map_err(|e| match e {
            crate::paths::WalkError::Read(_, shown, e) => UserError::new(format!(
                "{shown}: cannot read the snippets: {e}; fix `snippets` in the `render` step"
            )),
            crate::paths::WalkError::List(shown, e) => {
                UserError::new(format!("{shown}: cannot list the snippets: {e}"))
            }
            crate::paths::WalkError::TooMany => UserError::new(format!(
                "{entry}: more than {MAX_SNIPPETS} snippet files; kopsform reads at most {MAX_SNIPPETS}"
            )),
        })?;
    }
    let mut snippets: Vec<Snippet> = Vec::new();
    for (path, shown) in files {
        let bytes = std::fs::read(&path)
            .map_err(|e| UserError::new(format!("{shown}: cannot read the snippet: {e}")))?;
        let source = crate::text::decode_utf8(&shown, bytes, "the snippet")?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        snippets.retain(|s| s.name != name);
        snippets.push(Snippet {
            name,
            path: shown,
            source,
        });
    }
    Ok(snippets)
}

/// Where an action is: its file (none for the template itself), line and column.
#[derive(Debug, Clone)]
struct Mark {
    file: Option<String>,
    line: usize,
    column: usize,
}

struct Compiled {
    template: Arc<Template>,
    sites: Vec<Site>,
    marks: Vec<Mark>,
    has_main: bool,
}

thread_local! {
    /// The mark of the action running now.
    static CURRENT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    /// Set while a value printed is `nil`: the compatibility mode's warning.
    static PRINTED_NIL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Renders Go templates as `kops toolbox template` does, with kopsform's checks.
pub(crate) struct GoRenderer {
    pub(crate) missing: Missing,
    pub(crate) snippets: Vec<Snippet>,
}

impl GoRenderer {
    /// The Go engine a render step asks for (`engine = "go"`: its snippets and its missing-value
    /// rule), `None` for a handlebars step: what the task, doctor and every other reader of the
    /// template render it with.
    pub(crate) fn for_step(
        project_dir: &std::path::Path,
        step: &RenderStep,
    ) -> Result<Option<GoRenderer>, UserError> {
        if step.engine != Engine::Go {
            return Ok(None);
        }
        Ok(Some(GoRenderer {
            missing: match step.missing {
                MissingValue::Error => Missing::Error,
                MissingValue::NoValue => Missing::NoValue,
            },
            snippets: load_snippets(project_dir, &step.snippets)?,
        }))
    }
}

fn err(message: impl Into<String>) -> TemplateError {
    TemplateError::Exec(message.into())
}

/// serde_json -> the template's values (maps sorted by key, as Go iterates them).
pub(crate) fn to_go(value: &Value) -> GoValue {
    match value {
        Value::Null => GoValue::Nil,
        Value::Bool(b) => GoValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                GoValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                GoValue::Uint(u)
            } else {
                GoValue::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => GoValue::String(s.as_str().into()),
        Value::Array(items) => GoValue::List(items.iter().map(to_go).collect()),
        Value::Object(map) => GoValue::Map(Arc::new(
            map.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), to_go(v)))
                .collect::<BTreeMap<_, _>>(),
        )),
    }
}

/// The template's values -> serde_json (functions become null).
pub(crate) fn from_go(value: &GoValue) -> Value {
    match value {
        GoValue::Nil | GoValue::Function(_) => Value::Null,
        GoValue::Bool(b) => Value::Bool(*b),
        GoValue::Int(i) => Value::from(*i),
        GoValue::Uint(u) => Value::from(*u),
        GoValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        GoValue::String(s) => Value::String(s.to_string()),
        GoValue::List(items) => Value::Array(items.iter().map(from_go).collect()),
        GoValue::Map(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), from_go(v)))
                .collect(),
        ),
    }
}

/// Go's `%v` of a value (what an action prints).
fn text(value: &GoValue) -> String {
    match value {
        GoValue::String(s) => s.to_string(),
        GoValue::Nil => "<no value>".to_string(),
        other => other.to_string(),
    }
}

/// Sprig's `toString`/`strval`: nil is the empty string.
fn strval(value: &GoValue) -> String {
    match value {
        GoValue::Nil => String::new(),
        other => text(other),
    }
}

/// Sprig's `empty`: nil, false, 0, "" and empty lists and maps.
fn is_empty(value: &GoValue) -> bool {
    !value.is_truthy()
}

/// Sprig's `toInt64` (via `cast.ToInt64`): numbers truncated, strings parsed (0 when they do
/// not parse), booleans 0/1, anything else 0.
fn to_int(value: &GoValue) -> i64 {
    match value {
        GoValue::Int(i) => *i,
        GoValue::Uint(u) => i64::try_from(*u).unwrap_or(i64::MAX),
        GoValue::Float(f) => *f as i64,
        GoValue::Bool(b) => i64::from(*b),
        GoValue::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                .unwrap_or(0)
        }
        _ => 0,
    }
}

fn to_list(value: &GoValue) -> Result<Vec<GoValue>, TemplateError> {
    match value {
        GoValue::List(items) => Ok(items.to_vec()),
        GoValue::Nil => Ok(Vec::new()),
        other => Err(err(format!(
            "expected a list, got {} `{}`",
            other.type_name(),
            text(other)
        ))),
    }
}

fn arity(name: &str, args: &[GoValue], n: usize) -> Result<(), TemplateError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(err(format!(
            "function `{name}` takes {n} argument(s), got {}",
            args.len()
        )))
    }
}

fn string(s: String) -> Result<GoValue, TemplateError> {
    if s.len() > MAX_OUTPUT {
        return Err(err(format!(
            "the result would be {} bytes; kopsform renders at most {MAX_OUTPUT}",
            s.len()
        )));
    }
    Ok(GoValue::String(s.into()))
}

/// Go's `strconv.Quote` (`%q`).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `json.Marshal`: keys sorted (they are), `<`, `>`, `&`, U+2028 and U+2029 escaped.
fn go_json(value: &Value) -> String {
    let s = value.to_string();
    if !s.contains(['<', '>', '&', '\u{2028}', '\u{2029}', '\u{85}']) {
        return s;
    }
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
        .replace('\u{85}', "\\u0085")
}

/// `toYaml`/`toJson`: in the shape render, the same structure with a token for every string.
fn structure(value: &GoValue, write: fn(&Value) -> String) -> GoValue {
    let value = from_go(value);
    let real = write(&value);
    let text = match shape::tokenized(&value) {
        Some(tokens) => {
            let text = write(&tokens);
            shape::structural(&text, &real);
            text
        }
        None => real,
    };
    GoValue::String(text.into())
}

/// The text of a string value (`quote` and `squote` work on the `strval` of their argument).
fn json_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `quote`/`squote`: each (non-nil) argument quoted, joined by spaces. The quotes are YAML's too:
/// in the shape render the quoted text of one value is structure around a token, as `toJson`
/// of a string is, so `{{ .x | quote }}` is a string slot whatever `.x` holds.
fn quoted(args: &[GoValue], write: fn(&Value) -> String) -> Result<GoValue, TemplateError> {
    let args: Vec<&GoValue> = args.iter().filter(|v| !matches!(v, GoValue::Nil)).collect();
    if let [one] = args.as_slice() {
        let text = GoValue::String(strval(one).into());
        return Ok(structure(&text, write));
    }
    string(
        args.iter()
            .map(|v| write(&Value::String(strval(v))))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// kops's `indent` (`indentContent`): every line but the first and the empty ones indented.
fn kops_indent(n: usize, text: &str) -> String {
    let pad = " ".repeat(n);
    text.split('\n')
        .enumerate()
        .map(|(i, line)| {
            if i == 0 || line.is_empty() {
                line.to_string()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sprig's `nindent`: a newline, then every line (empty ones too) indented.
fn sprig_nindent(n: usize, text: &str) -> String {
    let pad = " ".repeat(n);
    format!("\n{pad}{}", text.replace('\n', &format!("\n{pad}")))
}

/// `indent`/`nindent`: structure stays structure; any other text, in the shape render, has a
/// token per line.
fn indented(
    args: &[GoValue],
    name: &str,
    indent: fn(usize, &str) -> String,
) -> Result<GoValue, TemplateError> {
    arity(name, args, 2)?;
    let n = usize::try_from(to_int(&args[0])).unwrap_or(0);
    if n > MAX_INDENT {
        return Err(err(format!(
            "an indent of {n} spaces; kopsform indents by at most {MAX_INDENT}"
        )));
    }
    let text = strval(&args[1]);
    if let Some(real) = shape::real_of(&text) {
        let (shaped, real) = (indent(n, &text), indent(n, &real));
        shape::structural(&shaped, &real);
        return string(shaped);
    }
    if let Some(lines) = shape::tokenized_lines(&text) {
        let (shaped, real) = (indent(n, &lines), indent(n, &text));
        shape::structural(&shaped, &real);
        return string(shaped);
    }
    string(indent(n, &text))
}

type Func = fn(&[GoValue]) -> Result<GoValue, TemplateError>;

/// The Sprig functions kopsform implements, with Sprig's argument order (the piped value last).
/// `include`, `indent` (kops's) and the structure helpers are among them; Go's own (`eq`, `and`,
/// `index`, `len`, `printf` ...) are `gotmpl`'s.
pub(crate) const FUNCTIONS: &[(&str, Func)] = &[
    ("default", |a| match a {
        [d] => Ok(d.clone()),
        [d, v] => Ok(if is_empty(v) { d.clone() } else { v.clone() }),
        _ => Err(err("function `default` takes 1 or 2 arguments")),
    }),
    ("empty", |a| {
        arity("empty", a, 1)?;
        Ok(GoValue::Bool(is_empty(&a[0])))
    }),
    ("coalesce", |a| {
        Ok(a.iter()
            .find(|v| !is_empty(v))
            .cloned()
            .unwrap_or(GoValue::Nil))
    }),
    ("ternary", |a| {
        arity("ternary", a, 3)?;
        Ok(if a[2].is_truthy() {
            a[0].clone()
        } else {
            a[1].clone()
        })
    }),
    ("quote", |a| quoted(a, |v| go_quote(&json_text(v)))),
    ("squote", |a| quoted(a, |v| format!("'{}'", json_text(v)))),
    ("upper", |a| {
        arity("upper", a, 1)?;
        string(strval(&a[0]).to_uppercase())
    }),
    ("lower", |a| {
        arity("lower", a, 1)?;
        string(strval(&a[0]).to_lowercase())
    }),
    ("trim", |a| {
        arity("trim", a, 1)?;
        string(strval(&a[0]).trim().to_string())
    }),
    ("trimAll", |a| {
        arity("trimAll", a, 2)?;
        let cut: Vec<char> = strval(&a[0]).chars().collect();
        string(strval(&a[1]).trim_matches(cut.as_slice()).to_string())
    }),
    ("trimPrefix", |a| {
        arity("trimPrefix", a, 2)?;
        let (p, s) = (strval(&a[0]), strval(&a[1]));
        string(s.strip_prefix(&p).unwrap_or(&s).to_string())
    }),
    ("trimSuffix", |a| {
        arity("trimSuffix", a, 2)?;
        let (p, s) = (strval(&a[0]), strval(&a[1]));
        string(s.strip_suffix(&p).unwrap_or(&s).to_string())
    }),
    ("replace", |a| {
        arity("replace", a, 3)?;
        let (old, new, s) = (strval(&a[0]), strval(&a[1]), strval(&a[2]));
        let matches = if old.is_empty() {
            s.chars().count() + 1
        } else {
            s.matches(&old).count()
        };
        if s.len() + matches.saturating_mul(new.len()) > MAX_OUTPUT {
            return Err(err(format!(
                "the result would exceed {MAX_OUTPUT} bytes, the most kopsform renders"
            )));
        }
        string(s.replace(&old, &new))
    }),
    ("contains", |a| {
        arity("contains", a, 2)?;
        Ok(GoValue::Bool(strval(&a[1]).contains(&strval(&a[0]))))
    }),
    ("hasPrefix", |a| {
        arity("hasPrefix", a, 2)?;
        Ok(GoValue::Bool(strval(&a[1]).starts_with(&strval(&a[0]))))
    }),
    ("hasSuffix", |a| {
        arity("hasSuffix", a, 2)?;
        Ok(GoValue::Bool(strval(&a[1]).ends_with(&strval(&a[0]))))
    }),
    ("repeat", |a| {
        arity("repeat", a, 2)?;
        let (n, s) = (usize::try_from(to_int(&a[0])).unwrap_or(0), strval(&a[1]));
        if n.saturating_mul(s.len()) > MAX_OUTPUT {
            return Err(err(format!(
                "the result would exceed {MAX_OUTPUT} bytes, the most kopsform renders"
            )));
        }
        string(s.repeat(n))
    }),
    ("join", |a| {
        arity("join", a, 2)?;
        let sep = strval(&a[0]);
        let items = match &a[1] {
            GoValue::List(items) => items.iter().map(strval).collect::<Vec<_>>(),
            other => vec![strval(other)],
        };
        let size = items.iter().map(|i| i.len() + sep.len()).sum::<usize>();
        if size > MAX_OUTPUT {
            return Err(err(format!(
                "the result would exceed {MAX_OUTPUT} bytes, the most kopsform renders"
            )));
        }
        string(items.join(&sep))
    }),
    ("split", |a| {
        arity("split", a, 2)?;
        let (sep, s) = (strval(&a[0]), strval(&a[1]));
        let parts = split(&s, &sep);
        Ok(GoValue::Map(Arc::new(
            parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (Arc::from(format!("_{i}")), GoValue::String(p.into())))
                .collect(),
        )))
    }),
    ("splitList", |a| {
        arity("splitList", a, 2)?;
        let (sep, s) = (strval(&a[0]), strval(&a[1]));
        Ok(GoValue::List(
            split(&s, &sep)
                .into_iter()
                .map(|p| GoValue::String(p.into()))
                .collect(),
        ))
    }),
    ("list", |a| Ok(GoValue::List(a.iter().cloned().collect()))),
    ("dict", |a| {
        let mut map = BTreeMap::new();
        for pair in a.chunks(2) {
            let value = pair
                .get(1)
                .cloned()
                .unwrap_or_else(|| GoValue::String("".into()));
            map.insert(Arc::from(strval(&pair[0])), value);
        }
        Ok(GoValue::Map(Arc::new(map)))
    }),
    ("hasKey", |a| {
        arity("hasKey", a, 2)?;
        match &a[0] {
            GoValue::Map(m) => Ok(GoValue::Bool(m.contains_key(strval(&a[1]).as_str()))),
            other => Err(err(format!(
                "hasKey: expected a map, got {}",
                other.type_name()
            ))),
        }
    }),
    ("get", |a| {
        arity("get", a, 2)?;
        match &a[0] {
            GoValue::Map(m) => Ok(m
                .get(strval(&a[1]).as_str())
                .cloned()
                .unwrap_or_else(|| GoValue::String("".into()))),
            other => Err(err(format!(
                "get: expected a map, got {}",
                other.type_name()
            ))),
        }
    }),
    ("keys", |a| {
        let mut keys = Vec::new();
        for m in a {
            match m {
                GoValue::Map(m) => keys.extend(m.keys().map(|k| GoValue::String(k.clone()))),
                other => {
                    return Err(err(format!(
                        "keys: expected a map, got {}",
                        other.type_name()
                    )));
                }
            }
        }
        Ok(GoValue::List(keys.into()))
    }),
    ("values", |a| {
        arity("values", a, 1)?;
        match &a[0] {
            GoValue::Map(m) => Ok(GoValue::List(m.values().cloned().collect())),
            other => Err(err(format!(
                "values: expected a map, got {}",
                other.type_name()
            ))),
        }
    }),
    ("has", |a| {
        arity("has", a, 2)?;
        let items = to_list(&a[1])?;
        Ok(GoValue::Bool(
            items.iter().any(|i| from_go(i) == from_go(&a[0])),
        ))
    }),
    ("first", |a| {
        arity("first", a, 1)?;
        Ok(to_list(&a[0])?.first().cloned().unwrap_or(GoValue::Nil))
    }),
    ("last", |a| {
        arity("last", a, 1)?;
        Ok(to_list(&a[0])?.last().cloned().unwrap_or(GoValue::Nil))
    }),
    ("until", |a| {
        arity("until", a, 1)?;
        let n = to_int(&a[0]);
        if n > 100_000 {
            return Err(err(format!("until {n}: kopsform counts to at most 100000")));
        }
        Ok(GoValue::List((0..n.max(0)).map(GoValue::Int).collect()))
    }),
    ("add", |a| {
        Ok(GoValue::Int(
            a.iter().map(to_int).fold(0i64, i64::wrapping_add),
        ))
    }),
    ("add1", |a| {
        arity("add1", a, 1)?;
        Ok(GoValue::Int(to_int(&a[0]).wrapping_add(1)))
    }),
    ("sub", |a| {
        arity("sub", a, 2)?;
        Ok(GoValue::Int(to_int(&a[0]).wrapping_sub(to_int(&a[1]))))
    }),
    ("mul", |a| {
        Ok(GoValue::Int(
            a.iter().map(to_int).fold(1i64, i64::wrapping_mul),
        ))
    }),
    ("div", |a| divide("div", a, i64::wrapping_div)),
    ("mod", |a| divide("mod", a, i64::wrapping_rem)),
    ("int", |a| {
        arity("int", a, 1)?;
        Ok(GoValue::Int(to_int(&a[0])))
    }),
    ("int64", |a| {
        arity("int64", a, 1)?;
        Ok(GoValue::Int(to_int(&a[0])))
    }),
    ("atoi", |a| {
        arity("atoi", a, 1)?;
        Ok(GoValue::Int(strval(&a[0]).parse::<i64>().unwrap_or(0)))
    }),
    ("toString", |a| {
        arity("toString", a, 1)?;
        string(strval(&a[0]))
    }),
    ("toYaml", |a| {
        arity("toYaml", a, 1)?;
        Ok(structure(&a[0], super::yaml_out::to_yaml))
    }),
    ("toJson", |a| {
        arity("toJson", a, 1)?;
        Ok(structure(&a[0], go_json))
    }),
    ("indent", |a| indented(a, "indent", kops_indent)),
    ("nindent", |a| indented(a, "nindent", sprig_nindent)),
    ("b64enc", |a| {
        arity("b64enc", a, 1)?;
        string(base64::engine::general_purpose::STANDARD.encode(strval(&a[0])))
    }),
    ("b64dec", |a| {
        arity("b64dec", a, 1)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(strval(&a[0]))
            .map_err(|e| err(format!("b64dec: {e}")))?;
        string(String::from_utf8_lossy(&bytes).into_owned())
    }),
    ("fail", |a| {
        arity("fail", a, 1)?;
        Err(err(strval(&a[0])))
    }),
];

/// Sprig's `div`/`mod` on whole numbers, refusing a zero divisor.
fn divide(name: &str, a: &[GoValue], f: fn(i64, i64) -> i64) -> Result<GoValue, TemplateError> {
    arity(name, a, 2)?;
    let d = to_int(&a[1]);
    if d == 0 {
        return Err(err(format!("{name}: division by zero")));
    }
    Ok(GoValue::Int(f(to_int(&a[0]), d)))
}

/// Go's `strings.Split`: an empty separator splits between characters.
fn split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_string).collect()
}

/// The functions of kops's `ChannelRecommended*` family need kops's channel (network): refused
/// with a message rather than an unknown-function error.
const UNSUPPORTED: &[&str] = &[
    "ChannelRecommendedKubernetesUpgradeVersion",
    "ChannelRecommendedKopsKubernetesVersion",
    "ChannelRecommendedImage",
    "env",
    "expandenv",
];

/// `source` with each comment that trims only before it (`{{- /* x */}}`) written as
/// `{{- if false}}{{/* x */}}{{end}}`, which Go renders the same way. gotmpl 0.6.1 trims the
/// text after such a comment too (its lexer ORs the two trim markers), which Go does not: a
/// team's `  {{- /* note */}}` between two lines of YAML joined them. Line numbers are kept.
fn left_trimmed_comments(source: &str) -> std::borrow::Cow<'_, str> {
    if !source.contains("{{-") {
        return source.into();
    }
    let mut out = String::with_capacity(source.len() + 64);
    let mut rest = source;
    let mut changed = false;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let action = &rest[start..];
        let body = &action[2..];
        let trimmed = body.strip_prefix('-').map(str::trim_start);
        if let Some(comment) = trimmed.filter(|b| b.starts_with("/*"))
            && let Some(end) = comment.find("*/")
        {
            let after = &comment[end + 2..];
            let closing = after.trim_start();
            let ws = after.len() - closing.len();
            if closing.starts_with("}}") && !(ws > 0 && closing.starts_with("-}}")) {
                let len = action.len() - after.len() + ws + 2;
                out.push_str("{{- if false}}{{");
                out.push_str(&comment[..end + 2]);
                out.push_str("}}{{end}}");
                rest = &action[len..];
                changed = true;
                continue;
            }
        }
        // Any other action: copied up to its end, strings and raw strings skipped.
        let mut i = 2;
        let bytes = action.as_bytes();
        let mut quote = None;
        while i < bytes.len() {
            match (quote, bytes[i]) {
                (None, b'}') if bytes.get(i + 1) == Some(&b'}') => {
                    i += 2;
                    break;
                }
                (None, q @ (b'"' | b'`' | b'\'')) => quote = Some(q),
                (Some(q), b'\\') if q != b'`' => i += 1,
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        let i = i.min(action.len());
        out.push_str(&action[..i]);
        rest = &action[i..];
    }
    out.push_str(rest);
    if changed { out.into() } else { source.into() }
}

/// The actions of `source`: byte offset of each `{{` and the text between the delimiters (trim
/// markers included), strings and comments read as Go's lexer reads them.
fn actions(source: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = source[from..].find("{{") {
        let start = from + at;
        let bytes = source.as_bytes();
        let mut i = start + 2;
        let body = source[i..].trim_start_matches('-').trim_start();
        if body.starts_with("/*") {
            let open = source.len() - body.len();
            let end = source[open..]
                .find("*/")
                .map_or(source.len(), |e| open + e + 2);
            let close = source[end..].find("}}").map_or(source.len(), |e| end + e);
            out.push((start, &source[start + 2..close]));
            from = (close + 2).min(source.len());
            continue;
        }
        let mut quote = None;
        while i < bytes.len() {
            match (quote, bytes[i]) {
                (None, b'}') if bytes.get(i + 1) == Some(&b'}') => break,
                (None, q @ (b'"' | b'`' | b'\'')) => quote = Some(q),
                (Some(q), b'\\') if q != b'`' => i += 1,
                (Some(q), c) if c == q => quote = None,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(source.len());
        out.push((start, &source[start + 2..end]));
        from = (end + 2).min(source.len());
    }
    out
}

/// A block keyword at the start of an action.
static KEYWORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^-?\s*(if|range|with|define|block|end|else)\b").expect("a valid pattern")
});

/// Go refuses a block without its `{{ end }}` and an `{{ end }}` or `{{ else }}` without a block
/// ("unexpected EOF", "unexpected {{end}}"); gotmpl 0.6.1 accepts the first and stops reading at
/// the second, dropping the rest of the template. Checked here before gotmpl parses, with the
/// nesting limits of handlebars templates (gotmpl's own stops at 100 without a position).
fn check_blocks(shown: &str, source: &str) -> Result<(), UserError> {
    use crate::render::compile::{MAX_BLOCK_DEPTH, MAX_PAREN_DEPTH};
    let mut open: Vec<(usize, &str)> = Vec::new();
    for (offset, inner) in actions(source) {
        if paren_depth(inner) > MAX_PAREN_DEPTH {
            let (line, column) = position(source, offset);
            return Err(UserError::new(format!(
                "{shown}:{line}:{column}: Go template syntax error: parentheses are nested more than {MAX_PAREN_DEPTH} deep; kopsform refuses deeper templates"
            )));
        }
        let Some(word) = KEYWORD.captures(inner).and_then(|c| c.get(1)) else {
            continue;
        };
        match word.as_str() {
            "end" => {
                if open.pop().is_none() {
                    let (line, column) = position(source, offset);
                    return Err(UserError::new(format!(
                        "{shown}:{line}:{column}: Go template syntax error: unexpected {{{{end}}}}: no `if`, `range`, `with`, `define` or `block` is open here; fix the template"
                    )));
                }
            }
            "else" => {
                if open.is_empty() {
                    let (line, column) = position(source, offset);
                    return Err(UserError::new(format!(
                        "{shown}:{line}:{column}: Go template syntax error: unexpected {{{{else}}}}: no `if`, `range` or `with` is open here; fix the template"
                    )));
                }
            }
            other => {
                if open.len() == MAX_BLOCK_DEPTH {
                    let (line, column) = position(source, offset);
                    return Err(UserError::new(format!(
                        "{shown}:{line}:{column}: Go template syntax error: blocks are nested more than {MAX_BLOCK_DEPTH} deep; kopsform refuses deeper templates"
                    )));
                }
                open.push((offset, other));
            }
        }
    }
    if let Some((offset, word)) = open.pop() {
        let (line, column) = position(source, offset);
        return Err(UserError::new(format!(
            "{shown}:{line}:{column}: Go template syntax error: this `{word}` is never closed (unexpected EOF: add its `{{{{ end }}}}`); fix the template"
        )));
    }
    Ok(())
}

/// The deepest nesting of parentheses in an action's text, outside strings and comments.
fn paren_depth(inner: &str) -> usize {
    let (mut depth, mut deepest, mut quote) = (0usize, 0usize, None);
    let bytes = inner.as_bytes();
    let mut i = 0;
    if inner.trim_start_matches('-').trim_start().starts_with("/*") {
        return 0;
    }
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (None, q @ (b'"' | b'`' | b'\'')) => quote = Some(q),
            (Some(q), b'\\') if q != b'`' => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, b'(') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, b')') => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// `(line, column)` of byte `offset` in `source`.
fn position(source: &str, offset: usize) -> (usize, usize) {
    crate::text::line_col(source, offset)
}

/// The text of the action at `offset` (without its braces), for messages.
fn action_text(source: &str, offset: usize) -> String {
    let offset = offset.min(source.len());
    let start = source[..offset].rfind("{{").unwrap_or(offset);
    let end = source[start..]
        .find("}}")
        .map_or(source.len(), |e| start + e + 2);
    let inner = source
        .get(start + 2..end.saturating_sub(2))
        .unwrap_or_default();
    inner
        .trim_start_matches('-')
        .trim_end_matches('-')
        .trim()
        .to_string()
}

/// Calls `f` on every expression of `pipe` that is not itself a pipeline or a chain (those are
/// walked into): the one walk the template's readers share.
fn each_leaf(pipe: &PipeNode, f: &mut dyn FnMut(&Expr)) {
    fn expr(e: &Expr, f: &mut dyn FnMut(&Expr)) {
        match e {
            Expr::Pipe(_, p) => each_leaf(p, f),
            Expr::Chain(_, inner, _) => expr(inner, f),
            other => f(other),
        }
    }
    for command in &pipe.commands {
        for arg in &command.args {
            expr(arg, f);
        }
    }
}

/// The value paths an action's pipeline reads (`.a.b`, `$.a`, `.` as `this`).
fn pipe_paths(pipe: &PipeNode, out: &mut Vec<String>) {
    each_leaf(pipe, &mut |e| match e {
        Expr::Field(_, names) => out.push(names.join(".")),
        Expr::Variable(_, name, names) => {
            let mut path = vec![name.to_string()];
            path.extend(names.iter().map(ToString::to_string));
            let path = path.join(".");
            out.push(path.trim_start_matches("$.").to_string());
        }
        Expr::Dot(_) => out.push("this".to_string()),
        _ => {}
    });
}

/// The call of a kopsform function `name` with a number, as a command.
fn call(name: &str, n: usize, pos: Pos) -> CommandNode {
    CommandNode {
        pos,
        args: vec![
            Expr::Identifier(pos, name.into()),
            Expr::Number(pos, Number::Int(i64::try_from(n).unwrap_or(i64::MAX))),
        ],
    }
}

fn at_node(mark: usize, pos: Pos) -> Node {
    Node::Action(gotmpl::parse::ActionNode {
        pos,
        pipe: PipeNode {
            pos,
            decl: Vec::new(),
            commands: vec![call(AT, mark, pos)],
            is_assign: false,
        },
    })
}

struct Rewriter<'a> {
    file: Option<String>,
    source: &'a str,
    /// Where the lines of `source` start: a position per action without reading the source again.
    lines: crate::text::LineIndex<'a>,
    sites: &'a mut Vec<Site>,
    marks: &'a mut Vec<Mark>,
}

impl Rewriter<'_> {
    fn mark(&mut self, pos: Pos) -> Node {
        let (line, column) = self.lines.line_col(pos.offset);
        self.marks.push(Mark {
            file: self.file.clone(),
            line,
            column,
        });
        at_node(self.marks.len() - 1, pos)
    }

    fn list(&mut self, list: &mut ListNode) {
        let nodes = std::mem::take(&mut list.nodes);
        for mut node in nodes {
            match &mut node {
                Node::Action(action) => {
                    let mark = self.mark(action.pos);
                    list.nodes.push(mark);
                    if action.pipe.decl.is_empty() {
                        let (line, column) = self.lines.line_col(action.pos.offset);
                        let mut paths = Vec::new();
                        pipe_paths(&action.pipe, &mut paths);
                        self.sites.push(Site {
                            file: self.file.clone(),
                            line,
                            column,
                            expression: action_text(self.source, action.pos.offset),
                            paths,
                        });
                        let site = self.sites.len() - 1;
                        action.pipe.commands.push(call(EMIT, site, action.pos));
                    }
                }
                Node::If(branch) | Node::Range(branch) | Node::With(branch) => {
                    let mark = self.mark(branch.pos);
                    list.nodes.push(mark);
                    self.list(&mut branch.body);
                    if let Some(other) = branch.else_body.as_mut() {
                        self.list(other);
                    }
                }
                Node::Template(t) => {
                    let mark = self.mark(t.pos);
                    list.nodes.push(mark);
                }
                Node::List(inner) => self.list(inner),
                Node::Define(d) => self.list(&mut d.body),
                _ => {}
            }
            list.nodes.push(node);
        }
    }
}

/// Output names the template reads as `.x.value` or `$.x.value` (Terraform's `output -json`
/// shape).
fn value_reads(list: &ListNode, out: &mut Vec<String>) {
    let pipe = |p: &PipeNode, out: &mut Vec<String>| {
        each_leaf(p, &mut |e| match e {
            Expr::Field(_, names) if names.len() >= 2 && names[1] == "value" => {
                out.push(names[0].to_string());
            }
            Expr::Variable(_, name, names)
                if name == "$" && names.len() >= 2 && names[1] == "value" =>
            {
                out.push(names[0].to_string());
            }
            _ => {}
        });
    };
    for node in &list.nodes {
        match node {
            Node::Action(a) => pipe(&a.pipe, out),
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                pipe(&b.pipe, out);
                value_reads(&b.body, out);
                if let Some(e) = &b.else_body {
                    value_reads(e, out);
                }
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    pipe(p, out);
                }
            }
            Node::List(l) => value_reads(l, out),
            Node::Define(d) => value_reads(&d.body, out),
            _ => {}
        }
    }
}

fn syntax_error(name: &str, e: &TemplateError) -> UserError {
    match e {
        TemplateError::Parse {
            line, col, message, ..
        }
        | TemplateError::Lex {
            line, col, message, ..
        } => UserError::new(format!(
            "{name}:{line}:{col}: Go template syntax error: {message}; fix the template"
        )),
        other => UserError::new(format!("{name}: Go template syntax error: {other}")),
    }
}

impl GoRenderer {
    /// Parses the template and the snippets, rewrites their actions and registers the functions.
    fn compile(&self, name: &str, source: &str) -> Result<(Compiled, Vec<String>), UserError> {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        if source.len() > MAX_SOURCE {
            return Err(UserError::new(format!(
                "{name}: the template is {} bytes; kopsform renders templates of at most {MAX_SOURCE} bytes",
                source.len()
            )));
        }
        check_blocks(name, source)?;
        let source = &*left_trimmed_comments(source);
        let mut trees: Vec<(String, Option<String>, &str, ListNode)> = Vec::new();
        let parsed = Template::new(MAIN)
            .parse(source)
            .map_err(|e| syntax_error(name, &e))?;
        for t in parsed.templates() {
            if let Some(tree) = parsed.lookup(t) {
                trees.push((t.to_string(), None, source, tree.clone()));
            }
        }
        let snippet_sources: Vec<String> = self
            .snippets
            .iter()
            .map(|s| left_trimmed_comments(&s.source).into_owned())
            .collect();
        for (snippet, snippet_source) in self.snippets.iter().zip(&snippet_sources) {
            if snippet.name == MAIN {
                return Err(UserError::new(format!(
                    "{}: a snippet cannot have the same name as the template ({MAIN}), as in kops",
                    snippet.path
                )));
            }
            check_blocks(&snippet.path, &snippet.source)?;
            let parsed = Template::new(&snippet.name)
                .parse(snippet_source)
                .map_err(|e| syntax_error(&snippet.path, &e))?;
            for t in parsed.templates() {
                if let Some(tree) = parsed.lookup(t) {
                    trees.push((
                        t.to_string(),
                        Some(snippet.path.clone()),
                        snippet_source,
                        tree.clone(),
                    ));
                }
            }
        }
        let has_main = trees.iter().any(|t| t.0 == MAIN);
        let mut reads = Vec::new();
        let (mut sites, mut marks) = (Vec::new(), Vec::new());
        let mut rewritten = Vec::new();
        for (tname, file, src, mut tree) in trees {
            value_reads(&tree, &mut reads);
            Rewriter {
                file,
                source: src,
                lines: crate::text::LineIndex::new(src),
                sites: &mut sites,
                marks: &mut marks,
            }
            .list(&mut tree);
            rewritten.push((tname, tree));
        }
        let cell: Arc<OnceLock<Weak<Template>>> = Arc::new(OnceLock::new());
        let mut template = Template::new(MAIN).missing_key(match self.missing {
            Missing::Error => MissingKey::Error,
            Missing::NoValue => MissingKey::Invalid,
        });
        for (fname, f) in FUNCTIONS {
            let f = *f;
            template = template.func(fname, move |a: &[GoValue]| {
                f(a).map_err(|e| match e {
                    TemplateError::Exec(m) => err(format!("{fname}: {m}")),
                    other => other,
                })
            });
        }
        for fname in UNSUPPORTED {
            template = template.func(fname, move |_: &[GoValue]| {
                Err(err(format!(
                    "`{fname}` is a function of `kops toolbox template` that kopsform does not provide (docs/templates.md, Go templates); use a value instead"
                )))
            });
        }
        let include_cell = Arc::clone(&cell);
        template = template.func("include", move |a: &[GoValue]| {
            let (Some(name), Some(data)) = (a.first(), a.get(1)) else {
                return Err(err(
                    "include takes a snippet name and a value: include \"name\" .",
                ));
            };
            let name = strval(name);
            let Some(template) = include_cell.get().and_then(Weak::upgrade) else {
                return Err(err("include: the template is gone"));
            };
            include(&template, &name, data)
        });
        template = template.func(AT, |a: &[GoValue]| {
            let n = a.first().map_or(0, to_int);
            CURRENT.with(|c| c.set(usize::try_from(n).unwrap_or(usize::MAX)));
            Ok(GoValue::String("".into()))
        });
        template = template.func(EMIT, emit);
        for (tname, tree) in rewritten {
            template = template.add_parse_tree(&tname, tree);
        }
        let template = Arc::new(template);
        let _ = cell.set(Arc::downgrade(&template));
        reads.sort();
        reads.dedup();
        Ok((
            Compiled {
                template,
                sites,
                marks,
                has_main,
            },
            reads,
        ))
    }

    /// The context as this template reads it: outputs it reads as `.x.value` in Terraform's
    /// `output -json` shape, and `clusterName` as kops sets it.
    fn context(context: &Value, reads: &[String]) -> Value {
        let mut context = context.clone();
        let outputs: Vec<String> = context
            .get("outputs")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        if let Value::Object(map) = &mut context {
            for name in reads {
                if !outputs.contains(name) {
                    continue;
                }
                if let Some(v) = map.get_mut(name)
                    && !v.as_object().is_some_and(|o| o.contains_key("value"))
                {
                    let value = v.take();
                    *v = serde_json::json!({"sensitive": false, "type": terraform_type(&value), "value": value});
                }
            }
            if !map.contains_key("clusterName")
                && let Some(name) = map
                    .get("cluster")
                    .and_then(|c| c.get("name"))
                    .and_then(Value::as_str)
            {
                map.insert("clusterName".into(), Value::String(name.to_string()));
            }
        }
        context
    }

    fn run(
        &self,
        name: &str,
        compiled: &Compiled,
        data: &GoValue,
        context: &Value,
    ) -> Result<String, UserError> {
        if !compiled.has_main {
            return Ok(String::new());
        }
        CURRENT.with(|c| c.set(usize::MAX));
        compiled
            .template
            .execute_template_to_string(MAIN, data)
            .map_err(|e| self.describe_error(name, compiled, &e, context))
            .and_then(|out| {
                if out.len() > MAX_OUTPUT {
                    return Err(UserError::new(format!(
                        "{name}: the result would exceed {MAX_OUTPUT} bytes, the most kopsform renders"
                    )));
                }
                Ok(out)
            })
    }

    fn describe_error(
        &self,
        name: &str,
        compiled: &Compiled,
        e: &TemplateError,
        context: &Value,
    ) -> UserError {
        let mark = CURRENT.with(std::cell::Cell::get);
        let at = compiled.marks.get(mark).map_or_else(
            || name.to_string(),
            |m| {
                format!(
                    "{}:{}:{}",
                    m.file.as_deref().unwrap_or(name),
                    m.line,
                    m.column
                )
            },
        );
        match e {
            TemplateError::MissingKey { key } => {
                let names: Vec<String> = context
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                let others: Vec<String> = names.iter().filter(|n| *n != key).cloned().collect();
                let hint = if names.is_empty() {
                    "; there are no values at all: has the prerequisites layer been applied?"
                        .to_string()
                } else {
                    format!(
                        "{}; the values that exist: {}. Outputs that are null are left out by `terraform output -json`: use `default` on a value that may be missing, or `missing = \"no-value\"` for Go's `<no value>`",
                        suggest(key, others.iter()),
                        names.join(", ")
                    )
                };
                UserError::new(format!("{at}: missing value `{key}`{hint}"))
            }
            TemplateError::UndefinedFunction(f) => UserError::new(format!(
                "{at}: unknown function `{f}`; docs/templates.md (Go templates) lists the functions kopsform provides"
            )),
            TemplateError::Parse { .. } | TemplateError::Lex { .. } => syntax_error(name, e),
            other => UserError::new(format!("{at}: {other}")),
        }
    }

    /// Renders `source` with `context` (no structure check: for files that are not YAML).
    pub(crate) fn render(
        &self,
        name: &str,
        source: &str,
        context: &Value,
    ) -> Result<String, UserError> {
        let (compiled, reads) = self.compile(name, source)?;
        let context = Self::context(context, &reads);
        let data = to_go(&context);
        self.run_warned(name, &compiled, &data, &context)
    }

    fn run_warned(
        &self,
        name: &str,
        compiled: &Compiled,
        data: &GoValue,
        context: &Value,
    ) -> Result<String, UserError> {
        PRINTED_NIL.with(|p| p.set(false));
        let out = self.run(name, compiled, data, context)?;
        if PRINTED_NIL.with(std::cell::Cell::get) {
            crate::notice!(
                "warning: {name}: a missing or null value was written as `<no value>`, as Go templates write it; check the rendered file"
            );
        }
        Ok(out)
    }

    /// Renders a YAML template and refuses a result whose structure a value changed, as
    /// [`super::template::Renderer::render_yaml`] does for handlebars.
    pub(crate) fn render_yaml(
        &self,
        name: &str,
        source: &str,
        context: &Value,
        describe: &dyn Fn(&Culprit) -> String,
    ) -> Result<String, UserError> {
        let (compiled, reads) = self.compile(name, source)?;
        let context = Self::context(context, &reads);
        let data = to_go(&context);
        let real = self.run_warned(name, &compiled, &data, &context)?;
        check_yaml_structure(
            name,
            source,
            real,
            &compiled.sites,
            &|| self.run(name, &compiled, &data, &context),
            describe,
            GO_ADVICE,
        )
    }
}

/// Terraform's type of a value in `output -json` (`"string"`, `["list","string"]` ...), as far
/// as the value shows it.
fn terraform_type(value: &Value) -> Value {
    match value {
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Array(items) => serde_json::json!([
            "tuple",
            items.iter().map(terraform_type).collect::<Vec<_>>()
        ]),
        Value::Object(map) => serde_json::json!([
            "object",
            map.iter()
                .map(|(k, v)| (k.clone(), terraform_type(v)))
                .collect::<serde_json::Map<_, _>>()
        ]),
        Value::Null => Value::from("dynamic"),
    }
}

/// kops's `include NAME DATA`: the snippet (or `define`d template) rendered with DATA. Its text is
/// structure the template author wrote: in the shape render it is recorded with its real text,
/// so `indent` and the printing action pass it through, while the values inside it were checked
/// as slots of their own.
fn include(template: &Template, name: &str, data: &GoValue) -> Result<GoValue, TemplateError> {
    if template.lookup(name).is_none() {
        return Err(err(format!(
            "include: no snippet or template named `{name}`; the snippets are the files of the step's `snippets` folders, by file name"
        )));
    }
    let out = template
        .execute_template_to_string(name, data)
        .map_err(|e| match e {
            TemplateError::Exec(m) => err(format!("snippet: {name}, issue: {m}")),
            other => other,
        })?;
    if shape::real_of(&out).is_none()
        && let Some(real) = shape::outside(|| template.execute_template_to_string(name, data))
    {
        let real = real?;
        shape::structural(&out, &real);
    }
    Ok(GoValue::String(out.into()))
}

/// The end of every printing action: one value written as Go prints it, never a list or a map,
/// and in the shape render a token instead ([`shape::emit`]).
fn emit(args: &[GoValue]) -> Result<GoValue, TemplateError> {
    let (Some(site), Some(value)) = (args.first(), args.get(1)) else {
        return Err(err("a printing action without a value"));
    };
    if let Some(signal) = crate::tools::process::interrupted() {
        return Err(err(format!(
            "interrupted by {}",
            crate::tools::process::signal_name(signal)
        )));
    }
    let site = usize::try_from(to_int(site)).unwrap_or(usize::MAX);
    let what = match value {
        GoValue::List(_) => Some("a list"),
        GoValue::Map(_) => Some("a map"),
        GoValue::Function(_) => Some("a function"),
        _ => None,
    };
    // Go prints a list as `[a b]` and kops's templates may rely on it in text; in a YAML
    // render (the shape render runs) a list or map in one action is refused with the reason.
    if let Some(what) = what
        && shape::is_active()
    {
        return Err(err(format!(
            "the value is {what}, and an action writes one value; write lists and maps with `toJson` (one line) or `toYaml | indent N`, or walk them with `range`"
        )));
    }
    if matches!(value, GoValue::Nil) {
        PRINTED_NIL.with(|p| p.set(true));
    }
    let json = from_go(value);
    Ok(GoValue::String(
        shape::emit(site, &json, text(value)).into(),
    ))
}

#[cfg(test)]
mod tests;

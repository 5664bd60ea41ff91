//! The handlebars registry kopsform renders with: strict, no HTML escaping, YAML-minded helpers.
//!
//! Strict mode turns a reference to a missing value into an error; [`Renderer::render`] turns that
//! error into a message naming the template line, the missing name and the names that do exist.
//! Helpers take their arguments in the order of the Sprig functions that `kops toolbox template`
//! users know (`default FALLBACK VALUE`, `join SEP LIST`, `indent N TEXT` ...), so a migrated
//! template reads the same.

use base64::Engine;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason, Renderable, ScopedJson,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use super::{compile, shape, structure};
use crate::error::UserError;
use crate::text::suggest;

type HelperFn = fn(&[Value]) -> Result<Value, String>;

/// A helper computing a value from its parameters. `missing_ok` lists the parameter positions that
/// may name a missing value (they arrive as `null`), as `default` and `required` need.
struct ValueHelper {
    arity: usize,
    missing_ok: &'static [usize],
    f: HelperFn,
}

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let params = h.params();
        if params.len() != self.arity {
            return Err(RenderErrorReason::Other(format!(
                "helper `{}` takes {} argument(s), got {}",
                h.name(),
                self.arity,
                params.len()
            ))
            .into());
        }
        let mut args = Vec::with_capacity(params.len());
        for (i, p) in params.iter().enumerate() {
            if p.is_value_missing() {
                if self.missing_ok.contains(&i) {
                    args.push(Value::Null);
                    continue;
                }
                return Err(RenderError::strict_error(p.relative_path()));
            }
            args.push(p.value().clone());
        }
        (self.f)(&args)
            .map(ScopedJson::Derived)
            .map_err(|e| RenderErrorReason::Other(format!("helper `{}`: {e}", h.name())).into())
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn to_yaml(v: &Value) -> Result<String, String> {
    Ok(super::yaml_out::to_yaml(v))
}

/// Compact JSON, with the characters a YAML 1.1 parser takes for line breaks (NEL, LS, PS)
/// escaped: raw, they would fold the double-quoted scalar JSON is in YAML.
fn to_json(v: &Value) -> String {
    let s = v.to_string();
    if !s.contains(['\u{85}', '\u{2028}', '\u{2029}']) {
        return s;
    }
    s.replace('\u{85}', "\\u0085")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// `yaml`/`json`: in the shape render, the same structure with a token for every string in it.
fn structure(v: &Value, write: fn(&Value) -> Result<String, String>) -> Result<Value, String> {
    let real = write(v)?;
    let text = match shape::tokenized(v) {
        Some(tokens) => {
            let text = write(&tokens)?;
            shape::structural(&text, &real);
            text
        }
        None => real,
    };
    Ok(Value::String(text))
}

/// `indent`/`nindent` of `v`: structure stays structure; any other text, in the shape render,
/// has a token per line.
fn indented(n: &Value, v: &Value, newline: bool) -> Result<Value, String> {
    let n = count(n)?;
    if n > MAX_INDENT {
        return Err(format!(
            "an indent of {n} spaces; kopsform indents by at most {MAX_INDENT}"
        ));
    }
    let indent = |text: &str| {
        let out = indent_lines(n, text);
        if newline { format!("\n{out}") } else { out }
    };
    let text = text(v);
    if let Some(real) = shape::real_of(&text) {
        let (shaped, real) = (indent(&text), indent(&real));
        shape::structural(&shaped, &real);
        return Ok(Value::String(shaped));
    }
    if let Some(lines) = shape::tokenized_lines(&text) {
        let (shaped, real) = (indent(&lines), indent(&text));
        shape::structural(&shaped, &real);
        return Ok(Value::String(shaped));
    }
    Ok(Value::String(indent(&text)))
}

fn indent_lines(n: usize, s: &str) -> String {
    let pad = " ".repeat(n);
    s.split('\n')
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn count(v: &Value) -> Result<usize, String> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("expected a whole number, got {v}"))
}

/// `TEXT.replace(OLD, NEW)`, refused when the result would exceed [`MAX_OUTPUT`].
fn replace(old: &str, new: &str, text: &str) -> Result<String, String> {
    let matches = if old.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(old).count()
    };
    let size = text.len() + matches.saturating_mul(new.len());
    if size > MAX_OUTPUT {
        return Err(format!(
            "the result would be {size} bytes; kopsform renders at most {MAX_OUTPUT}"
        ));
    }
    Ok(text.replace(old, new))
}

/// `items` joined by `sep`, refused when the result would exceed [`MAX_OUTPUT`].
fn join<'a>(sep: &str, items: impl Iterator<Item = &'a Value> + Clone) -> Result<String, String> {
    let size = items
        .clone()
        .map(|v| text(v).len().saturating_add(sep.len()))
        .fold(0usize, usize::saturating_add);
    if size > MAX_OUTPUT {
        return Err(format!(
            "the result would be {size} bytes; kopsform renders at most {MAX_OUTPUT}"
        ));
    }
    Ok(items.map(text).collect::<Vec<_>>().join(sep))
}

/// The widest `indent`/`nindent`.
pub(crate) const MAX_INDENT: usize = 256;
/// The largest text a render (or one helper) may produce, in bytes.
pub(crate) const MAX_OUTPUT: usize = 64 << 20;

const HELPERS: &[(&str, usize, &[usize], HelperFn)] = &[
    ("yaml", 1, &[], |a| structure(&a[0], to_yaml)),
    ("json", 1, &[], |a| structure(&a[0], |v| Ok(to_json(v)))),
    ("indent", 2, &[], |a| indented(&a[0], &a[1], false)),
    ("nindent", 2, &[], |a| indented(&a[0], &a[1], true)),
    ("default", 2, &[1], |a| {
        Ok(if is_empty(&a[1]) {
            a[0].clone()
        } else {
            a[1].clone()
        })
    }),
    ("required", 2, &[1], |a| {
        if is_empty(&a[1]) {
            Err(text(&a[0]))
        } else {
            Ok(a[1].clone())
        }
    }),
    ("join", 2, &[], |a| match &a[1] {
        Value::Array(items) => join(&text(&a[0]), items.iter()).map(Value::String),
        Value::Object(map) => join(&text(&a[0]), map.values()).map(Value::String),
        other => Ok(Value::String(text(other))),
    }),
    ("replace", 3, &[], |a| {
        replace(&text(&a[0]), &text(&a[1]), &text(&a[2])).map(Value::String)
    }),
    ("int", 1, &[], |a| match &a[0] {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(a[0].clone()),
        v => text(v)
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{v} is not a whole number")),
    }),
    ("float", 1, &[], |a| match &a[0] {
        Value::Number(_) => Ok(a[0].clone()),
        v => text(v)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{v} is not a number")),
    }),
    ("trimPrefix", 2, &[], |a| {
        let (p, s) = (text(&a[0]), text(&a[1]));
        Ok(Value::String(s.strip_prefix(&p).unwrap_or(&s).to_string()))
    }),
    ("trimSuffix", 2, &[], |a| {
        let (p, s) = (text(&a[0]), text(&a[1]));
        Ok(Value::String(s.strip_suffix(&p).unwrap_or(&s).to_string()))
    }),
    ("lower", 1, &[], |a| {
        Ok(Value::String(text(&a[0]).to_lowercase()))
    }),
    ("upper", 1, &[], |a| {
        Ok(Value::String(text(&a[0]).to_uppercase()))
    }),
    ("b64enc", 1, &[], |a| {
        Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(text(&a[0])),
        ))
    }),
    ("keys", 1, &[], |a| match &a[0] {
        Value::Object(map) => Ok(Value::Array(
            map.keys().map(|k| Value::String(k.clone())).collect(),
        )),
        other => Err(format!("expected a map, got {other}")),
    }),
    ("values", 1, &[], |a| match &a[0] {
        Value::Object(map) => Ok(Value::Array(map.values().cloned().collect())),
        other => Err(format!("expected a map, got {other}")),
    }),
];

/// Writes what a slot (`{{...}}`) writes: one value, never a list or a map, and in the shape
/// render a token instead ([`shape::emit`]).
struct Emit;

impl HelperDef for Emit {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let (Some(param), Some(site)) = (h.param(0), h.param(1)) else {
            return Err(RenderErrorReason::Other("a slot without a value".into()).into());
        };
        if param.is_value_missing() {
            return Err(RenderError::strict_error(param.relative_path()));
        }
        if let Some(signal) = crate::tools::process::interrupted() {
            return Err(RenderErrorReason::Other(format!(
                "interrupted by {}",
                crate::tools::process::signal_name(signal)
            ))
            .into());
        }
        let value = param.value();
        let what = match value {
            Value::Array(_) => Some("a list"),
            Value::Object(_) => Some("a map"),
            _ => None,
        };
        if let Some(what) = what {
            let name = param
                .relative_path()
                .map_or_else(|| "the expression".to_string(), |p| format!("`{p}`"));
            return Err(RenderErrorReason::Other(format!(
                "{name} is {what}, and a `{{{{...}}}}` slot writes one value; write lists and maps with `{{{{json ...}}}}` (one line) or `{{{{yaml ...}}}}` with `indent`, or walk them with `{{{{#each}}}}`"
            ))
            .into());
        }
        let site = site.value().as_u64().unwrap_or(u64::MAX) as usize;
        out.write(&shape::emit(site, value, text(value)))?;
        Ok(())
    }
}

/// A string output that refuses to grow past [`MAX_OUTPUT`] (a `{{#each}}` over a large list in a
/// large list grew without bound).
struct Limited(String);

impl Output for Limited {
    fn write(&mut self, seg: &str) -> Result<(), std::io::Error> {
        if self.0.len() + seg.len() > MAX_OUTPUT {
            return Err(std::io::Error::other(format!(
                "the result would exceed {MAX_OUTPUT} bytes, the most kopsform renders"
            )));
        }
        self.0.push_str(seg);
        Ok(())
    }
}

/// A slot whose value changed the structure of the result, for the message.
pub(crate) struct Culprit<'a> {
    /// The value paths the expression reads.
    pub(crate) paths: &'a [String],
    /// What it wrote.
    pub(crate) value: &'a str,
}

/// A handlebars registry with kopsform's settings and helpers.
///
/// Both the registry and the compiled templates are made once per process and shared: by every
/// cluster, and by the runners of `--jobs` on their threads. Compiling was two thirds of a
/// cluster's cost (issue 19: the handlebars parser, its line and column lookup above all, ran
/// again on every render of the same template). A `Renderer` is a pair of references.
#[derive(Clone, Copy)]
pub(crate) struct Renderer {
    registry: &'static Handlebars<'static>,
    helpers: &'static [&'static str],
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

/// The registry and the names of its helpers, made on first use.
static REGISTRY: LazyLock<(Handlebars<'static>, Vec<&'static str>)> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    for (name, arity, missing_ok, f) in HELPERS {
        registry.register_helper(
            name,
            Box::new(ValueHelper {
                arity: *arity,
                missing_ok,
                f: *f,
            }),
        );
    }
    registry.register_helper(compile::EMIT, Box::new(Emit));
    let helpers = BUILTIN_HELPERS
        .iter()
        .copied()
        .chain(HELPERS.iter().map(|h| h.0))
        .collect();
    (registry, helpers)
});

/// Templates compiled, by their source text (a BOM taken off). The same text compiles to the same
/// template whatever it is named: the name only goes into messages, which are made from a failed
/// compile, never kept here. Bounded, so that a long-lived process rendering ever new text (the
/// fuzzer) does not grow without end: when full, it starts again.
///
/// One slot per text, filled once: the first thread to ask compiles it and the others asking for
/// the same text meanwhile wait for that compile instead of making their own. A fleet's first
/// `--jobs` clusters all render the same template at the same moment, on fewer cores than jobs:
/// eight copies of one compile delayed every cluster's first step (issue 19).
static COMPILED: LazyLock<Mutex<HashMap<String, CompiledSlot>>> = LazyLock::new(Mutex::default);
type CompiledSlot = Arc<OnceLock<Result<Arc<compile::Compiled>, String>>>;
const COMPILED_KEPT: usize = 4096;

impl Renderer {
    pub(crate) fn new() -> Self {
        let (registry, helpers) = &*REGISTRY;
        Renderer { registry, helpers }
    }

    fn compile(&self, name: &str, source: &str) -> Result<Arc<compile::Compiled>, UserError> {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        let slot: Option<CompiledSlot> = COMPILED.lock().ok().map(|mut cache| {
            if let Some(slot) = cache.get(source) {
                return Arc::clone(slot);
            }
            if cache.len() >= COMPILED_KEPT {
                cache.clear();
            }
            let slot = CompiledSlot::default();
            cache.insert(source.to_string(), Arc::clone(&slot));
            slot
        });
        let compiled = match &slot {
            // Compiled outside the map's lock: other texts compile meanwhile; a thread asking
            // for this text waits in `get_or_init` for this compile.
            Some(slot) => slot
                .get_or_init(|| compile::compile(source, self.helpers).map(Arc::new))
                .clone(),
            // A poisoned map (a panic while it was held): compiled without it.
            None => compile::compile(source, self.helpers).map(Arc::new),
        };
        compiled.map_err(|e| {
            // A failed compile is not kept: the next render of this text compiles it again.
            if let Some(slot) = &slot
                && let Ok(mut cache) = COMPILED.lock()
                && cache
                    .get(source)
                    .is_some_and(|kept| Arc::ptr_eq(kept, slot))
            {
                cache.remove(source);
            }
            let sep = if e.starts_with(|c: char| c.is_ascii_digit()) {
                ":"
            } else {
                ": "
            };
            UserError::new(format!("{name}{sep}{e}"))
        })
    }

    fn run(
        &self,
        name: &str,
        compiled: &compile::Compiled,
        context: &Context,
    ) -> Result<String, UserError> {
        let mut rc = RenderContext::new(None);
        let mut out = Limited(String::new());
        compiled
            .template
            .render(self.registry, context, &mut rc, &mut out)
            .map_err(|e| describe_render_error(name, &e, context.data()))?;
        Ok(out.0)
    }

    /// Renders `source` (named `name` in messages) with `context`.
    pub(crate) fn render(
        &self,
        name: &str,
        source: &str,
        context: &Value,
    ) -> Result<String, UserError> {
        go_hint(source, || {
            let compiled = self.compile(name, source)?;
            let context = Context::wraps(context).map_err(|e| UserError::new(e.to_string()))?;
            self.run(name, &compiled, &context)
        })
    }

    /// Renders a YAML template and refuses a result whose structure a value changed: see
    /// [`super::structure`]. `describe` says where a culprit's value came from (and may hide it).
    pub(crate) fn render_yaml(
        &self,
        name: &str,
        source: &str,
        context: &Value,
        describe: &dyn Fn(&Culprit) -> String,
    ) -> Result<String, UserError> {
        let (compiled, real, context) = go_hint(source, || {
            let compiled = self.compile(name, source)?;
            let context = Context::wraps(context).map_err(|e| UserError::new(e.to_string()))?;
            let real = self.run(name, &compiled, &context)?;
            Ok((compiled, real, context))
        })?;
        check_yaml_structure(
            name,
            source,
            real,
            &compiled.sites,
            &|| self.run(name, &compiled, &context),
            describe,
            "quote string slots (`key: \"{{x}}\"`), write lists and maps with `json`/`yaml`, multi-line text as a block scalar with `indent` (docs/templates.md, YAML safety)",
        )
    }
}

/// A Go template's action: `{{range`, `{{.Field`, `{{$x :=` ... (compiled once per process).
static GO_ACTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"\{\{-?\s*(range\b|end\b|with\b|define\b|template\b|else\s+if\b|\.[A-Za-z_]|\$\.|\$[A-Za-z_]\w*\s*:=|/\*)",
    )
    .expect("a valid pattern")
});

/// Whether `source` looks like a Go template (for the hint when handlebars refuses it).
fn looks_like_go(source: &str) -> bool {
    GO_ACTION.is_match(source)
}

/// `f`'s error, with a hint to use the Go engine when `source` looks like a Go template (a
/// `kops toolbox template` template fails as handlebars, at parse time or as unknown helpers
/// such as `range`).
fn go_hint<T>(source: &str, f: impl FnOnce() -> Result<T, UserError>) -> Result<T, UserError> {
    f().map_err(|mut e| {
        if looks_like_go(source) {
            e.message.push_str(". This looks like a Go template (`kops toolbox template`): add `engine = \"go\"` to its `render` step in tasks.toml to render it unchanged (docs/templates.md, Go templates)");
        }
        e
    })
}

/// The structure guarantee of both engines: renders again in shape mode (`shape_render`, the
/// same template and values with every slot writing a token) and refuses `real` when a value
/// changed its YAML structure, naming the slot of `sites` to blame.
pub(crate) fn check_yaml_structure(
    name: &str,
    source: &str,
    real: String,
    sites: &[compile::Site],
    shape_render: &dyn Fn() -> Result<String, UserError>,
    describe: &dyn Fn(&Culprit) -> String,
    advice: &str,
) -> Result<String, UserError> {
    // Token names must not occur in the template or in any value. One nonce serves the process
    // while it does not: the clusters of a fleet then render the same shape text, which
    // `structure::compare` parses once (issue 19).
    static NONCE: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    let mut kept = NONCE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut nonce = if kept.is_empty() {
        format!("{:x}", nonce_seed())
    } else {
        kept.clone()
    };
    while source.contains(&format!("kfv{nonce}")) || real.contains(&format!("kfv{nonce}")) {
        nonce = format!("{:x}", nonce_seed());
    }
    kept.clone_from(&nonce);
    drop(kept);
    let (shape_text, shape) = shape::with_shape(nonce, shape_render);
    let shape_text = shape_text.map_err(|e| {
        UserError::new(format!(
            "{}; (while checking that no value changes the YAML structure)",
            e.message
        ))
    })?;
    let Err(mismatch) = structure::compare(&shape, &shape_text, &real) else {
        return Ok(real);
    };
    // Who to blame: the slot whose value alone changes the structure, with what it wrote.
    let (mismatch, culprit) = match structure::blame(&shape, &shape_text) {
        Some((structure::Blamed::Token(t), m)) => {
            let site = match shape.tokens[t].kind {
                shape::TokenKind::Slot { site, .. }
                | shape::TokenKind::Line { site: Some(site) }
                | shape::TokenKind::Leaf { site: Some(site) } => Some(site),
                _ => None,
            };
            (m, site.map(|s| (s, shape.tokens[t].text.clone())))
        }
        Some((structure::Blamed::Emission(e), m)) => {
            let (site, _, real) = &shape.passed[e];
            (m, Some((*site, real.clone())))
        }
        None => (mismatch, None),
    };
    let culprit = culprit.and_then(|(site, value)| Some((sites.get(site)?, value)));
    let at = if mismatch.path.is_empty() {
        String::new()
    } else {
        format!(" (document {}, `{}`)", mismatch.document, mismatch.path)
    };
    let message = match culprit {
        Some((site, value)) => {
            let culprit = Culprit {
                paths: &site.paths,
                value: &value,
            };
            format!(
                "{}:{}:{}: the value of `{{{{{}}}}}` would change the YAML structure of the result{at}: {}; {}. Nothing was written. A value must land as exactly one scalar: {advice}",
                site.file.as_deref().unwrap_or(name),
                site.line,
                site.column,
                site.expression,
                mismatch.why,
                describe(&culprit)
            )
        }
        _ => format!(
            "{name}: the values change the YAML structure of the result{at}: {}. Nothing was written (docs/templates.md, YAML safety)",
            mismatch.why
        ),
    };
    Err(UserError::new(message))
}

impl Renderer {
    /// Renders a one-line template (an argv element, a cluster name).
    pub(crate) fn render_inline(
        &self,
        what: &str,
        source: &str,
        context: &Value,
    ) -> Result<String, UserError> {
        if !source.contains("{{") {
            return Ok(source.to_string());
        }
        if let Some(text) = plain_paths(source, context, self.helpers) {
            return Ok(text);
        }
        self.render(what, source, context)
    }
}

/// `source` with each of its expressions, when every one is a plain path to a string of
/// `context` (`{{cluster.name}}`, `{{ kops_state_store }}`), replaced by that string, as
/// handlebars renders it (no escaping); `None` when any is something else (a helper, a block,
/// a missing or non-string value, `this`, `@root`, `../`, whitespace control): handlebars renders
/// those, with its strict mode and its messages. Turning the whole context into a handlebars one
/// for each argument was most of what rendering a step's arguments cost (issue 19).
fn plain_paths(source: &str, context: &Value, helpers: &[&str]) -> Option<String> {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let path = after[..end].trim();
        let first = path.split('.').next()?;
        if helpers.contains(&first) || matches!(first, "this" | "else") {
            return None;
        }
        let mut value = context;
        for segment in path.split('.') {
            let plain = !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !plain {
                return None;
            }
            value = value.as_object()?.get(segment)?;
        }
        out.push_str(value.as_str()?);
        rest = &after[end + 2..];
    }
    // A lone `}}` or `{{` left would be text to handlebars, or an error: let it decide.
    if rest.contains("}}") {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// A seed for the shape render's token names: differs between runs.
fn nonce_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() >> 16
}

/// Helpers handlebars itself registers (a name-only `{{x}}` with one of these names is a call).
const BUILTIN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte",
    "and", "or", "not", "len",
];

fn describe_render_error(name: &str, e: &RenderError, context: &Value) -> UserError {
    let at = match (e.line_no, e.column_no) {
        (Some(line), Some(col)) => format!("{name}:{line}:{col}"),
        _ => name.to_string(),
    };
    match e.reason() {
        RenderErrorReason::TemplateError(te) => {
            let at = te
                .pos()
                .map(|(line, col)| format!(":{line}:{col}"))
                .unwrap_or_default();
            UserError::new(format!(
                "{name}{at}: template syntax error: {}; fix the template",
                te.reason()
            ))
        }
        RenderErrorReason::MissingVariable(path) => {
            let Some(missing) = path.clone() else {
                return UserError::new(format!(
                    "{at}: a missing value inside a helper call (e.g. `lookup` of a map or key that does not exist); check the names used on this line"
                ));
            };
            let names: Vec<String> = match context {
                Value::Object(map) => map.keys().cloned().collect(),
                _ => Vec::new(),
            };
            let head = missing
                .trim_start_matches("this.")
                .trim_start_matches("../")
                .split(['.', '/', '['])
                .next()
                .unwrap_or_default()
                .to_string();
            let hint = if names.is_empty() {
                "; there are no values at all: has the prerequisites layer been applied?"
                    .to_string()
            } else {
                format!(
                    "{}; the values that exist: {}. Outputs that are null are left out by `terraform output -json`: use `default` for optional values",
                    suggest(&head, names.iter()),
                    names.join(", ")
                )
            };
            UserError::new(format!("{at}: missing value `{missing}`{hint}"))
        }
        RenderErrorReason::HelperNotFound(helper) => UserError::new(format!(
            "{at}: unknown helper or value `{helper}`; docs/templates.md lists the helpers"
        )),
        other => UserError::new(format!("{at}: {other}")),
    }
}

/// `text` with each `{{prefix.field}}` replaced by the string `fields[field]`, when those are its
/// only expressions and every such field is a string; `None` otherwise (a helper, a block, another
/// value: the template needs the full context, where strict mode and helpers apply).
pub(crate) fn substitute_fields(
    text: &str,
    prefix: &str,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    substitute_field_sets(text, &[(prefix, fields)])
}

/// [`substitute_fields`] with several prefixes (`cluster`, `params`), each with its fields. A
/// substituted value is never read again as a template.
pub(crate) fn substitute_field_sets(
    text: &str,
    sets: &[(&str, &serde_json::Map<String, serde_json::Value>)],
) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let reference = after[..end].trim();
        let value = sets.iter().find_map(|(prefix, fields)| {
            let name = reference.strip_prefix(prefix)?.strip_prefix('.')?;
            fields.get(name)?.as_str()
        })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, ctx: Value) -> Result<String, UserError> {
        Renderer::new().render("t.yml", src, &ctx)
    }

    #[test]
    fn threads_asking_for_the_same_text_at_once_share_one_compile() {
        // A text no other test renders, so that this test's threads are the first to ask.
        let source = "shared: {{ one_compile_for_all_threads }}\n";
        let start = std::sync::Barrier::new(8);
        let compiled: Vec<Arc<compile::Compiled>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        Renderer::new().compile("t.yml", source).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(compiled.iter().all(|c| Arc::ptr_eq(c, &compiled[0])));
    }

    #[test]
    fn a_failed_compile_is_not_kept() {
        let source = "broken: {{#if}}\n";
        let first = Renderer::new().compile("a.yml", source).err().unwrap();
        assert!(!COMPILED.lock().unwrap().contains_key(source));
        // The message names the template of each render, not the first one's.
        let second = Renderer::new().compile("b.yml", source).err().unwrap();
        assert!(first.message.starts_with("a.yml"), "{}", first.message);
        assert!(second.message.starts_with("b.yml"), "{}", second.message);
    }

    #[test]
    fn plain_paths_render_as_handlebars_does() {
        let ctx = json!({
            "cluster": {"name": "a.example.com", "state": "s3://b/c", "stage": null, "n": 3},
            "kops_state_store": "s3://x",
            "list": ["p", "q"],
            "odd-name": "o",
            "json": "shadowed by the helper",
            "html": "<a href=\"x\">&amp;</a>",
            "this": "t",
        });
        let r = Renderer::new();
        for src in [
            "{{cluster.name}}",
            "{{ cluster.name }}",
            "--name={{cluster.name}} --state {{cluster.state}}",
            "{{kops_state_store}}/{{cluster.name}}",
            "{{odd-name}}",
            "{{html}}",
            "{{cluster.stage}}",
            "{{cluster.n}}",
            "{{cluster}}",
            "{{list.0}}",
            "{{list.[0]}}",
            "{{json cluster}}",
            "{{this.kops_state_store}}",
            "{{@root.kops_state_store}}",
            "{{~cluster.name~}}",
            "{{{cluster.name}}}",
            "{{cluster.name}}}",
            "x }} y {{cluster.name}}",
            "{{cluster.missing}}",
            "{{missing}}",
            "{{cluster..name}}",
            "{{cluster.name",
            "{{#if cluster.name}}y{{/if}}",
            "{{else}}",
        ] {
            let fast = plain_paths(src, &ctx, r.helpers);
            let slow = r.render("t", src, &ctx).map_err(|e| e.message);
            if let Some(fast) = fast {
                assert_eq!(Ok(fast), slow, "{src:?}");
            }
        }
        // The plain ones take the fast path.
        for src in [
            "{{cluster.name}}",
            "{{ kops_state_store }}/{{cluster.state}}",
            "{{odd-name}}",
        ] {
            assert!(plain_paths(src, &ctx, r.helpers).is_some(), "{src:?}");
        }
    }

    fn yaml(src: &str, ctx: Value) -> Result<String, String> {
        Renderer::new()
            .render_yaml("t.yml", src, &ctx, &|c| format!("value {:?}", c.value))
            .map_err(|e| e.message)
    }

    #[test]
    fn values_land_as_one_scalar_or_are_refused() {
        let template =
            "a:\n  q: \"{{v}}\"\n  p: {{v}}\n  s: '{{v}}'\n  l:\n  - {{v}}\n  k: x-{{v}}\n";
        let ok = [
            "plain",
            "ami-0abc",
            "1.30.2",
            "a b",
            "t3.medium",
            "kfv0s0k",
            "kfv1as1k",
        ];
        for v in ok {
            let out = yaml(template, json!({"v": v})).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            let back: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
            assert_eq!(back["a"]["p"].as_str(), Some(v), "{v:?}");
        }
        let bad = [
            "a\nb: c",
            "x\"\n  evil: 1",
            "#x",
            "&x",
            "|",
            ">",
            "yes",
            "null",
            "~",
            "0x1F",
            "---\nkind: X",
            "a: b",
            "- x",
            "[a]",
            "{a: 1}",
            "*x",
            "!!str x",
            "",
            "010",
            "a #b",
            "on",
            "'",
            "\"",
            "x\u{2028}y: 1",
            "x\u{85}y",
        ];
        for v in bad {
            let err = yaml(template, json!({"v": v})).expect_err(&format!("{v:?} was accepted"));
            assert!(err.starts_with("t.yml:"), "{v:?}: {err}");
        }
    }

    #[test]
    fn handlebars_forms_real_templates_use_still_render() {
        let ctx = json!({
            "azs": ["eu-west-1a", "eu-west-1b"],
            "subnets": {"eu-west-1a": "subnet-1", "eu-west-1b": "subnet-2"},
            "bucket": "my-bucket",
            "net": {"cidr": "10.0.0.0/16", "v6": "fd00::/64"},
            "count": 3,
        });
        let t = "\
subnets:
{{#each subnets as |id zone|}}
- id: {{id}}
  zone: {{zone}}
{{/each}}
etcd:
{{#each azs}}
- name: {{this}}
  instanceGroup: master-{{this}}
  index: {{@index}}
{{/each}}
{{#with net}}
cidr: {{cidr}}
v6: {{v6}}
{{/with}}
first: {{lookup subnets \"eu-west-1a\"}}
policy: |
  {\"Resource\": [\"arn:aws:s3:::{{bucket}}/*\"]}
{{#if count}}maxSize: {{count}}{{else}}maxSize: 1{{/if}}
";
        let out = yaml(t, ctx).unwrap();
        let back: serde_json::Value =
            serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(&out).unwrap()).unwrap();
        assert_eq!(
            back["subnets"][1],
            json!({"id": "subnet-2", "zone": "eu-west-1b"})
        );
        assert_eq!(
            back["etcd"][1],
            json!({"name": "eu-west-1b", "instanceGroup": "master-eu-west-1b", "index": 1})
        );
        assert_eq!(back["cidr"], json!("10.0.0.0/16"));
        assert_eq!(back["v6"], json!("fd00::/64"));
        assert_eq!(back["first"], json!("subnet-1"));
        assert_eq!(
            back["policy"],
            json!("{\"Resource\": [\"arn:aws:s3:::my-bucket/*\"]}\n")
        );
        assert_eq!(back["maxSize"], json!(3));
    }

    #[test]
    fn a_structure_change_is_named_whole() {
        let err = yaml(
            "spec:\n  networkID: {{vpc}}\n  topology: x\n",
            json!({"vpc": "vpc-1\n  additionalPolicies: {node: '*'}"}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "t.yml:2:14: the value of `{{vpc}}` would change the YAML structure of the result \
             (document 1, `spec`): the map has 3 keys where the template has 2; \
             value \"vpc-1\\n  additionalPolicies: {node: '*'}\". Nothing was written. A value must \
             land as exactly one scalar: quote string slots (`key: \"{{x}}\"`), write lists and maps \
             with `json`/`yaml`, multi-line text as a block scalar with `indent` (docs/templates.md, \
             YAML safety)"
        );
    }

    #[test]
    fn typed_values_stay_typed() {
        let t = "n: {{n}}\nf: {{f}}\nb: {{b}}\nq: \"{{n}}\"\n";
        let out = yaml(t, json!({"n": 3, "f": 1.5, "b": true})).unwrap();
        assert_eq!(out, "n: 3\nf: 1.5\nb: true\nq: \"3\"\n");
        // A string that YAML would read as a number or boolean is refused unquoted; `int` makes
        // it a number.
        let err = yaml("n: {{n}}\n", json!({"n": "3"})).unwrap_err();
        assert!(err.contains("reads as a number"), "{err}");
        assert!(err.contains("`{{int x}}`"), "{err}");
        assert_eq!(
            yaml(
                "n: {{int n}}\nf: {{float f}}\n",
                json!({"n": " 3", "f": "1.5"})
            )
            .unwrap(),
            "n: 3\nf: 1.5\n"
        );
        assert!(
            yaml("n: {{int n}}\n", json!({"n": "3a"}))
                .unwrap_err()
                .contains("not a whole number")
        );
        let err = yaml("n: {{n}}\n", json!({"n": "true"})).unwrap_err();
        assert!(err.contains("boolean"), "{err}");
    }

    #[test]
    fn structure_helpers_insert_lists_and_maps() {
        let ctx = json!({"m": {"a": "yes", "b: c": "x\ny", "n": 2}, "l": ["a", "- b", "#c"], "s": "line1\n  line2: x\n#3"});
        let t = "m:\n{{indent 2 (yaml m)}}\nj: {{json l}}\nl:\n{{yaml l}}\nscript: |\n{{indent 2 s}}\nz: 1\n";
        let out = yaml(t, ctx.clone())
            .unwrap_or_else(|e| panic!("{e}\n{}", Renderer::new().render("t", t, &ctx).unwrap()));
        let back: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        let back = serde_json::to_value(back).unwrap();
        assert_eq!(back["m"], ctx["m"]);
        assert_eq!(back["j"], ctx["l"]);
        assert_eq!(back["l"], ctx["l"]);
        assert_eq!(back["script"], json!("line1\n  line2: x\n#3\n"));
        // yaml at the wrong indentation is refused when a value would break out.
        let err = yaml("a:\n  b: {{yaml s}}\n", ctx.clone()).unwrap_err();
        assert!(
            err.starts_with("t.yml:2:6: the value of `{{yaml s}}` would change the YAML structure"),
            "{err}"
        );
        // A list in a plain slot is refused with the reason.
        let err = yaml("a: {{l}}\n", ctx).unwrap_err();
        assert!(err.contains("is a list"), "{err}");
    }

    #[test]
    fn no_html_escaping() {
        assert_eq!(
            render("{{a}}", json!({"a": "<a&b>\"'"})).unwrap(),
            "<a&b>\"'"
        );
    }

    #[test]
    fn missing_values_name_line_and_existing_names() {
        let err = render(
            "a: 1\nb: {{vpc_idd}}\n",
            json!({"vpc_id": "v", "zone": "z"}),
        )
        .unwrap_err();
        assert!(
            err.message
                .starts_with("t.yml:2:4: missing value `vpc_idd`"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("did you mean `vpc_id`?"),
            "{}",
            err.message
        );
        assert!(err.message.contains("vpc_id, zone"), "{}", err.message);
    }

    #[test]
    fn missing_values_in_helpers_are_named_too() {
        let err = render("{{upper nope}}", json!({"x": 1})).unwrap_err();
        assert!(
            err.message.contains("missing value `nope`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = render("a\n{{#each x}}\n", json!({})).unwrap_err();
        assert!(err.message.starts_with("t.yml:"), "{}", err.message);
        assert!(err.message.contains("syntax error"), "{}", err.message);
    }

    #[test]
    fn helpers_follow_sprig_argument_order() {
        let ctx = json!({"l": ["a", "b"], "m": {"x": 1, "y": [1, 2]}, "s": "subnet-1", "e": ""});
        let cases = [
            ("{{join \",\" l}}", "a,b"),
            ("{{default \"d\" missing}}", "d"),
            ("{{default \"d\" e}}", "d"),
            ("{{default \"d\" s}}", "subnet-1"),
            ("{{trimPrefix \"subnet-\" s}}", "1"),
            ("{{trimSuffix \"-1\" s}}", "subnet"),
            ("{{replace \"-\" \"_\" s}}", "subnet_1"),
            ("{{upper s}}", "SUBNET-1"),
            ("{{lower \"AB\"}}", "ab"),
            ("{{b64enc \"hi\"}}", "aGk="),
            ("{{json l}}", "[\"a\",\"b\"]"),
            ("{{yaml m}}", "x: 1\n\"y\":\n- 1\n- 2"), // `y` is a boolean in YAML 1.1
            ("{{indent 2 (yaml m)}}", "  x: 1\n  \"y\":\n  - 1\n  - 2"),
            ("{{#if (eq s \"subnet-1\")}}yes{{/if}}", "yes"),
            ("{{#if (and (not e) (ne s \"x\"))}}ok{{/if}}", "ok"),
            ("{{join \" \" (keys m)}}", "x y"),
        ];
        for (src, want) in cases {
            assert_eq!(render(src, ctx.clone()).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn a_lookup_of_a_missing_map_says_so() {
        let err = render("a\n{{lookup nope \"k\"}}", json!({"x": 1})).unwrap_err();
        assert!(err.message.starts_with("t.yml:2:"), "{}", err.message);
        assert!(err.message.contains("missing value"), "{}", err.message);
    }

    #[test]
    fn required_fails_with_its_message() {
        let err = render("{{required \"set the AMI\" ami}}", json!({})).unwrap_err();
        assert!(err.message.contains("set the AMI"), "{}", err.message);
    }

    #[test]
    fn each_over_a_map_gives_key_and_value() {
        let out = render(
            "{{#each subnets}}{{@key}}={{this}};{{/each}}",
            json!({"subnets": {"a": "s-a", "b": "s-b"}}),
        )
        .unwrap();
        assert_eq!(out, "a=s-a;b=s-b;");
    }

    #[test]
    fn only_plain_cluster_fields_render_without_the_values() {
        let fields = crate::values::context::static_fields(&crate::project::cluster::ClusterDef {
            id: "dev".into(),
            config: crate::project::schema::parse("[cluster]\nname = \"n\"\nstate = \"s\"\n")
                .unwrap()
                .cluster
                .unwrap(),
            dir: "clusters/dev".into(),
            prerequisites: "1-prerequisites".into(),
            work: ".kopsform/dev".into(),
            rank: 0,
        });
        let sub = |t: &str| substitute_fields(t, "cluster", &fields);
        assert_eq!(sub("plain").as_deref(), Some("plain"));
        assert_eq!(
            sub("{{cluster.dir}}/x-{{ cluster.id }}.tfplan").as_deref(),
            Some("clusters/dev/x-dev.tfplan")
        );
        // Anything else needs the values: a helper, a block, an output, a null field.
        for t in [
            "{{cluster.name}}",
            "{{default \"x\" cluster.dir}}",
            "{{#if vpc}}a{{/if}}",
            "{{cluster.stage}}",
            "{{cluster.dir",
        ] {
            assert_eq!(sub(t), None, "{t}");
        }
    }
}

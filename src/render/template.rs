//! The handlebars registry kopsform renders with: strict, no HTML escaping, YAML-minded helpers.
//!
//! Strict mode turns a reference to a missing value into an error; [`Renderer::render`] turns that
//! error into a message naming the template line, the missing name and the names that do exist.
//! Helpers take their arguments in the order of the Sprig functions that `kops toolbox template`
//! users know (`default FALLBACK VALUE`, `join SEP LIST`, `indent N TEXT` ...), so a migrated
//! template reads the same.

use base64::Engine;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::Value;

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
    let s = serde_yaml::to_string(v).map_err(|e| e.to_string())?;
    Ok(s.trim_end_matches('\n').to_string())
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
        .map(|n| n as usize)
        .ok_or_else(|| format!("expected a whole number, got {v}"))
}

const HELPERS: &[(&str, usize, &[usize], HelperFn)] = &[
    ("yaml", 1, &[], |a| to_yaml(&a[0]).map(Value::String)),
    ("json", 1, &[], |a| Ok(Value::String(a[0].to_string()))),
    ("indent", 2, &[], |a| {
        Ok(Value::String(indent_lines(count(&a[0])?, &text(&a[1]))))
    }),
    ("nindent", 2, &[], |a| {
        Ok(Value::String(format!(
            "\n{}",
            indent_lines(count(&a[0])?, &text(&a[1]))
        )))
    }),
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
        Value::Array(items) => Ok(Value::String(
            items
                .iter()
                .map(text)
                .collect::<Vec<_>>()
                .join(&text(&a[0])),
        )),
        Value::Object(map) => Ok(Value::String(
            map.values()
                .map(text)
                .collect::<Vec<_>>()
                .join(&text(&a[0])),
        )),
        other => Ok(Value::String(text(other))),
    }),
    ("replace", 3, &[], |a| {
        Ok(Value::String(
            text(&a[2]).replace(&text(&a[0]), &text(&a[1])),
        ))
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

/// A handlebars registry with kopsform's settings and helpers.
pub(crate) struct Renderer {
    registry: Handlebars<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub(crate) fn new() -> Self {
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
        Renderer { registry }
    }

    /// Renders `source` (named `name` in messages) with `context`.
    pub(crate) fn render(
        &self,
        name: &str,
        source: &str,
        context: &Value,
    ) -> Result<String, UserError> {
        let context = Context::wraps(context).map_err(|e| UserError::new(e.to_string()))?;
        self.registry
            .render_template_with_context(source, &context)
            .map_err(|e| describe_render_error(name, &e, context.data()))
    }

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
        self.render(what, source, context)
    }
}

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
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let name = after[..end]
            .trim()
            .strip_prefix(prefix)?
            .strip_prefix('.')?;
        out.push_str(fields.get(name)?.as_str()?);
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
            ("{{yaml m}}", "x: 1\ny:\n- 1\n- 2"),
            ("{{indent 2 (yaml m)}}", "  x: 1\n  y:\n  - 1\n  - 2"),
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

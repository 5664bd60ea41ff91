//! Compiles a template once, within limits, and rewrites every `{{...}}` that writes a value into
//! a call of the `emit` helper, so that what each slot writes passes one place that knows the
//! slot's line, its expression and the value's JSON type.
//!
//! `{{x}}` and `{{{x}}}` are the same thing for kopsform (it never HTML-escapes), so both are
//! rewritten. Limits are checked on the source before the parser sees it: the parser and the
//! renderer recurse once per nested block, subexpression and partial, and a template nested
//! thousands deep overflowed the stack.

use std::collections::HashMap;

use handlebars::template::{Parameter, Subexpression, Template, TemplateElement};
use serde_json::Value;

/// The name of the helper every slot is rewritten into (not a name a template can use: it starts
/// with characters a handlebars identifier in a template cannot start with... a template that
/// calls it anyway only writes a value the same way).
pub(crate) const EMIT: &str = "__kopsform_emit";

/// Deepest nesting of blocks (`{{#if}}`, `{{#each}}` ...) a template may have.
pub(crate) const MAX_BLOCK_DEPTH: usize = 64;
/// Deepest nesting of subexpressions `( ... )` inside one `{{...}}`.
pub(crate) const MAX_PAREN_DEPTH: usize = 32;
/// Largest template source, in bytes.
pub(crate) const MAX_SOURCE: usize = 8 << 20;
/// Most inline partials a template may call through one another.
pub(crate) const MAX_PARTIAL_DEPTH: usize = 8;

/// One slot of the template.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The file the slot is in, when not the template itself (a Go template's snippet).
    pub(crate) file: Option<String>,
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// The expression as written, without braces (`upper cluster_name`).
    pub(crate) expression: String,
    /// The value paths the expression reads (`cluster_name`, `this`, `../zones`).
    pub(crate) paths: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) template: Template,
    pub(crate) sites: Vec<Site>,
}

/// Compiles `source`; errors are messages without the template's name.
pub(crate) fn compile(source: &str, helpers: &[&str]) -> Result<Compiled, String> {
    check_limits(source)?;
    let mut template = Template::compile(source).map_err(|e| {
        let at = e
            .pos()
            .map(|(line, col)| format!("{line}:{col}: "))
            .unwrap_or_default();
        format!(
            "{at}template syntax error: {}; fix the template",
            e.reason()
        )
    })?;
    check_partials(&template)?;
    let mut sites = Vec::new();
    rewrite(&mut template, helpers, &mut sites);
    Ok(Compiled { template, sites })
}

/// Nesting depth of blocks and subexpressions, and size, before the parser recurses into them.
fn check_limits(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE {
        return Err(format!(
            "the template is {} bytes; kopsform renders templates of at most {MAX_SOURCE} bytes",
            source.len()
        ));
    }
    let bytes = source.as_bytes();
    let (mut depth, mut line) = (0usize, 1usize);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => line += 1,
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                let Some(len) = source[i..].find("}}") else {
                    break; // the parser reports the unclosed mustache
                };
                let inner = source[i + 2..i + len].trim_start_matches(['{', '~']);
                let inner = inner.trim_start();
                if inner.starts_with('#') || inner.starts_with('^') && inner.len() > 1 {
                    depth += 1;
                    if depth > MAX_BLOCK_DEPTH {
                        return Err(format!(
                            "{line}: blocks are nested more than {MAX_BLOCK_DEPTH} deep; kopsform refuses deeper templates"
                        ));
                    }
                } else if inner.starts_with('/') {
                    depth = depth.saturating_sub(1);
                }
                let mut parens = 0usize;
                for c in inner.bytes() {
                    match c {
                        b'(' => {
                            parens += 1;
                            if parens > MAX_PAREN_DEPTH {
                                return Err(format!(
                                    "{line}: subexpressions are nested more than {MAX_PAREN_DEPTH} deep; kopsform refuses deeper templates"
                                ));
                            }
                        }
                        b')' => parens = parens.saturating_sub(1),
                        _ => {}
                    }
                }
                line += source[i..i + len].matches('\n').count();
                i += len + 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn children(element: &TemplateElement) -> Vec<&Template> {
    match element {
        TemplateElement::HelperBlock(ht) => ht.template.iter().chain(ht.inverse.iter()).collect(),
        TemplateElement::DecoratorBlock(d) | TemplateElement::PartialBlock(d) => {
            d.template.iter().collect()
        }
        _ => Vec::new(),
    }
}

fn literal_name(p: &Parameter) -> Option<String> {
    match p {
        Parameter::Name(n) => Some(n.clone()),
        Parameter::Path(_) => p.as_name().map(str::to_string),
        Parameter::Literal(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Partials: only inline ones (`{{#*inline "name"}}`), named literally, never including
/// themselves, nested at most [`MAX_PARTIAL_DEPTH`] deep. A recursive partial overflowed the stack.
fn check_partials(template: &Template) -> Result<(), String> {
    // name -> the partials its body includes
    let mut graph: HashMap<String, Vec<String>> = HashMap::new();
    fn walk(
        t: &Template,
        owner: Option<&str>,
        graph: &mut HashMap<String, Vec<String>>,
    ) -> Result<(), String> {
        for (i, element) in t.elements.iter().enumerate() {
            let line = t.mapping.get(i).map_or(0, |m| m.0);
            match element {
                TemplateElement::DecoratorBlock(d) if d.name.as_name() == Some("inline") => {
                    let name =
                        d.params.first().and_then(literal_name).ok_or_else(|| {
                            format!("{line}: an inline partial needs a literal name")
                        })?;
                    graph.entry(name.clone()).or_default();
                    if let Some(body) = &d.template {
                        walk(body, Some(&name), graph)?;
                    }
                    continue;
                }
                TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                    let name = literal_name(&d.name).ok_or_else(|| {
                        format!("{line}: a partial's name must be written out, not computed")
                    })?;
                    graph
                        .entry(owner.unwrap_or("").to_string())
                        .or_default()
                        .push(name);
                }
                _ => {}
            }
            for child in children(element) {
                walk(child, owner, graph)?;
            }
        }
        Ok(())
    }
    walk(template, None, &mut graph)?;
    fn depth(
        name: &str,
        graph: &HashMap<String, Vec<String>>,
        path: &mut Vec<String>,
    ) -> Result<usize, String> {
        if path.iter().any(|p| p == name) {
            return Err(format!(
                "the partial `{name}` includes itself ({} -> {name}); kopsform refuses recursive partials",
                path.join(" -> ")
            ));
        }
        if path.len() > MAX_PARTIAL_DEPTH {
            return Err(format!(
                "partials are nested more than {MAX_PARTIAL_DEPTH} deep ({})",
                path.join(" -> ")
            ));
        }
        path.push(name.to_string());
        let mut deepest = 0;
        for next in graph.get(name).into_iter().flatten() {
            deepest = deepest.max(1 + depth(next, graph, path)?);
        }
        path.pop();
        Ok(deepest)
    }
    for name in graph.keys().filter(|n| !n.is_empty()) {
        depth(name, &graph, &mut Vec::new())?;
    }
    Ok(())
}

fn describe(p: &Parameter) -> String {
    match p {
        Parameter::Name(n) => n.clone(),
        Parameter::Path(_) => p.as_name().unwrap_or_default().to_string(),
        Parameter::Literal(v) => v.to_string(),
        Parameter::Subexpression(s) => {
            let mut words = vec![s.name().to_string()];
            words.extend(s.params().into_iter().flatten().map(describe));
            format!("({})", words.join(" "))
        }
        _ => String::new(),
    }
}

fn paths(p: &Parameter, out: &mut Vec<String>) {
    match p {
        Parameter::Path(_) => out.extend(p.as_name().map(str::to_string)),
        Parameter::Subexpression(s) => {
            for q in s.params().into_iter().flatten() {
                paths(q, out);
            }
            for q in s.hash().into_iter().flat_map(|h| h.values()) {
                paths(q, out);
            }
        }
        _ => {}
    }
}

fn rewrite(template: &mut Template, helpers: &[&str], sites: &mut Vec<Site>) {
    for (i, element) in template.elements.iter_mut().enumerate() {
        let (line, column) = template.mapping.get(i).map_or((0, 0), |m| (m.0, m.1));
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                let name = ht.name.as_name().map(str::to_string);
                let is_helper = name.as_deref().is_some_and(|n| helpers.contains(&n));
                let inner = if ht.params.is_empty() && ht.hash.is_empty() && !is_helper {
                    match &ht.name {
                        Parameter::Name(n) => Parameter::parse(n).unwrap_or(ht.name.clone()),
                        other => other.clone(),
                    }
                } else {
                    Parameter::Subexpression(Subexpression::new(
                        ht.name.clone(),
                        ht.params.clone(),
                        ht.hash.clone(),
                    ))
                };
                let mut read = Vec::new();
                paths(&inner, &mut read);
                let expression = describe(&inner);
                let expression = expression
                    .strip_prefix('(')
                    .and_then(|e| e.strip_suffix(')'))
                    .map_or(expression.clone(), str::to_string);
                sites.push(Site {
                    file: None,
                    line,
                    column,
                    expression,
                    paths: read,
                });
                let site = sites.len() - 1;
                let mut emit = ht.clone();
                emit.name = Parameter::Name(EMIT.to_string());
                emit.params = vec![inner, Parameter::Literal(Value::from(site))];
                emit.hash = HashMap::new();
                *element = TemplateElement::Expression(emit);
            }
            TemplateElement::HelperBlock(ht) => {
                for t in ht.template.iter_mut().chain(ht.inverse.iter_mut()) {
                    rewrite(t, helpers, sites);
                }
            }
            TemplateElement::DecoratorBlock(d) | TemplateElement::PartialBlock(d) => {
                if let Some(t) = d.template.as_mut() {
                    rewrite(t, helpers, sites);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_before_the_parser_recurses() {
        let deep = "{{#if a}}".repeat(5000) + &"{{/if}}".repeat(5000);
        let err = compile(&deep, &[]).unwrap_err();
        assert_eq!(
            err,
            "1: blocks are nested more than 64 deep; kopsform refuses deeper templates"
        );
        let parens = format!("{{{{x {}y{}}}}}", "(".repeat(40), ")".repeat(40));
        assert!(
            compile(&parens, &[])
                .unwrap_err()
                .contains("subexpressions")
        );
        // At the limit it compiles.
        let ok = "{{#if a}}".repeat(64) + &"{{/if}}".repeat(64);
        compile(&ok, &[]).unwrap();
    }

    #[test]
    fn recursive_partials_are_refused() {
        let err = compile("{{#*inline \"p\"}}x{{> p}}{{/inline}}{{> p}}", &[]).unwrap_err();
        assert!(err.contains("includes itself"), "{err}");
        let err = compile(
            "{{#*inline \"a\"}}{{> b}}{{/inline}}{{#*inline \"b\"}}{{> a}}{{/inline}}{{> a}}",
            &[],
        )
        .unwrap_err();
        assert!(err.contains("includes itself"), "{err}");
        compile("{{#*inline \"a\"}}x{{/inline}}{{> a}}{{> a}}", &[]).unwrap();
    }

    #[test]
    fn slots_know_their_line_expression_and_paths() {
        let c = compile(
            "a: {{x}}\nb: {{{y.z}}}\n{{#each l}}\n- {{upper (default \"d\" this)}}\n{{/each}}\n",
            &["upper", "default"],
        )
        .unwrap();
        let got: Vec<(usize, String, Vec<String>)> = c
            .sites
            .iter()
            .map(|s| (s.line, s.expression.clone(), s.paths.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "x".to_string(), vec!["x".to_string()]),
                (2, "y.z".to_string(), vec!["y.z".to_string()]),
                (
                    4,
                    "upper (default \"d\" this)".to_string(),
                    vec!["this".to_string()]
                ),
            ]
        );
    }
}

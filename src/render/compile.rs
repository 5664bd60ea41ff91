//! Compiles a template once, within limits, and rewrites every `{{...}}` that writes a value into
//! a call of the `emit` helper, so that what each slot writes passes one place that knows the
//! slot's line, its expression and the value's JSON type.
//!
//! `{{x}}` and `{{{x}}}` are the same thing for kopsform (it never HTML-escapes), so both are
//! rewritten. Limits are checked on the source before the parser sees it: the parser and the
//! renderer recurse once per nested block, subexpression and partial, and a template nested
//! thousands deep overflowed the stack.

use std::collections::HashMap;

use handlebars::TemplateError;
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
    let mut template = compile_template(source, PIECE_BYTES).map_err(|e| {
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

/// The smallest piece [`compile_template`] cuts a template into.
const PIECE_BYTES: usize = 256;

/// Compiles `source` exactly as `Template::compile` does, but piece by piece where that provably
/// gives the same template.
///
/// Why: the parser asks for the line and column of every element, and pest counts them from the
/// start of the text each time, so compiling a template costs time quadratic in its length (8.5 M
/// of the 29 M instructions of a whole `cluster-update plan` for the sandbox's 4 KB template).
/// Compiling pieces of about [`PIECE_BYTES`] makes that cost linear.
///
/// Where a template is cut: only at the start of a line that lies in plain text outside every
/// block, comment and tag, with text other than whitespace in the same run of text on both sides
/// of the cut (so no `~`, standalone-line or indentation rule of handlebars, which trims the text
/// next to a tag, can reach across it), in a template without `\{{` escapes or `{{{{raw}}}}`
/// blocks. The pieces' elements are joined (the two halves of the text run cut become one
/// element again) and their line numbers moved by the lines before each piece, which gives the
/// same `Template` as compiling it whole (compared in the tests on generated templates). A piece
/// that does not compile, or an unexpected shape, falls back to compiling the whole text, so
/// error messages are always handlebars' own for the whole template.
pub(crate) fn compile_template(source: &str, piece: usize) -> Result<Template, TemplateError> {
    let cuts = cut_points(source, piece);
    if cuts.is_empty() {
        return Template::compile(source);
    }
    match compile_pieces(source, &cuts) {
        Some(template) => Ok(template),
        None => Template::compile(source),
    }
}

/// A byte that is text other than whitespace for every trimming rule of handlebars (which trims
/// Unicode whitespace: a non-ASCII byte may be part of one, so it never counts).
fn is_content(b: u8) -> bool {
    b.is_ascii() && !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Where [`compile_template`] may cut `source` (ascending byte offsets, each the start of a
/// line), at least `piece` bytes apart; empty when the template should be compiled whole.
fn cut_points(source: &str, piece: usize) -> Vec<usize> {
    let b = source.as_bytes();
    let find = |from: usize, what: &[u8]| -> Option<usize> {
        memchr::memmem::find(b.get(from..)?, what).map(|at| from + at)
    };
    if b.len() < 2 * piece || find(0, b"\\{").is_some() || find(0, b"{{{{").is_some() {
        return Vec::new();
    }
    let mut cuts = Vec::new();
    let (mut piece_start, mut depth, mut i) = (0usize, 0i64, 0usize);
    // Text other than whitespace since the last tag; a line start after it where a cut may go
    // once text other than whitespace follows it, before the next tag.
    let (mut content, mut candidate, mut trims_after) = (false, None::<usize>, false);
    // Where the next `--}}` starts (`usize::MAX`: none left), searched again only once passed.
    let mut next_close = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == b'{' && b.get(i + 1) == Some(&b'{') {
            content = false;
            candidate = None;
            // Where this comment or tag ends, as the grammar reads it: `{{!-- ... --}}` ends at
            // the first `--}}` after its opening (else it is a `{{! ... }}`), `{{! ... }}` at the
            // first `}}`, `{{{x}}}` at the first `}}}`, every other tag at the first `}}` outside
            // its string literals. A tag that could hide a `}}` elsewhere (a `[...]` segment, a
            // backslash, a string holding braces or a line break) makes the template compile whole.
            let end = if b.get(i + 2) == Some(&b'!') {
                let compact = || find(i + 3, b"}}").map(|e| e + 2);
                if b.get(i + 3..i + 5) == Some(b"--") {
                    // The next `--}}` is remembered: many `{{!--` without one would otherwise
                    // each search to the end of the text.
                    if next_close < i + 5 {
                        next_close = find(i + 5, b"--}}").unwrap_or(usize::MAX);
                    }
                    (next_close != usize::MAX)
                        .then(|| next_close + 4)
                        .or_else(compact)
                } else {
                    compact()
                }
            } else {
                let mut j = i + 2;
                while j < b.len() && (b[j] == b'~' || b[j].is_ascii_whitespace()) {
                    j += 1;
                }
                match b.get(j) {
                    Some(b'#') => depth += 1,
                    Some(b'/') => depth -= 1,
                    _ => {}
                }
                let close: &[u8] = if b.get(i + 2) == Some(&b'{') {
                    b"}}}"
                } else {
                    b"}}"
                };
                let mut end = None;
                let mut k = i + 2;
                while k < b.len() {
                    match b[k] {
                        b'[' | b'\\' => return Vec::new(),
                        quote @ (b'"' | b'\'') => {
                            let Some(len) = b[k + 1..].iter().position(|&q| q == quote) else {
                                return Vec::new();
                            };
                            if b[k + 1..k + 1 + len]
                                .iter()
                                .any(|q| matches!(q, b'{' | b'}' | b'\n' | b'\r'))
                            {
                                return Vec::new();
                            }
                            k += len + 2;
                            continue;
                        }
                        _ if b[k..].starts_with(close) => {
                            end = Some(k + close.len());
                            // `~}}`: handlebars trims the whitespace that starts every text after
                            // it until the next tag other than a comment (its flag outlives the
                            // text and comments that follow), so no cut until such a tag.
                            trims_after = b[i + 2..k].trim_ascii_end().ends_with(b"~");
                            break;
                        }
                        _ => k += 1,
                    }
                }
                end
            };
            match end {
                Some(end) => i = end,
                None => break,
            }
            continue;
        }
        if c == b'\n' {
            if depth == 0 && content && !trims_after && i + 1 - piece_start >= piece {
                candidate = Some(i + 1);
            }
        } else if is_content(c) {
            if let Some(cut) = candidate.take()
                && source.len() - cut >= piece
            {
                cuts.push(cut);
                piece_start = cut;
            }
            content = true;
        }
        i += 1;
    }
    cuts
}

/// Compiles the pieces between `cuts` and joins them; `None` when a piece does not compile or
/// the pieces do not meet in one text element (then the caller compiles the whole text).
fn compile_pieces(source: &str, cuts: &[usize]) -> Option<Template> {
    let mut whole = Template::default();
    let (mut start, mut lines_before) = (0usize, 0usize);
    for &end in cuts.iter().chain(std::iter::once(&source.len())) {
        let text = &source[start..end];
        let mut part = Template::compile(text).ok()?;
        if part.elements.len() != part.mapping.len() || part.elements.is_empty() {
            return None;
        }
        if lines_before > 0 {
            shift_lines(&mut part, lines_before);
        }
        let mut elements = part.elements.into_iter();
        let mut mapping = part.mapping.into_iter();
        if start > 0 {
            // The run of text cut in two becomes one element again, at the first half's place.
            match (whole.elements.last_mut(), elements.next()) {
                (
                    Some(TemplateElement::RawString(first)),
                    Some(TemplateElement::RawString(second)),
                ) if !first.is_empty() && !second.is_empty() => {
                    // Neither half trimmed away: no rule of handlebars reached across the cut.
                    first.push_str(&second);
                    mapping.next();
                }
                _ => return None,
            }
        }
        whole.elements.extend(elements);
        whole.mapping.extend(mapping);
        lines_before += memchr::memchr_iter(b'\n', text.as_bytes()).count();
        start = end;
    }
    Some(whole)
}

/// Moves every line number of `template` and of the templates inside it down by `by` lines.
fn shift_lines(template: &mut Template, by: usize) {
    for m in &mut template.mapping {
        m.0 += by;
    }
    // The elements that hold templates, as [`children`] names them.
    for element in &mut template.elements {
        match element {
            TemplateElement::HelperBlock(ht) => {
                for t in ht.template.iter_mut().chain(ht.inverse.iter_mut()) {
                    shift_lines(t, by);
                }
            }
            TemplateElement::DecoratorBlock(d) | TemplateElement::PartialBlock(d) => {
                if let Some(t) = d.template.as_mut() {
                    shift_lines(t, by);
                }
            }
            _ => {}
        }
    }
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

    /// `compile_template` must give exactly what compiling the whole text gives.
    fn same_as_whole(source: &str, piece: usize) {
        let whole = Template::compile(source);
        let pieces = compile_template(source, piece);
        match (&whole, &pieces) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "piece {piece}, template:\n{source}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("whole {whole:?} but pieces {pieces:?}, piece {piece}:\n{source}"),
        }
    }

    #[test]
    fn templates_compiled_in_pieces_equal_the_whole() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("2-kops/cluster-template.yml")];
        for dir in ["examples", "tests/fixtures", "docs"] {
            let mut stack = vec![root.join(dir)];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path
                        .extension()
                        .is_some_and(|e| ["yml", "yaml", "md", "hbs"].iter().any(|x| e == *x))
                    {
                        files.push(path);
                    }
                }
            }
        }
        let mut cut = 0;
        for file in &files {
            let Ok(source) = std::fs::read_to_string(file) else {
                continue;
            };
            if !source.contains("{{") {
                continue;
            }
            for piece in [1, 16, 128, PIECE_BYTES] {
                same_as_whole(&source, piece);
            }
            cut += usize::from(!cut_points(&source, 16).is_empty());
        }
        assert!(
            cut >= 3,
            "only {cut} of {} files were cut at all",
            files.len()
        );
        // The sandbox's template is really compiled in pieces (not the whole-text fallback).
        let sandbox = include_str!("../../2-kops/cluster-template.yml");
        let cuts = cut_points(sandbox, PIECE_BYTES);
        assert!(cuts.len() >= 4, "{cuts:?}");
        assert_eq!(
            compile_pieces(sandbox, &cuts).as_ref(),
            Template::compile(sandbox).ok().as_ref()
        );
    }

    #[test]
    fn generated_templates_compiled_in_pieces_equal_the_whole() {
        // Pieces of text, tags, blocks and comments, including every rule that trims text next
        // to a tag (`~`, standalone lines, partial indentation) and things that hide `}}`.
        const BITS: &[&str] = &[
            "a",
            "b: c",
            " ",
            "  ",
            "\t",
            "\n",
            "\n",
            "\n",
            "\r\n",
            "\u{a0}",
            "\u{2028}",
            "x\n",
            "  key: value\n",
            "{{x}}",
            "{{ x }}",
            "{{~x}}",
            "{{x~}}",
            "{{~x~}}",
            "{{{y}}}",
            "{{~{y}~}}",
            "{{&y}}",
            "{{@key}}",
            "{{this}}",
            "{{../a}}",
            "{{lookup ../m @key}}",
            "{{!-- c --}}",
            "{{!-- a }} b --}}",
            "{{!-- x\ny\nz --}}",
            "{{! c }}",
            "{{!--}}",
            "{{!---}}",
            "--}}",
            "}}",
            "}",
            "{",
            "\"",
            "'",
            "{{f 'a'}}",
            "{{> p}}",
            "  {{> p}}\n",
            "{{#*inline \"p\"}}in{{/inline}}",
            "{{#> p}}d{{/p}}",
            "{{x\n}}",
            "{{f (g a) k=v}}",
            "{{f \"a b\"}}",
        ];
        // Block openings, their `else` and closings, with and without `~` and line breaks.
        const OPEN: &[(&str, &str)] = &[
            ("{{#if a}}", "{{/if}}"),
            ("{{#if a~}}", "{{~/if~}}"),
            ("{{~#if a}}", "{{/if~}}"),
            ("{{#if\n a}}", "{{/if}}"),
            ("{{#each l}}", "{{/each}}"),
            ("{{#each l as |i|}}", "{{/each}}"),
            ("{{#unless a}}", "{{/unless}}"),
        ];
        const ELSE: &[&str] = &["{{else}}", "{{~else~}}", "{{^}}", "{{else if b}}"];
        // Fragments that hide `}}` or `{{` from a simple reading, or that are not valid: in
        // every other template, so that both the cut and the whole-text paths are compared.
        const HOSTILE: &[&str] = &[
            "{{",
            "{{f \"}}\"}}",
            "{{f \"a\nb\"}}",
            "{{f \"{{!--\"}}",
            "{{x.[a]}}",
            "\\{{x}}",
            "\\\\{{x}}",
            "{{{{raw}}}}r{{x}}{{{{/raw}}}}",
            "{{f a=\"}\"}}",
            "{{/each}}",
            "{{else}}",
            "{{f \"{{!--\"}}{{!--}} a\nb\nc\n--}}",
            "{{f '\\''}}",
            "{{f \"}}\" ~}}\n  bar\n",
            "{{#if a}}",
            "{{f \"}\"}}",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut compiled_in_pieces = 0;
        for round in 0..3000 {
            let mut source = String::new();
            let mut open: Vec<(&str, bool)> = Vec::new();
            for _ in 0..(20 + next(120)) {
                match next(14) {
                    0 => {
                        let (start, end) = OPEN[next(OPEN.len())];
                        source.push_str(start);
                        if next(2) == 0 {
                            source.push('\n');
                        }
                        open.push((end, false));
                    }
                    1 if !open.is_empty() => {
                        let (end, _) = open.pop().unwrap_or_default();
                        source.push_str(end);
                        if next(2) == 0 {
                            source.push('\n');
                        }
                    }
                    2 if open.last().is_some_and(|(_, has_else)| !has_else) => {
                        source.push_str(ELSE[next(ELSE.len())]);
                        if let Some(last) = open.last_mut() {
                            last.1 = true;
                        }
                    }
                    3..=7 => source.push_str("  plain: text line\n"),
                    8 if round % 2 == 0 => source.push_str(HOSTILE[next(HOSTILE.len())]),
                    _ => source.push_str(BITS[next(BITS.len())]),
                }
            }
            while let Some((end, _)) = open.pop() {
                source.push_str(end);
            }
            let piece = [1, 8, 64][(round / 2) % 3];
            same_as_whole(&source, piece);
            if Template::compile(&source).is_ok() {
                let cuts = cut_points(&source, piece);
                if !cuts.is_empty() && compile_pieces(&source, &cuts).is_some() {
                    compiled_in_pieces += 1;
                }
            }
        }
        assert!(
            compiled_in_pieces > 300,
            "only {compiled_in_pieces} compiled in pieces"
        );
    }

    #[test]
    fn many_comments_without_an_end_are_read_once() {
        // Each `{{!--` here ends at the `}}` of its line (no `--}}` anywhere): the search for a
        // `--}}` is not repeated from every opening, and the result is the whole-text compile's.
        let source = "k: v\nw: x {{!-- a }}\n".repeat(500) + "last: line\n";
        same_as_whole(&source, 64);
        assert!(cut_points(&source, 64).len() > 100);
    }

    #[test]
    fn a_cut_where_handlebars_trims_across_it_is_refused() {
        // `~}}` trims all whitespace after it: the text before the cut is empty once trimmed.
        let source = "{{x~}}\n  foo\n";
        assert!(compile_pieces(source, &[7]).is_none());
        // `{{~` trims all whitespace before it: the text after the cut is empty once trimmed.
        let source = "foo\n  {{~x}}\n";
        assert!(compile_pieces(source, &[4]).is_none());
        // A cut inside a block does not compile: the whole text is compiled instead.
        let source = "{{#if a}}\nfoo\nbar\n{{/if}}\n";
        assert!(compile_pieces(source, &[14]).is_none());
        same_as_whole(source, 1);
        // Where nothing trims, a cut joins back into the one text element.
        let source = "a: {{x}} b\nc: d\n{{y}}\n";
        assert_eq!(
            compile_pieces(source, &[11]).as_ref(),
            Template::compile(source).ok().as_ref()
        );
        assert_eq!(cut_points(source, 1), vec![11]);
    }

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

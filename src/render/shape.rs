//! The shape render: the same template, the same values, but every value written into the output
//! replaced by a unique token. Comparing the YAML tree of the shape render with the tree of the real
//! render ([`super::structure`]) shows whether a value changed the structure.
//!
//! The shape render takes the same branches as the real one (the context is the same), so only
//! what a value writes differs. Tokens are plain YAML words (`kfv<nonce>s<n>k`), a string in every
//! YAML schema wherever they land. What `yaml`, `json`, `indent` and `nindent` emit is structure on
//! purpose: in the shape render they emit the same structure with a token for every string in it
//! (map keys included), and the emission passes through untouched.
//!
//! The state is per thread and exists only while [`with_shape`] runs, so helpers and the `emit`
//! helper of the real render see no state and do nothing special.

use std::cell::RefCell;

use serde_json::Value;

/// What produced a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A `{{...}}` slot: the site (index into the compiled template's sites) and the JSON type of
    /// what it wrote.
    Slot { site: usize, json: JsonKind },
    /// A string (a value or a map key) inside structure `yaml`/`json` wrote, quoted by the
    /// serializer wherever YAML would read it as something else; with the site that wrote it once
    /// it is known.
    Leaf { site: Option<usize> },
    /// A line of a text `indent`/`nindent` wrote: the template decides how YAML reads it.
    Line { site: Option<usize> },
}

/// The JSON type of a slot's value (Terraform keeps numbers and booleans typed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    String,
    Number,
    Bool,
    Null,
}

impl JsonKind {
    pub(crate) fn of(value: &Value) -> JsonKind {
        match value {
            Value::Number(_) => JsonKind::Number,
            Value::Bool(_) => JsonKind::Bool,
            Value::Null => JsonKind::Null,
            _ => JsonKind::String,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) kind: TokenKind,
}

/// What a shape render learned.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    pub(crate) nonce: String,
    pub(crate) tokens: Vec<Token>,
    /// Strings `yaml`/`json`/`indent`/`nindent` returned, with what they return in the real
    /// render: an emission equal to one of them passes through as structure.
    structural: Vec<(String, String)>,
    /// The structure slots wrote (site, shape text, real text), for finding the one to blame.
    pub(crate) passed: Vec<(usize, String, String)>,
    /// Tokens made since the last slot emission: their site is that slot's.
    pending: Vec<usize>,
}

impl Shape {
    /// A shape with these tokens and nothing else (for comparing one token at a time).
    pub(crate) fn with_tokens(nonce: String, tokens: Vec<Token>) -> Shape {
        Shape {
            nonce,
            tokens,
            ..Shape::default()
        }
    }

    pub(crate) fn token_name(&self, index: usize) -> String {
        format!("kfv{}s{index}k", self.nonce)
    }

    fn token(&mut self, text: &str, kind: TokenKind) -> String {
        let index = self.tokens.len();
        if !matches!(kind, TokenKind::Slot { .. }) {
            self.pending.push(index);
        }
        self.tokens.push(Token {
            text: text.to_string(),
            kind,
        });
        self.token_name(index)
    }
}

thread_local! {
    static SHAPE: RefCell<Option<Shape>> = const { RefCell::new(None) };
}

/// Runs `f` (a render) in shape mode and returns its result with what the shape render learned.
pub(crate) fn with_shape<T>(nonce: String, f: impl FnOnce() -> T) -> (T, Shape) {
    SHAPE.with(|s| {
        *s.borrow_mut() = Some(Shape {
            nonce,
            ..Shape::default()
        })
    });
    let out = f();
    let shape = SHAPE.with(|s| s.borrow_mut().take()).unwrap_or_default();
    (out, shape)
}

fn active<T>(f: impl FnOnce(&mut Shape) -> T) -> Option<T> {
    SHAPE.with(|s| s.borrow_mut().as_mut().map(f))
}

/// What a `{{...}}` slot writes: in the real render `text` itself, in the shape render the text
/// when it is structure a helper made, else a token.
pub(crate) fn emit(site: usize, value: &Value, text: String) -> String {
    active(|shape| {
        if let Some((_, real)) = shape.structural.iter().find(|(s, _)| *s == text) {
            shape.passed.push((site, text.clone(), real.clone()));
            for i in std::mem::take(&mut shape.pending) {
                match &mut shape.tokens[i].kind {
                    TokenKind::Leaf { site: s } | TokenKind::Line { site: s } => *s = Some(site),
                    TokenKind::Slot { .. } => {}
                }
            }
            return text.clone();
        }
        shape.token(
            &text,
            TokenKind::Slot {
                site,
                json: JsonKind::of(value),
            },
        )
    })
    .unwrap_or(text)
}

/// `value` with every string (and map key) replaced by a token, in the shape render; `None` in the
/// real render.
pub(crate) fn tokenized(value: &Value) -> Option<Value> {
    fn walk(shape: &mut Shape, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(shape.token(s, TokenKind::Leaf { site: None })),
            Value::Array(items) => Value::Array(items.iter().map(|v| walk(shape, v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let key = shape.token(k, TokenKind::Leaf { site: None });
                        (key, walk(shape, v))
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    active(|shape| walk(shape, value))
}

/// Records `text` as structure a helper made, `real` what it made in the real render (shape
/// render only).
pub(crate) fn structural(text: &str, real: &str) {
    active(|shape| shape.structural.push((text.to_string(), real.to_string())));
}

/// What the structure `text` a helper made in this shape render is in the real render.
pub(crate) fn real_of(text: &str) -> Option<String> {
    active(|shape| {
        shape
            .structural
            .iter()
            .find(|(s, _)| s == text)
            .map(|(_, r)| r.clone())
    })
    .flatten()
}

/// `text` with each non-empty line replaced by a token (shape render; `None` in the real render):
/// what `indent` writes into a block scalar keeps its lines, each of them a value.
pub(crate) fn tokenized_lines(text: &str) -> Option<String> {
    active(|shape| {
        text.split('\n')
            .map(|line| {
                if line.is_empty() {
                    String::new()
                } else {
                    shape.token(line, TokenKind::Line { site: None })
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Runs `f` outside the shape render (a real render inside it, for what a structure helper
/// returns in the real render); `None`, without running `f`, outside a shape render.
pub(crate) fn outside<T>(f: impl FnOnce() -> T) -> Option<T> {
    let saved = SHAPE.with(|s| s.borrow_mut().take())?;
    let out = f();
    SHAPE.with(|s| *s.borrow_mut() = Some(saved));
    Some(out)
}

/// Whether a shape render is running.
pub(crate) fn is_active() -> bool {
    active(|_| ()).is_some()
}

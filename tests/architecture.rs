//! The module architecture: no cycle among the crate's modules, and the top-level modules keep to
//! the order in [`LAYERS`]: a module uses only modules below it.
//!
//! A hand-written scan of src/ (no dependency): each file is a module (`src/a.rs` and
//! `src/a/mod.rs` are `a`, `src/a/b.rs` is `a::b`; lib.rs is the crate root, which may use anything,
//! and main.rs is left out). Comments, doc comments and literals are dropped, then every path that
//! names a module of the crate is a reference: `use` trees (groups nested to any depth, `self`,
//! `as`, globs, `pub use`), inline paths such as `crate::a::f()`, `super::` and `self::` paths
//! resolved from the module they are written in (inline `mod x { }` blocks included), names
//! brought in by `use` (`use crate::tools; tools::process::run()`), child modules named from their
//! parent (`process::run()` in tools/mod.rs) and the crate's exported macros (`crate::say!` is a
//! use of the module that defines `say!`). A path stands for the longest prefix of it that is a
//! file module: `crate::tools::process::run` is a use of `tools::process`. Code under
//! `#[cfg(test)]` (the `mod tests` blocks, `#[cfg(test)] mod tests;` files) may use anything and is
//! not scanned. Paths to items of the crate root itself (`crate::run`) are not edges.
//!
//! Two graphs come out of it: one between file modules (`tools::process -> tools::retry`) and one
//! between top-level modules (`tools -> project`; a use inside one folder is not an edge there).
//! Either may not have a cycle; the top-level one must also keep to [`LAYERS`].
//!
//! Run it: `cargo test --test integration architecture -- --include-ignored`. Print the
//! top-level edges with `-- --nocapture`, or with `KOPSFORM_PRINT_MODULES=1` in the environment.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The intended order of the top-level modules, bottom first: a module may use only the modules
/// listed before it. Every top-level module of src/ is listed, and nothing else.
const LAYERS: &[&str] = &[
    "error",
    "text",
    "redact",
    "ui",
    "atomic",
    "paths",
    "tools",
    "project",
    "render",
    "values",
    "statestore",
    "plan",
    "review",
    "run",
    "cli",
    "commands",
    "fuzzing",
];

/// Where a use of one module by another is written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Site {
    /// The file, from the scanned folder's name on: `src/tools/process.rs`.
    pub file: String,
    pub line: usize,
    /// The file modules the use is between (for a top-level edge, the finer one that makes it).
    pub from: String,
    pub to: String,
}

/// A directed graph of modules; each edge keeps the sites that make it, first line first.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: BTreeSet<String>,
    pub edges: BTreeMap<String, BTreeMap<String, Vec<Site>>>,
}

impl Graph {
    fn add(&mut self, from: &str, to: &str, site: Site) {
        let sites = self
            .edges
            .entry(from.to_string())
            .or_default()
            .entry(to.to_string())
            .or_default();
        sites.push(site);
        sites.sort();
    }

    fn targets(&self, from: &str) -> impl Iterator<Item = &String> {
        self.edges.get(from).into_iter().flat_map(BTreeMap::keys)
    }

    /// Every edge as `from -> to`, sorted.
    pub fn edge_list(&self) -> Vec<String> {
        let mut list = Vec::new();
        for (from, targets) in &self.edges {
            for to in targets.keys() {
                list.push(format!("{from} -> {to}"));
            }
        }
        list
    }
}

/// The crate's module graphs: between file modules, and between top-level modules.
#[derive(Debug)]
pub struct ModuleGraphs {
    pub files: Graph,
    pub top: Graph,
}

/// Scans the crate whose sources are in `src` and returns its module graphs.
pub fn module_graphs(src: &Path) -> Result<ModuleGraphs, String> {
    let shown_root = src
        .file_name()
        .map_or_else(|| "src".to_string(), |n| n.to_string_lossy().into_owned());
    let mut paths = Vec::new();
    rust_files(src, src, &mut paths)?;
    paths.sort();
    let mut scans = Vec::new();
    for path in paths {
        let rel = path.strip_prefix(src).map_err(|e| e.to_string())?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let (file_name, dirs) = parts.split_last().ok_or("empty path")?;
        let mut module = dirs.to_vec();
        match file_name.as_str() {
            "lib.rs" if dirs.is_empty() => {}
            "mod.rs" => {}
            name => module.push(name.trim_end_matches(".rs").to_string()),
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut scan = scan_file(&lex(&text), module);
        scan.file = format!("{shown_root}/{}", parts.join("/"));
        scans.push(scan);
    }

    // Test-only modules (`#[cfg(test)] mod tests;`, `#![cfg(test)]`) and what is below them.
    let test_modules: Vec<Vec<String>> = scans
        .iter()
        .flat_map(|s| s.modules.iter().filter(|(_, test)| *test))
        .map(|(m, _)| m.clone())
        .chain(
            scans
                .iter()
                .filter(|s| s.test_only)
                .map(|s| s.module.clone()),
        )
        .filter(|m| !m.is_empty())
        .collect();
    let is_test = |m: &[String]| test_modules.iter().any(|t| m.starts_with(t));
    scans.retain(|s| !is_test(&s.module));

    let files: BTreeSet<Vec<String>> = scans.iter().map(|s| s.module.clone()).collect();
    let mut known = files.clone();
    for scan in &scans {
        known.extend(scan.modules.iter().map(|(m, _)| m.clone()));
    }
    let mut macros = BTreeMap::new();
    for scan in &scans {
        for name in &scan.macros {
            macros.insert(name.clone(), scan.module.clone());
        }
    }
    let mut resolver = Resolver {
        files,
        known,
        aliases: BTreeMap::new(),
        globs: BTreeMap::new(),
        macros,
    };
    // A `use` may name a module through another `use`, written before or after it.
    for _ in 0..4 {
        let mut aliases: BTreeMap<Vec<String>, BTreeMap<String, Option<Vec<String>>>> =
            BTreeMap::new();
        let mut globs: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
        for scan in &scans {
            for leaf in &scan.uses {
                let resolved = resolver.resolve(&leaf.scope, &leaf.path);
                if leaf.glob {
                    if let Some(target) = resolved {
                        globs.entry(leaf.scope.clone()).or_default().push(target);
                    }
                } else if let Some(name) = &leaf.binding {
                    aliases
                        .entry(leaf.scope.clone())
                        .or_default()
                        .insert(name.clone(), resolved);
                }
            }
        }
        resolver.aliases = aliases;
        resolver.globs = globs;
    }

    let mut graphs = ModuleGraphs {
        files: Graph::default(),
        top: Graph::default(),
    };
    for scan in &scans {
        if scan.module.is_empty() {
            continue;
        }
        let from = scan.module.join("::");
        let top_from = scan.module[0].clone();
        graphs.files.nodes.insert(from.clone());
        graphs.top.nodes.insert(top_from.clone());
        let mut first: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        let mut note = |target: Option<Vec<String>>, line: usize| {
            if let Some(target) = target
                && target != scan.module
                && !target.is_empty()
                && !is_test(&target)
            {
                let seen = first.entry(target).or_insert(line);
                *seen = (*seen).min(line);
            }
        };
        for leaf in &scan.uses {
            let target = resolver.resolve(&leaf.scope, &leaf.path);
            note(target.and_then(|t| resolver.module_of(&t)), leaf.line);
        }
        for path in &scan.paths {
            let target = if path.path.len() == 1 {
                resolver.macros.get(&path.path[0]).cloned()
            } else {
                resolver
                    .resolve(&path.scope, &path.path)
                    .and_then(|t| resolver.module_of(&t))
            };
            note(target, path.line);
        }
        for (target, line) in first {
            let to = target.join("::");
            let site = Site {
                file: scan.file.clone(),
                line,
                from: from.clone(),
                to: to.clone(),
            };
            graphs.files.add(&from, &to, site.clone());
            if target[0] != top_from {
                graphs.top.add(&top_from, &target[0], site);
            }
        }
    }
    Ok(graphs)
}

fn rust_files(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let top = dir == src;
        if path.is_dir() {
            // src/bin/ holds binaries, not modules of the library.
            if !(top && path.file_name().is_some_and(|n| n == "bin")) {
                rust_files(src, &path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && !(top && path.file_name().is_some_and(|n| n == "main.rs"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Resolves the paths of one crate to its modules.
struct Resolver {
    /// The file modules (the crate root is the empty path).
    files: BTreeSet<Vec<String>>,
    /// Every module, inline ones (`mod exit { }`) too.
    known: BTreeSet<Vec<String>>,
    /// Per module scope, the names its `use`s bring in: a path in the crate, or `None` for a
    /// name from elsewhere (std, a dependency).
    aliases: BTreeMap<Vec<String>, BTreeMap<String, Option<Vec<String>>>>,
    /// Per module scope, what its `use ...::*` bring in.
    globs: BTreeMap<Vec<String>, Vec<Vec<String>>>,
    /// The crate's exported macros and the modules that define them.
    macros: BTreeMap<String, Vec<String>>,
}

impl Resolver {
    /// The full path in the crate that `path`, written in module `scope`, names; `None` when it
    /// names something outside the crate.
    fn resolve(&self, scope: &[String], path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "crate" | "$crate" => Some(rest.to_vec()),
            "self" => Some([scope, rest].concat()),
            "super" => {
                let mut base = scope.to_vec();
                let ups = path.iter().take_while(|s| *s == "super").count();
                for _ in 0..ups {
                    base.pop()?;
                }
                Some([&base, &path[ups..]].concat())
            }
            name => self.lookup(scope, name).map(|p| [&p, rest].concat()),
        }
    }

    /// What a bare `name` means in module `scope`: a name a `use` brought in, a child module, or
    /// something a glob import brought in.
    fn lookup(&self, scope: &[String], name: &str) -> Option<Vec<String>> {
        if let Some(found) = self.aliases.get(scope).and_then(|a| a.get(name)) {
            return found.clone();
        }
        let child = [scope, &[name.to_string()]].concat();
        if self.known.contains(&child) {
            return Some(child);
        }
        for glob in self.globs.get(scope).into_iter().flatten() {
            let child = [&glob[..], &[name.to_string()]].concat();
            if self.known.contains(&child) {
                return Some(child);
            }
            if let Some(Some(found)) = self.aliases.get(glob).and_then(|a| a.get(name)) {
                return Some(found.clone());
            }
        }
        None
    }

    /// The file module that holds `path`: its longest prefix that is one. A path into the crate
    /// root is nobody's, unless it names one of the crate's exported macros.
    fn module_of(&self, path: &[String]) -> Option<Vec<String>> {
        for len in (1..=path.len()).rev() {
            if self.files.contains(&path[..len]) {
                return Some(path[..len].to_vec());
            }
        }
        self.macros.get(path.first()?).cloned()
    }
}

// ---- Lexing: identifiers, `::` and punctuation; comments and literals dropped. ----

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
    Literal,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn lex(text: &str) -> Vec<Token> {
    let s: Vec<char> = text.chars().collect();
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < s.len() {
        let c = s[i];
        let start = line;
        let tok = if c == '\n' {
            line += 1;
            i += 1;
            continue;
        } else if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '/' && at(i + 1) == '/' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(s[i] == '\n');
                    i += 1;
                }
            }
            continue;
        } else if c == '"' {
            i = skip_string(&s, i + 1, &mut line);
            Tok::Literal
        } else if c == '\'' {
            i = skip_quote(&s, i);
            Tok::Literal
        } else if c == ':' && at(i + 1) == ':' {
            i += 2;
            Tok::PathSep
        } else if c.is_ascii_digit() {
            while is_ident_char(at(i)) {
                i += 1;
            }
            Tok::Literal
        } else if c == '$' && is_ident_start(at(i + 1)) {
            // `$crate`, or a macro's `$name`.
            let begin = i;
            i += 1;
            while is_ident_char(at(i)) {
                i += 1;
            }
            Tok::Ident(s[begin..i].iter().collect())
        } else if is_ident_start(c) {
            let begin = i;
            while is_ident_char(at(i)) {
                i += 1;
            }
            let word: String = s[begin..i].iter().collect();
            let mut hashes = 0;
            while at(i + hashes) == '#' {
                hashes += 1;
            }
            match (word.as_str(), at(i)) {
                ("r" | "br" | "cr", '"' | '#') if at(i + hashes) == '"' => {
                    // A raw string: ends at a quote followed by as many #.
                    i += hashes + 1;
                    while i < s.len() {
                        if s[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                            i += hashes + 1;
                            break;
                        }
                        line += usize::from(s[i] == '\n');
                        i += 1;
                    }
                    Tok::Literal
                }
                ("r", '#') if is_ident_start(at(i + 1)) => {
                    let begin = i + 1;
                    i += 1;
                    while is_ident_char(at(i)) {
                        i += 1;
                    }
                    Tok::Ident(format!("r#{}", s[begin..i].iter().collect::<String>()))
                }
                ("b" | "c", '"') => {
                    i = skip_string(&s, i + 1, &mut line);
                    Tok::Literal
                }
                ("b", '\'') => {
                    i = skip_quote(&s, i);
                    Tok::Literal
                }
                _ => Tok::Ident(word),
            }
        } else {
            i += 1;
            Tok::Punct(c)
        };
        out.push(Token { tok, line: start });
    }
    out
}

/// Skips a string's body from `i` (just after the opening quote); returns the index after it.
fn skip_string(s: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < s.len() {
        match s[i] {
            '\\' => {
                *line += usize::from(s.get(i + 1) == Some(&'\n'));
                i += 2;
            }
            '"' => return i + 1,
            c => {
                *line += usize::from(c == '\n');
                i += 1;
            }
        }
    }
    i
}

/// Skips a character literal or a lifetime (or label) starting at the quote at `i`.
fn skip_quote(s: &[char], i: usize) -> usize {
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    if at(i + 1) == '\\' {
        let mut j = i + 3;
        while j < s.len() && s[j] != '\'' && s[j] != '\n' {
            j += 1;
        }
        j + 1
    } else if at(i + 2) == '\'' {
        i + 3
    } else {
        let mut j = i + 1;
        while is_ident_char(at(j)) {
            j += 1;
        }
        j
    }
}

// ---- Scanning one file's tokens. ----

/// One name a `use` brings in.
#[derive(Debug)]
struct UseLeaf {
    /// The module (maybe an inline one) the `use` is written in.
    scope: Vec<String>,
    path: Vec<String>,
    /// The name it is known by afterwards (`None` for `as _` and globs).
    binding: Option<String>,
    glob: bool,
    line: usize,
}

/// A path of two segments or more written in code (or a bare macro call: one segment).
#[derive(Debug)]
struct PathRef {
    scope: Vec<String>,
    path: Vec<String>,
    line: usize,
}

#[derive(Debug, Default)]
struct FileScan {
    file: String,
    module: Vec<String>,
    /// The whole file is `#![cfg(test)]`.
    test_only: bool,
    uses: Vec<UseLeaf>,
    paths: Vec<PathRef>,
    /// The modules it declares (`mod x;`, `mod x { }`); true for test-only ones.
    modules: Vec<(Vec<String>, bool)>,
    /// The `#[macro_export]` macros it defines.
    macros: Vec<String>,
}

fn is_punct(toks: &[Token], i: usize, c: char) -> bool {
    toks.get(i).is_some_and(|t| t.tok == Tok::Punct(c))
}

fn is_sep(toks: &[Token], i: usize) -> bool {
    toks.get(i).is_some_and(|t| t.tok == Tok::PathSep)
}

fn ident(toks: &[Token], i: usize) -> Option<&str> {
    match toks.get(i).map(|t| &t.tok) {
        Some(Tok::Ident(name)) => Some(name),
        _ => None,
    }
}

/// The index of the bracket closing the one at `open` (or the last token).
fn matching(toks: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

/// The index after the item, field, statement or arm that starts at `i`.
fn skip_item(toks: &[Token], mut i: usize) -> usize {
    const ITEMS: &[&str] = &[
        "pub",
        "fn",
        "mod",
        "impl",
        "struct",
        "enum",
        "union",
        "trait",
        "const",
        "static",
        "type",
        "use",
        "unsafe",
        "async",
        "extern",
        "macro_rules",
    ];
    // An item's generics and where clauses have commas; a field's or an arm's end at one.
    let item = ident(toks, i).is_some_and(|w| ITEMS.contains(&w));
    let mut depth = 0usize;
    while i < toks.len() {
        match toks[i].tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(c @ (')' | ']' | '}')) => {
                if depth == 0 {
                    return i; // the end of what encloses it
                }
                depth -= 1;
                if depth == 0 && c == '}' {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            Tok::Punct(',') if depth == 0 && !item => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

fn scan_file(toks: &[Token], module: Vec<String>) -> FileScan {
    let mut scan = FileScan {
        module,
        ..FileScan::default()
    };
    let mut depth = 0usize;
    // Inline modules open here: the brace depth inside each, and its name.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut opening_mod: Option<String> = None;
    let mut exported = false;
    let mut i = 0;
    while i < toks.len() {
        let scope: Vec<String> = scan
            .module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(_, n)| n.clone()))
            .collect();
        let line = toks[i].line;
        match &toks[i].tok {
            Tok::Punct('#') => {
                let inner = is_punct(toks, i + 1, '!');
                let open = if inner { i + 2 } else { i + 1 };
                if is_punct(toks, open, '[') {
                    let close = matching(toks, open);
                    let content: Vec<&Tok> = toks[open + 1..close].iter().map(|t| &t.tok).collect();
                    let cfg_test = [
                        Tok::Ident("cfg".into()),
                        Tok::Punct('('),
                        Tok::Ident("test".into()),
                        Tok::Punct(')'),
                    ];
                    if content.iter().copied().eq(cfg_test.iter()) {
                        if inner {
                            if inline.is_empty() && depth == 0 {
                                scan.test_only = true;
                                return scan;
                            }
                            // `#![cfg(test)]` inside an inline module: the rest of it.
                            i = matching_close(toks, close + 1);
                            continue;
                        }
                        i = close + 1;
                        while is_punct(toks, i, '#') && is_punct(toks, i + 1, '[') {
                            i = matching(toks, i + 1) + 1;
                        }
                        let mut j = i;
                        if ident(toks, j) == Some("pub") {
                            j += 1;
                            if is_punct(toks, j, '(') {
                                j = matching(toks, j) + 1;
                            }
                        }
                        if ident(toks, j) == Some("mod")
                            && let Some(name) = ident(toks, j + 1)
                        {
                            scan.modules
                                .push(([&scope[..], &[name.to_string()]].concat(), true));
                        }
                        i = skip_item(toks, i);
                        continue;
                    }
                    if content == [&Tok::Ident("macro_export".into())] {
                        exported = true;
                        i = close + 1;
                        continue;
                    }
                }
                i += 1;
            }
            Tok::Ident(word) if word == "use" => {
                let mut j = i + 1;
                let mut leaves = Vec::new();
                use_tree(toks, &mut j, Vec::new(), &mut leaves);
                while j < toks.len() && !is_punct(toks, j, ';') {
                    j += 1;
                }
                for (path, binding, glob, line) in leaves {
                    scan.uses.push(UseLeaf {
                        scope: scope.clone(),
                        path,
                        binding,
                        glob,
                        line,
                    });
                }
                i = j + 1;
            }
            Tok::Ident(word) if word == "pub" && is_punct(toks, i + 1, '(') => {
                // A visibility, `pub(in crate::a)` included, is no use of a module.
                i = matching(toks, i + 1) + 1;
            }
            Tok::Ident(word) if word == "mod" && ident(toks, i + 1).is_some() => {
                let name = ident(toks, i + 1).unwrap_or_default().to_string();
                scan.modules
                    .push(([&scope[..], std::slice::from_ref(&name)].concat(), false));
                if is_punct(toks, i + 2, '{') {
                    opening_mod = Some(name);
                }
                i += 2;
            }
            Tok::Ident(word)
                if word == "macro_rules"
                    && is_punct(toks, i + 1, '!')
                    && ident(toks, i + 2).is_some() =>
            {
                if exported {
                    scan.macros
                        .push(ident(toks, i + 2).unwrap_or_default().to_string());
                }
                exported = false;
                i += 3;
            }
            Tok::Punct('{') => {
                depth += 1;
                if let Some(name) = opening_mod.take() {
                    inline.push((depth, name));
                }
                exported = false;
                i += 1;
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(d, _)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Punct(';') => {
                exported = false;
                i += 1;
            }
            Tok::Ident(first) if is_sep(toks, i + 1) => {
                // A path; one that starts after `::` (`::std::x`, `<T>::f`) is not the crate's.
                let after_sep = i > 0 && is_sep(toks, i - 1);
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while is_sep(toks, j)
                    && let Some(next) = ident(toks, j + 1)
                {
                    path.push(next.to_string());
                    j += 2;
                }
                if !after_sep && path.len() >= 2 {
                    scan.paths.push(PathRef {
                        scope,
                        path,
                        line: toks[j - 1].line,
                    });
                }
                i = j.max(i + 1);
            }
            Tok::Ident(name)
                if is_punct(toks, i + 1, '!')
                    && (is_punct(toks, i + 2, '(')
                        || is_punct(toks, i + 2, '[')
                        || is_punct(toks, i + 2, '{'))
                    && !(i > 0 && is_sep(toks, i - 1)) =>
            {
                scan.paths.push(PathRef {
                    scope,
                    path: vec![name.clone()],
                    line,
                });
                i += 2;
            }
            _ => i += 1,
        }
    }
    scan
}

/// The index after the `}` that closes the block `i` is in.
fn matching_close(toks: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < toks.len() {
        match toks[i].tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

type Leaf = (Vec<String>, Option<String>, bool, usize);

/// Parses a use tree at `*j`, prefixed by `prefix`, into its leaves: (path, binding, glob, line).
fn use_tree(toks: &[Token], j: &mut usize, prefix: Vec<String>, leaves: &mut Vec<Leaf>) {
    let mut path = prefix;
    if is_sep(toks, *j) {
        path.push("::".to_string()); // `use ::name`: another crate
        *j += 1;
    }
    loop {
        match toks.get(*j).map(|t| &t.tok) {
            Some(Tok::Ident(name)) => {
                let line = toks[*j].line;
                path.push(name.clone());
                *j += 1;
                if is_sep(toks, *j) {
                    *j += 1;
                    continue;
                }
                let mut binding = Some(name.clone());
                if name == "self" && path.len() > 1 {
                    path.pop();
                    binding = path.last().cloned();
                }
                if ident(toks, *j) == Some("as") {
                    binding = ident(toks, *j + 1)
                        .filter(|n| *n != "_")
                        .map(str::to_string);
                    *j += 2;
                }
                leaves.push((path, binding, false, line));
                return;
            }
            Some(Tok::Punct('*')) => {
                leaves.push((path, None, true, toks[*j].line));
                *j += 1;
                return;
            }
            Some(Tok::Punct('{')) => {
                *j += 1;
                loop {
                    match toks.get(*j).map(|t| &t.tok) {
                        None => return,
                        Some(Tok::Punct('}')) => {
                            *j += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *j += 1,
                        Some(_) => {
                            let before = *j;
                            use_tree(toks, j, path.clone(), leaves);
                            if *j == before {
                                *j += 1;
                            }
                        }
                    }
                }
            }
            _ => return,
        }
    }
}

// ---- Cycles and layers. ----

/// The graph's strongly connected components of more than one module (Tarjan).
fn tangles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(st: &mut State<'g>, v: &'g str) {
        let n = st.index.len();
        st.index.insert(v, n);
        st.low.insert(v, n);
        st.stack.push(v);
        st.on_stack.insert(v);
        for w in st.graph.targets(v) {
            if !st.index.contains_key(w.as_str()) {
                visit(st, w);
                let low = st.low[v].min(st.low[w.as_str()]);
                st.low.insert(v, low);
            } else if st.on_stack.contains(w.as_str()) {
                let low = st.low[v].min(st.index[w.as_str()]);
                st.low.insert(v, low);
            }
        }
        if st.low[v] == st.index[v] {
            let mut component = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                st.found.push(component);
            }
        }
    }
    let mut st = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    let nodes: BTreeSet<&str> = graph
        .nodes
        .iter()
        .chain(graph.edges.keys())
        .map(String::as_str)
        .collect();
    for v in nodes {
        if !st.index.contains_key(v) {
            visit(&mut st, v);
        }
    }
    st.found.sort();
    st.found
}

/// The graph's cycles: for each edge that is on one, the shortest cycle through it. Each cycle
/// is its modules in order, starting at the smallest name; shortest cycles first.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = BTreeSet::new();
    for tangle in tangles(graph) {
        let members: BTreeSet<&String> = tangle.iter().collect();
        for from in &tangle {
            for to in graph.targets(from).filter(|t| members.contains(t)) {
                // The shortest way back from `to` to `from`, inside the tangle.
                let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
                let mut queue = VecDeque::from([to]);
                let mut seen = BTreeSet::from([to]);
                while let Some(v) = queue.pop_front() {
                    if v == from {
                        break;
                    }
                    for w in graph.targets(v).filter(|w| members.contains(w)) {
                        if seen.insert(w) {
                            came_from.insert(w, v);
                            queue.push_back(w);
                        }
                    }
                }
                let mut back = vec![from.clone()];
                let mut v = from;
                while v != to {
                    v = came_from[v];
                    back.push(v.clone());
                }
                back.reverse(); // to ... from
                let mut cycle = vec![from.clone()];
                cycle.extend(back.into_iter().take_while(|v| v != from));
                let smallest = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap_or(0);
                cycle.rotate_left(smallest);
                found.insert((cycle.len(), cycle));
            }
        }
    }
    found.into_iter().map(|(_, cycle)| cycle).collect()
}

fn describe_sites(out: &mut String, from: &str, to: &str, sites: &[Site], top: bool) {
    for site in sites {
        let _ = write!(out, "\n    {from} -> {to}: {}:{}", site.file, site.line);
        if top {
            let _ = write!(out, " ({} -> {})", site.from, site.to);
        }
    }
}

fn describe_cycles(graph: &Graph, kind: &str, top: bool, problems: &mut Vec<String>) {
    for cycle in cycles(graph) {
        let mut text = format!("cycle among {kind}: {} -> {}", cycle.join(" -> "), cycle[0]);
        for (k, from) in cycle.iter().enumerate() {
            let to = &cycle[(k + 1) % cycle.len()];
            describe_sites(&mut text, from, to, &graph.edges[from][to], top);
        }
        problems.push(text);
    }
}

/// Everything wrong with `graphs`: cycles in either graph, top-level modules missing from
/// `layers` (bottom first) or named there without being in the crate, and top-level edges that
/// go up the layers. Each problem names the file:line of the uses that make it.
pub fn check(graphs: &ModuleGraphs, layers: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    describe_cycles(&graphs.files, "file modules", false, &mut problems);
    describe_cycles(&graphs.top, "top-level modules", true, &mut problems);
    let mut position = BTreeMap::new();
    for (k, name) in layers.iter().enumerate() {
        if position.insert(*name, k).is_some() {
            problems.push(format!(
                "LAYERS (tests/architecture.rs) names `{name}` twice"
            ));
        }
    }
    for node in &graphs.top.nodes {
        if !position.contains_key(node.as_str()) {
            problems.push(format!(
                "top-level module `{node}` is not in LAYERS (tests/architecture.rs): add it \
                 where it belongs in the order, so the list stays complete"
            ));
        }
    }
    for name in layers {
        if !graphs.top.nodes.contains(*name) {
            problems.push(format!(
                "LAYERS (tests/architecture.rs) names `{name}`, but src/ has no top-level \
                 module of that name: remove it or correct it"
            ));
        }
    }
    for (from, targets) in &graphs.top.edges {
        for (to, sites) in targets {
            if let (Some(&low), Some(&high)) =
                (position.get(from.as_str()), position.get(to.as_str()))
                && low < high
            {
                let mut text = format!(
                    "layering: `{from}` (layer {}) uses `{to}` (layer {}), which is above it in \
                     LAYERS (bottom first):",
                    low + 1,
                    high + 1
                );
                describe_sites(&mut text, from, to, sites, true);
                problems.push(text);
            }
        }
    }
    problems
}

/// Scans the crate in `src` and checks it against `layers`: see [`check`].
pub fn problems(src: &Path, layers: &[&str]) -> Result<Vec<String>, String> {
    Ok(check(&module_graphs(src)?, layers))
}

/// The top-level modules and, for each, those it uses.
pub fn describe_top_level(graphs: &ModuleGraphs) -> String {
    let mut text = String::from("top-level modules of src/, each with the modules it uses:\n");
    for node in &graphs.top.nodes {
        let targets: Vec<&str> = graphs.top.targets(node).map(String::as_str).collect();
        let _ = writeln!(text, "  {node} -> {}", targets.join(", "));
    }
    text
}

/// Prints the top-level edges: to stdout (seen with `--nocapture`), or straight to stderr,
/// past the test harness's capture, when KOPSFORM_PRINT_MODULES=1.
fn print_top_level(graphs: &ModuleGraphs) {
    let text = describe_top_level(graphs);
    if std::env::var_os("KOPSFORM_PRINT_MODULES").is_some_and(|v| v == "1") {
        let _ = std::io::stderr().write_all(text.as_bytes());
    } else {
        println!("{text}");
    }
}

fn crate_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn src_modules_have_no_cycles_and_respect_the_layers() {
    let graphs = module_graphs(&crate_src()).unwrap();
    print_top_level(&graphs);
    let problems = check(&graphs, LAYERS);
    assert!(
        problems.is_empty(),
        "the module architecture of src/ has {} problem(s):\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// Runs on today's tree whatever its shape: the scan reads it, and the graph can be printed
/// (`KOPSFORM_PRINT_MODULES=1 cargo test --test integration architecture`).
#[test]
fn src_modules_can_be_scanned() {
    let graphs = module_graphs(&crate_src()).unwrap();
    assert!(graphs.top.nodes.contains("error"), "{graphs:?}");
    assert!(!graphs.top.edges.is_empty(), "{graphs:?}");
    assert!(
        !graphs.files.nodes.contains(""),
        "the crate root is no node"
    );
    if std::env::var_os("KOPSFORM_PRINT_MODULES").is_some_and(|v| v == "1") {
        print_top_level(&graphs);
    }
}

// ---- The check itself, on small crates written to a temporary folder. ----

/// A crate with `files` (paths under src/ and their text).
fn krate(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join("src").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn graphs_of(dir: &tempfile::TempDir) -> ModuleGraphs {
    module_graphs(&dir.path().join("src")).unwrap()
}

/// The file-level edges leaving `from`, each with the line that makes it.
fn uses_of(graphs: &ModuleGraphs, from: &str) -> Vec<(String, usize)> {
    graphs
        .files
        .edges
        .get(from)
        .map_or_else(Vec::new, |targets| {
            targets
                .iter()
                .map(|(to, sites)| (to.clone(), sites[0].line))
                .collect()
        })
}

fn owned(list: &[(&str, usize)]) -> Vec<(String, usize)> {
    list.iter().map(|(m, l)| (m.to_string(), *l)).collect()
}

#[test]
fn a_cyclic_pair_is_reported_with_each_file_and_line() {
    let dir = krate(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a.rs", "//! A.\n\nuse crate::b::Thing;\n\npub fn f() {}\n"),
        (
            "b.rs",
            "pub struct Thing;\n\npub fn g() {\n    crate::a::f();\n}\n",
        ),
        ("c.rs", "use crate::a;\n"),
        (
            "main.rs",
            "use kopsform::c;\nfn main() { crate::b::g(); }\n",
        ),
    ]);
    let graphs = graphs_of(&dir);
    assert_eq!(cycles(&graphs.files), [["a", "b"]]);
    let problems = problems(&dir.path().join("src"), &["a", "b", "c"]).unwrap();
    let text = problems.join("\n\n");
    assert!(
        text.contains(
            "cycle among file modules: a -> b -> a\n    a -> b: src/a.rs:3\n    b -> a: src/b.rs:4"
        ),
        "{text}"
    );
    assert!(
        text.contains("cycle among top-level modules: a -> b -> a"),
        "{text}"
    );
    assert!(!text.contains("main"), "main.rs is no module: {text}");
}

#[test]
fn nested_and_multi_line_use_groups_are_read() {
    let dir = krate(&[
        (
            "lib.rs",
            "pub mod a;\npub mod b;\npub mod c;\npub mod top;\n",
        ),
        ("a/mod.rs", "pub mod x;\n"),
        ("a/x.rs", "pub mod z;\npub struct Y;\n"),
        ("a/x/z.rs", "pub struct W;\n"),
        ("b.rs", ""),
        ("c.rs", "pub mod d {}\n"),
        (
            "top.rs",
            "use crate::{\n    a::{self, x::{Y, z::W}},\n    b,\n    c::{d as _, *},\n};\n\
             use std::{fmt, io::{self, Write}};\npub use crate::b as bee;\n",
        ),
    ]);
    let graphs = graphs_of(&dir);
    assert_eq!(
        uses_of(&graphs, "top"),
        owned(&[("a", 2), ("a::x", 2), ("a::x::z", 2), ("b", 3), ("c", 4)])
    );
}

#[test]
fn super_self_and_relative_paths_are_resolved_from_their_module() {
    let dir = krate(&[
        (
            "lib.rs",
            "pub mod cmd;\npub mod tools;\npub mod top;\npub mod ui;\n",
        ),
        ("top.rs", "pub fn t() {}\n"),
        (
            "tools/mod.rs",
            "pub mod process;\npub mod retry;\n\npub fn go() {\n    process::run();\n}\n\
             pub mod inner {\n    pub fn i() {\n        super::super::top::t();\n    }\n}\n",
        ),
        (
            "tools/process.rs",
            "use super::retry::Policy;\n\npub fn run() {\n    super::super::top::t();\n    \
             self::helper();\n}\nfn helper() {}\n",
        ),
        ("tools/retry.rs", "pub struct Policy;\n"),
        (
            "cmd.rs",
            "use crate::tools;\nuse crate::tools::retry as r;\nuse std::process;\n\
             pub fn c() {\n    tools::process::run();\n    r::Policy::new();\n    \
             process::exit(0);\n    crate::say!(\"hi\");\n}\n",
        ),
        (
            "ui.rs",
            "#[macro_export]\nmacro_rules! say {\n    ($($t:tt)*) => { $crate::ui::line(format!($($t)*)) };\n}\n\
             pub fn line(_: String) {}\n",
        ),
    ]);
    let graphs = graphs_of(&dir);
    assert_eq!(
        uses_of(&graphs, "tools"),
        owned(&[("tools::process", 5), ("top", 9)])
    );
    assert_eq!(
        uses_of(&graphs, "tools::process"),
        owned(&[("tools::retry", 1), ("top", 4)])
    );
    assert_eq!(
        uses_of(&graphs, "cmd"),
        owned(&[
            ("tools", 1),
            ("tools::process", 5),
            ("tools::retry", 2),
            ("ui", 8)
        ])
    );
    assert!(uses_of(&graphs, "ui").is_empty());
}

#[test]
fn comments_doc_comments_and_literals_are_not_uses() {
    let a = r####"//! Uses [`crate::b`] in docs only.
/// See crate::b::X.
/* crate::b::X /* nested crate::b */ crate::b::Y
   crate::b */
pub fn f() -> &'static str {
    let _c = '"';
    let _q = '\'';
    let _s = "crate::b::X \" crate::b::Y
        use crate::b;";
    let _r = r#"crate::b::X "# ;
    let _b = b"crate::b::X";
    'outer: loop { break 'outer; }
    "crate::b::Z"
}
pub fn after<'a>(x: &'a str) -> &'a str {
    crate::c::go();
    x
}
"####;
    let dir = krate(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("a.rs", a),
        ("b.rs", ""),
        ("c.rs", "pub fn go() {}\n"),
    ]);
    assert_eq!(uses_of(&graphs_of(&dir), "a"), owned(&[("c", 16)]));
}

#[test]
fn test_modules_may_use_anything() {
    let dir = krate(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n"),
        (
            "a.rs",
            "pub fn f() {}\n\n#[cfg(test)]\nmod tests {\n    use crate::b::X;\n    \
             const RAW: &str = r#\"\n}\n\"#;\n    #[test]\n    fn t() {\n        crate::b::g();\n    }\n}\n\
             \npub fn after() {\n    crate::c::h();\n}\n",
        ),
        ("b.rs", "use crate::a::f;\npub struct X;\npub fn g() {}\n"),
        ("c.rs", "pub fn h() {}\n"),
        ("d.rs", "#[cfg(test)]\nmod tests;\n"),
        ("d/tests.rs", "use crate::a::f;\n"),
    ]);
    let graphs = graphs_of(&dir);
    assert_eq!(uses_of(&graphs, "a"), owned(&[("c", 16)]));
    assert!(!graphs.files.nodes.contains("d::tests"), "{graphs:?}");
    assert!(cycles(&graphs.files).is_empty());
    assert!(check(&graphs, &["c", "a", "b", "d"]).is_empty());
}

#[test]
fn a_cycle_between_folders_is_a_top_level_cycle() {
    let dir = krate(&[
        ("lib.rs", "pub mod project;\npub mod tools;\n"),
        ("tools/mod.rs", "pub mod a;\npub mod c;\n"),
        ("tools/a.rs", "use crate::project::b;\n"),
        ("tools/c.rs", "pub fn c() {}\n"),
        ("project/mod.rs", "pub mod b;\n"),
        (
            "project/b.rs",
            "pub fn b() {\n    crate::tools::c::c();\n}\n",
        ),
    ]);
    let graphs = graphs_of(&dir);
    assert!(cycles(&graphs.files).is_empty());
    assert_eq!(
        graphs.top.edge_list(),
        ["project -> tools", "tools -> project"]
    );
    let text = check(&graphs, &["tools", "project"]).join("\n\n");
    assert!(
        text.contains(
            "cycle among top-level modules: project -> tools -> project\n    \
             project -> tools: src/project/b.rs:2 (project::b -> tools::c)\n    \
             tools -> project: src/tools/a.rs:1 (tools::a -> project::b)"
        ),
        "{text}"
    );
}

#[test]
fn a_use_up_the_layers_is_reported_and_the_list_must_be_complete() {
    let dir = krate(&[
        ("lib.rs", "pub mod extra;\npub mod high;\npub mod low;\n"),
        (
            "low.rs",
            "pub fn l() {}\n\npub fn up() {\n    crate::high::h();\n}\n",
        ),
        ("high.rs", "pub fn h() {}\n"),
        ("extra.rs", "use crate::low::l;\n"),
    ]);
    let graphs = graphs_of(&dir);
    assert!(cycles(&graphs.files).is_empty());
    let problems = check(&graphs, &["low", "high", "gone"]);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].contains("`extra` is not in LAYERS"),
        "{problems:#?}"
    );
    assert!(problems[1].contains("names `gone`"), "{problems:#?}");
    assert_eq!(
        problems[2],
        "layering: `low` (layer 1) uses `high` (layer 2), which is above it in LAYERS (bottom \
         first):\n    low -> high: src/low.rs:4 (low -> high)"
    );
    assert_eq!(check(&graphs, &["low", "high", "extra"]).len(), 1);
    assert!(check(&graphs, &["high", "low", "extra"]).is_empty());
}

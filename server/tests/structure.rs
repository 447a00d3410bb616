//! The module structure of the workspace's library crates (the server, the SDK, the
//! protocol vocabulary), checked on their source: no import cycle between modules, and no
//! production source file over 600 lines (files with one job each).
//!
//! The module tree is read from `mod` declarations starting at `src/lib.rs` (so `#[path]`
//! is honoured); a module's imports are the `crate::`, `super::` and `self::` paths and the
//! paths starting with a child module's name in its code, comments and inline test modules
//! left out. A parent that only declares its children (and re-exports them with `pub use`)
//! does not import them; a child using its parent's items does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest production file, in lines (test modules at a file's end not counted).
const MAX_LINES: usize = 600;

struct Module {
    file: PathBuf,
    /// Declared under `#[cfg(test)]`.
    test_only: bool,
    /// Code without comments and without a trailing inline `mod tests`.
    code: String,
    lines: usize,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The source roots of the workspace's three library crates: the server, the SDK and the
/// protocol vocabulary they share.
fn crate_roots() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    vec![src(), workspace.join("src"), workspace.join("protocol/src")]
}

/// Removes `//` comments (outside string literals, roughly) and block comments.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    while let Some(a) = out.find("/*") {
        let b = out[a..].find("*/").map_or(out.len(), |b| a + b + 2);
        out.replace_range(a..b, "");
    }
    out
}

/// The code before a trailing `#[cfg(test)] mod tests {` block.
fn production_part(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Reads the module tree: `mod name;` declarations, with `#[path]` and `#[cfg(test)]`.
fn read_tree(path: &str, file: &Path, test_only: bool, out: &mut BTreeMap<String, Module>) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
    let prod = production_part(&text);
    let dir_owner = matches!(
        file.file_name().and_then(|f| f.to_str()),
        Some("mod.rs" | "lib.rs")
    );
    let base = if dir_owner {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let mut attrs: Vec<&str> = Vec::new();
    for line in prod.lines() {
        let l = line.trim();
        if l.starts_with("#[") {
            attrs.push(l);
            continue;
        }
        let decl = l
            .strip_prefix("pub(crate) mod ")
            .or_else(|| l.strip_prefix("pub(super) mod "))
            .or_else(|| l.strip_prefix("pub mod "))
            .or_else(|| l.strip_prefix("mod "));
        if let Some(name) = decl.and_then(|d| d.strip_suffix(';')) {
            let child_test = test_only || attrs.iter().any(|a| a.contains("cfg(test)"));
            let child_file = match attrs.iter().find_map(|a| {
                a.strip_prefix("#[path = \"")
                    .and_then(|p| p.strip_suffix("\"]"))
            }) {
                // A `#[path]` outside a directory owner is relative to the file's directory.
                Some(p) => file.parent().unwrap().join(p),
                None if base.join(format!("{name}.rs")).is_file() => {
                    base.join(format!("{name}.rs"))
                }
                None => base.join(name).join("mod.rs"),
            };
            let child = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}::{name}")
            };
            read_tree(&child, &child_file, child_test, out);
        }
        if !l.is_empty() {
            attrs.clear();
        }
    }
    out.insert(
        path.to_owned(),
        Module {
            file: file.to_path_buf(),
            test_only,
            code: strip_comments(prod),
            lines: prod.lines().count(),
        },
    );
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `a::b::c` path in the code (use trees expanded), as written, each with whether it
/// is re-exported (`pub use`, `pub(crate) use`, …).
fn paths(code: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    // `use` trees, expanded into full paths, then blanked out of the code scanned below.
    let mut rest = String::with_capacity(code.len());
    let mut tail = code;
    while let Some(i) = tail.find("use ") {
        let before_ok = i == 0 || !is_ident(tail[..i].chars().last().unwrap_or(' '));
        let Some(end) = tail[i..].find(';').map(|e| i + e) else {
            break;
        };
        if before_ok {
            let tree = tail[i + 4..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let before = tail[..i].trim_end();
            let reexport = ["pub", "pub(crate)", "pub(super)"]
                .iter()
                .any(|v| before.ends_with(v));
            let mut expanded = Vec::new();
            expand("", &tree, &mut expanded);
            out.extend(expanded.into_iter().map(|p| (p, reexport)));
            rest.push_str(&tail[..i]);
        } else {
            rest.push_str(&tail[..end]);
        }
        tail = &tail[end..];
    }
    rest.push_str(tail);
    // Paths in code: identifier runs joined by `::`.
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        if is_ident(chars[i]) && starts {
            let mut j = i;
            while j < chars.len()
                && (is_ident(chars[j]) || (chars[j] == ':' && chars.get(j + 1) == Some(&':')))
            {
                j += if chars[j] == ':' { 2 } else { 1 };
            }
            let p: String = chars[i..j].iter().collect();
            if p.contains("::") {
                out.push((p.trim_end_matches(':').to_owned(), false));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let item = tree.split(" as ").next().unwrap_or(tree).replace(' ', "");
        out.push(format!("{prefix}{item}").trim_end_matches("::").to_owned());
        return;
    };
    let head = format!("{prefix}{}", tree[..open].replace(' ', ""));
    // A `use ` inside a string can reach a `}` before its `{`: read to the end then.
    let close = tree.rfind('}').filter(|&c| c > open).unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&head, &inner[start..i], out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        expand(&head, &inner[start..], out);
    }
}

/// The module a path written in module `from` names, if it names one of ours.
fn resolve(modules: &BTreeMap<String, Module>, from: &str, path: &str) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<&str> = if from.is_empty() {
        Vec::new()
    } else {
        from.split("::").collect()
    };
    match segs.first() {
        Some(&"crate") => {
            base.clear();
            segs.remove(0);
        }
        Some(&"self") => {
            segs.remove(0);
        }
        Some(&"super") => {
            while segs.first() == Some(&"super") {
                base.pop();
                segs.remove(0);
            }
        }
        // A path starting with a child module's name.
        Some(first) => {
            let child = if from.is_empty() {
                first.to_string()
            } else {
                format!("{from}::{first}")
            };
            if !modules.contains_key(&child) {
                return None;
            }
        }
        None => return None,
    }
    (0..=segs.len()).rev().find_map(|n| {
        let p: Vec<&str> = base
            .iter()
            .copied()
            .chain(segs[..n].iter().copied())
            .collect();
        let p = p.join("::");
        modules.contains_key(&p).then_some(p)
    })
}

fn graph(modules: &BTreeMap<String, Module>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, m) in modules {
        for (p, reexport) in paths(&m.code) {
            if let Some(to) = resolve(modules, name, &p) {
                // A parent re-exporting its children's items does not use them.
                let descendant = name.is_empty() || to.starts_with(&format!("{name}::"));
                if reexport && descendant {
                    continue;
                }
                if &to != name {
                    edges.entry(name.clone()).or_default().insert(to);
                }
            }
        }
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>, nodes: &[String]) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        if let Some(ws) = t.edges.get(v) {
            for w in ws {
                if !t.index.contains_key(w.as_str()) {
                    visit(t, w);
                    let lw = t.low[w.as_str()];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if t.stack.contains(&w.as_str()) {
                    let iw = t.index[w.as_str()];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                comp.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.found.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for n in nodes {
        if !t.index.contains_key(n.as_str()) {
            visit(&mut t, n);
        }
    }
    t.found
}

/// A module's name for messages (the crate root is `crate`).
fn shown(name: &str) -> &str {
    if name.is_empty() {
        "crate"
    } else {
        name
    }
}

fn tree() -> BTreeMap<String, Module> {
    tree_at(&src())
}

fn tree_at(root: &Path) -> BTreeMap<String, Module> {
    let mut modules = BTreeMap::new();
    read_tree("", &root.join("lib.rs"), false, &mut modules);
    modules
}

#[test]
fn no_import_cycle_between_server_modules() {
    let modules = tree();
    assert!(
        modules.contains_key("c2s::negotiate"),
        "the module tree was read"
    );
    assert_no_cycle(&modules);
}

#[test]
fn no_import_cycle_between_sdk_or_protocol_modules() {
    let roots = crate_roots();
    let sdk = tree_at(&roots[1]);
    assert!(sdk.contains_key("client::command"), "the SDK tree was read");
    assert_no_cycle(&sdk);
    let protocol = tree_at(&roots[2]);
    assert!(
        protocol.contains_key("mam::query"),
        "the protocol tree was read"
    );
    assert_no_cycle(&protocol);
}

fn assert_no_cycle(modules: &BTreeMap<String, Module>) {
    let edges = graph(modules);
    let nodes: Vec<String> = modules.keys().cloned().collect();
    let found = cycles(&edges, &nodes);
    let described: Vec<String> = found
        .iter()
        .map(|comp| {
            let inside: Vec<String> = comp
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| comp.contains(b))
                        .map(move |b| format!("{} -> {}", shown(a), shown(b)))
                })
                .collect();
            let names: Vec<&str> = comp.iter().map(|m| shown(m)).collect();
            format!("{} ({})", names.join(", "), inside.join("; "))
        })
        .collect();
    assert!(described.is_empty(), "import cycles: {described:#?}");
}

#[test]
fn the_checker_sees_a_cycle_where_there_is_one() {
    let mut modules = BTreeMap::new();
    for (name, code) in [
        ("", ""),
        ("a", "use crate::b::Thing;"),
        ("b", "fn f() { crate::a::g() }"),
        ("c", "use super::a as alias;"),
        ("d", "mod e; use e::X;"),
        ("d::e", "pub struct X;"),
        ("f", "mod g; pub use g::Y; pub struct Z;"),
        ("f::g", "use super::Z; pub struct Y;"),
    ] {
        modules.insert(
            name.to_owned(),
            Module {
                file: PathBuf::new(),
                test_only: false,
                code: code.to_owned(),
                lines: 1,
            },
        );
    }
    let edges = graph(&modules);
    assert!(edges["c"].contains("a"));
    assert!(edges["d"].contains("d::e"));
    // A re-export is not a use: `f` and `f::g` form no cycle.
    assert!(!edges.get("f").is_some_and(|e| e.contains("f::g")));
    assert!(edges["f::g"].contains("f"));
    let nodes: Vec<String> = modules.keys().cloned().collect();
    assert_eq!(
        cycles(&edges, &nodes),
        vec![vec!["a".to_owned(), "b".to_owned()]]
    );
}

#[test]
fn production_files_stay_under_the_line_limit() {
    let mut over = Vec::new();
    for root in crate_roots() {
        for m in tree_at(&root).values() {
            // Test-only files (`*tests.rs`, also those gated on more than `cfg(test)`).
            let test_file = m.file.to_string_lossy().ends_with("tests.rs");
            if m.test_only || test_file || m.lines <= MAX_LINES {
                continue;
            }
            over.push(format!("{}: {} lines", m.file.display(), m.lines));
        }
    }
    assert!(over.is_empty(), "split these files by job: {over:#?}");
}

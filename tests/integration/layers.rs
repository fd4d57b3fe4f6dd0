//! The layering `src/lib.rs` describes, checked on the source: every `crate::` path in a module names a
//! module of a lower layer (or its own), and the modules inside a layer import each other without a
//! circle. A new arrow back up the layers fails here with the file and the path that draws it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/lib.rs`, lowest first; a module may import only from layers below its own.
const LAYERS: &[&[&str]] = &[
    &["error", "exposition", "memory", "shutdown"],
    &["identity"],
    &["model"],
    &["sql"],
    &["sources"],
    &["metrics"],
    &["http"],
    &["config"],
    &["telemetry", "refresh"],
    &["app"],
];

/// Re-exports at the crate root that stand for a module of a layer.
const ALIASES: &[(&str, &str)] = &[("snapshot", "model")];

fn rank(module: &str) -> Option<usize> {
    let module = ALIASES.iter().find(|(a, _)| *a == module).map_or(module, |(_, m)| *m);
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The file's code with comments dropped and each `use ...;` statement joined onto one line.
fn statements(text: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut open: Option<(String, usize)> = None;
    for (n, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        if let Some((mut acc, at)) = open.take() {
            acc.push(' ');
            acc.push_str(code.trim());
            if code.trim_end().ends_with(';') {
                out.push((acc, at));
            } else {
                open = Some((acc, at));
            }
            continue;
        }
        let is_use = code.split_whitespace().any(|w| w == "use");
        if is_use && !code.trim_end().ends_with(';') && code.contains('{') {
            open = Some((line.to_owned(), n + 1));
        } else {
            out.push((line.to_owned(), n + 1));
        }
    }
    out.extend(open);
    out
}

/// The items of a `{a::b, c::{d, e}, f}` group at its top level: `a::b`, `c::{d, e}`, `f`.
fn group_items(inner: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0usize, 0usize, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(inner[start..i].trim());
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(inner[start..].trim());
    items
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `model/bedrock/usage.rs` -> ["model", "bedrock", "usage"]; `model/mod.rs` -> ["model"].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The crate paths a file refers to, outside comments: `crate::a::b` and `use crate::{a::b, c}` (groups
/// over several lines and nested ones included), and a `use super::x` of the file itself (with any
/// visibility) resolved against the file's module. Each as (path segments, line number).
fn references(module: &[String], text: &str) -> Vec<(Vec<String>, usize)> {
    let mut out = Vec::new();
    for (line, n) in statements(text) {
        let code = line.trim_start();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(inner) = rest.strip_prefix('{') {
                for item in group_items(inner) {
                    let segs: Vec<String> = path_segments(item);
                    if !segs.is_empty() {
                        out.push((segs, n));
                    }
                }
            } else {
                let segs = path_segments(rest);
                if !segs.is_empty() {
                    out.push((segs, n));
                }
            }
        }
        // Only a file's own `use super::` (not one inside an inline `mod tests`, whose `super` is the file).
        let own = line.strip_prefix("pub(crate) ").or_else(|| line.strip_prefix("pub ")).unwrap_or(&line);
        if let Some(rest) = own.strip_prefix("use super::") {
            // `super` of `a/b.rs` and of `a/b/mod.rs` is `a`.
            let parent = &module[..module.len().saturating_sub(1)];
            let items = match rest.strip_prefix('{') {
                Some(inner) => group_items(inner),
                None => vec![rest],
            };
            for item in items {
                let item_segs = path_segments(item);
                if item_segs.first().is_some_and(|s| s != "*" && s != "super") {
                    let mut segs: Vec<String> = parent.to_vec();
                    segs.extend(item_segs);
                    out.push((segs, n));
                }
            }
        }
    }
    out
}

fn path_segments(s: &str) -> Vec<String> {
    s.split("::")
        .map(|seg| seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
        .take_while(|seg| !seg.is_empty() && seg.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .collect()
}

#[test]
fn imports_point_down_the_layers_and_draw_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut upward = Vec::new();
    let mut unknown = BTreeSet::new();
    let mut unknown_targets = Vec::new();
    // Second-level modules (`model::kiro`, `sources::athena`): who imports whom, inside one top module.
    let mut inner: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_path(&src, file);
        let Some(top) = module.first().cloned() else { continue };
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = rank(&top) else {
            unknown.insert(top.clone());
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (path, line) in references(&module, &text) {
            let target = &path[0];
            if *target == top {
                if let (Some(a), Some(b)) = (module.get(1), path.get(1))
                    && a != b
                {
                    inner.entry(format!("{top}::{a}")).or_default().insert(format!("{top}::{b}"));
                }
                continue;
            }
            match rank(target) {
                Some(r) if r < own => {}
                None => unknown_targets.push(format!(
                    "{}:{line}: crate::{}",
                    file.strip_prefix(&src).unwrap().display(),
                    path.join("::")
                )),
                Some(_) => upward.push(format!(
                    "{}:{line}: {} imports {} ({})",
                    file.strip_prefix(&src).unwrap().display(),
                    top,
                    target,
                    path.join("::")
                )),
            }
        }
    }
    assert!(unknown.is_empty(), "modules missing from LAYERS (and from lib.rs' layout doc?): {unknown:?}");
    assert!(upward.is_empty(), "imports against the layers:\n{}", upward.join("\n"));
    assert!(unknown_targets.is_empty(), "paths to modules that are in no layer:\n{}", unknown_targets.join("\n"));

    // No circle among the modules of one layer: depth-first search for a back edge.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut circle = stack[from..].to_vec();
                    circle.push(m.clone());
                    return Some(circle);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in inner.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let circle = visit(n, &inner, &mut state, &mut Vec::new());
            assert!(circle.is_none(), "import circle: {}", circle.unwrap_or_default().join(" -> "));
        }
    }
    // The check itself sees the imports it is about (it would pass vacuously on a parser that finds none):
    // a multi-line group, a `pub use super::`.
    assert!(inner.get("model::snapshot").is_some_and(|m| m.contains("model::bedrock")), "{inner:#?}");
    assert!(inner.get("model::activity").is_some_and(|m| m.contains("model::kiro")), "{inner:#?}");
    let grouped = references(&["x".into()], "use crate::{\n    a::b,\n    c::{d, e},\n    f,\n};\n");
    let firsts: Vec<&str> = grouped.iter().map(|(p, _)| p[0].as_str()).collect();
    assert_eq!(firsts, ["a", "c", "f"]);
}

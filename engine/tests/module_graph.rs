//! The engine crate's top-level modules form no cycle: a module may use another only if that one never
//! (directly or through others) uses it back. Checked from the sources: every `crate::name` path in
//! code (comments ignored), `use crate::{a, b}` groups included, gives an edge from the file's top-level
//! module to `name`; the strongly connected components of that graph must all be single modules.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`None` for `lib.rs`).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_string_lossy().into_owned();
    if first == "lib.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_string())
}

fn ident_at(s: &str) -> String {
    s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The top-level modules named by `crate::` paths in one line of code.
fn crate_paths(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = &rest[..at];
        let after = &rest[at + "crate::".len()..];
        // `$crate::` and `promptbook_engine::...crate::` are not ours; `super::crate` does not exist.
        let own = !before.ends_with('$')
            && !before.ends_with("::")
            && !before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
        if own {
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 0usize;
                let mut item_start = true;
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => item_start = true,
                        c if c.is_whitespace() => {}
                        _ if item_start && depth == 0 => {
                            names.push(ident_at(&group[i..]));
                            item_start = false;
                        }
                        _ => {}
                    }
                }
            } else {
                names.push(ident_at(after));
            }
        }
        rest = after;
    }
    names.retain(|n| !n.is_empty());
    names
}

fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = top_module(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        let uses = graph.entry(module.clone()).or_default();
        for line in text.lines() {
            for name in crate_paths(code_of(line)) {
                if name != module {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

/// Tarjan's strongly connected components.
fn components(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out
}

#[test]
fn the_path_scanner_reads_groups_and_skips_foreign_crates() {
    assert_eq!(crate_paths("use crate::plan::{a, b};"), ["plan"]);
    assert_eq!(crate_paths("use crate::{audio::X, store::{Y, Z}, error};"), ["audio", "store", "error"]);
    assert_eq!(crate_paths("$crate::x::y(); promptbook_engine::crate::z"), Vec::<String>::new());
    assert_eq!(crate_paths("let a = crate::check::check(&x, crate::prompt::P);"), ["check", "prompt"]);
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph.entry(from.into()).or_default().insert(to.into());
        graph.entry(to.into()).or_default();
    }
    let cycles: Vec<_> = components(&graph).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(cycles, [vec!["a".to_string(), "b".into(), "c".into()]]);
}

#[test]
fn engine_modules_form_no_cycle() {
    let graph = dependency_graph();
    assert!(graph.len() > 10, "the scanner found only {} modules", graph.len());
    let cycles: Vec<Vec<String>> = components(&graph).into_iter().filter(|c| c.len() > 1).collect();
    let explain: Vec<String> = cycles
        .iter()
        .map(|cycle| {
            let edges: Vec<String> = cycle
                .iter()
                .flat_map(|from| {
                    graph[from].iter().filter(|to| cycle.contains(to)).map(move |to| format!("{from} → {to}"))
                })
                .collect();
            format!("{{{}}}: {}", cycle.join(", "), edges.join(", "))
        })
        .collect();
    assert!(cycles.is_empty(), "module cycles in engine/src: {}", explain.join("; "));
}

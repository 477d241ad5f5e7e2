//! The layering of the crate, read from its source files: which top-level module of `src/` (and `actors/`, mounted
//! as `crate::actors`) names which other one, through `crate::…` paths in code (comments and strings do not
//! count). The rules it pins:
//!
//! - `src/` is a DAG of parts: no cycle between top-level modules;
//! - the actors sit on top: only the orchestration (`cli`, `reload`) names `crate::actors`;
//! - the transport completes calls through its `Caller` trait and names neither the call layer (`dispatch`, where
//!   calls and clients live) nor anything above it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules that may name the actors.
const ORCHESTRATION: &[&str] = &["cli", "reload"];
/// What the transport must not name.
const ABOVE_TRANSPORT: &[&str] = &["dispatch", "routing", "session", "http", "actors", "cli", "reload"];

/// Module → the modules it names → the files that name them.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn the_top_level_modules_form_a_dag_with_the_actors_on_top() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let graph = crate_graph(root);
    // The reader works: the edges every layout of this crate has are found.
    for (from, to) in [("dispatch", "transport"), ("actors", "dispatch"), ("cli", "actors"), ("session", "routing")] {
        assert!(graph[from].contains_key(to), "the graph should have {from} -> {to}: {graph:#?}");
    }

    let mut problems = Vec::new();
    for (from, targets) in &graph {
        if from != "actors" && !ORCHESTRATION.contains(&from.as_str()) {
            if let Some(files) = targets.get("actors") {
                problems.push(format!("{from} names crate::actors (only {ORCHESTRATION:?} may): {files:?}"));
            }
        }
    }
    for banned in ABOVE_TRANSPORT {
        if let Some(files) = graph["transport"].get(*banned) {
            problems.push(format!("transport names crate::{banned}: {files:?}"));
        }
    }
    for cycle in cycles(&graph) {
        let edges: Vec<String> = cycle
            .iter()
            .zip(cycle.iter().cycle().skip(1))
            .filter_map(|(a, b)| graph[a].get(b).map(|files| format!("  {a} -> {b}: {files:?}")))
            .collect();
        problems.push(format!("import cycle between {cycle:?}:\n{}", edges.join("\n")));
    }
    assert!(problems.is_empty(), "the layering is broken:\n{}", problems.join("\n"));
}

#[test]
fn the_reader_sees_paths_in_code_only_and_finds_cycles() {
    let code = r#"
        use crate::{alpha::A, beta, gamma::{x, y}};
        // crate::delta in a comment
        /* crate::epsilon */
        let s = "crate::zeta";
        fn f() -> crate::eta::T { crate::find_bytes!(b, b"x") }
    "#;
    let names = referenced(code);
    assert_eq!(names, ["alpha", "beta", "eta", "find_bytes", "gamma"].map(String::from).into());
    let mut graph = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "d2")] {
        graph.entry(a.into()).or_default().entry(b.into()).or_default().insert("f".into());
        graph.entry(b.into()).or_default();
    }
    assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".into(), "c".into()]]);
}

/// The graph of the crate's top-level modules.
fn crate_graph(root: &Path) -> Graph {
    let src = root.join("src");
    let mut modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let stem = path.file_stem()?.to_str()?.to_owned();
            (path.extension()? == "rs" && stem != "lib" && stem != "main").then_some(stem)
        })
        .collect();
    modules.insert("actors".into());
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeMap::new())).collect();
    let mut files = Vec::new();
    for module in &modules {
        if module == "actors" {
            rust_files(&root.join("actors"), &mut files, module);
        } else {
            files.push((module.clone(), src.join(format!("{module}.rs"))));
            rust_files(&src.join(module), &mut files, module);
        }
    }
    for (module, file) in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut names = referenced(&text);
        if file.parent() == Some(src.as_path()) {
            // A top-level module's `super::x` is `crate::x`.
            names.extend(paths_after(&strip(&text), "super::"));
        }
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for name in names.into_iter().filter(|n| modules.contains(n) && *n != module) {
            graph.get_mut(&module).unwrap().entry(name).or_default().insert(shown.clone());
        }
    }
    graph
}

fn rust_files(dir: &Path, out: &mut Vec<(String, PathBuf)>, module: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out, module);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((module.to_owned(), path));
        }
    }
}

/// The first segments of the `crate::` paths in the code of `text`.
fn referenced(text: &str) -> BTreeSet<String> {
    paths_after(&strip(text), "crate::")
}

/// The first path segment after every `prefix` (also each item of a `prefix{a::b, c}` group).
fn paths_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(at) = code[from..].find(prefix) {
        let start = from + at;
        from = start + prefix.len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            continue;
        }
        if bytes.get(from) == Some(&b'{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in code[from..].char_indices() {
                match c {
                    '{' => {
                        depth += 1;
                        item_start = depth == 1;
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if depth == 1 && item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(ident(&code[from + i..]));
                        item_start = false;
                    }
                    c if !c.is_whitespace() => item_start = false,
                    _ => {}
                }
            }
        } else {
            let name = ident(&code[from..]);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// The code of `text` with comments removed and string and character literals emptied.
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(comment) = rest.strip_prefix("/*") {
            i += comment.find("*/").map_or(rest.len(), |j| j + 4);
        } else if let Some(hashes) = raw_string_start(text, i) {
            let open = 2 + hashes; // r, hashes, quote
            let close = format!("\"{}", "#".repeat(hashes));
            i += rest[open..].find(&close).map_or(rest.len(), |j| open + j + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && char_literal_len(rest).is_some() {
            i += char_literal_len(rest).unwrap();
            out.push_str("' '");
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, `br"`...: the number of `#` of a raw string starting at `i`.
fn raw_string_start(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if b[i] != b'r' || i.checked_sub(1).is_some_and(|p| b[p].is_ascii_alphanumeric() && b[p] != b'b' || b[p] == b'_') {
        return None;
    }
    let hashes = text[i + 1..].bytes().take_while(|c| *c == b'#').count();
    (b.get(i + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of a character literal at the start of `s` (`'a'`, `'\n'`, `'\''`), not a lifetime.
fn char_literal_len(s: &str) -> Option<usize> {
    let mut chars = s.char_indices().skip(1);
    let (_, c) = chars.next()?;
    let end = if c == '\\' {
        chars.find(|(_, c)| *c == '\'')?.0
    } else {
        let (j, close) = chars.next()?;
        (close == '\'').then_some(j)?
    };
    Some(end + 1)
}

/// Every cycle of `graph` (its strongly connected components of more than one module, or with a self edge),
/// each in module order.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    // Kosaraju: finish order on the graph, then components on the reversed graph.
    fn visit<'g>(g: &'g Graph, v: &'g str, seen: &mut BTreeSet<&'g str>, order: &mut Vec<&'g str>) {
        if seen.insert(v) {
            for w in g[v].keys() {
                visit(g, w, seen, order);
            }
            order.push(v);
        }
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for v in graph.keys() {
        visit(graph, v, &mut seen, &mut order);
    }
    let mut reversed: BTreeMap<&str, Vec<&str>> = graph.keys().map(|k| (k.as_str(), Vec::new())).collect();
    for (from, targets) in graph {
        for to in targets.keys() {
            reversed.get_mut(to.as_str()).unwrap().push(from);
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for v in order.into_iter().rev() {
        if assigned.contains(v) {
            continue;
        }
        let mut component = BTreeSet::new();
        let mut stack = vec![v];
        while let Some(x) = stack.pop() {
            if assigned.insert(x) {
                component.insert(x.to_owned());
                stack.extend(reversed[x].iter().copied());
            }
        }
        if component.len() > 1 || graph[v].contains_key(v) {
            out.push(component.into_iter().collect());
        }
    }
    out.sort();
    out
}

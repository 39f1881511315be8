//! The code's shape, read from the code itself, so that it stays the shape a student can follow:
//! a program's `main.rs` calls into its modules and no module reaches back into `main.rs`, and
//! no two files import each other, so that every file can be read after the ones it uses. A
//! file "imports" another when it names it in a `use` of `crate::`, `super::` or a child
//! module, or in a `crate::…` path in its code (its `#[cfg(test)]` module aside).
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace's top folder.
fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Each crate's `src` folder, with its root file (`main.rs` or `lib.rs`).
const CRATES: &[(&str, &str)] = &[
    ("client/src", "main.rs"),
    ("worker/src", "main.rs"),
    ("load_balancer/src", "main.rs"),
    ("common/src", "lib.rs"),
    ("grader/src", "lib.rs"),
    ("harness/src", "lib.rs"),
    ("bench/src", "main.rs"),
    ("src", "main.rs"),
];

/// A module's path inside its crate: `["armour", "failover"]`; the root is `[]`.
type ModulePath = Vec<String>;

/// Every `.rs` file under `src`, by module path.
fn modules(src: &Path) -> BTreeMap<ModulePath, PathBuf> {
    let mut found = BTreeMap::new();
    let mut folders = vec![src.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: ModulePath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "main" | "lib")
            ) {
                module.pop();
            }
            found.insert(module, path);
        }
    }
    found
}

/// The code of a file without its `#[cfg(test)]` module, its comments and its strings' lines
/// of prose: what the program itself uses.
fn code_of(text: &str) -> String {
    // A Windows checkout may end its lines with CRLF.
    let text = &text.replace("\r\n", "\n");
    let text = match text.find("#[cfg(test)]\n#[allow") {
        Some(at) => &text[..at],
        None => text,
    };
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a `use` tree names, expanded: `crate::a::{b, c::d}` gives `crate::a::b` and
/// `crate::a::c::d`.
fn expand(tree: &str) -> Vec<String> {
    // `a::b as c` names `a::b`.
    let mut unaliased = String::new();
    let mut words = tree.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word == "as" {
            // The alias, and whatever ends it (`,` or `}`), which the tree still needs.
            let alias = words.next().unwrap_or_default();
            unaliased.push_str(alias.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_'));
        } else {
            unaliased.push_str(word);
        }
    }
    let tree = unaliased;
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The module paths `code` names: its `use` trees, and `crate::…` paths written in its code.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        paths.extend(expand(&rest[..end]));
    }
    let bytes = code.as_bytes();
    let inline = ["crate::", "super::", "self::"]
        .iter()
        .flat_map(|start| code.match_indices(start));
    for (at, _) in inline {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let end = code[at..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(code.len(), |e| at + e);
        // `crate::a::{b, c}` in a `use` ends at its brace: read above, whole.
        if !code[at..end].ends_with("::") {
            paths.push(code[at..end].to_string());
        }
    }
    // A path a `use` named, read again where it stands, counts once.
    let mut seen = BTreeSet::new();
    paths.retain(|path| seen.insert(path.clone()));
    paths
}

/// The file a path named in module `from` resolves to: the longest prefix of it that is a
/// module of the crate. `None` for std, other crates and macros' `$crate`.
fn resolve(
    path: &str,
    from: &ModulePath,
    crate_modules: &BTreeMap<ModulePath, PathBuf>,
) -> Option<ModulePath> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest): (ModulePath, &[&str]) = match segments.first() {
        Some(&"crate") => (Vec::new(), &segments[1..]),
        Some(&"super") => {
            // `super` of a `mod.rs` or a plain file: the module's parent.
            let mut parent = from.clone();
            parent.pop();
            (parent, &segments[1..])
        }
        Some(&"self") => (from.clone(), &segments[1..]),
        Some(first) => {
            // A child module of this one, named without `self::`; else std or another crate.
            let mut child = from.clone();
            child.push((*first).to_string());
            if !crate_modules.contains_key(&child) {
                return None;
            }
            (from.clone(), &segments[..])
        }
        None => return None,
    };
    let mut best = crate_modules.contains_key(&base).then(|| base.clone());
    for segment in rest {
        base.push((*segment).to_string());
        if crate_modules.contains_key(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

/// Every file's imports of other files of its crate, by module path.
fn imports(src: &Path) -> BTreeMap<ModulePath, BTreeSet<ModulePath>> {
    let crate_modules = modules(src);
    let mut found = BTreeMap::new();
    for (module, file) in &crate_modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let named: BTreeSet<ModulePath> = named_paths(&code)
            .iter()
            .filter_map(|path| resolve(path, module, &crate_modules))
            .filter(|target| target != module)
            .collect();
        found.insert(module.clone(), named);
    }
    found
}

/// How a module is shown in a failure: its file.
fn shown(src: &str, module: &ModulePath, root: &str) -> String {
    if module.is_empty() {
        format!("{src}/{root}")
    } else {
        format!("{src}/{}.rs", module.join("/"))
    }
}

/// The modules of a binary crate that import from its `main.rs` (the crate root). A library's
/// `lib.rs` holds only module declarations and the crate's constants, so importing those is
/// no step back.
fn imports_from_main(imports: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<ModulePath> {
    imports
        .iter()
        .filter(|(module, named)| !module.is_empty() && named.contains(&Vec::new()))
        .map(|(module, _)| module.clone())
        .collect()
}

/// Every circle of imports between files, each as the files around it (a file that imports
/// another that, by any road, imports it back): none may exist, of two files or more.
fn circles(imports: &BTreeMap<ModulePath, BTreeSet<ModulePath>>) -> Vec<Vec<ModulePath>> {
    /// Depth-first from `module`, along `road`; a module met again on the road closes a circle.
    fn walk(
        module: &ModulePath,
        imports: &BTreeMap<ModulePath, BTreeSet<ModulePath>>,
        road: &mut Vec<ModulePath>,
        done: &mut BTreeSet<ModulePath>,
        found: &mut Vec<Vec<ModulePath>>,
    ) {
        if let Some(at) = road.iter().position(|m| m == module) {
            found.push(road[at..].to_vec());
            return;
        }
        if !done.insert(module.clone()) {
            return;
        }
        road.push(module.clone());
        for next in imports.get(module).into_iter().flatten() {
            walk(next, imports, road, done, found);
        }
        road.pop();
    }
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for module in imports.keys() {
        walk(module, imports, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

/// No module of a program imports from its `main.rs`.
#[test]
fn no_module_imports_from_main() {
    let mut problems = Vec::new();
    for &(src, root) in CRATES.iter().filter(|(_, root)| *root == "main.rs") {
        for module in imports_from_main(&imports(&top().join(src))) {
            problems.push(format!(
                "{} imports from {src}/{root}",
                shown(src, &module, root)
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// No files of a crate import each other, two of them or more around a circle.
#[test]
fn no_two_files_import_each_other() {
    let mut problems = Vec::new();
    let mut edges = 0;
    for &(src, root) in CRATES {
        let imports = imports(&top().join(src));
        edges += imports.values().map(BTreeSet::len).sum::<usize>();
        for circle in circles(&imports) {
            let files: Vec<String> = circle.iter().map(|m| shown(src, m, root)).collect();
            problems.push(files.join(" → "));
        }
    }
    assert!(
        edges > 100,
        "only {edges} imports found: is the reading broken?"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The reader finds what it must: grouped `use` trees, `super::`, child modules and inline
/// `crate::` paths, and ignores tests and comments.
#[test]
fn imports_are_read_as_written() {
    assert_eq!(
        expand("crate::a::{b, c::{d, e}}"),
        ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]
    );
    let code = code_of(
        "use crate::armour::{attempt::Timeouts, health};\nuse super::page;\n// use crate::x;\n\
         fn f() { crate::armour::lock(m); }\n#[cfg(test)]\nmod tests {\n    use crate::y;\n}\n",
    );
    assert_eq!(
        named_paths(&code),
        [
            "crate::armour::attempt::Timeouts",
            "crate::armour::health",
            "super::page",
            "crate::armour::lock"
        ]
    );
}

/// The check fails where it must: a circle and an import from `main.rs`, made on purpose in a
/// scratch crate, are both found.
#[test]
fn a_circle_and_an_upward_import_are_found() {
    let dir = std::env::temp_dir().join(format!("structure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("armour")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("main.rs", "mod armour;\nmod options;\nstruct Lab;\n");
    // A circle of three files, and a test module that may import anything.
    write(
        "options.rs",
        "use crate::armour::health;\r\n#[cfg(test)]\r\nmod tests {\r\n    use crate::Lab;\r\n}\r\n",
    );
    write("armour/mod.rs", "pub mod failover;\npub mod health;\n");
    write("armour/health.rs", "use super::failover::Failure;\n");
    // With Windows line ends, and an alias, as a checkout and a student may write them.
    write(
        "armour/failover.rs",
        "use crate::Lab;\r\nuse crate::options::Options as Flags;\r\n",
    );
    let found = imports(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let failover = vec!["armour".to_string(), "failover".to_string()];
    let health = vec!["armour".to_string(), "health".to_string()];
    let options = vec!["options".to_string()];
    assert_eq!(
        imports_from_main(&found),
        std::slice::from_ref(&failover),
        "{found:?}"
    );
    assert_eq!(
        circles(&found),
        [vec![failover, options, health]],
        "{found:?}"
    );
}

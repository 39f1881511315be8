//! docs/side-by-side.md stays true by itself: each row that cites lines of our code or of the
//! Python lab names a token (in backticks) that must stand in those lines. A change that moves
//! code without moving the table fails here, naming the row.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::path::{Path, PathBuf};

use lab::lab::{python_lab_files, say_skipped};

/// The workspace's top folder, where docs/ and the programs' folders are.
fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One cell's citation: line ranges and the token that must stand in them.
#[derive(Debug)]
struct Citation {
    ranges: Vec<(usize, usize)>,
    token: Option<String>,
}

/// Reads a cell such as "29–32, 75–91 `ask_for_number`": the leading line numbers and ranges,
/// then the first backticked token, cut where the table shortens it (`…`, `...`). `None` for a
/// cell that cites no lines ("(none)", "`client/src/options.rs`").
fn citation(cell: &str) -> Option<Citation> {
    let cell = cell.trim();
    let numbers_end = cell
        .find(|c: char| !(c.is_ascii_digit() || c == '–' || c == ',' || c == ' '))
        .unwrap_or(cell.len());
    let numbers = &cell[..numbers_end];
    let mut ranges = Vec::new();
    for part in numbers.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) = part.split_once('–').unwrap_or((part, part));
        ranges.push((first.trim().parse().ok()?, last.trim().parse().ok()?));
    }
    if ranges.is_empty() {
        return None;
    }
    let rest = &cell[numbers_end..];
    let token = rest.split('`').nth(1).map(|t| {
        let t = t.split('…').next().unwrap_or(t);
        let t = t.split("...").next().unwrap_or(t);
        t.replace("\\|", "|")
    });
    Some(Citation { ranges, token })
}

/// Checks one citation against `file`; returns what is wrong.
fn check(file: &Path, citation: &Citation, row: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut cited = String::new();
    for &(first, last) in &citation.ranges {
        if first == 0 || first > last || last > lines.len() {
            return Err(format!(
                "{row}\n  lines {first}–{last} are not in {} ({} lines)",
                file.display(),
                lines.len()
            ));
        }
        cited.push_str(&lines[first - 1..last].join("\n"));
        cited.push('\n');
    }
    match &citation.token {
        Some(token) if !cited.contains(token.as_str()) => Err(format!(
            "{row}\n  `{token}` is not in the cited lines of {}:\n{cited}",
            file.display()
        )),
        Some(_) => Ok(()),
        None => Err(format!("{row}\n  cites lines but names no token to check")),
    }
}

/// Every row of every table: the Python lines hold the Python token, our lines hold ours.
#[test]
fn side_by_side_cites_the_right_lines() {
    let doc = std::fs::read_to_string(top().join("docs/side-by-side.md")).unwrap();
    let python = python_lab_files()
        .map_err(|why| say_skipped("side_by_side_cites_the_right_lines (Python lines)", &why))
        .ok();
    let mut problems = Vec::new();
    let mut files: Option<(String, PathBuf)> = None;
    let mut rows = 0;
    for line in doc.lines() {
        // "## client.py → `client/src/main.rs`" starts a table.
        if let Some(heading) = line.strip_prefix("## ") {
            files = heading.split_once(" → ").map(|(py, ours)| {
                (
                    py.trim().to_string(),
                    top().join(ours.trim().trim_matches('`')),
                )
            });
            continue;
        }
        let Some((py_file, our_file)) = &files else {
            continue;
        };
        let cells: Vec<&str> = line.split(" | ").collect();
        if !line.starts_with("| ") || cells.len() < 3 || line.starts_with("| ---") {
            continue;
        }
        let (py_cell, our_cell) = (cells[0].trim_start_matches("| "), cells[1]);
        if py_cell.ends_with(".py") {
            continue; // the header row
        }
        rows += 1;
        if let (Some(dir), Some(cited)) = (&python, citation(py_cell)) {
            if let Err(e) = check(&dir.join(py_file), &cited, line) {
                problems.push(e);
            }
        }
        if let Some(cited) = citation(our_cell) {
            if let Err(e) = check(our_file, &cited, line) {
                problems.push(e);
            }
        }
    }
    assert!(
        rows > 50,
        "only {rows} rows found: has the table's layout changed?"
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

/// The parser reads the forms the table uses.
#[test]
fn citations_are_read_as_written() {
    let c = citation("29–32, 75–91 `ask_for_number` and more").unwrap();
    assert_eq!(c.ranges, [(29, 32), (75, 91)]);
    assert_eq!(c.token.as_deref(), Some("ask_for_number"));
    let c = citation("19 `print(f\"Factorial received: …\")`").unwrap();
    assert_eq!(c.token.as_deref(), Some("print(f\"Factorial received: "));
    assert!(citation("(none)").is_none());
    assert!(citation("`client/src/options.rs` (`Options`)").is_none());
}

/// Every `NAME.py line N` and `NAME.py lines N-M` in our code and docs points into the Python
/// file and starts on a line that is not blank: a wrong number sends a student reading side by
/// side to the wrong line (the checker once cited load_balancer.py line 109, of 86).
#[test]
fn every_cited_python_line_exists() {
    let python = match python_lab_files() {
        Ok(dir) => dir,
        Err(why) => return say_skipped("every_cited_python_line_exists", &why),
    };
    let mut texts = vec![top().join("README.md")];
    for folder in [
        "src",
        "client",
        "worker",
        "load_balancer",
        "common",
        "bench",
        "docs",
    ] {
        texts.extend(files_under(&top().join(folder)));
    }
    let mut problems = Vec::new();
    let mut cited = 0;
    for path in &texts {
        let text = std::fs::read_to_string(path).unwrap();
        for file in ["client.py", "load_balancer.py", "worker_server.py"] {
            let lines: Vec<String> = std::fs::read_to_string(python.join(file))
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            for (first, last) in citations(&text, file) {
                cited += 1;
                let blank = first == 0
                    || lines[first - 1..]
                        .first()
                        .is_none_or(|l| l.trim().is_empty());
                if blank || last < first || last > lines.len() {
                    let place = path.strip_prefix(top()).unwrap().display();
                    problems.push(format!("{place}: {file} lines {first}-{last}"));
                }
            }
        }
    }
    assert!(
        cited > 30,
        "only {cited} citations found: is the parsing broken?"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The `.rs` and `.md` files under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if path.extension().is_some_and(|e| e == "rs" || e == "md") {
            found.push(path);
        }
    }
    found
}

/// The line ranges `text` cites in `file`: `file line N` as (N, N), `file lines N-M` (or
/// `N–M`) as (N, M), the name in backticks or not; only the first range of a list such as
/// `lines 9-13, 25`.
fn citations(text: &str, file: &str) -> Vec<(usize, usize)> {
    let plain = format!("{file} line");
    let quoted = format!("{file}` line");
    let found = text.match_indices(&plain).map(|(at, _)| at + plain.len());
    let found_quoted = text.match_indices(&quoted).map(|(at, _)| at + quoted.len());
    found
        .chain(found_quoted)
        .filter_map(|after| {
            let rest = text[after..].trim_start_matches('s');
            let rest = rest.strip_prefix(' ')?;
            let number = |s: &str| -> Option<(usize, usize)> {
                let digits = s.chars().take_while(char::is_ascii_digit).count();
                Some((s[..digits].parse().ok()?, digits))
            };
            let (first, used) = number(rest)?;
            let after = &rest[used..];
            let last = after
                .strip_prefix('-')
                .or_else(|| after.strip_prefix('–'))
                .and_then(number)
                .map_or(first, |(last, _)| last);
            Some((first, last))
        })
        .collect()
}

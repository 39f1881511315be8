//! docs/side-by-side.md stays true by itself: each row that cites lines of our code or of the
//! Python lab names a token (in backticks) that must stand in those lines. A change that moves
//! code without moving the table fails here, naming the row.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::path::{Path, PathBuf};

use harness::lab::{python_lab_files, say_skipped};

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
/// side to the wrong line (the checker once cited line 109 of load_balancer.py, which has 86).
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
        "grader",
        "harness",
        "tests",
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
                let blank = first == 0 || lines.get(first - 1).is_none_or(|l| l.trim().is_empty());
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

/// A function of ours, by its file and the start of the line that declares it (enough to tell
/// it from any other in that file).
type Function = (&'static str, &'static str);

/// What runs, start-up included, for one request with the default flags, down to std and
/// num-bigint: kept by hand; the test checks that each function exists, and recounts them.
struct ReadingPath {
    /// The program's `main.rs`.
    main: &'static str,
    /// The lesson path: what `main.rs` calls outside the `armour/` and `extras/` folders, and
    /// what those call there in turn. A student reads these beside the Python file, and skips
    /// each call marked `// Ours:`.
    lesson: &'static [Function],
    /// Everything else that runs, in groups that programs share: the armour and the extras, and
    /// the lesson's functions they call in turn.
    beyond: &'static [&'static [Function]],
}

/// Reading the flags.
const FLAGS: &[Function] = &[
    ("common/src/extras/cli.rs", "pub fn parse_these_or_exit<"),
    ("common/src/extras/cli.rs", "    pub fn new("),
    ("common/src/extras/cli.rs", "    pub fn next_arg("),
];

/// A deadline for a read.
const DEADLINE: &[Function] = &[
    ("common/src/armour/deadline.rs", "    pub fn after("),
    ("common/src/armour/deadline.rs", "    pub fn timeout("),
    (
        "common/src/armour/deadline.rs",
        "    fn read(&mut self, buf",
    ),
];

/// A request checked against the grammar: the first 1024 bytes, and the digits and spaces of
/// every script.
const PARSING: &[Function] = &[
    ("common/src/protocol.rs", "fn within_the_first_bytes("),
    ("common/src/armour/digits.rs", "pub fn is_space("),
    ("common/src/armour/digits.rs", "pub fn to_ascii_digits("),
    ("common/src/armour/digits.rs", "pub fn decimal_value("),
];

/// n! for a small n, as the worker computes it and the answer check compares it.
const SMALL_FACTORIAL: &[Function] = &[
    ("common/src/factorial.rs", "pub fn factorial_digits("),
    ("common/src/factorial.rs", "pub fn factorial_digits_unless("),
    (
        "common/src/factorial.rs",
        "pub fn trailing_zeros_of_factorial(",
    ),
    ("common/src/factorial.rs", "fn twos_in_factorial("),
    ("common/src/factorial.rs", "fn estimated_digits("),
    ("common/src/factorial.rs", "fn odd_part("),
    ("common/src/factorial.rs", "fn odd_ranges("),
    ("common/src/factorial.rs", "fn odd_product("),
];

/// Reading an answer and checking it, as the client and the load balancer do.
const ANSWER: &[Function] = &[
    ("common/src/armour/deadline.rs", "    pub fn earlier("),
    ("common/src/protocol.rs", "pub fn send_request("),
    ("common/src/armour/answers.rs", "pub fn read_answer_for("),
    ("common/src/armour/answers.rs", "fn read_more("),
    (
        "common/src/armour/answers.rs",
        "    fn is_complete(&mut self",
    ),
    ("common/src/armour/answers.rs", "pub fn answer_limit("),
    ("common/src/armour/answers.rs", "pub fn trim_answer("),
    ("common/src/protocol.rs", "pub fn is_error_answer("),
    ("common/src/armour/answers.rs", "pub fn check_answer("),
    ("common/src/factorial.rs", "pub fn digit_count_range("),
];

/// A server's start and one connection served: the log thread, the cap, the accept loop,
/// the request read within its deadline, the answer and the gentle close.
const SERVING: &[Function] = &[
    (
        "common/src/armour/error.rs",
        "    fn context(self, doing: impl FnOnce() -> String) -> Result<T, Error> {",
    ),
    ("common/src/armour/log.rs", "fn start("),
    ("common/src/armour/log.rs", "fn write_lines("),
    ("common/src/armour/limit.rs", "    pub fn new("),
    (
        "common/src/armour/limit.rs",
        "fn hold_refused_until_closed(",
    ),
    ("common/src/armour/limit.rs", "    pub fn try_admit("),
    ("common/src/armour/limit.rs", "    fn admit("),
    ("common/src/armour/limit.rs", "    pub fn request_received("),
    ("common/src/armour/limit.rs", "    fn drop("),
    ("common/src/armour/stop_signal.rs", "pub fn catch("),
    ("common/src/armour/stop_signal.rs", "    pub fn catch("),
    ("common/src/armour/stop_signal.rs", "pub fn requested("),
    ("common/src/armour/accept.rs", "pub fn stop_gently("),
    ("common/src/armour/accept.rs", "    pub fn new("),
    ("common/src/armour/accept.rs", "    pub fn spawn("),
    ("common/src/armour/connection.rs", "    pub fn new("),
    ("common/src/armour/accept.rs", "    pub fn accept("),
    ("common/src/armour/accept.rs", "    pub fn admit("),
    ("common/src/armour/accept.rs", "    fn succeeded("),
    ("common/src/armour/connection.rs", "    pub fn read_number("),
    (
        "common/src/armour/deadline.rs",
        "pub fn read_request_within(",
    ),
    (
        "common/src/armour/deadline.rs",
        "    fn read(&mut self, bytes",
    ),
    ("common/src/protocol.rs", "pub fn read_request("),
    (
        "common/src/armour/deadline.rs",
        "pub fn send_answer_within(",
    ),
    ("common/src/armour/deadline.rs", "    fn write(&mut self"),
    ("common/src/protocol.rs", "pub fn send_answer("),
    ("common/src/armour/closing.rs", "pub fn drain_before_close("),
    ("common/src/armour/closing.rs", "pub fn still_open("),
];

/// `client 12`.
const CLIENT: ReadingPath = ReadingPath {
    main: "client/src/main.rs",
    lesson: &[("client/src/options.rs", "pub fn parse_args(")],
    beyond: &[
        &[
            ("client/src/armour/answer.rs", "pub fn not_blank("),
            ("client/src/armour/answer.rs", "pub fn ask("),
            ("client/src/armour/answer.rs", "fn ask_once("),
            ("common/src/extras/cli.rs", "pub fn parse_or_exit<"),
            (
                "common/src/armour/error.rs",
                "    fn context(self, doing: impl FnOnce() -> String) -> Result<T, Error> {",
            ),
        ],
        FLAGS,
        DEADLINE,
        ANSWER,
        SMALL_FACTORIAL,
        PARSING,
        &[
            ("client/src/armour/answer.rs", "fn receive("),
            ("client/src/armour/answer.rs", "fn is_timeout<"),
            ("common/src/protocol.rs", "pub fn parse_request("),
        ],
    ],
};

/// A worker serving one request with `worker`'s defaults.
const WORKER: ReadingPath = ReadingPath {
    main: "worker/src/main.rs",
    lesson: &[
        ("worker/src/options.rs", "pub fn parse_args("),
        ("common/src/server.rs", "pub fn bind("),
        ("common/src/server.rs", "pub fn local_port("),
        ("common/src/registry.rs", "pub fn register("),
        ("common/src/server.rs", "pub fn serve("),
    ],
    beyond: &[
        &[
            ("common/src/extras/cli.rs", "pub fn parse_or_exit<"),
            ("common/src/extras/cli.rs", "pub fn exit_code("),
            (
                "common/src/armour/error.rs",
                "    fn context(self, doing: impl FnOnce() -> String) -> Result<T, Error> {",
            ),
            ("common/src/armour/connection.rs", "    pub fn addr("),
            ("common/src/extras/display.rs", "pub fn python_addr("),
            ("common/src/armour/connection.rs", "    pub fn read_number("),
            ("worker/src/armour/compute.rs", "pub fn factorial_for("),
            ("common/src/armour/connection.rs", "    pub fn answer("),
            ("common/src/extras/display.rs", "pub fn shorten("),
            ("common/src/armour/log.rs", "pub fn say("),
        ],
        FLAGS,
        DEADLINE,
        SERVING,
        SMALL_FACTORIAL,
        PARSING,
        &[
            ("worker/src/extras/advertise.rs", "pub fn advertised_host("),
            ("common/src/registry.rs", "fn append_whole_or_not_at_all("),
            ("common/src/registry.rs", "fn look_at("),
            (
                "common/src/armour/registry_encoding.rs",
                "    pub(crate) fn split(",
            ),
            (
                "common/src/armour/registry_encoding.rs",
                "    pub(crate) fn ends_a_line(",
            ),
            (
                "common/src/armour/registry_encoding.rs",
                "    pub(crate) fn encode_line(",
            ),
            ("common/src/registry.rs", "    pub fn registry_line("),
            ("common/src/protocol.rs", "pub fn parse_request("),
        ],
    ],
};

/// A load balancer serving one request with its defaults, round-robin to a healthy worker.
const LOAD_BALANCER: ReadingPath = ReadingPath {
    main: "load_balancer/src/main.rs",
    lesson: &[
        ("load_balancer/src/strategy.rs", "pub fn order_to_try("),
        ("load_balancer/src/strategy.rs", "    pub fn order("),
        ("load_balancer/src/options.rs", "pub fn parse_args("),
        ("common/src/server.rs", "pub fn bind("),
        ("common/src/server.rs", "pub fn local_port("),
        ("load_balancer/src/shared.rs", "    pub fn new("),
        ("common/src/server.rs", "pub fn serve("),
    ],
    beyond: &[
        &[
            ("common/src/protocol.rs", "pub fn parse_request("),
            ("common/src/extras/cli.rs", "pub fn parse_or_exit<"),
            ("common/src/extras/cli.rs", "pub fn exit_code("),
            (
                "load_balancer/src/armour/beyond_loopback.rs",
                "pub fn warn_if_reachable(",
            ),
            ("common/src/armour/log.rs", "pub fn say("),
            ("common/src/armour/connection.rs", "    pub fn addr("),
            ("common/src/extras/display.rs", "pub fn python_addr("),
            ("common/src/armour/connection.rs", "    pub fn read_number("),
            ("common/src/extras/display.rs", "pub fn request_for_log("),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "    pub fn read_workers(",
            ),
            ("load_balancer/src/armour/failover.rs", "pub fn forward("),
            ("common/src/extras/display.rs", "pub fn shorten("),
        ],
        FLAGS,
        DEADLINE,
        SERVING,
        ANSWER,
        SMALL_FACTORIAL,
        PARSING,
        &[
            ("common/src/armour/connection.rs", "    pub fn answer("),
            ("load_balancer/src/armour/health.rs", "    pub fn new("),
            (
                "load_balancer/src/armour/health.rs",
                "    pub fn start_checking(",
            ),
            (
                "load_balancer/src/armour/health.rs",
                "    fn check_down_workers(",
            ),
            (
                "load_balancer/src/armour/health.rs",
                "    fn due_for_a_check(",
            ),
            ("load_balancer/src/armour/health.rs", "    pub fn split("),
            (
                "load_balancer/src/armour/health.rs",
                "    pub fn start_request(",
            ),
            ("load_balancer/src/armour/health.rs", "    fn drop("),
            ("load_balancer/src/armour/health.rs", "    pub fn answered("),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "    pub fn new(",
            ),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "    fn distinct_workers(",
            ),
            (
                "common/src/armour/registry_reading.rs",
                "pub fn distinct_workers(",
            ),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "    fn is_own_address(",
            ),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "    fn report_skipped_lines(",
            ),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "    fn report_count(",
            ),
            ("common/src/armour/log.rs", "    pub fn forget("),
            (
                "common/src/armour/registry_reading.rs",
                "pub fn read_registry_settled(",
            ),
            (
                "common/src/armour/registry_reading.rs",
                "fn read_settled_once(",
            ),
            ("common/src/armour/registry_reading.rs", "fn read_limited("),
            (
                "common/src/armour/registry_encoding.rs",
                "pub(crate) fn unterminated_tail(",
            ),
            (
                "common/src/armour/registry_encoding.rs",
                "pub(crate) fn text_of(",
            ),
            (
                "common/src/armour/registry_encoding.rs",
                "    pub(crate) fn split(",
            ),
            ("common/src/registry.rs", "pub fn parse_registry("),
            ("common/src/registry.rs", "fn parse_line("),
            ("common/src/registry.rs", "fn parse_port("),
            ("common/src/registry.rs", "    fn fmt("),
            ("common/src/extras/display.rs", "pub fn text_for_log("),
            ("common/src/extras/display.rs", "pub fn excerpt("),
            ("load_balancer/src/armour/failover.rs", "fn ask_in_order("),
            ("load_balancer/src/armour/failover.rs", "fn patience("),
            (
                "load_balancer/src/armour/failover.rs",
                "    fn next_to_try(",
            ),
            ("load_balancer/src/armour/failover.rs", "    fn send("),
            ("load_balancer/src/armour/failover.rs", "fn record("),
            ("load_balancer/src/armour/failover.rs", "    fn asked("),
            ("load_balancer/src/armour/failover.rs", "    fn ended("),
            ("load_balancer/src/armour/failover.rs", "    fn relayed("),
            (
                "load_balancer/src/extras/status/mod.rs",
                "pub fn serve_if_asked(",
            ),
            (
                "load_balancer/src/armour/beyond_loopback.rs",
                "fn on_loopback(",
            ),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "fn is_plain_ipv4(",
            ),
            (
                "load_balancer/src/armour/registry_reader.rs",
                "fn unmapped(",
            ),
            ("common/src/armour/mod.rs", "pub fn lock<"),
            ("load_balancer/src/armour/attempt.rs", "pub fn send("),
            ("load_balancer/src/armour/attempt.rs", "fn connect("),
            (
                "load_balancer/src/armour/attempt.rs",
                "    pub fn answer_within(",
            ),
            ("load_balancer/src/armour/attempt.rs", "    fn judge("),
        ],
    ],
};

/// The code lines of `text`: not blank, and not only a comment (doc comments included), the
/// one unit every count here is in.
fn code_lines(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with('#'))
        .count()
}

/// The code lines of a function: from the line that declares it to its closing brace.
/// The first such line whose declaration has a body counts (a trait's declaration has none).
fn function_lines(&(file, declared): &Function) -> usize {
    let text = std::fs::read_to_string(top().join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let code = |line: &str| line.split("//").next().unwrap_or("").to_string();
    for (start, _) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with(declared))
    {
        // The body opens at the first `{` after the declaration, unless a `;` ends it first.
        let mut depth = 0i32;
        let mut opened = false;
        for (end, line) in lines.iter().enumerate().skip(start) {
            let line = code(line);
            if !opened && line.contains(';') && !line.contains('{') {
                break;
            }
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            opened |= line.contains('{');
            if opened && depth <= 0 {
                return code_lines(&lines[start..=end].join("\n"));
            }
        }
    }
    panic!("no function declared by {declared:?} in {file}");
}

/// Whether a file is armour or an extra: in a folder whose name says so.
fn is_beyond_the_lesson(file: &str) -> bool {
    file.contains("/armour/") || file.contains("/extras/")
}

/// One program's counts: the lesson path's code lines and the files it reads in, and the code
/// lines of everything that runs for one request.
fn counts(path: &ReadingPath) -> (usize, usize, usize) {
    let main = code_lines(&std::fs::read_to_string(top().join(path.main)).unwrap());
    let mut counted: Vec<&Function> = Vec::new();
    let mut count = |functions: &mut dyn Iterator<Item = &'static Function>| -> usize {
        let mut lines = 0;
        for function in functions {
            // A function that two groups name runs, and is counted, once.
            if !counted.contains(&function) {
                counted.push(function);
                lines += function_lines(function);
            }
        }
        lines
    };
    let lesson = count(&mut path.lesson.iter());
    let beyond = count(&mut path.beyond.iter().flat_map(|group| group.iter()));
    let mut files: Vec<&str> = path.lesson.iter().map(|(file, _)| *file).collect();
    files.push(path.main);
    files.sort_unstable();
    files.dedup();
    (main + lesson, files.len(), main + lesson + beyond)
}

/// The Python file's code lines, in the same unit: not blank, not only a comment.
fn python_lines(dir: &Path, file: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

const PROGRAMS: [(&str, &ReadingPath, &str); 3] = [
    ("client", &CLIENT, "client.py"),
    ("worker", &WORKER, "worker_server.py"),
    ("load balancer", &LOAD_BALANCER, "load_balancer.py"),
];

/// The lesson path of each program stays outside the armour and the extras, and reads in at
/// most six files: a student following one request beside the Python opens no more.
#[test]
fn the_lesson_path_is_short_and_outside_the_armour() {
    for (program, path, _) in PROGRAMS {
        for (file, declared) in path.lesson {
            assert!(
                !is_beyond_the_lesson(file),
                "{program}: {file} ({declared}) is armour or an extra, not the lesson"
            );
        }
        let (_, files, _) = counts(path);
        assert!(
            files <= 6,
            "{program}: the lesson path reads in {files} files"
        );
    }
}

/// docs/side-by-side.md's table of reading-path lengths is what this test counts, so it cannot
/// drift from the code.
#[test]
fn the_reading_path_counts_are_recounted() {
    let python = match python_lab_files() {
        Ok(dir) => dir,
        Err(why) => return say_skipped("the_reading_path_counts_are_recounted", &why),
    };
    let doc = std::fs::read_to_string(top().join("docs/side-by-side.md")).unwrap();
    let mut problems = Vec::new();
    for (program, path, python_file) in PROGRAMS {
        let main = code_lines(&std::fs::read_to_string(top().join(path.main)).unwrap());
        let (lesson, files, everything) = counts(path);
        let python = python_lines(&python, python_file);
        let row =
            format!("| {program} | {main} | {lesson} in {files} files | {everything} | {python} |");
        if !doc.lines().any(|line| line == row) {
            problems.push(row);
        }
    }
    assert!(
        problems.is_empty(),
        "docs/side-by-side.md should have these rows:\n{}",
        problems.join("\n")
    );
}

//! README.md's captured transcripts stay true, and those of the pages it sends its readers to
//! (docs/instructors.md, docs/running-by-hand.md, docs/lab-check.md): each ```text block is what
//! the programs print when the block's commands run again here. A program whose words change
//! without the page changing with them fails here, naming the line. The numbers the OS chooses
//! (ports, the scratch folder's name) and a measured time are masked on both sides; a block that
//! shows `...` where lines were left out matches the lines it does show, in order.
//! `every_transcript_in_readme_md_is_checked_here` makes sure no block goes unchecked, and
//! `readme_md_is_a_front_page` that README stays short.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;

use harness::lab::{Finished, Lab, PATIENCE, Server, python_lab_dir, say_skipped};
use harness::process::{Running, program_path};
use support::card_excerpt_matches;

/// README.md, as a reader sees it.
const README: &str = include_str!("../README.md");

/// The pages whose transcripts are checked here, by name: README and the pages its
/// transcripts moved to, each for its readers.
const PAGES: [(&str, &str); 4] = [
    ("README.md", README),
    (
        "docs/instructors.md",
        include_str!("../docs/instructors.md"),
    ),
    (
        "docs/running-by-hand.md",
        include_str!("../docs/running-by-hand.md"),
    ),
    ("docs/lab-check.md", include_str!("../docs/lab-check.md")),
];

/// The most lines README may have: it is a front page, and the rest is in docs/ (issue 25).
const README_MOST_LINES: usize = 150;

/// A line each transcript holds and no other does: how each test below finds its block.
/// README.md: the demo.
const DEMO: &str = "Done: 3 answers from 3 workers; stopping them all.";
/// docs/instructors.md: the demo with `--fault`.
const FAULT_DEMO: &str = "Stopping worker 2 (as Ctrl-C would) ...";
/// docs/lab-check.md: the Python worker's report card.
const CARD: &str = "lab check: a worker, `python3 ";
/// docs/running-by-hand.md: terminal 5, the stopped and the frozen worker, TIME_WAIT, and
/// the two PowerShell windows.
const CLIENT_SESSION: &str = "$ client";
const STOPPED_WORKER: &str = "Received request for factorial of 6";
const FROZEN_WORKER: &str = "Received request for factorial of 5";
const TIME_WAIT: &str = "$ load_balancer --port 47200; echo \"exit code $?\"";
const POWERSHELL_CLIENT: &str = r"PS C:\lab> .\client.exe";
const POWERSHELL_LOAD_BALANCER: &str = r"PS C:\lab> .\load_balancer.exe";

/// The line of a transcript that stands for lines left out.
const LEFT_OUT: &str = "...";

/// The prompt of our client (and client.py), which a typed number follows on a terminal.
const PROMPT: &str = "Enter an integer to calculate its factorial: ";

/// Each ```text block of the [`PAGES`], as its lines.
fn transcripts() -> Vec<Vec<&'static str>> {
    let mut blocks = Vec::new();
    for (_, page) in PAGES {
        let mut block: Option<Vec<&str>> = None;
        for line in page.lines() {
            match (&mut block, line.starts_with("```")) {
                (None, true) if line == "```text" => block = Some(Vec::new()),
                (Some(_), true) => blocks.extend(block.take()),
                (Some(lines), false) => lines.push(line),
                _ => {}
            }
        }
    }
    blocks
}

/// The one transcript with a line that starts with `key`.
fn transcript(key: &str) -> Vec<&'static str> {
    let mut found = transcripts()
        .into_iter()
        .filter(|block| block.iter().any(|l| l.starts_with(key)));
    let block = found
        .next()
        .unwrap_or_else(|| panic!("no transcript holds {key:?}"));
    assert!(found.next().is_none(), "two transcripts hold {key:?}");
    block
}

/// After each of these, the digits that follow are the OS's choice or a measured time.
const MASKED_AFTER: [&str; 6] = [
    "('127.0.0.1', ",
    "127.0.0.1:",
    "on port ",
    "--port ",
    "answered in ",
    "no answer in ",
];

/// `line` with the numbers after [`MASKED_AFTER`] replaced by `#`, and the demo's scratch
/// folder, which the system's temp folder holds, by `#` too.
fn masked(line: &str) -> String {
    for registry in [
        "Registry file: ",
        "[load_balancer] Reading the workers from ",
        "Reading the workers from ",
    ] {
        // A Linux path, or a Windows one (`C:\lab\worker_ports.txt`).
        let path = line.strip_prefix(registry).unwrap_or_default();
        if path.ends_with("/worker_ports.txt") || path.ends_with("\\worker_ports.txt") {
            return format!("{registry}#/worker_ports.txt");
        }
    }
    let mut line = line.to_string();
    for marker in MASKED_AFTER {
        let mut from = 0;
        while let Some(at) = line[from..].find(marker) {
            let start = from + at + marker.len();
            let digits = line[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .count();
            line.replace_range(start..start + digits, "#");
            from = start + 1;
        }
    }
    line
}

/// Every line masked.
fn all_masked<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    lines.iter().map(|l| masked(l.as_ref())).collect()
}

/// The lines of each process of the demo, by its tag (`worker 1`; "" for the demo's own):
/// the processes print at once, so only each one's own lines come in an order of their own.
fn by_tag(lines: &[String]) -> BTreeMap<&str, Vec<&str>> {
    let mut tagged: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in lines {
        let tag = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
            .map_or("", |(tag, _)| tag);
        tagged.entry(tag).or_default().push(line);
    }
    tagged
}

/// Whether `part` is found in `whole` in order, other lines between allowed.
fn in_order(part: &[&str], whole: &[&str]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|line| rest.any(|l| l == line))
}

/// Whether each run of `shown`'s lines between [`LEFT_OUT`] lines stands in `printed` as it
/// is, line after line, each run after the one before.
fn shown_in(shown: &[String], printed: &[String]) -> bool {
    let mut from = 0;
    for run in shown.split(|l| l == LEFT_OUT) {
        let found = (from..=printed.len().saturating_sub(run.len()))
            .find(|&at| printed[at..].starts_with(run));
        match found {
            Some(at) => from = at + run.len(),
            None => return false,
        }
    }
    true
}

/// The demo's stdout, run with `args`, as `cargo run --release` runs it but in the tests'
/// profile: its build line names `--profile=dev` where README's names `--release`.
fn demo(args: &[&str]) -> Vec<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).replace("--profile=dev", "--release");
    assert!(output.status.success(), "{stdout}");
    stdout.lines().map(String::from).collect()
}

/// README's demo transcript is the demo's output, every line of every process, in each
/// process's order.
#[test]
fn the_demo_transcript_is_what_the_demo_prints() {
    let mut shown = all_masked(&transcript(DEMO));
    // Run without cargo (the Windows tests under Wine), the demo has nothing to build.
    if std::env::var_os("CARGO").is_none() {
        shown.retain(|line| !line.starts_with("Building the programs: "));
    }
    let printed = all_masked(&demo(&[]));
    assert_eq!(by_tag(&shown), by_tag(&printed), "{printed:#?}");
}

/// docs/instructors.md's excerpt of `--fault` stands in its output, each process's lines in its order.
#[test]
fn the_fault_transcript_is_what_the_demo_prints_with_fault() {
    let shown = transcript(FAULT_DEMO);
    let shown: Vec<String> = all_masked(&shown)
        .into_iter()
        .filter(|l| l != LEFT_OUT)
        .collect();
    let printed = all_masked(&demo(&["--fault"]));
    let printed = by_tag(&printed);
    for (tag, lines) in by_tag(&shown) {
        let empty = Vec::new();
        let got = printed.get(tag).unwrap_or(&empty);
        assert!(in_order(&lines, got), "{tag}: {lines:#?}\nnot in\n{got:#?}");
    }
}

/// Our lab as docs/running-by-hand.md runs it by hand, three workers and the load balancer, but on a free port.
fn lab_by_hand(name: &str, workers: usize) -> (Lab, Vec<Server>, Server) {
    let lab = Lab::new(name).unwrap();
    let workers = lab.start_workers(workers, &[]).unwrap();
    let load_balancer = lab.start_load_balancer(&[]).unwrap();
    (lab, workers, load_balancer)
}

/// A line of docs/running-by-hand.md's shell session, run by `sh` in `lab`'s folder with our programs on PATH
/// and its two outputs in one, as on a terminal. `client` is given `--port` first, for the
/// load balancer's free port; `typed` is typed at a prompt.
fn run_in_shell(lab: &Lab, port: u16, line: &str, typed: &str) -> Finished {
    let programs = program_path("client").unwrap();
    let mut path = vec![programs.parent().unwrap().to_path_buf()];
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    let script =
        format!(r#"client() {{ command client --port {port} "$@"; }}; {{ {line} ; }} 2>&1"#);
    let mut command = Command::new("sh");
    command
        .args(["-c", &script])
        .current_dir(lab.dir())
        .env("PATH", std::env::join_paths(path).unwrap());
    lab.run_to_end(line, command, Some(typed)).unwrap()
}

/// docs/running-by-hand.md's session in terminal 5: each `$` line run again prints the lines that follow it.
/// (A terminal shows the number typed at the prompt, and the newline after it; a pipe does
/// not, so the prompt's line and the next are one here.)
#[test]
fn the_client_session_is_what_the_client_prints() {
    if cfg!(windows) {
        return say_skipped(
            "the_client_session_is_what_the_client_prints",
            "docs/running-by-hand.md's session in terminal 5 is an sh session (its PowerShell twin is \
             the_powershell_client_session_is_what_the_client_prints)",
        );
    }
    let (lab, _workers, load_balancer) = lab_by_hand("readme-client", 3);
    let session = transcript(CLIENT_SESSION);
    let mut commands = Vec::new();
    for line in &session {
        match line.strip_prefix("$ ") {
            Some(command) => commands.push((command, Vec::new())),
            None => commands.last_mut().unwrap().1.push(*line),
        }
    }
    for (command, shown) in commands {
        let mut typed = String::new();
        let mut expected: Vec<String> = Vec::new();
        for line in shown {
            match expected.last_mut() {
                Some(prompt) if prompt == PROMPT => prompt.push_str(line),
                _ => match line.strip_prefix(PROMPT) {
                    Some(number) => {
                        typed = format!("{number}\n");
                        expected.push(PROMPT.to_string());
                    }
                    None => expected.push(line.to_string()),
                },
            }
        }
        let finished = run_in_shell(&lab, load_balancer.port, command, &typed);
        assert_eq!(finished.stdout, expected, "$ {command}: {finished:?}");
    }
}

/// What a load balancer printed so far, masked.
fn printed_by(process: &mut Running) -> Vec<String> {
    all_masked(&process.printed())
}

/// The transcript `key` (ports masked) is among the lines `process` printed.
fn assert_printed(process: &mut Running, key: &str) {
    let shown = all_masked(&transcript(key));
    let printed = printed_by(process);
    assert!(
        shown_in(&shown, &printed),
        "{shown:#?}\nnot in\n{printed:#?}"
    );
}

/// A lab at work, as docs/running-by-hand.md's excerpts find it: one request for each of the two workers, so
/// the load balancer has read the registry (and said how many workers it found) and the next
/// turn is the first worker's again.
fn warm_up(lab: &Lab, load_balancer: &mut Server) {
    for n in ["1", "2"] {
        let finished = lab.run_client(load_balancer.port, &[n], None).unwrap();
        assert!(finished.status.success(), "{finished:?}");
        load_balancer
            .process
            .wait_for("Response sent to client: ", PATIENCE)
            .unwrap();
    }
}

/// docs/running-by-hand.md's stopped worker: with the first worker stopped (as Ctrl-C does),
/// the request for 6, whose turn is that worker's, shows the load balancer's lines the page
/// shows, in a run.
#[test]
fn the_stopped_worker_transcript_is_what_the_load_balancer_prints() {
    let (lab, mut workers, mut load_balancer) = lab_by_hand("readme-stopped", 2);
    warm_up(&lab, &mut load_balancer);
    workers[0].process.interrupt().unwrap();
    workers[0].process.wait_for_exit(PATIENCE).unwrap();
    let finished = lab.run_client(load_balancer.port, &["6"], None).unwrap();
    assert!(finished.status.success(), "{finished:?}");
    load_balancer
        .process
        .wait_for("Response sent to client: ", PATIENCE)
        .unwrap();
    assert_printed(&mut load_balancer.process, STOPPED_WORKER);
}

/// docs/running-by-hand.md's frozen worker: with the first worker frozen (as Ctrl-Z does), the
/// request for 5, whose turn is that worker's, shows the lines the page shows, the unanswered health check
/// included; after `kill -CONT` (`fg`), the back-up line too.
#[test]
fn the_frozen_worker_transcript_is_what_the_load_balancer_prints() {
    let (lab, mut workers, mut load_balancer) = lab_by_hand("readme-frozen", 2);
    warm_up(&lab, &mut load_balancer);
    workers[0].process.signal("STOP").unwrap();
    let finished = lab.run_client(load_balancer.port, &["5"], None).unwrap();
    assert!(finished.status.success(), "{finished:?}");
    load_balancer
        .process
        .wait_for("marked down: no answer to a health check", PATIENCE)
        .unwrap();
    workers[0].process.signal("CONT").unwrap();
    load_balancer
        .process
        .wait_for(" is back up", PATIENCE)
        .unwrap();
    assert_printed(&mut load_balancer.process, FROZEN_WORKER);
}

/// docs/running-by-hand.md's TIME_WAIT message: after a Python server closed a connection on a
/// port, our load balancer started there says what the page shows, and exits 1.
#[test]
fn the_time_wait_transcript_is_what_the_load_balancer_prints() {
    if harness::lab::python().is_none() {
        return say_skipped(
            "the_time_wait_transcript_is_what_the_load_balancer_prints",
            "Python 3 is not installed (python3, python or py)",
        );
    }
    if cfg!(windows) {
        return say_skipped(
            "the_time_wait_transcript_is_what_the_load_balancer_prints",
            "the page's line is an sh line (`echo \"exit code $?\"`)",
        );
    }
    let lab = Lab::new("readme-time-wait").unwrap();
    let port = harness::lab::port_in_time_wait(&lab).unwrap();

    let session = transcript(TIME_WAIT);
    let line = session[0].strip_prefix("$ ").unwrap();
    let line = line.replace("--port 47200", &format!("--port {port}"));
    let finished = run_in_shell(&lab, port, &line, "");
    assert_eq!(
        all_masked(&finished.stdout),
        all_masked(&session[1..]),
        "{finished:?}"
    );
}

/// docs/lab-check.md's report card of the Python worker: its rows and its last line are what
/// `lab check` prints for that worker, and so is every line of evidence it shows, times, ports
/// and the Python lab's folder aside (`support::card_excerpt_matches`; experiment 9 of
/// tests/lab_guide.rs checks docs/lab-guide.md's excerpt of the same card).
#[test]
fn the_report_card_rows_are_what_lab_check_prints() {
    let python_lab = match python_lab_dir() {
        Ok(dir) => dir,
        Err(why) => {
            return say_skipped("the_report_card_rows_are_what_lab_check_prints", &why);
        }
    };
    // Python 3 as python_lab_dir found it: `python3`, or `python` on Windows.
    let python = harness::lab::python().unwrap_or("python3");
    let worker = format!("{python} {}", python_lab.join("worker_server.py").display());
    let lab = Lab::new("readme-card").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    command.args(["check", "--worker", &worker]);
    let finished = lab.run_to_end("lab check", command, None).unwrap();
    let rows = |lines: &[&str]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with("  pass  ") || l.starts_with("  FAIL  "))
            .chain(lines.last())
            .map(|l| l.to_string())
            .collect()
    };
    let printed: Vec<&str> = finished.stdout.iter().map(String::as_str).collect();
    let shown = transcript(CARD);
    assert_eq!(rows(&shown), rows(&printed), "{finished:?}");
    if let Err(why) = card_excerpt_matches(&shown, &finished.stdout.join("\n")) {
        panic!("docs/lab-check.md's card: {why}\n{finished:?}");
    }
}

/// Every transcript in README.md and the pages it moved to ([`PAGES`]) is one of those checked
/// above, so a new one cannot go unchecked.
#[test]
fn every_transcript_in_readme_md_is_checked_here() {
    let keys = [
        DEMO,
        FAULT_DEMO,
        CARD,
        CLIENT_SESSION,
        STOPPED_WORKER,
        FROZEN_WORKER,
        TIME_WAIT,
        POWERSHELL_CLIENT,
        POWERSHELL_LOAD_BALANCER,
    ];
    let blocks = transcripts();
    for block in &blocks {
        let checked = keys
            .iter()
            .filter(|key| block.iter().any(|l| l.starts_with(*key)))
            .count();
        assert_eq!(checked, 1, "checked by {checked} tests here:\n{block:#?}");
    }
    assert_eq!(blocks.len(), keys.len());
}

/// README says that every tagged line of the demo's transcript is the Python lab's, word for
/// word, but for `Reading the workers from …`, `3 workers in …` and `Forwarded to worker …`:
/// each line is matched against the Python lab's own `print(f"…")` lines (a `{…}` there stands
/// for any text), and only those three lines, which README's sentence names, may match none.
#[test]
fn the_demo_lines_are_the_python_labs_but_three() {
    let python = match harness::lab::python_lab_files() {
        Ok(dir) => dir,
        Err(why) => {
            return say_skipped("the_demo_lines_are_the_python_labs_but_three", &why);
        }
    };
    let mut printed_by_python = Vec::new();
    for file in ["client.py", "load_balancer.py", "worker_server.py"] {
        let source = std::fs::read_to_string(python.join(file)).unwrap();
        for line in source.lines() {
            let Some((_, rest)) = line.split_once("print(f\"").or(line.split_once("print(\""))
            else {
                continue;
            };
            let text = rest.rsplit_once("\")").unwrap().0;
            printed_by_python.push(text.to_string());
        }
    }
    assert!(printed_by_python.len() >= 10, "{printed_by_python:?}");
    let ours = [
        "Reading the workers from ",
        "3 workers in ",
        "Forwarded to worker ",
    ];
    let claim = README.split_once("Every tagged line but three").unwrap().1;
    let claim = claim.split_once("\n\n").unwrap().0.replace('\n', " ");
    for line in ours {
        assert!(
            claim.contains(&format!("`{line}…`")),
            "README's claim names no {line:?}"
        );
    }
    let mut ours_seen: Vec<&str> = Vec::new();
    for line in transcript(DEMO) {
        let Some((_, text)) = line.split_once("] ") else {
            continue;
        };
        if printed_by_python.iter().any(|p| matches_print(p, text)) {
            continue;
        }
        let mine = ours.iter().find(|o| text.starts_with(**o));
        assert!(
            mine.is_some(),
            "neither the Python lab's nor named ours: {line:?}"
        );
        ours_seen.extend(mine.copied());
    }
    ours_seen.sort();
    ours_seen.dedup();
    assert_eq!(
        ours_seen.len(),
        ours.len(),
        "README names a line of ours the demo lacks"
    );
}

/// Whether `text` is what Python's f-string `pattern` prints, each `{…}` standing for any text.
fn matches_print(pattern: &str, text: &str) -> bool {
    let mut parts = Vec::new();
    let mut rest = pattern;
    while let Some((before, after)) = rest.split_once('{') {
        parts.push(before);
        rest = after.split_once('}').map_or("", |(_, after)| after);
    }
    parts.push(rest);
    let (first, others) = parts.split_first().unwrap();
    let Some(mut left) = text.strip_prefix(first) else {
        return false;
    };
    for (i, part) in others.iter().enumerate() {
        let last = i + 1 == others.len();
        match (last, left.find(part)) {
            (true, _) => return left.ends_with(part),
            (false, Some(at)) => left = &left[at + part.len()..],
            (false, None) => return false,
        }
    }
    left.is_empty()
}

/// docs/running-by-hand.md's PowerShell session in window 5: each `.\client.exe` line run again (on this OS,
/// without PowerShell) prints the lines that follow it, stdout's then stderr's, and a line's
/// `; "exit code $LASTEXITCODE"` prints the client's real exit code.
#[test]
fn the_powershell_client_session_is_what_the_client_prints() {
    let (lab, _workers, load_balancer) = lab_by_hand("readme-powershell-client", 3);
    let session = transcript(POWERSHELL_CLIENT);
    let mut commands: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in &session {
        match line.strip_prefix(POWERSHELL_CLIENT) {
            Some(command) => commands.push((command, Vec::new())),
            None => commands.last_mut().unwrap().1.push(*line),
        }
    }
    let exit_code = r#"; "exit code $LASTEXITCODE""#;
    for (command, shown) in commands {
        let (args, says_exit_code) = match command.strip_suffix(exit_code) {
            Some(args) => (args, true),
            None => (command, false),
        };
        let args: Vec<&str> = args.split_whitespace().collect();
        // The number typed at the prompt shows on the prompt's line, as on a console.
        let typed = shown.iter().find_map(|l| l.strip_prefix(PROMPT));
        let typed = typed.map(|number| format!("{number}\n"));
        let finished = lab
            .run_client(load_balancer.port, &args, typed.as_deref())
            .unwrap();
        let mut printed: Vec<String> = Vec::new();
        for line in &finished.stdout {
            // A pipe shows no typed number and no newline after the prompt.
            match (line.strip_prefix(PROMPT), &typed) {
                (Some(answer), Some(number)) => {
                    printed.push(format!("{PROMPT}{}", number.trim_end()));
                    printed.push(answer.to_string());
                }
                _ => printed.push(line.clone()),
            }
        }
        printed.extend(finished.stderr.iter().cloned());
        if says_exit_code {
            printed.push(format!("exit code {}", finished.status.code().unwrap()));
        }
        assert_eq!(printed, shown, "{command}: {finished:?}");
    }
}

/// docs/running-by-hand.md's PowerShell window 4: the load balancer's lines for the client's 12, the registry's
/// path and the ports masked.
#[test]
fn the_powershell_load_balancer_window_is_what_the_load_balancer_prints() {
    let (lab, _workers, mut load_balancer) = lab_by_hand("readme-powershell-lb", 3);
    let finished = lab.run_client(load_balancer.port, &["12"], None).unwrap();
    assert!(finished.status.success(), "{finished:?}");
    load_balancer
        .process
        .wait_for("Response sent to client: ", PATIENCE)
        .unwrap();
    let shown = all_masked(&transcript(POWERSHELL_LOAD_BALANCER)[1..]);
    let printed = printed_by(&mut load_balancer.process);
    assert!(
        shown_in(&shown, &printed),
        "{shown:#?}\nnot in\n{printed:#?}"
    );
}

/// README is a front page: at most [`README_MOST_LINES`] lines, with the rest in docs/, and it
/// links to each page a reader looks for (issue 25).
#[test]
fn readme_md_is_a_front_page() {
    let lines = README.lines().count();
    assert!(
        lines <= README_MOST_LINES,
        "README.md has {lines} lines, more than {README_MOST_LINES}"
    );
    for page in [
        "docs/instructors.md",
        "docs/running-by-hand.md",
        "docs/running-by-hand.md#on-windows-in-powershell",
        "docs/testing.md",
        "docs/differences.md",
        "docs/side-by-side.md",
        "docs/status-page.png",
    ] {
        assert!(
            README.contains(&format!("({page})")),
            "README.md does not link to {page}"
        );
    }
}

//! What the tests of `lab check` share (tests/check.rs, and experiment 9 of tests/lab_guide.rs):
//! reading its report card, and the Python lab's fixes that docs/lab-guide.md hints at.
//! Each test file uses part of it, hence `dead_code` allowed.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::Finished;
use harness::lab::{python_lab_dir, say_skipped};

/// Every row `lab check` can print, in its order, as the report card names them.
pub const REGISTERS: &str = "the worker registers its port in worker_ports.txt";
pub const SMALL: &str = "small answers are right: 0!, 1!, 12!, 20!";
pub const LONG: &str = "an answer longer than 4096 digits arrives whole: 1500!";
pub const BIG: &str = "a large n gets all its digits or an error: 5000!";
pub const BAD: &str = "each bad request gets an answer, and the server still serves";
pub const SLOW: &str = "a slow client does not hold up a fast one";
pub const WAITING: &str = "a client that connects and waits before sending is served";
pub const IN_TURN: &str = "requests go to every worker, each in turn (round-robin)";
pub const EVERY_WORKER: &str = "requests go to every worker";
pub const KILLED: &str = "a worker killed mid-run is bypassed: no later request fails";
pub const FROZEN: &str = "a frozen worker (Ctrl-Z) does not stall the rest";
pub const ADDED: &str = "a worker added mid-run gets requests";

/// How long a test lets one `lab check` run before it gives up: the longest card (a program
/// that answers nothing) takes about two and a half minutes; this leaves room for a machine
/// many times busier.
pub const CARD_LIMIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// What `lab check` printed and how it exited.
pub struct Card {
    /// Its exit code.
    pub code: Option<i32>,
    /// Its stdout: the report card.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Card {
    /// Runs `lab check` with `args` in `dir`.
    pub fn run(dir: &Path, args: &[&str]) -> Card {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
        command.arg("check").args(args).current_dir(dir);
        let output = command.output().unwrap();
        Card {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// As [`Card::run`], giving up after [`CARD_LIMIT`] with what the card printed by then:
    /// a `lab check` that hangs fails its test with a message, instead of hanging the run.
    pub fn run_within_limit(dir: &Path, args: &[&str]) -> Card {
        use std::io::Read;
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
        command
            .arg("check")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let read_all = |mut from: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let _ = from.read_to_end(&mut all);
                String::from_utf8_lossy(&all).into_owned()
            })
        };
        let stdout = read_all(Box::new(child.stdout.take().unwrap()));
        let stderr = read_all(Box::new(child.stderr.take().unwrap()));
        let deadline = std::time::Instant::now() + CARD_LIMIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let printed = stdout.join().unwrap();
                panic!(
                    "lab check {args:?} had not finished after {CARD_LIMIT:?}; it printed:\n{printed}"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Card {
            code: status.code(),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    /// The report card of a `lab check` run to its end through the harness.
    pub fn of(finished: &Finished) -> Card {
        Card {
            code: finished.status.code(),
            stdout: finished.stdout.join("\n"),
            stderr: finished.stderr.join("\n"),
        }
    }

    /// The claims of the rows marked `mark` (`pass` or `FAIL`), in order.
    pub fn rows(&self, mark: &str) -> Vec<&str> {
        let prefix = format!("  {mark}  ");
        self.stdout
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .collect()
    }

    /// Asserts the rows that pass and those that fail, exactly (none could not be checked),
    /// and the exit code that goes with them.
    pub fn assert_rows(&self, passed: &[&str], failed: &[&str]) {
        self.assert_card(passed, failed, &[]);
    }

    /// Asserts the rows that pass, those that fail and those that could not be checked
    /// (`skip`), exactly, and the exit code that goes with them.
    pub fn assert_card(&self, passed: &[&str], failed: &[&str], skipped: &[&str]) {
        let context = self.context();
        assert_eq!(self.rows("pass"), passed, "{context}");
        assert_eq!(self.rows("FAIL"), failed, "{context}");
        assert_eq!(self.rows("skip"), skipped, "{context}");
        let expected_code = if failed.is_empty() && skipped.is_empty() {
            0
        } else {
            1
        };
        assert_eq!(self.code, Some(expected_code), "{context}");
        let total = passed.len() + failed.len() + skipped.len();
        let summary = format!("{} of {total} properties hold.", passed.len());
        assert!(self.stdout.contains(&summary), "{context}");
    }

    /// The card and what went to stderr, for an assertion's message.
    pub fn context(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }

    /// The lines under the row for `claim`, up to the next row or the summary.
    pub fn evidence(&self, claim: &str) -> Vec<&str> {
        let mut lines = self.stdout.lines();
        let row = |line: &str| {
            ["  pass  ", "  FAIL  ", "  skip  "]
                .iter()
                .any(|m| line.starts_with(m))
        };
        lines
            .find(|line| row(line) && line.ends_with(claim))
            .into_iter()
            .flat_map(|_| {
                lines
                    .clone()
                    .take_while(|line| line.starts_with("          "))
            })
            .collect()
    }

    /// Asserts that the row for `claim` shows a line containing each of `expected`.
    pub fn assert_evidence(&self, claim: &str, expected: &[&str]) {
        let evidence = self.evidence(claim);
        for text in expected {
            assert!(
                evidence.iter().any(|line| line.contains(text)),
                "no {text:?} under {claim:?}:\n{}",
                self.context()
            );
        }
    }
}

/// The edits docs/lab-guide.md's answer 9 describes for worker_server.py: each replaces a
/// range of the Python lab's lines (first, last, counting from 1), last first so that the
/// numbers of the earlier ones still hold. The new lines are ours; a line `@N-M +K` (or `@N`,
/// or `-K`) stands for the lab's own lines N to M, indented K spaces more (or less), so that
/// none of the lab's code is copied here.
pub const WORKER_FIXES: &[(usize, usize, &str)] = &[
    // Lines 35-55: each connection served on a thread of its own (the accept of line 35, then
    // lines 37-41 in a function); an empty request answered instead of breaking out of the
    // accept loop; lines 47-55 in a `try` that answers an error instead of dying.
    (
        35,
        55,
        "@35
            threading.Thread(target=serve, args=(conn, addr)).start()


def serve(conn, addr):
@37-41 -8
        if not data:
            conn.sendall(b\"Error: empty request\")
            return
        try:
@47-55 -4
        except (ValueError, OverflowError) as e:
            conn.sendall(f\"Error: {e}\".encode())",
    ),
    // Line 1, and the module the threads need.
    (1, 1, "@1\nimport threading"),
];

/// The edits answer 9 describes for load_balancer.py, as [`WORKER_FIXES`].
pub const LOAD_BALANCER_FIXES: &[(usize, usize, &str)] = &[
    // Lines 36-58: an empty request answered before a worker is chosen; the turn taken
    // modulo the list's current length; each worker tried in turn until one answers (the
    // lab's lines 38-53 inside a loop), with a timeout so that a frozen worker fails its turn;
    // the answer read to the close, not with one recv(1024) (line 46); the error answer of
    // line 55 only when every worker failed.
    (
        36,
        58,
        "    if not data:
        client_socket.sendall(b\"Error: empty request\")
        client_socket.close()
        return

    for _ in range(len(workers)):
        worker = workers[worker_index % len(workers)]
@38 +4
        try:
@41 +4
                worker_socket.settimeout(2)
@42-44 +4
                result = b\"\"
                while chunk := worker_socket.recv(1024):
                    result += chunk
@48-50
            client_socket.close()
            return
@52-53 +4

@55 -4
@58 -4",
    ),
];

/// The Python lab's folder, or `None` after saying why `test` skips.
pub fn python_lab(test: &str) -> Option<PathBuf> {
    python_lab_dir().map_err(|why| say_skipped(test, &why)).ok()
}

/// A change to worker_server.py: (first line, last line, new lines), as `support::fixed` takes.
pub type Change = Vec<(usize, usize, String)>;

/// `time.sleep(seconds)` just before line 51 computes n!: the first change a student makes,
/// to watch requests queue at a one-connection-at-a-time worker.
pub fn sleeping(seconds: f64) -> Change {
    vec![
        (
            51,
            51,
            format!("                time.sleep({seconds})\n@51"),
        ),
        (1, 1, "@1\nimport time".to_string()),
    ]
}

/// Each connection served on a thread of its own (the accept of line 35, then lines 37–41 and
/// 47–55 in a function; 43–45's `break` has no loop there), with `time.sleep(seconds)` before
/// computing: a worker that is never idle to a health check.
pub fn threaded_and_sleeping(seconds: f64) -> Change {
    let serve = format!(
        "@35
            threading.Thread(target=serve, args=(conn, addr)).start()


def serve(conn, addr):
@37-41 -8
@47-49 -8
        time.sleep({seconds})
@51-55 -8"
    );
    vec![
        (35, 55, serve),
        (1, 1, "@1\nimport threading\nimport time".to_string()),
    ]
}

/// Line 53 sends `text` (a Python expression) instead of the bare digits.
pub fn answering(text: &str) -> Change {
    vec![(
        53,
        53,
        format!("                conn.sendall({text}.encode())"),
    )]
}

/// worker_server.py as the lab ships it.
pub const UNCHANGED: &[(usize, usize, &str)] = &[];

/// worker_server.py saying what it received in words of its own (line 49).
pub const OTHER_LOG_LINE: &[(usize, usize, &str)] =
    &[(49, 49, "                print(f\"Got {number}\")")];

/// worker_server.py with its printed lines held in a 64 KiB buffer, as C's stdout is when it
/// goes to a pipe (the checker's PYTHONUNBUFFERED does not reach a stdout opened anew).
pub const BUFFERED_OUTPUT: &[(usize, usize, &str)] = &[(
    1,
    1,
    "@1\nimport sys\nsys.stdout = open(sys.stdout.fileno(), \"w\", buffering=65536, closefd=False)",
)];

/// worker_server.py with `abc` and the other bad numbers answered with an error (lines 47-55
/// in a `try`), but an empty request still breaking out of the accept loop (lines 43-45).
pub const BAD_NUMBERS_FIXED_ONLY: &[(usize, usize, &str)] = &[(
    47,
    55,
    "                try:
@47-55 +4
                except (ValueError, OverflowError) as e:
                    conn.sendall(f\"Error: {e}\".encode())",
)];

/// load_balancer.py on a port the system picks (line 64), saying which (line 72), so that
/// tests need not take the lab's 65432.
pub const LOAD_BALANCER_ON_PORT_0: &[(usize, usize, &str)] = &[
    (
        72,
        72,
        "        print(f\"Load Balancer listening on {host}:{server_socket.getsockname()[1]}\")",
    ),
    (64, 64, "    port = 0"),
];

/// The card of the Python lab's load balancer, changed by `changes` (on top of
/// [`LOAD_BALANCER_ON_PORT_0`]), in front of its workers fixed as answer 9 says
/// ([`WORKER_FIXES`]), both written into `dir`. The patience is shorter than the default
/// minute and more: the Python load balancer's empty request hangs.
pub fn python_load_balancer_card(
    python_lab: &Path,
    dir: &Path,
    changes: &[(usize, usize, &str)],
) -> Card {
    write_changed(
        python_lab,
        "worker_server.py",
        WORKER_FIXES,
        dir,
        "worker.py",
    );
    let mut load_balancer = LOAD_BALANCER_ON_PORT_0.to_vec();
    load_balancer.extend_from_slice(changes);
    write_changed(python_lab, "load_balancer.py", &load_balancer, dir, "lb.py");
    let args = [
        "--load-balancer",
        "python3 lb.py",
        "--worker",
        "python3 worker.py",
        "--patience",
        "12",
    ];
    Card::run_within_limit(dir, &args)
}

/// Writes `file` of the Python lab, with `fixes` applied, to `dir` as `name`.
pub fn write_changed(
    python_lab: &Path,
    file: &str,
    fixes: &[(usize, usize, impl AsRef<str>)],
    dir: &Path,
    name: &str,
) {
    std::fs::write(dir.join(name), fixed(python_lab, file, fixes)).unwrap();
}

/// `file` in `folder` with `fixes` applied (see [`WORKER_FIXES`] for their form).
pub fn fixed(folder: &Path, file: &str, fixes: &[(usize, usize, impl AsRef<str>)]) -> String {
    let text = std::fs::read_to_string(folder.join(file)).unwrap();
    let original: Vec<&str> = text.lines().collect();
    let mut lines: Vec<String> = original.iter().map(|l| l.to_string()).collect();
    for (first, last, replacement) in fixes {
        let new_lines: Vec<String> = replacement
            .as_ref()
            .lines()
            .flat_map(|line| expand(line, &original))
            .collect();
        lines.splice(first - 1..*last, new_lines);
    }
    lines.join("\n") + "\n"
}

/// One line of a fix: itself, or for `@N-M +K` the lab's lines N to M re-indented by K.
fn expand(line: &str, original: &[&str]) -> Vec<String> {
    let Some(reference) = line.strip_prefix('@') else {
        return vec![line.to_string()];
    };
    let (range, shift) = reference.split_once(' ').unwrap_or((reference, "+0"));
    let (first, last) = range.split_once('-').unwrap_or((range, range));
    let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
    let shift: i64 = shift.trim_start_matches('+').parse().unwrap();
    original[first - 1..last]
        .iter()
        .map(|line| reindent(line, shift))
        .collect()
}

/// `line` with `shift` spaces added to its indent (or removed, when negative); a blank line
/// stays blank.
fn reindent(line: &str, shift: i64) -> String {
    if line.trim().is_empty() {
        return String::new();
    }
    let remove = usize::try_from(-shift).unwrap_or(0);
    assert!(
        line.starts_with(&" ".repeat(remove)),
        "cannot unindent {line:?} by {remove}"
    );
    let add = usize::try_from(shift).unwrap_or(0);
    format!("{}{}", " ".repeat(add), &line[remove..])
}

/// A report card as a page shows it (README's pages, docs/lab-guide.md) against the card
/// `lab check` printed: `Ok` when each run of the shown lines between lines of `...` stands in
/// the printed card as it is, line after line, each run after the one before. A shown line
/// that ends in `...` stands for any line that begins as it does. Both sides are compared
/// without what changes from run to run: the times (`[ 1.60 s] `), the ports, the folder the
/// Python lab's files are in, and the progress line `...   still checking (2 s so far): …`,
/// which a busy machine prints where an idle one does not.
pub fn card_excerpt_matches(shown: &[&str], printed: &str) -> Result<(), String> {
    let printed: Vec<String> = printed
        .lines()
        .filter(|line| !is_progress(line))
        .map(card_line)
        .collect();
    let shown: Vec<String> = shown
        .iter()
        .filter(|line| !is_progress(line))
        .map(|line| card_line(line))
        .collect();
    let fits = |shown: &str, printed: &str| match shown.strip_suffix("...") {
        Some(start) => printed.starts_with(start),
        None => shown == printed,
    };
    let mut from = 0;
    for run in shown.split(|line| line.trim() == "...") {
        let found = (from..=printed.len().saturating_sub(run.len())).find(|&at| {
            printed[at..]
                .iter()
                .zip(run)
                .all(|(printed, shown)| fits(shown, printed))
        });
        match found {
            Some(at) => from = at + run.len(),
            None => {
                return Err(format!(
                    "these lines are not, in this order, in the card from line {}:\n{}",
                    from + 1,
                    run.join("\n")
                ));
            }
        }
    }
    Ok(())
}

/// Whether `line` is the card's progress line, printed while a row takes long.
fn is_progress(line: &str) -> bool {
    line.trim_start().starts_with("...   still checking (")
}

/// A card's line without its times, ports and the Python lab's folder (see
/// [`card_excerpt_matches`]), and without whether a program that crashed had exited yet when
/// its row was written: a crash closes the program's socket as Python unwinds, and on busy
/// cores its exit may come after the row (seen in .ci/run), whose heading then says `printed
/// meanwhile:` where it said `has exited; printed meanwhile, and last:`.
fn card_line(line: &str) -> String {
    let mut line = line
        .replace(" has exited;", "")
        .replace("printed meanwhile, and last:", "printed meanwhile:");
    // Times: `[ 1.60 s] `, `[10.46 s] `.
    while let Some(at) = line.find('[') {
        let rest = &line[at + 1..];
        let time = rest.trim_start_matches(' ');
        let digits = time
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .count();
        match time[digits..].strip_prefix(" s] ") {
            Some(after) if digits > 0 => {
                line = format!("{}{after}", &line[..at]);
            }
            _ => break,
        }
    }
    // Ports.
    for marker in ["127.0.0.1:", "('127.0.0.1', "] {
        let mut from = 0;
        while let Some(at) = line[from..].find(marker) {
            let start = from + at + marker.len();
            let digits = line[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            line.replace_range(start..start + digits, "PORT");
            from = start;
        }
    }
    // The folder of the Python lab's files: whatever precedes their names up to a space or
    // a quote, where there is a folder.
    for file in ["worker_server.py", "load_balancer.py", "client.py"] {
        if let Some(at) = line.find(file) {
            let folder_starts = line[..at]
                .rfind([' ', '"', '`'])
                .map_or(0, |quote| quote + 1);
            if folder_starts < at {
                line.replace_range(folder_starts..at, "PYTHON_LAB/");
            }
        }
    }
    line
}

/// The test harness's name for `test`, a test of the file that calls this: `lab_guide::test`,
/// since every test file is a module of one test binary (tests/end_to_end.rs). For a test that
/// runs its own binary again with a filter, and reads what it prints.
macro_rules! test_name {
    ($test:expr) => {
        format!(
            "{}::{}",
            module_path!().rsplit("::").next().unwrap_or_default(),
            $test
        )
    };
}
pub(crate) use test_name;

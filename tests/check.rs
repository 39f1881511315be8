//! `lab check`, run as a student runs it: on our worker and load balancer every row passes,
//! whether they are started by the check or running already. The other direction, the Python
//! lab failing exactly its known faults and passing once fixed as the guide hints, is
//! experiment 9 of tests/lab_guide.rs, which runs the guide's commands; together they keep the
//! checker from drifting into always-green or always-red.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use crate::support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::factorial::factorial_digits;
use common::protocol::parse_request;
use harness::lab::{Lab, ask_text, bind_loopback, free_port, say_skipped};
use harness::peers::{FakeWorker, Misbehaviour};
use harness::process::program_path;
use support::*;

fn path_of(program: &str) -> String {
    program_path(program).unwrap().display().to_string()
}

/// Our worker holds every property a worker can be checked for.
#[test]
fn our_worker_passes_every_row() {
    let lab = Lab::new("check-our-worker").unwrap();
    let card = Card::run_within_limit(lab.dir(), &["--worker", &path_of("worker")]);
    card.assert_rows(&[REGISTERS, SMALL, LONG, BIG, BAD, SLOW, WAITING], &[]);
}

/// Our load balancer, with our workers behind it, holds every property.
#[test]
fn our_load_balancer_passes_every_row() {
    let lab = Lab::new("check-our-lb").unwrap();
    let balancer = format!("{} --port 0", path_of("load_balancer"));
    let card = Card::run_within_limit(lab.dir(), &["--load-balancer", &balancer]);
    card.assert_rows(
        &[
            SMALL, LONG, BIG, BAD, SLOW, WAITING, IN_TURN, KILLED, FROZEN, ADDED,
        ],
        &[],
    );
}

/// With `--any-order`, a load balancer that chooses at random is checked for reaching every
/// worker instead of for taking turns; ours, with `--strategy random`, passes.
#[test]
fn a_random_load_balancer_is_checked_with_any_order() {
    let lab = Lab::new("check-random").unwrap();
    let balancer = format!("{} --port 0 --strategy random", path_of("load_balancer"));
    let args = ["--load-balancer", &balancer, "--any-order"];
    let card = Card::run_within_limit(lab.dir(), &args);
    card.assert_rows(
        &[
            SMALL,
            LONG,
            BIG,
            BAD,
            SLOW,
            WAITING,
            EVERY_WORKER,
            KILLED,
            FROZEN,
            ADDED,
        ],
        &[],
    );
}

/// A running service is checked by its address, for the properties that need no process to
/// start or stop; our load balancer passes them.
#[test]
fn a_running_service_is_checked_by_address() {
    let lab = Lab::new("check-address").unwrap();
    let _workers = lab.start_workers(2, &[]).unwrap();
    let balancer = lab.start_load_balancer(&[]).unwrap();
    let address = format!("127.0.0.1:{}", balancer.port);
    let card = Card::run_within_limit(lab.dir(), &["--address", &address]);
    card.assert_rows(&[SMALL, LONG, BIG, BAD, SLOW, WAITING], &[]);
}

/// A worker that answers `42` to everything, checked by its address, fails every row, and the
/// evidence says what it answered: no row passes on an answer that is not n! or not an error.
/// (The Python lab's report cards, in tests/lab_guide.rs, show rows failing one by one.)
#[test]
fn a_worker_that_lies_fails_every_row() {
    let lab = Lab::new("check-liar").unwrap();
    let liar = FakeWorker::start(Misbehaviour::Lie).unwrap();
    let address = format!("127.0.0.1:{}", liar.port);
    let card = Card::run_within_limit(lab.dir(), &["--address", &address]);
    card.assert_rows(&[], &[SMALL, LONG, BIG, BAD, SLOW, WAITING]);
    for evidence in [
        "asked for 0!: got \"42\" (2 bytes), where 0! is \"1\"",
        "sent \"abc\": got \"42\" (2 bytes), which is not an `Error: ` answer",
    ] {
        assert!(card.stdout.contains(evidence), "{}", card.stdout);
    }
}

/// A load balancer that cannot start (its port is taken) is reported as not started, with what
/// it printed: no row is failed for it, and no "0 of 10" count is given.
#[test]
fn a_load_balancer_that_cannot_start_stops_the_check() {
    let lab = Lab::new("check-no-start").unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let balancer = format!("{} --port {port}", path_of("load_balancer"));
    let card = Card::run_within_limit(lab.dir(), &["--load-balancer", &balancer]);
    let context = card.context();
    assert_eq!(card.code, Some(1), "{context}");
    assert!(card.rows("FAIL").is_empty(), "{context}");
    assert!(card.rows("pass").is_empty(), "{context}");
    for expected in [
        "The load balancer did not start:",
        "another program listens there",
        "No property was checked: what is under check did not start.",
    ] {
        assert!(card.stdout.contains(expected), "{context}");
    }
    assert!(!card.stdout.contains("properties hold"), "{context}");
}

/// Mistakes on the command line are refused with exit code 2 before anything starts.
#[test]
fn check_refuses_a_missing_or_mixed_target() {
    let lab = Lab::new("check-usage").unwrap();
    for args in [
        &[][..],
        &["--address", "127.0.0.1:1", "--worker", "x"][..],
        &["--worker"][..],
        &["--bogus"][..],
    ] {
        let card = Card::run_within_limit(lab.dir(), args);
        assert_eq!(card.code, Some(2), "{args:?}");
        assert!(card.stdout.is_empty(), "{args:?}: {}", card.stdout);
        let stderr = &card.stderr;
        assert!(stderr.starts_with("lab check: "), "{stderr}");
    }
}

/// A worker started through a wrapper (`sh -c "worker; true"`, or `cmd /c worker` on Windows:
/// the shell starts it and waits, as `npm start` or a script without `exec` does) is stopped
/// with the wrapper: `lab check` kills a worker mid-run this way, and must not leave the real
/// one serving, or running after the check.
#[test]
fn a_worker_behind_a_wrapper_is_killed_with_it() {
    let lab = Lab::new("check-wrapper").unwrap();
    let (shell, run, then) = if cfg!(windows) {
        ("cmd", "/c", " & rem")
    } else {
        ("sh", "-c", "; true")
    };
    let mut command = std::process::Command::new(shell);
    command
        .arg(run)
        .arg(format!("{}{then}", path_of("worker")))
        .current_dir(lab.dir());
    let mut wrapper = lab
        .start_server("wrapped worker", command, "Worker listening on ")
        .unwrap();
    assert_eq!(ask_text(wrapper.port, "5").unwrap(), "120");
    wrapper.process.kill();
    let refused = std::net::TcpStream::connect(("127.0.0.1", wrapper.port));
    assert!(refused.is_err(), "the wrapped worker still listens");
}

/// How an in-test student server differs from the lab's worker. Each answers what our worker
/// would (n!, or an `Error: ` answer for a bad or empty request), in its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// A thread per connection; after its answer it keeps the connection open until the
    /// client closes, as a server written to take several requests on one connection does.
    KeepsConnectionOpen,
    /// Serves one connection, then stops listening: a student's server without its loop.
    OneConnection,
    /// One thread takes each request as it arrives on any connection (an event loop), and
    /// works out the answer there: a large n (10000 and up, where it stands for a slow
    /// multiplication with a pause of [`SLOW_MULTIPLICATION`]) holds up every other connection.
    EventLoop,
}

/// How long a student server takes over a large n: far above what a loaded machine adds to a
/// small request, twice over (the checker blames the large n only when it took more than
/// twice what 12! alone took, plus a second, and 12! alone took seconds once on two busy
/// cores).
const SLOW_MULTIPLICATION: Duration = Duration::from_secs(15);

/// Starts a student server of `style` on a free port, for the rest of the test process.
fn student_server(style: Style) -> u16 {
    let (listener, port) = bind_loopback().unwrap();
    thread::spawn(move || match style {
        Style::KeepsConnectionOpen => {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || serve_and_keep_open(stream));
            }
        }
        Style::OneConnection => {
            if let Ok((stream, _)) = listener.accept() {
                drop(listener);
                let _ = answer_one(stream);
            }
        }
        Style::EventLoop => event_loop(listener),
    });
    port
}

/// What our worker would answer to `request` (empty: the client closed without sending).
fn answer_to(request: &[u8]) -> String {
    if request.trim_ascii().is_empty() {
        return "Error: empty request".to_string();
    }
    match parse_request(request, 100_000) {
        Ok(n) => {
            if n >= 10_000 {
                thread::sleep(SLOW_MULTIPLICATION);
            }
            factorial_digits(n)
        }
        Err(bad) => bad.answer(),
    }
}

/// Reads one request (one read, as the lab's worker does) and answers it; returns the stream.
fn answer_one(mut stream: TcpStream) -> std::io::Result<TcpStream> {
    let mut request = [0u8; 1024];
    let got = stream.read(&mut request)?;
    stream.write_all(answer_to(&request[..got]).as_bytes())?;
    Ok(stream)
}

/// Answers, then reads until the client closes.
fn serve_and_keep_open(stream: TcpStream) {
    if let Ok(mut stream) = answer_one(stream) {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    }
}

/// One thread for every connection: each pass accepts what is waiting, then serves every
/// connection whose request has arrived (or that closed without one).
fn event_loop(listener: TcpListener) {
    listener.set_nonblocking(true).unwrap();
    let mut waiting: Vec<TcpStream> = Vec::new();
    loop {
        while let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(true).unwrap();
            waiting.push(stream);
        }
        let mut still = Vec::new();
        for mut stream in waiting.drain(..) {
            let mut request = [0u8; 1024];
            match stream.read(&mut request) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => still.push(stream),
                Err(_) => {}
                Ok(got) => {
                    stream.set_nonblocking(false).unwrap();
                    let _ = stream.write_all(answer_to(&request[..got]).as_bytes());
                }
            }
        }
        waiting = still;
        thread::sleep(Duration::from_millis(1));
    }
}

/// A student's relay-style load balancer in front of the worker at `worker_port`: for each
/// client it connects to the worker and copies bytes both ways, but does not pass on a
/// client's closing of its sending side, so a worker waits its `--timeout` for a request
/// that never comes, and answers `Error: request timed out`, which is relayed.
fn relay(worker_port: u16) -> u16 {
    let (listener, port) = bind_loopback().unwrap();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            thread::spawn(move || {
                let Ok(worker) = TcpStream::connect(("127.0.0.1", worker_port)) else {
                    return;
                };
                let (mut from_client, mut to_worker) =
                    (client.try_clone().unwrap(), worker.try_clone().unwrap());
                thread::spawn(move || {
                    let mut chunk = [0u8; 4096];
                    while let Ok(got) = from_client.read(&mut chunk) {
                        if got == 0 || to_worker.write_all(&chunk[..got]).is_err() {
                            return; // the client's close is not passed on
                        }
                    }
                });
                let (mut from_worker, mut to_client) = (worker, client);
                let _ = std::io::copy(&mut from_worker, &mut to_client);
                let _ = to_client.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

/// Every row a running service is checked for.
const BY_ADDRESS: [&str; 6] = [SMALL, LONG, BIG, BAD, SLOW, WAITING];

/// A server that answers and keeps its connection open (to take more requests on it) holds
/// every property: its answer is whole once n!'s digits, or an `Error: ` answer, are in. It
/// was once called stuck, every answer "no answer within 10 s".
#[test]
fn a_server_that_keeps_its_connection_open_holds_every_property() {
    let lab = Lab::new("check-keep-open").unwrap();
    let port = student_server(Style::KeepsConnectionOpen);
    let card = Card::run_within_limit(lab.dir(), &["--address", &format!("127.0.0.1:{port}")]);
    card.assert_rows(&BY_ADDRESS, &[]);
}

/// A server that serves one connection and stops: the row where it stopped says so, and that
/// it accepts once, and the check goes no further (each later row is named as not checked),
/// instead of every later row failing with `connection refused` and a hint of its own.
#[test]
fn a_server_that_stops_is_said_to_have_stopped() {
    let lab = Lab::new("check-one-connection").unwrap();
    let port = student_server(Style::OneConnection);
    let card = Card::run_within_limit(lab.dir(), &["--address", &format!("127.0.0.1:{port}")]);
    assert_eq!(card.rows("FAIL"), [SMALL], "{}", card.context());
    assert!(card.rows("pass").is_empty(), "{}", card.context());
    assert!(
        card.stdout.contains("0 of 6 properties hold."),
        "{}",
        card.context()
    );
    card.assert_evidence(
        SMALL,
        &[&format!(
            "nothing listens at 127.0.0.1:{port} any more: the server stopped, after the \
             checker asked for 0!"
        )],
    );
    assert!(
        card.stdout.contains(
            "It did not start, or it stopped: the properties after this one are not checked."
        ),
        "{}",
        card.context()
    );
    let first = card
        .evidence(SMALL)
        .first()
        .map(|l| l.trim())
        .unwrap_or_default();
    assert!(
        first.starts_with("It served the first connection, then stopped listening"),
        "{}",
        card.context()
    );
    assert!(
        card.stdout
            .contains(&format!("  ----  {LONG} (not checked)")),
        "{}",
        card.context()
    );
}

/// Behind a relay that does not pass on a client's close, our worker answers the client that
/// sent nothing with `Error: request timed out: ...` when its --timeout ends (a minute by
/// default; 12 s here, past the checker's old ten seconds of patience); the checker waits
/// longer than a worker's minute, and takes it as the `Error: ` answer it is.
#[test]
fn a_relayed_timeout_is_an_answer() {
    let lab = Lab::new("check-relay").unwrap();
    let worker = lab.start_worker("worker", &["--timeout", "12"]).unwrap();
    let relay = relay(worker.port);
    let card = Card::run_within_limit(lab.dir(), &["--address", &format!("127.0.0.1:{relay}")]);
    card.assert_rows(&BY_ADDRESS, &[]);
}

/// An event-loop server that serves a slow client without waiting for it, but computes a
/// large n where it reads requests, holds up a small request asked next to the large one:
/// the slow-client row says so (it passed when only a slow client was tried).
#[test]
fn an_event_loop_that_blocks_on_a_large_n_holds_up_a_small_one() {
    let lab = Lab::new("check-event-loop").unwrap();
    let port = student_server(Style::EventLoop);
    let card = Card::run_within_limit(lab.dir(), &["--address", &format!("127.0.0.1:{port}")]);
    card.assert_rows(&[SMALL, LONG, BIG, BAD, WAITING], &[SLOW]);
    card.assert_evidence(
        SLOW,
        &[
            "asked for 12! next to 100000!: it came back ",
            "with 100000!'s answer (",
            "the large n held it up",
        ],
    );
}

/// A load balancer that says `running on 127.0.0.1:PORT` instead of the lab's line is told
/// which line the checker waits for and how to give its address instead; given `--address`,
/// it is checked like any other (ours, its line reworded through `sed`).
#[test]
fn a_load_balancer_with_its_own_line_is_checked_at_its_address() {
    if cfg!(windows) {
        return say_skipped(
            "a_load_balancer_with_its_own_line_is_checked_at_its_address",
            "its load balancer is ours reworded through sh and sed, which Windows lacks",
        );
    }
    let lab = Lab::new("check-own-line").unwrap();
    let port = free_port().unwrap();
    let script = format!(
        "{} --port {port} | sed -u 's/Load Balancer listening on/running on/'\n",
        path_of("load_balancer")
    );
    std::fs::write(lab.dir().join("lb.sh"), script).unwrap();
    let unsaid = Card::run_within_limit(lab.dir(), &["--load-balancer", "sh lb.sh"]);
    for expected in [
        "The load balancer did not start: it printed no line ending in `listening on HOST:PORT`",
        &format!("--address 127.0.0.1:{port}"),
        "No property was checked",
    ] {
        assert!(
            unsaid.stdout.contains(expected),
            "{expected:?}\n{}",
            unsaid.context()
        );
    }
    let address = format!("127.0.0.1:{port}");
    let card = Card::run_within_limit(
        lab.dir(),
        &["--load-balancer", "sh lb.sh", "--address", &address],
    );
    card.assert_rows(
        &[
            SMALL, LONG, BIG, BAD, SLOW, WAITING, IN_TURN, KILLED, FROZEN, ADDED,
        ],
        &[],
    );
}

/// Writes worker_server.py changed by `fixes` into `lab`'s folder as `name`; `None` (the test
/// skips) without the Python lab.
fn python_worker(
    test: &str,
    lab: &Lab,
    fixes: &[(usize, usize, impl AsRef<str>)],
    name: &str,
) -> Option<()> {
    let python = python_lab(test)?;
    write_changed(&python, "worker_server.py", fixes, lab.dir(), name);
    Some(())
}

/// The rows the Python lab's worker passes and fails (experiment 9 of tests/lab_guide.rs
/// checks it on the worker as shipped).
const PYTHON_WORKER_PASSES: [&str; 4] = [REGISTERS, SMALL, LONG, WAITING];
const PYTHON_WORKER_FAILS: [&str; 3] = [BIG, BAD, SLOW];

/// Every row a load balancer is checked for, in turn.
const LOAD_BALANCER_ROWS: [&str; 10] = [
    SMALL, LONG, BIG, BAD, SLOW, WAITING, IN_TURN, KILLED, FROZEN, ADDED,
];

/// The Python worker's card says, under each row it fails, what the property needs, and
/// times its evidence; the slow-client row shows that 12! came only once the slow client had
/// sent its number; and the ten seconds that row waits are said, in one line, not in silence.
#[test]
fn a_failing_row_says_what_it_needs_and_when() {
    let lab = Lab::new("check-needs").unwrap();
    if python_worker(
        "a_failing_row_says_what_it_needs_and_when",
        &lab,
        UNCHANGED,
        "worker_server.py",
    )
    .is_none()
    {
        return;
    }
    let card = Card::run_within_limit(lab.dir(), &["--worker", "python3 worker_server.py"]);
    card.assert_rows(&PYTHON_WORKER_PASSES, &PYTHON_WORKER_FAILS);
    for (row, needs) in [
        (BIG, "A large n needs all its digits or an `Error: ` answer"),
        (BAD, "worker_server.py line 47 raises on `abc`"),
        (
            SLOW,
            "Each connection needs its own thread or process, or a timeout on the worker's socket",
        ),
    ] {
        let evidence = card.evidence(row);
        assert!(
            evidence.first().is_some_and(|l| l.contains(needs)),
            "{}",
            card.context()
        );
        let timed = evidence.iter().filter(|l| is_timed(l)).count();
        assert!(
            timed >= 2,
            "untimed evidence under {row:?}:\n{}",
            card.context()
        );
    }
    card.assert_evidence(
        SLOW,
        &[
            "while another client was still typing, asked for 12!: no answer within 10 s",
            "the slow client sends \"10\" now",
            "12! arrived only after the slow client had sent its number",
        ],
    );
    // The slow row waits 10 s for 12! by itself, so it says at least once that it is still
    // checking. What it is waiting for when the line falls due depends on the clock (on a busy
    // machine, the worker's start may still be under way), and how often progress is said too:
    // grader/src/timeline.rs's unit test checks the schedule.
    let lines: Vec<&str> = card.stdout.lines().collect();
    let verdict = lines.iter().position(|l| l.contains(SLOW)).unwrap();
    assert!(
        lines[..verdict]
            .last()
            .is_some_and(|l| l.starts_with("  ...   still checking")),
        "the wait for 12! went unsaid:\n{}",
        card.context()
    );
}

/// Whether a line of evidence begins with its time, `[10.02 s]`.
fn is_timed(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with('[')
        && line
            .split_once(" s] ")
            .is_some_and(|(time, _)| time[1..].trim().parse::<f64>().is_ok())
}

/// A worker fixed for `abc` but still breaking out of its loop on an empty request: the card
/// points at worker_server.py lines 43-45.
#[test]
fn the_empty_request_row_points_at_lines_43_to_45() {
    let lab = Lab::new("check-empty").unwrap();
    let test = "the_empty_request_row_points_at_lines_43_to_45";
    if python_worker(test, &lab, BAD_NUMBERS_FIXED_ONLY, "worker.py").is_none() {
        return;
    }
    let card = Card::run_within_limit(lab.dir(), &["--worker", "python3 worker.py"]);
    card.assert_rows(&[REGISTERS, SMALL, LONG, BIG, WAITING], &[BAD, SLOW]);
    card.assert_evidence(
        BAD,
        &[
            "sent nothing, then closed: got nothing: the connection closed without an answer",
            "(an empty request needs an `Error: ` answer, and the worker needs to go on serving: \
             worker_server.py lines 43-45",
        ],
    );
}

/// The Python load balancer (on a port of its own) with workers fixed as answer 9 says: the
/// bad-requests row shows the load balancer's lines for the empty request itself, which it
/// forwarded and then waited on, and the frozen-worker row says what a load balancer needs.
/// (Named to sort among the first, as a long test.)
#[test]
fn a_card_of_the_python_load_balancer_shows_the_request_that_failed() {
    let test = "a_card_of_the_python_load_balancer_shows_the_request_that_failed";
    let Some(python) = python_lab(test) else {
        return;
    };
    let lab = Lab::new("check-python-lb").unwrap();
    let card = python_load_balancer_card(&python, lab.dir(), &[]);
    card.assert_rows(
        &[SMALL, BIG, SLOW, WAITING, IN_TURN, ADDED],
        &[LONG, BAD, KILLED, FROZEN],
    );
    card.assert_evidence(BAD, &["sent nothing, then closed: no answer within 12 s"]);
    let empty_forwarded = card.evidence(BAD).iter().any(|line| {
        is_timed(line)
            && line
                .trim_end()
                .ends_with("Received request for factorial of")
    });
    assert!(empty_forwarded, "{}", card.context());
    let needs = card.evidence(FROZEN);
    assert!(
        needs
            .first()
            .is_some_and(|l| l.contains("a timeout on each worker's socket (settimeout)")),
        "{}",
        card.context()
    );
}

/// Whether python3 runs here; if not, the test says it skipped.
fn python3_runs(test: &str) -> bool {
    let runs = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !runs {
        say_skipped(test, "python3 does not run here");
    }
    runs
}

/// `lab check --worker "python3 worker_server.py"` in a folder without that file says that the
/// file is not in the current folder, not only Python's error naming the checker's scratch
/// folder, which the student never saw.
#[test]
fn a_file_missing_here_is_said_to_be_missing() {
    if !python3_runs("a_file_missing_here_is_said_to_be_missing") {
        return;
    }
    let lab = Lab::new("check-missing-file").unwrap();
    let card = Card::run_within_limit(lab.dir(), &["--worker", "python3 worker_server.py"]);
    assert_eq!(card.rows("FAIL"), [REGISTERS], "{}", card.context());
    // As the checker sees the folder: links resolved on Linux, as given on Windows.
    let here = if cfg!(windows) {
        lab.dir().to_path_buf()
    } else {
        lab.dir().canonicalize().unwrap()
    };
    let said = format!(
        "worker_server.py is not in the current folder ({})",
        here.display()
    );
    card.assert_evidence(REGISTERS, &[&said]);
}

/// A worker that answers with a newline (`print`-style) registers its port and answers n!:
/// its card is the Python worker's. One that answers with words (`Factorial: 120`) registers
/// too, and fails the rows that read the answer: the registry row is about the registry.
#[test]
fn the_answer_format_is_not_the_registry_row_s_business() {
    let test = "the_answer_format_is_not_the_registry_row_s_business";
    let lab = Lab::new("check-answer-format").unwrap();
    let (Some(()), Some(())) = (
        python_worker(
            test,
            &lab,
            &answering("(str(result) + \"\\n\")"),
            "newline.py",
        ),
        python_worker(
            test,
            &lab,
            &answering("f\"Factorial: {result}\""),
            "worded.py",
        ),
    ) else {
        return;
    };
    let dir = lab.dir().to_path_buf();
    let worded =
        thread::spawn(move || Card::run_within_limit(&dir, &["--worker", "python3 worded.py"]));
    let newline = Card::run_within_limit(lab.dir(), &["--worker", "python3 newline.py"]);
    newline.assert_rows(&PYTHON_WORKER_PASSES, &PYTHON_WORKER_FAILS);
    let worded = worded.join().unwrap();
    worded.assert_rows(&[REGISTERS], &[SMALL, LONG, BIG, BAD, SLOW, WAITING]);
    worded.assert_evidence(
        SMALL,
        &["asked for 0!: got \"Factorial: 1\" (12 bytes), where 0! is \"1\""],
    );
}

/// Behind our load balancer, workers that word their `received` line otherwise, or hold their
/// output in a buffer, cannot be followed: the rows that need to know which worker served a
/// request say so (`skip`) instead of failing, and every other row passes. The card says when
/// the workers printed nothing though answers came, and how to make them seen.
#[test]
fn workers_that_cannot_be_followed_are_not_failed_for_it() {
    let test = "workers_that_cannot_be_followed_are_not_failed_for_it";
    let lab = Lab::new("check-unfollowed").unwrap();
    let (Some(()), Some(())) = (
        python_worker(test, &lab, OTHER_LOG_LINE, "worded.py"),
        python_worker(test, &lab, BUFFERED_OUTPUT, "buffered.py"),
    ) else {
        return;
    };
    let balancer = format!("{} --port 0", path_of("load_balancer"));
    let dir = lab.dir().to_path_buf();
    let theirs = balancer.clone();
    let buffered = thread::spawn(move || {
        Card::run_within_limit(
            &dir,
            &[
                "--load-balancer",
                &theirs,
                "--worker",
                "python3 buffered.py",
            ],
        )
    });
    let worded = Card::run_within_limit(
        lab.dir(),
        &[
            "--load-balancer",
            &balancer,
            "--worker",
            "python3 worded.py",
        ],
    );
    let followed = [SMALL, LONG, BIG, BAD, SLOW, WAITING, KILLED, FROZEN];
    worded.assert_card(&followed, &[], &[IN_TURN, ADDED]);
    worded.assert_evidence(
        IN_TURN,
        &["not checked: no worker printed the lab's `Worker received number: N` line"],
    );
    let buffered = buffered.join().unwrap();
    buffered.assert_card(&followed, &[], &[IN_TURN, ADDED]);
    buffered.assert_evidence(
        IN_TURN,
        &["the workers printed nothing, though answers came"],
    );
    assert!(
        buffered
            .stdout
            .contains("Note: the workers answered, but printed nothing"),
        "{}",
        buffered.context()
    );
}

/// A worker that takes 1.5 s per request (worker_server.py with `time.sleep(1.5)` before it
/// computes) gets the verdicts of the worker without the sleep: slowness is no fault.
#[test]
fn a_slow_worker_gets_the_verdicts_it_would_without() {
    let test = "a_slow_worker_gets_the_verdicts_it_would_without";
    let lab = Lab::new("check-sleeper").unwrap();
    let (Some(()), Some(())) = (
        python_worker(test, &lab, UNCHANGED, "worker_server.py"),
        python_worker(test, &lab, &sleeping(1.5), "sleeper.py"),
    ) else {
        return;
    };
    let dir = lab.dir().to_path_buf();
    let quick = thread::spawn(move || {
        Card::run_within_limit(&dir, &["--worker", "python3 worker_server.py"])
    });
    let slow = Card::run_within_limit(lab.dir(), &["--worker", "python3 sleeper.py"]);
    let quick = quick.join().unwrap();
    quick.assert_rows(&PYTHON_WORKER_PASSES, &PYTHON_WORKER_FAILS);
    slow.assert_rows(&PYTHON_WORKER_PASSES, &PYTHON_WORKER_FAILS);
}

/// Behind our load balancer, which never gives up on a slow worker (after a second it asks
/// the next one too), workers that take 1.5 s per request pass every row, as the Python
/// workers without the sleep do (experiment 9 of tests/lab_guide.rs): one connection at a
/// time, or a thread per connection. (The longest test of this file: its name sorts first, and
/// the test harness starts tests in that order, so it runs while the others do.)
#[test]
fn a_lab_of_slow_workers_passes_behind_our_load_balancer() {
    let test = "a_lab_of_slow_workers_passes_behind_our_load_balancer";
    let lab = Lab::new("check-sleepers-behind").unwrap();
    let (Some(()), Some(())) = (
        python_worker(test, &lab, &sleeping(1.5), "sleeper.py"),
        python_worker(test, &lab, &threaded_and_sleeping(1.5), "threaded.py"),
    ) else {
        return;
    };
    let balancer = format!("{} --port 0", path_of("load_balancer"));
    let cards: Vec<_> = ["python3 sleeper.py", "python3 threaded.py"]
        .into_iter()
        .map(|worker| {
            let (dir, balancer) = (lab.dir().to_path_buf(), balancer.clone());
            thread::spawn(move || {
                Card::run_within_limit(&dir, &["--load-balancer", &balancer, "--worker", worker])
            })
        })
        .collect();
    for card in cards {
        card.join().unwrap().assert_rows(&LOAD_BALANCER_ROWS, &[]);
    }
}

//! `lab check` on the kinds of servers students write, in any language: each row's first line
//! names the cause that program's own evidence shows (text before the digits, a whole buffer
//! sent, 20! for any larger n, a wait for a newline, silence, a stack overflow, one connection
//! accepted), never the Python lab's lines; a load balancer that ignores worker_ports.txt
//! fails the rows about workers. Every server here is written for these tests: small Rust
//! listeners for what is checked by its address, short Python scripts for what `lab check`
//! starts itself.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

use common::factorial::factorial_digits;
use common::protocol::parse_request;
use harness::lab::{Lab, bind_loopback, say_skipped};
use support::*;

/// Every row a running service is checked for.
const BY_ADDRESS: [&str; 6] = [SMALL, LONG, BIG, BAD, SLOW, WAITING];

/// How a student's server, checked by its address, answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answers {
    /// `Welcome to the factorial server!` and a newline as each client connects, then n!.
    AfterAGreeting,
    /// `factorial 9 is 362880`, and the connection kept open.
    InWords,
    /// n! in a 64-bit integer that overflows, printed into a 1024-byte buffer, and the whole
    /// buffer sent, as `send(sock, buf, sizeof buf, 0)` does in C.
    WholeBuffer,
    /// n! for n up to 20, and 20! for any larger n: a clamp.
    ClampedAt20,
    /// Only once a newline has come (a `readLine()` or `fgets`); the connection is kept open
    /// until then.
    AfterANewline,
    /// Nothing: it accepts each connection and keeps it, as a server stuck before its read.
    Nothing,
}

/// Starts a server that answers as `answers` says, each connection on a thread of its own,
/// for the rest of the test process; returns its address.
fn student_server(answers: Answers) -> String {
    let (listener, port) = bind_loopback().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream, answers));
        }
    });
    format!("127.0.0.1:{port}")
}

/// Serves one connection as `answers` says.
fn serve(mut stream: TcpStream, answers: Answers) {
    if answers == Answers::AfterAGreeting {
        let _ = stream.write_all(b"Welcome to the factorial server!\n");
    }
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let Ok(got) = stream.read(&mut chunk) else {
            return;
        };
        request.extend_from_slice(&chunk[..got]);
        let whole = match answers {
            Answers::AfterANewline => request.contains(&b'\n'),
            Answers::Nothing => false,
            _ => true,
        };
        if whole || got == 0 {
            break;
        }
    }
    let n = parse_request(&request, 100_000);
    let answer: Vec<u8> = match (answers, n) {
        (Answers::Nothing, _) => return,
        (_, Err(bad)) => bad.answer().into_bytes(),
        (Answers::InWords, Ok(n)) => format!("factorial {n} is {}", factorial_digits(n)).into(),
        (Answers::WholeBuffer, Ok(n)) => {
            let wrapped = (1..=n).fold(1u64, |product, k| product.wrapping_mul(k));
            let mut buffer = wrapped.to_string().into_bytes();
            buffer.resize(1024, 0);
            buffer
        }
        (Answers::ClampedAt20, Ok(n)) => factorial_digits(n.min(20)).into(),
        (_, Ok(n)) => factorial_digits(n).into(),
    };
    let _ = stream.write_all(&answer);
    if answers == Answers::InWords {
        let _ = stream.read_to_end(&mut Vec::new()); // kept open until the client closes
    }
}

/// Checks the server at `address` with `args` added, in a scratch folder named `name`.
fn check_address(name: &str, address: &str, args: &[&str]) -> Card {
    let lab = Lab::new(name).unwrap();
    let mut all = vec!["--address", address];
    all.extend_from_slice(args);
    Card::run_within_limit(lab.dir(), &all)
}

/// The first line under a row that fails: what the row says the program needs, or the cause.
fn first_line<'a>(card: &'a Card, claim: &str) -> &'a str {
    card.evidence(claim).first().map_or("", |line| line.trim())
}

/// Asserts that a card about a program that is not the Python lab names none of the lab's
/// files, that no row's first line blames the lab's faults (one recv(1024), Python's limit
/// of 4300 digits), and that each line of evidence stays readable (about 200 characters).
fn assert_no_lab_lines_and_short(card: &Card) {
    let context = card.context();
    for file in ["worker_server.py", "load_balancer.py"] {
        assert!(!card.stdout.contains(file), "{file:?} named:\n{context}");
    }
    for claim in card.rows("FAIL") {
        let first = first_line(card, claim);
        for blamed in ["recv(1024)", "over 4300 digits"] {
            assert!(!first.contains(blamed), "{blamed:?} blamed:\n{context}");
        }
        for line in card.evidence(claim).iter().skip(1) {
            let length = line.trim().chars().count();
            assert!(length <= 200, "a line of {length} characters:\n{context}");
        }
    }
}

/// Answers that are not n! are told by their cause, each judged as soon as it came: text
/// before the digits, words around them, a whole buffer with its NUL bytes (counted in bytes,
/// not printed), and 20! for 1500!. None is blamed on the Python lab's lines.
#[test]
fn answers_that_are_not_n_factorial_are_told_by_their_cause() {
    // A patience far above how long each card takes with its answers judged at once: were
    // they waited on instead, the evidence would say the connection stayed open.
    let kinds = [
        (Answers::AfterAGreeting, "check-greeting"),
        (Answers::InWords, "check-words"),
        (Answers::WholeBuffer, "check-buffer"),
        (Answers::ClampedAt20, "check-clamp"),
    ];
    let cards: Vec<_> = kinds
        .into_iter()
        .map(|(answers, name)| {
            let address = student_server(answers);
            thread::spawn(move || check_address(name, &address, &["--patience", "40"]))
        })
        .collect();
    let cards: Vec<Card> = cards.into_iter().map(|c| c.join().unwrap()).collect();
    for card in &cards {
        assert_no_lab_lines_and_short(card);
        assert!(
            !card.stdout.contains("the connection stayed open"),
            "{}",
            card.context()
        );
    }
    let [greeting, words, buffer, clamp] = &cards[..] else {
        unreachable!()
    };
    assert!(
        first_line(greeting, SMALL).starts_with("Text came"),
        "{}",
        greeting.context()
    );
    greeting.assert_evidence(SMALL, &["got \"Welcome to the factorial server!\\n"]);
    assert!(
        first_line(words, SMALL).contains("words around them"),
        "{}",
        words.context()
    );
    words.assert_evidence(SMALL, &["got \"factorial 0 is 1\" (16 bytes)"]);
    assert!(
        first_line(buffer, SMALL).contains("whole buffer"),
        "{}",
        buffer.context()
    );
    buffer.assert_evidence(SMALL, &["got 1024 bytes: \"1\" then 1023 NUL bytes"]);
    clamp.assert_rows(&[SMALL, BAD, SLOW, WAITING], &[LONG, BIG]);
    for row in [LONG, BIG] {
        assert!(
            first_line(clamp, row).contains("is 20! (20! is the largest factorial a 64-bit"),
            "{}",
            clamp.context()
        );
    }
}

/// A server that answers only once a newline has come is told so: its first row waits the
/// whole patience, then the same request with a newline is answered, and the card says once
/// that later rows wait less. Every row it fails names that cause, not its own hint (not a
/// missing thread, not a read of 1024 bytes).
#[test]
fn a_server_that_waits_for_a_newline_is_told_so_once() {
    let address = student_server(Answers::AfterANewline);
    let card = check_address("check-newline", &address, &["--patience", "8"]);
    assert_no_lab_lines_and_short(&card);
    card.assert_rows(&[], &BY_ADDRESS);
    for row in BY_ADDRESS {
        assert!(
            first_line(&card, row).starts_with("It waits for a newline"),
            "{row}:\n{}",
            card.context()
        );
    }
    card.assert_evidence(
        SMALL,
        &[
            "asked for 0!: no answer within 8 s",
            "sent \"0\\n\" (the same, with a newline): got \"1\" (1 bytes)",
        ],
    );
    let said = "from here on, each answer is waited for 5 s, not 8 s";
    assert_eq!(card.stdout.matches(said).count(), 1, "{}", card.context());
}

/// A server that accepts connections and answers nothing is told so, with and without a
/// newline; after its first silence, no row waits the whole patience again.
#[test]
fn a_server_that_answers_nothing_is_told_so() {
    let address = student_server(Answers::Nothing);
    let card = check_address("check-silent", &address, &["--patience", "8"]);
    assert_no_lab_lines_and_short(&card);
    card.assert_rows(&[], &BY_ADDRESS);
    for row in BY_ADDRESS {
        assert!(
            first_line(&card, row).starts_with("It answers nothing"),
            "{row}:\n{}",
            card.context()
        );
    }
    let waited_long = card.stdout.matches("no answer within 8 s").count();
    assert_eq!(waited_long, 1, "{}", card.context());
}

/// Writes a student's Python server, `script`, as `name` in `lab`'s folder; `None` (the test
/// skips) where python3 does not run.
fn python_script(test: &str, lab: &Lab, name: &str, script: &str) -> Option<()> {
    let runs = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !runs {
        say_skipped(test, "python3 does not run here");
        return None;
    }
    std::fs::write(lab.dir().join(name), script).unwrap();
    Some(())
}

/// A worker in Python, written as a student might from scratch (none of the lab's code): it
/// says where it listens in a line of its own, registers unless told `unregistered`, and
/// serves one connection at a time. `recursive`: n! by a function that calls itself, which
/// Python stops with a RecursionError past 1,000 calls; `segfault`: past 1,000 it ends as a C
/// program whose recursion overflows its stack does, on signal 11; `once`: it serves one
/// connection and exits.
const STUDENT_WORKER: &str = r#"import os
import signal
import socket
import sys

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)
style = sys.argv[1]


def fact(n):
    if style == "segfault" and n > 1000:
        os.kill(os.getpid(), signal.SIGSEGV)
    if style == "recursive":
        return 1 if n <= 1 else n * fact(n - 1)
    product = 1
    for k in range(2, n + 1):
        product *= k
    return product


server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]
print(f"Starting up on localhost port {port}", flush=True)
if style != "unregistered":
    with open("worker_ports.txt", "a") as registry:
        registry.write(f"{port}\n")
while True:
    conn, _ = server.accept()
    if style == "once":
        server.close()
    text = conn.recv(1024).decode().strip()
    if text.isdigit():
        conn.sendall(str(fact(int(text))).encode())
    else:
        conn.sendall(b"Error: send a whole number")
    conn.close()
    if style == "once":
        break
"#;

/// A worker whose recursive factorial overflows Python's stack is told so on the rows it
/// crashes on, and so is one that ends on signal 11 as C does; one that serves one connection and exits is told that it accepts once, on
/// the rows that ask twice; one that says `Starting up on localhost port N` and registers
/// nothing is shown how to check it at that address.
#[test]
fn workers_that_crash_stop_or_do_not_register_are_told_why() {
    let test = "workers_that_crash_stop_or_do_not_register_are_told_why";
    let lab = Lab::new("check-student-workers").unwrap();
    if python_script(test, &lab, "fact_server.py", STUDENT_WORKER).is_none() {
        return;
    }
    let cards: Vec<_> = ["recursive", "once", "unregistered", "segfault"]
        .into_iter()
        .map(|style| {
            let dir = lab.dir().to_path_buf();
            let worker = format!("python3 fact_server.py {style}");
            thread::spawn(move || Card::run_within_limit(&dir, &["--worker", &worker]))
        })
        .collect();
    let cards: Vec<Card> = cards.into_iter().map(|c| c.join().unwrap()).collect();
    let [recursive, once, unregistered, segfault] = &cards[..] else {
        unreachable!()
    };
    for card in &cards {
        assert_no_lab_lines_and_short(card);
    }
    recursive.assert_rows(&[REGISTERS, SMALL, WAITING], &[LONG, BIG, BAD, SLOW]);
    for row in [LONG, BIG] {
        assert!(
            first_line(recursive, row).starts_with("It crashed with a stack overflow"),
            "{}",
            recursive.context()
        );
    }
    for row in [LONG, BIG] {
        assert!(
            first_line(segfault, row).starts_with("It crashed with a segmentation fault"),
            "{}",
            segfault.context()
        );
    }
    once.assert_rows(&[REGISTERS, LONG, BIG, WAITING], &[SMALL, BAD, SLOW]);
    for row in [SMALL, BAD] {
        assert!(
            first_line(once, row).contains("it accepts one connection only"),
            "{}",
            once.context()
        );
    }
    assert_eq!(
        unregistered.rows("FAIL"),
        [REGISTERS],
        "{}",
        unregistered.context()
    );
    let said = unregistered
        .stdout
        .lines()
        .find(|l| l.contains("Starting up on localhost port "))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("{}", unregistered.context()));
    unregistered.assert_evidence(
        REGISTERS,
        &[&format!("lab check --address 127.0.0.1:{said}")],
    );
}

/// A load balancer in Python that never reads worker_ports.txt, and sends every request to
/// one backend given on its command line (ours, started apart from the check): every request
/// is answered, so the rows about answers pass, but the rows about workers fail, since no
/// request reaches the workers the check stops, freezes or adds.
const FIXED_BACKEND: &str = r#"import socket
import sys
import threading

backend = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
print(f"Load balancer listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)


def relay(client):
    request = client.recv(1024)
    if not request.strip():
        client.sendall(b"Error: empty request")
        client.close()
        return
    with socket.create_connection(("127.0.0.1", backend)) as worker:
        worker.sendall(request)
        answer = b""
        while chunk := worker.recv(65536):
            answer += chunk
    client.sendall(answer)
    client.close()


while True:
    client, _ = server.accept()
    threading.Thread(target=relay, args=(client,)).start()
"#;

/// A load balancer that ignores worker_ports.txt fails the four rows about workers (never a
/// pass, never a skip), with the evidence that its answers came with every listed worker
/// killed; the rows about answers pass.
#[test]
fn a_load_balancer_that_ignores_the_registry_fails_the_worker_rows() {
    let test = "a_load_balancer_that_ignores_the_registry_fails_the_worker_rows";
    let lab = Lab::new("check-fixed-backend").unwrap();
    if python_script(test, &lab, "fixed_lb.py", FIXED_BACKEND).is_none() {
        return;
    }
    let backend_lab = Lab::new("check-fixed-backend-worker").unwrap();
    let backend = backend_lab.start_worker("backend", &[]).unwrap();
    let balancer = format!("python3 fixed_lb.py {}", backend.port);
    let card = Card::run_within_limit(lab.dir(), &["--load-balancer", &balancer]);
    assert_no_lab_lines_and_short(&card);
    card.assert_rows(
        &[SMALL, LONG, BIG, BAD, SLOW, WAITING],
        &[IN_TURN, KILLED, FROZEN, ADDED],
    );
    for row in [IN_TURN, KILLED, FROZEN, ADDED] {
        assert!(
            first_line(&card, row).starts_with("Each request needs to go to a worker listed"),
            "{}",
            card.context()
        );
    }
    card.assert_evidence(
        IN_TURN,
        &[
            "every worker listed in worker_ports.txt was killed",
            "asked for 7!: got the right answer, with no listed worker running",
        ],
    );
}

/// The Python load balancer changed so that it never advances its turn (line 38 removed):
/// every request goes to the first worker listed. The rows about workers fail, each saying
/// that the requests reach only that one; the killed and frozen workers, never used, prove
/// nothing, so those rows do not pass.
#[test]
fn a_load_balancer_stuck_on_one_worker_fails_the_worker_rows() {
    let test = "a_load_balancer_stuck_on_one_worker_fails_the_worker_rows";
    let Some(python) = python_lab(test) else {
        return;
    };
    let lab = Lab::new("check-stuck-turn").unwrap();
    let card = python_load_balancer_card(&python, lab.dir(), &[(38, 38, "")]);
    let context = card.context();
    for row in [IN_TURN, KILLED, FROZEN, ADDED] {
        assert!(card.rows("FAIL").contains(&row), "{row}:\n{context}");
        assert!(
            first_line(&card, row).starts_with("Each request needs to go to a worker listed"),
            "{context}"
        );
    }
    card.assert_evidence(
        IN_TURN,
        &[
            "no request reached worker 2",
            "no request reached worker 3",
            "the requests never reach worker(s) 2 3 of the 3 in worker_ports.txt",
        ],
    );
}

/// A load balancer in Python that serves its first connection (working n! out itself), then
/// closes its listening socket and lives on: a loop around accept forgotten.
const ONCE_BALANCER: &str = r#"import math
import socket
import time

server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
print(f"Load balancer listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)
client, _ = server.accept()
server.close()
client.sendall(str(math.factorial(int(client.recv(1024)))).encode())
client.close()
time.sleep(600)
"#;

/// A load balancer that accepts one connection and stays running is told that it accepts
/// once, on the row where it stopped; every row after it is named as not checked, none failed
/// with a hint of its own.
#[test]
fn a_load_balancer_that_accepts_once_stops_the_check() {
    let test = "a_load_balancer_that_accepts_once_stops_the_check";
    let lab = Lab::new("check-once-lb").unwrap();
    if python_script(test, &lab, "once_lb.py", ONCE_BALANCER).is_none() {
        return;
    }
    let card = Card::run_within_limit(lab.dir(), &["--load-balancer", "python3 once_lb.py"]);
    let context = card.context();
    assert_eq!(card.rows("FAIL"), [SMALL], "{context}");
    assert!(card.rows("pass").is_empty(), "{context}");
    assert!(
        first_line(&card, SMALL).contains("it accepts one connection only"),
        "{context}"
    );
    for row in [LONG, IN_TURN, ADDED] {
        let named = format!("  ----  {row} (not checked)");
        assert!(card.stdout.contains(&named), "{context}");
    }
    assert!(
        card.stdout.contains("0 of 10 properties hold."),
        "{context}"
    );
}

/// A worker in Python that serves each connection on a thread of its own, and keeps every
/// connection it accepted in a list (as a Java server's thread leaves its socket open when an
/// exception ends it): a request that is not a number kills that thread, and the connection
/// stays open with no answer.
const LEAKY_WORKER: &str = r#"import socket
import threading

held = []
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]
with open("worker_ports.txt", "a") as registry:
    registry.write(f"{port}\n")
print(f"Serving on 127.0.0.1:{port}", flush=True)


def serve(conn):
    held.append(conn)
    n = int(conn.recv(1024).decode())
    product = 1
    for k in range(2, n + 1):
        product *= k
    conn.sendall(str(product).encode())
    conn.close()


while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,)).start()
"#;

/// A worker whose connection's thread dies on `abc` (and on 5000!, past Python's 4300 digits),
/// leaving the connection open, is told that a thread crashed while the server went on
/// accepting, with its own line (not that the server is stuck, nor the lab's lines), and the
/// checker gives up on that request once the error is printed, not after the whole patience.
#[test]
fn a_thread_that_dies_on_a_bad_request_is_told_so() {
    let test = "a_thread_that_dies_on_a_bad_request_is_told_so";
    let lab = Lab::new("check-leaky").unwrap();
    if python_script(test, &lab, "leaky.py", LEAKY_WORKER).is_none() {
        return;
    }
    let card = Card::run_within_limit(lab.dir(), &["--worker", "python3 leaky.py"]);
    let context = card.context();
    assert!(card.rows("FAIL").contains(&BAD), "{context}");
    assert!(
        first_line(&card, BAD).starts_with("A connection's thread crashed, while the server"),
        "{context}"
    );
    card.assert_evidence(
        BAD,
        &["sent \"abc\": no answer: the connection stayed open, and the program printed an error"],
    );
    assert!(
        first_line(&card, BIG).contains("Exceeds the limit (4300 digits)"),
        "{context}"
    );
    assert!(!card.stdout.contains("stuck"), "{context}");
    assert_no_lab_lines_and_short(&card);
}

/// A load balancer in Python, written as a student might (threaded, reads each answer until
/// the worker closes), in one of three styles. `checks`: it reads worker_ports.txt for each
/// request, and turns the request into a number itself before forwarding it, so its
/// connection's thread dies on `abc` with Python's ValueError. `startup`: it reads
/// worker_ports.txt once, at start, and says so when a worker cannot be reached.
/// `remembers`: it asks the first port listed at start, always, and its thread dies with
/// Python's ConnectionRefusedError (which names no port) once that worker is gone.
const STUDENT_BALANCER: &str = r#"import socket
import sys
import threading

style = sys.argv[1]
turn = [0]


def listed():
    with open("worker_ports.txt") as registry:
        return [int(line) for line in registry if line.strip()]


at_start = listed()


def serve(client):
    data = client.recv(1024)
    if style == "checks":
        int(data.decode())
    ports = at_start if style == "startup" else listed()
    port = ports[turn[0] % len(ports)]
    turn[0] += 1
    if style == "remembers":
        worker = socket.create_connection(("127.0.0.1", at_start[0]))
        worker.sendall(data)
        client.sendall(worker.recv(1 << 20))
        client.close()
        return
    try:
        worker = socket.create_connection(("127.0.0.1", port))
        worker.sendall(data)
        answer = b""
        while True:
            chunk = worker.recv(4096)
            if not chunk:
                break
            answer += chunk
        worker.close()
    except OSError as e:
        print(f"Error communicating with worker ('127.0.0.1', {port}): {e}", flush=True)
        answer = b"Error: Worker communication failed."
    client.sendall(answer)
    client.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen()
print(f"Load balancer listening on 127.0.0.1:{server.getsockname()[1]}", flush=True)
while True:
    client, _ = server.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
"#;

/// A student's load balancer whose own thread dies on `abc`, with the Python lab's workers
/// behind it, is told of its own crash on the row about bad requests, not of the lab
/// worker's line 47 (no worker got `abc`); the lab worker's line 53 is cited on 5000! only
/// because that worker printed its traceback.
#[test]
fn a_load_balancers_own_crash_is_named_before_the_lab_workers_lines() {
    let test = "a_load_balancers_own_crash_is_named_before_the_lab_workers_lines";
    let Some(python) = python_lab(test) else {
        return;
    };
    let lab = Lab::new("check-lb-own-crash").unwrap();
    if python_script(test, &lab, "student_lb.py", STUDENT_BALANCER).is_none() {
        return;
    }
    write_changed(
        &python,
        "worker_server.py",
        UNCHANGED,
        lab.dir(),
        "worker_server.py",
    );
    let args = [
        "--load-balancer",
        "python3 student_lb.py checks",
        "--worker",
        "python3 worker_server.py",
        "--patience",
        "12",
    ];
    let card = Card::run_within_limit(lab.dir(), &args);
    let context = card.context();
    assert!(card.rows("FAIL").contains(&BAD), "{context}");
    let bad = first_line(&card, BAD);
    assert!(
        bad.starts_with("A connection's thread crashed") && bad.contains("student_lb.py"),
        "{context}"
    );
    assert!(!bad.contains("worker_server.py"), "{context}");
    assert!(card.rows("FAIL").contains(&BIG), "{context}");
    assert!(
        first_line(&card, BIG).contains("(worker_server.py line 53)"),
        "{context}"
    );
}

/// A worker in Python that sends its whole 1024-byte buffer, NUL bytes and all, one
/// connection at a time (`padded`), or that reads a whole line (`readline`) and crashes past
/// Python's 4300 digits.
const LINE_OR_BUFFER_WORKER: &str = r#"import math
import socket
import sys

style = sys.argv[1]
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
port = server.getsockname()[1]
print(f"Starting up on localhost port {port}", flush=True)
with open("worker_ports.txt", "a") as registry:
    registry.write(f"{port}\n")
while True:
    conn, _ = server.accept()
    if style == "readline":
        n = int(conn.makefile("r").readline())
        conn.sendall(str(math.factorial(n)).encode())
    else:
        text = conn.recv(1024).decode().strip()
        answer = str(math.factorial(int(text))) if text.isdigit() else "Error: not a number"
        conn.sendall(answer.encode().ljust(1024, b"\0")[:1024])
    conn.close()
"#;

/// Each row's first line names the cause that row failed on. A load balancer that read
/// worker_ports.txt once, at start, is told so once, with the port it still asks, and no row
/// blames a read into a buffer, a missing thread or a read at connect. A worker that sends
/// its whole buffer and serves one connection at a time is told, on the slow client's row,
/// of the one connection at a time, not of the NUL bytes. A worker that waits for a line is
/// told so, not of the crash the checker's own probe with a newline caused. A load balancer
/// that always asks the first worker it saw at start, and whose thread dies when that one is
/// gone, is told the same cause, though Python's error names no port.
#[test]
fn each_row_names_the_cause_it_failed_on() {
    let test = "each_row_names_the_cause_it_failed_on";
    let lab = Lab::new("check-row-causes").unwrap();
    let (Some(()), Some(())) = (
        python_script(test, &lab, "student_lb.py", STUDENT_BALANCER),
        python_script(test, &lab, "student_worker.py", LINE_OR_BUFFER_WORKER),
    ) else {
        return;
    };
    let runs = [
        vec!["--load-balancer", "python3 student_lb.py startup"],
        vec!["--worker", "python3 student_worker.py padded"],
        vec![
            "--worker",
            "python3 student_worker.py readline",
            "--patience",
            "8",
        ],
        vec![
            "--load-balancer",
            "python3 student_lb.py remembers",
            "--patience",
            "12",
        ],
    ];
    let cards: Vec<_> = runs
        .into_iter()
        .map(|args| {
            let dir = lab.dir().to_path_buf();
            thread::spawn(move || Card::run_within_limit(&dir, &args))
        })
        .collect();
    let cards: Vec<Card> = cards.into_iter().map(|c| c.join().unwrap()).collect();
    let [startup, padded, readline, remembers] = &cards[..] else {
        unreachable!()
    };

    assert_no_lab_lines_and_short(startup);
    let context = startup.context();
    let failed = startup.rows("FAIL");
    assert!(failed.contains(&LONG), "{context}");
    for row in &failed {
        let first = first_line(startup, row);
        for false_hint in [
            "one read into a buffer",
            "its own thread",
            "not to read once",
        ] {
            assert!(
                !first.contains(false_hint),
                "{row}: {false_hint:?}\n{context}"
            );
        }
    }
    // The rows about answers fail only because the workers it asks were stopped.
    for row in [LONG, BAD, SLOW, WAITING] {
        let first = first_line(startup, row);
        let told = first.starts_with("It asks ") || first.starts_with("Again it asks ");
        assert!(!failed.contains(&row) || told, "{row}:\n{context}");
    }
    let said = "this load balancer read worker_ports.txt once, at start";
    assert_eq!(startup.stdout.matches(said).count(), 1, "{context}");

    assert_no_lab_lines_and_short(padded);
    let context = padded.context();
    assert!(padded.rows("FAIL").contains(&SLOW), "{context}");
    assert!(
        first_line(padded, SLOW).starts_with("It served one connection at a time"),
        "{context}"
    );

    // Python's ConnectionRefusedError names no port: refused with every worker running.
    let context = remembers.context();
    assert!(remembers.rows("FAIL").contains(&LONG), "{context}");
    assert!(
        first_line(remembers, LONG).starts_with("It asks a port (connection refused"),
        "{context}"
    );

    let context = readline.context();
    assert!(readline.rows("FAIL").contains(&BIG), "{context}");
    for row in readline.rows("FAIL") {
        assert!(
            first_line(readline, row).starts_with("It waits for a newline"),
            "{row}:\n{context}"
        );
    }
}

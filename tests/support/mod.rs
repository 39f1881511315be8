//! What the tests of `lab check` share (tests/check.rs, and experiment 9 of tests/lab_guide.rs):
//! reading its report card, and the Python lab's fixes that docs/lab-guide.md hints at.
//! Each test file uses part of it, hence `dead_code` allowed.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::path::Path;
use std::process::Command;

use lab::Finished;

/// Every row `lab check` can print, in its order, as the report card names them.
pub const REGISTERS: &str = "the worker registers its port in worker_ports.txt";
pub const SMALL: &str = "small answers are right: 0!, 1!, 12!, 20!";
pub const LONG: &str = "an answer longer than 1024 digits arrives whole: 500!";
pub const BAD: &str = "each bad request gets an answer, and the server still serves";
pub const SLOW: &str = "a slow client does not hold up a fast one";
pub const WAITING: &str = "a client that connects and waits before sending is served";
pub const IN_TURN: &str = "requests go to every worker, each in turn (round-robin)";
pub const EVERY_WORKER: &str = "requests go to every worker";
pub const KILLED: &str = "a worker killed mid-run is bypassed: no later request fails";
pub const FROZEN: &str = "a frozen worker (Ctrl-Z) does not stall the rest";
pub const ADDED: &str = "a worker added mid-run gets requests";

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

    /// Asserts the rows that pass and those that fail, exactly, and the exit code that goes
    /// with them.
    pub fn assert_rows(&self, passed: &[&str], failed: &[&str]) {
        let context = format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert_eq!(self.rows("pass"), passed, "{context}");
        assert_eq!(self.rows("FAIL"), failed, "{context}");
        let expected_code = if failed.is_empty() { 0 } else { 1 };
        assert_eq!(self.code, Some(expected_code), "{context}");
        let total = passed.len() + failed.len();
        let summary = format!("{} of {total} properties hold.", passed.len());
        assert!(self.stdout.contains(&summary), "{context}");
    }
}

/// The edits docs/lab-guide.md hints at for worker_server.py (experiment 9, for the
/// instructor), by line range in the Python lab's file, last first so that the line numbers
/// of the earlier ones still hold. The Python written here is ours: the fix, not the lab.
pub const WORKER_FIXES: &[(usize, usize, &str)] = &[
    // Lines 35-55: each connection served on a thread of its own, as load_balancer.py lines
    // 80-82 do; an empty request answered instead of breaking out of the accept loop; a bad
    // number answered with an error instead of killing the worker.
    (
        35,
        55,
        "            conn, addr = server_socket.accept()
            threading.Thread(target=serve, args=(conn, addr)).start()


def serve(conn, addr):
    with conn:
        print(f\"Connected by {addr}\")
        data = conn.recv(1024)
        if not data:
            conn.sendall(b\"Error: empty request\")
            return
        try:
            number = int(data.decode())
            print(f\"Worker received number: {number}\")
            result = factorial(number)
            conn.sendall(str(result).encode())
            print(f\"Worker sent factorial: {result}\")
        except (ValueError, OverflowError) as e:
            conn.sendall(f\"Error: {e}\".encode())",
    ),
    // Line 1: the threads need their module.
    (1, 1, "import socket\nimport threading"),
];

/// The edits the guide hints at for load_balancer.py, as [`WORKER_FIXES`].
pub const LOAD_BALANCER_FIXES: &[(usize, usize, &str)] = &[
    // Lines 36-58: an empty request answered at once; the turn taken modulo the list's
    // current length; each worker tried in turn until one answers, with a timeout so a frozen
    // one fails its turn; the answer read to the close, not one recv(1024).
    (
        36,
        58,
        "    if not data:
        client_socket.sendall(b\"Error: empty request\")
        client_socket.close()
        return

    for _ in range(len(workers)):
        worker = workers[worker_index % len(workers)]
        worker_index = (worker_index + 1) % len(workers)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as worker_socket:
                worker_socket.settimeout(2)
                worker_socket.connect(worker)
                worker_socket.sendall(data.encode())
                result = b\"\"
                while chunk := worker_socket.recv(1024):
                    result += chunk
            client_socket.sendall(result)
            print(f\"Response sent to client: {result.decode()}\")
            client_socket.close()
            return
        except Exception as e:
            print(f\"Error communicating with worker {worker}: {e}\")

    client_socket.sendall(b\"Error: Worker communication failed.\")
    client_socket.close()",
    ),
];

/// `file` from the Python lab with `fixes` applied: each replaces lines first..=last (from 1).
pub fn fixed(python: &Path, file: &str, fixes: &[(usize, usize, &str)]) -> String {
    let text = std::fs::read_to_string(python.join(file)).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for &(first, last, replacement) in fixes {
        lines.splice(first - 1..last, replacement.lines().map(String::from));
    }
    lines.join("\n") + "\n"
}

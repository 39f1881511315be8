//! End to end: the real worker, load_balancer and client programs, each test in a scratch
//! folder of its own with servers on free ports.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, ask_text};

/// Replaces the port in a Python-style address tuple with `PORT`, since the OS picks it.
fn mask_port(line: &str) -> String {
    match line.find("('127.0.0.1', ") {
        Some(at) if line.ends_with(')') => format!("{}('127.0.0.1', PORT)", &line[..at]),
        _ => line.to_string(),
    }
}

/// The lab's transcript for 12, 15 and 7: the same lines, word for word, as the Python lab.
#[test]
fn prints_the_lab_transcript() -> Result<(), Error> {
    let lab = Lab::new("transcript")?;
    let mut workers = lab.start_workers(3, &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    let answers = [("12", "479001600"), ("15", "1307674368000"), ("7", "5040")];

    for (number, factorial) in answers {
        let client = lab.run_client(lb.port, &[number], None)?;
        assert!(client.status.success(), "{client:?}");
        assert_eq!(client.stdout, [format!("Factorial received: {factorial}")]);
        lb.process.wait_for("Response sent to client", PATIENCE)?;
    }

    let mut expected_lb = vec![
        format!("Load Balancer listening on 127.0.0.1:{}", lb.port),
        // Ours only: which registry file it reads, in full.
        format!("Reading the workers from {}", lab.registry().display()),
    ];
    for (number, factorial) in answers {
        expected_lb.push("Client connected: ('127.0.0.1', PORT)".to_string());
        expected_lb.push(format!("Received request for factorial of {number}"));
        if number == "12" {
            // Ours only: how many workers its first read found.
            expected_lb.push("3 workers in worker_ports.txt".to_string());
        }
        // Ours only: which worker served the request.
        expected_lb.push("Forwarded to worker ('127.0.0.1', PORT)".to_string());
        expected_lb.push(format!("Response sent to client: {factorial}"));
    }
    let lb_lines: Vec<String> = lb
        .process
        .stdout_lines()
        .iter()
        .map(|l| mask_port(l))
        .collect();
    assert_eq!(lb_lines, expected_lb);

    for (worker, (number, factorial)) in workers.iter_mut().zip(answers) {
        worker.process.wait_for("Worker sent factorial", PATIENCE)?;
        let lines: Vec<String> = worker
            .process
            .stdout_lines()
            .iter()
            .map(|l| mask_port(l))
            .collect();
        let port = worker.port;
        assert_eq!(
            lines,
            [
                format!("Worker registered on port {port}"),
                format!("Worker listening on 127.0.0.1:{port}"),
                "Connected by ('127.0.0.1', PORT)".to_string(),
                format!("Worker received number: {number}"),
                format!("Worker sent factorial: {factorial}"),
            ]
        );
    }
    Ok(())
}

/// Round-robin: with three workers, requests one, two and three go to workers one, two and
/// three, in registry order, and the fourth goes back to the first.
#[test]
fn round_robin_follows_the_registry_order() -> Result<(), Error> {
    let lab = Lab::new("round-robin")?;
    let mut workers = lab.start_workers(3, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    for n in [3, 4, 5, 6] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    for (worker, n) in workers.iter_mut().zip([3, 4, 5]) {
        worker
            .process
            .wait_for(&format!("Worker received number: {n}"), PATIENCE)?;
    }
    workers[0]
        .process
        .wait_for("Worker received number: 6", PATIENCE)?;
    Ok(())
}

/// 1000! (2568 digits) arrives whole, through the load balancer and through the client; the
/// Python lab cuts it to 1024 digits.
#[test]
fn a_long_answer_arrives_whole() -> Result<(), Error> {
    let lab = Lab::new("long-answer")?;
    let _workers = lab.start_workers(2, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    let expected = factorial_digits(1000);
    assert_eq!(expected.len(), 2568);

    assert_eq!(ask_text(lb.port, "1000")?, expected);
    let client = lab.run_client(lb.port, &["1000"], None)?;
    assert!(client.status.success(), "{client:?}");
    assert_eq!(client.stdout, [format!("Factorial received: {expected}")]);
    Ok(())
}

/// An empty registry: the lab's `Error: No workers available.`, and the client exits 1 with
/// that message on stderr.
#[test]
fn no_workers_is_an_error_answer() -> Result<(), Error> {
    let lab = Lab::new("no-workers")?;
    std::fs::write(lab.registry(), "").map_err(|e| Error::new(e.to_string()))?;
    let mut lb = lab.start_load_balancer(&[])?;
    assert_eq!(ask_text(lb.port, "12")?, "Error: No workers available.");
    lb.process.wait_for("No available workers.", PATIENCE)?;

    let client = lab.run_client(lb.port, &["12"], None)?;
    assert_eq!(client.status.code(), Some(1));
    assert!(client.stdout.is_empty(), "{client:?}");
    assert_eq!(client.stderr, ["Error: No workers available."]);
    Ok(())
}

/// Without a number the client asks for one, as client.py does, and reads it from stdin.
#[test]
fn client_prompts_for_the_number() -> Result<(), Error> {
    let lab = Lab::new("prompt")?;
    let _worker = lab.start_worker("worker", &[])?;
    let lb = lab.start_load_balancer(&[])?;
    let client = lab.run_client(lb.port, &[], Some("12\n"))?;
    assert!(client.status.success(), "{client:?}");
    assert_eq!(
        client.stdout,
        ["Enter an integer to calculate its factorial: Factorial received: 479001600"]
    );
    Ok(())
}

/// With nothing listening, the client says it cannot reach the load balancer and exits 1.
#[test]
fn client_reports_an_unreachable_load_balancer() -> Result<(), Error> {
    let lab = Lab::new("unreachable")?;
    // Port 1: privileged, never handed out by the OS, and no test listens there.
    let port = 1;
    let client = lab.run_client(port, &["12"], None)?;
    assert_eq!(client.status.code(), Some(1));
    assert_eq!(
        client.stderr,
        [format!(
            "cannot reach the load balancer at 127.0.0.1:{port}: connection refused"
        )]
    );
    Ok(())
}

/// With `--threads reuse` (a fixed pool of threads, each accepting in turn) the worker and the
/// load balancer serve exactly as with the default `spawn`; and with every place under
/// --max-connections held by an idle connection, a spare pool thread still accepts a newcomer
/// and makes room for it.
#[test]
fn a_pool_of_threads_serves_the_same() -> Result<(), Error> {
    let lab = Lab::new("reuse")?;
    let _workers = lab.start_workers(2, &["--threads", "reuse"])?;
    let mut lb = lab.start_load_balancer(&["--threads", "reuse", "--max-connections", "2"])?;
    for n in [12, 15, 7, 1000] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", lb.port)).unwrap())
        .collect();
    for _ in 0..2 {
        lb.process.wait_for("Client connected", PATIENCE)?;
    }
    assert_eq!(ask_text(lb.port, "5")?, "120");
    lb.process.wait_for("to make room", PATIENCE)?;
    drop(idle);
    Ok(())
}

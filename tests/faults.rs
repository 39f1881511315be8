//! End to end: bad input, silent and vanishing clients, dead and killed workers, a messy
//! registry and overload. After each fault, good requests still succeed on every worker.
//! Each row of docs/reliability.md names the test here that covers it.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::io::{Read, Write};
use std::net::TcpStream;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{
    Lab, PATIENCE, Server, ask, ask_and_half_close, ask_in_background, ask_text, dead_addresses,
};
use harness::peers::{FakeWorker, Misbehaviour};

/// `count` dead entries as registry text, one a line.
fn dead_entries_text(count: usize) -> String {
    let lines: Vec<String> = dead_addresses(count)
        .iter()
        .map(|a| a.registry_line())
        .collect();
    lines.join("\n")
}

/// Every worker, asked directly, and the load balancer still answer n! correctly.
fn all_still_serve(workers: &[Server], lb: &Server) -> Result<(), Error> {
    for (n, worker) in (10u64..).zip(workers) {
        assert_eq!(ask_text(worker.port, &n.to_string())?, factorial_digits(n));
    }
    for n in [12u64, 15, 7] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    Ok(())
}

/// Each bad request gets one `Error: ` answer naming the problem, from the load balancer and
/// from a worker asked directly, and nothing stops serving.
#[test]
fn bad_requests_are_refused_and_serving_goes_on() -> Result<(), Error> {
    let lab = Lab::new("bad-input")?;
    let workers = lab.start_workers(3, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    let long = vec![b'7'; 5000];
    let cases: &[(&[u8], &str)] = &[
        (b"abc", "Error: not a whole number: \"abc\""),
        (b"1.5", "Error: not a whole number: \"1.5\""),
        (b"1e3", "Error: not a whole number: \"1e3\""),
        (b"0x10", "Error: not a whole number: \"0x10\""),
        (b"12abc", "Error: not a whole number: \"12abc\""),
        (b"1 2", "Error: not a whole number: \"1 2\""),
        (b"\xff\xfe7", "Error: request is not text"),
        (b"-5", "Error: negative number \"-5\""),
        (b"18446744073709551616", "Error: number too large"),
        (&long, "Error: request longer than 1024 bytes"),
    ];
    for (request, expected) in cases {
        for port in [lb.port, workers[0].port] {
            let answer = String::from_utf8_lossy(&ask(port, request)?).into_owned();
            assert!(
                answer.starts_with(expected),
                "{request:?} to {port}: {answer:?}"
            );
        }
        all_still_serve(&workers, &lb)?;
    }
    // Empty and whitespace-only requests: the client closes its side with nothing sent.
    for request in [&b""[..], b"  \r\n"] {
        for port in [lb.port, workers[1].port] {
            let answer = ask_and_half_close(port, request)?;
            assert!(answer.starts_with(b"Error: empty request"), "{answer:?}");
        }
    }
    // Above the worker's --max-n: the worker refuses, the load balancer relays its answer.
    assert_eq!(
        ask_text(lb.port, "100001")?,
        "Error: 100001 is above this worker's limit of 100000"
    );
    // The largest n there is: the load balancer must not stumble over n!'s length.
    assert_eq!(
        ask_text(lb.port, "18446744073709551615")?,
        "Error: 18446744073709551615 is above this worker's limit of 100000"
    );
    all_still_serve(&workers, &lb)
}

/// Accepted forms: whitespace around the number, CRLF, one `+`, leading zeros.
#[test]
fn lenient_forms_are_accepted() -> Result<(), Error> {
    let lab = Lab::new("lenient")?;
    let _workers = lab.start_workers(1, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    for request in ["7\n", "7\r\n", " 7 ", "+7", "007", "\t+0007\r\n"] {
        assert_eq!(ask_text(lb.port, request)?, "5040", "{request:?}");
    }
    Ok(())
}

/// `-0`, `+0` and `-000` are zero, so 0! = 1; `-01` is still a negative number.
#[test]
fn minus_zero_is_zero() -> Result<(), Error> {
    let lab = Lab::new("minus-zero")?;
    let workers = lab.start_workers(1, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    for port in [lb.port, workers[0].port] {
        for request in ["-0", "+0", "-000"] {
            assert_eq!(ask_text(port, request)?, "1", "{request:?} to {port}");
        }
        assert!(ask_text(port, "-01")?.starts_with("Error: negative number"));
    }
    Ok(())
}

/// A client that connects and sends nothing, or stops part-way, gets `Error: request timed
/// out` after --timeout, and the servers go on.
#[test]
fn silent_clients_time_out() -> Result<(), Error> {
    let lab = Lab::new("silent")?;
    let workers = lab.start_workers(2, &["--timeout", "1"])?;
    let lb = lab.start_load_balancer(&["--timeout", "1"])?;
    for port in [lb.port, workers[0].port] {
        let timed_out = "Error: request timed out: the whole request must arrive within 1 s \
                         (--timeout)";
        assert_eq!(ask_text(port, "")?, timed_out);
        assert_eq!(ask_text(port, "  ")?, timed_out);
    }
    all_still_serve(&workers, &lb)
}

/// A client that goes away before its answer costs nothing else.
#[test]
fn vanishing_clients_cost_nothing() -> Result<(), Error> {
    let lab = Lab::new("vanishing")?;
    let mut workers = lab.start_workers(2, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    for port in [lb.port, workers[0].port] {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| Error::new(e.to_string()))?;
        stream
            .write_all(b"20000")
            .map_err(|e| Error::new(e.to_string()))?;
        drop(stream);
    }
    // Both 20000! were computed for nobody; the workers say so and go on.
    workers[0]
        .process
        .wait_for("Worker received number: 20000", PATIENCE)?;
    all_still_serve(&workers, &lb)
}

/// A Python client that sends 12 and then resets its connection (SO_LINGER 0, as a client
/// killed with its socket in that state does) before the worker answers: the load balancer's
/// log says it could not answer, and not also that it sent the answer.
#[test]
fn an_answer_that_cannot_be_sent_is_not_logged_as_sent() -> Result<(), Error> {
    if harness::lab::python_lab_dir().is_err() {
        harness::lab::say_skipped(
            "an_answer_that_cannot_be_sent_is_not_logged_as_sent",
            "python3 makes the reset",
        );
        return Ok(());
    }
    let lab = Lab::new("unsent")?;
    // A worker that answers only when the test says so.
    let (listener, worker_port) = harness::lab::bind_loopback()?;
    let (open_gate, gate) = std::sync::mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 16];
        let _ = conn.read(&mut request).unwrap();
        gate.recv().unwrap();
        let _ = conn.write_all(b"479001600");
    });
    std::fs::write(lab.registry(), format!("{worker_port}\n")).unwrap();
    let mut lb = lab.start_load_balancer(&[])?;
    let script = format!(
        "import socket, struct, sys\n\
         s = socket.create_connection(('127.0.0.1', {}))\n\
         s.sendall(b'12')\n\
         sys.stdin.readline()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n\
         s.close()\n\
         print('reset', flush=True)\n",
        lb.port
    );
    // Python 3 as python_lab_dir found it: `python3`, or `python` on Windows.
    let mut command = std::process::Command::new(harness::lab::python().unwrap_or("python3"));
    command.args(["-c", &script]);
    let mut client = lab.start("client", command)?;
    lb.process
        .wait_for("Received request for factorial of 12", PATIENCE)?;
    client.type_in("\n")?;
    client.wait_for("reset", PATIENCE)?;
    open_gate.send(()).unwrap();
    worker.join().unwrap();
    lb.process
        .wait_for("Could not answer the client", PATIENCE)?;
    // Any line that would follow it comes at once; wait until the load balancer is quiet.
    let lines = lb
        .process
        .drain_when_quiet(std::time::Duration::from_millis(300), PATIENCE);
    assert!(
        !lines
            .iter()
            .any(|l| l.text.starts_with("Response sent to client")),
        "{lines:#?}"
    );
    Ok(())
}

/// 50 idle connections to the load balancer and 50 to a worker do not hold up a normal
/// request: each connection has its own thread.
#[test]
fn idle_connections_do_not_block_others() -> Result<(), Error> {
    let lab = Lab::new("idle")?;
    let workers = lab.start_workers(1, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    let mut idle = Vec::new();
    for port in [lb.port, workers[0].port] {
        for _ in 0..50 {
            idle.push(
                TcpStream::connect(("127.0.0.1", port)).map_err(|e| Error::new(e.to_string()))?,
            );
        }
    }
    all_still_serve(&workers, &lb)?;
    // Every idle connection is still open and unanswered: nothing was closed to serve others.
    for stream in &idle {
        stream.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        let read = (&*stream).read(&mut byte);
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "an idle connection was answered or closed: {read:?}"
        );
    }
    Ok(())
}

/// A registry with two dead entries, garbage lines and one live worker: 100 requests get 100
/// correct answers; each dead worker is marked down once and each bad line reported once.
#[test]
fn dead_entries_and_garbage_in_the_registry() -> Result<(), Error> {
    let lab = Lab::new("messy-registry")?;
    let dead = dead_addresses(2);
    let (line1, line2) = (dead[0].registry_line(), dead[1].registry_line());
    let messy = format!("# workers\n{line1}\ngarbage\n\n70000\n{line2}\n{line1}\n");
    std::fs::write(lab.registry(), messy).map_err(|e| Error::new(e.to_string()))?;
    let _live = lab.start_worker("worker", &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    for n in 0..100u64 {
        assert_eq!(
            ask_text(lb.port, &(n % 30).to_string())?,
            factorial_digits(n % 30)
        );
    }
    lb.wait_for_forwards(100)?;
    let lines = lb.process.stdout_lines();
    let count = |text: &str| lines.iter().filter(|l| l.contains(text)).count();
    for worker in &dead {
        assert_eq!(
            count(&format!("Worker {worker} marked down")),
            1,
            "{lines:#?}"
        );
    }
    assert_eq!(count("Skipping line 3 of"), 1, "{lines:#?}");
    assert_eq!(count("Skipping line 5 of"), 1, "{lines:#?}");
    Ok(())
}

/// A missing registry file means no workers; a registry of dead workers only means the lab's
/// `Error: Worker communication failed.` once every one was tried.
#[test]
fn no_live_worker_answers_the_lab_errors() -> Result<(), Error> {
    let lab = Lab::new("no-live-worker")?;
    let lb = lab.start_load_balancer(&[])?;
    assert_eq!(ask_text(lb.port, "5")?, "Error: No workers available.");
    std::fs::write(lab.registry(), format!("{}\n", dead_entries_text(2)))
        .map_err(|e| Error::new(e.to_string()))?;
    for _ in 0..3 {
        assert_eq!(
            ask_text(lb.port, "5")?,
            "Error: Worker communication failed."
        );
    }
    Ok(())
}

/// A worker that dies with the request (it reads it and closes without a word, as a worker
/// killed while computing does): the load balancer sends the request to another worker and
/// the client still gets the right answer.
#[test]
fn a_worker_that_dies_with_the_request_is_bypassed() -> Result<(), Error> {
    let lab = Lab::new("dies")?;
    let dying = FakeWorker::start(Misbehaviour::Close)?;
    let worker = lab.start_worker("worker", &["--registry", "live.txt"])?;
    std::fs::write(lab.registry(), format!("{}\n{}\n", dying.port, worker.port))
        .map_err(|e| Error::new(e.to_string()))?;
    let mut lb = lab.start_load_balancer(&[])?;
    // Round-robin gives the first request to the dying worker.
    assert_eq!(ask_text(lb.port, "1000")?, factorial_digits(1000));
    // Besides any health check (`1`), which may come once it is marked down.
    let requests: Vec<String> = dying.received().into_iter().filter(|r| r != "1").collect();
    assert_eq!(requests, ["1000"]);
    lb.process.wait_for(
        &format!(
            "Error communicating with worker ('127.0.0.1', {}): closed without an answer",
            dying.port
        ),
        PATIENCE,
    )?;
    // The answer came from the live worker. Its line may come before the dying worker's (on a
    // slow machine the dying one closes after the load balancer has asked the live one too,
    // a second later), or after it.
    let forwarded = |port: u16| format!("Forwarded to worker ('127.0.0.1', {port})");
    if !lb
        .process
        .printed()
        .iter()
        .any(|l| l.contains(&forwarded(worker.port)))
    {
        lb.process.wait_for(&forwarded(worker.port), PATIENCE)?;
    }
    let printed = lb.process.printed();
    assert!(
        !printed.iter().any(|l| l.contains(&forwarded(dying.port))),
        "{printed:#?}"
    );
    Ok(())
}

/// Over --max-connections, with every place taken by a request in progress, the load
/// balancer answers `Error: server busy` at once, without a thread for the newcomer.
#[test]
fn overload_is_refused_with_server_busy() -> Result<(), Error> {
    let lab = Lab::new("overload")?;
    let slow = FakeWorker::start(Misbehaviour::Slow)?;
    std::fs::write(lab.registry(), format!("{}\n", slow.port))
        .map_err(|e| Error::new(e.to_string()))?;
    let mut lb = lab.start_load_balancer(&["--max-connections", "2"])?;
    // Two requests in progress at the slow worker take both places.
    let _first = ask_in_background(lb.port, "5");
    let _second = ask_in_background(lb.port, "6");
    lb.process
        .wait_for("Received request for factorial of", PATIENCE)?;
    lb.process
        .wait_for("Received request for factorial of", PATIENCE)?;
    assert_eq!(ask_text(lb.port, "7")?, "Error: server busy");
    lb.process.wait_for("Busy (2 open): refused", PATIENCE)?;
    Ok(())
}

/// A worker marked down is tried again after its cool-down: restarted on its old port, it is
/// logged as back up and serves again.
#[test]
fn a_restarted_worker_is_back_after_its_cooldown() -> Result<(), Error> {
    let lab = Lab::new("back-up")?;
    let mut workers = lab.start_workers(2, &[])?;
    let mut lb = lab.start_load_balancer(&["--cooldown", "0.2"])?;
    let port = workers[0].port;
    workers[0].process.kill();
    // Round-robin reaches the dead worker within two requests; both still get answers.
    for n in [5u64, 6] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    lb.process.wait_for(
        &format!("Worker ('127.0.0.1', {port}) marked down"),
        PATIENCE,
    )?;

    let _again = lab.start_worker("worker 1 again", &["--port", &port.to_string()])?;
    // Keep asking until the cool-down has passed and a request reaches the worker again.
    let back_up = format!("Worker ('127.0.0.1', {port}) is back up");
    let mut asked = 0;
    while !lb.process.drain().iter().any(|line| line.text == back_up) {
        assert_eq!(ask_text(lb.port, "7")?, "5040");
        asked += 1;
        assert!(asked < 100_000, "never back up");
    }
    Ok(())
}

/// A server at its cap frees a connection's place before closing it: clients that connect
/// again the moment they have their answers are served, never told the server is busy. (As
/// many clients as the cap allows, each asking again and again: when the place was freed only
/// after the close, some request met its own previous connection still counted, every run.)
#[test]
fn at_the_cap_clients_may_reconnect_at_once() -> Result<(), Error> {
    const CLIENTS: usize = 8;
    let lab = Lab::new("reconnect")?;
    let worker = lab.start_worker("worker", &["--max-connections", &CLIENTS.to_string()])?;
    let port = worker.port;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || -> Result<(), Error> {
                for n in 0..2000u64 {
                    assert_eq!(
                        ask_text(port, &(n % 20).to_string())?,
                        factorial_digits(n % 20)
                    );
                }
                Ok(())
            })
        })
        .collect();
    for client in clients {
        client.join().map_err(|_| Error::new("a client failed"))??;
    }
    Ok(())
}

/// A worker that answers and keeps its connection open (a server written to take several
/// requests on one connection): its answer is whole once all of n!'s digits have come, so the
/// load balancer relays it at once, as load_balancer.py's one `recv` does, instead of waiting
/// for a close until --worker-timeout. The worker stays up.
#[test]
fn a_worker_that_keeps_its_connection_open_is_answered() -> Result<(), Error> {
    let lab = Lab::new("keeps-open")?;
    let keeps_open = FakeWorker::start(Misbehaviour::KeepOpen)?;
    std::fs::write(lab.registry(), format!("{}\n", keeps_open.port))
        .map_err(|e| Error::new(e.to_string()))?;
    let mut lb = lab.start_load_balancer(&[])?;
    for n in [12u64, 0, 20, 500, 3000] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    lb.wait_for_forwards(5)?;
    let down = lb.lines_marking_workers_down();
    assert!(down.is_empty(), "{down:#?}");
    Ok(())
}

/// Workers with different --max-n: a request above one worker's limit is handed on to a
/// worker that takes it (a worker's own limit is no fault of the request's), so every client
/// gets n! whoever's turn it is; the refusal reaches the client only when every worker refused.
#[test]
fn a_request_above_one_workers_limit_goes_to_another() -> Result<(), Error> {
    let lab = Lab::new("mixed-limits")?;
    let _small = lab.start_worker("small worker", &["--max-n", "20000"])?;
    let _large = lab.start_workers(2, &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    for _ in 0..3 {
        assert_eq!(ask_text(lb.port, "20001")?, factorial_digits(20001));
    }
    assert_eq!(
        ask_text(lb.port, "100001")?,
        "Error: 100001 is above this worker's limit of 100000"
    );
    let refused = "refused: Error: 20001 is above this worker's limit of 20000";
    lb.process.wait_for(refused, PATIENCE)?;
    Ok(())
}

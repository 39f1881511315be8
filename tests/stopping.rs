//! End to end: stopping a server with requests in flight. SIGTERM (a restart by a service
//! manager, `docker stop`, `kill`) and Ctrl-C stop it accepting, and the requests it took are
//! finished before it ends. docs/reliability.md names the test for each row.
#![cfg(unix)] // signals by name, through `kill`
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, ask_in_background};

/// A worker of the test's own that holds every request until `released`, then answers n!:
/// requests stay in flight for as long as the test chooses. Health checks (`1`) are answered
/// at once. Returns its port.
fn held_until(released: &Arc<AtomicBool>) -> u16 {
    let released = Arc::clone(released);
    harness::peers::answering(move |n| {
        while n != 1 && !released.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(10));
        }
        factorial_digits(n).into_bytes()
    })
    .unwrap()
}

/// Ten requests in flight when the load balancer gets SIGTERM, and again with Ctrl-C
/// (SIGINT): it stops accepting (a new connection is refused), says it is finishing them,
/// relays all ten answers once the worker gives them, and then ends as the signal would have
/// ended it. It used to die at once, and all ten clients got nothing.
#[test]
fn a_stopped_load_balancer_finishes_the_requests_it_took() -> Result<(), Error> {
    const IN_FLIGHT: u64 = 10;
    for signal in ["TERM", "INT"] {
        let lab = Lab::new("stopping")?;
        let released = Arc::new(AtomicBool::new(false));
        std::fs::write(lab.registry(), format!("{}\n", held_until(&released))).unwrap();
        let mut command = lab.command("load_balancer")?;
        command.args(["--port", "0"]);
        harness::process::with_ctrl_c(&mut command);
        let mut lb = lab.start_server("load_balancer", command, "Load Balancer listening on ")?;
        let asked: Vec<_> = (0..IN_FLIGHT)
            .map(|n| ask_in_background(lb.port, &(n + 10).to_string()))
            .collect();
        for _ in 0..IN_FLIGHT {
            lb.process.wait_for("Received request", PATIENCE)?;
        }
        lb.process.signal(signal)?;
        lb.process.wait_for(
            &format!("Stopping: finishing {IN_FLIGHT} connection(s) in progress"),
            PATIENCE,
        )?;
        assert!(
            TcpStream::connect(("127.0.0.1", lb.port)).is_err(),
            "SIG{signal}: still accepting"
        );
        released.store(true, Ordering::Release);
        for (n, answer) in (10u64..).zip(asked) {
            assert_eq!(answer.answer()?, factorial_digits(n), "SIG{signal}, {n}!");
        }
        let status = lb.process.wait_for_exit(PATIENCE)?;
        let number = if signal == "TERM" { 15 } else { 2 };
        assert_eq!(status.signal(), Some(number), "SIG{signal}: {status}");
    }
    Ok(())
}

/// An idle load balancer and worker stopped by SIGTERM end at once, as before, with nothing
/// more printed: the graceful stop costs a lab nothing when nothing is in flight.
#[test]
fn an_idle_server_stops_at_once() -> Result<(), Error> {
    let lab = Lab::new("stopping-idle")?;
    let mut worker = lab.start_worker("worker", &["--threads", "reuse"])?;
    let mut lb = lab.start_load_balancer(&[])?;
    for server in [&mut worker, &mut lb] {
        let before = server.process.printed();
        server.process.signal("TERM")?;
        let status = server.process.wait_for_exit(PATIENCE)?;
        assert_eq!(status.signal(), Some(15), "{status}");
        assert_eq!(server.process.printed(), before);
    }
    Ok(())
}

/// A worker whose `--max-n` was raised, asked for 2,000,000! through a load balancer that
/// gives up on it after a second (`--worker-timeout 1`): once the client has its error, the
/// load balancer's connection to the worker is closed, and the worker stops computing at its
/// next step instead of going on for minutes and hundreds of megabytes for nobody. (It used
/// to compute to the end: 10,000,000! kept two workers at 200 MB each long after the client's
/// error.)
#[test]
fn a_worker_stops_computing_for_an_asker_that_has_gone() -> Result<(), Error> {
    let lab = Lab::new("asker-gone")?;
    let mut worker = lab.start_worker("worker", &["--max-n", "3000000"])?;
    let lb = lab.start_load_balancer(&["--worker-timeout", "1"])?;
    let answer = harness::lab::ask_text(lb.port, "2000000")?;
    assert!(answer.starts_with("Error: "), "{answer}");
    worker.process.wait_for(
        "Worker stopped computing 2000000!: the connection closed before the answer",
        PATIENCE,
    )?;
    Ok(())
}

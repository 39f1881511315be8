//! End to end: the load balancer's three strategies, over real and fake workers.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::collections::HashMap;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, Server, ask_in_background, ask_text};
use harness::peers::{FakeWorker, Misbehaviour};

/// Starts three workers and a load balancer with `--strategy strategy`, sends `requests`
/// requests one after another, and returns how many each worker served, by port.
fn serve(strategy: &str, requests: u64) -> Result<(Vec<Server>, HashMap<u16, usize>), Error> {
    let lab = Lab::new(strategy)?;
    let workers = lab.start_workers(3, &[])?;
    let mut lb = lab.start_load_balancer(&["--strategy", strategy])?;
    for n in 0..requests {
        assert_eq!(
            ask_text(lb.port, &(n % 25).to_string())?,
            factorial_digits(n % 25)
        );
    }
    let mut served = HashMap::new();
    for port in lb.wait_for_forwards(requests as usize)? {
        *served.entry(port).or_insert(0) += 1;
    }
    Ok((workers, served))
}

/// Round-robin serves 90 requests as 30/30/30.
#[test]
fn round_robin_shares_evenly() -> Result<(), Error> {
    let (workers, served) = serve("round-robin", 90)?;
    for worker in &workers {
        assert_eq!(served.get(&worker.port), Some(&30), "{served:?}");
    }
    Ok(())
}

/// Random and least-connections each use every worker: random by chance (90 random picks miss
/// one of three workers with a chance of about 10^-15), least-connections because ties go
/// round-robin when no worker is busy.
#[test]
fn random_and_least_connections_use_every_worker() -> Result<(), Error> {
    for strategy in ["random", "least-connections"] {
        let (workers, served) = serve(strategy, 90)?;
        for worker in &workers {
            let used = served.get(&worker.port).is_some_and(|&n| n > 0);
            assert!(used, "{strategy}: {served:?}");
        }
    }
    Ok(())
}

/// Least-connections sends small requests around a worker busy with a long one. The busy
/// worker is a fake that holds every request but answers health checks, and counts what it
/// reads, so the test knows exactly what reached it.
#[test]
fn least_connections_bypasses_a_busy_worker() -> Result<(), Error> {
    let lab = Lab::new("least-busy")?;
    let busy = FakeWorker::start(Misbehaviour::Slow)?;
    let worker = lab.start_worker("worker", &["--registry", "live.txt"])?;
    std::fs::write(lab.registry(), format!("{}\n{}\n", busy.port, worker.port))
        .map_err(|e| Error::new(e.to_string()))?;
    // --worker-timeout 2: the long request gives up on the busy worker and goes to the other.
    let mut lb =
        lab.start_load_balancer(&["--strategy", "least-connections", "--worker-timeout", "2"])?;
    // Ties go round-robin from the first worker: the long request goes to the busy one.
    let long = ask_in_background(lb.port, "30");
    lb.process
        .wait_for("Received request for factorial of 30", PATIENCE)?;
    while busy.requests() == 0 {
        std::thread::yield_now();
    }
    // From 2 up: `1` is the load balancer's health check, which may reach the busy worker
    // once the long request has waited a second (it is hedged, and the busy one checked).
    for n in 2..12u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    assert_eq!(lb.wait_for_forwards(10)?, vec![worker.port; 10]);
    let requests: Vec<String> = busy.received().into_iter().filter(|r| r != "1").collect();
    assert_eq!(
        requests,
        ["30"],
        "only the long request reached the busy worker"
    );
    assert_eq!(long.answer()?, factorial_digits(30));
    Ok(())
}

/// When every worker is down, requests still try them in round-robin order, not always the
/// first in the registry: three fake workers that close without answering are all marked
/// down, and the next three requests each start at a different one.
#[test]
fn round_robin_is_kept_among_down_workers() -> Result<(), Error> {
    let lab = Lab::new("down-order")?;
    let dying = [(); 3].map(|()| FakeWorker::start(Misbehaviour::Close).unwrap());
    let lines: Vec<String> = dying.iter().map(|d| d.port.to_string()).collect();
    std::fs::write(lab.registry(), lines.join("\n") + "\n")
        .map_err(|e| Error::new(e.to_string()))?;
    // A long cool-down: no health check brings any of them back during the test.
    let mut lb = lab.start_load_balancer(&["--cooldown", "3600"])?;
    // Two requests, two failed attempts each: all three are marked down.
    for _ in 0..2 {
        ask_text(lb.port, "5")?;
    }
    for _ in 0..4 {
        lb.process
            .wait_for("Error communicating with worker", PATIENCE)?;
    }
    let down = lb
        .process
        .drain()
        .iter()
        .filter(|l| l.text.contains("marked down"))
        .count();
    assert_eq!(down, 3);
    let mut first_tried = Vec::new();
    for _ in 0..3 {
        let answer = ask_text(lb.port, "5")?;
        assert!(
            answer.starts_with("Error: Worker communication failed"),
            "{answer}"
        );
        let line = lb
            .process
            .wait_for("Error communicating with worker", PATIENCE)?;
        first_tried.push(line);
        // The request's second attempt.
        lb.process
            .wait_for("Error communicating with worker", PATIENCE)?;
    }
    let distinct: std::collections::HashSet<&String> = first_tried.iter().collect();
    assert_eq!(distinct.len(), 3, "{first_tried:#?}");
    Ok(())
}

//! End to end: the load balancer's three strategies, over three real workers.

use std::collections::HashMap;

use common::error::Error;
use common::factorial::factorial_digits;
use lab::lab::{Lab, PATIENCE, Server, ask_in_background, ask_text};

/// Starts three workers and a load balancer with `--strategy strategy`, sends `requests`
/// requests one after another, and returns how many each worker served, by port.
fn serve(strategy: &str, requests: u64) -> Result<(Vec<Server>, HashMap<u16, usize>), Error> {
    let lab = Lab::new(strategy, false)?;
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

/// Least-connections sends small requests around a worker busy with a large one.
#[test]
fn least_connections_bypasses_a_busy_worker() -> Result<(), Error> {
    let lab = Lab::new("least-busy", false)?;
    let mut workers = lab.start_workers(2, &[])?;
    let mut lb = lab.start_load_balancer(&["--strategy", "least-connections"])?;
    let port = lb.port;
    let large = ask_in_background(port, "100000");
    // The first request goes to worker 1 (ties go round-robin); wait until it computes.
    workers[0]
        .process
        .wait_for("Worker received number: 100000", PATIENCE)?;
    for n in 0..10u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let served = lb.wait_for_forwards(10)?;
    // Worker 1 may have finished by now, but while it was busy no small request reached it.
    let busy = workers[0].process.stdout_lines();
    let received: Vec<&String> = busy
        .iter()
        .filter(|l| l.starts_with("Worker received number"))
        .collect();
    assert_eq!(received.len(), 1, "worker 1 got a small request: {busy:?}");
    assert_eq!(served, vec![workers[1].port; 10]);
    let answer = large.answer()?;
    assert!(
        answer == factorial_digits(100000),
        "wrong answer of {} bytes",
        answer.len()
    );
    Ok(())
}

//! End to end, on one machine: what a lab spread over several machines relies on. A worker
//! says what address to register (`--advertise`) or prints its registry line for a lab
//! without a shared folder (`--print-registry-line`); a worker appending to a hand-written
//! registry starts a line of its own. tests/multi_host.rs runs the same across network
//! namespaces, and tests/production.rs behind HAProxy and nginx.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::fs;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, ask_text, free_port};

/// Runs a worker with `args` to its end (it must end: these flags make it refuse or print).
fn run_worker(lab: &Lab, args: &[&str]) -> Result<harness::Finished, Error> {
    let mut command = lab.command("worker")?;
    command.args(args);
    lab.run_to_end("worker", command, None)
}

/// A worker told to listen on every address (0.0.0.0 or ::) without `--advertise` refuses to
/// start, says to pass `--advertise`, and registers nothing: `0.0.0.0:PORT` in the registry
/// would send the load balancer to itself.
#[test]
fn a_worker_on_every_address_must_be_told_what_to_advertise() -> Result<(), Error> {
    let lab = Lab::new("advertise-needed")?;
    for every in ["0.0.0.0", "::"] {
        let refused = run_worker(&lab, &["--host", every])?;
        assert_eq!(refused.status.code(), Some(2), "{refused:?}");
        assert!(
            refused.stderr[0].contains("pass --advertise HOST"),
            "{refused:?}"
        );
    }
    assert!(!lab.registry().exists());
    Ok(())
}

/// `--advertise` sets what the worker writes to the registry, and the load balancer reaches
/// the worker there: `localhost:PORT` for a worker on 127.0.0.1 told to advertise its name.
/// A worker on 127.0.0.1 without it keeps writing the bare port, the Python format.
#[test]
fn a_worker_registers_the_address_it_advertises() -> Result<(), Error> {
    let lab = Lab::new("advertise")?;
    let plain = lab.start_worker("worker 1", &[])?;
    let named = lab.start_worker("worker 2", &["--advertise", "localhost"])?;
    let registry = fs::read_to_string(lab.registry()).unwrap();
    assert_eq!(
        registry,
        format!("{}\nlocalhost:{}\n", plain.port, named.port)
    );
    let mut lb = lab.start_load_balancer(&[])?;
    for n in [5u64, 6] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    assert_eq!(lb.wait_for_forwards(2)?, [plain.port, named.port]);
    Ok(())
}

/// `--print-registry-line` prints exactly the registry line and exits 0, binding and
/// registering nothing; the line, put in a registry by hand, brings the worker started next
/// with the same flags into the lab. Without `--port` it refuses: the line needs the port.
#[test]
fn a_worker_prints_its_registry_line_for_a_lab_without_a_shared_folder() -> Result<(), Error> {
    let lab = Lab::new("print-line")?;
    let port = free_port()?.to_string();
    let printed = run_worker(&lab, &["--port", &port, "--print-registry-line"])?;
    assert!(printed.status.success(), "{printed:?}");
    assert_eq!(printed.stdout, std::slice::from_ref(&port));
    let named = [
        "--advertise",
        "localhost",
        "--port",
        &port,
        "--print-registry-line",
    ];
    let printed_named = run_worker(&lab, &named)?;
    assert_eq!(printed_named.stdout, [format!("localhost:{port}")]);
    assert!(!lab.registry().exists(), "printing registered the worker");
    let refused = run_worker(&lab, &["--print-registry-line"])?;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(refused.stderr[0].contains("needs --port"), "{refused:?}");

    // The instructor's registry: the printed line, written by hand (no newline at its end).
    fs::write(lab.registry(), &printed_named.stdout[0]).unwrap();
    let worker = lab.start_worker("worker", &["--registry", "own.txt", "--port", &port])?;
    let lb = lab.start_load_balancer(&[])?;
    assert_eq!(ask_text(lb.port, "12")?, factorial_digits(12));
    assert_eq!(worker.port.to_string(), port);
    Ok(())
}

/// A worker registering in a registry whose last line has no newline (`printf 5001 >`, as a
/// person adds a worker by hand) writes its own line below it: both workers serve.
#[test]
fn a_worker_appends_below_a_hand_written_last_line() -> Result<(), Error> {
    let lab = Lab::new("append-below")?;
    let first = lab.start_worker("worker 1", &[])?;
    fs::write(lab.registry(), first.port.to_string()).unwrap();
    let second = lab.start_worker("worker 2", &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    for n in [5u64, 6] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let mut served = lb.wait_for_forwards(2)?;
    served.sort_unstable();
    let mut expected = [first.port, second.port];
    expected.sort_unstable();
    assert_eq!(
        served,
        expected,
        "{}",
        fs::read_to_string(lab.registry()).unwrap()
    );
    Ok(())
}

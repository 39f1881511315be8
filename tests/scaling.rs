//! End to end, on one machine: what a lab spread over several machines relies on. A worker
//! says what address to register (`--advertise`) or prints its registry line for a lab
//! without a shared folder (`--print-registry-line`); a worker appending to a hand-written
//! registry starts a line of its own. tests/multi_host.rs runs the same across network
//! namespaces, and tests/production.rs behind HAProxy and nginx.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::fs;

use common::error::Error;
use common::factorial::factorial_digits;
use lab::lab::{Lab, ask_text};

/// A worker registering in a registry whose last line has no newline (`printf 5001 >`, as a
/// person adds a worker by hand) writes its own line below it: both workers serve.
#[test]
fn a_worker_appends_below_a_hand_written_last_line() -> Result<(), Error> {
    let lab = Lab::new("append-below", false)?;
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

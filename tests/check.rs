//! `lab check`, run as a student runs it: on our worker and load balancer every row passes,
//! whether they are started by the check or running already. The other direction, the Python
//! lab failing exactly its known faults and passing once fixed as the guide hints, is
//! experiment 9 of tests/lab_guide.rs, which runs the guide's commands; together they keep the
//! checker from drifting into always-green or always-red.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

mod support;

use std::net::TcpListener;

use lab::lab::{Lab, ask_text};
use lab::peers::{FakeWorker, Misbehaviour};
use lab::process::program_path;
use support::*;

fn path_of(program: &str) -> String {
    program_path(program).unwrap().display().to_string()
}

/// Our worker holds every property a worker can be checked for.
#[test]
fn our_worker_passes_every_row() {
    let lab = Lab::new("check-our-worker").unwrap();
    let card = Card::run(lab.dir(), &["--worker", &path_of("worker")]);
    card.assert_rows(&[REGISTERS, SMALL, LONG, BIG, BAD, SLOW, WAITING], &[]);
}

/// Our load balancer, with our workers behind it, holds every property.
#[test]
fn our_load_balancer_passes_every_row() {
    let lab = Lab::new("check-our-lb").unwrap();
    let balancer = format!("{} --port 0", path_of("load_balancer"));
    let card = Card::run(lab.dir(), &["--load-balancer", &balancer]);
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
    let card = Card::run(lab.dir(), &args);
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
    let card = Card::run(lab.dir(), &["--address", &address]);
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
    let card = Card::run(lab.dir(), &["--address", &address]);
    card.assert_rows(&[], &[SMALL, LONG, BIG, BAD, SLOW, WAITING]);
    for evidence in [
        "asked for 0!: got \"42\" (2 bytes), where 0! is \"1\"",
        "sent \"abc\": got \"42\" (2 bytes), which is not an `Error: ` answer",
    ] {
        assert!(card.stdout.contains(evidence), "{}", card.stdout);
    }
}

/// A load balancer that cannot start (its port is taken) fails the first row with what it
/// printed, and the check stops there instead of failing every row the same way.
#[test]
fn a_load_balancer_that_cannot_start_stops_the_check() {
    let lab = Lab::new("check-no-start").unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let balancer = format!("{} --port {port}", path_of("load_balancer"));
    let card = Card::run(lab.dir(), &["--load-balancer", &balancer]);
    assert_eq!(card.code, Some(1), "{}", card.stdout);
    assert_eq!(card.rows("FAIL"), [SMALL], "{}", card.stdout);
    assert!(card.rows("pass").is_empty(), "{}", card.stdout);
    assert!(
        card.stdout.contains("another program listens there"),
        "{}",
        card.stdout
    );
    assert!(
        card.stdout.contains("0 of 10 properties hold."),
        "{}",
        card.stdout
    );
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
        let card = Card::run(lab.dir(), args);
        assert_eq!(card.code, Some(2), "{args:?}");
        assert!(card.stdout.is_empty(), "{args:?}: {}", card.stdout);
        let stderr = &card.stderr;
        assert!(stderr.starts_with("lab check: "), "{stderr}");
    }
}

/// A worker started through a wrapper (`sh -c "worker; true"`: the shell forks it and waits,
/// as `npm start` or a script without `exec` does) is stopped with the wrapper: `lab check`
/// kills a worker mid-run this way, and must not leave the real one serving, or running after
/// the check.
#[test]
fn a_worker_behind_a_wrapper_is_killed_with_it() {
    let lab = Lab::new("check-wrapper").unwrap();
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{}; true", path_of("worker")))
        .current_dir(lab.dir());
    let mut wrapper = lab
        .start_server("wrapped worker", command, "Worker listening on ")
        .unwrap();
    assert_eq!(ask_text(wrapper.port, "5").unwrap(), "120");
    wrapper.process.kill();
    let refused = std::net::TcpStream::connect(("127.0.0.1", wrapper.port));
    assert!(refused.is_err(), "the wrapped worker still listens");
}

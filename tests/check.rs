//! `lab check`, run as a student runs it: on our worker and load balancer every row passes, and
//! on the Python lab exactly its known faults fail (the cut 500!, the worker killed by `abc`,
//! the failed requests after a worker dies, the wait on a frozen worker, one connection at a
//! time in the worker). Both directions are checked, so the checker cannot drift into
//! always-green or always-red.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

mod support;

use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard};

use lab::lab::{Lab, python_lab_dir, python_reuseaddr_path, say_skipped};
use lab::process::program_path;
use support::*;

/// The Python load balancer knows only port 65432: the tests that start it take turns.
static PORT_65432: Mutex<()> = Mutex::new(());

/// Holds port 65432 for one test; a test that failed holding it leaves it usable.
fn port_65432() -> MutexGuard<'static, ()> {
    PORT_65432
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn path_of(program: &str) -> String {
    program_path(program).unwrap().display().to_string()
}

/// Our worker holds every property a worker can be checked for.
#[test]
fn our_worker_passes_every_row() {
    let lab = Lab::new("check-our-worker").unwrap();
    let card = Card::run(lab.dir(), &["--worker", &path_of("worker")], None);
    card.assert_rows(&[REGISTERS, SMALL, LONG, BAD, SLOW, WAITING], &[]);
}

/// Our load balancer, with our workers behind it, holds every property.
#[test]
fn our_load_balancer_passes_every_row() {
    let lab = Lab::new("check-our-lb").unwrap();
    let balancer = format!("{} --port 0", path_of("load_balancer"));
    let card = Card::run(lab.dir(), &["--load-balancer", &balancer], None);
    card.assert_rows(
        &[
            SMALL, LONG, BAD, SLOW, WAITING, IN_TURN, KILLED, FROZEN, ADDED,
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
    let card = Card::run(lab.dir(), &args, None);
    card.assert_rows(
        &[
            SMALL,
            LONG,
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
    let card = Card::run(lab.dir(), &["--address", &address], None);
    card.assert_rows(&[SMALL, LONG, BAD, SLOW, WAITING], &[]);
}

/// The Python worker fails exactly where its code says it would: it dies on `abc` (so every
/// later request is refused), and it serves one connection at a time. The evidence quotes
/// what it printed as it died.
#[test]
fn the_python_worker_fails_exactly_its_known_faults() {
    let python = match python_lab_dir() {
        Ok(dir) => dir,
        Err(why) => return say_skipped("the_python_worker_fails_exactly_its_known_faults", &why),
    };
    let lab = Lab::new("check-python-worker").unwrap();
    let worker = format!("python3 {}", python.join("worker_server.py").display());
    let card = Card::run(lab.dir(), &["--worker", &worker], None);
    card.assert_rows(&[REGISTERS, SMALL, LONG, WAITING], &[BAD, SLOW]);
    for evidence in [
        "sent \"abc\": got nothing: the connection closed without an answer",
        "ValueError: invalid literal for int() with base 10: 'abc'",
        "while another client was still typing, asked for 12!: no answer within 5 s",
    ] {
        assert!(card.stdout.contains(evidence), "{}", card.stdout);
    }
}

/// The Python load balancer, with Python workers behind it, fails exactly on its known
/// faults: 500! arrives cut at 1024 digits, bad requests kill the workers, a request sent to
/// a killed worker fails, and a frozen worker holds its request forever. It passes the rest.
#[test]
fn the_python_load_balancer_fails_exactly_its_known_faults() {
    let test = "the_python_load_balancer_fails_exactly_its_known_faults";
    let python = match python_lab_dir() {
        Ok(dir) => dir,
        Err(why) => return say_skipped(test, &why),
    };
    let lab = Lab::new("check-python-lb").unwrap();
    // It knows only port 65432, which an earlier test's connections may hold in TIME_WAIT;
    // SO_REUSEADDR lets it start anyway (a student would wait a minute).
    let reuseaddr = python_reuseaddr_path(lab.dir()).unwrap();
    let balancer = format!("python3 {}", python.join("load_balancer.py").display());
    let worker = format!("python3 {}", python.join("worker_server.py").display());
    let args = ["--load-balancer", &balancer, "--worker", &worker];
    let _port = port_65432();
    let card = Card::run(lab.dir(), &args, Some(&reuseaddr));
    card.assert_rows(
        &[SMALL, SLOW, WAITING, IN_TURN, ADDED],
        &[LONG, BAD, KILLED, FROZEN],
    );
    for evidence in [
        "asked for 500!: got its first 1024 digits of 1135: the answer was cut",
        "after worker 2 was killed, asked for 4!: got \"Error: Worker communication failed.\"",
        "with worker 2 frozen, asked for",
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
    let card = Card::run(lab.dir(), &["--load-balancer", &balancer], None);
    assert_eq!(card.output.status.code(), Some(1), "{}", card.stdout);
    assert_eq!(card.rows("FAIL"), [SMALL], "{}", card.stdout);
    assert!(card.rows("pass").is_empty(), "{}", card.stdout);
    assert!(
        card.stdout.contains("another program listens there"),
        "{}",
        card.stdout
    );
    assert!(
        card.stdout.contains("0 of 9 properties hold."),
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
        let card = Card::run(lab.dir(), args, None);
        assert_eq!(card.output.status.code(), Some(2), "{args:?}");
        assert!(card.stdout.is_empty(), "{args:?}: {}", card.stdout);
        let stderr = String::from_utf8_lossy(&card.output.stderr);
        assert!(stderr.starts_with("lab check: "), "{stderr}");
    }
}

/// The Python lab, fixed as docs/lab-guide.md's instructor hints say (a few lines in each
/// file), passes every row: the checker asks for what the lab should do, not for our code.
#[test]
fn the_python_lab_fixed_as_the_guide_hints_passes_every_row() {
    let test = "the_python_lab_fixed_as_the_guide_hints_passes_every_row";
    let python = match python_lab_dir() {
        Ok(dir) => dir,
        Err(why) => return say_skipped(test, &why),
    };
    let lab = Lab::new("check-python-fixed").unwrap();
    let fixes = lab.dir().join("fixed");
    std::fs::create_dir_all(&fixes).unwrap();
    let worker = fixes.join("worker_server.py");
    std::fs::write(&worker, fixed(&python, "worker_server.py", WORKER_FIXES)).unwrap();
    let balancer = fixes.join("load_balancer.py");
    let balancer_text = fixed(&python, "load_balancer.py", LOAD_BALANCER_FIXES);
    std::fs::write(&balancer, balancer_text).unwrap();
    let worker = format!("python3 {}", worker.display());
    let balancer = format!("python3 {}", balancer.display());

    let card = Card::run(lab.dir(), &["--worker", &worker], None);
    card.assert_rows(&[REGISTERS, SMALL, LONG, BAD, SLOW, WAITING], &[]);
    // Port 65432 may be in TIME_WAIT from an earlier test, as in the test above.
    let reuseaddr = python_reuseaddr_path(lab.dir()).unwrap();
    let args = ["--load-balancer", &balancer, "--worker", &worker];
    let _port = port_65432();
    let card = Card::run(lab.dir(), &args, Some(&reuseaddr));
    card.assert_rows(
        &[
            SMALL, LONG, BAD, SLOW, WAITING, IN_TURN, KILLED, FROZEN, ADDED,
        ],
        &[],
    );
}

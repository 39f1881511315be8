//! End to end: a server that cannot take its port says why, in words that say what to do.
//! Each test holds the port on purpose before starting the load balancer there.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::net::TcpListener;

use common::armour::error::Error;
use harness::lab::{Lab, port_in_time_wait, say_skipped};

/// Starts our load balancer on `port`, which must fail, and returns its stderr.
fn start_fails_on(lab: &Lab, port: u16) -> Result<String, Error> {
    let mut command = lab.command("load_balancer")?;
    command.args(["--port", &port.to_string()]);
    let finished = lab.run_to_end("load_balancer", command, None)?;
    assert_eq!(finished.status.code(), Some(1), "{finished:?}");
    Ok(finished.stderr.join("\n"))
}

/// A port where another program listens: the message says so, and to stop it or choose
/// another --port.
#[test]
fn a_port_someone_listens_on_is_named_as_taken() -> Result<(), Error> {
    let lab = Lab::new("port-taken")?;
    let holder = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let stderr = start_fails_on(&lab, port)?;
    assert!(
        stderr.contains("another program listens there; stop it or choose another --port"),
        "{stderr}"
    );
    Ok(())
}

/// A port held only by a connection in TIME_WAIT, left by a Python server without
/// SO_REUSEADDR: the message says that, and that it frees within a minute, instead of
/// suggesting to stop a program that is not there.
#[test]
fn a_port_held_in_time_wait_is_explained() -> Result<(), Error> {
    if harness::lab::python().is_none() {
        say_skipped(
            "a_port_held_in_time_wait_is_explained",
            "Python 3 is not installed (python3, python or py)",
        );
        return Ok(());
    }
    let lab = Lab::new("time-wait")?;
    let port = port_in_time_wait(&lab)?;

    let stderr = start_fails_on(&lab, port)?;
    assert!(stderr.contains("nothing listens there"), "{stderr}");
    assert!(stderr.contains("(TIME_WAIT)"), "{stderr}");
    assert!(stderr.contains("it frees within a minute"), "{stderr}");
    Ok(())
}

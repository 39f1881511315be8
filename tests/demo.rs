//! The one-command demo, run as an instructor would run it.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::Command;

/// The demo starts three workers, the load balancer and the client, shows every process's
/// lines tagged with its name, gets the three answers, and exits 0.
#[test]
fn demo_runs_the_whole_lab() {
    let output = Command::new(env!("CARGO_BIN_EXE_lab")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "[worker 1] Worker listening on 127.0.0.1:",
        "[worker 2] Worker listening on 127.0.0.1:",
        "[worker 3] Worker listening on 127.0.0.1:",
        "[load_balancer] Load Balancer listening on 127.0.0.1:",
        "[client] Factorial received: 479001600",
        "[client] Factorial received: 1307674368000",
        "[client] Factorial received: 5040",
        "[worker 1] Worker sent factorial: 479001600",
        "[worker 2] Worker sent factorial: 1307674368000",
        "[worker 3] Worker sent factorial: 5040",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
}

/// `--help` prints what the demo does and exits 0; an unknown argument is refused with exit
/// code 2 before anything is built or started.
#[test]
fn demo_takes_help_and_refuses_unknown_arguments() {
    let demo = |arg: &str| {
        Command::new(env!("CARGO_BIN_EXE_lab"))
            .arg(arg)
            .output()
            .unwrap()
    };
    for flag in ["--help", "-h"] {
        let output = demo(flag);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.starts_with("lab: runs the whole factorial lab"),
            "{help}"
        );
        assert!(help.contains("Usage: lab"), "{help}");
    }
    let output = demo("--bogus");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("lab: unknown argument \"--bogus\""),
        "{stderr}"
    );
    assert!(stderr.contains("Try 'lab --help'"), "{stderr}");
    assert!(output.stdout.is_empty(), "it started something");
}

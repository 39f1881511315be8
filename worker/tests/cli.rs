//! The worker's command line: help, and mistakes refused with exit code 2.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_worker"))
        .args(args)
        .output()
        .unwrap()
}

/// `--help` prints the usage on stdout and exits 0.
#[test]
fn help_prints_usage() {
    let output = run(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.starts_with("worker: "), "{help}");
    assert!(
        help.contains("Usage: worker [--host H] [--port P]"),
        "{help}"
    );
}

/// An unknown flag and a bad port are refused on stderr with exit code 2.
#[test]
fn mistakes_exit_with_code_2() {
    for (args, message) in [
        (&["--bogus"][..], "worker: unknown argument \"--bogus\""),
        (
            &["--port", "http"][..],
            "worker: bad value \"http\" for --port",
        ),
        (&["--port"][..], "worker: --port needs a value"),
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(message), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

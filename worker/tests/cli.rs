//! The worker's help. (tests/cli.rs at the top checks all three programs' mistakes.)
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::Command;

/// `--help` exits 0 and names every flag the worker takes.
#[test]
fn help_names_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_worker"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--host",
        "--advertise",
        "--print-registry-line",
        "--port",
        "--registry",
        "--fresh-registry",
        "--max-n",
        "--timeout",
        "--max-connections",
        "--threads",
        "--help",
    ] {
        assert!(help.contains(flag), "{flag} is missing from:\n{help}");
    }
}

//! The load_balancer's help. (tests/cli.rs at the top checks all three programs' mistakes.)
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::Command;

/// `--help` exits 0 and names every flag the load_balancer takes.
#[test]
fn help_names_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_load_balancer"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--host",
        "--port",
        "--registry",
        "--strategy",
        "--timeout",
        "--connect-timeout",
        "--worker-timeout",
        "--cooldown",
        "--max-connections",
        "--threads",
        "--print-haproxy-config",
        "--print-nginx-config",
        "--help",
    ] {
        assert!(help.contains(flag), "{flag} is missing from:\n{help}");
    }
}

//! `lab check`: the lab's properties, checked against any implementation of its protocol.

use std::process::ExitCode;

/// Runs `lab check` with the arguments after `check`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let _ = args;
    ExitCode::FAILURE
}

//! The whole lab in one command: `cargo run --release` at the top of the workspace.
//!
//! It does what a student does in the lab's three terminals: start three workers, then the
//! load balancer, then the client for 12, 15 and 7. Every program is a separate process and
//! every line it prints is shown tagged with its name (`[worker 1] ...`). The workers share a
//! private registry file in a scratch folder, so an old `worker_ports.txt` cannot interfere;
//! the load balancer takes the lab's port 65432, or a free one if 65432 is in use.

use std::process::ExitCode;

use common::cli::{self, Args, CliError};
use common::error::Error;
use common::{log, say};
use lab::lab::{Lab, PATIENCE, port_is_free};
use lab::process::build_programs;

/// The numbers the lab's write-up tries.
const NUMBERS: [&str; 3] = ["12", "15", "7"];

/// How many workers the lab's write-up starts.
const WORKERS: usize = 3;

/// What `lab --help` prints.
const HELP: &str = "\
lab: runs the whole factorial lab in one command (the demo)

Usage: lab            (or, from the workspace: cargo run --release)

Builds the worker, load balancer and client, starts three workers and the load balancer
(on 127.0.0.1:65432, or a free port if 65432 is taken) with a registry file in a scratch
folder, asks the client for 12!, 15! and 7!, shows every process's lines tagged with its
name, and stops them all.

Options:
  -h, --help    print this help

Exit codes: 0 when the three answers arrived, 1 when something failed, 2 for a bad argument.
";

/// The demo takes no arguments but `--help`; anything else is a mistake, not ignored.
fn parse_args(args: &mut Args) -> Result<(), CliError> {
    match args.next_arg() {
        None => Ok(()),
        Some(arg) if arg == "-h" || arg == "--help" => Err(CliError::HelpRequested),
        Some(arg) => Err(cli::unknown(&arg)),
    }
}

fn main() -> ExitCode {
    // `lab check …` grades an implementation of the lab (src/check/); anything else is the demo.
    if std::env::args().nth(1).as_deref() == Some("check") {
        return lab::check::main(std::env::args().skip(2));
    }
    cli::parse_or_exit("lab", HELP, parse_args);
    let result = run_demo();
    // Every process is stopped and the scratch folder gone by now; write out the last lines.
    log::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_demo() -> Result<(), Error> {
    build_programs()?;
    let lab = Lab::echoing("demo")?;
    say!("Registry file: {}", lab.registry().display());

    // Kept in scope to the end: dropping a server stops its process.
    let mut workers = Vec::new();
    for number in 1..=WORKERS {
        workers.push(lab.start_worker(&format!("worker {number}"), &[])?);
    }

    let port = if port_is_free(common::DEFAULT_LB_PORT) {
        common::DEFAULT_LB_PORT
    } else {
        say!(
            "Port {} is in use; the load balancer takes a free port.",
            common::DEFAULT_LB_PORT
        );
        0
    };
    let mut balancer = lab.start_load_balancer_on(port, &[])?;

    for number in NUMBERS {
        let finished = lab.run_client(balancer.port, &[number], None)?;
        if !finished.status.success() {
            return Err(Error::new(format!("the client failed for {number}")));
        }
        // Wait until the worker that served it and the load balancer have logged this answer,
        // so the output reads in order and no line is cut off when the demo stops them.
        let served_by = balancer.wait_for_forwards(1)?;
        if let Some(worker) = workers.iter_mut().find(|w| served_by.contains(&w.port)) {
            worker.process.wait_for("Worker sent factorial", PATIENCE)?;
        }
        balancer
            .process
            .wait_for("Response sent to client", PATIENCE)?;
    }
    say!(
        "Done: {} answers from {WORKERS} workers; stopping them all.",
        NUMBERS.len()
    );
    Ok(())
}

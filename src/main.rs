//! The whole lab in one command: `cargo run --release` at the top of the workspace.
//!
//! It does what a student does in the lab's three terminals: start three workers, then the
//! load balancer, then the client for 12, 15 and 7. Every program is a separate process and
//! every line it prints is shown tagged with its name (`[worker 1] ...`). The workers share a
//! private registry file in a scratch folder, so an old `worker_ports.txt` cannot interfere;
//! the load balancer listens on a free port, so the demo runs beside a lab started by hand.
//!
//! With `--fault` it sends more numbers and stops one worker half-way, as a student's Ctrl-C
//! would, to show the load balancer passing over the dead worker while every answer arrives.
//! With `--status` the load balancer serves its status page too, the demo prints its address,
//! asks one number a second so that the page can follow, and keeps the lab running for the
//! page until Ctrl-C.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use common::armour::error::Error;
use common::armour::log;
use common::extras::cli::{self, Args, CliError};
use common::factorial::factorial_digits;
use common::say;
use harness::lab::{Lab, PATIENCE, Server};
use harness::process::build_programs;

/// The numbers the lab's write-up tries.
const NUMBERS: [u64; 3] = [12, 15, 7];

/// The numbers `--fault` sends: the write-up's three and six more, so that four requests go
/// round the three workers before the stop and five go to the two left after it. All are
/// small, so every answer fits on one line of the terminal.
const FAULT_NUMBERS: [u64; 9] = [12, 15, 7, 10, 11, 13, 9, 8, 14];

/// After how many answers `--fault` stops a worker: past one full round of the three workers,
/// so the served lines show the round-robin turn before the failover breaks it. At least
/// [`WORKERS`], as choosing the worker reads the turn of the request that many back.
const STOP_AFTER: usize = 4;

/// How many workers the lab's write-up starts.
const WORKERS: usize = 3;

/// With `--status`, the pause before each request: the page is drawn again every second, so
/// each request shows on it before the next.
const PACE: Duration = Duration::from_secs(1);

/// How often the demo looks whether Ctrl-C was pressed, while the lab runs for the page.
const CTRL_C_POLL: Duration = Duration::from_millis(100);

/// What `lab --help` prints.
const HELP: &str = "\
lab: runs the whole factorial lab in one command (the demo)

Usage: lab [--fault] [--status]
       (or, from the workspace: cargo run --release [-- --fault --status])

Builds the worker, load balancer and client, starts three workers and the load balancer
(on a free port, not the lab's 65432, which it leaves as it found it) with a registry file in
a scratch folder, asks the client for 12!, 15! and 7!, shows every process's lines tagged
with its name, and stops them all.

Options:
  --fault       ask for nine numbers, and after the fourth answer stop the worker whose
                turn comes next, as Ctrl-C would: the load balancer marks it down and
                sends that request and the later ones to the two workers left
  --status      also serve the load balancer's status page and print its address, to open
                in a browser (a projector's); ask one number a second, so the page can
                follow; and keep the lab running after the last answer until Ctrl-C
  -h, --help    print this help

Exit codes: 0 when every answer arrived right, 1 when something failed, 2 for a bad argument.
";

/// Which run the demo gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// The lab's write-up: three numbers, every worker up.
    Plain,
    /// `--fault`: more numbers, and one worker stopped half-way.
    Fault,
}

/// What the command line chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Choice {
    run: Run,
    /// `--status`: the status page, a request a second, and the lab kept until Ctrl-C.
    status: bool,
}

/// The demo takes `--fault`, `--status` and `--help`; anything else is a mistake, not ignored.
fn parse_args(args: &mut Args) -> Result<Choice, CliError> {
    let mut choice = Choice {
        run: Run::Plain,
        status: false,
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "--fault" => choice.run = Run::Fault,
            "--status" => choice.status = true,
            "-h" | "--help" => return Err(CliError::HelpRequested),
            _ => return Err(cli::unknown(&arg)),
        }
    }
    Ok(choice)
}

/// Runs `lab check` or the demo, and turns the outcome into the exit code the help promises.
fn main() -> ExitCode {
    // `lab check …` grades an implementation of the lab (the grader crate, grader/); anything
    // else is the demo.
    if std::env::args().nth(1).as_deref() == Some("check") {
        return grader::main(std::env::args().skip(2));
    }
    let choice = cli::parse_or_exit("lab", HELP, parse_args);
    let result = run_demo(choice);
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

/// Starts the lab and gives the chosen run; dropping the lab at the end stops every process.
fn run_demo(choice: Choice) -> Result<(), Error> {
    build_programs()?;
    let lab = Lab::echoing("demo")?;
    say!("Registry file: {}", lab.registry().display());

    // Kept in scope to the end: dropping a server stops its process.
    let mut workers = lab.start_workers(WORKERS, &[])?;
    // On a free port (--port 0), not the lab's 65432: a lab of the instructor's may listen
    // there, and the connections a load balancer closes hold the port for a minute after it
    // stops, which would keep the Python load balancer out (it binds without SO_REUSEADDR).
    // The status page, if asked for, on a free port too.
    let status: &[&str] = if choice.status {
        &["--status", "127.0.0.1:0"]
    } else {
        &[]
    };
    let mut balancer = lab.start_load_balancer(status)?;
    let page = if choice.status {
        Some(page_address(&mut balancer)?)
    } else {
        None
    };
    if let Some(page) = &page {
        say!("The status page: open {page} in a browser to watch the lab.");
    }
    let pace = if choice.status { PACE } else { Duration::ZERO };

    let (answers, how) = match choice.run {
        Run::Plain => {
            for number in NUMBERS {
                thread::sleep(pace);
                ask(&lab, &balancer, number)?;
                wait_until_logged(&mut balancer, &mut workers)?;
            }
            (NUMBERS.len(), "")
        }
        Run::Fault => {
            run_with_fault(&lab, &mut balancer, &mut workers, pace)?;
            (FAULT_NUMBERS.len(), ", one of them stopped half-way")
        }
    };
    let Some(page) = page else {
        say!("Done: {answers} answers from {WORKERS} workers{how}; stopping them all.");
        return Ok(());
    };
    say!(
        "Done: {answers} answers from {WORKERS} workers{how}. The lab keeps running for the \
         status page at {page}; press Ctrl-C to stop it."
    );
    wait_for_ctrl_c();
    say!("Ctrl-C: stopping them all.");
    Ok(())
}

/// The status page's address, from the load balancer's `Status page at …` line.
fn page_address(balancer: &mut Server) -> Result<String, Error> {
    let line = balancer.process.wait_for("Status page at ", PATIENCE)?;
    line.split_once(" at ")
        .map(|(_, address)| address.to_string())
        .ok_or_else(|| Error::new(format!("no address in {line:?}")))
}

/// Sends every number of [`FAULT_NUMBERS`], `pace` apart, stopping a worker after
/// [`STOP_AFTER`] answers; for the request after the stop it waits for the load balancer's
/// "marked down" line too, so the failover reads in order before the next client starts.
fn run_with_fault(
    lab: &Lab,
    balancer: &mut Server,
    workers: &mut [Server],
    pace: Duration,
) -> Result<(), Error> {
    let mut served = Vec::new();
    for (index, number) in FAULT_NUMBERS.into_iter().enumerate() {
        if index == STOP_AFTER {
            stop_next_in_turn(workers, &served)?;
        }
        thread::sleep(pace);
        ask(lab, balancer, number)?;
        if index == STOP_AFTER {
            balancer.process.wait_for("marked down", PATIENCE)?;
        }
        served.push(wait_until_logged(balancer, workers)?);
    }
    Ok(())
}

/// Stops the worker whose round-robin turn comes next, as a student's Ctrl-C would (SIGINT),
/// and waits for it to exit, so the very next request shows the failover. `served` holds the
/// port that served each request so far; with every worker up, round-robin sends the next
/// request to the worker that served the one [`WORKERS`] requests back.
fn stop_next_in_turn(workers: &mut [Server], served: &[u16]) -> Result<(), Error> {
    let port = served
        .len()
        .checked_sub(WORKERS)
        .and_then(|back| served.get(back))
        .ok_or_else(|| Error::new("too few answers yet to know whose turn comes next"))?;
    let worker = workers
        .iter_mut()
        .find(|w| w.port == *port)
        .ok_or_else(|| Error::new(format!("no worker of ours listens on port {port}")))?;
    say!("Stopping {} (as Ctrl-C would) ...", worker.process.tag);
    match worker.process.interrupt()? {
        // A demo started with SIGINT ignored (`lab --fault &` in a script) passes that on.
        "TERM" => say!(
            "(it ignores Ctrl-C, as programs started in the background by a script do: SIGTERM)"
        ),
        // Windows without a console to send Ctrl-Break through (see harness::process).
        "KILL" => say!("(no console to send it Ctrl-Break through: ended outright instead)"),
        _ => {}
    }
    worker.process.wait_for_exit(PATIENCE)?;
    Ok(())
}

/// Runs the client for `number` and checks that it exited 0 with n! itself: the demo exits 0
/// only when every answer arrived right.
fn ask(lab: &Lab, balancer: &Server, number: u64) -> Result<(), Error> {
    let finished = lab.run_client(balancer.port, &[&number.to_string()], None)?;
    if !finished.status.success() {
        return Err(Error::new(format!("the client failed for {number}")));
    }
    let expected = format!("Factorial received: {}", factorial_digits(number));
    if !finished.stdout.contains(&expected) {
        return Err(Error::new(format!(
            "the client got a wrong answer for {number}: {:?}",
            finished.stdout
        )));
    }
    Ok(())
}

/// Waits until the worker that served the last request and the load balancer have logged its
/// answer, so the output reads in order and no line is cut off when the demo stops them.
/// Returns the port of the worker that served it.
fn wait_until_logged(balancer: &mut Server, workers: &mut [Server]) -> Result<u16, Error> {
    let served_by = balancer.wait_for_forwards(1)?;
    if let Some(worker) = workers.iter_mut().find(|w| served_by.contains(&w.port)) {
        worker.process.wait_for("Worker sent factorial", PATIENCE)?;
    }
    balancer
        .process
        .wait_for("Response sent to client", PATIENCE)?;
    served_by
        .first()
        .copied()
        .ok_or_else(|| Error::new("the load balancer named no worker"))
}

/// Waits until Ctrl-C is pressed. A terminal's Ctrl-C reaches every process of the demo: the
/// workers and the load balancer stop by themselves, and the demo, which catches it, then
/// removes its scratch folder and exits 0.
fn wait_for_ctrl_c() {
    ctrl_c::catch();
    while !ctrl_c::pressed() {
        thread::sleep(CTRL_C_POLL);
    }
}

/// Catching Ctrl-C (SIGINT), which std cannot do: the C library's `signal` installs a handler
/// that only sets a flag, the one thing a signal handler may safely do.
mod ctrl_c {
    use std::ffi::c_int;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// SIGINT's number on Linux (and every Unix), and in Windows' C library, where it stands
    /// for Ctrl-C.
    const SIGINT: c_int = 2;

    /// SIGBREAK, Ctrl-Break in Windows' C library: what a script (or our tests) can send to
    /// the demo's own console process group, where Ctrl-C reaches a whole console only.
    #[cfg(windows)]
    const SIGBREAK: c_int = 21;

    /// Set by the handler.
    static PRESSED: AtomicBool = AtomicBool::new(false);

    unsafe extern "C" {
        /// The C library's `signal`: the handler to run on `signum`; returns the old one.
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    }

    /// The handler: notes the press and returns, as a signal handler must.
    extern "C" fn on_interrupt(_: c_int) {
        PRESSED.store(true, Ordering::SeqCst);
    }

    /// From now on, Ctrl-C sets the flag instead of ending the demo.
    pub fn catch() {
        // SAFETY: `signal` stores the pointer to a handler with the C signature it expects
        // (one int, no result); the handler only stores to an atomic, which is safe at any
        // moment. Should it fail, Ctrl-C ends the demo as before, leaving its scratch folder.
        let _ = unsafe { signal(SIGINT, on_interrupt) };
        // SAFETY: as above.
        #[cfg(windows)]
        let _ = unsafe { signal(SIGBREAK, on_interrupt) };
    }

    /// True once Ctrl-C has been pressed.
    pub fn pressed() -> bool {
        PRESSED.load(Ordering::SeqCst)
    }
}

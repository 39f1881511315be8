//! The client: a port of the lab's `client.py`.
//!
//! Run it as `cargo run -p client` (or `client` once built) while the load balancer is up;
//! it asks for an integer, sends it, and prints `Factorial received: ...`. Give the number as
//! an argument (`client 12`) to skip the question.
//!
//! Beyond the Python: the whole answer is read, however long (client.py reads 1024 bytes); an
//! `Error: ` answer or an unreachable load balancer is reported on stderr with exit code 1,
//! so scripts can tell success from failure; an empty or blank number is refused before it is
//! sent; and the answer is awaited for `--timeout` (120 s), not forever.

use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use common::cli;
use common::error::{Context, Error, plain};
use common::protocol;

mod options;
use options::{HELP, Options, parse_args};

/// Asks the load balancer for n! and prints it (client.py lines 3–19).
fn start_client(options: &Options) -> Result<(), Error> {
    let (host, port) = (&options.host, options.port);
    let mut stream = TcpStream::connect((host.as_str(), port))
        .context(|| format!("cannot reach the load balancer at {host}:{port}"))?;

    let number = match &options.number {
        Some(number) => number.clone(),
        None => ask_for_number()?,
    };
    // Python sends a blank line as it is and waits; we refuse it here, before sending.
    let number = number.trim();
    if number.is_empty() {
        return Err(Error::new(
            "no number given: type a whole number such as 12",
        ));
    }

    // Python waits for the answer forever; we give up after --timeout.
    let timeout = options.timeout;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .context(|| "cannot set the timeout".to_string())?;
    // Lines 15–17: send the number, read the answer (to the close, not just 1024 bytes).
    let answer = protocol::exchange(&mut stream, number.as_bytes()).map_err(|e| {
        if protocol::is_timeout(&e) {
            let seconds = timeout.as_secs_f64();
            Error::new(format!(
                "no answer from the load balancer at {host}:{port} within {seconds} s (--timeout)"
            ))
        } else {
            Error::new(format!("cannot ask the load balancer: {}", plain(&e)))
        }
    })?;
    let answer = String::from_utf8_lossy(&answer);

    // Python prints whatever came back; we keep stdout for results and exit 1 on an error.
    if answer.is_empty() {
        return Err(Error::new(
            "the load balancer closed the connection without an answer",
        ));
    }
    if protocol::is_error_answer(answer.as_bytes()) {
        return Err(Error::new(answer));
    }
    // Python prints what came; we check it can be n! (a Python load balancer cuts at 1024).
    if let Ok(n) = protocol::parse_request(number.as_bytes(), u64::MAX) {
        protocol::check_answer(n, answer.as_bytes()).map_err(|why| {
            Error::new(format!(
                "the answer is not {n}! ({why}); it may have been cut short"
            ))
        })?;
    }
    // println! would panic if stdout is closed (`client 12 | head -c 0`); we say so instead.
    writeln!(io::stdout(), "Factorial received: {answer}")
        .context(|| "cannot print the answer".to_string())
}

/// Asks on the terminal, as `input(...)` does on client.py line 13.
fn ask_for_number() -> Result<String, Error> {
    let mut stdout = io::stdout();
    write!(stdout, "Enter an integer to calculate its factorial: ")
        .and_then(|()| stdout.flush())
        .context(|| "cannot write the prompt".to_string())?;
    let mut line = String::new();
    let read = io::stdin()
        .lock()
        .read_line(&mut line)
        .context(|| "cannot read the number".to_string())?;
    if read == 0 {
        // Python raises EOFError here; we say what happened.
        return Err(Error::new("no number given (standard input is closed)"));
    }
    Ok(line)
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("client", HELP, parse_args);
    match start_client(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            common::log::warn(&format!("{e}"));
            ExitCode::FAILURE
        }
    }
}

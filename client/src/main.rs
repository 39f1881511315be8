//! The client: a port of the lab's `client.py`, to read beside it with docs/side-by-side.md.
//!
//! Run it as `cargo run -p client` (or `client` once built) while the load balancer is up;
//! it asks for an integer, sends it, and prints `Factorial received: ...`. Give the number as
//! an argument (`client 12`) to skip the question.
//!
//! Beyond the Python: the whole answer is read, however long (client.py reads 1024 bytes), and
//! checked to be n!; an `Error: ` answer or an unreachable load balancer is reported on stderr
//! with exit code 1, so scripts can tell success from failure; an empty or blank number is
//! refused before it is sent; a long wait is said, and `--timeout` can bound it
//! (`armour/answer.rs`).

use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use common::armour::error::{Context, Error};
use common::extras::cli;

mod armour;
mod options;
use armour::answer;
use options::{HELP, Options, parse_args};

/// Asks the load balancer for n! and prints it (client.py lines 3–19).
fn start_client(options: &Options) -> Result<(), Error> {
    let (host, port) = (&options.host, options.port);
    let at = format!("{host}:{port}");
    let mut stream = TcpStream::connect((host.as_str(), port))
        .context(|| format!("cannot reach the load balancer at {at}"))?;

    let number = match &options.number {
        Some(number) => number.clone(),
        None => ask_for_number()?,
    };
    // Ours: a blank number is refused before it is sent (Python sends it and waits).
    let number = answer::not_blank(&number)?;

    // Lines 15–17: send the number and read the answer. Ours: the whole answer, however long,
    // checked to be n!; an `Error: ` or a wrong answer ends with exit code 1; a number typed
    // as the load balancer gave up on the open prompt is asked anew (armour/answer.rs).
    let typed = options.number.is_none();
    let answer = answer::ask(&mut stream, number, &at, options.timeout, typed)?;
    // Line 19. println! would panic if stdout is closed (`client 12 | head -c 0`); we say so.
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
            common::armour::log::warn(&format!("{e}"));
            ExitCode::FAILURE
        }
    }
}

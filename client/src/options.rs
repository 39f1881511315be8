//! The client's command line: its flags, their defaults (those of client.py) and help.

use std::time::Duration;

use common::extras::cli::{self, Args, CliError};

/// What `client --help` prints.
pub const HELP: &str = "\
client: asks the load balancer for n! (the lab's client.py)

Usage: client [--host H] [--port P] [--timeout SECS] [NUMBER]

Without NUMBER it asks for one, as client.py does. An empty or blank number is refused
before anything is sent.

Options:
  --host H          the load balancer's address [default: 127.0.0.1]
  --port P          the load balancer's port [default: 65432]
  --timeout SECS    give up when the answer has not come within SECS [default: wait
                    as long as it takes, as client.py does; after 10 s it says so]
  -h, --help        print this help

Exit codes: 0 when n! arrived, 1 on an error answer, no number, no answer within --timeout,
an answer that is not n!, or when the load balancer cannot be reached, 2 for a bad argument.
";

/// What the command line chose; the defaults are the Python file's.
pub struct Options {
    /// The load balancer's address: 127.0.0.1 as in client.py line 5.
    pub host: String,
    /// The load balancer's port: 65432 as on line 7.
    pub port: u16,
    /// The number to ask about; `None` means ask the user, as line 13 does.
    pub number: Option<String>,
    /// How long to wait for the answer; `None` waits as client.py does, as long as it takes.
    /// A queue behind slow workers can take minutes, and an answer that is coming should not
    /// be cut off by a guess.
    pub timeout: Option<Duration>,
}

/// Reads the flags; see [`HELP`].
pub fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options {
        host: common::DEFAULT_HOST.to_string(),
        port: common::DEFAULT_LB_PORT,
        number: None,
        timeout: None,
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Err(CliError::HelpRequested),
            "--host" => options.host = args.value(&arg)?,
            "--port" => options.port = args.port(&arg)?,
            "--timeout" => options.timeout = Some(args.seconds(&arg)?),
            // After `--` comes the number, whatever it looks like.
            "--" => options.number = args.next_arg(),
            // Anything else that looks like a flag is a mistake ("-5" is a number).
            flag if flag.starts_with("--") => return Err(cli::unknown(flag)),
            _ if options.number.is_none() => options.number = Some(arg),
            _ => {
                return Err(CliError::Usage(format!(
                    "unexpected argument {arg:?}: give one NUMBER"
                )));
            }
        }
    }
    Ok(options)
}

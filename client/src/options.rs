//! The client's command line: its flags, their defaults (those of client.py) and help.

use std::time::Duration;

use common::cli::{self, Args, CliError};

/// How long the client waits, by default, for each read of the answer (the load balancer says
/// nothing until its answer is ready). A request through our load balancer with its defaults
/// takes at most about a minute (two worker timeouts of 30 s, when two workers hang one after
/// the other): 120 s lets that finish, and only a load balancer that has stopped answering
/// makes the client wait this long.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// What `client --help` prints.
pub const HELP: &str = "\
client: asks the load balancer for n! (the lab's client.py)

Usage: client [--host H] [--port P] [--timeout SECS] [NUMBER]

Without NUMBER it asks for one, as client.py does. An empty or blank number is refused
before anything is sent.

Options:
  --host H          the load balancer's address [default: 127.0.0.1]
  --port P          the load balancer's port [default: 65432]
  --timeout SECS    how long to wait for the load balancer's answer [default: 120]
  -h, --help        print this help

Exit codes: 0 when n! arrived, 1 on an error answer, no number, no answer within --timeout,
or when the load balancer cannot be reached, 2 for a bad argument.
";

/// What the command line chose; the defaults are the Python file's.
pub struct Options {
    /// The load balancer's address: 127.0.0.1 as in client.py line 5.
    pub host: String,
    /// The load balancer's port: 65432 as on line 7.
    pub port: u16,
    /// The number to ask about; `None` means ask the user, as line 13 does.
    pub number: Option<String>,
    /// How long to wait for the answer; client.py waits forever.
    pub timeout: Duration,
}

/// Reads the flags; see [`HELP`].
pub fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options {
        host: common::DEFAULT_HOST.to_string(),
        port: common::DEFAULT_LB_PORT,
        number: None,
        timeout: DEFAULT_TIMEOUT,
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Err(CliError::HelpRequested),
            "--host" => options.host = args.value(&arg)?,
            "--port" => options.port = args.port(&arg)?,
            "--timeout" => options.timeout = args.seconds(&arg)?,
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

//! The worker's command line: its flags, their defaults (those of worker_server.py) and help.

use std::path::PathBuf;

use common::cli::{self, Args, CliError};
use common::registry;

/// What `worker --help` prints.
pub const HELP: &str = "\
worker: computes n! for the load balancer (the lab's worker_server.py)

Usage: worker [--host H] [--port P] [--registry FILE]

Options:
  --host H          address to listen on [default: 127.0.0.1]
  --port P          port to listen on; 0 lets the OS choose [default: 0]
  --registry FILE   file to append this worker's address to [default: worker_ports.txt]
  -h, --help        print this help

Exit codes: 0 never (a worker serves until stopped), 1 when it cannot start, 2 for a bad
argument.
";

/// What the command line chose; the defaults are the Python file's.
pub struct Options {
    /// The address to listen on: 127.0.0.1 as in worker_server.py line 17.
    pub host: String,
    /// 0 asks the OS for a free port, as `bind((host, 0))` does on line 21.
    pub port: u16,
    /// Where to register: `REGISTRATION_FILE` on line 7.
    pub registry: PathBuf,
}

/// Reads the flags; see [`HELP`].
pub fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options {
        host: common::DEFAULT_HOST.to_string(),
        port: 0,
        registry: PathBuf::from(registry::DEFAULT_REGISTRY),
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Err(CliError::HelpRequested),
            "--host" => options.host = args.value(&arg)?,
            "--port" => options.port = args.value(&arg)?,
            "--registry" => options.registry = args.value(&arg)?,
            _ => return Err(cli::unknown(&arg)),
        }
    }
    Ok(options)
}

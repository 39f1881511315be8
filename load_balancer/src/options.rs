//! The load balancer's command line: its flags, their defaults (those of load_balancer.py)
//! and help.

use std::path::PathBuf;

use common::cli::{self, Args, CliError};
use common::registry;

/// What `load_balancer --help` prints.
pub const HELP: &str = "\
load_balancer: hands each client's request to a worker (the lab's load_balancer.py)

Usage: load_balancer [--host H] [--port P] [--registry FILE]

Options:
  --host H          address to listen on [default: 127.0.0.1]
  --port P          port to listen on; 0 lets the OS choose [default: 65432]
  --registry FILE   file the workers register in [default: worker_ports.txt]
  -h, --help        print this help

Exit codes: 0 never (it serves until stopped), 1 when it cannot start, 2 for a bad argument.
";

/// What the command line chose; the defaults are the Python file's.
pub struct Options {
    /// The address to listen on: 127.0.0.1 as in load_balancer.py line 62.
    pub host: String,
    /// The port clients dial: 65432 as on line 64.
    pub port: u16,
    /// The workers' registry: `REGISTRATION_FILE` on line 5.
    pub registry: PathBuf,
}

/// Reads the flags; see [`HELP`].
pub fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options {
        host: common::DEFAULT_HOST.to_string(),
        port: common::DEFAULT_LB_PORT,
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

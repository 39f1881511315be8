//! The worker's command line: its flags, their defaults (those of worker_server.py, and ours
//! for what the Python does not have) and help.

use std::path::PathBuf;
use std::time::Duration;

use common::armour::threads::ThreadMode;
use common::extras::cli::{self, Args, CliError};
use common::registry;
use common::server::Serving;

use crate::extras::advertise;

/// The largest n served by default. 100000! has 456,574 digits and costs about a tenth of a
/// second to compute and write out; much larger requests would let one client keep a worker
/// busy for seconds and fill memory with digits.
pub const DEFAULT_MAX_N: u64 = 100_000;

/// How long a connection may take to send its whole request, and to take its whole answer.
/// Our load balancer sends at once, but a person may be typing at the other end: through
/// `nc`, through HAProxy or nginx (which connect to the worker when the client connects), or
/// through a student's own relay. So it is the load balancer's own minute for a person
/// (`load_balancer --timeout`), which the printed configurations give as the client timeout:
/// nothing in front waits longer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How many connections are served at once before new ones get `Error: server busy`. Each
/// holds a thread and, at the largest n, a few megabytes of digits; 64 keeps a worker on a
/// small machine well clear of exhausting memory while far above what a lab needs.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// What `worker --help` prints.
pub const HELP: &str = "\
worker: computes n! for the load balancer (the lab's worker_server.py)

Usage: worker [--host H] [--port P] [--advertise HOST] [--registry FILE] [--fresh-registry]
              [--max-n N] [--timeout SECS] [--max-connections N] [--threads MODE]
       worker [--host H] --port P [--advertise HOST] --print-registry-line

Options:
  --host H               address to listen on [default: 127.0.0.1]; 0.0.0.0 or :: (every
                         address) needs --advertise
  --advertise HOST       address or name the load balancer dials, written to the registry
                         [default: the --host address]
  --port P               port to listen on; 0 lets the OS choose [default: 0]
  --registry FILE        file to append this worker's address to [default: worker_ports.txt]
  --fresh-registry       empty the registry file first (start a lab afresh; give it to the
                         first worker only)
  --max-n N              largest n served [default: 100000]
  --timeout SECS         how long a request may take to arrive, and its answer to be
                         taken [default: 60]
  --max-connections N    connections served at once; more get `Error: server busy`
                         [default: 64]
  --threads MODE         spawn: a new thread for each connection, as in the Python;
                         reuse: a fixed pool of threads, each accepting in turn (faster)
                         [default: spawn]
  --print-registry-line  print the line to add to the load balancer's registry and exit,
                         for a lab without a shared folder (needs --port); then start the
                         worker with the same flags, without this one
  -h, --help             print this help

Exit codes: 0 never (a worker serves until stopped), 1 when it cannot start, 2 for a bad
argument.
";

/// What the command line chose; the defaults are the Python file's where it has them.
pub struct Options {
    /// The address to listen on: 127.0.0.1 as in worker_server.py line 17.
    pub host: String,
    /// The host written to the registry: `--advertise`, or `host` when that names one
    /// address (see `advertise.rs`).
    pub advertise: String,
    /// Print the registry line and exit instead of serving (`--print-registry-line`).
    pub print_registry_line: bool,
    /// 0 asks the OS for a free port, as `bind((host, 0))` does on line 21.
    pub port: u16,
    /// Where to register: `REGISTRATION_FILE` on line 7.
    pub registry: PathBuf,
    /// Empty the registry before registering, dropping the entries of an earlier run.
    pub fresh_registry: bool,
    /// Requests for larger n are refused; see [`DEFAULT_MAX_N`].
    pub max_n: u64,
    /// See [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// `--threads` (a new thread for each connection, the Python's way, or a fixed pool) and
    /// `--max-connections` (see [`DEFAULT_MAX_CONNECTIONS`]).
    pub serving: Serving,
}

/// Reads the flags; see [`HELP`].
pub fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options {
        host: common::DEFAULT_HOST.to_string(),
        advertise: String::new(),
        print_registry_line: false,
        port: 0,
        registry: PathBuf::from(registry::DEFAULT_REGISTRY),
        fresh_registry: false,
        max_n: DEFAULT_MAX_N,
        timeout: DEFAULT_TIMEOUT,
        serving: Serving {
            threads: ThreadMode::Spawn,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        },
    };
    let mut advertise: Option<String> = None;
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Err(CliError::HelpRequested),
            "--host" => options.host = args.value(&arg)?,
            "--advertise" => advertise = Some(args.value(&arg)?),
            "--print-registry-line" => options.print_registry_line = true,
            "--port" => options.port = args.port(&arg)?,
            "--registry" => options.registry = args.value(&arg)?,
            "--fresh-registry" => options.fresh_registry = true,
            "--max-n" => options.max_n = args.whole_number(&arg)?,
            "--timeout" => options.timeout = args.seconds(&arg)?,
            "--max-connections" => options.serving.max_connections = args.count(&arg)?,
            "--threads" => options.serving.threads = args.value(&arg)?,
            _ => return Err(cli::unknown(&arg)),
        }
    }
    options.advertise =
        advertise::advertised_host(&options.host, advertise.as_deref()).map_err(CliError::Usage)?;
    if options.print_registry_line && options.port == 0 {
        return Err(CliError::Usage(
            "--print-registry-line needs --port: the line names the port, and a port the OS \
             picks is known only once the worker runs"
                .into(),
        ));
    }
    Ok(options)
}

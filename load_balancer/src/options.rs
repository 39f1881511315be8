//! The load balancer's command line: its flags, their defaults (those of load_balancer.py, and
//! ours for what the Python does not have) and help.

use std::path::PathBuf;
use std::time::Duration;

use common::armour::threads::ThreadMode;
use common::extras::cli::{self, Args, CliError};
use common::registry;
use common::server::Serving;

use crate::extras::status::address::StatusAddress;
use crate::strategy::Strategy;

/// How long a client may take to send its whole request, and to take its whole answer.
/// client.py connects first and then asks the user for the number, so this is a person's
/// typing time: a minute, as nginx's `client_header_timeout`. When every place is taken, a
/// connection still waiting for its request makes room for a new one, so slow typists cannot
/// lock the others out.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for a worker to accept a connection: HAProxy's usual `timeout connect 5s`.
/// A live worker accepts in well under a millisecond, but one whose accept queue is full (a
/// student's `listen(1)` under 30 clients) drops the connection's first packet, and Linux
/// sends it again after 1 s and 3 s: 5 s lets both retries through.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long to wait for a worker's whole answer. The largest default request (100000!) takes
/// about a tenth of a second, but a student slowing a worker with `time.sleep` is the lab's
/// first experiment, and the Python load balancer waits for ever: five minutes waits for any
/// sleep a student watches to its end. A frozen worker does not cost a request this long: a
/// second worker is asked after a second (`failover.rs`); this only bounds a lone one.
pub const DEFAULT_WORKER_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a worker that failed is skipped before a health check tries it again: long enough
/// that a dead worker costs clients almost nothing, short enough that a restarted one is back
/// soon. Each failed check doubles it, up to a minute (`health::MAX_COOLDOWN`).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5);

/// How many clients are served at once before new ones get `Error: server busy`. Each holds a
/// thread (a small stack, mostly idle while it waits for a worker); 256 is far beyond a class
/// at work and still cheap for a small machine.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// What `load_balancer --help` prints.
pub const HELP: &str = "\
load_balancer: hands each client's request to a worker (the lab's load_balancer.py)

Usage: load_balancer [--host H] [--port P] [--registry FILE] [--strategy S]
                     [--timeout SECS] [--connect-timeout SECS] [--worker-timeout SECS]
                     [--cooldown SECS] [--max-connections N] [--threads MODE]
                     [--status [HOST:]PORT]
       load_balancer [the flags above] --print-haproxy-config | --print-nginx-config

Options:
  --host H                  address to listen on [default: 127.0.0.1]; beyond loopback
                            it warns that the protocol has no authentication
  --port P                  port to listen on; 0 lets the OS choose [default: 65432]
  --registry FILE           file the workers register in [default: worker_ports.txt]
  --strategy S              round-robin, random or least-connections [default: round-robin]
  --timeout SECS            how long a client's request may take to arrive, and its
                            answer to be taken [default: 60]
  --connect-timeout SECS    how long a worker may take to accept [default: 5]
  --worker-timeout SECS     how long a worker may take to answer [default: 300]
  --cooldown SECS           how long a failed worker is skipped before it is checked
                            again; doubles while checks fail, up to 60 [default: 5]
  --max-connections N       clients served at once; more get `Error: server busy`
                            [default: 256]
  --threads MODE            spawn: a new thread for each connection, as in the Python;
                            reuse: a fixed pool of threads, each accepting in turn (faster)
                            [default: spawn]
  --status [HOST:]PORT      also serve a live status page at http://HOST:PORT/, its data
                            at /status.json: each worker's state and counts, the last
                            requests; HOST is 127.0.0.1 unless given, and beyond loopback
                            it warns; port 0 lets the OS choose [default: off]
  --print-haproxy-config    print an HAProxy configuration for the workers in the registry,
                            with the address, strategy and timeouts above, and exit
  --print-nginx-config      the same for nginx's stream module
  -h, --help                print this help

Exit codes: 0 never (it serves until stopped), 1 when it cannot start, 2 for a bad argument.
";

/// Which production load balancer to write a configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// HAProxy in TCP mode (`--print-haproxy-config`).
    Haproxy,
    /// nginx's stream module (`--print-nginx-config`).
    Nginx,
}

/// What the command line chose; the defaults are the Python file's where it has them.
pub struct Options {
    /// The address to listen on: 127.0.0.1 as in load_balancer.py line 62.
    pub host: String,
    /// The port clients dial: 65432 as on line 64.
    pub port: u16,
    /// The workers' registry: `REGISTRATION_FILE` on line 5.
    pub registry: PathBuf,
    /// How to choose a worker: round-robin, as on lines 36–38, unless told otherwise.
    pub strategy: Strategy,
    /// See [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// See [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// See [`DEFAULT_WORKER_TIMEOUT`].
    pub worker_timeout: Duration,
    /// See [`DEFAULT_COOLDOWN`].
    pub cooldown: Duration,
    /// `--threads` (a new thread for each connection, the Python's way, or a fixed pool) and
    /// `--max-connections` (see [`DEFAULT_MAX_CONNECTIONS`]).
    pub serving: Serving,
    /// Print a configuration for HAProxy or nginx and exit instead of serving (`export.rs`).
    pub print_config: Option<Product>,
    /// Where to serve the status page (`extras/status/`); none unless asked.
    pub status: Option<StatusAddress>,
}

/// Reads the flags; see [`HELP`].
pub fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options {
        host: common::DEFAULT_HOST.to_string(),
        port: common::DEFAULT_LB_PORT,
        registry: PathBuf::from(registry::DEFAULT_REGISTRY),
        strategy: Strategy::RoundRobin,
        timeout: DEFAULT_TIMEOUT,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        worker_timeout: DEFAULT_WORKER_TIMEOUT,
        cooldown: DEFAULT_COOLDOWN,
        serving: Serving {
            threads: ThreadMode::Spawn,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        },
        print_config: None,
        status: None,
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Err(CliError::HelpRequested),
            "--host" => options.host = args.value(&arg)?,
            "--port" => options.port = args.port(&arg)?,
            "--registry" => options.registry = args.value(&arg)?,
            "--strategy" => options.strategy = args.value(&arg)?,
            "--timeout" => options.timeout = args.seconds(&arg)?,
            "--connect-timeout" => options.connect_timeout = args.seconds(&arg)?,
            "--worker-timeout" => options.worker_timeout = args.seconds(&arg)?,
            "--cooldown" => options.cooldown = args.seconds(&arg)?,
            "--max-connections" => options.serving.max_connections = args.count(&arg)?,
            "--threads" => options.serving.threads = args.value(&arg)?,
            "--status" => options.status = Some(args.value(&arg)?),
            "--print-haproxy-config" => options.print_config = Some(Product::Haproxy),
            "--print-nginx-config" => options.print_config = Some(Product::Nginx),
            _ => return Err(cli::unknown(&arg)),
        }
    }
    Ok(options)
}

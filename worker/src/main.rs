//! The worker: a port of the lab's `worker_server.py`. Run it as `cargo run -p worker`, once per
//! worker, in the folder where the load balancer looks for `worker_ports.txt`: it listens on a
//! port the OS picks, registers it, and answers each connection with n!. Beyond the Python: a
//! thread per connection (Python serves one at a time); bad requests, silent clients and
//! floods get an `Error: ` answer, never a crash.

use std::process::ExitCode;

use common::display::{python_addr, shorten};
use common::error::{Context, Error, in_words};
use common::registry::{self, WorkerAddr};
use common::server::{self, Connection};
use common::{cli, say};

mod advertise;
mod compute;
mod options;
mod request;
use options::{HELP, Options, parse_args};

/// Appends this worker's address to the registry file, which the load balancer reads on
/// every request (worker_server.py lines 9–13). The file is created if missing (lines 59–61).
fn register_worker(options: &Options, port: u16) -> Result<(), Error> {
    let registry = &options.registry;
    if options.fresh_registry {
        // Ours only: drop the entries that workers of an earlier run left behind.
        registry::clear(registry).context(|| format!("cannot empty {}", registry.display()))?;
    }
    // Ours: the host other machines dial (--advertise); Python registers only the port.
    let host = options.advertise.clone();
    registry::register(registry, &WorkerAddr { host, port })
        .context(|| format!("cannot register in {}", registry.display()))
}

/// Listens, registers, and serves connections until the process is stopped
/// (worker_server.py lines 15–55).
fn start_worker(options: Options) -> Result<(), Error> {
    let host = &options.host;
    // Lines 19–21: bind to port 0, so that the OS picks a free port.
    let listener = server::bind(host, options.port)?;
    // Line 23: getsockname() — which port did the OS pick?
    let port = server::local_port(&listener)?;
    register_worker(&options, port)?;
    say!("Worker registered on port {port}");
    // Line 29: listen(). std's bind above already listens, so there is nothing left to call.
    say!("Worker listening on {host}:{port}");
    // Lines 33–35: accept. Ours: a thread each, the cap, the back-off, a gentle Ctrl-C.
    let serving = options.serving;
    server::serve(listener, serving, move |conn| {
        handle_connection(conn, &options)
    })
}

/// Serves one connection: read n, answer n! (worker_server.py lines 37–55).
fn handle_connection(conn: Connection, options: &Options) {
    let addr = python_addr(conn.addr());
    say!("Connected by {addr}");
    // Lines 41–47. Ours: within --timeout, and bad input is answered, not fatal (request.rs).
    let Some((conn, number)) = request::read_number(conn, options) else {
        return;
    };
    say!("Worker received number: {number}");
    // Line 51. Ours: a big n is given up if the asker goes away meanwhile (compute.rs).
    let Some(result) = compute::factorial_for(&conn, number) else {
        return;
    };
    match conn.answer(result.as_bytes()) {
        Ok(()) => say!("Worker sent factorial: {}", shorten(&result)),
        // The load balancer went away or the network failed: only this request is lost.
        Err(e) => say!("Worker could not serve {addr}: {}", in_words(&e)),
    }
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("worker", HELP, parse_args);
    // Ours: a lab without a shared folder collects each worker's registry line by hand.
    if options.print_registry_line {
        return advertise::print_registry_line(&options);
    }
    // Lines 57–63. Ours: a start-up error is said on stderr, with exit code 1.
    cli::exit_code("worker", start_worker(options))
}

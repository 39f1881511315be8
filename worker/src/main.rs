//! The worker: a port of the lab's `worker_server.py` (read them side by side with
//! docs/side-by-side.md). Beyond the Python: a thread per connection, and bad requests, silent
//! clients and floods answered with `Error: `, never a crash (`common/src/armour/`).

use std::process::ExitCode;
use std::sync::Arc;

use common::armour::connection::Connection;
use common::armour::error::{Context, Error, in_words};
use common::extras::cli;
use common::extras::display::{python_addr, shorten};
use common::registry::{self, WorkerAddr};
use common::{say, server};

mod armour;
mod extras;
mod options;
use options::{HELP, Options, parse_args};

/// Appends this worker's address to the registry file, which the load balancer reads on
/// every request (worker_server.py lines 9–13). The file is created if missing (lines 59–61).
fn register_worker(options: &Options, port: u16) -> Result<(), Error> {
    let registry = &options.registry;
    if options.fresh_registry {
        // Ours: --fresh-registry drops the entries that workers of an earlier run left behind.
        registry::clear(registry).context(|| format!("cannot empty {}", registry.display()))?;
    }
    // Ours: the host other machines dial (--advertise); Python registers only the port.
    let host = options.advertise.clone();
    registry::register(registry, &WorkerAddr { host, port })
        .context(|| format!("cannot register in {}", registry.display()))
}

/// Listens, registers and serves until the process is stopped (worker_server.py lines 15–55).
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
    // Lines 33–35. `serve` runs this loop, on each thread of a pool with --threads reuse. Ours:
    // a failed accept waits and retries; Ctrl-C ends the loop (common/src/armour/accept.rs).
    let options = Arc::new(options);
    server::serve(listener, options.serving, |connections| {
        while let Some(accepted) = connections.accept() {
            // Ours: a flood gets no threads: over --max-connections, `Error: server busy`.
            if let Some(conn) = connections.admit(accepted) {
                // Ours: a thread for each connection (Python serves one at a time).
                let options = Arc::clone(&options);
                connections.spawn(move || handle_connection(conn, &options));
            }
        }
    })
}

/// Serves one connection: read n, answer n! (worker_server.py lines 37–55).
fn handle_connection(conn: Connection, options: &Options) {
    let addr = python_addr(conn.addr());
    say!("Connected by {addr}");
    // Lines 41–47: recv(1024) and int(). Ours: within --timeout; bad input is answered.
    let refused = "Worker refused request";
    let Some((conn, number)) = conn.read_number(options.timeout, options.max_n, |_| {}, refused)
    else {
        return;
    };
    say!("Worker received number: {number}");
    // Line 51. Ours: a big n is given up if the asker goes away meanwhile.
    let Some(result) = armour::compute::factorial_for(&conn, number) else {
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
        return extras::advertise::print_registry_line(&options.advertise, options.port);
    }
    // Lines 57–63. Ours: a start-up error is said on stderr, with exit code 1.
    cli::exit_code("worker", start_worker(options))
}

//! The load balancer: a port of the lab's `load_balancer.py`. Run it as `cargo run -p
//! load_balancer` after starting the workers, in the folder that holds their
//! `worker_ports.txt`. It listens on 127.0.0.1:65432, and for each client reads the request,
//! picks a worker from the registry (round-robin unless `--strategy` says otherwise), forwards
//! the request and relays the answer. Beyond the Python, the fault tolerance the lab's text
//! promises: a worker that fails is skipped, one that is slow is asked alongside another
//! (`failover.rs`); bad requests and floods get an `Error: ` answer; answers of any size are
//! relayed whole, and only if they can be n!.

use std::collections::hash_map::RandomState;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::display::{python_addr, shorten};
use common::error::Error;
use common::protocol;
use common::registry::WorkerAddr;
use common::server::{self, Connection};
use common::{cli, say};

mod attempt;
mod beyond_loopback;
mod client_side;
mod export;
mod failover;
mod health;
mod options;
mod registry_reader;
mod shared;
mod status;
mod strategy;
use attempt::Timeouts;
use client_side::{read_request, refuse, reply};
use health::Health;
use options::{HELP, Options, parse_args};
use registry_reader::RegistryReader;
use strategy::Strategy;

/// What load_balancer.py keeps in module globals, and what ours adds, shared by every client's
/// thread.
struct LoadBalancer {
    /// The registry file, read afresh for every request (`REGISTRATION_FILE`, line 5).
    registry: RegistryReader,
    /// How to choose a worker (`--strategy`).
    strategy: Strategy,
    /// The round-robin counter (`worker_index`, line 7), shared by every client's thread.
    worker_index: AtomicUsize,
    /// Random numbers for `--strategy random`: std's hash keys, seeded by the OS.
    random: RandomState,
    /// Which workers failed lately and how busy each is.
    health: Arc<Health>,
    /// How long a client may take to send its whole request, and to take its answer.
    client_timeout: Duration,
    /// How long a worker may take to accept a connection, and to answer.
    timeouts: Timeouts,
    /// With `--status`, where each request is noted for the status page (`status/`).
    board: Option<Arc<status::Board>>,
}

/// The workers listed in the registry file, in file order (load_balancer.py lines 10–16).
fn get_available_workers(lb: &LoadBalancer) -> Vec<WorkerAddr> {
    // Ours: a bounded regular file only, odd lines logged once, an empty read read again.
    lb.registry.read_workers()
}

/// Serves one client: read the request, ask a worker, relay its answer
/// (load_balancer.py lines 18–58). Every path ends with `client` answered and closed, as
/// `finally: client_socket.close()` does.
fn handle_client(client: Connection, lb: &LoadBalancer) {
    // Line 21. Ours: the whole request within --timeout; a silent client is answered.
    let Some((client, request)) = read_request(client, lb.client_timeout) else {
        return;
    };
    let shown = protocol::request_for_log(&request);
    say!("Received request for factorial of {shown}");
    // Ours: a malformed request is answered here; no worker needs to see it.
    let number = match protocol::parse_request(&request, u64::MAX) {
        Ok(number) => number,
        Err(bad) => return refuse(client, &bad.answer()),
    };

    let workers = get_available_workers(lb);
    if workers.is_empty() {
        say!("No available workers.");
        reply(client, protocol::NO_WORKERS.as_bytes());
        return;
    }

    // Lines 36–38: take worker_index's turn and move it on, in one atomic step (Python's global
    // is read and written by many threads without a lock: two clients can get the same turn).
    let turn = lb.worker_index.fetch_add(1, Ordering::Relaxed);
    // Lines 40–55 ask one worker. Ours goes on to others while one fails or is slow.
    match failover::forward(lb, &workers, turn, number) {
        Ok(result) => {
            if reply(client, &result) {
                let result = String::from_utf8_lossy(&result);
                say!("Response sent to client: {}", shorten(&result));
            }
        }
        Err(answer) => {
            reply(client, answer.as_bytes());
        }
    }
}

/// Listens for clients and serves them (load_balancer.py lines 60–82).
fn start_load_balancer(options: Options) -> Result<(), Error> {
    let host = &options.host;
    // Lines 66–70: bind and listen (std's bind does both). With --port 0 the OS picks the
    // port, and we print the real one.
    let listener = server::bind(host, options.port)?;
    let port = server::local_port(&listener)?;
    // Ours: beyond loopback, one line on stderr says the protocol has no authentication.
    beyond_loopback::warn_if_reachable(&listener);
    say!("Load Balancer listening on {host}:{port}");
    // Ours: with --status, a live page of the workers and the last requests (status/).
    let lb = status::serve_if_asked(LoadBalancer::new(&options, port))?;
    // Lines 74–82: accept clients, each on a thread of its own. Ours: the cap, the back-off,
    // --threads reuse, and Ctrl-C or SIGTERM finishing what was taken (common::server::serve).
    server::serve(listener, options.serving, move |client| {
        say!("Client connected: {}", python_addr(client.addr()));
        handle_client(client, &lb);
    })
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("load_balancer", HELP, parse_args);
    // Ours: print a configuration for HAProxy or nginx instead of serving.
    if let Some(product) = options.print_config {
        return export::print_config(product, &options);
    }
    // Line 86. Ours: a start-up error is said on stderr, with exit code 1.
    cli::exit_code("load_balancer", start_load_balancer(options))
}

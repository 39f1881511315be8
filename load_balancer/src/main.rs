//! The load balancer: a port of the lab's `load_balancer.py`.
//!
//! Run it as `cargo run -p load_balancer` (or `load_balancer` once built) after starting the
//! workers, in the folder that holds their `worker_ports.txt`. It listens on 127.0.0.1:65432,
//! and for each client reads the request, picks a worker from the registry file (round-robin
//! unless `--strategy` says otherwise), forwards the request and relays the worker's answer.
//!
//! Beyond the Python, it does the fault tolerance the lab's text promises: a worker that fails
//! is skipped and the request goes to the next; one that is slow is asked alongside another
//! (`failover.rs`, `health.rs`); bad
//! requests, silent clients and floods get an `Error: ` answer; answers of any size are
//! relayed whole, and only if they can be n!; the round-robin counter is thread-safe.

use std::collections::hash_map::RandomState;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::display::{python_addr, shorten};
use common::error::{Error, plain};
use common::protocol;
use common::registry::WorkerAddr;
use common::server::{self, AcceptBackoff, ConnectionLimit, Slot};
use common::threads::{self, ThreadMode};
use common::{cli, log, say};

mod ask;
mod export;
mod exposure;
mod failover;
mod health;
mod options;
mod registry_file;
mod strategy;
use ask::Timeouts;
use health::Health;
use options::{HELP, Options, parse_args};
use registry_file::RegistryFile;
use strategy::Strategy;

/// What load_balancer.py keeps in module globals, and what ours adds, shared by every client's
/// thread.
struct LoadBalancer {
    /// The registry file, read afresh for every request (`REGISTRATION_FILE`, line 5).
    registry: RegistryFile,
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
}

/// The workers listed in the registry file, in file order (load_balancer.py lines 10–16).
fn get_available_workers(lb: &LoadBalancer) -> Vec<WorkerAddr> {
    // Ours: a bounded regular file only, odd lines logged once, an empty read read again.
    lb.registry.read_workers()
}

/// Serves one client: read the request, ask a worker, relay its answer
/// (load_balancer.py lines 18–58). `slot` is the client's place under --max-connections. The
/// caller closes `client` afterwards by dropping it, on every path, as
/// `finally: client_socket.close()` does.
fn handle_client(client: &mut TcpStream, slot: &Slot, lb: &LoadBalancer) {
    // The whole request must arrive within --timeout (a person typing at client.py's prompt
    // has a minute); a silent or trickling client then gets an answer and frees its thread.
    // A client that does not read its answer frees the thread after --timeout too. (Setting
    // it fails only on a socket already broken, which the reads below then report.)
    let _ = client.set_write_timeout(Some(lb.client_timeout));
    let request = match protocol::read_request_within(client, lb.client_timeout) {
        Ok(request) => request,
        Err(e) if protocol::is_timeout(&e) => {
            return refuse(client, &protocol::timed_out(lb.client_timeout));
        }
        Err(e) => {
            say!("Could not read the request: {}", plain(&e));
            return;
        }
    };
    // Ours: now being served, this connection is never closed to make room for another.
    slot.request_received();
    say!(
        "Received request for factorial of {}",
        protocol::request_for_log(&request)
    );
    // A malformed request is answered here; no worker needs to see it.
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
    // Python asks one worker (lines 40–55); ours goes on to others while one fails or is slow.
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

/// Sends the client its answer; false when it could not. The client may have gone away; that
/// costs only its answer, and the log says so instead of `Response sent to client`.
fn reply(client: &mut TcpStream, answer: &[u8]) -> bool {
    match protocol::send_answer(client, answer) {
        Ok(()) => true,
        Err(e) => {
            say!("Could not answer the client: {}", plain(&e));
            false
        }
    }
}

/// Sends an `Error: ` answer to a request that may have left bytes unread, and closes gently.
fn refuse(client: &mut TcpStream, answer: &str) {
    say!("Refused request: {answer}");
    if let Err(e) = protocol::send_error_and_close(client, answer) {
        say!("Could not answer the client: {}", plain(&e));
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
    exposure::warn_if_exposed(&listener);
    say!("Load Balancer listening on {host}:{port}");

    let timeouts = Timeouts {
        connect: options.connect_timeout,
        answer: options.worker_timeout,
    };
    let own_address = WorkerAddr {
        host: host.clone(),
        port,
    };
    let lb = Arc::new(LoadBalancer {
        registry: RegistryFile::new(options.registry, own_address),
        strategy: options.strategy,
        worker_index: AtomicUsize::new(0),
        random: RandomState::new(),
        health: health_checked(options.cooldown, options.connect_timeout),
        client_timeout: options.timeout,
        timeouts,
    });
    let limit = ConnectionLimit::new(options.max_connections);
    match options.threads {
        ThreadMode::Spawn => accept_clients(&listener, &lb, &limit, ThreadMode::Spawn),
        // Ours, opt-in: a fixed pool of threads, each running the same accept loop.
        ThreadMode::Reuse => threads::run_pool(&listener, options.max_connections, |listener| {
            accept_clients(listener, &lb, &limit, ThreadMode::Reuse)
        })?,
    }
    Ok(())
}

/// The workers' health records, with the thread that checks down workers running.
fn health_checked(cooldown: Duration, connect_timeout: Duration) -> Arc<Health> {
    let health = Health::new(cooldown, connect_timeout);
    health.start_checking();
    health
}

/// Accepts clients and gives each a thread of its own (load_balancer.py lines 74–82).
fn accept_clients(
    listener: &TcpListener,
    lb: &Arc<LoadBalancer>,
    limit: &ConnectionLimit,
    mode: ThreadMode,
) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let (mut client, addr) = match listener.accept() {
            Ok(accepted) => accepted,
            // A failed accept (out of file descriptors) is no reason to stop; wait, then retry.
            Err(e) => {
                backoff.failed(&e);
                continue;
            }
        };
        backoff.succeeded();
        say!("Client connected: {}", python_addr(addr));
        // Over the cap, the longest-waiting request makes room, or "server busy", no thread.
        let Some(slot) = limit.try_admit(&client) else {
            let open = limit.open();
            say!("Busy ({open} open): refused {}", python_addr(addr));
            limit.refuse(client);
            continue;
        };
        if mode == ThreadMode::Reuse {
            // --threads reuse: this pool thread serves the client itself, then accepts again.
            handle_client(&mut client, &slot, lb);
            drop(slot);
            continue;
        }
        let lb = Arc::clone(lb);
        // Lines 80–82: thread::spawn, with an error instead of a panic if no thread can start.
        let spawned = thread::Builder::new().spawn(move || {
            handle_client(&mut client, &slot, &lb);
            // Free the place before `client` closes (Python's `finally: close()`): the client
            // may connect again the moment it sees the close.
            drop(slot);
        });
        if let Err(e) = spawned {
            log::warn(&format!("Could not start a thread for the client: {e}"));
        }
    }
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("load_balancer", HELP, parse_args);
    // Ours: print a configuration for HAProxy or nginx instead of serving.
    if let Some(product) = options.print_config {
        return export::print_config(product, &options);
    }
    match start_load_balancer(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::flush();
            log::warn(&format!("load_balancer: {e}"));
            ExitCode::FAILURE
        }
    }
}

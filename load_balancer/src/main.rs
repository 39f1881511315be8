//! The load balancer: a port of the lab's `load_balancer.py`, to read beside it with
//! docs/side-by-side.md. Run it as `cargo run -p load_balancer` after starting the workers, in
//! the folder that holds their `worker_ports.txt`. It listens on 127.0.0.1:65432, and for each
//! client reads the request, picks a worker from the registry (round-robin unless `--strategy`
//! says otherwise), forwards the request and relays the answer. Beyond the Python, the fault
//! tolerance the lab's text promises (`armour/`): a worker that fails is skipped, one that is
//! slow is asked alongside another; answers of any size are relayed whole, and only if they
//! can be n!; bad requests and floods get an `Error: ` answer (`common/src/armour/`). The extras, each behind its own
//! flag, are in `extras/`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::armour::connection::Connection;
use common::armour::error::{Error, in_words};
use common::extras::cli;
use common::extras::display::{python_addr, request_for_log, shorten};
use common::registry::WorkerAddr;
use common::{protocol, say, server};

mod armour;
mod extras;
mod options;
mod shared;
mod strategy;
use armour::{beyond_loopback, failover};
use extras::{export, status};
use options::{HELP, Options, parse_args};
use shared::LoadBalancer;

/// The workers listed in the registry file, in file order (load_balancer.py lines 10–16).
fn get_available_workers(lb: &LoadBalancer) -> Vec<WorkerAddr> {
    // Ours: a bounded regular file only, odd lines logged once, an empty read read again.
    lb.registry.read_workers()
}

/// Serves one client: read the request, ask a worker, relay its answer
/// (load_balancer.py lines 18–58). Every path ends with `client` answered and closed, as
/// `finally: client_socket.close()` does.
fn handle_client(client: Connection, lb: &LoadBalancer) {
    // Lines 21–23: read the request and say it. Ours: within --timeout, and a request that is
    // not a whole number is answered here: no worker needs to see it.
    let heard = |request: &[u8]| {
        say!(
            "Received request for factorial of {}",
            request_for_log(request)
        );
    };
    let timeout = lb.client_timeout;
    let Some((client, number)) = client.read_number(timeout, u64::MAX, heard, "Refused request")
    else {
        return;
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
    // Line 36 picks workers[worker_index]. Ours: every worker in order from there, those up
    // first, so that failover can go on (or the order --strategy asks for).
    let order = strategy::order_to_try(lb.strategy, &workers, turn, &lb.health, &lb.random);
    // Ours: with --status, the request's steps are noted for the status page (extras/status/).
    let watcher = lb.board.as_ref().map(|board| board.notes(number, turn));
    // Lines 40–55 ask one worker. Ours goes on to others while one fails or is slow.
    let asking = failover::Workers {
        health: &lb.health,
        timeouts: lb.timeouts,
    };
    match failover::forward(asking, order, number, watcher) {
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

/// Sends the client its answer and closes the connection (load_balancer.py lines 48 and 58):
/// false when it could not. Ours: the client may have gone; that costs only its answer.
fn reply(client: Connection, answer: &[u8]) -> bool {
    match client.answer(answer) {
        Ok(()) => true,
        Err(e) => {
            say!("Could not answer the client: {}", in_words(&e));
            false
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
    // Ours: with --status, a live page of the workers and the last requests (extras/status/).
    let lb = status::serve_if_asked(LoadBalancer::new(&options, port))?;
    // Lines 74–76: accept clients. `serve` runs this loop, on each thread of a pool with
    // --threads reuse, and after Ctrl-C finishes what was taken. Ours: a failed accept waits
    // and retries; Ctrl-C ends the loop (common/src/armour/accept.rs).
    server::serve(listener, options.serving, |clients| {
        while let Some(accepted) = clients.accept() {
            // Ours: a flood gets no threads: over --max-connections, `Error: server busy`.
            if let Some(client) = clients.admit(accepted) {
                // Line 78.
                say!("Client connected: {}", python_addr(client.addr()));
                // Lines 80–82: a thread of its own for each client. Ours: with --threads
                // reuse, this thread of a pool serves it.
                let lb = Arc::clone(&lb);
                clients.spawn(move || handle_client(client, &lb));
            }
        }
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

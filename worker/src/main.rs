//! The worker: a port of the lab's `worker_server.py`.
//!
//! Run it as `cargo run -p worker`, once per worker, in the folder where the load balancer
//! looks for `worker_ports.txt`: it listens on a port the OS picks, registers it, and answers
//! each connection with n!. Beyond the Python: a thread per connection (Python serves one at a
//! time); bad requests, silent clients and floods get an `Error: ` answer, never a crash.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use common::display::{python_addr, shorten};
use common::error::{Context, Error};
use common::factorial::factorial_digits;
use common::protocol;
use common::registry::{self, WorkerAddr};
use common::server::{self, AcceptBackoff, ConnectionLimit, Slot};
use common::threads::{self, ThreadMode};
use common::{cli, log, say};

mod advertise;
mod options;
use options::{HELP, Options, parse_args};

/// Appends this worker's address to the registry file, which the load balancer reads on
/// every request (worker_server.py lines 9–13). The file is created if missing (lines 59–61).
fn register_worker(options: &Options, worker: &WorkerAddr) -> Result<(), Error> {
    let registry = &options.registry;
    if options.fresh_registry {
        // Ours only: drop the entries that workers of an earlier run left behind.
        registry::clear(registry).context(|| format!("cannot empty {}", registry.display()))?;
    }
    registry::register(registry, worker)
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
    let me = WorkerAddr {
        // Ours: the address other machines dial (--advertise); Python registers only the port.
        host: options.advertise.clone(),
        port,
    };
    register_worker(&options, &me)?;
    say!("Worker registered on port {port}");
    // Line 29: listen(). std's bind above already listens, so there is nothing left to call.
    say!("Worker listening on {host}:{port}");

    let limit = ConnectionLimit::new(options.max_connections);
    let options = Arc::new(options);
    match options.threads {
        ThreadMode::Spawn => accept_connections(&listener, &options, &limit, ThreadMode::Spawn),
        // Ours, opt-in: a fixed pool of threads, each running the same accept loop.
        ThreadMode::Reuse => threads::run_pool(&listener, options.max_connections, |listener| {
            accept_connections(listener, &options, &limit, ThreadMode::Reuse)
        })?,
    }
    Ok(())
}

/// Accepts connections and serves each (worker_server.py lines 33–55).
fn accept_connections(
    listener: &TcpListener,
    options: &Arc<Options>,
    limit: &ConnectionLimit,
    mode: ThreadMode,
) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let (mut conn, addr) = match listener.accept() {
            Ok(accepted) => accepted,
            // A failed accept (out of file descriptors) is no reason to stop; wait, then retry.
            Err(e) => {
                backoff.failed(&e);
                continue;
            }
        };
        backoff.succeeded();
        // Over the cap, the longest-waiting request makes room, or "server busy", no thread.
        let Some(slot) = limit.try_admit(&conn) else {
            let open = limit.open();
            say!("Busy ({open} open): refused {}", python_addr(addr));
            limit.refuse(conn);
            continue;
        };
        if mode == ThreadMode::Reuse {
            // --threads reuse: this pool thread serves the connection, then accepts again.
            handle_connection(&mut conn, addr, &slot, options);
            drop(slot);
            continue;
        }
        let options = Arc::clone(options);
        // Ours: a thread per connection, where Python serves one at a time (thread::spawn,
        // with an error instead of a panic if no thread can start).
        let spawned = thread::Builder::new().spawn(move || {
            handle_connection(&mut conn, addr, &slot, &options);
            // Free the place before `conn` closes: the client may connect again the moment it
            // sees the close, and must not find its old connection still counted.
            drop(slot);
        });
        if let Err(e) = spawned {
            log::warn(&format!("Worker could not start a thread: {e}"));
        }
    }
}

/// Serves one connection: read n, answer n! (worker_server.py lines 37–55). The caller closes
/// the connection afterwards by dropping it, as the end of Python's `with conn:` does.
fn handle_connection(conn: &mut TcpStream, addr: SocketAddr, slot: &Slot, options: &Options) {
    say!("Connected by {}", python_addr(addr));
    if let Err(e) = answer_request(conn, slot, options) {
        // The load balancer went away or the network failed: only this request is lost.
        say!("Worker could not serve {}: {e}", python_addr(addr));
    }
}

/// Reads the request and sends n!, or an `Error: ` answer saying what is wrong with it.
fn answer_request(conn: &mut TcpStream, slot: &Slot, options: &Options) -> io::Result<()> {
    // Ours: the whole request within --timeout, the answer taken within it too.
    conn.set_write_timeout(Some(options.timeout))?;
    let request = match protocol::read_request_within(conn, options.timeout) {
        Ok(request) => request,
        Err(e) if protocol::is_timeout(&e) => {
            return refuse(conn, &protocol::timed_out(options.timeout));
        }
        Err(e) => return Err(e),
    };
    // Ours: now being served, this connection is never closed to make room for another.
    slot.request_received();
    // Line 43's `if not data: break` stops the whole worker; ours refuses it like any other.
    let number = match protocol::parse_request(&request, options.max_n) {
        Ok(number) => number,
        // Python's int() would raise here and kill the worker (line 47); we answer instead.
        Err(bad) => return refuse(conn, &bad.answer()),
    };
    say!("Worker received number: {number}");
    let result = factorial_digits(number);
    protocol::send_answer(conn, result.as_bytes())?;
    say!("Worker sent factorial: {}", shorten(&result));
    Ok(())
}

/// Sends an `Error: ` answer and closes the connection gently.
fn refuse(conn: &mut TcpStream, answer: &str) -> io::Result<()> {
    say!("Worker refused request: {answer}");
    protocol::send_error_and_close(conn, answer)
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("worker", HELP, parse_args);
    // Ours: a lab without a shared folder collects each worker's registry line by hand.
    if options.print_registry_line {
        return advertise::print_registry_line(&options);
    }
    match start_worker(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::flush();
            log::warn(&format!("worker: {e}"));
            ExitCode::FAILURE
        }
    }
}

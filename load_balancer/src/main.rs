//! The load balancer: a port of the lab's `load_balancer.py`.
//!
//! Run it as `cargo run -p load_balancer` (or `load_balancer` once built) after starting the
//! workers, in the folder that holds their `worker_ports.txt`. It listens on 127.0.0.1:65432,
//! and for each client reads the request, picks the next worker from the registry file
//! (round-robin), forwards the request and relays the worker's answer.
//!
//! Beyond the Python: the round-robin counter is an atomic, safe to share between threads;
//! answers of any size are relayed whole; a bad request is refused with a reason before any
//! worker is bothered; a missing registry file means "no workers" instead of a crash.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use common::cli;
use common::display::{python_addr, shorten};
use common::error::{Context, Error};
use common::protocol;
use common::registry::{self, WorkerAddr};

mod options;
use options::{HELP, Options, parse_args};

/// What load_balancer.py keeps in module globals, shared by every client's thread.
struct LoadBalancer {
    /// The registry file, read afresh for every request (`REGISTRATION_FILE`, line 5).
    registry: PathBuf,
    /// How many requests have been handed out: the next worker is this count modulo the number
    /// of workers (`worker_index`, line 7). An atomic, because many threads take turns at once;
    /// Python's global is read and written by its threads without a lock.
    next_worker: AtomicUsize,
}

/// The workers listed in the registry file, in file order (load_balancer.py lines 10–16).
fn get_available_workers(lb: &LoadBalancer) -> Vec<WorkerAddr> {
    match registry::read_registry(&lb.registry) {
        Ok(registry) => registry.workers,
        // A registry we cannot read lists no worker; the client hears so instead of nothing.
        Err(e) => {
            println!("Cannot read {}: {e}", lb.registry.display());
            Vec::new()
        }
    }
}

/// Serves one client: read the request, ask a worker, relay its answer
/// (load_balancer.py lines 18–58). Dropping `client` at the end closes it, as `finally:` does.
fn handle_client(mut client: TcpStream, lb: &LoadBalancer) {
    let request = match protocol::read_request(&mut client) {
        Ok(request) => request,
        Err(e) => {
            println!("Could not read the request: {e}");
            return;
        }
    };
    println!(
        "Received request for factorial of {}",
        protocol::request_for_log(&request)
    );
    // A malformed request is answered here; no worker needs to see it.
    let number = match protocol::parse_request(&request) {
        Ok(number) => number,
        Err(bad) => {
            println!("Refused request: {bad}");
            reply_and_close(&mut client, bad.answer().as_bytes(), true);
            return;
        }
    };

    let workers = get_available_workers(lb);
    if workers.is_empty() {
        println!("No available workers.");
        reply_and_close(&mut client, protocol::NO_WORKERS.as_bytes(), false);
        return;
    }
    // Taking a turn and moving the counter is one atomic step; the modulo is taken at use, so
    // a registry that shrank between requests cannot send us past its end.
    let turn = lb.next_worker.fetch_add(1, Ordering::Relaxed);
    let worker = &workers[turn % workers.len()];

    match ask_worker(worker, number) {
        Ok(result) => {
            reply_and_close(&mut client, &result, false);
            println!(
                "Response sent to client: {}",
                shorten(&String::from_utf8_lossy(&result))
            );
        }
        Err(e) => {
            println!("Error communicating with worker {worker}: {e}");
            reply_and_close(&mut client, protocol::WORKER_FAILED.as_bytes(), false);
        }
    }
}

/// Sends the request to one worker and reads its whole answer.
fn ask_worker(worker: &WorkerAddr, number: u64) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect((worker.host.as_str(), worker.port))?;
    protocol::send_request(&mut stream, &number.to_string())?;
    let answer = protocol::read_answer(&mut stream)?;
    if answer.is_empty() {
        // The worker closed without a word, as a Python worker does on a request it cannot read.
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the worker closed without an answer",
        ));
    }
    Ok(answer)
}

/// Sends the client its answer. `unread_input` is true when the request may have left bytes
/// unread, which calls for a gentle close (see `protocol::send_error_and_close`).
fn reply_and_close(client: &mut TcpStream, answer: &[u8], unread_input: bool) {
    let sent = if unread_input {
        protocol::send_error_and_close(client, &String::from_utf8_lossy(answer))
    } else {
        protocol::send_answer(client, answer)
    };
    // The client may have gone away; that costs only its own answer.
    if let Err(e) = sent {
        println!("Could not answer the client: {e}");
    }
}

/// Listens for clients and gives each its own thread (load_balancer.py lines 60–82).
fn start_load_balancer(options: &Options) -> Result<(), Error> {
    let host = &options.host;
    let listener = TcpListener::bind((host.as_str(), options.port))
        .context(|| format!("cannot listen on {host}:{}", options.port))?;
    // With --port 0 the OS picked the port; print the real one.
    let port = listener
        .local_addr()
        .context(|| "cannot read the port the OS chose".to_string())?
        .port();
    println!("Load Balancer listening on {host}:{port}");

    let lb = Arc::new(LoadBalancer {
        registry: options.registry.clone(),
        next_worker: AtomicUsize::new(0),
    });
    loop {
        let (client, addr) = match listener.accept() {
            Ok(accepted) => accepted,
            // One failed accept (say, too many open files) is no reason to stop serving.
            Err(e) => {
                eprintln!("Could not accept a client: {e}");
                continue;
            }
        };
        println!("Client connected: {}", python_addr(addr));
        let lb = Arc::clone(&lb);
        thread::spawn(move || handle_client(client, &lb));
    }
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("load_balancer", HELP, parse_args);
    match start_load_balancer(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load_balancer: {e}");
            ExitCode::FAILURE
        }
    }
}

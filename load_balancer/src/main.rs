//! The load balancer: a port of the lab's `load_balancer.py`.
//!
//! Run it as `cargo run -p load_balancer` (or `load_balancer` once built) after starting the
//! workers, in the folder that holds their `worker_ports.txt`. It listens on 127.0.0.1:65432,
//! and for each client reads the request, picks a worker from the registry file (round-robin
//! unless `--strategy` says otherwise), forwards the request and relays the worker's answer.
//!
//! Beyond the Python, it does the fault tolerance the lab's text promises: a worker that fails
//! is skipped for a cool-down and the request goes to the next one; a bad request is refused
//! with a reason before any worker is bothered; silent clients time out and a flood is
//! refused with `Error: server busy`; answers of any size are relayed whole; the round-robin
//! counter is safe to share between threads.

use std::collections::HashSet;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::cli;
use common::display::{python_addr, shorten};
use common::error::{Error, plain};
use common::protocol;
use common::registry::{self, SkippedLine, WorkerAddr};
use common::server::{self, ConnectionLimit};
use common::threads::Threads;

mod health;
mod options;
mod strategy;
use health::Health;
use options::{HELP, Options, parse_args};
use strategy::{Strategy, Turns};

/// What load_balancer.py keeps in module globals, and what ours adds, shared by every client's
/// thread.
struct LoadBalancer {
    /// The registry file, read afresh for every request (`REGISTRATION_FILE`, line 5).
    registry: PathBuf,
    /// How to choose a worker (`--strategy`).
    strategy: Strategy,
    /// The round-robin counter (`worker_index`, line 7) and a random source.
    turns: Turns,
    /// Which workers failed lately and how busy each is.
    health: Health,
    /// Registry lines already reported as skipped, so each is logged once, not per request
    /// (at most a thousand are remembered; see `report_skipped_lines`).
    reported: Mutex<HashSet<SkippedLine>>,
    /// How long a client may take to send its request, and to take its answer.
    client_timeout: Duration,
    /// How long a worker may take to accept a connection.
    connect_timeout: Duration,
    /// How long a worker may take to answer.
    worker_timeout: Duration,
}

/// The workers listed in the registry file, in file order (load_balancer.py lines 10–16).
fn get_available_workers(lb: &LoadBalancer) -> Vec<WorkerAddr> {
    /// How many times a read that finds no worker is read again. A registry rewritten in place
    /// (truncated, then written) lists nobody for a moment: under load, 23% of requests met
    /// that moment and were told there were no workers while two were healthy.
    const RETRIES: u32 = 5;
    /// The pause before each new read. A rewrite takes well under a millisecond unless its
    /// writer is held up; 5 × 100 ms covers that widely, and a lab with truly no workers is
    /// told so within half a second.
    const PAUSE: Duration = Duration::from_millis(100);
    let mut retries_left = RETRIES;
    loop {
        let workers = match registry::read_registry(&lb.registry) {
            Ok(registry) => {
                report_skipped_lines(lb, &registry);
                registry.workers
            }
            // A registry we cannot read lists no worker; the client hears so instead of nothing.
            Err(e) => {
                println!("Cannot read {}: {}", lb.registry.display(), plain(&e));
                return Vec::new();
            }
        };
        // Python answers at once; we read an empty registry again, as it may be mid-rewrite.
        if !workers.is_empty() || retries_left == 0 {
            return workers;
        }
        retries_left -= 1;
        std::thread::sleep(PAUSE);
    }
}

/// Logs each registry line that names no worker, once (Python's int() crashes on the first);
/// past the few a read lists, one line counts the rest.
fn report_skipped_lines(lb: &LoadBalancer, registry: &registry::Registry) {
    /// How many reported lines are remembered. A registry edited again and again must not
    /// grow memory without end: past this many the memory starts afresh, and a line still in
    /// the file is logged once more, which costs far less.
    const REMEMBERED: usize = 1000;
    let mut reported = lb.reported.lock().unwrap_or_else(PoisonError::into_inner);
    let mut logged_any = false;
    for line in &registry.skipped {
        if reported.len() >= REMEMBERED {
            reported.clear();
        }
        if reported.insert(line.clone()) {
            logged_any = true;
            println!(
                "Skipping line {} of {} ({:?}): {}",
                line.number,
                lb.registry.display(),
                line.text,
                line.reason
            );
        }
    }
    // The count goes with the listed lines it follows, so it too is logged once.
    if logged_any && registry.more_skipped > 0 {
        println!(
            "Skipping {} more lines of {} that name no worker",
            registry.more_skipped,
            lb.registry.display()
        );
    }
}

/// Serves one client: read the request, ask a worker, relay its answer
/// (load_balancer.py lines 18–58). The caller closes `client` afterwards by dropping it, on
/// every path, as `finally: client_socket.close()` does.
fn handle_client(client: &mut TcpStream, lb: &LoadBalancer) {
    // A client that sends nothing, or reads nothing, frees this thread after --timeout.
    let timeouts = client
        .set_read_timeout(Some(lb.client_timeout))
        .and_then(|()| client.set_write_timeout(Some(lb.client_timeout)));
    let request = match timeouts.and_then(|()| protocol::read_request(client)) {
        Ok(request) => request,
        Err(e) if protocol::is_timeout(&e) => return refuse(client, protocol::TIMED_OUT),
        Err(e) => {
            println!("Could not read the request: {}", plain(&e));
            return;
        }
    };
    println!(
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
        println!("No available workers.");
        return reply(client, protocol::NO_WORKERS.as_bytes());
    }

    // Python asks one worker (lines 36–55); we go on to the next while one fails.
    match forward_to_workers(lb, &workers, number) {
        Some(result) => {
            reply(client, &result);
            let result = String::from_utf8_lossy(&result);
            println!("Response sent to client: {}", shorten(&result));
        }
        None => reply(client, protocol::WORKER_FAILED.as_bytes()),
    }
}

/// Tries the workers in the order the strategy gives until one answers, marking the ones that
/// fail as down. Retrying is safe: n! is the same whoever computes it. `None` when every
/// worker failed.
fn forward_to_workers(lb: &LoadBalancer, workers: &[WorkerAddr], number: u64) -> Option<Vec<u8>> {
    for worker in workers_to_try(lb, workers) {
        match ask_worker(lb, &worker, number) {
            Ok(answer) => {
                if lb.health.mark_up(&worker) {
                    println!("Worker {worker} is back up");
                }
                println!("Forwarded to worker {worker}");
                return Some(answer);
            }
            Err(e) => {
                println!("Error communicating with worker {worker}: {}", plain(&e));
                if lb.health.mark_down(&worker) {
                    let cooldown = lb.health.cooldown().as_secs_f64();
                    println!("Worker {worker} marked down; skipping it for {cooldown}s");
                }
            }
        }
    }
    None
}

/// Every worker once: those that are up in the strategy's order, then those in their
/// cool-down, which a request tries rather than fail.
fn workers_to_try(lb: &LoadBalancer, workers: &[WorkerAddr]) -> Vec<WorkerAddr> {
    let (up, cooling_down) = lb.health.split(workers);
    let turn = lb.turns.next(lb.strategy);
    let load = lb.health.loads(&up);
    let order = lb.strategy.order(up.len(), turn, &load);
    let mut chosen: Vec<WorkerAddr> = order.into_iter().map(|i| up[i].clone()).collect();
    chosen.extend(cooling_down);
    chosen
}

/// Sends the request to one worker and reads its whole answer. A worker that does not accept
/// within --connect-timeout, closes without an answer or says it is busy has failed.
fn ask_worker(lb: &LoadBalancer, worker: &WorkerAddr, number: u64) -> io::Result<Vec<u8>> {
    let _in_flight = lb.health.start_request(worker);
    let mut stream = connect(worker, lb.connect_timeout)?;
    stream.set_read_timeout(Some(lb.worker_timeout))?;
    stream.set_write_timeout(Some(lb.worker_timeout))?;
    protocol::send_request(&mut stream, &number.to_string())?;
    let answer = protocol::read_answer(&mut stream)?;
    if answer.is_empty() {
        // As a Python worker does on a request it cannot read, or any worker that dies.
        return Err(io::Error::other("closed without an answer"));
    }
    if answer == protocol::BUSY.as_bytes() {
        return Err(io::Error::other("the worker is busy"));
    }
    Ok(answer)
}

/// Connects to a worker within `timeout`, trying each address its host name has.
fn connect(worker: &WorkerAddr, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in (worker.host.as_str(), worker.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// Sends the client its answer. The client may have gone away; that costs only its answer.
fn reply(client: &mut TcpStream, answer: &[u8]) {
    if let Err(e) = protocol::send_answer(client, answer) {
        println!("Could not answer the client: {}", plain(&e));
    }
}

/// Sends an `Error: ` answer to a request that may have left bytes unread, and closes gently.
fn refuse(client: &mut TcpStream, answer: &str) {
    println!("Refused request: {answer}");
    if let Err(e) = protocol::send_error_and_close(client, answer) {
        println!("Could not answer the client: {}", plain(&e));
    }
}

/// Listens for clients and gives each its own thread (load_balancer.py lines 60–82).
fn start_load_balancer(options: Options) -> Result<(), Error> {
    let host = &options.host;
    // With --port 0 the OS picks the port; we print the real one.
    let (listener, port) = server::listen(host, options.port)?;
    println!("Load Balancer listening on {host}:{port}");

    let limit = ConnectionLimit::new(options.max_connections);
    let threads = Threads::new(options.threads);
    let lb = Arc::new(LoadBalancer {
        registry: options.registry,
        strategy: options.strategy,
        turns: Turns::new(),
        health: Health::new(options.cooldown),
        reported: Mutex::new(HashSet::new()),
        client_timeout: options.timeout,
        connect_timeout: options.connect_timeout,
        worker_timeout: options.worker_timeout,
    });
    loop {
        let (mut client, addr) = match listener.accept() {
            Ok(accepted) => accepted,
            // One failed accept (say, too many open files) is no reason to stop serving.
            Err(e) => {
                eprintln!("Could not accept a client: {}", plain(&e));
                continue;
            }
        };
        println!("Client connected: {}", python_addr(addr));
        // Over the cap, answer "server busy" rather than start yet another thread.
        let Some(slot) = limit.try_admit() else {
            let open = limit.open();
            println!("Busy ({open} open): refused {}", python_addr(addr));
            limit.refuse(client);
            continue;
        };
        // A thread of its own runs handle_client, as lines 80–82 start one; see --threads.
        let lb = Arc::clone(&lb);
        let started = threads.start(move || {
            handle_client(&mut client, &lb);
            // Free the place before `client` closes (Python's `finally: close()`): the client
            // may connect again the moment it sees the close.
            drop(slot);
        });
        if let Err(e) = started {
            eprintln!("Could not start a thread for the client: {e}");
        }
    }
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("load_balancer", HELP, parse_args);
    match start_load_balancer(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load_balancer: {e}");
            ExitCode::FAILURE
        }
    }
}

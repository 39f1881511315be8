//! What the lab's three programs share.
//!
//! The Python lab repeats a few things in each file (the registry file name, the host, how a
//! request is read); here they live once:
//!
//! - [`protocol`]: the wire format — how a request and an answer travel, and what a valid
//!   request is. No other code of the three programs reads or writes raw bytes on a socket
//!   (the test harness and the grader, which play misbehaving peers on purpose, do).
//! - [`digits`]: the digits and spaces of every script, as Python's `int()` reads them.
//! - [`deadline`]: one deadline for a whole wait, where a timeout per read would let a peer
//!   that trickles its bytes wait for ever.
//! - [`registry`]: `worker_ports.txt`, the file that workers append their port to and the load
//!   balancer reads (`register_worker` and `get_available_workers` in the Python files).
//! - [`factorial`]: n! as an exact big integer (Python's `math.factorial`).
//! - [`display`]: how the programs print addresses and very long numbers.
//! - [`error`]: the one error type, a sentence for the user.
//! - [`log`]: log lines that never block or panic, whatever happens to standard output.
//! - [`server`]: binding a listener, and the one serving loop both servers run: accept,
//!   admit under the cap, a thread for each connection.
//! - [`stop_signal`]: Ctrl-C and SIGTERM, caught so that a server finishes what it took.
//! - [`limit`]: the cap on open connections (`--max-connections`).
//! - [`threads`]: a thread for each connection, started anew or reused (`--threads`).
//! - [`cli`]: the few helpers the three programs use to read their flags.

pub mod cli;
pub mod deadline;
pub mod digits;
pub mod display;
pub mod error;
pub mod factorial;
pub mod limit;
pub mod log;
pub mod protocol;
pub mod registry;
pub mod server;
pub mod stop_signal;
pub mod threads;

/// Locks a mutex shared between threads, even if a thread panicked while holding it. Our
/// locks guard small records changed in a step or two (counts, lists, flags) that stay
/// consistent whatever happens, so the data of a "poisoned" lock is used as it is rather than
/// turning one thread's panic into every thread's.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The host every program uses unless told otherwise: the lab runs on one machine
/// (`host = "127.0.0.1"` in all three Python files).
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The load balancer's port, which the client dials (`port = 65432` in client.py and
/// load_balancer.py).
pub const DEFAULT_LB_PORT: u16 = 65432;

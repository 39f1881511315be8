//! `--threads spawn|reuse`: how connections get their threads.
//!
//! `spawn`, the default, is the Python's way: the accept loop starts a new thread for each
//! connection (`threading.Thread(...).start()`, load_balancer.py lines 80–82), which ends with
//! its connection (the loop in each server's `main.rs`, `Accepting::spawn` in `accept.rs`).
//!
//! `reuse` is an opt-in for speed: starting a thread costs tens of microseconds, which caps a
//! busy load balancer (docs/benchmarks.md). Instead, a fixed pool of threads is started once,
//! and each of them runs the very same accept loop on its own clone of the listening socket:
//! accept a connection, serve it, accept the next. Nothing is handed from thread to thread
//! while serving, so there is no queue to read about; the kernel gives each new connection to
//! one of the threads waiting in `accept`. One lock is taken once, at the start: the threads
//! wait behind it until every one of them is running.

use std::fmt;
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::{PoisonError, RwLock};
use std::thread;

use crate::armour::error::{Context, Error};

/// More threads in the pool than the connection cap, so that some thread is always free to
/// accept a newcomer and answer it `Error: server busy` (or close the connection that waited
/// longest, to make room), even while every admitted connection is being served.
const SPARE_THREADS: usize = 4;

/// How a connection gets its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadMode {
    /// A new OS thread for every connection, which ends with it: exactly
    /// `threading.Thread(...).start()`. The default.
    Spawn,
    /// A fixed pool of threads, each accepting and serving connections one after another.
    Reuse,
}

impl FromStr for ThreadMode {
    type Err = String;

    fn from_str(text: &str) -> Result<ThreadMode, String> {
        match text {
            "spawn" => Ok(ThreadMode::Spawn),
            "reuse" => Ok(ThreadMode::Reuse),
            _ => Err("expected spawn or reuse".to_string()),
        }
    }
}

impl fmt::Display for ThreadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadMode::Spawn => "spawn",
            ThreadMode::Reuse => "reuse",
        })
    }
}

/// How many threads `--threads reuse` runs for a cap of `max_connections`.
pub fn pool_size(max_connections: usize) -> usize {
    max_connections.saturating_add(SPARE_THREADS)
}

/// For `--threads reuse`: runs `accept_loop` on `max_connections` + a few threads at once,
/// each with its own clone of `listener`, and never returns while they run. Fails when the
/// listener cannot be cloned or no thread can be started.
pub fn run_pool(
    listener: &TcpListener,
    max_connections: usize,
    accept_loop: impl Fn(&TcpListener) + Sync,
) -> Result<(), Error> {
    let count = pool_size(max_connections);
    let listeners = (0..count)
        .map(|_| listener.try_clone())
        .collect::<Result<Vec<_>, _>>()
        .context(|| "cannot share the listening socket".to_string())?;
    // The threads start accepting only once all of them are running; if one cannot start,
    // the others are told to end, so the error is reported instead of a pool half started.
    let gate = RwLock::new(Start::Wait);
    thread::scope(|scope| {
        let mut held = gate.write().unwrap_or_else(PoisonError::into_inner);
        for listener in listeners {
            let (gate, accept_loop) = (&gate, &accept_loop);
            let started = thread::Builder::new().spawn_scoped(scope, move || {
                let go = *gate.read().unwrap_or_else(PoisonError::into_inner) == Start::Go;
                if go {
                    accept_loop(&listener);
                }
            });
            if started.is_err() {
                *held = Start::GiveUp;
                return Err(Error::new(format!(
                    "cannot start the {count} threads of --threads reuse"
                )));
            }
        }
        *held = Start::Go;
        Ok(())
    })
}

/// What the pool's threads are told once all of them are started, or one could not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Not told yet.
    Wait,
    /// Every thread is running: accept.
    Go,
    /// A thread could not start: end, so that the error can be reported.
    GiveUp,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::mpsc;

    /// Each pool thread accepts and serves on its own: five connections served at the same
    /// time are served by five different threads. A pool that served them one after another
    /// fails the test after a minute instead of hanging it.
    #[test]
    fn pool_threads_each_accept_and_serve() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (served, served_by) = mpsc::channel();
        let served = std::sync::Mutex::new(served);
        // No connection is answered until the test has seen five being served at once.
        let gate = std::sync::Arc::new(RwLock::new(()));
        let held = gate.write().unwrap();
        let their_gate = std::sync::Arc::clone(&gate);
        thread::spawn(move || {
            let _ = run_pool(&listener, 5, |listener| {
                loop {
                    let (mut stream, _) = listener.accept().unwrap();
                    let mut byte = [0u8; 1];
                    stream.read_exact(&mut byte).unwrap();
                    served.lock().unwrap().send(thread::current().id()).unwrap();
                    drop(their_gate.read());
                    stream.write_all(&byte).unwrap();
                }
            });
        });
        let mut streams: Vec<TcpStream> = (0..5)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        for stream in &mut streams {
            stream.write_all(b"x").unwrap();
        }
        let patience = std::time::Duration::from_secs(60);
        let ids: HashSet<_> = (0..5)
            .map(|_| {
                served_by
                    .recv_timeout(patience)
                    .unwrap_or_else(|e| panic!("not five at once: {e}"))
            })
            .collect();
        assert_eq!(ids.len(), 5);
        drop(held);
        for stream in &mut streams {
            let mut echo = [0u8; 1];
            stream.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, b"x");
        }
    }

    /// The modes parse from the flag's words.
    #[test]
    fn parses_the_flag() {
        assert_eq!("spawn".parse(), Ok(ThreadMode::Spawn));
        assert_eq!("reuse".parse(), Ok(ThreadMode::Reuse));
        assert!("pool".parse::<ThreadMode>().is_err());
    }
}

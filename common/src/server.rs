//! What the worker and the load balancer share around the Python's `bind`, `listen` and
//! `accept` loop (worker_server.py lines 19–35, load_balancer.py lines 66–82): binding the
//! listener, and one serving loop, [`serve`], with what the Python does not do — a failed
//! accept waits instead of spinning or dying, the connection cap answers `Error: server
//! busy` over `--max-connections` (`limit.rs`), and `--threads reuse` runs the same loop on a
//! fixed pool of threads (`threads.rs`). Each connection it admits is a [`Connection`].

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::display::python_addr;
use crate::error::{Context, Error, in_words};
use crate::limit::{ConnectionLimit, Slot};
use crate::threads::{self, ThreadMode};
use crate::{log, protocol, say, stop_signal};

/// How long [`bind`] tries to connect to a port it could not bind, to learn whether
/// something listens there. The port is on this machine, where a connect is answered at once;
/// this only bounds a firewall that drops it.
const LISTENER_CHECK: Duration = Duration::from_secs(1);

/// Binds `host`:`port` (Python's `bind`). std's `bind` also starts listening, which Python
/// does in a separate `listen()` call. A failure says what to do about it.
pub fn bind(host: &str, port: u16) -> Result<TcpListener, Error> {
    TcpListener::bind((host, port)).map_err(|e| cannot_listen(host, port, &e))
}

/// The port `listener` is bound to (Python's `getsockname()[1]`): with port 0 the OS picked it.
pub fn local_port(listener: &TcpListener) -> Result<u16, Error> {
    let addr = listener
        .local_addr()
        .context(|| "cannot read the port the OS chose".to_string())?;
    Ok(addr.port())
}

/// Why binding failed, in words that say what to do. A port "in use" where nothing listens is
/// held by connections closed moments ago (TIME_WAIT) by a program that did not set
/// SO_REUSEADDR, such as the Python load balancer; no program needs stopping then.
fn cannot_listen(host: &str, port: u16, error: &io::Error) -> Error {
    let doing = format!("cannot listen on {host}:{port}: {}", in_words(error));
    if error.kind() != io::ErrorKind::AddrInUse {
        return Error::new(doing);
    }
    // Python just fails here; we connect to learn whether a program listens there.
    let listening = (host, port).to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|addr| TcpStream::connect_timeout(&addr, LISTENER_CHECK).is_ok())
    });
    if listening {
        Error::new(format!(
            "{doing}: another program listens there; stop it or choose another --port"
        ))
    } else {
        Error::new(format!(
            "{doing}, though nothing listens there: connections closed moments ago hold it \
             (TIME_WAIT), left by a program that did not set SO_REUSEADDR, such as the Python \
             load balancer; it frees within a minute"
        ))
    }
}

/// How a server gives connections their threads, and how many it serves at once.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// A new thread for each connection, as the Python starts one, or a reused pool.
    pub threads: ThreadMode,
    /// How many connections are served at once (`--max-connections`).
    pub max_connections: usize,
}

/// How long a server stopped by Ctrl-C or SIGTERM lets the connections it took finish before
/// it ends anyway: a request through our load balancer takes milliseconds, and 10 s is what
/// Docker gives a container between SIGTERM and SIGKILL (`docker stop`), so the bound is ours,
/// not the kill's.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often the thread that waits for Ctrl-C or SIGTERM looks whether one came.
const STOP_POLL: Duration = Duration::from_millis(100);

/// Accepts connections and hands each to `handle` on a thread of its own (or, with `--threads
/// reuse`, on the pool thread that accepted it), until Ctrl-C or SIGTERM: then it stops
/// accepting, closes the listening socket (a restarted server can bind it at once), lets the
/// connections it took finish, within [`STOP_GRACE`], and ends the process as the signal
/// would have (`stop_signal.rs`). Returns only when the pool of `--threads reuse` cannot
/// start.
pub fn serve(
    listener: TcpListener,
    serving: Serving,
    handle: impl Fn(Connection) + Send + Sync + 'static,
) -> Result<(), Error> {
    let limit = ConnectionLimit::new(serving.max_connections);
    let handle = Arc::new(handle);
    // Ours: Ctrl-C and SIGTERM let the requests in progress finish (Python's die with them).
    stop_signal::catch();
    let accepting = match serving.threads {
        ThreadMode::Spawn => 1,
        ThreadMode::Reuse => threads::pool_size(serving.max_connections),
    };
    wake_on_stop(&listener, accepting);
    match serving.threads {
        ThreadMode::Spawn => accept_connections(&listener, &limit, ThreadMode::Spawn, &handle),
        ThreadMode::Reuse => threads::run_pool(&listener, serving.max_connections, |listener| {
            accept_connections(listener, &limit, ThreadMode::Reuse, &handle)
        })?,
    }
    drop(listener);
    finish_what_was_taken(&limit);
    stop_signal::end_as_signalled()
}

/// Starts the thread that waits for Ctrl-C or SIGTERM and then wakes the `accepting` threads
/// blocked in `accept`, by connecting to the listener (std cannot interrupt an `accept`; the
/// tiny-http way). Without that thread (none could start), a stop signal still ends the
/// process, at the next connection.
fn wake_on_stop(listener: &TcpListener, accepting: usize) {
    let Ok(mut addr) = listener.local_addr() else {
        return;
    };
    // Listening on every address: this machine's own loopback reaches it.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = thread::Builder::new().spawn(move || {
        while !stop_signal::requested() {
            thread::sleep(STOP_POLL);
        }
        for _ in 0..accepting {
            if TcpStream::connect_timeout(&addr, LISTENER_CHECK).is_err() {
                break; // every accepting thread has stopped and closed its socket
            }
        }
    });
}

/// After the accept loop stopped: waits until every connection taken has been answered and
/// closed, at most [`STOP_GRACE`]. A connection still waiting for its request is not waited
/// for: its read ends at once ([`protocol::read_request_within`]).
fn finish_what_was_taken(limit: &ConnectionLimit) {
    let open = limit.open();
    if open > 0 {
        say!(
            "Stopping: finishing {open} connection(s) in progress (at most {} s; Ctrl-C again \
             stops at once)",
            STOP_GRACE.as_secs()
        );
    }
    let grace = Deadline::after(STOP_GRACE);
    while limit.open() > 0 && !grace.has_passed() {
        thread::sleep(FINISH_POLL);
    }
    log::flush();
}

/// How often a stopping server looks whether its last connections have finished.
const FINISH_POLL: Duration = Duration::from_millis(20);

/// The accept loop: accept, admit under the cap, serve.
fn accept_connections<H>(
    listener: &TcpListener,
    limit: &ConnectionLimit,
    mode: ThreadMode,
    handle: &Arc<H>,
) where
    H: Fn(Connection) + Send + Sync + 'static,
{
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = listener.accept();
        // Ours: after Ctrl-C or SIGTERM, no new connection is taken (see `serve`).
        if stop_signal::requested() {
            return;
        }
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            // A failed accept (out of file descriptors) is no reason to stop; wait, then retry.
            Err(e) => {
                backoff.failed(&e);
                continue;
            }
        };
        backoff.succeeded();
        // Over the cap, the longest-waiting request makes room, or "server busy", no thread.
        let Some(slot) = limit.try_admit(&stream) else {
            say!(
                "Busy ({} open): refused {}",
                limit.open(),
                python_addr(addr)
            );
            limit.refuse(stream);
            continue;
        };
        let connection = Connection {
            slot,
            stream,
            addr,
            answer_time: None,
        };
        if mode == ThreadMode::Reuse {
            handle(connection);
            continue;
        }
        let handle = Arc::clone(handle);
        // Python's threading.Thread(...).start(), with an error instead of a panic.
        if let Err(e) = thread::Builder::new().spawn(move || handle(connection)) {
            log::warn(&format!("Could not start a thread for a connection: {e}"));
        }
    }
}

/// One admitted connection: the Python's `conn` (worker) or `client_socket` (load balancer).
/// Dropping it closes the socket, as the end of Python's `with conn:` or `finally:
/// client_socket.close()` does.
pub struct Connection {
    /// Its place under `--max-connections`. Declared first, so dropped first: the place is
    /// free before the socket closes, and a client that connects again the moment it sees the
    /// close never finds its old connection still counted.
    slot: Slot,
    stream: TcpStream,
    addr: SocketAddr,
    /// How long the client may take to take its whole answer: the `time` given to
    /// [`Connection::read_request`]; none before a request was read.
    answer_time: Option<Duration>,
}

impl Connection {
    /// Who connected (Python's `addr`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reads the whole request within `time` (Python's `recv(1024)`, with a deadline: a
    /// silent or trickling client cannot hold its thread for ever); from then on the
    /// connection is being served and is never closed to make room for another. Its answer
    /// must be taken within `time` too, in all, so a client that reads it slowly or not at
    /// all frees its thread and place.
    pub fn read_request(&mut self, time: Duration) -> io::Result<Vec<u8>> {
        self.answer_time = Some(time);
        let request = protocol::read_request_within(&mut self.stream, time)?;
        self.slot.request_received();
        Ok(request)
    }

    /// Runs `work`, handing it a flag that is set once the client has closed the connection
    /// (or reset it) meanwhile: a long computation for a client that has gone can stop. A
    /// client that closes only its sending side after its request (`nc -N`) counts as gone
    /// too, as nginx counts it (`proxy_ignore_client_abort off`, its default): no peer of the
    /// lab's does that after a number. Without a thread to watch (none could start), the flag
    /// is never set.
    pub fn while_connected<T>(&self, work: impl FnOnce(&AtomicBool) -> T) -> T {
        let gone = AtomicBool::new(false);
        let Ok(watched) = self.stream.try_clone() else {
            return work(&gone);
        };
        // Dropping `done` ends the watch at once, rather than at the watcher's next look.
        let (done, until_done) = mpsc::channel::<()>();
        let result = thread::scope(|scope| {
            let watching = thread::Builder::new()
                .spawn_scoped(scope, || watch_for_close(&watched, &gone, until_done));
            let result = work(&gone);
            drop(done);
            drop(watching);
            result
        });
        // The clone shares the socket's blocking mode, which the watcher changed.
        let _ = self.stream.set_nonblocking(false);
        result
    }

    /// Sends the answer and closes the connection: the one way our servers answer. After n!
    /// the few bytes the client may have sent beyond its number are read without waiting
    /// ([`protocol::drain_before_close`]), and the place under the cap is freed just before
    /// the close, so a client that connects again the moment it sees the close never finds
    /// its old connection still counted. After an `Error: ` answer the close is a gentle one
    /// that waits for the client to close first, on the refusing thread, and the place stays
    /// taken until the socket is closed ([`Slot::close_gently`]).
    pub fn answer(self, answer: &[u8]) -> io::Result<()> {
        let Connection {
            slot,
            mut stream,
            answer_time,
            ..
        } = self;
        // Ours: one deadline for the whole answer, not one per write(), which a client that
        // reads a few bytes now and then would renew for ever.
        protocol::send_answer_within(&mut stream, answer, answer_time)?;
        if protocol::is_error_answer(answer) {
            slot.close_gently(stream);
            return Ok(());
        }
        drop(slot);
        protocol::drain_before_close(&stream)
    }
}

/// How often [`Connection::while_connected`] looks whether the client is still there.
const WATCH_POLL: Duration = Duration::from_millis(100);

/// Sets `gone` once the client has closed `stream`, looking every [`WATCH_POLL`] until the
/// work is done (`until_done` disconnects).
fn watch_for_close(stream: &TcpStream, gone: &AtomicBool, until_done: Receiver<()>) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    while let Err(RecvTimeoutError::Timeout) = until_done.recv_timeout(WATCH_POLL) {
        if !protocol::still_open(stream) {
            gone.store(true, Ordering::Relaxed);
            return;
        }
    }
}

/// How long the accept loop waits after its first failed accept, and the most it waits: when
/// the process is out of file descriptors, `accept` fails at once and a loop that retried at
/// once would spin a core at 100% (mini-redis's back-off, scaled down: a lab server should
/// resume within a second of a descriptor being freed).
const FIRST_ACCEPT_WAIT: Duration = Duration::from_millis(10);
/// See [`FIRST_ACCEPT_WAIT`].
const MOST_ACCEPT_WAIT: Duration = Duration::from_secs(1);

/// Failed accepts in a row: waits longer after each, and says so once per burst.
#[derive(Default)]
struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    /// After a failed accept: the first of a burst is reported on stderr, then we wait
    /// 10 ms, 20 ms, 40 ms … up to a second before the next try.
    fn failed(&mut self, error: &io::Error) {
        if self.failures == 0 {
            log::warn(&format!(
                "Could not accept a connection: {}; trying again, less often, until it works",
                in_words(error)
            ));
        }
        // 10 ms after the first failure, then twice as long after each, up to the most.
        let doublings = self.failures.min(10);
        let wait = FIRST_ACCEPT_WAIT.saturating_mul(2u32.pow(doublings));
        thread::sleep(wait.min(MOST_ACCEPT_WAIT));
        self.failures = self.failures.saturating_add(1);
    }

    /// After an accept that worked: ends a burst of failures, saying how long it was.
    fn succeeded(&mut self) {
        if self.failures > 0 {
            log::warn(&format!(
                "Accepting connections again after {} failed tries",
                self.failures
            ));
            self.failures = 0;
        }
    }
}

//! What the worker and the load balancer share around the Python's `bind`, `listen` and
//! `accept` loop (worker_server.py lines 19–35, load_balancer.py lines 66–82): binding the
//! listener, and one serving loop, [`serve`], with what the Python does not do — a failed
//! accept waits instead of spinning or dying, the connection cap answers `Error: server
//! busy` over `--max-connections` (`limit.rs`), and `--threads reuse` runs the same loop on a
//! fixed pool of threads (`threads.rs`). Each connection it admits is a [`Connection`].

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::display::python_addr;
use crate::error::{Context, Error, in_words};
use crate::limit::{ConnectionLimit, Slot};
use crate::threads::{self, ThreadMode};
use crate::{log, protocol, say};

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

/// Accepts connections for ever and hands each to `handle` on a thread of its own (or, with
/// `--threads reuse`, on the pool thread that accepted it). Returns only when the pool of
/// `--threads reuse` cannot start.
pub fn serve(
    listener: &TcpListener,
    serving: Serving,
    handle: impl Fn(Connection) + Send + Sync + 'static,
) -> Result<(), Error> {
    let limit = ConnectionLimit::new(serving.max_connections);
    let handle = Arc::new(handle);
    match serving.threads {
        ThreadMode::Spawn => accept_connections(listener, &limit, ThreadMode::Spawn, &handle),
        ThreadMode::Reuse => threads::run_pool(listener, serving.max_connections, |listener| {
            accept_connections(listener, &limit, ThreadMode::Reuse, &handle)
        })?,
    }
    Ok(())
}

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
        let (stream, addr) = match listener.accept() {
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

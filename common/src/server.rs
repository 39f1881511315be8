//! What the worker and the load balancer need around the Python's accept loop: binding the
//! listener, and a cap on open connections, so that a flood cannot exhaust threads or memory.
//! Over the cap a connection gets no thread: it gets `Error: server busy` at once. (The
//! threads that serve connections are in [`crate::threads`].)

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::display::python_addr;
use crate::error::{Context, Error, plain};
use crate::{lock, log, protocol, say};

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
    let doing = format!("cannot listen on {host}:{port}: {}", plain(error));
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

/// How many refused connections may linger at once, each held open for at most
/// [`protocol::LINGER`] so its unread request cannot turn our close into a reset. During a
/// flood beyond that, a refused connection is closed at once: the cost of refusing stays
/// bounded too.
const REFUSALS_HELD: usize = 1024;

/// How often the refusing thread looks at the connections it holds: often enough that a
/// client's close is noticed at once, for a thread that is idle almost always.
const REFUSAL_POLL: Duration = Duration::from_millis(20);

/// A connection being refused: its socket and when to stop waiting for its close.
type Refused = (TcpStream, Instant);

/// Counts open connections against a cap. Over the cap, a connection still waiting for its
/// whole request (the oldest of those admitted once half the places were taken) makes room
/// for the newcomer (a slow typist or a trickling
/// attacker, never a request in progress); when none is waiting, the newcomer is refused with
/// `Error: server busy` at once, without a thread of its own.
pub struct ConnectionLimit {
    /// Open connections, and those still waiting for their request; shared with every [`Slot`].
    table: Arc<Mutex<Table>>,
    /// The cap, from `--max-connections`.
    max: usize,
    /// Hands refused connections to the one thread that lets them close gently.
    refusals: SyncSender<Refused>,
}

/// Connections admitted and not yet finished.
#[derive(Default)]
struct Table {
    /// How many are open.
    open: usize,
    /// Those still waiting for their request, oldest first, each with a clone of its socket
    /// so that it can be closed to make room.
    waiting: VecDeque<Waiting>,
    /// Numbers the slots.
    next_id: u64,
}

/// A connection that has not sent its whole request yet.
struct Waiting {
    id: u64,
    stream: TcpStream,
}

/// One admitted connection's place under the cap; dropping it frees the place.
pub struct Slot {
    id: u64,
    /// Whether it is listed among those waiting for their request (see `try_admit`).
    listed: bool,
    table: Arc<Mutex<Table>>,
}

impl Slot {
    /// Says that the whole request has arrived: from now on this connection is being served
    /// and never closed to make room for another.
    pub fn request_received(&self) {
        if self.listed {
            lock(&self.table).waiting.retain(|w| w.id != self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = lock(&self.table);
        table.open -= 1;
        if self.listed {
            table.waiting.retain(|w| w.id != self.id);
        }
    }
}

impl ConnectionLimit {
    /// A limit of `max` open connections, with its refusing thread.
    pub fn new(max: usize) -> ConnectionLimit {
        let (refusals, refused) = mpsc::sync_channel::<Refused>(REFUSALS_HELD);
        // The refusing thread ends when this limit (the only sender) is dropped.
        // Without it (no thread could start), a refused connection is closed at once instead.
        let _ = thread::Builder::new().spawn(move || hold_refused_until_closed(&refused));
        ConnectionLimit {
            table: Arc::new(Mutex::new(Table::default())),
            max,
            refusals,
        }
    }

    /// A slot for `stream`, or `None` when `max` connections are open and none of them is
    /// listed as still waiting for its request. To make room, the oldest listed one is answered
    /// `Error: server busy` and closed. Only connections admitted past half the cap are listed:
    /// before that the places cannot run out, and listing costs a clone of the socket.
    pub fn try_admit(&self, stream: &TcpStream) -> Option<Slot> {
        let mut table = lock(&self.table);
        if table.open >= self.max {
            // Room is made only while few are on their way out, so a flood cannot push the
            // number of open connections far past the cap.
            if table.open >= 2 * self.max {
                return None;
            }
            let oldest = table.waiting.pop_front()?;
            let peer = oldest
                .stream
                .peer_addr()
                .map(python_addr)
                .unwrap_or_default();
            say!("Busy: closed {peer}, still waiting for its request, to make room");
            answer_at_once(&oldest.stream);
            // Both directions: its thread's read returns at once, and the thread finishes.
            let _ = oldest.stream.shutdown(Shutdown::Both);
        }
        let id = table.next_id;
        table.next_id += 1;
        table.open += 1;
        // Only past half the cap can the places run out, so only from there on is a clone kept
        // for closing the connection early (a clone costs two system calls). A clone that
        // cannot be made only means this connection cannot be closed early.
        let mut listed = false;
        if table.open.saturating_mul(2) >= self.max {
            if let Ok(stream) = stream.try_clone() {
                table.waiting.push_back(Waiting { id, stream });
                listed = true;
            }
        }
        Some(Slot {
            id,
            listed,
            table: Arc::clone(&self.table),
        })
    }

    /// Answers `Error: server busy` at once, and leaves the close to the refusing thread.
    pub fn refuse(&self, stream: TcpStream) {
        answer_at_once(&stream);
        // Our side is done; the client's unread request must not turn our close into a reset
        // that destroys the answer, so the refusing thread holds the socket until it closes.
        let _ = stream.shutdown(Shutdown::Write);
        // When too many refusals are held already, dropping the stream closes it at once.
        let _ = self
            .refusals
            .try_send((stream, Instant::now() + protocol::LINGER));
    }

    /// How many connections are open now, for log lines.
    pub fn open(&self) -> usize {
        lock(&self.table).open
    }
}

/// Writes `Error: server busy` without waiting: a new connection's send buffer is empty, so
/// the few bytes always fit; a connection that cannot take them is not worth waiting for.
fn answer_at_once(stream: &TcpStream) {
    if stream.set_nonblocking(true).is_ok() {
        let mut writer = stream;
        let _ = writer.write_all(protocol::BUSY.as_bytes());
        let _ = stream.set_nonblocking(false);
    }
}

/// The refusing thread: holds each refused connection, reading and discarding what the
/// client sends, until the client closes or its time is up. Sockets are polled without
/// blocking, so one slow client holds up no other.
fn hold_refused_until_closed(refused: &Receiver<Refused>) {
    let mut held: Vec<Refused> = Vec::new();
    loop {
        let next = if held.is_empty() {
            refused.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            refused.recv_timeout(REFUSAL_POLL)
        };
        match next {
            Ok((stream, until)) => {
                if stream.set_nonblocking(true).is_ok() && held.len() < REFUSALS_HELD {
                    held.push((stream, until));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        held.retain(|(stream, until)| now < *until && still_open(stream));
    }
}

/// Reads whatever has arrived on a non-blocking socket: true while the client keeps it open.
fn still_open(mut stream: &TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
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
pub struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    /// After a failed accept: the first of a burst is reported on stderr, then we wait
    /// 10 ms, 20 ms, 40 ms … up to a second before the next try.
    pub fn failed(&mut self, error: &io::Error) {
        if self.failures == 0 {
            log::warn(&format!(
                "Could not accept a connection: {}; trying again, less often, until it works",
                plain(error)
            ));
        }
        // 10 ms after the first failure, then twice as long after each, up to the most.
        let doublings = self.failures.min(10);
        let wait = FIRST_ACCEPT_WAIT.saturating_mul(2u32.pow(doublings));
        thread::sleep(wait.min(MOST_ACCEPT_WAIT));
        self.failures = self.failures.saturating_add(1);
    }

    /// After an accept that worked: ends a burst of failures, saying how long it was.
    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            log::warn(&format!(
                "Accepting connections again after {} failed tries",
                self.failures
            ));
            self.failures = 0;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// A connected pair of sockets on loopback: (our end, the client's end).
    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (listener.accept().unwrap().0, client)
    }

    /// The cap admits `max` connections that have sent their requests, refuses the next, and
    /// admits again once one finishes.
    #[test]
    fn admits_up_to_the_cap() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let limit = ConnectionLimit::new(2);
        let (a, _ca) = pair(&listener);
        let (b, _cb) = pair(&listener);
        let (c, _cc) = pair(&listener);
        let first = limit.try_admit(&a).unwrap();
        let second = limit.try_admit(&b).unwrap();
        first.request_received();
        second.request_received();
        assert!(limit.try_admit(&c).is_none());
        assert_eq!(limit.open(), 2);
        drop(first);
        assert!(limit.try_admit(&c).is_some());
    }

    /// At the cap, the oldest listed connection still waiting for its request is told the server
    /// is busy and closed, and the newcomer gets its place.
    #[test]
    fn the_longest_waiting_makes_room() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let limit = ConnectionLimit::new(2);
        let (a, mut client_a) = pair(&listener);
        let (b, _cb) = pair(&listener);
        let (c, _cc) = pair(&listener);
        let _first = limit.try_admit(&a).unwrap();
        let second = limit.try_admit(&b).unwrap();
        second.request_received();
        assert!(limit.try_admit(&c).is_some(), "a makes room");
        let mut answer = String::new();
        client_a.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, protocol::BUSY);
    }
}

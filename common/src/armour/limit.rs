//! The cap on open connections, so that a flood cannot exhaust threads or memory. Over the
//! cap a connection gets no thread: it gets `Error: server busy` at once. Ours only: the
//! Python servers start a thread (load balancer) or queue without end (worker).

use std::collections::VecDeque;
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::armour::deadline::Deadline;
use crate::armour::{closing, lock};
use crate::extras::display::python_addr;
use crate::say;

/// How many refused connections, and connections answered with an `Error: `, may linger at
/// once, each held open for at most [`closing::LINGER`] so its unread request cannot turn
/// our close into a reset. During a flood beyond that, a refused connection is closed at once
/// (an answered one waits on its own thread): the cost of refusing stays bounded too.
const REFUSALS_HELD: usize = 1024;

/// How often the refusing thread looks at the connections it holds: often enough that a
/// client's close is noticed at once, for a thread that is idle almost always.
const REFUSAL_POLL: Duration = Duration::from_millis(20);

/// A connection being refused, or closed gently after its `Error: ` answer: its socket, when
/// to stop waiting for its close, and its place under the cap (none for a refused one, which
/// never had one), freed when the socket is closed.
type Refused = (TcpStream, Deadline, Option<Slot>);

/// Counts open connections against a cap, each until its socket is closed. Over the cap, a
/// connection that has its `Error: ` answer and only waits for the client to close makes room
/// for the newcomer; failing that, one still waiting for its whole request (the oldest of
/// those admitted once half the places were taken: a slow typist or a trickling attacker,
/// never a request in progress). When none can make room, the newcomer is refused with
/// `Error: server busy` at once, without a thread of its own. (nginx does the same when its
/// `worker_connections` run out: it closes the connections that only wait, "reusable" ones.)
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
    /// Those answered with an `Error: ` and waiting only for the client's close (the gentle
    /// close), oldest first: the first to go when room is needed, as they owe nothing more.
    closing: VecDeque<Waiting>,
    /// Numbers the slots.
    next_id: u64,
    /// Slots no longer counted in `open` though not dropped yet: connections shut to make room
    /// while the refusing thread still holds their sockets (until its next look, 20 ms).
    uncounted: Vec<u64>,
}

/// A connection that has not sent its whole request yet, or that only waits for its close.
struct Waiting {
    id: u64,
    stream: TcpStream,
}

/// One admitted connection's place under the cap; dropping it frees the place.
pub struct Slot {
    id: u64,
    /// Whether it is listed among those waiting for their request (see `try_admit`).
    listed: bool,
    /// Whether it is listed among those waiting only for the client's close.
    closing: bool,
    /// The cap, to know whether listing is worth its cost.
    max: usize,
    table: Arc<Mutex<Table>>,
    /// The refusing thread, which holds a connection answered with an `Error: ` until the
    /// client closes it, so that no thread of its own waits for that.
    closer: SyncSender<Refused>,
}

impl Slot {
    /// Says that the whole request has arrived: from now on this connection is being served
    /// and never closed to make room for another.
    pub fn request_received(&self) {
        if self.listed {
            lock(&self.table).waiting.retain(|w| w.id != self.id);
        }
    }

    /// Closes a connection gently after its `Error: ` answer, which may refuse a request we did
    /// not read to its end: we stop sending, then the refusing thread reads and drops what the
    /// client sends until it closes (at most [`closing::LINGER`]), so that unread bytes do not
    /// turn our close into a reset that destroys the answer. Until then the connection keeps
    /// its place, since its socket is still ours, but it is the first to go when a newcomer
    /// needs room; and its thread is free at once. (Each such wait held a thread outside the
    /// cap: 16 clients that kept their sockets after their errors made 10,470 threads.)
    pub fn close_gently(mut self, stream: TcpStream) {
        let _ = stream.shutdown(Shutdown::Write);
        self.may_make_room(&stream);
        let closer = self.closer.clone();
        let handed = closer.try_send((stream, Deadline::after(closing::LINGER), Some(self)));
        if let Err(TrySendError::Full(held) | TrySendError::Disconnected(held)) = handed {
            // Too many held already, or no refusing thread: this thread waits instead.
            let (mut stream, _, slot) = held;
            let _ = closing::close_gently(&mut stream);
            // The socket is closed first, then its place freed.
            drop(stream);
            drop(slot);
        }
    }

    /// Lists the connection as one that only waits for its close, to be closed first when
    /// room is needed; only past half the cap, as in `try_admit`.
    fn may_make_room(&mut self, stream: &TcpStream) {
        let mut table = lock(&self.table);
        if self.listed {
            // Answered (a timed-out request, say): no longer one to tell "server busy".
            table.waiting.retain(|w| w.id != self.id);
            self.listed = false;
        }
        if table.open.saturating_mul(2) < self.max {
            return;
        }
        if let Ok(stream) = stream.try_clone() {
            let id = self.id;
            table.closing.push_back(Waiting { id, stream });
            self.closing = true;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = lock(&self.table);
        if let Some(at) = table.uncounted.iter().position(|&id| id == self.id) {
            table.uncounted.swap_remove(at);
        } else {
            table.open -= 1;
        }
        if self.listed {
            table.waiting.retain(|w| w.id != self.id);
        }
        if self.closing {
            table.closing.retain(|w| w.id != self.id);
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
            // One that has its answer and only waits for the client's close goes first: both
            // directions shut, its thread's read returns at once, and the thread finishes.
            // Its place is free at once: shut both ways, it is as good as closed, and the
            // refusing thread drops it at its next look.
            if let Some(answered) = table.closing.pop_front() {
                let _ = answered.stream.shutdown(Shutdown::Both);
                table.open -= 1;
                table.uncounted.push(answered.id);
                return Some(self.admit(&mut table, stream));
            }
            let oldest = table.waiting.pop_front()?;
            let peer = oldest
                .stream
                .peer_addr()
                .map(python_addr)
                .unwrap_or_default();
            say!("Busy: closed {peer}, still waiting for its request, to make room");
            closing::send_busy_at_once(&oldest.stream);
            // Both directions: its thread's read returns at once, and the thread finishes.
            let _ = oldest.stream.shutdown(Shutdown::Both);
        }
        Some(self.admit(&mut table, stream))
    }

    /// Counts `stream` as open and gives it its slot.
    fn admit(&self, table: &mut Table, stream: &TcpStream) -> Slot {
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
        Slot {
            id,
            listed,
            closing: false,
            max: self.max,
            table: Arc::clone(&self.table),
            closer: self.refusals.clone(),
        }
    }

    /// Answers `Error: server busy` at once, and leaves the close to the refusing thread.
    pub fn refuse(&self, stream: TcpStream) {
        closing::send_busy_at_once(&stream);
        // Our side is done; the client's unread request must not turn our close into a reset
        // that destroys the answer, so the refusing thread holds the socket until it closes.
        let _ = stream.shutdown(Shutdown::Write);
        // When too many refusals are held already, dropping the stream closes it at once.
        let _ = self
            .refusals
            .try_send((stream, Deadline::after(closing::LINGER), None));
    }

    /// How many connections are open now, for log lines.
    pub fn open(&self) -> usize {
        lock(&self.table).open
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
            // This one, and every other already waiting, before the next look at them all.
            Ok(first) => {
                for (stream, until, slot) in std::iter::once(first).chain(refused.try_iter()) {
                    if stream.set_nonblocking(true).is_ok() && held.len() < REFUSALS_HELD {
                        held.push((stream, until, slot));
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        // Dropping one closes its socket, then frees its place (the slot is dropped last).
        held.retain(|(stream, until, _)| !until.has_passed() && closing::still_open(stream));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

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
        assert_eq!(answer, crate::protocol::BUSY);
    }

    /// A connection closed gently after its `Error: ` answer keeps its place until its socket
    /// is closed, and is the first to make room: a newcomer at the cap gets its place at
    /// once, and the client that kept the answered socket sees it closed.
    #[test]
    fn an_answered_connection_makes_room_first() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let limit = ConnectionLimit::new(1);
        let (a, mut client_a) = pair(&listener);
        let (b, _cb) = pair(&listener);
        let first = limit.try_admit(&a).unwrap();
        first.request_received();
        first.close_gently(a);
        assert_eq!(limit.open(), 1, "counted until its socket is closed");
        let _second = limit.try_admit(&b).unwrap();
        let mut rest = Vec::new();
        client_a.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
}

//! One admitted connection, with the deadlines and the gentle closes the Python's `conn` does
//! not have: the request must arrive within `--timeout`, the answer be taken within it too,
//! and the close never destroys the answer (`closing.rs`).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use crate::armour::error::in_words;
use crate::armour::limit::Slot;
use crate::armour::{closing, deadline};
use crate::extras::display::python_addr;
use crate::{protocol, say};

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
    /// [`Connection::read_number`]; none before a request was read.
    answer_time: Option<Duration>,
}

impl Connection {
    /// A connection just admitted under the cap, in `slot`.
    pub fn new(slot: Slot, stream: TcpStream, addr: SocketAddr) -> Connection {
        Connection {
            slot,
            stream,
            addr,
            answer_time: None,
        }
    }

    /// Who connected (Python's `addr`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The number this connection asks for, with the connection to answer it on: Python's
    /// `recv(1024)` and `int()`, the one way both servers read a request. `heard` sees the
    /// request as it came first, for the load balancer's `Received request for factorial of …`
    /// line. Ours: the whole request must arrive within `time` (a silent or trickling client
    /// cannot hold its thread for ever), and its answer be taken within `time` too; a request
    /// that is late, not a whole number, or above `max_n` is answered `Error: …` here and said
    /// in a line that begins with `refused`, where Python's `int()` would kill the handler.
    /// `None` once the client has been answered so, or has gone.
    pub fn read_number(
        mut self,
        time: Duration,
        max_n: u64,
        heard: impl FnOnce(&[u8]),
        refused: &str,
    ) -> Option<(Connection, u64)> {
        self.answer_time = Some(time);
        let refusal = match deadline::read_request_within(&mut self.stream, time) {
            Ok(request) => {
                // From now on the connection is being served, never closed to make room.
                self.slot.request_received();
                heard(&request);
                match protocol::parse_request(&request, max_n) {
                    Ok(number) => return Some((self, number)),
                    Err(bad) => bad.answer(),
                }
            }
            Err(e) if protocol::is_timeout(&e) => protocol::timed_out(time),
            Err(e) => {
                say!("Could not read the request: {}", in_words(&e));
                return None;
            }
        };
        let addr = python_addr(self.addr);
        match self.answer(refusal.as_bytes()) {
            Ok(()) => say!("{refused}: {refusal}"),
            Err(e) => say!("Could not answer {addr}: {}", in_words(&e)),
        }
        None
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
    /// ([`closing::drain_before_close`]), and the place under the cap is freed just before
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
        deadline::send_answer_within(&mut stream, answer, answer_time)?;
        if protocol::is_error_answer(answer) {
            slot.close_gently(stream);
            return Ok(());
        }
        drop(slot);
        closing::drain_before_close(&stream)
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
        if !closing::still_open(stream) {
            gone.store(true, Ordering::Relaxed);
            return;
        }
    }
}

//! The armour around each server's accept loop, which its `main.rs` writes out: a failed accept
//! waits and retries instead of spinning or ending the server; over `--max-connections` a
//! newcomer is answered `Error: server busy` without a thread (`limit.rs`); after Ctrl-C or
//! SIGTERM no connection is taken, and the ones taken are finished before the process ends.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::armour::connection::Connection;
use crate::armour::deadline::Deadline;
use crate::armour::error::in_words;
use crate::armour::limit::ConnectionLimit;
use crate::armour::threads::ThreadMode;
use crate::armour::{log, stop_signal};
use crate::extras::display::python_addr;
use crate::say;

/// How long a server stopped by Ctrl-C or SIGTERM lets the connections it took finish before
/// it ends anyway: a request through our load balancer takes milliseconds, and 10 s is what
/// Docker gives a container between SIGTERM and SIGKILL (`docker stop`), so the bound is ours,
/// not the kill's.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// How often the thread that waits for Ctrl-C or SIGTERM looks whether one came.
const STOP_POLL: Duration = Duration::from_millis(100);

/// How long the thread that wakes the accept loop after Ctrl-C tries each connect: the
/// listener is on this machine, where a connect is answered at once.
const WAKE_CONNECT: Duration = Duration::from_secs(1);

/// One accept loop's guards: its listener, the cap it admits under, and its back-off.
pub struct Accepting<'a> {
    listener: &'a TcpListener,
    limit: &'a ConnectionLimit,
    backoff: AcceptBackoff,
    mode: ThreadMode,
}

impl<'a> Accepting<'a> {
    /// The guards for a loop that accepts on `listener` under `limit`.
    pub fn new(listener: &'a TcpListener, limit: &'a ConnectionLimit, mode: ThreadMode) -> Self {
        Accepting {
            listener,
            limit,
            backoff: AcceptBackoff::default(),
            mode,
        }
    }

    /// The next connection (Python's `accept()`), or `None` once Ctrl-C or SIGTERM has come.
    /// Ours: a failed accept (out of file descriptors) is waited out and retried, each time
    /// after a longer wait, instead of ending the server or spinning a core.
    pub fn accept(&mut self) -> Option<(TcpStream, SocketAddr)> {
        loop {
            let accepted = self.listener.accept();
            if stop_signal::requested() {
                return None;
            }
            match accepted {
                Ok(accepted) => {
                    self.backoff.succeeded();
                    return Some(accepted);
                }
                Err(e) => self.backoff.failed(&e),
            }
        }
    }

    /// The connection `accept` gave, admitted under `--max-connections`. Over the cap, the
    /// longest-waiting request makes room; failing that, the newcomer is answered `Error: server
    /// busy` here, without a thread of its own, and `None` is returned.
    pub fn admit(&self, (stream, addr): (TcpStream, SocketAddr)) -> Option<Connection> {
        let Some(slot) = self.limit.try_admit(&stream) else {
            say!(
                "Busy ({} open): refused {}",
                self.limit.open(),
                python_addr(addr)
            );
            self.limit.refuse(stream);
            return None;
        };
        Some(Connection::new(slot, stream, addr))
    }

    /// Serves a connection on a thread of its own: Python's `threading.Thread(target=…)
    /// .start()`, with an error said instead of a panic when the OS has no thread to give (the
    /// connection is then closed unanswered, and the server goes on). With `--threads reuse`
    /// the connection is served here instead, on this thread of the pool (`threads.rs`).
    pub fn spawn(&self, serve: impl FnOnce() + Send + 'static) {
        if self.mode == ThreadMode::Reuse {
            return serve();
        }
        if let Err(e) = thread::Builder::new().spawn(serve) {
            log::warn(&format!("Could not start a thread for a connection: {e}"));
        }
    }
}

/// Catches Ctrl-C and SIGTERM from now on, and starts the thread that then wakes the
/// `accepting` threads blocked in `accept`, by connecting to the listener (std cannot
/// interrupt an `accept`; the tiny-http way). Without that thread (none could start), a stop
/// signal still ends the process, at the next connection.
pub fn stop_gently(listener: &TcpListener, accepting: usize) {
    stop_signal::catch();
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
            if TcpStream::connect_timeout(&addr, WAKE_CONNECT).is_err() {
                break; // every accepting thread has stopped and closed its socket
            }
        }
    });
}

/// After the accept loop stopped: waits until every connection taken has been answered and
/// closed, at most [`STOP_GRACE`]. A connection still waiting for its request is not waited
/// for: its read ends at once ([`crate::armour::deadline::read_request_within`]).
pub fn finish_what_was_taken(limit: &ConnectionLimit) -> ! {
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
    stop_signal::end_as_signalled()
}

/// How often a stopping server looks whether its last connections have finished.
const FINISH_POLL: Duration = Duration::from_millis(20);

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

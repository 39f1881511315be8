//! What the worker and the load balancer need around the Python's accept loop: binding the
//! listener, and a cap on open connections, so that a flood cannot exhaust threads or memory.
//! Over the cap a connection gets no thread: it gets `Error: server busy` at once. (The
//! threads that serve connections are in [`crate::threads`].)

use std::io;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::thread;
use std::time::Duration;

use crate::error::{Context, Error, plain};
use crate::protocol;

/// How long [`listen`] tries to connect to a port it could not bind, to learn whether
/// something listens there. The port is on this machine, where a connect is answered at once;
/// this only bounds a firewall that drops it.
const LISTENER_CHECK: Duration = Duration::from_secs(1);

/// Binds and listens on `host`:`port` (Python's `bind` and `listen`) and returns the listener
/// with the port it really got: with port 0 the OS picks a free one.
pub fn listen(host: &str, port: u16) -> Result<(TcpListener, u16), Error> {
    let listener = TcpListener::bind((host, port)).map_err(|e| cannot_listen(host, port, &e))?;
    let port = listener
        .local_addr()
        .context(|| "cannot read the port the OS chose".to_string())?
        .port();
    Ok((listener, port))
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

/// How many refused connections may wait for their `Error: server busy`. Beyond that, during a
/// flood, a refused connection is simply closed: the cost of refusing stays bounded too.
const REFUSALS_WAITING: usize = 64;

/// Counts open connections against a cap, and refuses those over it.
pub struct ConnectionLimit {
    /// Connections admitted and not yet finished; shared with every [`Slot`].
    open: Arc<AtomicUsize>,
    /// The cap, from `--max-connections`.
    max: usize,
    /// Hands refused connections to the one thread that answers them, so the accept loop never
    /// waits on a client.
    refusals: SyncSender<TcpStream>,
}

/// One admitted connection's place under the cap; dropping it frees the place.
pub struct Slot {
    open: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionLimit {
    /// A limit of `max` open connections, with its refusing thread.
    pub fn new(max: usize) -> ConnectionLimit {
        let (refusals, refused) = mpsc::sync_channel::<TcpStream>(REFUSALS_WAITING);
        // The refusing thread ends when this limit (the only sender) is dropped.
        thread::spawn(move || {
            for mut stream in refused {
                // A gentle close: the unread request must not turn our close into a reset that
                // destroys the answer. A client that is gone costs nothing more.
                let _ = protocol::send_error_and_close(&mut stream, protocol::BUSY);
            }
        });
        ConnectionLimit {
            open: Arc::new(AtomicUsize::new(0)),
            max,
            refusals,
        }
    }

    /// A slot for one more connection, or `None` when `max` are open already.
    pub fn try_admit(&self) -> Option<Slot> {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .is_ok();
        admitted.then(|| Slot {
            open: Arc::clone(&self.open),
        })
    }

    /// Answers `Error: server busy` and closes, without a thread of the connection's own.
    pub fn refuse(&self, stream: TcpStream) {
        // When too many refusals are already waiting, dropping the stream closes it at once.
        let _ = self.refusals.try_send(stream);
    }

    /// How many connections are open now, for log lines.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap admits `max` connections, refuses the next, and admits again once one finishes.
    #[test]
    fn admits_up_to_the_cap() {
        let limit = ConnectionLimit::new(2);
        let first = limit.try_admit();
        let second = limit.try_admit();
        assert!(first.is_some() && second.is_some());
        assert!(limit.try_admit().is_none());
        assert_eq!(limit.open(), 2);
        drop(first);
        assert!(limit.try_admit().is_some());
    }
}

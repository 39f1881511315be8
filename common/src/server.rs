//! The Python's `bind`, `listen` and `accept` (worker_server.py lines 19–35, load_balancer.py
//! lines 66–82), shared by the worker and the load balancer: [`bind`] and [`local_port`], and
//! [`serve`], which runs the accept loop that each server's `main.rs` writes out. What the
//! Python does not do around that loop (the connection cap, the back-off after a failed
//! accept, Ctrl-C finishing what was taken, the `--threads reuse` pool) is in
//! `common/src/armour/`.

use std::io;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::armour::accept::{self, Accepting};
use crate::armour::error::{Context, Error, in_words};
use crate::armour::limit::ConnectionLimit;
use crate::armour::threads::{self, ThreadMode};

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

/// Runs `accept_loop`, the server's own `while True: accept()` from its `main.rs`, until
/// Ctrl-C or SIGTERM ends it; with `--threads reuse`, on each thread of a fixed pool at once.
/// Ours, around it: the back-off in [`Accepting::accept`], the cap in [`Accepting::admit`];
/// and after a stop, the connections taken are finished here before the process ends as the
/// signal would have (`armour/accept.rs`). Returns only when the pool of `--threads reuse`
/// cannot start.
pub fn serve(
    listener: TcpListener,
    serving: Serving,
    accept_loop: impl Fn(&mut Accepting) + Sync,
) -> Result<(), Error> {
    let limit = ConnectionLimit::new(serving.max_connections);
    let accepting = match serving.threads {
        ThreadMode::Spawn => 1,
        ThreadMode::Reuse => threads::pool_size(serving.max_connections),
    };
    // Ours: Ctrl-C and SIGTERM let the requests in progress finish (Python's die with them).
    accept::stop_gently(&listener, accepting);
    let mode = serving.threads;
    match mode {
        ThreadMode::Spawn => accept_loop(&mut Accepting::new(&listener, &limit, mode)),
        ThreadMode::Reuse => threads::run_pool(&listener, serving.max_connections, |listener| {
            accept_loop(&mut Accepting::new(listener, &limit, mode))
        })?,
    }
    drop(listener);
    accept::finish_what_was_taken(&limit)
}

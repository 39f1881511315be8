//! Workers that misbehave on purpose, for tests of the armour: each is a small listener in
//! the test's own process that does exactly one wrong thing, at the moment the test chooses.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::armour::error::Error;
use common::factorial::factorial_digits;

/// What a fake worker does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Accepts and never answers anything, health checks included: a frozen worker whose
    /// kernel still accepts connections.
    Hang,
    /// Answers a health check (`1`) at once but holds every other request unanswered: a worker
    /// busy with long work.
    Slow,
    /// Reads the request and closes without an answer: a worker that dies on it.
    Close,
    /// Answers `42`, whatever was asked.
    Lie,
    /// Answers with digits, forever.
    Flood,
    /// Answers the first half of n!'s digits, then closes: a worker killed while sending.
    Cut,
    /// Answers `Error: server busy`.
    Busy,
    /// Answers n! and keeps the connection open, as a server written to take several requests
    /// on one connection does.
    KeepOpen,
}

/// A fake worker listening on 127.0.0.1; it stops when dropped.
pub struct FakeWorker {
    /// The port it listens on, for the registry.
    pub port: u16,
    /// The requests it has read, as text, in the order read.
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    /// Connections it holds open (`Hang`, `Slow`, `KeepOpen`), closed when it stops.
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl FakeWorker {
    /// Starts a fake worker that does `what` with every connection.
    pub fn start(what: Misbehaviour) -> Result<FakeWorker, Error> {
        let (listener, port) = crate::lab::bind_loopback()?;
        let fake = FakeWorker {
            port,
            received: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            held: Arc::new(Mutex::new(Vec::new())),
        };
        let (received, stop, held) = (
            Arc::clone(&fake.received),
            Arc::clone(&fake.stop),
            Arc::clone(&fake.held),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (received, held) = (Arc::clone(&received), Arc::clone(&held));
                thread::spawn(move || serve(what, stream, &received, &held));
            }
        });
        Ok(fake)
    }

    /// How many requests it has read so far (a `Hang` worker reads none).
    pub fn requests(&self) -> usize {
        common::armour::lock(&self.received).len()
    }

    /// The requests it has read so far, as text: the load balancer's health checks are `1`.
    pub fn received(&self) -> Vec<String> {
        common::armour::lock(&self.received).clone()
    }
}

impl Drop for FakeWorker {
    fn drop(&mut self) {
        // A connection to ourselves wakes the blocking accept, which then sees the flag.
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect((common::DEFAULT_HOST, self.port));
        common::armour::lock(&self.held).clear();
    }
}

/// Does `what` with one connection.
fn serve(
    what: Misbehaviour,
    mut stream: TcpStream,
    received: &Mutex<Vec<String>>,
    held: &Mutex<Vec<TcpStream>>,
) {
    let hold = |stream: TcpStream| common::armour::lock(held).push(stream);
    if what == Misbehaviour::Hang {
        return hold(stream);
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 64];
    let Ok(got) = stream.read(&mut buf) else {
        return;
    };
    let request = String::from_utf8_lossy(&buf[..got]).trim().to_string();
    common::armour::lock(received).push(request.clone());
    match what {
        Misbehaviour::Hang => {}
        Misbehaviour::Slow if request == "1" => {
            let _ = stream.write_all(b"1");
        }
        Misbehaviour::Slow => hold(stream),
        Misbehaviour::Close => {}
        Misbehaviour::Lie => {
            let _ = stream.write_all(b"42");
        }
        Misbehaviour::Flood => {
            let digits = [b'7'; 65536];
            while stream.write_all(&digits).is_ok() {}
        }
        Misbehaviour::Cut => {
            let n: u64 = request.parse().unwrap_or(0);
            let digits = factorial_digits(n);
            let _ = stream.write_all(&digits.as_bytes()[..digits.len().div_ceil(2)]);
        }
        Misbehaviour::Busy => {
            let _ = stream.write_all(common::protocol::BUSY.as_bytes());
        }
        Misbehaviour::KeepOpen => {
            let n: u64 = request.parse().unwrap_or(0);
            let _ = stream.write_all(factorial_digits(n).as_bytes());
            hold(stream);
        }
    }
}

/// A worker of a test's own that answers each request for n with `answer(n)`, on a thread of
/// its own, for the rest of the test process: a student's worker that pads or signs its
/// digits, sleeps, waits for the test's word, or answers with a number shaped like n!. A
/// request that is not a number asks for 0!. Returns its port.
pub fn answering(answer: impl Fn(u64) -> Vec<u8> + Send + Sync + 'static) -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind((common::DEFAULT_HOST, 0))
        .map_err(|e| Error::new(format!("cannot listen for a test worker: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::new(format!("a test worker has no port: {e}")))?
        .port();
    let answer = Arc::new(answer);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = Arc::clone(&answer);
            thread::spawn(move || {
                let mut buf = [0u8; 64];
                let got = stream.read(&mut buf).unwrap_or(0);
                let n = String::from_utf8_lossy(&buf[..got])
                    .trim()
                    .parse()
                    .unwrap_or(0);
                let _ = stream.write_all(&answer(n));
            });
        }
    });
    Ok(port)
}

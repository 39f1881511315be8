//! Asking one worker for n!: the `with socket.socket(...)` block of load_balancer.py
//! (lines 42–49), with what the Python does not do: timeouts, a bounded read, a check of the
//! answer, a health check of a worker that is slow to answer, and a failure that says what
//! went wrong, so the caller can decide whether to try another worker.

use std::fmt;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use common::error::plain;
use common::protocol::{self, AnswerEnd};
use common::registry::WorkerAddr;

use crate::health::{Health, InFlight};

/// How long a worker may take to answer before we check that it is alive (HAProxy's `inter`
/// for a server in use): 100000! takes about a tenth of a second, so an answer that takes a
/// second is slow enough to ask why, and a frozen worker is found within about two seconds.
pub const SLOW_ANSWER: Duration = Duration::from_secs(1);

/// How long a health check may take: it asks for 1!, which any live worker answers in
/// microseconds, even one busy with a huge factorial (each connection has its own thread).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// The request a health check sends and the answer it expects (HAProxy's `tcp-check send 1`,
/// `tcp-check expect string 1`).
const CHECK_REQUEST: u64 = 1;

/// How many workers may take one request and fail with it (close without an answer, time
/// out) before the client is told: HAProxy's `retries` after a server took the request. A
/// request that kills the workers it reaches (a big n at Python workers) kills at most two.
pub const MAX_TAKEN_AND_FAILED: usize = 2;

/// After this long, a request tries no further workers. Refused connections cost
/// microseconds, so 50 dead entries are nothing; this bounds the walk when the registry has
/// collected thousands of them, or unreachable hosts that each cost a connect timeout.
pub const MAX_WALK: Duration = Duration::from_secs(10);

/// The timeouts for one attempt at a worker.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long the worker may take to accept the connection (`--connect-timeout`).
    pub connect: Duration,
    /// How long it may take to answer (`--worker-timeout`).
    pub answer: Duration,
}

/// Why asking a worker failed. The load balancer's `match` on it decides what happens next:
/// which failures mark the worker down, and which ones limit where the request may go.
#[derive(Debug)]
pub enum Failure {
    /// It could not be reached: refused, unreachable, or no accept within the connect timeout.
    /// The request never reached it.
    CouldNotConnect(io::Error),
    /// It answered `Error: server busy`: alive but full. The request never ran there.
    Busy,
    /// It took the request and closed without an answer: it died, or it is a Python worker
    /// that crashed on the request (any n from 1559 up).
    ClosedWithoutAnswer,
    /// What it sent cannot be n!: a program that is not a worker, or an answer cut short.
    WrongAnswer(String),
    /// It accepted, but while we waited it did not answer a health check: it is frozen
    /// (Ctrl-Z) or hung.
    Frozen,
    /// Another request's health check found it frozen; this request gives up on it too.
    Abandoned,
    /// No answer within the worker timeout.
    TimedOut,
    /// The connection failed some other way after it was made.
    Io(io::Error),
}

impl Failure {
    /// True when the worker took the request and failed with it. Such a request goes to at
    /// most one more worker (HAProxy's rule): a request that kills the workers it reaches
    /// (a big n at Python workers) must not kill them all.
    pub fn took_the_request(&self) -> bool {
        matches!(
            self,
            Failure::ClosedWithoutAnswer | Failure::TimedOut | Failure::Io(_)
        )
    }

    /// True when the worker should be skipped until a health check finds it well again. A busy
    /// worker is alive and is not marked down.
    pub fn marks_down(&self) -> bool {
        !matches!(self, Failure::Busy)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::CouldNotConnect(e) => write!(f, "cannot connect: {}", plain(e)),
            Failure::Busy => f.write_str("the worker is busy"),
            Failure::ClosedWithoutAnswer => f.write_str("closed without an answer"),
            Failure::WrongAnswer(why) => write!(f, "wrong answer ({why})"),
            Failure::Frozen => write!(
                f,
                "no answer, and no answer to a health check within {}s",
                CHECK_TIMEOUT.as_secs_f64()
            ),
            Failure::Abandoned => f.write_str("given up: the worker was found frozen"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Io(e) => f.write_str(&plain(e)),
        }
    }
}

/// Sends n to one worker and reads its whole answer, which is checked to be n! (or a short
/// `Error: ` answer, relayed as it is): load_balancer.py lines 41–46.
pub fn ask_worker(
    worker: &WorkerAddr,
    number: u64,
    timeouts: Timeouts,
    health: &Health,
) -> Result<Vec<u8>, Failure> {
    let in_flight = health.start_request(worker);
    let mut stream = connect(worker, timeouts.connect).map_err(Failure::CouldNotConnect)?;
    let sent = stream
        .set_write_timeout(Some(timeouts.answer))
        .and_then(|()| protocol::send_request(&mut stream, &number.to_string()));
    sent.map_err(|e| failure(e, &in_flight))?;
    let answer = read_answer_watching(&mut stream, worker, number, timeouts, health, &in_flight)?;
    if answer.is_empty() {
        return Err(Failure::ClosedWithoutAnswer);
    }
    if answer == protocol::BUSY.as_bytes() {
        return Err(Failure::Busy);
    }
    if protocol::is_error_answer(&answer) && answer.len() <= protocol::MAX_ERROR_ANSWER_BYTES {
        return Ok(answer); // the worker refused the request, say above its --max-n: relay it
    }
    protocol::check_answer(number, &answer).map_err(Failure::WrongAnswer)?;
    Ok(answer)
}

/// What an I/O error on a request's connection means: given up on, timed out, or other.
fn failure(error: io::Error, in_flight: &InFlight) -> Failure {
    if in_flight.abandoned() {
        Failure::Abandoned
    } else if protocol::is_timeout(&error) {
        Failure::TimedOut
    } else {
        Failure::Io(error)
    }
}

/// Reads the answer to the close, but no further than n! can be long, within the worker
/// timeout; while the answer is slow, checks that the worker is alive (see [`SLOW_ANSWER`]).
fn read_answer_watching(
    stream: &mut TcpStream,
    worker: &WorkerAddr,
    number: u64,
    timeouts: Timeouts,
    health: &Health,
    in_flight: &InFlight,
) -> Result<Vec<u8>, Failure> {
    let limit = protocol::answer_limit(number);
    let deadline = Instant::now() + timeouts.answer;
    let mut next_check = SLOW_ANSWER;
    let mut answer = Vec::new();
    let end = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::TimedOut);
        }
        let timeout = stream.set_read_timeout(Some(left.min(next_check)));
        match timeout.and_then(|()| protocol::read_answer_within(stream, &mut answer, limit)) {
            Ok(end) => break end,
            Err(e) if protocol::is_timeout(&e) && !in_flight.abandoned() => {
                if next_check == SLOW_ANSWER {
                    // Slow: from now on a check run by another request can wake this one.
                    in_flight.watch(stream);
                }
                // Is the worker alive? One request at a time checks each worker.
                if !health.check_slow_worker(worker, timeouts) {
                    return Err(Failure::Frozen);
                }
                next_check *= 2; // alive and computing: check again later, less often
            }
            Err(e) => return Err(failure(e, in_flight)),
        }
    };
    if in_flight.abandoned() {
        return Err(Failure::Abandoned);
    }
    if end == AnswerEnd::TooLong {
        return Err(Failure::WrongAnswer(format!(
            "more than the {limit} bytes {number}! needs"
        )));
    }
    Ok(answer)
}

/// A health check: asks `worker` for 1! and expects `1` within [`CHECK_TIMEOUT`]. A busy
/// worker is alive too.
pub fn check(worker: &WorkerAddr, timeouts: Timeouts) -> bool {
    let ask = || -> io::Result<Vec<u8>> {
        let mut stream = connect(worker, timeouts.connect)?;
        stream.set_write_timeout(Some(CHECK_TIMEOUT))?;
        stream.set_read_timeout(Some(CHECK_TIMEOUT))?;
        protocol::send_request(&mut stream, &CHECK_REQUEST.to_string())?;
        let mut answer = Vec::new();
        // Reads to the close; a worker that answers and stays open is not answering properly.
        protocol::read_answer_within(&mut stream, &mut answer, protocol::MAX_ERROR_ANSWER_BYTES)?;
        Ok(answer)
    };
    match ask() {
        Ok(answer) => answer == b"1" || answer == protocol::BUSY.as_bytes(),
        Err(_) => false,
    }
}

/// Connects to a worker within `timeout`, trying each address its host name has.
fn connect(worker: &WorkerAddr, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in (worker.host.as_str(), worker.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

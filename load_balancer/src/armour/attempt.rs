//! Asking one worker for n!: the `with socket.socket(...)` block of load_balancer.py
//! (lines 42–49), with what the Python does not do: timeouts, a bounded read, a check of the
//! answer, and a failure that says what went wrong, so that `failover.rs` can decide what to
//! do next. An attempt can be waited on in steps, so a slow one can be handed to a thread of
//! its own while another worker is asked too.

use std::fmt;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use common::armour::deadline::Deadline;

use common::armour::answers::AnswerEnd;
use common::armour::error::in_words;
use common::protocol;
use common::registry::WorkerAddr;

/// How long a health check may wait for its answer: it asks for 1!, which a live worker
/// answers in microseconds, even one busy with a huge factorial (each connection has its own
/// thread); HAProxy's default `timeout check` is its 2 s `inter`.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The request a health check sends (HAProxy's `tcp-check send 1`); the answer must be 1! = 1.
const CHECK_REQUEST: u64 = 1;

/// The timeouts for one attempt at a worker.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long the worker may take to accept the connection (`--connect-timeout`).
    pub connect: Duration,
    /// How long it may take to answer (`--worker-timeout`).
    pub answer: Duration,
}

/// Why asking a worker failed. `failover.rs` decides what each leads to.
#[derive(Debug)]
pub enum Failure {
    /// It could not be reached: refused, unreachable, or no accept within the connect timeout.
    /// The request never reached it.
    CouldNotConnect(io::Error),
    /// It answered `Error: server busy`: alive but full. The request never ran there.
    Busy,
    /// It answered with another `Error: ` (above its `--max-n`, say): it will not compute this
    /// one, and another worker may. Holds the answer, for the client if no worker computes it.
    Refused(Vec<u8>),
    /// It took the request and closed without an answer: it died, or it is a Python worker
    /// that crashed on the request (any n from 1559 up).
    ClosedWithoutAnswer,
    /// What it sent cannot be n!: a program that is not a worker, or an answer cut short.
    WrongAnswer {
        /// What is wrong with it.
        why: String,
        /// What it sent, escaped and shortened, for the log and the client.
        sent: String,
    },
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

    /// True when the connection attempt ran out of time: the worker may be alive with a full
    /// accept queue (a student's `listen(1)`), not only gone.
    pub fn is_connect_timeout(&self) -> bool {
        matches!(self, Failure::CouldNotConnect(e) if protocol::is_timeout(e))
    }

    /// One word for this failure, for the status page's data (docs/protocol.md).
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::CouldNotConnect(_) if self.is_connect_timeout() => "timed-out",
            Failure::CouldNotConnect(_) => "cannot-connect",
            Failure::Busy => "busy",
            Failure::Refused(_) => "error-answer",
            Failure::ClosedWithoutAnswer | Failure::Io(_) => "closed",
            Failure::WrongAnswer { .. } => "wrong-answer",
            Failure::TimedOut => "timed-out",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::CouldNotConnect(e) => write!(f, "cannot connect: {}", in_words(e)),
            Failure::Busy => f.write_str("the worker is busy"),
            Failure::Refused(answer) => {
                let shown = common::armour::answers::MAX_ERROR_ANSWER_BYTES;
                write!(
                    f,
                    "refused: {}",
                    common::extras::display::text_for_log(answer, shown)
                )
            }
            Failure::ClosedWithoutAnswer => f.write_str("closed without an answer"),
            Failure::WrongAnswer { why, sent } => write!(f, "wrong answer ({why}): {sent:?}"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Io(e) => f.write_str(&in_words(e)),
        }
    }
}

/// One request in progress at one worker: sent, and waiting for the answer.
pub struct Attempt {
    /// The worker asked.
    pub worker: WorkerAddr,
    /// When the request was sent, so a slow answer can be told from a quick one.
    pub sent: Instant,
    number: u64,
    stream: TcpStream,
    /// What has arrived so far: an attempt may be waited on in several steps.
    answer: Vec<u8>,
    /// When the worker timeout runs out.
    deadline: Deadline,
}

/// Connects to `worker` and sends it n (load_balancer.py lines 42–44).
pub fn send(worker: &WorkerAddr, number: u64, timeouts: Timeouts) -> Result<Attempt, Failure> {
    let mut stream = connect(worker, timeouts.connect).map_err(Failure::CouldNotConnect)?;
    let sent = stream
        .set_write_timeout(Some(timeouts.answer))
        .and_then(|()| protocol::send_request(&mut stream, &number.to_string()));
    sent.map_err(failure)?;
    Ok(Attempt {
        worker: worker.clone(),
        sent: Instant::now(),
        number,
        stream,
        answer: Vec::new(),
        deadline: Deadline::after(timeouts.answer),
    })
}

impl Attempt {
    /// Waits at most `time` for the answer (line 45's `recv`, read whole and checked): `None`
    /// when it has not come by then, and the attempt may be waited on again.
    pub fn answer_within(&mut self, time: Duration) -> Option<Result<Vec<u8>, Failure>> {
        let by = self.deadline.earlier(Deadline::after(time));
        let read = common::armour::answers::read_answer_for(
            &mut self.stream,
            Some(self.number),
            &mut self.answer,
            by,
        );
        match read {
            Err(e) if protocol::is_timeout(&e) && !self.deadline.has_passed() => None,
            Err(e) => Some(Err(failure(e))),
            Ok(end) => Some(self.judge(end)),
        }
    }

    /// Waits for the answer until the worker timeout.
    pub fn answer(mut self) -> Result<Vec<u8>, Failure> {
        self.answer_within(Duration::MAX)
            .unwrap_or(Err(Failure::TimedOut))
    }

    /// What a whole answer means: n!, a busy or refusing worker, or a wrong answer.
    fn judge(&self, end: AnswerEnd) -> Result<Vec<u8>, Failure> {
        // Ours: the digits of a C worker's whole zeroed buffer, as the Python lab relays them.
        let answer = common::armour::answers::trim_answer(
            common::armour::answers::without_nul_padding(&self.answer),
        );
        let sent = || common::extras::display::request_for_log(answer);
        if end == AnswerEnd::TooLong {
            let limit = common::armour::answers::answer_limit(self.number);
            let why = format!("more than the {limit} bytes {}! needs", self.number);
            return Err(Failure::WrongAnswer { why, sent: sent() });
        }
        if answer.is_empty() {
            return Err(Failure::ClosedWithoutAnswer);
        }
        if answer == protocol::BUSY.as_bytes() {
            return Err(Failure::Busy);
        }
        if protocol::is_error_answer(answer)
            && answer.len() <= common::armour::answers::MAX_ERROR_ANSWER_BYTES
        {
            return Err(Failure::Refused(answer.to_vec()));
        }
        match common::armour::answers::check_answer(self.number, answer) {
            Ok(()) => Ok(answer.to_vec()),
            Err(why) => Err(Failure::WrongAnswer { why, sent: sent() }),
        }
    }
}

/// What an I/O error on a request's connection means: timed out, or something else.
fn failure(error: io::Error) -> Failure {
    if protocol::is_timeout(&error) {
        Failure::TimedOut
    } else {
        Failure::Io(error)
    }
}

/// A health check: asks `worker` for 1! and expects `1` (or `Error: server busy`: a full
/// worker is alive too) within [`CHECK_TIMEOUT`], as HAProxy's `tcp-check send 1` /
/// `expect`.
pub fn check(worker: &WorkerAddr, connect_timeout: Duration) -> bool {
    let timeouts = Timeouts {
        connect: connect_timeout,
        answer: CHECK_TIMEOUT,
    };
    let answer = send(worker, CHECK_REQUEST, timeouts).and_then(Attempt::answer);
    matches!(answer, Ok(_) | Err(Failure::Busy))
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

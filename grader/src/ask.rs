//! One request to the implementation under check, as client.py sends it, with a deadline, and
//! a plain description of whatever came back: the evidence a report card quotes.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use common::armour::answers::AnswerEnd;
use common::armour::deadline::Deadline;
use common::armour::error::in_words;
use common::factorial::factorial_digits;
use common::protocol;

use super::hints;

/// How long a correct server may take for anything the checker asks, unless a property says
/// less, or `--patience` says otherwise. It must exceed our worker's `--timeout` (60 s, which
/// our load balancer's matches): a server in front of a worker may relay the worker's `Error:
/// request timed out` when that minute ends, and that is an answer, not silence. Ten seconds
/// more leave room for a loaded machine.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(70);

/// How long a connection may take to be accepted: a live server's kernel accepts at once, even
/// while the program is busy or frozen.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// How long an `Error: ` answer with no line end, or one that cannot be n! (a greeting, words,
/// wrong digits), must be followed by silence, on a connection the server keeps open, to be
/// taken as whole: a server that answers several requests on one connection sends its answer
/// in one write or a few, close together.
const ERROR_QUIET: Duration = Duration::from_secs(1);

/// What is sent.
#[derive(Debug)]
pub enum Request {
    /// n as text, in one write, as client.py sends it.
    Number(u64),
    /// A request that is not a whole number n >= 0 (or is absurdly large).
    Text(&'static str),
    /// Nothing: the connection's sending side is closed at once, as a client that gives up.
    Nothing,
    /// n, sent on a connection opened earlier (a client that was slow to type it).
    Typed(TcpStream, u64),
    /// n and a newline, which the lab's client never sends: asked only to tell a server that
    /// waits for a line from one that answers nothing.
    Line(u64),
}

impl Request {
    /// How the evidence names it: `asked for 12!`, `sent "abc"`, `sent nothing, then closed`.
    pub fn describe(&self) -> String {
        match self {
            Request::Number(n) | Request::Typed(_, n) => format!("asked for {n}!"),
            Request::Line(n) => format!("sent \"{n}\\n\" (the same, with a newline)"),
            Request::Text(text) => format!("sent {text:?}"),
            Request::Nothing => "sent nothing, then closed".to_string(),
        }
    }

    /// The n whose n! answers it, if it asks for one.
    fn number(&self) -> Option<u64> {
        match self {
            Request::Number(n) | Request::Typed(_, n) | Request::Line(n) => Some(*n),
            Request::Text(_) | Request::Nothing => None,
        }
    }
}

/// What came back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The answer, as it came (maybe nothing): the server closed after it, or it was whole
    /// and the server kept the connection open.
    Answer(Vec<u8>),
    /// The connection was refused: nothing listens there.
    Refused(String),
    /// The connection could not be made otherwise: nothing accepted it in time, say.
    Unreachable(String),
    /// The connection failed after it was made, or more came back than an answer can be.
    Failed(String),
    /// Nothing, or not all of it, came within the patience: a server that is stuck.
    TimedOut(String),
}

impl Reply {
    /// True for an answer that says it is an error: it starts with `Error: `, as the lab's do.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Answer(bytes) if protocol::is_error_answer(bytes))
    }

    /// True for n!'s digits exactly, ASCII whitespace around them aside: a worker that answers
    /// with `print` or `println` (`120\n`) answers 120, as the load balancers read it.
    pub fn is_factorial_of(&self, n: u64) -> bool {
        matches!(self, Reply::Answer(bytes)
            if common::armour::answers::trim_answer(bytes) == factorial_digits(n).as_bytes())
    }

    /// [`Reply::describe`], saying also that an answer is not an error when one was due.
    pub fn describe_as_error(&self) -> String {
        match self {
            Reply::Answer(bytes) if !bytes.is_empty() => {
                format!("{}, which is not an `Error: ` answer", self.describe())
            }
            _ => self.describe(),
        }
    }

    /// What came back, in words, for a report card: `got "479001600"`, `got nothing: the
    /// connection closed without an answer`, `no answer within 70 s`.
    pub fn describe(&self) -> String {
        match self {
            Reply::Answer(bytes) if bytes.is_empty() => {
                "got nothing: the connection closed without an answer".to_string()
            }
            Reply::Answer(bytes) => format!("got {}", hints::quote(bytes)),
            Reply::Refused(why)
            | Reply::Unreachable(why)
            | Reply::Failed(why)
            | Reply::TimedOut(why) => why.clone(),
        }
    }
}

/// One request and what came back, with when: the report card shows the times, counted from
/// the start of the property.
#[derive(Debug)]
pub struct Exchange {
    /// What was sent, in words ([`Request::describe`]).
    pub asked: String,
    /// When it was sent (for a typed request, when the number was sent).
    pub sent: Instant,
    /// When the first bytes of the answer arrived, if any did.
    pub first_byte: Option<Instant>,
    /// When the answer was complete, or the waiting ended.
    pub ended: Instant,
    /// What came back.
    pub reply: Reply,
}

/// Sends `request` to `addr` and reads the answer, for at most `patience`; says on `written`
/// when the request has been written, for a property that needs it sent before another.
pub fn exchange(
    addr: SocketAddr,
    request: Request,
    patience: Duration,
    written: Option<Sender<()>>,
) -> Exchange {
    let asked = request.describe();
    let n = request.number();
    let sent = Instant::now();
    let (reply, first_byte) = match request {
        Request::Typed(stream, n) => {
            send_and_read(stream, &n.to_string(), Some(n), patience, written)
        }
        Request::Number(n) => match connect(addr) {
            Ok(stream) => send_and_read(stream, &n.to_string(), Some(n), patience, written),
            Err(failed) => (failed, None),
        },
        Request::Line(n) => match connect(addr) {
            Ok(stream) => send_and_read(stream, &format!("{n}\n"), Some(n), patience, written),
            Err(failed) => (failed, None),
        },
        Request::Text(text) => match connect(addr) {
            Ok(stream) => send_and_read(stream, text, n, patience, written),
            Err(failed) => (failed, None),
        },
        Request::Nothing => match connect(addr) {
            Ok(stream) => match stream.shutdown(Shutdown::Write) {
                Ok(()) => read_reply(stream, None, patience),
                Err(e) => {
                    let why = format!("cannot close the sending side: {}", in_words(&e));
                    (Reply::Failed(why), None)
                }
            },
            Err(failed) => (failed, None),
        },
    };
    Exchange {
        asked,
        sent,
        first_byte,
        ended: Instant::now(),
        reply,
    }
}

/// Opens a connection and sends nothing yet, as a student who has not finished typing.
pub fn connect(addr: SocketAddr) -> Result<TcpStream, Reply> {
    TcpStream::connect_timeout(&addr, CONNECT_PATIENCE).map_err(|e| {
        let why = format!("cannot connect to {addr}: {}", in_words(&e));
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            Reply::Refused(why)
        } else {
            Reply::Unreachable(why)
        }
    })
}

/// Sends `request` on an open connection, in one write, and reads the answer.
fn send_and_read(
    mut stream: TcpStream,
    request: &str,
    n: Option<u64>,
    patience: Duration,
    written: Option<Sender<()>>,
) -> (Reply, Option<Instant>) {
    if let Err(e) = stream.write_all(request.as_bytes()) {
        let why = format!("cannot send {request:?}: {}", in_words(&e));
        return (Reply::Failed(why), None);
    }
    if let Some(written) = written {
        // Nobody listening any more is no matter: the exchange goes on.
        let _ = written.send(());
    }
    read_reply(stream, n, patience)
}

/// Reads the answer as the load balancer does ([`common::armour::answers::read_answer_for`]): until the
/// server closes, or until the answer is whole (n!'s digits, or a line that ended) on a
/// connection the server keeps open; for at most `patience` in all. Returns also when its
/// first bytes came.
fn read_reply(
    mut stream: TcpStream,
    n: Option<u64>,
    patience: Duration,
) -> (Reply, Option<Instant>) {
    let deadline = Instant::now() + patience;
    let mut answer = Vec::new();
    let first_byte = match read_first(&mut stream, &mut answer, deadline) {
        Ok(Some(at)) => Some(at),
        Ok(None) => return (Reply::Answer(answer), None), // closed with nothing
        Err(e) if protocol::is_timeout(&e) => return (no_answer_yet(&answer, patience), None),
        Err(e) => {
            let why = format!("the connection failed: {}", in_words(&e));
            return (Reply::Failed(why), None);
        }
    };
    (
        read_the_rest(stream, n, answer, deadline, patience),
        first_byte,
    )
}

/// The first read of an answer, by `deadline`: when it came, or `None` when the connection
/// closed with nothing. At most 1024 bytes, the least any answer may have.
fn read_first(
    stream: &mut TcpStream,
    answer: &mut Vec<u8>,
    deadline: Instant,
) -> std::io::Result<Option<Instant>> {
    let mut chunk = [0u8; common::armour::answers::MAX_ERROR_ANSWER_BYTES];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "wait forever" to std, so the deadline is checked first.
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(got) => {
                answer.extend_from_slice(&chunk[..got]);
                return Ok(Some(Instant::now()));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads the rest of an answer that has begun (`answer`), by `deadline`.
fn read_the_rest(
    mut stream: TcpStream,
    n: Option<u64>,
    mut answer: Vec<u8>,
    deadline: Instant,
    patience: Duration,
) -> Reply {
    let right = n.map(factorial_digits);
    let cannot_be = |answer: &[u8]| !hints::can_begin_an_answer(answer, right.as_deref());
    loop {
        // What cannot begin an answer (a greeting, words, digits that are not n!'s) is judged
        // as soon as the server pauses: waiting out the patience adds nothing.
        if cannot_be(&answer) && !protocol::is_error_answer(&answer) {
            // Room for words around the digits too: the evidence shows what they were.
            let limit = n.map_or(0, common::armour::answers::answer_limit)
                + common::armour::answers::MAX_ERROR_ANSWER_BYTES;
            return read_until_quiet(stream, answer, deadline, limit);
        }
        // Read in steps of ERROR_QUIET: an `Error: ` answer that ends in no newline, on a
        // connection kept open, is whole once a step has brought nothing more.
        let had = answer.len();
        let until = deadline.min(Instant::now() + ERROR_QUIET);
        match common::armour::answers::read_answer_for(
            &mut stream,
            n,
            &mut answer,
            Deadline::at(until),
        ) {
            Ok(AnswerEnd::LeftOpen)
                if cannot_be(&answer) && !protocol::is_error_answer(&answer) => {}
            Ok(AnswerEnd::Closed | AnswerEnd::LeftOpen) => return Reply::Answer(answer),
            Ok(AnswerEnd::TooLong) => return too_long(&answer),
            Err(e) if protocol::is_timeout(&e) => {
                if answer.len() == had && protocol::is_error_answer(&answer) {
                    return Reply::Answer(answer);
                }
                if Instant::now() >= deadline {
                    return no_answer_yet(&answer, patience);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Reply::Failed(format!("the connection failed: {}", in_words(&e))),
        }
    }
}

/// Reads what follows an answer already judged, until the server closes or pauses for
/// [`ERROR_QUIET`], so that the evidence shows all of it (a greeting, then the digits).
fn read_until_quiet(
    mut stream: TcpStream,
    mut answer: Vec<u8>,
    deadline: Instant,
    limit: usize,
) -> Reply {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let left = deadline
            .min(Instant::now() + ERROR_QUIET)
            .saturating_duration_since(Instant::now());
        // A zero timeout means "wait forever" to std, so it ends here.
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Reply::Answer(answer);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Reply::Answer(answer),
            Ok(got) => {
                answer.extend_from_slice(&chunk[..got]);
                if answer.len() > limit {
                    return too_long(&answer);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A pause, or a reset after what came: what came is the answer.
            Err(_) => return Reply::Answer(answer),
        }
    }
}

/// More came back than any answer can have: a flood.
fn too_long(answer: &[u8]) -> Reply {
    Reply::Failed(format!(
        "more than {} bytes came back, more than the answer can have",
        answer.len().saturating_sub(1)
    ))
}

/// The patience ran out: say so, and what had arrived by then.
fn no_answer_yet(answer: &[u8], patience: Duration) -> Reply {
    let seconds = patience.as_secs();
    if answer.is_empty() {
        Reply::TimedOut(format!("no answer within {seconds} s"))
    } else {
        Reply::TimedOut(format!(
            "the connection stayed open for {seconds} s after {}",
            hints::quote(answer)
        ))
    }
}

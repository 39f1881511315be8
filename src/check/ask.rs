//! One request to the implementation under check, as client.py sends it, with a deadline, and
//! a plain description of whatever came back: the evidence a report card quotes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::display::shorten;
use common::error::plain;

/// How long a correct server may take for anything the checker asks. Ours answer in
/// milliseconds, and in about two seconds when the worker they first try is frozen (a second
/// without an answer, then a health check of up to a second); ten seconds leaves room for a
/// loaded machine, and marks a server that is stuck, not one that is slow.
pub const ANSWER_PATIENCE: Duration = Duration::from_secs(10);

/// The most bytes read for one answer: the longest the checker asks for is 1500! (4,115
/// digits), so a server sending more than this is flooding, not answering.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// What came back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The server closed the connection after sending these bytes (maybe none).
    Answer(Vec<u8>),
    /// No answer: the connection failed or nothing came within the patience.
    Failed(String),
    /// Nothing, or not all of it, came within [`ANSWER_PATIENCE`]: a server that is stuck.
    TimedOut(String),
}

impl Reply {
    /// True for an answer that says it is an error: it starts with `Error: `, as the lab's do.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Answer(bytes) if common::protocol::is_error_answer(bytes))
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
    /// connection closed without an answer`, `no answer within 10 s`.
    pub fn describe(&self) -> String {
        match self {
            Reply::Answer(bytes) if bytes.is_empty() => {
                "got nothing: the connection closed without an answer".to_string()
            }
            Reply::Answer(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                format!("got {:?} ({} bytes)", shorten(&text), bytes.len())
            }
            Reply::Failed(why) | Reply::TimedOut(why) => why.clone(),
        }
    }
}

/// Connects, sends `request` in one write as client.py does, and reads the answer to the close.
pub fn ask(addr: SocketAddr, request: &str) -> Reply {
    match connect(addr) {
        Ok(stream) => finish(stream, request),
        Err(failed) => failed,
    }
}

/// Connects, sends nothing and closes its sending side: a client that gives up before typing.
pub fn ask_nothing(addr: SocketAddr) -> Reply {
    let stream = match connect(addr) {
        Ok(stream) => stream,
        Err(failed) => return failed,
    };
    if let Err(e) = stream.shutdown(Shutdown::Write) {
        return Reply::Failed(format!("cannot close the sending side: {}", plain(&e)));
    }
    read_to_close(stream)
}

/// Opens a connection and sends nothing yet, as a student who has not finished typing.
pub fn connect(addr: SocketAddr) -> Result<TcpStream, Reply> {
    TcpStream::connect_timeout(&addr, ANSWER_PATIENCE)
        .map_err(|e| Reply::Failed(format!("cannot connect to {addr}: {}", plain(&e))))
}

/// Sends `request` on an open connection and reads the answer to the close.
pub fn finish(mut stream: TcpStream, request: &str) -> Reply {
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return Reply::Failed(format!("cannot send {request:?}: {}", plain(&e)));
    }
    read_to_close(stream)
}

/// Reads until the server closes, for at most [`ANSWER_PATIENCE`] in all.
fn read_to_close(stream: TcpStream) -> Reply {
    let deadline = Instant::now() + ANSWER_PATIENCE;
    let mut answer = Vec::new();
    let mut reader = stream.take(MAX_ANSWER_BYTES + 1);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "wait forever" to std, so the deadline is checked first.
        if left.is_zero() || reader.get_ref().set_read_timeout(Some(left)).is_err() {
            return no_answer_yet(&answer);
        }
        match reader.read(&mut chunk) {
            Ok(0) => return Reply::Answer(answer),
            Ok(read) => answer.extend_from_slice(&chunk[..read]),
            Err(e) if common::protocol::is_timeout(&e) => return no_answer_yet(&answer),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Reply::Failed(format!("the connection failed: {}", plain(&e))),
        }
        if answer.len() as u64 > MAX_ANSWER_BYTES {
            return Reply::Failed(format!("more than {MAX_ANSWER_BYTES} bytes came back"));
        }
    }
}

/// The patience ran out: say so, and what had arrived by then.
fn no_answer_yet(answer: &[u8]) -> Reply {
    let seconds = ANSWER_PATIENCE.as_secs();
    if answer.is_empty() {
        Reply::TimedOut(format!("no answer within {seconds} s"))
    } else {
        let text = String::from_utf8_lossy(answer);
        Reply::TimedOut(format!(
            "the connection stayed open for {seconds} s after {:?} ({} bytes)",
            shorten(&text),
            answer.len()
        ))
    }
}

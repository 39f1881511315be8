//! The wire protocol, in one place: every byte the lab sends goes through these functions.
//!
//! It is the Python lab's protocol, written down (docs/protocol.md has the full contract):
//! one TCP connection per request; the request is the number as ASCII decimal text, sent in
//! one write with no terminator (client.py line 15); the answer is the digits of n!, or text
//! that begins `Error: `, and the sender then closes the connection. We read answers to the
//! close (or until all of n!'s digits are in), so an answer of any size arrives whole — the
//! Python programs read one `recv(1024)` and cut every answer longer than 1024 digits.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::deadline::Deadline;
use crate::{digits, factorial};

/// The longest request we accept, in bytes: the Python programs read at most 1024 bytes
/// (`recv(1024)`), and no sensible number comes close — u64::MAX has 20 digits.
pub const MAX_REQUEST_BYTES: usize = 1024;

/// What every error answer begins with, so a client can tell an error from digits.
pub const ERROR_PREFIX: &str = "Error: ";

/// The load balancer's answer when the registry lists no worker (load_balancer.py line 30).
pub const NO_WORKERS: &str = "Error: No workers available.";

/// The load balancer's answer when no worker gave an answer (load_balancer.py line 55).
pub const WORKER_FAILED: &str = "Error: Worker communication failed.";

/// The load balancer's answer when two workers took the request and failed with it: it may
/// be a request that kills workers, so it is not sent to more. It begins like the lab's answer.
pub const GAVE_UP: &str = "Error: Worker communication failed: two workers took this request \
     and gave no answer, so it is not sent to more.";

/// How a server's answer begins when the request did not arrive within its `--timeout`.
pub const TIMED_OUT: &str = "Error: request timed out";

/// A server's whole answer when the request did not arrive within `time` (its `--timeout`):
/// it says how to get more time, for a student who left client.py's prompt open.
pub fn timed_out(time: Duration) -> String {
    format!(
        "{TIMED_OUT}: the whole request must arrive within {} s (--timeout)",
        time.as_secs_f64()
    )
}

/// A server's answer when it already serves its `--max-connections`.
pub const BUSY: &str = "Error: server busy";

/// How long a server keeps reading after an error answer, so that request bytes it never read
/// do not turn its close into a reset (a reset can destroy the answer before the client reads
/// it). A client reads our answer and closes at once, so this is only a ceiling.
pub const LINGER: Duration = Duration::from_secs(2);

/// The most a server reads while it lingers: far more than any request that was cut short
/// (ours are at most [`MAX_REQUEST_BYTES`], an HTTP request to the status page 8 KiB), and
/// little enough that a client streaming bytes after its answer cannot keep a thread reading
/// for the whole [`LINGER`]; its close may then be a reset, which costs only itself.
pub const LINGER_BYTES: u64 = 64 * 1024;

/// Why a request was refused. Its text is what follows `Error: ` in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// The number runs on past the first [`MAX_REQUEST_BYTES`] bytes, or has not begun
    /// within them.
    TooLong,
    /// The connection closed, or held only whitespace.
    Empty,
    /// The bytes are not UTF-8 text.
    NotText,
    /// Text that is not a whole number, as received (shortened).
    NotANumber(String),
    /// A minus sign: n! is defined for n ≥ 0 only.
    Negative(String),
    /// A whole number beyond u64: far past anything a worker could compute.
    TooLarge,
    /// A number above the worker's `--max-n`.
    AboveLimit {
        /// The number asked for.
        n: u64,
        /// The worker's limit.
        max_n: u64,
    },
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadRequest::TooLong => write!(
                f,
                "request longer than {MAX_REQUEST_BYTES} bytes: the number must end within \
                 them (spaces after it are fine)"
            ),
            BadRequest::Empty => write!(f, "empty request: send a whole number such as 12"),
            BadRequest::NotText => write!(f, "request is not text: send a whole number such as 12"),
            BadRequest::NotANumber(text) => write!(f, "not a whole number: {text:?}"),
            BadRequest::Negative(text) => {
                write!(f, "negative number {text:?}: n! is defined for n >= 0 only")
            }
            BadRequest::TooLarge => write!(f, "number too large: the largest is {}", u64::MAX),
            BadRequest::AboveLimit { n, max_n } => {
                write!(f, "{n} is above this worker's limit of {max_n}")
            }
        }
    }
}

impl BadRequest {
    /// The whole answer to send back for this refusal.
    pub fn answer(&self) -> String {
        format!("{ERROR_PREFIX}{self}")
    }
}

/// Reads one request: the bytes of the first read that brings anything but whitespace, or up
/// to [`MAX_REQUEST_BYTES`] + 1 bytes (one more than allowed, so a long request is noticed).
///
/// A single `read()` may return only part of what was sent. Our protocol avoids waiting on
/// that: the request is a few bytes sent in one write, which TCP delivers together, and the
/// sender sends no terminator, so there is nothing further to wait for (client.py never
/// closes its side before reading the answer). We only keep reading while what came so far is
/// whitespace, e.g. a client that sends `\n` first.
pub fn read_request(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; MAX_REQUEST_BYTES + 1];
    let mut len = 0;
    while len < buf.len() {
        let got = match stream.read(&mut buf[len..]) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if got == 0 {
            break; // the sender closed: what we have is all there is
        }
        len += got;
        if buf[..len].iter().any(|b| !b.is_ascii_whitespace()) {
            break;
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// Reads one request like [`read_request`], all of it within `time` from now, however the
/// sender trickles its bytes: a per-read timeout would let a client that sends a space every
/// few seconds hold its connection for hours. Past the deadline the read fails with a timeout.
/// Once the server is stopping (Ctrl-C or SIGTERM), a request that has not come yet is not
/// waited for: the read fails with `server stopping`.
pub fn read_request_within(stream: &mut TcpStream, time: Duration) -> io::Result<Vec<u8>> {
    let mut until_stopped = UntilStopped {
        stream,
        deadline: Deadline::after(time),
    };
    read_request(&mut until_stopped)
}

/// How often a read that waits for a request looks whether the server is stopping.
const STOP_CHECK: Duration = Duration::from_millis(250);

/// A socket whose reads end by one deadline, or soon after the server is told to stop.
struct UntilStopped<'a> {
    stream: &'a mut TcpStream,
    deadline: Deadline,
}

impl Read for UntilStopped<'_> {
    fn read(&mut self, bytes: &mut [u8]) -> io::Result<usize> {
        loop {
            if crate::stop_signal::requested() {
                return Err(io::Error::other("server stopping"));
            }
            let left = self.deadline.timeout()?;
            let wait = left.map_or(STOP_CHECK, |left| left.min(STOP_CHECK));
            self.stream.set_read_timeout(Some(wait))?;
            match self.stream.read(bytes) {
                // A pause to look at the stop signal, unless the deadline has come.
                Err(e) if is_timeout(&e) && !self.deadline.has_passed() => {}
                other => return other,
            }
        }
    }
}

/// A socket whose reads, or writes, all end by one deadline.
struct ByDeadline<'a> {
    stream: &'a mut TcpStream,
    deadline: Deadline,
}

impl Read for ByDeadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(self.deadline.timeout()?)?;
        self.stream.read(buf)
    }
}

impl Write for ByDeadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(self.deadline.timeout()?)?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Checks a request against the grammar in docs/protocol.md and returns its n, which must be
/// at most `max_n` (the worker's `--max-n`; the load balancer passes `u64::MAX`).
///
/// Accepted, as Python's `int()` accepts them: whitespace around the number, ASCII or Unicode
/// (so `7\n`, `7\r\n` and a pasted no-break space work), one leading `+`, leading zeros, the
/// decimal digits of any script (full-width `１２` from an input method, `١٢`), and zero
/// written with a minus sign (`-0`). The number must end within the first
/// [`MAX_REQUEST_BYTES`] bytes, as the Python reads no more (`recv(1024)`); spaces after it
/// may run on. Everything else is refused with a reason, where Python's `int()` would crash
/// the worker (worker_server.py line 47) or accept what we do not (`1_000`).
pub fn parse_request(bytes: &[u8], max_n: u64) -> Result<u64, BadRequest> {
    let bytes = within_the_first_bytes(bytes)?;
    let text = std::str::from_utf8(bytes).map_err(|_| BadRequest::NotText)?;
    let text = text.trim_matches(digits::is_space);
    if text.is_empty() {
        return Err(BadRequest::Empty);
    }
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Some(digits) = digits::to_ascii_digits(unsigned).filter(|d| !d.is_empty()) {
        // Only overflow can fail here: the text is one or more ASCII digits.
        let n = digits.parse::<u64>().map_err(|_| BadRequest::TooLarge)?;
        if n > max_n {
            return Err(BadRequest::AboveLimit { n, max_n });
        }
        return Ok(n);
    }
    let minus_digits = text.strip_prefix('-').and_then(digits::to_ascii_digits);
    if let Some(digits) = minus_digits.filter(|d| !d.is_empty()) {
        // `-0` and `-000` are zero, not a negative number (Python's int() agrees).
        if digits.bytes().all(|b| b == b'0') {
            return Ok(0);
        }
        return Err(BadRequest::Negative(excerpt(text, EXCERPT_CHARS)));
    }
    Err(BadRequest::NotANumber(excerpt(text, EXCERPT_CHARS)))
}

/// The request's first [`MAX_REQUEST_BYTES`] bytes, when what came beyond them can only be
/// spaces after the number: the byte after them is whitespace, and something came before it
/// (`12` and 2,000 spaces is 12, as the Python reads it). A request whose number runs on past
/// them, or has not begun, is too long.
fn within_the_first_bytes(bytes: &[u8]) -> Result<&[u8], BadRequest> {
    let Some((&after, _)) = bytes.get(MAX_REQUEST_BYTES..).and_then(<[u8]>::split_first) else {
        return Ok(bytes);
    };
    let first = &bytes[..MAX_REQUEST_BYTES];
    if after.is_ascii_whitespace() && first.iter().any(|b| !b.is_ascii_whitespace()) {
        Ok(first)
    } else {
        Err(BadRequest::TooLong)
    }
}

/// The request as text for a log line (`Received request for factorial of …`): invalid UTF-8
/// is replaced, surrounding whitespace dropped, and a long request shortened.
pub fn request_for_log(bytes: &[u8]) -> String {
    text_for_log(bytes, EXCERPT_CHARS)
}

/// What a peer sent, as text for a log line or an error answer: invalid UTF-8 replaced,
/// surrounding whitespace dropped, control characters escaped, and at most `shown`
/// characters.
pub fn text_for_log(bytes: &[u8], shown: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = excerpt(text.trim_matches(|c: char| c.is_ascii_whitespace()), shown);
    // A request is whatever a client sent: a newline in it must not forge a log line of its
    // own, nor a terminal's escape codes drive the terminal. Control characters show escaped.
    text.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_default());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect()
}

/// How many characters of a refused request an error answer or log line shows: enough to
/// recognise it.
const EXCERPT_CHARS: usize = 40;

/// At most `shown` characters of `text`, and `...` when there were more.
fn excerpt(text: &str, shown: usize) -> String {
    if text.chars().count() <= shown {
        text.to_string()
    } else {
        text.chars().take(shown).collect::<String>() + "..."
    }
}

/// Sends a request the way client.py does: the text in one write, no terminator.
pub fn send_request(stream: &mut impl Write, text: &str) -> io::Result<()> {
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

/// Sends an answer. The caller then drops the stream, and the close tells the reader that the
/// answer is complete.
pub fn send_answer(stream: &mut impl Write, answer: &[u8]) -> io::Result<()> {
    stream.write_all(answer)?;
    stream.flush()
}

/// Sends an answer that must be taken within `time` in all (none: as long as it takes). Past
/// the deadline the send fails, saying so, however the reader trickles: a timeout per
/// write() would let a client that reads 512 bytes every 20 s hold its connection for hours.
pub fn send_answer_within(
    stream: &mut TcpStream,
    answer: &[u8],
    time: Option<Duration>,
) -> io::Result<()> {
    let Some(time) = time else {
        return send_answer(stream, answer);
    };
    let mut by_deadline = ByDeadline {
        stream,
        deadline: Deadline::after(time),
    };
    send_answer(&mut by_deadline, answer).map_err(|e| {
        if is_timeout(&e) {
            io::Error::other(format!(
                "the answer was not taken within {} s (--timeout)",
                time.as_secs_f64()
            ))
        } else {
            e
        }
    })
}

/// Gets a connection ready to close after a whole answer: whatever the asker sent that we
/// never read (a newline after the number, say) is read and dropped first, without waiting
/// for more, so that our close is a plain one and not a reset, which could destroy the answer
/// on its way. An asker that sends nothing more costs one read that finds nothing.
pub fn drain_before_close(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    still_open(stream);
    Ok(())
}

/// Closes a connection gently after its answer: we stop sending, then read and discard until
/// the asker closes (at most [`LINGER`] and [`LINGER_BYTES`]), so that request bytes we never
/// read (a request too
/// long, a newline sent after the number) do not make the kernel answer our close with a
/// reset, which could destroy the answer on its way. The asker closes as soon as it has read
/// the answer, so this costs it nothing.
pub fn close_gently(stream: &mut TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    let until_closed = ByDeadline {
        stream,
        deadline: Deadline::after(LINGER),
    };
    let mut sink = [0u8; 4096];
    // Ends at the asker's close, at an error, after LINGER in all however it trickles, or
    // after LINGER_BYTES however fast it streams.
    let mut until_closed = until_closed.take(LINGER_BYTES);
    while let Ok(got) = until_closed.read(&mut sink) {
        if got == 0 {
            break;
        }
    }
    Ok(())
}

/// Writes `Error: server busy` without waiting: a new connection's send buffer is empty, so
/// the few bytes always fit; a connection that cannot take them is not worth waiting for.
pub fn send_busy_at_once(stream: &TcpStream) {
    if stream.set_nonblocking(true).is_ok() {
        let mut writer = stream;
        let _ = writer.write_all(BUSY.as_bytes());
        let _ = stream.set_nonblocking(false);
    }
}

/// Reads and drops whatever has arrived on a non-blocking socket: true while the peer keeps
/// it open. For a server holding a refused connection until the client closes it.
pub fn still_open(mut stream: &TcpStream) -> bool {
    let mut sink = [0u8; 1024];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// The longest `Error: ` answer a worker may give; ours are under 100 bytes.
pub const MAX_ERROR_ANSWER_BYTES: usize = 1024;

/// How much whitespace an answer may carry around its digits (`\r\n`, a space): a few bytes
/// are all any `print` adds.
pub const ANSWER_WHITESPACE: usize = 16;

/// The most bytes a correct answer for n can take: n! has a known number of digits, plus
/// [`ANSWER_WHITESPACE`], and an error answer is short. Reading past it only fills memory
/// with a wrong answer.
pub fn answer_limit(n: u64) -> usize {
    let (_, most_digits) = factorial::digit_count_range(n);
    usize::try_from(most_digits)
        .unwrap_or(usize::MAX)
        .saturating_add(ANSWER_WHITESPACE)
        .max(MAX_ERROR_ANSWER_BYTES)
}

/// How a read of an answer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum AnswerEnd {
    /// The sender closed: the answer is complete.
    Closed,
    /// The answer was complete (all of n!'s digits, or a line that ended) and the sender kept
    /// the connection open, as a server written to answer several requests on one connection
    /// does. client.py and load_balancer.py read once and never notice; we stop reading too.
    LeftOpen,
    /// More than the limit arrived: not an answer to this request.
    TooLong,
}

/// How long a reader waits for the sender's close once the answer is complete. A sender that
/// closes does so at once; this only bounds one that keeps its connection open, and lets the
/// sender close first where it will (so its side, not ours, keeps the closed connection's
/// TIME_WAIT, and a newline sent after the digits is read rather than answered by a reset).
pub const ANSWER_GRACE: Duration = Duration::from_millis(100);

/// Up to this n, [`check_answer`] compares every digit: 500! takes about ten microseconds to
/// compute, and for small n a wrong answer of the right length and zeros is easy to send (`42`
/// for 4!). Beyond it, length and trailing zeros are checked.
pub const EXACT_CHECK_N: u64 = 500;

/// Reads the answer to a request for n! (`None` when the request was not a number) into
/// `answer`, all of it by `deadline`, until the sender closes or the answer
/// is complete: all the digits n! can have, or a line that ended (`print` and `println`
/// answers end in a newline). A sender that keeps its connection open after that is given
/// [`ANSWER_GRACE`] to close. Reads at most one byte more than [`answer_limit`].
///
/// Past the deadline the read fails with a timeout, and what arrived so far stays in
/// `answer`, so the caller can decide whether to go on waiting and call this again.
pub fn read_answer_for(
    stream: &mut TcpStream,
    n: Option<u64>,
    answer: &mut Vec<u8>,
    deadline: Deadline,
) -> io::Result<AnswerEnd> {
    let limit = n.map_or(MAX_ERROR_ANSWER_BYTES, answer_limit);
    let most_digits = n.map(|n| factorial::digit_count_range(n).1);
    let mut by_deadline = ByDeadline { stream, deadline };
    // Each read's bytes are looked at once: looking at the whole answer after every read took
    // time that grew with the square of its length (minutes for 10,000,000!'s 65 MB).
    let mut seen = Seen::default();
    while !seen.is_complete(answer, most_digits) {
        if read_more(&mut by_deadline, answer, limit)? == 0 {
            return Ok(AnswerEnd::Closed);
        }
        if answer.len() > limit {
            return Ok(AnswerEnd::TooLong);
        }
    }
    // Complete: whatever still comes before the close (a newline, say) belongs to it.
    by_deadline.deadline = deadline.earlier(Deadline::after(ANSWER_GRACE));
    loop {
        match read_more(&mut by_deadline, answer, limit) {
            Ok(0) => return Ok(AnswerEnd::Closed),
            Ok(_) if answer.len() > limit => return Ok(AnswerEnd::TooLong),
            Ok(_) => continue,
            Err(e) if is_timeout(&e) => return Ok(AnswerEnd::LeftOpen),
            // A reset after a complete answer costs nothing: the answer is here.
            Err(_) => return Ok(AnswerEnd::Closed),
        }
    }
}

/// One read into the end of `answer`, never past one byte more than `limit` in all (so a
/// flood is noticed without being kept). Returns how many bytes came: 0 at the close.
fn read_more(stream: &mut impl Read, answer: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    /// The most one read takes: a big answer arrives in a few reads, a small one in one.
    const CHUNK: usize = 64 * 1024;
    let start = answer.len();
    let room = limit.saturating_add(1).saturating_sub(start).min(CHUNK);
    answer.resize(start + room, 0);
    let read = loop {
        match stream.read(&mut answer[start..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    answer.truncate(start + read.as_ref().map_or(0, |got| *got));
    read
}

/// How far an answer has been looked at, so that each byte is looked at once.
#[derive(Default)]
struct Seen {
    /// How many bytes were looked at.
    bytes: usize,
    /// Whether something other than whitespace came.
    text: bool,
    /// How many digits the answer began with, after its leading whitespace.
    digits: u64,
    /// Whether the digits at its start have ended (a byte that is not a digit came after them).
    digits_ended: bool,
    /// Whether a line ended after the text began.
    line_ended: bool,
}

impl Seen {
    /// True once `answer` is whole without waiting for the close: a line of text that ended,
    /// or (n known) as many digits as n! can have, after which nothing more can belong to it.
    fn is_complete(&mut self, answer: &[u8], most_digits: Option<u64>) -> bool {
        for &byte in &answer[self.bytes.min(answer.len())..] {
            if !self.text && byte.is_ascii_whitespace() {
                continue;
            }
            self.text = true;
            self.line_ended |= byte == b'\n';
            if !self.digits_ended && byte.is_ascii_digit() {
                self.digits += 1;
            } else {
                self.digits_ended = true;
            }
        }
        self.bytes = answer.len();
        self.line_ended || most_digits.is_some_and(|most| self.digits >= most)
    }
}

/// True once `answer` is whole without waiting for the close (see [`Seen::is_complete`]).
#[cfg(test)]
fn is_complete(answer: &[u8], most_digits: Option<u64>) -> bool {
    Seen::default().is_complete(answer, most_digits)
}

/// An answer without the NUL bytes after it: a worker written in C that sends its whole zeroed
/// buffer (`send(fd, buf, sizeof buf, 0)`) writes n! and then NULs, which the Python lab relays
/// and its client prints. The load balancer and the client read past them; `lab check` does
/// not, and names them (the worker's answer is its digits only).
pub fn without_nul_padding(answer: &[u8]) -> &[u8] {
    let written = answer
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    &answer[..written]
}

/// An answer as the number it writes: without the ASCII whitespace around it, a `+` before
/// its digits, or zeros before its first other digit. A worker that answers `120\n` (Python's
/// `print`, C's `puts`, Rust's `println!`), `+120` or `00120` means 120, as a request of `7\n`,
/// `+7` or `007` means 7, and client.py prints any of them. Answers are relayed and checked as
/// the bare digits; an answer that is not a number is left as it came, but for the whitespace.
pub fn trim_answer(answer: &[u8]) -> &[u8] {
    let answer = answer.trim_ascii();
    let unsigned = answer.strip_prefix(b"+").unwrap_or(answer);
    if unsigned.is_empty() || !unsigned.iter().all(u8::is_ascii_digit) {
        return answer;
    }
    let zeros = unsigned.iter().take_while(|&&b| b == b'0').count();
    // Zero itself keeps its last zero.
    &unsigned[zeros.min(unsigned.len() - 1)..]
}

/// Checks that `answer` can be n!: only digits, no leading zero, as many digits as n! has,
/// ending in exactly as many zeros as n! does. This catches a worker that is not a worker (an
/// answer of `42`), and an answer cut short by a worker that died while sending it, which
/// the close alone cannot tell from a whole one. Returns what is wrong.
pub fn check_answer(n: u64, answer: &[u8]) -> Result<(), String> {
    if n <= EXACT_CHECK_N {
        // Small n! are cheap to compute here, and short answers are easy to fake: compare all.
        return if answer == factorial::factorial_digits(n).as_bytes() {
            Ok(())
        } else {
            Err(format!("not {n}!"))
        };
    }
    if answer.is_empty() || !answer.iter().all(u8::is_ascii_digit) {
        return Err("not digits".to_string());
    }
    let (fewest, most) = factorial::digit_count_range(n);
    let length = answer.len() as u64;
    if length < fewest || length > most || answer[0] == b'0' {
        return Err(format!("{length} digits where {n}! has {fewest}"));
    }
    let zeros = factorial::trailing_zeros_of_factorial(n) as usize;
    let ends = answer.len() - answer.iter().rev().take_while(|&&b| b == b'0').count();
    if answer.len() - ends != zeros {
        return Err(format!(
            "ends in {} zeros where {n}! ends in {zeros}",
            answer.len() - ends
        ));
    }
    Ok(())
}

/// One whole exchange on a connected stream, as client.py does it: the request in one write,
/// then the answer read to the close. Our client, the test harness and the benchmark all ask
/// through this one function.
pub fn exchange(stream: &mut (impl Read + Write), request: &[u8]) -> io::Result<Vec<u8>> {
    stream.write_all(request)?;
    stream.flush()?;
    read_answer(stream)
}

/// Reads a whole answer: everything until the sender closes.
pub fn read_answer(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}

/// True when an answer is an error rather than digits.
pub fn is_error_answer(answer: &[u8]) -> bool {
    answer.starts_with(ERROR_PREFIX.as_bytes())
}

/// True when an I/O error means a read or connect timeout ran out. Depending on the platform
/// a socket timeout shows as `WouldBlock` or as `TimedOut`.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// Parses with no limit but u64's own.
    fn parse(bytes: &[u8]) -> Result<u64, BadRequest> {
        parse_request(bytes, u64::MAX)
    }

    /// A number above the limit is refused with the number and the limit; the limit itself is
    /// allowed.
    #[test]
    fn refuses_numbers_above_the_limit() {
        assert_eq!(parse_request(b"100", 100), Ok(100));
        assert_eq!(
            parse_request(b"101", 100),
            Err(BadRequest::AboveLimit { n: 101, max_n: 100 })
        );
        assert_eq!(
            BadRequest::AboveLimit { n: 101, max_n: 100 }.answer(),
            "Error: 101 is above this worker's limit of 100"
        );
    }

    /// Plain numbers, whitespace, a newline, CRLF, a plus sign and leading zeros are accepted.
    #[test]
    fn accepts_the_grammar() {
        assert_eq!(parse(b"12"), Ok(12));
        assert_eq!(parse(b" 7\n"), Ok(7));
        assert_eq!(parse(b"7\r\n"), Ok(7));
        assert_eq!(parse(b"\t+15 "), Ok(15));
        assert_eq!(parse(b"007"), Ok(7));
        assert_eq!(parse(b"0"), Ok(0));
        assert_eq!(parse(b"18446744073709551615"), Ok(u64::MAX));
    }

    /// Zero is zero with any sign and any number of zeros; a minus before anything else is
    /// still a negative number.
    #[test]
    fn minus_zero_is_zero() {
        for zero in ["-0", "+0", "-000", "+000", " -0\n"] {
            assert_eq!(parse(zero.as_bytes()), Ok(0), "{zero:?}");
        }
        assert_eq!(parse(b"-01"), Err(BadRequest::Negative("-01".into())));
        assert_eq!(parse(b"--0"), Err(BadRequest::NotANumber("--0".into())));
        assert_eq!(parse(b"-"), Err(BadRequest::NotANumber("-".into())));
    }

    /// Everything the grammar does not allow is refused, each with its own reason.
    #[test]
    fn refuses_everything_else() {
        let not_a_number = |s: &str| Err(BadRequest::NotANumber(s.to_string()));
        assert_eq!(parse(b"abc"), not_a_number("abc"));
        assert_eq!(parse(b"1.5"), not_a_number("1.5"));
        assert_eq!(parse(b"1e3"), not_a_number("1e3"));
        assert_eq!(parse(b"0x10"), not_a_number("0x10"));
        assert_eq!(parse(b"12abc"), not_a_number("12abc"));
        assert_eq!(parse(b"1 2"), not_a_number("1 2"));
        assert_eq!(parse(b"1_000"), not_a_number("1_000"));
        assert_eq!(parse(b"+"), not_a_number("+"));
        assert_eq!(parse(b"++1"), not_a_number("++1"));
        assert_eq!(parse(b""), Err(BadRequest::Empty));
        assert_eq!(parse(b" \r\n"), Err(BadRequest::Empty));
        assert_eq!(parse(b"\xff\xfe"), Err(BadRequest::NotText));
        assert_eq!(parse(b"-5"), Err(BadRequest::Negative("-5".into())));
        assert_eq!(parse(b"18446744073709551616"), Err(BadRequest::TooLarge));
        assert_eq!(parse(&[b'1'; 1025]), Err(BadRequest::TooLong));
        let mut spaces_first = vec![b' '; 1024];
        spaces_first.extend_from_slice(b"12");
        assert_eq!(parse(&spaces_first), Err(BadRequest::TooLong));
        assert_eq!(
            parse("１２".as_bytes()),
            Ok(12),
            "a full-width digit is a digit"
        );
        assert_eq!(parse("²".as_bytes()), not_a_number("²"));
    }

    /// What Python's `int()` reads as a number, and the lab's load balancer forwards in its
    /// first 1024 bytes: spaces after the number however many, Unicode spaces around it, and
    /// the digits of any script.
    #[test]
    fn reads_what_python_reads() {
        let mut padded = b"12".to_vec();
        padded.resize(1025, b' ');
        assert_eq!(parse(&padded), Ok(12));
        assert_eq!(parse("\u{a0}12\u{3000}".as_bytes()), Ok(12));
        assert_eq!(parse("\u{3000}１２\u{3000}".as_bytes()), Ok(12));
        assert_eq!(parse("+١٢".as_bytes()), Ok(12));
        assert_eq!(parse("-０".as_bytes()), Ok(0));
        assert_eq!(
            parse("-３".as_bytes()),
            Err(BadRequest::Negative("-３".into()))
        );
    }

    /// Error answers start with the prefix clients look for.
    #[test]
    fn error_answers_carry_the_prefix() {
        let answer = BadRequest::Negative("-5".into()).answer();
        assert!(answer.starts_with("Error: negative number"));
        assert!(is_error_answer(answer.as_bytes()));
        assert!(!is_error_answer(b"120"));
    }

    /// A read stops at the first bytes that are not whitespace, without waiting for more.
    #[test]
    fn reads_one_request_without_a_terminator() {
        // Two chunks as two reads would deliver them; the second is never asked for.
        let mut chunks = io::Cursor::new(b"\n".to_vec()).chain(io::Cursor::new(b"12".to_vec()));
        assert_eq!(read_request(&mut chunks).unwrap(), b"\n12");
        let mut long = io::Cursor::new(vec![b'9'; 5000]);
        assert_eq!(
            read_request(&mut long).unwrap().len(),
            MAX_REQUEST_BYTES + 1
        );
    }

    /// n! passes the answer check; a lie, a cut answer, wrong zeros and leading zeros do not.
    #[test]
    fn answers_are_checked_against_n() {
        for n in [0u64, 1, 5, 12, 25, 100, 1000] {
            let digits = factorial::factorial_digits(n);
            assert_eq!(check_answer(n, digits.as_bytes()), Ok(()), "{n}!");
            assert!(
                check_answer(n, &digits.as_bytes()[1..]).is_err(),
                "{n}! cut"
            );
        }
        assert!(check_answer(12, b"42").is_err());
        assert!(
            check_answer(4, b"42").is_err(),
            "4! has two digits and no zero, as 42"
        );
        let big = factorial::factorial_digits(600);
        let mut wrong = big.clone().into_bytes();
        wrong[5] = if wrong[5] == b'1' { b'2' } else { b'1' };
        assert_eq!(check_answer(600, big.as_bytes()), Ok(()));
        assert_eq!(
            check_answer(600, &wrong),
            Ok(()),
            "beyond EXACT_CHECK_N, digits are not compared"
        );
        assert!(check_answer(12, b"479001601").is_err());
        assert!(check_answer(12, b"479000000").is_err(), "too many zeros");
        assert!(check_answer(12, b"047900160").is_err(), "a leading zero");
        assert!(check_answer(5, b"12O").is_err(), "not digits");
        assert!(check_answer(5, b"").is_err());
    }

    /// A connected pair of sockets on loopback: (ours, the peer's).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (theirs, _) = listener.accept().unwrap();
        (ours, theirs)
    }

    /// Reads the answer to n! that `send` writes, with a minute's patience: (how it ended,
    /// the answer). A sender that returns its socket keeps it open until the read is over.
    fn answer_sent_by(
        n: Option<u64>,
        send: impl FnOnce(TcpStream) -> Option<TcpStream> + Send + 'static,
    ) -> (AnswerEnd, Vec<u8>) {
        let (mut ours, theirs) = pair();
        let sender = std::thread::spawn(move || send(theirs));
        let mut answer = Vec::new();
        let deadline = Deadline::after(Duration::from_secs(60));
        let end = read_answer_for(&mut ours, n, &mut answer, deadline).unwrap();
        drop(sender.join().unwrap());
        (end, answer)
    }

    /// A sender that writes `bytes` and keeps its connection open.
    fn keeps_open(bytes: Vec<u8>) -> impl FnOnce(TcpStream) -> Option<TcpStream> + Send {
        move |mut s| {
            s.write_all(&bytes).unwrap();
            Some(s)
        }
    }

    /// A sender that writes each of `writes` in turn, then closes.
    fn writes_and_closes(
        writes: Vec<Vec<u8>>,
    ) -> impl FnOnce(TcpStream) -> Option<TcpStream> + Send {
        move |mut s| {
            for bytes in &writes {
                let _ = s.write_all(bytes);
            }
            None
        }
    }

    /// An answer ends at the close; a flood stops one byte past the limit.
    #[test]
    fn answers_end_at_the_close_within_a_limit() {
        let (end, answer) = answer_sent_by(Some(5), writes_and_closes(vec![b"120".to_vec()]));
        assert_eq!((end, answer), (AnswerEnd::Closed, b"120".to_vec()));
        let (end, answer) = answer_sent_by(Some(12), writes_and_closes(vec![vec![b'7'; 5000]]));
        assert_eq!(
            (end, answer.len()),
            (AnswerEnd::TooLong, MAX_ERROR_ANSWER_BYTES + 1)
        );
        assert_eq!(answer_limit(12), MAX_ERROR_ANSWER_BYTES);
        assert_eq!(answer_limit(1000), 2568 + ANSWER_WHITESPACE);
    }

    /// A sender that keeps its connection open after answering (a server that serves several
    /// requests on one connection): the answer is taken once all of n!'s digits, or a line
    /// that ended, have come, without waiting for a close that never comes.
    #[test]
    fn an_answer_left_open_is_complete_when_whole() {
        let (end, answer) = answer_sent_by(Some(12), keeps_open(b"479001600".to_vec()));
        assert_eq!((end, answer), (AnswerEnd::LeftOpen, b"479001600".to_vec()));
        let big = factorial::factorial_digits(3000).into_bytes();
        let (end, answer) = answer_sent_by(Some(3000), keeps_open(big.clone()));
        assert_eq!((end, answer), (AnswerEnd::LeftOpen, big));
        for line in [&b"Error: busy\n"[..], b"Factorial: 120\r\n", b"120\n"] {
            let (end, answer) = answer_sent_by(None, keeps_open(line.to_vec()));
            assert_eq!((end, answer), (AnswerEnd::LeftOpen, line.to_vec()));
        }
        // Not whole yet: fewer digits than 12! has, and no line end, wait for more.
        assert!(!is_complete(b"4790016", Some(9)));
        assert!(!is_complete(b"\n", None), "a newline alone ends nothing");
    }

    /// Whitespace after a whole answer, in a write of its own, is read with it (not left to
    /// turn our close into a reset); the digits are the answer.
    #[test]
    fn a_newline_after_the_digits_is_read_and_trimmed() {
        let (end, answer) = answer_sent_by(
            Some(5),
            writes_and_closes(vec![b"120".to_vec(), b"\r\n".to_vec()]),
        );
        assert_eq!(
            (end, answer.as_slice()),
            (AnswerEnd::Closed, &b"120\r\n"[..])
        );
        assert_eq!(trim_answer(&answer), b"120");
        assert_eq!(trim_answer(b" \t1\n"), b"1");
        let mut buffer = b"120".to_vec();
        buffer.resize(1024, 0);
        assert_eq!(trim_answer(without_nul_padding(&buffer)), b"120");
        assert_eq!(without_nul_padding(b"120\n\0\0"), b"120\n");
        assert_eq!(without_nul_padding(b"\0\0"), b"");
        for same in [&b"+120"[..], b"00120", b"+000120\r\n"] {
            assert_eq!(trim_answer(same), b"120", "{same:?}");
        }
        assert_eq!(trim_answer(b"000"), b"0");
        for left in [&b"+"[..], b"+-1", b"0x10", b"Error: 012"] {
            assert_eq!(trim_answer(left), left);
        }
    }

    /// Past the deadline the read fails as a timeout and keeps what came, so it can go on.
    #[test]
    fn a_read_past_its_deadline_keeps_what_came() {
        let (mut ours, mut theirs) = pair();
        theirs.write_all(b"4790").unwrap();
        let mut answer = Vec::new();
        let soon = Deadline::after(Duration::from_millis(200));
        let error = read_answer_for(&mut ours, Some(12), &mut answer, soon).unwrap_err();
        assert!(is_timeout(&error), "{error:?}");
        assert_eq!(answer, b"4790");
        theirs.write_all(b"01600").unwrap();
        drop(theirs);
        let end = read_answer_for(&mut ours, Some(12), &mut answer, Deadline::NEVER).unwrap();
        assert_eq!((end, answer), (AnswerEnd::Closed, b"479001600".to_vec()));
    }

    /// A request's control characters are escaped in log lines: no forged line, no escape codes.
    #[test]
    fn requests_are_logged_escaped() {
        assert_eq!(
            request_for_log(b"12\nForwarded to worker"),
            "12\\nForwarded to worker"
        );
        assert_eq!(request_for_log(b"\x1b[31mRED"), "\\u{1b}[31mRED");
        assert_eq!(request_for_log(b" 7\r\n"), "7");
    }

    /// Long refused requests are shortened in the answer.
    #[test]
    fn long_garbage_is_shortened() {
        let text = "x".repeat(100);
        let Err(BadRequest::NotANumber(shown)) = parse(text.as_bytes()) else {
            panic!("expected a refusal");
        };
        assert_eq!(shown, format!("{}...", "x".repeat(40)));
    }
}

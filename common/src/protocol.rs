//! The wire protocol: what a request and an answer are, and how each is sent and read. The
//! armour around it (deadlines, answers read whole and checked, gentle closes) is in
//! `armour/`; the status page's small HTTP server has its own.
//!
//! It is the Python lab's protocol, written down (docs/protocol.md has the full contract):
//! one TCP connection per request; the request is the number as ASCII decimal text, sent in
//! one write with no terminator (client.py line 15); the answer is the digits of n!, or text
//! that begins `Error: `, and the sender then closes the connection. We read answers to the
//! close (or until all of n!'s digits are in), so an answer of any size arrives whole — the
//! Python programs read one `recv(1024)` and cut every answer longer than 1024 digits.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Duration;

use crate::armour::digits;
use crate::extras::display::{EXCERPT_CHARS, excerpt};

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

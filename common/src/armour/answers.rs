//! An answer read whole, however long, and checked to be n!. Ours only: the Python programs
//! read one `recv(1024)`, which cuts every answer longer than 1024 digits, and relay whatever
//! came, a worker's crash or a wrong number included.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Duration;

use crate::armour::deadline::{ByDeadline, Deadline};
use crate::factorial;
use crate::protocol::is_timeout;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;
    use std::io::Write;

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
}

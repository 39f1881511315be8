//! Sending the number and waiting for the answer, with what client.py does not do (its line
//! 17 is one `recv(1024)` that waits for ever, and line 19 prints whatever came): the whole
//! answer is read, however long, and taken as soon as it is whole, even from a server that
//! keeps the connection open; a wait of more than [`STILL_WAITING`] is said once on stderr;
//! `--timeout` ends the wait if asked to; an `Error: ` answer, or one that cannot be n!, is an
//! error for the caller; and a load balancer that gave up on a prompt left open is asked again
//! on a new connection.

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use common::armour::deadline::Deadline;
use common::armour::error::{Error, in_words};
use common::protocol;

/// How long the client waits before it says, once, that it is still waiting: a request
/// through our load balancer takes milliseconds, so a wait this long is worth a word (a queue
/// behind slow workers, or a load balancer that hangs), and the word says how to stop.
pub const STILL_WAITING: Duration = Duration::from_secs(10);

/// How long to wait for the rest of an answer that was already on its way when the prompt
/// closed.
const ALREADY_SENT: Duration = Duration::from_secs(1);

/// The number to send, without the spaces around it; an error for a blank one, which Python
/// sends as it is and then waits on.
pub fn not_blank(number: &str) -> Result<&str, Error> {
    let number = number.trim();
    if number.is_empty() {
        return Err(Error::new(
            "no number given: type a whole number such as 12",
        ));
    }
    Ok(number)
}

/// Sends `number` to the load balancer at `at` and returns its answer, n!, or the error to
/// report: an `Error: ` answer, no answer, or one that cannot be n! (a Python load balancer
/// cuts answers at 1024 bytes). Waits at most `timeout` (`None`: as long as it takes). A
/// number `typed` at the prompt is asked anew if the load balancer gave up on the prompt
/// meanwhile ([`not_given_up_already`], [`ask_typed`]).
pub fn ask(
    stream: &mut TcpStream,
    number: &str,
    at: &str,
    timeout: Option<Duration>,
    typed: bool,
) -> Result<String, Error> {
    if !typed {
        return ask_once(stream, number, at, timeout);
    }
    not_given_up_already(stream, at)?;
    ask_typed(stream, number, at, timeout)
}

/// [`ask`]'s one exchange on `stream`.
fn ask_once(
    stream: &mut TcpStream,
    number: &str,
    at: &str,
    timeout: Option<Duration>,
) -> Result<String, Error> {
    // A write that cannot go out within --timeout gives up too.
    let sent = stream
        .set_write_timeout(timeout)
        .and_then(|()| protocol::send_request(stream, number));
    sent.map_err(|e| Error::new(format!("cannot ask the load balancer: {}", in_words(&e))))?;
    let answer = receive(stream, number, at, timeout)?;
    let answer = common::armour::answers::without_nul_padding(&answer);
    let answer = String::from_utf8_lossy(common::armour::answers::trim_answer(answer)).into_owned();
    if answer.is_empty() {
        return Err(Error::new(
            "the load balancer closed the connection without an answer",
        ));
    }
    if protocol::is_error_answer(answer.as_bytes()) {
        return Err(Error::new(answer));
    }
    if let Ok(n) = protocol::parse_request(number.as_bytes(), u64::MAX) {
        common::armour::answers::check_answer(n, answer.as_bytes()).map_err(|why| {
            Error::new(format!(
                "the answer is not {n}! ({why}); it may have been cut short"
            ))
        })?;
    }
    Ok(answer)
}

/// Reads the answer to the request `number` from the load balancer at `at`, waiting at most
/// `timeout` (`None`: as long as it takes, as client.py does).
fn receive(
    stream: &mut TcpStream,
    number: &str,
    at: &str,
    timeout: Option<Duration>,
) -> Result<Vec<u8>, Error> {
    let n = protocol::parse_request(number.as_bytes(), u64::MAX).ok();
    let give_up = timeout.map_or(Deadline::NEVER, Deadline::after);
    let first_wait = give_up.earlier(Deadline::after(STILL_WAITING));
    // Decided before the read, as a socket's timeout may end a hair before its deadline.
    let note_due = timeout.is_none_or(|timeout| timeout > STILL_WAITING);
    let mut answer = Vec::new();
    let mut read = common::armour::answers::read_answer_for(stream, n, &mut answer, first_wait);
    if is_timeout(&read) && note_due {
        common::armour::log::warn(&format!(
            "still waiting for the answer from the load balancer at {at} (Ctrl-C stops; \
             --timeout SECS gives up by itself)"
        ));
        read = common::armour::answers::read_answer_for(stream, n, &mut answer, give_up);
    }
    match read {
        Ok(_) => Ok(answer),
        Err(e) if protocol::is_timeout(&e) => Err(no_answer_in_time(at, timeout, &answer)),
        Err(e) => Err(Error::new(format!(
            "cannot ask the load balancer: {}",
            in_words(&e)
        ))),
    }
}

/// True when a read ran out of time.
fn is_timeout<T>(read: &io::Result<T>) -> bool {
    matches!(read, Err(e) if protocol::is_timeout(e))
}

/// What to say when `--timeout` ran out: nothing came, or an answer began and did not end.
fn no_answer_in_time(at: &str, timeout: Option<Duration>, answer: &[u8]) -> Error {
    let seconds = timeout.unwrap_or_default().as_secs_f64();
    if answer.is_empty() {
        Error::new(format!(
            "no answer from the load balancer at {at} within {seconds} s (--timeout)"
        ))
    } else {
        Error::new(format!(
            "the load balancer at {at} sent {} bytes of an answer and neither finished nor \
             closed within {seconds} s (--timeout)",
            answer.len()
        ))
    }
}

/// Before the number typed at the prompt is sent: if the load balancer has already given up
/// on this connection (it waits `--timeout`, a minute, for a request, and client.py connects
/// before it asks), the number goes on a new connection instead, as if typed in time, and one
/// line on stderr says so. A student who left the prompt open gets the answer, as the Python
/// lab's load balancer, which waits for ever, would give it. Python would send the number into
/// a closed connection and print a reset or the stale answer as the factorial.
fn not_given_up_already(stream: &mut TcpStream, at: &str) -> Result<(), Error> {
    let mut byte = [0u8; 1];
    let peeked = stream
        .set_nonblocking(true)
        .and_then(|()| stream.peek(&mut byte));
    // Back to blocking: a failure here shows in the reads that follow.
    let _ = stream.set_nonblocking(false);
    let said = match peeked {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
        Ok(0) => "closed the connection".to_string(),
        Ok(_) => {
            let mut answer = Vec::new();
            let soon = Deadline::after(ALREADY_SENT);
            let _ = common::armour::answers::read_answer_for(stream, None, &mut answer, soon);
            let answer =
                String::from_utf8_lossy(common::armour::answers::trim_answer(&answer)).into_owned();
            format!("answered {answer:?}")
        }
        Err(e) => format!("failed ({})", in_words(&e)),
    };
    ask_anew(stream, at, &said)
}

/// [`ask_once`] for a number typed at the prompt. The load balancer may give up on the prompt just
/// as the number goes out: its `request timed out` then crosses the number on the way, after
/// [`not_given_up_already`] looked, and the number is asked again on a new connection, as
/// there.
fn ask_typed(
    stream: &mut TcpStream,
    number: &str,
    at: &str,
    timeout: Option<Duration>,
) -> Result<String, Error> {
    match ask_once(stream, number, at, timeout) {
        Err(e) if e.to_string().starts_with(protocol::TIMED_OUT) => {
            ask_anew(stream, at, &format!("answered {:?}", e.to_string()))?;
            ask_once(stream, number, at, timeout)
        }
        answer => answer,
    }
}

/// Replaces `stream` with a new connection to the load balancer that gave up on it (it
/// `said` so), and says so on stderr.
fn ask_anew(stream: &mut TcpStream, at: &str, said: &str) -> Result<(), Error> {
    let again = match stream.peer_addr() {
        Ok(addr) => TcpStream::connect(addr),
        Err(_) => TcpStream::connect(at),
    };
    match again {
        Ok(again) => {
            common::armour::log::warn(&format!(
                "the load balancer at {at} stopped waiting while the prompt was open (it \
                 {said}); asking again on a new connection"
            ));
            *stream = again;
            Ok(())
        }
        Err(e) => Err(Error::new(format!(
            "the load balancer at {at} stopped waiting while the prompt was open (it {said}), \
             and cannot be reached again: {}",
            in_words(&e)
        ))),
    }
}

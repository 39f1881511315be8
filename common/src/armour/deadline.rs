//! One way to say "by then": the programs wait on sockets with a deadline for the whole wait
//! (a request that must arrive within a minute, an answer within the worker timeout, a gentle
//! close within two seconds), not a timeout per read, which a peer that trickles its bytes
//! would renew for ever. Python's sockets here have no timeouts at all.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::armour::stop_signal;
use crate::protocol::{is_timeout, read_request, send_answer};

/// A moment by which something must be done, or none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline: wait as long as it takes (client.py's way).
    pub const NEVER: Deadline = Deadline(None);

    /// `time` from now. A time too long for the clock to hold is no deadline.
    pub fn after(time: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(time))
    }

    /// At `moment`.
    pub fn at(moment: Instant) -> Deadline {
        Deadline(Some(moment))
    }

    /// Whichever of the two comes first.
    pub fn earlier(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (Some(a), None) | (None, Some(a)) => Deadline(Some(a)),
            (None, None) => Deadline::NEVER,
        }
    }

    /// True once the moment has come.
    pub fn has_passed(&self) -> bool {
        self.0.is_some_and(|at| at <= Instant::now())
    }

    /// The time left, as a socket timeout: `None` for no deadline, an error of kind
    /// `TimedOut` once it has passed (a zero socket timeout would mean "no timeout").
    pub fn timeout(&self) -> io::Result<Option<Duration>> {
        match self.0 {
            None => Ok(None),
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(io::ErrorKind::TimedOut.into()),
            },
        }
    }
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
            if stop_signal::requested() {
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
pub(crate) struct ByDeadline<'a> {
    pub(crate) stream: &'a mut TcpStream,
    pub(crate) deadline: Deadline,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// A deadline in the past times out; one in the future leaves at most its time; none never
    /// does.
    #[test]
    fn deadlines_time_out_once_passed() {
        let past = Deadline::after(Duration::ZERO);
        assert!(past.has_passed());
        assert_eq!(past.timeout().unwrap_err().kind(), io::ErrorKind::TimedOut);
        let soon = Deadline::after(Duration::from_secs(60));
        assert!(!soon.has_passed());
        assert!(soon.timeout().unwrap().unwrap() <= Duration::from_secs(60));
        assert_eq!(Deadline::NEVER.timeout().unwrap(), None);
        assert!(!Deadline::NEVER.has_passed());
        assert_eq!(soon.earlier(Deadline::NEVER), soon);
        assert_eq!(soon.earlier(past), past);
        assert_eq!(Deadline::after(Duration::MAX), Deadline::NEVER);
    }
}

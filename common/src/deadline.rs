//! One way to say "by then": the programs wait on sockets with a deadline for the whole wait
//! (a request that must arrive within a minute, an answer within the worker timeout, a gentle
//! close within two seconds), not a timeout per read, which a peer that trickles its bytes
//! would renew for ever. Python's sockets here have no timeouts at all.

use std::io;
use std::time::{Duration, Instant};

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

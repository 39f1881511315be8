//! The one error type the programs report: a sentence for the user, such as
//! `cannot reach the load balancer at 127.0.0.1:65432: connection refused`.
//!
//! Nothing branches on the kind of a failure once it is reported, so a message is all it needs
//! to carry (the Python lab prints the exception and carries on, or dies with a traceback).

use std::fmt;
use std::io;

/// A failure described for the user: what we were doing, and what went wrong.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(String);

/// Debug shows the message as it is, line breaks included: a test that returns
/// `Err(Error)` is reported with `{:?}`, and should read as plainly as the program's own
/// message.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error {
    /// An error with this exact message.
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Adds what we were doing to an I/O error: `.context(|| format!("cannot listen on {addr}"))`.
pub trait Context<T> {
    /// Turns the error into `"<what we were doing>: <plain reason>"`.
    fn context(self, doing: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, doing: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| Error(format!("{}: {}", doing(), in_words(&e))))
    }
}

/// An I/O error as a plain phrase: `connection refused` rather than
/// `Connection refused (os error 111)`, and `timed out` for a socket timeout (which the OS
/// reports as "resource temporarily unavailable"). The phrase is std's name for the kind of
/// error; an error we made ourselves (`io::Error::other("not a regular file")`) keeps its words.
pub fn in_words(error: &io::Error) -> String {
    if crate::protocol::is_timeout(error) {
        return "timed out".to_string();
    }
    if let Some(ours) = error.get_ref() {
        return ours.to_string();
    }
    // A few failures that std files under no kind of their own, in our words (Linux numbers).
    match error.raw_os_error() {
        Some(2) => "no such file or directory".to_string(),
        Some(23) => "the system has too many open files".to_string(),
        Some(24) => "too many open files (see ulimit -n)".to_string(),
        Some(28) => "no space left on the device".to_string(),
        _ => error.kind().to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// OS errors lose their number and capital letter; the context comes first.
    #[test]
    fn io_errors_read_plainly() {
        let refused = io::Error::from_raw_os_error(111);
        let result: io::Result<()> = Err(refused);
        let error = result.context(|| "cannot reach x".to_string()).unwrap_err();
        assert_eq!(error.to_string(), "cannot reach x: connection refused");
        let timeout = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(in_words(&timeout), "timed out");
        assert_eq!(
            in_words(&io::Error::from_raw_os_error(24)),
            "too many open files (see ulimit -n)"
        );
        assert_eq!(
            in_words(&io::Error::other("not a regular file")),
            "not a regular file"
        );
    }
}

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
/// error, the same on Linux and Windows; an error we made ourselves
/// (`io::Error::other("not a regular file")`) keeps its words.
pub fn in_words(error: &io::Error) -> String {
    if crate::protocol::is_timeout(error) {
        return "timed out".to_string();
    }
    if let Some(ours) = error.get_ref() {
        return ours.to_string();
    }
    if is_too_many_open_files(error) {
        return TOO_MANY_OPEN_FILES.to_string();
    }
    match error.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::StorageFull => "no space left on the device".to_string(),
        kind => kind.to_string(),
    }
}

/// What a process out of file descriptors is told, with how to raise its limit.
#[cfg(unix)]
const TOO_MANY_OPEN_FILES: &str = "too many open files (see ulimit -n)";
/// What a process out of file handles or sockets is told.
#[cfg(not(unix))]
const TOO_MANY_OPEN_FILES: &str = "too many open files";

/// Whether the process (or the system) has run out of files: std files this under no kind of
/// its own, so the OS's own numbers tell it, each OS's.
fn is_too_many_open_files(error: &io::Error) -> bool {
    // Linux's EMFILE and ENFILE.
    #[cfg(unix)]
    let numbers = [24, 23];
    // Windows' ERROR_TOO_MANY_OPEN_FILES, and WSAEMFILE for sockets.
    #[cfg(windows)]
    let numbers = [4, 10024];
    #[cfg(not(any(unix, windows)))]
    let numbers: [i32; 0] = [];
    error.raw_os_error().is_some_and(|n| numbers.contains(&n))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// I/O errors lose their number and capital letter; the context comes first; the
    /// sentence comes from the kind of error, so it reads the same on every OS.
    #[test]
    fn io_errors_read_plainly() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let result: io::Result<()> = Err(refused);
        let error = result.context(|| "cannot reach x".to_string()).unwrap_err();
        assert_eq!(error.to_string(), "cannot reach x: connection refused");
        let timeout = io::Error::from(io::ErrorKind::WouldBlock);
        assert_eq!(in_words(&timeout), "timed out");
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(in_words(&missing), "no such file or directory");
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert_eq!(in_words(&full), "no space left on the device");
        assert_eq!(
            in_words(&io::Error::other("not a regular file")),
            "not a regular file"
        );
    }

    /// The OS's own errors read as the same sentences on Linux and on Windows: a missing file,
    /// a full disk and a refused connection, each made by the OS itself.
    #[test]
    fn the_os_errors_read_the_same_everywhere() {
        let missing = std::fs::File::open("no such folder/no such file").unwrap_err();
        assert_eq!(in_words(&missing), "no such file or directory");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(in_words(&refused), "connection refused");
    }

    /// Out of files, in each OS's own numbers: Linux's EMFILE says how to raise the limit.
    #[test]
    fn too_many_open_files_is_told_by_this_os_number() {
        #[cfg(unix)]
        let (number, other_os) = (24, 4);
        #[cfg(windows)]
        let (number, other_os) = (4, 24);
        assert_eq!(
            in_words(&io::Error::from_raw_os_error(number)),
            TOO_MANY_OPEN_FILES
        );
        // The other OS's number means something else here.
        assert_ne!(
            in_words(&io::Error::from_raw_os_error(other_os)),
            TOO_MANY_OPEN_FILES
        );
    }
}

//! How a server closes a connection so that its last answer is not lost. Ours only: Python's
//! `close()` right after `sendall` can turn into a reset when the client sent bytes we never
//! read (a newline after its number), and a reset can destroy the answer on its way.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use crate::armour::deadline::{ByDeadline, Deadline};
use crate::protocol::BUSY;

/// How long a server keeps reading after an error answer, so that request bytes it never read
/// do not turn its close into a reset (a reset can destroy the answer before the client reads
/// it). A client reads our answer and closes at once, so this is only a ceiling.
pub const LINGER: Duration = Duration::from_secs(2);

/// The most a server reads while it lingers: far more than any request that was cut short
/// (ours are at most [`MAX_REQUEST_BYTES`], an HTTP request to the status page 8 KiB), and
/// little enough that a client streaming bytes after its answer cannot keep a thread reading
/// for the whole [`LINGER`]; its close may then be a reset, which costs only itself.
pub const LINGER_BYTES: u64 = 64 * 1024;

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

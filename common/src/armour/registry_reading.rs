//! The registry read with care, where load_balancer.py opens whatever the path names and reads
//! it whole: only a regular file of at most [`MAX_REGISTRY_BYTES`]; a missing file lists no
//! worker. The file may be shared by workers on several machines (a folder on NFS, a lab's
//! shared home directory), so a reader may meet a line while it is being written. A last line
//! without a newline is therefore read a second time after [`SETTLE`]: a hand-written file's
//! last line stays the same and is read as a worker; a line being written grows, and is left
//! for the next read instead of being taken as a shorter port. And one worker listed three ways
//! (`P`, `localhost:P`, `[::ffff:127.0.0.1]:P`) is one worker ([`distinct_workers`]).

use std::fs::{self, File};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::armour::registry_encoding::{text_of, unterminated_tail};
use crate::registry::{Registry, WorkerAddr, parse_registry};

/// The largest registry we read, in bytes. A registry that has collected 100,000 entries of
/// `HOST:PORT` over many sessions is about 1.6 MB, and still must work; 4 MiB leaves room for
/// that, reading it for a request takes a few milliseconds, and a bigger file (or /dev/zero
/// behind a symlink) is refused instead of filling memory.
pub const MAX_REGISTRY_BYTES: u64 = 4 * 1024 * 1024;

/// How long a reader waits before it reads a registry whose last line has no newline again.
/// A worker writes its line in one write, which a local file shows whole; a shared folder
/// (NFS) or a person typing `printf 70 >>` then `printf 00 >>` may show half a line for a
/// moment. 50 ms covers a write held up by the network; a hand-written file pays it once.
pub const SETTLE: Duration = Duration::from_millis(50);

/// How many times a last line without a newline is read again while it keeps changing. After
/// that it is left out of this read (the next read tries again); the complete lines count.
const SETTLE_READS: usize = 3;

/// Where a connection to `ip` really goes, so that two spellings of one address compare
/// equal: an IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4 address, and the
/// unspecified address (`0.0.0.0`, `0`, `::`), which Linux connects to as this machine, is
/// loopback.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => ip,
    }
}

/// The workers once each, compared by where they are reached, not by how they are written:
/// `P`, `localhost:P` and `[::ffff:127.0.0.1]:P` are one worker, listed where it first
/// appears. Each worker comes with the socket addresses its host resolves to (through
/// [`canonical_ip`]); a worker with none (a name not resolved) is compared as text only.
/// Returns the workers kept, and each worker left out with the one it is the same as.
pub fn distinct_workers(
    workers: Vec<(WorkerAddr, Vec<SocketAddr>)>,
) -> (Vec<WorkerAddr>, Vec<(WorkerAddr, WorkerAddr)>) {
    let mut reached: std::collections::HashMap<SocketAddr, usize> = Default::default();
    let mut kept: Vec<WorkerAddr> = Vec::with_capacity(workers.len());
    let mut same = Vec::new();
    for (worker, addrs) in workers {
        if let Some(&first) = addrs.iter().find_map(|addr| reached.get(addr)) {
            same.push((worker, kept[first].clone()));
            continue;
        }
        for addr in addrs {
            reached.insert(addr, kept.len());
        }
        kept.push(worker);
    }
    (kept, same)
}

/// Reads the registry. A missing file lists no worker (the Python handler thread crashes on
/// it and the client gets no answer at all). Anything but a regular file, and a file over
/// [`MAX_REGISTRY_BYTES`], is refused with an error that says why. A file caught while it is
/// written is read again (see [`read_registry_settled`]).
pub fn read_registry(path: &Path) -> io::Result<Registry> {
    read_registry_settled(path, &mut SettledTail::default(), thread::sleep)
}

/// The last line without a newline that a reader has already seen stay the same across a
/// pause, with the file's length then. A reader that reads the file for every request (the
/// load balancer) keeps one, so a hand-written file costs it one pause, not one per request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SettledTail {
    /// The file's length in bytes when its last line was found settled.
    length: usize,
    /// That last line, without a newline.
    tail: Vec<u8>,
}

/// How many times a read that finds no worker is read again. A registry rewritten in place
/// (truncated, then written) lists nobody for a moment, and a request that meets that moment
/// must not be told there are no workers while they are healthy (docs/reliability.md says how
/// often that happened).
pub const EMPTY_REREADS: u32 = 5;

/// The pause before each new read of a registry that listed no worker. A rewrite takes well
/// under a millisecond unless its writer is held up; 5 × 100 ms covers that widely, and a lab
/// with truly no workers is told so within half a second.
pub const EMPTY_PAUSE: Duration = Duration::from_millis(100);

/// [`read_registry`] for a reader that remembers `settled` between reads. The one rule for a
/// file caught while someone writes it: a last line without a newline is read again after
/// [`SETTLE`] and counts only if unchanged; a file that lists no worker is read again up to
/// [`EMPTY_REREADS`] times, [`EMPTY_PAUSE`] apart. `pause` waits between reads
/// (`thread::sleep`; a test passes one that changes the file meanwhile).
pub fn read_registry_settled(
    path: &Path,
    settled: &mut SettledTail,
    mut pause: impl FnMut(Duration),
) -> io::Result<Registry> {
    let mut rereads_left = EMPTY_REREADS;
    loop {
        let registry = read_settled_once(path, settled, &mut pause)?;
        if !registry.workers.is_empty() || rereads_left == 0 {
            return Ok(registry);
        }
        rereads_left -= 1;
        pause(EMPTY_PAUSE);
    }
}

/// One read, with its last line settled (see [`read_registry_settled`]).
fn read_settled_once(
    path: &Path,
    settled: &mut SettledTail,
    pause: &mut impl FnMut(Duration),
) -> io::Result<Registry> {
    let mut bytes = match read_limited(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Registry::default()),
        Err(e) => return Err(e),
    };
    for _ in 0..SETTLE_READS {
        let tail = unterminated_tail(&bytes);
        let already_settled = settled.length == bytes.len() && settled.tail == tail;
        if tail.is_empty() || already_settled {
            return Ok(parse_registry(&text_of(&bytes)));
        }
        pause(SETTLE);
        let again = match read_limited(path) {
            Ok(again) => again,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Registry::default()),
            Err(e) => return Err(e),
        };
        if again == bytes {
            // Unchanged across the pause: a hand-written last line, read as Python reads it.
            *settled = SettledTail {
                length: bytes.len(),
                tail: tail.to_vec(),
            };
            return Ok(parse_registry(&text_of(&bytes)));
        }
        bytes = again;
    }
    // Still being written: only the complete lines count this time.
    let complete = bytes.len() - unterminated_tail(&bytes).len();
    Ok(parse_registry(&text_of(&bytes[..complete])))
}

/// The file's bytes, if it is a regular file of at most [`MAX_REGISTRY_BYTES`].
fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO waits for a writer, maybe forever, and a device
    // such as /dev/zero never ends. The metadata follows symlinks, so a link to one is refused.
    let metadata = fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let too_big = || io::Error::other(format!("larger than {MAX_REGISTRY_BYTES} bytes"));
    if metadata.len() > MAX_REGISTRY_BYTES {
        return Err(too_big());
    }
    // Through take(), so a file that grows after the check still stops one byte past the limit.
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_REGISTRY_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REGISTRY_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

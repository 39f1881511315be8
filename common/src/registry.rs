//! The registry file, `worker_ports.txt`: each worker appends its address as it starts
//! (`register_worker`, worker_server.py lines 9–13) and the load balancer reads the whole file
//! on every request (`get_available_workers`, load_balancer.py lines 10–16).
//!
//! A line is `PORT` (host 127.0.0.1: the Python format, which Python workers write) or
//! `HOST:PORT`, where HOST is an IPv4 address, `[an IPv6 address]` or a host name. As in
//! Python, a last line without a newline counts. Where Python's `int(port.strip())` crashes the
//! handler on the first odd line, we ignore a byte-order mark at the start, skip blank lines,
//! `# comments`, garbage and ports out of range, and say why. How the file is read with care
//! (a bounded regular file, a line caught while it is written, a file begun in UTF-16 on
//! Windows, one worker written three ways) is in `armour/registry_reading.rs` and
//! `armour/registry_encoding.rs`.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::armour::registry_encoding::Encoding;

/// The registry's file name, in the current directory unless `--registry` says otherwise
/// (`REGISTRATION_FILE` in worker_server.py and load_balancer.py).
pub const DEFAULT_REGISTRY: &str = "worker_ports.txt";

/// The host a line with only a port means, as in load_balancer.py line 14.
const PORT_ONLY_HOST: &str = crate::DEFAULT_HOST;

/// How many lines that name no worker a read lists one by one; the rest are only counted.
/// Ten show what is wrong with a file; listing 100,000 garbage lines would cost memory on
/// every read, and the load balancer a log line each.
pub const MAX_LISTED_SKIPS: usize = 10;

/// Where a worker listens, as listed in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerAddr {
    /// An IPv4 or IPv6 address or a host name (IPv6 without brackets).
    pub host: String,
    /// The worker's TCP port.
    pub port: u16,
}

impl WorkerAddr {
    /// A worker on this machine, as a registry line of just its port names it.
    pub fn local(port: u16) -> WorkerAddr {
        WorkerAddr {
            host: PORT_ONLY_HOST.to_string(),
            port,
        }
    }

    /// The line a worker at this address appends: just the port for 127.0.0.1, so Python load
    /// balancers can read it too, and `HOST:PORT` otherwise.
    pub fn registry_line(&self) -> String {
        if self.host == PORT_ONLY_HOST {
            format!("{}", self.port)
        } else {
            self.host_port()
        }
    }

    /// `HOST:PORT`, an IPv6 address in brackets: as a registry line, a browser's address bar,
    /// HAProxy and nginx write it.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Prints as Python prints the `(host, port)` tuple in load_balancer.py line 53.
impl fmt::Display for WorkerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "('{}', {})", self.host, self.port)
    }
}

/// A registry line that names no worker, kept so the load balancer can say why it skipped it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SkippedLine {
    /// The line's number, counting from 1, as an editor shows it.
    pub number: usize,
    /// The line as it stands in the file.
    pub text: String,
    /// Why it names no worker.
    pub reason: &'static str,
}

/// What the registry file lists.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Registry {
    /// Every worker, once each, in the order the file first lists them.
    pub workers: Vec<WorkerAddr>,
    /// The first [`MAX_LISTED_SKIPS`] lines that name no worker (blank lines and comments
    /// are not counted).
    pub skipped: Vec<SkippedLine>,
    /// How many more lines name no worker, beyond those in `skipped`, so a log can say so in
    /// one line.
    pub more_skipped: usize,
}

/// Appends one worker's line in a single write, so that lines from workers starting at the
/// same moment do not interleave. Creates the file if it is missing (worker_server.py lines
/// 59–61). A file whose last line has no newline (written by hand with `printf 5001 >`) gets
/// one first, in the same write, so the two lines do not run together as `50017000`. The line
/// is written in the file's own encoding: a registry begun on Windows with PowerShell 5.1's
/// `echo 5000 > worker_ports.txt` is UTF-16 with a byte-order mark, and a UTF-8 line appended
/// to it would read as nonsense (`㌊㌶㔰`).
pub fn register(path: &Path, worker: &WorkerAddr) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let (encoding, ends_with_newline) = look_at(&mut file)?;
    let mut line = worker.registry_line();
    if !ends_with_newline {
        line.insert(0, '\n');
    }
    // One write() of a few bytes to a local file, which O_APPEND places whole at the end,
    // however many workers append at once; in the registry's own encoding (UTF-16 when
    // PowerShell began it).
    append_whole_or_not_at_all(&mut file, &encoding.encode_line(&line))
}

/// Appends `bytes`, or takes back what part of them went in: on a full disk (or past a file
/// size limit) a write may take the first bytes of a line and fail on the rest, and a line
/// cut to `464` would be read as a worker on port 464. What went in is taken back only while
/// it is still the file's end, so another worker's line appended meanwhile is never cut.
fn append_whole_or_not_at_all(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => {
                return Err(take_back(
                    file,
                    &bytes[..written],
                    io::ErrorKind::WriteZero.into(),
                ));
            }
            Ok(more) => written += more,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(take_back(file, &bytes[..written], e)),
        }
    }
    Ok(())
}

/// Cuts `part` off the end of `file` if the file still ends with it, and returns `error`, the
/// reason the write failed.
fn take_back(file: &mut File, part: &[u8], error: io::Error) -> io::Error {
    use std::io::{Seek, SeekFrom};
    let Ok(length) = file.metadata().map(|m| m.len()) else {
        return error;
    };
    let start = length.saturating_sub(part.len() as u64);
    if part.is_empty() || length < part.len() as u64 || file.seek(SeekFrom::Start(start)).is_err() {
        return error;
    }
    let mut end = vec![0u8; part.len()];
    if file.read_exact(&mut end).is_ok() && end == part {
        let _ = file.set_len(start);
    }
    error
}

/// The file's encoding, and whether it is empty (but for its byte-order mark) or its last
/// line ends with a newline.
fn look_at(file: &mut File) -> io::Result<(Encoding, bool)> {
    use std::io::{Seek, SeekFrom};
    let length = file.metadata()?.len();
    let mut first = [0u8; 2];
    let read = file.read(&mut first)?;
    let (encoding, after_mark) = Encoding::split(&first[..read]);
    let body = length.saturating_sub((read - after_mark.len()) as u64);
    if body == 0 {
        return Ok((encoding, true));
    }
    // Two bytes: a UTF-16 line end is one unit; one byte when that is all there is.
    let mut last = vec![0u8; body.min(2) as usize];
    file.seek(SeekFrom::End(-(last.len() as i64)))?;
    file.read_exact(&mut last)?;
    Ok((encoding, encoding.ends_a_line(&last)))
}

/// Empties the registry, for starting a lab afresh when the file still lists workers of an
/// earlier run (`worker --fresh-registry`).
pub fn clear(path: &Path) -> io::Result<()> {
    // Not through a symlink or into a device: emptying must not wipe some other file.
    match fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.is_file() => Err(io::Error::other(
            "not a regular file (a link, a folder or a device), so it is not emptied",
        )),
        _ => fs::write(path, ""),
    }
}

/// Parses the registry's text; see the module comment for the format.
pub fn parse_registry(text: &str) -> Registry {
    let mut registry = Registry::default();
    let mut seen = HashSet::new();
    // A byte-order mark, which some Windows editors write first, is no part of the first line
    // (Python keeps it, and its int() raises on that line).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // As Python's readlines(), the text after the last newline is a line too.
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(worker) => {
                if seen.insert(worker.clone()) {
                    registry.workers.push(worker);
                }
            }
            // Beyond the first few, a skipped line is only counted: the file may hold 100,000.
            Err(_) if registry.skipped.len() == MAX_LISTED_SKIPS => registry.more_skipped += 1,
            Err(reason) => registry.skipped.push(SkippedLine {
                number: index + 1,
                text: raw.trim_end_matches('\r').to_string(),
                reason,
            }),
        }
    }
    registry
}

/// One line: `PORT`, `IPV4:PORT`, `[IPV6]:PORT` or `NAME:PORT`.
fn parse_line(line: &str) -> Result<WorkerAddr, &'static str> {
    let (host, port) = match line.rsplit_once(':') {
        None => (PORT_ONLY_HOST, line),
        Some((host, port)) => (host, port),
    };
    let port = parse_port(port)?;
    let host = if let Some(inside) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inside
            .parse::<Ipv6Addr>()
            .map_err(|_| "not an IPv6 address in [ ]")?;
        inside
    } else if host.parse::<Ipv4Addr>().is_ok() || is_host_name(host) {
        host
    } else {
        return Err("not a port, HOST:PORT or [IPV6]:PORT");
    };
    Ok(WorkerAddr {
        host: host.to_string(),
        port,
    })
}

/// A TCP port a worker can listen on: 1 to 65535.
fn parse_port(text: &str) -> Result<u16, &'static str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a port, HOST:PORT or [IPV6]:PORT");
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err("port out of range (1 to 65535)"),
        Ok(port) => Ok(port),
    }
}

/// A DNS host name such as `localhost` or `worker-2.lab`: letters, digits, `-` and `.`.
fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;
    use crate::armour::registry_encoding::text_of;
    use crate::armour::registry_reading::*;
    use std::net::{IpAddr, SocketAddr};

    fn worker(host: &str, port: u16) -> WorkerAddr {
        WorkerAddr {
            host: host.into(),
            port,
        }
    }

    /// One worker in three spellings is listed once, under its first; a worker at another
    /// port, or one whose host is unknown, stays.
    #[test]
    fn one_worker_spelled_three_ways_is_one() {
        let resolve = |w: &WorkerAddr| -> Vec<SocketAddr> {
            let ips: Vec<IpAddr> = match w.host.as_str() {
                "localhost" => vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
                "unknown" => vec![],
                host => vec![host.parse().unwrap()],
            };
            ips.into_iter()
                .map(|ip| SocketAddr::new(canonical_ip(ip), w.port))
                .collect()
        };
        let listed = parse_registry(
            "7000\nlocalhost:7000\n[::ffff:127.0.0.1]:7000\n0.0.0.0:7000\n7001\n\
             unknown:7000\n",
        );
        let listed = listed.workers.into_iter().map(|w| (resolve(&w), w));
        let (kept, same) = distinct_workers(listed.map(|(a, w)| (w, a)).collect());
        assert_eq!(
            kept,
            [
                worker("127.0.0.1", 7000),
                worker("127.0.0.1", 7001),
                worker("unknown", 7000)
            ]
        );
        let dropped: Vec<String> = same.iter().map(|(w, _)| w.host_port()).collect();
        assert_eq!(
            dropped,
            ["localhost:7000", "[::ffff:127.0.0.1]:7000", "0.0.0.0:7000"]
        );
        assert!(
            same.iter()
                .all(|(_, first)| *first == worker("127.0.0.1", 7000))
        );
    }

    /// IPv6 addresses are bracketed, as in a URL; 127.0.0.1 is a port alone only in the
    /// registry.
    #[test]
    fn host_port_as_a_browser_takes_it() {
        assert_eq!(worker("127.0.0.1", 7000).host_port(), "127.0.0.1:7000");
        assert_eq!(worker("127.0.0.1", 7000).registry_line(), "7000");
        assert_eq!(worker("::1", 7000).host_port(), "[::1]:7000");
        assert_eq!(worker("localhost", 7000).host_port(), "localhost:7000");
    }

    /// The Python format: one port per line, host 127.0.0.1.
    #[test]
    fn reads_the_python_format() {
        let registry = parse_registry("5001\n5002\n");
        assert_eq!(
            registry.workers,
            [worker("127.0.0.1", 5001), worker("127.0.0.1", 5002)]
        );
        assert!(registry.skipped.is_empty());
    }

    /// HOST:PORT lines with IPv4, bracketed IPv6 and host names.
    #[test]
    fn reads_host_and_port() {
        let registry = parse_registry("10.0.0.2:7000\n[::1]:7001\nlocalhost:7002\n");
        assert_eq!(
            registry.workers,
            [
                worker("10.0.0.2", 7000),
                worker("::1", 7001),
                worker("localhost", 7002)
            ]
        );
    }

    /// Blanks and comments are passed over quietly; garbage and bad ports are skipped with a
    /// reason; duplicates count once; CRLF line ends are fine; a last line without a newline
    /// is read, as Python reads it.
    #[test]
    fn skips_what_names_no_worker() {
        let text = "# lab\n\n5001\r\nabc\n70000\n0\n5001\n::1:80\n[nope]:80\n:80\n5002\n5003";
        let registry = parse_registry(text);
        assert_eq!(
            registry.workers,
            [
                worker("127.0.0.1", 5001),
                worker("127.0.0.1", 5002),
                worker("127.0.0.1", 5003)
            ]
        );
        let skipped: Vec<(usize, &str)> = registry
            .skipped
            .iter()
            .map(|s| (s.number, s.text.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (4, "abc"),
                (5, "70000"),
                (6, "0"),
                (8, "::1:80"),
                (9, "[nope]:80"),
                (10, ":80")
            ]
        );
        assert_eq!(registry.skipped[1].reason, "port out of range (1 to 65535)");
        assert_eq!(registry.more_skipped, 0);
    }

    /// A byte-order mark before the first line is not part of it.
    #[test]
    fn ignores_a_byte_order_mark() {
        let registry = parse_registry("\u{feff}5001\n5002\n");
        assert_eq!(
            registry.workers,
            [worker("127.0.0.1", 5001), worker("127.0.0.1", 5002)]
        );
        assert!(registry.skipped.is_empty());
    }

    /// A registry saved by Notepad as "Unicode" (UTF-16 with a byte-order mark, little- or
    /// big-endian) and with Windows line ends is read as the ports it shows.
    #[test]
    fn reads_a_registry_saved_as_utf16() {
        let text = "5001\r\n5002\r\n";
        let little: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let big: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        for bytes in [little, big] {
            let registry = parse_registry(&text_of(&bytes));
            assert_eq!(
                registry.workers,
                [worker("127.0.0.1", 5001), worker("127.0.0.1", 5002)]
            );
            assert!(registry.skipped.is_empty(), "{registry:?}");
        }
    }

    /// 100,000 garbage lines: the first few are listed, the rest only counted.
    #[test]
    fn lists_only_the_first_skipped_lines() {
        let text = "abc\n".repeat(100_000) + "5001\n";
        let registry = parse_registry(&text);
        assert_eq!(registry.workers, [worker("127.0.0.1", 5001)]);
        assert_eq!(registry.skipped.len(), MAX_LISTED_SKIPS);
        assert_eq!(registry.skipped[9].number, 10);
        assert_eq!(registry.more_skipped, 100_000 - MAX_LISTED_SKIPS);
    }

    /// A worker's own line reads back as the same address.
    #[test]
    fn registry_lines_round_trip() {
        for w in [
            worker("127.0.0.1", 5001),
            worker("::1", 5002),
            worker("localhost", 5003),
        ] {
            let text = format!("{}\n", w.registry_line());
            assert_eq!(parse_registry(&text).workers, [w]);
        }
        assert_eq!(worker("127.0.0.1", 5001).registry_line(), "5001");
    }

    /// Registering appends, creating the file; a missing file lists nobody; clear empties it.
    #[test]
    fn register_appends_and_clear_empties() {
        let dir = std::env::temp_dir().join(format!("registry-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(DEFAULT_REGISTRY);
        let _ = fs::remove_file(&path);
        assert_eq!(read_registry(&path).unwrap(), Registry::default());
        register(&path, &worker("127.0.0.1", 5001)).unwrap();
        register(&path, &worker("::1", 5002)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "5001\n[::1]:5002\n");
        clear(&path).unwrap();
        assert!(read_registry(&path).unwrap().workers.is_empty());
        // A registry that is a link to another file is not emptied through the link.
        let precious = dir.join("precious.txt");
        fs::write(&precious, "keep me\n").unwrap();
        // Windows makes symbolic links only for administrators (or in developer mode).
        #[cfg(unix)]
        {
            let link = dir.join("link.txt");
            std::os::unix::fs::symlink(&precious, &link).unwrap();
            assert!(clear(&link).is_err());
        }
        assert_eq!(fs::read_to_string(&precious).unwrap(), "keep me\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// `text` in UTF-16, little-endian, after its byte-order mark: what PowerShell 5.1's
    /// `echo 5000 > worker_ports.txt` writes (with `\r\n` in `text`), or big-endian.
    fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
        let unit = if little_endian {
            u16::to_le_bytes
        } else {
            u16::to_be_bytes
        };
        std::iter::once(0xFEFF)
            .chain(text.encode_utf16())
            .flat_map(unit)
            .collect()
    }

    /// Workers registering in a registry that PowerShell began in UTF-16 append their lines
    /// in UTF-16 too, with its line ends, and every line reads back; a line PowerShell left
    /// without a line end (`Set-Content -NoNewline`) gets one first, and big-endian works alike.
    #[test]
    fn register_keeps_a_utf16_registry_in_utf16() {
        for little_endian in [true, false] {
            let path = scratch_file(&format!("utf16-{little_endian}"), "");
            fs::write(&path, utf16("5000\r\n", little_endian)).unwrap();
            register(&path, &worker("127.0.0.1", 5001)).unwrap();
            register(&path, &worker("::1", 5002)).unwrap();
            let expected = utf16("5000\r\n5001\r\n[::1]:5002\r\n", little_endian);
            assert_eq!(fs::read(&path).unwrap(), expected);
            let read = read_registry(&path).unwrap();
            let ports: Vec<u16> = read.workers.iter().map(|w| w.port).collect();
            assert_eq!((ports, read.skipped), (vec![5000, 5001, 5002], vec![]));

            fs::write(&path, utf16("5000", little_endian)).unwrap();
            register(&path, &worker("127.0.0.1", 5001)).unwrap();
            assert_eq!(
                fs::read(&path).unwrap(),
                utf16("5000\r\n5001\r\n", little_endian)
            );
        }
    }

    /// A registry PowerShell began in UTF-16, then the Python lab's worker's ASCII line on
    /// Windows (`5001\r\n`, leaving the end at an odd byte offset): a worker registering
    /// next appends in UTF-16 right after it, with no blank line first, and all three lines
    /// read back, in both byte orders.
    #[test]
    fn register_after_an_ascii_line_in_a_utf16_registry() {
        for little_endian in [true, false] {
            let path = scratch_file(&format!("mixed-{little_endian}"), "");
            let mut bytes = utf16("5000\r\n", little_endian);
            bytes.extend(b"5001\r\n");
            fs::write(&path, &bytes).unwrap();
            register(&path, &worker("127.0.0.1", 5002)).unwrap();
            bytes.extend(&utf16("5002\r\n", little_endian)[2..]);
            assert_eq!(fs::read(&path).unwrap(), bytes);
            let read = read_registry(&path).unwrap();
            let ports: Vec<u16> = read.workers.iter().map(|w| w.port).collect();
            assert_eq!((ports, read.skipped), (vec![5000, 5001, 5002], vec![]));
            fs::remove_dir_all(path.parent().unwrap()).unwrap();
        }
    }

    /// A UTF-16 registry whose lines all end is read at once, without the pause for a last
    /// line still being written: its newline is the two bytes `0A 00`, not the byte `0A`.
    #[test]
    fn a_complete_utf16_registry_is_not_waited_on() {
        let path = scratch_file("utf16-complete", "");
        fs::write(&path, utf16("5000\r\n5001\r\n", true)).unwrap();
        let mut settled = SettledTail::default();
        let read = read_registry_settled(&path, &mut settled, |_| panic!("paused")).unwrap();
        assert_eq!(read.workers.len(), 2);
    }

    /// A scratch file holding `text`, in a folder of its own named after `name`.
    fn scratch_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("registry-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(DEFAULT_REGISTRY);
        fs::write(&path, text).unwrap();
        path
    }

    /// Appends `text` to the file at `path`, as a second writer would.
    fn append(path: &Path, text: &str) {
        let mut file = OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    /// A worker registering in a hand-written file whose last line has no newline starts a
    /// line of its own instead of running on from it.
    #[test]
    fn register_after_a_last_line_without_newline() {
        let path = scratch_file("no-newline", "5001");
        register(&path, &worker("10.77.0.2", 7000)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "5001\n10.77.0.2:7000\n");
        let read = read_registry(&path).unwrap();
        assert_eq!(
            read.workers,
            [worker("127.0.0.1", 5001), worker("10.77.0.2", 7000)]
        );
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// Half a line being written (`70` of `7000`) is not read as port 70: the reader reads
    /// again after its pause, during which the writer finishes the line.
    #[test]
    fn a_half_written_line_is_not_misread() {
        let path = scratch_file("half-line", "5001\n");
        append(&path, "70");
        let mut settled = SettledTail::default();
        let read = read_registry_settled(&path, &mut settled, |_| append(&path, "00\n")).unwrap();
        assert_eq!(
            read.workers,
            [worker("127.0.0.1", 5001), worker("127.0.0.1", 7000)]
        );
        // A line that grows at every pause is left out; the complete lines still count.
        append(&path, "80");
        let read = read_registry_settled(&path, &mut settled, |_| append(&path, "0")).unwrap();
        assert_eq!(
            read.workers,
            [worker("127.0.0.1", 5001), worker("127.0.0.1", 7000)]
        );
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// A last line without a newline that stays the same (a hand-written file) is read as a
    /// worker, and once found settled it is read without pausing again.
    #[test]
    fn a_settled_last_line_is_read_and_remembered() {
        let path = scratch_file("settled", "5001\n5002");
        let mut settled = SettledTail::default();
        let mut pauses = 0;
        for _ in 0..3 {
            let read = read_registry_settled(&path, &mut settled, |_| pauses += 1).unwrap();
            assert_eq!(
                read.workers,
                [worker("127.0.0.1", 5001), worker("127.0.0.1", 5002)]
            );
        }
        assert_eq!(pauses, 1);
        fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// A folder, a device and a file over the limit are refused, each with its reason.
    #[test]
    fn reads_only_a_regular_file_of_bounded_size() {
        let dir = std::env::temp_dir().join(format!("registry-limits-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let refusal = |path: &Path| read_registry(path).unwrap_err().to_string();
        assert_eq!(refusal(&dir), "not a regular file");
        // A device that never ends (Windows has no such file to name).
        #[cfg(unix)]
        assert_eq!(refusal(Path::new("/dev/zero")), "not a regular file");
        let big = dir.join("big.txt");
        fs::write(&big, "5001\n".repeat(1_000_000)).unwrap();
        assert_eq!(
            refusal(&big),
            format!("larger than {MAX_REGISTRY_BYTES} bytes")
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

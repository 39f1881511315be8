//! The registry file, `worker_ports.txt`: each worker appends its address as it starts
//! (`register_worker`, worker_server.py lines 9–13) and the load balancer reads the whole file
//! on every request (`get_available_workers`, load_balancer.py lines 10–16).
//!
//! A line is `PORT` (host 127.0.0.1: the Python format, which Python workers write) or
//! `HOST:PORT`, where HOST is an IPv4 address, `[an IPv6 address]` or a host name. Where
//! Python's `int(port.strip())` crashes the handler on the first odd line, we skip blank lines,
//! `# comments`, garbage, ports out of range and a last line still being written, and say why.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// The registry's file name, in the current directory unless `--registry` says otherwise
/// (`REGISTRATION_FILE` in worker_server.py and load_balancer.py).
pub const DEFAULT_REGISTRY: &str = "worker_ports.txt";

/// The host a line with only a port means, as in load_balancer.py line 14.
const PORT_ONLY_HOST: &str = "127.0.0.1";

/// Where a worker listens, as listed in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerAddr {
    /// An IPv4 or IPv6 address or a host name (IPv6 without brackets).
    pub host: String,
    /// The worker's TCP port.
    pub port: u16,
}

impl WorkerAddr {
    /// The line a worker at this address appends: just the port for 127.0.0.1, so Python load
    /// balancers can read it too, and `HOST:PORT` otherwise.
    pub fn registry_line(&self) -> String {
        if self.host == PORT_ONLY_HOST {
            format!("{}", self.port)
        } else if self.host.contains(':') {
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
    /// Lines that name no worker (blank lines and comments are not counted).
    pub skipped: Vec<SkippedLine>,
}

/// Appends one worker's line in a single write, so that lines from workers starting at the
/// same moment do not interleave. Creates the file if it is missing (worker_server.py lines
/// 59–61).
pub fn register(path: &Path, worker: &WorkerAddr) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("{}\n", worker.registry_line()).as_bytes())
}

/// Empties the registry, for starting a lab afresh when the file still lists workers of an
/// earlier run (`worker --fresh-registry`).
pub fn clear(path: &Path) -> io::Result<()> {
    fs::write(path, "")
}

/// Reads the registry. A missing file lists no worker (the Python handler thread crashes on
/// it and the client gets no answer at all).
pub fn read_registry(path: &Path) -> io::Result<Registry> {
    match fs::read(path) {
        Ok(bytes) => Ok(parse_registry(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Registry::default()),
        Err(e) => Err(e),
    }
}

/// Parses the registry's text; see the module comment for the format.
pub fn parse_registry(text: &str) -> Registry {
    let mut registry = Registry::default();
    let mut seen = HashSet::new();
    let lines: Vec<&str> = text.split('\n').collect();
    for (index, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The text after the last newline is a line some worker is still writing.
        let parsed = if index + 1 == lines.len() {
            Err("no newline at its end yet (a worker may be writing it)")
        } else {
            parse_line(line)
        };
        match parsed {
            Ok(worker) => {
                if seen.insert(worker.clone()) {
                    registry.workers.push(worker);
                }
            }
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

    fn worker(host: &str, port: u16) -> WorkerAddr {
        WorkerAddr {
            host: host.into(),
            port,
        }
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

    /// Blanks and comments are passed over quietly; garbage, bad ports and a half-written last
    /// line are skipped with a reason; duplicates count once; CRLF line ends are fine.
    #[test]
    fn skips_what_names_no_worker() {
        let text = "# lab\n\n5001\r\nabc\n70000\n0\n5001\n::1:80\n[nope]:80\n:80\n5002\n500";
        let registry = parse_registry(text);
        assert_eq!(
            registry.workers,
            [worker("127.0.0.1", 5001), worker("127.0.0.1", 5002)]
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
                (10, ":80"),
                (12, "500")
            ]
        );
        assert_eq!(registry.skipped[1].reason, "port out of range (1 to 65535)");
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
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! The status page's own HTTP/1.1 server, std only: `GET /` (the page) and `GET /status.json`
//! (its data), and `HEAD` of both, one request per connection, then the connection closes. A
//! request whose `Host` names another server is refused (`421`): a web page a student opens
//! could otherwise read this page by pointing a name of its own at 127.0.0.1 (DNS rebinding).
//!
//! Whatever an HTTP client does, it costs the page and nothing else: the server has its own
//! threads, its own small cap on connections ([`MAX_CONNECTIONS`]; a connection over it is
//! closed at once, unread) and its own deadlines (the whole request within [`REQUEST_TIME`],
//! at most [`MAX_HEAD_BYTES`] of it), and it writes no line of its own to the load
//! balancer's log, so a flood cannot fill a terminal. The view it serves is taken at most
//! every [`FRESH_FOR`], so a client asking in a loop cannot make the load balancer read its
//! registry in a loop.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::deadline::Deadline;
use common::armour::error::{Error, in_words};
use common::armour::lock;

use crate::extras::status::address::StatusAddress;
use crate::extras::status::board::Board;
use crate::extras::status::page;
use crate::extras::status::snapshot::Snapshot;
use crate::extras::status::watch::Watch;
use crate::shared::LoadBalancer;

/// How many connections the page serves at once; more are closed at once. A projector, a few
/// students' browsers and `curl` need a handful; every place costs a thread.
pub const MAX_CONNECTIONS: usize = 16;

/// How long a client may take to send its whole request: a browser sends it at once, in a
/// millisecond even across a room's Wi-Fi; a slow or silent client then gets `408 Request
/// Timeout` and its place is free.
pub const REQUEST_TIME: Duration = Duration::from_secs(2);

/// The most a request (its line and headers) may be: a browser's is under a kilobyte.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// How long writing an answer may take: the page is about 20 kB, and a client that does not
/// read gives up its place.
const WRITE_TIME: Duration = Duration::from_secs(2);

/// How long one view of the load balancer is served before a new one is taken: the page
/// fetches one a second, so it always gets a fresh one.
pub const FRESH_FOR: Duration = Duration::from_millis(100);

/// How long the accept loop waits after a failed accept (the process out of file
/// descriptors): it must not spin, and it says nothing, as the load balancer's own loop says
/// what matters.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Binds the page's address; a failure says which flag to change.
pub fn bind(at: &StatusAddress) -> Result<TcpListener, Error> {
    TcpListener::bind((at.host.as_str(), at.port)).map_err(|e| {
        Error::new(format!(
            "cannot serve the status page on {at}: {}; choose another --status",
            in_words(&e)
        ))
    })
}

/// Serves the page for `lb` on `listener`, on a thread of its own.
pub fn start(listener: TcpListener, lb: Arc<LoadBalancer>, watch: Arc<Watch>) -> Result<(), Error> {
    let server = Arc::new(Server {
        lb,
        watch,
        open: AtomicUsize::new(0),
        latest: Mutex::new(None),
    });
    thread::Builder::new()
        .name("status page".to_string())
        .spawn(move || server.accept(&listener))
        .map(|_| ())
        .map_err(|e| Error::new(format!("cannot start the status page's thread: {e}")))
}

/// The page's server: the load balancer it shows, its open connections, its latest view.
struct Server {
    lb: Arc<LoadBalancer>,
    /// Where each read of the page is noted, so its workers are checked while it is watched.
    watch: Arc<Watch>,
    /// Connections being served now.
    open: AtomicUsize,
    /// The latest view, drawn: when taken, the page and the JSON.
    latest: Mutex<Option<(Instant, Arc<Drawn>)>>,
}

/// One view of the load balancer, drawn both ways.
struct Drawn {
    page: String,
    json: String,
}

/// A place under [`MAX_CONNECTIONS`], freed when dropped.
struct Place<'a>(&'a AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Server {
    /// Accepts connections for ever; each under the cap gets a thread, the rest are closed.
    fn accept(self: Arc<Server>, listener: &TcpListener) {
        for stream in listener.incoming() {
            let Ok(stream) = stream else {
                thread::sleep(ACCEPT_PAUSE);
                continue;
            };
            if self.open.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
                self.open.fetch_sub(1, Ordering::Relaxed);
                drop(stream); // over the cap: closed at once, unread, unanswered
                continue;
            }
            let server = Arc::clone(&self);
            let spawned = thread::Builder::new().spawn(move || {
                let _place = Place(&server.open);
                server.serve(stream);
            });
            if spawned.is_err() {
                // The closure, and with it the connection, is gone; its place is freed here.
                self.open.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Reads one request, answers it and closes the connection.
    fn serve(&self, mut stream: TcpStream) {
        let answer = match read_head(&mut stream, Deadline::after(REQUEST_TIME)) {
            Ok(head) => self.answer(&head),
            Err(Problem::Gone) => return,
            Err(problem) => plain_answer(problem.status()),
        };
        let sent = stream
            .set_write_timeout(Some(WRITE_TIME))
            .and_then(|()| stream.write_all(&answer));
        if sent.is_ok() {
            // Unread bytes (a request over the limit) must not turn the close into a reset.
            let _ = common::armour::closing::close_gently(&mut stream);
        }
    }

    /// The answer to a request: the page, its data, or why not.
    fn answer(&self, head: &[u8]) -> Vec<u8> {
        let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_whitespace();
        let (Some(method), Some(target), Some(version)) =
            (words.next(), words.next(), words.next())
        else {
            return plain_answer(Status::BadRequest);
        };
        if !version.starts_with("HTTP/1.") || words.next().is_some() {
            return plain_answer(Status::BadRequest);
        }
        let path = target.split('?').next().unwrap_or_default();
        let json = match path {
            "/" => false,
            "/status.json" => true,
            _ => return plain_answer(Status::NotFound),
        };
        if method != "GET" && method != "HEAD" {
            return plain_answer(Status::MethodNotAllowed);
        }
        let Some(board) = &self.lb.board else {
            return plain_answer(Status::NotFound); // cannot be: the server runs with a board
        };
        match host_header(head) {
            Err(()) => return plain_answer(Status::BadRequest),
            Ok(Some(host)) if !is_served_name(host, &board.page.host) => {
                return plain_answer(Status::Misdirected);
            }
            Ok(_) => {}
        }
        self.watch.read_now();
        let drawn = self.drawn(board);
        let mut answer = if json {
            ok("application/json", &drawn.json)
        } else {
            ok("text/html; charset=utf-8", &drawn.page)
        };
        if method == "HEAD" {
            // The same head, without the body (RFC 9110, 9.3.2).
            let head_ends = head_end(&answer).unwrap_or(answer.len());
            answer.truncate(head_ends);
        }
        answer
    }

    /// The latest view, taken afresh when it is older than [`FRESH_FOR`].
    fn drawn(&self, board: &Board) -> Arc<Drawn> {
        let mut latest = lock(&self.latest);
        if let Some((taken, drawn)) = latest.as_ref() {
            if taken.elapsed() < FRESH_FOR {
                return Arc::clone(drawn);
            }
        }
        let snapshot = Snapshot::take(&self.lb, board);
        let drawn = Arc::new(Drawn {
            page: page::render(&snapshot),
            json: snapshot.to_json(),
        });
        *latest = Some((Instant::now(), Arc::clone(&drawn)));
        drawn
    }
}

/// The request's `Host` header, without its port: `Ok(None)` when there is none (HTTP/1.0,
/// or typed by hand), `Err` when there are two.
fn host_header(head: &[u8]) -> Result<Option<&str>, ()> {
    let text = std::str::from_utf8(head).map_err(|_| ())?;
    let mut hosts = text.lines().skip(1).filter_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("host")
            .then_some(value.trim())
    });
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(());
    }
    Ok(host.map(|host| match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    }))
}

/// True for a `Host` that names this page's server: an IP address (a browser sends the address
/// it was given; a name of an attacker's pointed at 127.0.0.1 is not one), `localhost`, or the
/// host given to `--status`. Any other name is someone else's.
fn is_served_name(host: &str, status_host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    host.parse::<std::net::IpAddr>().is_ok()
        || host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case(status_host)
}

/// What went wrong while reading a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// The client closed, or the connection failed: nobody to answer.
    Gone,
    /// The whole request did not arrive within [`REQUEST_TIME`].
    TooSlow,
    /// The request line alone is longer than [`MAX_HEAD_BYTES`].
    LineTooLong,
    /// The request line and headers are.
    HeadersTooLong,
}

impl Problem {
    /// The answer's status.
    fn status(self) -> Status {
        match self {
            Problem::Gone | Problem::TooSlow => Status::RequestTimeout,
            Problem::LineTooLong => Status::UriTooLong,
            Problem::HeadersTooLong => Status::HeadersTooLarge,
        }
    }
}

/// Reads the request line and headers, up to the blank line that ends them, by `deadline`.
fn read_head(stream: &mut TcpStream, deadline: Deadline) -> Result<Vec<u8>, Problem> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        let timeout = deadline.timeout().map_err(|_| Problem::TooSlow)?;
        stream
            .set_read_timeout(timeout)
            .map_err(|_| Problem::Gone)?;
        let read = match stream.read(&mut chunk) {
            Ok(0) => return Err(Problem::Gone),
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if common::protocol::is_timeout(&e) => return Err(Problem::TooSlow),
            Err(_) => return Err(Problem::Gone),
        };
        head.extend_from_slice(&chunk[..read]);
        let end = head_end(&head);
        // Measured to the head's end, so that a head over the limit that came in one read is
        // refused as one that came in many is.
        if end.unwrap_or(head.len()) > MAX_HEAD_BYTES {
            let line_ends = head.iter().position(|&b| b == b'\n');
            return Err(match line_ends {
                Some(at) if at <= MAX_HEAD_BYTES => Problem::HeadersTooLong,
                _ => Problem::LineTooLong,
            });
        }
        if end.is_some() {
            return Ok(head);
        }
    }
}

/// Where the request's head ends, once `head` holds the blank line after its headers
/// (`\r\n\r\n`, or `\n\n` from a client typed by hand).
fn head_end(head: &[u8]) -> Option<usize> {
    let crlf = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4);
    let lf = head.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    crlf.into_iter().chain(lf).min()
}

/// The answers the server gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    /// A `Host` that names another server: a web page's name pointed at this one.
    Misdirected,
    RequestTimeout,
    UriTooLong,
    HeadersTooLarge,
}

impl Status {
    /// The status line's code and words.
    fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::Misdirected => "421 Misdirected Request",
            Status::RequestTimeout => "408 Request Timeout",
            Status::UriTooLong => "414 URI Too Long",
            Status::HeadersTooLarge => "431 Request Header Fields Too Large",
        }
    }
}

/// What the page allows the browser to load: its own inline style and script, and its data
/// from here; nothing from anywhere else (a lab room may have no internet, and a page that
/// shows what others sent must not run what they sent).
const CONTENT_SECURITY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
                                style-src 'unsafe-inline'; connect-src 'self'";

/// A `200 OK` with `body`.
fn ok(content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nContent-Security-Policy: {CONTENT_SECURITY}\r\n\
         X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An answer that says, in its status line and one line of text, why there is no page.
fn plain_answer(status: Status) -> Vec<u8> {
    let line = status.line();
    let allow = if status == Status::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let body = if status == Status::Misdirected {
        format!("{line}: this page answers to its own address, not to that name\n")
    } else {
        format!("{line}: this server has GET / and GET /status.json only\n")
    };
    format!(
        "HTTP/1.1 {line}\r\n{allow}Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// The `Host` header is found whatever its case, without its port; two are refused. IP
    /// addresses, `localhost` and the `--status` host are this server's names; others are not.
    #[test]
    fn reads_and_judges_the_host() {
        fn host(head: &str) -> Result<Option<&str>, ()> {
            host_header(head.as_bytes())
        }
        assert_eq!(
            host("GET / HTTP/1.1\r\nhOsT: 127.0.0.1:8404\r\n\r\n"),
            Ok(Some("127.0.0.1"))
        );
        assert_eq!(
            host("GET / HTTP/1.1\r\nHost: [::1]:8404\r\n\r\n"),
            Ok(Some("::1"))
        );
        assert_eq!(host("GET / HTTP/1.0\r\n\r\n"), Ok(None));
        assert_eq!(
            host("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            Err(())
        );
        for served in [
            "127.0.0.1",
            "::1",
            "10.0.0.5",
            "localhost",
            "LOCALHOST.",
            "lab-pc",
        ] {
            assert!(is_served_name(served, "lab-pc"), "{served}");
        }
        for other in ["evil.example", "127.0.0.1.nip.io", "localhost.evil.example"] {
            assert!(!is_served_name(other, "127.0.0.1"), "{other}");
        }
    }

    /// A request's head ends at its blank line, however the lines end.
    #[test]
    fn finds_the_end_of_a_request() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\nGET"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    /// Refusals say what the server has, and a 405 says which method it takes.
    #[test]
    fn refusals_say_why() {
        let answer = String::from_utf8(plain_answer(Status::MethodNotAllowed)).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{answer}"
        );
        assert!(answer.contains("\r\nAllow: GET, HEAD\r\n"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        assert!(answer.contains(&format!("Content-Length: {}\r\n", body.len())));
    }
}

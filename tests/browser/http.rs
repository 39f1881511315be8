//! Plain HTTP/1.1 by hand, for the tests: one request on one connection, read to the close, as
//! `curl` would do it.

use std::io::{Read, Write};
use std::net::TcpStream;

use common::armour::error::{Context, Error};
use harness::lab::PATIENCE;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// The status code, `200`.
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    /// Everything after the blank line.
    pub body: String,
}

impl Reply {
    /// The value of header `name` (its first), without surrounding spaces.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// `GET path` from 127.0.0.1:`port`.
pub fn get(port: u16, path: &str) -> Result<Reply, Error> {
    send(
        port,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: tests\r\n\
             Connection: close\r\n\r\n"
        ),
    )
}

/// Sends `request` as it is and reads the reply to the close.
pub fn send(port: u16, request: &str) -> Result<Reply, Error> {
    let doing = || format!("asking 127.0.0.1:{port} for {request:?}");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).context(doing)?;
    stream.set_read_timeout(Some(PATIENCE)).context(doing)?;
    stream.write_all(request.as_bytes()).context(doing)?;
    // To the close, or as far as Content-Length says: DevTools keeps its connections open.
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let read = stream.read(&mut chunk).context(doing)?;
        bytes.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&bytes);
        let whole = parse(&text).is_some_and(|reply| {
            reply
                .header("Content-Length")
                .and_then(|length| length.parse().ok())
                .is_some_and(|length: usize| reply.body.len() >= length)
        });
        if read == 0 || whole {
            break;
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    parse(&text).ok_or_else(|| Error::new(format!("{}: no HTTP reply: {text:?}", doing())))
}

/// A reply's status line, headers and body; `None` when it is not an HTTP reply.
pub fn parse(text: &str) -> Option<Reply> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    Some(Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

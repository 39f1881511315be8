//! Headless Chromium for the tests of the status page, driven over the DevTools protocol with
//! std alone: Chromium is started as Debian's `chromium` package installs it, with a fresh
//! profile, and opens the page; the test then reads the page as the browser drew it (its
//! script's work included), waits for it to change, and takes screenshots, over one WebSocket
//! to the page (RFC 6455, text frames only, as DevTools speaks).

pub mod http;
pub mod json;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::armour::error::{Context, Error};
use harness::chromium::Chromium;
use harness::lab::PATIENCE;

use json::{Json, quote};

/// How often [`Browser::wait_until`] looks at the page again: the page redraws every second.
const LOOK_AGAIN: Duration = Duration::from_millis(100);

/// A headless Chromium showing one page; stopped, and its profile removed, when dropped.
pub struct Browser {
    /// The DevTools connection to the page.
    socket: Socket,
    /// Declared after the socket, so dropped after it.
    _chromium: Chromium,
}

impl Browser {
    /// Starts Chromium with a window of `width` × `height` showing `url`.
    pub fn open(url: &str, width: u32, height: u32) -> Result<Browser, Error> {
        let chromium = Chromium::open(url, width, height)?;
        let port = chromium
            .devtools
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| Error::new(format!("no DevTools port in {:?}", chromium.devtools)))?;
        let page = page_target(port, url)?;
        let mut socket = Socket::connect(&page)?;
        // The page's own area exactly `width` × `height`, whatever the headless window's frame.
        let size = format!(
            "{{\"width\":{width},\"height\":{height},\"deviceScaleFactor\":1,\"mobile\":false}}"
        );
        socket.call("Emulation.setDeviceMetricsOverride", &size)?;
        Ok(Browser {
            socket,
            _chromium: chromium,
        })
    }

    /// Runs `expression` in the page (awaiting it if it is a promise) and returns its value.
    pub fn evaluate(&mut self, expression: &str) -> Result<Json, Error> {
        let params = format!(
            "{{\"expression\":{},\"returnByValue\":true,\"awaitPromise\":true}}",
            quote(expression)
        );
        let result = self.socket.call("Runtime.evaluate", &params)?;
        if let Json::Object(_) = result.get("exceptionDetails") {
            return Err(Error::new(format!(
                "the page's JavaScript failed: {}",
                result.get("exceptionDetails")
            )));
        }
        Ok(result.get("result").get("value").clone())
    }

    /// A screenshot of the window: the PNG's bytes, and the same in base64 as DevTools sent it.
    pub fn screenshot(&mut self) -> Result<(Vec<u8>, String), Error> {
        let result = self
            .socket
            .call("Page.captureScreenshot", "{\"format\":\"png\"}")?;
        let base64 = result
            .get("data")
            .text()
            .ok_or_else(|| Error::new("a screenshot without data"))?
            .to_string();
        Ok((decode_base64(&base64)?, base64))
    }

    /// Evaluates `expression` again and again until `done` says its value is what the test
    /// waits for, and returns that value; fails, saying `what` it waited for, after
    /// [`PATIENCE`].
    pub fn wait_until(
        &mut self,
        what: &str,
        expression: &str,
        done: impl Fn(&Json) -> bool,
    ) -> Result<Json, Error> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // The page may not be loaded yet, or between two drawings: look again.
            let value = self.evaluate(expression).unwrap_or(Json::Null);
            if done(&value) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(Error::new(format!(
                    "the page did not show {what} in {PATIENCE:?}; it showed: {value}"
                )));
            }
            thread::sleep(LOOK_AGAIN);
        }
    }

    /// Turns the page's JavaScript off (as a browser's settings can) and loads the page again.
    pub fn reload_without_javascript(&mut self) -> Result<(), Error> {
        let off = "{\"value\":true}";
        self.socket
            .call("Emulation.setScriptExecutionDisabled", off)?;
        self.socket.call("Page.reload", "{}").map(|_| ())
    }

    /// Leaves the page for `url`.
    pub fn go_to(&mut self, url: &str) -> Result<(), Error> {
        let params = format!("{{\"url\":{}}}", quote(url));
        self.socket.call("Page.navigate", &params).map(|_| ())
    }
}

/// The DevTools WebSocket address of the tab showing `url`, from DevTools' list of targets.
fn page_target(port: u16, url: &str) -> Result<String, Error> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = http::get(port, "/json/list")?;
        let targets = Json::parse(&reply.body).map_err(Error::new)?;
        let page = targets.items().iter().find(|t| {
            t.get("type").text() == Some("page")
                && t.get("url").text().is_some_and(|u| u.starts_with(url))
        });
        if let Some(socket) = page.and_then(|p| p.get("webSocketDebuggerUrl").text()) {
            return Ok(socket.to_string());
        }
        if Instant::now() > deadline {
            return Err(Error::new(format!(
                "Chromium shows no tab of {url} after {PATIENCE:?}: {targets}"
            )));
        }
        // Start-up, not a measurement: the tab appears a moment after DevTools listens.
        thread::sleep(LOOK_AGAIN);
    }
}

/// A WebSocket to a DevTools target: numbered calls, each waiting for its own reply.
struct Socket {
    stream: TcpStream,
    next_id: u64,
}

/// The mask every frame we send carries (RFC 6455 asks a client to mask; any key will do).
const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x88];

impl Socket {
    /// Opens `ws://HOST:PORT/PATH`: an HTTP request that asks to switch to WebSocket.
    fn connect(url: &str) -> Result<Socket, Error> {
        let doing = || format!("connecting to DevTools at {url}");
        let (address, path) = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| Error::new(format!("not a ws:// address: {url}")))?;
        let mut stream = TcpStream::connect(address).context(doing)?;
        stream.set_read_timeout(Some(PATIENCE)).context(doing)?;
        // The key is the RFC's own example: DevTools only checks that there is one.
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).context(doing)?;
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).context(doing)?;
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(Error::new(format!("{}: {head}", doing())));
        }
        Ok(Socket { stream, next_id: 0 })
    }

    /// Calls `method` with `params` (a JSON object) and returns its result.
    fn call(&mut self, method: &str, params: &str) -> Result<Json, Error> {
        self.next_id += 1;
        let id = self.next_id;
        let message = format!(
            "{{\"id\":{id},\"method\":{},\"params\":{params}}}",
            quote(method)
        );
        self.send(message.as_bytes())
            .context(|| format!("sending {method} to DevTools"))?;
        loop {
            let reply = Json::parse(&self.receive()?).map_err(Error::new)?;
            if reply.get("id").count() != Some(id) {
                continue; // an event, not our reply
            }
            if let Json::Object(_) = reply.get("error") {
                return Err(Error::new(format!("DevTools refused {method}: {reply}")));
            }
            return Ok(reply.get("result").clone());
        }
    }

    /// Sends one text frame, masked.
    fn send(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = vec![0x81]; // the last frame of a text message
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&MASK);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        self.stream.write_all(&frame)
    }

    /// Receives one whole message (its frames joined), answering pings on the way.
    fn receive(&mut self) -> Result<String, Error> {
        let doing = || "reading from DevTools".to_string();
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.stream.read_exact(&mut head).context(doing)?;
            let (last, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let length = match head[1] & 0x7f {
                126 => {
                    let mut bytes = [0u8; 2];
                    self.stream.read_exact(&mut bytes).context(doing)?;
                    u64::from(u16::from_be_bytes(bytes))
                }
                127 => {
                    let mut bytes = [0u8; 8];
                    self.stream.read_exact(&mut bytes).context(doing)?;
                    u64::from_be_bytes(bytes)
                }
                n => u64::from(n),
            };
            let mut mask = [0u8; 4];
            if head[1] & 0x80 != 0 {
                self.stream.read_exact(&mut mask).context(doing)?;
            }
            let mut payload = Vec::new();
            (&mut self.stream)
                .take(length)
                .read_to_end(&mut payload)
                .context(doing)?;
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b ^= mask[i % 4]);
            match opcode {
                0x8 => return Err(Error::new("DevTools closed the connection")),
                0x9 => {
                    // A ping: answered with a pong carrying the same bytes.
                    let mut pong = vec![0x8a, 0x80 | payload.len() as u8];
                    pong.extend_from_slice(&MASK);
                    pong.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
                    self.stream.write_all(&pong).context(doing)?;
                    continue;
                }
                0xa => continue,
                _ => message.extend_from_slice(&payload),
            }
            if last {
                return String::from_utf8(message)
                    .map_err(|_| Error::new("DevTools sent a message that is not UTF-8"));
            }
        }
    }
}

/// The bytes of base64 `text` (DevTools sends screenshots so).
fn decode_base64(text: &str) -> Result<Vec<u8>, Error> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = value(c).ok_or_else(|| Error::new("not base64"))?;
        // Only the bits not yet taken are kept: fewer than 14.
        bits = ((bits << 6) | u32::from(v)) & 0x3fff;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
        }
    }
    Ok(bytes)
}

//! Watching the load balancer's status page while it is measured (`--targets ours-status`,
//! `ours-browser`): a poller fetching `/status.json` ten times a second, as ten browsers
//! showing the page would, or a headless Chromium showing the page itself, whose script
//! fetches it once a second. Either stops when the target does.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::armour::error::Error;
use harness::chromium::Chromium;
use harness::lab::PATIENCE;

/// How long Chromium is left to finish starting once it shows the page, before the target
/// is measured: its helper processes spend a couple of seconds of CPU on starting, which
/// would be measured instead of the page.
const BROWSER_SETTLE: Duration = Duration::from_secs(3);

/// How often the poller fetches `/status.json`: ten times what one browser showing the page
/// asks (once a second), so the cost measured is that of a room's worth of browsers.
const POLL: Duration = Duration::from_millis(100);

/// Someone watching the page; stops watching when dropped.
pub enum Watcher {
    /// The poller's thread, and the flag that stops it.
    Poller {
        stop: Arc<AtomicBool>,
        thread: Option<JoinHandle<usize>>,
    },
    /// Chromium, stopped and its profile removed when dropped.
    Browser { _browser: Chromium },
}

impl Watcher {
    /// Fetches `/status.json` from 127.0.0.1:`page` every [`POLL`] until dropped.
    pub fn poll(page: u16) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut failed = 0;
            while !stopped.load(Ordering::Relaxed) {
                if fetch(page).is_err() {
                    failed += 1;
                }
                thread::sleep(POLL);
            }
            failed
        });
        Watcher::Poller {
            stop,
            thread: Some(thread),
        }
    }

    /// A headless Chromium showing the page at 127.0.0.1:`page`, as a projector would.
    pub fn browse(page: u16) -> Result<Watcher, Error> {
        let browser = Chromium::open(&format!("http://127.0.0.1:{page}/"), 1600, 1000)?;
        let devtools = &browser.devtools;
        let deadline = Instant::now() + PATIENCE;
        while !shows_the_page(devtools) {
            if Instant::now() > deadline {
                return Err(Error::new("Chromium does not show the status page"));
            }
            // Start-up, not a measurement.
            thread::sleep(POLL);
        }
        thread::sleep(BROWSER_SETTLE);
        Ok(Watcher::Browser { _browser: browser })
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        match self {
            Watcher::Poller { stop, thread } => {
                stop.store(true, Ordering::Relaxed);
                let failed = thread.take().and_then(|t| t.join().ok()).unwrap_or(0);
                if failed > 0 {
                    // Not println!: a panic in a drop (stdout closed) would abort the bench.
                    let _ = writeln!(
                        std::io::stdout(),
                        "(the status page did not answer {failed} of the poller's fetches)"
                    );
                }
            }
            Watcher::Browser { .. } => {} // Chromium stops as it is dropped
        }
    }
}

/// True once Chromium's tab shows the status page (its title is the page's), from the list of
/// tabs its DevTools serve at `devtools` (`HOST:PORT`).
fn shows_the_page(devtools: &str) -> bool {
    let list = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(devtools)?;
        stream.set_read_timeout(Some(POLL))?;
        stream.write_all(b"GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
        // DevTools keeps the connection open: what came within the timeout is the list.
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    list().is_ok_and(|text| text.contains("\"title\": \"Load balancer "))
}

/// One `GET /status.json`, read to the close.
fn fetch(page: u16) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", page))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.write_all(b"GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    if reply.starts_with(b"HTTP/1.1 200 ") {
        Ok(())
    } else {
        Err(std::io::Error::other("not 200"))
    }
}

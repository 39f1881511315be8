//! The load generator: `c` concurrent clients that speak exactly like client.py (connect, one
//! write, no terminator, read to the close), each answer checked.

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long one request may take before it counts as an error: far above any real latency
/// here, so only a stuck server reaches it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What one measured run gave.
pub struct Run {
    /// Requests answered correctly.
    pub ok: usize,
    /// Requests that failed or got a wrong answer.
    pub errors: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Each correct request's latency, sorted.
    pub latencies: Vec<Duration>,
}

impl Run {
    /// Correct answers per second.
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency below which `percent` of the requests finished.
    pub fn percentile(&self, percent: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (percent / 100.0 * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// The slowest correct request.
    pub fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

/// Sends `requests` requests for `request` to 127.0.0.1:`port` from `clients` threads at once,
/// checking every answer against `expected`.
pub fn drive(port: u16, clients: usize, requests: usize, request: &str, expected: &str) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let next = Arc::clone(&next);
            let (request, expected) = (request.to_string(), expected.to_string());
            thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut errors = 0;
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let sent = Instant::now();
                    match ask(port, &request) {
                        Ok(answer) if answer == expected.as_bytes() => {
                            latencies.push(sent.elapsed())
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut run = Run {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for thread in threads {
        match thread.join() {
            Ok((latencies, errors)) => {
                run.latencies.extend(latencies);
                run.errors += errors;
            }
            Err(_) => run.errors += 1, // a client thread that panicked counts as one error
        }
    }
    run.elapsed = started.elapsed();
    run.ok = run.latencies.len();
    run.latencies.sort();
    run
}

/// One request, as client.py sends it, and the whole answer.
pub fn ask(port: u16, request: &str) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    common::protocol::exchange(&mut stream, request.as_bytes())
}

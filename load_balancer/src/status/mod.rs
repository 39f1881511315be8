//! The load balancer's live status page, `load_balancer --status [HOST:]PORT`. Ours only:
//! load_balancer.py shows nothing but its log lines. Like HAProxy's stats page and nginx's
//! `stub_status`, it shows what is otherwise invisible in a lab: each worker in the registry
//! (up, suspected or down, since when and why, when it is checked next, its requests in
//! progress, answered and failed), the strategy and whose turn is next, requests per second,
//! and the last requests with each worker they were sent to. It is made for a projector.
//!
//! - `board.rs`: what is noted as requests go (`failover.rs` notes each on a `Trace`);
//! - `snapshot.rs`: one view of the load balancer, and the `/status.json` made from it;
//! - `page.rs` (with `page.css` and `page.js`): the page drawn from the same view, which its
//!   script draws again from `/status.json` every second;
//! - `watch.rs`: while the page is watched, every worker is health-checked on a timer, so a
//!   killed worker is shown down without waiting for a request to fail on it;
//! - `http.rs`: a small HTTP/1.1 server of its own, with its own cap and deadlines, so that
//!   no HTTP client, however slow or hostile, can cost the lab more than this page.
//!
//! Without `--status` none of it runs: no board, no listener, no thread. docs/protocol.md
//! describes `/status.json` field by field.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use common::error::Error;
use common::say;

use crate::LoadBalancer;
use crate::beyond_loopback;

mod board;
mod http;
mod page;
mod snapshot;
mod watch;

pub use board::{Board, Trace};

/// Where the status page is served: `--status PORT` (on 127.0.0.1) or `--status HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAddress {
    /// An IPv4 or IPv6 address (without brackets) or a host name.
    pub host: String,
    /// The port; 0 lets the OS choose.
    pub port: u16,
}

impl FromStr for StatusAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<StatusAddress, String> {
        let expected = "expected PORT or HOST:PORT, such as 8404 or 127.0.0.1:8404".to_string();
        let (host, port) = match text.rsplit_once(':') {
            None => (common::DEFAULT_HOST, text),
            Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port),
        };
        let port = port.parse().map_err(|_| expected.clone())?;
        if host.is_empty() {
            return Err(expected);
        }
        Ok(StatusAddress {
            host: host.to_string(),
            port,
        })
    }
}

/// As in a browser's address bar: `127.0.0.1:8404`, `[::1]:8404`.
impl fmt::Display for StatusAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()) {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Shares `lb` with the status page's server, which starts here when `--status` asked for one
/// (then `lb.board` holds its board). Without it, nothing starts.
pub fn serve_if_asked(lb: LoadBalancer) -> Result<Arc<LoadBalancer>, Error> {
    let lb = Arc::new(lb);
    let Some(board) = &lb.board else {
        return Ok(lb);
    };
    let listener = http::bind(&board.page)?;
    beyond_loopback::warn_if_page_reachable(&listener);
    let at = StatusAddress {
        port: listener.local_addr().map_or(board.page.port, |a| a.port()),
        ..board.page.clone()
    };
    let watch = Arc::new(watch::Watch::default());
    http::start(listener, Arc::clone(&lb), Arc::clone(&watch))?;
    // Ours: while the page is watched, the workers that are up are checked too (`watch.rs`).
    watch::start(watch, Arc::clone(&lb));
    say!("Status page at http://{at}/");
    Ok(lb)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// A port alone is on 127.0.0.1; a host may be a name, IPv4 or bracketed IPv6.
    #[test]
    fn reads_the_flag() {
        let at = |text: &str| text.parse::<StatusAddress>();
        let address = |host: &str, port| StatusAddress {
            host: host.into(),
            port,
        };
        assert_eq!(at("8404"), Ok(address("127.0.0.1", 8404)));
        assert_eq!(at("0.0.0.0:0"), Ok(address("0.0.0.0", 0)));
        assert_eq!(at("[::1]:8404"), Ok(address("::1", 8404)));
        assert_eq!(at("localhost:8404"), Ok(address("localhost", 8404)));
        for bad in ["", "web", "70000", ":8404", "127.0.0.1:", "127.0.0.1:x"] {
            assert!(at(bad).is_err(), "{bad:?}");
        }
        assert_eq!(address("::1", 8404).to_string(), "[::1]:8404");
        assert_eq!(address("127.0.0.1", 80).to_string(), "127.0.0.1:80");
    }
}

//! The load balancer's live status page, `load_balancer --status [HOST:]PORT`. Ours only:
//! load_balancer.py shows nothing but its log lines. Like HAProxy's stats page and nginx's
//! `stub_status`, it shows what is otherwise invisible in a lab: each worker in the registry
//! (up, suspected or down, since when and why, when it is checked next, its requests in
//! progress, answered and failed), the strategy and whose turn is next, requests per second,
//! and the last requests with each worker they were sent to. It is made for a projector.
//!
//! - `board.rs`: what is noted as requests go (`armour/failover.rs` tells each request's `Notes`);
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

use std::sync::Arc;

use common::armour::error::Error;
use common::say;

use crate::armour::beyond_loopback;
use crate::shared::LoadBalancer;

pub mod address;
pub mod board;
mod http;
mod page;
mod snapshot;
mod watch;

use address::StatusAddress;

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

//! The warning for a load balancer, or its status page, that listens beyond loopback. Ours only: load_balancer.py
//! listens on 127.0.0.1 and nothing else.
//!
//! The lab's protocol has no authentication and no encryption: whoever can reach the port can
//! have the workers compute, and read every answer on the way. On one machine that is nobody
//! else; on a network it is everyone on it, which the person starting it should know.

use std::net::{IpAddr, TcpListener};

use common::armour::log;

/// Prints one line on stderr when `listener` is reachable from other machines.
pub fn warn_if_reachable(listener: &TcpListener) {
    if !on_loopback(listener) {
        log::warn(
            "Warning: listening beyond this machine; the protocol has no authentication or \
             encryption, so anyone who can reach this port can use the workers and read the \
             answers",
        );
    }
}

/// The same warning for the status page (`--status`), which shows the requests and their
/// answers to whoever can reach it.
pub fn warn_if_page_reachable(listener: &TcpListener) {
    if !on_loopback(listener) {
        log::warn(
            "Warning: the status page listens beyond this machine; it has no authentication \
             or encryption, so anyone who can reach its port can see the workers, the \
             requests and the answers",
        );
    }
}

/// True when `listener` takes connections from this machine only.
fn on_loopback(listener: &TcpListener) -> bool {
    listener
        .local_addr()
        .is_ok_and(|address| address.ip().is_loopback())
}

/// True when `host` (an address or `localhost`) names this machine only.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

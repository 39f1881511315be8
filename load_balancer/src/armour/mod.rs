//! The load balancer's armour: what load_balancer.py does not do and a lab room needs, so that
//! a worker that dies, freezes, lies or floods costs no client its answer. Each is entered by
//! one call marked `// Ours:` in `main.rs`; the armour shared with the worker (the connection
//! cap, deadlines, Ctrl-C) is in `common/src/armour/`.
//!
//! - [`registry_reader`]: `worker_ports.txt` read with care (a bounded regular file, odd
//!   lines said once, the load balancer's own address never taken for a worker).
//! - [`failover`]: every rule by which a request goes to another worker (retries, hedging).
//! - [`attempt`]: one try at one worker, within its timeouts, its answer checked.
//! - [`health`]: which workers failed lately, and the checks that bring them back.
//! - [`beyond_loopback`]: a warning when the load balancer is reachable from other machines.

pub mod attempt;
pub mod beyond_loopback;
pub mod failover;
pub mod health;
pub mod registry_reader;

//! What the lab's three programs share.
//!
//! The Python lab repeats a few things in each file (the registry file name, the host, how a
//! request is read); here they live once. The lesson's parts sit at the top:
//!
//! - [`protocol`]: the wire format — how a request and an answer travel, and what a valid
//!   request is.
//! - [`registry`]: `worker_ports.txt`, the file that workers append their port to and the load
//!   balancer reads (`register_worker` and `get_available_workers` in the Python files).
//! - [`factorial`]: n! as an exact big integer (Python's `math.factorial`).
//! - [`server`]: binding a listener, and [`server::serve`], which runs the accept loop that
//!   the worker's and the load balancer's `main.rs` each write out, a thread per connection.
//!
//! What the Python does not do sits in two folders whose names say so:
//!
//! - [`armour`]: what keeps the programs up in a lab room — deadlines, the connection cap,
//!   Ctrl-C finishing what was taken, careful answer checks, log lines that never block.
//! - [`extras`]: helpers for the flags and for printing addresses and long numbers.

pub mod armour;
pub mod extras;
pub mod factorial;
pub mod protocol;
pub mod registry;
pub mod server;

/// The host every program uses unless told otherwise: the lab runs on one machine
/// (`host = "127.0.0.1"` in all three Python files).
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The load balancer's port, which the client dials (`port = 65432` in client.py and
/// load_balancer.py).
pub const DEFAULT_LB_PORT: u16 = 65432;

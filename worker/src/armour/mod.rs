//! The worker's armour: what worker_server.py does not do and a lab room needs. Each is entered
//! by one call marked `// Ours:` in `main.rs`; the armour the worker shares with the load
//! balancer (the connection cap, deadlines, Ctrl-C) is in `common/src/armour/`.
//!
//! - [`compute`]: a big n! given up when the asker goes away meanwhile.

pub mod compute;

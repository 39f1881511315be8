//! Runs the lab's programs as real processes: the one-command demo (`src/main.rs`), the
//! end-to-end tests (`tests/`), `lab check` (`grader/`) and the benchmark (`bench/`) all start
//! them through this library. Nothing here is part of the lab itself.
//!
//! - [`process`]: one running program whose output lines we can wait for, killed on drop.
//! - [`peers`]: fake workers that hang, lie, flood or close, for tests of the armour.
//! - [`lab`]: a lab in a scratch folder of its own — workers, a load balancer, clients.
//! - [`hosts`]: several machines on one, as network namespaces, for a lab across machines.
//! - [`chromium`]: a headless Chromium showing a page, for the status page's tests.
//! - [`products`]: HAProxy and nginx with the configuration our load balancer prints.
//! - [`skips`]: tests that cannot run here say so in one summary at the end of the run.
//! - [`slow`]: a step that takes more than a couple of seconds says what it is doing.
//! - `win32` (Windows only): Ctrl-Break, freeze, thaw and kill there, where Linux has signals.

pub mod chromium;
pub mod hosts;
pub mod lab;
pub mod peers;
pub mod process;
pub mod products;
pub mod skips;
pub mod slow;
#[cfg(windows)]
pub mod win32;

pub use lab::{Finished, Lab, Server};
pub use process::Running;

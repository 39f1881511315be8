//! What the load balancer offers beyond the lab, each behind its own flag:
//!
//! - [`status`]: `--status`, a live page of the workers and the last requests;
//! - [`export`]: `--print-config haproxy|nginx`, the same lab served by HAProxy or nginx.
//!
//! (`--strategy random|least-connections` is beside the lab's round-robin in `strategy.rs`.)

pub mod export;
pub mod status;

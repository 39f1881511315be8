//! What the load balancer offers beyond the lab, each behind its own flag:
//!
//! - [`status`]: `--status`, a live page of the workers and the last requests;
//! - [`export`]: `--print-config haproxy|nginx`, the same lab served by HAProxy or nginx;
//! - [`strategy`]: `--strategy random|least-connections`, beside the lab's round-robin.

pub mod export;
pub mod status;
pub mod strategy;

//! What the worker offers beyond the lab: `--advertise` and `--print-registry-line`, for
//! workers on other machines than the load balancer's.

pub mod advertise;

//! What the load balancer knows about each worker from the requests it sent: whether it failed
//! lately, and how many requests it has in progress.
//!
//! This is passive health checking, as nginx's `max_fails`/`fail_timeout` and HAProxy's
//! `observe layer4` do: no probes, only real requests. A worker that fails one is skipped for a
//! cool-down (`--cooldown`) and then tried again; a success marks it up at once. The Python
//! lab has none of this: a dead worker in the registry fails every request that reaches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use common::registry::WorkerAddr;

/// One worker's record.
#[derive(Debug, Default)]
struct Record {
    /// Until when to skip it; `None` while it is up. Kept after the cool-down ends (the worker
    /// is then tried again) so that its next success can be logged as "back up".
    down_until: Option<Instant>,
    /// Requests sent to it and not yet answered (for least-connections).
    in_flight: usize,
}

/// Every worker's record, shared by all the load balancer's threads.
pub struct Health {
    /// How long a failed worker is skipped.
    cooldown: Duration,
    records: Arc<Mutex<HashMap<WorkerAddr, Record>>>,
}

/// A request in progress at a worker; dropping it counts the request as finished.
pub struct InFlight {
    worker: WorkerAddr,
    records: Arc<Mutex<HashMap<WorkerAddr, Record>>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(record) = lock(&self.records).get_mut(&self.worker) {
            record.in_flight = record.in_flight.saturating_sub(1);
        }
    }
}

/// Locks the records. A thread that panicked while holding the lock leaves them consistent
/// (every change is a single field), so a poisoned lock is used as it is.
fn lock(
    records: &Mutex<HashMap<WorkerAddr, Record>>,
) -> MutexGuard<'_, HashMap<WorkerAddr, Record>> {
    records.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Health {
    /// No records yet: every worker starts up.
    pub fn new(cooldown: Duration) -> Health {
        Health {
            cooldown,
            records: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Splits `workers` into those to try first (up, or at the end of their cool-down) and
    /// those in their cool-down, both in registry order.
    pub fn split(&self, workers: &[WorkerAddr]) -> (Vec<WorkerAddr>, Vec<WorkerAddr>) {
        let records = lock(&self.records);
        let now = Instant::now();
        workers.iter().cloned().partition(|worker| {
            let down_until = records.get(worker).and_then(|r| r.down_until);
            down_until.is_none_or(|until| until <= now)
        })
    }

    /// Requests in progress at each of `workers`.
    pub fn loads(&self, workers: &[WorkerAddr]) -> Vec<usize> {
        let records = lock(&self.records);
        workers
            .iter()
            .map(|w| records.get(w).map_or(0, |r| r.in_flight))
            .collect()
    }

    /// Counts a request as in progress at `worker` until the returned guard is dropped.
    pub fn start_request(&self, worker: &WorkerAddr) -> InFlight {
        lock(&self.records)
            .entry(worker.clone())
            .or_default()
            .in_flight += 1;
        InFlight {
            worker: worker.clone(),
            records: Arc::clone(&self.records),
        }
    }

    /// Marks `worker` down for the cool-down. True if it was up until now (worth a log line).
    pub fn mark_down(&self, worker: &WorkerAddr) -> bool {
        let mut records = lock(&self.records);
        let record = records.entry(worker.clone()).or_default();
        let was_up = record.down_until.is_none();
        record.down_until = Some(Instant::now() + self.cooldown);
        was_up
    }

    /// Marks `worker` up. True if it was down until now (worth a log line).
    pub fn mark_up(&self, worker: &WorkerAddr) -> bool {
        let mut records = lock(&self.records);
        records
            .get_mut(worker)
            .is_some_and(|record| record.down_until.take().is_some())
    }

    /// The cool-down, for log lines.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    fn worker(port: u16) -> WorkerAddr {
        WorkerAddr {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// A failed worker is skipped during its cool-down and tried again after it; its next
    /// success marks it up once.
    #[test]
    fn failed_workers_cool_down_then_return() {
        let workers = [worker(1), worker(2)];
        let health = Health::new(Duration::from_secs(3600));
        assert!(health.mark_down(&worker(1)));
        assert!(!health.mark_down(&worker(1)), "already down");
        assert_eq!(health.split(&workers), (vec![worker(2)], vec![worker(1)]));
        assert!(health.mark_up(&worker(1)));
        assert!(!health.mark_up(&worker(1)), "already up");
        assert_eq!(health.split(&workers), (workers.to_vec(), vec![]));

        let no_cooldown = Health::new(Duration::ZERO);
        no_cooldown.mark_down(&worker(1));
        assert_eq!(
            no_cooldown.split(&workers).0,
            workers.to_vec(),
            "cool-down over"
        );
    }

    /// Requests in progress are counted per worker until their guards drop.
    #[test]
    fn counts_requests_in_progress() {
        let health = Health::new(Duration::from_secs(5));
        let workers = [worker(1), worker(2)];
        let first = health.start_request(&worker(1));
        let second = health.start_request(&worker(1));
        assert_eq!(health.loads(&workers), [2, 0]);
        drop(first);
        assert_eq!(health.loads(&workers), [1, 0]);
        drop(second);
        assert_eq!(health.loads(&workers), [0, 0]);
    }
}

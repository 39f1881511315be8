//! What the load balancer knows about each worker: whether it is down, how many requests it
//! has in progress, and how to wake those requests if it freezes.
//!
//! The Python lab has none of this: a dead worker in the registry fails every request that
//! reaches it, and a frozen one holds every request forever. Here, as in HAProxy:
//! - a worker that fails a real request is marked down (passive checks, HAProxy's
//!   `observe layer4`, nginx's `max_fails`), and skipped;
//! - a worker that is slow to answer is health-checked at once: asked for 1!, expecting `1`
//!   (HAProxy's `tcp-check send` / `expect`). If it does not answer, it is frozen: it is marked
//!   down and every request waiting on it is woken (a clone of each one's socket is shut down
//!   from here) and sent to another worker;
//! - a down worker is health-checked by one background thread after its cool-down, and comes
//!   back only when it answers (HAProxy's `rise`). Each failed check doubles the cool-down, up
//!   to [`MAX_COOLDOWN`], so long-dead entries in the registry cost almost nothing.
//!
//! Only down or slow workers are checked, so a healthy lab's terminals show no checks, and a
//! Python worker, which serves one connection at a time, is never slowed by them.

use std::collections::{HashMap, HashSet};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::registry::WorkerAddr;
use common::{lock, say};

use crate::ask::{self, Timeouts};

/// The longest cool-down, however often a worker failed its checks: a worker restarted after
/// a long break is back within a minute, and a dead entry costs one refused connection a
/// minute.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(60);

/// How often the background thread looks for down workers whose cool-down is over: a small
/// fraction of the shortest sensible cool-down, and nothing to do most of the time.
const CHECK_TICK: Duration = Duration::from_millis(100);

/// One worker's record.
#[derive(Debug, Default)]
struct Record {
    /// Until when to skip it before checking it again; `None` while it is up.
    down_until: Option<Instant>,
    /// Health checks failed in a row while down: each doubles the next cool-down.
    failed_checks: u32,
    /// True while a health check of it is under way, so only one runs at a time.
    checking: bool,
    /// Requests in progress at it.
    in_flight: Vec<Watched>,
}

/// One request in progress, as seen from outside its thread.
#[derive(Debug)]
struct Watched {
    /// Tells this request's [`InFlight`] apart from the others at the same worker.
    id: u64,
    /// A clone of its socket, to shut down if the worker is found frozen.
    stream: Option<TcpStream>,
    /// Set before the shutdown, so the request knows it was abandoned, not answered.
    abandoned: Arc<AtomicBool>,
}

/// The records, shared by every request thread and the checking thread.
type Records = Arc<Mutex<HashMap<WorkerAddr, Record>>>;

/// Every worker's record and the settings for checking them.
pub struct Health {
    /// The first cool-down (`--cooldown`).
    cooldown: Duration,
    /// Timeouts for health checks: the connect timeout is the same as for requests.
    timeouts: Timeouts,
    records: Records,
    /// Numbers the requests in progress.
    next_id: AtomicU64,
}

/// A request in progress at a worker; dropping it counts the request as finished.
pub struct InFlight {
    worker: WorkerAddr,
    id: u64,
    abandoned: Arc<AtomicBool>,
    records: Records,
}

impl InFlight {
    /// Keeps a clone of the request's socket, so that a health check that finds the worker
    /// frozen can wake this request.
    pub fn watch(&self, stream: &TcpStream) {
        let mut records = lock(&self.records);
        let watched = records
            .get_mut(&self.worker)
            .and_then(|r| r.in_flight.iter_mut().find(|w| w.id == self.id));
        if let Some(watched) = watched {
            watched.stream = stream.try_clone().ok();
        }
    }

    /// True when the worker was found frozen and this request was given up on.
    pub fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(record) = lock(&self.records).get_mut(&self.worker) {
            record.in_flight.retain(|w| w.id != self.id);
        }
    }
}

impl Health {
    /// No records yet: every worker starts up. Starts the thread that checks down workers.
    pub fn start(cooldown: Duration, timeouts: Timeouts) -> Arc<Health> {
        let health = Arc::new(Health {
            cooldown,
            timeouts,
            records: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        });
        let checker = Arc::clone(&health);
        let started = thread::Builder::new()
            .name("health checks".to_string())
            .spawn(move || checker.check_down_workers());
        if let Err(e) = started {
            // Without it, down workers are still tried when no other worker answers.
            common::log::warn(&format!("cannot start the health-check thread: {e}"));
        }
        health
    }

    /// Splits `workers` into those that are up and those that are down, both in registry
    /// order. Records of workers no longer in the registry are dropped here, so the records
    /// never outgrow the registry.
    pub fn split(&self, workers: &[WorkerAddr]) -> (Vec<WorkerAddr>, Vec<WorkerAddr>) {
        let mut records = lock(&self.records);
        if records.len() > workers.len() {
            let listed: HashSet<&WorkerAddr> = workers.iter().collect();
            records
                .retain(|worker, record| listed.contains(worker) || !record.in_flight.is_empty());
        }
        workers
            .iter()
            .cloned()
            .partition(|worker| records.get(worker).is_none_or(|r| r.down_until.is_none()))
    }

    /// Requests in progress at each of `workers`.
    pub fn loads(&self, workers: &[WorkerAddr]) -> Vec<usize> {
        let records = lock(&self.records);
        workers
            .iter()
            .map(|w| records.get(w).map_or(0, |r| r.in_flight.len()))
            .collect()
    }

    /// Counts a request as in progress at `worker` until the returned guard is dropped.
    pub fn start_request(&self, worker: &WorkerAddr) -> InFlight {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let abandoned = Arc::new(AtomicBool::new(false));
        lock(&self.records)
            .entry(worker.clone())
            .or_default()
            .in_flight
            .push(Watched {
                id,
                stream: None,
                abandoned: Arc::clone(&abandoned),
            });
        InFlight {
            worker: worker.clone(),
            id,
            abandoned,
            records: Arc::clone(&self.records),
        }
    }

    /// Marks `worker` down for the first cool-down. True if it was up until now (worth a log
    /// line).
    pub fn mark_down(&self, worker: &WorkerAddr) -> bool {
        let mut records = lock(&self.records);
        let record = records.entry(worker.clone()).or_default();
        let was_up = record.down_until.is_none();
        if was_up {
            record.down_until = Some(Instant::now() + self.cooldown);
            record.failed_checks = 0;
        }
        was_up
    }

    /// Marks `worker` up. True if it was down until now (worth a log line).
    pub fn mark_up(&self, worker: &WorkerAddr) -> bool {
        let mut records = lock(&self.records);
        records.get_mut(worker).is_some_and(|record| {
            record.failed_checks = 0;
            record.down_until.take().is_some()
        })
    }

    /// Gives up on every request waiting at `worker`: each is flagged, then its socket shut
    /// down, which wakes its blocked read. Returns how many there were.
    pub fn abandon_requests(&self, worker: &WorkerAddr) -> usize {
        let records = lock(&self.records);
        let Some(record) = records.get(worker) else {
            return 0;
        };
        for watched in &record.in_flight {
            watched.abandoned.store(true, Ordering::Release);
            if let Some(stream) = &watched.stream {
                // The request may have just finished and closed; then there is nothing to wake.
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        record.in_flight.len()
    }

    /// Called by a request whose worker is slow to answer: checks that the worker is alive.
    /// Only one check of a worker runs at a time; while one does, others assume it alive.
    /// False when the worker is down or does not answer the check.
    pub fn check_slow_worker(&self, worker: &WorkerAddr, timeouts: Timeouts) -> bool {
        {
            let mut records = lock(&self.records);
            let record = records.entry(worker.clone()).or_default();
            if record.down_until.is_some() {
                return false; // another request found it frozen meanwhile
            }
            if record.checking {
                return true;
            }
            record.checking = true;
        }
        let alive = ask::check(worker, timeouts);
        if let Some(record) = lock(&self.records).get_mut(worker) {
            record.checking = false;
        }
        alive
    }

    /// The checking thread: forever, checks each down worker whose cool-down is over. One that
    /// answers is marked up; one that does not waits twice as long before its next check.
    fn check_down_workers(&self) {
        loop {
            thread::sleep(CHECK_TICK);
            for worker in self.due_for_a_check() {
                let alive = ask::check(&worker, self.timeouts);
                let mut records = lock(&self.records);
                let Some(record) = records.get_mut(&worker) else {
                    continue; // left the registry meanwhile
                };
                record.checking = false;
                if alive {
                    record.failed_checks = 0;
                    if record.down_until.take().is_some() {
                        say!("Worker {worker} is back up");
                    }
                } else if record.down_until.is_some() {
                    record.failed_checks = record.failed_checks.saturating_add(1);
                    record.down_until =
                        Some(Instant::now() + self.next_cooldown(record.failed_checks));
                }
            }
        }
    }

    /// The down workers whose cool-down is over, each now marked as being checked.
    fn due_for_a_check(&self) -> Vec<WorkerAddr> {
        let now = Instant::now();
        let mut records = lock(&self.records);
        let mut due = Vec::new();
        for (worker, record) in records.iter_mut() {
            if !record.checking && record.down_until.is_some_and(|until| until <= now) {
                record.checking = true;
                due.push(worker.clone());
            }
        }
        due
    }

    /// The cool-down after `failed_checks` failed checks in a row: the first one doubled that
    /// many times, at most [`MAX_COOLDOWN`].
    fn next_cooldown(&self, failed_checks: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed_checks.min(16));
        self.cooldown
            .saturating_mul(factor)
            .min(MAX_COOLDOWN.max(self.cooldown))
    }

    /// The first cool-down, for log lines.
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

    fn health(cooldown: Duration) -> Arc<Health> {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            answer: Duration::from_secs(1),
        };
        Health::start(cooldown, timeouts)
    }

    /// A failed worker is skipped until marked up; marking down and up are logged once each.
    #[test]
    fn down_workers_are_skipped_until_up() {
        let workers = [worker(1), worker(2)];
        let health = health(Duration::from_secs(3600));
        assert!(health.mark_down(&worker(1)));
        assert!(!health.mark_down(&worker(1)), "already down");
        assert_eq!(health.split(&workers), (vec![worker(2)], vec![worker(1)]));
        assert!(health.mark_up(&worker(1)));
        assert!(!health.mark_up(&worker(1)), "already up");
        assert_eq!(health.split(&workers), (workers.to_vec(), vec![]));
    }

    /// Requests in progress are counted per worker until their guards drop.
    #[test]
    fn counts_requests_in_progress() {
        let health = health(Duration::from_secs(5));
        let workers = [worker(1), worker(2)];
        let first = health.start_request(&worker(1));
        let second = health.start_request(&worker(1));
        assert_eq!(health.loads(&workers), [2, 0]);
        drop(first);
        assert_eq!(health.loads(&workers), [1, 0]);
        drop(second);
        assert_eq!(health.loads(&workers), [0, 0]);
    }

    /// The cool-down doubles with each failed check, up to the most.
    #[test]
    fn cooldown_grows_while_checks_fail() {
        let health = health(Duration::from_secs(5));
        let secs: Vec<u64> = (1..=6).map(|n| health.next_cooldown(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 60, 60, 60]);
    }

    /// Records of workers that left the registry are dropped.
    #[test]
    fn records_do_not_outgrow_the_registry() {
        let health = health(Duration::from_secs(5));
        for port in 1..=100 {
            health.mark_down(&worker(port));
        }
        let (up, down) = health.split(&[worker(1), worker(200)]);
        assert_eq!((up, down), (vec![worker(200)], vec![worker(1)]));
        assert_eq!(lock(&health.records).len(), 1);
    }
}

//! What the load balancer knows about each worker: whether it is down, how many requests it
//! has in progress and since when, and when it last answered.
//!
//! The Python lab has none of this: a dead worker in the registry fails every request that
//! reaches it. Here, as in HAProxy and nginx:
//! - a worker that fails a real request is marked down (passive checks, HAProxy's
//!   `observe layer4`, nginx's `max_fails`), and new requests skip it; a worker that answered
//!   nothing while another answered its request at once is suspected (`failover.rs`): new
//!   requests skip it while it is checked at once, and it is marked down only if it does not
//!   answer the check either;
//! - a down worker is health-checked by one background thread after its cool-down, and comes
//!   back when it answers (HAProxy's `rise`), or as soon as any request it still holds is
//!   answered. Each failed check doubles the cool-down, up to [`MAX_COOLDOWN`], so long-dead
//!   entries in the registry cost almost nothing.
//!
//! A worker that is up is never checked here (only while the status page is watched:
//! `status/watch.rs`), so a lab at work sees no health checks at all, and
//! nothing here ever takes a request away from a worker: a down worker keeps the requests it
//! holds until it answers them or the worker timeout ends them.
//!
//! Each record also keeps when its worker last changed state and why, for the status page
//! (`extras/status/`, `--status`): a change is rare, and noting it costs a clock reading.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::lock;
use common::registry::WorkerAddr;
use common::say;

use crate::armour::attempt::{self, Failure};

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
    /// True while the background thread checks it, or the status page's checks do.
    checking: bool,
    /// When the status page's checks last asked it, while it was up (`status/watch.rs`).
    last_watched_check: Option<Instant>,
    /// Its last such check took long or went unanswered: a worker that sleeps before it
    /// answers, checked less often so the checks take little of its time.
    slow_to_check: bool,
    /// When it last answered such a check at once: evidence that the machine is not just
    /// slow, when another worker's check goes unanswered.
    quick_check_at: Option<Instant>,
    /// Down only until a health check says whether it is frozen: it answered nothing while
    /// another worker answered its request at once (`failover.rs`).
    suspected: bool,
    /// Requests in progress at it: each one's number, when it was sent, and whether it is a
    /// hedge (another worker was asked first).
    in_flight: Vec<(u64, Instant, bool)>,
    /// When it last gave an answer.
    last_answer: Option<Instant>,
    /// When its state last changed, and why: what the status page says of it.
    changed: Option<(Instant, Why)>,
}

/// Why a worker's state last changed, as the status page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Marked down: a request to it failed this way (`Failure::kind`, and the failure as the
    /// log says it, such as `cannot connect: connection refused`).
    Failed {
        /// One word for the failure, for scripts: `cannot-connect`, `closed`, ….
        kind: &'static str,
        /// The failure in the log's words.
        text: String,
    },
    /// Suspected: it answered nothing while another worker answered its request at once.
    Silent,
    /// Marked down: suspected, and its health check went unanswered too.
    CheckUnanswered,
    /// Back up: it answered a request.
    Answered,
    /// Back up: it answered a health check.
    AnsweredCheck,
}

/// What a check of a worker that is up found, while the status page is watched.
#[derive(Debug, Clone, Copy)]
pub enum Checked<'a> {
    /// It answered, after `took`; under `quick` counts as at once.
    Answered { took: Duration, quick: Duration },
    /// No answer within the check's time. It is marked down only if another worker answered
    /// its check at once within `quick_within`: where every worker is slow, the machine is.
    Unanswered { quick_within: Duration },
    /// It could not be reached, or the check failed otherwise.
    Failed(&'a Failure),
}

/// A worker's state, as new requests see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// New requests go to it.
    Up,
    /// Passed over while a health check asks it for 1! (see [`Record::suspected`]).
    Suspect,
    /// Skipped until a health check finds it back, or it answers a request it holds.
    Down,
}

/// One worker as the status page shows it: a copy of its record, taken under the lock.
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// Up, suspected or down.
    pub state: State,
    /// When it last changed state, and why; `None` if it has been up all along.
    pub changed: Option<(Instant, Why)>,
    /// When the next health check is due (a down or suspected worker).
    pub next_check: Option<Instant>,
    /// True while a health check asks it.
    pub checking: bool,
    /// Health checks failed in a row.
    pub failed_checks: u32,
    /// Requests in progress at it.
    pub in_progress: usize,
}

/// The records, shared by every request thread and the checking thread.
type Records = Arc<Mutex<HashMap<WorkerAddr, Record>>>;

/// Every worker's record and the settings for checking them.
pub struct Health {
    /// The first cool-down (`--cooldown`).
    cooldown: Duration,
    /// How long a health check may take to connect: the same as a request (`--connect-timeout`).
    connect_timeout: Duration,
    records: Records,
    /// Numbers the requests in progress.
    next_id: AtomicU64,
}

/// A request in progress at a worker; dropping it counts the request as finished.
pub struct InFlight {
    worker: WorkerAddr,
    id: u64,
    records: Records,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(record) = lock(&self.records).get_mut(&self.worker) {
            record.in_flight.retain(|&(id, _, _)| id != self.id);
        }
    }
}

impl Health {
    /// No records yet: every worker starts up. Nothing checks down workers until
    /// [`Health::start_checking`].
    pub fn new(cooldown: Duration, connect_timeout: Duration) -> Arc<Health> {
        Arc::new(Health {
            cooldown,
            connect_timeout,
            records: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        })
    }

    /// Starts the thread that checks down workers.
    pub fn start_checking(self: &Arc<Health>) {
        let checker = Arc::clone(self);
        let started = thread::Builder::new()
            .name("health checks".to_string())
            .spawn(move || checker.check_down_workers());
        if let Err(e) = started {
            // Without it, down workers are still tried when no other worker answers.
            common::armour::log::warn(&format!("cannot start the health-check thread: {e}"));
        }
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
        self.count_request(worker)
    }

    /// Counts a hedge at `worker` as [`Health::start_request`] does, if `worker` keeps up: it
    /// is up, none of its requests in progress has waited `slow` or longer, and it holds no
    /// other hedge. Checked and counted under one lock, so that when a worker frees up, the
    /// slow requests waiting for a worker that keeps up do not all pile onto it at once.
    pub fn start_hedge(&self, worker: &WorkerAddr, slow: Duration) -> Option<InFlight> {
        let mut records = lock(&self.records);
        let record = records.entry(worker.clone()).or_default();
        let keeps_up = record.down_until.is_none()
            && record
                .in_flight
                .iter()
                .all(|&(_, sent, hedge)| sent.elapsed() < slow && !hedge);
        if !keeps_up {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        record.in_flight.push((id, Instant::now(), true));
        Some(InFlight {
            worker: worker.clone(),
            id,
            records: Arc::clone(&self.records),
        })
    }

    /// Counts a request at `worker`.
    fn count_request(&self, worker: &WorkerAddr) -> InFlight {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.records)
            .entry(worker.clone())
            .or_default()
            .in_flight
            .push((id, Instant::now(), false));
        InFlight {
            worker: worker.clone(),
            id,
            records: Arc::clone(&self.records),
        }
    }

    /// True when `worker` is up: neither suspected nor down.
    pub fn is_up(&self, worker: &WorkerAddr) -> bool {
        lock(&self.records)
            .get(worker)
            .is_none_or(|r| r.down_until.is_none())
    }

    /// True when `worker` has given no answer since `since`.
    pub fn silent_since(&self, worker: &WorkerAddr, since: Instant) -> bool {
        lock(&self.records)
            .get(worker)
            .is_none_or(|r| r.last_answer.is_none_or(|last| last < since))
    }

    /// True when `worker` gave an answer within the last `time`.
    pub fn answered_within(&self, worker: &WorkerAddr, time: Duration) -> bool {
        lock(&self.records)
            .get(worker)
            .and_then(|r| r.last_answer)
            .is_some_and(|last| last.elapsed() < time)
    }

    /// Marks `worker` down for the first cool-down, after `failure`. True if it was up until
    /// now (worth a log line).
    pub fn mark_down(&self, worker: &WorkerAddr, failure: &Failure) -> bool {
        let mut records = lock(&self.records);
        let record = records.entry(worker.clone()).or_default();
        let was_up = record.down_until.is_none();
        if was_up {
            let now = Instant::now();
            record.down_until = Some(now + self.cooldown);
            record.failed_checks = 0;
            let (kind, text) = (failure.kind(), failure.to_string());
            record.changed = Some((now, Why::Failed { kind, text }));
        }
        was_up
    }

    /// Passes `worker` over for new requests and has it health-checked at once (see
    /// [`Record::suspected`]). True if it was up until now (worth a log line).
    pub fn suspect(&self, worker: &WorkerAddr) -> bool {
        let mut records = lock(&self.records);
        let record = records.entry(worker.clone()).or_default();
        let was_up = record.down_until.is_none();
        if was_up {
            let now = Instant::now();
            record.down_until = Some(now);
            record.suspected = true;
            record.changed = Some((now, Why::Silent));
        }
        was_up
    }

    /// Notes that `worker` answered, and marks it up. True if it was down until now (worth a
    /// log line).
    pub fn answered(&self, worker: &WorkerAddr) -> bool {
        let mut records = lock(&self.records);
        let record = records.entry(worker.clone()).or_default();
        let now = Instant::now();
        record.last_answer = Some(now);
        record.failed_checks = 0;
        record.suspected = false;
        let was_down = record.down_until.take().is_some();
        if was_down {
            record.changed = Some((now, Why::Answered));
        }
        was_down
    }

    /// Those of `workers` that are up and due for a check while the status page is watched
    /// (`status/watch.rs`): none in progress, no request in progress (a busy worker is watched
    /// by its requests), and neither checked nor heard from within `interval`, or `slow_interval`
    /// for one whose last check was slow. Each is marked as being checked.
    pub fn due_while_watched(
        &self,
        workers: &[WorkerAddr],
        interval: Duration,
        slow_interval: Duration,
    ) -> Vec<WorkerAddr> {
        let mut records = lock(&self.records);
        let mut due = Vec::new();
        for worker in workers {
            let record = records.entry(worker.clone()).or_default();
            let wait = if record.slow_to_check {
                slow_interval
            } else {
                interval
            };
            let lately = |at: Option<Instant>| at.is_some_and(|at| at.elapsed() < wait);
            if record.down_until.is_none()
                && !record.checking
                && record.in_flight.is_empty()
                && !lately(record.last_watched_check)
                && !lately(record.last_answer)
            {
                record.checking = true;
                record.last_watched_check = Some(Instant::now());
                due.push(worker.clone());
            }
        }
        due
    }

    /// Notes what a check of a worker that was up found (see [`Checked`]). True when its state
    /// changed (worth a log line). `done` ends the check; a check that waits on for a late
    /// answer is not done.
    pub fn checked(&self, worker: &WorkerAddr, found: Checked, done: bool) -> bool {
        let mut records = lock(&self.records);
        let now = Instant::now();
        let others_quick = |records: &HashMap<WorkerAddr, Record>, within: Duration| {
            records.iter().any(|(other, r)| {
                other != worker && r.quick_check_at.is_some_and(|at| at.elapsed() < within)
            })
        };
        let evidence = match found {
            Checked::Unanswered { quick_within } => others_quick(&records, quick_within),
            _ => false,
        };
        let record = records.entry(worker.clone()).or_default();
        record.checking &= !done;
        let was_up = record.down_until.is_none();
        let why = match found {
            Checked::Answered { took, quick } => {
                record.last_answer = Some(now);
                record.slow_to_check = took >= quick;
                if took < quick {
                    record.quick_check_at = Some(now);
                }
                record.suspected = false;
                let was_down = record.down_until.take().is_some();
                if was_down {
                    record.changed = Some((now, Why::AnsweredCheck));
                }
                return was_down;
            }
            _ if !was_up => return false,
            Checked::Unanswered { .. } => {
                record.slow_to_check = true;
                if !evidence {
                    return false; // every worker slow: a busy machine, not a frozen worker
                }
                Why::CheckUnanswered
            }
            Checked::Failed(failure) => Why::Failed {
                kind: failure.kind(),
                text: failure.to_string(),
            },
        };
        record.down_until = Some(now + self.cooldown);
        record.changed = Some((now, why));
        true
    }

    /// The timeout for connecting, as for a request (`--connect-timeout`).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How each of `workers` stands now, for the status page.
    pub fn view(&self, workers: &[WorkerAddr]) -> Vec<WorkerView> {
        let records = lock(&self.records);
        let view = |record: &Record| WorkerView {
            state: match record.down_until {
                None => State::Up,
                Some(_) if record.suspected => State::Suspect,
                Some(_) => State::Down,
            },
            changed: record.changed.clone(),
            next_check: record.down_until,
            checking: record.checking,
            failed_checks: record.failed_checks,
            in_progress: record.in_flight.len(),
        };
        let up_all_along = Record::default();
        workers
            .iter()
            .map(|worker| view(records.get(worker).unwrap_or(&up_all_along)))
            .collect()
    }

    /// The checking thread: forever, checks each down worker whose cool-down is over. One that
    /// answers is marked up; one that does not waits twice as long before its next check.
    fn check_down_workers(&self) {
        loop {
            thread::sleep(CHECK_TICK);
            for worker in self.due_for_a_check() {
                let alive = attempt::check(&worker, self.connect_timeout);
                let mut records = lock(&self.records);
                let Some(record) = records.get_mut(&worker) else {
                    continue; // left the registry meanwhile
                };
                record.checking = false;
                let suspected = std::mem::take(&mut record.suspected);
                if alive {
                    record.failed_checks = 0;
                    if record.down_until.take().is_some() {
                        record.changed = Some((Instant::now(), Why::AnsweredCheck));
                        say!("Worker {worker} is back up");
                    }
                } else if suspected && record.down_until.is_some() {
                    // Silent to a request and to its check: frozen or hung, not slow.
                    let cooldown = self.cooldown.as_secs_f64();
                    say!(
                        "Worker {worker} marked down: no answer to a health check within {}s \
                         either; skipping it for {cooldown}s",
                        attempt::CHECK_TIMEOUT.as_secs_f64()
                    );
                    let now = Instant::now();
                    record.down_until = Some(now + self.cooldown);
                    record.changed = Some((now, Why::CheckUnanswered));
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

    /// Records without the checking thread: these tests call the methods themselves.
    fn health(cooldown: Duration) -> Arc<Health> {
        Health::new(cooldown, Duration::from_secs(1))
    }

    /// The failure the tests mark workers down for.
    const CLOSED: Failure = Failure::ClosedWithoutAnswer;

    /// A failed worker is skipped until marked up; marking down and up are logged once each.
    #[test]
    fn down_workers_are_skipped_until_up() {
        let workers = [WorkerAddr::local(1), WorkerAddr::local(2)];
        let health = health(Duration::from_secs(3600));
        assert!(health.mark_down(&WorkerAddr::local(1), &CLOSED));
        assert!(
            !health.mark_down(&WorkerAddr::local(1), &CLOSED),
            "already down"
        );
        assert_eq!(
            health.split(&workers),
            (vec![WorkerAddr::local(2)], vec![WorkerAddr::local(1)])
        );
        assert!(health.answered(&WorkerAddr::local(1)));
        assert!(!health.answered(&WorkerAddr::local(1)), "already up");
        assert_eq!(health.split(&workers), (workers.to_vec(), vec![]));
    }

    /// Requests in progress are counted per worker until their guards drop.
    #[test]
    fn counts_requests_in_progress() {
        let health = health(Duration::from_secs(5));
        let workers = [WorkerAddr::local(1), WorkerAddr::local(2)];
        let first = health.start_request(&WorkerAddr::local(1));
        let second = health.start_request(&WorkerAddr::local(1));
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

    /// The view says each state, since when and why: down after a failure, in the log's words;
    /// suspected; back up after an answer. (A health check's verdicts need the checking
    /// thread: `tests/status.rs` sees them end to end.)
    #[test]
    fn the_view_says_why_and_since_when() {
        let health = health(Duration::from_secs(3600));
        let (first, second) = (WorkerAddr::local(1), WorkerAddr::local(2));
        let view = |w: &WorkerAddr| health.view(std::slice::from_ref(w)).remove(0);
        let up = view(&first);
        assert_eq!(
            (up.state, up.changed, up.next_check),
            (State::Up, None, None)
        );

        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let before = Instant::now();
        health.mark_down(&first, &Failure::CouldNotConnect(refused));
        let down = view(&first);
        assert_eq!(down.state, State::Down);
        let (since, why) = down.changed.unwrap();
        assert!(since >= before);
        let text = "cannot connect: connection refused".to_string();
        assert_eq!(
            why,
            Why::Failed {
                kind: "cannot-connect",
                text
            }
        );
        assert!(
            down.next_check.unwrap() > since,
            "checked after its cool-down"
        );

        health.suspect(&second);
        let suspect = view(&second);
        assert_eq!(suspect.state, State::Suspect);
        assert_eq!(suspect.changed.unwrap().1, Why::Silent);

        health.answered(&first);
        let back = view(&first);
        assert_eq!(
            (back.state, back.changed.unwrap().1),
            (State::Up, Why::Answered)
        );
        let _in_flight = health.start_request(&first);
        assert_eq!(view(&first).in_progress, 1);
    }

    /// A worker takes one hedge at a time, and none once a request there has waited too
    /// long or while it is down: the slow requests waiting for a worker that keeps up do not
    /// all pile onto the first one found.
    #[test]
    fn one_hedge_at_a_time_and_only_to_a_worker_that_keeps_up() {
        let health = health(Duration::from_secs(3600));
        let slow = Duration::from_secs(1);
        let first = health.start_hedge(&WorkerAddr::local(1), slow);
        assert!(first.is_some());
        assert!(
            health.start_hedge(&WorkerAddr::local(1), slow).is_none(),
            "a second hedge"
        );
        drop(first);
        let _request = health.start_request(&WorkerAddr::local(1));
        assert!(
            health.start_hedge(&WorkerAddr::local(1), slow).is_some(),
            "a fresh request is fine"
        );
        let _old = health.start_request(&WorkerAddr::local(2));
        assert!(
            health
                .start_hedge(&WorkerAddr::local(2), Duration::ZERO)
                .is_none(),
            "not keeping up"
        );
        health.mark_down(&WorkerAddr::local(3), &CLOSED);
        assert!(
            health.start_hedge(&WorkerAddr::local(3), slow).is_none(),
            "down"
        );
    }

    /// A check of a worker that was up: unanswered while another worker answered its check at
    /// once, it is down and why; unanswered where no worker answered at once, it stays up;
    /// answered late, it is back up; a failure of a worker already down changes nothing.
    #[test]
    fn a_watched_check_marks_down_and_up() {
        let health = health(Duration::from_secs(3600));
        let (interval, within) = (Duration::from_secs(2), Duration::from_secs(5));
        let due = health.due_while_watched(
            &[WorkerAddr::local(1), WorkerAddr::local(2)],
            interval,
            interval,
        );
        assert_eq!(due, [WorkerAddr::local(1), WorkerAddr::local(2)]);
        assert!(
            health
                .due_while_watched(&[WorkerAddr::local(1)], interval, interval)
                .is_empty()
        );
        let quick = Duration::from_secs(1);
        let unanswered = Checked::Unanswered {
            quick_within: within,
        };
        assert!(
            !health.checked(&WorkerAddr::local(1), unanswered, false),
            "nobody answered at once"
        );
        let answered = |took| Checked::Answered { took, quick };
        health.checked(&WorkerAddr::local(2), answered(Duration::ZERO), true);
        assert!(health.checked(&WorkerAddr::local(1), unanswered, false));
        let view = health.view(&[WorkerAddr::local(1)]).remove(0);
        assert_eq!(view.state, State::Down);
        assert_eq!(view.changed.unwrap().1, Why::CheckUnanswered);
        assert!(!health.checked(&WorkerAddr::local(1), Checked::Failed(&CLOSED), false));
        assert!(health.checked(
            &WorkerAddr::local(1),
            answered(Duration::from_secs(3)),
            true
        ));
        let view = health.view(&[WorkerAddr::local(1)]).remove(0);
        assert_eq!((view.state, view.checking), (State::Up, false));
        assert_eq!(view.changed.unwrap().1, Why::AnsweredCheck);
        let _busy = health.start_request(&WorkerAddr::local(3));
        assert!(
            health
                .due_while_watched(&[WorkerAddr::local(3)], interval, interval)
                .is_empty()
        );
    }

    /// Records of workers that left the registry are dropped.
    #[test]
    fn records_do_not_outgrow_the_registry() {
        let health = health(Duration::from_secs(5));
        for port in 1..=100 {
            health.mark_down(&WorkerAddr::local(port), &CLOSED);
        }
        let (up, down) = health.split(&[WorkerAddr::local(1), WorkerAddr::local(200)]);
        assert_eq!(
            (up, down),
            (vec![WorkerAddr::local(200)], vec![WorkerAddr::local(1)])
        );
        assert_eq!(lock(&health.records).len(), 1);
    }
}

//! While the status page is watched, every worker that is up is health-checked every
//! [`INTERVAL`], as HAProxy checks its servers every `inter`: a worker killed or frozen while
//! the lab is idle is shown down within one interval and the check's time, not left `up` until
//! a request happens to fail on it. A projector that says "up" about a killed worker teaches
//! the wrong thing.
//!
//! The checks never fight the lesson. Without a watcher nothing is checked (`health.rs`). A
//! worker with requests in progress is watched by its requests, and one that answered anything
//! lately is plainly alive: neither is asked. A worker that sleeps before it answers (a
//! student's `time.sleep`, one connection at a time) answers a check late: it is asked every
//! [`SLOW_INTERVAL`] only, and an unanswered check marks a worker down only when another
//! worker answered its own at once, for where every worker is slow the machine is, and a
//! frozen worker is told from a slow one only by a worker that answers at once. A check never
//! gives up on its connection early: the worker answers into it, and is back up when it does.

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::lock;
use common::registry::WorkerAddr;
use common::say;

use crate::armour::attempt::{self, CHECK_TIMEOUT, Failure, Timeouts};
use crate::armour::health::{Checked, Health};
use crate::shared::LoadBalancer;

/// How often a worker that is up is checked while the page is watched: HAProxy's default
/// `inter`. A killed worker is shown down within it; a frozen one within it and
/// [`CHECK_TIMEOUT`].
pub const INTERVAL: Duration = Duration::from_secs(2);

/// How often a worker whose last check took long (one that sleeps before it answers, as a
/// student's `time.sleep` does) is checked: HAProxy's `inter 10s` of our printed
/// configuration, so that a one-connection-at-a-time worker spends little of its time on checks.
const SLOW_INTERVAL: Duration = Duration::from_secs(10);

/// An answer to a check within this is at once: a live worker answers `1` in microseconds.
const QUICK: Duration = Duration::from_secs(1);

/// How long after another worker answered its check at once an unanswered check marks a worker
/// down: this round of checks and the one before.
const QUICK_WITHIN: Duration = Duration::from_secs(5);

/// How long after its last read the page counts as watched: an open page reads its data every
/// second, so a closed one stops the checks within a few seconds.
const WATCHED_FOR: Duration = Duration::from_secs(5);

/// How many workers a round of checks asks: a room's workers fit many times over, and a
/// registry that has collected thousands of entries costs no more than this every interval.
const MAX_CHECKED: usize = 64;

/// How long a check that went unanswered keeps its connection open for the answer: as long
/// as a request would wait by default (`--worker-timeout`), so a busy worker answers into an
/// open connection.
const LATE_ANSWER: Duration = Duration::from_secs(30);

/// How often the checking thread looks whether the page is watched and checks are due.
const TICK: Duration = Duration::from_millis(100);

/// When the page was last read: shared by the page's server and the checking thread.
#[derive(Default)]
pub struct Watch {
    /// When `/` or `/status.json` was last served; `None` before the first time.
    last_read: Mutex<Option<Instant>>,
}

impl Watch {
    /// Notes that the page or its data was read just now.
    pub fn read_now(&self) {
        *lock(&self.last_read) = Some(Instant::now());
    }

    /// True while the page has been read within [`WATCHED_FOR`].
    fn watched(&self) -> bool {
        lock(&self.last_read).is_some_and(|at| at.elapsed() < WATCHED_FOR)
    }
}

/// Starts the thread that checks the workers that are up while the page is watched.
pub fn start(watch: Arc<Watch>, lb: Arc<LoadBalancer>) {
    let started = thread::Builder::new()
        .name("status checks".to_string())
        .spawn(move || {
            let mut last_round: Option<Instant> = None;
            loop {
                thread::sleep(TICK);
                let due = last_round.is_none_or(|at| at.elapsed() >= INTERVAL);
                if !due || !watch.watched() {
                    continue;
                }
                last_round = Some(Instant::now());
                let mut workers = lb.registry.read_workers();
                workers.truncate(MAX_CHECKED);
                let due = lb
                    .health
                    .due_while_watched(&workers, INTERVAL, SLOW_INTERVAL);
                for worker in due {
                    let health = Arc::clone(&lb.health);
                    let theirs = worker.clone();
                    let spawned = thread::Builder::new().spawn(move || check(&health, &theirs));
                    if spawned.is_err() {
                        check(&lb.health, &worker); // no thread to spare: checked here
                    }
                }
            }
        });
    if let Err(e) = started {
        common::armour::log::warn(&format!("cannot start the status page's checks: {e}"));
    }
}

/// Checks one worker that is up: asks it for 1!, as the health checks of down workers do. One
/// that cannot be reached is marked down; one that does not answer within [`CHECK_TIMEOUT`]
/// is marked down if another worker answered its check at once (else the machine is slow, not
/// the worker frozen). An unanswered check waits on for the answer, which brings the worker
/// back up.
fn check(health: &Health, worker: &WorkerAddr) {
    let timeouts = Timeouts {
        connect: health.connect_timeout(),
        answer: LATE_ANSWER,
    };
    let sent = Instant::now();
    let answered = |took| Checked::Answered { took, quick: QUICK };
    let failure = match attempt::send(worker, 1, timeouts) {
        Err(failure) => failure,
        Ok(mut asked) => match asked.answer_within(CHECK_TIMEOUT) {
            Some(Ok(_) | Err(Failure::Busy)) => {
                health.checked(worker, answered(sent.elapsed()), true);
                return;
            }
            Some(Err(failure)) => failure,
            None => {
                let unanswered = Checked::Unanswered {
                    quick_within: QUICK_WITHIN,
                };
                if health.checked(worker, unanswered, false) {
                    let cooldown = health.cooldown().as_secs_f64();
                    say!(
                        "Worker {worker} marked down: no answer to a health check within {}s \
                         while other workers answered theirs at once; skipping it for \
                         {cooldown}s",
                        CHECK_TIMEOUT.as_secs_f64()
                    );
                }
                let back = match asked.answer() {
                    Ok(_) | Err(Failure::Busy) => {
                        health.checked(worker, answered(sent.elapsed()), true)
                    }
                    Err(failure) => {
                        health.checked(worker, Checked::Failed(&failure), true);
                        false
                    }
                };
                if back {
                    say!("Worker {worker} is back up");
                }
                return;
            }
        },
    };
    if health.checked(worker, Checked::Failed(&failure), true) {
        let cooldown = health.cooldown().as_secs_f64();
        say!(
            "Worker {worker} marked down: its health check failed ({failure}); \
             skipping it for {cooldown}s"
        );
    }
}

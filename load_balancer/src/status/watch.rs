//! While the status page is watched, every worker that is up is health-checked every
//! [`INTERVAL`], as HAProxy checks its servers every `inter`: a worker killed or frozen while
//! the lab is idle is shown down within one interval and the check's time, not left `up` until
//! a request happens to fail on it. A projector that says "up" about a killed worker teaches
//! the wrong thing.
//!
//! Without a watcher nothing is checked: a lab at work and nobody looking sees no checks at
//! all (`health.rs`); and a worker that answered anything within the interval is plainly alive
//! and not asked. A check never gives up on a worker's connection early: a busy Python
//! worker, which serves one connection at a time, is shown down while it does not answer, and
//! back up when it answers the check it held, which it answers into an open connection (one
//! closed under it would kill it).

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::registry::WorkerAddr;
use common::{lock, say};

use crate::LoadBalancer;
use crate::attempt::{self, CHECK_TIMEOUT, Failure, Timeouts};
use crate::health::Health;

/// How often a worker that is up is checked while the page is watched: HAProxy's default
/// `inter`. A killed worker is shown down within it; a frozen one within it and
/// [`CHECK_TIMEOUT`].
pub const INTERVAL: Duration = Duration::from_secs(2);

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
                for worker in lb.health.due_while_watched(&workers, INTERVAL) {
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
        common::log::warn(&format!("cannot start the status page's checks: {e}"));
    }
}

/// Checks one worker that is up: asks it for 1!, as the health checks of down workers do, and
/// marks it down if it cannot be reached or does not answer within [`CHECK_TIMEOUT`]. An
/// unanswered check waits on for the answer, which brings the worker back up.
fn check(health: &Health, worker: &WorkerAddr) {
    let timeouts = Timeouts {
        connect: health.connect_timeout(),
        answer: LATE_ANSWER,
    };
    let failure = match attempt::send(worker, 1, timeouts) {
        Err(failure) => failure,
        Ok(mut asked) => match asked.answer_within(CHECK_TIMEOUT) {
            Some(Ok(_) | Err(Failure::Busy)) => {
                health.checked(worker, Ok(true), true);
                return;
            }
            Some(Err(failure)) => failure,
            None => {
                if health.checked(worker, Ok(false), false) {
                    let cooldown = health.cooldown().as_secs_f64();
                    say!(
                        "Worker {worker} marked down: no answer to a health check within {}s; \
                         skipping it for {cooldown}s",
                        CHECK_TIMEOUT.as_secs_f64()
                    );
                }
                let back = match asked.answer() {
                    Ok(_) | Err(Failure::Busy) => health.checked(worker, Ok(true), true),
                    Err(failure) => {
                        health.checked(worker, Err(&failure), true);
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
    if health.checked(worker, Err(&failure), true) {
        let cooldown = health.cooldown().as_secs_f64();
        say!(
            "Worker {worker} marked down: its health check failed ({failure}); \
             skipping it for {cooldown}s"
        );
    }
}

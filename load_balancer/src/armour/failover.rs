//! Every rule by which a request goes to another worker, in one place. load_balancer.py asks
//! one worker (lines 40–55) and fails the request on any error; ours:
//!
//! - tries the workers in the order `main.rs` gives it: the strategy's, those that are up
//!   first (`strategy.rs`);
//! - goes on to the next worker when one *fails*: refused, closed without an answer, sent a
//!   wrong answer, or timed out (`--worker-timeout`). A busy or refusing worker is left up;
//!   the others are marked down, so new requests skip them (`health.rs`);
//! - never gives up on a worker because it is slow. After [`SLOW_ANSWER`] without an answer
//!   (longer for a large n), the request is sent too to the next worker in the order that
//!   keeps up with its own requests, wherever it stands (a hedged request: Envoy's
//!   `hedge_on_per_try_timeout`; Dean and Barroso, "The Tail at Scale"). While every worker
//!   asked is silent (has answered nothing at all since, as a frozen one), the next is asked
//!   each time as long has passed: a second silent one is never waited on, so two frozen
//!   neighbours cost a request two seconds, not the worker timeout. A worker that is slow but
//!   answers others gets one hedge. The first right answer wins — n! is the same whoever
//!   computes it — and the other attempts run to their end on their own threads, their answers
//!   dropped;
//! - suspects a worker that has answered nothing at all while another worker answered its
//!   request in under [`SLOW_ANSWER`]: new requests pass it over while a health check tells a
//!   frozen worker (no answer: marked down) from a swamped one (an answer: back). A worker
//!   stopped with Ctrl-Z costs the requests that met it about a second each, and then nothing.
//!   A worker that is only slow is not suspected: where every worker is slow, the other one
//!   is slow too;
//! - sends a request that workers take and fail with to [`MAX_TAKEN_AND_FAILED`] workers at
//!   most, and starts no new attempt after [`MAX_TIME_TRYING`];
//! - tries workers that are down only when no worker that is up could be reached, and then
//!   [`MAX_DOWN_TRIED`] of them at most (HAProxy's `retries`): a request that every live
//!   worker refuses (above their `--max-n`) is answered at once, and no request walks a
//!   registry full of dead entries.
//!
//! With `--status`, each request and each of its attempts is told as it happens to a
//! [`Watcher`], the status page's board; without it there is none, and nothing is noted.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::lock;
use common::registry::WorkerAddr;
use common::{protocol, say};

use crate::armour::attempt::{self, Attempt, Failure, Timeouts};
use crate::armour::health::{Health, InFlight};

/// How long a request waits for its worker before it asks the next worker too: 100000! takes
/// about a tenth of a second, so a request that waited a second is worth asking about twice.
/// A larger n waits longer (see [`patience`]).
pub const SLOW_ANSWER: Duration = Duration::from_secs(1);

/// How much longer a request waits per million bytes its answer may have: 1,000,000! has 5.6
/// million digits and takes our worker about 3.5 s, which must not look slow.
const PER_MILLION_DIGITS: Duration = Duration::from_secs(1);

/// How long a request for n! waits before it asks the next worker too: [`SLOW_ANSWER`], and
/// [`PER_MILLION_DIGITS`] more for each million digits n! may have.
fn patience(number: u64) -> Duration {
    let millions = common::armour::answers::answer_limit(number) as f64 / 1e6;
    SLOW_ANSWER + PER_MILLION_DIGITS.mul_f64(millions)
}

/// How many workers may take one request and fail with it (close without an answer, time
/// out), counting those still working on it, before the client is told: HAProxy's `retries`
/// after a server took the request. A request that kills the workers it reaches (a big n at
/// Python workers) kills at most two.
pub const MAX_TAKEN_AND_FAILED: usize = 2;

/// How many workers that are down one request may try, when no worker that is up could be
/// reached: HAProxy's default `retries 3`. A down worker comes back through its health check,
/// not by requests walking every dead entry of the registry.
pub const MAX_DOWN_TRIED: usize = 3;

/// After this long, a request starts no new attempt. Refused connections cost microseconds,
/// so 50 dead entries are nothing; this bounds the walk when the registry has collected
/// thousands of them, or unreachable hosts that each cost a connect timeout.
pub const MAX_TIME_TRYING: Duration = Duration::from_secs(10);

/// A worker that answered within this long and now does not accept in time is alive with a
/// full accept queue (a student's `listen(1)` under 30 clients): the request goes to the next
/// worker, and this one stays up.
const RECENTLY: Duration = Duration::from_secs(10);

/// How often a slow request looks again for a worker to hedge to, while none keeps up.
const HEDGE_RECHECK: Duration = Duration::from_millis(250);

/// Whoever follows a request's steps as they happen: with `--status`, the status page's board
/// (`extras/status/board.rs`).
pub trait Watcher: Send + Sync {
    /// `worker` is being asked.
    fn asked(&self, worker: &WorkerAddr);
    /// What came of asking `worker`.
    fn ended(&self, worker: &WorkerAddr, result: &Result<Vec<u8>, Failure>);
    /// `worker`'s answer went to the client.
    fn relayed(&self, worker: &WorkerAddr);
    /// What the client is sent: n!, or the `Error: ` answer.
    fn finished(&self, result: &Result<Vec<u8>, String>);
}

/// A request's watcher, if it has one; cloned into each thread that runs one of its attempts.
#[derive(Clone, Default)]
struct Trace(Option<Arc<dyn Watcher>>);

impl Trace {
    fn asked(&self, worker: &WorkerAddr) {
        if let Some(watcher) = &self.0 {
            watcher.asked(worker);
        }
    }

    fn ended(&self, worker: &WorkerAddr, result: &Result<Vec<u8>, Failure>) {
        if let Some(watcher) = &self.0 {
            watcher.ended(worker, result);
        }
    }

    fn relayed(&self, worker: &WorkerAddr) {
        if let Some(watcher) = &self.0 {
            watcher.relayed(worker);
        }
    }
}

/// What asking the workers needs of the load balancer's shared state.
pub struct Workers<'a> {
    /// Which workers failed lately, and how busy each is.
    pub health: &'a Arc<Health>,
    /// How long a worker may take to accept a connection, and to answer.
    pub timeouts: Timeouts,
}

/// Asks the workers for n! in `order` (the strategy's, its first `up` workers up) until one
/// answers it, as the rules above say: the answer, or the `Error: ` answer for the client.
/// `watcher`, with `--status`, is told each step.
pub fn forward(
    workers: Workers<'_>,
    (order, up): (Vec<WorkerAddr>, usize),
    number: u64,
    watcher: Option<Arc<dyn Watcher>>,
) -> Result<Vec<u8>, String> {
    let trace = Trace(watcher);
    let result = ask_in_order(&workers, order, up, number, &trace);
    if let Some(watcher) = &trace.0 {
        watcher.finished(&result);
    }
    result
}

/// [`forward`]'s work, each step noted on `trace`.
fn ask_in_order(
    lb: &Workers<'_>,
    order: Vec<WorkerAddr>,
    up: usize,
    number: u64,
    trace: &Trace,
) -> Result<Vec<u8>, String> {
    let mut walk = Walk {
        up,
        tried: vec![false; order.len()],
        next: 0,
        order,
        down_tried: 0,
        reached_a_live_worker: false,
        busy: false,
        number,
        patience: patience(number),
        timeouts: lb.timeouts,
        health: lb.health,
        started: Instant::now(),
        took_and_failed: 0,
        last_failure_took: false,
        refusal: None,
        wrong_answer: None,
        trace,
    };
    // The usual path, all on this thread: a worker answers within SLOW_ANSWER, or fails at
    // once and the next is asked.
    while let Some(worker) = walk.next_to_try() {
        let result = match Asked::send(&worker, number, walk.timeouts, walk.health, trace) {
            Err(failure) => Err(failure),
            Ok(mut asked) => match asked.attempt.answer_within(walk.patience) {
                None => return walk.hedged(asked),
                Some(result) => result,
            },
        };
        record(walk.health, trace, &worker, &result);
        match result {
            Ok(answer) => {
                say!("Forwarded to worker {worker}");
                trace.relayed(&worker);
                return Ok(answer);
            }
            Err(failure) => walk.failed(failure)?,
        }
    }
    Err(walk.error())
}

/// One request's walk over the workers: where it may go next, and what it met so far.
struct Walk<'a> {
    /// Every worker once, in the order to try them: those that were up first.
    order: Vec<WorkerAddr>,
    /// How many workers at the start of `order` were up.
    up: usize,
    /// Which workers in `order` were tried already: hedges may skip ahead.
    tried: Vec<bool>,
    /// Every worker before this one in `order` was tried.
    next: usize,
    /// How many workers that were down it tried ([`MAX_DOWN_TRIED`]).
    down_tried: usize,
    /// Whether a live worker answered with an `Error: ` (busy, or a refusal): then workers
    /// that are down are not tried.
    reached_a_live_worker: bool,
    /// Whether a worker answered `Error: server busy`, for the client if no worker answers.
    busy: bool,
    number: u64,
    /// How long an attempt may wait before another worker is asked too ([`patience`]).
    patience: Duration,
    timeouts: Timeouts,
    health: &'a Arc<Health>,
    started: Instant,
    /// Workers that took the request and failed with it.
    took_and_failed: usize,
    /// Whether the last failure was one of those: such a request may go to one more worker
    /// even past [`MAX_TIME_TRYING`].
    last_failure_took: bool,
    /// A worker's `Error: ` answer, for the client if no worker computes n!.
    refusal: Option<Vec<u8>>,
    /// The last wrong answer, said in the client's error answer.
    wrong_answer: Option<String>,
    /// Where the status page notes each attempt (`--status`).
    trace: &'a Trace,
}

/// What became of one attempt that ran on a thread of its own.
struct Outcome {
    worker: WorkerAddr,
    /// How long the worker took, from sending the request.
    took: Duration,
    result: Result<Vec<u8>, Failure>,
}

impl Walk<'_> {
    /// The next worker to try after a failure, if the limits allow one: the first not yet
    /// tried. A worker that is down is tried only while no live worker was reached, and
    /// [`MAX_DOWN_TRIED`] at most.
    fn next_to_try(&mut self) -> Option<WorkerAddr> {
        let walked_too_long = self.started.elapsed() > MAX_TIME_TRYING && !self.last_failure_took;
        if self.took_and_failed >= MAX_TAKEN_AND_FAILED || walked_too_long {
            return None;
        }
        while self.tried.get(self.next) == Some(&true) {
            self.next += 1;
        }
        let index = self.next;
        let worker = self.order.get(index)?.clone();
        if index >= self.up {
            if self.reached_a_live_worker || self.down_tried >= MAX_DOWN_TRIED {
                return None;
            }
            self.down_tried += 1;
        }
        self.tried[index] = true;
        Some(worker)
    }

    /// The worker to ask as well as the `waited_on` attempts, which are slow: the first worker
    /// not yet tried, anywhere in the order, that keeps up with its own requests (where every
    /// worker is slow, another request would only add work) and holds no other hedge, if the
    /// limits allow one. The hedge is counted at it from now on.
    fn next_to_hedge(&mut self, waited_on: usize) -> Option<(WorkerAddr, InFlight)> {
        // Once a worker took the request and failed, it may be a request that kills or hangs
        // the workers it reaches: counting those still at it, two at most.
        let failed_and_running = match self.took_and_failed {
            0 => 0,
            failed => failed + waited_on,
        };
        if failed_and_running >= MAX_TAKEN_AND_FAILED || self.started.elapsed() > MAX_TIME_TRYING {
            return None;
        }
        let (index, in_flight) = (self.next..self.order.len()).find_map(|i| {
            let untried = !self.tried[i];
            let hedge = untried.then(|| self.health.start_hedge(&self.order[i], SLOW_ANSWER));
            Some((i, hedge.flatten()?))
        })?;
        self.tried[index] = true;
        Some((self.order[index].clone(), in_flight))
    }

    /// Counts a failure against the request's limits. `Err` with the client's error answer
    /// once the request may go no further.
    fn failed(&mut self, failure: Failure) -> Result<(), String> {
        self.last_failure_took = failure.took_the_request();
        match failure {
            Failure::Busy => {
                self.busy = true;
                self.reached_a_live_worker = true;
            }
            Failure::Refused(answer) => {
                self.refusal = Some(answer);
                self.reached_a_live_worker = true;
            }
            Failure::WrongAnswer { why, sent } => {
                self.wrong_answer = Some(format!("answered {sent:?} ({why})"));
            }
            _ if self.last_failure_took => self.took_and_failed += 1,
            _ => {}
        }
        if self.took_and_failed >= MAX_TAKEN_AND_FAILED {
            return Err(self.error());
        }
        Ok(())
    }

    /// The client's answer when no worker answered n!: a worker's own refusal, said as it
    /// was; `Error: server busy` when a worker was only full, so the client may ask again;
    /// the lab's `Error: Worker communication failed.`, saying what a lying worker sent; or,
    /// when two workers took the request and failed, that it goes no further.
    fn error(&self) -> String {
        if self.took_and_failed >= MAX_TAKEN_AND_FAILED {
            return protocol::GAVE_UP.to_string();
        }
        if let Some(refusal) = &self.refusal {
            return String::from_utf8_lossy(refusal).into_owned();
        }
        if self.busy {
            return protocol::BUSY.to_string();
        }
        match &self.wrong_answer {
            Some(what) => {
                let failed = protocol::WORKER_FAILED.trim_end_matches('.');
                format!("{failed}: a worker {what}.")
            }
            None => protocol::WORKER_FAILED.to_string(),
        }
    }

    /// The request's first attempt is slow: from now on every attempt runs on a thread of its
    /// own, and this thread waits for the first right answer, asking more workers as the rules
    /// allow.
    fn hedged(mut self, first: Asked) -> Result<Vec<u8>, String> {
        let (outcomes, arrived) = mpsc::channel();
        let mut running = vec![(first.attempt.worker.clone(), first.attempt.sent)];
        wait_in_background(
            Job::Wait(first),
            self.number,
            self.timeouts,
            self.health,
            self.trace,
            &outcomes,
        );
        loop {
            if let Some(job) = self.another_worker(&running) {
                running.push((job.worker().clone(), Instant::now()));
                let (number, timeouts) = (self.number, self.timeouts);
                wait_in_background(job, number, timeouts, self.health, self.trace, &outcomes);
                continue;
            }
            if running.is_empty() {
                return Err(self.error());
            }
            let outcome = match arrived.recv_timeout(HEDGE_RECHECK) {
                Ok(outcome) => outcome,
                Err(RecvTimeoutError::Timeout) => continue,
                // Cannot happen while `outcomes` is alive here; said, not assumed.
                Err(RecvTimeoutError::Disconnected) => return Err(self.error()),
            };
            running.retain(|(worker, _)| *worker != outcome.worker);
            match outcome.result {
                Ok(answer) => {
                    self.suspect_the_silent(&running, &outcome.worker, outcome.took);
                    say!("Forwarded to worker {}", outcome.worker);
                    self.trace.relayed(&outcome.worker);
                    return Ok(answer);
                }
                Err(failure) => self.failed(failure)?,
            }
        }
    }

    /// Whom to ask next while `running` attempts are under way: after a failure left none
    /// running, the next worker; while every attempt still waited on has been slow, a worker
    /// to hedge to. Attempts at workers found silent meanwhile (suspected or marked down by
    /// other requests) are not waited on.
    fn another_worker(&mut self, running: &[(WorkerAddr, Instant)]) -> Option<Job> {
        if running.is_empty() {
            return self.next_to_try().map(Job::Ask);
        }
        let waited_on: Vec<&(WorkerAddr, Instant)> = running
            .iter()
            .filter(|(worker, _)| self.health.is_up(worker))
            .collect();
        if waited_on
            .iter()
            .any(|(_, sent)| sent.elapsed() < self.patience)
        {
            return None;
        }
        // Past the first hedge, only while every worker asked is silent (frozen, not busy with
        // others): a second silent one is not waited on.
        let silent =
            |(worker, sent): &&(WorkerAddr, Instant)| self.health.silent_since(worker, *sent);
        if waited_on.len() >= 2 && !waited_on.iter().all(silent) {
            return None;
        }
        let (worker, in_flight) = self.next_to_hedge(waited_on.len())?;
        let (slow, sent) = running.last()?;
        let waited = sent.elapsed().as_secs_f64();
        say!("Worker {slow} has not answered in {waited:.1}s; asking worker {worker} too");
        Some(Job::Hedge(worker, in_flight))
    }

    /// Suspects each worker still working on the request that has answered nothing at all
    /// since it was asked, longer ago than the request's patience, while `winner` answered in
    /// under [`SLOW_ANSWER`]: frozen or hung, or only swamped. New requests pass it over while a
    /// health check tells which: a frozen worker does not answer the check either and is marked
    /// down; a swamped one answers and is back. It keeps the request either way, and is back
    /// the moment it answers anything.
    fn suspect_the_silent(
        &self,
        running: &[(WorkerAddr, Instant)],
        winner: &WorkerAddr,
        took: Duration,
    ) {
        for (worker, sent) in running {
            let silent = sent.elapsed() >= self.patience && self.health.silent_since(worker, *sent);
            if silent && took < SLOW_ANSWER && self.health.suspect(worker) {
                say!(
                    "Worker {worker} is slow: no answer in {:.1}s while worker {winner} \
                     answered in {:.3}s; checking it, and new requests go to other workers \
                     meanwhile",
                    sent.elapsed().as_secs_f64(),
                    took.as_secs_f64()
                );
            }
        }
    }
}

/// An attempt, and its place among the worker's requests in progress (for least-connections
/// and for telling whether a worker keeps up), which ends when the attempt does.
struct Asked {
    attempt: Attempt,
    _in_flight: InFlight,
}

impl Asked {
    /// Counts the request at `worker`, then connects and sends it.
    fn send(
        worker: &WorkerAddr,
        number: u64,
        timeouts: Timeouts,
        health: &Health,
        trace: &Trace,
    ) -> Result<Asked, Failure> {
        trace.asked(worker);
        Asked::send_counted(worker, health.start_request(worker), number, timeouts)
    }

    /// Connects to `worker` and sends it the request, already counted there as `in_flight`.
    fn send_counted(
        worker: &WorkerAddr,
        in_flight: InFlight,
        number: u64,
        timeouts: Timeouts,
    ) -> Result<Asked, Failure> {
        let attempt = attempt::send(worker, number, timeouts)?;
        Ok(Asked {
            attempt,
            _in_flight: in_flight,
        })
    }
}

/// What a thread of an attempt does: wait for one already sent, ask a worker afresh, or ask a
/// worker a hedge already counted there.
enum Job {
    Wait(Asked),
    Ask(WorkerAddr),
    Hedge(WorkerAddr, InFlight),
}

impl Job {
    /// The worker asked.
    fn worker(&self) -> &WorkerAddr {
        match self {
            Job::Wait(asked) => &asked.attempt.worker,
            Job::Ask(worker) | Job::Hedge(worker, _) => worker,
        }
    }

    /// Runs the attempt to its end, and records what it says about the worker.
    fn run(self, number: u64, timeouts: Timeouts, health: &Health, trace: &Trace) -> Outcome {
        let (worker, sent, result) = match self {
            Job::Wait(asked) => {
                let (worker, sent) = (asked.attempt.worker.clone(), asked.attempt.sent);
                (worker, sent, asked.attempt.answer())
            }
            Job::Ask(worker) => {
                let sent = Instant::now();
                let result = Asked::send(&worker, number, timeouts, health, trace)
                    .and_then(|asked| asked.attempt.answer());
                (worker, sent, result)
            }
            Job::Hedge(worker, in_flight) => {
                let sent = Instant::now();
                trace.asked(&worker);
                let result = Asked::send_counted(&worker, in_flight, number, timeouts)
                    .and_then(|asked| asked.attempt.answer());
                (worker, sent, result)
            }
        };
        record(health, trace, &worker, &result);
        Outcome {
            worker,
            took: sent.elapsed(),
            result,
        }
    }
}

/// Runs `job` on a thread of its own, which sends its outcome on `outcomes`; if no thread can
/// start, runs it here.
fn wait_in_background(
    job: Job,
    number: u64,
    timeouts: Timeouts,
    health: &Arc<Health>,
    trace: &Trace,
    outcomes: &Sender<Outcome>,
) {
    // The job is handed over through a slot, so that it is still here if the thread never
    // starts (the closure that held it is then dropped unrun).
    let slot = Arc::new(Mutex::new(Some(job)));
    let (theirs, their_health, their_trace, their_outcomes) = (
        Arc::clone(&slot),
        Arc::clone(health),
        trace.clone(),
        outcomes.clone(),
    );
    let spawned = thread::Builder::new().spawn(move || {
        let job = lock(&theirs).take();
        if let Some(job) = job {
            let outcome = job.run(number, timeouts, &their_health, &their_trace);
            // The request may have its answer already; then nobody listens, which is fine.
            let _ = their_outcomes.send(outcome);
        }
    });
    if spawned.is_err() {
        let job = lock(&slot).take();
        if let Some(job) = job {
            let _ = outcomes.send(job.run(number, timeouts, health, trace));
        }
    }
}

/// Logs what an attempt says about its worker and marks the worker up or down. Every attempt
/// ends here, also those whose request another worker answered meanwhile: a late right answer
/// brings a suspected or down worker back up.
fn record(health: &Health, trace: &Trace, worker: &WorkerAddr, result: &Result<Vec<u8>, Failure>) {
    trace.ended(worker, result);
    let failure = match result {
        Ok(_) => {
            if health.answered(worker) {
                say!("Worker {worker} is back up");
            }
            return;
        }
        Err(failure) => failure,
    };
    say!("Error communicating with worker {worker}: {failure}");
    let alive = match failure {
        Failure::Busy | Failure::Refused(_) => true,
        _ => failure.is_connect_timeout() && health.answered_within(worker, RECENTLY),
    };
    if !alive && health.mark_down(worker, failure) {
        let cooldown = health.cooldown().as_secs_f64();
        say!("Worker {worker} marked down; skipping it for {cooldown}s");
    }
}

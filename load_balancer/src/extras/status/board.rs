//! What the status page remembers that the load balancer itself does not need: how many
//! requests each worker answered and failed, the last [`RECENT`] requests with each of their
//! attempts, and how many requests finished in each of the last seconds.
//!
//! `failover.rs` tells each request's [`Notes`] what happens as it goes. Without `--status` there
//! is no board and no notes, and the request path runs none of this code.
//! With it, the notes must not slow serving: no lock is shared by every request. The counts are
//! atomic, each worker's under a lock taken to read (shared) but for a worker's first count, and
//! each of the latest requests has a place of its own, taken in turn.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::armour::lock;
use common::extras::display::shorten;
use common::registry::WorkerAddr;

use crate::armour::attempt::Failure;
use crate::armour::failover::Watcher;
use crate::extras::status::address::StatusAddress;

/// How many of the latest requests the page lists: what fits below three workers on a
/// 1024×768 projector in type read from the back of the room (`tests/status.rs` measures it),
/// and enough to see round-robin go round three workers three times.
pub const RECENT: usize = 10;

/// Over how many whole seconds requests per second are counted: long enough to be steady when
/// a person sends a request every second or two, short enough to follow a change.
pub const RATE_SECONDS: u64 = 5;

/// How many seconds of counts are kept: the window, the second under way, and room to spare.
const SECONDS_KEPT: usize = RATE_SECONDS as usize + 3;

/// How many workers no longer in the registry keep their counts: a line taken out of
/// `worker_ports.txt` by hand, or by an editor rewriting the file, and put back keeps its
/// worker's counts, as the log keeps its lines; a registry that shrinks by more than this many
/// entries loses them, so a flood of registrations cannot grow the board for ever.
const FORMER_WORKERS_KEPT: usize = 1024;

/// What the status page records, shared by every request's thread and the page's server,
/// and where the page is.
pub struct Board {
    /// Where the page is served (`--status`).
    pub page: StatusAddress,
    /// Where the load balancer listens for clients, for the page's picture.
    pub balancer: String,
    /// When the board was made: the seconds of the rate count from here.
    started: Instant,
    /// Requests handed to the workers so far; also numbers them.
    requests: AtomicU64,
    /// The latest requests: request number i in place i % [`RECENT`].
    recent: [Mutex<Option<Arc<Mutex<Request>>>>; RECENT],
    /// Requests finished in each of the last seconds: in place s % [`SECONDS_KEPT`], the
    /// second s (since `started`) it counts, and its count.
    finished: [(AtomicU64, AtomicU64); SECONDS_KEPT],
    /// Each worker's answers and failures.
    tallies: RwLock<HashMap<WorkerAddr, Arc<Counts>>>,
}

/// One worker's counts, counted as they come.
#[derive(Debug, Default)]
struct Counts {
    answered: AtomicU64,
    failures: AtomicU64,
}

/// One worker's counts, as its log lines count them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Requests it answered for the client: its `Forwarded to worker …` lines.
    pub answered: u64,
    /// Attempts at it that failed: its `Error communicating with worker …` lines.
    pub failures: u64,
}

/// One request, as the page lists it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its number: the requests before it.
    pub id: u64,
    /// The n asked for.
    pub number: u64,
    /// Its round-robin turn.
    pub turn: usize,
    /// When it reached the workers' side of the load balancer.
    pub started: Instant,
    /// Each worker asked, in the order they were asked.
    pub attempts: Vec<Attempt>,
    /// How it ended; `None` while it is in progress.
    pub end: Option<End>,
}

/// One worker asked for one request.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The worker.
    pub worker: WorkerAddr,
    /// When it was asked.
    pub asked: Instant,
    /// True when another attempt was still waiting for its answer as this one was asked: a
    /// hedge beside a slow worker, not a retry after a failure.
    pub hedge: bool,
    /// How long it took and what came of it; `None` while it waits.
    pub result: Option<(Duration, Result<(), Failed>)>,
    /// True for the attempt whose answer went to the client.
    pub relayed: bool,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// One word (`Failure::kind`).
    pub kind: &'static str,
    /// As the log says it.
    pub text: String,
}

/// How a request ended.
#[derive(Debug, Clone)]
pub struct End {
    /// From its start to its answer.
    pub took: Duration,
    /// True when the client got n!, false for an `Error: ` answer.
    pub answered: bool,
    /// What the client got, shortened as in the log lines.
    pub answer: String,
}

/// A copy of the board, taken at once, for one view of the page.
#[derive(Debug, Clone)]
pub struct BoardView {
    /// The latest requests, the newest first.
    pub recent: Vec<Request>,
    /// Requests handed to the workers so far.
    pub requests: u64,
    /// Requests finished per second over the last [`RATE_SECONDS`] whole seconds.
    pub per_second: f64,
    /// Each worker's counts.
    pub tallies: HashMap<WorkerAddr, Tally>,
}

impl Board {
    /// An empty board for a page at `page`, of the load balancer listening at `balancer`.
    pub fn new(page: StatusAddress, balancer: String) -> Board {
        Board {
            page,
            balancer,
            started: Instant::now(),
            requests: AtomicU64::new(0),
            recent: std::array::from_fn(|_| Mutex::new(None)),
            finished: std::array::from_fn(|_| (AtomicU64::new(0), AtomicU64::new(0))),
            tallies: RwLock::new(HashMap::new()),
        }
    }

    /// `worker`'s counts, made at its first count.
    fn counts(&self, worker: &WorkerAddr) -> Arc<Counts> {
        let known = self
            .tallies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(worker)
            .cloned();
        known.unwrap_or_else(|| {
            let mut tallies = self.tallies.write().unwrap_or_else(|e| e.into_inner());
            Arc::clone(tallies.entry(worker.clone()).or_default())
        })
    }

    /// The whole seconds since the board was made.
    fn second(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// A copy of what the page shows. The counts of workers no longer in `listed` are kept
    /// up to [`FORMER_WORKERS_KEPT`] of them, then forgotten, so that they never outgrow the
    /// registry by much.
    pub fn view(&self, listed: &[WorkerAddr]) -> BoardView {
        let now = self.second();
        let mut tallies = self.tallies.write().unwrap_or_else(|e| e.into_inner());
        if tallies.len() > listed.len() + FORMER_WORKERS_KEPT {
            let listed: HashSet<&WorkerAddr> = listed.iter().collect();
            tallies.retain(|worker, _| listed.contains(worker));
        }
        let tallies = tallies
            .iter()
            .map(|(worker, counts)| {
                let tally = Tally {
                    answered: counts.answered.load(Ordering::Relaxed),
                    failures: counts.failures.load(Ordering::Relaxed),
                };
                (worker.clone(), tally)
            })
            .collect();
        let window = now.saturating_sub(RATE_SECONDS)..now;
        let finished: u64 = self
            .finished
            .iter()
            .filter(|(second, _)| window.contains(&second.load(Ordering::Relaxed)))
            .map(|(_, count)| count.load(Ordering::Relaxed))
            .sum();
        // Before the first whole seconds have passed, the rate is over the seconds there were.
        let seconds = now.clamp(1, RATE_SECONDS);
        let places: Vec<Arc<Mutex<Request>>> = self
            .recent
            .iter()
            .filter_map(|place| lock(place).clone())
            .collect();
        let mut recent: Vec<Request> = places.iter().map(|r| lock(r).clone()).collect();
        recent.sort_by_key(|r| std::cmp::Reverse(r.id));
        BoardView {
            recent,
            requests: self.requests.load(Ordering::Relaxed),
            per_second: finished as f64 / seconds as f64,
            tallies,
        }
    }
}

/// One request's notes on the board, which `failover.rs` takes as its [`Watcher`]: made only
/// with `--status`. Shared by each thread that runs one of the request's attempts.
pub struct Notes {
    board: Arc<Board>,
    request: Arc<Mutex<Request>>,
}

impl Board {
    /// The notes of the request for n! that took `turn`, as the watcher of its attempts.
    pub fn notes(self: &Arc<Board>, number: u64, turn: usize) -> Arc<dyn Watcher> {
        Arc::new(Notes::start(self, number, turn))
    }
}

impl Notes {
    /// Notes of the request for n! that took `turn`, on `board`.
    pub fn start(board: &Arc<Board>, number: u64, turn: usize) -> Notes {
        let id = board.requests.fetch_add(1, Ordering::Relaxed);
        let request = Arc::new(Mutex::new(Request {
            id,
            number,
            turn,
            started: Instant::now(),
            attempts: Vec::new(),
            end: None,
        }));
        let place = &board.recent[(id % RECENT as u64) as usize];
        *lock(place) = Some(Arc::clone(&request));
        Notes {
            board: Arc::clone(board),
            request,
        }
    }
}

impl Watcher for Notes {
    /// Notes that `worker` is being asked.
    fn asked(&self, worker: &WorkerAddr) {
        let mut request = lock(&self.request);
        let hedge = request.attempts.iter().any(|a| a.result.is_none());
        request.attempts.push(Attempt {
            worker: worker.clone(),
            asked: Instant::now(),
            hedge,
            result: None,
            relayed: false,
        });
    }

    /// Notes what came of asking `worker`, and counts a failure against it.
    fn ended(&self, worker: &WorkerAddr, result: &Result<Vec<u8>, Failure>) {
        let (board, request) = (&self.board, &self.request);
        let outcome = match result {
            Ok(_) => Ok(()),
            Err(failure) => Err(Failed {
                kind: failure.kind(),
                text: failure.to_string(),
            }),
        };
        if outcome.is_err() {
            board
                .counts(worker)
                .failures
                .fetch_add(1, Ordering::Relaxed);
        }
        let mut request = lock(request);
        let waiting = request
            .attempts
            .iter_mut()
            .find(|a| a.worker == *worker && a.result.is_none());
        if let Some(attempt) = waiting {
            attempt.result = Some((attempt.asked.elapsed(), outcome));
        }
    }

    /// Notes that `worker`'s answer went to the client, and counts it.
    fn relayed(&self, worker: &WorkerAddr) {
        let (board, request) = (&self.board, &self.request);
        board
            .counts(worker)
            .answered
            .fetch_add(1, Ordering::Relaxed);
        let mut request = lock(request);
        if let Some(attempt) = request.attempts.iter_mut().find(|a| a.worker == *worker) {
            attempt.relayed = true;
        }
    }

    /// Notes what the client is sent: n!, or the `Error: ` answer.
    fn finished(&self, result: &Result<Vec<u8>, String>) {
        let (board, request) = (&self.board, &self.request);
        let (answered, answer) = match result {
            Ok(digits) => (true, shorten(&String::from_utf8_lossy(digits))),
            Err(error) => (false, error.clone()),
        };
        {
            let mut request = lock(request);
            let took = request.started.elapsed();
            request.end = Some(End {
                took,
                answered,
                answer,
            });
        }
        let second = board.second();
        let (counted, count) = &board.finished[(second % SECONDS_KEPT as u64) as usize];
        // The first request to finish in a new second starts its count again. Two finishing
        // at that moment may lose one of their counts: this is a rate to read, not a bill.
        if counted.swap(second, Ordering::Relaxed) != second {
            count.store(0, Ordering::Relaxed);
        }
        count.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    fn board() -> Board {
        let page = StatusAddress {
            host: "127.0.0.1".into(),
            port: 0,
        };
        Board::new(page, "127.0.0.1:1".into())
    }

    /// A request that failed at one worker and was answered by the next shows both attempts,
    /// and each worker's counts say so.
    #[test]
    fn a_retried_request_shows_each_attempt() {
        let board = Arc::new(board());
        let trace = Notes::start(&board, 11, 4);
        trace.asked(&WorkerAddr::local(1));
        trace.ended(&WorkerAddr::local(1), &Err(Failure::ClosedWithoutAnswer));
        trace.asked(&WorkerAddr::local(2));
        trace.ended(&WorkerAddr::local(2), &Ok(b"39916800".to_vec()));
        trace.relayed(&WorkerAddr::local(2));
        trace.finished(&Ok(b"39916800".to_vec()));
        let view = board.view(&[WorkerAddr::local(1), WorkerAddr::local(2)]);
        assert_eq!(view.requests, 1);
        let request = &view.recent[0];
        assert_eq!((request.number, request.turn), (11, 4));
        let end = request.end.as_ref().unwrap();
        assert!(end.answered);
        assert_eq!(end.answer, "39916800");
        let [first, second] = &request.attempts[..] else {
            panic!("{:?}", request.attempts);
        };
        assert!(!first.hedge && !second.hedge, "a retry, not a hedge");
        let failed = first.result.as_ref().unwrap().1.as_ref().unwrap_err();
        assert_eq!(failed.kind, "closed");
        assert!(!first.relayed && second.relayed);
        assert_eq!(
            view.tallies[&WorkerAddr::local(1)],
            Tally {
                answered: 0,
                failures: 1
            }
        );
        assert_eq!(
            view.tallies[&WorkerAddr::local(2)],
            Tally {
                answered: 1,
                failures: 0
            }
        );
    }

    /// A worker asked while another still waits is a hedge; only the newest requests are kept.
    #[test]
    fn hedges_are_told_from_retries_and_old_requests_go() {
        let board = Arc::new(board());
        for n in 0..(RECENT as u64 + 5) {
            let trace = Notes::start(&board, n, 0);
            trace.asked(&WorkerAddr::local(1));
            trace.asked(&WorkerAddr::local(2));
        }
        let view = board.view(&[]);
        assert_eq!(view.recent.len(), RECENT);
        assert_eq!(view.recent[0].number, RECENT as u64 + 4, "the newest first");
        assert!(view.recent[0].attempts[1].hedge);
        assert!(
            view.tallies.is_empty(),
            "counts of workers not listed are forgotten"
        );
    }

    /// A worker taken out of the registry and put back keeps its counts, as the log keeps its
    /// lines; past [`FORMER_WORKERS_KEPT`] workers gone from it, their counts are forgotten.
    #[test]
    fn counts_outlive_an_edit_of_the_registry() {
        let board = Arc::new(board());
        let answered = |port| {
            let trace = Notes::start(&board, 5, 0);
            trace.asked(&WorkerAddr::local(port));
            trace.ended(&WorkerAddr::local(port), &Ok(b"120".to_vec()));
            trace.relayed(&WorkerAddr::local(port));
        };
        answered(1);
        assert!(board.view(&[]).tallies.contains_key(&WorkerAddr::local(1)));
        assert_eq!(
            board.view(&[WorkerAddr::local(1)]).tallies[&WorkerAddr::local(1)].answered,
            1
        );
        for port in 2..=FORMER_WORKERS_KEPT as u16 + 1 {
            answered(port);
        }
        assert!(board.view(&[]).tallies.is_empty());
    }
}

//! One view of the load balancer for the status page, taken at once: the registry as it reads
//! now, each worker's state and counts, whose turn is next, the rate and the latest requests.
//! The page (`page.rs`) and `/status.json` ([`Snapshot::to_json`]) are both made from one such
//! view, so they cannot disagree; docs/protocol.md says what each field of `/status.json`
//! means.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::registry::WorkerAddr;

use crate::armour::attempt::CHECK_TIMEOUT;
use crate::armour::health::{State, Why, WorkerView};
use crate::extras::status::board::{Attempt, Board, BoardView, RATE_SECONDS, Request, Tally};
use crate::shared::LoadBalancer;
use crate::strategy::{self, Strategy};

/// The load balancer as the page shows it.
pub struct Snapshot {
    /// When it was taken, on the clock the records use.
    pub taken: Instant,
    /// The same moment on the wall clock, for times a person reads.
    pub wall: SystemTime,
    /// Where the load balancer listens for clients.
    pub balancer: String,
    /// `--strategy`.
    pub strategy: Strategy,
    /// The round-robin turn the next request takes (`worker_index`).
    pub turn: usize,
    /// The worker the next request goes to first.
    pub next: Option<WorkerAddr>,
    /// Each worker in the registry, in file order.
    pub workers: Vec<Worker>,
    /// The latest requests, the rate and the counts.
    pub board: BoardView,
}

/// One worker in the registry.
pub struct Worker {
    /// Its place in the registry, from 1: the room calls it `worker 1`, as the demo's
    /// terminals do, and nobody reads a port across a room.
    pub number: usize,
    /// Where it listens.
    pub address: WorkerAddr,
    /// Its state, since when and why.
    pub view: WorkerView,
    /// Its answers and failures.
    pub tally: Tally,
}

impl Snapshot {
    /// Takes a view of `lb`, whose status page records on `board`.
    pub fn take(lb: &LoadBalancer, board: &Board) -> Snapshot {
        let listed = lb.registry.read_workers();
        let turn = lb.worker_index.load(Ordering::Relaxed);
        let (order, _) = strategy::order_to_try(lb.strategy, &listed, turn, &lb.health, &lb.random);
        let views = lb.health.view(&listed);
        let board_view = board.view(&listed);
        let workers = listed
            .into_iter()
            .zip(views)
            .enumerate()
            .map(|(place, (address, view))| Worker {
                number: place + 1,
                tally: board_view
                    .tallies
                    .get(&address)
                    .copied()
                    .unwrap_or_default(),
                address,
                view,
            })
            .collect();
        Snapshot {
            taken: Instant::now(),
            wall: SystemTime::now(),
            balancer: board.balancer.clone(),
            strategy: lb.strategy,
            turn,
            next: order.into_iter().next(),
            workers,
            board: board_view,
        }
    }

    /// `at` as milliseconds since 1970 (Unix time), for the page's clock times.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        let wall = self.wall.checked_sub(self.ago(at)).unwrap_or(UNIX_EPOCH);
        let since_1970 = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since_1970.as_millis()).unwrap_or(u64::MAX)
    }

    /// What the page calls the worker at `address`: `worker N`, by its place in the registry,
    /// or its address when the registry no longer lists it.
    pub fn name_of(&self, address: &WorkerAddr) -> String {
        self.workers
            .iter()
            .find(|w| &w.address == address)
            .map_or_else(|| address.host_port(), |w| format!("worker {}", w.number))
    }

    /// How long ago `at` was, when the view was taken.
    pub fn ago(&self, at: Instant) -> Duration {
        self.taken.saturating_duration_since(at)
    }

    /// `/status.json`: this view as JSON, one object (docs/protocol.md).
    pub fn to_json(&self) -> String {
        let mut json = String::from("{");
        let _ = write!(
            json,
            "\"load_balancer\":{},\"time\":{},\"strategy\":{},\"turn\":{},\"next_worker\":{},\
             \"requests\":{},\"requests_per_second\":{:.1},\"rate_seconds\":{RATE_SECONDS},",
            quote(&self.balancer),
            self.unix_ms(self.taken),
            quote(&self.strategy.to_string()),
            self.turn,
            self.next
                .as_ref()
                .map_or("null".into(), |w| quote(&w.host_port())),
            self.board.requests,
            self.board.per_second,
        );
        let workers: Vec<String> = self.workers.iter().map(|w| self.worker_json(w)).collect();
        let recent: Vec<String> = self
            .board
            .recent
            .iter()
            .map(|r| self.request_json(r))
            .collect();
        let _ = write!(
            json,
            "\"workers\":[{}],\"recent\":[{}]}}",
            workers.join(","),
            recent.join(",")
        );
        json
    }

    /// One worker's object in `/status.json`.
    fn worker_json(&self, worker: &Worker) -> String {
        let view = &worker.view;
        let changed = view.changed.as_ref();
        let next_check = match view.state {
            State::Up => "null".to_string(),
            State::Suspect | State::Down => {
                let due = view.next_check.map_or(Duration::ZERO, |at| {
                    at.saturating_duration_since(self.taken)
                });
                format!("{:.1}", due.as_secs_f64())
            }
        };
        format!(
            "{{\"number\":{},\"address\":{},\"state\":{},\"since\":{},\"for_seconds\":{},\
             \"reason\":{},\"why\":{},\"next_check_in_seconds\":{next_check},\"checking\":{},\
             \"failed_checks\":{},\"in_progress\":{},\"answered\":{},\"failures\":{}}}",
            worker.number,
            quote(&worker.address.host_port()),
            quote(state_name(view.state)),
            changed.map_or("null".into(), |(at, _)| self.unix_ms(*at).to_string()),
            changed.map_or("null".into(), |(at, _)| seconds(self.ago(*at))),
            changed.map_or("null".into(), |(_, why)| quote(reason(why))),
            changed.map_or("null".into(), |(_, why)| quote(&why_text(why))),
            view.checking,
            view.failed_checks,
            view.in_progress,
            worker.tally.answered,
            worker.tally.failures,
        )
    }

    /// One request's object in `/status.json`.
    fn request_json(&self, request: &Request) -> String {
        let end = request.end.as_ref();
        let by = request.attempts.iter().find(|a| a.relayed);
        let attempts: Vec<String> = request
            .attempts
            .iter()
            .map(|a| attempt_json(request, a))
            .collect();
        format!(
            "{{\"n\":{},\"turn\":{},\"started\":{},\"state\":{},\"took_ms\":{},\"answer\":{},\
             \"answered_by\":{},\"attempts\":[{}]}}",
            // As text: JavaScript's numbers round every n above 2^53.
            quote(&request.number.to_string()),
            request.turn,
            self.unix_ms(request.started),
            quote(request_state(request)),
            end.map_or("null".into(), |e| millis(e.took)),
            end.map_or("null".into(), |e| quote(&e.answer)),
            by.map_or("null".into(), |a| quote(&a.worker.host_port())),
            attempts.join(","),
        )
    }
}

/// One attempt's object in `/status.json`.
fn attempt_json(request: &Request, attempt: &Attempt) -> String {
    let failed = attempt.result.as_ref().and_then(|(_, r)| r.as_ref().err());
    format!(
        "{{\"worker\":{},\"hedge\":{},\"after_ms\":{},\"took_ms\":{},\"outcome\":{},\
         \"reason\":{},\"detail\":{}}}",
        quote(&attempt.worker.host_port()),
        attempt.hedge,
        millis(attempt.asked.saturating_duration_since(request.started)),
        attempt
            .result
            .as_ref()
            .map_or("null".into(), |(took, _)| millis(*took)),
        quote(outcome(attempt)),
        failed.map_or("null".into(), |f| quote(f.kind)),
        failed.map_or("null".into(), |f| quote(&f.text)),
    )
}

/// The state's name in `/status.json`.
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Up => "up",
        State::Suspect => "suspect",
        State::Down => "down",
    }
}

/// One word for why the state last changed, for scripts.
pub fn reason(why: &Why) -> &'static str {
    match why {
        Why::Failed { kind, .. } => kind,
        Why::Silent => "silent",
        Why::CheckUnanswered => "no-answer-to-check",
        Why::Answered => "answered",
        Why::AnsweredCheck => "answered-check",
    }
}

/// Why the state last changed, in words.
pub fn why_text(why: &Why) -> String {
    match why {
        Why::Failed { text, .. } => text.clone(),
        Why::Silent => "answered nothing while another worker answered its request at once; \
                        a health check is asking it for 1!"
            .to_string(),
        Why::CheckUnanswered => format!(
            "answered nothing, and no answer to a health check within {}s either",
            CHECK_TIMEOUT.as_secs_f64()
        ),
        Why::Answered => "back up: it answered a request".to_string(),
        Why::AnsweredCheck => "back up: it answered a health check".to_string(),
    }
}

/// Where a request stands: `in-progress`, `answered` (n!) or `failed` (an `Error: `).
pub fn request_state(request: &Request) -> &'static str {
    match &request.end {
        None => "in-progress",
        Some(end) if end.answered => "answered",
        Some(_) => "failed",
    }
}

/// What came of an attempt: `waiting`, `relayed` (its answer went to the client), `dropped`
/// (a right answer, after another's had gone) or `failed`.
pub fn outcome(attempt: &Attempt) -> &'static str {
    match &attempt.result {
        _ if attempt.relayed => "relayed",
        None => "waiting",
        Some((_, Ok(()))) => "dropped",
        Some((_, Err(_))) => "failed",
    }
}

/// A duration in milliseconds, to a tenth.
fn millis(time: Duration) -> String {
    format!("{:.1}", time.as_secs_f64() * 1000.0)
}

/// A duration in seconds, to a tenth.
fn seconds(time: Duration) -> String {
    format!("{:.1}", time.as_secs_f64())
}

/// `text` as a JSON string: quoted, with `"`, `\` and control characters escaped.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            // `<` escaped too, so that no answer can close a <script> the JSON is put in.
            c if c < ' ' || c == '<' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(quoted, "\\u{:04x}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// Strings are escaped as JSON asks, and nothing in them can end a script.
    #[test]
    fn quotes_as_json() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote("a \"b\" \\ c"), "\"a \\\"b\\\" \\\\ c\"");
        assert_eq!(quote("1\n2\u{1b}"), "\"1\\n2\\u001b\"");
        assert_eq!(quote("</script>"), "\"\\u003c/script>\"");
    }
}

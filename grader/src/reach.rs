//! Before any row about the workers behind a load balancer: do its requests reach the workers
//! listed in worker_ports.txt? A worker killed or frozen that no request would have reached
//! proves nothing, so a load balancer that sends its requests elsewhere (one fixed backend, a
//! port of its own choosing, or no worker at all) fails those rows instead of passing them.
//!
//! Told without reading any worker's lines, so it holds for workers in any language: with every
//! listed worker killed, no answer can be n!; with all but one killed, some answer must be.

use std::time::Instant;

use super::ask::{Reply, Request};
use super::evidence::{Evidence, Note};
use super::setup::{System, WORKERS_BEHIND};

/// The n asked for while workers are killed: a small one, answered at once by any worker.
const FIRST_N: u64 = 7;

/// How many requests are sent with one worker left, in turn: two rounds of three reach it
/// twice.
const IN_TURN: u64 = 6;

/// The same, for a load balancer that chooses at random: eighteen leave it a chance of
/// (2/3)^18, about one in 1,500, of never choosing the one left.
const AT_RANDOM: u64 = 18;

/// What the rows about workers need when the requests do not reach them.
pub const NEEDS: &str = "Each request needs to go to a worker listed in worker_ports.txt, read \
     from the folder the load balancer runs in: a fault made in a worker that no request \
     reaches proves nothing.";

impl System {
    /// `Ok` when the requests reach every worker in worker_ports.txt, or when this cannot be
    /// told (nothing answered in time: the rows say more); else the evidence. Starts fresh
    /// workers for each step, and leaves them to the next [`System::prepare`].
    pub fn reaches_the_workers(&mut self) -> Result<(), Evidence> {
        let start = Instant::now();
        let mut notes = Vec::new();
        self.prepare()?;
        for index in 0..self.workers.len() {
            self.workers[index].process.process.kill();
        }
        notes.push(Note::at(
            Instant::now(),
            "every worker listed in worker_ports.txt was killed",
        ));
        let exchange = self.ask_plainly(Request::Number(FIRST_N))?;
        if exchange.reply.is_factorial_of(FIRST_N) {
            notes.push(Note::failed(
                &exchange,
                format!(
                    "{}: got the right answer, with no listed worker running: the requests do \
                     not go to the workers in worker_ports.txt",
                    exchange.asked
                ),
            ));
            return Err(self.evidence_since(start, notes));
        }
        if matches!(exchange.reply, Reply::TimedOut(_)) {
            return Ok(());
        }
        let tries = if self.any_order { AT_RANDOM } else { IN_TURN };
        let mut unreached = Vec::new();
        for alive in 0..WORKERS_BEHIND {
            // One check, so one count of how long it keeps the checker waiting.
            let progress = std::mem::take(&mut self.progress);
            self.prepare()?;
            self.progress = progress;
            for index in (0..self.workers.len()).filter(|&i| i != alive) {
                self.workers[index].process.process.kill();
            }
            let note = format!(
                "the workers but worker {} were killed; worker_ports.txt lists all {}",
                alive + 1,
                WORKERS_BEHIND
            );
            notes.push(Note::at(Instant::now(), note));
            let mut last = None;
            for n in FIRST_N..FIRST_N + tries {
                let exchange = self.ask_plainly(Request::Number(n))?;
                if exchange.reply.is_factorial_of(n) {
                    last = None;
                    break;
                }
                if matches!(exchange.reply, Reply::TimedOut(_)) {
                    return Ok(());
                }
                last = Some(exchange);
            }
            if let Some(exchange) = last {
                let text = format!(
                    "asked for {FIRST_N}! to {}!: none came back right ({}: {}): no request \
                     reached worker {}",
                    FIRST_N + tries - 1,
                    exchange.asked,
                    exchange.reply.describe(),
                    alive + 1
                );
                notes.push(Note::failed(&exchange, text));
                unreached.push(alive + 1);
            }
        }
        if unreached.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = unreached.iter().map(usize::to_string).collect();
        notes.push(Note::in_words(format!(
            "the requests never reach worker(s) {} of the {WORKERS_BEHIND} in worker_ports.txt",
            listed.join(" ")
        )));
        Err(self.evidence_since(start, notes))
    }

    /// Sends `request` and waits for what comes back, within the check's patience; silence
    /// here, with workers killed, says nothing about the load balancer's answers otherwise.
    fn ask_plainly(&mut self, request: Request) -> Result<super::ask::Exchange, Evidence> {
        let pending = self.send(request, self.patience)?;
        // Without an `until`, the wait ends only with the exchange.
        self.wait(pending, None)
            .map_err(|_| Evidence::from("the checker stopped waiting".to_string()))
    }

    /// Evidence of `notes`, timed from `start`, the reach check's own start.
    fn evidence_since(&mut self, start: Instant, notes: Vec<Note>) -> Evidence {
        self.row_started = start;
        self.events.clear();
        Evidence {
            notes,
            undecided: false,
        }
    }
}

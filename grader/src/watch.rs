//! The requests of a property, each on a thread of its own, while this thread watches the
//! processes: their lines are noted as they come (so the report card can say when), a wait
//! that is long says so, and a server that stops accepting connections is noticed.

use std::net::TcpStream;
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::ask::{self, Exchange, Reply, Request};
use super::evidence::{Evidence, Note};
use super::setup::{System, Target};
use super::timeline::POLL;

/// How long, after its answer arrived, the checker waits for a worker to print that it
/// received a number: a worker prints it before it answers (worker_server.py line 49), and a
/// line through a pipe takes microseconds; this leaves room for a loaded machine.
const SERVED_PATIENCE: Duration = Duration::from_secs(5);

/// How often a request under way looks whether the program printed an error since it was
/// sent: often enough that a crash costs seconds, not the whole patience.
const CRASH_LOOK: Duration = Duration::from_secs(1);

/// How long a program must have printed nothing after an error before the request it was
/// serving is given up on: a traceback or a Java stack trace comes in one burst.
const QUIET_AFTER_ERROR: Duration = Duration::from_secs(2);

/// A request under way on a thread of its own.
pub struct Pending {
    handle: JoinHandle<Exchange>,
    /// Says once the request has been written (and hangs up when the exchange ends).
    written: Receiver<()>,
    /// What it waits for, for a line of progress: `an answer to 12!`.
    awaited: String,
    /// What was sent, in words, and when: for an exchange given up on.
    asked: String,
    sent: Instant,
    /// How long it may take.
    patience: Duration,
}

impl System {
    /// Sends `request` on a thread of its own, to wait for at most `patience`.
    pub fn send(&mut self, request: Request, patience: Duration) -> Result<Pending, Evidence> {
        let addr = self.address()?;
        let awaited = format!("an answer to {}", waited_for(&request));
        let asked = request.describe();
        let sent = Instant::now();
        let (tell_written, written) = mpsc::channel();
        let handle = thread::Builder::new()
            .spawn(move || ask::exchange(addr, request, patience, Some(tell_written)))
            .map_err(|e| format!("cannot start a thread for a request: {e}"))?;
        Ok(Pending {
            handle,
            written,
            awaited,
            asked,
            sent,
            patience,
        })
    }

    /// Waits until `pending`'s request has been written, or its exchange ended without it:
    /// its thread may start late on busy cores, and a request sent next must not overtake it.
    pub fn wait_until_written(&mut self, pending: &Pending) {
        while let Err(mpsc::RecvTimeoutError::Timeout) = pending.written.recv_timeout(POLL) {
            self.watch();
            self.progress.tick(&pending.awaited);
        }
    }

    /// Waits for `pending` to end, noting the processes' lines meanwhile; `Err` gives it back
    /// when `until` comes first.
    pub fn wait(&mut self, pending: Pending, until: Option<Instant>) -> Result<Exchange, Pending> {
        let mut looked = Instant::now();
        loop {
            self.watch();
            if pending.handle.is_finished() {
                let exchange = pending.handle.join().unwrap_or_else(|_| Exchange {
                    asked: "a request".to_string(),
                    sent: Instant::now(),
                    first_byte: None,
                    ended: Instant::now(),
                    reply: Reply::Failed("the checker's own request failed".to_string()),
                });
                self.watch();
                self.record(&exchange);
                return Ok(exchange);
            }
            if until.is_some_and(|until| Instant::now() >= until) {
                return Err(pending);
            }
            // A program that printed an error after the request came, and nothing since, will
            // not answer it: its connection's thread died, and the connection stays open.
            let look = looked.elapsed() >= CRASH_LOOK;
            if look {
                looked = Instant::now();
            }
            if until.is_none()
                && look
                && let Some(why) = self.crashed_since(pending.sent, pending.patience)
            {
                let exchange = Exchange {
                    asked: pending.asked,
                    sent: pending.sent,
                    first_byte: None,
                    ended: Instant::now(),
                    reply: Reply::TimedOut(why),
                };
                self.record(&exchange);
                return Ok(exchange);
            }
            self.progress.tick(&pending.awaited);
            thread::sleep(POLL);
        }
    }

    /// Sends `request` and waits for what comes back, for at most `patience`.
    pub fn ask_within(
        &mut self,
        request: Request,
        patience: Duration,
    ) -> Result<Exchange, Evidence> {
        let pending = self.send(request, patience)?;
        // Without an `until`, the wait ends only with the exchange.
        self.wait(pending, None)
            .map_err(|_| Evidence::from("the checker stopped waiting".to_string()))
    }

    /// A request for n! that gets nothing back, on a connection kept open, is asked again with
    /// a newline, to tell why (see `diagnose.rs`).
    pub fn ask(&mut self, request: Request) -> Result<Exchange, Evidence> {
        let number = match &request {
            Request::Number(n) => Some(*n),
            _ => None,
        };
        let exchange = self.ask_within(request, self.patience)?;
        if let Some(n) = number {
            self.after_silence(&exchange, n);
        }
        Ok(exchange)
    }

    /// Opens a connection and sends nothing yet, as a client whose user is still typing.
    pub fn open(&mut self) -> Result<TcpStream, Evidence> {
        let addr = self.address()?;
        let opened = Instant::now();
        let stream = ask::connect(addr).map_err(|reply| {
            let exchange = Exchange {
                asked: "opened a connection".to_string(),
                sent: opened,
                first_byte: None,
                ended: Instant::now(),
                reply,
            };
            self.record(&exchange);
            let text = format!("a slow client: {}", exchange.reply.describe());
            Evidence::of(Note::failed(&exchange, text))
        })?;
        self.connections += 1;
        self.last_reached = Some("opened a connection".to_string());
        Ok(stream)
    }

    /// Why the request sent at `sent` will not be answered, when the program under check (the
    /// worker, or the load balancer) printed an error after it and has been quiet since, for
    /// [`QUIET_AFTER_ERROR`].
    fn crashed_since(&mut self, sent: Instant, patience: Duration) -> Option<String> {
        let process = match self.kind() {
            super::setup::Kind::Worker => self.workers.get_mut(0).map(|w| &mut w.process)?,
            super::setup::Kind::LoadBalancer => self.balancer.as_mut()?,
            super::setup::Kind::Address => return None,
        };
        let lines = process.lines_since(sent);
        let (last, _) = lines.last()?;
        let quiet = last.elapsed() >= QUIET_AFTER_ERROR;
        let error = lines.iter().any(|(_, line)| {
            [
                "Traceback (most recent call last)",
                "Exception in thread",
                "Exception:",
            ]
            .iter()
            .any(|words| line.text.contains(words))
        });
        (quiet && error && patience > QUIET_AFTER_ERROR).then(|| {
            format!(
                "no answer: the connection stayed open, and the program printed an error \
                 after this request and nothing for {} s since (given up after {:.0} s, not \
                 the whole {} s)",
                QUIET_AFTER_ERROR.as_secs(),
                sent.elapsed().as_secs_f64(),
                patience.as_secs()
            )
        })
    }

    /// Waits `time`, as a user does, noting the processes' lines meanwhile.
    pub fn pause(&mut self, time: Duration) {
        let until = Instant::now() + time;
        while Instant::now() < until {
            self.watch();
            thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
        // The checker's own pause keeps no one waiting: the progress line counts without it.
        self.progress.skip(time);
    }

    /// Notes the lines each process has printed since last looked at.
    pub fn watch(&mut self) {
        if let Some(balancer) = self.balancer.as_mut() {
            balancer.take_new_lines();
        }
        for worker in &mut self.workers {
            worker.process.take_new_lines();
        }
    }

    /// Kills worker `index` (SIGKILL, as a crash).
    pub fn kill_worker(&mut self, index: usize) -> Result<(), Evidence> {
        let worker = self.worker(index)?;
        worker.process.process.kill();
        let note = Note::at(Instant::now(), format!("worker {} was killed", index + 1));
        self.events.push(note);
        Ok(())
    }

    /// Freezes worker `index` (SIGSTOP, as Ctrl-Z).
    pub fn freeze_worker(&mut self, index: usize) -> Result<(), Evidence> {
        let worker = self.worker(index)?;
        worker
            .process
            .process
            .signal("STOP")
            .map_err(|e| e.to_string())?;
        let note = Note::at(Instant::now(), format!("worker {} was frozen", index + 1));
        self.events.push(note);
        Ok(())
    }

    fn worker(&mut self, index: usize) -> Result<&mut super::setup::Worker, Evidence> {
        let count = self.workers.len();
        self.workers
            .get_mut(index)
            .ok_or_else(|| Evidence::from(format!("there is no worker {} of {count}", index + 1)))
    }

    /// Which workers received `n`, by index, in the order they said so in the lab's `Worker
    /// received number: N` line. Most requests reach one worker; a load balancer may ask a
    /// second one too when the first is slow, as ours does after a second. Waits for a first
    /// such line, as a worker may print it just after answering. When the workers print no
    /// such line at all (worded otherwise, or held in a buffer), who served what cannot be
    /// told: the evidence says so, and the property is not failed for it.
    pub fn reached(&mut self, n: u64) -> Result<Vec<usize>, Evidence> {
        let awaited = format!("a worker to print \"Worker received number: {n}\"");
        let deadline = Instant::now() + SERVED_PATIENCE;
        loop {
            self.watch();
            let reached = self.receivers(n);
            if !reached.is_empty() {
                return Ok(reached);
            }
            if Instant::now() >= deadline {
                break;
            }
            self.progress.tick(&awaited);
            thread::sleep(POLL);
        }
        let since = self.row_started;
        let prints_the_line = self.workers.iter_mut().any(|worker| {
            let lines = worker.process.lines_since(since);
            lines.iter().any(|(_, l)| is_received_line(&l.text))
        });
        // The lab's line is named by its number only to a student of the lab's own file.
        let line_49 = if self.is_lab_file(super::properties::LabFile::Worker) {
            " (worker_server.py line 49)"
        } else {
            ""
        };
        if prints_the_line {
            let text = format!(
                "no worker printed \"Worker received number: {n}\"{line_49} within {} s of the \
                 answer, though they print it for other numbers: the request reached none of \
                 them",
                SERVED_PATIENCE.as_secs()
            );
            return Err(Note::at(Instant::now(), text).into());
        }
        Err(Evidence::undecided(vec![Note::in_words(format!(
            "not checked: no worker printed the lab's `Worker received number: N` line{line_49} \
             as it served, which is how lab check tells which worker served a request. A \
             worker that words it otherwise, or whose output waits in a buffer, cannot be \
             followed: print that line and flush each line (docs/protocol.md, \"Writing your \
             own worker\").",
        ))]))
    }

    /// The workers that have said, so far in this property, that they received `n`, in the
    /// order they said so.
    pub fn receivers(&mut self, n: u64) -> Vec<usize> {
        let line = format!("received number: {n}");
        let since = self.row_started;
        let mut said: Vec<(Instant, usize)> = self
            .workers
            .iter_mut()
            .enumerate()
            .filter_map(|(index, worker)| {
                let lines = worker.process.lines_since(since);
                let at = lines.iter().find(|(_, l)| l.text.ends_with(&line))?.0;
                Some((at, index))
            })
            .collect();
        said.sort();
        said.into_iter().map(|(_, index)| index).collect()
    }

    /// Notes what an exchange says about the server: that something answered, that it was
    /// reached, or that a server reached before accepts no connection any more.
    pub(super) fn record(&mut self, exchange: &Exchange) {
        let accepted = matches!(
            exchange.reply,
            Reply::Answer(_) | Reply::Failed(_) | Reply::TimedOut(_)
        );
        if accepted {
            self.connections += 1;
            if self.connections == 1 {
                self.first_unanswered = matches!(&exchange.reply, Reply::Answer(b) if b.is_empty())
                    || matches!(exchange.reply, Reply::Failed(_));
            }
        }
        match &exchange.reply {
            Reply::Answer(bytes) => {
                self.answered |= !bytes.is_empty();
                self.ever_answered |= !bytes.is_empty();
                self.last_reached = Some(exchange.asked.clone());
            }
            Reply::Refused(_) => {
                let Some(last) = self.last_reached.clone() else {
                    return;
                };
                if self.stopped.is_some() {
                    return;
                }
                let who = match &self.target {
                    Target::Worker(_) => "the worker",
                    Target::LoadBalancer { .. } => "the load balancer",
                    Target::Address(_) => "the server",
                };
                let addr = self.addr.map(|a| a.to_string()).unwrap_or_default();
                self.stopped = Some(format!(
                    "nothing listens at {addr} any more: {who} stopped, after the checker {last}"
                ));
            }
            Reply::Failed(_) | Reply::TimedOut(_) => {
                self.last_reached = Some(exchange.asked.clone());
            }
            Reply::Unreachable(_) => {}
        }
    }
}

/// What an answer is awaited for, in a line of progress: `12!`, `"abc"`.
fn waited_for(request: &Request) -> String {
    match request {
        Request::Number(n) | Request::Typed(_, n) | Request::Line(n) => format!("{n}!"),
        Request::Text(text) => format!("{text:?}"),
        Request::Nothing => "a client that sent nothing".to_string(),
    }
}

/// Whether a printed line is the lab's `Worker received number: N`, for any N.
fn is_received_line(text: &str) -> bool {
    text.rsplit_once("received number: ")
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab's `Worker received number: N` is told from other lines, for any N.
    #[test]
    fn the_received_line_is_recognised() {
        assert!(is_received_line("Worker received number: 12"));
        assert!(is_received_line("[w1] Worker received number: 0"));
        for other in [
            "Worker received number: ",
            "Worker received number: abc",
            "Got 12",
            "Worker sent factorial: 479001600",
        ] {
            assert!(!is_received_line(other), "{other}");
        }
    }
}

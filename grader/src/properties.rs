//! The lab's properties, one short function each: what a worker or a load balancer of the lab
//! must do, whatever language it is written in. Read them as the lab's specification. The
//! Python lab fails several, each for a reason its code shows (docs/lab-guide.md, experiment 9).
//!
//! Slowness alone fails none of them: a worker that takes seconds per request (a student's
//! `time.sleep(3)`) gets the verdicts it would get without the sleep, as a worker and behind
//! a load balancer. Only the rows about being held up or stalled have a bound of their own
//! ([`HELD_UP`], [`STALLED`]), far above what a slow worker takes.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use common::armour::answers::trim_answer;
use common::extras::display::shorten;
use common::factorial::factorial_digits;

use super::ask::{Exchange, Reply, Request};
use super::evidence::{Evidence, Note, Verdict, verdict};
use super::hints;
use super::setup::{Kind, System};

/// One row of the report card.
pub struct Property {
    /// What must hold, as the row says it.
    pub claim: &'static str,
    /// What an implementation needs to hold it, in one sentence for any language: the row's
    /// first line when it fails and the evidence points to no cause of its own.
    pub needs: &'static str,
    /// The same, pointing at the Python lab's lines: said instead when the program under check
    /// is the lab's own file ([`LabFile`]), or printed the traceback of [`Property::traceback`].
    pub needs_lab: &'static str,
    /// Which of the lab's files `needs_lab` points into.
    pub lab_file: LabFile,
    /// The last words of the Python lab's traceback for this property, when it has one: a
    /// program that prints them fails as the lab's file does.
    pub traceback: Option<&'static str>,
    /// What it can be checked on.
    pub applies: Applies,
    /// The check: `Ok` when it holds, or the evidence that it does not.
    pub check: fn(&mut System) -> Verdict,
}

/// Which of the Python lab's files a property's hint points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabFile {
    /// worker_server.py.
    Worker,
    /// load_balancer.py.
    Balancer,
}

/// Which targets a property is checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// Anything that answers requests: a worker, a load balancer, a running service.
    Everywhere,
    /// A worker started by the check (only it can be seen registering).
    Worker,
    /// A load balancer started by the check, with workers the check can stop and add.
    LoadBalancer,
    /// As [`Applies::LoadBalancer`], when round-robin is claimed (the default).
    RoundRobin,
    /// As [`Applies::LoadBalancer`], with `--any-order` (a random choice of worker).
    AnyOrder,
}

impl Applies {
    /// Whether a property of this kind is checked on `kind`.
    pub fn to(self, kind: Kind, any_order: bool) -> bool {
        match self {
            Applies::Everywhere => true,
            Applies::Worker => kind == Kind::Worker,
            Applies::LoadBalancer => kind == Kind::LoadBalancer,
            Applies::RoundRobin => kind == Kind::LoadBalancer && !any_order,
            Applies::AnyOrder => kind == Kind::LoadBalancer && any_order,
        }
    }

    /// Whether the property is about the workers behind a load balancer: it proves something
    /// only when the requests reach them.
    pub fn about_workers(self) -> bool {
        matches!(
            self,
            Applies::LoadBalancer | Applies::RoundRobin | Applies::AnyOrder
        )
    }
}

/// The properties, in the report card's order. A load balancer meets them all with the same
/// three workers behind it; "a worker added" comes last, because the Python load balancer
/// keeps its turn counter across requests and would index past the end of a shorter list.
pub const PROPERTIES: &[Property] = &[
    Property {
        claim: "the worker registers its port in worker_ports.txt",
        needs: "The worker needs to append the port it listens on, and a newline, to \
                worker_ports.txt in the folder it runs in.",
        needs_lab: "The worker needs to append the port it listens on, and a newline, to \
                worker_ports.txt in the folder it runs in (worker_server.py lines 9-13, 25).",
        lab_file: LabFile::Worker,
        traceback: None,
        applies: Applies::Worker,
        check: registers_its_port,
    },
    Property {
        claim: "small answers are right: 0!, 1!, 12!, 20!",
        needs: "Each answer needs to be n!'s digits exactly, sent before the connection \
                closes (whitespace after them is fine).",
        needs_lab: "Each answer needs to be n!'s digits exactly, sent before the connection \
                closes (whitespace after them is fine).",
        lab_file: LabFile::Worker,
        traceback: None,
        applies: Applies::Everywhere,
        check: small_answers_are_right,
    },
    Property {
        claim: "an answer longer than 4096 digits arrives whole: 1500!",
        needs: "An answer needs to be read until the sender closes, not with one read into a \
                buffer of a fixed size, and sent whole (a loop until every byte is written).",
        needs_lab: "An answer needs to be read until the sender closes, not with one recv(1024) \
                (load_balancer.py line 46), and sent whole (sendall).",
        lab_file: LabFile::Balancer,
        traceback: None,
        applies: Applies::Everywhere,
        check: long_answer_arrives_whole,
    },
    Property {
        claim: "a large n gets all its digits or an error: 5000!",
        needs: "A large n needs all its digits, or an `Error: ` answer: not a crash, and not \
                silence.",
        needs_lab: "A large n needs all its digits or an `Error: ` answer: Python 3.11 will not \
                turn an integer of over 4300 digits into text (worker_server.py line 53) \
                unless sys.set_int_max_str_digits allows it, or the ValueError is caught.",
        lab_file: LabFile::Worker,
        traceback: Some("Exceeds the limit (4300 digits) for integer string conversion"),
        applies: Applies::Everywhere,
        check: large_n_is_answered,
    },
    Property {
        claim: "each bad request gets an answer, and the server still serves",
        needs: "Each request that is not a whole number n >= 0, and an empty one, needs an \
                `Error: ` answer instead of a crash or silence, and the server needs to go on \
                serving.",
        needs_lab: "Each request that is not a whole number n >= 0, and an empty one, needs an \
                `Error: ` answer instead of a crash or silence (worker_server.py line 47 \
                raises on `abc`), and the server needs to go on serving.",
        lab_file: LabFile::Worker,
        traceback: Some("ValueError: invalid literal for int() with base 10"),
        applies: Applies::Everywhere,
        check: bad_requests_are_answered,
    },
    Property {
        claim: "a slow client does not hold up a fast one",
        needs: "Each connection needs its own thread or process, or a timeout on its socket, \
                so that a client slow to send, or a large n, holds up no other.",
        needs_lab: "Each connection needs its own thread or process, or a timeout on the worker's \
                socket, so that a client slow to send, or a large n, holds up no other \
                (worker_server.py lines 33-55 serve one connection at a time).",
        lab_file: LabFile::Worker,
        traceback: None,
        applies: Applies::Everywhere,
        check: slow_client_does_not_hold_up_others,
    },
    Property {
        claim: "a client that connects and waits before sending is served",
        needs: "The server needs to wait for the request to arrive, as recv does, not to read \
                once the moment a client connects.",
        needs_lab: "The server needs to wait for the request to arrive, as recv does, not to read \
                once the moment a client connects.",
        lab_file: LabFile::Worker,
        traceback: None,
        applies: Applies::Everywhere,
        check: waiting_client_is_served,
    },
    Property {
        claim: "requests go to every worker, each in turn (round-robin)",
        needs: "Each request needs to go to the next worker listed in worker_ports.txt, back \
                to the first after the last.",
        needs_lab: "Each request needs to go to the next worker listed in worker_ports.txt, back \
                to the first after the last (load_balancer.py lines 36-38).",
        lab_file: LabFile::Balancer,
        traceback: None,
        applies: Applies::RoundRobin,
        check: every_worker_in_turn,
    },
    Property {
        claim: "requests go to every worker",
        needs: "Every worker listed in worker_ports.txt needs a share of the requests.",
        needs_lab: "Every worker listed in worker_ports.txt needs a share of the requests.",
        lab_file: LabFile::Balancer,
        traceback: None,
        applies: Applies::AnyOrder,
        check: every_worker_gets_requests,
    },
    Property {
        claim: "a worker killed mid-run is bypassed: no later request fails",
        needs: "A worker that cannot be reached needs to be skipped: send the request to the \
                next worker instead of answering an error.",
        needs_lab: "A worker that cannot be reached needs to be skipped: send the request to the \
                next worker instead of answering an error (load_balancer.py line 55).",
        lab_file: LabFile::Balancer,
        traceback: None,
        applies: Applies::LoadBalancer,
        check: killed_worker_is_bypassed,
    },
    Property {
        claim: "a frozen worker (Ctrl-Z) does not stall the rest",
        needs: "A frozen worker accepts connections and never answers, so the load balancer \
                needs a timeout on each worker's socket, and then to send the request to the \
                next worker.",
        needs_lab: "A frozen worker accepts connections and never answers, so the load balancer \
                needs a timeout on each worker's socket (settimeout) and then to send the \
                request to the next worker (load_balancer.py line 46 waits forever).",
        lab_file: LabFile::Balancer,
        traceback: None,
        applies: Applies::LoadBalancer,
        check: frozen_worker_does_not_stall,
    },
    Property {
        claim: "a worker added mid-run gets requests",
        needs: "worker_ports.txt needs to be read again for each request, so that a worker \
                started later gets turns.",
        needs_lab: "worker_ports.txt needs to be read again for each request \
                (load_balancer.py line 25), so that a worker started later gets turns.",
        lab_file: LabFile::Balancer,
        traceback: None,
        applies: Applies::LoadBalancer,
        check: added_worker_gets_requests,
    },
];

/// What a row says when it sends no more requests after one that got no answer.
const NOT_SENT: &str = "the rest of this row's requests are not sent: each could wait as long";

/// How long a request that is not a number may take to be refused: a server refuses it
/// without computing anything, so this is far above what even a worker that sleeps before it
/// reads (3 s, say) takes on a loaded machine. A server whose connection's thread died on it,
/// leaving the connection open, costs this, not the whole patience.
const BAD_REQUEST_PATIENCE: Duration = Duration::from_secs(20);

/// Requests that are not a whole number n >= 0, or whose n! is absurdly large.
const BAD_REQUESTS: [&str; 4] = ["abc", "-5", "1.5", "99999999999999999999"];

/// How long a slow typist waits between connecting and sending the number: long enough to
/// tell a server that reads what arrives from one that needs it at once, and far under the
/// minute our worker gives a connection to send its request.
const TYPING_TIME: Duration = Duration::from_secs(2);

/// How long a request may wait while another client has connected and not yet sent its
/// number before the server counts as held up by it. Ours answer in milliseconds; a worker
/// that sleeps a few seconds per request, as students make them, is far within it.
const HELD_UP: Duration = Duration::from_secs(10);

/// The large n asked next to a small one: our worker's largest by default (`--max-n`),
/// 456,574 digits, a tenth of a second for ours and seconds for a worker that multiplies in a
/// loop; a server that computes it before it serves anyone else is held up by it.
const LARGE_N: u64 = 100_000;

/// How much longer than alone a small request may take next to [`LARGE_N`]: more than this,
/// and answered with the large one, and the large one held it up. Twice as long, plus a
/// second for a loaded machine: a slow worker behind a load balancer may also be finishing
/// another request when it is asked.
const NEXT_TO_LARGE: (u32, Duration) = (2, Duration::from_secs(1));

/// How long the request for [`LARGE_N`]! goes ahead of the small one: far more than a request
/// takes to cross loopback, far less than the large one takes to compute.
const LARGE_HEAD_START: Duration = Duration::from_millis(200);

/// How long a request may take with a worker frozen before the load balancer counts as
/// stalled by it: ours take about a second (it asks the next worker too after a second), and
/// a worker that sleeps 3 s per request, three or four.
const STALLED: Duration = Duration::from_secs(10);

/// The requests sent after a worker is stopped or frozen, with three workers in turn: six
/// reach the stopped one's turn twice.
const AFTER_THE_STOP: RangeInclusive<u64> = 4..=9;

/// The same, when the load balancer chooses at random: eighteen leave it a chance of
/// (2/3)^18, about one in 1,500, of never trying the stopped worker (a load balancer whose
/// timeout is its only defence against a frozen worker pays that timeout on each of them, so
/// no more are sent).
const AFTER_THE_STOP_AT_RANDOM: RangeInclusive<u64> = 4..=21;

/// The worker appends a line naming its port to worker_ports.txt in its current folder
/// (worker_server.py lines 9-13, 25), and something answers at that port: whether the answer
/// is right is the next row's business.
fn registers_its_port(system: &mut System) -> Verdict {
    let line = system.workers[0].registry_line.clone();
    let exchange = system.ask(Request::Number(5))?;
    match &exchange.reply {
        Reply::Answer(bytes) if !bytes.is_empty() => Ok(()),
        // It accepted the connection and kept it: it listens there, whatever it answers.
        Reply::TimedOut(_) => Ok(()),
        reply => {
            let text = format!(
                "it registered {line:?}; {} there: {}",
                exchange.asked,
                reply.describe()
            );
            Err(Note::failed(&exchange, text).into())
        }
    }
}

/// 0!, 1!, 12! and 20! come back exactly (20! is the largest that fits in 64 bits).
fn small_answers_are_right(system: &mut System) -> Verdict {
    for n in [0, 1, 12, 20] {
        expect_factorial(system, n, "")?;
    }
    Ok(())
}

/// 1500! has 4,115 digits: more than one `recv(1024)` reads (load_balancer.py line 46), and
/// more than a `recv(4096)` "fix" would, yet within Python 3.11's 4,300-digit limit for
/// turning an integer into text.
fn long_answer_arrives_whole(system: &mut System) -> Verdict {
    expect_factorial(system, 1500, "")
}

/// 5000! has 16,326 digits: beyond Python 3.11's 4,300-digit limit for turning an integer
/// into text, where `str(result)` raises (worker_server.py line 53). Whole, or refused with an
/// `Error: ` answer (a worker may cap n, as ours does above `--max-n`), but not silence.
fn large_n_is_answered(system: &mut System) -> Verdict {
    let exchange = system.ask(Request::Number(5000))?;
    if exchange.reply.is_error() {
        return Ok(());
    }
    verdict(wrong(&exchange, 5000, "").into_iter().collect())
}

/// Each bad request, and a client that sends nothing, gets an `Error: ` answer (not digits,
/// not a closed connection or silence); afterwards every worker still serves
/// (worker_server.py line 47 dies on `abc`, and lines 43-45 stop the worker on an empty
/// request).
fn bad_requests_are_answered(system: &mut System) -> Verdict {
    let mut notes = Vec::new();
    for request in BAD_REQUESTS {
        let patience = system.patience.min(BAD_REQUEST_PATIENCE);
        let exchange = system.ask_within(Request::Text(request), patience)?;
        if !exchange.reply.is_error() {
            let text = format!("{}: {}", exchange.asked, exchange.reply.describe_as_error());
            notes.push(Note::failed(&exchange, text));
        }
        if let Reply::TimedOut(_) = exchange.reply {
            // Each later request could make the row wait as long again.
            notes.push(Note::in_words(NOT_SENT));
            return verdict(notes);
        }
        if system.has_stopped() {
            return verdict(notes);
        }
    }
    let exchange = system.ask(Request::Nothing)?;
    if system.has_stopped() {
        return verdict(notes);
    }
    if !exchange.reply.is_error() {
        let mut text = format!("{}: {}", exchange.asked, exchange.reply.describe_as_error());
        if !matches!(exchange.reply, Reply::Refused(_) | Reply::Unreachable(_)) {
            // On a line of its own: the line above it may be long already.
            text = format!("{text}\n  ({})", empty_request_hint(system));
        }
        notes.push(Note::failed(&exchange, text));
    }
    // One request a worker, so a worker the bad requests killed is found.
    for _ in 0..system.workers.len().max(1) {
        let exchange = system.ask(Request::Number(12))?;
        if let Some(note) = wrong(&exchange, 12, "afterwards ") {
            notes.push(note);
        }
        if let Reply::TimedOut(_) = exchange.reply {
            notes.push(Note::in_words(NOT_SENT));
            break;
        }
        if system.has_stopped() {
            break;
        }
    }
    verdict(notes)
}

/// What an empty request needs, for the evidence: where it goes wrong in the Python lab, when
/// the program is the lab's own file.
fn empty_request_hint(system: &System) -> &'static str {
    match system.kind() {
        Kind::LoadBalancer if system.is_lab_file(LabFile::Balancer) => {
            "an empty request needs an `Error: ` answer from the load balancer itself: \
             load_balancer.py lines 21-44 forward it as it is, and a worker cannot tell it \
             from a request still on its way"
        }
        Kind::LoadBalancer => {
            "an empty request needs an `Error: ` answer from the load balancer itself: \
             forwarded as it is, a worker cannot tell it from a request still on its way"
        }
        Kind::Worker if system.is_lab_file(LabFile::Worker) => {
            "an empty request needs an `Error: ` answer, and the worker needs to go on \
             serving: worker_server.py lines 43-45 `break` out of the accept loop instead, and \
             the worker stops"
        }
        Kind::Worker | Kind::Address => {
            "an empty request needs an `Error: ` answer, and the server needs to go on serving"
        }
    }
}

/// While one client has connected but not yet sent its number, another's request is
/// answered; then the slow one is served too (worker_server.py serves one connection at a
/// time, lines 33-55). Then a small n asked next to a large one is not held up by it either.
fn slow_client_does_not_hold_up_others(system: &mut System) -> Verdict {
    let typist = system.open()?;
    let typing_since = Instant::now();
    system.events.push(Note::at(
        typing_since,
        "a slow client connected; it sends nothing yet",
    ));
    let fast = system.send(Request::Number(12), system.patience)?;
    match system.wait(fast, Some(typing_since + HELD_UP)) {
        Ok(fast) => {
            let typed = system.ask(Request::Typed(typist, 10))?;
            let mut notes = Vec::new();
            notes.extend(wrong(&fast, 12, "while another client was still typing, "));
            notes.extend(wrong(
                &typed,
                10,
                "the slow client, when it sent its number, ",
            ));
            if !notes.is_empty() {
                return verdict(notes);
            }
            large_n_does_not_hold_up_small(system, fast.ended - fast.sent)
        }
        Err(fast) => {
            // Held up: the slow client sends its number now, and the fast one's answer
            // shows whether it waited for that.
            let now = Instant::now();
            let mut notes = vec![Note {
                at: Some(now),
                text: format!(
                    "while another client was still typing, asked for 12!: no answer within \
                     {} s, where 12! is {:?}",
                    HELD_UP.as_secs(),
                    factorial_digits(12)
                ),
                during: Some((typing_since, now)),
                // The row fails on this wait, whatever the answers that came later show.
                cause: Some(ONE_AT_A_TIME.to_string()),
            }];
            notes.push(Note::at(now, "the slow client sends \"10\" now"));
            let typed = system.send(Request::Typed(typist, 10), system.patience)?;
            let fast = system.wait(fast, None).map_err(|_| stopped_waiting())?;
            let typed = system.wait(typed, None).map_err(|_| stopped_waiting())?;
            let then = if fast.reply.is_factorial_of(12) {
                "12! arrived only after the slow client had sent its number: the server \
                 served no one else while a client had not sent its request"
                    .to_string()
            } else {
                format!("then, for 12!: {}", fast.reply.describe())
            };
            notes.push(Note::failed(&fast, then));
            notes.extend(wrong(
                &typed,
                10,
                "the slow client, when it sent its number, ",
            ));
            verdict(notes)
        }
    }
}

/// What a server that served no one while a client had not sent its request does: the
/// slow client's row's first line, before anything its answers show.
const ONE_AT_A_TIME: &str = "It served one connection at a time: while a client had connected \
     and not yet sent its number, another got no answer. Each connection needs its own thread \
     or process, or a timeout on its socket, so that a client slow to send holds up no other.";

/// A request for 12! sent just after one for [`LARGE_N`]! is not held up by it: it comes
/// back well before the large one's answer, or not much later than 12! alone took (`alone`).
/// An event-loop server that computes n! where it reads requests serves no one meanwhile.
fn large_n_does_not_hold_up_small(system: &mut System, alone: Duration) -> Verdict {
    let large = system.send(Request::Number(LARGE_N), system.patience)?;
    // The large request first, surely: once it is written, a server that reads requests in
    // the order they come must have it before the small one.
    system.wait_until_written(&large);
    system.pause(LARGE_HEAD_START);
    let small = system.send(Request::Number(12), system.patience)?;
    let small = system.wait(small, None).map_err(|_| stopped_waiting())?;
    let large = system.wait(large, None).map_err(|_| stopped_waiting())?;
    let context = format!("next to a request for {LARGE_N}!, ");
    if let Some(note) = wrong(&small, 12, &context) {
        return Err(note.into());
    }
    let took = small.ended - small.sent;
    let (times, more) = NEXT_TO_LARGE;
    let large_took = until_answer(&large);
    if held_up_by_large(&small, &large, alone * times + more) {
        let text = format!(
            "asked for 12! next to {LARGE_N}!: it came back {:.2} s after it was asked, with \
             {LARGE_N}!'s answer ({:.2} s), where alone it took {:.2} s: the large n held it up",
            took.as_secs_f64(),
            large_took.as_secs_f64(),
            alone.as_secs_f64()
        );
        let mut note = Note::failed(&small, text);
        note.during = Some((large.sent, small.ended));
        return Err(note.into());
    }
    Ok(())
}

/// Whether `small` was held up by `large`: it took more than `bound`, and came with the large
/// one's answer, in the second half of its wait, not before it. A server that writes both
/// answers one after the other sends them in the same instant, and which of the checker's two
/// threads sees its answer first is the scheduler's choice: on busy cores the small one was
/// seen first in one run of five. And only by a large n that took long itself: next to one
/// answered at once, a small request that was slow was slowed by the machine, not by it.
fn held_up_by_large(small: &Exchange, large: &Exchange, bound: Duration) -> bool {
    let took = small.ended - small.sent;
    let large_took = until_answer(large);
    let came_with_large = small.ended >= large.sent + large_took / 2;
    came_with_large && took > bound && large_took > bound
}

/// How long `exchange` waited for its answer to begin.
fn until_answer(exchange: &Exchange) -> Duration {
    let came = exchange.first_byte.unwrap_or(exchange.ended);
    came.saturating_duration_since(exchange.sent)
}

/// A client that connects and waits [`TYPING_TIME`] before sending is served all the same.
fn waiting_client_is_served(system: &mut System) -> Verdict {
    let typist = system.open()?;
    system.pause(TYPING_TIME);
    let typed = system.ask(Request::Typed(typist, 9))?;
    let context = format!("after {TYPING_TIME:?} of typing, ");
    verdict(wrong(&typed, 9, &context).into_iter().collect())
}

/// Six requests in a row go to the three workers in turn, twice over: round-robin
/// (load_balancer.py lines 36-38), from whichever worker has the first turn. A request the
/// load balancer also asked another worker for (ours does when the first is slow) has its
/// turn among the workers it reached.
fn every_worker_in_turn(system: &mut System) -> Verdict {
    let reached = serve_and_see_who(system, 21..=26)?;
    let in_turn =
        (0..3).any(|first| (0..reached.len()).all(|i| reached[i].contains(&((first + i) % 3))));
    if !in_turn {
        let text = format!(
            "workers {} received 21! to 26!, in that order; round-robin is each in turn",
            numbered(&reached)
        );
        return Err(Note::at(Instant::now(), text).into());
    }
    Ok(())
}

/// Sixty requests in a row, and every worker served at least one: a random choice among three
/// leaves one out with a chance of 3 x (2/3)^60, about one in 10 billion.
fn every_worker_gets_requests(system: &mut System) -> Verdict {
    let reached = serve_and_see_who(system, 21..=80)?;
    every_worker_served(system, &reached)
}

/// A worker killed mid-run (Ctrl-C, a crash) is bypassed, though the registry still lists
/// it: no request after it fails (load_balancer.py line 55 answers an error instead).
fn killed_worker_is_bypassed(system: &mut System) -> Verdict {
    one_request_each(system)?;
    system.kill_worker(1)?;
    every_answer_right(system, "after worker 2 was killed, ", system.patience)
}

/// A frozen worker (Ctrl-Z: its kernel still accepts connections, but it never answers)
/// does not stall the rest: every request is answered within [`STALLED`]
/// (load_balancer.py line 46 waits for it forever).
fn frozen_worker_does_not_stall(system: &mut System) -> Verdict {
    one_request_each(system)?;
    system.freeze_worker(1)?;
    every_answer_right(system, "with worker 2 frozen, ", STALLED)
}

/// A worker started mid-run gets requests without a restart of the load balancer, which
/// reads the registry for every request (load_balancer.py line 25).
fn added_worker_gets_requests(system: &mut System) -> Verdict {
    one_request_each(system)?;
    system.add_worker()?;
    system
        .events
        .push(Note::at(Instant::now(), "worker 4 was started"));
    // In turn, two rounds of four; at random, sixty requests: a random choice among four
    // misses the new one with a chance of (3/4)^60, about one in 30 million.
    let numbers = if system.any_order { 31..=90 } else { 31..=38 };
    let served = serve_and_see_who(system, numbers)?;
    every_worker_served(system, &served)
}

/// Asks for 1!, 2! and 3!: with three workers taking turns, each has served once, so the
/// worker a property then stops or freezes has a turn in the requests that follow.
fn one_request_each(system: &mut System) -> Verdict {
    (1..=3).try_for_each(|n| expect_factorial(system, n, ""))
}

/// Asks for each n! after a worker was stopped ([`AFTER_THE_STOP`]) and checks each answer,
/// each within `patience`; a failure says `when`.
fn every_answer_right(system: &mut System, when: &str, patience: Duration) -> Verdict {
    let numbers = if system.any_order {
        AFTER_THE_STOP_AT_RANDOM
    } else {
        AFTER_THE_STOP
    };
    for n in numbers {
        let exchange = system.ask_within(Request::Number(n), patience)?;
        if let Some(note) = wrong(&exchange, n, when) {
            return Err(note.into());
        }
    }
    Ok(())
}

/// Asks for each n! in `numbers`, checks each answer, and returns which workers each reached,
/// the first to say so first (a second is one the load balancer asked too).
fn serve_and_see_who(
    system: &mut System,
    numbers: RangeInclusive<u64>,
) -> Result<Vec<Vec<usize>>, Evidence> {
    for n in numbers.clone() {
        expect_factorial(system, n, "")?;
        system.reached(n)?;
    }
    // Looked at again at the end: a second worker may say so after the answer came.
    Ok(numbers.map(|n| system.receivers(n)).collect())
}

/// Fails unless every worker is among those the requests `reached`.
fn every_worker_served(system: &System, reached: &[Vec<usize>]) -> Verdict {
    let idle: Vec<usize> = (0..system.workers.len())
        .filter(|worker| !reached.iter().any(|r| r.contains(worker)))
        .collect();
    if idle.is_empty() {
        return Ok(());
    }
    let text = format!(
        "workers {} received {} requests; worker(s) {} received none",
        numbered(reached),
        reached.len(),
        listed(&idle)
    );
    Err(Note::at(Instant::now(), text).into())
}

/// Asks for n! and compares every digit; a failure begins with `when`.
fn expect_factorial(system: &mut System, n: u64, when: &str) -> Verdict {
    let exchange = system.ask(Request::Number(n))?;
    match wrong(&exchange, n, when) {
        Some(note) => Err(note.into()),
        None => Ok(()),
    }
}

/// What is wrong with an exchange's answer to n!, if anything, as evidence beginning with
/// `when` (`after worker 2 was killed, `).
fn wrong(exchange: &Exchange, n: u64, when: &str) -> Option<Note> {
    if exchange.reply.is_factorial_of(n) {
        return None;
    }
    let right = factorial_digits(n);
    let asked = &exchange.asked;
    let text = match &exchange.reply {
        Reply::Answer(bytes)
            if !trim_answer(bytes).is_empty()
                && right.as_bytes().starts_with(trim_answer(bytes)) =>
        {
            format!(
                "{when}{asked}: got its first {} digits of {}: the answer was cut",
                trim_answer(bytes).len(),
                right.len()
            )
        }
        reply => format!(
            "{when}{asked}: {}, where {n}! is {:?}",
            reply.describe(),
            shorten(&right)
        ),
    };
    let cause = match &exchange.reply {
        Reply::Answer(bytes) => hints::cause(bytes, n),
        _ => None,
    };
    Some(Note::failed(exchange, text).because(cause))
}

/// Evidence for a wait that ended without its exchange, which a wait with no end cannot do.
fn stopped_waiting() -> Evidence {
    Evidence::from("the checker stopped waiting for an answer".to_string())
}

/// Which workers each request reached, by their numbers from 1, as the report names them:
/// `1 2 3+1 1 2 3`, where `3+1` is a request that reached worker 3 first, then worker 1.
fn numbered(reached: &[Vec<usize>]) -> String {
    let names: Vec<String> = reached
        .iter()
        .map(|workers| listed(workers).replace(' ', "+"))
        .collect();
    names.join(" ")
}

/// Workers by their numbers from 1: `1 3`.
fn listed(workers: &[usize]) -> String {
    let names: Vec<String> = workers.iter().map(|w| (w + 1).to_string()).collect();
    names.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange sent `sent` after `start`, whose answer's first byte came `came` after it
    /// and ended at once.
    fn exchange(start: Instant, sent: f64, came: f64) -> Exchange {
        let sent = start + Duration::from_secs_f64(sent);
        let came = start + Duration::from_secs_f64(came);
        Exchange {
            asked: "asked".to_string(),
            sent,
            first_byte: Some(came),
            ended: came,
            reply: Reply::Answer(b"479001600".to_vec()),
        }
    }

    #[test]
    fn a_small_answer_seen_just_before_the_large_ones_was_held_up_by_it() {
        let start = Instant::now();
        let large = exchange(start, 0.0, 15.0);
        // Written after the large one, but its thread woke first.
        let small = exchange(start, 0.2, 14.99);
        assert!(held_up_by_large(&small, &large, Duration::from_secs(1)));
        let small = exchange(start, 0.2, 15.01);
        assert!(held_up_by_large(&small, &large, Duration::from_secs(1)));
    }

    #[test]
    fn a_small_answer_slowed_by_the_machine_alone_was_not_held_up() {
        let start = Instant::now();
        let large = exchange(start, 0.0, 15.0);
        // Slow, but long before the large answer.
        let small = exchange(start, 0.2, 3.2);
        assert!(!held_up_by_large(&small, &large, Duration::from_secs(1)));
        // Next to a large request answered at once (an `Error: ` answer, say).
        let large = exchange(start, 0.0, 0.5);
        let small = exchange(start, 0.2, 3.2);
        assert!(!held_up_by_large(&small, &large, Duration::from_secs(1)));
        // Quick.
        let large = exchange(start, 0.0, 15.0);
        let small = exchange(start, 0.2, 15.0);
        assert!(!held_up_by_large(&small, &large, Duration::from_secs(20)));
    }
}

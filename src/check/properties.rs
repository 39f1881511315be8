//! The lab's properties, one short function each: what a worker or a load balancer of the lab
//! must do, whatever language it is written in. Read them as the lab's specification. The
//! Python lab fails several, each for a reason its code shows (docs/lab-guide.md, experiment 9).

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use common::display::shorten;
use common::factorial::factorial_digits;

use super::ask::{Reply, ask, ask_nothing, connect, finish};
use super::setup::{Kind, System};

/// One row of the report card.
pub struct Property {
    /// What must hold, as the row says it.
    pub claim: &'static str,
    /// What it can be checked on.
    pub applies: Applies,
    /// The check: `Ok` when it holds, or the evidence that it does not.
    pub check: fn(&mut System) -> Verdict,
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
}

/// Why a property does not hold: what was sent, what came back.
#[derive(Debug)]
pub struct Evidence(pub Vec<String>);

impl From<String> for Evidence {
    fn from(line: String) -> Evidence {
        Evidence(vec![line])
    }
}

/// A property's result.
pub type Verdict = Result<(), Evidence>;

/// The properties, in the report card's order. A load balancer meets them all with the same
/// three workers behind it; "a worker added" comes last, because the Python load balancer
/// keeps its turn counter across requests and would index past the end of a shorter list.
pub const PROPERTIES: &[Property] = &[
    Property {
        claim: "the worker registers its port in worker_ports.txt",
        applies: Applies::Worker,
        check: registers_its_port,
    },
    Property {
        claim: "small answers are right: 0!, 1!, 12!, 20!",
        applies: Applies::Everywhere,
        check: small_answers_are_right,
    },
    Property {
        claim: "an answer longer than 4096 digits arrives whole: 1500!",
        applies: Applies::Everywhere,
        check: long_answer_arrives_whole,
    },
    Property {
        claim: "a large n gets all its digits or an error: 5000!",
        applies: Applies::Everywhere,
        check: large_n_is_answered,
    },
    Property {
        claim: "each bad request gets an answer, and the server still serves",
        applies: Applies::Everywhere,
        check: bad_requests_are_answered,
    },
    Property {
        claim: "a slow client does not hold up a fast one",
        applies: Applies::Everywhere,
        check: slow_client_does_not_hold_up_others,
    },
    Property {
        claim: "a client that connects and waits before sending is served",
        applies: Applies::Everywhere,
        check: waiting_client_is_served,
    },
    Property {
        claim: "requests go to every worker, each in turn (round-robin)",
        applies: Applies::RoundRobin,
        check: every_worker_in_turn,
    },
    Property {
        claim: "requests go to every worker",
        applies: Applies::AnyOrder,
        check: every_worker_gets_requests,
    },
    Property {
        claim: "a worker killed mid-run is bypassed: no later request fails",
        applies: Applies::LoadBalancer,
        check: killed_worker_is_bypassed,
    },
    Property {
        claim: "a frozen worker (Ctrl-Z) does not stall the rest",
        applies: Applies::LoadBalancer,
        check: frozen_worker_does_not_stall,
    },
    Property {
        claim: "a worker added mid-run gets requests",
        applies: Applies::LoadBalancer,
        check: added_worker_gets_requests,
    },
];

/// Requests that are not a whole number n >= 0, or whose n! is absurdly large.
const BAD_REQUESTS: [&str; 4] = ["abc", "-5", "1.5", "99999999999999999999"];

/// How long a slow typist waits between connecting and sending the number: long enough to
/// tell a server that reads what arrives from one that needs it at once, and well under the
/// ten seconds our worker gives a connection to send its request.
const TYPING_TIME: Duration = Duration::from_secs(2);

/// The requests sent after a worker is stopped or frozen: with three workers in turn, six
/// would reach the stopped one twice; eighteen leave a random choice a chance of (2/3)^18,
/// about one in 1,500, of never trying it (a load balancer whose timeout is its only defence
/// against a frozen worker pays that timeout on each of them, so no more are sent).
const AFTER_THE_STOP: RangeInclusive<u64> = 4..=21;

/// The worker appends a line naming its port to worker_ports.txt in its current folder
/// (worker_server.py lines 9-13, 25), and answers at that port.
fn registers_its_port(system: &mut System) -> Verdict {
    let worker = &system.workers[0];
    let (line, addr) = (worker.registry_line.clone(), worker.addr);
    expect_factorial(addr, 5).map_err(|e| format!("it registered {line:?}; {e}"))?;
    Ok(())
}

/// 0!, 1!, 12! and 20! come back exactly (20! is the largest that fits in 64 bits).
fn small_answers_are_right(system: &mut System) -> Verdict {
    let addr = system.address()?;
    for n in [0, 1, 12, 20] {
        expect_factorial(addr, n)?;
    }
    Ok(())
}

/// 1500! has 4,115 digits: more than one `recv(1024)` reads (load_balancer.py line 46), and
/// more than a `recv(4096)` "fix" would, yet within Python 3.11's 4,300-digit limit for
/// turning an integer into text.
fn long_answer_arrives_whole(system: &mut System) -> Verdict {
    Ok(expect_factorial(system.address()?, 1500)?)
}

/// 5000! has 16,326 digits: beyond Python 3.11's 4,300-digit limit for turning an integer
/// into text, where `str(result)` raises (worker_server.py line 53). Whole, or refused with an
/// `Error: ` answer (a worker may cap n, as ours does above `--max-n`), but not silence.
fn large_n_is_answered(system: &mut System) -> Verdict {
    let reply = ask(system.address()?, "5000");
    if reply.is_error() {
        return Ok(());
    }
    Ok(expect_right(5000, &reply)?)
}

/// Each bad request, and a client that sends nothing, gets an `Error: ` answer (not digits,
/// not a closed connection or silence); afterwards every worker still serves
/// (worker_server.py line 47 dies on `abc`, and line 45 stops the worker on an empty request).
fn bad_requests_are_answered(system: &mut System) -> Verdict {
    let addr = system.address()?;
    let mut evidence = Vec::new();
    for request in BAD_REQUESTS {
        let reply = ask(addr, request);
        if !reply.is_error() {
            evidence.push(format!("sent {request:?}: {}", reply.describe_as_error()));
        }
        if let Reply::TimedOut(_) = reply {
            // A server that is stuck would make every later request wait as long.
            evidence.push("the server is stuck: nothing more is sent".to_string());
            return verdict(evidence);
        }
    }
    let reply = ask_nothing(addr);
    if !reply.is_error() {
        evidence.push(format!(
            "sent nothing, then closed: {}",
            reply.describe_as_error()
        ));
    }
    // One request a worker, so a worker the bad requests killed is found.
    for _ in 0..system.workers.len().max(1) {
        if let Err(e) = expect_factorial(addr, 12) {
            evidence.push(format!("afterwards {e}"));
        }
    }
    verdict(evidence)
}

/// While one client has connected but not yet sent its number, another's request is
/// answered; then the slow one is served too (worker_server.py serves one connection at a
/// time, lines 33-55).
fn slow_client_does_not_hold_up_others(system: &mut System) -> Verdict {
    let addr = system.address()?;
    let typist = connect(addr).map_err(|failed| failed.describe())?;
    let fast = expect_factorial(addr, 12);
    let slow = expect_right(10, &finish(typist, "10"));
    fast.map_err(|e| format!("while another client was still typing, {e}"))?;
    slow.map_err(|e| format!("the slow client, when it sent its number: {e}"))?;
    Ok(())
}

/// A client that connects and waits [`TYPING_TIME`] before sending is served all the same.
fn waiting_client_is_served(system: &mut System) -> Verdict {
    let addr = system.address()?;
    let typist = connect(addr).map_err(|failed| failed.describe())?;
    std::thread::sleep(TYPING_TIME);
    let typed = finish(typist, "9");
    expect_right(9, &typed).map_err(|e| format!("after {TYPING_TIME:?} of typing, {e}"))?;
    Ok(())
}

/// Six requests in a row go to the three workers in turn, twice over: round-robin
/// (load_balancer.py lines 36-38), from whichever worker has the first turn.
fn every_worker_in_turn(system: &mut System) -> Verdict {
    let served = serve_and_see_who(system, 21..=26)?;
    let first_round = &served[..3];
    let all_three = (0..3).all(|worker| first_round.contains(&worker));
    if !all_three || served[3..] != served[..3] {
        return Err(format!(
            "workers {} served 21! to 26!, in that order; round-robin is each in turn",
            numbered(&served)
        )
        .into());
    }
    Ok(())
}

/// Sixty requests in a row, and every worker served at least one: a random choice among three
/// leaves one out with a chance of 3 x (2/3)^60, about one in 10 billion.
fn every_worker_gets_requests(system: &mut System) -> Verdict {
    let served = serve_and_see_who(system, 21..=80)?;
    every_worker_served(system, &served)
}

/// A worker killed mid-run (Ctrl-C, a crash) is bypassed, though the registry still lists
/// it: no request after it fails (load_balancer.py line 55 answers an error instead).
fn killed_worker_is_bypassed(system: &mut System) -> Verdict {
    let addr = system.address()?;
    one_request_each(addr)?;
    system.workers[1].process.kill();
    Ok(every_answer_right(addr, "after worker 2 was killed")?)
}

/// A frozen worker (Ctrl-Z: its kernel still accepts connections, but it never answers)
/// does not stall the rest: every request is answered (load_balancer.py line 46 waits for
/// it forever).
fn frozen_worker_does_not_stall(system: &mut System) -> Verdict {
    let addr = system.address()?;
    one_request_each(addr)?;
    system.workers[1]
        .process
        .signal("STOP")
        .map_err(|e| e.to_string())?;
    Ok(every_answer_right(addr, "with worker 2 frozen")?)
}

/// A worker started mid-run gets requests without a restart of the load balancer, which
/// reads the registry for every request (load_balancer.py line 25).
fn added_worker_gets_requests(system: &mut System) -> Verdict {
    let addr = system.address()?;
    one_request_each(addr)?;
    system.add_worker()?;
    // Sixty requests: a random choice among four misses the new one with a chance of
    // (3/4)^60, about one in 30 million.
    let served = serve_and_see_who(system, 31..=90)?;
    every_worker_served(system, &served)
}

/// Asks for 1!, 2! and 3!: with three workers taking turns, each has served once, so the
/// worker a property then stops or freezes has a turn in the requests that follow.
fn one_request_each(addr: SocketAddr) -> Result<(), String> {
    (1..=3).try_for_each(|n| expect_factorial(addr, n))
}

/// Asks for each n! in [`AFTER_THE_STOP`] and checks each answer; a failure says `when`.
fn every_answer_right(addr: SocketAddr, when: &str) -> Result<(), String> {
    AFTER_THE_STOP
        .into_iter()
        .try_for_each(|n| expect_factorial(addr, n).map_err(|e| format!("{when}, {e}")))
}

/// Asks for each n! in `numbers`, checks each answer, and returns which worker served each.
fn serve_and_see_who(
    system: &mut System,
    numbers: RangeInclusive<u64>,
) -> Result<Vec<usize>, Evidence> {
    let addr = system.address()?;
    let mut served = Vec::new();
    for n in numbers {
        expect_factorial(addr, n)?;
        served.push(system.served_by(n)?);
    }
    Ok(served)
}

/// Fails unless every worker is among those that `served`.
fn every_worker_served(system: &System, served: &[usize]) -> Verdict {
    let idle: Vec<usize> = (0..system.workers.len())
        .filter(|worker| !served.contains(worker))
        .collect();
    if idle.is_empty() {
        return Ok(());
    }
    Err(format!(
        "workers {} served {} requests; worker(s) {} served none",
        numbered(served),
        served.len(),
        numbered(&idle)
    )
    .into())
}

/// Asks `addr` for n! and compares every digit.
fn expect_factorial(addr: SocketAddr, n: u64) -> Result<(), String> {
    expect_right(n, &ask(addr, &n.to_string()))
}

/// Compares a reply with n!, and says how it differs.
fn expect_right(n: u64, reply: &Reply) -> Result<(), String> {
    let right = factorial_digits(n);
    match reply {
        Reply::Answer(bytes) if bytes == right.as_bytes() => Ok(()),
        Reply::Answer(bytes) if !bytes.is_empty() && right.as_bytes().starts_with(bytes) => {
            Err(format!(
                "asked for {n}!: got its first {} digits of {}: the answer was cut",
                bytes.len(),
                right.len()
            ))
        }
        _ => Err(format!(
            "asked for {n}!: {}, where {n}! is {:?}",
            reply.describe(),
            shorten(&right)
        )),
    }
}

/// Workers by their numbers from 1, as the report names them: `1 2 3 1 2 3`.
fn numbered(workers: &[usize]) -> String {
    let names: Vec<String> = workers.iter().map(|w| (w + 1).to_string()).collect();
    names.join(" ")
}

/// `Ok` when nothing was found wrong.
fn verdict(evidence: Vec<String>) -> Verdict {
    if evidence.is_empty() {
        Ok(())
    } else {
        Err(Evidence(evidence))
    }
}

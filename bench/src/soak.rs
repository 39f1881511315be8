//! The soak mode, `bench --soak SECS`: what a lab room does to the lab for SECS seconds, with
//! every answer checked. Three workers (`--workers`) and our load balancer, from the same build
//! as the benchmark, take mixed load from several client threads (`--clients`, the first one):
//! mostly small n, some medium, a few large, and some input that must be refused with
//! `Error: `. Meanwhile, every [`MAX_PERIOD`] (less for a short run) one worker is killed and a
//! new one started, which appends itself to the registry as a restarted worker does, and
//! another is frozen (SIGSTOP, or a suspend on Windows) for [`MAX_FREEZE`] and then thawed.
//!
//! It counts answers that were right, wrong (must be none) and lost (an error or no answer for
//! a valid n: must be none), and apart from these the requests the load balancer gave up on
//! after two kills of the soak's own met them (its rule: a request two workers took and failed
//! with goes no further), and the load balancer's threads and open descriptors at the start
//! and the end (Linux's /proc). One summary line per thread mode; the exit code is non-zero
//! when anything was wrong or lost, and then the servers' logs are kept for reading.

use std::fs;
use std::io::{self, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::error::{Context, Error};
use common::factorial::factorial_digits;
use common::protocol::GAVE_UP;
use harness::lab::Lab;

use crate::targets::{self, Kind, ServerOutput, Target};

/// How often a worker is killed and another frozen in a long soak: once a minute, as a lab
/// room's students restart and Ctrl-Z theirs. A short run does it five times in all instead.
const MAX_PERIOD: Duration = Duration::from_secs(60);

/// How long a worker stays frozen in a long soak: several of the load balancer's one-second
/// hedges and its health checks, so that it is marked down and comes back up. A short run
/// freezes for half a period instead.
const MAX_FREEZE: Duration = Duration::from_secs(5);

/// How long one request may go unanswered before it counts as lost: the load balancer's own
/// `--timeout` (a minute), so that only a request it has given up on, or lost, reaches it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The n of a large request: 213,237 digits, a few milliseconds of a worker's time, so that a
/// kill or a freeze often meets one in the middle of its answer.
const LARGE_N: u64 = 50_000;

/// How many lost or wrong requests are described one by one; the rest are only counted.
const DESCRIBED: usize = 20;

/// The longest soak allowed: a day. A typo of an extra zero or two still ends.
pub const MAX_SECS: u64 = 86_400;

/// Our load balancer's two thread modes, as `--threads` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// A new thread per connection (the default).
    Spawn,
    /// A fixed pool of threads (the opt-in).
    Reuse,
}

impl Threads {
    /// The name `--threads` takes.
    pub fn name(self) -> &'static str {
        match self {
            Threads::Spawn => "spawn",
            Threads::Reuse => "reuse",
        }
    }
}

/// What the soak was asked to do.
pub struct Soak {
    /// How long the load runs in each thread mode.
    pub duration: Duration,
    /// Client threads sending requests one after another.
    pub clients: usize,
    /// Workers behind the load balancer, kept at this number by restarting.
    pub workers: usize,
    /// Where the servers' lines go; logs are kept for reading only when they went to files.
    pub output: ServerOutput,
}

/// One request the clients send, and what must come back.
enum Request {
    /// A whole number, to be answered with n!.
    Valid(u64),
    /// Input that must be refused with an answer starting `Error: `.
    Bad(&'static str),
}

impl Request {
    /// The mix: 85 in 100 small (0 to 20), 8 medium (1000 to 5000), 2 large ([`LARGE_N`]) and
    /// 5 bad (`abc`, `-5`), picked with `random`, a number from [`next_random`].
    fn pick(random: u64) -> Request {
        match random % 100 {
            0..85 => Request::Valid(random / 100 % 21),
            85..93 => Request::Valid(1000 + random / 100 % 4001),
            93..95 => Request::Valid(LARGE_N),
            _ if random / 100 % 2 == 0 => Request::Bad("abc"),
            _ => Request::Bad("-5"),
        }
    }

    fn text(&self) -> String {
        match self {
            Request::Valid(n) => n.to_string(),
            Request::Bad(text) => text.to_string(),
        }
    }
}

/// xorshift64: a different, repeatable stream of requests for each client thread, std only.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The answers known before the run, so that a client thread compares rather than computes
/// for all but the medium n.
struct Expected {
    small: Vec<String>,
    large: String,
}

impl Expected {
    fn new() -> Expected {
        Expected {
            small: (0..=20).map(factorial_digits).collect(),
            large: factorial_digits(LARGE_N),
        }
    }

    fn digits(&self, n: u64) -> String {
        match n {
            0..=20 => self.small[n as usize].clone(),
            LARGE_N => self.large.clone(),
            _ => factorial_digits(n),
        }
    }
}

/// What the client threads counted, shared among them.
#[derive(Default)]
struct Tally {
    /// Valid n answered with n!.
    right: AtomicUsize,
    /// Bad input answered `Error: …`, as it must be.
    refused: AtomicUsize,
    /// Answers that were neither: digits that are not n!, or anything but `Error: ` for bad
    /// input.
    wrong: AtomicUsize,
    /// Requests with no answer, or an `Error: ` answer for a valid n.
    lost: AtomicUsize,
    /// Valid n answered [`GAVE_UP`] after two of the soak's kills fell within the request:
    /// both workers it reached may have been killed under it. A short soak kills a worker
    /// every 0.8 s, and a large n on busy cores outlasts a second and is hedged onto a second
    /// worker; a lab room kills one a minute.
    met_two_kills: AtomicUsize,
    /// When the soak killed each worker.
    kills: Mutex<Vec<Instant>>,
    /// The slowest request that was answered, in microseconds.
    slowest: AtomicU64,
    /// The first [`DESCRIBED`] wrong or lost requests, one line each.
    problems: Mutex<Vec<String>>,
}

impl Tally {
    /// How many of the soak's kills fell between `from` and `to`.
    fn kills_between(&self, from: Instant, to: Instant) -> usize {
        self.kills.lock().map_or(0, |kills| {
            kills.iter().filter(|&&k| k >= from && k <= to).count()
        })
    }

    fn describe(&self, line: String) {
        if let Ok(mut problems) = self.problems.lock() {
            if problems.len() < DESCRIBED {
                problems.push(line);
            }
        }
    }
}

/// Runs the soak in each of `modes` in turn, printing one summary line per mode. Returns
/// whether every mode lost nothing and answered nothing wrong.
pub fn run(soak: &Soak, modes: &[Threads]) -> Result<bool, Error> {
    let expected = Arc::new(Expected::new());
    let mut all_held = true;
    for &mode in modes {
        all_held &= run_mode(soak, mode, &expected)?;
    }
    Ok(all_held)
}

/// One mode: a lab of its own, the load, the kills and freezes, the summary line.
fn run_mode(soak: &Soak, mode: Threads, expected: &Arc<Expected>) -> Result<bool, Error> {
    let lab = Lab::new("soak")?;
    let mut workers = targets::start_workers(&lab, soak.workers, soak.output)?;
    let kind = match mode {
        Threads::Spawn => Kind::OursSpawn,
        Threads::Reuse => Kind::Ours,
    };
    let ports: Vec<u16> = workers.iter().map(|w| w.port).collect();
    let no_python = Err("not used in the soak");
    let mut balancer = targets::start(kind, &lab, &ports, no_python, soak.output)?;
    let pid = balancer.process().map(|p| p.pid());
    let log = targets::log_path(&lab, &kind.to_string());
    let at_start = pid.and_then(threads_and_descriptors);

    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let deadline = started + soak.duration;
    let clients: Vec<_> = (0..soak.clients)
        .map(|i| {
            let (tally, expected, log) = (Arc::clone(&tally), Arc::clone(expected), log.clone());
            let port = balancer.port;
            thread::spawn(move || {
                let mut random =
                    0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
                while Instant::now() < deadline {
                    let request = Request::pick(next_random(&mut random));
                    send(port, &request, &expected, &tally, started, &log);
                }
            })
        })
        .collect();

    let chaos = make_chaos(&lab, &mut workers, soak, started, deadline, &tally);
    for client in clients {
        if client.join().is_err() {
            tally.lost.fetch_add(1, Ordering::Relaxed); // a client that panicked lost its request
        }
    }
    let (killed, frozen, freeze) = match chaos {
        Ok(done) => done,
        Err(e) if soak.output == ServerOutput::File => {
            let kept = keep_logs(&lab)?;
            return Err(Error::new(format!(
                "{e}\n  the servers' logs are kept in {}",
                kept.display()
            )));
        }
        Err(e) => return Err(e),
    };
    let elapsed = started.elapsed();
    // Threads of connections that just ended may still be on their way out.
    thread::sleep(Duration::from_secs(1));
    let at_end = pid.and_then(threads_and_descriptors);

    let right = tally.right.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let wrong = tally.wrong.load(Ordering::Relaxed);
    let lost = tally.lost.load(Ordering::Relaxed);
    let met_two_kills = tally.met_two_kills.load(Ordering::Relaxed);
    let slowest = Duration::from_micros(tally.slowest.load(Ordering::Relaxed));
    let resources = match (at_start, at_end) {
        (Some((t0, f0)), Some((t1, f1))) => {
            format!("load balancer threads {t0} → {t1}, open descriptors {f0} → {f1}")
        }
        _ => "load balancer threads and descriptors not measured (no /proc)".to_string(),
    };
    println!(
        "soak --threads {}: {:.0} s, {} worker{}, {} clients: {} requests, {right} right, \
         {refused} refused as they must be (abc, -5), {wrong} wrong, {lost} lost; {}slowest \
         {:.2} s; {killed} workers killed and restarted, {frozen} frozen for {:.1} s; {resources}",
        mode.name(),
        elapsed.as_secs_f64(),
        soak.workers,
        if soak.workers == 1 { "" } else { "s" },
        soak.clients,
        right + refused + wrong + lost + met_two_kills,
        given_up_after_kills(met_two_kills),
        slowest.as_secs_f64(),
        freeze.as_secs_f64(),
    );
    let held = wrong == 0 && lost == 0 && right > 0;
    if !held {
        for problem in tally.problems.lock().map(|p| p.clone()).unwrap_or_default() {
            println!("  {problem}");
        }
        if soak.output == ServerOutput::File {
            let kept = keep_logs(&lab)?;
            println!("  the servers' logs are kept in {}", kept.display());
        }
    }
    let _ = io::stdout().flush();
    drop(balancer);
    Ok(held)
}

/// How the summary line names the requests given up on after two kills, if there were any.
fn given_up_after_kills(count: usize) -> String {
    match count {
        0 => String::new(),
        _ => format!(
            "{count} given up on by the load balancer after two of the soak's kills met {}; ",
            if count == 1 { "it" } else { "each" }
        ),
    }
}

/// Every period until the deadline: kills one worker and starts a new one in its place (it
/// appends itself to the registry), then freezes the next for a while and thaws it. Returns
/// how many were killed and frozen, and for how long each freeze lasted; each kill's time
/// goes to `tally`.
fn make_chaos(
    lab: &Lab,
    workers: &mut [Target],
    soak: &Soak,
    started: Instant,
    deadline: Instant,
    tally: &Tally,
) -> Result<(usize, usize, Duration), Error> {
    let period = (soak.duration / 5).min(MAX_PERIOD);
    let freeze = (period / 2).min(MAX_FREEZE);
    let (mut killed, mut frozen) = (0, 0);
    let mut next = started + period;
    while next + freeze < deadline && !workers.is_empty() {
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let victim = killed % workers.len();
        if let Some(process) = workers[victim].process() {
            if let Ok(mut kills) = tally.kills.lock() {
                kills.push(Instant::now());
            }
            process.kill();
        }
        let tag = format!("worker {}", soak.workers + killed + 1);
        workers[victim] = targets::start_worker(lab, &tag, soak.output)?;
        killed += 1;

        let sleeper = (victim + 1) % workers.len();
        if let Some(process) = workers[sleeper].process() {
            process.signal("STOP").map_err(|e| gone(e, process))?;
            thread::sleep(freeze);
            process.signal("CONT").map_err(|e| gone(e, process))?;
            frozen += 1;
        }
        next += period;
    }
    Ok((killed, frozen, freeze))
}

/// A signal that could not be sent, and how the worker had ended, if it had: the soak kills
/// workers only through [`make_chaos`], so a worker that ended otherwise is news.
fn gone(failed: Error, worker: &mut harness::process::Running) -> Error {
    match worker.exit_status() {
        Some(status) => Error::new(format!(
            "{failed}; the worker had ended, and not by the soak's hand ({status})"
        )),
        None => failed,
    }
}

/// Sends one request as client.py does and counts what came back.
fn send(
    port: u16,
    request: &Request,
    expected: &Expected,
    tally: &Tally,
    started: Instant,
    log: &Path,
) {
    let text = request.text();
    let sent = Instant::now();
    let mut local_port = None;
    let answer = ask(port, &text, &mut local_port);
    let took = sent.elapsed();
    let answer = answer.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let verdict = judge(request, &answer, expected, tally, sent);
    match verdict {
        Ok(count) => {
            count.fetch_add(1, Ordering::Relaxed);
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            tally.slowest.fetch_max(micros, Ordering::Relaxed);
        }
        Err(count) => {
            count.fetch_add(1, Ordering::Relaxed);
            let what = match &answer {
                Ok(text) => format!("answer {:?}", text.chars().take(80).collect::<String>()),
                Err(e) => format!("no answer: {e}"),
            };
            // Where the load balancer's log had got to: its lines about this request are near.
            let offset = fs::metadata(log).map_or(0, |m| m.len());
            let from = local_port.map_or("?".to_string(), |p| p.to_string());
            tally.describe(format!(
                "request {text:?} sent at {:.3} s from port {from}, after {:.3} s: {what} \
                 (load balancer's log at byte {offset})",
                (sent - started).as_secs_f64(),
                took.as_secs_f64(),
            ));
        }
    }
}

/// Which count `answer` to `request`, sent at `sent`, goes to: `Ok` for one that holds (right,
/// refused as it must be, or given up on after two kills), `Err` for one that does not.
fn judge<'t>(
    request: &Request,
    answer: &io::Result<String>,
    expected: &Expected,
    tally: &'t Tally,
    sent: Instant,
) -> Result<&'t AtomicUsize, &'t AtomicUsize> {
    match (request, answer) {
        (Request::Valid(n), Ok(answer)) if *answer == expected.digits(*n) => Ok(&tally.right),
        (Request::Bad(_), Ok(answer)) if answer.starts_with("Error: ") => Ok(&tally.refused),
        (Request::Valid(_), Ok(answer))
            if answer == GAVE_UP && tally.kills_between(sent, Instant::now()) >= 2 =>
        {
            Ok(&tally.met_two_kills)
        }
        (Request::Valid(_), Ok(answer)) if answer.starts_with("Error: ") || answer.is_empty() => {
            Err(&tally.lost)
        }
        (_, Ok(_)) => Err(&tally.wrong),
        (_, Err(_)) => Err(&tally.lost),
    }
}

/// One request to the load balancer, as client.py sends it, and the whole answer; the port
/// it was sent from goes to `local_port`, which the load balancer logs as `Client connected`.
fn ask(port: u16, request: &str, local_port: &mut Option<u16>) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    *local_port = stream.local_addr().ok().map(|a| a.port());
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    common::protocol::exchange(&mut stream, request.as_bytes())
}

/// A process's thread count and open file descriptors, from Linux's /proc; `None` elsewhere.
fn threads_and_descriptors(pid: u32) -> Option<(usize, usize)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let threads = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()?;
    let descriptors = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((threads, descriptors))
}

/// Copies the lab's logs and registry to a folder that outlives it, for reading what went wrong.
fn keep_logs(lab: &Lab) -> Result<PathBuf, Error> {
    let name = lab
        .dir()
        .file_name()
        .map_or("soak".into(), |n| n.to_string_lossy().into_owned());
    let kept = std::env::temp_dir().join(format!("{name}-logs"));
    fs::create_dir_all(&kept).context(|| format!("cannot create {}", kept.display()))?;
    let entries =
        fs::read_dir(lab.dir()).context(|| format!("cannot read {}", lab.dir().display()))?;
    for entry in entries.flatten() {
        let to = kept.join(entry.file_name());
        fs::copy(entry.path(), &to).context(|| format!("cannot copy to {}", to.display()))?;
    }
    Ok(kept)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// A request two kills fell within, given up on as the load balancer's rule says, is
    /// counted apart; after one kill, or given up on otherwise, it is lost.
    #[test]
    fn a_request_given_up_on_after_two_kills_is_not_lost() {
        let expected = Expected::new();
        let request = Request::Valid(LARGE_N);
        let gave_up = Ok(GAVE_UP.to_string());
        let sent = Instant::now();
        let tally = Tally::default();
        tally.kills.lock().unwrap().push(Instant::now());
        let judged = judge(&request, &gave_up, &expected, &tally, sent);
        assert!(judged.is_err_and(|count| std::ptr::eq(count, &tally.lost)));

        tally.kills.lock().unwrap().push(Instant::now());
        let judged = judge(&request, &gave_up, &expected, &tally, sent);
        assert!(judged.is_ok_and(|count| std::ptr::eq(count, &tally.met_two_kills)));

        let failed = Ok(common::protocol::WORKER_FAILED.to_string());
        let judged = judge(&request, &failed, &expected, &tally, sent);
        assert!(judged.is_err_and(|count| std::ptr::eq(count, &tally.lost)));
        // Kills before the request was sent did not meet it.
        let judged = judge(&request, &gave_up, &expected, &tally, Instant::now());
        assert!(judged.is_err_and(|count| std::ptr::eq(count, &tally.lost)));
    }
}

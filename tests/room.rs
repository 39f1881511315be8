//! End to end: what a lab room does to the lab in its first hour. Slow typists, a worker
//! frozen with Ctrl-Z, programs in the registry that are not workers, a request that kills
//! workers, a registry full of dead entries, and a room full of connections. Each fault is
//! made on purpose: a fake worker in this process (`harness::peers`), `kill -STOP`, or
//! connections the test holds. docs/reliability.md names the test for each row.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, Server, ask_text, dead_addresses};
use harness::peers::{FakeWorker, Misbehaviour};

/// Writes the registry file of `lab` with these lines.
fn write_registry(lab: &Lab, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(lab.registry(), text).unwrap();
}

/// Connects to 127.0.0.1:`port`, with a read timeout so that a broken server fails the test
/// instead of hanging it.
fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Reads an answer to the close.
fn read_answer(mut stream: TcpStream) -> String {
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// A student who takes 11 s to type the number at client.py's prompt (it connects first):
/// the load balancer waits, where its old 10 s timeout answered `Error: request timed out`.
#[test]
fn a_slow_typist_is_not_cut_off() -> Result<(), Error> {
    let lab = Lab::new("slow-typist")?;
    let _workers = lab.start_workers(1, &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    let mut typist = connect(lb.port);
    lb.process.wait_for("Client connected", PATIENCE)?;
    // The one wait in this file that is the fault itself: a person typing slowly.
    thread::sleep(Duration::from_secs(11));
    typist.write_all(b"12").unwrap();
    assert_eq!(read_answer(typist), "479001600");
    Ok(())
}

/// A front end that relays bytes as HAProxy and nginx do in TCP mode (and as a student's own
/// relay does): it connects to the worker the moment a client connects, then copies each way
/// until each side closes. It serves one client.
fn relay_to(worker: u16) -> u16 {
    let (listener, port) = harness::lab::bind_loopback().unwrap();
    thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let upstream = TcpStream::connect(("127.0.0.1", worker)).unwrap();
        let copy = |mut from: TcpStream, to: TcpStream| {
            let mut writer = &to;
            let _ = std::io::copy(&mut from, &mut writer);
            let _ = to.shutdown(std::net::Shutdown::Write);
        };
        let (client_in, upstream_out) =
            (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let forward = thread::spawn(move || copy(client_in, upstream_out));
        copy(upstream, client);
        let _ = forward.join();
    });
    port
}

/// A person who takes 11 s to type the number, through a relay that connected to our worker
/// when the person connected (HAProxy, nginx, a student's relay): the worker waits for the
/// request as long as a front end lets a person take (a minute), where its old 10 s deadline
/// answered `Error: request timed out`.
#[test]
fn a_slow_typist_behind_a_relay_is_served_by_the_worker() -> Result<(), Error> {
    let lab = Lab::new("slow-typist-relay")?;
    let mut worker = lab.start_worker("worker", &[])?;
    let mut typist = connect(relay_to(worker.port));
    worker.process.wait_for("Connected by", PATIENCE)?;
    // The one wait here is the fault itself: a person typing slowly.
    thread::sleep(Duration::from_secs(11));
    typist.write_all(b"12").unwrap();
    assert_eq!(read_answer(typist), "479001600");
    Ok(())
}

/// A worker frozen with Ctrl-Z (SIGSTOP) while 10 clients ask in a loop: its kernel still
/// accepts connections, so requests sent to it wait. A health check finds it within about two
/// seconds; it is marked down and the requests waiting on it go to the other worker. Every
/// answer is right. With --worker-timeout at an hour, the requests stuck on the frozen worker
/// would hang this test without the check. Prints the longest pause in completions.
#[test]
fn a_frozen_worker_costs_seconds_not_the_worker_timeout() -> Result<(), Error> {
    const CLIENTS: usize = 10;
    let lab = Lab::new("frozen")?;
    let mut workers = lab.start_workers(2, &[])?;
    let mut lb = lab.start_load_balancer(&["--worker-timeout", "3600"])?;
    let port = lb.port;
    let stop = Arc::new(AtomicBool::new(false));
    // How many answers each client has had so far.
    let answers: Vec<Arc<AtomicUsize>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let clients: Vec<_> = answers
        .iter()
        .map(|answered| {
            let (stop, answered) = (Arc::clone(&stop), Arc::clone(answered));
            thread::spawn(move || -> Result<Vec<Instant>, Error> {
                let mut done = Vec::new();
                for n in (0..20u64).cycle() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    assert_eq!(ask_text(port, &n.to_string())?, factorial_digits(n));
                    done.push(Instant::now());
                    answered.fetch_add(1, Ordering::Release);
                }
                Ok(done)
            })
        })
        .collect();
    lb.wait_for_forwards(200)?;
    let frozen = workers[0].port;
    workers[0].process.signal("STOP")?;
    let stopped = Instant::now();
    lb.process.wait_for(
        &format!("Worker ('127.0.0.1', {frozen}) marked down"),
        PATIENCE,
    )?;
    let found = stopped.elapsed();
    let marked_down = Instant::now();
    // Keep the load on for a while more (counted in answers, not seconds, so that a busy
    // machine gives every client its turns too), then thaw the worker and watch it come back.
    let answered_then: Vec<usize> = answers.iter().map(|a| a.load(Ordering::Acquire)).collect();
    let other = workers[1].port;
    let mut served_by_other = 0;
    while served_by_other < 5 * CLIENTS {
        served_by_other += usize::from(lb.wait_for_forwards(1)? == [other]);
    }
    // And until every client has had an answer since the worker was marked down: fifty
    // answers can come within the second that a request sent to the frozen worker just before
    // waits for its hedge (seen on busy cores). A client left waiting on the frozen worker
    // would have none, and the test says so after PATIENCE.
    let waiting = Instant::now();
    loop {
        let behind = answers
            .iter()
            .zip(&answered_then)
            .filter(|(a, then)| a.load(Ordering::Acquire) == **then)
            .count();
        if behind == 0 {
            break;
        }
        assert!(
            waiting.elapsed() < PATIENCE,
            "{behind} of {CLIENTS} clients had no answer in {PATIENCE:?} while the worker was \
             frozen and marked down ({served_by_other} answered by the other worker)"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let thawed = Instant::now();
    workers[0].process.signal("CONT")?;
    lb.process.wait_for(
        &format!("Worker ('127.0.0.1', {frozen}) is back up"),
        PATIENCE,
    )?;
    stop.store(true, Ordering::Release);
    let mut done: Vec<Instant> = Vec::new();
    for client in clients {
        let finished = client
            .join()
            .map_err(|_| Error::new("a client panicked"))??;
        // While the worker was down and still frozen, every client went on being served:
        // none was left waiting on the frozen worker.
        assert!(
            finished.iter().any(|t| *t > marked_down && *t < thawed),
            "a client was stuck while the worker was frozen: it finished none of the \
             {served_by_other} requests the other worker answered meanwhile ({} in all)",
            finished.len()
        );
        done.extend(finished);
    }
    done.sort();
    let after_first_3s = stopped + Duration::from_secs(3);
    let longest_pause = done
        .windows(2)
        .filter(|pair| pair[0] >= after_first_3s)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "frozen worker: found and marked down after {found:.1?}; longest pause in completions \
         after the first 3 s: {longest_pause:.2?}; {} requests answered",
        done.len()
    );
    Ok(())
}

/// Two students' workers next to each other in the registry, both frozen with Ctrl-Z, ahead
/// of two live ones, and a fresh load balancer: every request is answered by a live worker.
/// The hedge goes past the second frozen worker to the next one that keeps up, instead of
/// waiting on it. With --worker-timeout at an hour, a rule that waited on the second frozen
/// worker leaves the first request unanswered until the test gives up on it.
#[test]
fn two_frozen_neighbours_are_passed_over() -> Result<(), Error> {
    let lab = Lab::new("two-frozen")?;
    let mut workers = lab.start_workers(4, &[])?;
    for frozen in &mut workers[..2] {
        frozen.process.signal("STOP")?;
    }
    let mut lb = lab.start_load_balancer(&["--worker-timeout", "3600"])?;
    for n in 0..6u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let live = [workers[2].port, workers[3].port];
    let served = lb.wait_for_forwards(6)?;
    assert!(served.iter().all(|port| live.contains(port)), "{served:?}");
    // The first request went to the first frozen worker, then to its frozen neighbour too,
    // and then on to a live one.
    let printed = lb.process.printed();
    let hedges: Vec<&String> = printed.iter().filter(|l| l.ends_with(" too")).collect();
    let (frozen, next) = (workers[1].port, workers[2].port);
    assert!(
        hedges[0].ends_with(&format!("asking worker ('127.0.0.1', {frozen}) too"))
            && hedges[1].ends_with(&format!("asking worker ('127.0.0.1', {next}) too")),
        "{printed:#?}"
    );
    Ok(())
}

/// The same two frozen neighbours while 8 clients ask 25 times each: every request is
/// answered, each by a live worker, though several requests meet the frozen two at once and
/// all need a live worker to hedge to. (Requests waited on the second frozen worker until
/// --worker-timeout, an hour here.)
#[test]
fn two_frozen_neighbours_under_load_lose_nothing() -> Result<(), Error> {
    const CLIENTS: usize = 8;
    let lab = Lab::new("two-frozen-load")?;
    let mut workers = lab.start_workers(4, &[])?;
    for frozen in &mut workers[..2] {
        frozen.process.signal("STOP")?;
    }
    let mut lb = lab.start_load_balancer(&["--worker-timeout", "3600"])?;
    let port = lb.port;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            thread::spawn(move || -> Result<(), Error> {
                for n in (0..25u64).map(|i| (i + client as u64) % 30) {
                    assert_eq!(ask_text(port, &n.to_string())?, factorial_digits(n));
                }
                Ok(())
            })
        })
        .collect();
    for client in clients {
        client
            .join()
            .map_err(|_| Error::new("a client panicked"))??;
    }
    let live = [workers[2].port, workers[3].port];
    let served = lb.wait_for_forwards(CLIENTS * 25)?;
    assert!(served.iter().all(|port| live.contains(port)), "{served:?}");
    Ok(())
}

/// Five registered programs in a row that accept and never answer, health checks included
/// (as five frozen workers), ahead of two live workers, and a fresh load balancer: the first
/// request is passed from one silent program to the next, a second apart, until a live worker
/// answers it; none is waited on for --worker-timeout (an hour here). The five are then
/// suspected, and later requests go straight to the live workers.
#[test]
fn a_row_of_silent_workers_is_walked_past() -> Result<(), Error> {
    let lab = Lab::new("silent-row")?;
    let silent = [(); 5].map(|()| FakeWorker::start(Misbehaviour::Hang).unwrap());
    let workers = lab.start_workers(2, &["--registry", "live.txt"])?;
    let mut lines: Vec<String> = silent.iter().map(|s| s.port.to_string()).collect();
    lines.extend(workers.iter().map(|w| w.port.to_string()));
    write_registry(&lab, &lines);
    let mut lb = lab.start_load_balancer(&["--worker-timeout", "3600"])?;
    for n in 0..4u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let live = [workers[0].port, workers[1].port];
    let served = lb.wait_for_forwards(4)?;
    assert!(served.iter().all(|port| live.contains(port)), "{served:?}");
    let printed = lb.process.printed();
    for fake in &silent[1..] {
        let asked = format!("asking worker ('127.0.0.1', {}) too", fake.port);
        assert!(
            printed.iter().any(|l| l.ends_with(&asked)),
            "{asked:?} in {printed:#?}"
        );
    }
    Ok(())
}

/// One worker listed three times, as `P`, `localhost:P` and `[::ffff:127.0.0.1]:P`, and
/// another once: they are two workers, compared by where they are reached, so round-robin
/// gives each half the requests (the first had three turns in four), and the other two lines
/// are reported once each.
#[test]
fn one_worker_spelled_three_ways_gets_one_turn() -> Result<(), Error> {
    let lab = Lab::new("spelled-thrice")?;
    let workers = lab.start_workers(2, &["--registry", "live.txt"])?;
    let (first, second) = (workers[0].port, workers[1].port);
    write_registry(
        &lab,
        &[
            first.to_string(),
            format!("localhost:{first}"),
            format!("[::ffff:127.0.0.1]:{first}"),
            second.to_string(),
        ],
    );
    let mut lb = lab.start_load_balancer(&[])?;
    for n in 0..20u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let served = lb.wait_for_forwards(20)?;
    let by_first = served.iter().filter(|&&port| port == first).count();
    assert_eq!(by_first, 10, "{served:?}");
    let printed = lb.process.printed();
    for line in [
        format!("localhost:{first}"),
        format!("[::ffff:127.0.0.1]:{first}"),
    ] {
        let said = format!("Skipping {line} in worker_ports.txt: the same worker as {first}");
        let times = printed.iter().filter(|l| **l == said).count();
        assert_eq!(times, 1, "{said:?} in {printed:#?}");
    }
    Ok(())
}

/// A registered program that accepts and never answers, health checks included: requests are
/// answered by the real worker, and the hanging one is marked down once the real worker has
/// answered a request it held.
#[test]
fn a_listener_that_never_answers_is_marked_down() -> Result<(), Error> {
    let lab = Lab::new("hang")?;
    let hang = FakeWorker::start(Misbehaviour::Hang)?;
    let worker = lab.start_worker("worker", &[])?;
    write_registry(&lab, &[hang.port.to_string(), worker.port.to_string()]);
    let mut lb = lab.start_load_balancer(&["--worker-timeout", "3600"])?;
    for n in 0..10u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    lb.process.wait_for(
        &format!("Worker ('127.0.0.1', {}) marked down: no answer", hang.port),
        PATIENCE,
    )?;
    Ok(())
}

/// Programs in the registry that are not workers: one answers `42`, one floods digits
/// forever, one cuts its answers in half. Every answer the client gets is n!; each liar is a
/// failed worker. The load balancer's peak memory stays small (it grew by 200 MB a second
/// when it kept a flood whole). Prints the peak.
#[test]
fn lying_and_flooding_workers_are_caught() -> Result<(), Error> {
    let lab = Lab::new("liars")?;
    let liars = [Misbehaviour::Lie, Misbehaviour::Flood, Misbehaviour::Cut]
        .map(|what| FakeWorker::start(what).unwrap());
    let worker = lab.start_worker("worker", &[])?;
    let mut lines: Vec<String> = liars.iter().map(|l| l.port.to_string()).collect();
    lines.push(worker.port.to_string());
    write_registry(&lab, &lines);
    let mut lb = lab.start_load_balancer(&["--cooldown", "0.1"])?;
    for n in [12u64, 1000, 30, 2000, 15, 100] {
        for _ in 0..4 {
            assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
        }
    }
    for liar in &liars {
        lb.process.wait_for(
            &format!(
                "Error communicating with worker ('127.0.0.1', {}): wrong answer",
                liar.port
            ),
            PATIENCE,
        )?;
    }
    let peak = peak_memory_kib(lb.process.pid());
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "load balancer's peak memory against a flooding worker: {peak} KiB"
    );
    assert!(peak < 64 * 1024, "peak memory {peak} KiB");
    Ok(())
}

/// The largest resident size a process has had, from /proc (VmHWM); on Windows, its peak
/// working set.
fn peak_memory_kib(pid: u32) -> u64 {
    #[cfg(windows)]
    return harness::win32::peak_memory(pid).unwrap() / 1024;
    #[cfg(not(windows))]
    {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap()
    }
}

/// A request that kills every worker it reaches (as any n from 1559 up kills a Python worker):
/// it reaches two of three, and the client is told; the third worker never sees it.
#[test]
fn a_request_that_kills_workers_reaches_two_at_most() -> Result<(), Error> {
    let lab = Lab::new("poison")?;
    let dying = [(); 3].map(|()| FakeWorker::start(Misbehaviour::Close).unwrap());
    write_registry(
        &lab,
        &dying.iter().map(|d| d.port.to_string()).collect::<Vec<_>>(),
    );
    let lb = lab.start_load_balancer(&[])?;
    let answer = ask_text(lb.port, "5000")?;
    assert!(
        answer.starts_with("Error: Worker communication failed: two workers"),
        "{answer}"
    );
    let reached: usize = dying.iter().map(FakeWorker::requests).sum();
    assert_eq!(reached, 2);
    Ok(())
}

/// A worker that answers `Error: server busy` is alive: the request goes to the next worker,
/// and the busy one is not marked down.
#[test]
fn a_busy_worker_is_not_marked_down() -> Result<(), Error> {
    let lab = Lab::new("busy")?;
    let busy = FakeWorker::start(Misbehaviour::Busy)?;
    let worker = lab.start_worker("worker", &[])?;
    write_registry(&lab, &[busy.port.to_string(), worker.port.to_string()]);
    let mut lb = lab.start_load_balancer(&[])?;
    for n in 0..6u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    lb.process.wait_for("the worker is busy", PATIENCE)?;
    // Every other request at least: on a slow machine a request the real worker is slow to
    // answer is asked of the busy one too (a hedge), which answers busy again.
    assert!(
        busy.requests() >= 3,
        "round-robin still sends it every other request: it got {} of 6",
        busy.requests()
    );
    let lines = lb.process.drain();
    assert!(
        !lines.iter().any(|l| l.text.contains("marked down")),
        "{lines:?}"
    );
    Ok(())
}

/// `count` registry lines for addresses where nothing can listen.
fn dead_entries(count: usize) -> Vec<String> {
    dead_addresses(count)
        .iter()
        .map(|a| a.registry_line())
        .collect()
}

/// A registry that has collected 2,000 dead entries before the 3 live workers, with a short
/// cool-down: every request is answered, and each dead entry costs one failed attempt at most,
/// because a down worker comes back only through a background health check, never by making
/// a request walk the dead entries again each time the cool-downs end.
#[test]
fn dead_entries_are_walked_once() -> Result<(), Error> {
    let lab = Lab::new("dead-entries")?;
    let workers = lab.start_workers(3, &["--registry", "live.txt"])?;
    let mut lines = dead_entries(2000);
    lines.extend(workers.iter().map(|w| w.port.to_string()));
    write_registry(&lab, &lines);
    let mut lb = lab.start_load_balancer(&["--cooldown", "0.2"])?;
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        let asked = Instant::now();
        assert_eq!(
            ask_text(lb.port, &(n % 20).to_string())?,
            factorial_digits(n % 20)
        );
        slowest = slowest.max(asked.elapsed());
        n += 1;
    }
    let failed_attempts = lb
        .process
        .drain()
        .iter()
        .filter(|l| l.text.starts_with("Error communicating with worker ('127."))
        .count();
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "2000 dead entries: {n} requests answered, slowest {slowest:.2?}, {failed_attempts} failed attempts"
    );
    assert!(failed_attempts <= 2000, "{failed_attempts} failed attempts");
    Ok(())
}

/// The lines about attempts that failed, from `printed` on.
fn failed_attempts(printed: &[String]) -> Vec<&String> {
    printed
        .iter()
        .filter(|l| l.starts_with("Error communicating with worker"))
        .collect()
}

/// Waits for `count` more lines with `pattern` from the load balancer, then until it is quiet
/// a moment (a line beyond those would come at once), and returns every line it printed from
/// `from` on.
fn lines_after(lb: &mut Server, from: usize, pattern: &str, count: usize) -> Vec<String> {
    for _ in 0..count {
        lb.process.wait_for(pattern, PATIENCE).unwrap();
    }
    lb.process
        .drain_when_quiet(Duration::from_millis(300), PATIENCE)
        .iter()
        .skip(from)
        .map(|l| l.text.clone())
        .collect()
}

/// A request every live worker refuses (`200000`, above their --max-n) with 50 dead entries
/// and a frozen worker, all marked down: the refusal is the answer, and no down worker is
/// tried. (The frozen one held such a request until --worker-timeout, an hour here, and every
/// dead entry was tried again for each request: an amplifier for anyone who sends `200000`.)
#[test]
fn a_request_every_live_worker_refuses_skips_the_down_ones() -> Result<(), Error> {
    let lab = Lab::new("refused-by-all")?;
    let mut workers = lab.start_workers(3, &["--registry", "live.txt"])?;
    let mut lines = dead_entries(50);
    lines.extend(workers.iter().map(|w| w.port.to_string()));
    write_registry(&lab, &lines);
    let mut lb = lab.start_load_balancer(&["--worker-timeout", "3600"])?;
    let frozen = workers[0].port;
    workers[0].process.signal("STOP")?;
    let marked_down = format!("Worker ('127.0.0.1', {frozen}) marked down");
    let mut asked = 0u64;
    while !lb
        .process
        .printed()
        .iter()
        .any(|l| l.starts_with(&marked_down))
    {
        assert_eq!(
            ask_text(lb.port, &(asked % 20).to_string())?,
            factorial_digits(asked % 20)
        );
        asked += 1;
        assert!(asked < 10_000, "the frozen worker never marked down");
    }
    let before = lb
        .process
        .drain_when_quiet(Duration::from_millis(300), PATIENCE)
        .len();
    for _ in 0..3 {
        assert_eq!(
            ask_text(lb.port, "200000")?,
            "Error: 200000 is above this worker's limit of 100000"
        );
    }
    let printed = lines_after(&mut lb, before, "refused: Error: 200000", 6);
    let tried = failed_attempts(&printed);
    assert_eq!(
        tried.len(),
        6,
        "the two live workers, three times: {tried:#?}"
    );
    assert!(
        tried.iter().all(|l| l.contains("refused: Error: 200000")),
        "{tried:#?}"
    );
    Ok(())
}

/// A registry of 20 dead entries: the first request tries each, and marks each down; after
/// that a request tries three down workers at most (HAProxy's `retries 3`), where it tried
/// all 20 again each time.
#[test]
fn a_request_tries_three_down_workers_at_most() -> Result<(), Error> {
    let lab = Lab::new("three-down")?;
    write_registry(&lab, &dead_entries(20));
    let mut lb = lab.start_load_balancer(&[])?;
    let failed = "Error: Worker communication failed.";
    assert_eq!(ask_text(lb.port, "5")?, failed);
    let tried = "Error communicating with worker";
    let first = lines_after(&mut lb, 0, tried, 20);
    assert_eq!(failed_attempts(&first).len(), 20, "{first:#?}");
    for _ in 0..3 {
        assert_eq!(ask_text(lb.port, "5")?, failed);
    }
    let printed = lines_after(&mut lb, first.len(), tried, 9);
    let again = failed_attempts(&printed);
    assert_eq!(again.len(), 9, "{again:#?}");
    Ok(())
}

/// Every worker full (`Error: server busy` from each): the client hears `Error: server busy`,
/// so it knows to ask again, not `Error: Worker communication failed.`
#[test]
fn every_worker_busy_is_server_busy() -> Result<(), Error> {
    let lab = Lab::new("all-busy")?;
    let busy = [(); 2].map(|()| FakeWorker::start(Misbehaviour::Busy).unwrap());
    write_registry(
        &lab,
        &busy.iter().map(|b| b.port.to_string()).collect::<Vec<_>>(),
    );
    let lb = lab.start_load_balancer(&[])?;
    assert_eq!(ask_text(lb.port, "5")?, "Error: server busy");
    assert_eq!(busy.iter().map(FakeWorker::requests).sum::<usize>(), 2);
    Ok(())
}

/// A registry full of dead entries before 3 live workers (tens of thousands on a quiet
/// machine): every request is answered. Walking them costs a failed connection each, so how
/// many a request can walk within the 10 s it may spend trying workers depends on the machine:
/// the registry is sized to it (a walk of 500 dead entries, timed first, tells what one costs
/// now), to a tenth of those 10 s, and to 100,000 entries at most: room for the load to grow
/// tenfold between the measure and the requests, as neighbouring tests start. Prints how
/// many, and the slowest request.
#[test]
fn a_registry_full_of_dead_entries() -> Result<(), Error> {
    if cfg!(windows) {
        // The 2,000 dead entries of the test above are served there.
        harness::lab::say_skipped(
            "a_registry_full_of_dead_entries",
            "a refused connection costs far more on Windows (and under Wine) than on Linux, so \
             thousands of dead entries outlast the 10 s a request may spend trying workers",
        );
        return Ok(());
    }
    const MEASURED: usize = 500;
    let lab = Lab::new("dead-many")?;
    let workers = lab.start_workers(3, &["--registry", "live.txt"])?;
    let live: Vec<String> = workers.iter().map(|w| w.port.to_string()).collect();
    let mut lines = dead_entries(MEASURED);
    lines.extend(live.iter().cloned());
    write_registry(&lab, &lines);
    let measuring = lab.start_load_balancer(&[])?;
    let walk = Instant::now();
    assert_eq!(ask_text(measuring.port, "5")?, "120");
    let per_entry = walk.elapsed() / MEASURED as u32;
    drop(measuring);
    let budget = Duration::from_secs(10) / 10;
    let count = (budget.as_secs_f64() / per_entry.as_secs_f64().max(1e-9)) as usize;
    let count = count.clamp(MEASURED, 100_000);
    let mut lines = dead_entries(count);
    lines.extend(live);
    write_registry(&lab, &lines);
    let lb = lab.start_load_balancer(&[])?;
    let mut slowest = Duration::ZERO;
    for n in 0..20u64 {
        let asked = Instant::now();
        let answer = ask_text(lb.port, &n.to_string())?;
        assert!(
            answer == factorial_digits(n),
            "request {} of 20 (for {n}!), after {:.1?}, with {count} dead entries ({MEASURED} \
             took {:.2?}): {answer:?}",
            n + 1,
            asked.elapsed(),
            per_entry * MEASURED as u32
        );
        slowest = slowest.max(asked.elapsed());
    }
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "{count} dead entries: 20 requests answered, slowest {slowest:.2?}"
    );
    Ok(())
}

/// Over the cap, with every place taken by a request in progress, 100 newcomers that keep
/// their connections open each get `Error: server busy` at once; none waits for another's
/// close, and none gets a reset (one thread used to answer them in turn, lingering on each).
#[test]
fn refusals_go_out_at_once() -> Result<(), Error> {
    let lab = Lab::new("refusals")?;
    let slow = FakeWorker::start(Misbehaviour::Slow)?;
    write_registry(&lab, &[slow.port.to_string()]);
    let mut lb = lab.start_load_balancer(&["--max-connections", "2"])?;
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect(lb.port);
            stream.write_all(b"9").unwrap();
            stream
        })
        .collect();
    for _ in 0..2 {
        lb.process.wait_for("Received request", PATIENCE)?;
    }
    let refused: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = connect(lb.port);
            stream.write_all(b"5").unwrap();
            stream
        })
        .collect();
    // Each answer is read while all the other refused connections are still open.
    for mut stream in refused.iter() {
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "Error: server busy");
    }
    Ok(())
}

/// 300 connections that trickle (a space now and then, never a number) against the load
/// balancer's 256 places: 50 real clients that come after them are all served, because the
/// oldest listed connection still waiting for its request makes room. Prints the share served.
#[test]
fn trickling_connections_cannot_lock_the_room() -> Result<(), Error> {
    let lab = Lab::new("trickle")?;
    let _workers = lab.start_workers(2, &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    let mut trickling = Vec::new();
    for _ in 0..300 {
        let mut stream = connect(lb.port);
        stream.write_all(b" ").unwrap();
        trickling.push(stream);
    }
    for _ in 0..300 {
        lb.process.wait_for("Client connected", PATIENCE)?;
    }
    let mut served = 0;
    for n in 0..50u64 {
        if ask_text(lb.port, &(n % 20).to_string())? == factorial_digits(n % 20) {
            served += 1;
        }
    }
    let stderr = std::io::stderr();
    let _ = writeln!(
        stderr.lock(),
        "300 trickling connections: {served} of 50 real clients served"
    );
    assert_eq!(served, 50);
    Ok(())
}

/// Out of file descriptors (`ulimit -n 32`, then more connections than that): accept fails at
/// once, again and again. The load balancer backs off and says so once per burst, where it
/// spun at 100% writing millions of lines; when the connections close it serves again.
#[test]
fn out_of_file_descriptors_backs_off() -> Result<(), Error> {
    if cfg!(windows) {
        harness::lab::say_skipped(
            "out_of_file_descriptors_backs_off",
            "Windows has no per-process limit of open files to lower, as ulimit -n does",
        );
        return Ok(());
    }
    let lab = Lab::new("fds")?;
    let _workers = lab.start_workers(1, &[])?;
    let mut command = std::process::Command::new("sh");
    let program = harness::process::program_path("load_balancer")?;
    command
        .arg("-c")
        .arg(format!(
            "ulimit -n 32 && exec {} --port 0",
            program.display()
        ))
        .current_dir(lab.dir());
    let mut lb = lab.start_server("load_balancer", command, "Load Balancer listening on ")?;
    let idle: Vec<TcpStream> = (0..40).map(|_| connect(lb.port)).collect();
    lb.process
        .wait_for("Could not accept a connection", PATIENCE)?;
    drop(idle);
    // Once the idle connections' threads have answered them and closed, accept works again.
    let answer = ask_text(lb.port, "10")?;
    assert_eq!(answer, factorial_digits(10));
    lb.process
        .wait_for("Accepting connections again", PATIENCE)?;
    let complaints = lb
        .process
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("Could not accept"))
        .count();
    assert_eq!(complaints, 1);
    Ok(())
}

/// A request with a newline and terminal escape codes in it: the load balancer's log shows it
/// escaped on one line, so it can neither forge a line (`Forwarded to worker …`) nor drive the
/// student's terminal.
#[test]
fn a_request_cannot_forge_log_lines() -> Result<(), Error> {
    let lab = Lab::new("log-forgery")?;
    let _workers = lab.start_workers(1, &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    let forged = "12\nForwarded to worker ('10.6.6.6', 31337)\x1b]0;pwned\x07";
    let answer = ask_text(lb.port, forged)?;
    assert!(answer.starts_with("Error: not a whole number"), "{answer}");
    lb.process.wait_for("Refused request", PATIENCE)?;
    let lines = lb.process.drain();
    assert!(
        !lines
            .iter()
            .any(|l| l.text.starts_with("Forwarded to worker ('10.6.6.6'")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.text.contains('\x1b')), "{lines:?}");
    Ok(())
}

/// The load balancer's own address in the registry (a student who pastes the wrong port):
/// skipped with one log line, so a request cannot go round through the load balancer itself
/// until every place is taken.
#[test]
fn the_load_balancers_own_address_is_skipped() -> Result<(), Error> {
    let lab = Lab::new("own-address")?;
    let worker = lab.start_worker("worker", &["--registry", "live.txt"])?;
    let mut lb = lab.start_load_balancer(&[])?;
    write_registry(&lab, &[lb.port.to_string(), worker.port.to_string()]);
    for n in 0..6u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    lb.process
        .wait_for("this load balancer's own address", PATIENCE)?;
    assert_eq!(lb.wait_for_forwards(6)?, [worker.port; 6]);
    let lines = lb.process.drain();
    let connected = lines
        .iter()
        .filter(|l| l.text.starts_with("Client connected"))
        .count();
    assert_eq!(
        connected, 6,
        "only the test's own requests reached it: {lines:?}"
    );
    Ok(())
}

/// The load balancer's own address written other ways: `0.0.0.0:P`, `0:P`, `127.1:P`,
/// `[::ffff:127.0.0.1]:P`, `LOCALHOST:P` and the machine's host name. Each is compared by
/// where it leads, not as text, so each is skipped with one log line and every request goes
/// to the worker: only the test's own requests reach the load balancer. (Each spelling passed
/// the check as text, and one request went round through the load balancer until every place
/// was taken.) Once with the load balancer on 127.0.0.1, once on every address.
#[test]
fn no_spelling_of_the_load_balancers_own_address_is_used() -> Result<(), Error> {
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let machine = machine.trim();
    for host in ["127.0.0.1", "0.0.0.0"] {
        let lab = Lab::new("own-spellings")?;
        let worker = lab.start_worker("worker", &["--registry", "live.txt"])?;
        let mut lb = lab.start_load_balancer(&["--host", host])?;
        let p = lb.port;
        let mut spellings = vec![
            format!("0.0.0.0:{p}"),
            format!("0:{p}"),
            format!("127.1:{p}"),
            format!("[::ffff:127.0.0.1]:{p}"),
            format!("LOCALHOST:{p}"),
        ];
        // The host name leads to this load balancer when it listens everywhere, or when the
        // name is 127.0.0.1 (as /etc/hosts has it on many machines); else it leads elsewhere.
        let name_is_loopback = std::net::ToSocketAddrs::to_socket_addrs(&(machine, p))
            .is_ok_and(|mut addrs| addrs.any(|a| a.ip().to_string() == "127.0.0.1"));
        if host == "0.0.0.0" || name_is_loopback {
            spellings.push(format!("{machine}:{p}"));
        }
        let mut lines = spellings.clone();
        lines.push(worker.port.to_string());
        write_registry(&lab, &lines);
        for n in 0..spellings.len() as u64 + 1 {
            assert_eq!(ask_text(p, &n.to_string())?, factorial_digits(n));
        }
        let count = spellings.len() + 1;
        assert_eq!(lb.wait_for_forwards(count)?, vec![worker.port; count]);
        let printed = lb.process.printed();
        for spelling in &spellings {
            let said = format!(
                "Skipping {spelling} in worker_ports.txt: this load balancer's own address"
            );
            assert!(
                printed.contains(&said),
                "{host}: no {said:?} in {printed:#?}"
            );
        }
        let connected = printed
            .iter()
            .filter(|l| l.starts_with("Client connected"))
            .count();
        assert_eq!(
            connected, count,
            "{host}: only the test's requests: {printed:#?}"
        );
    }
    Ok(())
}

/// Names for 127.0.0.1 that /etc/hosts gives besides `localhost` (`runsc`, `vm` on some
/// machines), for a test that needs the load balancer's address spelled as a name the
/// resolver must be asked about; none where the file is missing.
fn other_names_for_loopback() -> Vec<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next() == Some("127.0.0.1")).then(|| fields.map(String::from).collect())
        })
        .flat_map(|names: Vec<String>| names)
        .filter(|name| !name.eq_ignore_ascii_case("localhost"))
        .collect()
}

/// The load balancer's own port under names the resolver must be asked about (`127.1`, and
/// any other name /etc/hosts gives 127.0.0.1), after eight lines whose names take all the
/// lookups one read may make (`x1.invalid:P` … `x8.invalid:P`), then a live worker: a name
/// with no lookup left is not used until a later read has resolved it, so no request goes
/// round through the load balancer itself, and each name is then skipped as its own address.
/// (A name with no lookup left was compared as text, passed, and the load balancer sent a
/// request to itself.)
#[test]
fn an_own_address_left_without_a_lookup_is_not_used() -> Result<(), Error> {
    let lab = Lab::new("own-unresolved")?;
    let worker = lab.start_worker("worker", &["--registry", "live.txt"])?;
    let mut lb = lab.start_load_balancer(&[])?;
    let p = lb.port;
    let mut names = vec!["127.1".to_string()];
    names.extend(other_names_for_loopback());
    let mut lines: Vec<String> = (1..=8).map(|i| format!("x{i}.invalid:{p}")).collect();
    lines.extend(names.iter().map(|name| format!("{name}:{p}")));
    lines.push(worker.port.to_string());
    write_registry(&lab, &lines);
    let count = 4;
    for n in 0..count as u64 {
        assert_eq!(ask_text(p, &n.to_string())?, factorial_digits(n));
    }
    assert_eq!(lb.wait_for_forwards(count)?, vec![worker.port; count]);
    let printed = lb.process.printed();
    for name in &names {
        let said =
            format!("Skipping {name}:{p} in worker_ports.txt: this load balancer's own address");
        assert!(printed.contains(&said), "no {said:?} in {printed:#?}");
    }
    let connected = printed
        .iter()
        .filter(|l| l.starts_with("Client connected"))
        .count();
    assert_eq!(connected, count, "only the test's requests: {printed:#?}");
    Ok(())
}

/// A client that trickles its request, a space every 0.3 s, never sending a number: the whole
/// request must arrive within --timeout (here 1 s), so it is answered `Error: request timed
/// out` and its thread is freed, where a timeout per read would wait for ever.
#[test]
fn a_trickling_client_meets_one_deadline() -> Result<(), Error> {
    let lab = Lab::new("trickle-one")?;
    let _workers = lab.start_workers(1, &[])?;
    let lb = lab.start_load_balancer(&["--timeout", "1"])?;
    let mut stream = connect(lb.port);
    let mut answer = String::new();
    // The fault itself is the slow pace: a space, a pause, up to 20 times (6 s in all).
    for _ in 0..20 {
        if stream.write_all(b" ").is_err() {
            break; // the load balancer answered and closed
        }
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 256];
        if let Ok(n) = stream.read(&mut buf) {
            if n > 0 {
                answer.push_str(&String::from_utf8_lossy(&buf[..n]));
                break;
            }
        }
    }
    assert_eq!(
        answer,
        "Error: request timed out: the whole request must arrive within 1 s (--timeout)"
    );
    Ok(())
}

/// Two busy loops on a two-core machine (another program hogging the CPU) while 10 clients ask
/// 100 times each: every answer is right and no healthy worker is marked down, since only a
/// failure, or silence while another worker answers at once, marks one down.
#[test]
fn a_loaded_machine_marks_no_healthy_worker_down() -> Result<(), Error> {
    let lab = Lab::new("loaded-machine")?;
    let _workers = lab.start_workers(3, &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut spins = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            })
        })
        .collect();
    let port = lb.port;
    let clients: Vec<_> = (0..10)
        .map(|_| {
            thread::spawn(move || -> Result<(), Error> {
                for n in 0..100u64 {
                    assert_eq!(
                        ask_text(port, &(n % 25).to_string())?,
                        factorial_digits(n % 25)
                    );
                }
                Ok(())
            })
        })
        .collect();
    for client in clients {
        client
            .join()
            .map_err(|_| Error::new("a client panicked"))??;
    }
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        let _ = hog.join();
    }
    lb.wait_for_forwards(1000)?;
    let down = lb.lines_marking_workers_down();
    assert!(down.is_empty(), "{down:#?}");
    Ok(())
}

/// A crowd of clients asks 50000! at once of three workers on two cores: each answer waits
/// seconds, at every worker. All are answered and nobody is marked down (a worker that finishes
/// its share early may be asked to help with the stragglers: that is all). Under the old rule
/// a slow answer meant a health check, and healthy workers under such load were declared
/// frozen and their requests dropped. The crowd is sized to the machine (HUGE_CROWD_WORK), and
/// --worker-timeout is out of the way: this test is about the health checks, and a busy laptop
/// must not fail it by being slow.
#[test]
fn many_huge_requests_at_once_are_all_answered() -> Result<(), Error> {
    let lab = Lab::new("many-huge")?;
    let _workers = lab.start_workers(3, &["--max-connections", "100"])?;
    let mut lb = lab.start_load_balancer(&["--worker-timeout", "600"])?;
    let expected = factorial_digits(HUGE);
    // The crowd is sized to this machine as it is now: one request alone shows how long a
    // worker takes, and the crowd is enough for HUGE_CROWD_WORK of queueing, far past the
    // load balancer's one-second patience, however busy the cores are.
    let alone = Instant::now();
    assert!(
        ask_text(lb.port, &HUGE.to_string())? == expected,
        "not {HUGE}!"
    );
    let one = alone.elapsed().max(Duration::from_millis(1));
    let clients = (HUGE_CROWD_WORK.as_secs_f64() / one.as_secs_f64()).ceil() as usize;
    let clients = clients.clamp(12, 150);
    let started = Instant::now();
    let pending: Vec<_> = (0..clients)
        .map(|_| harness::lab::ask_in_background(lb.port, &HUGE.to_string()))
        .collect();
    let mut failures = Vec::new();
    for request in pending {
        match request.answer() {
            Ok(answer) if answer == expected => {}
            Ok(answer) => failures.push(format!("not {HUGE}!: {answer:.100}")),
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {clients} requests for {HUGE}! answered right after {:.1?} (one alone took \
         {one:.2?}); the first failure: {}",
        clients - failures.len(),
        started.elapsed(),
        failures[0]
    );
    let _ = writeln!(
        std::io::stderr().lock(),
        "{clients} requests for {HUGE}! at once (one alone took {one:.2?}): all answered in {:.1?}",
        started.elapsed()
    );
    lb.wait_for_forwards(clients + 1)?;
    let down = lb.lines_marking_workers_down();
    assert!(down.is_empty(), "{down:#?}");
    Ok(())
}

/// The n each of the crowd asks for: big enough that a worker takes a while over it.
const HUGE: u64 = 50_000;

/// How long the crowd's requests would take one after another, as measured with one alone:
/// twelve times the load balancer's one-second patience, so that most of the crowd waits past
/// it and is asked of a second worker too, while the whole crowd is over in seconds (about six
/// on two quiet cores) and stays far within the clients' patience on busy ones.
const HUGE_CROWD_WORK: Duration = Duration::from_secs(12);

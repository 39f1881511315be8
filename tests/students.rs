//! End to end: what a student changes in the lab to learn from it, behind our load balancer.
//! Each worker here is the Python lab's `worker_server.py` changed in the test the way a
//! student changes it — a `time.sleep` before computing, a thread per connection, `print`-
//! style answers — and every request the Python load balancer would answer, ours answers too,
//! without marking a live worker down. docs/reliability.md ("What a student may change") names
//! the test for each row.
//!
//! Needs python3 and the Python lab (`python_lab_dir`: `PYTHON_LAB_DIR`, or
//! `../shared/python-lab` beside this repository); otherwise each test says it skipped, in one
//! summary at the end of the run.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, Pending, Server, ask_in_background, ask_text, free_port, say_skipped};
use harness::process::StopGently;
use harness::products::{installed, print_config, wait_until_answering};
use support::{Change, answering, python_lab, sleeping, threaded_and_sleeping};

/// `listen(backlog)` on line 29, and 0.05 s of work before line 51: a worker whose accept
/// queue overflows under a class of clients, so the kernel drops connection attempts and the
/// clients' kernels send them again a second later.
fn small_backlog(backlog: u32) -> Change {
    vec![
        (51, 51, "                time.sleep(0.05)\n@51".to_string()),
        (29, 29, format!("        server_socket.listen({backlog})")),
        (1, 1, "@1\nimport time".to_string()),
    ]
}

/// Starts worker_server.py from `python_lab`, changed as `change` says, in `lab`'s folder.
fn start_python_worker(
    lab: &Lab,
    python_lab: &Path,
    change: &Change,
    tag: &str,
) -> Result<Server, Error> {
    let script = lab.dir().join(format!("{}.py", tag.replace(' ', "_")));
    let text = support::fixed(python_lab, "worker_server.py", change);
    std::fs::write(&script, text).unwrap();
    // Python 3 as python_lab_dir found it: `python3`, or `python` on Windows.
    let mut command = Command::new(harness::lab::python().unwrap_or("python3"));
    command.arg("-u").arg(&script).current_dir(lab.dir());
    lab.start_server(tag, command, "Worker listening on ")
}

/// `count` workers changed as `change` says, registered in order.
fn start_python_workers(
    lab: &Lab,
    python_lab: &Path,
    change: &Change,
    count: usize,
) -> Result<Vec<Server>, Error> {
    (1..=count)
        .map(|i| start_python_worker(lab, python_lab, change, &format!("worker {i}")))
        .collect()
}

/// Asks for n! `clients` times at once, as that many students pressing Enter together, and
/// checks every answer. Prints how long the slowest took (for the reader; nothing is timed).
fn all_at_once(lb: &Server, clients: usize, n: u64) -> Result<(), Error> {
    let started = Instant::now();
    let pending: Vec<Pending> = (0..clients)
        .map(|_| ask_in_background(lb.port, &n.to_string()))
        .collect();
    for request in pending {
        assert_eq!(request.answer()?, factorial_digits(n));
    }
    eprintln!(
        "{clients} clients asking {n}!: all answered in {:.1?}",
        started.elapsed()
    );
    Ok(())
}

/// No line of the load balancer's says a worker was marked down.
fn no_worker_marked_down(lb: &mut Server) {
    let down = lb.lines_marking_workers_down();
    assert!(down.is_empty(), "a live worker was marked down: {down:#?}");
}

/// Three one-connection-at-a-time workers that sleep `seconds` before computing, six clients
/// at once: every client gets n!, as through the Python load balancer, and no worker is
/// marked down for being busy.
fn sleeping_workers_serve_six_clients(test: &str, seconds: f64) -> Result<(), Error> {
    let Some(py) = python_lab(test) else {
        return Ok(());
    };
    let lab = Lab::new(test)?;
    let _workers = start_python_workers(&lab, &py, &sleeping(seconds), 3)?;
    let mut lb = lab.start_load_balancer(&[])?;
    all_at_once(&lb, 6, 12)?;
    no_worker_marked_down(&mut lb);
    Ok(())
}

/// `time.sleep(3)` in three Python workers, six clients at once.
#[test]
fn workers_that_sleep_3_s_serve_six_clients_at_once() -> Result<(), Error> {
    sleeping_workers_serve_six_clients("sleep-3", 3.0)
}

/// `time.sleep(1.5)` in three Python workers, six clients at once.
#[test]
fn workers_that_sleep_1_5_s_serve_six_clients_at_once() -> Result<(), Error> {
    sleeping_workers_serve_six_clients("sleep-1.5", 1.5)
}

/// `GET /status.json` from the page at 127.0.0.1:`page`, as text (empty if it failed).
fn read_status(page: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", page)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(harness::lab::PATIENCE));
    let request = format!("GET /status.json HTTP/1.1\r\nHost: 127.0.0.1:{page}\r\n\r\n");
    let mut reply = String::new();
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_string(&mut reply);
    }
    reply
}

/// The status page open (its data read once a second, as the open page reads it) while three
/// workers that sleep 3 s serve six clients at once: every client gets n!, no worker is
/// marked down or dies, and the page shows all three up. The page's checks leave a worker
/// with requests in progress alone, ask a worker whose checks are slow every 10 s only, and
/// mark a worker down for an unanswered check only when another answered its own at once: a
/// check answered after 3 s is a sleeping worker, not a frozen one. (With every up worker
/// checked every 2 s, they were marked down and up again, and the checks took their time.)
#[test]
fn a_watched_page_and_sleeping_workers_lose_nothing() -> Result<(), Error> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(py) = python_lab("watched-sleepers") else {
        return Ok(());
    };
    let lab = Lab::new("watched-sleepers")?;
    let mut workers = start_python_workers(&lab, &py, &sleeping(3.0), 3)?;
    let mut lb = lab.start_load_balancer(&["--status", "127.0.0.1:0"])?;
    let line = lb
        .process
        .wait_for("Status page at http://127.0.0.1:", harness::lab::PATIENCE)?;
    let page: u16 = line
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                read_status(page);
                std::thread::sleep(std::time::Duration::from_secs(1)); // the open page's pace
            }
        })
    };
    all_at_once(&lb, 6, 12)?;
    let deadline = Instant::now() + harness::lab::PATIENCE;
    loop {
        let status = read_status(page);
        if status.matches("\"state\":\"up\"").count() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "not all up again: {status}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for worker in &mut workers {
        assert!(
            !worker.process.has_exited(),
            "{:#?}",
            worker.process.printed()
        );
    }
    all_at_once(&lb, 3, 12)?;
    stop.store(true, Ordering::Release);
    watcher.join().unwrap();
    no_worker_marked_down(&mut lb);
    Ok(())
}

/// One client, three workers that sleep 3 s: answered, though the load balancer asks a second
/// worker after a second; the first one's answer wins and nobody is marked down.
#[test]
fn one_client_and_three_sleeping_workers() -> Result<(), Error> {
    let Some(py) = python_lab("one-client-three-sleepers") else {
        return Ok(());
    };
    let lab = Lab::new("one-client-three-sleepers")?;
    let _workers = start_python_workers(&lab, &py, &sleeping(3.0), 3)?;
    let mut lb = lab.start_load_balancer(&[])?;
    all_at_once(&lb, 1, 12)?;
    no_worker_marked_down(&mut lb);
    Ok(())
}

/// The only worker sleeps 8 s, well within --worker-timeout (30 s): the client waits and gets
/// its answer, as from the Python load balancer.
#[test]
fn a_lone_worker_that_sleeps_8_s_is_waited_for() -> Result<(), Error> {
    let Some(py) = python_lab("lone-sleeper") else {
        return Ok(());
    };
    let lab = Lab::new("lone-sleeper")?;
    let _worker = start_python_worker(&lab, &py, &sleeping(8.0), "worker")?;
    let mut lb = lab.start_load_balancer(&[])?;
    all_at_once(&lb, 1, 12)?;
    no_worker_marked_down(&mut lb);
    Ok(())
}

/// Three workers that serve each connection on a thread of their own and sleep `seconds` in
/// each — health checks included, were there any — and six clients at once.
fn threaded_sleepers_serve_six_clients(test: &str, seconds: f64) -> Result<(), Error> {
    let Some(py) = python_lab(test) else {
        return Ok(());
    };
    let lab = Lab::new(test)?;
    let _workers = start_python_workers(&lab, &py, &threaded_and_sleeping(seconds), 3)?;
    let mut lb = lab.start_load_balancer(&[])?;
    all_at_once(&lb, 6, 12)?;
    no_worker_marked_down(&mut lb);
    Ok(())
}

/// Workers with `listen(1)` and 0.05 s of work, 30 clients at once, four times over: every
/// request is answered. A connection attempt that the full queue dropped is sent again by the
/// kernel after 1 s, which `--connect-timeout` (5 s) lets through, and a worker that answered
/// lately is not marked down for being slow to accept.
#[test]
fn workers_with_a_small_listen_backlog_serve_a_class() -> Result<(), Error> {
    let Some(py) = python_lab("listen-1") else {
        return Ok(());
    };
    let lab = Lab::new("listen-1")?;
    let _workers = start_python_workers(&lab, &py, &small_backlog(1), 3)?;
    let mut lb = lab.start_load_balancer(&[])?;
    for _ in 0..4 {
        all_at_once(&lb, 30, 15)?;
    }
    no_worker_marked_down(&mut lb);
    Ok(())
}

/// A thread per connection and 3 s of sleep in each.
#[test]
fn threaded_workers_that_sleep_3_s_serve_six_clients() -> Result<(), Error> {
    threaded_sleepers_serve_six_clients("threaded-3", 3.0)
}

/// A thread per connection and 10 s of sleep in each.
#[test]
fn threaded_workers_that_sleep_10_s_serve_six_clients() -> Result<(), Error> {
    threaded_sleepers_serve_six_clients("threaded-10", 10.0)
}

/// Workers that answer as `print` or `println` would — a newline, CRLF, or a space after the
/// digits: the digits are n!, relayed without the whitespace, and our client prints them.
/// The workers stay up.
#[test]
fn answers_with_a_newline_or_a_space_are_n_factorial() -> Result<(), Error> {
    let Some(py) = python_lab("newline-answers") else {
        return Ok(());
    };
    let lab = Lab::new("newline-answers")?;
    let mut workers = Vec::new();
    for (i, ending) in ["\\n", "\\r\\n", " "].iter().enumerate() {
        let change = answering(&format!("(str(result) + \"{ending}\")"));
        workers.push(start_python_worker(
            &lab,
            &py,
            &change,
            &format!("worker {i}"),
        )?);
    }
    let mut lb = lab.start_load_balancer(&[])?;
    for n in [12u64, 15, 7, 20, 500, 1000] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let finished = lab.run_client(lb.port, &["12"], None)?;
    assert_eq!(
        finished.stdout,
        ["Factorial received: 479001600"],
        "{finished:?}"
    );
    no_worker_marked_down(&mut lb);
    Ok(())
}

/// A worker that answers text around the number (`Factorial: 120`): not n!, so it is never
/// relayed as one, but the client's error says what the worker sent.
#[test]
fn an_answer_in_words_is_refused_saying_what_came() -> Result<(), Error> {
    let Some(py) = python_lab("answer-in-words") else {
        return Ok(());
    };
    let lab = Lab::new("answer-in-words")?;
    let change = answering("f\"Factorial: {result}\"");
    let _worker = start_python_worker(&lab, &py, &change, "worker")?;
    let lb = lab.start_load_balancer(&[])?;
    assert_eq!(
        ask_text(lb.port, "5")?,
        "Error: Worker communication failed: a worker answered \"Factorial: 120\" (not 5!)."
    );
    Ok(())
}

/// HAProxy with the configuration our load balancer prints, in front of three Python workers
/// that sleep 3 s and serve one connection at a time: its health checks wait as long as a
/// request may, so they never give up on a busy worker with a reset (which kills a Python
/// worker when it then answers: all three died, and 4 of 6 clients got nothing). Six
/// clients at once all get n!, and every worker is still running.
#[test]
fn haproxy_in_front_of_sleeping_python_workers_kills_none() -> Result<(), Error> {
    let test = "haproxy_in_front_of_sleeping_python_workers_kills_none";
    let Some(py) = python_lab(test) else {
        return Ok(());
    };
    if !installed("haproxy") {
        say_skipped(test, "haproxy is not installed");
        return Ok(());
    }
    let lab = Lab::new("haproxy-sleepers")?;
    let mut workers = start_python_workers(&lab, &py, &sleeping(3.0), 3)?;
    let port = free_port()?;
    print_config(&lab, "--print-haproxy-config", port, "haproxy.cfg")?;
    let mut command = Command::new("haproxy");
    command.args(["-f", "haproxy.cfg"]).current_dir(lab.dir());
    let _haproxy = StopGently(lab.start("haproxy", command)?);
    wait_until_answering(port)?;
    let pending: Vec<Pending> = (0..6).map(|_| ask_in_background(port, "12")).collect();
    for request in pending {
        assert_eq!(request.answer()?, factorial_digits(12));
    }
    for worker in &mut workers {
        assert!(
            !worker.process.has_exited(),
            "a worker died: {:#?}",
            worker.process.stderr_lines()
        );
    }
    Ok(())
}

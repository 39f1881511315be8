//! End to end: what clients that keep their connections cost the servers. Clients that keep
//! their sockets after an `Error: ` answer, and clients that read their answers slowly or not
//! at all. Threads and descriptors are counted from /proc (Linux), never timed.
//! docs/reliability.md names the test for each row.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::error::Error;
use common::factorial::{digit_count_range, trailing_zeros_of_factorial};
use harness::lab::{Lab, PATIENCE};

/// How many entries a folder of /proc/`pid` holds: its threads (`task`) or its open file
/// descriptors (`fd`).
fn count_in_proc(pid: u32, folder: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/{folder}")).map_or(0, |entries| entries.count())
}

/// The most threads and descriptors `pid` had at once while `load` ran, sampled as often as
/// the machine lets the sampling thread run.
fn peak_while(pid: u32, load: impl FnOnce()) -> (usize, usize) {
    let done = Arc::new(AtomicBool::new(false));
    let sampling = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let (mut threads, mut fds) = (0, 0);
            while !done.load(Ordering::Acquire) {
                threads = threads.max(count_in_proc(pid, "task"));
                fds = fds.max(count_in_proc(pid, "fd"));
                thread::sleep(Duration::from_millis(1));
            }
            (threads, fds)
        })
    };
    load();
    done.store(true, Ordering::Release);
    sampling.join().unwrap()
}

/// Sixteen clients that each send `abc` again and again, read the `Error: ` answer, and keep
/// every socket open. Returns how many errors they read.
fn clients_keeping_their_errors(port: u16) -> usize {
    const CLIENTS: usize = 16;
    const EACH: usize = 40;
    let errors = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let errors = Arc::clone(&errors);
            thread::spawn(move || {
                let mut kept = Vec::new();
                for _ in 0..EACH {
                    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    stream.set_read_timeout(Some(PATIENCE)).unwrap();
                    stream.write_all(b"abc").unwrap();
                    // The server's answer and its half close; our socket stays open.
                    let mut answer = String::new();
                    let _ = stream.read_to_string(&mut answer);
                    if answer.starts_with("Error: ") {
                        errors.fetch_add(1, Ordering::AcqRel);
                    }
                    kept.push(stream);
                }
                kept
            })
        })
        .collect();
    let kept: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    drop(kept);
    errors.load(Ordering::Acquire)
}

/// Clients that read their `Error: ` answers and keep their sockets open (16 of them, 640
/// connections) keep the load balancer and a worker within `--max-connections` (twice it at
/// the worst moment, counting threads still ending), not a thread per connection: a
/// connection counts against the cap until its socket is closed, the wait for its close is the
/// refusing thread's, and one that only waits for the client's close is the first to make room. (Its place used to be freed before
/// the two seconds' wait for the client's close, so threads and sockets grew without bound:
/// 10,470 threads with a cap of 256.)
#[test]
fn errors_kept_open_stay_within_the_cap() -> Result<(), Error> {
    const CAP: usize = 32;
    /// The threads a server has besides its connections': main, the log, the refusals, the
    /// stop signal's watch, the health checks.
    const FEW: usize = 8;
    // Not on Windows, though Wine shows the Linux /proc there (as Z:\proc): its numbers are
    // Linux's processes, not the Windows ids the test knows.
    if cfg!(windows) || !std::path::Path::new("/proc/self/task").exists() {
        harness::lab::say_skipped(
            "errors_kept_open_stay_within_the_cap",
            "no /proc to count threads and descriptors in (Linux only)",
        );
        return Ok(());
    }
    let lab = Lab::new("errors-kept-open")?;
    let cap = CAP.to_string();
    let worker = lab.start_worker("worker", &["--max-connections", &cap])?;
    let lb = lab.start_load_balancer(&["--max-connections", &cap])?;
    for (name, server) in [("load balancer", &lb), ("worker", &worker)] {
        let pid = server.process.pid();
        let idle = (count_in_proc(pid, "task"), count_in_proc(pid, "fd"));
        let mut errors = 0;
        let (threads, fds) = peak_while(pid, || errors = clients_keeping_their_errors(server.port));
        let stderr = std::io::stderr();
        let _ = writeln!(
            stderr.lock(),
            "{name}: idle {idle:?} (threads, fds); {errors} errors read; peak {threads} threads, \
             {fds} fds"
        );
        assert!(errors > 0, "{name}: no client read an error answer");
        // The cap, and at the worst moment as many again on their way out: threads that have
        // handed their socket over, or were closed to make room, and have not ended yet (the
        // cap makes room only while fewer than that are open). Not one per connection.
        assert!(
            threads <= 2 * CAP + FEW,
            "{name}: {threads} threads with a cap of {CAP} (idle: {})",
            idle.0
        );
        // A place may hold a socket and the clone that lets it be closed to make room; a
        // connection closed to make room is dropped at the refusing thread's next look, and
        // a refused one is held for its gentle close: a few per place at the worst moment.
        assert!(
            fds <= idle.1 + 8 * CAP,
            "{name}: {fds} descriptors with a cap of {CAP} (idle: {})",
            idle.1
        );
    }
    Ok(())
}

/// n whose n! has more digits than loopback's socket buffers hold at both ends (about 10 MB
/// on Linux), so that a client that reads slowly holds the sender back.
const BIG_N: u64 = 4_000_000;

/// A fake worker that answers any n at once with a number shaped as n! (n!'s length, n!'s
/// trailing zeros), which the load balancer's check takes for n! beyond 500. Computing
/// 4,000,000! would take minutes.
fn shaped_like_factorials() -> u16 {
    harness::peers::answering(shaped_like).unwrap()
}

/// A number with as many digits as n! and as many trailing zeros.
fn shaped_like(n: u64) -> Vec<u8> {
    let (digits, _) = digit_count_range(n);
    let zeros = trailing_zeros_of_factorial(n) as usize;
    let mut answer = vec![b'7'; digits as usize - zeros];
    answer[0] = b'1';
    answer.resize(digits as usize, b'0');
    answer
}

/// A client that reads its answer 4 KiB at a time, 20 times a second, and one that reads
/// nothing: with `--timeout 2`, each is cut off once 2 s have passed since its answer began,
/// however the first keeps the load balancer's writes moving. (The timeout bounded each
/// write(), so the slow reader held its thread and place for the whole answer, five minutes
/// here, and a client that read nothing for two timeouts.)
#[test]
fn slow_readers_are_cut_off_within_the_timeout() -> Result<(), Error> {
    let lab = Lab::new("slow-readers")?;
    std::fs::write(lab.registry(), format!("{}\n", shaped_like_factorials())).unwrap();
    let mut lb = lab.start_load_balancer(&["--timeout", "2"])?;
    let whole = shaped_like(BIG_N).len();

    let mut slow = TcpStream::connect(("127.0.0.1", lb.port)).unwrap();
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    slow.write_all(BIG_N.to_string().as_bytes()).unwrap();
    let began = Instant::now();
    let mut read = 0;
    let mut buf = vec![0u8; 4096];
    let cut_off = "Could not answer the client: the answer was not taken within 2 s";
    // Slowly, until the load balancer says it cut the reader off. The give-up bound, thirty
    // times the timeout, only keeps a broken run from taking the whole answer's five minutes.
    let give_up = Duration::from_secs(60);
    let mut said = false;
    while !said {
        said = lb.process.wait_for(cut_off, Duration::ZERO).is_ok();
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(got) => read += got,
        }
        assert!(
            began.elapsed() < give_up,
            "after {give_up:?} the load balancer still sends and has not said {cut_off:?}: \
             {read} of {whole} bytes read"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // Then what the kernels still hold for it, at full speed (megabytes on loopback, which a
    // slow reader on a busy machine would take long to drain): the answer ends short.
    loop {
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(got) => read += got,
        }
    }
    assert!(
        read < whole,
        "the slow reader got the whole answer ({whole} bytes)"
    );
    if !said {
        lb.process.wait_for(cut_off, PATIENCE)?;
    }

    let mut idle = TcpStream::connect(("127.0.0.1", lb.port)).unwrap();
    idle.write_all(BIG_N.to_string().as_bytes()).unwrap();
    lb.process.wait_for(cut_off, PATIENCE)?;
    Ok(())
}

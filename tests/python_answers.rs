//! End to end: what the Python lab answers, ours answers too. A worker that sleeps longer than
//! our old worker timeout, answers written with a `+` or leading zeros, a request padded with
//! spaces, and numbers typed with Unicode spaces or full-width digits. (A number typed after
//! the load balancer stopped waiting at the prompt is in `tests/client.rs`.)
//! docs/reliability.md names the test for each row.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::thread;
use std::time::Duration;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, ask, ask_text};

/// A worker of the test's own, as a student changes worker_server.py: it reads n, waits
/// `sleep`, and answers what `answer` makes of n!'s digits. Returns its port.
fn students_worker(sleep: Duration, answer: fn(String) -> String) -> u16 {
    harness::peers::answering(move |n| {
        // A health check (`1`) is answered at once; the student's sleep is in the work.
        if n != 1 {
            thread::sleep(sleep);
        }
        answer(factorial_digits(n)).into_bytes()
    })
    .unwrap()
}

/// A lone worker that sleeps 35 s before it answers (a student's `time.sleep(35)`): the load
/// balancer waits for it, as the Python's does, where our old 30 s `--worker-timeout` gave up
/// and answered `Error: Worker communication failed.`
#[test]
fn a_worker_that_sleeps_35_s_is_waited_for() -> Result<(), Error> {
    let lab = Lab::new("sleeps-35")?;
    let worker = students_worker(Duration::from_secs(35), |digits| digits);
    std::fs::write(lab.registry(), format!("{worker}\n")).unwrap();
    let lb = lab.start_load_balancer(&[])?;
    assert_eq!(ask_text(lb.port, "12")?, "479001600");
    Ok(())
}

/// Workers that answer `+479001600` or `000479001600` (a student's `f"{r:+d}"` or `zfill`):
/// the load balancer relays n! as its bare digits and marks neither worker down, where it
/// took both answers for wrong ones and answered `Error: Worker communication failed: …`.
/// client.py prints them as they came.
#[test]
fn answers_with_a_plus_or_leading_zeros_are_n_factorial() -> Result<(), Error> {
    let lab = Lab::new("plus-and-zeros")?;
    let plus = students_worker(Duration::ZERO, |digits| format!("+{digits}"));
    let zeros = students_worker(Duration::ZERO, |digits| format!("000{digits}\n"));
    std::fs::write(lab.registry(), format!("{plus}\n{zeros}\n")).unwrap();
    let mut lb = lab.start_load_balancer(&[])?;
    for n in [12u64, 12, 3000, 3000] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let mut served = lb.wait_for_forwards(4)?;
    served.sort();
    let mut both = vec![plus, plus, zeros, zeros];
    both.sort();
    assert_eq!(served, both);
    assert_eq!(lb.lines_marking_workers_down(), Vec::<String>::new());
    Ok(())
}

/// A worker written in C that sends its whole zeroed 1024-byte buffer (`send(fd, buf,
/// sizeof buf, 0)`): n!'s digits, then NUL bytes. The load balancer relays the digits and
/// marks the worker down for nothing, as the Python lab relays the answer (its client prints
/// the NULs too), where it took the answer for a wrong one and answered `Error: Worker
/// communication failed: …`. An answer longer than the buffer comes as it is.
#[test]
fn an_answer_padded_with_nul_bytes_is_n_factorial() -> Result<(), Error> {
    let lab = Lab::new("nul-padded")?;
    let padded = students_worker(Duration::ZERO, |digits| {
        let mut buffer = digits;
        while buffer.len() < 1024 {
            buffer.push('\0');
        }
        buffer
    });
    std::fs::write(lab.registry(), format!("{padded}\n")).unwrap();
    let mut lb = lab.start_load_balancer(&[])?;
    for n in [12u64, 100, 3000] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    assert_eq!(lb.wait_for_forwards(3)?, [padded, padded, padded]);
    assert_eq!(lb.lines_marking_workers_down(), Vec::<String>::new());
    Ok(())
}

/// A request padded with 2,000 spaces after the number (the Python reads its first 1024
/// bytes, and `int()` skips the spaces): answered by the load balancer and by a worker asked
/// directly, where both refused it as longer than 1024 bytes. Spaces before the number still
/// count: a number that does not end within 1024 bytes is refused, saying so.
#[test]
fn a_request_padded_with_spaces_is_answered() -> Result<(), Error> {
    let lab = Lab::new("padded")?;
    let workers = lab.start_workers(1, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    let mut padded = b"12".to_vec();
    padded.resize(2002, b' ');
    let mut late = vec![b' '; 2000];
    late.extend_from_slice(b"12");
    for port in [lb.port, workers[0].port] {
        assert_eq!(ask(port, &padded)?, b"479001600", "to {port}");
        let answer = String::from_utf8(ask(port, &late)?).unwrap();
        assert_eq!(
            answer,
            "Error: request longer than 1024 bytes: the number must end within them (spaces \
             after it are fine)"
        );
    }
    Ok(())
}

/// Numbers typed with a no-break space or an ideographic space (U+3000) around them, or in
/// full-width digits (a Japanese or Chinese input method) or Arabic-Indic ones: answered, by
/// the load balancer and by a worker asked directly, as Python's `int()` reads them; each was
/// refused as not a whole number.
#[test]
fn unicode_spaces_and_digits_are_read_as_python_reads_them() -> Result<(), Error> {
    let lab = Lab::new("unicode-digits")?;
    let workers = lab.start_workers(1, &[])?;
    let lb = lab.start_load_balancer(&[])?;
    for port in [lb.port, workers[0].port] {
        for typed in [
            "\u{a0}12\u{a0}",
            "\u{3000}12\u{3000}",
            "１２",
            "١٢",
            "+１２\r\n",
        ] {
            assert_eq!(ask_text(port, typed)?, "479001600", "{typed:?} to {port}");
        }
        let superscript = ask_text(port, "²")?;
        assert_eq!(superscript, "Error: not a whole number: \"²\"");
    }
    Ok(())
}

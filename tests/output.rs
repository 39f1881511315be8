//! End to end: standard output that fails or stops moving never stops serving. A lab room
//! pipes the servers into `head` or `tee`, closes terminals and fills disks; `println!` panics
//! on the first and blocks every thread on the second. Each fault is made on purpose: a pipe
//! we close, a pipe we never read, `/dev/full`.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, ask_text, port_at_end};
use harness::process::Running;

/// Starts `program` in `lab` with stdout a pipe, reads lines until one contains `ready`, and
/// returns the process, its port and the pipe, which the caller closes or leaves unread.
fn start_piped(
    lab: &Lab,
    program: &str,
    args: &[&str],
    ready: &str,
) -> Result<(Running, u16, BufReader<std::process::ChildStdout>), Error> {
    let mut command = lab.command(program)?;
    command.args(args);
    let (process, stdout) = Running::start_with_stdout(program, command, Stdio::piped())?;
    let mut stdout = BufReader::new(stdout.ok_or_else(|| Error::new("no stdout pipe"))?);
    let mut line = String::new();
    while !line.contains(ready) {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            return Err(Error::new(format!("{program} ended before {ready:?}")));
        }
    }
    let port = port_at_end(&line).ok_or_else(|| Error::new(format!("no port in {line:?}")))?;
    Ok((process, port, stdout))
}

/// Asks for 0! … 19! `times` times over and checks every answer.
fn ask_many(port: u16, times: u64) -> Result<(), Error> {
    for n in 0..times {
        assert_eq!(
            ask_text(port, &(n % 20).to_string())?,
            factorial_digits(n % 20)
        );
    }
    Ok(())
}

/// `load_balancer | head -n 1`: the reader goes away after the first line. The load balancer
/// says once on stderr that its output failed and serves on, where `println!` panicked on
/// the first client. A worker's output likewise.
#[test]
fn output_closed_by_its_reader() -> Result<(), Error> {
    let lab = Lab::new("head")?;
    let (mut worker, _, worker_out) = start_piped(&lab, "worker", &[], "Worker listening on")?;
    let (mut lb, port, lb_out) =
        start_piped(&lab, "load_balancer", &["--port", "0"], "Load Balancer")?;
    drop(worker_out);
    drop(lb_out);
    ask_many(port, 50)?;
    for process in [&mut lb, &mut worker] {
        process.wait_for("cannot write to standard output", PATIENCE)?;
        let stderr = process.stderr_lines();
        assert_eq!(stderr.len(), 1, "said once: {stderr:?}");
    }
    Ok(())
}

/// `worker > /dev/full`: the worker registers, says once on stderr that it cannot write its
/// log, and answers every request (it exited 101 after registering when `println!` panicked).
#[test]
fn output_to_a_full_disk() -> Result<(), Error> {
    if cfg!(windows) {
        harness::lab::say_skipped(
            "output_to_a_full_disk",
            "Windows has no /dev/full, a file that is always full",
        );
        return Ok(());
    }
    let lab = Lab::new("full")?;
    let command = lab.command("worker")?;
    let full = std::fs::File::create("/dev/full").unwrap();
    let (mut worker, _) = Running::start_with_stdout("worker", command, Stdio::from(full))?;
    worker.wait_for("cannot write to standard output", PATIENCE)?;
    let registry = std::fs::read_to_string(lab.registry()).unwrap();
    let port: u16 = registry.trim().parse().unwrap();
    ask_many(port, 50)?;
    let lb = lab.start_load_balancer(&[])?;
    ask_many(lb.port, 20)?;
    assert_eq!(
        worker.stderr_lines().len(),
        1,
        "{:?}",
        worker.stderr_lines()
    );
    Ok(())
}

/// Standard output a pipe that nobody reads (a terminal scrolled back, a stopped `less`):
/// 2,000 requests through a load balancer and a worker whose pipes are full all get their
/// answers, where the load balancer stopped answering anyone after about 426 when every
/// thread blocked on the stdout lock. The lines that could not be written are dropped.
#[test]
fn output_nobody_reads() -> Result<(), Error> {
    let lab = Lab::new("unread")?;
    let (_worker, _, _worker_out) = start_piped(&lab, "worker", &[], "Worker listening on")?;
    let (_lb, port, _lb_out) =
        start_piped(&lab, "load_balancer", &["--port", "0"], "Load Balancer")?;
    ask_many(port, 2000)
}

/// `cargo run --release | head -3`: the demo exits 0 without a panic, and leaves no process
/// and no scratch folder behind.
#[test]
fn demo_piped_into_head() -> Result<(), Error> {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_lab"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(demo.stdout.take().unwrap());
    // Under `cargo test` the demo first says that it builds the programs.
    let mut first = String::new();
    while !first.starts_with("Registry file: ") {
        first.clear();
        assert!(
            stdout.read_line(&mut first).unwrap() > 0,
            "no registry line"
        );
    }
    let registry = first
        .trim()
        .strip_prefix("Registry file: ")
        .map(PathBuf::from)
        .unwrap();
    let scratch = registry.parent().unwrap().to_path_buf();
    for _ in 0..2 {
        stdout.read_line(&mut String::new()).unwrap();
    }
    drop(stdout); // what `head -3` does after its third line
    let output = demo.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the demo, its stdout closed after three lines, exited with {}; its stderr: {stderr:?}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!scratch.exists(), "{} left behind", scratch.display());
    // Windows refuses to remove a folder that a process works in, so there its removal,
    // above, shows that no process was left in it; Linux lists them in /proc.
    if cfg!(unix) {
        assert_eq!(processes_in(&scratch), Vec::<String>::new());
    }
    Ok(())
}

/// The processes whose working folder is `dir` (or was, before it was removed).
fn processes_in(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(dir) || cwd.to_string_lossy().starts_with(&*dir.to_string_lossy()) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

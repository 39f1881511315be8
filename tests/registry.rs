//! End to end: a registry file written by hand, edited while the lab runs, or made into
//! something that is not a file. The load balancer reads what a person means, refuses what
//! would hang or flood it, and keeps serving. Each test makes its fault on purpose.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, Server, ask_in_background, ask_text};

/// How long a test waits for an answer that must come at once. Only a bound: a load balancer
/// stuck on the registry makes the test fail after it instead of hanging.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Writes the registry file, replacing whatever is there.
fn write_registry(lab: &Lab, text: &str) {
    let path = lab.registry();
    // A FIFO or symlink from an earlier step is replaced, not written through.
    let _ = std::fs::remove_file(&path);
    std::fs::write(&path, text).unwrap();
}

/// Asks for `request` on a plain socket whose reads give up after [`PROMPTLY`].
fn ask_promptly(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(PROMPTLY)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    match stream.read_to_string(&mut answer) {
        Ok(_) => answer,
        Err(e) => panic!("no answer within {PROMPTLY:?}: {e}"),
    }
}

/// Two requests are served, one by each worker: both registry lines were read.
fn both_workers_serve(lb: &mut Server, workers: &[Server]) -> Result<(), Error> {
    for n in [5u64, 6] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let mut served = lb.wait_for_forwards(2)?;
    served.sort_unstable();
    let mut expected = [workers[0].port, workers[1].port];
    expected.sort_unstable();
    assert_eq!(served, expected, "{:#?}", lb.process.stdout_lines());
    Ok(())
}

/// A last line without a newline (`printf 5001 >`), a first line behind a byte-order mark
/// (a Windows editor), Windows line ends, `localhost:PORT` lines, and a file saved by Notepad
/// as "Unicode" (UTF-16) are read as the workers they show: each serves a request.
#[test]
fn a_hand_written_registry_is_read_as_meant() -> Result<(), Error> {
    let lab = Lab::new("hand-written")?;
    let workers = lab.start_workers(2, &[])?;
    let (first, second) = (workers[0].port, workers[1].port);
    write_registry(&lab, &format!("{first}\n{second}"));
    let mut lb = lab.start_load_balancer(&[])?;
    both_workers_serve(&mut lb, &workers)?;
    write_registry(&lab, &format!("\u{feff}{first}\n{second}\n"));
    both_workers_serve(&mut lb, &workers)?;
    write_registry(&lab, &format!("{first}\r\n{second}\r\n"));
    both_workers_serve(&mut lb, &workers)?;
    write_registry(&lab, &format!("localhost:{first}\nlocalhost:{second}\n"));
    both_workers_serve(&mut lb, &workers)?;
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            format!("{first}\r\n{second}\r\n")
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    let _ = std::fs::remove_file(lab.registry());
    std::fs::write(lab.registry(), utf16).unwrap();
    both_workers_serve(&mut lb, &workers)
}

/// A registry rewritten in place (truncated, then written) while a request reads it: the
/// request that found it empty still gets its answer, not `Error: No workers available.`
#[test]
fn a_registry_rewritten_in_place_loses_no_request() -> Result<(), Error> {
    let lab = Lab::new("rewritten")?;
    let _workers = lab.start_workers(2, &[])?;
    let text = std::fs::read_to_string(lab.registry()).unwrap();
    let mut lb = lab.start_load_balancer(&[])?;
    std::fs::write(lab.registry(), "").unwrap();
    let asking = ask_in_background(lb.port, "9");
    // The load balancer reads the registry right after this line: it finds it empty.
    lb.process
        .wait_for("Received request for factorial of 9", PATIENCE)?;
    std::fs::write(lab.registry(), &text).unwrap();
    assert_eq!(asking.answer()?, factorial_digits(9));
    Ok(())
}

/// Replaces the registry of a lab with one live worker by what `make` puts at its path, and
/// checks that the load balancer refuses it as not a regular file, answers `Error: No workers
/// available.` at once, and serves again once the registry is a file again.
fn unreadable_registry_is_refused(
    name: &str,
    make: impl FnOnce(&std::path::Path),
) -> Result<(), Error> {
    let lab = Lab::new(name)?;
    let _worker = lab.start_worker("worker", &[])?;
    let text = std::fs::read_to_string(lab.registry()).unwrap();
    std::fs::remove_file(lab.registry()).unwrap();
    make(&lab.registry());
    let mut lb = lab.start_load_balancer(&[])?;
    for _ in 0..3 {
        assert_eq!(ask_promptly(lb.port, "5"), "Error: No workers available.");
    }
    lb.process.wait_for(": not a regular file", PATIENCE)?;
    write_registry(&lab, &text);
    assert_eq!(ask_promptly(lb.port, "5"), "120");
    let reasons = lb
        .process
        .drain()
        .iter()
        .filter(|l| l.text.contains("not a regular file"))
        .count();
    assert_eq!(
        reasons, 1,
        "the reason is logged once, not for each request"
    );
    Ok(())
}

/// The registry made a FIFO (`mkfifo`), which blocks whoever opens it until a writer comes:
/// refused before it is opened.
#[test]
fn a_fifo_registry_is_refused_not_waited_on() -> Result<(), Error> {
    if cfg!(windows) {
        return skipped_on_windows("a_fifo_registry_is_refused_not_waited_on", "FIFO (mkfifo)");
    }
    unreadable_registry_is_refused("fifo-registry", |path| {
        let made = Command::new("mkfifo").arg(path).status().unwrap();
        assert!(made.success(), "mkfifo failed");
    })
}

/// The registry made a symlink to /dev/zero, which never ends: refused as not a regular file.
#[test]
fn a_registry_linked_to_dev_zero_is_refused() -> Result<(), Error> {
    if cfg!(windows) {
        return skipped_on_windows("a_registry_linked_to_dev_zero_is_refused", "/dev/zero");
    }
    unreadable_registry_is_refused("zero-registry", |_path| {
        #[cfg(unix)]
        std::os::unix::fs::symlink("/dev/zero", _path).unwrap();
    })
}

/// Says that `test` skipped on Windows, which has no `what` for a registry to be made into.
fn skipped_on_windows(test: &str, what: &str) -> Result<(), Error> {
    let why = format!("Windows has no {what}, so the registry cannot be made one there");
    harness::skips::say_skipped(test, &why);
    Ok(())
}

/// 100,000 garbage lines before one live worker: every request is served, and the load
/// balancer reports the garbage in at most 11 lines (the first 10, then one count), not
/// 100,000, however many requests read the file.
#[test]
fn a_hundred_thousand_garbage_lines_are_summed_up() -> Result<(), Error> {
    let lab = Lab::new("garbage-registry")?;
    let _worker = lab.start_worker("worker", &[])?;
    let live = std::fs::read_to_string(lab.registry()).unwrap();
    write_registry(&lab, &("garbage\n".repeat(100_000) + &live));
    let mut lb = lab.start_load_balancer(&[])?;
    for n in 0..5u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    lb.wait_for_forwards(5)?;
    let skipping: Vec<String> = lb
        .process
        .stdout_lines()
        .into_iter()
        .filter(|line| line.starts_with("Skipping"))
        .collect();
    assert!(skipping.len() <= 11, "{} Skipping lines", skipping.len());
    let summary = "Skipping 99990 more lines of worker_ports.txt that name no worker";
    assert_eq!(skipping.last().map(String::as_str), Some(summary));
    Ok(())
}

/// A load balancer started where no worker registered (another folder, a typo in
/// --registry): every request gets `Error: No workers available.`, and the log says once,
/// with the full path, which file it looked for and that it does not exist.
#[test]
fn a_missing_registry_is_named_once() -> Result<(), Error> {
    let lab = Lab::new("missing-registry")?;
    let mut lb = lab.start_load_balancer(&[])?;
    for _ in 0..3 {
        assert_eq!(ask_text(lb.port, "5")?, "Error: No workers available.");
    }
    // The folder as a program working in it sees it: Linux resolves the links in its path;
    // Windows keeps it as given (canonicalize would add `\\?\`).
    let folder = if cfg!(windows) {
        lab.dir().to_path_buf()
    } else {
        lab.dir().canonicalize().unwrap()
    };
    let missing = format!(
        "{} does not exist: no worker registered in this folder (start the workers here, or \
         give --registry PATH)",
        folder.join("worker_ports.txt").display()
    );
    lb.process.wait_for("No available workers.", PATIENCE)?;
    let lines = lb
        .process
        .drain_when_quiet(Duration::from_millis(300), PATIENCE);
    let said = lines.iter().filter(|l| l.text == missing).count();
    assert_eq!(said, 1, "{lines:#?}");
    Ok(())
}

/// A registry begun on Windows by PowerShell 5.1 (`echo PORT > worker_ports.txt`, UTF-16 with
/// a byte-order mark): a worker started after it appends its line in UTF-16 too, and the load
/// balancer reads both lines, so each worker serves a request.
#[test]
fn a_registry_begun_by_powershell_stays_utf16() -> Result<(), Error> {
    let lab = Lab::new("powershell-registry")?;
    // The first worker registers elsewhere; its port goes in as a student's `echo` would.
    let first = lab.start_worker("worker 1", &["--registry", "elsewhere.txt"])?;
    let by_powershell: Vec<u8> = std::iter::once(0xFEFF)
        .chain(format!("{}\r\n", first.port).encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(lab.registry(), by_powershell).unwrap();
    let second = lab.start_worker("worker 2", &[])?;
    let bytes = std::fs::read(lab.registry()).unwrap();
    let expected: Vec<u8> = std::iter::once(0xFEFF)
        .chain(format!("{}\r\n{}\r\n", first.port, second.port).encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(bytes, expected, "{:?}", String::from_utf8_lossy(&bytes));
    let mut lb = lab.start_load_balancer(&[])?;
    both_workers_serve(&mut lb, &[first, second])?;
    assert!(
        !lb.process
            .drain()
            .iter()
            .any(|l| l.text.starts_with("Skipping")),
        "{:#?}",
        lb.process.stdout_lines()
    );
    Ok(())
}

/// The load balancer says how many workers it found whenever that number changes, from its
/// first read (`0 workers in worker_ports.txt` before any worker registered) to each worker
/// added while the lab runs, and says nothing more while the number stays the same.
#[test]
fn the_number_of_workers_is_said_when_it_changes() -> Result<(), Error> {
    let lab = Lab::new("worker-count")?;
    let mut lb = lab.start_load_balancer(&[])?;
    assert_eq!(ask_text(lb.port, "5")?, "Error: No workers available.");
    lb.process
        .wait_for("0 workers in worker_ports.txt", PATIENCE)?;
    let _first = lab.start_worker("worker 1", &[])?;
    assert_eq!(ask_text(lb.port, "5")?, factorial_digits(5));
    lb.process
        .wait_for("1 worker in worker_ports.txt", PATIENCE)?;
    let _second = lab.start_worker("worker 2", &[])?;
    for n in [6u64, 7, 8] {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    lb.process
        .wait_for("2 workers in worker_ports.txt", PATIENCE)?;
    lb.process
        .wait_for("Response sent to client: 40320", PATIENCE)?;
    let said: Vec<String> = lb
        .process
        .printed()
        .into_iter()
        .filter(|line| line.ends_with(" in worker_ports.txt"))
        .collect();
    assert_eq!(
        said,
        [
            "0 workers in worker_ports.txt",
            "1 worker in worker_ports.txt",
            "2 workers in worker_ports.txt"
        ]
    );
    Ok(())
}

/// `text` in UTF-16LE, as PowerShell 5.1 and our worker write into a registry PowerShell began.
fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A registry PowerShell began in UTF-16 (`FF FE`, `P1\r\n`), to which the Python lab's worker
/// appended ASCII on Linux (`P2\n`) and on Windows (`P3\r\n`, which leaves the next line at an
/// odd byte offset), then a UTF-16 line (`P4\r\n`), written byte for byte; our worker then
/// appends in the file's UTF-16. The load balancer reads every line in the encoding it was
/// written in, so round-robin reaches all five workers and no line is skipped. (The whole file
/// was read as UTF-16: the Python worker's line was skipped as `㜵ㄲਲ਼`, and every line after
/// an odd one too.)
#[test]
fn a_utf16_registry_with_ascii_lines_appended_is_read_whole() -> Result<(), Error> {
    let lab = Lab::new("mixed-registry")?;
    let others = lab.start_workers(4, &["--registry", "elsewhere.txt"])?;
    let [p1, p2, p3, p4] = [0, 1, 2, 3].map(|i| others[i].port);
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(utf16le(&format!("{p1}\r\n")));
    bytes.extend(format!("{p2}\n{p3}\r\n").into_bytes());
    assert_eq!(bytes.len() % 2, 1, "the next line starts at an odd offset");
    bytes.extend(utf16le(&format!("{p4}\r\n")));
    std::fs::write(lab.registry(), &bytes).unwrap();
    let ours = lab.start_worker("worker 5", &[])?;
    bytes.extend(utf16le(&format!("{}\r\n", ours.port)));
    let written = std::fs::read(lab.registry()).unwrap();
    assert_eq!(written, bytes, "{:?}", String::from_utf8_lossy(&written));
    let mut lb = lab.start_load_balancer(&[])?;
    for n in 0..5u64 {
        assert_eq!(ask_text(lb.port, &n.to_string())?, factorial_digits(n));
    }
    let mut served = lb.wait_for_forwards(5)?;
    served.sort_unstable();
    let mut all = vec![p1, p2, p3, p4, ours.port];
    all.sort_unstable();
    let printed = lb.process.printed();
    assert_eq!(served, all, "{printed:#?}");
    let skipped: Vec<&String> = printed
        .iter()
        .filter(|l| l.starts_with("Skipping"))
        .collect();
    assert!(skipped.is_empty(), "{skipped:#?}");
    Ok(())
}

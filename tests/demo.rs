//! The one-command demo, run as an instructor would run it.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::{Command, Output};

use common::factorial::factorial_digits;

/// Runs the demo with `args` to its end.
fn run_demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .unwrap()
}

/// The demo starts three workers, the load balancer and the client, shows every process's
/// lines tagged with its name, gets the three answers, and exits 0. Its load balancer listens
/// on a free port, never on the lab's 65432, which it leaves as it found it.
#[test]
fn demo_runs_the_whole_lab() {
    let output = run_demo(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "[worker 1] Worker listening on 127.0.0.1:",
        "[worker 2] Worker listening on 127.0.0.1:",
        "[worker 3] Worker listening on 127.0.0.1:",
        "[load_balancer] Load Balancer listening on 127.0.0.1:",
        "[client] Factorial received: 479001600",
        "[client] Factorial received: 1307674368000",
        "[client] Factorial received: 5040",
        "[worker 1] Worker sent factorial: 479001600",
        "[worker 2] Worker sent factorial: 1307674368000",
        "[worker 3] Worker sent factorial: 5040",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    let listening = "[load_balancer] Load Balancer listening on 127.0.0.1:";
    let port = stdout
        .lines()
        .find_map(|l| l.strip_prefix(listening))
        .unwrap_or_default();
    assert_ne!(port, "65432", "{stdout}");
}

/// The numbers `lab --fault` sends, in its order.
const FAULT_NUMBERS: [u64; 9] = [12, 15, 7, 10, 11, 13, 9, 8, 14];

/// `lab --fault` stops one worker half-way, as Ctrl-C would: the load balancer marks it down,
/// the stopped worker prints nothing more, and every number is still answered right.
#[test]
fn demo_with_fault_stops_a_worker_and_every_answer_arrives() {
    let output = run_demo(&["--fault"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for number in FAULT_NUMBERS {
        let expected = format!(
            "[client] Factorial received: {}\n",
            factorial_digits(number)
        );
        assert!(stdout.contains(&expected), "no {expected:?} in:\n{stdout}");
    }
    let lines: Vec<&str> = stdout.lines().collect();
    let stop = lines
        .iter()
        .position(|l| l.starts_with("Stopping worker ") && l.contains("(as Ctrl-C would)"))
        .unwrap_or_else(|| panic!("no stop line in:\n{stdout}"));
    let after_stop = &lines[stop + 1..];
    assert!(
        after_stop
            .iter()
            .any(|l| l.starts_with("[load_balancer] Worker (") && l.contains(") marked down;")),
        "no marked-down line after the stop line in:\n{stdout}"
    );
    // "Stopping worker 2 (as Ctrl-C would) ..." -> "[worker 2] ".
    let stopped = lines[stop]
        .trim_start_matches("Stopping ")
        .split(" (")
        .next()
        .unwrap();
    let tag = format!("[{stopped}] ");
    assert!(
        !after_stop.iter().any(|l| l.starts_with(&tag)),
        "{stopped} printed after it was stopped:\n{stdout}"
    );
}

/// Started with SIGINT ignored, as `lab --fault &` in a script starts it (and its workers,
/// which inherit that), the demo still stops its worker, with SIGTERM, says so, and every
/// number is answered; it does not wait a minute for a Ctrl-C that cannot work.
#[test]
fn demo_with_fault_started_in_the_background_still_stops_a_worker() {
    if cfg!(windows) {
        return harness::lab::say_skipped(
            "demo_with_fault_started_in_the_background_still_stops_a_worker",
            "Windows has no SIGINT for a script to ignore (nor sh to start it so)",
        );
    }
    let output = Command::new("sh")
        .args(["-c", "trap '' INT; exec \"$0\" --fault"])
        .arg(env!("CARGO_BIN_EXE_lab"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ignores Ctrl-C"), "{stdout}");
    for number in FAULT_NUMBERS {
        let expected = format!("Factorial received: {}\n", factorial_digits(number));
        assert!(stdout.contains(&expected), "no {expected:?} in:\n{stdout}");
    }
}

/// `--help` prints what the demo does and exits 0; an unknown argument is refused with exit
/// code 2 before anything is built or started.
#[test]
fn demo_takes_help_and_refuses_unknown_arguments() {
    let demo = |arg: &str| {
        Command::new(env!("CARGO_BIN_EXE_lab"))
            .arg(arg)
            .output()
            .unwrap()
    };
    for flag in ["--help", "-h"] {
        let output = demo(flag);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(
            help.starts_with("lab: runs the whole factorial lab"),
            "{help}"
        );
        assert!(help.contains("Usage: lab"), "{help}");
    }
    let output = demo("--bogus");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("lab: unknown argument \"--bogus\""),
        "{stderr}"
    );
    assert!(stderr.contains("Try 'lab --help'"), "{stderr}");
    assert!(output.stdout.is_empty(), "it started something");
}

/// On Windows the demo's programs end with it however it ends, as a terminal's Ctrl-C ends
/// them all on Linux: each runs in a process group of its own, which Ctrl-C does not reach,
/// so they are in a job that Windows kills with the demo. Here the demo is ended outright,
/// and every port its workers and load balancer listened on closes.
#[cfg(windows)]
#[test]
fn the_demo_s_programs_end_with_it_on_windows() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut demo = Command::new(env!("CARGO_BIN_EXE_lab"))
        .arg("--status")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ports = Vec::new();
    for line in BufReader::new(demo.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("listening on 127.0.0.1:") {
            ports.push(harness::lab::port_at_end(&line).unwrap());
        }
        if line.contains("press Ctrl-C") {
            break;
        }
    }
    assert_eq!(
        ports.len(),
        4,
        "three workers and the load balancer: {ports:?}"
    );
    demo.kill().unwrap(); // the demo alone, as a crash or Task Manager would end it
    demo.wait().unwrap();
    let deadline = Instant::now() + harness::lab::PATIENCE;
    let listening = || -> Vec<u16> {
        let open = harness::win32::listening_ports().unwrap();
        ports.iter().copied().filter(|p| open.contains(p)).collect()
    };
    while !listening().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(listening(), [], "still listening after the demo ended");
}

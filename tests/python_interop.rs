//! Our programs and the Python lab's, in all eight mixes: (Python or Rust client) → (Python or
//! Rust load balancer) → (Python or Rust workers), each answering 12, 15 and 7.
//!
//! Runs when python3 is on PATH and the Python lab (client.py, load_balancer.py and
//! worker_server.py) is in the folder `PYTHON_LAB_DIR` names, or else in `../shared/python-lab`
//! beside this repository (`python_lab_dir`); otherwise each test says it skipped, in one
//! summary at the end of the run (the last test here checks that summary). Python's load
//! balancer and client know only port 65432, so the mixes run a copy of them with that port
//! replaced by one chosen for the run (`python_lab_on_port`), leaving 65432 to a student's lab;
//! they run one after another in a single test, on that one port. The other test here puts our
//! load balancer on a port of its own.

use std::path::Path;
use std::process::Command;

use common::armour::error::{Context, Error};
use common::factorial::factorial_digits;
use harness::lab::{
    Lab, PATIENCE, Server, ask_text, free_port, python_lab_dir, python_lab_on_port,
    python_load_balancer, say_skipped,
};

/// Which implementation plays a part.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Python,
    Rust,
}

/// A Python 3 command in the lab's folder (`python3`, or `python` on Windows), unbuffered so
/// we see each line as it is printed.
fn python(lab: &Lab, args: &[&str]) -> Command {
    let mut command = Command::new(harness::lab::python().unwrap_or("python3"));
    command.arg("-u").args(args).current_dir(lab.dir());
    command
}

fn start_worker(lab: &Lab, py: &Path, side: Side, tag: &str) -> Result<Server, Error> {
    match side {
        Side::Rust => lab.start_worker(tag, &[]),
        Side::Python => {
            let script = py.join("worker_server.py");
            let command = python(lab, &[&script.to_string_lossy()]);
            lab.start_server(tag, command, "Worker listening on ")
        }
    }
}

/// A load balancer on `port`, where the copy of client.py in `py` looks for it.
fn start_load_balancer(lab: &Lab, py: &Path, side: Side, port: u16) -> Result<Server, Error> {
    match side {
        Side::Rust => lab.start_load_balancer_on(port, &[]),
        Side::Python => {
            let command = python_load_balancer(lab, py)?;
            lab.start_server("load_balancer", command, "Load Balancer listening on ")
        }
    }
}

/// Asks the load balancer at `port` for `number` with the chosen client and returns the
/// digits it printed.
fn ask_with_client(
    lab: &Lab,
    py: &Path,
    side: Side,
    port: u16,
    number: &str,
) -> Result<String, Error> {
    let finished = match side {
        Side::Rust => lab.run_client(port, &[number], None)?,
        Side::Python => {
            let script = py.join("client.py");
            let command = python(lab, &[&script.to_string_lossy()]);
            lab.run_to_end("client.py", command, Some(&format!("{number}\n")))?
        }
    };
    assert!(finished.status.success(), "{side:?} client: {finished:?}");
    let line = finished.stdout.concat();
    let (_, digits) = line
        .split_once("Factorial received: ")
        .ok_or_else(|| Error::new(format!("{side:?} client printed {line:?}")))?;
    Ok(digits.to_string())
}

/// Every mix of Python and Rust answers 12, 15 and 7; through our load balancer, 1000! arrives
/// with all 2568 digits from Python workers too.
#[test]
fn all_eight_mixes_interoperate() -> Result<(), Error> {
    let py = match python_lab_dir() {
        Ok(dir) => dir,
        Err(why) => {
            say_skipped("all_eight_mixes_interoperate", &why);
            return Ok(());
        }
    };
    // Where every mix's load balancer listens, in place of 65432.
    let port = free_port()?;
    for client in [Side::Python, Side::Rust] {
        for balancer in [Side::Python, Side::Rust] {
            for workers in [Side::Python, Side::Rust] {
                let mix =
                    format!("{client:?} client, {balancer:?} load balancer, {workers:?} workers");
                let lab = Lab::new("interop")?;
                let py = python_lab_on_port(&lab, &py, port)?;
                let _workers = (1..=3)
                    .map(|n| start_worker(&lab, &py, workers, &format!("worker {n}")))
                    .collect::<Result<Vec<_>, _>>()?;
                let lb = start_load_balancer(&lab, &py, balancer, port)?;
                assert_eq!(lb.port, port, "{mix}");
                for n in [12, 15, 7] {
                    let digits = ask_with_client(&lab, &py, client, port, &n.to_string())?;
                    assert_eq!(digits, factorial_digits(n), "{mix}");
                }
                if balancer == Side::Rust {
                    assert_eq!(ask_text(lb.port, "1000")?, factorial_digits(1000), "{mix}");
                }
            }
        }
    }
    Ok(())
}

/// A request for 5000! behind our load balancer with three Python workers: each Python worker
/// that takes it dies (its `str()` refuses n! of over 4300 digits), so it goes to two of them
/// and the client is told; the third survives and serves the next request. Without the limit,
/// one `client 5000` killed every Python worker.
#[test]
fn a_big_n_kills_two_python_workers_not_all() -> Result<(), Error> {
    let py = match python_lab_dir() {
        Ok(dir) => dir,
        Err(why) => {
            say_skipped("a_big_n_kills_two_python_workers_not_all", &why);
            return Ok(());
        }
    };
    let lab = Lab::new("python-big-n")?;
    let mut workers = (1..=3)
        .map(|n| start_worker(&lab, &py, Side::Python, &format!("worker {n}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut lb = lab.start_load_balancer(&[])?;
    let answer = ask_text(lb.port, "5000")?;
    assert!(
        answer.starts_with("Error: Worker communication failed: two workers"),
        "{answer}"
    );
    // The two that took it end; the one that never saw it answers.
    let mut took_it = Vec::new();
    for _ in 0..2 {
        let line = lb.process.wait_for("closed without an answer", PATIENCE)?;
        took_it.push(
            workers
                .iter()
                .position(|w| line.contains(&format!(", {})", w.port))),
        );
    }
    let mut survivors = Vec::new();
    for (index, worker) in workers.iter_mut().enumerate() {
        if took_it.contains(&Some(index)) {
            worker.process.wait_for_exit(PATIENCE)?;
        } else {
            survivors.push(worker.port);
        }
    }
    assert_eq!(survivors.len(), 1, "{took_it:?}");
    assert_eq!(ask_text(survivors[0], "12")?, factorial_digits(12));
    assert_eq!(ask_text(lb.port, "12")?, factorial_digits(12));
    Ok(())
}

/// Without the Python lab, the two tests above pass without running, and the run ends with one
/// summary, after the harness's result line and nowhere else, that names both, says why, and
/// gives the command that runs them: a skip must not read as a pass.
#[test]
fn without_the_python_lab_one_summary_names_every_skipped_test() -> Result<(), Error> {
    if cfg!(windows) {
        harness::lab::say_skipped(
            "without_the_python_lab_one_summary_names_every_skipped_test",
            "it runs this file again through sh, to read its two outputs in one",
        );
        return Ok(());
    }
    let nowhere = Lab::new("no-python-lab")?; // an empty folder: no Python lab in it
    let this_file = std::env::current_exe().context(|| "cannot find this test".to_string())?;
    let skipping = [
        "all_eight_mixes_interoperate",
        "a_big_n_kills_two_python_workers_not_all",
    ];
    // Both of its outputs in one, in the order it wrote them.
    let output = Command::new("sh")
        .args(["-c", r#"exec "$0" --exact "$@" 2>&1"#])
        .arg(&this_file)
        .args(skipping.map(|test| crate::support::test_name!(test)))
        .env("PYTHON_LAB_DIR", nowhere.dir())
        .env_remove("LAB_REQUIRE_ALL")
        .output()
        .context(|| format!("cannot run {}", this_file.display()))?;
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    let result = printed.find("test result: ok. 2 passed");
    let summary = printed.find("SKIPPED: 2 tests (or parts of them) of `--test end_to_end`");
    assert!(result.is_some() && summary > result, "{printed}");
    assert_eq!(printed.matches("SKIPPED").count(), 1, "{printed}");
    let summary = &printed[summary.unwrap_or_default()..];
    let why = format!("because {} has no client.py:", nowhere.dir().display());
    assert!(summary.contains(&why), "{printed}");
    for test in skipping {
        let test = crate::support::test_name!(test);
        assert!(summary.contains(&format!("\n    {test}\n")), "{printed}");
    }
    assert!(
        summary.contains("then: cargo test --test end_to_end -- python_interop::\n"),
        "{printed}"
    );
    Ok(())
}

//! The lab's benchmark, std only: `cargo run --release --bin bench`.
//!
//! Load mode (the default) starts k workers and, one at a time, each load balancer in front
//! of them: ours (reusing threads, and spawning one per connection), plus nginx's stream proxy,
//! HAProxy and the Python lab when they are there, and one worker directly for the cost of
//! the second hop. It drives c concurrent clients that speak exactly like client.py, checks
//! every answer, and reports requests/s, p50, p99, max latency and errors as Markdown tables,
//! medians of several rounds with the order of the targets rotated each round.
//!
//! `--factorial` times n! against CPython and GMP instead, and `--soak SECS` checks every
//! answer under mixed load while workers are killed, restarted and frozen (`soak.rs`).
//! docs/benchmarks.md has results.

use std::process::ExitCode;
use std::time::Duration;

use common::armour::error::Error;
use common::extras::cli::{self, Args, CliError};
use common::factorial::factorial_digits;
use harness::lab::Lab;
use harness::process::build_programs;

mod factorial;
mod load;
mod page;
mod soak;
mod targets;

use targets::{Kind, ServerOutput};

const HELP: &str = "\
bench: measures the lab's load balancer against nginx, HAProxy and the Python lab, and its
factorial against CPython and GMP

Usage: bench [--workers K] [--clients C,C,...] [--requests N] [--n N] [--rounds R]
             [--targets T,T,...]
       bench --factorial [--ns N,N,...]
       bench --soak SECS [--threads spawn|reuse|both] [--workers K] [--clients C]

Options:
  --workers K        workers behind every load balancer [default: 3]
  --clients C,...    concurrent clients, one table each [default: 16,64]
  --requests N       requests in each measured run [default: 10000]
  --n N              the number every request asks for [default: 20]
  --rounds R         runs of each target; the tables show medians [default: 3]
  --targets T,...    measure only these: ours, ours-spawn, direct, nginx, haproxy, python,
                     and ours-status (ours with --status, /status.json fetched ten
                     times a second) or ours-browser (with a headless Chromium showing
                     the page) [default: all but the last two, where they can run]
  --quiet-servers    throw the servers' log lines away instead of writing them to a file in
                     the scratch folder, as a lab's terminal would [default: to a file]
  --factorial        time n! instead: ours, our first version, CPython, GMP (gmpy2)
  --ns N,...         the n for --factorial [default: 1000,10000,100000,1000000]
  --soak SECS        instead, SECS seconds of mixed load (small, medium and large n, and bad
                     input) from C clients (the first --clients) in each thread mode, every
                     answer checked, while every minute (every fifth of SECS, if shorter) a
                     worker is killed and restarted and another frozen for 5 s; one line a
                     mode; exits 1 if any answer was wrong or lost
  --threads MODE     the load balancer's thread mode for --soak: spawn, reuse or both
                     [default: both, spawn first]
  -h, --help         print this help

The Python lab runs from the folder PYTHON_LAB_DIR names, or from ../shared/python-lab beside
this repository; nginx (with libnginx-mod-stream) and haproxy run when installed.
";

/// What the command line chose.
struct Options {
    workers: usize,
    clients: Vec<usize>,
    requests: usize,
    n: u64,
    rounds: usize,
    /// What to measure (`--targets`), in the tables' order.
    targets: Vec<Kind>,
    factorial: bool,
    ns: Vec<u64>,
    /// How long to soak each thread mode (`--soak SECS`), if soaking.
    soak: Option<u64>,
    /// The thread modes to soak (`--threads`).
    threads: Vec<soak::Threads>,
    /// Where the servers' printed lines go (`--quiet-servers`).
    server_output: ServerOutput,
}

fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options {
        workers: 3,
        clients: vec![16, 64],
        requests: 10_000,
        n: 20,
        rounds: 3,
        targets: Kind::DEFAULT.to_vec(),
        factorial: false,
        ns: vec![1000, 10_000, 100_000, 1_000_000],
        soak: None,
        threads: vec![soak::Threads::Spawn, soak::Threads::Reuse],
        server_output: ServerOutput::File,
    };
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Err(CliError::HelpRequested),
            "--workers" => options.workers = args.count(&arg)?,
            "--clients" => options.clients = list(&args.value::<String>(&arg)?, &arg)?,
            "--requests" => options.requests = args.count(&arg)?,
            "--n" => options.n = args.value(&arg)?,
            "--rounds" => options.rounds = args.count(&arg)?,
            "--targets" => options.targets = targets(&args.value::<String>(&arg)?, &arg)?,
            "--factorial" => options.factorial = true,
            "--quiet-servers" => options.server_output = ServerOutput::Discard,
            "--ns" => options.ns = list(&args.value::<String>(&arg)?, &arg)?,
            "--soak" => options.soak = Some(soak_seconds(args.value(&arg)?, &arg)?),
            "--threads" => options.threads = thread_modes(&args.value::<String>(&arg)?, &arg)?,
            _ => return Err(cli::unknown(&arg)),
        }
    }
    Ok(options)
}

/// The soak's length, from 1 s to [`soak::MAX_SECS`].
fn soak_seconds(secs: u64, flag: &str) -> Result<u64, CliError> {
    match secs {
        1..=soak::MAX_SECS => Ok(secs),
        _ => Err(CliError::Usage(format!(
            "{flag} takes 1 to {} seconds",
            soak::MAX_SECS
        ))),
    }
}

/// `spawn`, `reuse` or `both`: the thread modes to soak, in that order.
fn thread_modes(text: &str, flag: &str) -> Result<Vec<soak::Threads>, CliError> {
    use soak::Threads::{Reuse, Spawn};
    match text {
        "spawn" => Ok(vec![Spawn]),
        "reuse" => Ok(vec![Reuse]),
        "both" => Ok(vec![Spawn, Reuse]),
        _ => Err(CliError::Usage(format!(
            "{flag} takes spawn, reuse or both, not {text:?}"
        ))),
    }
}

/// A comma-separated list of numbers, such as `16,64`.
fn list<T: std::str::FromStr>(text: &str, flag: &str) -> Result<Vec<T>, CliError> {
    text.split(',')
        .map(|item| item.trim().parse())
        .collect::<Result<Vec<T>, _>>()
        .map_err(|_| CliError::Usage(format!("{flag} takes numbers separated by commas")))
}

/// A comma-separated list of targets, such as `ours,direct`, kept in the tables' order.
fn targets(text: &str, flag: &str) -> Result<Vec<Kind>, CliError> {
    let named = text
        .split(',')
        .map(|name| name.trim().parse())
        .collect::<Result<Vec<Kind>, String>>()
        .map_err(|e| CliError::Usage(format!("{flag}: {e}")))?;
    Ok(Kind::ALL
        .into_iter()
        .filter(|kind| named.contains(kind))
        .collect())
}

fn main() -> ExitCode {
    let options = cli::parse_or_exit("bench", HELP, parse_args);
    let result = if let Some(secs) = options.soak {
        run_soak(&options, secs)
    } else if options.factorial {
        run_factorial(&options)
    } else {
        run_load(&options)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the machine, so every table says where it was measured.
fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("Machine: {cpu}, {cores} cores available");
    println!(
        "Command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!();
}

fn run_factorial(options: &Options) -> Result<(), Error> {
    print_machine();
    println!("| n | digits | ours | first version | CPython | GMP | CPython ÷ ours | ours ÷ GMP |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in factorial::measure(&options.ns) {
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        let or_dash = |d: Option<Duration>| d.map_or("—".to_string(), ms);
        let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.1}×", a.as_secs_f64() / b.as_secs_f64()),
            _ => "—".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.n,
            row.digits,
            ms(row.ours),
            ms(row.first_version),
            or_dash(row.cpython),
            or_dash(row.gmp),
            ratio(row.cpython, Some(row.ours)),
            ratio(Some(row.ours), row.gmp),
        );
    }
    println!();
    println!("Times are medians of repeated runs; — means not measured (CPython above n = 100000");
    println!("converts to text in quadratic time; GMP needs the gmpy2 module).");
    Ok(())
}

/// The soak (`soak.rs`); an error when any answer was wrong or lost.
fn run_soak(options: &Options, secs: u64) -> Result<(), Error> {
    build_programs()?;
    print_machine();
    let soak = soak::Soak {
        duration: Duration::from_secs(secs),
        clients: options.clients.first().copied().unwrap_or(16).max(1),
        workers: options.workers.max(1),
        output: options.server_output,
    };
    if soak::run(&soak, &options.threads)? {
        Ok(())
    } else {
        Err(Error::new("the soak lost requests or answered wrongly"))
    }
}

/// One target's results over the rounds.
struct Results {
    kind: Kind,
    runs: Vec<load::Run>,
    /// The load balancer's own CPU time per request in each run, where it can be read.
    cpu_per_request: Vec<Duration>,
}

fn run_load(options: &Options) -> Result<(), Error> {
    build_programs()?;
    // PYTHON_LAB_DIR, or the Python lab beside this repository, as README says.
    let python_lab = harness::lab::python_lab_dir();
    let python_lab = python_lab.as_deref().map_err(String::as_str);
    let lab = Lab::new("bench")?;
    let workers = targets::start_workers(&lab, options.workers, options.server_output)?;
    let ports: Vec<u16> = workers.iter().map(|w| w.port).collect();

    let mut kinds = Vec::new();
    for &kind in &options.targets {
        match targets::available(kind, python_lab) {
            Ok(()) => kinds.push(kind),
            Err(why) => println!("skipped {kind}: {why}"),
        }
    }
    print_machine();
    let request = options.n.to_string();
    let expected = factorial_digits(options.n);
    let warm_up = (options.requests / 10).clamp(100, 1000);

    for &clients in &options.clients {
        let mut results: Vec<Results> = kinds
            .iter()
            .map(|&kind| Results {
                kind,
                runs: Vec::new(),
                cpu_per_request: Vec::new(),
            })
            .collect();
        for round in 0..options.rounds {
            // Rotate who goes first, so no target always meets a cold or warm machine.
            let count = results.len();
            for i in 0..count {
                let result = &mut results[(i + round) % count];
                let target = match targets::start(
                    result.kind,
                    &lab,
                    &ports,
                    python_lab,
                    options.server_output,
                ) {
                    Ok(target) => target,
                    Err(e) => {
                        println!("{} did not start: {e}", result.kind);
                        continue;
                    }
                };
                load::drive(target.port, clients, warm_up, &request, &expected);
                let cpu_before = target.cpu_time();
                let run = load::drive(target.port, clients, options.requests, &request, &expected);
                if let (Some(before), Some(after)) = (cpu_before, target.cpu_time()) {
                    let per_request = (after.saturating_sub(before)).checked_div(run.ok as u32);
                    result.cpu_per_request.extend(per_request);
                }
                result.runs.push(run);
            }
        }
        print_load_table(clients, options, &results);
        print_status_cpu(&results);
    }
    Ok(())
}

/// The median of some numbers (the upper one of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Prints one table of load results: a row per target that ran. The `ours ÷ target` column
/// compares each target with ours (`--threads reuse`), so it is shown only when ours ran beside
/// at least one other target; alone, it would read 1.00 on every row.
fn print_load_table(clients: usize, options: &Options, results: &[Results]) {
    let measured: Vec<&Results> = results.iter().filter(|r| !r.runs.is_empty()).collect();
    let ours = measured
        .iter()
        .find(|r| r.kind == Kind::Ours)
        .filter(|_| measured.len() > 1)
        .map(|r| median(r.runs.iter().map(load::Run::per_second).collect()));
    println!(
        "c = {clients}, n = {}, {}, {} requests a run, medians of {} rounds:",
        options.n,
        workers(options.workers),
        options.requests,
        options.rounds
    );
    println!();
    let (ratio_header, ratio_rule) = if ours.is_some() {
        (" ours ÷ target (requests/s) |", " ---: |")
    } else {
        ("", "")
    };
    println!(
        "| target | requests/s | p50 | p99 | max | errors |{ratio_header} each round (requests/s) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |{ratio_rule} --- |");
    for result in measured {
        let per_second = median(result.runs.iter().map(load::Run::per_second).collect());
        let ms = |pick: &dyn Fn(&load::Run) -> Duration| {
            median(
                result
                    .runs
                    .iter()
                    .map(|r| pick(r).as_secs_f64() * 1000.0)
                    .collect(),
            )
        };
        let rounds: Vec<String> = result
            .runs
            .iter()
            .map(|r| format!("{:.0}", r.per_second()))
            .collect();
        let ratio = ours.map_or(String::new(), |ours| format!(" {:.2} |", ours / per_second));
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} |{ratio} {} |",
            result.kind,
            per_second,
            ms(&|r| r.percentile(50.0)),
            ms(&|r| r.percentile(99.0)),
            ms(&|r| r.max()),
            result.runs.iter().map(|r| r.errors).sum::<usize>(),
            rounds.join(", "),
        );
    }
    println!();
}

/// With the status page's targets measured, the load balancer's own CPU time per request for
/// each of ours: what the page costs, whatever else the machine runs meanwhile (requests/s on
/// a shared machine move with the neighbours' load; the CPU a process spends, much less).
fn print_status_cpu(results: &[Results]) {
    if !results
        .iter()
        .any(|r| matches!(r.kind, Kind::OursStatus | Kind::OursBrowser))
    {
        return;
    }
    let ours = [
        Kind::Ours,
        Kind::OursSpawn,
        Kind::OursStatus,
        Kind::OursBrowser,
    ];
    let times: Vec<String> = results
        .iter()
        .filter(|r| ours.contains(&r.kind) && !r.cpu_per_request.is_empty())
        .map(|r| {
            let micros = r
                .cpu_per_request
                .iter()
                .map(|d| d.as_secs_f64() * 1e6)
                .collect();
            format!("{} {:.1} µs", r.kind, median(micros))
        })
        .collect();
    println!(
        "The load balancer's own CPU time (user and system) per request, medians of the rounds: {}.",
        times.join("; ")
    );
    println!();
}

/// "1 worker", "3 workers": the table's title counts them in words a reader would use.
fn workers(count: usize) -> String {
    if count == 1 {
        "1 worker".to_string()
    } else {
        format!("{count} workers")
    }
}

//! `lab check` (this crate, the grader): the lab's properties, checked against any implementation of its protocol, in
//! any language — a worker or a load balancer given as a command, or a running service given
//! as an address. It prints a report card, one row per property, with the evidence under each
//! row that fails; the exit code is 0 only when every row passes.
//!
//! - [`properties`]: each property, one short function: the lab's specification.
//! - [`setup`]: starting what is under check as the lab does, in a scratch folder; [`program`]:
//!   the command it is started with; [`start`]: waiting for it to be ready, and why it is not.
//! - [`watch`]: a property's requests, while the processes' lines are noted as they come.
//! - [`ask`]: one request with a deadline, and what came back in words.
//! - [`evidence`], [`card`], [`timeline`], [`printable`]: what a row that fails shows, and when
//!   it happened.
//! - [`hints`], [`diagnose`]: the cause a row's evidence points to, in words for any language
//!   (the Python lab's lines only for the lab's own files).
//! - [`reach`]: whether a load balancer's requests reach the workers in worker_ports.txt, before
//!   the rows about them.

pub mod ask;
pub mod card;
pub mod diagnose;
pub mod evidence;
pub mod hints;
pub mod printable;
pub mod program;
pub mod properties;
pub mod reach;
pub mod setup;
pub mod start;
pub mod timeline;
pub mod watch;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use common::armour::log;
use common::extras::cli::{self, Args, CliError};
use common::say;

use evidence::Evidence;
use program::Program;
use properties::PROPERTIES;
use setup::{System, Target};

/// What `lab check --help` prints.
const HELP: &str = "\
lab check: checks an implementation of the factorial lab, in any language, and prints a
report card: one row per property, pass, FAIL or skip, with the evidence under each FAIL.

Usage:
  lab check --worker CMD                      a worker
  lab check --load-balancer CMD [--worker CMD] a load balancer, with three workers behind it
  lab check --address HOST:PORT               a worker or load balancer that runs already
  lab check --load-balancer CMD --address HOST:PORT   one that listens at HOST:PORT

  --worker CMD          the command that starts one worker, such as
                        \"python3 worker_server.py\"; it runs in a scratch folder, as in the
                        lab, and must append its port to worker_ports.txt there. Behind a
                        load balancer, its `Worker received number: N` lines, flushed as
                        printed, tell the check which worker served a request; rows that
                        need them are not checked without. The default is our worker.
  --load-balancer CMD   the command that starts the load balancer; it runs in the same
                        folder, reads worker_ports.txt there, and must print a line ending in
                        `listening on HOST:PORT` (the lab's line), or be given --address.
  --address HOST:PORT   ask a running service; only properties that need no process of its
                        own to start or stop are checked. It sends bad input, which kills
                        the Python lab's workers: point it only at a lab of your own.
                        With --load-balancer: where that load balancer listens, for one that
                        prints no `listening on HOST:PORT` line.
  --any-order           the load balancer chooses workers some other way than in turn
                        (random): check only that every worker gets requests.
  --patience SECS       how long any answer may take before it counts as none [default:
                        70, past our worker's one minute for a request]
  -h, --help            print this help

A command is split at spaces; a word naming a file here, or a relative path such as
target/release/worker, is passed as its full path.

A row that passes says `pass`; one that fails, `FAIL`, with the cause its evidence points to
(or what it needs) and the evidence, timed in seconds from the row's start; one that cannot be
checked (the workers print no `Worker received number: N` line to tell who served a request),
`skip`, with why; one after what is under check stopped, `----`, not checked. Before the rows
about workers, the check makes sure the load balancer's requests reach the workers in
worker_ports.txt (it kills them: with none running, no answer can be n!).

Exit codes: 0 when every property holds, 1 when one does not or cannot be checked, 2 for a
bad argument.
";

/// What the command line asks for.
#[derive(Debug, Default)]
struct Options {
    worker: Option<String>,
    load_balancer: Option<String>,
    address: Option<String>,
    any_order: bool,
    patience: Option<Duration>,
}

fn parse_args(args: &mut Args) -> Result<Options, CliError> {
    let mut options = Options::default();
    while let Some(arg) = args.next_arg() {
        match arg.as_str() {
            "-h" | "--help" => return Err(CliError::HelpRequested),
            "--worker" => once(&mut options.worker, args.value(&arg)?, &arg)?,
            "--load-balancer" => once(&mut options.load_balancer, args.value(&arg)?, &arg)?,
            "--address" => once(&mut options.address, args.value(&arg)?, &arg)?,
            "--any-order" => options.any_order = true,
            "--patience" => options.patience = Some(args.seconds(&arg)?),
            _ => return Err(cli::unknown(&arg)),
        }
    }
    Ok(options)
}

/// Sets a flag's value, which may be given once: a second `--worker` is a mistake to report,
/// not a choice to make silently.
fn once(slot: &mut Option<String>, value: String, flag: &str) -> Result<(), CliError> {
    if slot.is_some() {
        return Err(CliError::Usage(format!("{flag} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Which target the options name, or what is wrong with them.
fn target(options: &Options) -> Result<Target, CliError> {
    let command = |flag: &str, line: &str| {
        Program::from_command_line(line)
            .ok_or_else(|| CliError::Usage(format!("{flag} needs a command")))
    };
    if options.any_order && options.load_balancer.is_none() {
        return Err(CliError::Usage(
            "--any-order says how a load balancer chooses workers; it needs --load-balancer".into(),
        ));
    }
    match (&options.address, &options.load_balancer, &options.worker) {
        (Some(address), None, None) => Ok(Target::Address(resolve(address)?)),
        (Some(_), None, Some(_)) => Err(CliError::Usage(
            "--address checks a running service, or says where --load-balancer listens; a \
             worker's address is the port it registers"
                .into(),
        )),
        (address, Some(balancer), worker) => Ok(Target::LoadBalancer {
            balancer: command("--load-balancer", balancer)?,
            workers: match worker {
                Some(worker) => command("--worker", worker)?,
                None => Program::Ours("worker"),
            },
            address: address.as_deref().map(resolve).transpose()?,
        }),
        (None, None, Some(worker)) => Ok(Target::Worker(command("--worker", worker)?)),
        (None, None, None) => Err(CliError::Usage(
            "say what to check: --worker CMD, --load-balancer CMD or --address HOST:PORT".into(),
        )),
    }
}

/// `HOST:PORT` as an address to connect to.
fn resolve(address: &str) -> Result<SocketAddr, CliError> {
    let bad = |why: String| CliError::Usage(format!("--address {address:?}: {why}"));
    address
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("names no address".to_string()))
}

/// Runs `lab check` with the arguments after `check`.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let options = cli::parse_these_or_exit("lab check", HELP, args, parse_args);
    let target = match target(&options) {
        Ok(target) => target,
        Err(CliError::Usage(message)) => {
            log::warn(&format!("lab check: {message}"));
            log::warn("Try 'lab check --help' for the options.");
            return ExitCode::from(cli::USAGE_EXIT_CODE as u8);
        }
        Err(CliError::HelpRequested) => return ExitCode::SUCCESS,
    };
    let patience = options.patience.unwrap_or(ask::DEFAULT_PATIENCE);
    let all_hold = run(target, options.any_order, patience);
    // Every process is stopped by now; write out the last lines.
    log::flush();
    if all_hold {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Checks every property that applies to `target`, printing the report card; true when all
/// hold.
fn run(target: Target, any_order: bool, patience: Duration) -> bool {
    if uses_ours(&target)
        && let Err(e) = harness::process::build_programs()
    {
        say!("lab check: {e}");
        return false;
    }
    say!("lab check: {}", describe(&target));
    let kind = target.kind();
    let mut system = System::new(target, any_order, patience);
    let applicable: Vec<_> = PROPERTIES
        .iter()
        .filter(|p| p.applies.to(kind, any_order))
        .collect();
    let (mut held, mut undecided, mut silent) = (0, 0, false);
    let mut reach = Reach::NotYet;
    for (row, property) in applicable.iter().enumerate() {
        let about_workers = kind == setup::Kind::LoadBalancer && property.applies.about_workers();
        if about_workers && reach == Reach::Unreached {
            say_unreached(property);
            continue;
        }
        let unreached = if about_workers && reach == Reach::NotYet {
            let checked = system.reaches_the_workers();
            reach = match checked {
                Ok(()) => Reach::Reached,
                Err(_) => Reach::Unreached,
            };
            checked.err()
        } else {
            None
        };
        let prepared = match unreached {
            Some(_) => Ok(()),
            None => system.prepare(),
        };
        if row == 0 && kind == setup::Kind::LoadBalancer && prepared.is_err() {
            // Nothing was checked: say that, not that the first property failed.
            let why = prepared.err().unwrap_or_default();
            for line in why.lines() {
                say!("{}", printable::printable(line));
            }
            say!("No property was checked: what is under check did not start.");
            return false;
        }
        let started = prepared.is_ok();
        let is_unreached = unreached.is_some();
        let mut verdict = match unreached {
            Some(evidence) => Err(evidence),
            None => prepared
                .map_err(Evidence::from)
                .and_then(|()| (property.check)(&mut system)),
        };
        // A load balancer that died during this property fails it, whatever came back.
        let died = started && system.balancer_has_exited();
        if died {
            let mut evidence = verdict.err().unwrap_or_default();
            evidence.notes.push(evidence::Note::in_words(
                "the load balancer exited during this check",
            ));
            evidence.undecided = false;
            verdict = Err(evidence);
        }
        // A worker under check starts afresh for each row; a load balancer or a service does not.
        let stopped = system.stopped.is_some() && kind != setup::Kind::Worker;
        match verdict {
            Ok(()) => {
                held += 1;
                say!("  pass  {}", property.claim);
            }
            Err(evidence) => {
                if evidence.undecided {
                    undecided += 1;
                    say!("  skip  {}", property.claim);
                } else {
                    say!("  FAIL  {}", property.claim);
                    let first = if is_unreached && !died {
                        reach::NEEDS.to_string()
                    } else {
                        system.first_line(property, &evidence)
                    };
                    say!("          {first}");
                }
                for line in system.evidence_lines(&evidence) {
                    say!("          {}", printable::printable(&line));
                }
            }
        }
        silent |= system.workers_answered_in_silence();
        system.stopped = None;
        if !started || died || stopped {
            say!("It did not start, or it stopped: the properties after this one are not checked.");
            // Each named, so that none reads as failed for a cause of its own.
            for later in &applicable[row + 1..] {
                say!("  ----  {} (not checked)", later.claim);
            }
            break;
        }
    }
    let total = applicable.len();
    say!("{held} of {total} properties hold.");
    if undecided > 0 {
        say!("{undecided} of them could not be checked (skip): see why above.");
    }
    if silent {
        say!(
            "Note: the workers answered, but printed nothing: {}.",
            card::FLUSH_HINT
        );
    }
    held == total
}

/// Whether the requests of a load balancer under check reach the workers in worker_ports.txt,
/// as found before the first row about workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Not found yet: no row about workers has come.
    NotYet,
    /// They do, or it could not be told: the rows about workers are checked.
    Reached,
    /// They do not: every row about workers fails.
    Unreached,
}

/// A row about workers after the first found that the requests do not reach them: it fails
/// for the same reason, said once above.
fn say_unreached(property: &properties::Property) {
    say!("  FAIL  {}", property.claim);
    say!("          {}", reach::NEEDS);
    say!(
        "          not checked further: the requests do not reach the workers in \
         worker_ports.txt (see the first row about workers, above)"
    );
}

/// Whether the check starts one of our programs, which may need building first.
fn uses_ours(target: &Target) -> bool {
    matches!(
        target,
        Target::LoadBalancer {
            workers: Program::Ours(_),
            ..
        }
    )
}

/// The report card's first line: what is under check.
fn describe(target: &Target) -> String {
    match target {
        Target::Worker(program) => format!("a worker, {}", program.describe()),
        Target::LoadBalancer {
            balancer, workers, ..
        } => format!(
            "a load balancer, {}, with three workers behind it, {}",
            balancer.describe(),
            workers.describe()
        ),
        Target::Address(addr) => format!("the service at {addr}"),
    }
}

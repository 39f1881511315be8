//! What `lab check` checks, started as the lab starts it: the workers first, in a scratch folder
//! where they append their ports to worker_ports.txt, then the load balancer in the same folder.
//! The properties ask it through [`System`]: where to send requests, and the workers to stop,
//! freeze, add, or ask who served a request.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::registry::parse_registry;

use crate::lab::{Lab, port_at_end};
use crate::process::{Line, Running};

/// How long a program may take to start (to register, or to print that it listens). Python
/// needs a few tens of milliseconds; ten seconds marks one that never will.
const START_PATIENCE: Duration = Duration::from_secs(10);

/// How long to wait, after a worker registers, for it to print that it listens (the Python
/// worker registers before it listens). A worker that prints no such line is used anyway.
const LISTEN_GRACE: Duration = Duration::from_secs(2);

/// How often a file or a process's output is looked at again while waiting for it: often
/// enough that waiting adds nothing a person notices, rarely enough to cost no CPU.
const POLL: Duration = Duration::from_millis(10);

/// How many workers a load balancer under check has behind it, as in the lab's write-up.
pub const WORKERS_BEHIND: usize = 3;

/// How long to wait for a process's last lines when it fails a property: until it has been
/// quiet for [`QUIET`] (a traceback comes in one burst), and no longer than this.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// A pause in a process's output long enough to take it as finished for now.
const QUIET: Duration = Duration::from_millis(100);

/// How many of its last lines each process shows in the evidence for a failed property:
/// enough for a Python traceback's last frame and its error line.
const EVIDENCE_LINES: usize = 4;

/// How many of its last lines a program that failed to start shows: a whole short traceback
/// (a SyntaxError shows the line and a caret).
const START_EVIDENCE_LINES: usize = 8;

/// A program to start: one of the lab's own, or a command given by the user.
#[derive(Debug, Clone)]
pub enum Program {
    /// Our worker or load balancer, built beside this program.
    Ours(&'static str),
    /// The user's command, split at spaces; words naming files are already absolute paths.
    Command(Vec<String>),
}

impl Program {
    /// A user's command, split at spaces. It runs in a scratch folder, so each word that names
    /// a file here (`worker_server.py`) or a relative path (`target/release/worker`, which may
    /// be built only after this) is made absolute first; a bare name such as `load_balancer`
    /// is left for PATH, even where a folder of that name is here.
    pub fn from_command_line(line: &str) -> Option<Program> {
        let here = std::env::current_dir().ok();
        let words: Vec<String> = line
            .split_whitespace()
            .map(|word| match &here {
                Some(here) if names_a_path(word) => here.join(word).display().to_string(),
                _ => word.to_string(),
            })
            .collect();
        (!words.is_empty()).then_some(Program::Command(words))
    }

    /// How the report names it.
    pub fn describe(&self) -> String {
        match self {
            Program::Ours(name) => format!("ours ({name})"),
            Program::Command(words) => format!("`{}`", words.join(" ")),
        }
    }

    /// The command to start it with, in the lab's scratch folder.
    fn command(&self, lab: &Lab) -> Result<Command, String> {
        let mut command = match self {
            Program::Ours(name) => lab.command(name).map_err(|e| e.to_string())?,
            Program::Command(words) => {
                let (program, args) = words.split_first().ok_or("an empty command")?;
                let mut command = Command::new(program);
                command.args(args).current_dir(lab.dir());
                command
            }
        };
        // Python buffers its printed lines when they go to a pipe; the evidence needs them now.
        command.env("PYTHONUNBUFFERED", "1");
        Ok(command)
    }
}

/// What is under check.
#[derive(Debug, Clone)]
pub enum Target {
    /// A worker: each property gets a fresh scratch folder and a fresh worker.
    Worker(Program),
    /// A load balancer, with workers behind it (fresh ones for each property). It is started
    /// once for the whole check: the Python one knows only port 65432, which a restart could
    /// find still held by connections it closed (TIME_WAIT).
    LoadBalancer {
        /// The load balancer's command.
        balancer: Program,
        /// The workers behind it.
        workers: Program,
    },
    /// A service that runs already: asked as it is, nothing started or stopped.
    Address(SocketAddr),
}

/// What a target is, for choosing which properties apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A worker given as a command.
    Worker,
    /// A load balancer given as a command.
    LoadBalancer,
    /// A running service given as an address.
    Address,
}

impl Target {
    /// Which kind of target this is.
    pub fn kind(&self) -> Kind {
        match self {
            Target::Worker(_) => Kind::Worker,
            Target::LoadBalancer { .. } => Kind::LoadBalancer,
            Target::Address(_) => Kind::Address,
        }
    }
}

/// A worker this check started, and where it listens.
pub struct Worker {
    /// Its process; its lines are kept, for who-served-what and for evidence.
    pub process: Running,
    /// The address it registered.
    pub addr: SocketAddr,
    /// The line it appended to worker_ports.txt.
    pub registry_line: String,
}

/// The implementation under check, as one property sees it.
pub struct System {
    target: Target,
    /// The load balancer's process, once started.
    balancer: Option<Running>,
    /// How many lines the load balancer had printed when the current property began: the
    /// evidence shows only its lines since.
    balancer_lines_before: usize,
    /// Why the load balancer is not running, once it failed to start or exited: nothing more
    /// can be checked.
    balancer_gone: Option<String>,
    /// Where requests go: the worker itself, the load balancer, or the given address.
    pub addr: Option<SocketAddr>,
    /// The workers started for the current property.
    pub workers: Vec<Worker>,
    /// The scratch folder; `None` for a running service. Last, so that it is removed after
    /// the processes running in it are stopped.
    lab: Option<Lab>,
}

impl System {
    /// Nothing started yet; [`System::prepare`] starts what each property needs.
    pub fn new(target: Target) -> System {
        let addr = match &target {
            Target::Address(addr) => Some(*addr),
            _ => None,
        };
        System {
            target,
            lab: None,
            balancer: None,
            balancer_lines_before: 0,
            balancer_gone: None,
            addr,
            workers: Vec::new(),
        }
    }

    /// A fresh start for the next property: for a worker, a new scratch folder and one new
    /// worker; for a load balancer, [`WORKERS_BEHIND`] new workers behind it (the old ones
    /// stopped and the registry emptied), and the load balancer itself the first time.
    pub fn prepare(&mut self) -> Result<(), String> {
        match self.target.clone() {
            Target::Address(_) => Ok(()),
            Target::Worker(_) => {
                self.workers.clear(); // stops them: a Running is killed when dropped
                self.lab = Some(new_lab()?);
                self.add_worker()?;
                self.addr = Some(self.workers[0].addr);
                Ok(())
            }
            Target::LoadBalancer { balancer, .. } => {
                self.workers.clear();
                if self.lab.is_none() {
                    self.lab = Some(new_lab()?);
                }
                let registry = self.registry()?;
                std::fs::write(&registry, "")
                    .map_err(|e| format!("cannot empty {}: {e}", registry.display()))?;
                for _ in 0..WORKERS_BEHIND {
                    self.add_worker()?;
                }
                if self.balancer.is_none()
                    && let Err(why) = self.start_balancer(&balancer)
                {
                    self.balancer_gone = Some(format!("The load balancer did not start: {why}"));
                }
                self.balancer_still_runs()
            }
        }
    }

    /// Starts one more worker, as a student does in one more terminal, and waits until it has
    /// registered its port (and printed that it listens, if it does).
    pub fn add_worker(&mut self) -> Result<(), String> {
        let program = match &self.target {
            Target::Worker(program) => program.clone(),
            Target::LoadBalancer { workers, .. } => workers.clone(),
            Target::Address(_) => return Err("a running service has no workers to add".into()),
        };
        let registry = self.registry()?;
        let listed_before = registry_lines(&registry_text(&registry)?).len();
        let tag = format!("worker {}", self.workers.len() + 1);
        let lab = self.lab()?;
        let mut process = lab
            .start(&tag, program.command(lab)?)
            .map_err(|e| e.to_string())?;
        let line = wait_for_registration(&registry, listed_before, &mut process)?;
        let addr = resolve(&line)
            .ok_or_else(|| format!("{tag} registered {line:?}, which names no address"))?;
        // The Python worker registers before it listens; its "listening" line says when.
        let _ = process.wait_for("listening", LISTEN_GRACE);
        self.workers.push(Worker {
            process,
            addr,
            registry_line: line,
        });
        Ok(())
    }

    /// Which worker printed that it received `n` (the lab's `Worker received number: N`), by
    /// index; waits for the line, as a worker may print it just after answering.
    pub fn served_by(&mut self, n: u64) -> Result<usize, String> {
        let line = format!("received number: {n}");
        let deadline = Instant::now() + START_PATIENCE;
        while Instant::now() < deadline {
            for (index, worker) in self.workers.iter_mut().enumerate() {
                if worker
                    .process
                    .drain()
                    .iter()
                    .any(|l| l.text.ends_with(&line))
                {
                    return Ok(index);
                }
            }
            std::thread::sleep(POLL);
        }
        Err(format!(
            "no worker printed \"Worker received number: {n}\" (worker_server.py line 49), \
             which is how the checker tells which worker served a request"
        ))
    }

    /// The last lines each started process printed, for the evidence of a failed property.
    pub fn recent_output(&mut self) -> Vec<String> {
        let mut evidence = Vec::new();
        let mut processes: Vec<(&mut Running, usize)> = Vec::new();
        if let Some(balancer) = self.balancer.as_mut() {
            processes.push((balancer, self.balancer_lines_before));
        }
        processes.extend(self.workers.iter_mut().map(|w| (&mut w.process, 0)));
        for (process, lines_before) in processes {
            let tag = process.tag.clone();
            // Drained first: a program that is dying prints its last words, then exits.
            process.drain_when_quiet(QUIET, LAST_WORDS);
            let exited = if process.has_exited() {
                " has exited;"
            } else {
                ""
            };
            let lines = process.seen.get(lines_before..).unwrap_or_default();
            if lines.is_empty() {
                evidence.push(format!("{tag}{exited} printed nothing"));
                continue;
            }
            evidence.push(format!("{tag}{exited} printed, last:"));
            evidence.extend(last_lines(lines, EVIDENCE_LINES));
        }
        evidence
    }

    /// True when the load balancer under check has exited (it may die on a bad request).
    pub fn balancer_has_exited(&mut self) -> bool {
        self.balancer.as_mut().is_some_and(Running::has_exited)
    }

    /// Where requests go.
    pub fn address(&self) -> Result<SocketAddr, String> {
        self.addr
            .ok_or_else(|| "nothing to ask: it did not start".to_string())
    }

    fn start_balancer(&mut self, program: &Program) -> Result<(), String> {
        let lab = self.lab()?;
        let mut process = lab
            .start("load balancer", program.command(lab)?)
            .map_err(|e| e.to_string())?;
        let line = process.wait_for("listening on", START_PATIENCE);
        let line = line.map_err(|e| with_hint(&e.to_string()))?;
        let port =
            port_at_end(&line).ok_or_else(|| format!("no port at the end of its line {line:?}"))?;
        self.addr = Some(SocketAddr::from(([127, 0, 0, 1], port)));
        self.balancer = Some(process);
        Ok(())
    }

    /// A load balancer that did not start, or died (on a bad request, say), fails the property
    /// at hand, and the check stops there.
    fn balancer_still_runs(&mut self) -> Result<(), String> {
        if let Some(balancer) = self.balancer.as_mut() {
            if balancer.has_exited() && self.balancer_gone.is_none() {
                self.balancer_gone = Some("The load balancer has exited.".to_string());
            }
            self.balancer_lines_before = balancer.drain().len();
        }
        match &self.balancer_gone {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }

    fn lab(&self) -> Result<&Lab, String> {
        self.lab
            .as_ref()
            .ok_or_else(|| "no scratch folder".to_string())
    }

    fn registry(&self) -> Result<PathBuf, String> {
        Ok(self.lab()?.registry())
    }
}

/// Whether a command's word names a path: a file that exists here, or a relative path.
fn names_a_path(word: &str) -> bool {
    let path = Path::new(word);
    let flag = word.starts_with('-'); // `--registry=data/x` is an option, not a path
    !flag && (path.is_file() || (path.is_relative() && word.contains('/')))
}

/// A fresh scratch folder.
fn new_lab() -> Result<Lab, String> {
    Lab::new("check").map_err(|e| e.to_string())
}

/// The registry's text; a missing file is an empty registry (no worker has started yet).
fn registry_text(registry: &Path) -> Result<String, String> {
    match std::fs::read_to_string(registry) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        read => read.map_err(|e| format!("cannot read {}: {e}", registry.display())),
    }
}

/// The lines of a registry's text that are not blank.
fn registry_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Waits for a worker's line in the registry: the one after the `listed_before` already there.
fn wait_for_registration(
    registry: &Path,
    listed_before: usize,
    process: &mut Running,
) -> Result<String, String> {
    let deadline = Instant::now() + START_PATIENCE;
    while Instant::now() < deadline {
        // Only a whole line counts: a worker may still be writing it.
        let text = registry_text(registry)?;
        if text.ends_with('\n')
            && let Some(line) = registry_lines(&text).get(listed_before)
        {
            return Ok(line.clone());
        }
        if process.has_exited() {
            let tag = process.tag.clone();
            return Err(format!(
                "{tag} exited without registering a port in worker_ports.txt{}",
                last_words(process)
            ));
        }
        std::thread::sleep(POLL);
    }
    let text = registry_text(registry)?;
    let unfinished = match registry_lines(&text).get(listed_before) {
        Some(line) => format!(
            " (it wrote {line:?} with no newline at its end, so the next worker's line would \
             run into it)"
        ),
        None => String::new(),
    };
    let tag = process.tag.clone();
    Err(format!(
        "{tag} wrote no line to worker_ports.txt in its folder within {} s{unfinished}{}",
        START_PATIENCE.as_secs(),
        last_words(process)
    ))
}

/// The address a registry line names (`41234`, or `HOST:PORT`), as the load balancer reads it.
fn resolve(line: &str) -> Option<SocketAddr> {
    let worker = parse_registry(line).workers.into_iter().next()?;
    (worker.host.as_str(), worker.port)
        .to_socket_addrs()
        .ok()?
        .next()
}

/// A hint for the commonest reason a load balancer cannot start in a lab room.
fn with_hint(failure: &str) -> String {
    if failure.contains("Address already in use") {
        format!(
            "{failure}\n(Its port is taken, or held for up to a minute by connections an \
             earlier load balancer closed (TIME_WAIT): wait a minute and run the check again.)"
        )
    } else {
        failure.to_string()
    }
}

/// The last `count` of `lines`, indented, escaped and shortened for a report card.
fn last_lines(lines: &[Line], count: usize) -> Vec<String> {
    let from = lines.len().saturating_sub(count);
    lines[from..]
        .iter()
        .map(|line| format!("  {}", shorten_line(&printable(&line.text))))
        .collect()
}

/// What a failing program printed last, for the evidence of a start that failed: a
/// traceback's last lines say why.
fn last_words(process: &mut Running) -> String {
    let lines = process.drain_when_quiet(QUIET, LAST_WORDS);
    if lines.is_empty() {
        return "; it printed nothing".to_string();
    }
    let mut said = String::from("; it printed, last:");
    for line in last_lines(lines, START_EVIDENCE_LINES) {
        said.push('\n');
        said.push_str(&line);
    }
    said
}

/// A line as the report card shows it: control characters escaped (`\u{1b}`), so that a
/// program cannot move the cursor and draw a `pass` over its own `FAIL`, and the marks that
/// reverse the direction of text too, which could make a row read backwards.
pub fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            let reorders = matches!(c, '\u{200e}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if (c.is_control() && c != '\t') || reorders {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A printed line, cut to a readable length (a worker may print every digit of 1500!).
fn shorten_line(line: &str) -> String {
    /// Enough for any of the lab's lines with a short number in it.
    const LONGEST: usize = 160;
    match line.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}... ({} bytes)", &line[..cut], line.len()),
        None => line.to_string(),
    }
}

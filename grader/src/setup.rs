//! What `lab check` checks, started as the lab starts it: the workers first, in a scratch folder
//! where they append their ports to worker_ports.txt, then the load balancer in the same folder.
//! The properties ask it through [`System`] (see also `watch.rs`): where to send requests, and
//! the workers to stop, freeze, add, or ask who served a request.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::registry::parse_registry;

use super::diagnose::Silence;
use super::evidence::Note;
use super::start::{
    missing_files, wait_for_listener, wait_for_listening_line, wait_for_registration,
    wait_until_listening,
};
use super::timeline::{Progress, Watched};
use harness::lab::{Lab, listens};

/// How often a file or a process's output is looked at again while waiting for it: often
/// enough that waiting adds nothing a person notices, rarely enough to cost no CPU.
pub const POLL: Duration = Duration::from_millis(10);

/// How many workers a load balancer under check has behind it, as in the lab's write-up.
pub const WORKERS_BEHIND: usize = 3;

/// How long to wait for a process's last lines when it fails a property: until it has been
/// quiet for [`QUIET`] (a traceback comes in one burst), and no longer than this.
pub const LAST_WORDS: Duration = Duration::from_secs(1);

/// A pause in a process's output long enough to take it as finished for now.
pub const QUIET: Duration = Duration::from_millis(100);

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
        /// Where it listens, when given (`--address`): then no line of its own need say so.
        address: Option<SocketAddr>,
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
    /// Its process; its lines are kept, with when each was seen.
    pub process: Watched,
    /// The address it registered.
    pub addr: SocketAddr,
    /// The line it appended to worker_ports.txt.
    pub registry_line: String,
}

/// The implementation under check, as one property sees it.
pub struct System {
    pub(super) target: Target,
    /// The load balancer's process, once started.
    pub(super) balancer: Option<Watched>,
    /// Why the load balancer is not running, once it failed to start or exited: nothing more
    /// can be checked.
    balancer_gone: Option<String>,
    /// Where requests go: the worker itself, the load balancer, or the given address.
    pub addr: Option<SocketAddr>,
    /// The workers started for the current property.
    pub workers: Vec<Worker>,
    /// When the current property began: the report card's times count from here.
    pub(super) row_started: Instant,
    /// Whether something answered during the current property (for saying that a worker
    /// printed nothing though it answered).
    pub(super) answered: bool,
    /// The last request that reached the server, for saying when it stopped.
    pub(super) last_reached: Option<String>,
    /// Set when a server that accepted connections earlier no longer does: what to say.
    pub(super) stopped: Option<String>,
    /// What the checker did to the processes during the current property (killed or froze a
    /// worker), for the evidence.
    pub(super) events: Vec<Note>,
    /// The load balancer chooses workers in some other way than in turn (`--any-order`).
    pub any_order: bool,
    /// How long any answer may take (`--patience`, or [`super::ask::DEFAULT_PATIENCE`]).
    pub patience: Duration,
    /// What the current property says when it keeps the checker waiting.
    pub(super) progress: Progress,
    /// Whether the program has shown that it does not answer the lab's request as sent, and
    /// how: later requests then wait less (see `diagnose.rs`).
    pub(super) silence: Silence,
    /// How many connections the program under check accepted (since the worker under check
    /// started, or since the check began): one before it stopped listening is a server that
    /// accepts once.
    pub(super) connections: usize,
    /// Whether the first of those connections got no answer (closed, or failed): a crash,
    /// then, not a server that accepts once.
    pub(super) first_unanswered: bool,
    /// Whether the program under check has answered anything at all, in any row: one that has
    /// is not taken for one that answers nothing.
    pub(super) ever_answered: bool,
    /// The ports of workers the checker stopped in earlier rows: a load balancer that still
    /// asks them read worker_ports.txt once, at start (see `diagnose.rs`).
    pub(super) retired_ports: Vec<u16>,
    /// Whether a row's first line has said so already: the whole cause is said once.
    pub(super) said_reads_once: bool,
    /// The scratch folder; `None` for a running service. Last, so that it is removed after
    /// the processes running in it are stopped.
    lab: Option<Lab>,
}

impl System {
    /// Nothing started yet; [`System::prepare`] starts what each property needs.
    pub fn new(target: Target, any_order: bool, patience: Duration) -> System {
        let addr = match &target {
            Target::Address(addr) => Some(*addr),
            _ => None,
        };
        System {
            target,
            lab: None,
            balancer: None,
            balancer_gone: None,
            addr,
            workers: Vec::new(),
            row_started: Instant::now(),
            answered: false,
            last_reached: None,
            stopped: None,
            events: Vec::new(),
            any_order,
            patience,
            progress: Progress::new(),
            silence: Silence::None,
            connections: 0,
            first_unanswered: false,
            ever_answered: false,
            retired_ports: Vec::new(),
            said_reads_once: false,
        }
    }

    /// A fresh start for the next property: for a worker, a new scratch folder and one new
    /// worker; for a load balancer, [`WORKERS_BEHIND`] new workers behind it (the old ones
    /// stopped and the registry emptied), and the load balancer itself the first time.
    pub fn prepare(&mut self) -> Result<(), String> {
        self.row_started = Instant::now();
        self.progress = Progress::new();
        self.answered = false;
        self.events.clear();
        match self.target.clone() {
            Target::Address(_) => Ok(()),
            Target::Worker(_) => {
                self.workers.clear(); // stops them: a Running is killed when dropped
                self.last_reached = None;
                self.connections = 0;
                self.lab = Some(new_lab()?);
                self.add_worker()?;
                self.addr = Some(self.workers[0].addr);
                Ok(())
            }
            Target::LoadBalancer {
                balancer, address, ..
            } => {
                let retired = self.workers.iter().map(|w| w.addr.port());
                self.retired_ports.extend(retired);
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
                    && self.balancer_gone.is_none()
                    && let Err(why) = self.start_balancer(&balancer, address)
                {
                    self.balancer_gone = Some(format!("The load balancer did not start: {why}"));
                }
                self.balancer_still_runs()
            }
        }
    }

    /// Starts one more worker, as a student does in one more terminal, and waits until it has
    /// registered its port and listens there.
    pub fn add_worker(&mut self) -> Result<(), String> {
        let program = match &self.target {
            Target::Worker(program) => program.clone(),
            Target::LoadBalancer { workers, .. } => workers.clone(),
            Target::Address(_) => return Err("a running service has no workers to add".into()),
        };
        let registry = self.registry()?;
        let listed_before = registry_lines(&worker_ports_text(&registry)?).len();
        let tag = format!("worker {}", self.workers.len() + 1);
        let lab = self.lab()?;
        let process = lab
            .start(&tag, program.command(lab)?)
            .map_err(|e| e.to_string())?;
        let mut process = Watched::new(process);
        let progress = &mut self.progress;
        let line =
            wait_for_registration(&registry, listed_before, &mut process, &program, progress)?;
        let addr = resolve(&line)
            .ok_or_else(|| format!("{tag} registered {line:?}, which names no address"))?;
        // The Python worker registers before it listens (worker_server.py lines 25-29).
        wait_until_listening(addr, &mut process);
        self.workers.push(Worker {
            process,
            addr,
            registry_line: line,
        });
        Ok(())
    }

    /// What is under check.
    pub fn kind(&self) -> Kind {
        self.target.kind()
    }

    /// True when the load balancer under check has exited (it may die on a bad request).
    pub fn balancer_has_exited(&mut self) -> bool {
        self.balancer
            .as_mut()
            .is_some_and(|balancer| balancer.process.has_exited())
    }

    /// True once the server under check, reached before, no longer accepts connections: the
    /// rest of the row is not asked.
    pub fn has_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Where requests go.
    pub fn address(&self) -> Result<SocketAddr, String> {
        self.addr
            .ok_or_else(|| "nothing to ask: it did not start".to_string())
    }

    /// Starts the load balancer and learns where it listens: at `address` when given, or from
    /// its line ending in `listening on HOST:PORT` (the lab's, load_balancer.py line 72).
    fn start_balancer(
        &mut self,
        program: &Program,
        address: Option<SocketAddr>,
    ) -> Result<(), String> {
        if let Some(addr) = address
            && listens(addr.port()) == Some(true)
        {
            return Err(format!(
                "something listens at {addr} already, before the load balancer started: stop \
                 it first, or give --address where the load balancer will listen"
            ));
        }
        let lab = self.lab()?;
        let process = lab
            .start("load balancer", program.command(lab)?)
            .map_err(|e| e.to_string())?;
        let mut process = Watched::new(process);
        let progress = &mut self.progress;
        let addr = match address {
            Some(addr) => wait_for_listener(addr, &mut process, progress),
            None => wait_for_listening_line(&mut process, progress),
        };
        let addr = addr.map_err(|why| format!("{why}{}", missing_files(program)))?;
        self.addr = Some(addr);
        self.balancer = Some(process);
        Ok(())
    }

    /// A load balancer that did not start, or died (on a bad request, say), fails the property
    /// at hand, and the check stops there.
    fn balancer_still_runs(&mut self) -> Result<(), String> {
        if self.balancer_has_exited() && self.balancer_gone.is_none() {
            self.balancer_gone = Some("The load balancer has exited.".to_string());
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
pub(super) fn worker_ports_text(registry: &Path) -> Result<String, String> {
    match std::fs::read_to_string(registry) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        read => read.map_err(|e| format!("cannot read {}: {e}", registry.display())),
    }
}

/// The lines of a registry's text that are not blank.
pub(super) fn registry_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The address a registry line names (`41234`, or `HOST:PORT`), as the load balancer reads it.
fn resolve(line: &str) -> Option<SocketAddr> {
    let worker = parse_registry(line).workers.into_iter().next()?;
    (worker.host.as_str(), worker.port)
        .to_socket_addrs()
        .ok()?
        .next()
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
pub fn shorten_line(line: &str) -> String {
    /// Enough for any of the lab's lines with a short number in it.
    const LONGEST: usize = 160;
    match line.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}... ({} bytes)", &line[..cut], line.len()),
        None => line.to_string(),
    }
}

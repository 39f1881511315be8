//! What `lab check` checks, started as the lab starts it: the workers first, in a scratch folder
//! where they append their ports to worker_ports.txt, then the load balancer in the same folder.
//! The properties ask it through [`System`] (see also `watch.rs`): where to send requests, and
//! the workers to stop, freeze, add, or ask who served a request.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::registry::parse_registry;

use super::evidence::Note;
use super::program::Program;
use super::start::{
    missing_files, registry_lines, wait_for_listener, wait_for_listening_line,
    wait_for_registration, wait_until_listening, worker_ports_text,
};
use super::timeline::{Progress, Watched};
use harness::lab::{Lab, listens};

/// How many workers a load balancer under check has behind it, as in the lab's write-up.
pub const WORKERS_BEHIND: usize = 3;

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

/// What the program under check has shown, across rows, about answering the lab's request:
/// learned and used in `diagnose.rs`, kept here as a field of [`System`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    /// It answered, or nothing is known yet.
    None,
    /// It answered the same request with a newline at its end, and not without.
    WaitsForNewline,
    /// It answered neither.
    AnswersNothing,
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

/// A fresh scratch folder.
fn new_lab() -> Result<Lab, String> {
    Lab::new("check").map_err(|e| e.to_string())
}

/// The address a registry line names (`41234`, or `HOST:PORT`), as the load balancer reads it.
fn resolve(line: &str) -> Option<SocketAddr> {
    let worker = parse_registry(line).workers.into_iter().next()?;
    (worker.host.as_str(), worker.port)
        .to_socket_addrs()
        .ok()?
        .next()
}

//! Reading the registry file for the load balancer: what load_balancer.py's
//! `get_available_workers` does (lines 10–16), with the care a file edited by hand needs. The
//! format, the limits on what is read and when a read is read again are in
//! `common::registry`; here the odd lines are logged, each once.

use std::path::PathBuf;
use std::sync::Mutex;
use std::thread;

use common::error::in_words;
use common::log::SaidOnce;
use common::registry::{self, Registry, SettledTail, WorkerAddr};
use common::{lock, say};

/// The registry file, and what was already logged about it.
pub struct RegistryReader {
    /// Its path (`REGISTRATION_FILE`, load_balancer.py line 5, or `--registry`).
    path: PathBuf,
    /// The load balancer's own address. Listed in the registry by mistake, it would make each
    /// request go round through this load balancer until every place is taken.
    own_address: WorkerAddr,
    /// Lines skipped, and this load balancer's own address, each said once.
    skipped: SaidOnce,
    /// Why the file cannot be read, said once until a read works again.
    unreadable: SaidOnce,
    /// A last line without a newline already seen to stay the same, so a hand-written file
    /// makes only the first request wait [`registry::SETTLE`] to tell it from a line being
    /// written (a shared folder, several machines appending).
    settled: Mutex<SettledTail>,
}

impl RegistryReader {
    /// The registry at `path`, read by the load balancer listening at `own_address`; nothing
    /// is read until a request comes. Says which file it is, in full: ours only, since a load
    /// balancer started in another folder than the workers finds none, and should say where it
    /// looked.
    pub fn new(path: PathBuf, own_address: WorkerAddr) -> RegistryReader {
        let full = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        say!("Reading the workers from {}", full.display());
        RegistryReader {
            path,
            own_address,
            skipped: SaidOnce::default(),
            unreadable: SaidOnce::default(),
            settled: Mutex::new(SettledTail::default()),
        }
    }

    /// The workers the file lists, in file order, but this load balancer. A file that cannot
    /// be read lists none, and the client hears so instead of nothing (Python's handler
    /// thread crashes); the reason is logged once until a read works again.
    pub fn read_workers(&self) -> Vec<WorkerAddr> {
        // Not locked during the read: a pause must not hold up other requests' reads.
        let before = lock(&self.settled).clone();
        let mut settled = before.clone();
        let read = registry::read_registry_settled(&self.path, &mut settled, thread::sleep);
        if settled != before {
            *lock(&self.settled) = settled;
        }
        match read {
            Ok(registry) => {
                if registry.workers.is_empty() && !self.path.exists() {
                    self.unreadable.say(self.missing());
                } else {
                    self.unreadable.forget();
                }
                self.report_skipped_lines(&registry);
                let mut workers = registry.workers;
                workers.retain(|worker| !self.is_own_address(worker));
                workers
            }
            Err(e) => {
                let path = self.path.display();
                self.unreadable
                    .say(format!("Cannot read {path}: {}", in_words(&e)));
                Vec::new()
            }
        }
    }

    /// What to say when the registry does not exist: which file was looked for, in full,
    /// since the load balancer may run in another folder than the workers.
    fn missing(&self) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!(
            "{} does not exist: no worker registered in this folder (start the workers here, \
             or give --registry PATH)",
            path.display()
        )
    }

    /// True for a line that names this load balancer itself: its port, at its host or at a
    /// loopback name for it.
    fn is_own_address(&self, worker: &WorkerAddr) -> bool {
        let loopback = ["127.0.0.1", "localhost", "::1"];
        let own = worker.port == self.own_address.port
            && (worker.host == self.own_address.host || loopback.contains(&worker.host.as_str()));
        if own {
            self.skipped.say(format!(
                "Skipping {} in {}: this load balancer's own address",
                worker.registry_line(),
                self.path.display()
            ));
        }
        own
    }

    /// Logs each registry line that names no worker, once (Python's int() crashes on the
    /// first); past the few a read lists, one line counts the rest.
    fn report_skipped_lines(&self, registry: &Registry) {
        let path = self.path.display();
        for line in &registry.skipped {
            self.skipped.say(format!(
                "Skipping line {} of {path} ({:?}): {}",
                line.number, line.text, line.reason
            ));
        }
        if registry.more_skipped > 0 {
            self.skipped.say(format!(
                "Skipping {} more lines of {path} that name no worker",
                registry.more_skipped
            ));
        }
    }
}

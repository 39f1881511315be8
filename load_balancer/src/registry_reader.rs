//! Reading the registry file for the load balancer: what load_balancer.py's
//! `get_available_workers` does (lines 10–16), with the care a file edited by hand needs. The
//! format and the limits on what is read are in `common::registry`; here the reads are retried
//! and the odd lines logged.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::error::plain;
use common::registry::{self, Registry, SettledTail, SkippedLine, WorkerAddr};
use common::{lock, say};

/// How many times a read that finds no worker is read again. A registry rewritten in place
/// (truncated, then written) lists nobody for a moment: under load, 23% of requests met that
/// moment and were told there were no workers while two were healthy.
const RETRIES: u32 = 5;

/// The pause before each new read. A rewrite takes well under a millisecond unless its writer
/// is held up; 5 × 100 ms covers that widely, and a lab with truly no workers is told so within
/// half a second.
const PAUSE: Duration = Duration::from_millis(100);

/// How many reported lines are remembered. A registry edited again and again must not grow
/// memory without end: past this many the memory starts afresh, and a line still in the file
/// is logged once more, which costs far less.
const REMEMBERED: usize = 1000;

/// The registry file, and what was already logged about it.
pub struct RegistryReader {
    /// Its path (`REGISTRATION_FILE`, load_balancer.py line 5, or `--registry`).
    path: PathBuf,
    /// The load balancer's own address. Listed in the registry by mistake, it would make each
    /// request go round through this load balancer until every place is taken.
    own_address: WorkerAddr,
    /// Lines already reported as skipped, so each is logged once, not per request.
    reported: Mutex<HashSet<SkippedLine>>,
    /// Why the last read failed, so the same reason is logged once, not per request.
    last_error: Mutex<Option<String>>,
    /// Whether `last_error` holds a reason, so that a good read need not take its lock.
    error_said: AtomicBool,
    /// A last line without a newline already seen to stay the same, so a hand-written file
    /// makes only the first request wait [`registry::SETTLE`] to tell it from a line being
    /// written (a shared folder, several machines appending).
    settled: Mutex<SettledTail>,
}

impl RegistryReader {
    /// The registry at `path`, read by the load balancer listening at `own_address`; nothing
    /// is read until a request comes.
    pub fn new(path: PathBuf, own_address: WorkerAddr) -> RegistryReader {
        RegistryReader {
            path,
            own_address,
            reported: Mutex::new(HashSet::new()),
            last_error: Mutex::new(None),
            error_said: AtomicBool::new(false),
            settled: Mutex::new(SettledTail::default()),
        }
    }

    /// The workers the file lists, in file order. A file that cannot be read lists none, and
    /// the client hears so instead of nothing (Python's handler thread crashes); a read that
    /// finds none is read again a few times, since the file may be mid-rewrite.
    pub fn read_workers(&self) -> Vec<WorkerAddr> {
        let mut retries_left = RETRIES;
        loop {
            let Ok(workers) = self.read_once() else {
                return Vec::new();
            };
            if !workers.is_empty() || retries_left == 0 {
                return workers;
            }
            retries_left -= 1;
            thread::sleep(PAUSE);
        }
    }

    /// One read of the file: its workers but this load balancer, or `Err` when it cannot be
    /// read (the reason is logged, once until it changes).
    fn read_once(&self) -> Result<Vec<WorkerAddr>, ()> {
        // Not locked during the read: a pause must not hold up other requests' reads.
        let before = lock(&self.settled).clone();
        let mut settled = before.clone();
        let read = registry::read_registry_settled(&self.path, &mut settled, || {
            thread::sleep(registry::SETTLE)
        });
        if settled != before {
            *lock(&self.settled) = settled;
        }
        match read {
            Ok(registry) => {
                self.report_skipped_lines(&registry);
                if self.error_said.swap(false, Ordering::Relaxed) {
                    *lock(&self.last_error) = None;
                }
                let mut workers = registry.workers;
                workers.retain(|worker| !self.is_own_address(worker));
                Ok(workers)
            }
            Err(e) => {
                let reason = plain(&e);
                let mut last_error = lock(&self.last_error);
                if last_error.as_deref() != Some(reason.as_str()) {
                    say!("Cannot read {}: {reason}", self.path.display());
                    *last_error = Some(reason);
                    self.error_said.store(true, Ordering::Relaxed);
                }
                Err(())
            }
        }
    }

    /// True for a line that names this load balancer itself: its port, at its host or at a
    /// loopback name for it.
    fn is_own_address(&self, worker: &WorkerAddr) -> bool {
        let loopback = ["127.0.0.1", "localhost", "::1"];
        let own = worker.port == self.own_address.port
            && (worker.host == self.own_address.host || loopback.contains(&worker.host.as_str()));
        if own
            && lock(&self.reported).insert(SkippedLine {
                number: 0,
                text: worker.registry_line(),
                reason: "this load balancer's own address",
            })
        {
            say!(
                "Skipping {} in {}: this load balancer's own address",
                worker.registry_line(),
                self.path.display()
            );
        }
        own
    }

    /// Logs each registry line that names no worker, once (Python's int() crashes on the
    /// first); past the few a read lists, one line counts the rest.
    fn report_skipped_lines(&self, registry: &Registry) {
        let mut reported = lock(&self.reported);
        let mut logged_any = false;
        for line in &registry.skipped {
            if reported.len() >= REMEMBERED {
                reported.clear();
            }
            if reported.insert(line.clone()) {
                logged_any = true;
                say!(
                    "Skipping line {} of {} ({:?}): {}",
                    line.number,
                    self.path.display(),
                    line.text,
                    line.reason
                );
            }
        }
        // The count goes with the listed lines it follows, so it too is logged once.
        if logged_any && registry.more_skipped > 0 {
            say!(
                "Skipping {} more lines of {} that name no worker",
                registry.more_skipped,
                self.path.display()
            );
        }
    }
}

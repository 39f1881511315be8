//! Reading the registry file for the load balancer: what load_balancer.py's
//! `get_available_workers` does (lines 10–16), with the care a file edited by hand needs. The
//! format and the limits on what is read are in `common::registry`; here the reads are retried
//! and the odd lines logged.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use common::error::plain;
use common::registry::{self, Registry, SkippedLine, WorkerAddr};
use common::say;

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

/// The registry file, and the odd lines already logged.
pub struct RegistryFile {
    /// Its path (`REGISTRATION_FILE`, load_balancer.py line 5, or `--registry`).
    path: PathBuf,
    /// Lines already reported as skipped, so each is logged once, not per request.
    reported: Mutex<HashSet<SkippedLine>>,
}

impl RegistryFile {
    /// The registry at `path`; nothing is read until a request comes.
    pub fn new(path: PathBuf) -> RegistryFile {
        RegistryFile {
            path,
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// The workers the file lists, in file order. A file that cannot be read lists none, and
    /// the client hears so instead of nothing (Python's handler thread crashes); a read that
    /// finds none is read again a few times, since the file may be mid-rewrite.
    pub fn read_workers(&self) -> Vec<WorkerAddr> {
        let mut retries_left = RETRIES;
        loop {
            let workers = match registry::read_registry(&self.path) {
                Ok(registry) => {
                    self.report_skipped_lines(&registry);
                    registry.workers
                }
                Err(e) => {
                    say!("Cannot read {}: {}", self.path.display(), plain(&e));
                    return Vec::new();
                }
            };
            if !workers.is_empty() || retries_left == 0 {
                return workers;
            }
            retries_left -= 1;
            thread::sleep(PAUSE);
        }
    }

    /// Logs each registry line that names no worker, once (Python's int() crashes on the
    /// first); past the few a read lists, one line counts the rest.
    fn report_skipped_lines(&self, registry: &Registry) {
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
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

//! Each connection is served start to finish by a thread of its own, as in the Python
//! (`threading.Thread(...).start()` in load_balancer.py lines 80–82). With `--threads reuse`
//! (the default) a thread that has finished its connection takes the next one instead of
//! exiting; `--threads spawn` starts a new thread every time, as the Python does.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

/// How long a finished thread waits for another connection before it exits, so the pool
/// shrinks back after a burst. Like Java's cached thread pool: a minute is long enough to carry
/// a thread across the gaps in steady traffic, and an idle thread costs only its stack.
const IDLE_THREAD_LIFETIME: Duration = Duration::from_secs(60);

/// Whether a finished connection's thread exits or waits for the next connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadMode {
    /// A new OS thread for every connection, which exits when the connection ends: exactly
    /// `threading.Thread(...).start()`. Simple, but creating a thread costs tens of
    /// microseconds of CPU, which caps a busy load balancer (docs/benchmarks.md).
    Spawn,
    /// A thread that finished its connection takes the next one; new threads are started only
    /// when every existing one is busy. Each connection still has one thread from start to end.
    Reuse,
}

impl FromStr for ThreadMode {
    type Err = String;

    fn from_str(text: &str) -> Result<ThreadMode, String> {
        match text {
            "spawn" => Ok(ThreadMode::Spawn),
            "reuse" => Ok(ThreadMode::Reuse),
            _ => Err("expected spawn or reuse".to_string()),
        }
    }
}

impl fmt::Display for ThreadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThreadMode::Spawn => "spawn",
            ThreadMode::Reuse => "reuse",
        })
    }
}

/// The work of serving one connection.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs each connection's handler on a thread of its own (see [`ThreadMode`]).
pub struct Threads {
    mode: ThreadMode,
    /// With `Reuse`: connections waiting for a finished thread, and how many threads wait.
    waiting: Arc<(Mutex<Waiting>, Condvar)>,
}

/// Connections handed over and not yet taken, and the threads idle at the moment.
#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Job>,
    idle_threads: usize,
}

/// Locks the waiting list. Its two fields change together under the lock and no code panics
/// while holding it, so a poisoned lock is used as it is.
fn lock(waiting: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Threads {
    /// No threads yet; they are started as connections arrive.
    pub fn new(mode: ThreadMode) -> Threads {
        Threads {
            mode,
            waiting: Arc::new((Mutex::new(Waiting::default()), Condvar::new())),
        }
    }

    /// Runs `handler` on a thread of its own: an idle one if there is one (`Reuse`), else a
    /// new one. Fails only when the OS cannot start a thread; the handler (and with it the
    /// connection) is then dropped.
    pub fn start(&self, handler: impl FnOnce() + Send + 'static) -> io::Result<()> {
        if self.mode == ThreadMode::Reuse {
            let (waiting, wake) = &*self.waiting;
            let mut state = lock(waiting);
            // Each queued job is taken by one idle thread; only hand over if one is left.
            if state.idle_threads > state.jobs.len() {
                state.jobs.push_back(Box::new(handler));
                wake.notify_one();
                return Ok(());
            }
        }
        let waiting = Arc::clone(&self.waiting);
        let mode = self.mode;
        thread::Builder::new().spawn(move || {
            handler();
            if mode == ThreadMode::Reuse {
                serve_until_idle(&waiting);
            }
        })?;
        Ok(())
    }
}

/// A finished thread's life: take the next handed-over connection, serve it, repeat; exit
/// after waiting [`IDLE_THREAD_LIFETIME`] for one.
fn serve_until_idle(waiting: &(Mutex<Waiting>, Condvar)) {
    let (waiting, wake) = waiting;
    loop {
        let mut state = lock(waiting);
        state.idle_threads += 1;
        let mut timed_out = false;
        let job = loop {
            if let Some(job) = state.jobs.pop_front() {
                break Some(job);
            }
            if timed_out {
                break None;
            }
            let (next, wait) = wake
                .wait_timeout(state, IDLE_THREAD_LIFETIME)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            timed_out = wait.timed_out();
        };
        state.idle_threads -= 1;
        drop(state);
        match job {
            Some(job) => job(),
            None => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::mpsc;

    /// Runs `count` jobs one after another, each started after the previous one finished, and
    /// returns how many distinct threads ran them.
    fn threads_used(mode: ThreadMode, count: usize) -> usize {
        let threads = Threads::new(mode);
        let (done, finished) = mpsc::channel();
        let mut ids = HashSet::new();
        for _ in 0..count {
            let done = done.clone();
            threads
                .start(move || done.send(thread::current().id()).unwrap())
                .unwrap();
            ids.insert(finished.recv().unwrap());
            // A finished thread counts itself idle just after its job; wait until it has.
            while mode == ThreadMode::Reuse && lock(&threads.waiting.0).idle_threads == 0 {
                thread::yield_now();
            }
        }
        ids.len()
    }

    /// `spawn` starts a thread per connection; `reuse` serves one after another on the same
    /// thread when they do not overlap.
    #[test]
    fn reuse_takes_the_next_connection_on_a_finished_thread() {
        assert_eq!(threads_used(ThreadMode::Spawn, 5), 5);
        assert_eq!(threads_used(ThreadMode::Reuse, 5), 1);
    }

    /// Connections that overlap each get a thread of their own, in both modes.
    #[test]
    fn overlapping_connections_get_their_own_threads() {
        for mode in [ThreadMode::Spawn, ThreadMode::Reuse] {
            let threads = Threads::new(mode);
            let gate = Arc::new(std::sync::Barrier::new(4));
            let (done, finished) = mpsc::channel();
            for _ in 0..4 {
                let (gate, done) = (Arc::clone(&gate), done.clone());
                threads
                    .start(move || {
                        gate.wait(); // all four must be running at once to pass
                        done.send(thread::current().id()).unwrap();
                    })
                    .unwrap();
            }
            let ids: HashSet<_> = (0..4).map(|_| finished.recv().unwrap()).collect();
            assert_eq!(ids.len(), 4, "{mode}");
        }
    }

    /// The modes parse from the flag's words.
    #[test]
    fn parses_the_flag() {
        assert_eq!("spawn".parse(), Ok(ThreadMode::Spawn));
        assert_eq!("reuse".parse(), Ok(ThreadMode::Reuse));
        assert!("pool".parse::<ThreadMode>().is_err());
    }
}

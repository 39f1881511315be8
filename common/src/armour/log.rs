//! Log lines that never stop or slow serving: [`say!`](crate::say) is the servers' `println!`.
//!
//! The Python programs `print` from every handler thread. In Rust, `println!` panics when
//! standard output cannot be written (`load_balancer | head -n 1`, a terminal that went away,
//! a full disk), and it blocks every thread on the stdout lock when nobody reads the pipe: a
//! load balancer piped into a program that stopped reading stopped answering anyone after a
//! few hundred requests. Here a request thread only hands its line to a bounded queue and
//! goes on; one log thread writes the lines out. When the queue is full, the line is dropped
//! and counted, and the log thread reports the count once it can write again. A failed write
//! is said once on stderr, and later lines are dropped quietly.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::Duration;

/// Lines that may wait for the log thread. At about 60 bytes a line this is a quarter of a
/// megabyte at most, and thousands of requests' worth of lines: a terminal that is merely slow
/// loses nothing; only output that has stopped moving loses lines.
const QUEUED_LINES: usize = 4096;

/// How long the log thread pauses after a busy write, so that lines gather into batches: a
/// busy server says thousands of lines a second, and waking a thread and writing for each one
/// costs more than serving the request did. A person cannot see 5 ms of delay in a log line.
const BATCH_PAUSE: Duration = Duration::from_millis(5);

/// A write of at least this many lines counts as busy, and is followed by [`BATCH_PAUSE`]. A
/// lab at a person's pace writes a line or two at a time, each at once and in order.
const BUSY_BATCH: usize = 4;

/// How long [`flush`] waits for the queued lines to be written before a program exits: long
/// enough for any terminal, short enough that a blocked pipe does not hold the exit up.
const FLUSH_PATIENCE: Duration = Duration::from_secs(1);

/// What the log thread is handed.
enum Message {
    /// One line, without its newline.
    Line(String),
    /// Write everything queued before this, then say so on the channel.
    Flush(SyncSender<()>),
}

/// The queue into the log thread, and the count of lines dropped because it was full.
struct Log {
    queue: SyncSender<Message>,
    dropped: AtomicUsize,
}

/// Started by the first line; lives as long as the process.
static LOG: OnceLock<Log> = OnceLock::new();

/// Prints a line the way `println!` does, without ever blocking or panicking; see the module
/// comment for what happens when standard output cannot keep up.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::armour::log::say(format!($($arg)*))
    };
}

/// Queues `line` for standard output; [`say!`](crate::say) is the usual way to call it.
pub fn say(line: String) {
    let log = LOG.get_or_init(start);
    match log.queue.try_send(Message::Line(line)) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            log.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How many lines a [`SaidOnce`] remembers. A registry edited again and again must not grow
/// memory without end: past this many the memory starts afresh, and a line still true is said
/// once more, which costs far less.
const REMEMBERED: usize = 1000;

/// Lines said once each rather than on every request: a registry line that names no worker,
/// the reason a file cannot be read.
#[derive(Debug, Default)]
pub struct SaidOnce {
    said: Mutex<HashSet<String>>,
    /// Whether anything is remembered, so that [`SaidOnce::forget`] on the usual path takes
    /// no lock.
    any: AtomicBool,
}

impl SaidOnce {
    /// Says `line` (as [`say!`](crate::say) does) unless it was said already.
    pub fn say(&self, line: String) {
        let mut said = crate::armour::lock(&self.said);
        if said.len() >= REMEMBERED {
            said.clear();
        }
        if !said.contains(&line) {
            said.insert(line.clone());
            self.any.store(true, Ordering::Relaxed);
            say(line);
        }
    }

    /// Forgets every line said, so each may be said again: what it reported is over.
    pub fn forget(&self) {
        if self.any.swap(false, Ordering::Relaxed) {
            crate::armour::lock(&self.said).clear();
        }
    }
}

/// Waits (briefly, see [`FLUSH_PATIENCE`]) until every line said so far is written: for a
/// program about to exit, whose queued lines would otherwise be lost.
pub fn flush() {
    let Some(log) = LOG.get() else {
        return; // nothing was ever said
    };
    let (done, written) = mpsc::sync_channel(1);
    if log.queue.try_send(Message::Flush(done)).is_ok() {
        let _ = written.recv_timeout(FLUSH_PATIENCE);
    }
}

/// Creates the queue and its log thread. If the OS cannot start a thread, the queue's
/// receiver is dropped with it and every line counts as dropped: serving matters more.
fn start() -> Log {
    let (queue, lines) = mpsc::sync_channel(QUEUED_LINES);
    let spawned = thread::Builder::new()
        .name("log".to_string())
        .spawn(move || write_lines(&lines));
    if spawned.is_err() {
        let _ = writeln!(
            io::stderr(),
            "cannot start the log thread; log lines are dropped"
        );
    }
    Log {
        queue,
        dropped: AtomicUsize::new(0),
    }
}

/// The log thread: writes each batch of queued lines with one write, reports lines dropped
/// meanwhile, and says once on stderr when standard output fails.
fn write_lines(lines: &Receiver<Message>) {
    let mut failed = false;
    let mut batch = String::new();
    while let Ok(first) = lines.recv() {
        let mut acks = Vec::new();
        let mut next = Some(first);
        // Take what is queued right now, so a burst costs one write, not one per line.
        let mut lines_in_batch = 0;
        while let Some(message) = next {
            match message {
                Message::Line(line) => {
                    batch.push_str(&line);
                    batch.push('\n');
                    lines_in_batch += 1;
                }
                Message::Flush(ack) => acks.push(ack),
            }
            next = lines.try_recv().ok();
        }
        let dropped = LOG
            .get()
            .map_or(0, |log| log.dropped.swap(0, Ordering::Relaxed));
        if dropped > 0 {
            batch.push_str(&format!(
                "({dropped} log lines dropped: standard output was not keeping up)\n"
            ));
        }
        let mut stdout = io::stdout().lock();
        let written = stdout
            .write_all(batch.as_bytes())
            .and_then(|()| stdout.flush());
        drop(stdout);
        if let Err(e) = written {
            if !failed {
                failed = true;
                let _ = writeln!(
                    io::stderr(),
                    "cannot write to standard output ({e}); log lines are dropped from now on"
                );
            }
        }
        batch.clear();
        let flushing = !acks.is_empty();
        for ack in acks {
            let _ = ack.try_send(());
        }
        if lines_in_batch >= BUSY_BATCH && !flushing {
            thread::sleep(BATCH_PAUSE);
        }
    }
}

/// Writes a line to standard error at once, for failures of the server itself (an accept that
/// fails, a thread that cannot start). Unlike `eprintln!` it never panics: when even stderr
/// cannot be written, nothing is left to tell.
pub fn warn(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

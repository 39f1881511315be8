//! A step that takes long says so, once it has taken longer than a couple of seconds, as
//! cargo does: a quick step prints nothing, and a long one is never silent. For the demo's
//! build and the long tests of docs/lab-guide.md.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a step may run before it is said: quick steps (an up-to-date build, most tests)
/// stay silent, and nobody waits more than this without knowing why.
pub const SLOW: Duration = Duration::from_secs(2);

/// A step in progress. Dropping it ends the step; its line, if it was said, stays.
pub struct Step {
    /// Tells the waiting thread that the step is over (by being dropped).
    done: Option<Sender<()>>,
    /// The thread that says the line once [`SLOW`] has passed.
    waiting: Option<JoinHandle<()>>,
}

/// Starts a step that writes `line` on stderr if it is still going after [`SLOW`]. Written to
/// stderr directly, so that it shows from within a test too (the harness captures only what a
/// test prints with `print!` and `eprint!`).
pub fn say_if_slow(line: impl Into<String>) -> Step {
    say_after(SLOW, line.into(), std::io::stderr())
}

/// Starts a step that writes `line` and a newline to `out` if it is still going after `after`.
pub fn say_after(after: Duration, line: String, mut out: impl Write + Send + 'static) -> Step {
    let (done, over) = mpsc::channel::<()>();
    let waiting = thread::spawn(move || {
        // Nothing is ever sent: the step ends when `done` is dropped.
        if over.recv_timeout(after) == Err(RecvTimeoutError::Timeout) {
            let _ = writeln!(out, "{line}");
        }
    });
    Step {
        done: Some(done),
        waiting: Some(waiting),
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(waiting) = self.waiting.take() {
            // Waits for the line, if it is being written, so that nothing follows it half-way.
            let _ = waiting.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test reports a failure by panicking

    use super::say_after;
    use std::io::Write;
    use std::sync::mpsc::{self, Sender};
    use std::time::Duration;

    /// Sends what is written to it, for a test to read.
    struct Lines(Sender<Vec<u8>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A step still going when its time is up says its line, once.
    #[test]
    fn a_slow_step_is_said() {
        let (sender, written) = mpsc::channel();
        let step = say_after(Duration::ZERO, "building".to_string(), Lines(sender));
        let first = written.recv_timeout(Duration::from_secs(60)).unwrap();
        drop(step);
        let text: Vec<u8> = [first]
            .into_iter()
            .chain(written.try_iter())
            .flatten()
            .collect();
        assert_eq!(String::from_utf8(text).unwrap(), "building\n");
    }

    /// A step over before its time is up says nothing.
    #[test]
    fn a_quick_step_is_not_said() {
        let (sender, written) = mpsc::channel();
        let step = say_after(
            Duration::from_secs(3600),
            "building".to_string(),
            Lines(sender),
        );
        drop(step);
        assert!(written.try_iter().next().is_none());
    }
}

//! When things happened during one property, so that the report card can say it: each printed
//! line of a process is noted with when the checker saw it, times are shown in seconds from the
//! property's start, and a step that keeps the checker waiting says so once in a while. How often
//! the checker looks at a process's output, and how long it waits for a dying one's last lines.

use std::time::{Duration, Instant};

use common::say;

use harness::process::{Line, Running};
use harness::slow::SLOW;

/// When a property that keeps the checker waiting says so, counted from its start: after
/// [`SLOW`], as every slow step of the tests and the demo is said, then less and
/// less often, and every [`SAY_EVERY`] after the last. A property of slow requests says a few
/// lines in all, not one a request.
const SAY_AFTER: [Duration; 4] = [
    SLOW,
    Duration::from_secs(15),
    Duration::from_secs(30),
    Duration::from_secs(60),
];

/// How often a property still under way says so after the last of [`SAY_AFTER`].
const SAY_EVERY: Duration = Duration::from_secs(60);

/// How often a file or a process's output is looked at again while waiting for it: often
/// enough that waiting adds nothing a person notices, rarely enough to cost no CPU.
pub const POLL: Duration = Duration::from_millis(10);

/// How long to wait for a process's last lines when it fails a property: until it has been
/// quiet for [`QUIET`] (a traceback comes in one burst), and no longer than this.
pub const LAST_WORDS: Duration = Duration::from_secs(1);

/// A pause in a process's output long enough to take it as finished for now.
pub const QUIET: Duration = Duration::from_millis(100);

/// A process the check started, whose lines the evidence shows with when each was printed.
pub struct Watched {
    /// The process, and every line it printed so far.
    pub process: Running,
}

impl Watched {
    /// Starts watching `process`.
    pub fn new(process: Running) -> Watched {
        Watched { process }
    }

    /// Takes the lines that have arrived, each with when it was read from the program.
    pub fn take_new_lines(&mut self) {
        self.process.drain();
    }

    /// As [`Watched::take_new_lines`], after waiting for a quiet moment in the output (a dying
    /// program's last words may still be on their way), up to `timeout`.
    pub fn take_new_lines_when_quiet(&mut self, quiet: Duration, timeout: Duration) {
        self.process.drain_when_quiet(quiet, timeout);
    }

    /// Every line taken so far, with when, in the order the program printed them across its
    /// two outputs.
    pub fn lines(&mut self) -> Vec<(Instant, &Line)> {
        let mut lines: Vec<(Instant, &Line)> = self
            .process
            .seen
            .iter()
            .map(|line| (line.at, line))
            .collect();
        lines.sort_by_key(|(at, _)| *at);
        lines
    }

    /// The lines taken at or after `since`.
    pub fn lines_since(&mut self, since: Instant) -> Vec<(Instant, &Line)> {
        let mut lines = self.lines();
        lines.retain(|(at, _)| *at >= since);
        lines
    }
}

/// `at` as the report card shows it: seconds since `start`, the property's start, to the
/// hundredth (`[10.02 s]`), as long as the longest time a property takes.
pub fn when(at: Instant, start: Instant) -> String {
    let seconds = at.saturating_duration_since(start).as_secs_f64();
    format!("[{seconds:5.2} s]")
}

/// What a property that keeps the checker waiting says, and when ([`SAY_AFTER`]).
pub struct Progress {
    started: Instant,
    said: u32,
}

impl Progress {
    /// A property that begins now.
    pub fn new() -> Progress {
        Progress {
            started: Instant::now(),
            said: 0,
        }
    }

    /// Says that the checker waits for `what` (`an answer to 12!`), when it is time to.
    pub fn tick(&mut self, what: &str) {
        let waited = self.started.elapsed();
        if waited < self.next() {
            return;
        }
        while waited >= self.next() {
            self.said += 1;
        }
        say!(
            "  ...   still checking ({} s so far): waiting for {what}",
            waited.as_secs()
        );
    }

    /// Leaves `time` out of the wait: the checker's own pause, during which it waits for no
    /// one.
    pub fn skip(&mut self, time: Duration) {
        self.started += time;
    }

    /// When the next line is due, from the start.
    fn next(&self) -> Duration {
        match SAY_AFTER.get(self.said as usize) {
            Some(after) => *after,
            None => {
                SAY_AFTER[SAY_AFTER.len() - 1]
                    + SAY_EVERY * (self.said + 1 - SAY_AFTER.len() as u32)
            }
        }
    }
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A property says it waits after 2 s, 15 s, 30 s and 60 s, then once a minute.
    #[test]
    fn waits_are_said_less_and_less_often() {
        let mut progress = Progress::new();
        let due: Vec<u64> = (0..6)
            .map(|said| {
                progress.said = said;
                progress.next().as_secs()
            })
            .collect();
        assert_eq!(due, [2, 15, 30, 60, 120, 180]);
    }

    /// The checker's own pause is left out of the wait a progress line counts: 3 s into a
    /// property, after a pause of a minute, nothing is due.
    #[test]
    fn the_checker_s_own_pause_is_not_counted() {
        let mut progress = Progress::new();
        progress.started -= Duration::from_secs(3);
        progress.skip(Duration::from_secs(60));
        progress.tick("an answer to 9!");
        assert_eq!(progress.said, 0);
    }

    /// Times read as seconds from the start, to the hundredth.
    #[test]
    fn times_are_seconds_from_the_start() {
        let start = Instant::now();
        assert_eq!(
            when(start + Duration::from_millis(10_020), start),
            "[10.02 s]"
        );
        assert_eq!(when(start + Duration::from_millis(50), start), "[ 0.05 s]");
    }
}

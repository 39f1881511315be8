//! The evidence under a row of the report card: what the checker found, each line with its
//! time, then what each process printed while the requests that failed were under way.

use std::time::{Duration, Instant};

use super::evidence::{Evidence, Note};
use super::printable::{printable, shorten_line};
use super::setup::{System, Target};
use super::timeline::{LAST_WORDS, QUIET, Watched, when};

/// How many of its last lines each process shows when no request of the property failed
/// (a property that failed on who served what): enough for a worker's last exchange.
const LAST_LINES: usize = 4;

/// The most lines a process shows for the requests that failed: a Python traceback and the
/// connection before it. Beyond that, its first and last halves.
const MOST_LINES: usize = 8;

/// The longest line of evidence, in characters: a line a person reads at once, on a wide
/// terminal or a projector, with the row's indent.
const LONGEST_LINE: usize = 190;

/// How long after a failed request ended its processes' lines still belong to it: a dying
/// program's traceback comes just after the connection closed.
const AFTERMATH: Duration = Duration::from_millis(300);

/// What a worker that printed nothing is told: why its lines matter, and how to show them.
pub const FLUSH_HINT: &str = "lab check shows a worker's lines, and tells which worker served \
     a request from its `Worker received number: N`, only as they are printed: print the lab's \
     lines and flush each one (docs/protocol.md, \"Writing your own worker\")";

impl System {
    /// The lines under a row that failed, or that could not be checked: the evidence's notes
    /// and what the checker did meanwhile, in order, then what each process printed.
    pub fn evidence_lines(&mut self, evidence: &Evidence) -> Vec<String> {
        let start = self.row_started;
        let mut notes = evidence.notes.clone();
        for event in &self.events {
            let later = notes
                .iter()
                .position(|note| note.at.is_some_and(|at| Some(at) > event.at))
                .unwrap_or(notes.len());
            notes.insert(later, event.clone());
        }
        if let Some(stopped) = &self.stopped {
            notes.push(Note::in_words(stopped.clone()));
        }
        let mut lines = Vec::new();
        for note in &notes {
            let mut text = note.text.lines();
            let first = text.next().unwrap_or_default();
            let first = match note.at {
                Some(at) => format!("{} {first}", when(at, start)),
                None => first.to_string(),
            };
            lines.extend(wrapped(&first));
            lines.extend(text.flat_map(wrapped));
        }
        let windows = evidence.windows();
        let answered = self.answered;
        let is_worker = matches!(self.target, Target::Worker(_));
        if let Some(balancer) = self.balancer.as_mut() {
            lines.extend(printed(balancer, start, &windows, false));
        }
        let in_silence = self.workers_answered_in_silence();
        for worker in &mut self.workers {
            lines.extend(printed(
                &mut worker.process,
                start,
                &windows,
                is_worker && answered,
            ));
        }
        if in_silence && !is_worker {
            lines.push(format!(
                "the workers printed nothing, though answers came: {FLUSH_HINT}"
            ));
        }
        lines
    }

    /// True when the workers of the property printed nothing at all though something
    /// answered: the report card then says how to make them seen.
    pub fn workers_answered_in_silence(&mut self) -> bool {
        let start = self.row_started;
        let silent = self
            .workers
            .iter_mut()
            .all(|worker| worker.process.lines_since(start).is_empty());
        self.answered && !self.workers.is_empty() && silent
    }
}

/// A line of evidence, broken at spaces into lines of at most [`LONGEST_LINE`] characters; the
/// lines after the first are indented, so that they read as one.
fn wrapped(line: &str) -> Vec<String> {
    if line.chars().count() <= LONGEST_LINE {
        return vec![line.to_string()];
    }
    let body = line.trim_start();
    let lead = &line[..line.len() - body.len()];
    let mut lines: Vec<String> = Vec::new();
    let mut current = lead.to_string();
    for word in body.split(' ') {
        let full = current.chars().count() + 1 + word.chars().count() > LONGEST_LINE;
        if full && !current.trim_start().is_empty() {
            lines.push(std::mem::take(&mut current));
            current = format!("{lead}  ");
        } else if !current.trim_start().is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    lines.push(current);
    lines
}

/// What one process printed during the property, for its evidence: the lines from while the
/// requests that failed were under way (`windows`), and the last ones before it exited; or,
/// when no request failed, its last lines. `answered`: it answered, though it printed
/// nothing, which is then said.
fn printed(
    process: &mut Watched,
    start: Instant,
    windows: &[(Instant, Instant)],
    answered: bool,
) -> Vec<String> {
    // A program that is dying prints its last words, then exits.
    process.take_new_lines_when_quiet(QUIET, LAST_WORDS);
    let tag = process.process.tag.clone();
    let exited = if process.process.has_exited() {
        " has exited;"
    } else {
        ""
    };
    let has_exited = !exited.is_empty();
    let lines = process.lines_since(start);
    if lines.is_empty() {
        let though = if answered {
            format!(", though it answered: {FLUSH_HINT}")
        } else {
            String::new()
        };
        return vec![format!("{tag}{exited} printed nothing{though}")];
    }
    let chosen: Vec<usize> = if windows.is_empty() {
        (lines.len().saturating_sub(LAST_LINES)..lines.len()).collect()
    } else {
        let last_words = lines.len().saturating_sub(LAST_LINES);
        (0..lines.len())
            .filter(|&i| {
                let at = lines[i].0;
                let meanwhile = windows
                    .iter()
                    .any(|(from, to)| at >= *from && at <= *to + AFTERMATH);
                meanwhile || (has_exited && i >= last_words)
            })
            .collect()
    };
    if chosen.is_empty() {
        // It printed, but not while the requests that failed were under way: nothing to show.
        return Vec::new();
    }
    let heading = match (windows.is_empty(), has_exited) {
        (true, _) => "printed, last:",
        (false, false) => "printed meanwhile:",
        (false, true) => "printed meanwhile, and last:",
    };
    let mut said = vec![format!("{tag}{exited} {heading}")];
    let show = |i: &usize| {
        let (at, line) = lines[*i];
        format!(
            "  {} {}",
            when(at, start),
            shorten_line(&printable(&line.text))
        )
    };
    // Leaving one line out would save nothing.
    if chosen.len() <= MOST_LINES + 1 {
        said.extend(chosen.iter().map(show));
    } else {
        let half = MOST_LINES / 2;
        said.extend(chosen[..half].iter().map(show));
        said.push(format!("  ... ({} more lines)", chosen.len() - 2 * half));
        said.extend(chosen[chosen.len() - half..].iter().map(show));
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long line is broken at spaces, the rest indented; a short one is left as it is.
    #[test]
    fn long_lines_are_wrapped_at_spaces() {
        assert_eq!(wrapped("  short line"), ["  short line"]);
        let long = format!("{} end", "word ".repeat(60));
        let lines = wrapped(&long);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(
            lines.iter().all(|l| l.chars().count() <= LONGEST_LINE),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("  word"), "{lines:?}");
        assert_eq!(lines.join(" ").split_whitespace().count(), 61);
    }
}

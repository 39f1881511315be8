//! Why a row failed, as the program under check showed it: the row's first line. A program
//! that waits for a newline, answers nothing, crashed (a stack overflow, say) or accepts one
//! connection only is told so in words that fit any language; the Python lab's line numbers
//! are named only for the lab's own file, or a program that printed the lab's traceback.

use std::path::Path;
use std::time::{Duration, Instant};

use super::ask::{self, Exchange, Reply, Request};
use super::evidence::{Evidence, Note};
use super::program::Program;
use super::properties::{LabFile, Property};
use super::setup::{Kind, Silence, System, Target};
use super::timeline::{LAST_WORDS, QUIET};

/// How long the checker waits for an answer once the program has shown that it does not
/// answer the lab's request as sent: enough for any answer that comes at all, so later rows
/// fail in seconds, not a minute each.
pub const SHORT_PATIENCE: Duration = Duration::from_secs(5);

/// How long the same request with a newline may take to be answered: a server that waits for
/// a line answers it at once; this leaves room for a loaded machine.
const PROBE_PATIENCE: Duration = Duration::from_secs(15);

/// The functions by which the Python lab's files are told from any other: a copy of the lab's
/// file, changed or not, defines them; a program written from scratch seldom does.
const LAB_FUNCTIONS: [(LabFile, &[&str]); 2] = [
    (
        LabFile::Worker,
        &["def register_worker(", "def start_worker("],
    ),
    (
        LabFile::Balancer,
        &["def get_available_workers(", "def handle_client("],
    ),
];

impl System {
    /// The row's first line when it fails: the cause the evidence points to, or else what the
    /// property needs, naming the Python lab's lines only for the lab's own file.
    pub fn first_line(&mut self, property: &Property, evidence: &Evidence) -> String {
        // The lab's file, or the lab's workers behind the lab's load balancer or ours.
        let lab_workers = self.is_lab_file(property.lab_file) && !self.balancer_is_students();
        if self.under_check_is_lab_file(property.lab_file) || lab_workers {
            return property.needs_lab.to_string();
        }
        // Asking workers stopped rows ago explains whatever followed, a crash included.
        if let Some(cause) = self.reads_registry_once() {
            return cause;
        }
        // Its own crash names its own file and line, more than the lab's would.
        if let Some(cause) = self.shown_cause() {
            return cause;
        }
        if self.printed_lab_traceback(property) {
            return property.needs_lab.to_string();
        }
        match evidence.cause() {
            Some(cause) => cause.to_string(),
            None => property.needs.to_string(),
        }
    }

    /// Whether the program under check itself (not the workers behind a load balancer) is
    /// the Python lab's `file`.
    fn under_check_is_lab_file(&self, file: LabFile) -> bool {
        match (&self.target, file) {
            (Target::LoadBalancer { .. }, LabFile::Worker) => false,
            _ => self.is_lab_file(file),
        }
    }

    /// Whether a load balancer is under check that is neither the lab's file nor ours: then a
    /// row about the lab's workers may fail for what the load balancer did, and the workers'
    /// lines are cited only with their traceback.
    fn balancer_is_students(&self) -> bool {
        let Target::LoadBalancer { balancer, .. } = &self.target else {
            return false;
        };
        let ours = match balancer {
            Program::Command(words) => words.first().is_some_and(|w| {
                Path::new(w)
                    .file_name()
                    .is_some_and(|n| n == "load_balancer" || n == "load_balancer.exe")
            }),
            _ => false,
        };
        !ours && !self.is_lab_file(LabFile::Balancer)
    }

    /// A load balancer that read worker_ports.txt once, at start: during this row it printed
    /// that a connection was refused, naming a port of workers the checker stopped in an
    /// earlier row. Said whole once; later rows say it in a line.
    fn reads_registry_once(&mut self) -> Option<String> {
        if self.kind() != Kind::LoadBalancer || self.retired_ports.is_empty() {
            return None;
        }
        let since = self.row_started;
        let retired = self.retired_ports.clone();
        let balancer = self.balancer.as_mut()?;
        // Its lines about this row's requests may still be on their way.
        balancer.take_new_lines_when_quiet(QUIET, LAST_WORDS);
        let lines = balancer.lines_since(since);
        // Some(port) when the line names a stopped worker's port; None when it names none
        // (Python's ConnectionRefusedError does not).
        let refused = lines.iter().find_map(|(_, line)| {
            let text = line.text.to_ascii_lowercase();
            if !text.contains("refused") {
                return None;
            }
            let mut numbers = text
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|word| word.parse::<u16>().ok());
            Some(numbers.find(|port| retired.contains(port)))
        })?;
        // A worker the checker killed in this row is refused too: no port, no claim then.
        let killed = self.events.iter().any(|note| note.text.contains("killed"));
        let which = match refused {
            Some(port) => format!("port {port}"),
            // Refused with every worker of this row running: it asked some other port.
            None if !killed
                && self
                    .workers
                    .iter_mut()
                    .all(|w| !w.process.process.has_exited()) =>
            {
                "a port (connection refused, while every worker listed now runs)".to_string()
            }
            None => return None,
        };
        if std::mem::replace(&mut self.said_reads_once, true) {
            return Some(format!(
                "Again it asks {which}, where no worker listens any more: it read \
                 worker_ports.txt once, at start (see the first row that failed)."
            ));
        }
        Some(format!(
            "It asks {which}, where no worker listens any more: the checker starts new \
             workers for each row, and this load balancer read worker_ports.txt once, at start. It needs to read \
             worker_ports.txt again for each request, so that it sends each request to a \
             worker listed now."
        ))
    }

    /// What the program showed during this row that explains any failure in it: a crash, a
    /// wait for a newline, silence, or a single connection accepted.
    fn shown_cause(&mut self) -> Option<String> {
        // A server that waits for a newline never read the lab's request: a crash it shows
        // came from the checker's probe with a newline, or after the checker closed.
        if self.silence != Silence::WaitsForNewline
            && let Some(crash) = self.crash_cause()
        {
            return Some(crash);
        }
        match self.silence {
            Silence::WaitsForNewline => {
                return Some(
                    "It waits for a newline: asked as the lab's client asks (the digits alone, \
                     with no newline), it sent nothing back and kept the connection open, and \
                     the same request with a newline was answered. It needs to read what \
                     arrives (recv, read), not a whole line (readLine, fgets, input)."
                        .to_string(),
                );
            }
            Silence::AnswersNothing => {
                return Some(
                    "It answers nothing: it accepted each connection and sent nothing back, \
                     with or without a newline after the number. It needs to read the request, \
                     then send n!'s digits."
                        .to_string(),
                );
            }
            Silence::None => {}
        }
        if self.stopped.is_some() && self.connections == 1 && !self.first_unanswered {
            return Some(
                "It served the first connection, then stopped listening: it accepts one \
                 connection only. It needs to go back to accept the next connection after each \
                 one (a loop around accept)."
                    .to_string(),
            );
        }
        None
    }

    /// How the program under check crashed during this row, when it did: a stack overflow, an
    /// uncaught exception (where its traceback says), or an exit.
    fn crash_cause(&mut self) -> Option<String> {
        let since = self.row_started;
        let process = match self.kind() {
            Kind::Worker => self.workers.get_mut(0).map(|w| &mut w.process)?,
            Kind::LoadBalancer => self.balancer.as_mut()?,
            Kind::Address => return None,
        };
        // A dying program prints its last words, then exits: both are waited for a moment.
        process.take_new_lines_when_quiet(QUIET, LAST_WORDS);
        let lines: Vec<String> = process
            .lines_since(since)
            .iter()
            .map(|(_, line)| line.text.clone())
            .collect();
        let overflow = [
            "RecursionError",
            "recursion depth",
            "StackOverflowError",
            "stack overflow",
        ];
        // Said whether the program exited or only the thread serving that connection died.
        if let Some(line) = lines
            .iter()
            .find(|line| overflow.iter().any(|word| line.contains(word)))
        {
            return Some(format!(
                "It crashed with a stack overflow ({}): a factorial that calls itself goes n \
                 calls deep. It needs a loop instead.",
                short(line)
            ));
        }
        let last = lines.iter().rev().find(|l| !l.trim().is_empty());
        let place = lines.iter().rev().find_map(|l| traceback_place(l));
        if !process.process.has_exited() {
            // Still running: at most the thread that served one connection died, which Java
            // says in a line of its own, and Python in a traceback.
            let java = lines.iter().find(|l| l.contains("Exception in thread"));
            let what = match (last, place, java) {
                (Some(last), Some(place), _) => format!("{} ({place})", short(last)),
                (_, _, Some(java)) => short(java),
                _ => return None,
            };
            return Some(format!(
                "A connection's thread crashed, while the server went on accepting: {what}. It \
                 needs to catch the error and answer an `Error: `, then close the connection."
            ));
        }
        let status = process.process.exit_status();
        let signal = status.and_then(signal_of);
        if signal == Some(SIGSEGV) {
            return Some(
                "It crashed with a segmentation fault (signal 11): for a factorial, most often \
                 a stack overflow (a factorial that calls itself goes n calls deep: it needs a \
                 loop), or a write past the end of a buffer."
                    .to_string(),
            );
        }
        match (last, place) {
            (Some(last), Some(place)) => Some(format!(
                "It crashed: {} ({place}). It needs to answer an `Error: ` instead, and to go \
                 on serving.",
                short(last)
            )),
            _ if self.connections == 1 && !self.first_unanswered && self.stopped.is_some() => {
                None // accepts once: said by the caller
            }
            (last, _) => {
                let how = match (status.and_then(|s| s.code()), signal) {
                    (Some(code), _) => format!("with exit code {code}"),
                    (None, Some(signal)) => format!("on signal {signal}"),
                    (None, None) => "".to_string(),
                };
                let words = last
                    .map(|l| format!("; it printed last: {}", short(l)))
                    .unwrap_or_default();
                Some(format!(
                    "It exited {how} while being checked{words}. A server needs to go on \
                     serving after each request, whatever it was sent."
                ))
            }
        }
    }

    /// Whether the program under check is the Python lab's own `file`, changed or not.
    pub fn is_lab_file(&self, file: LabFile) -> bool {
        let program = match (&self.target, file) {
            (Target::Worker(program), LabFile::Worker) => program,
            (Target::LoadBalancer { workers, .. }, LabFile::Worker) => workers,
            (Target::LoadBalancer { balancer, .. }, LabFile::Balancer) => balancer,
            _ => return false,
        };
        let Program::Command(words) = program else {
            return false;
        };
        let functions = LAB_FUNCTIONS
            .iter()
            .find(|(f, _)| *f == file)
            .map_or(&[][..], |(_, functions)| *functions);
        words.iter().filter(|w| w.ends_with(".py")).any(|word| {
            std::fs::read_to_string(Path::new(word))
                .is_ok_and(|text| functions.iter().all(|f| text.contains(f)))
        })
    }

    /// Whether a worker that is the Python lab's file printed, during this row, the lab's
    /// traceback for `property`: only then are the worker's lines cited under another
    /// program.
    fn printed_lab_traceback(&mut self, property: &Property) -> bool {
        let Some(words) = property.traceback else {
            return false;
        };
        if property.lab_file != LabFile::Worker || !self.is_lab_file(LabFile::Worker) {
            return false;
        }
        let since = self.row_started;
        let workers = self.workers.iter_mut().map(|w| &mut w.process);
        workers.into_iter().any(|process| {
            // A dying worker's traceback may still be on its way.
            process.take_new_lines_when_quiet(QUIET, LAST_WORDS);
            process
                .lines_since(since)
                .iter()
                .any(|(_, line)| line.text.contains(words))
        })
    }

    /// After a request for n! that got nothing back on a connection kept open for the whole
    /// patience: asks again with a newline at its end, to tell a server that waits for a line
    /// from one that answers nothing. Either way, later requests wait [`SHORT_PATIENCE`], and
    /// the evidence says so once.
    pub(super) fn after_silence(&mut self, exchange: &Exchange, n: u64) {
        let unanswered =
            matches!(exchange.reply, Reply::TimedOut(_)) && exchange.first_byte.is_none();
        // One that answered before has shown that it can: silence now is another fault.
        if !unanswered
            || self.ever_answered
            || self.silence != Silence::None
            || self.patience <= SHORT_PATIENCE
        {
            return;
        }
        let Ok(addr) = self.address() else {
            return;
        };
        let probe = ask::exchange(addr, Request::Line(n), PROBE_PATIENCE, None);
        let answered = probe.reply.is_factorial_of(n)
            || matches!(&probe.reply, Reply::Answer(b) if !b.is_empty());
        self.silence = if answered {
            Silence::WaitsForNewline
        } else {
            Silence::AnswersNothing
        };
        let text = format!("{}: {}", probe.asked, probe.reply.describe());
        self.events.push(Note::at(probe.ended, text));
        let waited = self.patience.as_secs();
        self.patience = SHORT_PATIENCE;
        self.events.push(Note::at(
            Instant::now(),
            format!(
                "from here on, each answer is waited for {} s, not {waited} s: this program \
                 has shown that it does not answer the lab's request as sent",
                SHORT_PATIENCE.as_secs()
            ),
        ));
    }
}

/// Signal 11, a segmentation fault: how a C program's stack overflow ends.
const SIGSEGV: i32 = 11;

/// The signal that ended a process, where the system says.
fn signal_of(status: std::process::ExitStatus) -> Option<i32> {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal()
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        None
    }
}

/// Where a Python traceback's line says the error was: `line 47 of worker.py`.
fn traceback_place(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    let (file, rest) = rest.split_once('"')?;
    let number = rest.trim_start_matches(", line ").split(',').next()?;
    let name = Path::new(file).file_name()?.to_string_lossy().into_owned();
    Some(format!("line {number} of {name}"))
}

/// A printed line, short enough to quote in a sentence.
fn short(line: &str) -> String {
    let line = line.trim();
    match line.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Python traceback's line is read as where the error was.
    #[test]
    fn a_traceback_says_where() {
        let line = "  File \"/tmp/x/fact.py\", line 12, in serve";
        assert_eq!(traceback_place(line).as_deref(), Some("line 12 of fact.py"));
        assert_eq!(traceback_place("Worker received number: 5"), None);
    }
}

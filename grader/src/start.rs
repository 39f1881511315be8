//! Waiting for a program the check started to be ready — a worker to register its port and
//! listen, a load balancer to say where it listens — and saying, when it is not, why: what it
//! printed last, and a file its command names that is not in the current folder. The registry,
//! worker_ports.txt, is read here too, as a worker registers.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::printable::{printable, shorten_line};
use super::program::Program;
use super::timeline::{LAST_WORDS, POLL, Progress, QUIET, Watched};
use harness::lab::{listens, port_at_end};
use harness::process::Line;

/// How long a program may take to start (to register, or to print that it listens). Python
/// needs a few tens of milliseconds; ten seconds marks one that never will.
const START_PATIENCE: Duration = Duration::from_secs(10);

/// How long to wait, after a worker registers, for it to listen (the Python worker registers
/// before it listens). A worker that shows no sign of it is used anyway.
const LISTEN_GRACE: Duration = Duration::from_secs(2);

/// How many of its last lines a program that failed to start shows: a whole short traceback
/// (a SyntaxError shows the line and a caret).
const START_EVIDENCE_LINES: usize = 8;

/// For a program that failed to start: the words of its command that look like a file's name
/// (`worker_server.py`) but name no file in the current folder. The command runs in the
/// checker's scratch folder, so the program's own error names a file there, in a folder the
/// student never saw.
pub fn missing_files(program: &Program) -> String {
    let Program::Command(words) = program else {
        return String::new();
    };
    let here =
        std::env::current_dir().map_or_else(|_| "?".to_string(), |d| d.display().to_string());
    words
        .iter()
        .skip(1) // the program itself is found on PATH
        .filter(|word| looks_like_a_file(word) && !Path::new(word).exists())
        .map(|word| {
            format!(
                "\n{word} is not in the current folder ({here}). lab check runs the command in \
                 a scratch folder of its own, and passes each file of the current folder that \
                 it names by its full path: run lab check in the folder that holds {word}, or \
                 give its path."
            )
        })
        .collect()
}

/// Whether a word of a command reads as a file's name: not an option, no folder in it, and
/// ending in a dot and a few letters (`worker_server.py`, `Worker.class`, `server.js`).
fn looks_like_a_file(word: &str) -> bool {
    let Some((name, extension)) = word.rsplit_once('.') else {
        return false;
    };
    !word.starts_with('-')
        && !word.contains('/')
        && !name.is_empty()
        && (1..=5).contains(&extension.len())
        && extension.chars().all(|c| c.is_ascii_alphabetic())
}

/// Waits for a worker's line in the registry: the one after the `listed_before` already there.
pub fn wait_for_registration(
    registry: &Path,
    listed_before: usize,
    process: &mut Watched,
    program: &Program,
    progress: &mut Progress,
) -> Result<String, String> {
    let tag = process.process.tag.clone();
    let awaited = format!("{tag} to write its port to worker_ports.txt");
    let deadline = Instant::now() + START_PATIENCE;
    while Instant::now() < deadline {
        // Only a whole line counts: a worker may still be writing it.
        let text = worker_ports_text(registry)?;
        if text.ends_with('\n')
            && let Some(line) = registry_lines(&text).get(listed_before)
        {
            return Ok(line.clone());
        }
        if process.process.has_exited() {
            return Err(format!(
                "{tag} exited without registering a port in worker_ports.txt{}{}",
                last_words(process),
                missing_files(program)
            ));
        }
        progress.tick(&awaited);
        std::thread::sleep(POLL);
    }
    let text = worker_ports_text(registry)?;
    let unfinished = match registry_lines(&text).get(listed_before) {
        Some(line) => format!(
            " (it wrote {line:?} with no newline at its end, so the next worker's line would \
             run into it)"
        ),
        None => String::new(),
    };
    let words = last_words(process);
    let elsewhere = said_address(process)
        .map(|addr| {
            format!(
                "\nIf it listens at {addr}, as it printed, and registers nowhere: start it \
                 yourself and check it there, lab check --address {addr}"
            )
        })
        .unwrap_or_default();
    Err(format!(
        "{tag} wrote no line to worker_ports.txt in its folder within {} s{unfinished}{words}\
         {elsewhere}",
        START_PATIENCE.as_secs(),
    ))
}

/// Waits, at most [`LISTEN_GRACE`], until a worker that registered listens at `addr`: seen
/// in the system's table of sockets where there is one, or else in its line that says so. A
/// worker that shows neither is used anyway.
pub fn wait_until_listening(addr: SocketAddr, process: &mut Watched) {
    let deadline = Instant::now() + LISTEN_GRACE;
    while Instant::now() < deadline && !process.process.has_exited() {
        process.take_new_lines();
        let said_so = process
            .lines()
            .iter()
            .any(|(_, line)| line.text.contains("listening"));
        if said_so || listens(addr.port()).unwrap_or(false) {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until the load balancer listens at `addr` (`--address`), as the system's table of
/// sockets shows.
pub fn wait_for_listener(
    addr: SocketAddr,
    process: &mut Watched,
    progress: &mut Progress,
) -> Result<SocketAddr, String> {
    let awaited = format!("the load balancer to listen at {addr}");
    let deadline = Instant::now() + START_PATIENCE;
    while Instant::now() < deadline {
        match listens(addr.port()) {
            Some(true) => return Ok(addr),
            // No table to look in, and a connection would be a request: give it a moment.
            None => {
                std::thread::sleep(LISTEN_GRACE);
                return Ok(addr);
            }
            Some(false) => {}
        }
        if process.process.has_exited() {
            return Err(format!("it exited{}", last_words(process)));
        }
        process.take_new_lines();
        progress.tick(&awaited);
        std::thread::sleep(POLL);
    }
    Err(format!(
        "nothing listened at {addr} within {} s{}",
        START_PATIENCE.as_secs(),
        last_words(process)
    ))
}

/// Waits for the load balancer's line ending in `listening on HOST:PORT` (load_balancer.py
/// line 72) and returns the address it names on this machine.
pub fn wait_for_listening_line(
    process: &mut Watched,
    progress: &mut Progress,
) -> Result<SocketAddr, String> {
    let awaited = "the load balancer to print a line ending in `listening on HOST:PORT`";
    let started = Instant::now();
    let deadline = started + START_PATIENCE;
    // When it listens at an address it printed otherwise: the lab's line, if it comes, comes
    // with it, so the rest of the wait is cut short.
    let mut listening_since: Option<Instant> = None;
    while Instant::now() < deadline {
        process.take_new_lines();
        if listening_since.is_none()
            && said_address(process).is_some_and(|addr| listens(addr.port()) == Some(true))
        {
            listening_since = Some(Instant::now());
        }
        if listening_since.is_some_and(|since| since.elapsed() >= LISTEN_GRACE) {
            break;
        }
        let line = process
            .lines()
            .iter()
            .map(|(_, line)| line.text.clone())
            .find(|text| text.contains("listening on"));
        if let Some(line) = line {
            let port = port_at_end(&line)
                .ok_or_else(|| format!("no port at the end of its line {line:?}"))?;
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
        if process.process.has_exited() {
            break;
        }
        progress.tick(awaited);
        std::thread::sleep(POLL);
    }
    let exited = if process.process.has_exited() {
        "it exited without printing a line"
    } else {
        "it printed no line"
    };
    let words = last_words(process);
    let hint = with_hint(&words);
    let elsewhere = said_address(process)
        .map(|addr| {
            format!(
                "\nIf it listens at {addr}, as it printed, say so: lab check --load-balancer ... \
                 --address {addr}"
            )
        })
        .unwrap_or_default();
    Err(format!(
        "{exited} ending in `listening on HOST:PORT` within {} s, the line from which \
         lab check learns its port (the lab's is `Load Balancer listening on \
         127.0.0.1:65432`){hint}{elsewhere}",
        started.elapsed().as_secs()
    ))
}

/// The last address a program printed at the end of a line (`running on 127.0.0.1:6000`, or
/// `Starting up on localhost port 12345`).
fn said_address(process: &mut Watched) -> Option<SocketAddr> {
    process
        .lines()
        .iter()
        .rev()
        .find_map(|(_, line)| address_in(&line.text))
}

/// The address a line names at its end: `HOST:PORT`, or `[on HOST] port PORT` (on this
/// machine, where the host is not an address).
fn address_in(line: &str) -> Option<SocketAddr> {
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|w| w.trim_end_matches(['.', ',', ')']))
        .collect();
    let last = *words.last()?;
    if let Ok(addr) = last.parse() {
        return Some(addr);
    }
    let port: u16 = last.parse().ok()?;
    let said_port = words.len() >= 2 && words[words.len() - 2].eq_ignore_ascii_case("port");
    (said_port && port != 0).then(|| SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A hint for the commonest reason a load balancer cannot start in a lab room.
fn with_hint(failure: &str) -> String {
    if failure.contains("Address already in use") {
        format!(
            "{failure}\n(Its port is taken, or held for up to a minute by connections an \
             earlier load balancer closed (TIME_WAIT): wait a minute and run the check again.)"
        )
    } else {
        failure.to_string()
    }
}

/// The last `count` of `lines`, indented, escaped and shortened for a report card.
fn last_lines(lines: &[(Instant, &Line)], count: usize) -> Vec<String> {
    let from = lines.len().saturating_sub(count);
    lines[from..]
        .iter()
        .map(|(_, line)| format!("  {}", shorten_line(&printable(&line.text))))
        .collect()
}

/// What a failing program printed last, for the evidence of a start that failed: a
/// traceback's last lines say why.
fn last_words(process: &mut Watched) -> String {
    process.take_new_lines_when_quiet(QUIET, LAST_WORDS);
    let lines = process.lines();
    if lines.is_empty() {
        return "; it printed nothing".to_string();
    }
    let mut said = String::from("; it printed, last:");
    for line in last_lines(&lines, START_EVIDENCE_LINES) {
        said.push('\n');
        said.push_str(&line);
    }
    said
}

/// The registry's text; a missing file is an empty registry (no worker has started yet).
pub(super) fn worker_ports_text(registry: &Path) -> Result<String, String> {
    match std::fs::read_to_string(registry) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        read => read.map_err(|e| format!("cannot read {}: {e}", registry.display())),
    }
}

/// The lines of a registry's text that are not blank.
pub(super) fn registry_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// An address is read from a line that ends in one, in either way a server says it.
    #[test]
    fn addresses_at_the_end_of_a_line() {
        let addr = |line| address_in(line).map(|a| a.to_string());
        assert_eq!(
            addr("running on 127.0.0.1:6000").as_deref(),
            Some("127.0.0.1:6000")
        );
        assert_eq!(
            addr("Starting up on localhost port 12345").as_deref(),
            Some("127.0.0.1:12345")
        );
        assert_eq!(addr("Worker received number: 12"), None);
        assert_eq!(addr("listening on port 0"), None);
    }

    /// File names are told from options, numbers, addresses and paths.
    #[test]
    fn words_that_read_as_file_names() {
        for word in ["worker_server.py", "Worker.class", "server.js", "w.c"] {
            assert!(looks_like_a_file(word), "{word}");
        }
        for word in [
            "python3",
            "1.5",
            "127.0.0.1",
            "--registry=x.txt",
            "src/worker.py",
            ".py",
            "a.toolongext",
        ] {
            assert!(!looks_like_a_file(word), "{word}");
        }
    }
}

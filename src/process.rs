//! One running program, with its output lines arriving on a channel.
//!
//! Servers never exit by themselves, so whoever starts one must stop it: [`Running`] kills its
//! process when dropped, even when a test fails half-way. We never sleep to wait for a server;
//! we wait for the line it prints once it is ready.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use common::error::{Context, Error};

/// Where the lab's programs were built: beside the running executable, or one folder up for
/// a test binary (which cargo puts in `target/<profile>/deps`).
pub fn program_path(name: &str) -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().context(|| "cannot find this program's path".to_string())?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| Error::new("this program's path has no folder"))?
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        return Err(Error::new(format!(
            "{} is not built yet; run `cargo build --workspace` first",
            path.display()
        )));
    }
    Ok(path)
}

/// A line a program printed, and on which stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line without its newline.
    pub text: String,
    /// True for stderr, false for stdout.
    pub is_stderr: bool,
}

/// A started program. Its process is killed when this is dropped.
pub struct Running {
    /// The name its lines are tagged with, such as `worker 1`.
    pub tag: String,
    child: Child,
    lines: Receiver<Line>,
    /// Every line received so far, for error messages and for checking a whole transcript.
    pub seen: Vec<Line>,
    /// Where in `seen` the next [`Running::wait_for`] starts looking: each line is matched once.
    unmatched_from: usize,
}

impl Running {
    /// Starts `command` with piped output. With `echo`, each line is also printed as
    /// `[tag] line` as soon as it arrives, which is how the demo shows every process at once.
    pub fn start(tag: &str, mut command: Command, echo: bool) -> Result<Running, Error> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .context(|| format!("cannot start {tag} ({command:?})"))?;
        let (sender, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            forward_lines(stdout, false, tag, echo, sender.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            forward_lines(stderr, true, tag, echo, sender);
        }
        Ok(Running::new(tag, child, lines))
    }

    /// Starts `command` with its standard output going to `stdout` (a file, or a pipe the
    /// caller reads as it likes, or not at all); stderr's lines arrive as with [`Running::start`].
    /// Returns the pipe's reading end when `stdout` is `Stdio::piped()`.
    pub fn start_with_stdout(
        tag: &str,
        mut command: Command,
        stdout: Stdio,
    ) -> Result<(Running, Option<ChildStdout>), Error> {
        command
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .context(|| format!("cannot start {tag} ({command:?})"))?;
        let (sender, lines) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            forward_lines(stderr, true, tag, false, sender);
        }
        let stdout = child.stdout.take();
        Ok((Running::new(tag, child, lines), stdout))
    }

    /// Starts `command` with its output thrown away: for the benchmark, where reading every
    /// line of a server under load would take CPU from the server itself.
    pub fn start_quiet(tag: &str, mut command: Command) -> Result<Running, Error> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command
            .spawn()
            .context(|| format!("cannot start {tag} ({command:?})"))?;
        // No line will ever arrive: the sender is dropped at once.
        let (_, lines) = mpsc::channel();
        Ok(Running::new(tag, child, lines))
    }

    fn new(tag: &str, child: Child, lines: Receiver<Line>) -> Running {
        Running {
            tag: tag.to_string(),
            child,
            lines,
            seen: Vec::new(),
            unmatched_from: 0,
        }
    }

    /// Asks the program to stop (SIGTERM, through the `kill` command, as std has no signals)
    /// and waits up to `timeout` before killing it. nginx needs this: its worker processes
    /// outlive a master that is killed outright.
    pub fn terminate(&mut self, timeout: Duration) {
        let asked = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while asked.is_ok() && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                _ => return,
            }
        }
        self.kill();
    }

    /// The process id, for `kill -STOP` and `/proc/<pid>/status` in tests.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`STOP`, `CONT`) through the `kill` command, as std has none:
    /// how a test freezes a program, as Ctrl-Z does, at the moment it chooses.
    pub fn signal(&self, name: &str) -> Result<(), Error> {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .context(|| format!("cannot run kill -{name}"))?;
        if !status.success() {
            return Err(Error::new(format!("kill -{name} {} failed", self.tag)));
        }
        Ok(())
    }

    /// Writes `text` to the program's standard input and closes it (a user typing a line).
    pub fn type_in(&mut self, text: &str) -> Result<(), Error> {
        use std::io::Write;
        let mut stdin = self
            .child
            .stdin
            .take()
            .ok_or_else(|| Error::new(format!("{}: stdin already closed", self.tag)))?;
        stdin
            .write_all(text.as_bytes())
            .context(|| format!("cannot type into {}", self.tag))
    }

    /// Waits for the next line containing `pattern` (after the line the previous call matched)
    /// and returns it. Fails if the program ends first or `timeout` passes, quoting what it
    /// printed.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String, Error> {
        let earlier = self.seen[self.unmatched_from..]
            .iter()
            .position(|l| l.text.contains(pattern));
        if let Some(offset) = earlier {
            self.unmatched_from += offset + 1;
            return Ok(self.seen[self.unmatched_from - 1].text.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.text.contains(pattern);
                    self.seen.push(line.clone());
                    if found {
                        self.unmatched_from = self.seen.len();
                        return Ok(line.text);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.failure(&format!("no line with {pattern:?} in {timeout:?}")));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.failure(&format!("ended before printing {pattern:?}")));
                }
            }
        }
    }

    /// Waits for the program to exit (it must close its output first), collecting its lines.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.failure(&format!("still running after {timeout:?}")));
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let tag = self.tag.clone();
        self.child
            .wait()
            .context(|| format!("cannot wait for {tag}"))
    }

    /// Takes every line that has arrived so far without waiting.
    pub fn drain(&mut self) -> &[Line] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Stdout lines received so far, in order.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines_of(false)
    }

    /// Stderr lines received so far, in order.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines_of(true)
    }

    fn lines_of(&self, is_stderr: bool) -> Vec<String> {
        self.seen
            .iter()
            .filter(|l| l.is_stderr == is_stderr)
            .map(|l| l.text.clone())
            .collect()
    }

    /// Stops the program now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        // It may have exited already; either way it is gone afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn failure(&mut self, what: &str) -> Error {
        self.drain();
        let printed: Vec<&str> = self.seen.iter().map(|l| l.text.as_str()).collect();
        Error::new(format!(
            "{}: {what}; it printed:\n{}",
            self.tag,
            printed.join("\n")
        ))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `stream` line by line on its own thread and sends each line on `sender`.
fn forward_lines(
    stream: impl Read + Send + 'static,
    is_stderr: bool,
    tag: &str,
    echo: bool,
    sender: Sender<Line>,
) {
    let tag = tag.to_string();
    thread::spawn(move || {
        for text in BufReader::new(stream).lines() {
            let Ok(text) = text else { break };
            if echo {
                common::say!("[{tag}] {text}");
            }
            if sender.send(Line { text, is_stderr }).is_err() {
                break; // nobody listens any more
            }
        }
    });
}

/// Builds the worker, load balancer and client when we run under `cargo run`, so that a
/// fresh clone needs only one command for the demo or the benchmark (cargo builds just the
/// `lab` package by itself). The
/// profile matches our own: `cargo run --release` builds them with `--release`.
pub fn build_programs() -> Result<(), Error> {
    let Ok(cargo) = std::env::var("CARGO") else {
        return Ok(()); // started without cargo: use the programs already built beside us
    };
    let exe = std::env::current_exe().context(|| "cannot find this program's path".to_string())?;
    let release = exe.parent().is_some_and(|dir| dir.ends_with("release"));
    let profile = if release {
        "--release"
    } else {
        "--profile=dev"
    };
    let args = [
        "build",
        "--quiet",
        profile,
        "-p",
        "worker",
        "-p",
        "load_balancer",
        "-p",
        "client",
    ];
    // Quiet, so a run with everything built prints nothing; one line says what may take time.
    common::say!("Building the programs: cargo {}", args.join(" "));
    let mut command = Command::new(cargo);
    command.args(args);
    let status = command
        .status()
        .context(|| "cannot run cargo to build the programs".to_string())?;
    if !status.success() {
        return Err(Error::new(
            "building the worker, load balancer and client failed",
        ));
    }
    Ok(())
}

/// A program that must be asked to stop rather than killed: nginx's worker processes outlive a
/// master killed outright, and would hold its port. Dropping this sends SIGTERM, waits up to
/// five seconds, then kills.
pub struct StopGently(pub Running);

impl Drop for StopGently {
    fn drop(&mut self) {
        self.0.terminate(Duration::from_secs(5));
    }
}

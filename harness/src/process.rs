//! One running program, with its output lines arriving on a channel.
//!
//! Servers never exit by themselves, so whoever starts one must stop it: [`Running`] kills its
//! process when dropped, even when a test fails half-way. We never sleep to wait for a server;
//! we wait for the line it prints once it is ready.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use common::armour::error::{Context, Error};

use crate::slow::SLOW;

/// Where the lab's programs were built: beside the running executable, or one folder up for
/// a test binary (which cargo puts in `target/<profile>/deps`).
pub fn program_path(name: &str) -> Result<PathBuf, Error> {
    ensure_programs_built()?;
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
    /// Which of the program's outputs it came from.
    pub stream: Stream,
    /// When it was read from the program's pipe: what `lab check`'s evidence times.
    pub at: Instant,
}

/// A program's standard output or standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output: the lab's printed lines.
    Stdout,
    /// Standard error: failures and warnings.
    Stderr,
}

/// Whether a started program's lines are also printed as they come, tagged `[worker 1] …`
/// (the demo), or only kept for the caller to wait for and check (the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// Lines are kept, not printed.
    Quiet,
    /// Lines are printed as they come, and kept.
    Tagged,
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
    /// Starts `command` with piped output. With [`Echo::Tagged`], each line is also printed as
    /// `[tag] line` as soon as it arrives, which is how the demo shows every process at once.
    pub fn start(tag: &str, mut command: Command, echo: Echo) -> Result<Running, Error> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        own_group(&mut command);
        let mut child = command
            .spawn()
            .context(|| format!("cannot start {tag} ({command:?})"))?;
        end_with_harness(&child);
        let (sender, lines) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            forward_lines(stdout, Stream::Stdout, tag, echo, sender.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            forward_lines(stderr, Stream::Stderr, tag, echo, sender);
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
        own_group(&mut command);
        let mut child = command
            .spawn()
            .context(|| format!("cannot start {tag} ({command:?})"))?;
        end_with_harness(&child);
        let (sender, lines) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            forward_lines(stderr, Stream::Stderr, tag, Echo::Quiet, sender);
        }
        let stdout = child.stdout.take();
        Ok((Running::new(tag, child, lines), stdout))
    }

    /// Starts `command` with its stdout and stderr appended to the file at `path`, which nobody
    /// reads meanwhile: for the benchmark, where the servers log as in a lab.
    pub fn start_to_file(tag: &str, mut command: Command, path: &Path) -> Result<Running, Error> {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .context(|| format!("cannot open {}", path.display()))
        };
        command.stdin(Stdio::null()).stdout(open()?).stderr(open()?);
        own_group(&mut command);
        let child = command
            .spawn()
            .context(|| format!("cannot start {tag} ({command:?})"))?;
        end_with_harness(&child);
        // No line will ever arrive: the sender is dropped at once.
        let (_, lines) = mpsc::channel();
        Ok(Running::new(tag, child, lines))
    }

    /// Starts `command` with its output thrown away: for the benchmark, where reading every
    /// line of a server under load would take CPU from the server itself.
    pub fn start_quiet(tag: &str, mut command: Command) -> Result<Running, Error> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        own_group(&mut command);
        let child = command
            .spawn()
            .context(|| format!("cannot start {tag} ({command:?})"))?;
        end_with_harness(&child);
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

    /// Asks the program to stop (SIGTERM, through the `kill` command, as std has no signals;
    /// Ctrl-Break on Windows) and waits up to `timeout` before killing it. nginx needs this:
    /// its worker processes outlive a master that is killed outright.
    pub fn terminate(&mut self, timeout: Duration) {
        let asked = signal_one(if cfg!(windows) { "INT" } else { "TERM" }, self.child.id());
        let deadline = Instant::now() + timeout;
        while asked.is_ok() && Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                _ => return,
            }
        }
        self.kill();
    }

    /// True once the process has ended (a server that died, a worker that never registered).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// How the process ended, once it has: an exit code, or the signal that ended it.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process id, for `kill -STOP` and `/proc/<pid>/status` in tests.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `INT`) through the `kill` command, as std has
    /// none: how a test freezes a program, as Ctrl-Z does, at the moment it chooses. Like a
    /// terminal's Ctrl-Z, it reaches the processes the program started too (a wrapper script's
    /// real worker). On Windows, the same through Win32 (see [`crate::win32`]): `STOP` and
    /// `CONT` suspend and resume the process, `INT` is a Ctrl-Break.
    pub fn signal(&mut self, name: &str) -> Result<(), Error> {
        let started = self.started_processes();
        signal_one(name, self.child.id())
            .map_err(|e| Error::new(format!("cannot send SIG{name} to {}: {e}", self.tag)))?;
        // A helper the program started may be gone by now; that is no failure of ours.
        send_signal(name, &started);
        Ok(())
    }

    /// Stops the program as Ctrl-C would: SIGINT, or SIGTERM when the program ignores SIGINT,
    /// as every program started in the background by a script (`cmd &`, `nohup`) does, which
    /// would otherwise never stop. Returns the signal's name. On Windows, Ctrl-Break to the
    /// program's console process group; where the harness shares no console with it (a
    /// service, Wine without a terminal), no Ctrl-Break can be sent, and the program is ended
    /// outright instead, as Task Manager's "End task" does: `KILL`.
    pub fn interrupt(&mut self) -> Result<&'static str, Error> {
        let name = if ignores_sigint(self.child.id()) {
            "TERM"
        } else {
            "INT"
        };
        match self.signal(name) {
            Ok(()) => Ok(name),
            Err(_) if cfg!(windows) => self.signal("KILL").map(|()| "KILL"),
            Err(e) => Err(e),
        }
    }

    /// The processes it started (see [`descendants`]), while it still runs: once it has
    /// exited and been waited for, its process id is free and may belong to another program,
    /// whose children are none of ours. (Until we wait for it, even an exited program keeps
    /// its id.)
    fn started_processes(&mut self) -> Vec<u32> {
        match self.child.try_wait() {
            Ok(None) => descendants(self.child.id()),
            _ => Vec::new(),
        }
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

    /// [`Running::drain`], as text: every line the program has printed so far.
    pub fn printed(&mut self) -> Vec<String> {
        self.drain().iter().map(|line| line.text.clone()).collect()
    }

    /// Like [`Running::drain`], but first waits until the program has printed nothing for
    /// `quiet` (at most `timeout` in all): a dying program's last lines, which say why, may
    /// still be on their way through the pipe.
    pub fn drain_when_quiet(&mut self, quiet: Duration, timeout: Duration) -> &[Line] {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(quiet.min(left)) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => break, // quiet for a while
                Err(RecvTimeoutError::Disconnected) => {
                    // Its output closed: it is exiting. Give it a moment to be gone, so that
                    // `has_exited` says so.
                    let gone = Instant::now() + quiet;
                    while !self.has_exited() && Instant::now() < gone {
                        thread::sleep(Duration::from_millis(5));
                    }
                    break;
                }
            }
        }
        self.drain()
    }

    /// Stdout lines received so far, in order.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines_of(Stream::Stdout)
    }

    /// Stderr lines received so far, in order.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines_of(Stream::Stderr)
    }

    fn lines_of(&self, stream: Stream) -> Vec<String> {
        self.seen
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.clone())
            .collect()
    }

    /// Stops the program now (SIGKILL), as a crash would.
    /// The processes it started are killed too: a worker run through a wrapper (`sh`,
    /// `npm start`) is the wrapper's child, and killing only the wrapper would leave it running.
    pub fn kill(&mut self) {
        let started = self.started_processes();
        if !started.is_empty() {
            // All frozen first, so that none starts another meanwhile (a wrapper that restarts
            // its worker), then looked for again, and all killed.
            let program = self.child.id();
            send_signal("STOP", &[&[program], &started[..]].concat());
            let started = descendants(program);
            send_signal("KILL", &[&[program], &started[..]].concat());
            // A killed process dies a moment after the signal; wait for that moment, so that
            // whoever stops a worker finds its port closed afterwards.
            wait_until_dead(&started);
        }
        // It may have exited already; either way it is gone afterwards.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn failure(&mut self, what: &str) -> Error {
        self.drain();
        let printed: Vec<&str> = self.seen.iter().map(|l| l.text.as_str()).collect();
        if printed.is_empty() {
            return Error::new(format!("{}: {what}; it printed nothing", self.tag));
        }
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

/// The longest line kept from a program's output: a longer one arrives cut into pieces of
/// this size, so a program printing without newlines cannot fill memory with one line.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// The most output kept from one stream of one program, far more than any of ours prints in
/// a test; the rest is read and thrown away (so the program never blocks on a full pipe),
/// after one line that says so.
const MAX_KEPT_BYTES: usize = 64 * 1024 * 1024;

/// Reads `stream` line by line on its own thread and sends each line on `sender`.
fn forward_lines(
    stream: impl Read + Send + 'static,
    from: Stream,
    tag: &str,
    echo: Echo,
    sender: Sender<Line>,
) {
    let tag = tag.to_string();
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut kept = 0;
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match reader
                .by_ref()
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut bytes)
            {
                Ok(0) | Err(_) => break, // the program closed its output
                Ok(_) if kept > MAX_KEPT_BYTES => continue,
                // Each line costs its bytes and its place in the list, so empty lines count too.
                Ok(read) => kept += read + std::mem::size_of::<Line>(),
            }
            let text = if kept > MAX_KEPT_BYTES {
                format!("[more than {MAX_KEPT_BYTES} bytes: the rest is not kept]")
            } else {
                let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                String::from_utf8_lossy(line).into_owned()
            };
            if echo == Echo::Tagged {
                common::say!("[{tag}] {text}");
            }
            let line = Line {
                text,
                stream: from,
                at: Instant::now(),
            };
            if sender.send(line).is_err() {
                break; // nobody listens any more
            }
        }
    });
}

/// The processes `pid` started, and those they started, and so on: what a terminal's Ctrl-C
/// or Ctrl-Z would reach along with it.
fn descendants(pid: u32) -> Vec<u32> {
    let parent_of = parents();
    let mut found = vec![pid];
    let mut next = 0;
    while let Some(&looked_at) = found.get(next) {
        next += 1;
        for &(child, parent) in &parent_of {
            // An id reused while /proc was read could otherwise make a loop.
            if parent == looked_at && !found.contains(&child) {
                found.push(child);
            }
        }
    }
    found.split_off(1)
}

/// Every process's (id, parent's id), from /proc (Linux); empty where /proc cannot be read.
#[cfg(unix)]
fn parents() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| Some((child, parent(child)?)))
        .collect()
}

/// Every process's (id, parent's id), from the system's process list (Windows).
#[cfg(windows)]
fn parents() -> Vec<(u32, u32)> {
    crate::win32::parents()
}

/// How long [`wait_until_dead`] waits for killed processes: they die within milliseconds.
const DYING_TIME: Duration = Duration::from_secs(2);

/// Waits (up to [`DYING_TIME`]) until each of `pids` is dead, its files and sockets closed.
fn wait_until_dead(pids: &[u32]) {
    let deadline = Instant::now() + DYING_TIME;
    while !pids.iter().all(|&pid| is_dead(pid)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
}

/// True when a process is gone, or a zombie whose threads have all ended: a process's files
/// (its listening socket among them) close with its last thread, and its first thread can be
/// a zombie (`State: Z`) while the others are still ending.
#[cfg(unix)]
fn is_dead(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    let zombie = field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X'));
    let threads: u32 = field("Threads:").and_then(|t| t.parse().ok()).unwrap_or(0);
    zombie && threads <= 1
}

/// True when a process has ended (Windows).
#[cfg(windows)]
fn is_dead(pid: u32) -> bool {
    crate::win32::is_dead(pid)
}

/// True when the process ignores SIGINT: bit 1 (signal 2) of `SigIgn` in
/// `/proc/PID/status`, a mask in hexadecimal. False where it cannot be read (and on Windows,
/// where a program started in a process group of its own takes Ctrl-Break whatever it does
/// with Ctrl-C).
fn ignores_sigint(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << 1) != 0)
}

/// Sends a signal to each of `pids` through the `kill` command; those that have exited
/// meanwhile are simply not found, which is no failure.
#[cfg(unix)]
fn send_signal(name: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

/// Sends a signal to each of `pids` (Windows, see [`signal_one`]); those that have exited
/// meanwhile are simply not found, which is no failure.
#[cfg(windows)]
fn send_signal(name: &str, pids: &[u32]) {
    for &pid in pids {
        let _ = signal_one(name, pid);
    }
}

/// Sends signal `name` to process `pid` through the `kill` command, as std has none.
#[cfg(unix)]
fn signal_one(name: &str, pid: u32) -> std::io::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    match status.success() {
        true => Ok(()),
        false => Err(std::io::Error::other(format!(
            "kill -{name} {pid} failed ({status})"
        ))),
    }
}

/// What signal `name` does on Linux, done to process `pid` through Win32: `STOP` and `CONT`
/// freeze and thaw it, `INT` and `TERM` send Ctrl-Break to its process group, `KILL` ends it.
#[cfg(windows)]
fn signal_one(name: &str, pid: u32) -> std::io::Result<()> {
    use crate::win32;
    match name {
        "STOP" => win32::suspend(pid),
        "CONT" => win32::resume(pid),
        "INT" | "TERM" => win32::ctrl_break(pid),
        "KILL" => win32::terminate(pid),
        _ => Err(std::io::Error::other(format!(
            "no Windows form of SIG{name}"
        ))),
    }
}

/// On Windows, makes the program end when the harness does (see
/// [`crate::win32::end_with_harness`]); on Linux a terminal's Ctrl-C reaches it anyway.
fn end_with_harness(child: &Child) {
    #[cfg(windows)]
    crate::win32::end_with_harness(child);
    #[cfg(not(windows))]
    let _ = child;
}

/// Starts a program in a console process group of its own on Windows, so that a Ctrl-Break
/// sent to it ([`Running::interrupt`]) reaches that program and not the harness. (On Linux a
/// signal goes to one process id, and nothing is needed.)
fn own_group(command: &mut Command) {
    #[cfg(windows)]
    crate::win32::own_group(command);
    #[cfg(not(windows))]
    let _ = command;
}

/// A process's parent, from `/proc/PID/stat`: the second field after the name in
/// parentheses (which may itself hold spaces and parentheses, hence the last `)`), after the
/// state.
#[cfg(unix)]
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Builds the worker, load balancer and client when we run under `cargo run`, so that a
/// fresh clone needs only one command for the demo or the benchmark (cargo builds just the
/// `lab` package by itself). The profile matches our own: `cargo run --release` builds them
/// with `--release`. Says so in one line, and cargo's own lines follow if it takes a while.
pub fn build_programs() -> Result<(), Error> {
    let Some(command) = cargo_build_command()? else {
        return Ok(()); // started without cargo: use the programs already built beside us
    };
    let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
    common::say!("Building the programs: cargo {}", args.join(" "));
    // The line above must be out before cargo's.
    common::armour::log::flush();
    run_cargo_build(command)
}

/// Builds the programs once per test process, silently when that is quick, so that any one
/// test target runs by itself on a fresh clone (`cargo test --test end_to_end`: cargo builds
/// only the `lab` package for it) and never against programs left over from an older build.
fn ensure_programs_built() -> Result<(), Error> {
    static BUILT: OnceLock<Result<(), Error>> = OnceLock::new();
    BUILT
        .get_or_init(|| match cargo_build_command()? {
            Some(command) => run_cargo_build(command),
            None => Ok(()),
        })
        .clone()
}

/// `cargo build` of the three programs in our own profile, or `None` when we were not started
/// by cargo (which says where it is in `CARGO`).
fn cargo_build_command() -> Result<Option<Command>, Error> {
    let Ok(cargo) = std::env::var("CARGO") else {
        return Ok(None);
    };
    let exe = std::env::current_exe().context(|| "cannot find this program's path".to_string())?;
    // target/<profile>/ for a binary, target/<profile>/deps/ for a test or benchmark.
    let mut dir = exe.parent();
    if dir.is_some_and(|d| d.ends_with("deps")) {
        dir = dir.and_then(Path::parent);
    }
    let profile = if dir.is_some_and(|d| d.ends_with("release")) {
        "--release"
    } else {
        "--profile=dev"
    };
    let mut command = Command::new(cargo);
    command.args(["build", profile]);
    // This workspace, from whatever folder we run in (`lab check` runs in the student's).
    command.current_dir(env!("CARGO_MANIFEST_DIR")); // harness/, inside the workspace
    command.args(["-p", "worker", "-p", "load_balancer", "-p", "client"]);
    Ok(Some(command))
}

/// Runs a `cargo build` command and says plainly when it fails. Cargo's lines (`Compiling
/// worker …`) are kept back for [`SLOW`]: a build that is up to date, or nearly, prints
/// nothing, while a longer one shows them from then on, as cargo prints them, so that it is
/// not a silent minute. A failed build shows them all.
pub fn run_cargo_build(mut command: Command) -> Result<(), Error> {
    let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
    let building = format!("cargo {}", args.join(" "));
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut cargo = command
        .spawn()
        .context(|| format!("cannot run {building}"))?;
    let (sender, lines) = mpsc::channel();
    if let Some(stderr) = cargo.stderr.take() {
        forward_lines(stderr, Stream::Stderr, "cargo", Echo::Quiet, sender);
    }
    let started = Instant::now();
    let mut held = Vec::new();
    let mut showing = false;
    loop {
        let line = if showing {
            lines.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            lines.recv_timeout(SLOW.saturating_sub(started.elapsed()))
        };
        match line {
            Ok(line) if showing => show(&line.text),
            Ok(line) => held.push(line.text),
            Err(RecvTimeoutError::Timeout) => {
                showing = true;
                held.drain(..).for_each(|text| show(&text));
            }
            Err(RecvTimeoutError::Disconnected) => break, // cargo has closed its output
        }
    }
    let status = cargo
        .wait()
        .context(|| "cannot wait for cargo".to_string())?;
    if !status.success() {
        held.iter().for_each(|text| show(text));
        return Err(Error::new(format!("{building} failed")));
    }
    Ok(())
}

/// Writes one of cargo's lines to stderr, where cargo writes them; directly, so that it shows
/// from within a test too.
fn show(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
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

/// Gives the program `command` starts Ctrl-C as a terminal gives it: SIGINT at its default.
/// A test runner started in the background (`cargo test &`, some CI scripts) passes SIGINT on
/// ignored, and our servers keep ignoring a SIGINT that was ignored when they started, as a
/// program started with `&` should; a test of what Ctrl-C does must not depend on how its
/// runner was started. (Windows has no SIGINT disposition to pass on: nothing to do.)
pub fn with_ctrl_c(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        unsafe extern "C" {
            /// The C library's `signal`, which std links.
            fn signal(signum: std::ffi::c_int, handler: usize) -> usize;
        }
        const SIGINT: std::ffi::c_int = 2;
        const SIG_DFL: usize = 0;
        // SAFETY: between fork and exec only async-signal-safe calls are allowed; signal() is
        // one, and nothing else runs here.
        unsafe {
            command.pre_exec(|| {
                signal(SIGINT, SIG_DFL);
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = command;
}

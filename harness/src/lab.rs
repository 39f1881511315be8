//! A lab in a scratch folder of its own: its own registry file, workers, load balancer and
//! clients. Every test makes one, so tests run side by side without meeting each other's
//! workers or ports (every server listens on port 0, which the OS fills with a free port).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::armour::error::{Context, Error};
use common::registry::WorkerAddr;

use crate::process::{Echo, Running, program_path};

/// How long a program may take to start or a client to finish before we call it broken. Far
/// above what they need (milliseconds); it only stops a broken run from hanging forever.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How many names a new scratch folder tries before giving up: each taken name is a folder
/// left by an earlier run with our process id, which is rare; a hundred in a row is not
/// chance.
const MAX_NAME_TRIES: usize = 100;

/// Numbers the scratch folders of one process, so each gets a new one.
static NEXT_LAB: AtomicUsize = AtomicUsize::new(0);

/// A scratch folder with the registry file in it. Removed when dropped.
pub struct Lab {
    dir: PathBuf,
    /// Whether every program's lines are printed as they come (see [`Echo`]).
    echo: Echo,
}

/// A server that is up, and the port it listens on.
pub struct Server {
    /// The port from its "listening on" line.
    pub port: u16,
    /// Its process.
    pub process: Running,
}

/// What a client printed and how it exited.
#[derive(Debug)]
pub struct Finished {
    /// How the process ended.
    pub status: ExitStatus,
    /// Its stdout, one string a line.
    pub stdout: Vec<String>,
    /// Its stderr, one string a line.
    pub stderr: Vec<String>,
}

impl Lab {
    /// A new, empty scratch folder named after `name` under the system's temp folder; the
    /// programs' lines are kept for the caller, not printed (the tests).
    pub fn new(name: &str) -> Result<Lab, Error> {
        Lab::with_echo(name, Echo::Quiet)
    }

    /// Like [`Lab::new`], but every program's lines are also printed as `[tag] line` as they
    /// come (the demo).
    pub fn echoing(name: &str) -> Result<Lab, Error> {
        Lab::with_echo(name, Echo::Tagged)
    }

    /// A new scratch folder whose programs' lines are echoed or not. Always one this call
    /// creates, never one that exists: a folder left by a killed run would hold its stale
    /// registry, and on a shared machine another user could make a folder under the name we
    /// would pick, to read or feed our programs' registry.
    fn with_echo(name: &str, echo: Echo) -> Result<Lab, Error> {
        for _ in 0..MAX_NAME_TRIES {
            let number = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "factorial-lab-{name}-{}-{number}",
                std::process::id()
            ));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(Lab { dir, echo }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(e).context(|| format!("cannot create {}", dir.display()));
                }
            }
        }
        Err(Error::new(format!(
            "cannot create a scratch folder: {MAX_NAME_TRIES} names in a row are taken"
        )))
    }

    /// The scratch folder; programs run with it as their current directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry file, `worker_ports.txt` in the scratch folder.
    pub fn registry(&self) -> PathBuf {
        self.dir.join(common::registry::DEFAULT_REGISTRY)
    }

    /// A command for one of the lab's programs, run in the scratch folder.
    pub fn command(&self, program: &str) -> Result<Command, Error> {
        let mut command = Command::new(program_path(program)?);
        command.current_dir(&self.dir);
        Ok(command)
    }

    /// Starts any command under `tag`, echoing its lines if this lab echoes.
    pub fn start(&self, tag: &str, command: Command) -> Result<Running, Error> {
        Running::start(tag, command, self.echo)
    }

    /// Starts a worker with `args` and waits until it listens.
    pub fn start_worker(&self, tag: &str, args: &[&str]) -> Result<Server, Error> {
        let mut command = self.command("worker")?;
        command.args(args);
        self.start_server(tag, command, "Worker listening on ")
    }

    /// Starts `count` workers with `args`, one after another, so that the registry lists them
    /// in that order; they are tagged `worker 1`, `worker 2`, ….
    pub fn start_workers(&self, count: usize, args: &[&str]) -> Result<Vec<Server>, Error> {
        (1..=count)
            .map(|n| self.start_worker(&format!("worker {n}"), args))
            .collect()
    }

    /// Starts a load balancer on a free port with `args` and waits until it listens.
    pub fn start_load_balancer(&self, args: &[&str]) -> Result<Server, Error> {
        self.start_load_balancer_on(0, args)
    }

    /// Starts a load balancer on `port` (0: a free one) with `args` and waits until it listens.
    pub fn start_load_balancer_on(&self, port: u16, args: &[&str]) -> Result<Server, Error> {
        let mut command = self.command("load_balancer")?;
        command.args(["--port", &port.to_string()]).args(args);
        self.start_server("load_balancer", command, "Load Balancer listening on ")
    }

    /// Starts a server and reads its port from the end of its "listening on" line.
    pub fn start_server(&self, tag: &str, command: Command, ready: &str) -> Result<Server, Error> {
        let mut process = self.start(tag, command)?;
        let line = process.wait_for(ready, PATIENCE)?;
        let port = port_at_end(&line)
            .ok_or_else(|| Error::new(format!("{tag}: no port at the end of {line:?}")))?;
        Ok(Server { port, process })
    }

    /// Runs the client against the load balancer at `port` with `args`, typing `typed` at its
    /// prompt if given, and waits for it to finish.
    pub fn run_client(
        &self,
        port: u16,
        args: &[&str],
        typed: Option<&str>,
    ) -> Result<Finished, Error> {
        let mut command = self.command("client")?;
        command.args(["--port", &port.to_string()]).args(args);
        self.run_to_end("client", command, typed)
    }

    /// Runs a command to its end, typing `typed` into it first, and returns its output.
    pub fn run_to_end(
        &self,
        tag: &str,
        command: Command,
        typed: Option<&str>,
    ) -> Result<Finished, Error> {
        let mut process = self.start(tag, command)?;
        process.type_in(typed.unwrap_or(""))?;
        let status = process.wait_for_exit(PATIENCE)?;
        Ok(Finished {
            status,
            stdout: process.stdout_lines(),
            stderr: process.stderr_lines(),
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Leaving a scratch folder behind is untidy but harmless.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The port at the end of a line such as `Worker listening on 127.0.0.1:41234`.
pub fn port_at_end(line: &str) -> Option<u16> {
    line.rsplit(':').next()?.trim().parse().ok()
}

/// True when nothing listens on 127.0.0.1:`port` right now (the tests of docs/lab-guide.md need
/// the lab's 65432). Connections in TIME_WAIT there do not count: std binds with SO_REUSEADDR.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind((common::DEFAULT_HOST, port)).is_ok()
}

/// Whether a socket listens on TCP `port` on this machine, from the system's tables of
/// sockets (Linux's `/proc/net/tcp` and `/proc/net/tcp6`, Windows' `GetTcpTable`): learnt without connecting, since a connection is a
/// request to a lab's server, and an empty one stops the Python worker (worker_server.py
/// lines 43-45). `None` where there are no such tables.
pub fn listens(port: u16) -> Option<bool> {
    // Windows has no /proc; it gives the same tables through Win32.
    #[cfg(windows)]
    return crate::win32::listening_ports().map(|ports| ports.contains(&port));
    #[cfg(not(windows))]
    listens_in_proc(port)
}

/// [`listens`], from Linux's /proc/net/tcp and /proc/net/tcp6.
#[cfg(not(windows))]
fn listens_in_proc(port: u16) -> Option<bool> {
    /// The state number of a listening socket in those tables.
    const LISTEN: &str = "0A";
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        // Each line after the header: number, local address as HEX_IP:HEX_PORT, remote
        // address, state, ...
        let found = text.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|local| local.rsplit(':').next())
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            fields.get(3) == Some(&LISTEN) && local_port == Some(port)
        });
        if found {
            return Some(true);
        }
    }
    readable.then_some(false)
}

/// Sends `request` to 127.0.0.1:`port` in one write, as client.py does, and reads the answer
/// to the close. A read timeout turns a server that never answers into an error, not a hang.
pub fn ask(port: u16, request: &[u8]) -> Result<Vec<u8>, Error> {
    let doing = asking(port, request);
    let mut stream = connect_patiently(port).context(&doing)?;
    common::protocol::exchange(&mut stream, request).context(&doing)
}

/// [`ask`], with the answer as text.
pub fn ask_text(port: u16, request: &str) -> Result<String, Error> {
    Ok(String::from_utf8_lossy(&ask(port, request.as_bytes())?).into_owned())
}

/// A command that runs the Python lab's `load_balancer.py` (in `python_lab`) unchanged but
/// for SO_REUSEADDR (see [`python_reuseaddr_path`]), unbuffered, in this lab's folder, where it
/// reads `worker_ports.txt`. The Python load balancer binds its port without it, so after one
/// run the closed connections hold the port in TIME_WAIT for up to a minute and the next start
/// fails; with it, the next start needs no waiting.
pub fn python_load_balancer(lab: &Lab, python_lab: &Path) -> Result<Command, Error> {
    let mut command = Command::new(python().unwrap_or(PYTHONS[0]));
    command
        .arg("-u")
        .arg(python_lab.join("load_balancer.py"))
        .env("PYTHONPATH", python_reuseaddr_path(lab.dir())?)
        .current_dir(lab.dir());
    Ok(command)
}

/// The lines of client.py and load_balancer.py that name the lab's port (line 7 and line 64).
const PYTHON_PORT_LINE: &str = "port = 65432";

/// A copy of the Python lab in a folder under `lab`'s, with its port 65432 replaced by `port`
/// in client.py and load_balancer.py ([`PYTHON_PORT_LINE`]) and nothing else changed: the
/// Python lab on a port of a test's own, so that the test leaves 65432 as it found it. A lab
/// of the student's may listen there, and the connections a load balancer closes hold the
/// port for a minute after it stops, which would keep load_balancer.py out.
pub fn python_lab_on_port(lab: &Lab, python_lab: &Path, port: u16) -> Result<PathBuf, Error> {
    let folder = lab.dir().join(format!("python-lab-on-{port}"));
    fs::create_dir_all(&folder).context(|| format!("cannot create {}", folder.display()))?;
    for file in PYTHON_LAB_FILES {
        let from = python_lab.join(file);
        let text =
            fs::read_to_string(&from).context(|| format!("cannot read {}", from.display()))?;
        let text = match (file, text.matches(PYTHON_PORT_LINE).count()) {
            ("worker_server.py", _) => text,
            (_, 1) => text.replace(PYTHON_PORT_LINE, &format!("port = {port}")),
            (_, found) => {
                return Err(Error::new(format!(
                    "{} has {PYTHON_PORT_LINE:?} {found} times, not once",
                    from.display()
                )));
            }
        };
        let to = folder.join(file);
        fs::write(&to, text).context(|| format!("cannot write {}", to.display()))?;
    }
    Ok(folder)
}

/// Where README says the Python lab is when `PYTHON_LAB_DIR` names no other folder: beside this
/// repository's folder, in `shared/python-lab`.
pub const PYTHON_LAB_BESIDE: &str = "../shared/python-lab";

/// The Python lab's three files, which a folder must hold to be the Python lab.
const PYTHON_LAB_FILES: [&str; 3] = ["client.py", "load_balancer.py", "worker_server.py"];

/// The repository's top folder: this crate's parent.
fn repository() -> &'static Path {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR"));
    harness.parent().unwrap_or(harness)
}

/// The folder holding the Python lab's client.py, load_balancer.py and worker_server.py, or
/// why there is none: the folder `PYTHON_LAB_DIR` names, or else [`PYTHON_LAB_BESIDE`], as
/// README says. A relative `PYTHON_LAB_DIR` is taken from the current folder or, when not
/// there, from this repository's folder, where README's commands are typed (cargo runs each
/// package's tests in the package's own folder).
pub fn python_lab_files() -> Result<PathBuf, String> {
    let repository = repository();
    let dir = match std::env::var_os("PYTHON_LAB_DIR") {
        Some(given) => {
            let given = PathBuf::from(given);
            let from_repository = repository.join(&given);
            let dir = if given.exists() || given.is_absolute() {
                given
            } else {
                from_repository
            };
            dir.canonicalize()
                .map_err(|e| format!("PYTHON_LAB_DIR names {}: {e}", dir.display()))?
        }
        None => repository
            .join(PYTHON_LAB_BESIDE)
            .canonicalize()
            .map_err(|_| {
                format!(
                    "no Python lab at {}, where README says it is, and PYTHON_LAB_DIR is not set: \
                 set it to the folder with {}",
                    repository.join(PYTHON_LAB_BESIDE).display(),
                    PYTHON_LAB_FILES.join(", ")
                )
            })?,
    };
    match PYTHON_LAB_FILES
        .iter()
        .find(|file| !dir.join(file).exists())
    {
        Some(file) => Err(format!("{} has no {file}", dir.display())),
        None => Ok(dir),
    }
}

/// The folder holding the Python lab (see [`python_lab_files`]) when Python 3 is on PATH too
/// (see [`python`]), or why the tests that run the Python lab cannot.
pub fn python_lab_dir() -> Result<PathBuf, String> {
    let dir = python_lab_files()?;
    match python() {
        Some(_) => Ok(dir),
        None => Err(format!(
            "no Python 3 on PATH (none of {} runs)",
            PYTHONS.join(", ")
        )),
    }
}

/// The names Python 3 goes by: `python3` on Linux and macOS; on Windows `python` (or the
/// launcher `py`), where `python3` is missing or only a shortcut to the Microsoft Store.
const PYTHONS: [&str; 3] = ["python3", "python", "py"];

/// The first of [`PYTHONS`] that runs and is Python 3, looked for once; `None` when none is.
pub fn python() -> Option<&'static str> {
    static FOUND: OnceLock<Option<&'static str>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        PYTHONS.into_iter().find(|name| {
            // Python 2's `python` says its version on stderr, Python 3 on stdout.
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success() && out.stdout.starts_with(b"Python 3"))
        })
    })
}

/// A `sitecustomize.py` that makes every Python socket bind with SO_REUSEADDR, so that the
/// Python lab's scripts run unchanged, word for word (`python3 load_balancer.py`), yet can take
/// port 65432 while connections an earlier test closed there are in TIME_WAIT: Python runs
/// this file at start when its folder is on PYTHONPATH.
const REUSEADDR_SITECUSTOMIZE: &str = "\
import socket
plain_bind = socket.socket.bind
def bind(self, address):
    self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return plain_bind(self, address)
socket.socket.bind = bind
";

/// Writes [`REUSEADDR_SITECUSTOMIZE`] into a folder `python-reuseaddr` under `dir` and returns
/// that folder, for PYTHONPATH.
pub fn python_reuseaddr_path(dir: &Path) -> Result<PathBuf, Error> {
    let folder = dir.join("python-reuseaddr");
    fs::create_dir_all(&folder).context(|| format!("cannot create {}", folder.display()))?;
    let file = folder.join("sitecustomize.py");
    fs::write(&file, REUSEADDR_SITECUSTOMIZE)
        .context(|| format!("cannot write {}", file.display()))?;
    Ok(folder)
}

/// The commands a documentation page gives: each line of its `sh` blocks, a trailing
/// `# comment` and blank lines left out. docs/scaling.md and docs/lab-guide.md promise that a
/// test runs every one; their tests compare this with the commands they run.
pub fn shell_commands(page: &str) -> Vec<&str> {
    let mut in_shell_block = false;
    let mut commands = Vec::new();
    for line in page.lines() {
        if line.starts_with("```") {
            in_shell_block = line == "```sh";
            continue;
        }
        let command = line.split(" # ").next().unwrap_or_default().trim();
        if in_shell_block && !command.is_empty() {
            commands.push(command);
        }
    }
    commands
}

/// What differs between a page's commands and those a test runs: `(given but not run, run
/// but not given)`. Both empty when the page and the test agree.
pub fn commands_not_run<'a>(page: &'a str, run: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    let given = shell_commands(page);
    let not_run = given.iter().filter(|c| !run.contains(c)).copied().collect();
    let not_given = run.iter().filter(|c| !given.contains(c)).copied().collect();
    (not_run, not_given)
}

pub use crate::skips::say_skipped;

impl Server {
    /// The load balancer's lines so far that say a worker was marked down, read once it has
    /// been quiet a moment: attempts whose request another worker answered may still be ending.
    pub fn lines_marking_workers_down(&mut self) -> Vec<String> {
        self.process
            .drain_when_quiet(Duration::from_millis(300), PATIENCE)
            .iter()
            .filter(|line| line.text.contains("marked down"))
            .map(|line| line.text.clone())
            .collect()
    }

    /// Waits for the load balancer's next `count` "Forwarded to worker" lines and returns the
    /// worker port each names, in order: which worker served each request.
    pub fn wait_for_forwards(&mut self, count: usize) -> Result<Vec<u16>, Error> {
        (0..count)
            .map(|done| {
                let line = self
                    .process
                    .wait_for("Forwarded to worker ", PATIENCE)
                    .map_err(|e| Error::new(format!("{done} of {count} forwards seen: {e}")))?;
                line.trim_end_matches(')')
                    .rsplit(' ')
                    .next()
                    .and_then(|port| port.parse().ok())
                    .ok_or_else(|| Error::new(format!("no worker port in {line:?}")))
            })
            .collect()
    }
}

/// A request sent on a thread of its own, for a test that acts while it is in progress.
pub struct Pending(std::thread::JoinHandle<Result<String, Error>>);

/// Sends `request` like [`ask_text`], on a thread of its own.
pub fn ask_in_background(port: u16, request: &str) -> Pending {
    let request = request.to_string();
    Pending(std::thread::spawn(move || ask_text(port, &request)))
}

impl Pending {
    /// Waits for the answer.
    pub fn answer(self) -> Result<String, Error> {
        self.0
            .join()
            .map_err(|_| Error::new("the asking thread panicked"))?
    }
}

/// Sends `request`, then closes our sending side (as `nc -N` does), and reads the answer: how
/// a client says "that was all" — including "that was nothing".
pub fn ask_and_half_close(port: u16, request: &[u8]) -> Result<Vec<u8>, Error> {
    use std::io::Write;
    let doing = asking(port, request);
    let mut stream = connect_patiently(port).context(&doing)?;
    stream.write_all(request).context(&doing)?;
    stream.shutdown(std::net::Shutdown::Write).context(&doing)?;
    common::protocol::read_answer(&mut stream).context(&doing)
}

/// Says what a test was doing when its request failed.
fn asking(port: u16, request: &[u8]) -> impl Fn() -> String {
    let request = String::from_utf8_lossy(request).into_owned();
    move || format!("asking 127.0.0.1:{port} for {request:?} (waiting up to {PATIENCE:?})")
}

/// Connects to 127.0.0.1:`port` with a read timeout of [`PATIENCE`], so that a server that
/// never answers fails the test instead of hanging it.
fn connect_patiently(port: u16) -> std::io::Result<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect((common::DEFAULT_HOST, port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    Ok(stream)
}

/// A listener on 127.0.0.1 at a port the OS picks, and that port.
pub fn bind_loopback() -> Result<(TcpListener, u16), Error> {
    let listener = TcpListener::bind((common::DEFAULT_HOST, 0))
        .context(|| "cannot bind a port".to_string())?;
    let port = listener
        .local_addr()
        .context(|| "cannot read a port".to_string())?
        .port();
    Ok((listener, port))
}

/// A port that was free a moment ago, for a program that cannot be given port 0 and report
/// the port it got (nginx, HAProxy). Another program could take it meanwhile, so tests that
/// can use `--port 0` do.
pub fn free_port() -> Result<u16, Error> {
    Ok(bind_loopback()?.1)
}

/// `count` worker addresses where nothing can listen, for registries with dead entries: port
/// 1 on loopback addresses other than 127.0.0.1. No test binds there, and the OS never hands
/// out port 1, so unlike a port that was bound and let go, another test cannot get it. Each
/// connection to one is refused at once.
pub fn dead_addresses(count: usize) -> Vec<WorkerAddr> {
    (0..count)
        .map(|i| WorkerAddr {
            host: format!("127.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256),
            port: 1,
        })
        .collect()
}

/// A server like load_balancer.py: it binds without SO_REUSEADDR, prints its port, accepts one
/// connection and closes it first, so its end of that connection waits in TIME_WAIT.
const PYTHON_SERVER_LEFT_IN_TIME_WAIT: &str = "\
import socket
server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(('127.0.0.1', 0))
server.listen()
print(server.getsockname()[1], flush=True)
client, _ = server.accept()
client.close()
server.close()
";

/// A port that nothing listens on but a closed connection holds in TIME_WAIT, as the Python
/// load balancer leaves 65432 after serving: made by a small Python server (python3 must be
/// there) that closes a connection first.
pub fn port_in_time_wait(lab: &Lab) -> Result<u16, Error> {
    let mut python = Command::new(python().unwrap_or(PYTHONS[0]));
    python.args(["-c", PYTHON_SERVER_LEFT_IN_TIME_WAIT]);
    let mut server = lab.start("python server", python)?;
    let printed = server.wait_for("", PATIENCE)?;
    let port: u16 = printed
        .trim()
        .parse()
        .map_err(|_| Error::new(format!("the Python server printed {printed:?}")))?;
    let doing = || format!("making port {port} wait in TIME_WAIT");
    let mut stream = std::net::TcpStream::connect((common::DEFAULT_HOST, port)).context(doing)?;
    stream.set_read_timeout(Some(PATIENCE)).context(doing)?;
    // The server closes first; our close then moves its end into TIME_WAIT.
    let mut nothing = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut nothing).context(doing)?;
    drop(stream);
    server.wait_for_exit(PATIENCE)?;
    Ok(port)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// A port someone listens on is seen listening, without a connection to it; one nobody
    /// listens on is not.
    #[test]
    fn a_listening_port_is_seen_without_connecting() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let Some(seen) = listens(port) else {
            return say_skipped(
                "a_listening_port_is_seen_without_connecting",
                "this system has no /proc/net/tcp",
            );
        };
        assert!(seen);
        drop(listener);
        assert_eq!(listens(port), Some(false));
    }
}

//! What the load is sent to: our load balancer (reusing threads, or a new thread per
//! connection; with its status page watched, on request), one worker directly, and — when they
//! are installed — nginx's stream proxy, HAProxy and the Python lab's load balancer (on a port
//! of its own, not 65432), all in front of the same Rust workers.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::armour::error::{Context, Error};
use harness::Running;
use harness::lab::{Lab, free_port, python_lab_on_port, python_load_balancer};

use crate::load;
use crate::page::Watcher;

/// How long a target may take to answer its first request before we give up on it.
const STARTUP: Duration = Duration::from_secs(20);

/// Where Debian's nginx keeps its stream module (package libnginx-mod-stream).
const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// One thing to send load to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Our load balancer, `--threads reuse`: a fixed pool of threads, each accepting in turn.
    Ours,
    /// Our load balancer, `--threads spawn` (the default): a new thread for every connection.
    OursSpawn,
    /// [`Kind::Ours`] with `--status` on, its page fetched ten times a second (`page.rs`).
    OursStatus,
    /// [`Kind::Ours`] with `--status` on and a headless Chromium showing the page.
    OursBrowser,
    /// One of the workers, with no load balancer in front: the cost of the second hop.
    Direct,
    /// nginx's stream (TCP) proxy, round-robin.
    Nginx,
    /// HAProxy in TCP mode, round-robin.
    Haproxy,
    /// The Python lab's load_balancer.py.
    Python,
}

impl Kind {
    /// Every target, in the order the tables list them.
    pub const ALL: [Kind; 8] = [
        Kind::Ours,
        Kind::OursSpawn,
        Kind::OursStatus,
        Kind::OursBrowser,
        Kind::Direct,
        Kind::Nginx,
        Kind::Haproxy,
        Kind::Python,
    ];

    /// The targets measured unless `--targets` says otherwise: all but those with the status
    /// page, which answer a question of their own (docs/benchmarks.md).
    pub const DEFAULT: [Kind; 6] = [
        Kind::Ours,
        Kind::OursSpawn,
        Kind::Direct,
        Kind::Nginx,
        Kind::Haproxy,
        Kind::Python,
    ];

    /// The name `--targets` knows this target by.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::OursSpawn => "ours-spawn",
            Kind::OursStatus => "ours-status",
            Kind::OursBrowser => "ours-browser",
            Kind::Direct => "direct",
            Kind::Nginx => "nginx",
            Kind::Haproxy => "haproxy",
            Kind::Python => "python",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(text: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                format!(
                    "no target {text:?}: expected ours, ours-spawn, ours-status, ours-browser, \
                     direct, nginx, haproxy or python"
                )
            })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Ours => "ours (reuse threads)",
            Kind::OursSpawn => "ours (spawn per connection)",
            Kind::OursStatus => "ours (reuse threads) with its status page polled",
            Kind::OursBrowser => "ours (reuse threads) with Chromium on its status page",
            Kind::Direct => "one worker directly",
            Kind::Nginx => "nginx stream",
            Kind::Haproxy => "HAProxy",
            Kind::Python => "Python lab",
        })
    }
}

/// A started target; stopped when dropped.
pub struct Target {
    /// The port to send requests to.
    pub port: u16,
    process: Option<Running>,
    /// Whoever watches its status page.
    watcher: Option<Watcher>,
}

impl Drop for Target {
    fn drop(&mut self) {
        // The page's watcher first, so that it does not see the load balancer go.
        drop(self.watcher.take());
        if let Some(process) = &mut self.process {
            // One the soak killed has nothing left to stop.
            if !process.has_exited() {
                // nginx's workers outlive a killed master; every target stops cleanly on SIGTERM.
                process.terminate(Duration::from_secs(5));
            }
        }
    }
}

/// How often Linux counts a process's CPU time in /proc/PID/stat (USER_HZ, 100 on Linux).
#[cfg(not(windows))]
const TICKS_PER_SECOND: u32 = 100;

impl Target {
    /// Its process, for the soak to kill, freeze and count the threads of; `None` for a target
    /// with no process of its own.
    pub fn process(&mut self) -> Option<&mut Running> {
        self.process.as_mut()
    }

    /// The CPU time (user and system) its process has used so far, from Linux's
    /// /proc/PID/stat, all its threads included, also those that have ended; `None` for a
    /// target with no process of its own, or where /proc cannot be read. (For nginx, whose
    /// worker processes do the work, it is the master's alone.)
    pub fn cpu_time(&self) -> Option<Duration> {
        let pid = self.process.as_ref()?.pid();
        // Windows has no /proc; it tells the same through GetProcessTimes.
        #[cfg(windows)]
        return harness::win32::cpu_time(pid);
        #[cfg(not(windows))]
        proc_cpu_time(pid)
    }
}

/// The CPU time of process `pid` from /proc/PID/stat (see [`Target::cpu_time`]).
#[cfg(not(windows))]
fn proc_cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the name in parentheses: state, then 10 fields, then utime and stime.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs(ticks) / TICKS_PER_SECOND)
}

/// Whether `kind` can run here; the reason it cannot otherwise. `python_lab` is the Python
/// lab's folder, or why there is none (see `harness::lab::python_lab_dir`).
pub fn available(kind: Kind, python_lab: Result<&Path, &str>) -> Result<(), String> {
    match kind {
        Kind::Ours | Kind::OursSpawn | Kind::OursStatus | Kind::Direct => Ok(()),
        Kind::OursBrowser => harness::chromium::program().map(|_| ()),
        Kind::Nginx if !installed("nginx") => Err("nginx is not installed".into()),
        Kind::Nginx if !Path::new(NGINX_STREAM_MODULE).exists() => {
            Err(format!("no {NGINX_STREAM_MODULE} (libnginx-mod-stream)"))
        }
        Kind::Haproxy if !installed("haproxy") => Err("haproxy is not installed".into()),
        Kind::Python => python_lab.map(|_| ()).map_err(str::to_string),
        Kind::Nginx | Kind::Haproxy => Ok(()),
    }
}

/// True when `program` runs (it is on PATH) and prints its version.
fn installed(program: &str) -> bool {
    let flag = if program == "python3" {
        "--version"
    } else {
        "-v"
    };
    Command::new(program)
        .arg(flag)
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Where the servers' printed lines go while they are measured. Nobody reads them either way:
/// reading every line would take CPU from the servers themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOutput {
    /// A file per server in the scratch folder: the cost of logging, as in a lab.
    File,
    /// Thrown away: the servers without the cost of their log lines.
    Discard,
}

/// Starts a server whose output goes where `output` says.
fn start_server(
    lab: &Lab,
    tag: &str,
    command: Command,
    output: ServerOutput,
) -> Result<Running, Error> {
    match output {
        ServerOutput::Discard => Running::start_quiet(tag, command),
        ServerOutput::File => Running::start_to_file(tag, command, &log_path(lab, tag)),
    }
}

/// The file a server's lines go to with [`ServerOutput::File`]: its tag, spaces as dashes.
pub fn log_path(lab: &Lab, tag: &str) -> PathBuf {
    lab.dir().join(format!("{}.log", tag.replace(' ', "-")))
}

/// The workers (each with a pool of threads, so that they cost the load balancers in front as
/// little as possible), on ports we choose so no output needs reading.
pub fn start_workers(lab: &Lab, count: usize, output: ServerOutput) -> Result<Vec<Target>, Error> {
    (1..=count)
        .map(|n| start_worker(lab, &format!("worker {n}"), output))
        .collect()
}

/// One worker as [`start_workers`] starts them, tagged `tag`; it appends its port to the
/// registry, as a student's restarted worker does.
pub fn start_worker(lab: &Lab, tag: &str, output: ServerOutput) -> Result<Target, Error> {
    let port = free_port()?;
    let mut command = lab.command("worker")?;
    command.args(["--port", &port.to_string(), "--threads", "reuse"]);
    let process = start_server(lab, tag, command, output)?;
    ready(port, Some(process))
}

/// Starts `kind` in front of `workers` (ports), in `lab`'s folder.
pub fn start(
    kind: Kind,
    lab: &Lab,
    workers: &[u16],
    python_lab: Result<&Path, &str>,
    output: ServerOutput,
) -> Result<Target, Error> {
    let port = free_port()?;
    let command = match kind {
        Kind::Direct => return ready(workers[0], None),
        Kind::Ours | Kind::OursSpawn => {
            let threads = if kind == Kind::Ours { "reuse" } else { "spawn" };
            let mut command = lab.command("load_balancer")?;
            command.args(["--port", &port.to_string(), "--threads", threads]);
            command
        }
        Kind::OursStatus | Kind::OursBrowser => {
            let page = free_port()?;
            let mut command = lab.command("load_balancer")?;
            command.args(["--port", &port.to_string(), "--threads", "reuse"]);
            command.args(["--status", &format!("127.0.0.1:{page}")]);
            let process = start_server(lab, &kind.to_string(), command, output)?;
            let mut target = ready(port, Some(process))?;
            target.watcher = Some(if kind == Kind::OursStatus {
                Watcher::poll(page)
            } else {
                Watcher::browse(page)?
            });
            return Ok(target);
        }
        Kind::Nginx => nginx(lab, port, workers)?,
        Kind::Haproxy => haproxy(lab, port, workers)?,
        Kind::Python => {
            // A copy on `port`, so that a lab on 65432 and the benchmark leave each other be.
            let dir = python_lab_on_port(lab, python_lab.map_err(Error::new)?, port)?;
            let command = python_load_balancer(lab, &dir)?;
            let process = start_server(lab, "Python lab", command, output)?;
            return ready(port, Some(process));
        }
    };
    let process = start_server(lab, &kind.to_string(), command, output)?;
    ready(port, Some(process))
}

/// Waits until the target answers 1! = 1; a target that does not within [`STARTUP`] failed.
fn ready(port: u16, process: Option<Running>) -> Result<Target, Error> {
    let target = Target {
        port,
        process,
        watcher: None,
    };
    let deadline = Instant::now() + STARTUP;
    loop {
        if load::ask(port, "1").is_ok_and(|answer| answer == b"1") {
            return Ok(target);
        }
        if Instant::now() > deadline {
            return Err(Error::new(format!("nothing answers on port {port}")));
        }
        // Polling is fine here: this is start-up, not a measurement.
        thread::sleep(Duration::from_millis(20));
    }
}

/// nginx with only a stream block: one upstream of our workers, round-robin (its default).
fn nginx(lab: &Lab, port: u16, workers: &[u16]) -> Result<Command, Error> {
    let servers: String = workers
        .iter()
        .map(|w| format!("        server 127.0.0.1:{w};\n"))
        .collect();
    let dir = lab.dir().display();
    let config = format!(
        "load_module {NGINX_STREAM_MODULE};
worker_processes auto;
daemon off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
stream {{
    upstream workers {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_pass workers;
        proxy_connect_timeout 1s;
    }}
}}
"
    );
    let path = write_config(lab, "nginx.conf", &config)?;
    let mut command = Command::new("nginx");
    command
        .args(["-e", "stderr", "-p"])
        .arg(lab.dir())
        .arg("-c")
        .arg(path);
    Ok(command)
}

/// HAProxy in TCP mode, round-robin over our workers, in the foreground.
fn haproxy(lab: &Lab, port: u16, workers: &[u16]) -> Result<Command, Error> {
    let servers: String = workers
        .iter()
        .enumerate()
        .map(|(i, w)| format!("    server w{i} 127.0.0.1:{w}\n"))
        .collect();
    let config = format!(
        "global
    maxconn 4096
defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s
frontend lab
    bind 127.0.0.1:{port}
    default_backend workers
backend workers
    balance roundrobin
{servers}"
    );
    let path = write_config(lab, "haproxy.cfg", &config)?;
    let mut command = Command::new("haproxy");
    command.args(["-db", "-f"]).arg(path);
    Ok(command)
}

fn write_config(lab: &Lab, name: &str, text: &str) -> Result<PathBuf, Error> {
    let path = lab.dir().join(name);
    fs::write(&path, text).context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

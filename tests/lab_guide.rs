//! docs/lab-guide.md, run as a student runs it: each test below is one experiment of the
//! guide, and runs the guide's commands word for word (the constants below) in a scratch folder
//! of its own, through `sh -c "exec <command>"` with our programs first on PATH and PYTHON_LAB
//! naming the Python lab. It checks what the guide says the student sees: the transcript
//! lines, which worker served which request, the marked-down and back-up lines, the error
//! answers. `every_command_in_lab_guide_md_is_run_here` checks that the guide, and its answers
//! (docs/lab-guide-answers.md), give no command the tests do not run; experiment 9's test makes
//! the fixes that answer 9 describes.
//!
//! The Python parts run when python3 is on PATH and the Python lab is found (`python_lab_dir`:
//! the folder `PYTHON_LAB_DIR` names, or `../shared/python-lab` beside this repository, as in
//! tests/python_interop.rs); otherwise they say they skipped, in one summary at the end.
//!
//! To add an experiment: give each of its new commands a constant, list it in [`DOCUMENTED`],
//! and write `experiment_N_...` with a [`Room`] (and [`port_65432`] if it uses that port).
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use crate::support;

use std::env;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use harness::lab::{
    Finished, Lab, PATIENCE, Server, commands_not_run, listens, port_is_free, python_lab_dir,
    python_reuseaddr_path, say_skipped,
};
use harness::process::{Running, program_path, run_cargo_build};
use harness::slow::{Step, say_if_slow};
use support::{
    ADDED, BAD, BIG, Card, FROZEN, IN_TURN, KILLED, LOAD_BALANCER_FIXES, LONG, REGISTERS, SLOW,
    SMALL, WAITING, WORKER_FIXES, card_excerpt_matches, fixed,
};

// Setup: what a student types once per terminal. The tests do the same in their own way:
// `program_path` builds the programs (and `bench_is_built` the benchmark), `Room::command` puts
// their folder first on PATH and sets PYTHON_LAB, and each `Room` is a fresh scratch folder.

/// Builds the programs and the benchmark.
const BUILD: &str = "cargo build --release";
/// Puts them on PATH.
const PUT_ON_PATH: &str = r#"export PATH="$PWD/target/release:$PATH""#;
/// Names the Python lab's folder.
const NAME_PYTHON_LAB: &str = "export PYTHON_LAB=/path/to/python-lab";
/// A fresh folder to run in.
const SCRATCH_FOLDER: &str = "mkdir -p /tmp/lab-room && cd /tmp/lab-room";

/// The setup's commands, done by the harness rather than run.
const SETUP: &[&str] = &[BUILD, PUT_ON_PATH, NAME_PYTHON_LAB, SCRATCH_FOLDER];

// The Python lab (experiments 1, 5 and 8).

/// An empty registry before the Python workers start (they have no `--fresh-registry`).
const EMPTY_REGISTRY: &str = "rm -f worker_ports.txt";
/// worker_server.py.
const PYTHON_WORKER: &str = "python3 $PYTHON_LAB/worker_server.py";
/// load_balancer.py.
const PYTHON_LOAD_BALANCER: &str = "python3 $PYTHON_LAB/load_balancer.py";
/// client.py, which asks for the number at its prompt.
const PYTHON_CLIENT: &str = "python3 $PYTHON_LAB/client.py";

// Ours, as in experiment 1 (and again in 2 to 5 and 8).

/// Terminal 1: the first worker starts the registry afresh.
const FIRST_WORKER: &str = "worker --fresh-registry";
/// Terminals 2 and 3 (and 6 in experiment 3): one more worker each.
const WORKER: &str = "worker";
/// Terminal 4.
const LOAD_BALANCER: &str = "load_balancer";
/// Terminal 5: asks for the number at its prompt.
const CLIENT: &str = "client";

/// Experiment 2: six requests, to see the turns.
const ROUND_ROBIN_CLIENTS: [&str; 6] = [
    "client 1", "client 2", "client 3", "client 4", "client 5", "client 6",
];

/// Experiment 3: four requests after a fourth worker joined.
const CLIENTS_AFTER_A_NEW_WORKER: [&str; 4] = ["client 7", "client 8", "client 9", "client 10"];

/// Experiment 4: asked four times after each change.
const CLIENT_20: &str = "client 20";
/// Experiment 4: terminal 4 again, giving up on a frozen worker's answer after 5 s.
const SHORT_WORKER_TIMEOUT: &str = "load_balancer --worker-timeout 5";
/// Experiment 4: how the guide's transcript of a worker frozen past that ends its first line.
const GIVEN_UP: &str = "): timed out";

/// Experiment 5: a large n, which ours serves.
const CLIENT_5000: &str = "client 5000 | wc -c";
/// Experiment 5: bad input to ours, and the one line each client prints on stderr.
const BAD_INPUT: [(&str, &str); 4] = [
    ("client abc", r#"Error: not a whole number: "abc""#),
    (
        "client -5",
        r#"Error: negative number "-5": n! is defined for n >= 0 only"#,
    ),
    ("client 1.5", r#"Error: not a whole number: "1.5""#),
    (
        "client 100001",
        "Error: 100001 is above this worker's limit of 100000",
    ),
];
/// Experiment 5: after the bad input, three times.
const CLIENT_12: &str = "client 12";

/// Experiment 6: workers that accept a huge n.
const FIRST_BIG_WORKER: &str = "worker --fresh-registry --max-n 1000000";
/// Experiment 6: the other two.
const BIG_WORKER: &str = "worker --max-n 1000000";
/// Experiment 6: to the worker with the fewest requests in progress.
const LEAST_CONNECTIONS: &str = "load_balancer --strategy least-connections";
/// Experiment 6: to a worker at random.
const RANDOM: &str = "load_balancer --strategy random";
/// Experiment 6: one huge request. In a release build 1000000! takes seconds, in the debug
/// build the tests use over thirty: far longer, either way, than the small requests sent while
/// it is in progress.
const HUGE: &str = "client 1000000 | wc -c";
/// Experiment 6: many small ones.
const CLIENT_5: &str = "client 5";
/// Experiment 6: a client that waits one second only.
const IMPATIENT: &str = "client --timeout 1 1000000";

/// Experiment 7: the benchmark with 1, 2 and 3 workers.
const BENCHMARKS: [&str; 3] = [
    "bench --workers 1 --clients 8 --requests 2000 --n 1000 --rounds 3 --targets ours-spawn",
    "bench --workers 2 --clients 8 --requests 2000 --n 1000 --rounds 3 --targets ours-spawn",
    "bench --workers 3 --clients 8 --requests 2000 --n 1000 --rounds 3 --targets ours-spawn",
];

/// Experiment 9: the student's own copies of the Python lab, to grade and then fix.
const COPY_PYTHON_LAB: &str = "cp $PYTHON_LAB/*.py .";
/// Experiment 9: the Python worker graded.
const CHECK_PYTHON_WORKER: &str = r#"lab check --worker "python3 worker_server.py""#;
/// Experiment 9: the Python load balancer graded, with Python workers behind it.
const CHECK_PYTHON_LOAD_BALANCER: &str =
    r#"lab check --load-balancer "python3 load_balancer.py" --worker "python3 worker_server.py""#;
/// Experiment 9: ours graded, with our workers behind it.
const CHECK_OUR_LOAD_BALANCER: &str = r#"lab check --load-balancer "load_balancer --port 0""#;

/// The handout, as a student reads it.
const GUIDE: &str = include_str!("../docs/lab-guide.md");
/// Its answers, for the instructor.
const ANSWERS: &str = include_str!("../docs/lab-guide-answers.md");

/// Every command the experiments give; each is run by a test below.
const DOCUMENTED: &[&str] = &[
    EMPTY_REGISTRY,
    PYTHON_WORKER,
    PYTHON_LOAD_BALANCER,
    PYTHON_CLIENT,
    FIRST_WORKER,
    WORKER,
    LOAD_BALANCER,
    CLIENT,
    ROUND_ROBIN_CLIENTS[0],
    ROUND_ROBIN_CLIENTS[1],
    ROUND_ROBIN_CLIENTS[2],
    ROUND_ROBIN_CLIENTS[3],
    ROUND_ROBIN_CLIENTS[4],
    ROUND_ROBIN_CLIENTS[5],
    CLIENTS_AFTER_A_NEW_WORKER[0],
    CLIENTS_AFTER_A_NEW_WORKER[1],
    CLIENTS_AFTER_A_NEW_WORKER[2],
    CLIENTS_AFTER_A_NEW_WORKER[3],
    CLIENT_20,
    SHORT_WORKER_TIMEOUT,
    CLIENT_5000,
    BAD_INPUT[0].0,
    BAD_INPUT[1].0,
    BAD_INPUT[2].0,
    BAD_INPUT[3].0,
    CLIENT_12,
    FIRST_BIG_WORKER,
    BIG_WORKER,
    LEAST_CONNECTIONS,
    RANDOM,
    HUGE,
    CLIENT_5,
    IMPATIENT,
    BENCHMARKS[0],
    BENCHMARKS[1],
    BENCHMARKS[2],
    COPY_PYTHON_LAB,
    CHECK_PYTHON_WORKER,
    CHECK_PYTHON_LOAD_BALANCER,
    CHECK_OUR_LOAD_BALANCER,
];

/// The numbers experiment 1 types, and their factorials.
const LAB_AS_WRITTEN: [(&str, &str); 3] =
    [("12", "479001600"), ("15", "1307674368000"), ("7", "5040")];

/// What client.py and our client print for an answer: the prompt, then the answer on the
/// same line (what the student typed is not part of the output).
fn answered(factorial: &str) -> String {
    format!("Enter an integer to calculate its factorial: Factorial received: {factorial}")
}

/// Port 65432: load_balancer.py and client.py know no other, and it is our programs' default,
/// so the experiments that use it run one at a time.
static PORT_65432: Mutex<()> = Mutex::new(());

/// Whether a test here has said already that another program holds port 65432: it is said
/// once for the run, however many tests find it so.
static SAID_PORT_HELD: AtomicBool = AtomicBool::new(false);

/// What a held port 65432 means, and what to do: printed by the first test that finds it so.
const PORT_HELD: &str = "\
Port 65432 is held: a program listens there (a lab left running, or another run of these
tests). The guide's commands need it, since load_balancer.py and client.py know no other port,
so every test here that runs them fails at once until it is free.
`ss -ltnp 'sport = :65432'` shows what listens there; stop it and run the tests again.";

/// How long a test waits for connections in TIME_WAIT to free port 65432: Linux holds them for
/// 60 s and may reap them a few seconds late, so a minute is not always enough.
const TIME_WAIT_PATIENCE: Duration = Duration::from_secs(90);

/// Whether a test here has said already that port 65432 is in TIME_WAIT.
static SAID_TIME_WAIT: AtomicBool = AtomicBool::new(false);

/// What a port 65432 in TIME_WAIT means: printed by the first test that waits for it.
const PORT_IN_TIME_WAIT: &str = "\
Port 65432 is held by connections closed moments ago (TIME_WAIT) by a program that did not set
SO_REUSEADDR, such as load_balancer.py run by hand: nothing listens there, and it frees within
a minute. The tests here that need it wait for it.";

/// Takes port 65432 for one test: waits for the other tests here to be done with it, then
/// fails at once if another program listens there (waiting would not free it), saying why
/// once for the whole run. Connections closed there moments ago (TIME_WAIT) by a program
/// without SO_REUSEADDR keep even ours out, but free within a minute: for those it waits, up
/// to [`TIME_WAIT_PATIENCE`], saying so once. (Those our programs leave do not hold it for us: they bind
/// with SO_REUSEADDR, and so does the Python load balancer here, see [`Room`].)
fn port_65432() -> MutexGuard<'static, ()> {
    let guard = one_at_a_time_on_65432();
    let deadline = Instant::now() + TIME_WAIT_PATIENCE;
    while !port_is_free(common::DEFAULT_LB_PORT) {
        let (said, text) = if listens(common::DEFAULT_LB_PORT) == Some(true) {
            (&SAID_PORT_HELD, PORT_HELD)
        } else {
            (&SAID_TIME_WAIT, PORT_IN_TIME_WAIT)
        };
        if !said.swap(true, Ordering::Relaxed) {
            // Written directly, as the harness captures what a test prints.
            let _ = writeln!(std::io::stderr(), "\n{text}\n");
        }
        assert!(
            text != PORT_HELD,
            "port 65432 is held by another program (said above, when a test first found it)"
        );
        assert!(
            Instant::now() < deadline,
            "port 65432 is still held by connections in TIME_WAIT after {TIME_WAIT_PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    guard
}

/// Waits for the other tests here to be done with port 65432.
fn one_at_a_time_on_65432() -> MutexGuard<'static, ()> {
    // A test that failed while holding the lock poisoned it; the port is free again anyway.
    PORT_65432.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether `sh` runs here, as the guide's commands need (Windows has none, unless Git Bash or
/// the like is installed); if not, `test` says that it skipped and why.
fn sh_runs(test: &str) -> bool {
    let runs = Command::new("sh")
        .args(["-c", "exit 0"])
        .status()
        .is_ok_and(|status| status.success());
    if !runs {
        say_skipped(
            test,
            "the guide's commands are sh commands, and sh is not on PATH (docs/lab-guide.md \
             gives their PowerShell forms for Windows)",
        );
    }
    runs
}

/// The folder holding the built programs (and the benchmark, once built).
fn programs_folder() -> PathBuf {
    program_path("worker")
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the benchmark beside the programs: `cargo test --workspace` has built it already,
/// `cargo test --test end_to_end lab_guide::` has not. In our own profile, as `program_path` does; cargo's
/// lines show when that takes long (see `run_cargo_build`).
fn bench_is_built() {
    let folder = programs_folder();
    if let Some(cargo) = env::var_os("CARGO") {
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "bench", "--manifest-path"]);
        build.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        if folder.ends_with("release") {
            build.arg("--release");
        }
        run_cargo_build(build).unwrap();
    }
    let bench = folder.join(format!("bench{}", env::consts::EXE_SUFFIX));
    assert!(bench.exists(), "no {}", bench.display());
}

/// A scratch folder where a test runs the guide's commands, as in the guide's /tmp/lab-room.
struct Room {
    lab: Lab,
    /// PYTHON_LAB, or why the Python lab cannot run here.
    python_lab: Result<PathBuf, String>,
    /// A folder with a `sitecustomize.py`, for PYTHONPATH: Python runs it before the script,
    /// and it makes every socket bind with SO_REUSEADDR. Why: load_balancer.py binds 65432
    /// without it, so it cannot start while connections that an earlier test closed on 65432
    /// are in TIME_WAIT (up to a minute). A student waits that minute, as the guide says; a
    /// test cannot. The command stays the guide's, word for word; only the socket option
    /// differs.
    python_reuseaddr: PathBuf,
    /// Says what the experiment is doing once it has run for a couple of seconds: several
    /// take tens of seconds, and the harness says nothing until a test is over.
    _slow: Step,
}

/// What each experiment's test does that takes long, said once it has run for a couple of
/// seconds, by the number in its room's name (`guide-6`).
const WHAT_TAKES_LONG: [&str; 9] = [
    "the Python lab's five terminals, then ours, each asked for 12, 15 and 7",
    "our lab, asked for 12, 15 and 7, then for 1 to 6",
    "four workers, asked for 7 to 10",
    "a worker stopped, one frozen for a second's wait and woken, 12 requests",
    "bad input: three Python workers killed, then ours asked the same",
    "1000000! twice, several seconds each (over thirty in a debug build)",
    "the benchmark with 1, 2 and 3 workers, a few seconds each",
    "two Python workers and ours, asked for 12, 15, 7, 5000 and 12",
    "lab check five times, on the Python lab, ours, and the fixed copies: about a minute",
];

impl Room {
    fn new(name: &str) -> Room {
        let lab = Lab::new(name).unwrap();
        let python_reuseaddr = python_reuseaddr_path(lab.dir()).unwrap();
        // The harness names each test's thread after the test.
        let test = std::thread::current().name().unwrap_or(name).to_string();
        let what = name
            .strip_prefix("guide-")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| WHAT_TAKES_LONG.get(n.wrapping_sub(1)))
            .unwrap_or(&"the guide's commands");
        Room {
            lab,
            python_lab: python_lab_dir(),
            python_reuseaddr,
            _slow: say_if_slow(format!("test {test} is running: {what}")),
        }
    }

    /// The Python lab's folder, or `None` after saying that `part` skipped and why.
    fn python_lab_for(&self, part: &str) -> Option<&Path> {
        match &self.python_lab {
            Ok(dir) => Some(dir),
            Err(why) => {
                say_skipped(part, why);
                None
            }
        }
    }

    /// A command of the guide as a student's shell runs it, in this folder.
    fn command(&self, line: &str) -> Command {
        let mut path = vec![programs_folder()];
        path.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("exec {line}"))
            .current_dir(self.lab.dir())
            .env("PATH", env::join_paths(path).unwrap())
            // Python buffers what it prints to a pipe (not to a terminal): unbuffered, each
            // line arrives as it is printed, as on a student's screen.
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONPATH", &self.python_reuseaddr)
            // A student's shell has neither: the benchmark would rebuild under cargo, and
            // the guide names the Python lab in PYTHON_LAB, not PYTHON_LAB_DIR.
            .env_remove("CARGO")
            .env_remove("PYTHON_LAB_DIR");
        if let Ok(dir) = &self.python_lab {
            command.env("PYTHON_LAB", dir);
        }
        command
    }

    /// Starts a command that runs until stopped (or for a long time) under `tag`.
    fn start(&self, tag: &str, line: &str) -> Running {
        self.lab.start(tag, self.command(line)).unwrap()
    }

    /// Starts a worker or a load balancer and waits until it listens.
    fn start_server(&self, tag: &str, line: &str) -> Server {
        let ready = if line.contains("load_balancer") {
            "Load Balancer listening on "
        } else {
            "Worker listening on "
        };
        self.lab
            .start_server(tag, self.command(line), ready)
            .unwrap()
    }

    /// Runs a command to its end.
    fn run(&self, line: &str) -> Finished {
        self.lab.run_to_end(line, self.command(line), None).unwrap()
    }

    /// Runs a client that asks for its number, typing `typed` and Enter at the prompt.
    fn run_typing(&self, line: &str, typed: &str) -> Finished {
        let tag = format!("{line} ({typed})");
        let keys = format!("{typed}\n");
        self.lab
            .run_to_end(&tag, self.command(line), Some(&keys))
            .unwrap()
    }
}

/// The numbers the OS chooses (workers' and clients' ports) replaced by `PORT`, so that two
/// runs' lines compare.
fn without_ports(line: &str) -> String {
    let mut line = line.to_string();
    for marker in [
        "('127.0.0.1', ",
        "registered on port ",
        "Worker listening on 127.0.0.1:",
    ] {
        if let Some(start) = line.find(marker).map(|at| at + marker.len()) {
            let digits = line[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            line.replace_range(start..start + digits, "PORT");
        }
    }
    line
}

/// Every line a program printed so far, ports masked.
fn transcript(process: &mut Running) -> Vec<String> {
    process
        .drain()
        .iter()
        .map(|line| without_ports(&line.text))
        .collect()
}

/// What a client printed on stdout; it must have exited 0.
fn stdout_of(finished: &Finished) -> Vec<String> {
    assert!(finished.status.success(), "{finished:?}");
    finished.stdout.clone()
}

/// The next `count` numbers `worker` says it received.
fn numbers_received(worker: &mut Server, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let line = worker
                .process
                .wait_for("Worker received number: ", PATIENCE)
                .unwrap();
            line.rsplit(' ').next().unwrap().to_string()
        })
        .collect()
}

/// Waits until one of `workers` prints a line with `pattern`, and says which: for a request
/// whose worker a strategy chose.
fn wait_for_any(workers: &mut [Server], pattern: &str) -> usize {
    let deadline = Instant::now() + PATIENCE;
    loop {
        for (index, worker) in workers.iter_mut().enumerate() {
            let short = Duration::from_millis(20);
            if worker.process.wait_for(pattern, short).is_ok() {
                return index;
            }
        }
        assert!(
            Instant::now() < deadline,
            "none of {} workers printed {pattern:?} in {PATIENCE:?}",
            workers.len()
        );
    }
}

/// Our lab of experiment 1 (terminals 1 to 4): three workers, registered in this order, and
/// the load balancer on 65432.
fn start_our_lab(room: &Room) -> (Vec<Server>, Server) {
    let workers = vec![
        room.start_server("worker 1", FIRST_WORKER),
        room.start_server("worker 2", WORKER),
        room.start_server("worker 3", WORKER),
    ];
    (workers, room.start_server("load_balancer", LOAD_BALANCER))
}

/// Types 12, 15 and 7 at `client`'s prompt, one run each, as experiment 1 says, and returns
/// what the clients printed. Waits for each request's last lines, the load balancer's answer
/// line and the serving worker's, so later waits look past them.
fn ask_as_written(
    room: &Room,
    client: &str,
    workers: &mut [Server],
    load_balancer: &mut Server,
) -> Vec<String> {
    let mut printed = Vec::new();
    for (turn, (n, _)) in LAB_AS_WRITTEN.iter().enumerate() {
        printed.extend(stdout_of(&room.run_typing(client, n)));
        load_balancer
            .process
            .wait_for("Response sent to client: ", PATIENCE)
            .unwrap();
        workers[turn]
            .process
            .wait_for("Worker sent factorial: ", PATIENCE)
            .unwrap();
    }
    printed
}

/// Each program's lines in experiment 1, ports masked.
#[derive(Debug, PartialEq)]
struct Transcript {
    workers: Vec<Vec<String>>,
    load_balancer: Vec<String>,
    clients: Vec<String>,
}

/// What experiment 1 shows with our programs; with `forwarded` false, the Python lab's, which
/// is the same without the registry's lines and the `Forwarded to worker` lines.
fn transcript_as_written(forwarded: bool) -> Transcript {
    let mut load_balancer = vec!["Load Balancer listening on 127.0.0.1:65432".to_string()];
    if forwarded {
        load_balancer.push("Reading the workers from FOLDER/worker_ports.txt".to_string());
    }
    let mut workers = Vec::new();
    for (n, factorial) in LAB_AS_WRITTEN {
        load_balancer.push("Client connected: ('127.0.0.1', PORT)".to_string());
        load_balancer.push(format!("Received request for factorial of {n}"));
        if forwarded && workers.is_empty() {
            // Ours: how many workers the first read found.
            load_balancer.push("3 workers in worker_ports.txt".to_string());
        }
        if forwarded {
            load_balancer.push("Forwarded to worker ('127.0.0.1', PORT)".to_string());
        }
        load_balancer.push(format!("Response sent to client: {factorial}"));
        workers.push(vec![
            "Worker registered on port PORT".to_string(),
            "Worker listening on 127.0.0.1:PORT".to_string(),
            "Connected by ('127.0.0.1', PORT)".to_string(),
            format!("Worker received number: {n}"),
            format!("Worker sent factorial: {factorial}"),
        ]);
    }
    Transcript {
        workers,
        load_balancer,
        clients: LAB_AS_WRITTEN.iter().map(|(_, f)| answered(f)).collect(),
    }
}

/// Stops a program as Ctrl-C does, and waits until it has gone.
fn press_ctrl_c(process: &mut Running) {
    process.interrupt().unwrap();
    process.wait_for_exit(PATIENCE).unwrap();
}

/// Experiment 1: the Python lab and ours, started and asked for 12, 15 and 7 as the guide
/// says, print the same lines in every terminal, but for the ports and our load balancer's
/// `Forwarded to worker` line, which names the worker whose turn it was: 1, 2, 3.
#[test]
fn experiment_1_the_lab_as_written() {
    if !sh_runs("experiment_1_the_lab_as_written") {
        return;
    }
    let _port = port_65432();
    let room = Room::new("guide-1");

    if room
        .python_lab_for("experiment_1_the_lab_as_written (the Python lab)")
        .is_some()
    {
        assert!(room.run(EMPTY_REGISTRY).status.success());
        let mut workers: Vec<Server> = (1..=3)
            .map(|n| room.start_server(&format!("worker {n}"), PYTHON_WORKER))
            .collect();
        let mut load_balancer = room.start_server("load_balancer", PYTHON_LOAD_BALANCER);
        let clients = ask_as_written(&room, PYTHON_CLIENT, &mut workers, &mut load_balancer);
        let python = Transcript {
            workers: workers
                .iter_mut()
                .map(|w| transcript(&mut w.process))
                .collect(),
            load_balancer: transcript(&mut load_balancer.process),
            clients,
        };
        assert_eq!(python, transcript_as_written(false));
        // Stopped with Ctrl-C before ours starts, as the guide says.
        for server in workers.iter_mut().chain([&mut load_balancer]) {
            press_ctrl_c(&mut server.process);
        }
    }

    let (mut workers, mut load_balancer) = start_our_lab(&room);
    let clients = ask_as_written(&room, CLIENT, &mut workers, &mut load_balancer);
    let forwarded: Vec<String> = load_balancer
        .process
        .printed()
        .into_iter()
        .filter(|l| l.starts_with("Forwarded to worker "))
        .collect();
    let ports: Vec<String> = workers
        .iter()
        .map(|w| format!("Forwarded to worker ('127.0.0.1', {})", w.port))
        .collect();
    assert_eq!(forwarded, ports, "the workers in turn");
    // The registry's full path names the scratch folder, which differs from run to run.
    let folder = room.lab.dir().display().to_string();
    let ours = Transcript {
        workers: workers
            .iter_mut()
            .map(|w| transcript(&mut w.process))
            .collect(),
        load_balancer: transcript(&mut load_balancer.process)
            .iter()
            .map(|line| line.replace(&folder, "FOLDER"))
            .collect(),
        clients,
    };
    assert_eq!(ours, transcript_as_written(true));
}

/// Experiment 2: after experiment 1's three requests, `client 1` to `client 6` go to the
/// workers in the order they registered, round and round: 1 and 4 to the first, 2 and 5 to the
/// second, 3 and 6 to the third, as both the load balancer's and the workers' lines say.
#[test]
fn experiment_2_round_robin_made_visible() {
    if !sh_runs("experiment_2_round_robin_made_visible") {
        return;
    }
    let _port = port_65432();
    let room = Room::new("guide-2");
    let (mut workers, mut load_balancer) = start_our_lab(&room);
    // Experiment 1's requests; the lines they waited for are behind us.
    ask_as_written(&room, CLIENT, &mut workers, &mut load_balancer);

    for (n, client) in (1..=6).zip(ROUND_ROBIN_CLIENTS) {
        let factorial: u64 = (1..=n).product();
        assert_eq!(
            stdout_of(&room.run(client)),
            [format!("Factorial received: {factorial}")]
        );
    }
    let ports: Vec<u16> = workers.iter().map(|w| w.port).collect();
    let forwarded = load_balancer.wait_for_forwards(6).unwrap();
    assert_eq!(forwarded, [ports.clone(), ports].concat());
    for (worker, expected) in workers.iter_mut().zip([["1", "4"], ["2", "5"], ["3", "6"]]) {
        assert_eq!(
            numbers_received(worker, 2),
            expected,
            "{}",
            worker.process.tag
        );
    }
}

/// Experiment 3: a fourth worker started while the lab runs is in the registry at once, and
/// of the next four requests, the load balancer (never restarted) sends one to each of the four
/// workers, the new one included, and says `4 workers in worker_ports.txt` (after experiment
/// 1's `3 workers …`), once.
#[test]
fn experiment_3_a_worker_added_while_the_lab_runs() {
    if !sh_runs("experiment_3_a_worker_added_while_the_lab_runs") {
        return;
    }
    let _port = port_65432();
    let room = Room::new("guide-3");
    let (mut workers, mut load_balancer) = start_our_lab(&room);
    // Experiment 1's requests, with three workers.
    ask_as_written(&room, CLIENT, &mut workers, &mut load_balancer);
    workers.push(room.start_server("worker 4", WORKER));
    let registry = fs::read_to_string(room.lab.registry()).unwrap();
    assert_eq!(registry.lines().count(), 4, "{registry}");

    for (n, client) in (7..=10).zip(CLIENTS_AFTER_A_NEW_WORKER) {
        let factorial: u64 = (1..=n).product();
        assert_eq!(
            stdout_of(&room.run(client)),
            [format!("Factorial received: {factorial}")]
        );
    }
    let mut forwarded = load_balancer.wait_for_forwards(4).unwrap();
    let new_worker = workers[3].port;
    let served_by_the_new_one = forwarded.iter().position(|&p| p == new_worker);
    assert!(served_by_the_new_one.is_some(), "{forwarded:?}");
    let n = served_by_the_new_one.unwrap() + 7;
    assert_eq!(numbers_received(&mut workers[3], 1), [n.to_string()]);
    forwarded.sort();
    let mut ports: Vec<u16> = workers.iter().map(|w| w.port).collect();
    ports.sort();
    assert_eq!(forwarded, ports, "one request each");
    let counts: Vec<String> = load_balancer
        .process
        .printed()
        .into_iter()
        .filter(|l| l.ends_with(" in worker_ports.txt"))
        .collect();
    assert_eq!(
        counts,
        [
            "3 workers in worker_ports.txt",
            "4 workers in worker_ports.txt"
        ]
    );
}

/// Experiment 4, with the four workers of experiment 3: after Ctrl-C in terminal 2, four
/// `client 20` are all answered, the stopped worker's turn going to another worker, and it is
/// marked down once, with the lines the guide shows. After Ctrl-Z in terminal 3, the same, the frozen
/// worker found by its missed health check. After `fg` it is back up and serves again. Frozen
/// again behind `load_balancer --worker-timeout 5` until its request is given up, it is back up
/// after `fg` all the same, and the load balancer prints the guide's lines for it, in order.
#[test]
fn experiment_4_a_stopped_and_a_frozen_worker() {
    if !sh_runs("experiment_4_a_stopped_and_a_frozen_worker") {
        return;
    }
    let _port = port_65432();
    let room = Room::new("guide-4");
    let (mut workers, mut load_balancer) = start_our_lab(&room);
    workers.push(room.start_server("worker 4", WORKER));
    let twenty = ["Factorial received: 2432902008176640000"];
    let ask_four_times = |load_balancer: &mut Server| {
        for _ in 0..4 {
            assert_eq!(stdout_of(&room.run(CLIENT_20)), twenty);
        }
        load_balancer.wait_for_forwards(4).unwrap()
    };

    // Ctrl-C in terminal 2.
    press_ctrl_c(&mut workers[1].process);
    let stopped = format!("('127.0.0.1', {})", workers[1].port);
    let forwarded = ask_four_times(&mut load_balancer);
    assert!(!forwarded.contains(&workers[1].port), "{forwarded:?}");
    let printed = load_balancer.process.printed();
    let refused = format!("Error communicating with worker {stopped}: cannot connect: ");
    assert!(
        printed
            .iter()
            .any(|l| l.starts_with(&refused) && l.ends_with("connection refused")),
        "{printed:#?}"
    );
    let marked_down = format!("Worker {stopped} marked down; skipping it for 5s");
    assert_eq!(printed.iter().filter(|l| **l == marked_down).count(), 1);

    // Ctrl-Z in terminal 3.
    workers[2].process.signal("STOP").unwrap();
    let frozen = format!("('127.0.0.1', {})", workers[2].port);
    let forwarded = ask_four_times(&mut load_balancer);
    assert!(!forwarded.contains(&workers[2].port), "{forwarded:?}");
    let printed = load_balancer.process.printed();
    // The seconds waited are a second or more: 1.0 on a quiet machine, and later on busy
    // cores, where the hedge's round trip and the threads' wake-ups add to them.
    for (before, after) in [
        (
            format!("Worker {frozen} has not answered in "),
            "s; asking worker ",
        ),
        (
            format!("Worker {frozen} is slow: no answer in "),
            "s while worker ",
        ),
    ] {
        let waited = printed.iter().find_map(|line| {
            let (seconds, _) = line.strip_prefix(&before)?.split_once(after)?;
            seconds.parse::<f64>().ok()
        });
        assert!(
            waited.is_some_and(|seconds| seconds >= 1.0),
            "{before}…{after}\n{printed:#?}"
        );
    }

    // `fg` in terminal 3.
    workers[2].process.signal("CONT").unwrap();
    let back_up = format!("Worker {frozen} is back up");
    load_balancer.process.wait_for(&back_up, PATIENCE).unwrap();
    let forwarded = ask_four_times(&mut load_balancer);
    assert!(forwarded.contains(&workers[2].port), "{forwarded:?}");
    assert!(!forwarded.contains(&workers[1].port), "{forwarded:?}");

    // Frozen for longer: Ctrl-C in terminal 4, then `load_balancer --worker-timeout 5` there,
    // Ctrl-Z in terminal 3 again, and `fg` only after terminal 4 gave up on its answer.
    press_ctrl_c(&mut load_balancer.process);
    let mut load_balancer = room.start_server("load_balancer", SHORT_WORKER_TIMEOUT);
    workers[2].process.signal("STOP").unwrap();
    ask_four_times(&mut load_balancer);
    let given_up = format!("Error communicating with worker {frozen}: timed out");
    load_balancer.process.wait_for(&given_up, PATIENCE).unwrap();
    workers[2].process.signal("CONT").unwrap();
    // Back up at its next health check: within the longest cool-down (a minute), and the
    // check's own wait.
    load_balancer
        .process
        .wait_for(&back_up, 2 * PATIENCE)
        .unwrap();
    let shown: Vec<String> = guide_transcript(GIVEN_UP)
        .iter()
        .map(|line| without_ports(line))
        .collect();
    let printed = transcript(&mut load_balancer.process);
    let mut rest = printed.iter();
    assert!(
        shown.iter().all(|line| rest.any(|l| l == line)),
        "{shown:#?}\nnot in this order in\n{printed:#?}"
    );
}

/// The lines of the guide's one ```text block that has a line holding `key`.
fn guide_transcript(key: &str) -> Vec<&'static str> {
    let mut blocks = GUIDE.split("```text\n").skip(1).filter_map(|rest| {
        let block: Vec<&str> = rest.split("\n```").next()?.lines().collect();
        block.iter().any(|l| l.contains(key)).then_some(block)
    });
    let block = blocks
        .next()
        .unwrap_or_else(|| panic!("no transcript holds {key:?}"));
    assert!(blocks.next().is_none(), "two transcripts hold {key:?}");
    block
}

/// Experiment 5. The Python lab: 5000, abc and -5 each kill the worker they reach and get an
/// empty answer; 1.5 and 12 then meet dead workers' turns and get `Error: Worker communication
/// failed.` Ours: 5000! arrives whole, abc, -5 and 1.5 are refused by the load balancer (no
/// worker sees them), 100001 by a worker, each with its one line on stderr and exit code 1, and
/// three `client 12` are served by the three workers, all alive.
#[test]
fn experiment_5_bad_input() {
    if !sh_runs("experiment_5_bad_input") {
        return;
    }
    let _port = port_65432();
    let room = Room::new("guide-5");

    if room
        .python_lab_for("experiment_5_bad_input (the Python lab)")
        .is_some()
    {
        assert!(room.run(EMPTY_REGISTRY).status.success());
        let mut workers: Vec<Server> = (1..=3)
            .map(|n| room.start_server(&format!("worker {n}"), PYTHON_WORKER))
            .collect();
        let mut load_balancer = room.start_server("load_balancer", PYTHON_LOAD_BALANCER);
        for (worker, typed) in workers.iter_mut().zip(["5000", "abc", "-5"]) {
            let printed = stdout_of(&room.run_typing(PYTHON_CLIENT, typed));
            assert_eq!(printed, [answered("")], "{typed}");
            worker.process.wait_for_exit(PATIENCE).unwrap();
            let traceback = worker.process.stderr_lines();
            assert!(
                traceback.iter().any(|l| l.starts_with("ValueError: ")),
                "{typed}: {traceback:#?}"
            );
        }
        for (worker, typed) in workers.iter().zip(["1.5", "12"]) {
            let printed = stdout_of(&room.run_typing(PYTHON_CLIENT, typed));
            assert_eq!(
                printed,
                [answered("Error: Worker communication failed.")],
                "{typed}"
            );
            let error = format!(
                "Error communicating with worker ('127.0.0.1', {}): [Errno 111] Connection refused",
                worker.port
            );
            load_balancer.process.wait_for(&error, PATIENCE).unwrap();
        }
        press_ctrl_c(&mut load_balancer.process);
    }

    let (mut workers, mut load_balancer) = start_our_lab(&room);
    assert_eq!(stdout_of(&room.run(CLIENT_5000)), ["16347"]);
    let mut served = load_balancer.wait_for_forwards(1).unwrap();
    for (client, error) in BAD_INPUT {
        let finished = room.run(client);
        assert_eq!(finished.status.code(), Some(1), "{client}: {finished:?}");
        assert_eq!(finished.stderr, [error], "{client}");
        assert!(finished.stdout.is_empty(), "{client}: {finished:?}");
        if client == "client 100001" {
            // Each worker refuses it in turn; the refusal goes to the client after the last.
            for _ in &workers {
                let refused = format!("refused: {error}");
                load_balancer.process.wait_for(&refused, PATIENCE).unwrap();
            }
        } else {
            let refused = format!("Refused request: {error}");
            load_balancer.process.wait_for(&refused, PATIENCE).unwrap();
        }
    }
    for _ in 0..3 {
        assert_eq!(
            stdout_of(&room.run(CLIENT_12)),
            ["Factorial received: 479001600"]
        );
    }
    let twelves = load_balancer.wait_for_forwards(3).unwrap();
    let mut ports: Vec<u16> = workers.iter().map(|w| w.port).collect();
    let mut sorted = twelves.clone();
    sorted.sort();
    ports.sort();
    assert_eq!(sorted, ports, "each worker serves a 12");
    served.extend(twelves);

    // Each worker saw only what the load balancer forwarded to it: 5000 or 12, and 100001,
    // which every worker refused (before its 12); abc, -5 and 1.5 never left the load balancer.
    for port in &served {
        let worker = workers.iter_mut().find(|w| w.port == *port).unwrap();
        worker
            .process
            .wait_for("Worker sent factorial: ", PATIENCE)
            .unwrap();
    }
    let refused = "Worker refused request: Error: 100001 is above this worker's limit of 100000";
    for worker in &workers {
        let printed = worker.process.stdout_lines();
        assert!(printed.iter().any(|l| l == refused), "{printed:#?}");
    }
    let mut received: Vec<String> = workers
        .iter_mut()
        .flat_map(|w| w.process.printed())
        .filter_map(|l| Some(l.strip_prefix("Worker received number: ")?.to_string()))
        .collect();
    received.sort();
    assert_eq!(received, ["12", "12", "12", "5000"]);
    let printed = load_balancer.process.printed();
    assert!(
        !printed.iter().any(|l| l.contains("marked down")),
        "{printed:#?}"
    );
}

/// Experiment 6. Least-connections: while one worker computes 1000000!, six `client 5` all go
/// to the other two. Random: six `client 5` are all answered while a huge one is in progress
/// (where they go is chance). `client --timeout 1 1000000` gives up after its second with the
/// guide's message and exit code 1.
#[test]
fn experiment_6_random_and_least_connections() {
    if !sh_runs("experiment_6_random_and_least_connections") {
        return;
    }
    let _port = port_65432();
    let room = Room::new("guide-6");
    let mut workers = [
        room.start_server("worker 1", FIRST_BIG_WORKER),
        room.start_server("worker 2", BIG_WORKER),
        room.start_server("worker 3", BIG_WORKER),
    ];
    let small_ones = |load_balancer: &mut Server| {
        for _ in 0..6 {
            assert_eq!(stdout_of(&room.run(CLIENT_5)), ["Factorial received: 120"]);
        }
        load_balancer.wait_for_forwards(6).unwrap()
    };

    let mut load_balancer = room.start_server("load_balancer", LEAST_CONNECTIONS);
    // Terminal 5 waits for its answer longer than this test runs (see HUGE). The client is
    // killed when dropped; its worker computes on until the workers are killed at the end.
    let _huge = room.start("huge client", HUGE);
    let busy = wait_for_any(&mut workers, "Worker received number: 1000000");
    let forwarded = small_ones(&mut load_balancer);
    assert!(
        !forwarded.contains(&workers[busy].port),
        "a small request went to the busy worker {}: {forwarded:?}",
        workers[busy].port
    );

    // Ctrl-C in terminal 4, then random.
    press_ctrl_c(&mut load_balancer.process);
    let mut load_balancer = room.start_server("load_balancer", RANDOM);
    let _huge_again = room.start("huge client again", HUGE);
    wait_for_any(&mut workers, "Worker received number: 1000000");
    small_ones(&mut load_balancer);

    let impatient = room.run(IMPATIENT);
    assert_eq!(impatient.status.code(), Some(1), "{impatient:?}");
    assert_eq!(
        impatient.stderr,
        ["no answer from the load balancer at 127.0.0.1:65432 within 1 s (--timeout)"]
    );
}

/// Experiment 7: the benchmark runs with 1, 2 and 3 workers ("1 worker", "2 workers"), each
/// run a table of one row, our load balancer as the students start it (a thread per
/// connection), with no errors and no `ours ÷ target` column (its numbers are not checked: no
/// timing assertions).
#[test]
fn experiment_7_scaling_with_the_benchmark() {
    if !sh_runs("experiment_7_scaling_with_the_benchmark") {
        return;
    }
    bench_is_built();
    let room = Room::new("guide-7");
    for (workers, line) in ["1 worker", "2 workers", "3 workers"]
        .into_iter()
        .zip(BENCHMARKS)
    {
        let printed = stdout_of(&room.run(line)).join("\n");
        let title =
            format!("c = 8, n = 1000, {workers}, 2000 requests a run, medians of 3 rounds:");
        assert!(printed.contains(&title), "{printed}");
        assert!(!printed.contains("÷"), "{printed}");
        let rows: Vec<&str> = printed
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(" ms |"))
            .collect();
        assert_eq!(rows.len(), 1, "{printed}");
        assert!(
            rows[0].starts_with("| ours (spawn per connection) |"),
            "{printed}"
        );
        assert_eq!(
            rows[0].split('|').nth(6).map(str::trim),
            Some("0"),
            "errors"
        );
    }
}

/// Experiment 8: client.py through our load balancer gets 12!, 15! and 7! from two Python
/// workers and one of ours, in turn. 5000 then reaches the two Python workers, which both die
/// of Python's 4300-digit limit, and goes no further: the client gets the two-workers error,
/// our worker never sees 5000, and it serves the next 12.
#[test]
fn experiment_8_mixed_languages_and_the_big_n_trap() {
    if !sh_runs("experiment_8_mixed_languages_and_the_big_n_trap") {
        return;
    }
    let _port = port_65432();
    let room = Room::new("guide-8");
    if room
        .python_lab_for("experiment_8_mixed_languages_and_the_big_n_trap")
        .is_none()
    {
        return;
    }
    assert!(room.run(EMPTY_REGISTRY).status.success());
    let mut workers = [
        room.start_server("python worker 1", PYTHON_WORKER),
        room.start_server("python worker 2", PYTHON_WORKER),
        room.start_server("worker 3", WORKER),
    ];
    let mut load_balancer = room.start_server("load_balancer", LOAD_BALANCER);
    let ports: Vec<u16> = workers.iter().map(|w| w.port).collect();

    for (typed, factorial) in LAB_AS_WRITTEN {
        let printed = stdout_of(&room.run_typing(PYTHON_CLIENT, typed));
        assert_eq!(printed, [answered(factorial)]);
    }
    assert_eq!(load_balancer.wait_for_forwards(3).unwrap(), ports);

    let printed = stdout_of(&room.run_typing(PYTHON_CLIENT, "5000"));
    assert_eq!(
        printed,
        [answered(
            "Error: Worker communication failed: two workers took this request and gave no \
             answer, so it is not sent to more."
        )]
    );
    for python in &mut workers[..2] {
        python.process.wait_for_exit(PATIENCE).unwrap();
        let traceback = python.process.stderr_lines();
        assert!(
            traceback
                .iter()
                .any(|l| l
                    .starts_with("ValueError: Exceeds the limit (4300 digits) for integer string")),
            "{traceback:#?}"
        );
        let closed = format!(
            "Error communicating with worker ('127.0.0.1', {}): closed without an answer",
            python.port
        );
        load_balancer.process.wait_for(&closed, PATIENCE).unwrap();
    }

    let printed = stdout_of(&room.run_typing(PYTHON_CLIENT, "12"));
    assert_eq!(printed, [answered("479001600")]);
    assert_eq!(load_balancer.wait_for_forwards(1).unwrap(), [ports[2]]);
    let ours = &mut workers[2];
    assert_eq!(numbers_received(ours, 2), ["7", "12"]);
    let printed = ours.process.printed();
    assert!(!printed.iter().any(|l| l.contains("5000")), "{printed:#?}");
}

/// Experiment 9: `lab check` passes ours on every row and fails the Python lab on exactly its
/// known faults (the worker on bad requests and a slow client; the load balancer on the cut
/// 1500!, bad requests, a killed worker and a frozen one), quoting the evidence the guide
/// shows; then, with the copies fixed as answer 9 (docs/lab-guide-answers.md) says, every row of both
/// passes.
#[test]
fn experiment_9_grading_and_fixing_the_python_lab() {
    if !sh_runs("experiment_9_grading_and_fixing_the_python_lab") {
        return;
    }
    let room = Room::new("guide-9");
    if room
        .python_lab_for("experiment_9_grading_and_fixing_the_python_lab")
        .is_none()
    {
        return;
    }
    assert!(room.run(COPY_PYTHON_LAB).status.success());
    let every_row = [
        SMALL, LONG, BIG, BAD, SLOW, WAITING, IN_TURN, KILLED, FROZEN, ADDED,
    ];
    Card::of(&room.run(CHECK_OUR_LOAD_BALANCER)).assert_rows(&every_row, &[]);

    let worker = Card::of(&room.run(CHECK_PYTHON_WORKER));
    worker.assert_rows(&[REGISTERS, SMALL, LONG, WAITING], &[BIG, BAD, SLOW]);
    // The guide's excerpt of this card, as printed (times and ports aside).
    let excerpt = guide_transcript(&format!("  FAIL  {BIG}"));
    if let Err(why) = card_excerpt_matches(&excerpt, &worker.stdout) {
        panic!(
            "docs/lab-guide.md's card, experiment 9: {why}\n{}",
            worker.stdout
        );
    }
    for evidence in [
        "sent \"abc\": got nothing: the connection closed without an answer",
        "ValueError: invalid literal for int() with base 10: 'abc'",
        "while another client was still typing, asked for 12!: no answer within 10 s, where 12! is \"479001600\"",
        "4 of 7 properties hold.",
    ] {
        assert!(worker.stdout.contains(evidence), "{}", worker.stdout);
    }
    let _port = port_65432();
    let balancer = Card::of(&room.run(CHECK_PYTHON_LOAD_BALANCER));
    let (held, failed) = (
        [SMALL, SLOW, WAITING, IN_TURN, ADDED],
        [LONG, BIG, BAD, KILLED, FROZEN],
    );
    balancer.assert_rows(&held, &failed);
    for evidence in [
        "got its first 1024 digits of 4115: the answer was cut",
        "with worker 2 frozen, asked for",
    ] {
        assert!(balancer.stdout.contains(evidence), "{}", balancer.stdout);
    }
    // Which request meets the killed worker depends on where the turn stood; the answer it
    // gets does not.
    let after_the_kill = balancer.stdout.lines().any(|line| {
        line.contains("after worker 2 was killed, asked for")
            && line.contains("got \"Error: Worker communication failed.\"")
    });
    assert!(after_the_kill, "{}", balancer.stdout);

    // The student fixes the copies as answer 9 of docs/lab-guide-answers.md says.
    let dir = room.lab.dir();
    let fixed_worker = fixed(dir, "worker_server.py", WORKER_FIXES);
    fs::write(dir.join("worker_server.py"), fixed_worker).unwrap();
    let fixed_balancer = fixed(dir, "load_balancer.py", LOAD_BALANCER_FIXES);
    fs::write(dir.join("load_balancer.py"), fixed_balancer).unwrap();
    let worker_rows = [REGISTERS, SMALL, LONG, BIG, BAD, SLOW, WAITING];
    Card::of(&room.run(CHECK_PYTHON_WORKER)).assert_rows(&worker_rows, &[]);
    Card::of(&room.run(CHECK_PYTHON_LOAD_BALANCER)).assert_rows(&every_row, &[]);
}

/// The handout and its answers give no command in a `sh` block that no test runs (the
/// setup's are done by the harness: see [`SETUP`]), and every command the tests run is in the
/// handout.
#[test]
fn every_command_in_lab_guide_md_is_run_here() {
    let pages = [GUIDE, ANSWERS].concat();
    let run: Vec<&str> = DOCUMENTED.iter().chain(SETUP).copied().collect();
    let (not_run, not_in_page) = commands_not_run(&pages, &run);
    assert!(not_run.is_empty(), "not run by a test: {not_run:#?}");
    assert!(
        not_in_page.is_empty(),
        "not in docs/lab-guide.md: {not_in_page:#?}"
    );
}

/// The handout holds no answers: they are on a page of their own, one for each experiment,
/// which README's links for instructors name and the handout does not, so the handout can go
/// to the students whole.
#[test]
fn the_answers_are_on_a_page_of_their_own() {
    let experiments = GUIDE.lines().filter(|l| is_numbered(l, "## ")).count();
    let answers = ANSWERS.lines().filter(|l| is_numbered(l, "")).count();
    assert!(experiments >= 9, "{experiments} experiments found");
    assert_eq!(answers, experiments, "an answer for each experiment");
    for answer_word in [
        "For the instructor",
        "lab-guide-answers",
        "**The numbers that change.**",
    ] {
        assert!(
            !GUIDE.contains(answer_word),
            "docs/lab-guide.md holds {answer_word:?}"
        );
    }
    let readme = include_str!("../README.md");
    assert!(
        readme.contains("(docs/lab-guide-answers.md)"),
        "README does not link to the answers"
    );
}

/// Whether `line` starts with `prefix` and a number and a dot, as `## 3. ...` (an experiment)
/// and `3. **...` (its answer) do.
fn is_numbered(line: &str, prefix: &str) -> bool {
    line.strip_prefix(prefix).is_some_and(|rest| {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(". ")
    })
}

/// With port 65432 held by another program (made so here, by binding it), each test that needs
/// it fails at once instead of waiting for it, and the reason is said once for the run, not
/// once for each test.
#[test]
fn a_held_port_65432_is_said_once_and_fails_its_tests_at_once() {
    if !sh_runs("a_held_port_65432_is_said_once_and_fails_its_tests_at_once") {
        return;
    }
    let _ours = one_at_a_time_on_65432();
    let _held = hold_port_65432();
    let needing_the_port = [
        "experiment_2_round_robin_made_visible",
        "experiment_3_a_worker_added_while_the_lab_runs",
    ];
    // This test file again, running only those two; both of its outputs in one, in order.
    let output = Command::new("sh")
        .args(["-c", r#"exec "$0" --exact "$@" 2>&1"#])
        .arg(env::current_exe().unwrap())
        .args(needing_the_port.map(|test| support::test_name!(test)))
        .env_remove("LAB_REQUIRE_ALL")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(101), "{printed}");
    assert_eq!(printed.matches(PORT_HELD).count(), 1, "{printed}");
    for test in needing_the_port {
        assert!(
            printed.contains(&format!("test {} ... FAILED", support::test_name!(test))),
            "{printed}"
        );
    }
    assert!(
        printed.contains("test result: FAILED. 0 passed; 2 failed"),
        "{printed}"
    );
}

/// Binds port 65432 as a lab left running would. Another run of these tests may have it for
/// a while: this waits for it (up to [`PATIENCE`]), as a person would, rather than stop that.
fn hold_port_65432() -> TcpListener {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match TcpListener::bind((common::DEFAULT_HOST, common::DEFAULT_LB_PORT)) {
            Ok(listener) => return listener,
            Err(e) => assert!(Instant::now() < deadline, "cannot hold port 65432: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

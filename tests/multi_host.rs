//! End to end across machines: hosts made of network namespaces (`harness::hosts`), joined by a
//! switch on the private subnet 10.77.0.0/24, with workers on two hosts, the load balancer on
//! a third and the client on a fourth, all sharing one registry file as a shared folder would.
//! Each test runs the commands docs/scaling.md gives, word for word (the constants below), and
//! `every_command_in_scaling_md_is_run_here` checks the page gives no other. The tests need
//! root and `ip`; without them they say they skipped (CI runs them as root).
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use harness::hosts::Hosts;
use harness::lab::{Lab, PATIENCE, Server, commands_not_run, say_skipped};
use harness::process::{StopGently, program_path};
use harness::products::installed;

/// Host 1 (10.77.0.2): the first worker, which starts the lab afresh.
const WORKER_ON_HOST_1: &str = "worker --host 10.77.0.2 --fresh-registry";
/// Host 2 (10.77.0.3): the second worker.
const WORKER_ON_HOST_2: &str = "worker --host 10.77.0.3";
/// Host 3 (10.77.0.4): the load balancer, with a short connect timeout for a lost host.
const LOAD_BALANCER_ON_HOST_3: &str = "load_balancer --host 10.77.0.4 --connect-timeout 0.5";
/// Host 4: a student's client.
const CLIENT_ON_HOST_4: &str = "client --host 10.77.0.4 12";
/// Without a shared folder: host 1's worker prints its line, then starts.
const PRINT_LINE_ON_HOST_1: &str = "worker --host 10.77.0.2 --port 7000 --print-registry-line";
/// Host 1's worker on the port its printed line names.
const WORKER_7000_ON_HOST_1: &str = "worker --host 10.77.0.2 --port 7000";
/// Host 2 listens on every address, so it must say which one to advertise.
const PRINT_LINE_ON_HOST_2: &str =
    "worker --host 0.0.0.0 --advertise 10.77.0.3 --port 7000 --print-registry-line";
/// Host 2's worker on the port its printed line names.
const WORKER_7000_ON_HOST_2: &str = "worker --host 0.0.0.0 --advertise 10.77.0.3 --port 7000";
/// Host 3: HAProxy's configuration from the registry.
const PRINT_HAPROXY_CONFIG: &str =
    "load_balancer --host 10.77.0.4 --print-haproxy-config > haproxy.cfg";
/// Host 3: HAProxy in the foreground.
const HAPROXY: &str = "haproxy -f haproxy.cfg";
/// Host 3: nginx's configuration from the registry.
const PRINT_NGINX_CONFIG: &str = "load_balancer --host 10.77.0.4 --print-nginx-config > nginx.conf";
/// Host 3: nginx in the foreground, from the folder that holds nginx.conf.
const NGINX: &str = "nginx -p . -c nginx.conf -e stderr";

/// Every command docs/scaling.md gives; each is run by a test below.
const DOCUMENTED: &[&str] = &[
    WORKER_ON_HOST_1,
    WORKER_ON_HOST_2,
    LOAD_BALANCER_ON_HOST_3,
    CLIENT_ON_HOST_4,
    PRINT_LINE_ON_HOST_1,
    WORKER_7000_ON_HOST_1,
    PRINT_LINE_ON_HOST_2,
    WORKER_7000_ON_HOST_2,
    PRINT_HAPROXY_CONFIG,
    HAPROXY,
    PRINT_NGINX_CONFIG,
    NGINX,
];

/// The answer to `CLIENT_ON_HOST_4`, as the client prints it.
const TWELVE_FACTORIAL: &str = "Factorial received: 479001600";

/// The hosts of these tests: workers on 1 and 2, the load balancer on 3, the client on 4.
const HOSTS: usize = 4;

/// The hosts, or `None` after saying why `test` skipped.
fn hosts_for(test: &str) -> Option<Hosts> {
    if let Some(why) = Hosts::unavailable() {
        say_skipped(test, &why);
        return None;
    }
    Some(Hosts::create(HOSTS).unwrap())
}

/// A documented command run on `host`, in folder `dir` (the shared folder, or the host's
/// own), with our programs found where cargo built them. A `> FILE` at its end is returned
/// for the caller to write the output to.
fn on_host(hosts: &Hosts, host: usize, dir: &Path, line: &str) -> (Command, Option<String>) {
    let (line, redirect) = match line.split_once(" > ") {
        Some((line, file)) => (line, Some(file.to_string())),
        None => (line, None),
    };
    let mut words = line.split_whitespace();
    let program = words.next().unwrap();
    let path = match program {
        "worker" | "load_balancer" | "client" => program_path(program).unwrap(),
        other => other.into(),
    };
    let args: Vec<&str> = words.collect();
    let mut command = hosts.command(host, &path, &args);
    command.current_dir(dir);
    (command, redirect)
}

/// Starts a documented server command on `host` and waits for its "listening on" line.
fn start_on(hosts: &Hosts, lab: &Lab, host: usize, dir: &Path, line: &str) -> Server {
    let (command, _) = on_host(hosts, host, dir, line);
    let ready = if line.starts_with("worker") {
        "Worker listening on "
    } else {
        "Load Balancer listening on "
    };
    lab.start_server(&format!("host {host}"), command, ready)
        .unwrap()
}

/// Runs a documented command on `host` to its end; it must succeed. Returns its stdout lines,
/// which are also written to the file a `> FILE` names.
fn run_on(hosts: &Hosts, lab: &Lab, host: usize, dir: &Path, line: &str) -> Vec<String> {
    let (command, redirect) = on_host(hosts, host, dir, line);
    let done = lab
        .run_to_end(&format!("host {host}"), command, None)
        .unwrap();
    assert!(done.status.success(), "{line}: {done:?}");
    if let Some(file) = redirect {
        fs::write(dir.join(file), done.stdout.join("\n") + "\n").unwrap();
    }
    done.stdout
}

/// The client on host 4 asks for 12! and gets it.
fn client_gets_its_answer(hosts: &Hosts, lab: &Lab) {
    let printed = run_on(hosts, lab, 4, lab.dir(), CLIENT_ON_HOST_4);
    assert_eq!(printed, [TWELVE_FACTORIAL]);
}

/// The hosts that served the load balancer's next `count` requests, from its
/// `Forwarded to worker ('10.77.0.2', 41234)` lines.
fn served_by(lb: &mut Server, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let line = lb
                .process
                .wait_for("Forwarded to worker ", PATIENCE)
                .unwrap();
            line.split('\'').nth(1).unwrap().to_string()
        })
        .collect()
}

/// Four requests alternate between the two hosts: round-robin across machines.
fn round_robin_alternates(hosts: &Hosts, lab: &Lab, lb: &mut Server) {
    for _ in 0..4 {
        client_gets_its_answer(hosts, lab);
    }
    let served = served_by(lb, 4);
    let (a, b) = (Hosts::address(1), Hosts::address(2));
    let alternating = |first: &String, second: &String| {
        served == [first.clone(), second.clone(), first.clone(), second.clone()]
    };
    assert!(alternating(&a, &b) || alternating(&b, &a), "{served:?}");
}

/// Workers on hosts 1 and 2 register in one shared file, the load balancer on host 3 reads
/// it, and the client on host 4 gets its answers; round-robin alternates between the hosts;
/// killing host 1's worker sends every request to host 2; the load balancer, listening beyond
/// loopback, warned once that the protocol has no authentication.
#[test]
fn workers_on_two_hosts_share_one_registry() {
    let Some(hosts) = hosts_for("workers_on_two_hosts_share_one_registry") else {
        return;
    };
    let lab = Lab::new("multi-host").unwrap();
    let shared = lab.dir();
    let mut worker_1 = start_on(&hosts, &lab, 1, shared, WORKER_ON_HOST_1);
    let _worker_2 = start_on(&hosts, &lab, 2, shared, WORKER_ON_HOST_2);
    let mut lb = start_on(&hosts, &lab, 3, shared, LOAD_BALANCER_ON_HOST_3);
    round_robin_alternates(&hosts, &lab, &mut lb);

    worker_1.process.kill();
    for _ in 0..3 {
        client_gets_its_answer(&hosts, &lab);
    }
    assert_eq!(served_by(&mut lb, 3), vec![Hosts::address(2); 3]);
    let warnings = lb
        .process
        .drain()
        .iter()
        .filter(|line| {
            line.stream == harness::process::Stream::Stderr
                && line.text.contains("no authentication")
        })
        .count();
    assert_eq!(warnings, 1, "{:#?}", lb.process.seen);
}

/// Host 1's link is cut (`ip link set eth0 down`) while its worker runs: its requests time
/// out on connecting (--connect-timeout 0.5) and go to host 2; every client gets its answer.
#[test]
fn a_host_cut_off_is_bypassed() {
    let Some(hosts) = hosts_for("a_host_cut_off_is_bypassed") else {
        return;
    };
    let lab = Lab::new("cut-off").unwrap();
    let shared = lab.dir();
    let _worker_1 = start_on(&hosts, &lab, 1, shared, WORKER_ON_HOST_1);
    let _worker_2 = start_on(&hosts, &lab, 2, shared, WORKER_ON_HOST_2);
    let mut lb = start_on(&hosts, &lab, 3, shared, LOAD_BALANCER_ON_HOST_3);
    round_robin_alternates(&hosts, &lab, &mut lb);

    hosts.cut(1).unwrap();
    for _ in 0..3 {
        client_gets_its_answer(&hosts, &lab);
    }
    assert_eq!(served_by(&mut lb, 3), vec![Hosts::address(2); 3]);
    let lost = format!("Error communicating with worker ('{}'", Hosts::address(1));
    let seen = &lb.process.seen;
    assert!(seen.iter().any(|l| l.text.starts_with(&lost)), "{seen:#?}");
}

/// Without a shared folder: each worker prints its registry line on its own host, the lines
/// go into the load balancer's registry by hand, and the workers started with the same flags
/// serve, host 2's listening on every address and advertising 10.77.0.3.
#[test]
fn registry_lines_collected_by_hand() {
    let Some(hosts) = hosts_for("registry_lines_collected_by_hand") else {
        return;
    };
    let lab = Lab::new("by-hand").unwrap();
    let folders: Vec<_> = (1..=3)
        .map(|host| {
            let dir = lab.dir().join(format!("host{host}"));
            fs::create_dir(&dir).unwrap();
            dir
        })
        .collect();
    let line_1 = run_on(&hosts, &lab, 1, &folders[0], PRINT_LINE_ON_HOST_1);
    let line_2 = run_on(&hosts, &lab, 2, &folders[1], PRINT_LINE_ON_HOST_2);
    assert_eq!(line_1, ["10.77.0.2:7000"]);
    assert_eq!(line_2, ["10.77.0.3:7000"]);
    let registry = format!("{}\n{}\n", line_1[0], line_2[0]);
    fs::write(folders[2].join("worker_ports.txt"), registry).unwrap();

    let _worker_1 = start_on(&hosts, &lab, 1, &folders[0], WORKER_7000_ON_HOST_1);
    let _worker_2 = start_on(&hosts, &lab, 2, &folders[1], WORKER_7000_ON_HOST_2);
    let mut lb = start_on(&hosts, &lab, 3, &folders[2], LOAD_BALANCER_ON_HOST_3);
    round_robin_alternates(&hosts, &lab, &mut lb);
}

/// The same two workers behind HAProxy or nginx on host 3, configured by our load balancer
/// from the shared registry: the client on host 4 gets its answers, also after host 1's
/// worker is killed.
fn behind_a_production_load_balancer(test: &str, print_config: &str, run: &str) {
    let Some(hosts) = hosts_for(test) else {
        return;
    };
    let product = run.split(' ').next().unwrap();
    if !installed(product) {
        say_skipped(test, &format!("{product} is not installed"));
        return;
    }
    let lab = Lab::new(product).unwrap();
    let shared = lab.dir();
    let mut worker_1 = start_on(&hosts, &lab, 1, shared, WORKER_ON_HOST_1);
    let _worker_2 = start_on(&hosts, &lab, 2, shared, WORKER_ON_HOST_2);
    run_on(&hosts, &lab, 3, shared, print_config);
    let (command, _) = on_host(&hosts, 3, shared, run);
    let _product = StopGently(lab.start(product, command).unwrap());
    wait_until_the_client_is_answered(&hosts, &lab);
    for _ in 0..3 {
        client_gets_its_answer(&hosts, &lab);
    }
    worker_1.process.kill();
    for _ in 0..4 {
        client_gets_its_answer(&hosts, &lab);
    }
}

/// Waits until the client on host 4 gets 12!: the product is up once it accepts and reaches a
/// worker. Only start-up polls; every check after this waits on answers.
fn wait_until_the_client_is_answered(hosts: &Hosts, lab: &Lab) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (command, _) = on_host(hosts, 4, lab.dir(), CLIENT_ON_HOST_4);
        let done = lab.run_to_end("client", command, None).unwrap();
        if done.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no answer through host 3 in {PATIENCE:?} of asking again: {done:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// HAProxy on host 3 in front of workers on hosts 1 and 2.
#[test]
fn haproxy_in_front_of_two_hosts() {
    let test = "haproxy_in_front_of_two_hosts";
    behind_a_production_load_balancer(test, PRINT_HAPROXY_CONFIG, HAPROXY);
}

/// nginx on host 3 in front of workers on hosts 1 and 2.
#[test]
fn nginx_in_front_of_two_hosts() {
    let test = "nginx_in_front_of_two_hosts";
    behind_a_production_load_balancer(test, PRINT_NGINX_CONFIG, NGINX);
}

/// docs/scaling.md gives no command that is not run here, and every command run here is in
/// it: each line of its `sh` blocks (a `# comment` after it aside) is one of [`DOCUMENTED`].
#[test]
fn every_command_in_scaling_md_is_run_here() {
    let page = include_str!("../docs/scaling.md");
    let (not_run, not_in_page) = commands_not_run(page, DOCUMENTED);
    assert!(not_run.is_empty(), "not run by a test: {not_run:#?}");
    assert!(
        not_in_page.is_empty(),
        "not in docs/scaling.md: {not_in_page:#?}"
    );
}

//! `--print-haproxy-config` and `--print-nginx-config`: the step from our load balancer to a
//! production one in one command. Ours only; load_balancer.py has no such thing.
//!
//! Each reads the registry as it stands and prints a complete configuration on stdout: the
//! address and port from `--host` and `--port`, one server per worker in the registry, the
//! strategy (`--strategy`), and our timeouts under the product's names. What each setting is
//! for is said in a comment inside the configuration, so the printed file teaches too.
//! docs/scaling.md shows how to run them; tests/production.rs runs both.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use common::armour::registry_reading;
use common::registry::WorkerAddr;

use crate::armour::health::MAX_COOLDOWN;
use crate::options::{Options, Product};
use crate::strategy::Strategy;

/// Where Debian's and Ubuntu's nginx keep the stream (TCP) module, package
/// libnginx-mod-stream. A TCP proxy needs it; nginx's HTTP core does not include it.
const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// How often HAProxy checks a worker that is up. Ours never checks a worker that is up (a
/// failed request tells as much); HAProxy always does, and each check is a request for 1! in
/// the worker's log and in its queue: a one-connection-at-a-time Python worker that a student
/// slowed with `time.sleep(3)` spends three seconds on every check. Every 10 s keeps that to a
/// small share; a failed request still marks a worker down at once (`observe layer4`).
const CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// How many times a request whose connection failed is tried again, each time on another
/// worker: as ours goes on to the next worker after a refused or timed-out connect.
const RETRIES: u32 = 2;

/// Prints the configuration for `product` built from the registry and our flags. Exit code
/// 0, or 1 when the registry cannot be read or lists no worker (neither product starts
/// without a server, and an empty backend would only hide the mistake).
pub fn print_config(product: Product, options: &Options) -> ExitCode {
    let workers = match registry_reading::read_registry(&options.registry) {
        Ok(registry) => registry.workers,
        Err(e) => {
            common::armour::log::warn(&format!(
                "load_balancer: cannot read {}: {e}",
                options.registry.display()
            ));
            return ExitCode::FAILURE;
        }
    };
    if workers.is_empty() {
        common::armour::log::warn(&format!(
            "load_balancer: {} lists no worker: start the workers first, then print the \
             configuration",
            options.registry.display()
        ));
        return ExitCode::FAILURE;
    }
    let config = match product {
        Product::Haproxy => haproxy_config(options, &workers),
        Product::Nginx => nginx_config(options, &workers),
    };
    // print! would panic on a closed or full standard output; we say so and fail instead.
    match std::io::Write::write_all(&mut std::io::stdout(), config.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            common::armour::log::warn(&format!(
                "load_balancer: cannot print the configuration: {e}"
            ));
            ExitCode::FAILURE
        }
    }
}

/// HAProxy in TCP mode: our timeouts, HAProxy's layer-7 check (send `1`, expect `1`), retries
/// that go to another worker, and passive checks as ours (a failed request marks down).
pub fn haproxy_config(options: &Options, workers: &[WorkerAddr]) -> String {
    let balance = match options.strategy {
        Strategy::RoundRobin => "roundrobin",
        Strategy::Random => "random",
        Strategy::LeastConnections => "leastconn",
    };
    let mut servers = String::new();
    for (i, worker) in workers.iter().enumerate() {
        let _ = writeln!(
            servers,
            "    server worker{} {} check",
            i + 1,
            worker.host_port()
        );
    }
    format!(
        "# HAProxy in front of the factorial lab's workers, printed by
# load_balancer --print-haproxy-config from {registry}.
# Run it in the foreground: haproxy -f haproxy.cfg
{warning}global
    maxconn {maxconn}

defaults
    mode tcp
    # --connect-timeout: a live worker accepts at once; one that does not is passed over.
    timeout connect {connect}
    # --timeout: a client may take this long to send its request (a person typing). Our
    # worker waits as long for it (worker --timeout): HAProxy connects to the worker when
    # the client connects, so the worker's wait starts with the person's.
    timeout client {client}
    # --worker-timeout: how long a worker may take to answer.
    timeout server {server}
    # A health check may wait as long as a request (--worker-timeout): a check that gives up
    # on a busy worker closes with a reset, which kills a Python worker when it answers.
    timeout check {check}
    # A connection that fails is tried again, each time on another worker (redispatch 1).
    retries {retries}
    option redispatch 1

frontend lab
    bind {bind}
    default_backend workers

backend workers
    balance {balance}
    # The layer-7 check: send 1, expect the answer 1 (1! = 1), whitespace around it allowed
    # (a worker that answers with print), as ours does.
    option tcp-check
    tcp-check connect
    tcp-check send 1
    tcp-check expect rstring ^[[:space:]]*1[[:space:]]*$
    # Checked every {interval}; one failure marks a worker down and one success brings it
    # back, as ours; a down worker is checked every --cooldown. A real request that fails
    # to connect marks it down too (observe layer4), as ours does. HAProxy does not ask a
    # second worker when one is slow, as ours does: a request sent to a frozen worker waits
    # for timeout server.
    default-server inter {interval} downinter {cooldown} fall 1 rise 1 observe layer4 error-limit 1 on-error mark-down
{servers}",
        registry = options.registry.display(),
        warning = open_port_comment(&options.host),
        maxconn = options.serving.max_connections,
        connect = millis(options.connect_timeout),
        client = millis(options.timeout),
        server = millis(options.worker_timeout),
        check = millis(options.worker_timeout),
        retries = RETRIES,
        bind = listen_address(&options.host, options.port),
        interval = millis(CHECK_INTERVAL),
        cooldown = millis(options.cooldown.min(MAX_COOLDOWN)),
    )
}

/// nginx's stream proxy: our timeouts, passive checks only (open-source nginx has no active
/// ones: a worker that fails `max_fails` times is skipped for `fail_timeout`), and the next
/// worker on a failed connection (`proxy_next_upstream`). It runs in the foreground with its
/// pid file in the prefix folder (`-p`) and its log on stderr, so it needs no system paths.
pub fn nginx_config(options: &Options, workers: &[WorkerAddr]) -> String {
    let balance = match options.strategy {
        Strategy::RoundRobin => "        # round-robin: nginx's default\n",
        Strategy::Random => "        random;\n",
        Strategy::LeastConnections => "        least_conn;\n",
    };
    let mut servers = String::new();
    for worker in workers {
        let _ = writeln!(
            servers,
            "        server {} max_fails=1 fail_timeout={}s;",
            worker.host_port(),
            // nginx takes whole seconds here.
            options.cooldown.as_secs_f64().ceil().max(1.0)
        );
    }
    // nginx's stream proxy has one idle timeout for both sides; the longer of ours.
    let idle = options.timeout.max(options.worker_timeout);
    format!(
        "# nginx's stream (TCP) proxy in front of the factorial lab's workers, printed by
# load_balancer --print-nginx-config from {registry}.
# Run it in the foreground from this folder: nginx -p . -c nginx.conf -e stderr
{warning}load_module {module};
daemon off;
pid nginx.pid;
error_log stderr notice;
worker_processes auto;

events {{
    worker_connections {connections};
}}

stream {{
    upstream workers {{
{balance}        # Passive checks: a worker that fails once is skipped for --cooldown.
{servers}    }}

    server {{
        listen {listen};
        proxy_pass workers;
        # --connect-timeout: a live worker accepts at once; one that does not is passed over.
        proxy_connect_timeout {connect};
        # The longer of --timeout (the client's request) and --worker-timeout (the answer):
        # nginx has one timeout for a connection that goes quiet, on either side. nginx
        # connects to the worker when the client connects, so a person typing is waited for
        # by the worker too (worker --timeout, a minute, as --timeout here).
        proxy_timeout {idle};
        # A connection that fails goes to the next worker, at most {tries} tries in all.
        proxy_next_upstream on;
        proxy_next_upstream_tries {tries};
    }}
}}
",
        registry = options.registry.display(),
        warning = open_port_comment(&options.host),
        module = NGINX_STREAM_MODULE,
        connections = options.serving.max_connections.max(16) * 2,
        listen = listen_address(&options.host, options.port),
        connect = millis(options.connect_timeout),
        idle = millis(idle),
        tries = RETRIES + 1,
    )
}

/// Our `--host` and `--port` as a listening address for either product.
fn listen_address(host: &str, port: u16) -> String {
    WorkerAddr {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    }
    .host_port()
}

/// A comment that says the port is open to others, for a configuration that listens beyond
/// loopback; nothing for loopback.
fn open_port_comment(host: &str) -> &'static str {
    if crate::armour::beyond_loopback::is_loopback(host) {
        ""
    } else {
        "# No authentication or encryption: anyone who can reach this port can use the workers.\n"
    }
}

/// A duration in milliseconds, a unit both products read (`500ms`).
fn millis(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

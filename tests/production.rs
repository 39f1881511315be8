//! End to end: the step to a production load balancer. Our load balancer prints a
//! configuration for HAProxy or nginx (`--print-haproxy-config`, `--print-nginx-config`) from
//! the registry; the product runs it on loopback in front of three of our workers, answers
//! correctly, and keeps answering when a worker dies. Each test says it skipped when its
//! product is not installed (CI installs both).
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::Command;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, PATIENCE, ask_text, free_port, say_skipped};
use harness::process::StopGently;
use harness::products::{installed, print_config, wait_until_answering};

/// Where Debian's nginx keeps its stream module (package libnginx-mod-stream).
const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// The answers for 12, 15, 7 and 1000! come through `port`; then, with one of the three
/// workers killed, every request still gets its answer.
fn serves_and_survives_a_dead_worker(
    port: u16,
    workers: &mut [harness::Server],
) -> Result<(), Error> {
    for n in [12u64, 15, 7, 1000] {
        assert_eq!(ask_text(port, &n.to_string())?, factorial_digits(n), "{n}!");
    }
    workers[0].process.kill();
    for n in 1..=12u64 {
        assert_eq!(
            ask_text(port, &n.to_string())?,
            factorial_digits(n),
            "{n}! after a kill"
        );
    }
    Ok(())
}

/// HAProxy, configured by `load_balancer --print-haproxy-config`, serves our workers, and a
/// killed worker costs no request (retries on another worker, then its check marks it down).
#[test]
fn haproxy_runs_the_printed_configuration() -> Result<(), Error> {
    if !installed("haproxy") {
        say_skipped(
            "haproxy_runs_the_printed_configuration",
            "haproxy is not installed",
        );
        return Ok(());
    }
    let lab = Lab::new("haproxy")?;
    let mut workers = lab.start_workers(3, &[])?;
    let port = free_port()?;
    let config = print_config(&lab, "--print-haproxy-config", port, "haproxy.cfg")?;
    for worker in &workers {
        assert!(
            config.contains(&format!(" 127.0.0.1:{} check", worker.port)),
            "{config}"
        );
    }
    let mut command = Command::new("haproxy");
    command.args(["-f", "haproxy.cfg"]).current_dir(lab.dir());
    let _haproxy = StopGently(lab.start("haproxy", command)?);
    wait_until_answering(port)?;
    serves_and_survives_a_dead_worker(port, &mut workers)
}

/// nginx's stream proxy, configured by `load_balancer --print-nginx-config`, serves our
/// workers, and a killed worker costs no request (`proxy_next_upstream`).
#[test]
fn nginx_runs_the_printed_configuration() -> Result<(), Error> {
    if !installed("nginx") || !std::path::Path::new(NGINX_STREAM_MODULE).exists() {
        let why = "nginx or its stream module (libnginx-mod-stream) is not installed";
        say_skipped("nginx_runs_the_printed_configuration", why);
        return Ok(());
    }
    let lab = Lab::new("nginx")?;
    let mut workers = lab.start_workers(3, &[])?;
    let port = free_port()?;
    let config = print_config(&lab, "--print-nginx-config", port, "nginx.conf")?;
    for worker in &workers {
        assert!(
            config.contains(&format!(" 127.0.0.1:{} ", worker.port)),
            "{config}"
        );
    }
    let mut command = Command::new("nginx");
    command
        .args(["-p", ".", "-c", "nginx.conf", "-e", "stderr"])
        .current_dir(lab.dir());
    let mut nginx = StopGently(lab.start("nginx", command)?);
    nginx.0.wait_for("start worker process", PATIENCE)?;
    wait_until_answering(port)?;
    serves_and_survives_a_dead_worker(port, &mut workers)
}

/// With no worker in the registry there is nothing to configure: exit code 1 and a message,
/// not a configuration that would only hide the mistake.
#[test]
fn no_configuration_without_workers() -> Result<(), Error> {
    let lab = Lab::new("no-config")?;
    for flag in ["--print-haproxy-config", "--print-nginx-config"] {
        let mut command = lab.command("load_balancer")?;
        command.arg(flag);
        let printed = lab.run_to_end("load_balancer", command, None)?;
        assert_eq!(printed.status.code(), Some(1), "{printed:?}");
        assert!(printed.stdout.is_empty(), "{printed:?}");
        assert!(printed.stderr[0].contains("lists no worker"), "{printed:?}");
    }
    Ok(())
}

//! HAProxy and nginx, for the tests that run them in front of our workers with the
//! configuration our load balancer prints (`--print-haproxy-config`, `--print-nginx-config`).

use std::fs;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::armour::deadline::Deadline;
use common::armour::error::{Context, Error};

use crate::lab::{Lab, PATIENCE, ask_text};

/// How often [`wait_until_answering`] asks again while a product starts.
const ASK_AGAIN: Duration = Duration::from_millis(20);

/// True when `program -v` runs: the product is installed (a test without it says it skipped).
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("-v")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Writes the configuration our load balancer prints with `flag`, listening on `port`, into
/// `file` in the lab's folder, and returns it; the load balancer must exit 0.
pub fn print_config(lab: &Lab, flag: &str, port: u16, file: &str) -> Result<String, Error> {
    let mut command = lab.command("load_balancer")?;
    command.args(["--port", &port.to_string(), flag]);
    let printed = lab.run_to_end("load_balancer", command, None)?;
    if !printed.status.success() {
        return Err(Error::new(format!(
            "load_balancer {flag} failed: {printed:?}"
        )));
    }
    let config = printed.stdout.join("\n") + "\n";
    fs::write(lab.dir().join(file), &config).context(|| format!("cannot write {file}"))?;
    Ok(config)
}

/// Waits until something answers 1! = 1 on `port`: a product is up once it accepts and
/// reaches a worker. Only start-up polls; every check after it waits on answers. (A probe
/// that connects and sends nothing would stop a Python worker: worker_server.py line 43
/// leaves its loop on an empty read.)
pub fn wait_until_answering(port: u16) -> Result<(), Error> {
    let deadline = Deadline::after(PATIENCE);
    while ask_text(port, "1").ok().as_deref() != Some("1") {
        if deadline.has_passed() {
            return Err(Error::new(format!("nothing answers on port {port}")));
        }
        thread::sleep(ASK_AGAIN);
    }
    Ok(())
}

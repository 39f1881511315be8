//! Several machines on one: Linux network namespaces joined by a switch, for the tests of a
//! lab that spans machines (tests/multi_host.rs). Each host is a namespace with its own
//! network stack and one address on a private subnet, 10.77.0.0/24, which exists only inside
//! the namespaces made here: nothing is sent anywhere else. The switch is a bridge in a
//! namespace of its own, with one veth cable to each host.
//!
//! Making namespaces needs root and the `ip` command (iproute2); [`Hosts::unavailable`] says
//! why a test must skip. Every namespace is deleted when [`Hosts`] is dropped, also when a test
//! fails half-way; a process still running in one keeps it alive only until its guard kills it.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::armour::error::{Context, Error};

/// The first three parts of every host's address: host 1 is 10.77.0.2, host 2 10.77.0.3, …
/// A private (RFC 1918) subnet, chosen because nothing here uses it.
pub const SUBNET: &str = "10.77.0";

/// Numbers the networks of one test process, so each gets namespaces of its own.
static NEXT_NETWORK: AtomicUsize = AtomicUsize::new(0);

/// A switch and `count` hosts, each a network namespace; deleted when dropped.
pub struct Hosts {
    /// The start of every namespace name, unique to this network.
    prefix: String,
    /// The namespaces made so far, the switch first; each is deleted on drop.
    made: Vec<String>,
}

impl Hosts {
    /// Why namespaces cannot be made here (not root, no `ip`), or `None` when they can.
    pub fn unavailable() -> Option<String> {
        let uid = Command::new("id").arg("-u").output();
        let root = uid.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
        if !root {
            return Some("network namespaces need root".into());
        }
        let ip = Command::new("ip").arg("-V").output();
        if !ip.is_ok_and(|out| out.status.success()) {
            return Some("the ip command (iproute2) is not installed".into());
        }
        None
    }

    /// A switch and hosts 1 to `count`, each cabled to the switch, with its address and its
    /// loopback up.
    pub fn create(count: usize) -> Result<Hosts, Error> {
        let number = NEXT_NETWORK.fetch_add(1, Ordering::Relaxed);
        let mut hosts = Hosts {
            prefix: format!("flab{}n{number}", std::process::id()),
            made: Vec::new(),
        };
        let switch = hosts.add_namespace("switch")?;
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &switch, "link", "set", "br0", "up"])?;
        for host in 1..=count {
            let name = hosts.add_namespace(&format!("host{host}"))?;
            let port = format!("port{host}");
            ip(&[
                "-n", &switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
                "netns", &name,
            ])?;
            ip(&["-n", &switch, "link", "set", &port, "master", "br0", "up"])?;
            let address = format!("{}/24", Hosts::address(host));
            ip(&["-n", &name, "addr", "add", &address, "dev", "eth0"])?;
            ip(&["-n", &name, "link", "set", "eth0", "up"])?;
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
        }
        Ok(hosts)
    }

    /// Makes one namespace, deleting a stale one of the same name (a killed earlier run).
    fn add_namespace(&mut self, role: &str) -> Result<String, Error> {
        let name = format!("{}{role}", self.prefix);
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        self.made.push(name.clone());
        Ok(name)
    }

    /// Host `host`'s address: host 1 is 10.77.0.2 (10.77.0.1 is left for a gateway nobody
    /// needs).
    pub fn address(host: usize) -> String {
        format!("{SUBNET}.{}", host + 1)
    }

    /// The namespace of host `host`.
    pub fn namespace(&self, host: usize) -> String {
        format!("{}host{host}", self.prefix)
    }

    /// A command that runs `program` with `args` on host `host` (`ip netns exec`, which
    /// becomes the program, so killing its process kills the program).
    pub fn command(&self, host: usize, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespace(host)])
            .arg(program)
            .args(args);
        command
    }

    /// Cuts host `host`'s cable: its link goes down, and whatever is sent to it is lost, as
    /// when a machine's network fails.
    pub fn cut(&self, host: usize) -> Result<(), Error> {
        ip(&["-n", &self.namespace(host), "link", "set", "eth0", "down"])
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // Deleting a namespace removes its cables too; the switch goes last.
        for name in self.made.iter().rev() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Runs `ip` with `args`; a failure says which command failed and what it printed.
fn ip(args: &[&str]) -> Result<(), Error> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context(|| format!("cannot run ip {}", args.join(" ")))?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

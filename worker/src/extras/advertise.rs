//! What a worker writes to the registry when the lab spans several machines. Ours only:
//! worker_server.py always listens on, and registers, 127.0.0.1.
//!
//! A worker bound to one address (`--host 10.0.0.2`) advertises that address. A worker bound
//! to every address (`--host 0.0.0.0` or `--host ::`) cannot tell which of them the load
//! balancer can reach, and `0.0.0.0:7000` in the registry would make the load balancer dial
//! itself; so it refuses to start until `--advertise HOST` names the address or host name the
//! others should dial. A worker on 127.0.0.1 still writes the bare port, the Python format.

use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::process::ExitCode;

use common::registry::{self, WorkerAddr};

/// The host to write to the registry: `--advertise` if given, else the address bound. The
/// error says what to pass instead.
pub fn advertised_host(host: &str, advertise: Option<&str>) -> Result<String, String> {
    let chosen = match advertise {
        Some(advertise) => advertise,
        None if is_every_address(host) => {
            return Err(format!(
                "--host {host} listens on every address of this machine, and the load \
                 balancer must be told which one to dial: pass --advertise HOST with the \
                 address or name other machines reach this one at (for example --advertise \
                 10.0.0.2)"
            ));
        }
        None => host,
    };
    if is_every_address(chosen) {
        return Err(format!(
            "--advertise {chosen} names no machine: give the address or name other machines \
             reach this one at"
        ));
    }
    // Whatever we advertise must read back as the same worker from the registry.
    let line = WorkerAddr {
        host: chosen.to_string(),
        port: 1,
    }
    .registry_line();
    if registry::parse_registry(&line).workers.len() != 1 {
        return Err(format!(
            "cannot advertise {chosen:?}: not an IPv4 address, IPv6 address or host name"
        ));
    }
    Ok(chosen.to_string())
}

/// True for a host that means "every address of this machine" once resolved as `bind`
/// resolves it: 0.0.0.0 and `::`, and their other spellings, `0`, `0.0`, `[::]`,
/// `0:0:0:0:0:0:0:0`, `::ffff:0.0.0.0`, so that none of them escapes the `--advertise` rule.
fn is_every_address(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let every = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_unspecified() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_unspecified())
        }
    };
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return every(ip);
    }
    // The forms only the system's resolver reads (`0`, `0.0`, `0x0`), as bind reads them.
    (bare, 0)
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.any(|addr| every(addr.ip())))
}

/// Prints the line the load balancer's registry needs for this worker and ends, for a lab
/// without a shared folder: the instructor collects these lines by hand
/// (`--print-registry-line`). Nothing is bound or registered: the worker is started next with
/// the same flags.
pub fn print_registry_line(host: &str, port: u16) -> ExitCode {
    let me = WorkerAddr {
        host: host.to_string(),
        port,
    };
    // println! would panic on a closed or full standard output; we say so and fail instead.
    match writeln!(std::io::stdout(), "{}", me.registry_line()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            common::armour::log::warn(&format!("worker: cannot print the registry line: {e}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// A specific address advertises itself; every address needs --advertise.
    #[test]
    fn advertises_the_bound_address_or_asks() {
        assert_eq!(advertised_host("10.0.0.2", None).unwrap(), "10.0.0.2");
        assert_eq!(advertised_host("127.0.0.1", None).unwrap(), "127.0.0.1");
        let spellings = [
            "0.0.0.0",
            "::",
            "[::]",
            "0",
            "0.0",
            "0:0:0:0:0:0:0:0",
            "::ffff:0.0.0.0",
        ];
        for every in spellings {
            assert!(
                advertised_host(every, None)
                    .unwrap_err()
                    .contains("--advertise")
            );
        }
        assert_eq!(
            advertised_host("0.0.0.0", Some("lab-pc-7")).unwrap(),
            "lab-pc-7"
        );
        assert!(advertised_host("0.0.0.0", Some("0.0.0.0")).is_err());
        assert!(advertised_host("0.0.0.0", Some("0")).is_err());
        assert!(advertised_host("::", Some("not a host")).is_err());
    }
}

//! Where the status page is served, as `--status` gives it and a browser's address bar shows it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Where the status page is served: `--status PORT` (on 127.0.0.1) or `--status HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAddress {
    /// An IPv4 or IPv6 address (without brackets) or a host name.
    pub host: String,
    /// The port; 0 lets the OS choose.
    pub port: u16,
}

impl FromStr for StatusAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<StatusAddress, String> {
        let expected = "expected PORT or HOST:PORT, such as 8404 or 127.0.0.1:8404".to_string();
        let (host, port) = match text.rsplit_once(':') {
            None => (common::DEFAULT_HOST, text),
            Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port),
        };
        let port = port.parse().map_err(|_| expected.clone())?;
        if host.is_empty() {
            return Err(expected);
        }
        Ok(StatusAddress {
            host: host.to_string(),
            port,
        })
    }
}

/// As in a browser's address bar: `127.0.0.1:8404`, `[::1]:8404`.
impl fmt::Display for StatusAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()) {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// A port alone is on 127.0.0.1; a host may be a name, IPv4 or bracketed IPv6.
    #[test]
    fn reads_the_flag() {
        let at = |text: &str| text.parse::<StatusAddress>();
        let address = |host: &str, port| StatusAddress {
            host: host.into(),
            port,
        };
        assert_eq!(at("8404"), Ok(address("127.0.0.1", 8404)));
        assert_eq!(at("0.0.0.0:0"), Ok(address("0.0.0.0", 0)));
        assert_eq!(at("[::1]:8404"), Ok(address("::1", 8404)));
        assert_eq!(at("localhost:8404"), Ok(address("localhost", 8404)));
        for bad in ["", "web", "70000", ":8404", "127.0.0.1:", "127.0.0.1:x"] {
            assert!(at(bad).is_err(), "{bad:?}");
        }
        assert_eq!(address("::1", 8404).to_string(), "[::1]:8404");
        assert_eq!(address("127.0.0.1", 80).to_string(), "127.0.0.1:80");
    }
}

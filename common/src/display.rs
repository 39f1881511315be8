//! How the programs print what they print, so that our transcript reads like the Python lab's.

use std::net::SocketAddr;

/// Numbers longer than this are shortened in log lines: a terminal full of 456,574 digits helps
/// nobody, and printing them costs more than computing them. The client still prints the whole
/// number, which is what the user asked for.
const LOG_DIGITS: usize = 80;

/// How many digits a shortened number keeps at each end.
const KEPT_DIGITS: usize = 20;

/// An address the way Python prints the tuple that `accept()` returns, e.g.
/// `('127.0.0.1', 50744)`, so that `Client connected: …` and `Connected by …` match the lab's
/// lines. For IPv6, Python's tuple has two more fields (flow info and scope id).
pub fn python_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => format!("('{}', {})", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!(
            "('{}', {}, {}, {})",
            v6.ip(),
            v6.port(),
            v6.flowinfo(),
            v6.scope_id()
        ),
    }
}

/// Text for a log line: short text as it is, a long one as its first and last digits and its
/// length, e.g. `40238726007709377354...00000000000000000000 (2568 digits)`.
pub fn shorten(text: &str) -> String {
    // Byte slicing below is safe only on ASCII; answers are digits or English error text.
    if text.len() <= LOG_DIGITS || !text.is_ascii() {
        return text.to_string();
    }
    let head = &text[..KEPT_DIGITS];
    let tail = &text[text.len() - KEPT_DIGITS..];
    format!("{head}...{tail} ({} digits)", text.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// IPv4 addresses print as Python's two-field tuple.
    #[test]
    fn ipv4_address_like_python() {
        let addr: SocketAddr = "127.0.0.1:50744".parse().unwrap();
        assert_eq!(python_addr(addr), "('127.0.0.1', 50744)");
    }

    /// IPv6 addresses print as Python's four-field tuple.
    #[test]
    fn ipv6_address_like_python() {
        let addr: SocketAddr = "[::1]:8080".parse().unwrap();
        assert_eq!(python_addr(addr), "('::1', 8080, 0, 0)");
    }

    /// Short numbers are untouched; long ones keep both ends and say how long they were.
    #[test]
    fn shortens_only_long_numbers() {
        assert_eq!(shorten("479001600"), "479001600");
        let long = format!("1{}2", "0".repeat(98));
        assert_eq!(
            shorten(&long),
            "10000000000000000000...00000000000000000002 (100 digits)"
        );
    }
}

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

/// The request as text for a log line (`Received request for factorial of …`): invalid UTF-8
/// is replaced, surrounding whitespace dropped, and a long request shortened.
pub fn request_for_log(bytes: &[u8]) -> String {
    text_for_log(bytes, EXCERPT_CHARS)
}

/// What a peer sent, as text for a log line or an error answer: invalid UTF-8 replaced,
/// surrounding whitespace dropped, control characters escaped, and at most `shown`
/// characters.
pub fn text_for_log(bytes: &[u8], shown: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = excerpt(text.trim_matches(|c: char| c.is_ascii_whitespace()), shown);
    // A request is whatever a client sent: a newline in it must not forge a log line of its
    // own, nor a terminal's escape codes drive the terminal. Control characters show escaped.
    text.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_default());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect()
}

/// How many characters of a refused request an error answer or log line shows: enough to
/// recognise it.
pub const EXCERPT_CHARS: usize = 40;

/// At most `shown` characters of `text`, and `...` when there were more.
pub fn excerpt(text: &str, shown: usize) -> String {
    if text.chars().count() <= shown {
        text.to_string()
    } else {
        text.chars().take(shown).collect::<String>() + "..."
    }
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

    /// A request's control characters are escaped in log lines: no forged line, no escape codes.
    #[test]
    fn requests_are_logged_escaped() {
        assert_eq!(
            request_for_log(b"12\nForwarded to worker"),
            "12\\nForwarded to worker"
        );
        assert_eq!(request_for_log(b"\x1b[31mRED"), "\\u{1b}[31mRED");
        assert_eq!(request_for_log(b" 7\r\n"), "7");
    }
}

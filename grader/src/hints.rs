//! What an answer that is not n! says about the program that sent it, in words that fit any
//! language: text before the digits, words around them, a whole buffer sent with its NUL
//! bytes, 20! for a larger n (a clamp, or a 64-bit integer that overflowed), an answer cut at
//! a buffer's size. The report card shows the bytes as a person can read them: at most a line,
//! and bytes that are not text counted, not printed.

use common::factorial::factorial_digits;

/// The most characters of an answer's text a line of evidence quotes: the line stays within
/// about 200 characters with what is said around it.
const QUOTED: usize = 60;

/// Of [`QUOTED`], how many come from the end of a text that is cut: the end of a long answer
/// (its zeros, its newline) says as much as its start.
const QUOTED_TAIL: usize = 15;

/// The largest n whose n! fits in 64 bits: an answer equal to it for a larger n is a clamp or
/// a loop that stopped there.
const LARGEST_IN_64_BITS: u64 = 20;

/// The buffer sizes students read into: an answer cut at exactly one of them was read once.
const BUFFER_SIZES: [usize; 6] = [1024, 2048, 4096, 8192, 16384, 65536];

/// What came back, as a report card quotes it: `"479001600" (9 bytes)`, `"4811...0000 (4115
/// digits)" (4115 bytes)`, or for bytes that are not all text, `1024 bytes: "1" then 1023 NUL
/// bytes`.
pub fn quote(bytes: &[u8]) -> String {
    let (text, rest) = split_text(bytes);
    if rest.is_empty() {
        return format!("{} ({} bytes)", quote_text(text), bytes.len());
    }
    let nuls = rest.iter().take_while(|&&b| b == 0).count();
    let others = rest.len() - nuls;
    let after = match (nuls, others) {
        (0, _) => format!("{others} bytes that are not text"),
        (_, 0) => format!("{nuls} NUL bytes"),
        _ => format!("{nuls} NUL bytes, then {others} more bytes that are not all text"),
    };
    if text.is_empty() {
        format!("{} bytes: {after}", bytes.len())
    } else {
        format!("{} bytes: {} then {after}", bytes.len(), quote_text(text))
    }
}

/// The text at the start of `bytes` (UTF-8, no control characters but whitespace), and the
/// bytes after it.
fn split_text(bytes: &[u8]) -> (&str, &[u8]) {
    let valid = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        // Up to `valid_up_to` the bytes are UTF-8, so this cannot fail; "" would do if it did.
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    };
    let end = valid
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .map_or(valid.len(), |(i, _)| i);
    (&valid[..end], &bytes[end..])
}

/// Text in quotes, escaped, with its middle left out when long; digits say how many.
fn quote_text(text: &str) -> String {
    let count = text.chars().count();
    if count <= QUOTED {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(QUOTED - QUOTED_TAIL).collect();
    let tail: String = text.chars().skip(count - QUOTED_TAIL).collect();
    let trimmed = text.trim_ascii();
    let quoted = format!("{:?}", format!("{head}...{tail}"));
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        // Digits are counted as digits: what was cut out of the middle is told by its count.
        format!("{quoted} ({} digits)", trimmed.len())
    } else {
        quoted
    }
}

/// Whether the bytes that came so far can still begin an answer to `n` (n!'s digits, after
/// whitespace) or an `Error: ` answer; for a request that is no number (`n` is `None`), an
/// `Error: ` answer only. Whatever cannot is judged at once, not waited on.
pub fn can_begin_an_answer(so_far: &[u8], right: Option<&str>) -> bool {
    let text = so_far.trim_ascii_start();
    let error = common::protocol::ERROR_PREFIX.as_bytes();
    let shorter = text.len().min(error.len());
    if text[..shorter] == error[..shorter] {
        return true;
    }
    let Some(right) = right else {
        return false;
    };
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let (head, rest) = text.split_at(digits);
    right.as_bytes().starts_with(head) && rest.iter().all(u8::is_ascii_whitespace)
}

/// What an answer to n! that is not n! points to, if it points to something: one sentence for
/// the row's first line.
pub fn cause(bytes: &[u8], n: u64) -> Option<String> {
    let right = factorial_digits(n);
    let (text, rest) = split_text(bytes);
    let trimmed = text.trim_ascii();
    // A minus sign too: a signed integer that overflowed prints one.
    let unsigned = trimmed.strip_prefix('-').unwrap_or(trimmed);
    let all_digits = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
    if !rest.is_empty() && rest.iter().all(|&b| b == 0) && all_digits {
        // Wrong digits are the row's failure; the NUL bytes after them are said second.
        if let Some(wrong) = digits_cause(trimmed, n, &right).filter(|_| right != trimmed) {
            return Some(format!(
                "{wrong} The digits also came followed by {} NUL bytes: only the answer's own \
                 bytes need to be sent.",
                rest.len()
            ));
        }
        return Some(format!(
            "The digits came followed by {} NUL bytes: the program sent its whole buffer, not \
             only the answer. It needs to send only the answer's own bytes (the text's length, \
             not the buffer's size).",
            rest.len()
        ));
    }
    if !rest.is_empty() {
        return Some(
            "Bytes that are not text came back: the answer needs to be n!'s digits as text \
             (ASCII), and only those bytes."
                .to_string(),
        );
    }
    if all_digits {
        return digits_cause(trimmed, n, &right);
    }
    let lines: Vec<&str> = trimmed.lines().collect();
    if let Some(at) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("Error"))
        && at > 0
    {
        return Some(format!(
            "Text came before the `Error: ` answer ({}): an answer needs to begin with \
             `Error: ` or the digits. A greeting or a prompt goes to the screen, not to the \
             connection.",
            quote_text(first_words(lines[0]))
        ));
    }
    if is_error_in_other_words(trimmed) {
        return Some(format!(
            "An error came back without the lab's prefix ({}): an error answer needs to \
             begin with `Error: `, and a request for n! with n >= 0 needs n!'s digits.",
            quote_text(first_words(lines[0]))
        ));
    }
    let digits_start = trimmed.find(|c: char| c.is_ascii_digit());
    if let Some(start) = digits_start
        && start > 0
        && lines.len() > 1
        && lines
            .last()
            .is_some_and(|l| !l.is_empty() && l.trim().bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!(
            "Text came before the digits ({}): the answer needs to be n!'s digits alone. A \
             greeting or a prompt goes to the screen, not to the connection.",
            quote_text(first_words(lines[0]))
        ));
    }
    if digits_start.is_none() && !trimmed.is_empty() && !trimmed.starts_with("Error") {
        return Some(format!(
            "Text came back instead of n!'s digits ({}): the answer needs to be the digits \
             alone. A greeting or a prompt goes to the screen, not to the connection.",
            quote_text(first_words(lines[0]))
        ));
    }
    if digits_start.is_some() && trimmed.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Some(
            "The digits came with words around them: the answer needs to be n!'s digits \
             alone, with no words before or after."
                .to_string(),
        );
    }
    None
}

/// Whether a text is an error message in words of its own (`error`, `Invalid input`), not a
/// greeting: it says error, invalid or exception, and holds no digits.
fn is_error_in_other_words(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    !text.starts_with("Error: ")
        && !text.bytes().any(|b| b.is_ascii_digit())
        && ["error", "invalid", "exception"]
            .iter()
            .any(|word| lower.contains(word))
}

/// The first few words of a line, for quoting a greeting.
fn first_words(line: &str) -> &str {
    match line.char_indices().nth(40) {
        Some((cut, _)) => &line[..cut],
        None => line,
    }
}

/// What an answer of digits only, not n!'s, points to: a clamp at 20!, a 64-bit or 32-bit
/// integer that overflowed, or an answer cut at a buffer's size.
fn digits_cause(digits: &str, n: u64, right: &str) -> Option<String> {
    if let Some(k) = (0..n.min(LARGEST_IN_64_BITS + 6)).find(|&k| factorial_digits(k) == digits) {
        let largest = if k == LARGEST_IN_64_BITS {
            " (20! is the largest factorial a 64-bit integer holds)"
        } else {
            ""
        };
        return Some(format!(
            "The answer to {n}! is {k}!{largest}: the program clamps n, or stops multiplying \
             there. n! for a larger n needs a big-integer type (Python's int, Java's \
             BigInteger, GMP in C)."
        ));
    }
    if overflowed(n).iter().any(|wrapped| wrapped == digits) {
        return Some(format!(
            "The answer is {n}! cut down to a fixed-size integer: the multiplication \
             overflowed. Past 20! the answer needs a big-integer type (Python's int, Java's \
             BigInteger, GMP in C)."
        ));
    }
    if right.starts_with(digits) {
        let cut = if BUFFER_SIZES.contains(&digits.len()) {
            format!(
                "The answer was cut at {} bytes, a buffer's size: it was read, or sent, in one \
                 call with a buffer of that size.",
                digits.len()
            )
        } else {
            format!("The answer was cut after {} of its digits.", digits.len())
        };
        return Some(format!(
            "{cut} An answer needs to be read until the sender closes, and sent whole (a loop \
             until every byte is written)."
        ));
    }
    None
}

/// n! as a 64-bit and as a 32-bit integer that overflowed would print it, unsigned and
/// signed.
fn overflowed(n: u64) -> Vec<String> {
    let mut wide: u64 = 1;
    let mut narrow: u32 = 1;
    for k in 1..=n {
        wide = wide.wrapping_mul(k);
        narrow = narrow.wrapping_mul(k as u32);
    }
    let wrapped = [
        wide.to_string(),
        (wide as i64).to_string(),
        narrow.to_string(),
        (narrow as i32).to_string(),
    ];
    // A small n! fits: its right answer is no overflow.
    let right = factorial_digits(n);
    wrapped.into_iter().filter(|w| *w != right).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text is quoted; NUL padding and other bytes are counted, not printed.
    #[test]
    fn bytes_are_quoted_as_a_person_reads_them() {
        assert_eq!(quote(b"42"), "\"42\" (2 bytes)");
        let mut padded = b"1".to_vec();
        padded.resize(1024, 0);
        assert_eq!(quote(&padded), "1024 bytes: \"1\" then 1023 NUL bytes");
        assert_eq!(quote(&[0xff, 0xfe]), "2 bytes: 2 bytes that are not text");
        let long = "é".repeat(4300);
        let quoted = quote(long.as_bytes());
        assert!(quoted.chars().count() < 160, "{quoted}");
        assert!(
            quoted.ends_with("...ééééééééééééééé\" (8600 bytes)"),
            "{quoted}"
        );
        let digits = factorial_digits(1500);
        assert!(quote(digits.as_bytes()).contains("(4115 digits)"));
    }

    /// n!'s first digits, whitespace and the start of `Error: ` can begin an answer; a
    /// greeting, words, or digits that are not n!'s cannot.
    #[test]
    fn what_cannot_begin_an_answer_is_told_at_once() {
        let right = factorial_digits(12);
        for so_far in ["4790", " 479001600\n", "Err", "Error: no"] {
            assert!(
                can_begin_an_answer(so_far.as_bytes(), Some(&right)),
                "{so_far}"
            );
        }
        for so_far in ["Welcome", "factorial 12", "2432", "479 is"] {
            assert!(
                !can_begin_an_answer(so_far.as_bytes(), Some(&right)),
                "{so_far}"
            );
        }
        assert!(!can_begin_an_answer(b"120", None));
        assert!(can_begin_an_answer(b"Error", None));
    }

    /// Each kind of wrong answer is told by its cause.
    #[test]
    fn wrong_answers_are_told_by_their_cause() {
        let said = |bytes: &[u8], n| cause(bytes, n).unwrap_or_default();
        let mut padded = b"362880".to_vec();
        padded.resize(1024, 0);
        assert!(said(&padded, 9).contains("whole buffer"));
        assert!(said(b"Welcome to the server!\n362880", 9).contains("Text came before"));
        assert!(said(b"factorial 9 is 362880", 9).contains("words around them"));
        assert!(said(factorial_digits(20).as_bytes(), 1500).contains("is 20!"));
        assert!(said(b"0", 1500).contains("overflowed"));
        assert!(said(b"-4249290049419214848", 21).contains("overflowed"));
        let cut = &factorial_digits(1500)[..1024];
        assert!(said(cut.as_bytes(), 1500).contains("cut at 1024 bytes"));
        assert_eq!(cause(b"42", 0), None);
    }

    /// The cause a row failed on comes first: an overflow before the NUL bytes after it, a
    /// banner before an `Error: ` answer, an error in words of its own (not a greeting).
    #[test]
    fn the_cause_the_row_failed_on_comes_first() {
        let said = |bytes: &[u8], n| cause(bytes, n).unwrap_or_default();
        let mut zero = b"0".to_vec();
        zero.resize(1024, 0);
        let overflow = said(&zero, 1500);
        assert!(
            overflow.starts_with("The answer is 1500! cut down"),
            "{overflow}"
        );
        assert!(overflow.contains("1023 NUL bytes"), "{overflow}");
        let banner = said(b"Welcome to the server!\nError: not a number", 5);
        assert!(
            banner.starts_with("Text came before the `Error: `"),
            "{banner}"
        );
        let error = said(b"error", 5000);
        assert!(error.starts_with("An error came back"), "{error}");
        assert!(!error.contains("greeting"), "{error}");
    }
}

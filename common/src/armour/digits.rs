//! The digits and spaces of every script, read as Python's `int()` reads them: a student
//! typing with a Japanese or Chinese input method sends full-width digits (`１２`), one with
//! an Arabic keyboard sends `١٢`, and a number pasted from a web page may come with a
//! no-break space. worker_server.py's `int()` takes each of these for 12; so do we.

/// The first code point of each run of ten decimal digits in Unicode (general category Nd,
/// Unicode 14): digit d of a run is its zero plus d. Made with Python, so a student can make it
/// again: `[c for c in range(0x110000) if unicodedata.category(chr(c)) == 'Nd' and
/// unicodedata.digit(chr(c)) == 0]`.
const ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of `c` as a decimal digit of any script, as Python's `int()` reads it.
pub fn decimal_value(c: char) -> Option<u8> {
    let code = u32::from(c);
    let zero = ZEROS.iter().rev().find(|&&zero| zero <= code)?;
    u8::try_from(code - zero).ok().filter(|&d| d < 10)
}

/// `text` with each decimal digit of any script written as its ASCII digit; `None` when a
/// character is not a digit.
pub fn to_ascii_digits(text: &str) -> Option<String> {
    text.chars()
        .map(|c| decimal_value(c).map(|d| char::from(b'0' + d)))
        .collect()
}

/// True for the spaces Python's `int()` and `strip()` skip around a number: ASCII whitespace,
/// and Unicode's (a no-break space, the ideographic space U+3000, …).
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ASCII, full-width, Arabic-Indic and Devanagari digits read as Python reads them; other
    /// numerals (superscripts, fractions, letters) do not.
    #[test]
    fn reads_the_digits_python_reads() {
        assert_eq!(to_ascii_digits("12"), Some("12".into()));
        assert_eq!(to_ascii_digits("１２"), Some("12".into()));
        assert_eq!(to_ascii_digits("١٢"), Some("12".into()));
        assert_eq!(to_ascii_digits("१२"), Some("12".into()));
        assert_eq!(to_ascii_digits("1١"), Some("11".into()));
        for not_digits in ["²", "½", "Ⅻ", "a", "٫", "/", ":"] {
            assert_eq!(to_ascii_digits(not_digits), None, "{not_digits}");
        }
        assert!(is_space('\u{a0}') && is_space('\u{3000}') && !is_space('1'));
    }
}

//! How the registry's bytes are text. The Python lab writes and reads `worker_ports.txt` as
//! ASCII. On Windows, PowerShell 5.1's `echo 5000 > worker_ports.txt` and Notepad's
//! "Unicode" write UTF-16 with a byte-order mark instead, and then every program appends to
//! that file in its own way: our worker in the file's UTF-16 (see [`Encoding::encode_line`]),
//! the Python lab's worker in ASCII (`PORT\n`, or `PORT\r\n` on Windows, 7 bytes for a
//! five-digit port, which leaves the next UTF-16 line at an odd byte offset). So a file that
//! begins in UTF-16 is read line by line, each line in the encoding it was written in; any
//! other file is UTF-8 (ASCII is UTF-8).

/// How a registry's text is stored, from the byte-order mark it begins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// UTF-8 (or ASCII, as the Python lab writes it), lines ending `\n`.
    Utf8,
    /// UTF-16, little-endian, after the mark `FF FE`: PowerShell 5.1's `>` and Notepad's
    /// "Unicode"; lines ending `\r\n`, as both write them.
    Utf16Le,
    /// UTF-16, big-endian, after the mark `FE FF` (Notepad's "Unicode big endian").
    Utf16Be,
}

/// How a UTF-16 unit is made of its two bytes, in the file's byte order.
type UnitOf = fn([u8; 2]) -> u16;

impl Encoding {
    /// The encoding of a file that begins with `bytes`, and the bytes after its byte-order
    /// mark: the one place a mark is looked for.
    pub(crate) fn split(bytes: &[u8]) -> (Encoding, &[u8]) {
        match bytes {
            [0xFF, 0xFE, rest @ ..] => (Encoding::Utf16Le, rest),
            [0xFE, 0xFF, rest @ ..] => (Encoding::Utf16Be, rest),
            _ => (Encoding::Utf8, bytes),
        }
    }

    /// `line` and its line end, as bytes of this encoding. A `\n` in `line` (a newline put
    /// before it) becomes this encoding's line end too.
    pub(crate) fn encode_line(self, line: &str) -> Vec<u8> {
        let units = |line: &str| -> Vec<u16> {
            format!("{line}\n")
                .replace('\n', "\r\n")
                .encode_utf16()
                .collect()
        };
        match self {
            Encoding::Utf8 => format!("{line}\n").into_bytes(),
            Encoding::Utf16Le => units(line).into_iter().flat_map(u16::to_le_bytes).collect(),
            Encoding::Utf16Be => units(line).into_iter().flat_map(u16::to_be_bytes).collect(),
        }
    }

    /// True when `last`, a file's last two bytes (or fewer) after its mark, end a line: the
    /// unit `0A 00` in UTF-16LE, or a last byte `0A`, which ends a UTF-8 line, a UTF-16BE one
    /// (`00 0A`), and an ASCII line another program appended to a UTF-16 file.
    pub(crate) fn ends_a_line(self, last: &[u8]) -> bool {
        matches!(
            (self, last),
            (Encoding::Utf16Le, [b'\n', 0]) | (_, [.., b'\n'])
        )
    }

    /// How to read the line that begins with `bytes` as UTF-16, if it was written so: when it
    /// begins with a unit whose high byte is zero (`35 00` for `5` in UTF-16LE, `00 35` in
    /// UTF-16BE), as every character a registry line begins with does. ASCII and UTF-8 hold
    /// no zero byte, so a line another program appended never looks so.
    fn utf16_line(self, bytes: &[u8]) -> Option<UnitOf> {
        match (self, bytes) {
            (Encoding::Utf16Le, [_, 0, ..]) => Some(u16::from_le_bytes),
            (Encoding::Utf16Be, [0, _, ..]) => Some(u16::from_be_bytes),
            _ => None,
        }
    }

    /// How many bytes the first line of `body` takes with its line end, and whether it has
    /// one: up to the unit `\n` in a UTF-16 line, else up to the byte `\n`. In UTF-16LE a
    /// zero byte right after that byte is the rest of a unit `0A 00` (a line that began with
    /// a character this reading cannot tell from ASCII), so it ends the line too, and the
    /// next line starts on its first byte.
    fn first_line(self, body: &[u8]) -> (usize, bool) {
        let end = match self.utf16_line(body) {
            Some(unit_of) => body
                .chunks_exact(2)
                .position(|pair| unit_of([pair[0], pair[1]]) == u16::from(b'\n'))
                .map(|units| 2 * units + 2),
            None => body.iter().position(|&b| b == b'\n').map(|at| {
                let zero_after = self == Encoding::Utf16Le && body.get(at + 1) == Some(&0);
                at + 1 + usize::from(zero_after)
            }),
        };
        end.map_or((body.len(), false), |end| (end, true))
    }

    /// The lines of `body` (a file's bytes after its mark), each with its line end, and
    /// whether it has one.
    fn lines(self, mut body: &[u8]) -> impl Iterator<Item = (&[u8], bool)> {
        std::iter::from_fn(move || {
            if body.is_empty() {
                return None;
            }
            let (length, ended) = self.first_line(body);
            let (line, rest) = body.split_at(length);
            body = rest;
            Some((line, ended))
        })
    }

    /// One line's text, read in the encoding it was written in; a byte that is not text
    /// spoils only its own line (a lone last byte, half a unit, reads as `�`).
    fn line_text(self, line: &[u8]) -> String {
        match self.utf16_line(line) {
            Some(unit_of) => {
                let units: Vec<u16> = line
                    .chunks(2)
                    .map(|pair| match pair {
                        [a, b] => unit_of([*a, *b]),
                        // Half a unit: U+FFFD, the replacement character.
                        _ => 0xFFFD,
                    })
                    .collect();
                String::from_utf16_lossy(&units)
            }
            None => {
                // The zero byte of a `0A 00` that ended the line (see `first_line`).
                let line = line.strip_suffix(&[0]).unwrap_or(line);
                String::from_utf8_lossy(line).into_owned()
            }
        }
    }
}

/// The registry's text, each line in the encoding it was written in (see the module
/// comment). A UTF-16 byte-order mark is left out; a UTF-8 one is kept, as Python keeps it.
pub(crate) fn text_of(bytes: &[u8]) -> String {
    match Encoding::split(bytes) {
        // At once: a file of 100,000 lines is read for every request.
        (Encoding::Utf8, body) => String::from_utf8_lossy(body).into_owned(),
        (encoding, body) => encoding
            .lines(body)
            .map(|(line, _)| encoding.line_text(line))
            .collect(),
    }
}

/// The bytes after the last line end: a last line that has none, or nothing.
pub(crate) fn unterminated_tail(bytes: &[u8]) -> &[u8] {
    let (encoding, body) = Encoding::split(bytes);
    if encoding == Encoding::Utf8 {
        // From the end: a file of 100,000 lines is read for every request.
        let start = body
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        return &body[start..];
    }
    match encoding.lines(body).last() {
        Some((line, false)) => line,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` in UTF-16 of this byte order, without a mark.
    fn utf16(text: &str, unit: fn(u16) -> [u8; 2]) -> Vec<u8> {
        text.encode_utf16().flat_map(unit).collect()
    }

    /// A file PowerShell began in UTF-16 (mark, `5000\r\n`), then the Python lab's worker on
    /// Linux (`5001\n`) and on Windows (`5002\r\n`, which leaves the next line at an odd byte
    /// offset), then our worker's line in UTF-16, a comment in Chinese that only UTF-16 can
    /// tell (`上` is the unit `0A 4E`), and a last line still being written: every line reads
    /// as written, in both byte orders, and only the last is unterminated.
    #[test]
    fn each_line_is_read_in_the_encoding_it_was_written_in() {
        for (mark, unit) in [
            ([0xFF, 0xFE], u16::to_le_bytes as fn(u16) -> [u8; 2]),
            ([0xFE, 0xFF], u16::to_be_bytes),
        ] {
            let mut bytes = mark.to_vec();
            bytes.extend(utf16("5000\r\n", unit));
            bytes.extend(b"5001\n5002\r\n");
            assert_eq!(bytes.len() % 2, 1, "the next line starts at an odd offset");
            bytes.extend(utf16("5003\r\n# 上机\r\n", unit));
            let complete = bytes.len();
            assert_eq!(unterminated_tail(&bytes), b"");
            bytes.extend(utf16("50", unit));
            let expected = "5000\r\n5001\n5002\r\n5003\r\n# 上机\r\n50";
            assert_eq!(text_of(&bytes), expected);
            assert_eq!(unterminated_tail(&bytes), &bytes[complete..]);
        }
    }

    /// A line that begins with a character this reading cannot tell from ASCII (`上` first)
    /// is garbled, but the lines after it are not: in UTF-16LE the zero byte of its `\n` unit
    /// does not start the next line, which reads as written.
    #[test]
    fn a_line_that_looks_like_ascii_spoils_no_other() {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(utf16("上\r\n5001\r\n", u16::to_le_bytes));
        let text = text_of(&bytes);
        assert!(text.ends_with("\n5001\r\n"), "{text:?}");
        assert_eq!(unterminated_tail(&bytes), b"");
    }

    /// The file's last bytes say whether its last line ended, in each encoding and for an
    /// ASCII line appended to a UTF-16 file.
    #[test]
    fn the_last_bytes_say_whether_a_line_ended() {
        assert!(Encoding::Utf8.ends_a_line(b"1\n"));
        assert!(!Encoding::Utf8.ends_a_line(b"12"));
        assert!(Encoding::Utf16Le.ends_a_line(&[b'\n', 0]));
        assert!(Encoding::Utf16Le.ends_a_line(b"1\n"));
        assert!(!Encoding::Utf16Le.ends_a_line(&[b'1', 0]));
        assert!(Encoding::Utf16Be.ends_a_line(&[0, b'\n']));
        assert!(Encoding::Utf16Be.ends_a_line(b"1\n"));
        assert!(!Encoding::Utf16Be.ends_a_line(&[0, b'1']));
    }
}

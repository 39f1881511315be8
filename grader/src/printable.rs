//! A program's printed line as the report card shows it: made safe to print, and cut short.

/// A line as the report card shows it: control characters escaped (`\u{1b}`), so that a
/// program cannot move the cursor and draw a `pass` over its own `FAIL`, and the marks that
/// reverse the direction of text too, which could make a row read backwards.
pub fn printable(line: &str) -> String {
    line.chars()
        .map(|c| {
            let reorders = matches!(c, '\u{200e}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if (c.is_control() && c != '\t') || reorders {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A printed line, cut to a readable length (a worker may print every digit of 1500!).
pub fn shorten_line(line: &str) -> String {
    /// Enough for any of the lab's lines with a short number in it.
    const LONGEST: usize = 160;
    match line.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}... ({} bytes)", &line[..cut], line.len()),
        None => line.to_string(),
    }
}

//! Why a property does not hold, as the report card shows it: what was sent and what came
//! back, each line with its time, and what the processes printed while the requests that
//! failed were under way.

use std::time::Instant;

use super::ask::Exchange;

/// One line of evidence.
#[derive(Debug, Clone)]
pub struct Note {
    /// When it happened; `None` for a line that is no event (a hint).
    pub at: Option<Instant>,
    /// What happened.
    pub text: String,
    /// When a request that failed was under way: the lines the processes printed meanwhile
    /// are shown with the evidence.
    pub during: Option<(Instant, Instant)>,
    /// What this evidence points to as the cause, in one sentence for any language, when it
    /// points to one (text before the digits, a whole buffer sent): the row's first line.
    pub cause: Option<String>,
}

impl Note {
    /// A line with no time: a hint, or what a start that failed printed.
    pub fn in_words(text: impl Into<String>) -> Note {
        Note {
            at: None,
            text: text.into(),
            during: None,
            cause: None,
        }
    }

    /// Something that happened `at`.
    pub fn at(at: Instant, text: impl Into<String>) -> Note {
        Note {
            at: Some(at),
            text: text.into(),
            during: None,
            cause: None,
        }
    }

    /// What became of a request that failed, `text` saying how: at the time it ended, with
    /// the processes' lines from while it was under way.
    pub fn failed(exchange: &Exchange, text: impl Into<String>) -> Note {
        Note {
            at: Some(exchange.ended),
            text: text.into(),
            during: Some((exchange.sent, exchange.ended)),
            cause: None,
        }
    }

    /// The same note, pointing to `cause`.
    pub fn because(mut self, cause: Option<String>) -> Note {
        self.cause = cause;
        self
    }
}

/// Why a property does not hold, or why it could not be told.
#[derive(Debug, Default)]
pub struct Evidence {
    /// What was found, in order.
    pub notes: Vec<Note>,
    /// True when the property could not be checked at all (the checker could not tell which
    /// worker served a request), rather than found not to hold.
    pub undecided: bool,
}

impl Evidence {
    /// Evidence of one note.
    pub fn of(note: Note) -> Evidence {
        Evidence {
            notes: vec![note],
            undecided: false,
        }
    }

    /// The property could not be checked, for the reason `notes` give.
    pub fn undecided(notes: Vec<Note>) -> Evidence {
        Evidence {
            notes,
            undecided: true,
        }
    }

    /// The cause the first note that points to one points to.
    pub fn cause(&self) -> Option<&str> {
        self.notes.iter().find_map(|note| note.cause.as_deref())
    }

    /// The windows of time when the requests that failed were under way, in order.
    pub fn windows(&self) -> Vec<(Instant, Instant)> {
        self.notes.iter().filter_map(|note| note.during).collect()
    }
}

impl From<Note> for Evidence {
    fn from(note: Note) -> Evidence {
        Evidence::of(note)
    }
}

impl From<String> for Evidence {
    fn from(line: String) -> Evidence {
        Evidence::of(Note::in_words(line))
    }
}

/// A property's result.
pub type Verdict = Result<(), Evidence>;

/// `Ok` when nothing was found wrong.
pub fn verdict(notes: Vec<Note>) -> Verdict {
    if notes.is_empty() {
        Ok(())
    } else {
        Err(Evidence {
            notes,
            undecided: false,
        })
    }
}

//! The shared armour: what the Python lab does not do and a lab room needs, so that no
//! client, typo, flood or Ctrl-C takes a server down. Each guard is entered by one call marked
//! `// Ours:` in the lesson's code.
//!
//! - [`accept`]: a failed accept waits and retries; Ctrl-C and SIGTERM stop the accept loop.
//! - [`limit`]: the cap on open connections (`--max-connections`).
//! - [`threads`]: `--threads reuse`, a pool that runs the same accept loop.
//! - [`stop_signal`]: Ctrl-C and SIGTERM, caught so that a server finishes what it took.
//! - [`deadline`]: one deadline for a whole request or answer, where a timeout per read would
//!   let a peer that trickles its bytes wait for ever.
//! - [`connection`]: one admitted connection, with its deadlines.
//! - [`closing`]: how a connection is closed so that its last answer is not lost.
//! - [`answers`]: an answer read whole, however long, and checked to be n!.
//! - [`digits`]: the digits and spaces of every script, as Python's `int()` reads them.
//! - [`registry_reading`]: the registry read with care: bounded, settled, each worker once.
//! - [`registry_encoding`]: a registry file written in UTF-16 by PowerShell, read line by line.
//! - [`error`]: the one error type, a sentence for the user instead of a traceback.
//! - [`log`]: log lines that never block or panic, whatever happens to standard output.

pub mod accept;
pub mod answers;
pub mod closing;
pub mod connection;
pub mod deadline;
pub mod digits;
pub mod error;
pub mod limit;
pub mod log;
pub mod registry_encoding;
pub mod registry_reading;
pub mod stop_signal;
pub mod threads;

/// Locks a mutex shared between threads, even if a thread panicked while holding it. Our
/// locks guard small records changed in a step or two (counts, lists, flags) that stay
/// consistent whatever happens, so the data of a "poisoned" lock is used as it is rather than
/// turning one thread's panic into every thread's.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

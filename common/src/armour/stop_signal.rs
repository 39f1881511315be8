//! Ctrl-C and SIGTERM stop a server gently: it stops accepting, finishes the requests it took
//! (within [`crate::server::STOP_GRACE`]), and then ends as the signal would have ended it. A
//! second Ctrl-C (or SIGTERM) ends it at once, as the first one used to.
//! Ours only: the Python servers die at once, and every request in flight dies with them, so
//! restarting a load balancer used to fail all of them (40 of 40).
//!
//! std has no signal handling, so this one file declares the C library's own functions, which
//! std already links: `signal` and `raise` on Linux and macOS, `SetConsoleCtrlHandler` on
//! Windows. The handler only stores which signal came, in an atomic: the one thing a signal
//! handler may safely do. The servers look at it ([`requested`]) and do the rest on their own
//! threads.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked this process to stop, or [`NONE`].
static STOP: AtomicI32 = AtomicI32::new(NONE);

/// No stop asked for yet.
const NONE: i32 = -1;

/// Catches Ctrl-C and SIGTERM from now on, so that the servers can stop gently. A Ctrl-C the
/// process was started to ignore (a program run in the background by a script) stays ignored.
pub fn catch() {
    os::catch();
}

/// True once Ctrl-C or SIGTERM has come.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst) != NONE
}

/// Ends the process as the signal that stopped it would have: a parent (a shell, a test, a
/// service manager) sees the same end as before we caught it.
pub fn end_as_signalled() -> ! {
    os::end_as(STOP.load(Ordering::SeqCst))
}

/// The signal handler's work: notes which signal came. Returns false when one had come
/// already: then the process is to end at once.
fn note(signal: i32) -> bool {
    STOP.compare_exchange(NONE, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

#[cfg(unix)]
mod os {
    /// Ctrl-C in a terminal; the same number on Linux, macOS and the BSDs (POSIX).
    const SIGINT: i32 = 2;
    /// What `kill`, systemd, Docker and a test send to ask a process to stop (POSIX).
    const SIGTERM: i32 = 15;
    /// `signal`'s "the default action" and "ignore" (C's `SIG_DFL` and `SIG_IGN`).
    const SIG_DFL: usize = 0;
    const SIG_IGN: usize = 1;

    unsafe extern "C" {
        /// C's `signal(2)`: sets the handler for `signum` and returns the previous one.
        fn signal(signum: i32, handler: usize) -> usize;
        /// C's `raise(3)`: sends `sig` to this process.
        fn raise(sig: i32) -> i32;
    }

    extern "C" fn on_signal(sig: i32) {
        super::note(sig);
        // SAFETY: `signal` is async-signal-safe (POSIX); the next such signal takes its
        // default action and ends the process at once.
        unsafe { signal(sig, SIG_DFL) };
    }

    pub fn catch() {
        let handler = on_signal as extern "C" fn(i32) as usize;
        for sig in [SIGINT, SIGTERM] {
            // SAFETY: `signal` is given a valid signal number and a handler that only stores
            // to an atomic, which is async-signal-safe.
            let before = unsafe { signal(sig, handler) };
            if before == SIG_IGN {
                // SAFETY: as above; this puts back the "ignore" the process was started with.
                unsafe { signal(sig, SIG_IGN) };
            }
        }
    }

    pub fn end_as(sig: i32) -> ! {
        if sig > 0 {
            // SAFETY: puts back the default action for a valid signal, then sends it to
            // ourselves, which ends the process as the signal would have.
            unsafe {
                signal(sig, SIG_DFL);
                raise(sig);
            }
        }
        // Not ended by the signal (none came): the shells' code for "stopped by Ctrl-C".
        std::process::exit(130)
    }
}

#[cfg(windows)]
mod os {
    /// Ctrl-C and Ctrl-Break in a console window (wincon.h).
    const CTRL_C_EVENT: u32 = 0;
    const CTRL_BREAK_EVENT: u32 = 1;
    /// The exit code of a console program stopped by Ctrl-C (STATUS_CONTROL_C_EXIT).
    const CONTROL_C_EXIT: i32 = 0xC000_013A_u32 as i32;

    #[link(name = "kernel32")]
    unsafe extern "system" {
        /// Win32's `SetConsoleCtrlHandler`: adds `handler` for console control events.
        fn SetConsoleCtrlHandler(handler: Option<extern "system" fn(u32) -> i32>, add: i32) -> i32;
    }

    /// Takes the first Ctrl-C or Ctrl-Break (TRUE: handled); leaves a second one, closing the
    /// window and logging off to the default, which ends the process at once.
    extern "system" fn on_event(event: u32) -> i32 {
        let stop = event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT;
        i32::from(stop && super::note(event as i32))
    }

    pub fn catch() {
        // SAFETY: a valid handler that only stores to an atomic; Windows runs it on a thread
        // of its own.
        unsafe {
            SetConsoleCtrlHandler(Some(on_event), 1);
        }
    }

    pub fn end_as(_event: i32) -> ! {
        std::process::exit(CONTROL_C_EXIT)
    }
}

#[cfg(not(any(unix, windows)))]
mod os {
    pub fn catch() {}

    pub fn end_as(_sig: i32) -> ! {
        std::process::exit(130)
    }
}

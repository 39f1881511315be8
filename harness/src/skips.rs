//! Tests that skip a part say so in one summary at the end of the test run, after
//! the harness's `test result` line, where a reader looks: which tests skipped, why, and how to
//! run them. A skip said in the middle of the run, one line among hundreds, reads as a pass.
//!
//! With `LAB_REQUIRE_ALL` set (CI sets it, having installed everything), a skip is a failure
//! instead: a green run there means every test ran.

use std::io::Write;
use std::sync::{Mutex, Once};

/// What skipped in this test process: (test, why), in the order they skipped.
static SKIPPED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Makes sure the summary is printed once, at exit, however many tests skip.
static SUMMARY_AT_EXIT: Once = Once::new();

unsafe extern "C" {
    /// The C library's `atexit` (std has no way to run code when the process ends): the test
    /// harness prints its result and then exits, and the summary follows that result.
    fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
}

/// Notes that `test` (a test's name, and which part of it when only a part skips) cannot run
/// because of `why`, which says what is missing and how to provide it. Nothing is printed now:
/// the summary comes at the end of the run.
///
/// Panics when `LAB_REQUIRE_ALL` is set, failing the test: nothing may skip there.
pub fn say_skipped(test: &str, why: &str) {
    assert!(
        std::env::var_os("LAB_REQUIRE_ALL").is_none(),
        "{test} cannot run ({why}), and LAB_REQUIRE_ALL asks that nothing be skipped"
    );
    let mut skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    skipped.push((in_its_file(test), why.to_string()));
    SUMMARY_AT_EXIT.call_once(|| {
        // SAFETY: atexit only stores the pointer to a function that takes nothing and returns
        // nothing, as its C signature asks; print_summary never unwinds (it cannot panic).
        // Should the registration fail (it cannot, for one function), the summary is lost,
        // not the run.
        let _ = unsafe { atexit(print_summary) };
    });
}

/// `test` named with its file's module, `room::a_registry_full_of_dead_entries`, as the test
/// harness names it: every test file is a module of one test binary (tests/end_to_end.rs), and
/// the harness names each test's thread after the test.
fn in_its_file(test: &str) -> String {
    let thread = std::thread::current();
    match thread.name().and_then(|name| name.split_once("::")) {
        Some((file, _)) if !test.starts_with(&format!("{file}::")) => format!("{file}::{test}"),
        _ => test.to_string(),
    }
}

/// Prints [`summary`] on stderr at exit. It must not panic: it runs outside Rust's `main`.
extern "C" fn print_summary() {
    // A test thread still holding the list (a test that timed out) must not hang the exit.
    let Ok(skipped) = SKIPPED.try_lock() else {
        return;
    };
    let text = summary(&test_file(), &skipped);
    // Written to stderr directly, as the harness captures only what tests print.
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// The name of the test target this process runs (`end_to_end` for tests/end_to_end.rs), from
/// the executable's name, which cargo makes `end_to_end-<hash>`.
fn test_file() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe.file_stem().unwrap_or_default().to_string_lossy();
    match name.rsplit_once('-') {
        Some((file, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => file.to_string(),
        _ => name.into_owned(),
    }
}

/// The summary of what skipped in `file`'s tests: every test under the reason it skipped for,
/// and the command that runs them once what is missing is there. Empty when nothing skipped.
pub fn summary(file: &str, skipped: &[(String, String)]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let mut reasons: Vec<&str> = Vec::new();
    for (_, why) in skipped {
        if !reasons.contains(&why.as_str()) {
            reasons.push(why);
        }
    }
    let mut text = format!(
        "SKIPPED: {} of `--test {file}` did not run, though the result above says ok:\n",
        count(skipped.len())
    );
    for why in reasons {
        text.push_str(&format!("  because {why}:\n"));
        for (test, _) in skipped.iter().filter(|(_, w)| w == why) {
            text.push_str(&format!("    {test}\n"));
        }
    }
    // Only the modules that skipped (`room::`), not the whole binary, whose lab_guide tests
    // would take port 65432.
    let mut modules: Vec<&str> = Vec::new();
    for (test, _) in skipped {
        if let Some((module, _)) = test.split_once("::") {
            if !modules.contains(&module) {
                modules.push(module);
            }
        }
    }
    // cargo takes one filter before `--`, the test binary any number after it.
    let filters: String = modules.iter().map(|m| format!(" {m}::")).collect();
    let filters = if filters.is_empty() {
        filters
    } else {
        format!(" --{filters}")
    };
    text.push_str(&format!(
        "To run them, provide what is missing, then: cargo test --test {file}{filters}\n\n"
    ));
    text
}

/// "1 test (or part of one)", "4 tests (or parts of them)".
fn count(tests: usize) -> String {
    if tests == 1 {
        "1 test (or part of one)".to_string()
    } else {
        format!("{tests} tests (or parts of them)")
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

    /// Each test is listed under its reason, reasons in the order they first came, with the
    /// command that runs the skipped tests' modules; nothing at all when nothing skipped.
    #[test]
    fn the_summary_groups_tests_by_reason() {
        let skipped = [
            ("lab_guide::a (the Python lab)", "no Python lab"),
            ("production::b", "nginx is not installed"),
            ("lab_guide::c", "no Python lab"),
        ]
        .map(|(t, w)| (t.to_string(), w.to_string()));
        let text = summary("end_to_end", &skipped);
        let expected = "SKIPPED: 3 tests (or parts of them) of `--test end_to_end` did not run, though the result above says ok:
  because no Python lab:
    lab_guide::a (the Python lab)
    lab_guide::c
  because nginx is not installed:
    production::b
To run them, provide what is missing, then: cargo test --test end_to_end -- lab_guide:: production::

";
        assert_eq!(text, expected);
        assert_eq!(summary("end_to_end", &[]), "");
    }
}

//! The benchmark runs, tiny: its numbers are not checked (no timing assertions), only that it
//! measures every target it can start, with no errors, and prints its tables.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::process::Command;

/// A short run: two workers, four clients, 200 requests, one round.
const TWO_WORKERS: [&str; 8] = [
    "--workers",
    "2",
    "--clients",
    "4",
    "--requests",
    "200",
    "--rounds",
    "1",
];

/// A shorter run still: one worker, two clients, 100 requests, one round.
const ONE_WORKER: [&str; 8] = [
    "--workers",
    "1",
    "--clients",
    "2",
    "--requests",
    "100",
    "--rounds",
    "1",
];

/// Runs the bench binary with `args` and returns its stdout; it must exit 0.
fn bench(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// Load mode: every target is a table row with zero errors, or skipped with a reason.
#[test]
fn load_mode_measures_each_target_without_errors() {
    let stdout = bench(&TWO_WORKERS);
    assert!(stdout.contains("c = 4, n = 20, 2 workers"), "{stdout}");
    assert!(
        stdout.contains("| ours ÷ target (requests/s) |"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" ms |"))
        .collect();
    for target in [
        "ours (reuse threads)",
        "ours (spawn per connection)",
        "one worker directly",
    ] {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("| {target} |"))),
            "{stdout}"
        );
    }
    // Every other target either ran or said why it was skipped; none failed to start. Where
    // everything was installed to run (LAB_REQUIRE_ALL, as in CI), every one must have run.
    assert!(!stdout.contains("did not start"), "{stdout}");
    let all_required = std::env::var_os("LAB_REQUIRE_ALL").is_some();
    for target in ["nginx stream", "HAProxy", "Python lab"] {
        let ran = rows.iter().any(|r| r.starts_with(&format!("| {target} |")));
        let skipped = stdout.contains(&format!("skipped {target}: "));
        assert!(ran || (skipped && !all_required), "{target}:\n{stdout}");
    }
    for row in &rows {
        let errors = row.split('|').nth(6).map(str::trim);
        assert_eq!(errors, Some("0"), "{row}");
    }
}

/// Factorial mode: a row per n with the right digit count.
#[test]
fn factorial_mode_prints_a_row_per_n() {
    let stdout = bench(&["--factorial", "--ns", "10,1000"]);
    assert!(stdout.contains("| 10 | 7 |"), "{stdout}");
    assert!(stdout.contains("| 1000 | 2568 |"), "{stdout}");
}

/// A table of one target, as experiment 7 of docs/lab-guide.md prints: "1 worker", the row
/// named for the load balancer the students start (a new thread per connection), and no
/// `ours ÷ target` column, which would read 1.00.
#[test]
fn a_table_of_one_target_has_no_ratio_column() {
    let stdout = bench(&[&ONE_WORKER[..], &["--targets", "ours-spawn"]].concat());
    assert!(
        stdout.contains("c = 2, n = 20, 1 worker, 100 requests a run"),
        "{stdout}"
    );
    assert!(!stdout.contains("÷"), "{stdout}");
    let header = "| target | requests/s | p50 | p99 | max | errors | each round (requests/s) |";
    assert!(stdout.lines().any(|l| l == header), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" ms |"))
        .collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert!(
        rows[0].starts_with("| ours (spawn per connection) |"),
        "{stdout}"
    );
    assert_eq!(
        rows[0].split('|').count(),
        header.split('|').count(),
        "{stdout}"
    );
}

/// `--targets` measures only the targets it names, in the tables' order whatever the order
/// given, and skips nothing else; a name it does not know is a usage error.
#[test]
fn load_mode_measures_only_the_chosen_targets() {
    let stdout = bench(&[&ONE_WORKER[..], &["--targets", "direct,ours"]].concat());
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" ms |"))
        .map(|l| l.split('|').nth(1).unwrap().trim())
        .collect();
    assert_eq!(
        rows,
        ["ours (reuse threads)", "one worker directly"],
        "{stdout}"
    );
    assert!(!stdout.contains("skipped"), "{stdout}");

    let output = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--targets", "ours,nginx-plus"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(r#"no target "nginx-plus""#), "{stderr}");
}

/// The status page's targets (`ours-status`, `ours-browser`) are measured only when named, and
/// measure with no errors: the page, polled or shown in Chromium, costs the lab no answer.
/// Without Chromium, `ours-browser` says it skipped, except where everything is required. With
/// them, a line gives each of ours' CPU time per request.
#[test]
fn the_status_page_targets_measure_without_errors() {
    let stdout = bench(
        &[
            &TWO_WORKERS[..],
            &["--targets", "ours,ours-status,ours-browser"],
        ]
        .concat(),
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" ms |"))
        .collect();
    let named = |target: &str| rows.iter().any(|r| r.starts_with(&format!("| {target} |")));
    assert!(
        named("ours (reuse threads) with its status page polled"),
        "{stdout}"
    );
    let browser = "ours (reuse threads) with Chromium on its status page";
    let skipped = stdout.contains(&format!("skipped {browser}: "));
    let all_required = std::env::var_os("LAB_REQUIRE_ALL").is_some();
    assert!(named(browser) || (skipped && !all_required), "{stdout}");
    assert!(!stdout.contains("did not start"), "{stdout}");
    assert!(!stdout.contains("did not answer"), "{stdout}");
    let cpu = "The load balancer's own CPU time (user and system) per request";
    let line = stdout
        .lines()
        .find(|l| l.starts_with(cpu))
        .unwrap_or_default();
    assert!(line.contains("with its status page polled "), "{stdout}");
    for row in &rows {
        assert_eq!(row.split('|').nth(6).map(str::trim), Some("0"), "{row}");
    }
    let default = bench(&ONE_WORKER);
    assert!(!default.contains("status page"), "{default}");
    assert!(!default.contains(cpu), "{default}");
}

/// Soak mode, short: in each thread mode a worker is killed and restarted and another frozen
/// under mixed load, and the summary line counts requests right and refused, none wrong and
/// none lost (a request two kills met may be given up on, and is counted apart), and (on
/// Linux) the load balancer's threads and descriptors.
#[test]
fn soak_mode_kills_and_freezes_workers_and_loses_nothing() {
    let stdout = bench(&["--soak", "4", "--clients", "4"]);
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("soak --threads "))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("soak --threads spawn: "), "{stdout}");
    assert!(lines[1].starts_with("soak --threads reuse: "), "{stdout}");
    // The number just before `words` in `line`, such as 12 in "…, 12 right, …".
    let count = |line: &str, words: &str| -> usize {
        let before = &line[..line
            .find(words)
            .unwrap_or_else(|| panic!("{words}: {line}"))];
        before.rsplit([' ', ':']).next().unwrap().parse().unwrap()
    };
    for line in lines {
        assert!(line.contains(", 3 workers, 4 clients: "), "{line}");
        assert!(line.contains(" 0 wrong, 0 lost; "), "{line}");
        let right = count(line, " right, ");
        let refused = count(line, " refused as they must be");
        assert!(right > 0 && refused > 0, "{line}");
        // A request both of whose workers the soak killed under it is given up on, as the
        // load balancer's rule says; the line counts it apart, and it is no loss.
        let given_up = if line.contains(" given up on ") {
            count(line, " given up on ")
        } else {
            0
        };
        assert_eq!(
            count(line, " requests, "),
            right + refused + given_up,
            "{line}"
        );
        assert!(count(line, " workers killed and restarted") >= 1, "{line}");
        assert!(count(line, " frozen for ") >= 1, "{line}");
        let measured = line.contains("load balancer threads ") && line.contains(" → ");
        assert!(measured || !cfg!(target_os = "linux"), "{line}");
    }
}

//! The factorial mode: how long n! takes to compute and write out in decimal, ours against
//! our first version, CPython and (when the gmpy2 module is importable) GMP, in the same run.

use std::process::Command;
use std::time::{Duration, Instant};

use common::factorial::factorial_digits;

/// Above this n, CPython is not timed: its int-to-text conversion is quadratic (Python 3.11),
/// so 1000000! would take minutes.
const CPYTHON_MAX_N: u64 = 100_000;

/// Times n! in Python: `str(math.factorial(n))`, or `gmpy2.fac(n).digits()` with `gmp`, and
/// prints the median of the repeats in seconds. Exits 3 when gmpy2 is missing.
const PYTHON_TIMER: &str = "\
import math, statistics, sys, time
sys.set_int_max_str_digits(0)
n, repeats, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if kind == 'gmp':
    try:
        import gmpy2
    except ImportError:
        sys.exit(3)
    work = lambda: gmpy2.fac(n).digits()
else:
    work = lambda: str(math.factorial(n))
times = []
for _ in range(repeats):
    start = time.perf_counter()
    work()
    times.append(time.perf_counter() - start)
print(statistics.median(times))
";

/// One row of the table.
pub struct Row {
    /// The n.
    pub n: u64,
    /// How many digits n! has.
    pub digits: usize,
    /// Ours, the first version, CPython and GMP: median times, `None` where not measured.
    pub ours: Duration,
    /// Our first version: a plain product tree and num-bigint's `to_string`.
    pub first_version: Duration,
    /// CPython's `str(math.factorial(n))`.
    pub cpython: Option<Duration>,
    /// GMP's `fac(n).digits()` through gmpy2.
    pub gmp: Option<Duration>,
}

/// How many times to time each n: enough for a stable median, few enough for large n.
fn repeats(n: u64) -> usize {
    match n {
        0..=10_000 => 21,
        10_001..=100_000 => 7,
        _ => 3,
    }
}

/// Measures every n in `ns`.
pub fn measure(ns: &[u64]) -> Vec<Row> {
    ns.iter()
        .map(|&n| {
            let digits = factorial_digits(n).len();
            let ours = median_time(repeats(n), || factorial_digits(n).len());
            let first_version = median_time(repeats(n), || first_version(n).len());
            let cpython = (n <= CPYTHON_MAX_N)
                .then(|| python_time(n, repeats(n).min(3), "cpython"))
                .flatten();
            let gmp = python_time(n, repeats(n), "gmp");
            Row {
                n,
                digits,
                ours,
                first_version,
                cpython,
                gmp,
            }
        })
        .collect()
}

/// The median wall time of `work` over `repeats` runs.
fn median_time(repeats: usize, mut work: impl FnMut() -> usize) -> Duration {
    let mut times: Vec<Duration> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(work());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Python's time for n!, or `None` when python3 (or, for GMP, gmpy2) is missing.
fn python_time(n: u64, repeats: usize, kind: &str) -> Option<Duration> {
    let output = Command::new("python3")
        .args([
            "-c",
            PYTHON_TIMER,
            &n.to_string(),
            &repeats.to_string(),
            kind,
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let seconds: f64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// The plain way, as the baseline: the product tree that `common/src/factorial.rs` opens with,
/// and num-bigint's own `to_string`.
fn first_version(n: u64) -> String {
    common::factorial::plain_factorial(n).to_string()
}

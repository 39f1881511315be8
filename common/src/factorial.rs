//! n! as an exact integer, and in decimal: the Rust side of Python's `math.factorial` and
//! `str(result)` (worker_server.py lines 51 and 53). Read it in two parts: first the idea, ten
//! lines that compute n! correctly; then the fast path the worker uses, the same idea with a
//! few refinements, each of which is measured below.
//!
//! # The idea: a product tree
//!
//! Python's integers grow without limit; Rust's `u64` holds only up to 20!, so we use
//! `num_bigint::BigUint`. Multiplying 1·2·3·…·n one step at a time would make every step
//! multiply a huge number by a small one, which costs time proportional to n² overall: seconds
//! for 100000!. [`plain_factorial`] multiplies in halves instead: 1·2·…·n is (1·…·m) × ((m+1)·…·n)
//! with m halfway, and each half is made the same way. The big multiplications are then between
//! numbers of similar size, where num-bigint's Karatsuba and Toom-3 pay off: 100000! takes about
//! 30 ms, and 100 ms with its conversion to decimal. This is the heart of `math.factorial` too.
//!
//! # The fast path: the same tree, less work, two cores
//!
//! The worker calls [`factorial_digits`], which gets the same digits in two thirds of that time
//! with four more ideas. Each is marked where it is used below; the times are for 100000! on the
//! project's 2-core machine, each against the step before it (docs/benchmarks.md has the
//! measurements):
//!
//! 1. **Powers of two apart** (CPython's algorithm). n! = 2^(n − popcount(n)) × (odd part),
//!    and the odd part is built from products of odd numbers only: half the multiplications,
//!    and the factor 2^… is a shift, which costs nearly nothing. 24 → 20 ms.
//! 2. **The largest range on a second thread.** About half of the multiplying is in the odd
//!    numbers between n/2 and n; a second thread does them meanwhile. 20 → 18 ms.
//! 3. **Decimal without the trailing zeros.** n! ends in n/5 + n/25 + … zeros (24,999 of them
//!    here); we strip the factors 5 as we multiply, convert the rest and append the zeros as
//!    text. 57 → 53 ms of conversion.
//! 4. **Decimal in two halves, on two threads.** Turning 456,574 digits into text costs three
//!    times as much as computing them, so we split the number into its high and low halves of
//!    digits and convert the two at once. The whole n!: 80 ms on one core, 57 ms on two.
//!
//! A helper thread that panics passes its panic on to the caller: a bug in the fast path shows
//! up where n! was asked for, instead of being hidden by quietly doing the work again.
//!
//! Last come the facts about n! that need no multiplication at all: how many factors 2 and 5
//! it has, and how many digits.

use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, ScopedJoinHandle};

use num_bigint::BigUint;

// ─── The idea ───────────────────────────────────────────────────────────────────────────────

/// n! the plain way, by a product tree: the lesson of this file, and the reference the fast
/// path is tested against. The worker uses the fast path ([`factorial_digits`]) instead.
pub fn plain_factorial(n: u64) -> BigUint {
    product_of_range(1, n)
}

/// low × (low + 1) × … × high, made as the product of its two halves, each made the same way,
/// so that both sides of every multiplication are about the same size.
fn product_of_range(low: u64, high: u64) -> BigUint {
    if low > high {
        return BigUint::from(1u32); // nothing to multiply, as for 0!
    }
    if low == high {
        return BigUint::from(low);
    }
    let middle = low + (high - low) / 2;
    product_of_range(low, middle) * product_of_range(middle + 1, high)
}

// ─── The fast path ──────────────────────────────────────────────────────────────────────────

/// Below this many odd factors a range is multiplied out one by one, packing factors into a
/// u64 while they fit: a leaf of 32 small numbers is a few machine words, and splitting further
/// would cost more in recursion and allocation than it saves.
const LEAF_FACTORS: u64 = 32;

/// Below this many digits (n! up to about 6400!, once its trailing zeros are left out), one
/// thread does all the work: starting a thread costs tens of microseconds, more than it saves on
/// a number this small.
const PARALLEL_DIGITS: u64 = 20_000;

/// Up to this many odd factors in the largest range (n up to 20000), that range is multiplied on
/// the same thread as the rest, for the same reason.
const PARALLEL_FACTORS: u64 = 5_000;

/// From this many odd factors up, a product looks first whether it is still wanted (see
/// [`factorial_digits_unless`]): a few thousand looks for n = 10,000,000, each one atomic load.
const CHECKED_FACTORS: u64 = 4_096;

/// Never set: for the callers that want n! whatever happens.
static STILL_WANTED: AtomicBool = AtomicBool::new(false);

/// What the odd part does with the factors 5, so that a call says which it wants
/// (`odd_part(n, Fives::Strip)`) instead of passing a bare `true`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fives {
    /// Keep them: the odd part of n! itself, for the exact number ([`factorial`]).
    Keep,
    /// Take every factor 5 out too, for the decimal text: n! without its trailing zeros is
    /// then a shift away, with no division ([`factorial_digits`]).
    Strip,
}

/// n! exactly, by the fast path (ideas 1 and 2). Any `u64` is accepted; the worker's `--max-n`
/// keeps requests to sizes that finish in reasonable time.
pub fn factorial(n: u64) -> BigUint {
    odd_part(n, Fives::Keep, &STILL_WANTED) << twos_in_factorial(n)
}

/// n! in decimal: all four ideas of the fast path.
pub fn factorial_digits(n: u64) -> String {
    // STILL_WANTED is never set, so the work is never given up and there is always a String.
    factorial_digits_unless(n, &STILL_WANTED).unwrap_or_default()
}

/// n! in decimal, as the worker sends it, or `None` once `abandoned` is set: the worker sets
/// it when the one who asked has gone, and the work stops at its next step (a product of
/// [`CHECKED_FACTORS`] factors or more, or the conversion to decimal) instead of running on
/// for minutes for nobody. A single step already begun is not cut short. Ours only.
pub fn factorial_digits_unless(n: u64, abandoned: &AtomicBool) -> Option<String> {
    // Idea 3: n! = 2^twos × 5^zeros × (the rest), and twos ≥ zeros, so n!/10^zeros is the
    // rest with (twos − zeros) twos: no division needed.
    let zeros = trailing_zeros_of_factorial(n);
    let shift = twos_in_factorial(n) - zeros;
    let digits = estimated_digits(n).saturating_sub(zeros);
    let mut text = if digits < PARALLEL_DIGITS {
        (odd_part(n, Fives::Strip, abandoned) << shift).to_string()
    } else {
        // Idea 4: 10^(digits/2), which splits the number into two halves of digits, does not
        // depend on n! itself: a second thread computes it meanwhile (a twentieth of the total).
        let low_digits = digits / 2;
        thread::scope(|scope| {
            let split = scope.spawn(|| power_of_ten(low_digits));
            let number = odd_part(n, Fives::Strip, abandoned) << shift;
            let split = join_helper(split);
            // Ours: no conversion for nobody.
            (!abandoned.load(Ordering::Relaxed))
                .then(|| to_decimal_in_halves(&number, &split, low_digits))
        })?
    };
    if abandoned.load(Ordering::Relaxed) {
        return None; // what was computed after the stop is not n!
    }
    text.extend(std::iter::repeat_n('0', zeros as usize));
    Some(text)
}

/// The odd part of n! (idea 1): n! with every factor 2 taken out, and with [`Fives::Strip`]
/// every factor 5 too.
///
/// Every number up to n is 2^j × (an odd m) with m ≤ n/2^j, so the odd part of n! is the
/// product, over j = 0, 1, 2, …, of all odd numbers up to n/2^j. We go from the largest j
/// (the shortest range) down: `inner` grows by the odd numbers in (n/2^(j+1), n/2^j] to become
/// the product of odd numbers up to n/2^j, and `outer` gathers each `inner`.
fn odd_part(n: u64, fives: Fives, abandoned: &AtomicBool) -> BigUint {
    let ranges = odd_ranges(n);
    let Some((&(first, count), smaller)) = ranges.split_last() else {
        return BigUint::from(1u32); // 0! = 1, with no factor at all
    };
    thread::scope(|scope| {
        // Idea 2: the last range, (n/2, n], holds a quarter of all numbers and the largest: its
        // product is about half the work, so a second thread computes it while this one does
        // the rest.
        let largest = (count > PARALLEL_FACTORS)
            .then(|| scope.spawn(move || odd_product(first, count, fives, abandoned)));
        let mut inner = BigUint::from(1u32);
        let mut outer = BigUint::from(1u32);
        for &(first, count) in smaller {
            inner *= odd_product(first, count, fives, abandoned);
            outer *= &inner;
        }
        inner *= match largest {
            Some(helper) => join_helper(helper),
            None => odd_product(first, count, fives, abandoned),
        };
        outer * inner
    })
}

/// The odd numbers in (n/2^(j+1), n/2^j] for j from the largest down to 0, skipping empty
/// ones, each as (first odd number, how many): the ranges [`odd_part`] multiplies.
fn odd_ranges(n: u64) -> Vec<(u64, u64)> {
    (0..u64::BITS - n.leading_zeros())
        .rev()
        .filter_map(|j| {
            let first = ((n >> (j + 1)) + 1) | 1;
            let last = n >> j;
            (first <= last).then(|| (first, (last - first) / 2 + 1))
        })
        .collect()
}

/// The product of `count` consecutive odd numbers from `first`, as a balanced tree like
/// [`product_of_range`], whose leaves pack small factors into one machine word.
fn odd_product(first: u64, count: u64, fives: Fives, abandoned: &AtomicBool) -> BigUint {
    // Ours: a product nobody wants any more is not made; its caller drops what it gets.
    if count >= CHECKED_FACTORS && abandoned.load(Ordering::Relaxed) {
        return BigUint::from(1u32);
    }
    if count > LEAF_FACTORS {
        let half = count / 2;
        return odd_product(first, half, fives, abandoned)
            * odd_product(first + 2 * half, count - half, fives, abandoned);
    }
    let mut product = BigUint::from(1u32);
    let mut word: u64 = 1;
    for i in 0..count {
        let mut factor = first + 2 * i;
        // Idea 3: the factors 5 go here, as they enter the product, not by a division later.
        while fives == Fives::Strip && factor % 5 == 0 {
            factor /= 5;
        }
        match word.checked_mul(factor) {
            Some(packed) => word = packed,
            None => {
                product *= word;
                word = factor;
            }
        }
    }
    product * word
}

/// `number` in decimal (idea 4), given `split` = 10^`low_digits`: it is high × split + low,
/// and the two halves are converted on two threads at once, which saves about a third of the
/// time on a machine with two cores or more. (num-bigint's own conversion splits the same way,
/// but on one thread.)
fn to_decimal_in_halves(number: &BigUint, split: &BigUint, low_digits: u64) -> String {
    let high = number / split;
    // One division and one multiplication: num-bigint's div_rem needs a second crate's trait.
    let low = number - &high * split;
    let (high_text, low_text) = thread::scope(|scope| {
        let high_half = scope.spawn(|| high.to_string());
        let low_text = low.to_string();
        (join_helper(high_half), low_text)
    });
    // The low half keeps its leading zeros: 10^k + 7 has a low half of "00…07".
    let padding = (low_digits as usize).saturating_sub(low_text.len());
    let mut text = high_text;
    text.extend(std::iter::repeat_n('0', padding));
    text + &low_text
}

/// What a helper thread computed. If it panicked, the same panic goes on in this thread, with
/// its own message, as if the work had been done here: doing the work again instead would hide
/// a bug, and a thread that panics once would likely panic again.
fn join_helper<T>(helper: ScopedJoinHandle<'_, T>) -> T {
    helper
        .join()
        .unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// 10^exponent, the point where idea 4 splits a number into halves of digits. Exponents here
/// are digit counts, far below u32::MAX for any number that fits in memory, so the cast cannot
/// truncate.
fn power_of_ten(exponent: u64) -> BigUint {
    BigUint::from(10u32).pow(exponent as u32)
}

// ─── Facts about n! that need no multiplication ─────────────────────────────────────────────

/// How many times 2 divides n!: n minus the number of 1 bits in n (Legendre's formula). The
/// fast path takes these factors out and puts them back with one shift.
fn twos_in_factorial(n: u64) -> u64 {
    n - u64::from(n.count_ones())
}

/// How many zeros n! ends with: how many times 5 divides it, n/5 + n/25 + n/125 + … The fast
/// path appends them as text; the load balancer checks that an answer ends with them.
pub fn trailing_zeros_of_factorial(n: u64) -> u64 {
    let mut zeros = 0;
    let mut power = n / 5;
    while power > 0 {
        zeros += power;
        power /= 5;
    }
    zeros
}

/// About how many digits n! has, from Stirling's formula: log10(n!) ≈ (n ln n − n +
/// ln(2πn)/2) / ln 10. Only used to choose where to split the number, so an estimate will do.
fn estimated_digits(n: u64) -> u64 {
    if n < 2 {
        return 1;
    }
    let n = n as f64;
    let ln_factorial = n * n.ln() - n + (2.0 * std::f64::consts::PI * n).ln() / 2.0;
    (ln_factorial / std::f64::consts::LN_10) as u64 + 1
}

/// How many digits n! has, as a range that surely holds the true count: the load balancer
/// checks a worker's answer against it, so a worker that lies, or whose answer was cut, is
/// caught. One value for every n in practice; two only when log10(n!) falls so near a whole
/// number that f64 cannot tell which side it is on.
pub fn digit_count_range(n: u64) -> (u64, u64) {
    if n <= 20 {
        // Exact: 20! is the largest factorial a u64 holds.
        let digits = (1..=n).product::<u64>().to_string().len() as u64;
        return (digits, digits);
    }
    // Stirling's series for ln n!; the next term, 1/(1260 n^5), is far below f64's precision
    // for n > 20.
    let x = n as f64;
    let ln_factorial =
        x * x.ln() - x + (2.0 * std::f64::consts::PI * x).ln() / 2.0 + 1.0 / (12.0 * x)
            - 1.0 / (360.0 * x * x * x);
    let log10 = ln_factorial / std::f64::consts::LN_10;
    // f64 keeps about 15 significant digits of log10; allow a few units in the last place.
    let slack = log10 * 1e-13 + 1e-9;
    // For n near u64::MAX the count itself passes u64's range; `as` then stops at u64::MAX.
    let digits = |log10: f64| (log10.floor() as u64).saturating_add(1);
    (digits(log10 - slack), digits(log10 + slack))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// The slow, obviously-correct product, one factor at a time, to check both paths against.
    fn naive(n: u64) -> BigUint {
        (1..=n).fold(BigUint::from(1u32), |acc, k| acc * k)
    }

    /// The plain product tree agrees with the one-by-one product for every n up to 300.
    #[test]
    fn plain_matches_the_naive_product() {
        for n in 0..=300 {
            assert_eq!(plain_factorial(n), naive(n), "n = {n}");
        }
    }

    /// The fast n! agrees with the one-by-one product for every n up to 300, as a number and
    /// as text, with the factors 5 kept and stripped.
    #[test]
    fn fast_matches_the_naive_product() {
        for n in 0..=300 {
            let expected = naive(n);
            assert_eq!(factorial(n), expected, "n = {n}");
            assert_eq!(factorial_digits(n), expected.to_string(), "n = {n}");
        }
    }

    /// Which helper threads n! starts: (the largest odd range on its own thread, the decimal in
    /// two halves), by the same tests as the code.
    fn helpers_for(n: u64) -> (bool, bool) {
        let largest_range = odd_ranges(n).last().map_or(0, |&(_, count)| count);
        let digits = estimated_digits(n).saturating_sub(trailing_zeros_of_factorial(n));
        (largest_range > PARALLEL_FACTORS, digits >= PARALLEL_DIGITS)
    }

    /// At the smallest n that starts every helper thread, the fast path, the plain tree and the
    /// one-by-one product give the same n!, as a number and as text.
    #[test]
    fn the_threaded_path_matches_both() {
        let n = 20_001;
        assert_eq!(helpers_for(n), (true, true), "{n}! must start both helpers");
        let plain = plain_factorial(n);
        assert_eq!(plain, naive(n));
        assert_eq!(factorial(n), plain);
        assert_eq!(factorial_digits(n), plain.to_string());
    }

    /// On each side of the two thresholds, where the helper threads start one by one, the fast
    /// path and the plain tree agree.
    #[test]
    fn the_paths_agree_around_the_thresholds() {
        let cases = [
            (6_404, (false, false)),
            (6_405, (false, true)),
            (20_000, (false, true)),
        ];
        for (n, helpers) in cases {
            assert_eq!(helpers_for(n), helpers, "the helpers {n}! starts");
            let plain = plain_factorial(n);
            assert_eq!(factorial(n), plain, "n = {n}");
            assert_eq!(factorial_digits(n), plain.to_string(), "n = {n}");
        }
    }

    /// A panic in a helper thread reaches the caller with its own message: nothing quietly
    /// does the work again.
    #[test]
    fn a_helper_threads_panic_propagates() {
        let caught = panic::catch_unwind(|| {
            thread::scope(|scope| {
                let helper = scope.spawn(|| -> u32 { panic!("the helper failed") });
                join_helper(helper)
            })
        });
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"the helper failed"));
    }

    /// The odd ranges of 20! are the odd numbers in (0, 1], (2, 5], (5, 10] and (10, 20], and
    /// (1, 2] is left out as empty: together, each odd number up to 20/2^j once for each j.
    #[test]
    fn odd_ranges_cover_each_power_of_two() {
        assert_eq!(odd_ranges(0), vec![]);
        assert_eq!(odd_ranges(1), vec![(1, 1)]);
        assert_eq!(odd_ranges(20), vec![(1, 1), (3, 2), (7, 2), (11, 5)]);
    }

    /// Known values: 0! = 1, 1! = 1, 20! is the largest that fits in a u64.
    #[test]
    fn known_small_values() {
        assert_eq!(factorial_digits(0), "1");
        assert_eq!(factorial_digits(1), "1");
        assert_eq!(factorial_digits(12), "479001600");
        assert_eq!(factorial_digits(20), "2432902008176640000");
    }

    /// Digit counts of large factorials, from published tables; 10000! is large enough to take
    /// the two-thread conversion, and must agree with num-bigint's own.
    #[test]
    fn known_digit_counts() {
        assert_eq!(factorial_digits(1000).len(), 2568);
        let big = factorial_digits(10000);
        assert_eq!(big.len(), 35660);
        assert_eq!(big, factorial(10000).to_string());
        assert!(
            factorial_digits(1000).starts_with("402387260077093773543702433923003985719374864210")
        );
    }

    /// Trailing zeros by Legendre's formula: 100! ends in 24 zeros, 100000! in 24999.
    #[test]
    fn trailing_zeros() {
        assert_eq!(trailing_zeros_of_factorial(4), 0);
        assert_eq!(trailing_zeros_of_factorial(100), 24);
        assert_eq!(trailing_zeros_of_factorial(100_000), 24_999);
        let digits = factorial_digits(100);
        assert!(digits.ends_with(&"0".repeat(24)) && !digits.ends_with(&"0".repeat(25)));
    }

    /// The two-thread conversion keeps the low half's leading zeros.
    #[test]
    fn conversion_keeps_inner_zeros() {
        let number = power_of_ten(40_000) + 7u32;
        let text = to_decimal_in_halves(&number, &power_of_ten(20_000), 20_000);
        assert_eq!(text.len(), 40_001);
        assert!(text.starts_with("1000") && text.ends_with("0007"));
        assert_eq!(text, number.to_string());
    }

    /// Stirling's estimate is within a digit of the truth, which is all the split needs.
    #[test]
    fn digit_estimate() {
        for (n, digits) in [(1000, 2568), (10000, 35660), (100_000, 456_574)] {
            assert!(estimated_digits(n).abs_diff(digits) <= 1, "n = {n}");
        }
    }

    /// The digit-count range holds the true length of n! for every n up to 3000 and at a few
    /// large n, and is a single value there.
    #[test]
    fn digit_count_range_holds_the_true_length() {
        let mut product = BigUint::from(1u32);
        for n in 0..=3000u64 {
            if n > 0 {
                product *= n;
            }
            let digits = product.to_string().len() as u64;
            assert_eq!(digit_count_range(n), (digits, digits), "{n}!");
        }
        for n in [10_000u64, 65_536, 100_000] {
            let digits = factorial_digits(n).len() as u64;
            let (low, high) = digit_count_range(n);
            assert!(
                low <= digits && digits <= high,
                "{n}!: {digits} not in {low}..={high}"
            );
        }
    }

    /// Work that is still wanted gives n!; work abandoned before it starts gives nothing, on
    /// both paths (one thread, and two).
    #[test]
    fn abandoned_work_gives_nothing() {
        let wanted = AtomicBool::new(false);
        assert_eq!(
            factorial_digits_unless(30_000, &wanted),
            Some(factorial_digits(30_000))
        );
        let abandoned = AtomicBool::new(true);
        assert_eq!(factorial_digits_unless(100, &abandoned), None);
        assert_eq!(factorial_digits_unless(30_000, &abandoned), None);
    }
}

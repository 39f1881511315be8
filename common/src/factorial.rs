//! n! as an exact integer: the Rust side of Python's `math.factorial` (worker_server.py line 51).
//!
//! Python's integers grow without limit; Rust's `u64` holds only up to 20!, so we use
//! `num_bigint::BigUint`. Multiplying 1·2·3·…·n one step at a time makes every step multiply a
//! huge number by a small one; instead we split the range in halves and multiply the two
//! half-products (a "product tree"), so the big multiplications are between numbers of similar
//! size, where num-bigint's fast (Karatsuba / Toom-3) algorithms pay off.

use num_bigint::BigUint;

/// Below this many factors a range is multiplied out one by one: the numbers are still small,
/// and splitting further would cost more in recursion than it saves.
const LEAF_FACTORS: u64 = 32;

/// n! exactly, for the worker to send back. Any `u64` is accepted; the worker's `--max-n`
/// keeps requests to sizes that finish in reasonable time.
pub fn factorial(n: u64) -> BigUint {
    if n < 2 {
        return BigUint::from(1u32);
    }
    product(2, n)
}

/// The product low·(low+1)·…·high, computed as a balanced tree of multiplications.
fn product(low: u64, high: u64) -> BigUint {
    if high - low < LEAF_FACTORS {
        let mut acc = BigUint::from(1u32);
        for k in low..=high {
            acc *= k;
        }
        return acc;
    }
    let mid = low + (high - low) / 2;
    product(low, mid) * product(mid + 1, high)
}

/// n! written in decimal, as the worker sends it (`str(result)` in worker_server.py line 53).
pub fn factorial_digits(n: u64) -> String {
    factorial(n).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow, obviously-correct product, to check the fast one against.
    fn naive(n: u64) -> BigUint {
        (1..=n).fold(BigUint::from(1u32), |acc, k| acc * k)
    }

    /// The product tree agrees with the one-by-one product for every n up to 300.
    #[test]
    fn matches_the_naive_product() {
        for n in 0..=300 {
            assert_eq!(factorial(n), naive(n), "n = {n}");
        }
    }

    /// Known values: 0! = 1, 1! = 1, 20! is the largest that fits in a u64.
    #[test]
    fn known_small_values() {
        assert_eq!(factorial_digits(0), "1");
        assert_eq!(factorial_digits(1), "1");
        assert_eq!(factorial_digits(12), "479001600");
        assert_eq!(factorial_digits(20), "2432902008176640000");
    }

    /// Digit counts of large factorials, from published tables.
    #[test]
    fn known_digit_counts() {
        assert_eq!(factorial_digits(1000).len(), 2568);
        assert_eq!(factorial_digits(10000).len(), 35660);
        assert!(
            factorial_digits(1000).starts_with("402387260077093773543702433923003985719374864210")
        );
    }
}

//! Computing n! for the one who asked, with what worker_server.py line 51 does not do: a big
//! n is given up when the asker goes away meanwhile (the load balancer gave up on this worker
//! at its `--worker-timeout`, or the client left), instead of computing for minutes and
//! hundreds of megabytes for nobody. nginx stops a request whose client has gone the same way
//! (`proxy_ignore_client_abort off`, its default).

use common::armour::connection::Connection;
use common::factorial::{factorial_digits, factorial_digits_unless};
use common::say;

/// From this n on, the worker watches the asker while it computes: the default `--max-n`,
/// beyond which one request takes seconds (1,000,000!: about 3.5 s) to hours. Below it the
/// work is over in a tenth of a second, sooner than a watch is worth starting.
const WATCHED_FROM_N: u64 = 100_000;

/// n!'s digits, or `None` when the asker went away first (said in one line).
pub fn factorial_for(conn: &Connection, number: u64) -> Option<String> {
    if number < WATCHED_FROM_N {
        return Some(factorial_digits(number));
    }
    let digits = conn.while_connected(|gone| factorial_digits_unless(number, gone));
    if digits.is_none() {
        say!("Worker stopped computing {number}!: the connection closed before the answer");
    }
    digits
}

//! Reading the request, with what worker_server.py lines 41–47 do not do: the whole request
//! must arrive within `--timeout`, and a request that is not a number, or is above
//! `--max-n`, gets an `Error: ` answer. Python's `if not data: break` stops the worker on an
//! empty read, and its `int()` kills it on bad input; ours answers and goes on.

use common::display::python_addr;
use common::error::in_words;
use common::protocol;
use common::say;
use common::server::Connection;

use crate::options::Options;

/// The n that `conn` asks for, with the connection to answer it on; `None` once the client
/// has been told why not, or has gone.
pub fn read_number(mut conn: Connection, options: &Options) -> Option<(Connection, u64)> {
    let refusal = match conn.read_request(options.timeout) {
        Ok(request) => match protocol::parse_request(&request, options.max_n) {
            Ok(number) => return Some((conn, number)),
            Err(bad) => bad.answer(),
        },
        Err(e) if protocol::is_timeout(&e) => protocol::timed_out(options.timeout),
        Err(e) => {
            say!(
                "Worker could not serve {}: {}",
                python_addr(conn.addr()),
                in_words(&e)
            );
            return None;
        }
    };
    say!("Worker refused request: {refusal}");
    let _ = conn.answer(refusal.as_bytes());
    None
}

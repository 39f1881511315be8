//! Reading a client's request and answering it, with what load_balancer.py lines 21 and 48
//! do not do: the whole request must arrive within `--timeout` (a person typing at
//! client.py's prompt has a minute), a client that sends nothing is answered and its thread
//! freed, and an answer that cannot be sent is said, not taken for sent.

use std::time::Duration;

use common::error::in_words;
use common::protocol;
use common::say;
use common::server::Connection;

/// The request `client` sends within `time`, with the connection to answer it on; `None` once
/// the client has been told it took too long, or has gone.
pub fn read_request(mut client: Connection, time: Duration) -> Option<(Connection, Vec<u8>)> {
    match client.read_request(time) {
        Ok(request) => Some((client, request)),
        Err(e) if protocol::is_timeout(&e) => {
            refuse(client, &protocol::timed_out(time));
            None
        }
        Err(e) => {
            say!("Could not read the request: {}", in_words(&e));
            None
        }
    }
}

/// Sends the client its answer and closes the connection; false when it could not. The
/// client may have gone away; that costs only its answer.
pub fn reply(client: Connection, answer: &[u8]) -> bool {
    match client.answer(answer) {
        Ok(()) => true,
        Err(e) => {
            say!("Could not answer the client: {}", in_words(&e));
            false
        }
    }
}

/// Answers a request that no worker need see with an `Error: `, and says so once it is sent.
pub fn refuse(client: Connection, answer: &str) {
    if reply(client, answer.as_bytes()) {
        say!("Refused request: {answer}");
    }
}

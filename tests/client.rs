//! End to end: our client against a load balancer that misbehaves or a user who types
//! nothing. The "load balancer" here is a listener in the test, so the test decides exactly
//! what it does: record what arrives, or never answer.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use std::io::Read;
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::armour::error::Error;
use harness::lab::Lab;
use harness::peers::{FakeWorker, Misbehaviour};

/// How long the recording listener waits for bytes that should never come. Only a bound: a
/// client that sends nothing and waits makes the test fail after it instead of hanging.
const LISTENING: Duration = Duration::from_secs(10);

/// A listener that takes one connection, never answers, and returns every byte sent on it
/// until the client closes (or [`LISTENING`] passes).
fn recording_listener() -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let recording = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(LISTENING)).unwrap();
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received);
        received
    });
    (port, recording)
}

/// An empty or blank line at the prompt, and an empty or blank NUMBER, are refused by the
/// client itself with a clear message and exit code 1; not a byte reaches the load balancer.
#[test]
fn client_refuses_a_blank_number_before_sending() -> Result<(), Error> {
    let lab = Lab::new("client-blank")?;
    let cases: &[(&[&str], Option<&str>)] = &[
        (&[], Some("   \n")),
        (&[], Some("\n")),
        (&[""], None),
        (&["--", "  "], None),
    ];
    for (args, typed) in cases {
        let (port, recording) = recording_listener();
        let finished = lab.run_client(port, args, *typed)?;
        assert_eq!(finished.status.code(), Some(1), "{args:?} {typed:?}");
        assert_eq!(
            finished.stderr,
            ["no number given: type a whole number such as 12"],
            "{args:?} {typed:?}"
        );
        let received = recording.join().unwrap();
        assert!(received.is_empty(), "sent {received:?}");
    }
    Ok(())
}

/// A load balancer that accepts and never answers: `client --timeout 1` gives up with a
/// clear message and exit code 1 instead of waiting forever.
#[test]
fn client_gives_up_after_its_timeout() -> Result<(), Error> {
    let lab = Lab::new("client-timeout")?;
    // It records the request and waits for the client to close; it never answers.
    let (port, recording) = recording_listener();
    let finished = lab.run_client(port, &["--timeout", "1", "5"], None)?;
    assert_eq!(finished.status.code(), Some(1), "{finished:?}");
    assert_eq!(
        finished.stderr,
        [format!(
            "no answer from the load balancer at 127.0.0.1:{port} within 1 s (--timeout)"
        )]
    );
    assert_eq!(recording.join().unwrap(), b"5");
    Ok(())
}

/// A load balancer that relays an answer cut short (the Python one reads only 1024 bytes, and
/// 500! has 1135 digits): our client says the answer is not 500! and exits 1, instead of
/// printing a wrong number as n!.
#[test]
fn client_refuses_an_answer_that_is_not_n_factorial() -> Result<(), Error> {
    let lab = Lab::new("client-cut")?;
    let cut = FakeWorker::start(Misbehaviour::Cut)?;
    let finished = lab.run_client(cut.port, &["500"], None)?;
    assert_eq!(finished.status.code(), Some(1), "{finished:?}");
    assert!(
        finished.stderr.concat().contains("the answer is not 500!"),
        "{finished:?}"
    );
    assert!(finished.stdout.concat().is_empty(), "{finished:?}");
    Ok(())
}

/// A server that answers and keeps the connection open: the client prints the answer as soon
/// as all of n!'s digits are in, as client.py's one `recv` does, instead of waiting for a close
/// (and then reporting "no answer" for an answer that came).
#[test]
fn client_takes_an_answer_from_a_server_that_stays_open() -> Result<(), Error> {
    let lab = Lab::new("client-keep-open")?;
    let server = FakeWorker::start(Misbehaviour::KeepOpen)?;
    let finished = lab.run_client(server.port, &["12"], None)?;
    assert_eq!(finished.status.code(), Some(0), "{finished:?}");
    assert_eq!(finished.stdout, ["Factorial received: 479001600"]);
    Ok(())
}

/// A load balancer that answers only after 12 s (a queue behind slow workers): the client
/// waits as client.py does, says once on stderr that it is still waiting and how to stop,
/// then prints the answer and exits 0. (It used to give up at its own 120 s.)
#[test]
fn client_waits_for_a_slow_answer_and_says_so() -> Result<(), Error> {
    let lab = Lab::new("client-waits")?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 16];
        let got = stream.read(&mut request).unwrap();
        // The fault itself: an answer that takes longer than the client's first wait.
        thread::sleep(Duration::from_secs(12));
        std::io::Write::write_all(&mut stream, b"120").unwrap();
        request[..got].to_vec()
    });
    let finished = lab.run_client(port, &["5"], None)?;
    assert_eq!(server.join().unwrap(), b"5");
    assert_eq!(finished.status.code(), Some(0), "{finished:?}");
    assert_eq!(finished.stdout, ["Factorial received: 120"]);
    assert_eq!(
        finished.stderr,
        [format!(
            "still waiting for the answer from the load balancer at 127.0.0.1:{port} (Ctrl-C \
             stops; --timeout SECS gives up by itself)"
        )]
    );
    Ok(())
}

/// A student leaves the prompt open longer than the load balancer waits for a number
/// (--timeout, here 1 s), then types it: the client sees that the load balancer gave up on
/// the connection, asks again on a new one, and prints the answer, as the Python lab would,
/// with one line on stderr saying what happened. (It used to exit 1 with the timeout error.)
#[test]
fn a_number_typed_after_the_load_balancer_stopped_waiting_is_answered() -> Result<(), Error> {
    let lab = Lab::new("client-prompt-open")?;
    let _worker = lab.start_worker("worker", &[])?;
    let mut lb = lab.start_load_balancer(&["--timeout", "1"])?;
    let mut command = lab.command("client")?;
    command.args(["--port", &lb.port.to_string()]);
    let mut client = lab.start("client", command)?;
    lb.process.wait_for(
        "Refused request: Error: request timed out",
        harness::lab::PATIENCE,
    )?;
    client.type_in("12\n")?;
    let status = client.wait_for_exit(harness::lab::PATIENCE)?;
    assert_eq!(status.code(), Some(0), "{:?}", client.stderr_lines());
    assert_eq!(
        client.stdout_lines(),
        ["Enter an integer to calculate its factorial: Factorial received: 479001600"]
    );
    assert_eq!(
        client.stderr_lines(),
        [format!(
            "the load balancer at 127.0.0.1:{} stopped waiting while the prompt was open (it \
             answered \"Error: request timed out: the whole request must arrive within 1 s \
             (--timeout)\"); asking again on a new connection",
            lb.port
        )]
    );
    Ok(())
}

/// The same, when the load balancer's `request timed out` crosses the typed number on the
/// way: the listener here answers only once the number has arrived, so the client finds
/// nothing waiting before it sends, and learns of the timeout only from the answer. It asks
/// again on a new connection all the same (on a busy laptop, the answer and the typing can
/// cross), and the second connection gets the number and answers it.
#[test]
fn a_number_typed_as_the_timeout_crosses_it_is_answered() -> Result<(), Error> {
    let lab = Lab::new("client-prompt-crossed")?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let mut received = Vec::new();
        for answer in [
            common::protocol::timed_out(Duration::from_secs(1)),
            "479001600".into(),
        ] {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(LISTENING)).unwrap();
            let mut request = [0u8; 16];
            let got = stream.read(&mut request).unwrap();
            std::io::Write::write_all(&mut stream, answer.as_bytes()).unwrap();
            received.push(String::from_utf8_lossy(&request[..got]).into_owned());
        }
        received
    });
    let finished = lab.run_client(port, &[], Some("12\n"))?;
    // Before the listener is joined: a client that never comes back would leave it waiting.
    assert_eq!(finished.status.code(), Some(0), "{finished:?}");
    assert_eq!(server.join().unwrap(), ["12", "12"]);
    assert_eq!(
        finished.stdout,
        ["Enter an integer to calculate its factorial: Factorial received: 479001600"]
    );
    assert_eq!(
        finished.stderr,
        [format!(
            "the load balancer at 127.0.0.1:{port} stopped waiting while the prompt was open (it \
             answered \"Error: request timed out: the whole request must arrive within 1 s \
             (--timeout)\"); asking again on a new connection"
        )]
    );
    Ok(())
}

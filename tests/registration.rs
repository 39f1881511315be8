//! End to end: what a worker writes to the registry when things go wrong. A disk that fills
//! in the middle of its line, and `--host` spellings of "every address" that would register an
//! address nobody can dial. docs/reliability.md names the test for each row.
#![allow(clippy::unwrap_used)] // a test reports a failure by panicking

use common::armour::error::Error;
use harness::lab::Lab;

/// A worker whose registry line meets a full disk half-way (here a file size limit, `ulimit
/// -f`, which takes the first bytes of a write and refuses the rest, as a disk that fills up
/// does): it says it cannot register, exits 1, and leaves the file as it was, where it left
/// the first digits of its port as a line of their own (`464`), read as a worker on port 464.
#[test]
#[cfg(unix)] // `sh`, `ulimit -f` and SIGXFSZ
fn a_registration_cut_short_leaves_no_partial_line() -> Result<(), Error> {
    let lab = Lab::new("registry-full")?;
    // 1021 bytes of comments: a 6-byte line crosses the 1024-byte limit after three bytes.
    let mut before = "# an earlier run's notes\n".repeat(40);
    before.push_str(&"#".repeat(1020 - before.len()));
    before.push('\n');
    std::fs::write(lab.registry(), &before).unwrap();
    let program = harness::process::program_path("worker")?;
    let mut command = std::process::Command::new("sh");
    // Ignored, SIGXFSZ lets the write fail instead of killing the worker, as a full disk does.
    command
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 2 && exec {} --port 0",
            program.display()
        ))
        .current_dir(lab.dir());
    let finished = lab.run_to_end("worker", command, None)?;
    assert_eq!(finished.status.code(), Some(1), "{finished:?}");
    assert!(
        finished
            .stderr
            .iter()
            .any(|l| l.contains("cannot register in")),
        "{finished:?}"
    );
    let after = std::fs::read_to_string(lab.registry()).unwrap();
    assert_eq!(
        after.len(),
        before.len(),
        "the registry now ends {:?}",
        &after[1000..]
    );
    Ok(())
}

/// `worker --host 0` and the other spellings of "every address" (`0.0`, `[::]`,
/// `0:0:0:0:0:0:0:0`, `::ffff:0.0.0.0`) listen on every address, as 0.0.0.0 does, so they
/// get its rule: the worker refuses to start until `--advertise` names an address to dial,
/// and registers nothing. `--host 0` used to register `0:PORT`, which sends the load balancer
/// to itself.
#[test]
fn every_spelling_of_every_address_needs_advertise() -> Result<(), Error> {
    let lab = Lab::new("advertise-spellings")?;
    for every in ["0", "0.0", "[::]", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0"] {
        let mut command = lab.command("worker")?;
        command.args(["--host", every]);
        let refused = lab.run_to_end("worker", command, None)?;
        assert_eq!(refused.status.code(), Some(2), "{every}: {refused:?}");
        assert!(
            refused.stderr[0].contains("pass --advertise HOST"),
            "{every}: {refused:?}"
        );
    }
    assert!(!lab.registry().exists());
    Ok(())
}

//! End to end under load with faults: many concurrent clients while a worker dies and a new
//! one joins. Every request must get its correct answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;

use common::armour::error::Error;
use common::factorial::factorial_digits;
use harness::lab::{Lab, ask_text};

/// Concurrent clients: enough that requests overlap at every worker, few enough for 2 cores.
const CLIENTS: usize = 32;

/// Requests in all.
const REQUESTS: usize = 5000;

/// After this many answers worker 2 is killed, and after `JOIN_AT` a fresh worker starts.
const KILL_AT: usize = 1000;
const JOIN_AT: usize = 2500;

/// 32 concurrent clients send 5,000 requests while one of three workers is killed and a fresh
/// one started mid-run: every request gets the correct answer.
#[test]
fn load_with_a_dying_and_a_joining_worker() -> Result<(), Error> {
    let lab = Lab::new("load")?;
    let mut workers = lab.start_workers(3, &[])?;
    let mut lb = lab.start_load_balancer(&[])?;
    let expected: Arc<Vec<String>> = Arc::new((0..40).map(factorial_digits).collect());

    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let (milestones, milestone) = mpsc::channel();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, answered, expected) = (next.clone(), answered.clone(), expected.clone());
            let milestones = milestones.clone();
            let port = lb.port;
            thread::spawn(move || {
                let (mut correct, mut wrong) = (0, Vec::new());
                while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                    let n = correct % 40;
                    match ask_text(port, &n.to_string()) {
                        Ok(answer) if answer == expected[n] => correct += 1,
                        Ok(answer) => wrong.push(format!("{n}: {answer}")),
                        Err(e) => wrong.push(format!("{n}: {e}")),
                    }
                    let done = answered.fetch_add(1, Ordering::Relaxed) + 1;
                    if done == KILL_AT || done == JOIN_AT {
                        let _ = milestones.send(done);
                    }
                }
                (correct, wrong)
            })
        })
        .collect();
    drop(milestones);

    for done in milestone {
        if done == KILL_AT {
            workers[1].process.kill();
        } else {
            workers.push(lab.start_worker("worker 4", &[])?);
        }
    }
    let (mut correct, mut errors) = (0, Vec::new());
    for client in clients {
        let (ok, wrong) = client
            .join()
            .map_err(|_| Error::new("a client thread panicked"))?;
        correct += ok;
        errors.extend(wrong);
    }
    println!(
        "sent {REQUESTS}, correct {correct}, errors {}",
        errors.len()
    );
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(correct, REQUESTS);

    // Who served what, for the curious; every answer went through exactly one worker.
    let served = lb.wait_for_forwards(REQUESTS)?;
    for (n, worker) in workers.iter().enumerate() {
        let count = served.iter().filter(|&&port| port == worker.port).count();
        println!("worker {} served {count}", n + 1);
    }
    // The kill was noticed: the dead worker was marked down.
    let killed = workers[1].port;
    let lines = lb.process.stdout_lines();
    let marked = format!("Worker ('127.0.0.1', {killed}) marked down");
    assert!(lines.iter().any(|l| l.contains(&marked)), "no {marked:?}");
    Ok(())
}

//! How the load balancer chooses a worker: `--strategy round-robin|random|least-connections`.
//!
//! The lab's text names round-robin and random selection, and promises to bypass overloaded
//! nodes; load_balancer.py does only round-robin (lines 36–38). Each strategy here gives an
//! *order* in which to try the workers that are up: the first is the choice, the others are
//! where the request goes if the first one fails.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;

use common::registry::WorkerAddr;

use crate::armour::health::Health;

/// A way of choosing the worker for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Each request to the next worker in turn: the lab's choice, and the default.
    RoundRobin,
    /// Each request to a worker picked at random.
    Random,
    /// Each request to the worker with the fewest requests in progress, so a worker busy with
    /// a huge factorial is passed over; ties go round-robin.
    LeastConnections,
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(text: &str) -> Result<Strategy, String> {
        match text {
            "round-robin" => Ok(Strategy::RoundRobin),
            "random" => Ok(Strategy::Random),
            "least-connections" => Ok(Strategy::LeastConnections),
            _ => Err("expected round-robin, random or least-connections".to_string()),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::RoundRobin => "round-robin",
            Strategy::Random => "random",
            Strategy::LeastConnections => "least-connections",
        })
    }
}

/// Every worker once, in the order to try them for the request that took `turn`: the workers
/// that are up in the strategy's order, then those that are down in the same order (tried only
/// when no worker that is up answers, and never in registry order, so round-robin is kept
/// after a burst of failures), and how many of them are up.
pub fn order_to_try(
    strategy: Strategy,
    workers: &[WorkerAddr],
    turn: usize,
    health: &Health,
    random: &RandomState,
) -> (Vec<WorkerAddr>, usize) {
    // For `random`, the start is a keyed hash of the turn: std only, and new for each request.
    let start = match strategy {
        Strategy::Random => random.hash_one(turn) as usize,
        Strategy::RoundRobin | Strategy::LeastConnections => turn,
    };
    let (up, down) = health.split(workers);
    let up_count = up.len();
    let mut chosen = Vec::with_capacity(workers.len());
    for group in [up, down] {
        let load = if strategy == Strategy::LeastConnections {
            health.loads(&group)
        } else {
            Vec::new()
        };
        let order = strategy.order(group.len(), start, &load);
        chosen.extend(order.into_iter().map(|i| group[i].clone()));
    }
    (chosen, up_count)
}

impl Strategy {
    /// The order in which to try `count` workers (indexes into the list of workers that are
    /// up), given this request's `turn` and each worker's requests in progress (`load`).
    ///
    /// Round-robin and random start at `turn` modulo the count and go round; least-connections
    /// sorts that same rotation by load (a stable sort, so equal loads keep the rotation).
    pub fn order(self, count: usize, turn: usize, load: &[usize]) -> Vec<usize> {
        if count == 0 {
            return Vec::new();
        }
        let start = turn % count;
        let mut order: Vec<usize> = (0..count).map(|i| (start + i) % count).collect();
        if self == Strategy::LeastConnections {
            order.sort_by_key(|&i| load.get(i).copied().unwrap_or(0));
        }
        order
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test reports a failure by panicking
mod tests {
    use super::*;

    /// Round-robin goes round the list one worker a request, wrapping at the end.
    #[test]
    fn round_robin_takes_turns() {
        let firsts: Vec<usize> = (0..7)
            .map(|turn| Strategy::RoundRobin.order(3, turn, &[])[0])
            .collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(Strategy::RoundRobin.order(3, 4, &[]), [1, 2, 0]);
    }

    /// Random picks every worker over many requests, and not in round-robin order.
    #[test]
    fn random_uses_every_worker() {
        let random = RandomState::new();
        let firsts: Vec<usize> = (0..300)
            .map(|turn| Strategy::Random.order(3, random.hash_one(turn) as usize, &[])[0])
            .collect();
        for worker in 0..3 {
            let share = firsts.iter().filter(|&&w| w == worker).count();
            assert!(share > 30, "worker {worker} chosen {share} times of 300");
        }
        let round_robin: Vec<usize> = (0..300).map(|i| i % 3).collect();
        assert_ne!(firsts, round_robin);
    }

    /// Least-connections prefers the least loaded worker, and goes round among equals.
    #[test]
    fn least_connections_passes_over_busy_workers() {
        let strategy = Strategy::LeastConnections;
        assert_eq!(strategy.order(3, 0, &[5, 0, 1]), [1, 2, 0]);
        assert_eq!(strategy.order(3, 0, &[1, 0, 0]), [1, 2, 0]);
        assert_eq!(strategy.order(3, 1, &[1, 0, 0]), [1, 2, 0]);
        assert_eq!(strategy.order(3, 2, &[1, 0, 0]), [2, 1, 0]);
        assert_eq!(strategy.order(3, 2, &[0, 0, 0]), [2, 0, 1]);
    }

    /// Every order holds each worker exactly once, so a failing request can try them all.
    #[test]
    fn every_order_holds_each_worker_once() {
        for strategy in [
            Strategy::RoundRobin,
            Strategy::Random,
            Strategy::LeastConnections,
        ] {
            for turn in 0..10 {
                let mut order = strategy.order(4, turn, &[3, 1, 2, 1]);
                order.sort();
                assert_eq!(order, [0, 1, 2, 3]);
            }
        }
        assert!(Strategy::RoundRobin.order(0, 5, &[]).is_empty());
    }

    /// The flag's values parse, and nothing else does.
    #[test]
    fn parses_the_flag() {
        for strategy in [
            Strategy::RoundRobin,
            Strategy::Random,
            Strategy::LeastConnections,
        ] {
            assert_eq!(strategy.to_string().parse(), Ok(strategy));
        }
        assert!("fastest".parse::<Strategy>().is_err());
    }
}

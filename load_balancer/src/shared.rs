//! What every client's thread shares: the lab's module globals (load_balancer.py lines 5 and
//! 7) and ours, built from the command line.

use std::collections::hash_map::RandomState;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use common::registry::WorkerAddr;

use crate::armour::attempt::Timeouts;
use crate::armour::health::Health;
use crate::armour::registry_reader::RegistryReader;
use crate::extras::status::address::StatusAddress;
use crate::extras::status::board::Board;
use crate::options::Options;
use crate::strategy::Strategy;

/// What load_balancer.py keeps in module globals, and what ours adds, shared by every client's
/// thread.
pub struct LoadBalancer {
    /// The registry file, read afresh for every request (`REGISTRATION_FILE`, line 5).
    pub registry: RegistryReader,
    /// How to choose a worker (`--strategy`).
    pub strategy: Strategy,
    /// The round-robin counter (`worker_index`, line 7), shared by every client's thread.
    pub worker_index: AtomicUsize,
    /// Random numbers for `--strategy random`: std's hash keys, seeded by the OS.
    pub random: RandomState,
    /// Which workers failed lately and how busy each is.
    pub health: Arc<Health>,
    /// How long a client may take to send its whole request, and to take its answer.
    pub client_timeout: Duration,
    /// How long a worker may take to accept a connection, and to answer.
    pub timeouts: Timeouts,
    /// With `--status`, where each request is noted for the status page (`extras/status/`).
    pub board: Option<Arc<Board>>,
}

impl LoadBalancer {
    /// The shared state for a load balancer listening on `port`, with the thread that
    /// health-checks down workers running, and with `--status` a board for the status page.
    pub fn new(options: &Options, port: u16) -> LoadBalancer {
        let board = options.status.clone().map(|page| {
            let host = options.host.clone();
            Arc::new(Board::new(page, StatusAddress { host, port }.to_string()))
        });
        let health = Health::new(options.cooldown, options.connect_timeout);
        health.start_checking();
        let own_address = WorkerAddr {
            host: options.host.clone(),
            port,
        };
        LoadBalancer {
            registry: RegistryReader::new(options.registry.clone(), own_address),
            strategy: options.strategy,
            worker_index: AtomicUsize::new(0),
            random: RandomState::new(),
            health,
            client_timeout: options.timeout,
            timeouts: Timeouts {
                connect: options.connect_timeout,
                answer: options.worker_timeout,
            },
            board,
        }
    }
}

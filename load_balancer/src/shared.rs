//! Building what every client's thread shares: the lab's module globals (load_balancer.py
//! lines 5 and 7) and ours, from the command line.

use std::collections::hash_map::RandomState;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use common::registry::WorkerAddr;

use crate::LoadBalancer;
use crate::attempt::Timeouts;
use crate::health::Health;
use crate::options::Options;
use crate::registry_reader::RegistryReader;
use crate::status::{Board, StatusAddress};

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

//! Reading the registry file for the load balancer: what load_balancer.py's
//! `get_available_workers` does (lines 10–16), with the care a file edited by hand needs. The
//! format, the limits on what is read and when a read is read again are in
//! `common::registry`; here the odd lines are logged, each once, and the workers are compared
//! by the addresses they resolve to, not as text: `P` and `localhost:P` are one worker, and
//! no spelling of this load balancer's own address is taken for a worker.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::armour::error::in_words;
use common::armour::lock;
use common::armour::log::SaidOnce;
use common::armour::registry_reading::{self, SettledTail};
use common::registry::{Registry, WorkerAddr};
use common::say;

/// How long a host name's addresses are used before it is resolved again: a worker's address
/// rarely changes within a lab, and a registry of names must not cost a lookup per name per
/// request.
const RESOLVED_FOR: Duration = Duration::from_secs(10);

/// How many host names one read may resolve anew: a lookup can take seconds when the name
/// server is away, and a registry of a thousand new names must not hold up a request a
/// thousand times. The rest are resolved by the next reads; meanwhile a name at this load
/// balancer's own port is left out (it may be this load balancer), and any other is compared
/// as text.
const MAX_LOOKUPS_PER_READ: usize = 8;

/// How many resolved names are kept before the stale ones are dropped.
const MAX_NAMES_KEPT: usize = 1024;

/// True for a worker at an IPv4 address written the usual way (`127.0.0.1`, not `127.1` or
/// `0.0.0.0`): the one spelling of its address.
fn is_plain_ipv4(worker: &WorkerAddr) -> bool {
    worker
        .host
        .parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| !ip.is_unspecified())
}

/// `ip` as IPv4 when it is an IPv4 address written as IPv6.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The registry file, and what was already logged about it.
pub struct RegistryReader {
    /// Its path (`REGISTRATION_FILE`, load_balancer.py line 5, or `--registry`).
    path: PathBuf,
    /// The load balancer's own address. Listed in the registry by mistake, it would make each
    /// request go round through this load balancer until every place is taken.
    own_address: WorkerAddr,
    /// The addresses it listens on, resolved once at start (`0.0.0.0` or `::`: every
    /// address of this machine).
    own_ips: Vec<IpAddr>,
    /// Host names already resolved, with when: a registry read for every request must not
    /// ask the resolver about every name every time.
    names: Mutex<HashMap<String, (Instant, Vec<IpAddr>)>>,
    /// Lines skipped, and this load balancer's own address, each said once.
    skipped: SaidOnce,
    /// Why the file cannot be read, said once until a read works again.
    unreadable: SaidOnce,
    /// A last line without a newline already seen to stay the same, so a hand-written file
    /// makes only the first request wait [`registry_reading::SETTLE`] to tell it from a line being
    /// written (a shared folder, several machines appending).
    settled: Mutex<SettledTail>,
    /// How many workers the last read found, said whenever it changes: ours only, so that
    /// requests all sent to one worker while the others have not registered yet show why.
    count: Mutex<Option<usize>>,
}

impl RegistryReader {
    /// The registry at `path`, read by the load balancer listening at `own_address`; nothing
    /// is read until a request comes. Says which file it is, in full: ours only, since a load
    /// balancer started in another folder than the workers finds none, and should say where it
    /// looked.
    pub fn new(path: PathBuf, own_address: WorkerAddr) -> RegistryReader {
        let full = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        say!("Reading the workers from {}", full.display());
        let own_ips = (own_address.host.as_str(), own_address.port)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| unmapped(a.ip())).collect())
            .unwrap_or_default();
        RegistryReader {
            path,
            own_address,
            own_ips,
            names: Mutex::new(HashMap::new()),
            skipped: SaidOnce::default(),
            unreadable: SaidOnce::default(),
            settled: Mutex::new(SettledTail::default()),
            count: Mutex::new(None),
        }
    }

    /// The workers the file lists, in file order, but this load balancer. A file that cannot
    /// be read lists none, and the client hears so instead of nothing (Python's handler
    /// thread crashes); the reason is logged once until a read works again.
    pub fn read_workers(&self) -> Vec<WorkerAddr> {
        // Not locked during the read: a pause must not hold up other requests' reads.
        let before = lock(&self.settled).clone();
        let mut settled = before.clone();
        let read = registry_reading::read_registry_settled(&self.path, &mut settled, thread::sleep);
        if settled != before {
            *lock(&self.settled) = settled;
        }
        match read {
            Ok(registry) => {
                if registry.workers.is_empty() && !self.path.exists() {
                    self.unreadable.say(self.missing());
                } else {
                    self.unreadable.forget();
                }
                self.report_skipped_lines(&registry);
                let workers = self.distinct_workers(registry.workers);
                // Ours: `3 workers in worker_ports.txt`, whenever that number changes.
                self.report_count(workers.len());
                workers
            }
            Err(e) => {
                let path = self.path.display();
                self.unreadable
                    .say(format!("Cannot read {path}: {}", in_words(&e)));
                Vec::new()
            }
        }
    }

    /// The workers once each, compared by where they are reached (`P` and `localhost:P` are
    /// one), without this load balancer's own address in any spelling; each line left out is
    /// said once.
    fn distinct_workers(&self, mut workers: Vec<WorkerAddr>) -> Vec<WorkerAddr> {
        let mut lookups = MAX_LOOKUPS_PER_READ;
        workers.retain(|worker| {
            if worker.port != self.own_address.port {
                return true;
            }
            match self.addresses(worker, &mut lookups) {
                Some(addrs) => !self.is_own_address(worker, &addrs),
                // Ours: a name this read had no lookup left for may be this load balancer
                // itself; it waits for a later read, which resolves it (names are cached).
                None => false,
            }
        });
        // The file already lists each spelling once; only another spelling of an
        // address can be a worker listed twice.
        if workers.iter().all(is_plain_ipv4) {
            return workers;
        }
        let listed = workers
            .into_iter()
            .map(|worker| {
                let addrs = self.addresses(&worker, &mut lookups).unwrap_or_default();
                (worker, addrs)
            })
            .collect();
        let (workers, same) = registry_reading::distinct_workers(listed);
        for (worker, first) in same {
            self.skipped.say(format!(
                "Skipping {} in {}: the same worker as {}",
                worker.registry_line(),
                self.path.display(),
                first.registry_line()
            ));
        }
        workers
    }

    /// What to say when the registry does not exist: which file was looked for, in full,
    /// since the load balancer may run in another folder than the workers.
    fn missing(&self) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!(
            "{} does not exist: no worker registered in this folder (start the workers here, \
             or give --registry PATH)",
            path.display()
        )
    }

    /// True for a line that names this load balancer itself, however it is spelled: its port
    /// at an address it listens on (`0.0.0.0:P`, `127.1:P`, `LOCALHOST:P`, the machine's name).
    /// A name that resolves to no address counts as this load balancer too: the connection
    /// resolves it again, and may then reach this load balancer after all.
    fn is_own_address(&self, worker: &WorkerAddr, addrs: &[SocketAddr]) -> bool {
        if worker.port != self.own_address.port {
            return false;
        }
        let why = if addrs.is_empty() {
            "its name resolves to no address, and its port is this load balancer's own"
        } else if addrs.iter().any(|addr| self.listens_on(addr.ip())) {
            "this load balancer's own address"
        } else {
            return false;
        };
        self.skipped.say(format!(
            "Skipping {} in {}: {why}",
            worker.registry_line(),
            self.path.display()
        ));
        true
    }

    /// True when a connection to `ip` (already through [`registry_reading::canonical_ip`]) reaches
    /// this load balancer's listener: the address it listens on, or, when it listens on every
    /// address, any address of this machine (one it can bind to).
    fn listens_on(&self, ip: IpAddr) -> bool {
        self.own_ips.iter().any(|&own| {
            // `::` takes IPv4 connections too; `0.0.0.0` only IPv4 ones.
            let every_address = own.is_unspecified() && (own.is_ipv6() || ip.is_ipv4());
            own == ip || (every_address && (ip.is_loopback() || TcpListener::bind((ip, 0)).is_ok()))
        })
    }

    /// The socket addresses `worker` is reached at, each through [`registry_reading::canonical_ip`]. A
    /// host name is resolved at most once every [`RESOLVED_FOR`], and only `lookups` more
    /// names in this read: `None` for a name never resolved and no lookup left.
    fn addresses(&self, worker: &WorkerAddr, lookups: &mut usize) -> Option<Vec<SocketAddr>> {
        let ips = match worker.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self.resolve(&worker.host, lookups)?,
        };
        let addrs = ips
            .into_iter()
            .map(|ip| SocketAddr::new(registry_reading::canonical_ip(ip), worker.port));
        Some(addrs.collect())
    }

    /// The addresses of the host `name`, from the cache while fresh (or while no lookup is
    /// left); `None` when it was never resolved and no lookup is left.
    fn resolve(&self, name: &str, lookups: &mut usize) -> Option<Vec<IpAddr>> {
        let cached = lock(&self.names).get(name).cloned();
        match cached {
            Some((when, ips)) if when.elapsed() < RESOLVED_FOR || *lookups == 0 => {
                return Some(ips);
            }
            None if *lookups == 0 => return None,
            _ => {}
        }
        *lookups -= 1;
        // Not locked while the resolver works: other requests read the registry meanwhile.
        let ips: Vec<IpAddr> = (name, 0)
            .to_socket_addrs()
            .map(|addrs| addrs.map(|a| a.ip()).collect())
            .unwrap_or_default();
        let mut names = lock(&self.names);
        if names.len() >= MAX_NAMES_KEPT {
            names.retain(|_, (when, _)| when.elapsed() < RESOLVED_FOR);
        }
        names.insert(name.to_string(), (Instant::now(), ips.clone()));
        Some(ips)
    }

    /// Says how many workers a read found, on the first read and whenever the number changes
    /// (a file that cannot be read changes nothing: that is said by itself). Said under the
    /// lock, so that two reads that differ say their numbers in the order they were noted.
    fn report_count(&self, count: usize) {
        let mut last = lock(&self.count);
        if *last == Some(count) {
            return;
        }
        *last = Some(count);
        // The file's name alone: its full path was said at start (`Reading the workers from`).
        let file = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |name| name.to_string_lossy().into(),
        );
        let workers = if count == 1 { "worker" } else { "workers" };
        say!("{count} {workers} in {file}");
    }

    /// Logs each registry line that names no worker, once (Python's int() crashes on the
    /// first); past the few a read lists, one line counts the rest.
    fn report_skipped_lines(&self, registry: &Registry) {
        let path = self.path.display();
        for line in &registry.skipped {
            self.skipped.say(format!(
                "Skipping line {} of {path} ({:?}): {}",
                line.number, line.text, line.reason
            ));
        }
        if registry.more_skipped > 0 {
            self.skipped.say(format!(
                "Skipping {} more lines of {path} that name no worker",
                registry.more_skipped
            ));
        }
    }
}

//! A deterministic discovery network in one process, shared by the discv4 and discv5
//! simulations (`tests/sim.rs`, `tests/sim5.rs`): the sans-IO cores over a simulated network
//! (5-50 ms latency, in-order paths, no loss) and clock, with seeded randomness.
//!
//! A node runs discv4, discv5 or both on one address. A dual node demultiplexes as the real
//! shared port does (`ethp2p_discovery::spawn_shared`): a datagram that is a valid discv4
//! packet goes to discv4, the rest (`NotDiscv4`, counted in `Stats::passed_on`) to discv5.
//! Both services are driven through the small [`Service`] trait, so one event loop serves
//! both protocols.

#![allow(dead_code)] // Each test crate uses part of it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ethp2p_discovery::Enode;
use ethp2p_discovery::kad::LookupId;
use ethp2p_discovery::v4::{self, Discv4, Endpoint, Transmit};
use ethp2p_discovery::v5::{self, Discv5};
use ethp2p_discovery::{Enr, NodeId, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use secp256k1::SecretKey;

/// Nodes every other node starts from (the first ones created).
pub const BOOTNODES: usize = 3;
/// Nodes a lookup returns, and what "exact" compares with.
pub const RESULT_SIZE: usize = 16;
/// The unix time at the simulation's start (discv4 packets carry expirations).
const UNIX_NOW: u64 = 1_800_000_000;

/// A discovery protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// discv4.
    V4,
    /// discv5.
    V5,
}

/// Which protocols a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// discv4 only.
    V4,
    /// discv5 only.
    V5,
    /// Both on one address.
    Dual,
}

impl Kind {
    /// Whether a node of this kind speaks `proto`.
    pub fn speaks(self, proto: Proto) -> bool {
        matches!(
            (self, proto),
            (Kind::Dual, _) | (Kind::V4, Proto::V4) | (Kind::V5, Proto::V5)
        )
    }
}

/// A lookup that ended: the ids it returned and the packets it sent.
pub struct Finished {
    /// Which lookup.
    pub id: LookupId,
    /// Its result.
    pub nodes: Vec<NodeId>,
    /// Packets sent for it.
    pub packets: u64,
}

/// What the simulation needs of a protocol's state machine.
pub trait Service {
    /// Which protocol it is.
    fn protocol(&self) -> Proto;
    /// Handles one datagram; `false` if it is no packet of this protocol and belongs to the
    /// next service on the port.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool;
    /// The next datagram to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// When [`Service::handle_timeout`] is due.
    fn poll_timeout(&self) -> Instant;
    /// Advances its timers to `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Starts a lookup of the nodes closest to `NodeId::from_peer_id(target)`.
    fn lookup(&mut self, now: Instant, target: &PeerId) -> LookupId;
    /// Drains its events, returning the next lookup that finished.
    fn poll_lookup(&mut self) -> Option<Finished>;
    /// Its table: every entry's id, and whether the entry answered our PING.
    fn table_entries(&self) -> Vec<(NodeId, bool)>;
}

impl Service for Discv4 {
    fn protocol(&self) -> Proto {
        Proto::V4
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        self.handle_shared_datagram(now, from, datagram).is_ok()
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Discv4::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Instant {
        Discv4::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Discv4::handle_timeout(self, now)
    }

    fn lookup(&mut self, now: Instant, target: &PeerId) -> LookupId {
        Discv4::lookup(self, now, *target)
    }

    fn poll_lookup(&mut self) -> Option<Finished> {
        while let Some(event) = self.poll_event() {
            if let v4::Event::LookupFinished {
                id, nodes, packets, ..
            } = event
            {
                let nodes = nodes.iter().map(|n| NodeId::from_peer_id(&n.id)).collect();
                return Some(Finished { id, nodes, packets });
            }
        }
        None
    }

    fn table_entries(&self) -> Vec<(NodeId, bool)> {
        self.table()
            .nodes()
            .map(|n| (n.id, n.last_pong.is_some()))
            .collect()
    }
}

impl Service for Discv5 {
    fn protocol(&self) -> Proto {
        Proto::V5
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        Discv5::handle_datagram(self, now, from, datagram);
        true
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        Discv5::poll_transmit(self)
    }

    fn poll_timeout(&self) -> Instant {
        Discv5::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Discv5::handle_timeout(self, now)
    }

    fn lookup(&mut self, now: Instant, target: &PeerId) -> LookupId {
        Discv5::lookup(self, now, NodeId::from_peer_id(target))
    }

    fn poll_lookup(&mut self) -> Option<Finished> {
        while let Some(event) = self.poll_event() {
            if let v5::Event::LookupFinished {
                id, nodes, packets, ..
            } = event
            {
                let nodes = nodes.iter().map(Enr::id).collect();
                return Some(Finished { id, nodes, packets });
            }
        }
        None
    }

    fn table_entries(&self) -> Vec<(NodeId, bool)> {
        self.table()
            .nodes()
            .map(|n| (n.id, n.last_pong.is_some()))
            .collect()
    }
}

/// The settings of a simulated network.
#[derive(Clone)]
pub struct Setup {
    /// Seeds keys, latencies, join times and the services' randomness.
    pub seed: u64,
    /// Nodes at the start, bootnodes included.
    pub nodes: usize,
    /// What node `i` runs; the first [`BOOTNODES`] are the bootnodes.
    pub kind: fn(usize) -> Kind,
    /// Nodes join at random times within this span after the bootnodes.
    pub join_over: Duration,
    /// discv4's settings (bootnodes are filled in).
    pub v4: v4::Config,
    /// discv5's settings (bootnodes are filled in).
    pub v5: v5::ServiceConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Created, not yet started: deaf until its join time.
    Waiting,
    Alive,
    Dead,
}

struct Node {
    /// In demultiplexing order: discv4 first.
    services: Vec<Box<dyn Service>>,
    kind: Kind,
    id: NodeId,
    record: Enode,
    enr: Enr,
    state: State,
    /// Generation of the scheduled timeout; stale queue entries are skipped.
    timer_generation: u64,
    timer_at: Duration,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Join {
        node: usize,
    },
    Deliver {
        to: usize,
        from: SocketAddr,
        payload: Vec<u8>,
    },
    Timeout {
        node: usize,
        generation: u64,
    },
}

/// Lookup results over a number of trials.
#[derive(Debug, Clone, Copy)]
pub struct Accuracy {
    /// Lookups run.
    pub trials: usize,
    /// Those whose result was exactly the true closest live nodes of the protocol.
    pub exact: usize,
    /// Mean packets sent per lookup.
    pub packets: f64,
}

impl Accuracy {
    /// The fraction of exact lookups.
    pub fn fraction(&self) -> f64 {
        self.exact as f64 / self.trials as f64
    }
}

impl std::fmt::Display for Accuracy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} exact ({:.0}%), {:.1} packets per lookup",
            self.exact,
            self.trials,
            self.fraction() * 100.0,
            self.packets
        )
    }
}

/// The network.
pub struct Sim {
    setup: Setup,
    base: Instant,
    /// Simulated time since the start.
    pub now: Duration,
    nodes: Vec<Node>,
    by_addr: HashMap<SocketAddr, usize>,
    queue: BinaryHeap<Reverse<(Duration, u64, Action)>>,
    sequence: u64,
    /// The simulation's randomness (queriers, targets, victims).
    pub rng: StdRng,
    finished: HashMap<(usize, Proto, LookupId), Finished>,
    /// Datagrams sent in all.
    pub datagrams: u64,
    /// Last delivery time per (from, to) path: paths deliver in order, as real ones mostly do.
    path_clock: HashMap<(usize, usize), Duration>,
}

/// Node `i`'s address: each node in its own /24 of public-looking space, so subnet limits
/// never bind.
fn address(i: usize) -> SocketAddr {
    let ip = Ipv4Addr::new(
        11 + (i / 65536) as u8,
        (i / 256 % 256) as u8,
        (i % 256) as u8,
        1,
    );
    SocketAddr::new(IpAddr::V4(ip), 30303)
}

impl Sim {
    /// Creates the nodes of `setup`; the bootnodes start at once, the others over
    /// `setup.join_over`.
    pub fn new(setup: Setup) -> Sim {
        let mut sim = Sim {
            base: Instant::now(),
            now: Duration::ZERO,
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            queue: BinaryHeap::new(),
            sequence: 0,
            rng: StdRng::seed_from_u64(setup.seed),
            finished: HashMap::new(),
            datagrams: 0,
            path_clock: HashMap::new(),
            setup,
        };
        let bootnodes: Vec<usize> = (0..BOOTNODES.min(sim.setup.nodes)).collect();
        for i in 0..sim.setup.nodes {
            let join = if i < BOOTNODES {
                Duration::ZERO
            } else {
                let span = sim.setup.join_over.as_millis().max(1) as u64;
                Duration::from_millis(sim.rng.random_range(0..span))
            };
            let kind = (sim.setup.kind)(i);
            sim.spawn(kind, join, &bootnodes);
        }
        sim
    }

    /// Adds a node of `kind` that starts at `join` (simulated, not before now) from the
    /// nodes `bootnodes` (those of them that speak each protocol it runs).
    pub fn spawn(&mut self, kind: Kind, join: Duration, bootnodes: &[usize]) -> usize {
        let i = self.nodes.len();
        let key = loop {
            if let Ok(key) = SecretKey::from_secret_bytes(self.rng.random()) {
                break key;
            }
        };
        let addr = address(i);
        let record = Enode::new(PeerId::from_secret_key(&key), addr);
        let ip = match addr.ip() {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => unreachable!("IPv4 addresses"),
        };
        let enr = Enr::builder()
            .ip4(ip)
            .udp4(addr.port())
            .build(&key)
            .unwrap();
        // Bootnodes not created yet (the first ones, for each other) are left out.
        let boots = |proto: Proto| {
            bootnodes
                .iter()
                .filter_map(|&b| self.nodes.get(b))
                .filter(move |b| b.kind.speaks(proto))
        };
        let start = self.base + join.max(self.now);
        // One wall clock for all: discv4 checks packet expirations against it.
        let unix_now = UNIX_NOW + join.max(self.now).as_secs();
        let seed = self.rng.next_u64();
        let mut services: Vec<Box<dyn Service>> = Vec::new();
        if kind.speaks(Proto::V4) {
            let config = v4::Config {
                bootnodes: boots(Proto::V4).map(|b| b.record).collect(),
                ..self.setup.v4.clone()
            };
            let discv4 = Discv4::new(
                key,
                enr.clone(),
                Endpoint::from(&record),
                config,
                start,
                unix_now,
                seed,
            );
            services.push(Box::new(discv4));
        }
        if kind.speaks(Proto::V5) {
            let config = v5::ServiceConfig {
                bootnodes: boots(Proto::V5).map(|b| b.enr.clone()).collect(),
                ..self.setup.v5.clone()
            };
            let discv5 = Discv5::new(key, enr.clone(), config, start, seed ^ 0x5).unwrap();
            services.push(Box::new(discv5));
        }
        self.nodes.push(Node {
            services,
            kind,
            id: NodeId::from_peer_id(&record.id),
            record,
            enr,
            state: State::Waiting,
            timer_generation: 0,
            timer_at: Duration::MAX,
        });
        self.by_addr.insert(addr, i);
        self.push(join.max(self.now), Action::Join { node: i });
        i
    }

    /// Nodes created so far, dead ones included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether node `i` is running.
    pub fn is_alive(&self, i: usize) -> bool {
        self.nodes[i].state == State::Alive
    }

    /// What node `i` runs.
    pub fn kind(&self, i: usize) -> Kind {
        self.nodes[i].kind
    }

    /// Stops node `i` for good: it neither answers nor sends any more.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].state = State::Dead;
    }

    /// Kills `count` random running nodes.
    pub fn kill_random(&mut self, count: usize) {
        let mut killed = 0;
        while killed < count {
            let i = self.rng.random_range(0..self.nodes.len());
            if self.is_alive(i) {
                self.kill(i);
                killed += 1;
            }
        }
    }

    /// `count` random running nodes (with repetition).
    pub fn random_alive(&mut self, count: usize) -> Vec<usize> {
        (0..count)
            .map(|_| {
                loop {
                    let i = self.rng.random_range(0..self.nodes.len());
                    if self.is_alive(i) {
                        break i;
                    }
                }
            })
            .collect()
    }

    fn push(&mut self, at: Duration, action: Action) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, action)));
    }

    /// Moves a node's outputs into the network and reschedules its timer.
    fn after_io(&mut self, i: usize) {
        let from = address(i);
        let mut transmits = Vec::new();
        for service in &mut self.nodes[i].services {
            while let Some(transmit) = service.poll_transmit() {
                transmits.push(transmit);
            }
            let proto = service.protocol();
            while let Some(finished) = service.poll_lookup() {
                self.finished.insert((i, proto, finished.id), finished);
            }
        }
        for transmit in transmits {
            self.datagrams += 1;
            let Some(&to) = self.by_addr.get(&transmit.to) else {
                continue;
            };
            let latency = Duration::from_millis(self.rng.random_range(5..50));
            let previous = self.path_clock.get(&(i, to)).copied().unwrap_or_default();
            let at = (self.now + latency).max(previous + Duration::from_micros(1));
            self.path_clock.insert((i, to), at);
            let payload = transmit.payload;
            self.push(at, Action::Deliver { to, from, payload });
        }
        let base = self.base;
        let node = &mut self.nodes[i];
        let at = node
            .services
            .iter()
            .map(|s| s.poll_timeout().saturating_duration_since(base))
            .min()
            .expect("a node runs a service");
        if at != node.timer_at {
            node.timer_at = at;
            node.timer_generation += 1;
            let generation = node.timer_generation;
            self.push(
                at.max(self.now),
                Action::Timeout {
                    node: i,
                    generation,
                },
            );
        }
    }

    /// Runs the network until `until` (simulated).
    pub fn run_until(&mut self, until: Duration) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            let Reverse((at, _, action)) = self.queue.pop().unwrap();
            self.now = at;
            let now = self.base + at;
            match action {
                Action::Join { node } => {
                    if self.nodes[node].state == State::Waiting {
                        self.nodes[node].state = State::Alive;
                        self.after_io(node);
                    }
                }
                Action::Deliver { to, from, payload } => {
                    if !self.is_alive(to) {
                        continue;
                    }
                    for service in &mut self.nodes[to].services {
                        if service.handle_datagram(now, from, &payload) {
                            break;
                        }
                    }
                    self.after_io(to);
                }
                Action::Timeout { node, generation } => {
                    let n = &mut self.nodes[node];
                    if n.state != State::Alive || n.timer_generation != generation {
                        continue;
                    }
                    n.timer_at = Duration::MAX;
                    for service in &mut n.services {
                        if service.poll_timeout() <= now {
                            service.handle_timeout(now);
                        }
                    }
                    self.after_io(node);
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// The service of `proto` on node `i`.
    fn service(&self, i: usize, proto: Proto) -> &dyn Service {
        self.nodes[i]
            .services
            .iter()
            .find(|s| s.protocol() == proto)
            .expect("node speaks the protocol")
            .as_ref()
    }

    /// Runs `trials` lookups of random targets from random running nodes that speak
    /// `proto`, one after the other. A lookup is exact if its result is the true
    /// [`RESULT_SIZE`] closest running nodes that speak `proto` (the querier aside).
    pub fn lookup_accuracy(&mut self, proto: Proto, trials: usize) -> Accuracy {
        let mut exact = 0;
        let mut packets = 0;
        for _ in 0..trials {
            let querier = loop {
                let [i] = self.random_alive(1)[..] else {
                    unreachable!()
                };
                if self.nodes[i].kind.speaks(proto) {
                    break i;
                }
            };
            let mut target = [0u8; 64];
            self.rng.fill_bytes(&mut target);
            let target = PeerId(target);
            let target_id = NodeId::from_peer_id(&target);
            let now = self.base + self.now;
            let service = self.nodes[querier]
                .services
                .iter_mut()
                .find(|s| s.protocol() == proto)
                .expect("querier speaks the protocol");
            let id = service.lookup(now, &target);
            self.after_io(querier);
            let key = (querier, proto, id);
            let deadline = self.now + Duration::from_secs(60);
            while !self.finished.contains_key(&key) && self.now < deadline {
                self.run_until(self.now + Duration::from_millis(100));
            }
            let finished = self
                .finished
                .remove(&key)
                .expect("lookup finished within 60 s");
            packets += finished.packets;
            let mut truth: Vec<NodeId> = (0..self.nodes.len())
                .filter(|&i| i != querier && self.is_alive(i) && self.nodes[i].kind.speaks(proto))
                .map(|i| self.nodes[i].id)
                .collect();
            truth.sort_by_key(|id| id.distance(&target_id));
            truth.truncate(RESULT_SIZE);
            let mut got = finished.nodes;
            got.sort_by_key(|id| id.distance(&target_id));
            if got == truth {
                exact += 1;
            } else if std::env::var("SIM_DEBUG").is_ok() {
                self.explain_miss(proto, querier, &target_id, &truth, &got);
            }
        }
        Accuracy {
            trials,
            exact,
            packets: packets as f64 / trials as f64,
        }
    }

    /// Prints why a lookup missed (with `SIM_DEBUG` set): the ranks it missed and how many
    /// tables hold each of them verified.
    fn explain_miss(
        &self,
        proto: Proto,
        querier: usize,
        target: &NodeId,
        truth: &[NodeId],
        got: &[NodeId],
    ) {
        let missing: Vec<(usize, u32)> = truth
            .iter()
            .enumerate()
            .filter(|(_, t)| !got.contains(t))
            .map(|(rank, t)| (rank, t.log_distance(target)))
            .collect();
        let known: Vec<usize> = missing
            .iter()
            .map(|(rank, _)| {
                (0..self.nodes.len())
                    .filter(|&i| self.is_alive(i) && self.nodes[i].kind.speaks(proto))
                    .filter(|&i| {
                        self.service(i, proto)
                            .table_entries()
                            .contains(&(truth[*rank], true))
                    })
                    .count()
            })
            .collect();
        let extra: Vec<u32> = got
            .iter()
            .filter(|g| !truth.contains(g))
            .map(|g| g.log_distance(target))
            .collect();
        eprintln!(
            "{proto:?} lookup from {querier}: got {}; missing (rank, log-distance) {missing:?}, in {known:?} tables; extra log-distances {extra:?}",
            got.len()
        );
    }

    /// Over the running nodes that speak `proto`: the mean table size, and the fraction of
    /// verified table entries (those a node hands to others) that point at stopped nodes.
    pub fn table_health(&self, proto: Proto) -> (f64, f64) {
        let alive: HashMap<NodeId, bool> = self
            .nodes
            .iter()
            .map(|n| (n.id, n.state == State::Alive))
            .collect();
        let (mut entries, mut verified, mut dead, mut tables) = (0usize, 0usize, 0usize, 0usize);
        for i in 0..self.nodes.len() {
            if !self.is_alive(i) || !self.nodes[i].kind.speaks(proto) {
                continue;
            }
            tables += 1;
            for (id, checked) in self.service(i, proto).table_entries() {
                entries += 1;
                if checked {
                    verified += 1;
                    if !alive[&id] {
                        dead += 1;
                    }
                }
            }
        }
        (
            entries as f64 / tables.max(1) as f64,
            dead as f64 / verified.max(1) as f64,
        )
    }
}

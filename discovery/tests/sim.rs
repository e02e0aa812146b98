//! A deterministic simulation of 1,000 discv4 nodes in one process: the sans-IO core over a
//! simulated network and clock, seeded randomness. Nodes bootstrap from three bootnodes; then
//! lookups for random targets must return the true 16 closest live nodes; then 30% of the nodes
//! die and the tables must heal.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ethp2p_discovery::v4::{Config, Discv4, Endpoint, Event, LookupId, NodeRecord};
use ethp2p_discovery::{Enr, NodeId, PeerId};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use secp256k1::SecretKey;

const NODES: usize = 1000;

fn nodes() -> usize {
    std::env::var("SIM_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(NODES)
}
const BOOTNODES: usize = 3;

struct SimNode {
    discv4: Discv4,
    record: NodeRecord,
    alive: bool,
    /// Generation of the scheduled timeout; stale queue entries are skipped.
    timer_generation: u64,
    timer_at: Duration,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Action {
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

struct Sim {
    base: Instant,
    now: Duration,
    nodes: Vec<SimNode>,
    by_addr: HashMap<SocketAddr, usize>,
    queue: BinaryHeap<Reverse<(Duration, u64, Action)>>,
    sequence: u64,
    rng: StdRng,
    finished: HashMap<(usize, LookupId), (Vec<NodeRecord>, u64)>,
    datagrams: u64,
    /// Last delivery time per (from, to) path: paths deliver in order, as real ones mostly do.
    path_clock: HashMap<(usize, usize), Duration>,
}

fn address(i: usize) -> SocketAddr {
    // Each node in its own /24 of public-looking space, so subnet limits never bind.
    let ip = Ipv4Addr::new(
        11 + (i / 65536) as u8,
        (i / 256 % 256) as u8,
        (i % 256) as u8,
        1,
    );
    SocketAddr::new(IpAddr::V4(ip), 30303)
}

impl Sim {
    fn new(seed: u64, config: Config) -> Sim {
        let base = Instant::now();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut keys = Vec::new();
        let mut records = Vec::new();
        for i in 0..nodes() {
            let key = loop {
                if let Ok(key) = SecretKey::from_secret_bytes(rng.random()) {
                    break key;
                }
            };
            let addr = address(i);
            records.push(NodeRecord {
                endpoint: Endpoint::from(addr),
                id: PeerId::from_secret_key(&key),
            });
            keys.push(key);
        }
        let mut sim = Sim {
            base,
            now: Duration::ZERO,
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            queue: BinaryHeap::new(),
            sequence: 0,
            rng,
            finished: HashMap::new(),
            datagrams: 0,
            path_clock: HashMap::new(),
        };
        let bootnodes: Vec<NodeRecord> = records[..BOOTNODES].to_vec();
        for (i, (key, record)) in keys.into_iter().zip(records).enumerate() {
            let enr = Enr::builder()
                .ip4(Ipv4Addr::new(0, 0, 0, 0))
                .build(&key)
                .unwrap();
            let mut config = config.clone();
            config.bootnodes = bootnodes
                .iter()
                .filter(|b| b.id != record.id)
                .cloned()
                .collect();
            // Nodes join over the first 20 simulated seconds.
            let join = if i < BOOTNODES {
                Duration::ZERO
            } else {
                Duration::from_millis(sim.rng.random_range(0..20_000))
            };
            let discv4 = Discv4::new(
                key,
                enr,
                record.endpoint,
                config,
                base + join,
                1_800_000_000,
                i as u64,
            );
            sim.by_addr.insert(address(i), i);
            sim.nodes.push(SimNode {
                discv4,
                record,
                alive: true,
                timer_generation: 0,
                timer_at: Duration::MAX,
            });
            sim.after_io(i);
        }
        sim
    }

    fn push(&mut self, at: Duration, action: Action) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, action)));
    }

    /// Moves a node's outputs into the network and reschedules its timer.
    fn after_io(&mut self, i: usize) {
        let from = address(i);
        while let Some(transmit) = self.nodes[i].discv4.poll_transmit() {
            self.datagrams += 1;
            if let Some(&to) = self.by_addr.get(&transmit.to) {
                let latency = Duration::from_millis(self.rng.random_range(5..50));
                let previous = self.path_clock.get(&(i, to)).copied().unwrap_or_default();
                let at = (self.now + latency).max(previous + Duration::from_micros(1));
                self.path_clock.insert((i, to), at);
                self.push(
                    at,
                    Action::Deliver {
                        to,
                        from,
                        payload: transmit.payload,
                    },
                );
            }
        }
        while let Some(event) = self.nodes[i].discv4.poll_event() {
            if let Event::LookupFinished {
                id, nodes, packets, ..
            } = event
            {
                self.finished.insert((i, id), (nodes, packets));
            }
        }
        let at = self.nodes[i]
            .discv4
            .poll_timeout()
            .duration_since(self.base);
        let node = &mut self.nodes[i];
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

    fn run_until(&mut self, until: Duration) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            let Reverse((at, _, action)) = self.queue.pop().unwrap();
            self.now = at;
            let now = self.base + at;
            match action {
                Action::Deliver { to, from, payload } => {
                    if !self.nodes[to].alive {
                        continue;
                    }
                    self.nodes[to].discv4.handle_datagram(now, from, &payload);
                    self.after_io(to);
                }
                Action::Timeout { node, generation } => {
                    if !self.nodes[node].alive || self.nodes[node].timer_generation != generation {
                        continue;
                    }
                    self.nodes[node].timer_at = Duration::MAX;
                    self.nodes[node].discv4.handle_timeout(now);
                    self.after_io(node);
                }
            }
        }
        self.now = until;
    }

    fn live_ids(&self) -> Vec<(NodeId, PeerId)> {
        self.nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| (NodeId::from_peer_id(&n.record.id), n.record.id))
            .collect()
    }

    /// Runs `trials` lookups of random targets from random live nodes; returns the fraction
    /// whose result is exactly the true 16 closest live nodes, and the mean packets per lookup.
    fn lookup_accuracy(&mut self, trials: usize) -> (f64, f64) {
        let live = self.live_ids();
        let mut exact = 0;
        let mut packets = 0;
        for _ in 0..trials {
            let querier = loop {
                let i = self.rng.random_range(0..nodes());
                if self.nodes[i].alive {
                    break i;
                }
            };
            let mut target = [0u8; 64];
            self.rng.fill_bytes(&mut target);
            let target = PeerId(target);
            let target_id = NodeId::from_peer_id(&target);
            let id = self.nodes[querier]
                .discv4
                .lookup(self.base + self.now, target);
            self.after_io(querier);
            let deadline = self.now + Duration::from_secs(30);
            while !self.finished.contains_key(&(querier, id)) && self.now < deadline {
                let step = self.now + Duration::from_millis(100);
                self.run_until(step);
            }
            let (result, sent) = self
                .finished
                .remove(&(querier, id))
                .expect("lookup finished within 30 s");
            packets += sent;
            let mut truth: Vec<NodeId> = live
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| *id != NodeId::from_peer_id(&self.nodes[querier].record.id))
                .collect();
            truth.sort_by_key(|id| id.distance(&target_id));
            truth.truncate(16);
            let mut got: Vec<NodeId> = result.iter().map(|r| NodeId::from_peer_id(&r.id)).collect();
            got.sort_by_key(|id| id.distance(&target_id));
            if got == truth {
                exact += 1;
            } else if std::env::var("SIM_DEBUG").is_ok() {
                let missing: Vec<_> = truth
                    .iter()
                    .filter(|t| !got.contains(t))
                    .map(|t| 256 - t.log_distance(&target_id))
                    .collect();
                let extra: Vec<_> = got
                    .iter()
                    .filter(|g| !truth.contains(g))
                    .map(|g| 256 - g.log_distance(&target_id))
                    .collect();
                eprintln!(
                    "got {} truth {} missing(lz) {missing:?} extra(lz) {extra:?}",
                    got.len(),
                    truth.len()
                );
                let table_has_truth: Vec<usize> = result
                    .iter()
                    .map(|r| {
                        let idx = self.nodes.iter().position(|n| n.record.id == r.id).unwrap();
                        truth
                            .iter()
                            .filter(|t| self.nodes[idx].discv4.table().get(t).is_some())
                            .count()
                    })
                    .collect();
                let extras_in_querier = result
                    .iter()
                    .filter(|r| {
                        self.nodes[querier]
                            .discv4
                            .table()
                            .get(&NodeId::from_peer_id(&r.id))
                            .is_some()
                    })
                    .count();
                eprintln!(
                    "  packets {sent}; result nodes in querier table {extras_in_querier}; truth nodes in each result node's table {table_has_truth:?}; querier table {}",
                    self.nodes[querier].discv4.table().len()
                );
                for t in truth.iter().filter(|t| !got.contains(t)).take(1) {
                    let knowers = result
                        .iter()
                        .filter(|r| {
                            let idx = self.nodes.iter().position(|n| n.record.id == r.id).unwrap();
                            self.nodes[idx].discv4.table().get(t).is_some()
                        })
                        .count();
                    let in_querier = self.nodes[querier].discv4.table().get(t).is_some();
                    let idx = self
                        .nodes
                        .iter()
                        .position(|n| NodeId::from_peer_id(&n.record.id) == *t)
                        .unwrap();
                    let own = self.nodes[idx].discv4.table().len();
                    eprintln!(
                        "  missing node known by {knowers}/{} result nodes; in querier table: {in_querier}; its own table {own}",
                        result.len()
                    );
                }
            }
        }
        (exact as f64 / trials as f64, packets as f64 / trials as f64)
    }

    /// Mean table size, and the fraction of verified table entries (those a node hands to
    /// others) that point at dead nodes.
    fn table_health(&self) -> (f64, f64) {
        let alive: HashMap<PeerId, bool> =
            self.nodes.iter().map(|n| (n.record.id, n.alive)).collect();
        let (mut entries, mut verified, mut dead, mut tables) = (0usize, 0usize, 0usize, 0usize);
        for node in self.nodes.iter().filter(|n| n.alive) {
            tables += 1;
            for entry in node.discv4.table().nodes() {
                entries += 1;
                if entry.last_pong.is_some() {
                    verified += 1;
                    if !alive[&entry.record.id] {
                        dead += 1;
                    }
                }
            }
        }
        (
            entries as f64 / tables as f64,
            dead as f64 / verified.max(1) as f64,
        )
    }
}

#[test]
fn thousand_nodes_bootstrap_converge_and_heal() {
    let config = Config {
        revalidate_interval: Duration::from_secs(5),
        refresh_interval: Duration::from_secs(300),
        ..Config::default()
    };
    let mut sim = Sim::new(7, config);
    let started = std::time::Instant::now();

    // Bootstrap: every node looks itself up once it has pinged the bootnodes, then refreshes.
    let mut converged_at = None;
    for step in 1..=9 {
        sim.run_until(Duration::from_secs(step * 10));
        let (mean_table, dead) = sim.table_health();
        assert_eq!(dead, 0.0, "no dead nodes before the kill");
        if converged_at.is_none() && mean_table >= 32.0 {
            converged_at = Some(sim.now);
        }
    }
    let (mean_table, _) = sim.table_health();
    let converged_at = converged_at.expect("tables filled");
    let (accuracy, packets) = sim.lookup_accuracy(100);
    println!(
        "bootstrap: mean table size {mean_table:.1} nodes; tables reached 32 entries on average after {converged_at:?} simulated; {} datagrams so far",
        sim.datagrams
    );
    println!(
        "lookups: {:.0}% exact 16 closest, {packets:.1} packets per lookup",
        accuracy * 100.0
    );
    assert!(accuracy >= 0.95, "lookup accuracy {accuracy}");

    // Kill 30% (never the querier side of the network's bootnodes: they may die too).
    let mut killed = 0;
    while killed < nodes() * 3 / 10 {
        let i = sim.rng.random_range(0..nodes());
        if sim.nodes[i].alive {
            sim.nodes[i].alive = false;
            killed += 1;
        }
    }
    let (_, dead_after_kill) = sim.table_health();
    let kill_time = sim.now;
    let mut healed_at = None;
    for step in 1..=60 {
        sim.run_until(kill_time + Duration::from_secs(step * 10));
        let (_, dead) = sim.table_health();
        if dead <= 0.02 {
            healed_at = Some(sim.now - kill_time);
            break;
        }
    }
    let (mean_table, dead_now) = sim.table_health();
    println!(
        "after killing 30%: dead entries {:.1}% -> {:.1}% (healed to <=2% after {healed_at:?} simulated), mean table {mean_table:.1}",
        dead_after_kill * 100.0,
        dead_now * 100.0
    );
    assert!(dead_after_kill > 0.2, "the kill hit the tables");
    assert!(healed_at.is_some(), "tables healed");
    let (accuracy, packets) = sim.lookup_accuracy(100);
    println!(
        "lookups after healing: {:.0}% exact, {packets:.1} packets per lookup",
        accuracy * 100.0
    );
    assert!(accuracy >= 0.95, "lookup accuracy after healing {accuracy}");
    println!("wall time {:?}", started.elapsed());
}

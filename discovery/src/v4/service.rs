//! The discv4 protocol as a sans-IO state machine: feed it datagrams
//! ([`Discv4::handle_datagram`]) and the passage of time ([`Discv4::handle_timeout`]); take out
//! datagrams to send ([`Discv4::poll_transmit`]), events ([`Discv4::poll_event`]) and when to
//! wake it next ([`Discv4::poll_timeout`]). No sockets, no clock, no global RNG: one process
//! can simulate thousands of nodes, and the tokio driver is a thin loop around it.
//!
//! Rules ([discv4.md](https://github.com/ethereum/devp2p/blob/master/discv4.md), go-ethereum's
//! `p2p/discover/v4_udp.go`):
//! - Replies go to the packet's source address, never to an endpoint it claims.
//! - Expired packets (expiration read as a signed 64-bit time) get no reply.
//! - Endpoint proof: FINDNODE and ENRREQUEST are answered only if that node id, at that IP,
//!   answered one of our Pings with a valid PONG within `bond_expiration` (24 h). Without it a
//!   spoofed source could turn us into an amplifier. A Ping from a node we have no recent PONG
//!   of is answered and pinged back.
//! - Replies are accepted only when we are waiting for them, from that id and IP: NEIGHBORS we
//!   did not ask for are never trusted.
//! - Only nodes that answered our Ping enter the table.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secp256k1::SecretKey;

use super::bonds::Bonds;
use super::clock::UnixClock;
use super::deferred::{AfterBond, AfterBondQueue, AfterBondRequest, FindNodeQueue, QueuedFindNode};
use super::packet::{
    self, Endpoint, EnrRequest, EnrResponse, FindNode, Message, PING_VERSION, Ping, Pong,
};
use super::replay::ReplayFilter;
use super::requests::{NeighborsWait, Pending, PingPurpose, Requests, Waiting};
use crate::drop_log::DropLog;
use crate::enr::Enr;
use crate::kad::{AddOutcome, BUCKET_SIZE, EndpointVotes, Lookup, LookupId, Table};
use crate::netutil::{Cidr, relay_allowed};
use crate::{Enode, NodeId, PeerId};

/// Settings of the protocol (go-ethereum's values by default).
#[derive(Debug, Clone)]
pub struct Config {
    /// How long to wait for a reply (500 ms).
    pub reply_timeout: Duration,
    /// How long a PONG counts as endpoint proof (24 h).
    pub bond_expiration: Duration,
    /// How often one table node is re-pinged (10 s).
    pub revalidate_interval: Duration,
    /// How often a random lookup refreshes the table (30 min).
    pub refresh_interval: Duration,
    /// Concurrent FINDNODE queries per lookup (Kademlia alpha, 3).
    pub alpha: usize,
    /// Nodes to start from when the table is empty.
    pub bootnodes: Vec<Enode>,
    /// If set, nodes outside these ranges are ignored.
    pub net_restrict: Option<Vec<Cidr>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            reply_timeout: Duration::from_millis(500),
            bond_expiration: Duration::from_secs(24 * 60 * 60),
            revalidate_interval: Duration::from_secs(10),
            refresh_interval: Duration::from_secs(30 * 60),
            alpha: 3,
            bootnodes: Vec::new(),
            net_restrict: None,
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// The packet.
    pub payload: Vec<u8>,
}

/// Something the node using discovery may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A node answered our Ping and entered the table: a dial candidate.
    NodeAdded(Enode),
    /// A node answered our Ping but its bucket is full: it waits among the bucket's
    /// replacements. Still a dial candidate (in a network of more than a few hundred nodes most
    /// nodes a node ever verifies end up here).
    ReplacementAdded(Enode),
    /// A node failed revalidation and left the table.
    NodeRemoved(PeerId),
    /// A lookup ended; `nodes` are the closest that answered, closest first.
    LookupFinished {
        /// Which lookup.
        id: LookupId,
        /// Its target.
        target: PeerId,
        /// Result.
        nodes: Vec<Enode>,
        /// Every node it learned of and did not see fail (up to 256, closest first, the result
        /// included): dial candidates, not yet checked.
        learned: Vec<Enode>,
        /// Packets the lookup sent (Pings to bond, FINDNODEs).
        packets: u64,
    },
    /// A Ping started with [`Discv4::ping`] was answered.
    Pong {
        /// The node, at the address it answered from.
        node: Enode,
        /// Its announced ENR sequence number.
        enr_seq: Option<u64>,
        /// Round trip.
        rtt: Duration,
    },
    /// A Ping started with [`Discv4::ping`] got no answer.
    PingTimeout(Enode),
    /// A record asked for with [`Discv4::request_enr`] arrived and verified.
    Enr {
        /// The node.
        node: Enode,
        /// Its record (boxed: records are large next to the other events).
        enr: Box<Enr>,
    },
    /// A record request failed (no answer, or an invalid record).
    EnrFailed(Enode),
    /// The majority of recent PONGs from peers of one family now say our external UDP
    /// endpoint of that family is this (IPv4 and IPv6 are predicted apart).
    ExternalEndpoint(SocketAddr),
}

/// Counters of what was received, sent and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams fed in.
    pub received: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Undecodable: garbage, truncated, oversized, wrong hash or signature.
    pub dropped_malformed: u64,
    /// Past their expiration.
    pub dropped_expired: u64,
    /// Replies nobody asked for (or from the wrong id or IP).
    pub dropped_unsolicited: u64,
    /// Requests from nodes without endpoint proof.
    pub dropped_no_proof: u64,
    /// The same packet again.
    pub dropped_replayed: u64,
    /// Our own packets reflected back.
    pub dropped_self: u64,
    /// Not discv4 at all (see [`NotDiscv4`]) and handed back to the caller by
    /// [`Discv4::handle_shared_datagram`] for the other protocol on the port; not drops.
    pub passed_on: u64,
}

/// A datagram that is no discv4 packet at all: too short or too long, a hash that does not
/// match, or no signer to recover. On a UDP port shared with discv5 it goes to discv5, as
/// go-ethereum's `Config.Unhandled` hands over what `UDPv4` cannot decode
/// (`p2p/discover/v4_udp.go`). A packet with a valid hash but invalid content is a broken
/// discv4 packet, not another protocol's, and is dropped by discv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a discv4 packet: {0}")]
pub struct NotDiscv4(pub packet::PacketError);

/// A node whose UDP port is this or lower is not accepted from NEIGHBORS (go-ethereum rule).
const MIN_UDP_PORT: u16 = 1024;

/// One discv4 node.
pub struct Discv4 {
    key: SecretKey,
    local_id: PeerId,
    local_node_id: NodeId,
    local_enr: Enr,
    local_endpoint: Endpoint,
    config: Config,
    table: Table,
    bonds: Bonds,
    requests: Requests,
    after_bond: AfterBondQueue,
    queued_find_nodes: FindNodeQueue,
    lookups: HashMap<LookupId, Lookup>,
    next_lookup: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    rng: StdRng,
    clock: UnixClock,
    next_revalidate: Instant,
    revalidate_unverified: bool,
    next_refresh: Instant,
    votes: EndpointVotes,
    replays: ReplayFilter,
    drop_log: DropLog,
    stats: Stats,
}

impl Discv4 {
    /// A node with `key`, announcing `local_enr` and reachable at `local_endpoint`. `now` and
    /// `unix_now` (seconds since 1970) anchor its clock; `seed` its randomness. Bootnodes are
    /// pinged and a lookup of our own id starts at once.
    pub fn new(
        key: SecretKey,
        local_enr: Enr,
        local_endpoint: Endpoint,
        config: Config,
        now: Instant,
        unix_now: u64,
        seed: u64,
    ) -> Self {
        let local_id = PeerId::from_secret_key(&key);
        let local_node_id = NodeId::from_peer_id(&local_id);
        let mut rng = StdRng::seed_from_u64(seed);
        let first_revalidate = now + jitter(&mut rng, config.revalidate_interval);
        let mut node = Discv4 {
            key,
            local_id,
            local_node_id,
            local_enr,
            local_endpoint,
            table: Table::new(local_node_id),
            bonds: Bonds::new(config.bond_expiration),
            requests: Requests::default(),
            after_bond: AfterBondQueue::default(),
            queued_find_nodes: FindNodeQueue::default(),
            lookups: HashMap::new(),
            next_lookup: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            clock: UnixClock::new(now, unix_now),
            next_revalidate: first_revalidate,
            revalidate_unverified: false,
            next_refresh: now + config.refresh_interval,
            votes: EndpointVotes::default(),
            replays: ReplayFilter::default(),
            drop_log: DropLog::new("discv4", crate::metrics::dropped),
            stats: Stats::default(),
            config,
        };
        node.bootstrap(now);
        node
    }

    /// Our public key.
    pub fn local_id(&self) -> PeerId {
        self.local_id
    }

    /// The record we hand out.
    pub fn local_enr(&self) -> &Enr {
        &self.local_enr
    }

    /// Replaces the record we hand out (and whose sequence number our Pings carry), e.g. after
    /// the external address changed.
    pub fn set_local_enr(&mut self, enr: Enr, endpoint: Endpoint) {
        self.local_enr = enr;
        self.local_endpoint = endpoint;
    }

    /// The node table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Nodes with a PONG within the bond expiration, with its time as unix seconds: what a node
    /// database keeps for the next start.
    pub fn bonded_nodes(&self, now: Instant) -> Vec<(Enode, u64)> {
        self.table
            .nodes()
            .filter_map(|node| {
                let pong = self.bonds.valid_pong(&node.id, node.record.ip, now)?;
                Some((node.record, self.clock.unix_at(pong)))
            })
            .collect()
    }

    /// Seeds from a node database: nodes with the unix time of their last PONG. Recent ones
    /// keep their endpoint proof, and all are pinged so live ones enter the table.
    pub fn add_seeds(&mut self, now: Instant, seeds: impl IntoIterator<Item = (Enode, u64)>) {
        let now_unix = self.clock.unix_at(now);
        for (record, pong_unix) in seeds {
            let id = NodeId::from_peer_id(&record.id);
            if id == self.local_node_id {
                continue;
            }
            let age = Duration::from_secs(now_unix.saturating_sub(pong_unix));
            if age < self.config.bond_expiration {
                self.bonds.restore_pong(id, record.ip, now.checked_sub(age));
            }
            self.ping_with(now, record, PingPurpose::Add);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Discv4::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Instant {
        let replies = self.requests.next_deadline();
        let after_bond = self.after_bond.next_deadline();
        [replies, after_bond]
            .into_iter()
            .flatten()
            .chain([self.next_revalidate, self.next_refresh])
            .min()
            .expect("timers always exist")
    }

    /// Pings `node`; the answer comes as [`Event::Pong`] or [`Event::PingTimeout`].
    pub fn ping(&mut self, now: Instant, node: Enode) {
        self.ping_with(now, node, PingPurpose::User(now));
    }

    /// Asks `node` for its current ENR (bonding first if needed); the answer comes as
    /// [`Event::Enr`] or [`Event::EnrFailed`].
    pub fn request_enr(&mut self, now: Instant, node: Enode) {
        let id = NodeId::from_peer_id(&node.id);
        if self.pinged_us(&id, node.ip, now) {
            self.send_enr_request(now, node, id);
        } else {
            self.ping_with(now, node, PingPurpose::EnrBond);
        }
    }

    /// Starts a lookup of the nodes closest to `target` (a public key, or 64 random bytes).
    pub fn lookup(&mut self, now: Instant, target: PeerId) -> LookupId {
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let target_id = NodeId::from_peer_id(&target);
        let mut seeds: Vec<Enode> = self
            .table
            .closest(&target_id, BUCKET_SIZE, false)
            .into_iter()
            .map(|n| n.record)
            .collect();
        if seeds.len() < BUCKET_SIZE {
            seeds.extend(self.config.bootnodes.iter().cloned());
        }
        self.lookups.insert(
            id,
            Lookup::new(target, target_id, self.local_node_id, seeds),
        );
        self.advance_lookup(now, id);
        id
    }

    /// Starts a lookup of a random target.
    pub fn random_lookup(&mut self, now: Instant) -> LookupId {
        let mut target = [0u8; 64];
        self.rng.fill_bytes(&mut target);
        self.lookup(now, PeerId(target))
    }

    fn bootstrap(&mut self, now: Instant) {
        for node in self.config.bootnodes.clone() {
            self.ping_with(now, node, PingPurpose::Add);
        }
        if !self.config.bootnodes.is_empty() {
            self.lookup(now, self.local_id);
        }
    }

    // ----- sending -----

    fn send(&mut self, to: SocketAddr, message: &Message) -> [u8; 32] {
        let (payload, hash) = packet::encode(message, &self.key);
        self.stats.sent += 1;
        self.transmits.push_back(Transmit { to, payload });
        hash
    }

    fn wait(&mut self, now: Instant, node: Enode, node_id: NodeId, waiting: Waiting) {
        let deadline = now + self.config.reply_timeout;
        let pending = Pending {
            node,
            node_id,
            waiting,
        };
        self.requests.wait(pending, deadline);
    }

    fn ping_with(&mut self, now: Instant, node: Enode, purpose: PingPurpose) {
        let node_id = NodeId::from_peer_id(&node.id);
        if let Some(purposes) = self.requests.ping_purposes_mut(&node_id) {
            purposes.push(purpose);
            return;
        }
        if node_id == self.local_node_id || self.requests.is_full() {
            self.ping_failed(now, node, node_id, purpose);
            return;
        }
        let ping = Ping {
            version: PING_VERSION,
            from: self.local_endpoint,
            to: Endpoint::from(&node),
            expiration: self.clock.expiration(now),
            enr_seq: Some(self.local_enr.seq()),
        };
        let hash = self.send(udp_addr(&node), &Message::Ping(ping));
        if let PingPurpose::Lookup(lookup) = purpose {
            if let Some(lookup) = self.lookups.get_mut(&lookup) {
                lookup.packets_sent += 1;
            }
        }
        let purposes = vec![purpose];
        self.wait(now, node, node_id, Waiting::Pong { hash, purposes });
    }

    fn send_find_node(&mut self, now: Instant, lookup: LookupId, node: Enode, node_id: NodeId) {
        // NEIGHBORS carries no request id: with two FINDNODEs to one node in flight, answers
        // could not be told apart. A second one waits until the first completes.
        if self.requests.finding(&node_id) {
            let queued = QueuedFindNode { node, lookup };
            self.queued_find_nodes.push(node_id, queued);
            return;
        }
        let Some(state) = self.lookups.get_mut(&lookup) else {
            return;
        };
        state.packets_sent += 1;
        let target = state.target;
        let message = Message::FindNode(FindNode {
            target,
            expiration: self.clock.expiration(now),
        });
        self.send(udp_addr(&node), &message);
        self.wait(
            now,
            node,
            node_id,
            Waiting::Neighbors(NeighborsWait {
                lookup,
                received: 0,
                replied: false,
            }),
        );
    }

    /// Sends the next FINDNODE that waited for `node_id` to become free.
    fn send_queued_find_node(&mut self, now: Instant, node_id: NodeId) {
        if let Some(QueuedFindNode { node, lookup }) = self.queued_find_nodes.pop(&node_id) {
            self.send_find_node(now, lookup, node, node_id);
        }
    }

    fn send_enr_request(&mut self, now: Instant, node: Enode, node_id: NodeId) {
        let message = Message::EnrRequest(EnrRequest {
            expiration: self.clock.expiration(now),
        });
        let hash = self.send(udp_addr(&node), &message);
        self.wait(now, node, node_id, Waiting::Enr { hash });
    }

    // ----- endpoint proofs -----

    /// It answered our Ping from this IP recently: it may ask us FINDNODE and ENRREQUEST.
    fn has_proof(&self, id: &NodeId, ip: IpAddr, now: Instant) -> bool {
        self.bonds.has_proof(id, ip, now)
    }

    /// It pinged us from this IP recently (and got our Pong): it holds proof of us.
    fn pinged_us(&self, id: &NodeId, ip: IpAddr, now: Instant) -> bool {
        self.bonds.pinged_us(id, ip, now)
    }

    // ----- receiving -----

    /// Handles one datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let _ = self.receive(now, from, datagram, false);
    }

    /// Handles one datagram from `from` on a port shared with another protocol: a datagram
    /// that is no discv4 packet at all is neither handled nor counted as a drop, but handed
    /// back as [`NotDiscv4`] for the other protocol (counted in [`Stats::passed_on`]).
    pub fn handle_shared_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), NotDiscv4> {
        self.receive(now, from, datagram, true)
    }

    fn receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        shared: bool,
    ) -> Result<(), NotDiscv4> {
        // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: they are IPv4 here.
        let from = crate::netutil::canonical_addr(from);
        self.stats.received += 1;
        let packet = match packet::decode(datagram) {
            Ok(packet) => packet,
            Err(error) if shared && error.is_not_discv4() => {
                self.stats.passed_on += 1;
                crate::metrics::passed_on();
                return Err(NotDiscv4(error));
            }
            Err(error) => {
                self.stats.dropped_malformed += 1;
                self.drop_log.dropped(now, "malformed", from, &error);
                return Ok(());
            }
        };
        crate::metrics::packet_in(packet.message.packet_type());
        // Replays matter for requests that make us send more than we got (FINDNODE,
        // ENRREQUEST). PINGs are not filtered: an identical PING within the same second
        // (signatures are deterministic) is a legitimate retry, answered again.
        if matches!(
            packet.message,
            Message::FindNode(_) | Message::EnrRequest(_)
        ) {
            let signed = datagram.get(packet::HEADER_SIZE..).unwrap_or_default();
            if !self.replays.first_time(&packet.sender, signed) {
                self.stats.dropped_replayed += 1;
                self.drop_log
                    .dropped(now, "replayed", from, &"same request seen recently");
                return Ok(());
            }
        }
        let sender_id = NodeId::from_peer_id(&packet.sender);
        if sender_id == self.local_node_id {
            self.stats.dropped_self += 1;
            crate::metrics::dropped("self");
            return Ok(());
        }
        if let Some(expiration) = packet.message.expiration() {
            if packet::is_expired(expiration, self.clock.unix_at(now)) {
                self.stats.dropped_expired += 1;
                self.drop_log.dropped(now, "expired", from, &expiration);
                return Ok(());
            }
        }
        let sender = Sender {
            addr: from,
            id: packet.sender,
            node_id: sender_id,
        };
        match packet.message {
            Message::Ping(ping) => self.on_ping(now, sender, packet.hash, ping),
            Message::Pong(pong) => self.on_pong(now, sender, pong),
            Message::FindNode(find) => self.on_find_node(now, sender, find),
            Message::Neighbors(neighbors) => self.on_neighbors(now, sender, neighbors.nodes),
            Message::EnrRequest(_) => self.on_enr_request(now, sender, packet.hash),
            Message::EnrResponse(response) => self.on_enr_response(now, sender, response),
        }
        Ok(())
    }

    fn on_ping(&mut self, now: Instant, sender: Sender, hash: [u8; 32], ping: Ping) {
        let from = sender.addr;
        let record = Enode {
            id: sender.id,
            ip: from.ip(),
            tcp_port: ping.from.tcp_port,
            udp_port: from.port(),
        };
        let pong = Pong {
            to: Endpoint::from(&record),
            ping_hash: hash,
            expiration: self.clock.expiration(now),
            enr_seq: Some(self.local_enr.seq()),
        };
        self.send(from, &Message::Pong(pong));
        self.bonds.ping_received(sender.node_id, from.ip(), now);
        if self.has_proof(&sender.node_id, from.ip(), now) {
            self.add_to_table(record, ping.enr_seq, now);
        } else {
            self.ping_with(now, record, PingPurpose::Add);
        }
        // It now holds proof of us: requests that waited for that can go.
        for request in self.after_bond.take_ready(&sender.node_id) {
            self.run_after_bond(now, request);
        }
    }

    fn run_after_bond(&mut self, now: Instant, request: AfterBondRequest) {
        let AfterBondRequest {
            node,
            node_id,
            action,
        } = request;
        match action {
            AfterBond::FindNode(lookup) => self.send_find_node(now, lookup, node, node_id),
            AfterBond::EnrRequest => self.send_enr_request(now, node, node_id),
        }
    }

    fn add_to_table(&mut self, record: Enode, enr_seq: Option<u64>, now: Instant) {
        if !self.allowed(record.ip) {
            return;
        }
        let outcome = self.table.add_verified(record, enr_seq, now);
        match outcome {
            AddOutcome::Added | AddOutcome::Verified => {
                self.events.push_back(Event::NodeAdded(record))
            }
            AddOutcome::Replacement => self.events.push_back(Event::ReplacementAdded(record)),
            _ => {}
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.config
            .net_restrict
            .as_ref()
            .is_none_or(|ranges| ranges.iter().any(|r| r.contains(ip)))
    }

    fn on_pong(&mut self, now: Instant, sender: Sender, pong: Pong) {
        let ip = sender.addr.ip();
        let Some((mut node, purposes)) =
            self.requests
                .take_pong(&sender.node_id, ip, &pong.ping_hash)
        else {
            self.stats.dropped_unsolicited += 1;
            self.drop_log
                .dropped(now, "unsolicited pong", sender.addr, &"no matching ping");
            return;
        };
        self.bonds.pong_received(sender.node_id, ip, now);
        self.votes.add(
            sender.addr.ip(),
            SocketAddr::new(pong.to.ip, pong.to.udp_port),
            now,
        );
        for predicted in self.votes.changed(now) {
            self.events.push_back(Event::ExternalEndpoint(predicted));
        }
        node.udp_port = sender.addr.port();
        self.add_to_table(node, pong.enr_seq, now);
        for purpose in purposes {
            let node = node;
            match purpose {
                PingPurpose::Add | PingPurpose::Revalidate => {}
                PingPurpose::User(sent) => {
                    let rtt = now.duration_since(sent);
                    let enr_seq = pong.enr_seq;
                    self.events.push_back(Event::Pong { node, enr_seq, rtt });
                }
                PingPurpose::Lookup(lookup) => {
                    self.after_pong(now, node, sender.node_id, AfterBond::FindNode(lookup))
                }
                PingPurpose::EnrBond => {
                    self.after_pong(now, node, sender.node_id, AfterBond::EnrRequest)
                }
            }
        }
    }

    /// After our Ping was answered, the remote usually pings back (it lacks proof of us); give it
    /// one reply timeout to do so before sending the request anyway (go-ethereum's
    /// `ensureBond`).
    fn after_pong(&mut self, now: Instant, node: Enode, node_id: NodeId, action: AfterBond) {
        let request = AfterBondRequest {
            node,
            node_id,
            action,
        };
        if self.pinged_us(&node_id, node.ip, now) {
            self.run_after_bond(now, request);
        } else {
            let deadline = now + self.config.reply_timeout;
            self.after_bond.push(request, deadline);
        }
    }

    fn on_find_node(&mut self, now: Instant, sender: Sender, find: FindNode) {
        if !self.has_proof(&sender.node_id, sender.addr.ip(), now) {
            self.stats.dropped_no_proof += 1;
            self.drop_log.dropped(
                now,
                "findnode without endpoint proof",
                sender.addr,
                &sender.id,
            );
            return;
        }
        let target = NodeId::from_peer_id(&find.target);
        let relay = sender.addr.ip();
        let nodes: Vec<Enode> = self
            .table
            .closest(&target, BUCKET_SIZE, true)
            .into_iter()
            .filter(|n| relay_allowed(relay, n.record.ip))
            .map(|n| n.record)
            .collect();
        let expiration = self.clock.expiration(now);
        for payload in packet::neighbors_packets(&nodes, expiration, &self.key) {
            self.stats.sent += 1;
            self.transmits.push_back(Transmit {
                to: sender.addr,
                payload,
            });
        }
    }

    fn on_neighbors(&mut self, now: Instant, sender: Sender, nodes: Vec<Enode>) {
        let relay = sender.addr.ip();
        if self
            .requests
            .neighbors_mut(&sender.node_id, relay)
            .is_none()
        {
            self.stats.dropped_unsolicited += 1;
            self.drop_log
                .dropped(now, "unsolicited neighbors", sender.addr, &sender.id);
            return;
        }
        let listed = nodes.len();
        let accepted: Vec<Enode> = nodes
            .into_iter()
            .filter(|n| {
                n.udp_port > MIN_UDP_PORT
                    && relay_allowed(relay, n.ip)
                    && self.allowed(n.ip)
                    && n.id != self.local_id
            })
            .collect();
        let wait = self
            .requests
            .neighbors_mut(&sender.node_id, relay)
            .expect("checked above");
        wait.received += listed;
        wait.replied = true;
        let (lookup, done) = (wait.lookup, wait.received >= BUCKET_SIZE);
        // What we asked for may fill empty table slots (unverified until they answer a Ping).
        for record in &accepted {
            self.table.add_found(*record);
        }
        if let Some(state) = self.lookups.get_mut(&lookup) {
            state.add(accepted);
        }
        if done {
            self.requests.end_neighbors(&sender.node_id, relay);
            if let Some(state) = self.lookups.get_mut(&lookup) {
                state.answered(&sender.node_id);
            }
            self.advance_lookup(now, lookup);
            self.send_queued_find_node(now, sender.node_id);
        }
    }

    fn on_enr_request(&mut self, now: Instant, sender: Sender, hash: [u8; 32]) {
        if !self.has_proof(&sender.node_id, sender.addr.ip(), now) {
            self.stats.dropped_no_proof += 1;
            self.drop_log.dropped(
                now,
                "enrrequest without endpoint proof",
                sender.addr,
                &sender.id,
            );
            return;
        }
        let response = EnrResponse {
            request_hash: hash,
            enr: self.local_enr.to_rlp(),
        };
        self.send(sender.addr, &Message::EnrResponse(response));
    }

    fn on_enr_response(&mut self, now: Instant, sender: Sender, response: EnrResponse) {
        let ip = sender.addr.ip();
        let Some(node) = self
            .requests
            .take_enr(&sender.node_id, ip, &response.request_hash)
        else {
            self.stats.dropped_unsolicited += 1;
            self.drop_log
                .dropped(now, "unsolicited enrresponse", sender.addr, &sender.id);
            return;
        };
        let event = match Enr::decode(&response.enr) {
            Ok(enr) if enr.peer_id() == sender.id => Event::Enr {
                node,
                enr: Box::new(enr),
            },
            _ => Event::EnrFailed(node),
        };
        self.events.push_back(event);
    }

    // ----- time -----

    /// Advances time: expires waits, runs due requests, revalidates and refreshes the table.
    pub fn handle_timeout(&mut self, now: Instant) {
        for pending in self.requests.drain_expired(now) {
            self.on_expired(now, pending);
        }
        for request in self.after_bond.take_due(now) {
            self.run_after_bond(now, request);
        }
        if self.next_revalidate <= now {
            self.next_revalidate = now + jitter(&mut self.rng, self.config.revalidate_interval);
            self.revalidate(now);
        }
        if self.next_refresh <= now {
            self.next_refresh = now + self.config.refresh_interval;
            if self.table.is_empty() {
                self.bootstrap(now);
            } else {
                // Looking ourselves up makes the nodes nearest to us learn about us (they are
                // pinged and ping back); the random lookup refreshes distant buckets.
                self.lookup(now, self.local_id);
                self.random_lookup(now);
            }
        }
    }

    fn on_expired(&mut self, now: Instant, pending: Pending) {
        match pending.waiting {
            Waiting::Pong { purposes, .. } => {
                for purpose in purposes {
                    self.ping_failed(now, pending.node, pending.node_id, purpose);
                }
            }
            Waiting::Neighbors(NeighborsWait {
                lookup, replied, ..
            }) => {
                if let Some(state) = self.lookups.get_mut(&lookup) {
                    if replied {
                        state.answered(&pending.node_id);
                    } else {
                        state.failed(&pending.node_id);
                    }
                }
                self.advance_lookup(now, lookup);
                self.send_queued_find_node(now, pending.node_id);
            }
            Waiting::Enr { .. } => self.events.push_back(Event::EnrFailed(pending.node)),
        }
    }

    fn ping_failed(&mut self, now: Instant, node: Enode, node_id: NodeId, purpose: PingPurpose) {
        match purpose {
            PingPurpose::Add => {}
            PingPurpose::Revalidate => self.evict(now, &node, node_id),
            PingPurpose::User(_) => self.events.push_back(Event::PingTimeout(node)),
            PingPurpose::EnrBond => self.events.push_back(Event::EnrFailed(node)),
            PingPurpose::Lookup(lookup) => {
                // A table node that cannot even answer a Ping is as dead as one failing
                // revalidation.
                self.evict(now, &node, node_id);
                if let Some(state) = self.lookups.get_mut(&lookup) {
                    state.failed(&node_id);
                }
                self.advance_lookup(now, lookup);
            }
        }
    }

    /// Removes an unresponsive node from the table and tries its bucket's newest replacement.
    fn evict(&mut self, now: Instant, node: &Enode, node_id: NodeId) {
        if self.table.get(&node_id).is_none() {
            return;
        }
        let replacement = self.table.remove(&node_id);
        self.events.push_back(Event::NodeRemoved(node.id));
        if let Some(replacement) = replacement {
            self.ping_with(now, replacement, PingPurpose::Add);
        }
    }

    fn revalidate(&mut self, now: Instant) {
        let pick = self.rng.next_u32() as usize;
        // Alternate between checking a node found by a lookup and re-checking the longest
        // unconfirmed verified one, so neither kind starves the other.
        self.revalidate_unverified = !self.revalidate_unverified;
        if let Some(node) = self
            .table
            .revalidation_candidate(pick, self.revalidate_unverified)
        {
            let record = node.record;
            self.ping_with(now, record, PingPurpose::Revalidate);
        }
    }

    fn advance_lookup(&mut self, now: Instant, id: LookupId) {
        loop {
            let Some(lookup) = self.lookups.get_mut(&id) else {
                return;
            };
            let Some(node) = lookup.next_query(self.config.alpha) else {
                break;
            };
            let node_id = NodeId::from_peer_id(&node.id);
            if self.pinged_us(&node_id, node.ip, now) {
                self.send_find_node(now, id, node, node_id);
            } else {
                self.ping_with(now, node, PingPurpose::Lookup(id));
            }
        }
        if self.lookups.get(&id).is_some_and(Lookup::is_finished) {
            let lookup = self.lookups.remove(&id).expect("checked");
            self.events.push_back(Event::LookupFinished {
                id,
                target: lookup.target,
                nodes: lookup.result(),
                learned: lookup.learned(),
                packets: lookup.packets_sent,
            });
        }
    }
}

/// The sender of a verified packet.
struct Sender {
    addr: SocketAddr,
    id: PeerId,
    node_id: NodeId,
}

fn udp_addr(node: &Enode) -> SocketAddr {
    SocketAddr::new(node.ip, node.udp_port)
}

/// `interval` scaled by a random factor in [0.5, 1.5), so nodes do not act in lockstep.
fn jitter(rng: &mut StdRng, interval: Duration) -> Duration {
    interval.mul_f64(0.5 + f64::from(rng.next_u32()) / f64::from(u32::MAX))
}

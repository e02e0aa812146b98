//! The Kademlia node table: buckets by log distance from our id, each holding up to
//! [`BUCKET_SIZE`] live nodes plus a short replacement list, with per-subnet IP limits
//! ([discv4.md, "Kademlia Table"](https://github.com/ethereum/devp2p/blob/master/discv4.md#kademlia-table);
//! limits as go-ethereum's `p2p/discover/table.go`).
//!
//! Only nodes that answered our Ping enter the buckets (`add_verified`); a node we merely heard
//! of (from NEIGHBORS) never does, so the table cannot be filled with unverified addresses.
//!
//! The table is generic over the [`Contact`] it stores: discv4 keeps [`Enode`]s, discv5
//! its records with the address they are reached at. Both use this one implementation.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::netutil::is_lan;
use crate::{Enode, NodeId};

/// Nodes per bucket (Kademlia k).
pub const BUCKET_SIZE: usize = 16;
/// Replacement candidates kept per bucket.
pub const MAX_REPLACEMENTS: usize = 10;
/// Buckets: the upper 1/15 of the 256 distances, as go-ethereum keeps; closer nodes share the
/// first bucket (meeting one is astronomically unlikely).
const BUCKET_COUNT: usize = 256 / 15;
const BUCKET_MIN_DISTANCE: u32 = 256 - BUCKET_COUNT as u32;
/// At most this many nodes of one /24 in a bucket, and in the whole table.
pub const BUCKET_IP_LIMIT: usize = 2;
/// See [`BUCKET_IP_LIMIT`].
pub const TABLE_IP_LIMIT: usize = 10;

/// What the table needs of a node: its Kademlia key and the IP the subnet limits apply to.
pub trait Contact: Clone {
    /// The Kademlia key.
    fn node_id(&self) -> NodeId;
    /// The IP the node is reached at.
    fn ip(&self) -> IpAddr;
}

impl Contact for Enode {
    fn node_id(&self) -> NodeId {
        NodeId::from_peer_id(&self.id)
    }

    fn ip(&self) -> IpAddr {
        self.ip
    }
}

/// A node in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNode<R = Enode> {
    /// Identity and endpoint.
    pub record: R,
    /// Keccak-256 of the public key, the Kademlia key.
    pub id: NodeId,
    /// When it last answered a Ping; `None` while it is unverified (found by a lookup).
    pub last_pong: Option<Instant>,
    /// Consecutive Pongs since it was added (go-ethereum's liveness checks).
    pub live_checks: u32,
    /// The ENR sequence number it last announced, if any.
    pub enr_seq: Option<u64>,
}

/// The /24 (IPv4) or /48 (IPv6) a node's address belongs to; LAN addresses are exempt.
fn subnet(ip: IpAddr) -> Option<[u8; 6]> {
    if is_lan(ip) {
        return None;
    }
    let mut key = [0u8; 6];
    match ip.to_canonical() {
        IpAddr::V4(v4) => key[..3].copy_from_slice(&v4.octets()[..3]),
        IpAddr::V6(v6) => key.copy_from_slice(&v6.octets()[..6]),
    }
    Some(key)
}

/// The bucket that holds the nodes at log-distance `distance` (1..=256).
fn bucket_of(distance: u32) -> usize {
    distance.saturating_sub(BUCKET_MIN_DISTANCE + 1) as usize
}

struct Bucket<R> {
    /// Oldest first: revalidation checks the front, fresh nodes go to the back.
    entries: Vec<TableNode<R>>,
    /// Most recent last.
    replacements: Vec<R>,
}

impl<R> Default for Bucket<R> {
    fn default() -> Self {
        Bucket {
            entries: Vec::new(),
            replacements: Vec::new(),
        }
    }
}

/// What `add_verified` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// New entry.
    Added,
    /// An unverified entry answered its first Ping.
    Verified,
    /// Already present: liveness and endpoint refreshed.
    Updated,
    /// Bucket full: kept as a replacement candidate.
    Replacement,
    /// Refused by the per-subnet limit.
    IpLimit,
    /// It is us.
    IsSelf,
}

/// The table of one node.
pub struct Table<R = Enode> {
    local: NodeId,
    buckets: Vec<Bucket<R>>,
    /// Table-wide count of entries per subnet.
    subnets: HashMap<[u8; 6], usize>,
}

impl<R: Contact> Table<R> {
    /// An empty table around our own id.
    pub fn new(local: NodeId) -> Self {
        Table {
            local,
            buckets: (0..BUCKET_COUNT).map(|_| Bucket::default()).collect(),
            subnets: HashMap::new(),
        }
    }

    fn bucket_index(&self, id: &NodeId) -> usize {
        bucket_of(self.local.log_distance(id))
    }

    /// Number of nodes in the buckets.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether the buckets are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every node in the buckets.
    pub fn nodes(&self) -> impl Iterator<Item = &TableNode<R>> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// The nodes at log-distance `distance` from us (discv5's FINDNODE asks by distance); only
    /// the one bucket that can hold them is read.
    pub fn at_distance(&self, distance: u32) -> impl Iterator<Item = &TableNode<R>> {
        let bucket = (1..=256)
            .contains(&distance)
            .then(|| &self.buckets[bucket_of(distance)]);
        bucket
            .into_iter()
            .flat_map(|b| b.entries.iter())
            .filter(move |n| self.local.log_distance(&n.id) == distance)
    }

    /// The entry for `id`, if present.
    pub fn get(&self, id: &NodeId) -> Option<&TableNode<R>> {
        self.buckets[self.bucket_index(id)]
            .entries
            .iter()
            .find(|n| n.id == *id)
    }

    /// Adds (or refreshes) a node that has just answered our Ping.
    pub fn add_verified(&mut self, record: R, enr_seq: Option<u64>, now: Instant) -> AddOutcome {
        let id = record.node_id();
        if id == self.local {
            return AddOutcome::IsSelf;
        }
        let index = self.bucket_index(&id);
        if let Some(position) = self.buckets[index].entries.iter().position(|n| n.id == id) {
            let old_ip = self.buckets[index].entries[position].record.ip();
            if old_ip != record.ip() {
                // A moved node must pass the subnet limits at its new address.
                self.release_subnet(old_ip);
                if !self.claim_subnet(index, record.ip()) {
                    self.buckets[index].entries.remove(position);
                    return AddOutcome::IpLimit;
                }
            }
            let entry = &mut self.buckets[index].entries[position];
            let first_answer = entry.last_pong.is_none();
            entry.record = record;
            entry.last_pong = Some(now);
            entry.live_checks = entry.live_checks.saturating_add(1);
            entry.enr_seq = enr_seq.or(entry.enr_seq);
            return if first_answer {
                AddOutcome::Verified
            } else {
                AddOutcome::Updated
            };
        }
        let node = TableNode {
            record,
            id,
            last_pong: Some(now),
            live_checks: 1,
            enr_seq,
        };
        self.insert_new(index, node)
    }

    /// Adds a node a lookup learned about (from NEIGHBORS we asked for) as unverified, if its
    /// bucket has room: such entries are revalidated first and are not handed to others until
    /// they answer a Ping. An existing entry is never changed by hearsay.
    pub fn add_found(&mut self, record: R) -> AddOutcome {
        let id = record.node_id();
        if id == self.local {
            return AddOutcome::IsSelf;
        }
        let index = self.bucket_index(&id);
        if self.buckets[index].entries.iter().any(|n| n.id == id) {
            return AddOutcome::Updated;
        }
        let node = TableNode {
            record,
            id,
            last_pong: None,
            live_checks: 0,
            enr_seq: None,
        };
        self.insert_new(index, node)
    }

    fn insert_new(&mut self, index: usize, node: TableNode<R>) -> AddOutcome {
        if self.buckets[index].entries.len() >= BUCKET_SIZE {
            let replacements = &mut self.buckets[index].replacements;
            replacements.retain(|r| r.node_id() != node.id);
            replacements.push(node.record);
            if replacements.len() > MAX_REPLACEMENTS {
                replacements.remove(0);
            }
            return AddOutcome::Replacement;
        }
        if !self.claim_subnet(index, node.record.ip()) {
            return AddOutcome::IpLimit;
        }
        let bucket = &mut self.buckets[index];
        bucket.replacements.retain(|r| r.node_id() != node.id);
        bucket.entries.push(node);
        AddOutcome::Added
    }

    fn claim_subnet(&mut self, index: usize, ip: IpAddr) -> bool {
        let Some(net) = subnet(ip) else { return true };
        let in_table = self.subnets.get(&net).copied().unwrap_or(0);
        let in_bucket = self.buckets[index]
            .entries
            .iter()
            .filter(|n| subnet(n.record.ip()) == Some(net))
            .count();
        if in_table >= TABLE_IP_LIMIT || in_bucket >= BUCKET_IP_LIMIT {
            return false;
        }
        *self.subnets.entry(net).or_default() += 1;
        true
    }

    fn release_subnet(&mut self, ip: IpAddr) {
        if let Some(net) = subnet(ip) {
            if let Some(count) = self.subnets.get_mut(&net) {
                *count -= 1;
                if *count == 0 {
                    self.subnets.remove(&net);
                }
            }
        }
    }

    /// Removes a node that failed revalidation. Returns the most recent replacement candidate
    /// of its bucket, which the caller should ping and add if it answers.
    pub fn remove(&mut self, id: &NodeId) -> Option<R> {
        let index = self.bucket_index(id);
        let position = self.buckets[index]
            .entries
            .iter()
            .position(|n| n.id == *id)?;
        let removed = self.buckets[index].entries.remove(position);
        self.release_subnet(removed.record.ip());
        self.buckets[index].replacements.pop()
    }

    /// The node to revalidate next in the bucket chosen by `pick` (an index among the
    /// non-empty buckets): with `unverified`, a node no Ping has confirmed yet; otherwise the
    /// verified one whose last Pong is oldest. Falls back to the other kind when a bucket has
    /// none of the asked-for kind.
    pub fn revalidation_candidate(&self, pick: usize, unverified: bool) -> Option<&TableNode<R>> {
        let non_empty: Vec<&Bucket<R>> = self
            .buckets
            .iter()
            .filter(|b| !b.entries.is_empty())
            .collect();
        let bucket = non_empty.get(pick % non_empty.len().max(1))?;
        let first_unverified = bucket.entries.iter().find(|n| n.last_pong.is_none());
        let oldest_verified = bucket
            .entries
            .iter()
            .filter(|n| n.last_pong.is_some())
            .min_by_key(|n| n.last_pong);
        if unverified {
            first_unverified.or(oldest_verified)
        } else {
            oldest_verified.or(first_unverified)
        }
    }

    /// Up to `count` nodes closest to `target` by XOR distance, closest first; with
    /// `verified_only`, only nodes that answered our Ping.
    pub fn closest(
        &self,
        target: &NodeId,
        count: usize,
        verified_only: bool,
    ) -> Vec<&TableNode<R>> {
        let mut nodes: Vec<&TableNode<R>> = self
            .nodes()
            .filter(|n| !verified_only || n.last_pong.is_some())
            .collect();
        nodes.sort_by_key(|n| n.id.distance(target));
        nodes.truncate(count);
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;

    fn record(seed: u8, ip: [u8; 4]) -> Enode {
        let key = secp256k1::SecretKey::from_secret_bytes([seed.max(1); 32]).unwrap();
        Enode {
            id: PeerId::from_secret_key(&key),
            ip: IpAddr::from(ip),
            tcp_port: 30303,
            udp_port: 30303,
        }
    }

    fn local() -> NodeId {
        NodeId::from_peer_id(&record(200, [1, 1, 1, 1]).id)
    }

    #[test]
    fn add_update_remove() {
        let now = Instant::now();
        let mut table = Table::new(local());
        let a = record(1, [8, 8, 8, 8]);
        assert_eq!(table.add_verified(a, Some(3), now), AddOutcome::Added);
        assert_eq!(table.add_verified(a, None, now), AddOutcome::Updated);
        let id = NodeId::from_peer_id(&a.id);
        assert_eq!(table.get(&id).unwrap().live_checks, 2);
        assert_eq!(table.get(&id).unwrap().enr_seq, Some(3));
        assert_eq!(table.len(), 1);
        assert_eq!(table.remove(&id), None);
        assert!(table.is_empty());
        assert_eq!(
            table.add_verified(record(200, [9, 9, 9, 9]), None, now),
            AddOutcome::IsSelf
        );
    }

    #[test]
    fn subnet_limits_apply_except_on_lan() {
        let now = Instant::now();
        let mut table = Table::new(local());
        let mut added = 0;
        for seed in 1..=40u8 {
            if table.add_verified(record(seed, [8, 8, 8, seed]), None, now) == AddOutcome::Added {
                added += 1;
            }
        }
        // Never more than 10 of one /24 in the table (and 2 per bucket).
        assert!(added <= TABLE_IP_LIMIT, "{added}");
        let mut lan = Table::new(local());
        let lan_added = (1..=40u8)
            .filter(|&seed| {
                lan.add_verified(record(seed, [127, 0, 0, seed]), None, now) == AddOutcome::Added
            })
            .count();
        assert!(lan_added > TABLE_IP_LIMIT, "{lan_added}");
    }

    #[test]
    fn closest_sorts_by_xor_distance() {
        let now = Instant::now();
        let mut table = Table::new(local());
        for seed in 1..=30u8 {
            table.add_verified(record(seed, [127, 0, 0, seed]), None, now);
        }
        let target = NodeId::from_peer_id(&record(77, [1, 2, 3, 4]).id);
        let closest = table.closest(&target, 5, true);
        assert_eq!(closest.len(), 5);
        for pair in closest.windows(2) {
            assert!(pair[0].id.distance(&target) <= pair[1].id.distance(&target));
        }
    }

    #[test]
    fn at_distance_gives_exactly_the_nodes_at_that_distance() {
        let now = Instant::now();
        let mut table = Table::new(local());
        for seed in 1..=60u8 {
            table.add_verified(record(seed, [127, 0, 0, seed]), None, now);
        }
        let mut seen = 0;
        for distance in 0..=257 {
            let want: Vec<NodeId> = table
                .nodes()
                .filter(|n| local().log_distance(&n.id) == distance)
                .map(|n| n.id)
                .collect();
            let got: Vec<NodeId> = table.at_distance(distance).map(|n| n.id).collect();
            assert_eq!(got, want, "distance {distance}");
            seen += got.len();
        }
        assert_eq!(seen, table.len());
        assert!(table.len() > 16, "the nodes fill more than one bucket");
    }
}

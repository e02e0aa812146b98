//! One iterative Kademlia lookup: ask the `alpha` closest not-yet-asked nodes for nodes near the
//! target, merge what they return, and stop when the closest [`BUCKET_SIZE`] known nodes have all
//! been asked ([discv4.md](https://github.com/ethereum/devp2p/blob/master/discv4.md)).
//! The result is the closest nodes that answered.
//!
//! Generic over the [`Contact`] (discv4's [`Enode`], discv5's contacts) and the target as the
//! wire names it (a public key in discv4, a node id in discv5); used by both protocols.

use std::collections::HashSet;

use super::table::{BUCKET_SIZE, Contact};
use crate::{Enode, NodeId, PeerId};

/// Candidates kept per lookup; each answer adds at most 16.
const MAX_CANDIDATES: usize = 16 * BUCKET_SIZE;

/// Identifies a lookup in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotAsked,
    Asking,
    Answered,
}

struct Candidate<R> {
    id: NodeId,
    record: R,
    state: State,
}

/// The state of one lookup.
pub struct Lookup<R = Enode, T = PeerId> {
    /// The FINDNODE target as sent on the wire (a public key, or random bytes).
    pub target: T,
    target_id: NodeId,
    /// Known candidates, sorted by distance; the closest [`BUCKET_SIZE`] are the ones queried.
    candidates: Vec<Candidate<R>>,
    /// Everything ever seen, so dropped or failed nodes are not re-added.
    seen: HashSet<NodeId>,
    /// Packets sent on behalf of this lookup (Pings for bonding and FINDNODEs).
    pub packets_sent: u64,
}

impl<R: Contact, T> Lookup<R, T> {
    /// A lookup of `target` (whose Kademlia key is `target_id`) starting from `seeds`.
    pub fn new(
        target: T,
        target_id: NodeId,
        local: NodeId,
        seeds: impl IntoIterator<Item = R>,
    ) -> Self {
        let mut lookup = Lookup {
            target,
            target_id,
            candidates: Vec::new(),
            seen: HashSet::from([local]),
            packets_sent: 0,
        };
        lookup.add(seeds);
        lookup
    }

    /// Merges nodes learned from an answer (or the seeds).
    pub fn add(&mut self, nodes: impl IntoIterator<Item = R>) {
        for record in nodes {
            let id = record.node_id();
            if !self.seen.insert(id) {
                continue;
            }
            self.candidates.push(Candidate {
                id,
                record,
                state: State::NotAsked,
            });
        }
        let target = self.target_id;
        self.candidates.sort_by_key(|c| c.id.distance(&target));
        // Keep candidates beyond the closest 16: when closer ones turn out dead and leave, these
        // move up. Only a generous cap applies (dropping the farthest not-yet-asked ones).
        let mut kept = 0;
        self.candidates.retain(|c| {
            kept += 1;
            kept <= MAX_CANDIDATES || c.state == State::Asking
        });
    }

    /// The next node to ask, if fewer than `alpha` queries are in flight; marks it as asked.
    pub fn next_query(&mut self, alpha: usize) -> Option<R> {
        let in_flight = self
            .candidates
            .iter()
            .filter(|c| c.state == State::Asking)
            .count();
        if in_flight >= alpha {
            return None;
        }
        let next = self
            .candidates
            .iter_mut()
            .take(BUCKET_SIZE)
            .find(|c| c.state == State::NotAsked)?;
        next.state = State::Asking;
        Some(next.record.clone())
    }

    /// The farthest of the [`BUCKET_SIZE`] closest candidates, once there are that many: the
    /// result cannot get any node farther than it (discv5 chooses its FINDNODE distances by it).
    pub fn frontier(&self) -> Option<NodeId> {
        self.candidates.get(BUCKET_SIZE - 1).map(|c| c.id)
    }

    /// A queried node answered (its NEIGHBORS, possibly empty, arrived).
    pub fn answered(&mut self, id: &NodeId) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.id == *id) {
            c.state = State::Answered;
        }
    }

    /// A queried node did not answer: it leaves the result.
    pub fn failed(&mut self, id: &NodeId) {
        self.candidates.retain(|c| c.id != *id);
    }

    /// Done when nothing is in flight and every one of the closest nodes was asked.
    pub fn is_finished(&self) -> bool {
        self.candidates.iter().all(|c| c.state != State::Asking)
            && !self
                .candidates
                .iter()
                .take(BUCKET_SIZE)
                .any(|c| c.state == State::NotAsked)
    }

    /// Every node the lookup learned of and did not see fail, closest first: beyond the
    /// result, these are what go-ethereum's lookup iterator hands its dialer.
    pub fn learned(&self) -> Vec<R> {
        self.candidates.iter().map(|c| c.record.clone()).collect()
    }

    /// The closest nodes that answered.
    pub fn result(&self) -> Vec<R> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Answered)
            .take(BUCKET_SIZE)
            .map(|c| c.record.clone())
            .collect()
    }
}

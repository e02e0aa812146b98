//! Our requests waiting for their reply (PONG, NEIGHBORS, ENRRESPONSE), found by the replying
//! node's id and the kind of reply, and expired by deadline, without scanning.
//!
//! Replies are accepted only when we are waiting for them, from that node id at that IP
//! ([discv4.md](https://github.com/ethereum/devp2p/blob/master/discv4.md)): NEIGHBORS we did not
//! ask for are never trusted. The key is (node id, kind) and the IP is checked on the entry,
//! because the rules "one Ping per node outstanding" and "one FINDNODE per node in flight" are
//! per node id, whatever address it was reached at.

use std::net::IpAddr;
use std::time::Instant;

use crate::kad::LookupId;
use crate::pending::PendingRequests;
use crate::{Enode, NodeId};

/// Bound on replies waited for, so a flood of valid packets cannot grow memory without limit.
const MAX_PENDING: usize = 4096;

/// Why we pinged a node, which decides what its PONG (or silence) leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PingPurpose {
    /// Verify it, so it can enter the table (bootnodes, ping-backs, replacements).
    Add,
    /// Re-check a table node; silence removes it.
    Revalidate,
    /// Bond before asking it FINDNODE for this lookup.
    Lookup(LookupId),
    /// Bond before asking for its ENR.
    EnrBond,
    /// Asked for by the user (`Discv4::ping`), sent at this time.
    User(Instant),
}

/// What reply we wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Waiting {
    /// One Ping per node is outstanding at a time; it carries every reason it was wanted for.
    /// (Signatures are deterministic: two identical Pings in one second would be byte-identical,
    /// and the second would be dropped as a replay.)
    Pong {
        /// Hash of our Ping, which the PONG repeats.
        hash: [u8; 32],
        purposes: Vec<PingPurpose>,
    },
    /// NEIGHBORS for a FINDNODE of this lookup.
    Neighbors(NeighborsWait),
    /// ENRRESPONSE to our ENRREQUEST with this hash.
    Enr { hash: [u8; 32] },
}

/// The state of a FINDNODE's answer. `received` counts every node listed, accepted or not (as
/// go-ethereum does): 16 ends the wait early; any reply at all counts as an answer when the wait
/// times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NeighborsWait {
    pub(super) lookup: LookupId,
    pub(super) received: usize,
    pub(super) replied: bool,
}

/// The kinds of reply, the second half of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ReplyKind {
    Pong,
    Neighbors,
    Enr,
}

impl Waiting {
    fn kind(&self) -> ReplyKind {
        match self {
            Waiting::Pong { .. } => ReplyKind::Pong,
            Waiting::Neighbors(_) => ReplyKind::Neighbors,
            Waiting::Enr { .. } => ReplyKind::Enr,
        }
    }
}

/// A reply we wait for, from this node at its IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    pub(super) node: Enode,
    pub(super) node_id: NodeId,
    pub(super) waiting: Waiting,
}

/// Every reply we wait for.
#[derive(Default)]
pub(super) struct Requests {
    waiting: PendingRequests<(NodeId, ReplyKind), Pending>,
}

impl Requests {
    /// Waits for `pending` until `deadline`.
    pub(super) fn wait(&mut self, pending: Pending, deadline: Instant) {
        let key = (pending.node_id, pending.waiting.kind());
        self.waiting.insert(key, pending, deadline);
    }

    /// No new Ping may be sent: [`MAX_PENDING`] replies are awaited.
    pub(super) fn is_full(&self) -> bool {
        self.waiting.len() >= MAX_PENDING
    }

    /// The purposes of the Ping outstanding to this node (at whatever IP), to add one to.
    pub(super) fn ping_purposes_mut(&mut self, node_id: &NodeId) -> Option<&mut Vec<PingPurpose>> {
        match &mut self
            .waiting
            .get_mut(&(*node_id, ReplyKind::Pong), |_| true)?
            .waiting
        {
            Waiting::Pong { purposes, .. } => Some(purposes),
            _ => None,
        }
    }

    /// A FINDNODE to this node is in flight.
    pub(super) fn finding(&self, node_id: &NodeId) -> bool {
        self.waiting.contains(&(*node_id, ReplyKind::Neighbors))
    }

    /// The Ping a PONG from this node at this IP answers, by its hash: the node as pinged and
    /// the purposes.
    pub(super) fn take_pong(
        &mut self,
        node_id: &NodeId,
        ip: IpAddr,
        ping_hash: &[u8; 32],
    ) -> Option<(Enode, Vec<PingPurpose>)> {
        let pending = self.waiting.take(&(*node_id, ReplyKind::Pong), |p| {
            p.node.ip == ip && matches!(&p.waiting, Waiting::Pong { hash, .. } if hash == ping_hash)
        })?;
        match pending.waiting {
            Waiting::Pong { purposes, .. } => Some((pending.node, purposes)),
            _ => None,
        }
    }

    /// The FINDNODE that NEIGHBORS from this node at this IP answers.
    pub(super) fn neighbors_mut(
        &mut self,
        node_id: &NodeId,
        ip: IpAddr,
    ) -> Option<&mut NeighborsWait> {
        let pending = self
            .waiting
            .get_mut(&(*node_id, ReplyKind::Neighbors), |p| p.node.ip == ip)?;
        match &mut pending.waiting {
            Waiting::Neighbors(wait) => Some(wait),
            _ => None,
        }
    }

    /// Ends the wait for NEIGHBORS from this node at this IP.
    pub(super) fn end_neighbors(&mut self, node_id: &NodeId, ip: IpAddr) {
        self.waiting
            .take(&(*node_id, ReplyKind::Neighbors), |p| p.node.ip == ip);
    }

    /// The ENRREQUEST an ENRRESPONSE from this node at this IP answers, by its hash: the node
    /// as asked.
    pub(super) fn take_enr(
        &mut self,
        node_id: &NodeId,
        ip: IpAddr,
        request_hash: &[u8; 32],
    ) -> Option<Enode> {
        let pending = self.waiting.take(&(*node_id, ReplyKind::Enr), |p| {
            p.node.ip == ip && matches!(&p.waiting, Waiting::Enr { hash } if hash == request_hash)
        })?;
        Some(pending.node)
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.waiting.next_deadline()
    }

    /// Removes and returns the waits past their deadline at `now`, earliest first.
    pub(super) fn drain_expired(&mut self, now: Instant) -> Vec<Pending> {
        let expired = self.waiting.drain_expired(now);
        expired.into_iter().map(|(_, pending)| pending).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn node(n: u8, ip: u8) -> (Enode, NodeId) {
        let id = PeerId([n; 64]);
        let enode = Enode {
            id,
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, ip)),
            tcp_port: 30303,
            udp_port: 30303,
        };
        (enode, NodeId::from_peer_id(&id))
    }

    fn ping(n: u8, ip: u8, hash: u8) -> Pending {
        let (node, node_id) = node(n, ip);
        let waiting = Waiting::Pong {
            hash: [hash; 32],
            purposes: vec![PingPurpose::Add],
        };
        Pending {
            node,
            node_id,
            waiting,
        }
    }

    fn find(n: u8, ip: u8) -> Pending {
        let (node, node_id) = node(n, ip);
        let waiting = Waiting::Neighbors(NeighborsWait {
            lookup: LookupId(7),
            received: 0,
            replied: false,
        });
        Pending {
            node,
            node_id,
            waiting,
        }
    }

    #[test]
    fn a_pong_must_come_from_the_pinged_ip_with_the_pings_hash() {
        let now = Instant::now();
        let mut requests = Requests::default();
        requests.wait(ping(1, 1, 9), now);
        let (_, id) = node(1, 1);
        let (pinged, _) = node(1, 1);
        let (elsewhere, _) = node(1, 2);
        assert_eq!(
            requests.take_pong(&id, pinged.ip, &[8; 32]),
            None,
            "other hash"
        );
        assert_eq!(
            requests.take_pong(&id, elsewhere.ip, &[9; 32]),
            None,
            "other IP"
        );
        let (enode, purposes) = requests.take_pong(&id, pinged.ip, &[9; 32]).unwrap();
        assert_eq!((enode, purposes), (pinged, vec![PingPurpose::Add]));
        assert_eq!(
            requests.take_pong(&id, pinged.ip, &[9; 32]),
            None,
            "answered once"
        );
    }

    #[test]
    fn an_outstanding_ping_is_found_by_node_id_at_any_ip() {
        let now = Instant::now();
        let mut requests = Requests::default();
        requests.wait(ping(1, 1, 9), now);
        requests.wait(find(2, 1), now);
        let (_, one) = node(1, 5);
        let (_, two) = node(2, 5);
        requests
            .ping_purposes_mut(&one)
            .unwrap()
            .push(PingPurpose::Revalidate);
        assert!(
            requests.ping_purposes_mut(&two).is_none(),
            "a FINDNODE is no Ping"
        );
        assert!(requests.finding(&two) && !requests.finding(&one));
        let (_, purposes) = requests.take_pong(&one, node(1, 1).0.ip, &[9; 32]).unwrap();
        assert_eq!(purposes, vec![PingPurpose::Add, PingPurpose::Revalidate]);
    }

    #[test]
    fn neighbors_update_in_place_until_the_wait_ends() {
        let now = Instant::now();
        let mut requests = Requests::default();
        requests.wait(find(2, 1), now);
        let (asked, id) = node(2, 1);
        assert!(
            requests.neighbors_mut(&id, node(2, 2).0.ip).is_none(),
            "other IP"
        );
        requests.neighbors_mut(&id, asked.ip).unwrap().received += 12;
        assert_eq!(requests.neighbors_mut(&id, asked.ip).unwrap().received, 12);
        requests.end_neighbors(&id, asked.ip);
        assert!(!requests.finding(&id));
    }

    #[test]
    fn an_enr_response_matches_its_request_hash() {
        let now = Instant::now();
        let mut requests = Requests::default();
        let (asked, id) = node(3, 1);
        let enr = Pending {
            node: asked,
            node_id: id,
            waiting: Waiting::Enr { hash: [4; 32] },
        };
        requests.wait(enr, now);
        assert_eq!(requests.take_enr(&id, asked.ip, &[5; 32]), None);
        assert_eq!(requests.take_enr(&id, asked.ip, &[4; 32]), Some(asked));
    }

    #[test]
    fn waits_expire_by_deadline_and_the_bound_holds() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut requests = Requests::default();
        requests.wait(ping(1, 1, 1), now + 2 * second);
        requests.wait(find(2, 1), now + second);
        assert_eq!(requests.next_deadline(), Some(now + second));
        assert_eq!(requests.drain_expired(now + second), vec![find(2, 1)]);
        assert_eq!(requests.next_deadline(), Some(now + 2 * second));
        for n in 0..MAX_PENDING - 1 {
            assert!(!requests.is_full());
            requests.wait(ping(n as u8, 1, 0), now);
        }
        assert!(requests.is_full());
    }
}

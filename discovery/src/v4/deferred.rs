//! Requests we hold back before sending: until the remote holds endpoint proof of us (it pinged
//! us back), and FINDNODEs behind an earlier one to the same node.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::kad::LookupId;
use crate::pending::PendingRequests;
use crate::{Enode, NodeId};

/// A request to send once the remote could ping us back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterBond {
    /// FINDNODE for this lookup.
    FindNode(LookupId),
    /// ENRREQUEST.
    EnrRequest,
}

/// A request waiting for its node to ping us: it goes when the Ping arrives, or at its deadline
/// at the latest (go-ethereum's `ensureBond`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AfterBondRequest {
    pub(super) node: Enode,
    pub(super) node_id: NodeId,
    pub(super) action: AfterBond,
}

/// Requests waiting for their node to ping us back.
#[derive(Default)]
pub(super) struct AfterBondQueue {
    waiting: PendingRequests<NodeId, AfterBondRequest>,
}

impl AfterBondQueue {
    /// Holds `request` until its node pings us, or until `deadline`.
    pub(super) fn push(&mut self, request: AfterBondRequest, deadline: Instant) {
        self.waiting.insert(request.node_id, request, deadline);
    }

    /// The node pinged us: its requests, oldest first.
    pub(super) fn take_ready(&mut self, node_id: &NodeId) -> Vec<AfterBondRequest> {
        self.waiting.take_all(node_id)
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.waiting.next_deadline()
    }

    /// The requests whose wait ended at `now`, earliest first.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<AfterBondRequest> {
        let due = self.waiting.drain_expired(now);
        due.into_iter().map(|(_, request)| request).collect()
    }
}

/// A FINDNODE for `lookup` held back while another one to `node` is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QueuedFindNode {
    pub(super) node: Enode,
    pub(super) lookup: LookupId,
}

/// FINDNODEs waiting for an earlier one to the same node to complete: NEIGHBORS carries no
/// request id, so with two in flight the answers could not be told apart.
#[derive(Default)]
pub(super) struct FindNodeQueue {
    queued: HashMap<NodeId, VecDeque<QueuedFindNode>>,
}

impl FindNodeQueue {
    /// Queues a FINDNODE to `node_id` behind the one in flight.
    pub(super) fn push(&mut self, node_id: NodeId, find: QueuedFindNode) {
        self.queued.entry(node_id).or_default().push_back(find);
    }

    /// The oldest FINDNODE queued for `node_id`, now free.
    pub(super) fn pop(&mut self, node_id: &NodeId) -> Option<QueuedFindNode> {
        let queue = self.queued.get_mut(node_id)?;
        let next = queue.pop_front();
        if queue.is_empty() {
            self.queued.remove(node_id);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerId;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    fn node(n: u8) -> (Enode, NodeId) {
        let id = PeerId([n; 64]);
        let enode = Enode {
            id,
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
            tcp_port: 30303,
            udp_port: 30303,
        };
        (enode, NodeId::from_peer_id(&id))
    }

    fn request(n: u8, action: AfterBond) -> AfterBondRequest {
        let (node, node_id) = node(n);
        AfterBondRequest {
            node,
            node_id,
            action,
        }
    }

    #[test]
    fn after_bond_requests_go_on_ping_or_at_their_deadline() {
        let now = Instant::now();
        let later = now + Duration::from_millis(500);
        let mut queue = AfterBondQueue::default();
        queue.push(request(1, AfterBond::FindNode(LookupId(1))), later);
        queue.push(request(2, AfterBond::EnrRequest), later);
        queue.push(request(1, AfterBond::EnrRequest), later);
        assert_eq!(queue.next_deadline(), Some(later));
        assert_eq!(
            queue.take_ready(&node(1).1),
            vec![
                request(1, AfterBond::FindNode(LookupId(1))),
                request(1, AfterBond::EnrRequest)
            ]
        );
        assert_eq!(queue.take_due(now), vec![]);
        assert_eq!(
            queue.take_due(later),
            vec![request(2, AfterBond::EnrRequest)]
        );
        assert_eq!(queue.next_deadline(), None);
    }

    #[test]
    fn queued_find_nodes_leave_oldest_first_per_node() {
        let mut queue = FindNodeQueue::default();
        let (a, a_id) = node(1);
        let (b, b_id) = node(2);
        let find = |node, lookup| QueuedFindNode {
            node,
            lookup: LookupId(lookup),
        };
        queue.push(a_id, find(a, 1));
        queue.push(b_id, find(b, 2));
        queue.push(a_id, find(a, 3));
        assert_eq!(queue.pop(&a_id), Some(find(a, 1)));
        assert_eq!(queue.pop(&a_id), Some(find(a, 3)));
        assert_eq!(queue.pop(&a_id), None);
        assert_eq!(queue.pop(&b_id), Some(find(b, 2)));
        assert!(queue.queued.is_empty());
    }
}

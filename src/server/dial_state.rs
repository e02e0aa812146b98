//! Dial scheduling as plain state, with time passed in: which static peers are due, which
//! candidates from the node sources are worth a dial slot, the dial history that keeps a node
//! from being redialed at once, and the backoffs. The async dialer (`dialer.rs`) only drives it.
//!
//! Rules (go-ethereum's dial scheduler, `p2p/dial.go`, unless noted):
//! - dialed peers plus dials in progress stay within `max_peers / dial_ratio`; trusted static
//!   peers bypass the limit;
//! - a static peer is redialed after a failure with a backoff of 0.5 s doubling to 30 s;
//! - a candidate is not dialed again for [`DIAL_HISTORY`] after a dial, except when that dial
//!   ended as a duplicate of a connection the pair resolved by the simultaneous-dial tie-break:
//!   such a node did not fail, so if the pair is left unconnected it is redialed within a
//!   second or two (our addition: go-ethereum keeps the pause, and two nodes that dialed each
//!   other at once can stay apart for it);
//! - a node whose id is not a secp256k1 public key is never dialed: no handshake can be
//!   addressed to it, so no connection is opened. A static peer with such an id is not listed;
//!   it waits in [`DialState::take_undialable`] to be reported once. The dialer drops a
//!   candidate with such an id before it takes a slot ([`is_dialable`]).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::table::PeerTable;
use crate::rlpx::PeerId;
use ethp2p_discovery::Enode;

/// A node we dialed is not dialed again from the node sources for this long (go-ethereum: 35 s).
pub(crate) const DIAL_HISTORY: Duration = Duration::from_secs(30);
/// First redial delay of a static peer after a failure, and of a pair left unconnected after a
/// duplicate; doubles per consecutive attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest redial delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Pairs waiting for a redial after a duplicate, at most (each is a node we really reached).
const MAX_DUPLICATE_RETRIES: usize = 256;

/// The redial delay after `attempts` consecutive failed attempts.
pub(crate) fn backoff(attempts: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1 << attempts.min(16))
        .min(BACKOFF_MAX)
}

/// Whether a handshake can be addressed to `id`: it must be a secp256k1 public key (the RLPx
/// initiator encrypts its auth to it). An id from a static peer or a node source is only a
/// claim, checked here once before anything is connected.
pub(crate) fn is_dialable(id: &PeerId) -> bool {
    id.to_public_key().is_some()
}

/// How a dial's handshake phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DialOutcome {
    /// It became a peer.
    Connected,
    /// It was closed as a duplicate of another connection between the same two nodes.
    Duplicate,
    /// Anything else: connect error, timeout, refusal, failed handshake.
    Failed,
}

/// A node dialed again with backoff until it is connected.
struct Redial {
    enode: Enode,
    attempts: u32,
    next_attempt: Instant,
}

/// The dialer's state; lives under the server lock beside the peer table.
#[derive(Default)]
pub(crate) struct DialState {
    /// Static peers: kept connected for as long as they are listed.
    static_peers: HashMap<PeerId, Redial>,
    /// Nodes whose dial ended as a duplicate while no connection to them survived.
    duplicate_retries: HashMap<PeerId, Redial>,
    /// Dials in progress.
    dialing: HashSet<PeerId>,
    /// When each node from the sources was last dialed.
    history: HashMap<PeerId, Instant>,
    /// Static peers refused for an id that is no public key, not yet reported.
    undialable: Vec<Enode>,
}

/// Limits the dial state checks against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DialLimits {
    /// Our own id: never dialed.
    pub(crate) local_id: PeerId,
    /// Dialed peers plus dials in progress at most (trusted static peers not counted).
    pub(crate) max_dialed: usize,
}

impl DialState {
    /// Lists `enode` as a static peer, due now; or, if its id is no public key, keeps it to
    /// be reported by [`take_undialable`](Self::take_undialable) and never dials it.
    pub(crate) fn add_static(&mut self, enode: Enode, now: Instant) {
        if !is_dialable(&enode.id) {
            if !self.undialable.iter().any(|e| e.id == enode.id) {
                self.undialable.push(enode);
            }
            return;
        }
        let redial = Redial {
            enode,
            attempts: 0,
            next_attempt: now,
        };
        self.static_peers.insert(enode.id, redial);
    }

    /// The static peers refused since the last call for an id that is no public key, each
    /// reported once (a configuration error: nothing was connected, nothing will be retried).
    pub(crate) fn take_undialable(&mut self) -> Vec<Enode> {
        std::mem::take(&mut self.undialable)
    }

    /// Forgets a static peer.
    pub(crate) fn remove_static(&mut self, id: &PeerId) {
        self.static_peers.remove(id);
    }

    /// Whether `id` is listed as a static peer.
    pub(crate) fn is_static(&self, id: &PeerId) -> bool {
        self.static_peers.contains_key(id)
    }

    fn used_slots(&self, peers: &PeerTable) -> usize {
        peers.dialed() + self.dialing.len()
    }

    /// Whether a candidate from the node sources would get a dial slot now.
    pub(crate) fn has_free_slot(&self, peers: &PeerTable, limits: &DialLimits) -> bool {
        self.used_slots(peers) < limits.max_dialed
    }

    fn reachable(&self, id: &PeerId, peers: &PeerTable, limits: &DialLimits) -> bool {
        *id != limits.local_id && !peers.contains(id) && !self.dialing.contains(id)
    }

    /// The static peers and duplicate retries due now that fit the dial slots, marked as being
    /// dialed; and when the next backed-off one is due.
    pub(crate) fn due_dials(
        &mut self,
        now: Instant,
        peers: &PeerTable,
        limits: &DialLimits,
        trusted: &HashSet<PeerId>,
    ) -> (Vec<Enode>, Option<Instant>) {
        let mut dials = Vec::new();
        let mut next_due: Option<Instant> = None;
        let mut used = self.used_slots(peers);
        // Retries of a pair that is connected again, or listed as static, are done.
        self.duplicate_retries.retain(|id, _| {
            !peers.contains(id) && !self.static_peers.contains_key(id) && *id != limits.local_id
        });
        let redials = self
            .static_peers
            .values()
            .chain(self.duplicate_retries.values());
        for redial in redials {
            let id = redial.enode.id;
            if !self.reachable(&id, peers, limits) || dials.iter().any(|d: &Enode| d.id == id) {
                continue;
            }
            if redial.next_attempt > now {
                next_due =
                    Some(next_due.map_or(redial.next_attempt, |t| t.min(redial.next_attempt)));
                continue;
            }
            let bypasses_limit = trusted.contains(&id) && self.static_peers.contains_key(&id);
            if !bypasses_limit && used >= limits.max_dialed {
                continue;
            }
            used += usize::from(!bypasses_limit);
            dials.push(redial.enode);
        }
        for enode in &dials {
            self.dialing.insert(enode.id);
        }
        (dials, next_due)
    }

    /// Whether a candidate from a node source is worth dialing now; if so it is marked as being
    /// dialed and entered in the dial history.
    pub(crate) fn take_candidate(
        &mut self,
        enode: &Enode,
        now: Instant,
        peers: &PeerTable,
        limits: &DialLimits,
    ) -> bool {
        self.history
            .retain(|_, at| now.saturating_duration_since(*at) < DIAL_HISTORY);
        let fresh = !self.history.contains_key(&enode.id);
        let wanted = fresh
            && enode.tcp_port != 0
            && self.reachable(&enode.id, peers, limits)
            && self.has_free_slot(peers, limits);
        if wanted {
            self.history.insert(enode.id, now);
            self.dialing.insert(enode.id);
        }
        wanted
    }

    /// A dial's handshake phase ended. `connected_now`: whether some connection to the node is
    /// listed (after a duplicate, the one that survived).
    pub(crate) fn dial_finished(
        &mut self,
        enode: &Enode,
        outcome: DialOutcome,
        connected_now: bool,
        now: Instant,
    ) {
        let id = enode.id;
        self.dialing.remove(&id);
        if let Some(redial) = self.static_peers.get_mut(&id) {
            match outcome {
                DialOutcome::Connected => redial.attempts = 0,
                // A duplicate of a surviving connection is no failure; with none left, retry.
                DialOutcome::Duplicate | DialOutcome::Failed if connected_now => {}
                DialOutcome::Duplicate | DialOutcome::Failed => {
                    redial.next_attempt = now + backoff(redial.attempts);
                    redial.attempts = redial.attempts.saturating_add(1);
                }
            }
            return;
        }
        match outcome {
            DialOutcome::Duplicate => {
                // Not a failure: forget the dial so the sources may offer the node again, and
                // redial soon ourselves if neither connection of the pair survived.
                self.history.remove(&id);
                if !connected_now {
                    self.schedule_duplicate_retry(enode, now);
                }
            }
            DialOutcome::Connected | DialOutcome::Failed => {
                self.duplicate_retries.remove(&id);
            }
        }
    }

    fn schedule_duplicate_retry(&mut self, enode: &Enode, now: Instant) {
        let full = self.duplicate_retries.len() >= MAX_DUPLICATE_RETRIES;
        if full && !self.duplicate_retries.contains_key(&enode.id) {
            return;
        }
        let retry = self.duplicate_retries.entry(enode.id).or_insert(Redial {
            enode: *enode,
            attempts: 0,
            next_attempt: now,
        });
        retry.next_attempt = now + backoff(retry.attempts);
        retry.attempts = retry.attempts.saturating_add(1);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// A node on loopback whose id is the public key of the secret key `byte` repeated (also
    /// used by the node-source tests).
    pub(crate) fn enode(byte: u8) -> Enode {
        let key = secp256k1::SecretKey::from_secret_bytes([byte; 32]).expect("a valid key");
        Enode {
            id: PeerId::from_secret_key(&key),
            ip: Ipv4Addr::LOCALHOST.into(),
            tcp_port: 30303,
            udp_port: 30303,
        }
    }

    /// Empty dial state and peer table, limits with `max_dialed` slots, and a start time.
    fn fixture(max_dialed: usize) -> (DialState, PeerTable, DialLimits, Instant) {
        let state = DialState::default();
        (
            state,
            PeerTable::default(),
            limits(max_dialed),
            Instant::now(),
        )
    }

    fn limits(max_dialed: usize) -> DialLimits {
        DialLimits {
            local_id: PeerId([0; 64]),
            max_dialed,
        }
    }

    #[test]
    fn a_candidate_is_dialed_once_within_the_history() {
        let (mut state, peers, limits, now) = fixture(4);
        assert!(state.take_candidate(&enode(1), now, &peers, &limits));
        // In progress: not again.
        assert!(!state.take_candidate(&enode(1), now, &peers, &limits));
        state.dial_finished(&enode(1), DialOutcome::Failed, false, now);
        assert!(!state.take_candidate(&enode(1), now + DIAL_HISTORY / 2, &peers, &limits));
        assert!(state.take_candidate(&enode(1), now + DIAL_HISTORY, &peers, &limits));
    }

    #[test]
    fn a_duplicate_is_not_a_failure_and_an_unconnected_pair_is_redialed_soon() {
        let (mut state, peers, limits, now) = fixture(4);
        assert!(state.take_candidate(&enode(1), now, &peers, &limits));
        state.dial_finished(&enode(1), DialOutcome::Duplicate, false, now);
        // Offered again by a source: taken at once, no 30 s pause.
        let (dials, next) = state.due_dials(now, &peers, &limits, &HashSet::new());
        assert!(dials.is_empty());
        assert_eq!(next, Some(now + backoff(0)));
        let (dials, _) = state.due_dials(now + backoff(0), &peers, &limits, &HashSet::new());
        assert_eq!(dials, vec![enode(1)]);
        // The retry failed for real: no further retries.
        state.dial_finished(&enode(1), DialOutcome::Failed, false, now + backoff(0));
        let (dials, next) = state.due_dials(now + BACKOFF_MAX, &peers, &limits, &HashSet::new());
        assert!(dials.is_empty() && next.is_none());
    }

    #[test]
    fn a_duplicate_with_a_surviving_connection_needs_no_retry() {
        let (mut state, peers, limits, now) = fixture(4);
        assert!(state.take_candidate(&enode(1), now, &peers, &limits));
        state.dial_finished(&enode(1), DialOutcome::Duplicate, true, now);
        let (dials, next) = state.due_dials(now + BACKOFF_MAX, &peers, &limits, &HashSet::new());
        assert!(dials.is_empty() && next.is_none());
        // And the node may be offered again later without waiting out the history.
        assert!(state.take_candidate(&enode(1), now, &peers, &limits));
    }

    #[test]
    fn static_peers_back_off_and_respect_the_slots_unless_trusted() {
        let (mut state, peers, limits, now) = fixture(1);
        state.add_static(enode(1), now);
        state.add_static(enode(2), now);
        let trusted = HashSet::from([enode(2).id]);
        let (mut dials, _) = state.due_dials(now, &peers, &limits, &trusted);
        dials.sort_by_key(|e| e.id.0);
        let mut both = vec![enode(1), enode(2)];
        both.sort_by_key(|e| e.id.0);
        assert_eq!(dials, both, "the trusted one bypasses the single slot");
        assert!(!state.has_free_slot(&peers, &limits));
        state.dial_finished(&enode(1), DialOutcome::Failed, false, now);
        let (dials, next) = state.due_dials(now, &peers, &limits, &trusted);
        assert!(dials.is_empty());
        assert_eq!(next, Some(now + backoff(0)));
        state.dial_finished(&enode(1), DialOutcome::Failed, false, now);
        assert_eq!(
            state.static_peers[&enode(1).id].next_attempt,
            now + backoff(1),
            "the backoff doubles"
        );
    }

    #[test]
    fn duplicate_retries_are_bounded() {
        let (mut state, now) = (DialState::default(), Instant::now());
        for i in 0..(MAX_DUPLICATE_RETRIES + 10) {
            let mut node = enode(1);
            node.id.0[..8].copy_from_slice(&(i as u64).to_be_bytes());
            state.schedule_duplicate_retry(&node, now);
        }
        assert_eq!(state.duplicate_retries.len(), MAX_DUPLICATE_RETRIES);
    }

    /// A node whose id is not a point on the curve.
    fn undialable() -> Enode {
        Enode {
            id: PeerId([0xff; 64]),
            ..enode(1)
        }
    }

    #[test]
    fn a_static_peer_with_an_undialable_id_is_reported_once_and_never_dialed() {
        let (mut state, peers, limits, now) = fixture(4);
        let bad = undialable();
        assert!(!is_dialable(&bad.id) && is_dialable(&enode(2).id));
        state.add_static(bad, now);
        state.add_static(bad, now);
        state.add_static(enode(2), now);
        assert!(!state.is_static(&bad.id));
        assert_eq!(state.take_undialable(), vec![bad], "reported once");
        assert!(state.take_undialable().is_empty());
        let (dials, _) = state.due_dials(now, &peers, &limits, &HashSet::new());
        assert_eq!(dials, vec![enode(2)]);
        state.dial_finished(&enode(2), DialOutcome::Failed, false, now);
        for later in [backoff(0), BACKOFF_MAX, DIAL_HISTORY * 4] {
            let (dials, _) = state.due_dials(now + later, &peers, &limits, &HashSet::new());
            assert!(dials.iter().all(|d| d.id != bad.id), "never retried");
        }
    }
}

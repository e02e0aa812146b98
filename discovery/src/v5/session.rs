//! Session state of the discv5 codec: established sessions in a bounded LRU, and the
//! WHOAREYOU challenges sent and not yet answered
//! ([discv5-theory.md, "Session Cache"](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-theory.md#session-cache)).
//!
//! Both are keyed by [`NodeAddress`], node id *and* UDP endpoint: a session established from
//! one address is not used for packets from another, so a spoofed source address gets a
//! WHOAREYOU, never a decrypted message.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::crypto::{AesKey, Nonce};
use super::packet::ChallengeData;
use crate::{Enr, NodeId};

/// A remote node at one UDP endpoint: the key of sessions and challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddress {
    /// The node id.
    pub id: NodeId,
    /// The UDP endpoint packets come from and go to.
    pub addr: SocketAddr,
}

/// An established session: the keys of one handshake and the count of messages sent with them.
#[derive(Clone)]
pub struct Session {
    /// The key our messages are encrypted with.
    pub write_key: AesKey,
    /// The key the remote's messages are encrypted with.
    pub read_key: AesKey,
    /// The read key of the session this one replaced, still accepted: when two nodes
    /// handshake with each other at once, each ends up keeping the session the *other*
    /// started, and the answers already sent under the first one would otherwise be lost
    /// (set by [`SessionCache::insert`]).
    pub previous_read_key: Option<AesKey>,
    /// Messages encrypted with `write_key` so far: the first 32 bits of each nonce.
    pub nonce_counter: u32,
}

impl Session {
    /// The next nonce: the incremented counter, then the 8 bytes `tag` makes of it. `None`
    /// once the counter is exhausted (2^32 - 1 messages): the session must be replaced by a
    /// new handshake rather than reuse a nonce.
    pub fn next_nonce(&mut self, tag: impl FnOnce([u8; 4]) -> [u8; 8]) -> Option<Nonce> {
        self.nonce_counter = self.nonce_counter.checked_add(1)?;
        let counter = self.nonce_counter.to_be_bytes();
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&counter);
        nonce[4..].copy_from_slice(&tag(counter));
        Some(nonce)
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("nonce_counter", &self.nonce_counter)
            .finish_non_exhaustive()
    }
}

/// Established sessions, at most `capacity`; inserting past it evicts the least recently used.
///
/// Each entry carries the tick of its last use, and eviction scans for the oldest: O(n), but
/// only when a new session arrives at a full cache, beside a handshake's ~100 us of
/// cryptography. An ordered index (a B-tree of ticks) would cost ~100 bytes per session and a
/// tree update on every packet instead.
#[derive(Debug)]
pub struct SessionCache {
    capacity: usize,
    /// Session and the tick of its last use, boxed: a map keeps about twice as many slots as
    /// entries, and a boxed slot is 72 bytes instead of 128.
    entries: HashMap<NodeAddress, Box<(Session, u64)>>,
    tick: u64,
}

impl SessionCache {
    /// An empty cache of at most `capacity` sessions (at least 1).
    pub fn new(capacity: usize) -> Self {
        SessionCache {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            tick: 0,
        }
    }

    /// The session with `node`, marked as just used.
    pub fn get_mut(&mut self, node: &NodeAddress) -> Option<&mut Session> {
        let (session, last_use) = &mut **self.entries.get_mut(node)?;
        self.tick += 1;
        *last_use = self.tick;
        Some(session)
    }

    /// The session with `node`, without marking it used.
    pub fn peek(&self, node: &NodeAddress) -> Option<&Session> {
        self.entries.get(node).map(|entry| &entry.0)
    }

    /// Stores `session` for `node`, replacing any earlier one; evicts the least recently used
    /// session if the cache is full.
    pub fn insert(&mut self, node: NodeAddress, mut session: Session) {
        if let Some(old) = self.remove(&node) {
            session.previous_read_key = Some(old.read_key);
        }
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.1)
                .map(|(node, _)| *node)
        {
            self.entries.remove(&oldest);
        }
        self.tick += 1;
        self.entries.insert(node, Box::new((session, self.tick)));
    }

    /// Forgets the session with `node`.
    pub fn remove(&mut self, node: &NodeAddress) -> Option<Session> {
        self.entries.remove(node).map(|entry| entry.0)
    }

    /// How many sessions are stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Stale entries the challenges' expiry queue may hold beyond twice the pending challenges.
const QUEUE_SLACK: usize = 64;

/// A WHOAREYOU we sent and whose handshake has not arrived yet.
#[derive(Debug, Clone)]
pub struct PendingChallenge {
    /// The packet as sent (masked), re-sent byte for byte to further packets of the node.
    pub packet: Vec<u8>,
    /// The unmasked packet, input of the handshake's key derivation and id-signature.
    pub challenge_data: ChallengeData,
    /// The challenged node's record as we knew it when challenging (its `enr_seq` went into
    /// the challenge).
    pub record: Option<Enr>,
    /// When it was sent.
    pub sent: Instant,
}

/// WHOAREYOU challenges awaiting their handshake: at most `capacity`, each forgotten `timeout`
/// after it was sent.
#[derive(Debug)]
pub struct Challenges {
    capacity: usize,
    timeout: Duration,
    /// Challenge and the number of its insertion.
    pending: HashMap<NodeAddress, (PendingChallenge, u64)>,
    /// Insertion order, for expiry; entries whose challenge was taken or replaced are skipped.
    by_time: VecDeque<(Instant, u64, NodeAddress)>,
    inserted: u64,
}

/// The challenge table is full; the node is not challenged (it may retry once older
/// challenges expire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengesFull;

impl Challenges {
    /// An empty table of at most `capacity` pending challenges (at least 1).
    pub fn new(capacity: usize, timeout: Duration) -> Self {
        Challenges {
            capacity: capacity.max(1),
            timeout,
            pending: HashMap::new(),
            by_time: VecDeque::new(),
            inserted: 0,
        }
    }

    /// Forgets challenges sent `timeout` or longer before `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(sent, number, node)) = self.by_time.front() {
            if now.saturating_duration_since(sent) < self.timeout {
                break;
            }
            self.by_time.pop_front();
            if self.pending.get(&node).is_some_and(|(_, n)| *n == number) {
                self.pending.remove(&node);
            }
        }
    }

    /// The challenge pending for `node` at `now`, if any.
    pub fn get(&mut self, now: Instant, node: &NodeAddress) -> Option<&PendingChallenge> {
        self.expire(now);
        self.pending.get(node).map(|(challenge, _)| challenge)
    }

    /// Records `challenge` as sent to `node`, replacing any earlier one.
    pub fn insert(
        &mut self,
        node: NodeAddress,
        challenge: PendingChallenge,
    ) -> Result<(), ChallengesFull> {
        self.expire(challenge.sent);
        if !self.pending.contains_key(&node) && self.pending.len() >= self.capacity {
            return Err(ChallengesFull);
        }
        self.inserted += 1;
        self.by_time
            .push_back((challenge.sent, self.inserted, node));
        self.pending.insert(node, (challenge, self.inserted));
        // Challenges taken before they expire leave their queue entry behind; keep the queue
        // within a constant factor of the challenges actually pending (not of the capacity:
        // at a thousand handshakes a second the stale entries alone held ~180 bytes per
        // session). Each pass leaves one entry per pending challenge, so the next comes only
        // after as many insertions again plus QUEUE_SLACK: amortised O(1).
        if self.by_time.len() > 2 * self.pending.len() + QUEUE_SLACK {
            let pending = &self.pending;
            self.by_time
                .retain(|(_, number, node)| pending.get(node).is_some_and(|(_, n)| n == number));
        }
        Ok(())
    }

    /// Removes and returns the challenge pending for `node` (expired ones are gone already).
    pub fn take(&mut self, now: Instant, node: &NodeAddress) -> Option<PendingChallenge> {
        self.expire(now);
        self.pending.remove(node).map(|(challenge, _)| challenge)
    }

    /// How many challenges are pending (some may be expired until the next call with `now`).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no challenge is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The length of the expiry queue (for the tests of its bound).
    #[cfg(test)]
    fn queue_len(&self) -> usize {
        self.by_time.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn node(n: u8) -> NodeAddress {
        NodeAddress {
            id: NodeId([n; 32]),
            addr: (Ipv4Addr::LOCALHOST, 30303).into(),
        }
    }

    fn session(counter: u32) -> Session {
        Session {
            write_key: [1; 16],
            read_key: [2; 16],
            previous_read_key: None,
            nonce_counter: counter,
        }
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut cache = SessionCache::new(3);
        for n in 1..=3 {
            cache.insert(node(n), session(u32::from(n)));
        }
        // Use 1, so 2 is now the oldest.
        assert!(cache.get_mut(&node(1)).is_some());
        cache.insert(node(4), session(4));
        assert_eq!(cache.len(), 3);
        assert!(cache.peek(&node(2)).is_none(), "2 evicted");
        for n in [1, 3, 4] {
            assert!(cache.peek(&node(n)).is_some(), "{n} kept");
        }
        // Replacing an entry does not evict another.
        cache.insert(node(3), session(30));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.peek(&node(3)).unwrap().nonce_counter, 30);
        assert_eq!(cache.remove(&node(1)).unwrap().nonce_counter, 1);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn a_replaced_session_leaves_its_read_key_behind() {
        let mut cache = SessionCache::new(3);
        cache.insert(node(1), session(1));
        assert_eq!(cache.peek(&node(1)).unwrap().previous_read_key, None);
        let mut newer = session(2);
        newer.read_key = [9; 16];
        cache.insert(node(1), newer);
        let stored = cache.peek(&node(1)).unwrap();
        assert_eq!(stored.read_key, [9; 16]);
        assert_eq!(stored.previous_read_key, Some([2; 16]));
    }

    #[test]
    fn nonces_count_up_and_stop_before_wrapping() {
        let mut s = session(0);
        let first = s.next_nonce(|_| [7; 8]).unwrap();
        let second = s.next_nonce(|_| [7; 8]).unwrap();
        assert_eq!(&first[..4], &[0, 0, 0, 1]);
        assert_eq!(&second[..4], &[0, 0, 0, 2]);
        assert_eq!(&first[4..], &[7; 8]);
        let mut last = session(u32::MAX - 1);
        assert!(last.next_nonce(|_| [0; 8]).is_some());
        assert_eq!(last.next_nonce(|_| [0; 8]), None);
    }

    fn challenge(sent: Instant) -> PendingChallenge {
        PendingChallenge {
            packet: vec![1, 2, 3],
            challenge_data: [0; 63],
            record: None,
            sent,
        }
    }

    #[test]
    fn challenges_expire_and_are_bounded() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut challenges = Challenges::new(2, second);
        challenges.insert(node(1), challenge(start)).unwrap();
        challenges
            .insert(node(2), challenge(start + second / 2))
            .unwrap();
        assert_eq!(
            challenges.insert(node(3), challenge(start + second / 2)),
            Err(ChallengesFull)
        );
        // Re-challenging a node already in the table is allowed.
        assert!(challenges.get(start, &node(1)).is_some());
        // After a second the first one is gone and there is room again.
        assert!(challenges.get(start + second, &node(1)).is_none());
        assert!(challenges.get(start + second, &node(2)).is_some());
        challenges
            .insert(node(3), challenge(start + second))
            .unwrap();
        assert!(challenges.take(start + second, &node(3)).is_some());
        assert!(challenges.take(start + second, &node(3)).is_none());
        assert_eq!(challenges.len(), 1);
    }

    #[test]
    fn expiry_queue_stays_bounded_when_challenges_are_taken() {
        let now = Instant::now();
        let mut challenges = Challenges::new(4, Duration::from_secs(1));
        for _ in 0..1000 {
            challenges.insert(node(1), challenge(now)).unwrap();
            challenges.take(now, &node(1)).unwrap();
        }
        assert!(challenges.queue_len() <= QUEUE_SLACK + 1);
        assert!(challenges.is_empty());
    }
}

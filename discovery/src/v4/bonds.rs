//! Endpoint proofs ("bonds",
//! [discv4.md, "Endpoint Proof"](https://github.com/ethereum/devp2p/blob/master/discv4.md#endpoint-proof)):
//! who answered our Ping (may ask us FINDNODE and ENRREQUEST) and who pinged us (holds proof of
//! us, so our requests to it are answered).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::NodeId;

/// Bound on remembered bonds, so a flood of Pings from fresh keys cannot grow memory without
/// limit.
const MAX_BONDS: usize = 100_000;

/// What we know about a node's endpoint proofs at one IP. Keyed by (node id, IP) as in
/// go-ethereum: a packet from another address (a replay from a spoofed source, say) can never
/// touch the proof of the real one.
#[derive(Debug, Clone, Copy, Default)]
struct Bond {
    /// It answered our Ping (it is at this IP).
    last_pong: Option<Instant>,
    /// It pinged us and got our Pong (it holds proof of us).
    last_ping: Option<Instant>,
}

/// Endpoint proofs by (node id, IP), each valid for `expiration` (24 h by default).
pub(super) struct Bonds {
    bonds: HashMap<(NodeId, IpAddr), Bond>,
    expiration: Duration,
    capacity: usize,
}

impl Bonds {
    pub(super) fn new(expiration: Duration) -> Self {
        Bonds::with_capacity(expiration, MAX_BONDS)
    }

    fn with_capacity(expiration: Duration, capacity: usize) -> Self {
        Bonds {
            bonds: HashMap::new(),
            expiration,
            capacity,
        }
    }

    /// It answered our Ping from this IP at `at`.
    pub(super) fn pong_received(&mut self, id: NodeId, ip: IpAddr, at: Instant) {
        self.bond_mut(id, ip, at).last_pong = Some(at);
    }

    /// It pinged us from this IP at `at`, and we answered.
    pub(super) fn ping_received(&mut self, id: NodeId, ip: IpAddr, at: Instant) {
        self.bond_mut(id, ip, at).last_ping = Some(at);
    }

    /// Restores a PONG time read from a node database (`None` if it is too old to place).
    pub(super) fn restore_pong(&mut self, id: NodeId, ip: IpAddr, last_pong: Option<Instant>) {
        let bond = Bond {
            last_pong,
            last_ping: None,
        };
        self.bonds.insert((id, ip), bond);
    }

    /// When it last answered our Ping from this IP, if that still counts as proof.
    pub(super) fn valid_pong(&self, id: &NodeId, ip: IpAddr, now: Instant) -> Option<Instant> {
        let at = self.bonds.get(&(*id, ip))?.last_pong?;
        self.is_recent(at, now).then_some(at)
    }

    /// It answered our Ping from this IP recently: it may ask us FINDNODE and ENRREQUEST.
    pub(super) fn has_proof(&self, id: &NodeId, ip: IpAddr, now: Instant) -> bool {
        self.valid_pong(id, ip, now).is_some()
    }

    /// It pinged us from this IP recently (and got our Pong): it holds proof of us.
    pub(super) fn pinged_us(&self, id: &NodeId, ip: IpAddr, now: Instant) -> bool {
        self.bonds
            .get(&(*id, ip))
            .and_then(|bond| bond.last_ping)
            .is_some_and(|at| self.is_recent(at, now))
    }

    fn is_recent(&self, at: Instant, now: Instant) -> bool {
        now.duration_since(at) < self.expiration
    }

    fn bond_mut(&mut self, id: NodeId, ip: IpAddr, now: Instant) -> &mut Bond {
        let key = (id, ip);
        if !self.bonds.contains_key(&key) && self.bonds.len() >= self.capacity {
            self.make_room(now);
        }
        self.bonds.entry(key).or_default()
    }

    /// Makes room, never refuses: a Ping with a fresh identity costs an attacker one Keccak (no
    /// signing), so a full table must not lock new nodes out. Entries that never answered our
    /// Ping go first (forged identities only ever ping), and expired ones; then the least
    /// recently active, down to 90%.
    fn make_room(&mut self, now: Instant) {
        let expiration = self.expiration;
        self.bonds.retain(|_, bond| {
            bond.last_pong
                .is_some_and(|at| now.duration_since(at) < expiration)
        });
        let keep = self.capacity * 9 / 10;
        if self.bonds.len() > keep {
            let mut by_age: Vec<(Instant, (NodeId, IpAddr))> = self
                .bonds
                .iter()
                .map(|(key, bond)| {
                    let active = bond.last_pong.into_iter().chain(bond.last_ping).max();
                    (active.unwrap_or(now), *key)
                })
                .collect();
            by_age.sort_unstable();
            for (_, old) in &by_age[..by_age.len() - keep] {
                self.bonds.remove(old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn id(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn proofs_hold_for_the_expiration_at_that_ip_only() {
        let now = Instant::now();
        let mut bonds = Bonds::new(DAY);
        assert!(!bonds.has_proof(&id(1), ip(1), now));
        bonds.pong_received(id(1), ip(1), now);
        assert!(bonds.has_proof(&id(1), ip(1), now + DAY - Duration::from_secs(1)));
        assert!(!bonds.has_proof(&id(1), ip(1), now + DAY), "expired");
        assert!(
            !bonds.has_proof(&id(1), ip(2), now),
            "another IP has no proof"
        );
        assert!(!bonds.pinged_us(&id(1), ip(1), now), "a PONG is not a Ping");
        bonds.ping_received(id(1), ip(2), now);
        assert!(bonds.pinged_us(&id(1), ip(2), now));
        assert!(!bonds.pinged_us(&id(1), ip(1), now));
        assert_eq!(bonds.valid_pong(&id(1), ip(1), now), Some(now));
    }

    #[test]
    fn restored_pongs_count_and_missing_ones_do_not() {
        let now = Instant::now();
        let mut bonds = Bonds::new(DAY);
        bonds.restore_pong(id(1), ip(1), Some(now));
        bonds.restore_pong(id(2), ip(2), None);
        assert!(bonds.has_proof(&id(1), ip(1), now));
        assert!(!bonds.has_proof(&id(2), ip(2), now));
    }

    #[test]
    fn a_full_table_evicts_unanswered_and_oldest_never_refuses() {
        let now = Instant::now();
        let mut bonds = Bonds::with_capacity(DAY, 10);
        // Five nodes that answered our Ping, oldest first; five that only pinged us.
        for n in 0..5 {
            bonds.pong_received(id(n), ip(n), now + Duration::from_secs(u64::from(n)));
        }
        for n in 5..10 {
            bonds.ping_received(id(n), ip(n), now);
        }
        let later = now + Duration::from_secs(60);
        bonds.ping_received(id(10), ip(10), later);
        assert!(
            bonds.pinged_us(&id(10), ip(10), later),
            "the newcomer is in"
        );
        for n in 0..5 {
            assert!(bonds.has_proof(&id(n), ip(n), later), "answered nodes stay");
        }
        for n in 5..10 {
            assert!(!bonds.pinged_us(&id(n), ip(n), later), "ping-only nodes go");
        }
        // Now full of answered nodes: the least recently active go, down to 90%.
        for n in 11..16 {
            bonds.pong_received(id(n), ip(n), later);
        }
        bonds.pong_received(id(16), ip(16), later);
        assert!(bonds.has_proof(&id(16), ip(16), later));
        assert!(!bonds.has_proof(&id(0), ip(0), later), "the oldest went");
        assert!(bonds.has_proof(&id(4), ip(4), later));
        assert!(bonds.bonds.len() <= 10);
    }
}

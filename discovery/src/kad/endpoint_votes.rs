//! Predicting our external UDP endpoint from what peers see: each PONG says which address our
//! Ping came from (`to`). The address most peers agree on, among recent statements, is our
//! external endpoint when no NAT mapping tells us better.
//!
//! On a dual-stack socket peers of both families vote, and each family sees a different
//! address of ours: a candidate needs a majority among the voters of its own family, and each
//! family has its own prediction (the record's `ip` and `ip6` slots are fed separately).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Statements older than this are forgotten.
pub const VOTE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Fewest agreeing peers before a prediction is made.
pub const MIN_VOTES: usize = 3;
/// Most statements kept (one per peer IP), so a flood cannot grow memory.
const MAX_VOTERS: usize = 1000;

/// Recent endpoint statements, one per reporting peer IP (a peer cannot vote twice), and the
/// last prediction of each family.
#[derive(Default)]
pub struct EndpointVotes {
    votes: HashMap<IpAddr, (SocketAddr, Instant)>,
    /// The last prediction reported by [`changed`](Self::changed): IPv4, IPv6.
    reported: [Option<SocketAddr>; 2],
}

/// Index of `addr`'s family in per-family arrays: 0 for IPv4, 1 for IPv6.
fn family(addr: &SocketAddr) -> usize {
    usize::from(addr.is_ipv6())
}

impl EndpointVotes {
    /// Records that the peer at `voter` saw us as `seen`.
    pub fn add(&mut self, voter: IpAddr, seen: SocketAddr, now: Instant) {
        if self.votes.len() >= MAX_VOTERS && !self.votes.contains_key(&voter) {
            self.expire(now);
            if self.votes.len() >= MAX_VOTERS {
                return;
            }
        }
        let seen = crate::netutil::canonical_addr(seen);
        self.votes.insert(voter.to_canonical(), (seen, now));
    }

    fn expire(&mut self, now: Instant) {
        self.votes
            .retain(|_, (_, at)| now.duration_since(*at) < VOTE_WINDOW);
    }

    /// For each family (IPv4, IPv6), the endpoint a majority of at least `MIN_VOTES` (3)
    /// recent voters of that family agree on.
    pub fn predict(&mut self, now: Instant) -> [Option<SocketAddr>; 2] {
        self.expire(now);
        let mut tally: HashMap<SocketAddr, usize> = HashMap::new();
        let mut voters = [0usize; 2];
        for (voter, (seen, _)) in &self.votes {
            // A voter of one family cannot have seen us at an address of the other.
            if voter.is_ipv4() == seen.is_ipv4() {
                *tally.entry(*seen).or_default() += 1;
                voters[family(seen)] += 1;
            }
        }
        let mut best: [Option<(usize, SocketAddr)>; 2] = [None, None];
        for (addr, count) in tally {
            let slot = &mut best[family(&addr)];
            if count >= MIN_VOTES && count * 2 > voters[family(&addr)] {
                // A strict majority: at most one candidate per family passes.
                *slot = Some((count, addr));
            }
        }
        best.map(|best| best.map(|(_, addr)| addr))
    }

    /// The predictions that are new since the last call, IPv4 first: what a service reports
    /// as its external endpoint (a family whose votes lapsed reports nothing; its last
    /// prediction stands).
    pub fn changed(&mut self, now: Instant) -> Vec<SocketAddr> {
        let mut changed = Vec::new();
        let predicted = self.predict(now);
        for (reported, predicted) in self.reported.iter_mut().zip(predicted) {
            if let Some(addr) = predicted
                && *reported != Some(addr)
            {
                *reported = Some(addr);
                changed.push(addr);
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_of_recent_votes() {
        let now = Instant::now();
        let mut votes = EndpointVotes::default();
        let ours: SocketAddr = "203.0.113.7:30303".parse().unwrap();
        let wrong: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        votes.add("1.1.1.1".parse().unwrap(), ours, now);
        votes.add("2.2.2.2".parse().unwrap(), ours, now);
        assert_eq!(votes.predict(now), [None, None], "two votes are not enough");
        votes.add("3.3.3.3".parse().unwrap(), ours, now);
        votes.add("4.4.4.4".parse().unwrap(), wrong, now);
        assert_eq!(votes.predict(now), [Some(ours), None]);
        // One voter changing its mind many times still counts once.
        for _ in 0..5 {
            votes.add("4.4.4.4".parse().unwrap(), wrong, now);
        }
        assert_eq!(votes.predict(now), [Some(ours), None]);
        assert_eq!(
            votes.predict(now + VOTE_WINDOW),
            [None, None],
            "votes expire"
        );
    }

    #[test]
    fn each_family_votes_on_its_own_address() {
        let now = Instant::now();
        let mut votes = EndpointVotes::default();
        let ours4: SocketAddr = "203.0.113.7:30303".parse().unwrap();
        let ours6: SocketAddr = "[2001:db8::7]:30303".parse().unwrap();
        for i in 1..=4 {
            votes.add(format!("2001:db8:{i}::1").parse().unwrap(), ours6, now);
        }
        assert_eq!(votes.predict(now), [None, Some(ours6)], "IPv6 voters alone");
        assert_eq!(votes.changed(now), [ours6]);
        assert_eq!(votes.changed(now), [], "reported once");
        // Three IPv4 voters are a majority of the IPv4 ones, though not of all seven; a mapped
        // voter and a mapped statement count as the IPv4 they are.
        votes.add("1.1.1.1".parse().unwrap(), ours4, now);
        votes.add("2.2.2.2".parse().unwrap(), ours4, now);
        let mapped: SocketAddr = "[::ffff:203.0.113.7]:30303".parse().unwrap();
        votes.add("::ffff:3.3.3.3".parse().unwrap(), mapped, now);
        assert_eq!(votes.predict(now), [Some(ours4), Some(ours6)]);
        assert_eq!(
            votes.changed(now),
            [ours4],
            "only the IPv4 prediction is new"
        );
        assert_eq!(votes.votes.len(), 7);
        // IPv6 voters moving to a new address change only the IPv6 prediction.
        let moved6: SocketAddr = "[2001:db8::8]:30303".parse().unwrap();
        for i in 1..=4 {
            votes.add(format!("2001:db8:{i}::1").parse().unwrap(), moved6, now);
        }
        assert_eq!(votes.changed(now), [moved6]);
        // An IPv4 voter claiming an IPv6 address of ours is not counted.
        for i in 5..=9 {
            votes.add(format!("9.9.9.{i}").parse().unwrap(), ours6, now);
        }
        assert_eq!(votes.predict(now), [Some(ours4), Some(moved6)]);
    }
}

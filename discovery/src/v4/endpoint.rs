//! Predicting our external UDP endpoint from what peers see: each PONG says which address our
//! Ping came from (`to`). The address most peers agree on, among recent statements, is our
//! external endpoint when no NAT mapping tells us better.
//!
//! On a dual-stack socket peers of both families vote, and each family sees a different
//! address of ours: a candidate needs a majority among the voters of its own family, and an
//! IPv4 prediction wins over an IPv6 one (the record's `ip` stays the primary address; IPv6
//! voters alone, as on an IPv6-only network, still predict).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Statements older than this are forgotten.
pub const VOTE_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Fewest agreeing peers before a prediction is made.
pub const MIN_VOTES: usize = 3;
/// Most statements kept (one per peer IP), so a flood cannot grow memory.
const MAX_VOTERS: usize = 1000;

/// Recent endpoint statements, one per reporting peer IP (a peer cannot vote twice).
#[derive(Default)]
pub struct EndpointVotes {
    votes: HashMap<IpAddr, (SocketAddr, Instant)>,
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

    /// The endpoint a majority of at least `MIN_VOTES` (3) recent voters of its family agree
    /// on, IPv4 first.
    pub fn predict(&mut self, now: Instant) -> Option<SocketAddr> {
        self.expire(now);
        let mut tally: HashMap<SocketAddr, usize> = HashMap::new();
        let mut voters = [0usize; 2];
        for (voter, (seen, _)) in &self.votes {
            // A voter of one family cannot have seen us at an address of the other.
            if voter.is_ipv4() == seen.is_ipv4() {
                *tally.entry(*seen).or_default() += 1;
                voters[usize::from(seen.is_ipv6())] += 1;
            }
        }
        tally
            .into_iter()
            .filter(|&(addr, count)| {
                count >= MIN_VOTES && count * 2 > voters[usize::from(addr.is_ipv6())]
            })
            .max_by_key(|&(addr, count)| (addr.is_ipv4(), count, addr))
            .map(|(addr, _)| addr)
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
        assert_eq!(votes.predict(now), None, "two votes are not enough");
        votes.add("3.3.3.3".parse().unwrap(), ours, now);
        votes.add("4.4.4.4".parse().unwrap(), wrong, now);
        assert_eq!(votes.predict(now), Some(ours));
        // One voter changing its mind many times still counts once.
        for _ in 0..5 {
            votes.add("4.4.4.4".parse().unwrap(), wrong, now);
        }
        assert_eq!(votes.predict(now), Some(ours));
        assert_eq!(votes.predict(now + VOTE_WINDOW), None, "votes expire");
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
        assert_eq!(votes.predict(now), Some(ours6), "IPv6 voters alone predict");
        // Three IPv4 voters are a majority of the IPv4 ones, though not of all seven; a mapped
        // voter and a mapped statement count as the IPv4 they are.
        votes.add("1.1.1.1".parse().unwrap(), ours4, now);
        votes.add("2.2.2.2".parse().unwrap(), ours4, now);
        let mapped: SocketAddr = "[::ffff:203.0.113.7]:30303".parse().unwrap();
        votes.add("::ffff:3.3.3.3".parse().unwrap(), mapped, now);
        assert_eq!(votes.predict(now), Some(ours4), "IPv4 first");
        assert_eq!(votes.votes.len(), 7);
    }
}

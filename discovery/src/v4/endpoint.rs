//! Predicting our external UDP endpoint from what peers see: each PONG says which address our
//! Ping came from (`to`). The address most peers agree on, among recent statements, is our
//! external endpoint when no NAT mapping tells us better.

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
        self.votes.insert(voter, (seen, now));
    }

    fn expire(&mut self, now: Instant) {
        self.votes
            .retain(|_, (_, at)| now.duration_since(*at) < VOTE_WINDOW);
    }

    /// The endpoint a majority of at least `MIN_VOTES` (3) recent voters agree on.
    pub fn predict(&mut self, now: Instant) -> Option<SocketAddr> {
        self.expire(now);
        let mut tally: HashMap<SocketAddr, usize> = HashMap::new();
        for (seen, _) in self.votes.values() {
            *tally.entry(*seen).or_default() += 1;
        }
        let total = self.votes.len();
        tally
            .into_iter()
            .filter(|&(_, count)| count >= MIN_VOTES && count * 2 > total)
            .max_by_key(|&(addr, count)| (count, addr))
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
}

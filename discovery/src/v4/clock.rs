//! Wall-clock time for packet expirations, from the monotonic `now` the state machine is fed:
//! one anchor (an `Instant` and the unix time at it) taken at start, so the core never reads a
//! clock.

use std::time::Instant;

use super::packet::EXPIRATION_SECS;

/// Maps `Instant`s to unix seconds from one anchor.
#[derive(Debug, Clone, Copy)]
pub(super) struct UnixClock {
    /// Unix seconds at `anchor`.
    unix_at_anchor: u64,
    anchor: Instant,
}

impl UnixClock {
    /// A clock where `now` is `unix_now` seconds since 1970.
    pub(super) fn new(now: Instant, unix_now: u64) -> Self {
        UnixClock {
            unix_at_anchor: unix_now,
            anchor: now,
        }
    }

    /// Unix seconds at `at` (whole seconds; 0 at the earliest).
    pub(super) fn unix_at(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.anchor) {
            Some(after) => self.unix_at_anchor + after.as_secs(),
            None => self
                .unix_at_anchor
                .saturating_sub(self.anchor.duration_since(at).as_secs()),
        }
    }

    /// The expiration a packet sent at `now` carries.
    pub(super) fn expiration(&self, now: Instant) -> u64 {
        self.unix_at(now) + EXPIRATION_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn instants_map_to_unix_seconds_both_ways_of_the_anchor() {
        let anchor = Instant::now() + Duration::from_secs(100);
        let clock = UnixClock::new(anchor, 1_000);
        assert_eq!(clock.unix_at(anchor), 1_000);
        assert_eq!(clock.unix_at(anchor + Duration::from_millis(2_900)), 1_002);
        assert_eq!(clock.unix_at(anchor - Duration::from_secs(30)), 970);
        assert_eq!(
            UnixClock::new(anchor, 10).unix_at(anchor - Duration::from_secs(30)),
            0
        );
        assert_eq!(clock.expiration(anchor), 1_000 + EXPIRATION_SECS);
    }
}

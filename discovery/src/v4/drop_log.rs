//! Dropped packets: every one counted in the metrics, at most one log line per reason per
//! [`LOG_INTERVAL`], so a flood cannot flood the log too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// At most one log line per drop reason per this interval.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// When each drop reason was last logged.
#[derive(Default)]
pub(super) struct DropLog {
    last_logged: HashMap<&'static str, Instant>,
}

impl DropLog {
    /// Counts a packet from `from` dropped for `reason`, and logs it if that reason was not
    /// logged within the interval. True if it was logged.
    pub(super) fn dropped(
        &mut self,
        now: Instant,
        reason: &'static str,
        from: SocketAddr,
        detail: &dyn std::fmt::Debug,
    ) -> bool {
        crate::metrics::dropped(reason);
        let due = self
            .last_logged
            .get(reason)
            .is_none_or(|at| now.duration_since(*at) >= LOG_INTERVAL);
        if due {
            self.last_logged.insert(reason, now);
            tracing::debug!(%from, reason, ?detail, "discv4 packet dropped (further drops of this kind counted, logged at most every 10 s)");
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval() {
        let now = Instant::now();
        let from: SocketAddr = "127.0.0.1:30303".parse().unwrap();
        let mut log = DropLog::default();
        assert!(log.dropped(now, "expired", from, &1));
        assert!(!log.dropped(now + Duration::from_secs(9), "expired", from, &2));
        assert!(log.dropped(now + Duration::from_secs(9), "malformed", from, &3));
        assert!(log.dropped(now + LOG_INTERVAL, "expired", from, &4));
    }
}

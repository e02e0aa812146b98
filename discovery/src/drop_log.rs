//! Dropped packets, for discv4 and discv5 alike: every one counted in the metrics, at most one
//! log line per reason per [`LOG_INTERVAL`], so a flood cannot flood the log too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// At most one log line per drop reason per this interval.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// One protocol's drops: when each reason was last logged.
pub(crate) struct DropLog {
    /// The protocol the log line names ("discv4", "discv5").
    protocol: &'static str,
    /// Counts a drop in the protocol's metric.
    count: fn(&'static str),
    last_logged: HashMap<&'static str, Instant>,
}

impl DropLog {
    /// The drops of `protocol`, each counted by `count`.
    pub(crate) fn new(protocol: &'static str, count: fn(&'static str)) -> Self {
        DropLog {
            protocol,
            count,
            last_logged: HashMap::new(),
        }
    }

    /// Counts a packet from `from` dropped for `reason`, and logs it if that reason was not
    /// logged within the interval. True if it was logged.
    pub(crate) fn dropped(
        &mut self,
        now: Instant,
        reason: &'static str,
        from: SocketAddr,
        detail: &dyn std::fmt::Debug,
    ) -> bool {
        (self.count)(reason);
        let due = self
            .last_logged
            .get(reason)
            .is_none_or(|at| now.duration_since(*at) >= LOG_INTERVAL);
        if due {
            self.last_logged.insert(reason, now);
            tracing::debug!(
                %from,
                reason,
                ?detail,
                "{} packet dropped (further drops of this kind counted, logged at most every 10 s)",
                self.protocol
            );
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
        let mut log = DropLog::new("discv4", crate::metrics::dropped);
        assert!(log.dropped(now, "expired", from, &1));
        assert!(!log.dropped(now + Duration::from_secs(9), "expired", from, &2));
        assert!(log.dropped(now + Duration::from_secs(9), "malformed", from, &3));
        assert!(log.dropped(now + LOG_INTERVAL, "expired", from, &4));
    }
}

//! The per-IP inbound throttle, as plain state with time passed in: a non-LAN IP that connected
//! to us is refused until `window` has passed since, so one host cannot make us run handshake
//! after handshake (go-ethereum's `inboundThrottleTime`, `p2p/server.go`). LAN addresses are
//! exempt: a local test network or a node's own tools connect often from one address. The
//! listener (`listener.rs`) only asks it about each accepted connection.
//!
//! Memory is bounded by the window: an entry lives for one window after the connection that
//! made it, so the throttle holds at most one entry per distinct non-LAN IP admitted within the
//! last window. Entries expire oldest first from a queue in arrival order, so each admission
//! costs O(1) amortized however many IPs are remembered.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ethp2p_discovery::netutil::is_lan;

/// Which non-LAN IPs connected within the last window.
pub(crate) struct InboundThrottle {
    window: Duration,
    /// The remembered IPs.
    admitted: HashSet<IpAddr>,
    /// The same IPs with their admission time, oldest first, for expiry. An IP is admitted only
    /// while it is not remembered, so it appears here at most once.
    expiry: VecDeque<(Instant, IpAddr)>,
}

impl InboundThrottle {
    /// A throttle refusing a second connection from a non-LAN IP within `window`.
    pub(crate) fn new(window: Duration) -> Self {
        InboundThrottle {
            window,
            admitted: HashSet::new(),
            expiry: VecDeque::new(),
        }
    }

    /// Whether a connection from `ip` arriving at `now` may proceed to the handshake; if it
    /// may and `ip` is not on the LAN, `ip` is refused for the next window. `now` never goes
    /// back between calls (the listener passes `Instant::now()`).
    pub(crate) fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        if is_lan(ip) {
            return true;
        }
        self.expire(now);
        if self.admitted.contains(&ip) {
            return false;
        }
        self.admitted.insert(ip);
        self.expiry.push_back((now, ip));
        true
    }

    /// Forgets the IPs admitted a full window or more before `now`.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, ip)) = self.expiry.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.expiry.pop_front();
            self.admitted.remove(&ip);
        }
    }

    /// How many IPs are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.admitted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const WINDOW: Duration = Duration::from_secs(30);

    fn public(last: u8) -> IpAddr {
        Ipv4Addr::new(203, 0, 113, last).into()
    }

    #[test]
    fn a_public_ip_is_refused_within_the_window_and_admitted_after_it() {
        let mut throttle = InboundThrottle::new(WINDOW);
        let start = Instant::now();
        assert!(throttle.admit(public(1), start));
        assert!(!throttle.admit(public(1), start));
        assert!(!throttle.admit(public(1), start + WINDOW - Duration::from_millis(1)));
        // A refusal does not extend the window: it counts from the admitted connection.
        assert!(throttle.admit(public(1), start + WINDOW));
        assert!(!throttle.admit(public(1), start + WINDOW + Duration::from_secs(1)));
    }

    #[test]
    fn ips_are_throttled_each_on_its_own() {
        let mut throttle = InboundThrottle::new(WINDOW);
        let start = Instant::now();
        assert!(throttle.admit(public(1), start));
        assert!(throttle.admit(public(2), start));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(throttle.admit(v6, start));
        assert!(!throttle.admit(v6, start + Duration::from_secs(1)));
        assert!(!throttle.admit(public(2), start + Duration::from_secs(1)));
    }

    #[test]
    fn lan_addresses_are_exempt_and_not_remembered() {
        let mut throttle = InboundThrottle::new(WINDOW);
        let now = Instant::now();
        for ip in [
            IpAddr::from(Ipv4Addr::LOCALHOST),
            Ipv4Addr::new(192, 168, 1, 7).into(),
            Ipv4Addr::new(10, 0, 0, 1).into(),
        ] {
            assert!(throttle.admit(ip, now));
            assert!(throttle.admit(ip, now), "{ip} again at once");
        }
        assert_eq!(throttle.len(), 0);
    }

    #[test]
    fn memory_holds_only_the_last_window() {
        let mut throttle = InboundThrottle::new(WINDOW);
        let start = Instant::now();
        // One new IP a second for two windows: at most one window's worth is remembered.
        for second in 0..60u32 {
            let ip = Ipv4Addr::from(0xcb00_7100 + second).into();
            assert!(throttle.admit(ip, start + Duration::from_secs(second.into())));
            assert!(throttle.len() <= 30, "{} remembered", throttle.len());
        }
        assert_eq!(throttle.len(), 30);
        assert!(throttle.admit(public(1), start + Duration::from_secs(200)));
        assert_eq!(throttle.len(), 1, "everything older than a window expired");
        assert_eq!(throttle.expiry.len(), 1);
    }
}

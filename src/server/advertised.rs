//! The endpoints we advertise, one slot per family: the record's `ip`/`tcp`/`udp` and
//! `ip6`/`tcp6`/`udp6` ([EIP-778](https://eips.ethereum.org/EIPS/eip-778)), and our enode
//! (the IPv4 endpoint when there is one, as go-ethereum's `enode.Node` prefers it).
//!
//! Each family's slot moves on its own: by discovery's endpoint prediction for that family
//! (the PONG `to` fields of peers of that family, see `ethp2p_discovery::kad::EndpointVotes`),
//! or by a NAT mapping or `--nat extip:` of that family, which pins the slot so predictions no
//! longer move it. Plain state, no I/O: the server applies a change and, when it reports one,
//! signs the record again (one sequence number per change).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ethp2p_discovery::{Enode, Enr, EnrBuilder, EnrError, PeerId};
use secp256k1::SecretKey;

/// One family's advertised endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    ip: IpAddr,
    tcp_port: u16,
    udp_port: u16,
    /// Set by a NAT mapping (or `extip:`): predictions leave it alone.
    pinned: bool,
}

/// Index of a family in `Advertised::slots`.
fn family(ip: IpAddr) -> usize {
    usize::from(ip.is_ipv6())
}

/// Our advertised endpoints; never empty (a slot goes only when the other family's is set).
#[derive(Debug, Clone)]
pub(crate) struct Advertised {
    /// IPv4, IPv6.
    slots: [Option<Slot>; 2],
    /// TCP and UDP take both families: a prediction may fill a family that has no slot.
    dual: bool,
}

impl Advertised {
    /// The endpoint the server starts with (its listen address, or 127.0.0.1 for an
    /// unspecified one). `dual`: TCP and UDP take both families, so a node on IPv4 loopback
    /// also names `::1` (the one IPv6 address of ours known without votes or NAT).
    pub(crate) fn new(ip: IpAddr, tcp_port: u16, udp_port: u16, dual: bool) -> Self {
        let ip = ip.to_canonical();
        let mut slots = [None, None];
        let slot = |ip| Slot {
            ip,
            tcp_port,
            udp_port,
            pinned: false,
        };
        slots[family(ip)] = Some(slot(ip));
        if dual && ip == IpAddr::V4(Ipv4Addr::LOCALHOST) {
            slots[1] = Some(slot(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        }
        Advertised { slots, dual }
    }

    /// Discovery predicts our external UDP endpoint of `udp`'s family: that slot takes it
    /// (TCP assumed reachable on the port it had), unless a NAT mapping pinned the slot, the
    /// address is loopback or unspecified, or our TCP listener does not take that family.
    /// Whether anything changed.
    pub(crate) fn predicted(&mut self, udp: SocketAddr) -> bool {
        let ip = udp.ip().to_canonical();
        if ip.is_loopback() || ip.is_unspecified() {
            return false;
        }
        let current = self.slots[family(ip)];
        if current.is_none() && !self.dual {
            return false;
        }
        if current.is_some_and(|slot| slot.pinned) {
            tracing::info!(%udp, "peers see our discovery endpoint as this; keeping the NAT mapping's");
            return false;
        }
        // A family without a slot: the dual-stack listener's TCP port serves it too.
        let tcp_port = current.map_or(self.primary().tcp_port, |slot| slot.tcp_port);
        self.set(Slot {
            ip,
            tcp_port,
            udp_port: udp.port(),
            pinned: false,
        })
    }

    /// A NAT mapping (or `extip:`) grants this endpoint: its family's slot takes it and stays
    /// pinned. Whether anything changed.
    pub(crate) fn pin(&mut self, ip: IpAddr, tcp_port: u16, udp_port: u16) -> bool {
        self.set(Slot {
            ip: ip.to_canonical(),
            tcp_port,
            udp_port,
            pinned: true,
        })
    }

    fn set(&mut self, slot: Slot) -> bool {
        let at = family(slot.ip);
        if self.slots[at] == Some(slot) {
            return false;
        }
        self.slots[at] = Some(slot);
        // Loopback next to a reachable address would send remote peers to themselves.
        let other = &mut self.slots[1 - at];
        if !slot.ip.is_loopback() && other.is_some_and(|o| o.ip.is_loopback() && !o.pinned) {
            *other = None;
        }
        true
    }

    /// The endpoint of our enode: IPv4 when we have one.
    fn primary(&self) -> Slot {
        self.slots
            .iter()
            .flatten()
            .next()
            .copied()
            .expect("never empty")
    }

    /// Our enode: the primary endpoint.
    pub(crate) fn enode(&self, id: PeerId) -> Enode {
        let slot = self.primary();
        Enode {
            id,
            ip: slot.ip,
            tcp_port: slot.tcp_port,
            udp_port: slot.udp_port,
        }
    }

    /// Writes both slots into a record, removing a family's keys when it has none.
    pub(crate) fn fill(&self, builder: &mut EnrBuilder) {
        builder.remove("ip").remove("tcp").remove("udp");
        builder.remove("ip6").remove("tcp6").remove("udp6");
        for slot in self.slots.iter().flatten() {
            match slot.ip {
                IpAddr::V4(ip) => builder.ip4(ip).tcp4(slot.tcp_port).udp4(slot.udp_port),
                IpAddr::V6(ip) => builder.ip6(ip).tcp6(slot.tcp_port).udp6(slot.udp_port),
            };
        }
    }

    /// `current` with these endpoints, signed again with the next sequence number.
    pub(crate) fn update(&self, current: &Enr, key: &SecretKey) -> Result<Enr, EnrError> {
        current.update(key, |builder| self.fill(builder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The record's (ip, tcp, udp) of both families.
    fn slots(record: &Enr) -> (String, String) {
        let v4 = format!("{:?} {:?} {:?}", record.ip4(), record.tcp4(), record.udp4());
        let v6 = format!("{:?} {:?} {:?}", record.ip6(), record.tcp6(), record.udp6());
        (v4, v6)
    }

    fn record(advertised: &Advertised, key: &SecretKey) -> Enr {
        let mut builder = Enr::builder();
        advertised.fill(&mut builder);
        builder.build(key).unwrap()
    }

    #[test]
    fn each_family_is_fed_by_its_own_predictions_one_bump_per_change() {
        let key = SecretKey::from_secret_bytes([3; 32]).unwrap();
        let id = PeerId::from_secret_key(&key);
        let mut advertised = Advertised::new(ip("203.0.113.1"), 30303, 30301, true);
        let mut enr = record(&advertised, &key);
        assert_eq!(enr.seq(), 1);
        assert_eq!(enr.ip6(), None, "no ::1 beside a real address");

        // An IPv6 prediction fills the IPv6 slot; IPv4 and the enode stay.
        assert!(advertised.predicted(addr("[2001:db8::5]:40000")));
        enr = advertised.update(&enr, &key).unwrap();
        assert_eq!(enr.seq(), 2);
        let (v4, v6) = slots(&enr);
        assert_eq!(v4, "Some(203.0.113.1) Some(30303) Some(30301)");
        assert_eq!(
            v6, "Some(2001:db8::5) Some(30303) Some(40000)",
            "TCP port of the listener"
        );
        assert_eq!(advertised.enode(id).ip, ip("203.0.113.1"));
        assert!(
            !advertised.predicted(addr("[2001:db8::5]:40000")),
            "the same prediction again: no change, no bump"
        );

        // An IPv4 prediction moves only the IPv4 slot.
        assert!(advertised.predicted(addr("198.51.100.2:30301")));
        enr = advertised.update(&enr, &key).unwrap();
        assert_eq!(enr.seq(), 3);
        let (v4, v6) = slots(&enr);
        assert_eq!(v4, "Some(198.51.100.2) Some(30303) Some(30301)");
        assert_eq!(v6, "Some(2001:db8::5) Some(30303) Some(40000)");
        assert_eq!(advertised.enode(id).ip, ip("198.51.100.2"));

        // A mapped IPv4 prediction is IPv4; loopback and unspecified ones are ignored.
        assert!(!advertised.predicted(addr("[::ffff:198.51.100.2]:30301")));
        assert!(!advertised.predicted(addr("[::1]:30301")));
        assert!(!advertised.predicted(addr("[::]:30301")));
    }

    #[test]
    fn a_pin_holds_its_family_only() {
        let key = SecretKey::from_secret_bytes([4; 32]).unwrap();
        let id = PeerId::from_secret_key(&key);
        let mut advertised = Advertised::new(ip("203.0.113.1"), 30303, 30303, true);
        // `--nat extip:2001:db8::9`: the IPv6 slot, pinned.
        assert!(advertised.pin(ip("2001:db8::9"), 30303, 30303));
        assert!(
            !advertised.pin(ip("2001:db8::9"), 30303, 30303),
            "again: no change"
        );
        assert!(
            !advertised.predicted(addr("[2001:db8::77]:5000")),
            "IPv6 votes do not override the pinned IPv6 slot"
        );
        // IPv4 votes still move the unpinned IPv4 slot.
        assert!(advertised.predicted(addr("198.51.100.3:30303")));
        let (v4, v6) = slots(&record(&advertised, &key));
        assert_eq!(v4, "Some(198.51.100.3) Some(30303) Some(30303)");
        assert_eq!(v6, "Some(2001:db8::9) Some(30303) Some(30303)");
        // An IPv4 pin then holds IPv4 against votes too.
        assert!(advertised.pin(ip("198.51.100.4"), 30303, 30303));
        assert!(!advertised.predicted(addr("198.51.100.5:30303")));
        assert_eq!(advertised.enode(id).ip, ip("198.51.100.4"));
        // A NAT mapping that moves (a new external address) moves the pinned slot.
        assert!(advertised.pin(ip("2001:db8::10"), 30303, 30303));
        assert_eq!(
            record(&advertised, &key).ip6(),
            Some("2001:db8::10".parse().unwrap())
        );
    }

    #[test]
    fn loopback_goes_once_a_reachable_address_is_known() {
        let key = SecretKey::from_secret_bytes([5; 32]).unwrap();
        let id = PeerId::from_secret_key(&key);
        // Dual-stack on loopback: 127.0.0.1 and ::1.
        let loopback = Advertised::new(ip("127.0.0.1"), 30303, 30304, true);
        let (v4, v6) = slots(&record(&loopback, &key));
        assert_eq!(v4, "Some(127.0.0.1) Some(30303) Some(30304)");
        assert_eq!(v6, "Some(::1) Some(30303) Some(30304)");
        let mut single = Advertised::new(ip("127.0.0.1"), 30303, 30304, false);
        assert_eq!(record(&single, &key).ip6(), None, "IPv4 only: no ::1");
        assert!(
            !single.predicted(addr("[2001:db8::3]:30304")),
            "no IPv6 endpoint for a listener that takes IPv4 only"
        );

        // A real IPv4 endpoint drops the ::1.
        let mut v4_known = loopback.clone();
        assert!(v4_known.pin(ip("203.0.113.9"), 30303, 30304));
        let (_, v6) = slots(&record(&v4_known, &key));
        assert_eq!(v6, "None None None");
        // A real IPv6 endpoint drops 127.0.0.1: the record and the enode are IPv6 then, until
        // IPv4 is known.
        let mut v6_known = loopback.clone();
        assert!(v6_known.predicted(addr("[2001:db8::3]:30304")));
        let (v4, v6) = slots(&record(&v6_known, &key));
        assert_eq!(v4, "None None None");
        assert_eq!(v6, "Some(2001:db8::3) Some(30303) Some(30304)");
        assert_eq!(v6_known.enode(id).ip, ip("2001:db8::3"));
        assert!(v6_known.predicted(addr("198.51.100.1:30304")));
        assert_eq!(v6_known.enode(id).ip, ip("198.51.100.1"));
        assert_eq!(v6_known.enode(id).tcp_port, 30303);
        // An IPv6-only node (listening on one IPv6 address) is IPv6 throughout.
        let only6 = Advertised::new(ip("2001:db8::4"), 1, 2, false);
        let (v4, v6) = slots(&record(&only6, &key));
        assert_eq!(
            (v4.as_str(), v6.as_str()),
            ("None None None", "Some(2001:db8::4) Some(1) Some(2)")
        );
    }
}

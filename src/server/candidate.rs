//! A dial candidate: a node and, when its record names both families (`ip`/`tcp` and
//! `ip6`/`tcp6`, [EIP-778](https://eips.ethereum.org/EIPS/eip-778)), the TCP endpoint of the
//! other family, so that the dialer can try it when the first does not connect. An `enode://`
//! URL or a discv4 node without its record has one address and no fallback.

use std::net::SocketAddr;

use ethp2p_discovery::{Enode, Enr};

/// A node for the dialer, from a node source ([`NodeSender`](super::NodeSender)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialCandidate {
    /// The node at its preferred address: the record's IPv4 endpoint when it has one (as
    /// [`Enr::to_enode`]).
    pub enode: Enode,
    /// The record's TCP endpoint of the other family, tried when the preferred one fails.
    pub fallback: Option<SocketAddr>,
}

impl From<Enode> for DialCandidate {
    fn from(enode: Enode) -> Self {
        DialCandidate {
            enode,
            fallback: None,
        }
    }
}

impl DialCandidate {
    /// The candidate a record names: its IPv4 TCP endpoint with its IPv6 one as fallback, or
    /// the one it has (`tcp6` defaults to `tcp`, as EIP-778 says). `None` when the record
    /// has no IP with a TCP port.
    pub fn from_record(record: &Enr) -> Option<Self> {
        let tcp_endpoint = |addr: Option<SocketAddr>| addr.filter(|addr| addr.port() != 0);
        let v4 = record.ip4().zip(record.tcp4()).map(SocketAddr::from);
        let v6 = (record.ip6())
            .zip(record.tcp6().or(record.tcp4()))
            .map(SocketAddr::from);
        let (preferred, fallback) = match (tcp_endpoint(v4), tcp_endpoint(v6)) {
            (Some(v4), v6) => (v4, v6),
            (None, Some(v6)) => (v6, None),
            (None, None) => return None,
        };
        let udp_port = match preferred {
            SocketAddr::V4(_) => record.udp4(),
            SocketAddr::V6(_) => record.udp6().or(record.udp4()),
        };
        let enode = Enode {
            id: record.peer_id(),
            ip: preferred.ip(),
            tcp_port: preferred.port(),
            udp_port: udp_port.unwrap_or(0),
        };
        Some(DialCandidate { enode, fallback })
    }

    /// The addresses to dial, in order: IPv4 first, unless we listen on one IPv6 address
    /// only (`listen`), from which IPv4 peers cannot reach us back, then IPv6 first.
    pub(crate) fn dial_order(&self, listen: Option<SocketAddr>) -> Vec<SocketAddr> {
        let mut addrs: Vec<SocketAddr> = std::iter::once(self.enode.tcp_addr())
            .chain(self.fallback)
            .collect();
        let ipv6_only = listen.is_some_and(|addr| {
            let ip = addr.ip().to_canonical();
            ip.is_ipv6() && !ip.is_unspecified()
        });
        // Stable: within a family the record's order stays.
        addrs.sort_by_key(|addr| addr.is_ipv6() != ipv6_only);
        addrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use secp256k1::SecretKey;

    fn key() -> SecretKey {
        SecretKey::from_secret_bytes([8; 32]).unwrap()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_record_with_both_families_has_a_fallback() {
        let record = Enr::builder()
            .ip4(Ipv4Addr::new(203, 0, 113, 1))
            .tcp4(30303)
            .udp4(30301)
            .ip6("2001:db8::1".parse().unwrap())
            .tcp6(30304)
            .build(&key())
            .unwrap();
        let candidate = DialCandidate::from_record(&record).unwrap();
        assert_eq!(candidate.enode, record.to_enode().unwrap());
        assert_eq!(candidate.fallback, Some(addr("[2001:db8::1]:30304")));
        let both = [addr("203.0.113.1:30303"), addr("[2001:db8::1]:30304")];
        for listen in [
            None,
            Some("[::]:30303"),
            Some("0.0.0.0:1"),
            Some("[::ffff:1.2.3.4]:1"),
        ] {
            let order = candidate.dial_order(listen.map(addr));
            assert_eq!(order, both, "IPv4 first listening on {listen:?}");
        }
        let order = candidate.dial_order(Some(addr("[::1]:0")));
        assert_eq!(
            order,
            [both[1], both[0]],
            "IPv6 first from an IPv6-only listener"
        );
    }

    #[test]
    fn single_family_records() {
        // tcp6 absent: the IPv6 endpoint takes tcp (EIP-778).
        let v6_only = Enr::builder()
            .ip6(Ipv6Addr::LOCALHOST)
            .tcp4(9000)
            .udp6(9001)
            .build(&key())
            .unwrap();
        let candidate = DialCandidate::from_record(&v6_only).unwrap();
        assert_eq!(candidate.enode.tcp_addr(), addr("[::1]:9000"));
        assert_eq!(candidate.enode.udp_port, 9001);
        assert_eq!(candidate.fallback, None);
        assert_eq!(candidate.dial_order(None), [addr("[::1]:9000")]);
        // An IPv4 address without a TCP port: the IPv6 endpoint is the one to dial.
        let v4_without_tcp = Enr::builder()
            .ip4(Ipv4Addr::LOCALHOST)
            .udp4(9002)
            .ip6(Ipv6Addr::LOCALHOST)
            .tcp6(9003)
            .build(&key())
            .unwrap();
        let candidate = DialCandidate::from_record(&v4_without_tcp).unwrap();
        assert_eq!(candidate.enode.tcp_addr(), addr("[::1]:9003"));
        assert_eq!(candidate.enode.udp_port, 9002, "udp6 defaults to udp");
        assert_eq!(candidate.fallback, None);
        // No TCP port at all, or no IP: nothing to dial.
        let no_tcp = Enr::builder()
            .ip4(Ipv4Addr::LOCALHOST)
            .udp4(9004)
            .build(&key())
            .unwrap();
        assert_eq!(DialCandidate::from_record(&no_tcp), None);
        let no_ip = Enr::builder().tcp4(9005).build(&key()).unwrap();
        assert_eq!(DialCandidate::from_record(&no_ip), None);
        // An enode has its one address.
        let enode = v6_only.to_enode().unwrap();
        assert_eq!(
            DialCandidate::from(enode).dial_order(None),
            [enode.tcp_addr()]
        );
    }
}

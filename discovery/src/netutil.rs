//! Address rules shared by the server and discovery: CIDR ranges (the `--netrestrict` allow
//! list), the LAN ranges exempt from throttles and IP limits (go-ethereum's `netutil.IsLAN`), and
//! which addresses one node may tell another about (go-ethereum's `netutil.CheckRelayIP`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range such as `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_matches(network: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if network[..full] != ip[..full] {
        return false;
    }
    let bits = prefix % 8;
    bits == 0 || {
        let mask = 0xffu8 << (8 - bits);
        network[full] & mask == ip[full] & mask
    }
}

/// Why a string is not a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR range {0:?} (expected e.g. 10.0.0.0/8)")]
pub struct ParseCidrError(String);

impl FromStr for Cidr {
    type Err = ParseCidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseCidrError(s.to_string());
        let (ip, prefix) = s.trim().split_once('/').ok_or_else(error)?;
        let network: IpAddr = ip.parse().map_err(|_| error())?;
        let prefix: u8 = prefix.parse().map_err(|_| error())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(error());
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Loopback, private and link-local addresses: the inbound throttle does not apply to them.
pub fn is_lan(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(ip) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.octets()[0] == 0
        }
        IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local(),
    }
}

/// Whether a node at `ip` may be announced to, or accepted from, a peer at `relay`: never an
/// unspecified, multicast or broadcast address; loopback only between loopback addresses; LAN
/// only between LAN addresses.
pub fn relay_allowed(relay: IpAddr, ip: IpAddr) -> bool {
    let (relay, ip) = (relay.to_canonical(), ip.to_canonical());
    if ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    if let IpAddr::V4(v4) = ip {
        if v4.is_broadcast() {
            return false;
        }
    }
    if ip.is_loopback() {
        return relay.is_loopback();
    }
    !is_lan(ip) || is_lan(relay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.1.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        let odd: Cidr = "192.168.64.0/18".parse().unwrap();
        assert!(odd.contains("192.168.127.255".parse().unwrap()));
        assert!(!odd.contains("192.168.128.0".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
    }

    #[test]
    fn relay() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(relay_allowed(ip("127.0.0.1"), ip("127.0.0.2")));
        assert!(!relay_allowed(ip("8.8.8.8"), ip("127.0.0.2")));
        assert!(relay_allowed(ip("10.0.0.1"), ip("192.168.1.1")));
        assert!(!relay_allowed(ip("8.8.8.8"), ip("192.168.1.1")));
        assert!(relay_allowed(ip("8.8.8.8"), ip("1.1.1.1")));
        assert!(!relay_allowed(ip("8.8.8.8"), ip("0.0.0.0")));
        assert!(!relay_allowed(ip("8.8.8.8"), ip("224.0.0.1")));
    }

    #[test]
    fn lan() {
        for lan in [
            "127.0.0.1",
            "10.1.1.1",
            "192.168.1.1",
            "172.16.5.5",
            "::1",
            "fe80::1",
            "fd00::1",
        ] {
            assert!(is_lan(lan.parse().unwrap()), "{lan}");
        }
        for wan in ["8.8.8.8", "203.0.113.1", "2001:db8::1"] {
            assert!(!is_lan(wan.parse().unwrap()), "{wan}");
        }
    }
}

//! Address rules shared by the server and discovery: CIDR ranges (the `--netrestrict` allow
//! list), the LAN ranges exempt from throttles and IP limits (go-ethereum's `netutil.IsLAN`), and
//! which addresses one node may tell another about (go-ethereum's `netutil.CheckRelayIP`).
//!
//! Also the two halves of dual-stack sockets: [`bind_udp`] and [`bind_tcp`] open `[::]` with
//! `IPV6_V6ONLY` off, so one port takes both families (go-ethereum's `:30303`), and
//! [`canonical_addr`] turns the IPv4-mapped sources (`::ffff:a.b.c.d`) such a socket reports
//! back into the IPv4 addresses they are, at every place an address enters from the network.

use std::fmt;
#[cfg(feature = "tokio")]
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

#[cfg(feature = "tokio")]
use socket2::{Domain, Protocol, Socket, Type};

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

/// Loopback, private and link-local addresses (go-ethereum's `netutil.IsLAN`): the inbound
/// throttle and the table's subnet limits do not apply to them, and they are told only to
/// nodes on a LAN themselves ([`relay_allowed`]). IPv4: 127/8, 10/8, 172.16/12, 192.168/16,
/// 169.254/16 and 0/8; IPv6: `::1`, link-local `fe80::/10` and unique-local `fc00::/7`
/// ([RFC 4193](https://www.rfc-editor.org/rfc/rfc4193)); a mapped IPv4 address as its IPv4.
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

/// `addr` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket
/// reports for an IPv4 peer) replaced by the IPv4 address; any other address unchanged (a
/// real IPv6 address keeps its scope id). Applied where addresses enter, so endpoint proofs,
/// /24 limits, PONG `to` fields and logs all see one form per peer.
pub fn canonical_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Where to send to reach `to` from a socket bound to `local`: the mapped form of an IPv4
/// destination for an IPv6 (dual-stack) socket. Linux takes either form on such a socket;
/// macOS and the BSDs refuse the plain IPv4 one. The inverse of [`canonical_addr`].
pub fn destination(local: SocketAddr, to: SocketAddr) -> SocketAddr {
    match (local, to) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        _ => to,
    }
}

/// Whether a socket bound to `addr` takes both families: the IPv6 unspecified address `[::]`.
/// Any other address means exactly that address.
pub fn is_dual_stack(addr: SocketAddr) -> bool {
    matches!(addr, SocketAddr::V6(v6) if v6.ip().is_unspecified())
}

/// The address a short-lived client (a ping, a crawl) binds to reach `targets`: loopback
/// when every target is, the one family they all have, and `[::]` (dual-stack, see
/// [`bind_udp`]) when both occur. No targets: IPv4 loopback.
pub fn client_ip_for(targets: impl IntoIterator<Item = IpAddr>) -> IpAddr {
    let (mut v4, mut v6, mut beyond_loopback) = (false, false, false);
    for ip in targets {
        let ip = ip.to_canonical();
        v4 |= ip.is_ipv4();
        v6 |= ip.is_ipv6();
        beyond_loopback |= !ip.is_loopback();
    }
    match (v4, v6, beyond_loopback) {
        (true, true, _) | (false, true, true) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (false, true, false) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (_, false, true) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (_, false, false) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

/// A non-blocking socket for `addr`, and the address to bind it to: on `[::]` one that takes
/// both families, or, where the host has no IPv6 at all, an IPv4 one on `0.0.0.0` and the same
/// port (as Go's `:30303` falls back).
#[cfg(feature = "tokio")]
fn socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> io::Result<(Socket, SocketAddr)> {
    let (socket, addr) = if is_dual_stack(addr) {
        let dual = Socket::new(Domain::IPV6, kind, Some(protocol)).and_then(|socket| {
            // Linux defaults to off (net.ipv6.bindv6only = 0), BSDs and Windows to on: set it.
            socket.set_only_v6(false)?;
            Ok(socket)
        });
        match dual {
            Ok(socket) => (socket, addr),
            Err(error) => {
                tracing::info!(%error, "no dual-stack socket here: IPv4 only");
                let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr.port());
                (Socket::new(Domain::IPV4, kind, Some(protocol))?, v4)
            }
        }
    } else {
        (
            Socket::new(Domain::for_address(addr), kind, Some(protocol))?,
            addr,
        )
    };
    socket.set_nonblocking(true)?;
    Ok((socket, addr))
}

/// A UDP socket on `addr`; on `[::]` it receives IPv4 too (see [`is_dual_stack`]). Needs a
/// tokio runtime.
#[cfg(feature = "tokio")]
pub fn bind_udp(addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    let (socket, addr) = socket(addr, Type::DGRAM, Protocol::UDP)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// A listening TCP socket on `addr`; on `[::]` it accepts IPv4 too (see [`is_dual_stack`]).
/// `SO_REUSEADDR` and the backlog as tokio's own `TcpListener::bind` sets them on Unix. Needs
/// a tokio runtime.
#[cfg(feature = "tokio")]
pub fn bind_tcp(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let (socket, addr) = socket(addr, Type::STREAM, Protocol::TCP)?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_become_ipv4() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(
            canonical_addr(addr("[::ffff:10.1.2.3]:30303")),
            addr("10.1.2.3:30303")
        );
        assert_eq!(canonical_addr(addr("1.2.3.4:1")), addr("1.2.3.4:1"));
        assert_eq!(canonical_addr(addr("[::1]:7")), addr("[::1]:7"));
        // The IPv4-compatible form (::a.b.c.d, deprecated) is IPv6, not mapped.
        assert_eq!(canonical_addr(addr("[::1.2.3.4]:7")), addr("[::1.2.3.4]:7"));
        let scoped = addr("[fe80::1%2]:9");
        assert_eq!(canonical_addr(scoped), scoped);

        let v6 = addr("[::]:0");
        assert_eq!(
            destination(v6, addr("1.2.3.4:5")),
            addr("[::ffff:1.2.3.4]:5")
        );
        assert_eq!(destination(v6, addr("[::1]:5")), addr("[::1]:5"));
        assert_eq!(
            destination(addr("0.0.0.0:0"), addr("1.2.3.4:5")),
            addr("1.2.3.4:5")
        );
        assert!(is_dual_stack(v6));
        assert!(!is_dual_stack(addr("[::1]:0")));
        assert!(!is_dual_stack(addr("0.0.0.0:0")));
    }

    #[test]
    fn client_binds_the_targets_family() {
        let pick = |targets: &[&str]| {
            client_ip_for(targets.iter().map(|s| s.parse::<IpAddr>().unwrap())).to_string()
        };
        assert_eq!(pick(&["127.0.0.1", "127.0.0.2"]), "127.0.0.1");
        assert_eq!(pick(&["127.0.0.1", "8.8.8.8"]), "0.0.0.0");
        assert_eq!(pick(&["::1"]), "::1");
        assert_eq!(pick(&["::1", "2001:db8::1"]), "::");
        assert_eq!(pick(&["8.8.8.8", "2001:db8::1"]), "::");
        assert_eq!(pick(&["127.0.0.1", "::1"]), "::");
        assert_eq!(pick(&["::ffff:127.0.0.1"]), "127.0.0.1", "mapped is IPv4");
        assert_eq!(pick(&[]), "127.0.0.1");
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn dual_stack_udp_takes_both_families() {
        let socket = bind_udp("[::]:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        for (client, target) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
            let client = tokio::net::UdpSocket::bind(client).await.unwrap();
            let target = SocketAddr::new(target.parse().unwrap(), port);
            client.send_to(b"hi", target).await.unwrap();
            let mut buf = [0u8; 8];
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..len], b"hi");
            let from = canonical_addr(from);
            assert_eq!(from, client.local_addr().unwrap());
            // And back, through the mapped form for the IPv4 client.
            let local = socket.local_addr().unwrap();
            socket
                .send_to(b"ok", destination(local, from))
                .await
                .unwrap();
            let (len, _) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..len], b"ok");
        }
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn dual_stack_tcp_accepts_both_families() {
        let listener = bind_tcp("[::]:0".parse().unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        for target in ["127.0.0.1", "::1"] {
            let target = SocketAddr::new(target.parse().unwrap(), port);
            let client = tokio::net::TcpStream::connect(target).await.unwrap();
            let (_, remote) = listener.accept().await.unwrap();
            assert_eq!(canonical_addr(remote), client.local_addr().unwrap());
        }
    }

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
    fn ipv6_ranges() {
        let range = |s: &str| s.parse::<Cidr>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let ula = range("fc00::/7");
        assert_eq!(ula.to_string(), "fc00::/7");
        assert!(ula.contains(ip("fc00::1")) && ula.contains(ip("fdff:ffff::1")));
        assert!(!ula.contains(ip("fe00::1")) && !ula.contains(ip("fbff::1")));
        let doc = range("2001:db8::/32");
        assert!(doc.contains(ip("2001:db8:ffff::1")));
        assert!(!doc.contains(ip("2001:db9::1")));
        assert!(range("::1/128").contains(ip("::1")));
        assert!(!range("::1/128").contains(ip("::2")));
        assert!(range("::/0").contains(ip("2001:db8::1")));
        assert!(
            !range("::/0").contains(ip("8.8.8.8")),
            "an IPv6 range holds no IPv4"
        );
        // A mapped address is the IPv4 it carries: in IPv4 ranges, not in IPv6 ones.
        assert!(!range("::/0").contains(ip("::ffff:8.8.8.8")));
        assert!(range("8.8.0.0/16").contains(ip("::ffff:8.8.8.8")));
        assert!(
            " fd00::/8 ".parse::<Cidr>().is_ok(),
            "spaces around a list item"
        );
        assert!("fd00::/129".parse::<Cidr>().is_err());
        assert!("[fd00::]/8".parse::<Cidr>().is_err());
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
        assert!(!relay_allowed(ip("8.8.8.8"), ip("255.255.255.255")));
    }

    #[test]
    fn relay_ipv6() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let wan6 = ip("2001:db8::1");
        // Loopback only between loopback addresses, of either family.
        assert!(relay_allowed(ip("::1"), ip("::1")));
        assert!(relay_allowed(ip("127.0.0.1"), ip("::1")));
        assert!(relay_allowed(ip("::1"), ip("127.0.0.1")));
        assert!(!relay_allowed(wan6, ip("::1")));
        assert!(
            !relay_allowed(ip("fd00::1"), ip("::1")),
            "LAN is not loopback"
        );
        // Link-local and unique-local only to LAN requesters.
        for lan in ["fe80::1", "febf::1", "fc00::1", "fd12:3456::1"] {
            assert!(!relay_allowed(wan6, ip(lan)), "{lan} to WAN");
            assert!(!relay_allowed(ip("8.8.8.8"), ip(lan)), "{lan} to IPv4 WAN");
            assert!(relay_allowed(ip("fd00::2"), ip(lan)), "{lan} to ULA");
            assert!(relay_allowed(ip("fe80::2"), ip(lan)), "{lan} to link-local");
            assert!(relay_allowed(ip("10.0.0.1"), ip(lan)), "{lan} to IPv4 LAN");
        }
        assert!(relay_allowed(wan6, ip("2001:db8:1::1")));
        assert!(
            relay_allowed(ip("::1"), wan6),
            "a public node is told to anyone"
        );
        // Never the unspecified or a multicast address.
        assert!(!relay_allowed(wan6, ip("::")));
        assert!(!relay_allowed(ip("::1"), ip("::")));
        assert!(!relay_allowed(wan6, ip("ff02::1")));
        // Mapped addresses, as relay or as node, are the IPv4 they carry.
        assert!(!relay_allowed(wan6, ip("::ffff:127.0.0.1")));
        assert!(relay_allowed(ip("::ffff:127.0.0.1"), ip("127.0.0.2")));
        assert!(!relay_allowed(ip("::ffff:8.8.8.8"), ip("192.168.1.1")));
        assert!(relay_allowed(ip("::ffff:10.0.0.1"), ip("fd00::1")));
        assert!(!relay_allowed(ip("8.8.8.8"), ip("::ffff:0.0.0.0")));
    }

    #[test]
    fn lan() {
        for lan in [
            "127.0.0.1",
            "10.1.1.1",
            "192.168.1.1",
            "172.16.5.5",
            "169.254.1.1",
            "::1",
            // fe80::/10, both ends.
            "fe80::1",
            "febf:ffff::1",
            // fc00::/7, both ends.
            "fc00::1",
            "fd00::1",
            "fdff:ffff::1",
            // Mapped IPv4 LAN addresses.
            "::ffff:127.0.0.1",
            "::ffff:10.1.1.1",
            "::ffff:192.168.1.1",
        ] {
            assert!(is_lan(lan.parse().unwrap()), "{lan}");
        }
        for wan in [
            "8.8.8.8",
            "203.0.113.1",
            "2001:db8::1",
            // Just outside fe80::/10 (fec0::/10 is the retired site-local range) and fc00::/7.
            "fec0::1",
            "fe7f::1",
            "fe00::1",
            "fbff::1",
            // The IPv4-compatible form is IPv6, not the IPv4 loopback; :: is no LAN address.
            "::127.0.0.1",
            "::",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_lan(wan.parse().unwrap()), "{wan}");
        }
    }
}

//! The default gateway and the LAN address facing it.
//!
//! NAT-PMP talks to the default route's gateway. The `natpmp` crate's own guess was seen to pick
//! a static route's gateway over the default one, so the kernel's IPv4 routing table is read
//! here instead (`/proc/net/route` on Linux): the default route (destination and mask 0, the
//! gateway flag set) with the lowest metric.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

const RTF_UP: u32 = 0x1;
const RTF_GATEWAY: u32 = 0x2;

/// The IPv4 default gateway from the kernel's routing table, if there is one.
pub fn default_gateway() -> Option<Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_default_gateway(&table)
}

/// Picks the default gateway out of the text of `/proc/net/route`: columns are tab separated,
/// addresses are hex in the kernel's byte order (little-endian on the machines that matter; the
/// bytes are read in memory order, which is network order on every host).
pub fn parse_default_gateway(table: &str) -> Option<Ipv4Addr> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            let destination = hex_u32(fields[1])?;
            let gateway = hex_u32(fields[2])?;
            let flags = u32::from_str_radix(fields[3], 16).ok()?;
            let metric: u32 = fields[6].parse().ok()?;
            let mask = hex_u32(fields[7])?;
            let is_default = destination == 0 && mask == 0;
            let usable = flags & RTF_UP != 0 && flags & RTF_GATEWAY != 0 && gateway != 0;
            (is_default && usable).then(|| (metric, Ipv4Addr::from(gateway.to_ne_bytes())))
        })
        .min_by_key(|(metric, _)| *metric)
        .map(|(_, gateway)| gateway)
}

/// The `/proc/net/route` hex field as the 32-bit value the kernel wrote.
fn hex_u32(field: &str) -> Option<u32> {
    u32::from_str_radix(field, 16).ok()
}

/// The local address the kernel would use to reach `remote`: found by connecting a UDP socket,
/// which sends nothing.
pub fn local_ip_towards(remote: IpAddr) -> std::io::Result<IpAddr> {
    let unspecified: IpAddr = match remote {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))?;
    socket.connect(SocketAddr::new(remote, 9))?;
    Ok(socket.local_addr()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/net/route` from a host with a static route through 10.0.0.254 listed before the
    /// default route through 192.168.77.1 (and a second default with a worse metric).
    const TABLE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t0000000A\tFE00000A\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t00000000\t014DA8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth2\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t004DA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    #[test]
    fn picks_the_default_route_with_the_lowest_metric() {
        if cfg!(target_endian = "little") {
            assert_eq!(
                parse_default_gateway(TABLE),
                Some(Ipv4Addr::new(192, 168, 77, 1))
            );
        }
    }

    #[test]
    fn no_default_route_no_gateway() {
        let table: String = TABLE
            .lines()
            .filter(|line| !line.contains("\t00000000\t0"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(parse_default_gateway(&table), None);
        assert_eq!(parse_default_gateway(""), None);
        assert_eq!(parse_default_gateway("header\ngarbage line\n"), None);
    }

    #[test]
    fn local_ip_towards_loopback_is_loopback() {
        let ip = local_ip_towards(Ipv4Addr::LOCALHOST.into()).unwrap();
        assert!(ip.is_loopback());
    }
}

//! Gateway announcements: what a router multicasts to its LAN when it starts or its external
//! address changes. Listening to them lets the mapper re-create its mappings at once after a
//! router reboot, instead of at the next refresh (up to 8 minutes later with the defaults).
//!
//! - NAT-PMP ([RFC 6886 3.2.1](https://www.rfc-editor.org/rfc/rfc6886#section-3.2.1)): a
//!   public address answer (version 0, opcode 128) sent to 224.0.0.1:5350.
//! - PCP ([RFC 6887 14.1.3](https://www.rfc-editor.org/rfc/rfc6887#section-14.1.3)): an
//!   unsolicited ANNOUNCE answer (version 2, opcode 0x80) to the same group and port. This is
//!   what miniupnpd sends when it starts.
//! - UPnP (UPnP Device Architecture 1.1, 1.2.2): SSDP `NOTIFY` to 239.255.255.250:1900. An
//!   `ssdp:alive` whose `BOOTID.UPNP.ORG` differs from the last one seen means the device
//!   rebooted; an `ssdp:alive` after an `ssdp:byebye` means it came back.
//!
//! Only datagrams from the gateway's address count. Anyone on the LAN can forge those, so an
//! announcement only brings the next refresh forward, and the mapper does that at most once per
//! retry interval ([`Leases::on_announcement`](crate::lease::Leases::on_announcement)).
//!
//! [`AnnouncementFilter`] is the parsing and the decision, without sockets;
//! [`AnnouncementListener`] owns the two multicast sockets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::net::UdpSocket;

/// Where NAT-PMP and PCP announcements go (RFC 6886 3.2.1, RFC 6887 8).
pub const PMP_ANNOUNCE_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 0, 0, 1), 5350);
/// Where SSDP notifications go (UPnP Device Architecture 1.1, 1.1.2).
pub const SSDP_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 255, 250), 1900);
/// NAT-PMP and PCP servers send from this port.
const PMP_SERVER_PORT: u16 = 5351;
/// The largest datagram read; SSDP notifications are a few hundred bytes.
const MAX_DATAGRAM: usize = 2048;

/// A gateway announcement worth acting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// A NAT-PMP public address announcement or a PCP ANNOUNCE: the gateway (re)started or its
    /// external address changed. `epoch` is the gateway's uptime in seconds.
    Pmp {
        /// Seconds since the gateway started (its "epoch").
        epoch: u32,
    },
    /// An IGD came back: a new `BOOTID.UPNP.ORG`, or `ssdp:alive` after `ssdp:byebye`.
    UpnpRebooted,
}

/// A NAT-PMP or PCP announcement, parsed: `Some(epoch)` for a successful one.
///
/// NAT-PMP: version 0, opcode 128, result 0, epoch, external address (12 bytes). PCP: version
/// 2, opcode 0x80 (an ANNOUNCE answer), result 0, lifetime, epoch, 12 reserved bytes (24 bytes).
pub fn parse_pmp_announcement(datagram: &[u8]) -> Option<u32> {
    let epoch_at = match datagram {
        [0, 128, 0, 0, ..] if datagram.len() >= 12 => 4,
        [2, 0x80, _, 0, ..] if datagram.len() >= 24 => 8,
        _ => return None,
    };
    let epoch = datagram.get(epoch_at..epoch_at + 4)?;
    Some(u32::from_be_bytes(epoch.try_into().ok()?))
}

/// The parts of an SSDP `NOTIFY` the mapper uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsdpNotify {
    /// `ssdp:alive` (true) or `ssdp:byebye` (false).
    pub alive: bool,
    /// `BOOTID.UPNP.ORG`, if sent (UPnP 1.1 devices send it; 1.0 devices do not).
    pub boot_id: Option<u32>,
    /// Whether the notification is about an Internet Gateway Device (the `NT` header).
    pub gateway_device: bool,
}

/// Parses an SSDP `NOTIFY` request; `None` for anything else (M-SEARCH, answers, garbage).
pub fn parse_ssdp_notify(datagram: &[u8]) -> Option<SsdpNotify> {
    let text = std::str::from_utf8(datagram).ok()?;
    let mut lines = text.split("\r\n").flat_map(|line| line.split('\n'));
    // The request line must start the datagram.
    if !lines
        .next()?
        .trim_end()
        .eq_ignore_ascii_case("NOTIFY * HTTP/1.1")
    {
        return None;
    }
    let (mut alive, mut boot_id, mut gateway_device) = (None, None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("NTS") {
            alive = match value.to_ascii_lowercase().as_str() {
                "ssdp:alive" => Some(true),
                "ssdp:byebye" => Some(false),
                _ => None,
            };
        } else if name.eq_ignore_ascii_case("BOOTID.UPNP.ORG") {
            boot_id = value.parse().ok();
        } else if name.eq_ignore_ascii_case("NT") {
            gateway_device = value.contains(":device:InternetGatewayDevice:");
        }
    }
    Some(SsdpNotify {
        alive: alive?,
        boot_id,
        gateway_device,
    })
}

/// Decides which datagrams from the gateway are announcements (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct AnnouncementFilter {
    gateway: Ipv4Addr,
    last_boot_id: Option<u32>,
    seen_alive: bool,
    saw_byebye: bool,
}

impl AnnouncementFilter {
    /// A filter for the gateway at `gateway`.
    pub fn new(gateway: Ipv4Addr) -> Self {
        AnnouncementFilter {
            gateway,
            last_boot_id: None,
            seen_alive: false,
            saw_byebye: false,
        }
    }

    /// A datagram that arrived on the NAT-PMP announcement port.
    pub fn on_pmp(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<Announcement> {
        if source != SocketAddr::from((self.gateway, PMP_SERVER_PORT)) {
            return None;
        }
        parse_pmp_announcement(datagram).map(|epoch| Announcement::Pmp { epoch })
    }

    /// A datagram that arrived on the SSDP port. The first `ssdp:alive` counts (the gateway may
    /// have rebooted between our search and it; at worst that costs one refresh), later ones
    /// only with a new boot id or after an `ssdp:byebye`.
    pub fn on_ssdp(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<Announcement> {
        if source.ip() != IpAddr::V4(self.gateway) {
            return None;
        }
        let notify = parse_ssdp_notify(datagram)?;
        if !notify.gateway_device {
            return None;
        }
        if !notify.alive {
            self.saw_byebye = true;
            return None;
        }
        let rebooted = match (self.last_boot_id, notify.boot_id) {
            (Some(last), Some(now)) => last != now,
            // No baseline yet: this boot may have begun after our mappings were made.
            _ => !self.seen_alive,
        } || self.saw_byebye;
        self.saw_byebye = false;
        self.seen_alive = true;
        if notify.boot_id.is_some() {
            self.last_boot_id = notify.boot_id;
        }
        rebooted.then_some(Announcement::UpnpRebooted)
    }
}

/// The multicast sockets that receive announcements from one gateway. A socket that cannot be
/// opened (the port held by a process that does not share it, no multicast route) is left out,
/// with one debug line: announcements only speed things up, refreshes still happen.
#[derive(Debug)]
pub struct AnnouncementListener {
    pmp: Option<UdpSocket>,
    ssdp: Option<UdpSocket>,
    filter: AnnouncementFilter,
}

impl AnnouncementListener {
    /// Joins both groups on the interface with address `local` and listens for `gateway`.
    pub fn open(gateway: Ipv4Addr, local: Ipv4Addr) -> Self {
        let open = |group: SocketAddrV4| match multicast_socket(group, local) {
            Ok(socket) => Some(socket),
            Err(error) => {
                tracing::debug!(%group, %local, %error, "not listening for gateway announcements");
                None
            }
        };
        AnnouncementListener {
            pmp: open(PMP_ANNOUNCE_GROUP),
            ssdp: open(SSDP_GROUP),
            filter: AnnouncementFilter::new(gateway),
        }
    }

    /// The next announcement; pending forever when neither socket is open. Cancel safe.
    pub async fn next(&mut self) -> Announcement {
        let (mut pmp_buffer, mut ssdp_buffer) = ([0u8; MAX_DATAGRAM], [0u8; MAX_DATAGRAM]);
        loop {
            let announcement = tokio::select! {
                Some((source, len)) = recv(self.pmp.as_ref(), &mut pmp_buffer) => {
                    self.filter.on_pmp(source, &pmp_buffer[..len])
                }
                Some((source, len)) = recv(self.ssdp.as_ref(), &mut ssdp_buffer) => {
                    self.filter.on_ssdp(source, &ssdp_buffer[..len])
                }
                else => std::future::pending().await,
            };
            if let Some(announcement) = announcement {
                return announcement;
            }
        }
    }
}

/// One datagram from `socket`; `None` without a socket or on a receive error.
async fn recv(socket: Option<&UdpSocket>, buffer: &mut [u8]) -> Option<(SocketAddr, usize)> {
    let (len, source) = socket?.recv_from(buffer).await.ok()?;
    Some((source, len))
}

/// A UDP socket bound to `group` itself, shared with other listeners (SO_REUSEADDR), member of
/// `group` on the interface with address `local`. Bound to the group address rather than to
/// 0.0.0.0, it receives only the group's datagrams: unicast to the port (a local SSDP daemon's
/// traffic) still goes to whoever it was meant for.
fn multicast_socket(group: SocketAddrV4, local: Ipv4Addr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&group.into())?;
    socket.join_multicast_v4(group.ip(), &local)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);

    fn from_gateway(port: u16) -> SocketAddr {
        SocketAddr::from((GATEWAY, port))
    }

    fn notify(nts: &str, boot_id: Option<u32>) -> Vec<u8> {
        let mut text = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n".to_string();
        text += "NT: urn:schemas-upnp-org:device:InternetGatewayDevice:2\r\n";
        text += &format!("NTS: {nts}\r\nUSN: uuid:1::x\r\n");
        if let Some(id) = boot_id {
            text += &format!("BOOTID.UPNP.ORG: {id}\r\n");
        }
        text.into_bytes()
    }

    #[test]
    fn pmp_and_pcp_announcements_parse() {
        // The PCP ANNOUNCE miniupnpd 2.3.1 sends when it starts (as seen in the NAT rig, where
        // the epoch was 0), with epoch 7.
        let pcp = hex("028000000000000000000007000000000000000000000000");
        assert_eq!(parse_pmp_announcement(&pcp), Some(7));
        let pmp = hex("008000000000002acb007101");
        assert_eq!(parse_pmp_announcement(&pmp), Some(42));
        // Truncated, a request instead of an answer, a failed result.
        assert_eq!(parse_pmp_announcement(&pcp[..23]), None);
        assert_eq!(parse_pmp_announcement(&hex("0000")), None);
        assert_eq!(
            parse_pmp_announcement(&hex("008000030000002acb007101")),
            None
        );
    }

    #[test]
    fn only_the_gateways_pmp_port_counts() {
        let mut filter = AnnouncementFilter::new(GATEWAY);
        let pmp = hex("008000000000002acb007101");
        assert_eq!(
            filter.on_pmp(from_gateway(5351), &pmp),
            Some(Announcement::Pmp { epoch: 42 })
        );
        assert_eq!(filter.on_pmp(from_gateway(5350), &pmp), None);
        let other = SocketAddr::from(([192, 168, 77, 3], 5351));
        assert_eq!(filter.on_pmp(other, &pmp), None);
    }

    #[test]
    fn ssdp_notify_parses_case_insensitively() {
        let text = b"notify * HTTP/1.1\nnts: ssdp:byebye\nnt: urn:schemas-upnp-org:device:InternetGatewayDevice:1\nbootid.upnp.org: 9\n";
        assert_eq!(
            parse_ssdp_notify(text),
            Some(SsdpNotify {
                alive: false,
                boot_id: Some(9),
                gateway_device: true
            })
        );
        assert_eq!(parse_ssdp_notify(b"M-SEARCH * HTTP/1.1\r\n"), None);
        assert_eq!(parse_ssdp_notify(b"NOTIFY * HTTP/1.1\r\nNT: x\r\n"), None);
        assert_eq!(parse_ssdp_notify(&[0xff, 0xfe]), None);
    }

    #[test]
    fn a_new_boot_id_or_alive_after_byebye_is_a_reboot() {
        let mut filter = AnnouncementFilter::new(GATEWAY);
        let gw = from_gateway(1900);
        // The first alive counts (no baseline); periodic alives repeating its boot id do not.
        assert_eq!(
            filter.on_ssdp(gw, &notify("ssdp:alive", Some(5))),
            Some(Announcement::UpnpRebooted)
        );
        assert_eq!(filter.on_ssdp(gw, &notify("ssdp:alive", Some(5))), None);
        assert_eq!(
            filter.on_ssdp(gw, &notify("ssdp:alive", Some(6))),
            Some(Announcement::UpnpRebooted)
        );
        // A UPnP 1.0 device without boot ids: byebye, then alive.
        assert_eq!(filter.on_ssdp(gw, &notify("ssdp:byebye", None)), None);
        assert_eq!(
            filter.on_ssdp(gw, &notify("ssdp:alive", None)),
            Some(Announcement::UpnpRebooted)
        );
        assert_eq!(filter.on_ssdp(gw, &notify("ssdp:alive", None)), None);
        // Another host, or another device type, is ignored.
        let other = SocketAddr::from(([192, 168, 77, 3], 1900));
        assert_eq!(filter.on_ssdp(other, &notify("ssdp:alive", Some(99))), None);
        let printer = String::from_utf8(notify("ssdp:alive", Some(99)))
            .unwrap()
            .replace("InternetGatewayDevice", "Printer");
        assert_eq!(filter.on_ssdp(gw, printer.as_bytes()), None);
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}

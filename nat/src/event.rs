//! What the port mapper tells the node, and the small value types those messages carry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::GatewayError;

/// The protocol that holds the mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingProtocol {
    /// UPnP Internet Gateway Device (v1 or v2).
    Upnp,
    /// NAT-PMP (RFC 6886).
    NatPmp,
    /// No protocol: the external address was given (`extip:`).
    ExtIp,
}

impl fmt::Display for MappingProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MappingProtocol::Upnp => "UPnP",
            MappingProtocol::NatPmp => "NAT-PMP",
            MappingProtocol::ExtIp => "extip",
        })
    }
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP (RLPx).
    Tcp,
    /// UDP (discovery).
    Udp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        })
    }
}

/// Where the world reaches the node: the gateway's external IP and the external ports mapped to
/// the node's TCP and UDP ports (`None` for a transport that was not mapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExternalEndpoint {
    /// The external IP address.
    pub ip: IpAddr,
    /// The external TCP port, if TCP was mapped.
    pub tcp_port: Option<u16>,
    /// The external UDP port, if UDP was mapped.
    pub udp_port: Option<u16>,
}

impl fmt::Display for ExternalEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ip)?;
        if let Some(port) = self.tcp_port {
            write!(f, " tcp:{port}")?;
        }
        if let Some(port) = self.udp_port {
            write!(f, " udp:{port}")?;
        }
        Ok(())
    }
}

/// What happened to the node's mappings. Each is logged once by the mapper when it happens; a
/// node updates its advertised endpoint (enode, ENR with a new sequence number) on
/// [`Mapped`](NatEvent::Mapped) and [`ExternalAddressChanged`](NatEvent::ExternalAddressChanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatEvent {
    /// The ports are mapped (the first time, or again after the gateway lost them) and the
    /// world reaches the node at `endpoint`.
    Mapped {
        /// How the mapping was made.
        protocol: MappingProtocol,
        /// The gateway's address (`None` for `extip:`).
        gateway: Option<IpAddr>,
        /// The external endpoint to advertise.
        endpoint: ExternalEndpoint,
    },
    /// The external endpoint changed since it was last published: the gateway got a new
    /// external IP, or a re-created mapping got another external port.
    ExternalAddressChanged {
        /// The endpoint published before.
        old: ExternalEndpoint,
        /// The endpoint to publish now.
        new: ExternalEndpoint,
    },
    /// A mapping attempt or a refresh failed; it is retried after `retry_in` (doubling on each
    /// consecutive failure, up to a limit). Also sent when the very first attempt fails, for
    /// example when the router's rules refuse the port.
    RefreshFailed {
        /// What the gateway (or the network) said.
        error: GatewayError,
        /// Consecutive failures so far, from 1.
        attempt: u32,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// The gateway no longer had a mapping it had granted (it restarted, rebooted, or the lease
    /// ran out before a refresh succeeded). It is being re-created; a `Mapped` follows.
    MappingLost {
        /// Which mapping.
        transport: Transport,
        /// Its external port.
        external_port: u16,
    },
    /// No gateway could be used; the node carries on with its local address. Sent once, after
    /// which the mapper stops.
    NoGateway {
        /// Why, per protocol tried.
        error: crate::NatError,
    },
}

/// What kind of address a gateway reports as its external one: anything but `Public` means
/// another NAT sits between the gateway and the internet (double NAT, carrier-grade NAT), or the
/// gateway is a test set-up. Such an address is still used (it is all the gateway knows), and
/// said so in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// A globally routable address.
    Public,
    /// RFC 1918 / unique-local: the gateway itself is behind another router (double NAT).
    Private,
    /// 100.64.0.0/10: the ISP's carrier-grade NAT.
    Shared,
    /// Loopback, link-local, documentation, benchmarking, reserved or unspecified ranges.
    Reserved,
}

impl AddressKind {
    /// Classifies `ip`.
    pub fn of(ip: IpAddr) -> AddressKind {
        match ip.to_canonical() {
            IpAddr::V4(ip) => classify_v4(ip),
            IpAddr::V6(ip) => {
                let first = ip.segments()[0];
                if (first & 0xfe00) == 0xfc00 {
                    AddressKind::Private
                } else if ip.is_loopback()
                    || ip.is_unspecified()
                    || (first & 0xffc0) == 0xfe80
                    || first == 0x2001 && ip.segments()[1] == 0x0db8
                {
                    AddressKind::Reserved
                } else {
                    AddressKind::Public
                }
            }
        }
    }

    /// A note for the log and for `ethp2p nat probe`, or `None` for a public address.
    pub fn note(self) -> Option<&'static str> {
        match self {
            AddressKind::Public => None,
            AddressKind::Private => Some(
                "a private address: the gateway is behind another router (double NAT); \
                 peers outside reach the node only if that router forwards the port too",
            ),
            AddressKind::Shared => Some(
                "a carrier-grade NAT address (100.64.0.0/10): the ISP's NAT sits in front, \
                 peers outside will most likely not reach the node",
            ),
            AddressKind::Reserved => {
                Some("a reserved or documentation address: a test network or another NAT in front")
            }
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressKind {
    let [a, b, c, _] = ip.octets();
    if ip.is_private() {
        AddressKind::Private
    } else if a == 100 && (b & 0xc0) == 64 {
        AddressKind::Shared
    } else if ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a, b, c) == (192, 0, 2)
        || (a, b, c) == (198, 51, 100)
        || (a, b, c) == (203, 0, 113)
        || (a, b, c) == (192, 0, 0)
        || (a == 198 && (b & 0xfe) == 18)
    {
        AddressKind::Reserved
    } else {
        AddressKind::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_external_addresses() {
        let cases = [
            ("8.8.8.8", AddressKind::Public),
            ("192.168.1.1", AddressKind::Private),
            ("10.1.2.3", AddressKind::Private),
            ("172.16.0.1", AddressKind::Private),
            ("100.64.0.1", AddressKind::Shared),
            ("100.127.255.254", AddressKind::Shared),
            ("100.128.0.1", AddressKind::Public),
            ("203.0.113.1", AddressKind::Reserved),
            ("198.18.0.1", AddressKind::Reserved),
            ("0.0.0.0", AddressKind::Reserved),
            ("2a00:1450::1", AddressKind::Public),
            ("fd00::1", AddressKind::Private),
            ("2001:db8::1", AddressKind::Reserved),
        ];
        for (text, kind) in cases {
            assert_eq!(AddressKind::of(text.parse().unwrap()), kind, "{text}");
        }
        assert!(AddressKind::Public.note().is_none());
        assert!(
            AddressKind::Shared
                .note()
                .unwrap()
                .contains("carrier-grade")
        );
    }
}

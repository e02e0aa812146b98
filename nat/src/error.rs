//! Typed errors: what a gateway answered, and why no gateway could be used.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::MappingProtocol;

/// Whose fault an error is: the gateway's (it refused, cannot, or answered nonsense), ours at
/// run time (a local socket), or the configuration's (a port no router is asked for). The same
/// three as `ethp2p::Blame`, which converts from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blame {
    /// The gateway, or the network to it.
    Remote,
    /// This host: a socket could not be opened or used.
    Local,
    /// What the caller asked for.
    Configuration,
}

/// A gateway's own error code, as its protocol numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A UPnP control error (the `errorCode` of a SOAP fault, UPnP IGD v2 section 2.4), such
    /// as 606 (not authorized) or 718 (conflict in mapping entry).
    Upnp(u16),
    /// A NAT-PMP result code ([RFC 6886 section 3.5](https://www.rfc-editor.org/rfc/rfc6886#section-3.5)),
    /// such as 2 (not authorized) or 4 (out of resources).
    Pmp(u16),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Upnp(code) => write!(f, "UPnP error {code}"),
            ErrorCode::Pmp(code) => write!(f, "NAT-PMP result {code}"),
        }
    }
}

/// An answer the gateway's protocol does not allow, or that we cannot read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ProtocolViolation {
    /// An error code we do not interpret.
    #[error("{0}")]
    UnknownCode(ErrorCode),
    /// An answer of another kind than the request (a NAT-PMP opcode that does not match).
    #[error("unexpected answer")]
    UnexpectedAnswer,
    /// A mapping granted with no lifetime or no external port.
    #[error("the gateway granted no lifetime or no port")]
    EmptyGrant,
    /// A SOAP or NAT-PMP answer that does not parse.
    #[error("unparsable answer")]
    Unparsable,
    /// The HTTP exchange with a UPnP gateway failed (bad status, broken body).
    #[error("HTTP exchange failed")]
    Http,
    /// The gateway refused every form of the mapping request we know (other port, permanent
    /// lease).
    #[error("the router kept refusing the mapping")]
    KeptRefusing,
}

/// A request to a gateway failed. Cloneable and comparable so that events can carry it and tests
/// can match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway did not answer in time (after the resends the protocol calls for).
    #[error("no answer from the gateway within {0:?}")]
    Timeout(Duration),
    /// The gateway refuses this client or this mapping (UPnP 606, NAT-PMP result 2), for example
    /// because its rules do not allow the port or the client.
    #[error("the gateway does not allow this mapping ({0})")]
    NotAuthorized(ErrorCode),
    /// The gateway cannot forward at all right now: it has no usable external connection or
    /// sits behind a restrictive NAT itself (UPnP 501, NAT-PMP result 3).
    #[error("the gateway cannot forward ports ({0})")]
    ForwardingImpossible(ErrorCode),
    /// The gateway's mapping table is full, or no external port is free (UPnP 728, NAT-PMP
    /// result 4).
    #[error("the gateway has no room for the mapping ({0})")]
    OutOfResources(ErrorCode),
    /// The requested external port is mapped to another client (UPnP 718).
    #[error("external port {0} is mapped to another client")]
    PortInUse(u16),
    /// The gateway does not implement what was asked (UPnP 401 or 602, NAT-PMP result 1 or 5).
    #[error("the gateway does not support this request ({0})")]
    Unsupported(ErrorCode),
    /// The gateway's UPnP service description lacks an action we need.
    #[error("the gateway's UPnP service has no {0} action")]
    MissingAction(&'static str),
    /// The gateway reports no external address (0.0.0.0): its WAN link is down.
    #[error("the gateway reports no external address")]
    NoExternalAddress,
    /// Nothing listens for NAT-PMP at the gateway (its port is unreachable).
    #[error("no NAT-PMP service at the gateway (port unreachable)")]
    NoService,
    /// An answer the protocol does not allow, or that we cannot read.
    #[error("gateway error: {0}")]
    Protocol(ProtocolViolation),
    /// A local socket error.
    #[error("network error: {0}")]
    Io(std::io::ErrorKind),
}

impl GatewayError {
    /// Whose fault it is: the gateway's for everything it answered or did not, ours for a
    /// socket that failed here.
    pub fn blame(&self) -> Blame {
        match self {
            GatewayError::Io(_) => Blame::Local,
            _ => Blame::Remote,
        }
    }
}

/// One protocol's reason for not finding a usable gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFailure {
    /// UPnP or NAT-PMP.
    pub protocol: MappingProtocol,
    /// What happened.
    pub reason: DiscoveryError,
}

impl fmt::Display for DiscoveryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.protocol, self.reason)
    }
}

/// Why a UPnP search ([`UpnpGateway::discover`](crate::UpnpGateway::discover)) or a NAT-PMP
/// probe ([`PmpGateway::discover`](crate::PmpGateway::discover)) found no usable gateway: no
/// gateway answered, a gateway answered something we cannot use, or a socket failed here
/// ([`blame`](Self::blame) tells the last apart).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// No UPnP gateway answered any of the SSDP searches.
    #[error("no answer to {searches} SSDP searches in {waited:?}")]
    NoUpnpAnswer {
        /// How many searches were sent.
        searches: usize,
        /// How long they waited in all.
        waited: Duration,
    },
    /// A device answered the SSDP search, but its description could not be used (no WAN
    /// connection service, or an answer that does not parse).
    #[error("no usable answer to {searches} SSDP searches: {problem}")]
    UnusableUpnpAnswer {
        /// How many searches were sent.
        searches: usize,
        /// What was wrong with the answer.
        problem: ProtocolViolation,
    },
    /// The SSDP search could not be sent from `bind` (with no default route the kernel has no
    /// interface for the multicast).
    #[error("cannot send the SSDP search from {bind}: {source}{}", route_hint(.source.kind()))]
    SearchSocket {
        /// The address the search socket was bound to.
        bind: SocketAddr,
        /// The socket's error.
        source: SocketError,
    },
    /// A UPnP gateway answered, but this host has no route to it to learn the LAN address
    /// mappings would point to.
    #[error("no route to {gateway}: {source}")]
    NoRouteToGateway {
        /// The gateway that answered.
        gateway: SocketAddr,
        /// The socket's error.
        source: SocketError,
    },
    /// The LAN address facing the UPnP gateway is not IPv4, and IGD maps IPv4 only.
    #[error("the LAN address {0} is not IPv4")]
    LanAddressNotIpv4(IpAddr),
    /// No NAT-PMP gateway was given and the host has no default route to take one from.
    #[error("no default route, so no gateway to ask (give one: --nat pmp:IP)")]
    NoDefaultRoute,
    /// The NAT-PMP gateway did not answer a public address request usefully: silence
    /// ([`GatewayError::Timeout`]), no NAT-PMP service, a refusal or an unreadable answer.
    #[error("gateway {gateway}: {source}")]
    Pmp {
        /// The gateway asked.
        gateway: Ipv4Addr,
        /// What it answered, or did not.
        source: GatewayError,
    },
}

impl DiscoveryError {
    /// Whose fault it is: the network's when no gateway answered or its answer is unusable,
    /// this host's when a socket or the routing table failed us.
    pub fn blame(&self) -> Blame {
        match self {
            DiscoveryError::NoUpnpAnswer { .. } | DiscoveryError::UnusableUpnpAnswer { .. } => {
                Blame::Remote
            }
            DiscoveryError::SearchSocket { .. }
            | DiscoveryError::NoRouteToGateway { .. }
            | DiscoveryError::LanAddressNotIpv4(_)
            | DiscoveryError::NoDefaultRoute => Blame::Local,
            DiscoveryError::Pmp { source, .. } => source.blame(),
        }
    }
}

/// What to do about a search that cannot be sent for want of a route.
fn route_hint(kind: io::ErrorKind) -> &'static str {
    if kind == io::ErrorKind::NetworkUnreachable {
        " (no default route; listen on the LAN address to search without one)"
    } else {
        ""
    }
}

/// A local socket error, kept whole as the source of a [`DiscoveryError`]. Shared, because
/// `io::Error` cannot be cloned and errors travel in [`NatEvent`](crate::NatEvent)s; compared by
/// [`kind`](Self::kind), as the OS message is no part of what happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct SocketError(Arc<io::Error>);

impl SocketError {
    /// The error's kind.
    pub fn kind(&self) -> io::ErrorKind {
        self.0.kind()
    }
}

impl From<io::Error> for SocketError {
    fn from(error: io::Error) -> Self {
        SocketError(Arc::new(error))
    }
}

impl PartialEq for SocketError {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind()
    }
}

impl Eq for SocketError {}

/// Why port mapping could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NatError {
    /// No gateway answered on any protocol the mode allows; each protocol says why.
    #[error("no UPnP or NAT-PMP gateway found ({})", join(.0))]
    NoGateway(Vec<DiscoveryFailure>),
    /// A port below 1024 was to be mapped. Routers' rules commonly forbid these, and miniupnpd
    /// has been seen spinning at full CPU on such a NAT-PMP request, so none is ever asked for.
    #[error("refusing to map port {0}: ports below 1024 are never requested from a router")]
    PrivilegedPort(u16),
    /// Nothing to map: neither a TCP nor a UDP port was given.
    #[error("no port to map")]
    NoPorts,
}

impl NatError {
    /// Whose fault it is: the network's when no gateway answered, the configuration's for
    /// ports that cannot be mapped.
    pub fn blame(&self) -> Blame {
        match self {
            NatError::NoGateway(_) => Blame::Remote,
            NatError::PrivilegedPort(_) | NatError::NoPorts => Blame::Configuration,
        }
    }
}

fn join(failures: &[DiscoveryFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_gateway_reports_each_protocol_and_keeps_the_cause() {
        let error = NatError::NoGateway(vec![
            DiscoveryFailure {
                protocol: MappingProtocol::Upnp,
                reason: DiscoveryError::NoUpnpAnswer {
                    searches: 3,
                    waited: Duration::from_secs(7),
                },
            },
            DiscoveryFailure {
                protocol: MappingProtocol::NatPmp,
                reason: DiscoveryError::Pmp {
                    gateway: Ipv4Addr::new(192, 168, 77, 1),
                    source: GatewayError::NoService,
                },
            },
        ]);
        assert_eq!(
            error.to_string(),
            "no UPnP or NAT-PMP gateway found (UPnP: no answer to 3 SSDP searches in 7s; \
             NAT-PMP: gateway 192.168.77.1: no NAT-PMP service at the gateway (port unreachable))"
        );
        let NatError::NoGateway(failures) = &error else {
            unreachable!()
        };
        let source = std::error::Error::source(&failures[1].reason).expect("a cause");
        assert_eq!(
            source.downcast_ref::<GatewayError>(),
            Some(&GatewayError::NoService)
        );
    }

    #[test]
    fn socket_errors_are_local_and_compare_by_kind() {
        let socket = |kind, text| SocketError::from(io::Error::new(kind, text));
        let unreachable = DiscoveryError::SearchSocket {
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            source: socket(io::ErrorKind::NetworkUnreachable, "one text"),
        };
        assert_eq!(unreachable.blame(), Blame::Local);
        assert_eq!(
            unreachable,
            DiscoveryError::SearchSocket {
                bind: SocketAddr::from(([0, 0, 0, 0], 0)),
                source: socket(io::ErrorKind::NetworkUnreachable, "another"),
            }
        );
        assert_ne!(
            socket(io::ErrorKind::NetworkUnreachable, "x"),
            socket(io::ErrorKind::PermissionDenied, "x")
        );
        assert_eq!(DiscoveryError::NoDefaultRoute.blame(), Blame::Local);
        let refused = DiscoveryError::Pmp {
            gateway: Ipv4Addr::new(192, 168, 77, 1),
            source: GatewayError::Io(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(
            refused.blame(),
            Blame::Local,
            "a local socket error stays ours"
        );
    }
}

//! Typed errors: what a gateway answered, and why no gateway could be used.

use std::fmt;
use std::time::Duration;

use crate::MappingProtocol;

/// A request to a gateway failed. Cloneable and comparable so that events can carry it and tests
/// can match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway did not answer in time (after the resends the protocol calls for).
    #[error("no answer from the gateway within {0:?}")]
    Timeout(Duration),
    /// The gateway refuses this client or this mapping (UPnP 606, NAT-PMP result 2), for example
    /// because its rules do not allow the port or the client.
    #[error("the gateway does not allow this mapping: {0}")]
    NotAuthorized(String),
    /// The gateway cannot forward at all right now: it has no usable external connection or
    /// sits behind a restrictive NAT itself (UPnP 501, NAT-PMP result 3).
    #[error("the gateway cannot forward ports: {0}")]
    ForwardingImpossible(String),
    /// The gateway's mapping table is full, or no external port is free (UPnP 728, NAT-PMP
    /// result 4).
    #[error("the gateway has no room for the mapping: {0}")]
    OutOfResources(String),
    /// The requested external port is mapped to another client (UPnP 718).
    #[error("external port {0} is mapped to another client")]
    PortInUse(u16),
    /// The gateway does not implement what was asked (unknown action or opcode).
    #[error("the gateway does not support this request: {0}")]
    Unsupported(String),
    /// The gateway reports no external address (0.0.0.0): its WAN link is down.
    #[error("the gateway reports no external address")]
    NoExternalAddress,
    /// Any other error the gateway answered, or an answer we could not parse.
    #[error("gateway error: {0}")]
    Protocol(String),
    /// A local socket or connection error.
    #[error("network error: {0}")]
    Io(String),
}

/// One protocol's reason for not finding a usable gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFailure {
    /// UPnP or NAT-PMP.
    pub protocol: MappingProtocol,
    /// What happened, in words for a log line.
    pub reason: String,
}

impl fmt::Display for DiscoveryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.protocol, self.reason)
    }
}

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

fn join(failures: &[DiscoveryFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

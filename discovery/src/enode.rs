//! `enode://` URLs: a node id plus the endpoint to reach it
//! ([devp2p enode format](https://github.com/ethereum/devp2p/blob/master/enode.md)).
//!
//! `enode://<128 hex id>@<ip>:<tcp port>[?discport=<udp port>]`; `discport` is present only when
//! the UDP port differs from the TCP port. IPv6 addresses are bracketed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::PeerId;

/// A node's identity and endpoint, as written in an `enode://` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node's public key.
    pub id: PeerId,
    /// IP address.
    pub ip: IpAddr,
    /// RLPx (TCP) port.
    pub tcp_port: u16,
    /// Discovery (UDP) port.
    pub udp_port: u16,
}

impl Enode {
    /// A node with the same TCP and UDP port.
    pub fn new(id: PeerId, addr: SocketAddr) -> Self {
        Enode {
            id,
            ip: addr.ip(),
            tcp_port: addr.port(),
            udp_port: addr.port(),
        }
    }

    /// The RLPx endpoint.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.tcp_port)
    }

    /// The discovery endpoint.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp_port)
    }
}

impl fmt::Display for Enode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enode://{}@{}", self.id, self.tcp_addr())?;
        if self.udp_port != self.tcp_port {
            write!(f, "?discport={}", self.udp_port)?;
        }
        Ok(())
    }
}

/// Why a string is not a usable `enode://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseEnodeError {
    /// It does not start with `enode://`.
    #[error("missing enode:// scheme")]
    Scheme,
    /// The part before `@` is not a 128-hex-character id.
    #[error("invalid node id: {0}")]
    Id(#[from] crate::ParsePeerIdError),
    /// There is no `@ip:port` part.
    #[error("missing @ip:port")]
    MissingAddress,
    /// The host is not an IP address (names are not resolved here).
    #[error("invalid address (an IP literal and port are required)")]
    Address,
    /// The query is not `discport=<port>`.
    #[error("invalid query (only discport=<port> is understood)")]
    Query,
}

impl FromStr for Enode {
    type Err = ParseEnodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .trim()
            .strip_prefix("enode://")
            .ok_or(ParseEnodeError::Scheme)?;
        let (id, rest) = rest
            .split_once('@')
            .ok_or(ParseEnodeError::MissingAddress)?;
        let id: PeerId = id.parse()?;
        let (addr, query) = match rest.split_once('?') {
            Some((addr, query)) => (addr, Some(query)),
            None => (rest, None),
        };
        let addr: SocketAddr = addr.parse().map_err(|_| ParseEnodeError::Address)?;
        let udp_port = match query {
            None => addr.port(),
            Some(query) => query
                .strip_prefix("discport=")
                .and_then(|port| port.parse().ok())
                .ok_or(ParseEnodeError::Query)?,
        };
        Ok(Enode {
            id,
            ip: addr.ip(),
            tcp_port: addr.port(),
            udp_port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "a979fb575495b8d6db44f750317d0f4622bf4c2aa3365d6af7c284339968eef29b69ad0dce72a4d8db5ebb4968de0e3bec910127f134779fbcb0cb6d3331163c";

    #[test]
    fn round_trips() {
        for url in [
            format!("enode://{ID}@10.3.58.6:30303"),
            format!("enode://{ID}@10.3.58.6:30303?discport=30301"),
            format!("enode://{ID}@[2001:db8::1]:30303"),
        ] {
            let enode: Enode = url.parse().unwrap();
            assert_eq!(enode.to_string(), url);
        }
        let enode: Enode = format!("enode://{ID}@10.3.58.6:30303?discport=30301")
            .parse()
            .unwrap();
        assert_eq!((enode.tcp_port, enode.udp_port), (30303, 30301));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!("http://x".parse::<Enode>(), Err(ParseEnodeError::Scheme));
        assert_eq!(
            format!("enode://{ID}").parse::<Enode>(),
            Err(ParseEnodeError::MissingAddress)
        );
        assert_eq!(
            format!("enode://{ID}@example.com:30303").parse::<Enode>(),
            Err(ParseEnodeError::Address)
        );
        assert_eq!(
            format!("enode://{ID}@1.2.3.4:1?x=1").parse::<Enode>(),
            Err(ParseEnodeError::Query)
        );
        assert!(matches!(
            "enode://abcd@1.2.3.4:1".parse::<Enode>(),
            Err(ParseEnodeError::Id(_))
        ));
    }
}

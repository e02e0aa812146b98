//! The `--nat` mode, spelled as go-ethereum spells it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// How the node finds and opens its external endpoint.
///
/// Parsed from and displayed as go-ethereum's `--nat` values, so that people can reuse the flag
/// they already know: `none`, `any`, `upnp`, `pmp`, `pmp:GATEWAY_IP`, `extip:IP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatMode {
    /// No port mapping; the node advertises its local address.
    #[default]
    None,
    /// Try UPnP and NAT-PMP at once and keep the first that maps the ports.
    Any,
    /// UPnP IGD only.
    Upnp,
    /// NAT-PMP only, at the given gateway, or at the default route's gateway when `None`.
    Pmp(Option<Ipv4Addr>),
    /// No gateway protocol: the external address is known (a static port forward, a cloud VM's
    /// public IP). Advertised with the local ports.
    ExtIp(IpAddr),
}

/// Why a `--nat` value was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid NAT mode {input:?}: {reason} (expected none, any, upnp, pmp, pmp:GATEWAY_IP or extip:IP)"
)]
pub struct ParseNatModeError {
    input: String,
    reason: &'static str,
}

impl FromStr for NatMode {
    type Err = ParseNatModeError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = |reason| ParseNatModeError {
            input: input.to_string(),
            reason,
        };
        let (kind, arg) = match input.split_once(':') {
            Some((kind, arg)) => (kind, Some(arg)),
            None => (input, None),
        };
        match (kind.to_ascii_lowercase().as_str(), arg) {
            ("none" | "off" | "", None) => Ok(NatMode::None),
            ("any" | "auto", None) => Ok(NatMode::Any),
            ("upnp", None) => Ok(NatMode::Upnp),
            ("pmp" | "natpmp" | "nat-pmp", None) => Ok(NatMode::Pmp(None)),
            ("pmp" | "natpmp" | "nat-pmp", Some(ip)) => ip
                .parse()
                .map(|ip| NatMode::Pmp(Some(ip)))
                .map_err(|_| error("the gateway is not an IPv4 address")),
            ("extip", Some(ip)) => ip
                .parse()
                .map(NatMode::ExtIp)
                .map_err(|_| error("not an IP address")),
            ("extip", None) => Err(error("extip needs an address")),
            ("none" | "off" | "any" | "auto" | "upnp", Some(_)) => {
                Err(error("this mode takes no argument"))
            }
            _ => Err(error("unknown mode")),
        }
    }
}

impl fmt::Display for NatMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatMode::None => f.write_str("none"),
            NatMode::Any => f.write_str("any"),
            NatMode::Upnp => f.write_str("upnp"),
            NatMode::Pmp(None) => f.write_str("pmp"),
            NatMode::Pmp(Some(gateway)) => write!(f, "pmp:{gateway}"),
            NatMode::ExtIp(ip) => write!(f, "extip:{ip}"),
        }
    }
}

impl NatMode {
    /// Whether this mode may use UPnP.
    pub fn tries_upnp(&self) -> bool {
        matches!(self, NatMode::Any | NatMode::Upnp)
    }

    /// Whether this mode may use NAT-PMP.
    pub fn tries_pmp(&self) -> bool {
        matches!(self, NatMode::Any | NatMode::Pmp(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_geth_spellings() {
        let cases = [
            ("none", NatMode::None),
            ("any", NatMode::Any),
            ("upnp", NatMode::Upnp),
            ("pmp", NatMode::Pmp(None)),
            (
                "pmp:192.168.1.1",
                NatMode::Pmp(Some([192, 168, 1, 1].into())),
            ),
            ("extip:203.0.113.7", NatMode::ExtIp([203, 0, 113, 7].into())),
            (
                "extip:2001:db8::1",
                NatMode::ExtIp("2001:db8::1".parse().unwrap()),
            ),
        ];
        for (text, mode) in cases {
            assert_eq!(text.parse::<NatMode>(), Ok(mode), "{text}");
            assert_eq!(mode.to_string(), text);
        }
        assert_eq!("UPnP".parse::<NatMode>(), Ok(NatMode::Upnp));
    }

    #[test]
    fn rejects_malformed_modes() {
        for text in [
            "pmp:gateway",
            "extip",
            "extip:300.1.1.1",
            "upnp:1.2.3.4",
            "stun",
            "pmp:::1",
        ] {
            let error = text.parse::<NatMode>().unwrap_err();
            assert!(error.to_string().contains("expected none, any"), "{error}");
        }
    }
}

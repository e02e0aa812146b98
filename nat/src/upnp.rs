//! UPnP IGD (v1 and v2; WANIPConnection and WANPPPConnection) through igd-next's tokio API.
//!
//! What igd-next leaves to its caller, done here:
//! - It sends the SSDP M-SEARCH once and never again, so a single lost datagram would make the
//!   gateway invisible: the search is repeated with growing waits.
//! - Without a default route a search bound to 0.0.0.0 fails at once (network unreachable), so
//!   the search socket is bound to the LAN address.
//! - `add_any_port` never tries the preferred port: `add_port` is tried first, and only when the
//!   router says the port belongs to another client (718) is its offer taken.
//! - It has no GetSpecificPortMappingEntry, which tells whether a router still holds a mapping
//!   (after a reboot it does not, and re-adding silently succeeds): that SOAP call is made here.
//!
//! An external address that is private or reserved is accepted (double NAT and carrier-grade NAT
//! routers report those); the mapper logs what it means.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use igd_next::aio::Provider;
use igd_next::aio::tokio::Tokio;
use igd_next::{
    AddAnyPortError, AddPortError, GatewayIpVersion, GetExternalIpError, PortMappingProtocol,
    RemovePortError, RequestError, SearchError, SearchOptions,
};

use crate::gateway::{Gateway, SearchConfig};
use crate::{
    DiscoveryError, ErrorCode, GatewayError, Grant, MapRequest, Mapping, MappingProtocol, Presence,
    ProtocolViolation, Transport, route,
};

/// Bound on each control request (igd-next's own is 10 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A UPnP Internet Gateway Device and the LAN address mappings point to.
#[derive(Debug)]
pub struct UpnpGateway {
    inner: igd_next::aio::Gateway<Tokio>,
    local_ip: Ipv4Addr,
    description: String,
}

impl UpnpGateway {
    /// Searches the LAN for an IGD (see [`SearchConfig::upnp_searches`]). The error says what
    /// was tried.
    pub async fn discover(config: &SearchConfig) -> Result<UpnpGateway, DiscoveryError> {
        let bind_ip = config.local_ip.or_else(|| {
            let gateway = route::default_gateway()?;
            match route::local_ip_towards(gateway.into()) {
                Ok(IpAddr::V4(ip)) => Some(ip),
                _ => None,
            }
        });
        let bind = SocketAddr::new(IpAddr::V4(bind_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)), 0);
        let mut waited = Duration::ZERO;
        let mut last_error = None;
        for (search, wait) in config.upnp_searches.iter().enumerate() {
            let mut options = SearchOptions::default();
            options.bind_addr = bind;
            options.timeout = Some(*wait);
            options.single_search_timeout = Some(*wait);
            options.gateway_ip_version = GatewayIpVersion::V4;
            waited += *wait;
            match igd_next::aio::tokio::search_gateway(options).await {
                Ok(inner) => {
                    let local_ip = match bind_ip {
                        Some(ip) => ip,
                        None => match route::local_ip_towards(inner.addr.ip()) {
                            Ok(IpAddr::V4(ip)) => ip,
                            Ok(other) => return Err(DiscoveryError::LanAddressNotIpv4(other)),
                            Err(error) => {
                                return Err(DiscoveryError::NoRouteToGateway {
                                    gateway: inner.addr,
                                    source: error.into(),
                                });
                            }
                        },
                    };
                    tracing::debug!(gateway = %inner.addr, search = search + 1, "UPnP gateway answered");
                    return Ok(UpnpGateway {
                        inner,
                        local_ip,
                        description: config.description.clone(),
                    });
                }
                Err(SearchError::NoResponseWithinTimeout) => {}
                // Without a route no later search can be sent either.
                Err(SearchError::IoError(error))
                    if error.kind() == std::io::ErrorKind::NetworkUnreachable =>
                {
                    return Err(DiscoveryError::SearchSocket {
                        bind,
                        source: error.into(),
                    });
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(search_failure(
            last_error,
            config.upnp_searches.len(),
            waited,
            bind,
        ))
    }

    /// The LAN address mappings point to.
    pub fn local_ip(&self) -> Ipv4Addr {
        self.local_ip
    }

    /// The WAN connection service, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub fn service_type(&self) -> &str {
        &self.inner.service_type
    }

    async fn add(
        &self,
        request: MapRequest,
        external_port: u16,
        lease: u32,
    ) -> Result<(), AddPortError> {
        let local = SocketAddr::V4(SocketAddrV4::new(self.local_ip, request.internal_port));
        let protocol = protocol(request.transport);
        bounded(
            self.inner
                .add_port(protocol, external_port, local, lease, &self.description),
        )
        .await
        .unwrap_or(Err(AddPortError::RequestError(timeout_error())))
    }

    async fn add_any(&self, request: MapRequest, lease: u32) -> Result<u16, AddAnyPortError> {
        let local = SocketAddr::V4(SocketAddrV4::new(self.local_ip, request.internal_port));
        let protocol = protocol(request.transport);
        bounded(
            self.inner
                .add_any_port(protocol, local, lease, &self.description),
        )
        .await
        .unwrap_or(Err(AddAnyPortError::RequestError(timeout_error())))
    }

    /// The control URL as an absolute URL.
    fn control_url(&self) -> String {
        let url = &self.inner.control_url;
        if url.starts_with("http://") || url.starts_with("https://") {
            url.clone()
        } else if url.starts_with('/') {
            format!("http://{}{url}", self.inner.addr)
        } else {
            format!("http://{}/{url}", self.inner.addr)
        }
    }
}

impl Gateway for UpnpGateway {
    fn protocol(&self) -> MappingProtocol {
        MappingProtocol::Upnp
    }

    fn address(&self) -> IpAddr {
        self.inner.addr.ip()
    }

    fn describe(&self) -> String {
        let service = self
            .inner
            .service_type
            .rsplit_once(":service:")
            .map_or(self.inner.service_type.as_str(), |(_, name)| name);
        let version = if service.ends_with(":2") { 2 } else { 1 };
        format!(
            "UPnP IGDv{version} ({service}) at {}, mapping to {}",
            self.inner.addr, self.local_ip
        )
    }

    async fn external_ip(&mut self) -> Result<IpAddr, GatewayError> {
        let ip = bounded(self.inner.get_external_ip())
            .await?
            .map_err(|error| match error {
                GetExternalIpError::ActionNotAuthorized => {
                    GatewayError::NotAuthorized(ErrorCode::Upnp(606))
                }
                GetExternalIpError::RequestError(error) => request_error(error),
            })?;
        if ip.is_unspecified() {
            return Err(GatewayError::NoExternalAddress);
        }
        Ok(ip)
    }

    async fn check(&mut self, mapping: Mapping) -> Result<Presence, GatewayError> {
        const ACTION: &str = "GetSpecificPortMappingEntry";
        if !self.inner.control_schema.contains_key(ACTION) {
            return Ok(Presence::Unknown);
        }
        let service = &self.inner.service_type;
        let body = format!(
            "<?xml version=\"1.0\"?>\r\n\
             <s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
             <u:{ACTION} xmlns:u=\"{service}\"><NewRemoteHost></NewRemoteHost>\
             <NewExternalPort>{}</NewExternalPort><NewProtocol>{}</NewProtocol></u:{ACTION}>\
             </s:Body></s:Envelope>",
            mapping.external_port,
            protocol(mapping.transport)
        );
        let header = format!("\"{service}#{ACTION}\"");
        let url = self.control_url();
        let text = bounded(Tokio::send_async(&url, &header, &body))
            .await?
            .map_err(request_error)?;
        specific_entry_presence(&text, self.local_ip, mapping.internal_port)
    }

    async fn map(&mut self, request: MapRequest) -> Result<Grant, GatewayError> {
        let lease = u32::try_from(request.lifetime.as_secs())
            .unwrap_or(u32::MAX)
            .max(1);
        let granted = |external_port| Grant {
            external_port,
            lifetime: request.lifetime,
        };
        let mut external = request.external_port;
        // At most: the requested port, then the internal port (for IGDs that insist on equal
        // ports), each possibly again as a permanent lease (for IGDs that only have those).
        let mut lease_now = lease;
        for _ in 0..4 {
            match self.add(request, external, lease_now).await {
                Ok(()) => return Ok(granted(external)),
                Err(AddPortError::PortInUse) => {
                    tracing::debug!(
                        transport = %request.transport,
                        port = external,
                        "external port mapped to another client, asking the router for any port"
                    );
                    return match self.add_any(request, lease_now).await {
                        Ok(port) => Ok(granted(port)),
                        Err(AddAnyPortError::OnlyPermanentLeasesSupported) if lease_now != 0 => {
                            self.add_any(request, 0)
                                .await
                                .map(granted)
                                .map_err(add_any_error)
                        }
                        Err(error) => Err(add_any_error(error)),
                    };
                }
                Err(AddPortError::OnlyPermanentLeasesSupported) if lease_now != 0 => {
                    // Refreshed on schedule all the same, and deleted on shutdown.
                    lease_now = 0;
                }
                Err(AddPortError::SamePortValuesRequired) if external != request.internal_port => {
                    external = request.internal_port;
                }
                Err(error) => return Err(add_port_error(error, external)),
            }
        }
        Err(GatewayError::Protocol(ProtocolViolation::KeptRefusing))
    }

    async fn unmap(&mut self, mapping: Mapping) -> Result<(), GatewayError> {
        match bounded(
            self.inner
                .remove_port(protocol(mapping.transport), mapping.external_port),
        )
        .await?
        {
            Ok(()) | Err(RemovePortError::NoSuchPortMapping) => Ok(()),
            Err(RemovePortError::ActionNotAuthorized) => {
                Err(GatewayError::NotAuthorized(ErrorCode::Upnp(606)))
            }
            Err(RemovePortError::RequestError(error)) => Err(request_error(error)),
        }
    }
}

/// Why `searches` SSDP searches from `bind`, `waited` in all, found no gateway: silence, or the
/// last search's error (igd-next's own text is logged at debug level, the type says what it
/// means).
fn search_failure(
    last_error: Option<SearchError>,
    searches: usize,
    waited: Duration,
    bind: SocketAddr,
) -> DiscoveryError {
    let problem = match last_error {
        None | Some(SearchError::NoResponseWithinTimeout) => {
            return DiscoveryError::NoUpnpAnswer { searches, waited };
        }
        Some(SearchError::IoError(error)) => {
            return DiscoveryError::SearchSocket {
                bind,
                source: error.into(),
            };
        }
        Some(
            error @ (SearchError::HyperError(_)
            | SearchError::HyperClientError(_)
            | SearchError::InvalidUri(_)),
        ) => {
            tracing::debug!(%error, "UPnP gateway description could not be fetched");
            ProtocolViolation::Http
        }
        Some(error) => {
            tracing::debug!(%error, "unusable UPnP gateway description");
            ProtocolViolation::Unparsable
        }
    };
    DiscoveryError::UnusableUpnpAnswer { searches, problem }
}

fn protocol(transport: Transport) -> PortMappingProtocol {
    match transport {
        Transport::Tcp => PortMappingProtocol::TCP,
        Transport::Udp => PortMappingProtocol::UDP,
    }
}

async fn bounded<T>(future: impl Future<Output = T>) -> Result<T, GatewayError> {
    tokio::time::timeout(REQUEST_TIMEOUT, future)
        .await
        .map_err(|_| GatewayError::Timeout(REQUEST_TIMEOUT))
}

fn timeout_error() -> RequestError {
    RequestError::IoError(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "control request timed out",
    ))
}

/// A UPnP error code in the terms of [`GatewayError`]; its description (`text`) is logged
/// at debug level, the code says what it means.
fn code_error(code: u16, text: &str) -> GatewayError {
    tracing::debug!(code, description = text, "UPnP error answer");
    let upnp = ErrorCode::Upnp(code);
    match code {
        606 => GatewayError::NotAuthorized(upnp),
        501 => GatewayError::ForwardingImpossible(upnp),
        728 => GatewayError::OutOfResources(upnp),
        401 | 602 => GatewayError::Unsupported(upnp),
        _ => GatewayError::Protocol(ProtocolViolation::UnknownCode(upnp)),
    }
}

fn request_error(error: RequestError) -> GatewayError {
    match error {
        RequestError::ErrorCode(code, text) => code_error(code, &text),
        RequestError::UnsupportedAction(action) => {
            tracing::debug!(%action, "the gateway's UPnP service lacks an action");
            GatewayError::MissingAction(known_action(&action))
        }
        RequestError::IoError(error) if error.kind() == std::io::ErrorKind::TimedOut => {
            GatewayError::Timeout(REQUEST_TIMEOUT)
        }
        RequestError::IoError(error) => GatewayError::Io(error.kind()),
        RequestError::InvalidResponse(text) => {
            tracing::debug!(answer = shorten(&text), "unparsable UPnP answer");
            GatewayError::Protocol(ProtocolViolation::Unparsable)
        }
        other => {
            tracing::debug!(error = %other, "UPnP HTTP exchange failed");
            GatewayError::Protocol(ProtocolViolation::Http)
        }
    }
}

fn add_port_error(error: AddPortError, port: u16) -> GatewayError {
    match error {
        AddPortError::ActionNotAuthorized => GatewayError::NotAuthorized(ErrorCode::Upnp(606)),
        AddPortError::PortInUse => GatewayError::PortInUse(port),
        AddPortError::RequestError(error) => request_error(error),
        other => {
            tracing::debug!(error = %other, port, "AddPortMapping refused");
            GatewayError::Protocol(ProtocolViolation::KeptRefusing)
        }
    }
}

fn add_any_error(error: AddAnyPortError) -> GatewayError {
    match error {
        AddAnyPortError::ActionNotAuthorized => GatewayError::NotAuthorized(ErrorCode::Upnp(606)),
        AddAnyPortError::NoPortsAvailable => GatewayError::OutOfResources(ErrorCode::Upnp(728)),
        AddAnyPortError::RequestError(error) => request_error(error),
        other => {
            tracing::debug!(error = %other, "AddAnyPortMapping refused");
            GatewayError::Protocol(ProtocolViolation::KeptRefusing)
        }
    }
}

/// The UPnP actions we call, by name, so an error can name one without holding a string.
const ACTIONS: [&str; 5] = [
    "GetExternalIPAddress",
    "AddPortMapping",
    "AddAnyPortMapping",
    "DeletePortMapping",
    "GetSpecificPortMappingEntry",
];

fn known_action(action: &str) -> &'static str {
    ACTIONS
        .into_iter()
        .find(|known| *known == action)
        .unwrap_or("needed")
}

fn shorten(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

/// Reads a GetSpecificPortMappingEntry answer (the SOAP body as received): present when the
/// entry maps to `local_ip` and `internal_port`; absent on NoSuchEntryInArray (714) or when the
/// port maps to someone else.
pub fn specific_entry_presence(
    text: &str,
    local_ip: Ipv4Addr,
    internal_port: u16,
) -> Result<Presence, GatewayError> {
    if let Some(code) = element_text(text, "errorCode") {
        let code: u16 = code
            .trim()
            .parse()
            .map_err(|_| GatewayError::Protocol(ProtocolViolation::Unparsable))?;
        if code == 714 {
            return Ok(Presence::Absent);
        }
        let description = element_text(text, "errorDescription").unwrap_or("");
        return Err(code_error(code, description.trim()));
    }
    let client = element_text(text, "NewInternalClient").map(str::trim);
    let port = element_text(text, "NewInternalPort").map(str::trim);
    match (client, port) {
        (Some(client), Some(port)) => {
            let ours = client.parse::<Ipv4Addr>() == Ok(local_ip)
                && port.parse::<u16>() == Ok(internal_port);
            Ok(if ours {
                Presence::Present
            } else {
                Presence::Absent
            })
        }
        _ => {
            tracing::debug!(
                answer = shorten(text),
                "unparsable GetSpecificPortMappingEntry answer"
            );
            Err(GatewayError::Protocol(ProtocolViolation::Unparsable))
        }
    }
}

/// The text of the first element named `name` (with or without a namespace prefix). Enough
/// for the flat SOAP answers of an IGD; not a general XML reader.
fn element_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = xml;
    while let Some(at) = rest.find(name) {
        let (before, after) = rest.split_at(at);
        let after = &after[name.len()..];
        let opens = before.ends_with('<')
            || before.rfind('<').is_some_and(|lt| {
                let prefix = &before[lt + 1..];
                prefix.ends_with(':') && !prefix.starts_with('/') && !prefix.contains(['>', ' '])
            });
        if opens {
            if let Some(body) = after.strip_prefix('>') {
                return Some(body.split('<').next().unwrap_or(""));
            }
            // Attributes on the element.
            if after.starts_with(' ') {
                let close = after.find('>')?;
                if after[..close].ends_with('/') {
                    return Some("");
                }
                return Some(after[close + 1..].split('<').next().unwrap_or(""));
            }
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);

    #[test]
    fn specific_entry_present_for_us_absent_for_others() {
        let answer = |client: &str, port: u16| {
            format!(
                "<?xml version=\"1.0\"?><s:Envelope><s:Body>\
                 <u:GetSpecificPortMappingEntryResponse xmlns:u=\"urn:x\">\
                 <NewInternalPort>{port}</NewInternalPort>\
                 <NewInternalClient>{client}</NewInternalClient>\
                 <NewEnabled>1</NewEnabled></u:GetSpecificPortMappingEntryResponse>\
                 </s:Body></s:Envelope>"
            )
        };
        let presence = |text: &str| specific_entry_presence(text, LOCAL, 30303);
        assert_eq!(
            presence(&answer("192.168.77.2", 30303)),
            Ok(Presence::Present)
        );
        assert_eq!(
            presence(&answer("192.168.77.3", 30303)),
            Ok(Presence::Absent)
        );
        assert_eq!(
            presence(&answer("192.168.77.2", 30304)),
            Ok(Presence::Absent)
        );
    }

    #[test]
    fn specific_entry_faults() {
        let fault = |code: u16, text: &str| {
            format!(
                "<s:Envelope><s:Body><s:Fault><faultcode>s:Client</faultcode>\
                 <faultstring>UPnPError</faultstring><detail>\
                 <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">\
                 <errorCode>{code}</errorCode><errorDescription>{text}</errorDescription>\
                 </UPnPError></detail></s:Fault></s:Body></s:Envelope>"
            )
        };
        assert_eq!(
            specific_entry_presence(&fault(714, "NoSuchEntryInArray"), LOCAL, 1),
            Ok(Presence::Absent)
        );
        assert_eq!(
            specific_entry_presence(&fault(606, "Action not authorized"), LOCAL, 1),
            Err(GatewayError::NotAuthorized(ErrorCode::Upnp(606)))
        );
        assert!(specific_entry_presence("<html>nope</html>", LOCAL, 1).is_err());
    }

    #[test]
    fn element_text_handles_prefixes_and_skips_closing_tags() {
        assert_eq!(element_text("<a:x>1</a:x>", "x"), Some("1"));
        assert_eq!(element_text("<x>2</x>", "x"), Some("2"));
        assert_eq!(element_text("</x><x>3</x>", "x"), Some("3"));
        assert_eq!(element_text("<y>x</y><x a=\"b\">4</x>", "x"), Some("4"));
        assert_eq!(element_text("<xy>5</xy>", "x"), None);
        assert_eq!(element_text("", "x"), None);
    }

    #[test]
    fn search_failures_say_whether_anyone_answered() {
        let bind = SocketAddr::from(([192, 168, 77, 2], 0));
        let waited = Duration::from_secs(7);
        let silence = search_failure(None, 3, waited, bind);
        assert_eq!(
            silence,
            DiscoveryError::NoUpnpAnswer {
                searches: 3,
                waited
            }
        );
        assert_eq!(silence.blame(), crate::Blame::Remote);
        let garbage = search_failure(Some(SearchError::InvalidResponse), 3, waited, bind);
        assert_eq!(
            garbage,
            DiscoveryError::UnusableUpnpAnswer {
                searches: 3,
                problem: ProtocolViolation::Unparsable
            }
        );
        assert_eq!(garbage.blame(), crate::Blame::Remote);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let socket = search_failure(Some(SearchError::IoError(denied)), 3, waited, bind);
        assert!(
            matches!(&socket, DiscoveryError::SearchSocket { bind: at, source }
                if *at == bind && source.kind() == std::io::ErrorKind::PermissionDenied),
            "{socket:?}"
        );
        assert_eq!(socket.blame(), crate::Blame::Local);
    }

    #[test]
    fn an_unsendable_search_names_the_missing_route() {
        let unreachable = DiscoveryError::SearchSocket {
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            source: std::io::Error::from(std::io::ErrorKind::NetworkUnreachable).into(),
        };
        let text = unreachable.to_string();
        assert!(
            text.starts_with("cannot send the SSDP search from 0.0.0.0:0: "),
            "{text}"
        );
        assert!(
            text.ends_with("(no default route; listen on the LAN address to search without one)"),
            "{text}"
        );
        let source =
            std::error::Error::source(&unreachable).expect("the socket error is the source");
        let socket = source
            .downcast_ref::<crate::SocketError>()
            .expect("a socket error");
        assert_eq!(socket.kind(), std::io::ErrorKind::NetworkUnreachable);
    }

    #[test]
    fn error_codes_map_to_their_meaning() {
        assert!(matches!(
            code_error(501, "Action Failed"),
            GatewayError::ForwardingImpossible(_)
        ));
        assert!(matches!(
            code_error(728, ""),
            GatewayError::OutOfResources(_)
        ));
        assert_eq!(
            code_error(999, ""),
            GatewayError::Protocol(ProtocolViolation::UnknownCode(ErrorCode::Upnp(999)))
        );
        assert_eq!(code_error(999, "").blame(), crate::Blame::Remote);
    }
}

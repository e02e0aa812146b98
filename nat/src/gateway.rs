//! The gateway abstraction the mapper drives, and gateway discovery per [`NatMode`].

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::task::JoinSet;

use crate::pmp::PmpGateway;
use crate::upnp::UpnpGateway;
use crate::{
    DiscoveryError, DiscoveryFailure, GatewayError, Grant, MapRequest, Mapping, MappingProtocol,
    NatError, NatMode, Presence, route,
};

/// A router that maps ports: one request at a time, each bounded in time by the implementation.
/// Implemented for UPnP ([`UpnpGateway`]) and NAT-PMP ([`PmpGateway`]); tests use fakes.
pub trait Gateway: Send {
    /// The protocol spoken.
    fn protocol(&self) -> MappingProtocol;

    /// The gateway's (LAN) address.
    fn address(&self) -> IpAddr;

    /// A human description: protocol, version, service.
    fn describe(&self) -> String;

    /// The gateway's external address.
    fn external_ip(&mut self) -> impl Future<Output = Result<IpAddr, GatewayError>> + Send;

    /// Whether the gateway still holds `mapping` for this host.
    fn check(
        &mut self,
        mapping: Mapping,
    ) -> impl Future<Output = Result<Presence, GatewayError>> + Send;

    /// Asks for a mapping. When the preferred external port is taken the gateway's offer is
    /// taken instead: the grant says which port to advertise.
    fn map(
        &mut self,
        request: MapRequest,
    ) -> impl Future<Output = Result<Grant, GatewayError>> + Send;

    /// Deletes a mapping.
    fn unmap(&mut self, mapping: Mapping) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// Discovery settings.
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// The LAN address to search from and to map to; `None` takes the address facing the
    /// default gateway (or, for UPnP, the one facing the gateway that answered).
    pub local_ip: Option<Ipv4Addr>,
    /// How long each SSDP search waits for an answer, one entry per search: the M-SEARCH is sent
    /// once per search, so a lost datagram is recovered by the next search.
    pub upnp_searches: Vec<Duration>,
    /// NAT-PMP requests are resent after 250 ms, doubling (RFC 6886); this many sends in all.
    pub pmp_tries: u32,
    /// Description stored with UPnP mappings.
    pub description: String,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            local_ip: None,
            upnp_searches: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
            ],
            pmp_tries: 4,
            description: "ethp2p".to_string(),
        }
    }
}

/// A UPnP or NAT-PMP gateway, as found by [`discover`].
#[derive(Debug)]
pub enum AnyGateway {
    /// UPnP IGD.
    Upnp(UpnpGateway),
    /// NAT-PMP.
    Pmp(PmpGateway),
}

impl Gateway for AnyGateway {
    fn protocol(&self) -> MappingProtocol {
        match self {
            AnyGateway::Upnp(gateway) => gateway.protocol(),
            AnyGateway::Pmp(gateway) => gateway.protocol(),
        }
    }

    fn address(&self) -> IpAddr {
        match self {
            AnyGateway::Upnp(gateway) => gateway.address(),
            AnyGateway::Pmp(gateway) => gateway.address(),
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyGateway::Upnp(gateway) => gateway.describe(),
            AnyGateway::Pmp(gateway) => gateway.describe(),
        }
    }

    async fn external_ip(&mut self) -> Result<IpAddr, GatewayError> {
        match self {
            AnyGateway::Upnp(gateway) => gateway.external_ip().await,
            AnyGateway::Pmp(gateway) => gateway.external_ip().await,
        }
    }

    async fn check(&mut self, mapping: Mapping) -> Result<Presence, GatewayError> {
        match self {
            AnyGateway::Upnp(gateway) => gateway.check(mapping).await,
            AnyGateway::Pmp(gateway) => gateway.check(mapping).await,
        }
    }

    async fn map(&mut self, request: MapRequest) -> Result<Grant, GatewayError> {
        match self {
            AnyGateway::Upnp(gateway) => gateway.map(request).await,
            AnyGateway::Pmp(gateway) => gateway.map(request).await,
        }
    }

    async fn unmap(&mut self, mapping: Mapping) -> Result<(), GatewayError> {
        match self {
            AnyGateway::Upnp(gateway) => gateway.unmap(mapping).await,
            AnyGateway::Pmp(gateway) => gateway.unmap(mapping).await,
        }
    }
}

/// Finds a gateway for `mode`: UPnP by SSDP search, NAT-PMP at the given gateway or the default
/// route's. With [`NatMode::Any`] both run at once and the first that answers wins (a NAT-PMP
/// gateway counts once it reported its external address; a UPnP one once its description was
/// read). `None` and `ExtIp` have no gateway and give an empty `NoGateway` error.
pub async fn discover(mode: NatMode, config: &SearchConfig) -> Result<AnyGateway, NatError> {
    let mut tasks: JoinSet<Result<AnyGateway, DiscoveryFailure>> = JoinSet::new();
    if mode.tries_upnp() {
        let config = config.clone();
        tasks.spawn(async move {
            UpnpGateway::discover(&config)
                .await
                .map(AnyGateway::Upnp)
                .map_err(|reason| DiscoveryFailure {
                    protocol: MappingProtocol::Upnp,
                    reason,
                })
        });
    }
    if mode.tries_pmp() {
        let config = config.clone();
        let given = match mode {
            NatMode::Pmp(gateway) => gateway,
            _ => None,
        };
        tasks.spawn(async move {
            let failure = |reason| DiscoveryFailure {
                protocol: MappingProtocol::NatPmp,
                reason,
            };
            let gateway = given
                .or_else(route::default_gateway)
                .ok_or(failure(DiscoveryError::NoDefaultRoute))?;
            PmpGateway::discover(gateway, config.pmp_tries)
                .await
                .map(AnyGateway::Pmp)
                .map_err(failure)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(gateway)) => return Ok(gateway),
            Ok(Err(failure)) => failures.push(failure),
            Err(error) => {
                if error.is_panic() {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        }
    }
    // Keep the report in a stable order: UPnP first.
    failures.sort_by_key(|failure| failure.protocol != MappingProtocol::Upnp);
    Err(NatError::NoGateway(failures))
}

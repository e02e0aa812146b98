//! Port mapping as a server option ([`ServerConfig::nat`](super::ServerConfig::nat)),
//! go-ethereum's `--nat any|none|upnp|pmp|extip:IP` model: the server starts an
//! [`ethp2p_nat::PortMapper`] for its bound TCP port and its discovery UDP port, advertises the
//! external endpoint each mapping grants (enode, and the record with its sequence number bumped),
//! and deletes the mappings on shutdown. Only with the feature `nat`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ethp2p_discovery::Enode;
use ethp2p_nat::{
    LeaseConfig, MapperConfig, MapperHandle, NatError, NatEvent, NatEvents, NatMode, PortMapper,
};
use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::Inner;

/// NAT events kept for a subscriber that falls behind; they are rare (one per mapping, refresh
/// failure or address change), so this is minutes of history.
const EVENT_CAPACITY: usize = 64;

/// How the server makes itself reachable from behind a router. The default maps nothing
/// ([`NatMode::None`], go-ethereum's library default); `ethp2p node` defaults to
/// [`NatMode::Any`], go-ethereum's command-line default.
#[derive(Debug, Clone, Default)]
pub struct NatConfig {
    /// UPnP, NAT-PMP, either, none, or a known external IP (`extip:`). A server listening on a
    /// loopback address is never mapped: a router cannot forward to it.
    pub mode: NatMode,
    /// Lease lifetime and refresh timing (go-ethereum's: 10 minutes, refreshed after 8).
    pub lease: LeaseConfig,
}

impl NatConfig {
    /// `mode` with the default lease timing.
    pub fn new(mode: NatMode) -> Self {
        NatConfig {
            mode,
            lease: LeaseConfig::default(),
        }
    }
}

/// The NAT event stream of a server: every event is sent on after the endpoint it grants is
/// advertised, so [`ServerHandle::local_enode`](super::ServerHandle::local_enode) already shows
/// it to whoever sees the event.
pub(crate) struct NatReports {
    sender: broadcast::Sender<NatEvent>,
    /// Subscribed at start, so the first caller of `nat_events` misses nothing: an `extip:`
    /// mapping is reported before `Server::start` returns.
    first: Mutex<Option<broadcast::Receiver<NatEvent>>>,
}

impl NatReports {
    pub(crate) fn new() -> Self {
        let (sender, first) = broadcast::channel(EVENT_CAPACITY);
        NatReports {
            sender,
            first: Mutex::new(Some(first)),
        }
    }

    /// The stream since start on the first call, from now on after that.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<NatEvent> {
        self.first
            .lock()
            .take()
            .unwrap_or_else(|| self.sender.subscribe())
    }
}

/// A started port mapper and the ports it was asked to map (the ones advertised when a mapping
/// leaves a transport out).
pub(crate) struct Mapper {
    handle: MapperHandle,
    events: NatEvents,
    local: Enode,
}

/// Starts mapping `local`'s ports (its bound TCP port, its discovery UDP port) as `config` asks;
/// `None` when there is nothing to do: mode `none`, a loopback listen address, or no port.
/// `listen` is the configured listen address: a specific IPv4 address is mapped to itself
/// rather than to the interface facing the gateway.
pub(crate) fn start(
    config: &NatConfig,
    listen: Option<SocketAddr>,
    tcp_port: Option<u16>,
    udp_port: Option<u16>,
    local: Enode,
) -> Result<Option<Mapper>, NatError> {
    let maps_ports = matches!(config.mode, NatMode::Any | NatMode::Upnp | NatMode::Pmp(_));
    let loopback = listen.is_some_and(|addr| addr.ip().is_loopback());
    if maps_ports && loopback {
        tracing::info!(mode = %config.mode, "listening on loopback: no port mapping");
        return Ok(None);
    }
    if config.mode == NatMode::None {
        return Ok(None);
    }
    if tcp_port.is_none() && udp_port.is_none() {
        tracing::info!(mode = %config.mode, "neither listening nor discovering: nothing to map");
        return Ok(None);
    }
    let mut mapper = MapperConfig::new(config.mode, tcp_port, udp_port);
    mapper.lease = config.lease;
    if let Some(SocketAddr::V4(listen)) = listen {
        let ip = *listen.ip();
        if !ip.is_unspecified() && !ip.is_loopback() {
            mapper.search.local_ip = Some(ip);
        }
    }
    let (handle, events) = PortMapper::start(mapper)?;
    Ok(Some(Mapper {
        handle,
        events,
        local,
    }))
}

/// The endpoint to advertise when `event` grants one: its IP, with our own port for a
/// transport the mapping left out.
fn advertised(local: &Enode, event: &NatEvent) -> Option<(IpAddr, u16, u16)> {
    let endpoint = match event {
        NatEvent::Mapped { endpoint, .. } => endpoint,
        NatEvent::ExternalAddressChanged { new, .. } => new,
        _ => return None,
    };
    let tcp = endpoint.tcp_port.unwrap_or(local.tcp_port);
    let udp = endpoint.udp_port.unwrap_or(local.udp_port);
    Some((endpoint.ip, tcp, udp))
}

/// Advertises what the mapper grants and passes its events on until the server shuts down,
/// then deletes the mappings (server shutdown waits for that).
pub(crate) async fn run(inner: Arc<Inner>, mut mapper: Mapper) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let event = tokio::select! {
            event = mapper.events.recv() => event,
            _ = shutdown.wait_for(|stopped| *stopped) => break,
        };
        // The stream ends when the mapper stops (no gateway): nothing left to advertise.
        let Some(event) = event else {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
            break;
        };
        if let Some((ip, tcp, udp)) = advertised(&mapper.local, &event) {
            super::discovery::pin_endpoint(&inner, ip, tcp, udp).await;
        }
        // Nobody listening is fine.
        let _ = inner.nat.sender.send(event);
    }
    mapper.handle.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethp2p_nat::{ExternalEndpoint, MappingProtocol};

    fn local() -> Enode {
        let key = secp256k1::SecretKey::from_secret_bytes([3; 32]).unwrap();
        Enode {
            id: crate::PeerId::from_secret_key(&key),
            ip: [192, 168, 1, 20].into(),
            tcp_port: 30303,
            udp_port: 30304,
        }
    }

    #[test]
    fn a_transport_left_unmapped_keeps_its_local_port() {
        let ip: IpAddr = [203, 0, 113, 5].into();
        let mapped = NatEvent::Mapped {
            protocol: MappingProtocol::Upnp,
            gateway: None,
            endpoint: ExternalEndpoint {
                ip,
                tcp_port: Some(40000),
                udp_port: None,
            },
        };
        assert_eq!(advertised(&local(), &mapped), Some((ip, 40000, 30304)));
        let lost = NatEvent::MappingLost {
            transport: ethp2p_nat::Transport::Tcp,
            external_port: 40000,
        };
        assert_eq!(advertised(&local(), &lost), None);
    }

    #[test]
    fn loopback_mode_none_and_no_ports_start_nothing() {
        let loopback = Some(SocketAddr::from(([127, 0, 0, 1], 30303)));
        let any = NatConfig::new(NatMode::Any);
        let started = start(&any, loopback, Some(30303), Some(30303), local()).unwrap();
        assert!(started.is_none(), "a router cannot forward to loopback");
        let none = NatConfig::default();
        let public = Some(SocketAddr::from(([0, 0, 0, 0], 30303)));
        assert!(
            start(&none, public, Some(30303), None, local())
                .unwrap()
                .is_none()
        );
        assert!(start(&any, None, None, None, local()).unwrap().is_none());
    }
}

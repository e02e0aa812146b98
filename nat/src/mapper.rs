//! The port mapper task: finds the gateway, drives [`Leases`] against it, reports events, and
//! deletes the mappings on shutdown.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::announce::{Announcement, AnnouncementListener};
use crate::gateway::{Gateway, SearchConfig, discover};
use crate::lease::{Action, LeaseConfig, Leases};
use crate::{
    AddressKind, ExternalEndpoint, MappingProtocol, NatError, NatEvent, NatMode, Transport, route,
};

/// Everything [`PortMapper::start`] needs.
#[derive(Debug, Clone)]
pub struct MapperConfig {
    /// Which protocols to try, or a fixed external address.
    pub mode: NatMode,
    /// The node's TCP port (RLPx), mapped to the same external port if the router allows.
    pub tcp_port: Option<u16>,
    /// The node's UDP port (discovery), likewise.
    pub udp_port: Option<u16>,
    /// Lease lifetime, refresh and retry timing.
    pub lease: LeaseConfig,
    /// Gateway search settings, including the LAN address to map to.
    pub search: SearchConfig,
    /// How long deleting each mapping may take on shutdown; a gateway that does not answer in
    /// time keeps the mapping until its lease runs out.
    pub unmap_timeout: Duration,
    /// Listen for the gateway's restart announcements ([`crate::announce`]) on UDP ports 5350
    /// and 1900, shared with other listeners, to re-map at once after a router reboot.
    pub announcements: bool,
}

impl MapperConfig {
    /// Defaults (10 minute leases refreshed after 8, go-ethereum's) for `mode` and the ports.
    pub fn new(mode: NatMode, tcp_port: Option<u16>, udp_port: Option<u16>) -> Self {
        MapperConfig {
            mode,
            tcp_port,
            udp_port,
            lease: LeaseConfig::default(),
            search: SearchConfig::default(),
            unmap_timeout: Duration::from_secs(3),
            announcements: true,
        }
    }

    fn ports(&self) -> Vec<(Transport, u16)> {
        let tcp = self.tcp_port.map(|port| (Transport::Tcp, port));
        let udp = self.udp_port.map(|port| (Transport::Udp, port));
        tcp.into_iter().chain(udp).collect()
    }
}

/// The stream of [`NatEvent`]s of one mapper; it ends when the mapper stops.
pub type NatEvents = mpsc::UnboundedReceiver<NatEvent>;

/// Entry point: see [`PortMapper::start`].
pub struct PortMapper;

impl PortMapper {
    /// Starts mapping in a tokio task and returns its handle and event stream. Fails at once only
    /// for settings no gateway could satisfy (no ports, ports below 1024); not finding a gateway
    /// is reported as [`NatEvent::NoGateway`], after which the node simply carries on with its
    /// local address. With [`NatMode::None`] the stream ends at once.
    pub fn start(config: MapperConfig) -> Result<(MapperHandle, NatEvents), NatError> {
        let ports = config.ports();
        if config.mode != NatMode::None {
            if ports.is_empty() {
                return Err(NatError::NoPorts);
            }
            if let Some(&(_, port)) = ports.iter().find(|(_, port)| *port < 1024) {
                return Err(NatError::PrivilegedPort(port));
            }
        }
        let (events_tx, events) = mpsc::unbounded_channel();
        let (endpoint_tx, endpoint) = watch::channel(None);
        let (stop_tx, stop) = oneshot::channel();
        let output = Output {
            events: events_tx,
            endpoint: endpoint_tx,
        };
        let task = tokio::spawn(run(config, output, stop));
        let handle = MapperHandle {
            stop: Some(stop_tx),
            task: Some(task),
            endpoint,
        };
        Ok((handle, events))
    }
}

/// Controls a running mapper. Dropping it stops the mapper too (the mappings are then deleted
/// in the background, as long as the runtime lives); [`shutdown`](Self::shutdown) waits for it.
#[derive(Debug)]
pub struct MapperHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    endpoint: watch::Receiver<Option<ExternalEndpoint>>,
}

impl MapperHandle {
    /// The external endpoint currently advertised, once mapped.
    pub fn endpoint(&self) -> Option<ExternalEndpoint> {
        *self.endpoint.borrow()
    }

    /// Stops refreshing, deletes the mappings, and returns when that is done (bounded by
    /// [`MapperConfig::unmap_timeout`] per mapping, plus any request in flight).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                if error.is_panic() {
                    std::panic::resume_unwind(error.into_panic());
                }
            }
        }
    }
}

struct Output {
    events: mpsc::UnboundedSender<NatEvent>,
    endpoint: watch::Sender<Option<ExternalEndpoint>>,
}

impl Output {
    /// Logs `event` (the one log line per event) and sends it on.
    fn emit(&self, event: NatEvent) {
        log(&event);
        crate::metrics::event(&event);
        match &event {
            NatEvent::Mapped { endpoint, .. } => {
                self.endpoint.send_replace(Some(*endpoint));
            }
            NatEvent::ExternalAddressChanged { new, .. } => {
                self.endpoint.send_replace(Some(*new));
            }
            _ => {}
        }
        // Nobody listening is fine: the events are for whoever wants them.
        let _ = self.events.send(event);
    }
}

fn log(event: &NatEvent) {
    match event {
        NatEvent::Mapped {
            protocol,
            gateway,
            endpoint,
        } => {
            let gateway = gateway.map(|ip| ip.to_string()).unwrap_or_default();
            tracing::info!(%protocol, %gateway, external = %endpoint, "ports mapped");
            if let Some(note) = AddressKind::of(endpoint.ip).note() {
                tracing::warn!(external_ip = %endpoint.ip, "the gateway's external address is {note}; using it anyway");
            }
        }
        NatEvent::ExternalAddressChanged { old, new } => {
            tracing::info!(%old, %new, "external endpoint changed")
        }
        NatEvent::RefreshFailed {
            error,
            attempt,
            retry_in,
        } => tracing::warn!(%error, attempt, ?retry_in, "port mapping failed, will retry"),
        NatEvent::MappingLost {
            transport,
            external_port,
        } => {
            tracing::warn!(%transport, external_port, "the gateway lost our mapping, re-creating it")
        }
        NatEvent::NoGateway { error } => {
            tracing::info!(%error, "no port mapping: the node carries on with its local address")
        }
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

async fn run(config: MapperConfig, output: Output, mut stop: oneshot::Receiver<()>) {
    let ports = config.ports();
    match config.mode {
        NatMode::None => {}
        NatMode::ExtIp(ip) => {
            let port = |transport| {
                ports
                    .iter()
                    .find(|(t, _)| *t == transport)
                    .map(|(_, port)| *port)
            };
            output.emit(NatEvent::Mapped {
                protocol: MappingProtocol::ExtIp,
                gateway: None,
                endpoint: ExternalEndpoint {
                    ip,
                    tcp_port: port(Transport::Tcp),
                    udp_port: port(Transport::Udp),
                },
            });
            let _ = stop.await;
        }
        mode => {
            let found = tokio::select! {
                found = discover(mode, &config.search) => found,
                _ = &mut stop => return,
            };
            match found {
                Ok(gateway) => {
                    tracing::info!(gateway = %gateway.describe(), "found a port mapping gateway");
                    drive(gateway, &config, &ports, &output, stop).await;
                }
                Err(error) => output.emit(NatEvent::NoGateway { error }),
            }
        }
    }
}

/// Runs the lease cycles against `gateway` until `stop` fires (or its sender is dropped), then
/// deletes the mappings.
async fn drive<G: Gateway>(
    mut gateway: G,
    config: &MapperConfig,
    ports: &[(Transport, u16)],
    output: &Output,
    mut stop: oneshot::Receiver<()>,
) {
    let gateway_ip: IpAddr = gateway.address();
    let mut leases = Leases::new(
        gateway.protocol(),
        Some(gateway_ip),
        config.lease,
        ports,
        now(),
    );
    let mut announcements = match gateway_ip {
        IpAddr::V4(gateway) if config.announcements => match route::local_ip_towards(gateway_ip) {
            Ok(IpAddr::V4(local)) => Some(AnnouncementListener::open(gateway, local)),
            _ => None,
        },
        _ => None,
    };
    let mut cycles = 0;
    'run: loop {
        while let Some(action) = leases.poll_action(now()) {
            // A request in flight is finished (each is bounded) so that a mapping it creates is
            // known, and deleted below.
            match action {
                Action::ExternalIp => {
                    let result = gateway.external_ip().await;
                    leases.on_external_ip(now(), result);
                }
                Action::Check(mapping) => {
                    let result = gateway.check(mapping).await;
                    leases.on_check(now(), result);
                }
                Action::Map(request) => {
                    let result = gateway.map(request).await;
                    leases.on_map(now(), result);
                }
            }
            while let Some(event) = leases.poll_event() {
                output.emit(event);
            }
            if leases.completed_cycles() != cycles {
                cycles = leases.completed_cycles();
                tracing::debug!(cycle = cycles, "port mappings refreshed");
            }
            if !matches!(stop.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
                break 'run;
            }
        }
        let Some(deadline) = leases.poll_timeout() else {
            continue;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => {}
            Some(announcement) = next_announcement(announcements.as_mut()) => {
                if leases.on_announcement(now()) {
                    tracing::info!(?announcement, "the gateway announced a restart or a new address: refreshing the mappings now");
                } else {
                    tracing::debug!(?announcement, "gateway announcement ignored (refreshed moments ago)");
                }
            }
            _ = &mut stop => break 'run,
        }
    }
    for mapping in leases.mappings() {
        match tokio::time::timeout(config.unmap_timeout, gateway.unmap(mapping)).await {
            Ok(Ok(())) => tracing::info!(
                transport = %mapping.transport,
                external_port = mapping.external_port,
                "port mapping deleted"
            ),
            Ok(Err(error)) => tracing::warn!(
                transport = %mapping.transport,
                external_port = mapping.external_port,
                %error,
                "could not delete the port mapping; it ends with its lease"
            ),
            Err(_) => tracing::warn!(
                transport = %mapping.transport,
                external_port = mapping.external_port,
                "the gateway did not answer the delete in time; the mapping ends with its lease"
            ),
        }
    }
    leases.clear();
}

/// The next announcement, or `None` at once without a listener.
async fn next_announcement(listener: Option<&mut AnnouncementListener>) -> Option<Announcement> {
    Some(listener?.next().await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GatewayError, Grant, MapRequest, Mapping, Presence};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// A router in memory: a table of (transport, external port) -> (client, internal port).
    #[derive(Default)]
    struct Router {
        table: HashMap<(Transport, u16), (u8, u16)>,
        external_ip: Option<IpAddr>,
        /// The next this many requests time out.
        fail: u32,
        requests: Vec<String>,
    }

    /// Our client is host 2 on the LAN.
    const US: u8 = 2;

    struct FakeGateway(Arc<Mutex<Router>>);

    impl FakeGateway {
        fn request(&self, what: String) -> Result<std::sync::MutexGuard<'_, Router>, GatewayError> {
            let mut router = self.0.lock().unwrap();
            router.requests.push(what);
            if router.fail > 0 {
                router.fail -= 1;
                return Err(GatewayError::Timeout(Duration::from_secs(1)));
            }
            Ok(router)
        }
    }

    impl Gateway for FakeGateway {
        fn protocol(&self) -> MappingProtocol {
            MappingProtocol::Upnp
        }

        fn address(&self) -> IpAddr {
            IpAddr::from([192, 168, 77, 1])
        }

        fn describe(&self) -> String {
            "fake".into()
        }

        async fn external_ip(&mut self) -> Result<IpAddr, GatewayError> {
            let router = self.request("ip".into())?;
            router.external_ip.ok_or(GatewayError::NoExternalAddress)
        }

        async fn check(&mut self, mapping: Mapping) -> Result<Presence, GatewayError> {
            let router = self.request(format!("check {}", mapping.external_port))?;
            let entry = router
                .table
                .get(&(mapping.transport, mapping.external_port));
            Ok(if entry == Some(&(US, mapping.internal_port)) {
                Presence::Present
            } else {
                Presence::Absent
            })
        }

        async fn map(&mut self, request: MapRequest) -> Result<Grant, GatewayError> {
            let mut router = self.request(format!("map {}", request.external_port))?;
            let mut port = request.external_port;
            // Taken by another client: offer the next free one, as AddAnyPortMapping would.
            while router
                .table
                .get(&(request.transport, port))
                .is_some_and(|(client, _)| *client != US)
            {
                port += 1;
            }
            router
                .table
                .insert((request.transport, port), (US, request.internal_port));
            Ok(Grant {
                external_port: port,
                lifetime: request.lifetime,
            })
        }

        async fn unmap(&mut self, mapping: Mapping) -> Result<(), GatewayError> {
            let mut router = self.request(format!("unmap {}", mapping.external_port))?;
            router
                .table
                .remove(&(mapping.transport, mapping.external_port));
            Ok(())
        }
    }

    fn endpoint(tcp: u16, udp: u16) -> ExternalEndpoint {
        ExternalEndpoint {
            ip: IpAddr::from([203, 0, 113, 1]),
            tcp_port: Some(tcp),
            udp_port: Some(udp),
        }
    }

    /// Starts `drive` against a fake router with 60 s leases refreshed every 10 s.
    fn start(
        router: &Arc<Mutex<Router>>,
    ) -> (
        NatEvents,
        oneshot::Sender<()>,
        JoinHandle<()>,
        watch::Receiver<Option<ExternalEndpoint>>,
    ) {
        let mut config = MapperConfig::new(NatMode::Upnp, Some(30303), Some(30303));
        // No real sockets: the gateway is a fake.
        config.announcements = false;
        config.lease = LeaseConfig {
            lifetime: Duration::from_secs(60),
            refresh: Duration::from_secs(10),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(8),
        };
        let (events_tx, events) = mpsc::unbounded_channel();
        let (endpoint_tx, endpoint) = watch::channel(None);
        let (stop_tx, stop) = oneshot::channel();
        let gateway = FakeGateway(router.clone());
        let task = tokio::spawn(async move {
            let output = Output {
                events: events_tx,
                endpoint: endpoint_tx,
            };
            let ports = config.ports();
            drive(gateway, &config, &ports, &output, stop).await;
        });
        (events, stop_tx, task, endpoint)
    }

    #[tokio::test(start_paused = true)]
    async fn maps_refreshes_recovers_and_cleans_up() {
        let router = Arc::new(Mutex::new(Router {
            external_ip: Some(IpAddr::from([203, 0, 113, 1])),
            ..Router::default()
        }));
        let (mut events, stop, task, published) = start(&router);
        let started = tokio::time::Instant::now();
        assert!(matches!(
            events.recv().await,
            Some(NatEvent::Mapped { endpoint: e, .. }) if e == endpoint(30303, 30303)
        ));
        assert_eq!(*published.borrow(), Some(endpoint(30303, 30303)));

        // The router reboots and another client grabs the TCP port meanwhile.
        {
            let mut router = router.lock().unwrap();
            router.table.clear();
            router.table.insert((Transport::Tcp, 30303), (3, 30303));
            router.requests.clear();
        }
        let lost = events.recv().await.unwrap();
        assert_eq!(
            lost,
            NatEvent::MappingLost {
                transport: Transport::Tcp,
                external_port: 30303
            }
        );
        // Noticed at the first refresh, 10 s in (the clock is simulated).
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(matches!(
            events.recv().await,
            Some(NatEvent::MappingLost {
                transport: Transport::Udp,
                ..
            })
        ));
        assert!(
            matches!(events.recv().await, Some(NatEvent::Mapped { endpoint: e, .. }) if e == endpoint(30304, 30303))
        );
        assert_eq!(
            events.recv().await,
            Some(NatEvent::ExternalAddressChanged {
                old: endpoint(30303, 30303),
                new: endpoint(30304, 30303)
            })
        );
        assert_eq!(*published.borrow(), Some(endpoint(30304, 30303)));
        assert_eq!(
            router.lock().unwrap().requests,
            ["ip", "check 30303", "map 30303", "check 30303", "map 30303"]
        );

        // Two failed refreshes, retried after 1 s and 2 s, then quiet success.
        router.lock().unwrap().fail = 2;
        for (attempt, delay) in [(1, 1), (2, 2)] {
            match events.recv().await {
                Some(NatEvent::RefreshFailed {
                    attempt: a,
                    retry_in,
                    ..
                }) => {
                    assert_eq!((a, retry_in), (attempt, Duration::from_secs(delay)));
                }
                other => panic!("expected RefreshFailed, got {other:?}"),
            }
        }

        // Shutdown deletes both mappings; the other client's stays.
        let _ = stop.send(());
        task.await.unwrap();
        let router = router.lock().unwrap();
        assert_eq!(router.table.len(), 1);
        assert_eq!(
            router.table.get(&(Transport::Tcp, 30303)),
            Some(&(3, 30303))
        );
        assert!(
            router
                .requests
                .ends_with(&["unmap 30304".into(), "unmap 30303".into()])
        );
        assert!(events.try_recv().is_err());
    }

    #[tokio::test]
    async fn ext_ip_is_mapped_at_once_and_none_ends_the_stream() {
        let ip = IpAddr::from([198, 51, 100, 7]);
        let config = MapperConfig::new(NatMode::ExtIp(ip), Some(30303), Some(30301));
        let (handle, mut events) = PortMapper::start(config).unwrap();
        assert_eq!(
            events.recv().await,
            Some(NatEvent::Mapped {
                protocol: MappingProtocol::ExtIp,
                gateway: None,
                endpoint: ExternalEndpoint {
                    ip,
                    tcp_port: Some(30303),
                    udp_port: Some(30301)
                }
            })
        );
        assert_eq!(handle.endpoint().map(|e| e.ip), Some(ip));
        handle.shutdown().await;
        assert_eq!(events.recv().await, None);

        let (handle, mut events) =
            PortMapper::start(MapperConfig::new(NatMode::None, Some(30303), None)).unwrap();
        assert_eq!(events.recv().await, None);
        handle.shutdown().await;
    }

    #[tokio::test]
    async fn refuses_privileged_and_missing_ports() {
        let start =
            |tcp, udp| PortMapper::start(MapperConfig::new(NatMode::Any, tcp, udp)).map(|_| ());
        assert_eq!(
            start(Some(443), Some(30303)),
            Err(NatError::PrivilegedPort(443))
        );
        assert_eq!(start(None, None), Err(NatError::NoPorts));
    }
}

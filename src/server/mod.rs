//! The server: accepts and dials connections, runs the handshake and Hello, admits peers under
//! its limits, and runs each peer's session. Start one with [`Server::start`]; the returned
//! [`ServerHandle`] lists peers, adds and removes them, streams [`PeerEvent`]s and shuts down.

mod advertised;
mod candidate;
mod config;
mod dial_state;
mod dialer;
mod discovery;
mod dns;
mod events;
mod inbound_throttle;
mod listener;
#[cfg(feature = "nat")]
mod nat;
mod pending_handshakes;
mod setup;
mod sources;
mod start_error;
mod table;
mod tasks;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast, oneshot, watch};

pub use candidate::DialCandidate;
pub use config::{DiscoveryConfig, RecordFilter, ServerConfig};
pub use ethp2p_discovery::netutil::{Cidr, ParseCidrError, is_lan};
pub use events::{PeerEvent, Stats};
#[cfg(feature = "nat")]
pub use nat::NatConfig;
pub use setup::SetupError;
pub use sources::{NodeSender, NodeSlot, ServerStopped};
pub use start_error::StartError;

use crate::p2p::{Capability, DisconnectReason, Hello, PROTOCOL_VERSION, ProtocolSpec};
use crate::peer::EndCause;
use crate::protocol::PeerInfo;
use crate::rlpx::PeerId;
use crate::streams::{self, Allow, Stream, StreamError, StreamListener};
use crate::subscription::{Subscription, Subscriptions};
use dial_state::{DialLimits, DialState};
use ethp2p_discovery::Enode;
pub(crate) use events::Counters;
use pending_handshakes::PendingHandshakes;
use table::PeerTable;
use tasks::TaskGroup;

/// Mutable server state, behind one lock that is never held across an await.
struct State {
    peers: PeerTable,
    trusted: HashSet<PeerId>,
    /// Static peers, dials in progress, dial history and backoffs.
    dials: DialState,
    /// Inbound handshakes in progress, each with the sender that stops its task.
    pending: PendingHandshakes<oneshot::Sender<()>>,
    shutting_down: bool,
}

impl State {
    fn new(config: &ServerConfig) -> Self {
        State {
            peers: PeerTable::default(),
            trusted: HashSet::new(),
            dials: DialState::default(),
            pending: PendingHandshakes::new(config.max_pending),
            shutting_down: false,
        }
    }
}

pub(crate) struct Inner {
    config: ServerConfig,
    local_id: PeerId,
    /// Our advertised endpoints, one per family (our enode is the IPv4 one when there is
    /// one); they change when NAT or endpoint prediction learn better ones.
    advertised: Mutex<advertised::Advertised>,
    discv4: Option<ethp2p_discovery::v4::Discv4Handle>,
    discv5: Option<ethp2p_discovery::v5::Discv5Handle>,
    local_enr: Mutex<Option<ethp2p_discovery::Enr>>,
    /// What the port mapper reports, for [`ServerHandle::nat_events`].
    #[cfg(feature = "nat")]
    nat: nat::NatReports,
    local_hello: Hello,
    specs: Vec<ProtocolSpec>,
    state: Mutex<State>,
    events: broadcast::Sender<PeerEvent>,
    subscriptions: Arc<Subscriptions>,
    counters: Arc<Counters>,
    tasks: TaskGroup,
    /// Wakes the dialer when the peer set or the static list changes.
    dial_wakeup: Notify,
    /// Hands new node sources to the dialer.
    new_sources: tokio::sync::mpsc::UnboundedSender<sources::Source>,
    /// Wakes the listener when an inbound handshake ends and frees its slot.
    pending_released: Notify,
    /// Becomes true on shutdown; the listener and dialer stop.
    shutdown: watch::Sender<bool>,
    /// The byte stream registry, when streams are on.
    streams: Option<Arc<streams::Hub>>,
}

impl Inner {
    fn emit(&self, event: PeerEvent) {
        crate::metrics::event(&event);
        if matches!(event, PeerEvent::Added(_) | PeerEvent::Removed { .. }) {
            crate::metrics::peers(self.state.lock().peers.entries().map(|e| e.info.direction));
        }
        // No receiver is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }

    fn is_trusted(&self, id: &PeerId) -> bool {
        self.state.lock().trusted.contains(id)
    }

    fn dial_limits(&self) -> DialLimits {
        DialLimits {
            local_id: self.local_id,
            max_dialed: self.config.max_dialed(),
        }
    }

    /// A new source of dial candidates for the dialer.
    fn add_node_source(&self, name: &str) -> NodeSender {
        let (sender, source) = sources::source(name);
        // Fails only once the dialer stopped; the sender then reports `ServerStopped`.
        let _ = self.new_sources.send(source);
        sender
    }
}

/// Entry point: see [`Server::start`].
pub struct Server;

impl Server {
    /// Binds the listen address (if any), starts the listener and the dialer, and returns the
    /// handle. Static peers are dialed right away.
    pub async fn start(mut config: ServerConfig) -> Result<ServerHandle, StartError> {
        let streams = config.streams.clone().map(streams::Hub::new);
        if let Some(hub) = &streams {
            config.protocols.push(hub.protocol());
        }
        let local_id = PeerId::from_secret_key(&config.key);
        crate::metrics::peers(std::iter::empty());
        let listener = match config.listen_addr {
            Some(addr) => Some(
                ethp2p_discovery::netutil::bind_tcp(addr)
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            None => None,
        };
        let bound = listener.as_ref().and_then(|l| l.local_addr().ok());
        let mut enode_addr = bound.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
        if enode_addr.ip().is_unspecified() {
            // Without NAT or discovery we know no better address to advertise.
            enode_addr.set_ip(IpAddr::from([127, 0, 0, 1]));
        }
        let local_hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            client_id: config.client_id.clone(),
            capabilities: config
                .protocols
                .iter()
                .map(|p| Capability::new(p.name.clone(), p.version))
                .collect(),
            listen_port: bound.map_or(0, |addr| addr.port()),
            id: local_id.0,
        };
        let advertised = enode_addr;
        let started = match &config.discovery {
            Some(discovery) => discovery::start(&config, discovery, advertised, bound).await?,
            None => None,
        };
        let advertised = match &started {
            Some(started) => started.advertised.clone(),
            None => advertised::Advertised::new(
                advertised.ip(),
                advertised.port(),
                advertised.port(),
                false,
            ),
        };
        let local_enode = advertised.enode(local_id);
        #[cfg(feature = "nat")]
        let mapper = match nat::start(
            &config.nat,
            config.listen_addr,
            bound.map(|addr| addr.port()),
            started.as_ref().map(|_| local_enode.udp_port),
            local_enode,
        ) {
            Ok(mapper) => mapper,
            Err(error) => {
                if let Some(started) = &started {
                    started.shutdown().await;
                }
                return Err(StartError::Nat(error));
            }
        };
        let now = Instant::now();
        let mut state = State::new(&config);
        for enode in &config.trusted_peers {
            state.trusted.insert(enode.id);
        }
        for enode in &config.static_peers {
            state.dials.add_static(*enode, now);
        }
        let (new_sources, new_sources_rx) = tokio::sync::mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            specs: config.protocols.iter().map(|p| p.spec()).collect(),
            events: broadcast::channel(config.event_capacity.max(1)).0,
            advertised: Mutex::new(advertised),
            discv4: started.as_ref().and_then(|s| s.v4.clone()),
            discv5: started.as_ref().and_then(|s| s.v5.clone()),
            local_enr: Mutex::new(started.as_ref().map(|s| s.enr.clone())),
            #[cfg(feature = "nat")]
            nat: nat::NatReports::new(),
            config,
            local_id,
            local_hello,
            state: Mutex::new(state),
            subscriptions: Arc::default(),
            counters: Arc::default(),
            tasks: TaskGroup::new(tracing::info_span!("node", id = ?local_id)),
            dial_wakeup: Notify::new(),
            new_sources,
            pending_released: Notify::new(),
            shutdown: watch::channel(false).0,
            streams,
        });
        if let Some(listener) = listener {
            inner
                .tasks
                .spawn_service(listener::run(inner.clone(), listener));
        }
        inner
            .tasks
            .spawn_service(dialer::run(inner.clone(), new_sources_rx));
        if let Some(handle) = started.as_ref().and_then(|s| s.v4.clone()) {
            let source = inner.add_node_source("discv4");
            let feed = discovery::feed(inner.clone(), handle, source);
            inner.tasks.spawn(feed);
        }
        if let Some(handle) = started.as_ref().and_then(|s| s.v5.clone()) {
            let source = inner.add_node_source("discv5");
            let feed = discovery::feed_v5(inner.clone(), handle, source);
            inner.tasks.spawn(feed);
        }
        #[cfg(feature = "nat")]
        if let Some(mapper) = mapper {
            inner.tasks.spawn(nat::run(inner.clone(), mapper));
        }
        tracing::info!(enode = %local_enode, "server started");
        Ok(ServerHandle { inner })
    }
}

/// Controls a running server; cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<Inner>,
}

impl ServerHandle {
    /// Our `enode://` URL: the listen address, or 127.0.0.1 if listening on all interfaces.
    pub fn local_enode(&self) -> Enode {
        self.inner.advertised.lock().enode(self.inner.local_id)
    }

    /// Our node record, when discovery runs.
    pub fn local_enr(&self) -> Option<ethp2p_discovery::Enr> {
        self.inner.local_enr.lock().clone()
    }

    /// Advertises `ip` with these ports from now on as our endpoint of `ip`'s family (what a
    /// NAT mapping or `--nat extip:` grants): our record's `ip`/`tcp`/`udp` (IPv4) or
    /// `ip6`/`tcp6`/`udp6` (IPv6) take it, with the sequence number bumped once (persisted
    /// with the data directory), and discovery hands it out; our enode changes when it is its
    /// family. Endpoint predictions no longer override that family's endpoint; the other
    /// family's still follows its own predictions.
    pub async fn set_external_endpoint(&self, ip: IpAddr, tcp_port: u16, udp_port: u16) {
        discovery::pin_endpoint(&self.inner, ip, tcp_port, udp_port).await;
    }

    /// The port mapper's events ([`ServerConfig::nat`]), each sent once the endpoint it grants
    /// is advertised: the first call gets every event since start, later calls the events from
    /// then on. Nothing comes when no mapper runs (mode `none`, a loopback listen address).
    #[cfg(feature = "nat")]
    pub fn nat_events(&self) -> broadcast::Receiver<crate::nat::NatEvent> {
        self.inner.nat.subscribe()
    }

    /// The discv4 service, when it runs (for lookups, pings, its event stream).
    pub fn discv4(&self) -> Option<ethp2p_discovery::v4::Discv4Handle> {
        self.inner.discv4.clone()
    }

    /// The discv5 service, when it runs (for lookups, pings, TALKREQ protocols, its events).
    pub fn discv5(&self) -> Option<ethp2p_discovery::v5::Discv5Handle> {
        self.inner.discv5.clone()
    }

    /// Our node id.
    pub fn local_id(&self) -> PeerId {
        self.inner.local_id
    }

    /// The client id we send in Hello (go-ethereum's node "name").
    pub fn client_id(&self) -> &str {
        &self.inner.local_hello.client_id
    }

    /// The capabilities we announce in Hello, one per served protocol, in configuration order.
    pub fn capabilities(&self) -> &[Capability] {
        &self.inner.local_hello.capabilities
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<Arc<PeerInfo>> {
        self.inner
            .state
            .lock()
            .peers
            .entries()
            .map(|entry| entry.info.clone())
            .collect()
    }

    /// How many peers are connected.
    pub fn peer_count(&self) -> usize {
        self.inner.state.lock().peers.len()
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        let peers = self.peer_count();
        self.inner.counters.snapshot(peers)
    }

    /// A stream of peer events from now on.
    pub fn events(&self) -> broadcast::Receiver<PeerEvent> {
        self.inner.events.subscribe()
    }

    /// Makes `enode` a static peer: dialed now and redialed with backoff whenever it drops. An
    /// id that is not a public key cannot be dialed: it is not listed, and reported once as
    /// [`PeerEvent::HandshakeFailed`] with [`SetupError::InvalidNodeId`] (nothing is connected).
    pub fn add_peer(&self, enode: Enode) {
        self.inner
            .state
            .lock()
            .dials
            .add_static(enode, Instant::now());
        self.inner.dial_wakeup.notify_one();
    }

    /// A new source of dial candidates (a DNS list, a crawler's output, your own list): the
    /// dialer takes candidates from every source in turn while it has free dial slots, and
    /// skips the ones connected, being dialed, or dialed within the last 30 s. Discovery is one
    /// such source. The source ends when every clone of the sender is dropped.
    pub fn add_node_source(&self, name: &str) -> NodeSender {
        self.inner.add_node_source(name)
    }

    /// Forgets `id` as a static peer and disconnects it with "disconnect requested".
    pub fn remove_peer(&self, id: PeerId) {
        let mut state = self.inner.state.lock();
        state.dials.remove_static(&id);
        if let Some(entry) = state.peers.get(&id) {
            entry
                .end
                .end(EndCause::Requested(DisconnectReason::DisconnectRequested));
        }
    }

    /// Lets `id` in above every limit; if it is connected now, it stops counting against the
    /// peer limit at once (as go-ethereum's `admin_addTrustedPeer` does).
    pub fn add_trusted_peer(&self, id: PeerId) {
        self.set_trusted(id, true);
    }

    /// Undoes [`add_trusted_peer`](Self::add_trusted_peer) (or a configured trusted peer): `id`
    /// is admitted under the limits again, and counts against them if connected now. Does not
    /// disconnect it.
    pub fn remove_trusted_peer(&self, id: PeerId) {
        self.set_trusted(id, false);
    }

    fn set_trusted(&self, id: PeerId, trusted: bool) {
        let mut state = self.inner.state.lock();
        if trusted {
            state.trusted.insert(id);
        } else {
            state.trusted.remove(&id);
        }
        if let Some(entry) = state.peers.get_mut(&id) {
            entry.trusted = trusted;
        }
    }

    /// Whether `id` is a trusted peer now (configured or added, not removed since).
    pub fn is_trusted(&self, id: &PeerId) -> bool {
        self.inner.is_trusted(id)
    }

    /// Whether `id` is a static peer now (configured or added with
    /// [`add_peer`](Self::add_peer), not removed since): the dialer keeps it connected.
    pub fn is_static(&self, id: &PeerId) -> bool {
        self.inner.state.lock().dials.is_static(id)
    }

    /// Subscribes to messages of `(protocol, code)` from every peer, through a queue of
    /// `capacity` messages (see [`Subscription`]). Those messages no longer reach the protocol's
    /// handler while the subscription lives.
    pub fn subscribe(&self, protocol: &str, code: u64, capacity: usize) -> Subscription {
        self.inner.subscriptions.subscribe(protocol, code, capacity)
    }

    /// Opens a byte stream to `name` on a connected peer and waits until the peer accepts it
    /// (see [`crate::streams`]). Fails with [`StreamError::Refused`] when the peer has no
    /// listener for `name` or does not allow us, [`StreamError::NotConnected`] when it is not
    /// connected (dial it first with [`add_peer`](Self::add_peer)).
    pub async fn open_stream(&self, peer: PeerId, name: &str) -> Result<Stream, StreamError> {
        let hub = self.inner.streams.as_ref().ok_or(StreamError::Disabled)?;
        let link = self.stream_link(hub, peer).await?;
        hub.open(link, name).await
    }

    /// Asks a connected peer whether it would accept a stream to `name` from us, without
    /// opening one (its listener sees nothing): `Ok`, or the refusal
    /// [`open_stream`](Self::open_stream) would get. `ethp2p p2p forward` checks this up front.
    pub async fn probe_stream(&self, peer: PeerId, name: &str) -> Result<(), StreamError> {
        let hub = self.inner.streams.as_ref().ok_or(StreamError::Disabled)?;
        let link = self.stream_link(hub, peer).await?;
        hub.probe(link, name).await
    }

    /// The stream protocol's state for a connected peer, waiting for its handler to attach
    /// if it connected a moment ago.
    async fn stream_link(
        &self,
        hub: &streams::Hub,
        peer: PeerId,
    ) -> Result<Arc<streams::Link>, StreamError> {
        loop {
            if let Some(link) = hub.link(&peer) {
                return Ok(link);
            }
            let info = self
                .peers()
                .into_iter()
                .find(|info| info.id == peer)
                .ok_or(StreamError::NotConnected(peer))?;
            if !info
                .capabilities
                .iter()
                .any(|c| c.name == streams::PROTOCOL_NAME)
            {
                return Err(StreamError::Unsupported(peer));
            }
            // Connected a moment ago: its stream handler is starting. Check again once a
            // handler attaches (or after a while, in case the peer left meanwhile).
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(500), hub.wait_link(&peer))
                    .await;
        }
    }

    /// Listens for streams peers open to `name`; `allow` says which peers may. One listener
    /// per name at a time; dropping it stops listening.
    pub fn accept_streams(&self, name: &str, allow: Allow) -> Result<StreamListener, StreamError> {
        let hub = self.inner.streams.as_ref().ok_or(StreamError::Disabled)?;
        hub.listen(name, allow)
    }

    /// Disconnects every peer with "client quitting", stops listening and dialing, and waits
    /// until every connection task has ended and its socket is closed.
    pub async fn shutdown(&self) {
        {
            let mut state = self.inner.state.lock();
            state.shutting_down = true;
            for entry in state.peers.entries() {
                entry
                    .end
                    .end(EndCause::Requested(DisconnectReason::ClientQuitting));
            }
            for evict in state.pending.drain() {
                let _ = evict.send(());
            }
        }
        self.inner.shutdown.send_replace(true);
        if let Some(streams) = &self.inner.streams {
            streams.stop_listening();
        }
        self.inner.tasks.idle().await;
        tracing::info!("server stopped");
    }
}

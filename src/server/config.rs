//! Server settings and their defaults (aligned with go-ethereum unless noted).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secp256k1::SecretKey;

use crate::peer::PeerConfig;
use crate::protocol::Protocol;
use crate::rlpx::MAX_FRAME_SIZE;
use crate::streams::StreamConfig;
use ethp2p_discovery::netutil::Cidr;
use ethp2p_discovery::{Enode, Enr};

/// Everything a [`Server`](super::Server) needs. Build one with [`ServerConfig::new`] and adjust
/// the public fields.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The node key; its public key is the node id.
    pub key: SecretKey,
    /// TCP listen address (discovery's UDP too unless it names its own); port 0 picks a free
    /// port. `[::]` takes IPv4 and IPv6 on one port; any other address only itself. `None`
    /// runs a dial-only node.
    pub listen_addr: Option<SocketAddr>,
    /// Client id sent in Hello.
    pub client_id: String,
    /// Protocols served to matching peers.
    pub protocols: Vec<Protocol>,
    /// Connected peers at most, trusted peers not counted against it (go-ethereum: 50).
    pub max_peers: usize,
    /// At most `max_peers / dial_ratio` peers are ones we dialed; the rest is left for inbound
    /// (go-ethereum: 3).
    pub dial_ratio: usize,
    /// Inbound handshakes in progress at most; when full, the oldest is dropped to make room
    /// (go-ethereum: 50, and it stops accepting instead).
    pub max_pending: usize,
    /// Deadline for RLPx handshake plus Hello (go-ethereum: 5 s).
    pub handshake_timeout: Duration,
    /// Deadline for the TCP connect of a dial.
    pub dial_timeout: Duration,
    /// A non-LAN IP that connected to us is refused for this long (go-ethereum: 30 s).
    pub inbound_throttle: Duration,
    /// Peers we keep connected to, redialed with backoff.
    pub static_peers: Vec<Enode>,
    /// Peers allowed in above every limit (identified by id; also dialed if in `static_peers`).
    pub trusted_peers: Vec<Enode>,
    /// If set, only these ranges may connect or be dialed.
    pub net_restrict: Option<Vec<Cidr>>,
    /// Frames larger than this are refused before their body is read.
    pub max_frame_size: usize,
    /// Per-peer timing and queue limits.
    pub peer: PeerConfig,
    /// Capacity of the event stream; a receiver that falls further behind misses events.
    pub event_capacity: usize,
    /// Node discovery (discv4 and/or discv5); `None` turns it off.
    pub discovery: Option<DiscoveryConfig>,
    /// Where the node keeps its record (`enr`, so its sequence number survives restarts) and
    /// its node database (`nodes`). `None` keeps nothing on disk.
    pub data_dir: Option<PathBuf>,
    /// Byte streams over peers ([`crate::streams`]): when set, the node serves `stream/1`
    /// beside `protocols`, and [`open_stream`](super::ServerHandle::open_stream) and
    /// [`accept_streams`](super::ServerHandle::accept_streams) work. Off by default.
    pub streams: Option<StreamConfig>,
    /// Port mapping through the router (UPnP, NAT-PMP) or a known external IP, as
    /// go-ethereum's `--nat`: the granted endpoint is advertised in the enode and the record.
    /// Maps nothing by default. Feature `nat`.
    #[cfg(feature = "nat")]
    pub nat: super::NatConfig,
}

/// Settings of node discovery: discv4, discv5, or both on one UDP port (go-ethereum's
/// default, `--discovery.v4` and `--discovery.v5`).
#[derive(Debug, Clone)]
pub struct DiscoveryConfig {
    /// UDP address; `None` means the TCP listen address and port.
    pub udp_addr: Option<SocketAddr>,
    /// Nodes to bootstrap discv4 from. An `enode://` URL carries no signed record, which a
    /// discv5 handshake needs: when both protocols run, each is asked for its record over
    /// discv4 (ENRREQUEST), which then goes to discv5.
    pub bootnodes: Vec<Enode>,
    /// Nodes to bootstrap from, as records (`enr:` text): discv5 starts from them, and discv4
    /// from their endpoints too (go-ethereum's `--bootnodes` takes both forms for both).
    pub bootnode_records: Vec<Enr>,
    /// Run discv4 (on by default).
    pub v4: bool,
    /// Run discv5, on the same UDP port as discv4 when both run (off by default in the library,
    /// on in `ethp2p node` as in go-ethereum's command line).
    pub v5: bool,
    /// discv4 timing (go-ethereum's defaults).
    pub discv4: ethp2p_discovery::v4::Config,
    /// discv5 timing and session limits (go-ethereum's defaults); its bootnodes come from
    /// `bootnode_records`.
    pub discv5: ethp2p_discovery::v5::ServiceConfig,
    /// Extra entries of our record, key and raw RLP value: what a client announces about
    /// itself, such as its chain's `eth` entry
    /// ([`ForkId::eth_entry`](ethp2p_discovery::fork_id::ForkId::eth_entry)).
    pub record_entries: Vec<(String, Vec<u8>)>,
    /// Which discovered nodes become dial candidates, judged by their record: a client keeps
    /// only nodes of its own chain, for example by their `eth` entry's fork id
    /// ([`Enr::eth_fork_id`]). With a filter, discv4 nodes are asked for their record first
    /// (EIP-868, as go-ethereum does); a node that does not answer is not dialed. discv5 and
    /// DNS nodes come with their records. `None` (the default) dials every node found.
    pub record_filter: Option<RecordFilter>,
}

/// A caller's test of a discovered node's record; see [`DiscoveryConfig::record_filter`].
#[derive(Clone)]
pub struct RecordFilter(Arc<dyn Fn(&Enr) -> bool + Send + Sync>);

impl RecordFilter {
    /// A filter keeping the nodes whose record `keep` returns `true` for.
    pub fn new(keep: impl Fn(&Enr) -> bool + Send + Sync + 'static) -> Self {
        RecordFilter(Arc::new(keep))
    }

    /// Whether the node with this record may be dialed.
    pub fn keeps(&self, record: &Enr) -> bool {
        (self.0)(record)
    }
}

impl std::fmt::Debug for RecordFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordFilter(..)")
    }
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            udp_addr: None,
            bootnodes: Vec::new(),
            bootnode_records: Vec::new(),
            v4: true,
            v5: false,
            discv4: ethp2p_discovery::v4::Config::default(),
            discv5: ethp2p_discovery::v5::ServiceConfig::default(),
            record_entries: Vec::new(),
            record_filter: None,
        }
    }
}

impl ServerConfig {
    /// Defaults for everything but the key: listens on `[::]:30303` (both families).
    pub fn new(key: SecretKey) -> Self {
        ServerConfig {
            key,
            listen_addr: Some(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 30303))),
            client_id: format!("ethp2p/v{}", env!("CARGO_PKG_VERSION")),
            protocols: Vec::new(),
            max_peers: 50,
            dial_ratio: 3,
            max_pending: 50,
            handshake_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(15),
            inbound_throttle: Duration::from_secs(30),
            static_peers: Vec::new(),
            trusted_peers: Vec::new(),
            net_restrict: None,
            max_frame_size: MAX_FRAME_SIZE,
            peer: PeerConfig::default(),
            event_capacity: 1024,
            discovery: None,
            data_dir: None,
            streams: None,
            #[cfg(feature = "nat")]
            nat: super::NatConfig::default(),
        }
    }

    /// Peers we may have dialed at once.
    pub fn max_dialed(&self) -> usize {
        self.max_peers / self.dial_ratio.max(1)
    }

    /// Inbound peers at most: what the dial share leaves.
    pub fn max_inbound(&self) -> usize {
        self.max_peers - self.max_dialed()
    }

    pub(crate) fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.net_restrict
            .as_ref()
            .is_none_or(|ranges| ranges.iter().any(|range| range.contains(ip)))
    }
}

//! `ethp2p node`: runs one node until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use ethp2p::server::DiscoveryConfig;
use ethp2p::{PeerEvent, Server, ServerConfig};
use ethp2p_discovery::dns::{ClientConfig, LinkEntry};
use ethp2p_discovery::netutil::Cidr;
use ethp2p_discovery::{Enode, Enr};
use tokio::sync::broadcast::error::RecvError;

use super::demo::{counting_protocol, demo_protocol, parse_capability};
use super::json::JsonObject;
use super::keys;

/// Options of `ethp2p node`.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// File with the node key (go-ethereum `nodekey` format); a new key is generated if neither
    /// this nor --nodekeyhex is given.
    #[arg(long, conflicts_with = "nodekeyhex")]
    nodekey: Option<std::path::PathBuf>,
    /// The node key as hex.
    #[arg(long)]
    nodekeyhex: Option<String>,
    /// TCP listen address (and UDP, unless --discport says otherwise). The default `[::]`
    /// takes IPv4 and IPv6 on one port, as go-ethereum's `:30303`; any other address means
    /// exactly that address (`0.0.0.0:30303` for IPv4 only).
    #[arg(long, default_value = "[::]:30303")]
    addr: SocketAddr,
    /// Extra capabilities to serve with a handler that counts and discards messages:
    /// name/version[:message-count], comma separated (e.g. eth/68,snap/1).
    #[arg(long, value_delimiter = ',')]
    caps: Vec<String>,
    /// Static peers (enode URLs, comma separated), kept connected.
    #[arg(long = "static", value_delimiter = ',')]
    static_peers: Vec<Enode>,
    /// Trusted peers (enode URLs), allowed in above the peer limit.
    #[arg(long, value_delimiter = ',')]
    trusted: Vec<Enode>,
    /// Maximum number of peers.
    #[arg(long, default_value_t = 50)]
    maxpeers: usize,
    /// Connect to, dial and discover only nodes in these ranges (CIDR, comma separated, IPv4
    /// or IPv6: `10.0.0.0/8,fd00::/8`), as go-ethereum's --netrestrict; an IPv4 peer on the
    /// dual-stack socket is matched against the IPv4 ranges.
    #[arg(long, value_delimiter = ',')]
    netrestrict: Vec<Cidr>,
    /// Nodes to bootstrap discovery from, comma separated, as go-ethereum's --bootnodes:
    /// `enr:` records serve discv5 and discv4; for an `enode://` URL discv5 gets the record
    /// by asking the node over discv4 (a discv5 handshake needs it), so with discv4 off only
    /// records serve.
    #[arg(long, value_delimiter = ',')]
    bootnodes: Vec<Bootnode>,
    /// Turn node discovery off, discv4, discv5 and DNS lists alike (only static peers and
    /// inbound connections).
    #[arg(long)]
    nodiscover: bool,
    /// Run discv4 (`--discovery.v4=false` with `--discovery.v5=false` keeps DNS lists and
    /// static peers only).
    #[arg(long = "discovery.v4", visible_alias = "discv4", default_value_t = true, action = clap::ArgAction::Set)]
    discovery_v4: bool,
    /// Run discv5, on the same UDP port as discv4 (on by default, as in go-ethereum).
    #[arg(long = "discovery.v5", visible_alias = "discv5", default_value_t = true, action = clap::ArgAction::Set)]
    discovery_v5: bool,
    /// DNS node lists to dial from (EIP-1459 `enrtree://KEY@domain` URLs, comma separated).
    #[arg(long = "discovery.dns", value_delimiter = ',')]
    discovery_dns: Vec<LinkEntry>,
    /// The DNS server (ip:port) for `--discovery.dns` lookups; the system's resolver by default.
    #[arg(long = "discovery.dns.server")]
    dns_server: Option<SocketAddr>,
    /// UDP port for discovery; the TCP port by default.
    #[arg(long)]
    discport: Option<u16>,
    /// Directory for the node record (its sequence number survives restarts) and the node
    /// database. Nothing is kept on disk without it.
    #[arg(long)]
    datadir: Option<std::path::PathBuf>,
    /// Print one JSON object per event line instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    nat: super::nat::NatArgs,
    #[command(flatten)]
    metrics: super::metrics_http::MetricsArgs,
    #[command(flatten)]
    rpc: super::rpc::RpcArgs,
}

/// A bootnode as go-ethereum's --bootnodes takes it: an `enr:` record or an `enode://` URL.
#[derive(Debug, Clone)]
pub enum Bootnode {
    /// `enode://…`
    Enode(Enode),
    /// `enr:…` (boxed: a record is large next to an enode).
    Enr(Box<Enr>),
}

impl std::str::FromStr for Bootnode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with("enr:") {
            let enr = text.parse::<Enr>().map_err(|e| format!("{text}: {e}"))?;
            Ok(Bootnode::Enr(Box::new(enr)))
        } else {
            let enode = text.parse::<Enode>().map_err(|e| format!("{text}: {e}"))?;
            Ok(Bootnode::Enode(enode))
        }
    }
}

/// Key from the flags, or a fresh one.
pub fn key_from(
    nodekey: Option<&std::path::Path>,
    nodekeyhex: Option<&str>,
) -> Result<secp256k1::SecretKey, String> {
    match (nodekey, nodekeyhex) {
        (Some(path), _) => keys::load(path),
        (None, Some(hex_key)) => keys::parse_key(hex_key),
        (None, None) => Ok(ethp2p::rlpx::random_secret_key(&mut rand::make_rng::<
            rand::rngs::StdRng,
        >())),
    }
}

pub async fn run(args: NodeArgs) -> Result<(), String> {
    let key = key_from(args.nodekey.as_deref(), args.nodekeyhex.as_deref())?;
    if let Some(addr) = args.metrics.start().await? {
        eprintln!("metrics: http://{addr}/metrics");
    }
    let mut config = ServerConfig::new(key);
    config.listen_addr = Some(args.addr);
    config.max_peers = args.maxpeers;
    config.static_peers = args.static_peers;
    config.trusted_peers = args.trusted;
    config.net_restrict = (!args.netrestrict.is_empty()).then_some(args.netrestrict);
    if !args.nodiscover && (args.discovery_v4 || args.discovery_v5) {
        let udp_addr = args
            .discport
            .map(|port| SocketAddr::new(args.addr.ip(), port));
        let mut discovery = DiscoveryConfig {
            udp_addr,
            v4: args.discovery_v4,
            v5: args.discovery_v5,
            ..DiscoveryConfig::default()
        };
        for bootnode in args.bootnodes {
            match bootnode {
                Bootnode::Enode(enode) => discovery.bootnodes.push(enode),
                Bootnode::Enr(enr) => discovery.bootnode_records.push(*enr),
            }
        }
        config.discovery = Some(discovery);
    }
    if let Some(dir) = &args.datadir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    config.data_dir = args.datadir.clone();
    config.nat = args.nat.config();
    config.protocols.push(demo_protocol(Duration::from_secs(1)));
    // Byte streams for `ethp2p p2p` (served as `stream/1`).
    config.streams = Some(ethp2p::streams::StreamConfig::default());
    let received = Arc::new(AtomicU64::new(0));
    for text in &args.caps {
        let (capability, length) = parse_capability(text)?;
        config
            .protocols
            .push(counting_protocol(&capability, length, received.clone()));
    }
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    // Before anything is dialed from the DNS lists: their first peers must be reported too.
    let mut events = server.events();
    let mut nat_events = server.nat_events();
    if !args.nodiscover && !args.discovery_dns.is_empty() {
        let resolver = super::dns::resolver(args.dns_server).await?;
        server.add_dns_discovery(resolver, &args.discovery_dns, ClientConfig::default());
    }
    println!("{}", server.local_enode());
    if let Some(enr) = server.local_enr() {
        eprintln!("node record: {enr}");
    }
    let (rpc, ipc_path, http_addr) = match super::rpc::Rpc::start(
        &args.rpc,
        &server,
        args.addr,
        args.datadir.as_deref(),
    )
    .await
    {
        Ok(started) => started,
        Err(error) => {
            server.shutdown().await;
            return Err(error);
        }
    };
    if let Some(path) = ipc_path {
        eprintln!("control socket: {}", path.display());
    }
    if let Some(addr) = http_addr {
        eprintln!("control http: http://{addr}");
    }

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = events.recv() => match event {
                Ok(event) => print_event(&event, args.json),
                Err(RecvError::Lagged(missed)) => eprintln!("event stream lagged: {missed} events missed"),
                Err(RecvError::Closed) => break,
            },
            event = nat_events.recv() => match event {
                Ok(event) => super::nat::print(&event, server.local_enode(), args.json),
                Err(RecvError::Lagged(missed)) => eprintln!("nat event stream lagged: {missed} events missed"),
                // The server holds the sender until it is dropped, after this loop.
                Err(RecvError::Closed) => break,
            },
        }
    }
    rpc.stop().await;
    // Deletes the NAT mappings too.
    server.shutdown().await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

fn reason(reason: Option<ethp2p::p2p::DisconnectReason>) -> Option<String> {
    reason.map(|r| r.to_string())
}

/// One line per event, text or JSON.
pub fn print_event(event: &PeerEvent, json: bool) {
    let line = match event {
        PeerEvent::Added(info) => {
            let caps: Vec<String> = info
                .capabilities
                .iter()
                .map(|c| c.capability().to_string())
                .collect();
            if json {
                JsonObject::default()
                    .str("event", "peer_added")
                    .str("id", &info.id.to_string())
                    .str("addr", &info.remote_addr.to_string())
                    .str("direction", &format!("{:?}", info.direction).to_lowercase())
                    .str("client_id", &info.client_id)
                    .strs("caps", caps.iter().map(String::as_str))
                    .finish()
            } else {
                format!(
                    "peer added   {} {} {:?} {:?} caps {}",
                    info.id,
                    info.remote_addr,
                    info.direction,
                    info.client_id,
                    caps.join(",")
                )
            }
        }
        PeerEvent::Removed { info, end } => {
            let initiator = if end.initiated_by_remote() {
                "remote"
            } else {
                "local"
            };
            if json {
                JsonObject::default()
                    .str("event", "peer_removed")
                    .str("id", &info.id.to_string())
                    .str("addr", &info.remote_addr.to_string())
                    .str("cause", &end.cause.to_string())
                    .opt_str("sent", reason(end.sent).as_deref())
                    .opt_str("received", reason(end.received).as_deref())
                    .str("initiated_by", initiator)
                    .finish()
            } else {
                format!(
                    "peer removed {} {}: {} (sent {:?}, received {:?}, initiated by {initiator})",
                    info.id,
                    info.remote_addr,
                    end.cause,
                    reason(end.sent),
                    reason(end.received)
                )
            }
        }
        PeerEvent::HandshakeFailed {
            remote_addr,
            direction,
            id,
            sent,
            error,
        } => {
            if json {
                JsonObject::default()
                    .str("event", "handshake_failed")
                    .str("addr", &remote_addr.to_string())
                    .str("direction", &format!("{direction:?}").to_lowercase())
                    .opt_str("id", id.map(|id| id.to_string()).as_deref())
                    .opt_str("sent", reason(*sent).as_deref())
                    .str("error", &error.to_string())
                    .finish()
            } else {
                format!("handshake failed {remote_addr} {direction:?}: {error}")
            }
        }
        PeerEvent::DuplicateClosed {
            remote_addr,
            direction,
            id,
            sent,
        } => {
            if json {
                JsonObject::default()
                    .str("event", "duplicate_closed")
                    .str("addr", &remote_addr.to_string())
                    .str("direction", &format!("{direction:?}").to_lowercase())
                    .opt_str("id", id.map(|id| id.to_string()).as_deref())
                    .opt_str("sent", reason(*sent).as_deref())
                    .finish()
            } else {
                format!("duplicate connection closed {remote_addr} {direction:?}")
            }
        }
    };
    println!("{line}");
}

#[cfg(test)]
mod tests {
    use super::{Bootnode, NodeArgs};
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn netrestrict_takes_both_families() {
        let parse = |flags: &[&str]| {
            Flags::try_parse_from(std::iter::once("node").chain(flags.iter().copied()))
                .map(|flags| flags.node.netrestrict)
        };
        let ranges = parse(&["--netrestrict", "10.0.0.0/8,fd00::/8,::1/128"]).unwrap();
        let shown: Vec<String> = ranges.iter().map(|r| r.to_string()).collect();
        assert_eq!(shown, ["10.0.0.0/8", "fd00::/8", "::1/128"]);
        assert!(ranges[1].contains("fd12::1".parse().unwrap()));
        assert!(ranges[2].contains("::1".parse().unwrap()));
        assert!(ranges[0].contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(parse(&[]).unwrap().is_empty(), "none: no restriction");
        assert!(parse(&["--netrestrict", "fd00::/200"]).is_err());
        assert!(parse(&["--netrestrict", "[fd00::]/8"]).is_err());
    }

    #[test]
    fn bootnodes_take_records_and_enode_urls() {
        let key = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
        let enr = ethp2p_discovery::Enr::builder()
            .ip4(std::net::Ipv4Addr::LOCALHOST)
            .udp4(30303)
            .build(&key)
            .unwrap();
        let Ok(Bootnode::Enr(parsed)) = format!(" {enr} ").parse::<Bootnode>() else {
            panic!("an enr: record is a record");
        };
        assert_eq!(*parsed, enr);
        let enode = enr.to_enode().unwrap().to_string();
        assert!(
            matches!(enode.parse::<Bootnode>(), Ok(Bootnode::Enode(e)) if e.id == enr.peer_id())
        );
        assert!("enr:-broken".parse::<Bootnode>().is_err());
        assert!("127.0.0.1:30303".parse::<Bootnode>().is_err());
    }
}

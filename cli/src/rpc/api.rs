//! go-ethereum's `admin` and `rpc` methods over a [`ServerHandle`], with go-ethereum's JSON
//! shapes (`p2p/server.go` `NodeInfo`, `p2p/peer.go` `PeerInfo` and `PeerEvent`,
//! `node/api.go`), so that its console (`geth attach`) and tools built on it work unchanged.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use ethp2p::peer::EndCause;
use ethp2p::{PeerEvent, PeerInfo, ServerHandle};
use ethp2p_discovery::{Enode, Enr, NodeId};
use jsonrpsee::RpcModule;
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use serde::Serialize;

/// go-ethereum's code for an error returned by a method (not a protocol error).
pub const SERVER_ERROR: i32 = -32000;
/// go-ethereum's code for a subscription on a transport without notifications (HTTP), and for
/// an unknown subscription name.
pub const NOT_SUPPORTED: i32 = -32601;

/// What the methods read: the node, and what the command line knows about how it listens.
pub struct Api {
    /// The running node.
    pub server: ServerHandle,
    /// The configured TCP listen address (go-ethereum's `listenAddr`); its port is replaced by
    /// the bound one when it was 0.
    pub listen_addr: SocketAddr,
    /// `ethp2p p2p`'s listeners and forwards.
    pub p2p: std::sync::Arc<crate::p2p::Registry>,
}

/// `admin_nodeInfo`.
#[derive(Clone, Serialize)]
struct NodeInfo {
    id: String,
    name: String,
    enode: String,
    enr: String,
    ip: String,
    ports: Ports,
    #[serde(rename = "listenAddr")]
    listen_addr: String,
    protocols: BTreeMap<String, &'static str>,
}

#[derive(Clone, Serialize)]
struct Ports {
    discovery: u16,
    listener: u16,
}

/// One entry of `admin_peers`.
#[derive(Clone, Serialize)]
struct PeerEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    enr: Option<String>,
    enode: String,
    id: String,
    name: String,
    caps: Vec<String>,
    network: Network,
    protocols: BTreeMap<String, &'static str>,
}

#[derive(Clone, Serialize)]
struct Network {
    #[serde(rename = "localAddress")]
    local_address: String,
    #[serde(rename = "remoteAddress")]
    remote_address: String,
    inbound: bool,
    trusted: bool,
    #[serde(rename = "static")]
    static_: bool,
}

/// A notification of `admin_subscribe("peerEvents")`.
#[derive(Clone, Serialize)]
pub struct PeerEventJson {
    #[serde(rename = "type")]
    kind: &'static str,
    peer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<String>,
}

impl PeerEventJson {
    /// go-ethereum's event for a peer added or dropped; `None` for connections that never
    /// became peers (go-ethereum reports none of those either).
    pub fn from_event(event: &PeerEvent) -> Option<Self> {
        let (kind, info, error) = match event {
            PeerEvent::Added(info) => ("add", info, None),
            PeerEvent::Removed { info, end } => ("drop", info, Some(drop_error(&end.cause))),
            PeerEvent::HandshakeFailed { .. } | PeerEvent::DuplicateClosed { .. } => return None,
        };
        Some(PeerEventJson {
            kind,
            peer: NodeId::from_peer_id(&info.id).to_string(),
            error,
            local: info.local_addr.map(|a| a.to_string()),
            remote: Some(info.remote_addr.to_string()),
        })
    }
}

/// A drop's `error` as go-ethereum words it: the Disconnect reason alone when one side asked,
/// what went wrong otherwise.
fn drop_error(cause: &EndCause) -> String {
    match cause {
        EndCause::Requested(reason) | EndCause::RemoteDisconnect(Some(reason)) => {
            reason.to_string()
        }
        other => other.to_string(),
    }
}

/// "unknown" per protocol: what go-ethereum reports for a protocol without its own info hook.
fn protocol_map<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<String, &'static str> {
    names.map(|name| (name.to_owned(), "unknown")).collect()
}

fn node_info(api: &Api) -> NodeInfo {
    let server = &api.server;
    let enode = server.local_enode();
    let mut listen_addr = api.listen_addr;
    if listen_addr.port() == 0 {
        listen_addr.set_port(enode.tcp_port);
    }
    NodeInfo {
        id: NodeId::from_peer_id(&enode.id).to_string(),
        name: server.client_id().to_owned(),
        enode: enode.to_string(),
        enr: server
            .local_enr()
            .map(|r| r.to_string())
            .unwrap_or_default(),
        ip: enode.ip.to_string(),
        ports: Ports {
            discovery: enode.udp_port,
            listener: enode.tcp_port,
        },
        listen_addr: listen_addr.to_string(),
        protocols: protocol_map(server.capabilities().iter().map(|c| c.name.as_str())),
    }
}

fn peer_entry(server: &ServerHandle, info: &PeerInfo) -> PeerEntry {
    let remote = info.remote_addr;
    let enode = Enode {
        id: info.id,
        ip: remote.ip(),
        tcp_port: remote.port(),
        udp_port: remote.port(),
    };
    PeerEntry {
        enr: None,
        enode: enode.to_string(),
        id: NodeId::from_peer_id(&info.id).to_string(),
        name: info.client_id.clone(),
        caps: info
            .remote_capabilities
            .iter()
            .map(|c| c.to_string())
            .collect(),
        network: Network {
            local_address: info.local_addr.map(|a| a.to_string()).unwrap_or_default(),
            remote_address: remote.to_string(),
            inbound: info.direction == ethp2p::Direction::Inbound,
            trusted: server.is_trusted(&info.id),
            static_: server.is_static(&info.id),
        },
        protocols: protocol_map(info.capabilities.iter().map(|c| c.name.as_str())),
    }
}

/// The peers sorted by node id, as go-ethereum sorts them.
fn peers(server: &ServerHandle) -> Vec<PeerEntry> {
    let mut entries: Vec<PeerEntry> = server
        .peers()
        .iter()
        .map(|info| peer_entry(server, info))
        .collect();
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries
}

/// The node a URL parameter names: an `enode://` URL, or an `enr:` record with an endpoint
/// (go-ethereum accepts both). A bad one is go-ethereum's "invalid enode" error.
fn parse_node(params: Params) -> Result<Enode, ErrorObjectOwned> {
    let url: String = params.one()?;
    let invalid =
        |why: String| ErrorObject::owned(SERVER_ERROR, format!("invalid enode: {why}"), None::<()>);
    if url.starts_with("enr:") {
        let record: Enr = url.parse().map_err(|e| invalid(format!("{e}")))?;
        record
            .to_enode()
            .ok_or_else(|| invalid("the record has no IP address".into()))
    } else {
        url.parse().map_err(|e| invalid(format!("{e}")))
    }
}

/// The methods every transport serves. Subscriptions need a connection to notify, so each
/// transport adds its own `admin_subscribe` / `admin_unsubscribe`.
pub fn methods(api: Api) -> RpcModule<Api> {
    let mut module = RpcModule::new(api);
    // Names are distinct constants: registration cannot fail.
    let register = "distinct method names";
    module
        .register_method("rpc_modules", |_, _, _| {
            Ok::<_, ErrorObjectOwned>(BTreeMap::from([
                ("admin", "1.0"),
                ("p2p", "1.0"),
                ("rpc", "1.0"),
            ]))
        })
        .expect(register);
    module
        .register_method("admin_nodeInfo", |_, api, _| {
            Ok::<_, ErrorObjectOwned>(node_info(api))
        })
        .expect(register);
    module
        .register_method("admin_peers", |_, api, _| peers(&api.server))
        .expect(register);
    module
        .register_method("admin_addPeer", |params, api, _| {
            api.server.add_peer(parse_node(params)?);
            Ok::<_, ErrorObjectOwned>(true)
        })
        .expect(register);
    module
        .register_method("admin_removePeer", |params, api, _| {
            api.server.remove_peer(parse_node(params)?.id);
            Ok::<_, ErrorObjectOwned>(true)
        })
        .expect(register);
    module
        .register_method("admin_addTrustedPeer", |params, api, _| {
            api.server.add_trusted_peer(parse_node(params)?.id);
            Ok::<_, ErrorObjectOwned>(true)
        })
        .expect(register);
    module
        .register_method("admin_removeTrustedPeer", |params, api, _| {
            api.server.remove_trusted_peer(parse_node(params)?.id);
            Ok::<_, ErrorObjectOwned>(true)
        })
        .expect(register);
    register_p2p(&mut module);
    module
}

fn server_error(message: String) -> ErrorObjectOwned {
    ErrorObject::owned(SERVER_ERROR, message, None::<()>)
}

/// `ethp2p p2p`'s methods: listen, forward, ls, close (the registry is in the node).
fn register_p2p(module: &mut RpcModule<Api>) {
    let register = "distinct method names";
    module
        .register_method("p2p_listen", |params, api, _| {
            let (name, target, allow): (String, SocketAddr, Option<Vec<String>>) =
                params.parse()?;
            let allow = allow
                .unwrap_or_default()
                .iter()
                .map(|url| url.parse::<Enode>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| server_error(format!("invalid enode in the allow list: {e}")))?;
            api.p2p
                .listen(&name, target, &allow)
                .map_err(server_error)?;
            Ok::<_, ErrorObjectOwned>(true)
        })
        .expect(register);
    module
        .register_async_method("p2p_forward", |params, api, _| async move {
            let (name, listen, enode): (String, SocketAddr, String) = params.parse()?;
            let enode: Enode = enode
                .parse()
                .map_err(|e| server_error(format!("invalid enode: {e}")))?;
            let bound = api
                .p2p
                .forward(&name, listen, enode)
                .await
                .map_err(server_error)?;
            Ok::<_, ErrorObjectOwned>(bound.to_string())
        })
        .expect(register);
    module
        .register_method("p2p_ls", |_, api, _| {
            Ok::<_, ErrorObjectOwned>(api.p2p.list())
        })
        .expect(register);
    module
        .register_method("p2p_close", |params, api, _| {
            let filter: crate::p2p::CloseFilter = params.one()?;
            Ok::<_, ErrorObjectOwned>(api.p2p.close(&filter))
        })
        .expect(register);
}

/// The one subscription the `admin` namespace has, by go-ethereum's name.
pub const PEER_EVENTS: &str = "peerEvents";

/// Checks `admin_subscribe`'s parameters: exactly `["peerEvents"]`.
pub fn subscription_name(params: &Params) -> Result<(), ErrorObjectOwned> {
    let name: String = params.one()?;
    if name == PEER_EVENTS {
        Ok(())
    } else {
        Err(ErrorObject::owned(
            NOT_SUPPORTED,
            format!("no \"{name}\" subscription in admin namespace"),
            None::<()>,
        ))
    }
}

//! `ethp2p p2p`: IPFS's `ipfs p2p` over devp2p byte streams ([`ethp2p::streams`]). The
//! registries of listeners (peers' streams for a name go to a local TCP target) and forwards
//! (local TCP connections go to a peer's name) live in the running node, behind its control
//! API (`p2p_listen`, `p2p_forward`, `p2p_ls`, `p2p_close`); the subcommands are its clients
//! over `<datadir>/ethp2p.ipc`, so what they set up outlives them.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ethp2p::streams::{Allow, Stream, StreamError};
use ethp2p::{PeerEvent, PeerId, ServerHandle};
use ethp2p_discovery::{Enode, NodeId};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long `forward` waits for a peer it has to dial (IPFS's dial timeout).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes and connections through one registry entry.
#[derive(Default)]
struct Counters {
    /// From the peer to the local side.
    bytes_in: AtomicU64,
    /// From the local side to the peer.
    bytes_out: AtomicU64,
    connections: AtomicU64,
}

struct Entry {
    kind: &'static str,
    name: String,
    /// Where connections come from: the forward's local address, or "/p2p/<peer>" for a listener.
    listen: String,
    /// Where they go: the listener's TCP target, or the forward's peer.
    target: String,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

/// One line of `p2p_ls`.
#[derive(Clone, Serialize)]
pub struct EntryJson {
    kind: &'static str,
    protocol: String,
    #[serde(rename = "listenAddress")]
    listen: String,
    #[serde(rename = "targetAddress")]
    target: String,
    connections: u64,
    #[serde(rename = "bytesIn")]
    bytes_in: u64,
    #[serde(rename = "bytesOut")]
    bytes_out: u64,
}

/// The node's listeners and forwards.
pub struct Registry {
    server: ServerHandle,
    entries: Mutex<Vec<Entry>>,
}

impl Registry {
    /// An empty registry for the node.
    pub fn new(server: ServerHandle) -> Arc<Self> {
        Arc::new(Registry {
            server,
            entries: Mutex::default(),
        })
    }

    /// Sends peers' streams for `name` to `target`; only `allow` (all peers if empty).
    pub fn listen(&self, name: &str, target: SocketAddr, allow: &[Enode]) -> Result<(), String> {
        let allow = if allow.is_empty() {
            Allow::All
        } else {
            Allow::Only(allow.iter().map(|e| e.id).collect::<HashSet<_>>())
        };
        let mut listener = self
            .server
            .accept_streams(name, allow)
            .map_err(|e| e.to_string())?;
        let counters = Arc::new(Counters::default());
        let count = counters.clone();
        let task = tokio::spawn(async move {
            while let Some((peer, stream)) = listener.accept().await {
                let counters = count.clone();
                tokio::spawn(async move {
                    match TcpStream::connect(target).await {
                        Ok(tcp) => {
                            counters.connections.fetch_add(1, Ordering::Relaxed);
                            splice(stream, tcp, &counters).await;
                        }
                        Err(error) => {
                            tracing::warn!(%peer, %target, %error, "cannot reach the target");
                            stream.reset();
                        }
                    }
                });
            }
        });
        self.entries.lock().push(Entry {
            kind: "listen",
            name: name.to_owned(),
            listen: format!("/p2p/{}", NodeId::from_peer_id(&self.server.local_id())),
            target: target.to_string(),
            counters,
            task,
        });
        Ok(())
    }

    /// Accepts local connections on `listen` and carries each over a stream to `name` on
    /// `peer`, dialing it first if needed; asks once (a probe) that the peer takes such streams
    /// from us. Returns the bound address.
    pub async fn forward(
        &self,
        name: &str,
        listen: SocketAddr,
        peer: Enode,
    ) -> Result<SocketAddr, String> {
        connect(&self.server, peer).await?;
        // Turns "no listener" or "not allowed" into an answer now rather than a dropped
        // connection later; the remote's service sees nothing.
        self.server
            .probe_stream(peer.id, name)
            .await
            .map_err(|e| explain(e, name))?;
        let tcp = TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let bound = tcp.local_addr().map_err(|e| e.to_string())?;
        let counters = Arc::new(Counters::default());
        let count = counters.clone();
        let server = self.server.clone();
        let protocol = name.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((local, from)) = tcp.accept().await {
                let (server, counters, protocol) =
                    (server.clone(), count.clone(), protocol.clone());
                tokio::spawn(async move {
                    match server.open_stream(peer.id, &protocol).await {
                        Ok(stream) => {
                            counters.connections.fetch_add(1, Ordering::Relaxed);
                            splice(stream, local, &counters).await;
                        }
                        Err(error) => {
                            tracing::warn!(%from, error = %explain(error, &protocol), "forward failed")
                        }
                    }
                });
            }
        });
        self.entries.lock().push(Entry {
            kind: "forward",
            name: name.to_owned(),
            listen: bound.to_string(),
            target: peer.to_string(),
            counters,
            task,
        });
        Ok(bound)
    }

    /// Every entry with its counters.
    pub fn list(&self) -> Vec<EntryJson> {
        self.entries
            .lock()
            .iter()
            .map(|e| EntryJson {
                kind: e.kind,
                protocol: e.name.clone(),
                listen: e.listen.clone(),
                target: e.target.clone(),
                connections: e.counters.connections.load(Ordering::Relaxed),
                bytes_in: e.counters.bytes_in.load(Ordering::Relaxed),
                bytes_out: e.counters.bytes_out.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Closes the entries matching every given field (all of them with `all`); how many.
    pub fn close(&self, filter: &CloseFilter) -> usize {
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|e| {
            let hit = filter.all
                || ((filter.name.is_some() || filter.listen.is_some() || filter.target.is_some())
                    && filter.name.as_ref().is_none_or(|n| *n == e.name)
                    && filter.listen.as_ref().is_none_or(|l| *l == e.listen)
                    && filter.target.as_ref().is_none_or(|t| *t == e.target));
            if hit {
                // Ends the accept loop; its listener (TCP or stream) goes with it.
                e.task.abort();
            }
            !hit
        });
        before - entries.len()
    }
}

/// What `p2p close` matches on.
#[derive(Debug, Default, serde::Deserialize, clap::Args)]
pub struct CloseFilter {
    /// Close the entries with this protocol name.
    #[arg(long)]
    #[serde(default)]
    name: Option<String>,
    /// Close the entries with this listen address (a forward's local address).
    #[arg(long)]
    #[serde(default)]
    listen: Option<String>,
    /// Close the entries with this target (a listener's TCP address, a forward's enode).
    #[arg(long)]
    #[serde(default)]
    target: Option<String>,
    /// Close everything.
    #[arg(long, short)]
    #[serde(default)]
    all: bool,
}

/// The error a forward reports, in the words a user needs.
fn explain(error: StreamError, name: &str) -> String {
    match error {
        StreamError::Refused(reason) => format!("the peer refused a stream for {name:?}: {reason}"),
        other => other.to_string(),
    }
}

/// Connects to `peer` unless it is connected; waits at most [`DIAL_TIMEOUT`].
async fn connect(server: &ServerHandle, peer: Enode) -> Result<(), String> {
    let mut events = server.events();
    if server.peers().iter().any(|p| p.id == peer.id) {
        return Ok(());
    }
    server.add_peer(peer);
    let id: PeerId = peer.id;
    let added = async {
        loop {
            match events.recv().await {
                Ok(PeerEvent::Added(info)) if info.id == id => return true,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if server.peers().iter().any(|p| p.id == id) {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    };
    match tokio::time::timeout(DIAL_TIMEOUT, added).await {
        Ok(true) => Ok(()),
        _ => {
            server.remove_peer(id);
            Err(format!(
                "cannot connect to {peer} within {} s",
                DIAL_TIMEOUT.as_secs()
            ))
        }
    }
}

/// Copies both ways between a stream and a TCP connection, counting, until both ends closed
/// (or one fails).
async fn splice(stream: Stream, tcp: TcpStream, counters: &Counters) {
    let (stream_read, stream_write) = tokio::io::split(stream);
    let (tcp_read, tcp_write) = tcp.into_split();
    let inbound = copy_counted(stream_read, tcp_write, &counters.bytes_in);
    let outbound = copy_counted(tcp_read, stream_write, &counters.bytes_out);
    // The first failure drops the other direction too (and so resets the stream).
    let _ = tokio::try_join!(inbound, outbound);
}

async fn copy_counted(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    counter: &AtomicU64,
) -> std::io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..n]).await?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// `ethp2p p2p` subcommands.
#[derive(clap::Subcommand)]
pub enum P2pCommand {
    /// Send peers' streams for NAME to the local TCP service TARGET_ADDR.
    Listen {
        /// Protocol name peers open streams to.
        name: String,
        /// Local TCP address each stream is connected to.
        target: SocketAddr,
        /// Only these peers may (enode URLs, comma separated); all connected peers by default.
        #[arg(long, value_delimiter = ',')]
        allow: Vec<Enode>,
        #[command(flatten)]
        node: NodeArg,
    },
    /// Accept local connections on LISTEN_ADDR and carry each to NAME on the peer ENODE
    /// (dialed if not connected, 30 s timeout). Prints the bound address.
    Forward {
        /// Protocol name on the peer.
        name: String,
        /// Local TCP address to accept on (port 0 picks one).
        listen: SocketAddr,
        /// The peer.
        enode: Enode,
        #[command(flatten)]
        node: NodeArg,
    },
    /// List listeners and forwards with connection and byte counts.
    Ls {
        #[command(flatten)]
        node: NodeArg,
    },
    /// Close listeners and forwards by name, listen address or target (or --all).
    Close {
        #[command(flatten)]
        filter: CloseFilter,
        #[command(flatten)]
        node: NodeArg,
    },
}

/// Which node to talk to.
#[derive(clap::Args)]
pub struct NodeArg {
    /// The node's data directory (its control socket is `<datadir>/ethp2p.ipc`).
    #[arg(long)]
    datadir: PathBuf,
}

/// Runs a subcommand against the node's control socket.
pub fn run(command: P2pCommand) -> Result<(), String> {
    match command {
        P2pCommand::Listen {
            name,
            target,
            allow,
            node,
        } => {
            let allow: Vec<String> = allow.iter().map(|e| e.to_string()).collect();
            call(
                &node,
                "p2p_listen",
                json!([name, target.to_string(), allow]),
            )?;
            println!("listening for {name:?}: streams go to {target}");
        }
        P2pCommand::Forward {
            name,
            listen,
            enode,
            node,
        } => {
            let bound = call(
                &node,
                "p2p_forward",
                json!([name, listen.to_string(), enode.to_string()]),
            )?;
            println!("{}", bound.as_str().unwrap_or_default());
        }
        P2pCommand::Ls { node } => {
            let entries = call(&node, "p2p_ls", json!([]))?;
            println!(
                "{:<8} {:<16} {:<24} {:<24} {:>6} {:>12} {:>12}",
                "kind", "protocol", "listen", "target", "conns", "bytes in", "bytes out"
            );
            for e in entries.as_array().into_iter().flatten() {
                println!(
                    "{:<8} {:<16} {:<24} {:<24} {:>6} {:>12} {:>12}",
                    e["kind"].as_str().unwrap_or_default(),
                    e["protocol"].as_str().unwrap_or_default(),
                    e["listenAddress"].as_str().unwrap_or_default(),
                    e["targetAddress"].as_str().unwrap_or_default(),
                    e["connections"],
                    e["bytesIn"],
                    e["bytesOut"],
                );
            }
        }
        P2pCommand::Close { filter, node } => {
            if !filter.all
                && filter.name.is_none()
                && filter.listen.is_none()
                && filter.target.is_none()
            {
                return Err("say what to close: --name, --listen, --target or --all".into());
            }
            let closed = call(&node, "p2p_close", json!([filter_json(&filter)]))?;
            println!("closed {closed}");
        }
    }
    Ok(())
}

fn filter_json(filter: &CloseFilter) -> Value {
    json!({
        "name": filter.name,
        "listen": filter.listen,
        "target": filter.target,
        "all": filter.all,
    })
}

/// One JSON-RPC call over the node's socket; the result, or the error's message.
fn call(node: &NodeArg, method: &str, params: Value) -> Result<Value, String> {
    let path = node.datadir.join(super::rpc::IPC_FILE);
    let mut socket = UnixStream::connect(&path)
        .map_err(|e| format!("cannot reach the node at {}: {e}", path.display()))?;
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    socket
        .write_all(request.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let mut reader =
        serde_json::Deserializer::from_reader(Read::by_ref(&mut socket)).into_iter::<Value>();
    let response = reader
        .next()
        .ok_or("the node closed the socket without answering")?
        .map_err(|e| format!("bad answer from the node: {e}"))?;
    if let Some(error) = response.get("error") {
        return Err(error["message"].as_str().unwrap_or("error").to_owned());
    }
    Ok(response["result"].clone())
}

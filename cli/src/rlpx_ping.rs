//! `ethp2p rlpx ping ENODE`: handshake, Hello and one Ping against a remote node.

use std::time::{Duration, Instant};

use ethp2p::p2p::{Capability, ConnectionError, Hello, P2pConnection, PONG, PROTOCOL_VERSION};
use ethp2p::rlpx::{MAX_FRAME_SIZE, PeerId, RlpxStream};
use ethp2p_discovery::Enode;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::demo::parse_capability;

/// Options of `ethp2p rlpx ping`.
#[derive(clap::Args)]
pub struct PingArgs {
    /// The node to ping.
    enode: Enode,
    /// Capabilities to announce in our Hello (name/version, comma separated); some peers
    /// disconnect a Hello that shares none before answering the Ping.
    #[arg(long, value_delimiter = ',')]
    caps: Vec<String>,
    /// Seconds to wait for the whole exchange.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

pub async fn run(args: PingArgs) -> Result<(), String> {
    let mut capabilities: Vec<Capability> = Vec::new();
    for text in &args.caps {
        capabilities.push(parse_capability(text)?.0);
    }
    let enode = args.enode;
    let limit = Duration::from_secs(args.timeout);
    timeout(limit, ping(enode, capabilities))
        .await
        .map_err(|_| format!("no answer within {} s", args.timeout))?
}

async fn ping(enode: Enode, capabilities: Vec<Capability>) -> Result<(), String> {
    let remote = enode
        .id
        .to_public_key()
        .ok_or("the enode's id is not a valid public key")?;
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let key = ethp2p::rlpx::random_secret_key(&mut rng);
    let tcp = TcpStream::connect(enode.tcp_addr())
        .await
        .map_err(|e| format!("connect to {} failed: {e}", enode.tcp_addr()))?;
    let started = Instant::now();
    let stream = RlpxStream::connect(tcp, key, remote, &mut rng, MAX_FRAME_SIZE)
        .await
        .map_err(|e| format!("RLPx handshake failed: {e}"))?;
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        client_id: format!("ethp2p/v{}", env!("CARGO_PKG_VERSION")),
        capabilities,
        listen_port: 0,
        id: PeerId::from_secret_key(&key).0,
    };
    let mut connection = P2pConnection::handshake(stream, &hello)
        .await
        .map_err(describe)?;
    let handshake_time = started.elapsed();
    let remote_hello = connection.remote_hello();
    let caps: Vec<String> = remote_hello
        .capabilities
        .iter()
        .map(ToString::to_string)
        .collect();
    println!("id:               {}", PeerId(remote_hello.id));
    println!("client id:        {}", remote_hello.client_id);
    println!("protocol version: {}", remote_hello.protocol_version);
    println!("capabilities:     {}", caps.join(", "));
    println!("listen port:      {}", remote_hello.listen_port);
    println!("handshake:        {handshake_time:?} (RLPx + Hello)");

    let pinged = Instant::now();
    connection.ping().await.map_err(describe)?;
    loop {
        let (code, _) = connection.recv().await.map_err(describe)?;
        if code == PONG {
            break;
        }
    }
    println!("ping round trip:  {:?}", pinged.elapsed());
    let _ = connection
        .disconnect(ethp2p::p2p::DisconnectReason::ClientQuitting)
        .await;
    Ok(())
}

fn describe(error: ConnectionError) -> String {
    match error {
        ConnectionError::Disconnected(reason) => format!("remote disconnected: {reason}"),
        other => other.to_string(),
    }
}

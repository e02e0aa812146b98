//! Two nodes on 127.0.0.1 and an `echo/1` protocol: one node answers every message with the
//! same payload, the other sends a few, checks each answer and leaves.
//!
//! ```sh
//! cargo run --example echo
//! ```
//!
//! It shows the whole API surface a protocol needs: a [`Protocol`] per side (the same name and
//! version, so they match in Hello), a [`Server`] per node, a static peer to dial, the event
//! stream, and what ends a session.

use std::net::SocketAddr;

use ethp2p::rlpx::random_secret_key;
use ethp2p::{PeerEvent, Protocol, Server, ServerConfig};

/// The protocol's only message: code 0, an opaque payload.
const ECHO: u64 = 0;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = SocketAddr::from(([127, 0, 0, 1], 0));

    // The server side: echoes until the peer goes away (`recv` returns `None`).
    let echo = Protocol::new("echo", 1, 1, |mut peer| async move {
        while let Some(message) = peer.recv().await {
            peer.send(message.code, &message.payload).await?;
        }
        Ok(())
    });
    let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
    config.listen_addr = Some(local);
    config.protocols = vec![echo];
    let server = Server::start(config).await?;
    println!("echo node: {}", server.local_enode());

    // The client side: three round trips, then returning `Ok` ends the session
    // ("client quitting"). An error here would disconnect with "subprotocol error".
    let client = Protocol::new("echo", 1, 1, |mut peer| async move {
        for text in ["hello", "devp2p", "bye"] {
            peer.send(ECHO, text.as_bytes()).await?;
            let answer = peer.recv().await.ok_or("peer left before answering")?;
            if answer.payload != text.as_bytes() {
                return Err(format!("sent {text:?}, got {:?}", answer.payload).into());
            }
            println!("{} echoed {text:?}", peer.id());
        }
        Ok(())
    });
    let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
    config.listen_addr = None; // dial only
    config.protocols = vec![client];
    let node = Server::start(config).await?;

    let mut events = node.events();
    node.add_peer(server.local_enode());
    loop {
        match events.recv().await? {
            PeerEvent::Added(info) => println!("connected to {} ({})", info.id, info.client_id),
            PeerEvent::Removed { end, .. } => {
                println!("session ended: {} (we sent {:?})", end.cause, end.sent);
                break;
            }
            PeerEvent::HandshakeFailed { error, .. } => return Err(error.into()),
            PeerEvent::DuplicateClosed { .. } => {}
        }
    }
    node.shutdown().await;
    server.shutdown().await;
    Ok(())
}

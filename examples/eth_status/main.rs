//! Dials one node, completes the `eth` Status handshake by answering with the chain the remote
//! announces (as crawlers do), prints what it learned, and stays peered until stopped.
//!
//! ```sh
//! cargo run --release --example eth_status -- enode://ID@IP:PORT
//! ```
//!
//! The protocol is in `eth.rs`: the Status codec, the handshake, and empty answers to block
//! and transaction requests. Everything else is the library: a [`Server`] that only dials, the
//! remote as a static peer (redialed if it drops), and the event stream.

mod eth;

use ethp2p::rlpx::random_secret_key;
use ethp2p::{PeerEvent, Server, ServerConfig};
use ethp2p_discovery::Enode;
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let enode: Enode = std::env::args()
        .nth(1)
        .ok_or("usage: eth_status enode://ID@IP:PORT")?
        .parse()?;
    let (statuses, mut learned) = mpsc::unbounded_channel();
    let mut config = ServerConfig::new(random_secret_key(&mut rand::rng()));
    config.listen_addr = None; // dial only
    config.protocols = eth::protocols(statuses);
    let node = Server::start(config).await?;
    let mut events = node.events();
    node.add_peer(enode);

    loop {
        tokio::select! {
            event = events.recv() => match event? {
                PeerEvent::Added(info) => println!(
                    "connected to {} ({}) at {}",
                    info.id, info.client_id, info.remote_addr
                ),
                PeerEvent::Removed { info, end, .. } => println!("{} left: {end:?}", info.id),
                _ => {}
            },
            Some(eth::EthEvent::Status(id, status)) = learned.recv() => {
                println!("{id}: eth/{} network {}", status.version, status.network_id);
                println!("  genesis  0x{}", hex::encode(status.genesis));
                println!("  fork id  {}", status.fork_id);
                println!(
                    "  blocks   {}..={} head 0x{}",
                    status.earliest_block,
                    status.latest_block,
                    hex::encode(status.latest_hash)
                );
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    node.shutdown().await;
    Ok(())
}

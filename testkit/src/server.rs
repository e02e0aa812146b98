//! Servers under test (feature `server`): a config on 127.0.0.1 at a port the OS picks, and
//! waits for peer events that fail the test instead of hanging it.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ethp2p::peer::PeerEnd;
use ethp2p::{PeerEvent, PeerId, PeerInfo, Protocol, ServerConfig};
use secp256k1::SecretKey;
use tokio::sync::broadcast;
use tokio::time::timeout;

/// Upper bound for the next peer event; never a pacing delay. Generous, for peers that are
/// go-ethereum or ethereumjs processes on a loaded machine.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(30);

/// A server with `key` serving `protocols`, listening on 127.0.0.1 at a port the OS picks (its
/// `local_enode` tells which); the library's defaults for the rest, which a test changes as it
/// needs.
pub fn localhost_config(key: SecretKey, protocols: Vec<Protocol>) -> ServerConfig {
    let mut config = ServerConfig::new(key);
    config.listen_addr = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    config.protocols = protocols;
    config
}

/// A server with `key` serving `protocols` that only dials: it has no listener.
pub fn dialer_config(key: SecretKey, protocols: Vec<Protocol>) -> ServerConfig {
    let mut config = ServerConfig::new(key);
    config.listen_addr = None;
    config.protocols = protocols;
    config
}

/// The next event within [`EVENT_DEADLINE`]; a closed or lagging stream fails the test.
pub async fn next_event(events: &mut broadcast::Receiver<PeerEvent>) -> PeerEvent {
    timeout(EVENT_DEADLINE, events.recv())
        .await
        .expect("event in time")
        .expect("event stream open and not lagging")
}

/// The next peer added, whoever it is. Failed handshakes before it are skipped; any other
/// event fails the test.
pub async fn next_added(events: &mut broadcast::Receiver<PeerEvent>) -> Arc<PeerInfo> {
    loop {
        match next_event(events).await {
            PeerEvent::Added(info) => return info,
            PeerEvent::HandshakeFailed { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Waits for peer `id` to be added, skipping other events.
pub async fn wait_added(events: &mut broadcast::Receiver<PeerEvent>, id: PeerId) -> Arc<PeerInfo> {
    loop {
        if let PeerEvent::Added(info) = next_event(events).await {
            if info.id == id {
                return info;
            }
        }
    }
}

/// How the next peer removed ended, whoever it is, skipping other events.
pub async fn next_removed(events: &mut broadcast::Receiver<PeerEvent>) -> PeerEnd {
    loop {
        if let PeerEvent::Removed { end, .. } = next_event(events).await {
            return end;
        }
    }
}

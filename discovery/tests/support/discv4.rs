//! discv4 helpers shared by the tests that run real sockets (shared port, dual stack).

use ethp2p_discovery::Enode;
use ethp2p_discovery::v4::{self, Discv4Handle};

/// Pings `node` over discv4 and waits for the answer: true for a PONG, false for a timeout.
pub async fn ping(handle: &Discv4Handle, node: Enode) -> bool {
    let mut events = handle.events();
    handle.ping(node).await.unwrap();
    loop {
        match events.recv().await.unwrap() {
            v4::Event::Pong { node: from, .. } if from.id == node.id => return true,
            v4::Event::PingTimeout(from) if from.id == node.id => return false,
            _ => {}
        }
    }
}

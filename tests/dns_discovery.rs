//! DNS node lists in the server (`ServerHandle::add_dns_discovery`): the nodes of a tree both
//! feed the dialer and, with discv4 running, seed its table (EIP-1459 trees are how nodes
//! bootstrap). The tree is served from memory; the nodes talk over 127.0.0.1.

use std::net::Ipv4Addr;
use std::time::Duration;

use ethp2p::rlpx::random_secret_key;
use ethp2p::server::DiscoveryConfig;
use ethp2p::{PeerEvent, Server, ServerHandle};
use ethp2p_discovery::dns::{ClientConfig, MemoryResolver, Tree};
use ethp2p_discovery::v4::Event;

/// Bounds every wait; the exchange itself takes milliseconds.
const WAIT: Duration = Duration::from_secs(30);

// Shared with the fault tests; this test needs only the node config and the echo protocol.
#[allow(dead_code)]
mod common;

/// A node on 127.0.0.1 speaking the echo protocol (peers need a capability in common).
async fn node_with_discovery() -> ServerHandle {
    let key = random_secret_key(&mut rand::rng());
    let ip = Ipv4Addr::LOCALHOST.into();
    let mut config = common::node_config(key, ip, vec![common::echo_protocol()]);
    config.discovery = Some(DiscoveryConfig::default());
    Server::start(config).await.unwrap()
}

#[tokio::test]
async fn a_trees_nodes_are_dialed_and_seed_the_discovery_table() {
    let listed = node_with_discovery().await;
    let node = node_with_discovery().await;
    let record = listed.local_enr().expect("discovery on: a node record");

    let zone = MemoryResolver::new();
    let signer = random_secret_key(&mut rand::rng());
    let tree = Tree::new(1, &[record], &[]).unwrap().sign(&signer);
    zone.insert_all(tree.to_txt("nodes.example.org"));
    let url = tree.url("nodes.example.org").unwrap();

    let mut table_events = node.discv4().unwrap().events();
    let mut peer_events = node.events();
    node.add_dns_discovery(zone, &[url], ClientConfig::default());

    let listed_id = listed.local_enode().id;
    let seeded = async {
        loop {
            match table_events.recv().await.expect("discovery running") {
                Event::NodeAdded(added) if added.id == listed_id => return,
                _ => {}
            }
        }
    };
    tokio::time::timeout(WAIT, seeded)
        .await
        .expect("the listed node enters the discovery table");
    let connected = async {
        loop {
            if let PeerEvent::Added(info) = peer_events.recv().await.expect("server running")
                && info.id == listed_id
            {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, connected)
        .await
        .expect("the listed node is dialed");
    node.shutdown().await;
    listed.shutdown().await;
}

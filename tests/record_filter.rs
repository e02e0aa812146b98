//! A client keeps only the nodes of its own chain: `DiscoveryConfig::record_filter` judges
//! every discovered node by its record, here by the fork id of the `eth` entry (EIP-2124) that
//! the other nodes announce through `DiscoveryConfig::record_entries`. discv4 nodes are asked
//! for their record first (EIP-868); only the node of our chain becomes a peer.

use std::net::Ipv4Addr;
use std::time::Duration;

use ethp2p::rlpx::random_secret_key;
use ethp2p::server::{DiscoveryConfig, RecordFilter};
use ethp2p::{PeerEvent, PeerId, Server, ServerHandle};
use ethp2p_discovery::fork_id::{ETH_KEY, ForkId};
use tokio::sync::mpsc;

// Shared with the fault tests; this test needs only the node config and the echo protocol.
#[allow(dead_code)]
mod common;

/// Bounds every wait; the exchange itself takes milliseconds.
const WAIT: Duration = Duration::from_secs(30);

const OURS: ForkId = ForkId {
    hash: [0xfc, 0x64, 0xec, 0x04],
    next: 1_150_000,
};
const OTHER: ForkId = ForkId {
    hash: [0x3e, 0xdd, 0x5b, 0x10],
    next: 0,
};

async fn node(discovery: DiscoveryConfig, dials: bool) -> ServerHandle {
    let key = random_secret_key(&mut rand::rng());
    let ip = Ipv4Addr::LOCALHOST.into();
    let mut config = common::node_config(key, ip, vec![common::echo_protocol()]);
    config.discovery = Some(discovery);
    if !dials {
        // No dial slots: any connection to this node is one the other side dialed.
        config.dial_ratio = usize::MAX;
    }
    Server::start(config).await.unwrap()
}

/// A node announcing `fork_id` in its record, dialing nobody.
async fn chain_node(fork_id: ForkId) -> ServerHandle {
    let discovery = DiscoveryConfig {
        record_entries: vec![(ETH_KEY.to_owned(), fork_id.eth_entry())],
        ..DiscoveryConfig::default()
    };
    node(discovery, false).await
}

/// The filter's verdict on `node`'s record, once it has judged it.
async fn verdict(judged: &mut mpsc::UnboundedReceiver<(PeerId, bool)>, node: PeerId) -> bool {
    loop {
        let (id, keep) = judged.recv().await.expect("filter alive");
        if id == node {
            return keep;
        }
    }
}

#[tokio::test]
async fn only_nodes_whose_record_passes_the_filter_are_dialed() {
    let same_chain = chain_node(OURS).await;
    let other_chain = chain_node(OTHER).await;
    assert_eq!(
        same_chain.local_enr().unwrap().eth_fork_id(),
        Some(Ok(OURS)),
        "the entry is in the record"
    );

    // Our filter reports what it judged, so the test knows the other node was seen and left
    // out rather than missed.
    let (verdicts, mut judged) = mpsc::unbounded_channel::<(PeerId, bool)>();
    let filter = RecordFilter::new(move |record| {
        let keep = record.eth_fork_id() == Some(Ok(OURS));
        let _ = verdicts.send((record.peer_id(), keep));
        keep
    });
    // First only the other chain's node is known: its record is judged and left out.
    let discovery = DiscoveryConfig {
        bootnodes: vec![other_chain.local_enode()],
        record_filter: Some(filter),
        ..DiscoveryConfig::default()
    };
    let ours = node(discovery, true).await;
    let mut events = ours.events();
    let (same_id, other_id) = (same_chain.local_enode().id, other_chain.local_enode().id);
    let keep = tokio::time::timeout(WAIT, verdict(&mut judged, other_id))
        .await
        .expect("the other chain's record reaches the filter");
    assert!(!keep);

    // Then our chain's node: judged, kept and dialed. Had the first been a candidate, it
    // would have been dialed a whole exchange earlier and be the first peer.
    let discv4 = ours.discv4().expect("discv4 running");
    discv4.ping(same_chain.local_enode()).await.unwrap();
    let keep = tokio::time::timeout(WAIT, verdict(&mut judged, same_id))
        .await
        .expect("our chain's record reaches the filter");
    assert!(keep);
    let first_peer = tokio::time::timeout(WAIT, async {
        loop {
            if let PeerEvent::Added(info) = events.recv().await.expect("server running") {
                return info.id;
            }
        }
    })
    .await
    .expect("the node of our chain becomes a peer");
    assert_eq!(first_peer, same_id);
    let peers: Vec<PeerId> = ours.peers().iter().map(|peer| peer.id).collect();
    assert_eq!(peers, [same_id]);

    for server in [ours, same_chain, other_chain] {
        server.shutdown().await;
    }
}

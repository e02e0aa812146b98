//! Servers that run only discv5 (`DiscoveryConfig { v4: false, v5: true }`) on 127.0.0.1:
//! knowing nothing but a bootnode's record, they find each other through discv5 lookups and
//! the dialer connects them, with no static peers and no discv4.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ethp2p::rlpx::{PeerId, random_secret_key};
use ethp2p::server::DiscoveryConfig;
use ethp2p::{PeerEvent, Protocol, Server, ServerHandle};
use ethp2p_discovery::{Enr, nodedb};
use ethp2p_testkit::server::localhost_config;
use rand::{SeedableRng, rngs::StdRng};
use secp256k1::SecretKey;
use tokio::sync::broadcast;

/// A failure guard only: the nodes normally connect within a few seconds.
const DEADLINE: Duration = Duration::from_secs(60);
/// Nodes besides the bootnode.
const NODES: usize = 4;

/// A protocol every node serves, so that peers match; its handler just waits for the end.
fn idle_protocol() -> Protocol {
    Protocol::new("idle", 1, 1, |mut peer| async move {
        while peer.recv().await.is_some() {}
        Ok(())
    })
}

async fn discv5_node(rng: &mut StdRng, bootnodes: Vec<Enr>) -> ServerHandle {
    discv5_node_with(random_secret_key(rng), None, bootnodes).await
}

/// A discv5-only node with this key, keeping its record and node database in `data_dir`.
async fn discv5_node_with(
    key: SecretKey,
    data_dir: Option<PathBuf>,
    bootnodes: Vec<Enr>,
) -> ServerHandle {
    let mut config = localhost_config(key, vec![idle_protocol()]);
    config.data_dir = data_dir;
    config.discovery = Some(DiscoveryConfig {
        v4: false,
        v5: true,
        bootnode_records: bootnodes,
        ..DiscoveryConfig::default()
    });
    Server::start(config).await.unwrap()
}

/// Waits until `node` is connected to every node of `wanted`. Its events only wake the check:
/// the peer list is the truth (a duplicate connection closed by the tie-break reports a
/// removal while the peer stays connected through the other one).
async fn connected_to_all(
    node: &ServerHandle,
    mut events: broadcast::Receiver<PeerEvent>,
    wanted: HashSet<PeerId>,
) {
    loop {
        let connected: HashSet<PeerId> = node.peers().iter().map(|p| p.id).collect();
        if wanted.is_subset(&connected) {
            return;
        }
        match events.recv().await {
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("server stopped"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv5_only_nodes_find_and_connect_through_a_bootnode() {
    let mut rng = StdRng::seed_from_u64(55);
    let boot = discv5_node(&mut rng, Vec::new()).await;
    assert!(boot.discv4().is_none(), "no discv4");
    let boot_enr = boot.local_enr().expect("discv5 runs, so there is a record");
    assert!(boot_enr.tcp4().is_some() && boot_enr.udp4().is_some());
    let mut nodes = Vec::new();
    let mut events = Vec::new();
    for _ in 0..NODES {
        let node = discv5_node(&mut rng, vec![boot_enr.clone()]).await;
        events.push(node.events());
        nodes.push(node);
    }
    let ids: HashSet<PeerId> = nodes.iter().map(ServerHandle::local_id).collect();
    let all = async {
        // One node after the other: each one's events wait in its receiver meanwhile.
        for (node, events) in nodes.iter().zip(events) {
            let others: HashSet<PeerId> = ids
                .iter()
                .copied()
                .filter(|id| *id != node.local_id())
                .collect();
            connected_to_all(node, events, others).await;
        }
    };
    if tokio::time::timeout(DEADLINE, all).await.is_err() {
        for node in nodes.iter().chain([&boot]) {
            let discv5 = node.discv5().expect("discv5 runs");
            let table = discv5.table_nodes().await.unwrap();
            let stats = discv5.stats().await.unwrap();
            eprintln!(
                "{}: {} peers, table {}, {stats:?}",
                node.local_id(),
                node.peer_count(),
                table.len()
            );
        }
        panic!("not every node connected to every other through discv5");
    }
    for node in &nodes {
        let discv5 = node.discv5().expect("discv5 runs");
        let stats = discv5.stats().await.unwrap();
        println!(
            "{}: {} peers; discv5 {stats:?}",
            node.local_id(),
            node.peer_count()
        );
        assert_eq!(stats.dropped_malformed, 0);
    }
    for node in nodes.iter().chain([&boot]) {
        node.shutdown().await;
    }
}

/// A node running both protocols that knows its bootnode only by `enode://` URL: discv5
/// cannot handshake without the bootnode's signed record, so the record is fetched over
/// discv4 (ENRREQUEST) and handed to discv5, whose table then holds the bootnode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv5_bootstraps_from_an_enode_bootnode_through_discv4() {
    let mut rng = StdRng::seed_from_u64(56);
    let start = |rng: &mut StdRng, bootnodes| {
        let mut config = localhost_config(random_secret_key(rng), vec![idle_protocol()]);
        config.discovery = Some(DiscoveryConfig {
            v4: true,
            v5: true,
            bootnodes,
            ..DiscoveryConfig::default()
        });
        Server::start(config)
    };
    let boot = start(&mut rng, Vec::new()).await.unwrap();
    let node = start(&mut rng, vec![boot.local_enode()]).await.unwrap();
    let discv5 = node.discv5().unwrap();
    let mut events = discv5.events();
    let boot_id = boot.local_enr().unwrap().id();
    tokio::time::timeout(DEADLINE, async {
        loop {
            let table = discv5.table_nodes().await.unwrap();
            if table.iter().any(|record| record.id() == boot_id) {
                return;
            }
            // Any event may be the one; the table is the truth.
            let _ = events.recv().await;
        }
    })
    .await
    .expect("discv5 got the bootnode's record through discv4");
    for server in [node, boot] {
        server.shutdown().await;
    }
}

/// A record change (here a NAT mapping's endpoint) reaches both protocols of a dual node with
/// one sequence bump: discv5 hands out the new record, and discv4 answers ENRREQUEST with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_endpoint_reaches_both_protocols_with_one_sequence_bump() {
    use ethp2p_discovery::Enode;
    use ethp2p_discovery::v4::{self, Discv4, Discv4Handle, Endpoint};
    let mut rng = StdRng::seed_from_u64(57);
    let mut config = localhost_config(random_secret_key(&mut rng), vec![idle_protocol()]);
    config.discovery = Some(DiscoveryConfig {
        v5: true,
        ..DiscoveryConfig::default()
    });
    let node = Server::start(config).await.unwrap();
    let before = node.local_enr().unwrap();
    let enode = node.local_enode();
    // Same IP and UDP port (so it stays reachable here), another TCP port.
    node.set_external_endpoint(enode.ip, enode.tcp_port + 1, enode.udp_port)
        .await;
    let after = node.local_enr().unwrap();
    assert_eq!(after.seq(), before.seq() + 1);
    assert_eq!(after.tcp4(), Some(enode.tcp_port + 1));
    assert_eq!(node.discv5().unwrap().local_enr().await.unwrap(), after);

    // A discv4 node asks for the record.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let key = random_secret_key(&mut rng);
    let SocketAddr::V4(v4_addr) = addr else {
        unreachable!()
    };
    let record = Enr::builder()
        .ip4(*v4_addr.ip())
        .udp4(addr.port())
        .build(&key)
        .unwrap();
    let asker = Discv4::new(
        key,
        record,
        Endpoint::from(addr),
        v4::Config::default(),
        std::time::Instant::now(),
        v4::unix_now(),
        1,
    );
    let asker = Discv4Handle::spawn(socket, asker).unwrap();
    let mut events = asker.events();
    let target = Enode::new(node.local_id(), enode.udp_addr());
    asker.request_enr(target).await.unwrap();
    let got = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await.unwrap() {
                v4::Event::Enr { node, enr } if node.id == target.id => return *enr,
                v4::Event::EnrFailed(node) if node.id == target.id => panic!("no record"),
                _ => {}
            }
        }
    })
    .await
    .expect("an answer");
    assert_eq!(got, after);
    asker.shutdown().await;
    node.shutdown().await;
}

/// A discv5-only node with a data directory saves its table's records at shutdown; started
/// again with no bootnode, it pings them and connects to its old peer. (The old peer cannot
/// dial it instead: the node comes back on a new port.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discv5_nodes_are_kept_in_the_node_database() {
    let mut rng = StdRng::seed_from_u64(57);
    let boot = discv5_node(&mut rng, Vec::new()).await;
    let boot_enr = boot.local_enr().expect("discv5 runs");
    let dir = std::env::temp_dir().join(format!("ethp2p-discv5-nodedb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = random_secret_key(&mut rng);
    let wanted = HashSet::from([boot.local_id()]);

    let node = discv5_node_with(key, Some(dir.clone()), vec![boot_enr.clone()]).await;
    let connected = connected_to_all(&node, node.events(), wanted.clone());
    tokio::time::timeout(DEADLINE, connected)
        .await
        .expect("connects to its bootnode");
    node.shutdown().await;
    let saved = nodedb::load_records(&dir.join("nodes-v5")).unwrap();
    assert!(
        saved.iter().any(|(record, _)| record.id() == boot_enr.id()),
        "the bootnode's record is saved: {saved:?}"
    );

    let again = discv5_node_with(key, Some(dir.clone()), Vec::new()).await;
    let connected = connected_to_all(&again, again.events(), wanted);
    tokio::time::timeout(DEADLINE, connected)
        .await
        .expect("reconnects through the saved record, with no bootnode");
    again.shutdown().await;
    boot.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

//! `ethp2p node --discovery.dns` with discv4 off: three running nodes are published in a DNS
//! tree served by dnsmasq on 127.0.0.1, and the node connects to all three, knowing them only
//! from the tree.

#[path = "../../discovery/tests/support/dnsmasq.rs"]
mod dnsmasq;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use dnsmasq::Dnsmasq;
use ethp2p::rlpx::random_secret_key;
use ethp2p::{Protocol, Server, ServerHandle};
use ethp2p_discovery::Enr;
use ethp2p_discovery::dns::Tree;
use ethp2p_testkit::server::localhost_config;
use rand::SeedableRng;
use rand::rngs::StdRng;
use secp256k1::SecretKey;

const DOMAIN: &str = "devnet.example.org";
/// Bounds the wait for the peers; never a pacing delay.
const DEADLINE: Duration = Duration::from_secs(60);

/// A node serving `demo/1` (what `ethp2p node` serves), discovery off.
async fn start_node(key: SecretKey) -> ServerHandle {
    let demo = Protocol::new("demo", 1, 2, |mut peer| async move {
        while peer.recv().await.is_some() {}
        Ok(())
    });
    Server::start(localhost_config(key, vec![demo]))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_connects_to_the_nodes_of_a_dns_tree_with_discv4_off() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut nodes = Vec::new();
    let mut records = Vec::new();
    for _ in 0..3 {
        let key = random_secret_key(&mut rng);
        let node = start_node(key).await;
        let enode = node.local_enode();
        let mut builder = Enr::builder();
        builder
            .ip4(Ipv4Addr::LOCALHOST)
            .tcp4(enode.tcp_port)
            .udp4(enode.tcp_port);
        records.push(builder.build(&key).unwrap());
        nodes.push(node);
    }
    let tree = Tree::new(1, &records, &[])
        .unwrap()
        .sign(&random_secret_key(&mut rng));
    let url = tree.url(DOMAIN).unwrap();
    let server = Dnsmasq::serve(&tree.to_txt(DOMAIN));

    let mut child = Command::new(env!("CARGO_BIN_EXE_ethp2p"))
        .args(["node", "--addr", "127.0.0.1:0", "--nat", "none", "--json"])
        .args(["--discovery.v4=false", "--discovery.dns", &url.to_string()])
        .args(["--discovery.dns.server", &server.addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ethp2p node");
    let stdout = child.stdout.take().unwrap();
    let wanted: HashSet<String> = nodes.iter().map(|n| n.local_id().to_string()).collect();
    let reader = std::thread::spawn(move || {
        let mut added = HashSet::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(r#""event":"peer_added""#) {
                added.extend(
                    wanted
                        .iter()
                        .filter(|id| line.contains(id.as_str()))
                        .cloned(),
                );
                if added.len() == wanted.len() {
                    break;
                }
            }
        }
        added.len()
    });
    let connected =
        tokio::time::timeout(DEADLINE, tokio::task::spawn_blocking(move || reader.join())).await;
    let _ = child.kill();
    let _ = child.wait();
    let connected = connected.expect("peers in time").unwrap().unwrap();
    assert_eq!(connected, 3, "peers from the DNS tree");
    for node in &nodes {
        node.shutdown().await;
    }
}

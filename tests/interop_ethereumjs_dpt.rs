//! Discovery interop with ethereumjs's discv4 node (DPT, `@ethereumjs/devp2p`), over 127.0.0.1:
//! it finds us from a bootstrap, we find it from a bootnode, and one ethereumjs node learns of
//! another through our NEIGHBORS. The peer program is `tests/interop/ethereumjs/dpt.mjs`;
//! `scripts/test.sh` installs its pinned npm packages.
//!
//! ethereumjs speaks only Ping/Pong/FindNode/Neighbors (no EIP-868), checks no expiration and
//! keeps no endpoint proof: it sends FINDNODE right after our PONG, before it has answered our
//! Ping, so that first FINDNODE is dropped by us (as go-ethereum would); its periodic refresh
//! (`--refresh-ms`) asks again once the bond exists.

use std::path::Path;
use std::time::Duration;

use ethp2p::rlpx::random_secret_key;
use ethp2p::server::DiscoveryConfig;
use ethp2p::{PeerId, Server, ServerHandle};
use ethp2p_discovery::Enode;
use ethp2p_discovery::v4::Event;
use ethp2p_testkit::server::localhost_config;
use rand::{SeedableRng, rngs::StdRng};
use serde_json::Value;
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio::time::timeout;

mod child;

use child::{JsonChild as Dpt, repo_path};

/// Bound of every wait here; shorter than the harness's own per-line deadline, so our timeouts
/// (which print diagnostics) fire first.
const WAIT: Duration = Duration::from_secs(20);

/// ethereumjs's own end: longer than any test, which kills it when done.
const DPT_LIFETIME_MS: &str = "120000";

fn spawn_dpt(rng: &mut StdRng, args: &[&str]) -> Dpt {
    let dir = repo_path("tests/interop/ethereumjs");
    let installed = dir.join("node_modules/@ethereumjs/devp2p").is_dir();
    let hint = "ethereumjs is not installed: run `bash scripts/test.sh` (it runs `npm ci` there)";
    assert!(installed, "{hint}");
    let key = hex::encode(random_secret_key(rng).to_secret_bytes());
    let mut full = vec!["dpt.mjs", "--key", &key, "--timeout-ms", DPT_LIFETIME_MS];
    full.extend_from_slice(args);
    // Packet log on stderr, for debugging.
    if std::env::var_os("DPT_TRACE").is_some() {
        full.push("--trace");
    }
    Dpt::spawn(Path::new("node"), &full, &dir, hint)
}

/// The node a `listening` line describes. DPT announces no TCP port (its Pings carry an empty
/// one), so its enode gets TCP port 0: a discovery-only node our dialer never tries.
fn dpt_enode(listening: &Value) -> Enode {
    assert_eq!(listening["event"], "listening", "{listening}");
    let id: PeerId = listening["id"].as_str().unwrap().parse().unwrap();
    let udp_port = listening["udp_port"].as_u64().unwrap() as u16;
    Enode {
        id,
        ip: [127, 0, 0, 1].into(),
        tcp_port: 0,
        udp_port,
    }
}

/// Our node with discovery on 127.0.0.1 (UDP on the TCP port).
///
/// The reply timeout is 5 s instead of 500 ms: ethereumjs does its secp256k1 in JavaScript and,
/// on a loaded machine, took up to about 500 ms to answer a Ping. A PONG that comes too late is
/// dropped, and then nothing retries: ethereumjs pings us only while we are not in its table,
/// and without its PONG we drop every FINDNODE it sends (go-ethereum behaves the same).
async fn start_server(rng: &mut StdRng, bootnodes: Vec<Enode>) -> ServerHandle {
    let mut config = localhost_config(random_secret_key(rng), Vec::new());
    let mut discovery = DiscoveryConfig {
        bootnodes,
        ..Default::default()
    };
    discovery.discv4.reply_timeout = Duration::from_secs(5);
    config.discovery = Some(discovery);
    Server::start(config).await.unwrap()
}

/// Skips lines until `event` about node `id`; on timeout the panic shows our discovery's
/// counters and table (`server`), which tell why the exchange stalled.
async fn dpt_saw(dpt: &mut Dpt, event: &str, id: PeerId, server: &ServerHandle) -> Value {
    let wanted = id.to_string();
    let wait = async {
        loop {
            let line = dpt.event().await;
            if line["event"] == event && line["id"] == wanted.as_str() {
                return line;
            }
        }
    };
    match timeout(WAIT, wait).await {
        Ok(line) => line,
        Err(_) => {
            let discovery = server.discv4().expect("discovery runs");
            let stats = discovery.stats().await;
            let table = discovery.table_nodes().await;
            panic!("ethereumjs reported no {event} for {id} in time; ours: {stats:?}, {table:?}")
        }
    }
}

/// Waits until `id` is in our discovery table: it may be there already (checked first), or
/// arrive with `NodeAdded`; the table is checked again on every event, so a lagging receiver
/// cannot miss it. `events` must have been subscribed before the node could be added.
async fn table_gets(server: &ServerHandle, events: &mut Receiver<Event>, id: PeerId) -> Enode {
    let discovery = server.discv4().expect("discovery runs");
    let in_table = || async {
        let nodes = discovery.table_nodes().await.expect("discovery runs");
        nodes.into_iter().find(|node| node.id == id)
    };
    let wait = async {
        loop {
            if let Some(node) = in_table().await {
                return node;
            }
            match events.recv().await {
                Ok(Event::NodeAdded(node)) if node.id == id => return node,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("discovery stopped"),
            }
        }
    };
    timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("{id} entered our discovery table in time"))
}

fn assert_dpt_node(node: &Enode, enode: &Enode) {
    assert_eq!(node.id, enode.id);
    assert_eq!(node.ip, enode.ip);
    assert_eq!(node.udp_port, enode.udp_port);
    assert_eq!(node.tcp_port, 0, "DPT announces no TCP port");
}

/// ethereumjs bootstraps from our enode: it pings us, we answer and ping it back (it has no
/// bond with us yet), and each side ends up with the other in its table.
#[tokio::test]
async fn ethereumjs_dpt_discovers_our_node_from_a_bootstrap() {
    let mut rng = StdRng::seed_from_u64(31);
    let server = start_server(&mut rng, Vec::new()).await;
    let mut events = server.discv4().unwrap().events();
    let ours = server.local_enode();
    assert_ne!(ours.udp_port, 0);

    let mut dpt = spawn_dpt(&mut rng, &["--bootstrap", &ours.to_string()]);
    let theirs = dpt_enode(&dpt.expect("listening").await);

    let added = dpt_saw(&mut dpt, "peer_added", ours.id, &server).await;
    assert_eq!(added["address"], "127.0.0.1");
    assert_eq!(added["udp_port"], ours.udp_port);
    // The TCP port comes from the bootstrap enode, not from the wire.
    assert_eq!(added["tcp_port"], ours.tcp_port);

    let node = table_gets(&server, &mut events, theirs.id).await;
    assert_dpt_node(&node, &theirs);
    server.shutdown().await;
}

/// Our node bootstraps from ethereumjs: our Ping is answered, so the node enters our table;
/// ethereumjs pings the endpoint our Ping announced and adds us too.
#[tokio::test]
async fn our_node_discovers_ethereumjs_dpt_from_a_bootnode() {
    let mut rng = StdRng::seed_from_u64(32);
    let mut dpt = spawn_dpt(&mut rng, &[]);
    let theirs = dpt_enode(&dpt.expect("listening").await);

    let server = start_server(&mut rng, vec![theirs]).await;
    // Bootstrap Pings go out inside Server::start: the node may be in the table already, which
    // table_gets checks before it waits for events.
    let mut events = server.discv4().unwrap().events();
    let node = table_gets(&server, &mut events, theirs.id).await;
    assert_dpt_node(&node, &theirs);

    let ours = server.local_enode();
    let added = dpt_saw(&mut dpt, "peer_added", ours.id, &server).await;
    assert_eq!(added["address"], "127.0.0.1");
    assert_eq!(added["udp_port"], ours.udp_port);
    // From the `from` endpoint of our Ping.
    assert_eq!(added["tcp_port"], ours.tcp_port);
    server.shutdown().await;
}

/// ethereumjs A <- our node B <- ethereumjs C: C knows only B, and learns of A from B's
/// NEIGHBORS (answering a FINDNODE of C's periodic refresh, once C has answered B's Ping).
#[tokio::test]
async fn ethereumjs_dpt_finds_another_through_our_neighbors() {
    let mut rng = StdRng::seed_from_u64(33);
    let mut a = spawn_dpt(&mut rng, &[]);
    let a_enode = dpt_enode(&a.expect("listening").await);

    let b = start_server(&mut rng, vec![a_enode]).await;
    let mut b_events = b.discv4().unwrap().events();
    table_gets(&b, &mut b_events, a_enode.id).await;
    let b_enode = b.local_enode();

    // Every table node gets a FINDNODE about once a second.
    let mut c = spawn_dpt(
        &mut rng,
        &["--bootstrap", &b_enode.to_string(), "--refresh-ms", "1000"],
    );
    let c_enode = dpt_enode(&c.expect("listening").await);
    dpt_saw(&mut c, "peer_added", b_enode.id, &b).await;
    let learned = dpt_saw(&mut c, "peer_added", a_enode.id, &b).await;
    assert_eq!(learned["address"], "127.0.0.1");
    assert_eq!(learned["udp_port"], a_enode.udp_port);
    // B relays A's TCP port 0, which ethereumjs reads as "none".
    assert_eq!(learned["tcp_port"], Value::Null);

    // B bonded with C on the way (it answered C's Ping and pinged it back).
    table_gets(&b, &mut b_events, c_enode.id).await;
    b.shutdown().await;
}

//! Interop with go-ethereum (pinned in tests/interop/geth/go.mod), over 127.0.0.1:
//! `devp2p rlpx ping` against our server, and `gethpeer`, a `p2p.Server` from go-ethereum's own
//! `p2p` package, exchanging messages with our server on several matched protocols at once in
//! both dial directions, so the capability offsets are checked against go-ethereum's; and that
//! `p2p.Server` running discv4 and discv5 on one UDP port meets our server through discovery
//! alone, over discv5, with our discv4 on the same port or off.
//! `scripts/install-geth-tools.sh` (run by `scripts/test.sh`) builds both into `.tools/bin`.

mod child;

use child::{DEADLINE, JsonChild, repo_path};
use ethp2p::p2p::DisconnectReason;
use ethp2p::rlpx::random_secret_key;
use ethp2p::{PeerEvent, Protocol, Server, ServerHandle};
use ethp2p_discovery::Enode;
use ethp2p_testkit::geth_tool;
use ethp2p_testkit::server::{localhost_config, next_removed};
use rand::{SeedableRng, rngs::StdRng};
use tokio::sync::mpsc;
use tokio::time::timeout;

const HINT: &str = "go-ethereum tools are not built: run `bash scripts/install-geth-tools.sh`";

fn gethpeer(args: &[&str]) -> JsonChild {
    JsonChild::spawn(&geth_tool("gethpeer"), args, &repo_path("."), HINT)
}

type Seen = mpsc::UnboundedSender<(String, u64, Vec<u8>)>;

/// A protocol that sends `(code, payload)` once, at start or (with `reply`) after the first
/// message it receives, and reports every message it receives.
fn recording(
    name: &str,
    version: u32,
    length: u64,
    first: (u64, Vec<u8>),
    reply: bool,
    seen: Seen,
) -> Protocol {
    let label = format!("{name}/{version}");
    Protocol::new(name, version, length, move |mut peer| {
        let (seen, label, first) = (seen.clone(), label.clone(), first.clone());
        async move {
            if !reply {
                peer.send(first.0, &first.1).await?;
            }
            let mut replied = !reply;
            while let Some(message) = peer.recv().await {
                let _ = seen.send((label.clone(), message.code, message.payload));
                if !replied {
                    peer.send(first.0, &first.1).await?;
                    replied = true;
                }
            }
            Ok(())
        }
    })
}

/// foo/1 (8 codes) and bar/2 (4 codes) as gethpeer serves them, plus aaa/1, which only we have:
/// it sorts first, so a wrong matching would shift every offset.
async fn start_server(rng: &mut StdRng, reply: bool, seen: Seen) -> ServerHandle {
    let protocols = vec![
        recording("foo", 1, 8, (3, vec![0xc3, 1, 2, 3]), reply, seen.clone()),
        recording("aaa", 1, 5, (0, vec![0x80]), reply, seen.clone()),
        recording("bar", 2, 4, (2, vec![0x82, 0xbe, 0xef]), reply, seen),
    ];
    let mut config = localhost_config(random_secret_key(rng), protocols);
    config.client_id = "ethp2p-interop".into();
    Server::start(config).await.unwrap()
}

fn greeting(protocol: &str) -> Vec<u8> {
    rlp::encode(&format!("hello from geth {protocol}")).to_vec()
}

async fn collect(
    seen: &mut mpsc::UnboundedReceiver<(String, u64, Vec<u8>)>,
    n: usize,
) -> Vec<(String, u64, Vec<u8>)> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(
            timeout(DEADLINE, seen.recv())
                .await
                .expect("message in time")
                .unwrap(),
        );
    }
    got.sort();
    got
}

#[tokio::test]
async fn devp2p_rlpx_ping_prints_our_hello() {
    let mut rng = StdRng::seed_from_u64(21);
    let (seen, _rx) = mpsc::unbounded_channel();
    let server = start_server(&mut rng, false, seen).await;
    let output = timeout(
        DEADLINE,
        tokio::process::Command::new(geth_tool("devp2p"))
            .args(["rlpx", "ping", &server.local_enode().to_string()])
            .output(),
    )
    .await
    .expect("devp2p answered in time")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "devp2p rlpx ping failed: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Version:5"), "{stdout}");
    assert!(stdout.contains("Name:ethp2p-interop"), "{stdout}");
    assert!(stdout.contains("Caps:[foo/1 aaa/1 bar/2]"), "{stdout}");
    server.shutdown().await;
}

/// We dial gethpeer, which echoes. Each side's first message must land on the right protocol
/// and code on the other side; geth's echoes come back where they left.
#[tokio::test]
async fn we_dial_geth_and_offsets_agree() {
    let mut rng = StdRng::seed_from_u64(22);
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = start_server(&mut rng, false, seen_tx).await;
    let mut events = server.events();
    let mut geth = gethpeer(&[
        "serve",
        "--protocols",
        "foo/1:8,bar/2:4",
        "--echo",
        "--timeout",
        "30s",
    ]);
    let listening = geth.expect("listening").await;
    let enode: Enode = listening["enode"].as_str().unwrap().parse().unwrap();
    server.add_peer(enode);

    let added = geth.wait_for("peer_added").await;
    assert_eq!(added["name"], "ethp2p-interop");
    let got = collect(&mut seen, 4).await;
    assert_eq!(
        got,
        vec![
            ("bar/2".to_string(), 1, greeting("bar/2")),
            ("bar/2".to_string(), 2, vec![0x82, 0xbe, 0xef]),
            ("foo/1".to_string(), 1, greeting("foo/1")),
            ("foo/1".to_string(), 3, vec![0xc3, 1, 2, 3]),
        ]
    );
    // And geth saw ours at the same relative codes.
    let mut geth_saw = Vec::new();
    while geth_saw.len() < 2 {
        let event = geth.wait_for("msg").await;
        geth_saw.push((
            event["proto"].as_str().unwrap().to_string(),
            event["code"].as_u64().unwrap(),
        ));
    }
    geth_saw.sort();
    assert_eq!(
        geth_saw,
        [("bar/2".to_string(), 2), ("foo/1".to_string(), 3)]
    );

    server.remove_peer(enode.id);
    let end = next_removed(&mut events).await;
    assert_eq!(end.sent, Some(DisconnectReason::DisconnectRequested));
    let geth_removed = geth.wait_for("peer_removed").await;
    assert_eq!(geth_removed["error"], "disconnect requested");
    server.shutdown().await;
}

/// gethpeer dials us and sends raw messages on both protocols; we answer each, and after our
/// two answers it disconnects with "too many peers", which we report as received.
#[tokio::test]
async fn geth_dials_us_and_its_reason_arrives() {
    let mut rng = StdRng::seed_from_u64(23);
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let server = start_server(&mut rng, true, seen_tx).await;
    let mut events = server.events();
    let enode = server.local_enode().to_string();
    let mut geth = gethpeer(&[
        "serve",
        "--listen",
        "",
        "--dial",
        &enode,
        "--protocols",
        "foo/1:8,bar/2:4",
        "--no-hello",
        "--send",
        "foo/1:7:c28001",
        "--send",
        "bar/2:3:83616263",
        "--disconnect-after-msgs",
        "2",
        "--disconnect-reason",
        "4",
        "--timeout",
        "30s",
    ]);
    let got = collect(&mut seen, 2).await;
    assert_eq!(
        got,
        vec![
            ("bar/2".to_string(), 3, b"\x83abc".to_vec()),
            ("foo/1".to_string(), 7, vec![0xc2, 0x80, 0x01])
        ]
    );
    let end = next_removed(&mut events).await;
    assert_eq!(end.received, Some(DisconnectReason::TooManyPeers));
    assert!(end.initiated_by_remote());
    assert_eq!(
        geth.wait_for("peer_removed").await["error"],
        "too many peers"
    );
    server.shutdown().await;
}

/// go-ethereum's discv4 conformance suite (`devp2p discv4 test`) against our node: all 15 checks
/// must pass (it exits non-zero on any failure).
#[tokio::test]
async fn geth_discv4_conformance_suite_passes() {
    let mut rng = StdRng::seed_from_u64(24);
    let mut config = localhost_config(random_secret_key(&mut rng), Vec::new());
    config.discovery = Some(ethp2p::server::DiscoveryConfig::default());
    let server = Server::start(config).await.unwrap();
    let enode = server.local_enode().to_string();
    let output = timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new(geth_tool("devp2p"))
            .args([
                "discv4",
                "test",
                "--remote",
                &enode,
                "--listen1",
                "127.0.0.1",
                "--listen2",
                "127.0.0.2",
            ])
            .output(),
    )
    .await
    .expect("the suite finished in time")
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(
        output.status.success(),
        "devp2p discv4 test failed:\n{report}"
    );
    assert!(report.contains("15/15 tests passed"), "{report}");
    server.shutdown().await;
}

/// go-ethereum's own `p2p.Server` with discv4 and discv5 on one UDP port, knowing nothing but
/// our record, and our server with discv5 (and, with `our_v4`, discv4 on the same port): it
/// finds us and we find it over discv5, and one of the two dials the other.
async fn geth_server_and_ours_meet_through_discovery(seed: u64, our_v4: bool) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (seen_tx, _seen) = mpsc::unbounded_channel();
    let recorded = recording("foo", 1, 8, (3, vec![0xc0]), false, seen_tx);
    let mut config = localhost_config(random_secret_key(&mut rng), vec![recorded]);
    config.discovery = Some(ethp2p::server::DiscoveryConfig {
        v4: our_v4,
        v5: true,
        ..Default::default()
    });
    let server = Server::start(config).await.unwrap();
    let mut events = server.events();
    let discv5 = server.discv5().expect("discv5 runs");
    let mut v5_events = discv5.events();
    let our_enr = server.local_enr().expect("a record").to_string();
    let mut geth = gethpeer(&[
        "serve",
        "--protocols",
        "foo/1:8",
        "--no-hello",
        "--discv4",
        "--discv5",
        "--bootnode",
        &our_enr,
        "--timeout",
        "60s",
    ]);
    let listening = geth.expect("listening").await;
    let geth_enr: ethp2p_discovery::Enr = listening["enr"].as_str().unwrap().parse().unwrap();
    let geth_id = geth_enr.peer_id();

    // We find it over discv5: its handshake with us brings its record, and it answers our PING.
    timeout(std::time::Duration::from_secs(60), async {
        loop {
            if let ethp2p_discovery::v5::Event::NodeAdded(record) = v5_events.recv().await.unwrap()
            {
                if record.id() == geth_enr.id() {
                    return;
                }
            }
        }
    })
    .await
    .expect("go-ethereum's node entered our discv5 table");
    // And the two connect, with no static peers on either side.
    let added = timeout(std::time::Duration::from_secs(60), async {
        loop {
            match events.recv().await.unwrap() {
                PeerEvent::Added(info) if info.id == geth_id => return info,
                _ => {}
            }
        }
    })
    .await
    .expect("connected to go-ethereum's node");
    println!("connected to go-ethereum's node, {:?}", added.direction);
    let stats = discv5.stats().await.unwrap();
    println!("our discv5: {stats:?}");
    // go-ethereum started the session: it knew our record, we did not know it.
    assert!(stats.handshakes >= 1);
    if let Some(discv4) = server.discv4() {
        let stats = discv4.stats().await.unwrap();
        println!("our discv4: {stats:?}");
        assert!(
            stats.passed_on > 0,
            "discv5 packets came through discv4's port"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn geth_server_and_ours_meet_over_discv5_on_shared_ports() {
    geth_server_and_ours_meet_through_discovery(26, true).await;
}

/// With our discv4 off, go-ethereum can only have found us over discv5 (its discv4 packets
/// reach our discv5, which drops them as malformed).
#[tokio::test]
async fn geth_server_finds_our_discv5_only_node() {
    geth_server_and_ours_meet_through_discovery(27, false).await;
}

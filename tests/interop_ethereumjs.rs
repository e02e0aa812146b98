//! Interop with ethereumjs devp2p (an implementation we did not write) over 127.0.0.1, in both
//! directions: RLPx handshake, Hello, Ping/Pong and Disconnect reasons. The peer program is
//! `tests/interop/ethereumjs/peer.mjs`; `scripts/test.sh` installs its pinned npm packages.

use std::path::Path;
use std::time::Duration;

use ethp2p::p2p::{
    Capability, ConnectionError, DisconnectReason, Hello, P2pConnection, PONG, PROTOCOL_VERSION,
};
use ethp2p::rlpx::{MAX_FRAME_SIZE, PeerId, RlpxStream, random_secret_key};
use ethp2p_testkit::server::{localhost_config, next_event};
use rand::{SeedableRng, rngs::StdRng};
use secp256k1::SecretKey;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

mod child;

use child::{DEADLINE, JsonChild as JsPeer, repo_path};

fn spawn_js(args: &[&str]) -> JsPeer {
    let dir = repo_path("tests/interop/ethereumjs");
    let installed = dir.join("node_modules/@ethereumjs/devp2p").is_dir();
    let hint = "ethereumjs is not installed: run `bash scripts/test.sh` (it runs `npm ci` there)";
    assert!(installed, "{hint}");
    let mut full = vec!["peer.mjs"];
    full.extend_from_slice(args);
    JsPeer::spawn(Path::new("node"), &full, &dir, hint)
}

fn hello(key: &SecretKey, listen_port: u16) -> Hello {
    Hello {
        protocol_version: PROTOCOL_VERSION,
        client_id: "ethp2p-interop".into(),
        capabilities: vec![Capability::new("foo", 1)],
        listen_port,
        id: PeerId::from_secret_key(key).0,
    }
}

fn assert_js_saw_us(event: &Value, key: &SecretKey) {
    assert_eq!(event["id"], PeerId::from_secret_key(key).to_string());
    assert_eq!(event["client_id"], "ethp2p-interop");
    assert_eq!(event["protocol_version"], 5);
    assert_eq!(event["capabilities"], serde_json::json!(["foo/1"]));
}

fn assert_we_saw_js(connection: &P2pConnection<TcpStream>, id: &str) {
    let remote = connection.remote_hello();
    assert_eq!(PeerId(remote.id).to_string(), id);
    assert_eq!(remote.protocol_version, 5);
    assert!(remote.capabilities.contains(&Capability::new("foo", 1)));
    assert!(connection.snappy(), "both sides speak p2p v5");
}

/// We dial ethereumjs. It pings us (we answer), we ping it (it answers), then it disconnects
/// with "too many peers" as a bare, uncompressed byte, which we must decode.
#[tokio::test]
async fn we_dial_ethereumjs() {
    let mut rng = StdRng::seed_from_u64(11);
    let js_key = hex::encode(random_secret_key(&mut rng).to_secret_bytes());
    let our_key = random_secret_key(&mut rng);
    let mut js = spawn_js(&[
        "listen",
        "--key",
        &js_key,
        "--ping",
        "--then",
        "disconnect",
        "--reason",
        "4",
    ]);
    let listening = js.expect("listening").await;
    let port = listening["port"].as_u64().unwrap() as u16;
    let js_id: PeerId = listening["id"].as_str().unwrap().parse().unwrap();

    let session = async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let remote = js_id.to_public_key().unwrap();
        let stream = RlpxStream::connect(tcp, our_key, remote, &mut rng, MAX_FRAME_SIZE)
            .await
            .unwrap();
        let mut connection = P2pConnection::handshake(stream, &hello(&our_key, 0))
            .await
            .unwrap();
        assert_we_saw_js(&connection, &js_id.to_string());
        connection.ping().await.unwrap();
        let mut pongs = 0;
        let end = loop {
            match connection.recv().await {
                Ok((PONG, _)) => pongs += 1,
                Ok((code, _)) => panic!("unexpected message {code:#x}"),
                Err(end) => break end,
            }
        };
        assert_eq!(pongs, 1);
        assert_eq!(
            end,
            ConnectionError::Disconnected(DisconnectReason::TooManyPeers)
        );
    };
    timeout(DEADLINE, session)
        .await
        .expect("session finished in time");

    assert_js_saw_us(&js.expect("peer_added").await, &our_key);
    // Order of its own events: it saw our Ping, then its Pong came back (or the reverse).
    let mut seen = vec![
        js.event().await["event"].clone(),
        js.event().await["event"].clone(),
    ];
    seen.sort_by_key(|v| v.to_string());
    assert_eq!(seen, ["ping", "pong"]);
    let removed = js.expect("peer_removed").await;
    assert_eq!(
        (removed["reason"].as_u64(), removed["by_us"].as_bool()),
        (Some(4), Some(true))
    );
}

/// ethereumjs dials us. We ping it, get the Pong, and disconnect with "client quitting"; it must
/// read our snappy-compressed Disconnect and report that reason.
#[tokio::test]
async fn ethereumjs_dials_us() {
    let mut rng = StdRng::seed_from_u64(12);
    let js_key = random_secret_key(&mut rng);
    let our_key = random_secret_key(&mut rng);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let our_id = PeerId::from_secret_key(&our_key).to_string();
    let mut js = spawn_js(&[
        "dial",
        "--key",
        &hex::encode(js_key.to_secret_bytes()),
        "--remote-id",
        &our_id,
        "--port",
        &port.to_string(),
        "--then",
        "wait",
    ]);

    let session = async {
        let (tcp, _) = listener.accept().await.unwrap();
        let stream = RlpxStream::accept(tcp, our_key, &mut rng, MAX_FRAME_SIZE)
            .await
            .unwrap();
        assert_eq!(stream.remote_id(), PeerId::from_secret_key(&js_key));
        let mut connection = P2pConnection::handshake(stream, &hello(&our_key, port))
            .await
            .unwrap();
        assert_we_saw_js(&connection, &PeerId::from_secret_key(&js_key).to_string());
        connection.ping().await.unwrap();
        let (code, _) = connection.recv().await.unwrap();
        assert_eq!(code, PONG);
        connection
            .disconnect(DisconnectReason::ClientQuitting)
            .await
            .unwrap();
    };
    timeout(DEADLINE, session)
        .await
        .expect("session finished in time");

    let added = js.expect("peer_added").await;
    assert_js_saw_us(&added, &our_key);
    assert_eq!(added["listen_port"], port);
    js.expect("ping").await;
    let removed = js.expect("peer_removed").await;
    assert_eq!(
        (removed["reason"].as_u64(), removed["by_us"].as_bool()),
        (Some(8), Some(false))
    );
}

fn server_config(rng: &mut StdRng) -> ethp2p::ServerConfig {
    let idle = ethp2p::Protocol::new("foo", 1, 16, |mut peer| async move {
        while peer.recv().await.is_some() {}
        Ok(())
    });
    let mut config = localhost_config(random_secret_key(rng), vec![idle]);
    config.client_id = "ethp2p-interop".into();
    // Ping often so ethereumjs sees our Pings within the test.
    config.peer.ping_interval = Duration::from_millis(200);
    config
}

/// ethereumjs dials our server, pings it (we answer), then disconnects with "too many peers";
/// our peer-removed event carries that reason as received and initiated by the remote.
#[tokio::test]
async fn ethereumjs_dials_our_server() {
    let mut rng = StdRng::seed_from_u64(13);
    let server = ethp2p::Server::start(server_config(&mut rng))
        .await
        .unwrap();
    let mut events = server.events();
    let enode = server.local_enode();
    let js_key = hex::encode(random_secret_key(&mut rng).to_secret_bytes());
    let mut js = spawn_js(&[
        "dial",
        "--key",
        &js_key,
        "--remote-id",
        &enode.id.to_string(),
        "--port",
        &enode.tcp_port.to_string(),
        "--ping",
        "--then",
        "disconnect",
        "--reason",
        "4",
    ]);
    let added = js.expect("peer_added").await;
    assert_eq!(added["id"], enode.id.to_string());
    assert_eq!(added["client_id"], "ethp2p-interop");
    // Its Ping is answered by our read loop; our own Pings reach it too.
    let mut seen = Vec::new();
    while !(seen.contains(&"pong".to_string()) && seen.contains(&"ping".to_string())) {
        let event = js.event().await;
        if event["event"] == "peer_removed" {
            break;
        }
        seen.push(event["event"].as_str().unwrap().to_string());
    }
    assert!(
        seen.contains(&"pong".to_string()),
        "ethereumjs got our Pong: {seen:?}"
    );

    let ethp2p::PeerEvent::Added(info) = next_event(&mut events).await else {
        panic!("expected Added")
    };
    assert_eq!(info.direction, ethp2p::Direction::Inbound);
    assert_eq!(info.capabilities[0].capability(), Capability::new("foo", 1));
    let ethp2p::PeerEvent::Removed { end, .. } = next_event(&mut events).await else {
        panic!("expected Removed")
    };
    assert_eq!(end.received, Some(DisconnectReason::TooManyPeers));
    assert_eq!(end.sent, None);
    assert!(end.initiated_by_remote());
    server.shutdown().await;
}

/// Our server dials ethereumjs (a static peer); ethereumjs receives our Pings; then we remove
/// it and it reports our "disconnect requested".
#[tokio::test]
async fn our_server_dials_ethereumjs() {
    let mut rng = StdRng::seed_from_u64(14);
    let js_key = hex::encode(random_secret_key(&mut rng).to_secret_bytes());
    let mut js = spawn_js(&["listen", "--key", &js_key, "--ping", "--then", "wait"]);
    let listening = js.expect("listening").await;
    let js_id: PeerId = listening["id"].as_str().unwrap().parse().unwrap();
    let port = listening["port"].as_u64().unwrap() as u16;

    let server = ethp2p::Server::start(server_config(&mut rng))
        .await
        .unwrap();
    let mut events = server.events();
    server.add_peer(ethp2p_discovery::Enode::new(
        js_id,
        ([127, 0, 0, 1], port).into(),
    ));
    let ethp2p::PeerEvent::Added(info) = next_event(&mut events).await else {
        panic!("expected Added")
    };
    assert_eq!(info.id, js_id);
    assert_eq!(info.direction, ethp2p::Direction::Outbound);

    let added = js.expect("peer_added").await;
    assert_eq!(added["id"], server.local_id().to_string());
    // Wait until ethereumjs has both answered our Ping and had its own Ping answered.
    let mut seen = Vec::new();
    while !(seen.contains(&"pong".to_string()) && seen.contains(&"ping".to_string())) {
        seen.push(js.event().await["event"].as_str().unwrap().to_string());
    }
    server.remove_peer(js_id);
    let ethp2p::PeerEvent::Removed { end, .. } = next_event(&mut events).await else {
        panic!("expected Removed")
    };
    assert_eq!(end.sent, Some(DisconnectReason::DisconnectRequested));
    // It may log a write error (a Ping racing our close) before it reports the removal.
    let removed = loop {
        let event = js.event().await;
        if event["event"] != "error" {
            break event;
        }
    };
    assert_eq!(removed["event"], "peer_removed");
    assert_eq!(
        (removed["reason"].as_u64(), removed["by_us"].as_bool()),
        (Some(0), Some(false))
    );
    server.shutdown().await;
}

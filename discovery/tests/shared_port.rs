//! discv4 and discv5 on one UDP port (go-ethereum's default), on 127.0.0.1 with ephemeral
//! ports: a v4-only node and a v5-only node both reach the dual node on its one port, the dual
//! node reaches both from it, garbage goes to neither protocol's state (discv4 hands it on,
//! discv5 counts it as malformed) and breaks neither, and either protocol can stop alone.

#[path = "support/discv4.rs"]
mod discv4_support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ethp2p_discovery::Enode;
use ethp2p_discovery::v4::{self, Discv4, Discv4Handle, Endpoint};
use ethp2p_discovery::v5::{self, Discv5, Discv5Handle, ServiceConfig};
use ethp2p_discovery::{Enr, PeerId, spawn_shared};
use secp256k1::SecretKey;
use sha3::{Digest, Keccak256};
use tokio::net::UdpSocket;
use tokio::sync::broadcast;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_secret_bytes([seed; 32]).unwrap()
}

fn record(key: &SecretKey, addr: SocketAddr) -> Enr {
    let SocketAddr::V4(addr) = addr else {
        panic!("IPv4 only here")
    };
    Enr::builder()
        .ip4(*addr.ip())
        .udp4(addr.port())
        .build(key)
        .unwrap()
}

/// Revalidation off (an hour) in both protocols, so the tests can count every packet.
fn discv4(key: SecretKey, enr: Enr, addr: SocketAddr) -> Discv4 {
    let config = v4::Config {
        revalidate_interval: Duration::from_secs(3600),
        ..v4::Config::default()
    };
    let unix = v4::unix_now();
    Discv4::new(
        key,
        enr,
        Endpoint::from(addr),
        config,
        Instant::now(),
        unix,
        1,
    )
}

fn discv5(key: SecretKey, enr: Enr) -> Discv5 {
    let config = ServiceConfig {
        revalidate_interval: Duration::from_secs(3600),
        ..ServiceConfig::default()
    };
    Discv5::new(key, enr, config, Instant::now(), 1).unwrap()
}

async fn bind() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// A node with both protocols on one socket.
async fn dual(seed: u8) -> (Discv4Handle, Discv5Handle, Enr) {
    let (socket, addr) = bind().await;
    let enr = record(&key(seed), addr);
    let v4 = discv4(key(seed), enr.clone(), addr);
    let v5 = discv5(key(seed), enr.clone());
    let (v4, v5) = spawn_shared(socket, v4, v5).unwrap();
    assert_eq!(v4.local_addr(), v5.local_addr());
    (v4, v5, enr)
}

async fn v4_only(seed: u8) -> (Discv4Handle, Enode) {
    let (socket, addr) = bind().await;
    let handle = Discv4Handle::spawn(socket, discv4(key(seed), record(&key(seed), addr), addr));
    let node = Enode::new(PeerId::from_secret_key(&key(seed)), addr);
    (handle.unwrap(), node)
}

async fn v5_only(seed: u8) -> (Discv5Handle, Enr) {
    let (socket, addr) = bind().await;
    let enr = record(&key(seed), addr);
    let handle = Discv5Handle::spawn(socket, discv5(key(seed), enr.clone()));
    (handle.unwrap(), enr)
}

/// Waits until discv5 reports `record`'s node in its table.
async fn v5_added(events: &mut broadcast::Receiver<v5::Event>, record: &Enr) {
    loop {
        if let v5::Event::NodeAdded(added) = events.recv().await.unwrap() {
            if added.id() == record.id() {
                return;
            }
        }
    }
}

/// Datagrams that are no packet of either protocol: empty, short, random of every size up to
/// beyond what either reads, and a discv5-sized one with a valid-looking length.
fn garbage() -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new(), vec![0], vec![0xff; 62], vec![0; 63]];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for len in [97, 98, 99, 200, 1279, 1280, 1281, 2048, 2049, 4000] {
        let bytes = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        out.push(bytes);
    }
    out
}

/// A discv4 packet with a hash that matches but content that is not a packet: discv4's own
/// broken packet, dropped by discv4 and never handed to discv5.
fn broken_v4_packet() -> Vec<u8> {
    let mut packet = vec![0u8; 32];
    packet.extend([7u8; 65]);
    packet.extend([0x01, 0xc0]);
    let hash = Keccak256::digest(&packet[32..]);
    packet[..32].copy_from_slice(&hash);
    packet
}

#[tokio::test]
async fn both_protocols_on_one_port_and_garbage_reaches_neither() {
    let (a4, a5, a_enr) = dual(1).await;
    let a_node = Enode::new(PeerId::from_secret_key(&key(1)), a4.local_addr());
    let (b4, b_node) = v4_only(2).await;
    let (c5, c_enr) = v5_only(3).await;

    // Garbage first: the socket queue delivers it before the pings below.
    let (raw, _) = bind().await;
    let junk = garbage();
    for datagram in &junk {
        raw.send_to(datagram, a4.local_addr()).await.unwrap();
    }
    raw.send_to(&broken_v4_packet(), a4.local_addr())
        .await
        .unwrap();

    // Inbound on the one port: a v4 PING and a v5 PING (with its handshake).
    assert!(
        discv4_support::ping(&b4, a_node).await,
        "v4 node pinged the dual node"
    );
    let mut a5_events = a5.events();
    let pong = c5.ping(a_enr.clone()).await.unwrap();
    assert_eq!(pong.to, c5.local_addr());
    // The dual node pings the v5 node back after the handshake; once that PONG is in, the
    // two are quiet.
    v5_added(&mut a5_events, &c_enr).await;

    // Outbound from the one port.
    assert!(
        discv4_support::ping(&a4, b_node).await,
        "dual node pinged the v4 node"
    );
    let pong = a5.ping(c_enr.clone()).await.unwrap();
    assert_eq!(pong.to, a5.local_addr());

    let stats4 = a4.stats().await.unwrap();
    let stats5 = a5.stats().await.unwrap();
    println!("dual node, discv4: {stats4:?}");
    println!("dual node, discv5: {stats5:?}");
    // discv4 dropped its own broken packet and handed everything else that was not discv4 on:
    // the garbage and every discv5 packet, each of which discv5 then read.
    assert_eq!(stats4.dropped_malformed, 1);
    assert_eq!(stats4.passed_on, stats5.received);
    assert_eq!(
        stats4.received,
        stats4.passed_on + stats4.dropped_malformed + b4.stats().await.unwrap().sent
    );
    // discv5 counted the garbage as malformed, and nothing of the v5 node's.
    assert_eq!(stats5.dropped_malformed, junk.len() as u64);
    assert_eq!(stats5.handshakes, 1);
    // Nothing of ours reached the others' malformed counters.
    assert_eq!(b4.stats().await.unwrap().dropped_malformed, 0);
    assert_eq!(c5.stats().await.unwrap().dropped_malformed, 0);

    // discv4 stops alone; discv5 keeps the socket and now reads every datagram itself.
    a4.shutdown().await;
    assert!(a4.stats().await.is_err());
    let pong = c5.ping(a_enr.clone()).await.unwrap();
    assert_eq!(pong.to, c5.local_addr());
    raw.send_to(&broken_v4_packet(), a5.local_addr())
        .await
        .unwrap();
    c5.ping(a_enr.clone()).await.unwrap();
    let after = a5.stats().await.unwrap();
    assert_eq!(after.dropped_malformed, stats5.dropped_malformed + 1);

    a5.shutdown().await;
    b4.shutdown().await;
    c5.shutdown().await;
}

#[tokio::test]
async fn discv5_stopping_leaves_discv4_on_the_port() {
    let (a4, a5, _) = dual(4).await;
    let a_node = Enode::new(PeerId::from_secret_key(&key(4)), a4.local_addr());
    let (b4, _) = v4_only(5).await;
    a5.shutdown().await;
    assert!(a5.stats().await.is_err());
    assert!(discv4_support::ping(&b4, a_node).await);
    // Alone, discv4 counts what is not discv4 as malformed again.
    let (raw, _) = bind().await;
    raw.send_to(&[1, 2, 3], a4.local_addr()).await.unwrap();
    assert!(discv4_support::ping(&b4, a_node).await);
    let stats = a4.stats().await.unwrap();
    assert_eq!((stats.dropped_malformed, stats.passed_on), (1, 0));
    a4.shutdown().await;
    b4.shutdown().await;
}

/// A flood of random datagrams (random sizes up to 1500 bytes) at the shared port, from
/// another thread: afterwards both protocols still answer, and every datagram the node read
/// is counted once, the garbage as discv5 malformed. (The kernel may drop part of the flood;
/// no share is asserted.)
#[tokio::test]
async fn a_flood_of_garbage_leaves_both_protocols_answering() {
    const DATAGRAMS: usize = 20_000;
    let (a4, a5, a_enr) = dual(7).await;
    let a_node = Enode::new(PeerId::from_secret_key(&key(7)), a4.local_addr());
    let (b4, _) = v4_only(8).await;
    let (c5, _) = v5_only(9).await;
    assert!(discv4_support::ping(&b4, a_node).await);
    c5.ping(a_enr.clone()).await.unwrap();

    let target = a4.local_addr();
    let sent = tokio::task::spawn_blocking(move || {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut buf = [0u8; 1500];
        for _ in 0..DATAGRAMS {
            for byte in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state as u8;
            }
            let len = (state >> 40) as usize % buf.len();
            let _ = socket.send_to(&buf[..len], target);
        }
        DATAGRAMS
    })
    .await
    .unwrap();

    // The first PING may still meet a full receive buffer and be lost; once one is answered,
    // the flood before it has been read.
    let mut drained = false;
    for _ in 0..20 {
        if discv4_support::ping(&b4, a_node).await {
            drained = true;
            break;
        }
    }
    assert!(drained, "discv4 never answered after the flood");
    for _ in 0..5 {
        assert!(
            discv4_support::ping(&b4, a_node).await,
            "discv4 answers after the flood"
        );
        let pong = c5.ping(a_enr.clone()).await.unwrap();
        assert_eq!(pong.to, c5.local_addr(), "discv5 answers after the flood");
    }
    let stats4 = a4.stats().await.unwrap();
    let stats5 = a5.stats().await.unwrap();
    println!("{sent} datagrams sent\ndiscv4: {stats4:?}\ndiscv5: {stats5:?}");
    // The garbage went through discv4 to discv5 and was counted there, once each.
    assert_eq!(stats4.dropped_malformed, 0);
    assert_eq!(stats4.passed_on, stats5.received);
    assert!(stats5.dropped_malformed > 0, "none of the flood was read");
    assert!(stats5.dropped_malformed <= DATAGRAMS as u64);
    assert_eq!(
        (stats5.dropped_unsolicited, stats5.dropped_challenges_full),
        (0, 0)
    );
    for handle in [a4, b4] {
        handle.shutdown().await;
    }
    for handle in [a5, c5] {
        handle.shutdown().await;
    }
}

//! discv4 on a dual-stack socket (`[::]`, IPV6_V6ONLY off): IPv4 peers arrive as
//! `::ffff:a.b.c.d` and must be treated as the IPv4 peers they are (PONG `to`, table entries,
//! /24 limits), and a node on `[::]:0` answers pings over 127.0.0.1 and ::1 at once, discv4
//! alone and discv4 + discv5 on one shared port.

#[path = "support/discv4.rs"]
mod discv4_support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ethp2p_discovery::netutil::bind_udp;
use ethp2p_discovery::v4::{
    self, Discv4, Discv4Handle, Endpoint, Message, Ping, Pong, decode, encode,
};
use ethp2p_discovery::v5::{self, Discv5, Discv5Handle, ServiceConfig};
use ethp2p_discovery::{Enode, Enr, PeerId, spawn_shared};
use secp256k1::SecretKey;

const UNIX_START: u64 = 1_800_000_000;

fn key(seed: u16) -> SecretKey {
    let mut bytes = [7u8; 32];
    bytes[..2].copy_from_slice(&seed.to_be_bytes());
    SecretKey::from_secret_bytes(bytes).unwrap()
}

fn enr(key: &SecretKey, addr: SocketAddr) -> Enr {
    let mut builder = Enr::builder();
    match addr.ip() {
        IpAddr::V4(ip) => builder.ip4(ip).udp4(addr.port()),
        IpAddr::V6(ip) => builder.ip6(ip).udp6(addr.port()),
    };
    builder.build(key).unwrap()
}

/// Revalidation off (an hour): nothing but the test's own packets.
fn node(key: SecretKey, addr: SocketAddr, now: Instant, unix: u64) -> Discv4 {
    let config = v4::Config {
        revalidate_interval: Duration::from_secs(3600),
        ..v4::Config::default()
    };
    let enr = enr(&key, addr);
    Discv4::new(key, enr, Endpoint::from(addr), config, now, unix, 1)
}

fn mapped(addr: SocketAddr) -> SocketAddr {
    let IpAddr::V4(ip) = addr.ip() else {
        panic!("IPv4 only")
    };
    SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), addr.port())
}

/// 24 nodes of one public /24 ping A and answer its Ping back; those with `is_mapped(i)`
/// arrive as `::ffff:203.0.113.i`. Checks every PONG and returns A's table (id, address).
fn bond_all(is_mapped: impl Fn(u16) -> bool) -> Vec<(PeerId, SocketAddr)> {
    let now = Instant::now();
    let a_key = key(1);
    let a_addr: SocketAddr = "198.51.100.1:30303".parse().unwrap();
    let mut a = node(a_key, a_addr, now, UNIX_START);
    let expiration = UNIX_START + 20;
    for i in 1..=24u16 {
        let b_key = key(100 + i);
        let b_addr = SocketAddr::from(([203, 0, 113, i as u8], 30303));
        let source = if is_mapped(i) { mapped(b_addr) } else { b_addr };
        let ping = Message::Ping(Ping {
            version: v4::packet::PING_VERSION,
            from: Endpoint::from(b_addr),
            to: Endpoint::from(a_addr),
            expiration,
            enr_seq: None,
        });
        a.handle_datagram(now, source, &encode(&ping, &b_key).0);
        let sent: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
        let mut ping_back = None;
        let mut ponged = false;
        for transmit in &sent {
            assert_eq!(transmit.to, b_addr, "node {i}: sent to the IPv4 address");
            let packet = decode(&transmit.payload).unwrap();
            match packet.message {
                Message::Pong(pong) => {
                    assert_eq!(pong.to.ip, b_addr.ip(), "node {i}: PONG `to` is IPv4");
                    assert!(pong.to.ip.is_ipv4(), "node {i}: 4 bytes on the wire");
                    ponged = true;
                }
                Message::Ping(_) => ping_back = Some(packet.hash),
                other => panic!("node {i}: unexpected {other:?}"),
            }
        }
        assert!(ponged, "node {i}: answered");
        let pong = Message::Pong(Pong {
            to: Endpoint::from(a_addr),
            ping_hash: ping_back.expect("A pings back to bond"),
            expiration,
            enr_seq: None,
        });
        a.handle_datagram(now, source, &encode(&pong, &b_key).0);
        while a.poll_transmit().is_some() {}
    }
    let mut table: Vec<_> = a
        .table()
        .nodes()
        .map(|n| (n.record.id, n.record.udp_addr()))
        .collect();
    table.sort();
    table
}

/// Mapped sources land in the table as IPv4 and share the /24 limits with plain IPv4 ones:
/// the table is the same whichever form the packets came in.
#[test]
fn mapped_sources_count_as_ipv4() {
    let plain = bond_all(|_| false);
    let mixed = bond_all(|i| i % 2 == 0);
    let all_mapped = bond_all(|_| true);
    assert!(
        plain.len() < 24 && !plain.is_empty(),
        "the /24 limits apply: {} of 24",
        plain.len()
    );
    assert!(plain.len() <= ethp2p_discovery::kad::TABLE_IP_LIMIT);
    assert!(plain.iter().all(|(_, addr)| addr.is_ipv4()));
    assert_eq!(mixed, plain, "half mapped");
    assert_eq!(all_mapped, plain, "all mapped");
}

async fn spawn(seed: u16, bind: &str, advertised: SocketAddr) -> (Discv4Handle, SocketAddr) {
    let socket = bind_udp(bind.parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let addr = SocketAddr::new(advertised.ip(), port);
    let handle = Discv4Handle::spawn(
        socket,
        node(key(seed), addr, Instant::now(), v4::unix_now()),
    )
    .unwrap();
    (handle, addr)
}

/// A node on `[::]:0` is pinged over 127.0.0.1 by one node and over ::1 by another; both are
/// answered, and it bonds with both at their real (IPv4 and IPv6) addresses, which takes its
/// own Pings out through the same socket to either family.
#[tokio::test]
async fn dual_stack_node_answers_both_families() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (a, a_addr) = spawn(1, "[::]:0", any).await;
    let (b, b_addr) = spawn(2, "127.0.0.1:0", any).await;
    let (c, c_addr) = spawn(3, "[::1]:0", "[::1]:0".parse().unwrap()).await;
    let a_id = PeerId::from_secret_key(&key(1));
    let over_v4 = Enode::new(a_id, a_addr);
    let over_v6 = Enode::new(a_id, SocketAddr::new("::1".parse().unwrap(), a_addr.port()));
    let mut events = a.events();
    let (from_b, from_c) = tokio::join!(
        discv4_support::ping(&b, over_v4),
        discv4_support::ping(&c, over_v6)
    );
    assert!(from_b, "answered over IPv4");
    assert!(from_c, "answered over IPv6");
    // A pinged each back to bond: both answers come in (a lost one would time out).
    let mut added = Vec::new();
    while added.len() < 2 {
        match events.recv().await.unwrap() {
            v4::Event::NodeAdded(node) | v4::Event::ReplacementAdded(node) => {
                added.push(SocketAddr::new(node.ip, node.udp_port));
            }
            v4::Event::PingTimeout(node) => panic!("A's Ping to {node:?} went unanswered"),
            _ => {}
        }
    }
    added.sort();
    let mut want = vec![b_addr, c_addr];
    want.sort();
    assert_eq!(added, want, "IPv4 peer as IPv4, IPv6 peer as IPv6");
    for handle in [a, b, c] {
        handle.shutdown().await;
    }
}

fn discv5(key: SecretKey, enr: Enr) -> Discv5 {
    let config = ServiceConfig {
        revalidate_interval: Duration::from_secs(3600),
        ..ServiceConfig::default()
    };
    Discv5::new(key, enr, config, Instant::now(), 1).unwrap()
}

async fn v5_client(seed: u16, bind: &str) -> (Discv5Handle, SocketAddr) {
    let socket = bind_udp(bind.parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let handle = Discv5Handle::spawn(socket, discv5(key(seed), enr(&key(seed), addr))).unwrap();
    (handle, addr)
}

/// discv4 and discv5 on one dual-stack port: a discv5 node over 127.0.0.1 and one over ::1
/// both get PONGs that name their own address (the IPv4 one as IPv4), and discv4 pings over
/// both families are answered on the same port.
#[tokio::test]
async fn shared_dual_stack_port_answers_discv5_and_discv4_over_both_families() {
    let socket = bind_udp("[::]:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let a_key = key(1);
    let mut builder = Enr::builder();
    builder
        .ip4(std::net::Ipv4Addr::LOCALHOST)
        .udp4(port)
        .ip6(std::net::Ipv6Addr::LOCALHOST)
        .udp6(port);
    let a_enr = builder.build(&a_key).unwrap();
    let a_v4_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (a4, a5) = spawn_shared(
        socket,
        node(a_key, a_v4_addr, Instant::now(), v4::unix_now()),
        discv5(a_key, a_enr.clone()),
    )
    .unwrap();
    // discv5 sends to `ip` when a record has it: the IPv6 client gets a record of A with `ip6`
    // alone (signed by A's key, as A would sign it).
    let mut builder = Enr::builder();
    builder
        .ip6(std::net::Ipv6Addr::LOCALHOST)
        .udp6(port)
        .seq(a_enr.seq());
    let a_enr_v6 = builder.build(&a_key).unwrap();

    let mut a_events = a5.events();
    let (b, b_addr) = v5_client(2, "127.0.0.1:0").await;
    let (b_id, c_id) = (
        Enr::builder().build(&key(2)).unwrap().id(),
        Enr::builder().build(&key(3)).unwrap().id(),
    );
    let (c, c_addr) = v5_client(3, "[::1]:0").await;
    let (from_b, from_c) = tokio::join!(b.ping(a_enr), c.ping(a_enr_v6));
    assert_eq!(from_b.unwrap().to, b_addr, "IPv4 client seen as IPv4");
    assert_eq!(from_c.unwrap().to, c_addr, "IPv6 client seen as IPv6");
    // A takes both into its table once it has checked them: each came from the address its
    // record names (the IPv4 one only once the mapped source is read as IPv4). A deadline,
    // never reached when it works, turns a missing node into a failure instead of a hang.
    let mut want = vec![b_id, c_id];
    tokio::time::timeout(Duration::from_secs(20), async {
        while !want.is_empty() {
            if let v5::Event::NodeAdded(added) = a_events.recv().await.unwrap() {
                want.retain(|id| *id != added.id());
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("A's table lacks {want:?}"));

    let (d, _) = spawn(4, "127.0.0.1:0", "127.0.0.1:0".parse().unwrap()).await;
    let (e, _) = spawn(5, "[::1]:0", "[::1]:0".parse().unwrap()).await;
    let a_id = PeerId::from_secret_key(&a_key);
    let at = |ip: &str| Enode::new(a_id, SocketAddr::new(ip.parse().unwrap(), port));
    let (over_v4, over_v6) = tokio::join!(
        discv4_support::ping(&d, at("127.0.0.1")),
        discv4_support::ping(&e, at("::1"))
    );
    assert!(
        over_v4 && over_v6,
        "discv4 over IPv4 {over_v4}, over IPv6 {over_v6}"
    );
    for handle in [b, c, a5] {
        handle.shutdown().await;
    }
    for handle in [d, e, a4] {
        handle.shutdown().await;
    }
}

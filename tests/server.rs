//! Servers peering over 127.0.0.1 through the public API: static dialing, protocol messages both
//! ways, offset arithmetic with several protocols, and the reasons reported when peers end.

use std::net::SocketAddr;
use std::time::Duration;

use ethp2p::p2p::DisconnectReason;
use ethp2p::peer::EndCause;
use ethp2p::rlpx::random_secret_key;
use ethp2p::{PeerEvent, Protocol, Server, ServerConfig, ServerHandle};
use ethp2p_testkit::server::{localhost_config, next_added, next_event, next_removed};
use rand::{SeedableRng, rngs::StdRng};
use tokio::sync::{broadcast, mpsc};
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(20);

fn config(rng: &mut StdRng, protocols: Vec<Protocol>) -> ServerConfig {
    localhost_config(random_secret_key(rng), protocols)
}

/// A protocol that reports every message it receives on a channel and sends `greeting` first.
fn recorder(
    name: &str,
    version: u32,
    length: u64,
    greeting: Option<(u64, &'static [u8])>,
    seen: mpsc::UnboundedSender<(String, u64, Vec<u8>)>,
) -> Protocol {
    let label = format!("{name}/{version}");
    Protocol::new(name, version, length, move |mut peer| {
        let seen = seen.clone();
        let label = label.clone();
        async move {
            if let Some((code, payload)) = greeting {
                peer.send(code, payload).await?;
            }
            while let Some(message) = peer.recv().await {
                let _ = seen.send((label.clone(), message.code, message.payload));
            }
            Ok(())
        }
    })
}

async fn start_pair(
    rng: &mut StdRng,
    a_protocols: Vec<Protocol>,
    b_protocols: Vec<Protocol>,
) -> (
    ServerHandle,
    ServerHandle,
    broadcast::Receiver<PeerEvent>,
    broadcast::Receiver<PeerEvent>,
) {
    let b = Server::start(config(rng, b_protocols)).await.unwrap();
    let mut a_config = config(rng, a_protocols);
    a_config.static_peers = vec![b.local_enode()];
    let b_events = b.events();
    let a = Server::start(a_config).await.unwrap();
    let a_events = a.events();
    (a, b, a_events, b_events)
}

#[tokio::test]
async fn several_protocols_route_by_offset_both_ways() {
    let mut rng = StdRng::seed_from_u64(1);
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    // A and B list protocols in different orders and each has one the other lacks; only foo/1
    // and bar/2 match. Sorted by name: bar/2 at 0x10..0x15, foo/1 at 0x15..0x18.
    let a_protocols = vec![
        recorder("foo", 1, 3, Some((2, b"a-foo")), seen_tx.clone()),
        recorder("bar", 2, 5, Some((4, b"a-bar")), seen_tx.clone()),
        recorder("zzz", 1, 1, None, seen_tx.clone()),
    ];
    let b_protocols = vec![
        recorder("bar", 2, 5, Some((0, b"b-bar")), seen_tx.clone()),
        recorder("aaa", 1, 7, None, seen_tx.clone()),
        recorder("foo", 1, 3, Some((1, b"b-foo")), seen_tx.clone()),
    ];
    let (a, b, mut a_events, _b_events) = start_pair(&mut rng, a_protocols, b_protocols).await;
    let info = next_added(&mut a_events).await;
    let matched: Vec<_> = info
        .capabilities
        .iter()
        .map(|c| (c.name.as_str(), c.version, c.offset))
        .collect();
    assert_eq!(matched, [("bar", 2, 0x10), ("foo", 1, 0x15)]);

    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(timeout(DEADLINE, seen.recv()).await.unwrap().unwrap());
    }
    got.sort();
    let expected: Vec<(String, u64, Vec<u8>)> = vec![
        ("bar/2".into(), 0, b"b-bar".to_vec()),
        ("bar/2".into(), 4, b"a-bar".to_vec()),
        ("foo/1".into(), 1, b"b-foo".to_vec()),
        ("foo/1".into(), 2, b"a-foo".to_vec()),
    ];
    assert_eq!(got, expected);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn remove_peer_reports_reasons_on_both_sides() {
    let mut rng = StdRng::seed_from_u64(2);
    let (tx, _rx) = mpsc::unbounded_channel();
    let (a, b, mut a_events, mut b_events) = start_pair(
        &mut rng,
        vec![recorder("foo", 1, 1, None, tx.clone())],
        vec![recorder("foo", 1, 1, None, tx)],
    )
    .await;
    let info = next_added(&mut a_events).await;
    next_added(&mut b_events).await;
    assert_eq!(a.peers().len(), 1);
    a.remove_peer(info.id);
    let a_end = next_removed(&mut a_events).await;
    assert_eq!(
        a_end.cause,
        EndCause::Requested(DisconnectReason::DisconnectRequested)
    );
    assert_eq!(a_end.sent, Some(DisconnectReason::DisconnectRequested));
    assert!(!a_end.initiated_by_remote());
    let b_end = next_removed(&mut b_events).await;
    assert_eq!(b_end.received, Some(DisconnectReason::DisconnectRequested));
    assert_eq!(b_end.sent, None);
    assert!(b_end.initiated_by_remote());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn handler_return_and_error_map_to_reasons() {
    for (fails, reason) in [
        (false, DisconnectReason::ClientQuitting),
        (true, DisconnectReason::SubprotocolError),
    ] {
        let mut rng = StdRng::seed_from_u64(3);
        let quitter = Protocol::new("foo", 1, 1, move |_peer| async move {
            if fails {
                Err("handler gave up".into())
            } else {
                Ok(())
            }
        });
        let (tx, _rx) = mpsc::unbounded_channel();
        let (a, b, mut a_events, mut b_events) = start_pair(
            &mut rng,
            vec![quitter],
            vec![recorder("foo", 1, 1, None, tx)],
        )
        .await;
        let a_end = next_removed(&mut a_events).await;
        assert_eq!(a_end.sent, Some(reason));
        assert!(matches!(
            a_end.cause,
            EndCause::ProtocolReturned(_) | EndCause::ProtocolFailed { .. }
        ));
        let b_end = next_removed(&mut b_events).await;
        assert_eq!(b_end.received, Some(reason));
        a.shutdown().await;
        b.shutdown().await;
    }
}

/// A handler that sends its last messages and returns: every one of them reaches the remote
/// before our Disconnect (they were queued when the session ended, and are written first).
#[tokio::test]
async fn messages_queued_before_a_handler_returns_are_delivered() {
    const LAST_WORDS: u64 = 50;
    let mut rng = StdRng::seed_from_u64(7);
    let sender = Protocol::new("foo", 1, 1, |peer| async move {
        for i in 0..LAST_WORDS {
            peer.send(0, &i.to_be_bytes()).await?;
        }
        Ok(())
    });
    // B records what it reads; once `recv` says the session is over, a send must fail (not
    // queue a frame nobody writes).
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (after_tx, mut after_rx) = mpsc::unbounded_channel();
    let receiver = Protocol::new("foo", 1, 1, move |mut peer| {
        let (tx, after_tx) = (tx.clone(), after_tx.clone());
        async move {
            while let Some(message) = peer.recv().await {
                let _ = tx.send(message.payload);
            }
            let _ = after_tx.send(peer.send(0, b"too late").await);
            Ok(())
        }
    });
    let (a, b, mut a_events, mut b_events) =
        start_pair(&mut rng, vec![sender], vec![receiver]).await;
    let a_end = next_removed(&mut a_events).await;
    assert_eq!(a_end.sent, Some(DisconnectReason::ClientQuitting));
    let b_end = next_removed(&mut b_events).await;
    assert_eq!(b_end.received, Some(DisconnectReason::ClientQuitting));
    // B's recorder saw everything it read before the Disconnect, in order.
    let mut received = Vec::new();
    while let Ok(payload) = rx.try_recv() {
        received.push(u64::from_be_bytes(payload.try_into().unwrap()));
    }
    assert_eq!(received, (0..LAST_WORDS).collect::<Vec<_>>());
    let late = timeout(DEADLINE, after_rx.recv()).await.unwrap().unwrap();
    assert_eq!(late, Err(ethp2p::SendError::PeerGone));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn no_shared_capability_is_a_useless_peer() {
    let mut rng = StdRng::seed_from_u64(4);
    let (tx, _rx) = mpsc::unbounded_channel();
    let (a, b, mut a_events, _b_events) = start_pair(
        &mut rng,
        vec![recorder("foo", 1, 1, None, tx.clone())],
        vec![recorder("foo", 2, 1, None, tx)],
    )
    .await;
    match next_event(&mut a_events).await {
        PeerEvent::HandshakeFailed { sent, .. } => {
            assert_eq!(sent, Some(DisconnectReason::UselessPeer))
        }
        other => panic!("unexpected {other:?}"),
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn shutdown_tells_every_peer_client_quitting() {
    let mut rng = StdRng::seed_from_u64(5);
    let (tx, _rx) = mpsc::unbounded_channel();
    let (a, b, mut a_events, mut b_events) = start_pair(
        &mut rng,
        vec![recorder("foo", 1, 1, None, tx.clone())],
        vec![recorder("foo", 1, 1, None, tx)],
    )
    .await;
    next_added(&mut a_events).await;
    next_added(&mut b_events).await;
    b.shutdown().await;
    assert_eq!(b.peer_count(), 0);
    let a_end = next_removed(&mut a_events).await;
    assert_eq!(a_end.received, Some(DisconnectReason::ClientQuitting));
    a.shutdown().await;
}

/// What the control API reports per peer: our end of the connection, every capability the
/// remote announced, and the static and trusted flags as they are added and removed.
#[tokio::test]
async fn peer_info_and_static_and_trusted_flags() {
    let mut rng = StdRng::seed_from_u64(7);
    let (tx, _rx) = mpsc::unbounded_channel();
    let (a, b, mut a_events, mut b_events) = start_pair(
        &mut rng,
        vec![recorder("foo", 1, 1, None, tx.clone())],
        vec![
            recorder("foo", 1, 1, None, tx.clone()),
            recorder("zzz", 3, 1, None, tx),
        ],
    )
    .await;
    let on_a = next_added(&mut a_events).await;
    let on_b = next_added(&mut b_events).await;
    // One TCP connection seen from both ends.
    assert_eq!(on_a.local_addr, Some(on_b.remote_addr));
    assert_eq!(on_b.local_addr, Some(on_a.remote_addr));
    let announced: Vec<String> = on_a
        .remote_capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(announced, ["foo/1", "zzz/3"]);
    assert_eq!(on_a.capabilities.len(), 1, "only foo/1 is shared");

    let served: Vec<String> = b.capabilities().iter().map(|c| c.to_string()).collect();
    assert_eq!(served, ["foo/1", "zzz/3"]);
    assert_eq!(b.client_id(), on_a.client_id);

    // A lists B as static (it dialed it); B lists nobody.
    assert!(a.is_static(&b.local_id()));
    assert!(!b.is_static(&a.local_id()));
    assert!(!a.is_trusted(&b.local_id()));
    a.add_trusted_peer(b.local_id());
    assert!(a.is_trusted(&b.local_id()));
    a.remove_trusted_peer(b.local_id());
    assert!(!a.is_trusted(&b.local_id()));
    assert_eq!(a.peer_count(), 1, "removing trust does not disconnect");

    // remove_peer forgets the static entry too, so B is not redialed.
    a.remove_peer(b.local_id());
    assert!(!a.is_static(&b.local_id()));
    next_removed(&mut a_events).await;
    a.shutdown().await;
    b.shutdown().await;
}

/// A server on `[::]:0` (dual-stack) takes one peer over 127.0.0.1 and another over ::1 at
/// the same time, and reports the IPv4 one at its IPv4 address (not `::ffff:127.0.0.1`); its
/// record carries `ip6`/`tcp6`/`udp6` (`::1`) beside `ip`/`tcp`/`udp` (127.0.0.1).
#[tokio::test]
async fn dual_stack_listener_takes_both_families() {
    let mut rng = StdRng::seed_from_u64(12);
    let (tx, _rx) = mpsc::unbounded_channel();
    let foo = || recorder("foo", 1, 1, None, tx.clone());
    let mut hub_config = config(&mut rng, vec![foo()]);
    hub_config.listen_addr = Some("[::]:0".parse().unwrap());
    hub_config.discovery = Some(ethp2p::server::DiscoveryConfig::default());
    let hub = Server::start(hub_config).await.unwrap();
    // Its record names both loopback addresses, with the same ports.
    let record = hub.local_enr().expect("discovery on");
    assert_eq!(record.ip4(), Some(std::net::Ipv4Addr::LOCALHOST));
    assert_eq!(record.ip6(), Some(std::net::Ipv6Addr::LOCALHOST));
    assert_eq!(record.tcp4(), Some(hub.local_enode().tcp_port));
    assert_eq!(
        (record.tcp6(), record.udp6()),
        (record.tcp4(), record.udp4())
    );
    let mut hub_events = hub.events();
    let over_v4 = hub.local_enode();
    assert!(over_v4.ip.is_loopback() && over_v4.ip.is_ipv4());
    let mut over_v6 = over_v4;
    over_v6.ip = "::1".parse().unwrap();

    let mut v4_config = config(&mut rng, vec![foo()]);
    v4_config.static_peers = vec![over_v4];
    let mut v6_config = config(&mut rng, vec![foo()]);
    v6_config.listen_addr = Some("[::1]:0".parse().unwrap());
    v6_config.static_peers = vec![over_v6];
    let v4 = Server::start(v4_config).await.unwrap();
    let v6 = Server::start(v6_config).await.unwrap();
    let (mut v4_events, mut v6_events) = (v4.events(), v6.events());

    let mut seen = vec![
        next_added(&mut hub_events).await.remote_addr,
        next_added(&mut hub_events).await.remote_addr,
    ];
    let mut want = vec![
        next_added(&mut v4_events).await.local_addr.unwrap(),
        next_added(&mut v6_events).await.local_addr.unwrap(),
    ];
    assert!(want[0].is_ipv4() && want[1].is_ipv6(), "{want:?}");
    seen.sort();
    want.sort();
    assert_eq!(seen, want, "each peer at its own family's address");
    assert_eq!(hub.peer_count(), 2, "both at once");
    // A real IPv4 endpoint (from NAT, say) replaces 127.0.0.1, and the ::1 beside it goes:
    // loopback must not be announced next to a public address.
    let (tcp, udp) = (record.tcp4().unwrap(), record.udp4().unwrap());
    let public = std::net::Ipv4Addr::new(203, 0, 113, 9);
    hub.set_external_endpoint(public.into(), tcp, udp).await;
    let record = hub.local_enr().unwrap();
    assert_eq!(record.ip4(), Some(public));
    assert_eq!(
        (record.ip6(), record.tcp6(), record.udp6()),
        (None, None, None)
    );
    // An IPv6 one (`--nat extip:2001:db8::9`) fills the IPv6 slot beside it, one sequence
    // number later; IPv4 and our enode stay.
    let public6: std::net::Ipv6Addr = "2001:db8::9".parse().unwrap();
    hub.set_external_endpoint(public6.into(), tcp, udp).await;
    let with_v6 = hub.local_enr().unwrap();
    assert_eq!(with_v6.seq(), record.seq() + 1);
    assert_eq!(with_v6.ip4(), Some(public));
    assert_eq!(
        (with_v6.ip6(), with_v6.tcp6(), with_v6.udp6()),
        (Some(public6), Some(tcp), Some(udp))
    );
    assert_eq!(hub.local_enode().ip, std::net::IpAddr::from(public));
    hub.set_external_endpoint(public6.into(), tcp, udp).await;
    assert_eq!(
        hub.local_enr().unwrap().seq(),
        with_v6.seq(),
        "no change: no bump"
    );
    for server in [v4, v6, hub] {
        server.shutdown().await;
    }
}

/// `extip:` as a server option: the given address is advertised in the enode and the record
/// (sequence number bumped) before the event reports it, with the server's own ports.
#[cfg(feature = "nat")]
#[tokio::test]
async fn nat_extip_is_advertised_in_the_enode_and_the_record() {
    use ethp2p::nat::{MappingProtocol, NatEvent, NatMode};
    let mut rng = StdRng::seed_from_u64(21);
    let mut node_config = config(&mut rng, vec![]);
    node_config.discovery = Some(ethp2p::server::DiscoveryConfig::default());
    let public = std::net::IpAddr::from([203, 0, 113, 7]);
    node_config.nat = ethp2p::server::NatConfig::new(NatMode::ExtIp(public));
    let node = Server::start(node_config).await.unwrap();
    let mut nat_events = node.nat_events();
    let event = timeout(DEADLINE, nat_events.recv())
        .await
        .expect("NAT event in time")
        .expect("NAT event stream open");
    let NatEvent::Mapped {
        protocol, endpoint, ..
    } = event
    else {
        panic!("expected Mapped, got {event:?}");
    };
    assert_eq!((protocol, endpoint.ip), (MappingProtocol::ExtIp, public));
    let enode = node.local_enode();
    assert_eq!(enode.ip, public);
    assert_eq!(Some(enode.tcp_port), endpoint.tcp_port);
    assert_eq!(Some(enode.udp_port), endpoint.udp_port);
    let record = node.local_enr().expect("discovery on");
    assert_eq!(record.ip4().map(std::net::IpAddr::from), Some(public));
    assert_eq!(record.tcp4(), Some(enode.tcp_port));
    assert!(
        record.seq() > 1,
        "a new endpoint is a new record: {}",
        record.seq()
    );
    node.shutdown().await;
}

/// Asserts that nothing has connected to `listener` so far: a connection of our own, made now,
/// is the first one it accepts (the kernel queues connections in the order they were made).
async fn assert_nothing_connected_before_now(listener: &tokio::net::TcpListener) {
    let ours = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (_, from) = timeout(DEADLINE, listener.accept()).await.unwrap().unwrap();
    assert_eq!(
        from,
        ours.local_addr().unwrap(),
        "no connection was made before ours"
    );
}

/// A node at `addr` whose id is not a point on the curve: no handshake can be addressed to it.
fn undialable_node(addr: SocketAddr) -> ethp2p_discovery::Enode {
    ethp2p_discovery::Enode {
        id: ethp2p::PeerId([0xff; 64]),
        ip: addr.ip(),
        tcp_port: addr.port(),
        udp_port: addr.port(),
    }
}

/// A static peer whose id is no public key is the configuration's fault, not the remote's: it
/// is found before the connect, so nothing connects to its address, and it is not listed as a
/// static peer (the dial-state unit tests show it is never retried).
#[tokio::test]
async fn an_undialable_node_id_is_blamed_on_the_configuration() {
    use ethp2p::Blame;
    use ethp2p::server::SetupError;
    let mut rng = StdRng::seed_from_u64(22);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bad = undialable_node(addr);
    let mut dialer_config = config(&mut rng, vec![]);
    dialer_config.static_peers = vec![bad];
    // Subscribed before the dialer reports it: on this single-threaded runtime the dialer task
    // runs only once the test awaits again.
    let dialer = Server::start(dialer_config).await.unwrap();
    let mut events = dialer.events();
    // Configured, then added again by hand: each is reported, once.
    for round in 0..2 {
        match next_event(&mut events).await {
            PeerEvent::HandshakeFailed {
                id,
                error,
                remote_addr,
                sent,
                ..
            } => {
                assert_eq!(id, Some(bad.id));
                assert_eq!(remote_addr, addr);
                assert_eq!(sent, None);
                assert!(
                    matches!(error, SetupError::InvalidNodeId(id) if id == bad.id),
                    "{error}"
                );
                assert_eq!(error.blame(), Blame::Configuration);
            }
            other => panic!("expected the undialable id reported, got {other:?}"),
        }
        assert!(!dialer.is_static(&bad.id));
        if round == 0 {
            dialer.add_peer(bad);
        }
    }
    assert_nothing_connected_before_now(&listener).await;
    assert_eq!(dialer.stats().handshake_failures, 2);
    dialer.shutdown().await;
}

/// A node source's candidate whose id is no public key is dropped before the connect, without
/// a report (its record is to blame, not us); the next candidate is dialed as usual.
#[tokio::test]
async fn a_candidate_with_an_undialable_id_is_dropped_unreported() {
    let mut rng = StdRng::seed_from_u64(24);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let live = Server::start(config(
        &mut rng,
        vec![recorder("foo", 1, 1, None, tx.clone())],
    ))
    .await
    .unwrap();
    let dialer = Server::start(config(&mut rng, vec![recorder("foo", 1, 1, None, tx)]))
        .await
        .unwrap();
    let mut events = dialer.events();
    let source = dialer.add_node_source("test");
    source
        .send(undialable_node(listener.local_addr().unwrap()))
        .await
        .unwrap();
    source.send(live.local_enode()).await.unwrap();
    match next_event(&mut events).await {
        PeerEvent::Added(info) => assert_eq!(info.id, live.local_id()),
        other => panic!("expected the live candidate connected first, got {other:?}"),
    }
    assert_nothing_connected_before_now(&listener).await;
    assert_eq!(dialer.stats().handshake_failures, 0);
    for server in [dialer, live] {
        server.shutdown().await;
    }
}

/// A record entry that is not RLP stops the start as a configuration error.
#[tokio::test]
async fn a_bad_record_entry_is_a_configuration_error() {
    use ethp2p::server::StartError;
    let mut rng = StdRng::seed_from_u64(23);
    let mut node_config = config(&mut rng, vec![]);
    node_config.discovery = Some(ethp2p::server::DiscoveryConfig {
        record_entries: vec![("eth".into(), vec![0xc5, 0x01])],
        ..Default::default()
    });
    let Err(error) = Server::start(node_config).await else {
        panic!("a record entry that is not one RLP item must be refused");
    };
    assert!(
        matches!(&error, StartError::RecordEntry { key, .. } if key == "eth"),
        "{error}"
    );
    assert_eq!(error.blame(), ethp2p::Blame::Configuration);
}

/// A record whose IPv4 endpoint is dead (a closed port on 127.0.0.1) and whose IPv6 endpoint
/// is a live node on ::1: the dialer tries IPv4 first (it listens on 127.0.0.1), falls back to
/// the record's IPv6 endpoint, and the peer connects there, with no failure reported. The same
/// node as an enode at the dead address alone fails, so the IPv4 endpoint really is dead.
#[tokio::test]
async fn dialer_falls_back_to_the_records_other_family() {
    let mut rng = StdRng::seed_from_u64(13);
    let (tx, _rx) = mpsc::unbounded_channel();
    let foo = || recorder("foo", 1, 1, None, tx.clone());
    let mut live_config = config(&mut rng, vec![foo()]);
    live_config.listen_addr = Some("[::1]:0".parse().unwrap());
    let live_key = live_config.key;
    let live = Server::start(live_config).await.unwrap();
    let live_addr = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, live.local_enode().tcp_port));
    // Bound and closed again: nothing listens there.
    let dead_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let record = ethp2p_discovery::Enr::builder()
        .ip4(std::net::Ipv4Addr::LOCALHOST)
        .tcp4(dead_addr.port())
        .ip6(std::net::Ipv6Addr::LOCALHOST)
        .tcp6(live_addr.port())
        .build(&live_key)
        .unwrap();
    let candidate = ethp2p::server::DialCandidate::from_record(&record).unwrap();
    assert_eq!(
        candidate.enode.tcp_addr(),
        dead_addr,
        "IPv4 is the record's first"
    );
    assert_eq!(candidate.fallback, Some(live_addr));

    // The dead IPv4 endpoint alone: the dial fails there.
    let control = Server::start(config(&mut rng, vec![foo()])).await.unwrap();
    let mut control_events = control.events();
    let source = control.add_node_source("test");
    source.send(candidate.enode).await.unwrap();
    match next_event(&mut control_events).await {
        PeerEvent::HandshakeFailed {
            remote_addr, id, ..
        } => {
            assert_eq!(remote_addr, dead_addr);
            assert_eq!(id, Some(live.local_id()));
        }
        other => panic!("expected the dial to fail, got {other:?}"),
    }

    // The record: connected over IPv6.
    let dialer = Server::start(config(&mut rng, vec![foo()])).await.unwrap();
    let mut events = dialer.events();
    let source = dialer.add_node_source("test");
    source.send(candidate).await.unwrap();
    match next_event(&mut events).await {
        PeerEvent::Added(info) => {
            assert_eq!(info.id, live.local_id());
            assert_eq!(info.remote_addr, live_addr);
        }
        other => panic!("expected the peer over IPv6, got {other:?}"),
    }
    assert_eq!(dialer.peer_count(), 1);
    for server in [control, dialer, live] {
        server.shutdown().await;
    }
}

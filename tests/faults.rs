//! Misbehaving remotes against a server over 127.0.0.1. Each fault must end that connection with
//! the right cause and Disconnect reason and exactly one log line, while a well-behaved peer (a
//! full server speaking the echo protocol) stays connected and keeps exchanging messages.
//!
//! The faulty remotes are raw clients driven through the sans-IO RLPx core, so they can stall,
//! send partial frames, garbage or lies. No test sleeps to wait for something: every wait is on an
//! event, a socket or a channel, bounded by a timeout.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{DEADLINE, ECHO, ECHO_WIRE_CODE, Fixture, RawClient, node_config};
use ethp2p::p2p::{
    DISCONNECT, DisconnectReason, MAX_MESSAGE_SIZE, P2pError, PING, PONG, encode_message,
    split_message_code,
};
use ethp2p::peer::EndCause;
use ethp2p::rlpx::random_secret_key;
use ethp2p::rlpx::{FrameError, Initiator, MAX_FRAME_SIZE, PeerId, RlpxError};
use ethp2p::server::SetupError;
use ethp2p::{Message, PeerEvent, Protocol, Server};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// A real auth packet for the server, for clients that send it slowly or only in part.
fn auth_packet(fixture: &mut Fixture) -> Vec<u8> {
    let key = random_secret_key(&mut fixture.rng);
    let server = fixture.server.local_id().to_public_key().expect("valid id");
    let initiator = Initiator::random(key, server, &mut fixture.rng);
    initiator.write_auth(&mut fixture.rng).1
}

#[tokio::test]
async fn slow_handshake_is_dropped_at_the_deadline() {
    const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
    /// Far slower than the deadline allows: the whole auth would take over half a minute.
    const BYTE_INTERVAL: Duration = Duration::from_millis(100);
    let mut f = Fixture::start(StdRng::seed_from_u64(10), |config| {
        config.handshake_timeout = HANDSHAKE_TIMEOUT;
    })
    .await;
    let auth = auth_packet(&mut f);
    let started = Instant::now();
    let mut tcp = TcpStream::connect(f.server.local_enode().tcp_addr())
        .await
        .unwrap();
    let local = tcp.local_addr().unwrap();
    let dribble = async {
        let mut sent = 0;
        loop {
            assert!(
                sent < auth.len(),
                "the whole auth went out before the deadline"
            );
            if tcp.write_all(&auth[sent..=sent]).await.is_err() {
                return sent;
            }
            sent += 1;
            // Waiting for the server to close is also the pause between two bytes.
            let mut byte = [0u8; 1];
            match timeout(BYTE_INTERVAL, tcp.read(&mut byte)).await {
                Err(_) => continue,
                Ok(Ok(0) | Err(_)) => return sent,
                Ok(Ok(_)) => panic!("the server answered an incomplete auth"),
            }
        }
    };
    let sent = timeout(DEADLINE, dribble).await.expect("dropped in time");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= HANDSHAKE_TIMEOUT,
        "closed after {elapsed:?}, before the handshake deadline"
    );
    assert!(sent < auth.len());

    let failure = f.wait_failed(local).await;
    assert_eq!(failure.error, "handshake timed out");
    assert_eq!(failure.sent, None);
    assert_eq!(
        failure.id, None,
        "no id before the RLPx handshake completes"
    );
    f.logs.assert_one_failure_line(local);
    f.finish().await;
}

/// Raises the soft open-file limit to `wanted` if the hard limit allows; returns the soft limit.
fn raise_fd_limit(wanted: libc::rlim_t) -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    limit.rlim_cur
}

#[tokio::test]
async fn stalled_handshake_flood_evicts_the_oldest_and_lets_a_prompt_peer_in() {
    const STALLED: usize = 500;
    const MAX_PENDING: usize = 50;
    // 500 client sockets, at most 51 server-side ones, plus the other tests running alongside.
    let fds = raise_fd_limit(4096);
    assert!(fds >= 2048, "open-file limit {fds} too low for this test");
    let mut f = Fixture::start(StdRng::seed_from_u64(11), |config| {
        // Nothing may time out during the test: only eviction frees a pending slot.
        config.handshake_timeout = Duration::from_secs(60);
        config.max_pending = MAX_PENDING;
    })
    .await;
    let addr = f.server.local_enode().tcp_addr();
    // Each stalled client sends the first bytes of a real auth, then nothing.
    let prefix = auth_packet(&mut f)[..3].to_vec();
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        // Sequential connects: the server accepts them in this order.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(&prefix).await.unwrap();
        stalled.push(tcp);
    }
    let addrs: Vec<SocketAddr> = stalled.iter().map(|t| t.local_addr().unwrap()).collect();

    // Accept number 51 evicts the first, ..., number 500 the 450th: waiting for 450 evictions
    // is waiting for all 500 accepts.
    let mut evicted = HashSet::new();
    while evicted.len() < STALLED - MAX_PENDING {
        match f.next_event().await {
            PeerEvent::HandshakeFailed {
                remote_addr,
                error,
                sent,
                ..
            } => {
                assert!(
                    matches!(error, SetupError::Evicted),
                    "{remote_addr}: {error}"
                );
                assert_eq!(sent, None);
                assert!(evicted.insert(remote_addr), "{remote_addr} evicted twice");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let oldest: HashSet<SocketAddr> = addrs[..STALLED - MAX_PENDING].iter().copied().collect();
    assert_eq!(
        evicted, oldest,
        "exactly the oldest handshakes were dropped"
    );
    for tcp in &mut stalled[..STALLED - MAX_PENDING] {
        let mut byte = [0u8; 1];
        let read = timeout(DEADLINE, tcp.read(&mut byte)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "evicted connection closed"
        );
    }

    // A peer that handshakes promptly gets in long before any stalled handshake times out.
    let mut rng = StdRng::seed_from_u64(12);
    let mut prompt_config = node_config(
        random_secret_key(&mut rng),
        addr.ip(),
        vec![common::echo_protocol()],
    );
    prompt_config.static_peers = vec![f.server.local_enode()];
    let prompt_id = PeerId::from_secret_key(&prompt_config.key);
    let prompt = Server::start(prompt_config).await.unwrap();
    let mut prompt_events = prompt.events();
    let server_id = f.server.local_id();
    timeout(
        Duration::from_secs(5),
        ethp2p_testkit::server::wait_added(&mut prompt_events, server_id),
    )
    .await
    .expect("prompt peer connected while the flood held every pending slot");
    // Its slot came from the oldest stalled handshake left.
    let next_oldest = addrs[STALLED - MAX_PENDING];
    let (mut added, mut next_evicted) = (false, false);
    while !(added && next_evicted) {
        match f.next_event().await {
            PeerEvent::Added(info) if info.id == prompt_id => added = true,
            PeerEvent::HandshakeFailed {
                remote_addr, error, ..
            } if remote_addr == next_oldest => {
                assert!(matches!(error, SetupError::Evicted), "{error}");
                next_evicted = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    f.logs.assert_one_failure_line(next_oldest);
    f.logs.assert_one_failure_line(addrs[0]);
    prompt.shutdown().await;

    // Shutdown drops the pending handshakes still held: exactly the 49 newest. Together with the
    // 451 evicted, every stalled connection is accounted for once.
    let mut events = f.finish().await;
    let mut dropped_at_shutdown = HashSet::new();
    while let Ok(event) = events.try_recv() {
        if let PeerEvent::HandshakeFailed { remote_addr, .. } = event {
            assert!(dropped_at_shutdown.insert(remote_addr));
        }
    }
    let newest: HashSet<SocketAddr> = addrs[STALLED - MAX_PENDING + 1..].iter().copied().collect();
    assert_eq!(dropped_at_shutdown, newest);
}

#[tokio::test]
async fn announced_16_mib_frame_then_silence_is_a_read_timeout() {
    let mut f = Fixture::start(StdRng::seed_from_u64(20), |_| {}).await;
    let read_timeout = common::quick_peer_config().read_timeout;
    let mut client = f.joined_client().await;
    let mut ping = Vec::new();
    encode_message(PING, &[0xc0], client.snappy, &mut ping).unwrap();
    // A complete Ping (resetting the server's read timer), then only the header of a frame that
    // announces 16 MiB, then silence.
    let mut bytes = client.seal(&ping);
    bytes.extend_from_slice(&client.seal_header_only(MAX_FRAME_SIZE));
    let written = Instant::now();
    client.tcp.write_all(&bytes).await.unwrap();

    let (before, reason) = client.read_until_disconnect().await;
    let waited = written.elapsed();
    assert_eq!(reason, DisconnectReason::PingTimeout);
    // The Pong shows the session was alive when the header arrived.
    assert!(
        before.contains(&PONG),
        "server answered our Ping: {before:?}"
    );
    assert!(
        waited >= read_timeout,
        "ended after {waited:?}, before the read timeout"
    );
    let id = client.id();
    drop(client);
    let end = f.wait_removed(id).await;
    assert_eq!(end.cause, EndCause::ReadTimeout);
    assert_eq!(end.sent, Some(DisconnectReason::PingTimeout));
    assert!(!end.initiated_by_remote());
    f.logs.assert_one_end_line(id);
    f.finish().await;
}

#[tokio::test]
async fn frame_above_max_frame_size_is_refused_from_its_header() {
    const LIMIT: usize = 1 << 20;
    let mut f = Fixture::start(StdRng::seed_from_u64(21), |config| {
        config.max_frame_size = LIMIT;
        // Only the header can end this peer before the test's deadline.
        config.peer.read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut client = f.joined_client().await;
    let header = client.seal_header_only(MAX_FRAME_SIZE);
    client.tcp.write_all(&header).await.unwrap();

    assert_eq!(
        client.expect_disconnect().await,
        DisconnectReason::BreachOfProtocol
    );
    let id = client.id();
    drop(client);
    let end = f.wait_removed(id).await;
    assert_eq!(
        end.cause,
        EndCause::Transport(RlpxError::Frame(FrameError::FrameTooLarge {
            size: MAX_FRAME_SIZE,
            limit: LIMIT,
        }))
    );
    assert_eq!(end.sent, Some(DisconnectReason::BreachOfProtocol));
    f.logs.assert_one_end_line(id);
    f.finish().await;
}

#[tokio::test]
async fn snappy_length_above_the_limit_is_a_bad_message() {
    let mut f = Fixture::start(StdRng::seed_from_u64(30), |_| {}).await;
    let mut client = f.joined_client().await;
    assert!(client.snappy, "both sides speak p2p v5");
    // Raw snappy starts with the uncompressed length as a varint: announce 16 MiB + 1.
    let announced = MAX_MESSAGE_SIZE + 1;
    let mut frame = vec![ECHO_WIRE_CODE as u8];
    let mut n = announced;
    while n >= 0x80 {
        frame.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    frame.push(n as u8);
    frame.extend_from_slice(&[0; 8]);
    client.send_frame(&frame).await.unwrap();

    assert_eq!(
        client.expect_disconnect().await,
        DisconnectReason::BreachOfProtocol
    );
    let id = client.id();
    drop(client);
    let end = f.wait_removed(id).await;
    assert_eq!(
        end.cause,
        EndCause::BadMessage(P2pError::MessageTooLarge {
            size: announced,
            limit: MAX_MESSAGE_SIZE,
        })
    );
    assert_eq!(end.sent, Some(DisconnectReason::BreachOfProtocol));
    f.logs.assert_one_end_line(id);
    f.finish().await;
}

#[tokio::test]
async fn garbage_after_hello_fails_the_header_mac() {
    let mut f = Fixture::start(StdRng::seed_from_u64(40), |_| {}).await;
    let mut client = f.joined_client().await;
    let garbage: Vec<u8> = (0..64).map(|_| f.rng.random()).collect();
    client.tcp.write_all(&garbage).await.unwrap();

    // Our receiving direction is intact: the server's Disconnect still opens.
    assert_eq!(
        client.expect_disconnect().await,
        DisconnectReason::BreachOfProtocol
    );
    let id = client.id();
    drop(client);
    let end = f.wait_removed(id).await;
    assert_eq!(
        end.cause,
        EndCause::Transport(RlpxError::Frame(FrameError::HeaderMac))
    );
    assert_eq!(end.sent, Some(DisconnectReason::BreachOfProtocol));
    assert!(!end.initiated_by_remote());
    f.logs.assert_one_end_line(id);
    f.finish().await;
}

#[tokio::test]
async fn hello_with_a_foreign_node_id_is_unexpected_identity() {
    let mut f = Fixture::start(StdRng::seed_from_u64(50), |_| {}).await;
    let mut client = f.raw_client().await;
    let mut hello = client.hello(5, &[ECHO]);
    hello.id = PeerId::from_secret_key(&random_secret_key(&mut f.rng)).0;
    client.exchange_hello(&hello).await;
    // Refusals during Hello go out uncompressed.
    client.snappy = false;
    assert_eq!(
        client.expect_disconnect().await,
        DisconnectReason::UnexpectedIdentity
    );
    let (id, addr) = (client.id(), client.local_addr());
    drop(client);

    let failure = f.wait_failed(addr).await;
    assert_eq!(failure.sent, Some(DisconnectReason::UnexpectedIdentity));
    assert_eq!(failure.id, Some(id), "the id the handshake proved");
    assert!(
        failure.error.contains("does not match handshake identity"),
        "{}",
        failure.error
    );
    f.logs.assert_one_failure_line(addr);
    assert!(f.server.peers().iter().all(|p| p.id != id));
    f.finish().await;
}

/// Wire bytes of one echo message of 1 KiB, sealed by `client`.
fn sealed_echo_message(client: &mut RawClient) -> Vec<u8> {
    let mut data = Vec::new();
    encode_message(ECHO_WIRE_CODE, &[7; 1024], client.snappy, &mut data).unwrap();
    client.seal(&data)
}

#[tokio::test]
async fn peer_closing_mid_frame_ends_as_closed_by_remote() {
    let mut f = Fixture::start(StdRng::seed_from_u64(60), |_| {}).await;
    let mut client = f.joined_client().await;
    let frame = sealed_echo_message(&mut client);
    client
        .tcp
        .write_all(&frame[..frame.len() / 2])
        .await
        .unwrap();
    // Half a frame, then our FIN.
    client.tcp.shutdown().await.unwrap();

    let end = f.wait_removed(client.id()).await;
    assert_eq!(end.cause, EndCause::Transport(RlpxError::Closed));
    assert_eq!(end.sent, None);
    assert_eq!(end.received, None);
    assert!(end.initiated_by_remote());
    client.expect_closed_without_disconnect().await;
    f.logs.assert_one_end_line(client.id());
    f.finish().await;
}

#[tokio::test]
async fn peer_reset_mid_frame_ends_as_a_remote_io_error() {
    let mut f = Fixture::start(StdRng::seed_from_u64(61), |_| {}).await;
    let mut client = f.joined_client().await;
    let id = client.id();
    let frame = sealed_echo_message(&mut client);
    client
        .tcp
        .write_all(&frame[..frame.len() / 2])
        .await
        .unwrap();
    // Half a frame, then the process "dies": the socket is reset.
    client.tcp.set_zero_linger().unwrap();
    drop(client);

    let end = f.wait_removed(id).await;
    assert!(
        matches!(end.cause, EndCause::Transport(RlpxError::Io(_))),
        "{:?}",
        end.cause
    );
    assert_eq!(end.sent, None);
    assert!(end.initiated_by_remote());
    f.logs.assert_one_end_line(id);
    f.finish().await;
}

#[tokio::test]
async fn max_peers_refuses_with_too_many_peers_and_trusted_peers_bypass_it() {
    let mut f = Fixture::start(StdRng::seed_from_u64(70), |config| {
        config.max_peers = 1;
    })
    .await;
    // The healthy peer holds the only slot.
    let mut refused = f.raw_client().await;
    assert_eq!(
        refused.expect_disconnect().await,
        DisconnectReason::TooManyPeers
    );
    let (id, addr) = (refused.id(), refused.local_addr());
    drop(refused);
    let failure = f.wait_failed(addr).await;
    assert_eq!(failure.sent, Some(DisconnectReason::TooManyPeers));
    assert_eq!(failure.id, Some(id));
    f.logs.assert_one_failure_line(addr);

    let key = random_secret_key(&mut f.rng);
    f.server.add_trusted_peer(PeerId::from_secret_key(&key));
    let mut trusted = f.raw_client_with_key(key).await;
    trusted.join(&[ECHO]).await;
    f.wait_added(trusted.id()).await;
    assert_eq!(f.server.peer_count(), 2);
    trusted
        .send_message(ECHO_WIRE_CODE, b"trusted")
        .await
        .unwrap();
    assert_eq!(trusted.expect_message(ECHO_WIRE_CODE).await, b"trusted");
    drop(trusted);
    f.finish().await;
}

#[tokio::test]
async fn second_connection_with_a_connected_key_is_already_connected() {
    let mut f = Fixture::start(StdRng::seed_from_u64(71), |_| {}).await;
    let key = f.healthy.key;
    let mut twin = f.raw_client_with_key(key).await;
    assert_eq!(
        twin.expect_disconnect().await,
        DisconnectReason::AlreadyConnected
    );
    let addr = twin.local_addr();
    drop(twin);
    let failure = f.wait_failed(addr).await;
    assert_eq!(failure.sent, Some(DisconnectReason::AlreadyConnected));
    assert_eq!(failure.id, Some(f.healthy.id));
    f.logs.assert_one_failure_line(addr);
    // The connected peer with that key is untouched.
    f.finish().await;
}

#[tokio::test]
async fn connection_with_the_servers_own_key_is_connected_to_self() {
    let mut f = Fixture::start(StdRng::seed_from_u64(72), |_| {}).await;
    let key = f.server_key;
    let mut mirror = f.raw_client_with_key(key).await;
    assert_eq!(
        mirror.expect_disconnect().await,
        DisconnectReason::ConnectedToSelf
    );
    let addr = mirror.local_addr();
    drop(mirror);
    let failure = f.wait_failed(addr).await;
    assert_eq!(failure.sent, Some(DisconnectReason::ConnectedToSelf));
    assert_eq!(failure.id, Some(f.server.local_id()));
    f.logs.assert_one_failure_line(addr);
    f.finish().await;
}

#[tokio::test]
async fn net_restrict_closes_other_ranges_without_handshake() {
    // 127.0.0.2 is allowed so the healthy peer (which the server dials there) and a control
    // client can connect; 127.0.0.1 is outside every range.
    let mut f = Fixture::start_dialing(StdRng::seed_from_u64(73), |config| {
        config.net_restrict = Some(vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.2/32".parse().unwrap(),
        ]);
    })
    .await;
    let addr = f.server.local_enode().tcp_addr();
    let mut outsider = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = timeout(DEADLINE, outsider.read(&mut byte)).await;
    assert!(matches!(read, Ok(Ok(0))), "closed without a byte: {read:?}");

    // A control client from an allowed address gets through, and nothing failed before it:
    // the refused connection never reached the handshake.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 2], 0))).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let key = random_secret_key(&mut f.rng);
    let server_id = f.server.local_id();
    let mut control = RawClient::handshake(tcp, key, server_id, &mut f.rng)
        .await
        .unwrap();
    control.join(&[ECHO]).await;
    match f.next_event().await {
        PeerEvent::Added(info) => assert_eq!(info.id, control.id()),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(f.server.stats().handshake_failures, 0);
    let outsider_addr = outsider.local_addr().unwrap();
    assert!(f.logs.lines_with(&outsider_addr.to_string()).is_empty());
    drop(control);
    f.finish().await;
}

/// Advertises `mss` in our SYN, which caps the segment size the server sends us.
fn limit_mss(socket: &TcpSocket, mss: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads an int from the pointer we pass, on a socket we own.
    let status = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&mss as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(status, 0, "TCP_MAXSEG: {}", std::io::Error::last_os_error());
}

#[tokio::test]
async fn remote_that_never_reads_ends_on_the_write_timeout() {
    // Modest messages: sealing costs the server's runtime about a second per MiB in a debug
    // build, and the healthy peer's pings must keep flowing meanwhile.
    let message = vec![0u8; 16 * 1024];
    let flood = Protocol::new("flood", 1, 1, move |peer| {
        let message = message.clone();
        async move {
            loop {
                peer.send(0, &message).await?;
            }
        }
    });
    let mut f = Fixture::start(StdRng::seed_from_u64(80), |config| {
        config.protocols.push(flood);
        // Only the write side can end this peer before the test's deadline.
        config.peer.read_timeout = Duration::from_secs(60);
        config.peer.outbox_capacity = 2;
    })
    .await;
    // A small receive window and a small MSS, so the server's socket fills after little data.
    // (Loopback's 64 KiB MSS lets the sender's buffer autotune to megabytes, which a debug
    // build seals at about a second per MiB.)
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    limit_mss(&socket, 536);
    let tcp = socket
        .connect(f.server.local_enode().tcp_addr())
        .await
        .unwrap();
    let key = random_secret_key(&mut f.rng);
    let server_id = f.server.local_id();
    let mut client = RawClient::handshake(tcp, key, server_id, &mut f.rng)
        .await
        .unwrap();
    // p2p v4: no snappy, so every message keeps its size on the wire.
    let hello = client.hello(4, &[("flood", 1)]);
    client.exchange_hello(&hello).await;
    assert!(!client.snappy);
    f.wait_added(client.id()).await;

    let end = f.wait_removed(client.id()).await;
    assert_eq!(end.cause, EndCause::WriteTimeout);
    assert_eq!(end.sent, None, "no Disconnect through a blocked socket");
    assert!(!end.initiated_by_remote());
    f.logs.assert_one_end_line(client.id());
    drop(client);
    f.finish().await;
}

#[tokio::test]
async fn full_subscription_drops_without_stalling_the_read_loop() {
    const FLOOD: u32 = 100;
    let mut f = Fixture::start(StdRng::seed_from_u64(81), |_| {}).await;
    let mut subscription = f.server.subscribe(ECHO.0, 1, 1);
    for i in 0..FLOOD {
        f.healthy.sender().send(1, &i.to_be_bytes()).await.unwrap();
    }
    // Code 0 still reaches the echo handler after the flood, and it is the first echo: no
    // code-1 message got past the subscription.
    f.healthy.roundtrip().await;
    assert_eq!(subscription.dropped(), u64::from(FLOOD - 1));
    let first = timeout(DEADLINE, subscription.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.peer, f.healthy.id);
    assert_eq!(
        first.message,
        Message {
            code: 1,
            payload: 0u32.to_be_bytes().to_vec()
        }
    );
    f.finish().await;
}

#[tokio::test]
async fn handler_stalled_beyond_the_read_timeout_is_no_read_timeout() {
    // While the read loop waits for a slow handler to take a message it reads nothing, so the
    // remote's silence meanwhile is ours, not the remote's: the read timeout runs only while
    // the read loop waits for a frame.
    let release = Arc::new(tokio::sync::Notify::new());
    let stall = Protocol::new("stall", 1, 1, {
        let release = release.clone();
        move |mut peer| {
            let release = release.clone();
            async move {
                release.notified().await;
                while let Some(message) = peer.recv().await {
                    peer.send(message.code, &message.payload).await?;
                }
                Ok(())
            }
        }
    });
    let mut f = Fixture::start(StdRng::seed_from_u64(82), |config| {
        config.protocols.push(stall);
        config.peer.inbox_capacity = 1;
    })
    .await;
    let read_timeout = common::quick_peer_config().read_timeout;
    let ping_interval = common::quick_peer_config().ping_interval;
    let mut client = f.raw_client().await;
    client.join(&[ECHO, ("stall", 1)]).await;
    f.wait_added(client.id()).await;
    // "echo" has 2 codes from 0x10, so "stall" code 0 is 0x12. The first message fills the
    // inbox, the second holds the read loop.
    const STALL_WIRE_CODE: u64 = ECHO_WIRE_CODE + 2;
    for i in 0..2u8 {
        client.send_message(STALL_WIRE_CODE, &[i]).await.unwrap();
    }
    // The server's Pings keep coming while its read loop is held: count enough of them to
    // span more than the read timeout, then let the handler go.
    let pings = read_timeout.as_millis() / ping_interval.as_millis() + 3;
    let count_pings = async {
        let mut seen = 0;
        while seen < pings {
            let frame = client.read_frame().await.expect("the session goes on");
            let (code, _) = split_message_code(&frame).unwrap();
            assert_ne!(code, DISCONNECT, "disconnected while held");
            seen += u128::from(code == PING);
        }
    };
    timeout(DEADLINE, count_pings).await.expect("Pings in time");
    release.notify_one();
    for i in 0..2u8 {
        assert_eq!(client.expect_message(STALL_WIRE_CODE).await, [i]);
    }
    assert!(f.server.peers().iter().any(|p| p.id == client.id()));
    f.finish().await;
}

//! Two servers that dial each other at the same moment end with exactly one connection, the one
//! dialed by the node with the lower id, whatever the timing: each dial goes through a proxy that
//! delays the TCP connect and each of the first chunks in both directions (the RLPx auth, ack and
//! Hello stages) by seeded random amounts, so the two handshakes interleave differently in every
//! round.

// Shared with the fault tests; this test needs only the node config and the echo protocol.
#[allow(dead_code)]
mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{DEADLINE, echo_protocol, node_config};
use ethp2p::protocol::Direction;
use ethp2p::rlpx::random_secret_key;
use ethp2p::{Server, ServerHandle};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::timeout;

/// Rounds, each with fresh keys (so which node has the lower id varies) and fresh delays.
const ROUNDS: u64 = 24;
/// Longest injected delay at any stage.
const MAX_DELAY_MS: u64 = 40;
/// Chunks delayed in each direction: the auth or ack message, then Hello, then what follows.
const DELAYED_CHUNKS: usize = 3;

/// Delays for one proxied connection.
#[derive(Clone, Copy, Debug)]
struct Delays {
    connect: Duration,
    towards_target: [Duration; DELAYED_CHUNKS],
    towards_dialer: [Duration; DELAYED_CHUNKS],
}

impl Delays {
    fn random(rng: &mut StdRng) -> Self {
        let mut delay = || Duration::from_millis(rng.random_range(0..=MAX_DELAY_MS));
        Delays {
            connect: delay(),
            towards_target: [delay(), delay(), delay()],
            towards_dialer: [delay(), delay(), delay()],
        }
    }
}

/// A TCP proxy in front of one server: every connection it accepts is one dial by the other
/// server. `live` counts the proxied connections open now.
struct Proxy {
    addr: SocketAddr,
    live: watch::Receiver<usize>,
}

impl Proxy {
    async fn start(target: SocketAddr, seed: u64) -> Proxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (live_tx, live) = watch::channel(0usize);
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            while let Ok((dialer, _)) = listener.accept().await {
                let delays = Delays::random(&mut rng);
                live_tx.send_modify(|n| *n += 1);
                let live_tx = live_tx.clone();
                tokio::spawn(async move {
                    relay(dialer, target, delays).await;
                    live_tx.send_modify(|n| *n -= 1);
                });
            }
        });
        Proxy { addr, live }
    }
}

/// Relays one connection with its delays until either side closes.
async fn relay(dialer: TcpStream, target: SocketAddr, delays: Delays) {
    tokio::time::sleep(delays.connect).await;
    let Ok(upstream) = TcpStream::connect(target).await else {
        return;
    };
    let (dialer_read, dialer_write) = dialer.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    // The connection is over for both servers as soon as one side closes: stop both directions.
    tokio::select! {
        _ = pump(dialer_read, upstream_write, delays.towards_target) => {}
        _ = pump(upstream_read, dialer_write, delays.towards_dialer) => {}
    }
}

async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    delays: [Duration; DELAYED_CHUNKS],
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut chunk = 0;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(delay) = delays.get(chunk) {
            tokio::time::sleep(*delay).await;
        }
        chunk += 1;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn start_node(rng: &mut StdRng) -> ServerHandle {
    let mut config = node_config(
        random_secret_key(rng),
        Ipv4Addr::LOCALHOST.into(),
        vec![echo_protocol()],
    );
    // The test asserts that no handshake fails: give a busy machine all the time it needs.
    config.handshake_timeout = DEADLINE;
    Server::start(config).await.unwrap()
}

/// The direction in which `node` sees its connection to `other`, if it has one.
fn direction_to(node: &ServerHandle, other: &ServerHandle) -> Option<Direction> {
    let other_id = other.local_id();
    let peers = node.peers();
    let mut to_other = peers.iter().filter(|peer| peer.id == other_id);
    let first = to_other.next().map(|peer| peer.direction);
    assert!(to_other.next().is_none(), "one peer entry per node");
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_survives_whatever_the_timing() {
    for round in 0..ROUNDS {
        let mut rng = StdRng::seed_from_u64(round);
        let a = start_node(&mut rng).await;
        let b = start_node(&mut rng).await;
        let to_b = Proxy::start(listen_addr(&b), rng.random()).await;
        let to_a = Proxy::start(listen_addr(&a), rng.random()).await;
        let mut events = [a.events(), b.events()];

        // Each knows the other only through the proxy in front of it: a static peer, dialed now.
        let mut b_via_proxy = b.local_enode();
        b_via_proxy.tcp_port = to_b.addr.port();
        let mut a_via_proxy = a.local_enode();
        a_via_proxy.tcp_port = to_a.addr.port();
        a.add_peer(b_via_proxy);
        b.add_peer(a_via_proxy);

        // Settled: both list the same connection (one as outbound, the other as inbound), and
        // it is the only proxied connection open. A side may list a connection the other has
        // closed until it reads that, so this is awaited, woken by every peer event and every
        // change in the proxies' connection counts; if the sides kept different connections, it
        // never comes.
        let (mut live_a_dialed, mut live_b_dialed) = (to_b.live.clone(), to_a.live.clone());
        let settled = timeout(DEADLINE, async {
            loop {
                let same_connection = match (direction_to(&a, &b), direction_to(&b, &a)) {
                    (Some(seen_by_a), Some(seen_by_b)) => seen_by_a != seen_by_b,
                    _ => false,
                };
                let open = *live_a_dialed.borrow() + *live_b_dialed.borrow();
                if same_connection && open == 1 {
                    return;
                }
                let [events_a, events_b] = &mut events;
                tokio::select! {
                    _ = events_a.recv() => {}
                    _ = events_b.recv() => {}
                    _ = live_a_dialed.changed() => {}
                    _ = live_b_dialed.changed() => {}
                }
            }
        })
        .await;
        let (direction_a, direction_b) = (direction_to(&a, &b), direction_to(&b, &a));
        let open = (*to_b.live.borrow(), *to_a.live.borrow());
        assert!(
            settled.is_ok(),
            "round {round}: no single connection within {DEADLINE:?}: a sees {direction_a:?}, \
             b sees {direction_b:?}, open connections dialed by a and by b: {open:?}"
        );

        // The survivor is the connection dialed by the lower id, as both sides see it.
        let a_is_lower = a.local_id() < b.local_id();
        let (dialer_side, other_side) = if a_is_lower {
            (Direction::Outbound, Direction::Inbound)
        } else {
            (Direction::Inbound, Direction::Outbound)
        };
        assert_eq!(
            (direction_a, direction_b),
            (Some(dialer_side), Some(other_side)),
            "round {round}: a's id is lower: {a_is_lower}"
        );
        assert_eq!(open, (usize::from(a_is_lower), usize::from(!a_is_lower)));
        // Nothing failed: the losing connection was a duplicate, not a handshake failure.
        for node in [&a, &b] {
            assert_eq!(node.stats().handshake_failures, 0, "round {round}");
        }
        a.shutdown().await;
        b.shutdown().await;
    }
}

fn listen_addr(node: &ServerHandle) -> SocketAddr {
    node.local_enode().tcp_addr()
}

//! discv4 benchmark: PINGs answered per second by one node on one core, printed beside the bound
//! its cryptography sets, measured in the same run.
//!
//! # The bound
//!
//! Answering a PING takes at least decoding it ([`decode`]: two Keccak-256 and one secp256k1
//! public-key recovery) and encoding the PONG ([`encode`]: two Keccak-256 and one recoverable
//! signature). Both are timed in tight loops with the very functions the node calls, on packets
//! like the ones it handles, so
//!
//! ```text
//! bound = 1 / (t_decode(PING) + t_encode(PONG))  PINGs per second      ratio = answered / bound
//! ```
//!
//! Target: ratio >= 0.80. The raw secp256k1 calls (`recover_ecdsa`, `sign_ecdsa_recoverable`)
//! are printed beside them; the high-level signing API re-randomises its context after every
//! signature, which is part of what the node pays.
//!
//! # The node and the load
//!
//! The node under test is the real tokio driver ([`Discv4Handle`]) on a current-thread runtime
//! (one thread, so one core), bound to 127.0.0.1, fresh for every run. The load generator, on
//! another thread, signs every PING before the timed part (distinct packets, expiration an hour
//! ahead: none is expired or a replay), then keeps [`WINDOW`] PINGs outstanding, sending the
//! next when a PONG comes back. The closed loop never overflows the node's receive buffer, so
//! the kernel drops nothing. answered/s = PONGs / time from the first PING to the last PONG.
//!
//! Two loads:
//! - **bonded**: [`KEYS`] keys that first completed the endpoint proof (the generator answered
//!   the node's Ping back), so each PING costs one recovery and one signature: the bound's case.
//! - **unbonded**: every PING from a new key, as from a crawler or from nodes met for the first
//!   time. The node also pings each one back (a second signature, as go-ethereum does) while
//!   fewer than 4096 Pings back are outstanding; this load's own bound counts the Pings back
//!   actually received: `1 / (t_decode + t_encode + f * t_encode)`, `f` = Pings back per PING.
//!
//! Rates are wall-clock on the generator's side. The node thread's CPU time
//! (`pthread_getcpuclockid`, Linux) over the same interval gives "per CPU-second" rates, which
//! are steadier on a shared machine; on an idle core the two agree. Each round measures the bound
//! and both loads, and the ratios are medians of per-round ratios.
//!
//! Also printed: the sans-IO state machine alone (`handle_datagram` + `poll_transmit` of bonded
//! PINGs, no sockets), and the node's CPU time per garbage datagram (random bytes, 0..1500 of
//! them, sent 32 at a time between bonded PINGs).
//!
//! Packets per lookup in the 1,000-node simulation are printed by the simulation test
//! (`cargo test -p ethp2p-discovery --release --test sim -- --nocapture`, line "lookups: ...
//! packets per lookup"), not repeated here.
//!
//! # Running
//!
//! `cargo bench -p ethp2p-discovery --bench discv4`. `ETHP2P_BENCH_QUICK=1` runs fewer, shorter
//! rounds. Without `--bench` (as `cargo test --benches` runs it) a tiny smoke run.

mod support;

use std::collections::HashSet;
use std::hint::black_box;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ethp2p_discovery::Enr;
use ethp2p_discovery::v4::packet::{HEADER_SIZE, PING, PING_VERSION, PONG};
use ethp2p_discovery::v4::{
    Config, Discv4, Discv4Handle, Endpoint, Message, Ping, Pong, Stats, decode, encode, unix_now,
};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use secp256k1::SecretKey;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use sha3::{Digest, Keccak256};
use support::{CpuClock, Mode, measure_udp, median, micros, random_key};

/// Keys of the bonded load.
const KEYS: usize = 16;
/// PINGs the generator keeps outstanding.
const WINDOW: usize = 64;
/// Garbage datagrams sent between two bonded PINGs in the garbage measurement.
const GARBAGE_CHUNK: usize = 32;

struct Settings {
    rounds: usize,
    /// PINGs per run.
    pings: usize,
    /// Iterations of each crypto loop per round.
    bound_iterations: usize,
    /// Garbage datagrams per round.
    garbage: usize,
}

// ---------------------------------------------------------------------------------------------
// Packets.

/// A PING from `key`, unique by `seq` (its ENR sequence number), expiring in an hour.
fn ping_packet(key: &SecretKey, from: SocketAddr, to: SocketAddr, seq: u64) -> Vec<u8> {
    let ping = Ping {
        version: PING_VERSION,
        from: Endpoint::from(from),
        to: Endpoint::from(to),
        expiration: unix_now() + 3600,
        enr_seq: Some(seq),
    };
    encode(&Message::Ping(ping), key).0
}

fn pong_packet(key: &SecretKey, to: SocketAddr, ping_hash: [u8; 32], expiration: u64) -> Vec<u8> {
    let pong = Pong {
        to: Endpoint::from(to),
        ping_hash,
        expiration,
        enr_seq: Some(1),
    };
    encode(&Message::Pong(pong), key).0
}

fn new_node(key: SecretKey, addr: SocketAddr) -> Discv4 {
    let IpAddr::V4(ip) = addr.ip() else {
        unreachable!("IPv4 loopback")
    };
    let enr = Enr::builder()
        .ip4(ip)
        .udp4(addr.port())
        .build(&key)
        .expect("record");
    let config = Config::default();
    Discv4::new(
        key,
        enr,
        Endpoint::from(addr),
        config,
        Instant::now(),
        unix_now(),
        1,
    )
}

// ---------------------------------------------------------------------------------------------
// The bound.

/// Per-operation CPU times of one round.
struct Crypto {
    decode_ping: Duration,
    encode_pong: Duration,
    recover: Duration,
    sign: Duration,
}

fn measure_crypto(rng: &mut StdRng, iterations: usize) -> Crypto {
    let node_key = random_key(rng);
    let (from, to): (SocketAddr, SocketAddr) = (
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:30303".parse().unwrap(),
    );
    let keys: Vec<SecretKey> = (0..8).map(|_| random_key(rng)).collect();
    let pings: Vec<Vec<u8>> = (0..64)
        .map(|i| ping_packet(&keys[i % keys.len()], from, to, i as u64))
        .collect();
    let hashes: Vec<[u8; 32]> = pings.iter().map(|p| p[..32].try_into().unwrap()).collect();
    let clock = CpuClock::this_thread();
    let per_op = |start: Duration| (clock.now() - start) / iterations as u32;

    let start = clock.now();
    for i in 0..iterations {
        black_box(decode(black_box(&pings[i % pings.len()])).expect("valid"));
    }
    let decode_ping = per_op(start);

    let expiration = unix_now() + 20;
    let start = clock.now();
    for i in 0..iterations {
        let hash = hashes[i % hashes.len()];
        black_box(pong_packet(&node_key, from, hash, expiration + i as u64));
    }
    let encode_pong = per_op(start);

    // The raw calls, on the pings' own signatures and digests.
    let signed: Vec<(RecoverableSignature, secp256k1::Message)> = pings
        .iter()
        .map(|p| {
            let id = RecoveryId::try_from(i32::from(p[96])).unwrap();
            let signature = RecoverableSignature::from_compact(&p[32..96], id).unwrap();
            let digest: [u8; 32] = Keccak256::digest(&p[HEADER_SIZE..]).into();
            (signature, secp256k1::Message::from_digest(digest))
        })
        .collect();
    let start = clock.now();
    for i in 0..iterations {
        let (signature, digest) = &signed[i % signed.len()];
        black_box(signature.recover_ecdsa(*digest).unwrap());
    }
    let recover = per_op(start);
    let start = clock.now();
    for i in 0..iterations {
        let digest = signed[i % signed.len()].1;
        black_box(RecoverableSignature::sign_ecdsa_recoverable(
            digest, &node_key,
        ));
    }
    let sign = per_op(start);
    Crypto {
        decode_ping,
        encode_pong,
        recover,
        sign,
    }
}

// ---------------------------------------------------------------------------------------------
// The sans-IO state machine alone.

/// CPU time per bonded PING through `handle_datagram` + `poll_transmit`.
fn measure_sans_io(rng: &mut StdRng, pings: usize) -> Duration {
    let node_addr: SocketAddr = "127.0.0.1:30303".parse().unwrap();
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut node = new_node(random_key(rng), node_addr);
    let keys: Vec<SecretKey> = (0..KEYS).map(|_| random_key(rng)).collect();
    let now = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        node.handle_datagram(now, from, &ping_packet(key, from, node_addr, i as u64));
        let ping_back = std::iter::from_fn(|| node.poll_transmit())
            .map(|t| decode(&t.payload).unwrap())
            .find(|p| matches!(p.message, Message::Ping(_)))
            .expect("pinged back");
        let pong = pong_packet(key, node_addr, ping_back.hash, unix_now() + 20);
        node.handle_datagram(now, from, &pong);
    }
    let packets: Vec<Vec<u8>> = (0..pings)
        .map(|i| ping_packet(&keys[i % KEYS], from, node_addr, (KEYS + i) as u64))
        .collect();
    let before = node.stats();
    let clock = CpuClock::this_thread();
    let start = clock.now();
    for packet in &packets {
        node.handle_datagram(now, from, packet);
        while let Some(transmit) = node.poll_transmit() {
            black_box(transmit);
        }
    }
    let elapsed = clock.now() - start;
    let after = node.stats();
    assert_eq!(after.sent - before.sent, pings as u64, "one PONG per PING");
    elapsed / pings as u32
}

/// What the linear scans over outstanding requests cost: CPU time per unbonded PING (one
/// recovery, two signatures) with few and with ~3,800 Pings back outstanding, and one
/// `poll_timeout` (which the driver calls once per loop iteration) with 4,096 outstanding.
struct PendingCost {
    ping_few: Duration,
    ping_many: Duration,
    poll_timeout: Duration,
}

fn measure_pending_cost(rng: &mut StdRng) -> PendingCost {
    const SAMPLE: usize = 256;
    /// `MAX_PENDING` in the service: Pings back stop at this many outstanding.
    const FULL: usize = 4096;
    let node_addr: SocketAddr = "127.0.0.1:30303".parse().unwrap();
    let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut node = new_node(random_key(rng), node_addr);
    let pings: Vec<Vec<u8>> = (0..FULL)
        .map(|i| ping_packet(&random_key(rng), from, node_addr, i as u64))
        .collect();
    let now = Instant::now();
    let clock = CpuClock::this_thread();
    let feed = |node: &mut Discv4, packets: &[Vec<u8>]| {
        let start = clock.now();
        for packet in packets {
            node.handle_datagram(now, from, packet);
            while let Some(transmit) = node.poll_transmit() {
                black_box(transmit);
            }
        }
        (clock.now() - start) / packets.len() as u32
    };
    let ping_few = feed(&mut node, &pings[..SAMPLE]);
    feed(&mut node, &pings[SAMPLE..FULL - SAMPLE]);
    let ping_many = feed(&mut node, &pings[FULL - SAMPLE..]);
    assert_eq!(
        node.stats().sent,
        2 * FULL as u64,
        "a PONG and a Ping back each"
    );
    let calls = 2_000;
    let start = clock.now();
    for _ in 0..calls {
        black_box(black_box(&node).poll_timeout());
    }
    let poll_timeout = (clock.now() - start) / calls;
    PendingCost {
        ping_few,
        ping_many,
        poll_timeout,
    }
}

// ---------------------------------------------------------------------------------------------
// The node under test and the load generator.

struct NodeUnderTest {
    handle: Discv4Handle,
    addr: SocketAddr,
    cpu: Option<CpuClock>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NodeUnderTest {
    /// A fresh node on its own thread with a current-thread runtime.
    fn spawn(key: SecretKey) -> NodeUnderTest {
        let (ready, started) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("discv4-node".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    let addr = socket.local_addr().unwrap();
                    let handle = Discv4Handle::spawn(socket, new_node(key, addr)).unwrap();
                    let (stop, stopped) = tokio::sync::oneshot::channel();
                    ready.send((handle.clone(), addr, stop)).unwrap();
                    let _ = stopped.await;
                    handle.shutdown().await;
                });
            })
            .expect("node thread");
        let (handle, addr, stop) = started.recv().expect("node started");
        let cpu = CpuClock::of(&thread);
        NodeUnderTest {
            handle,
            addr,
            cpu,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn cpu_now(&self) -> Option<Duration> {
        self.cpu.map(CpuClock::now)
    }

    fn stats(&self, runtime: &tokio::runtime::Runtime) -> Stats {
        runtime.block_on(self.handle.stats()).expect("node running")
    }
}

impl Drop for NodeUnderTest {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Generator {
    socket: UdpSocket,
    addr: SocketAddr,
    buf: Vec<u8>,
}

impl Generator {
    fn new() -> Generator {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        Generator {
            socket,
            addr,
            buf: vec![0u8; 2048],
        }
    }

    /// Completes the endpoint proof of `key` with the node: PING, then answer its Ping back.
    fn bond(&mut self, node: SocketAddr, key: &SecretKey, seq: u64) {
        let ping = ping_packet(key, self.addr, node, seq);
        self.socket.send_to(&ping, node).unwrap();
        let (mut ponged, mut answered) = (false, false);
        while !(ponged && answered) {
            let (len, _) = self.socket.recv_from(&mut self.buf).expect("node answers");
            let packet = decode(&self.buf[..len]).expect("valid answer");
            match packet.message {
                Message::Pong(_) => ponged = true,
                Message::Ping(_) => {
                    let pong = pong_packet(key, node, packet.hash, unix_now() + 20);
                    self.socket.send_to(&pong, node).unwrap();
                    answered = true;
                }
                _ => {}
            }
        }
    }

    /// Sends `pings` keeping [`WINDOW`] outstanding; returns the answered count, the Pings back
    /// received, and the time from the first PING to the last PONG.
    fn load(&mut self, node: SocketAddr, pings: &[Vec<u8>]) -> (usize, usize, Duration) {
        let sent_hashes: HashSet<&[u8]> = pings.iter().map(|p| &p[..32]).collect();
        let (mut next, mut answered, mut pings_back) = (0, 0, 0);
        let start = Instant::now();
        let mut last = start;
        while next < pings.len().min(WINDOW) {
            self.socket.send_to(&pings[next], node).unwrap();
            next += 1;
        }
        while answered < pings.len() {
            let len = match self.socket.recv_from(&mut self.buf) {
                Ok((len, _)) => len,
                // A datagram was lost after all: stop at the PONGs that came.
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => break,
                Err(error) => panic!("receive: {error}"),
            };
            match self.buf.get(HEADER_SIZE) {
                Some(&PONG) => {
                    answered += 1;
                    last = Instant::now();
                    // Check one answer in a hundred in full (a recovery each).
                    if answered % 100 == 1 {
                        let Message::Pong(pong) = decode(&self.buf[..len]).unwrap().message else {
                            unreachable!("type checked")
                        };
                        assert!(
                            sent_hashes.contains(&pong.ping_hash[..]),
                            "answers our PING"
                        );
                    }
                    if next < pings.len() {
                        self.socket.send_to(&pings[next], node).unwrap();
                        next += 1;
                    }
                }
                Some(&PING) => pings_back += 1,
                _ => {}
            }
        }
        (answered, pings_back, last - start)
    }
}

/// One timed run against a fresh node.
struct Run {
    answered: usize,
    pings: usize,
    pings_back: usize,
    wall: Duration,
    node_cpu: Option<Duration>,
    /// Node CPU time per garbage datagram (bonded runs only).
    garbage_cpu: Option<Duration>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.answered as f64 / self.wall.as_secs_f64()
    }

    fn cpu_rate(&self) -> Option<f64> {
        self.node_cpu
            .map(|cpu| self.answered as f64 / cpu.as_secs_f64())
    }
}

fn run_bonded(rng: &mut StdRng, settings: &Settings, runtime: &tokio::runtime::Runtime) -> Run {
    let node = NodeUnderTest::spawn(random_key(rng));
    let mut generator = Generator::new();
    let keys: Vec<SecretKey> = (0..KEYS).map(|_| random_key(rng)).collect();
    for (i, key) in keys.iter().enumerate() {
        generator.bond(node.addr, key, i as u64);
    }
    let sign = |count: usize, first: usize| -> Vec<Vec<u8>> {
        (first..first + count)
            .map(|i| ping_packet(&keys[i % KEYS], generator.addr, node.addr, i as u64))
            .collect()
    };
    let pings = sign(settings.pings, KEYS);
    let chunks = settings.garbage / GARBAGE_CHUNK;
    let garbage_pings = sign(chunks, KEYS + settings.pings);
    let garbage: Vec<Vec<u8>> = (0..chunks * GARBAGE_CHUNK)
        .map(|_| {
            let mut datagram = vec![0u8; rng.random_range(0..1500)];
            rng.fill_bytes(&mut datagram);
            datagram
        })
        .collect();
    let before = node.stats(runtime);

    let cpu_start = node.cpu_now();
    let (answered, pings_back, wall) = generator.load(node.addr, &pings);
    let node_cpu = cpu_start.zip(node.cpu_now()).map(|(s, e)| e - s);

    // Garbage, GARBAGE_CHUNK datagrams at a time, each chunk followed by a PING whose PONG
    // paces the next (so the receive buffer never overflows).
    let cpu_start = node.cpu_now();
    for (chunk, ping) in garbage.chunks(GARBAGE_CHUNK).zip(&garbage_pings) {
        for datagram in chunk {
            generator.socket.send_to(datagram, node.addr).unwrap();
        }
        generator.load(node.addr, std::slice::from_ref(ping));
    }
    let garbage_cpu = match (cpu_start.zip(node.cpu_now()), node_cpu) {
        (Some((start, end)), Some(ping_cpu)) if chunks > 0 => {
            let pings_cost = ping_cpu / answered.max(1) as u32 * chunks as u32;
            Some((end - start).saturating_sub(pings_cost) / (chunks * GARBAGE_CHUNK) as u32)
        }
        _ => None,
    };
    let after = node.stats(runtime);
    assert_eq!(
        after.dropped_malformed - before.dropped_malformed,
        (chunks * GARBAGE_CHUNK) as u64,
        "every garbage datagram read and dropped: {after:?}"
    );
    assert_eq!(
        after.dropped_replayed + after.dropped_expired + after.dropped_no_proof,
        0,
        "{after:?}"
    );
    Run {
        answered,
        pings: pings.len(),
        pings_back,
        wall,
        node_cpu,
        garbage_cpu,
    }
}

fn run_unbonded(rng: &mut StdRng, settings: &Settings, runtime: &tokio::runtime::Runtime) -> Run {
    let node = NodeUnderTest::spawn(random_key(rng));
    let mut generator = Generator::new();
    let pings: Vec<Vec<u8>> = (0..settings.pings)
        .map(|i| ping_packet(&random_key(rng), generator.addr, node.addr, i as u64))
        .collect();
    let cpu_start = node.cpu_now();
    let (answered, pings_back, wall) = generator.load(node.addr, &pings);
    let node_cpu = cpu_start.zip(node.cpu_now()).map(|(s, e)| e - s);
    let stats = node.stats(runtime);
    assert_eq!(stats.received, pings.len() as u64, "{stats:?}");
    Run {
        answered,
        pings: pings.len(),
        pings_back,
        wall,
        node_cpu,
        garbage_cpu: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Main.

fn main() {
    let mode = support::mode();
    let smoke = mode == Mode::Smoke;
    let settings = match mode {
        Mode::Smoke => Settings {
            rounds: 1,
            pings: 200,
            bound_iterations: 50,
            garbage: 320,
        },
        Mode::Quick => Settings {
            rounds: 3,
            pings: 3_000,
            bound_iterations: 1_000,
            garbage: 3_200,
        },
        Mode::Full => Settings {
            rounds: 7,
            pings: 20_000,
            bound_iterations: 5_000,
            garbage: 32_000,
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut rng = StdRng::seed_from_u64(0xd15c_0004);
    if smoke {
        println!("smoke run (no --bench): figures are not measurements");
    }
    println!(
        "discv4: {} rounds of {} PINGs per load, window {WINDOW}; node = Discv4Handle on a \
         current-thread runtime, 127.0.0.1",
        settings.rounds, settings.pings
    );

    let mut crypto = Vec::new();
    let (mut bonded, mut unbonded, mut sans_io) = (Vec::new(), Vec::new(), Vec::new());
    let mut pending = Vec::new();
    for round in 1..=settings.rounds {
        let c = measure_crypto(&mut rng, settings.bound_iterations);
        let s = measure_sans_io(&mut rng, settings.pings.min(5_000));
        if !smoke {
            pending.push(measure_pending_cost(&mut rng));
        }
        let b = run_bonded(&mut rng, &settings, &runtime);
        let u = run_unbonded(&mut rng, &settings, &runtime);
        let bound = 1.0 / (c.decode_ping + c.encode_pong).as_secs_f64();
        println!(
            "round {round}: bound {bound:>7.0}/s | sans-IO {:>7.0}/s | bonded {:>7.0}/s wall, \
             {:>7.0}/CPU-s | unbonded {:>7.0}/s wall, {:>7.0}/CPU-s, {} Pings back",
            1.0 / s.as_secs_f64(),
            b.rate(),
            b.cpu_rate().unwrap_or(f64::NAN),
            u.rate(),
            u.cpu_rate().unwrap_or(f64::NAN),
            u.pings_back
        );
        crypto.push(c);
        sans_io.push(s);
        bonded.push(b);
        unbonded.push(u);
    }
    summary(&crypto, &sans_io, &bonded, &unbonded);
    let (send, receive) = measure_udp(if smoke { 10 } else { 1_000 }, 150);
    println!(
        "loopback UDP, 150 bytes, blocking std socket: send_to {:.1} us, recv_from {:.1} us of CPU",
        micros(send),
        micros(receive)
    );
    if !pending.is_empty() {
        let med = |f: &dyn Fn(&PendingCost) -> Duration| {
            median(&pending.iter().map(|p| micros(f(p))).collect::<Vec<_>>())
        };
        println!(
            "outstanding requests (sans-IO, unbonded PINGs): {:.1} us per PING with few Pings \
             back outstanding, {:.1} us with ~3,800; poll_timeout with 4,096: {:.1} us per call",
            med(&|p| p.ping_few),
            med(&|p| p.ping_many),
            med(&|p| p.poll_timeout)
        );
    }
}

fn summary(crypto: &[Crypto], sans_io: &[Duration], bonded: &[Run], unbonded: &[Run]) {
    let med = |f: &dyn Fn(usize) -> f64| median(&(0..crypto.len()).map(f).collect::<Vec<_>>());
    let t_decode = |i: usize| micros(crypto[i].decode_ping);
    let t_encode = |i: usize| micros(crypto[i].encode_pong);
    let bound = |i: usize| 1e6 / (t_decode(i) + t_encode(i));
    // The unbonded load's bound: each Ping back is one more encode.
    let unbonded_bound = |i: usize| {
        let f = unbonded[i].pings_back as f64 / unbonded[i].answered.max(1) as f64;
        1e6 / (t_decode(i) + t_encode(i) * (1.0 + f))
    };
    let nan = f64::NAN;

    println!();
    println!("crypto, same rounds (thread CPU time, medians):");
    println!(
        "  packet::decode(PING)   {:>6.1} us   (secp256k1 recover_ecdsa alone {:>5.1} us)",
        med(&t_decode),
        med(&|i| micros(crypto[i].recover))
    );
    println!(
        "  packet::encode(PONG)   {:>6.1} us   (secp256k1 sign_ecdsa_recoverable alone {:>5.1} us)",
        med(&t_encode),
        med(&|i| micros(crypto[i].sign))
    );
    println!("  bound = 1/(decode + encode) = {:.0} PINGs/s", med(&bound));
    println!(
        "sans-IO Discv4 alone (bonded PINGs, no sockets): {:.1} us per PING = {:.0}/s = {:.2} of \
         the bound",
        med(&|i| micros(sans_io[i])),
        med(&|i| 1.0 / sans_io[i].as_secs_f64()),
        med(&|i| (1.0 / sans_io[i].as_secs_f64()) / bound(i))
    );
    println!();
    println!(
        "{:<22} {:>12} {:>12} {:>9} {:>9} {:>10} {:>12} {:>13} {:>11} {:>13}",
        "load over UDP",
        "answered/s",
        "per CPU-s",
        "ratio",
        "ratio CPU",
        "node busy",
        "Pings back",
        "node us/PING",
        "not crypto",
        "answered"
    );
    for (name, runs, bound) in [
        ("bonded (16 keys)", bonded, &bound as &dyn Fn(usize) -> f64),
        (
            "unbonded (new keys)",
            unbonded,
            &unbonded_bound as &dyn Fn(usize) -> f64,
        ),
    ] {
        let cpu_us = |i: usize| 1e6 / runs[i].cpu_rate().unwrap_or(nan);
        let answered: usize = runs.iter().map(|r| r.answered).sum();
        let pings: usize = runs.iter().map(|r| r.pings).sum();
        let crypto_us = |i: usize| 1e6 / bound(i);
        println!(
            "{:<22} {:>12.0} {:>12.0} {:>9.2} {:>9.2} {:>9.0}% {:>11.2}x {:>13.1} {:>11.1} {:>13}",
            name,
            med(&|i| runs[i].rate()),
            med(&|i| runs[i].cpu_rate().unwrap_or(nan)),
            med(&|i| runs[i].rate() / bound(i)),
            med(&|i| runs[i].cpu_rate().unwrap_or(nan) / bound(i)),
            med(&|i| runs[i].rate() / runs[i].cpu_rate().unwrap_or(nan) * 100.0),
            med(&|i| runs[i].pings_back as f64 / runs[i].answered.max(1) as f64),
            med(&cpu_us),
            med(&|i| cpu_us(i) - crypto_us(i)),
            format!("{answered}/{pings}"),
        );
    }
    println!(
        "  ratio = answered/s over that load's bound (bonded: 1/(decode + encode); unbonded: \
         1/(decode + (1 + Pings back per PING) * encode)), median of per-round ratios"
    );
    println!(
        "  node busy = node thread CPU time / wall time (below 100%: the thread waited for a core \
         or for the generator); node us/PING = node thread CPU time per answered PING; not \
         crypto = that minus the bound's time"
    );
    let garbage: Vec<f64> = bonded
        .iter()
        .filter_map(|r| r.garbage_cpu.map(micros))
        .collect();
    if !garbage.is_empty() {
        println!(
            "garbage (random 0..1500 bytes): {:.2} us of node CPU per datagram",
            median(&garbage)
        );
    }
    println!(
        "packets per lookup in the 1,000-node simulation: see `cargo test -p ethp2p-discovery \
         --release --test sim -- --nocapture`"
    );
}

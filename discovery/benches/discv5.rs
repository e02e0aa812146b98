//! discv5 benchmark: handshakes and PING/PONGs per CPU-second, and memory per established
//! session, of our node beside sigp's `discv5` 0.12 (the crate Lighthouse and reth use),
//! measured the same way in the same run, and beside the bound the cryptography sets.
//!
//! Targets (issue 8): at least 1.5 times sigp's rates per CPU-second, at least 0.8 of the
//! bound, and less memory per session than sigp.
//!
//! # The load, the same for both implementations
//!
//! One **server** node runs alone in a child process of its own (this benchmark re-run with
//! [`SERVER_ENV`] set), on a current-thread tokio runtime, bound to 127.0.0.1: our
//! [`Discv5Handle`] or sigp's `Discv5`, each with its own driver and socket. The parent runs
//! `clients` **client** nodes *of the same implementation*, each with its own socket, all on one
//! current-thread runtime. Every client pings the server through its public API (ours:
//! [`Discv5Handle::ping`], sigp: `send_ping`), [`WINDOW`] clients at a time, so neither
//! socket's buffer overflows and nothing is lost:
//!
//! - **handshakes**: each client's first PING, which has no session yet, so it is a random
//!   packet, WHOAREYOU, handshake (carrying the client's record, which the server does not
//!   know), PONG. Each implementation then adds one PING/PONG of its own on the new session
//!   (our server pings the client back, as go-ethereum does, to put it in its table; a sigp
//!   client pings the server it just connected to): that is in the count, for both.
//! - **PING/PONG**: `pings` more PINGs, spread over the same clients' established sessions.
//!
//! Before those, [`WARM`] clients complete a handshake (allocator and tables warmed). Background
//! work is off for both during the run: our revalidation interval and sigp's ping interval are
//! an hour. Session caches (ours 1024, sigp 1000) hold every client, so nothing is evicted.
//!
//! # What is counted
//!
//! **CPU time of both ends**: of the server's process and of the clients' process
//! (`getrusage(RUSAGE_SELF)`, every thread; the runtimes are single-threaded, but sigp could
//! spawn threads), over the same interval, divided into the completed handshakes or PONGs.
//! Both ends, because the two implementations split the work differently (the extra PING goes
//! server-to-client in ours, client-to-server in sigp's): only the sum compares like with like.
//! The server's share alone is printed too. Wall-clock rates are printed beside them; on a busy
//! machine they mean little (each process has one thread, and cores are shared).
//!
//! **Memory per session**: the server process's resident set (`/proc/self/statm`) after the
//! handshake phase minus before it, divided by the sessions that phase added (each round's
//! server is a fresh process, so allocator states never mix). It includes everything those
//! sessions cost the server: the session entries and the slack of their hash map (at 960
//! entries a map has 2048 slots), the records of the clients that made it into the table
//! (buckets cap those), and any other structure that grew.
//!
//! Each round runs both implementations (in alternating order), each with a fresh server and
//! fresh clients; figures are medians over rounds, and ratios (ours / sigp, ours / bound) are
//! medians of per-round ratios.
//!
//! # The bound
//!
//! The cryptography each exchange cannot avoid, timed in tight loops in this process with the
//! functions our node calls ([`crypto`]: libsecp256k1, RustCrypto AES, AES-GCM, HKDF), on
//! inputs like the real ones. For both ends:
//!
//! ```text
//! handshake = ephemeral key + 2 ECDH + id-signature + its verification + record signature
//!             check + 2 HKDF + 2 AES-GCM seal + 2 AES-GCM open + 8 header maskings
//!             (random packet, WHOAREYOU, handshake, PONG: each masked once and unmasked once)
//! PING/PONG = 2 AES-GCM seal + 2 AES-GCM open + 4 header maskings
//! bound     = 1 / that time            ratio = measured per CPU-second / bound
//! ```
//!
//! (The server's share: one ECDH, the verification, the record check, one HKDF, one seal, one
//! open, four maskings per handshake; one seal, one open, two maskings per PING.) Also printed:
//! the same plus the CPU cost of the loopback datagrams the exchange needs (4 per handshake, 2
//! per PING/PONG, each one `send_to` + one `recv_from`, measured here), which no UDP
//! implementation avoids; and our state machines alone ([`Discv5`], both ends in memory, no
//! sockets, no runtime), which separates the protocol code from the I/O. sigp's cryptography is
//! pure Rust (k256), ours libsecp256k1: part of any gap between the two is that choice.
//!
//! # Running
//!
//! `cargo bench -p ethp2p-discovery --bench discv5`. `ETHP2P_BENCH_QUICK=1` runs fewer, smaller
//! rounds. Without `--bench` (as `cargo test --benches` runs it) a small smoke run whose figures
//! are not measurements.

mod support;

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use discv5_sigp::{ConfigBuilder, ListenConfig};
use enr_sigp::CombinedKey;
use ethp2p_discovery::v5::packet::{MASKING_IV_SIZE, MESSAGE_AUTHDATA_SIZE, STATIC_HEADER_SIZE};
use ethp2p_discovery::v5::{
    Discv5, Discv5Handle, Event, Message, Response, ServiceConfig, Transmit, crypto,
};
use ethp2p_discovery::{Enr, NodeId};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use secp256k1::SecretKey;
use support::{CpuClock, Mode, measure_udp, median, micros, process_cpu, random_key, rss_bytes};

/// Set (to `ours` or `sigp`) in the child process that runs the server.
const SERVER_ENV: &str = "ETHP2P_DISCV5_BENCH_SERVER";
/// Clients pinging at once.
const WINDOW: usize = 32;
/// Clients that complete a handshake before anything is measured.
const WARM: usize = 32;
/// Long enough that no background maintenance runs during a round.
const QUIET: Duration = Duration::from_secs(3600);

struct Settings {
    rounds: usize,
    /// Clients whose handshakes are measured (beside the [`WARM`] ones).
    clients: usize,
    /// PINGs per round on established sessions.
    pings: usize,
    /// Iterations of each crypto loop per round.
    bound_iterations: usize,
    /// Handshakes and PINGs of the in-memory state machines per round.
    sans_io_handshakes: usize,
    sans_io_pings: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Implementation {
    Ours,
    Sigp,
}

impl Implementation {
    fn name(self) -> &'static str {
        match self {
            Implementation::Ours => "ours",
            Implementation::Sigp => "sigp",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes of both implementations on 127.0.0.1.

/// Our node on a fresh port, background work off.
fn our_node(key: SecretKey, seed: u64) -> (Discv5Handle, Enr) {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    socket.set_nonblocking(true).expect("non-blocking");
    let socket = tokio::net::UdpSocket::from_std(socket).expect("inside the runtime");
    let port = socket.local_addr().expect("bound").port();
    let enr = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .expect("record");
    let discv5 = Discv5::new(key, enr.clone(), quiet_config(), Instant::now(), seed)
        .expect("record of this key");
    (Discv5Handle::spawn(socket, discv5).expect("spawn"), enr)
}

fn quiet_config() -> ServiceConfig {
    ServiceConfig {
        revalidate_interval: QUIET,
        refresh_interval: QUIET,
        ..ServiceConfig::default()
    }
}

/// A sigp node, started. Its record must name its port before it binds, so a free port is
/// found by binding port 0 and releasing it.
async fn sigp_node(key: &SecretKey) -> (discv5_sigp::Discv5, discv5_sigp::Enr) {
    let port = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let mut secret = key.to_secret_bytes();
    let key = CombinedKey::secp256k1_from_bytes(&mut secret).expect("valid key");
    let enr = enr_sigp::Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .expect("record");
    let config = ConfigBuilder::new(ListenConfig::Ipv4 {
        ip: Ipv4Addr::LOCALHOST,
        port,
    })
    .ping_interval(QUIET)
    .build();
    let mut node = discv5_sigp::Discv5::new(enr.clone(), key, config).expect("node");
    node.start().await.expect("start");
    (node, enr)
}

/// The client nodes of one implementation and the server's record in that implementation's
/// type.
enum Clients {
    Ours(Vec<Discv5Handle>, Enr),
    Sigp(Vec<discv5_sigp::Discv5>, discv5_sigp::Enr),
}

impl Clients {
    async fn start(which: Implementation, server: &str, count: usize, rng: &mut StdRng) -> Self {
        match which {
            Implementation::Ours => {
                let nodes = (0..count)
                    .map(|_| our_node(random_key(rng), rng.next_u64()).0)
                    .collect();
                Clients::Ours(nodes, server.parse().expect("server record"))
            }
            Implementation::Sigp => {
                let mut nodes = Vec::with_capacity(count);
                for _ in 0..count {
                    nodes.push(sigp_node(&random_key(rng)).await.0);
                }
                Clients::Sigp(nodes, server.parse().expect("server record"))
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Clients::Ours(nodes, _) => nodes.len(),
            Clients::Sigp(nodes, _) => nodes.len(),
        }
    }

    /// Client `index` pings the server; whether the PONG came.
    async fn ping(&self, index: usize) -> bool {
        match self {
            Clients::Ours(nodes, server) => nodes[index].ping(server.clone()).await.is_ok(),
            Clients::Sigp(nodes, server) => nodes[index].send_ping(server.clone()).await.is_ok(),
        }
    }

    async fn stop(self) {
        match self {
            Clients::Ours(nodes, _) => {
                for node in nodes {
                    node.shutdown().await;
                }
            }
            // Dropping a sigp node shuts it down.
            Clients::Sigp(nodes, _) => drop(nodes),
        }
    }
}

/// `pings` PINGs from the clients in `range`, spread evenly, [`WINDOW`] at a time (lane `l` of
/// the window pings clients `l`, `l + WINDOW`, ... in turn); the count of PONGs.
async fn ping_all(clients: &Arc<Clients>, range: std::ops::Range<usize>, pings: usize) -> usize {
    let lanes = WINDOW.min(range.len());
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..lanes {
        let clients = clients.clone();
        let mine: Vec<usize> = range.clone().skip(lane).step_by(lanes).collect();
        let count = pings / lanes + usize::from(lane < pings % lanes);
        tasks.spawn(async move {
            let mut answered = 0;
            for &index in mine.iter().cycle().take(count) {
                answered += usize::from(clients.ping(index).await);
            }
            answered
        });
    }
    let mut answered = 0;
    while let Some(lane) = tasks.join_next().await {
        answered += lane.expect("lane task");
    }
    answered
}

// ---------------------------------------------------------------------------------------------
// The server process.

/// What the server process reports: its CPU time and resident set so far, and the sessions
/// it has established (ours: handshakes completed; sigp: its active-sessions gauge).
#[derive(Debug, Clone, Copy)]
struct ServerStat {
    cpu: Duration,
    rss: u64,
    sessions: u64,
}

fn stat_line(sessions: u64) -> String {
    format!(
        "stat {} {} {sessions}",
        process_cpu().as_nanos(),
        rss_bytes().unwrap_or(0)
    )
}

/// The child process: one server on 127.0.0.1, its record on stdout, then a [`ServerStat`]
/// line for each `stat` line on stdin, until stdin closes.
fn serve(which: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (asks, mut asked) = tokio::sync::mpsc::channel::<()>(1);
    // stdin is read by a thread of its own, idle but for the few `stat` lines.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_ok_and(|l| l == "stat") && asks.blocking_send(()).is_err() {
                return;
            }
        }
    });
    let key = SecretKey::from_secret_bytes([0x5e; 32]).expect("valid key");
    runtime.block_on(async move {
        match which {
            "ours" => {
                let (node, enr) = our_node(key, 5);
                println!("enr {enr}");
                while asked.recv().await.is_some() {
                    let stats = node.stats().await.expect("server running");
                    println!("{}", stat_line(stats.handshakes));
                }
                node.shutdown().await;
            }
            "sigp" => {
                let (_node, enr) = sigp_node(&key).await;
                println!("enr {}", enr.to_base64());
                while asked.recv().await.is_some() {
                    // A process-wide gauge: this process runs one sigp node.
                    let sessions = discv5_sigp::Discv5::metrics().active_sessions;
                    println!("{}", stat_line(sessions as u64));
                }
            }
            other => panic!("{SERVER_ENV}={other}: neither ours nor sigp"),
        }
    });
}

/// The parent's side of a server process.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The server's record, as text.
    enr: String,
}

impl Server {
    fn spawn(which: Implementation) -> Server {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(std::env::args().skip(1))
            .env(SERVER_ENV, which.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let line = read_line(&mut stdout);
        let enr = line
            .strip_prefix("enr ")
            .unwrap_or_else(|| panic!("server's first line: {line:?}"))
            .to_owned();
        Server {
            child,
            stdin,
            stdout,
            enr,
        }
    }

    fn stat(&mut self) -> ServerStat {
        let stdin = self.stdin.as_mut().expect("open until drop");
        writeln!(stdin, "stat").expect("server alive");
        let line = read_line(&mut self.stdout);
        let fields: Vec<u64> = line
            .strip_prefix("stat ")
            .map(|rest| rest.split(' ').filter_map(|f| f.parse().ok()).collect())
            .unwrap_or_default();
        let [cpu, rss, sessions] = fields[..] else {
            panic!("server's stat line: {line:?}")
        };
        ServerStat {
            cpu: Duration::from_nanos(cpu),
            rss,
            sessions,
        }
    }
}

fn read_line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("read the server's output");
    line.trim_end().to_owned()
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing stdin ends the server.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// One round of one implementation.

/// What one phase cost: completed exchanges, attempts, CPU time of the clients' and the
/// server's process, wall time.
#[derive(Debug, Clone, Copy)]
struct Phase {
    done: usize,
    tried: usize,
    clients_cpu: Duration,
    server_cpu: Duration,
    wall: Duration,
}

impl Phase {
    /// Per CPU-second of both ends.
    fn per_cpu(&self) -> f64 {
        self.done as f64 / (self.clients_cpu + self.server_cpu).as_secs_f64()
    }

    /// Per CPU-second of the server alone.
    fn per_server_cpu(&self) -> f64 {
        self.done as f64 / self.server_cpu.as_secs_f64()
    }

    fn per_wall(&self) -> f64 {
        self.done as f64 / self.wall.as_secs_f64()
    }
}

struct RunResult {
    handshakes: Phase,
    pings: Phase,
    /// Server RSS growth per session added in the handshake phase, in bytes.
    bytes_per_session: f64,
    sessions_added: u64,
}

fn run(
    which: Implementation,
    settings: &Settings,
    rng: &mut StdRng,
    runtime: &tokio::runtime::Runtime,
) -> RunResult {
    let mut server = Server::spawn(which);
    let clients = Arc::new(runtime.block_on(Clients::start(
        which,
        &server.enr,
        WARM + settings.clients,
        rng,
    )));
    let warmed = runtime.block_on(ping_all(&clients, 0..WARM, WARM));
    assert_eq!(
        warmed,
        WARM,
        "{}: warm-up handshakes answered",
        which.name()
    );

    let measure = |server: &mut Server, phase: &dyn Fn() -> (usize, usize)| {
        let (before, cpu, wall) = (server.stat(), process_cpu(), Instant::now());
        let (done, tried) = phase();
        let (wall, cpu) = (wall.elapsed(), process_cpu() - cpu);
        let after = server.stat();
        let phase = Phase {
            done,
            tried,
            clients_cpu: cpu,
            server_cpu: after.cpu - before.cpu,
            wall,
        };
        (phase, before, after)
    };
    let all = WARM..clients.len();
    let (handshakes, before, after) = measure(&mut server, &|| {
        let done = runtime.block_on(ping_all(&clients, all.clone(), all.len()));
        (done, all.len())
    });
    let sessions_added = after.sessions.saturating_sub(before.sessions);
    let bytes_per_session = (after.rss as f64 - before.rss as f64) / sessions_added.max(1) as f64;
    let (pings, _, _) = measure(&mut server, &|| {
        let done = runtime.block_on(ping_all(&clients, all.clone(), settings.pings));
        (done, settings.pings)
    });
    let clients = Arc::into_inner(clients).expect("lanes finished");
    runtime.block_on(clients.stop());
    RunResult {
        handshakes,
        pings,
        bytes_per_session,
        sessions_added,
    }
}

// ---------------------------------------------------------------------------------------------
// The bound.

/// Per-operation CPU times of one round's crypto loops.
#[derive(Debug, Clone, Copy)]
struct Crypto {
    keygen: Duration,
    ecdh: Duration,
    sign: Duration,
    verify: Duration,
    record_check: Duration,
    hkdf: Duration,
    seal: Duration,
    open: Duration,
    mask: Duration,
}

impl Crypto {
    fn handshake(&self) -> Duration {
        self.keygen
            + 2 * self.ecdh
            + self.sign
            + self.verify
            + self.record_check
            + 2 * self.hkdf
            + 2 * self.seal
            + 2 * self.open
            + 8 * self.mask
    }

    fn handshake_server(&self) -> Duration {
        self.ecdh
            + self.verify
            + self.record_check
            + self.hkdf
            + self.seal
            + self.open
            + 4 * self.mask
    }

    fn ping(&self) -> Duration {
        2 * self.seal + 2 * self.open + 4 * self.mask
    }

    fn ping_server(&self) -> Duration {
        self.seal + self.open + 2 * self.mask
    }
}

fn measure_crypto(rng: &mut StdRng, iterations: usize) -> Crypto {
    const INPUTS: usize = 16;
    let clock = CpuClock::this_thread();
    let per_op = |start: Duration| (clock.now() - start) / iterations as u32;
    let keys: Vec<SecretKey> = (0..INPUTS).map(|_| random_key(rng)).collect();
    let publics: Vec<secp256k1::PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let ephemerals: Vec<[u8; 33]> = publics.iter().map(|p| p.serialize()).collect();
    let mut challenge = [0u8; 63];
    rng.fill_bytes(&mut challenge);
    let dest = NodeId::from_public_key(&publics[0]);
    let records: Vec<Vec<u8>> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let enr = Enr::builder()
                .ip4(Ipv4Addr::LOCALHOST)
                .udp4(40_000 + i as u16)
                .build(key)
                .expect("record");
            enr.encoded().to_vec()
        })
        .collect();

    let start = clock.now();
    for _ in 0..iterations {
        let key = crypto::generate_secret_key(rng);
        black_box(key.public_key().serialize());
    }
    let keygen = per_op(start);
    let start = clock.now();
    for i in 0..iterations {
        black_box(crypto::ecdh(&publics[i % INPUTS], &keys[(i + 1) % INPUTS]));
    }
    let ecdh = per_op(start);
    let start = clock.now();
    let signatures: Vec<[u8; 64]> = (0..iterations)
        .map(|i| {
            crypto::id_sign(
                &keys[i % INPUTS],
                &challenge,
                &ephemerals[(i + 1) % INPUTS],
                &dest,
            )
        })
        .collect();
    let sign = per_op(start);
    let start = clock.now();
    for (i, signature) in signatures.iter().enumerate() {
        let valid = crypto::id_verify(
            &publics[i % INPUTS],
            signature,
            &challenge,
            &ephemerals[(i + 1) % INPUTS],
            &dest,
        );
        assert!(black_box(valid), "a valid id-signature");
    }
    let verify = per_op(start);
    let start = clock.now();
    for i in 0..iterations {
        black_box(Enr::decode(black_box(&records[i % INPUTS])).expect("valid record"));
    }
    let record_check = per_op(start);
    let secret = crypto::ecdh(&publics[0], &keys[1]);
    let start = clock.now();
    for i in 0..iterations {
        black_box(crypto::derive_keys_from_secret(
            &secret,
            &dest,
            &NodeId([i as u8; 32]),
            &challenge,
        ));
    }
    let hkdf = per_op(start);

    // A message packet's PING: its plaintext, nonce and header as associated data.
    let plaintext = Message::Ping {
        request_id: ethp2p_discovery::v5::RequestId::new(&rng.random::<[u8; 8]>())
            .expect("8 bytes"),
        enr_seq: 1,
    }
    .encode();
    let header = [0x42u8; MASKING_IV_SIZE + STATIC_HEADER_SIZE + MESSAGE_AUTHDATA_SIZE];
    let key: crypto::AesKey = rng.random();
    let nonces: Vec<crypto::Nonce> = (0..INPUTS).map(|_| rng.random()).collect();
    let start = clock.now();
    let sealed: Vec<Vec<u8>> = (0..iterations)
        .map(|i| {
            let mut out = Vec::with_capacity(plaintext.len() + crypto::TAG_SIZE);
            crypto::encrypt(&key, &nonces[i % INPUTS], &plaintext, &header, &mut out);
            out
        })
        .collect();
    let seal = per_op(start);
    let start = clock.now();
    for (i, ciphertext) in sealed.iter().enumerate() {
        black_box(crypto::decrypt(&key, &nonces[i % INPUTS], ciphertext, &header).expect("ours"));
    }
    let open = per_op(start);
    // Masking: AES-128-CTR keyed by the destination id over the static header and a message
    // packet's authdata (a handshake's is longer, a WHOAREYOU's shorter).
    let mask_key: [u8; 16] = dest.0[..16].try_into().expect("16 bytes");
    let mut masked = [0u8; STATIC_HEADER_SIZE + MESSAGE_AUTHDATA_SIZE];
    let start = clock.now();
    for i in 0..iterations {
        let iv = [i as u8; 16];
        ctr::Ctr128BE::<Aes128>::new(&mask_key.into(), &iv.into()).apply_keystream(&mut masked);
        black_box(&masked);
    }
    let mask = per_op(start);
    Crypto {
        keygen,
        ecdh,
        sign,
        verify,
        record_check,
        hkdf,
        seal,
        open,
        mask,
    }
}

// ---------------------------------------------------------------------------------------------
// Our state machines alone.

/// Nodes of ours wired in memory: datagrams go from `poll_transmit` straight into the
/// destination's `handle_datagram`.
struct Wired {
    nodes: Vec<Discv5>,
    addrs: Vec<SocketAddr>,
    enrs: Vec<Enr>,
}

impl Wired {
    fn new(rng: &mut StdRng, count: usize, now: Instant) -> Wired {
        let (mut nodes, mut addrs, mut enrs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..count {
            let key = random_key(rng);
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 20_000 + i as u16));
            let enr = Enr::builder()
                .ip4(Ipv4Addr::LOCALHOST)
                .udp4(addr.port())
                .build(&key)
                .expect("record");
            let node = Discv5::new(key, enr.clone(), quiet_config(), now, rng.next_u64())
                .expect("record of this key");
            nodes.push(node);
            addrs.push(addr);
            enrs.push(enr);
        }
        Wired { nodes, addrs, enrs }
    }

    /// Delivers datagrams until none is left; returns the PONGs the nodes' own calls got.
    fn pump(&mut self, now: Instant, busy: &[usize]) -> usize {
        let mut pongs = 0;
        let mut queue: Vec<(SocketAddr, Transmit)> = Vec::new();
        let mut active = busy.to_vec();
        while !active.is_empty() {
            for &index in &active {
                while let Some(transmit) = self.nodes[index].poll_transmit() {
                    queue.push((self.addrs[index], transmit));
                }
                while let Some(event) = self.nodes[index].poll_event() {
                    if let Event::Response {
                        result: Ok(Response::Pong { .. }),
                        ..
                    } = event
                    {
                        pongs += 1;
                    }
                }
            }
            active.clear();
            for (from, transmit) in queue.drain(..) {
                // Ports are 20,000 + index.
                let to = usize::from(transmit.to.port() - 20_000);
                self.nodes[to].handle_datagram(now, from, &transmit.payload);
                active.push(to);
            }
            active.sort_unstable();
            active.dedup();
        }
        pongs
    }
}

/// CPU time per handshake and per PING/PONG of our state machines alone, both ends: node 0 is
/// the server, the others the clients, each handshaking once and then pinging.
fn measure_sans_io(rng: &mut StdRng, handshakes: usize, pings: usize) -> (Duration, Duration) {
    let now = Instant::now();
    let mut wired = Wired::new(rng, handshakes + 1, now);
    let server = wired.enrs[0].clone();
    let clock = CpuClock::this_thread();
    let start = clock.now();
    let mut pongs = 0;
    for client in 1..=handshakes {
        wired.nodes[client].ping(now, &server);
        pongs += wired.pump(now, &[client]);
    }
    let handshake = (clock.now() - start) / handshakes as u32;
    assert_eq!(pongs, handshakes, "every in-memory handshake answered");
    let start = clock.now();
    let mut pongs = 0;
    for i in 0..pings {
        let client = 1 + i % handshakes;
        wired.nodes[client].ping(now, &server);
        pongs += wired.pump(now, &[client]);
    }
    let ping = (clock.now() - start) / pings as u32;
    assert_eq!(pongs, pings, "every in-memory PING answered");
    (handshake, ping)
}

// ---------------------------------------------------------------------------------------------
// Main.

/// Lets this process open a socket per client (where the soft limit is lower than the hard).
fn raise_file_limit() {
    // SAFETY: an all-zero `rlimit` is a valid value; both calls get valid pointers.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() {
    if let Ok(which) = std::env::var(SERVER_ENV) {
        serve(&which);
        return;
    }
    let mode = support::mode();
    let smoke = mode == Mode::Smoke;
    let settings = match mode {
        Mode::Smoke => Settings {
            rounds: 1,
            clients: 40,
            pings: 400,
            bound_iterations: 50,
            sans_io_handshakes: 20,
            sans_io_pings: 200,
        },
        Mode::Quick => Settings {
            rounds: 3,
            clients: 480,
            pings: 10_000,
            bound_iterations: 1_000,
            sans_io_handshakes: 200,
            sans_io_pings: 5_000,
        },
        Mode::Full => Settings {
            rounds: 5,
            clients: 960,
            pings: 40_000,
            bound_iterations: 3_000,
            sans_io_handshakes: 500,
            sans_io_pings: 20_000,
        },
    };
    raise_file_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = StdRng::seed_from_u64(0xd15c_0005);
    if smoke {
        println!("smoke run (no --bench): figures are not measurements");
    }
    println!(
        "discv5: {} rounds; per round and implementation a fresh server process and {} + {WARM} \
         client nodes of the same implementation on 127.0.0.1, {WINDOW} pinging at once; {} \
         handshakes, then {} PINGs on their sessions",
        settings.rounds, settings.clients, settings.clients, settings.pings
    );
    let mut rounds = Vec::new();
    for round in 1..=settings.rounds {
        let crypto = measure_crypto(&mut rng, settings.bound_iterations);
        let sans_io = measure_sans_io(
            &mut rng,
            settings.sans_io_handshakes,
            settings.sans_io_pings,
        );
        let (first, second) = if round % 2 == 1 {
            (Implementation::Ours, Implementation::Sigp)
        } else {
            (Implementation::Sigp, Implementation::Ours)
        };
        let a = run(first, &settings, &mut rng, &runtime);
        let b = run(second, &settings, &mut rng, &runtime);
        let (ours, sigp) = if first == Implementation::Ours {
            (a, b)
        } else {
            (b, a)
        };
        println!(
            "round {round}: handshakes/CPU-s ours {:>6.0} sigp {:>6.0} | PING/PONG/CPU-s ours \
             {:>6.0} sigp {:>6.0} | bytes/session ours {:>5.0} sigp {:>5.0}",
            ours.handshakes.per_cpu(),
            sigp.handshakes.per_cpu(),
            ours.pings.per_cpu(),
            sigp.pings.per_cpu(),
            ours.bytes_per_session,
            sigp.bytes_per_session,
        );
        rounds.push(Round {
            crypto,
            sans_io,
            ours,
            sigp,
        });
    }
    summary(&rounds);
    let (send, receive) = measure_udp(if smoke { 10 } else { 1_000 }, 100);
    println!(
        "loopback UDP, 100 bytes, blocking std socket: send_to {:.1} us, recv_from {:.1} us of CPU",
        micros(send),
        micros(receive)
    );
}

struct Round {
    crypto: Crypto,
    /// Our state machines alone: per handshake, per PING/PONG.
    sans_io: (Duration, Duration),
    ours: RunResult,
    sigp: RunResult,
}

/// One measured load as the summary prints it: which phase, its bounds (both ends, the
/// server's share) and the loopback datagrams it needs.
struct Load {
    name: &'static str,
    pick: fn(&RunResult) -> &Phase,
    bound: fn(&Crypto) -> Duration,
    server_bound: fn(&Crypto) -> Duration,
    datagrams: f64,
}

fn summary(rounds: &[Round]) {
    let med = |f: &dyn Fn(&Round) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let c = |f: fn(&Crypto) -> Duration| med(&|r| micros(f(&r.crypto)));
    // Loopback datagrams, measured once per run: the UDP cost for the second bound.
    let (send, receive) = measure_udp(200, 100);
    let datagram = micros(send + receive);

    println!();
    println!("crypto, same rounds (thread CPU time per operation, medians, us):");
    println!(
        "  ephemeral key {:.1} | ECDH {:.1} | id-sign {:.1} | id-verify {:.1} | record check {:.1} \
         | HKDF {:.2} | GCM seal {:.2} | GCM open {:.2} | header mask {:.2}",
        c(|c| c.keygen),
        c(|c| c.ecdh),
        c(|c| c.sign),
        c(|c| c.verify),
        c(|c| c.record_check),
        c(|c| c.hkdf),
        c(|c| c.seal),
        c(|c| c.open),
        c(|c| c.mask)
    );
    println!(
        "  handshake (both ends) {:.1} us, server's share {:.1} us; PING/PONG (both ends) {:.2} \
         us, server's share {:.2} us; a loopback datagram (send + receive) {datagram:.1} us",
        c(Crypto::handshake),
        c(Crypto::handshake_server),
        c(Crypto::ping),
        c(Crypto::ping_server)
    );
    println!(
        "our state machines alone (in memory, both ends, no sockets): {:.1} us per handshake \
         (= {:.2} of its crypto bound), {:.2} us per PING/PONG (= {:.2} of its crypto bound)",
        med(&|r| micros(r.sans_io.0)),
        med(&|r| r.crypto.handshake().as_secs_f64() / r.sans_io.0.as_secs_f64()),
        med(&|r| micros(r.sans_io.1)),
        med(&|r| r.crypto.ping().as_secs_f64() / r.sans_io.1.as_secs_f64()),
    );

    let phases = [
        Load {
            name: "handshakes",
            pick: |r| &r.handshakes,
            bound: Crypto::handshake,
            server_bound: Crypto::handshake_server,
            datagrams: 4.0,
        },
        Load {
            name: "PING/PONG",
            pick: |r| &r.pings,
            bound: Crypto::ping,
            server_bound: Crypto::ping_server,
            datagrams: 2.0,
        },
    ];
    println!();
    println!(
        "{:<11} {:>5} {:>11} {:>11} {:>8} {:>11} {:>11} {:>8} {:>10} {:>12} {:>10} {:>13}",
        "over UDP",
        "impl",
        "per CPU-s",
        "server CPU",
        "wall/s",
        "us CPU each",
        "vs bound",
        "vs +UDP",
        "srv bound",
        "ours / sigp",
        "srv ratio",
        "answered"
    );
    for Load {
        name,
        pick,
        bound,
        server_bound,
        datagrams,
    } in phases
    {
        let bound_rate = |r: &Round| 1.0 / bound(&r.crypto).as_secs_f64();
        let udp_rate = |r: &Round| 1e6 / (micros(bound(&r.crypto)) + datagrams * datagram);
        let server_rate = |r: &Round| 1.0 / server_bound(&r.crypto).as_secs_f64();
        for (label, side) in [
            ("ours", (|r: &Round| &r.ours) as fn(&Round) -> &RunResult),
            ("sigp", |r: &Round| &r.sigp),
        ] {
            let phase = |r: &Round| *pick(side(r));
            let done: usize = rounds.iter().map(|r| phase(r).done).sum();
            let tried: usize = rounds.iter().map(|r| phase(r).tried).sum();
            let versus = if label == "ours" {
                format!(
                    "{:.2}",
                    med(&|r| phase(r).per_cpu() / pick(&r.sigp).per_cpu())
                )
            } else {
                String::new()
            };
            let server_versus = if label == "ours" {
                format!(
                    "{:.2}",
                    med(&|r| phase(r).per_server_cpu() / pick(&r.sigp).per_server_cpu())
                )
            } else {
                String::new()
            };
            println!(
                "{:<11} {:>5} {:>11.0} {:>11.0} {:>8.0} {:>11.1} {:>11.2} {:>8.2} {:>10.2} {:>12} \
                 {:>10} {:>13}",
                name,
                label,
                med(&|r| phase(r).per_cpu()),
                med(&|r| phase(r).per_server_cpu()),
                med(&|r| phase(r).per_wall()),
                med(&|r| 1e6 / phase(r).per_cpu()),
                med(&|r| phase(r).per_cpu() / bound_rate(r)),
                med(&|r| phase(r).per_cpu() / udp_rate(r)),
                med(&|r| phase(r).per_server_cpu() / server_rate(r)),
                versus,
                server_versus,
                format!("{done}/{tried}"),
            );
        }
    }
    println!(
        "  per CPU-s = completed per CPU-second of both processes (clients + server); server CPU \
         = per CPU-second of the server process alone; vs bound = per CPU-s / crypto bound (both \
         ends); vs +UDP = the same against crypto + the loopback datagrams (4 per handshake, 2 \
         per PING/PONG); srv bound = server CPU / the server's crypto share; ours / sigp and srv \
         ratio = medians of per-round ratios (both ends, server alone)"
    );
    println!();
    for (label, side) in [
        ("ours", (|r: &Round| &r.ours) as fn(&Round) -> &RunResult),
        ("sigp", |r: &Round| &r.sigp),
    ] {
        let sessions: Vec<String> = rounds
            .iter()
            .map(|r| side(r).sessions_added.to_string())
            .collect();
        println!(
            "memory per established session, {label}: {:.0} bytes (server RSS growth / sessions \
             added: {} per round)",
            med(&|r| side(r).bytes_per_session),
            sessions.join(", ")
        );
    }
    println!(
        "  ours / sigp: {:.2} (median of per-round ratios)",
        med(&|r| r.ours.bytes_per_session / r.sigp.bytes_per_session)
    );
}

//! Byte stream throughput (`ethp2p::streams`) against the raw RLPx message throughput of the
//! same connection and against a plain loopback TCP copy, all measured in the same run.
//!
//! - **raw RLPx**: a `raw/1` protocol handler sends N messages of 64 KiB of random
//!   (incompressible) bytes as fast as `send` returns; the other node's handler counts them.
//!   Time from the first send to the last byte's arrival.
//! - **stream**: a stream over the same two nodes (`stream/1` beside `raw/1`), 64 KiB writes,
//!   the acceptor reads to the end; the same time span. Default window (256 KiB).
//! - **TCP**: a loopback `TcpStream`, 64 KiB writes, read to the end.
//!
//! Both nodes share one process with 2 runtime worker threads. MB/s is 10^6 payload bytes per
//! second; each measurement is repeated and printed as median and min..max, the ratio is the
//! median of the per-repetition ratios (stream / raw, each pair taken back to back). Nothing is
//! asserted. The target is stream >= 0.8 of raw RLPx.
//!
//! `cargo bench --bench streams` (256 MiB per run, 5 repetitions). Without `--bench` (as
//! `cargo test --benches` runs it) a 4 MiB smoke run. `ETHP2P_BENCH_WINDOW=BYTES` sets the
//! stream receive window (default [`StreamConfig::default`]'s).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ethp2p::rlpx::random_secret_key;
use ethp2p::streams::{Allow, StreamConfig};
use ethp2p::{MessageSender, PeerEvent, Protocol, Server, ServerConfig, ServerHandle};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;

struct Pair {
    a: ServerHandle,
    b: ServerHandle,
    raw: MessageSender,
    arrived: mpsc::UnboundedReceiver<usize>,
}

async fn pair(rng: &mut StdRng) -> Pair {
    let (arrived_tx, arrived) = mpsc::unbounded_channel();
    let counter = Protocol::new("raw", 1, 1, move |mut peer| {
        let arrived = arrived_tx.clone();
        async move {
            while let Some(message) = peer.recv().await {
                let _ = arrived.send(message.payload.len());
            }
            Ok(())
        }
    });
    let (sender_tx, mut sender_rx) = mpsc::channel(1);
    let sender = Protocol::new("raw", 1, 1, move |mut peer| {
        let sender_tx = sender_tx.clone();
        async move {
            let _ = sender_tx.send(peer.sender()).await;
            while peer.recv().await.is_some() {}
            Ok(())
        }
    });
    let config = |rng: &mut StdRng, protocol| {
        let mut config = ServerConfig::new(random_secret_key(rng));
        config.listen_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.protocols = vec![protocol];
        let mut streams = StreamConfig::default();
        if let Some(window) = std::env::var("ETHP2P_BENCH_WINDOW")
            .ok()
            .and_then(|w| w.parse().ok())
        {
            streams.window = window;
        }
        config.streams = Some(streams);
        config
    };
    let a = Server::start(config(rng, counter)).await.unwrap();
    let b = Server::start(config(rng, sender)).await.unwrap();
    let mut events = a.events();
    b.add_peer(a.local_enode());
    while !matches!(events.recv().await.unwrap(), PeerEvent::Added(_)) {}
    let raw = sender_rx.recv().await.unwrap();
    Pair { a, b, raw, arrived }
}

async fn raw_rlpx(pair: &mut Pair, data: &[u8]) -> Duration {
    let start = Instant::now();
    let raw = pair.raw.clone();
    let payload = data.to_vec();
    let sending = tokio::spawn(async move {
        for chunk in payload.chunks(CHUNK) {
            raw.send(0, chunk).await.unwrap();
        }
    });
    let mut got = 0;
    while got < data.len() {
        got += pair.arrived.recv().await.unwrap();
    }
    let elapsed = start.elapsed();
    sending.await.unwrap();
    elapsed
}

async fn stream(pair: &Pair, data: &[u8], run: usize) -> Duration {
    let name = format!("bench-{run}");
    let mut listener = pair.a.accept_streams(&name, Allow::All).unwrap();
    let mut opened = pair.b.open_stream(pair.a.local_id(), &name).await.unwrap();
    let (_, mut accepted) = listener.accept().await.unwrap();
    let start = Instant::now();
    let payload = data.to_vec();
    let writing = tokio::spawn(async move {
        for chunk in payload.chunks(CHUNK) {
            opened.write_all(chunk).await.unwrap();
        }
        opened.shutdown().await.unwrap();
        opened
    });
    let mut buf = vec![0; CHUNK];
    let mut got = 0;
    while got < data.len() {
        got += accepted.read(&mut buf).await.unwrap();
    }
    let elapsed = start.elapsed();
    let _ = writing.await.unwrap();
    elapsed
}

async fn tcp(data: &[u8]) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let start = Instant::now();
    let payload = data.to_vec();
    let writing = tokio::spawn(async move {
        for chunk in payload.chunks(CHUNK) {
            client.write_all(chunk).await.unwrap();
        }
    });
    let mut buf = vec![0; CHUNK];
    let mut got = 0;
    while got < data.len() {
        got += server.read(&mut buf).await.unwrap();
    }
    let elapsed = start.elapsed();
    writing.await.unwrap();
    elapsed
}

fn mbps(bytes: usize, time: Duration) -> f64 {
    bytes as f64 / time.as_secs_f64() / 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn row(label: &str, values: &[f64]) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    println!(
        "{label:<28} {:>9.0} MB/s  ({min:.0}..{max:.0})",
        median(values.to_vec())
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (size, reps) = if full { (256 << 20, 5) } else { (4 << 20, 1) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut rng = StdRng::seed_from_u64(1);
        let mut data = vec![0u8; size];
        rng.fill_bytes(&mut data);
        let mut pair = pair(&mut rng).await;
        let (mut raw, mut streams, mut tcps, mut ratios, mut tcp_ratios) =
            (vec![], vec![], vec![], vec![], vec![]);
        for run in 0..reps {
            // Alternate which goes first, so a trend in machine load favours neither.
            let (r, s) = if run % 2 == 0 {
                let r = raw_rlpx(&mut pair, &data).await;
                (r, stream(&pair, &data, run).await)
            } else {
                let s = stream(&pair, &data, run).await;
                (raw_rlpx(&mut pair, &data).await, s)
            };
            let t = tcp(&data).await;
            let (r, s, t) = (mbps(size, r), mbps(size, s), mbps(size, t));
            raw.push(r);
            streams.push(s);
            tcps.push(t);
            ratios.push(s / r);
            tcp_ratios.push(s / t);
        }
        println!(
            "streams benchmark: {} MiB per run, 64 KiB writes, {reps} repetition(s){}",
            size >> 20,
            if full { "" } else { " (smoke run)" }
        );
        row("raw RLPx messages", &raw);
        row("stream over RLPx", &streams);
        row("loopback TCP copy", &tcps);
        println!(
            "stream / raw RLPx            {:>9.2}  (target >= 0.8)",
            median(ratios)
        );
        println!("stream / loopback TCP        {:>9.3}", median(tcp_ratios));
        pair.b.shutdown().await;
        pair.a.shutdown().await;
    });
}

//! `ethp2p devnet`: N nodes on 127.0.0.1 (or `--ip ::1`) in one process that find each other through discv4,
//! discv5 or both on one UDP port (`--discovery`) from one bootnode (node 0) until every node is connected to every other, then run the demo
//! protocol for a while, with a live table and a summary. When the network does not form in
//! time it says which pairs are missing and whether discovery had brought them together.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ethp2p::rlpx::{PeerId, random_secret_key};
use ethp2p::server::DiscoveryConfig;
use ethp2p::{Server, ServerConfig, ServerHandle, Stats};

use super::demo::demo_protocol;

/// Options of `ethp2p devnet`.
#[derive(clap::Args)]
pub struct DevnetArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 8)]
    nodes: usize,
    /// Seconds to keep the network running (and the demo protocol talking) once it has formed.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds to wait for the network to form before giving up and saying what is missing.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Which discovery protocols the nodes run: v4, v5, or both on one UDP port.
    #[arg(long, value_enum, default_value_t = Discovery::V4)]
    discovery: Discovery,
    /// The loopback address the nodes listen on: 127.0.0.1, or ::1 for a network over IPv6.
    #[arg(long, default_value = "127.0.0.1", value_parser = loopback)]
    ip: IpAddr,
}

fn loopback(text: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = text.parse().map_err(|e| format!("{e}"))?;
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err("a devnet runs on a loopback address (127.0.0.1 or ::1)".into())
    }
}

/// The discovery protocols of a devnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Discovery {
    /// discv4 only (from the bootnode's enode).
    V4,
    /// discv5 only (from the bootnode's record).
    V5,
    /// Both, on one UDP port per node, as go-ethereum runs them.
    Both,
}

impl Discovery {
    fn describe(self) -> &'static str {
        match self {
            Discovery::V4 => "discv4",
            Discovery::V5 => "discv5",
            Discovery::Both => "discv4 and discv5 (one UDP port each)",
        }
    }
}

/// How often the demo protocol greets each peer in a network of up to `GREETING_SCALE` nodes;
/// larger networks greet less often per peer, so that the demo's traffic per node stays about
/// the same and does not starve the handshakes of a forming network of CPU.
const GREETING_INTERVAL: Duration = Duration::from_millis(100);
const GREETING_SCALE: usize = 10;
/// How often formation is checked; the table is redrawn every `REDRAW_EVERY` checks.
const CHECK: Duration = Duration::from_millis(50);
const REDRAW_EVERY: u32 = 20;
/// Unconnected pairs explained one by one when the network does not form, at most.
const PAIRS_EXPLAINED: usize = 10;

pub async fn run(args: DevnetArgs) -> Result<(), String> {
    if args.nodes < 2 {
        return Err("a network needs at least 2 nodes".into());
    }
    let greeting_interval =
        GREETING_INTERVAL * u32::try_from(args.nodes.div_ceil(GREETING_SCALE)).unwrap_or(u32::MAX);
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let mut nodes: Vec<ServerHandle> = Vec::with_capacity(args.nodes);
    for _ in 0..args.nodes {
        let mut config = ServerConfig::new(random_secret_key(&mut rng));
        config.listen_addr = Some(SocketAddr::new(args.ip, 0));
        config.client_id = format!("ethp2p-devnet/v{}", env!("CARGO_PKG_VERSION"));
        // Each node may dial all N-1 others: keep that within the dial share (max_peers / 3).
        config.max_peers = config.max_peers.max(3 * args.nodes);
        config.protocols.push(demo_protocol(greeting_interval));
        // Node 0 is the bootnode; every other node knows only it and discovers the rest.
        let bootnodes = nodes
            .first()
            .map(ServerHandle::local_enode)
            .into_iter()
            .collect();
        let bootnode_records = nodes
            .first()
            .and_then(ServerHandle::local_enr)
            .into_iter()
            .collect();
        // discv4 alone starts from the enode, anything with discv5 from the record (which
        // serves discv4 too).
        let v4_only = args.discovery == Discovery::V4;
        config.discovery = Some(DiscoveryConfig {
            bootnodes: if v4_only { bootnodes } else { Vec::new() },
            bootnode_records: if v4_only {
                Vec::new()
            } else {
                bootnode_records
            },
            v4: args.discovery != Discovery::V5,
            v5: !v4_only,
            ..DiscoveryConfig::default()
        });
        nodes.push(Server::start(config).await.map_err(|e| e.to_string())?);
    }
    println!(
        "devnet: {} nodes on {} find each other through {} from one bootnode (node 0) \
         and connect to all others; protocol demo/1 greets each peer every {greeting_interval:?}",
        args.nodes,
        args.ip,
        args.discovery.describe()
    );
    for (i, node) in nodes.iter().enumerate() {
        println!("  node {i}: {}", node.local_enode());
    }

    let shutdown = super::node::shutdown_signal();
    tokio::pin!(shutdown);
    let started = Instant::now();
    let want = args.nodes - 1;
    let formed = watch(
        &nodes,
        &mut shutdown,
        started,
        Duration::from_secs(args.timeout),
        |stats| stats.iter().all(|s| s.peers == want),
    )
    .await;
    let outcome = match formed {
        Watched::Done => {
            let after = started.elapsed();
            println!("network formed after {after:.1?}: every node has {want} peers");
            let running = Instant::now();
            watch(
                &nodes,
                &mut shutdown,
                running,
                Duration::from_secs(args.duration),
                |_| false,
            )
            .await;
            Ok(after)
        }
        Watched::TimedOut => Err(format!(
            "network did not form within {}s: {}",
            args.timeout,
            explain_missing(&nodes).await
        )),
        Watched::Interrupted => Err("interrupted before the network formed".to_string()),
    };

    let stats: Vec<Stats> = nodes.iter().map(ServerHandle::stats).collect();
    let mut stopping = tokio::task::JoinSet::new();
    for node in nodes {
        stopping.spawn(async move { node.shutdown().await });
    }
    stopping.join_all().await;
    println!("\nsummary after {:.1?}:", started.elapsed());
    print_table(&stats);
    let total_in: u64 = stats.iter().map(|s| s.messages_in).sum();
    let after = outcome?;
    println!("network formed after {after:.1?}; {total_in} demo messages delivered");
    Ok(())
}

enum Watched {
    Done,
    TimedOut,
    Interrupted,
}

/// Checks the nodes' stats every [`CHECK`] (redrawing the live table on a terminal) until `done`
/// holds, `limit` has passed since `since`, or the user interrupts.
async fn watch(
    nodes: &[ServerHandle],
    shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    since: Instant,
    limit: Duration,
    done: impl Fn(&[Stats]) -> bool,
) -> Watched {
    let live = std::io::stdout().is_terminal();
    let mut tick = tokio::time::interval(CHECK);
    let mut checks = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.as_mut() => return Watched::Interrupted,
        }
        let stats: Vec<Stats> = nodes.iter().map(ServerHandle::stats).collect();
        if done(&stats) {
            return Watched::Done;
        }
        checks += 1;
        if live && checks % REDRAW_EVERY == 1 {
            // Clear the screen and redraw.
            print!("\x1b[2J\x1b[H");
            println!(
                "ethp2p devnet: {} nodes, {:.0?} elapsed (Ctrl-C ends)",
                nodes.len(),
                since.elapsed()
            );
            print_table(&stats);
        }
        if since.elapsed() >= limit {
            return Watched::TimedOut;
        }
    }
}

/// Which pairs are not connected, and for the first few whether either node has the other in
/// its discovery table (if neither does, discovery never brought them together).
async fn explain_missing(nodes: &[ServerHandle]) -> String {
    let peer_sets: Vec<HashSet<PeerId>> = nodes
        .iter()
        .map(|node| node.peers().iter().map(|peer| peer.id).collect())
        .collect();
    let mut missing = Vec::new();
    for a in 0..nodes.len() {
        for b in a + 1..nodes.len() {
            let (id_a, id_b) = (nodes[a].local_id(), nodes[b].local_id());
            if !peer_sets[a].contains(&id_b) || !peer_sets[b].contains(&id_a) {
                missing.push((a, b));
            }
        }
    }
    let total = nodes.len() * (nodes.len() - 1) / 2;
    println!("{} of {total} pairs are not connected:", missing.len());
    for &(a, b) in missing.iter().take(PAIRS_EXPLAINED) {
        println!(
            "  nodes {a} and {b}: node {a} {}, node {b} {}",
            knows(&nodes[a], &nodes[b]).await,
            knows(&nodes[b], &nodes[a]).await
        );
    }
    if missing.len() > PAIRS_EXPLAINED {
        println!("  ... and {} more", missing.len() - PAIRS_EXPLAINED);
    }
    format!(
        "{} of {total} pairs not connected (listed above)",
        missing.len()
    )
}

async fn knows(node: &ServerHandle, other: &ServerHandle) -> &'static str {
    let id = other.local_id();
    let v4 = match node.discv4() {
        Some(discovery) => Some(
            discovery
                .table_nodes()
                .await
                .map(|table| table.iter().any(|record| record.id == id)),
        ),
        None => None,
    };
    let v5 = match node.discv5() {
        Some(discovery) => Some(
            discovery
                .table_nodes()
                .await
                .map(|table| table.iter().any(|record| record.peer_id() == id)),
        ),
        None => None,
    };
    match (v4, v5) {
        (None, None) => "runs no discovery",
        (Some(Ok(true)), _) | (_, Some(Ok(true))) => "has the other in its discovery table",
        (Some(Err(_)), _) | (_, Some(Err(_))) => "has stopped discovery",
        _ => "does not have the other in its discovery table",
    }
}

fn print_table(stats: &[Stats]) {
    println!(
        "{:>4} {:>6} {:>10} {:>10} {:>10} {:>6} {:>8} {:>7}",
        "node", "peers", "msgs in", "msgs out", "handshakes", "dups", "hs fail", "errors"
    );
    for (i, s) in stats.iter().enumerate() {
        println!(
            "{:>4} {:>6} {:>10} {:>10} {:>10} {:>6} {:>8} {:>7}",
            i,
            s.peers,
            s.messages_in,
            s.messages_out,
            s.handshakes,
            s.duplicates,
            s.handshake_failures,
            s.peer_errors
        );
    }
    println!(
        "(dups: connections closed because the pair dialed each other at once and kept the other \
         one; hs fail: real handshake failures)"
    );
}

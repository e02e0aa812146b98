//! `ethp2p devnet`: N nodes on 127.0.0.1 in one process that find each other through discv4
//! from one bootnode (node 0), run the demo protocol, and show a live table and a summary.
//! Fails when the network does not form.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ethp2p::rlpx::random_secret_key;
use ethp2p::server::DiscoveryConfig;
use ethp2p::{Server, ServerConfig, ServerHandle, Stats};

use super::demo::demo_protocol;

/// Options of `ethp2p devnet`.
#[derive(clap::Args)]
pub struct DevnetArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 8)]
    nodes: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

/// How often the demo protocol greets each peer.
const GREETING_INTERVAL: Duration = Duration::from_millis(100);
/// How often formation is checked; the table is redrawn every `REDRAW_EVERY` checks.
const CHECK: Duration = Duration::from_millis(50);
const REDRAW_EVERY: u32 = 20;

pub async fn run(args: DevnetArgs) -> Result<(), String> {
    if args.nodes < 2 {
        return Err("a network needs at least 2 nodes".into());
    }
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let mut nodes: Vec<ServerHandle> = Vec::with_capacity(args.nodes);
    for _ in 0..args.nodes {
        let mut config = ServerConfig::new(random_secret_key(&mut rng));
        config.listen_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.client_id = format!("ethp2p-devnet/v{}", env!("CARGO_PKG_VERSION"));
        // Each node may dial all N-1 others: keep that within the dial share (max_peers / 3).
        config.max_peers = config.max_peers.max(3 * args.nodes);
        config.protocols.push(demo_protocol(GREETING_INTERVAL));
        // Node 0 is the bootnode; every other node knows only it and discovers the rest.
        let bootnodes = nodes
            .first()
            .map(ServerHandle::local_enode)
            .into_iter()
            .collect();
        config.discovery = Some(DiscoveryConfig {
            bootnodes,
            ..DiscoveryConfig::default()
        });
        nodes.push(Server::start(config).await.map_err(|e| e.to_string())?);
    }
    let live = std::io::stdout().is_terminal();
    println!(
        "devnet: {} nodes on 127.0.0.1 find each other through discv4 from one bootnode (node 0) \
         and connect to all others; protocol demo/1",
        args.nodes
    );
    for (i, node) in nodes.iter().enumerate() {
        println!("  node {i}: {}", node.local_enode());
    }

    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    let want = args.nodes - 1;
    let mut formed_after: Option<Duration> = None;
    let mut tick = tokio::time::interval(CHECK);
    let mut checks = 0u32;
    let shutdown = super::node::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut shutdown => break,
        }
        let stats: Vec<Stats> = nodes.iter().map(ServerHandle::stats).collect();
        if formed_after.is_none() && stats.iter().all(|s| s.peers == want) {
            formed_after = Some(started.elapsed());
            if !live {
                println!(
                    "network formed after {:.1?}: every node has {want} peers",
                    started.elapsed()
                );
            }
        }
        checks += 1;
        if live && checks % REDRAW_EVERY == 1 {
            // Clear the screen and redraw.
            print!("\x1b[2J\x1b[H");
            println!(
                "ethp2p devnet: {} nodes, {:.0?} elapsed (Ctrl-C ends)",
                args.nodes,
                started.elapsed()
            );
            print_table(&stats);
        }
        if Instant::now() >= until {
            break;
        }
    }

    let stats: Vec<Stats> = nodes.iter().map(ServerHandle::stats).collect();
    for node in &nodes {
        node.shutdown().await;
    }
    println!("\nsummary after {:.1?}:", started.elapsed());
    print_table(&stats);
    let total_in: u64 = stats.iter().map(|s| s.messages_in).sum();
    match formed_after {
        Some(after) => {
            println!("network formed after {after:.1?}; {total_in} demo messages delivered");
            Ok(())
        }
        None => Err(format!(
            "network did not form: peers per node {:?}, wanted {want} each",
            stats.iter().map(|s| s.peers).collect::<Vec<_>>()
        )),
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

//! `ethp2p discv5 listen|ping|resolve|crawl`: discv5 tools. `listen` runs a standalone discv5
//! node (what go-ethereum's `devp2p discv5 test` is pointed at); the others use a throwaway key
//! and an ephemeral port.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ethp2p::rlpx::random_secret_key;
use ethp2p_discovery::netutil::{bind_udp, client_ip_for};
use ethp2p_discovery::v5::{Discv5, Discv5Handle, Event, ServiceConfig};
use ethp2p_discovery::{Enr, NodeId};
use secp256k1::SecretKey;
use tokio::time::timeout;

use super::enr::print_enr;

/// Subcommands of `ethp2p discv5`.
#[derive(clap::Subcommand)]
pub enum Discv5Command {
    /// Runs a discv5 node until SIGINT/SIGTERM. The first line on stdout is its record.
    Listen {
        /// UDP address to bind (the record announces it; use a concrete IP, not 0.0.0.0).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// A go-ethereum nodekey file (hex private key); a random key without it.
        #[arg(long)]
        nodekey: Option<PathBuf>,
        /// Records of nodes to start from (comma separated).
        #[arg(long, value_delimiter = ',')]
        bootnodes: Vec<Enr>,
    },
    /// Pings a node and prints the round trip, its record sequence number and our address as
    /// it saw it.
    Ping {
        /// The node.
        enr: Enr,
        /// Seconds to wait.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Fetches a node's current record (FINDNODE at distance 0) and prints it.
    Resolve {
        /// The node.
        enr: Enr,
        /// Seconds to wait.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Walks the network from bootnodes with lookups of random targets, printing every record
    /// found (one per line on stdout; progress on stderr when it is a terminal).
    Crawl {
        /// Where to start (records, comma separated).
        #[arg(long, value_delimiter = ',', required = true)]
        bootnodes: Vec<Enr>,
        /// Seconds to crawl.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

/// A node with `key` bound to `addr`, its record announcing the bound address.
async fn start(
    addr: SocketAddr,
    key: SecretKey,
    bootnodes: Vec<Enr>,
) -> Result<(Discv5Handle, Enr), String> {
    let socket = bind_udp(addr).map_err(|e| format!("cannot bind UDP {addr}: {e}"))?;
    let bound = socket.local_addr().map_err(|e| e.to_string())?;
    let mut builder = Enr::builder();
    match bound.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => {
            builder.ip4(ip).udp4(bound.port());
        }
        IpAddr::V6(ip) if !ip.is_unspecified() => {
            builder.ip6(ip).udp6(bound.port());
        }
        // Without a concrete address the record has no endpoint: others cannot reach us first,
        // but our own requests are answered.
        _ => {}
    }
    let enr = builder.build(&key).map_err(|e| e.to_string())?;
    let config = ServiceConfig {
        bootnodes,
        ..ServiceConfig::default()
    };
    let discv5 = Discv5::new(key, enr.clone(), config, Instant::now(), rand::random())
        .map_err(|e| e.to_string())?;
    let handle = Discv5Handle::spawn(socket, discv5).map_err(|e| e.to_string())?;
    Ok((handle, enr))
}

/// A throwaway node for talking to `targets`, bound to their family ([`client_ip_for`]) at
/// the address discv5 sends to (`ip` first, else `ip6`).
async fn start_client(targets: &[Enr]) -> Result<Discv5Handle, String> {
    let ip = client_ip_for(targets.iter().filter_map(|e| e.to_enode()).map(|e| e.ip));
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let key = random_secret_key(&mut rng);
    let (handle, _) = start(SocketAddr::new(ip, 0), key, Vec::new()).await?;
    Ok(handle)
}

async fn within<T>(
    secs: u64,
    work: impl Future<Output = Result<T, ethp2p_discovery::v5::CallError>>,
) -> Result<T, String> {
    timeout(Duration::from_secs(secs), work)
        .await
        .map_err(|_| format!("no answer within {secs} s"))?
        .map_err(|e| e.to_string())
}

/// Runs one `ethp2p discv5` subcommand.
pub async fn run(command: Discv5Command) -> Result<(), String> {
    match command {
        Discv5Command::Listen {
            addr,
            nodekey,
            bootnodes,
        } => {
            let key = match nodekey {
                Some(path) => super::keys::load(&path)?,
                None => random_secret_key(&mut rand::make_rng::<rand::rngs::StdRng>()),
            };
            let (handle, enr) = start(addr, key, bootnodes).await?;
            println!("{enr}");
            eprintln!("discv5 listening on {}", handle.local_addr());
            super::node::shutdown_signal().await;
            handle.shutdown().await;
            Ok(())
        }
        Discv5Command::Ping { enr, timeout: secs } => {
            let client = start_client(std::slice::from_ref(&enr)).await?;
            let started = Instant::now();
            let pong = within(secs, client.ping(enr)).await?;
            println!(
                "PONG in {:?}; ENR sequence number {}; it sees us at {}",
                started.elapsed(),
                pong.enr_seq,
                pong.to
            );
            Ok(())
        }
        Discv5Command::Resolve { enr, timeout: secs } => {
            let client = start_client(std::slice::from_ref(&enr)).await?;
            let id = enr.id();
            let records = within(secs, client.find_node(enr, vec![0])).await?;
            match records.as_slice() {
                [record] if record.id() == id => {
                    print_enr(record);
                    Ok(())
                }
                _ => Err(format!(
                    "expected the node's own record, got {} records",
                    records.len()
                )),
            }
        }
        Discv5Command::Crawl {
            bootnodes,
            timeout: secs,
        } => crawl(bootnodes, Duration::from_secs(secs)).await,
    }
}

async fn crawl(bootnodes: Vec<Enr>, duration: Duration) -> Result<(), String> {
    let client = start_client(&bootnodes).await?;
    let mut events = client.events();
    for bootnode in &bootnodes {
        client
            .add_node(bootnode.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let progress = std::io::stderr().is_terminal();
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut lookups = 0u64;
    let deadline = tokio::time::Instant::now() + duration;
    let report = |record: &Enr, seen: &mut HashSet<NodeId>| {
        if seen.insert(record.id()) {
            println!("{record}");
        }
    };
    loop {
        let mut target = [0u8; 32];
        rand::fill(&mut target);
        let lookup = client.lookup(NodeId(target));
        let found = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            found = lookup => found.map_err(|e| e.to_string())?,
        };
        lookups += 1;
        for record in &found {
            report(record, &mut seen);
        }
        while let Ok(event) = events.try_recv() {
            if let Event::NodeAdded(record) = event {
                report(&record, &mut seen);
            }
        }
        if progress {
            eprint!("\r{} nodes found, {lookups} lookups", seen.len());
        }
    }
    if progress {
        eprintln!();
    }
    eprintln!("crawl finished: {} nodes, {lookups} lookups", seen.len());
    client.shutdown().await;
    Ok(())
}

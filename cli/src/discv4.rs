//! `ethp2p discv4 ping|resolve|crawl`: discovery tools on a throwaway key and port.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ethp2p::rlpx::random_secret_key;
use ethp2p_discovery::netutil::{bind_udp, client_ip_for};
use ethp2p_discovery::v4::{Config, Discv4, Discv4Handle, Endpoint, Event, unix_now};
use ethp2p_discovery::{Enode, Enr};
use tokio::time::timeout;

use super::enr::print_enr;

/// Subcommands of `ethp2p discv4`.
#[derive(clap::Subcommand)]
pub enum Discv4Command {
    /// Pings a node and prints the round trip and its ENR sequence number.
    Ping {
        /// The node.
        enode: Enode,
        /// Seconds to wait.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Fetches a node's current ENR (EIP-868) and prints it.
    Resolve {
        /// The node.
        enode: Enode,
        /// Seconds to wait.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Walks the network from bootnodes with lookups of random targets, printing every node
    /// found (one enode per line on stdout; progress on stderr when it is a terminal).
    Crawl {
        /// Where to start (enode URLs, comma separated).
        #[arg(long, value_delimiter = ',', required = true)]
        bootnodes: Vec<Enode>,
        /// Seconds to crawl.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
}

/// A discovery instance on an ephemeral port of the family (and scope) of its targets
/// ([`client_ip_for`]: dual-stack when they are of both families).
async fn start(targets: &[Enode]) -> Result<Discv4Handle, String> {
    let ip = client_ip_for(targets.iter().map(|e| e.ip));
    let socket = bind_udp(SocketAddr::new(ip, 0)).map_err(|e| format!("cannot bind UDP: {e}"))?;
    let port = socket.local_addr().map_err(|e| e.to_string())?.port();
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let key = random_secret_key(&mut rng);
    let mut builder = Enr::builder();
    // An unspecified address is no endpoint: the record then has none (our requests are
    // answered all the same).
    match ip {
        IpAddr::V4(v4) if !v4.is_unspecified() => builder.ip4(v4).udp4(port),
        IpAddr::V6(v6) if !v6.is_unspecified() => builder.ip6(v6).udp6(port),
        _ => &mut builder,
    };
    let enr = builder.build(&key).map_err(|e| e.to_string())?;
    let config = Config {
        bootnodes: Vec::new(),
        ..Config::default()
    };
    let endpoint = Endpoint {
        ip,
        udp_port: port,
        tcp_port: 0,
    };
    let discv4 = Discv4::new(
        key,
        enr,
        endpoint,
        config,
        Instant::now(),
        unix_now(),
        rand::random(),
    );
    Discv4Handle::spawn(socket, discv4).map_err(|e| e.to_string())
}

pub async fn run(command: Discv4Command) -> Result<(), String> {
    match command {
        Discv4Command::Ping {
            enode,
            timeout: secs,
        } => {
            let discovery = start(&[enode]).await?;
            let mut events = discovery.events();
            discovery.ping(enode).await.map_err(|e| e.to_string())?;
            let answer = wait_for(&mut events, secs, |event| match event {
                Event::Pong { node, enr_seq, rtt } if node.id == enode.id => {
                    Some(Ok((node, enr_seq, rtt)))
                }
                Event::PingTimeout(node) if node.id == enode.id => Some(Err("no PONG".to_string())),
                _ => None,
            })
            .await?;
            let (node, enr_seq, rtt) = answer;
            let from = SocketAddr::new(node.ip, node.udp_port);
            println!("PONG from {from} in {rtt:?}; ENR sequence number {enr_seq:?}");
            Ok(())
        }
        Discv4Command::Resolve {
            enode,
            timeout: secs,
        } => {
            let discovery = start(&[enode]).await?;
            let mut events = discovery.events();
            discovery
                .request_enr(enode)
                .await
                .map_err(|e| e.to_string())?;
            let enr = wait_for(&mut events, secs, |event| match event {
                Event::Enr { node, enr } if node.id == enode.id => Some(Ok(*enr)),
                Event::EnrFailed(node) if node.id == enode.id => Some(Err(
                    "no valid ENRRESPONSE (the node may not support EIP-868)".to_string(),
                )),
                _ => None,
            })
            .await?;
            print_enr(&enr);
            Ok(())
        }
        Discv4Command::Crawl {
            bootnodes,
            timeout: secs,
        } => crawl(bootnodes, Duration::from_secs(secs)).await,
    }
}

/// Waits up to `secs` for the event `pick` turns into an answer.
async fn wait_for<T>(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    secs: u64,
    pick: impl Fn(Event) -> Option<Result<T, String>>,
) -> Result<T, String> {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Some(answer) = pick(event) {
                        return answer;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    timeout(Duration::from_secs(secs), wait)
        .await
        .map_err(|_| format!("no answer within {secs} s"))?
}

async fn crawl(bootnodes: Vec<Enode>, duration: Duration) -> Result<(), String> {
    let discovery = start(&bootnodes).await?;
    let mut events = discovery.events();
    for bootnode in &bootnodes {
        discovery.ping(*bootnode).await.map_err(|e| e.to_string())?;
    }
    let progress = std::io::stderr().is_terminal();
    let mut seen: HashSet<ethp2p::PeerId> = HashSet::new();
    let mut lookups = 0u64;
    let deadline = tokio::time::Instant::now() + duration;
    // Keep two lookups running: each finished one starts the next.
    for _ in 0..2 {
        discovery.random_lookup().await.map_err(|e| e.to_string())?;
    }
    let report = |record: &Enode, seen: &mut HashSet<ethp2p::PeerId>| {
        if seen.insert(record.id) {
            let enode = Enode {
                id: record.id,
                ip: record.ip,
                tcp_port: record.tcp_port,
                udp_port: record.udp_port,
            };
            println!("{enode}");
        }
    };
    loop {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = events.recv() => event,
        };
        match event {
            Ok(Event::NodeAdded(record) | Event::ReplacementAdded(record)) => {
                report(&record, &mut seen)
            }
            Ok(Event::LookupFinished { nodes, .. }) => {
                lookups += 1;
                for record in &nodes {
                    report(record, &mut seen);
                }
                discovery.random_lookup().await.map_err(|e| e.to_string())?;
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        if progress {
            eprint!("\r{} nodes found, {lookups} lookups", seen.len());
        }
    }
    if progress {
        eprintln!();
    }
    eprintln!("crawl finished: {} nodes, {lookups} lookups", seen.len());
    discovery.shutdown().await;
    Ok(())
}

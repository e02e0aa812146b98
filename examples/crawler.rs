//! A discv4 crawler: from the bootnodes given, runs random lookups for a while, asks every node
//! found for its record (EIP-868), and prints each node with the chain its `eth` entry names
//! (EIP-2124 fork id), then how many nodes announce each fork id.
//!
//! ```sh
//! cargo run --release --example crawler -- 60 enode://ID@IP:PORT [enode://...]
//! ```
//!
//! Discovery runs on its own here, without a [`Server`](ethp2p::Server): a UDP socket, a
//! signed local record, and the [`Discv4Handle`] driving the protocol; the crawler reads its
//! events.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ethp2p::rlpx::random_secret_key;
use ethp2p_discovery::v4::{Config, Discv4, Discv4Handle, Endpoint, Event};
use ethp2p_discovery::{Enode, Enr};
use tokio::net::UdpSocket;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: crawler SECONDS enode://ID@IP:PORT [enode://...]";
    let seconds: u64 = args.next().ok_or(usage)?.parse()?;
    let bootnodes = args
        .map(|a| a.parse::<Enode>())
        .collect::<Result<Vec<_>, _>>()?;
    if bootnodes.is_empty() {
        return Err(usage.into());
    }

    // Our side: any port, a fresh key, a record saying where we are.
    let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).await?;
    let port = socket.local_addr()?.port();
    let key = random_secret_key(&mut rand::rng());
    let record = Enr::builder().udp4(port).build(&key)?;
    let endpoint = Endpoint {
        ip: Ipv4Addr::UNSPECIFIED.into(),
        udp_port: port,
        tcp_port: 0,
    };
    let config = Config {
        bootnodes: bootnodes.to_vec(),
        ..Config::default()
    };
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let now = std::time::Instant::now();
    let discv4 = Discv4::new(key, record, endpoint, config, now, unix_now, rand::random());
    let discovery = Discv4Handle::spawn(socket, discv4)?;
    let mut events = discovery.events();

    // Two lookups at a time; each one that ends starts the next.
    for _ in 0..2 {
        discovery.random_lookup().await?;
    }
    let mut asked = HashSet::new();
    let mut by_fork: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = tokio::time::sleep(Duration::from_secs(seconds));
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            _ = &mut deadline => break,
            event = events.recv() => event,
        };
        match event {
            Ok(Event::LookupFinished { learned, .. }) => {
                for node in learned {
                    if asked.insert(node.id) {
                        discovery.request_enr(node).await?;
                    }
                }
                discovery.random_lookup().await?;
            }
            Ok(Event::Enr { node, enr }) => {
                let chain = match enr.eth_fork_id() {
                    Some(Ok(fork_id)) => fork_id.to_string(),
                    Some(Err(error)) => error.to_string(),
                    None => "no eth entry".to_owned(),
                };
                println!("{} {chain}", node);
                *by_fork.entry(chain).or_default() += 1;
            }
            // Slow readers miss events; the crawl goes on.
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(error) => return Err(error.into()),
        }
    }
    eprintln!(
        "{} nodes asked, {} records:",
        asked.len(),
        by_fork.values().sum::<usize>()
    );
    for (chain, count) in by_fork {
        eprintln!("{count:>6}  {chain}");
    }
    discovery.shutdown().await;
    Ok(())
}

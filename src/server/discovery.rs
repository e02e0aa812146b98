//! Runs discv4 beside the server: binds the UDP socket, builds (and persists) the node record,
//! loads and saves the node database, and turns what discovery finds into dial candidates,
//! starting lookups when dial slots are free and no candidates are left.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethp2p_discovery::local_record;
use ethp2p_discovery::v4::{Discv4, Discv4Handle, Endpoint, Event, NodeRecord, nodedb, unix_now};
use ethp2p_discovery::{Enode, Enr, EnrBuilder};
use tokio::net::UdpSocket;

use super::{Inner, StartError};

/// Candidates waiting to be dialed at most; older ones are dropped first.
const MAX_CANDIDATES: usize = 256;
/// A node we dialed is not dialed again from discovery for this long (go-ethereum: 35 s).
pub(crate) const DIAL_HISTORY: Duration = Duration::from_secs(30);
/// How often the feeder checks whether more candidates are needed.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Gap between lookups that found nothing new: doubles up to the maximum.
const LOOKUP_BACKOFF_MIN: Duration = Duration::from_secs(1);
const LOOKUP_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often the node database is written.
const SAVE_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A started discovery: its handle and the record it announces.
pub(crate) struct Started {
    pub(crate) handle: Discv4Handle,
    pub(crate) enr: Enr,
}

fn fill_record(builder: &mut EnrBuilder, ip: IpAddr, tcp: u16, udp: u16) {
    match ip {
        IpAddr::V4(v4) => builder.ip4(v4).tcp4(tcp).udp4(udp),
        IpAddr::V6(v6) => builder.ip6(v6).tcp6(tcp).udp6(udp),
    };
}

/// Binds UDP and starts discv4. `advertised` is the address in our enode (its IP and TCP port).
pub(crate) async fn start(
    config: &super::ServerConfig,
    discovery: &super::config::DiscoveryConfig,
    advertised: SocketAddr,
    listen: Option<SocketAddr>,
) -> Result<Started, StartError> {
    let udp_addr = discovery
        .udp_addr
        .or(listen)
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let socket = UdpSocket::bind(udp_addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: udp_addr,
            source,
        })?;
    let udp_port = socket
        .local_addr()
        .map_err(|source| StartError::Listen {
            addr: udp_addr,
            source,
        })?
        .port();
    let (ip, tcp_port) = (advertised.ip(), advertised.port());
    let fill = |builder: &mut EnrBuilder| fill_record(builder, ip, tcp_port, udp_port);
    let enr = match &config.data_dir {
        Some(dir) => local_record::load_or_create(&dir.join("enr"), &config.key, fill)
            .map_err(|error| StartError::Discovery(error.to_string()))?,
        None => {
            let mut builder = Enr::builder();
            fill(&mut builder);
            builder
                .build(&config.key)
                .map_err(|error| StartError::Discovery(error.to_string()))?
        }
    };
    let mut discv4_config = discovery.discv4.clone();
    discv4_config.bootnodes = discovery.bootnodes.iter().map(NodeRecord::from).collect();
    discv4_config.net_restrict = config.net_restrict.clone();
    let endpoint = Endpoint {
        ip,
        udp_port,
        tcp_port,
    };
    let now = Instant::now();
    let seed = rand::random();
    let mut discv4 = Discv4::new(
        config.key,
        enr.clone(),
        endpoint,
        discv4_config,
        now,
        unix_now(),
        seed,
    );
    if let Some(path) = nodes_path(&config.data_dir) {
        match nodedb::load(&path) {
            Ok(seeds) => discv4.add_seeds(now, seeds),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read the node database")
            }
        }
    }
    let handle = Discv4Handle::spawn(socket, discv4).map_err(|source| StartError::Listen {
        addr: udp_addr,
        source,
    })?;
    tracing::info!(udp = %handle.local_addr(), enr = %enr, "discovery started");
    Ok(Started { handle, enr })
}

fn nodes_path(data_dir: &Option<PathBuf>) -> Option<PathBuf> {
    data_dir.as_ref().map(|dir| dir.join("nodes"))
}

/// Queues nodes as dial candidates; returns how many were new.
fn add_candidates(inner: &Inner, records: &[NodeRecord]) -> usize {
    let now = Instant::now();
    let mut added = 0;
    {
        let mut state = inner.state.lock();
        for record in records {
            let enode = Enode::from(record);
            let recently_dialed = state
                .dial_history
                .get(&enode.id)
                .is_some_and(|at| now.duration_since(*at) < DIAL_HISTORY);
            if enode.id == inner.local_id
                || enode.tcp_port == 0
                || state.peers.contains(&enode.id)
                || state.dialing.contains(&enode.id)
                || recently_dialed
                || state.candidates.iter().any(|c| c.id == enode.id)
                || !inner.config.allows(enode.ip)
            {
                continue;
            }
            if state.candidates.len() >= MAX_CANDIDATES {
                state.candidates.pop_front();
            }
            state.candidates.push_back(enode);
            added += 1;
        }
    }
    if added > 0 {
        inner.dial_wakeup.notify_one();
    }
    added
}

/// Whether free dial slots wait for candidates.
fn wants_candidates(inner: &Inner) -> bool {
    let state = inner.state.lock();
    !state.shutting_down
        && state.candidates.is_empty()
        && state.peers.dialed() + state.dialing.len() < inner.config.max_dialed()
}

async fn save_nodes(inner: &Inner, handle: &Discv4Handle) {
    let Some(path) = nodes_path(&inner.config.data_dir) else {
        return;
    };
    if let Ok(nodes) = handle.bonded_nodes().await {
        if let Err(error) = nodedb::save(&path, &nodes) {
            tracing::warn!(path = %path.display(), %error, "cannot write the node database");
        }
    }
}

/// Feeds discovery results to the dialer until shutdown, then saves the node database and
/// stops discovery.
pub(crate) async fn feed(inner: Arc<Inner>, handle: Discv4Handle) {
    let mut events = handle.events();
    let mut shutdown = inner.shutdown.subscribe();
    let mut check = tokio::time::interval(CHECK_INTERVAL);
    let mut save = tokio::time::interval(SAVE_INTERVAL);
    save.reset();
    let mut lookup_running = false;
    let mut backoff = LOOKUP_BACKOFF_MIN;
    let mut next_lookup = Instant::now();
    loop {
        tokio::select! {
            // The guard `wait_for` returns is not Send: drop it inside the branch future.
            _ = async { let _ = shutdown.wait_for(|stopped| *stopped).await; } => break,
            event = events.recv() => match event {
                Ok(Event::NodeAdded(record)) => {
                    add_candidates(&inner, &[record]);
                }
                Ok(Event::LookupFinished { nodes, .. }) => {
                    lookup_running = false;
                    let new = add_candidates(&inner, &nodes);
                    backoff = if new > 0 { LOOKUP_BACKOFF_MIN } else { (backoff * 2).min(LOOKUP_BACKOFF_MAX) };
                    next_lookup = Instant::now() + backoff;
                }
                Ok(Event::ExternalEndpoint(addr)) => {
                    if inner.endpoint_from_nat.load(std::sync::atomic::Ordering::Acquire) {
                        tracing::info!(%addr, "peers see our discovery endpoint as this; keeping the NAT mapping's");
                    } else if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
                        // The predicted UDP endpoint; TCP is assumed to be reachable on its port.
                        let tcp_port = inner.local_enode.lock().tcp_port;
                        publish_endpoint(&inner, addr.ip(), tcp_port, addr.port()).await;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            _ = check.tick() => {
                if !lookup_running && Instant::now() >= next_lookup && wants_candidates(&inner) {
                    lookup_running = handle.random_lookup().await.is_ok();
                }
            }
            _ = save.tick() => save_nodes(&inner, &handle).await,
        }
    }
    save_nodes(&inner, &handle).await;
    handle.shutdown().await;
}

/// Publishes a new external endpoint: our enode, and our record with its sequence number bumped
/// (stored in the data directory) for discovery to hand out. Logged once per change.
pub(crate) async fn publish_endpoint(inner: &Inner, ip: IpAddr, tcp_port: u16, udp_port: u16) {
    let enode = {
        let mut enode = inner.local_enode.lock();
        let unchanged = enode.ip == ip && enode.tcp_port == tcp_port && enode.udp_port == udp_port;
        if unchanged {
            return;
        }
        *enode = Enode {
            id: enode.id,
            ip,
            tcp_port,
            udp_port,
        };
        *enode
    };
    let Some(handle) = &inner.discovery else {
        tracing::info!(%enode, "advertising a new endpoint");
        return;
    };
    let updated = {
        let current = inner.local_enr.lock().clone();
        current.map(|enr| {
            enr.update(&inner.config.key, |b| {
                fill_record(b, ip, tcp_port, udp_port)
            })
        })
    };
    match updated {
        Some(Ok(enr)) => {
            if let Some(dir) = &inner.config.data_dir {
                if let Err(error) = std::fs::write(dir.join("enr"), enr.to_string()) {
                    tracing::warn!(%error, "cannot store the node record");
                }
            }
            *inner.local_enr.lock() = Some(enr.clone());
            let endpoint = Endpoint {
                ip,
                udp_port,
                tcp_port,
            };
            let _ = handle.set_local_enr(enr.clone(), endpoint).await;
            tracing::info!(%enode, seq = enr.seq(), "advertising a new endpoint");
        }
        Some(Err(error)) => tracing::warn!(%error, "cannot update the node record"),
        None => {}
    }
}

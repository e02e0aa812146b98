//! Runs discovery beside the server: binds the UDP socket, builds (and persists) the node
//! record, loads and saves the node database, and starts discv4, discv5, or both on that one
//! socket (go-ethereum's default). Each protocol is a node source of the dialer (`discv4`,
//! `discv5`, mixed fairly with the others as go-ethereum's `discmix`): it hands over the nodes
//! discovery finds, and runs a lookup whenever the dialer wants a candidate and none is left
//! (go-ethereum's lookup iterator, `p2p/discover/lookup.go`).

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethp2p_discovery::nodedb;
use ethp2p_discovery::v4::{Discv4, Discv4Handle, Endpoint, Event, unix_now};
use ethp2p_discovery::v5::{self, Discv5, Discv5Handle};
use ethp2p_discovery::{Enode, Enr, EnrBuilder, PeerId};
use ethp2p_discovery::{local_record, netutil};

use super::DialCandidate;
use super::advertised::Advertised;
use super::config::RecordFilter;
use super::sources::{NodeSender, NodeSlot};
use super::{Inner, StartError};

/// Candidates the source holds for the dialer at most; the oldest are dropped first.
const MAX_BUFFERED: usize = 256;
/// Lookups start at most this often while the dialer wants candidates (go-ethereum: 1 s)...
const LOOKUP_INTERVAL: Duration = Duration::from_secs(1);
/// ...or this often after a lookup that learned of nodes never offered before (a network that
/// is forming, or a node that just joined), the gap doubling back to [`LOOKUP_INTERVAL`] with
/// each lookup that learns nothing new: 30 nodes then connect in about 3 s instead of 10 to
/// 15 s, and the last few nodes of a forming 100-node network are found in seconds.
const LOOKUP_INTERVAL_LEARNING: Duration = Duration::from_millis(100);
/// Nodes remembered as offered, for telling whether a lookup learned something new.
const MAX_OFFERED: usize = 4096;
/// Record requests (ENRREQUEST) a record filter keeps waiting at once.
const MAX_RECORD_REQUESTS: usize = 16;
/// When lookups learn of no node at all (an empty table), the gap doubles up to this.
const LOOKUP_INTERVAL_MAX: Duration = Duration::from_secs(30);
/// A lookup whose end we did not see (its event was missed) is taken as over after this long.
const LOOKUP_GIVE_UP: Duration = Duration::from_secs(30);
/// How often the node database is written.
const SAVE_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A started discovery: the handles of what runs, the endpoints it advertises and the record
/// it announces.
pub(crate) struct Started {
    pub(crate) v4: Option<Discv4Handle>,
    pub(crate) v5: Option<Discv5Handle>,
    pub(crate) advertised: Advertised,
    pub(crate) enr: Enr,
}

impl Started {
    /// Stops what runs (a server that fails to start after discovery did: port mapping).
    #[cfg(feature = "nat")]
    pub(crate) async fn shutdown(&self) {
        if let Some(v4) = &self.v4 {
            v4.shutdown().await;
        }
        if let Some(v5) = &self.v5 {
            v5.shutdown().await;
        }
    }
}

/// Whether the node listens dual-stack for both RLPx and discovery (see
/// [`netutil::is_dual_stack`]).
fn dual_stack(config: &super::ServerConfig, discovery: &super::config::DiscoveryConfig) -> bool {
    let tcp = config.listen_addr;
    tcp.is_some_and(netutil::is_dual_stack)
        && discovery
            .udp_addr
            .or(tcp)
            .is_some_and(netutil::is_dual_stack)
}

/// Binds UDP and starts discv4 and/or discv5 on it (`None` if the configuration turns both
/// off). `advertised` is the address in our enode (its IP and TCP port).
pub(crate) async fn start(
    config: &super::ServerConfig,
    discovery: &super::config::DiscoveryConfig,
    advertised: SocketAddr,
    listen: Option<SocketAddr>,
) -> Result<Option<Started>, StartError> {
    if !discovery.v4 && !discovery.v5 {
        return Ok(None);
    }
    let udp_addr = discovery
        .udp_addr
        .or(listen)
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    let socket =
        ethp2p_discovery::netutil::bind_udp(udp_addr).map_err(|source| StartError::Listen {
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
    // The caller's entries are checked once here, so that filling a record cannot fail.
    for (key, value) in &discovery.record_entries {
        Enr::builder()
            .insert_raw(key, value)
            .map_err(|source| StartError::RecordEntry {
                key: key.clone(),
                source,
            })?;
    }
    let advertised = Advertised::new(ip, tcp_port, udp_port, dual_stack(config, discovery));
    let fill = |builder: &mut EnrBuilder| {
        advertised.fill(builder);
        for (key, value) in &discovery.record_entries {
            let _ = builder.insert_raw(key, value);
        }
    };
    let enr = match &config.data_dir {
        Some(dir) => local_record::load_or_create(&dir.join("enr"), &config.key, fill)?,
        None => {
            let mut builder = Enr::builder();
            fill(&mut builder);
            builder
                .build(&config.key)
                .map_err(local_record::LocalRecordError::from)?
        }
    };
    let listen_error = |source| StartError::Listen {
        addr: udp_addr,
        source,
    };
    let now = Instant::now();
    let discv4 = discovery
        .v4
        .then(|| new_discv4(config, discovery, &enr, ip, tcp_port, udp_port, now));
    if discovery.v5 && !discovery.v4 && !discovery.bootnodes.is_empty() {
        tracing::warn!(
            count = discovery.bootnodes.len(),
            "enode:// bootnodes are not used by discv5 without discv4 (their records are fetched over discv4); give enr: records"
        );
    }
    let discv5 = if discovery.v5 {
        let mut discv5_config = discovery.discv5.clone();
        discv5_config.bootnodes = discovery.bootnode_records.clone();
        let mut discv5 = Discv5::new(config.key, enr.clone(), discv5_config, now, rand::random())?;
        for record in v5_seeds(&config.data_dir) {
            discv5.add_node(now, record);
        }
        Some(discv5)
    } else {
        None
    };
    let local_addr = socket.local_addr().map_err(listen_error)?;
    let (v4, v5) = match (discv4, discv5) {
        (Some(discv4), Some(discv5)) => {
            let (v4, v5) =
                ethp2p_discovery::spawn_shared(socket, discv4, discv5).map_err(listen_error)?;
            (Some(v4), Some(v5))
        }
        (Some(discv4), None) => (
            Some(Discv4Handle::spawn(socket, discv4).map_err(listen_error)?),
            None,
        ),
        (None, Some(discv5)) => (
            None,
            Some(Discv5Handle::spawn(socket, discv5).map_err(listen_error)?),
        ),
        (None, None) => unreachable!("checked above"),
    };
    tracing::info!(udp = %local_addr, v4 = v4.is_some(), v5 = v5.is_some(), enr = %enr, "discovery started");
    Ok(Some(Started {
        v4,
        v5,
        advertised,
        enr,
    }))
}

/// discv4 with its bootnodes (the `enode://` ones and the endpoints of the records), loaded
/// with the node database.
fn new_discv4(
    config: &super::ServerConfig,
    discovery: &super::config::DiscoveryConfig,
    enr: &Enr,
    ip: IpAddr,
    tcp_port: u16,
    udp_port: u16,
    now: Instant,
) -> Discv4 {
    let mut discv4_config = discovery.discv4.clone();
    let from_records = discovery
        .bootnode_records
        .iter()
        .filter_map(Enr::to_enode)
        .filter(|enode| enode.udp_port != 0);
    discv4_config.bootnodes = discovery
        .bootnodes
        .iter()
        .copied()
        .chain(from_records)
        .collect();
    discv4_config.net_restrict = config.net_restrict.clone();
    let endpoint = Endpoint {
        ip,
        udp_port,
        tcp_port,
    };
    let mut discv4 = Discv4::new(
        config.key,
        enr.clone(),
        endpoint,
        discv4_config,
        now,
        unix_now(),
        rand::random(),
    );
    if let Some(path) = nodes_path(&config.data_dir) {
        match nodedb::load(&path) {
            Ok(seeds) => discv4.add_seeds(now, seeds),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read the node database")
            }
        }
    }
    discv4
}

fn nodes_path(data_dir: &Option<PathBuf>) -> Option<PathBuf> {
    data_dir.as_ref().map(|dir| dir.join("nodes"))
}

/// discv5's node database: the records of its table, beside discv4's `nodes`.
fn v5_nodes_path(data_dir: &Option<PathBuf>) -> Option<PathBuf> {
    data_dir.as_ref().map(|dir| dir.join("nodes-v5"))
}

/// The most recently seen discv5 nodes of the database, pinged at start (they enter the table
/// when they answer), as go-ethereum's 30 seeds no older than 5 days.
fn v5_seeds(data_dir: &Option<PathBuf>) -> Vec<Enr> {
    const SEEDS: usize = 30;
    const MAX_AGE: u64 = 5 * 24 * 3600;
    let Some(path) = v5_nodes_path(data_dir) else {
        return Vec::new();
    };
    match nodedb::load_records(&path) {
        Ok(seeds) => {
            let oldest = unix_now().saturating_sub(MAX_AGE);
            let recent = seeds.into_iter().filter(|(_, seen)| *seen >= oldest);
            recent.map(|(record, _)| record).take(SEEDS).collect()
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the discv5 node database");
            Vec::new()
        }
    }
}

async fn save_v5_nodes(inner: &Inner, handle: &Discv5Handle) {
    let Some(path) = v5_nodes_path(&inner.config.data_dir) else {
        return;
    };
    if let Ok(records) = handle.table_nodes().await {
        let seen = unix_now();
        let seeds: Vec<(Enr, u64)> = records.into_iter().map(|record| (record, seen)).collect();
        if let Err(error) = nodedb::save_records(&path, &seeds) {
            tracing::warn!(path = %path.display(), %error, "cannot write the discv5 node database");
        }
    }
}

/// Nodes found by discovery and not yet handed to the dialer, oldest first, each once.
#[derive(Default)]
struct Found {
    queue: VecDeque<DialCandidate>,
    queued: HashSet<PeerId>,
    /// Every node queued so far (cleared when it reaches [`MAX_OFFERED`]).
    offered: HashSet<PeerId>,
}

impl Found {
    /// Queues the node unless it is queued already; returns whether it was never offered.
    fn push(&mut self, local_id: PeerId, candidate: impl Into<DialCandidate>) -> bool {
        let candidate = candidate.into();
        let enode = candidate.enode;
        if enode.id == local_id || enode.tcp_port == 0 || !self.queued.insert(enode.id) {
            return false;
        }
        if self.offered.len() >= MAX_OFFERED {
            self.offered.clear();
        }
        let novel = self.offered.insert(enode.id);
        if self.queue.len() >= MAX_BUFFERED {
            if let Some(oldest) = self.queue.pop_front() {
                self.queued.remove(&oldest.enode.id);
            }
        }
        self.queue.push_back(candidate);
        novel
    }

    fn pop(&mut self) -> Option<DialCandidate> {
        let candidate = self.queue.pop_front()?;
        self.queued.remove(&candidate.enode.id);
        Some(candidate)
    }
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

/// The pause before the next lookup: short while lookups learn of nodes never offered before
/// (`novel`), doubling back to [`LOOKUP_INTERVAL`] when they learn nothing new, and on up to
/// [`LOOKUP_INTERVAL_MAX`] when they learn of no node at all.
fn next_gap(gap: Duration, novel: bool, learned_nothing: bool) -> Duration {
    match (novel, learned_nothing) {
        (true, _) => LOOKUP_INTERVAL_LEARNING,
        (false, false) => (gap * 2).min(LOOKUP_INTERVAL),
        (false, true) => (gap * 2).clamp(LOOKUP_INTERVAL, LOOKUP_INTERVAL_MAX),
    }
}

/// A protocol's majority of PONGs of one family says our external UDP endpoint of that family
/// is `addr`: that family's slot of our record takes it (see [`Advertised::predicted`]).
async fn predicted_endpoint(inner: &Inner, addr: SocketAddr) {
    let changed = inner.advertised.lock().predicted(addr);
    if changed {
        publish(inner).await;
    }
}

/// A discv4 node found: a candidate at once, or, under a record filter, once its record
/// passes (asked for here). Whether it is new.
async fn offer_v4(
    inner: &Inner,
    handle: &Discv4Handle,
    filter: Option<&RecordFilter>,
    found: &mut Found,
    checks: &mut RecordChecks,
    node: &Enode,
) -> bool {
    if filter.is_none() {
        return found.push(inner.local_id, *node);
    }
    let ask = node.id != inner.local_id && node.tcp_port != 0 && checks.ask(node);
    if ask {
        let _ = handle.request_enr(*node).await;
    }
    ask
}

/// The caller's record filter, if any.
fn record_filter(inner: &Inner) -> Option<&RecordFilter> {
    inner.config.discovery.as_ref()?.record_filter.as_ref()
}

/// A record's dial addresses (both families when it has both), if it has one and the
/// caller's filter keeps it.
fn dialable(record: &Enr, filter: Option<&RecordFilter>) -> Option<DialCandidate> {
    if filter.is_some_and(|filter| !filter.keeps(record)) {
        return None;
    }
    DialCandidate::from_record(record)
}

/// With a record filter, discv4 nodes wait here for their record (ENRREQUEST) before they may
/// become candidates; each node is asked once per [`MAX_OFFERED`] nodes seen, at most
/// [`MAX_RECORD_REQUESTS`] at a time (the others come again with later lookups).
#[derive(Default)]
struct RecordChecks {
    asked: HashSet<PeerId>,
    in_flight: HashSet<PeerId>,
}

impl RecordChecks {
    /// Whether to ask `node` for its record now.
    fn ask(&mut self, node: &Enode) -> bool {
        if self.in_flight.len() >= MAX_RECORD_REQUESTS || self.asked.contains(&node.id) {
            return false;
        }
        if self.asked.len() >= MAX_OFFERED {
            self.asked.clear();
        }
        self.asked.insert(node.id);
        self.in_flight.insert(node.id)
    }

    /// Whether an answer (record or failure) about `node` was ours.
    fn answered(&mut self, node: &Enode) -> bool {
        self.in_flight.remove(&node.id)
    }
}

/// The discv5 node source, until shutdown; then saves its node database and stops discv5.
/// Its lookups return their
/// closest nodes when they end (at most 16), and nodes entering the table are offered as
/// they come.
pub(crate) async fn feed_v5(inner: Arc<Inner>, handle: Discv5Handle, source: NodeSender) {
    type LookupFuture = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Vec<Enr>, ethp2p_discovery::v4::Stopped>>
                + Send,
        >,
    >;
    let mut events = handle.events();
    let mut shutdown = inner.shutdown.subscribe();
    let filter = record_filter(&inner);
    let mut found = Found::default();
    let mut slot: Option<NodeSlot> = None;
    let mut lookup: Option<LookupFuture> = None;
    let mut gap = LOOKUP_INTERVAL;
    let mut next_lookup = Instant::now();
    let mut save = tokio::time::interval(SAVE_INTERVAL);
    save.reset();
    loop {
        if slot.is_some() {
            if let Some(node) = found.pop() {
                slot.take().expect("checked").send(node);
            }
        }
        let wants_lookup = slot.is_some() && found.queue.is_empty() && lookup.is_none();
        tokio::select! {
            _ = async { let _ = shutdown.wait_for(|stopped| *stopped).await; } => break,
            reserved = source.reserve(), if slot.is_none() => match reserved {
                Ok(reserved) => slot = Some(reserved),
                Err(_) => break,
            },
            event = events.recv() => match event {
                Ok(v5::Event::NodeAdded(record)) => {
                    if let Some(candidate) = dialable(&record, filter) {
                        found.push(inner.local_id, candidate);
                    }
                }
                // Lookups discv5 runs by itself (bootstrap, table refresh).
                Ok(v5::Event::LookupFinished { nodes, .. }) => {
                    for record in &nodes {
                        if let Some(candidate) = dialable(record, filter) {
                            found.push(inner.local_id, candidate);
                        }
                    }
                }
                Ok(v5::Event::ExternalEndpoint(addr)) => predicted_endpoint(&inner, addr).await,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "discv5 events missed; lookups find those nodes again");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            nodes = async { lookup.as_mut().expect("guarded").await }, if lookup.is_some() => {
                lookup = None;
                let Ok(nodes) = nodes else { break };
                let mut novel = false;
                for record in &nodes {
                    if let Some(candidate) = dialable(record, filter) {
                        novel |= found.push(inner.local_id, candidate);
                    }
                }
                gap = next_gap(gap, novel, nodes.is_empty());
                next_lookup = Instant::now() + gap;
                tracing::debug!(nodes = nodes.len(), novel, "discv5 lookup finished");
            }
            _ = tokio::time::sleep_until(next_lookup.into()), if wants_lookup => {
                let handle = handle.clone();
                lookup = Some(Box::pin(async move { handle.random_lookup().await }));
            }
            _ = save.tick() => save_v5_nodes(&inner, &handle).await,
        }
    }
    save_v5_nodes(&inner, &handle).await;
    handle.shutdown().await;
}

/// The discv4 node source, until shutdown; then saves the node database and stops discovery.
pub(crate) async fn feed(inner: Arc<Inner>, handle: Discv4Handle, source: NodeSender) {
    let mut events = handle.events();
    let mut shutdown = inner.shutdown.subscribe();
    let mut save = tokio::time::interval(SAVE_INTERVAL);
    save.reset();
    let mut found = Found::default();
    // A place in the dialer's queue: held while the dialer wants a candidate and none is found.
    let mut slot: Option<NodeSlot> = None;
    let mut lookup_since: Option<Instant> = None;
    let mut gap = LOOKUP_INTERVAL;
    let mut next_lookup = Instant::now();
    // discv5 cannot start from an `enode://` bootnode (its handshake needs the node's signed
    // record, which go-ethereum can do without): ask each for its record over discv4 and hand
    // that to discv5; one that does not answer is asked again with the next lookup.
    let mut records_wanted: Vec<Enode> = match (&inner.discv5, &inner.config.discovery) {
        (Some(_), Some(discovery)) => discovery.bootnodes.to_vec(),
        _ => Vec::new(),
    };
    let record_bootnodes: HashSet<PeerId> = records_wanted.iter().map(|n| n.id).collect();
    for node in std::mem::take(&mut records_wanted) {
        let _ = handle.request_enr(node).await;
    }
    let filter = record_filter(&inner);
    let mut checks = RecordChecks::default();
    loop {
        if slot.is_some() {
            if let Some(node) = found.pop() {
                slot.take().expect("checked").send(node);
            }
        }
        let now = Instant::now();
        let lookup_running = lookup_since.is_some_and(|at| now.duration_since(at) < LOOKUP_GIVE_UP);
        let wants_lookup = slot.is_some() && found.queue.is_empty() && !lookup_running;
        tokio::select! {
            // The guard `wait_for` returns is not Send: drop it inside the branch future.
            _ = async { let _ = shutdown.wait_for(|stopped| *stopped).await; } => break,
            reserved = source.reserve(), if slot.is_none() => match reserved {
                Ok(reserved) => slot = Some(reserved),
                Err(_) => break,
            },
            event = events.recv() => match event {
                Ok(Event::NodeAdded(record) | Event::ReplacementAdded(record)) => {
                    offer_v4(&inner, &handle, filter, &mut found, &mut checks, &record).await;
                }
                Ok(Event::LookupFinished { learned, .. }) => {
                    lookup_since = None;
                    let mut novel = false;
                    for record in &learned {
                        novel |=
                            offer_v4(&inner, &handle, filter, &mut found, &mut checks, record).await;
                    }
                    gap = next_gap(gap, novel, learned.is_empty());
                    next_lookup = Instant::now() + gap;
                    tracing::debug!(learned = learned.len(), novel, "lookup finished");
                }
                Ok(Event::ExternalEndpoint(addr)) => predicted_endpoint(&inner, addr).await,
                Ok(Event::Enr { node, enr }) => {
                    if checks.answered(&node)
                        && let Some(candidate) = dialable(&enr, filter)
                    {
                        found.push(inner.local_id, candidate);
                    }
                    if record_bootnodes.contains(&node.id)
                        && let Some(discv5) = &inner.discv5
                    {
                        tracing::debug!(%enr, "discv5 bootnode record fetched over discv4");
                        let _ = discv5.add_node(*enr).await;
                    }
                }
                Ok(Event::EnrFailed(node)) => {
                    // A node that cannot show its record is not dialed under a filter.
                    checks.answered(&node);
                    if record_bootnodes.contains(&node.id) {
                        records_wanted.push(node);
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "discovery events missed; lookups find those nodes again");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            _ = tokio::time::sleep_until(next_lookup.into()), if wants_lookup => {
                if handle.random_lookup().await.is_ok() {
                    lookup_since = Some(Instant::now());
                }
                next_lookup = Instant::now() + gap;
                for node in std::mem::take(&mut records_wanted) {
                    let _ = handle.request_enr(node).await;
                }
            }
            _ = save.tick() => save_nodes(&inner, &handle).await,
        }
    }
    save_nodes(&inner, &handle).await;
    handle.shutdown().await;
}

/// Publishes a NAT mapping's endpoint (see [`Advertised::pin`]).
pub(crate) async fn pin_endpoint(inner: &Inner, ip: IpAddr, tcp_port: u16, udp_port: u16) {
    let changed = inner.advertised.lock().pin(ip, tcp_port, udp_port);
    if changed {
        publish(inner).await;
    }
}

/// Publishes the advertised endpoints after a change: our record signed again with the next
/// sequence number (stored in the data directory) for discovery to hand out, and our enode.
/// Logged once per change.
async fn publish(inner: &Inner) {
    let (enode, updated) = {
        // Under the lock, so that concurrent changes are signed one after the other.
        let advertised = inner.advertised.lock();
        let mut record = inner.local_enr.lock();
        let updated = record
            .as_ref()
            .map(|enr| advertised.update(enr, &inner.config.key));
        if let Some(Ok(updated)) = &updated {
            *record = Some(updated.clone());
        }
        (advertised.enode(inner.local_id), updated)
    };
    let enr = match updated {
        None => {
            tracing::info!(%enode, "advertising a new endpoint");
            return;
        }
        Some(Err(error)) => {
            tracing::warn!(%error, "cannot update the node record");
            return;
        }
        Some(Ok(enr)) => enr,
    };
    tracing::info!(%enode, seq = enr.seq(), enr = %enr, "advertising a new endpoint");
    if let Some(dir) = &inner.config.data_dir {
        if let Err(error) = std::fs::write(dir.join("enr"), enr.to_string()) {
            tracing::warn!(%error, "cannot store the node record");
        }
    }
    // The newest record, not necessarily this call's: a change published meanwhile must not
    // be overtaken by an older record.
    let Some(enr) = inner.local_enr.lock().clone() else {
        return;
    };
    let endpoint = Endpoint {
        ip: enode.ip,
        udp_port: enode.udp_port,
        tcp_port: enode.tcp_port,
    };
    // One record, one sequence bump, for both protocols.
    if let Some(handle) = &inner.discv4 {
        let _ = handle.set_local_enr(enr.clone(), endpoint).await;
    }
    if let Some(handle) = &inner.discv5 {
        if let Err(error) = handle.set_local_enr(enr).await {
            tracing::warn!(%error, "discv5 did not take the new record");
        }
    }
}

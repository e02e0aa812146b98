//! Turning a TCP connection into a running peer: RLPx handshake, admission check, Hello,
//! capability matching, registration, then the peer session until it ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::dial_state::DialOutcome;
use super::events::Counters;
use super::table::Entry;
use super::{Inner, PeerEvent};
use crate::Blame;
use crate::p2p::{
    ConnectionError, DisconnectReason, P2pConnection, SharedCapability, match_capabilities, refuse,
};
use crate::peer::{self, EndCause, EndSignal, Session};
use crate::protocol::{Direction, PeerInfo, Protocol};
use crate::rlpx::{PeerId, RlpxError, RlpxStream};
use ethp2p_discovery::Enode;

/// Why a connection did not become a peer (in [`PeerEvent::HandshakeFailed`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SetupError {
    /// The TCP connect of a dial failed.
    #[error("connect failed: {0}")]
    Connect(Arc<std::io::Error>),
    /// The TCP connect of a dial did not finish within the dial timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The RLPx handshake and Hello did not finish within the handshake timeout.
    #[error("handshake timed out")]
    Timeout,
    /// The pending-handshake limit dropped it for a newer inbound connection.
    #[error("replaced by a newer inbound handshake (pending limit)")]
    Evicted,
    /// The RLPx handshake failed.
    #[error("RLPx handshake failed: {0}")]
    Rlpx(#[from] RlpxError),
    /// The Hello exchange failed (the remote's Disconnect included).
    #[error("Hello failed: {0}")]
    Hello(#[from] ConnectionError),
    /// We refused it, telling the remote this reason.
    #[error("refused: {0}")]
    Refused(DisconnectReason),
    /// A static peer has an id that is not a secp256k1 public key, so no handshake can be
    /// addressed to it. The id came from our configuration, not from whoever listens at that
    /// address: it is found before the connect, so nothing is connected or sent, and it is
    /// reported once and never retried. (A node source's candidate with such an id is dropped
    /// without a report: its record is to blame.)
    #[error("node id {0} is not a valid public key")]
    InvalidNodeId(PeerId),
}

impl SetupError {
    /// The Disconnect reason we sent, if any.
    pub fn sent(&self) -> Option<DisconnectReason> {
        match self {
            SetupError::Refused(reason) => Some(*reason),
            SetupError::Hello(error) => error.disconnect_reason(),
            _ => None,
        }
    }

    /// Whose fault it is: the remote's for everything it sent, refused or did not send in
    /// time; ours for our refusals and the pending limit; the configuration's for a node id
    /// that cannot be dialed.
    pub fn blame(&self) -> Blame {
        match self {
            SetupError::Connect(_)
            | SetupError::ConnectTimeout
            | SetupError::Timeout
            | SetupError::Rlpx(_)
            | SetupError::Hello(_) => Blame::Remote,
            SetupError::Evicted | SetupError::Refused(_) => Blame::Local,
            SetupError::InvalidNodeId(_) => Blame::Configuration,
        }
    }

    /// Whether one side closed it as a duplicate of another connection between the same two
    /// nodes ("already connected"): the normal end of one of two simultaneous dials, not a
    /// failure.
    pub fn is_duplicate(&self) -> bool {
        let already = DisconnectReason::AlreadyConnected;
        matches!(self, SetupError::Refused(reason) if *reason == already)
            || matches!(self, SetupError::Hello(ConnectionError::Disconnected(reason)) if *reason == already)
    }
}

/// A connection that passed Hello and admission, ready to run.
struct Ready {
    connection: P2pConnection<TcpStream>,
    id: PeerId,
    trusted: bool,
    capabilities: Vec<SharedCapability>,
    /// Created before insertion so `remove_peer` can reach the peer as soon as it is listed.
    end: EndSignal,
}

/// An inbound handshake's place among the pending ones.
pub(crate) struct PendingSlot {
    pub(crate) slot: u64,
    /// Fires if the pending limit drops this handshake for a newer one.
    pub(crate) evicted: oneshot::Receiver<()>,
}

/// Where a connection came from; decides what to release when its handshake phase ends.
pub(crate) enum Origin {
    /// Accepted: holds a pending slot.
    Inbound(PendingSlot),
    /// Dialed: the node we meant to reach (its id is checked by the handshake).
    Outbound(Enode),
}

impl Origin {
    fn direction(&self) -> Direction {
        match self {
            Origin::Inbound(_) => Direction::Inbound,
            Origin::Outbound(_) => Direction::Outbound,
        }
    }
}

/// Ends the handshake phase: frees the pending slot, or tells the dial state how the dial
/// ended (it schedules redials).
fn handshake_done(inner: &Inner, origin: &Origin, outcome: DialOutcome) {
    let mut state = inner.state.lock();
    match origin {
        Origin::Inbound(pending) => {
            state.pending.release(pending.slot);
            inner.pending_released.notify_one();
        }
        Origin::Outbound(enode) => {
            let state = &mut *state;
            let connected_now = state.peers.contains(&enode.id);
            state
                .dials
                .dial_finished(enode, outcome, connected_now, Instant::now());
            inner.dial_wakeup.notify_one();
        }
    }
}

/// Runs one connection from TCP to the end of its peer session.
pub(crate) async fn run(
    inner: Arc<Inner>,
    tcp: TcpStream,
    remote_addr: SocketAddr,
    mut origin: Origin,
) {
    let _ = tcp.set_nodelay(true);
    let local_addr = tcp.local_addr().ok();
    let direction = origin.direction();
    let expected = match &origin {
        Origin::Outbound(enode) => Some(enode.id),
        Origin::Inbound(_) => None,
    };
    // The remote's id once the RLPx handshake proved it, for the failure event.
    let mut proven = None;
    let pending_slot = match &origin {
        Origin::Inbound(pending) => Some(pending.slot),
        Origin::Outbound(_) => None,
    };
    // Boxed so its state is freed when the handshake ends instead of staying inside the
    // long-lived peer task.
    let handshake = timeout(
        inner.config.handshake_timeout,
        Box::pin(handshake(&inner, tcp, expected, &mut proven, pending_slot)),
    );
    let result = match &mut origin {
        Origin::Inbound(pending) => tokio::select! {
            result = handshake => result,
            _ = &mut pending.evicted => Ok(Err(SetupError::Evicted)),
        },
        Origin::Outbound(_) => handshake.await,
    };
    let error = match result.unwrap_or(Err(SetupError::Timeout)) {
        Ok(ready) => match admit_and_insert(&inner, &ready, (remote_addr, local_addr), direction) {
            Ok(info) => {
                handshake_done(&inner, &origin, DialOutcome::Connected);
                return run_peer(inner, ready, info).await;
            }
            Err(reason) => {
                let _ = ready.connection.disconnect(reason).await;
                SetupError::Refused(reason)
            }
        },
        Err(error) => error,
    };
    failed(&inner, &origin, remote_addr, proven, error);
}

/// A dial whose TCP connect failed.
pub(crate) fn dial_failed(inner: &Inner, enode: Enode, remote_addr: SocketAddr, error: SetupError) {
    failed(inner, &Origin::Outbound(enode), remote_addr, None, error);
}

/// A static peer whose id is no public key (see [`SetupError::InvalidNodeId`]): reported as a
/// failed handshake at its address, though nothing was connected.
pub(crate) fn undialable(inner: &Inner, enode: Enode) {
    let (id, remote_addr) = (enode.id, enode.tcp_addr());
    let error = SetupError::InvalidNodeId(id);
    tracing::warn!(peer = ?id, %remote_addr, %error, "static peer not dialed");
    report_failure(inner, remote_addr, Direction::Outbound, Some(id), error);
}

/// Reports a connection that did not become a peer: a duplicate closed by the tie-break, or a
/// failure.
fn failed(
    inner: &Inner,
    origin: &Origin,
    remote_addr: SocketAddr,
    proven: Option<PeerId>,
    error: SetupError,
) {
    let duplicate = error.is_duplicate();
    let outcome = if duplicate {
        DialOutcome::Duplicate
    } else {
        DialOutcome::Failed
    };
    handshake_done(inner, origin, outcome);
    let direction = origin.direction();
    let id = match origin {
        Origin::Outbound(enode) => Some(enode.id),
        Origin::Inbound(_) => proven,
    };
    let sent = error.sent();
    if duplicate {
        Counters::bump(&inner.counters.duplicates, 1);
        tracing::info!(peer = ?id, %remote_addr, ?direction, %error, "duplicate connection closed");
        inner.emit(PeerEvent::DuplicateClosed {
            remote_addr,
            direction,
            id,
            sent,
        });
        return;
    }
    tracing::info!(peer = ?id, %remote_addr, ?direction, %error, "connection failed before becoming a peer");
    report_failure(inner, remote_addr, direction, id, error);
}

/// Counts and announces a connection or dial that did not become a peer.
fn report_failure(
    inner: &Inner,
    remote_addr: SocketAddr,
    direction: Direction,
    id: Option<PeerId>,
    error: SetupError,
) {
    Counters::bump(&inner.counters.handshake_failures, 1);
    inner.emit(PeerEvent::HandshakeFailed {
        remote_addr,
        direction,
        id,
        sent: error.sent(),
        error,
    });
}

async fn handshake(
    inner: &Inner,
    tcp: TcpStream,
    expected: Option<PeerId>,
    proven: &mut Option<PeerId>,
    pending_slot: Option<u64>,
) -> Result<Ready, SetupError> {
    let direction = if expected.is_some() {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let config = &inner.config;
    let mut rng: rand::rngs::StdRng = rand::make_rng();
    let stream = match expected {
        Some(id) => {
            // Checked before the connect (`dial_state::is_dialable`); kept as an error, not a
            // panic, should a path to here ever skip that check.
            let remote = id.to_public_key().ok_or(SetupError::InvalidNodeId(id))?;
            let key = crate::rlpx::NodeKey::from_parts(config.key, inner.local_id);
            RlpxStream::connect(tcp, key, remote, &mut rng, config.max_frame_size).await?
        }
        None => RlpxStream::accept(tcp, config.key, &mut rng, config.max_frame_size).await?,
    };
    let id = stream.remote_id();
    *proven = Some(id);
    if let Some(slot) = pending_slot {
        // Past its auth: the pending limit no longer drops it for newer connections.
        inner.state.lock().pending.authenticated(slot);
    }
    let trusted = inner.is_trusted(&id);
    if let Err(reason) = admit(inner, id, direction, trusted) {
        refuse(stream, reason).await;
        return Err(SetupError::Refused(reason));
    }
    let connection = P2pConnection::handshake(stream, &inner.local_hello).await?;
    let capabilities = match_capabilities(&inner.specs, &connection.remote_hello().capabilities);
    if capabilities.is_empty() {
        let _ = connection.disconnect(DisconnectReason::UselessPeer).await;
        return Err(SetupError::Refused(DisconnectReason::UselessPeer));
    }
    Ok(Ready {
        connection,
        id,
        trusted,
        capabilities,
        end: EndSignal::new(),
    })
}

fn admit(
    inner: &Inner,
    id: PeerId,
    direction: Direction,
    trusted: bool,
) -> Result<(), DisconnectReason> {
    let state = inner.state.lock();
    if state.shutting_down {
        return Err(DisconnectReason::ClientQuitting);
    }
    state
        .peers
        .admit(&inner.config, inner.local_id, id, direction, trusted)
}

fn protocol_for<'a>(protocols: &'a [Protocol], capability: &SharedCapability) -> &'a Protocol {
    protocols
        .iter()
        .find(|p| p.name == capability.name && p.version == capability.version)
        .expect("matched capabilities come from our protocols")
}

/// The final admission check, atomic with insertion: another connection to the same peer may
/// have finished its handshake meanwhile.
fn admit_and_insert(
    inner: &Inner,
    ready: &Ready,
    (remote_addr, local_addr): (SocketAddr, Option<SocketAddr>),
    direction: Direction,
) -> Result<Arc<PeerInfo>, DisconnectReason> {
    let mut state = inner.state.lock();
    if state.shutting_down {
        return Err(DisconnectReason::ClientQuitting);
    }
    state.peers.admit(
        &inner.config,
        inner.local_id,
        ready.id,
        direction,
        ready.trusted,
    )?;
    let info = Arc::new(PeerInfo {
        id: ready.id,
        remote_addr,
        local_addr,
        direction,
        client_id: ready.connection.remote_hello().client_id.clone(),
        capabilities: ready.capabilities.clone(),
        remote_capabilities: ready.connection.remote_hello().capabilities.clone(),
    });
    let entry = Entry {
        info: info.clone(),
        end: ready.end.clone(),
        trusted: ready.trusted,
    };
    if let Some(replaced) = state.peers.insert(entry) {
        Counters::bump(&inner.counters.duplicates, 1);
        replaced
            .end
            .end(EndCause::Requested(DisconnectReason::AlreadyConnected));
    }
    Ok(info)
}

async fn run_peer(inner: Arc<Inner>, ready: Ready, info: Arc<PeerInfo>) {
    let id = info.id;
    let remote_addr = info.remote_addr;
    Counters::bump(&inner.counters.handshakes, 1);
    tracing::info!(peer = ?id, %remote_addr, direction = ?info.direction, client = %info.client_id, "peer added");
    inner.emit(PeerEvent::Added(info.clone()));

    let protocols = info
        .capabilities
        .iter()
        .map(|capability| protocol_for(&inner.config.protocols, capability).clone())
        .collect();
    let (stream, _, snappy) = ready.connection.into_parts();
    let (reader, writer) = stream.into_split(TcpStream::into_split);
    let session = Session {
        reader,
        writer,
        snappy,
        info: info.clone(),
    };
    let peer_end = peer::run(
        session,
        protocols,
        &inner.config.peer,
        ready.end,
        inner.subscriptions.clone(),
        inner.counters.messages.clone(),
    )
    .await;

    inner.state.lock().peers.remove(&info);
    if !peer_end.initiated_by_remote() && peer_end.cause.is_error() {
        Counters::bump(&inner.counters.peer_errors, 1);
    }
    tracing::info!(
        peer = ?id,
        %remote_addr,
        cause = %peer_end.cause,
        sent = ?peer_end.sent,
        received = ?peer_end.received,
        "peer removed"
    );
    inner.emit(PeerEvent::Removed {
        info,
        end: peer_end,
    });
    inner.dial_wakeup.notify_one();
}

//! What a server reports: peer events and counters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::setup::SetupError;
use crate::p2p::DisconnectReason;
use crate::peer::{MessageCounts, PeerEnd};
use crate::protocol::{Direction, PeerInfo};
use crate::rlpx::PeerId;

/// A change in the peer set.
#[derive(Debug, Clone)]
pub enum PeerEvent {
    /// A peer completed handshake and Hello and its protocols started.
    Added(Arc<PeerInfo>),
    /// A peer's session ended.
    Removed {
        /// Who it was.
        info: Arc<PeerInfo>,
        /// Why it ended, the reasons sent and received, and who initiated.
        end: PeerEnd,
    },
    /// A connection failed before it became a peer.
    HandshakeFailed {
        /// Remote socket address.
        remote_addr: SocketAddr,
        /// Who dialed.
        direction: Direction,
        /// The remote's id, if the RLPx handshake got that far.
        id: Option<PeerId>,
        /// The Disconnect reason we sent, if any.
        sent: Option<DisconnectReason>,
        /// What went wrong.
        error: SetupError,
    },
    /// A connection was closed as a duplicate of another one between the same two nodes: when
    /// two nodes dial each other at once, both keep the connection dialed by the node with the
    /// lower id, and this reports the other. Not a failure: counted apart, in
    /// [`Stats::duplicates`].
    DuplicateClosed {
        /// Remote socket address.
        remote_addr: SocketAddr,
        /// Who dialed the closed connection.
        direction: Direction,
        /// The remote's id, if the RLPx handshake got that far.
        id: Option<PeerId>,
        /// The Disconnect reason we sent (already connected), if we were the side that closed it.
        sent: Option<DisconnectReason>,
    },
}

/// Monotonic counters of a server, for dashboards and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Peers connected now.
    pub peers: usize,
    /// Connections that became peers.
    pub handshakes: u64,
    /// Connections that failed before becoming peers (duplicates not counted).
    pub handshake_failures: u64,
    /// Connections closed as duplicates of another connection to the same node: before becoming
    /// peers (see [`PeerEvent::DuplicateClosed`]), or as peers replaced by the connection the
    /// simultaneous-dial tie-break keeps (their `PeerRemoved` has the reason `AlreadyConnected`).
    pub duplicates: u64,
    /// Subprotocol messages received.
    pub messages_in: u64,
    /// Frames written (subprotocol messages, Ping, Pong).
    pub messages_out: u64,
    /// Peer sessions that ended on an error of the remote or the connection.
    pub peer_errors: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) handshakes: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) peer_errors: AtomicU64,
    /// What the peer sessions count themselves.
    pub(crate) messages: Arc<MessageCounts>,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, peers: usize) -> Stats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (messages_in, messages_out) = self.messages.totals();
        Stats {
            peers,
            handshakes: get(&self.handshakes),
            handshake_failures: get(&self.handshake_failures),
            duplicates: get(&self.duplicates),
            messages_in,
            messages_out,
            peer_errors: get(&self.peer_errors),
        }
    }
}

//! Every metric the node records, through the [`metrics`](https://docs.rs/metrics) facade:
//! install a recorder (a Prometheus exporter, say) before [`Server::start`](crate::Server::start)
//! and they appear there; without one each recording is a no-op. Discovery's metrics are in
//! `ethp2p_discovery::metrics`, NAT's in `ethp2p_nat::metrics`.
//!
//! Names follow `ethp2p_<area>_<what>`; counters end in `_total`. The recording functions are
//! the only callers of the macros, so the names, labels and meaning live here once.

use ::metrics::{Counter, counter, gauge};

use crate::p2p::DisconnectReason;
use crate::protocol::Direction;
use crate::server::{PeerEvent, SetupError};

/// Gauge: connected peers, label `direction` (`inbound`, `outbound`).
pub const PEERS: &str = "ethp2p_peers";
/// Counter: dials started (a TCP connect to a candidate or static peer).
pub const DIALS: &str = "ethp2p_dials_total";
/// Counter: inbound TCP connections accepted, before the net restriction and throttle.
pub const ACCEPTS: &str = "ethp2p_accepts_total";
/// Counter: connections that became peers, label `direction`.
pub const HANDSHAKES: &str = "ethp2p_handshakes_total";
/// Counter: connections that failed before becoming peers, labels `direction` and `kind`
/// (`connect`, `connect_timeout`, `timeout`, `evicted`, `rlpx`, `hello`, `refused`).
/// Duplicates resolved by the simultaneous-dial tie-break are not failures: see [`DUPLICATES`].
pub const HANDSHAKE_FAILURES: &str = "ethp2p_handshake_failures_total";
/// Counter: connections closed as duplicates of another between the same two nodes (the
/// simultaneous-dial tie-break, [`PeerEvent::DuplicateClosed`]).
pub const DUPLICATES: &str = "ethp2p_duplicates_total";
/// Counter: Disconnect reasons of ended peer sessions and refused connections, labels `reason`
/// (the reason's text) and `side` (`sent` by us, `received` from the remote).
pub const DISCONNECTS: &str = "ethp2p_disconnects_total";
/// Counter: subprotocol messages received, label `protocol` (capability name).
pub const MESSAGES_IN: &str = "ethp2p_messages_in_total";
/// Counter: payload bytes received after snappy decoding, label `protocol`.
pub const BYTES_IN: &str = "ethp2p_bytes_in_total";
/// Counter: subprotocol messages queued for sending, label `protocol`.
pub const MESSAGES_OUT: &str = "ethp2p_messages_out_total";
/// Counter: payload bytes queued for sending, before snappy encoding, label `protocol`.
pub const BYTES_OUT: &str = "ethp2p_bytes_out_total";
/// Counter: messages dropped because a subscription's queue was full, labels `protocol` and
/// `code` (see [`Subscription::dropped`](crate::Subscription::dropped)).
pub const SUBSCRIPTION_DROPS: &str = "ethp2p_subscription_drops_total";

/// Counter: byte streams opened (accepted by the listener), label `side` (`local`: we opened
/// it, `remote`: the peer did).
pub const STREAMS_OPENED: &str = "ethp2p_streams_opened_total";
/// Counter: streams we refused to peers, label `reason` (`no_listener`, `not_allowed`,
/// `too_many_streams`, `backlog`).
pub const STREAMS_REFUSED: &str = "ethp2p_streams_refused_total";

/// Records a stream opened by us (`local`) or by the peer.
pub(crate) fn stream_opened(local: bool) {
    let side = if local { "local" } else { "remote" };
    counter!(STREAMS_OPENED, "side" => side).increment(1);
}

/// Records a refusal we sent.
pub(crate) fn stream_refused(reason: crate::streams::ResetReason) {
    use crate::streams::ResetReason;
    let reason = match reason {
        ResetReason::NoListener => "no_listener",
        ResetReason::NotAllowed => "not_allowed",
        ResetReason::TooManyStreams => "too_many_streams",
        ResetReason::Backlog => "backlog",
        ResetReason::Cancelled | ResetReason::Other(_) => "other",
    };
    counter!(STREAMS_REFUSED, "reason" => reason).increment(1);
}

fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// Records what a server event says; called where events are emitted.
pub(crate) fn event(event: &PeerEvent) {
    match event {
        PeerEvent::Added(info) => {
            counter!(HANDSHAKES, "direction" => direction(info.direction)).increment(1);
        }
        PeerEvent::Removed { end, .. } => {
            disconnect(end.sent, "sent");
            disconnect(end.received, "received");
        }
        PeerEvent::HandshakeFailed {
            direction: dir,
            sent,
            error,
            ..
        } => {
            let kind = match error {
                SetupError::Connect(_) => "connect",
                SetupError::ConnectTimeout => "connect_timeout",
                SetupError::Timeout => "timeout",
                SetupError::Evicted => "evicted",
                SetupError::Rlpx(_) => "rlpx",
                SetupError::Hello(_) => "hello",
                SetupError::Refused(_) => "refused",
                SetupError::InvalidNodeId(_) => "invalid_node_id",
            };
            counter!(HANDSHAKE_FAILURES, "direction" => direction(*dir), "kind" => kind)
                .increment(1);
            disconnect(*sent, "sent");
        }
        PeerEvent::DuplicateClosed { sent, .. } => {
            counter!(DUPLICATES).increment(1);
            disconnect(*sent, "sent");
        }
    }
}

fn disconnect(reason: Option<DisconnectReason>, side: &'static str) {
    if let Some(reason) = reason {
        counter!(DISCONNECTS, "reason" => reason.to_string(), "side" => side).increment(1);
    }
}

/// Sets the peer gauges from the directions of all connected peers.
pub(crate) fn peers(directions: impl Iterator<Item = Direction>) {
    let (inbound, outbound) = directions.fold((0, 0), |(i, o), d| match d {
        Direction::Inbound => (i + 1, o),
        Direction::Outbound => (i, o + 1),
    });
    gauge!(PEERS, "direction" => "inbound").set(inbound as f64);
    gauge!(PEERS, "direction" => "outbound").set(outbound as f64);
}

/// A dial started.
pub(crate) fn dial() {
    counter!(DIALS).increment(1);
}

/// An inbound connection was accepted.
pub(crate) fn accept() {
    counter!(ACCEPTS).increment(1);
}

/// A subscription's full queue dropped a message.
pub(crate) fn subscription_drop(protocol: &str, code: u64) {
    let labels = [
        ("protocol", protocol.to_string()),
        ("code", code.to_string()),
    ];
    counter!(SUBSCRIPTION_DROPS, &labels).increment(1);
}

/// One direction's message and byte counters of one protocol, registered once per session so
/// that counting a message is two atomic adds, not a label lookup.
#[derive(Clone)]
pub(crate) struct Traffic {
    messages: Counter,
    bytes: Counter,
}

impl Traffic {
    /// Received messages of `protocol`.
    pub(crate) fn inbound(protocol: &str) -> Self {
        let protocol = protocol.to_string();
        Traffic {
            messages: counter!(MESSAGES_IN, "protocol" => protocol.clone()),
            bytes: counter!(BYTES_IN, "protocol" => protocol),
        }
    }

    /// Sent messages of `protocol`.
    pub(crate) fn outbound(protocol: &str) -> Self {
        let protocol = protocol.to_string();
        Traffic {
            messages: counter!(MESSAGES_OUT, "protocol" => protocol.clone()),
            bytes: counter!(BYTES_OUT, "protocol" => protocol),
        }
    }

    /// One message of `len` payload bytes.
    pub(crate) fn record(&self, len: usize) {
        self.messages.increment(1);
        self.bytes.increment(len as u64);
    }
}

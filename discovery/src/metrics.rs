//! Every metric discovery records, through the [`metrics`](https://docs.rs/metrics) facade (a
//! no-op until the application installs a recorder). The state machines stay free of clocks and
//! sockets; recording a metric is a counter add, and without a recorder nothing at all.

use ::metrics::counter;
#[cfg(feature = "tokio")]
use ::metrics::gauge;

/// Gauge: nodes in the discv4 routing table, set by the driver after each input.
pub const TABLE_NODES: &str = "ethp2p_discovery_table_nodes";
/// Counter: discv4 packets received that decoded, label `kind` (`ping`, `pong`, `findnode`,
/// `neighbors`, `enrrequest`, `enrresponse`); dropped ones are counted here too, before
/// [`DROPPED`] says why.
pub const PACKETS_IN: &str = "ethp2p_discovery_packets_in_total";
/// Counter: discv4 packets dropped, label `reason` (`malformed`, `replayed`, `self`,
/// `expired`, `unsolicited ...`, or why a request without endpoint proof was refused).
pub const DROPPED: &str = "ethp2p_discovery_dropped_total";

/// Counter: datagrams discv4 handed to discv5 on a shared UDP port (no discv4 packet at all).
pub const PASSED_ON: &str = "ethp2p_discovery_passed_on_total";
/// Gauge: nodes in the discv5 routing table, set by the driver after each input.
pub const V5_TABLE_NODES: &str = "ethp2p_discv5_table_nodes";
/// Counter: discv5 packets and requests dropped, label `reason` (`malformed`,
/// `not challenged`, `unsolicited whoareyou`, `unsolicited response`, `talk busy`).
pub const V5_DROPPED: &str = "ethp2p_discv5_dropped_total";

/// A decoded discv4 packet of type `packet_type` arrived.
pub(crate) fn packet_in(packet_type: u8) {
    use crate::v4::packet::{ENR_REQUEST, ENR_RESPONSE, FIND_NODE, NEIGHBORS, PING, PONG};
    let kind = match packet_type {
        PING => "ping",
        PONG => "pong",
        FIND_NODE => "findnode",
        NEIGHBORS => "neighbors",
        ENR_REQUEST => "enrrequest",
        ENR_RESPONSE => "enrresponse",
        _ => "other",
    };
    counter!(PACKETS_IN, "kind" => kind).increment(1);
}

/// A discv4 packet was dropped for `reason`.
pub(crate) fn dropped(reason: &'static str) {
    counter!(DROPPED, "reason" => reason).increment(1);
}

/// The routing table holds `nodes` nodes.
#[cfg(feature = "tokio")]
pub(crate) fn table_nodes(nodes: usize) {
    gauge!(TABLE_NODES).set(nodes as f64);
}

/// discv4 handed a datagram to discv5.
pub(crate) fn passed_on() {
    counter!(PASSED_ON).increment(1);
}

/// discv5 dropped something for `reason`.
pub(crate) fn v5_dropped(reason: &'static str) {
    counter!(V5_DROPPED, "reason" => reason).increment(1);
}

/// The discv5 routing table holds `nodes` nodes.
#[cfg(feature = "tokio")]
pub(crate) fn v5_table_nodes(nodes: usize) {
    gauge!(V5_TABLE_NODES).set(nodes as f64);
}

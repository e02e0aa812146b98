//! The NAT mapper's metrics, through the [`metrics`](https://docs.rs/metrics) facade (a no-op
//! until the application installs a recorder).

use ::metrics::{counter, gauge};

use crate::NatEvent;

/// Gauge: 1 while the node's ports are mapped (or an `extip:` address is known), 0 after a
/// mapping was lost or no gateway could be used; absent before the first outcome.
pub const MAPPED: &str = "ethp2p_nat_mapped";
/// Counter: mapper events, label `event` (`mapped`, `external_address_changed`,
/// `refresh_failed`, `mapping_lost`, `no_gateway`).
pub const EVENTS: &str = "ethp2p_nat_events_total";

/// Records what `event` says about the mapping state.
pub(crate) fn event(event: &NatEvent) {
    let (name, mapped) = match event {
        NatEvent::Mapped { .. } => ("mapped", Some(1.0)),
        NatEvent::ExternalAddressChanged { .. } => ("external_address_changed", Some(1.0)),
        NatEvent::RefreshFailed { .. } => ("refresh_failed", None),
        NatEvent::MappingLost { .. } => ("mapping_lost", Some(0.0)),
        NatEvent::NoGateway { .. } => ("no_gateway", Some(0.0)),
    };
    counter!(EVENTS, "event" => name).increment(1);
    if let Some(mapped) = mapped {
        gauge!(MAPPED).set(mapped);
    }
}

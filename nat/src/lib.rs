//! Port mapping for ethp2p: UPnP IGD and NAT-PMP, external address discovery and lease refresh.
//!
//! Not implemented yet: this crate is a placeholder so the workspace layout is fixed from the start.

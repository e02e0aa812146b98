//! Port mapping for ethp2p: UPnP IGD and NAT-PMP, external address discovery and lease refresh.
//!
//! A node behind a home router is unreachable until the router forwards its ports, and peers
//! can only dial it at an address it advertises. [`PortMapper::start`] finds the router (UPnP
//! by SSDP, NAT-PMP at the default gateway, or both at once in [`NatMode::Any`]), maps the node's
//! TCP and UDP ports, and reports the external endpoint in [`NatEvent`]s that the node uses to
//! update its enode and ENR. It keeps the mappings alive (10 minute leases refreshed after 8,
//! retried with backoff on failure), re-creates them when the router lost them (a restart or
//! reboot), publishes a changed external port or address, and deletes the mappings on
//! [`MapperHandle::shutdown`].
//!
//! ```no_run
//! # async fn example() -> Result<(), ethp2p_nat::NatError> {
//! use ethp2p_nat::{MapperConfig, NatEvent, NatMode, PortMapper};
//!
//! let config = MapperConfig::new(NatMode::Any, Some(30303), Some(30303));
//! let (mapper, mut events) = PortMapper::start(config)?;
//! while let Some(event) = events.recv().await {
//!     if let NatEvent::Mapped { endpoint, .. } = event {
//!         println!("reachable at {endpoint}");
//!         break;
//!     }
//! }
//! mapper.shutdown().await; // deletes the mappings
//! # Ok(()) }
//! ```
//!
//! Layers: [`lease::Leases`] is the whole policy (what to ask, when, what it means) as a state
//! machine without sockets or clocks; [`Gateway`] is one request at a time to a router, with
//! [`UpnpGateway`] (igd-next) and [`PmpGateway`] (natpmp) behind it; the mapper task only
//! connects the two. The protocol details that the underlying crates leave to their callers
//! (search retries, resends, reply matching, lost-mapping detection) are described in the
//! [`upnp`] and [`pmp`] modules. Routers' restart announcements ([`announce`]) bring the next
//! refresh forward, so a rebooted router gets its mappings back within seconds.

pub mod announce;
mod error;
mod event;
mod gateway;
pub mod lease;
mod mapper;
pub mod metrics;
mod mode;
pub mod pmp;
pub mod route;
pub mod upnp;

pub use error::{
    Blame, DiscoveryError, DiscoveryFailure, ErrorCode, GatewayError, NatError, ProtocolViolation,
    SocketError,
};
pub use event::{AddressKind, ExternalEndpoint, MappingProtocol, NatEvent, Transport};
pub use gateway::{AnyGateway, Gateway, SearchConfig, discover};
pub use lease::{Grant, LeaseConfig, MapRequest, Mapping, Presence};
pub use mapper::{MapperConfig, MapperHandle, NatEvents, PortMapper};
pub use mode::{NatMode, ParseNatModeError};
pub use pmp::PmpGateway;
pub use upnp::UpnpGateway;

//! Node identities and discovery for ethp2p: peer ids, `enode://` URLs, Ethereum Node Records
//! (EIP-778), the discv4 and discv5.1 protocols and DNS node lists (EIP-1459).
//!
//! Every protocol is a sans-IO state machine (time, datagrams and randomness go in; datagrams,
//! events and the next timeout come out) that needs no runtime. The `tokio` feature (on by
//! default) adds the drivers that run them on sockets: [`v4::Discv4Handle`],
//! [`v5::Discv5Handle`], `spawn_shared` (both on one port) and [`dns::driver`].

pub mod dns;
mod drop_log;
mod enode;
pub mod enr;
pub mod fork_id;
pub mod kad;
pub mod local_record;
pub mod metrics;
pub mod netutil;
mod node_id;
pub mod nodedb;
mod peer_id;
mod pending;
mod rlp;
#[cfg(feature = "tokio")]
mod udp;
pub mod v4;
pub mod v5;

pub use enode::{Enode, ParseEnodeError};
pub use enr::{Enr, EnrBuilder, EnrError, MAX_RECORD_SIZE};
pub use node_id::{NodeId, ParseNodeIdError};
pub use peer_id::{ParsePeerIdError, PeerId};
#[cfg(feature = "tokio")]
pub use udp::spawn_shared;

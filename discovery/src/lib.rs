//! Node identities and discovery for ethp2p: peer ids, `enode://` URLs, and (to come) Ethereum
//! Node Records (EIP-778), the discv4 protocol and the discv5.1 wire and session layer.

pub mod dns;
mod enode;
pub mod enr;
pub mod fork_id;
pub mod local_record;
pub mod metrics;
pub mod netutil;
mod node_id;
pub mod nodedb;
mod peer_id;
mod rlp;
mod udp;
pub mod v4;
pub mod v5;

pub use enode::{Enode, ParseEnodeError};
pub use enr::{Enr, EnrBuilder, EnrError, MAX_RECORD_SIZE};
pub use node_id::{NodeId, ParseNodeIdError};
pub use peer_id::{ParsePeerIdError, PeerId};
pub use udp::spawn_shared;

//! Node identities and discovery for ethp2p: peer ids, `enode://` URLs, and (to come) Ethereum
//! Node Records (EIP-778) and the discv4 protocol.

mod enode;
pub mod netutil;
mod peer_id;

pub use enode::{Enode, ParseEnodeError};
pub use peer_id::{ParsePeerIdError, PeerId};

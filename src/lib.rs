//! ethp2p: Ethereum's devp2p networking stack.
//!
//! Layers, bottom up (see `README.md` for the architecture sketch):
//! - [`rlpx`]: the ECIES handshake and the encrypted, MAC-authenticated frame codec
//!   ([rlpx.md](https://github.com/ethereum/devp2p/blob/master/rlpx.md)), sans-IO, plus a thin
//!   tokio stream driver;
//! - [`p2p`]: the base protocol carried over RLPx (Hello, Disconnect, Ping/Pong, snappy
//!   message compression, capability matching);
//! - [`peer`]: one session per connected peer (read, write and ping loops, one task per
//!   matched protocol);
//! - [`server`]: listener, dialer, peer table, limits, events, discovery;
//! - [`streams`]: ordered, flow-controlled byte streams multiplexed over a peer connection;
//! - [`Protocol`]: what you implement.
//!
//! Start with the [`manual`]: a quick start, the concepts, every default, the errors and
//! disconnect reasons, discovery and NAT.

mod blame;
pub mod manual;
pub mod metrics;
pub mod nodekey;
pub mod p2p;
pub mod peer;
pub mod protocol;
pub mod rlpx;
pub mod streams;
mod subscription;

pub use blame::Blame;
pub use protocol::{
    Direction, Message, MessageSender, PeerInfo, Protocol, ProtocolError, ProtocolPeer, SendError,
};
pub use rlpx::PeerId;
pub use subscription::{SubscribedMessage, Subscription};
pub mod server;
pub use server::{PeerEvent, Server, ServerConfig, ServerHandle, Stats};

/// UPnP IGD and NAT-PMP port mapping (the `ethp2p-nat` crate), so a node behind a home router
/// can be reached; behind the default feature `nat`, which `default-features = false` drops
/// together with igd-next's HTTP stack.
#[cfg(feature = "nat")]
pub use ethp2p_nat as nat;

//! The discv4 node discovery protocol
//! (<https://github.com/ethereum/devp2p/blob/master/discv4.md>): the packet codec, endpoint
//! proofs (bonds) and EIP-868 record requests, as a sans-IO [`Discv4`] state machine on the
//! shared [`kad`](crate::kad) table, lookups and endpoint prediction.

mod bonds;
mod clock;
mod deferred;
#[cfg(feature = "tokio")]
pub(crate) mod driver;
pub mod packet;
mod replay;
mod requests;
mod service;

#[cfg(feature = "tokio")]
pub use driver::{Discv4Handle, Stopped};
pub use packet::{
    EXPIRATION_SECS, Endpoint, EnrRequest, EnrResponse, FindNode, MAX_NEIGHBORS_PER_PACKET,
    MAX_PACKET_SIZE, MAX_RECEIVE_PACKET_SIZE, Message, Neighbors, Packet, PacketError, Ping, Pong,
    decode, encode, is_expired, neighbors_packets,
};
pub use service::{Config, Discv4, Event, NotDiscv4, Stats, Transmit};

/// Seconds since 1970 now, for packet expirations and the node database.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

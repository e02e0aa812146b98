//! The discv4 node discovery protocol
//! (<https://github.com/ethereum/devp2p/blob/master/discv4.md>): the packet codec, the node
//! table, lookups and endpoint prediction, as a sans-IO [`Discv4`] state machine.

pub(crate) mod driver;
pub(crate) mod endpoint;
pub(crate) mod lookup;
pub mod packet;
mod service;
pub mod table;

pub use driver::{Discv4Handle, Stopped, unix_now};
pub use endpoint::EndpointVotes;
pub use lookup::LookupId;
pub use packet::{
    EXPIRATION_SECS, Endpoint, EnrRequest, EnrResponse, FindNode, MAX_NEIGHBORS_PER_PACKET,
    MAX_PACKET_SIZE, MAX_RECEIVE_PACKET_SIZE, Message, Neighbors, NodeRecord, Packet, PacketError,
    Ping, Pong, decode, encode, is_expired, neighbors_packets,
};
pub use service::{Config, Discv4, Event, NotDiscv4, Stats, Transmit};

//! The discv4 node discovery protocol
//! (<https://github.com/ethereum/devp2p/blob/master/discv4.md>).

pub mod packet;

pub use packet::{
    EXPIRATION_SECS, Endpoint, EnrRequest, EnrResponse, FindNode, MAX_NEIGHBORS_PER_PACKET,
    MAX_PACKET_SIZE, MAX_RECEIVE_PACKET_SIZE, Message, Neighbors, NodeRecord, Packet, PacketError,
    Ping, Pong, decode, encode, is_expired, neighbors_packets,
};

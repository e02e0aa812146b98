//! The devp2p base protocol ("p2p", version 5) carried over RLPx.
//!
//! Pure encoding/decoding only (no IO): message framing with optional snappy compression
//! ([`message`]), [`Hello`], [`DisconnectReason`], Ping/Pong payloads, capability
//! matching ([`match_capabilities`], [`route`]) and what a received message asks of the session
//! ([`rules`]).
//!
//! Spec: [rlpx.md, "p2p" Capability](https://github.com/ethereum/devp2p/blob/master/rlpx.md#p2p-capability)
//! and [EIP-706](https://eips.ethereum.org/EIPS/eip-706) (snappy).

pub mod capability;
pub mod connection;
pub mod disconnect;
pub(crate) mod ending;
pub mod error;
pub mod hello;
pub mod message;
pub(crate) mod rlp_reader;
pub mod rules;

pub use capability::{
    Capability, MAX_CAPABILITY_NAME_LEN, ProtocolSpec, SharedCapability, match_capabilities, route,
};
pub use connection::{ConnectionError, P2pConnection, refuse};
pub use disconnect::{DisconnectReason, MAX_DISCONNECT_PAYLOAD, decode_disconnect_message};
pub use error::{P2pError, SnappyError};
pub use hello::{
    Hello, MAX_CAPABILITIES, PROTOCOL_VERSION, SNAPPY_PROTOCOL_VERSION, snappy_enabled,
};
pub use message::{
    BASE_PROTOCOL_LENGTH, DISCONNECT, HELLO, MAX_MESSAGE_SIZE, PING, PING_PAYLOAD, PONG,
    PONG_PAYLOAD, decode_message, decode_message_into, decode_payload_into, encode_message,
    is_base_protocol_code, split_message_code,
};
pub use rules::{Received, Violation};

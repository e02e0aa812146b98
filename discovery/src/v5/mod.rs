//! The discv5.1 wire protocol and session layer
//! ([discv5-wire.md](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-wire.md),
//! [discv5-theory.md](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-theory.md)),
//! sans-IO.
//!
//! - [`packet`]: the masked header, the three packet kinds and their authdata, 63..=1280 bytes.
//! - [`crypto`]: ECDH, HKDF key derivation, id-signature, AES-128-GCM (the "v4" scheme).
//! - [`handshake`]: answering a WHOAREYOU, and checking such an answer.
//! - [`message`]: PING, PONG, FINDNODE, NODES, TALKREQ, TALKRESP.
//! - [`session`]: the session LRU and the pending challenges, keyed by node id and address.
//! - [`Codec`]: all of the above for one node: messages in, packets out, and back.
//! - [`Discv5`]: the protocol state machine (requests, responses, table, lookups), beside
//!   [`Discv4`](crate::v4::Discv4) and sharing its table, lookup and endpoint votes.
//!
//! # How the protocol state machine drives the codec
//!
//! The codec knows packets and sessions, not requests. [`Discv5`] owns one [`Codec`] and the
//! socket's datagrams, and does this:
//!
//! - **Sending a request** to a node whose record it has: [`Codec::encode`]. It keeps the
//!   request (message, destination, record) under the returned nonce and a request id until a
//!   response or its timeout (go-ethereum: 700 ms, reset on each response). If the packet was
//!   [`OutgoingKind::Random`] (no session), it waits for the WHOAREYOU.
//! - **A [`Decoded::Whoareyou`]** names a nonce. If it is the nonce of a request of ours not yet
//!   answered by a handshake, it re-sends that request with [`Codec::encode_handshake`],
//!   replacing the stored nonce; any other WHOAREYOU (unknown nonce, or a second one for the
//!   same request) is dropped, so each request causes at most one handshake.
//! - **A [`Decoded::Unreadable`]** packet gets [`Codec::challenge`], with the sender's record if
//!   the table has it. A second unreadable packet within the handshake timeout gets the same
//!   WHOAREYOU again; [`EncodeError::ChallengesFull`] means it gets none (counted as a drop).
//! - **[`Decoded::Message`] and [`Decoded::Handshake`]** carry a request (answered through
//!   [`Codec::encode`], which now finds the session, to the packet's source address) or a
//!   response (matched by node id, source address, request id and type against the pending
//!   requests; anything else is dropped as unsolicited). A handshake also hands over the
//!   sender's verified record, for the table.
//! - **Errors** ([`DecodeError`]) are counted and dropped, never answered. On a shared port,
//!   [`DecodeError::is_not_discv5`] tells which datagrams belong to another protocol.
//! - **Time**: every call that can expire a challenge takes `now`; the state machine's own
//!   timers (request timeouts, revalidation) are its business, and the codec needs no timer:
//!   expired challenges are swept on the next call.
//! - **Record changes**: [`Codec::set_local_record`], so later handshakes carry the new record
//!   to nodes whose challenge names an older sequence number.

pub mod crypto;
pub mod handshake;
pub mod message;
pub mod packet;
pub mod session;

mod codec;
#[cfg(feature = "tokio")]
pub(crate) mod driver;
mod service;

pub use codec::{
    Challenge, Codec, Config, DecodeError, Decoded, EncodeError, Outgoing, OutgoingKind,
};
#[cfg(feature = "tokio")]
pub use driver::{AsyncTalkHandler, CallError, Discv5Handle, Pong};
pub use handshake::{HandshakeError, Whoareyou};
pub use message::{Message, MessageError, RequestId};
pub use packet::{MAX_PACKET_SIZE, MIN_PACKET_SIZE, PacketError};
pub use service::{
    CallId, Config as ServiceConfig, Discv5, Event, LOOKUP_DISTANCES, MAX_FINDNODE_RESULTS,
    MAX_NODES_RESPONSES, NodeContact, RequestError, Response, Stats, TalkHandler, TalkId,
    TalkRequest, Transmit, lookup_distances, nodes_messages,
};
pub use session::NodeAddress;

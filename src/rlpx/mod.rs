//! RLPx: the encrypted, authenticated transport under every devp2p protocol
//! ([rlpx.md](https://github.com/ethereum/devp2p/blob/master/rlpx.md)).
//!
//! The core is sans-IO: [`handshake`] turns bytes into established secrets, [`frame`] seals and
//! opens frames in place. [`stream`] is the thin tokio driver that moves those bytes over a socket.

pub mod ecies;
mod error;
pub mod frame;
pub mod handshake;
mod keccak;
mod keys;
pub mod mac;
pub mod secp;
pub mod secrets;
pub mod stream;

pub use error::{FrameError, HandshakeError};
pub use frame::{FrameCodec, FrameOpener, FrameSealer, HEADER_LEN, MAX_FRAME_SIZE};
pub use handshake::{
    AuthReceived, AwaitingAck, Established, Initiator, MAX_HANDSHAKE_PACKET, PacketLen, Recipient,
};
pub use keccak::KECCAK_BACKEND;
pub use keys::{NodeKey, ParsePeerIdError, PeerId, random_secret_key};
pub use secrets::{Role, Secrets};
pub use stream::{LINGER, RlpxError, RlpxReader, RlpxStream, RlpxWriter};

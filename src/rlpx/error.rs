//! Typed errors of the RLPx layer, grouped by who is to blame.

use thiserror::Error;

/// Why an RLPx handshake (auth / ack exchange) failed.
///
/// Every variant except [`HandshakeError::Io`] means the remote sent something invalid; none of
/// them can be caused by our own state.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The packet announced (or has) more bytes than the 2 KiB cap
    /// ([`MAX_HANDSHAKE_PACKET`](crate::rlpx::MAX_HANDSHAKE_PACKET)).
    #[error("handshake packet of {size} bytes exceeds the {limit}-byte limit")]
    PacketTooLarge {
        /// Announced or actual size in bytes.
        size: usize,
        /// The limit it exceeded.
        limit: usize,
    },
    /// The packet ended before the structure it announced.
    #[error("handshake packet truncated")]
    Truncated,
    /// The ECIES envelope carried an ephemeral key that is not a valid secp256k1 point.
    #[error("invalid public key in handshake")]
    InvalidPublicKey,
    /// The ECIES HMAC did not match: wrong recipient key or tampered bytes.
    #[error("ECIES message authentication failed")]
    InvalidMac,
    /// The decrypted body is not the RLP structure the spec requires.
    #[error("malformed handshake body")]
    InvalidBody,
    /// The auth signature does not recover to a valid ephemeral key.
    #[error("invalid auth signature")]
    InvalidSignature,
    /// The I/O driver failed to read or write the handshake.
    #[error("handshake I/O: {0}")]
    Io(std::io::ErrorKind),
}

/// Why a frame could not be opened. Any of these ends the connection: after a bad MAC the
/// stream ciphers of the two sides are no longer in step.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The header MAC did not match.
    #[error("frame header MAC mismatch")]
    HeaderMac,
    /// The frame (body) MAC did not match.
    #[error("frame MAC mismatch")]
    BodyMac,
    /// The header announced a frame larger than our configured maximum.
    #[error("frame of {size} bytes exceeds the configured maximum of {limit}")]
    FrameTooLarge {
        /// Size announced in the header.
        size: usize,
        /// Our configured maximum.
        limit: usize,
    },
    /// The body buffer handed to `open_body` does not have the length the header announced.
    #[error("frame body has {actual} bytes, header announced {expected}")]
    BodyLength {
        /// Bytes the header announced (padded body plus MAC).
        expected: usize,
        /// Bytes supplied.
        actual: usize,
    },
}

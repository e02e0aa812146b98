//! Errors produced while encoding or decoding base-protocol ("p2p") messages.
//!
//! Every variant is data-only (no `String`s) so errors are cheap to clone, compare in tests
//! and map onto a [`DisconnectReason`](super::DisconnectReason) by the peer layer.

/// Why a snappy (de)compression step failed.
///
/// A small copy of the interesting parts of [`snap::Error`], which is neither `PartialEq` nor
/// cheap to carry around. See [EIP-706](https://eips.ethereum.org/EIPS/eip-706).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnappyError {
    /// The varint length header at the start of the compressed data is malformed.
    #[error("invalid snappy length header")]
    InvalidHeader,
    /// The data (or the length it announces) exceeds what snappy can represent (2^32 - 1).
    #[error("snappy data too large")]
    TooBig,
    /// The compressed body is malformed or does not match the announced length.
    #[error("corrupt snappy data")]
    Corrupt,
}

impl From<snap::Error> for SnappyError {
    fn from(err: snap::Error) -> Self {
        match err {
            snap::Error::Header => SnappyError::InvalidHeader,
            snap::Error::TooBig { .. } => SnappyError::TooBig,
            _ => SnappyError::Corrupt,
        }
    }
}

/// Errors of the devp2p base protocol codec (`src/p2p`).
///
/// Spec: [rlpx.md, "p2p" Capability](https://github.com/ethereum/devp2p/blob/master/rlpx.md#p2p-capability).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    /// The bytes are not well-formed, canonical RLP of the expected shape.
    #[error("invalid RLP: {0}")]
    InvalidRlp(rlp::DecoderError),
    /// The frame data or message payload is empty where content is required.
    #[error("empty message")]
    EmptyMessage,
    /// A payload (after decompression, if any) exceeds the allowed size. For snappy data
    /// `size` is the length announced in the snappy header, checked before decompressing.
    #[error("message too large: {size} bytes, limit {limit}")]
    MessageTooLarge {
        /// Size of the offending payload in bytes.
        size: usize,
        /// The limit it was checked against.
        limit: usize,
    },
    /// Snappy compression or decompression failed.
    #[error("snappy: {0}")]
    Snappy(SnappyError),
    /// The Hello `nodeId` is not a 64-byte uncompressed secp256k1 public key (without prefix).
    #[error("invalid node id length {len}, expected 64")]
    InvalidNodeId {
        /// Length of the node id that was received.
        len: usize,
    },
    /// The Hello lists more capabilities than we are willing to process.
    #[error("too many capabilities, limit {limit}")]
    TooManyCapabilities {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A capability name is empty, too long or not printable ASCII.
    #[error("invalid capability name")]
    InvalidCapabilityName,
    /// A capability version is missing, malformed or does not fit in a `u32`.
    #[error("invalid capability version")]
    InvalidCapabilityVersion,
    /// A Disconnect payload does not carry a reason that fits in one byte.
    #[error("invalid disconnect reason")]
    InvalidDisconnectReason,
}

impl From<rlp::DecoderError> for P2pError {
    fn from(err: rlp::DecoderError) -> Self {
        P2pError::InvalidRlp(err)
    }
}

impl From<snap::Error> for P2pError {
    fn from(err: snap::Error) -> Self {
        P2pError::Snappy(err.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snap_errors_map_to_small_kinds() {
        assert_eq!(
            P2pError::from(snap::Error::Header),
            P2pError::Snappy(SnappyError::InvalidHeader)
        );
        assert_eq!(
            SnappyError::from(snap::Error::TooBig { given: 1, max: 0 }),
            SnappyError::TooBig
        );
        assert_eq!(SnappyError::from(snap::Error::Empty), SnappyError::Corrupt);
    }

    #[test]
    fn display_is_informative() {
        let err = P2pError::MessageTooLarge {
            size: 20,
            limit: 10,
        };
        assert_eq!(err.to_string(), "message too large: 20 bytes, limit 10");
        let err = P2pError::from(rlp::DecoderError::RlpIsTooShort);
        assert!(err.to_string().contains("RlpIsTooShort"));
    }
}

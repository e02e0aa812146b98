//! A node's identity: its secp256k1 public key as the 64 bytes devp2p puts on the wire.

use std::fmt;
use std::str::FromStr;

use secp256k1::{PublicKey, SecretKey};

/// A node's identity on the wire: its 64-byte uncompressed secp256k1 public key without the
/// `0x04` prefix, as carried in Hello, auth messages and `enode://` URLs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 64]);

impl PeerId {
    /// The id of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let mut id = [0u8; 64];
        id.copy_from_slice(&key.serialize_uncompressed()[1..]);
        PeerId(id)
    }

    /// The id belonging to a secret key.
    pub fn from_secret_key(key: &SecretKey) -> Self {
        Self::from_public_key(&PublicKey::from_secret_key(key))
    }

    /// The public key, or `None` if these 64 bytes are not a point on the curve.
    pub fn to_public_key(&self) -> Option<PublicKey> {
        let mut uncompressed = [4u8; 65];
        uncompressed[1..].copy_from_slice(&self.0);
        PublicKey::from_slice(&uncompressed).ok()
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Long enough to tell peers apart in logs.
        write!(f, "PeerId({}..)", &hex::encode(&self.0[..8]))
    }
}

/// Error parsing a [`PeerId`] from hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a peer id is 128 hex characters (64 bytes)")]
pub struct ParsePeerIdError;

impl FromStr for PeerId {
    type Err = ParsePeerIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 64];
        hex::decode_to_slice(s.trim_start_matches("0x"), &mut id).map_err(|_| ParsePeerIdError)?;
        Ok(PeerId(id))
    }
}

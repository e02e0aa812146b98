//! Node ids: the 32-byte Keccak-256 hash of a node's public key, the key of the Kademlia table.
//!
//! discv4 and the "v4" identity scheme of EIP-778 both define a node's id as
//! `keccak256(x || y)` of its uncompressed secp256k1 public key, and the distance between two
//! nodes as the XOR of their ids.

use std::fmt;
use std::str::FromStr;

use secp256k1::PublicKey;
use sha3::{Digest, Keccak256};

use crate::PeerId;

/// Keccak-256 of `data`.
pub(crate) fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// A node id: `keccak256` of the 64-byte public key ([`PeerId`]).
///
/// Ordered as a 256-bit big-endian number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The id of a node with this [`PeerId`].
    pub fn from_peer_id(peer: &PeerId) -> Self {
        NodeId(keccak256(&peer.0))
    }

    /// The id of a node with this public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        Self::from_peer_id(&PeerId::from_public_key(key))
    }

    /// The XOR distance to `other`.
    pub fn distance(&self, other: &NodeId) -> [u8; 32] {
        let mut d = [0u8; 32];
        for (out, (a, b)) in d.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *out = a ^ b;
        }
        d
    }

    /// The logarithmic distance to `other`: 0 for the same id, otherwise the bit length of the
    /// XOR distance, 1..=256 (256 minus its leading zero bits).
    pub fn log_distance(&self, other: &NodeId) -> u32 {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return 256 - (i as u32 * 8 + x.leading_zeros());
            }
        }
        0
    }
}

impl From<&PeerId> for NodeId {
    fn from(peer: &PeerId) -> Self {
        Self::from_peer_id(peer)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", hex::encode(self.0))
    }
}

/// Error parsing a [`NodeId`] from hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a node id is 64 hex characters (32 bytes)")]
pub struct ParseNodeIdError;

impl FromStr for NodeId {
    type Err = ParseNodeIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        let mut id = [0u8; 32];
        hex::decode_to_slice(s, &mut id).map_err(|_| ParseNodeIdError)?;
        Ok(NodeId(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secp256k1::SecretKey;

    #[test]
    fn id_of_eip778_key() {
        let sk = SecretKey::from_secret_bytes(
            hex::decode("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
                .unwrap()
                .try_into()
                .unwrap(),
        )
        .unwrap();
        let id = NodeId::from_peer_id(&PeerId::from_secret_key(&sk));
        assert_eq!(
            id.to_string(),
            "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
        );
        assert_eq!(id.to_string().parse::<NodeId>(), Ok(id));
        assert_eq!(format!("0x{id}").parse::<NodeId>(), Ok(id));
        assert_eq!("abcd".parse::<NodeId>(), Err(ParseNodeIdError));
    }

    #[test]
    fn distances() {
        let zero = NodeId([0; 32]);
        assert_eq!(zero.log_distance(&zero), 0);
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(zero.log_distance(&NodeId(one)), 1);
        let mut top = [0u8; 32];
        top[0] = 0x80;
        assert_eq!(zero.log_distance(&NodeId(top)), 256);
        assert_eq!(NodeId(top).log_distance(&zero), 256);
        let mut mid = [0u8; 32];
        mid[30] = 0x01;
        mid[31] = 0xff;
        assert_eq!(zero.log_distance(&NodeId(mid)), 9);
        let a = NodeId([0x5a; 32]);
        let b = NodeId([0xa5; 32]);
        assert_eq!(a.distance(&b), [0xff; 32]);
        assert_eq!(a.distance(&a), [0; 32]);
        assert!(zero < NodeId(one) && NodeId(one) < NodeId(top));
    }
}

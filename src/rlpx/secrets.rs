//! Deriving the connection secrets from a completed handshake
//! ([rlpx.md, "Secrets"](https://github.com/ethereum/devp2p/blob/master/rlpx.md#secrets)).

use sha3::{Digest, Keccak256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::mac::FrameMac;

/// Which side of the handshake we were: it decides which nonce and packet seed each MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent auth.
    Initiator,
    /// We received auth and sent ack.
    Recipient,
}

/// Everything the frame codec needs, derived once per connection. Secrets are wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secrets {
    /// `keccak256(ephemeral-key || shared-secret)`: key of both AES-256-CTR streams.
    pub aes_secret: [u8; 32],
    /// `keccak256(ephemeral-key || aes-secret)`: key of the AES-256-ECB MAC seed cipher.
    pub mac_secret: [u8; 32],
    /// MAC of what we send.
    #[zeroize(skip)]
    pub egress_mac: FrameMac,
    /// MAC of what we receive.
    #[zeroize(skip)]
    pub ingress_mac: FrameMac,
}

fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

impl Secrets {
    /// Derives the secrets from the ephemeral ECDH x coordinate, both nonces, and the auth and
    /// ack packets exactly as they crossed the wire.
    pub fn derive(
        role: Role,
        ephemeral_shared: &[u8; 32],
        initiator_nonce: &[u8; 32],
        recipient_nonce: &[u8; 32],
        auth: &[u8],
        ack: &[u8],
    ) -> Self {
        let mut shared = keccak(&[
            ephemeral_shared,
            &keccak(&[recipient_nonce, initiator_nonce]),
        ]);
        let aes_secret = keccak(&[ephemeral_shared, &shared]);
        let mac_secret = keccak(&[ephemeral_shared, &aes_secret]);
        shared.zeroize();
        // The initiator's egress MAC starts from the recipient's nonce and the auth it sent.
        let initiator_egress = FrameMac::new(&mac_secret, recipient_nonce, auth);
        let recipient_egress = FrameMac::new(&mac_secret, initiator_nonce, ack);
        let (egress_mac, ingress_mac) = match role {
            Role::Initiator => (initiator_egress, recipient_egress),
            Role::Recipient => (recipient_egress, initiator_egress),
        };
        Secrets {
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
        }
    }
}

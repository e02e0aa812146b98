//! secp256k1 helpers shared by the handshake: node ids, ECDH and key generation.

use rand_core::CryptoRng;
use secp256k1::{PublicKey, SecretKey};

pub use ethp2p_discovery::{ParsePeerIdError, PeerId};

/// The x coordinate of the ECDH point `scalar * point`, which is what RLPx calls the shared secret.
pub(crate) fn ecdh_x(point: &PublicKey, scalar: &SecretKey) -> [u8; 32] {
    let xy = secp256k1::ecdh::shared_secret_point(point, scalar);
    let mut x = [0u8; 32];
    x.copy_from_slice(&xy[..32]);
    x
}

/// Draws a uniformly random valid secret key from `rng`.
pub fn random_secret_key<R: CryptoRng + ?Sized>(rng: &mut R) -> SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        // Out of range (zero or >= the group order) with probability ~2^-128: draw again.
        if let Ok(key) = SecretKey::from_secret_bytes(bytes) {
            return key;
        }
    }
}

/// A secret key that is overwritten when dropped. `SecretKey` itself is `Copy` and never wiped,
/// so handshake state holds its keys in this wrapper.
pub(crate) struct WipedKey(pub(crate) SecretKey);

impl Drop for WipedKey {
    fn drop(&mut self) {
        self.0.non_secure_erase();
    }
}

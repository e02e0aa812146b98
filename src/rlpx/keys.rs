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

/// Our static identity: a secret key together with its public [`PeerId`], derived once.
///
/// Dialing needs the public key (auth carries it); deriving it is a fixed-base multiplication,
/// so a long-lived node builds this once and passes it to every handshake. A plain `SecretKey`
/// converts into one (deriving the id on the spot). The secret is wiped when this is dropped.
#[derive(Clone)]
pub struct NodeKey {
    secret: SecretKey,
    id: PeerId,
}

impl NodeKey {
    /// Derives the id of `secret`.
    pub fn new(secret: SecretKey) -> Self {
        let id = PeerId::from_public_key(&super::secp::public_key(&secret));
        NodeKey { secret, id }
    }

    /// A node key from a secret and the id already derived from it (by [`PeerId::from_secret_key`]
    /// or [`NodeKey::new`]). A mismatched id makes every handshake we dial fail.
    pub(crate) fn from_parts(secret: SecretKey, id: PeerId) -> Self {
        debug_assert_eq!(PeerId::from_secret_key(&secret), id, "id of another key");
        NodeKey { secret, id }
    }

    /// The secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The public key, as a node id.
    pub fn id(&self) -> PeerId {
        self.id
    }
}

impl From<SecretKey> for NodeKey {
    fn from(secret: SecretKey) -> Self {
        NodeKey::new(secret)
    }
}

impl From<&NodeKey> for NodeKey {
    fn from(key: &NodeKey) -> Self {
        key.clone()
    }
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for NodeKey {
    fn drop(&mut self) {
        self.secret.non_secure_erase();
    }
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

//! The cryptography of the "v4" identity scheme in discv5.1: ECDH, the HKDF session key
//! derivation, the id-nonce signature and AES-128-GCM message encryption
//! ([discv5-theory.md, "Identity-Specific Cryptography in the Handshake"](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-theory.md#identity-specific-cryptography-in-the-handshake)).
//!
//! Every function is a pure function of its inputs, so the spec's test vectors check each one
//! on its own.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Tag};
use rand::Rng;
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use crate::NodeId;

/// An AES-128 key: a session's read or write key.
pub type AesKey = [u8; 16];

/// The 12-byte AES-GCM nonce of a message, sent in the packet header.
pub type Nonce = [u8; 12];

/// The length of the GCM authentication tag appended to every ciphertext.
pub const TAG_SIZE: usize = 16;

/// The 33-byte compressed ECDH secret the session keys are derived from.
pub type SharedSecret = [u8; 33];

/// The text prefixed to the id-signature input, so the signature cannot be taken for another.
const ID_SIGNATURE_TEXT: &[u8] = b"discovery v5 identity proof";

/// The text prefixed to the HKDF `info`, binding the keys to their purpose.
const KEY_AGREEMENT_TEXT: &[u8] = b"discovery v5 key agreement";

/// The two keys a handshake derives. The initiator (the node that answered WHOAREYOU) writes
/// with `initiator_key` and reads with `recipient_key`; the recipient does the opposite.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The key the handshake's initiator encrypts with.
    pub initiator_key: AesKey,
    /// The key the handshake's recipient encrypts with.
    pub recipient_key: AesKey,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never go into logs.
        f.write_str("SessionKeys(..)")
    }
}

/// The AES-GCM tag did not authenticate the ciphertext (wrong key, nonce, data or tag), or the
/// input is shorter than a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message authentication failed")]
pub struct DecryptError;

/// `ecdh(pubkey, privkey)`: the point `pubkey * privkey`, compressed (`0x02`/`0x03` for the
/// parity of y, then x).
pub fn ecdh(public_key: &PublicKey, secret_key: &SecretKey) -> SharedSecret {
    let point = secp256k1::ecdh::shared_secret_point(public_key, secret_key);
    let mut secret = [0u8; 33];
    secret[0] = 0x02 | (point[63] & 1);
    secret[1..].copy_from_slice(&point[..32]);
    secret
}

/// The session keys of a handshake, from the ECDH `secret`:
/// `HKDF-Expand(HKDF-Extract(salt = challenge-data, ikm = secret), "discovery v5 key agreement"
/// || node-id-A || node-id-B)`, 32 bytes split in two. `initiator` is node A (who sends the
/// handshake), `recipient` node B (who sent WHOAREYOU).
///
/// The salt is the challenge data: devp2p#271 fixed the theory text, which had the two HKDF
/// arguments the other way round.
pub fn derive_keys_from_secret(
    secret: &SharedSecret,
    initiator: &NodeId,
    recipient: &NodeId,
    challenge_data: &[u8],
) -> SessionKeys {
    let hkdf = hkdf::Hkdf::<Sha256>::new(Some(challenge_data), secret);
    let mut key_data = [0u8; 32];
    hkdf.expand_multi_info(
        &[KEY_AGREEMENT_TEXT, &initiator.0, &recipient.0],
        &mut key_data,
    )
    .expect("32 bytes is a valid HKDF-SHA256 output length");
    let mut keys = SessionKeys {
        initiator_key: [0; 16],
        recipient_key: [0; 16],
    };
    keys.initiator_key.copy_from_slice(&key_data[..16]);
    keys.recipient_key.copy_from_slice(&key_data[16..]);
    keys
}

/// The session keys of a handshake from one side's secret key and the other side's public key
/// (the initiator's ephemeral key and the recipient's static key, or the other way round: ECDH
/// gives both the same secret).
pub fn derive_keys(
    secret_key: &SecretKey,
    public_key: &PublicKey,
    initiator: &NodeId,
    recipient: &NodeId,
    challenge_data: &[u8],
) -> SessionKeys {
    derive_keys_from_secret(
        &ecdh(public_key, secret_key),
        initiator,
        recipient,
        challenge_data,
    )
}

/// `sha256("discovery v5 identity proof" || challenge-data || ephemeral-pubkey || node-id-B)`,
/// the digest the id-signature signs.
fn id_signature_digest(
    challenge_data: &[u8],
    ephemeral_pubkey: &[u8],
    recipient: &NodeId,
) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(ID_SIGNATURE_TEXT);
    hash.update(challenge_data);
    hash.update(ephemeral_pubkey);
    hash.update(recipient.0);
    hash.finalize().into()
}

/// The id-signature: proof that the handshake's sender holds the key of its record, bound to
/// this challenge, this ephemeral key and this recipient (64 bytes, `r || s`, RFC 6979).
pub fn id_sign(
    static_key: &SecretKey,
    challenge_data: &[u8],
    ephemeral_pubkey: &[u8; 33],
    recipient: &NodeId,
) -> [u8; 64] {
    let digest = id_signature_digest(challenge_data, ephemeral_pubkey, recipient);
    secp256k1::ecdsa::sign(Message::from_digest(digest), static_key).serialize_compact()
}

/// Whether `signature` is a valid id-signature by `public_key` (high-S signatures are not, as
/// in go-ethereum).
pub fn id_verify(
    public_key: &PublicKey,
    signature: &[u8],
    challenge_data: &[u8],
    ephemeral_pubkey: &[u8],
    recipient: &NodeId,
) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let Ok(signature) = Signature::from_compact(&bytes) else {
        return false;
    };
    let digest = id_signature_digest(challenge_data, ephemeral_pubkey, recipient);
    signature
        .verify(Message::from_digest(digest), public_key)
        .is_ok()
}

/// A fresh secp256k1 key from `rng` (the ephemeral key of a handshake).
pub fn generate_secret_key(rng: &mut impl Rng) -> SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        // All but a 2^-128 fraction of 32-byte strings are valid keys.
        if let Ok(key) = SecretKey::from_secret_bytes(bytes) {
            return key;
        }
    }
}

/// `aesgcm_encrypt(key, nonce, plaintext, ad)`: appends the ciphertext and its 16-byte tag to
/// `out`.
pub fn encrypt(key: &AesKey, nonce: &Nonce, plaintext: &[u8], ad: &[u8], out: &mut Vec<u8>) {
    let cipher = Aes128Gcm::new(key.into());
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(nonce.into(), ad, (&mut out[start..]).into())
        .expect("discv5 messages are far below the AES-GCM length limits");
    out.extend_from_slice(&tag);
}

/// The inverse of [`encrypt`]: the plaintext of `ciphertext` (which ends in the tag), or
/// [`DecryptError`] if it does not authenticate.
pub fn decrypt(
    key: &AesKey,
    nonce: &Nonce,
    ciphertext: &[u8],
    ad: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    let body_len = ciphertext.len().checked_sub(TAG_SIZE).ok_or(DecryptError)?;
    let (body, tag) = ciphertext.split_at(body_len);
    let tag = Tag::try_from(tag).map_err(|_| DecryptError)?;
    let mut plaintext = body.to_vec();
    Aes128Gcm::new(key.into())
        .decrypt_inout_detached(nonce.into(), ad, plaintext.as_mut_slice().into(), &tag)
        .map_err(|_| DecryptError)?;
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ecdh_is_symmetric() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = generate_secret_key(&mut rng);
        let b = generate_secret_key(&mut rng);
        assert_eq!(
            ecdh(&b.public_key(), &a),
            ecdh(&a.public_key(), &b),
            "both sides compute the same secret"
        );
    }

    #[test]
    fn gcm_round_trip_and_tamper() {
        let key = [7u8; 16];
        let nonce = [9u8; 12];
        let mut ct = Vec::new();
        encrypt(&key, &nonce, b"hello", b"ad", &mut ct);
        assert_eq!(ct.len(), 5 + TAG_SIZE);
        assert_eq!(decrypt(&key, &nonce, &ct, b"ad").unwrap(), b"hello");
        assert_eq!(decrypt(&key, &nonce, &ct, b"AD"), Err(DecryptError));
        assert_eq!(decrypt(&[8; 16], &nonce, &ct, b"ad"), Err(DecryptError));
        assert_eq!(decrypt(&key, &[0; 12], &ct, b"ad"), Err(DecryptError));
        let mut flipped = ct.clone();
        flipped[0] ^= 1;
        assert_eq!(decrypt(&key, &nonce, &flipped, b"ad"), Err(DecryptError));
        assert_eq!(decrypt(&key, &nonce, &ct[..15], b"ad"), Err(DecryptError));
    }

    #[test]
    fn id_signature_round_trip() {
        let mut rng = StdRng::seed_from_u64(2);
        let key = generate_secret_key(&mut rng);
        let eph = generate_secret_key(&mut rng).public_key().serialize();
        let dest = NodeId([3; 32]);
        let sig = id_sign(&key, b"challenge", &eph, &dest);
        assert!(id_verify(
            &key.public_key(),
            &sig,
            b"challenge",
            &eph,
            &dest
        ));
        assert!(!id_verify(
            &key.public_key(),
            &sig,
            b"challengf",
            &eph,
            &dest
        ));
        assert!(!id_verify(
            &key.public_key(),
            &sig,
            b"challenge",
            &eph,
            &NodeId([4; 32])
        ));
        assert!(!id_verify(
            &key.public_key(),
            &sig[..63],
            b"challenge",
            &eph,
            &dest
        ));
    }
}

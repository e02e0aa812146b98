//! ECIES as RLPx uses it to encrypt the handshake packets
//! ([rlpx.md, "ECIES Encryption"](https://github.com/ethereum/devp2p/blob/master/rlpx.md#ecies-encryption)).
//!
//! Envelope: `R (65-byte uncompressed ephemeral key) || iv (16) || AES-128-CTR ciphertext || HMAC-SHA256 (32)`.
//! Keys come from the NIST SP 800-56 concatenation KDF (SHA-256) over the ECDH x coordinate:
//! the first 16 bytes are the AES key, the SHA-256 of the last 16 bytes is the MAC key. The MAC
//! covers `iv || ciphertext || shared_mac_data`; EIP-8 passes the 2-byte size prefix there.

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};
use rand_core::CryptoRng;
use secp256k1::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::HandshakeError;
use super::keys::{ecdh_x, random_secret_key};

type Aes128Ctr = ctr::Ctr128BE<Aes128>;
type HmacSha256 = hmac::Hmac<Sha256>;

const PUBKEY_LEN: usize = 65;
const IV_LEN: usize = 16;
const MAC_LEN: usize = 32;
/// Bytes ECIES adds around the plaintext.
pub const OVERHEAD: usize = PUBKEY_LEN + IV_LEN + MAC_LEN;

/// The AES key and the HMAC key derived from one ECDH secret.
struct DerivedKeys {
    enc: Zeroizing<[u8; 16]>,
    mac: Zeroizing<[u8; 32]>,
}

fn derive_keys(shared_x: &[u8; 32]) -> DerivedKeys {
    // Concat KDF with a single SHA-256 block: counter 1, the secret, empty "other info".
    let mut kdf = Sha256::new();
    kdf.update(1u32.to_be_bytes());
    kdf.update(shared_x);
    let okm: Zeroizing<[u8; 32]> = Zeroizing::new(kdf.finalize().into());
    let mut enc = Zeroizing::new([0u8; 16]);
    enc.copy_from_slice(&okm[..16]);
    let mac = Zeroizing::new(Sha256::digest(&okm[16..]).into());
    DerivedKeys { enc, mac }
}

fn hmac(key: &[u8; 32], iv: &[u8], ciphertext: &[u8], shared_mac_data: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(shared_mac_data);
    mac
}

/// Encrypts `plaintext` to `remote`, appending the envelope to `out`.
pub fn encrypt<R: CryptoRng + ?Sized>(
    rng: &mut R,
    remote: &PublicKey,
    plaintext: &[u8],
    shared_mac_data: &[u8],
    out: &mut Vec<u8>,
) {
    let ephemeral = random_secret_key(rng);
    let keys = derive_keys(&ecdh_x(remote, &ephemeral));
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);

    out.extend_from_slice(&super::secp::public_key(&ephemeral).serialize_uncompressed());
    out.extend_from_slice(&iv);
    let start = out.len();
    out.extend_from_slice(plaintext);
    Aes128Ctr::new((&*keys.enc).into(), (&iv).into()).apply_keystream(&mut out[start..]);
    let tag = hmac(&keys.mac, &iv, &out[start..], shared_mac_data)
        .finalize()
        .into_bytes();
    out.extend_from_slice(&tag);
}

/// Checks the envelope's MAC with our `key` and returns the decrypted plaintext.
pub fn decrypt(
    key: &SecretKey,
    envelope: &[u8],
    shared_mac_data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HandshakeError> {
    if envelope.len() < OVERHEAD {
        return Err(HandshakeError::Truncated);
    }
    let (ephemeral, rest) = envelope.split_at(PUBKEY_LEN);
    let (iv, rest) = rest.split_at(IV_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - MAC_LEN);
    // Only the uncompressed form is valid on the wire.
    if ephemeral[0] != 0x04 {
        return Err(HandshakeError::InvalidPublicKey);
    }
    let ephemeral =
        PublicKey::from_slice(ephemeral).map_err(|_| HandshakeError::InvalidPublicKey)?;
    let keys = derive_keys(&ecdh_x(&ephemeral, key));
    hmac(&keys.mac, iv, ciphertext, shared_mac_data)
        .verify_slice(tag)
        .map_err(|_| HandshakeError::InvalidMac)?;
    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    let iv: [u8; IV_LEN] = iv.try_into().expect("split at IV_LEN");
    Aes128Ctr::new((&*keys.enc).into(), (&iv).into()).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn round_trip_and_tamper() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let key = random_secret_key(&mut rng);
        let public = PublicKey::from_secret_key(&key);
        let mut envelope = Vec::new();
        encrypt(
            &mut rng,
            &public,
            b"hello devp2p",
            b"\x01\x02",
            &mut envelope,
        );
        assert_eq!(envelope.len(), OVERHEAD + 12);
        assert_eq!(
            &decrypt(&key, &envelope, b"\x01\x02").unwrap()[..],
            b"hello devp2p"
        );
        // The shared MAC data is authenticated too.
        assert_eq!(
            decrypt(&key, &envelope, b"\x01\x03"),
            Err(HandshakeError::InvalidMac)
        );
        for bit in [0, 8 * 70, 8 * 90, envelope.len() * 8 - 1] {
            let mut bad = envelope.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(decrypt(&key, &bad, b"\x01\x02").is_err(), "bit {bit}");
        }
        assert_eq!(
            decrypt(&key, &envelope[..OVERHEAD - 1], b""),
            Err(HandshakeError::Truncated)
        );
    }
}

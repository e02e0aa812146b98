//! Public-key derivation and recoverable ECDSA signing on a per-thread libsecp256k1 context.
//!
//! # Why not the high-level `secp256k1` API
//!
//! secp256k1 0.33's `PublicKey::from_secret_key` and `RecoverableSignature::sign_ecdsa_recoverable`
//! run on a thread-local context and call `secp256k1_context_randomize` on it after *every*
//! operation, seeded with the secret key (or key XOR message). Re-randomising recomputes the
//! blinding point, a full fixed-base multiplication: ~31 µs measured here, as much as the
//! operation itself. An RLPx exchange did it five times, about a quarter of its CPU time.
//!
//! This module keeps the blinding but pays for it once: each thread gets its own signing
//! context, randomised when created from the operating system's randomness (through
//! `rand::fill`, the OS-seeded thread generator) rather than from the key. That is the usage
//! libsecp256k1's documentation recommends (randomise a context after creating it) and how
//! programs that link libsecp256k1 directly, go-ethereum among them, use it: one long-lived
//! context. The blinding value is secret and never leaves the thread.
//!
//! Signatures use the default RFC 6979 nonce, so they are byte-identical to the high-level
//! API's (the tests check that). ECDH (`secp256k1::ecdh`) and recovery already run without
//! re-randomisation and are used as they are.

use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::ffi::{self, CPtr};
use secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};

thread_local! {
    /// This thread's signing context, blinded once with fresh randomness when first used.
    static CONTEXT: Secp256k1<All> = {
        let mut secp = Secp256k1::new();
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        secp.seeded_randomize(&seed);
        seed.fill(0);
        secp
    };
}

/// The public key of `secret` (what `PublicKey::from_secret_key` returns).
pub fn public_key(secret: &SecretKey) -> PublicKey {
    CONTEXT.with(|secp| {
        // SAFETY: `PublicKey::new` is an all-zero placeholder that is only read back after
        // libsecp256k1 filled it (result 1). The context pointer is a live signing context owned
        // by this thread's `CONTEXT` (valid for the whole closure, only read by the call);
        // `secret.as_c_ptr()` points at the key's 32 bytes.
        let (ok, pk) = unsafe {
            let mut pk = ffi::PublicKey::new();
            let ok =
                ffi::secp256k1_ec_pubkey_create(secp.ctx().as_ptr(), &mut pk, secret.as_c_ptr());
            (ok, pk)
        };
        // A `SecretKey` is always in range, so derivation cannot fail.
        assert_eq!(
            ok, 1,
            "secp256k1_ec_pubkey_create rejected a valid secret key"
        );
        PublicKey::from(pk)
    })
}

/// Signs the 32-byte `digest` with `secret`, RFC 6979 nonce, in the 65-byte `r || s || v` layout
/// of RLPx (what `RecoverableSignature::sign_ecdsa_recoverable` + `serialize_compact` give).
pub fn sign_recoverable(digest: &[u8; 32], secret: &SecretKey) -> [u8; 65] {
    let message = Message::from_digest(*digest);
    let signature = CONTEXT.with(|secp| {
        // SAFETY: as in `public_key` for the placeholder, the context and the key; the message
        // points at 32 bytes; a null nonce function selects the default (RFC 6979), which takes
        // no extra data (null).
        let (ok, sig) = unsafe {
            let mut sig = ffi::recovery::RecoverableSignature::new();
            let ok = ffi::recovery::secp256k1_ecdsa_sign_recoverable(
                secp.ctx().as_ptr(),
                &mut sig,
                message.as_c_ptr(),
                secret.as_c_ptr(),
                None,
                std::ptr::null(),
            );
            (ok, sig)
        };
        // RFC 6979 retries until the nonce is valid, so signing with a valid key cannot fail.
        assert_eq!(ok, 1, "secp256k1_ecdsa_sign_recoverable failed");
        RecoverableSignature::from(sig)
    });
    let (recovery_id, compact) = signature.serialize_compact();
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&compact);
    out[64] = recovery_id.to_u8();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlpx::random_secret_key;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Same outputs as the high-level API, byte for byte, for many keys and messages, on two
    /// threads (two independently blinded contexts).
    #[test]
    fn matches_the_high_level_api() {
        let check = |seed: u64| {
            let mut rng = StdRng::seed_from_u64(seed);
            for _ in 0..500 {
                let secret = random_secret_key(&mut rng);
                assert_eq!(public_key(&secret), PublicKey::from_secret_key(&secret));
                let mut digest = [0u8; 32];
                rng.fill_bytes(&mut digest);
                let expected = RecoverableSignature::sign_ecdsa_recoverable(
                    Message::from_digest(digest),
                    &secret,
                );
                let (id, compact) = expected.serialize_compact();
                let ours = sign_recoverable(&digest, &secret);
                assert_eq!(ours[..64], compact[..]);
                assert_eq!(ours[64], id.to_u8());
            }
        };
        let other = std::thread::spawn(move || check(2));
        check(1);
        other.join().unwrap();
    }
}

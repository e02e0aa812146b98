//! The Keccak-256 sponge that runs under the frame MAC ([`super::mac`]), from one of two backends
//! chosen when the crate is built.
//!
//! Keccak is almost all of the cost of sealing and opening bulk frames (the rlpx benchmark
//! measures it), so the backend is the knob that matters: the feature `asm-keccak` selects
//! `keccak-asm` (OpenSSL's CRYPTOGAMS Keccak-f1600 assembly, which needs a C toolchain to build);
//! without it the pure-Rust `sha3` crate runs everywhere. Both compute the same digests. The
//! handshake's few Keccak calls stay on `sha3` either way: they are not on a hot path.

#[cfg(feature = "asm-keccak")]
use keccak_asm::{Digest, Keccak256};
#[cfg(not(feature = "asm-keccak"))]
use sha3::{Digest, Keccak256};

/// Which Keccak backend this build's frame MAC uses: `"keccak-asm"` or `"sha3"`, so benchmarks
/// and logs can say what they measured.
pub const KECCAK_BACKEND: &str = if cfg!(feature = "asm-keccak") {
    "keccak-asm"
} else {
    "sha3"
};

/// A running Keccak-256 sponge whose digest can be taken without ending it.
#[derive(Clone)]
pub(crate) struct Sponge(Keccak256);

impl Sponge {
    /// An empty sponge.
    pub(crate) fn new() -> Self {
        Sponge(Keccak256::new())
    }

    /// Absorbs `data`.
    pub(crate) fn absorb(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything absorbed so far; the sponge keeps running (a copy is finalized).
    pub(crate) fn digest(&self) -> [u8; 32] {
        self.0.clone().finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keccak-256 of the empty string and of "abc" (the original Keccak padding, not SHA3-256's),
    /// as every Ethereum implementation computes them; and a digest leaves the sponge running.
    #[test]
    fn digests_match_the_keccak256_reference_values() {
        let mut sponge = Sponge::new();
        assert_eq!(
            hex::encode(sponge.digest()),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        sponge.absorb(b"ab");
        sponge.absorb(b"c");
        assert_eq!(
            hex::encode(sponge.digest()),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
        );
        assert_eq!(sponge.digest(), sponge.digest());
    }

    /// Absorbing in pieces across the 136-byte rate gives the one-shot digest of the whole.
    #[test]
    fn split_absorbs_equal_one_absorb_across_block_boundaries() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut whole = Sponge::new();
        whole.absorb(&data);
        for split in [1, 135, 136, 137, 272, 999] {
            let mut pieces = Sponge::new();
            pieces.absorb(&data[..split]);
            let _ = pieces.digest();
            pieces.absorb(&data[split..]);
            assert_eq!(pieces.digest(), whole.digest(), "split at {split}");
        }
        assert_eq!(
            whole.digest(),
            <sha3::Keccak256 as sha3::Digest>::digest(&data).as_slice()
        );
    }
}

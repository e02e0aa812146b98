//! The running Keccak-256 MAC of one direction of an RLPx connection
//! ([rlpx.md, "Framing"](https://github.com/ethereum/devp2p/blob/master/rlpx.md#framing)).
//!
//! Each direction keeps one Keccak-256 sponge that absorbs everything sent that way; the MAC of a
//! header or frame is the first 16 bytes of the sponge's digest after absorbing a "seed" derived
//! with AES-256-ECB(mac-secret). Taking a digest must not finalize the running state, so every
//! digest copies the state first.

use aes::Aes256;
use aes::cipher::{BlockCipherEncrypt, KeyInit};

use super::keccak::Sponge;

/// Length of the header MAC and frame MAC on the wire.
pub const MAC_LEN: usize = 16;

/// One direction's MAC state: the running sponge and the AES-256 key schedule of the mac-secret.
#[derive(Clone)]
pub struct FrameMac {
    sponge: Sponge,
    cipher: Aes256,
    /// `digest[:16]` of the sponge as it stands, while nothing has been absorbed since it was
    /// taken. The frame MAC that ends one frame is exactly the digest the next header MAC starts
    /// from, so caching it saves one of the four Keccak-f permutations per frame.
    digest_prefix: Option<[u8; MAC_LEN]>,
}

impl FrameMac {
    /// Starts the sponge as `keccak256.init((mac-secret ^ nonce) || packet)`, where `packet` is the
    /// auth or ack exactly as sent on the wire (EIP-8 size prefix included).
    pub fn new(mac_secret: &[u8; 32], nonce: &[u8; 32], packet: &[u8]) -> Self {
        let mut sponge = Sponge::new();
        let mut mixed = [0u8; 32];
        for (m, (s, n)) in mixed.iter_mut().zip(mac_secret.iter().zip(nonce)) {
            *m = s ^ n;
        }
        sponge.absorb(&mixed);
        sponge.absorb(packet);
        FrameMac {
            sponge,
            cipher: Aes256::new(mac_secret.into()),
            digest_prefix: None,
        }
    }

    /// Absorbs bytes into the running sponge.
    pub fn update(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.digest_prefix = None;
        }
        self.sponge.absorb(data);
    }

    /// The full 32-byte digest of everything absorbed so far, leaving the state running.
    pub fn digest(&self) -> [u8; 32] {
        self.sponge.digest()
    }

    fn digest_prefix(&mut self) -> [u8; MAC_LEN] {
        if let Some(prefix) = self.digest_prefix {
            return prefix;
        }
        let mut prefix = [0u8; MAC_LEN];
        prefix.copy_from_slice(&self.digest()[..MAC_LEN]);
        self.digest_prefix = Some(prefix);
        prefix
    }

    /// `header-mac-seed = aes(mac-secret, digest[:16]) ^ header-ciphertext`; absorbs it and returns
    /// the header MAC.
    pub fn header_mac(&mut self, header_ciphertext: &[u8; 16]) -> [u8; MAC_LEN] {
        let mut seed = self.digest_prefix();
        self.cipher.encrypt_block((&mut seed).into());
        xor_in_place(&mut seed, header_ciphertext);
        self.update(&seed);
        self.digest_prefix()
    }

    /// Absorbs the frame ciphertext, then `frame-mac-seed = aes(mac-secret, digest[:16]) ^
    /// digest[:16]`, and returns the frame MAC.
    pub fn frame_mac(&mut self, frame_ciphertext: &[u8]) -> [u8; MAC_LEN] {
        self.update(frame_ciphertext);
        let prefix = self.digest_prefix();
        let mut seed = prefix;
        self.cipher.encrypt_block((&mut seed).into());
        xor_in_place(&mut seed, &prefix);
        self.update(&seed);
        self.digest_prefix()
    }
}

fn xor_in_place(target: &mut [u8; 16], other: &[u8; 16]) {
    for (t, o) in target.iter_mut().zip(other) {
        *t ^= o;
    }
}

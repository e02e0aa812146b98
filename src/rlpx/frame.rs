//! The RLPx frame codec: AES-256-CTR encryption and Keccak-256 MACs over framed messages
//! ([rlpx.md, "Framing"](https://github.com/ethereum/devp2p/blob/master/rlpx.md#framing)).
//!
//! On the wire a frame is
//! `header-ciphertext (16) || header-mac (16) || frame-ciphertext (padded to 16) || frame-mac (16)`,
//! where the header is `frame-size (3 bytes, big-endian) || header-data || zero padding`.
//!
//! Sealing and opening work in place on the caller's buffer: the hot path never copies a frame.
//! Sending: reserve [`HEADER_LEN`] bytes, append the frame data, call [`FrameCodec::seal`].
//! Receiving: read [`HEADER_LEN`] bytes into an array, [`FrameCodec::open_header`] says how many
//! bytes to read next, then [`FrameCodec::open_body`] authenticates and decrypts them in place.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};

use super::FrameError;
use super::mac::{FrameMac, MAC_LEN};
use super::secrets::Secrets;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// Header plus header MAC: the fixed-size prefix of every frame.
pub const HEADER_LEN: usize = 32;
/// The largest frame size the 24-bit header field can express.
pub const MAX_FRAME_SIZE: usize = (1 << 24) - 1;
/// `header-data` we send: the RLP list `[capability-id = 0, context-id = 0]`, as go-ethereum
/// sends. Received header-data is ignored (the spec deprecates its fields).
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

fn padded(len: usize) -> usize {
    len.div_ceil(16) * 16
}

fn new_cipher(secrets: &Secrets) -> Aes256Ctr {
    // Both directions use the same key with a zero IV: each side's stream starts at counter 0.
    Aes256Ctr::new((&secrets.aes_secret).into(), (&[0u8; 16]).into())
}

/// The sending half: seals frames with the egress cipher stream and MAC.
pub struct FrameSealer {
    cipher: Aes256Ctr,
    mac: FrameMac,
}

impl FrameSealer {
    /// Seals a frame in place. `buf` must hold [`HEADER_LEN`] reserved bytes followed by the frame
    /// data (at most [`MAX_FRAME_SIZE`] bytes); on return it holds the complete wire frame.
    ///
    /// # Panics
    /// If `buf` is shorter than [`HEADER_LEN`] or the data exceeds [`MAX_FRAME_SIZE`]: both are
    /// bugs in the caller, not conditions of the network.
    pub fn seal(&mut self, buf: &mut Vec<u8>) {
        let size = buf
            .len()
            .checked_sub(HEADER_LEN)
            .expect("buffer lacks the reserved header");
        assert!(
            size <= MAX_FRAME_SIZE,
            "frame of {size} bytes exceeds the 24-bit size field"
        );

        let mut header = [0u8; 16];
        header[..3].copy_from_slice(&(size as u32).to_be_bytes()[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.cipher.apply_keystream(&mut header);
        buf[..16].copy_from_slice(&header);
        buf[16..HEADER_LEN].copy_from_slice(&self.mac.header_mac(&header));

        buf.resize(HEADER_LEN + padded(size), 0);
        let body = &mut buf[HEADER_LEN..];
        self.cipher.apply_keystream(body);
        let frame_mac = self.mac.frame_mac(body);
        buf.extend_from_slice(&frame_mac);
    }
}

/// The receiving half: authenticates and decrypts frames with the ingress stream and MAC.
pub struct FrameOpener {
    cipher: Aes256Ctr,
    mac: FrameMac,
    max_frame_size: usize,
    /// Frame size announced by the last header opened, until its body is opened.
    pending_body: Option<usize>,
}

impl FrameOpener {
    /// The largest frame this opener accepts.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Authenticates and decrypts a frame header. Returns how many bytes follow it on the wire
    /// (padded body plus frame MAC), to be read and passed to [`FrameOpener::open_body`].
    pub fn open_header(&mut self, header: &mut [u8; HEADER_LEN]) -> Result<usize, FrameError> {
        let (ciphertext, mac) = header.split_at_mut(16);
        let ciphertext: &mut [u8; 16] = ciphertext.try_into().expect("16 bytes");
        if !constant_time_eq(&self.mac.header_mac(ciphertext), mac) {
            return Err(FrameError::HeaderMac);
        }
        self.cipher.apply_keystream(ciphertext);
        let size = u32::from_be_bytes([0, ciphertext[0], ciphertext[1], ciphertext[2]]) as usize;
        if size > self.max_frame_size {
            return Err(FrameError::FrameTooLarge {
                size,
                limit: self.max_frame_size,
            });
        }
        self.pending_body = Some(size);
        Ok(padded(size) + MAC_LEN)
    }

    /// Authenticates and decrypts, in place, the body announced by the last
    /// [`FrameOpener::open_header`]. Returns the frame data: the body without padding and MAC.
    ///
    /// # Panics
    /// If no header was opened since the last body: a bug in the caller.
    pub fn open_body<'a>(&mut self, body: &'a mut [u8]) -> Result<&'a mut [u8], FrameError> {
        let size = self
            .pending_body
            .take()
            .expect("open_body called without open_header");
        let expected = padded(size) + MAC_LEN;
        if body.len() != expected {
            return Err(FrameError::BodyLength {
                expected,
                actual: body.len(),
            });
        }
        let (ciphertext, mac) = body.split_at_mut(padded(size));
        if !constant_time_eq(&self.mac.frame_mac(ciphertext), mac) {
            return Err(FrameError::BodyMac);
        }
        self.cipher.apply_keystream(ciphertext);
        Ok(&mut ciphertext[..size])
    }
}

/// Encrypts and authenticates frames in both directions of one connection.
pub struct FrameCodec {
    sealer: FrameSealer,
    opener: FrameOpener,
}

impl FrameCodec {
    /// Builds the codec from the handshake's secrets. `max_frame_size` bounds the frames we accept
    /// (headers announcing more are rejected before any body byte is read); it is clamped to
    /// [`MAX_FRAME_SIZE`].
    pub fn new(secrets: Secrets, max_frame_size: usize) -> Self {
        FrameCodec {
            sealer: FrameSealer {
                cipher: new_cipher(&secrets),
                mac: secrets.egress_mac.clone(),
            },
            opener: FrameOpener {
                cipher: new_cipher(&secrets),
                mac: secrets.ingress_mac.clone(),
                max_frame_size: max_frame_size.min(MAX_FRAME_SIZE),
                pending_body: None,
            },
        }
    }

    /// The two halves, for a reader and a writer that run independently.
    pub fn split(self) -> (FrameSealer, FrameOpener) {
        (self.sealer, self.opener)
    }

    /// The largest frame this codec accepts.
    pub fn max_frame_size(&self) -> usize {
        self.opener.max_frame_size
    }

    /// See [`FrameSealer::seal`].
    pub fn seal(&mut self, buf: &mut Vec<u8>) {
        self.sealer.seal(buf)
    }

    /// See [`FrameOpener::open_header`].
    pub fn open_header(&mut self, header: &mut [u8; HEADER_LEN]) -> Result<usize, FrameError> {
        self.opener.open_header(header)
    }

    /// See [`FrameOpener::open_body`].
    pub fn open_body<'a>(&mut self, body: &'a mut [u8]) -> Result<&'a mut [u8], FrameError> {
        self.opener.open_body(body)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

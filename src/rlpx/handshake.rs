//! The RLPx handshake as typestate machines consumed by value
//! ([rlpx.md, "Initial Handshake"](https://github.com/ethereum/devp2p/blob/master/rlpx.md#initial-handshake),
//! [EIP-8](https://eips.ethereum.org/EIPS/eip-8)).
//!
//! ```text
//! Initiator --write_auth--> AwaitingAck --read_ack--> Established
//! Recipient --read_auth---> AuthReceived --write_ack--> Established
//! ```
//!
//! Keys, ephemeral keys and nonces are injected (or drawn from the RNG the caller passes), so a
//! test can reproduce a handshake byte for byte. Nothing here touches a socket: the driver reads
//! bytes until [`Recipient::packet_len`] / [`AwaitingAck::packet_len`] says a packet is complete.
//!
//! We send EIP-8 packets (RLP body, size prefix, random padding) and accept both EIP-8 and the
//! pre-EIP-8 fixed layout. A recipient answers in the format the auth came in.

use rand_core::CryptoRng;
use rlp::{Rlp, RlpStream};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey};
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use super::HandshakeError;
use super::ecies;
use super::frame::FrameCodec;
use super::keys::{NodeKey, PeerId, WipedKey, ecdh_x, random_secret_key};
use super::secp;
use super::secrets::{Role, Secrets};

/// Largest auth or ack packet we accept, size prefix included.
pub const MAX_HANDSHAKE_PACKET: usize = 2048;
/// Version number we put in auth and ack bodies.
pub const HANDSHAKE_VERSION: u64 = 4;
/// Random padding appended to EIP-8 bodies, in bytes (inclusive range). Padding makes EIP-8
/// packets distinguishable from the fixed-size legacy ones, and ethereumjs ignores an auth shorter
/// than 307 bytes, which the minimum here keeps clear of.
pub const PADDING_RANGE: (usize, usize) = (100, 250);

/// Pre-EIP-8 auth: `sig (65) || keccak256(ephemeral-pubk) (32) || pubk (64) || nonce (32) || 0x00`.
const LEGACY_AUTH_BODY: usize = 194;
/// Pre-EIP-8 ack: `ephemeral-pubk (64) || nonce (32) || 0x00`.
const LEGACY_ACK_BODY: usize = 97;
const LEGACY_AUTH_LEN: usize = LEGACY_AUTH_BODY + ecies::OVERHEAD;
const LEGACY_ACK_LEN: usize = LEGACY_ACK_BODY + ecies::OVERHEAD;

/// Which wire layout a handshake packet used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketFormat {
    /// EIP-8: 2-byte size prefix, RLP body, random padding.
    Eip8,
    /// The original fixed-size layout.
    Legacy,
}

/// What the driver should do with the bytes it has read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketLen {
    /// Read until the buffer holds at least this many bytes, then ask again.
    NeedMore(usize),
    /// The first this-many bytes are the packet; anything after belongs to the frames.
    Complete(usize),
}

fn packet_len(key: &SecretKey, buf: &[u8], legacy_len: usize) -> Result<PacketLen, HandshakeError> {
    if buf.len() < 2 {
        return Ok(PacketLen::NeedMore(2));
    }
    // A legacy packet starts with the 0x04 of the ECIES ephemeral key; an EIP-8 packet whose size
    // happens to start with 0x04 (1024..=1279 bytes) is longer than any legacy one, so read the
    // legacy length and let the MAC decide.
    if buf[0] == 0x04 {
        if buf.len() < legacy_len {
            return Ok(PacketLen::NeedMore(legacy_len));
        }
        if ecies::decrypt(key, &buf[..legacy_len], &[]).is_ok() {
            return Ok(PacketLen::Complete(legacy_len));
        }
    }
    let total = 2 + usize::from(u16::from_be_bytes([buf[0], buf[1]]));
    if total > MAX_HANDSHAKE_PACKET {
        return Err(HandshakeError::PacketTooLarge {
            size: total,
            limit: MAX_HANDSHAKE_PACKET,
        });
    }
    Ok(if buf.len() < total {
        PacketLen::NeedMore(total)
    } else {
        PacketLen::Complete(total)
    })
}

/// Decrypts a complete packet in either format, returning the plaintext body.
fn open_packet(
    key: &SecretKey,
    packet: &[u8],
    legacy_len: usize,
) -> Result<(Zeroizing<Vec<u8>>, PacketFormat), HandshakeError> {
    if packet.len() > MAX_HANDSHAKE_PACKET {
        return Err(HandshakeError::PacketTooLarge {
            size: packet.len(),
            limit: MAX_HANDSHAKE_PACKET,
        });
    }
    if packet.len() == legacy_len && packet[0] == 0x04 {
        if let Ok(body) = ecies::decrypt(key, packet, &[]) {
            return Ok((body, PacketFormat::Legacy));
        }
    }
    let (prefix, envelope) = packet
        .split_at_checked(2)
        .ok_or(HandshakeError::Truncated)?;
    let size = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
    if envelope.len() < size {
        return Err(HandshakeError::Truncated);
    }
    if envelope.len() > size {
        // The driver hands us exactly one packet; extra bytes mean a framing bug or garbage.
        return Err(HandshakeError::InvalidBody);
    }
    Ok((ecies::decrypt(key, envelope, prefix)?, PacketFormat::Eip8))
}

/// Seals `body` as an EIP-8 packet: size prefix, then ECIES over body plus random padding.
fn seal_eip8<R: CryptoRng + ?Sized>(rng: &mut R, remote: &PublicKey, body: &[u8]) -> Vec<u8> {
    let (low, high) = PADDING_RANGE;
    let padding_len = low + (rng.next_u32() as usize) % (high - low + 1);
    let mut plaintext = Zeroizing::new(Vec::with_capacity(body.len() + padding_len));
    plaintext.extend_from_slice(body);
    plaintext.resize(body.len() + padding_len, 0);
    rng.fill_bytes(&mut plaintext[body.len()..]);

    let size = u16::try_from(plaintext.len() + ecies::OVERHEAD).expect("bodies are small");
    let mut packet = Vec::with_capacity(2 + usize::from(size));
    packet.extend_from_slice(&size.to_be_bytes());
    ecies::encrypt(rng, remote, &plaintext, &size.to_be_bytes(), &mut packet);
    packet
}

fn seal_legacy<R: CryptoRng + ?Sized>(rng: &mut R, remote: &PublicKey, body: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(body.len() + ecies::OVERHEAD);
    ecies::encrypt(rng, remote, body, &[], &mut packet);
    packet
}

/// The first RLP item of an EIP-8 body (the list), without the padding after it.
fn rlp_list(body: &[u8]) -> Result<Rlp<'_>, HandshakeError> {
    let item = Rlp::new(body);
    let info = item
        .payload_info()
        .map_err(|_| HandshakeError::InvalidBody)?;
    let end = info.header_len + info.value_len;
    let list = Rlp::new(body.get(..end).ok_or(HandshakeError::Truncated)?);
    if !list.is_list() {
        return Err(HandshakeError::InvalidBody);
    }
    Ok(list)
}

/// The `index`-th element of `list` as exactly `N` bytes.
fn fixed<const N: usize>(list: &Rlp<'_>, index: usize) -> Result<[u8; N], HandshakeError> {
    let item = list.at(index).map_err(|_| HandshakeError::InvalidBody)?;
    let data = item.data().map_err(|_| HandshakeError::InvalidBody)?;
    data.try_into().map_err(|_| HandshakeError::InvalidBody)
}

/// The version element: any unsigned integer is accepted (EIP-8: higher versions are fine).
fn version(list: &Rlp<'_>, index: usize) -> Result<u64, HandshakeError> {
    list.val_at::<u64>(index)
        .map_err(|_| HandshakeError::InvalidBody)
}

fn take<const N: usize>(bytes: &mut &[u8]) -> [u8; N] {
    let (head, tail) = bytes.split_at(N);
    *bytes = tail;
    head.try_into().expect("split at N")
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// The contents of an auth message after decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthBody {
    /// Recoverable signature of `static-shared-secret ^ nonce` by the initiator's ephemeral key.
    pub signature: [u8; 65],
    /// The initiator's static public key.
    pub initiator_id: PeerId,
    /// The initiator's nonce.
    pub nonce: [u8; 32],
    /// Handshake version the initiator announced (4 today; legacy packets carry none).
    pub version: u64,
    /// Layout the packet used.
    pub format: PacketFormat,
}

/// The contents of an ack message after decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckBody {
    /// The recipient's ephemeral public key.
    pub ephemeral_id: PeerId,
    /// The recipient's nonce.
    pub nonce: [u8; 32],
    /// Handshake version the recipient announced.
    pub version: u64,
    /// Layout the packet used.
    pub format: PacketFormat,
}

/// Decrypts and parses a complete auth packet with the recipient's static key. Exposed for
/// fuzzing and test vectors; [`Recipient::read_auth`] is the normal path.
pub fn decode_auth(key: &SecretKey, packet: &[u8]) -> Result<AuthBody, HandshakeError> {
    let (body, format) = open_packet(key, packet, LEGACY_AUTH_LEN)?;
    match format {
        PacketFormat::Legacy => {
            let mut rest = &body[..];
            let signature = take::<65>(&mut rest);
            let _ephemeral_hash = take::<32>(&mut rest);
            let initiator_id = PeerId(take::<64>(&mut rest));
            let nonce = take::<32>(&mut rest);
            Ok(AuthBody {
                signature,
                initiator_id,
                nonce,
                version: HANDSHAKE_VERSION,
                format,
            })
        }
        PacketFormat::Eip8 => {
            let list = rlp_list(&body)?;
            Ok(AuthBody {
                signature: fixed::<65>(&list, 0)?,
                initiator_id: PeerId(fixed::<64>(&list, 1)?),
                nonce: fixed::<32>(&list, 2)?,
                version: version(&list, 3)?,
                format,
            })
        }
    }
}

/// Decrypts and parses a complete ack packet with the initiator's static key. Exposed for
/// fuzzing and test vectors; [`AwaitingAck::read_ack`] is the normal path.
pub fn decode_ack(key: &SecretKey, packet: &[u8]) -> Result<AckBody, HandshakeError> {
    let (body, format) = open_packet(key, packet, LEGACY_ACK_LEN)?;
    match format {
        PacketFormat::Legacy => {
            let mut rest = &body[..];
            let ephemeral_id = PeerId(take::<64>(&mut rest));
            let nonce = take::<32>(&mut rest);
            Ok(AckBody {
                ephemeral_id,
                nonce,
                version: HANDSHAKE_VERSION,
                format,
            })
        }
        PacketFormat::Eip8 => {
            let list = rlp_list(&body)?;
            Ok(AckBody {
                ephemeral_id: PeerId(fixed::<64>(&list, 0)?),
                nonce: fixed::<32>(&list, 1)?,
                version: version(&list, 2)?,
                format,
            })
        }
    }
}

/// The outcome of a handshake: who the remote is and the secrets to frame with.
pub struct Established {
    /// The remote's static public key, authenticated by the handshake.
    pub remote_id: PeerId,
    /// The derived connection secrets.
    pub secrets: Secrets,
}

impl Established {
    /// The frame codec for this connection, accepting frames up to `max_frame_size` bytes.
    pub fn into_codec(self, max_frame_size: usize) -> FrameCodec {
        FrameCodec::new(self.secrets, max_frame_size)
    }
}

/// The dialing side before it has sent auth.
pub struct Initiator {
    static_key: NodeKey,
    remote: PublicKey,
    ephemeral: WipedKey,
    nonce: [u8; 32],
}

impl Initiator {
    /// An initiator with the given ephemeral key and nonce (reproducible handshakes).
    ///
    /// `static_key` is a [`NodeKey`] (or a `SecretKey`, whose public key is then derived here:
    /// pass a `NodeKey` built once to save that on every dial).
    pub fn new(
        static_key: impl Into<NodeKey>,
        remote: PublicKey,
        ephemeral: SecretKey,
        nonce: [u8; 32],
    ) -> Self {
        Initiator {
            static_key: static_key.into(),
            remote,
            ephemeral: WipedKey(ephemeral),
            nonce,
        }
    }

    /// An initiator with an ephemeral key and nonce drawn from `rng`.
    pub fn random<R: CryptoRng + ?Sized>(
        static_key: impl Into<NodeKey>,
        remote: PublicKey,
        rng: &mut R,
    ) -> Self {
        let ephemeral = random_secret_key(rng);
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        Self::new(static_key, remote, ephemeral, nonce)
    }

    fn signature(&self) -> [u8; 65] {
        let static_shared = Zeroizing::new(ecdh_x(&self.remote, self.static_key.secret()));
        let digest = Zeroizing::new(xor32(&static_shared, &self.nonce));
        secp::sign_recoverable(&digest, &self.ephemeral.0)
    }

    /// Writes the auth packet in EIP-8 format. The returned bytes go on the wire as they are.
    pub fn write_auth<R: CryptoRng + ?Sized>(self, rng: &mut R) -> (AwaitingAck, Vec<u8>) {
        let mut body = RlpStream::new_list(4);
        body.append(&self.signature().as_slice());
        body.append(&self.static_key.id().0.as_slice());
        body.append(&self.nonce.as_slice());
        body.append(&HANDSHAKE_VERSION);
        let packet = seal_eip8(rng, &self.remote, &body.out());
        self.sent(packet)
    }

    /// Writes the auth packet in the pre-EIP-8 layout. Only for testing peers that still accept
    /// it; go-ethereum, reth and ethereumjs do not.
    pub fn write_auth_legacy<R: CryptoRng + ?Sized>(self, rng: &mut R) -> (AwaitingAck, Vec<u8>) {
        let ephemeral_public = PeerId::from_public_key(&secp::public_key(&self.ephemeral.0));
        let mut body = Vec::with_capacity(LEGACY_AUTH_BODY);
        body.extend_from_slice(&self.signature());
        body.extend_from_slice(&Keccak256::digest(ephemeral_public.0));
        body.extend_from_slice(&self.static_key.id().0);
        body.extend_from_slice(&self.nonce);
        body.push(0);
        let packet = seal_legacy(rng, &self.remote, &body);
        self.sent(packet)
    }

    fn sent(self, auth: Vec<u8>) -> (AwaitingAck, Vec<u8>) {
        let state = AwaitingAck {
            initiator: self,
            auth: auth.clone(),
        };
        (state, auth)
    }
}

/// The dialing side after sending auth: it can only take an ack.
pub struct AwaitingAck {
    initiator: Initiator,
    auth: Vec<u8>,
}

impl AwaitingAck {
    /// Given the bytes read so far, how long the ack packet is.
    pub fn packet_len(&self, buf: &[u8]) -> Result<PacketLen, HandshakeError> {
        packet_len(self.initiator.static_key.secret(), buf, LEGACY_ACK_LEN)
    }

    /// Reads the complete ack packet and derives the connection secrets.
    pub fn read_ack(self, packet: &[u8]) -> Result<Established, HandshakeError> {
        let ack = decode_ack(self.initiator.static_key.secret(), packet)?;
        let remote_ephemeral = ack
            .ephemeral_id
            .to_public_key()
            .ok_or(HandshakeError::InvalidPublicKey)?;
        let shared = Zeroizing::new(ecdh_x(&remote_ephemeral, &self.initiator.ephemeral.0));
        let secrets = Secrets::derive(
            Role::Initiator,
            &shared,
            &self.initiator.nonce,
            &ack.nonce,
            &self.auth,
            packet,
        );
        Ok(Established {
            remote_id: PeerId::from_public_key(&self.initiator.remote),
            secrets,
        })
    }
}

/// The listening side before it has read auth.
pub struct Recipient {
    static_key: WipedKey,
    ephemeral: WipedKey,
    nonce: [u8; 32],
}

impl Recipient {
    /// A recipient with the given ephemeral key and nonce (reproducible handshakes).
    pub fn new(static_key: SecretKey, ephemeral: SecretKey, nonce: [u8; 32]) -> Self {
        Recipient {
            static_key: WipedKey(static_key),
            ephemeral: WipedKey(ephemeral),
            nonce,
        }
    }

    /// A recipient with an ephemeral key and nonce drawn from `rng`.
    pub fn random<R: CryptoRng + ?Sized>(static_key: SecretKey, rng: &mut R) -> Self {
        let ephemeral = random_secret_key(rng);
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        Self::new(static_key, ephemeral, nonce)
    }

    /// Given the bytes read so far, how long the auth packet is.
    pub fn packet_len(&self, buf: &[u8]) -> Result<PacketLen, HandshakeError> {
        packet_len(&self.static_key.0, buf, LEGACY_AUTH_LEN)
    }

    /// Reads the complete auth packet and authenticates the initiator's ephemeral key.
    pub fn read_auth(self, packet: &[u8]) -> Result<AuthReceived, HandshakeError> {
        let auth = decode_auth(&self.static_key.0, packet)?;
        let initiator = auth
            .initiator_id
            .to_public_key()
            .ok_or(HandshakeError::InvalidPublicKey)?;
        let static_shared = ecdh_x(&initiator, &self.static_key.0);
        let digest = xor32(&static_shared, &auth.nonce);
        let recovery_id = RecoveryId::try_from(i32::from(auth.signature[64]))
            .map_err(|_| HandshakeError::InvalidSignature)?;
        let remote_ephemeral =
            RecoverableSignature::from_compact(&auth.signature[..64], recovery_id)
                .and_then(|signature| signature.recover_ecdsa(Message::from_digest(digest)))
                .map_err(|_| HandshakeError::InvalidSignature)?;
        Ok(AuthReceived {
            recipient: self,
            remote_id: auth.initiator_id,
            remote_ephemeral,
            remote_nonce: auth.nonce,
            format: auth.format,
            auth: packet.to_vec(),
        })
    }
}

/// The listening side after a valid auth: it knows who is dialing and must answer with ack.
pub struct AuthReceived {
    recipient: Recipient,
    remote_id: PeerId,
    remote_ephemeral: PublicKey,
    remote_nonce: [u8; 32],
    format: PacketFormat,
    auth: Vec<u8>,
}

impl AuthReceived {
    /// The initiator's static identity. Checking it (self-dial, already connected, not allowed)
    /// before answering saves the ack for peers we will drop anyway.
    pub fn remote_id(&self) -> PeerId {
        self.remote_id
    }

    /// Layout of the auth packet; the ack uses the same one.
    pub fn format(&self) -> PacketFormat {
        self.format
    }

    /// Writes the ack packet and derives the connection secrets.
    pub fn write_ack<R: CryptoRng + ?Sized>(self, rng: &mut R) -> (Established, Vec<u8>) {
        let recipient = &self.recipient;
        let ephemeral_id = PeerId::from_public_key(&secp::public_key(&recipient.ephemeral.0));
        let remote = self
            .remote_id
            .to_public_key()
            .expect("checked in read_auth");
        let ack = match self.format {
            PacketFormat::Eip8 => {
                let mut body = RlpStream::new_list(3);
                body.append(&ephemeral_id.0.as_slice());
                body.append(&recipient.nonce.as_slice());
                body.append(&HANDSHAKE_VERSION);
                seal_eip8(rng, &remote, &body.out())
            }
            PacketFormat::Legacy => {
                let mut body = Vec::with_capacity(LEGACY_ACK_BODY);
                body.extend_from_slice(&ephemeral_id.0);
                body.extend_from_slice(&recipient.nonce);
                body.push(0);
                seal_legacy(rng, &remote, &body)
            }
        };
        let shared = Zeroizing::new(ecdh_x(&self.remote_ephemeral, &recipient.ephemeral.0));
        let secrets = Secrets::derive(
            Role::Recipient,
            &shared,
            &self.remote_nonce,
            &recipient.nonce,
            &self.auth,
            &ack,
        );
        (
            Established {
                remote_id: self.remote_id,
                secrets,
            },
            ack,
        )
    }
}

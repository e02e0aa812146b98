//! The discv5.1 packet: masking IV, masked header, message
//! ([discv5-wire.md, "Packet Encoding"](https://github.com/ethereum/devp2p/blob/master/discv5/discv5-wire.md#packet-encoding)).
//!
//! ```text
//! packet        = masking-iv || masked-header || message
//! masked-header = aesctr_encrypt(masking-key = dest-id[:16], masking-iv, header)
//! header        = static-header || authdata
//! static-header = "discv5" || version (0x0001) || flag || nonce (12) || authdata-size (2)
//! ```
//!
//! This module reads and writes that frame: it unmasks a received packet with the local node
//! id and splits its authdata by flag, and it writes a header, encrypts the message with the
//! unmasked header as associated data, then masks. Sessions and handshakes are the
//! [`Codec`](super::Codec)'s business.

use aes::Aes128;
use ctr::cipher::{KeyIvInit, StreamCipher};

use super::crypto::{self, AesKey, Nonce, TAG_SIZE};
use crate::NodeId;

type Aes128Ctr = ctr::Ctr128BE<Aes128>;

/// The protocol id at the start of every static header.
pub const PROTOCOL_ID: [u8; 6] = *b"discv5";
/// The header version this crate writes (v5.1).
pub const VERSION: u16 = 1;
/// The size of the masking IV.
pub const MASKING_IV_SIZE: usize = 16;
/// The size of the static header: protocol id, version, flag, nonce, authdata size.
pub const STATIC_HEADER_SIZE: usize = 6 + 2 + 1 + 12 + 2;
/// The smallest packet the spec allows.
pub const MIN_PACKET_SIZE: usize = 63;
/// The largest packet the spec allows; larger ones are neither sent nor read.
pub const MAX_PACKET_SIZE: usize = 1280;
/// The least a message or handshake packet carries after its static header: at least a 32-byte
/// source id and a 16-byte tag (go-ethereum's `minMessageSize`).
pub const MIN_MESSAGE_SIZE: usize = 48;
/// The authdata of a message packet: the source node id.
pub const MESSAGE_AUTHDATA_SIZE: usize = 32;
/// The authdata of a WHOAREYOU packet: id-nonce and enr-seq.
pub const WHOAREYOU_AUTHDATA_SIZE: usize = 16 + 8;
/// The fixed part of a handshake's authdata: source id, sig-size, eph-key-size.
pub const HANDSHAKE_AUTHDATA_HEAD_SIZE: usize = 32 + 1 + 1;
/// The size of a WHOAREYOU packet, which is also the size of its challenge data.
pub const WHOAREYOU_PACKET_SIZE: usize =
    MASKING_IV_SIZE + STATIC_HEADER_SIZE + WHOAREYOU_AUTHDATA_SIZE;

/// The 16-byte random IV of the header masking.
pub type MaskingIv = [u8; 16];

/// The unmasked WHOAREYOU packet (`masking-iv || static-header || authdata`): the input of the
/// handshake's key derivation and id-signature.
pub type ChallengeData = [u8; WHOAREYOU_PACKET_SIZE];

/// What kind of packet this is (the header's `flag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// An ordinary message packet, encrypted with session keys.
    Message = 0,
    /// A WHOAREYOU challenge: no message, sent to a node whose packet could not be decrypted.
    Whoareyou = 1,
    /// A handshake message packet: the answer to WHOAREYOU, establishing new session keys.
    Handshake = 2,
}

/// Why a datagram is not a discv5 packet addressed to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Below the 63-byte minimum.
    #[error("packet of {0} bytes is below the 63-byte minimum")]
    TooShort(usize),
    /// Above the 1280-byte maximum.
    #[error("packet of {0} bytes exceeds the 1280-byte maximum")]
    TooLarge(usize),
    /// The unmasked header does not start with "discv5": not discv5, or not for this node id.
    #[error("header protocol id is not \"discv5\"")]
    InvalidProtocolId,
    /// A header version below 1.
    #[error("header version {0} is not supported")]
    UnsupportedVersion(u16),
    /// A flag other than 0, 1 and 2.
    #[error("unknown packet flag {0}")]
    UnknownFlag(u8),
    /// A message or handshake packet with fewer than 48 bytes after the static header.
    #[error("message packet too short")]
    MessageTooShort,
    /// The authdata size reaches past the end of the packet.
    #[error("authdata size {0} reaches past the end of the packet")]
    AuthdataBeyondPacket(u16),
    /// The authdata size does not fit the packet kind.
    #[error("authdata size {size} is wrong for a {flag:?} packet")]
    InvalidAuthdataSize {
        /// The packet kind.
        flag: Flag,
        /// The size in the header.
        size: u16,
    },
    /// A handshake's signature and ephemeral key sizes reach past its authdata.
    #[error("handshake signature and key sizes exceed the authdata")]
    HandshakeSizesBeyondAuthdata,
    /// A WHOAREYOU packet with bytes after its header.
    #[error("WHOAREYOU packet carries a message")]
    WhoareyouWithMessage,
}

/// A received packet with its header unmasked, borrowed from the buffer it was unmasked into.
#[derive(Debug, Clone, Copy)]
pub struct Unmasked<'a> {
    /// The header's nonce: the message's AES-GCM nonce, or in WHOAREYOU the nonce of the packet
    /// it answers.
    pub nonce: Nonce,
    /// The authdata, split by packet kind.
    pub auth: AuthData<'a>,
    /// `masking-iv || header`, unmasked: the associated data of the message (for WHOAREYOU,
    /// the challenge data).
    pub header: &'a [u8],
    /// The encrypted message (empty in WHOAREYOU).
    pub message: &'a [u8],
}

/// The authdata of a packet, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthData<'a> {
    /// Message packet: the sender's node id.
    Message {
        /// The sender.
        src: NodeId,
    },
    /// WHOAREYOU: the challenge.
    Whoareyou {
        /// Random bytes the handshake's id-signature covers.
        id_nonce: [u8; 16],
        /// The sequence number of the challenged node's record that the challenger knows
        /// (0 if it knows none).
        enr_seq: u64,
    },
    /// Handshake packet.
    Handshake(HandshakeAuth<'a>),
}

/// The authdata of a handshake packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeAuth<'a> {
    /// The sender.
    pub src: NodeId,
    /// The id-signature (64 bytes in the "v4" scheme).
    pub id_signature: &'a [u8],
    /// The ephemeral public key (33 bytes, compressed, in the "v4" scheme).
    pub ephemeral_key: &'a [u8],
    /// The sender's record (RLP), or empty.
    pub record: &'a [u8],
}

/// The AES-CTR keystream that masks headers sent to `dest`.
fn masking_cipher(dest: &NodeId, iv: &MaskingIv) -> Aes128Ctr {
    let key: &[u8; 16] = dest.0[..16].try_into().expect("16 of 32 bytes");
    Aes128Ctr::new(key.into(), iv.into())
}

/// Unmasks `packet`, addressed to `local_id`, into `buf` and checks its header: sizes, protocol
/// id, version, flag and the authdata layout of that flag. Nothing is decrypted.
pub fn unmask<'a>(
    local_id: &NodeId,
    packet: &[u8],
    buf: &'a mut [u8; MAX_PACKET_SIZE],
) -> Result<Unmasked<'a>, PacketError> {
    if packet.len() < MIN_PACKET_SIZE {
        return Err(PacketError::TooShort(packet.len()));
    }
    if packet.len() > MAX_PACKET_SIZE {
        return Err(PacketError::TooLarge(packet.len()));
    }
    let buf = &mut buf[..packet.len()];
    buf.copy_from_slice(packet);
    let iv: MaskingIv = buf[..MASKING_IV_SIZE].try_into().expect("16 bytes");
    let mut mask = masking_cipher(local_id, &iv);
    let static_end = MASKING_IV_SIZE + STATIC_HEADER_SIZE;
    mask.apply_keystream(&mut buf[MASKING_IV_SIZE..static_end]);

    let header = &buf[MASKING_IV_SIZE..static_end];
    if header[..6] != PROTOCOL_ID {
        return Err(PacketError::InvalidProtocolId);
    }
    let version = u16::from_be_bytes([header[6], header[7]]);
    if version < VERSION {
        return Err(PacketError::UnsupportedVersion(version));
    }
    let flag = match header[8] {
        0 => Flag::Message,
        1 => Flag::Whoareyou,
        2 => Flag::Handshake,
        other => return Err(PacketError::UnknownFlag(other)),
    };
    let nonce: Nonce = header[9..21].try_into().expect("12 bytes");
    let authdata_size = u16::from_be_bytes([header[21], header[22]]);
    let remaining = packet.len() - static_end;
    if flag != Flag::Whoareyou && remaining < MIN_MESSAGE_SIZE {
        return Err(PacketError::MessageTooShort);
    }
    if usize::from(authdata_size) > remaining {
        return Err(PacketError::AuthdataBeyondPacket(authdata_size));
    }
    let header_end = static_end + usize::from(authdata_size);
    mask.apply_keystream(&mut buf[static_end..header_end]);

    let buf: &'a [u8] = buf;
    let authdata = &buf[static_end..header_end];
    let wrong_size = PacketError::InvalidAuthdataSize {
        flag,
        size: authdata_size,
    };
    let auth = match flag {
        Flag::Message => AuthData::Message {
            src: NodeId(authdata.try_into().map_err(|_| wrong_size)?),
        },
        Flag::Whoareyou => {
            if authdata.len() != WHOAREYOU_AUTHDATA_SIZE {
                return Err(wrong_size);
            }
            if header_end != packet.len() {
                return Err(PacketError::WhoareyouWithMessage);
            }
            AuthData::Whoareyou {
                id_nonce: authdata[..16].try_into().expect("16 bytes"),
                enr_seq: u64::from_be_bytes(authdata[16..].try_into().expect("8 bytes")),
            }
        }
        Flag::Handshake => {
            if authdata.len() < HANDSHAKE_AUTHDATA_HEAD_SIZE {
                return Err(wrong_size);
            }
            let src = NodeId(authdata[..32].try_into().expect("32 bytes"));
            let sig_size = usize::from(authdata[32]);
            let key_size = usize::from(authdata[33]);
            let rest = &authdata[HANDSHAKE_AUTHDATA_HEAD_SIZE..];
            if rest.len() < sig_size + key_size {
                return Err(PacketError::HandshakeSizesBeyondAuthdata);
            }
            let (id_signature, rest) = rest.split_at(sig_size);
            let (ephemeral_key, record) = rest.split_at(key_size);
            AuthData::Handshake(HandshakeAuth {
                src,
                id_signature,
                ephemeral_key,
                record,
            })
        }
    };
    Ok(Unmasked {
        nonce,
        auth,
        header: &buf[..header_end],
        message: &buf[header_end..],
    })
}

/// The body of a packet being written.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// No message (WHOAREYOU).
    Empty,
    /// Bytes sent as they are: the random "message" that starts a handshake.
    Raw(&'a [u8]),
    /// A message plaintext (`message-type || message-data`), encrypted with `key` and the
    /// header's nonce.
    Encrypted {
        /// The session's write key.
        key: &'a AesKey,
        /// The plaintext.
        plaintext: &'a [u8],
    },
}

impl Body<'_> {
    fn len(&self) -> usize {
        match self {
            Body::Empty => 0,
            Body::Raw(bytes) => bytes.len(),
            Body::Encrypted { plaintext, .. } => plaintext.len() + TAG_SIZE,
        }
    }
}

/// A packet would exceed [`MAX_PACKET_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("packet of {0} bytes would exceed the 1280-byte maximum")]
pub struct PacketTooLarge(pub usize);

/// Writes a packet to `dest`: `iv`, the header of `flag` with `nonce` and `authdata`, the body
/// (encrypted with the unmasked header as associated data), then masks the header.
///
/// Returns the packet and the unmasked header (for WHOAREYOU, its challenge data).
pub fn encode(
    dest: &NodeId,
    iv: &MaskingIv,
    flag: Flag,
    nonce: &Nonce,
    authdata: &[u8],
    body: Body<'_>,
) -> Result<(Vec<u8>, Vec<u8>), PacketTooLarge> {
    let header_len = MASKING_IV_SIZE + STATIC_HEADER_SIZE + authdata.len();
    let total = header_len + body.len();
    let authdata_size = u16::try_from(authdata.len()).map_err(|_| PacketTooLarge(total))?;
    if total > MAX_PACKET_SIZE {
        return Err(PacketTooLarge(total));
    }
    let mut packet = Vec::with_capacity(total);
    packet.extend_from_slice(iv);
    packet.extend_from_slice(&PROTOCOL_ID);
    packet.extend_from_slice(&VERSION.to_be_bytes());
    packet.push(flag as u8);
    packet.extend_from_slice(nonce);
    packet.extend_from_slice(&authdata_size.to_be_bytes());
    packet.extend_from_slice(authdata);
    let header = packet.clone();
    match body {
        Body::Empty => {}
        Body::Raw(bytes) => packet.extend_from_slice(bytes),
        Body::Encrypted { key, plaintext } => {
            crypto::encrypt(key, nonce, plaintext, &header, &mut packet);
        }
    }
    masking_cipher(dest, iv).apply_keystream(&mut packet[MASKING_IV_SIZE..header_len]);
    Ok((packet, header))
}

/// The authdata of a WHOAREYOU packet.
pub fn whoareyou_authdata(id_nonce: &[u8; 16], enr_seq: u64) -> [u8; WHOAREYOU_AUTHDATA_SIZE] {
    let mut authdata = [0u8; WHOAREYOU_AUTHDATA_SIZE];
    authdata[..16].copy_from_slice(id_nonce);
    authdata[16..].copy_from_slice(&enr_seq.to_be_bytes());
    authdata
}

/// The authdata of a handshake packet ("v4" scheme: 64-byte signature, 33-byte key).
pub fn handshake_authdata(
    src: &NodeId,
    id_signature: &[u8; 64],
    ephemeral_key: &[u8; 33],
    record: &[u8],
) -> Vec<u8> {
    let mut authdata = Vec::with_capacity(HANDSHAKE_AUTHDATA_HEAD_SIZE + 64 + 33 + record.len());
    authdata.extend_from_slice(&src.0);
    authdata.push(64);
    authdata.push(33);
    authdata.extend_from_slice(id_signature);
    authdata.extend_from_slice(ephemeral_key);
    authdata.extend_from_slice(record);
    authdata
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEST: NodeId = NodeId([0xbb; 32]);

    fn message_packet() -> Vec<u8> {
        encode(
            &DEST,
            &[1; 16],
            Flag::Message,
            &[2; 12],
            &[0xaa; 32],
            Body::Encrypted {
                key: &[3; 16],
                plaintext: b"\x01\xc2\x01\x02",
            },
        )
        .unwrap()
        .0
    }

    #[test]
    fn round_trip() {
        let packet = message_packet();
        let mut buf = [0u8; MAX_PACKET_SIZE];
        let unmasked = unmask(&DEST, &packet, &mut buf).unwrap();
        assert_eq!(unmasked.nonce, [2; 12]);
        assert_eq!(
            unmasked.auth,
            AuthData::Message {
                src: NodeId([0xaa; 32])
            }
        );
        assert_eq!(
            crypto::decrypt(&[3; 16], &[2; 12], unmasked.message, unmasked.header).unwrap(),
            b"\x01\xc2\x01\x02"
        );
    }

    #[test]
    fn rejections() {
        let mut buf = [0u8; MAX_PACKET_SIZE];
        let packet = message_packet();
        assert_eq!(
            unmask(&DEST, &packet[..62], &mut buf).unwrap_err(),
            PacketError::TooShort(62)
        );
        assert_eq!(
            unmask(&DEST, &[0; 1281], &mut buf).unwrap_err(),
            PacketError::TooLarge(1281)
        );
        // Another node's id unmasks to garbage.
        assert_eq!(
            unmask(&NodeId([0xcc; 32]), &packet, &mut buf).unwrap_err(),
            PacketError::InvalidProtocolId
        );
        // Truncated: the authdata reaches past the end.
        let short = &packet[..MASKING_IV_SIZE + STATIC_HEADER_SIZE + MIN_MESSAGE_SIZE];
        assert!(unmask(&DEST, short, &mut buf).is_ok());
        let mut too_short = short.to_vec();
        too_short.pop();
        assert_eq!(
            unmask(&DEST, &too_short, &mut buf).unwrap_err(),
            PacketError::MessageTooShort
        );

        let reencode = |flag: Flag, authdata: &[u8], body: Body<'_>| {
            encode(&DEST, &[1; 16], flag, &[2; 12], authdata, body)
                .unwrap()
                .0
        };
        let pad = [0u8; 64];
        assert_eq!(
            unmask(
                &DEST,
                &reencode(Flag::Message, &[0; 31], Body::Raw(&pad)),
                &mut buf
            )
            .unwrap_err(),
            PacketError::InvalidAuthdataSize {
                flag: Flag::Message,
                size: 31
            }
        );
        assert_eq!(
            unmask(
                &DEST,
                &reencode(Flag::Whoareyou, &[0; 24], Body::Raw(&[0])),
                &mut buf
            )
            .unwrap_err(),
            PacketError::WhoareyouWithMessage
        );
        assert_eq!(
            unmask(
                &DEST,
                &reencode(Flag::Whoareyou, &[0; 25], Body::Empty),
                &mut buf
            )
            .unwrap_err(),
            PacketError::InvalidAuthdataSize {
                flag: Flag::Whoareyou,
                size: 25
            }
        );
        let mut handshake = [0u8; 40];
        handshake[32] = 64;
        handshake[33] = 33;
        assert_eq!(
            unmask(
                &DEST,
                &reencode(Flag::Handshake, &handshake, Body::Raw(&pad)),
                &mut buf
            )
            .unwrap_err(),
            PacketError::HandshakeSizesBeyondAuthdata
        );

        // Flag and version live in the masked header: flip them through the keystream.
        let mut bad_flag = packet.clone();
        bad_flag[MASKING_IV_SIZE + 8] ^= 3;
        assert_eq!(
            unmask(&DEST, &bad_flag, &mut buf).unwrap_err(),
            PacketError::UnknownFlag(3)
        );
        let mut bad_version = packet.clone();
        bad_version[MASKING_IV_SIZE + 7] ^= 1;
        assert_eq!(
            unmask(&DEST, &bad_version, &mut buf).unwrap_err(),
            PacketError::UnsupportedVersion(0)
        );
        let mut huge_authdata = packet.clone();
        huge_authdata[MASKING_IV_SIZE + 21] ^= 0x10;
        assert_eq!(
            unmask(&DEST, &huge_authdata, &mut buf).unwrap_err(),
            PacketError::AuthdataBeyondPacket(0x1020)
        );
    }

    #[test]
    fn encode_refuses_oversized() {
        let big = [0u8; 1300];
        assert!(
            encode(
                &DEST,
                &[0; 16],
                Flag::Message,
                &[0; 12],
                &[0; 32],
                Body::Raw(&big)
            )
            .is_err()
        );
        let fits = [0u8; MAX_PACKET_SIZE - 16 - 23 - 32];
        assert_eq!(
            encode(
                &DEST,
                &[0; 16],
                Flag::Message,
                &[0; 12],
                &[0; 32],
                Body::Raw(&fits)
            )
            .unwrap()
            .0
            .len(),
            MAX_PACKET_SIZE
        );
    }
}

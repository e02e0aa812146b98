//! The Disconnect message (id 0x01) and its reason codes.
//!
//! Spec: [rlpx.md, Disconnect](https://github.com/ethereum/devp2p/blob/master/rlpx.md#disconnect-0x01):
//! `[reason: P]`, where the reason is optional.
//!
//! Implementations disagree on the encoding: go-ethereum sends a list `[reason]` (snappy
//! compressed once negotiated), older go-ethereum versions and ethereumjs send the reason
//! as a bare byte, and ethereumjs sends it uncompressed even after snappy is on. Decoding
//! therefore accepts every form that has been seen in practice.

use std::fmt;

use super::P2pError;
use super::rlp_reader::{self, Item};

/// Largest decompressed Disconnect payload we bother to decode; real ones are 1-3 bytes.
pub const MAX_DISCONNECT_PAYLOAD: usize = 256;

/// Why a peer is disconnecting.
///
/// Codes not in the spec are kept as [`DisconnectReason::Unknown`] rather than failing to
/// decode: the peer is going away regardless, and logging the raw code is more useful than an
/// error. [`From<u8>`] always yields the named variant for known codes, so
/// `Unknown(c)` never holds a known code unless constructed by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    DisconnectRequested,
    /// 0x01: TCP sub-system error.
    TcpSubsystemError,
    /// 0x02: breach of protocol, e.g. a malformed message or bad RLP.
    BreachOfProtocol,
    /// 0x03: useless peer (e.g. no shared capabilities).
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleP2pVersion,
    /// 0x07: null node identity received; this is automatically invalid.
    NullNodeIdentity,
    /// 0x08: client quitting.
    ClientQuitting,
    /// 0x09: unexpected identity in handshake.
    UnexpectedIdentity,
    /// 0x0a: identity is the same as this node (connected to self).
    ConnectedToSelf,
    /// 0x0b: ping timeout.
    PingTimeout,
    /// 0x10: some other reason specific to a subprotocol.
    SubprotocolError,
    /// A code not defined by the spec.
    Unknown(u8),
}

impl DisconnectReason {
    /// The wire code of this reason.
    pub fn to_u8(self) -> u8 {
        match self {
            DisconnectReason::DisconnectRequested => 0x00,
            DisconnectReason::TcpSubsystemError => 0x01,
            DisconnectReason::BreachOfProtocol => 0x02,
            DisconnectReason::UselessPeer => 0x03,
            DisconnectReason::TooManyPeers => 0x04,
            DisconnectReason::AlreadyConnected => 0x05,
            DisconnectReason::IncompatibleP2pVersion => 0x06,
            DisconnectReason::NullNodeIdentity => 0x07,
            DisconnectReason::ClientQuitting => 0x08,
            DisconnectReason::UnexpectedIdentity => 0x09,
            DisconnectReason::ConnectedToSelf => 0x0a,
            DisconnectReason::PingTimeout => 0x0b,
            DisconnectReason::SubprotocolError => 0x10,
            DisconnectReason::Unknown(code) => code,
        }
    }

    /// Encodes the Disconnect `msg-data` as the canonical list `[reason]`, e.g. `c1 04`;
    /// reason 0 is the RLP integer zero, `c1 80`.
    pub fn encode(self) -> Vec<u8> {
        match self.to_u8() {
            0 => vec![0xc1, 0x80],
            code @ 0x01..=0x7f => vec![0xc1, code],
            code => vec![0xc2, 0x81, code],
        }
    }

    /// Decodes an (already decompressed) Disconnect `msg-data`.
    ///
    /// Accepted forms:
    /// - a list `[reason, ...]`; elements after the reason are ignored unchecked;
    /// - an empty list `[]`: the reason is optional, so this is
    ///   [`DisconnectRequested`](DisconnectReason::DisconnectRequested) (go-ethereum did
    ///   the same);
    /// - a bare RLP string holding the reason (`04`, or `80` for zero), which is also what a
    ///   raw single byte below 0x80 looks like;
    /// - the byte `00` (and `[00]`) as reason zero, although it is not a canonical RLP
    ///   integer: old go-ethereum sent `[]byte{reason}`, which encodes reason 0 that way.
    ///
    /// Bytes after the first top-level item are ignored. An empty payload is
    /// [`P2pError::EmptyMessage`]; a reason that does not fit in one byte, or a nested list,
    /// is [`P2pError::InvalidDisconnectReason`].
    pub fn decode(payload: &[u8]) -> Result<DisconnectReason, P2pError> {
        if payload.is_empty() {
            return Err(P2pError::EmptyMessage);
        }
        let (item, _trailing) = rlp_reader::split(payload)?;
        match item {
            Item::List(_) => match item.list()?.next() {
                None => Ok(DisconnectReason::DisconnectRequested),
                Some(first) => reason_from_item(first?),
            },
            Item::Bytes(_) => reason_from_item(item),
        }
    }
}

/// Interprets one RLP item as a reason code; `[]` and `[00]` both mean zero.
fn reason_from_item(item: Item<'_>) -> Result<DisconnectReason, P2pError> {
    match item {
        Item::Bytes([]) => Ok(DisconnectReason::DisconnectRequested),
        Item::Bytes(&[code]) => Ok(DisconnectReason::from(code)),
        Item::Bytes(_) | Item::List(_) => Err(P2pError::InvalidDisconnectReason),
    }
}

/// Decodes the raw `msg-data` of a Disconnect message as received on the wire, i.e. before
/// any snappy decompression.
///
/// Call this with the payload from [`split_message_code`](super::split_message_code)
/// instead of decompressing Disconnect like other messages, because ethereumjs sends it
/// uncompressed even when snappy is on. When `snappy_on`, the payload is first
/// decompressed (at most [`MAX_DISCONNECT_PAYLOAD`] bytes, checked before decompressing) and
/// decoded; if either step fails, the raw bytes are decoded instead.
///
/// The order is deterministic and, for all forms seen in practice, unambiguous: every raw
/// encoding of a reason (`[]`, `[r]`, bare `r`, all at most 3 bytes) is invalid snappy data,
/// because snappy would need a length header followed by exactly that many output bytes.
pub fn decode_disconnect_message(
    payload: &[u8],
    snappy_on: bool,
) -> Result<DisconnectReason, P2pError> {
    if snappy_on {
        if let Some(reason) = decode_snappy(payload) {
            return Ok(reason);
        }
    }
    DisconnectReason::decode(payload)
}

/// Snappy attempt of [`decode_disconnect_message`]; `None` means "fall back to raw".
fn decode_snappy(payload: &[u8]) -> Option<DisconnectReason> {
    if payload.is_empty() {
        return None;
    }
    let len = snap::raw::decompress_len(payload).ok()?;
    if len > MAX_DISCONNECT_PAYLOAD {
        return None;
    }
    let mut buf = [0u8; MAX_DISCONNECT_PAYLOAD];
    let n = snap::raw::Decoder::new()
        .decompress(payload, &mut buf)
        .ok()?;
    DisconnectReason::decode(buf.get(..n)?).ok()
}

impl From<u8> for DisconnectReason {
    fn from(code: u8) -> Self {
        match code {
            0x00 => DisconnectReason::DisconnectRequested,
            0x01 => DisconnectReason::TcpSubsystemError,
            0x02 => DisconnectReason::BreachOfProtocol,
            0x03 => DisconnectReason::UselessPeer,
            0x04 => DisconnectReason::TooManyPeers,
            0x05 => DisconnectReason::AlreadyConnected,
            0x06 => DisconnectReason::IncompatibleP2pVersion,
            0x07 => DisconnectReason::NullNodeIdentity,
            0x08 => DisconnectReason::ClientQuitting,
            0x09 => DisconnectReason::UnexpectedIdentity,
            0x0a => DisconnectReason::ConnectedToSelf,
            0x0b => DisconnectReason::PingTimeout,
            0x10 => DisconnectReason::SubprotocolError,
            other => DisconnectReason::Unknown(other),
        }
    }
}

impl From<DisconnectReason> for u8 {
    fn from(reason: DisconnectReason) -> Self {
        reason.to_u8()
    }
}

impl fmt::Display for DisconnectReason {
    /// Uses go-ethereum's wording, so logs read the same across clients.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            DisconnectReason::DisconnectRequested => "disconnect requested",
            DisconnectReason::TcpSubsystemError => "network error",
            DisconnectReason::BreachOfProtocol => "breach of protocol",
            DisconnectReason::UselessPeer => "useless peer",
            DisconnectReason::TooManyPeers => "too many peers",
            DisconnectReason::AlreadyConnected => "already connected",
            DisconnectReason::IncompatibleP2pVersion => "incompatible p2p protocol version",
            DisconnectReason::NullNodeIdentity => "invalid node identity",
            DisconnectReason::ClientQuitting => "client quitting",
            DisconnectReason::UnexpectedIdentity => "unexpected identity",
            DisconnectReason::ConnectedToSelf => "connected to self",
            DisconnectReason::PingTimeout => "read timeout",
            DisconnectReason::SubprotocolError => "subprotocol error",
            DisconnectReason::Unknown(code) => {
                return write!(f, "unknown disconnect reason {code}");
            }
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [u8; 13] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0a, 0x0b, 0x10];

    fn snappy(data: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(data).unwrap()
    }

    #[test]
    fn codes_roundtrip() {
        for code in 0..=255u8 {
            let reason = DisconnectReason::from(code);
            assert_eq!(reason.to_u8(), code);
            assert_eq!(u8::from(reason), code);
            assert_eq!(
                matches!(reason, DisconnectReason::Unknown(_)),
                !KNOWN.contains(&code)
            );
            assert_eq!(DisconnectReason::decode(&reason.encode()), Ok(reason));
        }
    }

    #[test]
    fn display_matches_go_ethereum() {
        assert_eq!(
            DisconnectReason::TcpSubsystemError.to_string(),
            "network error"
        );
        assert_eq!(DisconnectReason::PingTimeout.to_string(), "read timeout");
        assert_eq!(
            DisconnectReason::IncompatibleP2pVersion.to_string(),
            "incompatible p2p protocol version"
        );
        assert_eq!(
            DisconnectReason::Unknown(0x0c).to_string(),
            "unknown disconnect reason 12"
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(DisconnectReason::DisconnectRequested.encode(), [0xc1, 0x80]);
        assert_eq!(DisconnectReason::TooManyPeers.encode(), [0xc1, 0x04]);
        assert_eq!(DisconnectReason::SubprotocolError.encode(), [0xc1, 0x10]);
        assert_eq!(DisconnectReason::Unknown(0xff).encode(), [0xc2, 0x81, 0xff]);
    }

    #[test]
    fn decodes_all_seen_forms() {
        use DisconnectReason::*;
        let cases: &[(&[u8], DisconnectReason)] = &[
            (&[0xc1, 0x04], TooManyPeers),
            (&[0xc1, 0x80], DisconnectRequested),
            (&[0xc1, 0x00], DisconnectRequested),
            (&[0xc0], DisconnectRequested),
            (&[0x04], TooManyPeers),
            (&[0x00], DisconnectRequested),
            (&[0x80], DisconnectRequested),
            (&[0x10], SubprotocolError),
            (&[0x81, 0x90], Unknown(0x90)),
            (&[0xc2, 0x81, 0x90], Unknown(0x90)),
            // Extra list elements, even malformed ones, and trailing bytes are ignored.
            (&[0xc2, 0x03, 0x05], UselessPeer),
            (&[0xc2, 0x03, 0xb8], UselessPeer),
            (&[0xc1, 0x03, 0xff, 0xff], UselessPeer),
        ];
        for &(payload, expected) in cases {
            assert_eq!(
                DisconnectReason::decode(payload),
                Ok(expected),
                "{payload:02x?}"
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(DisconnectReason::decode(&[]), Err(P2pError::EmptyMessage));
        assert_eq!(
            DisconnectReason::decode(&[0x82, 0x01, 0x00]),
            Err(P2pError::InvalidDisconnectReason)
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc3, 0x82, 0x01, 0x00]),
            Err(P2pError::InvalidDisconnectReason)
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc2, 0xc1, 0x04]),
            Err(P2pError::InvalidDisconnectReason)
        );
        assert!(matches!(
            DisconnectReason::decode(&[0xc1]),
            Err(P2pError::InvalidRlp(_))
        ));
        assert!(matches!(
            DisconnectReason::decode(&[0x81]),
            Err(P2pError::InvalidRlp(_))
        ));
    }

    #[test]
    fn snappy_and_raw_forms() {
        use DisconnectReason::*;
        // go-ethereum: [reason], snappy-compressed.
        let go = snappy(&[0xc1, 0x04]);
        assert_eq!(go, [0x02, 0x04, 0xc1, 0x04]);
        assert_eq!(decode_disconnect_message(&go, true), Ok(TooManyPeers));
        assert_eq!(
            decode_disconnect_message(&snappy(&[0xc1, 0x80]), true),
            Ok(DisconnectRequested)
        );
        // ethereumjs: bare byte, uncompressed, with snappy on.
        assert_eq!(decode_disconnect_message(&[0x04], true), Ok(TooManyPeers));
        assert_eq!(
            decode_disconnect_message(&[0x00], true),
            Ok(DisconnectRequested)
        );
        assert_eq!(
            decode_disconnect_message(&[0xc0], true),
            Ok(DisconnectRequested)
        );
        assert_eq!(
            decode_disconnect_message(&[0xc1, 0x0b], true),
            Ok(PingTimeout)
        );
        // Snappy off: raw only.
        assert_eq!(
            decode_disconnect_message(&[0xc1, 0x04], false),
            Ok(TooManyPeers)
        );
        assert_eq!(
            decode_disconnect_message(&[], true),
            Err(P2pError::EmptyMessage)
        );
        // A snappy bomb is not decompressed; falls back to raw, which fails.
        assert!(decode_disconnect_message(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00], true).is_err());
    }

    #[test]
    fn raw_forms_are_never_valid_snappy() {
        // Every payload of up to 3 bytes that decodes raw decodes identically with snappy
        // on: the snappy attempt never hijacks a raw reason.
        let check = |p: &[u8]| {
            if let Ok(raw) = DisconnectReason::decode(p) {
                assert_eq!(decode_disconnect_message(p, true), Ok(raw), "{p:02x?}");
            }
        };
        for a in 0..=255u8 {
            check(&[a]);
            for b in 0..=255u8 {
                check(&[a, b]);
                check(&[0xc2, a, b]);
                check(&[0xc1, a, b]);
            }
        }
    }

    #[test]
    fn decode_never_panics() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in [0x00, 0x01, 0x7f, 0x80, 0x81, 0xc0, 0xff] {
                    let _ = decode_disconnect_message(&[a, b, c], true);
                    let _ = decode_disconnect_message(&[a, c, b, 0x00], true);
                }
            }
        }
    }
}

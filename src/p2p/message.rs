//! Message framing inside an RLPx frame: `frame-data = rlp(msg-id) || msg-data`, with
//! `msg-data` snappy-compressed once both sides speak p2p version 5.
//!
//! Spec: [rlpx.md, Message Encoding](https://github.com/ethereum/devp2p/blob/master/rlpx.md#message-encoding)
//! and [EIP-706](https://eips.ethereum.org/EIPS/eip-706).

use super::P2pError;
use super::rlp_reader;

/// Message id of [`Hello`](super::Hello).
pub const HELLO: u64 = 0x00;
/// Message id of Disconnect (see [`DisconnectReason`](super::DisconnectReason)).
pub const DISCONNECT: u64 = 0x01;
/// Message id of Ping; the peer must answer with Pong.
pub const PING: u64 = 0x02;
/// Message id of Pong, the answer to Ping.
pub const PONG: u64 = 0x03;

/// Number of message ids reserved for the base protocol (0x00..=0x0f); sub-protocol ids
/// start right after it.
///
/// See [rlpx.md, Message ID-based Multiplexing](https://github.com/ethereum/devp2p/blob/master/rlpx.md#message-id-based-multiplexing).
pub const BASE_PROTOCOL_LENGTH: u64 = 16;

/// Largest uncompressed `msg-data` accepted: rlpx.md says messages carrying uncompressed
/// data larger than 16 MiB should be rejected.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Upper bound on snappy's output/input ratio (a 3-byte copy element yields at most 64 bytes).
const MAX_SNAPPY_EXPANSION: usize = 22;

/// The `msg-data` of Ping: an empty RLP list.
pub const PING_PAYLOAD: &[u8] = &[0xc0];
/// The `msg-data` of Pong: an empty RLP list.
pub const PONG_PAYLOAD: &[u8] = &[0xc0];

/// Whether `code` belongs to the base protocol's reserved id space rather than a
/// sub-protocol.
pub fn is_base_protocol_code(code: u64) -> bool {
    code < BASE_PROTOCOL_LENGTH
}

/// Appends `rlp(code) || payload` to `out`, snappy-compressing `payload` when `compress`.
///
/// `compress` must be true exactly when snappy was negotiated (see
/// [`snappy_enabled`](super::snappy_enabled)); Hello itself is never compressed.
///
/// Fails with [`P2pError::MessageTooLarge`] if `payload` exceeds [`MAX_MESSAGE_SIZE`], since
/// a conforming peer would reject it anyway. On error `out` is left unchanged.
pub fn encode_message(
    code: u64,
    payload: &[u8],
    compress: bool,
    out: &mut Vec<u8>,
) -> Result<(), P2pError> {
    if payload.len() > MAX_MESSAGE_SIZE {
        return Err(P2pError::MessageTooLarge {
            size: payload.len(),
            limit: MAX_MESSAGE_SIZE,
        });
    }
    let start = out.len();
    out.extend_from_slice(&rlp::encode(&code));
    if !compress {
        out.extend_from_slice(payload);
        return Ok(());
    }
    // Compress straight into `out` instead of through a temporary vector.
    let max = snap::raw::max_compress_len(payload.len());
    let body = out.len();
    out.resize(body + max, 0);
    // In bounds: `out` was just resized to `body + max`.
    let dst = &mut out[body..];
    match snap::raw::Encoder::new().compress(payload, dst) {
        Ok(n) => {
            out.truncate(body + n);
            Ok(())
        }
        Err(err) => {
            out.truncate(start);
            Err(err.into())
        }
    }
}

/// Splits frame data into its message id and the (possibly compressed) `msg-data`.
///
/// Useful to look at the id before deciding how to treat the payload, e.g. Disconnect, which
/// some implementations send uncompressed even after snappy was negotiated (see
/// [`decode_disconnect_message`](super::decode_disconnect_message)).
///
/// The id must be a canonical RLP integer that fits in a `u64` (like go-ethereum's
/// `rlp.SplitUint64`); anything else is [`P2pError::InvalidRlp`].
pub fn split_message_code(frame_data: &[u8]) -> Result<(u64, &[u8]), P2pError> {
    if frame_data.is_empty() {
        return Err(P2pError::EmptyMessage);
    }
    let (item, payload) = rlp_reader::split(frame_data)?;
    Ok((item.u64()?, payload))
}

/// Decodes frame data into `(msg-id, msg-data)`; allocating wrapper around
/// [`decode_message_into`].
pub fn decode_message(
    frame_data: &[u8],
    compressed: bool,
    limit: usize,
) -> Result<(u64, Vec<u8>), P2pError> {
    let mut out = Vec::new();
    let code = decode_message_into(frame_data, compressed, limit, &mut out)?;
    Ok((code, out))
}

/// Decodes frame data, writing the (decompressed) `msg-data` into `out`, which is cleared
/// first so it can be reused across messages. Returns the message id.
///
/// `limit` bounds the size of the uncompressed `msg-data` (normally [`MAX_MESSAGE_SIZE`]).
/// For snappy data the length announced in the snappy header is checked against `limit`
/// *before* anything is allocated, so a tiny frame cannot make us allocate gigabytes.
/// Compressed data whose actual length differs from the announced one is rejected. An
/// empty compressed payload is invalid (snappy always emits a length header).
pub fn decode_message_into(
    frame_data: &[u8],
    compressed: bool,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<u64, P2pError> {
    out.clear();
    let (code, payload) = split_message_code(frame_data)?;
    decode_payload_into(payload, compressed, limit, out)?;
    Ok(code)
}

/// Like [`decode_message_into`] for a payload whose message id was already split off with
/// [`split_message_code`] (a reader that looks at the id first need not parse it twice).
pub fn decode_payload_into(
    payload: &[u8],
    compressed: bool,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<(), P2pError> {
    out.clear();
    if !compressed {
        if payload.len() > limit {
            return Err(P2pError::MessageTooLarge {
                size: payload.len(),
                limit,
            });
        }
        out.extend_from_slice(payload);
        return Ok(());
    }
    if payload.is_empty() {
        return Err(P2pError::Snappy(super::SnappyError::Corrupt));
    }
    let size = snap::raw::decompress_len(payload)?;
    if size > limit {
        return Err(P2pError::MessageTooLarge { size, limit });
    }
    // No snappy element expands more than 64 output bytes per 3 input bytes, so a length the
    // input cannot produce is corrupt: refuse it before allocating (and zeroing) that much.
    if size > payload.len().saturating_mul(MAX_SNAPPY_EXPANSION) {
        return Err(P2pError::Snappy(super::SnappyError::Corrupt));
    }
    out.resize(size, 0);
    match snap::raw::Decoder::new().decompress(payload, out) {
        Ok(n) => {
            out.truncate(n);
            Ok(())
        }
        Err(err) => {
            out.clear();
            Err(err.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::SnappyError;

    #[test]
    fn roundtrip_uncompressed() {
        let mut out = vec![0xaa];
        encode_message(PING, PING_PAYLOAD, false, &mut out).unwrap();
        assert_eq!(out, [0xaa, 0x02, 0xc0]);
        let (code, payload) = decode_message(&out[1..], false, MAX_MESSAGE_SIZE).unwrap();
        assert_eq!((code, payload.as_slice()), (PING, PING_PAYLOAD));
    }

    #[test]
    fn failed_decode_leaves_reused_buffer_empty() {
        let mut buffer = vec![0xaa; 88];
        // A lone 0x00 is not a canonical message id.
        assert!(decode_message_into(&[0x00], false, MAX_MESSAGE_SIZE, &mut buffer).is_err());
        assert!(buffer.is_empty());
    }

    #[test]
    fn hello_code_zero_encodes_as_empty_string() {
        let mut out = Vec::new();
        encode_message(HELLO, &[0xc0], false, &mut out).unwrap();
        assert_eq!(out, [0x80, 0xc0]);
        // 0x00 is a non-canonical zero.
        assert!(matches!(
            decode_message(&[0x00, 0xc0], false, 10),
            Err(P2pError::InvalidRlp(_))
        ));
    }

    #[test]
    fn roundtrip_compressed_and_large_codes() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8).collect();
        for code in [0, 1, 0x10, 0x7f, 0x80, 0x1234, u64::MAX] {
            let mut out = Vec::new();
            encode_message(code, &payload, true, &mut out).unwrap();
            assert!(out.len() < payload.len());
            let (c, p) = decode_message(&out, true, MAX_MESSAGE_SIZE).unwrap();
            assert_eq!(c, code);
            assert_eq!(p, payload);
        }
    }

    #[test]
    fn compressed_ping_matches_snappy() {
        let mut out = Vec::new();
        encode_message(PING, PING_PAYLOAD, true, &mut out).unwrap();
        // varint len 1, literal tag of length 1, 0xc0.
        assert_eq!(out, [0x02, 0x01, 0x00, 0xc0]);
    }

    #[test]
    fn rejects_bad_codes() {
        assert_eq!(decode_message(&[], false, 10), Err(P2pError::EmptyMessage));
        assert!(decode_message(&[0xc0], false, 10).is_err());
        assert!(decode_message(&[0x81, 0x05], false, 10).is_err());
        assert!(decode_message(&[0x82, 0x00, 0x05], false, 10).is_err());
        assert!(decode_message(&[0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0], false, 10).is_err());
        assert!(decode_message(&[0x82, 0x01], false, 10).is_err());
    }

    #[test]
    fn empty_payload() {
        assert_eq!(decode_message(&[0x02], false, 10), Ok((2, vec![])));
        assert_eq!(
            decode_message(&[0x02], true, 10),
            Err(P2pError::Snappy(SnappyError::Corrupt))
        );
        // Snappy encoding of an empty payload is a single zero length byte.
        let mut out = Vec::new();
        encode_message(PING, &[], true, &mut out).unwrap();
        assert_eq!(out, [0x02, 0x00]);
        assert_eq!(decode_message(&out, true, 10), Ok((2, vec![])));
    }

    #[test]
    fn limit_is_checked_before_decompressing() {
        // Header announces 0xffff_ffff bytes (varint ff ff ff ff 0f) followed by nothing.
        let frame = [0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        assert_eq!(
            decode_message(&frame, true, MAX_MESSAGE_SIZE),
            Err(P2pError::MessageTooLarge {
                size: 0xffff_ffff,
                limit: MAX_MESSAGE_SIZE
            })
        );
        // Exactly at the limit is fine, one over is not.
        let payload = vec![7u8; 100];
        let mut out = Vec::new();
        encode_message(0x10, &payload, true, &mut out).unwrap();
        assert!(decode_message(&out, true, 100).is_ok());
        assert_eq!(
            decode_message(&out, true, 99),
            Err(P2pError::MessageTooLarge {
                size: 100,
                limit: 99
            })
        );
        out.clear();
        encode_message(0x10, &payload, false, &mut out).unwrap();
        assert!(decode_message(&out, false, 100).is_ok());
        assert_eq!(
            decode_message(&out, false, 99),
            Err(P2pError::MessageTooLarge {
                size: 100,
                limit: 99
            })
        );
    }

    #[test]
    fn rejects_corrupt_snappy() {
        // Announces 5 bytes but carries a 1-byte literal.
        assert!(matches!(
            decode_message(&[0x10, 0x05, 0x00, 0xaa], true, 100),
            Err(P2pError::Snappy(_))
        ));
        // Truncated varint.
        assert!(matches!(
            decode_message(&[0x10, 0xff], true, 100),
            Err(P2pError::Snappy(_))
        ));
        // Copy before any output.
        assert!(matches!(
            decode_message(&[0x10, 0x04, 0x01, 0x01], true, 100),
            Err(P2pError::Snappy(_))
        ));
    }

    #[test]
    fn encode_rejects_oversized_payload() {
        let payload = vec![0u8; MAX_MESSAGE_SIZE + 1];
        let mut out = vec![1, 2, 3];
        assert_eq!(
            encode_message(0x10, &payload, true, &mut out),
            Err(P2pError::MessageTooLarge {
                size: MAX_MESSAGE_SIZE + 1,
                limit: MAX_MESSAGE_SIZE
            })
        );
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn reusable_buffer_is_cleared() {
        let mut buf = vec![9u8; 50];
        assert_eq!(
            decode_message_into(&[0x03, 0xc0], false, 10, &mut buf),
            Ok(3)
        );
        assert_eq!(buf, [0xc0]);
        assert!(decode_message_into(&[0x03, 0x05, 0x00], true, 10, &mut buf).is_err());
        assert!(buf.is_empty());
    }

    #[test]
    fn split_exposes_raw_payload() {
        assert_eq!(
            split_message_code(&[0x01, 0x04]),
            Ok((DISCONNECT, &[0x04][..]))
        );
        assert!(is_base_protocol_code(PONG));
        assert!(is_base_protocol_code(0x0f));
        assert!(!is_base_protocol_code(BASE_PROTOCOL_LENGTH));
    }

    #[test]
    fn never_panics_on_short_inputs() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for compressed in [false, true] {
                    let _ = decode_message(&[a, b], compressed, 64);
                    let _ = decode_message(&[0x10, a, b], compressed, 64);
                    let _ = decode_message(&[0x10, a, b, 0x00], compressed, 64);
                }
            }
        }
    }
}

#[cfg(test)]
mod expansion_tests {
    use super::*;

    #[test]
    fn highly_compressible_payloads_still_decode() {
        // Zeros are snappy's best case; they must stay below the expansion bound.
        for len in [1usize, 100, 65_536, 1 << 20] {
            let payload = vec![0u8; len];
            let mut frame = Vec::new();
            encode_message(0x10, &payload, true, &mut frame).unwrap();
            let (_, decoded) = decode_message(&frame, true, MAX_MESSAGE_SIZE).unwrap();
            assert_eq!(decoded.len(), len);
        }
    }

    #[test]
    fn announced_size_beyond_what_the_input_can_produce_is_refused() {
        // Varint 1 MiB, then one literal byte: could never produce 1 MiB.
        let frame = [0x10, 0x80, 0x80, 0x40, 0x00, 0x61];
        assert_eq!(
            decode_message(&frame, true, MAX_MESSAGE_SIZE),
            Err(P2pError::Snappy(crate::p2p::SnappyError::Corrupt))
        );
    }
}

//! The RLPx frame codec's receiving side, with codecs keyed by a real (fixed) handshake.
//!
//! Input layout:
//! - byte 0, `ctrl`: bit 0 picks the mode (0 raw, 1 seal); bit 1 the direction (0: the initiator
//!   sends and the recipient opens, 1: the reverse); bits 2-3 the number of frames minus one
//!   (seal mode); bit 4 whether a body-length delta byte follows (seal mode);
//! - bytes 1-2: the receiver's maximum frame size, big-endian (`0xffff` asks for `usize::MAX`,
//!   which the codec clamps to `MAX_FRAME_SIZE`);
//! - raw mode: the rest is wire bytes, opened as a sequence of `header (32) || body` frames until
//!   the first error. Seeds hold real frames sealed by the fixture codecs, so they open.
//! - seal mode: a flip count byte (mod 9), that many 3-byte big-endian bit positions (mod the
//!   wire length), the delta byte if bit 4 is set (an `i8` added to the length of the last
//!   frame's body as handed to `open_body`), then the payload, split into the frames. The sender
//!   seals the frames, the bits are flipped, and the receiver opens them in order; every outcome
//!   is predicted exactly: a tampered header fails its MAC, a size above the maximum fails at the
//!   header (before any body is read), a wrong body length or a tampered body fails, and an
//!   untouched frame opens to exactly its payload.

#![no_main]

use ethp2p::rlpx::mac::MAC_LEN;
use ethp2p::rlpx::{FrameCodec, FrameError, HEADER_LEN, MAX_FRAME_SIZE};
use ethp2p_fuzz::handshake;
use libfuzzer_sys::fuzz_target;

const MAX_FLIPS: u8 = 9;

fn padded(len: usize) -> usize {
    len.div_ceil(16) * 16
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctrl, rest)) = data.split_first() else {
        return;
    };
    let Some((max, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let max = match u16::from_be_bytes(*max) {
        u16::MAX => usize::MAX,
        max => usize::from(max),
    };

    let fixture = handshake();
    let (sender, receiver) = if ctrl & 2 == 0 {
        (&fixture.initiator, &fixture.recipient)
    } else {
        (&fixture.recipient, &fixture.initiator)
    };
    let mut receiver = FrameCodec::new(receiver.clone(), max);
    assert_eq!(receiver.max_frame_size(), max.min(MAX_FRAME_SIZE));

    if ctrl & 1 == 0 {
        open_raw(&mut receiver, rest);
    } else {
        let sender = FrameCodec::new(sender.clone(), MAX_FRAME_SIZE);
        seal_tamper_open(sender, receiver, ctrl, rest);
    }
});

/// Opens `wire` as consecutive frames until it runs out or a frame fails.
fn open_raw(receiver: &mut FrameCodec, wire: &[u8]) {
    let limit = receiver.max_frame_size();
    let mut wire = wire.to_vec();
    let mut rest: &mut [u8] = &mut wire;
    loop {
        let Some((header, tail)) = std::mem::take(&mut rest).split_first_chunk_mut::<HEADER_LEN>()
        else {
            return;
        };
        let next = match receiver.open_header(header) {
            Ok(next) => next,
            Err(FrameError::FrameTooLarge {
                size,
                limit: reported,
            }) => {
                assert_eq!(reported, limit);
                assert!(size > limit);
                return;
            }
            Err(err) => {
                assert_eq!(err, FrameError::HeaderMac);
                return;
            }
        };
        assert!(next >= MAC_LEN && (next - MAC_LEN).is_multiple_of(16));
        assert!(
            next - MAC_LEN <= padded(limit),
            "header announced more than the limit"
        );
        let available = next.min(tail.len());
        let (body, after) = tail.split_at_mut(available);
        match receiver.open_body(body) {
            Ok(frame) => {
                assert!(frame.len() <= limit);
                assert_eq!(padded(frame.len()) + MAC_LEN, next);
            }
            Err(FrameError::BodyLength { expected, actual }) => {
                assert_eq!((expected, actual), (next, available));
                assert!(available < next);
                return;
            }
            Err(err) => {
                assert_eq!(err, FrameError::BodyMac);
                return;
            }
        }
        rest = after;
    }
}

/// Seals fuzz-chosen payloads, flips fuzz-chosen bits, and checks that opening does exactly what
/// the tampering predicts.
fn seal_tamper_open(mut sender: FrameCodec, mut receiver: FrameCodec, ctrl: u8, input: &[u8]) {
    let Some((&flips, mut input)) = input.split_first() else {
        return;
    };
    let mut positions = Vec::new();
    for _ in 0..flips % MAX_FLIPS {
        let Some((pos, rest)) = input.split_first_chunk::<3>() else {
            return;
        };
        positions.push(u32::from_be_bytes([0, pos[0], pos[1], pos[2]]) as usize);
        input = rest;
    }
    let mut delta = 0isize;
    if ctrl & 0x10 != 0 {
        let Some((&d, rest)) = input.split_first() else {
            return;
        };
        delta = isize::from(d as i8);
        input = rest;
    }
    let payload = input;
    let count = 1 + usize::from((ctrl >> 2) & 3);
    let chunks: Vec<&[u8]> = (0..count)
        .map(|i| &payload[i * payload.len() / count..(i + 1) * payload.len() / count])
        .collect();

    // Seal every chunk into one wire buffer, remembering where each frame lies.
    let mut wire = Vec::new();
    let mut spans = Vec::new();
    for chunk in &chunks {
        let mut frame = vec![0u8; HEADER_LEN];
        frame.extend_from_slice(chunk);
        sender.seal(&mut frame);
        assert_eq!(frame.len(), HEADER_LEN + padded(chunk.len()) + MAC_LEN);
        spans.push(wire.len()..wire.len() + frame.len());
        wire.extend_from_slice(&frame);
    }
    let pristine = wire.clone();
    let bits = wire.len() * 8;
    for pos in positions {
        let bit = pos % bits;
        wire[bit / 8] ^= 1 << (bit % 8);
    }

    let limit = receiver.max_frame_size();
    for (i, (chunk, span)) in chunks.iter().zip(&spans).enumerate() {
        let body_start = span.start + HEADER_LEN;
        let header_tampered = wire[span.start..body_start] != pristine[span.start..body_start];
        let body_tampered = wire[body_start..span.end] != pristine[body_start..span.end];

        let header: &mut [u8; HEADER_LEN] = (&mut wire[span.start..body_start])
            .try_into()
            .expect("32 bytes");
        let opened = receiver.open_header(header);
        if header_tampered {
            assert_eq!(opened, Err(FrameError::HeaderMac));
            return;
        }
        if chunk.len() > limit {
            // Rejected from the header alone: the body is never asked for.
            assert_eq!(
                opened,
                Err(FrameError::FrameTooLarge {
                    size: chunk.len(),
                    limit
                })
            );
            return;
        }
        let next = opened.expect("an untampered header within the limit opens");
        assert_eq!(next, span.end - body_start);

        let mut body = wire[body_start..span.end].to_vec();
        let last = i + 1 == chunks.len();
        let handed = if last {
            next.saturating_add_signed(delta)
        } else {
            next
        };
        body.resize(handed, 0);
        let opened = receiver.open_body(&mut body);
        if handed != next {
            assert_eq!(
                opened,
                Err(FrameError::BodyLength {
                    expected: next,
                    actual: handed
                })
            );
            return;
        }
        if body_tampered {
            assert_eq!(opened, Err(FrameError::BodyMac));
            return;
        }
        let frame = opened.expect("an untampered frame opens");
        assert_eq!(
            &frame[..],
            *chunk,
            "opened frame differs from the sealed payload"
        );
    }
}

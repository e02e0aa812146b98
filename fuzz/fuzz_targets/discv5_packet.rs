//! discv5 packet decoding: header unmasking and checks (`v5::packet::unmask`) and the codec's
//! dispatch on them (`Codec::decode` of node B, without sessions or challenges).
//!
//! Input: a mode byte, then a packet. Mode bit 0 clear: the packet as received. Set: the packet
//! with its header in plaintext, masked for node B by the target first (random bytes almost
//! never unmask to "discv5", so this is how the checks behind the masking get fuzzed).
//!
//! Checks: the codec fails exactly when the packet layer does, with its error; an accepted
//! packet is 63..=1280 bytes, splits into header and message without loss, and re-encodes
//! (same IV, flag, nonce, authdata and body) to exactly the input when its version is 1; a
//! message packet is unreadable without a session, a WHOAREYOU carries its header as challenge
//! data, a handshake without a pending challenge is refused; no state is left behind.

#![no_main]

use std::time::Instant;

use ethp2p_discovery::v5::packet::{self, AuthData, Body, Flag, MAX_PACKET_SIZE, MIN_PACKET_SIZE};
use ethp2p_discovery::v5::{DecodeError, Decoded, HandshakeError};
use ethp2p_fuzz::discv5::{ADDR_A, codec_b, mask_for_b, record_b};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check(rest);
    } else {
        check(&mask_for_b(rest));
    }
});

fn check(datagram: &[u8]) {
    let local = record_b().id();
    let mut buf = [0u8; MAX_PACKET_SIZE];
    let unmasked = packet::unmask(&local, datagram, &mut buf);
    let mut codec = codec_b();
    let decoded = codec.decode(Instant::now(), ADDR_A, datagram);
    assert_eq!(codec.session_count(), 0);
    assert_eq!(codec.pending_challenge_count(), 0);
    let unmasked = match unmasked {
        Err(error) => {
            assert_eq!(decoded, Err(DecodeError::Packet(error)));
            return;
        }
        Ok(unmasked) => unmasked,
    };
    assert!((MIN_PACKET_SIZE..=MAX_PACKET_SIZE).contains(&datagram.len()));
    assert_eq!(
        unmasked.header.len() + unmasked.message.len(),
        datagram.len()
    );
    assert_eq!(unmasked.header[..16], datagram[..16]);

    let flag = match unmasked.auth {
        AuthData::Message { src } => {
            assert_eq!(
                decoded,
                Ok(Decoded::Unreadable {
                    from: src,
                    nonce: unmasked.nonce
                })
            );
            Flag::Message
        }
        AuthData::Whoareyou { id_nonce, enr_seq } => {
            let Ok(Decoded::Whoareyou(whoareyou)) = &decoded else {
                panic!("a valid WHOAREYOU decodes as one: {decoded:?}");
            };
            assert_eq!(whoareyou.nonce, unmasked.nonce);
            assert_eq!(whoareyou.id_nonce, id_nonce);
            assert_eq!(whoareyou.enr_seq, enr_seq);
            assert_eq!(whoareyou.challenge_data[..], unmasked.header[..]);
            assert!(unmasked.message.is_empty());
            Flag::Whoareyou
        }
        AuthData::Handshake(auth) => {
            assert_eq!(
                auth.id_signature.len() + auth.ephemeral_key.len() + auth.record.len() + 34,
                unmasked.header.len() - 39
            );
            assert_eq!(
                decoded,
                Err(DecodeError::Handshake {
                    from: auth.src,
                    error: HandshakeError::Unexpected
                })
            );
            Flag::Handshake
        }
    };

    let version = u16::from_be_bytes([unmasked.header[22], unmasked.header[23]]);
    let iv: [u8; 16] = unmasked.header[..16].try_into().unwrap();
    let body = if unmasked.message.is_empty() {
        Body::Empty
    } else {
        Body::Raw(unmasked.message)
    };
    let (again, header) = packet::encode(
        &local,
        &iv,
        flag,
        &unmasked.nonce,
        &unmasked.header[39..],
        body,
    )
    .expect("a packet that decoded fits the limit");
    if version == packet::VERSION {
        assert_eq!(again, datagram, "re-encoding changed the packet");
        assert_eq!(header, unmasked.header);
    }
}

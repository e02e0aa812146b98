//! The discv5 handshake, recipient side: node B has challenged node A (as in the test vectors'
//! keys) and decodes what comes back (`Codec::decode` with a pending challenge).
//!
//! Input: a mode byte, then data. By `mode & 3`:
//! - 0: data is the authdata and message of a handshake packet (2-byte authdata length first),
//!   in a well-formed masked header: forged handshakes, which must all fail.
//! - 1: data is the message plaintext of a genuine handshake by A (B knows A's record when
//!   bit 2 is set, so the handshake carries it only otherwise): B accepts exactly when the
//!   plaintext is a valid message, and B's reply on the new session opens with A's keys.
//! - 2: a genuine handshake with data[0..2] choosing a byte and data[2] a bit pattern to flip:
//!   any change is refused (and spends A's challenge only if the packet still claims to be
//!   from A).
//! - 3: a genuine handshake arriving from another address (data[0..2] is its port): refused,
//!   and A's challenge stays for A's own copy of the packet, which then completes.
//!
//! After every handshake packet from A's address, accepted or not, the challenge is gone: the
//! same packet again is refused as unexpected, and at most one session exists.

#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use ethp2p_discovery::NodeId;
use ethp2p_discovery::v5::crypto::{self, SessionKeys};
use ethp2p_discovery::v5::handshake::{self, Whoareyou};
use ethp2p_discovery::v5::packet::{self, Body, Flag, MAX_PACKET_SIZE};
use ethp2p_discovery::v5::{
    DecodeError, Decoded, HandshakeError, Message, OutgoingKind, RequestId,
};
use ethp2p_fuzz::discv5::{ADDR_A, address_a, challenged, key_a, record_a, record_b};
use libfuzzer_sys::fuzz_target;
use secp256k1::SecretKey;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let (_, mut b, whoareyou) = challenged(now, mode & 4 != 0);
    let from_a = record_a().id();
    let unexpected = Err(DecodeError::Handshake {
        from: from_a,
        error: HandshakeError::Unexpected,
    });

    match mode & 3 {
        0 => {
            let Some((len, rest)) = rest.split_first_chunk::<2>() else {
                return;
            };
            let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
            let (authdata, message) = rest.split_at(len);
            let Ok((packet, _)) = packet::encode(
                &record_b().id(),
                &[0; 16],
                Flag::Handshake,
                &[0; 12],
                authdata,
                Body::Raw(message),
            ) else {
                return;
            };
            let decoded = b.decode(now, ADDR_A, &packet);
            assert!(
                !matches!(decoded, Ok(Decoded::Handshake { .. })),
                "forged handshake accepted"
            );
            assert_eq!(b.session_count(), 0);
            assert_eq!(
                b.pending_challenge_count(),
                usize::from(!claims_to_be(&decoded, from_a))
            );
            return;
        }
        1 => {
            let Some((packet, keys)) = genuine(&whoareyou, rest) else {
                return;
            };
            let decoded = b.decode(now, ADDR_A, &packet);
            match Message::decode(rest) {
                Ok(message) => {
                    assert_eq!(
                        decoded,
                        Ok(Decoded::Handshake {
                            from: from_a,
                            record: Box::new(record_a().clone()),
                            message
                        })
                    );
                    assert_eq!(b.session_count(), 1);
                    // B's session has the keys A derived: its reply opens with A's read key.
                    let pong = Message::Pong {
                        request_id: RequestId::from_u64(1),
                        enr_seq: 1,
                        to_ip: ADDR_A.ip(),
                        to_port: ADDR_A.port(),
                    };
                    let reply = b.encode(&address_a(), &pong).unwrap();
                    assert_eq!(reply.kind, OutgoingKind::Message);
                    let mut buf = [0u8; MAX_PACKET_SIZE];
                    let opened = packet::unmask(&from_a, &reply.packet, &mut buf).unwrap();
                    let plaintext = crypto::decrypt(
                        &keys.recipient_key,
                        &opened.nonce,
                        opened.message,
                        opened.header,
                    )
                    .expect("B writes with the recipient key");
                    assert_eq!(Message::decode(&plaintext), Ok(pong));
                }
                Err(error) => {
                    assert_eq!(
                        decoded,
                        Err(DecodeError::Message {
                            from: from_a,
                            error
                        })
                    );
                    assert_eq!(b.session_count(), 0);
                }
            }
            assert_eq!(
                b.decode(now, ADDR_A, &packet),
                unexpected,
                "replay accepted"
            );
        }
        2 => {
            let Some(&[high, low, bits]) = rest.first_chunk::<3>() else {
                return;
            };
            if bits == 0 {
                return;
            }
            let plaintext = ping_plaintext();
            let (packet, _) = genuine(&whoareyou, &plaintext).unwrap();
            let mut tampered = packet.clone();
            let at = usize::from(u16::from_be_bytes([high, low])) % tampered.len();
            tampered[at] ^= bits;
            let decoded = b.decode(now, ADDR_A, &tampered);
            assert!(
                decoded.is_err(),
                "tampered handshake accepted (byte {at}, bits {bits:#04x})"
            );
            assert_eq!(b.session_count(), 0);
            if claims_to_be(&decoded, from_a) {
                assert_eq!(b.decode(now, ADDR_A, &packet), unexpected);
            } else {
                // The change hit the source id or the masking: not A's handshake, so A's
                // challenge stays and A's own packet still completes.
                assert!(matches!(
                    b.decode(now, ADDR_A, &packet),
                    Ok(Decoded::Handshake { .. })
                ));
            }
        }
        _ => {
            let plaintext = ping_plaintext();
            let (packet, _) = genuine(&whoareyou, &plaintext).unwrap();
            let port = rest
                .first_chunk::<2>()
                .map_or(1, |p| u16::from_be_bytes(*p));
            let elsewhere = SocketAddr::from(([127, 0, 0, 1], port));
            if elsewhere == ADDR_A {
                return;
            }
            assert_eq!(b.decode(now, elsewhere, &packet), unexpected);
            assert_eq!(b.session_count(), 0);
            // The challenge belongs to A's address: a copy from elsewhere does not spend it, so
            // a spoofed packet cannot cancel A's handshake, and A's own packet still completes.
            assert_eq!(b.pending_challenge_count(), 1);
            assert!(matches!(
                b.decode(now, ADDR_A, &packet),
                Ok(Decoded::Handshake { .. })
            ));
        }
    }
    assert_eq!(b.pending_challenge_count(), 0);
});

/// Whether a refused packet was a handshake claiming to be from `node`: only such a packet meets
/// (and so spends) the challenge B sent that node.
fn claims_to_be(decoded: &Result<Decoded, DecodeError>, node: NodeId) -> bool {
    matches!(
        decoded,
        Err(DecodeError::Handshake { from, .. } | DecodeError::Message { from, .. })
            if *from == node
    )
}

fn ping_plaintext() -> Vec<u8> {
    Message::Ping {
        request_id: RequestId::from_u64(1),
        enr_seq: 1,
    }
    .encode()
}

/// The ephemeral key of the genuine handshakes (the vectors' one).
fn ephemeral_key() -> SecretKey {
    let bytes: [u8; 32] =
        hex::decode("0288ef00023598499cb6c940146d050d2b1fb914198c327f76aad590bead68b6")
            .unwrap()
            .try_into()
            .unwrap();
    SecretKey::from_secret_bytes(bytes).unwrap()
}

/// A's genuine answer to `whoareyou` carrying `plaintext` and the keys it derived, or `None` if
/// it does not fit in a packet.
fn genuine(whoareyou: &Whoareyou, plaintext: &[u8]) -> Option<(Vec<u8>, SessionKeys)> {
    let init = handshake::initiate(
        &key_a(),
        record_a(),
        &record_b().id(),
        &record_b().public_key(),
        whoareyou,
        &ephemeral_key(),
    );
    assert_eq!(init.record_included, whoareyou.enr_seq < record_a().seq());
    packet::encode(
        &record_b().id(),
        &[0x11; 16],
        Flag::Handshake,
        &[0xff; 12],
        &init.authdata,
        Body::Encrypted {
            key: &init.keys.initiator_key,
            plaintext,
        },
    )
    .ok()
    .map(|(packet, _)| (packet, init.keys))
}

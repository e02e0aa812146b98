//! Two (or more) codecs wired in memory, on a simulated clock.

use std::net::{Ipv4Addr, SocketAddr};

use rand::SeedableRng;

use super::*;
use crate::v5::message::RequestId;

/// One node: key, record, address, codec.
struct Node {
    codec: Codec,
    record: Enr,
    addr: SocketAddr,
}

impl Node {
    fn new(n: u8) -> Self {
        Self::with_config(n, Config::default())
    }

    fn with_config(n: u8, config: Config) -> Self {
        let key = SecretKey::from_secret_bytes([n; 32]).unwrap();
        let addr = SocketAddr::from((Ipv4Addr::new(127, 0, 0, n), 30300 + u16::from(n)));
        let record = Enr::builder()
            .ip4(Ipv4Addr::new(127, 0, 0, n))
            .udp4(addr.port())
            .build(&key)
            .unwrap();
        let codec = Codec::new(
            key,
            record.clone(),
            config,
            StdRng::seed_from_u64(u64::from(n)),
        )
        .unwrap();
        Node {
            codec,
            record,
            addr,
        }
    }

    fn address(&self) -> NodeAddress {
        NodeAddress {
            id: self.record.id(),
            addr: self.addr,
        }
    }
}

fn ping(n: u64) -> Message {
    Message::Ping {
        request_id: RequestId::from_u64(n),
        enr_seq: 1,
    }
}

fn pong(n: u64, to: SocketAddr) -> Message {
    Message::Pong {
        request_id: RequestId::from_u64(n),
        enr_seq: 1,
        to_ip: to.ip(),
        to_port: to.port(),
    }
}

/// A starts a PING to B without a session and B challenges it. Returns A's random packet,
/// the WHOAREYOU and what A decoded of it.
fn start_handshake(a: &mut Node, b: &mut Node, now: Instant) -> (Outgoing, Challenge, Whoareyou) {
    let first = a.codec.encode(&b.address(), &ping(1)).unwrap();
    assert_eq!(first.kind, OutgoingKind::Random);
    let Decoded::Unreadable { from, nonce } = b.codec.decode(now, a.addr, &first.packet).unwrap()
    else {
        panic!("B has no session, so A's packet is unreadable");
    };
    assert_eq!(from, a.record.id());
    assert_eq!(nonce, first.nonce);
    let challenge = b.codec.challenge(now, &a.address(), nonce, None).unwrap();
    assert!(!challenge.resent);
    let Decoded::Whoareyou(whoareyou) = a.codec.decode(now, b.addr, &challenge.packet).unwrap()
    else {
        panic!("A reads a WHOAREYOU");
    };
    assert_eq!(
        whoareyou.nonce, first.nonce,
        "the challenge names A's packet"
    );
    (first, challenge, whoareyou)
}

/// A full handshake: PING without session, WHOAREYOU, handshake + PING. Returns the handshake
/// packet.
fn handshake(a: &mut Node, b: &mut Node, now: Instant) -> Vec<u8> {
    let (_, _, whoareyou) = start_handshake(a, b, now);
    let sent = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(1))
        .unwrap();
    assert_eq!(sent.kind, OutgoingKind::Handshake);
    let decoded = b.codec.decode(now, a.addr, &sent.packet).unwrap();
    assert_eq!(
        decoded,
        Decoded::Handshake {
            from: a.record.id(),
            record: Box::new(a.record.clone()),
            message: ping(1),
        }
    );
    sent.packet
}

#[test]
fn full_handshake_then_messages_both_ways() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    handshake(&mut a, &mut b, now);
    assert_eq!(a.codec.session_count(), 1);
    assert_eq!(b.codec.session_count(), 1);
    assert_eq!(b.codec.pending_challenge_count(), 0);

    // B answers on the new session; A reads it with the keys it derived.
    let reply = b.codec.encode(&a.address(), &pong(1, a.addr)).unwrap();
    assert_eq!(reply.kind, OutgoingKind::Message);
    assert_eq!(
        a.codec.decode(now, b.addr, &reply.packet).unwrap(),
        Decoded::Message {
            from: b.record.id(),
            message: pong(1, a.addr)
        }
    );
    // More messages both ways, each with a fresh nonce.
    let mut nonces = std::collections::HashSet::new();
    for n in 2..10 {
        let out = a.codec.encode(&b.address(), &ping(n)).unwrap();
        assert_eq!(out.kind, OutgoingKind::Message);
        assert!(nonces.insert(out.nonce), "nonce reused");
        assert_eq!(
            b.codec.decode(now, a.addr, &out.packet).unwrap(),
            Decoded::Message {
                from: a.record.id(),
                message: ping(n)
            }
        );
        let back = b.codec.encode(&a.address(), &pong(n, a.addr)).unwrap();
        assert!(nonces.insert(back.nonce), "nonce reused");
        assert_eq!(
            a.codec.decode(now, b.addr, &back.packet).unwrap(),
            Decoded::Message {
                from: b.record.id(),
                message: pong(n, a.addr)
            }
        );
    }
    assert!(b.codec.has_session(&a.address()));
}

/// A new session's counter starts again at 1, but its nonces still differ from the last
/// session's: a WHOAREYOU naming a packet of the old session must not name the new handshake
/// (seen with go-ethereum, which re-sends a pending challenge for every unreadable packet).
#[test]
fn a_new_session_never_repeats_a_nonce_of_the_last() {
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let now = Instant::now();
    handshake(&mut b, &mut a, now);
    let old = a.codec.encode(&b.address(), &pong(1, b.addr)).unwrap();
    assert_eq!(old.kind, OutgoingKind::Message);
    assert!(a.codec.sent_nonce(&old.nonce, &b.address()));
    // B lost the session and challenges that packet: A's new handshake is counter 1 again.
    let challenge = b
        .codec
        .challenge(now, &a.address(), old.nonce, None)
        .unwrap();
    let Decoded::Whoareyou(whoareyou) = a.codec.decode(now, b.addr, &challenge.packet).unwrap()
    else {
        panic!("A reads a WHOAREYOU");
    };
    let new = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(2))
        .unwrap();
    assert_eq!(
        new.nonce[..4],
        old.nonce[..4],
        "both first of their session"
    );
    assert_ne!(new.nonce, old.nonce);
    assert!(a.codec.sent_nonce(&new.nonce, &b.address()));
}

#[test]
fn second_packet_during_handshake_gets_the_same_whoareyou() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let (first, challenge, _) = start_handshake(&mut a, &mut b, now);

    // A sends again before answering (a retry, a second request): same challenge, byte for
    // byte, naming the first packet's nonce.
    let again = a.codec.encode(&b.address(), &ping(2)).unwrap();
    let Decoded::Unreadable { nonce, .. } = b.codec.decode(now, a.addr, &again.packet).unwrap()
    else {
        panic!("still unreadable");
    };
    assert_ne!(nonce, first.nonce);
    let later = now + Duration::from_millis(900);
    let resent = b.codec.challenge(later, &a.address(), nonce, None).unwrap();
    assert!(resent.resent);
    assert_eq!(resent.packet, challenge.packet);
    assert_eq!(b.codec.pending_challenge_count(), 1);

    // Once the handshake timeout has passed, a new challenge replaces it.
    let expired = now + Duration::from_secs(1);
    let fresh = b
        .codec
        .challenge(expired, &a.address(), nonce, None)
        .unwrap();
    assert!(!fresh.resent);
    assert_ne!(fresh.packet, challenge.packet);
    assert_eq!(b.codec.pending_challenge_count(), 1);
}

#[test]
fn replayed_handshake_is_refused() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let packet = handshake(&mut a, &mut b, now);
    assert_eq!(
        b.codec.decode(now, a.addr, &packet),
        Err(DecodeError::Handshake {
            from: a.record.id(),
            error: HandshakeError::Unexpected
        })
    );
    assert_eq!(b.codec.pending_challenge_count(), 0);
}

#[test]
fn failed_handshake_is_forgotten() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let (_, _, whoareyou) = start_handshake(&mut a, &mut b, now);
    let sent = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(1))
        .unwrap();
    // A wrong tag: the handshake fails, and its challenge goes with it.
    let mut tampered = sent.packet.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        b.codec.decode(now, a.addr, &tampered),
        Err(DecodeError::Handshake {
            from: a.record.id(),
            error: HandshakeError::Decrypt
        })
    );
    assert_eq!(b.codec.pending_challenge_count(), 0);
    // The genuine packet, now: no challenge to answer.
    assert_eq!(
        b.codec.decode(now, a.addr, &sent.packet),
        Err(DecodeError::Handshake {
            from: a.record.id(),
            error: HandshakeError::Unexpected
        })
    );
    assert_eq!(b.codec.session_count(), 0);
}

#[test]
fn handshake_after_the_timeout_is_refused() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let (_, _, whoareyou) = start_handshake(&mut a, &mut b, now);
    let sent = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(1))
        .unwrap();
    assert_eq!(
        b.codec
            .decode(now + Duration::from_secs(1), a.addr, &sent.packet),
        Err(DecodeError::Handshake {
            from: a.record.id(),
            error: HandshakeError::Unexpected
        })
    );
    assert_eq!(b.codec.pending_challenge_count(), 0);
}

#[test]
fn handshake_signed_for_another_challenge_is_refused() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let (_, _, mut whoareyou) = start_handshake(&mut a, &mut b, now);
    // A signs (and derives keys from) challenge data B never sent.
    whoareyou.challenge_data[MASKING_IV_SIZE + STATIC_HEADER_SIZE] ^= 1;
    let sent = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(1))
        .unwrap();
    assert_eq!(
        b.codec.decode(now, a.addr, &sent.packet),
        Err(DecodeError::Handshake {
            from: a.record.id(),
            error: HandshakeError::InvalidIdSignature
        })
    );
    assert_eq!(b.codec.pending_challenge_count(), 0);
}

#[test]
fn handshake_from_another_address_is_refused() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let (_, _, whoareyou) = start_handshake(&mut a, &mut b, now);
    let sent = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(1))
        .unwrap();
    let elsewhere = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 99), a.addr.port()));
    assert_eq!(
        b.codec.decode(now, elsewhere, &sent.packet),
        Err(DecodeError::Handshake {
            from: a.record.id(),
            error: HandshakeError::Unexpected
        })
    );
    // The challenge to A's real address is still pending: the handshake from there works.
    assert!(matches!(
        b.codec.decode(now, a.addr, &sent.packet),
        Ok(Decoded::Handshake { .. })
    ));
}

#[test]
fn sessions_are_keyed_by_address() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    handshake(&mut a, &mut b, now);
    let out = a.codec.encode(&b.address(), &ping(2)).unwrap();
    assert_eq!(out.kind, OutgoingKind::Message);
    // The same packet from another address (A moved, or someone replays it): B has no session
    // for (A, that address) and challenges.
    let moved = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), a.addr.port()));
    assert_eq!(
        b.codec.decode(now, moved, &out.packet).unwrap(),
        Decoded::Unreadable {
            from: a.record.id(),
            nonce: out.nonce
        }
    );
    let challenge = b
        .codec
        .challenge(
            now,
            &NodeAddress {
                id: a.record.id(),
                addr: moved,
            },
            out.nonce,
            None,
        )
        .unwrap();
    // B knew A's record from its session at the other address? No: sessions are per address,
    // so this challenge asks for the record (enr-seq 0).
    let Decoded::Whoareyou(whoareyou) = a.codec.decode(now, b.addr, &challenge.packet).unwrap()
    else {
        panic!("A reads a WHOAREYOU");
    };
    assert_eq!(whoareyou.enr_seq, 0);
    // From the original address it still decrypts.
    assert!(matches!(
        b.codec.decode(now, a.addr, &out.packet).unwrap(),
        Decoded::Message { .. }
    ));
}

/// Whether the handshake packet `packet`, addressed to `to`, carries a record.
fn carries_record(to: &Node, packet: &[u8]) -> bool {
    let mut buf = [0u8; MAX_PACKET_SIZE];
    match packet::unmask(&to.record.id(), packet, &mut buf)
        .unwrap()
        .auth
    {
        AuthData::Handshake(auth) => !auth.record.is_empty(),
        other => panic!("not a handshake: {other:?}"),
    }
}

#[test]
fn record_goes_into_the_handshake_only_when_the_challenge_is_older() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    // B knows A's current record: the challenge names its seq, and A sends no record.
    let first = a.codec.encode(&b.address(), &ping(1)).unwrap();
    let challenge = b
        .codec
        .challenge(now, &a.address(), first.nonce, Some(&a.record.clone()))
        .unwrap();
    let Decoded::Whoareyou(whoareyou) = a.codec.decode(now, b.addr, &challenge.packet).unwrap()
    else {
        panic!()
    };
    assert_eq!(whoareyou.enr_seq, a.record.seq());
    let sent = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(1))
        .unwrap();
    assert!(!carries_record(&b, &sent.packet));
    assert!(matches!(
        b.codec.decode(now, a.addr, &sent.packet),
        Ok(Decoded::Handshake { record, .. }) if *record == a.record
    ));

    // A's record changes (seq 2); B's next challenge names seq 1, so A sends the new record,
    // and B takes it.
    let key = SecretKey::from_secret_bytes([1; 32]).unwrap();
    let newer = a.record.update(&key, |r| {
        r.udp4(40000);
    });
    let newer = newer.unwrap();
    a.codec.set_local_record(newer.clone()).unwrap();
    b.codec.remove_session(&a.address());
    a.codec.remove_session(&b.address());
    let first = a.codec.encode(&b.address(), &ping(2)).unwrap();
    let challenge = b
        .codec
        .challenge(now, &a.address(), first.nonce, Some(&a.record.clone()))
        .unwrap();
    let Decoded::Whoareyou(whoareyou) = a.codec.decode(now, b.addr, &challenge.packet).unwrap()
    else {
        panic!()
    };
    assert_eq!(whoareyou.enr_seq, 1);
    let sent = a
        .codec
        .encode_handshake(&b.address(), &b.record.clone(), &whoareyou, &ping(2))
        .unwrap();
    assert!(carries_record(&b, &sent.packet));
    assert!(matches!(
        b.codec.decode(now, a.addr, &sent.packet),
        Ok(Decoded::Handshake { record, .. }) if *record == newer
    ));
}

#[test]
fn session_cache_is_bounded() {
    let now = Instant::now();
    let config = Config {
        session_capacity: 2,
        ..Config::default()
    };
    let mut b = Node::with_config(2, config);
    let mut others: Vec<Node> = [1, 3, 4].into_iter().map(Node::new).collect();
    for other in &mut others {
        handshake(other, &mut b, now);
    }
    assert_eq!(b.codec.session_count(), 2);
    // The first node's session was the least recently used, so it is gone.
    assert!(!b.codec.has_session(&others[0].address()));
    let out = others[0].codec.encode(&b.address(), &ping(5)).unwrap();
    assert!(matches!(
        b.codec.decode(now, others[0].addr, &out.packet).unwrap(),
        Decoded::Unreadable { .. }
    ));
    for other in &others[1..] {
        assert!(b.codec.has_session(&other.address()));
    }
}

#[test]
fn pending_challenges_are_bounded() {
    let now = Instant::now();
    let config = Config {
        max_pending_challenges: 2,
        ..Config::default()
    };
    let mut b = Node::with_config(2, config);
    let others: Vec<Node> = [1, 3, 4].into_iter().map(Node::new).collect();
    let nonce = [7u8; 12];
    b.codec
        .challenge(now, &others[0].address(), nonce, None)
        .unwrap();
    b.codec
        .challenge(now, &others[1].address(), nonce, None)
        .unwrap();
    assert_eq!(
        b.codec.challenge(now, &others[2].address(), nonce, None),
        Err(EncodeError::ChallengesFull)
    );
    // Re-sending to a challenged node still works, and after the timeout there is room.
    assert!(
        b.codec
            .challenge(now, &others[0].address(), nonce, None)
            .unwrap()
            .resent
    );
    let later = now + Duration::from_secs(1);
    assert!(
        !b.codec
            .challenge(later, &others[2].address(), nonce, None)
            .unwrap()
            .resent
    );
    assert_eq!(b.codec.pending_challenge_count(), 1);
}

#[test]
fn garbage_truncated_and_wrong_tag_are_rejected() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    handshake(&mut a, &mut b, now);
    let out = a.codec.encode(&b.address(), &ping(2)).unwrap();

    let decode = |b: &mut Node, bytes: &[u8]| b.codec.decode(now, a.addr, bytes);
    assert_eq!(
        decode(&mut b, &[0x55; 100]),
        Err(DecodeError::Packet(PacketError::InvalidProtocolId))
    );
    assert!(decode(&mut b, &[0x55; 100]).unwrap_err().is_not_discv5());
    assert_eq!(
        decode(&mut b, &out.packet[..40]),
        Err(DecodeError::Packet(PacketError::TooShort(40)))
    );
    assert_eq!(
        decode(&mut b, &out.packet[..70]),
        Err(DecodeError::Packet(PacketError::MessageTooShort))
    );
    assert_eq!(
        decode(&mut b, &[0; 1300]),
        Err(DecodeError::Packet(PacketError::TooLarge(1300)))
    );
    // A packet for another node does not unmask.
    let to_other = a.codec.encode(&Node::new(3).address(), &ping(3)).unwrap();
    assert_eq!(
        decode(&mut b, &to_other.packet),
        Err(DecodeError::Packet(PacketError::InvalidProtocolId))
    );
    // A wrong tag or a truncated ciphertext on an established session: unreadable, so
    // the state machine answers WHOAREYOU, and the session survives.
    let mut wrong_tag = out.packet.clone();
    *wrong_tag.last_mut().unwrap() ^= 0x80;
    let unreadable = Decoded::Unreadable {
        from: a.record.id(),
        nonce: out.nonce,
    };
    assert_eq!(decode(&mut b, &wrong_tag), Ok(unreadable.clone()));
    assert_eq!(
        decode(&mut b, &out.packet[..out.packet.len() - 1]),
        Ok(unreadable)
    );
    assert!(matches!(
        decode(&mut b, &out.packet),
        Ok(Decoded::Message { .. })
    ));
    assert!(
        !decode(&mut b, &out.packet[..70])
            .unwrap_err()
            .to_string()
            .is_empty()
    );
}

#[test]
fn oversized_request_id_is_a_decode_error() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    handshake(&mut a, &mut b, now);
    // A PING with a 9-byte request id, sealed with A's session keys by hand (the Message
    // type cannot hold one).
    let session = a.codec.sessions.get_mut(&b.address()).unwrap();
    let nonce = session.next_nonce(|_| [0; 8]).unwrap();
    let key = session.write_key;
    let plaintext = hex::decode("01cb8901020304050607080901").unwrap();
    let (packet, _) = packet::encode(
        &b.record.id(),
        &[0; 16],
        Flag::Message,
        &nonce,
        &a.record.id().0,
        Body::Encrypted {
            key: &key,
            plaintext: &plaintext,
        },
    )
    .unwrap();
    assert_eq!(
        b.codec.decode(now, a.addr, &packet),
        Err(DecodeError::Message {
            from: a.record.id(),
            error: MessageError::RequestIdTooLong(9)
        })
    );
}

#[test]
fn oversized_messages_are_not_encoded() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let big = Message::TalkReq {
        request_id: RequestId::from_u64(1),
        protocol: b"p".to_vec(),
        request: vec![0; 1300],
    };
    // Refused before a handshake is started for it, and on an established session.
    assert!(matches!(
        a.codec.encode(&b.address(), &big),
        Err(EncodeError::TooLarge(_))
    ));
    handshake(&mut a, &mut b, now);
    assert!(matches!(
        a.codec.encode(&b.address(), &big),
        Err(EncodeError::TooLarge(_))
    ));
}

#[test]
fn records_must_match_the_node() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    let (_, _, whoareyou) = start_handshake(&mut a, &mut b, now);
    let wrong = Node::new(3).record;
    assert!(matches!(
        a.codec
            .encode_handshake(&b.address(), &wrong, &whoareyou, &ping(1)),
        Err(EncodeError::RecordMismatch { .. })
    ));
    assert!(matches!(
        a.codec.set_local_record(wrong.clone()),
        Err(EncodeError::RecordMismatch { .. })
    ));
    assert!(matches!(
        b.codec.challenge(
            now + Duration::from_secs(2),
            &a.address(),
            [0; 12],
            Some(&wrong)
        ),
        Err(EncodeError::RecordMismatch { .. })
    ));
    let key = SecretKey::from_secret_bytes([1; 32]).unwrap();
    assert!(Codec::new(key, wrong, Config::default(), StdRng::seed_from_u64(0)).is_err());
}

#[test]
fn handshake_without_any_record_is_refused() {
    // What a buggy or hostile initiator does: no record although B knows none.
    let mut rng = StdRng::seed_from_u64(9);
    let b_key = SecretKey::from_secret_bytes([2; 32]).unwrap();
    let a_key = SecretKey::from_secret_bytes([1; 32]).unwrap();
    let a_id = NodeId::from_public_key(&a_key.public_key());
    let b_id = NodeId::from_public_key(&b_key.public_key());
    let eph = crypto::generate_secret_key(&mut rng)
        .public_key()
        .serialize();
    let signature = crypto::id_sign(&a_key, &[0; 63], &eph, &b_id);
    let auth = packet::HandshakeAuth {
        src: a_id,
        id_signature: &signature,
        ephemeral_key: &eph,
        record: &[],
    };
    assert_eq!(
        handshake::verify(&b_key, &b_id, &auth, &[0; 63], None).unwrap_err(),
        HandshakeError::NoRecord
    );
    // With A's record known, the same authdata verifies.
    let a_record = Enr::builder().build(&a_key).unwrap();
    assert!(handshake::verify(&b_key, &b_id, &auth, &[0; 63], Some(&a_record)).is_ok());
    // A record that is not the sender's, a bad ephemeral key.
    let other = Enr::builder()
        .build(&SecretKey::from_secret_bytes([3; 32]).unwrap())
        .unwrap();
    let with_other = packet::HandshakeAuth {
        record: other.encoded(),
        ..auth
    };
    assert_eq!(
        handshake::verify(&b_key, &b_id, &with_other, &[0; 63], None).unwrap_err(),
        HandshakeError::RecordIdMismatch
    );
    let mut bad_key = eph;
    bad_key[0] = 0x05;
    let signature = crypto::id_sign(&a_key, &[0; 63], &bad_key, &b_id);
    let with_bad_key = packet::HandshakeAuth {
        id_signature: &signature,
        ephemeral_key: &bad_key,
        ..auth
    };
    assert_eq!(
        handshake::verify(&b_key, &b_id, &with_bad_key, &[0; 63], Some(&a_record)).unwrap_err(),
        HandshakeError::InvalidEphemeralKey
    );
}

#[test]
fn exhausted_nonce_counter_starts_a_new_handshake() {
    let now = Instant::now();
    let (mut a, mut b) = (Node::new(1), Node::new(2));
    handshake(&mut a, &mut b, now);
    a.codec
        .sessions
        .get_mut(&b.address())
        .unwrap()
        .nonce_counter = u32::MAX;
    let out = a.codec.encode(&b.address(), &ping(2)).unwrap();
    assert_eq!(out.kind, OutgoingKind::Random);
    assert_eq!(a.codec.session_count(), 0);
}

#[test]
fn own_nonces_are_recognised_per_node_and_address() {
    let now = Instant::now();
    let (mut a, mut b, c) = (Node::new(1), Node::new(2), Node::new(3));
    // Without a session (a random packet), then on the session.
    let random = a.codec.encode(&b.address(), &ping(1)).unwrap();
    assert_eq!(random.kind, OutgoingKind::Random);
    handshake(&mut a, &mut b, now);
    let message = a.codec.encode(&b.address(), &ping(2)).unwrap();
    assert_eq!(message.kind, OutgoingKind::Message);
    for nonce in [random.nonce, message.nonce] {
        assert!(a.codec.sent_nonce(&nonce, &b.address()));
        // Not to another node, nor to the same node at another address, nor by another codec.
        assert!(!a.codec.sent_nonce(&nonce, &c.address()));
        let elsewhere = NodeAddress {
            addr: c.addr,
            ..b.address()
        };
        assert!(!a.codec.sent_nonce(&nonce, &elsewhere));
        assert!(!b.codec.sent_nonce(&nonce, &b.address()));
    }
    // A nonce nobody made: its last 8 bytes do not match.
    let mut forged = message.nonce;
    forged[11] ^= 1;
    assert!(!a.codec.sent_nonce(&forged, &b.address()));
}

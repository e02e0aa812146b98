//! In-memory round trips of the RLPx core: handshake in both packet formats, many frames both
//! ways with and without snappy, and single-bit tampering detection.

use ethp2p::p2p::{MAX_MESSAGE_SIZE, decode_message, encode_message};
use ethp2p::rlpx::{
    Established, FrameCodec, FrameError, HEADER_LEN, Initiator, MAX_FRAME_SIZE, PacketLen, PeerId,
    Recipient, random_secret_key,
};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use secp256k1::PublicKey;

/// Runs a full handshake in memory; returns (initiator, recipient) results.
fn handshake(rng: &mut StdRng, legacy: bool) -> (Established, Established) {
    let initiator_key = random_secret_key(rng);
    let recipient_key = random_secret_key(rng);
    let initiator = Initiator::random(
        initiator_key,
        PublicKey::from_secret_key(&recipient_key),
        rng,
    );
    let (awaiting, auth) = if legacy {
        initiator.write_auth_legacy(rng)
    } else {
        initiator.write_auth(rng)
    };
    let recipient = Recipient::random(recipient_key, rng);
    assert_eq!(
        recipient.packet_len(&auth).unwrap(),
        PacketLen::Complete(auth.len())
    );
    let received = recipient.read_auth(&auth).unwrap();
    assert_eq!(
        received.remote_id(),
        PeerId::from_secret_key(&initiator_key)
    );
    let (recipient_done, ack) = received.write_ack(rng);
    assert_eq!(
        awaiting.packet_len(&ack).unwrap(),
        PacketLen::Complete(ack.len())
    );
    let initiator_done = awaiting.read_ack(&ack).unwrap();
    assert_eq!(
        initiator_done.remote_id,
        PeerId::from_secret_key(&recipient_key)
    );
    assert_eq!(
        recipient_done.remote_id,
        PeerId::from_secret_key(&initiator_key)
    );
    (initiator_done, recipient_done)
}

fn seal(codec: &mut FrameCodec, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN];
    buf.extend_from_slice(data);
    codec.seal(&mut buf);
    buf
}

fn open(codec: &mut FrameCodec, wire: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut header: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().unwrap();
    let body_len = codec.open_header(&mut header)?;
    let mut body = wire[HEADER_LEN..].to_vec();
    assert_eq!(body.len(), body_len, "header announced the body length");
    Ok(codec.open_body(&mut body)?.to_vec())
}

#[test]
fn eip8_packets_are_padded_and_within_limits() {
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..50 {
        let key = random_secret_key(&mut rng);
        let remote = PublicKey::from_secret_key(&random_secret_key(&mut rng));
        let (_, auth) = Initiator::random(key, remote, &mut rng).write_auth(&mut rng);
        // ethereumjs needs at least 307 bytes; 100..=250 bytes of padding keep every auth above.
        assert!(
            (307..=2048).contains(&auth.len()),
            "auth of {} bytes",
            auth.len()
        );
        assert_eq!(
            usize::from(u16::from_be_bytes([auth[0], auth[1]])) + 2,
            auth.len()
        );
    }
}

#[test]
fn many_messages_both_ways_with_and_without_snappy() {
    let mut rng = StdRng::seed_from_u64(2);
    for (legacy, snappy) in [(false, false), (false, true), (true, true)] {
        let (a, b) = handshake(&mut rng, legacy);
        let mut a = a.into_codec(MAX_FRAME_SIZE);
        let mut b = b.into_codec(MAX_FRAME_SIZE);
        for i in 0..300u64 {
            let len = [0, 1, 15, 16, 17, 1024, 4000, 70_000][i as usize % 8];
            let payload: Vec<u8> = (0..len).map(|j| (j as u64 * 31 + i) as u8).collect();
            let (sender, receiver) = if i % 2 == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let mut frame = Vec::new();
            encode_message(0x10 + i % 5, &payload, snappy, &mut frame).unwrap();
            let wire = seal(sender, &frame);
            assert_eq!((wire.len() - 2 * HEADER_LEN) % 16, 0, "padded to 16 bytes");
            let opened = open(receiver, &wire).unwrap();
            assert_eq!(opened, frame);
            let (code, decoded) = decode_message(&opened, snappy, MAX_MESSAGE_SIZE).unwrap();
            assert_eq!((code, decoded), (0x10 + i % 5, payload));
        }
    }
}

#[test]
fn every_single_bit_flip_is_detected() {
    let mut rng = StdRng::seed_from_u64(3);
    let (a, b) = handshake(&mut rng, false);
    let mut sender = a.into_codec(MAX_FRAME_SIZE);
    let data: Vec<u8> = (0..40u8).collect();
    let wire = seal(&mut sender, &data);
    // Header, header MAC, body and frame MAC: every bit of the frame is covered.
    for bit in 0..wire.len() * 8 {
        let mut receiver = FrameCodec::new(b.secrets.clone(), MAX_FRAME_SIZE);
        let mut tampered = wire.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        let byte = bit / 8;
        let expected = if byte < HEADER_LEN {
            FrameError::HeaderMac
        } else {
            FrameError::BodyMac
        };
        let mut header: [u8; HEADER_LEN] = tampered[..HEADER_LEN].try_into().unwrap();
        let result = receiver.open_header(&mut header).and_then(|_| {
            let mut body = tampered[HEADER_LEN..].to_vec();
            receiver.open_body(&mut body).map(|_| ())
        });
        assert_eq!(result, Err(expected), "bit {bit} not detected");
    }
    // The untampered frame still opens with a fresh receiver.
    let mut receiver = FrameCodec::new(b.secrets.clone(), MAX_FRAME_SIZE);
    assert_eq!(open(&mut receiver, &wire).unwrap(), data);
}

#[test]
fn oversized_header_is_rejected_before_the_body() {
    let mut rng = StdRng::seed_from_u64(4);
    let (a, b) = handshake(&mut rng, false);
    let mut sender = a.into_codec(MAX_FRAME_SIZE);
    let mut receiver = b.into_codec(1024);
    let wire = seal(&mut sender, &vec![7u8; 1025]);
    let mut header: [u8; HEADER_LEN] = wire[..HEADER_LEN].try_into().unwrap();
    assert_eq!(
        receiver.open_header(&mut header),
        Err(FrameError::FrameTooLarge {
            size: 1025,
            limit: 1024
        })
    );
}

#[test]
fn handshake_with_wrong_recipient_key_fails_mac() {
    let mut rng = StdRng::seed_from_u64(5);
    let key = random_secret_key(&mut rng);
    let intended = PublicKey::from_secret_key(&random_secret_key(&mut rng));
    let (_, auth) = Initiator::random(key, intended, &mut rng).write_auth(&mut rng);
    let stranger = Recipient::random(random_secret_key(&mut rng), &mut rng);
    assert_eq!(
        stranger.read_auth(&auth).err(),
        Some(ethp2p::rlpx::HandshakeError::InvalidMac)
    );
}

#[test]
fn oversized_and_truncated_packets_are_typed_errors() {
    use ethp2p::rlpx::HandshakeError;
    let mut rng = StdRng::seed_from_u64(6);
    let recipient = Recipient::random(random_secret_key(&mut rng), &mut rng);
    // A size prefix announcing more than 2 KiB is refused before reading the rest.
    assert_eq!(
        recipient.packet_len(&[0x08, 0x00]),
        Err(HandshakeError::PacketTooLarge {
            size: 2050,
            limit: 2048
        })
    );
    assert_eq!(recipient.packet_len(&[0x01]), Ok(PacketLen::NeedMore(2)));
    let key = random_secret_key(&mut rng);
    let remote = PublicKey::from_secret_key(&key);
    let (_, auth) =
        Initiator::random(random_secret_key(&mut rng), remote, &mut rng).write_auth(&mut rng);
    let recipient = Recipient::random(key, &mut rng);
    assert_eq!(
        recipient.read_auth(&auth[..auth.len() - 1]).err(),
        Some(HandshakeError::Truncated)
    );
    // Garbage of random lengths never panics and is always an error.
    for len in [0, 1, 2, 3, 100, 307, 400] {
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let recipient = Recipient::random(random_secret_key(&mut rng), &mut rng);
        assert!(recipient.read_auth(&junk).is_err());
    }
}

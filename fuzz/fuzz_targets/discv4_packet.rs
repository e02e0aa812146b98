//! discv4 packet decoding (`ethp2p_discovery::v4::packet::decode`) of a raw datagram, and of the
//! same datagram with its hash fixed up (mutations almost never keep `keccak256` of the rest
//! valid, and the type, RLP and signature checks all sit behind the hash check).
//!
//! Every accepted packet respects the documented limits and survives `encode` (signed with a
//! fixed key) -> `decode` unchanged, with that key as the sender; re-encoding is stable, fits the
//! send size limit, and `neighbors_packets` carries a decoded node list over unchanged.

#![no_main]

use ethp2p_discovery::PeerId;
use ethp2p_discovery::v4::packet::{
    MAX_ENR_SIZE, MAX_NEIGHBORS_PER_PACKET, MAX_NEIGHBORS_RECEIVED, MAX_PACKET_SIZE,
    MAX_RECEIVE_PACKET_SIZE, Message, decode, encode, is_expired, neighbors_packets,
};
use libfuzzer_sys::fuzz_target;
use sha3::{Digest, Keccak256};

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 32 {
        let mut fixed = data.to_vec();
        let hash = Keccak256::digest(&data[32..]);
        fixed[..32].copy_from_slice(&hash);
        if fixed != data {
            check(&fixed);
        }
    }
});

fn check(datagram: &[u8]) {
    let Ok(packet) = decode(datagram) else {
        return;
    };
    assert!(datagram.len() <= MAX_RECEIVE_PACKET_SIZE);
    assert_eq!(packet.hash[..], datagram[..32]);
    match &packet.message {
        Message::Neighbors(n) => assert!(n.nodes.len() <= MAX_NEIGHBORS_RECEIVED),
        Message::EnrResponse(r) => {
            assert!(r.enr.len() <= MAX_ENR_SIZE);
            assert!(
                r.enr.first().is_some_and(|&b| b >= 0xc0),
                "record is not a list"
            );
        }
        _ => {}
    }
    if let Some(expiration) = packet.message.expiration() {
        let now = 1_700_000_000;
        assert_eq!(
            is_expired(expiration, now),
            (expiration as i64) < now as i64
        );
    }

    // The key that signed the EIP-8 discv4 vectors ("Static Key B").
    let key = ethp2p_fuzz::static_b();
    let signer = PeerId::from_secret_key(&key);

    let (bytes, hash) = encode(&packet.message, &key);
    let again = decode(&bytes).expect("a re-encoded packet decodes");
    assert_eq!(again.message, packet.message);
    assert_eq!(again.sender, signer);
    assert_eq!(again.hash, hash);
    let (stable, _) = encode(&again.message, &key);
    assert_eq!(stable, bytes, "encoding is not stable");
    let oversized_neighbors = matches!(
        &packet.message,
        Message::Neighbors(n) if n.nodes.len() > MAX_NEIGHBORS_PER_PACKET
    );
    if !oversized_neighbors {
        assert!(bytes.len() <= MAX_PACKET_SIZE, "{} bytes", bytes.len());
    }

    if let Message::Neighbors(n) = &packet.message {
        let mut nodes = Vec::new();
        for bytes in neighbors_packets(&n.nodes, n.expiration, &key) {
            assert!(bytes.len() <= MAX_PACKET_SIZE);
            let Message::Neighbors(part) = decode(&bytes).expect("decodes").message else {
                panic!("not a Neighbors packet");
            };
            assert!(part.nodes.len() <= MAX_NEIGHBORS_PER_PACKET);
            assert_eq!(part.expiration, n.expiration);
            nodes.extend(part.nodes);
        }
        assert_eq!(nodes, n.nodes);
    }
}

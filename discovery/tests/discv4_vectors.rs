//! The discv4 test vectors of EIP-8 (<https://eips.ethereum.org/EIPS/eip-8>), decoded through
//! the public API, plus round trips of every message type.

use std::net::IpAddr;

use ethp2p_discovery::v4::packet::{
    Endpoint, EnrRequest, EnrResponse, FindNode, MAX_NEIGHBORS_PER_PACKET, MAX_PACKET_SIZE,
    Message, Neighbors, Packet, PacketError, Ping, Pong, decode, encode, is_expired,
    neighbors_packets,
};
use ethp2p_discovery::{Enode, PeerId};
use secp256k1::SecretKey;

/// The key that signed every vector.
const VECTOR_KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

const EXPIRATION: u64 = 1136239445;

const PING_V4: &str = "71dbda3a79554728d4f94411e42ee1f8b0d561c10e1e5f5893367948c6a7d70bb87b235fa28a77070271b6c164a2dce8c7e13a5739b53b5e96f2e5acb0e458a02902f5965d55ecbeb2ebb6cabb8b2b232896a36b737666c55265ad0a68412f250001ea04cb847f000001820cfa8215a8d790000000000000000000000000000000018208ae820d058443b9a355";
const PING_V4_EXTRA: &str = "e9614ccfd9fc3e74360018522d30e1419a143407ffcce748de3e22116b7e8dc92ff74788c0b6663aaa3d67d641936511c8f8d6ad8698b820a7cf9e1be7155e9a241f556658c55428ec0563514365799a4be2be5a685a80971ddcfa80cb422cdd0101ec04cb847f000001820cfa8215a8d790000000000000000000000000000000018208ae820d058443b9a3550102";
const PING_V555: &str = "577be4349c4dd26768081f58de4c6f375a7a22f3f7adda654d1428637412c3d7fe917cadc56d4e5e7ffae1dbe3efffb9849feb71b262de37977e7c7a44e677295680e9e38ab26bee2fcbae207fba3ff3d74069a50b902a82c9903ed37cc993c50001f83e82022bd79020010db83c4d001500000000abcdef12820cfa8215a8d79020010db885a308d313198a2e037073488208ae82823a8443b9a355c5010203040531b9019afde696e582a78fa8d95ea13ce3297d4afb8ba6433e4154caa5ac6431af1b80ba76023fa4090c408f6b4bc3701562c031041d4702971d102c9ab7fa5eed4cd6bab8f7af956f7d565ee1917084a95398b6a21eac920fe3dd1345ec0a7ef39367ee69ddf092cbfe5b93e5e568ebc491983c09c76d922dc3";
const PONG: &str = "09b2428d83348d27cdf7064ad9024f526cebc19e4958f0fdad87c15eb598dd61d08423e0bf66b2069869e1724125f820d851c136684082774f870e614d95a2855d000f05d1648b2d5945470bc187c2d2216fbe870f43ed0909009882e176a46b0102f846d79020010db885a308d313198a2e037073488208ae82823aa0fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c9548443b9a355c6010203c2040506a0c969a58f6f9095004c0177a6b47f451530cab38966a25cca5cb58f055542124e";
const FIND_NODE: &str = "c7c44041b9f7c7e41934417ebac9a8e1a4c6298f74553f2fcfdcae6ed6fe53163eb3d2b52e39fe91831b8a927bf4fc222c3902202027e5e9eb812195f95d20061ef5cd31d502e47ecb61183f74a504fe04c51e73df81f25c4d506b26db4517490103f84eb840ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f8443b9a35582999983999999280dc62cc8255c73471e0a61da0c89acdc0e035e260add7fc0c04ad9ebf3919644c91cb247affc82b69bd2ca235c71eab8e49737c937a2c396";
const NEIGHBORS: &str = "c679fc8fe0b8b12f06577f2e802d34f6fa257e6137a995f6f4cbfc9ee50ed3710faf6e66f932c4c8d81d64343f429651328758b47d3dbc02c4042f0fff6946a50f4a49037a72bb550f3a7872363a83e1b9ee6469856c24eb4ef80b7535bcf99c0004f9015bf90150f84d846321163782115c82115db8403155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32f84984010203040101b840312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069dbf8599020010db83c4d001500000000abcdef12820d05820d05b84038643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aacf8599020010db885a308d313198a2e037073488203e78203e8b8408dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df738443b9a355010203b525a138aa34383fec3d2719a0";

fn key(hex_key: &str) -> SecretKey {
    SecretKey::from_secret_bytes(hex::decode(hex_key).unwrap().try_into().unwrap()).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn endpoint(addr: &str, udp_port: u16, tcp_port: u16) -> Endpoint {
    Endpoint {
        ip: ip(addr),
        udp_port,
        tcp_port,
    }
}

fn peer(hex_id: &str) -> PeerId {
    hex_id.parse().unwrap()
}

/// Decodes a vector, checking the sender and the hash.
fn decode_vector(hex_packet: &str) -> Message {
    let bytes = hex::decode(hex_packet).unwrap();
    let packet = decode(&bytes).unwrap_or_else(|e| panic!("{e}: {hex_packet}"));
    assert_eq!(packet.sender, PeerId::from_secret_key(&key(VECTOR_KEY)));
    assert_eq!(packet.hash[..], bytes[..32]);
    packet.message
}

#[test]
fn ping_v4() {
    let want = Ping {
        version: 4,
        from: endpoint("127.0.0.1", 3322, 5544),
        to: endpoint("::1", 2222, 3333),
        expiration: EXPIRATION,
        enr_seq: None,
    };
    assert_eq!(decode_vector(PING_V4), Message::Ping(want));
}

#[test]
fn ping_v4_with_additional_list_elements() {
    // [4, from, to, expiration, 0x01, 0x02]: the element after the expiration reads as the
    // EIP-868 enr-seq (as go-ethereum reads it); 0x02 is ignored.
    let want = Ping {
        version: 4,
        from: endpoint("127.0.0.1", 3322, 5544),
        to: endpoint("::1", 2222, 3333),
        expiration: EXPIRATION,
        enr_seq: Some(1),
    };
    assert_eq!(decode_vector(PING_V4_EXTRA), Message::Ping(want));
}

#[test]
fn ping_v555_with_extra_list_elements_and_data() {
    // [555, from, to, expiration, [1, 2, 3, 4, 5]] followed by 102 bytes of junk: the list in
    // the enr-seq position is an ignored extra element, not an enr-seq.
    let want = Ping {
        version: 555,
        from: endpoint("2001:db8:3c4d:15::abcd:ef12", 3322, 5544),
        to: endpoint("2001:db8:85a3:8d3:1319:8a2e:370:7348", 2222, 33338),
        expiration: EXPIRATION,
        enr_seq: None,
    };
    assert_eq!(decode_vector(PING_V555), Message::Ping(want));
}

#[test]
fn pong_with_extra_list_elements_and_data() {
    let want = Pong {
        to: endpoint("2001:db8:85a3:8d3:1319:8a2e:370:7348", 2222, 33338),
        ping_hash: hex::decode("fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c954")
            .unwrap()
            .try_into()
            .unwrap(),
        expiration: EXPIRATION,
        enr_seq: None,
    };
    assert_eq!(decode_vector(PONG), Message::Pong(want));
}

#[test]
fn findnode_with_extra_list_elements_and_data() {
    let want = FindNode {
        target: peer(
            "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f",
        ),
        expiration: EXPIRATION,
    };
    assert_eq!(decode_vector(FIND_NODE), Message::FindNode(want));
}

#[test]
fn neighbours_with_extra_list_elements_and_data() {
    let node = |addr, udp, tcp, id| endpoint(addr, udp, tcp).node(peer(id));
    let want = Neighbors {
        nodes: vec![
            node(
                "99.33.22.55",
                4444,
                4445,
                "3155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32",
            ),
            node(
                "1.2.3.4",
                1,
                1,
                "312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069db",
            ),
            node(
                "2001:db8:3c4d:15::abcd:ef12",
                3333,
                3333,
                "38643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aac",
            ),
            node(
                "2001:db8:85a3:8d3:1319:8a2e:370:7348",
                999,
                1000,
                "8dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df73",
            ),
        ],
        expiration: EXPIRATION,
    };
    assert_eq!(decode_vector(NEIGHBORS), Message::Neighbors(want));
}

#[test]
fn vectors_reencode_and_decode_the_same() {
    let key = key(VECTOR_KEY);
    for vector in [
        PING_V4,
        PING_V4_EXTRA,
        PING_V555,
        PONG,
        FIND_NODE,
        NEIGHBORS,
    ] {
        let message = decode_vector(vector);
        let (packet, hash) = encode(&message, &key);
        assert!(packet.len() <= MAX_PACKET_SIZE);
        let again = decode(&packet).unwrap();
        assert_eq!(again.message, message);
        assert_eq!(again.hash, hash);
    }
    // The plain v4 Ping has nothing to drop: it re-encodes to the same type and data (the
    // signature differs: the vector was not signed with RFC 6979 nonces).
    let (packet, _) = encode(&decode_vector(PING_V4), &key);
    assert_eq!(hex::encode(&packet[97..]), PING_V4[2 * 97..]);
}

fn sample_messages() -> Vec<Message> {
    let id = PeerId::from_secret_key(&key(VECTOR_KEY));
    vec![
        Message::Ping(Ping {
            version: 4,
            from: endpoint("10.0.0.1", 30303, 30303),
            to: endpoint("2001:db8::7", 30301, 0),
            expiration: 1_700_000_000,
            enr_seq: Some(7),
        }),
        Message::Ping(Ping {
            version: 4,
            from: endpoint("0.0.0.0", 0, 0),
            to: endpoint("1.2.3.4", 65535, 65535),
            expiration: u64::MAX,
            enr_seq: None,
        }),
        Message::Pong(Pong {
            to: endpoint("192.168.1.2", 30303, 30304),
            ping_hash: [0xab; 32],
            expiration: 0,
            enr_seq: Some(u64::MAX),
        }),
        Message::Pong(Pong {
            to: endpoint("::ffff:1.2.3.4", 1, 2),
            ping_hash: [0; 32],
            expiration: 1,
            enr_seq: None,
        }),
        Message::FindNode(FindNode {
            target: id,
            expiration: 1_700_000_020,
        }),
        Message::Neighbors(Neighbors {
            nodes: vec![],
            expiration: 5,
        }),
        Message::Neighbors(Neighbors {
            nodes: (0..12u8)
                .map(|i| {
                    endpoint(
                        if i % 2 == 0 { "8.8.8.8" } else { "2001:db8::1" },
                        30303,
                        u16::from(i),
                    )
                    .node(PeerId([i; 64]))
                })
                .collect(),
            expiration: 1_700_000_000,
        }),
        Message::EnrRequest(EnrRequest {
            expiration: 1_700_000_000,
        }),
        Message::EnrResponse(EnrResponse {
            request_hash: [0x11; 32],
            enr: vec![0xc3, 0x01, 0x02, 0x03],
        }),
    ]
}

#[test]
fn every_message_type_round_trips() {
    let key = key("49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee");
    let signer = PeerId::from_secret_key(&key);
    for message in sample_messages() {
        let (bytes, hash) = encode(&message, &key);
        assert!(bytes.len() <= MAX_PACKET_SIZE, "{message:?}");
        assert_eq!(bytes[97], message.packet_type());
        let packet = decode(&bytes).unwrap();
        assert_eq!(
            packet,
            Packet {
                message,
                sender: signer,
                hash
            }
        );
    }
}

#[test]
fn neighbors_are_split_into_packets_that_fit() {
    let key = key(VECTOR_KEY);
    // The largest nodes there are: IPv6 addresses, two-byte ports.
    let nodes: Vec<Enode> = (0..16u8)
        .map(|i| {
            endpoint("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535).node(PeerId([i; 64]))
        })
        .collect();
    let packets = neighbors_packets(&nodes, u64::MAX, &key);
    assert_eq!(packets.len(), 2);
    let mut received = Vec::new();
    for (packet, want) in packets.iter().zip([MAX_NEIGHBORS_PER_PACKET, 4]) {
        assert!(packet.len() <= MAX_PACKET_SIZE, "{} bytes", packet.len());
        let Message::Neighbors(n) = decode(packet).unwrap().message else {
            panic!("not neighbors");
        };
        assert_eq!(n.nodes.len(), want);
        assert_eq!(n.expiration, u64::MAX);
        received.extend(n.nodes);
    }
    assert_eq!(received, nodes);

    // Nothing to send is one empty packet.
    let packets = neighbors_packets(&[], 9, &key);
    assert_eq!(packets.len(), 1);
    assert_eq!(
        decode(&packets[0]).unwrap().message,
        Message::Neighbors(Neighbors {
            nodes: vec![],
            expiration: 9
        })
    );
    assert_eq!(neighbors_packets(&nodes[..12], 9, &key).len(), 1);
    assert_eq!(neighbors_packets(&nodes[..13], 9, &key).len(), 2);
}

#[test]
fn tampering_is_detected() {
    let key = key(VECTOR_KEY);
    let (packet, _) = encode(&sample_messages()[0], &key);
    for i in 0..packet.len() {
        let mut bad = packet.clone();
        bad[i] ^= 0x01;
        assert_eq!(decode(&bad), Err(PacketError::HashMismatch), "byte {i}");
    }
    // Truncation and appended bytes break the hash too.
    assert_eq!(
        decode(&packet[..packet.len() - 1]),
        Err(PacketError::HashMismatch)
    );
}

#[test]
fn negative_expiration_is_expired() {
    let now = 1_700_000_000;
    assert!(!is_expired(now + 20, now));
    assert!(!is_expired(now, now));
    assert!(is_expired(now - 1, now));
    assert!(is_expired(0, now));
    // Top bit set: negative as a signed 64-bit time, so long past.
    assert!(is_expired(u64::MAX, now));
    assert!(is_expired(1 << 63, now));
    assert!(!is_expired((1 << 63) - 1, now));

    // Such a packet still decodes; expiry is the caller's check.
    let message = Message::EnrRequest(EnrRequest {
        expiration: u64::MAX - 5,
    });
    let (bytes, _) = encode(&message, &key(VECTOR_KEY));
    let packet = decode(&bytes).unwrap();
    assert_eq!(packet.message, message);
    assert!(is_expired(packet.message.expiration().unwrap(), now));
}
